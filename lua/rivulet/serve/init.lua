-- rivulet.serve: a self-hosted Studio. The REST API v2 (rivulet.serve.rest), the flows'
-- webhook for Twilio's incoming messages and calls and the message status callbacks
-- (rivulet.serve.webhook), over one engine and one store. An app answers requests given as
-- plain tables; `rivulet serve` (rivulet.cli.serve) puts it behind the C HTTP server.
--
--   local app = serve.new{ store = "rivulet.db", public_url = "http://127.0.0.1:8080",
--                          account_sid = "AC…", auth_token = "…", twilio_api = URL?,
--                          url_map = {…}?, subflows = DIR?, on_message = fn? }
--   app:publish_dir("flows")        -> {{sid, name, path}, …} | nil, err
--   local status, headers, body = app:request{ method, path, query, headers = {{n, v}}, body }
--   app:run_jobs()                  -- the work a request left for after its answer
--
-- Nobody gets in without the account's credentials: the REST API wants HTTP Basic
-- AC…:token (401), the webhook a valid X-Twilio-Signature over the public URL (403).

local rivulet = require "rivulet"
local core = require "rivulet.core"
local json = require "rivulet.json"
local request = require "rivulet.serve.request"
local rest = require "rivulet.serve.rest"
local webhook = require "rivulet.serve.webhook"

local type, ipairs, pairs, tostring, format = type, ipairs, pairs, tostring, string.format
local sub = string.sub

local M = {}

local App = {}
App.__index = App
M.App = App

-- ---- routes ------------------------------------------------------------------------------

-- each route: a path pattern (SIDs as %w+), its parameter names, and a handler per method
local ROUTES = {}
local function route(pattern, names, handlers, opts)
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

-- ---- the app -----------------------------------------------------------------------------

-- new(opts) -> app | nil, err, code (the store cannot be opened; code as the store's)
function M.new(opts)
  local app = setmetatable({
    account_sid = opts.account_sid, auth_token = opts.auth_token,
    public_url = (opts.public_url or "http://127.0.0.1:8080"):gsub("/+$", ""),
    jobs = {}, flows = {}, on_message = opts.on_message,
  }, App)
  local twilio
  if opts.twilio_api then
    twilio = { url = opts.twilio_api:gsub("/+$", ""), account_sid = opts.account_sid, auth_token = opts.auth_token,
               status_callback = function(exec) return app:status_url(exec.flow_sid) end }
  end
  local engine, err, code = rivulet.engine{
    store = opts.store, synchronous = opts.synchronous, auth_token = opts.auth_token, url_map = opts.url_map,
    subflows = opts.subflows, timezone = opts.timezone, now = opts.now, keep_ended = false, twilio = twilio,
    on_message = function(exec, m) if app.on_message then app.on_message(exec, m) end end,
  }
  if not engine then return nil, err, code end
  app.engine, app.store = engine, engine.store
  return app
end

function App:webhook_url(flow_sid)
  return format("%s/v1/Accounts/%s/Flows/%s", self.public_url, self.account_sid, flow_sid)
end

function App:status_url(flow_sid)
  return self:webhook_url(flow_sid) .. "/MessageStatus"
end

-- the engine's door, for the handlers
function App:handle(event)
  return self.engine:handle(event)
end

-- work a handler leaves for after its answer (a webhook answers Twilio at once)
function App:later(fn)
  self.jobs[#self.jobs + 1] = fn
end

function App:run_jobs()
  local jobs = self.jobs
  if not jobs[1] then return 0 end
  self.jobs = {}
  for _, fn in ipairs(jobs) do fn() end
  return #jobs
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

-- the flow an execution of flow_sid runs for contact: the latest revision for a test
-- user, the latest published one for everyone else -> flow | false | nil, err
function App:runnable(flow_sid, contact)
  local row, err = self.store:studio_flow(flow_sid)
  if not row then return row, err end
  local n = row.published
  local users = json.decode(row.test_users)
  for _, u in ipairs(type(users) == "table" and users or {}) do
    if u == contact then n = row.revision end
  end
  if not n then return false end
  local key = flow_sid .. "#" .. n
  local f = self.flows[key]
  if f then return f end
  local rev
  rev, err = self.store:flow_revision(flow_sid, n)
  if not rev then return rev, err end
  local name = row.origin or row.friendly_name
  if rev.kind == "lua" then f, err = rivulet.flow.from_lua(rev.definition, name)
  else f, err = rivulet.flow.from_json(rev.definition, name) end
  if not f then return nil, err end
  f.sid, f.revision = flow_sid, n
  self.flows[key] = f
  return f
end

function App:forget_flow(flow_sid)
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
  local user, password = request.basic_auth(req)
  return user ~= nil and core.secret_equal(user, self.account_sid) and core.secret_equal(password, self.auth_token)
end

-- request{method, path, query, headers, body, peer} -> status, headers, body
function App:request(req)
  local path = req.path
  for _, r in ipairs(ROUTES) do
    local caps = { path:match(r.pattern) }       -- without captures: the path itself
    if caps[1] then
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
      local params = { v1 = r.v1 }
      for i, name in ipairs(r.names) do params[name] = caps[i] end
      req.query_fields = request.fields(request.pairs_of(req.query or ""))
      if req.method == "POST" then
        if not request.is_form(req) then
          return request.error(415, 20001, "the body must be application/x-www-form-urlencoded, as Twilio sends it")
        end
        req.form_pairs = request.pairs_of(req.body or "")
        req.form, req.form_all = request.fields(req.form_pairs)
      else
        req.form_pairs, req.form, req.form_all = {}, {}, {}
      end
      return handler(self, req, params)
    end
  end
  return request.error(404, 20404, format("The requested resource %s was not found", path))
end

return M
