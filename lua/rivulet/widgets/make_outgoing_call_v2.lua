-- Make Outgoing Call: calls `to` (default the contact) from `from` (default the flow's own
-- number). With Twilio's API (the engine option twilio, rivulet serve --twilio-api) it
-- POSTs Calls.json: Url brings the answered call back to this widget (`answered`, with the
-- call's fields as outputs: CallSid, CallStatus, AnsweredBy…, and the voice widgets after it
-- talk to that call), StatusCallback tells busy, no-answer and failed (`busy`, `noAnswer`,
-- `failed`); ring `timeout`, recording, answering machine detection, digits to send and SIP
-- credentials as Studio passes them. A refused request is `failed` with Twilio's reason.
-- Without the API the outcome comes from outside (the console, a spec, a FlowEvent post);
-- with none within the ring timeout (plus a margin) it is `noAnswer`.
local twiml = require "rivulet.twiml"
local twilio = require "rivulet.twilio"

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
  timeout_event = "noAnswer",
}

W.RING_TIMEOUT = 60       -- seconds a call rings unanswered: Twilio's default Timeout
W.SETUP_MARGIN = 60       -- beyond it: queueing, dialling, the status callback's trip

local int, str, bool = twiml.int, twiml.str, twiml.bool

-- the call's final statuses before an answer -> the widget's events
W.STATUSES = { busy = "busy", ["no-answer"] = "noAnswer", failed = "failed", canceled = "failed" }

local function addresses(step)
  local p, ctx = step.props, step.context
  return str(p.to) or ctx.contact.channel.address, str(p.from) or ctx.flow.channel.address
end

local function ringing(step, token, call_sid)
  local timeout = (int(step.props.timeout) or W.RING_TIMEOUT) + W.SETUP_MARGIN
  return step:outcome{ timeout = timeout, token = token, data = { call_sid = call_sid } }
end

local function param(list, key, value)
  if value ~= nil then list[#list + 1] = { key = key, value = value } end
end

function W.run(step)
  local p = step.props
  local to, from = addresses(step)
  local token = step:token()
  local url = step:callback_url(token, "answered")
  if not url then return ringing(step, token) end
  local params = {}
  param(params, "To", to)
  param(params, "From", from)
  param(params, "Url", url)
  param(params, "StatusCallback", step:callback_url(nil, "status"))
  param(params, "Timeout", int(p.timeout))
  param(params, "Record", bool(p.record))
  param(params, "MachineDetection", str(p.machine_detection) or (bool(p.detect_answering_machine) and "Enable" or nil))
  param(params, "MachineDetectionTimeout", int(p.machine_detection_timeout))
  param(params, "MachineDetectionSpeechThreshold", int(p.machine_detection_speech_threshold))
  param(params, "MachineDetectionSpeechEndThreshold", int(p.machine_detection_speech_end_threshold))
  param(params, "MachineDetectionSilenceTimeout", int(p.machine_detection_silence_timeout))
  param(params, "RecordingChannels", str(p.recording_channels))
  param(params, "RecordingStatusCallback", str(p.recording_status_callback))
  param(params, "Trim", str(p.trim))
  param(params, "SendDigits", str(p.send_digits))
  param(params, "SipAuthUsername", str(p.sip_auth_username))
  param(params, "SipAuthPassword", str(p.sip_auth_password))
  local wait = step:twilio("Calls.json", params)
  wait.data = { token = token }
  return wait
end

function W.resume(step, input)
  if input.kind == "http" then           -- the Calls API answered
    local call, failure = twilio.resource(input.outcome, "Calls")
    if not call then
      step:why(failure.reason, failure.message)
      return "failed", {}
    end
    return ringing(step, step.data and step.data.token, call.Sid)
  end
  return "answered", input.fields or {}
end

-- the status callback before an answer: busy, no-answer, failed
function W.hangup(input)
  local e = W.STATUSES[input.status]
  if e then return e, input.fields end
  return nil
end

function W.simulated(event, props, ctx, new_sid)
  if event ~= "answered" and event ~= "answeredByMachine" then return {} end
  return { CallSid = new_sid("CA"), CallStatus = "in-progress",
           From = str(props.from) or ctx.flow.channel.address, To = str(props.to) or ctx.contact.channel.address,
           AnsweredBy = event == "answeredByMachine" and "machine_start" or nil }
end

return W
