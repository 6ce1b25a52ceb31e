-- Several `rivulet serve` processes on one PostgreSQL database (issue 20; DESIGN.md §6), on
-- a real server the spec starts itself (spec/pg_helper.lua: a throwaway cluster in a temp
-- directory on a free port, as a non-root user; skipped with the reason when PostgreSQL
-- cannot be installed). The store's own specs run on it too: spec/test_store.lua's *Pg
-- classes.
--
--   the kill test: three serve processes, a burst of webhooks balanced over them, one of
--   them SIGKILLed in the middle; then no execution lost, no step recorded twice, no
--   contact with two executions, every waiting execution resumed or timed out, the REST
--   API of every process seeing all of them. KILL_RUNS times.
--   one active execution per contact across processes: 409/20409 from the other process
--   the database going away: 503/20503, nothing lost, work resumes when it is back
--   what differs from SQLite: the URI's settings and password, a foreign database, the
--   token never stored, claims that two sweeps never share

local lu = require "luaunit"
local core = require "rivulet.core"
local json = require "rivulet.json"
local store = require "rivulet.store"
local rivulet = require "rivulet"
local helper = require "spec.helper"
local fx = require "spec.http_fixture"
local pg = require "spec.pg_helper"

local AC = "AC" .. ("0"):rep(32)
local TOKEN = "0123456789abcdef0123456789abcdef"
local PUBLIC = "http://lb.test"          -- the balancer's URL: every process signs against it
local FIX = helper.root .. "/spec/fixtures/store/"

local KILL_RUNS = tonumber(os.getenv("RIVULET_KILL_RUNS") or "") or 3   -- the kill test, repeated
local CONTACTS = 150          -- per kill run
local CONCURRENCY = 16        -- webhooks in flight at once
local WAIT_S = 12             -- the flow's Send & Wait timeout (the replies come before it)
local SETTLE_S = 60           -- every execution ended within this after the burst (timeouts,
                              -- takeovers: WAIT_S + sweep grace + SWEEP_S, with a wide margin)

-- the flow: a function call (in flight when a process dies), then a wait for a reply that
-- either comes (even contacts reply) or times out
local FLOW = {
  description = "Cluster", initial_state = "Trigger", flags = { allow_concurrent_calls = true },
  states = {
    { name = "Trigger", type = "trigger", properties = {},
      transitions = { { event = "incomingMessage", next = "fn" }, { event = "incomingRequest", next = "ask" } } },
    { name = "fn", type = "run-function", properties = { url = "http://fn.test/slow/200" },
      transitions = { { event = "success", next = "ask" }, { event = "fail", next = "ask" } } },
    { name = "ask", type = "send-and-wait-for-reply", properties = { body = "Name?", timeout = tostring(WAIT_S) },
      transitions = { { event = "incomingMessage", next = "done" }, { event = "timeout", next = "late" },
                      { event = "deliveryFailure" } } },
    { name = "done", type = "send-message", properties = { body = "Hi {{widgets.ask.inbound.Body}}" },
      transitions = { { event = "sent" }, { event = "failed" } } },
    { name = "late", type = "send-message", properties = { body = "Too late" },
      transitions = { { event = "sent" }, { event = "failed" } } },
  },
}

local function contact(i) return string.format("+1555%07d", i) end

local function spawn(argv, out)
  local parts = {}
  for i, a in ipairs(argv) do parts[i] = helper.quote(a) end
  local p = assert(io.popen(table.concat(parts, " ") .. " >" .. helper.quote(out) .. " 2>&1 </dev/null & echo $!"))
  local pid = tonumber(p:read("l"))
  p:close()
  return assert(pid)
end

local function wait_for(what, pred, seconds)
  local deadline = core.monotonic() + seconds
  while core.monotonic() < deadline do
    local v = pred()
    if v then return v end
    core.sleep(20)
  end
  error("timed out waiting for " .. what)
end

local function gone(pid, sig)
  os.execute("kill -" .. sig .. " " .. pid .. " 2>/dev/null")
  wait_for("process " .. pid .. " to end", function() return not core.process_alive(pid) end, 20)
end

-- a flows folder holding the cluster flow
local function flows_dir()
  local dir = helper.tmpdir()
  helper.write_file(dir .. "/cluster.json", json.encode(FLOW))
  return dir
end

-- `rivulet serve` on db: {pid, url, out}
local function start_serve(db, flows, dir, name)
  local out = dir .. "/" .. name .. ".out"
  local pid = spawn({ helper.bin, "serve", "--listen", "127.0.0.1:0", "--store", db, "--flows", flows,
                      "--account-sid", AC, "--auth-token", TOKEN, "--public-url", PUBLIC,
                      "--map-url", "http://fn.test=" .. fx.start() }, out)
  local url = wait_for(name .. " listening", function()
    local text = helper.read_file(out) or ""
    if not core.process_alive(pid) then error(name .. " stopped:\n" .. text) end
    return text:find("flow FW", 1, true) and text:match("listening on (http://%S+)")   -- and its flow published
  end, 20)
  return { pid = pid, url = url, out = out, name = name }
end

local client = rivulet.http.client{ timeout_ms = 10000, max_body = 4 * 1024 * 1024 }   -- a page of 1000

-- an HTTP request with the account's credentials: status, decoded body, headers
local function rest(base, method, path, params)
  local o = client:wait(client:http_request{ method = method, url = base .. path, parameters = params,
                                              basic_auth = AC .. ":" .. TOKEN })
  local ok, v = pcall(json.decode, o.body or "")
  return o.status_code, ok and v or o.body, o
end

local function open_ro(db)
  return assert(store.open(db, { readonly = true }))
end

-- ---- the kill test -------------------------------------------------------------------------

TestStorePgServe = {}

function TestStorePgServe:setUp()
  self.procs = {}
end

function TestStorePgServe:tearDown()
  for _, p in ipairs(self.procs or {}) do
    if core.process_alive(p.pid) then gone(p.pid, 9) end
  end
  helper.cleanup()
end

-- one kill run: the numbers it found (or an assertion failure)
local function kill_run(self, run)
  local db = pg.new_db()
  local dir = helper.tmpdir()
  local flows = flows_dir()
  local procs = {}
  for k = 1, 3 do
    procs[k] = start_serve(db, flows, dir, "serve" .. k)
    self.procs[#self.procs + 1] = procs[k]
  end
  local flow_sid = assert((helper.read_file(procs[1].out) or ""):match("flow (FW%x+)"))
  local out = dir .. "/burst.out"
  local driver = spawn({ helper.bin, "lua", FIX .. "burst.lua", TOKEN, AC, flow_sid, PUBLIC, tostring(CONTACTS),
                         tostring(CONCURRENCY), procs[1].url, procs[2].url, procs[3].url }, out)
  -- SIGKILL the second process in the middle of the first burst
  local victim = procs[1 + run % 3]
  wait_for("the burst's middle", function()
    return helper.count(helper.read_file(out) or "", "ok first ") >= CONTACTS * 0.4
  end, 60)
  gone(victim.pid, 9)
  wait_for("the burst's end", function()
    return (helper.read_file(out) or ""):find("phase reply done", 1, true)
  end, 120)
  if core.process_alive(driver) then gone(driver, 9) end
  local text = helper.read_file(out)
  lu.assertNil(text:find("lost ", 1, true), "every webhook was answered 200 in the end:\n" .. text:sub(1, 2000))
  local answered = {}
  for i in text:gmatch("ok first (%d+)\n") do answered[tonumber(i)] = true end
  for i = 1, CONTACTS do lu.assertTrue(answered[i], "contact " .. i .. " answered") end

  -- every execution ends: a reply taken, or its wait timed out (in whichever process)
  local s = open_ro(db)
  wait_for("every execution to end", function()
    local c = s:counts()
    return c and c.executions >= CONTACTS and c.active == 0
  end, SETTLE_S)

  -- no execution lost or doubled, no step twice, each one a path through the flow. A reply
  -- that comes after its contact's execution ended (it timed out meanwhile: a takeover takes
  -- a few seconds) starts a new one, as Studio does: never while the first is active.
  local rows = assert(s:all("SELECT sid, contact, status, failed, reason, state, initiated_by, started_at," ..
    " ended_at FROM executions ORDER BY started_at"))
  local by_contact, again, late_replies = {}, {}, 0
  for _, r in ipairs(rows) do
    local first = r.initiated_by and r.initiated_by:match("^SMf")
    if first then
      lu.assertNil(by_contact[r.contact], "one execution per first message: " .. tostring(r.contact))
      by_contact[r.contact] = r
    else
      lu.assertStrContains(tostring(r.initiated_by), "SMr")
      local before = by_contact[r.contact]
      lu.assertNotNil(before, r.contact)
      lu.assertTrue(r.started_at >= before.ended_at, "two active executions for " .. r.contact)
      lu.assertNil(again[r.contact], "one execution per reply: " .. r.contact)
      again[r.contact] = r
      late_replies = late_replies + 1
    end
  end
  lu.assertEquals(#rows, CONTACTS + late_replies)
  local bad = assert(s:all("SELECT execution_sid FROM steps GROUP BY execution_sid" ..
    " HAVING count(*) <> max(idx) OR count(*) <> count(DISTINCT idx) OR count(*) <> count(DISTINCT sid)"))
  lu.assertEquals(#bad, 0, "no step recorded twice")
  local resumed, timed_out, reruns = 0, 0, 0
  for i = 1, CONTACTS do
    local r = by_contact[contact(i)]
    lu.assertNotNil(r, "execution of " .. contact(i))
    lu.assertEquals(r.status, "ended")
    lu.assertEquals(r.failed, 0, r.reason)
    local path = {}
    for k, st in ipairs(assert(s:steps(r.sid, true))) do
      path[k] = st.transitioned_from
      if st.note and st.note:find("re-run after a restart", 1, true) then reruns = reruns + 1 end
    end
    local route = table.concat(path, " ")
    lu.assertTrue(route == "Trigger fn ask done" or route == "Trigger fn ask late", contact(i) .. ": " .. route)
    if route:find("done") then resumed = resumed + 1 else timed_out = timed_out + 1 end
    -- a reply is taken once: it resumed the first execution or started the next, never both
    if route:find("done") then lu.assertEquals(again[contact(i)], nil, contact(i) .. "'s reply taken twice") end
  end
  s:close()
  -- the REST API of each live process sees every execution
  for _, p in ipairs(procs) do
    if p ~= victim then
      local status, page, o = rest(p.url, "GET", "/v2/Flows/" .. flow_sid .. "/Executions", { PageSize = "1000" })
      lu.assertEquals(status, 200, p.name .. ": " .. tostring(o.message) .. "\n" .. (helper.read_file(p.out) or ""):sub(-1500))
      lu.assertEquals(#page.executions, CONTACTS + late_replies, p.name)
    end
  end
  for _, p in ipairs(procs) do
    if p ~= victim then gone(p.pid, "TERM") end
  end
  return { resumed = resumed, timed_out = timed_out, reruns = reruns, late_replies = late_replies }
end

function TestStorePgServe:test_a_process_killed_in_a_burst_loses_and_repeats_nothing()
  pg.url()
  local passed = 0
  for run = 1, KILL_RUNS do
    local r = kill_run(self, run)
    passed = passed + 1
    print(string.format("kill test run %d/%d: %d executions over 3 processes, one SIGKILLed mid-burst:" ..
      " %d resumed by a reply, %d timed out (%d replies came after and started anew), %d steps re-run after" ..
      " the takeover, none lost or repeated", run, KILL_RUNS, CONTACTS, r.resumed, r.timed_out, r.late_replies,
      r.reruns))
  end
  lu.assertEquals(passed, KILL_RUNS)
end

-- ---- across processes -------------------------------------------------------------------------

function TestStorePgServe:test_one_active_execution_per_contact_across_processes()
  local db = pg.new_db()
  local dir, flows = helper.tmpdir(), flows_dir()
  local a = start_serve(db, flows, dir, "a")
  local b = start_serve(db, flows, dir, "b")
  self.procs = { a, b }
  local flow_sid = assert((helper.read_file(a.out) or ""):match("flow (FW%x+)"))
  local path = "/v2/Flows/" .. flow_sid .. "/Executions"
  local status, x = rest(a.url, "POST", path, { To = "+15550001111", From = "+15559990000" })
  lu.assertEquals(status, 201, json.encode(x))
  status, x = rest(b.url, "POST", path, { To = "+15550001111", From = "+15559990000" })
  lu.assertEquals(status, 409)
  lu.assertEquals(x.code, 20409)
  -- b sees a's execution and ends it; then b may start one
  status = rest(b.url, "GET", path .. "/" .. (x.details and x.details.conflicting_execution_sid or "?"))
  lu.assertEquals(status, 200)
  status = rest(b.url, "POST", path .. "/" .. x.details.conflicting_execution_sid, { Status = "ended" })
  lu.assertEquals(status, 200)
  status = rest(b.url, "POST", path, { To = "+15550001111", From = "+15559990000" })
  lu.assertEquals(status, 201)
end

function TestStorePgServe:test_the_database_going_away_is_a_503_and_loses_nothing()
  local db = pg.new_db()
  local dir, flows = helper.tmpdir(), flows_dir()
  local a = start_serve(db, flows, dir, "a")
  self.procs = { a }
  local flow_sid = assert((helper.read_file(a.out) or ""):match("flow (FW%x+)"))
  local path = "/v2/Flows/" .. flow_sid .. "/Executions"
  -- a REST-started execution waits at ask (incomingRequest goes straight there)
  local status, x = rest(a.url, "POST", path, { To = "+15550001111", From = "+15559990000" })
  lu.assertEquals(status, 201, json.encode(x))
  pg.stop()
  local ok, err = pcall(function()
    local s2, e, o = rest(a.url, "GET", path)
    lu.assertEquals(s2, 503, json.encode(e))
    lu.assertEquals(e.code, 20503)
    lu.assertStrContains(e.message, "the database cannot be reached")
    lu.assertStrContains(o.body, '"status":503')
    s2, e = rest(a.url, "POST", path, { To = "+15550002222", From = "+15559990000" })
    lu.assertEquals(s2, 503, json.encode(e))
  end)
  pg.start()
  assert(ok, err)
  -- back: the process reconnects by itself, and what was there is there
  local list = wait_for("the API to answer again", function()
    local st, v = rest(a.url, "GET", path)
    if st == 200 then return v end
  end, 30)
  lu.assertEquals(#list.executions, 1)
  lu.assertEquals(list.executions[1].sid, x.sid)
  lu.assertEquals(list.executions[1].status, "active")
  local status2 = rest(a.url, "POST", path, { To = "+15550002222", From = "+15559990000" })
  lu.assertEquals(status2, 201)
  -- the wait made before the outage times out on time: nothing was lost
  local s = open_ro(db)
  wait_for("the first execution's timeout", function()
    local row = s:execution(x.sid)
    return row and row.status == "ended"
  end, WAIT_S + 15)
  local steps = assert(s:steps(x.sid))
  lu.assertEquals(steps[#steps].transitioned_from, "late")
  s:close()
end

-- the database restarting under a process that runs conversations: waits made before it
-- still time out, a reply after it is taken
function TestStorePgServe:test_a_database_crash_and_restart_resumes_the_work()
  local db = pg.new_db()
  local dir, flows = helper.tmpdir(), flows_dir()
  local a = start_serve(db, flows, dir, "a")
  self.procs = { a }
  local flow_sid = assert((helper.read_file(a.out) or ""):match("flow (FW%x+)"))
  local path = "/v2/Flows/" .. flow_sid .. "/Executions"
  local sids = {}
  for i = 1, 4 do
    local status, x = rest(a.url, "POST", path, { To = contact(i), From = "+15559990000" })
    lu.assertEquals(status, 201, json.encode(x))
    sids[i] = x.sid
  end
  pg.kill()                                  -- a crash: no shutdown, connections cut
  pg.start()
  wait_for("the API to answer again", function() return rest(a.url, "GET", path) == 200 end, 30)
  local s = open_ro(db)
  wait_for("every wait to time out", function()
    return s:counts().active == 0
  end, WAIT_S + 20)
  for _, sid in ipairs(sids) do
    local steps = assert(s:steps(sid))
    lu.assertEquals(steps[#steps].transitioned_from, "late")
  end
  s:close()
end

-- ---- what differs from SQLite -------------------------------------------------------------------

TestStorePg = {}

function TestStorePg:tearDown() helper.cleanup() end

function TestStorePg:test_settings_in_the_uri_and_the_password_never_shown()
  local db = pg.new_db()
  local s = assert(store.open(db .. "?rivulet_lease_s=7&rivulet_timeout_ms=1500&connect_timeout=3"))
  lu.assertEquals(s.lease_s, 7)
  lu.assertEquals(s.timeout_ms, 1500)
  s:close()
  local _, err, code = store.open(db .. "?rivulet_lease=3")
  lu.assertEquals(code, "badpath")
  lu.assertStrContains(err, "unknown setting rivulet_lease")
  _, err = store.open(db .. "?rivulet_lease_s=-1")
  lu.assertStrContains(err, "rivulet_lease_s must be a positive number")
  -- a wrong password: refused (exit 2), the password replaced in what is shown
  local wrong = db:gsub("^postgresql://rivulet@", "postgresql://nobody:hunter2secret@")
  _, err, code = store.open(wrong)
  lu.assertEquals(code, "refused")
  lu.assertNil(err:find("hunter2secret", 1, true))
  lu.assertStrContains(err, "nobody:***@")
  lu.assertEquals(store.display("postgresql://u:p%40ss@h:5/d?x=1"), "postgresql://u:***@h:5/d?x=1")
  -- nobody listening: unavailable (exit 1: try again later)
  _, err, code = store.open("postgresql://rivulet@127.0.0.1:" .. fx.closed_port() .. "/x")
  lu.assertEquals(code, "unavailable")
  lu.assertStrContains(err, "Connection refused")
  lu.assertTrue(store.IO_FAILURES[code])
  local status, _, stderr = helper.exec({ helper.bin, "logs", "--store", wrong })
  lu.assertEquals(status, 2)
  lu.assertNil(stderr:find("hunter2secret", 1, true))
end

function TestStorePg:test_a_database_of_another_application_is_refused_untouched()
  local db = pg.new_db()
  local c = assert(core.pg_connect(db, 5000))
  assert(c:exec("CREATE TABLE executions (id integer)"))
  local _, err, code = store.open(db)
  lu.assertEquals(code, "foreign")
  lu.assertStrContains(err, "not a rivulet store")
  local st = assert(c:prepare("SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = 'public'"))
  lu.assertEquals(st:first().n, 1)
  c:close()
  -- an empty database read-only: not a store (nothing is created)
  local empty = pg.new_db()
  _, err, code = store.open(empty, { readonly = true })
  lu.assertEquals(code, "foreign")
  lu.assertStrContains(err, "an empty database")
end

function TestStorePg:test_newer_schema_is_refused()
  local db = pg.new_db()
  assert(store.open(db)):close()
  local c = assert(core.pg_connect(db, 5000))
  assert(c:exec("UPDATE rivulet_schema SET version = version + 1"))
  local _, err, code = store.open(db)
  lu.assertEquals(code, "newer")
  lu.assertStrContains(err, "written by a newer rivulet")
  c:close()
end

function TestStorePg:test_the_token_never_reaches_the_database()
  local db = pg.new_db()
  local token = "s3cr3tTOKENvalue"
  local e = assert(rivulet.engine{ store = db, auth_token = token })
  assert(e:start({
    { name = "Trigger", type = "trigger", on = { incomingMessage = "ask" } },
    { name = "ask", type = "send-and-wait-for-reply", body = "echo {{trigger.message.Body}}", on = {} },
  }, { from = "+1", to = "+2", body = "my token is " .. token }))
  e.store:close()
  local c = assert(core.pg_connect(db, 5000))
  local st = assert(c:prepare("SELECT string_agg(encode(context, 'escape'), ' ') AS t FROM" ..
    " (SELECT context FROM executions UNION ALL SELECT trigger FROM executions UNION ALL" ..
    " SELECT context FROM steps) x"))
  local text = st:first().t
  c:close()
  lu.assertEquals(helper.count(text, token), 0)
  lu.assertStrContains(text, "[auth token]")
end

-- the flows' rows are shared with the SQLite store (rivulet.store.flow_source): a flow built
-- in Lua with functions is refused as clearly, one loaded from text keeps the same row id
function TestStorePg:test_flows_are_written_down_as_the_sqlite_store_writes_them()
  local e = assert(rivulet.engine{ store = pg.new_db() })
  local x, err = e:start({
    { name = "Trigger", type = "trigger", on = { incomingMessage = "s" } },
    { name = "s", type = "send-message", body = "x", on = { sent = function() return "s" end } },
  }, { from = "+1", to = "+2" })
  lu.assertNil(x)
  lu.assertStrContains(err, "cannot be stored; load it from a file")
  local flow = assert(rivulet.load_flow(helper.root .. "/flows/random_number.json"))
  local lite = assert(store.open(helper.tmpdir() .. "/s.db"))
  local s = e.store
  lu.assertEquals(assert(s:flow_id(flow)), assert(lite:flow_id(flow)))
  lu.assertEquals(select(2, store.flow_source(flow)), flow.text)
  lite:close()
  s:close()
end

-- bytes a function replied with come back as they were; text columns take valid UTF-8
function TestStorePg:test_bytes_round_trip_and_text_is_made_valid()
  local db = pg.new_db()
  local s = assert(store.open(db))
  local e = assert(rivulet.engine{ store = s })
  local x = assert(e:start({
    { name = "Trigger", type = "trigger", on = { incomingMessage = "ask" } },
    { name = "ask", type = "send-and-wait-for-reply", body = "?", on = {} },
  }, { from = "+1", to = "+2", body = "bin \0\xff\xfe end" }))
  local row = assert(s:execution(x.sid))
  lu.assertEquals(row.context.trigger.message.Body, "bin \0\xff\xfe end")
  assert(e:handle{ kind = "end", sid = x.sid, reason = "stop \xff here" })
  lu.assertEquals(assert(s:execution(x.sid)).reason, "stop \xEF\xBF\xBD here")
  s:close()
end

-- two sweeps at once never take the same execution (FOR UPDATE SKIP LOCKED)
function TestStorePg:test_two_sweeps_never_share_a_claim()
  local db = pg.new_db()
  local t = 1000000
  local clock = function() return t end
  local a = assert(rivulet.engine{ store = db, now = clock })
  for i = 1, 6 do
    assert(a:start(FIX .. "three_questions.lua", { from = contact(i), to = "+2", body = "hi" }))
  end
  a.store:close()
  local s1 = assert(store.open(db))
  local s2 = assert(store.open(db))
  s1.owner, s2.owner = "1@one", "2@two"     -- two hosts
  local now = t + 4000                         -- every wait is past its deadline
  local got2
  local got1 = assert(s1:claim_due(now, now, function()
    -- while s1 holds its claims, s2 sweeps: it skips the locked rows
    got2 = assert(s2:claim_due(now, now, function() return true end, 100))
    return true
  end, 3))
  lu.assertEquals(#got1, 3)
  lu.assertEquals(#got2, 3)
  local seen = {}
  for _, r in ipairs(got1) do seen[r.sid] = true end
  for _, r in ipairs(got2) do lu.assertNil(seen[r.sid], "claimed twice: " .. r.sid) end
  -- a claim is the claimer's: the other's next sweep leaves it (its lease runs)
  for _, r in ipairs(assert(s2:claim_due(now, now, function() return true end, 100))) do
    lu.assertNil(seen[r.sid], "taken from the other process: " .. r.sid)
  end
  s1:close()
  s2:close()
end

-- pending webhook events (the serve inbox) are claimed FOR UPDATE SKIP LOCKED: two hosts
-- claiming at once share them out, neither waits for the other, none is claimed twice
function TestStorePg:test_two_hosts_never_claim_the_same_pending_event()
  local db = pg.new_db()
  local gone_host = assert(store.open(db))
  gone_host.owner = "1@gone.test"
  for i = 1, 6 do assert(gone_host:take_event("SM" .. i, nil, "p" .. i, contact(i))) end
  assert(gone_host:run("UPDATE webhook_events SET lease_until = ?", core.now() - 1))   -- its lease ran out
  gone_host:close()
  local s1 = assert(store.open(db))
  local s2 = assert(store.open(db))
  s1.owner, s2.owner = "1@one.test", "2@two.test"
  local got2
  local got1 = assert(s1:pending_events(function()
    got2 = got2 or assert(s2:pending_events())      -- while s1 holds its rows locked
    return true
  end, 3))
  lu.assertEquals(#got1, 3)
  lu.assertEquals(#got2, 3)
  local seen = {}
  for _, r in ipairs(got1) do seen[r.sid] = true end
  for _, r in ipairs(got2) do
    lu.assertNil(seen[r.sid], "claimed twice: " .. r.sid)
    seen[r.sid] = true
  end
  -- s1 gets its own again (rivulet serve's keep refuses those in hand), never s2's: their lease runs
  local again = assert(s1:pending_events())
  lu.assertEquals(#again, 3)
  for _, r in ipairs(got2) do
    for _, q in ipairs(again) do lu.assertNotEquals(q.sid, r.sid, "taken from the other host") end
  end
  -- a contact's own: only its events
  assert(s1:take_event("SMx", nil, "x", contact(9)))
  assert(s1:take_event("SMy", nil, "y", contact(8)))
  local mine = assert(s1:pending_events(nil, nil, contact(9)))
  lu.assertEquals(#mine, 1)
  lu.assertEquals(mine[1].sid, "SMx")
  s1:close()
  s2:close()
end

-- a batch is one transaction: its commit failing (the connection cut under it) keeps
-- nothing, and every execution it wrote leaves the engine
function TestStorePg:test_a_failed_commit_detaches_what_the_batch_wrote()
  local db = pg.new_db()
  local e = assert(rivulet.engine{ store = db })
  local flow = assert(rivulet.load_flow(FIX .. "three_questions.lua"))
  local kept = assert(e:start(flow, { from = contact(9), to = "+2", body = "hi" }))
  e:begin_batch()
  local xs = {}
  for i = 1, 3 do xs[i] = assert(e:start(flow, { from = contact(i), to = "+2", body = "hi" })) end
  local admin = assert(core.pg_connect(db, 5000))
  assert(admin:exec("SELECT pg_terminate_backend(" .. e.store.pg:backend_pid() .. ")"))
  admin:close()
  local ok, err, code = e:end_batch()
  lu.assertNil(ok)
  lu.assertEquals(code, "unavailable", err)
  for _, x in ipairs(xs) do lu.assertEquals(x.status, "detached") end
  lu.assertEquals(kept.status, "active")
  -- the next operation connects again; the flow stored in the lost batch is stored again
  local y = assert(e:start(flow, { from = contact(5), to = "+2", body = "hi" }))
  lu.assertEquals(y.status, "active")
  e.store:close()
  local s = open_ro(db)
  lu.assertEquals(s:counts().executions, 2, "nothing of the batch was kept")
  s:close()
end

-- a statement that fails outside a savepoint leaves PostgreSQL's transaction failed (its
-- COMMIT would answer ROLLBACK): end_batch says so instead of claiming a commit
function TestStorePg:test_a_failed_statement_in_a_batch_fails_the_batch()
  local db = pg.new_db()
  local e = assert(rivulet.engine{ store = db })
  local flow = assert(rivulet.load_flow(FIX .. "three_questions.lua"))
  e:begin_batch()
  local x = assert(e:start(flow, { from = contact(1), to = "+2", body = "hi" }))
  lu.assertNil(e.store:run("SELECT 1 / 0"))
  local ok, err = e:end_batch()
  lu.assertNil(ok)
  lu.assertStrContains(err, "none of it was kept")
  lu.assertEquals(x.status, "detached")
  assert(e:start(flow, { from = contact(2), to = "+2", body = "hi" }))
  e.store:close()
  local s = open_ro(db)
  lu.assertEquals(s:counts().executions, 1)
  s:close()
end

-- the same migrations as SQLite's, in PostgreSQL's words: a database of schema 3 (the
-- first PostgreSQL store) migrates to this one, its events done; a migration that fails
-- leaves the database at the version before it
function TestStorePg:test_a_schema_3_database_migrates_and_a_failed_migration_keeps_it()
  local pg_store = require "rivulet.store_pg"
  local db = pg.new_db()
  local raw = assert(core.pg_connect(db, 5000))
  assert(raw:exec("CREATE TABLE rivulet_schema (version integer NOT NULL, application text NOT NULL);" ..
    " INSERT INTO rivulet_schema VALUES (3, 'rivulet')"))
  for v = 1, 3 do assert(raw:exec(pg_store.MIGRATIONS[v])) end
  assert(raw:exec("INSERT INTO webhook_events (sid, execution_sid, received_at) VALUES ('SM1', NULL, 1)"))
  local v = pg_store.SCHEMA_VERSION
  pg_store.SCHEMA_VERSION = v + 1
  pg_store.MIGRATIONS[v + 1] = "ALTER TABLE executions ADD COLUMN label text; SELECT nope FROM nowhere"
  local s, err = store.open(db)
  pg_store.SCHEMA_VERSION, pg_store.MIGRATIONS[v + 1] = v, nil
  lu.assertNil(s)
  lu.assertStrContains(err, "migrating the store to schema " .. (v + 1))
  local row = assert(raw:prepare("SELECT version FROM rivulet_schema")):first()
  lu.assertEquals(row.version, v, "the migrations before the failed one are kept, one transaction each")
  lu.assertEquals(assert(raw:prepare("SELECT count(*) AS n FROM information_schema.columns WHERE" ..
    " table_name = 'executions' AND column_name = 'label'")):first().n, 0)
  raw:close()
  s = assert(store.open(db))
  lu.assertEquals(s:pending_events(), {})
  lu.assertFalse(s:take_event("SM1", nil, "again"))
  lu.assertTrue(s:take_event("SM2", nil, "new", "+1"))
  lu.assertEquals(s:pending_events(), { { sid = "SM2", payload = "new" } })
  s:close()
end

-- the C API's side (rivulet.embed, what rivulet_config.store_path reaches): a postgresql://
-- URI keeps a conversation across handles, as a store file does
function TestStorePg:test_the_c_apis_store_path_takes_a_uri()
  local embed = require "rivulet.embed"
  local db = pg.new_db()
  local flow = helper.root .. "/flows/feedback.lua"
  local sent = {}
  local function emit(_, _, _, body) sent[#sent + 1] = body end
  local a = assert(embed.new({ store_path = db }, emit))
  assert(a.load_flow("feedback", flow))
  local sid = assert(a.start("feedback", '{"event":"incomingMessage","from":"+15550001111","to":"+15559990000"}'))
  a.poll(0)
  lu.assertStrContains(sent[1] or "(nothing sent)", "How would you rate us")
  a.engine.store:close()
  local b = assert(embed.new({ store_path = db }, emit))
  assert(b.load_flow("feedback", flow))
  assert(b.deliver("+15550001111", "+15559990000", "5"))
  b.poll(0)
  lu.assertEquals(sent[#sent], "What should we know?")
  local row = assert(b.engine.store:execution(sid))
  lu.assertEquals(row.status, "active")
  lu.assertEquals(row.context.flow.variables.rating, 5)
  b.engine.store:close()
end
