-- Run Subflow: starts the flow named by `flow_sid` (resolved through the engine's
-- `subflows` option: a map of sid or name to a flow or a file, a function, or a folder
-- holding FLOW_SID.lua or FLOW_SID.json) with
-- `trigger.parent.parameters`, waits for it, then `completed` with every variable the
-- subflow set, flat (widgets.NAME.foo), or `failed` when it did not end normally.
local W = {
  type = "run-subflow",
  events = { "completed", "failed" },
  required = { "flow_sid" },
  properties = { flow_sid = "string", flow_revision = "string|integer", parameters = "kv_list" },
}

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

local function resolve(engine, id)
  local s = engine.opts.subflows
  if type(s) == "function" then return s(id) end
  if type(s) == "table" then return s[id] end
  if type(s) == "string" and type(id) == "string" and id:match("^[%w_%-]+$") then
    for _, ext in ipairs{ ".lua", ".json" } do
      local path = s .. "/" .. id .. ext
      if exists(path) then return path end
    end
  end
  return nil
end

function W.run(step)
  local e, p = step.engine, step.props
  local params = {}
  for _, kv in ipairs(p.parameters or {}) do
    if type(kv) == "table" and kv.key ~= nil then params[kv.key] = kv.value end
  end
  local sub = resolve(e, p.flow_sid)
  if not sub then
    return "failed", { reason = "no_subflow",
      message = string.format("no subflow '%s' (set the engine's subflows)", tostring(p.flow_sid)) }
  end
  local ctx = step.exec.context
  local child, err = e:start(sub, { event = "incomingParent", parameters = params,
                                    from = ctx.contact.channel.address, to = ctx.flow.channel.address,
                                    parent_trigger = ctx.trigger, parent_sid = step.exec.sid })
  if not child then return "failed", { reason = "subflow", message = err } end
  return step:wait_subflow(child)
end

function W.resume(step, input)
  local child = input.exec
  if child.failed then return "failed", { reason = "subflow", message = child.reason } end
  local out = {}
  for k, v in pairs(child.context.flow.variables) do out[k] = v end
  return "completed", out
end

return W
