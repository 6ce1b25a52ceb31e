-- Enqueue Call: puts the caller in a queue (`queue_name`), or hands the call to a TaskRouter
-- workflow (`workflow_sid`, with the task's attributes, priority and timeout). On a call it
-- is TwiML: <Enqueue action=…> (with <Task> for a workflow; wait URL and method). Twilio
-- requests the action when the call leaves the queue; its QueueResult decides the event
-- (see outcome). Outputs: the fields Twilio posted (QueueResult, QueueSid, QueueTime…).
local twiml = require "rivulet.twiml"

local W = {
  type = "enqueue-call",
  events = { "callComplete", "failedToEnqueue", "callFailure" },
  required = {},
  properties = {
    workflow_sid = "string", queue_name = "string", priority = "integer", timeout = "integer",
    task_attributes = "string", wait_url = "string", wait_url_method = "string",
  },
}

local int, str = twiml.int, twiml.str

-- Twilio's QueueResult -> the widget's event: the call left the queue one way or another
-- (callComplete), the queue would not take it (failedToEnqueue), Twilio failed (callFailure)
W.QUEUE_RESULTS = {
  bridged = "callComplete", ["bridging-in-process"] = "callComplete", redirected = "callComplete",
  ["redirected-from-bridged"] = "callComplete", leave = "callComplete", hangup = "callComplete",
  ["queue-full"] = "failedToEnqueue", error = "callFailure", ["system-error"] = "callFailure",
}

-- <Enqueue> for a queue name or a workflow (Send to Flex uses it too)
function W.enqueue(o)
  local attrs = { action = twiml.callback("action"), method = "POST", waitUrl = str(o.wait_url),
                  waitUrlMethod = str(o.wait_url_method), workflowSid = str(o.workflow) }
  local content = str(o.queue)
  if attrs.workflowSid then
    content = { twiml.verb("Task", { priority = int(o.priority), timeout = int(o.timeout) },
                           str(o.attributes) or "{}") }
  end
  return { twiml.verb("Enqueue", attrs, content) }
end

function W.outcome(input)
  local f = input.fields or {}
  return W.QUEUE_RESULTS[f.QueueResult] or "callComplete", f
end

function W.run(step)
  local p = step.props
  return step:call(W.enqueue{ queue = p.queue_name, workflow = p.workflow_sid, attributes = p.task_attributes,
                              priority = p.priority, timeout = p.timeout, wait_url = p.wait_url,
                              wait_url_method = p.wait_url_method })
end

function W.resume(_, input)
  return W.outcome(input)
end

return W
