-- Set Variables: writes flow.variables (the only widget that does) and the same pairs
-- under widgets.NAME. Values are the rendered strings, as Studio stores them.
local W = {
  type = "set-variables",
  events = { "next" },
  required = { "variables" },
  properties = { variables = "kv_list" },
}

function W.run(step)
  -- a new table each time: steps keep the old one as their snapshot
  local flow = step.context.flow
  local vars = {}
  for k, v in pairs(flow.variables) do vars[k] = v end
  flow.variables = vars
  local out = {}
  for _, kv in ipairs(step.props.variables or {}) do
    if type(kv) == "table" and kv.key ~= nil then
      local v = kv.value
      if v == nil then v = "" end
      if type(v) ~= "string" then v = tostring(v) end
      vars[kv.key] = v
      out[kv.key] = v
    end
  end
  return "next", out
end

return W
