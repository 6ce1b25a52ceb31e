-- rivulet.dot: flows as Graphviz DOT. The one writer behind `rivulet graph` and the
-- coverage picture of `rivulet test`; callers colour states and edges through hooks.
--
--   dot.graph(name, parts) -> DOT text
--     parts: a list of {flow =, label = ?, node = function(state) -> attrs ?,
--                       edge = function(state, transition, to) -> label, attrs ?}
--
-- One node per state, labelled "name\ntype" (the trigger an ellipse, the initial widget
-- bold), one edge per transition (each (state, event, next) once) labelled with its event,
-- or for a split's `match` with its conditions ("match: equal_to yes"). Transitions without
-- `next` go to an "Ended" node; a `next` that names no state goes to a red dashed node, so
-- broken flows still draw. Several parts become clusters of one graph.

local ipairs, pairs, tostring, type = ipairs, pairs, tostring, type
local format, concat, sort = string.format, table.concat, table.sort

local M = {}

M.ENDED = "Ended"

-- a DOT double-quoted string: quotes and backslashes escaped, line breaks as \n escapes
local function q(s)
  s = tostring(s):gsub('[\\"]', "\\%0"):gsub("\r?\n", "\\n"):gsub("\r", "\\n")
  return '"' .. s .. '"'
end
M.quote = q

-- label text: like q(), but the parts are DOT lines
local function label(...)
  local parts = {}
  for i, s in ipairs{ ... } do parts[i] = q(s):sub(2, -2) end
  return '"' .. concat(parts, "\\n") .. '"'
end

local function condition_text(c)
  local t = tostring(c.type or "?")
  if t == "is_blank" or t == "is_not_blank" then return t end   -- value is ignored there
  local v = c.value
  if v == nil then return t end
  return t .. " " .. tostring(v)
end

-- a transition's own label: its event, or a split's match with its conditions
function M.transition_label(t)
  if t.event == "match" and type(t.conditions) == "table" and #t.conditions > 0 then
    local cs = {}
    for i, c in ipairs(t.conditions) do cs[i] = condition_text(type(c) == "table" and c or {}) end
    return "match: " .. concat(cs, " and ")
  end
  return tostring(t.event)
end

-- where a transition goes: its next, or Ended (as the engine reads it: anything but a
-- non-empty string ends the execution)
function M.target(t)
  local nx = t.next
  if type(nx) ~= "string" or nx == "" then return M.ENDED end
  return nx
end

local function part_lines(out, part, prefix, indent)
  local flow = part.flow
  local states = type(flow.states) == "table" and flow.states or {}
  local names = {}
  for _, s in ipairs(states) do
    if type(s) == "table" and s.name ~= nil then names[tostring(s.name)] = true end
  end
  -- the end node's id must not clash with a state's name
  local ended = M.ENDED
  while names[ended] do ended = ended .. "_" end
  local missing, uses_end, seen = {}, false, {}
  if part.label then out[#out + 1] = format("%slabel=%s; labelloc=t;", indent, q(part.label)) end
  for _, s in ipairs(states) do
    if type(s) == "table" then
      local attrs = "label=" .. label(s.name, s.type)
      if s.type == "trigger" then attrs = attrs .. ", shape=ellipse, style=bold"
      elseif s.name == flow.initial_state then attrs = attrs .. ', style="rounded,bold"' end
      local extra = part.node and part.node(s)
      if extra then attrs = attrs .. ", " .. extra end
      out[#out + 1] = format("%s%s [%s];", indent, q(prefix .. tostring(s.name)), attrs)
    end
  end
  for _, s in ipairs(states) do
    if type(s) == "table" then
      for _, t in ipairs(type(s.transitions) == "table" and s.transitions or {}) do
        local nx = type(t) == "table" and t.next
        local ends = type(nx) ~= "string" or nx == ""
        local to = type(t) == "table" and M.target(t)
        local key = to and format("%s\0%s\0%s\0%s", tostring(s.name), tostring(t.event), to, tostring(ends))
        if key and not seen[key] then
          seen[key] = true
          local id = to
          if ends then id, uses_end = ended, true
          elseif not names[to] then missing[to] = true end
          local text, attrs
          if part.edge then text, attrs = part.edge(s, t, to) end
          attrs = "label=" .. q(text or M.transition_label(t)) .. (attrs and ", " .. attrs or "")
          out[#out + 1] = format("%s%s -> %s [%s];", indent, q(prefix .. tostring(s.name)), q(prefix .. id), attrs)
        end
      end
    end
  end
  local absent = {}
  for name in pairs(missing) do absent[#absent + 1] = name end
  sort(absent)
  for _, name in ipairs(absent) do
    out[#out + 1] = format("%s%s [label=%s, color=red, style=dashed];", indent, q(prefix .. name),
                           label(name, "(no such state)"))
  end
  if uses_end then
    out[#out + 1] = format('%s%s [label="Ended", shape=doublecircle];', indent, q(prefix .. ended))
  end
end

function M.graph(name, parts)
  local out = { format("digraph %s {", name), '  node [shape=box, style=rounded, fontname="Helvetica"];',
                '  edge [fontname="Helvetica", fontsize=10];' }
  local many = #parts > 1
  for n, part in ipairs(parts) do
    if many then
      out[#out + 1] = format("  subgraph cluster_%d {", n)
      part_lines(out, part, format("f%d:", n), "    ")
      out[#out + 1] = "  }"
    else
      part_lines(out, part, "", "  ")
    end
  end
  out[#out + 1] = "}"
  return concat(out, "\n") .. "\n"
end

return M
