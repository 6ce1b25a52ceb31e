-- The C binding of Liquid rendering (src/lrv_liquid.c): prepared options
-- (core.liquid_options, read once) render as the same options table does; the render state
-- and refs table it reuses between renders hold nothing afterwards, and a render inside a
-- render (a partial loader that renders) gets its own.
local lu = require "luaunit"
local core = require "rivulet.core"

TestLiquidBinding = {}

local function compile(src)
  local t, err = core.liquid_compile(src, "lax", "t")
  assert(t, err)
  return t
end

function TestLiquidBinding:test_prepared_options_render_as_the_table_does()
  local t = compile("{{ 'now' | date: '%Y-%m-%d %H:%M' }} {{ a.b }}")
  local ctx = { a = { b = "x" } }
  local now = 1700000000
  local by_table = t:render(ctx, { timezone = "Europe/Paris", now = now, name = "n" })
  local prepared = core.liquid_options{ timezone = "Europe/Paris" }
  lu.assertEquals(t:render(ctx, prepared, "n", now), by_table)
  lu.assertEquals(by_table, "2023-11-14 23:13 x")
  -- another timezone prepared apart: the option is the prepared one's, not a leftover
  local utc = core.liquid_options{ timezone = "UTC" }
  lu.assertEquals(t:render(ctx, utc, "n", now), "2023-11-14 22:13 x")
end

function TestLiquidBinding:test_prepared_options_name_the_template_in_errors()
  local t = compile("{{ 1 | divided_by: 0 }}")
  local strict = core.liquid_options{ strict_errors = true }
  local out, err = t:render({}, strict, "greeting")
  lu.assertNil(out)
  lu.assertStrContains(err, "greeting")
  out, err = t:render({}, strict)
  lu.assertNil(out)
  lu.assertStrContains(err, "template")
end

function TestLiquidBinding:test_prepared_options_limits_hold()
  local t = compile("{% for i in (1..100) %}x{% endfor %}")
  local capped = core.liquid_options{ strict_errors = true, limits = { output_bytes = 10 } }
  lu.assertNil((t:render({}, capped)))
  lu.assertEquals(#t:render({}, core.liquid_options{ limits = { output_bytes = 100 } }), 100)
end

function TestLiquidBinding:test_options_must_be_a_table()
  lu.assertErrorMsgContains("table expected", core.liquid_options, "UTC")
end

function TestLiquidBinding:test_a_render_keeps_nothing_of_its_context()
  local t = compile("{% for p in ps %}{{ p.n }}{% endfor %}{{ h.size }}")
  local weak = setmetatable({}, { __mode = "v" })
  do
    local ctx = { ps = { { n = 1 }, { n = 2 } }, h = { a = 1, b = 2 } }
    weak[1], weak[2] = ctx.ps, ctx.h
    lu.assertEquals(t:render(ctx, core.liquid_options{}), "122")
  end
  collectgarbage()
  collectgarbage()
  lu.assertNil(weak[1])
  lu.assertNil(weak[2])
end

function TestLiquidBinding:test_a_render_inside_a_render()
  local inner = compile("[{{ v }}]")
  local part = compile("<{{ w }}>")
  local seen
  local function loader(name)
    -- renders while the outer render runs: the shared render state is in use
    seen = inner:render({ v = name }, {})
    return part
  end
  local outer = compile("{% render 'p', w: 'in' %}{{ x }}")
  lu.assertEquals(outer:render({ x = "!" }, { loader = loader }), "<in>!")
  lu.assertEquals(seen, "[p]")
  -- and the shared state is free again
  lu.assertEquals(inner:render({ v = 1 }, core.liquid_options{}), "[1]")
end

-- a hash's size is counted once per render and kept by the binding, not in the hash
function TestLiquidBinding:test_a_hash_size_leaves_the_hash_alone()
  local t = compile("{% for i in (1..3) %}{{ h.size }}{% endfor %}")
  local h = { a = 1, b = 2 }
  lu.assertEquals(t:render({ h = h }, {}), "222")
  local n = 0
  for _ in pairs(h) do n = n + 1 end
  lu.assertEquals(n, 2)
end

-- Each template looks its names up by its own key numbers: a partial numbers the same
-- names differently from its caller, and the caller's numbers hold again after it.
function TestLiquidBinding:test_partials_use_their_own_key_numbers()
  local parts = { p = compile("({{ b }}{{ x.b }}{{ a }}{{ x.a }})"), q = compile("[{{ x.c }}{{ a }}]") }
  local t = compile("{{ a }}{{ x.a }}{% include 'p' %}{% render 'q', x: x, a: b %}{{ b }}{{ x.b }}{{ x['c'] }}")
  local ctx = { a = "A", b = "B", x = { a = 1, b = 2, c = 3 } }
  local opts = { loader = function(name) return parts[name] end }
  lu.assertEquals(t:render(ctx, opts), "A1(B2A1)[3B]B23")
end

-- more partials than the binding prepares keys for, and more tables than it anchors on the
-- stack: the rest are looked up by name and anchored in its table, with the same output
function TestLiquidBinding:test_past_the_stack_anchors_and_key_templates()
  local parts, src, want = {}, {}, {}
  for i = 1, 20 do
    parts["p" .. i] = compile("{{ v.k" .. i .. " }}")
    src[#src + 1] = "{% include 'p" .. i .. "' %}"
    want[#want + 1] = tostring(i)
  end
  local v = {}
  for i = 1, 20 do v["k" .. i] = i end
  lu.assertEquals(compile(table.concat(src)):render({ v = v }, { loader = function(n) return parts[n] end }),
                  table.concat(want))
  local rows = {}
  for i = 1, 12000 do rows[i] = { n = i, sub = { m = i % 7 } } end
  local t = compile("{% for r in rows %}{% assign s = r.sub %}{{ r.n | plus: s.m }},{% endfor %}{{ rows.first.n }}")
  local out = t:render({ rows = rows }, { limits = { output_bytes = 1 << 20 } })
  local exp = {}
  for i = 1, 12000 do exp[i] = tostring(i + i % 7) .. "," end
  lu.assertEquals(out, table.concat(exp) .. "1")
end
