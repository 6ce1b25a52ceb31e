-- make bench's rows for bench/scale/run.sh (bench/lib/rows.lua): rivulet's wall time for N
-- executions over each floor's, per round.
--   rivulet lua bench/scale/rows.lua SCALE.jsonl
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/../lib/?.lua;" .. package.path
local rows = require "rows"
local r = rows.read(arg[1])
local riv, curl, raw = rows.of(r, "rivulet", "wall_s"), rows.of(r, "curl", "wall_s"), rows.of(r, "raw", "wall_s")
local n = rows.of(r, "rivulet", "executions")[1] or 0
local cpu = rows.median(rows.of(r, "rivulet", "cpu_s")) or 0
rows.add{ figure = string.format("%s executions x one 100 ms function, one thread", rows.int(n)),
  value = string.format("%.2f s (CPU %.2f s)", rows.median(riv) or 0, cpu),
  peer = string.format("libcurl multi %.2f s", rows.median(curl) or 0),
  per_round = rows.ratios(riv, curl), fmt = "%.2fx", op = "<=", goal = 1.3, goal_text = "<= 1.3x" }
rows.add{ figure = string.format("%s executions x one 100 ms function, one thread", rows.int(n)),
  value = string.format("%.2f s", rows.median(riv) or 0),
  peer = string.format("raw sockets %.2f s", rows.median(raw) or 0),
  per_round = rows.ratios(riv, raw), fmt = "%.2fx", op = "<=", goal = 2, goal_text = "<= 2x" }

-- Node-RED, the same executions at its size (no goal): wall and CPU, rivulet's at that size
local nr, nr_cpu = rows.of(r, "node-red", "wall_s"), rows.of(r, "node-red", "cpu_s")
local rv, rv_cpu = rows.of(r, "rivulet-nr", "wall_s"), rows.of(r, "rivulet-nr", "cpu_s")
if #nr > 0 and #rv > 0 then
  local per_cpu = rows.ratios(nr_cpu, rv_cpu)
  io.stdout:write(string.format("  (Node-RED 4.1.8, %s executions at once: %.2f s, CPU %.2f s; rivulet the same: %.2f s," ..
    " CPU %.2f s; Node-RED's CPU over rivulet's min/med/max %.1fx/%.1fx/%.1fx)\n",
    rows.int(rows.of(r, "node-red", "executions")[1] or 0), rows.median(nr), rows.median(nr_cpu),
    rows.median(rv), rows.median(rv_cpu), rows.min(per_cpu), rows.median(per_cpu), rows.max(per_cpu)))
end
