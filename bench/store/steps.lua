-- The execution store's cost per step: executions of a three-question flow started and
-- answered in one process, in memory and with an SQLite store in each durability mode.
-- A start and a delivery each take one step and one wait, so each is two committed writes.
--
--   build/rivulet lua bench/store/steps.lua [N]        (make bench runs it with N = 1000)
local rivulet = require "rivulet"
local core = require "rivulet.core"

local n = tonumber(arg[1]) or 1000
local here = arg[0]:match("^(.*)/[^/]*$") or "."
local flow = assert(rivulet.load_flow(here .. "/../../spec/fixtures/store/three_questions.lua"))
local dir = assert(io.popen("mktemp -d")):read("l")

local function measure(mode)
  local db = mode ~= "memory" and (dir .. "/" .. mode .. ".db") or nil
  local e = assert(rivulet.engine{ store = db, synchronous = mode, keep_ended = false })
  local t0 = core.monotonic()
  for i = 1, n do assert(e:start(flow, { from = "+1" .. i, to = "+2", body = "hi" })) end
  for round = 1, 3 do
    for i = 1, n do assert(e:deliver{ from = "+1" .. i, to = "+2", body = "a" .. round }) end
  end
  local dt = core.monotonic() - t0
  if e.store then e.store:close() end
  -- steps: trigger, q1, q2, q3 and done per execution (5n); waits: 3n
  return dt / (5 * n) * 1e6, dt / (8 * n) * 1e6
end

local mem = measure("memory")
print(string.format("store: %d executions, 5 steps and 3 waits each", n))
print(string.format("  %-8s %8.1f us per step", "memory", mem))
for _, mode in ipairs{ "normal", "full" } do
  local per_step, per_write = measure(mode)
  print(string.format("  %-8s %8.1f us per step (%.1f us per committed write; %.0fx memory)  synchronous=%s",
    mode, per_step, per_write, per_step / mem, mode:upper()))
end
os.execute("rm -rf '" .. dir .. "'")
