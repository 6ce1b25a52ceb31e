-- rivulet.test.case: running one case of a conversation spec (rivulet.test.spec has read
-- and checked it). A fresh engine with the stubbing client (rivulet.test.stub) and a
-- simulated clock starts the flow, the script's steps drive it, and the end expectations
-- are checked; the first mismatch stops the case with a diff ("-" expected, "+" got).
--
--   local result = case.run(ctx, spec, case)
--   -- ctx = {flows = {} (flows loaded once per run), coverage = collector | nil,
--   --        live = false | nil}
--   -- result = {name, spec, ok, skipped, unreadable, message, failure = {where, what,
--   --           diff, trace}, transcript, execution, calls, time}

local flowlib = require "rivulet.flow"
local engine_mod = require "rivulet.engine"
local core = require "rivulet.core"
local specs = require "rivulet.test.spec"
local stub = require "rivulet.test.stub"
local text_mod = require "rivulet.test.text"
local voice = require "rivulet.voice"

local type, pairs, ipairs, tostring, tonumber, error, pcall, xpcall =
  type, pairs, ipairs, tostring, tonumber, error, pcall, xpcall
local setmetatable, getmetatable, rawequal = setmetatable, getmetatable, rawequal
local format, find = string.format, string.find
local concat, sort = table.concat, table.sort
local floor = math.floor
local quote, text, show, fn_where = text_mod.quote, text_mod.text, text_mod.show, text_mod.fn_where
local lines_of, line_diff, clip = text_mod.lines_of, text_mod.line_diff, text_mod.clip
local absent, is_matcher = text_mod.absent, specs.is_matcher
local resolve, exists = specs.resolve, specs.exists
local parse_time = require("rivulet.time").parse
local ENDED = require("rivulet.dot").ENDED

local M = {}

M.DEFAULT_NOW = 1704067200        -- 2024-01-01T00:00:00Z
M.CONTACT, M.CHANNEL = "+15550001111", "+15559990000"

local Fail = {}      -- error objects raised to stop a case: {what =, diff = {{sign, text}}}

local function fail(what, diff)
  error(setmetatable({ what = what, diff = diff or {} }, Fail), 0)
end

-- the value at a dotted path of the context
local function at_path(ctx, path)
  local v = ctx
  for seg in tostring(path):gmatch("[^%.]+") do
    if type(v) ~= "table" then return nil end
    local x = v[seg]
    if x == nil and seg:match("^%d+$") then x = v[tonumber(seg)] end
    v = x
  end
  return v
end

-- does `actual` match `expected` (the context rules)? -> ok, why
local function matches(expected, actual)
  if rawequal(expected, absent) then
    return actual == nil, "it is there"
  end
  local te = type(expected)
  if te == "function" then
    local ok, r, why = pcall(expected, actual)
    if not ok then return false, "the check raised: " .. tostring(r) end
    return r and true or false, why
  end
  if is_matcher(expected) then
    if type(actual) ~= "string" and type(actual) ~= "number" then return false, "not text" end
    local ok, r = pcall(find, tostring(actual), expected.match)
    if not ok then return false, "bad pattern: " .. tostring(r) end
    return r ~= nil
  end
  if te == "table" then
    if type(actual) ~= "table" then return false end
    for k, v in pairs(expected) do
      local ok, why = matches(v, actual[k])
      if not ok then return false, format("at %s%s", tostring(k), why and (": " .. why) or "") end
    end
    return true
  end
  return expected == actual
end

local function expectation_text(v)
  if is_matcher(v) then return "match " .. quote(v.match) end
  if type(v) == "function" then return "passes " .. fn_where(v) end
  if type(v) == "string" then return text(v) end
  return show(v)
end

-- where the execution stands, in words
local function situation(C)
  local exec = C.exec
  if exec.status ~= "active" then
    return format("the execution %s at '%s': %s", exec.failed and "failed" or "ended",
      tostring(exec.state), tostring(exec.reason))
  end
  local w = C.engine:innermost(exec)
  if w.wait and w.wait.kind == "reply" then
    return format("the flow waits for a reply at '%s'", tostring(w.wait.state))
  end
  local n = voice.need(C.engine, exec)
  if n and (n.ask == "input" or n.ask == "recording") then
    return format("the call waits for the caller's %s at '%s'", n.ask == "input" and "keys or words" or "message",
      n.widget)
  elseif n then
    return format("'%s' waits for an outcome (%s)", n.widget, table.concat(n.events, ", "))
  end
  return format("the flow waits for %s at '%s'", w.wait and tostring(w.wait.kind) or "nothing",
    tostring(w.state))
end

local function status_of(exec)
  if exec.status == "active" then return "active" end
  return exec.failed and "failed" or "ended"
end

local function add_transcript(C, mark, body)
  local ls = lines_of(body)
  if #ls == 1 then ls[1] = text(ls[1]) end    -- "< Oakland " would hide its space
  C.transcript[#C.transcript + 1] = mark .. " " .. ls[1]
  for i = 2, #ls do C.transcript[#C.transcript + 1] = ls[i] == "" and "" or "  " .. ls[i] end
end

-- HTTP calls run, and a call goes on through what the caller only hears
local function drive(C)
  if C.exec then voice.settle(C.engine, C.exec) else C.engine:run() end
  if C.problem then fail(C.problem) end
end

local function pending(C)
  return C.sent[C.next_msg]
end

-- the flow must have sent nothing the script has not expected yet
local function no_unexpected(C, before)
  if not pending(C) then return end
  local diff = { { "-", "(no message: " .. before .. ")" } }
  for i = C.next_msg, #C.sent do
    for _, l in ipairs(lines_of(text(C.sent[i].body))) do diff[#diff + 1] = { "+", l } end
  end
  local n = #C.sent - C.next_msg + 1
  local what = n == 1 and "a message" or n .. " messages"
  fail(format("the flow sent %s the script does not expect", what), diff)
end

local function body_diff(expected, got)
  if find(expected, "\n", 1, true) or find(got, "\n", 1, true) then
    return line_diff(lines_of(expected), lines_of(got))
  end
  return { { "-", text(expected) }, { "+", text(got) } }
end

local function do_expect(C, step)
  drive(C)
  local msg = pending(C)
  local v = step.value
  if not msg then
    fail("the flow sent no message",
      { { "-", expectation_text(v) }, { "+", "(nothing: " .. situation(C) .. ")" } })
  end
  C.next_msg = C.next_msg + 1
  local body = tostring(msg.body)
  if type(v) == "string" then
    if body ~= v then fail("the flow sent a different message", body_diff(v, body)) end
  elseif is_matcher(v) then
    local ok, r = pcall(find, body, v.match)
    if not ok then fail("bad pattern " .. quote(v.match) .. ": " .. tostring(r)) end
    if not r then
      fail("the message does not match",
        { { "-", "match " .. quote(v.match) }, { "+", text(body) } })
    end
  else
    local ok, r, why = pcall(v, body, msg)
    if not ok then fail("the expect function raised: " .. tostring(r), { { "+", text(body) } }) end
    if not r then
      fail("the expect function refused the message" .. (why and (": " .. tostring(why)) or ""),
        { { "-", expectation_text(v) }, { "+", text(body) } })
    end
  end
  for _, k in ipairs{ "to", "from", "widget" } do
    if step[k] ~= nil and msg[k] ~= step[k] then
      fail(format("the message's %s differs", k),
        { { "-", k .. " = " .. show(step[k]) }, { "+", k .. " = " .. show(msg[k]) } })
    end
  end
end

-- the innermost execution waiting for a reply, or a failure saying what it does instead
local function waiting_for_reply(C, doing)
  local exec = C.exec
  local w = exec.status == "active" and C.engine:innermost(exec)
  if not (w and w.wait and w.wait.kind == "reply") then
    fail(format("the script %s, but %s", doing, situation(C)))
  end
  return w
end

-- what a call waits for (rivulet.voice), or nil
local function call_need(C)
  return C.exec.status == "active" and voice.need(C.engine, C.exec) or nil
end

local function handled(C, r, doing)
  if r.code ~= "resumed" and r.code ~= "ended" and r.code ~= "timed_out" then
    fail(format("%s was not taken: %s", doing, tostring(r.message)))
  end
  drive(C)
end

local function do_reply(C, step)
  drive(C)
  no_unexpected(C, "the script replies " .. quote(step.value) .. " next")
  local n = call_need(C)
  if n then
    if n.ask == "outcome" then
      fail(format("the script replies %s, but %s: say which with { event = … }", quote(step.value), situation(C)))
    end
    add_transcript(C, "<", step.value)
    return handled(C, voice.input(C.engine, n, step.value), "the caller's " .. quote(step.value))
  end
  waiting_for_reply(C, "replies " .. quote(step.value))
  local ctx = C.exec.context
  add_transcript(C, "<", step.value)
  local r = C.engine:handle{ kind = "message", from = ctx.contact.channel.address,
                             to = ctx.flow.channel.address, body = step.value, media_url = step.media_url }
  if r.code ~= "resumed" and r.code ~= "held" then fail("the reply was not delivered: " .. tostring(r.message)) end
  drive(C)
end

local function do_timeout(C)
  drive(C)
  no_unexpected(C, "the script lets the wait time out next")
  local n = call_need(C)
  if n and n.ask ~= "outcome" then
    -- the caller says nothing: Twilio waits the Gather's (Record's) timeout, then goes on
    local secs = tonumber(n.verb.attrs.timeout) or 0
    C.clock = C.clock + secs
    C.transcript[#C.transcript + 1] = format("  (silence: '%s' times out after %s s)", n.widget, tostring(secs))
    return handled(C, voice.input(C.engine, n, ""), "the silence")
  elseif n then
    local deadline = n.wait.deadline or C.clock
    C.transcript[#C.transcript + 1] = format("  (no outcome: '%s' times out after %s s)", n.widget,
      tostring(floor(math.max(0, deadline - C.clock))))
    if deadline > C.clock then C.clock = deadline end
    return handled(C, voice.expire(C.engine, n), "the timeout")
  end
  local w = waiting_for_reply(C, "expects a timeout")
  local deadline = w.wait.deadline or C.clock
  local waited = deadline - C.clock
  if deadline > C.clock then C.clock = deadline end
  C.transcript[#C.transcript + 1] = format("  (no reply: '%s' times out after %s s)",
    tostring(w.wait.state), tostring(waited >= 0 and floor(waited) or 0))
  C.engine:handle{ kind = "tick" }
  if w.status == "active" and w.wait and w.wait.kind == "reply" and w.wait.deadline == deadline then
    C.engine:handle{ kind = "timeout", sid = w.sid }   -- its timer was not on the heap (a restored execution)
  end
  drive(C)
end

local function do_hangup(C)
  drive(C)
  no_unexpected(C, "the caller hangs up next")
  local n = call_need(C)
  if not (n and n.in_call) then fail(format("the script hangs up, but %s", situation(C))) end
  C.transcript[#C.transcript + 1] = "  (the caller hangs up)"
  handled(C, voice.hangup(C.engine, C.exec), "the hang-up")
end

local function do_event(C, step)
  drive(C)
  no_unexpected(C, "the script picks the outcome " .. quote(step.value) .. " next")
  local n = call_need(C)
  if not n then fail(format("the script picks the outcome %s, but %s", quote(step.value), situation(C))) end
  if step.widget ~= nil and step.widget ~= n.widget then
    fail(format("the script picks an outcome for '%s', but %s", tostring(step.widget), situation(C)))
  end
  C.transcript[#C.transcript + 1] = format("  (%s: %s)", n.widget, step.value)
  handled(C, voice.choose(C.engine, n, step.value, step.outputs), "the outcome " .. quote(step.value))
end

local function do_advance(C, step)
  drive(C)
  C.clock = C.clock + step.value
  C.transcript[#C.transcript + 1] = format("  (%s s pass)", tostring(step.value))
  C.engine:handle{ kind = "tick" }
  drive(C)
end

local function entered_path(exec)
  local p = {}
  for _, s in ipairs(exec.steps) do
    if s.transitioned_to ~= ENDED then p[#p + 1] = s.transitioned_to end
  end
  return p
end

-- the end expectations (or the same ones mid-script): every mismatch in one diff
local function check_end(C, e, what)
  drive(C)
  local exec, diff = C.exec, {}
  if e.status ~= nil then
    local got = status_of(exec)
    if got ~= e.status then
      diff[#diff + 1] = { "-", "status = " .. quote(e.status) }
      local note = got == "active" and situation(C) or tostring(exec.reason)
      diff[#diff + 1] = { "+", "status = " .. quote(got) .. " (" .. note .. ")" }
    end
  end
  if e.state ~= nil and exec.state ~= e.state then
    diff[#diff + 1] = { "-", "state = " .. quote(e.state) }
    diff[#diff + 1] = { "+", "state = " .. show(exec.state) }
  end
  if e.reason ~= nil then
    local ok, why = matches(e.reason, exec.reason)
    if not ok then
      local note = why and (" (" .. why .. ")") or ""
      diff[#diff + 1] = { "-", "reason " .. expectation_text(e.reason) .. note }
      diff[#diff + 1] = { "+", "reason = " .. show(exec.reason) }
    end
  end
  if e.path ~= nil then
    local got = entered_path(exec)
    local same = #got == #e.path
    for i = 1, #got do if got[i] ~= e.path[i] then same = false end end
    if not same then
      diff[#diff + 1] = { " ", "path:" }
      for _, d in ipairs(line_diff(e.path, got)) do diff[#diff + 1] = { d[1], "  " .. d[2] } end
    end
  end
  if e.reasons ~= nil then
    -- why a widget failed is its step's (reason, note), never the context: the last step out
    -- of each widget named
    local names = {}
    for k in pairs(e.reasons) do names[#names + 1] = tostring(k) end
    sort(names)
    for _, name in ipairs(names) do
      local want, step = e.reasons[name], nil
      for i = #exec.steps, 1, -1 do
        if exec.steps[i].transitioned_from == name then step = exec.steps[i] break end
      end
      local got = step and step.reason
      if type(want) == "table" and not is_matcher(want) and not rawequal(want, absent) then
        got = step and { reason = step.reason, note = step.note }
      end
      local ok, why = matches(want, got)
      if not ok then
        diff[#diff + 1] = { "-", "reasons." .. name .. ": " .. expectation_text(want) }
        local note = step and step.note and ("  (" .. tostring(step.note) .. ")") or ""
        diff[#diff + 1] = { "+", "reasons." .. name .. " = " ..
          (step and show(step.reason) or "(the widget never ran)") .. note .. (why and ("  " .. tostring(why)) or "") }
      end
    end
  end
  if e.context ~= nil then
    local keys = {}
    for k in pairs(e.context) do keys[#keys + 1] = tostring(k) end
    sort(keys)
    for _, k in ipairs(keys) do
      local want = e.context[k]
      local got = at_path(exec.context, k)
      local ok, why = matches(want, got)
      if not ok then
        local w = (type(want) == "string" or type(want) == "number" or type(want) == "boolean")
          and (k .. " = " .. show(want)) or (k .. ": " .. expectation_text(want))
        diff[#diff + 1] = { "-", w }
        local note = why and ("  (" .. tostring(why) .. ")") or ""
        diff[#diff + 1] = { "+", k .. " = " .. show(got) .. note }
      end
    end
  end
  if #diff > 0 then fail(what, diff) end
end

local function do_check(C, step)
  drive(C)
  local ok, r, why = pcall(step.value, C.exec, C.engine)
  if not ok then fail("the check raised: " .. tostring(r)) end
  if not r then fail("the check failed" .. (why and (": " .. tostring(why)) or "")) end
end

local function step_text(step)
  local k, v = step.kind, step.value
  if type(step.src) == "string" then return clip(step.src, 60) end
  if k == "timeout" then return "{ timeout = true }" end
  if k == "hangup" then return "{ hangup = true }" end
  if k == "expect" and type(v) == "string" then return clip("> " .. v, 60) end
  if k == "reply" then return clip("< " .. v, 60) end
  return clip(format("{ %s = %s }", k, show(v)), 60)
end

local function make_trigger(tr)
  local t = { event = "incomingMessage", from = M.CONTACT, to = M.CHANNEL, body = "hi" }
  if type(tr) == "string" then t.body = tr
  else for k, v in pairs(tr or {}) do t[k] = v end end
  -- the REST trigger's from is the flow's own number (Studio's Executions API)
  if t.event == "incomingRequest" then t.from, t.to = t.to, t.from end
  return t
end

-- a flow table loaded once per run, so coverage sees one flow however often it starts
local function loaded_table(ctx, t)
  local f = ctx.flows[t]
  if not f then
    local err
    f, err = flowlib.load(t)
    if not f then return nil, err end
    if f.source == "flow" then f.source = nil end
    ctx.flows[t] = f
  end
  return f
end

local function resolve_subflows(ctx, s, dir)
  if type(s) == "string" then return resolve(s, dir) end
  if type(s) ~= "table" then return s end
  local out = {}
  for k, v in pairs(s) do
    if type(v) == "string" then out[k] = resolve(v, dir)
    elseif type(v) == "table" then out[k] = loaded_table(ctx, v) or v
    else out[k] = v end
  end
  return out
end

-- the flow of a case, loaded once per run -> flow | nil, err
local function case_flow(ctx, spec, c)
  local f = c.flow
  if f == nil then
    return nil, spec.name .. ": no flow (flow = \"path\" in the spec or the case)"
  end
  if type(f) == "table" then
    local loaded, err = loaded_table(ctx, f)
    if not loaded then return nil, format("%s: %s", spec.name, tostring(err)) end
    return loaded
  end
  local path = resolve(f, spec.dir)
  if ctx.flows[path] == nil then
    if not exists(path) then
      ctx.flows[path] = { err = format("%s: flow %s: cannot open %s", spec.name, f, path) }
    else
      local loaded, err = flowlib.load(path)
      if not loaded then
        err = tostring(err)
        if not find(err, path, 1, true) then err = path .. ": " .. err end
        ctx.flows[path] = { err = format("%s: flow: %s", spec.name, err) }
      else
        ctx.flows[path] = { flow = loaded }
      end
    end
  end
  local e = ctx.flows[path]
  return e.flow, e.err
end

-- runs one case -> result
function M.run(ctx, spec, case)
  local c = specs.merged(spec.defaults, case.def)
  local result = { name = case.name, spec = spec.name, ok = false, transcript = {} }
  local id = result      -- what coverage counts cases by
  local t0 = core.now()
  local skip = c.skip
  if type(skip) == "function" then
    local ok, r = pcall(skip, c)
    if not ok then
      result.message, result.time = "skip raised: " .. tostring(r), 0
      return result
    end
    skip = r
  end
  if skip then
    result.ok, result.skipped = true, true
    result.message = tostring(skip == true and "skipped" or skip)
    result.time = 0
    return result
  end
  if spec.setup_error then
    result.message = "setup failed: " .. spec.setup_error
    result.time = 0
    return result
  end
  local flow, ferr = case_flow(ctx, spec, c)
  if not flow then
    result.message, result.unreadable, result.time = ferr, true, 0
    return result
  end
  if ctx.coverage then ctx.coverage:flow(flow) end

  local C = {
    clock = parse_time(c.now) or M.DEFAULT_NOW, sent = {}, next_msg = 1, calls = {},
    transcript = result.transcript, stubs = c.stubs or {}, live = c.live ~= false,
    url_map = c.url_map,
  }
  if ctx.live == false then C.live = false end
  local eopts = {
    keep_ended = true,          -- coverage reads every execution the case ran
    http = stub.client(C),
    now = function() return C.clock end,
    on_message = function(_, m)
      C.sent[#C.sent + 1] = m
      add_transcript(C, m.kind == "voice" and "> (voice)" or ">", m.body or "")
    end,
    subflows = resolve_subflows(ctx, c.subflows, spec.dir), timezone = c.timezone,
    limits = c.limits, auth_token = c.auth_token, account_sid = c.account_sid, function_map = c.functions,
  }
  local step_no, nsteps = 0, #case.steps
  local ok, err = xpcall(function()
    C.engine = engine_mod.new(eopts)
    local r = C.engine:handle{ kind = "start", flow = flow, trigger = make_trigger(c.trigger) }
    if r.code ~= "started" then fail("the flow did not start: " .. tostring(r.message)) end
    C.exec = r.exec
    for i, step in ipairs(case.steps) do
      step_no = i
      local k = step.kind
      if k == "expect" then do_expect(C, step)
      elseif k == "reply" then do_reply(C, step)
      elseif k == "timeout" then do_timeout(C)
      elseif k == "advance" then do_advance(C, step)
      elseif k == "hangup" then do_hangup(C)
      elseif k == "event" then do_event(C, step)
      elseif k == "check" then do_check(C, step)
      else check_end(C, { [k] = step.value }, "the flow is not where the script says") end
    end
    step_no = nsteps + 1
    drive(C)
    no_unexpected(C, "the script has ended")
    check_end(C, { status = c.status or "ended", state = c.state, reason = c.reason, path = c.path,
                   context = c.context, reasons = c.reasons }, "the execution did not end as expected")
  end, function(e)
    if getmetatable(e) == Fail then return e end
    return { what = "error: " .. tostring(e), trace = debug.traceback("", 2), diff = {} }
  end)
  if C.engine and ctx.coverage then
    for _, x in ipairs(C.engine:executions()) do ctx.coverage:add(x, id) end
  end
  if C.engine and C.engine.http.close then pcall(C.engine.http.close) end
  result.time = core.now() - t0
  result.execution = C.exec
  result.calls = C.calls
  if ok then
    result.ok = true
    return result
  end
  local where
  if step_no == 0 then where = "at the start"
  elseif step_no > nsteps then where = "after the last step"
  else where = format("at step %d of %d (%s)", step_no, nsteps, step_text(case.steps[step_no])) end
  result.failure = { where = where, what = err.what, diff = err.diff, trace = err.trace }
  local lines = { where .. ": " .. err.what }
  for _, d in ipairs(err.diff or {}) do lines[#lines + 1] = "  " .. d[1] .. " " .. d[2] end
  result.message = concat(lines, "\n")
  return result
end

return M
