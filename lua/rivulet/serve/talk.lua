-- rivulet.serve.talk: the inspector's conversation panel. A person talks to a flow as a
-- contact, and rivulet plays Twilio's part through the same webhook path Twilio uses: every
-- message, call, caller's answer and hang-up becomes the request Twilio would send (its
-- fields, signed with the auth token over the public URL) and goes through App:request, so
-- the signature check, the routes, the retries' bookkeeping and the handlers are the ones a
-- real number meets. The browser never holds the auth token: it reaches these endpoints
-- with the account's Basic credentials (rivulet.serve.inspector's routes), and the server
-- signs.
--
-- A call is simulated as rivulet.voice simulates one for the console and the specs: the
-- TwiML the webhook answers (at once, or later when a function ran in between) says what
-- the caller hears, and rivulet.voice.need reads what the call waits for (keys or words, a
-- message, an outcome decided outside, or nothing: a Redirect after a Say, followed at once
-- as Twilio does).
--
--   local talk = talk_mod.new(app, on_change)      -- on_change(call_state): the panel's feed
--   talk:message{flow_sid, from, to, body}          -> {status, twiml, message_sid}
--   talk:call{flow_sid, from, to}                   -> call state
--   talk:answer(call_sid, text)  talk:choose(call_sid, event)  talk:hangup(call_sid)
--   talk:state(call_sid)                            -> {sid, flow_sid, from, to, state, ask?, twiml, …}
--   -- state: "connecting" (the webhook holds the call), "playing" (the caller hears; a
--   -- Redirect follows), "input" (a Gather: keys or words), "recording" (a Record),
--   -- "outcome" (a widget waits for the outside world: one of `events`), "ended"

local core = require "rivulet.core"
local http = require "rivulet.http"
local voice = require "rivulet.voice"

local type, pairs, ipairs, tostring, format = type, pairs, ipairs, tostring, string.format
local concat, sort = table.concat, table.sort

local M = {}

M.MAX_CALLS = 32          -- simulated calls remembered at once; the oldest ended ones go first

local Talk = {}
Talk.__index = Talk
M.Talk = Talk

function M.new(app, on_change)
  return setmetatable({ app = app, on_change = on_change, calls = {}, order = {}, n = 0 }, Talk)
end

local function enc(s)
  return (tostring(s):gsub("[^%w%-%._~]", function(c) return format("%%%02X", c:byte()) end))
end

local function form(list)
  local parts = {}
  for i, kv in ipairs(list) do parts[i] = enc(kv[1]) .. "=" .. enc(kv[2]) end
  return concat(parts, "&")
end

-- {name = value} -> {{name, value}, …} in name order (what Twilio posts, as a form)
local function field_list(t)
  local list = {}
  for k, v in pairs(t) do list[#list + 1] = { k, tostring(v) } end
  sort(list, function(a, b) return a[1] < b[1] end)
  return list
end

function Talk:webhook_path(flow_sid)
  return format("/v1/Accounts/%s/Flows/%s", self.app.account_sid, flow_sid)
end

-- A POST to the app as Twilio sends it: the fields form-encoded and signed over the public
-- URL, the path and the query. -> status, headers, body; or serve.PENDING when the answer
-- comes later, handed to on_late({status, headers, body}) then.
function Talk:post(path, query, fields, on_late)
  local app = self.app
  local list = field_list(fields)
  local url = app.public_url .. path .. ((query and query ~= "") and ("?" .. query) or "")
  self.n = self.n + 1
  local id = "inspector-" .. self.n
  local req = { id = id, method = "POST", path = path, query = query, body = form(list), peer = "inspector",
                headers = { { "Content-Type", "application/x-www-form-urlencoded" },
                            { "X-Twilio-Signature", http.signature(app.auth_token, url, list, false) } } }
  local status, headers, body = app:request(req)
  if status == require("rivulet.serve").PENDING then
    app.internal[id] = on_late or function() end
  end
  return status, headers, body
end

-- ---- messages -------------------------------------------------------------------------------

-- An incoming SMS, with the fields Twilio posts for one (SERVING.md §2.2's capture)
function Talk:message(m)
  local sid = "SM" .. core.random_hex(16)
  local f = { ToCountry = "US", ToState = "", SmsMessageSid = sid, NumMedia = "0", ToCity = "", FromZip = "",
              SmsSid = sid, FromState = "", SmsStatus = "received", FromCity = "", Body = m.body or "",
              FromCountry = "US", To = m.to, ToZip = "", NumSegments = "1", MessageSid = sid,
              AccountSid = self.app.account_sid, From = m.from, ApiVersion = "2010-04-01" }
  local status, _, body = self:post(self:webhook_path(m.flow_sid), nil, f)
  return { status = status, twiml = body, message_sid = sid }
end

-- ---- calls ------------------------------------------------------------------------------------

-- the fields Twilio posts with every request of a call
local function call_fields(call, status, extra)
  local f = { AccountSid = call.account_sid, ApiVersion = "2010-04-01", CallSid = call.sid, CallStatus = status,
              Called = call.to, Caller = call.from, Direction = "inbound", From = call.from, To = call.to,
              CallerCountry = "US", CalledCountry = "US" }
  for k, v in pairs(extra or {}) do f[k] = v end
  return f
end

-- the call's execution (the contact's active one, on this call), or nil
function Talk:exec_of(call)
  local e = self.app.engine
  local exec = e.by_contact[e.contact_key(call.from, call.to)]
  if exec and exec.status == "active" and e:call_sid(e:innermost(exec)) == call.sid then return exec end
  return nil
end

function Talk:need(call)
  local exec = self:exec_of(call)
  return exec and voice.need(self.app.engine, exec) or nil
end

-- what the panel shows of a call
function Talk:state(sid)
  local call = type(sid) == "table" and sid or self.calls[sid]
  if not call then return nil end
  local s = { sid = call.sid, flow_sid = call.flow_sid, from = call.from, to = call.to, state = call.state,
              twiml = call.twiml, execution_sid = call.execution_sid, reason = call.reason,
              version = call.version }
  if call.state == "input" or call.state == "recording" or call.state == "outcome" then
    local n = self:need(call)
    if n then
      local attrs = n.verb and n.verb.attrs or {}
      s.ask = { widget = n.widget, type = n.type, events = n.events, input = attrs.input,
                num_digits = attrs.numDigits, finish_on_key = attrs.finishOnKey, timeout = attrs.timeout,
                max_length = attrs.maxLength }
    end
  end
  return s
end

-- the call moved on: its version grows (the panel keeps the newest it has seen: an
-- answer and the change feed may arrive in either order)
function Talk:changed(call)
  call.version = (call.version or 0) + 1
  if self.on_change then self.on_change(self:state(call)) end
end

-- the answer Twilio got to one of the call's requests: what the call does next
function Talk:answered(call, status, body)
  call.twiml = body
  local exec = self:exec_of(call)
  if exec then call.execution_sid = exec.sid end
  if type(status) ~= "number" or status >= 300 then
    call.state, call.reason = "ended", format("the webhook answered %s", tostring(status))
  elseif type(body) ~= "string" or body:find("<Hangup/>", 1, true) or not exec then
    call.state = "ended"
  else
    local n = voice.need(self.app.engine, exec)
    if n and n.ask == "next" then
      -- a Say or a Play, then a Redirect back: Twilio plays them and follows it
      call.state = "playing"
      self.app:later(function() self:follow(call, n) end)
    elseif n then
      call.state = n.ask
    else
      call.state = "connecting"
    end
  end
  self:changed(call)
end

-- one request of the call to the app (the URL from the call's TwiML, or the webhook's)
function Talk:exchange(call, path, query, fields)
  local status, _, body = self:post(path, query, fields, function(a) self:answered(call, a.status, a.body) end)
  if status == require("rivulet.serve").PENDING then
    call.state = "connecting"
    self:changed(call)
    return
  end
  self:answered(call, status, body)
end

-- the path and query of a callback URL the app made (under its public URL)
function Talk:split_url(url)
  local base = self.app.public_url
  local rest = url:sub(1, #base) == base and url:sub(#base + 1) or url
  local path, query = rest:match("^([^?]*)%??(.*)$")
  return path, query ~= "" and query or nil
end

-- Twilio comes back for the wait n with the callback `kind` and these fields
function Talk:callback(call, n, kind, fields)
  local url = self.app:callback_url(n.exec, n.widget, n.wait.data.token, kind)
  local path, query = self:split_url(url)
  self:exchange(call, path, query, call_fields(call, "in-progress", fields))
end

function Talk:follow(call, n)
  if call.state ~= "playing" then return end
  local now = self:need(call)
  if not now or now.ask ~= "next" or now.wait ~= n.wait then return end    -- it moved on meanwhile
  self:callback(call, now, voice.answer(self.app.engine, now, ""))
end

local function remember(self, call)
  self.calls[call.sid] = call
  self.order[#self.order + 1] = call.sid
  local i = 1
  while #self.order > M.MAX_CALLS and i <= #self.order do
    local old = self.calls[self.order[i]]
    if not old or old.state == "ended" then
      self.calls[self.order[i]] = nil
      table.remove(self.order, i)
    else
      i = i + 1
    end
  end
end

-- A call comes in: Twilio's first request to the flow's webhook
function Talk:call(c)
  local call = { sid = "CA" .. core.random_hex(16), flow_sid = c.flow_sid, from = c.from, to = c.to,
                 account_sid = self.app.account_sid, state = "connecting", version = 0 }
  remember(self, call)
  self:exchange(call, self:webhook_path(c.flow_sid), nil, call_fields(call, "ringing"))
  return self:state(call)
end

-- the call's need of the kinds given, or nil, why
local function waiting(self, sid, kinds)
  local call = self.calls[sid]
  if not call then return nil, nil, "no such call" end
  local n = self:need(call)
  if not n or not kinds[n.ask] then
    return nil, call, format("the call is %s, not waiting for that", tostring(call.state))
  end
  return n, call
end

-- The caller's keys or words at a Gather, or the message at a Record ("" : silence)
function Talk:answer(sid, text)
  local n, call, why = waiting(self, sid, { input = true, recording = true })
  if not n then return nil, why end
  call.state = "connecting"
  self:callback(call, n, voice.answer(self.app.engine, n, text))
  return self:state(call)
end

-- An outcome decided outside (a dialled party, a queue, a payment…): FlowEvent on the
-- webhook, as a TwiML Redirect's return does, with what a real outcome hands back
function Talk:choose(sid, event)
  local n, call, why = waiting(self, sid, { outcome = true, input = true, recording = true })
  if not n then return nil, why end
  local known = false
  for _, e in ipairs(n.events) do if e == event then known = true end end
  if not known then return nil, format("'%s' (%s) has no event '%s'", n.widget, n.type, tostring(event)) end
  local q = { "FlowEvent=" .. enc(event) }
  local outs = field_list(voice.outputs(n, event))
  for _, kv in ipairs(outs) do q[#q + 1] = enc(kv[1]) .. "=" .. enc(kv[2]) end
  call.state = "connecting"
  self:exchange(call, self:webhook_path(call.flow_sid), concat(q, "&"), call_fields(call, "in-progress"))
  return self:state(call)
end

-- The caller hangs up: the call's status callback (a final CallStatus) on the webhook
function Talk:hangup(sid)
  local call = self.calls[sid]
  if not call then return nil, "no such call" end
  if call.state ~= "ended" then
    self:post(self:webhook_path(call.flow_sid), nil, call_fields(call, "completed", { CallDuration = "1" }))
    call.state, call.reason = "ended", "the caller hung up"
    self:changed(call)
  end
  return self:state(call)
end

return M
