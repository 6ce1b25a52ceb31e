-- twilio-run for the specs and the HTTP bench: serves flows/functions/functions/*.js on a
-- free loopback port, with a known AUTH_TOKEN, and stops it afterwards.
--
--   local twilio_run = require "spec.twilio_run"
--   local ok, why = twilio_run.available()        -- false, "node not found" when it cannot run
--   local ok, err = twilio_run.install()          -- scripts/twilio-run.sh (quiet when present)
--   local server, err = twilio_run.start{ auth_token = "...", deadline_s = 15 }
--   server:url("generate-random-number")          -- "http://127.0.0.1:PORT/generate-random-number"
--   server:stop()                                 -- kills the process group; safe to repeat
--
-- Why it is careful (REFERENCE.md appendix A): twilio-run prompts on the terminal and hangs
-- forever when its port is taken, even with stdin closed. So the port is picked free first
-- (bound to port 0, then released), the server is polled with a deadline, a "port in use"
-- start is retried on another port, and the server runs in its own session (setsid) so its
-- whole process group can be killed (`kill -TERM -PGID`: dash's kill takes no `--`).
-- It listens on all interfaces; everything here talks to 127.0.0.1.
--
-- Flags: `twilio-run start --port P --env FILE --no-logs --no-fork-process` from
-- flows/functions (stdin /dev/null). --no-fork-process runs functions in the server process
-- (0.3-0.6 ms a call instead of ~0.3 s); --env replaces the environment with FILE's
-- variables, written into a temporary directory, never into the checkout.

local helper = require "spec.helper"

local M = {}

-- For a spec: the running server, started once per process; or the test is skipped (no
-- node, npm offline: the reason says how to fix it) or fails (an install or a start that
-- broke). opts as start's.
local shared_server, not_ready, not_ready_kind
function M.need(opts)
   local lu = require "luaunit"
   if shared_server then return shared_server end
   if not not_ready then
      local ok, why = M.available()
      local kind = "skip"
      if ok then
         local installed, err, ikind = M.install()
         if installed then
            local server, serr = M.start(opts)
            if server then
               shared_server = server
               return server
            end
            why, kind = "twilio-run did not start: " .. tostring(serr), "fail"
         else
            why, kind = err, ikind == "offline" and "skip" or "fail"
         end
      end
      not_ready, not_ready_kind = why, kind
      io.stderr:write("spec: twilio-run unavailable: ", not_ready, "\n")
   end
   if not_ready_kind == "skip" then lu.skip("twilio-run unavailable: " .. not_ready) end
   lu.fail("twilio-run unavailable: " .. not_ready)
end

-- stops the server need() started (teardownClass)
function M.release()
   if shared_server then
      shared_server:stop()
      shared_server = nil
   end
end

-- helper.root may be relative ("."); the server is started from another directory.
local function absolute(dir)
   local p = io.popen("cd " .. helper.quote(dir) .. " 2>/dev/null && pwd")
   local abs = p and p:read("l")
   if p then p:close() end
   return (abs and abs ~= "") and abs or dir
end

M.root = absolute(helper.root)
M.dir = M.root .. "/flows/functions"
M.bin = M.dir .. "/node_modules/.bin/twilio-run"
M.install_script = M.root .. "/scripts/twilio-run.sh"
M.default_token = "0123456789abcdef0123456789abcdef"

local socket_ok, socket = pcall(require, "socket")

local function now()
   if socket_ok then return socket.gettime() end
   return os.time()
end

local function sleep(s)
   if socket_ok then socket.sleep(s) else os.execute("sleep " .. s) end
end

-- Exit status of a shell command, as a boolean.
local function sh_ok(cmd)
   local ok, how, n = os.execute(cmd)
   return ok == true and how == "exit" and n == 0
end

local function have_command(name)
   return sh_ok("command -v " .. helper.quote(name) .. " >/dev/null 2>&1")
end

-- true, or false and the reason the end-to-end specs must be skipped.
function M.available()
   if not have_command("node") then return false, "node not found (apt-get install nodejs npm)" end
   return true
end

function M.installed()
   return sh_ok(helper.quote(M.install_script) .. " --check")
end

-- Installs twilio-run when missing. true, seconds spent; or nil, the reason and its kind:
-- "offline" (npm could not reach its registry, or RIVULET_OFFLINE=1: the specs skip, the
-- reason saying how to install it) or "failed" (the script's whole output).
function M.install()
   if M.installed() then return true, 0 end
   local offline = os.getenv("RIVULET_OFFLINE")
   if not (offline == nil or offline == "" or offline == "0") then
      return nil, "offline (RIVULET_OFFLINE=" .. offline .. "): twilio-run is not installed; " ..
         "run sh scripts/twilio-run.sh when online", "offline"
   end
   io.stderr:write("spec: installing twilio-run into flows/functions/node_modules (~20-45 s)...\n")
   local t0 = now()
   local code, out, err = helper.exec({ "sh", M.install_script })
   if code == 3 then
      return nil, ((out .. err):gsub("%s+$", "")):match("([^\n]*)$"), "offline"
   end
   if code ~= 0 then
      return nil, ("scripts/twilio-run.sh failed (exit %d):\n%s%s"):format(code, out, err), "failed"
   end
   io.stderr:write(("spec: twilio-run installed in %.1f s\n"):format(now() - t0))
   return true, now() - t0
end

-- A TCP port nobody listens on right now. twilio-run binds the wildcard address, so the
-- probe does too.
function M.free_port()
   if socket_ok then
      local s = socket.tcp()
      if s and s:bind("*", 0) then
         local _, port = s:getsockname()
         s:close()
         port = tonumber(port)
         if port and port > 0 then return port end
      elseif s then
         s:close()
      end
   end
   local p = io.popen([[node -e 'const s=require("net").createServer();]] ..
      [[s.listen(0,()=>{console.log(s.address().port);s.close()})' 2>/dev/null]])
   local port = p and tonumber(p:read("l"))
   if p then p:close() end
   return port
end

-- One HTTP request with a timeout, without rivulet (the thing under test): status or nil.
local function http_status(url, timeout_s)
   if socket_ok then
      local http_ok, http = pcall(require, "socket.http")
      if http_ok then
         http.TIMEOUT = timeout_s
         local _, code = http.request(url)
         return tonumber(code)
      end
   end
   local p = io.popen("curl -s -o /dev/null -m " .. timeout_s .. " -w '%{http_code}' " ..
      helper.quote(url) .. " 2>/dev/null")
   local code = p and tonumber(p:read("a"))
   if p then p:close() end
   return code
end

local Server = {}
Server.__index = Server

function Server:url(name)
   return self.base_url .. "/" .. (name or "")
end

-- true while the process group has a member that is not a zombie (ps), or any member
-- (kill -0) when ps is missing.
function Server:alive()
   if not self.pgid then return false end
   local p = io.popen("ps -e -o pgid= -o stat= 2>/dev/null")
   if p then
      local seen, alive = false, false
      for line in p:lines() do
         seen = true
         local pgid, stat = line:match("^%s*(%d+)%s+(%S+)")
         if tonumber(pgid) == self.pgid and not stat:find("^Z") then alive = true end
      end
      p:close()
      if seen then return alive end
   end
   return sh_ok("kill -0 -" .. self.pgid .. " 2>/dev/null")
end

function Server:log()
   return helper.read_file(self.tmp .. "/twilio-run.log") or ""
end

-- SIGTERM to the group, SIGKILL after 2 s; removes the temp dir. Safe to call twice.
function Server:stop()
   if self.pgid then
      os.execute("kill -TERM -" .. self.pgid .. " 2>/dev/null")
      local deadline = now() + 2
      while self:alive() and now() < deadline do sleep(0.05) end
      if self:alive() then
         os.execute("kill -KILL -" .. self.pgid .. " 2>/dev/null")
         deadline = now() + 2
         while self:alive() and now() < deadline do sleep(0.05) end
      end
      self.pgid = nil
   end
   if self.tmp then
      helper.rmtree(self.tmp)
      self.tmp = nil
   end
end

Server.__gc = Server.stop
Server.__close = Server.stop

local function log_tail(text, n)
   local lines = {}
   for line in text:gmatch("[^\n]*") do lines[#lines + 1] = line end
   local from = math.max(1, #lines - (n or 15))
   return table.concat(lines, "\n", from)
end

-- One attempt on one port: the server, or nil, an error, and whether the port was taken.
local function start_on(port, opts, tmp)
   local env_file = tmp .. "/env"
   local lines = { "AUTH_TOKEN=" .. opts.auth_token }
   for k, v in pairs(opts.env or {}) do lines[#lines + 1] = k .. "=" .. v end
   table.sort(lines)
   helper.write_file(env_file, table.concat(lines, "\n") .. "\n")

   local pid_file, log = tmp .. "/pid", tmp .. "/twilio-run.log"
   os.remove(pid_file)
   local argv = { M.bin, "start", "--port", tostring(port), "--env", env_file, "--no-logs",
      "--no-fork-process" }
   for i, a in ipairs(argv) do argv[i] = helper.quote(a) end
   -- setsid: a new session whose id is the pid written below (exec keeps it), so
   -- `kill -TERM -PGID` reaches node and anything it starts.
   local inner = "echo $$ > " .. helper.quote(pid_file) .. "; exec " .. table.concat(argv, " ")
   local cmd = "cd " .. helper.quote(M.dir) .. " && setsid sh -c " .. helper.quote(inner) ..
      " </dev/null >" .. helper.quote(log) .. " 2>&1 &"
   if not sh_ok(cmd) then return nil, "could not run: " .. cmd end

   local server = setmetatable({ port = port, base_url = "http://127.0.0.1:" .. port, tmp = tmp,
      auth_token = opts.auth_token }, Server)
   local t0 = now()
   local deadline = t0 + opts.deadline_s
   local probe = server:url(opts.probe or "generate-random-number?min=1&max=1")
   while now() < deadline do
      if not server.pgid then
         local pid = tonumber((helper.read_file(pid_file) or ""):match("%d+"))
         server.pgid = pid
      end
      if server.pgid then
         if not server:alive() then
            local text = server:log()
            server.pgid, server.tmp = nil, nil
            local taken = text:find("already in use", 1, true) ~= nil
            return nil, "twilio-run exited:\n" .. log_tail(text), taken
         end
         if http_status(probe, 1) == 200 then
            server.ready_s = now() - t0
            return server
         end
         if server:log():find("already in use", 1, true) then
            local text = server:log()
            server.tmp = nil -- the caller keeps the directory for the next try
            server:stop()
            return nil, "port " .. port .. " taken:\n" .. log_tail(text), true
         end
      end
      sleep(0.05)
   end
   local text = server:log()
   server.tmp = nil
   server:stop()
   return nil, ("twilio-run did not answer %s within %g s:\n%s"):format(probe, opts.deadline_s,
      log_tail(text))
end

-- Starts twilio-run; opts: auth_token (default M.default_token), deadline_s (15), env (more
-- variables), probe (path polled until it answers 200). The server, or nil and an error.
function M.start(opts)
   opts = opts or {}
   opts.auth_token = opts.auth_token or M.default_token
   opts.deadline_s = opts.deadline_s or 15
   local ok, why = M.available()
   if not ok then return nil, why end
   if not M.installed() then
      return nil, "twilio-run is not installed (scripts/twilio-run.sh)"
   end
   if not have_command("setsid") then return nil, "setsid not found (util-linux)" end
   local tmp = assert(io.popen("mktemp -d 2>/dev/null || mktemp -d -t rivulet")):read("l")
   local err
   for _ = 1, 3 do
      local port = M.free_port()
      if not port then err = "no free port found"; break end
      local server, e, taken = start_on(port, opts, tmp)
      if server then return server end
      err = e
      if not taken then break end
   end
   helper.rmtree(tmp)
   return nil, err
end

return M
