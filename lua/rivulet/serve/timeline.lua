-- rivulet.serve.timeline: what the inspector shows, as plain data ready for JSON: a flow as
-- a graph (its widgets and transitions, each transition with how many steps took it) and
-- an execution as a timeline (each step's widget, event and time, what it changed in the
-- context, the HTTP call it made with its reply, why it failed).
--
--   timeline.graph(flow, counts)        -> {nodes = {{name, type, initial, n}}, edges = {{from,
--                                          event, to, label, n, ends}}}
--   timeline.execution(row, steps)      -> {sid, status, …, steps = {{…, changes, http, reply}}}
--   timeline.diff(path, before, after, out?) -> {{path, before, after}, …} (leaves that differ)

local dot = require "rivulet.dot"
local core = require "rivulet.core"
local short_name = require("rivulet.flow").short_name

local type, pairs, ipairs, tostring, next, getmetatable, setmetatable =
  type, pairs, ipairs, tostring, next, getmetatable, setmetatable
local sort, concat = table.sort, table.concat

local M = {}

-- a list that stays a JSON array when empty
local function list() return setmetatable({}, core.array_mt) end
M.list = list

M.MAX_CHANGES = 200        -- per step: a step that changes more lists this many and a count
M.MAX_VALUE_BYTES = 65536  -- a text longer than a function reply's limit is cut for the page

-- ---- graphs ---------------------------------------------------------------------------------

local function key(from, event, to)
  return tostring(from) .. "\0" .. tostring(event) .. "\0" .. tostring(to)
end

-- the flow's widgets and transitions (as rivulet graph draws them: each (state, event,
-- next) once, a transition without next going to Ended), each with the number of steps
-- that took it (counts: store:edge_counts rows)
function M.graph(flow, counts)
  local by = {}
  for _, c in ipairs(counts or {}) do by[key(c.from, c.event, c.to)] = c.n end
  local nodes, edges, seen, visits = list(), list(), {}, {}
  local ends = false
  for _, s in ipairs(type(flow.states) == "table" and flow.states or {}) do
    if type(s) == "table" and s.name ~= nil then
      nodes[#nodes + 1] = { name = tostring(s.name), type = tostring(s.type),
                            initial = s.name == flow.initial_state or nil }
      for _, t in ipairs(type(s.transitions) == "table" and s.transitions or {}) do
        if type(t) == "table" then
          local to = dot.target(t)
          local k = key(s.name, t.event, to)
          if not seen[k] then
            seen[k] = true
            local n = by[k] or 0
            edges[#edges + 1] = { from = tostring(s.name), event = tostring(t.event), to = to,
                                  label = dot.transition_label(t), n = n, ends = to == dot.ENDED or nil }
            visits[to] = (visits[to] or 0) + n
            if to == dot.ENDED then ends = true end
          end
        end
      end
    end
  end
  for _, nd in ipairs(nodes) do
    nd.n = visits[nd.name] or 0
    -- the trigger is entered by no transition: it counts the executions it started
    if nd.type == "trigger" then
      local started = 0
      for _, e in ipairs(edges) do if e.from == nd.name then started = started + e.n end end
      nd.n = started
    end
  end
  if ends then nodes[#nodes + 1] = { name = dot.ENDED, type = "end", n = visits[dot.ENDED] or 0 } end
  return { nodes = nodes, edges = edges, initial_state = flow.initial_state }
end

-- ---- diffs ----------------------------------------------------------------------------------

local function is_array(t)
  return type(t) == "table" and (t[1] ~= nil or getmetatable(t) == core.array_mt)
end

local function clip(v)
  if type(v) == "string" and #v > M.MAX_VALUE_BYTES then
    return v:sub(1, M.MAX_VALUE_BYTES) .. "…"
  end
  return v
end

local function sorted_keys(a, b)
  local ks, seen = {}, {}
  for i = 1, 2 do
    local t = i == 1 and a or b
    if type(t) == "table" then
      for k in pairs(t) do
        if not seen[k] then seen[k] = true; ks[#ks + 1] = k end
      end
    end
  end
  sort(ks, function(x, y)
    if type(x) == type(y) then return x < y end
    return type(x) == "number"
  end)
  return ks
end

local function join(path, k)
  if type(k) == "number" then return path .. "." .. tostring(k - 1) end   -- Liquid's index, from 0
  return path .. "." .. tostring(k)
end

-- the leaves where before and after differ, as {path, before, after} (nil: not there);
-- arrays compare as a whole (a list that changed shows old and new)
function M.diff(path, before, after, out)
  out = out or list()
  -- an empty table holds nothing: as good as not there
  if type(before) == "table" and next(before) == nil then before = nil end
  if type(after) == "table" and next(after) == nil then after = nil end
  if type(before) == "table" and type(after) == "table" and not is_array(before) and not is_array(after) then
    for _, k in ipairs(sorted_keys(before, after)) do M.diff(join(path, k), before[k], after[k], out) end
    return out
  end
  if type(before) == "table" and type(after) == "table" then
    if core.json_encode(before) == core.json_encode(after) then return out end
  elseif before == after then
    return out
  end
  if type(after) == "table" and before == nil and not is_array(after) and next(after) ~= nil then
    for _, k in ipairs(sorted_keys(nil, after)) do M.diff(join(path, k), nil, after[k], out) end
    return out
  end
  if type(before) == "table" and after == nil and not is_array(before) and next(before) ~= nil then
    for _, k in ipairs(sorted_keys(before, nil)) do M.diff(join(path, k), before[k], nil, out) end
    return out
  end
  out[#out + 1] = { path = path, before = clip(before), after = clip(after) }
  return out
end

-- ---- executions --------------------------------------------------------------------------------

local function status_of(row)
  if row.status == "ended" and row.failed then return "failed" end
  return row.status
end
M.status_of = status_of

-- an execution list row for the page
function M.summary(row)
  return { sid = row.sid, flow_sid = row.flow_sid, flow = short_name(row.flow_name), contact = row.contact,
           channel = row.channel, status = status_of(row), reason = row.reason, state = row.state,
           trigger = row.trigger_event, started_at = row.started_at, ended_at = row.ended_at,
           updated_at = row.updated_at, steps = row.step_count, parent_sid = row.parent_sid }
end

-- what the step changed: the widget's outputs (widgets.NAME) and flow.variables, against
-- what they were before it; the trigger's step shows the trigger and flow.data
local function changes(step, prev_outputs, prev_vars, exec_ctx, first)
  local ctx = type(step.context) == "table" and step.context or {}
  local out = list()
  if first then
    M.diff("trigger", nil, exec_ctx.trigger, out)
    local data = type(exec_ctx.flow) == "table" and exec_ctx.flow.data or nil
    M.diff("flow.data", nil, data, out)
  elseif ctx.widget ~= nil then
    M.diff("widgets." .. tostring(ctx.widget), prev_outputs, ctx.outputs, out)
  end
  M.diff("flow.variables", prev_vars, ctx.variables, out)
  if #out > M.MAX_CHANGES then
    local more = #out - M.MAX_CHANGES
    for i = #out, M.MAX_CHANGES + 1, -1 do out[i] = nil end
    out[#out + 1] = { path = "…", more = more }
  end
  return out
end

local REPLY_FIELDS = { "status_code", "content_type", "body", "headers", "parsed" }

-- row: store:execution(sid) (decoded); steps: store:steps(sid, true)
function M.execution(row, steps)
  local ctx = type(row.context) == "table" and row.context or {}
  local outputs, vars = {}, nil
  local items = list()
  for i, s in ipairs(steps) do
    local c = type(s.context) == "table" and s.context or {}
    local widget = tostring(c.widget or s.transitioned_from or "?")
    local item = {
      sid = s.sid, index = s.idx or i, event = s.name, type = s.type, from = s.transitioned_from,
      to = s.transitioned_to, at = s.date_created, reason = s.reason, note = s.note,
      changes = changes(s, outputs[widget], vars, ctx, i == 1),
    }
    if type(c.http) == "table" then
      item.http = c.http
      local o = type(c.outputs) == "table" and c.outputs or {}
      local reply = {}
      for _, k in ipairs(REPLY_FIELDS) do reply[k] = clip(o[k]) end
      item.reply = reply
    end
    -- why a widget failed is its step's reason and note (Studio keeps it out of the outputs,
    -- REFERENCE.md §3); executions stored before that kept it in the outputs
    local o = type(c.outputs) == "table" and c.outputs or nil
    if s.reason ~= nil and s.transitioned_from ~= nil and i > 1 then
      item.failure = { reason = s.reason, message = s.note }
    elseif o and (o.reason ~= nil or o.message ~= nil) and (s.name == "fail" or s.name == "failed") then
      item.failure = { reason = o.reason, message = o.message }
    end
    outputs[widget] = c.outputs
    vars = c.variables
    items[i] = item
  end
  local w = type(row.wait) == "table" and row.wait or nil
  return {
    sid = row.sid, flow_sid = row.flow_sid, flow = short_name(row.flow_name), contact = row.contact,
    channel = row.channel, status = status_of(row), reason = row.reason, state = row.state,
    trigger = row.trigger_event, started_at = row.started_at, ended_at = row.ended_at, updated_at = row.updated_at,
    parent_sid = row.parent_sid, flow_version = row.flow_version,
    wait = w and { kind = w.kind, state = w.state, since = w.since, deadline = w.deadline } or nil,
    steps = items, context = ctx,
  }
end

-- the path of states an execution entered, in order (the trigger first)
function M.path(steps)
  local p = {}
  for i, s in ipairs(steps) do
    if i == 1 then p[1] = s.transitioned_from end
    p[#p + 1] = s.transitioned_to
  end
  return concat(p, " > ")
end

return M
