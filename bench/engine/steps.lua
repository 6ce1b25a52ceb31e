-- Non-I/O steps: realistic executions, each within Studio's limits (1,000 steps, 10 runs of
-- one widget in a row), every result checked. An execution loops LOOPS times through Set
-- Variables (a counter in Liquid) and Split Based On (on that counter), then sends the
-- counter: 2 * LOOPS + 2 steps. bench/engine/node-red-steps.js runs the same flow in
-- Node-RED.
--
--   build/rivulet lua bench/engine/steps.lua [EXECUTIONS [LOOPS]]
--
-- One warm-up pass, then a timed one. Prints one JSON line:
-- {"impl":"rivulet","executions":..,"steps":..,"cpu_s":..,"wall_s":..}
local rivulet = require "rivulet"

local N = tonumber(arg and arg[1]) or 20000
local LOOPS = tonumber(arg and arg[2]) or 10
local STEPS = 2 * LOOPS + 2          -- Trigger->count, LOOPS x count->check, LOOPS-1 x check->count, check->done, done->Ended

local flow = assert(rivulet.load_flow{
  description = "steps",
  { name = "Trigger", type = "trigger", on = { incomingMessage = "count" } },
  { name = "count", type = "set-variables",
    variables = { n = "{{ flow.variables.n | default: 0 | plus: 1 }}" }, on = { next = "check" } },
  { name = "check", type = "split-based-on", input = "{{ flow.variables.n }}",
    match = { { type = "less_than", value = tostring(LOOPS), next = "count" } },
    on = { noMatch = "done" } },
  { name = "done", type = "send-message", body = "{{ flow.variables.n }}" },
})

local expect, bad = tostring(LOOPS), nil
local engine = rivulet.engine{
  keep_ended = false,
  on_message = function(_, m) if m.body ~= expect then bad = bad or ("sent " .. tostring(m.body)) end end,
  on_end = function(exec)
    if exec.failed or #exec.steps ~= STEPS then
      bad = bad or string.format("ended after %d steps: %s", #exec.steps, tostring(exec.reason))
    end
  end,
}

local trigger = { from = "+15550000000", to = "+15559990000", body = "go" }
local function pass(n)
  for i = 1, n do
    trigger.from = "+1555" .. i
    local exec = engine:start(flow, trigger)
    if not exec or exec.status ~= "ended" then bad = bad or "an execution did not end" end
  end
  if bad then
    io.stderr:write("bench/engine/steps.lua: ", bad, "\n")
    os.exit(1)
  end
end

pass(math.max(1000, N // 4))
collectgarbage()
local clock, c0 = rivulet.core.monotonic, os.clock()
local t0 = clock()
pass(N)
local wall, cpu = clock() - t0, os.clock() - c0
print(string.format('{"impl":"rivulet","executions":%d,"steps":%d,"cpu_s":%.4f,"wall_s":%.4f}',
  N, N * STEPS, cpu, wall))
