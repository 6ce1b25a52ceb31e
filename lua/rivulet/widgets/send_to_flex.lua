-- Send to Flex: creates a TaskRouter task for a Flex agent. Known, not run: an execution
-- that reaches it ends with a clear reason. `composerStarted` comes from Twilio's widget
-- catalogue; exports show the other three.
return {
  type = "send-to-flex",
  events = { "callComplete", "failedToEnqueue", "callFailure", "composerStarted" },
  required = {},
  properties = {
    workflow = "string", channel = "string", attributes = "string", priority = "string",
    timeout = "string", waitUrl = "string", waitUrlMethod = "string",
  },
}
