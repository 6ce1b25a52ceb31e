-- Send to Autopilot (a retired product): hands the conversation to an Autopilot assistant.
-- On a call it is TwiML: <Connect action=…><Autopilot>ASSISTANT SID</Autopilot></Connect>,
-- and the action ends the session (`sessionEnded`, with what Twilio posted). For a message
-- the outcome comes from outside (a FlowEvent post, the console, a spec); with none within
-- `timeout` seconds (or the engine's call wait) it is `timeout`.
local twiml = require "rivulet.twiml"
local v1 = require "rivulet.widgets.connect_virtual_agent"

local W = {
  type = "send-to-auto-pilot",
  events = { "sessionEnded", "failure", "timeout" },
  required = {},
  properties = {
    autopilot_assistant_sid = "string", body = "string", from = "string", target_task = "string",
    timeout = "integer", memory_parameters = "kv_list", chat_channel = "string",
    chat_service = "string", chat_attributes = "string",
  },
  timeout_event = "timeout",
}

function W.run(step)
  local p = step.props
  local timeout = twiml.int(p.timeout)
  if not step:in_call() then return step:outcome{ timeout = timeout } end
  return step:call(v1.connect(twiml.verb("Autopilot", {}, twiml.str(p.autopilot_assistant_sid) or "")),
                   { timeout = timeout })
end

function W.resume(_, input)
  return "sessionEnded", input.fields or {}
end

return W
