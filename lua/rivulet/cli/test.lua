-- `rivulet test SPEC... [--junit FILE] [--coverage] [--dot FILE] [-v | -q]`: runs conversation
-- specs against flows (the format is in lua/rivulet/test/init.lua).
--
-- Prints one line per spec file ("flows/specs/x_spec.lua: 4 passed, 1 failed"; -v: one line
-- per case; -q: none), then each failure: the case, the conversation so far ("> sent" / "< replied")
-- and what was expected ("- ...") next to what happened ("+ ..."). --coverage prints, per
-- flow, the states and transitions the cases exercised and the untested transitions
-- ("state -event-> next"); --dot FILE writes the flows as DOT with the untested edges red
-- and dashed; --junit FILE writes JUnit XML. The last line is "N passed, N failed" (an
-- unreadable spec counts as one failure), with ", N skipped" when cases were skipped.
-- Exit status: 0 every case passed, 1 a case failed, 2 bad usage or an unreadable spec or
-- flow (every spec still runs; the message names the file).
--
-- `rivulet test --from-execution SID [--store DB] [-o FILE] [--flow PATH] [--subflows DIR]`
-- writes a spec that replays a stored execution (rivulet.test.replay) to FILE (default
-- stdout); it passes as written. Exit status: 0 written, 1 the execution is not in the
-- store, cannot be replayed, or the store failed, 2 bad usage or a store unusable as given.

local test = require "rivulet.test"

local ipairs, pairs, tostring = ipairs, pairs, tostring
local format, sub = string.format, string.sub
local stdout, stderr, open = io.stdout, io.stderr, io.open

local M = {}

local USAGE = "usage: rivulet test SPEC... [--junit FILE] [--coverage] [--dot FILE] [-v | -q]\n" ..
  "       rivulet test --from-execution SID [--store DB] [-o FILE] [--flow PATH] [--subflows DIR]\n" ..
  "Run 'rivulet test --help' for details.\n"

local VALUED = { ["--junit"] = "junit", ["--dot"] = "dot", ["--from-execution"] = "from_execution",
                 ["--store"] = "store", ["-o"] = "output", ["--output"] = "output", ["--flow"] = "flow",
                 ["--subflows"] = "subflows" }
-- the options that only go with --from-execution, and the ones that never do
local REPLAY_ONLY = { store = "--store", output = "-o", flow = "--flow", subflows = "--subflows" }
local RUN_ONLY = { junit = "--junit", dot = "--dot", coverage = "--coverage" }

-- args -> options | nil, exit code
function M.parse(args)
  local o = { specs = {} }
  local i, only_files = 1, false
  while i <= #args do
    local a = args[i]
    local name, inline = a:match("^(%-%-[%w%-]+)=(.*)$")
    name = name or a
    if only_files or a == "-" or sub(a, 1, 1) ~= "-" then
      o.specs[#o.specs + 1] = a
    elseif a == "--" then
      only_files = true
    elseif VALUED[name] then
      local v = inline
      if v == nil then
        i = i + 1
        v = args[i]
      end
      if v == nil or v == "" then
        stderr:write(format("rivulet test: option '%s' needs a %s\n", name,
          name == "--from-execution" and "SID" or name == "--store" and "DB" or "FILE"), USAGE)
        return nil, 2
      end
      o[VALUED[name]] = v
    elseif a == "--coverage" then
      o.coverage = true
    elseif a == "-v" or a == "--verbose" then
      o.verbose = true
    elseif a == "-q" or a == "--quiet" then
      o.quiet = true
    else
      stderr:write(format("rivulet test: unknown option '%s'\n", a), USAGE)
      return nil, 2
    end
    i = i + 1
  end
  if o.from_execution then
    if #o.specs > 0 then
      stderr:write(format("rivulet test: --from-execution writes a spec; it runs none (got '%s')\n", o.specs[1]), USAGE)
      return nil, 2
    end
    for k, opt in pairs(RUN_ONLY) do
      if o[k] then
        stderr:write(format("rivulet test: %s does not go with --from-execution\n", opt), USAGE)
        return nil, 2
      end
    end
    return o
  end
  for k, opt in pairs(REPLAY_ONLY) do
    if o[k] then
      stderr:write(format("rivulet test: %s goes with --from-execution\n", opt), USAGE)
      return nil, 2
    end
  end
  if #o.specs == 0 then
    stderr:write("rivulet test: no SPEC given\n", USAGE)
    return nil, 2
  end
  if o.verbose and o.quiet then
    stderr:write("rivulet test: -v and -q do not go together\n", USAGE)
    return nil, 2
  end
  return o
end

local function counts(r)
  local parts = { format("%d passed", r.passed) }
  if r.failed > 0 then parts[#parts + 1] = format("%d failed", r.failed) end
  if r.skipped > 0 then
    -- one reason for all of them (no corpus, no node) is worth saying
    local reason
    for _, c in ipairs(r.cases) do
      if c.skipped then
        if reason == nil then reason = c.message elseif reason ~= c.message then reason = false end
      end
    end
    local why = reason and (" (" .. reason .. ")") or ""
    parts[#parts + 1] = format("%d skipped%s", r.skipped, why)
  end
  return table.concat(parts, ", ")
end

local function ms(t)
  return format("%.1f ms", (t or 0) * 1000)
end

local function write_file(path, text, what)
  local f, err = open(path, "wb")
  if not f then
    stderr:write(format("rivulet test: cannot write the %s file: %s\n", what, tostring(err)))
    return false
  end
  f:write(text)
  f:close()
  return true
end

-- --from-execution: the stored execution as a spec, on stdout or in -o FILE
local function from_execution(o)
  local args_lib = require "rivulet.cli.args"
  local store_mod = require "rivulet.store"
  local db = args_lib.store_path(o)
  if not db then
    stderr:write("rivulet test: --from-execution needs --store DB (or RIVULET_STORE)\n", USAGE)
    return 2
  end
  local store, err, code = store_mod.open(db, { readonly = true })
  if not store then
    local msg, status = args_lib.store_failure(db, err, code)
    stderr:write("rivulet test: ", msg, "\n")
    return status
  end
  local text
  text, err, code = require("rivulet.test.replay").spec(store, o.from_execution,
    { flow = o.flow, spec_path = o.output, subflows = o.subflows })
  store:close()
  if not text then
    stderr:write("rivulet test: ", tostring(err), "\n")
    if code and code ~= "notfound" and code ~= "unsupported" and code ~= "diverged" and code ~= "failed"
        and not store_mod.IO_FAILURES[code] then
      return 2
    end
    return 1
  end
  if o.output then
    if not write_file(o.output, text, "-o") then return 1 end
    stderr:write(format("rivulet test: wrote %s (run it: rivulet test %s)\n", o.output, o.output))
  else
    stdout:write(text)
  end
  return 0
end

function M.main(args)
  local o, code = M.parse(args or {})
  if not o then return code end
  if o.from_execution then return from_execution(o) end
  local cov = (o.coverage or o.dot) and test.coverage() or nil
  local passed, failed, skipped, unreadable = 0, 0, 0, false
  local gap = false     -- a blank line before the next spec's line and the summary
  local runs = {}
  for _, path in ipairs(o.specs) do
    if gap then stdout:write("\n") gap = false end
    if o.verbose then stdout:write(path, "\n") end
    local failures = {}
    local r, err = test.run(path, {
      coverage = cov,
      on_case = function(c)
        if not c.ok then failures[#failures + 1] = c end
        if o.verbose then
          if c.skipped then stdout:write(format("  skip  %s: %s\n", c.name, tostring(c.message)))
          else
            stdout:write(format("  %-4s  %s (%s)\n", c.ok and "ok" or "FAIL", c.name, ms(c.time)))
          end
          stdout:flush()
        end
      end,
    })
    if not r then
      stdout:flush()
      err = tostring(err)
      if sub(err, 1, #path) ~= path then err = path .. ": " .. err end
      stderr:write("rivulet test: ", err, "\n")
      stderr:flush()
      runs[#runs + 1] = { name = path, error = err }
      failed, unreadable = failed + 1, true
    else
      runs[#runs + 1] = { name = path, results = r }
      passed, failed, skipped = passed + r.passed, failed + r.failed, skipped + r.skipped
      if r.unreadable > 0 then unreadable = true end
      if not o.verbose and not o.quiet then stdout:write(format("%s: %s\n", path, counts(r))) end
      for _, c in ipairs(failures) do stdout:write("\n", test.format_failure(c)) end
      if #failures > 0 or o.verbose then gap = true end
      if r.teardown_error then
        stderr:write(format("rivulet test: %s: teardown failed: %s\n", path, r.teardown_error))
      end
    end
    stdout:flush()
  end
  local status = unreadable and 2 or (failed > 0 and 1 or 0)
  if cov then
    local report = cov:report()
    if o.coverage then stdout:write("\n", test.format_coverage(report)) gap = true end
    if o.dot and not write_file(o.dot, test.dot(report), "--dot") then status = 2 end
  end
  if o.junit and not write_file(o.junit, test.junit(runs), "--junit") then status = 2 end
  if gap then stdout:write("\n") end
  stdout:write(format("%d passed, %d failed%s\n", passed, failed,
    skipped > 0 and format(", %d skipped", skipped) or ""))
  stdout:flush()
  return status
end

return M
