-- `rivulet lua bench/serve/cluster.lua [N]`: rivulet serve on SQLite and on PostgreSQL with
-- one, two and three processes sharing one database (issue 20), measured from outside:
--
--   executions/s   REST API creates (POST /v2/Flows/FW/Executions) of a flow that runs
--                  three steps to its end (Trigger, Set Variables, Send Message)
--   messages/s     signed incoming-message webhooks: N contacts each write twice (the
--                  first starts an execution that waits at Send & Wait, the second is the
--                  reply that resumes and ends it)
--
-- N (default 2000) of each, CONCURRENCY requests in flight, balanced round-robin over the
-- processes as a load balancer would. A throwaway PostgreSQL cluster (scripts/pg-cluster.sh,
-- fsync on, as SQLite's synchronous=FULL) on a free port; both stores on the same disk.
-- Run from the repository root with the checkout's modules on the Lua path (make bench
-- does); RIVULET_BIN is the host (default build/rivulet). Needs Node.js? No: the load is
-- made here, with rivulet's own HTTP client.
local core = require "rivulet.core"
local http = require "rivulet.http"
local json = require "rivulet.json"

local N = tonumber(arg[1]) or 2000
local CONCURRENCY = 32
local BIN = os.getenv("RIVULET_BIN") or "build/rivulet"
local AC = "AC" .. ("0"):rep(32)
local TOKEN = "0123456789abcdef0123456789abcdef"
local PUBLIC = "http://lb.test"

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
local function sh(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  local ok = p:close()
  return ok, out
end

local dir = (select(2, sh("mktemp -d")):gsub("%s+$", ""))
os.execute("chmod 755 " .. q(dir))       -- the cluster's user (nobody, under root) goes through it
local procs = {}
local function cleanup()
  for _, p in ipairs(procs) do os.execute("kill " .. p.pid .. " 2>/dev/null") end
  sh("sh scripts/pg-cluster.sh stop " .. q(dir .. "/pg") .. " 2>&1")
  os.execute("rm -rf " .. q(dir))
end

local FLOWS = {
  run = { description = "Run", initial_state = "Trigger", flags = { allow_concurrent_calls = true }, states = {
    { name = "Trigger", type = "trigger", properties = {}, transitions = { { event = "incomingRequest", next = "set" } } },
    { name = "set", type = "set-variables", properties = { variables = { { key = "n", value = "{{flow.data.n}}" } } },
      transitions = { { event = "next", next = "say" } } },
    { name = "say", type = "send-message", properties = { body = "n={{flow.variables.n}}" },
      transitions = { { event = "sent" }, { event = "failed" } } } } },
  ask = { description = "Ask", initial_state = "Trigger", flags = { allow_concurrent_calls = true }, states = {
    { name = "Trigger", type = "trigger", properties = {}, transitions = { { event = "incomingMessage", next = "ask" } } },
    { name = "ask", type = "send-and-wait-for-reply", properties = { body = "Name?", timeout = "3600" },
      transitions = { { event = "incomingMessage", next = "hi" }, { event = "timeout" }, { event = "deliveryFailure" } } },
    { name = "hi", type = "send-message", properties = { body = "Hi {{widgets.ask.inbound.Body}}" },
      transitions = { { event = "sent" }, { event = "failed" } } } } },
}
os.execute("mkdir -p " .. q(dir .. "/flows"))
for name, f in pairs(FLOWS) do
  local h = assert(io.open(dir .. "/flows/" .. name .. ".json", "w"))
  h:write(json.encode(f))
  h:close()
end

-- `rivulet serve` on store, stdout to a file: {pid, url, out}
local function start_serve(store, k)
  local out = string.format("%s/serve%d.out", dir, k)
  local cmd = table.concat({ q(BIN), "serve", "--listen", "127.0.0.1:0", "--store", q(store), "--flows", q(dir .. "/flows"),
    "--account-sid", AC, "--auth-token", TOKEN, "--public-url", PUBLIC }, " ") ..
    " >" .. q(out) .. " 2>&1 </dev/null & echo $!"
  local _, pid = sh(cmd)
  local p = { pid = tonumber(pid), out = out }
  local deadline = core.monotonic() + 30
  while core.monotonic() < deadline do
    local f = io.open(out)
    local text = f and f:read("a") or ""
    if f then f:close() end
    local url = text:match("listening on (http://%S+)")
    local run, ask = text:match("flow (FW%x+) Run"), text:match("flow (FW%x+) Ask")
    if url and run and ask then
      p.url, p.run, p.ask = url, run, ask
      return p
    end
    core.sleep(20)
  end
  error("serve did not start: " .. out)
end

local client = http.client{ timeout_ms = 30000 }

-- requests from make(i) for i = 1..n, CONCURRENCY at a time, round-robin over urls:
-- seconds taken, failures
local function load(n, urls, make)
  local running, next_i, fails, turn = {}, 1, 0, 0
  local t0 = core.monotonic()
  while next_i <= n or running[1] do
    while next_i <= n and #running < CONCURRENCY do
      turn = turn + 1
      running[#running + 1] = make(next_i, urls[turn % #urls + 1])
      next_i = next_i + 1
    end
    client:poll(5)
    local still = {}
    for _, c in ipairs(running) do
      local o = c:outcome()
      if not o then still[#still + 1] = c
      elseif not (o.status_code == 200 or o.status_code == 201) then fails = fails + 1 end
    end
    running = still
  end
  return core.monotonic() - t0, fails
end

local function measure(label, store, nproc)
  local list, urls = {}, {}
  for k = 1, nproc do
    list[k] = start_serve(store, #procs + 1)
    procs[#procs + 1] = list[k]
    urls[k] = list[k].url
  end
  local run, ask = list[1].run, list[1].ask
  local tag = core.random_hex(4)
  local secs, fails = load(N, urls, function(i, url)
    return client:http_request{ method = "POST", url = url .. "/v2/Flows/" .. run .. "/Executions",
      basic_auth = AC .. ":" .. TOKEN,
      parameters = { To = string.format("+1%s%06d", tag, i), From = "+15559990000", Parameters = '{"n":' .. i .. '}' } }
  end)
  local exec_rate = N / secs
  local path = "/v1/Accounts/" .. AC .. "/Flows/" .. ask
  local function message(i, url, round)
    local sid = string.format("SM%s%d_%d", tag, round, i)
    return client:http_request{ method = "POST", url = url .. path, auth_token = TOKEN, sign_url = PUBLIC .. path,
      parameters = { MessageSid = sid, From = string.format("+2%s%06d", tag, i), To = "+15559990000",
                     Body = round == 1 and "hi" or "Ada", NumMedia = "0" } }
  end
  local s1, f1 = load(N, urls, function(i, url) return message(i, url, 1) end)
  local s2, f2 = load(N, urls, function(i, url) return message(i, url, 2) end)
  local msg_rate = 2 * N / (s1 + s2)
  for _, p in ipairs(list) do os.execute("kill " .. p.pid .. " 2>/dev/null") end
  print(string.format("  %-28s %3d process%s  %8.0f executions/s  %8.0f messages/s%s", label, nproc,
    nproc == 1 and "  " or "es", exec_rate, msg_rate,
    (fails + f1 + f2) > 0 and string.format("  (%d failed requests)", fails + f1 + f2) or ""))
  core.sleep(300)
end

local ok, err = pcall(function()
  print(string.format("serve on a shared store: %d REST executions (3 steps each), %d webhook messages" ..
    " (start + reply), %d in flight, round-robin", N, 2 * N, CONCURRENCY))
  measure("SQLite (one file)", dir .. "/serve.db", 1)
  local port = (function()
    local srv = assert(core.server_listen("127.0.0.1", 0))
    local p = srv:port()
    srv:close()
    return p
  end)()
  local started, said = sh("PG_FSYNC=on sh scripts/pg-cluster.sh start " .. q(dir .. "/pg") .. " " .. port .. " 2>&1")
  local url = said:match("(postgresql://%S+)")
  if not started or not url then
    print("  PostgreSQL: not measured (" .. said:gsub("%s+$", "") .. ")")
    return
  end
  for nproc = 1, 3 do
    local c = assert(core.pg_connect(url, 5000))
    assert(c:exec("CREATE DATABASE bench" .. nproc))
    c:close()
    measure("PostgreSQL (one database)", (url:gsub("/postgres$", "/bench" .. nproc)), nproc)
  end
end)
cleanup()
if not ok then error(err, 0) end
