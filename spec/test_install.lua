-- make install into a staging directory (DESTDIR), then use what it installed the way a
-- user would: the host, `require "rivulet"` from stock lua5.4, and a C host built with
-- pkg-config against rivulet.h and librivulet.
local lu = require "luaunit"
local helper = require "spec.helper"

local q = helper.quote

local function sh(cmd, env)
  local code, out, err = helper.exec({ "sh", "-c", "cd " .. q(helper.root) .. " && " .. cmd }, nil, env)
  return code, out .. err
end

TestInstall = {}

-- the sanitizer build's objects cannot be linked into a plain host: that build skips this
local function skip_sanitized()
  lu.skipIf(not helper.plain, "install is checked in the plain build")
end

local stage
function TestInstall:setUp()
  skip_sanitized()
  if stage then return end
  stage = helper.tmpdir()
  -- no MAKEFLAGS: a parent `make test -j` must not leak its jobserver into this make
  local code, out = sh("env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS make -s install DESTDIR=" .. q(stage))
  lu.assertEquals(code, 0, out)
end

local function prefix() return stage .. "/usr/local" end

function TestInstall:test_installs_the_host_the_module_the_header_and_the_libraries()
  for _, f in ipairs{ "bin/rivulet", "include/rivulet.h", "lib/librivulet.a", "lib/librivulet.so",
                      "lib/pkgconfig/rivulet.pc", "share/lua/5.4/rivulet/init.lua",
                      "share/lua/5.4/rivulet/widgets/run_function.lua",
                      "share/lua/5.4/rivulet/cli/test.lua", "lib/lua/5.4/rivulet/core.so",
                      -- the inspector's page, found beside its module (rivulet.serve.inspector)
                      "share/lua/5.4/rivulet/serve/ui/index.html", "share/lua/5.4/rivulet/serve/ui/app.js",
                      "share/lua/5.4/rivulet/serve/ui/style.css" } do
    lu.assertNotNil(io.open(prefix() .. "/" .. f), f .. " was not installed")
  end
  local pc = helper.read_file(prefix() .. "/lib/pkgconfig/rivulet.pc")
  lu.assertStrContains(pc, "prefix=/usr/local\n")
  lu.assertStrContains(pc, "Version: " .. helper.version() .. "\n")
end

function TestInstall:test_the_installed_host_finds_its_modules()
  local code, out = sh(q(prefix() .. "/bin/rivulet") .. " run flows/retry_counter.lua"
    .. " --trigger incomingRequest --param min=9 --param max=1",
    { RIVULET_LUA_PATH = prefix() .. "/share/lua/5.4/?.lua;" .. prefix() .. "/share/lua/5.4/?/init.lua" })
  lu.assertStrContains(out, "ended")
  lu.assertTrue(code == 0 or code == 1, out)
end

-- where the installed host takes `rivulet` from (src/host.c: RIVULET_LUA_PATH, else
-- <prefix>/share/lua/5.4 beside its bin/, else the LUADIR it was built with)
local function found_by_installed_host(lua_path)
  local env = lua_path and ("RIVULET_LUA_PATH=" .. q(lua_path)) or "-u RIVULET_LUA_PATH"
  local code, out = sh("echo 'print(package.searchpath(\"rivulet\", package.path))' | env " .. env
    .. " " .. q(prefix() .. "/bin/rivulet") .. " lua -")
  lu.assertEquals(code, 0, out)
  return out
end

function TestInstall:test_the_installed_host_finds_the_modules_installed_beside_it()
  lu.assertEquals(found_by_installed_host(nil), prefix() .. "/share/lua/5.4/rivulet/init.lua\n")
end

function TestInstall:test_the_installed_server_finds_the_inspectors_page()
  local code, out = sh("echo 'local a = assert(require(\"rivulet.serve.inspector\").asset_file(\"app.js\")); " ..
    "print(a.type, #a.body > 0)' | env -u RIVULET_LUA_PATH " .. q(prefix() .. "/bin/rivulet") .. " lua -")
  lu.assertEquals(code, 0, out)
  lu.assertEquals(out, "text/javascript; charset=utf-8\ttrue\n")
end

function TestInstall:test_rivulet_lua_path_may_name_a_directory_or_a_lua_path()
  local share = prefix() .. "/share/lua/5.4"
  lu.assertEquals(found_by_installed_host(share), share .. "/rivulet/init.lua\n")
  lu.assertEquals(found_by_installed_host(helper.root .. "/lua/?.lua;" .. helper.root .. "/lua/?/init.lua"),
                  helper.root .. "/lua/rivulet/init.lua\n")
end

function TestInstall:test_stock_lua_requires_the_installed_module()
  local share, lib = prefix() .. "/share/lua/5.4", prefix() .. "/lib/lua/5.4"
  local code, out = sh("lua5.4 -e " .. q('local r = require "rivulet"; print(r.liquid.render("{{ 6 | times: 7 }}", {}))'),
    { LUA_PATH_5_4 = share .. "/?.lua;" .. share .. "/?/init.lua;;", LUA_CPATH_5_4 = lib .. "/?.so;;" })
  lu.assertEquals(code, 0, out)
  lu.assertEquals(out, "42\n")
end

function TestInstall:test_a_c_host_builds_with_pkg_config_and_runs()
  local exe = stage .. "/poll_loop"
  -- PKG_CONFIG_SYSROOT_DIR maps the .pc's /usr/local into the staging directory
  local env = { PKG_CONFIG_PATH = prefix() .. "/lib/pkgconfig", PKG_CONFIG_SYSROOT_DIR = stage }
  local code, out = sh("cc -o " .. q(exe) .. " flows/hosts/poll_loop.c $(pkg-config --cflags --libs rivulet)",
    env)
  lu.assertEquals(code, 0, out)
  code, out = sh("printf '+15550000001 42\\n' | " .. q(exe), {
    LD_LIBRARY_PATH = prefix() .. "/lib", RIVULET_LUA_PATH = prefix() .. "/share/lua/5.4" })
  lu.assertEquals(out, "to +15550000001: What is 6 x 7?\nto +15550000001: Right! 42 it is.\ndone: 0 active\n")
  lu.assertEquals(code, 0)
end
