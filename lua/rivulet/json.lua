-- rivulet.json: JSON for outside data (function replies, Studio flow files, triggers),
-- read with lua-cjson under a depth limit. Debian's lua-cjson 2.1.0 reads every number as
-- a float; integral ones are turned back into integers, as Studio's JavaScript prints them
-- ({{ parsed.number }} is 4, not 4.0).

local cjson = require "cjson.safe"

local type, pairs, floor, tostring, setmetatable = type, pairs, math.floor, tostring, setmetatable

local M = {}

-- How deep a document may nest; deeper input is an error, not a stack overflow.
M.MAX_DEPTH = 64

local codec = cjson.new()
codec.decode_max_depth(M.MAX_DEPTH)
codec.encode_max_depth(M.MAX_DEPTH)
codec.decode_invalid_numbers(false)     -- NaN, Infinity, hex: not JSON

M.null = codec.null

-- tables that core.json_encode writes as [] and {} when empty (a Lua table cannot tell)
local array_mt = require("rivulet.core").array_mt
function M.empty_array() return setmetatable({}, array_mt) end
function M.empty_object() return {} end

local function integers(v)
  for k, x in pairs(v) do
    if type(x) == "number" then
      if x == floor(x) and x > -2^53 and x < 2^53 then v[k] = floor(x) end
    elseif type(x) == "table" then
      integers(x)
    end
  end
  return v
end

-- decode(text) -> value | nil, message
function M.decode(text)
  local v, err = codec.decode(text)
  if v == nil then return nil, tostring(err) end
  if type(v) == "table" then return integers(v) end
  if type(v) == "number" and v == floor(v) and v > -2^53 and v < 2^53 then return floor(v) end
  return v
end

-- encode(value) -> text | nil, message
function M.encode(v)
  local s, err = codec.encode(v)
  if s == nil then return nil, tostring(err) end
  return s
end

return M
