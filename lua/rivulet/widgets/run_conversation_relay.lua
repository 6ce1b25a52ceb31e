-- Run ConversationRelay: streams the call to a WebSocket (`url`, wss) for an AI
-- application. Known, not run: an execution that reaches it ends with a clear reason.
return {
  type = "run-conversation-relay",
  events = { "success", "failed" },
  required = {},
  properties = { url = "string" },
}
