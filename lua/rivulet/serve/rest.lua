-- rivulet.serve.rest: Studio's REST API v2 (twilio_studio_v2.json: Flows, Revisions,
-- FlowValidate, TestUsers, Executions, Execution Context, Steps, Step Context) over the
-- store and the engine. Each handler takes (app, req, params) and answers status, headers,
-- body; req.form holds the POSTed fields (name -> value, and req.form_all name -> {values}).
-- Bodies, codes and shapes as Twilio's: create answers 201, delete 204, errors
-- {code, message, more_info, status[, details]}.

local json = require "rivulet.json"
local request = require "rivulet.serve.request"
local resources = require "rivulet.serve.resources"
local sidlib = require "rivulet.sid"
local peek = require("rivulet.packed").peek

local type, ipairs, tostring, tonumber, format = type, ipairs, tostring, tonumber, string.format
local math_type, unpack = math.type, table.unpack

local M = {}

M.DEFAULT_PAGE_SIZE = 50         -- Twilio's list default
M.MAX_PAGE_SIZE = 1000           -- and its maximum (PageSize <= 1000)

local answer, fail = request.json, request.error

local function not_found(what, sid)
  return fail(404, 20404, format("The requested resource /%s/%s was not found", what, tostring(sid)))
end

local function missing(name)
  return fail(400, 20001, format("Missing required parameter %s in the post body", name))
end

local function invalid(name, why)
  return fail(400, 20001, format("Invalid parameter %s: %s", name, why))
end

local function store_failed(err)
  return fail(500, 20500, "Internal server error: " .. tostring(err))
end

-- ---- paging ------------------------------------------------------------------------------

-- PageSize, Page and PageToken of a list request -> {size, page, after | before_sid} | nil, answer
local function paging(req)
  local q = req.query_fields
  local size = tonumber(q.PageSize or M.DEFAULT_PAGE_SIZE)
  if not size or math_type(size) ~= "integer" or size < 1 or size > M.MAX_PAGE_SIZE then
    return nil, { invalid("PageSize", format("must be an integer from 1 to %d", M.MAX_PAGE_SIZE)) }
  end
  local pg = tonumber(q.Page or 0)
  if not pg or math_type(pg) ~= "integer" or pg < 0 then return nil, { invalid("Page", "must be 0 or more") } end
  local p = { size = size, page = pg, token = q.PageToken }
  local token = q.PageToken
  if token then
    local dir, key = token:match("^(P[AB])(.+)$")
    if not dir then return nil, { invalid("PageToken", "not a token of this server") } end
    if dir == "PA" then p.after = key else p.before_sid = key end
  elseif pg > 0 then
    return nil, { invalid("PageToken", "a page after the first needs the PageToken of its URL") }
  end
  return p
end

-- the page of rows read with one row more than asked (to know whether there is a next
-- page): its envelope, key of each row given by key_of
local function envelope(app, req, key, items, rows, p, key_of, filters)
  local more = #rows > p.size
  if more and p.before_sid then table.remove(rows, 1) elseif more then rows[#rows] = nil end
  local page = { page = p.page, size = p.size, token = p.token }
  if rows[1] then
    if more or p.before_sid then page.next_token = "PA" .. key_of(rows[#rows]) end
    if p.page > 0 then page.previous_token = p.page == 1 and "" or "PB" .. key_of(rows[1]) end
  end
  if p.before_sid and not more and p.page > 0 then page.previous_token = "" end
  return answer(200, resources.list(app.public_url, req.path, key, items, page, filters))
end

local function read_page(p)
  return { limit = p.size + 1, after = p.after, before_sid = p.before_sid }
end

-- ---- flows ---------------------------------------------------------------------------------

local STATUSES = { draft = true, published = true }

-- FriendlyName, Status, Definition, CommitMessage of a create/update/validate -> fields | nil, answer
local function flow_fields(req, need_definition, need_name)
  local f = req.form
  if need_name and (f.FriendlyName == nil or f.FriendlyName == "") then return nil, { missing("FriendlyName") } end
  if f.Status == nil then return nil, { missing("Status") } end
  if not STATUSES[f.Status] then return nil, { invalid("Status", "must be draft or published") } end
  if need_definition and f.Definition == nil then return nil, { missing("Definition") } end
  return { friendly_name = f.FriendlyName, status = f.Status, definition = f.Definition,
           commit_message = f.CommitMessage }
end

-- 81022 with every problem rivulet validate finds (Studio's property_path)
local function invalid_flow(problems)
  return fail(400, 81022, "Flow definition validation failed", { errors = problems })
end

function M.create_flow(app, req)
  local f, bad = flow_fields(req, true, true)
  if not f then return unpack(bad) end
  local checked = app:check_definition(f.definition)
  if f.status == "published" and not checked.valid then return invalid_flow(checked.errors) end
  local row, err = app.store:save_flow{
    sid = sidlib.new("FW"), friendly_name = f.friendly_name, status = f.status, kind = "json",
    definition = checked.text, commit_message = f.commit_message, valid = checked.valid,
    errors = checked.errors, warnings = checked.warnings,
  }
  if not row then return store_failed(err) end
  return answer(201, resources.flow(app.public_url, app.account_sid, row))
end

function M.update_flow(app, req, p)
  local cur, err = app.store:studio_flow(p.sid)
  if cur == nil then return store_failed(err) end
  if not cur then return not_found("Flows", p.sid) end
  local f, bad = flow_fields(req, false, false)
  if not f then return unpack(bad) end
  local checked = f.definition and app:check_definition(f.definition)
    or { text = cur.definition, kind = cur.kind, valid = cur.valid == 1,
         errors = json.decode(cur.errors) or {}, warnings = json.decode(cur.warnings) or {} }
  if f.status == "published" and not checked.valid then return invalid_flow(checked.errors) end
  local row
  row, err = app.store:save_flow{
    sid = p.sid, friendly_name = f.friendly_name or cur.friendly_name, status = f.status,
    kind = checked.kind or "json", definition = checked.text, commit_message = f.commit_message,
    valid = checked.valid, errors = checked.errors, warnings = checked.warnings,
  }
  if not row then return store_failed(err) end
  app:forget_flow(p.sid)
  return answer(200, resources.flow(app.public_url, app.account_sid, row))
end

function M.fetch_flow(app, _, p)
  local row, err = app.store:studio_flow(p.sid)
  if row == nil then return store_failed(err) end
  if not row then return not_found("Flows", p.sid) end
  return answer(200, resources.flow(app.public_url, app.account_sid, row))
end

function M.list_flows(app, req)
  local p, bad = paging(req)
  if not p then return unpack(bad) end
  local rows, err = app.store:studio_flows(read_page(p))
  if not rows then return store_failed(err) end
  local items = {}
  for i, r in ipairs(rows) do
    if i <= p.size then items[#items + 1] = resources.flow(app.public_url, app.account_sid, r, false) end
  end
  return envelope(app, req, "flows", items, rows, p, function(r) return r.sid end)
end

function M.delete_flow(app, _, p)
  local ok, err = app.store:delete_flow(p.sid)
  if ok == nil then return store_failed(err) end
  if not ok then return not_found("Flows", p.sid) end
  app:forget_flow(p.sid)
  return 204, {}, ""
end

function M.validate_flow(app, req)
  local f, bad = flow_fields(req, true, true)
  if not f then return unpack(bad) end
  local checked = app:check_definition(f.definition)
  if not checked.valid then return invalid_flow(checked.errors) end
  return answer(200, { valid = true })
end

-- Revision: a number, LatestPublished or LatestRevision
function M.fetch_revision(app, _, p)
  local n = p.revision
  if n ~= "LatestPublished" and n ~= "LatestRevision" then
    n = tonumber(n)
    if not n or math_type(n) ~= "integer" then return not_found("Revisions", p.revision) end
  end
  local rev, err = app.store:flow_revision(p.sid, n)
  if rev == nil then return store_failed(err) end
  if not rev then return not_found("Flows/" .. p.sid .. "/Revisions", p.revision) end
  return answer(200, resources.revision(app.public_url, app.account_sid, rev))
end

function M.list_revisions(app, req, p)
  local flow, err = app.store:studio_flow(p.sid)
  if flow == nil then return store_failed(err) end
  if not flow then return not_found("Flows", p.sid) end
  local pg, bad = paging(req)
  if not pg then return unpack(bad) end
  local f = read_page(pg)
  f.after, f.before_sid = tonumber(pg.after), tonumber(pg.before_sid)
  local rows
  rows, err = app.store:flow_revisions(p.sid, f)
  if not rows then return store_failed(err) end
  local items = {}
  for i, r in ipairs(rows) do
    if i <= pg.size then items[#items + 1] = resources.revision(app.public_url, app.account_sid, r) end
  end
  return envelope(app, req, "revisions", items, rows, pg, function(r) return tostring(r.revision) end)
end

function M.fetch_test_users(app, _, p)
  local row, err = app.store:studio_flow(p.sid)
  if row == nil then return store_failed(err) end
  if not row then return not_found("Flows", p.sid) end
  local list = json.decode(row.test_users)
  if type(list) ~= "table" or not list[1] then list = json.empty_array() end
  return answer(200, resources.test_users(app.public_url, p.sid, list))
end

function M.update_test_users(app, req, p)
  local list = req.form_all.TestUsers
  if not list then return missing("TestUsers") end
  local ok, err = app.store:set_test_users(p.sid, list)
  if ok == nil then return store_failed(err) end
  if not ok then return not_found("Flows", p.sid) end
  app:forget_flow(p.sid)
  return answer(200, resources.test_users(app.public_url, p.sid, list))
end

-- ---- executions ---------------------------------------------------------------------------

-- the execution row of sid under flow p.flow_sid | nil, answer
local function execution_row(app, p, sid)
  local row, err = app.store:execution(sid)
  if row == nil then return nil, { store_failed(err) } end
  if not row or row.flow_sid ~= p.flow_sid then
    return nil, { not_found("Flows/" .. p.flow_sid .. "/Executions", sid) }
  end
  return row
end

-- To, From, Parameters (a JSON object as a string) -> a started execution: 201 (v1: 200),
-- 409/20409 when the contact has an active one
function M.create_execution(app, req, p)
  local f = req.form
  if f.To == nil or f.To == "" then return missing("To") end
  if f.From == nil or f.From == "" then return missing("From") end
  local params = json.empty_object()
  if f.Parameters ~= nil and f.Parameters ~= "" then
    local v = json.decode(f.Parameters, true)
    if type(v) ~= "table" or not f.Parameters:match("^%s*{") then
      return invalid("Parameters", "must be a JSON object, given as a string")
    end
    params = v
  end
  local flow, err = app:runnable(p.flow_sid, f.To)
  if not flow then
    if err then return store_failed(err) end
    return not_found("Flows", p.flow_sid)
  end
  local r = app:handle{ kind = "start", flow = flow, trigger = {
    event = "incomingRequest", from = f.From, to = f.To, parameters = params } }
  if r.code == "conflict" then
    return fail(409, 20409, format("Execution %s is already active for this contact. End it before creating a new one.",
      tostring(r.active_sid)), { conflicting_execution_sid = r.active_sid })
  elseif r.code == "bad_input" then
    return invalid("To", r.message)
  elseif r.code ~= "started" then
    return store_failed(r.message)
  end
  -- the resource from the execution as it was just stored (not read back: a create is hot),
  -- read without unpacking it if it waits (rivulet.packed)
  local e = r.exec
  local context, flow_sid, flow_version, status, started_at, updated_at, initiated_by =
    peek(e, "context", "flow_sid", "flow_version", "status", "started_at", "updated_at", "initiated_by")
  local contact = context.contact.channel.address
  local row = { sid = e.sid, flow_sid = flow_sid, contact = contact ~= nil and tostring(contact) or nil,
                flow_version = flow_version, status = status, started_at = started_at,
                updated_at = updated_at or started_at, initiated_by = initiated_by }
  return answer(p.v1 and 200 or 201, resources.execution(app.public_url, app.account_sid, row))
end

-- DateCreatedFrom / DateCreatedTo: ISO 8601
local function date_filter(name, s)
  if s == nil then return nil end
  local t = require("rivulet.time").parse(s)
  if not t then return nil, { invalid(name, "must be an ISO 8601 date-time") } end
  return t
end

function M.list_executions(app, req, p)
  local q = req.query_fields
  local pg, bad = paging(req)
  if not pg then return unpack(bad) end
  local status = q.Status or q.status
  if status ~= nil and status ~= "active" and status ~= "ended" then
    return invalid("Status", "must be active or ended")
  end
  local since, before
  since, bad = date_filter("DateCreatedFrom", q.DateCreatedFrom)
  if bad then return unpack(bad) end
  before, bad = date_filter("DateCreatedTo", q.DateCreatedTo)
  if bad then return unpack(bad) end
  local f = read_page(pg)
  f.flow_sid, f.status, f.since = p.flow_sid, status, since
  if before then f.before = before + 1 end      -- To is inclusive, to the second
  local rows, err = app.store:list(f)
  if not rows then return store_failed(err) end
  local items = {}
  for i, r in ipairs(rows) do
    if i <= pg.size then items[#items + 1] = resources.execution(app.public_url, app.account_sid, r) end
  end
  local filters = {}
  if status then filters[#filters + 1] = "Status=" .. status end
  if q.DateCreatedFrom then filters[#filters + 1] = "DateCreatedFrom=" .. q.DateCreatedFrom end
  if q.DateCreatedTo then filters[#filters + 1] = "DateCreatedTo=" .. q.DateCreatedTo end
  return envelope(app, req, "executions", items, rows, pg, function(r) return r.sid end, filters)
end

function M.fetch_execution(app, _, p)
  local row, bad = execution_row(app, p, p.sid)
  if not row then return unpack(bad) end
  return answer(200, resources.execution(app.public_url, app.account_sid, row))
end

-- Status=ended: the execution ends now
function M.update_execution(app, req, p)
  local row, bad = execution_row(app, p, p.sid)
  if not row then return unpack(bad) end
  local status = req.form.Status
  if status == nil then return missing("Status") end
  if status ~= "ended" then return invalid("Status", "can only be ended") end
  if row.status == "active" then
    local r = app:handle{ kind = "end", sid = p.sid, reason = "ended through the REST API (Status=ended)" }
    if r.code ~= "ended" and r.code ~= "none" then return store_failed(r.message) end
    row = app.store:execution(p.sid) or row
  end
  return answer(200, resources.execution(app.public_url, app.account_sid, row))
end

function M.delete_execution(app, _, p)
  local row, bad = execution_row(app, p, p.sid)
  if not row then return unpack(bad) end
  if row.status == "active" then app:handle{ kind = "end", sid = p.sid, reason = "deleted through the REST API" } end
  local ok, err = app.store:delete_execution(p.sid)
  if ok == nil then return store_failed(err) end
  return 204, {}, ""
end

function M.fetch_execution_context(app, _, p)
  local row, bad = execution_row(app, p, p.execution_sid)
  if not row then return unpack(bad) end
  return answer(200, resources.execution_context(app.public_url, app.account_sid, row))
end

function M.list_steps(app, req, p)
  local exec, bad = execution_row(app, p, p.execution_sid)
  if not exec then return unpack(bad) end
  local pg
  pg, bad = paging(req)
  if not pg then return unpack(bad) end
  local rows, err = app.store:step_page(exec.sid, read_page(pg))
  if not rows then return store_failed(err) end
  local items = {}
  for i, s in ipairs(rows) do
    if i <= pg.size then items[#items + 1] = resources.step(app.public_url, app.account_sid, exec, s) end
  end
  return envelope(app, req, "steps", items, rows, pg, function(s) return s.sid end)
end

local function step_of(app, p)
  local exec, bad = execution_row(app, p, p.execution_sid)
  if not exec then return nil, nil, bad end
  local s, err = app.store:step(exec.sid, p.step_sid)
  if s == nil then return nil, nil, { store_failed(err) } end
  if not s then return nil, nil, { not_found("Executions/" .. exec.sid .. "/Steps", p.step_sid) } end
  return exec, s
end

function M.fetch_step(app, _, p)
  local exec, s, bad = step_of(app, p)
  if not exec then return unpack(bad) end
  return answer(200, resources.step(app.public_url, app.account_sid, exec, s))
end

function M.fetch_step_context(app, _, p)
  local exec, s, bad = step_of(app, p)
  if not exec then return unpack(bad) end
  return answer(200, resources.step_context(app.public_url, app.account_sid, exec, s))
end

return M
