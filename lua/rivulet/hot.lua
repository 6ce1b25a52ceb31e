-- rivulet.hot: the plans of the step loop's hot path (issue #17 item 2). Consecutive Set
-- Variables and Split Based On steps of rivulet's own widgets run in C (core.hot_steps,
-- src/lrv_hot.c) instead of through Engine:enter, the widget and Engine:transition. A plan
-- is what C needs of a state, read from it once (a state does not change once loaded):
--
--   Set Variables   { 1, next, { key, source, key, source, ... } }
--   Split Based On  { 2, noMatch's next, input's source, { { next, test, source, test,
--                     source, ... }, ... } (the match transitions), any branch ends }
--
-- A source is a compiled Template (rendered at each step) or the value itself: for Set
-- Variables already cast (rivulet.widgets.set_variables' W.cast), for a Split the text a
-- test reads. A next is false where the branch ends. A state whose properties hold anything
-- the C does not do (parse_as_json, a regex test, a condition on another input than the
-- widget's, a variable named reason, ...) gets no plan (false): the Lua widgets run it, as
-- they run every step the C bails out of (the widgets stay the oracle: spec/test_hot_path.lua).
local core = require "rivulet.core"
local liquid = require "rivulet.liquid"
local widgets = require "rivulet.widgets"

local type, ipairs, tostring, setmetatable, pcall = type, ipairs, tostring, setmetatable, pcall
local has_markup = liquid.has_markup

local M = {}

-- plans[state] = its plan, or false: weak, as the engine's other per-state caches
M.plans = setmetatable({}, { __mode = "k" })
M.steps = core.hot_steps

local function tbl(v)
  return type(v) == "table" and v or {}
end

-- the next state of a transition, or false when the branch ends there (Engine:transition)
local function next_of(t)
  local nx = type(t) == "table" and t.next
  if type(nx) ~= "string" or nx == "" then return false end
  return nx
end

-- the first transition of an event, as Engine:transition picks it
local function first(state, event)
  for _, t in ipairs(tbl(state.transitions)) do
    if type(t) == "table" and t.event == event then return t end
  end
  return nil
end

-- Words that are not variables in an output, and keys a path does not simply look up
-- (Liquid's size, first and last of arrays and hashes)
local LITERAL = { ["nil"] = true, null = true, ["true"] = true, ["false"] = true, empty = true, blank = true }
local SPECIAL = { size = true, first = true, last = true }

-- the keys of a text that is one output of a variable and nothing else ({{ a.b.c }}: no
-- filter, no brackets, no whitespace control), or nil
local function path_of(s)
  local inner = s:match("^{{%s*([%a_][%w_.]*)%s*}}$")
  if not inner or inner:find("..", 1, true) or inner:sub(-1) == "." then return nil end
  local keys = {}
  for k in inner:gmatch("[^.]+") do
    if SPECIAL[k] or not k:match("^[%a_][%w_]*$") then return nil end
    keys[#keys + 1] = k
  end
  if LITERAL[keys[1]] then return nil end
  return keys
end

-- a text as Engine:render gives it: a Template when it holds markup | nil (it does not
-- compile); {{ a.b.c }} alone is a path, {Template, "a", "b", "c"}, which the C looks up
-- (src/lrv_hot.c, lookup) and renders only when the value is not text or an integer
local function source(s, name)
  if type(s) ~= "string" or not has_markup(s) then return s end
  local t = liquid.compiled(s, name)
  local keys = t and path_of(s)
  if not keys then return t end
  return { t, table.unpack(keys) }
end

local function plan_set_variables(state, set_variables)
  local p = tbl(state.properties)
  if p.parse_as_json == true then return false end
  local list, variables = {}, tbl(p.variables)
  for _, kv in ipairs(variables) do
    if type(kv) == "table" and kv.key ~= nil then
      -- outputs.reason would make the step a failed one (Engine:transition's why)
      if kv.key == "reason" or kv.parse_as_json == true then return false end
      local v = kv.value
      local src
      if type(v) == "string" and has_markup(v) then
        src = source(v, state.name)
        if not src then return false end
      else
        if v == nil then v = "" end
        if type(v) ~= "string" and type(v) ~= "number" then v = tostring(v) end
        src = set_variables.cast(v)
      end
      list[#list + 1] = kv.key
      list[#list + 1] = src
    end
  end
  -- 4: the size hint the widget gives core.new_vars (the same tables either way)
  return { 1, next_of(first(state, "next")), list, #variables }
end

-- a condition's value as the text split_test reads (tostring(v or "")), or its Template
local function value_source(v, name)
  if type(v) == "string" then return source(v, name) end
  if v == nil or v == false then return "" end
  if type(v) == "number" or v == true then return tostring(v) end
  return nil
end

local function plan_split(state)
  local own = tbl(state.properties).input
  local input
  if own == nil then input = ""
  elseif type(own) == "string" then input = source(own, state.name)
  else return false end
  if not input then return false end
  local matches, ends = {}, false
  for _, t in ipairs(tbl(state.transitions)) do
    if type(t) == "table" and t.event == "match" and type(t.conditions) == "table" and #t.conditions > 0 then
      local m = { next_of(t) }
      if not m[1] then ends = true end
      for _, c in ipairs(t.conditions) do
        if type(c) ~= "table" or type(c.type) ~= "string" then return false end
        local test = core.split_kind(c.type)                 -- nil: regex, or unknown
        if not test then return false end
        local arg = type(c.arguments) == "table" and c.arguments[1] or nil
        if arg ~= nil and arg ~= own then return false end
        local v = value_source(c.value, state.name)
        if v == nil then return false end
        m[#m + 1] = test
        m[#m + 1] = v
      end
      matches[#matches + 1] = m
    end
  end
  local nomatch = next_of(first(state, "noMatch"))
  if not nomatch then ends = true end
  return { 2, nomatch, input, matches, ends }
end

-- the hot widgets' modules: loaded when a state of theirs first runs, as the engine loads
-- every widget (a cold run of a flow without them loads neither)
local HOT = { ["set-variables"] = "rivulet.widgets.set_variables",
              ["split-based-on"] = "rivulet.widgets.split_based_on" }
local loaded = package.loaded

-- plan(state) -> its plan, or false (no hot path for it)
function M.plan(state)
  local p = M.plans[state]
  if p ~= nil then return p end
  local module = HOT[state.type]
  local ok, w = false, nil
  if module then ok, w = pcall(widgets.get, state.type) end
  -- rivulet's own widget only (widgets.get's, under its own name)
  if not ok or w == nil or w ~= loaded[module] then p = false
  elseif state.type == "set-variables" then p = plan_set_variables(state, w)
  else p = plan_split(state) end
  M.plans[state] = p
  return p
end

return M
