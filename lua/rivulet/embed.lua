-- rivulet.embed: the Lua side of the C API (src/rivulet.c). One engine per handle; every
-- function returns its result, or nil, a code name ("notfound", "busy", "badinput",
-- "misuse") and a plain message, which rivulet.c turns into RIVULET_* codes and
-- rivulet_errmsg. Lua errors (with their tracebacks) are left for rivulet's own bugs.

local rivulet = require "rivulet"
local json = require "rivulet.json"
local trigger_widget = require "rivulet.widgets.trigger"

local type, pairs, ipairs, next, tostring = type, pairs, ipairs, next, tostring
local floor, math_type = math.floor, math.type
local format, find, concat, utf8_len = string.format, string.find, table.concat, utf8.len

local M = {}

-- the engine's result codes -> rivulet.c's code names (RIVULET_*)
local CODES = {
  conflict = "busy", busy = "busy", none = "notfound", not_waiting = "notfound",
  bad_input = "badinput", store_error = "error",
}

-- The events a host may start an execution with: the Trigger widget's, except
-- incomingParent, which only Run Subflow fires (it carries the parent execution).
local EVENTS, EVENT_LIST = {}, {}
for _, ev in ipairs(trigger_widget.events) do
  if ev ~= "incomingParent" then EVENTS[ev] = true; EVENT_LIST[#EVENT_LIST + 1] = ev end
end
EVENT_LIST = concat(EVENT_LIST, ", ")

-- the fields a trigger may have; body and parameters only with the events that carry them
local FIELDS = "event, from, to, body, parameters"
local STRING_FIELDS = { "event", "from", "to", "body" }
local HAS_BODY = { incomingMessage = true, incomingConversationMessage = true }

-- a JSON value's type, as the host wrote it
local function json_type(v)
  if v == json.null then return "null" end
  if type(v) == "table" then         -- cjson gives arrays integer keys ({} and [] look alike)
    local k = next(v)
    return k ~= nil and math_type(k) and "array" or "object"
  end
  return type(v)
end

-- nil, or a message naming the first string under v (keys too) that is not UTF-8
local function bad_utf8(v, path, depth)
  if type(v) == "string" then
    local ok, at = utf8_len(v)
    if not ok then return format("%s is not valid UTF-8 (byte %d)", path, at) end
  elseif type(v) == "table" and depth <= json.MAX_DEPTH then
    for k, x in pairs(v) do
      local kpath = type(k) == "string" and path .. "." .. k or format("%s[%d]", path, k - 1)
      local err = bad_utf8(k, "a key in " .. path, depth + 1) or bad_utf8(x, kpath, depth + 1)
      if err then return err end
    end
  end
  return nil
end

-- check_trigger(text) -> trigger table | nil, message (naming the field at fault)
local function check_trigger(text)
  local t, err = json.decode(text, true)
  if t == nil then return nil, "the trigger is not valid JSON: " .. tostring(err) end
  if type(t) ~= "table" or not find(text, "^%s*{") then   -- [] decodes to an empty table too
    return nil, "the trigger must be a JSON object, not " .. (type(t) == "table" and "an array" or json_type(t))
  end
  err = bad_utf8(t, "trigger", 1)
  if err then return nil, err end
  for k in pairs(t) do
    if k ~= "event" and k ~= "from" and k ~= "to" and k ~= "body" and k ~= "parameters" then
      return nil, format("trigger.%s is not a trigger field (%s)", tostring(k), FIELDS)
    end
  end
  for _, k in ipairs(STRING_FIELDS) do
    local v = t[k]
    if v ~= nil and type(v) ~= "string" then
      return nil, format("trigger.%s must be a string, not %s", k, json_type(v))
    end
    if v and find(v, "\0", 1, true) then
      return nil, format("trigger.%s holds a NUL character (the callbacks take C strings)", k)
    end
  end
  local ev = t.event or "incomingMessage"
  if ev == "incomingParent" then
    return nil, "trigger.event incomingParent starts a subflow from its parent (Run Subflow); a host starts "
      .. EVENT_LIST
  end
  if not EVENTS[ev] then return nil, format("trigger.event '%s' is not one of %s", ev, EVENT_LIST) end
  if t.body ~= nil and not HAS_BODY[ev] then
    return nil, format("trigger.body: an %s trigger has no body", ev)
  end
  if t.parameters ~= nil then
    if ev ~= "incomingRequest" then
      return nil, format("trigger.parameters: only an incomingRequest trigger has parameters, not %s", ev)
    end
    local jt = json_type(t.parameters)
    if jt ~= "object" then return nil, "trigger.parameters must be a JSON object, not " .. jt end
  end
  return t
end

-- nil, or a message when the argument s of rivulet_deliver is not UTF-8
local function bad_argument(name, s)
  local ok, at = utf8_len(s)
  if not ok then return format("rivulet_deliver: %s is not valid UTF-8 (byte %d)", name, at) end
  return nil
end

-- cfg: plain fields from rivulet_config; emit_message(sid, from, to, body) and
-- emit_end(sid, status, reason) call the host's callbacks. -> api | nil, code, message
function M.new(cfg, emit_message, emit_end)
  local url_map = {}
  for i, line in ipairs(cfg.url_map or {}) do
    local from, to = line:match("^(.-)=(.*)$")
    if not from or from == "" then
      return nil, "misuse", format("rivulet_config.url_map[%d] '%s' is not FROM=TO", i - 1, line)
    end
    url_map[from] = to
  end
  local function_map = {}
  for i, line in ipairs(cfg.function_map or {}) do
    local fsid, url = line:match("^(ZH%x+)=(.+)$")
    if not fsid or #fsid ~= 34 then
      return nil, "misuse", format("rivulet_config.function_map[%d] '%s' is not ZH...=URL", i - 1, line)
    end
    function_map[fsid] = url
  end
  if cfg.account_sid ~= nil and (not cfg.account_sid:match("^AC%x+$") or #cfg.account_sid ~= 34) then
    return nil, "misuse", format("rivulet_config.account_sid '%s' is not AC and 32 hex digits", cfg.account_sid)
  end
  local limits = {}
  if cfg.same_widget_limit then limits.same_widget = cfg.same_widget_limit end
  if cfg.step_limit then limits.steps = cfg.step_limit end
  local engine, open_err = rivulet.engine{
    store = cfg.store_path, resume = "poll",     -- callbacks only inside rivulet_poll/start/deliver
    auth_token = cfg.auth_token, timezone = cfg.timezone, url_map = url_map, limits = limits,
    account_sid = cfg.account_sid, function_map = function_map,
    timeout_ms = cfg.http_timeout_ms,
    keep_ended = false,              -- thousands pass through an embedded engine
    on_message = emit_message and function(exec, m)
      emit_message(exec.sid, tostring(m.from or ""), tostring(m.to or ""), tostring(m.body or ""))
    end,
    on_end = emit_end and function(exec)
      emit_end(exec.sid, exec.failed and "failed" or "ended", tostring(exec.reason or ""))
    end,
  }
  if not engine then return nil, "error", open_err end
  local flows = {}
  local api = {}

  function api.load_flow(name, path)
    local f, err = rivulet.load_flow(path)
    if not f then return nil, "badinput", err end
    local ok, problems = rivulet.validate(f)
    if not ok then
      for _, p in ipairs(problems) do
        if p.level == "error" then return nil, "badinput", format("%s: %s: %s", path, p.path, p.message) end
      end
    end
    flows[name] = f
    return true
  end

  function api.start(name, trigger_json)
    local f = flows[name]
    if not f then return nil, "notfound", format("no flow named '%s' (rivulet_load_flow it first)", name) end
    local t, err = check_trigger(trigger_json)
    if not t then return nil, "badinput", err end
    local r = engine:handle{ kind = "start", flow = f, trigger = t }
    if r.code == "started" then return r.sid end
    return nil, CODES[r.code] or "error", r.message
  end

  -- never waits for another process: the host's thread is not ours to hold
  function api.deliver(from, to, body)
    local bad = bad_argument("from", from) or bad_argument("to", to) or bad_argument("body", body)
    if bad then return nil, "badinput", bad end
    local r = engine:handle{ kind = "message", from = from, to = to, body = body }
    if r.code == "resumed" or r.code == "held" then return true end
    return nil, CODES[r.code] or "error", r.message
  end

  function api.poll(ms)
    return engine:poll(ms)
  end

  function api.active()
    return engine.n_active
  end

  -- milliseconds until the next timer is due, or -1
  function api.next_timer_ms()
    local at = engine:next_deadline()
    if not at then return -1 end
    local ms = floor((at - engine.now()) * 1000)
    return ms > 0 and ms or 0
  end

  api.engine = engine
  -- the C client behind the engine's HTTP calls: rivulet.c takes it once, at open, for
  -- rivulet_fds and rivulet_timeout
  api.http_client = engine.http:handle()
  return api
end

return M
