-- rivulet.test.text: how `rivulet test` writes values, messages and failures for people:
-- quoted text, values in one line, line diffs, the failure report. The other parts of
-- rivulet.test print through it; rivulet.test (the façade) re-exports absent, show,
-- line_diff and format_failure.

local type, pairs, ipairs, tostring, rawequal = type, pairs, ipairs, tostring, rawequal
local setmetatable = setmetatable
local format, find, sub, gsub = string.format, string.find, string.sub, string.gsub
local concat, sort = table.concat, table.sort
local max = math.max

local M = {}

-- the context expectation "nothing is there"; here, the lowest part of rivulet.test,
-- because show prints it
M.absent = setmetatable({}, { __tostring = function() return "absent" end,
                              __name = "rivulet.test.absent" })

-- text as a Lua-ish literal: quotes, escapes, nothing invisible
local QUOTED = { ["\n"] = "\\n", ["\t"] = "\\t", ["\r"] = "\\r", ['"'] = '\\"', ["\\"] = "\\\\" }
function M.quote(s)
  s = gsub(tostring(s), '[%c"\\]', function(c)
    local named = QUOTED[c]
    if named then return named end
    return format("\\%d", c:byte())
  end)
  return '"' .. s .. '"'
end
local quote = M.quote

-- message text as people read it; quoted only when whitespace at an end or control
-- characters would otherwise be invisible
function M.text(s)
  s = tostring(s)
  if s == "" or find(s, "^%s") or find(s, "%s$") or find(s, "[%z\1-\9\11-\31]") then
    return quote(s)
  end
  return s
end

function M.fn_where(f)
  local info = debug and debug.getinfo and debug.getinfo(f, "S")
  if info and info.short_src then
    return format("function (%s:%d)", info.short_src, info.linedefined or 0)
  end
  return "function"
end

-- a value in one line, for diffs
local function show(v, depth)
  depth = depth or 0
  local t = type(v)
  if rawequal(v, M.absent) then return "(absent)" end
  if t == "string" then return quote(v) end
  if t == "function" then return M.fn_where(v) end
  if t ~= "table" then return tostring(v) end
  if depth >= 3 then return "{…}" end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  sort(keys, function(a, b)
    if type(a) == type(b) and (type(a) == "number" or type(a) == "string") then return a < b end
    return type(a) < type(b)
  end)
  local parts, n = {}, #v
  for i, k in ipairs(keys) do
    if i > 24 then parts[#parts + 1] = "…" break end
    if math.type(k) == "integer" and k >= 1 and k <= n then
      parts[#parts + 1] = show(v[k], depth + 1)
    elseif type(k) == "string" and k:match("^[%a_][%w_]*$") then
      parts[#parts + 1] = k .. " = " .. show(v[k], depth + 1)
    else
      parts[#parts + 1] = "[" .. show(k, depth + 1) .. "] = " .. show(v[k], depth + 1)
    end
  end
  return "{" .. concat(parts, ", ") .. "}"
end
M.show = show

function M.lines_of(s)
  local out = {}
  for line in (tostring(s) .. "\n"):gmatch("(.-)\r?\n") do out[#out + 1] = line end
  return out
end
local lines_of = M.lines_of

-- a line diff (longest common subsequence) -> {{" "|"-"|"+", line}, ...}
function M.line_diff(a, b)
  local n, m = #a, #b
  if n * m > 250000 then
    local out = {}
    for _, l in ipairs(a) do out[#out + 1] = { "-", l } end
    for _, l in ipairs(b) do out[#out + 1] = { "+", l } end
    return out
  end
  local L = {}
  for i = n + 1, 1, -1 do
    L[i] = {}
    for j = m + 1, 1, -1 do
      if i > n or j > m then L[i][j] = 0
      elseif a[i] == b[j] then L[i][j] = L[i + 1][j + 1] + 1
      else L[i][j] = max(L[i + 1][j], L[i][j + 1]) end
    end
  end
  local out, i, j = {}, 1, 1
  while i <= n or j <= m do
    if i <= n and j <= m and a[i] == b[j] then
      out[#out + 1] = { " ", a[i] } i, j = i + 1, j + 1
    elseif j <= m and (i > n or L[i][j + 1] > L[i + 1][j]) then
      out[#out + 1] = { "+", b[j] } j = j + 1
    else
      out[#out + 1] = { "-", a[i] } i = i + 1
    end
  end
  return out
end

-- the first line of s, at most n characters (cut on a character boundary)
function M.clip(s, n)
  local ls = lines_of(s)
  local first, more = ls[1], #ls > 1
  if (utf8.len(first) or #first) > n then
    first = sub(first, 1, (utf8.offset(first, n) or n + 1) - 1)
    more = true
  end
  return more and (first .. "…") or first
end

-- a failed case as people read it: name, the conversation so far, where and what
function M.format_failure(r)
  local out = { format("FAIL %s: %s", tostring(r.spec), tostring(r.name)) }
  if r.unreadable or not r.failure then
    out[#out + 1] = "  " .. gsub(tostring(r.message), "\n", "\n  ")
    return concat(out, "\n") .. "\n"
  end
  if #r.transcript > 0 then
    out[#out + 1] = "  conversation:"
    for _, l in ipairs(r.transcript) do out[#out + 1] = "    " .. l end
  else
    out[#out + 1] = "  conversation: (nothing yet)"
  end
  local f = r.failure
  out[#out + 1] = "  " .. f.where .. ":"
  out[#out + 1] = "    " .. gsub(f.what, "\n", "\n    ")
  for _, d in ipairs(f.diff or {}) do out[#out + 1] = "      " .. d[1] .. " " .. d[2] end
  if f.trace then out[#out + 1] = "    " .. gsub(f.trace, "\n", "\n    ") end
  return concat(out, "\n") .. "\n"
end

return M
