-- lua: custom logic. A function is called with the execution context and returns an event
-- and the widget's outputs; any event may be returned, the state's transitions decide where
-- each leads. The function is one of:
--   fn      in a Lua flow file: a marker of a function of the file (rivulet.sandbox); the
--           file runs again in a sandbox of its own for each call, and the function found
--           there is called under the step's instruction budget
--   source  Lua text returning a function, run the same way (Studio JSON flows, or any)
--   fn      a Lua function, in a flow built in Lua code rather than loaded from a file: the
--           embedder's own code, called in the host as it is (no sandbox: it is trusted like
--           the engine's other callbacks)
-- Outputs and event come back from a sandbox as plain data; the context goes in as a copy.
local sandbox = require "rivulet.sandbox"

local type, pairs, error, setmetatable, getmetatable = type, pairs, error, setmetatable, getmetatable

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

local function sandboxed(step)
  local p, budget = step.props, step.limits.instructions
  if sandbox.is_function(p.fn) then
    local unit = step.flow.logic
    if not unit then error("fn names a function of a Lua flow file, but this flow was not loaded from one", 0) end
    return sandbox.run(unit, "=" .. step.name, budget, p.fn.path, step.context, p.fn.line)
  end
  local unit, err = sandbox.compile(p.source, "=" .. step.name)
  if not unit then error(err, 0) end
  return sandbox.run(unit, "=" .. step.name, budget, {}, step.context)
end

function W.run(step)
  local p = step.props
  local ok, event, outputs
  if type(p.fn) == "function" then
    -- a copy: only Set Variables changes flow.variables, and outputs go through the return
    ok, event, outputs = true, p.fn(copy(step.context, 0))
  elseif sandbox.is_function(p.fn) or (p.fn == nil and type(p.source) == "string") then
    ok, event, outputs = sandboxed(step)
  else
    error("a lua widget needs fn (a function) or source (Lua text)", 0)
  end
  if not ok then error(event, 0) end
  if type(event) ~= "string" then error("custom logic must return an event name", 0) end
  if outputs ~= nil and type(outputs) ~= "table" then error("custom logic must return outputs as a table", 0) end
  return event, outputs or {}
end

return W
