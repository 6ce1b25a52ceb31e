-- Make HTTP Request: GET (parameters in the query string) or POST (form parameters, or a
-- JSON body). Success on 2xx only, `failed` otherwise; outputs status_code, content_type,
-- body and parsed (no headers: REFERENCE.md §1a). As Run Function's, the outputs after a
-- failure with no reply are Studio's empty map, the reason in the step (REFERENCE.md §3, §4).
-- add_twilio_auth sends the account's credentials, to Twilio's API only (rivulet.step);
-- a parameter named with a reserved word fails the widget (error 81014), nothing sent.
local http = require "rivulet.http"

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
  local refused = http.reserved_refusal(p.parameters)
  if refused then
    step:why("reserved_parameter", refused)
    return "failed", {}
  end
  local wait, reason, message = step:http_request{
    method = (p.method or "GET"):upper(), url = p.url, content_type = mime(p.content_type),
    body = p.body, parameters = p.parameters, twilio_auth = p.add_twilio_auth == true,
  }
  if not wait then
    step:why(reason, message)
    return "failed", {}
  end
  return wait
end

function W.resume(step, input)
  local o = input.outcome
  if o.reason then step:why(o.reason, o.message) end
  if not o.status_code or o.status_code == 0 then return o.event, {} end   -- no reply
  return o.event, {
    status_code = o.status_code, content_type = o.content_type, body = o.body, parsed = o.parsed,
  }
end

return W
