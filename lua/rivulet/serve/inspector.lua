-- rivulet.serve.inspector: the web page at /ui/ (DESIGN.md §7) and the JSON it reads, behind
-- the REST API's HTTP Basic credentials. The page itself is plain HTML, CSS and JavaScript
-- (ui/index.html, ui/app.js, ui/style.css beside this file, installed with the Lua modules,
-- read once and served as they are: no build step, no outside URL; the Content-Security-
-- Policy lets the page reach nothing but this server).
--
--   GET  /ui/                               the page (GET /ui: a redirect to it)
--   GET  /ui/app.js, /ui/style.css          its script and style
--   GET  /ui/api/flows                      the flows: {flows = {{sid, name, status, revision, webhook_url}}}
--   GET  /ui/api/flows/FW                   one flow and its graph, each transition with how many
--                                           steps took it (rivulet.serve.timeline.graph)
--   GET  /ui/api/flows/FW/dot               the same as Graphviz DOT (rivulet graph's, with the counts)
--   GET  /ui/api/executions?flow=&status=&since=&until=&contact=&limit=
--                                           executions, newest first, filtered as rivulet logs
--                                           filters (status: active, ended, failed)
--   GET  /ui/api/executions/FN              one execution as a timeline (rivulet.serve.timeline)
--   GET  /ui/api/executions/FN/spec         a rivulet test spec replaying it (rivulet.test.replay)
--   GET  /ui/api/changes?since=N            what happened after event N: answered at once when
--                                           there is something, else held up to LONG_POLL_S
--                                           (a long poll: the server never blocks on it)
--   POST /ui/api/talk/message               From, To, Flow, Body: a text comes in (rivulet.serve.talk)
--   POST /ui/api/talk/call                  From, To, Flow: a call comes in
--   GET  /ui/api/talk/calls/CA              the call as it stands
--   POST /ui/api/talk/calls/CA/answer       Text: the caller's keys or words ("" silence)
--   POST /ui/api/talk/calls/CA/choose       Event: an outcome decided outside
--   POST /ui/api/talk/calls/CA/hangup       the caller hangs up
--
-- The change feed holds the last MAX_EVENTS events: {seq, kind, at, …} with kind "step"
-- (execution, flow_sid, from, event, to, type), "ended" (execution, flow_sid, status,
-- reason), "message" (execution, flow_sid, from, to, body, voice, widget, dir "out" or "in"),
-- "call" (the panel's call state). A page further behind than that gets reset = true and
-- reads its lists again.

local core = require "rivulet.core"
local request = require "rivulet.serve.request"
local timeline = require "rivulet.serve.timeline"
local talk_mod = require "rivulet.serve.talk"
local dot = require "rivulet.dot"
local flowlib = require "rivulet.flow"

local type, pairs, ipairs, tostring, tonumber, format = type, pairs, ipairs, tostring, tonumber, string.format
local setmetatable, next = setmetatable, next

local M = {}

M.MAX_EVENTS = 1000        -- the change feed's memory: a page further behind reads its lists again
M.LONG_POLL_S = 25         -- a watch with nothing new is answered after this long (under the
                           -- server's 60 s answer timeout and common proxies' 30-60 s idle limits)
M.MAX_WATCHERS = 64        -- held watches at once (each holds one of the server's 256 pending
                           -- slots); one more is answered at once, and its page polls again
M.DEFAULT_LIMIT = 100      -- executions listed, as rivulet logs
M.MAX_LIMIT = 1000         -- and at most (Twilio's PageSize limit)
M.MAX_BODY = 1600          -- a message typed in the panel: Twilio's longest SMS body (characters)

-- the page's files, found beside this module (installed with it), and their types
M.ASSETS = {
  ["index.html"] = "text/html; charset=utf-8",
  ["app.js"] = "text/javascript; charset=utf-8",
  ["style.css"] = "text/css; charset=utf-8",
}

-- what the page may reach: this server, and nothing else
M.CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self';" ..
  " base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

local SECURITY = {
  { "Content-Security-Policy", M.CSP }, { "X-Content-Type-Options", "nosniff" },
  { "Referrer-Policy", "no-referrer" }, { "X-Frame-Options", "DENY" },
}

local function headers(content_type, extra)
  local h = { { "Content-Type", content_type } }
  for _, kv in ipairs(SECURITY) do h[#h + 1] = kv end
  for _, kv in ipairs(extra or {}) do h[#h + 1] = kv end
  return h
end

local function answer(value, status)
  return status or 200, headers("application/json; charset=utf-8", { { "Cache-Control", "no-store" } }),
    core.json_encode(value)
end

local function problem(status, code, message)
  local s, _, b = request.error(status, code, message)
  return s, headers("application/json; charset=utf-8", { { "Cache-Control", "no-store" } }), b
end

local function store_failed(err)
  return problem(500, 20500, "Internal server error: " .. tostring(err))
end

-- ---- the inspector (one per app) --------------------------------------------------------------

local Inspector = {}
Inspector.__index = Inspector
M.Inspector = Inspector

function M.new(app)
  local ins = setmetatable({ app = app, seq = 0, events = {}, first = 1, watchers = {}, n_watchers = 0,
                             dirty = false, n_local = 0 }, Inspector)
  ins.talk = talk_mod.new(app, function(state) ins:event{ kind = "call", call = state } end)
  return ins
end

-- The feed is a ring of MAX_EVENTS slots (event seq in slot (seq - 1) % MAX_EVENTS + 1):
-- keyed by seq, the table's live keys moved on at every step and its hash part was
-- rehashed again and again. A step's event is built with its seq and time in one
-- constructor (two fields added later made Lua resize each event table).

local clock = core.now

-- keeps e (seq and at already set) as the newest event
function Inspector:keep(e)
  local seq, max = e.seq, M.MAX_EVENTS
  self.events[(seq - 1) % max + 1] = e
  if seq - self.first >= max then self.first = seq - max + 1 end
  self.dirty = true
end

-- the next event's seq
function Inspector:next_seq()
  local seq = self.seq + 1
  self.seq = seq
  return seq
end

-- a new event in the feed; held watches are answered at the next tick (one answer per loop
-- turn, however many steps it took)
function Inspector:event(e)
  e.seq, e.at = self:next_seq(), clock()
  self:keep(e)
end

-- the feed after `since` (reset: the page is further behind than the feed remembers)
function Inspector:feed(since)
  local out = timeline.list()
  local reset = since < self.first - 1 or since > self.seq
  local from = reset and self.first or since + 1
  local events, max = self.events, M.MAX_EVENTS
  for i = from, self.seq do out[#out + 1] = events[(i - 1) % max + 1] end
  return { seq = self.seq, events = out, reset = reset or nil }
end

-- ---- what the engine reports (rivulet.serve: App:notify) ----------------------------------------

function Inspector:step(exec, step)
  self:keep{ seq = self:next_seq(), at = clock(), kind = "step", execution = exec.sid, flow_sid = exec.flow_sid,
             parent_sid = exec.parent_sid, from = step.transitioned_from, event = step.name,
             to = step.transitioned_to, type = step.type }
end

function Inspector:ended(exec)
  self:keep{ seq = self:next_seq(), at = clock(), kind = "ended", execution = exec.sid, flow_sid = exec.flow_sid,
             status = exec.failed and "failed" or "ended", reason = exec.reason }
end

function Inspector:message(exec, m)
  self:keep{ seq = self:next_seq(), at = clock(), kind = "message", dir = "out", execution = exec.sid,
             flow_sid = exec.flow_sid, from = m.from, to = m.to, body = m.body, voice = m.kind == "voice" or nil,
             widget = m.widget }
end

-- ---- long polls ------------------------------------------------------------------------------

function Inspector:answer_watchers(now)
  if not next(self.watchers) then
    self.dirty = false
    return
  end
  now = now or core.monotonic()
  for id, w in pairs(self.watchers) do
    if (self.dirty and self.seq > w.since) or now - w.at >= M.LONG_POLL_S then
      self.watchers[id] = nil
      self.n_watchers = self.n_watchers - 1
      local s, h, b = answer(self:feed(w.since))
      local late = self.app.late
      late[#late + 1] = { id = id, status = s, headers = h, body = b }
    end
  end
  self.dirty = false
end

function Inspector:tick(now)
  self:answer_watchers(now)
end

function Inspector:next_deadline(now)
  if not next(self.watchers) then return nil end
  if self.dirty then return 0 end
  now = now or core.monotonic()
  local soon
  for _, w in pairs(self.watchers) do
    local d = w.at + M.LONG_POLL_S - now
    if not soon or d < soon then soon = d end
  end
  return soon
end

function Inspector:drop(id)
  if self.watchers[id] then
    self.watchers[id] = nil
    self.n_watchers = self.n_watchers - 1
  end
end

-- ---- the page ------------------------------------------------------------------------------

local assets = {}      -- name -> {body, etag}, read once

local function asset_dir()
  local here = package.searchpath("rivulet.serve.inspector", package.path)
  return here and here:match("^(.*)/[^/]*$") .. "/ui" or nil
end

-- the file `name` of the page -> {body, etag, type} | nil, why
function M.asset_file(name)
  local ctype = M.ASSETS[name]
  if not ctype then return nil, "no such file" end
  local a = assets[name]
  if a then return a end
  local dir = asset_dir()
  local f = dir and io.open(dir .. "/" .. name, "rb")
  if not f then
    return nil, format("%s is missing beside rivulet/serve/inspector.lua (install the ui/ folder with the modules)",
      name)
  end
  local body = f:read("a")
  f:close()
  a = { body = body, etag = '"' .. core.sha256_hex(body):sub(1, 16) .. '"', type = ctype }
  assets[name] = a
  return a
end

local function send_asset(req, name)
  local a, err = M.asset_file(name)
  if not a then
    if M.ASSETS[name] then return problem(500, 20500, err) end
    return problem(404, 20404, format("The requested resource /ui/%s was not found", name))
  end
  local extra = { { "Cache-Control", "no-cache" }, { "ETag", a.etag } }
  if request.header(req, "If-None-Match") == a.etag then return 304, headers(a.type, extra), "" end
  return 200, headers(a.type, extra), a.body
end

function M.redirect(app)
  return 301, { { "Location", app.public_url .. "/ui/" } }, ""
end

function M.page(_, req)
  return send_asset(req, "index.html")
end

function M.asset(_, req, p)
  return send_asset(req, p.file)
end

-- ---- flows -------------------------------------------------------------------------------------

-- the flow as its executions run it (the latest published revision), else its latest revision
local function flow_of(app, sid)
  local row, err = app.store:studio_flow(sid)
  if row == nil then return nil, err end
  if not row then return false end
  local f
  f, err = app:runnable(sid, nil)
  if f == nil then return nil, err end
  if not f then
    local rev
    rev, err = app.store:flow_revision(sid, "LatestRevision")
    if not rev then return rev, err end
    if rev.kind == "lua" then f, err = flowlib.from_lua(rev.definition, row.origin or row.friendly_name)
    else f, err = flowlib.from_json(rev.definition, row.origin or row.friendly_name) end
    if not f then return nil, err end
  end
  return f, row
end

local function flow_summary(app, r)
  return { sid = r.sid, name = r.friendly_name, status = r.status, revision = r.revision, published = r.published,
           origin = r.origin, valid = r.valid == 1, webhook_url = app:webhook_url(r.sid) }
end

function M.flows(app)
  local rows, err = app.store:studio_flows{ limit = M.MAX_LIMIT }
  if not rows then return store_failed(err) end
  local out = timeline.list()
  for i, r in ipairs(rows) do out[i] = flow_summary(app, r) end
  return answer({ flows = out, seq = app.inspector.seq })
end

local function not_found(what, sid)
  return problem(404, 20404, format("The requested resource /%s/%s was not found", what, tostring(sid)))
end

-- a flow with how often each of its transitions was taken -> f, row, counts | nil, status,
-- headers, body (the answer to give)
local function flow_counted(app, sid)
  local f, row = flow_of(app, sid)
  if f == nil then return nil, store_failed(row) end
  if not f then return nil, not_found("Flows", sid) end
  local counts, err = app.store:edge_counts(sid)
  if not counts then return nil, store_failed(err) end
  return f, row, counts
end

function M.flow(app, _, p)
  local f, row, counts, body = flow_counted(app, p.sid)
  if not f then return row, counts, body end
  local out = flow_summary(app, row)
  out.graph = timeline.graph(f, counts)
  return answer(out)
end

function M.flow_dot(app, _, p)
  local f, row, counts, body = flow_counted(app, p.sid)
  if not f then return row, counts, body end
  local by = {}
  for _, c in ipairs(counts) do by[c.from .. "\0" .. c.event .. "\0" .. c.to] = c.n end
  local text = dot.graph("flow", { { flow = f, label = row.friendly_name, edge = function(s, t, to)
    local n = by[tostring(s.name) .. "\0" .. tostring(t.event) .. "\0" .. to] or 0
    local label = format("%s (%d)", dot.transition_label(t), n)
    if n == 0 then return label, "color=gray" end
    return label, format("penwidth=%.1f", 1 + math.min(4, math.log(n, 2)))
  end } })
  return 200, headers("text/vnd.graphviz; charset=utf-8", {
    { "Content-Disposition", format('attachment; filename="%s.dot"', p.sid) } }), text
end

-- ---- executions ----------------------------------------------------------------------------------

local function bad(name, why)
  return problem(400, 20001, format("Invalid parameter %s: %s", name, why))
end

-- the list's filters, as rivulet logs reads them -> filter | nil, answer
local function filters(q)
  local parse_time = require("rivulet.cli.logs").parse_time
  local f = { flow_sid = q.flow ~= "" and q.flow or nil, contact = q.contact ~= "" and q.contact or nil }
  local st = q.status
  if st == "active" then f.status = "active"
  elseif st == "ended" then f.status, f.failed = "ended", false
  elseif st == "failed" then f.status, f.failed = "ended", true
  elseif st ~= nil and st ~= "" and st ~= "all" then
    return nil, { bad("status", "must be active, ended or failed") }
  end
  for _, k in ipairs{ "since", "until" } do
    if q[k] and q[k] ~= "" then
      local t = parse_time(q[k])
      if not t then
        return nil, { bad(k, "not a time (2026-11-25, 2026-11-25T14:00Z, epoch seconds, 30m, 2h, 7d)") }
      end
      f[k == "since" and "since" or "before"] = t
    end
  end
  local limit = M.DEFAULT_LIMIT
  if q.limit and q.limit ~= "" then
    limit = math.tointeger(tonumber(q.limit))
    if not limit or limit < 1 or limit > M.MAX_LIMIT then
      return nil, { bad("limit", format("must be a count from 1 to %d", M.MAX_LIMIT)) }
    end
  end
  f.limit = limit
  return f
end
M.filters = filters

function M.executions(app, req)
  local f, why = filters(req.query_fields)
  if not f then return table.unpack(why) end
  local rows, err = app.store:list(f)
  if not rows then return store_failed(err) end
  local out = timeline.list()
  for i, r in ipairs(rows) do out[i] = timeline.summary(r) end
  return answer({ executions = out, seq = app.inspector.seq })
end

function M.execution(app, _, p)
  local row, err = app.store:execution(p.sid)
  if row == nil then return store_failed(err) end
  if not row then return not_found("Executions", p.sid) end
  local steps
  steps, err = app.store:steps(p.sid, true)
  if not steps then return store_failed(err) end
  local out = timeline.execution(row, steps)
  out.seq = app.inspector.seq
  return answer(out)
end

function M.spec(app, req, p)
  local text, err, code = require("rivulet.test.replay").spec(app.store, p.sid)
  if not text then
    if code == "notfound" then return not_found("Executions", p.sid) end
    if code == "unsupported" or code == "diverged" or code == "failed" then return problem(422, 20001, err) end
    return store_failed(err)
  end
  local extra = { { "Cache-Control", "no-store" } }
  if req.query_fields.download then
    extra[2] = { "Content-Disposition", format('attachment; filename="%s_spec.lua"', p.sid) }
  end
  return 200, headers("text/x-lua; charset=utf-8", extra), text
end

-- ---- the change feed ----------------------------------------------------------------------------

function M.changes(app, req)
  local ins = app.inspector
  local since = math.tointeger(tonumber(req.query_fields.since or "")) or -1
  if since < 0 or since ~= ins.seq or req.query_fields.wait == "0" or ins.n_watchers >= M.MAX_WATCHERS then
    return answer(ins:feed(math.max(since, 0)))
  end
  local id = req.id
  if not id then                   -- a request made inside the app (its specs)
    ins.n_local = ins.n_local + 1
    id = "watch-" .. ins.n_local
  end
  ins.watchers[id] = { since = since, at = core.monotonic() }
  ins.n_watchers = ins.n_watchers + 1
  return require("rivulet.serve").PENDING, id
end

-- ---- the conversation panel --------------------------------------------------------------------

local function address(v)
  return type(v) == "string" and v ~= "" and #v <= 64 and not v:find("[%c]")
end

-- Flow, From, To of a talk request -> fields | nil, answer
local function talk_fields(app, req)
  local f = req.form
  if not address(f.From) then return nil, { bad("From", "the contact's address, e.g. +15550001111") } end
  if not address(f.To) then return nil, { bad("To", "the flow's own number, e.g. +15559990000") } end
  if type(f.Flow) ~= "string" or not f.Flow:match("^FW%x+$") then return nil, { bad("Flow", "a flow's SID (FW…)") } end
  local row, err = app.store:studio_flow(f.Flow)
  if row == nil then return nil, { store_failed(err) } end
  if not row then return nil, { not_found("Flows", f.Flow) } end
  return { flow_sid = f.Flow, from = f.From, to = f.To }
end

function M.talk_message(app, req)
  local t, why = talk_fields(app, req)
  if not t then return table.unpack(why) end
  local body = req.form.Body or ""
  if utf8.len(body) == nil then return bad("Body", "must be UTF-8 text") end
  if utf8.len(body) > M.MAX_BODY then return bad("Body", format("at most %d characters", M.MAX_BODY)) end
  t.body = body
  app.inspector:event{ kind = "message", dir = "in", flow_sid = t.flow_sid, from = t.from, to = t.to, body = body }
  local r = app.inspector.talk:message(t)
  return answer(r, r.status == 200 and 200 or 502)
end

function M.talk_call(app, req)
  local t, why = talk_fields(app, req)
  if not t then return table.unpack(why) end
  return answer(app.inspector.talk:call(t))
end

local function call_answer(state, err)
  if not state then
    if err == "no such call" then return problem(404, 20404, "The requested call was not found") end
    return problem(409, 20409, tostring(err))
  end
  return answer(state)
end

function M.talk_state(app, _, p)
  return call_answer(app.inspector.talk:state(p.call), "no such call")
end

function M.talk_answer(app, req, p)
  local text = req.form.Text or ""
  if utf8.len(text) == nil or utf8.len(text) > M.MAX_BODY then
    return bad("Text", format("UTF-8 text of at most %d characters", M.MAX_BODY))
  end
  if text ~= "" then
    app.inspector:event{ kind = "message", dir = "in", voice = true, call = p.call, body = text }
  end
  return call_answer(app.inspector.talk:answer(p.call, text))
end

function M.talk_choose(app, req, p)
  local ev = req.form.Event
  if type(ev) ~= "string" or ev == "" then return bad("Event", "one of the waiting widget's events") end
  return call_answer(app.inspector.talk:choose(p.call, ev))
end

function M.talk_hangup(app, _, p)
  return call_answer(app.inspector.talk:hangup(p.call))
end

-- ---- routes (rivulet.serve adds them to its table) ---------------------------------------------

local SID = "(%w+)"
M.ROUTES = {
  { "/ui", {}, { GET = M.redirect } },
  { "/ui/", {}, { GET = M.page } },
  { "/ui/([%w%-]+%.%w+)", { "file" }, { GET = M.asset } },
  { "/ui/api/flows", {}, { GET = M.flows } },
  { "/ui/api/flows/" .. SID, { "sid" }, { GET = M.flow } },
  { "/ui/api/flows/" .. SID .. "/dot", { "sid" }, { GET = M.flow_dot } },
  { "/ui/api/executions", {}, { GET = M.executions } },
  { "/ui/api/executions/" .. SID, { "sid" }, { GET = M.execution } },
  { "/ui/api/executions/" .. SID .. "/spec", { "sid" }, { GET = M.spec } },
  { "/ui/api/changes", {}, { GET = M.changes } },
  { "/ui/api/talk/message", {}, { POST = M.talk_message } },
  { "/ui/api/talk/call", {}, { POST = M.talk_call } },
  { "/ui/api/talk/calls/" .. SID, { "call" }, { GET = M.talk_state } },
  { "/ui/api/talk/calls/" .. SID .. "/answer", { "call" }, { POST = M.talk_answer } },
  { "/ui/api/talk/calls/" .. SID .. "/choose", { "call" }, { POST = M.talk_choose } },
  { "/ui/api/talk/calls/" .. SID .. "/hangup", { "call" }, { POST = M.talk_hangup } },
}

return M
