-- rivulet.test.replay: a stored execution as a `rivulet test` spec (rivulet test
-- --from-execution SID, and the inspector's "Replay as a spec" button).
--
--   local text, info = replay.spec(store, sid, { flow = PATH?, spec_path = FILE?, subflows = DIR? })
--   -- text: the spec (Lua); info = {cases = 1, steps = N, flow = PATH | "(embedded)"}
--   -- nil, err, code ("notfound", "unsupported", "diverged", "failed", or a store code)
--
-- What the execution got from outside becomes the spec's input: the trigger, the contact's
-- replies, timeouts, the caller's keys and words, outcomes decided outside, a hang-up, and
-- every Run Function / Make HTTP Request reply as a stub by widget name (several replies of
-- one widget in turn). The flow as it ran then plays again, in rivulet test's engine with
-- its simulated clock (started at the execution's start), and what it sends becomes the
-- script's expected messages; the end state, the path of states and flow.variables become
-- its end expectations. The replay must take the stored path step for step (otherwise
-- "diverged", naming the first step that differs), and the written spec is run once
-- before it is handed out: it passes as written, against the flow as it ran. After the
-- flow file changes a branch it fails, and its report names the step where it diverges.
--
-- `flow =` is the file the execution's flow was loaded from (relative to the spec's
-- folder when spec_path is given), or opts.flow; when there is no such file (a flow created
-- through the REST API), the flow's definition is written into the spec.

local engine_mod = require "rivulet.engine"
local flowlib = require "rivulet.flow"
local stub = require "rivulet.test.stub"
local voice = require "rivulet.voice"

local type, pairs, ipairs, tostring, tonumber, format = type, pairs, ipairs, tostring, tonumber, string.format
local next, load, setmetatable, G = next, load, setmetatable, _G
local concat, sort = table.concat, table.sort
local floor = math.floor

local M = {}

M.MAX_CONTEXT_CHECKS = 20      -- flow.variables leaves checked at the end, at most

-- widget types whose run the contact's or the caller's input moves on
local REPLY = { ["send-and-wait-for-reply"] = true }
local GATHER = { ["gather-input-on-call"] = true }
local RECORD = { ["record-voicemail"] = true }
local CALLS = { ["run-function"] = true, ["make-http-request"] = true }

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

local function cwd()
  local d = os.getenv("PWD")
  if d and d:sub(1, 1) == "/" then return d end
  local p = io.popen("pwd")
  d = p and p:read("l")
  if p then p:close() end
  return d or "."
end

local function absolute(path)
  if path:sub(1, 1) == "/" then return path end
  return cwd() .. "/" .. path:gsub("^%./", "")
end

local function segments(path)
  local out = {}
  for s in path:gmatch("[^/]+") do
    if s == ".." and #out > 0 and out[#out] ~= ".." then out[#out] = nil
    elseif s ~= "." then out[#out + 1] = s end
  end
  return out
end

-- path (a file) relative to dir
function M.relative(path, dir)
  local a, b = segments(absolute(path)), segments(absolute(dir))
  local i = 1
  while i <= #a and i <= #b and a[i] == b[i] do i = i + 1 end
  if i == 1 then return absolute(path) end      -- nothing in common but the root
  local out = {}
  for _ = i, #b do out[#out + 1] = ".." end
  for j = i, #a do out[#out + 1] = a[j] end
  return concat(out, "/")
end

-- ---- the inputs a stored execution got --------------------------------------------------------

local function stub_reply(o)
  o = type(o) == "table" and o or {}
  if (o.status_code == 0 or o.status_code == nil) and o.reason then
    return { reason = o.reason, message = o.message }          -- a transport failure
  end
  local r = { status = o.status_code or 200 }
  if o.body ~= nil and o.body ~= "" then r.body = o.body end
  if o.content_type ~= nil and o.content_type ~= "" then r.content_type = o.content_type end
  return r
end

-- steps -> inputs ({kind, value?, widget, step}) and stubs (widget -> {replies})
local function inputs_of(steps, row)
  local inputs, stubs = {}, {}
  for i, s in ipairs(steps) do
    local c = type(s.context) == "table" and s.context or {}
    local o = type(c.outputs) == "table" and c.outputs or {}
    local w, ev, t = s.transitioned_from, s.name, s.type
    local function add(kind, value, extra)
      local x = { kind = kind, value = value, widget = w, step = i }
      for k, v in pairs(extra or {}) do x[k] = v end
      inputs[#inputs + 1] = x
    end
    if i == 1 then  -- luacheck: ignore 542
      -- the trigger's step: nothing from outside but the trigger itself
    elseif t == "run-subflow" then
      return nil, nil, format("step %d runs the subflow '%s': a replay covers one execution, not its subflows",
        i, tostring(w))
    elseif CALLS[t] then
      local list = stubs[w] or {}
      list[#list + 1] = stub_reply(o)
      stubs[w] = list
    elseif REPLY[t] then
      if ev == "incomingMessage" then
        local inbound = type(o.inbound) == "table" and o.inbound or {}
        add("reply", tostring(inbound.Body or ""), { media_url = inbound.MediaUrl0 })
      elseif ev == "timeout" then add("timeout")
      else
        return nil, nil, format("step %d: '%s' took '%s', which a spec cannot bring about", i, tostring(w),
          tostring(ev))
      end
    elseif GATHER[t] then
      if ev == "keypress" then add("reply", tostring(o.Digits or ""))
      elseif ev == "speech" then add("reply", tostring(o.SpeechResult or ""))
      elseif ev == "timeout" then add("timeout")
      else add("event", ev, { outputs = o }) end
    elseif RECORD[t] then
      if ev == "recordingComplete" then add("reply", tostring(o.TranscriptionText or "(a message)"))
      elseif ev == "noAudio" then add("timeout")
      elseif ev == "hangup" then add("hangup")
      else add("event", ev, { outputs = o }) end
    elseif ev == "hangup" then
      add("hangup")
    elseif t ~= "say-play" and t ~= "send-message" and t ~= "set-variables" and t ~= "split-based-on"
        and t ~= "lua" and t ~= "trigger" then
      -- a widget whose outcome the outside world decided (a dialled party, a queue…), or
      -- one that decided by itself: the replay tells them apart (need)
      add("maybe_event", ev, { outputs = o })
    end
  end
  local hung_up = false
  for _, x in ipairs(inputs) do if x.kind == "hangup" then hung_up = true end end
  if not hung_up and row.status == "ended" and type(row.reason) == "string" and row.reason:match("^call ended") then
    inputs[#inputs + 1] = { kind = "hangup", step = #steps + 1, final = true }
  end
  return inputs, stubs
end

local function trigger_of(row)
  local ctx = type(row.context) == "table" and row.context or {}
  local tr = type(ctx.trigger) == "table" and ctx.trigger or {}
  local ev = row.trigger_event
  local t = { event = ev, from = row.contact, to = row.channel }
  if ev == "incomingMessage" then
    t.body = type(tr.message) == "table" and tr.message.Body or ""
  elseif ev == "incomingConversationMessage" then
    t.body = type(tr.conversation) == "table" and tr.conversation.Body or ""
  elseif ev == "incomingRequest" then
    local data = type(ctx.flow) == "table" and ctx.flow.data or nil
    t.parameters = type(data) == "table" and data or {}
  elseif ev == "incomingCall" then
    t.from, t.to = row.contact, row.channel
  else
    return nil, format("an execution started by '%s' is replayed through the execution that started it", tostring(ev))
  end
  return t
end

-- ---- playing it again ----------------------------------------------------------------------------

-- the engine's trigger from the spec's (rivulet.test.case: REST swaps from and to)
local function engine_trigger(t)
  local e = {}
  for k, v in pairs(t) do e[k] = v end
  if e.event == "incomingRequest" then e.from, e.to = e.to, e.from end
  return e
end

-- runs the flow with the inputs; -> script, exec | nil, err, code
local function play(flow, trigger, inputs, stubs, now, subflows)
  local C = { clock = now, stubs = stubs, live = false, calls = {} }
  local script = {}
  local contact = trigger.from
  local engine = engine_mod.new{
    keep_ended = true, http = stub.client(C), now = function() return C.clock end, subflows = subflows,
    on_message = function(_, m)
      local body = tostring(m.body or "")
      if m.kind ~= "voice" and m.to ~= nil and m.to ~= contact then
        script[#script + 1] = { expect = body, to = m.to }
      else
        script[#script + 1] = "> " .. body
      end
    end,
  }
  local r = engine:handle{ kind = "start", flow = flow, trigger = engine_trigger(trigger) }
  if r.code ~= "started" then return nil, "the flow did not start: " .. tostring(r.message), "failed" end
  local exec = r.exec
  local function drive() return voice.settle(engine, exec) end
  for _, input in ipairs(inputs) do
    local n = drive()
    if C.problem then return nil, C.problem, "failed" end
    if exec.status ~= "active" then
      return nil, format("the replay ended before step %d ('%s')", input.step, tostring(input.widget)), "diverged"
    end
    local k = input.kind
    if k == "maybe_event" then
      -- an outcome the outside world decided, if the widget waited for one; else it went by itself
      if n and n.widget == input.widget then k = "event" else k = nil end
    end
    if k == "reply" then
      script[#script + 1] = "< " .. input.value
      if n then
        voice.input(engine, n, input.value)
      else
        local w = engine:innermost(exec)
        if not (w.wait and w.wait.kind == "reply") then
          return nil, format("step %d: the replay does not wait for a reply at '%s'", input.step,
            tostring(input.widget)), "diverged"
        end
        engine:handle{ kind = "message", from = exec.context.contact.channel.address,
                       to = exec.context.flow.channel.address, body = input.value, media_url = input.media_url }
      end
    elseif k == "timeout" then
      script[#script + 1] = { timeout = true }
      if n and n.ask ~= "outcome" then
        C.clock = C.clock + (tonumber(n.verb.attrs.timeout) or 0)
        voice.input(engine, n, "")
      elseif n then
        if (n.wait.deadline or C.clock) > C.clock then C.clock = n.wait.deadline end
        voice.expire(engine, n)
      else
        local w = engine:innermost(exec)
        local deadline = w.wait and w.wait.deadline or C.clock
        if deadline > C.clock then C.clock = deadline end
        engine:handle{ kind = "tick" }
      end
    elseif k == "hangup" then
      script[#script + 1] = { hangup = true }
      voice.hangup(engine, exec)
    elseif k == "event" then
      if not n then
        return nil, format("step %d: '%s' waits for no outcome in the replay", input.step, tostring(input.widget)),
          "diverged"
      end
      local outs = {}
      for key, v in pairs(input.outputs or {}) do
        if type(v) ~= "table" then outs[key] = v end
      end
      script[#script + 1] = { event = input.value, outputs = outs, widget = n.widget }
      voice.choose(engine, n, input.value, outs)
    end
  end
  drive()
  if C.problem then return nil, C.problem, "failed" end
  return script, exec
end

-- the first step where the replay and the stored execution differ, or nil
local function divergence(stored, replayed)
  local n = math.max(#stored, #replayed)
  for i = 1, n do
    local a, b = stored[i], replayed[i]
    local ka = a and format("%s -%s-> %s", a.transitioned_from, a.name, a.transitioned_to) or "(no step)"
    local kb = b and format("%s -%s-> %s", b.transitioned_from, b.name, b.transitioned_to) or "(no step)"
    if ka ~= kb then return i, ka, kb end
  end
  return nil
end

-- ---- writing it --------------------------------------------------------------------------------

local KEYWORDS = {}
for w in ([[and break do else elseif end false for function goto if in local nil not or repeat return then
  true until while]]):gmatch("%a+") do KEYWORDS[w] = true end

local function lua_key(k)
  if type(k) == "string" and k:match("^[%a_][%w_]*$") and not KEYWORDS[k] then return k end
  return "[" .. format("%q", k) .. "]"
end

-- a Lua literal of v (tables with sorted keys, arrays as lists), indented
local function literal(v, indent)
  indent = indent or ""
  if type(v) == "string" then return (format("%q", v):gsub("\\\n", "\\n")) end
  if type(v) == "number" then
    if math.type(v) == "integer" then return tostring(v) end
    if v == floor(v) and v > -1e15 and v < 1e15 then return format("%d.0", v) end
    return format("%.17g", v)
  end
  if type(v) ~= "table" then return tostring(v) end
  local n = #v
  local keys = {}
  for k in pairs(v) do
    if not (math.type(k) == "integer" and k >= 1 and k <= n) then keys[#keys + 1] = k end
  end
  sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  if n == 0 and #keys == 0 then return "{}" end
  local parts = {}
  for i = 1, n do parts[#parts + 1] = literal(v[i], indent .. "  ") end
  for _, k in ipairs(keys) do parts[#parts + 1] = lua_key(k) .. " = " .. literal(v[k], indent .. "  ") end
  local one = "{ " .. concat(parts, ", ") .. " }"
  if #one + #indent <= 100 and not one:find("\n") then return one end
  return "{\n" .. indent .. "  " .. concat(parts, ",\n" .. indent .. "  ") .. ",\n" .. indent .. "}"
end
M.literal = literal

-- a long string that the text cannot close
local function long_string(text)
  local eq = "="
  while text:find("]" .. eq .. "]", 1, true) do eq = eq .. "=" end
  return "[" .. eq .. "[\n" .. text .. "]" .. eq .. "]"
end

local function scalar_leaves(prefix, v, out)
  if type(v) == "table" then
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    sort(keys, function(a, b) return tostring(a) < tostring(b) end)
    for _, k in ipairs(keys) do scalar_leaves(prefix .. "." .. tostring(k), v[k], out) end
  elseif type(v) == "string" or type(v) == "number" or type(v) == "boolean" then
    out[#out + 1] = { prefix, v }
  end
  return out
end

local function entered(steps)
  local p = {}
  for _, s in ipairs(steps) do
    if s.transitioned_to ~= "Ended" then p[#p + 1] = s.transitioned_to end
  end
  return p
end

local function status_of(row)
  if row.status == "active" then return "active" end
  return row.failed and "failed" or "ended"
end

-- the spec's text
local function write(x)
  local out = {}
  local function add(s) out[#out + 1] = s end
  add(format("-- A replay of execution %s (%s), written by rivulet test --from-execution.", x.sid, x.flow_name))
  add("-- It gives the flow what the execution got from outside (the trigger, the replies, every")
  add("-- function's reply as a stub) and expects what it did: the messages, the path, the end.")
  add("-- Run it with: rivulet test THIS_FILE")
  add("return {")
  if x.flow_path then
    add("  flow = " .. literal(x.flow_path) .. ",")
  elseif x.kind == "lua" then
    add("  -- the flow as it ran (it came from no file): its Lua source")
    add("  flow = assert(load(" .. long_string(x.source) .. ", \"=" .. x.flow_name:gsub('"', "") .. "\"))(),")
  else
    add("  -- the flow as it ran (it came from no file): its definition")
    add("  flow = require(\"rivulet.json\").decode(" .. long_string(x.source) .. "),")
  end
  if x.subflows then add("  subflows = " .. literal(x.subflows) .. ",") end
  add("  live = false,")
  add("  cases = {")
  add("    {")
  add("      name = " .. literal(format("replays %s", x.sid)) .. ",")
  add("      now = " .. literal(x.now) .. ",   -- " .. os.date("!%Y-%m-%dT%H:%M:%SZ", x.now))
  add("      trigger = " .. literal(x.trigger, "      ") .. ",")
  if next(x.stubs) then add("      stubs = " .. literal(x.stubs, "      ") .. ",") end
  add("      script = {")
  for _, s in ipairs(x.script) do add("        " .. literal(s, "        ") .. ",") end
  add("      },")
  add("      status = " .. literal(x.status) .. ",")
  if x.state then add("      state = " .. literal(x.state) .. ",") end
  add("      path = " .. literal(x.path, "      ") .. ",")
  if #x.context > 0 then
    add("      context = {")
    for _, kv in ipairs(x.context) do add("        [" .. literal(kv[1]) .. "] = " .. literal(kv[2]) .. ",") end
    add("      },")
  end
  add("    },")
  add("  },")
  add("}")
  return concat(out, "\n") .. "\n"
end

-- spec(store, sid, opts) -> text, info | nil, err, code
function M.spec(store, sid, opts)
  opts = opts or {}
  local row, err, code = store:execution(sid)
  if row == nil then return nil, err, code end
  if not row then return nil, format("no execution %s in %s", tostring(sid), tostring(store.path)), "notfound" end
  if row.parent_sid then
    return nil, format("%s is a subflow's execution: replay the execution that started it, %s", sid, row.parent_sid),
      "unsupported"
  end
  local steps
  steps, err, code = store:steps(sid, true)
  if not steps then return nil, err, code end
  if #steps == 0 then return nil, format("execution %s has no steps", sid), "unsupported" end
  local flow
  flow, err = store:flow(row.flow_id)
  if not flow then return nil, err, "failed" end
  local src = store:first("SELECT kind, source, path FROM flows WHERE id = ?", row.flow_id) or {}
  local trigger
  trigger, err = trigger_of(row)
  if not trigger then return nil, err, "unsupported" end
  local inputs, stubs, why = inputs_of(steps, row)
  if not inputs then return nil, why, "unsupported" end
  local written = {}      -- one reply as itself, several as the list they come in turn from
  for w, list in pairs(stubs) do written[w] = #list == 1 and list[1] or list end
  local now = floor(tonumber(row.started_at) or 0)

  -- the flow as it ran, loaded afresh (the store's copy may carry a running engine's marks)
  local ran
  if src.kind == "lua" then ran, err = flowlib.from_lua(src.source, tostring(src.path or "flow"))
  else ran, err = flowlib.from_json(src.source, tostring(src.path or "flow")) end
  if not ran then return nil, err, "failed" end
  local script, exec, pcode = play(ran, trigger, inputs, stubs, now, opts.subflows)
  if not script then return nil, format("execution %s cannot be replayed: %s", sid, exec), pcode end
  local at, was, got = divergence(steps, exec.steps)
  if at then
    return nil, format("execution %s does not replay: at step %d it took %s, the replay %s", sid, at, was, got),
      "diverged"
  end

  local flow_path = opts.flow
  if not flow_path and type(src.path) == "string" and exists(src.path) then flow_path = src.path end
  if flow_path and opts.spec_path then
    local dir = opts.spec_path:match("^(.*)/[^/]*$") or "."
    flow_path = M.relative(flow_path, dir)
  end
  local ctx = {}
  local vars = type(row.context) == "table" and type(row.context.flow) == "table" and row.context.flow.variables
  for _, kv in ipairs(scalar_leaves("flow.variables", vars or {}, {})) do
    if #ctx < M.MAX_CONTEXT_CHECKS then ctx[#ctx + 1] = kv end
  end
  local x = { sid = sid, flow_name = tostring(flowlib.short_name(row.flow_name) or flow.description or "flow"),
              flow_path = flow_path, kind = src.kind, source = src.source, subflows = opts.subflows,
              now = now, trigger = trigger, stubs = written, script = script, status = status_of(row),
              state = row.state, path = entered(steps), context = ctx }
  local text = write(x)

  -- it must pass as written, against the flow as it ran
  local chunk, lerr = load(text, "=replay", "t", setmetatable({}, { __index = G }))
  if not chunk then return nil, "the written spec does not load: " .. tostring(lerr), "failed" end
  local spec = chunk()
  spec.flow = ran
  local dir = opts.spec_path and (opts.spec_path:match("^(.*)/[^/]*$") or ".") or "."
  local r, rerr = require("rivulet.test").run(spec, { name = "replay of " .. sid, dir = dir, live = false })
  if not r then return nil, "the written spec does not run: " .. tostring(rerr), "failed" end
  if r.failed > 0 then
    return nil, format("the written spec does not pass against the flow as it ran:\n%s",
      require("rivulet.test").format_failure(r.cases[1])), "failed"
  end
  return text, { steps = #steps, flow = flow_path or "(embedded)", inputs = #inputs,
                 stubs = next(stubs) and true or false }
end

return M
