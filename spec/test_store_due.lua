-- store:due_rows(now), what `rivulet deliver` reads on opening: the waits whose deadline
-- passed and the executions without one, through the executions_due index, so a store of
-- many waiting executions costs a delivery no more than a small one (bench/store/deliver.sh).
local lu = require "luaunit"
local rivulet = require "rivulet"
local store_mod = require "rivulet.store"

TestStoreDue = {}

local FLOW = {
  { name = "Trigger", type = "trigger", on = { incomingMessage = "ask" } },
  { name = "ask", type = "send-and-wait-for-reply", body = "?", timeout = "3600",
    on = { incomingMessage = false, timeout = false } },
}

function TestStoreDue:setUp()
  self.dir = assert(io.popen("mktemp -d")):read("l")
  self.db = self.dir .. "/s.db"
end

function TestStoreDue:tearDown()
  os.execute("rm -rf '" .. self.dir .. "'")
end

function TestStoreDue:test_a_wait_is_due_at_its_deadline_not_before()
  local now = 1000000
  local e = assert(rivulet.engine{ store = self.db, now = function() return now end, on_message = function() end })
  local a = assert(e:start(FLOW, { from = "+1", to = "+2", body = "hi" }))
  now = now + 100
  assert(e:start(FLOW, { from = "+3", to = "+2", body = "hi" }))
  e.store:close()
  local s = assert(store_mod.open(self.db))
  lu.assertEquals(#assert(s:due_rows(1000000 + 3599)), 0)
  local rows = assert(s:due_rows(1000000 + 3600))
  lu.assertEquals(#rows, 1)
  lu.assertEquals(rows[1].sid, a.sid)
  lu.assertEquals(#assert(s:due_rows(1000000 + 3700)), 2)
  s:close()
end

function TestStoreDue:test_the_query_reads_the_due_index_only()
  local e = assert(rivulet.engine{ store = self.db, on_message = function() end })
  assert(e:start(FLOW, { from = "+1", to = "+2", body = "hi" }))
  e.store:close()
  local s = assert(store_mod.open(self.db))
  local real = s.all
  local plan
  s.all = function(self2, sql, ...)
    plan = assert(real(self2, "EXPLAIN QUERY PLAN " .. sql, ...))
    return real(self2, sql, ...)
  end
  s:due_rows(0)
  s.all = real
  s:close()
  local details = {}
  for _, r in ipairs(plan) do details[#details + 1] = r.detail end
  local text = table.concat(details, "\n")
  lu.assertStrContains(text, "USING INDEX executions_due (due_at=?)")
  lu.assertStrContains(text, "USING INDEX executions_due (due_at<?)")
  lu.assertNotStrContains(text, "executions_status")
end
