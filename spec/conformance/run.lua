-- rivulet Liquid conformance runner: golden-liquid (JSON) and Shopify liquid-spec (YAML).
--
--   lua5.4 spec/conformance/run.lua [-v] [--filter TEXT] [--suite NAME] [--list-failures FILE]
--                                   [--check | --record]
--   build/rivulet lua spec/conformance/run.lua ...
--
-- Run from the repository root. The suites are read in place from $RIVULET_SHARED/liquid
-- (default ../shared/liquid). See spec/conformance/README.md.

local argv = arg or { ... }

------------------------------------------------------------------------------------------
-- Paths and the engine
------------------------------------------------------------------------------------------

local script = argv[0] or "spec/conformance/run.lua"
local root = script:match("^(.*)/spec/conformance/[^/]*$") or "."
local function rel(p) return root == "." and p or (root .. "/" .. p) end

package.path = rel("lua/?.lua") .. ";" .. rel("lua/?/init.lua") .. ";" .. package.path
  .. ";/usr/share/lua/5.4/?.lua;/usr/share/lua/5.4/?/init.lua"   -- Debian's lyaml, if the host lacks them
package.cpath = rel("build/lib/?.so") .. ";" .. rel("build/?.so") .. ";" .. package.cpath
  .. ";/usr/lib/x86_64-linux-gnu/lua/5.4/?.so;/usr/lib/aarch64-linux-gnu/lua/5.4/?.so"

local SHARED = os.getenv("RIVULET_SHARED") or rel("../shared")
local LIQUID_DIR = SHARED .. "/liquid"
local RECORD_FILE = rel("spec/conformance/record.lua")

local have_cjson, cjson = pcall(require, "cjson")
if not have_cjson then cjson = nil end
local NULL = cjson and cjson.null or setmetatable({}, { __name = "null", __tostring = function() return "null" end })
local ARRAY_MT = cjson and cjson.array_mt or nil
local EMPTY_ARRAY_MT = cjson and (cjson.empty_array_mt or cjson.array_mt) or nil

-- Lua tables lose the key order of JSON objects and YAML mappings (and Lua 5.4 seeds its
-- string hashes per process). Each hash we hand the engine carries its document key order
-- as getmetatable(t).__keys = { key1, key2, ... }, which the engine iterates by (without
-- it, by sorted key). RIVULET_KEY_ORDER=0 turns this off.
local KEY_ORDER = os.getenv("RIVULET_KEY_ORDER") ~= "0"
local function with_order(t, keys)
  if KEY_ORDER and #keys > 1 then setmetatable(t, { __keys = keys }) end
  return t
end

local engine_ok, rivulet = pcall(require, "rivulet")
local liquid = engine_ok and type(rivulet) == "table" and rivulet.liquid or nil
local engine_problem
if not engine_ok then
  engine_problem = tostring(rivulet)
elseif type(liquid) ~= "table" or type(liquid.compile) ~= "function" then
  engine_problem = "rivulet.liquid.compile is missing"
  liquid = nil
end

-- Empty JSON arrays / YAML sequences must stay arrays. Debian's lua-cjson 2.1.0 has no
-- array_mt, so mark arrays with our own metatable and register it with the engine.
if not ARRAY_MT and engine_ok and type(rivulet) == "table" and type(rivulet.core) == "table"
   and type(rivulet.core.liquid_array_mt) == "function" then
  ARRAY_MT = { __name = "conformance.array" }
  EMPTY_ARRAY_MT = ARRAY_MT
  rivulet.core.liquid_array_mt(ARRAY_MT)
end

------------------------------------------------------------------------------------------
-- Small helpers
------------------------------------------------------------------------------------------

local function read_file(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local s = f:read("a")
  f:close()
  return s
end

local function file_exists(path)
  local f = io.open(path, "rb")
  if f then f:close() return true end
  return false
end

local function list_dir(dir, suffix)
  -- io.popen is the only portable way to list a directory from plain Lua.
  local p = io.popen('ls -1 "' .. dir .. '" 2>/dev/null')
  if not p then return {} end
  local out = {}
  for name in p:lines() do
    if not suffix or name:sub(-#suffix) == suffix then out[#out + 1] = name end
  end
  p:close()
  table.sort(out)
  return out
end

local function show(s, max)
  max = max or 300
  if s == nil then return "nil" end
  s = tostring(s)
  local q = string.format("%q", s):gsub("\\\n", "\\n")
  if #q > max then q = q:sub(1, max) .. "... (" .. #s .. " bytes)" end
  return q
end

local function icontains(hay, needle)
  return hay:lower():find(needle:lower(), 1, true) ~= nil
end

------------------------------------------------------------------------------------------
-- JSON: integers stay integers, arrays get cjson's array metatable when it has one.
-- (Debian's lua-cjson 2.1.0 decodes every number as a float and has no array_mt.)
------------------------------------------------------------------------------------------

local json_decode
do
  local byte, sub, find = string.byte, string.sub, string.find
  local utf8char = utf8.char
  local escapes = { [34] = '"', [92] = "\\", [47] = "/", [98] = "\b", [102] = "\f",
                    [110] = "\n", [114] = "\r", [116] = "\t" }
  local s, pos

  local function fail(msg) error(string.format("JSON: %s at byte %d", msg, pos), 0) end

  local function skip()
    pos = find(s, "[^ \t\r\n]", pos) or #s + 1
  end

  local value

  local function str()
    pos = pos + 1
    local parts, n = {}, 0
    while true do
      local a = find(s, '["\\]', pos)
      if not a then fail("unterminated string") end
      if a > pos then n = n + 1; parts[n] = sub(s, pos, a - 1) end
      if byte(s, a) == 34 then pos = a + 1; break end
      local e = byte(s, a + 1)
      if e == 117 then
        local cp = tonumber(sub(s, a + 2, a + 5), 16) or fail("bad \\u escape")
        pos = a + 6
        if cp >= 0xD800 and cp <= 0xDBFF and sub(s, pos, pos + 1) == "\\u" then
          local lo = tonumber(sub(s, pos + 2, pos + 5), 16)
          if lo and lo >= 0xDC00 and lo <= 0xDFFF then
            cp = 0x10000 + (cp - 0xD800) * 0x400 + (lo - 0xDC00)
            pos = pos + 6
          end
        end
        n = n + 1; parts[n] = utf8char(cp)
      else
        n = n + 1; parts[n] = escapes[e] or fail("bad escape")
        pos = a + 2
      end
    end
    return table.concat(parts)
  end

  local function num()
    local a, b, int, frac, exp = find(s, "^(-?%d+)(%.?%d*)([eE]?[-+]?%d*)", pos)
    if not a then fail("bad number") end
    pos = b + 1
    if frac == "" and exp == "" then
      local v = math.tointeger(tonumber(int))
      if v then return v end
    end
    return tonumber(int .. frac .. exp) + 0.0
  end

  function value()
    skip()
    local c = byte(s, pos)
    if c == 123 then                               -- {
      local t, keys = {}, {}
      pos = pos + 1; skip()
      if byte(s, pos) == 125 then pos = pos + 1; return t end
      while true do
        skip()
        if byte(s, pos) ~= 34 then fail("expected a key") end
        local k = str()
        skip()
        if byte(s, pos) ~= 58 then fail("expected ':'") end
        pos = pos + 1
        if t[k] == nil then keys[#keys + 1] = k end
        t[k] = value()
        skip()
        c = byte(s, pos); pos = pos + 1
        if c == 125 then return with_order(t, keys) end
        if c ~= 44 then fail("expected ',' or '}'") end
      end
    elseif c == 91 then                            -- [
      local t, n = {}, 0
      pos = pos + 1; skip()
      if byte(s, pos) == 93 then
        pos = pos + 1
        if EMPTY_ARRAY_MT then setmetatable(t, EMPTY_ARRAY_MT) end
        return t
      end
      while true do
        n = n + 1; t[n] = value()
        skip()
        c = byte(s, pos); pos = pos + 1
        if c == 93 then break end
        if c ~= 44 then fail("expected ',' or ']'") end
      end
      if ARRAY_MT then setmetatable(t, ARRAY_MT) end
      return t
    elseif c == 34 then return str()
    elseif c == 116 and sub(s, pos, pos + 3) == "true" then pos = pos + 4; return true
    elseif c == 102 and sub(s, pos, pos + 4) == "false" then pos = pos + 5; return false
    elseif c == 110 and sub(s, pos, pos + 3) == "null" then pos = pos + 4; return NULL
    else return num() end
  end

  function json_decode(text)
    s, pos = text, 1
    local v = value()
    skip()
    if pos <= #s then fail("trailing garbage") end
    s = nil
    return v
  end
end

------------------------------------------------------------------------------------------
-- YAML: the first document only (as Ruby's Psych.load does), keeping what cannot be
-- expressed in JSON visible: Ruby tags, !binary, timestamps, symbols, non-string keys,
-- `instantiate:` objects. Built on the event parser in lyaml's C module.
------------------------------------------------------------------------------------------

local IS_SEQ = setmetatable({}, { __mode = "k" })      -- tables that were YAML sequences
local KEYS = setmetatable({}, { __mode = "k" })        -- mapping -> keys in document order
local NONJSON = setmetatable({}, { __mode = "k" })     -- table -> why it is not JSON
local SENTINEL_MT = { __name = "yaml.special",
  __tostring = function(v) return "<" .. v.kind .. (v.tag and (" " .. v.tag) or "") .. ">" end }
local function special(kind, extra)
  local v = extra or {}
  v.kind = kind
  return setmetatable(v, SENTINEL_MT)
end
local function is_special(v) return getmetatable(v) == SENTINEL_MT end

local yaml_load
do
  local ok_yaml, yaml_c = pcall(require, "yaml")
  local TAG = "tag:yaml.org,2002:"

  local function b64decode(s)
    local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    s = s:gsub("[^%w%+/]", "")
    local out, bits, nbits = {}, 0, 0
    for i = 1, #s do
      local v = alphabet:find(s:sub(i, i), 1, true) - 1
      bits = (bits << 6) | v; nbits = nbits + 6
      if nbits >= 8 then
        nbits = nbits - 8
        out[#out + 1] = string.char((bits >> nbits) & 0xFF)
      end
    end
    return table.concat(out)
  end

  local function to_int(digits, base, neg)
    digits = digits:gsub("[_,]", "")
    if digits == "" then return nil end
    local v = math.tointeger(tonumber(digits, base))
    if not v then return special("bignum", { text = digits }) end
    -- tonumber with a base wraps around silently; check the decimal case exactly
    if base == 10 and tostring(v) ~= (digits:gsub("^0+(%d)", "%1")) then
      return special("bignum", { text = digits })
    end
    return neg and -v or v
  end

  -- Psych-like (YAML 1.1) resolution of a plain scalar.
  local function plain(v)
    if v == "" or v == "~" or v == "null" or v == "Null" or v == "NULL" then return NULL end
    local l = v:lower()
    if l == "true" or l == "yes" or l == "on" then return true end
    if l == "false" or l == "no" or l == "off" then return false end
    local c = v:byte(1)
    if c == 58 and #v > 1 then return special("symbol", { name = v:sub(2):gsub("^([\"'])(.*)%1$", "%2") }) end
    if (c >= 48 and c <= 57) or c == 43 or c == 45 or c == 46 then
      local sign, rest = v:match("^([-+]?)(.*)$")
      local neg = sign == "-"
      local d
      d = rest:match("^0b([01_,]+)$");            if d then return to_int(d, 2, neg) end
      d = rest:match("^0x([%x_,]+)$");            if d then return to_int(d, 16, neg) end
      d = rest:match("^0([0-7_,]+)$");            if d then return to_int(d, 8, neg) end
      if rest == "0" then return 0 end
      -- Psych's strict integer form: "_" or "," only between digits ("1," stays a string)
      d = rest:match("^([1-9][0-9_,]*)$")
      if d and not d:find("[_,][_,]") and not d:find("[_,]$") then return to_int(d, 10, neg) end
      if rest:match("^[0-9][0-9_]*:[0-5]?[0-9][:0-9]*$") then
        local n = 0
        for part in rest:gsub("_", ""):gmatch("[^:]+") do n = n * 60 + tonumber(part) end
        return neg and -n or n
      end
      if rest:match("^[0-9][0-9_,]*%.[0-9]*$") or rest:match("^[0-9][0-9_,]*%.[0-9]*[eE][-+][0-9]+$")
         or rest:match("^%.[0-9]+$") or rest:match("^%.[0-9]+[eE][-+][0-9]+$") then
        local f = tonumber((rest:gsub("[_,]", ""):gsub("%.([eE])", ".0%1"):gsub("%.$", ".0")))
        if f then f = f + 0.0; return neg and -f or f end
      end
      if rest == ".inf" or rest == ".Inf" or rest == ".INF" then return special("float", { value = neg and -math.huge or math.huge }) end
      if v == ".nan" or v == ".NaN" or v == ".NAN" then return special("float", { value = 0 / 0 }) end
      if v:match("^%d%d%d%d%-%d%d?%-%d%d?$") then return special("date", { text = v }) end
      if v:match("^%-?%d%d%d%d%-%d%d?%-%d%d?[Tt%s]%s*%d%d?:%d%d:%d%d") then return special("time", { text = v }) end
    end
    return v
  end

  local function scalar(ev)
    local tag, v = ev.tag, ev.value
    if tag == nil then
      if ev.style == "PLAIN" then return plain(v) end
      return v
    end
    if tag == "!" or tag == TAG .. "str" then return v end
    if tag == TAG .. "binary" or tag == "!binary" then return special("binary", { value = b64decode(v) }) end
    if tag == TAG .. "int" or tag == TAG .. "float" or tag == TAG .. "bool" or tag == TAG .. "null" then
      local r = plain(v)
      return r
    end
    return special("tag", { tag = tag, value = v })
  end

  -- Returns the first document, and the byte offset where it ended.
  function yaml_load(text)
    if not ok_yaml then error("lyaml's C module 'yaml' is not available: " .. tostring(yaml_c), 0) end
    local nextev = yaml_c.parser(text)
    local anchors = {}
    local ev
    local function advance()
      local ok, e = pcall(nextev)
      if not ok then error("YAML: " .. tostring(e), 0) end
      if not e then error("YAML: unexpected end of stream", 0) end
      ev = e
      return e.type
    end
    local node
    function node()
      local t = ev.type
      if t == "SCALAR" then
        local v = scalar(ev)
        if ev.anchor then anchors[ev.anchor] = v end
        return v
      elseif t == "ALIAS" then
        local v = anchors[ev.anchor]
        if v == nil then error("YAML: unknown alias " .. tostring(ev.anchor), 0) end
        return v
      elseif t == "SEQUENCE_START" then
        local seq, n, tag = {}, 0, ev.tag
        if ev.anchor then anchors[ev.anchor] = seq end
        IS_SEQ[seq] = true
        if tag and tag ~= TAG .. "seq" then NONJSON[seq] = "Ruby tag" end
        while advance() ~= "SEQUENCE_END" do
          n = n + 1; seq[n] = node()
        end
        return seq
      elseif t == "MAPPING_START" then
        local map, tag, keys = {}, ev.tag, {}
        KEYS[map] = keys
        if ev.anchor then anchors[ev.anchor] = map end
        if tag and tag ~= TAG .. "map" then NONJSON[map] = "Ruby tag" end
        while advance() ~= "MAPPING_END" do
          local k = node()
          advance()
          local v = node()
          if k == "<<" and type(v) == "table" then
            local list = IS_SEQ[v] and v or { v }
            for _, m in ipairs(list) do
              if type(m) == "table" then
                for _, mk in ipairs(KEYS[m] or {}) do
                  if map[mk] == nil then keys[#keys + 1] = mk; map[mk] = m[mk] end
                end
              end
            end
          elseif type(k) == "string" then
            if map[k] == nil then keys[#keys + 1] = k end
            map[k] = v
          else
            NONJSON[map] = "non-string key"
            if type(k) ~= "table" and k ~= NULL and k ~= nil then map[k] = v end
          end
        end
        return map
      end
      error("YAML: unexpected event " .. tostring(t), 0)
    end
    if advance() ~= "STREAM_START" then error("YAML: no stream start", 0) end
    if advance() == "STREAM_END" then return nil, #text end
    -- DOCUMENT_START
    advance()
    local doc = node()
    advance() -- DOCUMENT_END
    -- After an explicit "..." more documents may follow; return where this one ended
    -- (marks count characters, not bytes, so go by line).
    local stop = #text
    if ev.implicit == false and ev.end_mark then
      local line, pos = ev.end_mark.line, 1
      for _ = 1, line + 1 do
        local nl = text:find("\n", pos, true)
        if not nl then pos = #text + 1; break end
        pos = nl + 1
      end
      stop = pos - 1
    end
    return doc, stop
  end
end

-- Why a YAML value cannot go over JSON (nil when it can).
local function non_json(v, depth)
  depth = depth or 0
  if depth > 64 then return "too deep (cyclic alias?)" end
  local tv = type(v)
  if tv == "string" then
    if v:match("^instantiate:") then return "Ruby object (" .. v:match("^instantiate:([%w_]*)") .. ")" end
    if not utf8.len(v) then return "string is not UTF-8" end
    return nil
  elseif tv == "number" then
    if v ~= v or v == math.huge or v == -math.huge then return "NaN/Infinity" end
    return nil
  elseif tv == "boolean" or v == NULL then
    return nil
  elseif is_special(v) then
    return "Ruby " .. v.kind .. " value"
  elseif tv == "table" then
    if NONJSON[v] then return NONJSON[v] end
    if not IS_SEQ[v] then
      for k in pairs(v) do
        if type(k) == "string" and k:match("^instantiate:") then
          return "Ruby object (" .. k:match("^instantiate:([%w_]*)") .. ")"
        end
      end
    end
    for _, x in pairs(v) do
      local why = non_json(x, depth + 1)
      if why then return why end
    end
    return nil
  end
  return "unexpected " .. tv
end

-- A fresh copy of a YAML value in the engine's terms (sequences carry cjson's array mt).
local function to_engine(v)
  if type(v) ~= "table" or v == NULL then return v end
  local t = {}
  for k, x in pairs(v) do t[k] = to_engine(x) end
  if IS_SEQ[v] then
    if #t == 0 then
      if EMPTY_ARRAY_MT then setmetatable(t, EMPTY_ARRAY_MT) end
    elseif ARRAY_MT then
      setmetatable(t, ARRAY_MT)
    end
  elseif KEYS[v] then
    with_order(t, KEYS[v])
  end
  return t
end

------------------------------------------------------------------------------------------
-- A small regular-expression matcher (Thompson NFA) for liquid-spec's expected_pattern.
-- Supports literals, ., [...] classes, \d \w \s \D \W \S, groups, |, * + ? {n,m},
-- ^ $ \A \z \Z, and the (?m) flag (Ruby: dot matches newline). Byte-oriented.
------------------------------------------------------------------------------------------

local regex_find
do
  local function class_of(esc)
    if esc == "d" then return function(c) return c >= 48 and c <= 57 end end
    if esc == "w" then return function(c) return (c >= 48 and c <= 57) or (c >= 65 and c <= 90) or (c >= 97 and c <= 122) or c == 95 end end
    if esc == "s" then return function(c) return c == 32 or (c >= 9 and c <= 13) end end
    local up = esc:lower()
    if esc ~= up then
      local f = class_of(up)
      if f then return function(c) return not f(c) end end
    end
    return nil
  end
  local simple_escapes = { n = 10, t = 9, r = 13, f = 12, v = 11, e = 27 }

  local function parse(p)
    local i, flags_dotall = 1, false
    local alt
    local function atom()
      local c = p:sub(i, i)
      if c == "(" then
        if p:sub(i, i + 3) == "(?m)" then i = i + 4; flags_dotall = true; return { t = "empty" } end
        if p:sub(i, i + 2) == "(?:" then i = i + 3 else i = i + 1 end
        local inner = alt()
        if p:sub(i, i) ~= ")" then error("regex: missing )") end
        i = i + 1
        return inner
      elseif c == "." then i = i + 1; return { t = "any" }
      elseif c == "^" then i = i + 1; return { t = "bol" }
      elseif c == "$" then i = i + 1; return { t = "eol" }
      elseif c == "[" then
        i = i + 1
        local neg = false
        if p:sub(i, i) == "^" then neg = true; i = i + 1 end
        local tests, first = {}, true
        while i <= #p and (p:sub(i, i) ~= "]" or first) do
          first = false
          local ch = p:sub(i, i)
          local lo
          if ch == "\\" then
            local e = p:sub(i + 1, i + 1)
            i = i + 2
            local f = class_of(e)
            if f then tests[#tests + 1] = f else lo = simple_escapes[e] or e:byte() end
          else
            lo = ch:byte(); i = i + 1
          end
          if lo then
            local hi = lo
            if p:sub(i, i) == "-" and p:sub(i + 1, i + 1) ~= "]" and i + 1 <= #p then
              hi = p:byte(i + 1); i = i + 2
            end
            local a, b = lo, hi
            tests[#tests + 1] = function(x) return x >= a and x <= b end
          end
        end
        i = i + 1
        return { t = "set", f = function(x)
          for _, f in ipairs(tests) do if f(x) then return not neg end end
          return neg
        end }
      elseif c == "\\" then
        local e = p:sub(i + 1, i + 1)
        i = i + 2
        if e == "A" then return { t = "bos" } end
        if e == "z" then return { t = "eos" } end
        if e == "Z" then return { t = "eosnl" } end
        local f = class_of(e)
        if f then return { t = "set", f = f } end
        local b = simple_escapes[e] or e:byte()
        return { t = "set", f = function(x) return x == b end }
      else
        i = i + 1
        local b = c:byte()
        return { t = "set", f = function(x) return x == b end }
      end
    end
    local function piece()
      local a = atom()
      while true do
        local q = p:sub(i, i)
        local lo, hi
        if q == "*" then lo, hi = 0, nil; i = i + 1
        elseif q == "+" then lo, hi = 1, nil; i = i + 1
        elseif q == "?" then lo, hi = 0, 1; i = i + 1
        elseif q == "{" and p:find("^{%d*,?%d*}", i) then
          local body = p:match("^{(%d*,?%d*)}", i)
          i = i + #body + 2
          local x, comma, y = body:match("^(%d*)(,?)(%d*)$")
          lo = tonumber(x) or 0
          if comma == "" then hi = lo else hi = tonumber(y) end
        else
          return a
        end
        if p:sub(i, i) == "?" or p:sub(i, i) == "+" then i = i + 1 end -- lazy/possessive: same set of matches
        a = { t = "rep", node = a, lo = lo, hi = hi }
      end
    end
    local function seq()
      local items = {}
      while i <= #p and p:sub(i, i) ~= "|" and p:sub(i, i) ~= ")" do items[#items + 1] = piece() end
      return { t = "seq", items = items }
    end
    function alt()
      local branches = { seq() }
      while p:sub(i, i) == "|" do i = i + 1; branches[#branches + 1] = seq() end
      if #branches == 1 then return branches[1] end
      return { t = "alt", branches = branches }
    end
    local ast = alt()
    if i <= #p then error("regex: unexpected " .. p:sub(i, i)) end
    return ast, flags_dotall
  end

  -- compile to instructions: {op=..., ...}; ops: set, any, split(x,y), jmp(x), assert(kind), match
  local function compile(ast, dotall)
    local prog = {}
    local function emit(ins) prog[#prog + 1] = ins; return #prog end
    local gen
    function gen(n)
      local t = n.t
      if t == "set" then emit({ op = "set", f = n.f })
      elseif t == "any" then emit({ op = "any", dotall = dotall })
      elseif t == "empty" then -- nothing
      elseif t == "bol" or t == "eol" or t == "bos" or t == "eos" or t == "eosnl" then emit({ op = "assert", kind = t })
      elseif t == "seq" then for _, x in ipairs(n.items) do gen(x) end
      elseif t == "alt" then
        local jumps = {}
        for k = 1, #n.branches - 1 do
          local split = emit({ op = "split" })
          prog[split].x = #prog + 1
          gen(n.branches[k])
          jumps[#jumps + 1] = emit({ op = "jmp" })
          prog[split].y = #prog + 1
        end
        gen(n.branches[#n.branches])
        for _, j in ipairs(jumps) do prog[j].x = #prog + 1 end
      elseif t == "rep" then
        for _ = 1, n.lo do gen(n.node) end
        if n.hi == nil then
          local split = emit({ op = "split" })
          prog[split].x = #prog + 1
          gen(n.node)
          emit({ op = "jmp", x = split })
          prog[split].y = #prog + 1
        else
          local splits = {}
          for _ = n.lo + 1, n.hi do
            local split = emit({ op = "split" })
            prog[split].x = #prog + 1
            splits[#splits + 1] = split
            gen(n.node)
          end
          for _, s in ipairs(splits) do prog[s].y = #prog + 1 end
        end
      end
    end
    gen(ast)
    emit({ op = "match" })
    return prog
  end

  local cache = {}
  function regex_find(pattern, subject)
    local prog = cache[pattern]
    if not prog then
      local ast, dotall = parse(pattern)
      prog = compile(ast, dotall)
      cache[pattern] = prog
    end
    local n = #subject
    local mark, gen = {}, 0
    local function add(list, pc, pos)
      if mark[pc] == gen then return false end
      mark[pc] = gen
      local ins = prog[pc]
      local op = ins.op
      if op == "jmp" then return add(list, ins.x, pos)
      elseif op == "split" then return add(list, ins.x, pos) or add(list, ins.y, pos)
      elseif op == "assert" then
        local k, ok = ins.kind, false
        if k == "bol" then ok = pos == 1 or subject:byte(pos - 1) == 10
        elseif k == "eol" then ok = pos == n + 1 or subject:byte(pos) == 10
        elseif k == "bos" then ok = pos == 1
        elseif k == "eos" then ok = pos == n + 1
        elseif k == "eosnl" then ok = pos == n + 1 or (pos == n and subject:byte(pos) == 10) end
        if ok then return add(list, pc + 1, pos) end
        return false
      elseif op == "match" then return true
      end
      list[#list + 1] = pc
      return false
    end
    local clist = {}
    for pos = 1, n + 1 do
      gen = gen + 1
      local nlist = {}
      -- carry threads from the previous step (already in clist), then a new thread here
      local cur = {}
      for _, pc in ipairs(clist) do
        if add(cur, pc, pos) then return true end
      end
      if add(cur, 1, pos) then return true end
      if pos > n then break end
      local c = subject:byte(pos)
      for _, pc in ipairs(cur) do
        local ins = prog[pc]
        if (ins.op == "set" and ins.f(c)) or (ins.op == "any" and (ins.dotall or c ~= 10)) then
          nlist[#nlist + 1] = pc + 1
        end
      end
      clist = nlist
    end
    return false
  end
end

------------------------------------------------------------------------------------------
-- Calling the engine without letting one case stop the run
------------------------------------------------------------------------------------------

local function engine_compile(src, opts)
  if not liquid then return nil, "engine unavailable: " .. tostring(engine_problem):match("^[^\n]*"), "crash" end
  local ok, tpl, err = pcall(liquid.compile, src, opts)
  if not ok then return nil, "crash in compile: " .. tostring(tpl), "crash" end
  if tpl == nil then return nil, tostring(err) end
  return tpl
end

local function engine_render(tpl, ctx, opts)
  local ok, out, err = pcall(function() return tpl:render(ctx, opts) end)
  if not ok then return nil, "crash in render: " .. tostring(out), "crash" end
  if out == nil then return nil, tostring(err) end
  if type(out) ~= "string" then return nil, "render returned a " .. type(out), "crash" end
  return out
end

------------------------------------------------------------------------------------------
-- Options
------------------------------------------------------------------------------------------

local opt = { verbose = false, filter = nil, list_failures = nil, check = false, record = false, suites = nil }
do
  local i = 1
  while argv[i] do
    local a = argv[i]
    if a == "-v" or a == "--verbose" then opt.verbose = true
    elseif a == "--filter" then i = i + 1; opt.filter = argv[i]
    elseif a:match("^%-%-filter=") then opt.filter = a:match("^%-%-filter=(.*)$")
    elseif a == "--list-failures" then i = i + 1; opt.list_failures = argv[i]
    elseif a:match("^%-%-list%-failures=") then opt.list_failures = a:match("=(.*)$")
    elseif a == "--suite" then i = i + 1; opt.suites = opt.suites or {}; opt.suites[argv[i]] = true
    elseif a == "--check" then opt.check = true
    elseif a == "--record" then opt.record = true
    elseif a == "-h" or a == "--help" then
      print([[usage: lua5.4 spec/conformance/run.lua [options]
  -v, --verbose          print every failing case (name, template, expected, got)
  --filter TEXT          only cases whose name contains TEXT (case-insensitive)
  --suite NAME           only this suite (golden, basics, liquid_ruby, liquid_ruby_lax,
                         parser_errors, shopify_production_recordings); repeatable
  --list-failures FILE   write the names of all failing cases to FILE
  --check                compare pass counts with spec/conformance/record.lua; exit 1 if below
  --record               raise spec/conformance/record.lua to the current counts
env: RIVULET_SHARED (default ../shared) holds liquid/golden and liquid/liquid-spec]])
      os.exit(0)
    else
      io.stderr:write("unknown argument: ", a, " (try --help)\n")
      os.exit(2)
    end
    i = i + 1
  end
  if opt.filter then opt.filter = opt.filter:lower() end
end

local function selected(name)
  return not opt.filter or tostring(name):lower():find(opt.filter, 1, true) ~= nil
end
local function suite_on(name) return not opt.suites or opt.suites[name] end

local failures = {}          -- names of failing cases, for --list-failures
local function report_failure(suite, name, template, expected, got)
  failures[#failures + 1] = suite .. ": " .. tostring(name)
  got = tostring(got):gsub("\n", "\\n")
  if #got > 400 then got = got:sub(1, 400) .. "..." end
  if opt.verbose then
    print(string.format("FAIL [%s] %s\n  template: %s\n  expected: %s\n  got:      %s",
      suite, tostring(name), show(template), expected, got))
  end
end

------------------------------------------------------------------------------------------
-- golden-liquid
------------------------------------------------------------------------------------------

local results = {}  -- key -> { passed, total, skipped, msg_matched, msg_total }
local order = {}
local function result_for(key)
  if not results[key] then
    results[key] = { passed = 0, total = 0, skipped = 0, msg_matched = 0, msg_total = 0 }
    order[#order + 1] = key
  end
  return results[key]
end

local function run_golden()
  local path = LIQUID_DIR .. "/golden/golden_liquid.json"
  local text, err = read_file(path)
  if not text then print("golden: cannot read " .. path .. ": " .. tostring(err)); return end
  local ok, suite = pcall(json_decode, text)
  if not ok then print("golden: " .. tostring(suite)); return end
  local groups, group_order = {}, {}
  local total = result_for("golden")
  for _, case in ipairs(suite.tests) do
    local name = case.name
    local group = name:match("^([^,]+),") or name
    if not groups[group] then
      groups[group] = { passed = 0, total = 0, skipped = 0 }
      group_order[#group_order + 1] = group
    end
    if selected(name) then
      local g = groups[group]
      g.total = g.total + 1
      total.total = total.total + 1
      local mode = "lax"
      local tz = "America/Los_Angeles"
      for _, t in ipairs(case.tags or {}) do
        if t == "strict" then mode = "strict"
        elseif t == "strict2" then mode = "strict2"
        elseif t == "utc" then tz = "UTC" end
      end
      local function options(strict_errors)
        return { mode = mode, timezone = tz, strict_errors = strict_errors,
                 partials = case.templates, cache = false }
      end
      local data = case.data
      if data == nil or data == NULL then data = {} end
      local pass, got, expected_s
      if case.invalid then
        expected_s = "a parse error or a raising render error"
        local tpl, cerr, kind = engine_compile(case.template, options(true))
        if tpl then
          local out, rerr, rkind = engine_render(tpl, data, options(true))
          pass = out == nil and rkind ~= "crash"
          got = out and ("rendered " .. show(out)) or ("render error: " .. tostring(rerr))
        else
          pass = kind ~= "crash"
          got = "parse error: " .. tostring(cerr)
        end
      else
        local accepted = case.results or { case.result }
        local shown = {}
        for i, r in ipairs(accepted) do shown[i] = show(r) end
        expected_s = table.concat(shown, " or ")
        local tpl, cerr, ckind = engine_compile(case.template, options(false))
        if not tpl then
          pass, got = false, (ckind == "crash" and "" or "parse error: ") .. tostring(cerr)
        else
          local out, rerr = engine_render(tpl, data, options(false))
          if out == nil then
            pass, got = false, "render error: " .. tostring(rerr)
          else
            pass = false
            for _, r in ipairs(accepted) do if out == r then pass = true end end
            got = show(out)
          end
        end
      end
      if pass then
        g.passed = g.passed + 1
        total.passed = total.passed + 1
      else
        report_failure("golden", name, case.template, expected_s, got)
      end
    end
  end
  for _, gname in ipairs(group_order) do
    local g = groups[gname]
    if g.total > 0 then
      print(string.format("  golden/%-28s %5d/%-5d", gname .. ":", g.passed, g.total))
    end
  end
end

------------------------------------------------------------------------------------------
-- liquid-spec
------------------------------------------------------------------------------------------

-- Features our engine has. Any other required feature skips the spec.
local HAVE = {
  core = true,
  lax_parsing = true, strict_parsing = true, strict2_parsing = true,  -- strict2 runs as strict
  inline_errors = true,                 -- render errors written inline ("Liquid error ...")
  shopify_resource_limits = true,       -- resource_limits -> options.limits
  strict2_blank_body_errors = true,
  self_environment_shadowing = true,
  shopify_error_format = true,          -- "Could not find asset NAME" comes from our loader
}

local FROZEN_NOW = 1704067318           -- 2024-01-01T00:01:58Z, liquid-spec's frozen clock
local SPEC_TZ = "UTC"                   -- liquid-spec's runner sets TZ=UTC
local DEFAULT_MODE = "strict"           -- liquid-spec's reference adapter parses in :strict
                                        -- when a spec names no error_mode

local LIMIT_NAMES = {                   -- Ruby ResourceLimits -> our options.limits names
  render_score_limit = "render_score",
  cumulative_render_score_limit = "cumulative_render_score",
  render_length_limit = "output_bytes",
  assign_score_limit = "assign_score",
  cumulative_assign_score_limit = "cumulative_assign_score",
}

local skip_features = {}   -- feature -> count
local skip_reasons = {}    -- reason -> count
local notes = {}

local function count(t, k) t[k] = (t[k] or 0) + 1 end

local function mode_list(v)
  if v == nil or v == NULL then return nil end
  local list = {}
  local items = (type(v) == "table" and not is_special(v)) and v or { v }
  for _, m in ipairs(items) do
    if is_special(m) and m.kind == "symbol" then m = m.name end
    m = tostring(m):gsub("^:", "")
    list[#list + 1] = m
  end
  return list
end

local function engine_mode(m)
  if m == "warn" then return "lax" end  -- :warn falls back to lax and never raises
  return m
end

local function make_loader(fs)
  local files, errmsg = {}, nil
  if type(fs) == "table" and fs ~= NULL then
    for k, v in pairs(fs) do
      if k == "_error-message" then errmsg = v
      elseif type(k) == "string" and k ~= "instantiate" then
        k = k:lower()
        if k:sub(-7) ~= ".liquid" then k = k .. ".liquid" end
        files[k] = v
      end
    end
  end
  return function(name)
    local key = tostring(name):lower()
    if key:sub(-7) ~= ".liquid" then key = key .. ".liquid" end
    local src = files[key]
    if type(src) == "string" then return src end
    return nil, errmsg or ("Could not find asset " .. tostring(name))
  end
end

local function load_suite_meta(dir)
  local text = read_file(dir .. "/suite.yml")
  local meta = { features = {}, defaults = {} }
  if text then
    local ok, doc = pcall(yaml_load, text)
    if ok and type(doc) == "table" then
      if type(doc.features) == "table" then meta.features = doc.features end
      if type(doc.defaults) == "table" then meta.defaults = doc.defaults end
    end
  end
  return meta
end

local function run_spec_once(spec, mode)
  local opts = {
    mode = engine_mode(mode),
    timezone = SPEC_TZ,
    now = FROZEN_NOW,
    line_numbers = true,
    cache = false,
    partials = spec.loader,
  }
  if spec.limits then opts.limits = spec.limits end
  -- result: pass (bool), got (string), msg (nil | true | false: error message matched)
  local tpl, cerr, ckind = engine_compile(spec.template, opts)
  if not tpl then
    if spec.parse_error then
      if ckind == "crash" then return false, cerr end
      local matched = true
      for _, p in ipairs(spec.parse_error) do if not icontains(cerr, tostring(p)) then matched = false end end
      if spec.error_line and not cerr:find("line " .. spec.error_line .. "%f[^%d]") then matched = false end
      return true, "parse error: " .. cerr, matched
    end
    if spec.render_errors and spec.expected ~= nil and ckind ~= "crash" then
      -- Ruby's runner compares a parse error's message with `expected` under render_errors
      return cerr == spec.expected, "parse error: " .. cerr
    end
    return false, (ckind == "crash" and "" or "parse error: ") .. tostring(cerr)
  end
  if spec.parse_error then return false, "parsed without error" end

  local env = to_engine(spec.environment)
  if spec.render_error then
    opts.strict_errors = true
    local out, rerr, rkind = engine_render(tpl, env, opts)
    if out ~= nil then return false, "rendered without error: " .. show(out) end
    if rkind == "crash" then return false, rerr end
    local matched = true
    for _, p in ipairs(spec.render_error) do if not icontains(rerr, tostring(p)) then matched = false end end
    return true, "render error: " .. rerr, matched
  end

  opts.strict_errors = not spec.render_errors
  local out, rerr = engine_render(tpl, env, opts)
  if out == nil then return false, "render error: " .. tostring(rerr) end
  if spec.output_patterns then
    for _, p in ipairs(spec.output_patterns) do
      if not icontains(out, tostring(p)) then return false, show(out) end
    end
    return true, show(out)
  elseif spec.expected_pattern then
    local ok, found = pcall(regex_find, spec.expected_pattern, out)
    if not ok then return false, "bad expected_pattern: " .. tostring(found) end
    return found, show(out)
  end
  return out == spec.expected, show(out)
end

local function describe_expected(spec)
  if spec.parse_error then
    return "parse error ~ " .. show(table.concat(spec.parse_error, " | ")) .. (spec.error_line and (" at line " .. spec.error_line) or "")
  end
  if spec.render_error then return "render error ~ " .. show(table.concat(spec.render_error, " | ")) end
  if spec.output_patterns then return "output containing " .. show(table.concat(spec.output_patterns, " | ")) end
  if spec.expected_pattern then return "output matching /" .. spec.expected_pattern .. "/" end
  return show(spec.expected)
end

-- Normalise a raw spec; returns spec or nil, skip reason, missing-feature list
local function prepare_spec(raw, meta, suite_meta)
  if type(raw) ~= "table" or IS_SEQ[raw] then return nil, "not a mapping" end
  local name = raw.name
  if type(raw.template) ~= "string" then return nil, "template is not a string" end

  local features, seen = {}, {}
  local function addf(list)
    if type(list) ~= "table" or is_special(list) then return end
    for _, f in ipairs(list) do
      if is_special(f) and f.kind == "symbol" then f = f.name end
      f = tostring(f)
      if not seen[f] then seen[f] = true; features[#features + 1] = f end
    end
  end
  addf(suite_meta.features)
  addf(meta.features)
  addf(raw.features)
  if raw.generate ~= nil then addf({ "randomness" }) end
  local missing = {}
  for _, f in ipairs(features) do if not HAVE[f] then missing[#missing + 1] = f end end
  if #missing > 0 then return nil, "features", missing end

  local spec = { name = name, template = raw.template }

  local re = raw.render_errors
  if re == nil then re = meta.render_errors end
  if re == nil then re = suite_meta.defaults.render_errors end
  spec.render_errors = re == true

  local modes = mode_list(raw.error_mode)
  if not modes and type(meta.required_options) == "table" then modes = mode_list(meta.required_options.error_mode) end
  if not modes then modes = mode_list(suite_meta.defaults.error_mode) end
  spec.modes = modes or { DEFAULT_MODE }

  local errors = raw.errors
  if errors ~= nil and errors ~= NULL then
    if type(errors) ~= "table" then return nil, "errors is not a mapping" end
    local function strings(v)
      if v == nil or v == NULL then return nil end
      if type(v) ~= "table" then v = { v } end
      local out = {}
      for _, x in ipairs(v) do
        if type(x) ~= "string" then return false end
        out[#out + 1] = x
      end
      return out
    end
    for k in pairs(errors) do
      if k ~= "parse_error" and k ~= "render_error" and k ~= "output" and k ~= "line" then
        return nil, "unknown errors key " .. tostring(k)
      end
    end
    spec.parse_error = strings(errors.parse_error)
    spec.render_error = strings(errors.render_error)
    spec.output_patterns = strings(errors.output)
    spec.error_line = math.tointeger(errors.line)
    if spec.parse_error == false or spec.render_error == false or spec.output_patterns == false then
      return nil, "error pattern is not a string (Ruby regexp?)"
    end
  end

  if raw.expected ~= nil and raw.expected ~= NULL then
    if type(raw.expected) ~= "string" then
      return nil, "expected is not a string (" .. tostring(raw.expected) .. ")"
    end
    spec.expected = raw.expected
  end
  if raw.expected_pattern ~= nil then
    if type(raw.expected_pattern) ~= "string" then return nil, "expected_pattern is not a string" end
    spec.expected_pattern = raw.expected_pattern
  end
  if spec.expected == nil and not spec.expected_pattern and not spec.parse_error
     and not spec.render_error and not spec.output_patterns then
    return nil, "no expectation"
  end

  local env = raw.environment
  if env == nil or env == NULL then env = {} end
  if type(env) ~= "table" or IS_SEQ[env] or is_special(env) then return nil, "environment is not a mapping" end
  local why = non_json(env)
  if why then return nil, "environment not JSON: " .. why end
  spec.environment = env

  local fs = raw.filesystem
  if fs ~= nil and fs ~= NULL then
    if type(fs) ~= "table" or IS_SEQ[fs] then return nil, "filesystem is not a mapping" end
    for k, v in pairs(fs) do
      if type(k) ~= "string" or (type(v) ~= "string" and k ~= "instantiate") then
        return nil, "filesystem entry is not a string"
      end
    end
  end
  spec.loader = make_loader(fs)

  local rl = raw.resource_limits
  if rl ~= nil and rl ~= NULL then
    if type(rl) ~= "table" then return nil, "resource_limits is not a mapping" end
    spec.limits = {}
    for k, v in pairs(rl) do
      local ours = LIMIT_NAMES[k]
      if not ours then return nil, "unknown resource limit " .. tostring(k) end
      spec.limits[ours] = v
    end
  end
  return spec
end

local SPEC_SUITES = { "basics", "liquid_ruby", "liquid_ruby_lax", "parser_errors", "shopify_production_recordings" }

local function run_spec_suite(suite)
  local dir = LIQUID_DIR .. "/liquid-spec/specs/" .. suite
  local suite_meta = load_suite_meta(dir)
  local res = result_for(suite)
  for _, file in ipairs(list_dir(dir, ".yml")) do
    if file ~= "suite.yml" then
      local text = read_file(dir .. "/" .. file)
      local ok, doc, stop = pcall(yaml_load, text or "")
      if not ok then
        -- Count what we could not load as skipped, by the spec entries in the text.
        local n = 0
        for _ in (text or ""):gmatch("\n%s*%- name:") do n = n + 1 end
        if (text or ""):match("^%s*%- name:") then n = n + 1 end
        res.skipped = res.skipped + n
        skip_reasons["YAML not loadable"] = (skip_reasons["YAML not loadable"] or 0) + n
        notes[#notes + 1] = string.format("%s/%s: YAML not loadable (%s); %d specs skipped", suite, file, tostring(doc), n)
      else
        if stop and text and stop < #text and text:sub(stop + 1):match("%S") then
          local extra = 0
          for _ in text:sub(stop + 1):gmatch("\n%- name:") do extra = extra + 1 end
          notes[#notes + 1] = string.format(
            "%s/%s: only the first YAML document is read (as Psych.load does); %d spec entries after it ignored",
            suite, file, extra)
        end
        local meta, list = {}, doc
        if type(doc) == "table" and not IS_SEQ[doc] then
          meta = type(doc._metadata) == "table" and doc._metadata or {}
          list = doc.specs
        end
        if type(list) ~= "table" then list = {} end
        for _, raw in ipairs(list) do
          local name = type(raw) == "table" and raw.name or "?"
          if selected(name) then
            local spec, why, missing = prepare_spec(raw, meta, suite_meta)
            if not spec then
              res.skipped = res.skipped + 1
              if why == "features" then
                for _, f in ipairs(missing) do count(skip_features, f) end
                count(skip_reasons, "missing features")
              else
                count(skip_reasons, (why:gsub(" %(.*", "")))
                if opt.verbose then print(string.format("SKIP [%s] %s: %s", suite, tostring(name), why)) end
              end
            else
              res.total = res.total + 1
              local pass, got, msg = true, nil, nil
              for _, m in ipairs(spec.modes) do
                local p, g, mm = run_spec_once(spec, m)
                if not p then
                  pass = false
                  got = (#spec.modes > 1 and ("[" .. m .. "] ") or "") .. tostring(g)
                  break
                end
                if mm ~= nil then msg = (msg == nil or msg) and mm end
              end
              if pass then
                res.passed = res.passed + 1
                if msg ~= nil then
                  res.msg_total = res.msg_total + 1
                  if msg then res.msg_matched = res.msg_matched + 1 end
                end
              else
                report_failure(suite, spec.name, spec.template,
                  describe_expected(spec) .. (#spec.modes > 1 and ("  (modes " .. table.concat(spec.modes, ",") .. ")") or ("  (mode " .. spec.modes[1] .. ")")),
                  got)
              end
            end
          end
        end
      end
    end
  end
end

------------------------------------------------------------------------------------------
-- Main
------------------------------------------------------------------------------------------

local function liquid_dir_exists()
  return file_exists(LIQUID_DIR .. "/NOTES.md") or file_exists(LIQUID_DIR .. "/golden/golden_liquid.json")
end

if not liquid_dir_exists() then
  if opt.check then
    print("conformance: skipped (" .. LIQUID_DIR .. " not found; set RIVULET_SHARED)")
    os.exit(0)
  end
  io.stderr:write("conformance: " .. LIQUID_DIR .. " not found (set RIVULET_SHARED)\n")
  os.exit(2)
end

if engine_problem then
  print("NOTE: the engine is not loadable; every case fails: " .. engine_problem:gsub("\n.*", ""))
end

local t0 = os.clock()
if suite_on("golden") then run_golden() end
local function line(key, label)
  local r = results[key]
  if not r then return end
  local extra = ""
  if r.msg_total > 0 then extra = string.format("; error messages matched %d/%d", r.msg_matched, r.msg_total) end
  print(string.format("%-34s %5d/%-5d (skipped %d)%s", label or (key .. ":"), r.passed, r.total, r.skipped, extra))
end
line("golden")
for _, s in ipairs(SPEC_SUITES) do
  if suite_on(s) then
    run_spec_suite(s)
    line(s, "liquid-spec/" .. s .. ":")
  end
end

local tp, tt, ts = 0, 0, 0
for _, k in ipairs({ "golden", "basics", "liquid_ruby", "liquid_ruby_lax", "parser_errors" }) do
  local r = results[k]
  if r then tp, tt, ts = tp + r.passed, tt + r.total, ts + r.skipped end
end
print(string.format("%-34s %5d/%-5d (skipped %d)", "TOTAL (golden + 4 liquid-spec suites):", tp, tt, ts))
if results.shopify_production_recordings then
  line("shopify_production_recordings", "separately, production recordings:")
end

if next(skip_features) then
  local fl = {}
  for f, n in pairs(skip_features) do fl[#fl + 1] = { f, n } end
  table.sort(fl, function(a, b) if a[2] ~= b[2] then return a[2] > b[2] end return a[1] < b[1] end)
  local parts = {}
  for _, x in ipairs(fl) do parts[#parts + 1] = x[1] .. " " .. x[2] end
  print("skipped for missing features: " .. table.concat(parts, ", "))
end
if next(skip_reasons) then
  local rl = {}
  for r, n in pairs(skip_reasons) do rl[#rl + 1] = { r, n } end
  table.sort(rl, function(a, b) if a[2] ~= b[2] then return a[2] > b[2] end return a[1] < b[1] end)
  local parts = {}
  for _, x in ipairs(rl) do parts[#parts + 1] = x[1] .. " " .. x[2] end
  print("skip reasons (specs): " .. table.concat(parts, ", "))
end
for _, n in ipairs(notes) do print("note: " .. n) end
print(string.format("(%.1f s CPU)", os.clock() - t0))

if opt.list_failures then
  local f, err = io.open(opt.list_failures, "w")
  if not f then
    io.stderr:write("cannot write " .. opt.list_failures .. ": " .. tostring(err) .. "\n")
  else
    for _, n in ipairs(failures) do f:write(n, "\n") end
    f:close()
    print(string.format("%d failing names written to %s", #failures, opt.list_failures))
  end
end

------------------------------------------------------------------------------------------
-- Ratchet
------------------------------------------------------------------------------------------

local RECORD_KEYS = { "golden", "basics", "liquid_ruby", "liquid_ruby_lax", "parser_errors", "shopify_production_recordings" }
local TARGETS = {   -- key -> function(result) -> target count (nil: no target)
  golden = function() return 1054 end,
  basics = function(r) return math.ceil(0.95 * r.total) end,
  liquid_ruby = function(r) return math.ceil(0.95 * r.total) end,
  parser_errors = function(r) return math.ceil(0.95 * r.total) end,
}

if opt.check or opt.record then
  if opt.filter or opt.suites then
    io.stderr:write("--check/--record need the full run (no --filter/--suite)\n")
    os.exit(2)
  end
  local record = {}
  local chunk = loadfile(RECORD_FILE)
  if chunk then
    local ok, t = pcall(chunk)
    if ok and type(t) == "table" then record = t end
  end
  local below, above = {}, {}
  print("")
  print(string.format("%-32s %8s %8s %10s", "ratchet", "now", "record", "target"))
  for _, k in ipairs(RECORD_KEYS) do
    local r = results[k]
    local now = r and r.passed or 0
    local rec = tonumber(record[k]) or 0
    local target = TARGETS[k] and r and TARGETS[k](r)
    local status = ""
    if now < rec then status = "BELOW RECORD"; below[#below + 1] = k
    elseif now > rec then status = "above record"; above[#above + 1] = k end
    if target then status = status .. (now >= target and "  (target met)" or "") end
    print(string.format("%-32s %8d %8d %10s  %s", k, now, rec, target and tostring(target) or "-", status))
  end
  if opt.record then
    local f = assert(io.open(RECORD_FILE, "w"))
    f:write("-- Best recorded pass counts of spec/conformance/run.lua (the ratchet).\n")
    f:write("-- `run.lua --check` fails when a count drops below its record;\n")
    f:write("-- `run.lua --record` raises the record. Never lower a number by hand without a reason.\n")
    f:write("return {\n")
    for _, k in ipairs(RECORD_KEYS) do
      local now = results[k] and results[k].passed or 0
      local rec = tonumber(record[k]) or 0
      f:write(string.format("  %s = %d,\n", k, math.max(now, rec)))
    end
    f:write("}\n")
    f:close()
    print("record written: " .. RECORD_FILE)
  elseif #above > 0 then
    print("hint: counts above the record (" .. table.concat(above, ", ") ..
      "): run `lua5.4 spec/conformance/run.lua --record` and commit record.lua")
  end
  if #below > 0 then
    print("FAIL: below the record: " .. table.concat(below, ", "))
    os.exit(1)
  end
  print("ratchet OK")
end
os.exit(0)
