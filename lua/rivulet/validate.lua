-- rivulet.validate: checks a flow the way Studio's FlowValidate does, plus warnings Studio
-- does not give.
--
--   local ok, problems = validate.validate(flow)   -- rivulet.validate(flow)
--
-- `flow` is a loaded flow (rivulet.load_flow) or a table in either shape flow.lua accepts.
-- `problems` is a list of {path = "#/states/3/transitions/0/next", level = "error" |
-- "warning", message = "…"} ordered by JSON path (state index, then the rest; numbers
-- compare as numbers); `ok` is false iff any problem is an error. Paths are JSON Pointers
-- into the Flow Definition, 0-based like Studio's `property_path`.
--
-- Errors (Studio rejects the flow): the envelope (states, at most 1000; initial_state),
-- state names (present, unique, start with a letter, no spaces or periods), unknown types,
-- events a widget does not have, `next` naming no state, missing required properties,
-- wrongly typed properties (the widget module's `properties`, e.g. timeout = "string"),
-- split conditions (present on `match`, a known type, a regex that compiles).
-- Warnings (the flow runs, but probably not as meant): Liquid that does not compile (see
-- LIQUID_SYNTAX), a `fail`/`failed` event left unhandled or sent back to its own widget,
-- states unreachable from the initial state, Liquid reading widgets.X when there is no
-- state X, a Send & Wait whose reply goes nowhere, a loop with no exit (states from which
-- no path ever ends the flow: it runs until the engine's step guard stops it), a voice
-- widget no call reaches (no path to it from the trigger's incomingCall or incomingParent,
-- or from an outgoing call answered: it would wait for a call that is not there).

local flowlib = require "rivulet.flow"
local widgets = require "rivulet.widgets"
local liquid = require "rivulet.liquid"
local core = require "rivulet.core"
local json = require "rivulet.json"

local type, pairs, ipairs, next, tostring, tonumber = type, pairs, ipairs, next, tostring, tonumber
local getmetatable, setmetatable, error = getmetatable, setmetatable, error
local format, find, sub, match = string.format, string.find, string.sub, string.match
local gsub, gmatch = string.gsub, string.gmatch
local concat, sort = table.concat, table.sort
local mtype, floor, max = math.type, math.floor, math.max

local M = {}

-- Studio's published schema: maxItems 1000 (the product docs say 2,000 incl. subflows)
M.MAX_STATES = 1000


-- The level of a Liquid syntax error. Studio saves and publishes flows whose Liquid does
-- not parse (corpus 10 has "{{flow.variables.reservation_id" with no "}}"), so it is not
-- what FlowValidate rejects; rendering such a template fails the widget at run time.
M.LIQUID_SYNTAX = "warning"

-- ---- paths and the problem list ------------------------------------------------------------

-- a JSON Pointer segment (RFC 6901 escapes)
local function seg(k)
  return (gsub(gsub(tostring(k), "~", "~0"), "/", "~1"))
end

local function join(path, k)
  return path .. "/" .. seg(k)
end

local function splitpath(p)
  local out = {}
  for s in gmatch(p, "[^/]+") do out[#out + 1] = tonumber(s) or s end
  return out
end

-- segment by segment; numbers before names, numbers by value, a prefix first
local function path_less(a, b)
  local x, y = a.key, b.key
  for i = 1, max(#x, #y) do
    local u, v = x[i], y[i]
    if u == nil then return true end
    if v == nil then return false end
    if u ~= v then
      local tu, tv = type(u), type(v)
      if tu ~= tv then return tu == "number" end
      return u < v
    end
  end
  return a.seq < b.seq
end

local Report = {}
Report.__index = Report

local function report()
  return setmetatable({ list = {}, errors = 0 }, Report)
end

function Report:add(level, path, fmt, ...)
  local l = self.list
  l[#l + 1] = { path = path, level = level, message = format(fmt, ...),
                key = splitpath(path), seq = #l }
  if level == "error" then self.errors = self.errors + 1 end
end

function Report:error(path, fmt, ...) self:add("error", path, fmt, ...) end
function Report:warning(path, fmt, ...) self:add("warning", path, fmt, ...) end

function Report:finish()
  local l = self.list
  sort(l, path_less)
  for _, p in ipairs(l) do p.key, p.seq = nil, nil end
  return self.errors == 0, l
end

-- ---- values ----------------------------------------------------------------------------------

local function describe(v)
  if v == json.null then return "null" end
  if mtype(v) == "float" and v ~= floor(v) then return "a number with a fraction" end
  return type(v)
end

-- a Lua array 1..n (an empty table counts: JSON's [] and {} both decode to it)
local function is_list(t)
  if type(t) ~= "table" then return false end
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  for i = 1, n do if t[i] == nil then return false end end
  return true
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  sort(keys, function(a, b)
    local ta, tb = type(a), type(b)
    if ta ~= tb then return ta == "number" end
    if ta == "number" or ta == "string" then return a < b end
    return tostring(a) < tostring(b)
  end)
  return keys
end

local NAMES = {
  string = "a string", integer = "an integer", number = "a number", boolean = "a boolean",
  object = "an object", list = "a list", kv_list = "a list of {key, value}",
  ["function"] = "a function",
}

local CHECKS = {
  string = function(v) return type(v) == "string" end,
  number = function(v) return type(v) == "number" end,
  integer = function(v) return mtype(v) == "integer" or (type(v) == "number" and v == floor(v)) end,
  boolean = function(v) return type(v) == "boolean" end,
  object = function(v) return type(v) == "table" end,
  list = is_list,
  kv_list = is_list,      -- the items are checked below
  ["function"] = function(v) return type(v) == "function" end,
}

-- Studio's [{key, value}] lists: key a non-empty string, value a scalar
local function check_kv_items(list, path, rep)
  for i, kv in ipairs(list) do
    local p = join(path, i - 1)
    if type(kv) ~= "table" then
      rep:error(p, "must be an object {key, value}, not %s", describe(kv))
    else
      if type(kv.key) ~= "string" or kv.key == "" then
        rep:error(join(p, "key"), "key must be a non-empty string, not %s",
                  kv.key == "" and "an empty string" or describe(kv.key))
      end
      local v = kv.value
      if v ~= nil and type(v) ~= "string" and type(v) ~= "number" and type(v) ~= "boolean" then
        rep:error(join(p, "value"), "value of '%s' must be a string, not %s",
                  tostring(kv.key), describe(v))
      end
    end
  end
end

-- spec is "string", "string|integer", …
local function check_type(name, spec, v, path, rep, owner)
  local wanted = {}
  for t in gmatch(spec, "[^|]+") do
    local check = CHECKS[t]
    if not check then error(format("unknown property type '%s' for '%s'", t, name), 0) end
    if check(v) then
      if t == "kv_list" then check_kv_items(v, path, rep) end
      return
    end
    wanted[#wanted + 1] = NAMES[t]
  end
  rep:error(path, "%sproperty '%s' must be %s, not %s", owner or "", name, concat(wanted, " or "), describe(v))
end

-- ---- Liquid ------------------------------------------------------------------------------------

local LAX = { mode = "lax" }

-- widget names a template reads: widgets.NAME, widgets['NAME'], widgets["NAME"] inside
-- {{ }} and {% %} (Liquid identifiers may hold hyphens: widgets.new-customer.inbound.Body)
local function widget_refs(s)
  local out = {}
  for markup in gmatch(s, "{[{%%](.-)[}%%]}") do
    local init = 1
    while true do
      local a, b = find(markup, "widgets", init, true)
      if not a then break end
      local before = a > 1 and sub(markup, a - 1, a - 1) or ""
      if not find(before, "^[%w_%-%.]") then
        local rest = sub(markup, b + 1)
        local name = match(rest, "^%s*%.%s*([%a_][%w_%-]*)")
          or match(rest, "^%s*%[%s*'([^']*)'%s*%]") or match(rest, '^%s*%[%s*"([^"]*)"%s*%]')
        if name then out[#out + 1] = name end
      end
      init = b + 1
    end
  end
  return out
end

-- a string that may be Liquid: it must compile; the widgets it reads must exist
local function check_string(s, path, rep, ctx)
  if not liquid.has_markup(s) then return end
  local t, err = liquid.compile(s, LAX)
  if not t then
    local line, col, msg = match(tostring(err), "^.-:(%d+):(%d+): (.*)$")
    local at = line and format(" at %s:%s", line, col) or ""
    rep:add(M.LIQUID_SYNTAX, path, "Liquid syntax error%s: %s (rendering it fails the widget)",
            at, msg or tostring(err))
  end
  local seen = {}
  for _, name in ipairs(widget_refs(s)) do
    if not ctx.names[name] and not seen[name] then
      seen[name] = true
      rep:warning(path, "reads widgets.%s, but no state is named '%s'", name, name)
    end
  end
end

local function walk_strings(v, path, rep, ctx)
  if type(v) == "string" then
    check_string(v, path, rep, ctx)
  elseif type(v) == "table" then
    local list = is_list(v)
    for _, k in ipairs(sorted_keys(v)) do
      walk_strings(v[k], join(path, list and k - 1 or k), rep, ctx)
    end
  end
end

-- ---- one state ---------------------------------------------------------------------------------

local function valid_name(n)
  return find(n, "^%a") ~= nil and not find(n, "[%s%.]")
end

local function set_of(list)
  local s = {}
  for _, x in ipairs(list or {}) do s[x] = true end
  return s
end

-- the condition types, read from the Split widget's module by the first flow with a split
local CONDITIONS

local function check_conditions(t, tpath, rep, ctx)
  CONDITIONS = CONDITIONS or set_of(widgets.get("split-based-on").CONDITIONS)
  local conds = t.conditions
  if conds == nil or (type(conds) == "table" and next(conds) == nil) then
    rep:error(tpath, "a 'match' transition needs conditions (to '%s')", tostring(t.next or ""))
    return
  end
  local cpath = join(tpath, "conditions")
  if not is_list(conds) then
    rep:error(cpath, "conditions must be a list, not %s", describe(conds))
    return
  end
  for k, c in ipairs(conds) do
    local p = join(cpath, k - 1)
    if type(c) ~= "table" then
      rep:error(p, "a condition must be an object, not %s", describe(c))
    else
      if type(c.type) ~= "string" then
        rep:error(join(p, "type"), "a condition needs a type, not %s", describe(c.type))
      elseif not CONDITIONS[c.type] then
        rep:error(join(p, "type"), "unknown condition type '%s'", c.type)
      end
      local args = c.arguments
      if args ~= nil then
        if not is_list(args) then
          rep:error(join(p, "arguments"), "arguments must be a list of strings, not %s",
                    describe(args))
        else
          for m, a in ipairs(args) do
            local ap = join(join(p, "arguments"), m - 1)
            if type(a) ~= "string" then
              rep:error(ap, "an argument must be a string, not %s", describe(a))
            else
              check_string(a, ap, rep, ctx)
            end
          end
        end
      end
      local v, vp = c.value, join(p, "value")
      if type(v) == "string" then
        check_string(v, vp, rep, ctx)
        if c.type == "regex" and not liquid.has_markup(v) then
          local ok, err = core.regex_match(v, "")
          if ok == nil then rep:error(vp, "regex '%s' does not compile: %s", v, tostring(err)) end
        end
      elseif v ~= nil and type(v) ~= "number" then
        rep:error(vp, "a condition's value must be a string, not %s", describe(v))
      end
    end
  end
end

local function check_name(s, i, path, rep, ctx)
  local name = s.name
  local p = join(path, "name")
  if name == nil then
    rep:error(p, "state %d has no name", i - 1)
  elseif type(name) ~= "string" then
    rep:error(p, "a state's name must be a string, not %s", describe(name))
  elseif not valid_name(name) then
    rep:error(p, "invalid state name '%s': it must start with a letter and hold no spaces " ..
                 "or periods", name)
  elseif ctx.first[name] ~= i then
    rep:error(p, "duplicate state name '%s' (also #/states/%d)", name, ctx.first[name] - 1)
  end
end

-- the widget module of the state's type, or nil
local function check_type_of(s, path, label, rep)
  local p = join(path, "type")
  if s.type == nil then
    rep:error(p, "'%s' has no type", label)
  elseif type(s.type) ~= "string" then
    rep:error(p, "the type of '%s' must be a string, not %s", label, describe(s.type))
  else
    local w = widgets.get(s.type)
    if not w then rep:error(p, "unknown widget type '%s' ('%s')", s.type, label) end
    return w
  end
end

local function check_properties(s, w, path, label, rep, ctx)
  local props = s.properties
  local ppath = join(path, "properties")
  if props ~= nil and type(props) ~= "table" then
    rep:error(ppath, "the properties of '%s' must be an object, not %s", label, describe(props))
    return
  end
  props = props or {}
  if w then
    for _, key in ipairs(w.required or {}) do
      if props[key] == nil or props[key] == json.null then
        rep:error(join(ppath, key), "'%s' (%s) is missing required property '%s'",
                  label, w.type, key)
      end
    end
    local types = w.properties or {}
    for _, key in ipairs(sorted_keys(types)) do
      local v = props[key]
      if v ~= nil then
        check_type(key, types[key], v, join(ppath, key), rep, format("'%s' (%s): ", label, w.type))
      end
    end
  end
  -- Liquid: every string property, unless the widget says which (or none: render = false)
  local render = w and w.render
  if render == false then return end
  if type(render) == "table" then
    for k, v in pairs(render) do
      local key = type(k) == "number" and v or k
      if props[key] ~= nil then walk_strings(props[key], join(ppath, key), rep, ctx) end
    end
  else
    walk_strings(props, ppath, rep, ctx)
  end
end

-- the transition list, or nil when it is not one
local function check_transitions(s, w, tpath, label, rep, ctx)
  local trs = s.transitions
  if trs ~= nil and not is_list(trs) then
    rep:error(tpath, "the transitions of '%s' must be a list, not %s", label, describe(trs))
    return nil
  end
  trs = trs or {}
  local events = w and w.events and set_of(w.events)
  local is_split = w and w.type == "split-based-on"
  for j, t in ipairs(trs) do
    local p = join(tpath, j - 1)
    if type(t) ~= "table" then
      rep:error(p, "a transition must be an object, not %s", describe(t))
    else
      local ev = t.event
      if type(ev) ~= "string" then
        rep:error(join(p, "event"), "a transition of '%s' needs an event name, not %s",
                  label, describe(ev))
      elseif events and not events[ev] then
        rep:error(join(p, "event"), "'%s' (%s) has no event '%s' (its events: %s)",
                  label, w.type, ev, concat(w.events, ", "))
      end
      local nx = t.next
      if nx ~= nil then
        if type(nx) ~= "string" then
          rep:error(join(p, "next"), "next must be a state's name (or \"\" to end), not %s",
                    describe(nx))
        elseif nx ~= "" and not ctx.names[nx] then
          rep:error(join(p, "next"), "next '%s' names no state", nx)
        end
      end
      if is_split and ev == "match" then check_conditions(t, p, rep, ctx) end
    end
  end
  return trs
end

-- warnings about where events lead: failures nobody handles, replies that go nowhere
local function check_outcomes(s, w, trs, tpath, label, rep)
  local function find_tr(ev)
    for j, t in ipairs(trs) do
      if type(t) == "table" and t.event == ev then return t, join(tpath, j - 1) end
    end
  end
  for _, ev in ipairs(w.events) do
    -- Send Message's delivery failure is left unconnected in nearly every Studio export;
    -- warning about that would bury the failures that matter (functions, requests, subflows)
    local quiet = w.type == "send-message"
    if ev == "fail" or ev == "failed" then
      local t, p = find_tr(ev)
      if not t then
        if quiet then goto continue end
        rep:warning(tpath, "'%s' has no transition for '%s': a failure ends the execution " ..
                    "unhandled", label, ev)
      elseif t.next == nil or t.next == "" then
        if not quiet then
          rep:warning(t.next == nil and p or join(p, "next"),
                      "'%s' does not handle '%s': a failure ends the execution unhandled", label, ev)
        end
      elseif t.next == s.name then
        rep:warning(join(p, "next"), "'%s' sends '%s' back to itself: a lasting failure " ..
                    "repeats it until the same-widget limit stops the execution", label, ev)
      end
    end
    ::continue::
  end
  if w.type == "send-and-wait-for-reply" then
    local t, p = find_tr("incomingMessage")
    if not t then
      rep:warning(tpath, "'%s' has no transition for 'incomingMessage': a reply ends the " ..
                  "execution", label)
    elseif t.next == nil or t.next == "" then
      rep:warning(t.next == nil and p or join(p, "next"),
                  "'%s' sends 'incomingMessage' nowhere: a reply ends the execution", label)
    end
  end
end

-- Studio's error 81014, "Parameter name uses a reserved word, e.g. "method""
-- (twilio.com/docs/api/errors/81014, REFERENCE.md §4): the widget fails at run time
-- without sending anything (rivulet.http.RESERVED_PARAMETERS), so validate says so first
local RESERVED_IN = { ["make-http-request"] = true, ["run-function"] = true }

local function check_reserved(s, path, label, rep)
  local props = type(s.properties) == "table" and s.properties or nil
  if not (RESERVED_IN[s.type] and props and type(props.parameters) == "table") then return end
  local reserved = require("rivulet.http").RESERVED_PARAMETERS
  for i, kv in ipairs(props.parameters) do
    if type(kv) == "table" and reserved[kv.key] then
      rep:error(join(join(join(path, "properties"), "parameters"), i - 1), "'%s' (%s): parameter name '%s' " ..
                "is a reserved word (Studio error 81014): the widget fails without sending anything",
                label, s.type, tostring(kv.key))
    end
  end
end

local function check_state(s, i, rep, ctx)
  local path = "#/states/" .. (i - 1)
  if type(s) ~= "table" then
    rep:error(path, "a state must be an object, not %s", describe(s))
    return
  end
  local label = type(s.name) == "string" and s.name or ("state " .. (i - 1))
  check_name(s, i, path, rep, ctx)
  local w = check_type_of(s, path, label, rep)
  check_properties(s, w, path, label, rep, ctx)
  check_reserved(s, path, label, rep)
  local tpath = join(path, "transitions")
  local trs = check_transitions(s, w, tpath, label, rep, ctx)
  if trs and w and w.events then check_outcomes(s, w, trs, tpath, label, rep) end
end

-- ---- the flow ----------------------------------------------------------------------------

local function reachable(states, first, start)
  local seen, queue = { [start] = true }, { start }
  local qi = 1
  while queue[qi] do
    local s = states[first[queue[qi]]]
    qi = qi + 1
    if type(s.transitions) == "table" then
      for _, t in ipairs(s.transitions) do
        local nx = type(t) == "table" and t.next
        if type(nx) == "string" and first[nx] and not seen[nx] then
          seen[nx] = true
          queue[#queue + 1] = nx
        end
      end
    end
  end
  return seen
end

-- the names of the states from which the flow can end: a transition with no `next`, an
-- event the state does not handle (it ends the execution), or a state that can end next
local function can_end(states, first)
  local ends, into, queue = {}, {}, {}
  for i, s in ipairs(states) do
    if type(s) == "table" and type(s.name) == "string" and first[s.name] == i then
      local trs = s.transitions
      local w = type(s.type) == "string" and widgets.get(s.type)
      local stops = type(trs) ~= "table" or not w
      local handled = {}
      for _, t in ipairs(type(trs) == "table" and trs or {}) do
        local nx = type(t) == "table" and t.next
        if type(t) == "table" and t.event ~= nil then handled[t.event] = true end
        if type(nx) == "string" and first[nx] then
          into[nx] = into[nx] or {}
          into[nx][#into[nx] + 1] = s.name
        else
          stops = true
        end
      end
      for _, ev in ipairs(w and w.events or {}) do
        if not handled[ev] then stops = true end
      end
      if stops then ends[s.name] = true queue[#queue + 1] = s.name end
    end
  end
  local qi = 1
  while queue[qi] do
    for _, from in ipairs(into[queue[qi]] or {}) do
      if not ends[from] then ends[from] = true queue[#queue + 1] = from end
    end
    qi = qi + 1
  end
  return ends
end

-- widgets that only make sense on a call (they answer with TwiML and nothing else)
M.CALL_ONLY = {
  ["say-play"] = true, ["gather-input-on-call"] = true, ["record-voicemail"] = true, ["connect-call-to"] = true,
  ["enqueue-call"] = true, ["record-call"] = true, ["fork-stream"] = true, ["capture-payments"] = true,
  ["connect-virtual-agent"] = true, ["connect-virtual-agent-v2"] = true, ["run-conversation-relay"] = true,
}
-- where a call starts: the trigger's events, and an outgoing call's answers
local CALL_TRIGGERS = { incomingCall = true, incomingParent = true }
local CALL_ANSWERS = { answered = true, answeredByMachine = true }

-- the states a call can be in: reachable from where a call starts
local function on_call(states, first)
  local seen = {}
  for _, s in ipairs(states) do
    local outgoing = type(s) == "table" and (s.type == "make-outgoing-call-v2" or s.type == "make-outgoing-call-v1")
    if type(s) == "table" and (s.type == "trigger" or outgoing) and type(s.transitions) == "table" then
      for _, t in ipairs(s.transitions) do
        local nx = type(t) == "table" and t.next
        local starts = s.type == "trigger" and CALL_TRIGGERS[t.event] or outgoing and CALL_ANSWERS[t.event]
        if starts and type(nx) == "string" and first[nx] and not seen[nx] then
          for k in pairs(reachable(states, first, nx)) do seen[k] = true end
        end
      end
    end
  end
  return seen
end

-- ---- what a local run cannot reach ---------------------------------------------------------

-- local_run(flow, opts) -> list of {path, level = "local", kind, message} (kind: function,
-- subflow, credentials, outside): the widgets a run on
-- this machine (rivulet run, test, deliver, serve) cannot carry out as Studio would, and
-- what to give it so it can. The flow must be loaded (rivulet.load_flow). opts:
-- function_map ({ZH... = URL}: --map-function, --functions), subflows (a directory:
-- --subflows; nil: none given), account_sid and auth_token (add_twilio_auth needs both).
function M.local_run(f, opts)
  opts = opts or {}
  local out = {}
  local function note(i, kind, fmt, ...)
    out[#out + 1] = { path = "#/states/" .. (i - 1), level = "local", kind = kind, message = format(fmt, ...) }
  end
  local fmap = opts.function_map or {}
  for i, s in ipairs(type(f) == "table" and type(f.states) == "table" and f.states or {}) do
    local p = type(s) == "table" and type(s.properties) == "table" and s.properties or {}
    local name = type(s) == "table" and tostring(s.name) or "?"
    local ty = type(s) == "table" and s.type
    if ty == "run-function" then
      local url, fsid = p.url, p.function_sid
      local blank = url == nil or (type(url) == "string" and url:match("^%s*$"))
      if blank and type(fsid) == "string" and fsid ~= "" and not fmap[fsid] then
        note(i, "function", "'%s' names function %s but has no url: map it (--map-function %s=URL, or a --functions " ..
             "file), or the run takes 'fail' without calling anything", name, fsid, fsid)
      elseif blank and not (type(fsid) == "string" and fmap[fsid]) then
        note(i, "function", "'%s' has no url and no function SID to map: the run takes 'fail'", name)
      end
    elseif ty == "run-subflow" then
      local sid = p.flow_sid
      if type(sid) == "string" and sid ~= "" then
        local found = false
        if type(opts.subflows) == "string" then
          for _, ext in ipairs{ ".lua", ".json" } do
            local fh = io.open(opts.subflows .. "/" .. sid .. ext, "rb")
            if fh then fh:close() found = true end
          end
        elseif opts.subflows ~= nil then
          found = true                           -- a table or function: the engine resolves it
        end
        if not found then
          note(i, "subflow", "'%s' runs subflow %s: a local run finds it as --subflows DIR/%s.lua or .json%s, " ..
               "else it takes 'failed'", name, sid, sid, type(opts.subflows) == "string"
               and format(" (not in %s)", opts.subflows) or "")
        end
      end
    elseif ty == "make-http-request" and p.add_twilio_auth == true then
      if not (opts.account_sid and opts.auth_token) then
        note(i, "credentials", "'%s' sends the account's credentials (add_twilio_auth): without --account-sid and " ..
             "--auth-token (or RIVULET_ACCOUNT_SID, RIVULET_AUTH_TOKEN) it takes 'failed' without sending", name)
      end
    elseif type(ty) == "string" then
      local w = widgets.get(ty)
      if w and w.timeout_event and not M.CALL_ONLY[ty] then
        note(i, "outside", "'%s' (%s) waits for the outside world (Twilio's APIs, Flex...): rivulet run asks which " ..
             "event it takes (or --event %s=EVENT), a spec scripts it; with no answer it takes '%s'",
             name, ty, name, tostring(w.timeout_event))
      end
    end
  end
  return out
end

-- validate(flow) -> true, problems | false, problems
function M.validate(f)
  local rep = report()
  if type(f) ~= "table" then
    rep:error("#", "a flow must be a table, not %s", describe(f))
    return rep:finish()
  end
  if getmetatable(f) ~= flowlib.Flow then
    if f.states ~= nil and type(f.states) ~= "table" then
      rep:error("#/states", "states must be a list, not %s", describe(f.states))
      return rep:finish()
    end
    local loaded, err = flowlib.from_table(f, "flow")
    if not loaded then
      rep:error("#", "%s", tostring(err))
      return rep:finish()
    end
    f = loaded
  end
  local states = f.states
  if type(states) ~= "table" or #states == 0 then
    rep:error("#/states", "a flow needs at least one state")
    return rep:finish()
  end
  if #states > M.MAX_STATES then
    rep:error("#/states", "%d states: Studio allows at most %d", #states, M.MAX_STATES)
  end

  -- names first: transitions and Liquid refer to states anywhere in the list
  local ctx = { names = {}, first = {} }
  for i, s in ipairs(states) do
    if type(s) == "table" and type(s.name) == "string" and not ctx.first[s.name] then
      ctx.first[s.name] = i
      ctx.names[s.name] = true
    end
  end

  local init = f.initial_state
  local init_ok = false
  if init == nil or init == json.null or init == "" then
    rep:error("#/initial_state",
              "initial_state is missing (Studio exports name the trigger, \"Trigger\")")
  elseif type(init) ~= "string" then
    rep:error("#/initial_state", "initial_state must be a state's name, not %s", describe(init))
  elseif not ctx.names[init] then
    rep:error("#/initial_state", "initial_state '%s' names no state", init)
  else
    init_ok = true
  end

  for i, s in ipairs(states) do check_state(s, i, rep, ctx) end

  if init_ok then
    local seen = reachable(states, ctx.first, init)
    for i, s in ipairs(states) do
      local named = type(s) == "table" and type(s.name) == "string"
      if named and ctx.first[s.name] == i and not seen[s.name] then
        rep:warning("#/states/" .. (i - 1), "'%s' is unreachable from '%s'", s.name, init)
      end
    end
    local called = on_call(states, ctx.first)
    for i, s in ipairs(states) do
      local named = type(s) == "table" and type(s.name) == "string"
      if named and ctx.first[s.name] == i and seen[s.name] and M.CALL_ONLY[s.type] and not called[s.name] then
        rep:warning("#/states/" .. (i - 1), "'%s' (%s) is a voice widget, but no call reaches it (no path " ..
                    "from incomingCall or from an outgoing call answered): it would wait for a call that " ..
                    "is not there", s.name, s.type)
      end
    end
    -- a loop with no way out runs until the engine's step guard stops it
    local ends, stuck, where = can_end(states, ctx.first), {}, nil
    for i, s in ipairs(states) do
      local named = type(s) == "table" and type(s.name) == "string"
      if named and ctx.first[s.name] == i and seen[s.name] and not ends[s.name]
         and s.type ~= "trigger" then
        where = where or i
        stuck[#stuck + 1] = s.name
      end
    end
    if where then
      local more = #stuck > 5 and format(" and %d more", #stuck - 5) or ""
      rep:warning("#/states/" .. (where - 1), "'%s' is in a loop with no exit: the flow can " ..
                  "never end from %s%s", stuck[1], concat(stuck, ", ", 1, math.min(#stuck, 5)), more)
    end
  end
  return rep:finish()
end

return M
