-- TwiML Redirect: hands the call to the TwiML at `url` (fetched with `method`, POST by
-- default) and waits `timeout` seconds (a string; default 14400, Studio's 4 h; "0": control
-- does not come back, so the timeout fires at once) for it to return. On a call it is
-- TwiML: <Redirect method=…>URL</Redirect>; as Studio, rivulet never fetches the URL itself.
-- The TwiML there hands control back with <Redirect>WEBHOOK_URL?FlowEvent=return&k=v
-- </Redirect>: `return`, and k=v become the widget's outputs (SERVING.md §2.1). So that it
-- need not know WEBHOOK_URL, the URL gets it as one more query parameter, FlowReturnUrl
-- (rivulet's; Studio's users paste the webhook URL in). A message
-- has no call to redirect: the return (a FlowEvent post matched on its addresses) or the
-- timeout decide. `fail` comes only from the console or a spec.
local twiml = require "rivulet.twiml"

local W = {
  type = "add-twiml-redirect",
  events = { "return", "timeout", "fail" },
  required = {},
  properties = { url = "string", method = "string", timeout = "string|integer" },
  timeout_event = "timeout",
}

W.DEFAULT_TIMEOUT = 14400       -- seconds, Studio's default and maximum
W.RETURN_PARAM = "FlowReturnUrl"

function W.run(step)
  local p = step.props
  local timeout = twiml.int(p.timeout) or W.DEFAULT_TIMEOUT
  if not step:in_call() then return step:outcome{ timeout = timeout } end
  local url = twiml.str(p.url) or ""
  return step:call({ twiml.verb("Redirect", { method = (twiml.str(p.method) or "POST"):upper() },
                                twiml.with_callback(url, W.RETURN_PARAM, "return")) },
                   { timeout = timeout, lines = { "[the call goes to " .. url .. "]" } })
end

-- a callback of rivulet's own never comes (the TwiML redirects elsewhere): taken as a return
function W.resume(_, input)
  return "return", input.fields or {}
end

return W
