-- rivulet.http: Run Function and Make HTTP Request, with Studio's outcome rules, over the
-- C core's non-blocking client.
--
--   local client = http.client{timeout_ms =, max_body =, max_redirects =, auth_token =}
--   local call = client:run_function{url =, parameters =, timeout_ms =, auth_token =, tag =}
--   local call = client:http_request{method =, url =, content_type =, body =, parameters =, tag =,
--                                     basic_auth = "user:password"}
--   call:done(), call:outcome()          -- outcome is nil while the call runs
--   client:poll(timeout_ms)              -- drives every call; returns how many still run
--   client:wait(call)                    -- drives until that call is done; returns its outcome
--   client:finished()                    -- the tags of the tagged calls finished since the last look
--
-- outcome = {event, status_code, content_type, body, headers, parsed?, reason?, message?,
--            elapsed_ms, url}; headers: the reply's fields, {lower-case name = value}

local core = require "rivulet.core"

local type, pairs, ipairs, tostring, error, setmetatable = type, pairs, ipairs, tostring, error, setmetatable
local math_type, floor = math.type, math.floor
local sort = table.sort
local format, lower, find = string.format, string.lower, string.find
local getenv = os.getenv

local M = {}

M.TIMEOUT_MS = core.HTTP_TIMEOUT_MS
M.MAX_BODY = core.HTTP_MAX_BODY
M.MAX_REDIRECTS = core.HTTP_MAX_REDIRECTS
M.MAX_HEADER_BYTES = core.HTTP_MAX_HEADER_BYTES   -- per response, trailers included (src/http.h)
M.MAX_HEADER_LINES = core.HTTP_MAX_HEADER_LINES
M.USER_AGENT = "rivulet/" .. core._VERSION

-- header lines every call sends, made once
local UA_HEADER = "User-Agent: " .. M.USER_AGENT
local FORM_HEADER = "Content-Type: application/x-www-form-urlencoded; charset=utf-8"

local json = require "rivulet.json"

-- ---- parameters ----------------------------------------------------------------------

-- where: a parameter's index in Studio's list, or its name in a map; the message is built
-- only when it is needed (this runs for every parameter of every call)
local function value_string(v, where)
  local t = type(v)
  if t == "string" then return v end
  if t == "number" then
    if math_type(v) == "float" and v == floor(v) and v > -2^53 and v < 2^53 then
      return format("%d", v)                  -- JSON-ish: 3.0 is sent as 3
    end
    return tostring(v)
  end
  if t == "boolean" then return tostring(v) end
  where = math_type(where) and ("parameters[" .. where .. "].value") or ("parameter '" .. where .. "'")
  error(format("%s must be a string, number or boolean, not %s", where, t), 4)
end

local function by_name_then_value(a, b)
  if a[1] ~= b[1] then return a[1] < b[1] end
  return a[2] < b[2]
end

-- {k = v} or Studio's {{key =, value =}, ...} -> list of {name, value}, sorted by name
-- (then value), as the signature wants them.
local function pairs_of(parameters)
  local list = {}
  if parameters == nil then return list end
  if type(parameters) ~= "table" then error("parameters must be a table", 3) end
  if parameters[1] ~= nil then
    for i, p in ipairs(parameters) do
      if type(p) ~= "table" or type(p.key) ~= "string" then
        error(format("parameters[%d] must be {key = string, value = ...}", i), 3)
      end
      list[i] = { p.key, value_string(p.value == nil and "" or p.value, i) }
    end
  else
    for k, v in pairs(parameters) do
      if type(k) ~= "string" then error("parameter names must be strings", 3) end
      list[#list + 1] = { k, value_string(v, k) }
    end
  end
  local n = #list
  if n > 8 then
    sort(list, by_name_then_value)
  else                        -- a few: insertion sort here beats table.sort calling back into Lua
    for i = 2, n do
      local p, j = list[i], i - 1
      while j > 0 and by_name_then_value(p, list[j]) do list[j + 1] = list[j]; j = j - 1 end
      list[j + 1] = p
    end
  end
  return list
end

-- application/x-www-form-urlencoded, byte by byte (UTF-8 passes as its bytes): letters,
-- digits and "*-._" as they are, a space as "+", any other byte as %XX (core.form_encode)
local form_encode = core.form_encode

-- Parameter names Studio refuses: error 81014, "Parameter name uses a reserved word, e.g.
-- "method"" (https://www.twilio.com/docs/api/errors/81014, REFERENCE.md §4). Twilio names
-- no other; the widget fails before anything is sent, and `rivulet validate` flags it.
M.RESERVED_PARAMETERS = { method = true }

-- the first reserved name among Studio's {{key =, value =}} list (or a {k = v} map) | nil
function M.reserved_parameter(parameters)
  if type(parameters) ~= "table" then return nil end
  if parameters[1] ~= nil then
    for _, p in ipairs(parameters) do
      if type(p) == "table" and M.RESERVED_PARAMETERS[p.key] then return p.key end
    end
    return nil
  end
  for k in pairs(parameters) do
    if M.RESERVED_PARAMETERS[k] then return k end
  end
  return nil
end

-- why a widget with these parameters sends nothing (its failure's message) | nil
function M.reserved_refusal(parameters)
  local reserved = M.reserved_parameter(parameters)
  return reserved and format("parameter name '%s' is a reserved word (Studio error 81014): nothing was sent",
    reserved)
end

-- Whether url is Twilio's API, the only place Make HTTP Request's add_twilio_auth sends the
-- account's credentials to ("only valid for Twilio API URLs", REFERENCE.md §4, S-HTTP):
-- https to twilio.com or a host under it. stand_in: the base URL of a local stand-in for
-- Twilio's API (the engine option twilio's url), whose URLs count too.
function M.is_twilio_api(url, stand_in)
  if type(url) ~= "string" then return false end
  if type(stand_in) == "string" and stand_in ~= "" then
    local base = stand_in:gsub("/+$", "")
    local rest = url:sub(#base + 1, #base + 1)
    if url:sub(1, #base) == base and (rest == "" or rest == "/" or rest == "?") then return true end
  end
  local host = url:match("^[Hh][Tt][Tt][Pp][Ss]://([^/?#]*)")
  if not host then return false end
  host = lower(host:gsub("^.*@", ""):gsub(":%d*$", ""))
  return host == "twilio.com" or host:sub(-11) == ".twilio.com"
end

-- url without the user:password of its authority (add_twilio_auth overrides them)
function M.strip_userinfo(url)
  return (url:gsub("^(%a[%w+.-]*://)[^/?#@]*@", "%1"))
end

-- ---- X-Twilio-Signature ----------------------------------------------------------------

-- URL, then each name and value in name order; a repeated name's values sorted, and (as
-- twilio's own validator) each distinct value once. list: {name, value} pairs, strings, in
-- any order (the fourth argument, whether it is sorted, no longer matters). algorithm: "sha1"
-- (default) or "sha256" (Webhook Rules).
function M.signature(token, url, list, _, algorithm)
  return core.twilio_signature(token, url, list or {}, algorithm)
end

local function add_query(url, q)
  if q == "" then return url end
  local hash = find(url, "#", 1, true)
  local frag = ""
  if hash then url, frag = url:sub(1, hash - 1), url:sub(hash) end
  return url .. (find(url, "?", 1, true) and "&" or "?") .. q .. frag
end

-- ---- outcomes ---------------------------------------------------------------------------

-- whether a Content-Type is JSON's, remembered by its text: a server sends the same one
-- every time (bounded, as texts from outside could be many)
local JSON_TYPES_MAX = 256
local json_types, n_json_types = {}, 0

local function is_json(ct)
  local j = json_types[ct]
  if j ~= nil then return j end
  local mime = lower(ct):match("^%s*([^;%s]+)")
  j = mime == "application/json" or (mime ~= nil and mime:match("^application/[%w%.%-]+%+json$") ~= nil)
  if n_json_types >= JSON_TYPES_MAX then json_types, n_json_types = {}, 0 end
  json_types[ct], n_json_types = j, n_json_types + 1
  return j
end

-- A reply -> Studio's outcome, made of the reply's own table: o = {status_code,
-- content_type, body, headers, elapsed_ms, url, reason?, message?} (a transport failure
-- has its reason) gets event, and parsed for a JSON object. `ok` decides success from the
-- status.
local function outcome(o, ok, fail_event)
  if o.reason then
    o.event = fail_event
    return o
  end
  local status, body = o.status_code, o.body
  o.event = ok(status) and "success" or fail_event
  if o.event ~= "success" then
    o.reason = "http_status"
    o.message = format("HTTP status %d", status)
  end
  if body ~= "" and is_json(o.content_type) then
    local v, err = json.decode(body, true)
    if v == nil then
      o.reason = o.reason or "invalid_json"
      o.message = o.message or ("invalid JSON: " .. tostring(err))
    elseif type(v) == "table" and body:match("^%s*{") then   -- an object, not an array
      o.parsed = v
    else
      o.reason = o.reason or "not_json_object"
      o.message = o.message or "the JSON reply is not an object, so it is not parsed"
    end
  end
  return o
end

local function run_function_ok(status) return status >= 200 and status < 400 end
local function http_request_ok(status) return status >= 200 and status < 300 end

-- A reply that did not come over the network (a test's stub) takes the same road as one
-- that did: the body limit, the status rule, JSON parsing.
--   kind: "run_function" | "http_request"
--   reply: {status = 200, json = table | body = string, content_type =, headers = {name = value},
--           reason =, message =}
--          (reason set: a transport failure such as "timeout" or "connect_failed")
function M.simulate(kind, reply, max_body)
  local ok, fail_event = run_function_ok, "fail"
  if kind == "http_request" then ok, fail_event = http_request_ok, "failed" end
  local body, ctype = reply.body, reply.content_type
  if reply.json ~= nil then
    body = json.encode(reply.json)
    ctype = ctype or "application/json"
  end
  local headers = {}
  for k, v in pairs(reply.headers or {}) do headers[lower(tostring(k))] = tostring(v) end
  local r = { status_code = reply.status or 200, content_type = ctype or (body and "text/plain") or "",
              body = body or "", url = reply.url or "", elapsed_ms = reply.elapsed_ms or 0,
              reason = reply.reason, message = reply.message, headers = headers }
  if r.content_type ~= "" and headers["content-type"] == nil then headers["content-type"] = r.content_type end
  if r.reason then r.status_code, r.body, r.content_type, r.headers = 0, "", "", {} end
  if not r.reason and #r.body > (max_body or M.MAX_BODY) then
    r = { status_code = 0, content_type = "", body = "", url = r.url, elapsed_ms = r.elapsed_ms,
          reason = "too_large", headers = {},
          message = format("response body larger than %d bytes", max_body or M.MAX_BODY) }
  end
  return outcome(r, ok, fail_event)
end

-- ---- the client ---------------------------------------------------------------------------

local Client, Call = {}, {}
Client.__index, Call.__index = Client, Call

local function limit(args, opts, key, default)
  local v = args[key]
  if v == nil then v = opts[key] end
  if v == nil then return default end
  if math_type(v) ~= "integer" or v < 0 then error(format("%s must be a non-negative integer", key), 4) end
  return v
end

local function token_of(args, opts)
  local t = args.auth_token
  if t == nil then t = opts.auth_token end
  if t == nil then t = opts._env_token end
  if t ~= nil and type(t) ~= "string" then error("auth_token must be a string", 4) end
  if t == "" then t = nil end
  return t
end

-- no_url: why a Run Function call has nothing to call (Client:run_function), or nil
local function start(self, req, ok, fail_event, no_url)
  return setmetatable({ _call = self._c:start(req), _ok = ok, _fail = fail_event, _no_url = no_url }, Call)
end

local function base_request(self, args)
  if type(args) ~= "table" then error("expected a table of arguments", 3) end
  if type(args.url) ~= "string" then error("url must be a string", 3) end
  local o = self._opts
  local req = {
    url = args.url,
    timeout_ms = limit(args, o, "timeout_ms", M.TIMEOUT_MS),
    max_body = limit(args, o, "max_body", M.MAX_BODY),
    max_redirects = limit(args, o, "max_redirects", M.MAX_REDIRECTS),
    headers = { UA_HEADER },
    tag = args.tag,
  }
  local basic = args.basic_auth              -- "user:password" (Twilio's API: AC...:token)
  if basic ~= nil then
    if type(basic) ~= "string" then error("basic_auth must be a string \"user:password\"", 3) end
    req.headers[2] = "Authorization: Basic " .. core.base64_encode(basic)
  end
  return req
end

-- Run Function: POST the parameters form-encoded; success on 2xx or 3xx. A call with no
-- URL fails at once (bad_url: the C client refuses an empty URL before connecting); one
-- that names a function SID (a Studio export, not mapped to a URL) says so, reason no_url.
function Client:run_function(args)
  local no_url
  if type(args) == "table" and type(args.function_sid) == "string" and args.function_sid ~= ""
     and type(args.url) == "string" and args.url:match("^%s*$") then
    no_url = format("'%s' names function %s but has no url: a local run calls it through a " ..
      "mapping (--map-function %s=URL, a --functions file, or the engine option function_map)",
      tostring(args.widget or "the widget"), args.function_sid, args.function_sid)
  end
  local req = base_request(self, args)
  local list = pairs_of(args.parameters)
  local token = token_of(args, self._opts)
  req.method = "POST"
  req.body = form_encode(list)
  req.headers[#req.headers + 1] = FORM_HEADER
  if token then req.headers[#req.headers + 1] = "X-Twilio-Signature: " .. M.signature(token, args.url, list) end
  return start(self, req, run_function_ok, "fail", no_url)
end

-- Make HTTP Request: GET (parameters in the query) or POST (form or a JSON body); success
-- on 2xx only.
function Client:http_request(args)
  local req = base_request(self, args)
  local method = args.method or "GET"
  local ctype = args.content_type or "application/x-www-form-urlencoded"
  local list = pairs_of(args.parameters)
  local token = token_of(args, self._opts)
  local sign_list
  if method ~= "GET" and method ~= "POST" then error("method must be GET or POST", 2) end
  if method == "GET" then
    req.url = add_query(req.url, form_encode(list))
  elseif ctype == "application/json" then
    local body = args.body or ""
    if type(body) ~= "string" then error("body must be a string", 2) end
    if #list > 0 then req.url = add_query(req.url, form_encode(list)) end
    -- the JSON variant signs the URL with the body's SHA-256 in its query
    if token then req.url = add_query(req.url, "bodySHA256=" .. core.sha256_hex(body)) end
    req.body = body
    req.headers[#req.headers + 1] = "Content-Type: application/json"
  elseif ctype == "application/x-www-form-urlencoded" then
    req.body = form_encode(list)
    sign_list = list
    req.headers[#req.headers + 1] = FORM_HEADER
  else
    error(format("content_type must be application/x-www-form-urlencoded or application/json, not %s",
      tostring(ctype)), 2)
  end
  req.method = method
  if token then        -- sign_url: the URL the receiver checks against (a public URL behind a proxy)
    req.headers[#req.headers + 1] = "X-Twilio-Signature: " .. M.signature(token, args.sign_url or req.url, sign_list)
  end
  return start(self, req, http_request_ok, "failed")
end

function Client:poll(timeout_ms)
  return self._c:poll(timeout_ms or 0)
end

function Client:running()
  return self._c:running()
end

-- how many calls have finished so far (unchanged: nothing new to collect)
function Client:completed()
  return self._c:completed()
end

-- the tags of the calls (started with a tag) that finished since the last look, each once,
-- oldest first, or nil when none did: with thousands in flight, a caller visits only these
function Client:finished()
  return self._c:finished()
end

function Client:wait(call)
  while not call:done() do self._c:poll(100) end
  return call:outcome()
end

function Client:close()
  self._c:close()
end

-- the rivulet.core client underneath: a C host takes it once, to wait on its file
-- descriptors and deadline itself (rivulet.c's rivulet_fds and rivulet_timeout)
function Client:handle()
  return self._c
end

function Call:done()
  return self._call:done()
end

function Call:outcome()
  if self._outcome then return self._outcome end
  local r = self._call:reply()
  if not r then return nil end
  if self._no_url then r.reason, r.message = "no_url", self._no_url end
  self._outcome = outcome(r, self._ok, self._fail)
  return self._outcome
end

function M.client(opts)
  if opts ~= nil and type(opts) ~= "table" then error("client options must be a table", 2) end
  opts = opts or {}
  local o = {}
  for k, v in pairs(opts) do o[k] = v end
  o._env_token = getenv("RIVULET_AUTH_TOKEN")     -- read once per client
  return setmetatable({ _c = core.http_client(), _opts = o }, Client)
end

local default
local function default_client()
  if not default then default = M.client() end
  return default
end

-- Blocking forms for scripts and the REPL.
function M.run_function(args)
  local c = default_client()
  return c:wait(c:run_function(args))
end

function M.http_request(args)
  local c = default_client()
  return c:wait(c:http_request(args))
end

M.form_encode = function(parameters) return form_encode(pairs_of(parameters)) end

return M
