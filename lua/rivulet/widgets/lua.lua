-- lua: custom logic. `fn` (a function, in Lua flows) or `source` (Lua text returning a
-- function) is called with the execution context and returns an event and the widget's
-- outputs; it runs sandboxed under instruction and memory budgets. Any event may be returned; the
-- state's transitions decide where each leads.
local sandbox = require "rivulet.sandbox"

local function copy(v, depth)
  if type(v) ~= "table" or depth > 64 then return v end
  local c = {}
  for k, x in pairs(v) do c[k] = copy(x, depth + 1) end
  return setmetatable(c, getmetatable(v))
end

local W = {
  type = "lua",
  events = nil,          -- whatever the function returns
  required = {},
  render = false,        -- the function sees the context itself
}

function W.run(step)
  local p = step.props
  local fn = p.fn
  if fn == nil and type(p.source) == "string" then
    local chunk, err = sandbox.load(p.source, "=" .. step.name)
    if not chunk then error(err, 0) end
    local ok, f = sandbox.call(step.limits.instructions, chunk)
    if not ok then error(f, 0) end
    fn = f
  end
  if type(fn) ~= "function" then error("a lua widget needs fn (a function) or source (Lua text)", 0) end
  -- a copy: only Set Variables changes flow.variables, and outputs go through the return
  local ok, event, outputs = sandbox.call(step.limits.instructions, fn, copy(step.context, 0))
  if not ok then error(event, 0) end
  if type(event) ~= "string" then error("custom logic must return an event name", 0) end
  if outputs ~= nil and type(outputs) ~= "table" then error("custom logic must return outputs as a table", 0) end
  return event, outputs or {}
end

return W
