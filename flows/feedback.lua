-- Feedback: asks for a rating and a comment over SMS, a conversation that spans hours.
-- Run it behind an inbound-SMS webhook with a store, one `rivulet deliver` per message:
--
--   rivulet deliver --store feedback.db --flow flows/feedback.lua \
--     --from "$FROM" --to "$TO" --body "$BODY"
--   rivulet logs --store feedback.db
return {
  description = "Feedback",

  { name = "Trigger", type = "trigger", on = { incomingMessage = "ask_rating" } },

  { name = "ask_rating", type = "send-and-wait-for-reply", timeout = "86400",
    body = "Thanks for visiting! How would you rate us, 1 to 5?",
    on = { incomingMessage = "check_rating", timeout = false } },

  { name = "check_rating", type = "split-based-on", input = "{{widgets.ask_rating.inbound.Body}}",
    match = { { type = "regex", value = "[1-5]", next = "keep_rating" } },
    on = { noMatch = "count_retry" } },

  { name = "count_retry", type = "set-variables",
    variables = { retries = "{{flow.variables.retries | default: 0 | plus: 1}}" },
    on = { next = "retry_or_stop" } },

  { name = "retry_or_stop", type = "split-based-on", input = "{{flow.variables.retries}}",
    match = { { type = "greater_than", value = "2", next = "give_up" } },
    on = { noMatch = "ask_rating" } },

  { name = "keep_rating", type = "set-variables",
    variables = { rating = "{{widgets.ask_rating.inbound.Body | strip}}" },
    on = { next = "ask_comment" } },

  -- rating is a number: Set Variables stores an unquoted number as one (Studio type-casts)
  { name = "ask_comment", type = "send-and-wait-for-reply", timeout = "86400",
    body = "{% if flow.variables.rating < 3 %}Sorry to hear that. {% endif %}What should we know?",
    on = { incomingMessage = "thanks", timeout = "thanks" } },

  { name = "thanks", type = "send-message", body = "Thank you! We read every message.",
    on = { sent = false, failed = false } },

  { name = "give_up", type = "send-message", body = "No problem, maybe next time.",
    on = { sent = false, failed = false } },
}
