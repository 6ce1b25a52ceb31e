-- rivulet.repl: what `rivulet repl` (src/main.c) asks of Lua: how a value prints, what Tab
-- completes, and the words the prompt understands besides Lua (help, exit).
--
--   repl.show(...)              -- prints the values of an expression, as the prompt does
--   repl.pretty(v)              -- v as text: tables as Lua constructors, nested, sorted
--   repl.complete(word, env)    -- the candidates for Tab: "rivulet.liq" -> {"rivulet.liquid"}
--   repl.command(line)          -- "help" | "exit" | nil (an ordinary Lua line)
--
-- Printing is bounded (MAX_DEPTH, MAX_ITEMS, MAX_CHARS): a flow, an execution or _G print in
-- a screenful, with "..." where something was left out, never an endless stream.

local type, pairs, ipairs, tostring, getmetatable, rawget, next, select =
  type, pairs, ipairs, tostring, getmetatable, rawget, next, select
local format, concat, sort = string.format, table.concat, table.sort

local M = {}

M.MAX_DEPTH = 4        -- nested tables shown; deeper ones print as {...}
M.MAX_ITEMS = 40       -- entries shown per table; the rest is counted ("... 12 more")
M.MAX_CHARS = 8000     -- a whole value's text; past it the text is cut and says so
M.LINE_WIDTH = 78      -- a table that fits on one line of this many characters prints on one

M.HELP = [[
rivulet repl: Lua 5.4 with `rivulet` loaded. Type Lua; an expression prints its value.

  flow = rivulet.load_flow("flows/random_number.lua")    a flow (.lua or Studio JSON)
  rivulet.validate(flow)                                 true, problems
  rivulet.liquid.render("{{ 1 | plus: 2 }}", {})         Liquid
  e = rivulet.engine{ on_message = function(_, m) print(m.body) end }
  x = e:start(flow, { from = "+15550001111", to = "+15559990000", body = "hi" })
  _ = e:deliver{ from = "+15550001111", to = "+15559990000", body = "1" }   a reply
  x.state                                                "max_value": where it waits
  rivulet.run_function{ url = "http://127.0.0.1:3000/f", parameters = { a = 1 } }

Tab completes names (rivulet.li<Tab>, x:<Tab> for methods). A line that does not end a
statement continues on the next (">>"). Ctrl-C drops the line or stops running code;
Ctrl-D or `exit` leaves. History is kept in ~/.rivulet_history.
The API is in README.md (From Lua, Liquid, Functions over HTTP, Embedding).]]

local KEYWORDS = { "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto",
                   "if", "in", "local", "nil", "not", "or", "repeat", "return", "then", "true", "until",
                   "while" }

-- ---- printing ------------------------------------------------------------------------------

local ESCAPES = { ["\\"] = "\\\\", ['"'] = '\\"', ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }

local function quote(s)
  return '"' .. s:gsub('[\\"\n\r\t]', ESCAPES):gsub("[%z\1-\31\127]", function(c)
    return format("\\%d", c:byte())
  end) .. '"'
end

local function is_identifier(k)
  if type(k) ~= "string" or not k:match("^[%a_][%w_]*$") then return false end
  for _, w in ipairs(KEYWORDS) do if w == k then return false end end
  return true
end

local TYPE_ORDER = { number = 1, string = 2, boolean = 3 }

local function key_before(a, b)
  local ta, tb = TYPE_ORDER[type(a)] or 4, TYPE_ORDER[type(b)] or 4
  if ta ~= tb then return ta < tb end
  if ta == 1 or ta == 2 then return a < b end
  return tostring(a) < tostring(b)
end

local function has_tostring(v)
  local mt = getmetatable(v)
  return type(mt) == "table" and rawget(mt, "__tostring") ~= nil
end

local function scalar(v)
  if type(v) == "string" then return quote(v) end
  if type(v) == "number" and math.type(v) == "float" and v == math.floor(v) and v < 2^53 and v > -2^53 then
    return format("%.1f", v)        -- 3.0 stays a float on screen
  end
  return tostring(v)
end

-- the text of v; `seen` holds the tables on the way down (a cycle prints as <cycle>)
local function render(v, depth, seen, indent)
  if type(v) ~= "table" or has_tostring(v) then return scalar(v) end
  if seen[v] then return "<cycle>" end
  if next(v) == nil then return "{}" end
  if depth >= M.MAX_DEPTH then return "{...}" end
  seen[v] = true
  local n = #v
  local keys = {}
  for k in pairs(v) do
    if not (math.type(k) == "integer" and k >= 1 and k <= n) then keys[#keys + 1] = k end
  end
  sort(keys, key_before)
  local items, total = {}, n + #keys
  local inner = indent .. "  "
  for i = 1, n do
    if #items >= M.MAX_ITEMS then break end
    items[#items + 1] = render(v[i], depth + 1, seen, inner)
  end
  for _, k in ipairs(keys) do
    if #items >= M.MAX_ITEMS then break end
    local ks = is_identifier(k) and k or ("[" .. scalar(k) .. "]")
    items[#items + 1] = ks .. " = " .. render(v[k], depth + 1, seen, inner)
  end
  seen[v] = nil
  if total > #items then items[#items + 1] = format("... %d more", total - #items) end
  local one = "{ " .. concat(items, ", ") .. " }"
  if #one + #indent <= M.LINE_WIDTH and not one:find("\n", 1, true) then return one end
  return "{\n" .. inner .. concat(items, ",\n" .. inner) .. "\n" .. indent .. "}"
end

-- pretty(v) -> text. A string at the top prints as itself (as print does), inside a table
-- quoted.
function M.pretty(v)
  if type(v) == "string" then return v end
  local text = render(v, 0, {}, "")
  if #text > M.MAX_CHARS then
    text = text:sub(1, M.MAX_CHARS) .. format("\n... (%d characters in all; index the table for the rest)", #text)
  end
  return text
end

-- show(...): what the prompt prints for an expression's values, tab-separated
function M.show(...)
  local out = {}
  for i = 1, select("#", ...) do out[i] = M.pretty((select(i, ...))) end
  io.stdout:write(concat(out, "\t"), "\n")
  io.stdout:flush()
end

-- ---- completion ------------------------------------------------------------------------------

-- the fields of t a completion may offer: its own string keys, those its metatable's
-- __index table provides (methods of objects), and the names its metatable's __lazy table
-- lists (fields an __index function loads on first use, as rivulet.http: named, not loaded)
local function fields(t, out, depth)
  if depth > 3 then return end
  if type(t) == "table" then
    for k in pairs(t) do if type(k) == "string" then out[k] = out[k] or t[k] end end
  end
  local mt = getmetatable(t)
  local lazy = type(mt) == "table" and rawget(mt, "__lazy")
  if type(lazy) == "table" then
    for k in pairs(lazy) do if type(k) == "string" then out[k] = out[k] or true end end
  end
  local idx = type(mt) == "table" and rawget(mt, "__index")
  if type(idx) == "table" then fields(idx, out, depth + 1) end
end

-- complete(word, env) -> sorted candidates, each the whole word. word is what stands before
-- the cursor back to a space or a bracket: a name, or a path of names with "." and a last
-- ":" (methods).
function M.complete(word, env)
  env = env or _G
  local head, sep, partial = word:match("^(.*)([%.:])([%a_]?[%w_]*)$")
  local scope
  if head then
    scope = env
    for name in (head .. "."):gmatch("([^%.:]+)[%.:]") do
      if not name:match("^[%a_][%w_]*$") then return {} end
      local ok, v = pcall(function() return scope[name] end)   -- an __index may raise
      if not ok or (type(v) ~= "table" and type(v) ~= "userdata" and type(v) ~= "string") then return {} end
      scope = type(v) == "string" and string or v
    end
  else
    head, sep, partial = "", "", word
  end
  local found = {}
  if head == "" then
    fields(env, found, 0)
    for _, k in ipairs(KEYWORDS) do found[k] = found[k] or true end
    found.help, found.exit = found.help or true, found.exit or true
  else
    fields(scope, found, 0)
  end
  local out = {}
  for k, v in pairs(found) do
    local name_ok = is_identifier(k) or (head == "" and k:match("^%a+$"))   -- keywords at the start
    if k:sub(1, #partial) == partial and name_ok and (sep ~= ":" or type(v) == "function") then
      out[#out + 1] = head .. sep .. k
    end
  end
  sort(out)
  return out
end

-- what follows a lone candidate: "." after a table, "(" after a function, else a space
function M.suffix(word, env)
  env = env or _G
  local v = env
  for name in word:gmatch("[^%.:]+") do
    if type(v) ~= "table" then return " " end
    local ok, x = pcall(function() return v[name] end)
    if not ok then return " " end
    v = x
  end
  if type(v) == "table" then return "." end
  if type(v) == "function" then return "(" end
  return " "
end

-- ---- words -------------------------------------------------------------------------------

-- "help" | "exit" | nil: `help`, `exit` and `quit` (with or without "()") are words of the
-- prompt, unless a global of that name was defined
function M.command(line, env)
  env = env or _G
  local w = line:match("^%s*(%a+)%s*%(?%s*%)?%s*;?%s*$")
  if not w or rawget(env, w) ~= nil then return nil end
  if w == "help" then return "help" end
  if w == "exit" or w == "quit" then return "exit" end
  return nil
end

return M
