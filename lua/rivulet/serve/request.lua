-- rivulet.serve.request: what `rivulet serve` reads off an HTTP request (form and query
-- fields as Twilio sends them, HTTP Basic credentials, the header it asks for) and the
-- shapes of its answers (Twilio's JSON errors, TwiML).

local core = require "rivulet.core"
local json = require "rivulet.json"

local type, lower, setmetatable, rawget, rawset = type, string.lower, setmetatable, rawget, rawset
local format, gsub, concat = string.format, string.gsub, table.concat
local form_decode, error = core.form_decode, error

local M = {}

local function read_only() error("rivulet.serve.request: the fields of a request are read-only", 2) end

-- what a request without fields shares (most have no query): read-only, so that no handler
-- can leave something in it for the next request
local NONE = setmetatable({}, { __newindex = read_only })
local NONE_ALL = setmetatable({}, { __index = function() return false end, __newindex = read_only })

-- application/x-www-form-urlencoded text -> list of {name, value} in order (a name may
-- repeat: MediaUrl, TestUsers), with "+" as space and %XX decoded (in C: every webhook)
function M.pairs_of(text)
  if type(text) ~= "string" or text == "" then return {} end
  return core.form_decode(text)
end

-- the values of a name, gathered from the pairs (kept under LIST) on first use
local LIST = {}
local ALL = { __index = function(all, name)
  local t, list = nil, rawget(all, LIST)
  for i = 1, #list do
    local p = list[i]
    if p[1] == name then t = t or {}; t[#t + 1] = p[2] end
  end
  rawset(all, name, t or false)
  return t or false
end }

-- list of pairs -> map name -> value (the last one wins) and name -> {values} | false
-- (repeats: MediaUrl, TestUsers; read by name, not iterated)
function M.fields(list)
  if not list[1] then return NONE, NONE_ALL end
  local one = {}
  for i = 1, #list do
    local p = list[i]
    one[p[1]] = p[2]
  end
  return one, setmetatable({ [LIST] = list }, ALL)
end

-- form text -> list of pairs, map, all (as pairs_of and fields give them; the map made in
-- C with the list). No text: the shared empty ones.
function M.form(text)
  if type(text) ~= "string" or text == "" then return NONE, NONE, NONE_ALL end
  local list, one = form_decode(text, true)
  if not list[1] then return NONE, NONE, NONE_ALL end
  return list, one, setmetatable({ [LIST] = list }, ALL)
end

-- the lower-case form of the header names asked for (names written in the code)
local LOWER = setmetatable({}, { __index = function(t, name)
  local l = lower(name)
  t[name] = l
  return l
end })

-- a header's value (names compare without case), or nil. The request's headers are
-- indexed by lower-case name once: the server gives them so (req.header_map), a request
-- made as a plain table has them indexed on first use (a webhook asks for several).
function M.header(req, name)
  local map = req.header_map
  if not map then
    map = {}
    local hs = req.headers or {}
    for i = #hs, 1, -1 do map[lower(hs[i][1])] = hs[i][2] end    -- the first of a name wins
    req.header_map = map
  end
  return map[LOWER[name]]
end

local FORM_TYPE = "application/x-www-form-urlencoded"

-- whether the request body is a form (as Twilio and its libraries send every POST)
function M.is_form(req)
  local ct = M.header(req, "Content-Type")
  return ct == nil or ct == FORM_TYPE or lower(ct):match("^%s*application/x%-www%-form%-urlencoded") ~= nil
end

-- "Basic base64(user:password)" -> user, password | nil
function M.basic_auth(req)
  local h = M.header(req, "Authorization")
  local b64 = h and h:match("^%s*[Bb]asic%s+(%S+)%s*$")
  if not b64 then return nil end
  local plain = core.base64_decode(b64)
  if not plain then return nil end
  return plain:match("^([^:]*):(.*)$")
end

-- ---- answers ---------------------------------------------------------------------------

M.JSON = { { "Content-Type", "application/json; charset=utf-8" } }
M.XML = { { "Content-Type", "text/xml; charset=utf-8" } }

-- Twilio's error shape: {code, message, more_info, status[, details]}
function M.error(status, code, message, details)
  return status, M.JSON, json.encode{
    code = code, message = message, status = status, details = details,
    more_info = format("https://www.twilio.com/docs/errors/%d", code),
  }
end

function M.json(status, value)
  return status, M.JSON, core.json_encode(value)
end

-- TwiML: <Response> with the given verbs (already XML)
function M.twiml(verbs)
  return 200, M.XML, '<?xml version="1.0" encoding="UTF-8"?><Response>' .. concat(verbs or {}) .. "</Response>"
end

local XML_ESC = { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&apos;" }
function M.xml_escape(s)
  return (gsub(tostring(s), "[&<>\"']", XML_ESC))
end

return M
