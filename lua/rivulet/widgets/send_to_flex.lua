-- Send to Flex: hands the contact to a Flex agent through TaskRouter (`workflow`, WW…; the
-- task channel `channel`, TC…; `attributes` as JSON; `priority`, `timeout`). On a call it
-- is TwiML, as Studio's: <Enqueue workflowSid=…><Task priority= timeout=>ATTRIBUTES</Task>
-- </Enqueue> with the wait URL, and the action's QueueResult decides the event as Enqueue
-- Call's does. For a message there is no call: the outcome comes from outside (a FlowEvent
-- post, the console, a spec); with none within `timeout` seconds (or the engine's call
-- wait) it is `failedToEnqueue`. `composerStarted` comes from Twilio's widget catalogue;
-- exports show the other three.
local enqueue = require "rivulet.widgets.enqueue_call"
local twiml = require "rivulet.twiml"

local W = {
  type = "send-to-flex",
  events = { "callComplete", "failedToEnqueue", "callFailure", "composerStarted" },
  required = {},
  properties = {
    workflow = "string", channel = "string", attributes = "string", priority = "string",
    timeout = "string", waitUrl = "string", waitUrlMethod = "string",
  },
  timeout_event = "failedToEnqueue",
}

function W.run(step)
  local p = step.props
  if not step:in_call() then return step:outcome{ timeout = twiml.int(p.timeout) } end
  return step:call(enqueue.enqueue{ workflow = p.workflow, attributes = p.attributes, priority = p.priority,
                                    timeout = p.timeout, wait_url = p.waitUrl, wait_url_method = p.waitUrlMethod })
end

function W.resume(_, input)
  return enqueue.outcome(input)
end

return W
