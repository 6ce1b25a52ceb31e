-- rivulet.serve.request: what `rivulet serve` reads off an HTTP request (form and query
-- fields as Twilio sends them, HTTP Basic credentials, the header it asks for) and the
-- shapes of its answers (Twilio's JSON errors, TwiML).

local core = require "rivulet.core"
local json = require "rivulet.json"

local type, tonumber, ipairs, lower = type, tonumber, ipairs, string.lower
local char, format, gsub, concat = string.char, string.format, string.gsub, table.concat

local M = {}

local function hex(h) return char(tonumber(h, 16)) end

-- application/x-www-form-urlencoded text -> list of {name, value} in order (a name may
-- repeat: MediaUrl, TestUsers), with "+" as space and %XX decoded
function M.pairs_of(text)
  local list = {}
  if type(text) ~= "string" or text == "" then return list end
  for part in text:gmatch("[^&]+") do
    local k, v = part:match("^([^=]*)=?(.*)$")
    k = gsub(gsub(k, "+", " "), "%%(%x%x)", hex)
    v = gsub(gsub(v, "+", " "), "%%(%x%x)", hex)
    list[#list + 1] = { k, v }
  end
  return list
end

-- list of pairs -> map name -> value (the last one wins) and name -> {values} (repeats)
function M.fields(list)
  local one, all = {}, {}
  for _, p in ipairs(list) do
    one[p[1]] = p[2]
    local t = all[p[1]]
    if not t then t = {}; all[p[1]] = t end
    t[#t + 1] = p[2]
  end
  return one, all
end

-- a header's value (names compare without case), or nil
function M.header(req, name)
  name = lower(name)
  for _, h in ipairs(req.headers or {}) do
    if lower(h[1]) == name then return h[2] end
  end
  return nil
end

-- whether the request body is a form (as Twilio and its libraries send every POST)
function M.is_form(req)
  local ct = M.header(req, "Content-Type")
  return ct == nil or lower(ct):match("^%s*application/x%-www%-form%-urlencoded") ~= nil
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
