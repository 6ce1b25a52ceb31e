-- Start Conversation: creates a Conversation with participants (REST-triggered flows). The
-- Conversations API is not called from here: the outcome comes from outside (a FlowEvent
-- post with the conversation's fields, the console, a spec); with none within the engine's
-- call wait it is `failed`.
return {
  type = "start-conversation",
  events = { "created", "failed" },
  required = {},
  timeout_event = "failed",
  run = function(step) return step:outcome() end,
}
