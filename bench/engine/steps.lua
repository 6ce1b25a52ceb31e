-- Non-I/O steps per second: an execution that loops through Set Variables (a counter in
-- Liquid) and Split Based On (on that counter) until it has taken N steps.
-- Run: build/rivulet lua bench/engine/steps.lua [N]
local rivulet = require "rivulet"

local N = tonumber(arg and arg[1]) or 200000
local loops = N // 2

local flow = {
  description = "steps",
  { name = "Trigger", type = "trigger", on = { incomingMessage = "count" } },
  { name = "count", type = "set-variables",
    variables = { n = "{{ flow.variables.n | plus: 1 }}" }, on = { next = "check" } },
  { name = "check", type = "split-based-on", input = "{{ flow.variables.n }}",
    match = { { type = "less_than", value = tostring(loops), next = "count" } },
    on = { noMatch = "done" } },
  { name = "done", type = "send-message", body = "{{ flow.variables.n }}" },
}

local engine = rivulet.engine{ limits = { steps = N + 10, same_widget = N } }
local t0 = rivulet.core.monotonic()
local exec = engine:start(flow, { body = "go" })
local dt = rivulet.core.monotonic() - t0
assert(exec.status == "ended", exec.reason)
local steps = #exec.steps
print(string.format('{"steps": %d, "seconds": %.4f, "steps_per_second": %.0f}', steps, dt, steps / dt))
