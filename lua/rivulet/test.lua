-- rivulet.test: conversation specs for flows, run against the engine with stubbed
-- functions and a simulated clock, with transition coverage.
--
--   local test = require "rivulet.test"
--   local r = test.run("specs/random_number_spec.lua", { coverage = true })
--   -- r = {passed =, failed =, skipped =, unreadable =, cases = {{name, ok, message,
--   --      transcript, ...}}, coverage =}; nil, err when the spec cannot be loaded
--   test.check(spec)            -- the same, raising the failure report (for LuaUnit suites:
--                               -- function TestMine.test_specs() test.check("x_spec.lua") end)
--
-- A SPEC is a Lua file returning a table (or that table itself):
--
--   return {
--     flow = "../flows/random_number.lua",  -- Lua or Studio JSON; relative to the spec's
--                                           -- folder, else the current directory; or a table
--     stubs = { get_num = { status = 200, json = { number = 4 } } },   -- defaults for every case
--     cases = {
--       { name = "picks a number",
--         script = { "> What is the minimum number?", "< 1",
--                    "> What is the maximum number?", "< 6",
--                    "> Your random number is 4" },
--         state = "send_num",
--         context = { ["widgets.get_num.parsed.number"] = 4 } },
--     },
--     test_function_fails = { stubs = { get_num = { status = 500 } }, script = {...} },
--   }
--
-- The file runs as ordinary Lua (require works; its globals stay its own) with its own
-- path as `...`. Cases are `cases` (a list, in order, or a map name -> case) and then,
-- LuaUnit-style, every key starting with "test" (in name order). flow, trigger, now,
-- stubs, live, url_map, subflows, timezone, limits, auth_token and skip may also sit at the
-- spec level as every case's default; `stubs` merge key by key. Unknown keys are errors.
--
-- A case:
--   trigger   what starts the execution; the default is an SMS "hi" from +15550001111 to
--             +15559990000. A string is that SMS's body. Tables (fields merge over the
--             default): { event = "incomingMessage", from =, to =, body = },
--             { event = "incomingRequest", parameters = {...} } (REST: flow.data),
--             { event = "incomingParent", parameters = {...} }, incomingCall,
--             incomingConversationMessage. `from` is always the contact and `to` the flow's
--             own number, as in `rivulet run`.
--   now       the simulated clock's start: epoch seconds or "2024-05-01T09:30:00Z" (an
--             offset such as "+02:00" instead of Z works too); default 1704067200
--             (2024-01-01T00:00:00Z). Liquid's "now"/date and every timeout use this clock,
--             which moves only when the script says so: nothing ever sleeps.
--   stubs     calls from Run Function and Make HTTP Request, by widget name (first) or by
--             URL prefix (the longest wins; the URL as the flow asks for it, before url_map):
--               get_num = { status = 200, json = { number = 4 } }      a fixed reply
--               ["https://x.twil.io/fn"] = function(event) return { status = 500 } end
--               get_num = { { status = 500 }, { status = 200, json = {...} } }
--                                           replies in turn, the last one repeating
--               get_num = false              no stub here (cancels a spec-level one)
--             A reply is { status = 200, json = table | body = string, content_type =,
--             reason = "timeout"|"connect_failed"|... (a transport failure), message = }
--             and takes the road a real reply takes (rivulet.http.simulate: the body limit,
--             the status rule, JSON parsing). A function gets event = { widget, url, method,
--             parameters (a map), body, content_type, kind, count (calls so far of that stub,
--             this one included) }; raising in it fails the case with its message.
--   live      true (default): a call no stub matches goes to the network (through url_map,
--             e.g. to twilio-run on loopback). false: it fails the case ("no stub for ...").
--   url_map   { [prefix] = replacement } for live calls, as `rivulet run --map-url`.
--   subflows, timezone, limits, auth_token   engine options (subflow paths are relative to
--             the spec's folder, as `flow` is).
--   skip      a reason (string), or a function(case) returning one or nil: the case is
--             reported as skipped.
--   script    the conversation, in order:
--               "> TEXT"                    the flow sends exactly TEXT
--               "< TEXT"                    the contact replies TEXT
--               { expect = "TEXT" }         as "> TEXT"; also { match = "^Lua pattern$" } or
--                                           function(body, msg) -> truthy | false, why.
--                                           Optional to =, from =, widget = check the message.
--               { reply = "TEXT", media_url = }
--               { timeout = true }          the waiting Send & Wait times out: the clock
--                                           jumps to its deadline
--               { advance = SECONDS }       simulated time passes (timers due fire)
--               { state = "NAME" }, { context = {...} }, { path = {...} }, { status = }:
--                                           the end expectations below, checked mid-script
--               { check = function(exec, engine) -> truthy | false, why }
--             Every message the flow sends must be expected, in order: one it sends that
--             the script does not expect, or one expected that never comes, fails the case.
--   status    at the end: "ended" (default: ended normally), "failed" (a guard or an
--             error stopped it) or "active" (still waiting).
--   state     the state the execution is in at the end (its last widget).
--   reason    the end reason: exact text, { match = "pattern" } or a function.
--   path      the states entered, in order (the trigger left out).
--   context   { ["flow.variables.count"] = "3", ["widgets.get_num.parsed.number"] =
--             function(v) return v >= 1 and v <= 6 end, ["widgets.ask.inbound"] =
--             test.absent }: each key is a dotted path into the context; a value matches
--             by ==, a function by returning truthy, { match = "pattern" } by pattern, a
--             table when each of its keys matches (others may exist), test.absent when
--             nothing is there.
--
-- A spec may also have setup(spec) and teardown(spec), run once around its cases (setup
-- may change the spec's defaults, e.g. set url_map to a server it started); an error in
-- setup fails every case of the spec.
--
-- Coverage: run(..., { coverage = true }) (or a collector from test.coverage(), to add up
-- several specs) records every step of every execution the cases ran, subflows too.
-- collector:report() lists per flow the states entered and the transitions taken and
-- untested ("state -event-> next"; a transition is told apart by its state, event and next);
-- test.format_coverage(report) prints it and test.dot(report) draws it.

local flowlib = require "rivulet.flow"
local engine_mod = require "rivulet.engine"
local http = require "rivulet.http"
local core = require "rivulet.core"

local type, pairs, ipairs, tostring, tonumber, error, pcall, xpcall, select =
  type, pairs, ipairs, tostring, tonumber, error, pcall, xpcall, select
local setmetatable, next, rawequal = setmetatable, next, rawequal
local format, find, sub, gsub = string.format, string.find, string.sub, string.gsub
local concat, sort = table.concat, table.sort
local floor, max, min = math.floor, math.max, math.min
local open = io.open

local M = {}

M.DEFAULT_NOW = 1704067200        -- 2024-01-01T00:00:00Z
M.CONTACT, M.CHANNEL = "+15550001111", "+15559990000"

-- the context expectation "nothing is there"
M.absent = setmetatable({}, { __tostring = function() return "absent" end,
                              __name = "rivulet.test.absent" })

-- ---- small helpers -------------------------------------------------------------------------

local function exists(path)
  local f = open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

-- "a/./b/../c" -> "a/c"; keeps leading ".." and "/"
local function normalize(path)
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
M.normalize = normalize

local function dirname(path)
  return path:match("^(.*)/[^/]*$") or "."
end

-- a path named in a spec: relative to the spec's folder, else to the current directory
local function resolve(path, dir)
  if sub(path, 1, 1) == "/" or not dir then return normalize(path) end
  local in_dir = normalize(dir .. "/" .. path)
  if exists(in_dir) or not exists(path) then return in_dir end
  return normalize(path)
end

local function copy(t)
  local c = {}
  for k, v in pairs(t or {}) do c[k] = v end
  return c
end

-- text as a Lua-ish literal: quotes, escapes, nothing invisible
local QUOTED = { ["\n"] = "\\n", ["\t"] = "\\t", ["\r"] = "\\r", ['"'] = '\\"', ["\\"] = "\\\\" }
local function quote(s)
  s = gsub(tostring(s), '[%c"\\]', function(c)
    local named = QUOTED[c]
    if named then return named end
    return format("\\%d", c:byte())
  end)
  return '"' .. s .. '"'
end

-- message text as people read it; quoted only when whitespace at an end or control
-- characters would otherwise be invisible
local function text(s)
  s = tostring(s)
  if s == "" or find(s, "^%s") or find(s, "%s$") or find(s, "[%z\1-\9\11-\31]") then
    return quote(s)
  end
  return s
end

local function fn_where(f)
  local info = debug and debug.getinfo and debug.getinfo(f, "S")
  if info and info.short_src then
    return format("function (%s:%d)", info.short_src, info.linedefined or 0)
  end
  return "function"
end

-- a value in one line, for diffs
local function show(v, depth)
  depth = depth or 0
  local t = type(v)
  if rawequal(v, M.absent) then return "(absent)" end
  if t == "string" then return quote(v) end
  if t == "function" then return fn_where(v) end
  if t ~= "table" then return tostring(v) end
  if depth >= 3 then return "{…}" end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  sort(keys, function(a, b)
    if type(a) == type(b) and (type(a) == "number" or type(a) == "string") then return a < b end
    return type(a) < type(b)
  end)
  local parts, n = {}, #v
  for i, k in ipairs(keys) do
    if i > 24 then parts[#parts + 1] = "…" break end
    if math.type(k) == "integer" and k >= 1 and k <= n then
      parts[#parts + 1] = show(v[k], depth + 1)
    elseif type(k) == "string" and k:match("^[%a_][%w_]*$") then
      parts[#parts + 1] = k .. " = " .. show(v[k], depth + 1)
    else
      parts[#parts + 1] = "[" .. show(k, depth + 1) .. "] = " .. show(v[k], depth + 1)
    end
  end
  return "{" .. concat(parts, ", ") .. "}"
end
M.show = show

local function lines_of(s)
  local out = {}
  for line in (tostring(s) .. "\n"):gmatch("(.-)\r?\n") do out[#out + 1] = line end
  return out
end

-- a line diff (longest common subsequence) -> {{" "|"-"|"+", line}, ...}
local function line_diff(a, b)
  local n, m = #a, #b
  if n * m > 250000 then
    local out = {}
    for _, l in ipairs(a) do out[#out + 1] = { "-", l } end
    for _, l in ipairs(b) do out[#out + 1] = { "+", l } end
    return out
  end
  local L = {}
  for i = n + 1, 1, -1 do
    L[i] = {}
    for j = m + 1, 1, -1 do
      if i > n or j > m then L[i][j] = 0
      elseif a[i] == b[j] then L[i][j] = L[i + 1][j + 1] + 1
      else L[i][j] = max(L[i + 1][j], L[i][j + 1]) end
    end
  end
  local out, i, j = {}, 1, 1
  while i <= n or j <= m do
    if i <= n and j <= m and a[i] == b[j] then
      out[#out + 1] = { " ", a[i] } i, j = i + 1, j + 1
    elseif j <= m and (i > n or L[i][j + 1] > L[i + 1][j]) then
      out[#out + 1] = { "+", b[j] } j = j + 1
    else
      out[#out + 1] = { "-", a[i] } i = i + 1
    end
  end
  return out
end
M.line_diff = line_diff

-- "2024-05-01T09:30:00Z" / "2024-05-01 09:30" / "...+02:00" -> epoch seconds
local parse_time = require("rivulet.time").parse
M.parse_time = parse_time

-- ---- loading specs ------------------------------------------------------------------------

-- keys a case (or, as defaults, a spec) may have
local CASE_KEYS = {
  name = true, flow = true, trigger = true, now = true, stubs = true, live = true, url_map = true,
  subflows = true, timezone = true, limits = true, auth_token = true, skip = true, script = true,
  status = true, state = true, reason = true, path = true, context = true,
}
local SPEC_ONLY = { cases = true, setup = true, teardown = true, description = true }
local DEFAULT_KEYS = {     -- what a spec-level key provides to its cases
  flow = true, trigger = true, now = true, stubs = true, live = true, url_map = true,
  subflows = true, timezone = true, limits = true, auth_token = true, skip = true,
}
local STATUSES = { ended = true, failed = true, active = true }
local TRIGGERS = require("rivulet.widgets.trigger").EVENTS
local STEP_KEYS = { expect = true, reply = true, timeout = true, advance = true, state = true,
                    context = true, path = true, status = true, check = true }
local EXPECT_EXTRA = { to = true, from = true, widget = true }

local function is_matcher(v)
  return type(v) == "table" and type(v.match) == "string" and next(v, next(v)) == nil
end

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
    if k ~= kind and not extra then
      return nil, format("unknown key '%s' in a '%s' step", tostring(k), kind)
    end
  end
  local v = s[kind]
  local step = { kind = kind, value = v, src = s, to = s.to, from = s.from, widget = s.widget,
                 media_url = s.media_url }
  if kind == "expect" and not (type(v) == "string" or type(v) == "function" or is_matcher(v)) then
    return nil, "expect wants a string, { match = \"pattern\" } or a function"
  elseif kind == "reply" and type(v) ~= "string" then
    return nil, "reply wants a string"
  elseif kind == "timeout" and v ~= true then
    return nil, "timeout wants true"
  elseif kind == "advance" and (type(v) ~= "number" or v < 0) then
    return nil, "advance wants a number of seconds >= 0"
  elseif kind == "state" and type(v) ~= "string" then
    return nil, "state wants a state name"
  elseif (kind == "context" or kind == "path") and type(v) ~= "table" then
    return nil, kind .. " wants a table"
  elseif kind == "status" and not STATUSES[v] then
    return nil, "status is one of ended, failed, active"
  elseif kind == "check" and type(v) ~= "function" then
    return nil, "check wants a function"
  end
  return step
end

local WANTS = { state = { "string", "a state name" }, context = { "table", "a table" },
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

-- ---- coverage ------------------------------------------------------------------------------

local Coverage = {}
Coverage.__index = Coverage

function M.coverage()
  return setmetatable({ flows = {}, order = {} }, Coverage)
end

local ENDED = require("rivulet.dot").ENDED

local function edge_key(from, event, to)
  return from .. "\0" .. event .. "\0" .. to
end

local transition_next = require("rivulet.dot").target

-- the record of one flow, made on first sight
function Coverage:flow(flow, display)
  local key = flow
  if type(flow.source) == "string" and flow.source ~= "flow" then key = normalize(flow.source) end
  local f = self.flows[key]
  if not f then
    f = { name = display or (type(key) == "string" and key) or flow.description or "flow",
          flow = flow, states = {}, edges = {}, cases = {}, ncases = 0 }
    self.flows[key] = f
    self.order[#self.order + 1] = key
  end
  return f
end

-- every step of an execution, for case number `case_id`
function Coverage:add(exec, case_id)
  local f = self:flow(exec.flow)
  if case_id and not f.cases[case_id] then f.cases[case_id] = true f.ncases = f.ncases + 1 end
  for _, s in ipairs(exec.steps) do
    local from, to = tostring(s.transitioned_from), tostring(s.transitioned_to)
    f.states[from] = true
    if to ~= ENDED then f.states[to] = true end
    local k = edge_key(from, tostring(s.name), to)
    f.edges[k] = (f.edges[k] or 0) + 1
  end
  if exec.state then f.states[exec.state] = true end
end

-- per flow, in name order: {name, flow, cases, states = {total, entered, unvisited},
-- transitions = {total, taken, list = {{from, event, to, count}}, untested = {...}}}
function Coverage:report()
  local out = {}
  for _, key in ipairs(self.order) do
    local f = self.flows[key]
    local r = { name = f.name, flow = f.flow, cases = f.ncases,
                states = { total = 0, entered = 0, unvisited = {} },
                transitions = { total = 0, taken = 0, list = {}, untested = {} } }
    local seen = {}
    for _, s in ipairs(f.flow.states or {}) do
      if type(s) == "table" and type(s.name) == "string" then
        r.states.total = r.states.total + 1
        if f.states[s.name] then r.states.entered = r.states.entered + 1
        else r.states.unvisited[#r.states.unvisited + 1] = s.name end
        for _, t in ipairs(s.transitions or {}) do
          if type(t) == "table" and type(t.event) == "string" then
            local to = transition_next(t)
            local k = edge_key(s.name, t.event, to)
            if not seen[k] then
              seen[k] = true
              local e = { from = s.name, event = t.event, to = to, count = f.edges[k] or 0 }
              r.transitions.total = r.transitions.total + 1
              r.transitions.list[#r.transitions.list + 1] = e
              if e.count > 0 then r.transitions.taken = r.transitions.taken + 1
              else r.transitions.untested[#r.transitions.untested + 1] = e end
            end
          end
        end
      end
    end
    out[#out + 1] = r
  end
  sort(out, function(a, b) return a.name < b.name end)
  return out
end

local function edge_text(e)
  return format("%s -%s-> %s", e.from, e.event, e.to)
end
M.edge_text = edge_text

local function plural(n, one, many)
  return format("%d %s", n, n == 1 and one or (many or one .. "s"))
end

-- the report as text, one block per flow
function M.format_coverage(report)
  local out = {}
  for i, r in ipairs(report) do
    local t = r.transitions
    if i > 1 then out[#out + 1] = "" end
    out[#out + 1] = format("coverage of %s (%s)", r.name, plural(r.cases, "case"))
    local st = format("  states       %d of %d entered", r.states.entered, r.states.total)
    if #r.states.unvisited > 0 then st = st .. "; never: " .. concat(r.states.unvisited, ", ") end
    out[#out + 1] = st
    out[#out + 1] = format("  transitions  %d of %d taken (%d%%)", t.taken, t.total,
      t.total > 0 and floor(100 * t.taken / t.total) or 100)
    for _, e in ipairs(t.list) do
      if e.count > 0 then out[#out + 1] = format("    %5dx  %s", e.count, edge_text(e)) end
    end
    if #t.untested > 0 then
      out[#out + 1] = "  untested"
      for _, e in ipairs(t.untested) do out[#out + 1] = "           " .. edge_text(e) end
    end
  end
  return concat(out, "\n") .. (#out > 0 and "\n" or "")
end

-- DOT of the covered flows: taken edges bold with their counts, untested ones red and
-- dashed, states never entered grey. Several flows become clusters of one graph.
function M.dot(report)
  local parts = {}
  for i, r in ipairs(report) do
    local t = r.transitions
    local unvisited, counts = {}, {}
    for _, name in ipairs(r.states.unvisited) do unvisited[name] = true end
    for _, e in ipairs(t.list) do counts[edge_key(e.from, e.event, e.to)] = e.count end
    parts[i] = {
      flow = r.flow,
      label = format("%s: %d of %d transitions taken", r.name, t.taken, t.total),
      node = function(s)
        if unvisited[s.name] then return 'style="rounded,dashed", color=grey50, fontcolor=grey50' end
      end,
      edge = function(s, tr, to)
        local n = counts[edge_key(tostring(s.name), tostring(tr.event), to)] or 0
        if n > 0 then return format("%s (%d)", tr.event, n), "penwidth=2, color=darkgreen" end
        return tr.event .. " (untested)", "color=red, fontcolor=red, style=dashed"
      end,
    }
  end
  return require("rivulet.dot").graph("coverage", parts)
end

-- ---- the stubbing HTTP client ------------------------------------------------------------

-- a call that is already over (a stub's reply)
local Done = {}
Done.__index = Done
function Done.done() return true end
function Done:outcome() return self.o end

local function params_map(p)
  local m = {}
  if type(p) ~= "table" then return m end
  if p[1] ~= nil then
    for _, kv in ipairs(p) do
      if type(kv) == "table" and kv.key ~= nil then
        m[kv.key] = kv.value == nil and "" or kv.value
      end
    end
  else
    for k, v in pairs(p) do m[k] = v end
  end
  return m
end

local function longest_prefix(map, url)
  local best, val
  for k, v in pairs(map or {}) do
    if type(k) == "string" and k ~= "" and sub(url, 1, #k) == k and (not best or #k > #best) then
      best, val = k, v
    end
  end
  return best, val
end

-- client(C): the engine's http, answering from C.stubs, else live (or failing)
local function stub_client(C)
  local real
  local counts = {}
  local client = {}
  local finished = {}      -- tags of stubbed calls (done at once) not yet handed out
  local function done(args, o)
    if args.tag ~= nil then finished[#finished + 1] = args.tag end
    return setmetatable({ o = o }, Done)
  end
  local function call(kind, args)
    local url = tostring(args.url or "")
    local widget = args.widget       -- Run Function and Make HTTP Request name themselves
    local key, stub
    if widget and C.stubs[widget] ~= nil then key, stub = widget, C.stubs[widget] end
    if stub == nil then key, stub = longest_prefix(C.stubs, url) end
    local method = kind == "run_function" and "POST" or (args.method or "GET")
    if stub == false then stub = nil end
    if stub ~= nil then
      counts[key] = (counts[key] or 0) + 1
      local n = counts[key]
      local reply
      if type(stub) == "function" then
        local ev = { widget = widget, url = url, method = method, body = args.body,
                     parameters = params_map(args.parameters), content_type = args.content_type,
                     kind = kind, count = n }
        local ok, r = pcall(stub, ev)
        if not ok then
          C.problem = format("the stub '%s' for %s raised: %s", key, tostring(widget), tostring(r))
          r = { reason = "transport", message = "stub raised" }
        elseif type(r) ~= "table" then
          C.problem = format("the stub '%s' for %s returned %s, not a reply table", key,
            tostring(widget), show(r))
          r = { reason = "transport", message = "stub returned no reply" }
        end
        reply = r
      elseif stub[1] ~= nil then
        reply = stub[min(n, #stub)]
      else
        reply = stub
      end
      if type(reply) ~= "table" then
        C.problem = format("the stub '%s' has a reply that is not a table: %s", key, show(reply))
        reply = { reason = "transport", message = "bad stub" }
      end
      local ok, o = pcall(http.simulate, kind, reply, C.max_body)
      if not ok then
        C.problem = format("the stub '%s' for %s has a bad reply %s: %s", key, tostring(widget),
          show(reply), tostring(o))
        o = http.simulate(kind, { reason = "transport", message = "bad stub reply" })
      end
      o.url = url
      C.calls[#C.calls + 1] = { widget = widget, url = url, stub = key, event = o.event,
                                status = o.status_code }
      return done(args, o)
    end
    if not C.live then
      C.problem = C.problem or format(
        "%s: no stub for %s %s (live = false; stub it by widget name or URL)",
        tostring(widget), method, url)
      local o = http.simulate(kind, { reason = "transport", message = "no stub" })
      return done(args, o)
    end
    real = real or http.client()
    local a = copy(args)
    local from, to = longest_prefix(C.url_map, url)
    if from then a.url = to .. sub(url, #from + 1) end
    C.calls[#C.calls + 1] = { widget = widget, url = url, live = a.url }
    return real[kind](real, a)
  end
  function client.run_function(_, args) return call("run_function", args) end
  function client.http_request(_, args) return call("http_request", args) end
  function client.poll(_, ms)
    if real and real:running() > 0 then return real:poll(ms) end
    return 0
  end
  function client.running() return real and real:running() or 0 end
  function client.finished()
    local list = finished
    finished = {}
    for _, tag in ipairs(real and real:finished() or {}) do list[#list + 1] = tag end
    return list[1] and list or nil
  end
  function client.close() if real then real:close() end end
  return client
end

-- ---- running a case ------------------------------------------------------------------------

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
  if rawequal(expected, M.absent) then
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

local function drive(C)
  C.engine:run()
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

local function do_reply(C, step)
  drive(C)
  no_unexpected(C, "the script replies " .. quote(step.value) .. " next")
  waiting_for_reply(C, "replies " .. quote(step.value))
  local ctx = C.exec.context
  add_transcript(C, "<", step.value)
  local r = C.engine:handle{ kind = "message", from = ctx.contact.channel.address,
                             to = ctx.flow.channel.address, body = step.value, media_url = step.media_url }
  if r.code ~= "resumed" then fail("the reply was not delivered: " .. tostring(r.message)) end
  drive(C)
end

local function do_timeout(C)
  drive(C)
  no_unexpected(C, "the script lets the wait time out next")
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

-- the first line of s, at most n characters (cut on a character boundary)
local function clip(s, n)
  local ls = lines_of(s)
  local first, more = ls[1], #ls > 1
  if (utf8.len(first) or #first) > n then
    first = sub(first, 1, (utf8.offset(first, n) or n + 1) - 1)
    more = true
  end
  return more and (first .. "…") or first
end

local function step_text(step)
  local k, v = step.kind, step.value
  if type(step.src) == "string" then return clip(step.src, 60) end
  if k == "timeout" then return "{ timeout = true }" end
  if k == "expect" and type(v) == "string" then return clip("> " .. v, 60) end
  if k == "reply" then return clip("< " .. v, 60) end
  return clip(format("{ %s = %s }", k, show(v)), 60)
end

local function merged(defaults, case)
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
local function run_case(ctx, spec, case)
  local c = merged(spec.defaults, case.def)
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
    http = stub_client(C),
    now = function() return C.clock end,
    on_message = function(_, m)
      C.sent[#C.sent + 1] = m
      add_transcript(C, m.kind == "voice" and "> (voice)" or ">", m.body or "")
    end,
    subflows = resolve_subflows(ctx, c.subflows, spec.dir), timezone = c.timezone,
    limits = c.limits, auth_token = c.auth_token,
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
      elseif k == "check" then do_check(C, step)
      else check_end(C, { [k] = step.value }, "the flow is not where the script says") end
    end
    step_no = nsteps + 1
    drive(C)
    no_unexpected(C, "the script has ended")
    check_end(C, { status = c.status or "ended", state = c.state, reason = c.reason, path = c.path,
                   context = c.context }, "the execution did not end as expected")
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

-- run(spec_or_path, options) -> results | nil, err
-- options: coverage (true or a collector from M.coverage()), live (false: no call goes to
-- the network), filter (a Lua pattern: only cases whose name matches), on_case(result)
-- (called as each case ends), name/dir (for a spec table: its name and folder for paths)
function M.run(spec, options)
  options = options or {}
  if type(options) ~= "table" then error("rivulet.test.run: options must be a table", 2) end
  local s, err = M.load(spec, options)
  if not s then return nil, err end
  local cov = options.coverage
  if cov == true then cov = M.coverage() end
  local ctx = { flows = {}, coverage = cov or nil, live = options.live }
  local results = { spec = s.name, passed = 0, failed = 0, skipped = 0, unreadable = 0, cases = {},
                    coverage = cov or nil }
  local t0 = core.now()
  if s.setup then
    local ok, e = pcall(s.setup, s.table)
    if not ok then s.setup_error = tostring(e) end
    -- setup may have set defaults (a server's url_map)
    for k, v in pairs(s.table) do if DEFAULT_KEYS[k] then s.defaults[k] = v end end
  end
  for _, case in ipairs(s.cases) do
    if not options.filter or find(case.name, options.filter) then
      local r = run_case(ctx, s, case)
      results.cases[#results.cases + 1] = r
      if r.skipped then results.skipped = results.skipped + 1
      elseif r.ok then results.passed = results.passed + 1
      else
        results.failed = results.failed + 1
        if r.unreadable then results.unreadable = results.unreadable + 1 end
      end
      if options.on_case then options.on_case(r) end
    end
  end
  if s.teardown then
    local ok, e = pcall(s.teardown, s.table)
    if not ok then results.teardown_error = tostring(e) end
  end
  results.time = core.now() - t0
  return results
end

-- a failed case as people read it: name, the conversation so far, where and what
function M.format_failure(r)
  local out = { format("FAIL %s: %s", tostring(r.spec), tostring(r.name)) }
  if r.unreadable or not r.failure then
    out[#out + 1] = "  " .. gsub(tostring(r.message), "\n", "\n  ")
    return concat(out, "\n") .. "\n"
  end
  if #r.transcript > 0 then
    out[#out + 1] = "  conversation:"
    for _, l in ipairs(r.transcript) do out[#out + 1] = "    " .. l end
  else
    out[#out + 1] = "  conversation: (nothing yet)"
  end
  local f = r.failure
  out[#out + 1] = "  " .. f.where .. ":"
  out[#out + 1] = "    " .. gsub(f.what, "\n", "\n    ")
  for _, d in ipairs(f.diff or {}) do out[#out + 1] = "      " .. d[1] .. " " .. d[2] end
  if f.trace then out[#out + 1] = "    " .. gsub(f.trace, "\n", "\n    ") end
  return concat(out, "\n") .. "\n"
end

-- ---- JUnit XML ------------------------------------------------------------------------------

-- invalid UTF-8 and the characters XML 1.0 forbids become U+FFFD; markup is escaped
local XML_ESC = { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;",
                  ["'"] = "&apos;", ["\n"] = "&#10;", ["\r"] = "&#13;", ["\t"] = "&#9;" }
local function xml(s, attribute)
  s = tostring(s)
  local out, i = {}, 1
  while true do
    local n, bad = utf8.len(s, i)
    if n then out[#out + 1] = sub(s, i) break end
    out[#out + 1] = sub(s, i, bad - 1) .. "\239\191\189"
    i = bad + 1
  end
  s = gsub(concat(out), "[%z\1-\8\11\12\14-\31]", "\239\191\189")
  return (gsub(s, attribute and "[&<>\"'\n\r\t]" or "[&<>]", XML_ESC))
end
M.xml_escape = xml

-- runs = list of {name = spec file, results = run()'s results | error = message}
function M.junit(runs)
  local tests, failures, errors, skipped, time = 0, 0, 0, 0, 0
  local suites = {}
  for _, run in ipairs(runs) do
    local name = tostring(run.name)
    local class = gsub(gsub(name, "%.lua$", ""), "[/\\]", ".")
    local body, st = {}, { tests = 0, failures = 0, errors = 0, skipped = 0, time = 0 }
    if run.error then
      st.tests, st.errors = 1, 1
      body[#body + 1] = format('    <testcase classname="%s" name="(spec)" time="0">',
        xml(class, true))
      body[#body + 1] = format('      <error message="%s" type="unreadable">%s</error>',
        xml(lines_of(run.error)[1], true), xml(run.error))
      body[#body + 1] = "    </testcase>"
    else
      for _, c in ipairs(run.results.cases) do
        st.tests = st.tests + 1
        st.time = st.time + (c.time or 0)
        local open_tag = format('    <testcase classname="%s" name="%s" time="%.3f"',
          xml(class, true), xml(c.name, true), c.time or 0)
        if c.skipped then
          st.skipped = st.skipped + 1
          body[#body + 1] = open_tag .. ">"
          body[#body + 1] = format('      <skipped message="%s"/>', xml(c.message or "", true))
          body[#body + 1] = "    </testcase>"
        elseif c.ok then
          body[#body + 1] = open_tag .. "/>"
        else
          local tag = c.unreadable and "error" or "failure"
          if c.unreadable then st.errors = st.errors + 1 else st.failures = st.failures + 1 end
          local first = c.failure and (c.failure.where .. ": " .. c.failure.what) or c.message
          body[#body + 1] = open_tag .. ">"
          body[#body + 1] = format('      <%s message="%s" type="%s">%s</%s>', tag,
            xml(lines_of(first)[1], true), c.unreadable and "unreadable" or "expectation",
            xml(M.format_failure(c)), tag)
          body[#body + 1] = "    </testcase>"
        end
      end
    end
    tests, failures, errors = tests + st.tests, failures + st.failures, errors + st.errors
    skipped, time = skipped + st.skipped, time + st.time
    suites[#suites + 1] = format('  <testsuite name="%s" tests="%d" failures="%d" errors="%d" ' ..
      'skipped="%d" time="%.3f">', xml(name, true), st.tests, st.failures, st.errors, st.skipped,
      st.time)
    for _, l in ipairs(body) do suites[#suites + 1] = l end
    suites[#suites + 1] = "  </testsuite>"
  end
  local out = { '<?xml version="1.0" encoding="UTF-8"?>',
    format('<testsuites name="rivulet test" tests="%d" failures="%d" errors="%d" skipped="%d" ' ..
      'time="%.3f">', tests, failures, errors, skipped, time) }
  for _, l in ipairs(suites) do out[#out + 1] = l end
  out[#out + 1] = "</testsuites>"
  return concat(out, "\n") .. "\n"
end

-- run, raising the failure report when a case failed (for LuaUnit suites)
function M.check(spec, options)
  local r, err = M.run(spec, options)
  if not r then error(err, 2) end
  if r.failed > 0 then
    local parts = {}
    for _, c in ipairs(r.cases) do
      if not c.ok then parts[#parts + 1] = M.format_failure(c) end
    end
    parts[#parts + 1] = format("%d passed, %d failed", r.passed, r.failed)
    error(concat(parts, "\n"), 2)
  end
  return r
end

return M
