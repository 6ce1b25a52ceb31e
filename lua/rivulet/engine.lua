-- rivulet.engine: executions of flows, as a state machine over plain data.
--
--   local engine = rivulet.engine{ on_message = function(exec, msg) end, ... }
--   local exec = engine:start(flow, { event = "incomingMessage", from = "+1555…", to = "+1555…", body = "hi" })
--   engine:deliver{ from =, to =, body = }      -- a reply to the contact's waiting execution
--   engine:poll(timeout_ms)                     -- drives HTTP calls and timers
--   engine:run()                                -- until every execution waits for a reply or ended
--
-- An execution is data: {sid, status, state, context, steps, wait?, reason?}. Widgets never
-- block: a widget that needs the outside world (a reply, an HTTP call, a subflow) returns a
-- wait, and the engine resumes it when poll or deliver brings the answer.
--
-- Options: on_message(exec, msg), on_end(exec), keep_ended (false: executions() forgets
-- ended ones, for long-running hosts), http (a rivulet.http client) or
-- http_options, auth_token, url_map ({prefix = replacement}), timezone, now (function
-- returning epoch seconds), subflows (map sid/name -> flow or path, or function(sid)),
-- limits = {same_widget, steps, wait_timeout}, store (a path or a rivulet.store: executions
-- are written there and the active ones resumed; see below), synchronous ("full" or
-- "normal", for a store opened from a path), resume (false: do not resume on open; "poll":
-- take the executions in on open, but run nothing before the first poll or deliver; "due":
-- take in only those with something to do now, for a process that handles one delivery),
-- on_store_error(exec, err, code).
--
-- With a store, every step is committed (the step, and the execution as it goes on) before
-- anything acts on it, and so is every wait. When a write is refused (another process moved
-- the execution on, or the disk failed) the execution leaves this engine: its status here
-- becomes "detached", the store keeps it as last committed, and engine.store_error says why.

local core = require "rivulet.core"
local liquid = require "rivulet.liquid"
local flowlib = require "rivulet.flow"
local widgets = require "rivulet.widgets"
local http = require "rivulet.http"

local type, pairs, ipairs, tostring, error, setmetatable, pcall, next =
  type, pairs, ipairs, tostring, error, setmetatable, pcall, next
local format, find, sub = string.format, string.find, string.sub
local floor, tonumber = math.floor, tonumber

local M = {}

-- the events widgets fail with (run-function's fail, make-http-request's failed)
local FAILURE_EVENTS = { fail = true, failed = true }

-- Studio's limits, each overridable in the engine options.
M.LIMITS = {
  same_widget = 10,       -- a widget run this many times in a row ends the execution
  steps = 1000,           -- steps per execution
  wait_timeout = 3600,    -- Send & Wait's default timeout, seconds
  instructions = 10000000, -- per call of custom Lua logic
}

-- SIDs: a two-letter prefix and 32 hex digits: 96 random bits per engine module (from the
-- system's generator: stored SIDs must not repeat across processes) and a counter; unique,
-- and cheap enough to make one per step.
local sid_base = core.random_hex(12)
local sid_count = tonumber(core.random_hex(3), 16)
local function sid(prefix)
  sid_count = (sid_count + 1) & 0xffffffff
  return format("%s%s%08x", prefix, sid_base, sid_count)
end
M.sid = sid

-- a flow that never passed validation can hold anything: read its tables defensively
local function tbl(v)
  return type(v) == "table" and v or {}
end

local function shallow(t)
  local c = {}
  for k, v in pairs(t or {}) do c[k] = v end
  return c
end

-- ---- timers: a binary heap of {at, exec, token} with lazy removal ----------------------

local function heap_push(h, e)
  h[#h + 1] = e
  local i = #h
  while i > 1 do
    local p = i // 2
    if h[p].at <= h[i].at then break end
    h[p], h[i] = h[i], h[p]
    i = p
  end
end

local function heap_pop(h)
  local top, n = h[1], #h
  h[1] = h[n]
  h[n] = nil
  n = n - 1
  local i = 1
  while true do
    local l, r, m = 2 * i, 2 * i + 1, i
    if l <= n and h[l].at < h[m].at then m = l end
    if r <= n and h[r].at < h[m].at then m = r end
    if m == i then break end
    h[m], h[i] = h[i], h[m]
    i = m
  end
  return top
end

-- ---- the engine -------------------------------------------------------------------------

local Engine = {}
Engine.__index = Engine
M.Engine = Engine

-- new(options) -> engine | nil, err (only when the store cannot be opened or read)
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
    http = opts.http or http.client(opts.http_options),
    now = opts.now or core.now,
    active = {},          -- sid -> execution
    n_active = 0,
    by_contact = {},      -- "from\0to" -> execution
    calls = {},           -- sid -> pending HTTP call (in memory only)
    timers = {},
    all = {},             -- every execution this engine ran, in order
    templates = {},       -- property text -> compiled template
    render_opts = { timezone = opts.timezone or liquid.DEFAULT_TIMEZONE, name = "template" },
  }, Engine)
  -- with a client of its own that reports finished calls, the engine visits only those
  -- (collect_finished); call_sid: call -> sid of the execution waiting on it
  if not opts.http and e.http.track_finished then
    e.http:track_finished()
    e.call_sid = setmetatable({}, { __mode = "k" })
  end
  if opts.store ~= nil then
    local st = opts.store
    if type(st) == "string" then
      local err
      st, err = require("rivulet.store").open(st, { scrub = opts.auth_token, synchronous = opts.synchronous })
      if not st then return nil, err end
    elseif type(st) ~= "table" or type(st.write) ~= "function" then
      error("engine option 'store' must be a file name or a rivulet.store", 2)
    elseif st.scrub == nil then
      st.scrub = opts.auth_token
    end
    e.store = st
    if opts.resume ~= false then
      local n, err = e:recover()
      if not n then return nil, err end
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
  local best, to
  for from, repl in pairs(self.opts.url_map or {}) do   -- the longest prefix wins
    if sub(url, 1, #from) == from and (not best or #from > #best) then best, to = from, repl end
  end
  if best then return to .. sub(url, #best + 1) end
  return url
end

-- ---- context -----------------------------------------------------------------------------

local function contact_key(contact, channel)
  return tostring(contact) .. "\0" .. tostring(channel)
end

local TRIGGER_EVENTS = {
  incomingMessage = true, incomingCall = true, incomingConversationMessage = true,
  incomingRequest = true, incomingParent = true,
}

-- the trigger's part of the context, and who the contact and the channel are
local function trigger_context(tr)
  local ev = tr.event or "incomingMessage"
  local t, contact, channel = {}, tr.from, tr.to
  if ev == "incomingMessage" then
    local m = shallow(tr.message)
    m.Body = tr.body or m.Body or ""
    m.From = tr.from or m.From
    m.To = tr.to or m.To
    m.MessageSid = m.MessageSid or sid("SM")
    m.AccountSid = m.AccountSid or "AC00000000000000000000000000000000"
    m.NumMedia = m.NumMedia or "0"
    t.message = m
  elseif ev == "incomingCall" then
    local c = shallow(tr.call)
    c.From, c.To = tr.from or c.From, tr.to or c.To
    c.Caller, c.Called = c.Caller or c.From, c.Called or c.To
    c.CallSid = c.CallSid or sid("CA")
    c.CallStatus = c.CallStatus or "ringing"
    c.Direction = c.Direction or "inbound"
    t.call = c
  elseif ev == "incomingConversationMessage" then
    local c = shallow(tr.conversation)
    c.Body = tr.body or c.Body or ""
    c.From = tr.from or c.From
    c.ConversationSid = c.ConversationSid or sid("CH")
    c.MessageSid = c.MessageSid or sid("IM")
    t.conversation = c
  elseif ev == "incomingRequest" then
    -- REST: `from` is the flow's own address and `to` the contact (Studio's Executions API)
    t.request = { from = tr.from, to = tr.to, parameters = tr.parameters or {} }
    contact, channel = tr.to, tr.from
  elseif ev == "incomingParent" then
    t.parent = { parameters = tr.parameters or {} }
    for k, v in pairs(tr.parent_trigger or {}) do if t[k] == nil then t[k] = v end end
  end
  return t, contact, channel
end

-- ---- steps and ends ------------------------------------------------------------------------

-- the execution leaves the engine's tables (it ended, or the store took it away)
function Engine:release(exec)
  if self.active[exec.sid] == exec then
    self.active[exec.sid] = nil
    self.n_active = self.n_active - 1
  end
  self.calls[exec.sid] = nil
  exec.wait = nil
  if exec.contact_key and self.by_contact[exec.contact_key] == exec then self.by_contact[exec.contact_key] = nil end
end

local function mark_ended(self, exec, reason, failed)
  exec.status = "ended"
  exec.reason = reason
  exec.failed = failed or nil
  exec.ended_at = self.now()
  self:release(exec)
end

-- callbacks and the parent of a subflow learn of an end (once it is committed)
function Engine:announce_end(exec)
  if self.opts.on_end then self.opts.on_end(exec) end
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

-- ---- the store ------------------------------------------------------------------------------

-- Writes the execution (with its new step, if any; `state` is where it goes on) before
-- anything acts on it. false when the store refused: the execution leaves this engine.
function Engine:persist(exec, step, state)
  local st = self.store
  if not st then return true end
  local ok, err, code = st:write(exec, step, state)
  if ok then return true end
  self:detach(exec, err, code)
  return false
end

function Engine:detach(exec, err, code)
  self:release(exec)
  exec.status, exec.reason, exec.detached = "detached", err, code or "error"
  self.store_error = err
  if self.opts.on_store_error then self.opts.on_store_error(exec, err, code) end
end

-- The step's context: its widget's outputs and the variables as they stood. Set Variables
-- replaces flow.variables rather than changing it, so the table can be shared.
local function snapshot(exec, name, outputs)
  return { widget = name, outputs = outputs, variables = exec.context.flow.variables }
end

-- record the step for `event` out of `state`; returns the next state's name, or nil when
-- the execution ends here
function Engine:transition(exec, state, event, outputs, chosen, note)
  local tr = chosen
  if not tr then
    for _, t in ipairs(tbl(state.transitions)) do
      if type(t) ~= "table" then t = {} end
      if t.event == event then tr = t break end
    end
  end
  local nx = tr and tr.next
  if nx == "" or type(nx) ~= "string" then nx = nil end     -- JSON null too: the branch ends
  local step = {
    sid = sid("FT"), name = event, type = state.type,
    transitioned_from = state.name, transitioned_to = nx or "Ended",
    date_created = self.now(), context = snapshot(exec, state.name, outputs),
    reason = note,
  }
  if exec.rerun then step.note, exec.rerun = exec.rerun, nil end   -- rare: not a field of every step
  exec.steps[#exec.steps + 1] = step
  local ending, failed
  if not tr then
    ending = format("no transition for event '%s' of '%s'", tostring(event), state.name)
    failed = FAILURE_EVENTS[event]                     -- a failure nobody handles fails the execution
    -- a failure nobody handles: say what failed, or the summary hides the cause
    local why = type(outputs) == "table" and (outputs.message or outputs.reason)
    if why then ending = format("%s (%s)", ending, tostring(why)) end
  elseif not nx then
    ending = format("'%s' ended the flow on '%s'", state.name, tostring(event))
  end
  if ending then mark_ended(self, exec, ending, failed) end
  if not self:persist(exec, step, nx or state.name) then return nil end
  if self.opts.on_step then self.opts.on_step(exec, step) end
  if ending then self:announce_end(exec) end
  return nx
end

-- ---- rendering ------------------------------------------------------------------------------

local function has_liquid(s)
  return find(s, "{{", 1, true) or find(s, "{%", 1, true)
end

-- Properties render lax, as Studio's do; each text is compiled once per engine, and the
-- C renderer is called directly with options prepared once (a step is hot code).
function Engine:render(s, exec, name)
  if type(s) ~= "string" or not has_liquid(s) then return s end
  local t = self.templates[s]
  if not t then
    local err
    t, err = liquid.compile(s, { name = name })
    if not t then error({ liquid = err }, 0) end
    self.templates[s] = t
  end
  local o = self.render_opts
  o.name = name
  if self.opts.now then o.now = floor(self.now()) end   -- a simulated clock reaches "now" in Liquid too
  local out, err = t._t:render(exec.context, o)
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
  if type(v) == "string" then return has_liquid(v) ~= nil end
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
  return self:render_deep(p, exec, state.name)
end

-- ---- the step object widgets see -----------------------------------------------------------

local Step = {}
Step.__index = Step
M.Step = Step

function Step:render(s)
  return self.engine:render(s, self.exec, self.name)
end

function Step:now()
  return self.engine.now()
end

-- a message to the contact (or whoever `to` says); returns Studio's outbound fields
function Step:send(msg)
  local ctx = self.exec.context
  local out = {
    Body = msg.body or "", From = msg.from or ctx.flow.channel.address,
    To = msg.to or ctx.contact.channel.address, Sid = sid("SM"), Status = "sent",
    MediaUrl = msg.media_url,
  }
  if self.engine.opts.on_message then
    self.engine.opts.on_message(self.exec, { from = out.From, to = out.To, body = out.Body,
                                             media_url = msg.media_url, widget = self.name, kind = msg.kind })
  end
  return out
end

function Step:wait_reply(timeout_s, data)
  return { wait = "reply", timeout = timeout_s, data = data }
end

function Step:wait_call(call, data)
  return { wait = "http", call = call, data = data }
end

function Step:wait_subflow(child, data)
  return { wait = "subflow", child = child, data = data }
end

function Step:previous()
  return self.exec.context.widgets[self.name]
end

-- ---- running states ---------------------------------------------------------------------------

-- what a widget returned: an event (done) or a wait; follows transitions until the
-- execution waits or ends
-- the widget's failure event, if it has one
local function failure_event(state)
  local w = widgets.get(state.type)
  for _, e in ipairs(w and w.events or {}) do
    if FAILURE_EVENTS[e] then return e end
  end
  return nil
end

function Engine:settle(exec, state, props, ok, ev, outs, chosen)
  if not ok then
    local liquid_err = type(ev) == "table" and ev.liquid
    local fev = liquid_err and failure_event(state)
    if fev then
      -- a property that does not render is the widget failing, as a bad reply would be
      local o = { reason = "liquid", message = liquid_err }
      exec.context.widgets[state.name] = o
      return self:transition(exec, state, fev, o, nil, "liquid")
    end
    self:finish(exec, format("'%s' (%s) failed: %s", state.name, state.type, liquid_err or tostring(ev)), true)
    return nil
  end
  if type(ev) == "table" and ev.wait then
    local w = { kind = ev.wait, state = state.name, since = self.now(), props = props, data = ev.data }
    exec.wait = w
    if ev.wait == "reply" then w.deadline = w.since + (tonumber(ev.timeout) or self.limits.wait_timeout)
    elseif ev.wait == "subflow" then w.child = ev.child.sid end
    if not self:persist(exec, nil, state.name) then return nil end
    if ev.wait == "reply" then
      w.token = {}
      heap_push(self.timers, { at = w.deadline, exec = exec, token = w.token })
    elseif ev.wait == "http" then
      self.calls[exec.sid] = ev.call
      if self.call_sid and self.http:owns(ev.call) then self.call_sid[ev.call] = exec.sid
      else self.scan_calls = true end      -- a call from elsewhere: back to scanning for good
    elseif ev.wait == "subflow" then
      if ev.child.status ~= "active" then self:resume(exec, { kind = "subflow", exec = ev.child }) end
    end
    return nil
  end
  if type(ev) ~= "string" then
    self:finish(exec, format("'%s' (%s) returned no event", state.name, state.type), true)
    return nil
  end
  if outs ~= nil then exec.context.widgets[state.name] = outs end
  return self:transition(exec, state, ev, outs or exec.context.widgets[state.name] or {}, chosen,
                         type(outs) == "table" and outs.reason or nil)
end

function Engine:enter(exec, name)
  while name and exec.status == "active" do
    local flow = exec.flow
    local state = flow.by_name[name]
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
    local wok, w = pcall(widgets.get, state.type)
    if not wok then
      self:finish(exec, format("'%s': widget type '%s' failed to load: %s", name, tostring(state.type),
        tostring(w)), true)
      return
    end
    if not w or not w.run then
      self:finish(exec, format("'%s': widget type '%s' cannot run here", name, tostring(state.type)), true)
      return
    end
    exec.state = name
    local ok, props
    if w.render == false then ok, props = true, tbl(state.properties)
    else ok, props = pcall(self.props, self, state, exec) end
    local ev, outs, chosen
    if ok then
      local step = setmetatable({ engine = self, exec = exec, state = state, props = props, name = name,
                                  context = exec.context, flow = flow, limits = self.limits }, Step)
      ok, ev, outs, chosen = pcall(w.run, step)
    else
      ev = props
    end
    name = self:settle(exec, state, props, ok, ev, outs, chosen)
  end
end

-- a waiting widget gets its answer
function Engine:resume(exec, input)
  local w = exec.wait
  if not w or exec.status ~= "active" then return end
  exec.wait = nil
  self.calls[exec.sid] = nil
  local state = exec.flow.by_name[w.state]
  local widget = widgets.get(state.type)
  local step = setmetatable({ engine = self, exec = exec, state = state, props = w.props, name = state.name,
                              context = exec.context, flow = exec.flow, data = w.data }, Step)
  local ok, ev, outs, chosen = pcall(widget.resume, step, input)
  self:enter(exec, self:settle(exec, state, w.props, ok, ev, outs, chosen))
end

-- ---- resuming from the store ----------------------------------------------------------------

-- an execution as the store holds it (a decoded row) becomes this engine's, active; steps:
-- its steps when already read
function Engine:adopt(row, steps)
  local st = self.store
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
    context = tbl(row.context), rev = row.rev,
  }
  local w = row.wait
  if w then
    exec.wait = { kind = w.kind, state = w.state, since = w.since, deadline = w.deadline,
                  props = tbl(w.props), data = w.data, child = w.child }
  end
  local old = self.active[exec.sid]
  if old then self:forget(old) end
  if row.holds_contact == 1 then
    local c = exec.context
    exec.contact_key = contact_key(tbl(tbl(c.contact).channel).address, tbl(tbl(c.flow).channel).address)
    local other = self.by_contact[exec.contact_key]
    if other then self:forget(other) end
    self.by_contact[exec.contact_key] = exec
  end
  self.active[exec.sid] = exec
  self.n_active = self.n_active + 1
  if self.opts.keep_ended ~= false then self.all[#self.all + 1] = exec end
  return exec
end

-- this engine's copy is out of date: the store's is the execution now
function Engine:forget(exec)
  self:release(exec)
  exec.status, exec.detached, exec.reason = "detached", "reloaded", "another process moved it on"
end

local function running(row)
  return not row.wait or row.wait.kind == "http"
end

-- an adopted execution takes up where it stood: waits for a reply wait again (the timeout
-- counts from when the wait began; a due one fires), a parent whose subflow ended meanwhile
-- goes on, and one that was running (an HTTP call in flight, or between two steps) when its
-- process stopped runs that widget again, its next step saying so
function Engine:revive(exec)
  local w = exec.wait
  if w and w.kind == "reply" then
    w.token = {}
    heap_push(self.timers, { at = w.deadline or (w.since or self.now()) + self.limits.wait_timeout,
                             exec = exec, token = w.token })
  elseif w and w.kind == "subflow" then
    if not self.active[w.child] then
      local child, err = self.store:execution(w.child)
      if not child then
        child = { sid = w.child, status = "ended", failed = true, context = { flow = { variables = {} } },
                  reason = err or format("subflow execution %s is missing from the store", tostring(w.child)) }
      end
      if child.status ~= "active" then self:resume(exec, { kind = "subflow", exec = child }) end
    end
  else
    local ok, err, code = self.store:claim(exec)
    if not ok then
      if code == "conflict" then self:forget(exec) else self:detach(exec, err, code) end
      return
    end
    if w then exec.repeats = math.max(0, exec.repeats - 1) end   -- the widget counts once, again
    exec.rerun = w
      and "re-run after a restart: its HTTP request was in flight when the process stopped, and was sent again"
      or "re-run after a restart: the widget was running when the process stopped"
    exec.wait = nil
    self:enter(exec, exec.state)
  end
end

-- recover() -> executions resumed | nil, err: every active execution of the store that no
-- other live process is running
function Engine:recover()
  local st = self.store
  local now, adopted = self.now(), {}
  local rows, err
  local steps = {}               -- every active execution's steps in one read (not one each)
  if self.opts.resume == "due" then rows, err = st:due_rows(now)
  else
    rows, err = st:active_rows()
    if rows then steps, err = st:active_steps() end
  end
  if not rows or not steps then return nil, format("%s: %s", st.path, err) end
  local store_mod = require "rivulet.store"
  for _, raw in ipairs(rows) do
    local row, derr = store_mod.decode_row(raw)
    if row and not (running(row) and st:owner_alive(row)) then
      local exec
      exec, derr = self:adopt(row, steps[row.sid])
      if exec then adopted[#adopted + 1] = exec end
    end
    if derr then
      self.store_error = derr
      if self.opts.on_store_error then self.opts.on_store_error(nil, derr, "decode") end
    end
  end
  if self.opts.resume == "poll" then
    self.to_revive = adopted          -- the host wants no callbacks before it polls
  else
    self:revive_all(adopted)
  end
  return #adopted
end

function Engine:revive_all(list)
  self.to_revive = nil
  for _, exec in ipairs(list) do
    if exec.status == "active" then self:revive(exec) end
  end
  self:fire_timers()
end

-- reload(sid) -> true | "elsewhere" (another live process is running it) | nil, err, code:
-- the store's copy of an execution (and of the subflows it waits on) replaces this engine's
function Engine:reload(id)
  local st = self.store
  local row, err, code = st:execution(id)
  if not row then return nil, err or format("no execution %s in %s", tostring(id), st.path), code end
  local mine = self.active[id]
  if row.status ~= "active" then
    if mine then self:forget(mine) end
    return true
  end
  if running(row) and st:owner_alive(row) then
    if mine then self:forget(mine) end   -- another process runs it; deliver says "running"
    return "elsewhere"
  end
  local exec
  exec, err = self:adopt(row)
  if not exec then return nil, err end
  if exec.wait and exec.wait.kind == "subflow" then
    local ok, cerr, ccode = self:reload(exec.wait.child)
    if not ok then return nil, cerr, ccode end
  end
  self:revive(exec)
  return true
end

-- reload for a delivery: an execution another process is running is "running" here too
local function reload_for_delivery(self, id)
  local ok, err, code = self:reload(id)
  if ok == "elsewhere" then
    return nil, format("execution %s is running in another process; it takes no reply until it waits for one",
      tostring(id)), "running"
  end
  return ok, err, code
end

-- before a delivery: make sure this engine holds the store's latest copy of the contact's
-- execution and of the subflows it waits on (another process may have moved them on)
function Engine:refresh(from, to)
  local st = self.store
  local row, err, code = st:contact_execution(from, to)
  if row == nil then return nil, err, code end
  local mine = self.by_contact[contact_key(from, to)]
  if not row then
    if mine then self:forget(mine) end
    return true
  end
  if not mine or mine.sid ~= row.sid or mine.rev ~= row.rev then return reload_for_delivery(self, row.sid) end
  local exec = mine
  while exec.wait and exec.wait.kind == "subflow" do
    local child = self.active[exec.wait.child]
    local crow
    crow, err, code = st:first("SELECT rev FROM executions WHERE sid = ?", exec.wait.child)
    if crow == nil then return nil, err, code end
    if not child or not crow or child.rev ~= crow.rev then return reload_for_delivery(self, row.sid) end
    exec = child
  end
  return true
end

-- ---- the public face -----------------------------------------------------------------------------

local function new_exec(self, flow, trigger)
  local ev = trigger.event or "incomingMessage"
  if not TRIGGER_EVENTS[ev] then error(format("unknown trigger event '%s'", tostring(ev)), 3) end
  local tctx, contact, channel = trigger_context(trigger)
  local exec = {
    sid = sid("FN"), flow = flow, flow_sid = flow.sid or sid("FW"),
    flow_name = flow.source or flow.description, status = "active", state = flow.initial_state,
    steps = {}, started_at = self.now(), repeats = 0, trigger_event = ev,
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

-- start(flow, trigger) -> execution | nil, err (the contact already has one running)
function Engine:start(flow, trigger)
  local f, err = flowlib.load(flow)
  if not f then return nil, err end
  if self.to_revive then self:revive_all(self.to_revive) end
  trigger = trigger or {}
  local exec = new_exec(self, f, trigger)
  if self.store then
    local _, ferr = self.store:flow_id(f)
    if ferr then return nil, ferr end
  end
  if exec.trigger_event ~= "incomingParent" then
    local key = contact_key(exec.context.contact.channel.address, exec.context.flow.channel.address)
    local other = self.by_contact[key]
    if other and other.status == "active" then
      return nil, format("the contact already has an active execution %s", other.sid)
    end
    exec.contact_key = key
    self.by_contact[key] = exec
  else
    exec.parent_sid = trigger.parent_sid
  end
  self.active[exec.sid] = exec
  self.n_active = self.n_active + 1
  if self.opts.keep_ended ~= false then self.all[#self.all + 1] = exec end
  local init = f.by_name[f.initial_state]
  if not init then
    self:finish(exec, format("no initial state '%s'", tostring(f.initial_state)), true)
    return exec
  end
  -- the trigger "widget" fires the event it was started with
  exec.state = init.name
  exec.last_state, exec.repeats = init.name, 1
  local nx = self:transition(exec, init, exec.trigger_event, {}, nil)
  if exec.status == "detached" then
    if exec.detached == "constraint" then
      local other = self.store:contact_execution(exec.context.contact.channel.address,
                                                 exec.context.flow.channel.address)
      return nil, format("the contact already has an active execution %s (in %s)",
                         other and other.sid or "?", self.store.path)
    end
    return nil, exec.reason
  end
  self:enter(exec, nx)
  return exec
end

-- a parent waiting on a subflow hands replies and timeouts to the child that waits
function Engine:innermost(exec)
  while exec and exec.wait and exec.wait.kind == "subflow" do
    local child = self.active[exec.wait.child]
    if not child then break end
    exec = child
  end
  return exec
end

-- deliver{from=, to=, body=, media_url=?} -> execution | nil, err, code; code "none" (no
-- active execution for the contact), "running" (it is between steps, here or in another
-- process sharing the store), "not_waiting" (it waits for something else: ignored, as
-- Studio does), or a store error's code
function Engine:deliver(msg)
  if type(msg) ~= "table" then error("deliver expects a message table", 2) end
  if self.to_revive then self:revive_all(self.to_revive) end
  if self.store then
    local ok, err, code = self:refresh(msg.from, msg.to)
    if not ok then return nil, err, code end
  end
  local exec = self.by_contact[contact_key(msg.from, msg.to)]
  if not exec or exec.status ~= "active" then return nil, "no active execution for this contact", "none" end
  exec = self:innermost(exec)
  if not exec.wait then
    return nil, format("execution %s is running; it takes no reply until it waits for one", exec.sid), "running"
  end
  if exec.wait.kind ~= "reply" then
    return nil, format("execution %s is not waiting for a reply (ignored, as Studio does)", exec.sid), "not_waiting"
  end
  self:resume(exec, { kind = "reply", message = {
    Body = msg.body or "", From = msg.from, To = msg.to, MessageSid = msg.sid or sid("SM"),
    MediaUrl0 = msg.media_url, NumMedia = msg.media_url and "1" or "0",
  } })
  if exec.status == "detached" then return nil, exec.reason, exec.detached end
  return exec
end

-- an execution waiting for a reply times out now (scripts and tests)
function Engine:timeout(exec)
  exec = self:innermost(exec)
  if exec.status == "active" and exec.wait and exec.wait.kind == "reply" then
    exec.wait.token = nil
    self:resume(exec, { kind = "timeout" })
    return true
  end
  return false
end

function Engine:fire_timers()
  local now, h, fired = self.now(), self.timers, 0
  while h[1] and h[1].at <= now do
    local t = heap_pop(h)
    local exec = t.exec
    if exec.status == "active" and exec.wait and exec.wait.token == t.token then
      fired = fired + 1
      self:resume(exec, { kind = "timeout" })
    end
  end
  return fired
end

-- when the next live timer is due (epoch seconds), or nil; drops the ones whose wait ended
function Engine:next_deadline()
  local h = self.timers
  while h[1] do
    local t = h[1]
    if t.exec.status == "active" and t.exec.wait and t.exec.wait.token == t.token then return t.at end
    heap_pop(h)
  end
  return nil
end

function Engine:pending_calls()
  return next(self.calls) ~= nil
end

-- resume every execution whose HTTP call finished (collected first: resuming may start
-- new calls, and a table must not grow while it is being traversed)
function Engine:collect_calls()
  local done = {}
  for id, call in pairs(self.calls) do
    if call:done() then done[#done + 1] = id end
  end
  for _, id in ipairs(done) do
    local call, exec = self.calls[id], self.active[id]
    if exec and call then self:resume(exec, { kind = "http", outcome = call:outcome() })
    else self.calls[id] = nil end
  end
end

-- resume every execution waiting on one of the calls in list (the client's finished(), or nil)
function Engine:collect_finished(list)
  if not list then return end
  for _, call in ipairs(list) do
    local id = self.call_sid[call]
    if id ~= nil and self.calls[id] == call then
      local exec = self.active[id]
      if exec then self:resume(exec, { kind = "http", outcome = call:outcome() })
      else self.calls[id] = nil end
    end
  end
end

-- poll(timeout_ms) -> active executions; drives HTTP and timers, waiting at most timeout_ms
function Engine:poll(timeout_ms)
  timeout_ms = timeout_ms or 0
  if self.to_revive then self:revive_all(self.to_revive) end
  self:fire_timers()
  local wait = timeout_ms
  local h = self.timers[1]
  if h then wait = math.max(0, math.min(wait, floor((h.at - self.now()) * 1000))) end
  if next(self.calls) then
    local client = self.http
    client:poll(wait)
    if self.call_sid and not self.scan_calls then
      self:collect_finished(client:finished())
    else
      -- with thousands of calls in flight, look for finished ones only when some finished
      -- since we last looked (a counter, so calls that failed at start count too)
      -- (not after a call from another client: this client's counter says nothing of it)
      local seen = not self.scan_calls and client.completed and client:completed()
      if not seen or seen ~= self.seen_completed then
        self.seen_completed = seen
        self:collect_calls()
      end
    end
  elseif wait > 0 and h then
    core.sleep(wait)
  end
  self:fire_timers()
  return self.n_active
end

-- run() -> active executions, once none can move without a reply (or a distant timer)
function Engine:run()
  while next(self.calls) do self:poll(100) end
  self:fire_timers()
  return self.n_active
end

-- the execution record (DESIGN.md §3): plain data, JSON-ready
function M.record(exec)
  local steps = {}
  for i, s in ipairs(exec.steps) do
    steps[i] = { sid = s.sid, name = s.name, type = s.type, transitioned_from = s.transitioned_from,
                 transitioned_to = s.transitioned_to, date_created = s.date_created, reason = s.reason }
  end
  return { sid = exec.sid, flow = flowlib.short_name(exec.flow_name), flow_sid = exec.flow_sid,
           status = exec.status, reason = exec.reason, state = exec.state, started_at = exec.started_at,
           ended_at = exec.ended_at, steps = steps, context = exec.context }
end

return M
