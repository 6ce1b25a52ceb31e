-- A strict reader of Prometheus' text exposition format (version 0.0.4), for the specs of
-- /metrics: it refuses what Prometheus would refuse and a little more (a sample before its
-- family's TYPE, a repeated series, a histogram whose buckets are not cumulative or whose
-- +Inf bucket is not its count, a counter whose name does not end in _total).
--
--   local prom = require "spec.prometheus"
--   local m, err = prom.parse(text)
--   m.families[name] = {type, help, samples = {{name, labels = {k = v}, value}}}
--   prom.value(m, "rivulet_steps_total", { type = "trigger" })   --> number | nil

local M = {}

local NAME = "^[%a_:][%w_:]*$"
local LABEL = "^[%a_][%w_]*$"
local TYPES = { counter = true, gauge = true, histogram = true, summary = true, untyped = true }

local function number(s)
  if s == "+Inf" or s == "Inf" then return math.huge end
  if s == "-Inf" then return -math.huge end
  if s == "NaN" then return 0 / 0 end
  if not s:match("^[-+]?%d*%.?%d+[eE]?[-+]?%d*$") and not s:match("^[-+]?%d+%.?%d*[eE][-+]?%d+$") then return nil end
  return tonumber(s)
end

-- {k="v",…} at the start of s -> labels, rest | nil, err
local function labels(s)
  local out, i = {}, 2
  while true do
    if s:sub(i, i) == "}" then return out, s:sub(i + 1) end
    local name, j = s:match("^([%a_][%w_]*)=\"()", i)
    if not name then return nil, "bad label at: " .. s:sub(i) end
    local v = {}
    i = j
    while true do
      local c = s:sub(i, i)
      if c == "" then return nil, "unterminated label value" end
      if c == '"' then break end
      if c == "\\" then
        local e = s:sub(i + 1, i + 1)
        if e == "\\" then v[#v + 1] = "\\" elseif e == '"' then v[#v + 1] = '"' elseif e == "n" then v[#v + 1] = "\n"
        else return nil, "bad escape \\" .. e end
        i = i + 2
      else
        if c == "\n" then return nil, "a line break in a label value" end
        v[#v + 1] = c
        i = i + 1
      end
    end
    if out[name] ~= nil then return nil, "label " .. name .. " twice" end
    out[name] = table.concat(v)
    i = i + 1
    local sep = s:sub(i, i)
    if sep == "," then i = i + 1 elseif sep ~= "}" then return nil, "expected , or } after a label" end
  end
end

local function family_of(m, name)
  if m.families[name] then return m.families[name], name end
  for _, suffix in ipairs{ "_bucket", "_sum", "_count" } do
    local base = name:match("^(.*)" .. suffix .. "$")
    if base and m.families[base] and (m.families[base].type == "histogram" or m.families[base].type == "summary") then
      return m.families[base], base
    end
  end
  return nil
end

local function series_key(name, ls)
  local ks = {}
  for k in pairs(ls) do ks[#ks + 1] = k end
  table.sort(ks)
  local parts = { name }
  for _, k in ipairs(ks) do parts[#parts + 1] = k .. "=" .. ls[k] end
  return table.concat(parts, "\0")
end

function M.parse(text)
  local m = { families = {}, order = {} }
  if text:sub(-1) ~= "\n" then return nil, "the text must end with a line feed" end
  local seen = {}
  local n = 0
  for line in text:gmatch("([^\n]*)\n") do
    n = n + 1
    local where = "line " .. n .. ": "
    if line:match("^#") then
      local kind, name, rest = line:match("^# (%u+) (%S+) ?(.*)$")
      if kind == "HELP" then
        if not name:match(NAME) then return nil, where .. "bad metric name " .. name end
        local f = m.families[name] or { samples = {} }
        if f.help then return nil, where .. "HELP twice for " .. name end
        f.help = rest
        m.families[name] = f
      elseif kind == "TYPE" then
        if not TYPES[rest] then return nil, where .. "bad type " .. tostring(rest) end
        local f = m.families[name] or { samples = {} }
        if f.type then return nil, where .. "TYPE twice for " .. name end
        if #f.samples > 0 then return nil, where .. "TYPE after samples of " .. name end
        f.type = rest
        m.families[name] = f
        m.order[#m.order + 1] = name
        if rest == "counter" and not name:match("_total$") then
          return nil, where .. "a counter's name should end in _total: " .. name
        end
      end
    elseif line ~= "" then
      local name, rest = line:match("^([%a_:][%w_:]*)(.*)$")
      if not name then return nil, where .. "not a sample: " .. line end
      local ls = {}
      if rest:sub(1, 1) == "{" then
        local r
        ls, r = labels(rest)
        if not ls then return nil, where .. r end
        rest = r
      end
      local v, ts = rest:match("^ (%S+) ?(%-?%d*)$")
      local value = v and number(v)
      if not value then return nil, where .. "bad value in: " .. line end
      if ts ~= "" and not ts:match("^%-?%d+$") then return nil, where .. "bad timestamp" end
      for k in pairs(ls) do
        if not k:match(LABEL) or k:match("^__") then return nil, where .. "bad label name " .. k end
      end
      local f, base = family_of(m, name)
      if not f or not f.type then return nil, where .. "a sample before its family's TYPE: " .. name end
      local key = series_key(name, ls)
      if seen[key] then return nil, where .. "a series twice: " .. line end
      seen[key] = true
      f.samples[#f.samples + 1] = { name = name, labels = ls, value = value, base = base }
    end
  end
  -- histograms: cumulative buckets, +Inf = count, a sum
  for name, f in pairs(m.families) do
    if f.type == "histogram" then
      local groups = {}
      for _, s in ipairs(f.samples) do
        local ls = {}
        for k, v in pairs(s.labels) do if k ~= "le" then ls[k] = v end end
        local g = groups[series_key("", ls)] or { buckets = {} }
        groups[series_key("", ls)] = g
        if s.name == name .. "_bucket" then
          if not s.labels.le then return nil, name .. ": a bucket without le" end
          g.buckets[#g.buckets + 1] = { le = number(s.labels.le), value = s.value }
        elseif s.name == name .. "_sum" then g.sum = s.value
        elseif s.name == name .. "_count" then g.count = s.value end
      end
      for _, g in pairs(groups) do
        table.sort(g.buckets, function(a, b) return a.le < b.le end)
        local last = g.buckets[#g.buckets]
        if not last or last.le ~= math.huge then return nil, name .. ": no +Inf bucket" end
        if g.count == nil or g.sum == nil then return nil, name .. ": no _count or _sum" end
        if last.value ~= g.count then return nil, name .. ": +Inf bucket is not the count" end
        for i = 2, #g.buckets do
          if g.buckets[i].value < g.buckets[i - 1].value then return nil, name .. ": buckets not cumulative" end
        end
      end
    end
  end
  return m
end

-- the value of the sample `name` whose labels include `want` (nil: none)
function M.value(m, name, want)
  local f = family_of(m, name)
  if not f then return nil end
  for _, s in ipairs(f.samples) do
    if s.name == name then
      local ok = true
      for k, v in pairs(want or {}) do if s.labels[k] ~= v then ok = false end end
      if ok then return s.value end
    end
  end
  return nil
end

return M
