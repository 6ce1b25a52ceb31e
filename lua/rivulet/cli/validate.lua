-- `rivulet validate [-q] FLOW...`: checks flows (rivulet.validate) and prints each problem
-- on stdout as "FILE: #/json/path: error: message" (or "warning:"). A file that cannot be
-- read or parsed is "FILE: error: message" on stderr. The last line, on stderr, is
-- "N flows, E errors, W warnings" (an unreadable file counts as one error).
--
-- -q prints errors only (warnings still count in the summary).
-- Exit status: 0 no errors, 1 a flow has errors, 2 a file is unreadable or bad usage
-- (every file is still checked).

local flowlib = require "rivulet.flow"
local validate = require "rivulet.validate"
local args_lib = require "rivulet.cli.args"

local ipairs, tostring = ipairs, tostring
local format, sub = string.format, string.sub
local stdout, stderr, open = io.stdout, io.stderr, io.open

local M = {}

local USAGE = "usage: rivulet validate [-q] FLOW...\n" ..
  "Run 'rivulet validate --help' for details.\n"

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
  for _, a in ipairs(args) do
    if only_files or a == "-" or sub(a, 1, 1) ~= "-" then
      files[#files + 1] = a
    elseif a == "--" then
      only_files = true
    elseif a == "-q" or a == "--quiet" then
      quiet = true
    else
      stderr:write("rivulet validate: unknown option '", a, "'\n", USAGE)
      return 2
    end
  end
  if #files == 0 then
    stderr:write("rivulet validate: no FLOW given\n", USAGE)
    return 2
  end

  local errors, warnings, unreadable, failed = 0, 0, false, false
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
    end
  end
  stdout:flush()
  stderr:write(format("%d flows, %d errors, %d warnings\n", #files, errors, warnings))
  if unreadable then return 2 end
  return failed and 1 or 0
end

return M
