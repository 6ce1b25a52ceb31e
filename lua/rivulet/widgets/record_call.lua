-- Call Recording: starts (record_call = true) or stops recording the call. Starting is
-- TwiML: <Start><Recording> (channels, trim, status callback and its method and events),
-- then a <Redirect> back: `success` when Twilio follows it. Stopping has no TwiML: with
-- Twilio's API (the engine option twilio) it updates the call's current recording
-- (POST Calls/{CA}/Recordings/Twilio.CURRENT.json Status=stopped) and a refusal is
-- `failed`; without one nothing is recording here, so it is `success` at once.
local twiml = require "rivulet.twiml"

local W = {
  type = "record-call",
  events = { "success", "failed" },
  required = {},
  properties = {
    record_call = "boolean",  -- a real boolean: Studio rejects "true"
    recording_status_callback = "string", recording_status_callback_method = "string",
    recording_status_callback_events = "string", recording_channels = "string", trim = "string",
  },
}

local str = twiml.str

function W.run(step)
  local p = step.props
  if p.record_call == false then
    local sid = step:call_sid()
    local call = sid and step:twilio("Calls/" .. sid .. "/Recordings/Twilio.CURRENT.json",
                                     { { key = "Status", value = "stopped" } })
    if call then return call end
    return "success", {}
  end
  return step:call({
    twiml.verb("Start", {}, { twiml.verb("Recording", {
      channels = str(p.recording_channels), trim = str(p.trim),
      recordingStatusCallback = str(p.recording_status_callback),
      recordingStatusCallbackMethod = str(p.recording_status_callback_method),
      recordingStatusCallbackEvent = str(p.recording_status_callback_events),
    }) }),
    twiml.verb("Redirect", { method = "POST" }, twiml.callback("next")),
  })
end

function W.resume(step, input)
  if input.kind == "http" then
    local out, failure = require("rivulet.twilio").resource(input.outcome, "Recordings")
    if not out then
      step:why(failure.reason, failure.message)
      return "failed", {}
    end
    return "success", out
  end
  return "success", {}
end

return W
