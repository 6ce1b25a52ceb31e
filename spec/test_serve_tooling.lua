-- The test tooling for rivulet serve (spec/serve/, spec/serve_helper.lua), proved against
-- Prism's mock of Studio's OpenAPI description and against the fakes; no rivulet serve yet.
--
-- Skipped (reason printed) when node is missing or npm cannot reach its registry to install
-- the pinned packages; fails when an install breaks otherwise. Each class starts its node
-- processes once, on first use, and stops them in teardownClass (and, failing that, when
-- this process ends: their stdin is a pipe from it).

local lu = require "luaunit"
local serve = require "spec.serve_helper"
local helper = require "spec.helper"
local core = require "rivulet.core"

local AC = serve.ACCOUNT_SID
local TOKEN = serve.TOKEN
local FW = "FW" .. ("a"):rep(32)   -- the SIDs of the spec's examples, which Prism's mock answers
local FN = "FN" .. ("a"):rep(32)
local FT = "FT" .. ("a"):rep(32)
local DEFINITION = { description = "t", states = { { name = "Trigger", type = "trigger",
  transitions = {}, properties = { offset = { x = 0, y = 0 } } } }, initial_state = "Trigger",
  flags = { allow_concurrent_calls = true } }

-- Objects a class started, stopped by its teardownClass.
local function class_state()
  local st = {}
  function st.keep(obj, err)
    if not obj then lu.fail(err) end
    st[#st + 1] = obj
    return obj
  end
  function st.stop()
    for i = #st, 1, -1 do
      local ok, err = pcall(st[i].stop, st[i]) -- LuaUnit 3.4 cannot report an error raised here
      if not ok then io.stderr:write("spec/test_serve_tooling.lua: stop: ", tostring(err), "\n") end
      st[i] = nil
    end
  end
  return st
end

local NULL = require("rivulet.json").null

-- A port with nothing listening (bound, then released).
local function closed_port()
  local code, out = helper.exec({ serve.node, "-e",
    'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})' })
  assert(code == 0)
  return tonumber(out)
end

local function sid_like(prefix, s)
  return type(s) == "string" and s:match("^" .. prefix .. "%x+$") ~= nil and #s == 34
end

local function one_http(a, method, status)
  lu.assertEquals(#a.http, 1, "one request")
  lu.assertEquals(a.http[1].method, method)
  lu.assertEquals(a.http[1].status, status)
end

-- ---- installing -----------------------------------------------------------------------------

TestServeToolingInstall = {}

function TestServeToolingInstall:test_install_is_quiet_when_present()
  serve.need()
  local code, out, err = helper.exec({ "sh", serve.install_script })
  lu.assertEquals(code, 0)
  lu.assertEquals(out .. err, "")
  lu.assertEquals(helper.exec({ "sh", serve.install_script, "--check" }), 0)
end

-- npm offline: the install says so, and why, and the specs skip instead of failing. A copy of
-- the script and the package files in a temporary tree, npm pointed at a closed port on
-- 127.0.0.1 (so it runs under OFFLINE=1 too: RIVULET_OFFLINE is cleared for the script).
function TestServeToolingInstall:test_offline_install_gives_a_reason_to_skip()
  serve.need()
  local tmp = helper.tmpdir()
  assert(os.execute("mkdir -p " .. helper.quote(tmp .. "/scripts") .. " " .. helper.quote(tmp .. "/spec/serve")))
  helper.write_file(tmp .. "/scripts/serve-tooling.sh", assert(helper.read_file(serve.install_script)))
  helper.write_file(tmp .. "/scripts/npm-install.sh", assert(helper.read_file(serve.root .. "/scripts/npm-install.sh")))
  for _, f in ipairs{ "package.json", "package-lock.json" } do
    helper.write_file(tmp .. "/spec/serve/" .. f, assert(helper.read_file(serve.dir .. "/" .. f)))
  end
  local ok, why, kind = serve.install(tmp .. "/scripts/serve-tooling.sh", {
    npm_config_registry = "http://127.0.0.1:" .. closed_port() .. "/", npm_config_cache = tmp .. "/cache",
    RIVULET_OFFLINE = "" })
  helper.rmtree(tmp)
  lu.assertNil(ok)
  lu.assertEquals(kind, "offline")
  lu.assertStrContains(why, "npm could not reach its registry")
  lu.assertStrContains(why, "ECONNREFUSED")                     -- npm's own reason
  lu.assertStrContains(why, "run sh scripts/serve-tooling.sh again when online")
end

function TestServeToolingInstall:test_client_one_command_on_its_command_line()
  serve.need()
  local code, out = helper.exec({ serve.node, serve.dir .. "/client.js", "http://127.0.0.1:9", AC,
    TOKEN, '{"id":7,"op":"version"}' })
  lu.assertEquals(code, 0)
  local a = require("rivulet.json").decode(out)
  lu.assertEquals(a.id, 7)
  lu.assertTrue(a.ok)
  lu.assertEquals(a.result.twilio, "5.13.1")
end

-- Any program, e.g. rivulet serve later: a shell script that prints a non-JSON ready line.
function TestServeToolingInstall:test_spawn_any_program()
  serve.need()
  local p = assert(serve.spawn{ argv = { "sh", "-c", "echo 'x: listening on http://127.0.0.1:1'; " ..
      "echo '{\"a\":1}'; echo later; exec sleep 30" },
    ready = function(e) return (e.line or ""):match("listening on") end })
  lu.assertEquals(p.ready.line:match("listening on (http://%S+)"), "http://127.0.0.1:1")
  lu.assertEquals(p:wait_line("^lat"), "later")
  lu.assertNil(p:wait_line("^lat", 0.2, 3)) -- no later "later" within 0.2 s
  lu.assertEquals(p:lines(), { "x: listening on http://127.0.0.1:1", '{"a":1}', "later" })
  lu.assertTrue(p:alive())
  p:stop()
  lu.assertFalse(p:alive())
end

-- ---- twilio-node against Prism's mock of Studio v2 -------------------------------------------

local mock = class_state()
local mock_prism, mock_client

local function need_mock()
  serve.need()
  if not mock_client then
    mock_prism = mock.keep(serve.prism{ mode = "mock" })
    mock_client = mock.keep(serve.client{ base_url = mock_prism.url, account_sid = AC, auth_token = TOKEN })
  end
  return mock_client, mock_prism
end

TestServeToolingClient = { teardownClass = mock.stop }

function TestServeToolingClient:test_flows()
  local c, prism = need_mock()
  local a = c:call("flows.create", { friendlyName = "t", status = "draft", definition = DEFINITION,
    commitMessage = "first" })
  lu.assertTrue(a.ok, require("rivulet.json").encode(a.error))
  one_http(a, "POST", 201)
  lu.assertEquals(a.http[1].url, prism.url .. "/v2/Flows")
  lu.assertTrue(sid_like("FW", a.result.sid))
  lu.assertEquals(a.result.status, "published")       -- the spec's example, whatever was sent
  lu.assertEquals(a.result.dateCreated, "2017-11-06T12:00:00.000Z") -- parsed into a Date

  a = c:call("flows.fetch", { sid = FW })
  one_http(a, "GET", 200)
  lu.assertEquals(a.result.sid, FW)
  lu.assertEquals(a.http[1].url, prism.url .. "/v2/Flows/" .. FW)

  a = c:call("flows.update", { sid = FW, status = "published", commitMessage = "second" })
  one_http(a, "POST", 200)
  lu.assertEquals(a.result.revision, 1)

  a = c:call("flows.list", { limit = 5 })
  one_http(a, "GET", 200)
  lu.assertEquals(#a.result, 1)
  lu.assertEquals(a.result[1].sid, FW)

  a = c:call("flows.page", { pageSize = 2 })
  lu.assertTrue(a.ok)
  lu.assertEquals(a.result.meta.key, "flows")
  lu.assertEquals(a.http[1].url, prism.url .. "/v2/Flows?PageSize=2")

  a = c:call("flows.remove", { sid = FW })
  one_http(a, "DELETE", 204)
  lu.assertTrue(a.result)

  a = c:call("flowValidate.update", { friendlyName = "t", status = "draft", definition = DEFINITION })
  one_http(a, "POST", 200)
  lu.assertEquals(a.result, { valid = true })
end

function TestServeToolingClient:test_revisions_and_test_users()
  local c = need_mock()
  local a = c:call("revisions.list", { flowSid = FW })
  one_http(a, "GET", 200)
  lu.assertEquals(a.result[1].revision, 1)
  a = c:call("revisions.fetch", { flowSid = FW, revision = "LatestPublished" })
  one_http(a, "GET", 200)
  lu.assertStrContains(a.http[1].url, "/Revisions/LatestPublished")
  a = c:call("testUsers.fetch", { flowSid = FW })
  one_http(a, "GET", 200)
  lu.assertEquals(a.result.testUsers, { "user1", "user2" })
  -- twilio-node sends TestUsers=a&TestUsers=b; Prism accepts it thanks to prism.js's fix
  a = c:call("testUsers.update", { flowSid = FW, testUsers = { "+15550001111", "+15550002222" } })
  one_http(a, "POST", 200)
end

function TestServeToolingClient:test_executions_steps_contexts()
  local c = need_mock()
  local a = c:call("executions.create", { flowSid = FW, to = "+15550001111", from = "+15559990000",
    parameters = { a = 1 } })
  one_http(a, "POST", 201)
  lu.assertTrue(sid_like("FN", a.result.sid))
  lu.assertEquals(a.result.status, "active")

  a = c:call("executions.list", { flowSid = FW, dateCreatedFrom = "2020-01-01T00:00:00Z", pageSize = 10 })
  one_http(a, "GET", 200)
  lu.assertStrContains(a.http[1].url, "DateCreatedFrom=2020-01-01T00%3A00%3A00Z")
  -- twilio-node has no `status` filter: a page by URL carries it
  a = c:call("executions.page", { flowSid = FW, url = "/v2/Flows/" .. FW .. "/Executions?status=ended" })
  one_http(a, "GET", 200)
  lu.assertEquals(a.result.meta.key, "executions")

  for _, case in ipairs{
    { "executions.fetch", { flowSid = FW, sid = FN }, "GET", 200 },
    { "executions.update", { flowSid = FW, sid = FN, status = "ended" }, "POST", 200 },
    { "executionContext.fetch", { flowSid = FW, executionSid = FN }, "GET", 200 },
    { "steps.list", { flowSid = FW, executionSid = FN }, "GET", 200 },
    { "steps.fetch", { flowSid = FW, executionSid = FN, sid = FT }, "GET", 200 },
    { "stepContext.fetch", { flowSid = FW, executionSid = FN, stepSid = FT }, "GET", 200 },
    { "executions.remove", { flowSid = FW, sid = FN }, "DELETE", 204 },
  } do
    a = c:call(case[1], case[2])
    lu.assertTrue(a.ok, case[1])
    one_http(a, case[3], case[4])
  end
  a = c:call("steps.fetch", { flowSid = FW, executionSid = FN, sid = FT })
  lu.assertEquals(a.result.transitionedTo, "Ended")
  a = c:call("stepContext.fetch", { flowSid = FW, executionSid = FN, stepSid = FT })
  lu.assertEquals(a.result.stepSid, FT)
end

function TestServeToolingClient:test_errors_are_reported_not_raised()
  local c = need_mock()
  local a = c:call("flows.create", { friendlyName = "no status" })   -- twilio-node refuses
  lu.assertFalse(a.ok)
  lu.assertEquals(a.error.kind, "client")
  lu.assertStrContains(a.error.message, "status")
  lu.assertEquals(#a.http, 0)
  a = c:call("no.such.op", {})
  lu.assertFalse(a.ok)
  lu.assertStrContains(a.error.message, "unknown op")
  -- a server that is not there: the client answers, with the transport's error
  a = c:call("flows.fetch", { sid = FW }, { base_url = "http://127.0.0.1:" .. closed_port() })
  lu.assertFalse(a.ok)
  lu.assertEquals(a.error.kind, "client")
  lu.assertEquals(a.error.code, "ECONNREFUSED")
end

function TestServeToolingClient:test_twilio_6_as_well()
  local _, prism = need_mock()
  local c6 = mock.keep(serve.client{ base_url = prism.url, lib = "twilio-6" })
  lu.assertEquals(c6.version, "6.3.1")
  local a = c6:call("executions.fetch", { flowSid = FW, sid = FN })
  lu.assertTrue(a.ok)
  lu.assertEquals(a.result.sid, FN)
end

-- ---- paging and the guard against leaving the server under test -----------------------------

local paging = class_state()
local paging_fake, paging_client

local function need_paging()
  serve.need()
  if not paging_client then
    paging_fake = paging.keep(serve.fake_twilio{})
    paging_client = paging.keep(serve.client{ base_url = paging_fake.url })
  end
  return paging_client, paging_fake
end

TestServeToolingPaging = { teardownClass = paging.stop }

local function flows_page(base, sids, next_url)
  local flows = {}
  for i, s in ipairs(sids) do
    flows[i] = { sid = s, account_sid = AC, friendly_name = "f" .. i, status = "draft", revision = 1,
                 date_created = "2026-01-02T03:04:05Z", url = base .. "/v2/Flows/" .. s }
  end
  return { flows = flows, meta = { key = "flows", page = 0, page_size = #sids, url = base .. "/v2/Flows",
    first_page_url = base .. "/v2/Flows", previous_page_url = NULL,
    next_page_url = next_url or NULL } }
end

function TestServeToolingPaging:test_list_follows_next_page_url()
  local c, fake = need_paging()
  fake:reset()
  local s1, s2 = "FW" .. ("1"):rep(32), "FW" .. ("2"):rep(32)
  fake:route{ method = "GET", path = "/v2/Flows", times = 1,
              json = flows_page(fake.url, { s1 }, fake.url .. "/v2/Flows/page2") }
  fake:route{ method = "GET", path = "/v2/Flows/page2", times = 1, json = flows_page(fake.url, { s2 }) }
  local a = c:call("flows.list", {})
  lu.assertTrue(a.ok)
  lu.assertEquals({ a.result[1].sid, a.result[2].sid }, { s1, s2 })
  lu.assertEquals(#a.http, 2)
  lu.assertEquals(a.http[2].url, fake.url .. "/v2/Flows/page2")
end

function TestServeToolingPaging:test_a_url_outside_the_server_is_refused()
  local c, fake = need_paging()
  fake:reset()
  fake:route{ method = "GET", path = "/v2/Flows", times = 1,
              json = flows_page(fake.url, { "FW" .. ("1"):rep(32) }, "https://studio.twilio.com/v2/Flows?Page=1") }
  local a = c:call("flows.list", {})
  lu.assertFalse(a.ok)
  lu.assertEquals(a.error.kind, "left_local")
  lu.assertStrContains(a.error.message, "https://studio.twilio.com/v2/Flows?Page=1")
  lu.assertEquals(#a.http, 2)
  lu.assertEquals(a.http[2].status, NULL) -- never sent
end

-- ---- the fake Messages API, with twilio-node as its client ---------------------------------

local fk = class_state()
local fake, fclient

local function need_fake()
  serve.need()
  if not fclient then
    fake = fk.keep(serve.fake_twilio{ account_sid = AC, auth_token = TOKEN })
    fclient = fk.keep(serve.client{ base_url = fake.url, account_sid = AC, auth_token = TOKEN })
  end
  return fclient, fake
end

TestServeToolingFakeTwilio = { teardownClass = fk.stop }

function TestServeToolingFakeTwilio:test_message_created_and_recorded()
  local c, f = need_fake()
  local mark = f:mark()
  local a = c:call("messages.create", { to = "+15550001111", from = "+15559990000", body = "hi there",
    statusCallback = "http://127.0.0.1:9/status" })
  lu.assertTrue(a.ok)
  one_http(a, "POST", 201)
  lu.assertTrue(sid_like("SM", a.result.sid))
  lu.assertEquals(a.result.status, "queued")
  lu.assertEquals(a.result.accountSid, AC)
  lu.assertEquals(a.result.body, "hi there")
  lu.assertEquals(a.result.numMedia, "0")
  lu.assertStrMatches(a.result.dateCreated, "%d+%-%d+%-%d+T.*Z") -- RFC 2822, parsed by twilio-node

  local reqs = f:requests(mark)
  lu.assertEquals(#reqs, 1)
  local r = reqs[1]
  lu.assertEquals(r.method, "POST")
  lu.assertEquals(r.path, "/2010-04-01/Accounts/" .. AC .. "/Messages.json")
  lu.assertEquals(r.params, { To = "+15550001111", From = "+15559990000", Body = "hi there",
    StatusCallback = "http://127.0.0.1:9/status" })
  lu.assertEquals(r.auth, { username = AC, password_ok = true })
  lu.assertEquals(r.answer.status, 201)
  lu.assertEquals(r.answer.sid, a.result.sid)

  a = c:call("messages.fetch", { sid = a.result.sid })
  one_http(a, "GET", 200)
  lu.assertEquals(a.result.to, "+15550001111")
end

function TestServeToolingFakeTwilio:test_media_urls_repeat()
  local c, f = need_fake()
  local mark = f:mark()
  local a = c:call("messages.create", { to = "+15550001111", from = "+15559990000",
    mediaUrl = { "https://example.com/a.jpg", "https://example.com/b.png" } })
  lu.assertTrue(a.ok)
  lu.assertTrue(sid_like("MM", a.result.sid))
  lu.assertEquals(a.result.numMedia, "2")
  lu.assertEquals(f:requests(mark)[1].params.MediaUrl, { "https://example.com/a.jpg", "https://example.com/b.png" })
end

function TestServeToolingFakeTwilio:test_credentials_are_checked()
  local c = need_fake()
  local a = c:call("messages.create", { to = "+15550001111", from = "+15559990000", body = "x" },
    { as = { username = AC, password = "wrong" } })
  lu.assertFalse(a.ok)
  lu.assertEquals(a.error, { kind = "rest", status = 401, code = 20003, message = "Authenticate",
    moreInfo = "https://www.twilio.com/docs/errors/20003", details = NULL })
end

function TestServeToolingFakeTwilio:test_told_to_fail_once_then_succeeds()
  local c, f = need_fake()
  f:fail{ preset = "invalid_to", match = { resource = "Messages" } }
  local a = c:call("messages.create", { to = "+1", from = "+15559990000", body = "x" })
  lu.assertFalse(a.ok)
  lu.assertEquals(a.error.status, 400)
  lu.assertEquals(a.error.code, 21211)
  lu.assertEquals(a.error.moreInfo, "https://www.twilio.com/docs/errors/21211")
  lu.assertStrContains(a.error.message, "not a valid phone number")
  a = c:call("messages.create", { to = "+15550001111", from = "+15559990000", body = "x" })
  lu.assertTrue(a.ok)

  f:fail{ status = 500, times = 2 }
  for _ = 1, 2 do
    a = c:call("messages.create", { to = "+15550001111", from = "+15559990000", body = "x" })
    lu.assertEquals(a.error.status, 500)
    lu.assertEquals(a.error.code, 20500)
  end
  lu.assertTrue(c:call("messages.create", { to = "+15550001111", from = "+15559990000", body = "x" }).ok)
end

function TestServeToolingFakeTwilio:test_reset_connection()
  local c, f = need_fake()
  f:fail{ mode = "reset" }
  local a = c:call("messages.create", { to = "+15550001111", from = "+15559990000", body = "x" })
  lu.assertFalse(a.ok)
  lu.assertEquals(a.error.kind, "client")
  lu.assertEquals(a.error.code, "ECONNRESET")
  lu.assertTrue(f:requests()[#f:requests()].answer.reset)
end

function TestServeToolingFakeTwilio:test_slow_answer_runs_into_the_clients_timeout()
  local _, f = need_fake()
  local quick = fk.keep(serve.client{ base_url = f.url, timeout_ms = 300 })
  f:fail{ mode = "slow", delay_ms = 3000 }
  local t0 = core.monotonic()
  local a = quick:call("messages.create", { to = "+15550001111", from = "+15559990000", body = "x" })
  lu.assertFalse(a.ok)
  lu.assertEquals(a.error.code, "ECONNABORTED")
  lu.assertTrue(core.monotonic() - t0 < 3, "gave up at its 300 ms timeout, before the 3 s answer")

  local mark = f:mark()
  f:fail{ mode = "hang" }
  a = quick:call("messages.create", { to = "+15550001111", from = "+15559990000", body = "x" })
  lu.assertEquals(a.error.code, "ECONNABORTED")
  lu.assertTrue(f:requests(mark)[1].answer.hang)
end

function TestServeToolingFakeTwilio:test_required_fields_as_twilio_checks_them()
  local c, f = need_fake()
  local a = c:call("http", { method = "POST", url = "/2010-04-01/Accounts/" .. AC .. "/Messages.json",
    form = { From = "+15559990000", Body = "x" }, auth = true })
  lu.assertEquals(a.result.status, 400)
  lu.assertEquals(a.result.json.code, 21604)
  a = c:call("http", { method = "POST", url = "/2010-04-01/Accounts/" .. AC .. "/Messages.json",
    form = { To = "+15550001111", From = "+15559990000" }, auth = true })
  lu.assertEquals(a.result.json.code, 21602)
  a = c:call("http", { url = "/_requests" })
  lu.assertEquals(a.result.status, 200)
  lu.assertEquals(#a.result.json, #f:requests())
end

function TestServeToolingFakeTwilio:test_calls()
  local c, f = need_fake()
  local mark = f:mark()
  local a = c:call("calls.create", { to = "+15550001111", from = "+15559990000",
    twiml = "<Response><Say>hi</Say></Response>" })
  lu.assertTrue(a.ok)
  one_http(a, "POST", 201)
  lu.assertTrue(sid_like("CA", a.result.sid))
  lu.assertEquals(a.result.status, "queued")
  lu.assertEquals(f:requests(mark)[1].resource, "Calls")
  lu.assertEquals(c:call("calls.fetch", { sid = a.result.sid }).result.sid, a.result.sid)
end

function TestServeToolingFakeTwilio:test_status_callback_is_signed()
  local c, f = need_fake()
  f:route{ method = "POST", path = "/status", status = 200, body = "" }
  local mark = f:mark()
  local a = c:call("messages.create", { to = "+15550001111", from = "+15559990000", body = "x",
    statusCallback = f.url .. "/status" })
  local ack = f:deliver{ sid = a.result.sid, status = "undelivered", error_code = 30003 }
  lu.assertEquals(ack.callback.http_status, 200)
  local reqs = f:requests(mark)
  local cb = reqs[#reqs]
  lu.assertEquals(cb.path, "/status")
  lu.assertEquals(cb.params.MessageSid, a.result.sid)
  lu.assertEquals(cb.params.MessageStatus, "undelivered")
  lu.assertEquals(cb.params.ErrorCode, "30003")
  lu.assertEquals(cb.headers["x-twilio-signature"], ack.callback.signature)
  -- twilio-node's own validator agrees
  local v = c:run("validateRequest", { authToken = TOKEN, signature = cb.headers["x-twilio-signature"],
    url = f.url .. "/status", params = cb.params })
  lu.assertTrue(v)
  lu.assertFalse(c:run("validateRequest", { authToken = "other", signature = cb.headers["x-twilio-signature"],
    url = f.url .. "/status", params = cb.params }))
  lu.assertEquals(c:run("messages.fetch", { sid = a.result.sid }).status, "undelivered")
  local cbs = f:callbacks()
  lu.assertEquals(cbs[#cbs].sid, a.result.sid)
  lu.assertEquals(cbs[#cbs].http_status, 200)
  -- the same record over HTTP, from a sequence number on
  local since = c:call("http", { url = "/_requests?since=" .. (cb.seq - 1) }).result.json
  lu.assertEquals(#since, 2)               -- the callback, then messages.fetch
  lu.assertEquals(since[1].path, "/status")
  lu.assertEquals(since[1].seq, cb.seq)
end

function TestServeToolingFakeTwilio:test_auto_status_callbacks()
  local c, f = need_fake()
  f:route{ method = "POST", path = "/auto", status = 204, body = "" }
  f:auto_status{ "sent", "delivered" }
  local mark = f:mark()
  local a = c:call("messages.create", { to = "+15550001111", from = "+15559990000", body = "x",
    statusCallback = f.url .. "/auto" })
  f:auto_status{}
  local reqs = assert(f:wait_requests(3, mark))
  lu.assertEquals(reqs[2].params.MessageStatus, "sent")
  lu.assertEquals(reqs[3].params.MessageStatus, "delivered")
  lu.assertEquals(reqs[3].params.MessageSid, a.result.sid)
end

-- ---- Prism as a validating proxy -------------------------------------------------------------

local px = class_state()
local pfake, pproxy, pclient, praw, papi
local API_PATHS = "^/2010-04-01/Accounts/\\{AccountSid\\}/(Messages|Calls)(/\\{Sid\\})?\\.json$"

local EXEC_GOOD = { sid = FN, account_sid = AC, flow_sid = FW, contact_channel_address = "+15550001111",
  contact_sid = "FC" .. ("a"):rep(32), flow_version = 1, context = {}, status = "active",
  date_created = "2026-01-02T03:04:05Z", date_updated = "2026-01-02T03:04:05Z", initiated_by = "x",
  url = "http://127.0.0.1/v2/Flows/" .. FW .. "/Executions/" .. FN,
  links = { steps = "http://127.0.0.1/s", execution_context = "http://127.0.0.1/c" } }

local function copy(t, changes)
  local out = {}
  for k, v in pairs(t) do out[k] = v end
  for k, v in pairs(changes or {}) do out[k] = v end
  return out
end

-- Three Prisms in front of one fake, started side by side: Studio v2 (fixed spec, --errors),
-- Studio v2 as published without --errors, and the 2010-04-01 Messages and Calls.
local function need_proxy()
  serve.need()
  if not pclient then
    pfake = px.keep(serve.fake_twilio{})
    local a = px.keep(serve.prism{ mode = "proxy", upstream = pfake.url, wait = false })
    local b = px.keep(serve.prism{ mode = "proxy", upstream = pfake.url, as_is = true, errors = false,
                                   wait = false })
    local c = px.keep(serve.prism{ mode = "proxy", spec = serve.api_spec, upstream = pfake.url,
                                   only = API_PATHS, wait = false })
    pproxy, praw, papi = px.keep(a:await()), px.keep(b:await()), px.keep(c:await())
    pclient = px.keep(serve.client{ base_url = pproxy.url })
  end
  return pclient, pproxy, pfake
end

local function exec_path() return "/v2/Flows/" .. FW .. "/Executions/" .. FN end

TestServeToolingProxy = { teardownClass = px.stop }

function TestServeToolingProxy:test_a_correct_answer_has_no_violation()
  local c, prism, f = need_proxy()
  f:route{ method = "GET", path = exec_path(), json = EXEC_GOOD, times = 1 }
  local mark = prism:mark()
  local a = c:call("executions.fetch", { flowSid = FW, sid = FN })
  lu.assertTrue(a.ok)
  lu.assertEquals(a.result.flowVersion, 1)
  lu.assertEquals(prism:count(mark), 0, serve.describe_violations(prism:violations(mark)))
  lu.assertEquals(#prism:exchanges(mark), 1)
end

function TestServeToolingProxy:test_a_wrong_field_type_is_a_violation()
  local c, prism, f = need_proxy()
  f:route{ method = "GET", path = exec_path(), json = copy(EXEC_GOOD, { flow_version = "1" }), times = 1 }
  local mark = prism:mark()
  local a = c:call("executions.fetch", { flowSid = FW, sid = FN })
  -- with --errors Prism answers 500 in the upstream's place
  lu.assertFalse(a.ok)
  lu.assertEquals(a.error.status, 500)
  lu.assertStrContains(a.http[1].prism.type, "VIOLATIONS")
  local v = prism:violations(mark)
  lu.assertEquals(#v, 1)
  lu.assertEquals(v[1].location, { "response", "body", "flow_version" })
  lu.assertEquals(v[1].code, "type")
  lu.assertEquals(v[1].status, 500)
  lu.assertEquals(a.http[1].violations[1].code, "type") -- the same list reaches the client
end

function TestServeToolingProxy:test_an_untyped_nullable_schema_is_validated()
  -- execution context: {context: {nullable: true}} made Prism skip the whole schema
  local c, prism, f = need_proxy()
  f:route{ method = "GET", path = exec_path() .. "/Context", times = 1,
           json = { account_sid = AC, context = {}, flow_sid = FW, execution_sid = 42, url = "not a url" } }
  local mark = prism:mark()
  lu.assertFalse(c:call("executionContext.fetch", { flowSid = FW, executionSid = FN }).ok)
  lu.assertEquals(prism:count(mark), 2, serve.describe_violations(prism:violations(mark)))
end

function TestServeToolingProxy:test_an_invalid_request_never_reaches_the_upstream()
  local c, prism, f = need_proxy()
  local fmark, mark = f:mark(), prism:mark()
  local a = c:call("http", { method = "POST", url = "/v2/Flows/" .. FW .. "/TestUsers", form = { Other = "x" },
    auth = true })
  lu.assertEquals(a.result.status, 422)
  a = c:call("http", { url = "/v2/Flows/" .. FW })            -- no Authorization header
  lu.assertEquals(a.result.status, 401)
  a = c:call("http", { method = "POST", url = "/v1/Accounts/" .. AC .. "/Flows/" .. FW, auth = true })
  lu.assertEquals(a.result.status, 404)                       -- webhooks are not in the spec
  local v = prism:violations(mark)
  lu.assertEquals(#v, 3, serve.describe_violations(v))
  lu.assertStrContains(v[1].message, "required property 'TestUsers'")
  lu.assertEquals(v[2].code, "UNAUTHORIZED")
  lu.assertEquals(v[3].code, "NO_PATH_MATCHED_ERROR")
  lu.assertEquals(#f:requests(fmark), 0)
end

function TestServeToolingProxy:test_repeated_form_names_are_an_array()
  local c, prism, f = need_proxy()
  f:route{ method = "POST", path = "/v2/Flows/" .. FW .. "/TestUsers", times = 1,
           json = { sid = FW, test_users = { "a", "b" }, url = "http://127.0.0.1/v2/Flows/" .. FW .. "/TestUsers" } }
  local mark = prism:mark()
  local a = c:call("testUsers.update", { flowSid = FW, testUsers = { "a", "b" } })
  lu.assertTrue(a.ok)
  lu.assertEquals(a.result.testUsers, { "a", "b" })
  lu.assertEquals(prism:count(mark), 0, serve.describe_violations(prism:violations(mark)))
  local r = f:requests()
  lu.assertEquals(r[#r].params.TestUsers, { "a", "b" })
end

function TestServeToolingProxy:test_as_is_and_without_errors()
  -- Prism on the unchanged spec, violations reported but not enforced: the wrong execution
  -- passes unseen (its schema does not compile), the wrong test users are reported and
  -- still reach the client.
  local c, _, f = need_proxy()
  local raw = praw
  f:route{ method = "GET", path = exec_path(), json = copy(EXEC_GOOD, { flow_version = "1" }), times = 1 }
  f:route{ method = "GET", path = "/v2/Flows/" .. FW .. "/TestUsers", times = 1,
           json = { sid = FW, test_users = "a", url = "http://127.0.0.1/x" } }
  local mark = raw:mark()
  local a = c:call("executions.fetch", { flowSid = FW, sid = FN }, { base_url = raw.url })
  lu.assertTrue(a.ok)
  lu.assertEquals(raw:count(mark), 0)
  a = c:call("testUsers.fetch", { flowSid = FW }, { base_url = raw.url })
  lu.assertTrue(a.ok)
  lu.assertEquals(a.result.testUsers, "a")
  local v = raw:violations(mark)
  lu.assertEquals(#v, 1, serve.describe_violations(v))
  lu.assertEquals(v[1].location, { "response", "body", "test_users" })
  lu.assertEquals(v[1].status, 200)
end

-- The fake's Message and Call resources through Prism, against twilio_api_v2010.json.
function TestServeToolingProxy:test_fake_messages_conform_to_the_2010_description()
  need_proxy()
  local api = papi
  local mark = api:mark()
  local ac = px.keep(serve.client{ base_url = api.url, account_sid = serve.ACCOUNT_SID })
  lu.assertTrue(ac:call("messages.create", { to = "+15550001111", from = "+15559990000", body = "x",
    mediaUrl = { "https://example.com/a.jpg", "https://example.com/b.jpg" } }).ok)
  local m = ac:call("messages.create", { to = "+15550001111", from = "+15559990000", body = "y" })
  lu.assertTrue(m.ok)
  lu.assertTrue(ac:call("messages.fetch", { sid = m.result.sid }).ok)
  lu.assertTrue(ac:call("calls.create", { to = "+15550001111", from = "+15559990000", url = "https://example.com/t" }).ok)
  lu.assertEquals(#api:exchanges(mark), 4)
  lu.assertEquals(api:count(mark), 0, serve.describe_violations(api:violations(mark)))
end

-- ---- signatures and signed webhooks -----------------------------------------------------------

local wh = class_state()
local wfake, wclient

local function need_webhook()
  serve.need()
  if not wclient then
    wfake = wh.keep(serve.fake_twilio{})
    wclient = wh.keep(serve.client{ base_url = wfake.url })
  end
  return wclient, wfake
end

TestServeToolingSignatures = { teardownClass = wh.stop }

-- REFERENCE.md appendix B
function TestServeToolingSignatures:test_appendix_b_vectors()
  local c = need_webhook()
  local vectors = {
    { "12345", "https://mycompany.com/myapp.php?foo=1&bar=2",
      { CallSid = "CA1234567890ABCDE", Caller = "+14158675310", Digits = "1234", From = "+14158675310",
        To = "+18005551212" }, "GvWf1cFY/Q7PnoempGyD5oXAezc=" },
    { TOKEN, "http://127.0.0.1:3100/generate-random-number",
      { { "max", "6" }, { "min", "1" }, { "tag", "b" }, { "tag", "a" }, { "tag", "b" }, { "note", "café & co" } },
      "ux64Nk5R5aqnAVz7ampXHr58JPo=" },
    { TOKEN, "https://example-1234.twil.io/generate-random-number?bodySHA256=" ..
      "0db35240c955faf8f368d7ef7465901c1eb0eec1a58d60d842722b74fe212d14", nil, "BI90w56d2lff1/dDVx4WmYzyaoE=" },
    { "12345", "https://example-1234.twil.io/generate-random-number?min=1&max=6", nil, "bEIcoudSnFdX9AJGp5Wd/U4Rbcs=" },
  }
  for i, v in ipairs(vectors) do
    local r = c:run("sign", { token = v[1], url = v[2], params = v[3] })
    lu.assertEquals(r.signature, v[4], "vector " .. i)
  end
  lu.assertEquals(c:run("sign", { token = TOKEN, url = vectors[2][2], params = vectors[2][3] }).stringToSign,
    "http://127.0.0.1:3100/generate-random-numbermax6min1notecafé & cotagatagb")
end

local function fields_of(rec)
  local names = {}
  for _, p in ipairs(rec.form) do names[#names + 1] = p[1] end
  table.sort(names)
  return names
end

function TestServeToolingSignatures:test_incoming_message_webhook()
  local c, f = need_webhook()
  local path = "/v1/Accounts/" .. AC .. "/Flows/" .. FW
  f:route{ method = "POST", path = path, status = 200, headers = { ["Content-Type"] = "text/xml" },
           body = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>' }
  local mark = f:mark()
  local a = c:call("webhook", { kind = "message", url = path, publicUrl = "https://example.com/studio",
    message = { from = "+15550001111", to = "+15559990000", body = "hello" } })
  lu.assertTrue(a.ok)
  lu.assertEquals(a.result.status, 200)
  lu.assertEquals(a.result.signedUrl, "https://example.com/studio" .. path)
  local r = f:requests(mark)[1]
  lu.assertEquals(fields_of(r), { "AccountSid", "ApiVersion", "Body", "From", "FromCity", "FromCountry",
    "FromState", "FromZip", "MessageSid", "NumMedia", "NumSegments", "SmsMessageSid", "SmsSid", "SmsStatus",
    "To", "ToCity", "ToCountry", "ToState", "ToZip" })
  lu.assertEquals(r.params.Body, "hello")
  lu.assertEquals(r.params.SmsStatus, "received")
  lu.assertTrue(sid_like("SM", r.params.MessageSid))
  local sig = r.headers["x-twilio-signature"]
  lu.assertTrue(c:run("validateRequest", { authToken = TOKEN, signature = sig,
    url = "https://example.com/studio" .. path, params = r.params }))
  lu.assertFalse(c:run("validateRequest", { authToken = TOKEN, signature = sig, url = f.url .. path,
    params = r.params }), "signed over the public URL, not the local one")
end

function TestServeToolingSignatures:test_media_and_extra_fields()
  local c, f = need_webhook()
  f:route{ method = "POST", path = "/m", status = 204, body = "" }
  local mark = f:mark()
  c:run("webhook", { url = "/m", message = { body = "", media = { { url = "https://example.com/p.jpg",
    contentType = "image/jpeg" } } }, fields = { ProfileName = "Ada", FromZip = NULL } })
  local r = f:requests(mark)[1]
  lu.assertEquals(r.params.NumMedia, "1")
  lu.assertEquals(r.params.MediaUrl0, "https://example.com/p.jpg")
  lu.assertEquals(r.params.MediaContentType0, "image/jpeg")
  lu.assertEquals(r.params.ProfileName, "Ada")
  lu.assertNil(r.params.FromZip)
  lu.assertTrue(c:run("validateRequest", { authToken = TOKEN, signature = r.headers["x-twilio-signature"],
    url = f.url .. "/m", params = r.params }))
end

function TestServeToolingSignatures:test_incoming_call_webhook()
  local c, f = need_webhook()
  f:route{ method = "POST", path = "/voice", status = 200, body = "<Response/>" }
  local mark = f:mark()
  c:run("webhook", { kind = "call", url = "/voice", call = { from = "+15550001111", to = "+15559990000" } })
  local r = f:requests(mark)[1]
  for _, name in ipairs{ "AccountSid", "ApiVersion", "CallSid", "CallStatus", "Called", "Caller", "Direction",
                         "From", "To", "CallerCountry", "CalledState", "FromCity", "ToZip" } do
    lu.assertNotNil(r.params[name], name)
  end
  lu.assertEquals(r.params.CallStatus, "ringing")
  lu.assertEquals(r.params.Direction, "inbound")
  lu.assertTrue(sid_like("CA", r.params.CallSid))
  lu.assertTrue(c:run("validateRequest", { authToken = TOKEN, signature = r.headers["x-twilio-signature"],
    url = f.url .. "/voice", params = r.params }))
end

function TestServeToolingSignatures:test_hmac_sha256_webhook_rule()
  local c, f = need_webhook()
  f:route{ method = "POST", path = "/rule", status = 204, body = "" }
  local mark = f:mark()
  c:run("webhook", { url = "/rule", authToken = "shared-key-secret", algorithm = "HMAC_SHA256",
    sharedKeyId = "webhooks_sharedkey_1" })
  local r = f:requests(mark)[1]
  lu.assertEquals(r.headers["x-twilio-webhooks-signature-settings"],
    "key=webhooks_sharedkey_1,algorithm=HMAC_SHA256")
  local sig = r.headers["x-twilio-signature"]
  lu.assertEquals(#sig, 44) -- base64 of 32 bytes
  -- twilio-node 6.3.1 is the reference for the SHA-256 variant (5.13.1 has none)
  local c6 = wh.keep(serve.client{ base_url = f.url, lib = "twilio-6" })
  lu.assertTrue(c6:run("validateRequest", { authToken = "shared-key-secret", signature = sig,
    url = f.url .. "/rule", params = r.params, algorithm = "HMAC_SHA256" }))
  lu.assertFalse(c6:run("validateRequest", { authToken = "shared-key-secret", signature = sig,
    url = f.url .. "/rule", params = r.params }))
end

function TestServeToolingSignatures:test_a_wrong_signature_can_be_sent()
  local c, f = need_webhook()
  f:route{ method = "POST", path = "/bad", status = 403, body = "" }
  local mark = f:mark()
  local a = c:call("webhook", { url = "/bad", signature = "AAAA" })
  lu.assertEquals(a.result.status, 403)
  lu.assertEquals(f:requests(mark)[1].headers["x-twilio-signature"], "AAAA")
end
