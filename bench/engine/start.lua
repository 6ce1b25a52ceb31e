-- What an execution costs besides its steps: N executions of a flow that ends at its
-- Trigger (start, the trigger's context and step, the end), or with "send" one that sends
-- a message and ends (a Lua step more). Each execution's end is checked. For instruction
-- counts: callgrind at two sizes, the difference over their difference (bench/README.md).
--
--   build/rivulet lua bench/engine/start.lua [EXECUTIONS [send]]
--
-- One warm-up pass of 1,000, then a timed one. Prints one JSON line:
-- {"impl":"rivulet","flow":..,"executions":..,"cpu_s":..}
local rivulet = require "rivulet"

local N = tonumber(arg and arg[1]) or 20000
local SEND = arg and arg[2] == "send"

local flow = assert(rivulet.load_flow{
  description = "start",
  { name = "Trigger", type = "trigger", on = { incomingMessage = SEND and "say" or nil } },
  { name = "say", type = "send-message", body = "{{ trigger.message.Body }}" },
})
local STEPS, WANT = SEND and 2 or 1, SEND and "no transition for event 'sent' of 'say'"
  or "no transition for event 'incomingMessage' of 'Trigger'"

local bad
local engine = rivulet.engine{ keep_ended = false, on_message = function() end }
local trigger = { from = "+15550000000", to = "+15559990000", body = "go" }

local function pass(n)
  for i = 1, n do
    trigger.from = "+1555" .. i
    local exec = engine:start(flow, trigger)
    if not exec or exec.status ~= "ended" or #exec.steps ~= STEPS or exec.reason ~= WANT then
      bad = bad or ("an execution ended as: " .. tostring(exec and exec.reason))
    end
  end
  if bad then
    io.stderr:write("bench/engine/start.lua: ", bad, "\n")
    os.exit(1)
  end
end

pass(1000)
collectgarbage()
local c0 = os.clock()
pass(N)
print(string.format('{"impl":"rivulet","flow":"%s","executions":%d,"cpu_s":%.4f}',
  SEND and "send" or "trigger", N, os.clock() - c0))
