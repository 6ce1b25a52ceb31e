-- The node-side tooling of spec/serve/ (README.md there) for the LuaUnit specs of rivulet
-- serve: twilio-node as a client, a fake Twilio 2010-04-01 API, Prism (mock, or a
-- validating proxy that counts OpenAPI violations), signed webhooks.
--
--   local serve = require "spec.serve_helper"
--   serve.need()                       -- node + the pinned npm packages, or lu.skip saying why
--   local fake = assert(serve.fake_twilio{ account_sid = AC, auth_token = TOKEN })
--   fake.url                           --> "http://127.0.0.1:PORT"
--   fake:fail{ preset = "invalid_to" } ; fake:route{ method = "GET", path = "/x", json = {…} }
--   fake:requests()                    --> every request so far, oldest first
--   local prism = assert(serve.prism{ mode = "proxy", upstream = url })   -- or mode = "mock"
--   local client = assert(serve.client{ base_url = prism.url, account_sid = AC, auth_token = TOKEN })
--   local a = client:call("flows.create", { friendlyName = "x", status = "draft", definition = {…} })
--   a.ok, a.result.sid, a.error.status, a.http[1].status
--   prism:count(mark)                  --> violations Prism reported since mark
--   serve.stop_all()                   -- in teardownClass (each object also has :stop())
--
-- Every process runs node on a free loopback port of its own choosing (port 0, or a probed
-- port for Prism), in its own session (setsid) so stopping it stops its children too. Its
-- stdin is a pipe from this process: when this process ends, for any reason, the pipe
-- closes and the process exits. Its stdout goes to a temporary file of JSON lines, read here
-- by polling (no socket library needed); its stderr to another (shown when it fails).

local json = require "rivulet.json"
local core = require "rivulet.core"
local helper = require "spec.helper"

local M = {}

local START_DEADLINE_S = 15  -- node + twilio-node: ~0.3 s; Prism parsing a spec: ~1.5-3 s
local ANSWER_MARGIN_S = 5    -- beyond client.js's own per-command budget (3 x timeout_ms)
local CONTROL_DEADLINE_S = 20 -- a control command: a status callback may take 15 s
local POLL_MS = 2             -- between looks at an output file
local STOP_GRACE_S = 2        -- after SIGTERM, before SIGKILL

M.TOKEN = "0123456789abcdef0123456789abcdef"
M.ACCOUNT_SID = "AC" .. ("0"):rep(32)

-- helper.root may be relative; the processes start from elsewhere.
local function absolute(dir)
  local p = io.popen("cd " .. helper.quote(dir) .. " 2>/dev/null && pwd")
  local abs = p and p:read("l")
  if p then p:close() end
  return (abs and abs ~= "") and abs or dir
end

M.root = absolute(helper.root)
M.dir = M.root .. "/spec/serve"
M.install_script = M.root .. "/scripts/serve-tooling.sh"
M.studio_spec = absolute(helper.shared) .. "/studio/openapi/twilio_studio_v2.json"
M.api_spec = absolute(helper.shared) .. "/studio/openapi/twilio_api_v2010.json"
M.node = os.getenv("RIVULET_NODE") or "node"

local function sh_ok(cmd)
  local ok, how, n = os.execute(cmd)
  return ok == true and how == "exit" and n == 0
end

-- ---- availability ----------------------------------------------------------------------

-- true, or false and why the tooling cannot run here (how to fix it included).
function M.available()
  if not sh_ok("command -v " .. helper.quote(M.node) .. " >/dev/null 2>&1") then
    return false, "node not found (scripts/deps.sh installs nodejs and npm; or set RIVULET_NODE)"
  end
  if not sh_ok("command -v setsid >/dev/null 2>&1") then
    return false, "setsid not found (util-linux)"
  end
  local f = io.open(M.studio_spec)
  if not f then return false, "no OpenAPI description at " .. M.studio_spec end
  f:close()
  return true
end

function M.installed()
  return sh_ok(helper.quote(M.install_script) .. " --check")
end

-- Installs the pinned npm packages when missing (quiet when present). true; or nil, the
-- reason, and its kind: "offline" (npm could not reach its registry: skip) or "failed".
-- (script and env: another copy of the install script and its environment, for its spec.)
function M.install(script, env)
  if not script and M.installed() then return true end
  local offline = (env and env.RIVULET_OFFLINE) or os.getenv("RIVULET_OFFLINE")
  if offline == nil or offline == "" or offline == "0" then     -- offline, the script says why
    io.stderr:write("spec: installing spec/serve's npm packages (npm ci, ~12 s)...\n")
  end
  local code, out, err = helper.exec({ "sh", script or M.install_script }, nil, env)
  if code == 0 then return true end
  local text = (out .. err):gsub("%s+$", "")
  local last = text:match("([^\n]*)$")
  if code == 3 then return nil, last, "offline" end
  return nil, ("scripts/serve-tooling.sh failed (exit %d):\n%s"):format(code, text), "failed"
end

local ready, not_ready, not_ready_kind
-- For a spec: returns when the tooling can run; otherwise skips the test (no node, npm
-- offline) or fails it (an install that broke), with the reason. Checked once per process.
function M.need()
  local lu = require "luaunit"
  if ready then return true end
  if not not_ready then
    local ok, why = M.available()
    if not ok then
      not_ready, not_ready_kind = why, "skip"
    else
      local installed, err, kind = M.install()
      if installed then
        ready = true
        return true
      end
      not_ready, not_ready_kind = err, (kind == "offline") and "skip" or "fail"
    end
    io.stderr:write("spec: serve tooling unavailable: ", not_ready, "\n")
  end
  if not_ready_kind == "skip" then lu.skip("serve tooling unavailable: " .. not_ready) end
  lu.fail("serve tooling unavailable: " .. not_ready)
end

-- ---- processes ---------------------------------------------------------------------------

local Proc = {}
Proc.__index = Proc
local running = setmetatable({}, { __mode = "k" })

local function tail(text, n)
  local lines = {}
  for line in (text or ""):gmatch("[^\n]+") do lines[#lines + 1] = line end
  return table.concat(lines, "\n", math.max(1, #lines - (n or 20) + 1))
end

function Proc:stderr()
  return helper.read_file(self.tmp .. "/stderr") or ""
end

function Proc:alive()
  return self.pid ~= nil and core.process_alive(self.pid)
end

-- New complete lines of stdout, decoded; appended to self.events.
function Proc:poll()
  local chunk = self.fh:read("a")
  self.fh:seek("cur", 0) -- clears the end-of-file mark, so later writes are seen
  if chunk and chunk ~= "" then
    self.buf = self.buf .. chunk
    while true do
      local i = self.buf:find("\n", 1, true)
      if not i then break end
      local line = self.buf:sub(1, i - 1)
      self.buf = self.buf:sub(i + 1)
      if line ~= "" then
        local v, err = json.decode(line)
        self.events[#self.events + 1] = v or { event = "unparsed", line = line, error = err }
      end
    end
  end
  return self.events
end

-- Polls stdout until fn() returns a true value, and returns it; or nil and why (the
-- deadline passed, or the process died).
function Proc:wait_until(fn, deadline_s)
  local deadline = core.monotonic() + deadline_s
  while true do
    self:poll()
    local v = fn()
    if v then return v end
    if not self:alive() then
      self:poll()
      v = fn()
      if v then return v end
      return nil, self.name .. " exited:\n" .. tail(self:stderr())
    end
    if core.monotonic() > deadline then
      return nil, ("%s: nothing within %g s:\n%s"):format(self.name, deadline_s, tail(self:stderr()))
    end
    core.sleep(POLL_MS)
  end
end

-- The first event after index `from` (default 0) for which pred holds, and its index.
function Proc:wait_for(pred, deadline_s, from)
  local seen = from or 0
  local found
  local ok, err = self:wait_until(function()
    for i = seen + 1, #self.events do
      if pred(self.events[i]) then found = i; return true end
    end
    seen = #self.events
  end, deadline_s)
  if not ok then return nil, err end
  return self.events[found], found
end

function Proc:send(tbl)
  if not self:alive() then error(self.name .. " is not running:\n" .. tail(self:stderr()), 2) end
  self.pipe:write(assert(json.encode(tbl)), "\n")
  self.pipe:flush()
end

-- SIGTERM to its process group, SIGKILL after STOP_GRACE_S; then closes the pipe and removes
-- the temporary files. Safe to call twice.
function Proc:stop()
  if self.pipe then
    if self.pid then
      os.execute("kill -TERM -" .. self.pid .. " 2>/dev/null")
      local deadline = core.monotonic() + STOP_GRACE_S
      while self:alive() and core.monotonic() < deadline do core.sleep(10) end
      if self:alive() then os.execute("kill -KILL -" .. self.pid .. " 2>/dev/null") end
    end
    self.pipe:close()
    self.pipe = nil
  end
  if self.fh then self.fh:close(); self.fh = nil end
  if self.tmp then helper.rmtree(self.tmp); self.tmp = nil end
  running[self] = nil
end

Proc.__gc = Proc.stop
Proc.__close = Proc.stop

-- Launches `node SCRIPT ARGS…` from spec/serve without waiting for it; proc:await(ready)
-- then waits for its first stdout line. Launching several before awaiting any lets them
-- start side by side (Prism spends ~1.5 s of CPU starting).
local function launch_argv(name, argv, class, cwd)
  local p = io.popen("mktemp -d 2>/dev/null || mktemp -d -t rivulet")
  local tmp = p:read("l")
  p:close()
  local quoted = {}
  for i, a in ipairs(argv) do quoted[i] = helper.quote(a) end
  local inner = "echo $$ > " .. helper.quote(tmp .. "/pid") .. "; exec " .. table.concat(quoted, " ")
  local cmd = "cd " .. helper.quote(cwd or M.root) .. " && exec setsid sh -c " .. helper.quote(inner) ..
    " >" .. helper.quote(tmp .. "/stdout") .. " 2>" .. helper.quote(tmp .. "/stderr")
  helper.write_file(tmp .. "/stdout", "")
  local proc = setmetatable({ name = name, tmp = tmp, buf = "", events = {} }, class or Proc)
  proc.pipe = assert(io.popen(cmd, "w"))
  proc.fh = assert(io.open(tmp .. "/stdout", "r"))
  running[proc] = true
  return proc
end

local function launch(name, script, args, class)
  local argv = { M.node, M.dir .. "/" .. script }
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  return launch_argv(name, argv, class, M.dir)
end

-- Waits until the process runs and its first stdout line satisfies ready_pred. The process
-- (proc.ready holds that line), or nil and why (the process is stopped then).
function Proc:await(ready_pred)
  if self.ready then return self end
  local deadline = core.monotonic() + START_DEADLINE_S
  while not self.pid and core.monotonic() < deadline do
    self.pid = tonumber((helper.read_file(self.tmp .. "/pid") or ""):match("%d+"))
    if not self.pid then core.sleep(POLL_MS) end
  end
  if not self.pid then
    self:stop()
    return nil, self.name .. ": did not start"
  end
  local first, err = self:wait_for(function() return true end, START_DEADLINE_S)
  if not first or not ready_pred(first) then
    err = err or (self.name .. ": unexpected first line " .. tostring(json.encode(first)) .. "\n" ..
                  tail(self:stderr()))
    self:stop()
    return nil, err
  end
  self.ready = first
  self.seen = 1
  return self
end

local function start(name, script, args, ready_pred, class)
  return launch(name, script, args, class):await(ready_pred)
end

-- Any other command the same way (e.g. `build/rivulet serve --listen 127.0.0.1:0`): o.argv
-- (argv[1] the program), o.cwd (default the checkout), o.ready(line_event) deciding on its
-- first stdout line, o.name. Lines that are not JSON arrive as { event = "unparsed", line = … }:
--   local srv = assert(serve.spawn{ argv = { helper.bin, "serve", "--listen", "127.0.0.1:0" },
--     ready = function(e) return (e.line or ""):match("listening on") end })
--   srv.ready.line:match("listening on (http://%S+)")
-- proc:lines() lists every stdout line so far; proc:wait_line(pattern, deadline_s, after)
-- waits for a line matching the Lua pattern, after the first `after` lines (a count from
-- #proc:lines(); default 0); proc:stderr() is its stderr; proc:stop() sends SIGTERM (SIGKILL
-- after 2 s).
function M.spawn(o)
  return launch_argv(o.name or o.argv[1], o.argv, Proc, o.cwd):await(o.ready or function() return true end)
end

function Proc:lines()
  local out = {}
  for _, e in ipairs(self:poll()) do out[#out + 1] = e.line or assert(json.encode(e)) end
  return out
end

function Proc:wait_line(pattern, deadline_s, after)
  local e, err = self:wait_for(function(ev) return ((ev.line or "")):match(pattern) ~= nil end,
                               deadline_s or START_DEADLINE_S, after)
  if not e then return nil, err end
  return e.line
end

-- Stops every process this module started and that still runs.
function M.stop_all()
  local list = {}
  for p in pairs(running) do list[#list + 1] = p end
  for _, p in ipairs(list) do p:stop() end
end

-- ---- client.js: twilio-node ---------------------------------------------------------------

local Client = setmetatable({}, { __index = Proc })
Client.__index = Client
Client.__gc = Proc.stop
Client.__close = Proc.stop

-- opts: base_url (required), account_sid, auth_token, api_url (the 2010 API, default
-- base_url), lib ("twilio" = 5.13.1, "twilio-6" = 6.3.1), timeout_ms (per HTTP request,
-- default 10000). The client, or nil and why.
function M.client(opts)
  assert(opts and opts.base_url, "serve.client: base_url required")
  local args = { opts.base_url, opts.account_sid or M.ACCOUNT_SID, opts.auth_token or M.TOKEN }
  if opts.api_url then args[#args + 1] = "--api-url"; args[#args + 1] = opts.api_url end
  if opts.lib then args[#args + 1] = "--lib"; args[#args + 1] = opts.lib end
  local timeout_ms = opts.timeout_ms or 10000
  args[#args + 1] = "--timeout-ms"
  args[#args + 1] = tostring(timeout_ms)
  local c, err = start("client.js", "client.js", args, function(e) return e.ready == true end, Client)
  if not c then return nil, err end
  c.next_id = 0
  c.answer_deadline_s = 3 * timeout_ms / 1000 + ANSWER_MARGIN_S
  c.version = c.ready.twilio
  return c
end

-- Runs one command; returns client.js's answer: { ok, result | error, http }. extra may
-- hold as = { username, password, accountSid }, base_url, api_url for this command only.
-- Raises when client.js does not answer (it died, or over its own deadline).
function Client:call(op, args, extra)
  self.next_id = self.next_id + 1
  local id = self.next_id
  local cmd = { id = id, op = op, args = args or {} }
  if extra then
    cmd.as, cmd.baseUrl, cmd.apiUrl = extra.as, extra.base_url, extra.api_url
  end
  self:send(cmd)
  local answer, err = self:wait_for(function(e) return e.id == id end, self.answer_deadline_s, self.seen)
  if not answer then error("client.js " .. op .. ": " .. err, 2) end
  self.seen = #self.events
  return answer
end

-- Like call, but returns the result, raising with the error when the command failed.
function Client:run(op, args, extra)
  local a = self:call(op, args, extra)
  if not a.ok then error(("client.js %s failed: %s"):format(op, json.encode(a.error)), 2) end
  return a.result
end

-- ---- fake_twilio.js -----------------------------------------------------------------------

local Fake = setmetatable({}, { __index = Proc })
Fake.__index = Fake
Fake.__gc = Proc.stop
Fake.__close = Proc.stop

-- opts: account_sid, auth_token (what the fake accepts and signs callbacks with). The fake,
-- or nil and why. fake.url is its base URL ("http://127.0.0.1:PORT").
function M.fake_twilio(opts)
  opts = opts or {}
  local f, err = start("fake_twilio.js", "fake_twilio.js",
    { "--account-sid", opts.account_sid or M.ACCOUNT_SID, "--auth-token", opts.auth_token or M.TOKEN },
    function(e) return e.event == "listening" end, Fake)
  if not f then return nil, err end
  f.url, f.port, f.next_id = f.ready.url, f.ready.port, 0
  return f
end

-- Sends a control command (fake_twilio.js header: fail, route, deliver, auto_status,
-- requests, messages, clear, reset) and returns its ack; raises when it is refused.
function Fake:control(cmd)
  self.next_id = self.next_id + 1
  local id = "c" .. self.next_id
  cmd.id = id
  self:send(cmd)
  local ack, err = self:wait_for(function(e) return e.event == "ack" and e.id == id end,
                                 CONTROL_DEADLINE_S)
  if not ack then error("fake_twilio.js " .. tostring(cmd.op) .. ": " .. err, 2) end
  if not ack.ok then error("fake_twilio.js " .. tostring(cmd.op) .. ": " .. tostring(ack.error), 2) end
  return ack
end

function Fake:fail(rule) rule.op = "fail"; return self:control(rule) end
function Fake:route(route) route.op = "route"; return self:control(route) end
function Fake:reset() return self:control{ op = "reset" } end
function Fake:auto_status(statuses) return self:control{ op = "auto_status", statuses = statuses } end
-- A status callback for a message (default: the last one): the ack's .callback holds
-- { http_status, signature, body } of the POST to its StatusCallback.
function Fake:deliver(o) o = o or {}; o.op = "deliver"; return self:control(o) end
function Fake:messages() return self:control{ op = "messages" }.messages end

local function events_of(proc, kind, since)
  local out = {}
  for _, e in ipairs(proc:poll()) do
    if e.event == kind and (not since or (e.seq or 0) > since) then out[#out + 1] = e end
  end
  return out
end

-- Requests recorded after sequence number `since` (default all), oldest first. Each:
-- { seq, method, path, query, headers, body, form = {{name, value}…}, params = {name =
-- value or {values}}, auth = { username, password_ok }, resource ("Messages"/"Calls"/nil),
-- answer = { status, sid, code, reset, hang }, rule }.
function Fake:requests(since) return events_of(self, "request", since) end

-- The last sequence number so far: requests(fake:mark()) later lists only newer ones.
function Fake:mark()
  local r = self:requests()
  return #r > 0 and r[#r].seq or 0
end

-- Waits until at least n requests after `since` were recorded; returns them (or nil, why).
function Fake:wait_requests(n, since, deadline_s)
  return self:wait_until(function()
    local r = self:requests(since)
    return #r >= n and r
  end, deadline_s or CONTROL_DEADLINE_S)
end

-- Status callbacks sent so far: { sid, status, url, http_status, signature, body | error }.
function Fake:callbacks() return events_of(self, "callback") end

-- ---- prism.js -----------------------------------------------------------------------------

local Prism = setmetatable({}, { __index = Proc })
Prism.__index = Prism
Prism.__gc = Proc.stop
Prism.__close = Proc.stop

-- opts: mode "mock" | "proxy"; spec (default M.studio_spec); upstream (proxy); errors
-- (proxy, default true: violations fail the request); as_is (no spec fixes, see prism.js);
-- only (a JavaScript regex: keep the spec's paths it matches, for a faster start); dynamic
-- (mock); port (where Prism's front listens; default a free one); pass (proxy: a JavaScript
-- regex of paths sent straight to the upstream, unchecked: routes outside the spec). The Prism, or nil and
-- why; prism.url is where to send requests. With
-- wait = false it returns at once, unstarted: prism:await() later (several start side by side).
local function listening(e) return e.event == "listening" end

function M.prism(opts)
  opts = opts or {}
  local mode = opts.mode or "mock"
  local args = { mode, opts.spec or M.studio_spec }
  if mode == "proxy" then args[#args + 1] = assert(opts.upstream, "serve.prism: proxy needs upstream") end
  if opts.errors == false then args[#args + 1] = "--no-errors" end
  if opts.as_is then args[#args + 1] = "--as-is" end
  if opts.dynamic then args[#args + 1] = "--dynamic" end
  if opts.only then args[#args + 1] = "--only"; args[#args + 1] = opts.only end
  if opts.port then args[#args + 1] = "--port"; args[#args + 1] = tostring(opts.port) end
  if opts.pass then args[#args + 1] = "--pass"; args[#args + 1] = opts.pass end
  local p = launch("prism.js", "prism.js", args, Prism)
  if opts.wait == false then return p end
  return p:await()
end

function Prism:await()
  local p, err = Proc.await(self, listening)
  if not p then return nil, err end
  p.url, p.port = p.ready.url, p.ready.port
  return p
end

-- Exchanges (requests through Prism) after sequence number `since`: { seq, method, path,
-- status, violations = { {location, severity, code, message}… }, prism_error }.
function Prism:exchanges(since) return events_of(self, "exchange", since) end

function Prism:mark()
  local r = self:exchanges()
  return #r > 0 and r[#r].seq or 0
end

-- Every violation after `since`, flattened: { seq, method, path, status, location,
-- severity, code, message }. severity = "Error" keeps only those.
function Prism:violations(since, severity)
  local out = {}
  for _, ex in ipairs(self:exchanges(since)) do
    for _, v in ipairs(ex.violations or {}) do
      if not severity or v.severity == severity then
        out[#out + 1] = { seq = ex.seq, method = ex.method, path = ex.path, status = ex.status,
                          location = v.location, severity = v.severity, code = v.code,
                          message = v.message }
      end
    end
  end
  return out
end

function Prism:count(since, severity) return #self:violations(since, severity) end

-- One line per violation, for assertion messages.
function M.describe_violations(list)
  local lines = {}
  for _, v in ipairs(list) do
    lines[#lines + 1] = ("%s %s -> %s: %s %s (%s)"):format(v.method, v.path, tostring(v.status),
      table.concat(v.location or {}, "."), tostring(v.message), tostring(v.code))
  end
  return table.concat(lines, "\n")
end

return M
