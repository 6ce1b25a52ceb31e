-- What keeps a turn of rivulet serve's loop short (issue #14, p99 answer latency), and a
-- store feature tried for it: WAL checkpoints on a thread of their own (src/sqlite_ckpt.c,
-- not used by serve: store.lua says why); Lua's collector run between turns (rivulet.serve.collector), the steps a burst of messages leaves run in
-- slices (App:run_jobs(deadline)). Behaviour only: the latency itself is measured by
-- bench/serve/studio.sh.

local lu = require "luaunit"
local helper = require "spec.helper"
local rivulet = require "rivulet"
local core = require "rivulet.core"
local store = require "rivulet.store"
local serve = require "rivulet.serve"
local collector = require "rivulet.serve.collector"

local AC, TOKEN = "AC0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"
local WAIT_S = 20      -- a thread's checkpoint, however loaded the machine: polled, not timed

local function file_size(path)
  local f = io.open(path, "rb")
  if not f then return 0 end
  local n = f:seek("end")
  f:close()
  return n
end

-- an engine on a store file, and n new conversations started on it (several commits each)
local Q3 = helper.root .. "/spec/fixtures/store/three_questions.lua"
local function engine_on(path)
  return assert(rivulet.engine{ store = path, synchronous = "normal", on_message = function() end })
end
local started = 0
local function start(e, n)
  for _ = 1, n do
    started = started + 1
    assert(e:start(Q3, { from = string.format("+1555%07d", started), to = "+15559990000", body = "hi" }))
  end
end

TestStoreCheckpointer = {}

function TestStoreCheckpointer:setUp()
  self.pages = store.CHECKPOINT_PAGES
end

function TestStoreCheckpointer:tearDown()
  store.CHECKPOINT_PAGES = self.pages
  helper.cleanup()
end

-- polls st:checkpoints() until it reaches n (nil when WAIT_S went by first)
local function checkpoints_reach(st, n)
  local deadline = core.monotonic() + WAIT_S
  repeat
    local runs, code = st:checkpoints()
    if runs >= n then return runs, code end
    core.sleep(10)
  until core.monotonic() > deadline
  return nil
end

function TestStoreCheckpointer:test_the_thread_checkpoints_once_the_wal_holds_its_pages()
  local path = helper.tmpdir() .. "/s.db"
  local e = engine_on(path)
  local st = e.store
  store.CHECKPOINT_PAGES = 8
  assert(st:checkpoint_in_background())
  lu.assertTrue(st:checkpoint_in_background())     -- once: a second call changes nothing
  lu.assertEquals(st:checkpoints(), 0)
  start(e, 40)
  local runs, code = checkpoints_reach(st, 1)
  lu.assertNotNil(runs, "no checkpoint within " .. WAIT_S .. " s")
  lu.assertEquals(code, "ok")
  -- the WAL stays bounded while the writer never pauses: past RV_CKPT_BEHIND (4) times the
  -- pages, the owner checkpoints in its own commit (a start writes a few dozen frames; with
  -- the thread alone racing the writer, this test once grew the WAL to 6.6 MB)
  local done = st:checkpoints()
  start(e, 80)
  lu.assertNotNil(checkpoints_reach(st, done + 1))
  lu.assertTrue(file_size(path .. "-wal") <= 1024 * 1024,
    string.format("the WAL grew to %d bytes", file_size(path .. "-wal")))
  st:close()
  -- everything is there and the file is sound, for another connection
  local again = assert(store.open(path))
  lu.assertTrue(again:check())
  lu.assertEquals(again:counts().executions, 120)
  again:close()
end

function TestStoreCheckpointer:test_a_read_only_store_has_none_and_close_stops_it()
  local path = helper.tmpdir() .. "/s.db"
  local e = engine_on(path)
  start(e, 1)
  e.store:close()
  local ro = assert(store.open(path, { readonly = true }))
  lu.assertTrue(ro:checkpoint_in_background())
  lu.assertEquals(ro:checkpoints(), 0)
  ro:close()
  local rw = assert(store.open(path))
  assert(rw:checkpoint_in_background())
  rw:close()                               -- joins the thread: returns, nothing left running
  lu.assertErrorMsgContains("closed", function() rw:checkpoints() end)
end

function TestStoreCheckpointer:test_the_binding_refuses_a_second_thread_and_bad_sizes()
  local db = assert(core.sqlite_open(helper.tmpdir() .. "/d.db"))
  assert(db:exec("PRAGMA journal_mode = WAL"))
  lu.assertErrorMsgContains("pages must be in 1..1000000", function() db:checkpointer(0) end)
  lu.assertErrorMsgContains("pages must be in 1..1000000", function() db:checkpointer(1000001) end)
  assert(db:checkpointer(1))
  lu.assertErrorMsgContains("already running", function() db:checkpointer(1) end)
  db:close()
end

-- serve leaves checkpoints to SQLite (store.lua, checkpoint_in_background: measured, the
-- thread took the loop's CPU)
function TestStoreCheckpointer:test_serve_does_not_start_the_thread()
  local app = assert(serve.new{ store = helper.tmpdir() .. "/serve.db", account_sid = AC, auth_token = TOKEN })
  lu.assertNil(app.store.checkpointing)
  lu.assertEquals(app.store:checkpoints(), 0)
  app.store:close()
end

TestServeCollector = {}

function TestServeCollector:setUp()
  collectgarbage("collect")
  self.saved = { collector.PAUSE, collector.SLICE_MS, collector.BEHIND }
end

function TestServeCollector:tearDown()
  collector.PAUSE, collector.SLICE_MS, collector.BEHIND = table.unpack(self.saved)
  if self.gc then self.gc:stop() end
  collectgarbage("collect")
end

-- about mb MB of garbage (1,000-byte strings are not interned: each is new)
local function garbage(mb)
  local last
  for _ = 1, mb * 1024 do last = { string.rep("g", 1000) } end
  return #last
end

function TestServeCollector:test_nothing_is_collected_inside_a_turn()
  self.gc = collector.new()
  lu.assertFalse(collectgarbage("isrunning"))
  local kb = collectgarbage("count")
  garbage(8)
  lu.assertTrue(collectgarbage("count") > kb + 8 * 1024, "the collector ran inside the turn")
end

function TestServeCollector:test_a_cycle_runs_between_turns_in_slices_and_ends()
  collector.BEHIND = 1000                 -- never forced here
  local live = {}
  for i = 1, 200000 do live[i] = { i } end     -- a heap one step cannot go through
  self.gc = collector.new()
  local base = self.gc.base
  self.gc:between()                        -- not grown past PAUSE: nothing to do
  lu.assertFalse(self.gc.cycling)
  garbage(math.ceil(base / 1024 * collector.PAUSE / 100) + 1)
  self.gc:between(core.monotonic() - 1)    -- its slice already over: one step, the cycle goes on
  lu.assertTrue(self.gc.cycling)
  lu.assertEquals(self.gc.cycles, 0)
  local turns = 0
  while self.gc.cycling do
    self.gc:between()
    turns = turns + 1
    assert(turns < 100000, "the cycle never ended")
  end
  lu.assertEquals(self.gc.cycles, 1)
  lu.assertTrue(self.gc.base < base * 1.5, "the garbage is still there: " .. self.gc.base .. " KB")
  lu.assertEquals(#live, 200000)           -- what is reachable stays
end

function TestServeCollector:test_a_loop_without_spare_time_still_bounds_the_heap()
  self.gc = collector.new()
  local base = self.gc.base
  garbage(math.ceil(base / 1024 * collector.BEHIND) + 1)
  self.gc:between(core.monotonic() - 1)    -- no time, but the heap is BEHIND times its base
  lu.assertFalse(self.gc.cycling)
  lu.assertEquals(self.gc.cycles, 1)
  lu.assertTrue(collectgarbage("count") < base * 2)
end

function TestServeCollector:test_stop_gives_the_automatic_collector_back()
  local gc = collector.new()
  gc:stop()
  lu.assertTrue(collectgarbage("isrunning"))
end

TestServeJobSlices = {}

function TestServeJobSlices:tearDown()
  if self.app then self.app.store:close() end
  helper.cleanup()
end

function TestServeJobSlices:test_jobs_past_the_deadline_wait_in_order_before_new_ones()
  local app = assert(serve.new{ store = helper.tmpdir() .. "/serve.db", account_sid = AC, auth_token = TOKEN })
  self.app = app
  local ran = {}
  for i = 1, 5 do
    app:later(function()
      ran[#ran + 1] = i
      if i == 2 then app:later(function() ran[#ran + 1] = "new" end) end
    end)
  end
  lu.assertEquals(app:run_jobs(core.monotonic() - 1), 1)   -- past the deadline after the first
  lu.assertEquals(ran, { 1 })
  lu.assertTrue(app:has_jobs())
  lu.assertEquals(app:run_jobs(), 4)                       -- 2..5; what 2 left waits after them
  lu.assertEquals(ran, { 1, 2, 3, 4, 5 })
  lu.assertEquals(app:run_jobs(), 1)
  lu.assertEquals(ran, { 1, 2, 3, 4, 5, "new" })
  lu.assertFalse(app:has_jobs())
  lu.assertEquals(app:run_jobs(), 0)
end
