-- Make Outgoing Call (the legacy v1 widget): as v2, with two more events: an answer that
-- Twilio's answering machine detection says is a machine (AnsweredBy machine_…) is
-- `answeredByMachine`, and a call completed before any answer is `hangup`.
local v2 = require "rivulet.widgets.make_outgoing_call_v2"

local W = {
  type = "make-outgoing-call-v1",
  events = { "answered", "busy", "noAnswer", "failed", "answeredByMachine", "hangup" },
  required = {},
  properties = v2.properties,
  timeout_event = v2.timeout_event,
  run = v2.run,
  simulated = v2.simulated,
  machine = true,
}

function W.resume(step, input)
  local f = input.kind ~= "http" and input.fields or {}
  if input.kind ~= "http" and type(f.AnsweredBy) == "string" and f.AnsweredBy:match("^machine") then
    return "answeredByMachine", f
  end
  return v2.resume(step, input)
end

function W.hangup(input)
  if input.status == "completed" then return "hangup", input.fields end
  return v2.hangup(input)
end

return W
