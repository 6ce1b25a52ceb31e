-- Checks that a store holds exactly what the benchmark's requests imply, so a figure that
-- skipped work cannot pass. Run after serve stopped (the store is opened read-only):
--
--   rivulet lua bench/serve/verify.lua conversations DB N FIRST
--     N contacts (+1555 and 7 digits, FIRST..FIRST+N-1) each sent a first message and a
--     reply (gen.js webhook): N executions, all ended, each with exactly the 4 steps
--     Trigger->confirm, confirm->route, route->X, X->Ended, X chosen by the contact's
--     reply (number % 3: 0 YES -> confirmed, 1 no -> cancelled, 2 "maybe later" -> unclear);
--     2N webhook events taken.
--   rivulet lua bench/serve/verify.lua waiting DB N PREFIX TRIGGER
--     N executions of N distinct contacts starting with PREFIX, all active and waiting for a
--     reply at confirm, each with the one step Trigger->confirm, started by TRIGGER
--     (incomingMessage: N webhook events taken too; incomingRequest: REST create).
--
-- Prints "verified: …" and exits 0, or prints what differs and exits 1.
local store_lib = require "rivulet.store"

local mode, path = arg[1], arg[2]
local n = math.tointeger(tonumber(arg[3] or ""))
if not (mode and path and n) then
  io.stderr:write("usage: verify.lua conversations DB N FIRST | waiting DB N PREFIX TRIGGER\n")
  os.exit(2)
end
local st = assert(store_lib.open(path, { readonly = true }))
local problems = {}
local function want(what, got, expected)
  if got ~= expected then
    problems[#problems + 1] = string.format("%s: %s, expected %s", what, tostring(got), tostring(expected))
  end
end
local function one(sql)
  local row = assert(st:first(sql))
  return row.n
end

local steps = assert(st:all("SELECT e.sid, e.contact, e.status, e.state, e.wait_kind, e.trigger_event," ..
  " s.idx, s.transitioned_from AS f, s.transitioned_to AS t" ..
  " FROM executions e LEFT JOIN steps s ON s.execution_sid = e.sid ORDER BY e.sid, s.idx"))
local execs, order = {}, {}
for _, r in ipairs(steps) do
  local e = execs[r.sid]
  if not e then
    e = { contact = r.contact, status = r.status, state = r.state, wait_kind = r.wait_kind,
          trigger = r.trigger_event, path = {} }
    execs[r.sid] = e
    order[#order + 1] = r.sid
  end
  if r.f then e.path[#e.path + 1] = r.f .. "->" .. r.t end
end

want("executions", #order, n)
want("steps", one("SELECT count(*) AS n FROM steps"), mode == "conversations" and 4 * n or n)
local contacts, bad = {}, 0
if mode == "conversations" then
  local first = math.tointeger(tonumber(arg[4] or ""))
  local ENDINGS = { [0] = "confirmed", [1] = "cancelled", [2] = "unclear" }
  want("webhook events", one("SELECT count(*) AS n FROM webhook_events"), 2 * n)
  for _, sid in ipairs(order) do
    local e = execs[sid]
    local c = math.tointeger(tonumber(e.contact:match("^%+1555(%d+)$") or ""))
    local x = c and ENDINGS[c % 3]
    local expected = x and table.concat({ "Trigger->confirm", "confirm->route", "route->" .. x, x .. "->Ended" }, " ")
    if not (c and c >= first and c < first + n) or contacts[c] or e.status ~= "ended"
      or table.concat(e.path, " ") ~= expected then
      bad = bad + 1
      if bad == 1 then
        problems[#problems + 1] = string.format("execution %s of %s: %s, %s", sid, tostring(e.contact), e.status,
          table.concat(e.path, " "))
      end
    end
    if c then contacts[c] = true end
  end
elseif mode == "waiting" then
  local prefix, trigger = arg[4], arg[5]
  if trigger == "incomingMessage" then
    want("webhook events", one("SELECT count(*) AS n FROM webhook_events"), n)
  end
  for _, sid in ipairs(order) do
    local e = execs[sid]
    if e.contact:sub(1, #prefix) ~= prefix or contacts[e.contact] or e.status ~= "active" or e.state ~= "confirm"
      or e.wait_kind ~= "reply" or e.trigger ~= trigger or table.concat(e.path, " ") ~= "Trigger->confirm" then
      bad = bad + 1
      if bad == 1 then
        problems[#problems + 1] = string.format("execution %s of %s: %s at %s (%s, %s): %s", sid, tostring(e.contact),
          e.status, tostring(e.state), tostring(e.wait_kind), tostring(e.trigger), table.concat(e.path, " "))
      end
    end
    contacts[e.contact] = true
  end
else
  io.stderr:write("verify.lua: unknown mode ", mode, "\n")
  os.exit(2)
end
if bad > 0 then problems[#problems + 1] = bad .. " executions not as the requests imply" end
local ok, err = st:check()
if not ok then problems[#problems + 1] = "integrity: " .. tostring(err) end
st:close()
if problems[1] then
  io.stdout:write("NOT verified (", path, "): ", table.concat(problems, "; "), "\n")
  os.exit(1)
end
io.stdout:write(string.format("verified: %d executions %s\n", n,
  mode == "conversations" and "ended with their 4 steps each" or "waiting at confirm"))
