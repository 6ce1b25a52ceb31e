-- rivulet side of the Liquid benchmark.
--   build/rivulet lua bench/liquid/rivulet.lua BENCH_DIR OUT_DIR
--   (or: lua5.4 bench/liquid/rivulet.lua ... with LUA_PATH/LUA_CPATH pointing at lua/ and build/lib/)
-- Prints one JSON line: ops/s per workload and measure, plus VmHWM. Writes each workload's
-- rendered output to OUT_DIR/rivulet-<workload>.out. BENCH_SECONDS (default 1) is the time
-- spent on each measure (5 samples, median reported). Timing is process CPU time (os.clock),
-- as the other two engines measure it (see bench/README.md).

local argv = arg or { ... }
local bench_dir, out_dir = argv[1], argv[2]
if not bench_dir or not out_dir then
  io.stderr:write("usage: rivulet.lua BENCH_DIR OUT_DIR\n")
  os.exit(2)
end
local SECONDS = tonumber(os.getenv("BENCH_SECONDS") or "1") or 1
local WORKLOADS = {}
for w in (os.getenv("BENCH_WORKLOADS") or "studio theme"):gmatch("%S+") do WORKLOADS[#WORKLOADS + 1] = w end

local function fail(msg)
  msg = tostring(msg):match("^[^\n]*"):gsub('[%c"\\]', " ")
  io.stdout:write('{"engine":"rivulet","error":"', msg, '"}\n')
  os.exit(1)
end

local ok, rivulet = pcall(require, "rivulet")
if not ok then fail("require 'rivulet' failed: " .. tostring(rivulet)) end
local liquid = rivulet.liquid
local have_cjson, cjson = pcall(require, "cjson")
local NULL = have_cjson and cjson.null or nil
local ARRAY_MT = have_cjson and cjson.array_mt or nil
local EMPTY_ARRAY_MT = have_cjson and (cjson.empty_array_mt or cjson.array_mt) or nil

local function read(path)
  local f, err = io.open(path, "rb")
  if not f then fail(err) end
  local s = f:read("a")
  f:close()
  return s
end

-- JSON with integral numbers kept as Lua integers (Debian's lua-cjson turns every number
-- into a float, and 12873 would print as 12873.0).
local function json_decode(s)
  local pos = 1
  local find, sub, byte = string.find, string.sub, string.byte
  local esc = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t" }
  local value
  local function ws() pos = find(s, "[^ \t\r\n]", pos) or #s + 1 end
  local function str()
    local parts = {}
    pos = pos + 1
    while true do
      local a = find(s, '["\\]', pos) or error("JSON: unterminated string")
      parts[#parts + 1] = sub(s, pos, a - 1)
      if byte(s, a) == 34 then pos = a + 1; return table.concat(parts) end
      local e = sub(s, a + 1, a + 1)
      if e == "u" then
        local cp = tonumber(sub(s, a + 2, a + 5), 16)
        pos = a + 6
        if cp >= 0xD800 and cp <= 0xDBFF and sub(s, pos, pos + 1) == "\\u" then
          cp = 0x10000 + (cp - 0xD800) * 0x400 + (tonumber(sub(s, pos + 2, pos + 5), 16) - 0xDC00)
          pos = pos + 6
        end
        parts[#parts + 1] = utf8.char(cp)
      else
        parts[#parts + 1] = esc[e] or error("JSON: bad escape")
        pos = a + 2
      end
    end
  end
  function value()
    ws()
    local c = sub(s, pos, pos)
    if c == "{" then
      local t = {}
      pos = pos + 1; ws()
      if sub(s, pos, pos) == "}" then pos = pos + 1; return t end
      repeat
        ws()
        local k = str()
        ws(); pos = pos + 1 -- ':'
        t[k] = value()
        ws()
        c = sub(s, pos, pos); pos = pos + 1
      until c ~= ","
      return t
    elseif c == "[" then
      local t = {}
      pos = pos + 1; ws()
      if sub(s, pos, pos) == "]" then
        pos = pos + 1
        return EMPTY_ARRAY_MT and setmetatable(t, EMPTY_ARRAY_MT) or t
      end
      repeat
        t[#t + 1] = value()
        ws()
        c = sub(s, pos, pos); pos = pos + 1
      until c ~= ","
      return ARRAY_MT and setmetatable(t, ARRAY_MT) or t
    elseif c == '"' then return str()
    elseif sub(s, pos, pos + 3) == "true" then pos = pos + 4; return true
    elseif sub(s, pos, pos + 4) == "false" then pos = pos + 5; return false
    elseif sub(s, pos, pos + 3) == "null" then pos = pos + 4; return NULL
    end
    local a, b, int, frac, exp = find(s, "^(-?%d+)(%.?%d*)([eE]?[-+]?%d*)", pos)
    if not a then error("JSON: unexpected character at " .. pos) end
    pos = b + 1
    if frac == "" and exp == "" and math.tointeger(tonumber(int)) then return math.tointeger(tonumber(int)) end
    return tonumber(int .. frac .. exp) + 0.0
  end
  return value()
end

-- ops/s of fn: warm up, size a batch to SECONDS/5, take the median of 5 batches.
local clock = os.clock
local function measure(fn)
  local sample = SECONDS / 5
  local t0, n = clock(), 0
  while n < 3 or clock() - t0 < math.min(0.2, sample) do fn(); n = n + 1 end
  local per_op = (clock() - t0) / n
  local batch = math.max(math.floor(sample / per_op + 0.5), 1)
  local rates = {}
  for i = 1, 5 do
    t0 = clock()
    for _ = 1, batch do fn() end
    rates[i] = batch / math.max(clock() - t0, 1e-9)
  end
  table.sort(rates)
  return rates[3]
end

local result = { engine = "rivulet", version = "rivulet " .. tostring(rivulet._VERSION) .. ", " .. _VERSION }
local keys = {}
for _, w in ipairs(WORKLOADS) do
  local tdir = bench_dir .. "/" .. w .. "/templates"
  local data = json_decode(read(bench_dir .. "/" .. w .. "/data.json"))
  local src = read(tdir .. "/index.liquid")
  local sources = {}
  local function loader(name)                      -- reads <templates>/<name>.liquid once
    local s = sources[name]
    if s == nil then
      local f = io.open(tdir .. "/" .. name .. ".liquid", "rb")
      if not f then return nil, "No such template '" .. name .. "'" end
      s = f:read("a")
      f:close()
      sources[name] = s
    end
    return s
  end
  local opts = {
    timezone = "UTC",
    partials = loader,
    strict_errors = true,                          -- like Ruby's render!
    limits = { output_bytes = 64 * 1024 * 1024 },  -- theme renders ~47 KB; Studio's default cap is 16 KiB
  }
  local nocache = { cache = false }

  local tpl, err = liquid.compile(src, opts)
  if not tpl then fail(w .. ": compile: " .. tostring(err)) end
  local out
  out, err = tpl:render(data, opts)
  if not out then fail(w .. ": render: " .. tostring(err)) end
  local f = assert(io.open(out_dir .. "/rivulet-" .. w .. ".out", "wb"))
  f:write(out)
  f:close()

  result[w .. "_parse"] = measure(function() liquid.compile(src, nocache) end)
  result[w .. "_render"] = measure(function() tpl:render(data, opts) end)
  result[w .. "_parse_render"] = measure(function() liquid.compile(src, nocache):render(data, opts) end)
  keys[#keys + 1] = w .. "_parse"; keys[#keys + 1] = w .. "_render"; keys[#keys + 1] = w .. "_parse_render"
end

local status = io.open("/proc/self/status")
local hwm = 0
if status then
  hwm = tonumber((status:read("a") or ""):match("VmHWM:%s+(%d+)")) or 0
  status:close()
end
local parts = { string.format('"engine":"rivulet","version":%q', result.version) }
for _, k in ipairs(keys) do parts[#parts + 1] = string.format('"%s":%.3f', k, result[k]) end
parts[#parts + 1] = string.format('"vmhwm_kb":%d', hwm)
print("{" .. table.concat(parts, ",") .. "}")
