-- Opens N keep-alive connections to the server at arg[1] (port), makes one request on each
-- (so each connection has been used, as a real client's would), then leaves them idle and
-- prints "idle N" until stdin closes. LuaSocket; run by bench/serve/run.sh.
local socket = require "socket"
local port, n = tonumber(arg[1]), tonumber(arg[2] or 1000)
local conns = {}
for i = 1, n do
   local c = assert(socket.tcp())
   c:settimeout(5)
   assert(c:connect("127.0.0.1", port))
   assert(c:send("GET /idle/" .. i .. " HTTP/1.1\r\nHost: bench\r\n\r\n"))
   local line = assert(c:receive("*l"))
   assert(line:match("^HTTP/1%.1 200"), line)
   repeat line = assert(c:receive("*l")) until line == ""
   assert(c:receive(3))        -- "ok\n"
   conns[i] = c
end
io.stdout:write("idle ", n, "\n")
io.stdout:flush()
io.stdin:read("a")
for _, c in ipairs(conns) do c:close() end
