-- Retry counter: the bounded retry Twilio's Run Function page recommends instead of looping
-- `fail` back onto the widget (which Studio stops after 10 runs in a row).
--
-- get_num's `fail` goes to a Set Variables counter,
--   count = {% if flow.variables.count %}{{flow.variables.count | plus: 1}}{% else %}1{% endif %}
-- then a Split on {{flow.variables.count}}: greater_than 3 gives up, anything else tries
-- get_num again. So the function runs at most 4 times and the contact always hears back.
--
--   build/rivulet run flows/retry_counter.lua --map-url https://example-1234.twil.io=URL
--   build/rivulet run flows/retry_counter.lua --trigger incomingRequest \
--     --param min=9 --param max=1 --map-url https://example-1234.twil.io=URL
--                                        (a bad range: the function answers 400, so it gives up)
return {
  description = "Retry counter",

  { name = "Trigger", type = "trigger",
    on = { incomingMessage = "get_num", incomingRequest = "get_num", incomingCall = false,
           incomingConversationMessage = false, incomingParent = false } },

  { name = "get_num", type = "run-function",
    url = "https://example-1234.twil.io/generate-random-number",
    parameters = { min = "{{flow.data.min | default: 1}}", max = "{{flow.data.max | default: 6}}" },
    on = { success = "send_num", fail = "count" } },

  { name = "count", type = "set-variables",
    variables = {
      count = "{% if flow.variables.count %}{{flow.variables.count | plus: 1}}"
        .. "{% else %}1{% endif %}",
    },
    on = { next = "check_count" } },

  { name = "check_count", type = "split-based-on", input = "{{flow.variables.count}}",
    match = {
      { type = "greater_than", value = "3", next = "give_up", friendly_name = "More than 3 tries" },
    },
    on = { noMatch = "get_num" } },

  { name = "send_num", type = "send-message",
    body = "Your random number is {{widgets.get_num.parsed.number}}",
    on = { sent = false, failed = false } },

  { name = "give_up", type = "send-message",
    body = "Sorry, the number service failed {{flow.variables.count}} times. "
      .. "Please try again later.",
    on = { sent = false, failed = false } },
}
