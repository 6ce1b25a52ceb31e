-- The execution store (issue 6): the file and its schema, what an engine writes, resuming
-- after a restart (waits, due timeouts, a request in flight), the crash test (kill -9 during
-- a write burst over 1,000 executions), two processes delivering to one store, and files
-- that are not a usable store (refused with exit 2, left untouched).

local lu = require "luaunit"
local rivulet = require "rivulet"
local core = require "rivulet.core"
local store = require "rivulet.store"
local helper = require "spec.helper"
local fx = require "spec.http_fixture"

local FROM, TO = "+15550001111", "+15559990000"
local FIX = helper.root .. "/spec/fixtures/store/"
local Q3 = FIX .. "three_questions.lua"

local function contact(i) return string.format("+1555%07d", i) end

-- where a spec's store lives: an SQLite file, or (the same specs again, at the end of this
-- file) a fresh PostgreSQL database
local backend = {}
function backend.sqlite() return helper.tmpdir() .. "/store.db" end
backend.new_db = backend.sqlite

local function new_db()
  return backend.new_db()
end

-- an engine on db collecting the bodies it sends
local function engine_on(db, opts)
  local sent = {}
  opts = opts or {}
  opts.store = db
  opts.on_message = function(x, m) sent[#sent + 1] = { sid = x.sid, to = m.to, body = m.body } end
  local e, err = rivulet.engine(opts)
  assert(e, err)
  return e, sent
end

local function sha(path)
  local text = helper.read_file(path)
  return text and core.sha256_hex(text)
end

-- a program started in the background: its pid, output in `out`
local function spawn(argv, out)
  local parts = {}
  for i, a in ipairs(argv) do parts[i] = helper.quote(a) end
  local p = assert(io.popen(table.concat(parts, " ") .. " >" .. helper.quote(out) .. " 2>&1 </dev/null & echo $!"))
  local pid = tonumber(p:read("l"))
  p:close()
  return assert(pid)
end

local function wait_for(path, pred, seconds)
  local deadline = core.monotonic() + seconds
  while core.monotonic() < deadline do
    local text = helper.read_file(path) or ""
    if pred(text) then return text end
    core.sleep(2)
  end
  error("timed out waiting on " .. path .. ":\n" .. (helper.read_file(path) or ""):sub(-500))
end

local function kill9(pid)
  os.execute("kill -9 " .. pid .. " 2>/dev/null")
  for _ = 1, 500 do          -- until it is gone (its locks with it)
    if not core.process_alive(pid) then return end
    os.execute("wait " .. pid .. " 2>/dev/null")
    core.sleep(2)
  end
end

-- ---- the file ------------------------------------------------------------------------------

TestStoreFile = {}

local SCHEMA_VERSION = store.SCHEMA_VERSION
function TestStoreFile:tearDown()
  store.SCHEMA_VERSION, store.MIGRATIONS[SCHEMA_VERSION + 1] = SCHEMA_VERSION, nil   -- whatever a test did
  helper.cleanup()
end

function TestStoreFile:test_new_store_has_schema_version_wal_and_application_id()
  local db = new_db()
  local s = assert(store.open(db))
  local h = s:first("SELECT (SELECT user_version FROM pragma_user_version) AS v," ..
    " (SELECT application_id FROM pragma_application_id) AS app, (SELECT journal_mode FROM pragma_journal_mode) AS j")
  lu.assertEquals(h.v, store.SCHEMA_VERSION)
  lu.assertEquals(h.app, store.APPLICATION_ID)
  lu.assertEquals(h.j, "wal")
  s:close()
  local p = io.popen("stat -c %a " .. helper.quote(db))
  lu.assertEquals(p:read("l"), "600", "a new store is its owner's only: it holds conversations")
  p:close()
  -- opening again migrates nothing and keeps what is there
  s = assert(store.open(db))
  lu.assertEquals(s:counts().executions, 0)
  s:close()
end

function TestStoreFile:test_newer_schema_is_refused_and_left_alone()
  local db = new_db()
  local s = assert(store.open(db))
  assert(s.db:exec("PRAGMA user_version = " .. (store.SCHEMA_VERSION + 1)))
  s:close()
  local before = sha(db)
  local s2, err, code = store.open(db)
  lu.assertNil(s2)
  lu.assertEquals(code, "newer")
  lu.assertStrContains(err, db .. ": written by a newer rivulet (store schema " .. (store.SCHEMA_VERSION + 1))
  lu.assertEquals(sha(db), before)
end

function TestStoreFile:test_migration_from_an_empty_version_0_file()
  local db = new_db()
  local raw = assert(core.sqlite_open(db))
  raw:close()                                     -- an empty SQLite file: version 0, no tables
  local s = assert(store.open(db))
  lu.assertEquals(s:first("PRAGMA user_version").user_version, store.SCHEMA_VERSION)
  s:close()
end

-- the mechanism a later schema will use: a migration runs once, with the version's bump, or
-- not at all
function TestStoreFile:test_migrations_run_in_one_transaction_each()
  local db = new_db()
  local e = engine_on(db)
  local x = assert(e:start(Q3, { from = FROM, to = TO, body = "hi" }))
  e.store:close()
  local v = store.SCHEMA_VERSION
  store.SCHEMA_VERSION = v + 1
  store.MIGRATIONS[v + 1] = "ALTER TABLE executions ADD COLUMN label TEXT; CREATE TABLE broken (x); SELECT nope FROM nowhere"
  local s, err = store.open(db)
  lu.assertNil(s)
  lu.assertStrContains(err, "migrating the store to schema " .. (v + 1) .. ": no such table: nowhere")
  store.MIGRATIONS[v + 1] = "ALTER TABLE executions ADD COLUMN label TEXT DEFAULT 'kept'"
  s = store.open(db)
  store.SCHEMA_VERSION, store.MIGRATIONS[v + 1] = v, nil
  assert(s, "the good migration runs")
  lu.assertEquals(s:first("PRAGMA user_version").user_version, v + 1)
  lu.assertEquals(s:first("SELECT count(*) AS n FROM sqlite_master WHERE name = 'broken'").n, 0)
  lu.assertEquals(s:first("SELECT label FROM executions WHERE sid = ?", x.sid).label, "kept")
  s:close()
  local again, aerr = store.open(db)                 -- and this rivulet now finds it newer
  lu.assertNil(again)
  lu.assertStrContains(aerr, "written by a newer rivulet")
end

-- a store of schema 3 (before the inbox) migrates: the events it took are done (they were
-- acted on when taken), so none is acted on again, and a retry of one is still a retry
function TestStoreFile:test_a_schema_3_store_migrates_and_replays_nothing()
  local db = new_db()
  local raw = assert(core.sqlite_open(db))
  for v = 1, 3 do assert(raw:exec(store.MIGRATIONS[v])) end
  assert(raw:exec("PRAGMA user_version = 3; PRAGMA application_id = " .. store.APPLICATION_ID))
  assert(raw:exec("INSERT INTO webhook_events (sid, execution_sid, received_at) VALUES ('SM1', NULL, 1)"))
  raw:close()
  local s = assert(store.open(db))
  lu.assertEquals(s:first("PRAGMA user_version").user_version, store.SCHEMA_VERSION)
  lu.assertEquals(s:pending_events(), {})
  lu.assertFalse(s:take_event("SM1", nil, "again"))
  lu.assertTrue(s:take_event("SM2", nil, "new", "+1"))
  lu.assertEquals(s:pending_events(), { { sid = "SM2", payload = "new" } })
  s:close()
end

function TestStoreFile:test_foreign_sqlite_database_is_refused_untouched()
  local db = new_db()
  local raw = assert(core.sqlite_open(db))
  assert(raw:exec("CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO accounts VALUES (1, 'a')"))
  raw:close()
  local before = sha(db)
  local s, err, code = store.open(db)
  lu.assertNil(s)
  lu.assertEquals(code, "foreign")
  lu.assertStrContains(err, "not a rivulet store (an SQLite database of another application)")
  lu.assertEquals(sha(db), before)
end

-- every command given a file that is not a usable store: a clear message, exit 2, the file
-- byte for byte as it was (and no executions run)
function TestStoreFile:test_bad_files_exit_2_untouched_for_every_command()
  local dir = helper.tmpdir()
  local files = {
    garbage = string.rep("\1\2\3\255 not sqlite at all ", 400),
    text = "executions: none\n",
    foreign = function(path)
      local raw = assert(core.sqlite_open(path))
      assert(raw:exec("CREATE TABLE t (x)"))
      raw:close()
    end,
    newer = function(path)
      local s = assert(store.open(path))
      assert(s.db:exec("PRAGMA user_version = 99"))
      s:close()
    end,
    damaged = function(path)
      local s = assert(store.open(path))
      s:close()
      local text = helper.read_file(path)
      helper.write_file(path, string.rep("\0", 100) .. text:sub(101))   -- header gone
    end,
  }
  local expect = {
    garbage = "not a rivulet store", text = "not a rivulet store", foreign = "another application",
    newer = "written by a newer rivulet", damaged = "not a rivulet store",
  }
  for name, make in pairs(files) do
    local path = dir .. "/" .. name .. ".db"
    if type(make) == "string" then helper.write_file(path, make) else make(path) end
    local before = sha(path)
    for _, args in ipairs{
      { "deliver", "--store", path, "--flow", Q3, "--from", FROM, "--to", TO, "--body", "hi" },
      { "logs", "--store", path },
      { "logs", "--store", path, "FN00000000000000000000000000000000" },
      { "run", Q3, "--store", path, "--reply", "a" },
    } do
      local code, out, err = helper.run(args)
      local what = name .. " / " .. args[1]
      lu.assertEquals(code, 2, what .. ": " .. err)
      lu.assertStrContains(err, path .. ": ", false, what)
      lu.assertStrContains(err, expect[name], false, what)
      lu.assertNotStrContains(out, "First?", false, what)
      lu.assertNotStrContains(err, "traceback", false, what)
      lu.assertEquals(sha(path), before, what .. ": the file changed")
    end
  end
end

function TestStoreFile:test_missing_store_for_logs_is_an_error_and_not_created()
  local db = new_db()
  local code, _, err = helper.run{ "logs", "--store", db }
  lu.assertEquals(code, 2)
  lu.assertStrContains(err, db .. ": unable to open database file")
  lu.assertNil(helper.read_file(db))
end

-- ---- what an engine writes ------------------------------------------------------------------

TestStoreWrites = {}

function TestStoreWrites:tearDown() helper.cleanup() end

function TestStoreWrites:test_steps_execution_and_context_are_written_as_they_happen()
  local db = new_db()
  local steps_seen = {}
  local e = engine_on(db, { on_step = function(x)
    -- on_step comes after the commit: the store already holds this step
    local s = assert(store.open(db, { readonly = true }))
    steps_seen[#steps_seen + 1] = #assert(s:steps(x.sid))
    s:close()
  end })
  local x = assert(e:start(Q3, { from = FROM, to = TO, body = "hi" }))
  assert(e:deliver{ from = FROM, to = TO, body = "one" })
  lu.assertEquals(steps_seen, { 1, 2 })
  local rec = assert(e.store:record(x.sid))
  lu.assertEquals(rec.status, "active")
  lu.assertEquals(rec.state, "q2")
  lu.assertEquals(#rec.steps, 2)
  lu.assertEquals(rec.steps[2].transitioned_from, "q1")
  lu.assertEquals(rec.steps[2].transitioned_to, "q2")
  lu.assertEquals(rec.steps[2].context.widget, "q1")
  lu.assertEquals(rec.steps[2].context.outputs.inbound.Body, "one")
  lu.assertEquals(rec.context.widgets.q1.inbound.Body, "one")
  lu.assertEquals(rec.context.trigger.message.Body, "hi")
  local row = assert(e.store:execution(x.sid))
  lu.assertEquals(row.wait.kind, "reply")
  lu.assertEquals(row.wait.state, "q2")
end

function TestStoreWrites:test_values_round_trip_exactly()
  local v = { big = 1234567890123456, neg = -9007199254740991, f = 0.1, t = 1795615891.0410552,
              s = "tab\tquote\"nl\nnul\0end é", list = { 1, "two", { three = 3 } }, empty = {},
              null = rivulet.core and require("rivulet.json").null, yes = true }
  local back = require("rivulet.json").decode(store.encode(v))
  for k, x in pairs(v) do lu.assertEquals(back[k], x, k) end
  lu.assertEquals(math.type(back.big), "integer")
end

function TestStoreWrites:test_what_json_cannot_hold_is_stored_as_text()
  local function nest(n)
    local t = { leaf = true }
    for _ = 2, n do t = { t } end
    return t
  end
  local json = require "rivulet.json"
  local ok = store.encode(nest(store.MAX_DEPTH))           -- depth MAX: whole
  lu.assertStrContains(ok, '{"leaf":true}')
  lu.assertNotStrContains(ok, "too deep")
  local cut = store.encode(nest(store.MAX_DEPTH + 1))      -- one more: the innermost is text
  lu.assertStrContains(cut, '["<too deep>"]')
  local cyc = { name = "x" }
  cyc.self = cyc
  lu.assertEquals(json.decode(store.encode(cyc)), { name = "x", self = "<cycle>" })
  lu.assertEquals(json.decode(store.encode({ f = print, [1.5] = "k", [true] = 1 })),
    { f = "<function>", ["1.5"] = "k", ["true"] = 1 })
  lu.assertEquals(store.encode({ "a\0b\127\31" }), '["a\\u0000b\\u007f\\u001f"]')
  lu.assertEquals(store.encode({ b = 1, a = { 2 } }, "  "), '{\n  "a": [\n    2\n  ],\n  "b": 1\n}')
  lu.assertEquals(store.encode(0 / 0), "null")
  -- an empty table is {} unless it is marked as an array (the REST API's empty lists)
  lu.assertEquals(store.encode({ a = {}, b = json.empty_array(), c = json.empty_object() }, " "),
    '{\n "a": {},\n "b": [],\n "c": {}\n}')
  lu.assertEquals(store.encode(setmetatable({ 1 }, rivulet.liquid.array_mt)), "[1]")
end

function TestStoreWrites:test_one_execution_per_contact_holds_across_engines()
  local db = new_db()
  local a = engine_on(db)
  local b = engine_on(db)
  local x = assert(a:start(Q3, { from = FROM, to = TO, body = "hi" }))
  local y, err = b:start(Q3, { from = FROM, to = TO, body = "hi" })
  lu.assertNil(y)
  lu.assertStrContains(err, "the contact already has an active execution " .. x.sid)
  -- b delivers to a's execution (it reloads it), and a's stale copy steps aside
  assert(b:deliver{ from = FROM, to = TO, body = "one" })
  local got, derr = a:deliver{ from = FROM, to = TO, body = "two" }
  assert(got, derr)
  lu.assertEquals(got.state, "q3")
  lu.assertEquals(#assert(a.store:steps(x.sid)), 3)
  lu.assertEquals(a.store:record(x.sid).context.widgets.q1.inbound.Body, "one")
  lu.assertEquals(a.store:record(x.sid).context.widgets.q2.inbound.Body, "two")
end

function TestStoreWrites:test_a_stale_copy_never_writes_over_the_store()
  local db = new_db()
  local a = engine_on(db)
  local x = assert(a:start(Q3, { from = FROM, to = TO, body = "hi" }))
  local b = engine_on(db)
  assert(b:deliver{ from = FROM, to = TO, body = "from b" })
  -- a's copy still waits at q1; timing it out must not write: the store moved on
  lu.assertTrue(a:timeout(x))
  lu.assertEquals(x.status, "detached")
  lu.assertEquals(x.detached, "conflict")
  lu.assertStrContains(a.store_error, "changed by another process")
  local rec = a.store:record(x.sid)
  lu.assertEquals(rec.state, "q2")
  lu.assertEquals(#rec.steps, 2)
end

-- BUSY_TIMEOUT_MS: a write waits that long for another connection's lock, then fails; the
-- engine keeps running, and the store keeps the execution as last committed
function TestStoreWrites:test_a_write_that_cannot_get_the_lock_in_time_detaches_the_execution()
  local db = new_db()
  local saved = store.BUSY_TIMEOUT_MS
  store.BUSY_TIMEOUT_MS = 300
  local ok, err = pcall(function()
    local e = engine_on(db)
    local x = assert(e:start(Q3, { from = FROM, to = TO, body = "hi" }))
    local other = assert(core.sqlite_open(db))
    assert(other:exec("BEGIN IMMEDIATE"))                 -- another process holds the write lock
    local t0 = core.monotonic()
    local got, derr, code = e:deliver{ from = FROM, to = TO, body = "one" }
    local waited = core.monotonic() - t0
    assert(other:exec("ROLLBACK"))
    other:close()
    lu.assertNil(got)
    lu.assertEquals(code, "busy")
    lu.assertStrContains(derr, "database is locked")
    lu.assertTrue(waited >= 0.3 and waited < 3, "waited " .. waited .. " s")
    lu.assertEquals(x.status, "detached")
    local rec = e.store:record(x.sid)                     -- as committed: still waiting at q1
    lu.assertEquals(rec.state, "q1")
    lu.assertEquals(#rec.steps, 1)
    assert(e:deliver{ from = FROM, to = TO, body = "again" })   -- once the lock is free, it goes on
    lu.assertEquals(e.store:record(x.sid).state, "q2")
  end)
  store.BUSY_TIMEOUT_MS = saved
  assert(ok, err)
end

-- LEASE_S: another host's process running an execution is trusted until its lease runs out
function TestStoreWrites:test_owner_lease_edges()
  local s = assert(store.open(new_db()))
  local now = core.now()
  lu.assertTrue(s:owner_alive({ owner = "12@elsewhere", lease_until = now + 1 }, now))
  lu.assertFalse(s:owner_alive({ owner = "12@elsewhere", lease_until = now - 0.001 }, now))
  lu.assertFalse(s:owner_alive({ owner = s.owner, lease_until = now + store.LEASE_S }, now))   -- ours
  lu.assertTrue(s:owner_alive({ owner = core.pid() + 0 .. "@" .. core.hostname() .. "x", lease_until = now + 5 }, now))
  lu.assertFalse(s:owner_alive({ owner = "999999999@" .. core.hostname(), lease_until = now + 5 }, now))  -- gone
  lu.assertFalse(s:owner_alive({}, now))
  s:close()
end

function TestStoreWrites:test_auth_token_never_reaches_the_store()
  local db = new_db()
  local token = "s3cr3tTOKENvalue"
  local e = engine_on(db, { auth_token = token })
  local flow = {
    { name = "Trigger", type = "trigger", on = { incomingMessage = "set" } },
    { name = "set", type = "set-variables", variables = { t = "{{trigger.message.Body}}" }, on = { next = "ask" } },
    { name = "ask", type = "send-and-wait-for-reply", body = "echo {{flow.variables.t}}", on = {} },
  }
  assert(e:start(flow, { from = FROM, to = TO, body = "my token is " .. token }))
  e.store:close()
  local text = helper.read_file(db) .. (helper.read_file(db .. "-wal") or "")
  lu.assertEquals(helper.count(text, token), 0)
  lu.assertStrContains(text, "[auth token]")
end

-- a token too short to scrub is left alone: scrubbing "t" would corrupt every stored text
function TestStoreWrites:test_a_short_token_does_not_mangle_the_store()
  local short = string.rep("t", require("rivulet.redact").MIN_LENGTH - 1)
  local e = engine_on(new_db(), { auth_token = short })
  local x = assert(e:start({
    { name = "Trigger", type = "trigger", on = { incomingMessage = "ask" } },
    { name = "ask", type = "send-and-wait-for-reply", body = "that is the text", on = {} },
  }, { from = FROM, to = TO, body = "tttttttt out" }))
  lu.assertEquals(e.store:record(x.sid).context.trigger.message.Body, "tttttttt out")
  e.store:close()
  lu.assertEquals(require("rivulet.redact").scrubber(short)("ttt"), "ttt")
  lu.assertEquals(require("rivulet.redact").scrubber(short .. "t")("a tttttttt b"), "a [auth token] b")
end

function TestStoreWrites:test_a_lua_flow_with_functions_in_a_table_is_refused_clearly()
  local e = engine_on(new_db())
  local x, err = e:start({
    { name = "Trigger", type = "trigger", on = { incomingMessage = "s" } },
    { name = "s", type = "send-message", body = "x", on = { sent = function() return "s" end } },
  }, { from = FROM, to = TO })
  lu.assertNil(x)
  lu.assertStrContains(err, "cannot be stored; load it from a file")
end

-- ---- resuming after a restart ---------------------------------------------------------------

TestStoreResume = {}

function TestStoreResume:tearDown() helper.cleanup() end

function TestStoreResume:test_waits_keep_waiting_from_when_they_began()
  local db = new_db()
  local t = 1000000
  local clock = function() return t end
  local a = engine_on(db, { now = clock })
  local x = assert(a:start(Q3, { from = FROM, to = TO, body = "hi" }))
  a.store:close()
  t = t + 1800                                         -- half the timeout later
  local b, sent = engine_on(db, { now = clock })
  lu.assertEquals(b.n_active, 1)
  lu.assertEquals(#sent, 0)
  lu.assertEquals(b:next_deadline(), 1000000 + 3600)
  b.store:close()
  t = 1000000 + 3601                                   -- past it: the timeout fires on open
  local c, sent2 = engine_on(db, { now = clock })
  lu.assertEquals(c.n_active, 0)
  lu.assertEquals(sent2[1].body, "Too late")
  local rec = c.store:record(x.sid)
  lu.assertEquals(rec.status, "ended")
  lu.assertEquals(rec.steps[2].name, "timeout")
  lu.assertEquals(rec.steps[2].transitioned_to, "late")
end

function TestStoreResume:test_resume_due_reads_only_what_has_something_to_do()
  local db = new_db()
  local t = 1000000
  local clock = function() return t end
  local a = engine_on(db, { now = clock })
  assert(a:start(Q3, { from = "+1", to = TO, body = "hi" }))
  t = t + 100
  local late = assert(a:start(Q3, { from = "+2", to = TO, body = "hi" }))
  a.store:close()
  t = 1000000 + 3650                                   -- the first wait is due, the second not
  local b, sent = engine_on(db, { now = clock, resume = "due" })
  lu.assertEquals(#sent, 1)
  lu.assertEquals(sent[1].to, "+1")
  lu.assertEquals(sent[1].body, "Too late")
  lu.assertEquals(b.n_active, 0)                     -- the second stays in the store only
  lu.assertNil(b:execution(late.sid))
  local x = assert(b:deliver{ from = "+2", to = TO, body = "one" })   -- found when it is needed
  lu.assertEquals(x.state, "q2")
end

function TestStoreResume:test_resume_false_leaves_the_store_alone()
  local db = new_db()
  local a = engine_on(db)
  assert(a:start(Q3, { from = FROM, to = TO, body = "hi" }))
  local b = engine_on(db, { resume = false })
  lu.assertEquals(b.n_active, 0)
  -- a delivery still finds the contact's execution in the store
  assert(b:deliver{ from = FROM, to = TO, body = "one" })
end

function TestStoreResume:test_subflow_wait_survives_a_restart()
  local db = new_db()
  local dir = helper.tmpdir()
  helper.write_file(dir .. "/child.lua", [[return {
    { name = "Trigger", type = "trigger", on = { incomingParent = "ask" } },
    { name = "ask", type = "send-and-wait-for-reply", body = "Child asks", on = { incomingMessage = "set" } },
    { name = "set", type = "set-variables", variables = { answer = "{{widgets.ask.inbound.Body}}" } },
  }]])
  helper.write_file(dir .. "/parent.lua", [[return {
    { name = "Trigger", type = "trigger", on = { incomingMessage = "sub" } },
    { name = "sub", type = "run-subflow", flow_sid = "child", on = { completed = "say", failed = "ko" } },
    { name = "say", type = "send-message", body = "child said {{widgets.sub.answer}}" },
    { name = "ko", type = "send-message", body = "ko" },
  }]])
  local a = engine_on(db, { subflows = dir })
  local x = assert(a:start(dir .. "/parent.lua", { from = FROM, to = TO, body = "hi" }))
  a.store:close()
  local b, sent = engine_on(db, { subflows = dir })
  lu.assertEquals(b.n_active, 2)
  assert(b:deliver{ from = FROM, to = TO, body = "42" })
  lu.assertEquals(sent[#sent].body, "child said 42")
  lu.assertEquals(b.store:record(x.sid).status, "ended")
end

-- a process killed while its Run Function call is in flight: on reopen the call is made
-- again, and the step says so
-- a process killed while its one execution waits on a call to base/slow/30000: the store,
-- the place of its output, and the execution's row as the store lists it
local function killed_during_a_call(base)
  local dir = helper.tmpdir()
  local db = new_db()
  local out = dir .. "/out"
  local pid = spawn({ helper.bin, "lua", FIX .. "call_writer.lua", db, base .. "/slow/30000" }, out)
  wait_for(out, function(t) return t:find("calling\n", 1, true) end, 10)
  kill9(pid)
  local s = assert(store.open(db, { readonly = true }))
  local row = assert(s:list{ status = "active" })[1]
  s:close()
  return db, out, row
end

function TestStoreResume:test_request_in_flight_at_a_crash_is_re_run()
  local base = fx.start()
  local db, _, row = killed_during_a_call(base)
  lu.assertEquals(row.state, "call")
  -- reopen with the function reachable again: the same widget runs (its URL answers now)
  local e, sent = engine_on(db, { url_map = { [base .. "/slow/30000"] = base .. "/json-object" } })
  e:run()
  lu.assertEquals(e.n_active, 0)
  local rec = e.store:record(row.sid)
  lu.assertEquals(rec.status, "ended")
  lu.assertEquals(#rec.steps, 3)
  lu.assertEquals(rec.steps[2].transitioned_from, "call")
  lu.assertEquals(rec.steps[2].name, "success")
  lu.assertStrContains(rec.steps[2].note, "re-run after a restart: its HTTP request was in flight")
  lu.assertStrContains(sent[1].body, "got ")
end

-- A widget whose process is killed every time it runs (here: a call that never answers,
-- and a kill -9 while it waits) is taken over by the next process, and the next, until it
-- was cut off MAX_TAKEOVERS times: then it fails its execution instead of running again,
-- and the store goes on serving everyone else (issue 12: one hostile step must not poison
-- a shared store).
function TestStoreResume:test_a_widget_cut_off_again_and_again_fails_its_execution()
  local db, out, row = killed_during_a_call(fx.start())
  local sid = row.sid
  local function takeovers()
    local r = assert(store.open(db, { readonly = true }))
    local now = assert(r:execution(sid))
    r:close()
    return now.takeovers, now.status
  end
  for n = 1, store.MAX_TAKEOVERS - 1 do
    local pid = spawn({ helper.bin, "lua", FIX .. "taker.lua", db }, out)
    wait_for(out, function(t) return t:find("took 1\n", 1, true) end, 10)
    -- the claim is committed before the call goes out again
    local deadline = core.monotonic() + 10
    while takeovers() < n and core.monotonic() < deadline do core.sleep(5) end
    kill9(pid)
    lu.assertEquals(takeovers(), n)
  end
  local e, sent = engine_on(db)
  e:run()
  local rec = e.store:record(sid)
  lu.assertEquals(rec.status, "ended")
  lu.assertTrue(rec.failed, rec.reason)
  lu.assertStrContains(rec.reason, string.format("'call' was cut off %d times", store.MAX_TAKEOVERS))
  lu.assertEquals(#rec.steps, 1, "the widget was not run a fourth time")
  lu.assertEquals(#sent, 0)
  -- the store serves the next conversation as if nothing happened
  local r = e:handle{ kind = "message", flow = Q3, from = contact(7), to = TO, body = "hi" }
  lu.assertEquals(r.code, "started")
  lu.assertEquals(sent[#sent].to, contact(7))
  e.store:close()
end

-- ---- the crash test ---------------------------------------------------------------------------

TestStoreCrash = {}

function TestStoreCrash:tearDown() helper.cleanup() end

TestStoreCrash.N = 1000

function TestStoreCrash:test_kill_9_during_a_write_burst_loses_and_duplicates_nothing()
  local n = self.N
  local dir = helper.tmpdir()
  local db, out = new_db(), dir .. "/out"
  local pid = spawn({ helper.bin, "lua", FIX .. "crash_writer.lua", db, tostring(n) }, out)
  -- kill it in the middle of the burst of deliveries (some hundreds acknowledged)
  wait_for(out, function(t)
    return t:find("started\n", 1, true) and helper.count(t, "ack ") >= 300
  end, 120)
  kill9(pid)
  local text = helper.read_file(out)
  lu.assertNil(text:find("done", 1, true), "the writer finished before it was killed")
  local acked = {}
  local nacks = 0
  for i in text:gmatch("ack (%d+) %d+\n") do
    i = tonumber(i)
    acked[i] = (acked[i] or 0) + 1
    nacks = nacks + 1
  end

  -- what the store holds, read before anything resumes
  local s = assert(store.open(db, { readonly = true }))
  assert(s:check())
  local counts = s:counts()
  lu.assertEquals(counts.executions, n)
  lu.assertEquals(counts.active, n)
  -- every acknowledged step is there, plus at most the one being written when it died
  lu.assertTrue(counts.steps == n + nacks or counts.steps == n + nacks + 1,
    string.format("%d steps for %d executions and %d acknowledged deliveries", counts.steps, n, nacks))
  local per = assert(s:all("SELECT execution_sid AS sid, count(*) AS c, count(DISTINCT idx) AS d, max(idx) AS m," ..
    " count(DISTINCT sid) AS ds FROM steps GROUP BY execution_sid"))
  lu.assertEquals(#per, n)
  for _, r in ipairs(per) do
    lu.assertEquals(r.c, r.d)      -- no index twice
    lu.assertEquals(r.c, r.m)      -- 1..m, none missing
    lu.assertEquals(r.c, r.ds)
  end
  local extra = 0
  local committed = {}             -- contact index -> steps committed
  for _, row in ipairs(assert(s:all("SELECT sid, contact, state, wait, step_count FROM executions"))) do
    local i = tonumber(row.contact:sub(6))
    local steps = assert(s:steps(row.sid))
    lu.assertEquals(#steps, row.step_count)
    local want = 1 + (acked[i] or 0)
    lu.assertTrue(#steps == want or #steps == want + 1,
      string.format("%s: %d steps, %d acknowledged", row.contact, #steps, acked[i] or 0))
    if #steps == want + 1 then extra = extra + 1 end
    committed[i] = #steps
    -- the right state: where the last step went, waiting there (or about to)
    lu.assertEquals(row.state, steps[#steps].transitioned_to)
    lu.assertEquals(row.state, "q" .. #steps)
    if row.wait then lu.assertStrContains(row.wait, '"state":"' .. row.state .. '"') end
  end
  lu.assertTrue(extra <= 1)
  s:close()
  print(string.format("crash test: killed after %d acknowledged deliveries; %d executions active, %d steps"
    .. " (%d beyond the acknowledged: the write in flight), none lost or repeated", nacks, counts.active,
    counts.steps, counts.steps - n - nacks))

  -- reopen: all still active; deliver to each until it ends
  local e, sent = engine_on(db)
  lu.assertEquals(e.n_active, n)
  for i = 1, n do
    for q = committed[i], 3 do
      local x, err = e:deliver{ from = contact(i), to = "+15559990000", body = string.format("n%d-%d", q, i) }
      assert(x, err)
    end
  end
  lu.assertEquals(e.n_active, 0)
  local final = {}
  for _, m in ipairs(sent) do
    if m.body:match("^r") or m.body:match("^n") then final[tonumber(m.to:sub(6))] = m.body end
  end
  for i = 1, n do
    local want = {}
    for q = 1, 3 do
      want[q] = q < committed[i] and string.format("r%d-%d", q, i) or string.format("n%d-%d", q, i)
    end
    lu.assertEquals(final[i], table.concat(want, " "), contact(i))
  end
  local c2 = e.store:counts()
  lu.assertEquals(c2.active, 0)
  lu.assertEquals(c2.steps, n * 5)         -- Trigger, q1, q2, q3, done: each once
  assert(e.store:check())
end

-- ---- two processes delivering to one store -----------------------------------------------------

TestStoreConcurrent = {}

function TestStoreConcurrent:tearDown() helper.cleanup() end

function TestStoreConcurrent:test_two_processes_delivering_keep_the_store_whole()
  local dir = helper.tmpdir()
  local db = new_db()
  local flow = FIX .. "counter.lua"
  local contacts, per = 4, 30
  -- two shell loops, each running `rivulet deliver` per message over the same contacts
  for w = 1, 2 do
    local lines = { "i=0", "while [ $i -lt " .. per .. " ]; do", "  for c in $(seq 1 " .. contacts .. "); do" }
    lines[#lines + 1] = "    " .. helper.quote(helper.bin) .. " deliver --store " .. helper.quote(db) ..
      " --flow " .. helper.quote(flow) .. " --from +1555000000$c --to +15559990000 --body w" .. w ..
      " >/dev/null 2>>" .. helper.quote(dir .. "/err" .. w) .. "; echo \"$c $?\""
    lines[#lines + 1] = "  done; i=$((i+1))"
    lines[#lines + 1] = "done; echo end"
    helper.write_file(dir .. "/loop" .. w .. ".sh", table.concat(lines, "\n") .. "\n")
    spawn({ "sh", dir .. "/loop" .. w .. ".sh" }, dir .. "/out" .. w)
  end
  local taken = {}
  for w = 1, 2 do
    local text = wait_for(dir .. "/out" .. w, function(t) return t:find("end\n", 1, true) end, 300)
    for c, code in text:gmatch("(%d+) (%d+)\n") do
      lu.assertEquals(code, "0", "a delivery was not taken: " .. (helper.read_file(dir .. "/err" .. w) or ""))
      taken[tonumber(c)] = (taken[tonumber(c)] or 0) + 1
    end
  end
  local s = assert(store.open(db, { readonly = true }))
  assert(s:check())
  for c = 1, contacts do
    lu.assertEquals(taken[c], 2 * per)
    local rows = assert(s:list{ contact = "+1555000000" .. c })
    lu.assertEquals(#rows, 1, "one execution per contact")
    lu.assertEquals(rows[1].status, "active")
    local rec = assert(s:record(rows[1].sid))
    -- every message taken counted once: n is the number of deliveries to this contact
    lu.assertEquals(tonumber(rec.context.flow.variables.n), 2 * per)
    lu.assertEquals(#rec.steps, 1 + 2 * (2 * per) - 1)
  end
  local bad = assert(s:all("SELECT execution_sid FROM steps GROUP BY execution_sid" ..
    " HAVING count(*) <> max(idx) OR count(*) <> count(DISTINCT idx)"))
  lu.assertEquals(#bad, 0)
  s:close()
end

-- processes that all open a store that does not exist yet: one creates it, the others wait
function TestStoreConcurrent:test_many_processes_creating_one_store_at_once()
  local dir = helper.tmpdir()
  local db = new_db()
  local n = 8
  local lines = {}
  for i = 1, n do
    lines[#lines + 1] = "( " .. helper.quote(helper.bin) .. " deliver --store " .. helper.quote(db) .. " --flow " ..
      helper.quote(Q3) .. " --from +1555000100" .. i .. " --to +15559990000 --body hi >/dev/null 2>" ..
      helper.quote(dir .. "/err" .. i) .. "; echo \"" .. i .. " $?\" ) &"
  end
  lines[#lines + 1] = "wait"
  local p = assert(io.popen(table.concat(lines, "\n")))
  local out = p:read("a")
  p:close()
  for i = 1, n do
    lu.assertStrContains(out, i .. " 0\n", false, (helper.read_file(dir .. "/err" .. i) or ""))
  end
  local s = assert(store.open(db, { readonly = true }))
  lu.assertEquals(s:counts().active, n)
  if not store.is_postgres(db) then lu.assertEquals(s:first("PRAGMA journal_mode").journal_mode, "wal") end
  s:close()
end

-- ---- edges: a full disk, a read-only medium, binary in a context (issue 12, class 6) ----------
-- An I/O failure of the store is exit 1 with SQLite's message and the file named, and loses
-- nothing committed before it; a store on a read-only medium reads, and is never written;
-- JSON that leaves rivulet is valid UTF-8 while the store keeps a reply's bytes as they are.

TestStoreEdges = {}

function TestStoreEdges:tearDown() helper.cleanup() end

-- runs sh SCRIPT ARGS... in a new user and mount namespace (unshare -rm), where it may mount
-- a tmpfs or make a bind mount read-only without touching the machine's mounts; nil, why
-- when this machine gives no such namespace (no unshare, user namespaces off and not root)
local function in_namespace(script, ...)
  local dir = helper.tmpdir()
  local probe = helper.write_file(dir .. "/probe.sh", "mkdir -p \"$1/m\" && mount -t tmpfs -o size=64k tmpfs \"$1/m\"\n")
  local code, out, err = helper.exec{ "unshare", "-rm", "sh", probe, dir }
  if code ~= 0 then
    return nil, "needs a mount namespace (unshare -rm: root, or user namespaces) to mount a tmpfs: " .. out .. err
  end
  local argv = { "unshare", "-rm", "sh", helper.write_file(dir .. "/script.sh", script) }
  for _, a in ipairs{ ... } do argv[#argv + 1] = a end
  return helper.exec(argv)
end

local function json_of(path)
  return assert(require("rivulet.json").decode(assert(helper.read_file(path), path)))
end

-- the text of file `name` in dir, without its trailing newline
local function slurp(dir, name)
  return ((helper.read_file(dir .. "/" .. name) or ""):gsub("\n$", ""))
end

-- A flow that doubles the reply into a variable: its first write after the reply (the
-- reply's step) is small, the next (the variable's step and context) twice as big
local DOUBLER = {
  { name = "Trigger", type = "trigger", on = { incomingMessage = "ask" } },
  { name = "ask", type = "send-and-wait-for-reply", body = "Tell me", on = { incomingMessage = "keep" } },
  { name = "keep", type = "set-variables",
    variables = { twice = "{{widgets.ask.inbound.Body}}{{widgets.ask.inbound.Body}}" }, on = { next = "say" } },
  { name = "say", type = "send-message", body = "kept {{flow.variables.twice | size}}", on = { sent = false } },
}

-- SQLite's max_page_count makes the store "full" (SQLITE_FULL) at a chosen write: after the
-- reply's step is committed, the file may not grow, and the next write fails. The engine
-- says "full"; what was committed stays, the other executions are untouched, and a process
-- that opens the store with room again resumes the execution from its last saved step.
function TestStoreEdges:test_a_full_store_keeps_what_was_committed_and_resumes()
  local db = new_db()
  local flow = assert(rivulet.load_flow(DOUBLER))
  local e = engine_on(db)
  for i = 1, 5 do assert(e:start(flow, { from = contact(i), to = TO, body = "hi" })) end
  local x = assert(e:start(flow, { from = FROM, to = TO, body = "hi" }))
  local body = string.rep("b", 6000)            -- doubled, under Liquid's 16384-byte output cap
  e.opts.on_step = function(_, step)
    if step.transitioned_to == "keep" then      -- committed: from now on the file may not grow
      local n = e.store:first("PRAGMA page_count").page_count
      assert(e.store.db:exec("PRAGMA max_page_count = " .. n))
    end
  end
  local got, err, code = e:deliver{ from = FROM, to = TO, body = body }
  lu.assertNil(got)
  lu.assertEquals(code, "full")
  lu.assertEquals(err, "database or disk is full")
  lu.assertTrue(store.IO_FAILURES[code])
  lu.assertEquals(x.status, "detached")
  lu.assertEquals(e.store_error_code, "full")
  -- a delivery whose first write cannot be made changes nothing
  got, err, code = e:deliver{ from = contact(1), to = TO, body = body }
  lu.assertNil(got, err)
  lu.assertEquals(code, "full")
  e.store:close()

  local s = assert(store.open(db, { readonly = true }))
  lu.assertTrue(s:check())
  local rec = assert(s:record(x.sid))
  lu.assertEquals(rec.state, "keep", "the reply's step was committed; the next one was not")
  lu.assertEquals(#rec.steps, 2)
  lu.assertEquals(rec.context.widgets.ask.inbound.Body, body)
  for i = 1, 5 do
    local other = assert(s:contact_execution(contact(i), TO))
    local orec = assert(s:record(other.sid))
    lu.assertEquals({ orec.state, #orec.steps }, { "ask", 1 }, contact(i))
  end
  s:close()

  -- room again (a new connection has no page limit): opening resumes it where it stopped
  local e2, sent = engine_on(db)
  e2:run()
  rec = assert(e2.store:record(x.sid))
  lu.assertEquals(rec.status, "ended")
  lu.assertEquals(#rec.steps, 4)
  lu.assertStrContains(rec.steps[3].note, "re-run after a restart")
  lu.assertEquals(#rec.context.flow.variables.twice, 12000)
  lu.assertEquals(helper.bodies(sent), { "kept 12000" })
  local y = assert(e2:deliver{ from = contact(1), to = TO, body = body })   -- and takes what it refused
  lu.assertEquals(y.status, "ended")
  lu.assertEquals(e2.store:record(y.sid).status, "ended")
  lu.assertTrue(e2.store:check())
end

-- A disk that really fills up: a 320 KiB tmpfs. Deliveries go on until one fails: it exits 1
-- saying "database or disk is full" about the file. Every delivery acknowledged before is in
-- the store. The failing one either saved nothing (the message was not taken) or saved its
-- first step and not its wait (it stops there); run --store fails the same way; logs reads
-- on. With room again, --tick takes over what was cut off, and new deliveries are taken.
local FULL_DISK = [[
set -u
D=$1; R=$2; FLOW=$3
mkdir -p "$D/m"
mount -t tmpfs -o size=320k tmpfs "$D/m" || exit 90
BODY=$(printf '%03000d' 0)
i=0
while [ $i -lt 300 ]; do
  i=$((i+1))
  "$R" deliver --store "$D/m/s.db" --flow "$FLOW" --from "+1555$i" --to +2 --body "$BODY" >/dev/null 2>"$D/deliver.err"
  rc=$?
  [ $rc -ne 0 ] && break
done
echo "$i $rc" >"$D/full"
"$R" run "$FLOW" --store "$D/m/s.db" --from +19 --body "$BODY" >/dev/null 2>"$D/run.err"; echo $? >"$D/run.rc"
"$R" logs --store "$D/m/s.db" --json --limit 0 >"$D/logs1.json" 2>"$D/logs1.err"; echo $? >"$D/logs1.rc"
mount -o remount,size=4m "$D/m" || exit 91
"$R" deliver --store "$D/m/s.db" --tick >/dev/null 2>"$D/tick.err"; echo $? >"$D/tick.rc"
"$R" deliver --store "$D/m/s.db" --flow "$FLOW" --from +1999 --to +2 --body "$BODY" >"$D/again.out" 2>"$D/again.err"
echo $? >"$D/again.rc"
"$R" logs --store "$D/m/s.db" --json --limit 0 >"$D/logs2.json"
cp "$D/m/s.db" "$D/copy.db"
]]

function TestStoreEdges:test_a_full_disk_is_exit_1_and_loses_nothing()
  local dir = helper.tmpdir()
  local code, out, err = in_namespace(FULL_DISK, dir, helper.bin, Q3)
  if code == nil then lu.skip(out) end
  lu.assertEquals(code, 0, out .. err)
  local n, rc = slurp(dir, "full"):match("^(%d+) (%d+)$")
  n = tonumber(n)
  local db = dir .. "/m/s.db"
  local derr = slurp(dir, "deliver.err")
  lu.assertEquals(rc, "1", "the delivery that found the disk full: " .. derr)
  lu.assertTrue(n > 3, "the disk filled after " .. n .. " deliveries")
  lu.assertStrContains(derr, "rivulet deliver: " .. db .. ": database or disk is full (")
  lu.assertEquals(slurp(dir, "run.rc"), "1")
  lu.assertStrContains(slurp(dir, "run.err"), "rivulet run: " .. db .. ": database or disk is full")
  lu.assertEquals(slurp(dir, "logs1.rc"), "0", slurp(dir, "logs1.err"))
  local steps = {}
  for _, r in ipairs(json_of(dir .. "/logs1.json")) do steps[r.contact] = r.steps end
  for i = 1, n - 1 do lu.assertEquals(steps["+1555" .. i], 1, "acknowledged delivery " .. i) end
  if steps["+1555" .. n] then           -- its first step was saved, its wait was not
    lu.assertEquals(steps["+1555" .. n], 1)
    lu.assertStrContains(derr, "stops at its last saved step; the next delivery or `rivulet deliver --store " ..
      db .. " --tick` resumes it)")
  else
    lu.assertStrContains(derr, "(the message was not taken; the store is as it was)")
  end
  -- room again: --tick takes over what was cut off, and a new delivery is taken
  lu.assertEquals(slurp(dir, "tick.rc"), "0", slurp(dir, "tick.err"))
  lu.assertEquals(slurp(dir, "again.rc"), "0", slurp(dir, "again.err"))
  lu.assertEquals(slurp(dir, "again.out"), "> First?")
  local after = {}
  for _, r in ipairs(json_of(dir .. "/logs2.json")) do after[r.contact] = r.steps end
  for i = 1, n - 1 do lu.assertEquals(after["+1555" .. i], 1, "delivery " .. i .. " after") end
  lu.assertEquals(after["+1999"], 1)
  local s = assert(store.open(dir .. "/copy.db", { readonly = true }))
  lu.assertTrue(s:check())
  for _, row in ipairs(assert(s:active_rows())) do
    lu.assertEquals(row.wait_kind, "reply", row.contact .. " waits for its reply, as the flow says")
  end
  s:close()
end

-- a process that dies without closing the store leaves its -wal and -shm as a crash does
local CRASH_WRITER = [[
local path, n = arg[1], tonumber(arg[2])
local e = assert(rivulet.engine{ store = path })
local f = assert(rivulet.load_flow(arg[3]))
for i = 1, n do assert(e:start(f, { event = "incomingMessage", from = "+1" .. i, to = "+2", body = "hi" })) end
os.exit(0)   -- no close: the WAL stays as a crash leaves it
]]

-- Stores as a read-only medium may hold them, made in dir: a.db closed cleanly (no -wal, no
-- -shm), b.db left by a crash (-wal and -shm), c.db a new store whose every change is in
-- its -wal (no -shm), d.db checkpointed with one execution and two more in its -wal (no
-- -shm). -> the SID of a.db's execution
local function read_only_stores(dir)
  local code, out = helper.run{ "deliver", "--store", dir .. "/a.db", "--flow", Q3, "--from", FROM, "--to", TO,
                                "--body", "hi", "--json" }
  lu.assertEquals(code, 0)
  local writer = helper.write_file(dir .. "/../crash_writer.lua", CRASH_WRITER)
  lu.assertEquals(helper.run{ "lua", writer, dir .. "/b.db", "3", Q3 }, 0)
  helper.write_file(dir .. "/c.db", helper.read_file(dir .. "/b.db"))
  helper.write_file(dir .. "/c.db-wal", helper.read_file(dir .. "/b.db-wal"))
  lu.assertEquals(helper.run{ "deliver", "--store", dir .. "/d.db", "--flow", Q3, "--from", FROM, "--to", TO,
                              "--body", "hi" }, 0)
  lu.assertEquals(helper.run{ "lua", writer, dir .. "/d.db", "2", Q3 }, 0)
  os.remove(dir .. "/d.db-shm")
  return require("rivulet.json").decode(out).sid
end

-- ls -ln and sha256 of every file in dir: what a read-only store must keep
local function listing(dir)
  local p = assert(io.popen("cd " .. helper.quote(dir) .. " && ls -ln && sha256sum *"))
  local text = p:read("a")
  p:close()
  return text
end

local function decode(text)
  return assert(require("rivulet.json").decode(text), text)
end

-- the commands run on those stores once dir is read-only, each with what it must do
local function read_only_cases(dir, sid)
  return {
    { { "logs", "--store", dir .. "/a.db" }, function(code, out, err)
      lu.assertEquals(code, 0, err)
      lu.assertEquals(helper.count(out, "FN"), 1)
      lu.assertEquals(err, "")
    end },
    { { "logs", "--store", dir .. "/a.db", sid, "--json" }, function(code, out, err)
      lu.assertEquals(code, 0, err)
      lu.assertEquals(decode(out).sid, sid)
      lu.assertEquals(#decode(out).steps, 1)
    end },
    { { "logs", "--store", dir .. "/b.db", "--json" }, function(code, out, err)   -- its -wal read through its -shm
      lu.assertEquals(code, 0, err)
      lu.assertEquals(#decode(out), 3)
    end },
    { { "logs", "--store", dir .. "/c.db" }, function(code, out, err)   -- every change in an unreadable -wal
      lu.assertEquals(code, 1)
      lu.assertEquals(out, "")
      lu.assertStrContains(err, "rivulet logs: " .. dir .. "/c.db: its latest changes are in " .. dir ..
        "/c.db-wal, which SQLite cannot read without writing " .. dir .. "/c.db-shm beside it")
    end },
    { { "logs", "--store", dir .. "/d.db", "--json" }, function(code, out, err)   -- as of its last checkpoint
      lu.assertEquals(code, 0, err)
      lu.assertEquals(#decode(out), 1)
      lu.assertStrContains(err, "rivulet logs: note: " .. dir .. "/d.db-wal (")
      lu.assertStrContains(err, "may hold changes not yet in the file")
    end },
    -- the commands that write say they cannot (an I/O failure: exit 1), and write nothing
    { { "deliver", "--store", dir .. "/a.db", "--flow", Q3, "--from", FROM, "--to", TO, "--body", "x" },
      function(code, out, err)
        lu.assertEquals(code, 1, err)
        lu.assertEquals(out, "")
        lu.assertStrContains(err, "rivulet deliver: " .. dir .. "/a.db: read-only: no write access to the file")
      end },
    { { "run", Q3, "--store", dir .. "/b.db", "--reply", "x" }, function(code, out, err)
      lu.assertEquals(code, 1, err)
      lu.assertEquals(out, "")
      lu.assertStrContains(err, "rivulet run: " .. dir .. "/b.db: read-only")
    end },
    { { "deliver", "--store", dir .. "/new.db", "--tick" }, function(code, _, err)
      lu.assertEquals(code, 1, err)
      lu.assertStrContains(err, "rivulet deliver: " .. dir .. "/new.db: cannot create the file (")
    end },
  }
end

-- a read-only bind mount of the stores' directory (root ignores permissions; a mount does not)
local READ_ONLY_MOUNT = [[
set -u
D=$1; R=$2; OUT=$3
mount --bind "$D" "$D" && mount -o remount,ro,bind "$D" || exit 90
if touch "$D/probe" 2>/dev/null; then echo "the mount is writable" >&2; exit 91; fi
n=0
run() { n=$((n+1)); "$R" "$@" >"$OUT/$n.out" 2>"$OUT/$n.err"; echo $? >"$OUT/$n.rc"; }
]]

function TestStoreEdges:test_logs_reads_a_store_on_a_read_only_mount()
  local base = helper.tmpdir()
  local dir, outdir = base .. "/ro", base .. "/out"
  assert(os.execute("mkdir " .. helper.quote(dir) .. " " .. helper.quote(outdir)))
  local cases = read_only_cases(dir, read_only_stores(dir))
  local before = listing(dir)
  local script = { READ_ONLY_MOUNT }
  for _, c in ipairs(cases) do
    local q = {}
    for i, a in ipairs(c[1]) do q[i] = helper.quote(a) end
    script[#script + 1] = "run " .. table.concat(q, " ") .. "\n"
  end
  local code, out, err = in_namespace(table.concat(script), dir, helper.bin, outdir)
  if code == nil then lu.skip(out) end
  lu.assertEquals(code, 0, out .. err)
  for k, c in ipairs(cases) do
    c[2](tonumber(slurp(outdir, k .. ".rc")), helper.read_file(outdir .. "/" .. k .. ".out"),
      helper.read_file(outdir .. "/" .. k .. ".err"))
  end
  lu.assertEquals(listing(dir), before, "nothing was written to the stores or beside them")
end

-- chmod 0555 on the directory and 0444 on the files. Root ignores permissions: as root the
-- commands run as nobody (setpriv), else as this user.
function TestStoreEdges:test_logs_reads_a_store_in_a_read_only_directory()
  local base = helper.tmpdir()
  local dir = base .. "/ro"
  assert(os.execute("mkdir " .. helper.quote(dir)))
  local cases = read_only_cases(dir, read_only_stores(dir))
  local prefix = {}
  local p = assert(io.popen("id -u"))
  local root = p:read("l") == "0"
  p:close()
  if root then
    if not os.execute("setpriv --version >/dev/null 2>&1") then
      lu.skip("root ignores permissions, and setpriv (to run as nobody) is not there")
    end
    prefix = { "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups" }
  end
  assert(os.execute("chmod 0444 " .. helper.quote(dir) .. "/* && chmod 0555 " .. helper.quote(dir) ..
    " && chmod 0755 " .. helper.quote(base)))
  local before = listing(dir)
  for _, c in ipairs(cases) do
    local argv = {}
    for _, a in ipairs(prefix) do argv[#argv + 1] = a end
    argv[#argv + 1] = helper.bin
    for _, a in ipairs(c[1]) do argv[#argv + 1] = a end
    c[2](helper.exec(argv))
  end
  lu.assertEquals(listing(dir), before, "nothing was written to the stores or beside them")
  assert(os.execute("chmod 0755 " .. helper.quote(dir)))     -- so that cleanup can remove it
end

-- core.json_encode's shapes: a table inside itself is "<cycle>" (only an ancestor: a table
-- met twice side by side is written twice), nesting deeper than json_max_depth is
-- "<too deep>" at exactly that level, a sequence with other keys is an object, an empty
-- table is {} unless marked an array, and escapes come out where plain text is copied
function TestStoreEdges:test_json_encode_shapes()
  local enc = core.json_encode
  local t = { a = 1 }
  t.self = t
  lu.assertEquals(enc(t, "  "), '{\n  "a": 1,\n  "self": "<cycle>"\n}')
  local shared = { 1 }
  lu.assertEquals(enc({ shared, shared }), "[[1],[1]]")
  local l = { 1, 2 }
  l[3] = l
  lu.assertEquals(enc(l), '[1,2,"<cycle>"]')
  local max = core.json_max_depth
  local function nest(n)
    local root = {}
    local cur = root
    for _ = 2, n do cur.x = {} cur = cur.x end
    return root
  end
  local deep = enc(nest(max))                       -- max tables: the innermost is written
  lu.assertEquals(select(2, deep:gsub("{", "")), max)
  lu.assertStrContains(deep, "{}")
  deep = enc(nest(max + 1))                         -- one more: it is the first not written
  lu.assertEquals(select(2, deep:gsub("{", "")), max)
  lu.assertStrContains(deep, '"<too deep>"')
  lu.assertEquals(enc({ 1, 2, x = 3 }, "  "), '{\n  "1": 1,\n  "2": 2,\n  "x": 3\n}')
  lu.assertEquals(enc({ [2] = "b" }), '{"2":"b"}')
  lu.assertEquals(enc({}), "{}")
  lu.assertEquals(enc({ {}, setmetatable({}, require("rivulet.liquid").array_mt) }), "[{},[]]")
  lu.assertEquals(enc("plain \"q\" \\ \n\t\1\127 é end"), '"plain \\"q\\" \\\\ \\n\\t\\u0001\\u007f é end"')
  lu.assertEquals(enc(string.rep("ab", 600) .. "\0"), '"' .. string.rep("ab", 600) .. '\\u0000"')
end

-- core.json_encode writes valid UTF-8: each maximal subpart of an ill-formed sequence is one
-- U+FFFD (Unicode 15 §3.9, as WHATWG's decoder and Python's "replace"); valid text is kept
-- byte for byte; raw (the store's own text) keeps every byte
function TestStoreEdges:test_json_output_is_valid_utf8()
  local R = "\239\191\189"                      -- U+FFFD
  local enc = core.json_encode
  for _, c in ipairs{
    { "a\128b", "a" .. R .. "b" },                -- a lone continuation byte
    { "\192\175\193\191", R:rep(4) },             -- C0, C1: never valid leads
    { "\245\255", R:rep(2) },                     -- F5..FF
    { "\224\128\175", R:rep(3) },                 -- an overlong (E0 needs A0..BF next)
    { "\237\160\128", R:rep(3) },                 -- a surrogate (ED needs 80..9F next)
    { "\244\144\128\128", R:rep(4) },             -- over U+10FFFF (F4 needs 80..8F next)
    { "\226\130", R },                            -- cut short at the end: one maximal subpart
    { "\226\130c", R .. "c" },
    { "\240\159\152d", R .. "d" },
    { "\226\130\226\130\172", R .. "\226\130\172" },   -- a cut-off sequence, then a whole one
    -- the edges of what is valid, kept as they are
    { "\194\128\223\191", "\194\128\223\191" },   -- U+0080, U+07FF
    { "\224\160\128\237\159\191\238\128\128\239\191\191", "\224\160\128\237\159\191\238\128\128\239\191\191" },
    { "\240\144\128\128\244\143\191\191", "\240\144\128\128\244\143\191\191" },   -- U+10000, U+10FFFF
    { "é😀", "é😀" },
  } do
    lu.assertEquals(enc(c[1]), '"' .. c[2] .. '"', c[1])
    lu.assertEquals(enc(c[1], nil, true), '"' .. c[1] .. '"', "raw keeps the bytes")
  end
  lu.assertEquals(enc({ ["k\255"] = "v\254" }), '{"k' .. R .. '":"v' .. R .. '"}')
  lu.assertEquals(enc({ ["k\255"] = { "v\254" } }, "  "), '{\n  "k' .. R .. '": [\n    "v' .. R .. '"\n  ]\n}')
  -- random bytes: the output is always valid UTF-8 (Lua's strict utf8.len), and a string that
  -- was valid comes back exactly through lua-cjson
  local json = require "rivulet.json"
  math.randomseed(12)
  for i = 1, 2000 do
    local b = {}
    for j = 1, math.random(0, 12) do
      b[j] = string.char(math.random(0, 3) == 0 and math.random(0, 255) or math.random(0x80, 0xF5))
    end
    local s = table.concat(b)
    local out = enc({ s })
    lu.assertNotNil(utf8.len(out), string.format("case %d: %q", i, s))
    if utf8.len(s) then lu.assertEquals(json.decode(out)[1], s) end
  end
end

-- A function that replies with binary: the store keeps the bytes exactly (a resumed
-- execution sees what it saw), `logs --json` is valid UTF-8 that a strict parser (Node's
-- fatal TextDecoder and JSON.parse) reads, with each invalid sequence as U+FFFD exactly as
-- WHATWG's decoder replaces them, and lua-cjson reads it back the same.
local STRICT_JSON = [[
const fs = require("fs");
const [file, raw] = process.argv.slice(1);
const text = new TextDecoder("utf-8", { fatal: true }).decode(fs.readFileSync(file));   // throws on invalid UTF-8
const rec = JSON.parse(text);
const want = new TextDecoder("utf-8").decode(fs.readFileSync(raw));                    // U+FFFD as WHATWG does
const body = rec.context.widgets.f.body;
process.stdout.write(JSON.stringify({ same: body === want, steps: rec.steps.length,
  step_body: rec.steps[1].context.outputs.body === want, replaced: body.split("\uFFFD").length - 1 }));
fs.writeFileSync(file + ".want", want);
]]

function TestStoreEdges:test_a_binary_function_reply_stores_exactly_and_logs_json_is_strict()
  local base = fx.start()
  local url = base .. "/binary/4096?seed=7"
  local reply = rivulet.http_request{ method = "GET", url = url }
  lu.assertEquals(#reply.body, 4096)
  lu.assertNil(utf8.len(reply.body), "the reply is not UTF-8")
  local dir = helper.tmpdir()
  local db = dir .. "/s.db"
  local flow = helper.write_file(dir .. "/f.lua", string.format([[return {
    { name = "Trigger", type = "trigger", on = { incomingMessage = "f" } },
    { name = "f", type = "run-function", url = %q, on = { success = "say", fail = "say" } },
    { name = "say", type = "send-message", body = "got {{widgets.f.body | size}}", on = { sent = false } },
  }]], url))
  local code, _, err = helper.run{ "run", flow, "--store", db, "--log", dir .. "/log.json" }
  lu.assertEquals(code, 0, err)
  local sid = assert(err:match("execution (FN%x+) ended"))
  local s = assert(store.open(db, { readonly = true }))
  lu.assertEquals(assert(s:record(sid)).context.widgets.f.body, reply.body, "the store keeps the bytes")
  s:close()
  local out
  code, out, err = helper.run{ "logs", "--store", db, sid, "--json" }
  lu.assertEquals(code, 0, err)
  lu.assertNotNil(utf8.len(out), "logs --json is valid UTF-8")
  helper.write_file(dir .. "/rec.json", out)
  helper.write_file(dir .. "/raw", reply.body)
  local node = os.getenv("RIVULET_NODE") or "node"
  local ncode, nout, nerr = helper.exec{ node, "-e", STRICT_JSON, dir .. "/rec.json", dir .. "/raw" }
  lu.assertEquals(ncode, 0, nerr)
  local verdict = require("rivulet.json").decode(nout)
  lu.assertEquals(verdict.steps, 3)
  lu.assertTrue(verdict.same, "the body is the reply with U+FFFD where WHATWG's decoder puts them")
  lu.assertTrue(verdict.step_body, "and so is the Step Context's")
  lu.assertTrue(verdict.replaced >= 17, verdict.replaced)       -- the fixture's prefix alone has 17
  local rec = require("rivulet.json").decode(out)
  lu.assertEquals(rec.context.widgets.f.body, helper.read_file(dir .. "/rec.json.want"), "lua-cjson reads it back")
  -- the text output and run's --log go through the same writer
  code, out = helper.run{ "logs", "--store", db, sid }
  lu.assertEquals(code, 0)
  lu.assertNotNil(utf8.len(out))
  lu.assertNotNil(utf8.len(helper.read_file(dir .. "/log.json")))
end

-- ---- the commands ------------------------------------------------------------------------------

TestStoreCli = {}

function TestStoreCli:tearDown() helper.cleanup() end

local function deliver(db, from, body, extra)
  local args = { "deliver", "--store", db, "--flow", Q3, "--from", from, "--to", TO, "--body", body }
  for _, a in ipairs(extra or {}) do args[#args + 1] = a end
  return helper.run(args)
end

function TestStoreCli:test_deliver_starts_continues_and_ends()
  local db = new_db()
  local code, out, err = deliver(db, FROM, "hi")
  lu.assertEquals(code, 0, err)
  lu.assertEquals(out, "> First?\n")
  lu.assertStrMatches(err, "execution FN%x+ started; waits for a reply at 'q1'\n")
  code, out = deliver(db, FROM, "a")
  lu.assertEquals(code, 0)
  lu.assertEquals(out, "> Second?\n")
  lu.assertEquals(deliver(db, FROM, "b"), 0)
  code, out, err = deliver(db, FROM, "c")
  lu.assertEquals(code, 0)
  lu.assertEquals(out, "> a b c\n")
  lu.assertStrContains(err, "delivered; ended: 'done' ended the flow on 'sent'")
  -- the next message starts a new execution
  code, out, err = deliver(db, FROM, "again", { "--json" })
  lu.assertEquals(code, 0, err)
  local j = require("rivulet.json").decode(out)
  lu.assertEquals(j.how, "started")
  lu.assertEquals(j.state, "q1")
  lu.assertEquals(j.waiting, "reply")
  lu.assertEquals(j.sent[1].body, "First?")
end

-- an execution keeps the flow it started with (stored with it) when the file changes
function TestStoreCli:test_a_changed_flow_file_applies_to_new_executions_only()
  local dir = helper.tmpdir()
  local db, flow = dir .. "/store.db", dir .. "/f.lua"
  local function write(greeting)
    helper.write_file(flow, string.format([[return {
      { name = "Trigger", type = "trigger", on = { incomingMessage = "ask" } },
      { name = "ask", type = "send-and-wait-for-reply", body = %q, on = { incomingMessage = "bye" } },
      { name = "bye", type = "send-message", body = "bye from %s", on = { sent = false } },
    }]], greeting, greeting))
  end
  local function say(from, body)
    local code, out, err = helper.run{ "deliver", "--store", db, "--flow", flow, "--from", from, "--to", TO,
                                       "--body", body }
    lu.assertEquals(code, 0, err)
    return out
  end
  write("v1")
  lu.assertEquals(say("+1", "hi"), "> v1\n")
  write("v2")
  lu.assertEquals(say("+1", "answer"), "> bye from v1\n")
  lu.assertEquals(say("+2", "hi"), "> v2\n")
  lu.assertEquals(say("+2", "answer"), "> bye from v2\n")
  local s = assert(store.open(db, { readonly = true }))
  lu.assertEquals(s:first("SELECT count(*) AS n FROM flows").n, 2)
  s:close()
end

-- a store with no traffic still keeps time: --tick fires the due timeouts (for cron)
function TestStoreCli:test_tick_fires_due_timeouts_without_a_message()
  local dir = helper.tmpdir()
  local db = dir .. "/store.db"
  local flow = helper.write_file(dir .. "/f.lua", [[return {
    { name = "Trigger", type = "trigger", on = { incomingMessage = "ask" } },
    { name = "ask", type = "send-and-wait-for-reply", body = "Quick?", timeout = "1",
      on = { incomingMessage = "yes", timeout = "late" } },
    { name = "yes", type = "send-message", body = "yes", on = { sent = false } },
    { name = "late", type = "send-message", body = "Too late", on = { sent = false } },
  }]])
  local code, out = helper.run{ "deliver", "--store", db, "--flow", flow, "--from", FROM, "--to", TO, "--body", "hi" }
  lu.assertEquals(code, 0)
  lu.assertEquals(out, "> Quick?\n")
  local err
  code, out, err = helper.run{ "deliver", "--store", db, "--tick" }
  lu.assertEquals(code, 0, err)
  lu.assertEquals(out, "")                                   -- not due yet
  lu.assertStrContains(err, "0 executions had something to do")
  core.sleep(1100)
  code, out, err = helper.run{ "deliver", "--store", db, "--tick" }
  lu.assertEquals(code, 0, err)
  lu.assertEquals(out, "> (to " .. FROM .. ") Too late\n")
  lu.assertStrContains(err, "1 execution had something to do")
  code, out, err = helper.run{ "deliver", "--store", db, "--tick", "--body", "x" }
  lu.assertEquals(code, 2)
  lu.assertEquals(out, "")
  lu.assertStrContains(err, "--tick delivers no message: --body does not go with it")
end

function TestStoreCli:test_deliver_usage_errors()
  local db = new_db()
  for _, case in ipairs{
    { { "deliver", "--flow", Q3, "--from", FROM, "--to", TO, "--body", "x" }, "--store DB is required" },
    { { "deliver", "--store", db, "--from", FROM, "--to", TO, "--body", "x" }, "--flow is required" },
    { { "deliver", "--store", db, "--flow", Q3, "--to", TO, "--body", "x" }, "--from is required" },
    { { "deliver", "--store", db, "--flow", Q3, "--from", FROM, "--to", TO }, "--body is required" },
    { { "deliver", "--store", db, "--flow", Q3, "--from", FROM, "--to", TO, "--body", "x", "--bogus" },
      "unknown option '--bogus'" },
    { { "deliver", "--store", db, "--flow", "/nope.lua", "--from", FROM, "--to", TO, "--body", "x" }, "/nope.lua" },
  } do
    local code, _, err = helper.run(case[1])
    lu.assertEquals(code, 2, err)
    lu.assertStrContains(err, case[2])
  end
  lu.assertNil(helper.read_file(db), "no store is created for a refused delivery")
end

function TestStoreCli:test_logs_lists_filters_and_shows()
  local db = new_db()
  deliver(db, "+15550000001", "hi")
  deliver(db, "+15550000002", "hi")
  for _, b in ipairs{ "a", "b", "c" } do deliver(db, "+15550000002", b) end
  local code, out = helper.run{ "logs", "--store", db }
  lu.assertEquals(code, 0)
  local lines = {}
  for l in out:gmatch("[^\n]+") do lines[#lines + 1] = l end
  lu.assertEquals(#lines, 3)
  lu.assertStrMatches(lines[1], "SID%s+FLOW%s+CONTACT%s+STATUS%s+STARTED%s+ENDED")
  lu.assertStrContains(lines[2], "+15550000002")         -- newest first
  lu.assertStrContains(lines[2], "ended")
  lu.assertStrContains(lines[3], "active")
  lu.assertStrContains(lines[3], "three_questions")
  code, out = helper.run{ "logs", "--store", db, "--status", "active" }
  lu.assertEquals(code, 0)
  lu.assertEquals(helper.count(out, "FN"), 1)
  lu.assertStrContains(out, "+15550000001")
  code, out = helper.run{ "logs", "--store", db, "--since", "1h", "--json" }
  lu.assertEquals(code, 0)
  local list = require("rivulet.json").decode(out)
  lu.assertEquals(#list, 2)
  lu.assertEquals(list[1].steps, 5)
  code, out = helper.run{ "logs", "--store", db, "--until", "2000-01-01" }
  lu.assertEquals(code, 0)
  lu.assertEquals(helper.count(out, "FN"), 0)
  local err
  code, out, err = helper.run{ "logs", "--store", db, "--status", "weird" }
  lu.assertEquals(code, 2)
  lu.assertEquals(out, "")
  lu.assertStrContains(err, "--status must be active, ended or failed, not 'weird'")
  -- one execution: steps and context; --json is the execution record
  local sid = list[1].sid
  code, out = helper.run{ "logs", "--store", db, sid }
  lu.assertEquals(code, 0)
  lu.assertStrContains(out, "execution " .. sid)
  lu.assertStrContains(out, "steps (5)")
  lu.assertStrMatches(out, ".*incomingMessage%s+q2 %-> q3.*")
  lu.assertStrContains(out, '"Body": "c"')
  code, out = helper.run{ "logs", "--store", db, sid, "--json" }
  lu.assertEquals(code, 0)
  local rec = require("rivulet.json").decode(out)
  lu.assertEquals(rec.sid, sid)
  lu.assertEquals(rec.flow, "three_questions")
  lu.assertEquals(rec.status, "ended")
  lu.assertEquals(#rec.steps, 5)
  lu.assertEquals(rec.steps[4].transitioned_to, "done")
  lu.assertEquals(rec.context.widgets.q3.inbound.Body, "c")
  code = helper.run{ "logs", "--store", db, "FN0000" }
  lu.assertEquals(code, 1)
end

function TestStoreCli:test_run_with_store_keeps_the_record()
  local db = new_db()
  local code, _, err = helper.run{ "run", Q3, "--store", db, "--reply", "x", "--reply", "y", "--reply", "z" }
  lu.assertEquals(code, 0, err)
  local sid = err:match("execution (FN%x+) ended")
  local s = assert(store.open(db, { readonly = true }))
  local rec = assert(s:record(sid))
  lu.assertEquals(rec.status, "ended")
  lu.assertEquals(#rec.steps, 5)
  s:close()
end

function TestStoreCli:test_logs_parse_time()
  local logs = require "rivulet.cli.logs"
  lu.assertEquals(logs.parse_time("1970-01-02"), 86400)
  lu.assertEquals(logs.parse_time("2026-11-25T14:00Z"), 1795615200)
  lu.assertEquals(logs.parse_time("2026-11-25T14:00:30"), 1795615230)
  lu.assertEquals(logs.parse_time("2000-02-29"), 951782400)
  lu.assertEquals(logs.parse_time("90m", 10000), 10000 - 5400)
  lu.assertEquals(logs.parse_time("1764000000"), 1764000000)
  lu.assertNil(logs.parse_time("yesterday"))
  lu.assertNil(logs.parse_time("2026-13-01"))
  lu.assertNil(logs.parse_time("2026-11-25T25:00"))
end

-- ---- batches: one commit for many writes (rivulet serve's turns) ----------------------------

TestStoreBatch = {}

function TestStoreBatch:tearDown() helper.cleanup() end

function TestStoreBatch:test_a_batch_commits_once_and_others_see_it_only_then()
  local db = new_db()
  local e = engine_on(db)
  local flow = assert(rivulet.load_flow(Q3))
  e:begin_batch()
  for i = 1, 20 do assert(e:start(flow, { from = contact(i), to = TO, body = "hi" })) end
  local other = assert(store.open(db, { readonly = true }))
  lu.assertEquals(other:counts().executions, 0, "nothing is committed inside the batch")
  assert(e:end_batch())
  lu.assertEquals(other:counts().executions, 20)
  lu.assertEquals(other:counts().active, 20)
  other:close()
  -- a batch with no writes commits nothing and says so
  e:begin_batch()
  lu.assertTrue(e:end_batch())
  e.store:close()
end

-- engine a holds contact(1)'s conversation; engine b, on the same store, has a batch open
local function batch_beside_a_conversation()
  local db = new_db()
  local a = engine_on(db)
  local b = engine_on(db, { resume = false })
  local flow = assert(rivulet.load_flow(Q3))
  assert(a:start(flow, { from = contact(1), to = TO, body = "hi" }))
  b:begin_batch()
  return db, a, b, flow
end

-- a write refused inside a batch (the contact has an active execution: a constraint) takes
-- back that write alone; the others of the batch are committed
function TestStoreBatch:test_a_refused_write_leaves_the_rest_of_the_batch()
  local db, a, b, flow = batch_beside_a_conversation()
  local x = assert(b:start(flow, { from = contact(2), to = TO, body = "hi" }))
  local y, err = b:start(flow, { from = contact(1), to = TO, body = "hi" })
  lu.assertNil(y)
  lu.assertStrContains(err, "already has an active execution")
  local z = assert(b:start(flow, { from = contact(3), to = TO, body = "hi" }))
  assert(b:end_batch())
  local s = assert(store.open(db, { readonly = true }))
  lu.assertEquals(s:counts().executions, 3)
  lu.assertEquals(s:record(x.sid).state, "q1")
  lu.assertEquals(s:record(z.sid).state, "q1")
  s:close()
  a.store:close()
  b.store:close()
end

-- the batch's first write refused: it opened the batch's transaction (with no savepoint of
-- its own, it is all the transaction holds), and taking it back leaves the batch as before it;
-- the writes after it are committed at the batch's end, not before
function TestStoreBatch:test_a_refused_first_write_leaves_the_batch_as_it_was()
  local db, a, b, flow = batch_beside_a_conversation()
  local y, err = b:start(flow, { from = contact(1), to = TO, body = "hi" })
  lu.assertNil(y)
  lu.assertStrContains(err, "already has an active execution")
  local z = assert(b:start(flow, { from = contact(2), to = TO, body = "hi" }))
  local other = assert(store.open(db, { readonly = true }))
  lu.assertEquals(other:counts().executions, 1, "nothing of the batch is committed before its end")
  assert(b:end_batch())
  lu.assertEquals(other:counts().executions, 2)
  lu.assertEquals(other:record(z.sid).state, "q1")
  lu.assertEquals(#other:record(z.sid).steps, 1)
  other:close()
  a.store:close()
  b.store:close()
end

-- a commit that fails keeps nothing of the batch (SQLite rolls it back), and every
-- execution written in it leaves the engine: its copy in memory is ahead of the store.
-- (SQLite reports a full disk at the write that needs the room, not at COMMIT, so the
-- failure is made here by the store's COMMIT itself failing.)
function TestStoreBatch:test_a_failed_commit_detaches_what_the_batch_wrote()
  local db = new_db()
  local e = engine_on(db)
  local flow = assert(rivulet.load_flow(Q3))
  local kept = assert(e:start(flow, { from = contact(9), to = TO, body = "hi" }))
  e:begin_batch()
  local xs = {}
  for i = 1, 3 do xs[i] = assert(e:start(flow, { from = contact(i), to = TO, body = "hi" })) end
  e.store.tx = function(st, sql)
    if sql == "COMMIT" then return nil, "disk I/O error", "ioerr" end
    return store.Store.tx(st, sql)
  end
  local ok, err, code = e:end_batch()
  e.store.tx = nil
  lu.assertNil(ok)
  lu.assertEquals(err, "disk I/O error")
  lu.assertEquals(code, "ioerr")
  for _, x in ipairs(xs) do lu.assertEquals(x.status, "detached") end
  lu.assertEquals(kept.status, "active")
  e.store:close()
  local s = assert(store.open(db, { readonly = true }))
  lu.assertEquals(s:counts().executions, 1, "nothing of the batch was kept")
  lu.assertTrue(s:check())
  s:close()
end

-- Without a host's batch, an event runs in the engine's own (issue #17: one commit per run,
-- not per step): the steps that tell nobody anything wait for the next commit, and before
-- each host callback (a message printed or sent: an outside effect) what the run did so
-- far is committed. Here 5 Set Variables run between the Trigger and a Send & Wait: when
-- the prompt goes out, another connection sees all 6 steps; the start commits twice (before
-- the prompt, then its wait), where a commit per write made 7.
function TestStoreBatch:test_a_run_commits_before_it_tells_anyone_and_at_its_wait()
  local db = new_db()
  local states = { { name = "Trigger", type = "trigger", on = { incomingMessage = "v1" } } }
  for i = 1, 5 do
    states[#states + 1] = { name = "v" .. i, type = "set-variables", variables = { ["x" .. i] = "{{trigger.message.Body}}" },
                            on = { next = i < 5 and "v" .. (i + 1) or "ask" } }
  end
  states[#states + 1] = { name = "ask", type = "send-and-wait-for-reply", body = "Yes?",
                          on = { incomingMessage = "done" } }
  states[#states + 1] = { name = "done", type = "send-message", body = "{{flow.variables.x5}} {{widgets.ask.inbound.Body}}" }
  local flow = assert(rivulet.load_flow(states))
  local seen = {}
  local e
  e = assert(rivulet.engine{ store = db, on_message = function(x, m)
    local other = assert(store.open(db, { readonly = true }))
    local rec = other:record(x.sid)
    seen[#seen + 1] = { body = m.body, steps = rec and #rec.steps }
    other:close()
  end })
  local commits = 0
  if backend.new_db == backend.sqlite then
    e.store.tx = function(st, sql)
      if sql == "COMMIT" then commits = commits + 1 end
      return store.Store.tx(st, sql)
    end
  end
  local x = assert(e:start(flow, { from = FROM, to = TO, body = "hi" }))
  lu.assertEquals(seen, { { body = "Yes?", steps = 6 } }, "the 6 steps before the prompt were committed before it")
  if backend.new_db == backend.sqlite then lu.assertEquals(commits, 2) end
  assert(e:deliver{ from = FROM, to = TO, body = "ok" })
  lu.assertEquals(seen[2], { body = "hi ok", steps = 7 })
  lu.assertEquals(x.status, "ended")
  e.store.tx = nil
  e.store:close()
  local s = assert(store.open(db, { readonly = true }))
  local rec = assert(s:record(x.sid))
  lu.assertEquals(rec.status, "ended")
  lu.assertEquals(#rec.steps, 8)
  s:close()
end

-- A run cut off mid-way keeps what was committed before its host callback; the next process
-- runs the cut-off step again from there (at least once, as before: the message goes out
-- once more). The cut is the C API's rivulet_close from a callback: a count hook that raises
-- at every instruction, which no pcall inside the engine can swallow.
function TestStoreBatch:test_a_run_cut_off_resumes_from_its_last_commit()
  local db = new_db()
  local flow = assert(rivulet.load_flow{
    { name = "Trigger", type = "trigger", on = { incomingMessage = "v" } },
    { name = "v", type = "set-variables", variables = { a = "1" }, on = { next = "say" } },
    { name = "say", type = "send-message", body = "said {{flow.variables.a}}" },
  })
  local here = debug.getinfo(1, "S").source       -- the hook spares this file's code
  local e = assert(rivulet.engine{ store = db, on_message = function()
    debug.sethook(function()
      local info = debug.getinfo(2, "S")
      if info and info.source ~= here then error("host gone", 0) end
    end, "", 1)
  end })
  local ok, err = pcall(e.start, e, flow, { from = FROM, to = TO, body = "hi" })
  debug.sethook()
  lu.assertFalse(ok)
  lu.assertStrContains(tostring(err), "host gone")
  e.store:close()
  local s = assert(store.open(db, { readonly = true }))
  local exec = assert(s:contact_execution(FROM, TO))
  local rec = assert(s:record(exec.sid))
  lu.assertEquals({ rec.state, #rec.steps }, { "say", 2 }, "committed before the callback: Trigger and v")
  s:close()
  local e2, sent = engine_on(db)
  e2:poll(0)
  lu.assertEquals(#sent, 1)
  lu.assertEquals(sent[1].body, "said 1")
  e2.store:close()
  s = assert(store.open(db, { readonly = true }))
  rec = assert(s:record(exec.sid))
  lu.assertEquals({ rec.status, #rec.steps }, { "ended", 3 })
  s:close()
end

-- a timer that fires inside a batch (Send & Wait's timeout -> Run Function) starts its call,
-- but the request leaves only after the batch's commit: the step that made it must be durable
-- first (engine.lua, begin_batch). A listener that never answers tells whether it came.
function TestStoreBatch:test_a_call_started_by_a_timer_waits_for_the_commit()
  local socket = require "socket"
  local listener = assert(socket.bind("127.0.0.1", 0))
  listener:settimeout(0)
  local _, port = listener:getsockname()
  local clock = 1000
  local e = engine_on(new_db(), { now = function() return clock end })
  local exec = assert(e:start({
    { name = "Trigger", type = "trigger", on = { incomingMessage = "ask" } },
    { name = "ask", type = "send-and-wait-for-reply", body = "Name?", timeout = "60",
      on = { incomingMessage = false, timeout = "fn" } },
    { name = "fn", type = "run-function", url = "http://127.0.0.1:" .. port .. "/f",
      on = { success = false, fail = false } },
  }, { from = contact(1), to = TO, body = "hi" }))
  clock = clock + 61
  e:begin_batch()
  e:poll(50)
  lu.assertEquals(exec.wait and exec.wait.kind, "http", "the timeout started the call")
  lu.assertNil(listener:accept(), "nothing left before the commit")
  assert(e:end_batch())
  local conn
  for _ = 1, 100 do
    e:poll(10)
    conn = listener:accept()
    if conn then break end
  end
  lu.assertNotNil(conn, "the request went out after the commit")
  conn:close()
  listener:close()
  e.store:close()
end

-- ---- the serve inbox: webhook events kept until acted on, claimed by one process ----------

TestStoreInbox = {}

function TestStoreInbox:tearDown() helper.cleanup() end

-- a pid that was a process of this host and is not any more
local function dead_pid()
  local p = assert(io.popen("sh -c 'echo $$'"))
  local pid = tonumber(p:read("l"))
  p:close()
  for _ = 1, 100 do
    if not core.process_alive(pid) then return pid end
    core.sleep(5)
  end
  error("process " .. pid .. " does not end")
end

local function sids(rows)
  local out = {}
  for i, r in ipairs(rows) do out[i] = r.sid end
  return out
end

function TestStoreInbox:test_an_event_is_pending_from_its_take_to_its_done_and_taken_once()
  local s = assert(store.open(new_db()))
  lu.assertTrue(s:take_event("SM1", nil, '{"event":1}'))
  lu.assertFalse(s:take_event("SM1", nil, '{"event":2}'), "Twilio's retry")
  lu.assertTrue(s:take_event("CA1"))              -- no payload: nothing to act on later
  lu.assertEquals(s:pending_events(), { { sid = "SM1", payload = '{"event":1}' } })
  lu.assertEquals(s:pending_events(function() return false end), {}, "keep refuses it")
  assert(s:event_done("SM1"))
  lu.assertEquals(s:pending_events(), {})
  lu.assertFalse(s:take_event("SM1", nil, '{"event":3}'), "done is still taken")
  s:close()
end

-- pending events come oldest first, at most `limit` of them
function TestStoreInbox:test_pending_events_oldest_first_up_to_the_limit()
  local s = assert(store.open(new_db()))
  for i = 1, 5 do
    assert(s:take_event("SM" .. i, nil, "p" .. i))
    core.sleep(2)
  end
  lu.assertEquals(sids(s:pending_events(nil, 3)), { "SM1", "SM2", "SM3" })
  lu.assertEquals(sids(s:pending_events()), { "SM1", "SM2", "SM3", "SM4", "SM5" })
  s:close()
end

-- An event taken by a live process elsewhere is left to it until its lease runs out; one
-- whose process on this host is gone is claimed at once. A claim makes it the claimer's:
-- the process that took it does not get it back.
function TestStoreInbox:test_a_pending_event_is_claimed_from_a_gone_owner_only()
  local db = new_db()
  local a = assert(store.open(db))
  local b = assert(store.open(db))
  a.owner = "4242@elsewhere.test"                  -- another host, alive as far as anyone knows
  assert(a:take_event("SM1", nil, "one"))
  lu.assertEquals(b:pending_events(), {}, "its lease runs")
  assert(b:run("UPDATE webhook_events SET lease_until = ? WHERE sid = ?", core.now() - 1, "SM1"))
  lu.assertEquals(sids(b:pending_events()), { "SM1" }, "its lease ran out")
  lu.assertEquals(a:pending_events(), {}, "b holds it now (b's process lives)")
  -- the owner is on this host and its process is gone: no need to wait for the lease
  a.owner = dead_pid() .. "@" .. core.hostname()
  assert(a:take_event("SM2", nil, "two"))
  -- b's own pending events come again too (rivulet serve's keep refuses those it has in hand)
  lu.assertEquals(sids(b:pending_events()), { "SM1", "SM2" })
  lu.assertEquals(sids(b:pending_events(function(r) return r.sid ~= "SM1" end)), { "SM2" })
  lu.assertEquals(#assert(b:all("SELECT sid FROM webhook_events WHERE owner = ? AND done = 0", b.owner)), 2)
  a:close()
  b:close()
end

-- an event done inside a batch is done once the batch commits (with the steps it caused)
function TestStoreInbox:test_an_event_is_done_with_the_commit_of_its_batch()
  local db = new_db()
  local s = assert(store.open(db))
  assert(s:take_event("SM1", nil, "one"))
  local peek = assert(store.open(db, { readonly = true }))
  local function pending() return sids(assert(peek:all("SELECT sid FROM webhook_events WHERE done = 0"))) end
  s:begin_batch()
  assert(s:event_done("SM1"))
  lu.assertTrue(s:take_event("SM2", nil, "two"))
  lu.assertEquals(pending(), { "SM1" }, "SM1 pending, SM2 not there until the commit")
  assert(s:end_batch())
  lu.assertEquals(pending(), { "SM2" })
  lu.assertEquals(sids(s:pending_events()), { "SM2" })
  peek:close()
  s:close()
end

-- ---- the trigger's own column (schema 6) -----------------------------------------------------
-- The Execution Context's trigger is written once, by an execution's first write, in a column
-- of its own; `context` keeps a placeholder at its place. Every reader gets the context as
-- before, byte for byte and key for key; rows of schema 5 (trigger inline) read as they are.

TestStoreTrigger = {}

local SCHEMA5 = FIX .. "schema5.lua"

function TestStoreTrigger:tearDown()
  store.SCHEMA_VERSION = SCHEMA_VERSION
  require("rivulet.store_pg").SCHEMA_VERSION = SCHEMA_VERSION
  helper.cleanup()
end

-- the store's own text of a value (raw: bytes as they are)
local function raw(v) return core.json_encode(v, nil, true) end

-- a trigger with what JSON and Lua make unusual (the fixture's, as given to e:start)
local function odd_message()
  return { Empty = {}, Nested = { a = { b = { "x", 1.5, true, false } } }, Bin = "\xff\xfe\0raw\x80",
           Uni = "h\xc3\xa9llo \xe2\x98\x83", Quote = "\"\\\n\t/", Big = 9007199254740991, Float = 0.1 }
end

-- calls f() counting the encodes by core.json_encode of `value` (by identity; nil: of any
-- message trigger, a table holding `message`)
local function encodes_of(value, f)
  local enc, n = core.json_encode, 0
  core.json_encode = function(v, ...)
    if rawequal(v, value) or (value == nil and type(v) == "table" and type(rawget(v, "message")) == "table") then
      n = n + 1
    end
    return enc(v, ...)
  end
  local ok, err = pcall(f)
  core.json_encode = enc
  assert(ok, err)
  return n
end

-- the stored columns of an execution, as text
local function columns(s, sid)
  return assert(s:first("SELECT context, trigger FROM executions WHERE sid = ?", sid))
end

function TestStoreTrigger:test_the_trigger_is_encoded_by_the_first_write_only()
  local e = engine_on(new_db())
  local x
  lu.assertEquals(encodes_of(nil, function()
    x = assert(e:start(Q3, { from = FROM, to = TO, body = "hi" }))
    for i = 1, 3 do assert(e:deliver{ from = FROM, to = TO, body = "a" .. i }) end
  end), 1, "start, 3 replies and the end: the trigger encoded once")
  lu.assertEquals(x.status, "ended")
  local trigger = x.context.trigger
  local c = columns(e.store, x.sid)
  lu.assertStrContains(c.context, '"trigger":0')
  lu.assertNotStrContains(c.context, '"message"')
  lu.assertEquals(c.trigger, raw(trigger))
  lu.assertEquals(raw(assert(e.store:execution(x.sid)).context), raw(x.context))
  e.store:close()
end

-- what each reader gets is what it got before: the context encoded from the store is the one
-- the engine holds, at every write, fresh or taken back from the store by another engine
function TestStoreTrigger:test_contexts_read_back_byte_for_byte_at_every_write()
  local db = new_db()
  local e = engine_on(db)
  local x = assert(e:start(Q3, { from = FROM, to = TO, body = "hi", message = odd_message() }))
  local function same(live)
    local s = assert(store.open(db, { readonly = true }))
    local row = assert(s:execution(live.sid))
    lu.assertEquals(raw(row.context), raw(live.context))
    lu.assertEquals(store.encode(row.context), store.encode(live.context))
    lu.assertEquals(store.encode(assert(s:record(live.sid)).context), store.encode(live.context))
    local m = row.context.trigger.message
    lu.assertEquals(m.Bin, "\xff\xfe\0raw\x80")
    lu.assertEquals(m.Uni, "h\xc3\xa9llo \xe2\x98\x83")
    lu.assertEquals(m.Quote, "\"\\\n\t/")
    lu.assertEquals(m.Big, 9007199254740991)
    lu.assertEquals(math.type(m.Big), "integer")
    lu.assertEquals(m.Float, 0.1)
    lu.assertEquals(m.Empty, {})
    lu.assertEquals(m.Nested, { a = { b = { "x", 1.5, true, false } } })
    lu.assertEquals(store.encode(m.Empty), "{}")
    s:close()
  end
  same(x)
  assert(e:deliver{ from = FROM, to = TO, body = "one" })
  same(x)
  e.store:close()
  -- another engine takes it from the store (decoded, ordered) and writes it on
  local e2 = engine_on(db)
  local y
  lu.assertEquals(encodes_of(nil, function()
    y = assert(e2:deliver{ from = FROM, to = TO, body = "two" })
  end), 0, "the row read back holds the trigger: not written again")
  lu.assertEquals(y.sid, x.sid)
  lu.assertFalse(rawequal(y, x))
  same(y)
  assert(e2:deliver{ from = FROM, to = TO, body = "three" })
  lu.assertEquals(y.status, "ended")
  same(y)
  local c = columns(e2.store, x.sid)
  lu.assertStrContains(c.context, '"trigger":0')
  e2.store:close()
end

-- an execution packed at rest (rivulet.packed) and unpacked by the reply keeps knowing its
-- trigger is written: the mark is the trigger itself, and packing keeps shared tables shared.
-- (Unpacked, a table without a JSON key order may iterate in another order than before: the
-- store keeps the trigger's order as the start wrote it, the rest as the write finds it.)
function TestStoreTrigger:test_a_packed_execution_does_not_write_its_trigger_again()
  local packed = require "rivulet.packed"
  local e = engine_on(new_db())
  local x = assert(e:start(Q3, { from = FROM, to = TO, body = "hi" }))
  local written = raw(x.context.trigger)
  assert(packed.pack(x))
  lu.assertTrue(packed.is_packed(x))
  lu.assertEquals(encodes_of(nil, function() assert(e:deliver{ from = FROM, to = TO, body = "one" }) end), 0)
  lu.assertFalse(packed.is_packed(x))
  local row = assert(e.store:execution(x.sid))
  lu.assertEquals(raw(row.context.trigger), written)
  lu.assertEquals(row.context.trigger, x.context.trigger)
  local live = x.context.trigger
  x.context.trigger = row.context.trigger           -- the rest byte for byte
  lu.assertEquals(raw(row.context), raw(x.context))
  x.context.trigger = live
  e.store:close()
end

-- nothing in rivulet replaces or changes a trigger, but a caller holding the execution may
-- replace it: the column follows (once), and a write that fails midway leaves it in place
function TestStoreTrigger:test_a_replaced_trigger_is_written_again_once()
  local db = new_db()
  local e = engine_on(db)
  local x = assert(e:start(Q3, { from = FROM, to = TO, body = "hi" }))
  local s = e.store
  local new = { message = { Body = "changed", Deep = { {} } }, other = "x" }
  x.context.trigger = new
  lu.assertEquals(encodes_of(new, function() assert(s:write(x, nil, x.state)) end), 1)
  lu.assertEquals(encodes_of(new, function() assert(s:write(x, nil, x.state)) end), 0)
  local row = assert(s:execution(x.sid))
  lu.assertEquals(row.context.trigger, new)
  lu.assertEquals(raw(row.context), raw(x.context))
  -- an empty trigger, then none at all
  x.context.trigger = {}
  assert(s:write(x, nil, x.state))
  lu.assertEquals(raw(assert(s:execution(x.sid)).context), raw(x.context))
  lu.assertEquals(assert(s:execution(x.sid)).context.trigger, {})
  x.context.trigger = nil
  assert(s:write(x, nil, x.state))
  row = assert(s:execution(x.sid))
  lu.assertNil(row.context.trigger)
  lu.assertNil(columns(s, x.sid).trigger)
  lu.assertEquals(raw(row.context), raw(x.context))
  -- and the conversation goes on with the context as it now is
  x.context.trigger = new
  assert(e:deliver{ from = FROM, to = TO, body = "one" })
  lu.assertEquals(assert(s:execution(x.sid)).context.trigger, new)
  s:close()
end

function TestStoreTrigger:test_a_context_that_does_not_encode_keeps_its_trigger()
  local e = engine_on(new_db())
  local x = assert(e:start(Q3, { from = FROM, to = TO, body = "hi" }))
  local trigger = x.context.trigger
  local bad = setmetatable({}, { __tostring = function() error("no name for this key") end })
  x.context.widgets[bad] = 1
  local ok, err = pcall(e.store.write, e.store, x, nil, x.state)
  lu.assertFalse(ok)
  lu.assertStrContains(tostring(err), "no name for this key")
  lu.assertTrue(rawequal(x.context.trigger, trigger), "the trigger is put back")
  x.context.widgets[bad] = nil
  assert(e.store:write(x, nil, x.state))
  lu.assertEquals(raw(assert(e.store:execution(x.sid)).context), raw(x.context))
  e.store:close()
end

-- a store of schema 5 (written by that rivulet: spec/fixtures/store/make_schema5.lua) migrates
-- in place: its rows keep their inline trigger and read as that rivulet showed them, byte for
-- byte (context, record); an execution of it written again gets the column, and goes on
function TestStoreTrigger:test_a_schema_5_store_reads_as_before_and_goes_on()
  local fx5 = dofile(SCHEMA5)
  local FIXTURE5_SINCE = 1796592850      -- when the fixture's executions began to wait (its rows: wait.since)
  local db = new_db()
  local pg_store = require "rivulet.store_pg"
  store.SCHEMA_VERSION, pg_store.SCHEMA_VERSION = 5, 5
  local old, oerr = store.open(db)
  store.SCHEMA_VERSION, pg_store.SCHEMA_VERSION = SCHEMA_VERSION, SCHEMA_VERSION
  assert(old, oerr)
  for _, t in ipairs({ "flows", "executions", "steps" }) do
    for _, row in ipairs(fx5[t]) do
      local cols, marks, vals = {}, {}, {}
      for k, v in pairs(row) do cols[#cols + 1], marks[#marks + 1], vals[#vals + 1] = k, "?", v end
      assert(old:run(string.format("INSERT INTO %s (%s) VALUES (%s)", t, table.concat(cols, ", "),
        table.concat(marks, ", ")), table.unpack(vals, 1, #cols)))
    end
  end
  old:close()
  local s = assert(store.open(db))              -- migrates to 6
  local function as_before(sid, why)
    local row = assert(s:execution(sid))
    local shown = fx5.shown[sid]
    lu.assertEquals(store.encode(row.context), shown.context, why)
    lu.assertEquals(raw(row.context), shown.raw, why)
    lu.assertEquals(store.encode(assert(s:record(sid)), "  "), shown.record, why)
  end
  for sid in pairs(fx5.shown) do
    as_before(sid, sid)
    lu.assertNil(columns(s, sid).trigger, "not rewritten by the migration")
  end
  s:close()
  -- an engine takes the waiting ones back; the first write of each writes its trigger column.
  -- Its clock stands a minute into the fixture's waits (made with an hour's timeout): the
  -- real one, an hour after the fixture was made, timed them out before any reply
  local e, sent = engine_on(db, { now = function() return FIXTURE5_SINCE + 60 end })
  local trigger = require("rivulet.json").decode(fx5.shown[fx5.waiting].raw, true).trigger
  local x = assert(e:deliver{ from = "+15550000001", to = "+15559990000", body = "b1" })
  lu.assertEquals(x.sid, fx5.waiting)
  local c = columns(e.store, x.sid)
  lu.assertEquals(c.trigger, raw(trigger))
  lu.assertStrContains(c.context, '"trigger":0')
  local row = assert(e.store:execution(x.sid))
  lu.assertEquals(raw(row.context), raw(x.context))
  lu.assertEquals(raw(row.context.trigger), raw(trigger))
  lu.assertEquals(row.context.trigger.message.Bin, "\xff\xfe\0raw\x80")
  -- the context's keys in their order: the trigger where it was
  local json = require "rivulet.json"
  lu.assertEquals(getmetatable(row.context).__keys,
    getmetatable(json.decode(fx5.shown[fx5.waiting].raw, true)).__keys)
  lu.assertEquals(encodes_of(x.context.trigger, function()
    assert(e:deliver{ from = "+15550000001", to = "+15559990000", body = "b2" })
    assert(e:deliver{ from = "+15550000001", to = "+15559990000", body = "b3" })
  end), 0, "written once: not again")
  lu.assertEquals(x.status, "ended")
  lu.assertEquals(sent[#sent].body, "b1 b2 b3")
  lu.assertEquals(raw(assert(e.store:execution(x.sid)).context), raw(x.context))
  -- the one half-way: its first answer, from the old row, comes back in the summary
  assert(e:deliver{ from = "+15550000002", to = "+15559990000", body = "c2" })
  local y = assert(e:deliver{ from = "+15550000002", to = "+15559990000", body = "c3" })
  lu.assertEquals(y.sid, fx5.second)
  lu.assertEquals(sent[#sent].body, "a1 c2 c3")
  lu.assertEquals(raw(assert(e.store:execution(y.sid)).context), raw(y.context))
  -- the ended one was not written again: read by its inline form still
  lu.assertNil(columns(e.store, fx5.ended).trigger)
  s = e.store
  as_before(fx5.ended, "ended")
  s:close()
end

-- ---- the same specs on PostgreSQL ----------------------------------------------------------
-- Every class above that is about the store's behaviour (not SQLite's file) runs again with
-- each store in a fresh database of a real PostgreSQL server (spec/pg_helper.lua; skipped,
-- with the reason, when PostgreSQL cannot be installed). Left out: what only a file has
-- (its lock, its bytes on disk, WAL), listed here.
local pg = require "spec.pg_helper"
local SQLITE_ONLY = {
  test_a_write_that_cannot_get_the_lock_in_time_detaches_the_execution = true,   -- SQLite's lock
  test_auth_token_never_reaches_the_store = true,       -- reads the file (TestStorePg has its own)
  test_a_failed_commit_detaches_what_the_batch_wrote = true,   -- fakes SQLite's COMMIT (TestStorePg has its own)
}

for _, name in ipairs{ "TestStoreWrites", "TestStoreResume", "TestStoreCrash", "TestStoreConcurrent",
                       "TestStoreBatch", "TestStoreInbox", "TestStoreTrigger" } do
  local class = _G[name]
  local copy = {}
  for k, v in pairs(class) do
    if not SQLITE_ONLY[k] then copy[k] = v end
  end
  copy.setUp = function() backend.new_db = pg.new_db end
  copy.tearDown = function()
    backend.new_db = backend.sqlite
    helper.cleanup()
  end
  _G[name .. "Pg"] = copy
end
