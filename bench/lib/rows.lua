-- bench/lib/rows.lua: what every part of `make bench` shares. Each part measures in rounds
-- (the engines interleaved, so load drift hits them alike), computes its figure per round
-- (a ratio to the peer or floor of the same round, or a value where the goal is absolute)
-- and appends one row per goal to the file named by $BENCH_TABLE (JSON lines); bench/table.lua
-- prints them all as one table at the end.
--
--   local rows = require "rows"     (package.path gets bench/lib/ from the caller)
--   rows.add{ figure = "...", value = "812,000 steps/s", peer = "Node-RED 14,000/s",
--             per_round = { 1.2, 1.3, 1.1 }, fmt = "%.2fx", op = ">=", goal = 10,
--             goal_text = ">= 10x Node-RED" }
local json = require "rivulet.json"

local M = {}

function M.median(t)
  local s = {}
  for i, v in ipairs(t) do s[i] = v end
  table.sort(s)
  if #s == 0 then return nil end
  if #s % 2 == 1 then return s[(#s + 1) // 2] end
  return (s[#s // 2] + s[#s // 2 + 1]) / 2
end

function M.min(t) local m = math.huge for _, v in ipairs(t) do m = math.min(m, v) end return m end
function M.max(t) local m = -math.huge for _, v in ipairs(t) do m = math.max(m, v) end return m end

-- 1234567.8 -> "1,234,568"
function M.int(x)
  local s = string.format("%.0f", x)
  local neg, digits = s:match("^(-?)(%d+)$")
  if not digits then return s end
  return neg .. digits:reverse():gsub("(%d%d%d)", "%1,"):reverse():gsub("^,", "")
end

-- JSON lines of a file, decoded; lines that are not JSON objects are skipped
function M.read(path)
  local out = {}
  local f = io.open(path)
  if not f then return out end
  for line in f:lines() do
    if line:match("^%s*{") then out[#out + 1] = json.decode(line) end
  end
  f:close()
  return out
end

-- per-round values of the records with impl == name, in order
function M.of(records, name, field)
  local v = {}
  for _, r in ipairs(records) do if r.impl == name then v[#v + 1] = r[field] end end
  return v
end

-- a[i] / b[i] for every round both have
function M.ratios(a, b)
  local v = {}
  for i = 1, math.min(#a, #b) do if b[i] ~= 0 then v[#v + 1] = a[i] / b[i] end end
  return v
end

function M.met(r)
  local m = M.median(r.per_round or {})
  if not m or not r.op then return nil end
  if r.op == ">=" then return m >= r.goal end
  return m <= r.goal
end

function M.add(r)
  assert(r.figure and r.per_round and r.op and r.goal and r.goal_text, "rows.add: incomplete row")
  r.met = M.met(r)
  local path = os.getenv("BENCH_TABLE")
  local line = json.encode(r)
  if path and path ~= "" then
    local f = assert(io.open(path, "a"))
    f:write(line, "\n")
    f:close()
  end
  local spread = #r.per_round > 0 and string.format((r.fmt or "%.2f") .. "/" .. (r.fmt or "%.2f") .. "/" .. (r.fmt or "%.2f"),
    M.min(r.per_round), M.median(r.per_round), M.max(r.per_round)) or "-"
  io.stdout:write(string.format("  => %s: %s (%s), per round min/med/max %s, goal %s: %s\n", r.figure, r.value or "-",
    r.peer or "-", spread, r.goal_text, r.met == nil and "-" or r.met and "met" or "NOT met"))
end

return M
