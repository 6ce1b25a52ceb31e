-- rivulet repl: values print as Lua constructors (rivulet.repl.pretty), Tab completes names
-- and methods (libedit, on a pseudo-terminal), `help` and `exit` are words of the prompt.
local lu = require "luaunit"
local helper = require "spec.helper"
local repl = require "rivulet.repl"

-- ---- rivulet.repl, in this process -------------------------------------------------------------

TestReplPretty = {}

function TestReplPretty.test_tables_print_as_sorted_constructors()
  lu.assertEquals(repl.pretty({ 1, "two", { a = 1, b = "x\ny" }, name = "n", [true] = 3, ["not id"] = 4 }),
    '{ 1, "two", { a = 1, b = "x\\ny" }, name = "n", ["not id"] = 4, [true] = 3 }')
  lu.assertEquals(repl.pretty({}), "{}")
  lu.assertEquals(repl.pretty({ 3.0, 3 }), "{ 3.0, 3 }")
  lu.assertEquals(repl.pretty({ ["end"] = 1 }), '{ ["end"] = 1 }')    -- a keyword is no bare key
end

function TestReplPretty.test_a_string_at_the_top_prints_as_itself()
  lu.assertEquals(repl.pretty("Hi ADA"), "Hi ADA")
  lu.assertEquals(repl.pretty(nil), "nil")
  lu.assertEquals(repl.pretty(42), "42")
end

function TestReplPretty.test_long_tables_break_into_lines()
  local t = {}
  for i = 1, 12 do t["key" .. i] = ("v"):rep(10) end
  local text = repl.pretty(t)
  lu.assertStrContains(text, '{\n  key1 = "vvvvvvvvvv",\n  key10 = ')
  lu.assertStrContains(text, '\n}')
end

function TestReplPretty.test_output_is_bounded()
  local cyc = { name = "me" }
  cyc.self = cyc
  lu.assertEquals(repl.pretty(cyc), '{ name = "me", self = <cycle> }')
  local deep = { { { { { { 1 } } } } } }
  lu.assertStrContains(repl.pretty(deep), "{...}")
  local many = {}
  for i = 1, repl.MAX_ITEMS + 5 do many[i] = i end
  lu.assertStrContains(repl.pretty(many), "... 5 more")
  local big = {}
  for i = 1, repl.MAX_ITEMS do big["k" .. i] = ("x"):rep(400) end
  local text = repl.pretty(big)
  lu.assertTrue(#text < repl.MAX_CHARS + 200)
  lu.assertStrContains(text, "characters in all")
end

function TestReplPretty.test_a_value_with_tostring_prints_that()
  local v = setmetatable({}, { __tostring = function() return "<thing>" end })
  lu.assertEquals(repl.pretty({ v }), "{ <thing> }")
end

TestReplComplete = {}

local ENV = { rivulet = { liquid = { render = print, compile = print }, load_flow = print, _VERSION = "x" },
              obj = setmetatable({ field = 1 }, { __index = { method = print, other = print } }),
              rawstr = "s" }

function TestReplComplete.test_names_fields_and_methods()
  lu.assertEquals(repl.complete("riv", ENV), { "rivulet" })
  lu.assertEquals(repl.complete("rivulet.l", ENV), { "rivulet.liquid", "rivulet.load_flow" })
  lu.assertEquals(repl.complete("rivulet.liquid.", ENV), { "rivulet.liquid.compile", "rivulet.liquid.render" })
  lu.assertEquals(repl.complete("obj:", ENV), { "obj:method", "obj:other" })     -- functions only
  lu.assertEquals(repl.complete("obj.f", ENV), { "obj.field" })
  lu.assertEquals(repl.complete("rawstr:up", ENV), { "rawstr:upper" })          -- the string library
  lu.assertEquals(repl.complete("nosuch.x", ENV), {})
  lu.assertEquals(repl.complete("fun", ENV), { "function" })
  lu.assertEquals(repl.complete("he", ENV), { "help" })
end

function TestReplComplete.test_what_follows_a_lone_candidate()
  lu.assertEquals(repl.suffix("rivulet.liquid", ENV), ".")
  lu.assertEquals(repl.suffix("rivulet.load_flow", ENV), "(")
  lu.assertEquals(repl.suffix("rawstr", ENV), " ")
end

function TestReplComplete.test_prompt_words()
  lu.assertEquals(repl.command("help", {}), "help")
  lu.assertEquals(repl.command("  help()  ", {}), "help")
  lu.assertEquals(repl.command("exit", {}), "exit")
  lu.assertEquals(repl.command("quit()", {}), "exit")
  lu.assertNil(repl.command("exit = 1", {}))
  lu.assertNil(repl.command("help", { help = 1 }))              -- a global of that name wins
  lu.assertNil(repl.command("print(1)", {}))
end

-- ---- the host's REPL -------------------------------------------------------------------------

TestReplHost = {}

function TestReplHost.tearDown()
  helper.cleanup()
end

function TestReplHost.test_piped_input_prints_tables_help_and_stops_at_exit()
  local code, out, err = helper.run({ "repl" },
    't = { b = 2, a = { 1, 2 } }\nt\nhelp\nrivulet.liquid.render("{{ 1 | plus: 2 }}", {})\nexit\nprint("after exit")\n')
  lu.assertEquals(code, 0, err)
  lu.assertStrContains(out, "{ a = { 1, 2 }, b = 2 }\n")
  lu.assertStrContains(out, "Tab completes names")
  lu.assertStrContains(out, "\n3\n")
  lu.assertNotStrContains(out, "after exit")
  lu.assertNotStrContains(out, "nil\n")           -- help and exit print no nil
end

-- the examples `help` shows, typed in order from the checkout, work together: the engine's
-- start and deliver talk with the same contact, so the reply moves the execution on
function TestReplHost.test_the_help_examples_run_as_shown()
  local lines = {}
  for line in require("rivulet.repl").HELP:gmatch("[^\n]+") do
    local code = line:match("^  (%S.-)%s%s%s+%S") or line:match("^  (%S.*)$")
    if code then lines[#lines + 1] = code end
  end
  lu.assertTrue(#lines >= 6, "no examples in help")
  local code, out, err = helper.exec({ "sh", "-c", "cd " .. helper.quote(helper.root) .. " && exec " ..
    helper.quote(helper.bin) .. " repl" }, table.concat(lines, "\n") .. "\n")
  lu.assertEquals(code, 0, err)
  lu.assertEquals(err, "")
  lu.assertStrContains(out, "true\t{}\n3\n")
  lu.assertStrContains(out, "What is the minimum number?\nWhat is the maximum number?\nmax_value\n")
  lu.assertNotStrContains(out, "no active execution")
  lu.assertStrContains(out, 'reason = "connect_failed"')          -- nothing listens on that port
end

function TestReplHost.test_on_a_terminal_tab_completes_and_help_and_exit_work()
  -- each line is typed once libedit reads the terminal (raw mode)
  local RAW = { raw = true }
  local r = helper.pty({ helper.bin, "repl" }, {
    { expect = "`help` for examples" }, { expect = "> " }, RAW,
    { send = "rivulet.liq\t" }, { expect = "rivulet.liquid." },       -- a table: "." follows
    { send = "ren\t" }, { expect = "rivulet.liquid.render(" },         -- a function: "(" follows
    { send = '"{{ 6 | times: 7 }}", {})\r' }, { expect = "\n42" }, { expect = "> " }, RAW,
    { send = "t = { x = 1 }\r" }, { expect = "> " }, RAW,
    { send = "t\r" }, { expect = "{ x = 1 }" }, { expect = "> " }, RAW,
    { send = "help\r" }, { expect = "Tab completes names" }, { expect = "> " }, RAW,
    { send = "x = 1 +\r" }, { expect = ">> " }, RAW,                   -- the statement goes on
    { send = "\3" }, { expect = "> " }, RAW,                           -- Ctrl-C drops it
    { send = "exit\r" },
  })
  lu.assertNil(r.error, r.output)
  lu.assertEquals(r.status, 0, r.output)
  lu.assertNotStrContains(r.output, "nil")
end

function TestReplHost.test_ctrl_d_leaves()
  local r = helper.pty({ helper.bin, "repl" }, { { expect = "> " }, { raw = true }, { send = "\4" } })
  lu.assertNil(r.error, r.output)
  lu.assertEquals(r.status, 0, r.output)
end
