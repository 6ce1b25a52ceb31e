-- Split Based On: each `match` transition's conditions are checked in order and the first
-- transition whose conditions all hold is taken; else `noMatch`. Comparisons ignore case
-- and surrounding whitespace; `regex` must match the whole input (PCRE2, case-insensitive);
-- less_than/greater_than compare numbers only; dates are YYYY-MM-DD, times HH:MM.
local core = require "rivulet.core"

local W = {
  type = "split-based-on",
  events = { "noMatch", "match" },
  required = { "input" },
  properties = { input = "string" },
}

W.CONDITIONS = {
  "equal_to", "not_equal_to", "matches_any_of", "does_not_match_any_of", "contains",
  "does_not_contain", "starts_with", "does_not_start_with", "is_blank", "is_not_blank",
  "regex", "less_than", "greater_than", "is_before_date", "is_after_date",
  "is_before_time", "is_after_time",
}

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

-- test(type, input, value) -> boolean | nil, err
local TESTS = {
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
  regex = function(a, v) return core.regex_match(tostring(v or ""), trim(a)) end,
  less_than = function(a, v) local x, y = num(a), num(v) return x ~= nil and y ~= nil and x < y end,
  greater_than = function(a, v) local x, y = num(a), num(v) return x ~= nil and y ~= nil and x > y end,
  is_before_date = function(a, v) local x, y = date(a), date(v) return x ~= nil and y ~= nil and x < y end,
  is_after_date = function(a, v) local x, y = date(a), date(v) return x ~= nil and y ~= nil and x > y end,
  is_before_time = function(a, v) local x, y = time(a), time(v) return x ~= nil and y ~= nil and x < y end,
  is_after_time = function(a, v) local x, y = time(a), time(v) return x ~= nil and y ~= nil and x > y end,
}
W.TESTS = TESTS

-- does one condition hold? (input rendered from its arguments, or the widget's input)
local function holds(step, c)
  if type(c) ~= "table" then error("a condition must be a table", 0) end
  local input = type(c.arguments) == "table" and c.arguments[1] or nil
  -- a condition's argument is, in nearly every flow, the widget's own input: that one is
  -- rendered already (the properties), and rendering it again per condition doubled the cost
  local own = step.state.properties
  if input == nil or (type(own) == "table" and input == own.input) then input = step.props.input
  else input = step:render(input) end
  local value = c.value
  if type(value) == "string" then value = step:render(value) end
  local test = TESTS[c.type]
  if not test then error(string.format("unknown condition type '%s'", tostring(c.type)), 0) end
  local ok, err = test(input, value)
  if ok == nil and err then error(err, 0) end
  return ok == true
end

function W.run(step)
  local transitions = step.state.transitions
  for _, t in ipairs(type(transitions) == "table" and transitions or {}) do
    if type(t) == "table" and t.event == "match" and type(t.conditions) == "table" then
      local all = true
      for _, c in ipairs(t.conditions) do
        if not holds(step, c) then all = false break end
      end
      if all and #t.conditions > 0 then return "match", {}, t end
    end
  end
  return "noMatch", {}
end

return W
