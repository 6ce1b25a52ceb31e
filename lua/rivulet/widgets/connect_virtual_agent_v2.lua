-- Connect Virtual Agent v2: hands the call to a conversational AI agent. Known, not run:
-- an execution that reaches it ends with a clear reason.
return {
  type = "connect-virtual-agent-v2",
  events = { "completed", "live-agent-handoff", "hangup", "failed", "paused", "timeout" },
  required = {},
}
