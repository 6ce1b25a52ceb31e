-- rivulet.twilio: Twilio's own REST API (2010-04-01) as the outbound widgets call it:
-- Messages for Send Message and Send & Wait's prompt, Calls for Make Outgoing Call, a
-- call's Recordings for Call Recording. Pointed at Twilio
-- (https://api.twilio.com) or at a local stand-in; the engine option `twilio` turns it on.
--
--   twilio = { url = "https://api.twilio.com", account_sid = "AC…", auth_token = "…",
--              status_callback = function(exec) -> URL | nil,
--              callback_url = function(exec, widget, token, kind) -> URL | nil }
--   local call = twilio_lib.post(client, twilio, "Calls.json", {{key =, value =}, …}, tag, widget)
--   local call = twilio_lib.send_message(client, twilio, {to=, from=, body=, media_url=,
--                                                          status_callback=}, tag)
--   twilio_lib.outcome(call_outcome) -> the outbound fields (Studio's outbound.*) | nil, failure

local type, ipairs, pairs, tostring, format = type, ipairs, pairs, tostring, string.format
local upper, gsub = string.upper, string.gsub

local M = {}

M.DEFAULT_URL = "https://api.twilio.com"

-- POST /2010-04-01/Accounts/{AC}/Messages.json, form-encoded, HTTP Basic (AC…:token)
function M.send_message(client, api, msg, tag)
  local params = { { key = "To", value = msg.to }, { key = "From", value = msg.from },
                   { key = "Body", value = msg.body or "" } }
  local media = msg.media_url
  if type(media) == "string" and media ~= "" then media = { media } end
  for _, u in ipairs(type(media) == "table" and media or {}) do
    params[#params + 1] = { key = "MediaUrl", value = u }
  end
  if msg.status_callback then params[#params + 1] = { key = "StatusCallback", value = msg.status_callback } end
  return client:http_request{
    method = "POST", url = format("%s/2010-04-01/Accounts/%s/Messages.json", api.url, api.account_sid),
    parameters = params, basic_auth = api.account_sid .. ":" .. api.auth_token, tag = tag,
    widget = msg.widget,
  }
end

-- POST /2010-04-01/Accounts/{AC}/{path}, form-encoded, HTTP Basic: any other resource
-- (Calls.json, Calls/{CA}/Recordings.json)
function M.post(client, api, path, params, tag, widget)
  return client:http_request{
    method = "POST", url = format("%s/2010-04-01/Accounts/%s/%s", api.url, api.account_sid, path),
    parameters = params, basic_auth = api.account_sid .. ":" .. api.auth_token, tag = tag, widget = widget,
  }
end

-- a resource's outcome -> its fields with Studio's names | nil, failure (as outcome's)
function M.resource(o, what)
  if o.event == "success" and type(o.parsed) == "table" and o.parsed.sid then
    return M.message_fields(o.parsed)
  end
  local _, failure = M.outcome(o)
  if o.event == "success" then
    failure.message = format("the %s API answered without a resource", what or "Twilio")
  end
  return nil, failure
end

-- the Message resource's fields with Studio's names: account_sid -> AccountSid (Studio's
-- outbound.Sid, outbound.Status, ... hold the whole resource)
local function pascal(k)
  return (gsub(gsub(k, "^%l", upper), "_(%w)", upper))
end

function M.message_fields(resource)
  local out = {}
  for k, v in pairs(resource) do
    if type(k) == "string" then out[pascal(k)] = v end
  end
  return out
end

-- a Messages API call's outcome -> outbound fields | nil, the widget's failure outputs
-- (reason, message, and Twilio's own error code and status when it answered one)
function M.outcome(o)
  if o.event == "success" and type(o.parsed) == "table" and o.parsed.sid then
    return M.message_fields(o.parsed)
  end
  local p = type(o.parsed) == "table" and o.parsed or {}
  local why = o.reason or "http_status"
  local text = p.message and format("Twilio answered %s: %s (error %s)", tostring(o.status_code),
                                    tostring(p.message), tostring(p.code))
    or o.message or format("the Messages API answered HTTP %s", tostring(o.status_code))
  if o.event == "success" then why, text = "invalid_reply", "the Messages API answered without a Message resource" end
  return nil, { reason = why, message = text, status_code = o.status_code, error_code = p.code }
end

return M
