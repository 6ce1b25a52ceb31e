-- rivulet.serve.resources: Studio's REST resources as twilio_studio_v2.json describes
-- them (components.schemas: studio.v2.flow, flow_revision, flow.execution, ...), built
-- from what the store holds. Every url, links.* and meta.*_page_url is absolute, under the
-- server's public URL: Twilio's client libraries follow them verbatim.

local json = require "rivulet.json"

local type, ipairs, format, floor = type, ipairs, string.format, math.floor
local concat = table.concat

local M = {}

-- ISO 8601 in UTC, as the API's date-time fields ("2015-07-30T20:00:00Z"). The last
-- second's text is kept: an executions.create writes the same second twice, a burst of
-- them hundreds of times, and os.date costs ~5k instructions.
local last_second, last_text
function M.date(t)
  if type(t) ~= "number" then return nil end
  local s = floor(t)
  if s ~= last_second then
    last_second, last_text = s, os.date("!%Y-%m-%dT%H:%M:%SZ", s)
  end
  return last_text
end

local function decode_list(text)
  local v = type(text) == "string" and json.decode(text)
  if type(v) ~= "table" or v[1] == nil then return json.empty_array() end
  return v
end

-- the Flow Definition as the API gives it: the JSON object (a Lua flow file's text stays
-- a string: it is not JSON)
local function definition(rev)
  if rev.kind ~= "json" then return rev.definition end
  return json.decode(rev.definition) or rev.definition
end

-- studio.v2.flow (row: a studio_flows row joined with its latest revision)
function M.flow(base, account, row, with_definition)
  local url = format("%s/v2/Flows/%s", base, row.sid)
  return {
    sid = row.sid, account_sid = account, author_sid = nil, friendly_name = row.friendly_name,
    definition = with_definition ~= false and definition(row) or json.null, status = row.status,
    revision = row.revision, commit_message = row.commit_message, valid = row.valid == 1,
    errors = decode_list(row.errors), warnings = decode_list(row.warnings),
    date_created = M.date(row.date_created), date_updated = M.date(row.date_updated),
    webhook_url = format("%s/v1/Accounts/%s/Flows/%s", base, account, row.sid),
    url = url,
    links = { test_users = url .. "/TestUsers", revisions = url .. "/Revisions",
              executions = url .. "/Executions" },
  }
end

-- studio.v2.flow.flow_revision
function M.revision(base, account, rev)
  return {
    sid = rev.flow_sid, account_sid = account, author_sid = nil, friendly_name = rev.friendly_name,
    definition = definition(rev), status = rev.status, revision = rev.revision,
    commit_message = rev.commit_message, valid = rev.valid == 1, errors = decode_list(rev.errors),
    date_created = M.date(rev.date_created), date_updated = M.date(rev.date_created),
    url = format("%s/v2/Flows/%s/Revisions/%d", base, rev.flow_sid, rev.revision),
  }
end

function M.test_users(base, sid, list)
  return { sid = sid, test_users = list, url = format("%s/v2/Flows/%s/TestUsers", base, sid) }
end

-- Studio's execution status: "active" or "ended" (a failed execution has ended)
local function status(row)
  return row.status == "active" and "active" or "ended"
end

-- studio.v2.flow.execution
function M.execution(base, account, row)
  local url = format("%s/v2/Flows/%s/Executions/%s", base, row.flow_sid, row.sid)
  return {
    sid = row.sid, account_sid = account, flow_sid = row.flow_sid,
    contact_channel_address = row.contact, contact_sid = nil,
    flow_version = row.flow_version, context = json.empty_object(), status = status(row),
    date_created = M.date(row.started_at), date_updated = M.date(row.updated_at),
    initiated_by = row.initiated_by, url = url,
    links = { steps = url .. "/Steps", execution_context = url .. "/Context" },
  }
end

function M.execution_context(base, account, row)
  return { account_sid = account, context = row.context, flow_sid = row.flow_sid, execution_sid = row.sid,
           url = format("%s/v2/Flows/%s/Executions/%s/Context", base, row.flow_sid, row.sid) }
end

-- studio.v2.flow.execution.execution_step (exec: the execution row it belongs to). Its
-- context says why a widget failed when it did ({reason, message}: a timeout, a refused
-- connection...), which Studio keeps out of the widget's outputs (REFERENCE.md §3).
function M.step(base, account, exec, s)
  local url = format("%s/v2/Flows/%s/Executions/%s/Steps/%s", base, exec.flow_sid, exec.sid, s.sid)
  local ctx = json.empty_object()
  if s.reason ~= nil then ctx.reason = s.reason end
  if s.note ~= nil then ctx.message = s.note end
  return {
    sid = s.sid, account_sid = account, flow_sid = exec.flow_sid, execution_sid = exec.sid,
    parent_step_sid = nil, name = s.name, context = ctx,
    transitioned_from = s.transitioned_from, transitioned_to = s.transitioned_to, type = s.type,
    date_created = M.date(s.date_created), date_updated = M.date(s.date_created), url = url,
    links = { step_context = url .. "/Context" },
  }
end

function M.step_context(base, account, exec, s)
  return { account_sid = account, context = s.context, execution_sid = exec.sid, flow_sid = exec.flow_sid,
           step_sid = s.sid,
           url = format("%s/v2/Flows/%s/Executions/%s/Steps/%s/Context", base, exec.flow_sid, exec.sid, s.sid) }
end

-- ---- lists ------------------------------------------------------------------------------

-- query text of a list URL: the filters in a stable order, then the paging
local function query(filters, page_size, page, token)
  local q = {}
  for _, f in ipairs(filters or {}) do q[#q + 1] = f end
  q[#q + 1] = "PageSize=" .. page_size
  q[#q + 1] = "Page=" .. page
  if token then q[#q + 1] = "PageToken=" .. token end
  return concat(q, "&")
end

-- the list envelope: {key = items, meta = {page, page_size, first_page_url,
-- previous_page_url, next_page_url, url, key}}. page: {page, size, token (this page's),
-- next_token (nil on the last page), previous_token (nil on the first; "" = the first)}
function M.list(base, path, key, items, page, filters)
  local url = base .. path
  local function at(n, token) return url .. "?" .. query(filters, page.size, n, token) end
  return {
    [key] = items,
    meta = {
      page = page.page, page_size = page.size, key = key,
      first_page_url = at(0),
      previous_page_url = page.page > 0
        and at(page.page - 1, page.previous_token ~= "" and page.previous_token or nil) or json.null,
      next_page_url = page.next_token and at(page.page + 1, page.next_token) or json.null,
      url = at(page.page, page.token),
    },
  }
end

return M
