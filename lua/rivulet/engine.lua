-- rivulet.engine: executions of flows, as a state machine over plain data.
--
--   local engine = rivulet.engine{ on_message = function(exec, msg) end, ... }
--   engine:handle{ kind = "message", from =, to =, body =, flow = }  -- the one door (below)
--   engine:start(flow, trigger)  engine:deliver{ from =, to =, body = }   -- Lua API forms of it
--   engine:poll(timeout_ms)                     -- drives HTTP calls and timers
--   engine:run()                                -- until every execution waits for a reply or ended
--
-- An execution is data: {sid, status, state, context, steps, wait?, reason?}. Widgets never
-- block: a widget that needs the outside world (a reply, an HTTP call, a subflow) returns a
-- wait, and the engine resumes it when poll or handle brings the answer. Widgets see only
-- their step (rivulet.step); executions taken over from a store are brought back by
-- rivulet.recovery; the store (rivulet.store) is the only place that knows SQL.
--
-- Options: on_message(exec, msg), on_end(exec), on_step(exec, step), on_http(exec, outcome,
-- request) (an HTTP call a widget made finished; request: what was sent, as the step's
-- context keeps it under `http`), on_call(exec, wait) (an
-- execution waits for its call to come back: wait.data.twiml says what Twilio must do
-- meanwhile; rivulet serve answers the call's webhook with it), keep_ended (false:
-- executions() forgets ended ones, for long-running hosts), http (a client with
-- run_function/http_request/poll/finished, as rivulet.http's) or http_options, auth_token,
-- account_sid (the account the flows run for: trigger.*.AccountSid, and with auth_token
-- Make HTTP Request's add_twilio_auth), url_map ({prefix = replacement}), function_map
-- ({ZH… = url}: Run Function widgets that name a function SID call that URL; Studio finds
-- the function by its SID, a local run by this map), liquid_objects ("studio", the
-- default: a hash prints as Studio prints it, {k=v, k2=v2}; "shopify": as Ruby's inspect,
-- {"k"=>"v"}), timezone, timeout_ms (HTTP calls), now (function
-- returning epoch seconds), subflows (map sid/name -> flow or path, or function(sid), or a
-- folder), limits = {same_widget, steps, wait_timeout, instructions}, store (a path or a
-- rivulet.store: executions are written there and the active ones resumed), synchronous
-- ("full" or "normal", for a store opened from a path), resume (false: do not resume on
-- open; "poll": take the executions in on open, but run nothing before the first poll or
-- handle; "due": take in only those with something to do now, for a process that handles
-- one delivery), on_store_error(exec, err, code), pack_waiting (seconds an execution
-- waits for a reply, a call or an outcome before it is kept as one string, rivulet.packed:
-- default PACK_IDLE_S; 0 at once; false never: more memory, no decoding when it goes on),
-- hot_path (false: Set Variables and Split Based On steps run through their Lua widgets
-- instead of rivulet.hot's C loop; the results are the same, spec/test_hot_path.lua).
--
-- With a store, every step is committed (the step, and the execution as it goes on) before
-- anything acts on it, and so is every wait: a run commits before each host callback and at
-- its wait (the engine's own batch, below), or a host commits its batch before anything
-- leaves (rivulet serve). When a write is refused (another process moved the execution on,
-- or the disk failed) the execution leaves this engine: its status here becomes "detached",
-- the store keeps it as last committed, and engine.store_error says why
-- (engine.store_error_code: the store's code, e.g. "full").

local core = require "rivulet.core"
local liquid = require "rivulet.liquid"
local flowlib = require "rivulet.flow"
local widgets = require "rivulet.widgets"
local sandbox = require "rivulet.sandbox"
local sidlib = require "rivulet.sid"
local steplib = require "rivulet.step"
local trigger_widget = require "rivulet.widgets.trigger"
local hot = require "rivulet.hot"

-- rivulet.recovery (with rivulet.store) and rivulet.packed load when first needed: only an
-- engine with a store recovers, and nothing is packed before an execution has rested, so
-- a cold `rivulet run` of a short flow loads neither
local recovery_mod
local function recovery()
  recovery_mod = recovery_mod or require "rivulet.recovery"
  return recovery_mod
end
-- rivulet.engine_call, the code of calls: loaded by calls() (defined below) when first needed
local call_mod, calls
local loaded = package.loaded
local function pack(exec)
  require("rivulet.packed").pack(exec)
end
-- only rivulet.packed packs: before it is loaded, no execution is packed
local function is_packed(exec)
  local p = loaded["rivulet.packed"]
  return p ~= nil and p.is_packed(exec)
end
local function peek(exec, key)
  local p = loaded["rivulet.packed"]
  if p then return p.peek(exec, key) end
  return exec[key]
end

local type, pairs, ipairs, tostring, error, setmetatable, pcall, next, rawget, getmetatable =
  type, pairs, ipairs, tostring, error, setmetatable, pcall, next, rawget, getmetatable

-- The engine's own HTTP client (no option http): a stand-in that becomes a rivulet.http
-- client the first time anything of it is read, so rivulet.http loads when a flow first
-- calls out (or a host asks for engine.http), and a run that calls nothing never loads it.
-- The options are copied now, as the client itself would copy them. rivulet run's
-- reporting client wraps one too.
local function lazy_client(options)
  if options ~= nil and type(options) ~= "table" then error("client options must be a table", 3) end
  local o = {}
  for k, v in pairs(options or {}) do o[k] = v end
  return setmetatable({}, { __index = function(t, k)
    local c = require("rivulet.http").client(o)
    setmetatable(t, nil)
    for key, v in pairs(c) do t[key] = v end
    setmetatable(t, getmetatable(c))
    return t[k]
  end })
end
local format = string.format
local floor, tonumber = math.floor, tonumber
local has_markup = liquid.has_markup
local sid = sidlib.new

local M = {}
M.lazy_client = lazy_client

-- the waits an execution rests in (nothing of it runs, no call is in flight): it is kept
-- packed (rivulet.packed) until something changes it or reads one of its tables
local AT_REST = { reply = true, call = true, event = true }

-- the events widgets fail with (run-function's fail, make-http-request's failed)
local FAILURE_EVENTS = { fail = true, failed = true }

-- Studio's limits, each overridable in the engine options.
M.LIMITS = {
  same_widget = 10,       -- a widget run this many times in a row ends the execution
  steps = 1000,           -- steps per execution
  wait_timeout = 3600,    -- Send & Wait's default timeout, seconds
  -- a wait on a call (a voice widget, an outcome decided outside) with no word from the
  -- call or the outside world for this long ends: the longest voice bound Studio has, TwiML
  -- Redirect's 4 h timeout and Connect Call To's 4 h time limit. Twilio's status callback
  -- ends a call's execution long before, when the number has one (README).
  call_wait = 14400,
  instructions = sandbox.INSTRUCTIONS, -- per call of custom Lua logic
}

-- When another process sharing the store runs the contact's execution, a patient delivery
-- (handle{patient = true}: rivulet deliver, one process per message) looks again every
-- RETRY_SLEEP_MS until the store's busy timeout; a lost race (the execution moved on
-- between our read and our write) is retried at once, MAX_RACES times.
M.RETRY_SLEEP_MS = 10
-- A waiting execution is packed (rivulet.packed: ~1 KB instead of ~5 KB, but ~175 us of
-- CPU to pack and unpack) once it has waited this long: a conversation that answers within
-- it pays nothing, one that waits for hours takes little memory. poll packs them, for at
-- most PACK_SLICE_MS each time, so a host's loop is never held long.
M.PACK_IDLE_S = 60
M.PACK_SLICE_MS = 1
M.MAX_RACES = 20

M.sid = sid

-- the hot path (rivulet.hot): Set Variables and Split Based On steps run in C. false turns
-- it off for engines made after (as the engine option hot_path = false does for one):
-- spec/test_hot_path.lua runs flows both ways
M.hot_path = true

-- a flow that never passed validation can hold anything: read its tables defensively
local function tbl(v)
  return type(v) == "table" and v or {}
end

local function shallow(t)
  local c = {}
  for k, v in pairs(t or {}) do c[k] = v end
  return c
end

-- ---- timers: a binary heap with lazy removal ----------------------------------------------
-- Three parallel arrays (when, execution, the wait's token) rather than a table per timer:
-- every waiting execution has one, and a table costs more than the three slots. The
-- executions are held weakly: a wait that ended leaves its timer here until its time (an
-- hour, for a Send & Wait), and the execution, ended, must not stay in memory for it.

local WEAK = { __mode = "v" }

local function new_heap()
  return { at = {}, exec = setmetatable({}, WEAK), token = {}, n = 0 }
end

local function heap_swap(h, i, j)
  local at, ex, tk = h.at, h.exec, h.token
  at[i], at[j] = at[j], at[i]
  ex[i], ex[j] = ex[j], ex[i]
  tk[i], tk[j] = tk[j], tk[i]
end

local function heap_push(h, at, exec, token)
  local n = h.n + 1
  h.n = n
  h.at[n], h.exec[n], h.token[n] = at, exec, token
  local a, i = h.at, n
  while i > 1 do
    local p = i // 2
    if a[p] <= a[i] then break end
    heap_swap(h, p, i)
    i = p
  end
end

-- removes the earliest timer -> its exec and token
local function heap_pop(h)
  local a, n = h.at, h.n
  local exec, token = h.exec[1], h.token[1]
  heap_swap(h, 1, n)
  a[n], h.exec[n], h.token[n] = nil, nil, nil
  n = n - 1
  h.n = n
  local i = 1
  while true do
    local l, r, m = 2 * i, 2 * i + 1, i
    if l <= n and a[l] < a[m] then m = l end
    if r <= n and a[r] < a[m] then m = r end
    if m == i then break end
    heap_swap(h, m, i)
    i = m
  end
  return exec, token
end

-- ---- the engine -------------------------------------------------------------------------

local Engine = {}
Engine.__index = Engine
M.Engine = Engine

-- new(options) -> engine | nil, err, code (only when the store cannot be opened or read;
-- code as the store's)
function M.new(opts)
  opts = opts or {}
  if type(opts) ~= "table" then error("engine options must be a table", 2) end
  local limits = shallow(M.LIMITS)
  for k, v in pairs(opts.limits or {}) do
    if limits[k] == nil then error(format("unknown engine limit '%s'", tostring(k)), 2) end
    limits[k] = v
  end
  local e = setmetatable({
    opts = opts,
    limits = limits,
    http = opts.http or lazy_client(opts.http_options),
    now = opts.now or core.now,
    active = {},          -- sid -> execution
    n_active = 0,
    by_contact = {},      -- "from\0to" -> execution
    calls = {},           -- sid -> the HTTP call it waits on (tagged with the sid)
    watching = {},        -- outbound message SID -> the execution whose wait watches its delivery
    timers = new_heap(),
    timer_seq = 0,        -- the last wait token (a timer is live while its wait holds its token)
    resting = M.new_resting(),  -- to pack, oldest first
    all = {},             -- every execution this engine ran, in order
    -- read once by the C renderer (core.liquid_options), not at every render
    render_prepared = core.liquid_options{ timezone = opts.timezone or liquid.DEFAULT_TIMEZONE,
                                           objects = opts.liquid_objects or "studio" },
  }, Engine)
  e.hot = M.hot_path and opts.hot_path ~= false
  if opts.liquid_objects ~= nil and opts.liquid_objects ~= "studio" and opts.liquid_objects ~= "shopify" then
    error("engine option 'liquid_objects' must be \"studio\" or \"shopify\"", 2)
  end
  if opts.store ~= nil then
    local st = opts.store
    if type(st) == "string" then
      local err, code
      st, err, code = require("rivulet.store").open(st, { scrub = opts.auth_token, synchronous = opts.synchronous })
      if not st then return nil, err, code end
    elseif type(st) ~= "table" or type(st.write) ~= "function" then
      error("engine option 'store' must be a file name or a rivulet.store", 2)
    elseif opts.auth_token then
      st:set_token(opts.auth_token)
    end
    e.store = st
    if opts.resume ~= false then
      local n, err, code = recovery().recover(e)
      if not n then return nil, err, code end
      e.resumed = n
    end
  end
  return e
end

function Engine:execution(id)
  local all = self.all
  for i = #all, 1, -1 do if all[i].sid == id then return all[i] end end   -- a reloaded copy is newer
  return nil
end

function Engine:executions()
  return self.all
end

-- rewrite URL prefixes (a deployed Functions domain to a local server)
function Engine:map_url(url)
  local map = self.opts.url_map
  if not map then return url end
  local best, to
  for from, repl in pairs(map) do   -- the longest prefix wins
    if url:sub(1, #from) == from and (not best or #from > #best) then best, to = from, repl end
  end
  if best then return to .. url:sub(#best + 1) end
  return url
end

-- the key of a contact's execution (the contact and the flow's own address)
local function contact_key(contact, channel)
  return tostring(contact) .. "\0" .. tostring(channel)
end
Engine.contact_key = contact_key

-- ---- the engine's tables --------------------------------------------------------------------

-- exec joins the engine's tables (active, and the contact's unless it is a subflow's child)
function Engine:hold(exec)
  self.active[exec.sid] = exec
  self.n_active = self.n_active + 1
  if exec.contact_key then self.by_contact[exec.contact_key] = exec end
  if self.opts.keep_ended ~= false then self.all[#self.all + 1] = exec end
end

-- the execution leaves the engine's tables (it ended, or the store took it away)
function Engine:release(exec)
  local w = exec.wait
  if w and w.watch and self.watching[w.watch] == exec then self.watching[w.watch] = nil end
  if self.active[exec.sid] == exec then
    self.active[exec.sid] = nil
    self.n_active = self.n_active - 1
  end
  self.calls[exec.sid] = nil
  exec.wait = nil
  if exec.contact_key and self.by_contact[exec.contact_key] == exec then self.by_contact[exec.contact_key] = nil end
end

-- this engine's copy is out of date: the store's is the execution now
function Engine:forget(exec)
  self:release(exec)
  exec.status, exec.detached, exec.reason = "detached", "reloaded", "another process moved it on"
end

-- a reply wait's timeout goes on the heap (a token, so a wait that ended meanwhile is
-- skipped; a number, as it must survive rivulet.packed)
function Engine:arm_timer(exec, at)
  local w = exec.wait
  self.timer_seq = self.timer_seq + 1
  w.token = self.timer_seq
  heap_push(self.timers, at, exec, w.token)
end

-- the queue of resting executions: weak, so one that ends (or moves on and is dropped)
-- before its PACK_IDLE_S is not held here meanwhile
function M.new_resting()
  return { exec = setmetatable({}, WEAK), wait = setmetatable({}, WEAK), at = {}, head = 1, tail = 0 }
end

-- whether exec still waits in w, as it did when it came to rest
local function still_resting(exec, w)
  return rawget(exec, "wait") == w and rawget(exec, "status") == "active" and not is_packed(exec)
end

-- exec, waiting in w, rests: nothing of it runs until the outside world answers, maybe for
-- hours, so once it has waited PACK_IDLE_S it is kept as one string (rivulet.packed)
local function rest(self, exec, w)
  local after = self.opts.pack_waiting
  if after == false or not AT_REST[w.kind] or not still_resting(exec, w) then return end
  if after == nil or after == true then after = M.PACK_IDLE_S end
  if after <= 0 then pack(exec) return end
  local q = self.resting
  local t = q.tail + 1
  q.exec[t], q.wait[t], q.at[t], q.tail = exec, w, self.now() + after, t
end

-- packs the executions that have rested long enough, until the monotonic clock reaches
-- deadline; those that moved on meanwhile are dropped from the queue
function Engine:pack_resting(deadline)
  local q = self.resting
  local now, h = self.now(), q.head
  while h <= q.tail and q.at[h] <= now do
    local exec, w = q.exec[h], q.wait[h]
    q.exec[h], q.wait[h], q.at[h] = nil, nil, nil
    h = h + 1
    if exec and w and still_resting(exec, w) then pack(exec) end
    if core.monotonic() >= deadline then break end
  end
  q.head = h
  if h > q.tail then self.resting = M.new_resting() end  -- their room back
end

-- the same for an execution taken in from the store (rivulet.recovery), once it waits again
function Engine:rest(exec)
  local w = rawget(exec, "wait")
  if w then rest(self, exec, w) end
end

-- ---- steps and ends ------------------------------------------------------------------------

local function mark_ended(self, exec, reason, failed)
  if exec.detached then return end     -- its batch failed (tell): it stays detached
  exec.status = "ended"
  exec.reason = reason
  exec.failed = failed or nil
  exec.ended_at = self.now()
  self:release(exec)
end

-- callbacks and the parent of a subflow learn of an end (once it is committed)
function Engine:announce_end(exec)
  self:tell("on_end", exec)
  local parent = exec.parent_sid and self.active[exec.parent_sid]
  if parent and parent.wait and parent.wait.kind == "subflow" and parent.wait.child == exec.sid then
    self:resume(parent, { kind = "subflow", exec = exec })
  end
end

function Engine:finish(exec, reason, failed)
  if exec.status ~= "active" then return end
  mark_ended(self, exec, reason, failed)
  if self:persist(exec, nil, exec.state) then self:announce_end(exec) end
end

-- Writes the execution (with its new step, if any; `state` is where it goes on) before
-- anything acts on it. false when the store refused: the execution leaves this engine.
function Engine:persist(exec, step, state)
  local st = self.store
  if not st then return true end
  if exec.detached then return false end   -- its batch failed (tell): nothing more of it
  local ok, err, code = st:write(exec, step, state)
  if ok then return true end
  self:detach(exec, err, code)
  return false
end

-- begin_batch() ... end_batch() -> true | nil, err, code: for a host answering many events
-- in one turn of its loop (rivulet serve): the store's writes between them share one
-- commit. Nothing a step did may leave the process before end_batch: HTTP calls go out at
-- the next poll, a host sends its answers after. When the commit fails, every execution
-- written in the batch leaves this engine (detached; the store keeps them as they were).
function Engine:begin_batch()
  local st = self.store
  if st and st.begin_batch then st:begin_batch() end
end

function Engine:end_batch()
  local st = self.store
  if not (st and st.end_batch) then return true end
  local ok, err, code, execs = st:end_batch()
  if ok then return true end
  for exec in pairs(execs) do
    if exec.status ~= "detached" then self:detach(exec, err, code) end
  end
  return nil, err, code
end

-- The engine's own batch (issue #17: one commit per run, not per step). An event runs its
-- execution to the next wait inside one batch (handle, poll), unless the host has one
-- open (rivulet serve: one per turn of its loop). What the run does before it tells the
-- host anything stays in that batch; a host callback is an outside effect (a message
-- printed or sent, an end reported), so the batch is committed first (tell). A process
-- that stops mid-run loses only steps that had no effect yet, and runs them again from
-- the last commit, as it ran them the first time. HTTP calls go out at the next poll,
-- after the commit that records the step that made them.
-- self.own_saved: a commit of this run wrote something; self.own_failed: {err, code} of
-- one that failed (its executions are detached)
local function own_commit(self)
  local b = self.store.batch
  local wrote = b and b.open
  local ok, err, code = self:end_batch()
  if not ok then self.own_failed = self.own_failed or { err, code }
  elseif wrote then self.own_saved = true end
  return ok ~= nil
end

local function own_done(self, ok, ...)
  self.own_batch = nil
  own_commit(self)
  if not ok then error((...), 0) end
  return ...
end

-- whether work starting now gets a batch of the engine's own: a store that batches, and
-- no batch open (the host's, or one of ours further up)
local function opens_own_batch(self)
  local st = self.store
  return st ~= nil and not st.batch and st.begin_batch ~= nil
end

local function in_own_batch(self, f, a, b)
  if not opens_own_batch(self) then return f(self, a, b) end
  self.store:begin_batch()
  self.own_batch, self.own_saved, self.own_failed = true, nil, nil
  return own_done(self, pcall(f, self, a, b))
end

-- commits what the engine's own batch holds so far, and goes on in a new one -> false when
-- that commit failed
local function commit_so_far(self)
  if not self.own_batch then return true end
  local ok = own_commit(self)
  self.store:begin_batch()
  return ok
end

-- tell(callback, ...) -> whether it was told: the host's callback opts[callback] is
-- called once what the engine's own batch holds is committed; when that commit fails,
-- nobody is told
function Engine:tell(callback, ...)
  local f = self.opts[callback]
  if not f then return true end
  if not commit_so_far(self) then return false end
  f(...)
  return true
end

function Engine:detach(exec, err, code)
  self:release(exec)
  exec.status, exec.reason, exec.detached = "detached", err, code or "error"
  self.store_error, self.store_error_code = err, code or "error"
  if self.opts.on_store_error then self.opts.on_store_error(exec, err, code) end
end

-- The step's context: its widget's outputs and the variables as they stood. Set Variables
-- replaces flow.variables rather than changing it, so the table can be shared.
local function snapshot(exec, name, outputs)
  return { widget = name, outputs = outputs, variables = exec.context.flow.variables }
end

-- each state's transitions by event, the first of an event winning (built on its first
-- step: a state does not change once loaded, as widget_of and state.liquid assume too)
local transitions_of = setmetatable({}, { __mode = "k" })

local function transitions_by_event(state)
  local by = {}
  for _, t in ipairs(tbl(state.transitions)) do
    if type(t) == "table" and t.event ~= nil and by[t.event] == nil then by[t.event] = t end
  end
  transitions_of[state] = by
  return by
end

-- why an execution ended on `event` out of `state`: a branch that ends (ended) or no
-- transition for it. The same few texts every time a flow ends its usual way: made once per
-- state and event (a format is a tenth of an execution that ends after its trigger).
local endings_of = setmetatable({}, { __mode = "k" })
local ENDINGS_MAX = 16      -- texts kept per state: its widget's events are a few; logic can make any

local function ending_of(state, event, ended)
  local by = endings_of[state]
  if not by then
    by = { [true] = {}, [false] = {}, n = 0 }
    endings_of[state] = by
  end
  local text = by[ended][event]
  if not text then
    if ended then text = format("'%s' ended the flow on '%s'", state.name, tostring(event))
    else text = format("no transition for event '%s' of '%s'", tostring(event), state.name) end
    if type(event) == "string" and by.n < ENDINGS_MAX then
      by[ended][event], by.n = text, by.n + 1
    end
  end
  return text
end

-- record the step for `event` out of `state`; returns the next state's name, or nil when
-- the execution ends here. why = {reason, message}: why the widget failed (a timeout, a
-- refused connection, a property that does not render...). It goes to the step (its
-- reason, and its note: the store and `rivulet logs` show both), never into the outputs a
-- template reads: Studio's outputs after such a failure are an empty map (REFERENCE.md §3,
-- §4).
function Engine:transition(exec, state, event, outputs, chosen, why)
  local tr = chosen
  if not tr then tr = (transitions_of[state] or transitions_by_event(state))[event] end
  local nx = tr and tr.next
  if nx == "" or type(nx) ~= "string" then nx = nil end     -- JSON null too: the branch ends
  -- why it failed: what the widget said (step:why) or, for a widget that still puts them
  -- there, its outputs' reason and message
  if not why and type(outputs) == "table" and outputs.reason ~= nil then
    why = { reason = outputs.reason, message = outputs.message }
  end
  local step = {
    sid = sid("FT"), name = event, type = state.type,
    transitioned_from = state.name, transitioned_to = nx or "Ended",
    date_created = self.now(), context = snapshot(exec, state.name, outputs),
  }
  -- only a failed widget's step has these: seven fields make a table of 8 slots, nine of 16
  if why then
    if why.reason ~= nil then step.reason = tostring(why.reason) end
    if why.message ~= nil then step.note = tostring(why.message) end
  end
  if exec.rerun then                                   -- rare: not a field of every step
    step.note = step.note and (exec.rerun .. "; " .. step.note) or exec.rerun
    exec.rerun = nil
  end
  -- the HTTP call the widget made (rivulet.step's record, with its outcome): the request
  -- beside the reply its outputs hold, for the inspector's timeline
  if exec.http_request then step.context.http, exec.http_request = exec.http_request, nil end
  exec.steps[#exec.steps + 1] = step
  local ending, failed
  if not tr then
    ending = ending_of(state, event, false)
    failed = FAILURE_EVENTS[event]                     -- a failure nobody handles fails the execution
    -- a failure nobody handles: say what failed, or the summary hides the cause
    local what = why and (why.message or why.reason)
    if what then ending = format("%s (%s)", ending, tostring(what)) end
  elseif not nx then
    ending = ending_of(state, event, true)
    local what = why and FAILURE_EVENTS[event] and (why.message or why.reason)
    if what then ending = format("%s (%s)", ending, tostring(what)) end
  end
  if ending then mark_ended(self, exec, ending, failed) end
  if self.store and not self:persist(exec, step, nx or state.name) then return nil end
  if self.opts.on_step then self:tell("on_step", exec, step) end
  if ending then self:announce_end(exec) end
  return nx
end

-- ---- rendering ------------------------------------------------------------------------------

-- Properties render lax, as Studio's do, and objects print as Studio prints them (the
-- option liquid_objects); each text is compiled once (rivulet.liquid's cache), and the C
-- renderer is called directly with options prepared once (a step is hot code).
--
-- templates[source] = the compiled template, or false for text without markup: one table
-- read per property on the hot path instead of two finds, a cache lookup and an options
-- table. Bounded, as rivulet.liquid's cache is: texts built at run time cannot grow it.
local TEMPLATES_MAX = 4096
local templates, ntemplates = {}, 0

function Engine:render(s, exec, name)
  if type(s) ~= "string" then return s end
  local t = templates[s]
  if t == nil then
    if has_markup(s) then
      local cerr
      t, cerr = liquid.compiled(s, name)
      if not t then error({ liquid = cerr }, 0) end
    else
      t = false
    end
    if ntemplates >= TEMPLATES_MAX then templates, ntemplates = {}, 0 end
    templates[s], ntemplates = t, ntemplates + 1
  end
  if not t then return s end
  local now
  if self.opts.now then                -- a simulated clock reaches "now" in Liquid too
    -- what the hot path read for the renders of a step it handed back (rivulet.hot): the
    -- same texts render here again, in the same order, and take those readings
    local q = self.replay_now
    if q then
      now = table.remove(q, 1)
      if q[1] == nil then self.replay_now = nil end
    else
      now = self.now()
    end
    now = floor(now)
  end
  local out, err = t:render(exec.context, self.render_prepared, name, now)
  if out == nil then error({ liquid = err }, 0) end
  return out
end

function Engine:render_deep(v, exec, path)
  if type(v) == "string" then return self:render(v, exec, path) end
  if type(v) ~= "table" then return v end
  local c = {}
  for k, x in pairs(v) do c[k] = self:render_deep(x, exec, path) end
  return c
end

local function any_liquid(v)
  if type(v) == "string" then return has_markup(v) end
  if type(v) == "table" then
    for _, x in pairs(v) do if any_liquid(x) then return true end end
  end
  return false
end

-- a state's properties for this run: rendered, or the state's own table when they hold
-- no Liquid (checked once per state)
function Engine:props(state, exec)
  local p = tbl(state.properties)
  local live = state.liquid
  if live == nil then
    live = any_liquid(p)
    state.liquid = live
  end
  if not live then return p end
  local w = widgets.get(state.type)
  local literal = w and w.literal_keys
  if not literal then return self:render_deep(p, exec, state.name) end
  -- keys of these {key, value} lists stay as written (Set Variables: "The key itself cannot
  -- be a Liquid variable", Twilio's Set Variables page, REFERENCE.md §7); values render
  local c = {}
  for k, v in pairs(p) do
    if literal[k] and type(v) == "table" then
      local list = {}
      for i, kv in pairs(v) do
        if type(kv) == "table" then
          local item = self:render_deep(kv, exec, state.name)
          item.key = kv.key
          list[i] = item
        else
          list[i] = self:render_deep(kv, exec, state.name)
        end
      end
      c[k] = list
    else
      c[k] = self:render_deep(v, exec, state.name)
    end
  end
  return c
end

-- ---- running states ---------------------------------------------------------------------------

-- the widget's failure event, if it has one
local function failure_event(state)
  local w = widgets.get(state.type)
  for _, e in ipairs(w and w.events or {}) do
    if FAILURE_EVENTS[e] then return e end
  end
  return nil
end

-- what a widget returned: an event (done) or a wait; returns the next state's name, or nil
-- when the execution waits or ended
function Engine:settle(exec, state, props, ok, ev, outs, chosen, why)
  if not ok then
    local liquid_err = type(ev) == "table" and ev.liquid
    local fev = liquid_err and failure_event(state)
    if fev then
      -- a property that does not render is the widget failing, as a bad reply would be:
      -- its outputs an empty map, the cause in the step
      local o = {}
      exec.context.widgets[state.name] = o
      return self:transition(exec, state, fev, o, nil, { reason = "liquid", message = liquid_err })
    end
    self:finish(exec, format("'%s' (%s) failed: %s", state.name, state.type, liquid_err or tostring(ev)), true)
    return nil
  end
  if type(ev) == "table" and ev.wait then
    local w = { kind = ev.wait, state = state.name, since = self.now(), props = props, data = ev.data,
                watch = ev.watch, takes_reply = ev.takes_reply }
    exec.wait = w
    local outside = ev.wait == "call" or ev.wait == "event"
    if ev.wait == "reply" then w.deadline = w.since + (tonumber(ev.timeout) or self.limits.wait_timeout)
    elseif ev.wait == "subflow" then w.child = ev.child.sid
    elseif outside then
      w.deadline = w.since + (tonumber(ev.timeout) or self.limits.call_wait)
      if ev.wait == "call" and self:call_is_over(exec) then
        exec.wait = nil
        self:end_call(exec, "call ended")     -- the caller hung up earlier: nobody to talk to
        return nil
      end
    end
    if not self:persist(exec, nil, state.name) then return nil end
    if ev.wait == "reply" or outside then
      self:arm_timer(exec, w.deadline)
      if w.watch then self.watching[w.watch] = exec end
      if ev.wait == "call" then self:tell("on_call", exec, w) end
    elseif ev.wait == "http" then
      self.calls[exec.sid] = ev.call
    elseif ev.wait == "subflow" then
      if ev.child.status ~= "active" then self:resume(exec, { kind = "subflow", exec = ev.child }) end
    end
    rest(self, exec, w)
    return nil
  end
  if type(ev) ~= "string" then
    self:finish(exec, format("'%s' (%s) returned no event", state.name, state.type), true)
    return nil
  end
  if outs ~= nil then exec.context.widgets[state.name] = outs end
  return self:transition(exec, state, ev, outs or exec.context.widgets[state.name] or {}, chosen, why)
end

-- the widget module of each state, found once (a state's type does not change)
local widget_of = setmetatable({}, { __mode = "k" })

-- a widget's properties for this step, then its run: one protected call per step. Returns
-- the properties, the widget's results and why it failed (step:why), if it said.
local function run_widget(self, w, exec, state)
  local props, st
  if w.renders_own then
    -- rivulet's own hot widgets keep nothing of their step once they return: one step
    -- object serves them all (rivulet.step's reuse)
    props = tbl(state.properties)
    st = steplib.reuse(self.own_step, self, exec, state, props)
    self.own_step = st
  else
    if w.render == false then props = tbl(state.properties) else props = self:props(state, exec) end
    st = steplib.new(self, exec, state, props)
  end
  local ev, outs, chosen = w.run(st)
  local why = st.failure
  if st == self.own_step then st._exec, st.context, st.props = nil, nil, nil end  -- holds no execution
  return props, ev, outs, chosen, why
end

function Engine:enter(exec, name)
  while name and exec.status == "active" do
    local flow = exec.flow
    local state = flow.by_name[name]
    if state and self.hot and hot.plan(state) then
      -- this step and the hot ones after it, in C; where it bails out, the Lua below runs
      -- the step as it runs any other
      local bailed
      name, bailed = hot.steps(self, exec, name, hot.plans)
      if not bailed then goto continue end
      state = flow.by_name[name]
    end
    if not state then
      self:finish(exec, format("no state named '%s'", tostring(name)), true)
      return
    end
    if #exec.steps >= self.limits.steps then
      self:finish(exec, format("more than %d steps", self.limits.steps), true)
      return
    end
    if exec.last_state == name then exec.repeats = exec.repeats + 1 else exec.last_state, exec.repeats = name, 1 end
    if exec.repeats > self.limits.same_widget then
      self:finish(exec, format("'%s' ran %d times in a row", name, self.limits.same_widget), true)
      return
    end
    local w = widget_of[state]
    if not w then
      local wok
      wok, w = pcall(widgets.get, state.type)
      if not wok then
        self:finish(exec, format("'%s': widget type '%s' failed to load: %s", name, tostring(state.type),
          tostring(w)), true)
        return
      end
      if not w or not w.run then
        self:finish(exec, format("'%s': widget type '%s' cannot run here", name, tostring(state.type)), true)
        return
      end
      widget_of[state] = w
    end
    exec.state = name
    local ok, props, ev, outs, chosen, why = pcall(run_widget, self, w, exec, state)
    if not ok then ev, props = props, nil end
    self.replay_now = nil                -- a step handed back took its readings, or never will
    name = self:settle(exec, state, props, ok, ev, outs, chosen, why)
    ::continue::
  end
end

-- A call's or an outcome's wait: an outcome chosen outside (input.kind "event") or no word
-- at all (a timeout) is the engine's to take, not the widget's (rivulet.engine_call). true
-- when it took it.
local function resume_outside(self, exec, input)
  local w = exec.wait
  if not (w and (w.kind == "call" or w.kind == "event")) then return false end
  if input.kind ~= "event" and input.kind ~= "timeout" then return false end
  return calls().resume_outside(self, exec, input)
end

-- a waiting widget gets its answer
function Engine:resume(exec, input)
  if exec.status == "active" and resume_outside(self, exec, input) then return end
  local w = exec.wait
  if not w or exec.status ~= "active" then return end
  if w.watch and self.watching[w.watch] == exec then self.watching[w.watch] = nil end
  exec.wait = nil
  self.calls[exec.sid] = nil
  local state = exec.flow.by_name[w.state]
  local widget = widgets.get(state.type)
  input.early = w.early
  local st = steplib.new(self, exec, state, w.props, w.data)
  local ok, ev, outs, chosen = pcall(widget.resume, st, input)
  self:enter(exec, self:settle(exec, state, w.props, ok, ev, outs, chosen, st.failure))
end

-- ---- calls ------------------------------------------------------------------------------

-- the execution at the top of exec's subflow chain (the one that holds the contact)
function Engine:root(exec)
  while exec.parent_sid do
    local parent = self.active[exec.parent_sid]
    if not parent then break end
    exec = parent
  end
  return exec
end

-- the SID of the call the execution talks to, or nil (rivulet.engine_call)
function Engine:call_sid(exec)
  return calls().call_sid(self, exec)
end

-- whether the caller hung up (the status callback said so) while exec did other things
function Engine:call_is_over(exec)
  return calls().call_is_over(self, exec)
end

-- the call is over: its whole subflow chain ends, the top first
function Engine:end_call(exec, reason)
  return calls().end_call(self, exec, reason)
end

-- ---- starting executions ----------------------------------------------------------------------

-- The SID of a flow that came without one (a Lua flow, a file): made at its first
-- execution and kept for the flow, as `flow.flow_sid` is the Flow's SID in Studio, the same
-- for each of its executions (REFERENCE.md §3, "flow.flow_sid"); weak, as flows are.
local stand_in_sids = setmetatable({}, { __mode = "k" })

local function flow_sid_of(flow)
  local s = flow.sid
  if s then return s end
  s = stand_in_sids[flow]
  if not s then
    s = sid("FW")
    stand_in_sids[flow] = s
  end
  return s
end

local function new_exec(self, flow, trigger)
  local ev = trigger.event or "incomingMessage"
  local api = self.opts.twilio
  local tctx, contact, channel = trigger_widget.context(trigger,
    self.opts.account_sid or (type(api) == "table" and api.account_sid or nil), self.now())
  local exec = {
    sid = sid("FN"), flow = flow, flow_sid = flow_sid_of(flow), flow_version = flow.revision,
    flow_name = flow.source or flow.description, status = "active", state = flow.initial_state,
    steps = {}, started_at = self.now(), repeats = 0, trigger_event = ev,
    -- what started it (Studio's initiated_by): the message or call, else the caller's say
    initiated_by = tctx.message and tctx.message.MessageSid or tctx.call and tctx.call.CallSid
      or trigger.initiated_by,
  }
  exec.context = {
    trigger = tctx,
    flow = { sid = exec.sid, flow_sid = exec.flow_sid, channel = { address = channel },
             data = ev == "incomingRequest" and (trigger.parameters or {}) or {}, variables = {} },
    contact = { channel = { address = contact } },
    widgets = {},
  }
  return exec
end

-- a new execution of flow (loaded) for trigger -> result (started | conflict | store_error)
local function start_exec(self, f, trigger)
  local exec = new_exec(self, f, trigger)
  if self.store then
    local _, ferr, fcode = self.store:flow_id(f)
    if ferr then return { code = "store_error", message = ferr, store_code = fcode } end
  end
  if exec.trigger_event ~= "incomingParent" then
    local key = contact_key(exec.context.contact.channel.address, exec.context.flow.channel.address)
    local other = self.by_contact[key]
    if other and other.status == "active" then
      return { code = "conflict", active_sid = other.sid,
               message = format("the contact already has an active execution %s", other.sid) }
    end
    exec.contact_key = key
  else
    exec.parent_sid = trigger.parent_sid
  end
  self:hold(exec)
  local init = f.by_name[f.initial_state]
  if not init then
    self:finish(exec, format("no initial state '%s'", tostring(f.initial_state)), true)
    return { code = "started", exec = exec, sid = exec.sid }
  end
  -- the trigger "widget" fires the event it was started with
  exec.state = init.name
  exec.last_state, exec.repeats = init.name, 1
  local nx = self:transition(exec, init, exec.trigger_event, {}, nil)
  if exec.status == "detached" then
    if exec.detached == "constraint" then
      local other = self.store:contact_execution(exec.context.contact.channel.address,
                                                 exec.context.flow.channel.address)
      return { code = "conflict", active_sid = other and other.sid or nil,
               message = format("the contact already has an active execution %s (in %s)",
                                other and other.sid or "?", self.store.path) }
    end
    return { code = "store_error", message = exec.reason, store_code = exec.detached }
  end
  self:enter(exec, nx)
  return { code = "started", exec = exec, sid = exec.sid }
end

-- a subflow's child (rivulet.step): exec | nil, err
function Engine:start_child(flow, trigger)
  local f, err = flowlib.load(flow)
  if not f then return nil, err end
  local r = start_exec(self, f, trigger)
  if r.code ~= "started" then return nil, r.message end
  return r.exec
end

-- a parent waiting on a subflow hands replies and timeouts to the child that waits
-- (a packed execution waits for the outside world, never for a subflow: it is not unpacked)
function Engine:innermost(exec)
  while exec and not is_packed(exec) and exec.wait and exec.wait.kind == "subflow" do
    local child = self.active[exec.wait.child]
    if not child then break end
    exec = child
  end
  return exec
end

-- ---- the one door: handle(event) -> result ----------------------------------------------------

-- Everything that comes from outside — a contact's message, a start (REST API, rivulet run,
-- rivulet_start), a timeout forced by a script, a timer tick — enters through handle, which
-- resumes the execution waiting for it or starts one, and says what happened as a result
-- with a machine-readable code. The CLI, the C API, the test runner and the server call
-- this and nothing else; engine:start and engine:deliver are its Lua API forms.
--
-- event.kind:
--   "message"  {from, to, body, media_url?, fields? (every field Twilio posted), flow?,
--              conversation?}: the contact's execution waiting for a reply takes it
--              (resumed); when the contact has none and `flow` is given, one starts with it
--              (started; trigger incomingMessage, or incomingConversationMessage).
--   "start"    {flow, trigger}: a new execution (started), unless the contact has an active
--              one (conflict).
--   "timeout"  {sid}: that execution's wait for a reply times out now (timed_out).
--   "tick"     due timers fire (ticked; result.fired).
--   "end"      {sid, reason?}: that execution ends now (ended).
--   "status"   {message_sid, status, error_code?}: a Messages status callback; failed or
--              undelivered ends the wait watching that message (resumed), others are noted.
--   "call"     {sid, token, callback, fields}: Twilio came back for the call execution sid
--              waits on (a Gather's action, a Redirect after a Say, a Dial's action, an
--              outgoing call answered…): the widget takes it (resumed) when token is its
--              wait's; a retried or late callback changes nothing (stale).
--   "flow_event" {event, fields?, sid | from, to, call_sid?}: the outside world decides the
--              outcome of the widget an execution waits in (Studio's TwiML Redirect return,
--              ?FlowEvent=return; the console's and the specs' chosen outcomes): the widget
--              takes `event` (one of its own) with `fields` as its outputs (resumed).
--   "call_status" {status, fields?, sid | from, to, call_sid?}: a call's status callback.
--              completed, busy, no-answer, failed or canceled: the call is over; a widget
--              waiting on it takes its hangup (or busy, noAnswer…) event if it has one, else
--              the execution ends, "call ended" (ended). Elsewhere (a function running after
--              a hangup) it is noted, and the next voice widget ends the execution.
-- event.patient: when another process sharing the store runs the execution, wait for it
-- (up to the store's busy timeout) instead of answering busy at once. A server never waits.
--
-- result = {code, exec?, sid?, active_sid?, message?}; codes:
--   started, resumed, timed_out, ticked, ended, noted     it happened
--   held          a reply taken while the prompt it answers is still being sent
--   conflict      start refused: the contact has an active execution (active_sid)
--   none          no active execution for the contact, and nothing to start
--   not_waiting   the execution waits for something else (ignored, as Studio does)
--   busy          it is between two steps (here, or in another process sharing the store)
--   bad_input     the event is malformed (message names the field)
--   store_error   the store failed or refused the write (message; store_code)
local KINDS = {}

local function bad(msg, ...)
  return { code = "bad_input", message = format(msg, ...) }
end

local function is_address(v)
  return v == nil or type(v) == "string" or math.type(v) == "integer"
end

function KINDS.start(self, ev)
  local trigger = ev.trigger
  if type(trigger) ~= "table" then return bad("a start needs a trigger (a table)") end
  local tev = trigger.event
  if tev == nil then tev = "incomingMessage" end
  if type(tev) ~= "string" or not trigger_widget.EVENTS[tev] then
    return bad("trigger.event: unknown trigger event '%s' (%s)", tostring(tev), trigger_widget.EVENT_LIST)
  end
  if not is_address(trigger.from) then return bad("trigger.from must be a string, not %s", type(trigger.from)) end
  if not is_address(trigger.to) then return bad("trigger.to must be a string, not %s", type(trigger.to)) end
  if trigger.body ~= nil and type(trigger.body) ~= "string" then
    return bad("trigger.body must be a string, not %s", type(trigger.body))
  end
  if trigger.parameters ~= nil and type(trigger.parameters) ~= "table" then
    return bad("trigger.parameters must be a table, not %s", type(trigger.parameters))
  end
  local f, err = flowlib.load(ev.flow)
  if not f then return { code = "bad_input", message = tostring(err), flow_error = true } end
  return start_exec(self, f, trigger)
end

-- the contact's execution, as this engine holds it after the store's latest copy
local function contact_exec(self, from, to)
  if self.store then
    local ok, err, code = recovery().refresh(self, from, to)
    if ok == "elsewhere" then
      return nil, { code = "busy", message = err }
    end
    if not ok then
      if code == "conflict" then return nil, { code = "race", message = err } end
      return nil, { code = "store_error", message = err, store_code = code }
    end
  end
  local exec = self.by_contact[contact_key(from, to)]
  if not exec or exec.status ~= "active" then return nil end
  return exec
end

-- one try of a message: resumed | none | not_waiting | busy | race | store_error
local function take_message(self, ev)
  local exec, r = contact_exec(self, ev.from, ev.to)
  if r then return r end
  if not exec then
    if ev.flow == nil then return { code = "none", message = "no active execution for this contact" } end
    local message = shallow(ev.fields)
    if ev.media_url then message.MediaUrl0, message.NumMedia = ev.media_url, "1" end
    local trigger = { event = "incomingMessage", from = ev.from, to = ev.to, body = ev.body, message = message }
    if ev.conversation then
      trigger.event, trigger.message, trigger.conversation = "incomingConversationMessage", nil, message
    end
    r = KINDS.start(self, { flow = ev.flow, trigger = trigger })
    if r.code == "conflict" then r.code = "race" end     -- another process started one just now
    return r
  end
  local top = exec
  exec = self:innermost(exec)
  if not exec.wait then
    return { code = "busy", exec = top, sid = top.sid,
             message = format("execution %s is running; it takes no reply until it waits for one", exec.sid) }
  end
  local w = exec.wait
  if w.kind ~= "reply" and not (w.takes_reply and not w.early) then
    return { code = "not_waiting", exec = top, sid = top.sid,
             message = format("execution %s is not waiting for a reply (ignored, as Studio does)", exec.sid) }
  end
  local m = shallow(ev.fields)
  m.Body, m.From, m.To = ev.body or "", ev.from, ev.to
  m.MessageSid = m.MessageSid or sid("SM")
  if ev.media_url then m.MediaUrl0 = ev.media_url end
  m.NumMedia = m.NumMedia or (m.MediaUrl0 and "1" or "0")
  if w.kind ~= "reply" then
    -- its prompt is still on its way to Twilio: the widget gets the reply once it is sent
    w.early = m
    if not self:persist(exec, nil, exec.state) then
      return { code = exec.detached == "conflict" and "race" or "store_error", message = exec.reason,
               store_code = exec.detached }
    end
    return { code = "held", exec = top, sid = top.sid }
  end
  self:resume(exec, { kind = "reply", message = m })
  if exec.status == "detached" then
    return { code = exec.detached == "conflict" and "race" or "store_error", message = exec.reason,
             store_code = exec.detached }
  end
  return { code = "resumed", exec = top, sid = top.sid }
end

function KINDS.message(self, ev)
  for _, k in ipairs{ "from", "to" } do
    if not is_address(ev[k]) then return bad("%s must be a string, not %s", k, type(ev[k])) end
  end
  if ev.body ~= nil and type(ev.body) ~= "string" then return bad("body must be a string, not %s", type(ev.body)) end
  if ev.fields ~= nil and type(ev.fields) ~= "table" then return bad("fields must be a table") end
  local deadline = ev.patient and self.store and core.monotonic() + self.store.busy_timeout_ms / 1000
  local races = 0
  while true do
    local r = take_message(self, ev)
    if r.code == "race" then
      races = races + 1
      if races > M.MAX_RACES then
        r.code = "busy"
        return r
      end
    elseif r.code == "busy" and deadline and core.monotonic() <= deadline then
      commit_so_far(self)                -- the other process needs the write lock to go on
      core.sleep(M.RETRY_SLEEP_MS)
    else
      return r
    end
  end
end

-- waits that time out: a reply's, and a call's or an outcome's (no word from outside)
local TIMES_OUT = { reply = true, call = true, event = true }

function KINDS.timeout(self, ev)
  local exec = self.active[ev.sid]
  if not exec then return { code = "none", message = format("no active execution %s here", tostring(ev.sid)) } end
  local w = self:innermost(exec)
  if not (w.wait and TIMES_OUT[w.wait.kind]) then
    return { code = "not_waiting", exec = exec, sid = exec.sid,
             message = format("execution %s is not waiting for a reply", tostring(ev.sid)) }
  end
  w.wait.token = nil
  self:resume(w, { kind = "timeout" })
  return { code = "timed_out", exec = exec, sid = exec.sid }
end

function KINDS.tick(self)
  return { code = "ticked", fired = self:fire_timers() }
end

-- an execution held here, or the store's latest copy of it: exec | nil, result. One this
-- engine is running an HTTP call for is leased to this process (no other moves it), and
-- reloading it would run that widget again: it is taken as held.
local function held(self, id)
  local mine = self.active[id]
  local inner = mine and self:innermost(mine)
  if self.store and not (inner and inner.wait and inner.wait.kind == "http") then
    local ok, err, code = recovery().reload(self, id)
    if ok == "elsewhere" then return nil, { code = "busy", message = err } end
    if not ok then
      if code == "notfound" or err and not code then return nil, { code = "none", message = err } end
      return nil, { code = "store_error", message = err, store_code = code }
    end
  end
  local exec = self.active[id]
  if not exec then return nil, { code = "none", message = format("no active execution %s", tostring(id)) } end
  return exec
end

-- "end" {sid, reason?}: the execution ends now, wherever it stands (Studio's
-- Status=ended; rivulet end; Ctrl-C in rivulet run), with a step "ended" from the state it
-- stood in, so its log says where and why. Its subflows end with it.
KINDS["end"] = function(self, ev)
  local exec, r = held(self, ev.sid)
  if not exec then return r end
  local reason = ev.reason or "ended by request"
  -- the parent first, so it does not go on when its subflow ends
  local child = exec.wait and exec.wait.kind == "subflow" and self.active[exec.wait.child]
  if exec.status == "active" then
    local state = exec.flow.by_name[exec.state]
    local step = { sid = sid("FT"), name = "ended", type = state and state.type, transitioned_from = exec.state,
                   transitioned_to = "Ended", date_created = self.now(), context = snapshot(exec, exec.state, {}),
                   reason = reason }
    exec.steps[#exec.steps + 1] = step
    mark_ended(self, exec, reason)
    if self:persist(exec, step, exec.state) then
      self:tell("on_step", exec, step)
      self:announce_end(exec)
    end
  end
  if child then KINDS["end"](self, { sid = child.sid, reason = reason }) end
  if exec.status == "detached" then
    return { code = "store_error", message = exec.reason, store_code = exec.detached }
  end
  return { code = "ended", exec = exec, sid = exec.sid }
end

-- the delivery failures of Twilio's MessageStatus
local UNDELIVERED = { failed = true, undelivered = true }

-- "status" {message_sid, status, error_code?}: a Messages status callback. A failed or
-- undelivered message ends the wait that watches it (Send & Wait's deliveryFailure); any
-- other status is noted and changes nothing.
function KINDS.status(self, ev)
  if type(ev.message_sid) ~= "string" then return bad("message_sid must be a string") end
  if not UNDELIVERED[ev.status] then return { code = "noted", message = format("status %s", tostring(ev.status)) } end
  local exec = self.watching[ev.message_sid]
  if not exec and self.store then
    local id, err, code = self.store:watcher(ev.message_sid)
    if id == nil then return { code = "store_error", message = err, store_code = code } end
    if id then
      local r
      exec, r = held(self, id)
      if not exec then return r end
      exec = self:innermost(exec)
    end
  end
  local w = exec and exec.status == "active" and exec.wait
  if not (w and w.kind == "reply" and w.watch == ev.message_sid) then
    return { code = "none", message = format("no execution waits on message %s", ev.message_sid) }
  end
  self.watching[ev.message_sid] = nil
  w.token = nil
  self:resume(exec, { kind = "delivery_failure", status = ev.status, error_code = ev.error_code })
  return { code = "resumed", exec = exec, sid = exec.sid }
end

-- ---- calls and outcomes ----------------------------------------------------------------

-- a call's final statuses (Twilio's CallStatus): the call is over
M.CALL_OVER = { completed = true, busy = true, ["no-answer"] = true, failed = true, canceled = true }

-- "call", "flow_event", "call_status": a call's callbacks and the outcomes decided outside
-- (rivulet.engine_call)
function KINDS.call(self, ev) return calls().call(self, ev) end
function KINDS.flow_event(self, ev) return calls().flow_event(self, ev) end
function KINDS.call_status(self, ev) return calls().call_status(self, ev) end

-- The code of calls (the call an execution talks to, a call's callbacks and outcomes, the
-- HTTP calls' answers) is rivulet.engine_call's, loaded the first time an execution needs
-- it: a run of a message flow that calls nothing never compiles it.
calls = function()
  if not call_mod then
    call_mod = require "rivulet.engine_call"
    call_mod.bind(M, { bad = bad, is_address = is_address, held = held, contact_exec = contact_exec })
  end
  return call_mod
end

local function handle(self, ev)
  if self.to_revive then recovery().revive_all(self, self.to_revive) end
  return KINDS[ev.kind](self, ev)
end

function Engine:handle(ev)
  if type(ev) ~= "table" then error("handle expects an event table", 2) end
  if not KINDS[ev.kind] then error(format("unknown event kind '%s'", tostring(ev.kind)), 2) end
  local own = opens_own_batch(self)
  local r = in_own_batch(self, handle, ev)
  if not own then return r end            -- inside a batch: its owner hears of a failure
  local failed = self.own_failed
  self.own_failed = nil
  -- nothing of it reached the store: not taken (a write that failed said why already: a
  -- full disk can roll the transaction back, and its commit then fails for that)
  if failed and not self.own_saved and r.code ~= "store_error" then
    return { code = "store_error", message = failed[1], store_code = failed[2] }
  end
  return r
end

-- start(flow, trigger) -> execution | nil, err (the contact already has one running)
function Engine:start(flow, trigger)
  local r = self:handle{ kind = "start", flow = flow, trigger = trigger or {} }
  if r.code == "started" then return r.exec end
  if r.code == "bad_input" and not r.flow_error then error(r.message, 2) end   -- the caller's trigger
  return nil, r.message
end

-- deliver{from=, to=, body=, media_url=?} -> execution | nil, err, code; code "none" (no
-- active execution for the contact), "running" (it is between steps, here or in another
-- process sharing the store), "not_waiting" (it waits for something else: ignored, as
-- Studio does), or a store error's code
function Engine:deliver(msg)
  if type(msg) ~= "table" then error("deliver expects a message table", 2) end
  local r = self:handle{ kind = "message", from = msg.from, to = msg.to, body = msg.body,
                         media_url = msg.media_url, fields = msg.sid and { MessageSid = msg.sid } or nil }
  if r.code == "resumed" or r.code == "held" then return r.exec end
  local code = r.code == "busy" and "running" or r.code == "store_error" and (r.store_code or "error") or r.code
  return nil, r.message, code
end

-- an execution waiting for a reply times out now (scripts and tests)
function Engine:timeout(exec)
  return self:handle{ kind = "timeout", sid = exec.sid }.code == "timed_out"
end

-- ---- time and calls ------------------------------------------------------------------------------

-- whether a timer is still live: the wait that armed it holds its token. Read without
-- unpacking: a wait that ended leaves its timer behind, and the execution may be packed at
-- its next wait by then.
local function timer_live(exec, token)
  if not exec or exec.status ~= "active" then return false end
  local w = peek(exec, "wait")
  return w ~= nil and w.token == token
end

function Engine:fire_timers()
  local now, h, fired = self.now(), self.timers, 0
  while h.n > 0 and h.at[1] <= now do
    local exec, token = heap_pop(h)
    if timer_live(exec, token) then
      fired = fired + 1
      self:resume(exec, { kind = "timeout" })
    end
  end
  return fired
end

-- when the next live timer is due (epoch seconds), or nil; drops the ones whose wait ended
function Engine:next_deadline()
  local h = self.timers
  while h.n > 0 do
    if timer_live(h.exec[1], h.token[1]) then return h.at[1] end
    heap_pop(h)
  end
  return nil
end

-- a store shared by several processes: take the executions with work for anyone
-- (rivulet.recovery.sweep) -> count | nil, err, code
function Engine:take_due(limit)
  return recovery().sweep(self, limit)
end

function Engine:pending_calls()
  return next(self.calls) ~= nil
end

-- resume every execution whose HTTP call finished (rivulet.engine_call)
function Engine:collect_calls()
  return calls().collect_calls(self)
end

-- poll(timeout_ms) -> active executions; drives HTTP and timers, waiting at most timeout_ms
-- The transfers move first, the timers fire after: a call a timer (or a revived execution)
-- starts goes out at the next poll, so inside a batch (begin_batch) it leaves only after
-- the commit that records the step that made it.
local function poll(self, timeout_ms)
  local wait = timeout_ms
  local h = self.timers.n > 0 and self.timers.at[1]
  if self.to_revive then wait = 0
  elseif h then wait = math.max(0, math.min(wait, floor((h - self.now()) * 1000))) end
  if next(self.calls) then
    self.http:poll(wait)
    self:collect_calls()
  elseif wait > 0 and h then
    core.sleep(wait)
  end
  if self.to_revive then recovery().revive_all(self, self.to_revive) end
  self:fire_timers()
  local q = self.resting                 -- packing's clock read only when one is due
  if q.head <= q.tail and q.at[q.head] <= self.now() then
    self:pack_resting(core.monotonic() + M.PACK_SLICE_MS / 1000)
  end
end

function Engine:poll(timeout_ms)
  in_own_batch(self, poll, timeout_ms or 0)
  return self.n_active
end

-- run() -> active executions, once none can move without a reply (or a distant timer)
function Engine:run()
  while next(self.calls) do self:poll(100) end
  in_own_batch(self, Engine.fire_timers)
  return self.n_active
end

-- the execution record (DESIGN.md §3): plain data, JSON-ready
function M.record(exec)
  local steps = {}
  for i, s in ipairs(exec.steps) do
    steps[i] = { sid = s.sid, name = s.name, type = s.type, transitioned_from = s.transitioned_from,
                 transitioned_to = s.transitioned_to, date_created = s.date_created, reason = s.reason,
                 note = s.note }
  end
  return { sid = exec.sid, flow = flowlib.short_name(exec.flow_name), flow_sid = exec.flow_sid,
           status = exec.status, reason = exec.reason, state = exec.state, started_at = exec.started_at,
           ended_at = exec.ended_at, steps = steps, context = exec.context }
end

return M
