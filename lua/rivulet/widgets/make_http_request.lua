-- Make HTTP Request: GET (parameters in the query string) or POST (form parameters, or a
-- JSON body). Success on 2xx only, `failed` otherwise; outputs as Run Function's.
local W = {
  type = "make-http-request",
  events = { "success", "failed" },
  required = { "url", "method" },
  properties = { method = "string", url = "string", content_type = "string", body = "string",
                 parameters = "kv_list", add_twilio_auth = "boolean" },
}

local function mime(ct)
  if type(ct) ~= "string" or ct == "" then return "application/x-www-form-urlencoded" end
  return (ct:lower():match("^%s*([^;%s]+)"))
end

function W.run(step)
  local p = step.props
  return step:http_request{
    method = (p.method or "GET"):upper(), url = p.url, content_type = mime(p.content_type),
    body = p.body, parameters = p.parameters,
  }
end

function W.resume(step, input)
  local o = input.outcome
  return o.event, {
    status_code = o.status_code, content_type = o.content_type, body = o.body,
    parsed = o.parsed, reason = o.reason, message = o.message,
  }
end

return W
