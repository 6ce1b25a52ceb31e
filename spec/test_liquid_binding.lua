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
