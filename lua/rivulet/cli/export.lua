-- `rivulet export FLOW [-o FILE]`: a flow as Studio's Flow Definition JSON, to import into
-- Studio (Console: Import from JSON; REST API: the `definition` of a Flow). The way back is
-- load_flow, which reads the JSON as it reads the Lua file. A Lua flow in the short form
-- becomes Studio's shape: properties under `properties`, `on` as transitions, a split's
-- `match` as its conditions, maps of variables and parameters as {key, value} lists. States
-- without a canvas position get one (`properties.offset`), laid out by their distance from
-- the trigger, so the imported flow reads top to bottom.
--
-- What cannot be exported says so and writes nothing: a `lua` widget (custom logic in Lua:
-- Studio has no such widget; its logic belongs in a Twilio Function called by Run
-- Function), any other Lua function in a property, or a flow `rivulet validate` finds
-- errors in.
-- Exit status: 0 written, 1 the flow cannot become Studio JSON (the reasons printed, with
-- their JSON paths), 2 bad usage or a flow that does not load.

local rivulet = require "rivulet"
local core = require "rivulet.core"
local args_lib = require "rivulet.cli.args"
local sandbox = require "rivulet.sandbox"

local type, pairs, ipairs, tostring, next = type, pairs, ipairs, tostring, next
local format = string.format
local stdout, stderr = io.stdout, io.stderr

local M = {}

local USAGE = "usage: rivulet export FLOW [-o FILE]\n" ..
  "Run 'rivulet export --help' for details.\n"

-- the canvas grid of states without an offset: one row per step away from the trigger
M.COLUMN_WIDTH, M.ROW_HEIGHT = 300, 220

-- properties Studio holds as JSON arrays even when empty (an empty Lua table is ambiguous)
local ARRAYS = { variables = true, parameters = true, content_variables = true, transitions = true,
                 conditions = true, arguments = true }

local function is_empty(t) return next(t) == nil end

-- copy v, marking the empty tables that Studio holds as arrays; lists the paths of Lua
-- functions found (they have no JSON form)
local function plain(v, path, key, funcs)
  -- a Lua flow file's functions reach the host as markers (rivulet.sandbox)
  if type(v) == "function" or sandbox.is_function(v) then
    funcs[#funcs + 1] = path
    return nil
  end
  if type(v) ~= "table" then return v end
  local c = {}
  for k, x in pairs(v) do c[k] = plain(x, path .. "/" .. tostring(type(k) == "number" and k - 1 or k), k, funcs) end
  if is_empty(c) and (ARRAYS[key] or getmetatable(v) == core.array_mt) then setmetatable(c, core.array_mt) end
  return c
end

-- the rows of the layout: breadth first from the initial state
local function layout(def)
  local by_name, depth, order = {}, {}, {}
  for _, s in ipairs(def.states) do by_name[s.name] = s end
  local queue = { def.initial_state }
  depth[def.initial_state] = 0
  local i = 1
  while queue[i] do
    local name = queue[i]
    i = i + 1
    local s = by_name[name]
    if s then
      order[#order + 1] = s
      for _, t in ipairs(s.transitions or {}) do
        if type(t.next) == "string" and depth[t.next] == nil then
          depth[t.next] = depth[name] + 1
          queue[#queue + 1] = t.next
        end
      end
    end
  end
  local row_width = {}
  local last = 0
  for _, d in pairs(depth) do if d > last then last = d end end
  for _, s in ipairs(def.states) do                    -- unreachable states: one row below
    if depth[s.name] == nil then depth[s.name] = last + 1 order[#order + 1] = s end
  end
  for _, s in ipairs(order) do
    local d = depth[s.name]
    local col = row_width[d] or 0
    row_width[d] = col + 1
    if type(s.properties.offset) ~= "table" then
      s.properties.offset = { x = col * M.COLUMN_WIDTH, y = d * M.ROW_HEIGHT }
    end
  end
end

-- export(flow) -> definition (plain tables, ready for JSON) | nil, problems {{path, message}}
function M.export(flow)
  local problems = {}
  local funcs = {}
  local def = plain(flow:definition(), "#", nil, funcs)
  for i, s in ipairs(flow.states) do
    if type(s) == "table" and s.type == "lua" then
      problems[#problems + 1] = { path = format("#/states/%d", i - 1), message = format(
        "'%s' is a lua widget (custom logic in Lua): Studio has no such widget, so this flow cannot " ..
        "become Studio JSON; put its logic in a Twilio Function and call it with a run-function widget",
        tostring(s.name)) }
    end
  end
  if #problems == 0 then
    for _, p in ipairs(funcs) do
      problems[#problems + 1] = { path = p, message = "a Lua function has no JSON form (Studio runs no Lua)" }
    end
  end
  if #problems > 0 then return nil, problems end
  layout(def)
  return def
end

function M.main(argv)
  local args = {}
  for i, a in ipairs(argv or {}) do args[i] = a == "-o" and "--output" or a end
  local o, pos = args_lib.parse(args, { ["--output"] = { value = true } })
  local function usage(msg)
    stderr:write("rivulet export: ", msg, "\n", USAGE)
    return 2
  end
  if not o then return usage(pos) end
  if #pos == 0 then return usage("missing FLOW") end
  if #pos > 1 then return usage(format("unexpected argument '%s' (one FLOW only)", pos[2])) end
  local path, out = pos[1], o.output
  local flow = args_lib.load_flow("export", path, function(s) return s end)
  if not flow then
    -- load_flow printed why; a flow with validation errors is "cannot export", not bad usage
    return rivulet.load_flow(path) and 1 or 2
  end
  local def, problems = M.export(flow)
  if not def then
    for _, p in ipairs(problems) do
      stderr:write(format("rivulet export: %s: %s: error: %s\n", path, p.path, p.message))
    end
    return 1
  end
  local text = core.json_encode(def, "  ") .. "\n"
  if out then
    local f, err = io.open(out, "wb")
    if not f then
      stderr:write("rivulet export: cannot write ", tostring(err), "\n")
      return 2
    end
    f:write(text)
    f:close()
  else
    stdout:write(text)
  end
  return 0
end

return M
