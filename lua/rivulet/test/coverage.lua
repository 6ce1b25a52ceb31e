-- rivulet.test.coverage: which states and transitions the cases of `rivulet test` took, per
-- flow, as a report, as text and as a DOT picture (drawn by rivulet.dot).
--
--   local cov = coverage.new()      -- rivulet.test.coverage(); run(spec, {coverage = cov})
--   cov:add(exec, case_id)          -- every step of an execution (the runner does this)
--   coverage.format_coverage(cov:report()), coverage.dot(cov:report())

local dot = require "rivulet.dot"
local normalize = require("rivulet.test.spec").normalize

local type, ipairs, tostring, setmetatable = type, ipairs, tostring, setmetatable
local format = string.format
local concat, sort = table.concat, table.sort
local floor = math.floor

local M = {}

local Coverage = {}
Coverage.__index = Coverage

function M.new()
  return setmetatable({ flows = {}, order = {} }, Coverage)
end

local ENDED = dot.ENDED

local function edge_key(from, event, to)
  return from .. "\0" .. event .. "\0" .. to
end

local transition_next = dot.target

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
  return dot.graph("coverage", parts)
end

return M
