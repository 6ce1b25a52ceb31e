-- rivulet serve's app (rivulet.serve), driven request by request without a network: the
-- Studio REST API v2 (twilio_studio_v2.json: every operation, its status codes and
-- shapes, Twilio's error shape), credentials, paging, and the flows' webhook (signatures,
-- retries, every posted field kept, answers before the steps run). The same app behind
-- the C server, driven by twilio-node and checked by Prism, is spec/test_serve_http.lua.

local lu = require "luaunit"
local rivulet = require "rivulet"
local core = require "rivulet.core"
local json = require "rivulet.json"
local serve = require "rivulet.serve"
local helper = require "spec.helper"

local AC, TOKEN = "AC" .. string.rep("0", 31) .. "1", "serve-spec-token"
local BASE = "http://rivulet.test:8080"
local FROM, TO = "+15550001111", "+15559990000"

local function urlencode(s)
  return (tostring(s):gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end

local function form(t)
  local parts = {}
  for _, kv in ipairs(t) do parts[#parts + 1] = urlencode(kv[1]) .. "=" .. urlencode(kv[2]) end
  return table.concat(parts, "&")
end

-- a flow definition that asks a question and answers it
local ASK = {
  description = "Ask", initial_state = "Trigger", flags = { allow_concurrent_calls = true },
  states = {
    { name = "Trigger", type = "trigger", properties = {}, transitions = {
      { event = "incomingMessage", next = "ask" }, { event = "incomingCall", next = "ask" },
      { event = "incomingRequest", next = "ask" } } },
    { name = "ask", type = "send-and-wait-for-reply", properties = { body = "Name? ({{flow.data.who}})", timeout = "3600" },
      transitions = { { event = "incomingMessage", next = "hi" }, { event = "timeout" }, { event = "deliveryFailure" } } },
    { name = "hi", type = "send-message", properties = { body = "Hi {{widgets.ask.inbound.Body}}" },
      transitions = { { event = "sent" }, { event = "failed" } } },
  },
}

local App = {}
App.__index = App

local function new_app(opts)
  opts = opts or {}
  local sent = {}
  local app = assert(serve.new{ store = opts.store or helper.tmpdir() .. "/serve.db", account_sid = AC,
    auth_token = TOKEN, public_url = BASE, on_message = function(_, m) sent[#sent + 1] = m end,
    twilio_api = opts.twilio_api })
  return setmetatable({ app = app, sent = sent }, App)
end

local AUTH = { "Authorization", "Basic " .. core.base64_encode(AC .. ":" .. TOKEN) }
local FORM = { "Content-Type", "application/x-www-form-urlencoded" }

-- one request: status, body (JSON decoded when it is), headers
function App:req(method, path, fields, opts)
  opts = opts or {}
  local run_jobs = opts.run_jobs ~= false
  local headers = { FORM }
  if opts.auth ~= false then headers[#headers + 1] = opts.auth or AUTH end
  for _, h in ipairs(opts.headers or {}) do headers[#headers + 1] = h end
  local query = opts.query
  local body = fields and form(fields) or ""
  local status, h, text = self.app:request{ method = method, path = path, query = query, headers = headers,
                                            body = method == "POST" and body or nil }
  if run_jobs then self.app:run_jobs() end
  local ok, v = pcall(json.decode, text)
  return status, ok and v or text, h, text
end

function App:flow(def, status)
  local s, f = self:req("POST", "/v2/Flows", { { "FriendlyName", "Ask" }, { "Status", status or "published" },
                                               { "Definition", json.encode(def or ASK) } })
  lu.assertEquals(s, 201, json.encode(f))
  return f
end

-- a webhook POST signed as Twilio signs it (algorithm "sha1" or "sha256")
function App:hook(path, fields, opts)
  opts = opts or {}
  local url = (opts.signed_url or BASE) .. path
  local pairs_list = {}
  for i, kv in ipairs(fields) do pairs_list[i] = kv end
  local sig = opts.signature or rivulet.http.signature(opts.token or TOKEN, url, pairs_list, false, opts.algorithm)
  local headers = { { "X-Twilio-Signature", sig } }
  if opts.algorithm == "sha256" then
    headers[2] = { "X-Twilio-Webhooks-Signature-Settings", "key=default,algorithm=HMAC_SHA256" }
  end
  if opts.no_signature then headers = {} end
  return self:req("POST", path, fields, { auth = false, headers = headers, run_jobs = opts.run_jobs })
end

local function message_fields(body, sid, extra, from)
  local f = { { "ToCountry", "US" }, { "SmsMessageSid", sid }, { "NumMedia", "0" }, { "SmsSid", sid },
              { "SmsStatus", "received" }, { "Body", body }, { "To", TO }, { "NumSegments", "1" },
              { "MessageSid", sid }, { "AccountSid", AC }, { "From", from or FROM }, { "ApiVersion", "2010-04-01" } }
  for _, kv in ipairs(extra or {}) do f[#f + 1] = kv end
  return f
end

-- ---- credentials and routes -----------------------------------------------------------------

TestServeApp = {}

function TestServeApp:tearDown() helper.cleanup() end

function TestServeApp:test_nobody_gets_in_without_the_credentials()
  local a = new_app()
  local s, e, h = a:req("GET", "/v2/Flows", nil, { auth = false })
  lu.assertEquals(s, 401)
  lu.assertEquals(e.code, 20003)
  lu.assertEquals(e.status, 401)
  lu.assertStrContains(e.more_info, "20003")
  local www = false
  for _, kv in ipairs(h) do if kv[1] == "WWW-Authenticate" then www = true end end
  lu.assertTrue(www)
  lu.assertEquals(a:req("GET", "/v2/Flows", nil, { auth = { "Authorization", "Basic " ..
    core.base64_encode(AC .. ":wrong") } }), 401)
  lu.assertEquals(a:req("GET", "/v2/Flows", nil, { auth = { "Authorization", "Basic " ..
    core.base64_encode("AC" .. string.rep("9", 32) .. ":" .. TOKEN) } }), 401)
  lu.assertEquals(a:req("GET", "/v2/Flows", nil, { auth = { "Authorization", "Basic !!notbase64" } }), 401)
  lu.assertEquals(a:req("GET", "/v2/Flows", nil, { auth = { "Authorization", "Bearer " .. TOKEN } }), 401)
  lu.assertEquals(a:req("GET", "/v2/Flows"), 200)
  -- other spellings of the right credentials (compared decoded, not as the usual header)
  local b64 = core.base64_encode(AC .. ":" .. TOKEN)
  lu.assertEquals(a:req("GET", "/v2/Flows", nil, { auth = { "Authorization", "basic   " .. b64 .. " " } }), 200)
  lu.assertEquals(a:req("GET", "/v2/Flows", nil, { auth = { "Authorization", "Basic " .. b64 .. "x" } }), 401)
end

function TestServeApp:test_unknown_paths_and_methods_answer_twilios_errors()
  local a = new_app()
  local s, e = a:req("GET", "/v2/Nope")
  lu.assertEquals(s, 404)
  lu.assertEquals(e.code, 20404)
  local h
  s, e, h = a:req("PUT", "/v2/Flows")
  lu.assertEquals(s, 405)
  lu.assertEquals(e.status, 405)
  lu.assertEquals(h[2], { "Allow", "GET, POST" })
  s = a:req("POST", "/v2/Flows", nil, { headers = { { "Content-Type", "application/json" } } })
  lu.assertTrue(s == 415 or s == 400)
end

-- ---- flows ------------------------------------------------------------------------------------

function TestServeApp:test_flows_create_fetch_update_list_delete()
  local a = new_app()
  local f = a:flow()
  lu.assertStrMatches(f.sid, "^FW%x+$")
  lu.assertEquals(#f.sid, 34)
  lu.assertEquals(f.account_sid, AC)
  lu.assertEquals(f.friendly_name, "Ask")
  lu.assertEquals(f.status, "published")
  lu.assertEquals(f.revision, 1)
  lu.assertTrue(f.valid)
  lu.assertEquals(f.errors, {})
  lu.assertEquals(f.definition.states[2].name, "ask")
  lu.assertEquals(f.url, BASE .. "/v2/Flows/" .. f.sid)
  lu.assertEquals(f.webhook_url, BASE .. "/v1/Accounts/" .. AC .. "/Flows/" .. f.sid)
  lu.assertEquals(f.links.executions, f.url .. "/Executions")
  lu.assertStrMatches(f.date_created, "^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$")
  local s, g = a:req("GET", "/v2/Flows/" .. f.sid)
  lu.assertEquals(s, 200)
  lu.assertEquals(g.sid, f.sid)
  -- an update is a new revision
  local def = json.decode(json.encode(ASK))
  def.states[3].properties.body = "Hello {{widgets.ask.inbound.Body}}"
  s, g = a:req("POST", "/v2/Flows/" .. f.sid, { { "Status", "published" }, { "Definition", json.encode(def) },
                                                { "CommitMessage", "say hello" } })
  lu.assertEquals(s, 200)
  lu.assertEquals(g.revision, 2)
  lu.assertEquals(g.commit_message, "say hello")
  lu.assertEquals(g.friendly_name, "Ask")
  -- the list leaves the definition out
  local l
  s, l = a:req("GET", "/v2/Flows")
  lu.assertEquals(s, 200)
  lu.assertEquals(#l.flows, 1)
  lu.assertEquals(l.flows[1].definition, json.null)
  lu.assertEquals(l.meta.key, "flows")
  lu.assertEquals(l.meta.url, BASE .. "/v2/Flows?PageSize=50&Page=0")
  lu.assertEquals(a:req("DELETE", "/v2/Flows/" .. f.sid), 204)
  lu.assertEquals(a:req("GET", "/v2/Flows/" .. f.sid), 404)
  lu.assertEquals(a:req("DELETE", "/v2/Flows/" .. f.sid), 404)
end

function TestServeApp:test_flow_fields_are_checked_and_named()
  local a = new_app()
  local cases = {
    { { { "Status", "draft" }, { "Definition", "{}" } }, "FriendlyName" },
    { { { "FriendlyName", "x" }, { "Definition", "{}" } }, "Status" },
    { { { "FriendlyName", "x" }, { "Status", "live" }, { "Definition", "{}" } }, "Status" },
    { { { "FriendlyName", "x" }, { "Status", "draft" } }, "Definition" },
  }
  for _, c in ipairs(cases) do
    local s, e = a:req("POST", "/v2/Flows", c[1])
    lu.assertEquals(s, 400, c[2])
    lu.assertEquals(e.code, 20001)
    lu.assertStrContains(e.message, c[2])
  end
end

function TestServeApp:test_validation_is_studios_81022_with_property_paths()
  local a = new_app()
  local bad = json.decode(json.encode(ASK))
  bad.states[2].transitions[1].next = "nowhere"
  local s, e = a:req("POST", "/v2/Flows/Validate", { { "FriendlyName", "x" }, { "Status", "draft" },
                                                      { "Definition", json.encode(bad) } })
  lu.assertEquals(s, 400)
  lu.assertEquals(e.code, 81022)
  lu.assertEquals(e.details.errors[1].property_path, "#/states/1/transitions/0/next")
  lu.assertStrContains(e.details.errors[1].message, "nowhere")
  s, e = a:req("POST", "/v2/Flows/Validate", { { "FriendlyName", "x" }, { "Status", "draft" },
                                                { "Definition", json.encode(ASK) } })
  lu.assertEquals(s, 200)
  lu.assertEquals(e, { valid = true })
  s, e = a:req("POST", "/v2/Flows/Validate", { { "FriendlyName", "x" }, { "Status", "draft" },
                                                { "Definition", "{not json" } })
  lu.assertEquals(s, 400)
  lu.assertEquals(e.code, 81022)
  -- publishing an invalid flow is refused; a draft is kept with its errors
  s, e = a:req("POST", "/v2/Flows", { { "FriendlyName", "x" }, { "Status", "published" }, { "Definition", json.encode(bad) } })
  lu.assertEquals(s, 400)
  lu.assertEquals(e.code, 81022)
  s, e = a:req("POST", "/v2/Flows", { { "FriendlyName", "x" }, { "Status", "draft" }, { "Definition", json.encode(bad) } })
  lu.assertEquals(s, 201)
  lu.assertFalse(e.valid)
  lu.assertEquals(e.errors[1].property_path, "#/states/1/transitions/0/next")
end

function TestServeApp:test_revisions_by_number_and_by_name()
  local a = new_app()
  local f = a:flow(nil, "published")
  a:req("POST", "/v2/Flows/" .. f.sid, { { "Status", "draft" }, { "CommitMessage", "wip" } })
  local s, r = a:req("GET", "/v2/Flows/" .. f.sid .. "/Revisions/LatestRevision")
  lu.assertEquals(s, 200)
  lu.assertEquals(r.revision, 2)
  lu.assertEquals(r.status, "draft")
  lu.assertEquals(r.url, BASE .. "/v2/Flows/" .. f.sid .. "/Revisions/2")
  s, r = a:req("GET", "/v2/Flows/" .. f.sid .. "/Revisions/LatestPublished")
  lu.assertEquals(s, 200)
  lu.assertEquals(r.revision, 1)
  s, r = a:req("GET", "/v2/Flows/" .. f.sid .. "/Revisions/1")
  lu.assertEquals(s, 200)
  lu.assertEquals(r.status, "published")
  lu.assertEquals(a:req("GET", "/v2/Flows/" .. f.sid .. "/Revisions/3"), 404)
  lu.assertEquals(a:req("GET", "/v2/Flows/" .. f.sid .. "/Revisions/x"), 404)
  local l
  s, l = a:req("GET", "/v2/Flows/" .. f.sid .. "/Revisions", nil, { query = "PageSize=1" })
  lu.assertEquals(s, 200)
  lu.assertEquals(l.revisions[1].revision, 2)
  lu.assertEquals(l.meta.key, "revisions")
  local next_url = l.meta.next_page_url
  lu.assertStrContains(next_url, "PageToken=")
  s, l = a:req("GET", "/v2/Flows/" .. f.sid .. "/Revisions", nil, { query = next_url:match("%?(.*)$") })
  lu.assertEquals(s, 200)
  lu.assertEquals(l.revisions[1].revision, 1)
  lu.assertEquals(l.meta.next_page_url, json.null)
  lu.assertEquals(l.meta.previous_page_url, BASE .. "/v2/Flows/" .. f.sid .. "/Revisions?PageSize=1&Page=0")
end

function TestServeApp:test_test_users_run_the_latest_revision()
  local a = new_app()
  local f = a:flow()
  local s, t = a:req("GET", "/v2/Flows/" .. f.sid .. "/TestUsers")
  lu.assertEquals(s, 200)
  lu.assertEquals(t.test_users, {})
  lu.assertEquals(t.url, BASE .. "/v2/Flows/" .. f.sid .. "/TestUsers")
  s, t = a:req("POST", "/v2/Flows/" .. f.sid .. "/TestUsers", { { "TestUsers", FROM }, { "TestUsers", "+15550002222" } })
  lu.assertEquals(s, 200)
  lu.assertEquals(t.test_users, { FROM, "+15550002222" })
  local def = json.decode(json.encode(ASK))
  def.states[2].properties.body = "Draft question"
  a:req("POST", "/v2/Flows/" .. f.sid, { { "Status", "draft" }, { "Definition", json.encode(def) } })
  a:req("POST", "/v2/Flows/" .. f.sid .. "/Executions", { { "To", FROM }, { "From", TO } })
  a:req("POST", "/v2/Flows/" .. f.sid .. "/Executions", { { "To", "+15550003333" }, { "From", TO } })
  lu.assertEquals(a.sent[1].body, "Draft question")
  lu.assertEquals(a.sent[2].body, "Name? ()")
end

-- ---- executions ------------------------------------------------------------------------------

function TestServeApp:test_executions_start_conflict_fetch_context_steps_end_delete()
  local a = new_app()
  local f = a:flow()
  local base = "/v2/Flows/" .. f.sid .. "/Executions"
  local s, x = a:req("POST", base, { { "To", FROM }, { "From", TO }, { "Parameters", '{"who":"Ada","n":3}' } })
  lu.assertEquals(s, 201)
  lu.assertStrMatches(x.sid, "^FN%x+$")
  lu.assertEquals(x.flow_sid, f.sid)
  lu.assertEquals(x.contact_channel_address, FROM)
  lu.assertEquals(x.status, "active")
  lu.assertEquals(x.flow_version, 1)
  lu.assertEquals(x.context, {})
  lu.assertEquals(x.url, BASE .. base .. "/" .. x.sid)
  lu.assertEquals(x.links.steps, x.url .. "/Steps")
  lu.assertEquals(a.sent[1].body, "Name? (Ada)")
  lu.assertEquals(a.sent[1].to, FROM)
  -- the answer is built from the execution in memory: the same resource a fetch reads back
  local fs, fetched = a:req("GET", base .. "/" .. x.sid)
  lu.assertEquals(fs, 200)
  lu.assertEquals(x, fetched)
  -- one active execution per contact: 409, 20409, the conflicting SID
  local e
  s, e = a:req("POST", base, { { "To", FROM }, { "From", TO } })
  lu.assertEquals(s, 409)
  lu.assertEquals(e.code, 20409)
  lu.assertEquals(e.details.conflicting_execution_sid, x.sid)
  -- v1 answers 200 to a create
  lu.assertEquals(a:req("POST", "/v1/Flows/" .. f.sid .. "/Executions", { { "To", "+15550004444" }, { "From", TO } }), 200)
  local c
  s, c = a:req("GET", base .. "/" .. x.sid .. "/Context")
  lu.assertEquals(s, 200)
  lu.assertEquals(c.execution_sid, x.sid)
  lu.assertEquals(c.context.flow.data, { who = "Ada", n = 3 })
  lu.assertEquals(c.context.trigger.request.parameters.who, "Ada")
  local st
  s, st = a:req("GET", base .. "/" .. x.sid .. "/Steps")
  lu.assertEquals(s, 200)
  lu.assertEquals(#st.steps, 1)
  lu.assertEquals(st.steps[1].name, "incomingRequest")
  lu.assertEquals(st.steps[1].transitioned_from, "Trigger")
  lu.assertEquals(st.steps[1].transitioned_to, "ask")
  local one
  s, one = a:req("GET", base .. "/" .. x.sid .. "/Steps/" .. st.steps[1].sid)
  lu.assertEquals(s, 200)
  lu.assertEquals(one.sid, st.steps[1].sid)
  lu.assertEquals(one.links.step_context, one.url .. "/Context")
  s, one = a:req("GET", one.url:sub(#BASE + 1) .. "/Context")
  lu.assertEquals(s, 200)
  lu.assertEquals(one.context.widget, "Trigger")
  lu.assertEquals(a:req("GET", base .. "/" .. x.sid .. "/Steps/FT" .. string.rep("0", 32)), 404)
  -- Status=ended ends it; the contact may start again
  s, e = a:req("POST", base .. "/" .. x.sid, { { "Status", "active" } })
  lu.assertEquals(e.code, 20001)
  lu.assertEquals(s, 400)
  s, e = a:req("POST", base .. "/" .. x.sid, { { "Status", "ended" } })
  lu.assertEquals(s, 200)
  lu.assertEquals(e.status, "ended")
  s, e = a:req("GET", base .. "/" .. x.sid)
  lu.assertEquals(s, 200)
  lu.assertEquals(e.status, "ended")
  lu.assertEquals(a:req("POST", base, { { "To", FROM }, { "From", TO } }), 201)
  -- delete
  lu.assertEquals(a:req("DELETE", base .. "/" .. x.sid), 204)
  lu.assertEquals(a:req("GET", base .. "/" .. x.sid), 404)
  -- another flow's path does not reach it
  lu.assertEquals(a:req("GET", "/v2/Flows/FW" .. string.rep("0", 32) .. "/Executions/" .. x.sid), 404)
end

function TestServeApp:test_execution_fields_are_checked()
  local a = new_app()
  local f = a:flow()
  local base = "/v2/Flows/" .. f.sid .. "/Executions"
  local s, e = a:req("POST", base, { { "From", TO } })
  lu.assertEquals(s, 400)
  lu.assertStrContains(e.message, "To")
  s, e = a:req("POST", base, { { "To", FROM } })
  lu.assertEquals(s, 400)
  lu.assertStrContains(e.message, "From")
  for _, p in ipairs{ "[1,2]", "not json", "3", '"x"' } do
    s, e = a:req("POST", base, { { "To", FROM }, { "From", TO }, { "Parameters", p } })
    lu.assertEquals(s, 400, p)
    lu.assertStrContains(e.message, "Parameters")
  end
  s, e = a:req("POST", "/v2/Flows/FW" .. string.rep("0", 32) .. "/Executions", { { "To", FROM }, { "From", TO } })
  lu.assertEquals(e.code, 20404)
  lu.assertEquals(s, 404)
  -- a draft-only flow runs for nobody but its test users
  local d = a:flow(nil, "draft")
  lu.assertEquals(a:req("POST", "/v2/Flows/" .. d.sid .. "/Executions", { { "To", FROM }, { "From", TO } }), 404)
end

function TestServeApp:test_execution_lists_filter_and_page()
  local a = new_app()
  local f = a:flow()
  local base = "/v2/Flows/" .. f.sid .. "/Executions"
  local sids = {}
  for i = 1, 5 do
    local _, x = a:req("POST", base, { { "To", string.format("+1555000%04d", i) }, { "From", TO } })
    sids[i] = x.sid
  end
  a:req("POST", base .. "/" .. sids[2], { { "Status", "ended" } })
  local s, l = a:req("GET", base, nil, { query = "PageSize=2" })
  lu.assertEquals(s, 200)
  lu.assertEquals(#l.executions, 2)
  lu.assertEquals(l.meta.page_size, 2)
  local seen, pages = {}, 1
  for _, x in ipairs(l.executions) do seen[#seen + 1] = x.sid end
  while l.meta.next_page_url ~= json.null do
    local q = l.meta.next_page_url:match("%?(.*)$")
    s, l = a:req("GET", base, nil, { query = q })
    lu.assertEquals(s, 200)
    pages = pages + 1
    for _, x in ipairs(l.executions) do seen[#seen + 1] = x.sid end
  end
  lu.assertEquals(pages, 3)
  lu.assertEquals(#seen, 5)
  local set = {}
  for _, sid in ipairs(seen) do lu.assertNil(set[sid], "listed twice") set[sid] = true end
  -- previous_page_url leads back
  lu.assertStrContains(l.meta.previous_page_url, "Page=1")
  s, l = a:req("GET", base, nil, { query = "Status=ended" })
  lu.assertEquals(s, 200)
  lu.assertEquals(#l.executions, 1)
  lu.assertEquals(l.executions[1].sid, sids[2])
  lu.assertStrContains(l.meta.url, "Status=ended")
  s, l = a:req("GET", base, nil, { query = "Status=active" })
  lu.assertEquals(s, 200)
  lu.assertEquals(#l.executions, 4)
  s, l = a:req("GET", base, nil, { query = "DateCreatedFrom=2999-01-01T00:00:00Z" })
  lu.assertEquals(s, 200)
  lu.assertEquals(#l.executions, 0)
  s, l = a:req("GET", base, nil, { query = "DateCreatedTo=2000-01-01T00:00:00.000Z" })
  lu.assertEquals(s, 200)
  lu.assertEquals(#l.executions, 0)
  s, l = a:req("GET", base, nil, { query = "DateCreatedFrom=2000-01-01T00:00:00Z" })
  lu.assertEquals(s, 200)
  lu.assertEquals(#l.executions, 5)
  for _, q in ipairs{ "PageSize=0", "PageSize=1001", "PageSize=x", "Page=-1", "Status=waiting",
                      "DateCreatedFrom=yesterday", "Page=2", "PageToken=zzz" } do
    s = a:req("GET", base, nil, { query = q })
    lu.assertEquals(s, 400, q)
  end
end

-- ---- the webhook -----------------------------------------------------------------------------

TestServeWebhook = {}

function TestServeWebhook:tearDown() helper.cleanup() end

function TestServeWebhook:test_signatures_are_checked_over_the_public_url()
  local a = new_app()
  local f = a:flow()
  local path = "/v1/Accounts/" .. AC .. "/Flows/" .. f.sid
  local fields = message_fields("hi", "SM" .. string.rep("1", 32))
  lu.assertEquals(a:hook(path, fields, { no_signature = true }), 403)
  lu.assertEquals(a:hook(path, fields, { token = "wrong" }), 403)
  lu.assertEquals(a:hook(path, fields, { signed_url = "http://127.0.0.1:8080" }), 403, "signed for another URL")
  lu.assertEquals(#a.sent, 0, "nothing ran")
  local s, body, h = a:hook(path, fields)
  lu.assertEquals(s, 200)
  lu.assertEquals(h[1][2], "text/xml; charset=utf-8")
  lu.assertEquals(body, '<?xml version="1.0" encoding="UTF-8"?><Response></Response>')
  lu.assertEquals(a.sent[1].body, "Name? ()")
  -- HMAC-SHA256 when the Webhook Rules header says so
  lu.assertEquals(a:hook(path, message_fields("Ada", "SM" .. string.rep("2", 32)), { algorithm = "sha256" }), 200)
  lu.assertEquals(a.sent[2].body, "Hi Ada")
  -- another account's path
  lu.assertEquals(a:hook("/v1/Accounts/AC" .. string.rep("9", 32) .. "/Flows/" .. f.sid, fields), 404)
end

function TestServeWebhook:test_a_message_starts_then_a_reply_resumes_every_field_kept()
  local a = new_app()
  local f = a:flow()
  local path = "/v1/Accounts/" .. AC .. "/Flows/" .. f.sid
  a:hook(path, message_fields("hello", "SM" .. string.rep("a", 32), { { "FromCity", "OAKLAND" },
                                                                     { "NewFieldTwilioAdded", "kept" } }))
  local st = a.app.store
  local rows = st:list{ flow_sid = f.sid }
  lu.assertEquals(#rows, 1)
  local row = st:execution(rows[1].sid)
  local m = row.context.trigger.message
  lu.assertEquals(m.Body, "hello")
  lu.assertEquals(m.FromCity, "OAKLAND")
  lu.assertEquals(m.NewFieldTwilioAdded, "kept")
  lu.assertEquals(m.MessageSid, "SM" .. string.rep("a", 32))
  lu.assertEquals(rows[1].initiated_by, "SM" .. string.rep("a", 32))
  a:hook(path, message_fields("Ada", "SM" .. string.rep("b", 32), { { "FromState", "CA" } }))
  row = st:execution(rows[1].sid)
  lu.assertEquals(row.status, "ended")
  lu.assertEquals(row.context.widgets.ask.inbound.FromState, "CA")
  lu.assertEquals(a.sent[2].body, "Hi Ada")
end

-- An execution waiting for a reply is kept packed (rivulet.packed); what serve reads of it
-- in between (the create's answer, /metrics, the timers of each turn) leaves it so, and the
-- reply finds it as it was.
function TestServeWebhook:test_reads_leave_waiting_executions_packed()
  local packed = require "rivulet.packed"
  local a = new_app()
  a.app.engine.opts.pack_waiting = 0    -- packed as soon as they wait (engine.PACK_IDLE_S)
  local f = a:flow()
  local base = "/v2/Flows/" .. f.sid .. "/Executions"
  local s, x = a:req("POST", base, { { "To", FROM }, { "From", TO }, { "Parameters", '{"who":"Ada"}' } })
  lu.assertEquals(s, 201)
  lu.assertEquals(x.contact_channel_address, FROM)
  lu.assertEquals(x.status, "active")
  local path = "/v1/Accounts/" .. AC .. "/Flows/" .. f.sid
  a:hook(path, message_fields("hello", "SM" .. string.rep("a", 32), {}, "+15550002222"))
  local e = a.app.engine
  local n = 0
  for _, exec in pairs(e.active) do
    n = n + 1
    lu.assertTrue(packed.is_packed(exec), exec.sid)
  end
  lu.assertEquals(n, 2)
  local ms, text = a:req("GET", "/metrics")
  lu.assertEquals(ms, 200)
  lu.assertStrContains(text, 'rivulet_executions_waiting{flow="' .. f.sid .. '",wait="reply"} 2')
  lu.assertNotNil(e:next_deadline())
  a:req("GET", base)
  a:req("GET", base .. "/" .. x.sid)
  for _, exec in pairs(e.active) do lu.assertTrue(packed.is_packed(exec), exec.sid) end
  a:hook(path, message_fields("Bo", "SM" .. string.rep("b", 32), {}, "+15550002222"))
  lu.assertEquals(a.sent[#a.sent].body, "Hi Bo")
  lu.assertEquals(a.sent[#a.sent].to, "+15550002222")
  lu.assertTrue(packed.is_packed(e.active[x.sid]))
end

-- which revision runs is cached for serve.FLOW_CACHE_S: a change made through this process
-- is run at once, one made by another process sharing the store once the cache is older
function TestServeWebhook:test_a_new_revision_runs_at_once_here_and_soon_elsewhere()
  local db = helper.tmpdir() .. "/shared.db"
  local a = new_app{ store = db }
  local f = a:flow()
  local path = "/v1/Accounts/" .. AC .. "/Flows/" .. f.sid
  local function says(app, def_body, contact_n)
    local sid = string.format("SM%032x", contact_n)
    local fields = message_fields("hi", sid)
    for _, kv in ipairs(fields) do if kv[1] == "From" then kv[2] = string.format("+1555000%04d", contact_n) end end
    app:hook(path, fields)
    local m = app.sent[#app.sent]
    lu.assertStrContains(m and m.body or "(nothing sent)", def_body)
  end
  says(a, "Name?", 1)
  local changed = json.decode(json.encode(ASK))
  changed.states[2].properties.body = "Your name? ({{flow.data.who}})"
  local s = a:req("POST", "/v2/Flows/" .. f.sid, { { "Status", "published" }, { "Definition", json.encode(changed) } })
  lu.assertEquals(s, 200)
  says(a, "Your name?", 2)                                   -- here: at once
  -- another process (b) publishes a third revision; a sees it once its cache is older
  local b = new_app{ store = db }
  changed.states[2].properties.body = "Third: ({{flow.data.who}})"
  lu.assertEquals(b:req("POST", "/v2/Flows/" .. f.sid, { { "Status", "published" },
                                                          { "Definition", json.encode(changed) } }), 200)
  local keep = serve.FLOW_CACHE_S
  serve.FLOW_CACHE_S = 0
  local ok, err = pcall(says, a, "Third:", 3)
  serve.FLOW_CACHE_S = keep
  assert(ok, err)
end

function TestServeWebhook:test_twilios_retries_never_start_or_advance_twice()
  local a = new_app()
  local f = a:flow()
  local path = "/v1/Accounts/" .. AC .. "/Flows/" .. f.sid
  local first = message_fields("hello", "SM" .. string.rep("c", 32))
  lu.assertEquals(a:hook(path, first), 200)
  lu.assertEquals(a:hook(path, first), 200)
  lu.assertEquals(#a.sent, 1)
  local reply = message_fields("Ada", "SM" .. string.rep("d", 32))
  lu.assertEquals(a:hook(path, reply), 200)
  lu.assertEquals(a:hook(path, reply), 200)
  lu.assertEquals(#a.sent, 2)
  -- a new message after the end starts a new execution
  lu.assertEquals(a:hook(path, message_fields("again", "SM" .. string.rep("e", 32))), 200)
  lu.assertEquals(#a.app.store:list{ flow_sid = f.sid }, 2)
end

function TestServeWebhook:test_an_incoming_call_starts_with_its_fields()
  local a = new_app()
  local f = a:flow()
  local path = "/v1/Accounts/" .. AC .. "/Flows/" .. f.sid
  local s = a:hook(path, { { "CallSid", "CA" .. string.rep("1", 32) }, { "AccountSid", AC }, { "From", FROM },
                           { "To", TO }, { "CallStatus", "ringing" }, { "Direction", "inbound" },
                           { "CallerName", "Ada" }, { "ApiVersion", "2010-04-01" } })
  -- ASK texts the caller and waits for a reply: nothing to say on the call, so the call's
  -- webhook is held (spec/test_serve_voice.lua answers calls)
  lu.assertEquals(s, serve.PENDING)
  local row = a.app.store:execution(a.app.store:list{ flow_sid = f.sid }[1].sid)
  lu.assertEquals(row.trigger_event, "incomingCall")
  lu.assertEquals(row.context.trigger.call.CallerName, "Ada")
  lu.assertEquals(row.context.trigger.call.AccountSid, AC)
  lu.assertEquals(row.initiated_by, "CA" .. string.rep("1", 32))
end

function TestServeWebhook:test_bad_webhook_bodies_are_400_never_a_crash()
  local a = new_app()
  local f = a:flow()
  local path = "/v1/Accounts/" .. AC .. "/Flows/" .. f.sid
  lu.assertEquals(a:hook(path, { { "Body", "no sid" } }), 400)
  lu.assertEquals(a:hook("/v1/Accounts/" .. AC .. "/Flows/FW" .. string.rep("0", 32),
    message_fields("x", "SM" .. string.rep("f", 32))), 404)
  lu.assertEquals(a:hook(path .. "/MessageStatus", { { "MessageSid", "SM1" } }), 400)
end

-- The webhook answers Twilio before the steps run. A process that stops in between (here:
-- the app is dropped before its jobs run) acts on the message when it starts again: the
-- event was kept with what it said, and it is acted on once.
function TestServeWebhook:test_a_message_answered_before_a_stop_is_acted_on_after_it()
  local db = helper.tmpdir() .. "/serve.db"
  local a = new_app{ store = db }
  local f = a:flow()
  local path = "/v1/Accounts/" .. AC .. "/Flows/" .. f.sid
  local fields = message_fields("hello", "SM" .. string.rep("7", 32))
  lu.assertEquals(a:hook(path, fields, { run_jobs = false }), 200)
  lu.assertEquals(#a.sent, 0, "answered, not acted on yet")
  a.app.store:close()
  local b = new_app{ store = db }
  lu.assertEquals(b.app:replay(), 1)
  b.app:run_jobs()
  lu.assertEquals(#b.sent, 1)
  lu.assertEquals(b.sent[1].body, "Name? ()")
  lu.assertEquals(b.app:replay(), 0, "acted on once")
  lu.assertEquals(b:hook(path, fields), 200, "Twilio's retry")
  lu.assertEquals(#b.sent, 1)
  lu.assertEquals(#b.app.store:list{ flow_sid = f.sid }, 1)
end

-- the API's date-time fields: ISO 8601 in UTC, to the second (the last second's text is
-- kept: each call must still give its own second's)
TestServeResources = {}

function TestServeResources:test_dates_are_each_their_own_second()
  local resources = require "rivulet.serve.resources"
  lu.assertEquals(resources.date(0), "1970-01-01T00:00:00Z")
  lu.assertEquals(resources.date(0.999), "1970-01-01T00:00:00Z")
  lu.assertEquals(resources.date(1), "1970-01-01T00:00:01Z")
  lu.assertEquals(resources.date(1438286400), "2015-07-30T20:00:00Z")
  lu.assertEquals(resources.date(1438286400.5), "2015-07-30T20:00:00Z")
  lu.assertEquals(resources.date(0), "1970-01-01T00:00:00Z")
  lu.assertNil(resources.date(nil))
  lu.assertNil(resources.date("1438286400"))
end
