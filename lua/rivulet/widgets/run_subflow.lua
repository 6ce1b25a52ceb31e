-- Run Subflow: starts the flow named by `flow_sid` (resolved through the engine's
-- `subflows` option, see rivulet.step) with
-- `trigger.parent.parameters`, waits for it, then `completed` with every variable the
-- subflow set, flat (widgets.NAME.foo), or `failed` when it did not end normally.
local W = {
  type = "run-subflow",
  events = { "completed", "failed" },
  required = { "flow_sid" },
  properties = { flow_sid = "string", flow_revision = "string|integer", parameters = "kv_list" },
}

function W.run(step)
  local params = {}
  for _, kv in ipairs(step.props.parameters or {}) do
    if type(kv) == "table" and kv.key ~= nil then params[kv.key] = kv.value end
  end
  local wait, reason, message = step:start_subflow(step.props.flow_sid, params)
  if not wait then
    step:why(reason, message)
    return "failed", {}
  end
  return wait
end

function W.resume(step, input)
  local child = input.exec
  if child.failed then
    step:why("subflow", child.reason)
    return "failed", {}
  end
  local out = {}
  for k, v in pairs(child.context.flow.variables) do out[k] = v end
  return "completed", out
end

return W
