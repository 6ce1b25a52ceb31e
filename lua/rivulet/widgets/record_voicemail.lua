-- Record Voicemail: records the caller until `timeout` seconds of silence (default 5), a key
-- of `finish_on_key` or `max_length` seconds. On a call it is TwiML: <Record action=…>
-- (beep, trim, transcription and its callback, recording status callback), then a
-- <Redirect>: Twilio requests no action for an empty recording and goes on to it
-- (`noAudio`). The action is `recordingComplete` with what Twilio posted (RecordingUrl,
-- RecordingSid, RecordingDuration, Digits…), or `hangup` when its Digits say the caller hung
-- up; a hangup reported by the call's status callback is `hangup` too.
local twiml = require "rivulet.twiml"

local W = {
  type = "record-voicemail",
  events = { "recordingComplete", "noAudio", "hangup" },
  required = {},
  properties = {
    timeout = "integer", max_length = "integer", finish_on_key = "string", transcribe = "boolean",
    transcription_callback_url = "string", trim = "string", play_beep = "string",
    recording_status_callback_url = "string",
  },
}

W.DEFAULT_TIMEOUT = 5       -- seconds of silence, Twilio's default

local int, str, bool = twiml.int, twiml.str, twiml.bool

function W.run(step)
  local p = step.props
  local fin = type(p.finish_on_key) == "string" and p.finish_on_key or nil
  return step:call({
    twiml.verb("Record", {
      action = twiml.callback("action"), method = "POST", timeout = int(p.timeout) or W.DEFAULT_TIMEOUT,
      finishOnKey = fin, maxLength = int(p.max_length), playBeep = bool(p.play_beep), trim = str(p.trim),
      transcribe = bool(p.transcribe), transcribeCallback = str(p.transcription_callback_url),
      recordingStatusCallback = str(p.recording_status_callback_url),
    }),
    twiml.verb("Redirect", { method = "POST" }, twiml.callback("empty")),
  })
end

function W.resume(_, input)
  local f = input.fields or {}
  if input.callback ~= "action" then return "noAudio", {} end
  if f.Digits == "hangup" then return "hangup", f end
  return "recordingComplete", f
end

return W
