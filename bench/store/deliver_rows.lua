-- make bench's row for bench/store/deliver.sh (bench/lib/rows.lua), from hyperfine's JSON of
-- each round and store: the mean delivery at BIG executions over the mean at 1,000.
--   rivulet lua bench/store/deliver_rows.lua BIG SMALL.json... -- BIG.json...
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/../lib/?.lua;" .. package.path
local rows = require "rows"
local json = require "rivulet.json"
local function mean(path)
  local f = assert(io.open(path))
  local results = json.decode(f:read("a")).results
  f:close()
  local sum = 0
  for _, r in ipairs(results) do sum = sum + r.mean end
  return sum / #results * 1e3
end
local small, big, side = {}, {}, nil
side = small
for i = 2, #arg do
  if arg[i] == "--" then side = big else side[#side + 1] = mean(arg[i]) end
end
for i = 1, #small do
  io.stdout:write(string.format("  round %d: %.2f ms at 1,000, %.2f ms at %s\n", i, small[i], big[i] or 0, rows.int(tonumber(arg[1]))))
end
rows.add{ figure = string.format("`rivulet deliver` at %s stored executions", rows.int(tonumber(arg[1]))),
  value = string.format("%.2f ms", rows.median(big) or 0), peer = string.format("at 1,000: %.2f ms", rows.median(small) or 0),
  per_round = rows.ratios(big, small), fmt = "%.2fx", op = "<=", goal = 1.2, goal_text = "<= 1.2x at 1,000" }
