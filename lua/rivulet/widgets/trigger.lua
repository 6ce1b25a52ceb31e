-- Trigger: where every execution starts. The engine fires the event the execution was
-- started with (incomingMessage, incomingCall, incomingConversationMessage,
-- incomingRequest, incomingParent); the trigger's data lands in `trigger.*`.
return {
  type = "trigger",
  events = { "incomingMessage", "incomingCall", "incomingConversationMessage", "incomingRequest", "incomingParent" },
  required = {},
}
