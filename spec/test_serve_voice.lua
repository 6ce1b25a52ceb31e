-- rivulet serve's voice, with the test playing Twilio's voice platform against the app,
-- request by request: it posts the signed incoming call, parses every answer with a real
-- XML parser (LuaExpat) and checks it against Twilio's TwiML rules (spec/twiml.lua), then
-- does what Twilio does with it: follows a <Redirect>, posts a <Gather>'s action with Digits
-- or SpeechResult (or follows the redirect after it: silence), a <Record>'s, a <Dial>'s, and
-- the call's status callback for a hang-up, always with the parameters Twilio sends. Answers
-- held while a function runs come out of app:answers() as the engine is driven. The voice
-- flows of the shared corpus are walked end to end this way, each with a hang-up in the
-- middle; the last spec does the same against `rivulet serve` over HTTP.

local lu = require "luaunit"
local rivulet = require "rivulet"
local core = require "rivulet.core"
local json = require "rivulet.json"
local serve = require "rivulet.serve"
local stub = require "rivulet.test.stub"
local helper = require "spec.helper"
local tw = require "spec.twiml"
local fx = require "spec.http_fixture"

local AC, TOKEN = "AC" .. string.rep("0", 31) .. "2", "voice-spec-token"
local BASE = "http://rivulet.test:8080"
local CALLER, LINE = "+15550001111", "+15559990000"
local ANSWER_DEADLINE_S = 10     -- a held answer comes once the engine is driven; a stub answers at once

local function urlencode(s)
  return (tostring(s):gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end

local function form(list)
  local parts = {}
  for _, kv in ipairs(list) do parts[#parts + 1] = urlencode(kv[1]) .. "=" .. urlencode(kv[2]) end
  return table.concat(parts, "&")
end

-- ---- the app, and a transport that posts to it as Twilio would -------------------------------

local App = {}
App.__index = App

local function new_app(opts)
  opts = opts or {}
  local C = { stubs = opts.stubs or {}, live = false, calls = {} }
  local sent = {}
  local app = assert(serve.new{ store = opts.store or (helper.tmpdir() .. "/voice.db"), account_sid = AC, auth_token = TOKEN,
    public_url = BASE, on_message = function(_, m) sent[#sent + 1] = m end, http = stub.client(C),
    twilio_api = opts.twilio_api, limits = opts.limits })
  return setmetatable({ app = app, sent = sent, C = C }, App)
end

local AUTH = { "Authorization", "Basic " .. core.base64_encode(AC .. ":" .. TOKEN) }
local FORM = { "Content-Type", "application/x-www-form-urlencoded" }

-- a published flow from a definition (a table, or Studio JSON text)
function App:flow(def)
  local text = type(def) == "string" and def or json.encode(def)
  local status, _, body = self.app:request{ method = "POST", path = "/v2/Flows", headers = { FORM, AUTH },
    body = form{ { "FriendlyName", "voice" }, { "Status", "published" }, { "Definition", text } } }
  lu.assertEquals(status, 201, body)
  return json.decode(body)
end

-- drives the engine until the held request `id` is answered
function App:await(id)
  local deadline = core.monotonic() + ANSWER_DEADLINE_S
  while core.monotonic() < deadline do
    for _, a in ipairs(self.app:answers()) do
      if a.id == id then return a.status, a.headers, a.body end
      self.late = self.late or {}
      self.late[#self.late + 1] = a
    end
    self.app.engine:poll(5)
    self.app:run_jobs()
    self.app:tick()
  end
  error("no answer to held request " .. tostring(id) .. " within " .. ANSWER_DEADLINE_S .. " s", 2)
end

-- POST url (absolute, under BASE) with fields, signed (opts: token, signed_url, no_signature,
-- hold = true: return PENDING instead of waiting for the answer) -> status, body, headers
function App:post(url, fields, opts)
  opts = opts or {}
  lu.assertEquals(url:sub(1, #BASE), BASE, "a callback URL under the public URL")
  local rest = url:sub(#BASE + 1)
  local path, query = rest:match("^([^?]*)%??(.*)$")
  local sig = rivulet.http.signature(opts.token or TOKEN, (opts.signed_url or BASE) .. rest, fields, false)
  local headers = { FORM }
  if not opts.no_signature then headers[2] = { "X-Twilio-Signature", sig } end
  local status, h, body = self.app:request{ method = "POST", path = path, query = query ~= "" and query or nil,
                                            headers = headers, body = form(fields) }
  self.app:run_jobs()
  if status == serve.PENDING then
    if opts.hold then return status, h end          -- PENDING, the request's id
    status, h, body = self:await(h)
  end
  return status, body, h
end

-- ---- a phone call, Twilio's side -----------------------------------------------------------

local Phone = {}
Phone.__index = Phone

-- a call from CALLER to LINE on the flow's webhook; t = the app (or the HTTP transport)
local function phone(t, webhook_url, opts)
  opts = opts or {}
  return setmetatable({ t = t, webhook = webhook_url, sid = opts.call_sid or ("CA" .. core.random_hex(16)),
                        from = opts.from or CALLER, to = opts.to or LINE, heard = {}, answers = {} }, Phone)
end

-- the parameters Twilio sends with every request of a call, and more
function Phone:fields(status, extra)
  local f = { { "AccountSid", AC }, { "ApiVersion", "2010-04-01" }, { "CallSid", self.sid },
              { "CallStatus", status or "in-progress" }, { "Called", self.to }, { "Caller", self.from },
              { "Direction", self.direction or "inbound" }, { "From", self.from }, { "To", self.to } }
  for _, kv in ipairs(extra or {}) do f[#f + 1] = kv end
  return f
end

-- an answer: 200, TwiML by Twilio's rules; kept as the document the call runs now
function Phone:take(status, body, h)
  lu.assertEquals(status, 200, tostring(body))
  if h then
    local ct
    for _, kv in ipairs(h) do if kv[1]:lower() == "content-type" then ct = kv[2] end end
    lu.assertStrContains(ct or "", "text/xml")
  end
  local ok, problems = tw.check(body)
  lu.assertTrue(ok, table.concat(problems, "\n") .. "\n" .. body)
  self.doc = tw.parse(body)
  self.answers[#self.answers + 1] = body
  for _, say in ipairs(tw.all(self.doc, "Say")) do self.heard[#self.heard + 1] = tw.text(say) end
  return self.doc
end

function Phone:post(url, fields, opts)
  return self:take(self.t:post(url, fields, opts))
end

-- the call comes in (Twilio's voice webhook: CallStatus ringing)
function Phone:ring()
  return self:post(self.webhook, self:fields("ringing", { { "CallerName", "Ada" } }))
end

local function verbs(doc) return doc.children end

-- what Twilio runs by itself: Say, Play, Pause, Start, Stop, then our Redirect back
local PASSIVE = { Say = true, Play = true, Pause = true, Start = true, Stop = true }
function Phone:follow()
  for _ = 1, 100 do               -- far more than any flow's say-plays in a row
    local v = verbs(self.doc)
    local last = v[#v]
    local passive = last and last.name == "Redirect"
    for i = 1, #v - 1 do if not PASSIVE[v[i].name] then passive = false end end
    if not passive or tw.text(last):sub(1, #BASE) ~= BASE then return self.doc end
    self:post(tw.text(last), self:fields())
  end
  error("the call never stopped redirecting")
end

function Phone:hung_up()
  local v = verbs(self.doc)
  return #v == 1 and v[1].name == "Hangup"
end

-- the verb the call waits in: Gather, Record, Dial, …
function Phone:verb(name)
  self:follow()
  local v = tw.find(self.doc, name)
  lu.assertNotNil(v, "the call is not in a <" .. name .. ">: " .. self.answers[#self.answers])
  return v
end

-- keys or words at a <Gather>: its action, as Twilio posts it
function Phone:gather(input, opts)
  local g = self:verb("Gather")
  lu.assertEquals(g.attrs.method, "POST")
  local extra = input:match("^[%d#%*]+$") and { { "Digits", input } }
    or { { "SpeechResult", input }, { "Confidence", "0.92" } }
  return self:post(g.attrs.action, self:fields(nil, extra), opts)
end

-- nothing said: Twilio goes on to the <Redirect> after the <Gather> (or <Record>)
function Phone:silence(name)
  self:verb(name or "Gather")
  local v = verbs(self.doc)
  lu.assertEquals(v[#v].name, "Redirect")
  return self:post(tw.text(v[#v]), self:fields())
end

function Phone:record(text, opts)
  local r = self:verb("Record")
  return self:post(r.attrs.action, self:fields(nil, { { "RecordingUrl", "https://api.twilio.invalid/RE1" },
    { "RecordingSid", "RE" .. ("1"):rep(32) }, { "RecordingDuration", "4" }, { "Digits", opts and opts.digits or "" },
    { "TranscriptionText", text } }))
end

-- the action of the verb the call is in (Dial, Enqueue, Pay, Connect), with its fields
function Phone:action(name, extra, status)
  local v = self:verb(name)
  return self:post(v.attrs.action, self:fields(status, extra))
end

-- the caller hangs up: the number's status callback, on the webhook URL
function Phone:hangup()
  local status, body = self.t:post(self.webhook, self:fields("completed", { { "CallDuration", "42" } }))
  lu.assertEquals(status, 204, body)
end

-- ---- flows -------------------------------------------------------------------------------------

local function tr(event, nx) return { event = event, next = nx } end

local function ivr(extra_states)
  local f = {
    description = "IVR", initial_state = "Trigger", flags = { allow_concurrent_calls = true },
    states = {
      { name = "Trigger", type = "trigger", properties = {},
        transitions = { tr("incomingMessage"), tr("incomingCall", "welcome"), tr("incomingRequest", "call_out") } },
      { name = "welcome", type = "say-play", properties = { say = "Welcome & hello <caller>.", voice = "Polly.Amy" },
        transitions = { tr("audioComplete", "menu") } },
      { name = "menu", type = "gather-input-on-call",
        properties = { say = "Press 1 for sales, 2 for a message, 3 to look it up.", timeout = 3,
                       number_of_digits = 1, speech_timeout = "auto" },
        transitions = { tr("keypress", "route"), tr("speech", "bye"), tr("timeout", "menu") } },
      { name = "route", type = "split-based-on", properties = { input = "{{widgets.menu.Digits}}" },
        transitions = {
          tr("noMatch", "bye"),
          { event = "match", next = "sales", conditions = { { friendly_name = "1", arguments = { "{{widgets.menu.Digits}}" },
                                                               type = "equal_to", value = "1" } } },
          { event = "match", next = "voicemail", conditions = { { friendly_name = "2",
                                                                   arguments = { "{{widgets.menu.Digits}}" },
                                                                   type = "equal_to", value = "2" } } },
          { event = "match", next = "lookup", conditions = { { friendly_name = "3",
                                                                arguments = { "{{widgets.menu.Digits}}" },
                                                                type = "equal_to", value = "3" } } } } },
      { name = "sales", type = "connect-call-to", properties = { noun = "number", to = "+15550002222", timeout = 20 },
        transitions = { tr("callCompleted", "bye"), tr("hangup") } },
      { name = "voicemail", type = "record-voicemail", properties = { max_length = 30, play_beep = "true" },
        transitions = { tr("recordingComplete", "bye"), tr("noAudio", "bye"), tr("hangup", "save") } },
      { name = "save", type = "run-function", properties = { url = "https://fn.invalid/save" },
        transitions = { tr("success"), tr("fail") } },
      { name = "lookup", type = "run-function", properties = { url = "https://fn.invalid/lookup" },
        transitions = { tr("success", "result"), tr("fail", "bye") } },
      { name = "result", type = "say-play", properties = { say = "Your balance is {{widgets.lookup.parsed.balance}}." },
        transitions = { tr("audioComplete", "bye") } },
      { name = "bye", type = "say-play", properties = { say = "Goodbye." }, transitions = { tr("audioComplete") } },
      { name = "call_out", type = "make-outgoing-call-v2", properties = { to = "{{contact.channel.address}}" },
        transitions = { tr("answered", "welcome"), tr("busy"), tr("noAnswer"), tr("failed") } },
    },
  }
  for _, s in ipairs(extra_states or {}) do f.states[#f.states + 1] = s end
  return f
end

local function webhook(f) return BASE .. "/v1/Accounts/" .. AC .. "/Flows/" .. f.sid end

-- a stub that answers `reply` and keeps the parameters of every call in `seen`
local function recorded(seen, reply)
  return function(event)
    seen[#seen + 1] = event.parameters
    return reply
  end
end

local function execution(a, f)
  local list = a.app.store:list{ flow_sid = f.sid }
  lu.assertTrue(#list >= 1, "no execution")
  return a.app.store:execution(list[1].sid), a.app.store:steps(list[1].sid)
end

local function names(steps)
  local out = {}
  for i, s in ipairs(steps) do out[i] = s.name .. ":" .. s.transitioned_from .. "->" .. s.transitioned_to end
  return out
end

-- ---- the call, widget by widget --------------------------------------------------------------

TestServeVoice = {}

function TestServeVoice:tearDown() helper.cleanup() end

function TestServeVoice:test_the_incoming_call_is_answered_with_the_first_widgets_twiml()
  local a = new_app()
  local f = a:flow(ivr())
  local p = phone(a, webhook(f))
  local doc = p:ring()
  local v = verbs(doc)
  lu.assertEquals(#v, 2)
  lu.assertEquals(v[1].name, "Say")
  lu.assertEquals(v[1].attrs, { voice = "Polly.Amy" })
  lu.assertEquals(tw.text(v[1]), "Welcome & hello <caller>.")      -- escaped on the wire, whole after parsing
  lu.assertStrContains(p.answers[1], "Welcome &amp; hello &lt;caller&gt;.")
  lu.assertEquals(v[2].name, "Redirect")
  lu.assertEquals(v[2].attrs, { method = "POST" })
  local x = execution(a, f)
  lu.assertEquals(tw.text(v[2]), webhook(f) .. "/Executions/" .. x.sid .. "?Widget=welcome&Token=" ..
                  x.wait.data.token .. "&Callback=next")
  -- nothing advanced before Twilio came back
  lu.assertEquals(x.state, "welcome")
  p:follow()
  local g = tw.find(p.doc, "Gather")
  lu.assertEquals(g.attrs.input, "dtmf speech")
  lu.assertEquals(g.attrs.timeout, "3")
  lu.assertEquals(g.attrs.numDigits, "1")
  lu.assertEquals(g.attrs.speechTimeout, "auto")
  lu.assertStrContains(g.attrs.action, "Widget=menu")
  lu.assertStrContains(g.attrs.action, "Callback=action")
  lu.assertEquals(tw.text(tw.find(g, "Say")), "Press 1 for sales, 2 for a message, 3 to look it up.")
  lu.assertStrContains(tw.text(verbs(p.doc)[2]), "Callback=timeout")
  lu.assertEquals(p.heard, { "Welcome & hello <caller>.", "Press 1 for sales, 2 for a message, 3 to look it up." })
end

function TestServeVoice:test_keys_dial_and_the_dial_action_ends_with_a_hangup()
  local a = new_app()
  local f = a:flow(ivr())
  local p = phone(a, webhook(f))
  p:ring()
  p:gather("1")
  local dial = p:verb("Dial")
  lu.assertEquals(dial.attrs.timeout, "20")
  lu.assertEquals(tw.text(tw.find(dial, "Number")), "+15550002222")
  p:action("Dial", { { "DialCallStatus", "completed" }, { "DialCallSid", "CA" .. ("5"):rep(32) },
                     { "DialCallDuration", "61" } })
  p:follow()
  lu.assertTrue(p:hung_up(), p.answers[#p.answers])
  local x, steps = execution(a, f)
  lu.assertEquals(x.status, "ended")
  lu.assertEquals(x.context.widgets.sales.DialCallDuration, "61")
  lu.assertEquals(x.context.widgets.menu.Digits, "1")
  lu.assertEquals(x.context.widgets.menu.CallSid, p.sid, "the call's parameters are the widget's too")
  lu.assertEquals(names(steps), {
    "incomingCall:Trigger->welcome", "audioComplete:welcome->menu", "keypress:menu->route", "match:route->sales",
    "callCompleted:sales->bye", "audioComplete:bye->Ended" })
  lu.assertEquals(x.context.trigger.call.CallerName, "Ada")
end

function TestServeVoice:test_speech_silence_and_a_gather_asked_again()
  local a = new_app()
  local f = a:flow(ivr())
  local p = phone(a, webhook(f))
  p:ring()
  p:silence()                          -- timeout -> menu again
  p:verb("Gather")
  p:gather("talk to someone")
  p:follow()
  lu.assertTrue(p:hung_up())
  local x = execution(a, f)
  lu.assertEquals(x.context.widgets.menu.SpeechResult, "talk to someone")
  lu.assertEquals(x.context.widgets.menu.Confidence, "0.92")
end

function TestServeVoice:test_a_function_between_two_voice_widgets_holds_the_answer_not_the_loop()
  local a = new_app{ stubs = { lookup = { status = 200, json = { balance = "12.50" } } } }
  local f = a:flow(ivr())
  local p = phone(a, webhook(f))
  p:ring()
  local g = p:verb("Gather")
  local status, id = a:post(g.attrs.action, p:fields(nil, { { "Digits", "3" } }), { hold = true })
  lu.assertEquals(status, serve.PENDING)
  lu.assertNotNil(id)
  -- held, the app goes on answering others
  local s = a.app:request{ method = "GET", path = "/v2/Flows", headers = { AUTH } }
  lu.assertEquals(s, 200)
  -- the function answers once the engine is driven; the held request gets the TwiML then
  local st, h, b = a:await(id)
  p:take(st, b, h)
  lu.assertEquals(tw.text(tw.find(p.doc, "Say")), "Your balance is 12.50.")
end

function TestServeVoice:test_a_call_still_busy_after_twelve_seconds_is_kept_on_the_line()
  local a = new_app()
  local f = a:flow(ivr())
  local p = phone(a, webhook(f))
  p:ring()
  -- the lookup's function is never answered here (no stub, live = false leaves it failing
  -- at the poll: hold the engine instead by not driving it)
  local g = p:verb("Gather")
  local status, id = a:post(g.attrs.action, p:fields(nil, { { "Digits", "3" } }), { hold = true })
  lu.assertEquals(status, serve.PENDING)
  local now = core.monotonic()
  a.app:tick(now + serve.HOLD_AFTER_S - 1)
  lu.assertEquals(a.app:answers(), {})
  lu.assertTrue(a.app:next_deadline(now) <= serve.HOLD_AFTER_S)
  a.app:tick(now + serve.HOLD_AFTER_S + 1)
  local late = a.app:answers()
  lu.assertEquals(#late, 1)
  lu.assertEquals(late[1].id, id)
  p:take(late[1].status, late[1].body, late[1].headers)
  local v = verbs(p.doc)
  lu.assertEquals(v[1].name, "Pause")
  lu.assertEquals(v[1].attrs.length, tostring(serve.HOLD_PAUSE_S))
  lu.assertEquals(v[2].name, "Redirect")
  local x = execution(a, f)
  lu.assertEquals(tw.text(v[2]), webhook(f) .. "/Executions/" .. x.sid .. "?Callback=hold")
  -- Twilio comes back: held again, and answered when the flow reaches TwiML
  p:post(tw.text(v[2]), p:fields())
  lu.assertEquals(tw.text(tw.find(p.doc, "Say")), "Goodbye.")   -- the unstubbed lookup failed: bye
end

function TestServeVoice:test_a_retried_callback_is_answered_with_where_the_call_stands()
  local a = new_app()
  local f = a:flow(ivr())
  local p = phone(a, webhook(f))
  p:ring()
  local g = p:verb("Gather")
  local fields = p:fields(nil, { { "Digits", "2" } })
  local first = a:post(g.attrs.action, fields)
  local _, body1 = a:post(g.attrs.action, fields)      -- Twilio's retry: the same request again
  lu.assertEquals(first, 200)
  local steps = select(2, execution(a, f))
  lu.assertEquals(#steps, 4, "taken once")
  p:take(200, body1)
  lu.assertNotNil(tw.find(p.doc, "Record"), "the retry gets the TwiML of where the call is now")
  -- the incoming call's own retry too
  local _, body2 = a:post(webhook(f), p:fields("ringing"))
  p:take(200, body2)
  lu.assertNotNil(tw.find(p.doc, "Record"))
  lu.assertEquals(#a.app.store:list{ flow_sid = f.sid }, 1)
end

function TestServeVoice:test_callbacks_are_signed_and_belong_to_their_flow()
  local a = new_app()
  local f = a:flow(ivr())
  local other = a:flow(ivr())
  local p = phone(a, webhook(f))
  p:ring()
  local url = tw.text(verbs(p.doc)[2])
  lu.assertEquals((a:post(url, p:fields(), { no_signature = true })), 403)
  lu.assertEquals((a:post(url, p:fields(), { token = "wrong" })), 403)
  lu.assertEquals((a:post(url, p:fields(), { signed_url = "http://127.0.0.1:8080" })), 403)
  lu.assertEquals((a:post(url:gsub(f.sid, other.sid), p:fields())), 404)
  lu.assertEquals((a:post(url:gsub(AC, "AC" .. ("9"):rep(32)), p:fields())), 404)
  lu.assertEquals(execution(a, f).state, "welcome", "nothing moved")
  -- an execution that is over (or never was): the call hangs up
  local x = execution(a, f)
  p:post(url:gsub(x.sid, "FN" .. ("0"):rep(32)), p:fields())
  lu.assertTrue(p:hung_up())
end

function TestServeVoice:test_the_status_callback_ends_the_call_whatever_widget_it_is_in()
  local a = new_app()
  local f = a:flow(ivr())
  local p = phone(a, webhook(f))
  p:ring()
  p:verb("Gather")
  p:hangup()
  local x, steps = execution(a, f)
  lu.assertEquals(x.status, "ended")
  lu.assertEquals(x.reason, "call ended")
  lu.assertEquals(#steps, 2)
  -- a late callback of that call: it hangs up
  p:gather("1")
  lu.assertTrue(p:hung_up())
  -- the same caller calls again: a new execution
  local q = phone(a, webhook(f))
  q:ring()
  lu.assertEquals(#a.app.store:list{ flow_sid = f.sid }, 2)
end

function TestServeVoice:test_a_hangup_while_recording_takes_the_widgets_hangup()
  local a = new_app{ stubs = { save = { status = 200 } } }
  local f = a:flow(ivr())
  local p = phone(a, webhook(f))
  p:ring()
  p:gather("2")
  local r = p:verb("Record")
  lu.assertEquals(r.attrs.maxLength, "30")
  lu.assertEquals(r.attrs.playBeep, "true")
  lu.assertStrContains(tw.text(verbs(p.doc)[2]), "Callback=empty")
  -- Twilio posts the Record action with Digits=hangup, then the status callback
  p:record("", { digits = "hangup" })
  p:hangup()
  local x, steps = execution(a, f)
  lu.assertEquals(x.status, "ended")
  lu.assertEquals(names(steps)[5], "hangup:voicemail->save")
  lu.assertEquals(x.context.widgets.voicemail.RecordingUrl, "https://api.twilio.invalid/RE1")
  lu.assertEquals(x.context.widgets.save.status_code, 200, "the function after the hang-up ran")
end

function TestServeVoice:test_a_new_call_from_a_caller_whose_last_call_never_said_goodbye()
  local a = new_app()
  local f = a:flow(ivr())
  local p = phone(a, webhook(f))
  p:ring()                              -- no status callback ever comes for this one
  local q = phone(a, webhook(f))
  q:ring()
  local list = a.app.store:list{ flow_sid = f.sid }
  lu.assertEquals(#list, 2)
  local old = a.app.store:execution(list[2].sid)
  if old.status == "active" then old = a.app.store:execution(list[1].sid) end
  lu.assertEquals(old.reason, "call ended (the caller called again)")
end

function TestServeVoice:test_a_restart_keeps_the_call_where_it_was()
  local db = helper.tmpdir() .. "/restart.db"
  local a = new_app{ store = db }
  local f = a:flow(ivr())
  local p = phone(a, webhook(f))
  p:ring()
  p:follow()
  p:gather("2")                                  -- recording when the process stops
  local record = tw.find(p.doc, "Record")
  a.app.store:close()
  local b = new_app{ store = db }
  p.t = b
  p:post(record.attrs.action, p:fields(nil, { { "RecordingUrl", "https://r.invalid/RE9" }, { "RecordingDuration", "7" } }))
  p:follow()
  lu.assertTrue(p:hung_up())
  local x = execution(b, f)
  lu.assertEquals(x.status, "ended")
  lu.assertEquals(x.context.widgets.voicemail.RecordingDuration, "7")
  b.app.store:close()
end

function TestServeVoice:test_twiml_redirect_hands_the_call_away_and_flowevent_return_brings_it_back()
  local a = new_app()
  local f = a:flow{
    initial_state = "Trigger", flags = { allow_concurrent_calls = true }, states = {
      { name = "Trigger", type = "trigger", properties = {}, transitions = { tr("incomingCall", "away") } },
      { name = "away", type = "add-twiml-redirect", properties = { url = "https://twiml.invalid/queue?x=1&y=2",
                                                                  timeout = "600" },
        transitions = { tr("return", "back"), tr("timeout"), tr("fail") } },
      { name = "back", type = "say-play", properties = { say = "Welcome back, {{widgets.away.name}}." },
        transitions = { tr("audioComplete") } } } }
  local p = phone(a, webhook(f))
  p:ring()
  local v = verbs(p.doc)
  lu.assertEquals(#v, 1)
  lu.assertEquals(v[1].name, "Redirect")
  -- the TwiML there gets where to hand the call back, in FlowReturnUrl
  local back = webhook(f) .. "?FlowEvent=return"
  lu.assertEquals(tw.text(v[1]), "https://twiml.invalid/queue?x=1&y=2&FlowReturnUrl=" .. urlencode(back))
  -- it does: <Redirect>WEBHOOK?FlowEvent=return&name=Ada</Redirect>
  p:post(back .. "&name=Ada", p:fields())
  lu.assertEquals(tw.text(tw.find(p.doc, "Say")), "Welcome back, Ada.")
  local x = execution(a, f)
  lu.assertEquals(x.context.widgets.away, { name = "Ada" })
end

function TestServeVoice:test_flex_from_a_text_waits_for_the_outside_world_to_post_its_outcome()
  local a = new_app()
  local f = a:flow{ initial_state = "Trigger", flags = { allow_concurrent_calls = true }, states = {
    { name = "Trigger", type = "trigger", properties = {}, transitions = { tr("incomingMessage", "flex") } },
    { name = "flex", type = "send-to-flex", properties = { workflow = "WW" .. ("2"):rep(32), timeout = "300" },
      transitions = { tr("callComplete", "done"), tr("failedToEnqueue"), tr("callFailure") } },
    { name = "done", type = "send-message", properties = { body = "Agent {{widgets.flex.worker}} took it." },
      transitions = { tr("sent"), tr("failed") } } } }
  local msg = { { "MessageSid", "SM" .. ("3"):rep(32) }, { "AccountSid", AC }, { "From", CALLER }, { "To", LINE },
                { "Body", "agent please" } }
  local status, body = a:post(webhook(f), msg)
  lu.assertEquals(status, 200)
  lu.assertEquals(body, '<?xml version="1.0" encoding="UTF-8"?><Response></Response>')
  local x = execution(a, f)
  lu.assertEquals(x.wait.kind, "event")
  lu.assertEquals(x.wait.deadline - x.wait.since, 300)
  -- Flex (or whatever stands in for it) posts the outcome, matched on the contact's addresses
  msg[1][2] = "SM" .. ("4"):rep(32)
  status = a:post(webhook(f) .. "?FlowEvent=callComplete&worker=Ana", msg)
  lu.assertEquals(status, 200)
  x = execution(a, f)
  lu.assertEquals(x.status, "ended")
  lu.assertEquals(x.context.widgets.flex, { worker = "Ana" })
  lu.assertEquals(a.sent[#a.sent].body, "Agent Ana took it.")
end

function TestServeVoice:test_every_widget_the_call_reaches_answers_valid_twiml()
  -- one call through each TwiML-giving widget, each outcome posted as Twilio would
  local chain = {
    { name = "Trigger", type = "trigger", properties = {}, transitions = { tr("incomingCall", "stream") } },
    { name = "stream", type = "fork-stream", properties = { stream_action = "start", stream_url = "wss://s.invalid/a",
        stream_name = "a", stream_track = "both_tracks", stream_parameters = { { key = "k", value = "v" } } },
      transitions = { tr("next", "rec") } },
    { name = "rec", type = "record-call", properties = { record_call = true, recording_channels = "dual" },
      transitions = { tr("success", "queue"), tr("failed") } },
    { name = "queue", type = "enqueue-call", properties = { queue_name = "support", wait_url = "https://w.invalid/" },
      transitions = { tr("callComplete", "flex"), tr("failedToEnqueue"), tr("callFailure") } },
    { name = "flex", type = "send-to-flex", properties = { workflow = "WW" .. ("1"):rep(32), priority = "2",
        timeout = "60", attributes = '{"type":"inbound"}' },
      transitions = { tr("callComplete", "pay"), tr("failedToEnqueue"), tr("callFailure") } },
    { name = "pay", type = "capture-payments", properties = { payment_connector = "Stripe", payment_amount = "9.99",
        currency = "usd", max_attempts = "2", payment_token_type = "one-time" },
      transitions = { tr("success", "agent"), tr("maxFailedAttempts"), tr("providerError"), tr("payInterrupted"),
                      tr("hangup"), tr("validationError") } },
    { name = "agent", type = "connect-virtual-agent", properties = { connector = "df", language = "en-US" },
      transitions = { tr("return", "relay"), tr("hangup") } },
    { name = "relay", type = "run-conversation-relay", properties = { url = "wss://ai.invalid/", welcome_greeting = "Hi" },
      transitions = { tr("success", "stop"), tr("failed") } },
    { name = "stop", type = "fork-stream", properties = { stream_action = "stop", stream_name = "a" },
      transitions = { tr("next", "bye") } },
    { name = "bye", type = "say-play", properties = { play = "https://a.invalid/bye.mp3", digits = "1w2" },
      transitions = { tr("audioComplete") } },
  }
  local a = new_app()
  local f = a:flow{ initial_state = "Trigger", flags = { allow_concurrent_calls = true }, states = chain }
  local p = phone(a, webhook(f))
  p:ring()
  lu.assertEquals(tw.find(p.doc, "Stream").attrs.track, "both_tracks")
  p:follow()
  lu.assertEquals(tw.text(p:verb("Enqueue")), "support")
  p:action("Enqueue", { { "QueueResult", "bridged" }, { "QueueTime", "30" } })
  local task = tw.find(p:verb("Enqueue"), "Task")
  lu.assertEquals(tw.text(task), '{"type":"inbound"}')
  p:action("Enqueue", { { "QueueResult", "bridged" } })
  lu.assertEquals(p:verb("Pay").attrs.chargeAmount, "9.99")
  p:action("Pay", { { "Result", "success" }, { "PaymentConfirmationCode", "ch_1" } })
  lu.assertEquals(tw.find(p:verb("Connect"), "VirtualAgent").attrs.connectorName, "df")
  p:action("Connect", { { "VirtualAgentStatus", "completed" } })
  lu.assertEquals(tw.find(p:verb("Connect"), "ConversationRelay").attrs.welcomeGreeting, "Hi")
  p:action("Connect", { { "SessionStatus", "completed" } })
  p:follow()
  lu.assertTrue(p:hung_up())
  local x, steps = execution(a, f)
  lu.assertEquals(x.status, "ended")
  lu.assertEquals(#steps, 10)
  lu.assertEquals(x.context.widgets.pay.PaymentConfirmationCode, "ch_1")
  -- every answer on the way followed Twilio's rules (Phone:take checks each)
  lu.assertTrue(#p.answers >= 10)
end

function TestServeVoice:test_an_outgoing_call_through_the_calls_api()
  local serve_helper = require "spec.serve_helper"
  local fake, err = serve_helper.fake_twilio{ account_sid = AC, auth_token = TOKEN }
  if not fake then lu.skip("fake Twilio API: " .. tostring(err)) end
  local a = new_app{ twilio_api = fake.url }
  a.app.engine.http = rivulet.http.client()          -- the Calls API is real HTTP here
  local f = a:flow(ivr())
  local s = a.app:request{ method = "POST", path = "/v2/Flows/" .. f.sid .. "/Executions", headers = { FORM, AUTH },
                           body = form{ { "To", CALLER }, { "From", LINE } } }
  lu.assertEquals(s, 201)
  local deadline = core.monotonic() + ANSWER_DEADLINE_S
  local x = execution(a, f)
  while x.wait and x.wait.kind == "http" and core.monotonic() < deadline do
    a.app.engine:poll(10)
    x = execution(a, f)
  end
  local reqs = assert(fake:wait_requests(1))
  local r = reqs[1]
  lu.assertEquals(r.path, "/2010-04-01/Accounts/" .. AC .. "/Calls.json")
  lu.assertEquals(r.params.To, CALLER)
  lu.assertEquals(r.params.From, LINE)
  lu.assertEquals(r.answer.status, 201)
  lu.assertEquals(x.wait.kind, "event")
  lu.assertEquals(x.wait.data.call_sid, r.answer.sid)
  -- Twilio fetches Url when the callee answers: the call is the execution's now
  local p = phone(a, webhook(f), { call_sid = r.answer.sid, from = LINE, to = CALLER })
  p.direction = "outbound-api"
  local url = r.params.Url
  lu.assertStrContains(url, "Callback=answered")
  p:post(url, p:fields("in-progress", { { "AnsweredBy", "human" } }))
  lu.assertEquals(tw.text(tw.find(p.doc, "Say")), "Welcome & hello <caller>.")
  x = execution(a, f)
  lu.assertEquals(x.context.widgets.call_out.CallSid, r.answer.sid)
  -- its status callback (StatusCallback, under the execution's URL) ends it
  local st = a:post(r.params.StatusCallback, p:fields("completed"))
  lu.assertEquals(st, 204)
  lu.assertEquals(execution(a, f).reason, "call ended")
  fake:stop()
end

-- ---- the voice flows of the shared corpus, end to end ------------------------------------------

TestServeVoiceCorpus = {}

function TestServeVoiceCorpus:setUp() helper.skip_without_corpus() end
function TestServeVoiceCorpus:tearDown() helper.cleanup() end

local function corpus_app(file, stubs)
  local a = new_app{ stubs = stubs }
  local f = a:flow(assert(helper.read_file(helper.corpus .. file)))
  return a, f, phone(a, webhook(f))
end

function TestServeVoiceCorpus:test_02_frontline_presses_0_for_whatsapp()
  local seen = {}
  local a, f, p = corpus_app("02_guvarallo_frontline-airtable-studio-bot.json",
                             { function_1 = recorded(seen, { status = 200, json = { sid = "SM1" } }) })
  p:ring()
  lu.assertStrContains(tw.text(tw.find(p:verb("Gather"), "Say")), "favor digitar 0")
  p:gather("0")
  p:follow()
  lu.assertTrue(p:hung_up())
  lu.assertStrContains(p.heard[#p.heard], "Whats-ápp")
  lu.assertEquals(execution(a, f).state, "say_play_2")
  lu.assertEquals(seen[1].To, CALLER)
end

function TestServeVoiceCorpus:test_02_frontline_hang_up_in_the_menu()
  local a, f, p = corpus_app("02_guvarallo_frontline-airtable-studio-bot.json", {})
  p:ring()
  p:verb("Gather")
  p:hangup()
  lu.assertEquals(execution(a, f).reason, "call ended")
  lu.assertEquals(#a.C.calls, 0)
end

local JOKE = { ID = "J1", Joke = "Why did the robot cross the road?", Explanation = "It was programmed to." }

function TestServeVoiceCorpus:test_06_joke_hotline_records_a_joke()
  local a, f, p = corpus_app("06_twiliodeved_cedrics-joke-hotline.json", {})
  p:ring()
  p:gather("1")
  local r = p:verb("Record")
  lu.assertEquals(r.attrs.transcribe, "true")
  lu.assertEquals(r.attrs.transcribeCallback, "https://cedrics-joke-collection-5476-dev.twil.io/jokes/save-submission")
  p:record("A joke about robots")
  lu.assertTrue(p:hung_up())
  lu.assertEquals(p.heard, { "Greetings! Welcome to Cedric's Joke Hotline.",
    "Press 1 to submit a joke,\nPress 2 to rate the jokes that humans have submitted",
    "After the beep, please kindly leave your joke. I will process it for humor." })
  local x = execution(a, f)
  lu.assertEquals(x.reason, "'record_voicemail_1' ended the flow on 'recordingComplete'")
end

function TestServeVoiceCorpus:test_06_joke_hotline_rates_jokes_and_hangs_up_in_the_middle()
  local ratings = {}
  local a, f, p = corpus_app("06_twiliodeved_cedrics-joke-hotline.json", {
    run_function_next_joke = { { status = 200, json = JOKE }, { status = 200, json = { ID = "J2", Joke = "Another." } } },
    run_function_rating = recorded(ratings, { status = 200, json = { ok = true } }) })
  p:ring()
  p:gather("2")
  local say = tw.text(tw.find(p:verb("Gather"), "Say"))
  lu.assertStrContains(say, "Why did the robot cross the road?")
  p:gather("5")                                  -- rate it: the next joke comes
  lu.assertStrContains(tw.text(tw.find(p:verb("Gather"), "Say")), "Another.")
  p:hangup()                                     -- in the middle of the second rating
  local x, steps = execution(a, f)
  lu.assertEquals(x.status, "ended")
  lu.assertEquals(x.reason, "call ended")
  lu.assertEquals(x.state, "prompt_joke_rating")
  lu.assertEquals(x.context.widgets.prompt_joke_rating.Digits, "5")
  lu.assertEquals(ratings, { { Rating = "5", JokeId = "J1" } })
  lu.assertEquals(#steps, 12)
end

function TestServeVoiceCorpus:test_08_webinar_sends_the_demo_link()
  local seen = {}
  local a, f, p = corpus_app("08_twilio-labs_sample-flows-github-actions_webinar.json",
                             { send_demo_link = recorded(seen, { status = 200, json = { sent = true } }) })
  p:ring()
  p:silence()                                    -- no key: asked again
  p:gather("2")
  p:follow()
  lu.assertTrue(p:hung_up())
  lu.assertEquals(p.heard[#p.heard], "Please check your text messages for the link to the demo.")
  local x = execution(a, f)
  lu.assertEquals(x.state, "say_play_1")
  lu.assertEquals(seen[1].To, CALLER)
  lu.assertEquals(seen[1].From, LINE)
  lu.assertEquals(seen[1].Digits, "2")
end

function TestServeVoiceCorpus:test_08_webinar_hang_up_while_the_function_runs()
  local a, f, p = corpus_app("08_twilio-labs_sample-flows-github-actions_webinar.json",
                             { send_demo_link = { status = 200, json = { sent = true } } })
  p:ring()
  local g = p:verb("Gather")
  local status, id = a:post(g.attrs.action, p:fields(nil, { { "Digits", "1" } }), { hold = true })
  lu.assertEquals(status, serve.PENDING)
  p:hangup()                                     -- the function has not been collected yet
  local x = execution(a, f)
  lu.assertEquals(x.status, "active", "the function's step still runs")
  -- the function ends; its say-play has nobody to talk to: the call's execution ends,
  -- and the held request hangs up
  local st, h, b = a:await(id)
  p:take(st, b, h)
  lu.assertTrue(p:hung_up())
  x = execution(a, f)
  lu.assertEquals(x.reason, "call ended")
  lu.assertEquals(x.state, "say_play_1")
end

local PANTRY = { site_name = "Oakland Pantry", site_address = "1 Main St", site_city = "Oakland",
                 site_open = "9am", site_close = "1pm", distance = "0.5 miles", agency_number = "A-7",
                 day_of_week = "Monday", date_open = "2024-05-06", is_drivethru = false }
local FOODNOW_STUBS = {
  ["https://accfb-foodnow.herokuapp.com/validate-city"] = function(event)
    return { status = 200, json = { valid_city = event.parameters.city:lower() == "oakland" and "true" or "false",
                                    city = event.parameters.city } }
  end,
  ["https://accfb-foodnow.herokuapp.com/find-pantry"] = { status = 200, json = { sites = { PANTRY } } },
  ["https://accfb-foodnow.herokuapp.com/record-referral"] = function(event)
    assert(event.parameters.channel == "voice", "channel " .. tostring(event.parameters.channel))
    return { status = 200 }
  end,
}

function TestServeVoiceCorpus:test_09_foodnow_finds_a_pantry_by_voice_and_hangs_up_at_calfresh()
  local a, f, p = corpus_app("09_mgmuscari_accfb-foodnow_bot_flow.json", FOODNOW_STUBS)
  p:ring()
  p:gather("1")                                  -- English
  p:gather("Yes please")                         -- food right away
  p:gather("Oakland")
  p:gather("1 Main Street")
  p:gather("no")                                 -- no children
  local say = tw.text(tw.all(p:verb("Gather"), "Say")[1])
  lu.assertStrContains(say, "Are you able to go to this location")
  lu.assertStrContains(table.concat(p.heard, "\n"), "I found Oakland Pantry. It is located at 1 Main St")
  p:gather("yes")                                -- the referral is recorded, then CalFresh
  p:verb("Gather")
  lu.assertStrContains(table.concat(p.heard, "\n"), "CalFresh")
  p:hangup()
  local x = execution(a, f)
  lu.assertEquals(x.reason, "call ended")
  lu.assertEquals(x.state, "gather_repeat_calfresh")
  lu.assertEquals(x.context.flow.variables.language, "en_US")
  lu.assertEquals(x.context.widgets.record_referral_voice_english.status_code, 200)
  lu.assertEquals(#a.C.calls, 3)
end

function TestServeVoiceCorpus:test_09_foodnow_in_spanish_out_of_area()
  local a, f, p = corpus_app("09_mgmuscari_accfb-foodnow_bot_flow.json", FOODNOW_STUBS)
  p:ring()
  p:silence()                                    -- no key in English: the Spanish welcome
  p:gather("2")
  p:gather("sí")
  p:gather("Fresno")
  p:follow()
  lu.assertTrue(p:hung_up())
  lu.assertStrContains(p.heard[#p.heard], "Parece que no eres residente del condado de Alameda")
  lu.assertEquals(execution(a, f).state, "out_of_area_spanish")
end

-- ---- against `rivulet serve`, over HTTP -------------------------------------------------------

TestServeVoiceHttp = {}

function TestServeVoiceHttp:test_a_call_through_rivulet_serve()
  local serve_helper = require "spec.serve_helper"
  local dir = helper.tmpdir()
  local base = fx.start()
  local flow = ivr()
  helper.write_file(dir .. "/ivr.json", json.encode(flow))
  local srv = assert(serve_helper.spawn{ name = "rivulet serve",
    argv = { helper.bin, "serve", "--listen", "127.0.0.1:0", "--store", dir .. "/serve.db", "--flows", dir,
             "--account-sid", AC, "--auth-token", TOKEN, "--map-url", "https://fn.invalid/lookup=" .. base .. "/slow/300" },
    ready = function(e) return (e.line or ""):match("listening on") end })
  local url = srv.ready.line:match("listening on (http://%S+)")
  local line = assert(srv:wait_line("^flow FW"))
  local fw = line:match("^flow (FW%x+)")
  local client = rivulet.http.client()
  local http_t = {}
  function http_t.post(_, u, fields)
    local params = {}
    for _, kv in ipairs(fields) do params[#params + 1] = { key = kv[1], value = kv[2] } end
    local o = client:wait(client:http_request{ method = "POST", url = u, parameters = params, auth_token = TOKEN,
                                               content_type = "application/x-www-form-urlencoded" })
    return o.status_code, o.body, { { "Content-Type", o.content_type or "" } }
  end
  local hook = url .. "/v1/Accounts/" .. AC .. "/Flows/" .. fw
  local p = phone(http_t, hook)
  -- Phone:follow and the callbacks post to the URLs in the answers, which are under url
  local saved = BASE
  BASE = url
  local ok, err = pcall(function()
    p:ring()
    p:follow()
    local t0 = core.monotonic()
    p:gather("3")                    -- a 300 ms function: the answer waits for it, nothing else does
    local took = core.monotonic() - t0
    lu.assertTrue(took >= 0.3, took)
    lu.assertEquals(tw.text(tw.find(p.doc, "Say")), "Your balance is .")
    p:follow()
    lu.assertTrue(p:hung_up())
    -- a second call, hung up in the menu by the status callback
    local q = phone(http_t, hook)
    q:ring()
    q:verb("Gather")
    q:hangup()
  end)
  BASE = saved
  client:close()
  srv:stop()
  if not ok then error(err, 0) end
end

-- ---- the rule table against twilio-node's TwiML grammar ----------------------------------------

TestTwimlRules = {}

-- twilio-node's generated TwiML builder: each element's attributes (interface XAttributes)
-- and children (class X's methods returning VoiceResponse.Y); nil when not installed
local function twilio_node_grammar()
  local path = require("spec.serve_helper").dir .. "/node_modules/twilio/lib/twiml/VoiceResponse.d.ts"
  local text = helper.read_file(path)
  if not text then return nil, path end
  local attrs, children = {}, {}
  for name, body in text:gmatch("export interface (%w+)Attributes {(.-)\n    }") do
    attrs[name] = attrs[name] or {}
    for a in body:gmatch("\n%s+([%w_]+)%??: ") do attrs[name][a] = true end
  end
  local function class_children(name, body)
    children[name] = children[name] or {}
    for c in body:gmatch("%): VoiceResponse%.(%w+);") do children[name][c] = true end
  end
  class_children("Response", text:match("declare class VoiceResponse extends TwiML {(.-)\n}"))
  for name, body in text:gmatch("export class (%w+) extends TwiML {(.-)\n    }") do class_children(name, body) end
  return { attrs = attrs, children = children }
end

function TestTwimlRules:test_the_rule_table_is_twilios_grammar()
  local g, path = twilio_node_grammar()
  if not g then lu.skip("twilio-node not installed at " .. path .. " (scripts/serve-tooling.sh)") end
  local checked = 0
  for name, rule in pairs(tw.ELEMENTS) do
    if name ~= "Response" then
      lu.assertNotNil(g.children[name], name .. " is no element of twilio-node's TwiML")
      for a in pairs(rule.attrs) do
        lu.assertTrue((g.attrs[name] or {})[a], string.format("<%s %s>: not in twilio-node's %sAttributes", name, a, name))
        checked = checked + 1
      end
    end
    for c in pairs(rule.children or {}) do
      if c:match("^%u") then
        lu.assertTrue(g.children[name][c], string.format("<%s> in <%s>: not in twilio-node's grammar", c, name))
        checked = checked + 1
      end
    end
  end
  lu.assertTrue(checked > 200, checked)
end

function TestTwimlRules:test_the_rules_refuse_what_twilio_refuses()
  local bad = {
    ['<Respons/>'] = "the root is <Respons>",
    ['<Response><Gather><Dial>+1</Dial></Gather></Response>'] = "<Dial> cannot be nested in <Gather>",
    ['<Response><Gather timeout="soon"/></Response>'] = "'soon' is not an integer >= 1",
    ['<Response><Gather method="PUT"/></Response>'] = "'PUT' is not one of GET, POST",
    ['<Response><Say loud="yes">hi</Say></Response>'] = "<Say> has no such attribute",
    ['<Response><Redirect/></Response>'] = "<Redirect> needs its text",
    ['<Response><Redirect>u</Redirect><Say>never</Say></Response>'] = "nothing after it ever runs",
    ['<Response><Hangup>now</Hangup></Response>'] = "<Hangup> holds no text",
    ['<Response><Dial record="yes">+1</Dial></Response>'] = "'yes' is not one of do-not-record",
    ['<Response><Play/></Response>'] = "<Play> needs a URL or digits",
    ['<Response><Say>unclosed</Response>'] = "not XML",
  }
  for xml, why in pairs(bad) do
    local ok, problems = tw.check(xml)
    lu.assertFalse(ok, xml)
    lu.assertStrContains(table.concat(problems, "\n"), why, false)
  end
  lu.assertTrue(tw.check('<?xml version="1.0" encoding="UTF-8"?><Response><Gather input="dtmf speech" ' ..
    'finishOnKey="" timeout="5"><Say>x</Say></Gather><Redirect method="POST">https://a/b?c=1&amp;d=2</Redirect></Response>'))
end
