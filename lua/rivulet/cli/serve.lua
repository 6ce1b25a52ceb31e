-- `rivulet serve`: a self-hosted Studio (DESIGN.md §5). The app (rivulet.serve) behind the
-- C HTTP server (core.server_listen), driven by one loop with the engine's HTTP client and
-- timers: it waits in one place (core.wait_fds over the server's descriptor and the
-- client's), answers every request that came in, runs the work the answers left for
-- later, drives the calls and timers, and waits again. Nothing a flow does holds the
-- loop: its calls run in libcurl while other requests are answered.
--
-- The first line on stdout is "rivulet serve: listening on http://HOST:PORT"; then the
-- credentials when they were made up here (once), one line per published flow
-- ("flow FW… NAME"), and the outbound messages ("> ADDR: BODY") when they are not sent
-- to a Messages API. SIGTERM or SIGINT: stop accepting, send what was answered, let the
-- running calls finish (up to DRAIN_MS), close the store, exit 0.

local core = require "rivulet.core"
local serve = require "rivulet.serve"
local request = require "rivulet.serve.request"
local collector = require "rivulet.serve.collector"
local args_lib = require "rivulet.cli.args"

local format, tostring, ipairs, tonumber = string.format, tostring, ipairs, tonumber
local stdout, stderr = io.stdout, io.stderr

local M = {}

M.DEFAULT_LISTEN = "127.0.0.1:8080"
M.DEFAULT_STORE = "rivulet.db"
M.DRAIN_MS = 10000               -- at a stop: answered requests sent, running calls finished
M.MAX_WAIT_MS = 1000             -- the loop looks at the clock at least this often
M.JOBS_SLICE_MS = 2               -- steps run this long at most before the loop answers again
M.MAX_JOBS_BEHIND = 64            -- no new request is taken while this many jobs wait: the
                                  -- answers must not run ahead of the work they promise

local USAGE = "usage: rivulet serve [--listen HOST:PORT] [--store DB] [--flows DIR] [--public-url URL]\n" ..
  "         [--account-sid AC...] [--auth-token TOKEN] [--twilio-api URL] [--map-url FROM=TO]...\n" ..
  "         [--map-function ZH...=URL]... [--functions FILE]... [--subflows DIR]\n" ..
  "Run 'rivulet serve --help' for details.\n"

local SPEC = {
  ["--listen"] = { value = true }, ["--store"] = { value = true }, ["--flows"] = { value = true },
  ["--public-url"] = { value = true }, ["--account-sid"] = { value = true }, ["--auth-token"] = { value = true },
  ["--twilio-api"] = { value = true }, ["--map-url"] = { list = true }, ["--subflows"] = { value = true },
  ["--map-function"] = { list = true }, ["--functions"] = { list = true },
}

-- "HOST:PORT", "[::1]:PORT", ":PORT", "PORT" -> host, port | nil, err
function M.parse_listen(s)
  local host, port = s:match("^%[([^%]]+)%]:(%d+)$")
  if not host then host, port = s:match("^([^:]*):(%d+)$") end
  if not host then host, port = "", s:match("^(%d+)$") end
  port = tonumber(port)
  if not port or port > 65535 then return nil, format("--listen wants HOST:PORT, got '%s'", s) end
  if host == "" then host = "127.0.0.1" end
  return host, port
end

local function url_host(host)
  return host:find(":", 1, true) and "[" .. host .. "]" or host
end

-- the credentials: given (options, environment) or made up now, printed once
local function credentials(o)
  local sid = o["account-sid"] or os.getenv("RIVULET_ACCOUNT_SID")
  local token = args_lib.token(o)
  local made = false
  if not sid or sid == "" then sid, made = "AC" .. core.random_hex(16), true end
  if not token or token == "" then token, made = core.random_hex(16), true end
  if not sid:match("^AC%x+$") or #sid ~= 34 then
    return nil, format("--account-sid must be AC and 32 hex digits, got '%s'", sid)
  end
  if #token < require("rivulet.redact").MIN_LENGTH then
    return nil, format("--auth-token must be at least %d characters (it guards the whole API)",
      require("rivulet.redact").MIN_LENGTH)
  end
  return sid, token, made
end

-- One commit per turn of the loop, not one per step: the writes of a turn's work share a
-- batch (engine:begin_batch), committed before anything that work caused leaves the
-- process. A failed commit is logged; the executions it held leave the engine, as the
-- store keeps them (their events, kept in the inbox, are acted on again).
local function committed(engine, scrub)
  local ok, err = engine:end_batch()
  if not ok then stderr:write("rivulet serve: the store refused a commit: ", scrub(tostring(err)), "\n") end
  return ok
end

-- One turn of the loop, in one batch and so one commit: what the calls and timers brought
-- (engine:poll; the calls that earlier turns' steps started go out here, after the commit
-- that recorded those steps), the steps that earlier answers left (for JOBS_SLICE_MS at
-- most), then every request waiting on the server (a handler's error is a 500, never a
-- stop), answered once the batch is committed (503 if it could not be). One commit, not
-- one for the answers and one for the steps: with the store FULL each is an fsync
-- (0.25-0.7 ms on the bench's disk), and at 1,000 webhooks/s, one or two requests a turn,
-- commits take half the loop's time even at one a turn (bench/README.md).
local function turn(srv, app, scrub, poll_ms)
  local engine, answers = app.engine, {}
  engine:begin_batch()
  engine:poll(poll_ms)
  app:run_jobs(core.monotonic() + M.JOBS_SLICE_MS / 1000)
  local mark = app:job_mark()
  srv:run()                          -- what came while the steps ran is answered in this commit
  while app:jobs_behind() < M.MAX_JOBS_BEHIND do
    local req = srv:next()
    if not req then break end
    local t0 = core.monotonic()
    local ok, status, headers, body = pcall(app.request, app, req)
    if not ok then
      stderr:write("rivulet serve: internal error on ", req.method, " ", req.path, ": ",
        scrub(tostring(status)), "\n")
      status, headers, body = request.error(500, 20500, "Internal server error")
    end
    answers[#answers + 1] = { req = req, t0 = t0, status, headers, body }
  end
  local ok = committed(engine, scrub)
  stdout:flush()                     -- the messages the turn printed: one write, not one each
  -- what the requests left for later goes too: the events they took are not kept, and
  -- Twilio, answered 503, sends them again
  if not ok then app:drop_jobs(mark) end
  for _, a in ipairs(answers) do
    local status, headers, body = a[1], a[2], a[3]
    -- a call's webhook held until its flow reaches TwiML (an inspector's watch until
    -- something happens): answered by late_answers
    if status ~= serve.PENDING then
      if not ok then status, headers, body = request.error(503, 20503, "Service unavailable: the store failed") end
      srv:respond(a.req.id, status, headers, body)
      app.metrics:request(a.req.path, status, core.monotonic() - a.t0)
    else
      app.metrics:hold(a.req.id, a.req.path, a.t0)
    end
  end
end

-- answers the app gave later (calls whose TwiML came), and forgets the requests whose
-- client went away
local function late_answers(srv, app)
  app:tick()
  for _, a in ipairs(app:answers()) do
    srv:respond(a.id, a.status, a.headers, a.body)
    app.metrics:answered(a.id, a.status)
  end
  for _, id in ipairs(srv:dropped()) do app:drop(id) end
end

-- how long the loop may sleep: the server's timers, libcurl's, the engine's next timer
local function wait_ms(srv, app)
  local engine = app.engine
  if app:has_jobs() then return 0 end  -- steps left from the last slice
  local t = M.MAX_WAIT_MS
  local function at_most(ms) if ms and ms >= 0 and ms < t then t = ms end end
  at_most(srv:timeout())
  at_most(engine.http:handle():timeout())
  local at = engine:next_deadline()
  if at then at_most(math.max(0, math.floor((at - engine.now()) * 1000))) end
  local hold = app:next_deadline()
  if hold then at_most(math.ceil(hold * 1000)) end
  return t
end

function M.main(argv)
  local scrub = args_lib.scrubber(args_lib.early_token(argv or {}))
  local function usage(msg)
    stderr:write("rivulet serve: ", scrub(msg), "\n", USAGE)
    return 2
  end
  local o, pos = args_lib.parse(argv or {}, SPEC)
  if not o then return usage(pos) end
  if pos[1] then return usage(format("unexpected argument '%s'", pos[1])) end
  local host, port = M.parse_listen(o.listen or M.DEFAULT_LISTEN)
  if not host then return usage(port) end
  local map, merr = args_lib.url_map(o["map-url"])
  if not map then return usage(merr) end
  local sid, token, made = credentials(o)
  if not sid then return usage(token) end
  local fmap, ferr = args_lib.function_map(o["map-function"], o.functions)
  if not fmap then return usage(ferr) end
  scrub = args_lib.scrubber(token)

  local srv, lerr = core.server_listen(host, port)
  if not srv then
    stderr:write("rivulet serve: cannot listen on ", host, ":", port, ": ", lerr, "\n")
    return 2
  end
  local here = format("http://%s:%d", url_host(host), srv:port())
  local db = args_lib.store_path(o) or M.DEFAULT_STORE
  local app, aerr, acode = serve.new{
    store = db, public_url = o["public-url"] or here,
    account_sid = sid, auth_token = token, twilio_api = o["twilio-api"], url_map = map, subflows = o.subflows,
    function_map = fmap,
    on_message = not o["twilio-api"] and function(_, m)
      stdout:write(scrub(format("> %s%s: %s", m.kind == "voice" and "(voice) " or "", tostring(m.to),
        tostring(m.body))), "\n")       -- flushed once a turn, after its commit (turn)
    end or nil,
  }
  if not app then
    srv:close()
    local msg, status = args_lib.store_failure(db, aerr, acode)
    stderr:write("rivulet serve: ", scrub(msg), "\n")
    return status
  end
  stdout:write("rivulet serve: listening on ", here, "\n")
  if made then
    stdout:write("account sid ", sid, "\nauth token ", token, "  (made up for this run: pass --account-sid and ",
      "--auth-token, or RIVULET_ACCOUNT_SID and RIVULET_AUTH_TOKEN, to keep them)\n")
  end
  if o.flows then
    local list, problems = app:publish_dir(o.flows)
    if not list then
      stderr:write("rivulet serve: ", scrub(tostring(problems)), "\n")
      app.store:close()
      srv:close()
      return 2
    end
    for _, f in ipairs(list) do stdout:write(format("flow %s %s\n", f.sid, f.name)) end
    for _, p in ipairs(problems) do
      for _, q in ipairs(p.problems or {}) do
        if q.level == "error" then
          stderr:write(scrub(format("rivulet serve: %s: %s: error: %s (not published)\n", p.path, q.path, q.message)))
        end
      end
      if p.error then stderr:write("rivulet serve: ", scrub(p.error), " (not published)\n") end
    end
  end
  stdout:flush()

  local replayed = app:replay()        -- messages a stopped process answered and did not act on
  if replayed and replayed > 0 then
    stdout:write(format("%d message%s taken before a stop, acted on now\n", replayed, replayed == 1 and "" or "s"))
  end
  core.trap_signals()
  local engine = app.engine
  local client = engine.http:handle()
  local gc = collector.new()         -- between the turns, never inside one
  local ok, err = pcall(function()
    while not core.signaled() do
      turn(srv, app, scrub, 0)
      srv:run()                      -- send the answers now: the steps they left run next turn
      late_answers(srv, app)
      srv:run()                      -- send what was just answered (timeout() is 0 while
      local fds = client:fds()       -- a request it read waits to be taken)
      fds[#fds + 1] = srv:fd()
      fds[#fds + 1] = app:wait_fd()     -- a shared store's notifications (nil: none)
      gc:between()
      core.wait_fds(fds, wait_ms(srv, app))
    end
  end)
  if not ok then stderr:write("rivulet serve: internal error: ", scrub(tostring(err)), "\n") end
  -- stop: no new connections; what was answered is sent; running calls finish
  srv:shutdown()
  local deadline = core.monotonic() + M.DRAIN_MS / 1000
  while core.monotonic() < deadline and (engine:pending_calls() or srv:stats().busy > 0 or app:has_jobs()) do
    turn(srv, app, scrub, 10)
    srv:run()
    late_answers(srv, app)
    gc:between()
  end
  gc:stop()
  srv:close(M.DRAIN_MS)
  app.store:close()
  stderr:write("rivulet serve: stopped", core.signaled() and (" (SIG" .. core.signaled() .. ")") or "", "\n")
  return ok and 0 or 1
end

return M
