#!/usr/bin/env ruby
# frozen_string_literal: true
#
# ruby_check.rb — check Liquid expectations against real Ruby Liquid (a dev tool;
# not part of `spec/run.lua`). Needs Debian's `ruby-liquid` (Liquid 5.4.0) and,
# for --spec, `lua5.4`.
#
# Usage:
#   ruby spec/tools/ruby_check.rb 'TEMPLATE' ['DATA JSON' ['OPTIONS JSON']]
#       render one case and print Ruby's output (or its error) as Ruby #inspect
#   ruby spec/tools/ruby_check.rb --cases FILE.json     (FILE "-" reads stdin)
#       FILE is a JSON array of cases (fields below); prints each case's output
#   ruby spec/tools/ruby_check.rb --spec spec/test_liquid.lua [...] [--verbose]
#       extracts every case from a LuaUnit spec file by running it under
#       lua5.4 with `rivulet` and `luaunit` replaced by recorders, renders each
#       case with Ruby and prints the ones whose expectation Ruby disagrees with.
#       Exit status 1 when any case disagrees.
#
# A case is a JSON object:
#   template            the source
#   data                the render context (default {})
#   mode                "lax" (default) | "strict"           -> error_mode
#   partials            { name => source }                   -> a file system
#   strict_variables, strict_filters                         -> render options
#   strict_errors       true -> render! (errors raise)
#   now                 epoch seconds: Time.now is frozen there ("now"/"today")
#   timezone            IANA name, sets ENV["TZ"] (default America/Los_Angeles,
#                       rivulet's default)
#   expect              expected output (string)           } for --spec: what
#   expect_error        true: parse or render must fail     } the spec asserts
#   expect_contains     a substring the output must contain }
#
# In spec files, an assertion is skipped (not sent to Ruby) when its line, the
# comment lines just above it, its test function's `function` line, the
# comment lines just above that or the comment lines that open its body carry a marker:
#   -- ours      rivulet's own design (0-based Lua arrays are fine: JSON keeps
#                them; limits, error message format, to_json, options)
#   -- 5.13      Shopify Liquid 5.13 behaviour (per NOTES.md) that Debian's
#                5.4.0 does not have or does differently
# Cases that use `limits`, or a partials *function*, are skipped automatically.

require "json"
require "liquid"

DEFAULT_TZ = "America/Los_Angeles"

# Freeze the clock on demand: Liquid's date filter reads Time.now for "now"/"today".
class << Time
  alias_method :ruby_check_real_now, :now
  attr_accessor :ruby_check_frozen

  def now(*args, **kw)
    ruby_check_frozen ? Time.at(ruby_check_frozen) : ruby_check_real_now(*args, **kw)
  end
end

# A file system serving partials from a hash, like rivulet's `partials` table.
class HashFileSystem
  def initialize(partials)
    @partials = partials || {}
  end

  def read_template_file(name)
    raise Liquid::FileSystemError, "No such template '#{name}'" unless @partials.key?(name)

    @partials[name]
  end
end

# Renders one case; returns [:ok, output] or [:error, "Class: message"].
def run_case(c)
  ENV["TZ"] = c["timezone"] || DEFAULT_TZ
  Time.ruby_check_frozen = c["now"]
  fs = HashFileSystem.new(c["partials"])
  Liquid::Template.file_system = fs
  mode = (c["mode"] || "lax").to_sym
  template = Liquid::Template.parse(c["template"], error_mode: mode)
  data = c["data"]
  data = {} unless data.is_a?(Hash)
  render_opts = {}
  render_opts[:strict_variables] = true if c["strict_variables"]
  render_opts[:strict_filters] = true if c["strict_filters"]
  registers = { file_system: fs }
  out = if c["strict_errors"]
          template.render!(data, render_opts.merge(registers: registers))
        else
          template.render(data, render_opts.merge(registers: registers))
        end
  [:ok, out]
rescue Liquid::Error, StandardError, SystemStackError => e
  [:error, "#{e.class}: #{e.message}"]
ensure
  Time.ruby_check_frozen = nil
end

# The Lua side of --spec: load a spec file with recorders in place of
# `rivulet` and `luaunit`, run every Test*.test* method, print the cases as JSON.
LUA_EXTRACTOR = <<~'LUA'
  local specfile = arg[1]
  local cjson_ok, cjson = pcall(require, "cjson")
  local null = cjson_ok and cjson.null or {}
  local array_mt = cjson_ok and cjson.array_mt or {}
  local empty_array_mt = cjson_ok and cjson.empty_array_mt or {}

  local lines = {}
  for l in io.lines(specfile) do lines[#lines + 1] = l end

  local cases, unused = {}, {}
  local current_name, current_fn, extract_errors = nil, nil, {}

  local Call = {}
  Call.__index = function(self, k)
    if k == "render" then
      return function(tpl, ctx, opts)
        local merged = {}
        for kk, v in pairs(tpl.opts or {}) do merged[kk] = v end
        for kk, v in pairs(opts or {}) do merged[kk] = v end
        return Call.new("render", tpl.src, ctx, merged), ""
      end
    end
    return function() return "" end
  end
  Call.__len = function() return 0 end
  Call.__concat = function(a, b) return "" end
  Call.__tostring = function() return "<call>" end
  function Call.new(kind, src, ctx, opts)
    local c = setmetatable({kind = kind, src = src, ctx = ctx, opts = opts or {}}, Call)
    c.test = current_name
    unused[c] = true
    return c
  end
  local function is_call(v) return getmetatable(v) == Call end

  package.loaded["rivulet"] = {
    liquid = {
      -- the second value stands in for `err`, so helpers that inspect it go on
      render = function(src, ctx, opts) return Call.new("render", src, ctx, opts), "" end,
      compile = function(src, opts) return Call.new("compile", src, nil, opts), "" end,
    },
  }

  local function marked(line)
    local l = lines[line] or ""
    if l:find("%-%-%s*ours") then return "ours" end
    if l:find("%-%-%s*5%.13") then return "5.13" end
  end
  local function marker_near(line)
    local m = marked(line)
    if m then return m end
    local i = line - 1
    while i > 0 and (lines[i] or ""):match("^%s*%-%-") do
      m = marked(i); if m then return m end
      i = i - 1
    end
  end

  local function site()
    for level = 3, 40 do
      local info = debug.getinfo(level, "fl")
      if not info then break end
      if info.func == current_fn then return info.currentline end
    end
    return 0
  end

  local function record(call, field, value)
    unused[call] = nil
    local line = site()
    local fdef = debug.getinfo(current_fn, "S").linedefined
    local case = {
      test = current_name, line = line, template = call.src, data = call.ctx,
      kind = call.kind,
    }
    case[field] = value
    local o = call.opts
    case.mode = o.mode; case.strict_variables = o.strict_variables
    case.strict_filters = o.strict_filters; case.strict_errors = o.strict_errors
    case.now = o.now; case.timezone = o.timezone
    if type(o.partials) == "function" then case.skip = "partials function"
    else case.partials = o.partials end
    if o.limits then case.skip = "limits (ours)" end
    local m = marker_near(line) or marker_near(fdef)
    local i = fdef + 1
    while not m and i < line and (lines[i] or ""):match("^%s*%-%-") do
      m = marked(i); i = i + 1
    end
    if m then case.skip = m end
    if call.kind == "compile" and field ~= "expect_error" then
      case.skip = case.skip or "compile only"
    end
    cases[#cases + 1] = case
  end

  local SKIP = {}
  local lu = setmetatable({}, {__index = function(_, name)
    return function(a, b, ...)
      if name == "skipIf" then if a then error(SKIP) end return end
      if name == "skip" then error(SKIP) end
      if not is_call(a) then
        if is_call(b) and name == "assertEquals" then record(b, "expect", a) end
        return
      end
      if name == "assertEquals" then
        if type(b) == "string" then record(a, "expect", b) end
      elseif name == "assertNil" or name == "assertIsNil" then
        record(a, "expect_error", true)
      elseif name == "assertNotNil" or name == "assertIsString" then
        record(a, "expect_ok", true)
      elseif name == "assertStrContains" and type(b) == "string" and not ... then
        record(a, "expect_contains", b)
      end
    end
  end})
  package.loaded["luaunit"] = lu

  local chunk = assert(loadfile(specfile))
  chunk()

  local classes = {}
  for k, v in pairs(_G) do
    if type(k) == "string" and k:match("^[Tt]est") and type(v) == "table" then
      classes[#classes + 1] = k
    end
  end
  table.sort(classes)
  for _, cname in ipairs(classes) do
    local cls = _G[cname]
    local methods = {}
    for k, v in pairs(cls) do
      if type(k) == "string" and k:match("^[Tt]est") and type(v) == "function" then
        methods[#methods + 1] = k
      end
    end
    table.sort(methods)
    for _, m in ipairs(methods) do
      current_name = cname .. "." .. m
      current_fn = cls[m]
      if cls.setUp then pcall(cls.setUp, cls) end
      local ok, err = pcall(cls[m], cls)
      if not ok and err ~= SKIP then extract_errors[#extract_errors + 1] = current_name .. ": " .. tostring(err) end
      if cls.tearDown then pcall(cls.tearDown, cls) end
    end
  end

  -- JSON out (integers and floats kept apart: 3 vs 3.0)
  local function num(n)
    if math.type(n) == "integer" then return string.format("%d", n) end
    if n ~= n or n == math.huge or n == -math.huge then return "null" end
    local s
    for p = 15, 17 do
      s = string.format("%." .. p .. "g", n)
      if tonumber(s) == n then break end
    end
    if not s:find("[%.eEn]") then s = s .. ".0" end
    return s
  end
  local function str(s)
    return '"' .. s:gsub('[%c"\\]', function(c)
      local map = {['"'] = '\\"', ['\\'] = '\\\\', ['\n'] = '\\n', ['\t'] = '\\t', ['\r'] = '\\r'}
      return map[c] or string.format("\\u%04x", c:byte())
    end) .. '"'
  end
  local enc
  local function is_array(t)
    local mt = getmetatable(t)
    return t[1] ~= nil or mt == array_mt or mt == empty_array_mt
  end
  enc = function(v)
    local t = type(v)
    if v == nil or v == null then return "null"
    elseif t == "boolean" then return tostring(v)
    elseif t == "number" then return num(v)
    elseif t == "string" then return str(v)
    elseif t == "table" then
      if is_call(v) then return "null" end
      local parts = {}
      if is_array(v) then
        for i = 1, #v do parts[#parts + 1] = enc(v[i]) end
        return "[" .. table.concat(parts, ",") .. "]"
      end
      local keys = {}
      for k in pairs(v) do keys[#keys + 1] = tostring(k) end
      table.sort(keys)
      for _, k in ipairs(keys) do
        local val = v[k]
        if val == nil then val = v[tonumber(k)] end
        parts[#parts + 1] = str(k) .. ":" .. enc(val)
      end
      return "{" .. table.concat(parts, ",") .. "}"
    else return "null" end
  end
  local n_unused = 0
  for _ in pairs(unused) do n_unused = n_unused + 1 end
  io.write(enc({cases = cases, extract_errors = extract_errors, unasserted = n_unused}))
LUA

def extract(specfile)
  require "tempfile"
  Tempfile.create(["ruby_check", ".lua"]) do |f|
    f.write(LUA_EXTRACTOR)
    f.flush
    out = IO.popen(["lua5.4", f.path, specfile], &:read)
    raise "lua5.4 failed on #{specfile}" unless $?.success?

    JSON.parse(out)
  end
end

def check_case(c)
  status, out = run_case(c)
  if c["expect_error"]
    return nil if status == :error

    "expected an error, Ruby rendered #{out.inspect}"
  elsif status == :error
    "Ruby raised #{out}"
  elsif c.key?("expect")
    return nil if out == c["expect"]

    "expected #{c['expect'].inspect}, Ruby gives #{out.inspect}"
  elsif c.key?("expect_contains")
    return nil if out.include?(c["expect_contains"])

    "expected to contain #{c['expect_contains'].inspect}, Ruby gives #{out.inspect}"
  end
end

def check_spec(files, verbose)
  bad = 0
  files.each do |file|
    data = extract(file)
    cases = data["cases"]
    skipped = Hash.new(0)
    checked = 0
    cases.each do |c|
      if c["skip"]
        skipped[c["skip"]] += 1
        next
      end
      checked += 1
      problem = check_case(c)
      if problem
        bad += 1
        puts "#{file}:#{c['line']}: #{c['test']}: #{c['template'].inspect}"
        puts "    #{problem}"
      elsif verbose
        puts "ok #{file}:#{c['line']}: #{c['test']}"
      end
    end
    data["extract_errors"].each { |e| puts "#{file}: could not extract: #{e}" }
    puts "#{file}: #{cases.size} assertions on renders, #{checked} checked with Ruby Liquid " \
         "#{Liquid::VERSION}, skipped #{skipped.map { |k, v| "#{v} #{k}" }.join(', ')}" \
         "#{data['unasserted'].positive? ? ", #{data['unasserted']} renders not asserted directly" : ''}"
  end
  puts bad.zero? ? "all agree" : "#{bad} disagree"
  bad.zero?
end

args = ARGV.dup
verbose = args.delete("--verbose")
case args.first
when "--spec"
  exit(check_spec(args.drop(1), verbose) ? 0 : 1)
when "--cases"
  src = args[1] == "-" || args[1].nil? ? $stdin.read : File.read(args[1])
  JSON.parse(src).each_with_index do |c, i|
    status, out = run_case(c)
    puts "#{c['name'] || i}: #{status == :ok ? out.inspect : out}"
  end
when nil, "-h", "--help"
  puts File.read(__FILE__).lines.drop(2).take_while { |l| l.start_with?("#") }.map { |l| l.sub(/^# ?/, "") }
else
  c = { "template" => args[0], "data" => JSON.parse(args[1] || "{}") }
  c.merge!(JSON.parse(args[2])) if args[2]
  status, out = run_case(c)
  puts status == :ok ? out.inspect : out
  exit(status == :ok ? 0 : 1)
end
