-- Make Outgoing Call (the legacy v1 widget): as v2, with two more events.
local v2 = require "rivulet.widgets.make_outgoing_call_v2"

return {
  type = "make-outgoing-call-v1",
  events = { "answered", "busy", "noAnswer", "failed", "answeredByMachine", "hangup" },
  required = {},
  properties = v2.properties,
  run = v2.run,
}
