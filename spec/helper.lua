-- Shared helpers for the specs: where things are, running the host binary, temp files.
--
--   local helper = require "spec.helper"
--   local code, out, err = helper.run({"lua", "x.lua"}, "stdin text")

local M = {}

-- The repository root, from this file's own path (spec/helper.lua).
local source = debug.getinfo(1, "S").source
M.root = source:match("^@(.*)/spec/helper%.lua$") or "."

-- The host binary: $RIVULET_BIN (set by make), else build/rivulet in the checkout.
M.bin = os.getenv("RIVULET_BIN") or (M.root .. "/build/rivulet")

-- The build the specs run against: "build" (plain), or $RIVULET_BUILD (set by make, e.g.
-- "build-asan" for the sanitizer tier). M.plain: the plain build's own checks run.
M.build = os.getenv("RIVULET_BUILD") or "build"
M.plain = M.build == "build"

-- ../shared (third-party data, read in place): $RIVULET_SHARED (set by make) or beside the
-- checkout. Specs that read the Studio corpus skip, saying why, when a clone has none.
M.shared = os.getenv("RIVULET_SHARED") or (M.root .. "/../shared")
M.corpus = M.shared .. "/studio/flows/"
function M.skip_without_corpus()
  local f = io.open(M.corpus .. "SOURCES.md")
  if f then f:close() return end
  require("luaunit").skip("no Studio corpus at " .. M.corpus ..
    " (the shared reference data: README; SHARED=DIR or RIVULET_SHARED=DIR points at it)")
end

-- Quotes s for /bin/sh.
-- the bodies of messages an engine's on_message collected
function M.bodies(sent)
  local out = {}
  for i, m in ipairs(sent) do out[i] = m.body end
  return out
end

-- "from -event-> to" for every step of an execution
function M.trail(exec)
  local out = {}
  for i, s in ipairs(exec.steps) do
    out[i] = s.transitioned_from .. " -" .. s.name .. "-> " .. s.transitioned_to
  end
  return out
end

function M.quote(s)
   return "'" .. tostring(s):gsub("'", [['\'']]) .. "'"
end

function M.read_file(path)
   local f, err = io.open(path, "rb")
   if not f then return nil, err end
   local data = f:read("a")
   f:close()
   return data
end

function M.write_file(path, data)
   local f = assert(io.open(path, "wb"))
   assert(f:write(data))
   assert(f:close())
   return path
end

local function mkdtemp()
   local p = assert(io.popen("mktemp -d 2>/dev/null || mktemp -d -t rivulet"))
   local dir = p:read("l")
   p:close()
   assert(dir and dir ~= "", "mktemp -d failed")
   return dir
end

-- A fresh temporary directory (removed by M.rmtree, or by M.cleanup for all of them).
local made = {}
function M.tmpdir()
   local dir = mkdtemp()
   made[#made + 1] = dir
   return dir
end

function M.rmtree(dir)
   os.execute("rm -rf " .. M.quote(dir))
end

function M.cleanup()
   for i = #made, 1, -1 do
      M.rmtree(made[i])
      made[i] = nil
   end
end

-- Runs argv (argv[1] is the program) with stdin_text on stdin (nil: /dev/null) and the
-- extra environment variables in env; returns exit code, stdout, stderr. A death by
-- signal N gives 128 + N, as a shell would report it.
function M.exec(argv, stdin_text, env)
   local dir = mkdtemp()
   local parts = {}
   for k, v in pairs(env or {}) do
      parts[#parts + 1] = k .. "=" .. M.quote(v)
   end
   for _, a in ipairs(argv) do
      parts[#parts + 1] = M.quote(a)
   end
   local input = "/dev/null"
   if stdin_text then input = M.write_file(dir .. "/stdin", stdin_text) end
   local cmd = table.concat(parts, " ") .. " <" .. M.quote(input) ..
      " >" .. M.quote(dir .. "/stdout") .. " 2>" .. M.quote(dir .. "/stderr")
   local _, how, n = os.execute(cmd)
   local code = (how == "signal") and 128 + n or n
   local out = M.read_file(dir .. "/stdout") or ""
   local err = M.read_file(dir .. "/stderr") or ""
   M.rmtree(dir)
   return code, out, err
end

-- Runs the host: M.run({"lua", "script.lua"}, stdin_text, env).
function M.run(args, stdin_text, env)
   local argv = { M.bin }
   for _, a in ipairs(args) do argv[#argv + 1] = a end
   return M.exec(argv, stdin_text, env)
end

-- Runs argv on a pseudo-terminal and plays steps at it (spec/tools/pty_run.py: expect, send,
-- signal), for what only a terminal shows: the REPL's editing, Ctrl-C. -> {status, signal,
-- output, error}; the test is skipped when python3 is missing. Every wait has a deadline
-- (PTY_TIMEOUT_S): a hang fails the test instead of blocking the suite.
M.PTY_TIMEOUT_S = 20
function M.pty(argv, steps, cwd)
   local lu = require "luaunit"
   local json = require "rivulet.json"
   if not os.execute("command -v python3 >/dev/null 2>&1") then
      lu.skip("python3 not found (make deps, or apt-get install python3): the terminal specs need it")
   end
   local cmd = { "python3", M.root .. "/spec/tools/pty_run.py", "--timeout", tostring(M.PTY_TIMEOUT_S) }
   if cwd then cmd[#cmd + 1] = "--cwd" cmd[#cmd + 1] = cwd end
   cmd[#cmd + 1] = "--"
   for _, a in ipairs(argv) do cmd[#cmd + 1] = a end
   local code, out, err = M.exec(cmd, json.encode(steps), { HOME = M.tmpdir() })
   lu.assertEquals(code, 0, err)
   local r = assert(json.decode(out))
   if r.status == json.null then r.status = nil end
   if r.error == json.null then r.error = nil end
   if r.signal == json.null then r.signal = nil end
   return r
end

-- Number of non-overlapping occurrences of the plain string needle in s.
function M.count(s, needle)
   local n, i = 0, 1
   while true do
      local a, b = s:find(needle, i, true)
      if not a then return n end
      n, i = n + 1, b + 1
   end
end

-- RIVULET_VERSION as written in src/version.h.
function M.version()
   local h = assert(M.read_file(M.root .. "/src/version.h"))
   return assert(h:match('#define%s+RIVULET_VERSION%s+"([^"]+)"'))
end

return M
