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
  renders_own = true,    -- only `input` is read: rendered once, no copy of the properties
}

W.CONDITIONS = {
  "equal_to", "not_equal_to", "matches_any_of", "does_not_match_any_of", "contains",
  "does_not_contain", "starts_with", "does_not_start_with", "is_blank", "is_not_blank",
  "regex", "less_than", "greater_than", "is_before_date", "is_after_date",
  "is_before_time", "is_after_time",
}

-- Every condition but `regex` is tested in C (core.split_test, src/lrv_step.c): a Split
-- runs on most steps of a flow, and the Lua version made a trimmed and a lower-cased copy of
-- each operand, a table per list, a closure call per test. What each test means:
--   equal_to, not_equal_to        the texts, trimmed and lower-cased, are (not) the same
--   matches_any_of, does_not_...  one (none) of value's comma-separated items equals input
--   contains, does_not_contain    input holds (does not hold) value, both normalised
--   starts_with, does_not_...     input begins (does not begin) with value
--   is_blank, is_not_blank        input is only whitespace (is not)
--   less_than, greater_than       both are numbers (Lua's tonumber of the trimmed text)
--   is_before/after_date, _time   both trimmed are YYYY-MM-DD (HH:MM) and sort before/after
-- spec/test_step_core.lua keeps the Lua version as the oracle the C must agree with.
local split_test = core.split_test

local function trim(s)
  return (tostring(s or ""):match("^%s*(.-)%s*$"))
end

-- regex(input, value) -> boolean | nil, err (a bad pattern)
local function regex(a, v)
  return core.regex_match(tostring(v or ""), trim(a))
end

-- does one condition hold? (input rendered from its arguments, or the widget's input)
local function holds(step, c, own, rendered)
  if type(c) ~= "table" then error("a condition must be a table", 0) end
  local input = type(c.arguments) == "table" and c.arguments[1] or nil
  -- a condition's argument is, in nearly every flow, the widget's own input: that one is
  -- rendered once per step, not per condition
  if input == nil or input == own then input = rendered
  else input = step:render(input) end
  local value = c.value
  if type(value) == "string" then value = step:render(value) end
  local kind = c.type
  local ok
  if type(kind) == "string" then ok = split_test(kind, input, value) end
  if ok == nil then
    if kind ~= "regex" then error(string.format("unknown condition type '%s'", tostring(kind)), 0) end
    local err
    ok, err = regex(input, value)
    if ok == nil and err then error(err, 0) end
  end
  return ok == true
end

function W.run(step)
  local own = type(step.props) == "table" and step.props.input or nil
  local rendered = step:render(own)
  local transitions = step.state.transitions
  for _, t in ipairs(type(transitions) == "table" and transitions or {}) do
    if type(t) == "table" and t.event == "match" and type(t.conditions) == "table" then
      local all = true
      for _, c in ipairs(t.conditions) do
        if not holds(step, c, own, rendered) then all = false break end
      end
      if all and #t.conditions > 0 then return "match", {}, t end
    end
  end
  return "noMatch", {}
end

return W
