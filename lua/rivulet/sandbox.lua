-- rivulet.sandbox: where custom Lua logic runs. Each call runs in a Lua state of its own,
-- made for that call and closed after it (core.logic_*, src/lrv_logic.c), never in the
-- host's: an allow-listed environment (no io, no os beyond time, date and clock, no
-- require, load, debug, coroutine or collectgarbage; globals read-only), text chunks only,
-- an instruction budget that counts work done in C too and that the code's own pcall cannot
-- swallow, a cap on the state's memory and a wall-clock backstop. Arguments go in and
-- results come out as copies of plain data, so nothing the code makes (a finalizer, a
-- metatable, a function) reaches the host, and nothing of one call is left for the next.
--
-- A Lua flow file is run the same way when it loads (load_flow): the host gets its table as
-- data, each function in it replaced by a marker {lua_fn = "where", path = {keys...}, line =
-- the line it was defined on}, and a unit (the file's bytecode, compiled here from its
-- text). Calling a marker runs the file again in a fresh state and calls the function at
-- that path: the file's locals start afresh for every call, so one contact's call never
-- sees what another's left there.

local core = require "rivulet.core"

local type = type

local M = {}

-- instructions one call may run (allocating, copying and matching in C count as well)
M.INSTRUCTIONS = 10000000
-- bytes the state of one call may hold
M.MEMORY = 32 * 1024 * 1024
-- milliseconds one call may take: a backstop for the instructions whose cost grows with
-- their operands (comparing long strings, keys made to collide), which the instruction
-- count does not see. Ten million instructions take well under a second; a hostile call
-- holds the engine's other executions up for at most this long.
M.TIME_MS = 2000

-- bytes of compiled `source` texts kept, so a lua widget's source is parsed once (past it,
-- the cache starts again empty)
M.CACHE_BYTES = 4 * 1024 * 1024

function M.limits(instructions)
  return { instructions = instructions or M.INSTRUCTIONS, memory = M.MEMORY, time_ms = M.TIME_MS }
end

-- run(code, name [, instructions [, path, arg [, line]]]) -> true, results... | false, message
-- code is Lua text or a unit; without a path, the chunk's results; with one ({} for the
-- chunk's first result), the results of the function found there (defined on line, when
-- given), called with a copy of arg
function M.run(code, name, instructions, path, arg, line)
  return core.logic_run(code, name or "=logic", M.limits(instructions), path, arg, line)
end

local cache, cache_bytes = {}, 0

-- compile(text, name) -> unit | nil, err
function M.compile(text, name)
  local by_name = cache[name]
  local unit = by_name and by_name[text]
  if unit then return unit end
  local err
  unit, err = core.logic_compile(text, name, M.limits())
  if not unit then return nil, err end
  if cache_bytes + #text > M.CACHE_BYTES then cache, cache_bytes = {}, 0 end
  by_name = cache[name] or {}
  cache[name] = by_name
  by_name[text], cache_bytes = unit, cache_bytes + #text
  return unit
end

-- load_flow(text, name) -> true, data, unit | false, message
function M.load_flow(text, name, instructions)
  return core.logic_load(text, name, M.limits(instructions))
end

-- a function of a Lua flow file, as load_flow hands it out
function M.is_function(v)
  return type(v) == "table" and type(v.lua_fn) == "string" and type(v.path) == "table"
    and math.type(v.line) == "integer"
end

return M
