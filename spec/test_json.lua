-- rivulet.json's decode: lua-cjson reads the text, core.json_shape walks it once more for
-- what Studio does that lua-cjson does not (integral numbers are integers; with ordered,
-- objects keep their document's key order). The walk was Lua until bench/scale's profile
-- put it at most of a small reply's decode; the Lua walk is kept here as the oracle the C
-- one must agree with, on fixed cases and on random documents.
local lu = require "luaunit"
local json = require "rivulet.json"
local cjson = require "cjson.safe"

local type, pairs, floor, getmetatable, setmetatable = type, pairs, math.floor, getmetatable, setmetatable
local find, sub, byte = string.find, string.sub, string.byte

-- ---- the oracle: rivulet.json's Lua walk as it was (git show b8e707c:lua/rivulet/json.lua)
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
        if find(k, "\\", 1, true) then k = cjson.decode(sub(text, pos, q)) end
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

local function oracle(text, ordered)
  local v = cjson.decode(text)
  if type(v) == "table" then
    integers(v)
    if ordered then key_order(text, v) end
  elseif type(v) == "number" and v == floor(v) and v > -2^53 and v < 2^53 then
    v = floor(v)
  end
  return v
end

-- the same value, numbers with their subtype, and the same __keys wherever one has them
local function same(a, b, path)
  lu.assertEquals(type(a), type(b), path)
  if type(a) == "number" then
    lu.assertEquals(math.type(a), math.type(b), path)
    lu.assertEquals(a, b, path)
  elseif type(a) == "table" then
    local ma, mb = getmetatable(a), getmetatable(b)
    lu.assertEquals(ma and ma.__keys, mb and mb.__keys, path .. " (__keys)")
    for k, v in pairs(a) do same(v, b[k], path .. "." .. tostring(k)) end
    for k in pairs(b) do lu.assertNotNil(a[k], path .. "." .. tostring(k) .. " only in the C walk's") end
  else
    lu.assertEquals(a, b, path)
  end
end

TestJsonShape = {}

function TestJsonShape:test_fixed_cases()
  for _, text in ipairs{
    '{"number": 4, "float": 4.5, "big": 1e300, "neg": -2.0, "edge": 9007199254740993}',
    '{"z": 1, "a": {"y": [1, 2.0, {"q": 1, "p": 2}], "b": 3}, "m": "x"}',
    '[{"b": 1, "a": 2}, [], {}, [3.0, [4.0]], "s", null, true]',
    '{"a\\u00e9": 1, "b\\"q": 2, "c": {"\\n": 1, "d": 2}}',
    '{"dup": 1, "k": 2, "dup": {"y": 1.0, "x": 2}}',
    '{"dup": {"y": 1, "x": 2}, "dup": 3.0}',
    ' { "sp" : [ 1 , 2 ] , "x" : { } , "y" : "}{,:\\\\" } ',
    '{"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9,"k10":10,"k2":2.0,"k11":11}',
    '{"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9,"k10":10,"k11":1,"k10":2,"k11":3}',
  } do
    for _, ordered in ipairs{ false, true } do
      same(oracle(text, ordered), json.decode(text, ordered), text)
    end
  end
  local v = json.decode('{"number": 4, "f": 4.5}')
  lu.assertEquals(math.type(v.number), "integer")
  lu.assertNil(getmetatable(v), "unordered decoding leaves no metatable")
  lu.assertEquals(getmetatable(json.decode('{"b": 1, "a": 2}', true)).__keys, { "b", "a" })
  lu.assertNil(getmetatable(json.decode('{"only": 1}', true)), "one key needs no order")
end

-- random documents: nested objects and arrays, repeated and escaped keys, numbers of
-- every kind, whitespace anywhere
function TestJsonShape:test_random_documents_agree_with_the_oracle()
  math.randomseed(17)
  local rand = math.random
  local spaces = { "", " ", "\n", "\t ", "\r\n" }
  local function sp() return spaces[rand(#spaces)] end
  local function key()
    local ks = { "a", "b", "c", "dup", "k\\u00e9", "q\\\"", "n\\n", "z", "10", "", "e", "f", "g", "h", "i", "j" }
    return '"' .. ks[rand(#ks)] .. '"'
  end
  local function doc(depth)
    local r = rand(depth > 4 and 4 or 7)
    if r == 1 then return tostring(rand(-1000, 1000))
    elseif r == 2 then return ({ "1.0", "2.5", "-0.0", "1e3", "1E-2", "12345678901234567", "3.0e0" })[rand(7)]
    elseif r == 3 then return ({ '"s"', '"}{,:"', '"\\\\"', 'null', 'true', 'false' })[rand(6)]
    elseif r == 4 then return "[]"
    elseif r <= 6 then
      local parts = {}
      for i = 1, rand(0, 20) do parts[i] = sp() .. key() .. sp() .. ":" .. sp() .. doc(depth + 1) .. sp() end
      return "{" .. table.concat(parts, ",") .. "}"
    else
      local parts = {}
      for i = 1, rand(1, 6) do parts[i] = sp() .. doc(depth + 1) .. sp() end
      return "[" .. table.concat(parts, ",") .. "]"
    end
  end
  for i = 1, 3000 do
    local text = sp() .. (rand(2) == 1 and "{" .. sp() .. key() .. ":" .. doc(1) .. "}" or doc(1)) .. sp()
    if cjson.decode(text) ~= nil then
      for _, ordered in ipairs{ false, true } do
        local ok, err = pcall(same, oracle(text, ordered), json.decode(text, ordered), "case " .. i .. ": " .. text)
        if not ok then error(err, 0) end
      end
    end
  end
end

-- ---- core.json_encode: integers written without printf, plain objects from one iteration

TestJsonEncode = {}

function TestJsonEncode:test_integers_are_written_as_printf_writes_them()
  local core = require "rivulet.core"
  for _, n in ipairs{ 0, 1, -1, 9, 10, -10, 123456789, math.maxinteger, math.mininteger,
                      math.maxinteger - 1, math.mininteger + 1, 1 << 53, -(1 << 53) } do
    lu.assertEquals(core.json_encode(n), string.format("%d", n))
    lu.assertEquals(core.json_encode({ n = n }, nil, true), '{"n":' .. string.format("%d", n) .. "}")
  end
  lu.assertEquals(core.json_encode(2.5), "2.5")            -- floats as before
  lu.assertEquals(core.json_encode(-0.0), "-0")
end

function TestJsonEncode:test_objects_hold_every_key_once_at_every_depth()
  local core = require "rivulet.core"
  local function make(depth)
    local t = {}
    for i = 1, 12 do t["k" .. i] = depth > 0 and make(depth - 1) or i end
    t.empty, t.list = {}, { 1, "two", { three = 3 } }
    return t
  end
  local v = make(3)
  local text = core.json_encode(v)
  lu.assertEquals(cjson.decode(text), cjson.decode(cjson.encode(v)))
  local n = 0
  for _ in text:gmatch('"k1":') do n = n + 1 end
  lu.assertEquals(n, 1 + 12 + 12 ^ 2 + 12 ^ 3)              -- "k1" once in each of the 1,885 maps
  lu.assertEquals(core.json_encode({ a = setmetatable({ x = 1 }, {}) }), '{"a":{"x":1}}')   -- a metatable, no __keys
  local cyc = { name = "c" }
  cyc.self = cyc
  lu.assertStrContains(core.json_encode(cyc), '"self":"<cycle>"')
end
