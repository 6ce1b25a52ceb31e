-- rivulet serve's loop (rivulet.cli.serve), run as the command: requests that come one
-- after another on one keep-alive connection are each answered at once. The loop's last
-- server run may read the next request's bytes itself; that request must then be answered
-- before the loop sleeps, not at its next periodic wake-up (MAX_WAIT_MS later).

local lu = require "luaunit"
local helper = require "spec.helper"
local serve = require "spec.serve_helper"
local socket = require "socket"
local core = require "rivulet.core"
local cli = require "rivulet.cli.serve"

-- Each answer's budget: half the loop's periodic wake-up, far above what a 401 costs even
-- under the sanitizers on a loaded machine, far below the MAX_WAIT_MS a lost wake-up costs.
local ANSWER_BUDGET_S = cli.MAX_WAIT_MS / 2 / 1000
local REQUESTS = 8

TestServeLoop = {}

function TestServeLoop:tearDown()
  serve.stop_all()
  helper.cleanup()
end

-- one answer: status, headers read, body of Content-Length read
local function read_answer(c)
  local line = assert(c:receive("*l"))
  local status = tonumber(line:match("^HTTP/1%.1 (%d+)"))
  local len = 0
  repeat
    line = assert(c:receive("*l"))
    len = tonumber(line:lower():match("^content%-length:%s*(%d+)")) or len
  until line == ""
  if len > 0 then assert(c:receive(len)) end
  return status
end

function TestServeLoop:test_requests_in_turn_on_one_connection_are_answered_without_the_loops_wait()
  local dir = helper.tmpdir()
  local srv = assert(serve.spawn{ name = "rivulet serve",
    argv = { helper.bin, "serve", "--listen", "127.0.0.1:0", "--store", dir .. "/serve.db",
             "--account-sid", serve.ACCOUNT_SID, "--auth-token", serve.TOKEN },
    ready = function(e) return (e.line or ""):match("listening on") end })
  local port = tonumber(srv.ready.line:match(":(%d+)$"))
  local c = assert(socket.tcp())
  c:settimeout(10)
  assert(c:connect("127.0.0.1", port))
  for i = 1, REQUESTS do
    local t0 = core.monotonic()
    assert(c:send("GET /v2/Flows HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"))
    lu.assertEquals(read_answer(c), 401)       -- no credentials: the loop answers all the same
    local took = core.monotonic() - t0
    lu.assertTrue(took < ANSWER_BUDGET_S,
      string.format("request %d on the connection took %.3f s (budget %.3f s)", i, took, ANSWER_BUDGET_S))
  end
  c:close()
end

-- A burst of webhooks is answered ahead of its steps (they run after the answer, in slices:
-- cli.JOBS_SLICE_MS), but never more than cli.MAX_JOBS_BEHIND ahead, and a SIGTERM right
-- after the last answer still runs every step it promised before serve exits.
local BURST, CONNS = 1000, 50

local function form(list)
  local out = {}
  for _, kv in ipairs(list) do
    out[#out + 1] = kv[1] .. "=" .. kv[2]:gsub("[^%w%-_%.~]", function(ch) return string.format("%%%02X", ch:byte()) end)
  end
  return table.concat(out, "&")
end

function TestServeLoop:test_a_burst_is_worked_off_before_a_stop()
  local rivulet = require "rivulet"
  local store = require "rivulet.store"
  local dir = helper.tmpdir()
  local public = "http://rivulet.invalid"
  local srv = assert(serve.spawn{ name = "rivulet serve",
    argv = { helper.bin, "serve", "--listen", "127.0.0.1:0", "--store", dir .. "/serve.db",
             "--flows", helper.root .. "/bench/serve/flows", "--public-url", public,
             "--account-sid", serve.ACCOUNT_SID, "--auth-token", serve.TOKEN },
    ready = function(e) return (e.line or ""):match("listening on") end })
  local port = tonumber(srv.ready.line:match(":(%d+)$"))
  local fw = assert(srv:wait_line("^flow FW")):match("^flow (FW%x+)")
  local path = "/v1/Accounts/" .. serve.ACCOUNT_SID .. "/Flows/" .. fw
  -- CONNS connections, each with its share sent before any answer is read: serve takes
  -- them as fast as it may
  local conns = {}
  for k = 1, CONNS do
    local c = assert(socket.tcp())
    c:settimeout(20)
    assert(c:connect("127.0.0.1", port))
    conns[k] = c
  end
  local reqs = {}
  for i = 1, BURST do
    local fields = { { "AccountSid", serve.ACCOUNT_SID }, { "Body", "hi" }, { "From", string.format("+1555%07d", i) },
                     { "MessageSid", string.format("SM%032x", i) }, { "To", "+15559990000" } }
    local sig = rivulet.http.signature(serve.TOKEN, public .. path, fields, false)
    local body = form(fields)
    local k = i % CONNS + 1
    reqs[k] = (reqs[k] or "") .. "POST " .. path .. " HTTP/1.1\r\nHost: 127.0.0.1\r\n" ..
      "Content-Type: application/x-www-form-urlencoded\r\nX-Twilio-Signature: " .. sig ..
      "\r\nContent-Length: " .. #body .. "\r\n\r\n" .. body
  end
  for k = 1, CONNS do assert(conns[k]:send(reqs[k])) end
  for i = 1, BURST do lu.assertEquals(read_answer(conns[i % CONNS + 1]), 200, "answer " .. i) end
  for k = 1, CONNS do conns[k]:close() end
  srv:stop()                                  -- SIGTERM at once: the drain runs what is left
  local st = assert(store.open(dir .. "/serve.db", { readonly = true }))
  local counts = st:counts()
  st:close()
  lu.assertEquals(counts.executions, BURST)
  lu.assertEquals(counts.active, BURST, "every one waits at its first question")
end

-- A call a step makes leaves only once the commit that recorded it is done (a turn polls
-- libcurl before its steps, in the next turn after their commit): when the Messages API
-- receives Send & Wait's prompt, another connection to the store already sees the
-- execution waiting on that call.
function TestServeLoop:test_a_call_leaves_after_the_commit_that_recorded_it()
  local rivulet = require "rivulet"
  local store = require "rivulet.store"
  local dir = helper.tmpdir()
  local public = "http://rivulet.invalid"
  local api = assert(socket.bind("127.0.0.1", 0))
  api:settimeout(20)
  local _, api_port = api:getsockname()
  local srv = assert(serve.spawn{ name = "rivulet serve",
    argv = { helper.bin, "serve", "--listen", "127.0.0.1:0", "--store", dir .. "/serve.db",
             "--flows", helper.root .. "/bench/serve/flows", "--public-url", public,
             "--twilio-api", "http://127.0.0.1:" .. api_port,
             "--account-sid", serve.ACCOUNT_SID, "--auth-token", serve.TOKEN },
    ready = function(e) return (e.line or ""):match("listening on") end })
  local port = tonumber(srv.ready.line:match(":(%d+)$"))
  local fw = assert(srv:wait_line("^flow FW")):match("^flow (FW%x+)")
  local path = "/v1/Accounts/" .. serve.ACCOUNT_SID .. "/Flows/" .. fw
  local fields = { { "AccountSid", serve.ACCOUNT_SID }, { "Body", "hi" }, { "From", "+15550001111" },
                   { "MessageSid", "SM" .. string.rep("a", 32) }, { "To", "+15559990000" } }
  local body = form(fields)
  local c = assert(socket.tcp())
  c:settimeout(20)
  assert(c:connect("127.0.0.1", port))
  assert(c:send("POST " .. path .. " HTTP/1.1\r\nHost: 127.0.0.1\r\n" ..
    "Content-Type: application/x-www-form-urlencoded\r\nX-Twilio-Signature: " ..
    rivulet.http.signature(serve.TOKEN, public .. path, fields, false) ..
    "\r\nContent-Length: " .. #body .. "\r\n\r\n" .. body))
  lu.assertEquals(read_answer(c), 200)
  -- the prompt's POST: read it whole, look at the store, then answer as Twilio does
  local a = assert(api:accept())
  a:settimeout(20)
  local len = 0
  repeat
    local line = assert(a:receive("*l"))
    len = tonumber(line:lower():match("^content%-length:%s*(%d+)")) or len
  until line == ""
  local posted = assert(a:receive(len))
  lu.assertStrContains(posted, "To=%2B15550001111")
  local st = assert(store.open(dir .. "/serve.db", { readonly = true }))
  local counts = st:counts()
  st:close()
  lu.assertEquals(counts.executions, 1, "the execution that made the call is committed before the call")
  local sid = "SM" .. string.rep("b", 32)
  local reply = string.format('{"sid":"%s","account_sid":"%s","status":"queued","to":"+15550001111",' ..
    '"from":"+15559990000","body":"x"}', sid, serve.ACCOUNT_SID)
  assert(a:send("HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: " .. #reply ..
    "\r\nConnection: close\r\n\r\n" .. reply))
  a:close()
  api:close()
  c:close()
  srv:stop()
end

-- serve's heap on transparent huge pages (src/main.c, long_run_with_huge_pages): serve runs
-- itself again at start with glibc's tunable glibc.malloc.hugetlb=1, so glibc marks its heap
-- for huge pages (the "hg" flag of the heap's mapping in /proc/PID/smaps). A GLIBC_TUNABLES
-- the user set is left as it is. Linux and the plain build (sanitizers replace malloc).
TestServeHeap = {}

function TestServeHeap:setUp()
  lu.skipIf(not helper.plain, "the sanitizers replace malloc: the plain build is checked")
  lu.skipIf(not helper.read_file("/proc/self/smaps"), "no /proc/PID/smaps (not Linux)")
end

function TestServeHeap:tearDown()
  serve.stop_all()
  helper.cleanup()
end

-- a process's GLIBC_TUNABLES as it began (its /proc/PID/environ) and its heap mappings'
-- VmFlags (its /proc/PID/smaps)
local function heap_of(environ, smaps)
  local flags = {}
  for vma in smaps:gmatch("[^\n]*%[heap%].-VmFlags:([^\n]*)") do flags[#flags + 1] = vma end
  return ("\0" .. environ):match("%zGLIBC_TUNABLES=([^%z]*)"), flags
end

-- serve started with env's arguments first (env execs serve: the PID stays the same)
local function serve_under(env_args)
  local argv = { "env" }
  for _, a in ipairs(env_args) do argv[#argv + 1] = a end
  for _, a in ipairs{ helper.bin, "serve", "--listen", "127.0.0.1:0", "--store", helper.tmpdir() .. "/serve.db",
                      "--account-sid", serve.ACCOUNT_SID, "--auth-token", serve.TOKEN } do
    argv[#argv + 1] = a
  end
  local srv = assert(serve.spawn{ name = "rivulet serve", argv = argv,
    ready = function(e) return (e.line or ""):match("listening on") end })
  local tunables, flags = heap_of(assert(helper.read_file("/proc/" .. srv.pid .. "/environ")),
                                  assert(helper.read_file("/proc/" .. srv.pid .. "/smaps")))
  srv:stop()
  return tunables, flags
end

local function any_huge(flags)
  for _, f in ipairs(flags) do
    if (" " .. f .. " "):find(" hg ", 1, true) then return true end
  end
  return false
end

function TestServeHeap:test_serve_asks_for_huge_pages_for_its_heap()
  local thp = helper.read_file("/sys/kernel/mm/transparent_hugepage/enabled")
  local tunables, flags = serve_under{ "-u", "GLIBC_TUNABLES" }
  if not thp or thp:find("[never]", 1, true) then
    lu.assertNil(tunables, "huge pages are off: serve runs as it was started")
    return
  end
  lu.assertEquals(tunables, "glibc.malloc.hugetlb=1")
  lu.assertTrue(#flags > 0, "serve has a heap")
  lu.assertTrue(any_huge(flags), "the heap is marked for huge pages: " .. table.concat(flags, " |"))
end

-- `rivulet lua` too: a host may run many executions at once (bench/scale)
function TestServeHeap:test_rivulet_lua_asks_too()
  local thp = helper.read_file("/sys/kernel/mm/transparent_hugepage/enabled")
  local dir = helper.tmpdir()
  -- the script keeps its /proc files for heap_of, and says what it sees of the variable
  local script = helper.write_file(dir .. "/heap.lua", [[
    local keep = {}
    for i = 1, 20000 do keep[i] = ("x"):rep(100) .. i end   -- a heap of a few MB
    for _, f in ipairs{ "environ", "smaps" } do
      local out = io.open(arg[1] .. "/" .. f, "wb")
      out:write(io.open("/proc/self/" .. f, "rb"):read("a"))
      out:close()
    end
    io.write(os.getenv("GLIBC_TUNABLES") or "unset")
  ]])
  local function run(env_args)
    local argv = { "env" }
    for _, a in ipairs(env_args) do argv[#argv + 1] = a end
    for _, a in ipairs{ helper.bin, "lua", script, dir } do argv[#argv + 1] = a end
    local code, seen, err = helper.exec(argv)
    lu.assertEquals(code, 0, err)
    local tunables, flags = heap_of(assert(helper.read_file(dir .. "/environ")),
                                    assert(helper.read_file(dir .. "/smaps")))
    return tunables, seen, table.concat(flags, "|")
  end
  local tunables, seen, flags = run{ "-u", "GLIBC_TUNABLES" }
  if not thp or thp:find("[never]", 1, true) then
    lu.assertEquals(tunables or "unset", "unset", "huge pages are off: lua runs as it was started")
  else
    lu.assertEquals(tunables, "glibc.malloc.hugetlb=1")
    lu.assertTrue(any_huge{ flags }, "the heap is marked for huge pages: " .. flags)
  end
  lu.assertEquals(seen, "unset", "the script and what it starts see the environment it was given")
  -- a tunable the user set is theirs, children included
  tunables, seen, flags = run{ "GLIBC_TUNABLES=glibc.malloc.hugetlb=0" }
  lu.assertEquals({ tunables, seen }, { "glibc.malloc.hugetlb=0", "glibc.malloc.hugetlb=0" })
  lu.assertFalse(any_huge{ flags }, "the heap is not marked for huge pages: " .. flags)
end

function TestServeHeap:test_the_users_glibc_tunables_are_kept()
  local tunables, flags = serve_under{ "GLIBC_TUNABLES=glibc.malloc.hugetlb=0" }
  lu.assertEquals(tunables, "glibc.malloc.hugetlb=0")
  lu.assertFalse(any_huge(flags), "the heap is not marked for huge pages: " .. table.concat(flags, " |"))
end
