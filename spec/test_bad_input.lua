-- The bad-input catalogue (issue 7 §4): every case of spec/bad_input/cases.lua runs the host
-- binary (`rivulet run|validate|graph|test|deliver|logs`) in a fresh temp directory and checks its exit
-- status, that its output names where and what (the case's `has` fragments), that nothing
-- it must hide shows (`lacks`, e.g. the auth token, in the output and the --log file), and
-- that it neither crashed (signal, Lua traceback, "internal error") nor hung (`timeout`).

local lu = require "luaunit"
local helper = require "spec.helper"
local catalogue = require "spec.bad_input.cases"

local format = string.format
local cases = catalogue.cases

-- Every case gets its own directory under one temp directory, all made by one mkdir: a
-- process or two per case keeps the whole catalogue within a few seconds.
local base
local function case_dir(i)
  if not base then
    base = helper.tmpdir()
    local parts = { "mkdir" }
    for k = 1, #cases do parts[#parts + 1] = helper.quote(base .. "/" .. k) end
    assert(os.execute(table.concat(parts, " ")))
  end
  return base .. "/" .. i
end

-- helper.exec without its own temp directory: output goes to DIR/.stdout and DIR/.stderr
local function exec(dir, argv, stdin_text, env)
  local parts = {}
  for k, v in pairs(env) do parts[#parts + 1] = k .. "=" .. helper.quote(v) end
  for _, a in ipairs(argv) do parts[#parts + 1] = helper.quote(a) end
  local input = "/dev/null"
  if stdin_text then input = helper.write_file(dir .. "/.stdin", stdin_text) end
  local cmd = table.concat(parts, " ") .. " <" .. helper.quote(input) ..
    " >" .. helper.quote(dir .. "/.stdout") .. " 2>" .. helper.quote(dir .. "/.stderr")
  local _, how, n = os.execute(cmd)
  local code = (how == "signal") and 128 + n or n
  return code, helper.read_file(dir .. "/.stdout") or "", helper.read_file(dir .. "/.stderr") or ""
end

TestBadInput = {}

local function subst(s, dir)
  return (s:gsub("{dir}", function() return dir end))
end

-- shows bytes readably in failure messages
local function show(s)
  if #s > 600 then s = s:sub(1, 600) .. "..." end
  return (s:gsub("[%z\1-\8\11-\31\127-\255]", function(c) return format("\\%d", c:byte()) end))
end

local function run_case(i, c)
  local dir = case_dir(i)
  for name, text in pairs(c.files or {}) do
    if type(text) == "function" then text = text() end
    helper.write_file(dir .. "/" .. name, text)
  end
  local untouched = c.untouched and subst(c.untouched, dir)
  local before = untouched and (helper.read_file(untouched) or false)
  local argv = { "timeout", "-k", "1", tostring(c.seconds or 5), helper.bin }
  if c.fsize then
    -- a file may grow to fsize bytes (RLIMIT_FSIZE); past it a write fails with EFBIG, the
    -- I/O error of a disk that failed, without privileges. SIGXFSZ is ignored (inherited
    -- across exec), else it would kill the process instead.
    table.move(argv, 1, #argv, 7)
    argv[1], argv[2], argv[3], argv[4] = "sh", "-c", "trap '' XFSZ; exec \"$@\"", "sh"
    argv[5], argv[6] = "prlimit", "--fsize=" .. c.fsize
  end
  for _, a in ipairs(c.args) do argv[#argv + 1] = subst(a, dir) end
  local env = { RIVULET_AUTH_TOKEN = "" }
  for k, v in pairs(c.env or {}) do env[k] = v end
  local code, out, err = exec(dir, argv, c.stdin, env)
  local both = out .. err
  local where = format("%s: exit %d\nstdout: %s\nstderr: %s", c.name, code, show(out), show(err))
  lu.assertNotEquals(code, 124, "hung: " .. where)
  lu.assertTrue(code < 124, "killed or crashed: " .. where)
  lu.assertNil(both:find("stack traceback", 1, true), "traceback: " .. where)
  lu.assertNil(both:find("internal error", 1, true), "internal error: " .. where)
  lu.assertEquals(code, c.code, where)
  for _, h in ipairs(c.has or {}) do
    h = subst(h, dir)
    lu.assertNotNil(both:find(h, 1, true), format("missing %q in output of %s", show(h), where))
  end
  if untouched then
    -- digests: a message holding both files would be too long to read (and for LuaUnit to scan)
    local function digest(text) return text and require("rivulet.core").sha256_hex(text) or "(no file)" end
    lu.assertEquals(digest(helper.read_file(untouched)), digest(before), "the store changed: " .. where)
    lu.assertNil(helper.read_file(untouched .. "-wal"), "a WAL appeared beside the store: " .. where)
  end
  local kept = c.store and ((helper.read_file(subst(c.store, dir)) or "") ..
    (helper.read_file(subst(c.store, dir) .. "-wal") or ""))
  if c.store then lu.assertTrue(#kept > 0, "no store written: " .. where) end
  for _, h in ipairs(c.store and c.lacks or {}) do
    lu.assertNil(kept:find(h, 1, true), format("%q is in the store of %s", h, c.name))
  end
  local log = c.log and (helper.read_file(subst(c.log, dir)) or "")
  if c.log then lu.assertTrue(#log > 0, "no --log written: " .. where) end
  for _, h in ipairs(c.lacks or {}) do
    lu.assertNil(both:find(h, 1, true), format("%q shows in the output of %s", h, where))
    if log then lu.assertNil(log:find(h, 1, true), format("%q shows in the --log of %s", h, c.name)) end
  end
end

local seen = {}
for i, c in ipairs(cases) do
  local id = "test_" .. c.name:gsub("[^%w]", "_")
  assert(not seen[id], "two bad-input cases named " .. c.name)
  seen[id] = true
  TestBadInput[id] = function() run_case(i, c) end
end

function TestBadInput.test_the_catalogue_has_at_least_100_cases()
  lu.assertTrue(#cases >= 100, tostring(#cases))
end
