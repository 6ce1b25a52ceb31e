-- Connect Virtual Agent v2: hands the call to a conversational AI agent (`connector_name`).
-- On a call it is TwiML, as v1's: <Connect action=…><VirtualAgent connectorName=…/>
-- </Connect>. The action's status field (VirtualAgentStatus, or Status) names the event
-- when it is one of the widget's (completed, live-agent-handoff, failed, paused, timeout);
-- a caller who hung up is `hangup`; anything else `completed`. With no word from the call
-- for `timeout` seconds (or the engine's call wait) it is `timeout`.
local twiml = require "rivulet.twiml"
local v1 = require "rivulet.widgets.connect_virtual_agent"

local W = {
  type = "connect-virtual-agent-v2",
  events = { "completed", "live-agent-handoff", "hangup", "failed", "paused", "timeout" },
  required = {},
  properties = { channel = "string", connector_name = "string", session_behavior = "string",
                 timeout = "string|integer", language = "string", status_callback = "string" },
  timeout_event = "timeout",
}

local str = twiml.str

local OWN = {}
for _, e in ipairs(W.events) do OWN[e] = true end

function W.run(step)
  local p = step.props
  return step:call(v1.connect(twiml.verb("VirtualAgent", {
    connectorName = str(p.connector_name), language = str(p.language), statusCallback = str(p.status_callback),
  })), { timeout = twiml.int(p.timeout),
         lines = { "[talking to the virtual agent " .. (str(p.connector_name) or "") .. "]" } })
end

function W.resume(_, input)
  local f = input.fields or {}
  if f.CallStatus == "completed" then return "hangup", f end
  local status = f.VirtualAgentStatus or f.Status
  if type(status) == "string" and OWN[status:lower()] then return status:lower(), f end
  return "completed", f
end

return W
