-- rivulet.serve.webhook: the flow's webhook_url, where Twilio posts a number's incoming
-- messages and calls (SERVING.md §2), and the message status callbacks rivulet asks for.
--
-- Every request must carry a valid X-Twilio-Signature: base64 HMAC-SHA1 (or HMAC-SHA256,
-- when X-Twilio-Webhooks-Signature-Settings says algorithm=HMAC_SHA256) keyed with the
-- auth token, over the URL Twilio called (the public URL, the path and the query) and the
-- POSTed fields sorted by name; 403 otherwise. A MessageSid or CallSid seen before is a
-- retry: answered the same, acted on never again.
--
-- A message is answered at once with an empty <Response/> (text/xml) and its steps run
-- after the answer: a 10 s function must not hold Twilio's webhook (which gives up after
-- 15 s). Every posted field is kept: trigger.message.* for a new execution, inbound.* for
-- a reply, unknown ones too.

local http = require "rivulet.http"
local core = require "rivulet.core"
local request = require "rivulet.serve.request"

local format, tostring, lower = string.format, tostring, string.lower

local M = {}

-- the URL Twilio signed: the public URL, the path, the query as sent
local function signed_url(app, req)
  local q = req.query
  return app.public_url .. req.path .. ((q and q ~= "") and ("?" .. q) or "")
end

-- whether the request is signed with the account's auth token (nil, why when it is not)
function M.verify(app, req)
  local got = request.header(req, "X-Twilio-Signature")
  if not got then return nil, "no X-Twilio-Signature" end
  local settings = lower(request.header(req, "X-Twilio-Webhooks-Signature-Settings") or "")
  local algorithm = settings:match("algorithm%s*=%s*hmac_sha256") and "sha256" or "sha1"
  local want = http.signature(app.auth_token, signed_url(app, req), req.form_pairs, false, algorithm)
  if not core.secret_equal(got, want) then return nil, "X-Twilio-Signature does not match" end
  return true
end

local function forbidden(why)
  return request.error(403, 20003, "Forbidden: " .. why .. " (signed over " ..
    "the public URL; see rivulet serve --public-url)")
end

-- the checks every webhook request passes: signature, account, flow
local function admit(app, req, p)
  local ok, why = M.verify(app, req)
  if not ok then return nil, { forbidden(why) } end
  if p.account_sid ~= app.account_sid then
    return nil, { request.error(404, 20404, format("The requested resource /Accounts/%s was not found",
      p.account_sid)) }
  end
  return true
end

local EMPTY = { request.twiml() }

-- the event Twilio posted: "message", "call" or "conversation"
local function kind_of(f)
  if f.ConversationSid and (f.EventType == "onMessageAdded" or f.Author) then return "conversation" end
  if f.MessageSid or f.SmsSid or f.SmsMessageSid then return "message" end
  if f.CallSid then return "call" end
  return nil
end

-- POST (or GET) /v1/Accounts/{AC}/Flows/{FW}: an incoming message or call
function M.incoming(app, req, p)
  local ok, bad = admit(app, req, p)
  if not ok then return table.unpack(bad) end
  if req.method == "GET" then        -- Twilio's GET webhooks put the fields in the query
    req.form, req.form_all = request.fields(request.pairs_of(req.query or ""))
  end
  local f = req.form
  local kind = kind_of(f)
  if not kind then
    return request.error(400, 20001, "not a Twilio incoming message or call: no MessageSid, CallSid or ConversationSid")
  end
  local contact = kind == "conversation" and (f.Author or f.From) or f.From
  local flow, err = app:runnable(p.flow_sid, contact)
  if flow == nil then return request.error(500, 20500, "Internal server error: " .. tostring(err)) end
  if not flow then
    return request.error(404, 20404, format(
      "The requested resource /Flows/%s was not found (or has no published revision)", p.flow_sid))
  end
  local key = f.MessageSid or f.SmsSid or f.SmsMessageSid or f.CallSid
  if kind == "conversation" then key = f.MessageSid or f.ConversationSid .. "/" .. tostring(f.Index) end
  local first, serr = app.store:take_event(key)
  if first == nil then return request.error(500, 20500, "Internal server error: " .. tostring(serr)) end
  if not first then return table.unpack(EMPTY) end     -- Twilio's retry: answered, not acted on twice
  if kind ~= "call" then
    local to = kind == "conversation" and (f.To or f.ConversationSid) or f.To
    app:later(function()
      app:handle{ kind = "message", flow = flow, from = contact, to = to, body = f.Body or "", fields = f,
                  conversation = kind == "conversation" }
    end)
  else
    -- a call starts its execution; the TwiML that answers it is the voice work's
    app:later(function()
      app:handle{ kind = "start", flow = flow,
                  trigger = { event = "incomingCall", from = f.From, to = f.To, call = f } }
    end)
  end
  return table.unpack(EMPTY)
end

-- POST …/Flows/{FW}/MessageStatus: Twilio's status callback for a message rivulet sent
function M.message_status(app, req, p)
  local ok, bad = admit(app, req, p)
  if not ok then return table.unpack(bad) end
  local f = req.form
  local sid = f.MessageSid or f.SmsSid
  if not sid or not f.MessageStatus then
    return request.error(400, 20001, "a status callback carries MessageSid and MessageStatus")
  end
  app:later(function()
    app:handle{ kind = "status", message_sid = sid, status = f.MessageStatus, error_code = f.ErrorCode }
  end)
  return 204, {}, ""
end

return M
