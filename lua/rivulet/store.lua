-- rivulet.store: executions, their steps and contexts in an SQLite file, shaped like
-- Studio's REST resources (Executions, Steps, Execution Context, Step Context). This is
-- the only Lua file that holds SQL.
--
--   local store = require "rivulet.store"
--   local s, err = store.open("flows.db")          -- nil, err: unreadable, corrupt, foreign, newer
--   rivulet.engine{ store = s }                     -- the engine writes through it
--   s:list{ status = "active" }  s:execution(sid)  s:steps(sid)  s:record(sid)
--
-- Durability: WAL, and one transaction per write. The engine writes an execution when a
-- step is taken (the step, and the execution row with the state it goes to next) before it
-- acts on that step, and when it starts to wait (what it waits for, and since when). Each
-- execution row carries a revision; a write names the revision it read, so two processes
-- sharing a store never both advance one execution (the later write is refused, and its
-- engine reloads the execution instead). An execution that runs (an HTTP call in flight, or
-- between two steps) names its owner (pid@host); another process takes it over only once
-- that owner is gone or its lease ran out.
--
-- The schema has a version (PRAGMA user_version) and an application id; migrations run on
-- open; a file of another application or of a newer rivulet is refused and left untouched.
--
-- THE INTERFACE. The engine (rivulet.engine, rivulet.recovery) and the commands use only
-- these operations; a second implementation (another database) provides the same ones with
-- the same results and error codes, and runs the same specs (spec/test_store.lua).
-- Failures of the outside world return nil, err, code (code: "busy", "locked", "constraint",
-- "conflict", "notfound", SQLite's other names); misuse raises.
--   open(path, {synchronous=, readonly=, scrub=}) -> store | nil, err, code
--   store.path, store.owner ("pid@host"), store.busy_timeout_ms
--   store.note: set when a read-only store shows less than it holds (open() says why)
--   IO_FAILURES[code]: the file or the disk under it failed (exit 1), rather than the store
--       being unusable as given (exit 2)
--   store:close()   store:set_token(token)     (the token never reaches the store)
--   store:begin_batch() / store:end_batch() -> true | nil, err, code, {exec = true}
--       optional: the writes between share one transaction (one commit); see there
--   store:flow_id(flow) -> id        a loaded flow stored once per distinct source
--   store:flow(id) -> flow           loaded back (cached)
--   store:write(exec, step?, state) -> true     one transaction: the step (if any) and the
--       execution as it stands, going on at `state`; exec.rev checked and bumped;
--       "conflict" (another process wrote it), "constraint" (first write: the contact has
--       an active execution)
--   store:claim(exec) -> true        take over a running execution whose owner is gone;
--       "conflict" when another process took it; bumps exec.rev and exec.takeovers
--   store:execution(sid) -> row | false       decoded (context, wait)
--   store.decode_row(row) -> row: context (its trigger put back in), wait decoded; row.trigger
--       is the trigger when its own column held it (recovery: exec.stored_trigger)
--   store:revision(sid) -> rev | false
--   store:watcher(message_sid) -> sid | false   the active execution whose wait watches it
--   store:contact_execution(contact, channel) -> {sid, rev} | false   the active one
--   store:active_rows() / store:due_rows(now) -> raw rows     (decode with store.decode_row)
--   store:active_steps() -> {sid = {step, ...}}   store:steps(sid, with_context) -> steps
--   store:owner_alive(row[, now]) -> whether another live process may be running it
--   store:list{status, failed, since, before, flow, contact, limit} -> rows (newest first)
--   store:record(sid) -> the execution record     store:counts()     store:check()
--   store:edge_counts(flow_sid) -> {{from, event, to, n}, ...}   how many steps of that
--       flow's executions took each transition (the inspector colours its graph with them)
--   store:take_event(key, execution_sid?, payload?, contact?) -> true | false (seen before)
--   store:event_done(key)   store:pending_events(keep?, limit?, contact?) -> {{sid, payload}, ...}
--       the serve inbox: a Twilio event kept (payload) until the commit of the steps it
--       caused; pending_events claims those no other live process holds (see there)
--   store:studio_flow(sid) / studio_flow_head(sid) / studio_flows(f) /
--       studio_flow_from(origin) / save_flow(f) /
--       flow_revision(sid, n) / flow_revisions(sid, f) / delete_flow(sid) /
--       set_test_users(sid, list)            the Studio REST API's flows and revisions

local core = require "rivulet.core"
local json = require "rivulet.json"
local redact = require "rivulet.redact"

local type, pairs, ipairs, tostring, error, setmetatable, pcall, rawequal =
  type, pairs, ipairs, tostring, error, setmetatable, pcall, rawequal
local format, concat = string.format, table.concat

local M = {}

M.SCHEMA_VERSION = 6
M.APPLICATION_ID = 0x52564c54        -- "RVLT" in the file header: this file is a rivulet store
M.BUSY_TIMEOUT_MS = 10000            -- a write waits this long for another process's lock
M.CHECKPOINT_PAGES = 1000            -- checkpoint_in_background: the WAL frames that start one
M.LEASE_S = 60                       -- a running execution's (a pending event's) owner is presumed gone after this
M.MAX_TAKEOVERS = 3                  -- a widget cut off this many times fails its execution
M.MAX_DEPTH = core.json_max_depth    -- tables nested deeper are stored as "<too deep>"

-- JSON that round-trips: lua-cjson 2.1 prints numbers with 14 digits, which loses
-- timestamps and long integers; core.json_encode writes them exactly, and writes what JSON
-- cannot hold ("<function>", "<cycle>") as text so that a context always stores.
-- encode(value [, indent]) -> JSON text; with indent (e.g. "  "), pretty with sorted keys.
-- Always valid UTF-8 (what rivulet prints and serves): invalid bytes are written as U+FFFD.
M.encode = core.json_encode

-- The store's own text keeps strings byte for byte, valid UTF-8 or not (json_encode's raw):
-- a function may reply with binary, and an execution resumed from the store must see the
-- same bytes it saw before (a Liquid render, a body sent on). Only what leaves rivulet as
-- JSON (logs --json, the REST API, --log) is made valid UTF-8, by M.encode.
local function stored(v)
  return core.json_encode(v, nil, true)
end
M.stored = stored

-- ordered: objects come back in the order they were written (Studio prints flow.data and a
-- reply's parsed in their document's order; rivulet.json)
local function decode(text)
  if text == nil then return nil end
  return json.decode(text, true)
end

-- The trigger's place in a stored context whose trigger is in the trigger column: any value
-- would do (decode_row puts the trigger there), this one is short.
local PLACEHOLDER = 0

-- encode_context(exec) -> context text, trigger text | nil, whether the trigger column is
-- written: the trigger is encoded only when the row does not hold it yet (the execution's
-- first write; a row of schema 5 read back; a trigger replaced since, by identity: nothing
-- in rivulet changes a trigger, and what is in it is not looked at again). The context is
-- encoded with the trigger swapped for the placeholder and put back: not a copy, whose keys
-- would come out in another order. (The PostgreSQL store shares it.)
function M.encode_context(exec)
  local c = exec.context
  local tr = c.trigger
  local same = exec.rev ~= nil and rawequal(exec.stored_trigger, tr)
  if tr == nil then return stored(c), nil, not same end
  c.trigger = PLACEHOLDER
  local ok, text = pcall(stored, c)
  c.trigger = tr                       -- back, whatever happened
  if not ok then error(text, 0) end
  if same then return text, nil, false end
  return text, stored(tr), true
end

-- ---- schema and migrations ----------------------------------------------------------------

-- MIGRATIONS[v] takes a store from version v - 1 to v (SQL run in one transaction with
-- the version's bump: a migration that fails leaves the store as it was)
local MIGRATIONS = {
  [[
  CREATE TABLE flows (
    id TEXT PRIMARY KEY,            -- SHA-256 of kind and source: one row per distinct flow
    name TEXT, path TEXT,
    kind TEXT NOT NULL,             -- "json" (Studio export) or "lua" (a Lua flow file)
    source TEXT NOT NULL,
    created_at REAL NOT NULL);
  CREATE TABLE executions (
    sid TEXT PRIMARY KEY,
    flow_id TEXT NOT NULL REFERENCES flows(id),
    flow_sid TEXT, flow_name TEXT,
    contact TEXT, channel TEXT,
    holds_contact INTEGER NOT NULL, -- 1: the contact's execution (not a subflow's child)
    trigger_event TEXT NOT NULL, parent_sid TEXT,
    status TEXT NOT NULL,           -- "active" or "ended"
    failed INTEGER NOT NULL DEFAULT 0, reason TEXT,
    state TEXT,                     -- where it waits, or the state it enters next
    last_state TEXT, repeats INTEGER NOT NULL,
    step_count INTEGER NOT NULL,
    started_at REAL NOT NULL, updated_at REAL NOT NULL, ended_at REAL,
    context TEXT NOT NULL,          -- the Execution Context, JSON
    wait TEXT,                      -- JSON: what it waits for; NULL while it runs or once ended
    wait_kind TEXT,                 -- "reply", "http", "subflow" (wait's kind, for queries)
    due_at REAL,                    -- when a reply wait times out
    rev INTEGER NOT NULL,           -- one more per write
    owner TEXT, lease_until REAL);
  CREATE UNIQUE INDEX executions_contact ON executions(contact, channel)
    WHERE status = 'active' AND holds_contact = 1;
  CREATE INDEX executions_started ON executions(started_at);
  CREATE INDEX executions_status ON executions(status, started_at);
  CREATE INDEX executions_due ON executions(due_at) WHERE status = 'active';
  CREATE TABLE steps (
    execution_sid TEXT NOT NULL REFERENCES executions(sid),
    idx INTEGER NOT NULL,           -- 1, 2, ... within its execution: a step is never written twice
    sid TEXT NOT NULL,
    name TEXT NOT NULL,             -- the event
    type TEXT, transitioned_from TEXT, transitioned_to TEXT,
    date_created REAL NOT NULL,
    reason TEXT, note TEXT,
    context TEXT NOT NULL,          -- the Step Context, JSON
    PRIMARY KEY (execution_sid, idx)) WITHOUT ROWID;   -- one b-tree to write per step
  ]],
  -- 2: how often the widget it runs was taken over from a process that stopped (claim)
  [[
  ALTER TABLE executions ADD COLUMN takeovers INTEGER NOT NULL DEFAULT 0;
  ]],
  -- 3: Studio's resources for `rivulet serve`: flows with revisions and test users (the
  -- REST API's Flows), which revision an execution runs and what started it, the webhook
  -- events already taken (Twilio retries must not start or advance anything twice), the
  -- outbound message whose delivery a wait watches
  [[
  CREATE TABLE studio_flows (
    sid TEXT PRIMARY KEY,           -- FW...
    friendly_name TEXT NOT NULL,
    status TEXT NOT NULL,           -- "draft" or "published": the latest revision's
    revision INTEGER NOT NULL,      -- the latest revision
    published INTEGER,              -- the latest published revision (LatestPublished)
    origin TEXT,                    -- the file it is published from (serve --flows), or NULL (the API)
    test_users TEXT NOT NULL DEFAULT '[]',   -- JSON array of contact addresses
    date_created REAL NOT NULL, date_updated REAL NOT NULL);
  CREATE TABLE flow_revisions (
    flow_sid TEXT NOT NULL REFERENCES studio_flows(sid),
    revision INTEGER NOT NULL,      -- 1, 2, ...
    friendly_name TEXT NOT NULL, status TEXT NOT NULL, commit_message TEXT,
    kind TEXT NOT NULL,             -- "json" (a Flow Definition) or "lua" (a Lua flow file)
    definition TEXT NOT NULL,
    valid INTEGER NOT NULL, errors TEXT NOT NULL, warnings TEXT NOT NULL,   -- JSON arrays
    date_created REAL NOT NULL,
    PRIMARY KEY (flow_sid, revision)) WITHOUT ROWID;
  ALTER TABLE executions ADD COLUMN flow_version INTEGER;
  ALTER TABLE executions ADD COLUMN initiated_by TEXT;
  ALTER TABLE executions ADD COLUMN watch TEXT;   -- the outbound message SID a wait watches
  CREATE INDEX executions_flow ON executions(flow_sid, started_at);
  CREATE INDEX executions_watch ON executions(watch) WHERE watch IS NOT NULL;
  CREATE TABLE webhook_events (
    sid TEXT PRIMARY KEY,           -- MessageSid or CallSid (+ the callback's own key)
    execution_sid TEXT,
    received_at REAL NOT NULL) WITHOUT ROWID;
  ]],
  -- 4: an event taken but not yet acted on keeps what it said (rivulet serve answers
  -- Twilio before it runs the steps: a stop in between must not lose the message)
  [[
  ALTER TABLE webhook_events ADD COLUMN payload TEXT;
  ALTER TABLE webhook_events ADD COLUMN done INTEGER NOT NULL DEFAULT 1;
  CREATE INDEX webhook_events_pending ON webhook_events(received_at) WHERE done = 0;
  ]],
  -- 5: who acts on a pending event, and until when (its lease): several processes sharing
  -- a store take pending events over only from a process that is gone (pending_events);
  -- whose event it is (a contact's older pending events are acted on before its new one)
  [[
  ALTER TABLE webhook_events ADD COLUMN owner TEXT;
  ALTER TABLE webhook_events ADD COLUMN lease_until REAL;
  ALTER TABLE webhook_events ADD COLUMN contact TEXT;
  CREATE INDEX webhook_events_contact ON webhook_events(contact) WHERE done = 0;
  ]],
  -- 6: the Execution Context's trigger (every field of the webhook that started it, two
  -- thirds of a context) in a column of its own, written by the execution's first write:
  -- it never changes, and encoding it again at every write was nearly a quarter of the
  -- store's JSON encoding (bench/store/steps.lua, callgrind).
  -- `context` then holds the rest, a placeholder keeping the trigger's place (its key
  -- order is what Studio's Context shows). Rows written before keep their trigger inline
  -- and this column NULL; each row is read by the form it has (decode_row).
  [[
  ALTER TABLE executions ADD COLUMN trigger TEXT;   -- JSON of context.trigger, or NULL (inline)
  ]],
}

M.MIGRATIONS = MIGRATIONS

local Store = {}
Store.__index = Store
M.Store = Store
Store.NO_LIMIT = -1         -- LIMIT's "no limit" (PostgreSQL's store has its own)

local function fail(path, msg, code)
  return nil, format("%s: %s", path, msg), code
end

-- the header check: what the file is, without writing to it
local function inspect(db)
  local st, err, code = db:prepare(
    "SELECT (SELECT application_id FROM pragma_application_id) AS app," ..
    " (SELECT user_version FROM pragma_user_version) AS version," ..
    " (SELECT count(*) FROM sqlite_master) AS objects")
  if not st then return nil, err, code end
  local row
  row, err, code = st:first()
  st:finalize()          -- now: a statement left to the collector would keep the file open
  return row, err, code
end

local OPEN_ERRORS = {
  notadb = "not a rivulet store (not an SQLite database, or its header is damaged)",
  corrupt = "the store is damaged (SQLite: database disk image is malformed)",
  isdir = "not a rivulet store (a directory)",
}

-- The codes that say the file or the medium under it failed: the disk is full, an I/O
-- error, a file that is there but cannot be opened, no write access, a lock held past the
-- busy timeout, no memory. What was committed before is kept; trying again later may work.
-- Every other code says the store is unusable as given (missing, not a store, damaged,
-- written by a newer rivulet) or refused the data. The commands exit 1 for the first, 2
-- for the others.
M.IO_FAILURES = { full = true, ioerr = true, cantopen = true, readonly = true, perm = true,
                  nomem = true, busy = true, locked = true,
                  unavailable = true }   -- PostgreSQL: the database cannot be reached now

-- bytes in path's -wal file (0: none, or empty)
local function wal_bytes(path)
  local f = io.open(path .. "-wal", "rb")
  if not f then return 0 end
  local n = f:seek("end")
  f:close()
  return n or 0
end

-- A store on a read-only medium, or in a directory this process cannot write: WAL mode
-- reads through the -shm file, which SQLite then can neither create nor open, so a
-- read-only open fails although the file reads fine (with an existing -shm and -wal,
-- SQLite reads both and this is not needed). Nothing can be writing such a store (a writer
-- keeps a -shm), so it is read as SQLite's immutable=1 reads: the file alone, without locks.
-- Changes a writer left in a -wal (it stopped before a checkpoint) are not in the file;
-- they cannot be read without writing the -shm, so the store shows as of its last
-- checkpoint, and note says so; when the file alone is not a store yet, it is refused.
-- -> {db, header, note} | nil, err, code
local function open_alone(path)
  local db, err, code = core.sqlite_open(path, "immutable")
  if not db then return nil, err, code end
  local h
  h, err, code = inspect(db)
  local wal = wal_bytes(path)
  if wal > 0 and (not h or h.objects == 0 or h.version < M.SCHEMA_VERSION) then
    db:close()
    return nil, format("its latest changes are in %s-wal, which SQLite cannot read without writing %s-shm" ..
      " beside it (a read-only directory): copy the store and its -wal to a writable directory to read them",
      path, path), "cantopen"
  end
  if not h then
    db:close()
    return nil, err, code
  end
  return { db = db, header = h, note = wal > 0 and format("%s-wal (%d bytes) may hold changes not yet in the" ..
    " file, which SQLite cannot read without writing %s-shm beside it: this shows the store as of its last" ..
    " checkpoint", path, wal, path) or nil }
end

-- open(path [, options]) -> store | nil, err, code. Options: synchronous = "full" (default:
-- a commit survives power loss) or "normal" (survives a crash of the process only; faster),
-- readonly = true (rivulet logs: nothing is created or written).
-- f() again while it finds the file locked, up to BUSY_TIMEOUT_MS: the busy handler does
-- not cover every lock taken while another process creates the store or recovers its WAL
local function patiently(f)
  local deadline = core.monotonic() + M.BUSY_TIMEOUT_MS / 1000
  while true do
    local a, b, c = f()
    if a or (c ~= "busy" and c ~= "locked") or core.monotonic() > deadline then return a, b, c end
    core.sleep(5)
  end
end

-- a postgresql:// (or postgres://) URI: the PostgreSQL store (rivulet.store_pg), whose
-- operations are these same ones
function M.is_postgres(path)
  return type(path) == "string" and (path:match("^postgresql://") or path:match("^postgres://")) ~= nil
end

-- a store path as it may be shown: a URI's password hidden
function M.display(path)
  if not M.is_postgres(path) then return path end
  return (path:gsub("^(%a+://[^/@:]*):[^/@]*@", "%1:***@"))
end

function M.open(path, opts)
  opts = opts or {}
  if type(path) ~= "string" or path == "" then error("store path must be a non-empty string", 2) end
  if M.is_postgres(path) then return require("rivulet.store_pg").open(path, opts) end
  local db, err, code = core.sqlite_open(path, opts.readonly and "ro" or "rw")
  if not db then return fail(path, OPEN_ERRORS[code] or err, code) end
  db:busy_timeout(M.BUSY_TIMEOUT_MS)
  local h, note
  h, err, code = patiently(function() return inspect(db) end)
  if not h and opts.readonly and (code == "cantopen" or code == "readonly") then
    db:close()
    local alone
    alone, err, code = open_alone(path)
    db, h, note = alone and alone.db, alone and alone.header, alone and alone.note
  end
  if not h then
    if db then db:close() end
    if code == "cantopen" and not opts.readonly then     -- the file opened: its -wal or -shm did not
      err = format("cannot open or create %s-wal and %s-shm beside it, which a store needs (its directory" ..
        " must be writable): %s", path, path, err)
    end
    return fail(path, OPEN_ERRORS[code] or err, code)
  end
  if h.app ~= M.APPLICATION_ID and not (h.app == 0 and h.objects == 0) then
    db:close()
    return fail(path, "not a rivulet store (an SQLite database of another application)", "foreign")
  end
  if h.version > M.SCHEMA_VERSION then
    db:close()
    return fail(path, format("written by a newer rivulet (store schema %d; this rivulet reads up to %d)",
      h.version, M.SCHEMA_VERSION), "newer")
  end
  local s = setmetatable({ db = db, path = path, stmts = {}, flow_ids = setmetatable({}, { __mode = "k" }),
                           flows = {}, owner = format("%d@%s", core.pid(), core.hostname()),
                           readonly = opts.readonly or false, token = opts.scrub, note = note,
                           busy_timeout_ms = M.BUSY_TIMEOUT_MS,
                           scrub = redact.scrubber(opts.scrub) }, Store)
  if opts.readonly then
    if h.objects == 0 then
      db:close()
      return fail(path, "not a rivulet store (an empty database)", "foreign")
    end
    if h.version < M.SCHEMA_VERSION then
      db:close()
      return fail(path, format("store schema %d is older than this rivulet's (%d); open it for writing once to migrate",
        h.version, M.SCHEMA_VERSION), "older")
    end
    return s
  end
  local ok
  ok, err, code = patiently(function()
    local mode, merr, mcode = s:first("PRAGMA journal_mode")
    if not mode then return nil, merr, mcode end
    if mode.journal_mode == "wal" then return true end
    -- changing it needs every other connection gone; when it cannot, SQLite keeps the old
    -- mode without an error, so look again
    local done, xerr, xcode = db:exec("PRAGMA journal_mode = WAL")
    if not done then return nil, xerr, xcode end
    mode = s:first("PRAGMA journal_mode")
    if mode and mode.journal_mode == "wal" then return true end
    return nil, "could not switch the store to WAL (another process has it open)", "busy"
  end)
  if ok then ok, err, code = db:exec(opts.synchronous == "normal" and "PRAGMA synchronous = NORMAL"
                                      or "PRAGMA synchronous = FULL") end
  if ok then ok, err, code = patiently(function() return s:migrate() end) end
  if not ok then
    db:close()
    return fail(path, OPEN_ERRORS[code] or err, code)
  end
  return s
end

-- brings the schema up to SCHEMA_VERSION, one transaction per version (another process may
-- be doing the same: the version is read again under the write lock)
function Store:migrate()
  local db = self.db
  while true do
    local ok, err, code = db:exec("BEGIN IMMEDIATE")
    if not ok then return nil, err, code end
    local h
    h, err, code = inspect(db)
    if not h then db:exec("ROLLBACK") return nil, err, code end
    if h.version >= M.SCHEMA_VERSION then
      db:exec("COMMIT")
      return true
    end
    local v = h.version + 1
    ok, err, code = db:exec(M.MIGRATIONS[v])
    if ok then ok, err, code = db:exec(format("PRAGMA user_version = %d", v)) end
    if ok then ok, err, code = db:exec(format("PRAGMA application_id = %d", M.APPLICATION_ID)) end
    if ok then ok, err, code = db:exec("COMMIT") end
    if not ok then
      db:exec("ROLLBACK")
      return nil, format("migrating the store to schema %d: %s", v, err), code
    end
  end
end

-- checkpoint_in_background() -> true | nil, err: WAL checkpoints on a thread of their own
-- once the WAL holds CHECKPOINT_PAGES frames, for a long-lived writer whose commits must not
-- wait (a turn of a host's loop). Without it SQLite runs each inside the commit that
-- crosses its threshold, copying the WAL into the database and syncing both: milliseconds
-- that every request in that turn waits. close() stops the thread. (rivulet serve does not
-- use it: on the 2-CPU machine, serve pinned to one CPU at 1,000 webhooks/s, the thread
-- took the loop's CPU and NORMAL's p99 went from ~5.5 ms to ~15 ms; FULL's did not move.)
-- (The PostgreSQL store inherits these: it has no WAL of ours, so nothing to do.)
function Store:checkpoint_in_background()
  local db = rawget(self, "db")
  if self.readonly or self.checkpointing or not (db and db.checkpointer) then return true end
  local ok, err = db:checkpointer(M.CHECKPOINT_PAGES)
  if not ok then return nil, self.scrub(err) end
  self.checkpointing = true
  return true
end

-- how many checkpoints the background thread ran, and the last one's result ("ok", "busy", ...)
function Store:checkpoints()
  local db = rawget(self, "db")
  if not (db and db.checkpoints) then return 0, "ok" end
  return db:checkpoints()
end

-- closes the file (statements first, so the last connection checkpoints the WAL into it)
function Store:close()
  for _, st in pairs(self.stmts) do st:finalize() end
  self.stmts = {}
  self.db:close()
end

function Store:stmt(sql)
  local st = self.stmts[sql]
  if not st then
    local err, code
    st, err, code = self.db:prepare(sql)
    if not st then return nil, err, code end
    self.stmts[sql] = st
  end
  return st
end

-- run(sql, ...) / first / all: prepared once, errors returned
function Store:run(sql, ...)
  local st, err, code = self:stmt(sql)
  if not st then return nil, err, code end
  return st:run(...)
end

-- reads outside a transaction wait out a lock the busy handler does not (a WAL being
-- reset or recovered by another process); inside one, a lock error is the transaction's
function Store:first(sql, ...)
  local st, err, code = self:stmt(sql)
  if not st then return nil, err, code end
  if not self.db:autocommit() then return st:first(...) end
  local args = table.pack(...)
  return patiently(function() return st:first(table.unpack(args, 1, args.n)) end)
end

function Store:all(sql, ...)
  local st, err, code = self:stmt(sql)
  if not st then return nil, err, code end
  if not self.db:autocommit() then return st:all(...) end
  local args = table.pack(...)
  return patiently(function() return st:all(table.unpack(args, 1, args.n)) end)
end

-- ---- flows ------------------------------------------------------------------------------------

local function has_function(v, seen)
  if type(v) == "function" then return true end
  if type(v) ~= "table" then return false end
  seen = seen or {}
  if seen[v] then return false end
  seen[v] = true
  for k, x in pairs(v) do
    if has_function(k, seen) or has_function(x, seen) then return true end
  end
  return false
end

-- flow_source(flow) -> kind, text: the flow as a store keeps it (its file's text, or its
-- definition as JSON); nil, err when it cannot be written down (a table holding functions
-- and loaded from no file). Its row id is the hash of both (both stores).
function M.flow_source(flow)
  if flow.text then return flow.kind, flow.text end
  if has_function(flow.states) then
    return nil, "a flow built in Lua with functions in it cannot be stored;" ..
      " load it from a file to keep its executions"
  end
  return "json", stored(flow:definition())
end

-- the flow's row id, stored once per distinct source; nil, err when the flow cannot be
-- written down (flow_source)
function Store:flow_id(flow)
  local id = self.flow_ids[flow]
  if id then return id end
  local kind, source = M.flow_source(flow)
  if not kind then return nil, source end
  id = core.sha256_hex(kind .. "\0" .. source)
  local ok, err, code = self:run("INSERT OR IGNORE INTO flows (id, name, path, kind, source, created_at)" ..
    " VALUES (?, ?, ?, ?, ?, ?)", id, flow.description, flow.source, kind, source, core.now())
  if not ok then return nil, err, code end
  self.flow_ids[flow] = id
  self.flows[id] = flow
  return id
end

-- the flow stored under id, loaded once
function Store:flow(id)
  local f = self.flows[id]
  if f then return f end
  local row, err = self:first("SELECT * FROM flows WHERE id = ?", id)
  if not row then return nil, err or format("flow %s is missing from the store", id) end
  local flowlib = require "rivulet.flow"
  local name = row.path or "stored flow"
  if row.kind == "lua" then f, err = flowlib.from_lua(row.source, name)
  else f, err = flowlib.from_json(row.source, name) end
  if not f then return nil, err end
  f.text, f.kind = row.source, row.kind
  self.flows[id], self.flow_ids[f] = f, id
  return f
end

-- ---- writes -----------------------------------------------------------------------------------

-- the token never reaches the file: the one given at open, else the engine's (set_token)
local function scrub(self, s)
  return self.scrub(s)
end

function Store:set_token(token)
  if self.token then return end
  self.token, self.scrub = token, redact.scrubber(token)
end

-- a wait's column (both stores)
local function encode_wait(w)
  if not w then return nil end
  return stored({ kind = w.kind, state = w.state, since = w.since, deadline = w.deadline,
                  props = w.props, data = w.data, child = w.child, watch = w.watch,
                  takes_reply = w.takes_reply, early = w.early })
end
M.encode_wait = encode_wait

local INSERT_EXEC = "INSERT INTO executions (sid, flow_id, flow_sid, flow_name, contact, channel," ..
  " holds_contact, trigger_event, parent_sid, status, failed, reason, state, last_state, repeats," ..
  " step_count, started_at, updated_at, ended_at, context, wait, wait_kind, due_at, watch, rev, owner, lease_until," ..
  " flow_version, initiated_by, trigger)" ..
  " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?)"
-- An active execution's row was active before (an ended one never goes on), so its write
-- leaves `status` out: SQLite then leaves the indexes on status alone (executions_status and
-- executions_contact), two of the seven pages a step's commit wrote (bench/store/steps.lua's
-- WAL, read frame by frame).
local UPDATE_SET = " failed = ?, reason = ?, state = ?, last_state = ?," ..
  " repeats = ?, step_count = ?, updated_at = ?, ended_at = ?, context = ?, wait = ?, wait_kind = ?," ..
  " due_at = ?, watch = ?, rev = rev + 1, takeovers = ?," ..
  " owner = ?, lease_until = ? WHERE sid = ? AND rev = ?"
local UPDATE_ACTIVE = "UPDATE executions SET" .. UPDATE_SET
local UPDATE_ENDED = "UPDATE executions SET status = 'ended'," .. UPDATE_SET
-- the trigger column once more: a row of schema 5 (trigger inline) at its first write
-- since, or a trigger replaced (encode_context); in the write's transaction
local UPDATE_TRIGGER = "UPDATE executions SET trigger = ? WHERE sid = ?"
local INSERT_STEP = "INSERT INTO steps (sid, execution_sid, idx, name, type, transitioned_from," ..
  " transitioned_to, date_created, reason, note, context) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"

-- tx(sql) -> true | nil, err, code: a transaction statement (BEGIN IMMEDIATE, COMMIT,
-- ROLLBACK, SAVEPOINT w, RELEASE w, ROLLBACK TO w), prepared once like the others: db:exec
-- parsed its text again at every write, a tenth of a write's CPU. (The specs fail or count
-- commits here.)
function Store:tx(sql)
  local st, err, code = self:stmt(sql)
  if not st then return nil, err, code end
  local ok
  ok, err, code = st:run()
  if not ok then return nil, err, code end
  return true
end

-- BEGIN IMMEDIATE, again while another process holds the lock past what the busy handler waits
local function begin_immediate(self)
  local ok, err, code = self:tx("BEGIN IMMEDIATE")
  if ok or (code ~= "busy" and code ~= "locked") then return ok, err, code end
  return patiently(function() return self:tx("BEGIN IMMEDIATE") end)
end

-- A write's transaction: of its own, or, inside a batch (begin_batch), a savepoint of the
-- batch's one transaction (so each write is still all or nothing, and a refused one
-- leaves the others of the batch alone). The batch's first write opens its transaction and
-- needs no savepoint (b.bare): it is all the transaction holds, so taking it back is a
-- ROLLBACK of the whole, which leaves the batch as it was before it (not open).
local function begin(self)
  local b = self.batch
  if not b then return begin_immediate(self) end
  if not b.open then
    local ok, err, code = begin_immediate(self)
    if not ok then return nil, err, code end
    b.open, b.bare = true, true
    return true
  end
  return self:tx("SAVEPOINT w")
end

-- a one-statement write inside a batch joins its transaction (outside one it is its own);
-- a method, as each store opens its transaction its own way (the writes below are shared)
function Store:join_batch()
  local b = self.batch
  if not b or b.open then return true end
  local ok, err, code = begin_immediate(self)
  if not ok then return nil, err, code end
  b.open = true
  return true
end

local function commit(self)
  local b = self.batch
  if not b then return self:tx("COMMIT") end
  if b.bare then
    b.bare = false               -- kept: the batch's COMMIT writes it
    return true
  end
  return self:tx("RELEASE w")
end

local function rollback(self, err, code)
  local b = self.batch
  if not b then
    self:tx("ROLLBACK")
  elseif b.bare then
    self:tx("ROLLBACK")
    b.open, b.bare = false, false
  else
    self:tx("ROLLBACK TO w")
    self:tx("RELEASE w")
  end
  return nil, err, code
end

-- begin_batch() / end_batch() -> true | nil, err, code, {exec = true, ...}: the writes
-- between them share one transaction, committed (one fsync) at end_batch. A host that
-- answers many events in one turn of its loop uses it, committing before anything those
-- events caused leaves the process. When the commit fails nothing of the batch is kept,
-- and end_batch names the executions written in it (their copies in memory are ahead of
-- the store).
function Store:begin_batch()
  if self.batch then error("a batch is open already", 2) end
  self.batch = { execs = {} }
end

function Store:end_batch()
  local b = self.batch
  self.batch = nil
  if not (b and b.open) then return true end
  local ok, err, code = self:tx("COMMIT")
  if ok then return true end
  self:tx("ROLLBACK")
  return nil, err, code, b.execs
end

-- write(exec, step, state) -> true | nil, err, code: one transaction holding the new step
-- (if any) and the execution as it stands, `state` being where it continues. code
-- "conflict": another process wrote this execution since we read it (exec.rev is stale);
-- "constraint" on a first write: the contact already has an active execution here.
function Store:write(exec, step, state)
  if self.readonly then error("the store is open read-only", 2) end
  local now = core.now()
  local ctx, trigger, trigger_set = M.encode_context(exec)
  ctx, trigger = scrub(self, ctx), trigger and scrub(self, trigger)
  local wait = scrub(self, encode_wait(exec.wait))
  local step_ctx = step and scrub(self, stored(step.context or {}))
  local running = exec.status == "active" and (not exec.wait or exec.wait.kind == "http")
  local owner = running and self.owner or nil
  local lease = running and now + M.LEASE_S or nil
  local ended = exec.status ~= "active"
  local status = ended and "ended" or "active"
  local w = exec.status == "active" and exec.wait or nil
  local wait_kind, due_at, watch = w and w.kind, w and w.deadline, w and w.watch
  local ok, err, code = begin(self)
  if not ok then return nil, err, code end
  if not exec.rev then
    local flow_id
    flow_id, err, code = self:flow_id(exec.flow)
    if not flow_id then return rollback(self, err, code) end
    local contact, channel = exec.context.contact.channel.address, exec.context.flow.channel.address
    ok, err, code = self:run(INSERT_EXEC, exec.sid, flow_id, exec.flow_sid, exec.flow_name,
      contact ~= nil and tostring(contact) or nil, channel ~= nil and tostring(channel) or nil,
      exec.contact_key and 1 or 0, exec.trigger_event, exec.parent_sid, status,
      exec.failed and 1 or 0, exec.reason, state, exec.last_state, exec.repeats, #exec.steps,
      exec.started_at, now, exec.ended_at, ctx, wait, wait_kind, due_at, watch, owner, lease,
      exec.flow_version, exec.initiated_by, trigger)
    if not ok then return rollback(self, err, code) end
  else
    -- takeovers count the claims of one widget run: a step (the widget finished) ends it
    ok, err, code = self:run(ended and UPDATE_ENDED or UPDATE_ACTIVE, exec.failed and 1 or 0, exec.reason, state,
      exec.last_state,
      exec.repeats, #exec.steps, now, exec.ended_at, ctx, wait, wait_kind, due_at, watch,
      step and 0 or exec.takeovers or 0,
      owner, lease, exec.sid, exec.rev)
    if not ok then return rollback(self, err, code) end
    if ok == 0 then
      return rollback(self, format("execution %s was changed by another process", exec.sid), "conflict")
    end
    if trigger_set then
      ok, err, code = self:run(UPDATE_TRIGGER, trigger, exec.sid)
      if not ok then return rollback(self, err, code) end
    end
  end
  if step then
    ok, err, code = self:run(INSERT_STEP, step.sid, exec.sid, #exec.steps, step.name, step.type,
      step.transitioned_from, step.transitioned_to, step.date_created, step.reason, step.note, step_ctx)
    if not ok then return rollback(self, err, code) end
  end
  ok, err, code = commit(self)
  if not ok then return rollback(self, err, code) end
  if self.batch then self.batch.execs[exec] = true end
  exec.rev, exec.updated_at = (exec.rev or 0) + 1, now
  if trigger_set then exec.stored_trigger = exec.context.trigger end
  if step then exec.takeovers = nil end
  return true
end

-- claim(exec) -> true | nil, err, code: this process takes over a running execution whose
-- owner is gone (only one process wins); exec.takeovers counts the claims since its last write
function Store:claim(exec)
  local ok, err, code = self:run("UPDATE executions SET rev = rev + 1, owner = ?, lease_until = ?," ..
    " takeovers = takeovers + 1 WHERE sid = ? AND rev = ?", self.owner, core.now() + self:lease(), exec.sid, exec.rev)
  if not ok then return nil, err, code end
  if ok == 0 then return nil, format("execution %s was taken over by another process", exec.sid), "conflict" end
  exec.rev = exec.rev + 1
  exec.takeovers = (exec.takeovers or 0) + 1
  return true
end

-- ---- reads ------------------------------------------------------------------------------------

-- whether a running execution's owner may still be at work on it
function Store:owner_alive(row, now)
  if not row.owner then return false end
  if row.owner == self.owner then return false end           -- this process: it is ours
  if row.lease_until and row.lease_until < (now or core.now()) then return false end
  local pid, host = row.owner:match("^(%d+)@(.*)$")
  if host == core.hostname() then return core.process_alive(math.tointeger(pid)) end
  return true
end

-- the execution row of sid, decoded (context, wait); false when there is none
function Store:execution(sid)
  local row, err, code = self:first("SELECT * FROM executions WHERE sid = ?", sid)
  if not row then return row, err, code end
  return M.decode_row(row)
end

function M.decode_row(row)
  local ctx, err = decode(row.context)
  if ctx == nil then return nil, format("execution %s: its stored context does not read back: %s", row.sid, err) end
  if row.trigger ~= nil then         -- schema 6: the trigger's own column, at the placeholder's place
    local tr
    tr, err = decode(row.trigger)
    if tr == nil then return nil, format("execution %s: its stored trigger does not read back: %s", row.sid, err) end
    if type(ctx) ~= "table" then
      return nil, format("execution %s: its stored context does not read back: not an object", row.sid)
    end
    ctx.trigger, row.trigger = tr, tr
  end
  row.context = ctx
  if row.wait then
    local w
    w, err = decode(row.wait)
    if type(w) ~= "table" then
      return nil, format("execution %s: its stored wait does not read back: %s", row.sid, tostring(err))
    end
    row.wait = w
  end
  row.failed = row.failed == 1
  return row
end

-- active executions, oldest first (rows, undecoded)
function Store:active_rows()
  return self:all("SELECT * FROM executions WHERE status = 'active' ORDER BY started_at, sid")
end

-- active executions with something to do at `now`: a wait whose deadline passed (a reply's,
-- a call's or an outcome's), a run cut off (no wait, or an HTTP call), a subflow wait (its
-- child may have ended). Those without a deadline have due_at NULL. Both halves read the
-- executions_due index (named: without ANALYZE statistics SQLite picks executions_status
-- and reads every active execution, 50 ms at 100,000 waiting); a wait whose deadline is
-- still ahead is not read at all, so `rivulet deliver` costs the same at any store size.
function Store:due_rows(now)
  return self:all("SELECT * FROM executions INDEXED BY executions_due WHERE status = 'active'" ..
    " AND due_at IS NULL UNION ALL SELECT * FROM executions INDEXED BY executions_due" ..
    " WHERE status = 'active' AND due_at <= ? ORDER BY started_at, sid", now)
end

-- an execution's revision | false (there is none) | nil, err, code
function Store:revision(sid)
  local row, err, code = self:first("SELECT rev FROM executions WHERE sid = ?", sid)
  if not row then return row, err, code end
  return row.rev
end

-- the active execution whose wait watches the delivery of outbound message msg_sid: its
-- sid | false | nil, err, code
function Store:watcher(msg_sid)
  local row, err, code = self:first("SELECT sid FROM executions WHERE watch = ? AND status = 'active'", msg_sid)
  if not row then return row, err, code end
  return row.sid
end

-- the active execution of a contact, if any: {sid, rev} | false
function Store:contact_execution(contact, channel)
  return self:first("SELECT sid, rev FROM executions WHERE contact IS ? AND channel IS ? AND" ..
    " status = 'active' AND holds_contact = 1", contact ~= nil and tostring(contact) or nil,
    channel ~= nil and tostring(channel) or nil)
end

-- steps of an execution, in order; with_context decodes each Step Context
local STEP_COLUMNS = "execution_sid, idx, sid, name, type, transitioned_from, transitioned_to, date_created," ..
  " reason, note"

function Store:steps(sid, with_context)
  local rows, err, code = self:all("SELECT " .. STEP_COLUMNS .. (with_context and ", context" or "") ..
    " FROM steps WHERE execution_sid = ? ORDER BY idx", sid)
  if not rows then return nil, err, code end
  if with_context then
    for _, r in ipairs(rows) do r.context = decode(r.context) end
  end
  return rows
end

-- the steps (no contexts) of every active execution in one read: {sid = {step, ...}}
function Store:active_steps()
  local rows, err, code = self:all("SELECT " .. STEP_COLUMNS .. " FROM steps WHERE execution_sid IN" ..
    " (SELECT sid FROM executions WHERE status = 'active') ORDER BY execution_sid, idx")
  if not rows then return nil, err, code end
  local by = {}
  for _, r in ipairs(rows) do
    local list = by[r.execution_sid]
    if not list then list = {}; by[r.execution_sid] = list end
    list[#list + 1] = r
  end
  return by
end

-- Lists page by keys, not offsets (a page stays right while rows are added): after = the
-- sid of the last row of the page before (the next page), before_sid = the sid of the first
-- row of the page after (the previous page). order: the columns rows sort by, the sid last.
local function page(self, sql, where, args, order, desc, f, key_sql, key_arg)
  local cmp, dir = desc and "<" or ">", desc and "DESC" or "ASC"
  local anchor = f.after or f.before_sid
  if f.before_sid then cmp, dir = desc and ">" or "<", desc and "ASC" or "DESC" end
  if anchor then
    where[#where + 1] = format("(%s) %s (%s)", order, cmp, key_sql)
    if key_arg ~= nil then args[#args + 1] = key_arg end
    args[#args + 1] = anchor
  end
  local cols = {}
  for c in order:gmatch("[^,%s]+") do cols[#cols + 1] = c .. " " .. dir end
  sql = sql .. (#where > 0 and (" WHERE " .. concat(where, " AND ")) or "") ..
    " ORDER BY " .. concat(cols, ", ") .. " LIMIT ?"
  args[#args + 1] = f.limit or self.NO_LIMIT
  local rows, err, code = self:all(sql, table.unpack(args, 1, #args))
  if not rows then return nil, err, code end
  if f.before_sid then          -- read backwards from the anchor: put them back in order
    local n = #rows
    for i = 1, n // 2 do rows[i], rows[n + 1 - i] = rows[n + 1 - i], rows[i] end
  end
  return rows
end

-- list{status=, failed=, since=, before=, flow=, flow_sid=, contact=, limit=, after=,
-- before_sid=} -> execution rows (no context), newest first
function Store:list(f)
  f = f or {}
  local where, args = {}, {}
  if f.status then where[#where + 1] = "status = ?"; args[#args + 1] = f.status end
  if f.failed ~= nil then where[#where + 1] = "failed = ?"; args[#args + 1] = f.failed and 1 or 0 end
  if f.since then where[#where + 1] = "started_at >= ?"; args[#args + 1] = f.since end
  if f.before then where[#where + 1] = "started_at < ?"; args[#args + 1] = f.before end
  if f.flow then where[#where + 1] = "flow_name = ?"; args[#args + 1] = f.flow end
  if f.flow_sid then where[#where + 1] = "flow_sid = ?"; args[#args + 1] = f.flow_sid end
  if f.contact then where[#where + 1] = "contact = ?"; args[#args + 1] = f.contact end
  local rows, err, code = page(self, "SELECT sid, flow_sid, flow_name, contact, channel, status, failed, reason," ..
    " state, trigger_event, parent_sid, step_count, started_at, updated_at, ended_at, flow_version, initiated_by" ..
    " FROM executions", where, args, "started_at, sid", true, f,
    "SELECT started_at, sid FROM executions WHERE sid = ?")
  if not rows then return nil, err, code end
  for _, r in ipairs(rows) do r.failed = r.failed == 1 end
  return rows
end

-- an execution's steps, a page of them: {after=, before_sid=, limit=} (no contexts)
function Store:step_page(sid, f)
  return page(self, "SELECT " .. STEP_COLUMNS .. " FROM steps", { "execution_sid = ?" }, { sid }, "idx", false, f or {},
    "SELECT idx FROM steps WHERE execution_sid = ? AND sid = ?", sid)
end

-- one step with its context | false
function Store:step(execution_sid, step_sid)
  local row, err, code = self:first("SELECT * FROM steps WHERE execution_sid = ? AND sid = ?", execution_sid, step_sid)
  if not row then return row, err, code end
  row.context = decode(row.context)
  return row
end

-- deletes an execution and its steps: true | false (there is none)
function Store:delete_execution(sid)
  local ok, err, code = begin(self)
  if not ok then return nil, err, code end
  ok, err, code = self:run("DELETE FROM steps WHERE execution_sid = ?", sid)
  local n
  if ok then n, err, code = self:run("DELETE FROM executions WHERE sid = ?", sid) end
  if not n then return rollback(self, err, code) end
  ok, err, code = commit(self)
  if not ok then return rollback(self, err, code) end
  return n > 0
end

-- ---- Studio's flows (rivulet serve): every update a revision --------------------------------

local FLOW_ROW = "SELECT f.sid, f.friendly_name, f.status, f.revision, f.published, f.origin, f.test_users," ..
  " f.date_created, f.date_updated, r.commit_message, r.kind, r.definition, r.valid, r.errors, r.warnings" ..
  " FROM studio_flows f JOIN flow_revisions r ON r.flow_sid = f.sid AND r.revision = f.revision"

-- which revisions of a Studio flow run (what every webhook asks): {sid, friendly_name,
-- origin, revision, published, test_users} | false
function Store:studio_flow_head(sid)
  return self:first("SELECT sid, friendly_name, origin, revision, published, test_users FROM studio_flows" ..
    " WHERE sid = ?", sid)
end

-- a Studio flow with its latest revision | false
function Store:studio_flow(sid)
  return self:first(FLOW_ROW .. " WHERE f.sid = ?", sid)
end

-- Studio flows in the order they were made: {after=, before_sid=, limit=}
function Store:studio_flows(f)
  return page(self, FLOW_ROW, {}, {}, "f.date_created, f.sid", false, f or {},
    "SELECT date_created, sid FROM studio_flows WHERE sid = ?")
end

-- the Studio flow whose file is `origin` (serve --flows) | false
function Store:studio_flow_from(origin)
  return self:first(FLOW_ROW .. " WHERE f.origin = ?", origin)
end

-- save_flow{sid, friendly_name, status, kind, definition, commit_message, valid, errors,
-- warnings, origin} -> the flow row: a new flow (sid new) or its next revision
function Store:save_flow(f)
  local now = core.now()
  local ok, err, code = begin(self)
  if not ok then return nil, err, code end
  local cur
  cur, err, code = self:first("SELECT revision, published FROM studio_flows WHERE sid = ?", f.sid)
  if cur == nil then return rollback(self, err, code) end
  local rev = cur and cur.revision + 1 or 1
  local published = f.status == "published" and rev or (cur and cur.published or nil)
  if cur then
    ok, err, code = self:run("UPDATE studio_flows SET friendly_name = ?, status = ?, revision = ?, published = ?," ..
      " date_updated = ? WHERE sid = ?", f.friendly_name, f.status, rev, published, now, f.sid)
  else
    ok, err, code = self:run("INSERT INTO studio_flows (sid, friendly_name, status, revision, published, origin," ..
      " date_created, date_updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", f.sid, f.friendly_name, f.status, rev,
      published, f.origin, now, now)
  end
  if ok then
    ok, err, code = self:run("INSERT INTO flow_revisions (flow_sid, revision, friendly_name, status, commit_message," ..
      " kind, definition, valid, errors, warnings, date_created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
      f.sid, rev, f.friendly_name, f.status, f.commit_message, f.kind or "json", f.definition,
      f.valid and 1 or 0, M.encode(f.errors or {}), M.encode(f.warnings or {}), now)
  end
  if ok then ok, err, code = commit(self) end
  if not ok then return rollback(self, err, code) end
  return self:studio_flow(f.sid)
end

-- a revision: n (a number), "LatestPublished" or "LatestRevision" | false
function Store:flow_revision(sid, n)
  if n == "LatestPublished" or n == "LatestRevision" then
    local f, err, code = self:first("SELECT revision, published FROM studio_flows WHERE sid = ?", sid)
    if not f then return f, err, code end
    n = n == "LatestRevision" and f.revision or f.published
    if not n then return false end
  end
  return self:first("SELECT * FROM flow_revisions WHERE flow_sid = ? AND revision = ?", sid, n)
end

-- a flow's revisions, newest first: {after=, before_sid=, limit=} (after/before: revision numbers)
function Store:flow_revisions(sid, f)
  f = f or {}
  local where, args = { "flow_sid = ?" }, { sid }
  if f.after then where[#where + 1] = "revision < ?"; args[#args + 1] = f.after end
  if f.before_sid then where[#where + 1] = "revision > ?"; args[#args + 1] = f.before_sid end
  local sql = "SELECT * FROM flow_revisions WHERE " .. concat(where, " AND ") ..
    (f.before_sid and " ORDER BY revision ASC" or " ORDER BY revision DESC") .. " LIMIT ?"
  args[#args + 1] = f.limit or self.NO_LIMIT
  local rows, err, code = self:all(sql, table.unpack(args, 1, #args))
  if not rows then return nil, err, code end
  if f.before_sid then
    local n = #rows
    for i = 1, n // 2 do rows[i], rows[n + 1 - i] = rows[n + 1 - i], rows[i] end
  end
  return rows
end

-- deletes a Studio flow and its revisions (executions stay, as Studio's logs do): true | false
function Store:delete_flow(sid)
  local ok, err, code = begin(self)
  if not ok then return nil, err, code end
  ok, err, code = self:run("DELETE FROM flow_revisions WHERE flow_sid = ?", sid)
  local n
  if ok then n, err, code = self:run("DELETE FROM studio_flows WHERE sid = ?", sid) end
  if not n then return rollback(self, err, code) end
  ok, err, code = commit(self)
  if not ok then return rollback(self, err, code) end
  return n > 0
end

-- test users: the contacts that run the flow's latest revision, draft or not
function Store:set_test_users(sid, list)
  local n, err, code = self:run("UPDATE studio_flows SET test_users = ? WHERE sid = ?", M.encode(list), sid)
  if not n then return nil, err, code end
  return n > 0
end

-- ---- webhook events --------------------------------------------------------------------------

-- take_event(key, execution_sid) -> true (first time) | false (Twilio sent it before: a
-- retry must not start or advance anything twice) | nil, err, code
-- With a payload (text), the event is kept until event_done: a process that stops between
-- answering Twilio and acting on the event leaves it pending, and pending_events gives it
-- to a process that acts on it (itself when it starts again, or another sharing the store).
-- The taker owns it for the store's lease (see pending_events); contact: whose it is.
function Store:take_event(key, execution_sid, payload, contact)
  local now = core.now()
  local n, err, code = self:join_batch()
  if not n then return nil, err, code end
  -- the primary key decides across processes (PostgreSQL: an insert of a key another
  -- process inserted in a transaction not yet committed waits for that commit)
  n, err, code = self:run("INSERT INTO webhook_events (sid, execution_sid, received_at, payload," ..
    " done, owner, lease_until, contact) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (sid) DO NOTHING",
    key, execution_sid, now, payload,
    payload and 0 or 1, payload and self.owner or nil, payload and now + self:lease() or nil,
    payload and contact ~= nil and tostring(contact) or nil)
  if not n then return nil, err, code end
  return n > 0
end

function Store:event_done(key)
  local ok, err, code = self:join_batch()
  if not ok then return nil, err, code end
  return self:run("UPDATE webhook_events SET done = 1, payload = NULL, owner = NULL, lease_until = NULL" ..
    " WHERE sid = ?", key)
end

-- the lease of what this process runs or holds (PostgreSQL's store has a setting)
function Store:lease()
  return M.LEASE_S
end

-- pending_events(keep?, limit?, contact?) -> {{sid, payload}, ...}, oldest first | nil, err, code:
-- the events taken and not yet acted on that are this process's to act on now, claimed
-- (owner: this process, the lease renewed) in one transaction, so that of several
-- processes sharing the store one alone acts on each. Claimed: an event whose owner is gone
-- (owner_alive: its pid on this host, its lease elsewhere) or is this process, and that
-- keep(row) accepts (rivulet serve refuses those it has in hand already). contact: that
-- contact's events only.
function Store:pending_events(keep, limit, contact)
  local ok, err, code = begin(self)
  if not ok then return nil, err, code end
  local rows
  if contact ~= nil then
    rows, err, code = self:all("SELECT sid, payload, owner, lease_until FROM webhook_events WHERE done = 0" ..
      " AND contact = ? ORDER BY received_at, sid LIMIT ?", tostring(contact), limit or self.NO_LIMIT)
  else
    rows, err, code = self:all("SELECT sid, payload, owner, lease_until FROM webhook_events WHERE done = 0" ..
      " ORDER BY received_at, sid LIMIT ?", limit or self.NO_LIMIT)
  end
  if not rows then return rollback(self, err, code) end
  local now, out = core.now(), {}
  for _, r in ipairs(rows) do
    if not self:owner_alive(r, now) and (not keep or keep(r)) then
      ok, err, code = self:run("UPDATE webhook_events SET owner = ?, lease_until = ? WHERE sid = ?",
        self.owner, now + self:lease(), r.sid)
      if not ok then return rollback(self, err, code) end
      out[#out + 1] = { sid = r.sid, payload = r.payload }
    end
  end
  ok, err, code = commit(self)
  if not ok then return rollback(self, err, code) end
  return out
end

-- counts of what the store holds: {executions, active, steps}
function Store:counts()
  local r, err, code = self:first("SELECT (SELECT count(*) FROM executions) AS executions," ..
    " (SELECT count(*) FROM executions WHERE status = 'active') AS active," ..
    " (SELECT count(*) FROM steps) AS steps")
  if not r then return nil, err, code end
  return r
end

-- how many steps of the executions of flow_sid took each transition (from, event, to),
-- every revision together: {{from =, event =, to =, n =}, ...} ordered by from, event, to
function Store:edge_counts(flow_sid)
  local rows, err, code = self:all("SELECT s.transitioned_from AS \"from\", s.name AS event," ..
    " s.transitioned_to AS \"to\", count(*) AS n FROM executions e JOIN steps s ON s.execution_sid = e.sid" ..
    " WHERE e.flow_sid = ? GROUP BY 1, 2, 3 ORDER BY 1, 2, 3", flow_sid)
  if not rows then return nil, err, code end
  return rows
end

-- the execution record of DESIGN.md §3 for sid | nil, err
function Store:record(sid)
  local row, err, code = self:execution(sid)
  if not row then return nil, err or format("no execution %s in %s", tostring(sid), self.path), code or "notfound" end
  local steps
  steps, err, code = self:steps(sid, true)
  if not steps then return nil, err, code end
  local out = {}
  for i, s in ipairs(steps) do
    out[i] = { sid = s.sid, execution_sid = sid, flow_sid = row.flow_sid, name = s.name, type = s.type,
               transitioned_from = s.transitioned_from, transitioned_to = s.transitioned_to,
               date_created = s.date_created, reason = s.reason, note = s.note, context = s.context }
  end
  local flow = require("rivulet.flow").short_name(row.flow_name)
  -- DESIGN.md's record, with the names Studio's Execution resource uses beside them
  return { sid = row.sid, flow = flow, flow_sid = row.flow_sid, status = row.status,
           failed = row.failed or nil, reason = row.reason, state = row.state,
           contact = row.contact, contact_channel_address = row.contact, channel = row.channel,
           started_at = row.started_at, ended_at = row.ended_at, date_created = row.started_at,
           date_updated = row.updated_at, steps = out, context = row.context }
end

-- PRAGMA integrity_check: true | nil, what it found
function Store:check()
  local rows, err = self:all("PRAGMA integrity_check")
  if not rows then return nil, err end
  if #rows == 1 and rows[1].integrity_check == "ok" then return true end
  local found = {}
  for i, r in ipairs(rows) do found[i] = r.integrity_check end
  return nil, concat(found, "; ")
end

return M
