-- rivulet.serve.collector: Lua's garbage collector run between the turns of `rivulet serve`'s
-- loop, never inside one.
--
-- Why: left to itself the collector works while a turn allocates, and Lua 5.4 paces its sweep
-- by objects, not bytes: one incremental step may sweep 50,000 objects, and a generational
-- major collection marks and sweeps the whole heap at once. With a few thousand executions
-- waiting (each a tree of small tables), a turn that answers one webhook took 10-30 ms
-- (measured with perf: sweeplist under luaC_step), the p99 of the answer latency.
--
-- How: the automatic collector is stopped; after each turn, between() runs incremental
-- steps of STEP_KB for at most SLICE_MS, a cycle starting once the heap has grown PAUSE
-- percent past what the last cycle left. A loop with no time to spare still collects: once
-- the heap is BEHIND times what the last cycle left, between() finishes the cycle before
-- the next turn, whatever it takes (the memory bound wins over the latency).
--
--   local gc = collector.new()     -- stops the automatic collector (stop() gives it back)
--   gc:between()                   -- after each turn of the loop

local core = require "rivulet.core"

local M = {}

M.PAUSE = 100        -- a cycle starts when the heap has grown this much (percent) since the last
M.STEP_LOG2 = 10     -- an incremental step: 2^10 bytes' worth of work (a fraction of a millisecond)
M.SLICE_MS = 1       -- steps between two turns, at most this long
M.BEHIND = 4         -- the heap at this many times the last cycle's leftover: finish the cycle now

local Collector = {}
Collector.__index = Collector

function M.new()
  -- incremental with small steps; its own pause and step multiplier stay Lua's defaults
  collectgarbage("incremental", 0, 0, M.STEP_LOG2)
  collectgarbage("stop")
  return setmetatable({ base = collectgarbage("count"), cycling = false, cycles = 0 }, Collector)
end

-- one step; true when it ended a cycle
function Collector:step()
  self.cycling = true
  if collectgarbage("step", 0) then
    self.cycling, self.cycles = false, self.cycles + 1
    self.base = collectgarbage("count")
    return true
  end
  return false
end

-- work between two turns (now: core.monotonic(), for the tests)
function Collector:between(now)
  local kb = collectgarbage("count")
  if not self.cycling and kb < self.base * (1 + M.PAUSE / 100) then return end
  if kb >= self.base * M.BEHIND then
    while not self:step() do end
    return
  end
  local deadline = (now or core.monotonic()) + M.SLICE_MS / 1000
  repeat
    if self:step() then return end
  until core.monotonic() >= deadline
end

-- the automatic collector again (generational, as the host sets it up)
function Collector:stop()
  collectgarbage("restart")
  collectgarbage("generational")
end

return M
