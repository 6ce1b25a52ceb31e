-- make bench's rows for bench/liquid/run.sh (bench/lib/rows.lua): rivulet's render rate over
-- Ruby Liquid 5.4's, per round, for each workload.
--   rivulet lua bench/liquid/rows.lua OUT_DIR ROUNDS
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/../lib/?.lua;" .. package.path
local rows = require "rows"
local out, rounds = arg[1], tonumber(arg[2])
local function rate(engine, round, key)
  local f = io.open(string.format("%s/%s.round%d.json", out, engine, round))
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return tonumber(s:match('"' .. key .. '":(%-?[%d.eE+-]+)'))
end
for _, w in ipairs{ "studio", "theme" } do
  local riv, ruby = {}, {}
  for i = 1, rounds do
    local a, b = rate("rivulet", i, w .. "_render"), rate("ruby", i, w .. "_render")
    if a and b then riv[#riv + 1], ruby[#ruby + 1] = a, b end
  end
  rows.add{ figure = string.format("Liquid render, %s fixture", w), value = rows.int(rows.median(riv) or 0) .. "/s",
    peer = "Ruby Liquid 5.4 " .. rows.int(rows.median(ruby) or 0) .. "/s", per_round = rows.ratios(riv, ruby),
    fmt = "%.1fx", op = ">=", goal = 50, goal_text = ">= 50x Ruby" }
end
