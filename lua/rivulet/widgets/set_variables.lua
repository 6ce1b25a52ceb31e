-- Set Variables: writes flow.variables (the only widget that does) and the same pairs
-- under widgets.NAME.
--
-- Values are "interpolated and type-cast" (Twilio support article 4413699936411, "How do I
-- use Liquid with Twilio Studio?"): "A Studio variable created with the Set Variables will be
-- numeric if you do not enclose it in quotation marks". So a rendered value that is a number
-- once the spaces around it are gone (`10`, ` 1 ` from the docs' counter
-- `{% if flow.variables.count %}{{flow.variables.count | plus: 1}} {% else %} 1 {% endif %}`)
-- is stored as a number, and `{% if flow.variables.count > 5 %}` compares numbers. A number in
-- quotation marks ("10", '10') is stored as the string inside them; any other text as
-- rendered. `parse_as_json` (on a pair or on the widget; Studio's "Parse as JSON object",
-- docs' Set Variables page, export key as REFERENCE.md §7) turns a JSON value into an object.
-- Keys are never Liquid ("The key itself cannot be a Liquid variable", same page): the
-- engine leaves them as written (W.literal_keys).
local core = require "rivulet.core"
local json = require "rivulet.json"

local W = {
  type = "set-variables",
  events = { "next" },
  required = { "variables" },
  properties = { variables = "kv_list", parse_as_json = "boolean" },
  literal_keys = { variables = true },
  renders_own = true,    -- values render here, keys never: no copy of the list per step
}

-- W.cast(text, as_json) -> the value Studio stores for a rendered text | nil, why. Without
-- as_json it is core.cast (src/lrv_step.c; a value per Set Variables step): the number the
-- trimmed text spells in JSON's grammar (no leading zeros, so a zip code "02134" stays
-- text; an integer when it fits 64 bits, as JSON reads it), else the text inside quotation
-- marks when that spells one, else the text as rendered. spec/test_step_core.lua keeps the
-- Lua version as the oracle.
local cast, new_vars = core.cast, core.new_vars

function W.cast(v, as_json)
  if type(v) ~= "string" then return v end
  if not as_json then return cast(v) end
  local t = v:match("^%s*(.-)%s*$")
  local x, err = json.decode(t, true)
  if x == nil and t ~= "null" then return nil, "not JSON: " .. tostring(err) end
  return x
end

function W.run(step)
  -- a new table each time: steps keep the old one as their snapshot (made at their size,
  -- as the hot path makes them: src/lrv_step.c)
  local flow = step.context.flow
  local list = step.props.variables or {}
  local old, vars, out = flow.variables
  if getmetatable(old) == nil then
    vars, out = new_vars(old, #list)
  else                                     -- its own pairs: copied through them
    vars, out = {}, {}
    for k, v in pairs(old) do vars[k] = v end
  end
  flow.variables = vars
  for _, kv in ipairs(list) do
    if type(kv) == "table" and kv.key ~= nil then
      local v = kv.value
      if v == nil then v = "" elseif type(v) == "string" then v = step:render(v) end
      if type(v) ~= "string" and type(v) ~= "number" then v = tostring(v) end
      local as_json = kv.parse_as_json == true or step.props.parse_as_json == true
      local x, err = W.cast(v, as_json)
      if err then
        -- no failure event to take: the execution fails, saying which value
        error(string.format("variable '%s' (parse_as_json): %s", tostring(kv.key), err), 0)
      end
      vars[kv.key] = x
      out[kv.key] = x
    end
  end
  return "next", out
end

return W
