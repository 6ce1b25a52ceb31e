-- Cost of one call of custom logic: a fresh logic state per call (src/lrv_logic.c) against
-- the call in the host's own state it replaced (a coroutine under a count hook, the
-- function loaded once). Each row is microseconds per call, the best of three runs.
-- Run: build/rivulet lua bench/logic/calls.lua [N]
local rivulet = require "rivulet"
local core = rivulet.core
local sandbox = require "rivulet.sandbox"

local N = tonumber(arg and arg[1]) or 20000

-- an execution context as the lua widget of flows/custom_logic.lua sees it
local ctx = {
  trigger = { message = { Body = "hi", From = "+15550001111", To = "+15559990000",
                          MessageSid = "SM" .. ("0"):rep(32), AccountSid = "AC" .. ("0"):rep(32) } },
  contact = { channel = { address = "+15550001111" } },
  flow = { sid = "FN" .. ("0"):rep(32), flow_sid = "FW" .. ("0"):rep(32), data = {}, variables = { tries = "1" },
           channel = { address = "+15559990000" } },
  widgets = { ask = { inbound = { Body = " 9/10 ", From = "+15550001111", To = "+15559990000" },
                      outbound = { Body = "How likely are you to recommend us, from 0 to 10?" } } },
}

local SOURCE = [[return function(ctx)
  local text = ctx.widgets.ask.inbound.Body
  local n = tonumber(text:match("%d+%.?%d*"))
  if not n or n > 10 then return "unclear", { reply = text } end
  return n >= 7 and "high" or "low", { score = n }
end]]

local function best(f)
  local b = math.huge
  for _ = 1, 3 do
    local t0 = core.monotonic()
    for _ = 1, N do f() end
    b = math.min(b, core.monotonic() - t0)
  end
  return b / N * 1e6
end

-- before: the function lives in the host's state; each call copies the context and runs
-- it in a coroutine under a count hook
local function copy(v, depth)
  if type(v) ~= "table" or depth > 64 then return v end
  local c = {}
  for k, x in pairs(v) do c[k] = copy(x, depth + 1) end
  return setmetatable(c, getmetatable(v))
end
local env = setmetatable({}, { __index = { tonumber = tonumber, string = string } })
local fn = load(SOURCE, "=logic", "t", env)()
local function in_state()
  local co = coroutine.create(fn)
  debug.sethook(co, function() end, "", 1000)
  local ok, ev = coroutine.resume(co, copy(ctx, 0))
  assert(ok and ev == "high")
end

local limits = sandbox.limits()
local unit = assert(core.logic_compile(SOURCE, "=logic", limits))
local flow = assert(rivulet.load_flow((os.getenv("RIVULET_ROOT") or ".") .. "/flows/custom_logic.lua"))
local marker = flow:state("score").properties.fn

local rows = {
  { "in the host's state (before)", in_state },
  { "fresh state, nothing to run", function() assert(core.logic_run("", "=x", limits)) end },
  { "fresh state, context copied in", function() assert(core.logic_run("return function() end", "=x", limits, {}, ctx)) end },
  { "fresh state, source text parsed", function() local ok, ev = core.logic_run(SOURCE, "=logic", limits, {}, ctx) assert(ok and ev == "high") end },
  { "fresh state, compiled unit", function() local ok, ev = core.logic_run(unit, "=logic", limits, {}, ctx) assert(ok and ev == "high") end },
  { "flow file function (custom_logic.lua)", function() local ok, ev = core.logic_run(flow.logic, "=score", limits, marker.path, ctx) assert(ok and ev == "high") end },
}
for _, r in ipairs(rows) do
  print(string.format("%-40s %8.2f us", r[1], best(r[2])))
end
