-- rivulet.json: JSON for outside data (function replies, Studio flow files, triggers),
-- read with lua-cjson under a depth limit. Debian's lua-cjson 2.1.0 reads every number as
-- a float; integral ones are turned back into integers, as Studio's JavaScript prints them
-- ({{ parsed.number }} is 4, not 4.0).

local core = require "rivulet.core"

local type, pairs, floor, tostring, setmetatable, getmetatable, require =
  type, pairs, math.floor, tostring, setmetatable, getmetatable, require
local find, sub, byte = string.find, string.sub, string.byte

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

-- Key order. A Lua table has none, but Studio prints an object in its document's order
-- ({{flow.data}} is {k1=v1, k2=v2}, rivulet.liquid's objects = "studio"): ordered decoding
-- walks the text once more, after lua-cjson decoded it, and gives every object of two keys
-- or more a metatable whose __keys lists them as written (what rivulet.liquid iterates,
-- and core.json_encode writes). The text is known to be valid JSON by then.
local ws = "[^ \t\r\n]"

local function key_order(text, root)
  local pos = 1
  local function skip() pos = find(text, ws, pos) or #text + 1 end
  local function string_end()            -- pos at the opening quote -> index of the closing one
    local i = pos + 1
    while true do
      local q = find(text, '["\\]', i)
      if byte(text, q) == 92 then i = q + 2 else return q end
    end
  end
  local function value(v)
    skip()
    local c = byte(text, pos)
    if c == 123 then                     -- {
      pos = pos + 1
      skip()
      if byte(text, pos) == 125 then pos = pos + 1 return end
      local keys, seen = {}, {}
      while true do
        skip()
        local q = string_end()
        local k = sub(text, pos + 1, q - 1)
        if find(k, "\\", 1, true) then k = get_codec().decode(sub(text, pos, q)) end
        pos = q + 1
        if not seen[k] then seen[k] = true keys[#keys + 1] = k end
        skip()
        pos = pos + 1                    -- :
        value(type(v) == "table" and v[k] or nil)
        skip()
        local d = byte(text, pos)
        pos = pos + 1
        if d == 125 then break end       -- } (else ,)
      end
      if #keys > 1 and type(v) == "table" and getmetatable(v) == nil then setmetatable(v, { __keys = keys }) end
    elseif c == 91 then                  -- [
      pos = pos + 1
      skip()
      if byte(text, pos) == 93 then pos = pos + 1 return end
      local i = 0
      while true do
        i = i + 1
        value(type(v) == "table" and v[i] or nil)
        skip()
        local d = byte(text, pos)
        pos = pos + 1
        if d == 93 then break end
      end
    elseif c == 34 then
      pos = string_end() + 1
    else                                 -- a number, true, false, null
      pos = find(text, "[,%]} \t\r\n]", pos) or #text + 1
    end
  end
  value(root)
end

-- decode(text [, ordered]) -> value | nil, message; ordered: objects keep their keys'
-- order (above)
function M.decode(text, ordered)
  local v, err = get_codec().decode(text)
  if v == nil then return nil, tostring(err) end
  if type(v) == "table" then
    integers(v)
    if ordered then key_order(text, v) end
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
