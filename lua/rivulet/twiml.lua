-- rivulet.twiml: TwiML as plain data, the way a voice widget describes what Twilio must do
-- with the call (Twilio's TwiML voice reference: https://www.twilio.com/docs/voice/twiml),
-- and the XML that answers Twilio's webhook.
--
--   local v = twiml.verb("Gather", { input = "dtmf speech", action = twiml.callback("action") },
--                        { twiml.verb("Say", { voice = "Polly.Amy" }, "Press 1") })
--   twiml.render({ v, twiml.verb("Redirect", {}, twiml.callback("timeout")) }, url_of)
--     --> '<?xml version="1.0" encoding="UTF-8"?><Response><Gather action="…" …>…</Response>'
--
-- A verb is {name =, attrs = {name = value}, text = string | callback, children = {verbs}}.
-- An attribute or a text may be a callback marker (twiml.callback(kind)): the URL that
-- brings the call back to the execution is not the widget's business, so the host renders
-- it (url_of(kind) -> URL; rivulet serve's, see rivulet.serve). Attributes are written in
-- name order (the same widget always renders the same bytes); booleans as true/false; an
-- attribute left nil is left out (Twilio's default applies), "" is written (Gather's
-- finishOnKey="" means no finish key).

local type, pairs, ipairs, tostring, tonumber, error = type, pairs, ipairs, tostring, tonumber, error
local concat, sort = table.concat, table.sort
local format, gsub = string.format, string.gsub
local math_type = math.type

local M = {}

M.HEADER = '<?xml version="1.0" encoding="UTF-8"?>'

-- the URL of a callback into the execution: kind names which way the call came back
-- ("action", "redirect", "timeout", …). Plain data (a wait holding TwiML is stored as JSON).
function M.callback(kind)
  return { callback = kind }
end

function M.is_callback(v)
  return type(v) == "table" and type(v.callback) == "string" and v.append == nil
end

-- url with one more query parameter, `param`, whose value is a callback URL (TwiML
-- Redirect's return URL handed to the TwiML it redirects to)
function M.with_callback(url, param, kind)
  return { append = url, param = param, callback = kind }
end

local function enc(s)
  return (gsub(s, "[^%w%-%._~]", function(c) return format("%%%02X", c:byte()) end))
end

function M.verb(name, attrs, content)
  local v = { name = name, attrs = attrs or {} }
  if type(content) == "table" and type(content.callback) ~= "string" then v.children = content
  elseif content ~= nil then v.text = content end
  return v
end

local XML_ESC = { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&apos;" }
function M.escape(s)
  return (gsub(tostring(s), "[&<>\"']", XML_ESC))
end

local function value(v, url_of)
  if type(v) == "table" and type(v.callback) == "string" then
    if not url_of then error("a callback URL needs url_of", 3) end
    if v.append then
      return v.append .. (v.append:find("?", 1, true) and "&" or "?") .. v.param .. "=" .. enc(url_of(v.callback))
    end
    return url_of(v.callback)
  end
  if type(v) == "boolean" then return v and "true" or "false" end
  if math_type(v) == "float" and v == math.floor(v) then return format("%d", v) end
  return tostring(v)
end

local function render_verb(v, out, url_of)
  out[#out + 1] = "<" .. v.name
  local names = {}
  for k in pairs(v.attrs or {}) do
    names[#names + 1] = k              -- nil values are no keys: Twilio's default applies
  end
  sort(names)
  for _, k in ipairs(names) do
    out[#out + 1] = format(' %s="%s"', k, M.escape(value(v.attrs[k], url_of)))
  end
  if v.children and #v.children > 0 then
    out[#out + 1] = ">"
    for _, c in ipairs(v.children) do render_verb(c, out, url_of) end
    out[#out + 1] = "</" .. v.name .. ">"
  elseif v.text ~= nil and v.text ~= "" then
    out[#out + 1] = ">" .. M.escape(value(v.text, url_of)) .. "</" .. v.name .. ">"
  else
    out[#out + 1] = "/>"
  end
end

-- render(verbs, url_of) -> the TwiML document answering Twilio
function M.render(verbs, url_of)
  local out = { M.HEADER, "<Response>" }
  for _, v in ipairs(verbs or {}) do render_verb(v, out, url_of) end
  out[#out + 1] = "</Response>"
  return concat(out)
end

-- the first verb named `name`, searching nested verbs too, and its parent
function M.find(verbs, name, parent)
  for _, v in ipairs(verbs or {}) do
    if v.name == name then return v, parent end
    local f, p = M.find(v.children, name, v)
    if f then return f, p end
  end
  return nil
end

-- ---- Studio's properties as TwiML attributes ----------------------------------------------

-- a Studio property (strings in exports: "5", "true") as an attribute value; nil when unset
function M.int(v)
  local n = tonumber(v)
  if not n or n ~= n then return nil end
  return math.floor(n)
end

function M.bool(v)
  if v == true or v == "true" then return true end
  if v == false or v == "false" then return false end
  return nil
end

function M.str(v)
  if v == nil or v == "" or type(v) == "table" then return nil end
  return tostring(v)
end

-- <Parameter name= value=/> for each of Studio's {key, value} items
function M.parameters(list)
  local out = {}
  for _, kv in ipairs(type(list) == "table" and list or {}) do
    if type(kv) == "table" and M.str(kv.key) then
      out[#out + 1] = M.verb("Parameter", { name = kv.key, value = kv.value ~= nil and tostring(kv.value) or "" })
    end
  end
  return out
end

-- <Say> or <Play> for a widget's say/play/digits properties (Say/Play, Gather's prompt):
-- Studio's `say` wins over `play`; `digits` plays DTMF tones after either
function M.prompt(p)
  local out = {}
  local loop = M.int(p.loop)
  if M.str(p.say) then
    out[#out + 1] = M.verb("Say", { voice = M.str(p.voice), language = M.str(p.language), loop = loop }, p.say)
  elseif M.str(p.play) then
    out[#out + 1] = M.verb("Play", { loop = loop }, p.play)
  end
  if M.str(p.digits) then out[#out + 1] = M.verb("Play", { digits = p.digits }) end
  return out
end

return M
