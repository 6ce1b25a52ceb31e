-- Hostile replies against rivulet's HTTP client: how long each call takes and how much the
-- process grows. Each attack runs in a process of its own (a fresh VmHWM), one Run Function
-- call through a rivulet.http client against spec/fixtures/function_server.js, then a
-- normal call on the same client.
--
--   lua5.4 bench/http/attacks.lua [NAME ...]        from a checkout, with its lua/ and
--                                                   build/lib on the Lua paths (make's LUA_ENV)
--   ATTACK_VMEM_KB=4000000 ...                      address-space cap of each child (ulimit -v),
--                                                   so an unbounded reply cannot take the machine
--
-- Columns: reason of the call (or its event), its elapsed_ms, VmRSS after minus before, VmHWM
-- (the process's peak) after minus before, and what the normal call after it made.
local fx = require "spec.http_fixture"

local ATTACKS = {
   { "trailers", "/attack/trailers" },
   { "headers", "/attack/headers" },
   { "header-line", "/attack/header-line" },
   { "reason", "/attack/reason" },
   { "interim", "/attack/interim" },
   { "chunk-ext", "/attack/chunk-ext" },
   { "gzip-endless-te", "/attack/gzip-endless?te=1" },
   { "gzip-endless-ce", "/attack/gzip-endless" },
   { "gzip-bomb-te", "/attack/gzip-bomb?te=1" },
   { "gzip-bomb-ce", "/attack/gzip-bomb" },
}

local function status_kb(field)
   local f = assert(io.open("/proc/self/status"))
   local text = f:read("a")
   f:close()
   return tonumber(text:match(field .. ":%s*(%d+)"))
end

-- child: one attack against base .. path
if arg[1] == "--one" then
   local rivulet = require "rivulet"
   local name, url = arg[2], arg[3]
   local origin = url:match("^(http://[^/]+)")
   local client = rivulet.http.client {}
   assert(client:wait(client:run_function { url = origin .. "/text" }).event == "success")
   collectgarbage()
   local rss0, hwm0 = status_kb("VmRSS"), status_kb("VmHWM")
   local o = client:wait(client:run_function { url = url })
   local rss1, hwm1 = status_kb("VmRSS"), status_kb("VmHWM")
   local after = client:wait(client:run_function { url = origin .. "/text" })
   io.write(string.format("%-16s %-10s %8.0f ms  RSS %+8.1f MiB  peak %+8.1f MiB  then %s  (%s)\n",
      name, o.reason or o.event, o.elapsed_ms, (rss1 - rss0) / 1024, (hwm1 - hwm0) / 1024,
      after.event, (o.message or ""):sub(1, 70)))
   os.exit(0)
end

local base = fx.start()
local lua = os.getenv("LUA") or "lua5.4"
local vmem = os.getenv("ATTACK_VMEM_KB") or "4000000"
local want = {}
for _, n in ipairs(arg) do want[n] = true end
for _, a in ipairs(ATTACKS) do
   if next(want) == nil or want[a[1]] then
      local cmd = string.format("ulimit -v %s; exec %s %q --one %q %q 2>&1", vmem, lua, arg[0], a[1], base .. a[2])
      local p = assert(io.popen(cmd))
      local out = p:read("a")
      local ok, how, code = p:close()
      io.write(out)
      if not ok then io.write(string.format("%-16s child ended: %s %s\n", a[1], how, code)) end
      io.flush()
   end
end
fx.stop()
