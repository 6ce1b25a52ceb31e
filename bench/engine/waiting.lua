-- Memory per execution waiting at a Send & Wait For Reply: N contacts each start the
-- appointment flow of bench/serve (its first widget asks and waits an hour), in an engine
-- without a store. The figure is the Lua heap's growth after a full collection, divided by
-- N: the executions are plain Lua data (the compiled flow and its Liquid are shared). Every
-- execution must be active at `confirm`, waiting for a reply. Two figures: just after the
-- question (bytes_fresh), and once the wait has lasted the engine's PACK_IDLE_S (a
-- simulated clock moves on a minute; poll packs them, rivulet.packed): bytes_per_execution.
--
--   build/rivulet lua bench/engine/waiting.lua [N]
--
-- Prints one JSON line {"impl":"waiting","executions":N,"bytes_per_execution":..}
local rivulet = require "rivulet"

local N = tonumber(arg and arg[1]) or 10000
local here = arg[0]:match("^(.*)/[^/]*$") or "."
local flow = assert(rivulet.load_flow(here .. "/../serve/flows/appointment.json"))

local engine_mod = require "rivulet.engine"
local clock = 1.8e9
local engine = rivulet.engine{ on_message = function() end, now = function() return clock end }
-- one execution first: what the first one loads (widgets, compiled Liquid) is not per execution
assert(engine:start(flow, { from = "+15550000000", to = "+15559990000", body = "hi" }))
collectgarbage(); collectgarbage()
local before = collectgarbage("count") * 1024
local execs = {}
for i = 1, N do
  execs[i] = engine:start(flow, { from = string.format("+1555%07d", i), to = "+15559990000", body = "hi" })
end
collectgarbage(); collectgarbage()
local fresh = collectgarbage("count") * 1024
clock = clock + engine_mod.PACK_IDLE_S
repeat engine:poll(0) until engine.resting.tail == 0
collectgarbage(); collectgarbage()
local after = collectgarbage("count") * 1024
-- what this script holds itself: the array of N references
local own = 16 * N
for i = 1, N do
  local e = execs[i]
  if not (e and e.status == "active" and e.state == "confirm" and e.wait and e.wait.kind == "reply") then
    io.stderr:write("bench/engine/waiting.lua: execution ", i, " is not waiting at confirm\n")
    os.exit(1)
  end
end
print(string.format('{"impl":"waiting","executions":%d,"bytes_per_execution":%.1f,"bytes_fresh":%.1f}', N,
  (after - before - own) / N, (fresh - before - own) / N))
