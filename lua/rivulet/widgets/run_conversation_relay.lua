-- Run ConversationRelay: streams the call to an AI application over a WebSocket (`url`,
-- wss) with its voice and transcription settings. On a call it is TwiML: <Connect
-- action=…><ConversationRelay url= welcomeGreeting= ttsProvider= voice= language=
-- transcriptionProvider= interruptible=>(<Parameter/>…)</ConversationRelay></Connect>.
-- Twilio requests the action when the session ends: `success`, or `failed` when its
-- SessionStatus says so or it carries an ErrorCode. Outputs: the fields it posted
-- (SessionStatus, SessionDuration, HandoffData…).
local twiml = require "rivulet.twiml"
local v1 = require "rivulet.widgets.connect_virtual_agent"

local W = {
  type = "run-conversation-relay",
  events = { "success", "failed" },
  required = {},
  properties = { url = "string", welcome_greeting = "string", tts_provider = "string", voice = "string",
                 language = "string", transcription_provider = "string",
                 interruptible = "string|boolean", parameters = "kv_list" },
}

local str = twiml.str

function W.run(step)
  local p = step.props
  local params = twiml.parameters(p.parameters)
  local interruptible = p.interruptible
  if type(interruptible) == "boolean" then interruptible = tostring(interruptible) end
  return step:call(v1.connect(twiml.verb("ConversationRelay", {
    url = str(p.url), welcomeGreeting = str(p.welcome_greeting), ttsProvider = str(p.tts_provider),
    voice = str(p.voice), language = str(p.language), transcriptionProvider = str(p.transcription_provider),
    interruptible = str(interruptible),
  }, params)), { lines = { str(p.welcome_greeting) } })
end

function W.resume(_, input)
  local f = input.fields or {}
  local status = type(f.SessionStatus) == "string" and f.SessionStatus:lower() or ""
  if status == "failed" or status == "error" or (f.ErrorCode ~= nil and f.ErrorCode ~= "") then
    return "failed", f
  end
  return "success", f
end

return W
