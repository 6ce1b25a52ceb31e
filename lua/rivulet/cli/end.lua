-- `rivulet end SID... --store DB [--reason TEXT]`: ends executions kept in a store, wherever
-- they stand (a run stopped by kill -9, a contact whose old conversation blocks a new one:
-- "the contact already has an active execution"). Each ends through the engine's door
-- (handle{kind = "end"}) as Studio's Status=ended does: a step "ended" from the state it
-- stood in, the reason kept, its subflows ended too. Nothing else in the store runs.
--
-- Prints "execution FN… ended at 'STATE': REASON" per SID on stderr.
-- Exit status: 0 every SID ended, 1 one was not active (already ended, or not in the
-- store), another process is running it right now, or the store failed (SQLite's message),
-- 2 bad usage or a store unusable as given (missing, not a store, damaged, newer).

local rivulet = require "rivulet"
local args_lib = require "rivulet.cli.args"

local ipairs, tostring = ipairs, tostring
local format = string.format
local stderr = io.stderr

local M = {}

local USAGE = "usage: rivulet end SID... --store DB [--reason TEXT]\n" ..
  "Run 'rivulet end --help' for details.\n"

M.REASON = "ended with rivulet end"

local SPEC = { ["--store"] = { value = true }, ["--reason"] = { value = true } }

function M.main(argv)
  local o, pos = args_lib.parse(argv or {}, SPEC)
  local function usage(msg)
    stderr:write("rivulet end: ", msg, "\n", USAGE)
    return 2
  end
  if not o then return usage(pos) end
  if #pos == 0 then return usage("missing SID") end
  for _, id in ipairs(pos) do
    if not id:match("^FN%x+$") then return usage(format("'%s' is not an execution SID (FN…)", id)) end
  end
  local db = args_lib.store_path(o)
  if not db then return usage("--store DB is required (or set RIVULET_STORE)") end
  local f = io.open(db, "rb")
  if not f then
    stderr:write("rivulet end: ", db, ": no such store\n")
    return 2
  end
  f:close()
  -- resume = false: open the store and run nothing of what it holds
  local engine, err, code = rivulet.engine{ store = db, resume = false }
  if not engine then
    local msg, status = args_lib.store_failure(db, err, code)
    stderr:write("rivulet end: ", msg, "\n")
    return status
  end
  local status = 0
  for _, id in ipairs(pos) do
    local r = engine:handle{ kind = "end", sid = id, reason = o.reason or M.REASON }
    if r.code == "ended" then
      stderr:write(format("execution %s ended at '%s': %s\n", id, tostring(r.exec.state), tostring(r.exec.reason)))
    else
      local msg = tostring(r.message)
      if r.code == "none" then
        local row = engine.store:execution(id)
        if row then
          msg = format("execution %s is not active (%s: %s)", id, tostring(row.status), tostring(row.reason))
        end
      end
      if r.code == "store_error" then
        msg = (args_lib.store_failure(db, msg, r.store_code))
      end
      stderr:write("rivulet end: ", msg, "\n")
      status = 1
    end
  end
  engine.store:close()
  return status
end

return M
