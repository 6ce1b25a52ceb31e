-- The execution store's cost per step: executions of the store specs' three-question flow
-- started and answered in one process (5 steps and 3 waits each), in memory or with an
-- SQLite store (`synchronous` NORMAL or FULL). Every execution's summary is checked.
--
--   build/rivulet lua bench/store/steps.lua MODE [N]     MODE: memory | normal | full
--
-- Prints one JSON line {"impl":MODE,"executions":N,"steps":..,"wall_s":..,"cpu_s":..};
-- bench/engine/run.sh runs memory and normal in turns and reports normal / memory.
local rivulet = require "rivulet"
local core = require "rivulet.core"

local mode, n = arg[1] or "memory", tonumber(arg[2]) or 1000
local here = arg[0]:match("^(.*)/[^/]*$") or "."
local flow = assert(rivulet.load_flow(here .. "/../../spec/fixtures/store/three_questions.lua"))
local dir = assert(io.popen("mktemp -d")):read("l")

local db = mode ~= "memory" and (dir .. "/" .. mode .. ".db") or nil
local sent, ok = {}, 0
local e = assert(rivulet.engine{ store = db, synchronous = mode ~= "memory" and mode or nil, keep_ended = false,
  on_message = function(exec, m) sent[exec.sid] = m.body end,
  on_end = function(exec) if sent[exec.sid] == "a1 a2 a3" and not exec.failed then ok = ok + 1 end end })
local t0, c0 = core.monotonic(), os.clock()
for i = 1, n do assert(e:start(flow, { from = "+1" .. i, to = "+2", body = "hi" })) end
for round = 1, 3 do
  for i = 1, n do assert(e:deliver{ from = "+1" .. i, to = "+2", body = "a" .. round }) end
end
local dt, cpu = core.monotonic() - t0, os.clock() - c0
if e.store then e.store:close() end
os.execute("rm -rf '" .. dir .. "'")
if ok ~= n then
  io.stderr:write(string.format("bench/store/steps.lua: %d of %d executions ended as they should\n", ok, n))
  os.exit(1)
end
-- steps: trigger, q1, q2, q3 and done per execution (5n); waits: 3n
print(string.format('{"impl":"%s","executions":%d,"steps":%d,"wall_s":%.4f,"cpu_s":%.4f}', mode, n, 5 * n, dt, cpu))
