-- Enqueue Call: puts the caller in a queue (or a TaskRouter workflow). Simulated: the call
-- is dequeued and completes at once (`callComplete`).
local W = {
  type = "enqueue-call",
  events = { "callComplete", "failedToEnqueue", "callFailure" },
  required = {},
  properties = {
    workflow_sid = "string", queue_name = "string", priority = "integer", timeout = "integer",
    task_attributes = "string", wait_url = "string", wait_url_method = "string",
  },
}

function W.run()
  return "callComplete", {}
end

return W
