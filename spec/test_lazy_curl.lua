-- libcurl is loaded by the first HTTP call (src/curl_lazy.c, src/http.c), not at start: a
-- process whose flows call nothing never maps it. Checked in a process of its own (this
-- one has made HTTP calls already), through /proc/self/maps.
local lu = require "luaunit"

TestLazyCurl = {}

local SCRIPT = [[
local rivulet = require "rivulet"
local function mapped()
  local f = assert(io.open("/proc/self/maps"))
  local s = f:read("a")
  f:close()
  return s:find("libcurl", 1, true) ~= nil
end
local before = mapped()
local engine = rivulet.engine{}
local exec = engine:start({
  { name = "Trigger", type = "trigger", on = { incomingMessage = "set" } },
  { name = "set", type = "set-variables", variables = { a = "{{ trigger.message.Body }}" } },
}, { from = "+1", to = "+2", body = "x" })
local after_run = mapped()
-- a call (to a port nothing listens on: it fails, but it needs libcurl)
local o = engine.http:wait(engine.http:run_function{ url = "http://127.0.0.1:9/", parameters = {} })
print(before, after_run, exec.status, mapped(), o.event)
]]

function TestLazyCurl:test_libcurl_is_mapped_by_the_first_call_only()
  if not io.open("/proc/self/maps") then lu.skip("no /proc/self/maps here") end
  local bin = os.getenv("RIVULET_BIN") or "build/rivulet"
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(SCRIPT)
  f:close()
  local p = assert(io.popen(string.format("%s lua %s 2>&1", bin, path)))
  local out = p:read("a")
  p:close()
  os.remove(path)
  lu.assertEquals(out, "false\tfalse\tended\ttrue\tfail\n")
end
