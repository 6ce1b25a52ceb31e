-- Random number: the Run Function widget's example flow from Twilio's documentation, in
-- rivulet's short Lua form (flows/random_number.json is the same flow as Studio exports it).
--
-- Asks for a minimum and a maximum, passes both to the Generate Random Number function
-- (flows/functions/functions/generate-random-number.js) and texts back its `number`.
-- When the function fails the flow apologises and ends: looping `fail` back onto get_num
-- would stop the execution after 10 runs (flows/retry_counter.lua shows a bounded retry).
--
--   make demo
--   build/rivulet run flows/random_number.lua --reply 1 --reply 6 \
--     --map-url https://example-1234.twil.io=http://127.0.0.1:PORT
return {
  description = "Random number",

  { name = "Trigger", type = "trigger",
    on = { incomingMessage = "min_value", incomingCall = false, incomingConversationMessage = false,
           incomingRequest = false, incomingParent = false } },

  { name = "min_value", type = "send-and-wait-for-reply",
    from = "{{flow.channel.address}}", body = "What is the minimum number?", timeout = "3600",
    on = { incomingMessage = "max_value", timeout = false, deliveryFailure = false } },

  { name = "max_value", type = "send-and-wait-for-reply",
    from = "{{flow.channel.address}}", body = "What is the maximum number?", timeout = "3600",
    on = { incomingMessage = "get_num", timeout = false, deliveryFailure = false } },

  { name = "get_num", type = "run-function",
    url = "https://example-1234.twil.io/generate-random-number",
    parameters = {
      min = "{{widgets.min_value.inbound.Body}}",
      max = "{{widgets.max_value.inbound.Body}}",
    },
    on = { success = "send_num", fail = "send_error" } },

  { name = "send_num", type = "send-message",
    from = "{{flow.channel.address}}", to = "{{contact.channel.address}}",
    body = "Your random number is {{widgets.get_num.parsed.number}}",
    on = { sent = false, failed = false } },

  { name = "send_error", type = "send-message",
    from = "{{flow.channel.address}}", to = "{{contact.channel.address}}",
    body = "Sorry, we could not pick a number between {{widgets.min_value.inbound.Body}} and "
      .. "{{widgets.max_value.inbound.Body}} just now. Please try again later.",
    on = { sent = false, failed = false } },
}
