-- make bench's row for bench/http/run.sh (bench/lib/rows.lua): a Run Function step over a
-- bare libcurl call, per round, on the same keep-alive C server.
--   rivulet lua bench/http/rows.lua LATENCY.jsonl
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/../lib/?.lua;" .. package.path
local rows = require "rows"
local r = rows.read(arg[1])
local step, bare = rows.of(r, "rivulet_step", "median_us"), rows.of(r, "bare", "median_us")
rows.add{ figure = "Run Function step (a whole execution) vs bare libcurl, keep-alive",
  value = string.format("%.1f us", rows.median(step) or 0), peer = string.format("bare libcurl %.1f us", rows.median(bare) or 0),
  per_round = rows.ratios(step, bare), fmt = "%.2fx", op = "<=", goal = 1.10, goal_text = "<= 1.10x" }
