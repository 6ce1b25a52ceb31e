-- Send to Autopilot (a retired product): hands the conversation to an Autopilot assistant.
-- Known, not run: an execution that reaches it ends with a clear reason.
return {
  type = "send-to-auto-pilot",
  events = { "sessionEnded", "failure", "timeout" },
  required = {},
  properties = {
    autopilot_assistant_sid = "string", body = "string", from = "string", target_task = "string",
    timeout = "integer", memory_parameters = "kv_list", chat_channel = "string",
    chat_service = "string", chat_attributes = "string",
  },
}
