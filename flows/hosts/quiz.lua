-- The flow the example hosts run: a one-question quiz over SMS, no network needed.
return {
  description = "Quiz",
  { name = "Trigger", type = "trigger", on = { incomingMessage = "ask" } },
  { name = "ask", type = "send-and-wait-for-reply", body = "What is 6 x 7?", timeout = "30",
    on = { incomingMessage = "check", timeout = "slow" } },
  { name = "check", type = "split-based-on", input = "{{ widgets.ask.inbound.Body }}",
    match = { { type = "equal_to", value = "42", next = "right" } },
    on = { noMatch = "wrong" } },
  { name = "right", type = "send-message", body = "Right! {{ widgets.ask.inbound.Body }} it is." },
  { name = "wrong", type = "send-message", body = "No, 42 ({{ widgets.ask.inbound.Body }} is not)." },
  { name = "slow", type = "send-message", body = "Too slow." },
}
