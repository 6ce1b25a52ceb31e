-- Make Outgoing Call: calls `to` from `from` (REST-triggered flows). Simulated: the call
-- is answered at once (`answered`), with the call's sid and addresses as outputs.
local W = {
  type = "make-outgoing-call-v2",
  events = { "answered", "busy", "noAnswer", "failed" },
  required = {},
  properties = {
    from = "string", to = "string", record = "boolean", timeout = "integer",
    detect_answering_machine = "boolean", machine_detection = "string",
    machine_detection_timeout = "string", machine_detection_speech_threshold = "string",
    machine_detection_speech_end_threshold = "string", machine_detection_silence_timeout = "string",
    recording_channels = "string", recording_status_callback = "string", trim = "string",
    send_digits = "string", sip_auth_username = "string", sip_auth_password = "string",
  },
}

function W.run(step)
  local p = step.props
  local ctx = step.context
  return "answered", {
    CallSid = step:sid("CA"), CallStatus = "in-progress",
    From = p.from or ctx.flow.channel.address, To = p.to or ctx.contact.channel.address,
  }
end

return W
