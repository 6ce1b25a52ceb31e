-- rivulet.serve.metrics: what `rivulet serve` has done since it started, in Prometheus'
-- text exposition format (version 0.0.4) at GET /metrics, behind the same HTTP Basic
-- credentials as the REST API (Prometheus' scrape config: basic_auth).
--
--   rivulet_executions_started_total{flow}        counter   flow: the published flow's SID
--   rivulet_executions_ended_total{flow}          counter     (a subflow's child: "subflow:NAME")
--   rivulet_executions_failed_total{flow}         counter   ended by a guard or an error
--   rivulet_execution_duration_seconds{flow}      histogram start to end, of ended executions
--   rivulet_steps_total{type}                     counter   by widget type
--   rivulet_function_calls_total{kind,outcome,reason}  counter  kind: run_function,
--                                                 http_request, twilio (Twilio's API);
--                                                 outcome: success | failure
--   rivulet_function_call_duration_seconds{kind}  histogram
--   rivulet_executions_active{flow}               gauge
--   rivulet_executions_waiting{flow,wait}         gauge     where the active ones stand:
--                                                 reply, call, event, http, subflow, running
--   rivulet_http_requests_total{route,code}       counter   route: rest, webhook, ui, metrics, other
--   rivulet_http_request_duration_seconds{route}  histogram received to answered (a held
--                                                 call's webhook: until its TwiML came)
--   rivulet_flow_info{flow,name}                  gauge 1   the flows' names
--   rivulet_start_time_seconds                    gauge     when this process started
--
-- Counters live in memory: they start at 0 with the process, as Prometheus expects of a
-- counter (a restart is a reset, which rate() handles).

local core = require "rivulet.core"
local peek = require("rivulet.packed").peek
local short_name = require("rivulet.flow").short_name

local type, pairs, ipairs, tostring, tonumber, format = type, pairs, ipairs, tostring, tonumber, string.format
local concat, sort = table.concat, table.sort

local M = {}

M.CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

-- Bucket bounds, seconds. A function call has Studio's 10 s; an execution may wait a day
-- for a reply (Send & Wait's timeout is up to a week, the last bucket is +Inf); a held call
-- webhook is answered within HOLD_AFTER_S (12 s).
M.CALL_BUCKETS = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 }
M.EXECUTION_BUCKETS = { 0.1, 1, 5, 15, 60, 300, 900, 3600, 14400, 86400 }
M.REQUEST_BUCKETS = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15 }

-- the flow label of an execution: its published flow's SID, or the name of a subflow's file
local function flow_label(exec)
  if exec.parent_sid or not exec.flow_sid then
    return "subflow:" .. tostring(short_name(exec.flow_name) or "?")
  end
  return exec.flow_sid
end
M.flow_label = flow_label

-- the route label of a request path
function M.route_of(path)
  path = tostring(path or "")
  if path:match("^/v2/") or path:match("^/v1/Flows/") then return "rest" end
  if path:match("^/v1/Accounts/") then return "webhook" end
  if path == "/ui" or path:match("^/ui/") then return "ui" end
  if path == "/metrics" then return "metrics" end
  return "other"
end

-- ---- the families ------------------------------------------------------------------------

local Metrics = {}
Metrics.__index = Metrics
M.Metrics = Metrics

local function family(name, kind, help, labels, buckets)
  return { name = name, kind = kind, help = help, labels = labels, buckets = buckets, series = {} }
end

function M.new(app)
  local m = setmetatable({ app = app, started = core.now(), held = {} }, Metrics)
  m.started_total = family("rivulet_executions_started_total", "counter", "Executions started, by flow.", { "flow" })
  m.ended_total = family("rivulet_executions_ended_total", "counter",
    "Executions ended (failed ones included), by flow.", { "flow" })
  m.failed_total = family("rivulet_executions_failed_total", "counter",
    "Executions that a guard or an error ended, by flow.", { "flow" })
  m.execution_seconds = family("rivulet_execution_duration_seconds", "histogram",
    "Time from start to end of the executions that ended, by flow.", { "flow" }, M.EXECUTION_BUCKETS)
  m.steps_total = family("rivulet_steps_total", "counter", "Steps taken, by widget type.", { "type" })
  m.calls_total = family("rivulet_function_calls_total", "counter",
    "HTTP calls widgets made (Run Function, Make HTTP Request, Twilio's API), by outcome and failure reason.",
    { "kind", "outcome", "reason" })
  m.call_seconds = family("rivulet_function_call_duration_seconds", "histogram",
    "Time from request to reply of the HTTP calls widgets made.", { "kind" }, M.CALL_BUCKETS)
  m.requests_total = family("rivulet_http_requests_total", "counter",
    "Requests rivulet serve answered, by route and status code.", { "route", "code" })
  m.request_seconds = family("rivulet_http_request_duration_seconds", "histogram",
    "Time from a request's arrival to its answer.", { "route" }, M.REQUEST_BUCKETS)
  return m
end

local function key_of(values)
  return concat(values, "\0")
end

local function series(fam, values)
  local k = key_of(values)
  local s = fam.series[k]
  if not s then
    s = { labels = values, value = 0 }
    if fam.buckets then
      s.counts, s.sum = {}, 0
      for i = 1, #fam.buckets do s.counts[i] = 0 end
    end
    fam.series[k] = s
  end
  return s
end

local function inc(fam, values, by)
  local s = series(fam, values)
  s.value = s.value + (by or 1)
end

-- the series of label value v (a, b: two) of a family, found by value: what the engine and
-- the loop report on every step and request makes no table (the same series as series())
local function series1(fam, v)
  local by = fam.by_value
  if not by then by = {}; fam.by_value = by end
  local s = by[v]
  if not s then
    s = series(fam, { tostring(v) })
    by[v] = s
  end
  return s
end

local function series2(fam, a, b)
  local by = fam.by_value
  if not by then by = {}; fam.by_value = by end
  local t = by[a]
  if not t then t = {}; by[a] = t end
  local s = t[b]
  if not s then
    s = series(fam, { tostring(a), tostring(b) })
    t[b] = s
  end
  return s
end

local function inc1(fam, v)
  local s = series1(fam, v)
  s.value = s.value + 1
end

local function count(s, v, b)
  s.value = s.value + 1           -- the count
  s.sum = s.sum + v
  local counts = s.counts
  for i = #b, 1, -1 do
    if v > b[i] then break end
    counts[i] = counts[i] + 1
  end
end

local function observe(fam, label, v)
  if type(v) ~= "number" or v ~= v then return end
  local s = series1(fam, label)
  count(s, v, fam.buckets)
end

-- ---- what the engine and the server report (rivulet.serve: App:notify) -----------------

function Metrics:step(exec, step)
  local t = step.type or "?"
  inc1(self.steps_total, t)
  if t == "trigger" then inc1(self.started_total, flow_label(exec)) end
end

function Metrics:ended(exec)
  local f = flow_label(exec)
  inc1(self.ended_total, f)
  if exec.failed then inc(self.failed_total, { f }) end
  if type(exec.started_at) == "number" and type(exec.ended_at) == "number" then
    observe(self.execution_seconds, f, exec.ended_at - exec.started_at)
  end
end

function Metrics:http(_, outcome, req)
  local kind = req and req.kind or "http_request"
  local ok = outcome.event == "success"
  inc(self.calls_total, { kind, ok and "success" or "failure", ok and "" or tostring(outcome.reason or "") })
  if type(outcome.elapsed_ms) == "number" then observe(self.call_seconds, kind, outcome.elapsed_ms / 1000) end
end

-- a request answered after `seconds`
function Metrics:request(path, status, seconds)
  local route = M.route_of(path)
  local s = series2(self.requests_total, route, status)
  s.value = s.value + 1
  observe(self.request_seconds, route, seconds)
end

-- a request whose answer comes later (App:answers): timed until then
function Metrics:hold(id, path, t0)
  self.held[id] = { path = path, t0 = t0 }
end

function Metrics:answered(id, status, now)
  local h = self.held[id]
  if not h then return end
  self.held[id] = nil
  self:request(h.path, status, (now or core.monotonic()) - h.t0)
end

function Metrics:drop(id)
  self.held[id] = nil
end

-- ---- the text ------------------------------------------------------------------------------

-- a label value: backslash, double quote and line feed escaped (the format's rule)
local function escape(v)
  return (tostring(v):gsub("[\\\"\n]", { ["\\"] = "\\\\", ['"'] = '\\"', ["\n"] = "\\n" }))
end
M.escape = escape

-- numbers as the format writes them: integers plainly, others in full precision
local function num(v)
  if math.type(v) == "integer" then return tostring(v) end
  if v == math.huge then return "+Inf" end
  if v ~= v then return "NaN" end
  if v == math.floor(v) and v > -1e15 and v < 1e15 then return format("%d", v) end
  local short = format("%.15g", v)       -- 0.1, not 0.10000000000000001, when it reads back the same
  if tonumber(short) == v then return short end
  return format("%.17g", v)
end

local function labels_text(names, values, extra)
  local parts = {}
  for i, n in ipairs(names) do parts[#parts + 1] = format('%s="%s"', n, escape(values[i])) end
  if extra then parts[#parts + 1] = extra end
  if #parts == 0 then return "" end
  return "{" .. concat(parts, ",") .. "}"
end

local function sorted_series(fam)
  local keys = {}
  for k in pairs(fam.series) do keys[#keys + 1] = k end
  sort(keys)
  local out = {}
  for i, k in ipairs(keys) do out[i] = fam.series[k] end
  return out
end

local function write_family(out, fam)
  out[#out + 1] = format("# HELP %s %s", fam.name, fam.help)
  out[#out + 1] = format("# TYPE %s %s", fam.name, fam.kind)
  for _, s in ipairs(sorted_series(fam)) do
    if fam.kind == "histogram" then
      for i, bound in ipairs(fam.buckets) do
        out[#out + 1] = format("%s_bucket%s %s", fam.name,
          labels_text(fam.labels, s.labels, format('le="%s"', num(bound))), num(s.counts[i]))
      end
      out[#out + 1] = format("%s_bucket%s %s", fam.name, labels_text(fam.labels, s.labels, 'le="+Inf"'), num(s.value))
      out[#out + 1] = format("%s_sum%s %s", fam.name, labels_text(fam.labels, s.labels), num(s.sum))
      out[#out + 1] = format("%s_count%s %s", fam.name, labels_text(fam.labels, s.labels), num(s.value))
    else
      out[#out + 1] = format("%s%s %s", fam.name, labels_text(fam.labels, s.labels), num(s.value))
    end
  end
end

-- the gauges, read from the engine now: active executions and where they stand (read
-- without unpacking the waiting ones: rivulet.packed)
local function gauges(self)
  local active = family("rivulet_executions_active", "gauge", "Executions active now, by flow.", { "flow" })
  local waiting = family("rivulet_executions_waiting", "gauge",
    "Active executions by what they wait for: reply, call, event (an outcome decided outside), http," ..
    " subflow, or running (between two steps).", { "flow", "wait" })
  local e = self.app.engine
  for _, exec in pairs(e.active) do
    local f = flow_label(exec)
    inc(active, { f })
    local w = peek(exec, "wait")
    inc(waiting, { f, w and tostring(w.kind) or "running" })
  end
  local info = family("rivulet_flow_info", "gauge", "The published flows: SID and name (always 1).", { "flow", "name" })
  local rows = self.app.store:studio_flows{ limit = 1000 }
  for _, r in ipairs(rows or {}) do series(info, { r.sid, tostring(r.friendly_name) }).value = 1 end
  local start = family("rivulet_start_time_seconds", "gauge", "When this rivulet serve started, epoch seconds.", {})
  series(start, {}).value = self.started
  return { active, waiting, info, start }
end

function Metrics:text()
  local out = {}
  for _, fam in ipairs{ self.started_total, self.ended_total, self.failed_total, self.execution_seconds,
                        self.steps_total, self.calls_total, self.call_seconds, self.requests_total,
                        self.request_seconds } do
    write_family(out, fam)
  end
  for _, fam in ipairs(gauges(self)) do write_family(out, fam) end
  return concat(out, "\n") .. "\n"
end

-- GET /metrics
function M.handler(app)
  return 200, { { "Content-Type", M.CONTENT_TYPE } }, app.metrics:text()
end

return M
