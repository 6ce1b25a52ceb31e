-- A cold start (issue #17): the host's own modules load from bytecode compiled at build
-- time (scripts/embed_lua.c, src/host.c), and libpq, libmicrohttpd, libedit are opened only
-- when used (src/lazy.h). These check what that must not change: errors still name the
-- module's source file and line, an edited module is seen, user flows stay text-only.
local lu = require "luaunit"
local helper = require "spec.helper"

TestCold = {}

function TestCold:tearDown()
  helper.cleanup()
end

-- runs a Lua script through the host; -> code, stdout, stderr
local function host_lua(script, env, bin)
  local dir = helper.tmpdir()
  local path = helper.write_file(dir .. "/script.lua", script)
  return helper.exec({ bin or helper.bin, "lua", path }, nil, env)
end

-- the host's environment without the variables that name other modules
local NO_PATH = { RIVULET_LUA_PATH = "" }

function TestCold:test_modules_come_precompiled_and_name_their_source_lines()
  local code, out, err = host_lua([[
    local loader, file = package.searchers[2]("rivulet.flow")
    assert(type(loader) == "function", "no precompiled rivulet.flow")
    local flow = require "rivulet.flow"
    local info = debug.getinfo(flow.load, "S")
    print(file, info.source, info.linedefined)
  ]], NO_PATH)
  lu.assertEquals(code, 0, err)
  local file, source, line = out:match("^(%S+)\t(%S+)\t(%d+)\n$")
  lu.assertEquals(source, "@" .. file)
  lu.assertStrContains(file, "/rivulet/flow.lua")
  -- the line is the source's: `function M.load(` is on it
  local n = 0
  for text in io.lines(file) do
    n = n + 1
    if n == tonumber(line) then lu.assertStrContains(text, "function M.load(") end
  end
end

function TestCold:test_a_runtime_error_in_a_module_names_its_file_and_line()
  -- flow.load with a number raises inside the module
  local code, _, err = host_lua([[
    local ok, e = xpcall(function() return require("rivulet.flow").load(42) end, debug.traceback)
    io.stderr:write(e)
    os.exit(ok and 0 or 1)
  ]], NO_PATH)
  lu.assertEquals(code, 1)
  lu.assertStrMatches(err, ".*\n%s*/[^\n]*/rivulet/flow%.lua:%d+: in function .*")
end

-- a copy of the host and its modules, with the modules' mtimes kept
local function copy_host()
  local dir = helper.tmpdir()
  os.execute(string.format("mkdir -p %s/build && cp %s %s/build/rivulet && cp -Rp %s/lua %s/lua",
    helper.quote(dir), helper.quote(helper.bin), helper.quote(dir), helper.quote(helper.root),
    helper.quote(dir)))
  return dir, dir .. "/build/rivulet"
end

local PROBE = [[
  local loader = package.searchers[2]("rivulet.sid")
  print(type(loader), require("rivulet.sid").edited)
]]

function TestCold:test_an_edited_module_is_loaded_from_its_text()
  local dir, bin = copy_host()
  local code, out, err = host_lua(PROBE, NO_PATH, bin)
  lu.assertEquals(code, 0, err)
  lu.assertEquals(out, "function\tnil\n")
  helper.write_file(dir .. "/lua/rivulet/sid.lua", "return { edited = true }\n")
  code, out, err = host_lua(PROBE, NO_PATH, bin)
  lu.assertEquals(code, 0, err)
  lu.assertEquals(out, "nil\ttrue\n")
end

function TestCold:test_without_the_sources_the_host_runs_its_own_modules()
  local dir, bin = copy_host()
  helper.rmtree(dir .. "/lua")
  local code, out, err = helper.exec({ bin, "run", helper.root .. "/bench/engine/three_steps.lua",
                                       "--body", "world" }, nil, NO_PATH)
  lu.assertEquals(code, 0, err)
  lu.assertEquals(out, "> Hello world\n")
end

function TestCold:test_modules_named_by_RIVULET_LUA_PATH_load_from_text()
  local dir = helper.tmpdir()
  os.execute(string.format("cp -R %s/lua %s/lua", helper.quote(helper.root), helper.quote(dir)))
  helper.write_file(dir .. "/lua/rivulet/sid.lua", "return { edited = true }\n")
  local code, out, err = host_lua([[
    print(#package.searchers, require("rivulet.sid").edited)
  ]], { RIVULET_LUA_PATH = dir .. "/lua" })
  lu.assertEquals(code, 0, err)
  lu.assertEquals(out, "4\ttrue\n")
end

function TestCold:test_a_flow_given_as_bytecode_is_refused()
  local dir = helper.tmpdir()
  local flow = helper.write_file(dir .. "/flow.lua", string.dump(function()
    return { { name = "Trigger", type = "trigger" } }
  end))
  local code, _, err = helper.run({ "run", flow })
  lu.assertEquals(code, 2)
  lu.assertStrContains(err, "binary chunk")
end

-- /proc/self/maps names every library the process has mapped
local MAPS = [[
  local function mapped()
    local f = assert(io.open("/proc/self/maps"))
    local s = f:read("a")
    f:close()
    local out = {}
    for _, lib in ipairs{ "libcurl", "libpq", "libmicrohttpd", "libedit", "libcrypto", "libpcre2",
                          "libsqlite3" } do
      if s:find(lib, 1, true) then out[#out + 1] = lib end
    end
    return "[" .. table.concat(out, ",") .. "]"
  end
  local core = require "rivulet.core"
  local rivulet = require "rivulet"
  local e = rivulet.engine{}
  local exec = e:start({
    { name = "Trigger", type = "trigger", on = { incomingMessage = "set" } },
    { name = "set", type = "set-variables", variables = { a = "{{ trigger.message.Body }}" } },
  }, { from = "+1", to = "+2", body = "x" })
  print(exec.status, mapped())
  local s = assert(core.server_listen("127.0.0.1", 0))
  print(mapped())
  s:close()
  print(core.sha256_hex("x"):sub(1, 8), mapped())
  print(core.regex_match("a+", "AAA"), mapped())
  local dir = os.tmpname()
  local db = assert(core.sqlite_open(dir .. ".db"))
  db:close()
  os.remove(dir .. ".db")
  os.remove(dir)
  print(core.sqlite_version():match("^3%.") ~= nil, mapped())
]]

function TestCold:test_libraries_are_opened_when_first_used()
  if not io.open("/proc/self/maps") then lu.skip("no /proc/self/maps here") end
  local code, out, err = host_lua(MAPS)
  lu.assertEquals(code, 0, err)
  lu.assertEquals(out, table.concat({
    "ended\t[]",
    "[libmicrohttpd]",
    "2d711642\t[libmicrohttpd,libcrypto]",
    "true\t[libmicrohttpd,libcrypto,libpcre2]",
    "true\t[libmicrohttpd,libcrypto,libpcre2,libsqlite3]",
  }, "\n") .. "\n")
end

-- `rivulet run` asks whether stdin is a terminal without starting a shell
function TestCold:test_isatty_tells_a_terminal_from_a_pipe()
  local code, out, err = host_lua([[
    local core = require "rivulet.core"
    print(core.isatty(0), pcall(core.isatty, 3))
  ]])
  lu.assertEquals(code, 0, err)
  lu.assertStrMatches(out, "false\tfalse\t.*fd must be 0, 1 or 2.*\n")
  -- script(1) gives the host a pseudo-terminal
  local dir = helper.tmpdir()
  local path = helper.write_file(dir .. "/tty.lua", 'print(require("rivulet.core").isatty(0))\n')
  local ok = os.execute("command -v script >/dev/null")
  if not ok then lu.skip("no script(1) here to make a terminal") end
  code, out, err = helper.exec({ "script", "-qec", helper.quote(helper.bin) .. " lua " .. helper.quote(path),
                                 "/dev/null" })
  lu.assertEquals(code, 0, err)
  lu.assertStrContains(out, "true")
end

-- libcurl opens libcrypto (through libssl) before the core does: libcrypto's own calls must
-- reach libcrypto, not the core's stand-ins for it, which would have nothing to call yet
-- (the host exports its symbols for C modules; the stand-ins are hidden: src/lazy.h)
function TestCold:test_a_library_opened_by_another_first_is_its_own()
  local code, out, err = host_lua([[
    local core = require "rivulet.core"
    local http = require "rivulet.http"
    local client = http.client{ timeout_ms = 2000 }
    local o = client:wait(client:run_function{ url = "http://127.0.0.1:1/closed" })
    print(o.event, core.sha256_hex("x"):sub(1, 8), core.secret_equal("a", "a"),
          core.regex_match("a", "A"), core.sqlite_version() ~= nil)
  ]])
  lu.assertEquals(code, 0, err)
  lu.assertEquals(out, "fail\t2d711642\ttrue\ttrue\ttrue\n")
end

-- What a `rivulet run` loads: the script does what the command does (the host requires
-- rivulet, then rivulet.cli.run, and calls its main) and prints the exit status, then
-- which of the modules a short message flow never needs were loaded.
local RUN_LOADS = [[
  local watched = { "cjson", "cjson.safe", "rivulet.engine_call", "rivulet.http", "rivulet.packed",
                    "rivulet.recovery", "rivulet.store", "rivulet.twiml", "rivulet.voice",
                    "rivulet.widgets.split_based_on" }
  local code = require("rivulet.cli.run").main(arg)
  local out = {}
  for _, name in ipairs(watched) do
    if package.loaded[name] ~= nil then out[#out + 1] = name end
  end
  io.stderr:write("exit ", tostring(code), "\n", "loaded [", table.concat(out, ","), "]\n")
]]

local function run_loads(...)
  local dir = helper.tmpdir()
  local script = helper.write_file(dir .. "/run_loads.lua", RUN_LOADS)
  local code, out, err = helper.exec({ helper.bin, "lua", script, ... }, "")
  lu.assertEquals(code, 0, err)
  lu.assertStrContains(err, "exit 0\n")
  return err:match("loaded %[(.-)%]") or "?", out
end

local THREE_STEPS = helper.root .. "/bench/engine/three_steps.lua"

function TestCold:test_a_run_of_a_message_flow_loads_no_http_store_voice_packing_or_cjson()
  local loaded, out = run_loads(THREE_STEPS, "--body", "world")
  lu.assertEquals(out, "> Hello world\n")
  lu.assertEquals(loaded, "")
end

function TestCold:test_what_a_run_needs_is_loaded_when_it_needs_it()
  local dir = helper.tmpdir()
  -- a store (run resumes nothing from it: rivulet.recovery stays out)
  local loaded = run_loads(THREE_STEPS, "--body", "world", "--store", dir .. "/s.db")
  lu.assertEquals(loaded, "rivulet.store")
  -- a JSON flow: lua-cjson reads it
  local json = helper.write_file(dir .. "/flow.json", [[{"description": "d", "initial_state": "Trigger",
    "flags": {"allow_concurrent_calls": true}, "states": [
    {"name": "Trigger", "type": "trigger", "transitions": [{"event": "incomingMessage", "next": "say"}],
     "properties": {}},
    {"name": "say", "type": "send-message", "transitions": [],
     "properties": {"body": "Hello {{trigger.message.Body}}"}}]}]])
  local out
  loaded, out = run_loads(json, "--body", "json")
  lu.assertEquals(out, "> Hello json\n")
  lu.assertEquals(loaded, "cjson.safe")
  -- a call: rivulet.voice plays Twilio's part, the engine's code of calls follows it, and
  -- the menu's split checks its conditions
  loaded = run_loads(helper.root .. "/flows/phone_menu.lua", "--trigger", "incomingCall", "-q")
  lu.assertEquals(loaded, "rivulet.engine_call,rivulet.twiml,rivulet.voice,rivulet.widgets.split_based_on")
  -- a Run Function: rivulet.http makes the call (to a port nothing listens on: it fails), the
  -- engine's code of calls takes its answer
  local fn = helper.write_file(dir .. "/fn.lua", [[return {
    { name = "Trigger", type = "trigger", on = { incomingMessage = "fn" } },
    { name = "fn", type = "run-function", url = "http://127.0.0.1:1/closed",
      on = { success = "say", fail = "say" } },
    { name = "say", type = "send-message", body = "called" },
  }]])
  loaded, out = run_loads(fn, "-q")
  lu.assertEquals(out, "> called\n")
  lu.assertEquals(loaded, "rivulet.engine_call,rivulet.http")
end

-- rivulet.http and its fields load on first use: every form of the API still reaches them,
-- and the REPL's completion names them without loading them
function TestCold:test_rivulet_http_loads_on_first_use()
  local code, out, err = host_lua([[
    local repl = require "rivulet.repl"
    local env = { rivulet = rivulet }
    local names = table.concat(repl.complete("rivulet.htt", env), " ") .. "|" ..
                  table.concat(repl.complete("rivulet.run_", env), " ") .. "|" ..
                  table.concat(repl.complete("rivulet.te", env), " ")
    print(names, package.loaded["rivulet.http"] == nil, package.loaded["rivulet.test"] == nil)
    local http = require "rivulet.http"
    print(rivulet.http == http, rivulet.run_function == http.run_function,
          rivulet.http_request == http.http_request, package.loaded["rivulet.test"] == nil)
    local e = rivulet.engine{ http_options = { timeout_ms = 1500 } }
    print(e.http._opts.timeout_ms, getmetatable(e.http) == getmetatable(http.client()),
          e.http:running(), repl.suffix("rivulet.test", env), rivulet.test ~= nil)
    print(pcall(rivulet.engine, { http_options = 5 }))
  ]])
  lu.assertEquals(code, 0, err)
  local lines = {}
  for l in out:gmatch("[^\n]+") do lines[#lines + 1] = l end
  lu.assertEquals(lines[1], "rivulet.http rivulet.http_request|rivulet.run_function|rivulet.test\ttrue\ttrue")
  lu.assertEquals(lines[2], "true\ttrue\ttrue\ttrue")
  lu.assertEquals(lines[3], "1500\ttrue\t0\t.\ttrue")
  lu.assertStrMatches(lines[4], "false\t.*client options must be a table")
end

-- rivulet.json's null is lua-cjson's, before and after lua-cjson is loaded
function TestCold:test_json_null_is_cjson_null_without_loading_cjson()
  local code, out, err = host_lua([[
    local json = require "rivulet.json"
    local before = package.loaded["cjson.safe"]
    local v = json.decode('{"a": null, "b": [null]}')
    print(before, json.null == require("cjson").null, v.a == json.null, v.b[1] == json.null,
          json.encode({ x = json.null }))
  ]])
  lu.assertEquals(code, 0, err)
  lu.assertEquals(out, "nil\ttrue\ttrue\ttrue\t{\"x\":null}\n")
end

-- rivulet run allocates from an arena (src/main.c), and from malloc past its 4 MB; with
-- RIVULET_FREE_AT_EXIT=1 (make memcheck) every block is malloc's. Both run the same.
function TestCold:test_a_run_past_the_arena_and_one_without_it_say_the_same()
  local dir = helper.tmpdir()
  local flow = helper.write_file(dir .. "/big.lua", [[
    local t = {}
    for i = 1, 100000 do t[i] = "x" .. i end      -- some 5 MB: past the arena
    return {
      { name = "Trigger", type = "trigger", on = { incomingMessage = "say" } },
      { name = "say", type = "send-message", body = "n=" .. #t .. " " .. t[99999] },
    }
  ]])
  for _, env in ipairs{ {}, { RIVULET_FREE_AT_EXIT = "1" } } do
    local code, out, err = helper.exec({ helper.bin, "run", flow, "-q" }, "", env)
    lu.assertEquals(code, 0, err)
    lu.assertEquals(out, "> n=100000 x99999\n")
  end
end
