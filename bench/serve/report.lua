-- The table of bench/serve/studio.sh: reads its results (JSON lines) and prints one line
-- per figure: the figure, rivulet's value, the peer's or the floor, the ratio per round
-- (min/median/max), the goal and whether the median meets it; then the details.
--   rivulet lua bench/serve/report.lua RESULTS.jsonl RATE
local json = require "rivulet.json"
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/../lib/?.lua;" .. package.path
local rows = require "rows"     -- make bench's table ($BENCH_TABLE)
local to_table = os.getenv("BENCH_TABLE") and os.getenv("BENCH_TABLE") ~= ""

local path, rate = arg[1], tonumber(arg[2] or "1000")
local runs = {}            -- name -> {round -> record}
local memory, dsync = nil, {}
for line in io.lines(path) do
  local r = json.decode(line)
  if r.name == "memory" then memory = r
  elseif r.name == "dsync" then dsync[#dsync + 1] = r.ms
  elseif r.round and r.round > 0 then
    runs[r.name] = runs[r.name] or {}
    runs[r.name][r.round] = r
  end
end

local function median(t)
  local s = {}
  for i, v in ipairs(t) do s[i] = v end
  table.sort(s)
  if #s == 0 then return nil end
  if #s % 2 == 1 then return s[(#s + 1) // 2] end
  return (s[#s // 2] + s[#s // 2 + 1]) / 2
end

local function rounds(name)
  local out = {}
  for i, r in pairs(runs[name] or {}) do out[#out + 1] = { i = i, r = r } end
  table.sort(out, function(a, b) return a.i < b.i end)
  return out
end

-- values of f(record) over the rounds of name
local function values(name, f)
  local v = {}
  for _, x in ipairs(rounds(name)) do v[#v + 1] = f(x.r) end
  return v
end

-- per-round ratios of f(a)/f(b), rounds in both
local function ratios(a, b, f)
  local v = {}
  for _, x in ipairs(rounds(a)) do
    local y = runs[b] and runs[b][x.i]
    if y and f(y) > 0 then v[#v + 1] = f(x.r) / f(y) end
  end
  return v
end

local function spread(v, fmt)
  if #v == 0 then return "-" end
  local s = {}
  for i, x in ipairs(v) do s[i] = x end
  table.sort(s)
  return string.format(fmt .. "/" .. fmt .. "/" .. fmt, s[1], median(s), s[#s])
end

local rps = function(r) return r.load.rps or 0 end
local p99 = function(r) return (r.load.p99_us or 0) / 1000 end
local cpu_us = function(r) return r.load.requests > 0 and r.cpu_s * 1e6 / r.load.requests or 0 end

local W = "%-44s %-16s %-17s %-20s %-10s %s\n"
io.stdout:write("\n")
io.stdout:write(string.format(W, "figure", "rivulet (median)", "peer / floor", "ratio min/med/max", "goal", "met"))
local function row(figure, value, peer, ratio, goal, met)
  io.stdout:write(string.format(W, figure, value, peer, ratio, goal, met == nil and "-" or met and "yes" or "NO"))
end

for _, mode in ipairs{ "full", "normal" } do
  local tag = mode == "full" and "FULL, serve's default" or "NORMAL"
  local name = "webhook/rivulet-" .. mode
  local r = ratios(name, "webhook/node-red", rps)
  local m = median(r)
  row("1. webhook msg/s, store " .. tag, string.format("%.0f/s", median(values(name, rps)) or 0),
    string.format("Node-RED %.0f/s", median(values("webhook/node-red", rps)) or 0), spread(r, "%.2f") .. "x",
    ">= 10x", m and m >= 10)
  if to_table and m then
    rows.add{ figure = "serve: webhook msg/s, store " .. tag, value = string.format("%.0f/s", median(values(name, rps))),
      peer = string.format("Node-RED %.0f/s", median(values("webhook/node-red", rps)) or 0), per_round = r,
      fmt = "%.2fx", op = ">=", goal = 10, goal_text = ">= 10x Node-RED" }
  end
end
do
  -- the floor: what answering these posts at once, with no work, reaches; the goal's rate
  -- (10x Node-RED) as a share of it, per round
  local v = values("webhook/floor", rps)
  if v[1] then
    local share = {}
    for _, x in ipairs(rounds("webhook/floor")) do
      local nr = runs["webhook/node-red"] and runs["webhook/node-red"][x.i]
      if nr and rps(x.r) > 0 then share[#share + 1] = 10 * rps(nr) / rps(x.r) end
    end
    row("1. floor: msg/s, answered at once", string.format("%.0f/s", median(v)), "-", "-", "-", nil)
    if share[1] then
      io.stdout:write(string.format("  (10x Node-RED is %s of the floor's rate, per round min/med/max: what a" ..
        " webhook's whole work may add to answering at once)\n", spread(share, "%.2f")))
    end
  end
end
for _, mode in ipairs{ "full", "normal" } do
  local name = "rate/rivulet-" .. mode
  local v = values(name, p99)
  local m = median(v)
  row(string.format("2. p99 at %g msg/s, store %s", rate, mode:upper()), m and string.format("%.2f ms", m) or "-",
    string.format("Node-RED %.2f ms", median(values("rate/node-red", p99)) or 0), spread(v, "%.1f") .. " ms",
    "<= 5 ms", m and m <= 5)
  if to_table and m then
    rows.add{ figure = string.format("serve: p99 at %g msg/s, store %s", rate, mode:upper()),
      value = string.format("%.2f ms", m), peer = string.format("Node-RED %.2f ms", median(values("rate/node-red", p99)) or 0),
      per_round = v, fmt = "%.1f ms", op = "<=", goal = 5, goal_text = "<= 5 ms" }
  end
end
do
  local v = values("rate/floor", p99)
  if v[1] then
    row(string.format("2. floor: p99 at %g msg/s, answered at once", rate), string.format("%.2f ms", median(v)),
      "-", spread(v, "%.1f") .. " ms", "-", nil)
  end
end
for _, mode in ipairs{ "full", "normal" } do
  local name = "create/rivulet-" .. mode
  local v = values(name, rps)
  local r = {}
  for i, x in ipairs(v) do r[i] = x / 5000 end
  local m = median(v)
  row("3. executions.create/s, store " .. mode:upper(), m and string.format("%.0f/s", m) or "-", "floor 5000/s",
    spread(r, "%.2f") .. "x", ">= 5000/s", m and m >= 5000)
  if to_table and m then
    rows.add{ figure = "serve: executions.create/s, store " .. mode:upper(), value = string.format("%.0f/s", m),
      peer = "floor 5,000/s", per_round = r, fmt = "%.2fx", op = ">=", goal = 1, goal_text = ">= 1x (5,000/s)" }
  end
end
if memory then
  row(string.format("4. RSS per idle connection (%d)", memory.idle),
    string.format("%.0f bytes", (memory.rss_idle_kb - memory.rss0_kb) * 1024 / memory.idle), "-", "-", "-", nil)
  row(string.format("4. RSS per waiting execution (%d)", memory.waiting),
    string.format("%.0f bytes", (memory.rss_waiting_kb - memory.rss1_kb) * 1024 / memory.waiting), "-", "-", "-", nil)
end

io.stdout:write("\ndetails (median over rounds; CPU = the server process's user+system time per request)\n")
local D = "  %-22s %9s %9s %9s %9s %9s %10s\n"
io.stdout:write(string.format(D, "run", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "CPU us/req"))
local names = {}
for n in pairs(runs) do names[#names + 1] = n end
table.sort(names)
for _, n in ipairs(names) do
  local function med(k, scale)
    return string.format("%.2f", median(values(n, function(r) return (r.load[k] or 0) / (scale or 1) end)) or 0)
  end
  io.stdout:write(string.format(D, n, string.format("%.0f", median(values(n, rps))), med("p50_us", 1000),
    med("p90_us", 1000), med("p99_us", 1000), med("max_us", 1000), string.format("%.0f", median(values(n, cpu_us)))))
end
if memory then
  io.stdout:write(string.format("  memory: RSS %d kB at start, %d kB with %d idle connections; another serve %d kB" ..
    " after 50 connections came and went, %d kB with %d executions waiting\n", memory.rss0_kb, memory.rss_idle_kb,
    memory.idle, memory.rss1_kb, memory.rss_waiting_kb, memory.waiting))
end
if dsync[1] then
  io.stdout:write(string.format("  disk: one synchronous 4 KiB write (a FULL commit's fsync) took %s ms" ..
    " (min/median/max over the rounds)\n", spread(dsync, "%.2f")))
end
