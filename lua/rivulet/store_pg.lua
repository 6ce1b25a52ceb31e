-- rivulet.store_pg: the execution store in PostgreSQL, for several `rivulet serve` processes
-- (on one host or many) sharing one database. The same interface as rivulet.store (its
-- header lists the operations), selected by a postgresql:// URI wherever a store path is
-- taken: rivulet.store.open(uri) comes here. The only other Lua file with SQL.
--
--   local s, err, code = require("rivulet.store").open("postgresql://user@db.lan/rivulet")
--
-- The tables are the SQLite store's (same names, columns and meaning), so the operations
-- whose SQL reads the same in both are inherited from rivulet.store's Store (its `?`
-- placeholders become $1, $2...); this file has those that differ (upserts, transactions,
-- the contact's unique index) and what only a shared database needs:
--   store:claim_due(due_before, now, keep, limit) -> {row, ...}: executions with work for
--       anyone (a reply, call or outcome wait whose deadline passed before due_before; a
--       run whose owner may be gone), locked with FOR UPDATE SKIP LOCKED so that two
--       processes sweeping at once never take the same one; keep(row) says which to take
--       (the others are left as they are), and those become this process's (owner, lease,
--       revision bumped)
--   store:next_due(after) -> epoch | false: the earliest wait deadline after `after`
--   store:listen() / store:wake_fd() / store:wakeups() -> {epoch, ...}: LISTEN/NOTIFY on
--       channel rivulet_due, which every write of a wait with a deadline notifies (payload:
--       the deadline), so that an idle process knows when to look
--   store:available() -> true | nil, err: the connection is up (reconnecting if it is
--       time to try again)
--   store:pending_events(keep, limit, contact): as SQLite's, claimed FOR UPDATE SKIP LOCKED
--
-- Batches (rivulet serve's one commit per turn): begin_batch .. end_batch is one real
-- transaction, a savepoint around each write so that a refused write takes back itself
-- alone; take_event and event_done join it. Its row locks are held until its COMMIT: a
-- process writing an execution another one wrote in its open batch waits for that commit
-- (bounded by QUERY_TIMEOUT_MS), then finds the revision moved on ("conflict"), the same
-- outcome as without batches; two batches locking the same rows in opposite orders are a
-- deadlock PostgreSQL breaks (deadlock_timeout, 1 s by default) by failing one write
-- ("busy"), whose execution leaves that engine and is reloaded from the store.
--
-- Connections. One per process: the serve loop is single-threaded and runs one query at a
-- time, so a pool would hold idle connections only (CONNECTIONS says so). Queries are
-- synchronous, bounded by QUERY_TIMEOUT_MS (the binding waits on the socket no longer, and
-- the server's statement_timeout is the same): a LAN database answers a store query in
-- well under a few milliseconds, as long as an SQLite commit's fsync, and every write must
-- be committed before the engine acts on it anyway, so an asynchronous store would only let
-- other requests be parsed meanwhile at the price of an engine that can be re-entered in
-- the middle of a step. A connection that breaks (the database restarts, the network
-- drops) makes every operation fail with code "unavailable" (rivulet serve answers 503);
-- the next operation connects again, then at most every RETRY_MS, and the prepared
-- statements and LISTEN are made again on the new connection. A write whose COMMIT was
-- sent when the connection broke may or may not have happened: the engine treats it as
-- failed (the execution leaves it) and the store's copy is the truth, which the sweep
-- takes up again.
--
-- Settings: the named constants below, and per store in the URI's query (removed before
-- libpq sees it): rivulet_lease_s, rivulet_timeout_ms (a query), rivulet_connect_timeout_ms,
-- rivulet_retry_ms, e.g. postgresql://db.lan/rivulet?rivulet_lease_s=30.

local core = require "rivulet.core"
local store = require "rivulet.store"
local redact = require "rivulet.redact"

local pairs, ipairs, tostring, tonumber, setmetatable, error =
  pairs, ipairs, tostring, tonumber, setmetatable, error
local format, concat = string.format, table.concat

local M = {}

M.SCHEMA_VERSION = store.SCHEMA_VERSION      -- the same schema, migrated the same way
M.APPLICATION = "rivulet"
M.LOCK_KEY = store.APPLICATION_ID            -- advisory lock taken while migrating
M.CONNECTIONS = 1             -- per process (see above)
M.CONNECT_TIMEOUT_MS = 5000   -- connecting (libpq counts whole seconds; this is ours)
M.QUERY_TIMEOUT_MS = 5000     -- one query's answer; the server's statement_timeout too
M.RETRY_MS = 1000             -- a lost database is tried again at most this often
M.LEASE_S = store.LEASE_S     -- a running execution's owner is presumed gone after this
M.CHANNEL = "rivulet_due"     -- NOTIFY channel: a wait with a deadline was written

-- ---- schema: rivulet.store's migrations, in PostgreSQL's words ----------------------------

-- Texts are text; the bytes that must come back exactly (contexts, waits, flow sources and
-- definitions: JSON kept raw, valid UTF-8 or not) are bytea; times are epoch seconds
-- (double precision) as in SQLite.
local MIGRATIONS = {
  [[
  CREATE TABLE flows (
    id text PRIMARY KEY, name text, path text, kind text NOT NULL, source bytea NOT NULL,
    created_at double precision NOT NULL);
  CREATE TABLE executions (
    sid text PRIMARY KEY,
    flow_id text NOT NULL REFERENCES flows(id),
    flow_sid text, flow_name text, contact text, channel text,
    holds_contact integer NOT NULL,
    trigger_event text NOT NULL, parent_sid text,
    status text NOT NULL,
    failed integer NOT NULL DEFAULT 0, reason text,
    state text, last_state text, repeats integer NOT NULL, step_count integer NOT NULL,
    started_at double precision NOT NULL, updated_at double precision NOT NULL,
    ended_at double precision,
    context bytea NOT NULL, wait bytea, wait_kind text, due_at double precision,
    rev bigint NOT NULL, owner text, lease_until double precision);
  CREATE UNIQUE INDEX executions_contact ON executions(contact, channel)
    WHERE status = 'active' AND holds_contact = 1;
  CREATE INDEX executions_started ON executions(started_at);
  CREATE INDEX executions_status ON executions(status, started_at);
  CREATE INDEX executions_due ON executions(due_at) WHERE status = 'active';
  CREATE TABLE steps (
    execution_sid text NOT NULL REFERENCES executions(sid),
    idx integer NOT NULL, sid text NOT NULL, name text NOT NULL,
    type text, transitioned_from text, transitioned_to text,
    date_created double precision NOT NULL, reason text, note text,
    context bytea NOT NULL,
    PRIMARY KEY (execution_sid, idx));
  ]],
  [[
  ALTER TABLE executions ADD COLUMN takeovers integer NOT NULL DEFAULT 0;
  ]],
  [[
  CREATE TABLE studio_flows (
    sid text PRIMARY KEY, friendly_name text NOT NULL, status text NOT NULL,
    revision integer NOT NULL, published integer, origin text,
    test_users text NOT NULL DEFAULT '[]',
    date_created double precision NOT NULL, date_updated double precision NOT NULL);
  CREATE TABLE flow_revisions (
    flow_sid text NOT NULL REFERENCES studio_flows(sid),
    revision integer NOT NULL, friendly_name text NOT NULL, status text NOT NULL,
    commit_message text, kind text NOT NULL, definition bytea NOT NULL,
    valid integer NOT NULL, errors text NOT NULL, warnings text NOT NULL,
    date_created double precision NOT NULL,
    PRIMARY KEY (flow_sid, revision));
  ALTER TABLE executions ADD COLUMN flow_version integer;
  ALTER TABLE executions ADD COLUMN initiated_by text;
  ALTER TABLE executions ADD COLUMN watch text;
  CREATE INDEX executions_flow ON executions(flow_sid, started_at);
  CREATE INDEX executions_watch ON executions(watch) WHERE watch IS NOT NULL;
  CREATE TABLE webhook_events (
    sid text PRIMARY KEY, execution_sid text, received_at double precision NOT NULL);
  ]],
  [[
  ALTER TABLE webhook_events ADD COLUMN payload bytea;
  ALTER TABLE webhook_events ADD COLUMN done integer NOT NULL DEFAULT 1;
  CREATE INDEX webhook_events_pending ON webhook_events(received_at) WHERE done = 0;
  ]],
  [[
  ALTER TABLE webhook_events ADD COLUMN owner text;
  ALTER TABLE webhook_events ADD COLUMN lease_until double precision;
  ALTER TABLE webhook_events ADD COLUMN contact text;
  CREATE INDEX webhook_events_contact ON webhook_events(contact) WHERE done = 0;
  ]],
  [[
  ALTER TABLE executions ADD COLUMN trigger bytea;
  ]],
}
M.MIGRATIONS = MIGRATIONS

-- the tables a rivulet store has: a database holding one of them without rivulet_schema is
-- another application's
local OURS = { "flows", "executions", "steps", "studio_flows", "flow_revisions", "webhook_events" }

local Store = setmetatable({}, { __index = store.Store })
Store.__index = Store
M.Store = Store
Store.NO_LIMIT = math.maxinteger

local function fail(path, msg, code)
  return nil, format("%s: %s", path, msg), code
end

-- the URI without rivulet's own settings, and those settings
local SETTINGS = { rivulet_lease_s = "lease_s", rivulet_timeout_ms = "timeout_ms",
                   rivulet_connect_timeout_ms = "connect_timeout_ms", rivulet_retry_ms = "retry_ms" }

local function settings(uri)
  local base, query = uri:match("^([^?]*)%?(.*)$")
  if not base then return uri, {} end
  local keep, set = {}, {}
  for pair in query:gmatch("[^&]+") do
    local k, v = pair:match("^([^=]*)=(.*)$")
    local name = k and SETTINGS[k]
    if name then
      local n = tonumber(v)
      if not n or n <= 0 then return nil, format("%s must be a positive number, got '%s'", k, v) end
      set[name] = n
    elseif k and k:match("^rivulet_") then
      return nil, format("unknown setting %s (%s)", k, "rivulet_lease_s, rivulet_timeout_ms," ..
        " rivulet_connect_timeout_ms, rivulet_retry_ms")
    else
      keep[#keep + 1] = pair
    end
  end
  return #keep > 0 and (base .. "?" .. concat(keep, "&")) or base, set
end

-- ---- connection ---------------------------------------------------------------------------

-- a new connection, set up: statement timeout, read-only, LISTEN
local function connect(self)
  local c, err, code = core.pg_connect(self.conninfo, self.connect_timeout_ms)
  if not c then return nil, err, code end
  c:set_timeout(self.timeout_ms)
  local setup = format("SET statement_timeout = %d", self.timeout_ms)
  if self.readonly then setup = setup .. "; SET default_transaction_read_only = on" end
  if self.listening then setup = setup .. "; LISTEN " .. M.CHANNEL end
  local ok
  ok, err, code = c:exec(setup)
  if not ok then
    c:close()
    return nil, err, code
  end
  return c
end

-- the live connection | nil, err, "unavailable". A broken one is replaced now, then at most
-- every retry_ms while the database stays away.
function Store:conn()
  local c = self.pg
  if c and c:ok() then return c end
  if self.in_txn then return nil, "the connection to the database broke", "unavailable" end
  local now = core.monotonic()
  if self.retry_at and now < self.retry_at then return nil, self.down_err, "unavailable" end
  local err, code
  c, err, code = connect(self)
  if not c then
    self.retry_at, self.down_err = now + self.retry_ms / 1000, err
    self.down_since = self.down_since or now
    return nil, err, code == "refused" and code or "unavailable"
  end
  if self.pg then self.reconnects = self.reconnects + 1 end
  self.pg, self.stmts, self.retry_at, self.down_err, self.down_since = c, {}, nil, nil, nil
  return c
end

function Store:available()
  local c, err = self:conn()
  if not c then return nil, err end
  return true
end

function Store:close()
  if self.pg then self.pg:close() end
  self.pg, self.stmts = nil, {}
  self.closed = true
end

-- SQLite's ? placeholders as $1, $2, ... (the store's SQL has no ? in a literal)
local function numbered(sql)
  local n = 0
  return (sql:gsub("%?", function() n = n + 1 return "$" .. n end))
end

function Store:stmt(sql)
  local c, err, code = self:conn()       -- a new connection starts with no statements
  if not c then return nil, err, code end
  local st = self.stmts[sql]
  if st then return st end
  st, err, code = c:prepare(numbered(sql))
  if not st then return nil, err, code end
  self.stmts[sql] = st
  return st
end

-- store.unavailable counts the operations that failed because the database could not be
-- reached (rivulet serve answers those 503)
local function counted(self, a, err, code)
  if a == nil and code == "unavailable" then self.unavailable = self.unavailable + 1 end
  return a, err, code
end

function Store:run(sql, ...)
  local st, err, code = self:stmt(sql)
  if not st then return counted(self, nil, err, code) end
  return counted(self, st:run(...))
end

function Store:first(sql, ...)
  local st, err, code = self:stmt(sql)
  if not st then return counted(self, nil, err, code) end
  return counted(self, st:first(...))
end

function Store:all(sql, ...)
  local st, err, code = self:stmt(sql)
  if not st then return counted(self, nil, err, code) end
  return counted(self, st:all(...))
end

-- statements without parameters (BEGIN, COMMIT, DDL)
function Store:exec(sql)
  local c, err, code = self:conn()
  if not c then return counted(self, nil, err, code) end
  return counted(self, c:exec(sql))
end

-- A transaction of its own, or, inside a batch (begin_batch), a savepoint of the batch's
-- one transaction: a write refused inside a batch takes back that write alone, as in
-- SQLite. A savepoint that succeeded is released by the next one's statement ("RELEASE w;
-- SAVEPOINT w": one round trip) or by the batch's COMMIT.
local function begin(self)
  local b = self.batch
  local sql = "BEGIN"
  if b then
    sql = not b.open and "BEGIN; SAVEPOINT w" or b.sp and "RELEASE w; SAVEPOINT w" or "SAVEPOINT w"
  end
  local ok, err, code = self:exec(sql)
  if not ok then return nil, err, code end
  self.in_txn = true
  if b then b.open, b.sp = true, true end
  return true
end

-- a one-statement write inside a batch joins its transaction, without a savepoint of its
-- own (outside one it is its own); if it fails, end_batch finds the transaction failed
function Store:join_batch()
  local b = self.batch
  if not b or b.open then return true end
  local ok, err, code = self:exec("BEGIN")
  if not ok then return nil, err, code end
  self.in_txn, b.open = true, true
  return true
end

local function commit(self)
  if self.batch then return true end
  local ok, err, code = self:exec("COMMIT")
  self.in_txn = false
  if not ok then
    if self.pg and self.pg:ok() then self.pg:exec("ROLLBACK") end
    return nil, err, code
  end
  return true
end

local function rollback(self, err, code)
  local b = self.batch
  if b then
    if b.sp and self.pg and self.pg:ok() then self.pg:exec("ROLLBACK TO w; RELEASE w") end
    b.sp = false
    return nil, err, code
  end
  if self.in_txn and self.pg and self.pg:ok() then self.pg:exec("ROLLBACK") end
  self.in_txn = false
  return nil, err, code
end

-- begin_batch() / end_batch() -> true | nil, err, code, {exec = true}: as rivulet.store's,
-- one real transaction (BEGIN at the batch's first write, COMMIT at its end). Its row locks
-- are held until then: another process writing the same execution waits for this commit,
-- then finds the revision moved on ("conflict"), as it would have without the batch.
function Store:begin_batch()
  if self.batch then error("a batch is open already", 2) end
  self.batch = { execs = {}, flows = {} }
end

function Store:end_batch()
  local b = self.batch
  self.batch = nil
  if not (b and b.open) then return true end
  self.in_txn = false
  local c = self.pg
  local ok, err, code
  if not (c and c:ok()) then
    err, code = self.down_err or "the connection to the database broke", "unavailable"
  elseif c:transaction_status() == "inerror" then
    -- a statement outside a savepoint failed: PostgreSQL would answer COMMIT with ROLLBACK
    c:exec("ROLLBACK")
    err, code = "a statement of the transaction failed, so none of it was kept", "error"
  else
    ok, err, code = counted(self, c:exec("COMMIT"))
    if ok then return true end
    if c:ok() then c:exec("ROLLBACK") end
  end
  -- the flows first stored in the batch are not stored after all
  for flow in pairs(b.flows) do
    local id = self.flow_ids[flow]
    if id then self.flow_ids[flow], self.flows[id] = nil, nil end
  end
  return nil, err, code, b.execs
end

-- ---- open and migrate -----------------------------------------------------------------------

-- what the database holds: {ours = rivulet_schema is there, theirs = tables named like ours}
local function inspect(self)
  local names = {}
  for i, t in ipairs(OURS) do names[i] = "'" .. t .. "'" end
  local row, err, code = self:first("SELECT (SELECT count(*) FROM information_schema.tables WHERE" ..
    " table_schema = current_schema() AND table_name = 'rivulet_schema') AS ours," ..
    " (SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND" ..
    " table_name IN (" .. concat(names, ", ") .. ")) AS theirs")
  if not row then return nil, err, code end
  if row.ours == 0 then return { version = 0, app = nil, theirs = row.theirs } end
  local v
  v, err, code = self:first("SELECT version, application FROM rivulet_schema")
  if v == nil then return nil, err, code end
  return { version = v and v.version or 0, app = v and v.application, ours = true, theirs = row.theirs }
end

-- open(uri, {readonly=, scrub=}) -> store | nil, err, code
function M.open(uri, opts)
  opts = opts or {}
  local shown = store.display(uri)
  local conninfo, set = settings(uri)
  if not conninfo then return fail(shown, set, "badpath") end
  local s = setmetatable({
    path = shown, conninfo = conninfo, stmts = {}, flow_ids = setmetatable({}, { __mode = "k" }), flows = {},
    owner = format("%d@%s", core.pid(), core.hostname()), readonly = opts.readonly or false,
    token = opts.scrub, scrub = redact.scrubber(opts.scrub), busy_timeout_ms = store.BUSY_TIMEOUT_MS,
    lease_s = set.lease_s or M.LEASE_S, timeout_ms = math.floor(set.timeout_ms or M.QUERY_TIMEOUT_MS),
    connect_timeout_ms = math.floor(set.connect_timeout_ms or M.CONNECT_TIMEOUT_MS),
    retry_ms = set.retry_ms or M.RETRY_MS, reconnects = 0, unavailable = 0, in_txn = false, shared = true,
  }, Store)
  local c, err, code = connect(s)
  if not c then return fail(shown, err, code == "refused" and code or code or "unavailable") end
  s.pg = c
  local h
  h, err, code = inspect(s)
  if not h then
    s:close()
    return fail(shown, err, code)
  end
  if (not h.ours and h.theirs > 0) or (h.ours and h.app ~= M.APPLICATION) then
    s:close()
    return fail(shown, "not a rivulet store (a database of another application)", "foreign")
  end
  if h.version > M.SCHEMA_VERSION then
    s:close()
    return fail(shown, format("written by a newer rivulet (store schema %d; this rivulet reads up to %d)",
      h.version, M.SCHEMA_VERSION), "newer")
  end
  if opts.readonly then
    if not h.ours then
      s:close()
      return fail(shown, "not a rivulet store (an empty database)", "foreign")
    end
    if h.version < M.SCHEMA_VERSION then
      s:close()
      return fail(shown, format("store schema %d is older than this rivulet's (%d); open it for writing once to" ..
        " migrate", h.version, M.SCHEMA_VERSION), "older")
    end
    return s
  end
  local ok
  ok, err, code = s:migrate()
  if not ok then
    s:close()
    return fail(shown, err, code)
  end
  return s
end

-- brings the schema up to SCHEMA_VERSION, one transaction per version; processes starting
-- together take turns (an advisory lock) and each reads the version again under it
function Store:migrate()
  while true do
    local ok, err, code = begin(self)
    if not ok then return nil, err, code end
    ok, err, code = self:exec(format("SELECT pg_advisory_xact_lock(%d);" ..
      " CREATE TABLE IF NOT EXISTS rivulet_schema (version integer NOT NULL, application text NOT NULL)",
      M.LOCK_KEY))
    local v
    if ok then v, err, code = self:first("SELECT version FROM rivulet_schema") end
    if v == nil then return rollback(self, err, code) end
    if not v then
      ok, err, code = self:exec(format("INSERT INTO rivulet_schema VALUES (0, '%s')", M.APPLICATION))
      if not ok then return rollback(self, err, code) end
      v = { version = 0 }
    end
    if v.version >= M.SCHEMA_VERSION then return commit(self) end
    local to = v.version + 1
    ok, err, code = self:exec(MIGRATIONS[to])
    if ok then ok, err, code = self:exec(format("UPDATE rivulet_schema SET version = %d", to)) end
    if ok then ok, err, code = commit(self) end
    if not ok then
      rollback(self)
      return nil, format("migrating the store to schema %d: %s", to, err), code
    end
  end
end

-- ---- what differs from SQLite ---------------------------------------------------------------

local stored, encode_wait = store.stored, store.encode_wait

function Store:flow_id(flow)
  local id = self.flow_ids[flow]
  if id then return id end
  local kind, source = store.flow_source(flow)
  if not kind then return nil, source end
  id = core.sha256_hex(kind .. "\0" .. source)
  local ok, err, code = self:run("INSERT INTO flows (id, name, path, kind, source, created_at)" ..
    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING", id, flow.description, flow.source, kind, source,
    core.now())
  if not ok then return nil, err, code end
  self.flow_ids[flow] = id
  self.flows[id] = flow
  if self.batch then self.batch.flows[flow] = true end    -- stored only if the batch commits
  return id
end

local EXEC_COLUMNS = "sid, flow_id, flow_sid, flow_name, contact, channel, holds_contact, trigger_event," ..
  " parent_sid, status, failed, reason, state, last_state, repeats, step_count, started_at, updated_at," ..
  " ended_at, context, wait, wait_kind, due_at, watch, rev, owner, lease_until, flow_version, initiated_by, trigger"
local INSERT_EXEC = "INSERT INTO executions (" .. EXEC_COLUMNS .. ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?," ..
  " ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?) RETURNING sid"
local UPDATE_SET = "UPDATE executions SET status = ?, failed = ?, reason = ?, state = ?, last_state = ?," ..
  " repeats = ?, step_count = ?, updated_at = ?, ended_at = ?, context = ?, wait = ?, wait_kind = ?," ..
  " due_at = ?, watch = ?, rev = rev + 1, takeovers = ?, owner = ?, lease_until = ?"
local UPDATE_EXEC = UPDATE_SET .. " WHERE sid = ? AND rev = ? RETURNING sid"
-- the trigger column too (rivulet.store's encode_context says when)
local UPDATE_EXEC_TRIGGER = UPDATE_SET .. ", trigger = ? WHERE sid = ? AND rev = ? RETURNING sid"
local STEP_COLUMNS = "sid, execution_sid, idx, name, type, transitioned_from, transitioned_to, date_created," ..
  " reason, note, context"

-- One statement per write, so one round trip and no BEGIN/COMMIT (inside a batch: a
-- savepoint around it): the execution's INSERT or UPDATE (revision checked) in a WITH, the
-- step inserted from its RETURNING (nothing when the revision was stale), and a NOTIFY when
-- the execution starts to wait with a deadline (delivered at the commit). The texts are
-- built once per shape.
local WRITES = {}
local function write_sql(first, trigger_set, with_step, notify)
  local key = (first and "i" or trigger_set and "t" or "u") .. (with_step and "s" or "") .. (notify and "n" or "")
  local sql = WRITES[key]
  if sql then return sql end
  local main = first and INSERT_EXEC or trigger_set and UPDATE_EXEC_TRIGGER or UPDATE_EXEC
  local rows = "e"             -- what counts: the execution written, and its step
  local sql_steps = ""
  if with_step then
    sql_steps = ", s AS (INSERT INTO steps (" .. STEP_COLUMNS .. ") SELECT ?, e.sid, ?, ?, ?, ?, ?, ?, ?, ?, ?" ..
      " FROM e RETURNING execution_sid)"
    rows = "s"
  end
  -- pg_notify is volatile: it runs once per row, even where its value is not used
  local tail = notify and ("SELECT count(*) AS n FROM (SELECT pg_notify(?, ?) FROM " .. rows .. ") x")
    or ("SELECT count(*) AS n FROM " .. rows)
  sql = "WITH e AS (" .. main .. ")" .. sql_steps .. " " .. tail
  WRITES[key] = sql
  return sql
end

function Store:write(exec, step, state)
  if self.readonly then error("the store is open read-only", 2) end
  local now = core.now()
  local scrub = self.scrub
  local ctx, trigger, trigger_set = store.encode_context(exec)
  ctx, trigger = scrub(ctx), trigger and scrub(trigger)
  local wait = scrub(encode_wait(exec.wait))
  local step_ctx = step and scrub(stored(step.context or {}))
  local running = exec.status == "active" and (not exec.wait or exec.wait.kind == "http")
  local owner = running and self.owner or nil
  local lease = running and now + self.lease_s or nil
  local ended = exec.status ~= "active"
  local status = ended and "ended" or "active"
  local w = exec.status == "active" and exec.wait or nil
  local wait_kind, due_at, watch = w and w.kind, w and w.deadline, w and w.watch
  local notify = due_at ~= nil
  local args, n             -- n: how many (some are nil)
  local batch = self.batch
  if batch then
    local ok, err, code = begin(self)
    if not ok then return nil, err, code end
  end
  local function failed(err, code)
    if batch then return rollback(self, err, code) end
    return nil, err, code
  end
  if not exec.rev then
    local flow_id, err, code = self:flow_id(exec.flow)
    if not flow_id then return failed(err, code) end
    local contact, channel = exec.context.contact.channel.address, exec.context.flow.channel.address
    args = { exec.sid, flow_id, exec.flow_sid, exec.flow_name,
      contact ~= nil and tostring(contact) or nil, channel ~= nil and tostring(channel) or nil,
      exec.contact_key and 1 or 0, exec.trigger_event, exec.parent_sid, status,
      exec.failed and 1 or 0, exec.reason, state, exec.last_state, exec.repeats, #exec.steps,
      exec.started_at, now, exec.ended_at, ctx, wait, wait_kind, due_at, watch, owner, lease,
      exec.flow_version, exec.initiated_by, trigger }
    n = 29
  else
    args = { status, exec.failed and 1 or 0, exec.reason, state, exec.last_state,
      exec.repeats, #exec.steps, now, exec.ended_at, ctx, wait, wait_kind, due_at, watch,
      step and 0 or exec.takeovers or 0, owner, lease }
    n = 17
    if trigger_set then
      args[18] = trigger
      n = 18
    end
    args[n + 1], args[n + 2] = exec.sid, exec.rev
    n = n + 2
  end
  if step then
    local more = { step.sid, #exec.steps, step.name, step.type, step.transitioned_from, step.transitioned_to,
                   step.date_created, step.reason, step.note, step_ctx }
    for i = 1, 10 do args[n + i] = more[i] end
    n = n + 10
  end
  if notify then
    args[n + 1], args[n + 2] = M.CHANNEL, format("%.3f", due_at)
    n = n + 2
  end
  local row, err, code = self:first(write_sql(not exec.rev, trigger_set, step ~= nil, notify), table.unpack(args, 1, n))
  if not row then return failed(err, code) end
  if row.n == 0 then return failed(format("execution %s was changed by another process", exec.sid), "conflict") end
  if batch then batch.execs[exec] = true end
  exec.rev, exec.updated_at = (exec.rev or 0) + 1, now
  if trigger_set then exec.stored_trigger = exec.context.trigger end
  if step then exec.takeovers = nil end
  return true
end

-- the active execution of a contact: an address may be absent (NULL), which = cannot match
function Store:contact_execution(contact, channel)
  contact = contact ~= nil and tostring(contact) or nil
  channel = channel ~= nil and tostring(channel) or nil
  local sql = "SELECT sid, rev FROM executions WHERE status = 'active' AND holds_contact = 1 AND " ..
    (contact and "contact = ?" or "contact IS NULL") .. " AND " .. (channel and "channel = ?" or "channel IS NULL")
  if contact and channel then return self:first(sql, contact, channel) end
  return self:first(sql, contact or channel)
end

-- f(self) inside BEGIN/COMMIT: its result, or nil, err, code after a ROLLBACK
local function transaction(self, f)
  local ok, err, code = begin(self)
  if not ok then return nil, err, code end
  local a, b, c = f()
  if a == nil then return rollback(self, b, c) end
  ok, err, code = commit(self)
  if not ok then return nil, err, code end
  return a, b, c
end

-- store.lua's due_rows names SQLite's index (INDEXED BY); the same rows here, where the
-- planner has statistics of its own
function Store:due_rows(now)
  return self:all("SELECT * FROM executions WHERE status = 'active' AND due_at IS NULL UNION ALL" ..
    " SELECT * FROM executions WHERE status = 'active' AND due_at <= ? ORDER BY started_at, sid", now)
end

function Store:delete_execution(sid)
  return transaction(self, function()
    local ok, err, code = self:run("DELETE FROM steps WHERE execution_sid = ?", sid)
    if not ok then return nil, err, code end
    local n
    n, err, code = self:run("DELETE FROM executions WHERE sid = ?", sid)
    if not n then return nil, err, code end
    return n > 0
  end)
end

-- every save of one flow takes its turn (two hosts publishing the same files at start)
function Store:save_flow(f)
  local now = core.now()
  local ok, err, code = transaction(self, function()
    local ok2, err2, code2 = self:first("SELECT pg_advisory_xact_lock(hashtext(?)) IS NULL AS x", f.sid)
    if not ok2 then return nil, err2, code2 end
    local cur
    cur, err2, code2 = self:first("SELECT revision, published FROM studio_flows WHERE sid = ?", f.sid)
    if cur == nil then return nil, err2, code2 end
    local rev = cur and cur.revision + 1 or 1
    local published = f.status == "published" and rev or (cur and cur.published or nil)
    if cur then
      ok2, err2, code2 = self:run("UPDATE studio_flows SET friendly_name = ?, status = ?, revision = ?," ..
        " published = ?, date_updated = ? WHERE sid = ?", f.friendly_name, f.status, rev, published, now, f.sid)
    else
      ok2, err2, code2 = self:run("INSERT INTO studio_flows (sid, friendly_name, status, revision, published," ..
        " origin, date_created, date_updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", f.sid, f.friendly_name, f.status,
        rev, published, f.origin, now, now)
    end
    if not ok2 then return nil, err2, code2 end
    return self:run("INSERT INTO flow_revisions (flow_sid, revision, friendly_name, status, commit_message," ..
      " kind, definition, valid, errors, warnings, date_created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
      f.sid, rev, f.friendly_name, f.status, f.commit_message, f.kind or "json", f.definition,
      f.valid and 1 or 0, store.encode(f.errors or {}), store.encode(f.warnings or {}), now)
  end)
  if not ok then return nil, err, code end
  return self:studio_flow(f.sid)
end

function Store:delete_flow(sid)
  return transaction(self, function()
    local ok, err, code = self:run("DELETE FROM flow_revisions WHERE flow_sid = ?", sid)
    if not ok then return nil, err, code end
    local n
    n, err, code = self:run("DELETE FROM studio_flows WHERE sid = ?", sid)
    if not n then return nil, err, code end
    return n > 0
  end)
end

-- ---- webhook events (the serve inbox) --------------------------------------------------------

function Store:lease()
  return self.lease_s
end

-- pending_events(keep?, limit?): as rivulet.store's, the rows locked FOR UPDATE SKIP LOCKED
-- so that two processes claiming at once never take the same event (one skips what the
-- other holds); the SQL already leaves out what a live process on another host holds
local function pending_sql(by_contact)
  return "SELECT sid, payload, owner, lease_until FROM webhook_events WHERE done = 0" ..
    (by_contact and " AND contact = ?" or "") ..
    " AND (owner IS NULL OR lease_until < ? OR owner = ? OR substr(owner, strpos(owner, '@') + 1) = ?)" ..
    " ORDER BY received_at, sid LIMIT ? FOR UPDATE SKIP LOCKED"
end
local PENDING, PENDING_OF = pending_sql(false), pending_sql(true)

function Store:pending_events(keep, limit, contact)
  local now = core.now()
  -- inside a batch (a contact's check before each new message): the batch's transaction,
  -- without a savepoint, one round trip when there is nothing pending (the usual case)
  local run = self.batch and function(f)
    local ok, err, code = self:join_batch()
    if not ok then return nil, err, code end
    return f()
  end or function(f) return transaction(self, f) end
  return run(function()
    local rows, err, code
    if contact ~= nil then
      rows, err, code = self:all(PENDING_OF, tostring(contact), now, self.owner, core.hostname(),
        limit or self.NO_LIMIT)
    else
      rows, err, code = self:all(PENDING, now, self.owner, core.hostname(), limit or self.NO_LIMIT)
    end
    if not rows then return nil, err, code end
    local out = {}
    for _, r in ipairs(rows) do
      if not self:owner_alive(r, now) and (not keep or keep(r)) then
        local ok
        ok, err, code = self:run("UPDATE webhook_events SET owner = ?, lease_until = ? WHERE sid = ?",
          self.owner, now + self.lease_s, r.sid)
        if not ok then return nil, err, code end
        out[#out + 1] = { sid = r.sid, payload = r.payload }
      end
    end
    return out
  end)
end

-- PostgreSQL checks its own pages; this checks the database answers and the schema is ours
function Store:check()
  local h, err = inspect(self)
  if not h then return nil, err end
  if not h.ours or h.version ~= M.SCHEMA_VERSION then return nil, "the schema is not this rivulet's" end
  return true
end

-- ---- several processes ------------------------------------------------------------------------

-- rows that may have work for this process, locked so that no other sweep takes them:
-- waits past due_before, and runs whose owner is this process, or on this host (its pid is
-- checked), or whose lease ran out. keep(row) chooses; the chosen become this process's.
local CLAIMABLE = "SELECT sid, parent_sid, owner, lease_until, wait_kind, rev FROM executions" ..
  " WHERE status = 'active' AND ((wait_kind IN ('reply', 'call', 'event') AND due_at <= ?)" ..
  " OR wait_kind IS NULL OR wait_kind = 'http')" ..
  " AND (owner IS NULL OR lease_until < ? OR owner = ? OR substr(owner, strpos(owner, '@') + 1) = ?)" ..
  " ORDER BY coalesce(due_at, lease_until, 0) LIMIT ? FOR UPDATE SKIP LOCKED"

function Store:claim_due(due_before, now, keep, limit)
  return transaction(self, function()
    local rows, err, code = self:all(CLAIMABLE, due_before, now, self.owner, core.hostname(), limit or 100)
    if not rows then return nil, err, code end
    local taken = {}
    for _, r in ipairs(rows) do
      if keep(r) then
        local n
        n, err, code = self:run("UPDATE executions SET owner = ?, lease_until = ?, rev = rev + 1 WHERE sid = ?",
          self.owner, now + self.lease_s, r.sid)
        if not n then return nil, err, code end
        r.rev = r.rev + 1
        taken[#taken + 1] = r
      end
    end
    return taken
  end)
end

-- the earliest wait deadline after `after` | false
function Store:next_due(after)
  local row, err, code = self:first("SELECT min(due_at) AS at FROM executions WHERE status = 'active' AND" ..
    " wait_kind IN ('reply', 'call', 'event') AND due_at > ?", after)
  if not row then return nil, err, code end
  return row.at or false
end

-- LISTEN on CHANNEL, now and on every connection made later
function Store:listen()
  self.listening = true
  return self:exec("LISTEN " .. M.CHANNEL)
end

function Store:wake_fd()
  local c = self.pg
  if c and c:ok() then return c:fd() end
  return nil
end

-- the deadlines other processes notified since the last look
function Store:wakeups()
  local c = self.pg
  if not (c and c:ok()) then return {} end
  local list, err, code = c:notifies()
  if not list then return nil, err, code end
  local out = {}
  for _, n in ipairs(list) do
    local at = tonumber(n.payload)
    if at then out[#out + 1] = at end
  end
  return out
end

return M
