-- make bench's row for bench/engine/cold.sh (bench/lib/rows.lua), from hyperfine's JSON of
-- each round: the mean of `rivulet run` over the mean of `lua5.4 -e ''`.
--   rivulet lua bench/engine/cold_rows.lua ROUND.json...
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/../lib/?.lua;" .. package.path
local rows = require "rows"
local json = require "rivulet.json"
local riv, lua = {}, {}
for i, path in ipairs(arg) do
  local f = assert(io.open(path))
  local r = json.decode(f:read("a")).results
  f:close()
  riv[i], lua[i] = r[1].mean * 1e3, r[2].mean * 1e3
  io.stdout:write(string.format("  round %d: rivulet run %.2f ms (min %.2f), lua5.4 -e '' %.2f ms (min %.2f)\n",
    i, riv[i], r[1].min * 1e3, lua[i], r[2].min * 1e3))
end
rows.add{ figure = "cold `rivulet run` of a three-step flow", value = string.format("%.2f ms", rows.median(riv) or 0),
  peer = string.format("lua5.4 -e '' %.2f ms", rows.median(lua) or 0), per_round = rows.ratios(riv, lua),
  fmt = "%.2fx", op = "<=", goal = 2, goal_text = "<= 2x" }
