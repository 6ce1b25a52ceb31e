-- rivulet.test.spec: reading a conversation spec (the format is documented in
-- lua/rivulet/test/init.lua) and checking it before anything runs, the paths it names, and
-- a case with its spec's defaults.

local text = require "rivulet.test.text"

local type, pairs, ipairs, tostring, error, pcall, select =
  type, pairs, ipairs, tostring, error, pcall, select
local setmetatable, next = setmetatable, next
local format, sub = string.format, string.sub
local concat, sort = table.concat, table.sort
local open = io.open
local quote, show = text.quote, text.show
local parse_time = require("rivulet.time").parse

local M = {}

-- ---- paths --------------------------------------------------------------------------------

function M.exists(path)
  local f = open(path, "rb")
  if f then f:close() end
  return f ~= nil
end
local exists = M.exists

-- "a/./b/../c" -> "a/c"; keeps leading ".." and "/"
function M.normalize(path)
  local abs = sub(path, 1, 1) == "/"
  local parts = {}
  for seg in path:gmatch("[^/]+") do
    if seg == ".." then
      if #parts > 0 and parts[#parts] ~= ".." then parts[#parts] = nil
      elseif not abs then parts[#parts + 1] = ".." end
    elseif seg ~= "." then
      parts[#parts + 1] = seg
    end
  end
  local s = concat(parts, "/")
  if abs then return "/" .. s end
  return s == "" and "." or s
end
local normalize = M.normalize

local function dirname(path)
  return path:match("^(.*)/[^/]*$") or "."
end

-- a path named in a spec: relative to the spec's folder, else to the current directory
function M.resolve(path, dir)
  if sub(path, 1, 1) == "/" or not dir then return normalize(path) end
  local in_dir = normalize(dir .. "/" .. path)
  if exists(in_dir) or not exists(path) then return in_dir end
  return normalize(path)
end

-- ---- checking -----------------------------------------------------------------------------

-- keys a case (or, as defaults, a spec) may have
local CASE_KEYS = {
  name = true, flow = true, trigger = true, now = true, stubs = true, live = true, url_map = true,
  subflows = true, timezone = true, limits = true, auth_token = true, skip = true, script = true,
  status = true, state = true, reason = true, path = true, context = true, reasons = true,
  functions = true, account_sid = true,
}
local SPEC_ONLY = { cases = true, setup = true, teardown = true, description = true }
M.DEFAULT_KEYS = {     -- what a spec-level key provides to its cases
  flow = true, trigger = true, now = true, stubs = true, live = true, url_map = true,
  subflows = true, timezone = true, limits = true, auth_token = true, skip = true,
  functions = true, account_sid = true,
}
local DEFAULT_KEYS = M.DEFAULT_KEYS
local STATUSES = { ended = true, failed = true, active = true }
local TRIGGERS = require("rivulet.widgets.trigger").EVENTS
local STEP_KEYS = { expect = true, reply = true, timeout = true, advance = true, state = true,
                    context = true, path = true, status = true, check = true, hangup = true,
                    event = true, reasons = true }
local EXPECT_EXTRA = { to = true, from = true, widget = true }

-- { match = "pattern" } and nothing else
function M.is_matcher(v)
  return type(v) == "table" and type(v.match) == "string" and next(v, next(v)) == nil
end
local is_matcher = M.is_matcher

-- a script step -> normalized {kind, value, ...} | nil, err
local function parse_step(s)
  if type(s) == "string" then
    local mark, body = s:match("^([<>])$")
    if not mark then mark, body = s:match("^([<>]) (.*)$") end
    if not mark then
      return nil, format("%s: a string step is \"> TEXT\" (the flow sends) or " ..
        "\"< TEXT\" (the contact replies)", quote(s))
    end
    if mark == ">" then return { kind = "expect", value = body or "", src = s } end
    return { kind = "reply", value = body or "", src = s }
  end
  if type(s) ~= "table" then
    return nil, format("a step must be a string or a table, not %s", type(s))
  end
  local kind
  for k in pairs(s) do
    if STEP_KEYS[k] then
      if kind then
        return nil, format("a step does one thing, this one has both '%s' and '%s'", kind, k)
      end
      kind = k
    end
  end
  if not kind then return nil, format("unknown step %s", show(s)) end
  for k in pairs(s) do
    local extra = (kind == "expect" and EXPECT_EXTRA[k]) or (kind == "reply" and k == "media_url")
      or (kind == "event" and (k == "outputs" or k == "widget"))
    if k ~= kind and not extra then
      return nil, format("unknown key '%s' in a '%s' step", tostring(k), kind)
    end
  end
  local v = s[kind]
  local step = { kind = kind, value = v, src = s, to = s.to, from = s.from, widget = s.widget,
                 media_url = s.media_url, outputs = s.outputs }
  if kind == "expect" and not (type(v) == "string" or type(v) == "function" or is_matcher(v)) then
    return nil, "expect wants a string, { match = \"pattern\" } or a function"
  elseif kind == "reply" and type(v) ~= "string" then
    return nil, "reply wants a string"
  elseif kind == "timeout" and v ~= true then
    return nil, "timeout wants true"
  elseif kind == "hangup" and v ~= true then
    return nil, "hangup wants true"
  elseif kind == "event" and type(v) ~= "string" then
    return nil, "event wants the name of one of the waiting widget's events"
  elseif kind == "event" and s.outputs ~= nil and type(s.outputs) ~= "table" then
    return nil, "outputs wants a table"
  elseif kind == "advance" and (type(v) ~= "number" or v < 0) then
    return nil, "advance wants a number of seconds >= 0"
  elseif kind == "state" and type(v) ~= "string" then
    return nil, "state wants a state name"
  elseif (kind == "context" or kind == "path" or kind == "reasons") and type(v) ~= "table" then
    return nil, kind .. " wants a table"
  elseif kind == "status" and not STATUSES[v] then
    return nil, "status is one of ended, failed, active"
  elseif kind == "check" and type(v) ~= "function" then
    return nil, "check wants a function"
  end
  return step
end

local WANTS = { state = { "string", "a state name" }, context = { "table", "a table" },
                reasons = { "table", "a table of widget name = reason" },
                functions = { "table", "a table of function SID = URL" },
                account_sid = { "string", "an account SID (AC...)" },
                path = { "table", "a list of state names" },
                script = { "table", "a list of steps" } }

local function check_case(c, where)
  for k in pairs(c) do
    if not CASE_KEYS[k] then return nil, format("%s: unknown key '%s'", where, tostring(k)) end
  end
  if c.trigger ~= nil then
    local tr = c.trigger
    if type(tr) ~= "string" and type(tr) ~= "table" then
      return nil, where .. ": trigger wants a table or a message body"
    end
    if type(tr) == "table" and tr.event ~= nil and not TRIGGERS[tr.event] then
      return nil, format("%s: unknown trigger event '%s'", where, tostring(tr.event))
    end
  end
  if c.now ~= nil and not parse_time(c.now) then
    return nil, format("%s: now wants epoch seconds or \"YYYY-MM-DDTHH:MM:SSZ\", not %s", where,
      show(c.now))
  end
  if c.stubs ~= nil and type(c.stubs) ~= "table" then
    return nil, where .. ": stubs wants a table"
  end
  for k, v in pairs(c.stubs or {}) do
    if type(k) ~= "string" then
      return nil, where .. ": stub keys are widget names or URL prefixes"
    end
    if v ~= false and type(v) ~= "table" and type(v) ~= "function" then
      return nil, format("%s: stub '%s' wants a reply table, a list of replies, a function " ..
        "or false", where, k)
    end
  end
  if c.status ~= nil and not STATUSES[c.status] then
    return nil, format("%s: status is one of ended, failed, active, not %s", where, show(c.status))
  end
  for k, w in pairs(WANTS) do
    if c[k] ~= nil and type(c[k]) ~= w[1] then
      return nil, format("%s: %s wants %s", where, k, w[2])
    end
  end
  if c.flow ~= nil and type(c.flow) ~= "string" and type(c.flow) ~= "table" then
    return nil, where .. ": flow wants a file name or a flow table"
  end
  local steps = {}
  for i, s in ipairs(c.script or {}) do
    local step, err = parse_step(s)
    if not step then return nil, format("%s: script step %d: %s", where, i, err) end
    steps[i] = step
  end
  return steps
end

-- the spec table (or file) -> normalized spec | nil, err
function M.load(spec, options)
  options = options or {}
  local path, dir
  if type(spec) == "string" then
    path = spec
    local f, oerr = open(path, "rb")
    if not f then return nil, oerr end
    local src, rerr = f:read("a")
    f:close()
    if not src then return nil, format("%s: %s", path, tostring(rerr)) end
    -- the spec's own globals stay its own; it sees everything else (require, io, ...)
    local env = setmetatable({}, { __index = _G })
    local chunk, lerr = load(src, "@" .. path, "t", env)
    if not chunk then return nil, lerr end
    local ok, t = pcall(chunk, path)
    if not ok then return nil, format("%s: %s", path, tostring(t)) end
    if type(t) ~= "table" then return nil, format("%s: a spec file must return a table", path) end
    spec = t
    dir = dirname(path)
  elseif type(spec) == "table" then
    path = options.name or spec.name or "spec"
    dir = options.dir
  else
    error("rivulet.test: a spec is a file name or a table", 3)
  end
  local name = path
  local defaults = {}
  local cases = {}
  for k, v in pairs(spec) do
    if type(k) == "string" and k:match("^test") and type(v) == "table" then
      cases[#cases + 1] = { name = k, def = v }
    elseif type(k) == "string" and DEFAULT_KEYS[k] then
      defaults[k] = v
    elseif not (type(k) == "string" and (SPEC_ONLY[k] or k == "name")) then
      return nil, format("%s: unknown spec key '%s'", name, tostring(k))
    end
  end
  sort(cases, function(a, b) return a.name < b.name end)
  local listed = {}
  if spec.cases ~= nil then
    if type(spec.cases) ~= "table" then return nil, name .. ": cases wants a table" end
    if spec.cases[1] ~= nil or next(spec.cases) == nil then
      for i, c in ipairs(spec.cases) do
        if type(c) ~= "table" then return nil, format("%s: case %d must be a table", name, i) end
        listed[#listed + 1] = { name = c.name or format("case %d", i), def = c }
      end
    else
      for k, c in pairs(spec.cases) do
        if type(c) ~= "table" then
          return nil, format("%s: case '%s' must be a table", name, tostring(k))
        end
        listed[#listed + 1] = { name = tostring(c.name or k), def = c }
      end
      sort(listed, function(a, b) return a.name < b.name end)
    end
  end
  -- listed cases first, then the test_* ones
  for _, c in ipairs(cases) do listed[#listed + 1] = c end
  cases = listed
  if #cases == 0 then return nil, name .. ": no cases (cases = {...} or test_... entries)" end
  local err = select(2, check_case(defaults, name))
  if err then return nil, err end
  for _, c in ipairs(cases) do
    local steps, cerr = check_case(c.def, format("%s: %s", name, c.name))
    if not steps then return nil, cerr end
    c.steps = steps
  end
  for _, k in ipairs{ "setup", "teardown" } do
    if spec[k] ~= nil and type(spec[k]) ~= "function" then
      return nil, format("%s: %s wants a function", name, k)
    end
  end
  return { path = path, dir = dir, name = name, defaults = defaults, cases = cases, table = spec,
           setup = spec.setup, teardown = spec.teardown }
end

local function copy(t)
  local c = {}
  for k, v in pairs(t or {}) do c[k] = v end
  return c
end

-- a case with its spec's defaults under it; `stubs` merge key by key
function M.merged(defaults, case)
  local c = copy(defaults)
  for k, v in pairs(case) do
    if k == "stubs" then
      local s = copy(defaults.stubs)
      for sk, sv in pairs(v) do s[sk] = sv end
      c.stubs = s
    else
      c[k] = v
    end
  end
  return c
end

return M
