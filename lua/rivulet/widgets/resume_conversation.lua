-- Resume Conversation: continues an existing Conversation. The Conversations API is not
-- called from here: the outcome comes from outside (a FlowEvent post, the console, a spec);
-- with none within the engine's call wait it is `failed`.
return {
  type = "resume-conversation",
  events = { "resumed", "failed" },
  required = {},
  timeout_event = "failed",
  run = function(step) return step:outcome() end,
}
