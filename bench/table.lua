-- bench/table.lua: the one table of `make bench`, from the rows every part appended to
-- $BENCH_TABLE (bench/lib/rows.lua): figure, rivulet's value, the peer or floor, the figure
-- per round (min/median/max), the goal and whether the median meets it.
--   rivulet lua bench/table.lua TABLE.jsonl
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/lib/?.lua;" .. package.path
local rows = require "rows"

local all = rows.read(arg[1])
-- the per-round column: min / median / max in the row's format
for _, r in ipairs(all) do
  local f = r.fmt or "%.2f"
  r.spread = #r.per_round > 0 and string.format(f .. " / " .. f .. " / " .. f, rows.min(r.per_round),
    rows.median(r.per_round), rows.max(r.per_round)) or "-"
end
local function width(key, min)
  local w = min
  for _, r in ipairs(all) do w = math.max(w, utf8.len(tostring(r[key] or "-")) or 0) end
  return w
end
local cols = {
  { "figure", width("figure", 6) }, { "rivulet", width("value", 7) }, { "peer / floor", width("peer", 12) },
  { "per round min/med/max", width("spread", 21) }, { "goal", width("goal_text", 4) }, { "met", 3 },
}
local function line(cells)
  local out = {}
  for i, c in ipairs(cells) do
    local s = tostring(c)
    out[i] = s .. string.rep(" ", cols[i][2] - (utf8.len(s) or #s))
  end
  io.stdout:write("| ", table.concat(out, " | "), " |\n")
end
io.stdout:write("\n")
local head, sep = {}, {}
for i, c in ipairs(cols) do head[i] = c[1]; sep[i] = string.rep("-", c[2]) end
line(head)
line(sep)
local met, total = 0, 0
for _, r in ipairs(all) do
  total = total + 1
  if r.met then met = met + 1 end
  line{ r.figure, r.value or "-", r.peer or "-", r.spread, r.goal_text, r.met == nil and "-" or r.met and "yes" or "no" }
end
io.stdout:write(string.format("\n%d of %d goals met (the median of the rounds decides; speed never fails the run)\n",
  met, total))
