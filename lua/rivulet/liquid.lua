-- rivulet.liquid: Liquid templates (Shopify Liquid 5 semantics) rendered against Lua tables.
--
--   liquid.render(source, context [, options])  --> string | nil, err
--   liquid.compile(source [, options])          --> template | nil, err
--   template:render(context [, options])        --> string | nil, err
--
-- options: mode ("lax" | "strict"), partials (name -> source table, or function(name)
-- returning source), timezone (IANA name, default "America/Los_Angeles"), now (epoch
-- seconds for "now"/"today"), limits = {output_bytes, loop_iterations, depth, render_score,
-- assign_score, memory, time_ms}, strict_errors (render errors fail the render instead of printing
-- "Liquid error: ..." inline), line_numbers (inline errors say "(line N)"),
-- strict_variables, strict_filters (an undefined variable or filter fails the render, unless
-- strict_errors = false: then it renders nothing, as Ruby's render does), name (used in
-- messages), cache (false: do not use or fill the compile cache), objects ("shopify", the
-- default here: a hash prints as Ruby's inspect, {"a"=>1}; "studio": as Twilio Studio
-- prints it, {a=1}; the engine renders flows with "studio").

local core = require "rivulet.core"

local type, pairs, setmetatable, error, tostring = type, pairs, setmetatable, error, tostring
local format, find = string.format, string.find

local M = {}

M.DEFAULT_TIMEZONE = "America/Los_Angeles"
-- setmetatable(t, liquid.array_mt) marks t as an array even when it is empty.
M.array_mt = core.array_mt
-- How many compiled sources the cache keeps before it starts over.
M.CACHE_MAX = 1000

-- Empty JSON arrays decoded by cjson carry these metatables; they stay arrays. lua-cjson is
-- not loaded for it (a cold start would pay its dlopen): rivulet.json registers them when
-- it loads lua-cjson, and a lua-cjson the host loaded before is registered here.
for _, name in ipairs{ "cjson", "cjson.safe" } do
  local cjson = package.loaded[name]
  if type(cjson) == "table" then
    if cjson.array_mt then core.liquid_array_mt(cjson.array_mt) end
    if cjson.empty_array_mt then core.liquid_array_mt(cjson.empty_array_mt) end
  end
end

local OPTION_TYPES = {
  mode = "string", partials = "table|function", timezone = "string", now = "number",
  limits = "table", strict_errors = "boolean", strict_variables = "boolean",
  strict_filters = "boolean", name = "string", cache = "boolean", line_numbers = "boolean",
  objects = "string",
}
local OBJECTS = { shopify = true, studio = true }
local LIMITS = {
  output_bytes = true, loop_iterations = true, depth = true, render_score = true,
  assign_score = true, memory = true, time_ms = true,
}
local MODES = { lax = true, strict = true, strict2 = true }

local function check_options(o, level)
  if o == nil then return {} end
  if type(o) ~= "table" then error("liquid options must be a table", level) end
  for k, v in pairs(o) do
    local want = OPTION_TYPES[k]
    if not want then error(format("unknown liquid option '%s'", tostring(k)), level) end
    local t = type(v)
    if not want:find(t, 1, true) then
      error(format("liquid option '%s' must be a %s, not %s", k, want, t), level)
    end
  end
  if o.mode and not MODES[o.mode] then
    error(format("liquid option 'mode' must be \"lax\" or \"strict\", not %q", o.mode), level)
  end
  if o.objects and not OBJECTS[o.objects] then
    error(format("liquid option 'objects' must be \"shopify\" or \"studio\", not %q", o.objects), level)
  end
  if o.limits then
    for k, v in pairs(o.limits) do
      if not LIMITS[k] then error(format("unknown liquid limit '%s'", tostring(k)), level) end
      if math.type(v) ~= "integer" then error(format("liquid limit '%s' must be an integer", k), level) end
    end
  end
  return o
end

-- compile cache: cache[mode][source]; two levels, so a long source is never copied into a
-- key (a Lua string hashes once, however often it is looked up)
local cache, cached = {}, 0

local function compile(source, o)
  local mode = o.mode or "lax"
  local bymode = cache[mode]
  if o.cache ~= false and bymode then
    local t = bymode[source]
    if t then return t end
  end
  local t, err = core.liquid_compile(source, mode, o.name or "template")
  if not t then return nil, err end
  if o.cache ~= false then
    if cached >= M.CACHE_MAX then cache, cached = {}, 0 end
    bymode = cache[mode]
    if not bymode then bymode = {}; cache[mode] = bymode end
    bymode[source] = t
    cached = cached + 1
  end
  return t
end

-- whether s may hold Liquid markup at all (text without it renders as itself)
function M.has_markup(s)
  return find(s, "{{", 1, true) ~= nil or find(s, "{%", 1, true) ~= nil
end

-- compiled(source, name) -> the core template (its :render(context, options) is the C
-- renderer) | nil, err: lax, through the compile cache. For hot callers (the engine renders
-- every widget property) that prepare their render options once.
function M.compiled(source, name)
  return compile(source, { name = name })
end

local Template = {}
Template.__index = Template

-- A loader the C renderer calls with a partial's name: returns a compiled template, or
-- nil (not found), or nil and an error.
local function make_loader(partials, mode)
  if partials == nil then return nil end
  local compiled = {}
  return function(name)
    local t = compiled[name]
    if t then return t end
    local src
    if type(partials) == "table" then
      src = partials[name]
    else
      local err
      src, err = partials(name)
      if src == nil and err then return nil, err end
    end
    if src == nil then return nil end
    if type(src) ~= "string" then return nil, format("partial '%s' is not a string", name) end
    local err
    t, err = compile(src, { mode = mode, name = name })
    if not t then return nil, err end
    compiled[name] = t
    return t
  end
end

local function render_options(o, defaults)
  local r = {
    strict_errors = o.strict_errors, strict_variables = o.strict_variables,
    strict_filters = o.strict_filters, timezone = o.timezone or M.DEFAULT_TIMEZONE,
    line_numbers = o.line_numbers, objects = o.objects,
    now = o.now, limits = o.limits, name = o.name,
  }
  if defaults then
    for k, v in pairs(defaults) do if r[k] == nil then r[k] = v end end
  end
  -- strict_variables and strict_filters ask for the error: unless strict_errors = false says
  -- otherwise, it fails the render (Ruby's render records it in template.errors, which no
  -- Lua caller could read; strict_errors = false keeps that: the tag renders nothing)
  if r.strict_errors == nil and (r.strict_variables or r.strict_filters) then r.strict_errors = true end
  local mode = o.mode or (defaults and defaults.mode) or "lax"
  local partials = o.partials
  if partials == nil and defaults then partials = defaults.partials end
  r.loader = make_loader(partials, mode)
  return r
end

function Template:render(context, options)
  if context == nil then context = {} end
  if type(context) ~= "table" then error("liquid context must be a table", 2) end
  local o = check_options(options, 3)
  return self._t:render(context, render_options(o, self._o))
end

function M.compile(source, options)
  if type(source) ~= "string" then error("liquid source must be a string", 2) end
  local o = check_options(options, 3)
  local t, err = compile(source, o)
  if not t then return nil, err end
  return setmetatable({ _t = t, _o = o }, Template)
end

function M.render(source, context, options)
  if type(source) ~= "string" then error("liquid source must be a string", 2) end
  if context == nil then context = {} end
  if type(context) ~= "table" then error("liquid context must be a table", 2) end
  local o = check_options(options, 3)
  local t, err = compile(source, o)
  if not t then return nil, err end
  return t:render(context, render_options(o))
end

return M
