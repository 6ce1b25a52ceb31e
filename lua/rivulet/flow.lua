-- rivulet.flow: loading flows into one model, and exporting them back to Studio JSON.
--
-- A flow is Studio's Flow Definition: {description, initial_state, flags, states}, each
-- state {name, type, transitions = {{event, next?, conditions?}}, properties}. It loads from
-- a Studio export (.json), from a Lua file (.lua) returning either that shape or the short
-- form below, or from a table in either shape.
--
-- The short Lua form lists the states in order (the first is the initial state unless
-- `initial_state` says otherwise); a state's properties sit beside its name and type, `on`
-- maps events to the next state, and a split's branches go in `match`:
--
--   return {
--     description = "Guess",
--     { name = "Trigger", type = "trigger", on = { incomingMessage = "ask" } },
--     { name = "ask", type = "send-and-wait-for-reply", body = "Heads or tails?",
--       on = { incomingMessage = "check", timeout = "bye" } },
--     { name = "check", type = "split-based-on", input = "{{widgets.ask.inbound.Body}}",
--       match = { { type = "matches_any_of", value = "heads,h", next = "win" } },
--       on = { noMatch = "bye" } },
--     { name = "count", type = "set-variables", variables = { tries = "{{flow.variables.tries | plus: 1}}" },
--       on = { next = "ask" } },
--     ...
--   }
--
-- `variables`, `parameters` and `content_variables` may be maps ({k = v}) there; they become
-- Studio's {{key =, value =}} lists, sorted by key.

local json = require "rivulet.json"

local type, pairs, ipairs, error, tostring, tonumber, setmetatable, getmetatable, next, pcall =
  type, pairs, ipairs, error, tostring, tonumber, setmetatable, getmetatable, next, pcall
local format, sort = string.format, table.sort
local open = io.open

local M = {}

local Flow = {}
Flow.__index = Flow
M.Flow = Flow

local SHORT_KEYS = { name = true, type = true, on = true, match = true, transitions = true, properties = true }
local LIST_PROPERTIES = { variables = true, parameters = true, content_variables = true }

local function kv_list(map)
  local keys, list = {}, {}
  for k in pairs(map) do keys[#keys + 1] = k end
  sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  for i, k in ipairs(keys) do list[i] = { key = k, value = map[k] } end
  return list
end

-- one state of the short form -> Studio's shape
local function normalize_short(s, i)
  if type(s) ~= "table" then error(format("state %d must be a table", i), 0) end
  local props, transitions = {}, {}
  for k, v in pairs(s) do
    if not SHORT_KEYS[k] then
      if LIST_PROPERTIES[k] and type(v) == "table" and v[1] == nil and next(v) ~= nil then v = kv_list(v) end
      props[k] = v
    end
  end
  for k, v in pairs(s.properties or {}) do props[k] = v end
  for _, m in ipairs(s.match or {}) do
    transitions[#transitions + 1] = {
      event = "match", next = m.next,
      conditions = { {
        friendly_name = m.friendly_name or format("If value %s %s", tostring(m.type), tostring(m.value or "")),
        arguments = m.arguments or { s.input or props.input },
        type = m.type, value = m.value,
      } },
    }
  end
  if s.on then
    local events = {}
    for e in pairs(s.on) do events[#events + 1] = e end
    sort(events)
    for _, e in ipairs(events) do
      local nx = s.on[e]
      transitions[#transitions + 1] = { event = e, next = nx ~= false and nx or nil }
    end
  end
  for _, t in ipairs(s.transitions or {}) do transitions[#transitions + 1] = t end
  return { name = s.name, type = s.type, transitions = transitions, properties = props }
end

local function index(flow)
  flow.by_name = {}
  for i, s in ipairs(flow.states) do
    if type(s) == "table" and type(s.name) == "string" and flow.by_name[s.name] == nil then
      flow.by_name[s.name] = s
      s.index = i - 1          -- its #/states/N path
    end
  end
  return flow
end

-- table in either shape -> flow (no validation beyond shape: rivulet.validate judges it)
function M.from_table(t, source)
  if type(t) ~= "table" then return nil, format("%s: a flow must be a table", source or "flow") end
  local flow = setmetatable({ source = source, flags = { allow_concurrent_calls = true } }, Flow)
  if t.states ~= nil then                                  -- Studio's shape
    if type(t.states) ~= "table" then return nil, format("%s: #/states: must be an array", source or "flow") end
    flow.description = t.description
    flow.initial_state = t.initial_state
    flow.flags = t.flags or flow.flags
    flow.states = {}
    for i, s in ipairs(t.states) do
      if type(s) ~= "table" then
        flow.states[i] = s
      else
        flow.states[i] = { name = s.name, type = s.type, transitions = s.transitions or {},
                           properties = s.properties or {} }
      end
    end
  else                                                      -- the short form
    flow.description = t.description
    flow.states = {}
    for i, s in ipairs(t) do
      local ok, st = pcall(normalize_short, s, i)
      if not ok then return nil, format("%s: %s", source or "flow", st) end
      flow.states[i] = st
    end
    flow.initial_state = t.initial_state or (flow.states[1] and flow.states[1].name)
    if t.flags then flow.flags = t.flags end
  end
  flow.sid = t.sid
  return index(flow)
end

local function read(path)
  local f, err = open(path, "rb")
  if not f then return nil, err end
  local s, rerr = f:read("a")
  f:close()
  if not s then return nil, rerr or "cannot read" end
  return s
end

-- cjson's "at character N" -> "at line L, column C" (bytes); its token names -> words
local TOKENS = {
  T_END = "the end of the file", T_OBJ_END = "'}'", T_ARR_END = "']'", T_COMMA = "','",
  T_COLON = "':'", T_OBJ_BEGIN = "'{'", T_ARR_BEGIN = "'['", T_STRING = "a string",
  T_NUMBER = "a number", T_BOOLEAN = "a boolean", T_NULL = "null",
}
local function json_error(text, msg)
  msg = tostring(msg):gsub("T_[%u_]+", TOKENS)
  local n = tonumber(msg:match("at character (%d+)$"))
  if not n then return msg end
  local line, col, i = 1, n, 1
  while true do
    local nl = text:find("\n", i, true)
    if not nl or nl >= n then break end
    line, col, i = line + 1, n - nl, nl + 1
  end
  return (msg:gsub("at character %d+$", format("at line %d, column %d", line, col)))
end

-- from_json(text, source) -> flow | nil, err: a Studio export given as JSON text (what
-- load_file does with a .json file; source names it in messages)
function M.from_json(text, source)
  source = source or "flow"
  if text:sub(1, 3) == "\239\187\191" then text = text:sub(4) end   -- a UTF-8 byte order mark
  local t, jerr = json.decode(text)
  if t == nil then return nil, format("%s: invalid JSON: %s", source, json_error(text, jerr)) end
  if type(t) ~= "table" or (t.states == nil and next(t) ~= nil and t[1] ~= nil) then
    local what = type(t) == "table" and "an array" or (t == json.null and "null" or "a " .. type(t))
    return nil, format("%s: #: a flow must be a JSON object {\"states\": [...], ...}, not %s", source, what)
  end
  local flow, ferr = M.from_table(t, source)
  if flow then flow.text, flow.kind = text, "json" end   -- what a store keeps to reload it
  return flow, ferr
end

-- from_lua(text, path) -> flow | nil, err: a Lua flow file's text, run in a sandbox of its
-- own (rivulet.sandbox). Its table comes back as plain data, with each function replaced by
-- a marker; flow.logic holds the compiled file, which the lua widget runs again for each
-- call of one of them. Nothing of the file (a metatable, a finalizer) reaches this state.
function M.from_lua(text, path)
  local sandbox = require "rivulet.sandbox"
  local ok, t, unit = sandbox.load_flow(text, "@" .. path)
  if not ok then
    t = tostring(t)
    if t:sub(1, #path) ~= path then t = format("%s: while loading the flow file: %s", path, t) end
    return nil, t
  end
  if type(t) ~= "table" or sandbox.is_function(t) then
    return nil, format("%s: a Lua flow file must return a table, not %s", path,
                       type(t) == "table" and "function" or type(t))
  end
  local fok, flow, ferr = pcall(M.from_table, t, path)
  if not fok then return nil, format("%s: %s", path, tostring(flow)) end
  if flow then flow.text, flow.kind, flow.logic = text, "lua", unit end   -- a store keeps the text
  return flow, ferr
end

function M.load_file(path)
  local text, err = read(path)
  if not text then
    if err and err:sub(1, #path) == path then return nil, err end   -- io already names the file
    return nil, format("%s: %s", path, err)
  end
  if path:match("%.lua$") then return M.from_lua(text, path) end
  return M.from_json(text, path)
end

-- load_flow(path_or_table) -> flow | nil, err
function M.load(x)
  if type(x) == "string" then return M.load_file(x) end
  if type(x) == "table" then
    if getmetatable(x) == Flow then return x end
    return M.from_table(x, "flow")
  end
  error("load_flow expects a file name or a table", 2)
end

-- Studio's Flow Definition as a plain table (what export writes as JSON).
function Flow:definition()
  local states = {}
  for i, s in ipairs(self.states) do
    local tr = {}
    for j, t in ipairs(s.transitions or {}) do
      tr[j] = { event = t.event, next = t.next, conditions = t.conditions }
    end
    states[i] = { name = s.name, type = s.type, transitions = tr, properties = s.properties or {} }
  end
  return { description = self.description or "", states = states, initial_state = self.initial_state,
           flags = self.flags or { allow_concurrent_calls = true } }
end

function Flow:to_json()
  return json.encode(self:definition())
end

-- a flow's name for records and listings: its file's base name (flows/x.lua -> x), or the
-- description it was given
function M.short_name(source)
  if type(source) == "string" then return source:match("([^/]+)%.%w+$") or source end
  return source
end

function Flow:state(name)
  return self.by_name[name]
end

-- the transitions of a state for an event, in order
function Flow:transitions(state, event)
  local out = {}
  for _, t in ipairs(state.transitions or {}) do
    if t.event == event then out[#out + 1] = t end
  end
  return out
end

M.kv_list = kv_list

return M
