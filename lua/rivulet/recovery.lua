-- rivulet.recovery: who owns an execution kept in a store, and how an engine takes one in.
-- The engine's companion (rivulet.engine calls it; nothing else does):
--
--   recover(engine)          on open: every active execution of the store that no other
--                            live process is running becomes this engine's
--   revive_all(engine, list) adopted executions take up where they stood
--   refresh(engine, from, to) before a delivery: the store's latest copy of the contact's
--                            execution (another process may have moved it on)
--   reload(engine, sid)      the store's latest copy of one execution
--   sweep(engine, limit)     a store shared by several processes (store.claim_due): the
--                            executions with work for anyone become this engine's
--
-- The rules: an execution waiting for a reply, a subflow, a call's callback or an outside
-- outcome belongs to whoever delivers to it next; one that was running (an HTTP call in
-- flight, or between two steps) belongs to
-- its owner process until that process is gone or its lease ran out (store.LEASE_S); then
-- one engine claims it (the store's revision check lets only one win) and runs its widget
-- again, its next step saying so. A widget that was taken over MAX_TAKEOVERS times without
-- ever finishing fails its execution instead of running again: whatever it does killed
-- every process that ran it.

local store_mod = require "rivulet.store"

local type, ipairs, format, tostring, max = type, ipairs, string.format, tostring, math.max

local M = {}

-- a step taken over this many times fails its execution (see above)
M.MAX_TAKEOVERS = store_mod.MAX_TAKEOVERS

local function tbl(v)
  return type(v) == "table" and v or {}
end

local function running(row)
  return not row.wait or row.wait.kind == "http"
end

-- an execution as the store holds it (a decoded row) becomes this engine's, active; steps:
-- its steps when already read
local function adopt(e, row, steps)
  local st = e.store
  local flow, err = st:flow(row.flow_id)
  if not flow then return nil, format("execution %s: %s", row.sid, err) end
  if not steps then
    steps, err = st:steps(row.sid)
    if not steps then return nil, err end
  end
  local exec = {
    sid = row.sid, flow = flow, flow_sid = row.flow_sid, flow_name = row.flow_name, status = "active",
    state = row.state, steps = steps, started_at = row.started_at, repeats = row.repeats,
    last_state = row.last_state, trigger_event = row.trigger_event, parent_sid = row.parent_sid,
    context = tbl(row.context), rev = row.rev, takeovers = row.takeovers,
    flow_version = row.flow_version, initiated_by = row.initiated_by,
    stored_trigger = row.trigger,      -- the row holds it in its own column: not written again
  }
  local w = row.wait
  if w then
    exec.wait = { kind = w.kind, state = w.state, since = w.since, deadline = w.deadline,
                  props = tbl(w.props), data = w.data, child = w.child, watch = w.watch,
                  takes_reply = w.takes_reply, early = w.early }
  end
  local old = e.active[exec.sid]
  if old then e:forget(old) end
  if row.holds_contact == 1 then
    local c = exec.context
    exec.contact_key = e.contact_key(tbl(tbl(c.contact).channel).address, tbl(tbl(c.flow).channel).address)
    local other = e.by_contact[exec.contact_key]
    if other then e:forget(other) end
  end
  e:hold(exec)
  return exec
end

-- an adopted execution takes up where it stood: waits for a reply wait again (the timeout
-- counts from when the wait began; a due one fires), a parent whose subflow ended meanwhile
-- goes on, and one that was running when its process stopped runs that widget again, its
-- next step saying so
local function revive(e, exec)
  local w = exec.wait
  if w and (w.kind == "reply" or w.kind == "call" or w.kind == "event") then
    -- a call's wait too: its callback may still come (the call's webhook answered before)
    e:arm_timer(exec, w.deadline or (w.since or e.now()) + e.limits.wait_timeout)
    if w.watch then e.watching[w.watch] = exec end
  elseif w and w.kind == "subflow" then
    if not e.active[w.child] then
      local child, err = e.store:execution(w.child)
      if not child then
        child = { sid = w.child, status = "ended", failed = true, context = { flow = { variables = {} } },
                  reason = err or format("subflow execution %s is missing from the store", tostring(w.child)) }
      end
      if child.status ~= "active" then e:resume(exec, { kind = "subflow", exec = child }) end
    end
  else
    local ok, err, code = e.store:claim(exec)
    if not ok then
      if code == "conflict" then e:forget(exec) else e:detach(exec, err, code) end
      return
    end
    if exec.takeovers >= M.MAX_TAKEOVERS then
      e:finish(exec, format("'%s' was cut off %d times (its process stopped each time while it ran);" ..
        " it is not run again", tostring(exec.state), exec.takeovers), true)
      return
    end
    if w then exec.repeats = max(0, exec.repeats - 1) end   -- the widget counts once, again
    exec.rerun = w
      and "re-run after a restart: its HTTP request was in flight when the process stopped, and was sent again"
      or "re-run after a restart: the widget was running when the process stopped"
    exec.wait = nil
    e:enter(exec, exec.state)
  end
end

function M.revive_all(e, list)
  e.to_revive = nil
  for _, exec in ipairs(list) do
    if exec.status == "active" then revive(e, exec) end
  end
  e:fire_timers()
  -- those that wait on (the due ones went on) are kept packed, as a wait that began here is
  for _, exec in ipairs(list) do e:rest(exec) end
end

-- recover(engine) -> executions taken in | nil, err, code: every active execution of the store
-- that no other live process is running (opts.resume "due": only those with something to
-- do now; "poll": revived at the first poll or handle, not now)
function M.recover(e)
  local st = e.store
  local now, adopted = e.now(), {}
  local rows, err, code
  local steps = {}               -- every active execution's steps in one read (not one each)
  if e.opts.resume == "due" then rows, err, code = st:due_rows(now)
  else
    rows, err, code = st:active_rows()
    if rows then steps, err, code = st:active_steps() end
  end
  if not rows or not steps then return nil, format("%s: %s", st.path, err), code end
  for _, raw in ipairs(rows) do
    local row, derr = store_mod.decode_row(raw)
    if row and not (running(row) and st:owner_alive(row)) then
      local exec
      exec, derr = adopt(e, row, steps[row.sid])
      if exec then adopted[#adopted + 1] = exec end
    end
    if derr then
      e.store_error, e.store_error_code = derr, "decode"
      if e.opts.on_store_error then e.opts.on_store_error(nil, derr, "decode") end
    end
  end
  if e.opts.resume == "poll" then
    e.to_revive = adopted          -- the host wants no callbacks before it polls
  else
    M.revive_all(e, adopted)
  end
  return #adopted
end

-- reload(engine, sid) -> true | "elsewhere" (another live process is running it) | nil,
-- err, code: the store's copy of an execution (and of the subflows it waits on) replaces
-- this engine's
local function reload(e, id)
  local st = e.store
  local row, err, code = st:execution(id)
  if not row then return nil, err or format("no execution %s in %s", tostring(id), st.path), code end
  local mine = e.active[id]
  if row.status ~= "active" then
    if mine then e:forget(mine) end
    return true
  end
  if running(row) and st:owner_alive(row) then
    if mine then e:forget(mine) end
    return "elsewhere"
  end
  local exec
  exec, err = adopt(e, row)
  if not exec then return nil, err end
  if exec.wait and exec.wait.kind == "subflow" then
    local ok, cerr, ccode = reload(e, exec.wait.child)
    if not ok then return nil, cerr, ccode end
  end
  revive(e, exec)
  return true
end

-- reload(engine, sid) for an event: an execution another process is running is
-- "elsewhere" with a message saying so
function M.reload(e, id)
  local ok, err, code = reload(e, id)
  if ok == "elsewhere" then
    return ok, format("execution %s is running in another process; it takes nothing until it waits again",
      tostring(id))
  end
  return ok, err, code
end
local reload_for_delivery = M.reload

-- refresh(engine, from, to) -> true | "elsewhere", message | nil, err, code: makes sure the
-- engine holds the store's latest copy of the contact's execution and of the subflows it
-- waits on
function M.refresh(e, from, to)
  local st = e.store
  local row, err, code = st:contact_execution(from, to)
  if row == nil then return nil, err, code end
  local mine = e.by_contact[e.contact_key(from, to)]
  if not row then
    if mine then e:forget(mine) end
    return true
  end
  if not mine or mine.sid ~= row.sid or mine.rev ~= row.rev then return reload_for_delivery(e, row.sid) end
  local exec = mine
  while exec.wait and exec.wait.kind == "subflow" do
    local child = e.active[exec.wait.child]
    local rev
    rev, err, code = st:revision(exec.wait.child)
    if rev == nil then return nil, err, code end
    if not child or child.rev ~= rev then return reload_for_delivery(e, row.sid) end
    exec = child
  end
  return true
end

-- A wait is left to the process that holds it for this long past its deadline (its own
-- timer fires it then); only after that does another process's sweep take it.
M.SWEEP_GRACE_S = 2

-- sweep(engine, limit) -> executions taken | nil, err, code. With a store several processes
-- share (store.claim_due): waits past their deadline (+ SWEEP_GRACE_S) that no live process
-- is about to fire, and runs whose owner is gone (its pid on this host, its lease elsewhere)
-- or is this process without holding them any more (a write whose outcome the broken
-- connection hid). Each is claimed (no other sweep takes it), then taken in whole: the
-- subflow chain from its top, revived as recover would (a due timeout fires; a run whose
-- process stopped runs its widget again, its next step saying so).
function M.sweep(e, limit)
  local st = e.store
  local now = e.now()
  local function keep(row)
    local mine = e.active[row.sid]
    if mine and mine.rev == row.rev then return false end     -- ours and current: our timer or call
    return not (row.owner and st:owner_alive(row, now))
  end
  local rows, err, code = st:claim_due(now - M.SWEEP_GRACE_S, now, keep, limit)
  if not rows then return nil, err, code end
  for _, r in ipairs(rows) do
    local top, parent = r.sid, r.parent_sid
    while parent do
      local p = st:execution(parent)
      if not p or p.status ~= "active" then break end
      top, parent = p.sid, p.parent_sid
    end
    local ok, rerr, rcode = reload(e, top)
    if ok and top ~= r.sid and not e.active[r.sid] then ok, rerr, rcode = reload(e, r.sid) end
    if not ok then
      e.store_error, e.store_error_code = rerr, rcode or "error"
      if e.opts.on_store_error then e.opts.on_store_error(nil, rerr, rcode) end
    end
  end
  e:fire_timers()
  return #rows
end

return M
