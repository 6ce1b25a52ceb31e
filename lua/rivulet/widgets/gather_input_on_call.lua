-- Gather Input On Call: says (or plays) its prompt, then waits `timeout` seconds (default 5)
-- for the caller. Simulated: the contact's next reply is the input. A reply of digits
-- (and # or *) is a `keypress` (Digits, without the finish_on_key that ended it, as
-- Twilio reports it); anything else is `speech` (SpeechResult, Confidence); no reply, or
-- an empty one, is `timeout`.
local say_play = require "rivulet.widgets.say_play"

local W = {
  type = "gather-input-on-call",
  events = { "keypress", "speech", "timeout" },
  required = {},
  properties = {
    say = "string", play = "string", voice = "string", language = "string", loop = "integer",
    timeout = "integer", finish_on_key = "string", number_of_digits = "integer",
    stop_gather = "boolean", gather_language = "string", speech_timeout = "string",
    speech_model = "string", hints = "string", profanity_filter = "string",
  },
}

W.DEFAULT_TIMEOUT = 5

function W.run(step)
  local p = step.props
  local line = say_play.line{ say = p.say, play = p.play }
  if line then step:say(line) end
  return step:wait_reply(tonumber(p.timeout) or W.DEFAULT_TIMEOUT)
end

function W.resume(step, input)
  if input.kind ~= "reply" then return "timeout", {} end
  local reply = (tostring(input.message.Body or ""):match("^%s*(.-)%s*$"))
  if reply == "" then return "timeout", {} end
  if reply:match("^[%d#%*]+$") then
    local fin = step.props.finish_on_key
    if fin == nil then fin = "#" end        -- Twilio's default
    if type(fin) == "string" and #fin == 1 and #reply > 1 and reply:sub(-1) == fin then
      reply = reply:sub(1, -2)
    end
    return "keypress", { Digits = reply }
  end
  return "speech", { SpeechResult = reply, Confidence = "0.9" }
end

return W
