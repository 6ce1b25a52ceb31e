-- Pieces the commands share: option parsing, the auth-token scrubber, URL maps.

local format, find = string.format, string.find
local ipairs, pairs, tostring = ipairs, pairs, tostring

local M = {}

M.scrubber = require("rivulet.redact").scrubber

-- the token the arguments (or the environment) give, before they are parsed
function M.early_token(args)
  local token = os.getenv("RIVULET_AUTH_TOKEN")
  for i, a in ipairs(args) do
    if a == "--auth-token" and args[i + 1] then token = args[i + 1] end
    local inline = a:match("^%-%-auth%-token=(.*)$")
    if inline then token = inline end
  end
  return token
end

-- the token a parsed command line means: --auth-token, else $RIVULET_AUTH_TOKEN; "" is none
function M.token(o)
  local t = o["auth-token"]
  if t == nil then t = os.getenv("RIVULET_AUTH_TOKEN") end
  if t == "" then t = nil end
  return t
end

-- "KEY=VALUE" -> key, value (the value may hold more "=")
function M.split_eq(s)
  return s:match("^([^=]+)=(.*)$")
end

-- parse(args, spec) -> options, positional | nil, message. spec maps "--name" to
-- {value = true} (takes a value; "--name=v" works too), {list = true} (repeatable, values
-- gathered in a list) or {} (a flag). Options are keyed by name without the dashes.
function M.parse(args, spec)
  local o, pos, i = {}, {}, 1
  for name, s in pairs(spec) do if s.list then o[name:sub(3)] = {} end end
  while i <= #args do
    local a = args[i]
    local name, inline = a:match("^(%-%-[%w%-]+)=(.*)$")
    name = name or a
    local s = spec[name]
    if a == "--" then
      for j = i + 1, #args do pos[#pos + 1] = args[j] end
      break
    elseif s then
      local key = name:sub(3)
      if s.value or s.list then
        local v = inline
        if v == nil then
          i = i + 1
          v = args[i]
          if v == nil then return nil, format("option '%s' needs a value", name) end
        end
        if s.list then o[key][#o[key] + 1] = v else o[key] = v end
      else
        if inline then return nil, format("option '%s' takes no value", name) end
        o[key] = true
      end
    elseif a:sub(1, 1) == "-" and a ~= "-" then
      return nil, format("unknown option '%s'", a)
    else
      pos[#pos + 1] = a
    end
    i = i + 1
  end
  return o, pos
end

-- --map-url FROM=TO list -> {from = to} | nil, message
function M.url_map(list)
  local map = {}
  for _, m in ipairs(list or {}) do
    local from, to = M.split_eq(m)
    if not from or to == "" then return nil, format("--map-url wants FROM=TO, got '%s'", m) end
    map[from] = to
  end
  return map
end

-- the account a parsed command line means: --account-sid, else $RIVULET_ACCOUNT_SID ->
-- sid | nil | nil, message (not AC and 32 hex digits)
function M.account(o)
  local sid = o["account-sid"]
  if sid == nil or sid == "" then sid = os.getenv("RIVULET_ACCOUNT_SID") end
  if sid == nil or sid == "" then return nil end
  if not sid:match("^AC%x+$") or #sid ~= 34 then
    return nil, format("--account-sid must be AC and 32 hex digits, got '%s'", sid)
  end
  return sid
end

-- a function SID: ZH and 32 hex digits (Twilio's Serverless Function SIDs)
local function function_sid(s)
  return type(s) == "string" and #s == 34 and s:match("^ZH%x+$") ~= nil
end

-- --map-function ZH...=URL list and --functions FILE list -> {ZH... = url} | nil, message.
-- A services file is JSON: {"ZH...": "URL", ...}, or {"functions": [{"sid": "ZH...",
-- "url": "URL"}, ...]} (a list as a deploy script would write it). Run Function widgets
-- of a Studio export often name only their function_sid: a local run reaches the
-- function through this map.
function M.function_map(list, files)
  local map = {}
  local function add(sid, url, where)
    if not function_sid(sid) then
      return format("%s: '%s' is not a function SID (ZH and 32 hex digits)", where, tostring(sid))
    end
    if type(url) ~= "string" or not url:match("^[Hh][Tt][Tt][Pp][Ss]?://") then
      return format("%s: the URL of %s must be http(s), got '%s'", where, sid, tostring(url))
    end
    map[sid] = url
  end
  for _, path in ipairs(files or {}) do
    local f, err = io.open(path, "rb")
    if not f then return nil, format("--functions: %s", tostring(err)) end
    local text = f:read("a")
    f:close()
    local t, jerr = require("rivulet.json").decode(text)
    if type(t) ~= "table" then
      return nil, format("--functions %s: not a JSON object (%s)", path, tostring(jerr or "a " .. type(t)))
    end
    if type(t.functions) == "table" then
      for i, fn in ipairs(t.functions) do
        local item = type(fn) == "table" and fn or {}
        local e = add(item.sid, item.url, format("--functions %s, functions[%d]", path, i - 1))
        if e then return nil, e end
      end
    else
      for sid, url in pairs(t) do
        local e = add(sid, url, "--functions " .. path)
        if e then return nil, e end
      end
    end
  end
  for _, m in ipairs(list or {}) do
    local sid, url = M.split_eq(m)
    if not sid then return nil, format("--map-function wants ZH...=URL, got '%s'", m) end
    local e = add(sid, url, "--map-function")
    if e then return nil, e end
  end
  return map
end

-- why a flow file did not load, saying "not a flow" when it is Lua that compiles but did
-- not give a flow (a script, such as flows/scripts/liquid_demo.lua: a flow file only returns
-- the flow's table, and runs without require, io or os)
function M.load_error(path, err)
  err = tostring(err)
  if type(path) == "string" and path:match("%.lua$") then
    local f = io.open(path, "rb")
    local text = f and f:read("a")
    if f then f:close() end
    if type(text) == "string" and load(text, "=" .. path, "t", {}) then   -- compiles; not run here
      return format("not a flow: %s (a Lua flow file only returns the flow's table; a script runs with " ..
        "`rivulet lua %s`)", err, path)
    end
  end
  return err
end

-- load_flow(cmd, path, scrub) -> flow | nil: loads and validates a flow for a command,
-- printing what is wrong (as `rivulet validate` does) on stderr
function M.load_flow(cmd, path, scrub)
  local rivulet = require "rivulet"
  local stderr = io.stderr
  local flow, ferr = rivulet.load_flow(path)
  if not flow then
    ferr = M.load_error(path, ferr)
    if not find(ferr, path, 1, true) then ferr = path .. ": " .. ferr end
    stderr:write("rivulet ", cmd, ": ", scrub(ferr), "\n")
    return nil
  end
  -- a flow with errors (a wrongly typed property, a `next` naming no state...) is bad
  -- input: say where, instead of failing half-way through
  local valid, problems = rivulet.validate(flow)
  if not valid then
    for _, p in ipairs(problems) do
      if p.level == "error" then
        stderr:write(scrub(format("rivulet %s: %s: %s: error: %s", cmd, path, p.path, p.message)), "\n")
      end
    end
    return nil
  end
  return flow
end

-- store_failure(path, message, code) -> text, exit status: how a command reports a store
-- that failed. The text names the file once ("DB: message"); the status is 1 when the file
-- or the disk under it failed (rivulet.store.IO_FAILURES: full, an I/O error, no write
-- access, a lock held too long), 2 when the store is unusable as given (missing, not a
-- store, damaged, newer) or refused what it was given.
function M.store_failure(path, msg, code)
  path = require("rivulet.store").display(path)     -- a database URI's password hidden
  msg = tostring(msg)
  if msg:sub(1, #path + 2) ~= path .. ": " then msg = path .. ": " .. msg end
  return msg, require("rivulet.store").IO_FAILURES[code] and 1 or 2
end

-- the store a command uses: --store, else $RIVULET_STORE
function M.store_path(o)
  local p = o.store or os.getenv("RIVULET_STORE")
  if p == "" then p = nil end
  return p
end

return M
