-- Connect Virtual Agent (v1, deprecated): hands the call to a Dialogflow agent through a
-- connector. On a call it is TwiML: <Connect action=…><VirtualAgent connectorName= language=
-- sentimentAnalysis= statusCallback=/></Connect>. Twilio requests the action when the agent
-- lets the call go: `return` with what it posted (VirtualAgentStatus, the agent's
-- parameters…), or `hangup` when the caller hung up.
local twiml = require "rivulet.twiml"

local W = {
  type = "connect-virtual-agent",
  events = { "return", "hangup" },
  required = {},
  properties = {
    connector = "string", language = "string", sentiment_analysis = "string|boolean",
    status_callback = "string",
  },
}

local str, bool = twiml.str, twiml.bool

function W.connect(child)
  return { twiml.verb("Connect", { action = twiml.callback("action"), method = "POST" }, { child }) }
end

function W.run(step)
  local p = step.props
  return step:call(W.connect(twiml.verb("VirtualAgent", {
    connectorName = str(p.connector), language = str(p.language),
    sentimentAnalysis = bool(p.sentiment_analysis), statusCallback = str(p.status_callback),
  })), { lines = { "[talking to the virtual agent " .. (str(p.connector) or "") .. "]" } })
end

function W.resume(_, input)
  local f = input.fields or {}
  if f.CallStatus == "completed" then return "hangup", f end
  return "return", f
end

return W
