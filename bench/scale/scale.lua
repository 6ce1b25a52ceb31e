-- N executions at once, each calling a function that answers after 100 ms, on one thread:
-- Trigger -> Run Function -> Send Message. Prints one JSON line.
-- Run: build/rivulet lua bench/scale/scale.lua BASE_URL [N [IMPL]]   (IMPL names the line:
-- "rivulet", or another name for a run of another size beside a peer's)
local rivulet = require "rivulet"

local base, N, IMPL = arg[1], tonumber(arg[2]) or 10000, arg[3] or "rivulet"
local flow = {
  { name = "Trigger", type = "trigger", on = { incomingMessage = "call" } },
  { name = "call", type = "run-function", url = base .. "/slow",
    parameters = { who = "{{ contact.channel.address }}" }, on = { success = "done", fail = "done" } },
  { name = "done", type = "send-message", body = "{{ widgets.call.parsed.number }}" },
}
local ok, failed = 0, 0
local engine = rivulet.engine{
  keep_ended = false,
  on_message = function(_, m) if m.body == "4" then ok = ok + 1 end end,
  on_end = function(exec) if exec.failed then failed = failed + 1 end end,
}
local f = assert(rivulet.load_flow(flow))
local clock = rivulet.core.monotonic
local t0, c0 = clock(), os.clock()
for i = 1, N do
  assert(engine:start(f, { from = string.format("+1555%07d", i), to = "+15559990000", body = "go" }))
end
local started = clock() - t0
while engine:poll(100) > 0 do end
local wall = clock() - t0
print(string.format('{"impl": "%s", "executions": %d, "succeeded": %d, "failed": %d, "start_s": %.3f,' ..
  ' "wall_s": %.4f, "cpu_s": %.4f}', IMPL, N, ok, failed, started, wall, os.clock() - c0))
if ok ~= N or failed > 0 then
  io.stderr:write(string.format("bench/scale/scale.lua: %d of %d executions sent the function's number\n", ok, N))
  os.exit(1)
end
