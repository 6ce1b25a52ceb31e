-- The rows of bench/engine/run.sh (bench/lib/rows.lua) from its JSON lines, one per run.
--   rivulet lua bench/engine/report.lua RESULTS.jsonl
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/../lib/?.lua;" .. package.path
local rows = require "rows"
local r = rows.read(arg[1])

-- non-I/O steps: per CPU-second, rivulet's and Node-RED's executions of the same flow
local steps, cpu = rows.of(r, "rivulet", "steps"), rows.of(r, "rivulet", "cpu_s")
local execs = rows.of(r, "rivulet", "executions")
local sps, eps = {}, {}
for i = 1, #cpu do sps[i] = steps[i] / cpu[i]; eps[i] = execs[i] / cpu[i] end
local nr = {}
for i, c in ipairs(rows.of(r, "node-red", "cpu_s")) do nr[i] = rows.of(r, "node-red", "executions")[i] / c end
local per_exec = steps[1] and steps[1] / execs[1] or 0
rows.add{ figure = "non-I/O steps/s per core (set-variables + split, Liquid)",
  value = rows.int(rows.median(sps)) .. " steps/s", peer = "goal", per_round = sps, fmt = "%.0f",
  op = ">=", goal = 1e6, goal_text = ">= 1,000,000/s" }
rows.add{ figure = string.format("same flow, executions per CPU-s (%d steps each)", per_exec),
  value = rows.int(rows.median(eps)) .. "/s", peer = "Node-RED " .. rows.int(rows.median(nr) or 0) .. "/s",
  per_round = rows.ratios(eps, nr), fmt = "%.2fx", op = ">=", goal = 10, goal_text = ">= 10x Node-RED" }

-- the ceiling of a redesign (ceiling.c: the same flow, a C loop over C data): no goal, said
local c_steps, c_cpu, c_sps = rows.of(r, "c-loop", "steps"), rows.of(r, "c-loop", "cpu_s"), {}
for i = 1, #c_cpu do c_sps[i] = c_steps[i] / c_cpu[i] end
if #c_sps > 0 then
  io.stdout:write(string.format("  (the same flow run by a C loop over C data, bench/engine/ceiling.c: %s steps/s," ..
    " %.1fx rivulet's: the ceiling of keeping executions in C)\n", rows.int(rows.median(c_sps)),
    rows.median(rows.ratios(c_sps, sps))))
end

-- the store: steps/s with SQLite NORMAL over steps/s in memory (wall: the disk counts)
local function rate(name)
  local s, w, v = rows.of(r, name, "steps"), rows.of(r, name, "wall_s"), {}
  for i = 1, #w do v[i] = s[i] / w[i] end
  return v
end
local mem, normal = rate("memory"), rate("normal")
rows.add{ figure = "steps/s with the SQLite store (NORMAL), 3 waits each",
  value = rows.int(rows.median(normal)) .. " steps/s", peer = "in memory " .. rows.int(rows.median(mem) or 0) .. "/s",
  per_round = rows.ratios(normal, mem), fmt = "%.2fx", op = ">=", goal = 0.5, goal_text = ">= 0.50x in memory" }
-- its floor: bare SQLite making the same commits (bench/store/floor.c), no goal of its own.
-- What the floor reaches against in memory bounds what any store keeping this contract can.
local floor = rate("floor")
if #floor > 0 then
  local fr, over = rows.ratios(floor, mem), rows.ratios(floor, normal)
  io.stdout:write(string.format("  (bare SQLite making the same 8 commits an execution: %s steps/s, %.2fx in memory"
    .. " (min/med/max %.2f/%.2f/%.2f); rivulet's store takes %.2fx the floor's time)\n",
    rows.int(rows.median(floor)), rows.median(fr), rows.min(fr), rows.median(fr), rows.max(fr), rows.median(over)))
end

-- memory per waiting execution (Lua heap; the goal is absolute)
local w = rows.of(r, "waiting", "bytes_per_execution")
rows.add{ figure = "memory per execution waiting at Send & Wait, rested a minute (Lua heap)",
  value = rows.int(rows.median(w) or 0) .. " bytes", peer = "goal (Node-RED ~512)", per_round = w, fmt = "%.0f",
  op = "<=", goal = 1024, goal_text = "<= 1,024 bytes" }
-- the same in its first minute (engine.PACK_IDLE_S), before it is packed: no goal, said
local fresh = rows.of(r, "waiting", "bytes_fresh")
io.stdout:write(string.format("  (in its first minute, before it is packed: %s bytes per waiting execution)\n",
  rows.int(rows.median(fresh) or 0)))
