-- The step loop's hot parts in C (src/lrv_step.c): SIDs, Split Based On's conditions and
-- Set Variables' type-cast. Each was Lua until bench/engine/steps.lua's profile put them on
-- every step; the Lua is kept here as the oracle the C must agree with, on fixed cases and
-- on random texts built from the characters that matter (spaces, digits, signs, quotes,
-- commas, letters of both cases).
local lu = require "luaunit"
local helper = require "spec.helper"
local core = require "rivulet.core"
local sid = require "rivulet.sid"
local split = require "rivulet.widgets.split_based_on"
local set_variables = require "rivulet.widgets.set_variables"

-- ---- the oracle: the widgets' Lua as it was (git show ed1ef3a:lua/rivulet/widgets/...) ----
local function trim(s)
  return (tostring(s or ""):match("^%s*(.-)%s*$"))
end

local function norm(s)
  return trim(s):lower()
end

local function list(v)
  local out = {}
  for item in (tostring(v or "") .. ","):gmatch("([^,]*),") do out[#out + 1] = norm(item) end
  return out
end

local function any_of(a, v)
  for _, x in ipairs(list(v)) do if a == x then return true end end
  return false
end

local function num(s)
  return tonumber(trim(s))
end

local function date(s)
  s = trim(s)
  return s:match("^%d%d%d%d%-%d%d%-%d%d$") and s or nil
end

local function time(s)
  s = trim(s)
  return s:match("^%d%d:%d%d$") and s or nil
end

local ORACLE = {
  equal_to = function(a, v) return norm(a) == norm(v) end,
  not_equal_to = function(a, v) return norm(a) ~= norm(v) end,
  matches_any_of = function(a, v) return any_of(norm(a), v) end,
  does_not_match_any_of = function(a, v) return not any_of(norm(a), v) end,
  contains = function(a, v) return norm(a):find(norm(v), 1, true) ~= nil end,
  does_not_contain = function(a, v) return norm(a):find(norm(v), 1, true) == nil end,
  starts_with = function(a, v) local b = norm(v) return norm(a):sub(1, #b) == b end,
  does_not_start_with = function(a, v) local b = norm(v) return norm(a):sub(1, #b) ~= b end,
  is_blank = function(a) return trim(a) == "" end,
  is_not_blank = function(a) return trim(a) ~= "" end,
  less_than = function(a, v) local x, y = num(a), num(v) return x ~= nil and y ~= nil and x < y end,
  greater_than = function(a, v) local x, y = num(a), num(v) return x ~= nil and y ~= nil and x > y end,
  is_before_date = function(a, v) local x, y = date(a), date(v) return x ~= nil and y ~= nil and x < y end,
  is_after_date = function(a, v) local x, y = date(a), date(v) return x ~= nil and y ~= nil and x > y end,
  is_before_time = function(a, v) local x, y = time(a), time(v) return x ~= nil and y ~= nil and x < y end,
  is_after_time = function(a, v) local x, y = time(a), time(v) return x ~= nil and y ~= nil and x > y end,
}

local function number_of(s)
  local int, frac, exp = s:match("^(%-?%d+)(%.?%d*)([eE]?[+-]?%d*)$")
  if not int or int:match("^%-?0%d") then return nil end
  if frac == "." or (exp ~= "" and not exp:match("^[eE][+-]?%d+$")) then return nil end
  if frac == "" and exp == "" then
    local n = math.tointeger(tonumber(s))
    if n then return n end
  end
  return tonumber(s)
end

local function oracle_cast(v)
  local t = v:match("^%s*(.-)%s*$")
  local n = number_of(t)
  if n then return n end
  local q, inner = t:match("^([\"'])(.*)%1$")
  if q and number_of(inner) then return inner end
  return v
end

-- same value and same subtype (10 is not 10.0 here: a template prints them apart)
local function same(a, b)
  return a == b and math.type(a) == math.type(b) and type(a) == type(b)
end

-- ---- random texts --------------------------------------------------------------------------
local PIECES = { " ", "\t", "\n", "\v", "\f", "\r", "0", "1", "7", "9", "00", "-", "+", ".", "e", "E", "x",
  "0x1F", "inf", "nan", ",", ", ", ":", "\"", "'", "a", "A", "bC", "yes", "YES", "no", "2024-01-31",
  "2025-12-01", "09:30", "23:59", "12", "3.5", "1e3", "\0", "é", "1" .. string.rep("0", 30) }

local function text(rnd)
  local out = {}
  for i = 1, rnd(0, 6) do out[i] = PIECES[rnd(#PIECES)] end
  return table.concat(out)
end

TestStepCore = {}

function TestStepCore:test_split_tests_agree_with_the_lua_they_replaced()
  local fixed = {
    { " Yes ", "yes" }, { "YES", " yes, no " }, { "maybe", "yes,no" }, { "", "" }, { "  ", "" },
    { "a", ",a," }, { "", "a,,b" }, { "Hello World", "LO w" }, { "abc", "" }, { "10", "9" },
    { " 10 ", "010" }, { "0x10", "15" }, { "1e2", "99.5" }, { "9007199254740993", "9007199254740992" },
    { "-0", "0" }, { "2024-01-31", " 2024-02-01 " }, { "2024-1-31", "2024-02-01" }, { "09:30", "10:00" },
    { "9:30", "10:00" }, { "1\0", "2" }, { string.rep("1", 70), string.rep("2", 70) }, { 5, "10" },
    { 2.5, 3 }, { true, "true" }, { false, "" }, { nil, "" }, { nil, nil },
  }
  for kind, f in pairs(ORACLE) do
    for _, c in ipairs(fixed) do
      local want, got = f(c[1], c[2]), core.split_test(kind, c[1], c[2])
      lu.assertEquals(got, want, string.format("%s(%q, %q)", kind, tostring(c[1]), tostring(c[2])))
    end
  end
  local seed = os.time()
  local rng = math.random
  math.randomseed(seed)
  for i = 1, 20000 do
    local kinds = {}
    for k in pairs(ORACLE) do kinds[#kinds + 1] = k end
    table.sort(kinds)
    local kind, a, v = kinds[rng(#kinds)], text(rng), text(rng)
    local want, got = ORACLE[kind](a, v), core.split_test(kind, a, v)
    if got ~= want then
      lu.fail(string.format("seed %d, case %d: %s(%q, %q): C says %s, Lua said %s", seed, i, kind, a, v,
        tostring(got), tostring(want)))
    end
  end
end

function TestStepCore:test_split_test_names_what_it_does_not_test()
  lu.assertNil(core.split_test("regex", "a", "a"))         -- PCRE2, from the widget's Lua
  lu.assertNil(core.split_test("equals", "a", "a"))
  lu.assertErrorMsgContains("bad argument #1", core.split_test, nil, "a", "a")
end

-- the widget still says which condition it does not know, and regex still reaches PCRE2
function TestStepCore:test_split_widget_keeps_its_errors()
  local st = { state = { properties = { input = "x" }, transitions = {
    { event = "match", conditions = { { type = "equals", value = "x" } } } } },
    props = { input = "x" }, render = function(_, s) return s end }
  lu.assertErrorMsgContains("unknown condition type 'equals'", split.run, st)
  st.state.transitions[1].conditions[1] = { type = true, value = "x" }
  lu.assertErrorMsgContains("unknown condition type 'true'", split.run, st)
  st.state.transitions[1].conditions[1] = { type = "regex", value = "X+" }
  lu.assertEquals(split.run(st), "match")
  st.state.transitions[1].conditions[1] = { type = "regex", value = "(" }
  lu.assertErrorMsgContains("invalid regular expression", split.run, st)
end

function TestStepCore:test_cast_agrees_with_the_lua_it_replaced()
  local fixed = { "10", " 10 ", "-0", "00", "02134", "0.5", "1.", ".5", "1e5", "1E+05", "1e", "1e+", "+1",
    "1-5", "1.5e3", "\"10\"", "'10'", "\"10'", "' 10 '", "\"\"", "\"", "abc", "", "   ",
    "9223372036854775807", "9223372036854775808", "-9223372036854775808", "123456789012345678901234",
    string.rep("9", 80), "0x10", "inf", "nan", "1\0", "10\n" }
  for _, s in ipairs(fixed) do
    local want, got = oracle_cast(s), core.cast(s)
    lu.assertTrue(same(got, want), string.format("cast(%q): C %s (%s), Lua %s (%s)", s, tostring(got),
      math.type(got) or type(got), tostring(want), math.type(want) or type(want)))
  end
  local seed = os.time()
  math.randomseed(seed)
  for i = 1, 20000 do
    local s = text(math.random)
    local want, got = oracle_cast(s), core.cast(s)
    if not same(got, want) then
      lu.fail(string.format("seed %d, case %d: cast(%q): C %s, Lua %s", seed, i, s, tostring(got), tostring(want)))
    end
  end
  lu.assertEquals(set_variables.cast(7), 7)                 -- not a text: as it is
  lu.assertEquals(set_variables.cast(" {\"a\": 1} ", true), { a = 1 })
end

function TestStepCore:test_sids()
  local a, b = sid.new("FT"), sid.new("FT")
  lu.assertTrue(sid.valid(a, "FT"))
  lu.assertTrue(sid.valid(b, "FT"))
  lu.assertNotEquals(a, b)
  lu.assertEquals(a:sub(1, 26), b:sub(1, 26))                -- this state's 96 bits
  lu.assertEquals((tonumber(b:sub(27), 16) - tonumber(a:sub(27), 16)) % 2^32, 1)
  lu.assertEquals(sid.new("SM"):sub(3, 26), a:sub(3, 26))
  lu.assertErrorMsgContains("two letters", sid.new, "F")
  lu.assertErrorMsgContains("two letters", sid.new, "FTX")
  -- another process has other bits (the store is shared across processes)
  local script = os.tmpname()
  local f = assert(io.open(script, "w"))
  f:write('print(require("rivulet.sid").new("FN"))')
  f:close()
  local p = assert(io.popen(string.format("%q lua %q", helper.bin, script)))
  local other = p:read("l")
  p:close()
  os.remove(script)
  lu.assertTrue(sid.valid(other, "FN"), tostring(other))
  lu.assertNotEquals(other:sub(3, 26), a:sub(3, 26))
end
