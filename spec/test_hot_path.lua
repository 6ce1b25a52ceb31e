-- The hot path (rivulet.hot, src/lrv_hot.c) against the Lua path it stands in for: each
-- flow runs twice, with engine option hot_path on and off, and everything observable must
-- be the same: the steps (SIDs and clocks by shape, or exactly under a counting opts.now),
-- which steps share a variables table, the context, the end, the messages, on_step's calls,
-- a store's rows. Where the C bails out (regex, parse_as_json, a Liquid error, a limit, an
-- ending) the Lua path runs the step, so those cases must agree too.
local lu = require "luaunit"
local rivulet = require "rivulet"
local helper = require "spec.helper"

local FROM, TO = "+15550001111", "+15559990000"

local core = require "rivulet.core"

-- SIDs differ between two runs (one counter per Lua state): compared by shape. Long texts
-- by their length and digest: as exact, and a difference prints short
local function norm(v, seen)
  if type(v) == "string" and #v == 34 and v:match("^%u%u%x+$") then return "SID:" .. v:sub(1, 2) end
  if type(v) == "string" and #v > 200 then return ("<%d bytes, sha256 %s>"):format(#v, core.sha256_hex(v)) end
  if type(v) ~= "table" then return v end
  seen = seen or {}
  if seen[v] then return "<seen>" end
  seen[v] = true
  local c = {}
  for k, x in pairs(v) do c[norm(k, seen)] = norm(x, seen) end
  seen[v] = nil
  return c
end

local function counting_clock()
  local t = 1700000000
  return function() t = t + 0.25; return t end
end

-- runs flow once -> everything observable, normalised
local function run(flow, hot, o)
  o = o or {}
  local sent, told = {}, {}
  local eo = {
    hot_path = hot, limits = o.limits, store = o.store and (o.store .. (hot and ".hot" or ".lua")),
    on_message = function(_, m) sent[#sent + 1] = m end,
  }
  if o.on_step ~= false then
    eo.on_step = function(exec, step)
      told[#told + 1] = { step = step.transitioned_from .. ">" .. step.transitioned_to, vars = exec.context.flow.variables,
                          status = exec.status, state = exec.state }
    end
  end
  if o.now then eo.now = counting_clock() end
  local e = assert(rivulet.engine(eo))
  local exec = assert(e:start(flow, o.trigger or { event = "incomingMessage", from = FROM, to = TO, body = o.body or "hi" }))
  e:run()
  -- which earlier step's variables (and outputs) table each step shares
  local shares = {}
  for i, s in ipairs(exec.steps) do
    local j = i
    for k = 1, i - 1 do if exec.steps[k].context.variables == s.context.variables then j = k break end end
    shares[i] = j
    lu.assertStrMatches(s.sid, "FT%x+")
    lu.assertEquals(#s.sid, 34)
    lu.assertIsNumber(s.date_created)
  end
  -- the order next() gives the keys of each step's variables and outputs: what a template
  -- or a JSON encoder that walks them prints, so both paths must make them alike
  local orders = {}
  local function keys(t)
    local l = {}
    if type(t) == "table" then for k in next, t do l[#l + 1] = tostring(k) end end
    return table.concat(l, ",")
  end
  for i, s in ipairs(exec.steps) do
    orders[i] = keys(s.context.variables) .. "|" .. keys(s.context.outputs)
  end
  local steps = {}
  for i, s in ipairs(exec.steps) do
    local c = {}
    for k, v in pairs(s) do c[k] = v end
    if not o.now then c.date_created = nil end
    steps[i] = c
  end
  local got = {
    status = exec.status, reason = exec.reason, failed = exec.failed, state = exec.state,
    last_state = exec.last_state, repeats = exec.repeats, context = exec.context,
    steps = steps, shares = shares, sent = sent, told = told, orders = orders,
  }
  if o.now then got.ended_at, got.started_at = exec.ended_at, exec.started_at end
  if o.store then
    local st = e.store
    got.rows = st:steps(exec.sid, true)
    for _, r in ipairs(got.rows) do if not o.now then r.date_created = nil end end
    local row = st:execution(exec.sid)
    got.row = { status = row.status, reason = row.reason, state = row.state, last_state = row.last_state,
                repeats = row.repeats, step_count = row.step_count, context = row.context, failed = row.failed }
    st:close()
  end
  return norm(got)
end

-- the flow both ways -> the hot run's result (for a test to say more about it)
local function same(flow, o)
  if type(flow) == "table" and flow.states == nil and flow.by_name == nil then flow = assert(rivulet.load_flow(flow)) end
  local a = run(flow, true, o)
  local b = run(flow, false, o)
  lu.assertEquals(a, b)
  return a
end

local function trigger(first)
  return { name = "Trigger", type = "trigger", on = { incomingMessage = first } }
end

local function say(name, body)
  return { name = name, type = "send-message", body = body, on = { sent = false } }
end

local function setv(name, vars, nx)
  return { name = name, type = "set-variables", variables = vars, on = { next = nx } }
end

-- a split on input with one condition per match transition (each {type, value, next})
local function split(name, input, matches, nomatch)
  return { name = name, type = "split-based-on", input = input, match = matches, on = { noMatch = nomatch } }
end

TestHotPath = {}

function TestHotPath.test_the_step_bench_flow()
  local r = same({
    trigger("count"),
    setv("count", { n = "{{ flow.variables.n | default: 0 | plus: 1 }}" }, "check"),
    split("check", "{{ flow.variables.n }}", { { type = "less_than", value = "10", next = "count" } }, "done"),
    say("done", "{{ flow.variables.n }}"),
  })
  lu.assertEquals(#r.steps, 22)
  lu.assertEquals(r.sent[1].body, "10")
end

-- every condition but regex, each true and false, values with Liquid and without
local CASES = {
  { "equal_to", " Yes ", "yes", "no" },
  { "not_equal_to", "yes", "no", "YES" },
  { "matches_any_of", "b", "a, B ,c", "a,c" },
  { "does_not_match_any_of", "b", "a,c", "a,b" },
  { "contains", "Hello world", "WORLD", "moon" },
  { "does_not_contain", "Hello world", "moon", "hello" },
  { "starts_with", "Hello", "he", "lo" },
  { "does_not_start_with", "Hello", "lo", "HE" },
  { "is_blank", "   ", nil, nil, "x" },
  { "is_not_blank", "x", nil, nil, " " },
  { "less_than", "9", "10", "8" },
  { "greater_than", "10.5", "10", "11" },
  { "is_before_date", "2024-01-02", "2024-01-03", "2024-01-01" },
  { "is_after_date", "2024-01-02", "2024-01-01", "2024-01-02" },
  { "is_before_time", "09:30", "10:00", "09:00" },
  { "is_after_time", "09:30", "09:00", "10:00" },
  { "regex", "abc123", "[a-z]+\\d+", "\\d+" },
}

function TestHotPath.test_every_condition_true_and_false()
  for _, c in ipairs(CASES) do
    local kind, input, yes, no, other = c[1], c[2], c[3], c[4], c[5]
    for _, v in ipairs{ yes or "", no or "" } do
      for _, liquid in ipairs{ false, true } do
        local value = liquid and "{{ flow.variables.v }}" or v
        local inp = liquid and "{{ flow.variables.i }}" or input
        for _, i in ipairs{ input, other or input } do
          local r = same{
            trigger("set"),
            setv("set", { { key = "i", value = '"' .. i .. '"' }, { key = "v", value = '"' .. v .. '"' } }, "check"),
            split("check", inp, { { type = kind, value = value, next = "yes" } }, "no"),
            say("yes", "yes {{widgets.check | json}}"), say("no", "no"),
          }
          lu.assertEquals(#r.steps, 4, kind)
        end
      end
    end
  end
end

function TestHotPath.test_several_conditions_and_transitions()
  local function flow(x)
    return {
      trigger("set"),
      setv("set", { x = x, y = "{{ flow.variables.x | times: 2 }}" }, "check"),
      { name = "check", type = "split-based-on", input = "{{ flow.variables.x }}", on = { noMatch = "none" },
        transitions = {
          { event = "match", next = "small", conditions = {
            { arguments = { "{{ flow.variables.x }}" }, type = "greater_than", value = "0" },
            { arguments = { "{{ flow.variables.x }}" }, type = "less_than", value = "{{ flow.variables.y | minus: 5 }}" } } },
          { event = "match", next = "big", conditions = {} },
          { event = "match", next = "big", conditions = {
            { arguments = { "{{ flow.variables.x }}" }, type = "greater_than", value = 4 } } },
          { event = "match", next = "small", conditions = {
            { arguments = { "{{ flow.variables.x }}" }, type = "equal_to", value = "3" } } },
        } },
      say("small", "small {{ flow.variables.x }}"), say("big", "big"), say("none", "none"),
    }
  end
  for _, x in ipairs{ "-1", "3", "5", "6", "99", "abc", "" } do same(flow(x)) end
end

function TestHotPath.test_a_condition_on_another_input_bails()
  same{
    trigger("set"),
    setv("set", { a = "1", b = "2" }, "check"),
    split("check", "{{ flow.variables.a }}",
      { { type = "equal_to", value = "2", next = "yes", arguments = { "{{ flow.variables.b }}" } } }, "no"),
    say("yes", "yes"), say("no", "no"),
  }
end

function TestHotPath.test_set_variables_casts()
  local r = same{
    trigger("set"),
    { name = "set", type = "set-variables", on = { next = "more" }, variables = {
      { key = "int", value = "42" }, { key = "float", value = " 1.5 " }, { key = "quoted", value = '"10"' },
      { key = "zip", value = "02134" }, { key = "text", value = "hello" }, { key = "empty", value = "" },
      { key = "none" }, { key = "num", value = 7 }, { key = "bool", value = true },
      { key = "liq", value = "{{ 6 | times: 7 }}" }, { key = "liqq", value = "'{{ 6 | times: 7 }}'" },
      { key = "sum", value = "{{ flow.variables.int | plus: flow.variables.num }}" },
      { key = "int", value = "{{ flow.variables.int | plus: 1 }}" },
      { key = "sp", value = "{% if flow.variables.count %}{{flow.variables.count | plus: 1}} {% else %} 1 {% endif %}" },
    } },
    setv("more", { count = "{{ flow.variables.sp | plus: 1 }}", int = "x" }, "done"),
    say("done", "{{ flow.variables | json }}"),
  }
  lu.assertEquals(r.context.flow.variables.int, "x")
  lu.assertEquals(r.steps[2].context.variables.int, 43)
end

function TestHotPath.test_parse_as_json_bails()
  same{
    trigger("set"),
    { name = "set", type = "set-variables", on = { next = "done" }, variables = {
      { key = "obj", value = '{"a": [1, 2]}', parse_as_json = true }, { key = "n", value = "1" } } },
    say("done", "{{ flow.variables.obj.a[1] }}"),
  }
  same{
    trigger("set"),
    { name = "set", type = "set-variables", on = { next = "done" }, variables = {
      { key = "obj", value = 'not json', parse_as_json = true } } },
    say("done", "x"),
  }
end

function TestHotPath.test_a_variable_named_reason()
  same{ trigger("set"), setv("set", { reason = "because", message = "hi" }, "done"), say("done", "x") }
end

function TestHotPath.test_liquid_errors_bail_to_the_lua_failure()
  same{ trigger("set"), setv("set", { a = "{{ flow.variables.a | default: 0 | plus: 1 }}", b = "{% for x in (1..100000) %}xxxxxxxx{% endfor %}" }, "done"), say("done", "x") }
  same{ trigger("set"), setv("set", { a = "{% for x in (1..100000000) %}x{% endfor %}" }, "done"), say("done", "x") }
  same{
    trigger("set"), setv("set", { a = "1" }, "check"),
    split("check", "{% for x in (1..100000) %}xxxxxxxx{% endfor %}", { { type = "equal_to", value = "1", next = "done" } }, "done"),
    say("done", "x"),
  }
end

function TestHotPath.test_endings_and_missing_states()
  same{ trigger("set"), setv("set", { a = "1" }, false) }
  same{ trigger("set"), setv("set", { a = "1" }, "nowhere") }
  same{ trigger("set"), setv("set", { a = "1" }, "check"),
        split("check", "{{ flow.variables.a }}", { { type = "equal_to", value = "1", next = false } }, "done"),
        say("done", "x") }
  same{ trigger("set"), setv("set", { a = "1" }, "check"),
        split("check", "{{ flow.variables.a }}", { { type = "equal_to", value = "2", next = "done" } }, false),
        say("done", "x") }
end

function TestHotPath.test_limits()
  -- ten runs in a row of one widget, then the eleventh: Studio's limit
  same{
    trigger("loop"),
    { name = "loop", type = "split-based-on", input = "x", on = { noMatch = "loop" } },
  }
  same({
    trigger("count"),
    setv("count", { n = "{{ flow.variables.n | default: 0 | plus: 1 }}" }, "check"),
    split("check", "{{ flow.variables.n }}", { { type = "less_than", value = "100", next = "count" } }, "done"),
    say("done", "{{ flow.variables.n }}"),
  }, { limits = { steps = 37 } })
  same({
    trigger("a"), setv("a", { n = "1" }, "a"),
  }, { limits = { same_widget = 3 } })
end

function TestHotPath.test_opts_now_and_on_step()
  local flow = {
    trigger("count"),
    setv("count", { n = "{{ flow.variables.n | default: 0 | plus: 1 }}", t = "{{ 'now' | date: '%s' }}" }, "check"),
    split("check", "{{ flow.variables.n }}", { { type = "less_than", value = "{{ 'now' | date: '%S' | minus: 100 }}", next = "x" },
      { type = "less_than", value = "5", next = "count" } }, "done"),
    say("done", "{{ flow.variables.n }} {{ flow.variables.t }}"),
    say("x", "x"),
  }
  local r = same(flow, { now = true })
  lu.assertEquals(#r.told, #r.steps)
  same(flow, { on_step = false })
  -- a branch that ends and a Liquid error, under a counting clock
  same({ trigger("set"), setv("set", { t = "{{ 'now' | date: '%s' }}" }, "check"),
         split("check", "{{ flow.variables.t }}", { { type = "is_not_blank", next = false } }, "set") }, { now = true })
end

function TestHotPath.test_a_store_keeps_the_same_rows()
  local dir = helper.tmpdir()
  local r = same({
    trigger("count"),
    setv("count", { n = "{{ flow.variables.n | default: 0 | plus: 1 }}" }, "check"),
    split("check", "{{ flow.variables.n }}", { { type = "less_than", value = "4", next = "count" } }, "done"),
    say("done", "{{ flow.variables.n }}"),
  }, { store = dir .. "/s.db", now = true })
  lu.assertEquals(#r.rows, 10)
  helper.rmtree(dir)
end

-- {{ a.b.c }} alone is looked up in C (src/lrv_hot.c, lookup) when it finds text or an
-- integer; everything else renders. Each kind of value, in a Set Variables value and a
-- Split's input, both ways: the output limit at its edge (16 KiB, LQ_DEF_OUTPUT_BYTES),
-- arrays, tables with metatables, text in the middle of a path, Liquid's size/first/last
-- and literals, and under a counting clock
function TestHotPath.test_paths_find_what_the_renderer_prints()
  local json = require "rivulet.json"
  local data = {
    s = "text", i = 42, neg = -7, min = math.mininteger, zero = 0, f = 1.5, whole = 2.0, b = true,
    arr = { 1, 2 }, mixed = { 1, 2, x = "y" }, h = { k = "v", n = 3, deep = { er = "est" } }, empty = {},
    mt = setmetatable({ k = "m" }, { __index = function() return "from __index" end }),
    ja = json.empty_array(), marked = setmetatable({ x = "y" }, require("rivulet.liquid").array_mt),
    edge = string.rep("x", 16384), over = string.rep("x", 16385), blank = "", space = " 5 ",
  }
  local paths = { "s", "i", "neg", "min", "zero", "f", "whole", "b", "arr", "h", "h.k", "h.n", "h.deep.er",
                  "h.missing", "missing", "missing.x", "s.x", "arr.x", "mixed.x", "mt.k", "mt.other", "ja.x", "marked.x", "empty.x",
                  "edge", "over", "blank", "space", "h.size", "arr.first", "s.size", "size" }
  local sources = {}
  for _, p in ipairs(paths) do sources[#sources + 1] = "{{ flow.data." .. p .. " }}" end
  for _, lit in ipairs{ "nil", "true", "empty", "blank", "trigger.request.parameters.s", "flow.data.h.k " } do
    sources[#sources + 1] = "{{ " .. lit .. " }}"
  end
  sources[#sources + 1] = "{{flow.data.s}}"
  sources[#sources + 1] = "{{- flow.data.s -}}"
  sources[#sources + 1] = " {{ flow.data.s }}"
  for _, src in ipairs(sources) do
    local flow = assert(rivulet.load_flow{
      { name = "Trigger", type = "trigger", on = { incomingRequest = "set" } },
      setv("set", { v = src, w = "{{ flow.variables.v }}" }, "check"),
      split("check", src, { { type = "equal_to", value = "{{ flow.variables.w }}", next = "done" } }, "other"),
      say("done", "{{ flow.variables.v }}|{{ flow.variables.w }}"), say("other", "other"),
    })
    local tr = { event = "incomingRequest", from = TO, to = FROM, parameters = data }
    local r = same(flow, { trigger = tr })
    lu.assertNotNil(r.status, src)
    same(flow, { trigger = tr, now = true })
  end
end

-- small random flows of Set Variables and Split Based On, a Send Message at each end
function TestHotPath.test_random_flows()
  local rnd = 12345
  local function rand(n) rnd = (rnd * 1103515245 + 12345) % 2147483648; return rnd % n + 1 end
  local kinds = { "equal_to", "not_equal_to", "contains", "starts_with", "less_than", "greater_than",
                  "matches_any_of", "is_blank", "is_not_blank", "does_not_contain" }
  local values = { "1", "2", "5", "a", "{{ flow.variables.x }}", "{{ flow.variables.y | plus: 1 }}", "1,2,3", "" }
  for _ = 1, 60 do
    local n = rand(5) + 1
    local states = { trigger("s1") }
    local function target() local k = rand(n + 2) if k > n then return k == n + 1 and "end" or false end return "s" .. k end
    for i = 1, n do
      if rand(2) == 1 then
        local vars = {}
        for _ = 1, rand(3) do
          local key = ({ "x", "y", "z" })[rand(3)]
          vars[#vars + 1] = { key = key, value = ({ "{{ flow.variables.x | default: 0 | plus: 1 }}", "7", '"3"',
            "{{ flow.variables.y | append: 'a' }}", "", "{{ flow.variables.z | size }}" })[rand(6)] }
        end
        states[#states + 1] = { name = "s" .. i, type = "set-variables", variables = vars, on = { next = target() } }
      else
        local matches = {}
        for _ = 1, rand(3) do
          matches[#matches + 1] = { type = kinds[rand(#kinds)], value = values[rand(#values)], next = target() }
        end
        states[#states + 1] = split("s" .. i, ({ "{{ flow.variables.x }}", "{{ flow.variables.y }}", "2" })[rand(3)],
          matches, target())
      end
    end
    states[#states + 1] = say("end", "{{ flow.variables | json }}")
    local f = assert(rivulet.load_flow(states))
    same(f, { now = rand(2) == 1, limits = { steps = rand(60) + 5 } })
  end
end
