-- The loopback function server for the HTTP specs (spec/fixtures/function_server.js).
--
--   local fx = require "spec.http_fixture"
--   local base = fx.start()        --> "http://127.0.0.1:PORT" (started once, on first use)
--   fx.closed_port()               --> a port with nothing listening
--   fx.stop()                      -- stops it (also happens when this process exits)
--   fx.now()                       --> wall-clock seconds, sub-millisecond resolution
--
-- The server runs under `node` ($RIVULET_NODE, else node on PATH). Its stdin is a pipe from
-- this process (io.popen in "w" mode), so it exits as soon as the pipe closes: on fx.stop(),
-- when the Lua state closes the handle, or when this process dies for any reason. Its stdout
-- goes to a temporary file that start() reads for the "PORT n" and "CLOSED n" lines.

local helper = require "spec.helper"

local M = {}

local START_DEADLINE = 5 -- seconds to wait for the PORT line

local have_socket, socket = pcall(require, "socket")

-- Wall clock in seconds (float). lua-socket when installed, else date(1) in nanoseconds.
function M.now()
   if have_socket then return socket.gettime() end
   local p = assert(io.popen("date +%s%N"))
   local ns = p:read("l")
   p:close()
   return tonumber(ns) / 1e9
end

local function sleep(s)
   if have_socket then
      socket.sleep(s)
   else
      os.execute("sleep " .. string.format("%.3f", s))
   end
end

local state -- { pipe =, out =, base =, port =, closed = }

local function read_lines(path)
   local text = helper.read_file(path) or ""
   return text
end

function M.start()
   if state then return state.base end
   local node = os.getenv("RIVULET_NODE") or "node"
   local script = helper.root .. "/spec/fixtures/function_server.js"
   local out = os.tmpname()
   local cmd = "exec " .. helper.quote(node) .. " " .. helper.quote(script) ..
      " >" .. helper.quote(out) .. " 2>&1"
   local pipe = assert(io.popen(cmd, "w"))
   local deadline = M.now() + START_DEADLINE
   local text, port, closed
   repeat
      sleep(0.02)
      text = read_lines(out)
      port = tonumber(text:match("PORT (%d+)\n"))
      closed = tonumber(text:match("CLOSED (%d+)\n"))
   until (port and closed) or M.now() > deadline
   if not (port and closed) then
      pipe:close()
      os.remove(out)
      error("http_fixture: " .. node .. " " .. script .. " did not print its port within " ..
         START_DEADLINE .. " s; its output: " .. (text ~= "" and text or "(none)") ..
         " (is Node.js installed? set RIVULET_NODE to its path)", 2)
   end
   state = { pipe = pipe, out = out, port = port, closed = closed,
             base = "http://127.0.0.1:" .. port }
   return state.base
end

function M.port()
   M.start()
   return state.port
end

function M.closed_port()
   M.start()
   return state.closed
end

-- Whatever the server wrote besides its two ready lines (crashes, warnings).
function M.log()
   if not state then return "" end
   return (read_lines(state.out):gsub("PORT %d+\nCLOSED %d+\n", "", 1))
end

function M.stop()
   if not state then return end
   local s = state
   state = nil
   s.pipe:close() -- EOF on the server's stdin: it exits; pclose waits for it
   os.remove(s.out)
end

return M
