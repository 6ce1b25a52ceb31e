-- Capture Payments (<Pay>): collects card details over the phone through a payment
-- connector. Known, not run: an execution that reaches it ends with a clear reason.
return {
  type = "capture-payments",
  events = { "success", "maxFailedAttempts", "providerError", "payInterrupted", "hangup",
             "validationError" },
  required = {},
  properties = { parameters = "kv_list" },
}
