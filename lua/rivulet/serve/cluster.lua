-- rivulet.serve.cluster: one of several `rivulet serve` processes sharing a store
-- (PostgreSQL: rivulet.store_pg). What no request brings is found here: a wait whose
-- deadline passed in a process that is gone, an execution whose process died while it ran.
--
--   local c = cluster.new(app)      -- nil when the store is not shared
--   c:run()                         -- every loop turn: notifications, and a sweep when due
--   c:fd()                          -- the store's socket (LISTEN), for core.wait_fds
--   c:seconds_left()                -- until run has something to do
--
-- Each process sweeps (engine:take_due: claims with FOR UPDATE SKIP LOCKED, so two
-- processes never take the same execution; then App:replay claims the inbox's pending
-- events the same way) at start, every SWEEP_S while idle (a process
-- that died is found by then: on this host by its pid, elsewhere once its lease ran out),
-- and at the earliest wait deadline it knows of, plus the grace its holder has to fire it
-- itself (recovery.SWEEP_GRACE_S). It learns of deadlines from the store after each sweep
-- and, between sweeps, from LISTEN/NOTIFY: every write of a wait with a deadline notifies
-- it, which wakes the idle processes (their loop waits on the store's socket too).

local recovery = require "rivulet.recovery"

local ipairs, min, setmetatable = ipairs, math.min, setmetatable

local M = {}

M.SWEEP_S = 5          -- an idle process looks for the work of gone processes this often
M.BATCH = 100          -- executions taken per sweep (a backlog: the next sweep at once)

local Cluster = {}
Cluster.__index = Cluster

function M.new(app)
  local st = app.store
  if not (st and st.claim_due) then return nil end
  st:listen()                 -- a database away now: LISTEN comes with the next connection
  return setmetatable({ app = app, store = st, engine = app.engine, next_at = 0,
                        reconnects = st.reconnects }, Cluster)
end

function Cluster:fd()
  return self.store:wake_fd()
end

function Cluster:seconds_left()
  return math.max(0, self.next_at - self.engine.now())
end

function Cluster:run()
  local st, now = self.store, self.engine.now()
  local grace = recovery.SWEEP_GRACE_S
  for _, at in ipairs(st:wakeups() or {}) do
    if at + grace < self.next_at then self.next_at = at + grace end
  end
  if st.reconnects ~= self.reconnects then       -- back after a loss: what did we miss?
    self.reconnects, self.next_at = st.reconnects, now
  end
  if now < self.next_at then return end
  local n = self.engine:take_due(M.BATCH)
  if not n then                                  -- the database is away: try again later
    self.next_at = now + M.SWEEP_S
    return
  end
  if n >= M.BATCH then
    self.next_at = now
    return
  end
  -- the inbox: events taken by a process that is gone (or by this one when the store
  -- failed under it) and not acted on (App:replay claims them)
  self.app:replay()
  local due = st:next_due(now - grace)
  self.next_at = now + M.SWEEP_S
  if due then self.next_at = min(self.next_at, due + grace) end
end

return M
