-- rivulet.sandbox and the logic states under it (src/lrv_logic.c, src/lrv_logic_lib.c,
-- src/pattern.c): custom logic runs in a Lua state of its own per call. Each budget at its
-- edge; each class of attack of issue #12 (code left behind for the host to run later; C
-- functions that run long without returning to the VM), each ending within its budget plus
-- a named margin, with a normal execution served after it; the pattern, table and utf8
-- functions against the real libraries (differential).
local lu = require "luaunit"
local rivulet = require "rivulet"
local sandbox = require "rivulet.sandbox"
local core = require "rivulet.core"
local json = require "rivulet.json"
local helper = require "spec.helper"

local LIMITS = core.logic_limits

-- Attacks run with this instruction budget and the wall clock out of the way, so that the
-- instruction budget (with what C work is charged to it) is what must stop them. A million
-- instructions take milliseconds; the margin is for a loaded machine and sanitizers.
local ATTACK_BUDGET = 1000000
local ATTACK_MARGIN_S = 3.0
-- where the wall-clock backstop must be what stops the code
local BACKSTOP_MS = 300
local BACKSTOP_MARGIN_S = 2.0
-- a process that ran every attack holds at most this much more memory than before; under
-- the sanitizers, plus ASan's quarantine (256 MB by default: freed blocks it holds back to
-- catch a use after free). A leak of the attacks' blocks would still be gigabytes.
local ASAN_QUARANTINE = 256 * 1024 * 1024
local RSS_MARGIN = 64 * 1024 * 1024 +
  (not helper.plain and ASAN_QUARANTINE or 0)

local function run(src, budget, path, arg)
  return sandbox.run(src, "=logic", budget, path, arg)
end

local function with(settings, f)
  local saved = {}
  for k, v in pairs(settings) do saved[k], sandbox[k] = sandbox[k], v end
  local r = table.pack(pcall(f))
  for k, v in pairs(saved) do sandbox[k] = v end
  if not r[1] then error(r[2], 0) end
  return table.unpack(r, 2, r.n)
end

-- an execution with custom logic, from start to end: the host still serves
local SERVED_FLOW = {
  { name = "Trigger", type = "trigger", on = { incomingMessage = "logic" } },
  { name = "logic", type = "lua", source = "return function(ctx) return 'ok', { n = #ctx.trigger.message.Body } end",
    on = { ok = "said" } },
  { name = "said", type = "send-message", body = "n={{widgets.logic.n}}" },
}
local function assert_served()
  local sent = {}
  local e = rivulet.engine{ on_message = function(_, m) sent[#sent + 1] = m.body end }
  local exec = e:start(SERVED_FLOW, { event = "incomingMessage", from = "+15550000009", to = "+15559990000", body = "abc" })
  e:run()
  lu.assertEquals(exec.status, "ended")
  lu.assertNil(exec.failed, exec.reason)
  lu.assertEquals(sent, { "n=3" })
end

-- runs an attack: it must end within ATTACK_MARGIN_S; the host serves an execution after it
local function attack(src, path, arg)
  local t0 = core.monotonic()
  local r = table.pack(with({ TIME_MS = 600000 }, function() return run(src, ATTACK_BUDGET, path, arg) end))
  local dt = core.monotonic() - t0
  lu.assertTrue(dt < ATTACK_MARGIN_S, string.format("took %.2f s: %s", dt, src))
  collectgarbage()
  assert_served()
  return table.unpack(r, 1, r.n)
end

local function assert_budget(src, path, arg)
  local ok, err = attack(src, path, arg)
  lu.assertFalse(ok, src)
  lu.assertEquals(err, "instruction budget exceeded (" .. ATTACK_BUDGET .. ")", src)
end

local function rss()
  local f = io.open("/proc/self/status")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return tonumber(s:match("VmRSS:%s*(%d+)")) * 1024
end

-- ---- the budgets ---------------------------------------------------------------------------------

TestSandbox = {}

function TestSandbox.test_an_endless_loop_runs_out_of_instructions()
  local ok, err = run("while true do end")
  lu.assertFalse(ok)
  lu.assertEquals(err, "instruction budget exceeded (" .. sandbox.INSTRUCTIONS .. ")")
end

function TestSandbox.test_pcall_cannot_swallow_the_instruction_budget()
  assert_budget("while true do pcall(function() while true do end end) end")
  assert_budget("for i = 1, 1e9 do pcall(error) end return 'escaped'")
end

function TestSandbox.test_the_instruction_budget_at_its_edge()
  -- a loop of n iterations costs about 3n instructions; the hook counts every 1000
  lu.assertTrue((run("for i = 1, 5000 do end", 30000)))
  lu.assertFalse((run("for i = 1, 50000 do end", 30000)))
end

function TestSandbox.test_a_gigabyte_string_runs_out_of_memory()
  local ok, err = run("return string.rep('x', 1 << 30)")
  lu.assertFalse(ok)
  lu.assertEquals(err, "memory budget exceeded (" .. sandbox.MEMORY .. " bytes)")
  -- caught by the code's own pcall, the next try fails just the same
  ok, err = run("local ok = pcall(string.rep, 'x', 1 << 30) return ok, ('y'):rep(1 << 30)")
  lu.assertFalse(ok)
  lu.assertStrContains(err, "memory budget exceeded")
end

function TestSandbox.test_a_growing_table_runs_out_of_memory()
  local ok, err = run("local t = {} for i = 1, 1e9 do t[i] = i end")
  lu.assertFalse(ok)
  lu.assertStrContains(err, "memory budget exceeded")
  -- retrying under pcall costs a full collection each time, so it runs out of instructions
  ok, err = run("local t = {} while true do pcall(function() for i = 1, 1e9 do t[#t + 1] = i end end) end")
  lu.assertFalse(ok)
  lu.assertStrMatches(err, "[im][ne][sm][to][r ].* budget exceeded.*")
end

function TestSandbox.test_the_memory_budget_at_its_edge()
  with({ MEMORY = 1024 * 1024 }, function()
    -- string.rep holds its buffer and the result at once: n bytes cost about 2n
    lu.assertTrue((run("return #string.rep('x', 400 * 1000)")))
    lu.assertFalse((run("return #string.rep('x', 600 * 1000)")))
  end)
end

function TestSandbox.test_the_time_budget_at_its_edge()
  with({ TIME_MS = BACKSTOP_MS }, function()
    -- 100,000 instructions take about a millisecond
    lu.assertTrue((run("for i = 1, 30000 do end", 1e12)))
    local t0 = core.monotonic()
    local ok, err = run("while true do end", 1e12)
    local dt = core.monotonic() - t0
    lu.assertFalse(ok)
    lu.assertEquals(err, "time budget exceeded (" .. BACKSTOP_MS .. " ms)")
    lu.assertTrue(dt >= BACKSTOP_MS / 1000 and dt < BACKSTOP_MS / 1000 + BACKSTOP_MARGIN_S, tostring(dt))
  end)
end

function TestSandbox.test_the_host_allocates_freely_after_a_call()
  lu.assertFalse((run("return string.rep('x', 1 << 30)")))
  local big = string.rep("x", sandbox.MEMORY + 1)
  lu.assertEquals(#big, sandbox.MEMORY + 1)
end

function TestSandbox.test_limits_are_checked()
  lu.assertErrorMsgContains("limits.instructions must be a positive integer", core.logic_run, "return 1", "=x",
    { instructions = 0, memory = 1, time_ms = 1 })
  lu.assertErrorMsgContains("limits.time_ms", core.logic_run, "return 1", "=x", { instructions = 1, memory = 1 })
  lu.assertErrorMsgContains("rivulet.logic.Unit expected", core.logic_run, {}, "=x", sandbox.limits())
  -- a memory budget too small for a state at all is the memory budget's failure
  local ok, err = core.logic_run("return 1", "=x", { instructions = 1000, memory = 100, time_ms = 1000 })
  lu.assertFalse(ok)
  lu.assertEquals(err, "memory budget exceeded (100 bytes)")
end

-- ---- what custom logic sees ------------------------------------------------------------------------

TestSandboxEnvironment = {}

function TestSandboxEnvironment.test_the_environment_is_an_allow_list()
  for _, name in ipairs{ "io", "require", "load", "loadstring", "dofile", "loadfile", "debug",
                         "package", "collectgarbage", "coroutine", "rawset", "_G", "warn" } do
    local ok, v = run("return " .. name)
    lu.assertTrue(ok)
    lu.assertNil(v, name .. " is reachable")
  end
  for _, name in ipairs{ "os.execute", "os.exit", "os.getenv", "os.remove", "os.rename", "os.tmpname",
                         "string.dump", "string.pack", "string.unpack", "string.packsize" } do
    lu.assertNil(select(2, run("return " .. name)), name .. " is reachable")
  end
  lu.assertEquals(type(select(2, run("return os.time()"))), "number")
  lu.assertEquals(select(2, run("return string.format('%03d', 7)")), "007")
  lu.assertEquals(select(2, run("return ('%d'):format(7), utf8.char(233), math.max(1, 2), table.concat({1, 2}, ',')")),
    "7")
  lu.assertEquals({ select(2, run("return ('x'):rep(2), utf8.char(233), math.max(1, 2), table.concat({1, 2}, ',')")) },
    { "xx", "\195\169", 2, "1,2" })
end

function TestSandboxEnvironment.test_the_string_metatable_is_out_of_reach()
  lu.assertNil(select(2, run("return getmetatable('')")))
  local ok, err = run("string.upper = nil")
  lu.assertFalse(ok)
  lu.assertStrContains(err, "logic:1: string.upper is read-only")
  lu.assertEquals(("x"):upper(), "X")
end

function TestSandboxEnvironment.test_global_writes_fail_loudly()
  local ok, err = run("x = 1")
  lu.assertFalse(ok)
  lu.assertStrContains(err, "logic:1: assignment to global 'x' in sandboxed code")
end

function TestSandboxEnvironment.test_binary_chunks_are_refused()
  local bin = string.dump(function() return 1 end)
  local ok, err = run(bin)
  lu.assertFalse(ok)
  lu.assertStrContains(err, "binary")
  local unit, cerr = core.logic_compile(bin, "=bin", sandbox.limits())
  lu.assertNil(unit)
  lu.assertStrContains(cerr, "binary")
end

function TestSandboxEnvironment.test_metatables_work_and_getmetatable_returns_the_original()
  local ok, a, b, c, d = run([[
    local Class = {}
    Class.__index = Class
    function Class.new(n) return setmetatable({ n = n }, Class) end
    function Class:double() return self.n * 2 end          -- added after new: read live
    local o = Class.new(21)
    local p = setmetatable({}, { __metatable = "mine" })
    return o:double(), getmetatable(o) == Class, getmetatable(p), pcall(setmetatable, p, {})
  ]])
  lu.assertTrue(ok)
  lu.assertEquals({ a, b, c, d }, { 42, true, "mine", false })
end

function TestSandboxEnvironment.test_the_context_goes_in_as_a_copy()
  local ctx = { flow = { variables = { a = "1" } }, list = { 1, 2, 3 } }
  ctx.again = ctx.list                                      -- shared: one copy, shared too
  local ok, same = run("return function(ctx) ctx.flow.variables.a = 'changed' return ctx.again == ctx.list end",
    nil, {}, ctx)
  lu.assertTrue(ok)
  lu.assertTrue(same)
  lu.assertEquals(ctx.flow.variables.a, "1")
end

function TestSandboxEnvironment.test_a_compiled_source_is_kept()
  local a = assert(sandbox.compile("return function() return 'x' end", "=k"))
  lu.assertIs(sandbox.compile("return function() return 'x' end", "=k"), a)
  lu.assertNotIs(sandbox.compile("return function() return 'x' end", "=other"), a)
  local unit, err = sandbox.compile("return function(", "=bad")
  lu.assertNil(unit)
  lu.assertStrContains(err, "bad:1:")
end

function TestSandboxEnvironment.test_the_compile_cache_at_its_edge()
  local function src(n) return "return 1 --" .. ("x"):rep(n - 11) end
  with({ CACHE_BYTES = 100 }, function()
    local first = sandbox.compile(src(60), "=cache")            -- 60 bytes (or a fresh cache)
    local second = sandbox.compile(src(40), "=cache")            -- 100 bytes: still kept
    lu.assertIs(sandbox.compile(src(60), "=cache"), first)
    lu.assertIs(sandbox.compile(src(40), "=cache"), second)
    sandbox.compile("return 2", "=cache")                        -- past 100 bytes: starts again
    lu.assertNotIs(sandbox.compile(src(60), "=cache"), first)
  end)
end

-- ---- data in and out -------------------------------------------------------------------------------

TestSandboxData = {}

function TestSandboxData.test_results_are_plain_copies()
  local ok, t, null = run([[
    local shared = { 1, 2 }
    local t = setmetatable({ a = shared, b = shared, s = "x", n = 1.5, i = 3, yes = true },
      { __index = function() return "from the metatable" end })
    return t, ...
  ]], nil, nil)
  lu.assertTrue(ok)
  lu.assertNil(getmetatable(t))
  lu.assertNil(t.missing)
  lu.assertIs(t.a, t.b)
  lu.assertEquals(t.a, { 1, 2 })
  lu.assertEquals(math.type(t.n), "float")
  lu.assertEquals(math.type(t.i), "integer")
  lu.assertNil(null)
  -- cjson's null goes in and comes out
  local ok2, v = run("return function(x) return x.null end", nil, {}, { null = json.null })
  lu.assertTrue(ok2)
  lu.assertIs(v, json.null)
end

function TestSandboxData.test_what_cannot_leave_is_refused_saying_where()
  local cases = {
    { "return function() end", "custom logic returned a function (result 1): only strings, numbers, booleans and tables leave custom logic" },
    { "return 'ev', { a = { b = print } }", "custom logic returned a function (result 2, at a.b)" },
    { "return 'ev', { ['x y'] = { [3] = string.gmatch('', '') } }", "a function (result 2, at [\"x y\"][3])" },
    { "local t = {} t.self = t return t", "custom logic returned a table inside itself (result 1, at self)" },
    { "return { [{}] = 1 }", "custom logic returned a table as a table key (result 1)" },
  }
  for _, c in ipairs(cases) do
    local ok, err = run(c[1])
    lu.assertFalse(ok, c[1])
    lu.assertStrContains(err, c[2])
  end
  -- a key in a path shows up to 40 bytes
  local key = ("k"):rep(39) .. " "
  local _, shown = run(("return { [%q] = print }"):format(key))
  lu.assertStrContains(shown, '(result 1, at ["' .. key .. '"])')
  _, shown = run(("return { [%q] = print }"):format(key .. "z"))
  lu.assertStrContains(shown, '(result 1, at ["' .. key .. '..."])')
  local ok, err = run("return function(ctx) return 1 end", nil, {}, { f = print })
  lu.assertFalse(ok)
  lu.assertStrContains(err, "the argument holds a function (at f)")
end

function TestSandboxData.test_copy_depth_at_its_edge()
  local function nested(n) return ("local t = 1 for i = 1, %d do t = { t } end return t"):format(n) end
  lu.assertTrue((run(nested(LIMITS.copy_depth))))
  local ok, err = run(nested(LIMITS.copy_depth + 1))
  lu.assertFalse(ok)
  lu.assertStrContains(err, "tables nested deeper than " .. LIMITS.copy_depth)
end

function TestSandboxData.test_output_size_at_its_edge()
  with({ MEMORY = 64 * 1024 * 1024 }, function()
    local src = "return ('x'):rep(%d)"
    local ok, s = run(src:format(LIMITS.out_bytes))
    lu.assertTrue(ok, s)
    lu.assertEquals(#s, LIMITS.out_bytes)
    local err
    ok, err = run(src:format(LIMITS.out_bytes + 1))
    lu.assertFalse(ok)
    lu.assertStrContains(err, "more than " .. LIMITS.out_bytes .. " bytes")
    -- one long string a thousand times is copied a thousand times: counted each time
    ok, err = run("local s = ('x'):rep(1 << 20) local t = {} for i = 1, 1000 do t[i] = s end return t")
    lu.assertFalse(ok)
    lu.assertStrContains(err, "more than " .. LIMITS.out_bytes .. " bytes")
  end)
end

function TestSandboxData.test_results_at_most_max()
  local n = LIMITS.max_results
  local r = table.pack(run(("return %s"):format(("1, "):rep(n + 4) .. "1")))
  lu.assertEquals(r.n, 1 + n)
end

function TestSandboxData.test_error_messages_at_most_error_bytes()
  local n = LIMITS.error_bytes
  local _, err = run(("error(('x'):rep(%d), 0)"):format(n))
  lu.assertEquals(err, ("x"):rep(n))
  _, err = run(("error(('x'):rep(%d), 0)"):format(n + 1))
  lu.assertEquals(err, ("x"):rep(n) .. "...")
end

function TestSandboxData.test_a_marker_leads_to_its_function()
  local ok, data, unit = sandbox.load_flow([[
    local n = 0
    return { { fn = function(x) n = n + 1 return "e", { n = n, x = x } end }, odd = { ["k k"] = print } }
  ]], "=f")
  lu.assertTrue(ok)
  lu.assertEquals(data[1].fn, { lua_fn = "[1].fn", path = { 1, "fn" }, line = 2 })
  lu.assertEquals(data.odd["k k"], { lua_fn = "odd[\"k k\"]", path = { "odd", "k k" }, line = -1 })
  local ok2, ev, out = sandbox.run(unit, "=f", nil, data[1].fn.path, "hi", 2)
  lu.assertTrue(ok2)
  lu.assertEquals({ ev, out }, { "e", { n = 1, x = "hi" } })
  -- a path that leads nowhere
  local ok3, err = sandbox.run(unit, "=f", nil, { "nope", 2 }, "hi")
  lu.assertFalse(ok3)
  lu.assertStrContains(err, "no function at nope[2]")
  -- a function that is not the one the file had there when it loaded
  ok3, err = sandbox.run(unit, "=f", nil, data[1].fn.path, "hi", 3)
  lu.assertFalse(ok3)
  lu.assertStrContains(err, "defined on line 3, now on line 2")
end

function TestSandboxData.test_a_file_whose_table_follows_pairs_order_fails_clearly()
  -- string hashes are seeded per state: pairs visits these in another order in each one
  local src = "local fns, list = {}, {}\n"
  for i = 1, 40 do src = src .. ("fns.k%d = function() return 'f%d' end\n"):format(i, i) end
  src = src .. "for _, f in pairs(fns) do list[#list + 1] = f end\nreturn list\n"
  local ok, data, unit = sandbox.load_flow(src, "=f")
  lu.assertTrue(ok)
  -- each call gets the function it was given, or says the table moved: never another one
  for _ = 1, 5 do
    local ok2, r = sandbox.run(unit, "=f", nil, data[1].path, nil, data[1].line)
    if ok2 then lu.assertEquals(r, ("f%d"):format(data[1].line - 1))
    else lu.assertStrContains(r, "built its table differently") end
  end
end

-- ---- class 1: nothing custom logic makes runs later in the host --------------------------------------

TestSandboxLeftBehind = {}

function TestSandboxLeftBehind.test_a_finalizer_is_refused()
  local ok, err = attack("setmetatable({}, {__gc = function() while true do end end}) return 1")
  lu.assertFalse(ok)
  lu.assertStrContains(err, "may not set __gc")
  -- one added to the metatable afterwards is not the table's: its metatable is a copy
  ok = attack("local mt = {} local t = setmetatable({}, mt) mt.__gc = function() while true do end end return 1")
  lu.assertTrue(ok)
  local t0 = core.monotonic()
  collectgarbage()
  collectgarbage()
  lu.assertTrue(core.monotonic() - t0 < ATTACK_MARGIN_S)
end

function TestSandboxLeftBehind.test_weak_tables_are_refused()
  local ok, err = attack("return setmetatable({}, {__mode = 'k'})")
  lu.assertFalse(ok)
  lu.assertStrContains(err, "may not make weak tables")
end

function TestSandboxLeftBehind.test_tostring_of_an_error_runs_under_the_budget()
  assert_budget("error(setmetatable({}, {__tostring = function() while true do end end}))")
  local ok, err = attack("error(setmetatable({}, {__tostring = function() return 'told' end}))")
  lu.assertFalse(ok)
  lu.assertEquals(err, "told")
  ok, err = attack("error(setmetatable({}, {__name = 'Thing'}))")
  lu.assertFalse(ok)
  lu.assertEquals(err, "the code raised an error that is not a string (Thing)")
end

function TestSandboxLeftBehind.test_metamethods_of_returned_values_never_reach_the_host()
  local loop = "function() while true do end end"
  local src = ("return 'ev', setmetatable({ x = 1, [2] = 'two' }, { __index = %s, __newindex = %s, __pairs = %s, " ..
    "__len = %s, __eq = %s, __lt = %s, __le = %s, __tostring = %s, __concat = %s, __call = %s, __close = %s })")
    :gsub("%%s", loop)
  local ok, ev, out = attack(src)
  lu.assertTrue(ok)
  lu.assertEquals(ev, "ev")
  lu.assertNil(getmetatable(out))
  -- what the host does with outputs now touches plain data only
  lu.assertNil(out.missing)
  out.new = 1
  local keys = {}
  for k in pairs(out) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  lu.assertEquals(keys, { "2", "new", "x" })
  lu.assertEquals(#out, 0)
  lu.assertStrContains(json.encode(out), '"x":1')
end

function TestSandboxLeftBehind.test_a_table_key_with_lt_cannot_reach_a_sort()
  local ok, err = attack("return 'ev', { [setmetatable({}, { __lt = function() while true do end end })] = 1, [{}] = 2 }")
  lu.assertFalse(ok)
  lu.assertStrContains(err, "a table as a table key")
end

function TestSandboxLeftBehind.test_close_runs_under_the_budget()
  assert_budget("do local x <close> = setmetatable({}, {__close = function() while true do end end}) end return 1")
  assert_budget("local x <close> = setmetatable({}, {__close = function() while true do end end}) while true do end")
end

function TestSandboxLeftBehind.test_an_xpcall_handler_cannot_outrun_the_budget()
  -- the handler runs after the error unwound: for the budget's own error, Lua would run it
  -- inside the hook, where hooks are off
  local ok, a, b = attack("return xpcall(function(x) error(x .. '!', 0) end, function(e) return 'handled ' .. e end, 'boom')")
  lu.assertTrue(ok)
  lu.assertEquals({ a, b }, { false, "handled boom!" })
  lu.assertEquals({ select(2, attack("return xpcall(function(...) return ... end, print, 1, 2)")) }, { true, 1, 2 })
  assert_budget("xpcall(function() while true do end end, function() while true do end end) return 1")
  assert_budget("while true do xpcall(function() while true do end end, function(e) return e end) end")
end

-- a flow file whose function remembers the last message in a local of the file
local REMEMBERING = [[
local last
return {
  { name = "Trigger", type = "trigger", on = { incomingMessage = "remember" } },
  { name = "remember", type = "lua",
    fn = function(ctx)
      local seen = last
      last = ctx.trigger.message.Body
      return "done", { seen = seen or "nothing" }
    end,
    on = { done = "say" } },
  { name = "say", type = "send-message", body = "saw {{widgets.remember.seen}}" },
}
]]

function TestSandboxLeftBehind.test_file_level_state_does_not_leak_between_executions()
  local dir = helper.tmpdir()
  local path = helper.write_file(dir .. "/remember.lua", REMEMBERING)
  local flow = assert(rivulet.load_flow(path))
  local sent = {}
  local e = rivulet.engine{ on_message = function(_, m) sent[#sent + 1] = m.to .. " " .. m.body end }
  e:start(flow, { event = "incomingMessage", from = "+15550000001", to = "+15559990000", body = "secret of one" })
  e:start(flow, { event = "incomingMessage", from = "+15550000002", to = "+15559990000", body = "hello" })
  e:run()
  helper.rmtree(dir)
  lu.assertEquals(sent, { "+15550000001 saw nothing", "+15550000002 saw nothing" })
end

-- what a hostile flow file does to the commands that load it: each ends, none runs its code
-- beyond its budget in the host
local HOSTILE_FILES = {
  finalizer = [[
    setmetatable({}, { __gc = function() while true do end end })
    return { { name = "Trigger", type = "trigger" } }]],
  finalizer_later = [[
    local mt = {}
    local keep = setmetatable({}, mt)
    mt.__gc = function() while true do end end
    return { { name = "Trigger", type = "trigger", keep = keep } }]],
  metamethods = [[
    local loop = function() while true do end end
    local evil = { __index = loop, __pairs = loop, __len = loop, __tostring = loop, __lt = loop, __eq = loop }
    local states = setmetatable({ setmetatable({ name = "Trigger", type = "trigger" }, evil) }, evil)
    return setmetatable({ states = states, description = setmetatable({}, evil) }, evil)]],
  error_tostring = [[error(setmetatable({}, { __tostring = function() while true do end end }))]],
  endless = [[while true do end]],
  pattern = [[local s = ("a"):rep(300) s:find((".-"):rep(6) .. "b") return {}]],
  huge_move = [[table.move({}, 1, math.maxinteger - 1, 2) return {}]],
}

function TestSandboxLeftBehind.test_hostile_flow_files_through_validate_and_graph()
  local dir = helper.tmpdir()
  for name, text in pairs(HOSTILE_FILES) do
    local path = helper.write_file(dir .. "/" .. name .. ".lua", text)
    for _, cmd in ipairs{ "validate", "graph" } do
      local t0 = core.monotonic()
      local code, out, err = helper.exec{ "timeout", "30", helper.bin, cmd, path }
      local dt = core.monotonic() - t0
      lu.assertTrue(code == 0 or code == 1 or code == 2, string.format("%s %s: exit %d %s%s", cmd, name, code, out, err))
      lu.assertTrue(dt < 2 * ATTACK_MARGIN_S, string.format("%s %s took %.2f s", cmd, name, dt))
      lu.assertNotStrContains(err, "traceback")
    end
  end
  helper.rmtree(dir)
end

-- ---- class 2: C functions that would run long without returning to the VM --------------------------

TestSandboxLongC = {}

function TestSandboxLongC.test_rep_of_an_empty_string_is_immediate()
  local ok, s = attack("return ('').rep('', math.maxinteger), ('').rep('', math.maxinteger, '')")
  lu.assertTrue(ok)
  lu.assertEquals(s, "")
end

function TestSandboxLongC.test_table_functions_over_huge_ranges()
  assert_budget("table.move({}, 1, math.maxinteger - 1, 2)")
  assert_budget("table.move({}, 1, math.maxinteger // 2, 2)")
  assert_budget("return table.unpack({}, 1, 1e7)")
  assert_budget("table.insert(setmetatable({}, { __len = function() return math.maxinteger - 1 end }), 1, 'x')")
  assert_budget("table.remove(setmetatable({}, { __len = function() return math.maxinteger end }), 1)")
  assert_budget("local t = {} for i = 1, 1e5 do t[i] = '' end for i = 1, 1e4 do table.concat(t) end")
  assert_budget("local t = {} for i = 1, 2e4 do t[i] = i end for i = 1, 100 do table.sort(t) end")
  assert_budget("local t = {} for i = 1, 2e4 do t[i] = i end table.sort(t, function(a, b) return a > b end) "
    .. "for i = 1, 100 do table.sort(t, function(a, b) return a < b end) end")
end

function TestSandboxLongC.test_plain_find_is_linear()
  local ok, a = attack([[
    local hay, needle = ("a"):rep(1000000), ("a"):rep(500000) .. "b"
    return hay:find(needle, 1, true), hay:find(needle)
  ]])
  lu.assertTrue(ok)
  lu.assertNil(a)
  -- a pattern without specials is a plain find too
  ok, a = attack("return (('ab'):rep(1000) .. 'abc'):find(('ab'):rep(200) .. 'abc')")
  lu.assertTrue(ok)
  lu.assertEquals(a, 1601)
end

function TestSandboxLongC.test_backtracking_patterns_run_out_of_budget()
  for _, src in ipairs{
    "return (('a'):rep(300)):find((('.-'):rep(4)) .. 'b')",
    "return (('a'):rep(300)):match((('.-'):rep(4)) .. 'b')",
    "return (('a'):rep(2000)):find(('a*'):rep(8) .. 'b')",
    "for w in (('a'):rep(300)):gmatch(('.-'):rep(4) .. 'b') do end",
    "return (('a'):rep(300)):gsub(('.-'):rep(4) .. 'b', 'x')",
    "return (('('):rep(100000)):find('%b()')",
    "return (('a'):rep(3000)):find('(a*)(a*)%1%2b')",
    "local r = ('%0'):rep(1e5) return (('x'):rep(1e4)):gsub('', r)",
  } do
    assert_budget(src)
  end
end

function TestSandboxLongC.test_utf8_string_and_number_functions_are_charged()
  assert_budget("local s = 'a' .. ('\\x80'):rep(1e6) for i = 1, 1e4 do for _ in utf8.codes(s) do end end")
  assert_budget("local s = ('a'):rep(1e6) for i = 1, 1e4 do utf8.len(s) end")
  assert_budget("local s = 'a' .. ('\\x80'):rep(1e6) for i = 1, 1e4 do utf8.offset(s, 0, #s) end")
  assert_budget("local s = ('x'):rep(1e6) for i = 1, 1e4 do string.format('%.1s', s) end")
  assert_budget("local s = ('1'):rep(1e6) for i = 1, 1e4 do tonumber(s) end")
  assert_budget("local s = ('x'):rep(1e6) for i = 1, 1e4 do s:upper() end")
end

function TestSandboxLongC.test_the_time_backstop_stops_slow_instructions()
  -- comparing two long equal strings is one instruction and memcmp over all of them
  with({ TIME_MS = BACKSTOP_MS }, function()
    local t0 = core.monotonic()
    local ok, err = run("local a, b = ('x'):rep(8e6), ('x'):rep(8e6 - 1) .. 'x' while true do local _ = a == b end", 1e12)
    local dt = core.monotonic() - t0
    lu.assertFalse(ok)
    lu.assertEquals(err, "time budget exceeded (" .. BACKSTOP_MS .. " ms)")
    lu.assertTrue(dt < BACKSTOP_MS / 1000 + BACKSTOP_MARGIN_S, tostring(dt))
  end)
  assert_served()
end

function TestSandboxLongC.test_keys_per_table_at_the_edge()
  local n = LIMITS.hash_nodes
  local src = "local t = {} for i = 1, %d do t['k' .. i] = i end for i = 1, 1e5 do t[i] = i end return 'kept'"
  lu.assertEquals(select(2, run(src:format(n))), "kept")
  local ok, err = run(src:format(n + 1))
  lu.assertFalse(ok)
  lu.assertEquals(err, "a table of custom logic may hold at most " .. n .. " keys besides its sequence 1..n")
end

function TestSandboxLongC.test_keys_made_to_collide_meet_the_limits()
  -- multiples of 2^k - 1 all land in one chain of a hash part of 2^k nodes: rebuilding it
  -- walks the chain for every key, inside one instruction
  local collide = "local t = {} local m = (1 << %d) - 1 for i = 1, 1 << %d do t[i * m] = true end return 'done'"
  local t0 = core.monotonic()
  local ok, err = run(collide:format(19, 19))
  lu.assertFalse(ok)
  lu.assertStrContains(err, "at most " .. LIMITS.hash_nodes .. " keys")
  lu.assertTrue(core.monotonic() - t0 < ATTACK_MARGIN_S)
  -- the biggest table allowed: the wall clock stops the inserts, one rebuild at most late
  with({ TIME_MS = BACKSTOP_MS }, function()
    t0 = core.monotonic()
    ok, err = run(collide:format(15, 15))
    lu.assertFalse(ok)
    lu.assertEquals(err, "time budget exceeded (" .. BACKSTOP_MS .. " ms)")
    lu.assertTrue(core.monotonic() - t0 < BACKSTOP_MS / 1000 + BACKSTOP_MARGIN_S)
  end)
  assert_served()
end

function TestSandboxLongC.test_pattern_choices_at_the_edge()
  local n = LIMITS.pattern_choices
  local src = "return (('a'):rep(%d) .. 'b'):find(('a?'):rep(%d) .. 'b')"
  lu.assertEquals({ select(2, run(src:format(n, n))) }, { 1, n + 1 })
  local ok, err = run(src:format(n + 1, n + 1))
  lu.assertFalse(ok)
  lu.assertStrContains(err, "pattern too complex")
  -- captures: Lua's own limit
  local caps = LIMITS.pattern_captures
  lu.assertTrue((run(("return ('a'):find('%s')"):format(("()"):rep(caps)))))
  ok, err = run(("return ('a'):find('%s')"):format(("()"):rep(caps + 1)))
  lu.assertFalse(ok)
  lu.assertStrContains(err, "too many captures")
end

function TestSandboxLongC.test_memory_stays_bounded()
  local before = rss()
  if not before then return end
  for i = 1, 20 do
    if i % 4 == 0 then   -- many small blocks until a budget runs out
      lu.assertFalse((run("local t = {} for i = 1, 1e9 do t[i] = ('x'):rep(64) .. i end")))
    end
    lu.assertFalse((run("local a = ('x'):rep(20 << 20) return a .. a")))
    assert_served()
  end
  collectgarbage()
  lu.assertTrue(rss() - before < RSS_MARGIN, string.format("RSS grew by %d bytes", rss() - before))
end

-- ---- the library functions against the real ones ------------------------------------------------

-- the same code runs here (the real libraries) and in a logic state; the results must agree
local function differential(cases, runner)
  local source = "return function(...)\n" .. runner .. "\nend"
  local want = assert(load(source, "=diff"))()(cases)
  local ok, got = sandbox.run(source, "=diff", 1e10, {}, cases)
  lu.assertTrue(ok, got)
  local bad = {}
  for i = 1, #cases do
    if want[i] ~= got[i] and #bad < 5 then
      bad[#bad + 1] = string.format("%s\n  lua:     %s\n  sandbox: %s", json.encode(cases[i]), want[i], got[i])
    end
  end
  lu.assertEquals(#bad, 0, table.concat(bad, "\n"))
end

local function rng(seed)
  local x = seed
  return function(n)
    x = (x * 1103515245 + 12345) % 2147483648
    return x % n + 1
  end
end

local SHOW = [[
local function show(ok, ...)
  local t = { ok and "ok" or "err" }
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    t[#t + 1] = type(v) .. ":" .. (type(v) == "table" and "T" or tostring(v))
  end
  return table.concat(t, "|")
end
]]

local PATTERN_TOKENS = { "a", "b", "c", ".", "%a", "%d", "%s", "%w", "%A", "%%", "%.", "[abc]", "[^ab]", "[a-c]",
  "[%a_]", "[]]", "[^]]", "(", ")", "()", "%1", "%2", "%0", "%b()", "%bab", "%f[%w]", "%f[a]", "^", "$",
  "*", "+", "-", "?", "[", "%", "%b", "%f", "[a", "x", " ", "%]", "[a-]", "[%]]", "%f[^a]", "%u", "%l", "%p",
  "%x", "%c", "%g", "%z", "1", "%q" }
local SUBJECT_CHARS = "aabbc()  1_xA%[]^$.-Z\0"

function TestSandboxLongC.test_patterns_agree_with_the_string_library()
  local r = rng(12)
  local cases = {}
  for i = 1, 4000 do
    local p, s = {}, {}
    for k = 1, r(12) do p[k] = PATTERN_TOKENS[r(#PATTERN_TOKENS)] end
    for k = 1, r(24) - 1 do local j = r(#SUBJECT_CHARS) s[k] = SUBJECT_CHARS:sub(j, j) end
    cases[i] = { kind = r(7), s = table.concat(s), p = table.concat(p), init = r(5) <= 2 and (r(24) - 12) or nil,
                 r = ({ "<%0>", "%1", "x%%", "%2", "%", "[%1%1]", "" })[r(7)], n = r(4) == 1 and r(3) - 1 or nil }
  end
  differential(cases, SHOW .. [[
local cases = ...
local function fr(a, b) if a == "b" then return nil end if a == "c" then return false end return "[" .. tostring(a) .. tostring(b) .. "]" end
local TR = { a = "A", ["()"] = "P", [1] = "one" }
local out = {}
for i, c in ipairs(cases) do
  local k = c.kind
  if k == 1 then out[i] = show(pcall(string.find, c.s, c.p, c.init))
  elseif k == 2 then out[i] = show(pcall(string.find, c.s, c.p, c.init, true))
  elseif k == 3 then out[i] = show(pcall(string.match, c.s, c.p, c.init))
  elseif k == 4 then
    out[i] = show(pcall(function()
      local acc = {}
      for a, b in string.gmatch(c.s, c.p, c.init) do acc[#acc + 1] = tostring(a) .. "," .. tostring(b) if #acc > 40 then break end end
      return table.concat(acc, ";")
    end))
  elseif k == 5 then out[i] = show(pcall(string.gsub, c.s, c.p, c.r, c.n))
  elseif k == 6 then out[i] = show(pcall(string.gsub, c.s, c.p, fr, c.n))
  else out[i] = show(pcall(string.gsub, c.s, c.p, TR, c.n)) end
end
return out
]])
end

local UTF8_PIECES = { "a", "\xc3\xa9", "\xe4\xb8\xad", "\xf0\x9f\x98\x80", "\x80", "\xbf", "\xc3", "\xe4\xb8",
  "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xf8\x88\x80\x80\x80", "\xfc\x84\x80\x80\x80\x80", "\xfe", "\xff",
  "\xc0\x80", "\0", "z" }

function TestSandboxLongC.test_table_utf8_and_string_functions_agree_with_the_libraries()
  local r = rng(7)
  local cases = {}
  for i = 1, 3000 do
    local parts, arr = {}, {}
    for k = 1, r(8) - 1 do parts[k] = UTF8_PIECES[r(#UTF8_PIECES)] end
    for k = 1, r(8) - 1 do arr[k] = r(5) end
    cases[i] = { kind = r(15), s = table.concat(parts), a = r(14) - 7, b = r(14) - 7, lax = r(2) == 1, arr = arr,
                 c = r(10) - 3, d = r(10) - 3, e = r(10) - 3 }
  end
  differential(cases, SHOW .. [[
local cases = ...
local function arr(t) local o = {} for i = -3, 14 do if t[i] ~= nil then o[#o + 1] = i .. "=" .. tostring(t[i]) end end return table.concat(o, " ") end
local out = {}
for i, c in ipairs(cases) do
  local k, t = c.kind, { table.unpack(c.arr) }
  if k == 1 then out[i] = show(pcall(utf8.len, c.s, c.a, c.b, c.lax))
  elseif k == 2 then out[i] = show(pcall(utf8.codepoint, c.s, c.a, c.b, c.lax))
  elseif k == 3 then out[i] = show(pcall(utf8.offset, c.s, c.a, c.b))
  elseif k == 4 then out[i] = show(pcall(utf8.offset, c.s, c.a))
  elseif k == 5 then out[i] = show(pcall(function() local o = {} for p, cp in utf8.codes(c.s, c.lax) do o[#o + 1] = p .. ":" .. cp end return table.concat(o, ",") end))
  elseif k == 6 then out[i] = show(pcall(table.insert, t, c.c, "x")) .. " " .. arr(t)
  elseif k == 7 then out[i] = show(pcall(table.remove, t, c.c)) .. " " .. arr(t)
  elseif k == 8 then out[i] = show(pcall(table.move, t, c.c, c.d, c.e)) .. " " .. arr(t)
  elseif k == 9 then out[i] = show(pcall(table.concat, c.arr, ",", c.c, c.d))
  elseif k == 10 then out[i] = show(pcall(table.unpack, c.arr, c.c, c.d))
  elseif k == 12 then out[i] = show(pcall(string.rep, c.s, c.a, c.lax and "," or nil))
  elseif k == 13 then out[i] = show(pcall(string.upper, c.s .. "aZ\xe9"))
  elseif k == 14 then out[i] = show(pcall(string.lower, c.s .. "aZ\xc9"))
  elseif k == 15 then out[i] = show(pcall(string.reverse, c.s))
  else out[i] = show(pcall(table.sort, t, c.lax and function(x, y) return x > y end or nil)) .. " " .. arr(t) end
end
return out
]])
end

-- ---- in the engine ------------------------------------------------------------------------------------

TestSandboxEngine = {}

function TestSandboxEngine.test_the_engine_fails_that_step_and_keeps_running()
  local function flow(source)
    return {
      { name = "Trigger", type = "trigger", on = { incomingMessage = "logic" } },
      { name = "logic", type = "lua", source = source, on = { ok = "said" } },
      { name = "said", type = "send-message", body = "fine" },
    }
  end
  local sent = {}
  local e = rivulet.engine{ on_message = function(_, m) sent[#sent + 1] = m.body end,
                            limits = { instructions = ATTACK_BUDGET } }
  local hog = e:start(flow("return function() return ('x'):rep(1 << 30) end"),
    { event = "incomingMessage", from = "+15550000001", to = "+15559990000", body = "hi" })
  local spin = e:start(flow("return function() while true do end end"),
    { event = "incomingMessage", from = "+15550000002", to = "+15559990000", body = "hi" })
  local gc = e:start(flow("return function() setmetatable({}, { __gc = function() while true do end end }) return 'ok' end"),
    { event = "incomingMessage", from = "+15550000003", to = "+15559990000", body = "hi" })
  local good = e:start(flow("return function() return 'ok' end"),
    { event = "incomingMessage", from = "+15550000004", to = "+15559990000", body = "hi" })
  e:run()
  lu.assertTrue(hog.failed)
  lu.assertStrContains(hog.reason, "memory budget exceeded")
  lu.assertStrContains(hog.reason, "logic")
  lu.assertTrue(spin.failed)
  lu.assertStrContains(spin.reason, "instruction budget exceeded (" .. ATTACK_BUDGET .. ")")
  lu.assertTrue(gc.failed)
  lu.assertStrContains(gc.reason, "__gc")
  lu.assertEquals(good.status, "ended")
  lu.assertEquals(sent, { "fine" })
end

function TestSandboxEngine.test_a_flow_built_in_lua_runs_its_functions_in_the_host()
  -- the embedder's own code: it may use what the host has (here, an upvalue)
  local calls = 0
  local flow = {
    { name = "Trigger", type = "trigger", on = { incomingMessage = "logic" } },
    { name = "logic", type = "lua", fn = function() calls = calls + 1 return "ok", { n = calls } end },
  }
  local e = rivulet.engine{}
  local exec = e:start(flow, { event = "incomingMessage", from = "+15550000001", to = "+15559990000", body = "hi" })
  lu.assertEquals(calls, 1)
  lu.assertEquals(exec.context.widgets.logic, { n = 1 })
end

function TestSandboxEngine.test_a_lua_flow_file_is_stored_as_its_text_and_runs_after_reloading()
  local dir = helper.tmpdir()
  local path = helper.write_file(dir .. "/remember.lua", REMEMBERING:gsub('"say" } },', '"wait" } },\n' ..
    '  { name = "wait", type = "send-and-wait-for-reply", body = "more?", on = { incomingMessage = "remember" } },', 1))
  local store = dir .. "/s.db"
  local e = assert(rivulet.engine{ store = store })
  local exec = e:start(assert(rivulet.load_flow(path)),
    { event = "incomingMessage", from = "+15550000001", to = "+15559990000", body = "one" })
  lu.assertEquals(exec.context.widgets.remember, { seen = "nothing" })
  e.store:close()
  -- another process: the flow comes from the store's copy of the text
  local sent = {}
  local e2 = assert(rivulet.engine{ store = store, on_message = function(_, m) sent[#sent + 1] = m.body end })
  e2:deliver{ from = "+15550000001", to = "+15559990000", body = "two" }
  e2:run()
  local again = e2.active[exec.sid]
  lu.assertEquals(again.context.widgets.remember, { seen = "nothing" })
  lu.assertEquals(sent, { "more?" })
  e2.store:close()
  helper.rmtree(dir)
end
