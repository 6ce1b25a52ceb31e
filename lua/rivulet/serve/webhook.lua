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
--
-- A call is answered with TwiML: the execution starts (or takes the callback) and runs to
-- the voice widget it reaches, whose TwiML is the answer (<Hangup/> when it ends first).
-- While a function runs between two voice widgets the request is held, never the loop:
-- the handler answers rivulet.serve.PENDING and the app answers later (App:answer_call).
-- Twilio's callbacks come back to …/Flows/{FW}/Executions/{FN}?Widget=W&Token=T&Callback=K
-- (under the webhook's path, so the same signature and route checks apply; Studio's own
-- shape is not public, SERVING.md §2.5): the token is the waiting widget's, so a retried or
-- late callback never advances twice (it is answered with where the call stands). The
-- call's status callback (a final CallStatus, on the webhook URL itself or, for an
-- outgoing call, Callback=status) ends it: "call ended". ?FlowEvent=EVENT on the webhook
-- URL (Studio's TwiML Redirect return, FlowEvent=return) resumes the execution of that call
-- or contact on EVENT with the other query parameters as the widget's outputs.

local http = require "rivulet.http"
local core = require "rivulet.core"
local request = require "rivulet.serve.request"
local engine = require "rivulet.engine"
local sidlib = require "rivulet.sid"

local format, tostring, lower, pairs, type = string.format, tostring, string.lower, pairs, type

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
local HANGUP = { request.twiml{ "<Hangup/>" } }
local call_exec, stale_call

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
    local _
    _, req.form, req.form_all = request.form(req.query)
  end
  local f = req.form
  local kind = kind_of(f)
  if not kind then
    return request.error(400, 20001, "not a Twilio incoming message or call: no MessageSid, CallSid or ConversationSid")
  end
  local flow_event = req.query_fields.FlowEvent
  if flow_event then return M.flow_event(app, req, p, kind, flow_event) end
  if kind == "call" and engine.CALL_OVER[f.CallStatus] then return M.call_status(app, f) end
  local contact = kind == "conversation" and (f.Author or f.From) or f.From
  local flow, err = app:runnable(p.flow_sid, contact)
  if flow == nil then return request.error(500, 20500, "Internal server error: " .. tostring(err)) end
  if not flow then
    return request.error(404, 20404, format(
      "The requested resource /Flows/%s was not found (or has no published revision)", p.flow_sid))
  end
  local key = f.MessageSid or f.SmsSid or f.SmsMessageSid or f.CallSid
  if kind == "conversation" then key = f.MessageSid or f.ConversationSid .. "/" .. tostring(f.Index) end
  if kind ~= "call" then
    local to = kind == "conversation" and (f.To or f.ConversationSid) or f.To
    local first, serr = app:inbox(key, { kind = "message", from = contact, to = to, body = f.Body or "",
      fields = f, conversation = kind == "conversation" }, p.flow_sid, contact)
    if first == nil then return request.error(500, 20500, "Internal server error: " .. tostring(serr)) end
    return table.unpack(EMPTY)          -- a retry (first == false): answered, not acted on twice
  end
  local first, serr = app.store:take_event(key)
  if first == nil then return request.error(500, 20500, "Internal server error: " .. tostring(serr)) end
  if not first then return app:answer_call(call_exec(app, f), req) end   -- Twilio's retry
  -- a call starts its execution now: the TwiML it reaches is the answer
  local start = { kind = "start", flow = flow,
                  trigger = { event = "incomingCall", from = f.From, to = f.To, call = f } }
  local r = app:handle(start)
  if r.code == "conflict" and stale_call(app, r.active_sid, f.CallSid) then
    r = app:handle(start)
  end
  if r.code ~= "started" then return table.unpack(HANGUP) end
  return app:answer_call(r.exec, req)
end

-- the contact and the flow's own number of a call's fields (an outgoing call's From is
-- the flow's number)
local function call_addresses(f)
  if type(f.Direction) == "string" and f.Direction:match("^outbound") then return f.To, f.From end
  return f.From, f.To
end

-- the active execution of the call these fields are from, or nil
function call_exec(app, f)
  local from, to = call_addresses(f)
  local exec = app.engine.by_contact[app.engine.contact_key(from, to)]
  if exec and exec.status == "active" and app.engine:call_sid(app.engine:innermost(exec)) == f.CallSid then
    return exec
  end
  return nil
end

-- A new call from a contact whose execution still waits on another call: that call is over
-- (its status callback never came: the number has none), so its execution ends, "call
-- ended", and the new call starts. true when it did.
function stale_call(app, sid, call_sid)
  local e = app.engine
  local exec = sid and e.active[sid]
  if not exec then return false end
  local inner = e:innermost(exec)
  local w = inner.wait
  if not (w and w.kind == "call") or e:call_sid(inner) == call_sid then return false end
  e:end_call(inner, "call ended (the caller called again)")
  return exec.status ~= "active"
end

-- a final CallStatus on the webhook URL: the call's status callback
function M.call_status(app, f)
  local from, to = call_addresses(f)
  app:handle{ kind = "call_status", from = from, to = to, call_sid = f.CallSid, status = f.CallStatus, fields = f }
  return 204, {}, ""
end

-- ?FlowEvent=EVENT (Studio's TwiML Redirect return): the execution of this call or contact
-- takes EVENT, the other query parameters as outputs
function M.flow_event(app, req, _, kind, event)
  local f = req.form
  local outputs = {}
  for k, v in pairs(req.query_fields) do if k ~= "FlowEvent" then outputs[k] = v end end
  if kind == "call" then
    local from, to = call_addresses(f)
    local r = app:handle{ kind = "flow_event", event = event, from = from, to = to, call_sid = f.CallSid,
                          fields = outputs }
    return app:answer_call(r.exec or call_exec(app, f), req)
  end
  local contact = kind == "conversation" and (f.Author or f.From) or f.From
  local to = kind == "conversation" and (f.To or f.ConversationSid) or f.To
  local ok, err = app:inbox("FlowEvent/" .. sidlib.new("XE"), { kind = "flow_event", event = event, from = contact,
    to = to, fields = outputs })
  if ok == nil then return request.error(500, 20500, "Internal server error: " .. tostring(err)) end
  return table.unpack(EMPTY)
end

-- POST …/Flows/{FW}/Executions/{FN}?Widget=W&Token=T&Callback=K: Twilio coming back for a
-- call (a Gather's action, a Redirect after a Say, a Dial's action, an outgoing call
-- answered, a held request's redirect), or Callback=status: an outgoing call's status
function M.callback(app, req, p)
  local ok, bad = admit(app, req, p)
  if not ok then return table.unpack(bad) end
  if req.method == "GET" then
    local _
    _, req.form, req.form_all = request.form(req.query)
  end
  local q, f = req.query_fields, req.form
  local e = app.engine
  local exec = e.active[p.execution_sid]
  if exec and e:root(exec).flow_sid ~= p.flow_sid then
    return request.error(404, 20404, format("The requested resource /Flows/%s/Executions/%s was not found",
      p.flow_sid, p.execution_sid))
  end
  if q.Callback == "status" then
    if f.CallStatus then
      app:handle{ kind = "call_status", sid = p.execution_sid, call_sid = f.CallSid, status = f.CallStatus,
                  fields = f }
    end
    return 204, {}, ""
  end
  local r = app:handle{ kind = "call", sid = p.execution_sid, token = q.Token, callback = q.Callback, fields = f }
  return app:answer_call(r.exec or e.active[p.execution_sid], req)
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
  local ok2, err = app:inbox("MessageStatus/" .. sid .. "/" .. f.MessageStatus,
    { kind = "status", message_sid = sid, status = f.MessageStatus, error_code = f.ErrorCode })
  if ok2 == nil then return request.error(500, 20500, "Internal server error: " .. tostring(err)) end
  return 204, {}, ""
end

return M
