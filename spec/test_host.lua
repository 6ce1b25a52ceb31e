-- The `rivulet` host program: commands, help, exit statuses, `lua`, `repl`.
local lu = require "luaunit"
local helper = require "spec.helper"

local run = helper.run

-- Writes a script into a temp dir and returns its path.
local function script(dir, text, name)
   return helper.write_file(dir .. "/" .. (name or "script.lua"), text)
end

-- Command names listed by `rivulet --help` (the lines under "Commands:").
local function listed_commands()
   local _, out = run({ "--help" })
   local names, inside = {}, false
   for line in out:gmatch("[^\n]*") do
      if line == "Commands:" then
         inside = true
      elseif inside then
         local name = line:match("^  (%S+)")
         if not name then break end
         names[#names + 1] = name
      end
   end
   return names
end

TestHostCli = {}

function TestHostCli:test_version()
   local code, out, err = run({ "version" })
   lu.assertEquals(code, 0)
   lu.assertEquals(err, "")
   lu.assertStrContains(out, "rivulet " .. helper.version() .. "\n")
   lu.assertEquals(out:match("^[^\n]*"), "rivulet " .. helper.version())
   lu.assertStrContains(out, "Lua 5.4")
end

function TestHostCli:test_help_flags()
   for _, flag in ipairs({ "--help", "-h", "help" }) do
      local code, out, err = run({ flag })
      lu.assertEquals(code, 0, flag)
      lu.assertEquals(err, "", flag)
      lu.assertStrContains(out, "usage: rivulet COMMAND")
   end
end

function TestHostCli:test_help_lists_the_commands()
   local names = listed_commands()
   for _, want in ipairs({ "repl", "lua", "version", "help" }) do
      lu.assertTrue(table.concat(names, " "):find(want, 1, true) ~= nil, want)
   end
end

function TestHostCli:test_every_command_has_help()
   for _, name in ipairs(listed_commands()) do
      for _, flag in ipairs({ "--help", "-h" }) do
         local code, out, err = run({ name, flag })
         lu.assertEquals(code, 0, name .. " " .. flag)
         lu.assertEquals(err, "", name .. " " .. flag)
         lu.assertStrContains(out, "usage: rivulet " .. name)
      end
      local code, out = run({ "help", name })
      lu.assertEquals(code, 0, "help " .. name)
      lu.assertStrContains(out, "usage: rivulet " .. name)
   end
end

function TestHostCli:test_no_command_is_a_usage_error()
   local code, out, err = run({})
   lu.assertEquals(code, 2)
   lu.assertEquals(out, "")
   lu.assertStrContains(err, "usage: rivulet")
end

function TestHostCli:test_unknown_command_exits_2()
   local code, out, err = run({ "frobnicate" })
   lu.assertEquals(code, 2)
   lu.assertEquals(out, "")
   lu.assertStrContains(err, "rivulet: unknown command 'frobnicate'")
   lu.assertStrContains(err, "rivulet --help")
end

function TestHostCli:test_unknown_option_exits_2()
   local code, _, err = run({ "--frobnicate" })
   lu.assertEquals(code, 2)
   lu.assertStrContains(err, "--frobnicate")
end

function TestHostCli:test_bad_usage_exits_2()
   local code, _, err = run({ "version", "extra" })
   lu.assertEquals(code, 2)
   lu.assertStrContains(err, "usage: rivulet version")
   code, _, err = run({ "lua" })
   lu.assertEquals(code, 2)
   lu.assertStrContains(err, "usage: rivulet lua SCRIPT")
   code = run({ "repl", "extra" })
   lu.assertEquals(code, 2)
end

TestHostLua = {}

function TestHostLua:setUp() self.dir = helper.tmpdir() end
function TestHostLua:tearDown() helper.rmtree(self.dir) end

function TestHostLua:test_arg_table_and_varargs()
   local path = script(self.dir, [[
print(arg[0], arg[1], arg[2], #arg, arg[-1], select("#", ...), ...)
]])
   local code, out, err = run({ "lua", path, "a", "b" })
   lu.assertEquals(err, "")
   lu.assertEquals(code, 0)
   lu.assertEquals(out, path .. "\ta\tb\t2\tlua\t2\ta\tb\n")
end

function TestHostLua:test_rivulet_is_loaded()
   local path = script(self.dir, [[
local r = require "rivulet"
print(type(r), r == rivulet, type(r.liquid), type(require "rivulet.core"))
]])
   local code, out, err = run({ "lua", path })
   lu.assertEquals(err, "")
   lu.assertEquals(code, 0)
   lu.assertEquals(out, "table\ttrue\ttable\ttable\n")
end

function TestHostLua:test_script_error_exits_1_with_one_message()
   local path = script(self.dir, [[
local function fail() error("boom-7f3a") end
fail()
]])
   local code, out, err = run({ "lua", path })
   lu.assertEquals(code, 1)
   lu.assertEquals(out, "")
   lu.assertEquals(helper.count(err, "boom-7f3a"), 1)
   lu.assertStrContains(err, "rivulet: " .. path .. ":1: boom-7f3a")
   lu.assertStrContains(err, "stack traceback:")
end

function TestHostLua:test_syntax_error_exits_1_without_traceback()
   local path = script(self.dir, "x = = 1\n")
   local code, _, err = run({ "lua", path })
   lu.assertEquals(code, 1)
   lu.assertStrContains(err, "rivulet: " .. path .. ":1:")
   lu.assertNotStrContains(err, "traceback")
end

function TestHostLua:test_missing_script_exits_2()
   local code, _, err = run({ "lua", self.dir .. "/nope.lua" })
   lu.assertEquals(code, 2)
   lu.assertStrContains(err, "cannot open")
end

function TestHostLua:test_script_from_stdin()
   local code, out, err = run({ "lua", "-", "x" }, 'print(arg[0], ...)\n')
   lu.assertEquals(err, "")
   lu.assertEquals(code, 0)
   lu.assertEquals(out, "-\tx\n")
end

function TestHostLua:test_os_exit_status_passes_through()
   local path = script(self.dir, "os.exit(7)\n")
   lu.assertEquals((run({ "lua", path })), 7)
end

TestHostRepl = {}

function TestHostRepl:test_expression_prints()
   local code, out, err = run({ "repl" }, "1+2\n")
   lu.assertEquals(err, "")
   lu.assertEquals(code, 0)
   lu.assertEquals(out, "3\n")
end

function TestHostRepl:test_values_print_like_lua()
   local _, out = run({ "repl" }, '"raw", nil, true\n')
   lu.assertEquals(out, "raw\tnil\ttrue\n")
end

function TestHostRepl:test_multiline_chunk()
   local code, out, err = run({ "repl" }, "function f()\nreturn 5\nend\nf()\n")
   lu.assertEquals(err, "")
   lu.assertEquals(code, 0)
   lu.assertEquals(out, "5\n")
end

function TestHostRepl:test_error_is_reported_and_the_session_goes_on()
   local code, out, err = run({ "repl" }, "error('oops-91')\n40+2\n")
   lu.assertEquals(code, 0)
   lu.assertEquals(out, "42\n")
   lu.assertEquals(helper.count(err, "oops-91"), 1)
   lu.assertStrContains(err, "rivulet: stdin:1: oops-91")
end

function TestHostRepl:test_no_banner_or_prompt_when_piped()
   local _, out = run({ "repl" }, "x = 1\n")
   lu.assertEquals(out, "")
end

function TestHostRepl:test_liquid_render()
   local code, out, err = run({ "repl" }, 'rivulet.liquid.render("{{ 1 | plus: 2 }}", {})\n')
   lu.assertEquals(err, "")
   lu.assertEquals(code, 0)
   lu.assertEquals(out, "3\n")
end
