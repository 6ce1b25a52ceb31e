-- Gather Input On Call: says (or plays) its prompt and listens for keys or speech. On a
-- call it is TwiML: <Gather input="dtmf speech" action=…> around the prompt, then a
-- <Redirect> that Twilio follows when nothing came within `timeout` seconds (default 5).
-- The action brings Digits (`keypress`) or SpeechResult and Confidence (`speech`); the
-- redirect is `timeout`. Outputs: the fields Twilio posted (Digits, SpeechResult,
-- Confidence and the call's own: Studio's "call params"). A caller who hangs up here ends
-- the execution (the widget has no hangup event).
local twiml = require "rivulet.twiml"
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

W.DEFAULT_TIMEOUT = 5       -- Studio's and Twilio's default, seconds

local int, str, bool = twiml.int, twiml.str, twiml.bool

function W.verbs(p)
  local fin = p.finish_on_key
  if type(fin) ~= "string" then fin = nil end       -- "" is a real value: no finish key
  return {
    twiml.verb("Gather", {
      action = twiml.callback("action"), method = "POST", input = "dtmf speech",
      timeout = int(p.timeout) or W.DEFAULT_TIMEOUT, finishOnKey = fin,
      numDigits = int(p.number_of_digits), language = str(p.gather_language),
      speechTimeout = str(p.speech_timeout), speechModel = str(p.speech_model), hints = str(p.hints),
      profanityFilter = bool(p.profanity_filter),
    }, twiml.prompt{ say = p.say, play = p.play, voice = p.voice, language = p.language, loop = p.loop }),
    twiml.verb("Redirect", { method = "POST" }, twiml.callback("timeout")),
  }
end

function W.run(step)
  local p = step.props
  return step:call(W.verbs(p), { lines = { say_play.line{ say = p.say, play = p.play } } })
end

local function filled(v)
  return type(v) == "string" and v ~= ""
end

function W.resume(_, input)
  local f = input.fields or {}
  if input.callback == "action" then
    if filled(f.Digits) then return "keypress", f end
    if filled(f.SpeechResult) then return "speech", f end
  end
  return "timeout", {}
end

return W
