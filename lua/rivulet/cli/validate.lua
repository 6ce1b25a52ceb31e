-- `rivulet validate [-q] [options] FLOW...`: checks flows (rivulet.validate) and prints each
-- problem on stdout as "FILE: #/json/path: error: message" (or "warning:"). A file that
-- cannot be read or parsed is "FILE: error: message" on stderr. Then what a local run
-- cannot reach (validate.local_run: a function named only by its SID, a subflow not found,
-- add_twilio_auth without credentials, a widget waiting for the outside world) as
-- "FILE: #/json/path: local: message". The last line, on stderr, is "N flows, E errors,
-- W warnings" (an unreadable file counts as one error), and ", L for a local run" when
-- there are such notes.
--
-- -q prints errors only (warnings and notes still count in the summary). --map-function,
-- --functions, --subflows, --account-sid and --auth-token say what a run would be given.
-- Exit status: 0 no errors, 1 a flow has errors, 2 a file is unreadable or bad usage
-- (every file is still checked).

local flowlib = require "rivulet.flow"
local validate = require "rivulet.validate"
local args_lib = require "rivulet.cli.args"

local ipairs, tostring, type = ipairs, tostring, type
local format, sub = string.format, string.sub
local stdout, stderr, open = io.stdout, io.stderr, io.open

local M = {}

local USAGE = "usage: rivulet validate [-q] [--map-function ZH...=URL]... [--functions FILE]...\n" ..
  "         [--subflows DIR] [--account-sid AC...] [--auth-token TOKEN] FLOW...\n" ..
  "Run 'rivulet validate --help' for details.\n"

local VALUE = { ["--map-function"] = true, ["--functions"] = true, ["--subflows"] = true, ["--account-sid"] = true,
                ["--auth-token"] = true }

-- load errors already start with the file name (io.open's too); print it once
local function strip_file(msg, file)
  msg = tostring(msg)
  local prefix = file .. ": "
  while sub(msg, 1, #prefix) == prefix do msg = sub(msg, #prefix + 1) end
  return msg
end

-- true | nil, message (io.open takes a directory; reading it is what fails)
local function readable(file)
  local f, err = open(file, "rb")
  if not f then return nil, err end
  local data, rerr = f:read(1)
  f:close()
  if data == nil and rerr then return nil, rerr end
  return true
end

function M.main(args)
  local quiet, files, only_files = false, {}, false
  local o = { ["map-function"] = {}, functions = {} }
  local i = 1
  while i <= #args do
    local a = args[i]
    local name, inline = a:match("^(%-%-[%w%-]+)=(.*)$")
    name = name or a
    if only_files or a == "-" or sub(a, 1, 1) ~= "-" then
      files[#files + 1] = a
    elseif a == "--" then
      only_files = true
    elseif a == "-q" or a == "--quiet" then
      quiet = true
    elseif VALUE[name] then
      local v = inline
      if v == nil then i = i + 1 v = args[i] end
      if v == nil then
        stderr:write("rivulet validate: option '", name, "' needs a value\n", USAGE)
        return 2
      end
      local key = name:sub(3)
      if type(o[key]) == "table" then o[key][#o[key] + 1] = v else o[key] = v end
    else
      stderr:write("rivulet validate: unknown option '", a, "'\n", USAGE)
      return 2
    end
    i = i + 1
  end
  local fmap, ferr = args_lib.function_map(o["map-function"], o.functions)
  local account, aerr = args_lib.account(o)
  if not fmap or aerr then
    stderr:write("rivulet validate: ", ferr or aerr, "\n", USAGE)
    return 2
  end
  local run_opts = { function_map = fmap, subflows = o.subflows, account_sid = account,
                     auth_token = args_lib.token(o) }
  if #files == 0 then
    stderr:write("rivulet validate: no FLOW given\n", USAGE)
    return 2
  end

  local errors, warnings, notes, unreadable, failed = 0, 0, 0, false, false
  for _, file in ipairs(files) do
    local flow, err = readable(file)
    if flow then flow, err = flowlib.load_file(file) end
    if not flow then
      stderr:write(file, ": error: ", strip_file(args_lib.load_error(file, err), file), "\n")
      errors = errors + 1
      unreadable = true
    else
      local ok, problems = validate.validate(flow)
      if not ok then failed = true end
      for _, p in ipairs(problems) do
        if p.level == "error" then errors = errors + 1 else warnings = warnings + 1 end
        if p.level == "error" or not quiet then
          stdout:write(file, ": ", p.path, ": ", p.level, ": ", p.message, "\n")
        end
      end
      for _, p in ipairs(validate.local_run(flow, run_opts)) do
        notes = notes + 1
        if not quiet then stdout:write(file, ": ", p.path, ": local: ", p.message, "\n") end
      end
    end
  end
  stdout:flush()
  stderr:write(format("%d flows, %d errors, %d warnings%s\n", #files, errors, warnings,
    notes > 0 and format(", %d for a local run", notes) or ""))
  if unreadable then return 2 end
  return failed and 1 or 0
end

return M
