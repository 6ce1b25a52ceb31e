-- LuaUnit driver for rivulet's specs. Run from the repository root:
--
--   lua5.4 spec/run.lua [LuaUnit options, e.g. -v, -p pattern, -o tap]
--   build-asan/rivulet lua spec/run.lua         (sanitized build: core.so cannot load
--                                                into a plain lua5.4, the host preloads it)
--   make test / make spec                       (set the paths and RIVULET_BIN for you)
--
-- Convention: every spec/test_*.lua is loaded in name order; each file defines global
-- tables named Test<Thing> with methods test_<behaviour> (LuaUnit discovers them) and
-- returns nothing. Shared helpers are in spec/helper.lua (require "spec.helper").
-- The last line of the output is "N passed, N failed" (failed = failures + errors), with
-- ", N skipped" when tests were skipped (their reasons are listed just before, once each);
-- the exit status is 0 when nothing failed, 1 otherwise.

local root = (arg and arg[0] or ""):match("^(.*)/spec/run%.lua$") or "."

-- The checkout's modules, unless the environment already put them on the paths.
local function ensure(field, entries)
   for i = #entries, 1, -1 do
      local e = entries[i]
      if not package[field]:find(e, 1, true) then
         package[field] = e .. ";" .. package[field]
      end
   end
end
ensure("path", { root .. "/?.lua", root .. "/lua/?.lua", root .. "/lua/?/init.lua" })
ensure("cpath", { root .. "/build/lib/?.so" })

local lu = require "luaunit"

local function spec_files()
   local files = {}
   local p = io.popen('ls -1 "' .. root .. '/spec" 2>/dev/null')
   if p then
      for name in p:lines() do
         if name:match("^test_.+%.lua$") then files[#files + 1] = name end
      end
      p:close()
   end
   table.sort(files)
   return files
end

local load_errors = 0
for _, name in ipairs(spec_files()) do
   local path = root .. "/spec/" .. name
   local chunk, err = loadfile(path)
   local ok = chunk ~= nil
   if ok then ok, err = pcall(chunk) end
   if not ok then
      load_errors = load_errors + 1
      io.stderr:write("spec/run.lua: cannot load ", path, ": ", tostring(err), "\n")
   end
end

-- LuaUnit 3.4 (Debian's lua-unit) crashes ("attempt to index a nil value (local 'node')",
-- no summary) when a class's setupClass raises, fails or skips: no test is current yet. So
-- setupClass runs at the start of the class's first setUp instead, and what it raised is
-- raised again in every test of the class: each fails, or skips, with its message.
local function guard_setup_class(class)
   local setup_class = class.setupClass
   if type(setup_class) ~= "function" then return end
   local setup = class.setUp or class.Setup or class.setup or class.SetUp
   local ran, err = false, nil
   class.setupClass = nil
   class.Setup, class.setup, class.SetUp = nil, nil, nil
   class.setUp = function(self, ...)
      if not ran then
         ran = true
         local ok, e = pcall(setup_class, self)
         if not ok then err = e end
      end
      if err ~= nil then error(err, 0) end
      if setup then return setup(self, ...) end
   end
end
for name, v in pairs(_G) do
   if type(name) == "string" and name:match("^[Tt]est") and type(v) == "table" then guard_setup_class(v) end
end

local runner = lu.LuaUnit.new()
runner:runSuite(...)
local result = runner.result
local failed = result.notSuccessCount + load_errors

-- why tests were skipped, once per reason (no node, npm offline...: each says how to fix it)
local reasons, order = {}, {}
for _, t in ipairs(result.skippedTests or {}) do
   local why = tostring(t.msg or "no reason given")
   if not reasons[why] then order[#order + 1] = why end
   reasons[why] = (reasons[why] or 0) + 1
end
for _, why in ipairs(order) do
   print(string.format("skipped (%d): %s", reasons[why], why))
end
io.stdout:flush()
local skipped = result.skippedCount or 0
print(string.format("%d passed, %d failed%s", result.successCount, failed,
   skipped > 0 and string.format(", %d skipped", skipped) or ""))
os.exit(failed == 0 and 0 or 1, true)
