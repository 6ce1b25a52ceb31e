-- A newcomer's first hour, as README tells it: the "Your first flow" walkthrough run as
-- written, README's validate line, a plain `make` without the -dev packages, `make test`
-- without network (OFFLINE=1, and npm unable to reach its registry: skips that say why and
-- how to fix it, never a crash), and `make install` under any PREFIX (the library found at
-- run time, `rivulet env` for stock lua5.4, `pkg-config --static`).
local lu = require "luaunit"
local helper = require "spec.helper"
local json = require "rivulet.json"

local q = helper.quote

-- the checkout, absolute (helper.root may be "."): some commands run from elsewhere
local function absolute(dir)
  local p = io.popen("cd " .. q(dir) .. " && pwd")
  local abs = p:read("l")
  p:close()
  return abs
end
local ROOT = absolute(helper.root)

local function sh(cmd, env, stdin_text)
  return helper.exec({ "sh", "-c", cmd }, stdin_text, env)
end

local function have(cmd)
  return os.execute("command -v " .. q(cmd) .. " >/dev/null 2>&1") == true
end

-- a make of its own, not a sub-make of the one running the suite
local function clean_make_env()
  return "env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS "
end

-- the directory of the host under test, absolute, for PATH
local function bindir()
  return absolute(helper.bin:match("^(.*)/[^/]+$") or ".")
end

-- README's text under a heading (## NAME), up to the next heading of that level
local function readme_section(name)
  local text = assert(helper.read_file(ROOT .. "/README.md"))
  local from = assert(text:find("\n## " .. name .. "\n", 1, true), "README has no section " .. name)
  local to = text:find("\n## ", from + 4, true) or #text
  return text:sub(from, to)
end

-- ---- README ---------------------------------------------------------------------------------

TestReadme = {}

function TestReadme.tearDown()
  helper.cleanup()
end

function TestReadme.test_your_first_flow_runs_as_written()
  if not have("dot") then lu.skip("dot not found (graphviz: make deps, or apt-get install graphviz)") end
  local section = readme_section("Your first flow")
  local script = assert(section:match("```sh\n(.-)```"), "no sh block in Your first flow")
  local dir = helper.tmpdir()
  local code, out, err = sh("set -e; cd " .. q(dir) .. "\n" .. script,
    { PATH = bindir() .. ":" .. os.getenv("PATH"), RIVULET_AUTH_TOKEN = "" })
  lu.assertEquals(code, 0, out .. err)
  -- what the comments in the block promise
  lu.assertStrContains(err, "1 flows, 0 errors, 0 warnings")
  lu.assertStrContains(out, "> Hi! What is your name?\n< Ada\n> Nice to meet you, Ada!\n")
  lu.assertStrContains(out, "2 passed, 0 failed\n")
  lu.assertStrContains(helper.read_file(dir .. "/hello/hello.svg") or "", "<svg")
  local def = json.decode(helper.read_file(dir .. "/hello/hello.json") or "")
  lu.assertEquals(def and def.initial_state, "Trigger")
  -- and the console block shows what run prints
  local console = section:match("```console\n(.-)```")
  lu.assertStrContains(console, "> Nice to meet you, Ada!\nexecution FN")
end

function TestReadme.test_the_validate_line_of_running_flows_passes()
  local line = readme_section("Running flows"):match("\n(build/rivulet validate [^\n]+)\n")
  lu.assertEquals(line, "build/rivulet validate flows/*.lua ../shared/studio/flows/*.json")
  if not io.open(helper.corpus .. "SOURCES.md") then line = "build/rivulet validate flows/*.lua" end
  line = line:gsub("^build/rivulet", q(helper.bin)):gsub("%.%./shared", q(helper.shared))
  local code, out, err = sh("cd " .. q(ROOT) .. " && " .. line)
  lu.assertEquals(code, 0, out .. err)
  lu.assertStrMatches(err, ".*%d+ flows, 0 errors, %d+ warnings[^\n]*\n")
end

function TestReadme.test_shared_is_explained()
  local section = readme_section("The shared reference data (`../shared`)")
  for _, what in ipairs{ "SHARED=DIR", "RIVULET_SHARED", "liquid/", "studio/flows/", "ratchet", "make conformance" } do
    lu.assertStrContains(section, what)
  end
end

-- a Lua script given where a flow goes (issue 18 point 5): every command that loads a flow
-- says "not a flow" and how to run the script, with exit status 2
function TestReadme.test_a_script_is_not_a_flow()
  local script = ROOT .. "/flows/scripts/liquid_demo.lua"
  for _, cmd in ipairs{ { "validate" }, { "run", "--reply", "x" }, { "graph" }, { "export" } } do
    local args = { cmd[1], script }
    for k = 2, #cmd do args[#args + 1] = cmd[k] end
    local code, out, err = helper.run(args)
    lu.assertEquals(code, 2, cmd[1] .. ": " .. out .. err)
    lu.assertStrContains(err, script .. ":", false, cmd[1])
    lu.assertStrContains(err, "not a flow: ", false, cmd[1])
    lu.assertStrContains(err, "a script runs with `rivulet lua " .. script .. "`", false, cmd[1])
  end
  -- and it is a script indeed
  local code, out, err = helper.run({ "lua", script })
  lu.assertEquals(code, 0, out .. err)
  -- a file that does not compile is a plain syntax error, not "not a flow"
  local bad = helper.tmpdir() .. "/bad.lua"
  helper.write_file(bad, "return {")
  code, out, err = helper.run({ "validate", bad })
  lu.assertEquals(code, 2, out .. err)
  lu.assertNotStrContains(err, "not a flow")
end

-- without the shared reference data (SHARED elsewhere): the ratchet skips saying where it
-- looked and how to point at it, make conformance stops saying so, the corpus specs skip
function TestReadme.test_without_shared_each_part_says_so()
  lu.skipIf(not helper.plain, "make's targets are checked in the plain build")
  local none = helper.tmpdir() .. "/no-shared"
  local make = "cd " .. q(ROOT) .. " && " .. clean_make_env() .. "make -s "
  local code, out, err = sh(make .. "ratchet SHARED=" .. q(none))
  lu.assertEquals(code, 0, out .. err)
  lu.assertStrContains(out, "ratchet: skipped: no Liquid conformance suites in " .. none .. "/liquid (SHARED=DIR")
  code, out, err = sh(make .. "conformance SHARED=" .. q(none))
  lu.assertNotEquals(code, 0, out)
  lu.assertStrContains(err, "make conformance: no Liquid conformance suites in " .. none .. "/liquid")
  lu.assertStrContains(err, "SHARED=DIR points at it")
  code, out, err = helper.run({ "test", ROOT .. "/spec/corpus/corpus_spec.lua" }, nil,
    { RIVULET_SHARED = none })
  lu.assertEquals(code, 0, out .. err)
  lu.assertStrContains(out, "corpus_spec.lua: 0 passed, 17 skipped (no corpus at " .. none .. "/studio/flows/)\n")
  lu.assertStrMatches(out, ".*\n0 passed, 0 failed, %d+ skipped\n$")
end

-- ---- make without the -dev packages ------------------------------------------------------------

TestMakeHints = {}

function TestMakeHints.tearDown()
  helper.cleanup()
end

-- a copy of what make needs to start building, so the checkout's build/ is not touched
local function source_copy()
  local dir = helper.tmpdir()
  local code, out, err = sh("cp -r " .. q(ROOT .. "/Makefile") .. " " .. q(ROOT .. "/src") .. " " ..
    q(ROOT .. "/lua") .. " " .. q(dir) .. " && mkdir -p " .. q(dir .. "/flows") .. " " .. q(dir .. "/scripts") ..
    " && cp -r " .. q(ROOT .. "/flows/hosts") .. " " .. q(dir .. "/flows/") ..
    " && cp " .. q(ROOT .. "/scripts/embed_lua.c") .. " " .. q(dir .. "/scripts/"))
  lu.assertEquals(code, 0, out .. err)
  return dir
end


function TestMakeHints.test_missing_headers_are_named_with_make_deps()
  local dir = source_copy()
  -- a compiler that finds no header at all stands for a machine without the -dev packages
  local code, out, err = sh("cd " .. q(dir) .. " && " .. clean_make_env() .. "make CC='cc -nostdinc'")
  lu.assertNotEquals(code, 0)
  lu.assertStrContains(err, "make: cannot build rivulet: missing Debian packages: liblua5.4-dev " ..
    "libcurl4-openssl-dev libssl-dev libpcre2-dev libsqlite3-dev libmicrohttpd-dev libedit-dev\n")
  lu.assertStrContains(err, "make: run 'make deps'")
  lu.assertNotStrContains(out .. err, "No such file or directory")      -- no compiler error
  lu.assertNil(io.open(dir .. "/build/obj/http.o"))
  code, out, err = sh("cd " .. q(dir) .. " && " .. clean_make_env() .. "make PKG_CONFIG=/nonexistent/pkg-config")
  lu.assertNotEquals(code, 0, out)
  lu.assertStrContains(err, "missing Debian packages: pkg-config\n")
end

-- ---- offline ------------------------------------------------------------------------------------

TestOffline = {}

function TestOffline.tearDown()
  helper.cleanup()
end

-- a closed loopback port (npm's registry there refuses at once)
local function closed_port()
  local core = require "rivulet.core"
  local srv = assert(core.server_listen("127.0.0.1", 0))
  local port = srv:port()
  srv:close(0)
  return port
end

-- a tree with spec/run.lua, test_twilio_run.lua and what they need, but no node_modules:
-- a fresh clone as far as twilio-run is concerned
local function fresh_tree()
  local dir = helper.tmpdir()
  local cmds = {
    "mkdir -p " .. q(dir .. "/spec") .. " " .. q(dir .. "/scripts") .. " " .. q(dir .. "/flows/functions"),
    "cp " .. q(ROOT .. "/spec/run.lua") .. " " .. q(ROOT .. "/spec/helper.lua") .. " " ..
      q(ROOT .. "/spec/twilio_run.lua") .. " " .. q(ROOT .. "/spec/test_twilio_run.lua") .. " " .. q(dir .. "/spec/"),
    "cp " .. q(ROOT .. "/scripts/twilio-run.sh") .. " " .. q(ROOT .. "/scripts/npm-install.sh") .. " " ..
      q(dir .. "/scripts/"),
    "cp -r " .. q(ROOT .. "/flows/functions/functions") .. " " .. q(ROOT .. "/flows/functions/package.json") ..
      " " .. q(ROOT .. "/flows/functions/package-lock.json") .. " " .. q(dir .. "/flows/functions/"),
  }
  local code, out, err = sh(table.concat(cmds, " && "))
  lu.assertEquals(code, 0, out .. err)
  return dir
end

local function last_line(s) return s:match("([^\n]*)\n$") end

function TestOffline.test_offline_the_twilio_run_specs_skip_saying_how_to_fix_it()
  local dir = fresh_tree()
  local code, out, err = helper.exec({ helper.bin, "lua", dir .. "/spec/run.lua" }, nil,
    { RIVULET_OFFLINE = "1", RIVULET_BIN = helper.bin })
  lu.assertEquals(code, 0, out .. err)
  lu.assertStrMatches(last_line(out), "0 passed, 0 failed, %d+ skipped")
  lu.assertStrContains(out, "twilio-run unavailable: offline (RIVULET_OFFLINE=1): twilio-run is not installed; " ..
    "run sh scripts/twilio-run.sh when online")
  lu.assertNil(io.open(dir .. "/flows/functions/node_modules"))           -- npm never ran
end

function TestOffline.test_npm_unable_to_reach_its_registry_skips_with_npms_reason()
  if not (have("node") and have("npm")) then lu.skip("node and npm not found (make deps)") end
  local dir = fresh_tree()
  local port = closed_port()
  local code, out, err = helper.exec({ helper.bin, "lua", dir .. "/spec/run.lua" }, nil,
    { RIVULET_BIN = helper.bin, npm_config_registry = "http://127.0.0.1:" .. port .. "/",
      npm_config_cache = dir .. "/npm-cache", RIVULET_OFFLINE = "" })  -- npm only sees 127.0.0.1
  lu.assertEquals(code, 0, out .. err)                                     -- skipped, not crashed
  lu.assertStrMatches(last_line(out), "0 passed, 0 failed, %d+ skipped")
  lu.assertStrContains(out, "twilio-run unavailable: scripts/twilio-run.sh: npm could not reach its registry " ..
    "http://127.0.0.1:" .. port .. "/ (")
  lu.assertStrContains(out, "ECONNREFUSED")                                -- npm's own reason
  lu.assertStrContains(out, "run sh scripts/twilio-run.sh again when online")
end

function TestOffline.test_the_install_scripts_never_run_npm_offline()
  for _, script in ipairs{ "twilio-run.sh", "serve-tooling.sh", "browser-tooling.sh" } do
    -- a PATH whose npm and apt-get record being called: they must not be
    local bin = helper.tmpdir()
    for _, tool in ipairs{ "npm", "apt-get" } do
      helper.write_file(bin .. "/" .. tool, "#!/bin/sh\necho called > " .. q(bin .. "/" .. tool .. "-called") ..
        "\nexit 1\n")
      os.execute("chmod +x " .. q(bin .. "/" .. tool))
    end
    local code, _, err = helper.exec({ "sh", ROOT .. "/scripts/" .. script }, nil,
      { RIVULET_OFFLINE = "1", PATH = bin .. ":" .. os.getenv("PATH") })
    if code ~= 0 then                                                      -- 0: already installed here
      lu.assertEquals(code, 3, script .. ": " .. err)
      lu.assertStrContains(err, "offline (RIVULET_OFFLINE=1)", false, script)
      lu.assertStrContains(err, "run sh scripts/" .. script .. " when online", false, script)
    end
    lu.assertNil(io.open(bin .. "/npm-called"), script)
    lu.assertNil(io.open(bin .. "/apt-get-called"), script)
  end
end

-- make demo without twilio-run (offline, from a fresh clone): the function is served by
-- plain node instead, the conversation still ends with the number, npm never runs
function TestOffline.test_the_demo_runs_without_twilio_run()
  if not have("node") then lu.skip("node not found (make deps)") end
  local dir = fresh_tree()
  local code, out, err = sh("mkdir -p " .. q(dir .. "/spec/browser") .. " && cp " ..
    q(ROOT .. "/scripts/demo.sh") .. " " .. q(dir .. "/scripts/") .. " && cp " .. q(ROOT .. "/spec/serve_helper.lua") ..
    " " .. q(dir .. "/spec/") .. " && cp " .. q(ROOT .. "/spec/browser/functions.js") .. " " ..
    q(dir .. "/spec/browser/") .. " && cp " .. q(ROOT .. "/flows/random_number.lua") .. " " .. q(dir .. "/flows/"))
  lu.assertEquals(code, 0, out .. err)
  code, out, err = helper.exec({ "sh", dir .. "/scripts/demo.sh" }, nil,
    { RIVULET_OFFLINE = "1", RIVULET_BIN = helper.bin })
  lu.assertEquals(code, 0, out .. err)
  lu.assertStrContains(err, "offline (RIVULET_OFFLINE=1): twilio-run is not installed")
  lu.assertStrContains(err, "scripts/demo.sh: without twilio-run, node serves the function itself")
  lu.assertStrMatches(out, ".*< 6\n> Your random number is [1-6]\n$")
  lu.assertStrContains(err, "ended: 'send_num' ended the flow on 'sent'")
  lu.assertNil(io.open(dir .. "/flows/functions/node_modules"))           -- npm never ran
end

-- a class whose setupClass raises or skips (an install that failed, no network): LuaUnit 3.4
-- alone crashes with "attempt to index a nil value (local 'node')" and no summary; spec/run.lua
-- fails or skips that class's tests with its message and still ends with the summary
function TestOffline.test_a_failing_setup_class_does_not_crash_the_suite()
  local dir = helper.tmpdir()
  assert(os.execute("mkdir -p " .. q(dir .. "/spec")))
  helper.write_file(dir .. "/spec/run.lua", assert(helper.read_file(ROOT .. "/spec/run.lua")))
  helper.write_file(dir .. "/spec/test_a.lua", [[
local lu = require "luaunit"
TestBroken = {}
function TestBroken.setupClass() error("npm ci failed: ECONNREFUSED", 0) end
function TestBroken.test_one() end
function TestBroken.test_two() end
TestNoNet = {}
function TestNoNet:setupClass() lu.skip("registry unreachable: run sh scripts/x.sh when online") end
function TestNoNet:test_three() end
TestFine = {}
function TestFine.test_four() end
]])
  local code, out, err = helper.exec({ helper.bin, "lua", dir .. "/spec/run.lua" })
  lu.assertEquals(code, 1, out .. err)
  lu.assertNotStrContains(out .. err, "local 'node'")
  lu.assertEquals(helper.count(out, "npm ci failed: ECONNREFUSED"), 2)   -- each test of the class
  lu.assertStrContains(out, "skipped (1): registry unreachable: run sh scripts/x.sh when online\n")
  lu.assertEquals(last_line(out), "1 passed, 2 failed, 1 skipped")
end

-- deps.sh offline: what is missing is said, apt-get never runs; optional packages only make
-- specs skip, needed ones fail with the command that installs them
function TestOffline.test_deps_offline_installs_nothing()
  local bin = helper.tmpdir()
  -- dpkg-query that finds graphviz missing (optional) and, with MISSING set, a needed one
  helper.write_file(bin .. "/dpkg-query", [[#!/bin/sh
for p; do :; done
case " $MISSING graphviz " in *" $p "*) exit 1 ;; esac
printf 'install ok installed'
]])
  helper.write_file(bin .. "/apt-get", "#!/bin/sh\necho called > " .. q(bin .. "/apt-called") .. "\nexit 1\n")
  os.execute("chmod +x " .. q(bin .. "/dpkg-query") .. " " .. q(bin .. "/apt-get"))
  local env = { PATH = bin .. ":" .. os.getenv("PATH"), MISSING = "" }
  local code, out, err = helper.exec({ "sh", ROOT .. "/scripts/deps.sh", "--offline" }, nil, env)
  lu.assertEquals(code, 0, out .. err)
  lu.assertStrContains(err, "offline: not installing graphviz (the specs that need them skip)")
  env.MISSING = "libcurl4-openssl-dev"
  code, out, err = helper.exec({ "sh", ROOT .. "/scripts/deps.sh" }, nil,
    { PATH = env.PATH, MISSING = env.MISSING, RIVULET_OFFLINE = "1" })
  lu.assertEquals(code, 1, out)
  lu.assertStrContains(err, "offline, and these are needed to build and test: libcurl4-openssl-dev")
  lu.assertStrContains(err, "apt-get install --no-install-recommends libcurl4-openssl-dev (or make deps)")
  lu.assertNil(io.open(bin .. "/apt-called"))
end

-- ---- make install under any PREFIX --------------------------------------------------------------

TestInstallAnywhere = {}

local installed   -- {dir = the source copy, prefix =}, made once: a build of its own

local function install_once()
  lu.skipIf(not helper.plain, "install is checked in the plain build")
  if installed then return installed end
  local dir = source_copy()
  local prefix = dir .. "/opt/rivulet"
  local code, out, err = sh("cd " .. q(dir) .. " && " .. clean_make_env() ..
    "make -s -j2 CFLAGS=-O0 install PREFIX=" .. q(prefix))
  lu.assertEquals(code, 0, out .. err)
  installed = { dir = dir, prefix = prefix, out = out }
  return installed
end

function TestInstallAnywhere.teardownClass()
  if installed then helper.rmtree(installed.dir) installed = nil end
end

-- a C program linked against the installed library with pkg-config, started with neither
-- LD_LIBRARY_PATH nor RIVULET_LUA_PATH, from another directory: the rpath finds the library
-- and the library finds its Lua modules where make install put them
local PROGRAM = [[
#include <stdio.h>
#include <rivulet.h>
int main(int argc, char **argv) {
  rivulet *rv;
  rivulet_config cfg = { 0 };
  char sid[35];
  (void)argc;
  cfg.version = RIVULET_CONFIG_VERSION;
  if (rivulet_open(&rv, &cfg) != RIVULET_OK || rivulet_load_flow(rv, "f", argv[1]) != RIVULET_OK
      || rivulet_start(rv, "f", "{\"event\":\"incomingMessage\",\"from\":\"+15550000001\","
                                "\"to\":\"+15559990000\",\"body\":\"play\"}", sid) != RIVULET_OK) {
    fprintf(stderr, "%s\n", rivulet_errmsg(rv));
    return 1;
  }
  printf("started %.2s\n", sid);
  rivulet_close(rv);
  return 0;
}
]]

local function build_program(i, link)
  local src = i.dir .. "/app.c"
  helper.write_file(src, PROGRAM)
  local exe = i.dir .. "/app-" .. link:gsub("%W", "")
  local env = { PKG_CONFIG_PATH = i.pkgconfig or i.prefix .. "/lib/pkgconfig" }
  local code, out, err = sh("cc -o " .. q(exe) .. " " .. q(src) .. " " .. link, env)
  lu.assertEquals(code, 0, out .. err)
  code, out, err = sh("cd / && env -u LD_LIBRARY_PATH -u RIVULET_LUA_PATH " .. q(exe) .. " " ..
    q(ROOT .. "/flows/hosts/quiz.lua"))
  lu.assertEquals(code, 0, out .. err)
  lu.assertEquals(out, "started FN\n")
  return exe
end

function TestInstallAnywhere.test_a_c_program_runs_without_ld_library_path()
  local i = install_once()
  local pc = helper.read_file(i.prefix .. "/lib/pkgconfig/rivulet.pc")
  lu.assertStrContains(pc, "Libs: -L${libdir} -Wl,-rpath,${libdir} -lrivulet\n")
  build_program(i, "$(pkg-config --cflags --libs rivulet)")
end

function TestInstallAnywhere.test_pkg_config_static_links()
  local i = install_once()
  -- the libraries librivulet.a needs, not libcurl's own private ones (-lnghttp2...)
  local code, out = sh("pkg-config --static --libs rivulet", { PKG_CONFIG_PATH = i.prefix .. "/lib/pkgconfig" })
  lu.assertEquals(code, 0, out)
  lu.assertNotStrContains(out, "nghttp2")
  build_program(i, "$(pkg-config --cflags --static --libs rivulet)")
  -- the archive itself, as README shows
  local exe = build_program(i, "$(pkg-config --cflags rivulet) \"$(pkg-config --variable=libdir rivulet)/librivulet.a\" " ..
    "$(pkg-config --static --libs-only-l rivulet | sed 's/-lrivulet//')")
  local _, ldd = sh("ldd " .. q(exe))
  lu.assertNotStrContains(ldd, "librivulet")
end

function TestInstallAnywhere.test_rivulet_env_lets_stock_lua_require_it()
  local i = install_once()
  lu.assertStrContains(i.out, "make install: for stock lua5.4 to find the modules: eval \"$(")
  local code, out, err = sh("cd / && unset LUA_PATH LUA_CPATH LUA_PATH_5_4 LUA_CPATH_5_4 && " ..
    "eval \"$(" .. q(i.prefix .. "/bin/rivulet") .. " env)\" && " ..
    "lua5.4 -e 'print(require(\"rivulet\").liquid.render(\"{{ 6 | times: 7 }}\", {}))'")
  lu.assertEquals(code, 0, out .. err)
  lu.assertEquals(out, "42\n")
  -- and the installed host runs a flow from anywhere
  code, out, err = sh("cd / && " .. q(i.prefix .. "/bin/rivulet") .. " run " ..
    q(ROOT .. "/flows/feedback.lua") .. " -q --reply 5 --reply fine")
  lu.assertEquals(code, 0, out .. err)
  lu.assertStrContains(out, "> Thank you! We read every message.")
end

-- ldconfig runs (as root, without DESTDIR) only for a library dir ld.so searches by itself;
-- anywhere else the rpath in rivulet.pc finds the library and the system cache is left alone
function TestInstallAnywhere.test_ldconfig_only_for_the_dirs_ld_so_searches()
  local dir = source_copy()
  local function dry(args)
    local code, out, err = sh("cd " .. q(dir) .. " && " .. clean_make_env() .. "make -n install LDCONFIG=fake-ldconfig " .. args)
    lu.assertEquals(code, 0, out .. err)
    return out
  end
  lu.assertStrContains(dry("PREFIX=/usr/local"), "fake-ldconfig")
  lu.assertStrContains(dry("PREFIX=/usr"), "fake-ldconfig")
  lu.assertNotStrContains(dry("PREFIX=" .. q(dir .. "/opt")), "fake-ldconfig")
  lu.assertNotStrContains(dry("PREFIX=/opt/rivulet"), "fake-ldconfig")
end

-- a LuaRocks tree (README's luarocks line, --tree for a tree of the test's own): the rock's
-- rivulet.pc names the dir that holds the library (its clib/), a C program linked with it
-- runs without LD_LIBRARY_PATH, the tree's bin/rivulet runs a flow, and its `rivulet env`
-- lets stock lua5.4 require the tree's modules
function TestInstallAnywhere.test_a_luarocks_tree_works()
  lu.skipIf(not helper.plain, "install is checked in the plain build")
  if not have("luarocks") then lu.skip("luarocks not found (make deps, or apt-get install luarocks)") end
  local dir = source_copy()
  helper.write_file(dir .. "/rivulet-scm-1.rockspec", assert(helper.read_file(ROOT .. "/rivulet-scm-1.rockspec")))
  local tree = dir .. "/tree"
  -- --deps-mode=none: LuaRocks does not see Debian's lua-cjson, and never fetches anything
  local code, out, err = sh("cd " .. q(dir) .. " && " .. clean_make_env() ..
    "luarocks --lua-version 5.4 --tree " .. q(tree) .. " make --deps-mode=none rivulet-scm-1.rockspec " ..
    "CURL_INCDIR=/usr/include/x86_64-linux-gnu CFLAGS='-O0 -fPIC'")
  lu.assertEquals(code, 0, out .. err)
  local _, rock = sh("luarocks --lua-version 5.4 --tree " .. q(tree) .. " show --rock-dir rivulet")
  rock = rock:gsub("%s+$", "")
  local pc = assert(helper.read_file(rock .. "/clib/pkgconfig/rivulet.pc"), "no rivulet.pc under " .. rock)
  local libdir = assert(pc:match("\nlibdir=([^\n]+)"))
  lu.assertEquals(libdir, rock .. "/clib")
  lu.assertNotNil(io.open(libdir .. "/librivulet.so"), "rivulet.pc's libdir holds no librivulet.so")
  build_program({ dir = dir, pkgconfig = rock .. "/clib/pkgconfig" }, "$(pkg-config --cflags --libs rivulet)")
  code, out, err = sh("cd / && unset LUA_PATH LUA_CPATH LUA_PATH_5_4 LUA_CPATH_5_4 RIVULET_LUA_PATH && " ..
    q(tree .. "/bin/rivulet") .. " run " .. q(ROOT .. "/flows/feedback.lua") .. " -q --reply 5 --reply fine && " ..
    "eval \"$(" .. q(tree .. "/bin/rivulet") .. " env)\" && " ..
    "lua5.4 -e 'print(package.searchpath(\"rivulet.core\", package.cpath), require(\"rivulet\").liquid.render(\"{{ 6 | times: 7 }}\", {}))'")
  lu.assertEquals(code, 0, out .. err)
  lu.assertStrContains(out, "> Thank you! We read every message.\n")
  lu.assertStrContains(out, tree .. "/lib/lua/5.4/rivulet/core.so\t42\n")
end
