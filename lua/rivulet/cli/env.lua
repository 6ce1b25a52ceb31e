-- `rivulet env`: shell lines that let stock lua5.4 find rivulet's modules where this
-- rivulet finds them (an install under any PREFIX, a LuaRocks tree, a checkout):
--
--   eval "$(rivulet env)"
--   lua5.4 -e 'print(require("rivulet").liquid.render("{{ 6 | times: 7 }}", {}))'
--
-- Prints `export LUA_PATH_5_4=...` and `export LUA_CPATH_5_4=...`, each the directories
-- found in front of what was set before (";;" = Lua's default path when nothing was).
-- Exit status: 0, 1 when the C module (rivulet/core.so) is nowhere to be found (the host
-- has it linked in; stock Lua needs the file), 2 bad usage.

local M = {}

local USAGE = "usage: rivulet env\nRun 'rivulet env --help' for details.\n"

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

-- the directory rivulet/init.lua was loaded from, and the one holding rivulet/core.so
function M.dirs()
  local init = package.searchpath("rivulet", package.path)
  local luadir = init and init:match("^(.*)/rivulet/init%.lua$")
  local core = package.searchpath("rivulet.core", package.cpath)
  local cdir = core and core:match("^(.*)/rivulet/core%.so$")
  if not cdir and luadir then
    -- a checkout (lua/ beside build/lib), an install (share/lua/5.4 beside lib/lua/5.4)
    local near = { luadir:match("^(.*)/lua$"), luadir:match("^(.*)/share/lua/5%.4$") }
    near[1] = near[1] and near[1] .. "/build/lib"
    near[2] = near[2] and near[2] .. "/lib/lua/5.4"
    for i = 1, 2 do
      if near[i] and exists(near[i] .. "/rivulet/core.so") then cdir = near[i] break end
    end
  end
  return luadir, cdir
end

local function quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

function M.main(argv)
  if argv and argv[1] then
    io.stderr:write("rivulet env: unexpected argument '", argv[1], "'\n", USAGE)
    return 2
  end
  local luadir, cdir = M.dirs()
  if not luadir then
    io.stderr:write("rivulet env: cannot tell where the rivulet modules are\n")
    return 1
  end
  io.stdout:write("export LUA_PATH_5_4=", quote(luadir .. "/?.lua;" .. luadir .. "/?/init.lua;"),
    '"${LUA_PATH_5_4:-;}"\n')
  if not cdir then
    io.stderr:write("rivulet env: rivulet/core.so (the C module stock Lua needs) is nowhere near ",
      luadir, "; make install puts it in LIBDIR\n")
    return 1
  end
  io.stdout:write("export LUA_CPATH_5_4=", quote(cdir .. "/?.so;"), '"${LUA_CPATH_5_4:-;}"\n')
  return 0
end

return M
