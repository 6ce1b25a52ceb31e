-- The server layer alone, as `rivulet serve` will drive it: one loop waiting on the server's
-- descriptor, every request answered at once with a trivial body. Prints "port N" first.
-- Run by bench/serve/run.sh (rivulet lua bench/serve/serve.lua).
local core = require "rivulet.core"

local srv = assert(core.server_listen("127.0.0.1", 0, { max_connections = 2000, max_per_ip = 0 }))
io.stdout:write("port ", srv:port(), "\n")
io.stdout:flush()

local fds = { srv:fd() }
local headers = { { "Content-Type", "text/plain" } }
while true do
   local t = srv:timeout()
   if t < 0 or t > 1000 then t = 1000 end
   core.wait_fds(fds, t)
   local ready = srv:run()
   while ready > 0 do
      local r = srv:next()
      while r do
         srv:respond(r.id, 200, headers, "ok\n")
         r = srv:next()
      end
      -- send the answers now rather than on the next wake-up; a request this run read is
      -- answered before waiting again (its bytes no longer wake the wait)
      ready = srv:run()
   end
end
