-- rivulet.engine_call: the code of calls, for rivulet.engine, which loads it the first time an
-- execution needs it (a run of a message flow that calls nothing never compiles it): the
-- call an execution talks to and its end, a call's callbacks and the outcomes decided
-- outside (handle's "call", "flow_event" and "call_status"), the answers of HTTP calls
-- (Run Function, Make HTTP Request). Not an API of its own: the engine's methods and
-- handle() are; each function here takes the engine first.

local widgets = require "rivulet.widgets"

local type, ipairs, pairs = type, ipairs, pairs
local format = string.format
local floor = math.floor

local M = {}

-- rivulet.engine and its private helpers, given once by the engine as it loads this module
local engine, bad, is_address, held, contact_exec
function M.bind(mod, private)
  engine, bad, is_address, held = mod, private.bad, private.is_address, private.held
  contact_exec = private.contact_exec
end

-- ---- the call an execution talks to -----------------------------------------------------

local OUTGOING = { ["make-outgoing-call-v2"] = true, ["make-outgoing-call-v1"] = true }
local ANSWERED = { answered = true, answeredByMachine = true }

-- the SID of the call the execution talks to, or nil: the last outgoing call it made that
-- was answered, else the incoming call that started it (a subflow: its parent's)
local function call_sid(self, exec)
  local steps = exec.steps
  for i = #steps, 1, -1 do
    local s = steps[i]
    if OUTGOING[s.type] and ANSWERED[s.name] then
      local o = exec.context.widgets[s.transitioned_from]
      if type(o) == "table" and o.CallSid then return o.CallSid end
    end
  end
  local parent = exec.parent_sid and self.active[exec.parent_sid]
  if parent then return call_sid(self, parent) end
  local call = type(exec.context.trigger) == "table" and exec.context.trigger.call
  return type(call) == "table" and call.CallSid or nil
end

-- whether the caller hung up (the status callback said so) while exec did other things
function M.call_is_over(self, exec)
  local over = self:root(exec).call_over
  return over ~= nil and (over == true or over == call_sid(self, exec))
end

-- the call is over: its whole subflow chain ends, the top first (so no parent goes on
-- when its subflow ends)
local function end_call(self, exec, reason)
  local chain, x = {}, self:root(exec)
  while x do
    chain[#chain + 1] = x
    x = x.wait and x.wait.kind == "subflow" and self.active[x.wait.child] or nil
  end
  chain[1].call_over = chain[1].call_over or call_sid(self, exec) or true
  for _, e in ipairs(chain) do self:finish(e, reason) end
  if exec.status == "active" then self:finish(exec, reason) end
end
M.call_sid, M.end_call = call_sid, end_call

-- ---- a wait on a call or an outcome ---------------------------------------------------------

-- A call's or an outcome's wait (exec.wait.kind "call" or "event") given an outcome chosen
-- outside (input.kind "event") or no word at all (a timeout): the engine's to take, not
-- the widget's. Returns true.
function M.resume_outside(self, exec, input)
  local w = exec.wait
  exec.wait = nil
  local state = exec.flow.by_name[w.state]
  if input.kind == "event" then
    self:enter(exec, self:settle(exec, state, w.props, true, input.event, input.fields or {}))
    return true
  end
  local te = widgets.get(state.type).timeout_event
  if te then
    self:enter(exec, self:settle(exec, state, w.props, true, te, {}))
    return true
  end
  local waited = format("no word from the %s in %d s", w.kind == "call" and "call" or "outside world",
    floor((w.deadline or self.now()) - (w.since or self.now())))
  if w.kind == "call" then end_call(self, exec, "call ended (" .. waited .. ")")
  else self:finish(exec, format("'%s' (%s) ended: %s", state.name, state.type, waited)) end
  return true
end

-- ---- a call's callbacks and outcomes ------------------------------------------------------

local OUTSIDE = { call = true, event = true }

function M.call(self, ev)
  if type(ev.sid) ~= "string" then return bad("sid must be a string") end
  if ev.fields ~= nil and type(ev.fields) ~= "table" then return bad("fields must be a table") end
  local exec, r = held(self, ev.sid)
  if not exec then return r end
  local w = exec.wait
  local data = w and OUTSIDE[w.kind] and type(w.data) == "table" and w.data
  if not (data and ev.token ~= nil and data.token == ev.token) then
    return { code = "stale", exec = exec, sid = exec.sid,
             message = format("execution %s does not wait for this callback (a retry, or a late one)", exec.sid) }
  end
  self:resume(exec, { kind = "call", callback = ev.callback, fields = ev.fields or {} })
  if exec.status == "detached" then
    return { code = "store_error", message = exec.reason, store_code = exec.detached }
  end
  return { code = "resumed", exec = exec, sid = exec.sid }
end

-- the execution an outside event is for: by sid, or by the contact's addresses (a call or a
-- message posted to the flow's webhook) -> the innermost execution waiting | nil, result
local function outside_target(self, ev)
  local exec, r
  if ev.sid ~= nil then
    if type(ev.sid) ~= "string" then return nil, bad("sid must be a string") end
    exec, r = held(self, ev.sid)
  else
    for _, k in ipairs{ "from", "to" } do
      if not is_address(ev[k]) then return nil, bad("%s must be a string, not %s", k, type(ev[k])) end
    end
    exec, r = contact_exec(self, ev.from, ev.to)
    if not exec and not r then r = { code = "none", message = "no active execution for this contact" } end
  end
  if not exec then return nil, r end
  local w = self:innermost(exec)
  if ev.call_sid ~= nil then
    local own = w.wait and type(w.wait.data) == "table" and w.wait.data.call_sid
    if own ~= ev.call_sid and call_sid(self, w) ~= ev.call_sid then
      return nil, { code = "none", exec = exec, sid = exec.sid,
                    message = format("execution %s is not on call %s", exec.sid, tostring(ev.call_sid)) }
    end
  end
  return w, exec
end

local function has_event(widget, event)
  for _, e in ipairs(widget and widget.events or {}) do if e == event then return true end end
  return false
end

function M.flow_event(self, ev)
  if type(ev.event) ~= "string" then return bad("event must be a string") end
  if ev.fields ~= nil and type(ev.fields) ~= "table" then return bad("fields must be a table") end
  local w, top = outside_target(self, ev)
  if not w then return top end
  if not (w.wait and OUTSIDE[w.wait.kind]) then
    return { code = "not_waiting", exec = top, sid = top.sid,
             message = format("execution %s waits for no outcome (ignored, as Studio does)", w.sid) }
  end
  local state = w.flow.by_name[w.wait.state]
  if not has_event(widgets.get(state.type), ev.event) then
    return bad("'%s' (%s) has no event '%s'", state.name, state.type, ev.event)
  end
  self:resume(w, { kind = "event", event = ev.event, fields = ev.fields })
  return { code = "resumed", exec = top, sid = top.sid }
end

function M.call_status(self, ev)
  if type(ev.status) ~= "string" then return bad("status must be a string") end
  if ev.fields ~= nil and type(ev.fields) ~= "table" then return bad("fields must be a table") end
  if not engine.CALL_OVER[ev.status] then return { code = "noted", message = format("call status %s", ev.status) } end
  local w, top = outside_target(self, ev)
  if not w then return top end
  local wait = w.wait
  -- which call ended: the one named, the one a ringing outgoing call waits on, or this one's
  local own = wait and type(wait.data) == "table" and wait.data.call_sid
  self:root(w).call_over = ev.call_sid or own or call_sid(self, w) or true
  if not (wait and OUTSIDE[wait.kind]) then
    return { code = "noted", exec = top, sid = top.sid,
             message = format("the call is over (%s); execution %s goes on, and ends at its next voice widget",
                              ev.status, w.sid) }
  end
  local state = w.flow.by_name[wait.state]
  local widget = widgets.get(state.type)
  local input = { status = ev.status, fields = ev.fields or {} }
  local event, outs
  if widget.hangup then event, outs = widget.hangup(input, wait) end
  if not event and wait.kind == "call" and has_event(widget, "hangup") then event, outs = "hangup", input.fields end
  if event then
    self:resume(w, { kind = "event", event = event, fields = outs or {} })
    return { code = "resumed", exec = top, sid = top.sid }
  end
  if wait.kind ~= "call" then
    return { code = "noted", exec = top, sid = top.sid, message = format("call status %s", ev.status) }
  end
  end_call(self, w, "call ended")
  return { code = "ended", exec = top, sid = top.sid }
end

-- ---- HTTP calls' answers -----------------------------------------------------------------

-- the execution waiting on a finished call goes on
local function call_done(self, id)
  local call = self.calls[id]
  if not (call and call:done()) then return end
  local exec = self.active[id]
  if exec then
    local o = call:outcome()
    -- the request as sent (rivulet.step) with its outcome: the step's context keeps it
    local req = exec.http_request
    if req then
      req.event, req.status_code, req.elapsed_ms, req.reason = o.event, o.status_code, o.elapsed_ms, o.reason
    end
    self:tell("on_http", exec, o, req)
    self:resume(exec, { kind = "http", outcome = o })
  else self.calls[id] = nil end
end

-- resume every execution whose HTTP call finished: the client hands back the tags (the
-- executions' sids) of the calls that finished since the last look; a client that cannot
-- is asked call by call (collected first: resuming may start new calls)
function M.collect_calls(self)
  local client = self.http
  if client.finished then
    local tags = client:finished()
    for i = 1, tags and #tags or 0 do call_done(self, tags[i]) end
    return
  end
  local done = {}
  for id, call in pairs(self.calls) do
    if call:done() then done[#done + 1] = id end
  end
  for _, id in ipairs(done) do call_done(self, id) end
end

return M
