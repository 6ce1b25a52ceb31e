-- `rivulet logs --store DB [SID]`: the executions a store holds, newest first, or one
-- execution's steps and context. Opens the store read-only: looking never writes, and a
-- store on a read-only medium reads too (rivulet.store says what it shows then).
--
-- Exit status: 0 ok, 1 no such execution, or the store failed (an I/O error, a file that
-- is there but cannot be read, a lock held too long), 2 bad usage or a store unusable as
-- given (missing, not a store, damaged, newer).

local store_mod = require "rivulet.store"
local short_name = require("rivulet.flow").short_name
local args_lib = require "rivulet.cli.args"

local format, tostring, ipairs, tonumber = string.format, tostring, ipairs, tonumber
local stdout, stderr = io.stdout, io.stderr

local M = {}

local USAGE = "usage: rivulet logs --store DB [--status S] [--since T] [--until T] [--contact ADDR]\n" ..
  "         [--limit N] [--json]\n" ..
  "       rivulet logs --store DB SID [--json]\n" ..
  "Run 'rivulet logs --help' for details.\n"

local SPEC = {
  ["--store"] = { value = true }, ["--status"] = { value = true }, ["--since"] = { value = true },
  ["--until"] = { value = true }, ["--contact"] = { value = true }, ["--limit"] = { value = true },
  ["--json"] = {},
}

M.DEFAULT_LIMIT = 100

local AGES = { s = 1, m = 60, h = 3600, d = 86400, w = 604800 }

-- "2026-11-25", "2026-11-25T14:00[:00][Z]" (UTC), epoch seconds, or an age ("30m") -> epoch
function M.parse_time(s, now)
  local n = tonumber(s)
  if n then return n end
  local count, unit = s:match("^(%d+)([smhdw])$")
  if count then return (now or os.time()) - tonumber(count) * AGES[unit] end
  return require("rivulet.time").parse(s)
end

local function when(t)
  if not t then return "-" end
  return os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(t))
end

local function status_of(r)
  if r.status == "ended" and r.failed then return "failed" end
  return r.status
end

local function flow_name(r)
  return tostring(short_name(r.flow_name) or "-")
end

-- the list's filters from the options | nil, message
local function filters(o)
  local f = { contact = o.contact }
  if o.status then
    if o.status == "active" then f.status = "active"
    elseif o.status == "ended" then f.status, f.failed = "ended", false
    elseif o.status == "failed" then f.status, f.failed = "ended", true
    else return nil, format("--status must be active, ended or failed, not '%s'", o.status) end
  end
  for _, k in ipairs{ "since", "until" } do
    if o[k] then
      local t = M.parse_time(o[k])
      if not t then
        return nil, format("--%s: '%s' is not a time (2026-11-25, 2026-11-25T14:00Z, epoch seconds, 30m, 2h, 7d)",
          k, o[k])
      end
      f[k == "since" and "since" or "before"] = t
    end
  end
  local limit = M.DEFAULT_LIMIT
  if o.limit then
    limit = math.tointeger(tonumber(o.limit))
    if not limit or limit < 0 then return nil, format("--limit wants a count, not '%s'", o.limit) end
    if limit == 0 then limit = -1 end
  end
  f.limit = limit
  return f
end

local function list(st, o, f)
  local rows, err, code = st:list(f)
  if not rows then return nil, args_lib.store_failure(st.path, err, code) end
  if o.json then
    local out = {}
    for i, r in ipairs(rows) do
      out[i] = { sid = r.sid, flow = flow_name(r), flow_sid = r.flow_sid, contact = r.contact,
                 channel = r.channel, status = r.status, failed = r.failed, reason = r.reason,
                 state = r.state, steps = r.step_count, started_at = r.started_at, ended_at = r.ended_at }
    end
    stdout:write(#out == 0 and "[]" or store_mod.encode(out), "\n")
    return 0
  end
  if #rows == 0 then
    stderr:write("no executions match\n")
    return 0
  end
  local lines = { { "SID", "FLOW", "CONTACT", "STATUS", "STARTED", "ENDED" } }
  for _, r in ipairs(rows) do
    lines[#lines + 1] = { r.sid, flow_name(r), tostring(r.contact or "-"), status_of(r), when(r.started_at),
                          when(r.ended_at) }
  end
  local width = {}
  for _, l in ipairs(lines) do
    for c = 1, 5 do width[c] = math.max(width[c] or 0, #l[c]) end
  end
  for _, l in ipairs(lines) do
    for c = 1, 5 do stdout:write(l[c], string.rep(" ", width[c] - #l[c] + 2)) end
    stdout:write(l[6], "\n")
  end
  return 0
end

local function show(st, o, id)
  local rec, err, code = st:record(id)
  if not rec then
    if code == "notfound" then return nil, err, 1 end
    return nil, args_lib.store_failure(st.path, err, code)
  end
  if o.json then
    stdout:write(store_mod.encode(rec), "\n")
    return 0
  end
  stdout:write(format("execution %s\n", rec.sid))
  stdout:write(format("  flow     %s%s\n", tostring(rec.flow), rec.flow_sid and (" (" .. rec.flow_sid .. ")") or ""))
  stdout:write(format("  contact  %s  (flow address %s)\n", tostring(rec.contact or "-"), tostring(rec.channel or "-")))
  stdout:write(format("  status   %s%s\n", status_of(rec), rec.reason and (": " .. rec.reason) or
    (rec.status == "active" and format(" at '%s'", tostring(rec.state)) or "")))
  stdout:write(format("  started  %s\n  ended    %s\n", when(rec.started_at), when(rec.ended_at)))
  stdout:write(format("\nsteps (%d)\n", #rec.steps))
  for i, s in ipairs(rec.steps) do
    stdout:write(format("  %3d  %s  %-22s %s -> %s%s\n", i, when(s.date_created), tostring(s.name),
      tostring(s.transitioned_from), tostring(s.transitioned_to), s.reason and ("  [" .. s.reason .. "]") or ""))
    if s.note then stdout:write(format("       (%s)\n", s.note)) end
  end
  stdout:write("\ncontext\n")
  local ctx = store_mod.encode(rec.context or {}, "  ")
  stdout:write((ctx:gsub("\n", "\n  ")):gsub("^", "  "), "\n")
  return 0
end

function M.main(argv)
  local o, pos = args_lib.parse(argv or {}, SPEC)
  local function usage(msg)
    stderr:write("rivulet logs: ", msg, "\n", USAGE)
    return 2
  end
  if not o then return usage(pos) end
  if #pos > 1 then return usage(format("unexpected argument '%s' (one SID at most)", pos[2])) end
  local db = args_lib.store_path(o)
  if not db then return usage("--store DB is required (or set RIVULET_STORE)") end
  local id = pos[1]
  if id and (o.status or o.since or o["until"] or o.contact or o.limit) then
    return usage("--status, --since, --until, --contact and --limit list executions; not with a SID")
  end
  local f, ferr
  if not id then
    f, ferr = filters(o)
    if not f then return usage(ferr) end
  end
  local st, err, ecode = store_mod.open(db, { readonly = true })
  if not st then
    local msg, status = args_lib.store_failure(db, err, ecode)
    stderr:write("rivulet logs: ", msg, "\n")
    return status
  end
  if st.note then stderr:write("rivulet logs: note: ", st.note, "\n") end
  local ok, status, code
  if id then ok, status, code = show(st, o, id) else ok, status, code = list(st, o, f) end
  st:close()
  if not ok then
    stderr:write("rivulet logs: ", tostring(status), "\n")
    return code
  end
  return status
end

return M
