-- rivulet serve's inspector (DESIGN.md §7), /metrics, and replay to spec, driven request by
-- request without a network (the app, as spec/test_serve.lua drives it): the page and its
-- JSON behind the Basic credentials, the graph's edge counts, the executions' filters, the
-- timeline (diffs, HTTP calls, failures), the long-polled change feed and its limits, the
-- conversation panel through the webhook path (texts and calls), the Prometheus text read by
-- a strict parser, and `rivulet test --from-execution`. The same page in a real browser is
-- spec/test_inspector_browser.lua.

local lu = require "luaunit"
local core = require "rivulet.core"
local json = require "rivulet.json"
local serve = require "rivulet.serve"
local inspector = require "rivulet.serve.inspector"
local timeline = require "rivulet.serve.timeline"
local replay = require "rivulet.test.replay"
local stub = require "rivulet.test.stub"
local helper = require "spec.helper"
local prom = require "spec.prometheus"

local AC, TOKEN = "AC" .. string.rep("0", 31) .. "7", "inspector-spec-token"
local BASE = "http://rivulet.test:8080"
local FROM, TO = "+15550001111", "+15559990000"
local AUTH = { "Authorization", "Basic " .. core.base64_encode(AC .. ":" .. TOKEN) }
local FORM = { "Content-Type", "application/x-www-form-urlencoded" }

local function urlencode(s)
  return (tostring(s):gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end

local function form(t)
  local parts = {}
  for _, kv in ipairs(t) do parts[#parts + 1] = urlencode(kv[1]) .. "=" .. urlencode(kv[2]) end
  return table.concat(parts, "&")
end

local function header(h, name)
  for _, kv in ipairs(h or {}) do if kv[1]:lower() == name:lower() then return kv[2] end end
  return nil
end

local A = {}
A.__index = A

-- an app with the example flows published and the random-number function stubbed
local function new_app(opts)
  opts = opts or {}
  local dir = helper.tmpdir()
  os.execute("mkdir -p " .. helper.quote(dir .. "/flows"))
  for _, f in ipairs(opts.flows or { "random_number.lua", "phone_menu.lua" }) do
    helper.write_file(dir .. "/flows/" .. f, helper.read_file(helper.root .. "/flows/" .. f))
  end
  local C = { stubs = opts.stubs or { get_num = { status = 200, json = { number = 4 } } }, live = false, calls = {} }
  local sent = {}
  local app = assert(serve.new{ store = dir .. "/serve.db", account_sid = AC, auth_token = TOKEN, public_url = BASE,
    http = stub.client(C), on_message = function(_, m) sent[#sent + 1] = m end })
  local list = assert(app:publish_dir(dir .. "/flows"))
  local a = setmetatable({ app = app, dir = dir, C = C, sent = sent, flows = {} }, A)
  for _, f in ipairs(list) do a.flows[f.name] = f.sid end
  return a
end

-- one request: status, body (JSON decoded when it is), headers, text
function A:req(method, path, fields, opts)
  opts = opts or {}
  local headers = { FORM }
  if opts.auth ~= false then headers[#headers + 1] = AUTH end
  for _, h in ipairs(opts.headers or {}) do headers[#headers + 1] = h end
  local status, h, text = self.app:request{ id = opts.id, method = method, path = path, query = opts.query,
    headers = headers, body = fields and form(fields) or nil }
  if status == serve.PENDING then return status, h end
  self:settle()
  local ok, v = pcall(json.decode, text)
  return status, ok and v or text, h, text
end

-- runs what the requests left: jobs, HTTP calls, held answers, ticks
function A:settle()
  for _ = 1, 50 do
    local n = self.app:run_jobs()
    self.app.engine:run()
    self.app:tick()
    if n == 0 and self.app:run_jobs() == 0 then break end
  end
end

function A:get(path, query)
  return self:req("GET", path, nil, { query = query })
end

function A:text(flow, body)
  local s, r = self:req("POST", "/ui/api/talk/message", { { "Flow", flow }, { "From", FROM }, { "To", TO }, { "Body", body } })
  lu.assertEquals(s, 200, json.encode(r))
  return r
end

-- the random-number conversation, through the panel
function A:random_number(replies)
  local fw = self.flows["Random number"]
  self:text(fw, "hi")
  for _, r in ipairs(replies or { "1", "6" }) do self:text(fw, r) end
  local _, list = self:get("/ui/api/executions", "flow=" .. fw)
  return list.executions[1]
end

TestInspector = {}

function TestInspector:tearDown() helper.cleanup() end

-- ---- the page and its credentials ------------------------------------------------------------

function TestInspector:test_nobody_gets_in_without_the_credentials()
  local a = new_app()
  for _, path in ipairs{ "/ui/", "/ui/app.js", "/ui/api/flows", "/ui/api/executions", "/ui/api/changes", "/metrics",
                         "/ui/api/flows/" .. a.flows["Random number"] } do
    local s, _, h = a:req("GET", path, nil, { auth = false })
    lu.assertEquals(s, 401, path)
    lu.assertStrContains(header(h, "WWW-Authenticate"), "Basic")
  end
  local s = a:req("POST", "/ui/api/talk/message", { { "Flow", a.flows["Random number"] }, { "From", FROM },
    { "To", TO }, { "Body", "hi" } }, { auth = false })
  lu.assertEquals(s, 401)
  lu.assertEquals(#a.sent, 0, "nothing ran")
end

function TestInspector:test_the_page_is_served_from_the_installed_files_and_reaches_nothing_else()
  local a = new_app()
  local s, body, h = a:get("/ui/")
  lu.assertEquals(s, 200)
  lu.assertStrContains(header(h, "Content-Type"), "text/html")
  lu.assertStrContains(body, '<script src="app.js" defer></script>')
  local csp = header(h, "Content-Security-Policy")
  lu.assertStrContains(csp, "default-src 'none'")
  lu.assertStrContains(csp, "connect-src 'self'")
  -- no outside URL in the page's files: every reference is relative
  for _, f in ipairs{ "index.html", "app.js", "style.css" } do
    local _, text = a:get("/ui/" .. f)
    -- (SVG's namespace name is no address anything fetches)
    local t = text:gsub("http://www%.w3%.org/2000/svg", "")
    lu.assertNil(t:match("https?://[%w%.%-]+%.[%a][%a]+/"), f .. " names an outside URL")
    lu.assertNil(text:find("@import", 1, true), f)
  end
  local _, js, jh = a:get("/ui/app.js")
  lu.assertStrContains(header(jh, "Content-Type"), "text/javascript")
  lu.assertStrContains(js, "api/changes")
  -- cached by its ETag
  local etag = header(jh, "ETag")
  lu.assertNotNil(etag)
  lu.assertEquals(a:req("GET", "/ui/app.js", nil, { headers = { { "If-None-Match", etag } } }), 304)
  lu.assertEquals(a:get("/ui/missing.js"), 404)
  lu.assertEquals(a:get("/ui/../init.lua"), 404)
  local rs, _, rh = a:get("/ui")
  lu.assertEquals(rs, 301)
  lu.assertEquals(header(rh, "Location"), BASE .. "/ui/")
end

-- ---- flows and their graphs -------------------------------------------------------------------

function TestInspector:test_the_graph_counts_the_steps_that_took_each_transition()
  local a = new_app()
  local fw = a.flows["Random number"]
  a:random_number()
  a.C.stubs.get_num = { status = 500 }
  a:random_number({ "2", "9" })
  local s, f = a:get("/ui/api/flows/" .. fw)
  lu.assertEquals(s, 200)
  lu.assertEquals(f.name, "Random number")
  local n = {}
  for _, e in ipairs(f.graph.edges) do n[e.from .. " -" .. e.event .. "-> " .. e.to] = e.n end
  lu.assertEquals(n["Trigger -incomingMessage-> min_value"], 2)
  lu.assertEquals(n["get_num -success-> send_num"], 1)
  lu.assertEquals(n["get_num -fail-> send_error"], 1)
  lu.assertEquals(n["min_value -timeout-> Ended"], 0)
  local nodes = {}
  for _, nd in ipairs(f.graph.nodes) do nodes[nd.name] = nd end
  lu.assertEquals(nodes.Trigger.n, 2)
  lu.assertEquals(nodes.send_num.n, 1)
  lu.assertEquals(nodes.Ended.type, "end")
  lu.assertEquals(nodes.Ended.n, 2)
  -- the list, and the same counts as DOT
  local _, list = a:get("/ui/api/flows")
  lu.assertEquals(#list.flows, 2)
  local ds, dot = a:get("/ui/api/flows/" .. fw .. "/dot")
  lu.assertEquals(ds, 200)
  lu.assertStrContains(dot, '"get_num" -> "send_num" [label="success (1)"')
  lu.assertStrContains(dot, '"min_value" -> "Ended" [label="timeout (0)", color=gray]')
  lu.assertEquals(a:get("/ui/api/flows/FW" .. string.rep("0", 32)), 404)
  -- the store's operation itself, one flow only
  local counts = a.app.store:edge_counts(fw)
  lu.assertEquals(#counts, 7)
  lu.assertEquals(#a.app.store:edge_counts(a.flows["Phone menu"]), 0)
end

-- ---- executions --------------------------------------------------------------------------------

function TestInspector:test_executions_filter_as_rivulet_logs_does()
  local a = new_app()
  local fw = a.flows["Random number"]
  a:random_number()
  a.C.stubs.get_num = { reason = "timeout", message = "timed out" }
  local s, r = a:req("POST", "/ui/api/talk/message", { { "Flow", fw }, { "From", "+15550002222" }, { "To", TO },
    { "Body", "hi" } })
  lu.assertEquals(s, 200, json.encode(r))
  local function sids(q)
    local st, l = a:get("/ui/api/executions", q)
    lu.assertEquals(st, 200, json.encode(l))
    local out = {}
    for _, x in ipairs(l.executions) do out[#out + 1] = x.contact .. ":" .. x.status end
    return out
  end
  lu.assertEquals(sids("flow=" .. fw), { "+15550002222:active", FROM .. ":ended" })
  lu.assertEquals(sids("status=active"), { "+15550002222:active" })
  lu.assertEquals(sids("status=ended"), { FROM .. ":ended" })
  lu.assertEquals(sids("status=failed"), {})
  lu.assertEquals(sids("contact=%2B15550002222"), { "+15550002222:active" })
  lu.assertEquals(sids("since=1h"), { "+15550002222:active", FROM .. ":ended" })
  lu.assertEquals(sids("until=2001-01-01"), {})
  lu.assertEquals(sids("limit=1"), { "+15550002222:active" })
  lu.assertEquals(#sids("limit=" .. inspector.MAX_LIMIT), 2)
  -- an empty list is a JSON array (the page iterates it)
  local _, empty = a:get("/ui/api/executions", "status=failed")
  lu.assertStrContains(select(4, a:get("/ui/api/executions", "status=failed")), '"executions":[]')
  lu.assertEquals(#empty.executions, 0)
  for _, q in ipairs{ "status=gone", "since=yesterday", "limit=0", "limit=" .. (inspector.MAX_LIMIT + 1), "limit=x" } do
    local st, e = a:get("/ui/api/executions", q)
    lu.assertEquals(st, 400, q)
    lu.assertEquals(e.code, 20001, q)
  end
end

function TestInspector:test_the_timeline_shows_each_step_its_changes_and_its_http_call()
  local a = new_app()
  local x = a:random_number()
  local s, t = a:get("/ui/api/executions/" .. x.sid)
  lu.assertEquals(s, 200)
  lu.assertEquals(t.status, "ended")
  lu.assertEquals(#t.steps, 5)
  local trail = {}
  for i, st in ipairs(t.steps) do trail[i] = st.from .. " -" .. st.event .. "-> " .. st.to end
  lu.assertEquals(trail, { "Trigger -incomingMessage-> min_value", "min_value -incomingMessage-> max_value",
    "max_value -incomingMessage-> get_num", "get_num -success-> send_num", "send_num -sent-> Ended" })
  local function change(st, path)
    for _, c in ipairs(st.changes) do if c.path == path then return c end end
    return nil
  end
  -- the trigger's step shows the trigger; each widget's step what it added
  lu.assertEquals(change(t.steps[1], "trigger.message.Body").after, "hi")
  lu.assertEquals(change(t.steps[2], "widgets.min_value.inbound.Body").after, "1")
  lu.assertEquals(change(t.steps[2], "widgets.min_value.outbound.Body").after, "What is the minimum number?")
  lu.assertEquals(change(t.steps[4], "widgets.get_num.parsed.number").after, 4)
  lu.assertEquals(change(t.steps[4], "widgets.get_num.status_code").after, 200)
  -- the function call: what was sent, and the reply
  local h = t.steps[4].http
  lu.assertEquals(h.method, "POST")
  lu.assertEquals(h.url, "https://example-1234.twil.io/generate-random-number")
  lu.assertEquals(h.status_code, 200)
  lu.assertEquals(h.event, "success")
  local params = {}
  for _, kv in ipairs(h.parameters) do params[kv.key] = kv.value end
  lu.assertEquals(params, { min = "1", max = "6" })
  lu.assertEquals(t.steps[4].reply.body, '{"number":4}')
  lu.assertNil(t.steps[3].http)
  lu.assertEquals(a:get("/ui/api/executions/FN" .. string.rep("0", 32)), 404)
end

function TestInspector:test_a_failure_says_why()
  local a = new_app{ stubs = { get_num = { reason = "connect_failed", message = "could not connect" } } }
  local x = a:random_number()
  local _, t = a:get("/ui/api/executions/" .. x.sid)
  local st = t.steps[4]
  lu.assertEquals(st.event, "fail")
  lu.assertEquals(st.reason, "connect_failed")
  lu.assertEquals(st.failure, { reason = "connect_failed", message = "could not connect" })
  lu.assertEquals(st.http.reason, "connect_failed")
  lu.assertEquals(st.http.status_code, 0)
end

function TestInspector:test_diffs_list_the_leaves_that_changed()
  local d = timeline.diff("flow.variables", { a = 1, b = { c = "x" }, gone = true, list = { 1, 2 } },
                          { a = 2, b = { c = "x", d = "y" }, list = { 1, 3 } })
  lu.assertEquals(d, {
    { path = "flow.variables.a", before = 1, after = 2 },
    { path = "flow.variables.b.d", after = "y" },
    { path = "flow.variables.gone", before = true },
    { path = "flow.variables.list", before = { 1, 2 }, after = { 1, 3 } },
  })
  lu.assertEquals(timeline.diff("x", {}, nil), {})
  lu.assertEquals(timeline.diff("x", { 1, 2 }, { 1, 2 }), {})
  -- a step that changes more than MAX_CHANGES lists that many and how many more
  local big = {}
  for i = 1, timeline.MAX_CHANGES + 5 do big["k" .. i] = i end
  local row = { sid = "FN1", status = "ended", context = { trigger = {}, flow = {} } }
  local x = timeline.execution(row, { { sid = "FT1", name = "incomingRequest", context = { widget = "T", outputs = {} } },
    { sid = "FT2", name = "next", context = { widget = "set", outputs = big } } })
  lu.assertEquals(#x.steps[2].changes, timeline.MAX_CHANGES + 1)
  lu.assertEquals(x.steps[2].changes[timeline.MAX_CHANGES + 1], { path = "…", more = 5 })
  local at_limit = {}
  for i = 1, timeline.MAX_CHANGES do at_limit["k" .. i] = i end
  x = timeline.execution(row, { { sid = "FT1", name = "incomingRequest", context = {} },
    { sid = "FT2", name = "next", context = { widget = "set", outputs = at_limit } } })
  lu.assertEquals(#x.steps[2].changes, timeline.MAX_CHANGES)
end

-- ---- the change feed (long polls) --------------------------------------------------------------

function TestInspector:test_a_watch_is_held_until_something_happens()
  local a = new_app()
  local _, now = a:get("/ui/api/changes", "since=0&wait=0")      -- wait=0: answered at once
  lu.assertEquals(now.seq, 0)
  local s, id = a:req("GET", "/ui/api/changes", nil, { query = "since=0", id = 41 })
  lu.assertEquals(s, serve.PENDING)
  lu.assertEquals(id, 41)
  a.app:tick()
  lu.assertEquals(a.app:answers(), {}, "nothing happened yet")
  lu.assertEquals(a.app:next_deadline() > inspector.LONG_POLL_S - 1, true)
  a:text(a.flows["Random number"], "hi")
  local late = a.app:answers()
  lu.assertEquals(#late, 1)
  lu.assertEquals(late[1].id, 41)
  local feed = json.decode(late[1].body)
  local kinds = {}
  for _, e in ipairs(feed.events) do kinds[#kinds + 1] = e.kind .. (e.dir and (":" .. e.dir) or "") end
  lu.assertEquals(kinds, { "message:in", "step", "message:out" })
  lu.assertEquals(feed.seq, 3)
  lu.assertEquals(feed.events[3].body, "What is the minimum number?")
end

function TestInspector:test_a_quiet_watch_ends_after_its_time_and_a_gone_one_is_forgotten()
  local a = new_app()
  local s = a:req("GET", "/ui/api/changes", nil, { query = "since=0", id = 7 })
  lu.assertEquals(s, serve.PENDING)
  a.app:tick(core.monotonic() + inspector.LONG_POLL_S - 1)
  lu.assertEquals(a.app:answers(), {})
  a.app:tick(core.monotonic() + inspector.LONG_POLL_S + 0.01)
  local late = a.app:answers()
  lu.assertEquals(#late, 1)
  lu.assertEquals(json.decode(late[1].body).events, {})
  -- a client that went away: its watch is dropped, nobody answers it
  a:req("GET", "/ui/api/changes", nil, { query = "since=0", id = 8 })
  a.app:drop(8)
  a:text(a.flows["Random number"], "hi")
  lu.assertEquals(a.app:answers(), {})
  lu.assertNil(a.app:next_deadline())
end

function TestInspector:test_watches_are_held_up_to_the_limit()
  local a = new_app()
  for i = 1, inspector.MAX_WATCHERS do
    lu.assertEquals(a:req("GET", "/ui/api/changes", nil, { query = "since=0", id = i }), serve.PENDING)
  end
  local s, feed = a:req("GET", "/ui/api/changes", nil, { query = "since=0", id = 999 })
  lu.assertEquals(s, 200, "one more is answered at once")
  lu.assertEquals(feed.events, {})
  a:text(a.flows["Random number"], "hi")
  lu.assertEquals(#a.app:answers(), inspector.MAX_WATCHERS)
end

function TestInspector:test_the_feed_remembers_its_last_events_and_resets_a_page_further_behind()
  local a = new_app()
  local ins = a.app.inspector
  for i = 1, inspector.MAX_EVENTS + 3 do ins:event{ kind = "note", n = i } end
  local f = ins:feed(2)         -- it saw 2, event 3 is forgotten: read everything again
  lu.assertEquals(f.reset, true)
  lu.assertEquals(#f.events, inspector.MAX_EVENTS)
  f = ins:feed(3)               -- it saw 3: everything after is remembered
  lu.assertNil(f.reset)
  lu.assertEquals(#f.events, inspector.MAX_EVENTS)
  lu.assertEquals(f.events[1].n, 4)
end

-- ---- the conversation panel --------------------------------------------------------------------

function TestInspector:test_a_text_goes_through_the_webhook_as_twilio_sends_it()
  local a = new_app()
  local r = a:text(a.flows["Random number"], "hi")
  lu.assertStrContains(r.twiml, "<Response></Response>")
  local x = a.app.engine.by_contact[a.app.engine.contact_key(FROM, TO)]
  local m = x.context.trigger.message
  lu.assertEquals(m.MessageSid, r.message_sid)
  lu.assertEquals(m.AccountSid, AC)
  lu.assertEquals(m.SmsStatus, "received")
  lu.assertEquals(m.Body, "hi")
  -- the webhook counted it as Twilio's: the same MessageSid again is a retry
  lu.assertEquals(a.app.store:take_event(r.message_sid), false)
  -- the limit on what a person types, at its edge
  local fw = a.flows["Random number"]
  local function send(body)
    return a:req("POST", "/ui/api/talk/message", { { "Flow", fw }, { "From", FROM }, { "To", TO }, { "Body", body } })
  end
  lu.assertEquals(send(string.rep("é", inspector.MAX_BODY)), 200)
  lu.assertEquals(send(string.rep("é", inspector.MAX_BODY + 1)), 400)
  lu.assertEquals(send("\255"), 400)
  lu.assertEquals(a:req("POST", "/ui/api/talk/message", { { "Flow", "FW" .. string.rep("0", 32) }, { "From", FROM },
    { "To", TO }, { "Body", "x" } }), 404)
  lu.assertEquals(a:req("POST", "/ui/api/talk/message", { { "Flow", fw }, { "To", TO }, { "Body", "x" } }), 400)
end

-- the panel's call, as the page sees it
local function call_state(a, sid)
  local s, c = a:get("/ui/api/talk/calls/" .. sid)
  lu.assertEquals(s, 200)
  return c
end

function TestInspector:test_a_call_plays_twilio_through_the_webhook()
  local a = new_app()
  local fw = a.flows["Phone menu"]
  local s, c = a:req("POST", "/ui/api/talk/call", { { "Flow", fw }, { "From", FROM }, { "To", TO } })
  lu.assertEquals(s, 200, json.encode(c))
  lu.assertStrMatches(c.sid, "^CA%x+$")
  c = call_state(a, c.sid)
  lu.assertEquals(c.state, "input")
  lu.assertEquals(c.ask.widget, "menu")
  lu.assertStrContains(c.twiml, "<Gather")
  lu.assertEquals(helper.bodies(a.sent), { "Thanks for calling Corner Books.",
    "Press 1 or say hours for our opening hours. Press 2 to talk to us. Press 3 to leave a message." })
  -- the caller presses 2: the shop floor is dialled, an outcome decided outside
  s, c = a:req("POST", "/ui/api/talk/calls/" .. c.sid .. "/answer", { { "Text", "2" } })
  lu.assertEquals(s, 200)
  c = call_state(a, c.sid)
  lu.assertEquals(c.state, "outcome")
  lu.assertEquals(c.ask.events, { "callCompleted", "hangup" })
  lu.assertEquals(select(1, a:req("POST", "/ui/api/talk/calls/" .. c.sid .. "/answer", { { "Text", "1" } })), 409)
  lu.assertEquals(select(1, a:req("POST", "/ui/api/talk/calls/" .. c.sid .. "/choose", { { "Event", "nope" } })), 409)
  s = a:req("POST", "/ui/api/talk/calls/" .. c.sid .. "/choose", { { "Event", "callCompleted" } })
  lu.assertEquals(s, 200)
  c = call_state(a, c.sid)
  lu.assertEquals(c.state, "ended")
  local _, list = a:get("/ui/api/executions", "flow=" .. fw)
  local _, t = a:get("/ui/api/executions/" .. list.executions[1].sid)
  local trail = {}
  for i, st in ipairs(t.steps) do trail[i] = st.from .. ">" .. st.event end
  lu.assertEquals(trail, { "Trigger>incomingCall", "welcome>audioComplete", "menu>keypress", "by_key>match",
    "shop_floor>callCompleted", "after_call>match", "goodbye>audioComplete" })
  local paths = {}
  for _, ch in ipairs(t.steps[5].changes) do paths[ch.path] = ch.after end
  lu.assertEquals(paths["widgets.shop_floor.DialCallStatus"], "completed")
end

function TestInspector:test_a_hang_up_is_the_calls_status_callback()
  local a = new_app()
  local _, c = a:req("POST", "/ui/api/talk/call", { { "Flow", a.flows["Phone menu"] }, { "From", FROM }, { "To", TO } })
  lu.assertEquals(call_state(a, c.sid).state, "input")
  local s, h = a:req("POST", "/ui/api/talk/calls/" .. c.sid .. "/hangup")
  lu.assertEquals(s, 200)
  lu.assertEquals(h.state, "ended")
  local _, list = a:get("/ui/api/executions")
  lu.assertEquals(list.executions[1].status, "ended")
  lu.assertStrContains(list.executions[1].reason, "call ended")
  lu.assertEquals(select(1, a:get("/ui/api/talk/calls/CA" .. string.rep("0", 32))), 404)
end

-- ---- /metrics --------------------------------------------------------------------------------

function TestInspector:test_metrics_are_prometheus_text_that_counts_what_happened()
  local a = new_app()
  local fw = a.flows["Random number"]
  a:random_number()
  a.C.stubs.get_num = { status = 500 }
  a:random_number({ "3", "4" })
  a:text(fw, "hi")            -- a third one, left waiting for a reply
  local s, text, h = a:get("/metrics")
  lu.assertEquals(s, 200)
  lu.assertEquals(header(h, "Content-Type"), "text/plain; version=0.0.4; charset=utf-8")
  local m, err = prom.parse(text)
  lu.assertNotNil(m, err)
  local F = { flow = fw }
  lu.assertEquals(prom.value(m, "rivulet_executions_started_total", F), 3)
  lu.assertEquals(prom.value(m, "rivulet_executions_ended_total", F), 2)
  lu.assertNil(prom.value(m, "rivulet_executions_failed_total", F))
  lu.assertEquals(prom.value(m, "rivulet_steps_total", { type = "run-function" }), 2)
  lu.assertEquals(prom.value(m, "rivulet_steps_total", { type = "trigger" }), 3)
  lu.assertEquals(prom.value(m, "rivulet_function_calls_total", { kind = "run_function", outcome = "success" }), 1)
  lu.assertEquals(prom.value(m, "rivulet_function_calls_total",
    { kind = "run_function", outcome = "failure", reason = "http_status" }), 1)
  lu.assertEquals(prom.value(m, "rivulet_function_call_duration_seconds_count", { kind = "run_function" }), 2)
  lu.assertEquals(prom.value(m, "rivulet_execution_duration_seconds_count", F), 2)
  lu.assertEquals(prom.value(m, "rivulet_executions_active", F), 1)
  lu.assertEquals(prom.value(m, "rivulet_executions_waiting", { flow = fw, wait = "reply" }), 1)
  lu.assertEquals(prom.value(m, "rivulet_flow_info", { flow = fw, name = "Random number" }), 1)
  lu.assertTrue(prom.value(m, "rivulet_start_time_seconds") > 1.7e9)
  lu.assertEquals(m.families.rivulet_execution_duration_seconds.type, "histogram")
end

function TestInspector:test_metrics_count_requests_by_route_and_escape_label_values()
  local a = new_app()
  local mt = a.app.metrics
  mt:request("/ui/api/flows", 200, 0.003)
  mt:request("/v1/Accounts/AC1/Flows/FW1", 403, 0.0004)
  mt:hold(5, "/v1/Accounts/AC1/Flows/FW1", core.monotonic() - 2)
  mt:answered(5, 200)
  mt:hold(6, "/ui/api/changes", core.monotonic())
  mt:drop(6)
  mt:answered(6, 200)           -- dropped: not counted
  mt:ended({ sid = "FN1", parent_sid = "FN0", flow_name = "dir/odd \"name\"\nx.lua", failed = true,
             started_at = 1, ended_at = 2 })
  local m, err = prom.parse(mt:text())
  lu.assertNotNil(m, err)
  lu.assertEquals(prom.value(m, "rivulet_http_requests_total", { route = "ui", code = "200" }), 1)
  lu.assertEquals(prom.value(m, "rivulet_http_requests_total", { route = "webhook", code = "403" }), 1)
  lu.assertEquals(prom.value(m, "rivulet_http_requests_total", { route = "webhook", code = "200" }), 1)
  lu.assertEquals(prom.value(m, "rivulet_http_request_duration_seconds_count", { route = "webhook" }), 2)
  lu.assertEquals(prom.value(m, "rivulet_http_request_duration_seconds_bucket", { route = "webhook", le = "0.001" }), 1)
  lu.assertEquals(prom.value(m, "rivulet_http_request_duration_seconds_bucket", { route = "webhook", le = "2.5" }), 2)
  lu.assertEquals(prom.value(m, "rivulet_executions_failed_total", { flow = "subflow:odd \"name\"\nx" }), 1)
  lu.assertStrContains(mt:text(), 'flow="subflow:odd \\"name\\"\\nx"')
end

-- ---- replay to spec ------------------------------------------------------------------------------

local function run_spec(text, dir)
  local path = dir .. "/replay_spec.lua"
  helper.write_file(path, text)
  return helper.run({ "test", path })
end

function TestInspector:test_an_execution_replays_as_a_spec_that_passes_and_fails_when_the_branch_changes()
  local a = new_app()
  local x = a:random_number()
  local s, text = a:get("/ui/api/executions/" .. x.sid .. "/spec")
  lu.assertEquals(s, 200)
  lu.assertStrContains(text, 'get_num = { body = "{\\"number\\":4}", content_type = "application/json", status = 200 }')
  lu.assertStrContains(text, '"> Your random number is 4"')
  lu.assertStrContains(text, a.dir .. "/flows/random_number.lua")
  local code, out = run_spec(text, a.dir)
  lu.assertEquals(code, 0, out)
  lu.assertStrContains(out, "1 passed, 0 failed")
  -- the flow changes the branch the execution took: the spec fails, naming where
  local path = a.dir .. "/flows/random_number.lua"
  local src = helper.read_file(path)
  helper.write_file(path, (src:gsub('on = { success = "send_num", fail = "send_error" }',
                                   'on = { success = "send_error", fail = "send_num" }')))
  local code2, out2 = run_spec(text, a.dir)
  lu.assertEquals(code2, 1, out2)
  lu.assertStrContains(out2, "at step 5 of 5 (> Your random number is 4):\n    the flow sent a different message")
  lu.assertStrContains(out2, "+ Sorry, we could not pick a number between 1 and 6")
  -- a change that sends the same messages still fails on the path, naming the state
  helper.write_file(path, (src:gsub('on = { incomingMessage = "get_num", timeout = false, deliveryFailure = false }',
    'on = { incomingMessage = "pause", timeout = false, deliveryFailure = false } },\n' ..
    '  { name = "pause", type = "set-variables", variables = { { key = "x", value = "1" } }, on = { next = "get_num" }')))
  local code3, out3 = run_spec(text, a.dir)
  lu.assertEquals(code3, 1, out3)
  lu.assertStrContains(out3, "the execution did not end as expected")
  lu.assertStrContains(out3, "+   pause")
end

function TestInspector:test_a_call_replays_with_its_keys_outcomes_and_hang_up()
  local a = new_app()
  local fw = a.flows["Phone menu"]
  local _, c = a:req("POST", "/ui/api/talk/call", { { "Flow", fw }, { "From", FROM }, { "To", TO } })
  a:req("POST", "/ui/api/talk/calls/" .. c.sid .. "/answer", { { "Text", "3" } })
  lu.assertEquals(call_state(a, c.sid).state, "recording")
  a:req("POST", "/ui/api/talk/calls/" .. c.sid .. "/hangup")
  local _, list = a:get("/ui/api/executions", "flow=" .. fw)
  local s, text = a:get("/ui/api/executions/" .. list.executions[1].sid .. "/spec")
  lu.assertEquals(s, 200, json.encode(text))
  lu.assertStrContains(text, '"< 3"')
  lu.assertStrContains(text, "{ hangup = true }")
  lu.assertStrContains(text, '"> Press 1 or say hours')
  local code, out = run_spec(text, a.dir)
  lu.assertEquals(code, 0, out)
end

function TestInspector:test_replay_from_the_command_line()
  local a = new_app()
  local x = a:random_number()
  a.app.store:close()
  local db = a.dir .. "/serve.db"
  local spec = a.dir .. "/specs/x_spec.lua"
  os.execute("mkdir -p " .. helper.quote(a.dir .. "/specs"))
  local code, out, err = helper.run({ "test", "--from-execution", x.sid, "--store", db, "-o", spec })
  lu.assertEquals(code, 0, err)
  lu.assertEquals(out, "")
  lu.assertStrContains(err, "wrote " .. spec)
  local text = helper.read_file(spec)
  lu.assertStrContains(text, 'flow = "../flows/random_number.lua"')    -- beside the spec
  code, out = helper.run({ "test", spec })
  lu.assertEquals(code, 0, out)
  -- on stdout without -o
  code, out = helper.run({ "test", "--from-execution", x.sid, "--store", db })
  lu.assertEquals(code, 0)
  lu.assertStrContains(out, "replays " .. x.sid)
  -- failures: an unknown execution, usage
  local _
  code, _, err = helper.run({ "test", "--from-execution", "FN" .. string.rep("0", 32), "--store", db })
  lu.assertEquals(code, 1)
  lu.assertStrContains(err, "no execution FN")
  lu.assertEquals((helper.run({ "test", "--from-execution", x.sid })), 2)                  -- no store
  lu.assertEquals((helper.run({ "test", "--from-execution", x.sid, "--store", db, "some_spec.lua" })), 2)
  lu.assertEquals((helper.run({ "test", "--from-execution", x.sid, "--store", db, "--coverage" })), 2)
  lu.assertEquals((helper.run({ "test", "--store", db, "some_spec.lua" })), 2)
  lu.assertEquals((helper.run({ "test", "--from-execution" })), 2)
  lu.assertEquals((helper.run({ "test", "--from-execution", x.sid, "--store", a.dir .. "/none.db" })), 2)
end

function TestInspector:test_a_flow_from_no_file_is_written_into_the_spec()
  local row = { status = "ended", flow_name = "api flow" }
  lu.assertEquals(replay.literal({ 1, "a", k = { x = true } }), '{ 1, "a", k = { x = true } }')
  lu.assertEquals(replay.literal({ ["end"] = 1, ["a b"] = 2 }), '{ ["a b"] = 2, ["end"] = 1 }')
  lu.assertEquals(replay.literal("line\nbreak"), '"line\\nbreak"')
  lu.assertEquals(replay.relative("/a/b/flows/f.lua", "/a/b/specs"), "../flows/f.lua")
  lu.assertEquals(replay.relative("/x/f.lua", "/a/b"), "/x/f.lua")
  -- a flow created through the REST API has no file: its definition goes into the spec
  local a = new_app{ flows = {} }
  local def = json.decode(helper.read_file(helper.root .. "/flows/random_number.json"))
  local s, f = a:req("POST", "/v2/Flows", { { "FriendlyName", "api flow" }, { "Status", "published" },
    { "Definition", json.encode(def) } })
  lu.assertEquals(s, 201, json.encode(f))
  local fw = f.sid
  a:text(fw, "hi")
  a:text(fw, "1")
  a:text(fw, "6")
  local _, list = a:get("/ui/api/executions", "flow=" .. fw)
  local st, text = a:get("/ui/api/executions/" .. list.executions[1].sid .. "/spec")
  lu.assertEquals(st, 200, text)
  lu.assertStrContains(text, 'flow = require("rivulet.json").decode([=[')
  local code, out = run_spec(text, a.dir)
  lu.assertEquals(code, 0, out)
  lu.assertNotNil(row)
end
