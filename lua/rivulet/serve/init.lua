-- rivulet.serve: a self-hosted Studio. The REST API v2 (rivulet.serve.rest), the flows'
-- webhook for Twilio's incoming messages and calls and the message status callbacks
-- (rivulet.serve.webhook), over one engine and one store. An app answers requests given as
-- plain tables; `rivulet serve` (rivulet.cli.serve) puts it behind the C HTTP server.
--
--   local app = serve.new{ store = "rivulet.db", public_url = "http://127.0.0.1:8080",
--                          account_sid = "AC…", auth_token = "…", twilio_api = URL?,
--                          url_map = {…}?, function_map = {ZH… = URL}?, subflows = DIR?,
--                          on_message = fn?, limits = {…}?,
--                          http = client? (the engine's HTTP client: a spec's stubs) }
--   app:publish_dir("flows")        -> {{sid, name, path}, …} | nil, err
--   local status, headers, body = app:request{ id?, method, path, query, headers = {{n, v}}, body }
--   app:run_jobs()                  -- the work a request left for after its answer
--   -- a call's webhook may be answered later: request returns serve.PENDING, id (req.id, or
--   -- one made up when the request has none); the answer comes out of
--   app:answers()                   -- {{id, status, headers, body}, …} answered since the last look
--   app:tick(now?)                  -- held calls past HOLD_AFTER_S get hold music's TwiML
--   app:next_deadline()             -- seconds until tick has something to do, or nil
--   app:drop(id)                    -- the client went away: forget the request
--
-- Nobody gets in without the account's credentials: the REST API wants HTTP Basic
-- AC…:token (401), the webhook a valid X-Twilio-Signature over the public URL (403).

local rivulet = require "rivulet"
local core = require "rivulet.core"
local cluster = require "rivulet.serve.cluster"
local store_mod = require "rivulet.store"
local json = require "rivulet.json"
local request = require "rivulet.serve.request"
local rest = require "rivulet.serve.rest"
local webhook = require "rivulet.serve.webhook"
local inspector = require "rivulet.serve.inspector"
local metrics = require "rivulet.serve.metrics"
local twiml = require "rivulet.twiml"
local peek = require("rivulet.packed").peek

local type, ipairs, pairs, tostring, format, setmetatable = type, ipairs, pairs, tostring, string.format, setmetatable
local next = next
local sub = string.sub

local M = {}

local App = {}
App.__index = App
M.App = App

-- ---- routes ------------------------------------------------------------------------------

-- each route: a path pattern (SIDs as %w+), its parameter names, and a handler per method
local ROUTES = {}
local function route(pattern, names, handlers, opts)
  assert(#names <= 3, "at most 3 parameters a route (App:dispatch)")
  ROUTES[#ROUTES + 1] = { pattern = "^" .. pattern .. "$", names = names, handlers = handlers,
                          v1 = opts and opts.v1, public = opts and opts.public }
end

local SID = "(%w+)"
route("/v2/Flows", {}, { GET = rest.list_flows, POST = rest.create_flow })
route("/v2/Flows/Validate", {}, { POST = rest.validate_flow })
route("/v2/Flows/" .. SID, { "sid" },
  { GET = rest.fetch_flow, POST = rest.update_flow, DELETE = rest.delete_flow })
route("/v2/Flows/" .. SID .. "/Revisions", { "sid" }, { GET = rest.list_revisions })
route("/v2/Flows/" .. SID .. "/Revisions/" .. SID, { "sid", "revision" }, { GET = rest.fetch_revision })
route("/v2/Flows/" .. SID .. "/TestUsers", { "sid" }, { GET = rest.fetch_test_users, POST = rest.update_test_users })
for _, v in ipairs{ "v2", "v1" } do
  local o = { v1 = v == "v1" }       -- v1 Executions: the same, but create answers 200
  local base = "/" .. v .. "/Flows/" .. SID .. "/Executions"
  route(base, { "flow_sid" }, { GET = rest.list_executions, POST = rest.create_execution }, o)
  route(base .. "/" .. SID, { "flow_sid", "sid" },
    { GET = rest.fetch_execution, POST = rest.update_execution, DELETE = rest.delete_execution }, o)
  route(base .. "/" .. SID .. "/Context", { "flow_sid", "execution_sid" }, { GET = rest.fetch_execution_context }, o)
  route(base .. "/" .. SID .. "/Steps", { "flow_sid", "execution_sid" }, { GET = rest.list_steps }, o)
  route(base .. "/" .. SID .. "/Steps/" .. SID, { "flow_sid", "execution_sid", "step_sid" },
    { GET = rest.fetch_step }, o)
  route(base .. "/" .. SID .. "/Steps/" .. SID .. "/Context", { "flow_sid", "execution_sid", "step_sid" },
    { GET = rest.fetch_step_context }, o)
end
-- the flow's webhook_url (signed by Twilio, not Basic auth)
local WEBHOOK = { public = true }
route("/v1/Accounts/" .. SID .. "/Flows/" .. SID, { "account_sid", "flow_sid" },
  { POST = webhook.incoming, GET = webhook.incoming }, WEBHOOK)
route("/v1/Accounts/" .. SID .. "/Flows/" .. SID .. "/MessageStatus", { "account_sid", "flow_sid" },
  { POST = webhook.message_status }, WEBHOOK)
route("/v1/Accounts/" .. SID .. "/Flows/" .. SID .. "/Executions/" .. SID,
  { "account_sid", "flow_sid", "execution_sid" }, { POST = webhook.callback, GET = webhook.callback }, WEBHOOK)
-- the inspector's page and its JSON (rivulet.serve.inspector), Prometheus metrics
-- (rivulet.serve.metrics): Basic auth, as the REST API
for _, r in ipairs(inspector.ROUTES) do route(r[1], r[2], r[3]) end
route("/metrics", {}, { GET = metrics.handler })

-- the answer of a call's webhook that comes later (see App:answer_call)
M.PENDING = setmetatable({}, { __tostring = function() return "rivulet.serve.PENDING" end })

-- Twilio gives a webhook 15 s (SERVING.md §2.4). A call whose flow is still busy (a slow
-- function, a wait for a text) this long after Twilio asked is kept on the line: a pause,
-- then a redirect back here, where it is held again.
M.HOLD_AFTER_S = 12
M.HOLD_PAUSE_S = 1

-- A shared store (PostgreSQL) that cannot be reached answers 503 (Twilio's 20503) with
-- Retry-After; a message whose webhook was answered but whose handling then found the
-- database gone stays pending in the inbox and is acted on once it is back (App:replay,
-- run by rivulet.serve.cluster's sweeps).
M.RETRY_AFTER_S = 1

-- ---- the app -----------------------------------------------------------------------------

-- new(opts) -> app | nil, err, code (the store cannot be opened; code as the store's)
function M.new(opts)
  local app = setmetatable({
    account_sid = opts.account_sid, auth_token = opts.auth_token,
    public_url = (opts.public_url or "http://127.0.0.1:8080"):gsub("/+$", ""),
    jobs = {}, flows = {}, pointers = {}, on_message = opts.on_message,
    held = {},            -- root execution sid -> {{id, at}, …}: call webhooks not answered yet
    held_by = {},         -- request id -> root execution sid
    late = {},            -- answers given since the last app:answers()
    n_local = 0,
    observers = {},       -- what watches the engine (the inspector, the metrics): see App:notify
    internal = {},        -- request id -> function(answer): held answers to the app's own requests
    in_hand = {},         -- inbox keys of the events scheduled here and not acted on yet
  }, App)
  -- processes sharing a store take in only what is due, when it is due (rivulet.serve.cluster)
  local shared = store_mod.is_postgres(opts.store) or type(opts.store) == "table" and opts.store.shared
  local resume
  if shared then resume = false end
  local twilio
  if opts.twilio_api then
    twilio = { url = opts.twilio_api:gsub("/+$", ""), account_sid = opts.account_sid, auth_token = opts.auth_token,
               status_callback = function(exec) return app:status_url(exec.flow_sid) end,
               callback_url = function(exec, widget, token, kind)
                 return app:callback_url(exec, widget, token, kind)
               end }
  end
  local engine, err, code = rivulet.engine{
    store = opts.store, synchronous = opts.synchronous, auth_token = opts.auth_token, url_map = opts.url_map,
    subflows = opts.subflows, timezone = opts.timezone, now = opts.now, keep_ended = false, twilio = twilio,
    limits = opts.limits, http = opts.http, resume = resume, account_sid = opts.account_sid,
    function_map = opts.function_map,
    on_message = function(exec, m)
      if app.on_message then app.on_message(exec, m) end
      app:notify("message", exec, m)
    end,
    on_call = function(exec, w)
      app:call_waits(exec, w)
      app:notify("call", exec, w)
    end,
    on_end = function(exec)
      app:call_ended(exec)
      app:notify("ended", exec)
    end,
    on_step = function(exec, step) app:notify("step", exec, step) end,
    on_http = function(exec, outcome, req) app:notify("http", exec, outcome, req) end,
  }
  if not engine then return nil, err, code end
  app.engine, app.store = engine, engine.store
  app.cluster = cluster.new(app)
  app.metrics = metrics.new(app)
  app.inspector = inspector.new(app)
  app.observers[1], app.observers[2] = app.metrics, app.inspector
  return app
end

-- the store's socket when it is shared (LISTEN/NOTIFY wakes the loop), else nil
function App:wait_fd()
  return self.cluster and self.cluster:fd()
end

function App:webhook_url(flow_sid)
  return format("%s/v1/Accounts/%s/Flows/%s", self.public_url, self.account_sid, flow_sid)
end

function App:status_url(flow_sid)
  return self:webhook_url(flow_sid) .. "/MessageStatus"
end

-- what the engine did, to every observer that has a method of that name: step(exec, step),
-- http(exec, outcome, request), message(exec, m), call(exec, wait), ended(exec)
function App:notify(kind, a, b, c)
  local obs = self.observers          -- at most three arguments: no varargs on every step
  for i = 1, #obs do
    local o = obs[i]
    local f = o[kind]
    if f then f(o, a, b, c) end
  end
end

-- the engine's door, for the handlers
function App:handle(event)
  return self.engine:handle(event)
end

-- work a handler leaves for after its answer (a webhook answers Twilio at once)
function App:later(fn)
  self.jobs[#self.jobs + 1] = fn
end

-- inbox(key, event, flow_sid, contact) -> true (taken: acted on after the answer) | false
-- (Twilio sent it before) | nil, err: an event from Twilio, kept in the store with what it
-- says until it is acted on, so that answering Twilio before running the steps loses
-- nothing when the process stops in between (replay). event: an engine event, plain data;
-- its flow, when it starts executions, is flow_sid's runnable revision for contact.
--
-- One event model for both stores: the event is taken (take_event, with its payload) in
-- the commit of the turn that answers Twilio, and marked done (event_done) in the commit
-- of the steps it caused, so a stop between the two leaves it pending and a stop after
-- leaves it done; it is never acted on by halves. Pending events are claimed before they
-- are acted on again (store:pending_events: an owner and a lease per event, claimed FOR
-- UPDATE SKIP LOCKED on PostgreSQL), so that of several processes sharing a store exactly
-- one acts on each: the one that took it while it lives, else (it was SIGKILLed, its
-- host went away) the first to claim it once its pid is gone (same host) or its lease ran
-- out (the store's lease, rivulet_lease_s). This replaces the earlier branch's
-- mark_event/retake_event (the event done by the write it caused, a retry taking over an
-- orphan after ORPHAN_AFTER_S): the batch's one commit already ties the event to its steps,
-- and a retry no longer has to find orphans, the sweep does.
--
-- A contact's events keep their order across a stop: on a shared store, an event from a
-- contact first claims that contact's older pending events whose process is gone, and they
-- are acted on before it (a reply that reaches another host before the sweep found the
-- first message of a host that died must not start the conversation in its place).
function App:inbox(key, event, flow_sid, contact)
  local who = contact or event.from
  if self.cluster and who ~= nil then
    local n, err = self:replay(who)
    if not n then return nil, err end
  end
  local first, err = self.store:take_event(key, nil,
    json.encode({ event = event, flow_sid = flow_sid, contact = contact }), who)
  if not first then return first, err end
  self:later_event(key, event, flow_sid, contact)
  return true
end

-- a job that acts on an inbox event. When the store fails under it (a shared database gone
-- away, the batch's commit refused) the event stays pending, this process's: the next
-- claim (replay: a sweep on a shared store, the next start otherwise) acts on it again.
function App:later_event(key, event, flow_sid, contact)
  local function job()
    self.in_hand[key] = nil
    if flow_sid then event.flow = self:runnable(flow_sid, contact) or nil end
    local r = self:handle(event)
    -- the store failed for now (away, full, locked): the event stays pending, to be acted on again
    if type(r) == "table" and r.code == "store_error" and store_mod.IO_FAILURES[r.store_code] then return r end
    self.store:event_done(key)      -- in the same commit as the steps it caused
    return r
  end
  self.in_hand[key] = job
  self:later(job)
end

-- replay(contact?) -> how many | nil, err: the events taken and not acted on by a process
-- that stopped (or by this one, when the store failed under it), claimed and scheduled
-- again (contact: that contact's only)
function App:replay(contact)
  local rows, err = self.store:pending_events(function(r) return not self.in_hand[r.sid] end, nil, contact)
  if not rows then return nil, err end
  for _, r in ipairs(rows) do
    local p = json.decode(r.payload or "")
    if type(p) == "table" and type(p.event) == "table" then
      self:later_event(r.sid, p.event, p.flow_sid, p.contact)
    else
      self.store:event_done(r.sid)  -- unreadable: nothing can be done with it
    end
  end
  return #rows
end

-- the jobs scheduled from here on are dropped by drop_jobs(mark) (their answers could not be
-- committed: Twilio is answered 503 and sends the event again)
function App:job_mark()
  return #self.jobs
end

function App:drop_jobs(mark)
  local dropped = {}
  for i = #self.jobs, mark + 1, -1 do
    dropped[self.jobs[i]] = true
    self.jobs[i] = nil
  end
  for key, fn in pairs(self.in_hand) do
    if dropped[fn] then self.in_hand[key] = nil end
  end
end

-- run_jobs(deadline?) -> how many ran: the jobs in the order they were left, until the
-- monotonic clock reaches deadline (then the rest run first on the next call, before what
-- these jobs left): a burst of messages leaves many steps to run, and the requests that
-- come meanwhile must not wait for all of them
function App:run_jobs(deadline)
  local jobs = self.jobs
  if not jobs[1] then return 0 end
  self.jobs = {}
  local n = #jobs
  for i = 1, n do
    jobs[i]()
    if deadline and i < n and core.monotonic() >= deadline then
      local left = table.move(jobs, i + 1, n, 1, {})
      self.jobs = table.move(self.jobs, 1, #self.jobs, #left + 1, left)
      return i
    end
  end
  return n
end

-- whether jobs wait to run; how many
function App:has_jobs()
  return self.jobs[1] ~= nil
end

function App:jobs_behind()
  return #self.jobs
end

-- ---- calls -----------------------------------------------------------------------------------

local function enc(s)
  return (tostring(s):gsub("[^%w%-%._~]", function(c) return format("%%%02X", c:byte()) end))
end

-- the URL bringing a call back to exec's wait in `widget` (token: the wait's; kind: which
-- way it came back), under the webhook of the flow the call came in on
function App:callback_url(exec, widget, token, kind)
  local root = self.engine:root(exec)
  -- TwiML Redirect's return: the webhook itself, as Studio's contract has it
  if kind == "return" then return self:webhook_url(root.flow_sid) .. "?FlowEvent=return" end
  local q = { "Widget=" .. enc(widget or "") }
  if token then q[#q + 1] = "Token=" .. enc(token) end
  q[#q + 1] = "Callback=" .. enc(kind)
  return format("%s/Executions/%s?%s", self:webhook_url(root.flow_sid), exec.sid, table.concat(q, "&"))
end

-- the TwiML of exec's wait on its call
function App:call_twiml(exec, w)
  local data = w.data or {}
  return twiml.render(data.twiml, function(kind) return self:callback_url(exec, w.state, data.token, kind) end)
end

local XML = request.XML

-- the answer to a call's request, as the call stands: the TwiML of the voice widget its
-- execution waits in, <Hangup/> once it ended, or PENDING (held until one of those)
function App:answer_call(exec, req)
  local e = self.engine
  local root = exec and e:root(exec)
  root = root and e.active[root.sid]
  if not root or root.status ~= "active" then return request.twiml{ "<Hangup/>" } end
  local inner = e:innermost(root)
  local w = peek(inner, "wait")                -- read, not unpacked: rivulet.packed
  if w and w.kind == "call" then return 200, XML, self:call_twiml(inner, w) end
  if not req.id then
    self.n_local = self.n_local + 1
    req.id = "local-" .. self.n_local
  end
  local list = self.held[root.sid] or {}
  list[#list + 1] = { id = req.id, at = core.monotonic() }
  self.held[root.sid] = list
  self.held_by[req.id] = root.sid
  return M.PENDING, req.id
end

local function answer_held(self, sid, status, headers, body)
  local list = self.held[sid]
  if not list then return end
  self.held[sid] = nil
  for _, h in ipairs(list) do
    self.held_by[h.id] = nil
    self.late[#self.late + 1] = { id = h.id, status = status, headers = headers, body = body }
  end
end

-- engine hooks: an execution waits on its call (its TwiML answers what was held), or one
-- that held a call ended (<Hangup/>)
function App:call_waits(exec, w)
  local root = self.engine:root(exec)
  if self.held[root.sid] then answer_held(self, root.sid, 200, XML, self:call_twiml(exec, w)) end
end

function App:call_ended(exec)
  if self.held[exec.sid] and not exec.parent_sid then
    local s, h, b = request.twiml{ "<Hangup/>" }
    answer_held(self, exec.sid, s, h, b)
  end
end

function App:answers()
  local out = self.late
  self.late = {}
  -- the answers to the app's own requests (the inspector playing Twilio) go back to it
  if next(self.internal) then
    local keep = {}
    for _, a in ipairs(out) do
      local f = self.internal[a.id]
      if f then
        self.internal[a.id] = nil
        f(a)
      else
        keep[#keep + 1] = a
      end
    end
    out = keep
  end
  return out
end

-- held calls that waited HOLD_AFTER_S get TwiML that keeps the caller on the line and
-- brings Twilio back (to be held again): Twilio must have an answer within 15 s
function App:tick(now)
  now = now or core.monotonic()
  if self.cluster then self.cluster:run() end
  for sid, list in pairs(self.held) do
    local keep = {}
    for _, h in ipairs(list) do
      if now - h.at >= M.HOLD_AFTER_S then
        self.held_by[h.id] = nil
        local url = format("%s/Executions/%s?Callback=hold", self:webhook_url(self.engine.active[sid]
          and self.engine.active[sid].flow_sid or ""), sid)
        local s, hd, b = request.twiml{ format('<Pause length="%d"/><Redirect method="POST">%s</Redirect>',
          M.HOLD_PAUSE_S, request.xml_escape(url)) }
        self.late[#self.late + 1] = { id = h.id, status = s, headers = hd, body = b }
      else
        keep[#keep + 1] = h
      end
    end
    self.held[sid] = keep[1] and keep or nil
  end
  for _, o in ipairs(self.observers) do if o.tick then o:tick(now) end end
end

function App:next_deadline(now)
  now = now or core.monotonic()
  local soon
  for _, list in pairs(self.held) do
    for _, h in ipairs(list) do
      local d = h.at + M.HOLD_AFTER_S - now
      if not soon or d < soon then soon = d end
    end
  end
  if self.cluster then
    local c = self.cluster:seconds_left()
    if not soon or c < soon then soon = c end
  end
  for _, o in ipairs(self.observers) do
    local d = o.next_deadline and o:next_deadline(now)
    if d and (not soon or d < soon) then soon = d end
  end
  return soon and math.max(0, soon) or nil
end

function App:drop(id)
  for _, o in ipairs(self.observers) do if o.drop then o:drop(id) end end
  local sid = self.held_by[id]
  if not sid then return end
  self.held_by[id] = nil
  local keep = {}
  for _, h in ipairs(self.held[sid] or {}) do if h.id ~= id then keep[#keep + 1] = h end end
  self.held[sid] = keep[1] and keep or nil
end

-- ---- flows -----------------------------------------------------------------------------------

local function problem_list(problems, level)
  local out = {}
  for _, p in ipairs(problems or {}) do
    if p.level == level then out[#out + 1] = { message = p.message, property_path = p.path } end
  end
  return out
end

-- check_definition(text | table) -> {valid, errors, warnings, text, kind}: what Studio's
-- FlowValidate says of it (rivulet validate's problems, with Studio's property_path)
function App:check_definition(def)
  local text = def
  if type(def) == "table" then text = json.encode(def) end
  if type(text) ~= "string" then
    return { valid = false, text = "", kind = "json", warnings = {},
             errors = { { message = "Definition must be a JSON object", property_path = "#" } } }
  end
  local flow, err = rivulet.flow.from_json(text, "Definition")
  if not flow then
    return { valid = false, text = text, kind = "json", warnings = {},
             errors = { { message = tostring(err):gsub("^Definition: ", ""), property_path = "#" } } }
  end
  local ok, problems = rivulet.validate(flow)
  return { valid = ok, text = text, kind = "json", errors = problem_list(problems, "error"),
           warnings = problem_list(problems, "warning") }
end

-- The flow an execution of flow_sid runs for contact: the latest revision for a test
-- user, the latest published one for everyone else -> flow | false | nil, err. Which
-- revisions those are is read from the store at most every FLOW_CACHE_S (every webhook
-- asks; a change made through this process is seen at once, see forget_flow; one made by
-- another process sharing the store, within FLOW_CACHE_S).
M.FLOW_CACHE_S = 1

local function pointer(self, flow_sid)
  local now = core.monotonic()
  local p = self.pointers[flow_sid]
  if p and now - p.at < M.FLOW_CACHE_S then return p end
  local row, err = self.store:studio_flow_head(flow_sid)
  if not row then return row, err end
  local users, set = json.decode(row.test_users), {}
  for _, u in ipairs(type(users) == "table" and users or {}) do set[u] = true end
  p = { at = now, published = row.published, revision = row.revision, test_users = set,
        name = row.origin or row.friendly_name }
  self.pointers[flow_sid] = p
  return p
end

function App:runnable(flow_sid, contact)
  local p, err = pointer(self, flow_sid)
  if not p then return p, err end
  local n = p.published
  if contact ~= nil and p.test_users[contact] then n = p.revision end
  if not n then return false end
  local key = flow_sid .. "#" .. n
  local f = self.flows[key]
  if f then return f end
  local rev
  rev, err = self.store:flow_revision(flow_sid, n)
  if not rev then return rev, err end
  if rev.kind == "lua" then f, err = rivulet.flow.from_lua(rev.definition, p.name)
  else f, err = rivulet.flow.from_json(rev.definition, p.name) end
  if not f then return nil, err end
  f.sid, f.revision = flow_sid, n
  self.flows[key] = f
  return f
end

-- flow_sid changed here (a revision, test users, deleted): read it again
function App:forget_flow(flow_sid)
  self.pointers[flow_sid] = nil
  for k in pairs(self.flows) do
    if sub(k, 1, #flow_sid + 1) == flow_sid .. "#" then self.flows[k] = nil end
  end
end

-- A flow file's SID: FW and the first 32 hex digits of the SHA-256 of its name, so the
-- same file is the same flow after a restart (and in another store).
function M.file_sid(name)
  return "FW" .. sub(core.sha256_hex(name), 1, 32)
end

-- publish_dir(dir) -> {{sid, name, path, revision, changed}, …}, problems | nil, err:
-- every *.json and *.lua flow in dir, published (a new revision when the file changed)
function App:publish_dir(dir)
  local p = io.popen("ls -1 " .. format("'%s'", dir:gsub("'", "'\\''")) .. " 2>/dev/null")
  if not p then return nil, "cannot list " .. dir end
  local names = {}
  for line in p:lines() do
    if line:match("%.json$") or line:match("%.lua$") then names[#names + 1] = line end
  end
  p:close()
  table.sort(names)
  local out, problems = {}, {}
  for _, file in ipairs(names) do
    local path = dir:gsub("/+$", "") .. "/" .. file
    local f = io.open(path, "rb")
    local text = f and f:read("a")
    if f then f:close() end
    local flow, err
    if text then
      flow, err = rivulet.load_flow(path)
    else
      err = path .. ": cannot read"
    end
    local ok, found = false, nil
    if flow then ok, found = rivulet.validate(flow) end
    if not ok then
      problems[#problems + 1] = { path = path, error = err, problems = found }
    else
      local kind = file:match("%.lua$") and "lua" or "json"
      local sid = M.file_sid(file)
      local cur = self.store:studio_flow(sid)
      local changed = not (cur and cur.definition == text and cur.kind == kind)
      local row = cur
      if changed then
        local rerr
        row, rerr = self.store:save_flow{
          sid = sid, friendly_name = flow.description ~= nil and flow.description ~= "" and tostring(flow.description)
            or file:gsub("%.%w+$", ""),
          status = "published", kind = kind, definition = text, origin = path,
          commit_message = cur and "the file changed" or "published from " .. path,
          valid = true, errors = {}, warnings = problem_list(found, "warning"),
        }
        if not row then return nil, rerr end
        self:forget_flow(sid)
      end
      out[#out + 1] = { sid = sid, name = row.friendly_name, path = path, revision = row.revision, changed = changed }
    end
  end
  return out, problems
end

-- ---- requests ---------------------------------------------------------------------------------

local function unauthorized()
  local s, h, b = request.error(401, 20003, "Authentication Error - invalid username")
  h = { h[1], { "WWW-Authenticate", 'Basic realm="rivulet"' } }
  return s, h, b
end

-- whether the request carries the account's credentials (HTTP Basic AC…:token)
function App:authorized(req)
  -- what Twilio's libraries send, compared at once; any other spelling is decoded
  local sid, token = self.account_sid, self.auth_token
  local want = self.basic_header
  if self.basic_sid ~= sid or self.basic_token ~= token then
    want = type(sid) == "string" and type(token) == "string" and "Basic " .. core.base64_encode(sid .. ":" .. token)
    self.basic_header, self.basic_sid, self.basic_token = want, sid, token
  end
  local h = request.header(req, "Authorization")
  if h == nil then return false end
  if want and core.secret_equal(h, want) then return true end
  local user, password = request.basic_auth(req)
  return user ~= nil and core.secret_equal(user, self.account_sid) and core.secret_equal(password, self.auth_token)
end

-- request{method, path, query, headers, body, peer} -> status, headers, body. A request
-- that failed because the shared store could not be reached is a 503 (Twilio's 20503).
function App:request(req)
  local st = self.store
  local lost = st and st.unavailable
  local status, headers, body = self:dispatch(req)
  if lost ~= nil and status == 500 and st.unavailable ~= lost then
    status, headers, body = request.error(503, 20503, "Service unavailable: the database cannot be reached" ..
      " (nothing was lost; try again)")
    headers = { headers[1], { "Retry-After", tostring(M.RETRY_AFTER_S) } }
  end
  return status, headers, body
end

-- The routes a path may match, by its first two segments (built once, the routes in their
-- order): a route whose first two segments are literal is listed under both; one whose
-- second is a pattern (an inspector asset) under its first alone, and such routes are the
-- only candidates of a path whose second segment no route names. A request tries a few
-- routes, not all of them.
local BY_SEGMENTS
local MAGIC = "[%^%$%(%)%%%.%[%]%*%+%-%?]"

-- a route's first two segments, as written ("" when it has one)
local function segments(r)
  return r.pattern:sub(2, -2):match("^/([^/]*)/?([^/]*)")
end

-- Beyond the first two segments, a route can only match a path with as many "/" as its
-- pattern (no pattern item matches "/" but "/" itself) and, when its last segment is
-- literal, ending in that segment: a route failing these is skipped without its pattern,
-- whose SID (%w+) would be tried at every length before it fails (7 routes before an
-- executions.create's cost more than the rest of its dispatch).
local function shape(r)
  local body = r.pattern:sub(2, -2)
  local _, slashes = body:gsub("/", "")
  local last = body:match("/([^/]*)$")
  r.slashes, r.last = slashes, last and not last:find(MAGIC) and last or nil
end

local function index_routes()
  local idx = {}
  for _, r in ipairs(ROUTES) do
    shape(r)
    local s1, s2 = segments(r)
    assert(s1 and not s1:find(MAGIC), "a route's first segment is literal")
    idx[s1] = idx[s1] or { loose = {}, by2 = {} }
    r.loose = s2:find(MAGIC) ~= nil
    if r.loose then local l = idx[s1].loose; l[#l + 1] = r end
  end
  -- each literal second segment: its routes and the loose ones, in the routes' order
  for _, r in ipairs(ROUTES) do
    local s1, s2 = segments(r)
    local t = idx[s1]
    if not r.loose and not t.by2[s2] then
      local list = {}
      for _, o in ipairs(ROUTES) do
        local o1, o2 = segments(o)
        if o1 == s1 and (o.loose or o2 == s2) then list[#list + 1] = o end
      end
      t.by2[s2] = list
    end
  end
  return idx
end

local match, find = string.match, string.find
local NO_ROUTES = {}
local form = request.form

function App:dispatch(req)
  local path = req.path
  BY_SEGMENTS = BY_SEGMENTS or index_routes()
  local s1, s2 = match(path, "^/([^/]*)/?([^/]*)")
  local t = s1 and BY_SEGMENTS[s1]
  local routes = t and (t.by2[s2] or t.loose) or NO_ROUTES
  local slashes, last               -- the path's "/" count and last segment, once needed
  for i = 1, #routes do
    local r = routes[i]
    local c1, c2, c3
    if i > 1 and not slashes then      -- the first route is tried as it is (a webhook's is)
      local at = 0
      slashes = 0
      while true do                    -- plain finds: no pattern
        local nx = find(path, "/", at + 1, true)
        if not nx then break end
        slashes, at = slashes + 1, nx
      end
      last = sub(path, at + 1)
    end
    if i == 1 or r.slashes == slashes and (r.last == nil or r.last == last) then
      c1, c2, c3 = match(path, r.pattern)     -- without captures: the path itself
    end
    if c1 then
      local handler = r.handlers[req.method] or (req.method == "HEAD" and r.handlers.GET)
      if not handler then
        local s, h, b = request.error(405, 20004, format("Method %s not allowed on %s", req.method, path))
        local allow = {}
        for m in pairs(r.handlers) do allow[#allow + 1] = m end
        table.sort(allow)
        h = { h[1], { "Allow", table.concat(allow, ", ") } }
        return s, h, b
      end
      if not r.public and not self:authorized(req) then return unauthorized() end
      local names = r.names
      local params = { v1 = r.v1 }
      if names[1] then params[names[1]] = c1 end
      if names[2] then params[names[2]] = c2 end
      if names[3] then params[names[3]] = c3 end
      local _, q = form(req.query)
      req.query_fields = q
      if req.method == "POST" then
        if not request.is_form(req) then
          return request.error(415, 20001, "the body must be application/x-www-form-urlencoded, as Twilio sends it")
        end
        req.form_pairs, req.form, req.form_all = form(req.body)
      else
        req.form_pairs, req.form, req.form_all = form(nil)
      end
      return handler(self, req, params)
    end
  end
  return request.error(404, 20404, format("The requested resource %s was not found", path))
end

return M
