-- TwiML Redirect: hands the call or message to TwiML at `url` and waits `timeout` seconds
-- (a string; "0" = do not wait) for it to return. Known, not run: an execution that
-- reaches it ends with a clear reason.
return {
  type = "add-twiml-redirect",
  events = { "return", "timeout", "fail" },
  required = {},
  properties = { url = "string", method = "string", timeout = "string" },
}
