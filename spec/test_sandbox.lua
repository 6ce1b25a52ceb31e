-- rivulet.sandbox: the allow-listed environment, the instruction budget and the memory
-- budget (core.memory_budget), each at its edge, and a host that keeps running after them.
local lu = require "luaunit"
local rivulet = require "rivulet"
local sandbox = require "rivulet.sandbox"
local core = require "rivulet.core"

local function run(src, budget)
  local f = assert(sandbox.load(src, "=logic"))
  return sandbox.call(budget, f)
end

TestSandbox = {}

function TestSandbox.test_an_endless_loop_runs_out_of_instructions()
  local ok, err = run("while true do end")
  lu.assertFalse(ok)
  lu.assertEquals(err, "instruction budget exceeded (" .. sandbox.INSTRUCTIONS .. ")")
end

function TestSandbox.test_pcall_cannot_swallow_the_instruction_budget()
  local ok, err = run("while true do pcall(function() while true do end end) end")
  lu.assertFalse(ok)
  lu.assertStrContains(err, "instruction budget exceeded")
end

function TestSandbox.test_the_instruction_budget_at_its_edge()
  -- a loop of n iterations costs about 3n instructions: well under and well over 30,000
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
end

function TestSandbox.test_the_memory_budget_at_its_edge()
  local saved = sandbox.MEMORY
  sandbox.MEMORY = 1024 * 1024
  -- string.rep holds its buffer and the result at once: n bytes cost about 2n
  local under = run("return #string.rep('x', 400 * 1000)")
  local over = run("return #string.rep('x', 600 * 1000)")
  sandbox.MEMORY = saved
  lu.assertTrue(under)
  lu.assertFalse(over)
end

function TestSandbox.test_the_budget_is_off_outside_a_call()
  lu.assertFalse((run("return string.rep('x', 1 << 30)")))
  -- the host itself may allocate past the sandbox's budget afterwards
  local big = string.rep("x", sandbox.MEMORY + 1)
  lu.assertEquals(#big, sandbox.MEMORY + 1)
  local grown, refused = core.memory_budget()
  lu.assertEquals(grown, 0)
  lu.assertFalse(refused)
end

function TestSandbox.test_the_environment_is_an_allow_list()
  for _, name in ipairs{ "io", "require", "load", "loadstring", "dofile", "loadfile", "debug",
                         "package", "collectgarbage", "coroutine", "rawset", "_G" } do
    local ok, v = run("return " .. name)
    lu.assertTrue(ok)
    lu.assertNil(v, name .. " is reachable")
  end
  for _, name in ipairs{ "execute", "exit", "getenv", "remove", "rename", "tmpname" } do
    lu.assertNil(select(2, run("return os." .. name)), "os." .. name .. " is reachable")
  end
  lu.assertEquals(type(select(2, run("return os.time()"))), "number")
  lu.assertEquals(select(2, run("return string.format('%03d', 7)")), "007")
end

function TestSandbox.test_the_string_metatable_is_out_of_reach()
  lu.assertNil(select(2, run("return getmetatable('')")))
  local ok, err = run("string.upper = nil")
  lu.assertFalse(ok)
  lu.assertStrContains(err, "string.upper is read-only")
  lu.assertEquals(("x"):upper(), "X")
end

function TestSandbox.test_global_writes_fail_loudly()
  local ok, err = run("x = 1")
  lu.assertFalse(ok)
  lu.assertStrContains(err, "assignment to global 'x' in sandboxed code")
end

function TestSandbox.test_binary_chunks_are_refused()
  local chunk, err = sandbox.load(string.dump(function() return 1 end), "=bin")
  lu.assertNil(chunk)
  lu.assertStrContains(err, "binary")
end

function TestSandbox.test_the_engine_fails_that_step_and_keeps_running()
  local function flow(source)
    return {
      { name = "Trigger", type = "trigger", on = { incomingMessage = "logic" } },
      { name = "logic", type = "lua", source = source, on = { ok = "said" } },
      { name = "said", type = "send-message", body = "fine" },
    }
  end
  local sent = {}
  local e = rivulet.engine{ on_message = function(_, m) sent[#sent + 1] = m.body end }
  local hog = e:start(flow("return function() return ('x'):rep(1 << 30) end"),
    { event = "incomingMessage", from = "+15550000001", to = "+15559990000", body = "hi" })
  local spin = e:start(flow("return function() while true do end end"),
    { event = "incomingMessage", from = "+15550000002", to = "+15559990000", body = "hi" })
  local good = e:start(flow("return function() return 'ok' end"),
    { event = "incomingMessage", from = "+15550000003", to = "+15559990000", body = "hi" })
  e:run()
  lu.assertTrue(hog.failed)
  lu.assertStrContains(hog.reason, "memory budget exceeded")
  lu.assertStrContains(hog.reason, "logic")
  lu.assertTrue(spin.failed)
  lu.assertStrContains(spin.reason, "instruction budget exceeded")
  lu.assertEquals(good.status, "ended")
  lu.assertEquals(sent, { "fine" })
end
