-- rivulet.sandbox: where custom Lua logic runs. Its environment is built from an allow
-- list (no io, no os beyond time and date, no require, load, debug or package), writes to
-- its globals fail loudly, and each call runs under an instruction budget that the code's
-- own pcall cannot swallow (once spent, every further instruction fails again) and a
-- memory budget (core.memory_budget: allocations past it fail, however often retried).

local core = require "rivulet.core"

local M = {}

-- instructions one call of custom logic may run
M.INSTRUCTIONS = 10000000
-- bytes one call may grow the heap by
M.MEMORY = 32 * 1024 * 1024
local CHECK_EVERY = 1000

-- getmetatable("") would hand out the real string table (and a way to change it for
-- everyone): strings show no metatable; tables protect theirs with __metatable as usual
local function safe_getmetatable(v)
  if type(v) == "string" then return nil end
  return getmetatable(v)
end

local function readonly(t, name)
  return setmetatable({}, {
    __index = t,
    __newindex = function(_, k) error(string.format("%s.%s is read-only", name, tostring(k)), 2) end,
    __metatable = false,
  })
end

-- a fresh environment for one flow's code
function M.env(extra)
  local base = {
    string = readonly(string, "string"), table = readonly(table, "table"), math = readonly(math, "math"),
    utf8 = readonly(utf8, "utf8"),
    os = readonly({ time = os.time, date = os.date, clock = os.clock }, "os"),
    assert = assert, error = error, ipairs = ipairs, next = next, pairs = pairs, pcall = pcall,
    select = select, tonumber = tonumber, tostring = tostring, type = type, xpcall = xpcall,
    rawequal = rawequal, rawget = rawget, rawlen = rawlen, setmetatable = setmetatable,
    getmetatable = safe_getmetatable, print = function() end,
  }
  for k, v in pairs(extra or {}) do base[k] = v end
  return setmetatable({}, {
    __index = base,
    __newindex = function(_, k) error(string.format("assignment to global '%s' in sandboxed code", tostring(k)), 2) end,
    __metatable = false,
  })
end

-- load source text (never bytecode) into a sandbox environment
function M.load(source, name, env)
  return load(source, name, "t", env or M.env())
end

-- call fn(...) under the instruction and memory budgets -> true, results... | false, message
function M.call(budget, fn, ...)
  budget = budget or M.INSTRUCTIONS
  local co = coroutine.create(fn)
  local used, spent = 0, false
  debug.sethook(co, function()
    used = used + CHECK_EVERY
    if spent or used > budget then
      spent = true
      debug.sethook(co, function() error("instruction budget exceeded", 0) end, "", 1)
      error(string.format("instruction budget exceeded (%d)", budget), 0)
    end
  end, "", CHECK_EVERY)
  core.memory_budget(M.MEMORY)
  local res = table.pack(coroutine.resume(co, ...))
  local _, refused = core.memory_budget()
  debug.sethook(co)
  if refused then
    return false, string.format("memory budget exceeded (%d bytes)", M.MEMORY)
  end
  if not res[1] then return false, tostring(res[2]) end
  if coroutine.status(co) ~= "dead" then return false, "custom logic may not yield" end
  return table.unpack(res, 1, res.n)
end

return M
