-- Start Conversation: creates a Conversation with participants (REST-triggered flows).
-- Known, not run: an execution that reaches it ends with a clear reason.
return {
  type = "start-conversation",
  events = { "created", "failed" },
  required = {},
}
