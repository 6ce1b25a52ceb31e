-- rivulet serve's app in one process, no network: N conversations of the serve bench's flow
-- (bench/serve/flows/appointment.json) as signed incoming-message webhooks through
-- app:request, 50 per batch as the serve loop commits them, then the steps they leave.
-- Prints CPU per webhook; with "profile", where the CPU goes by Lua function (a count hook
-- every 1,000 VM instructions, each sample weighing the CPU time since the last: inclusive
-- by function, then self, C functions counting for their Lua caller). Checks that every
-- conversation ended. With "rest": N REST executions.create (POST /v2/Flows/{FW}/Executions,
-- as bench/serve/gen.js writes them) instead, each checked 201 and left waiting. With
-- "build": the requests are made (signed, encoded) and nothing is sent: what this script
-- itself costs, to take from a callgrind count of the full run (bench/README.md).
--
--   build/rivulet lua bench/serve/profile.lua [N=2000] [profile] [full|normal] [rest] [build]
local rivulet = require "rivulet"
local core = require "rivulet.core"
local json = require "rivulet.json"
local serve = require "rivulet.serve"

local N = math.tointeger(tonumber(arg[1] or "")) or 2000
local PROFILE, SYNC, REST, BUILD = false, "normal", false, false
for i = 2, #arg do
  if arg[i] == "profile" then PROFILE = true elseif arg[i] == "full" or arg[i] == "normal" then SYNC = arg[i]
  elseif arg[i] == "rest" then REST = true
  elseif arg[i] == "build" then BUILD = true
  else error("usage: profile.lua [N] [profile] [full|normal] [rest] [build]") end
end
local AC, TOKEN = "AC0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"
local BASE = "http://rivulet-bench.invalid"

local dir = os.tmpname()
os.remove(dir)
local db = dir .. ".db"
local app = assert(serve.new{ store = db, account_sid = AC, auth_token = TOKEN, public_url = BASE, synchronous = SYNC })

local function enc(s)
  return (tostring(s):gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end
local function form(t)
  local p = {}
  for _, kv in ipairs(t) do p[#p + 1] = enc(kv[1]) .. "=" .. enc(kv[2]) end
  return table.concat(p, "&")
end
local FORM = { "Content-Type", "application/x-www-form-urlencoded" }
local AUTH = { "Authorization", "Basic " .. core.base64_encode(AC .. ":" .. TOKEN) }
local def = assert(io.open("bench/serve/flows/appointment.json")):read("a")
local s, _, b = app:request{ method = "POST", path = "/v2/Flows", headers = { FORM, AUTH },
  body = form{ { "FriendlyName", "Appointment" }, { "Status", "published" }, { "Definition", def } } }
assert(s == 201, b)
local path = "/v1/Accounts/" .. AC .. "/Flows/" .. json.decode(b).sid

-- the fields of an incoming SMS, as bench/serve/gen.js writes them
local reqs = {}
local WANT = 200
if REST then
  WANT = 201
  local epath = "/v2/Flows/" .. json.decode(b).sid .. "/Executions"
  for i = 1, N do
    reqs[i] = { method = "POST", path = epath, headers = { AUTH, FORM }, body = form{
      { "To", string.format("+1666%07d", i) }, { "From", "+15005550006" },
      { "Parameters", string.format('{"when":"Tuesday at 09:30","ref":"A%d"}', i) } } }
  end
end
for phase = 1, REST and 0 or 2 do
  for i = 1, N do
    local sid = string.format("SM%032x", phase * 10000000 + i)
    local f = { { "ToCountry", "US" }, { "ToState", "CA" }, { "SmsMessageSid", sid }, { "NumMedia", "0" },
      { "ToCity", "" }, { "FromZip", "" }, { "SmsSid", sid }, { "FromState", "CA" }, { "SmsStatus", "received" },
      { "FromCity", "" }, { "Body", phase == 1 and "hi" or ({ "YES", "no", "maybe later" })[i % 3 + 1] },
      { "FromCountry", "US" }, { "To", "+15005550006" }, { "ToZip", "" }, { "NumSegments", "1" },
      { "MessageSid", sid }, { "AccountSid", AC }, { "From", string.format("+1555%07d", i) },
      { "ApiVersion", "2010-04-01" } }
    reqs[#reqs + 1] = { method = "POST", path = path, body = form(f),
      headers = { FORM, { "X-Twilio-Signature", rivulet.http.signature(TOKEN, BASE .. path, f) } } }
  end
end

if BUILD then
  print(string.format("%d requests made, none sent", #reqs))
  os.exit(0)
end

-- each sample weighs the CPU time since the last one (os.clock), so the time spent in C
-- functions (the store, JSON) counts for the Lua function that called them
local incl, self_n, total = {}, {}, 0
local clock, last = os.clock, os.clock()
local function hook()
  local seen = {}
  local now = clock()
  local w = now - last
  last = now
  total = total + w
  for lv = 2, 60 do
    local info = debug.getinfo(lv, "Sn")
    if not info then break end
    local k = info.short_src:gsub("^.*/lua/", "") .. ":" .. info.linedefined .. " " .. tostring(info.name or "?")
    if lv == 2 then self_n[k] = (self_n[k] or 0) + w end
    if not seen[k] then seen[k] = true; incl[k] = (incl[k] or 0) + w end
  end
end

local engine = app.engine
local t0 = os.clock()
if PROFILE then last = clock(); debug.sethook(hook, "", 1000) end
for i = 1, #reqs, 50 do
  engine:begin_batch()
  for j = i, math.min(i + 49, #reqs) do
    local st = app:request(reqs[j])
    assert(st == WANT, st)
  end
  assert(engine:end_batch())
  engine:begin_batch()
  app:run_jobs()
  assert(engine:end_batch())
end
debug.sethook()
local cpu = os.clock() - t0

local counts = app.store:counts()
if REST then
  assert(counts.active == N and counts.executions == N,
    string.format("%d executions, %d active: expected %d, all waiting", counts.executions, counts.active, N))
  print(string.format("%d executions.create, store %s: %.1f us CPU per create", #reqs, SYNC, cpu / #reqs * 1e6))
else
  assert(counts.active == 0 and counts.executions == N,
    string.format("%d executions, %d active: expected %d, all ended", counts.executions, counts.active, N))
  print(string.format("%d webhooks (%d conversations), store %s: %.1f us CPU per webhook", #reqs, N, SYNC,
    cpu / #reqs * 1e6))
end

local function top(t, n, title)
  local l = {}
  for k, v in pairs(t) do l[#l + 1] = { k, v } end
  table.sort(l, function(x, y) return x[2] > y[2] end)
  print(title)
  for i = 1, math.min(n, #l) do print(string.format("  %5.1f%%  %s", l[i][2] / total * 100, l[i][1])) end
end
if PROFILE then
  top(incl, 30, "CPU time by Lua function, inclusive:")
  top(self_n, 20, "CPU time by Lua function, self (the C it called included):")
end
app.store:close()
for _, suffix in ipairs{ "", "-wal", "-shm" } do os.remove(db .. suffix) end
