-- Resume Conversation: continues an existing Conversation. Known, not run: an execution
-- that reaches it ends with a clear reason.
return {
  type = "resume-conversation",
  events = { "resumed", "failed" },
  required = {},
}
