-- `rivulet graph FLOW`: the flow as Graphviz DOT on stdout.
--
--   rivulet graph flows/random_number.lua | dot -Tsvg > random_number.svg
--
-- One node per state, labelled "name\ntype" (the trigger an ellipse, widgets boxes); one
-- edge per transition, labelled with its event, or for a split's `match` with its
-- conditions ("match: equal_to yes"). Transitions without `next` go to an "Ended" node; a
-- `next` that names no state goes to a red dashed node, so broken flows still draw.
-- Exit status: 0, or 2 when FLOW cannot be loaded or the arguments are wrong.

local rivulet = require "rivulet"

local ipairs, pairs, tostring, type = ipairs, pairs, tostring, type
local format, concat = string.format, table.concat

local M = {}

local USAGE = "usage: rivulet graph FLOW   (rivulet help graph)\n"

-- a DOT double-quoted string: quotes and backslashes escaped, line breaks as \n escapes
local function q(s)
  s = tostring(s):gsub('[\\"]', "\\%0"):gsub("\r?\n", "\\n"):gsub("\r", "\\n")
  return '"' .. s .. '"'
end
M.quote = q

-- label text: like q(), but "\n" inside stays a DOT line break
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

local function edge_label(t)
  if t.event == "match" and type(t.conditions) == "table" and #t.conditions > 0 then
    local cs = {}
    for i, c in ipairs(t.conditions) do cs[i] = condition_text(c) end
    return "match: " .. concat(cs, " and ")
  end
  return tostring(t.event)
end

-- flow -> DOT text
function M.dot(flow)
  local out = { "digraph flow {", "  node [shape=box, style=rounded, fontname=\"Helvetica\"];",
                "  edge [fontname=\"Helvetica\", fontsize=10];" }
  local names = {}
  for _, s in ipairs(flow.states) do
    if type(s) == "table" and s.name ~= nil then names[tostring(s.name)] = true end
  end
  -- the end node's id must not clash with a state's name
  local ended = "Ended"
  while names[ended] do ended = ended .. "_" end
  local missing, uses_end = {}, false

  if flow.description and flow.description ~= "" then
    out[#out + 1] = "  label=" .. q(flow.description) .. "; labelloc=t;"
  end
  for _, s in ipairs(flow.states) do
    if type(s) == "table" then
      local attrs = "label=" .. label(s.name, s.type)
      if s.type == "trigger" then attrs = attrs .. ", shape=ellipse, style=bold" end
      if s.name == flow.initial_state and s.type ~= "trigger" then
        attrs = attrs .. ', style="rounded,bold"'
      end
      out[#out + 1] = format("  %s [%s];", q(s.name), attrs)
    end
  end
  for _, s in ipairs(flow.states) do
    if type(s) == "table" then
      for _, t in ipairs(s.transitions or {}) do
        if type(t) == "table" then
          local nx = t.next
          if nx == nil or nx == "" then
            nx, uses_end = ended, true
          elseif not names[tostring(nx)] then
            missing[tostring(nx)] = true
          end
          out[#out + 1] = format("  %s -> %s [label=%s];", q(s.name), q(nx), q(edge_label(t)))
        end
      end
    end
  end
  local absent = {}
  for name in pairs(missing) do absent[#absent + 1] = name end
  table.sort(absent)
  for _, name in ipairs(absent) do
    out[#out + 1] = format("  %s [label=%s, color=red, style=dashed];", q(name),
                           label(name, "(no such state)"))
  end
  if uses_end then
    out[#out + 1] = format('  %s [label="Ended", shape=doublecircle];', q(ended))
  end
  out[#out + 1] = "}"
  return concat(out, "\n") .. "\n"
end

function M.main(args)
  args = args or {}
  local path
  for i, a in ipairs(args) do
    if a == "--" and i == 1 and args[2] then path = args[2] if args[3] then path = nil end break end
    if a:sub(1, 1) == "-" and a ~= "-" then
      io.stderr:write(format("rivulet graph: unknown option '%s'\n", a), USAGE)
      return 2
    end
  end
  if not path then
    if #args ~= 1 then
      local why = #args == 0 and "missing FLOW" or "one FLOW only"
      io.stderr:write("rivulet graph: ", why, "\n", USAGE)
      return 2
    end
    path = args[1]
  end
  local flow, err = rivulet.load_flow(path)
  if not flow then
    err = tostring(err)
    if not err:find(path, 1, true) then err = path .. ": " .. err end
    io.stderr:write("rivulet graph: ", err, "\n")
    return 2
  end
  io.stdout:write(M.dot(flow))
  return 0
end

return M
