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
