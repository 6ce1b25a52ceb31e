-- rivulet.json: JSON for outside data (function replies, Studio flow files, triggers),
-- read with lua-cjson under a depth limit. Debian's lua-cjson 2.1.0 reads every number as
-- a float; integral ones are turned back into integers, as Studio's JavaScript prints them
-- ({{ parsed.number }} is 4, not 4.0).

local core = require "rivulet.core"

local type, floor, tostring, setmetatable, require = type, math.floor, tostring, setmetatable, require
local json_shape = core.json_shape

local M = {}

-- How deep a document may nest; deeper input is an error, not a stack overflow.
M.MAX_DEPTH = 64

-- lua-cjson's null (a NULL light userdata), which core gives without loading lua-cjson
M.null = core.json_null

-- lua-cjson is loaded by the first decode or encode: a cold run that reads no JSON does
-- not pay for opening it (the dlopen and the search for cjson.safe). Its empty-array
-- metatables, where it has them, are arrays to rivulet.liquid and core.json_encode.
local codec
local function get_codec()
  if codec then return codec end
  local cjson = require "cjson.safe"
  local c = cjson.new()
  c.decode_max_depth(M.MAX_DEPTH)
  c.encode_max_depth(M.MAX_DEPTH)
  c.decode_invalid_numbers(false)        -- NaN, Infinity, hex: not JSON
  if cjson.array_mt then core.liquid_array_mt(cjson.array_mt) end
  if cjson.empty_array_mt then core.liquid_array_mt(cjson.empty_array_mt) end
  codec = c
  return c
end

-- tables that core.json_encode writes as [] and {} when empty (a Lua table cannot tell)
local array_mt = core.array_mt
function M.empty_array() return setmetatable({}, array_mt) end
function M.empty_object() return {} end

-- Key order. A Lua table has none, but Studio prints an object in its document's order
-- ({{flow.data}} is {k1=v1, k2=v2}, rivulet.liquid's objects = "studio"): ordered decoding
-- gives every object of two keys or more a metatable whose __keys lists them as written
-- (what rivulet.liquid iterates, and core.json_encode writes). core.json_shape walks the
-- text once more, after lua-cjson decoded it, for that and for the integers (above).
local function unescape(quoted) return get_codec().decode(quoted) end

-- decode(text [, ordered]) -> value | nil, message; ordered: objects keep their keys'
-- order (above)
function M.decode(text, ordered)
  local v, err = get_codec().decode(text)
  if v == nil then return nil, tostring(err) end
  if type(v) == "table" then
    json_shape(text, v, ordered, unescape)
    return v
  end
  if type(v) == "number" and v == floor(v) and v > -2^53 and v < 2^53 then return floor(v) end
  return v
end

-- ordered(keys, t) -> t, iterating (in rivulet.liquid, core.json_encode) in the order of
-- keys, which must name every key of t
function M.ordered(keys, t)
  return setmetatable(t, { __keys = keys })
end

-- encode(value) -> text | nil, message
function M.encode(v)
  local s, err = get_codec().encode(v)
  if s == nil then return nil, tostring(err) end
  return s
end

return M
