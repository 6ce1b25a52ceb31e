-- Connect Virtual Agent (v1, deprecated): hands the call to a Dialogflow agent. Known, not
-- run: an execution that reaches it ends with a clear reason.
return {
  type = "connect-virtual-agent",
  events = { "return", "hangup" },
  required = {},
  properties = {
    connector = "string", language = "string", sentiment_analysis = "string",
    status_callback = "string",
  },
}
