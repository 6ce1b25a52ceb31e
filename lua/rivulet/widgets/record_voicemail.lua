-- Record Voicemail: records the caller until silence (`timeout` seconds, default 5) or
-- `max_length`. Simulated: the contact's next reply is the message; it becomes
-- `recordingComplete` with a made-up RecordingUrl, the seconds waited as RecordingDuration
-- (at least 1, at most max_length) and the reply as TranscriptionText. No reply, or an
-- empty one, is `noAudio`.
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

W.DEFAULT_TIMEOUT = 5
W.RECORDING_URL = "https://example.invalid/recordings/"

function W.run(step)
  local timeout = tonumber(step.props.timeout) or W.DEFAULT_TIMEOUT
  return step:wait_reply(timeout, { started = step:now() })
end

function W.resume(step, input)
  local body = input.kind == "reply" and tostring(input.message.Body or "") or ""
  if body:match("^%s*$") then return "noAudio", {} end
  local started = step.data and step.data.started or step:now()
  local seconds = math.max(1, math.floor(step:now() - started))
  local max = tonumber(step.props.max_length)
  if max and max >= 1 and seconds > max then seconds = math.floor(max) end
  local sid = step:sid("RE")
  return "recordingComplete", {
    RecordingSid = sid, RecordingUrl = W.RECORDING_URL .. sid,
    RecordingDuration = tostring(seconds), TranscriptionText = body,
  }
end

return W
