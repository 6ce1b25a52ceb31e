-- Liquid tags, output and variable lookup (Shopify Liquid 5 semantics).
--
-- Expectations were checked against Ruby Liquid (Debian ruby-liquid 5.4.0) with
-- `ruby spec/tools/ruby_check.rb --spec spec/test_liquid.lua`, except those
-- marked `-- ours` (rivulet's own design) or `-- 5.13` (Shopify Liquid 5.13
-- behaviour that 5.4 lacks; see /work/shared/liquid/NOTES.md). Loops stay at
-- 15 iterations or fewer per template: that is Studio's loop cap.
local lu = require "luaunit"
local cjson = require "cjson"
local liquid = require("rivulet").liquid

-- Renders, and turns a failure into a string so a failed assertion shows it.
local function render(src, ctx, opts)
  local out, err = liquid.render(src, ctx or {}, opts)
  if out == nil then return "<error: " .. tostring(err) .. ">" end
  return out
end

-- Debian's lua-cjson 2.1.0 has no array_mt; the contract's empty array needs it.
local ARRAY_MT = cjson.array_mt or cjson.empty_array_mt
local NO_ARRAY_MT = "this lua-cjson has no array_mt to mark an empty array"

-- An empty array made inside the template (no need for cjson's array_mt).
local EMPTY = "{% assign e = '' | split: ',' %}"

local function with_partials(partials, extra)
  local o = { partials = partials }
  for k, v in pairs(extra or {}) do o[k] = v end
  return o
end

-- ---------------------------------------------------------------------------
TestLiquidOutput = {}

function TestLiquidOutput.test_plain_text_passes_through()
  lu.assertEquals(render("hello, world\n"), "hello, world\n")
  lu.assertEquals(render(""), "")
end

function TestLiquidOutput.test_string_literals()
  lu.assertEquals(render("{{ 'single' }}"), "single")
  lu.assertEquals(render('{{ "double" }}'), "double")
  lu.assertEquals(render([[{{ "it's" }}]]), "it's")
end

function TestLiquidOutput.test_number_and_boolean_literals()
  lu.assertEquals(render("{{ 42 }}"), "42")
  lu.assertEquals(render("{{ -3 }}"), "-3")
  lu.assertEquals(render("{{ 1.5 }}"), "1.5")
  lu.assertEquals(render("{{ true }} {{ false }}"), "true false")
end

function TestLiquidOutput.test_nil_literal_renders_empty()
  lu.assertEquals(render("[{{ nil }}][{{ null }}]"), "[][]")
end

function TestLiquidOutput.test_range_literal_prints_as_range()
  lu.assertEquals(render("{{ (1..3) }}"), "1..3")
end

function TestLiquidOutput.test_variable_lookup()
  lu.assertEquals(render("Hi {{ name }}!", { name = "Ana" }), "Hi Ana!")
  lu.assertEquals(render("{{ a.b.c }}", { a = { b = { c = "deep" } } }), "deep")
end

function TestLiquidOutput.test_undefined_variables_render_empty_at_any_depth()
  lu.assertEquals(render("[{{ missing }}]"), "[]")
  lu.assertEquals(render("[{{ missing.a.b }}]"), "[]")
  lu.assertEquals(render("[{{ a.missing.b }}]", { a = { x = 1 } }), "[]")
end

function TestLiquidOutput.test_cjson_null_renders_as_nil()
  lu.assertEquals(render("[{{ n }}]", { n = cjson.null }), "[]")
  lu.assertEquals(render("{% if n == nil %}nil{% endif %}", { n = cjson.null }), "nil")
end

function TestLiquidOutput.test_integers_and_floats_are_distinct()
  lu.assertEquals(render("{{ i }} {{ f }}", { i = 3, f = 3.0 }), "3 3.0")
end

function TestLiquidOutput.test_floats_print_like_ruby()
  lu.assertEquals(render("{{ f }}", { f = 2.5 }), "2.5")
  lu.assertEquals(render("{{ f }}", { f = 0.1 }), "0.1")
  lu.assertEquals(render("{{ f }}", { f = 0.0001 }), "0.0001")
  lu.assertEquals(render("{{ f }}", { f = 1e-05 }), "1.0e-05")
  lu.assertEquals(render("{{ f }}", { f = 1e14 }), "100000000000000.0")
  lu.assertEquals(render("{{ f }}", { f = 123456789012345.0 }), "123456789012345.0")
  lu.assertEquals(render("{{ f }}", { f = 1e15 }), "1.0e+15")
  lu.assertEquals(render("{{ f }}", { f = 1e16 }), "1.0e+16")
  lu.assertEquals(render("{{ f }}", { f = 1e20 }), "1.0e+20")
  lu.assertEquals(render("{{ f }}", { f = -0.0 }), "-0.0")
  lu.assertEquals(render("{{ f }}", { f = 123456.789 }), "123456.789")
end

function TestLiquidOutput.test_float_literal_in_exponent_range()
  lu.assertEquals(render("{{ 100000000000000000000.0 }}"), "1.0e+20")
end

function TestLiquidOutput.test_booleans_from_context()
  lu.assertEquals(render("{{ t }}/{{ f }}", { t = true, f = false }), "true/false")
end

function TestLiquidOutput.test_arrays_print_joined_and_flattened()
  lu.assertEquals(render("{{ a }}", { a = { 1, 2, 3 } }), "123")
  lu.assertEquals(render("{{ a }}", { a = { 1, "a", { 2, 3 } } }), "1a23")
end

function TestLiquidOutput.test_empty_array_prints_empty()
  lu.assertEquals(render(EMPTY .. "[{{ e }}]"), "[]")
end

function TestLiquidOutput.test_empty_table_with_cjson_array_mt_is_an_array()
  lu.skipIf(ARRAY_MT == nil, NO_ARRAY_MT)
  local a = setmetatable({}, ARRAY_MT)
  lu.assertEquals(render("[{{ a }}]", { a = a }), "[]")
  lu.assertEquals(render("{{ a.size }}{% for x in a %}x{% else %}none{% endfor %}", { a = a }), "0none")
end

function TestLiquidOutput.test_empty_table_with_liquid_array_mt_is_an_array()
  -- ours: rivulet.liquid.array_mt marks a Lua table as an array even when empty
  local a = setmetatable({}, liquid.array_mt)
  lu.assertEquals(render("[{{ a }}]", { a = a }), "[]")
  lu.assertEquals(render("{{ a.size }}{% for x in a %}x{% else %}none{% endfor %}", { a = a }), "0none")
  lu.assertEquals(render("{% if a == empty %}empty{% endif %}", { a = a }), "empty")
  lu.assertEquals(render("{{ a | join: ',' }}", { a = setmetatable({ 1, 2 }, liquid.array_mt) }), "1,2")
end

function TestLiquidOutput.test_empty_hash_prints_in_ruby_inspect_form()
  lu.assertEquals(render("{{ h }}", { h = {} }), "{}")
end

function TestLiquidOutput.test_hash_prints_in_ruby_inspect_form()
  lu.assertEquals(render("{{ h }}", { h = { a = 1 } }), '{"a"=>1}')
end

function TestLiquidOutput.test_index_zero_is_the_first_lua_element()
  -- design: Lua arrays are 1-based; Liquid's a[0] is the Lua a[1]
  local ctx = { a = { "x", "y", "z" } }
  lu.assertEquals(render("{{ a[0] }}{{ a[1] }}{{ a[2] }}", ctx), "xyz")
  lu.assertEquals(render("[{{ a[3] }}]", ctx), "[]")
end

function TestLiquidOutput.test_negative_indexes_count_from_the_end()
  local ctx = { a = { "x", "y", "z" } }
  lu.assertEquals(render("{{ a[-1] }}{{ a[-3] }}", ctx), "zx")
  lu.assertEquals(render("[{{ a[-4] }}]", ctx), "[]")
end

function TestLiquidOutput.test_first_last_size_lookups_on_arrays()
  local ctx = { a = { "x", "y", "z" } }
  lu.assertEquals(render("{{ a.first }} {{ a.last }} {{ a.size }}", ctx), "x z 3")
end

function TestLiquidOutput.test_size_lookup_on_string_and_hash()
  lu.assertEquals(render("{{ s.size }}", { s = "hello" }), "5")
  lu.assertEquals(render("{{ h.size }}", { h = { a = 1, b = 2 } }), "2")
end

function TestLiquidOutput.test_size_lookup_prefers_a_size_key()
  lu.assertEquals(render("{{ h.size }}", { h = { size = "big", b = 2 } }), "big")
end

function TestLiquidOutput.test_bracket_lookup_with_string_and_variable()
  local ctx = { h = { name = "Ana", ["two words"] = "yes" }, k = "name" }
  lu.assertEquals(render("{{ h['name'] }}", ctx), "Ana")
  lu.assertEquals(render("{{ h[k] }}", ctx), "Ana")
  lu.assertEquals(render('{{ h["two words"] }}', ctx), "yes")
end

function TestLiquidOutput.test_bracket_lookup_with_integer_variable()
  local ctx = { a = { "x", "y", "z" }, i = 1 }
  lu.assertEquals(render("{{ a[i] }}", ctx), "y")
end

function TestLiquidOutput.test_nested_bracket_and_dot_lookups()
  local ctx = { users = { { name = "Ana" }, { name = "Bo" } }, key = "name" }
  lu.assertEquals(render("{{ users[1].name }}", ctx), "Bo")
  lu.assertEquals(render("{{ users[0][key] }}", ctx), "Ana")
  lu.assertEquals(render("{{ users.last.name }}", ctx), "Bo")
end

function TestLiquidOutput.test_hyphenated_names_like_studio_widgets()
  local ctx = { widgets = { ["my-fn"] = { parsed = { ok = "yes" } } } }
  lu.assertEquals(render("{{ widgets.my-fn.parsed.ok }}", ctx), "yes")
end

function TestLiquidOutput.test_bracket_lookup_on_top_level_name()
  lu.assertEquals(render("{{ ['a b'] }}", { ["a b"] = "spaced" }), "spaced")
end

function TestLiquidOutput.test_filters_chain_left_to_right()
  lu.assertEquals(render("{{ 'abc' | upcase | append: '!' | prepend: '<' }}"), "<ABC!")
end

function TestLiquidOutput.test_unknown_filter_returns_input_in_lax_mode()
  lu.assertEquals(render("{{ 'abc' | no_such_filter }}"), "abc")
end

function TestLiquidOutput.test_compiled_template_renders_many_times()
  local t = liquid.compile("Hi {{ name }}")
  lu.assertNotNil(t)
  lu.assertEquals(t:render({ name = "A" }), "Hi A")
  lu.assertEquals(t:render({ name = "B" }), "Hi B")
end

function TestLiquidOutput.test_compiled_template_keeps_no_state_between_renders()
  local t = liquid.compile("{% increment n %}{% assign x = x | append: 'a' %}{{ x }}")
  lu.assertEquals(t:render({}), "0a")
  lu.assertEquals(t:render({}), "0a")
end

function TestLiquidOutput.test_render_does_not_modify_the_context_table()
  local ctx = { x = 1 }
  render("{% assign x = 2 %}{% assign y = 3 %}", ctx)
  -- design: assigns live in the render's own scope, never in the caller's table
  lu.assertEquals(ctx, { x = 1 })
end

-- ---------------------------------------------------------------------------
TestLiquidAssign = {}

function TestLiquidAssign.test_assign_string()
  lu.assertEquals(render("{% assign x = 'hi' %}{{ x }}"), "hi")
end

function TestLiquidAssign.test_assign_with_filters()
  lu.assertEquals(render("{% assign x = 5 | plus: 2 | times: 3 %}{{ x }}"), "21")
end

function TestLiquidAssign.test_assign_from_lookup()
  lu.assertEquals(render("{% assign x = a.b %}{{ x }}", { a = { b = "c" } }), "c")
end

function TestLiquidAssign.test_assign_shadows_context_value()
  lu.assertEquals(render("{{ x }}{% assign x = 2 %}{{ x }}", { x = 1 }), "12")
end

function TestLiquidAssign.test_assign_array_then_index()
  lu.assertEquals(render("{% assign l = 'a,b,c' | split: ',' %}{{ l[1] }}{{ l.size }}"), "b3")
end

function TestLiquidAssign.test_assign_inside_loop_is_visible_after_it()
  lu.assertEquals(render("{% for i in (1..3) %}{% assign last = i %}{% endfor %}{{ last }}"), "3")
end

function TestLiquidAssign.test_assign_inside_if_is_visible_after_it()
  lu.assertEquals(render("{% if true %}{% assign x = 'in' %}{% endif %}{{ x }}"), "in")
end

function TestLiquidAssign.test_assign_boolean_and_nil()
  lu.assertEquals(render("{% assign t = true %}{% if t %}yes{% endif %}"), "yes")
  lu.assertEquals(render("{% assign n = nil %}[{{ n }}]", { n = "ctx" }), "[]")
end

function TestLiquidAssign.test_assign_range()
  lu.assertEquals(render("{% assign r = (1..4) %}{% for i in r %}{{ i }}{% endfor %}"), "1234")
end

function TestLiquidAssign.test_capture_renders_into_a_variable()
  lu.assertEquals(render("{% capture c %}a{{ 1 | plus: 1 }}b{% endcapture %}[{{ c }}]"), "[a2b]")
end

function TestLiquidAssign.test_capture_keeps_whitespace()
  lu.assertEquals(render("{% capture c %} x\n{% endcapture %}[{{ c }}]"), "[ x\n]")
end

function TestLiquidAssign.test_capture_outputs_nothing_itself()
  lu.assertEquals(render("a{% capture c %}hidden{% endcapture %}b"), "ab")
end

function TestLiquidAssign.test_capture_overrides_assign()
  lu.assertEquals(render("{% assign c = 1 %}{% capture c %}2{% endcapture %}{{ c }}"), "2")
end

function TestLiquidAssign.test_capture_can_use_loops()
  lu.assertEquals(render("{% capture c %}{% for i in (1..3) %}{{ i }},{% endfor %}{% endcapture %}{{ c | size }}"), "6")
end

-- ---------------------------------------------------------------------------
TestLiquidCase = {}

local CASE = "{% case x %}{% when 1 %}one{% when 2 %}two{% else %}other{% endcase %}"

function TestLiquidCase.test_case_matches_when()
  lu.assertEquals(render(CASE, { x = 1 }), "one")
  lu.assertEquals(render(CASE, { x = 2 }), "two")
end

function TestLiquidCase.test_case_else()
  lu.assertEquals(render(CASE, { x = 7 }), "other")
  lu.assertEquals(render(CASE), "other")
end

function TestLiquidCase.test_case_does_not_coerce_strings()
  lu.assertEquals(render(CASE, { x = "1" }), "other")
end

function TestLiquidCase.test_case_int_matches_equal_float()
  lu.assertEquals(render(CASE, { x = 2.0 }), "two")
end

function TestLiquidCase.test_when_with_comma_list()
  local src = "{% case x %}{% when 1, 2 %}low{% when 3 %}three{% endcase %}"
  lu.assertEquals(render(src, { x = 2 }), "low")
  lu.assertEquals(render(src, { x = 3 }), "three")
end

function TestLiquidCase.test_when_with_or()
  local src = "{% case x %}{% when 'a' or 'b' %}ab{% else %}no{% endcase %}"
  lu.assertEquals(render(src, { x = "b" }), "ab")
  lu.assertEquals(render(src, { x = "c" }), "no")
end

function TestLiquidCase.test_every_matching_when_renders()
  lu.assertEquals(render("{% case x %}{% when 1 %}a{% when 1, 2 %}b{% endcase %}", { x = 1 }), "ab")
end

function TestLiquidCase.test_case_with_strings_and_variables()
  local src = "{% case s %}{% when want %}same{% else %}diff{% endcase %}"
  lu.assertEquals(render(src, { s = "hi", want = "hi" }), "same")
  lu.assertEquals(render(src, { s = "hi", want = "HI" }), "diff")
end

function TestLiquidCase.test_case_text_before_first_when_is_ignored()
  lu.assertEquals(render("{% case 1 %}ignored{% when 1 %}one{% endcase %}"), "one")
end

function TestLiquidCase.test_case_when_empty()
  lu.assertEquals(render("{% case s %}{% when empty %}e{% else %}n{% endcase %}", { s = "" }), "e")
end

function TestLiquidCase.test_case_without_match_or_else_renders_nothing()
  lu.assertEquals(render("[{% case 5 %}{% when 1 %}one{% endcase %}]"), "[]")
end

-- ---------------------------------------------------------------------------
TestLiquidComments = {}

function TestLiquidComments.test_comment_hides_its_body()
  lu.assertEquals(render("a{% comment %} {{ x }} hidden {% endcomment %}b", { x = 1 }), "ab")
end

function TestLiquidComments.test_comment_body_tags_do_not_run()
  lu.assertEquals(render("{% comment %}{% assign x = 1 %}{% endcomment %}[{{ x }}]"), "[]")
end

function TestLiquidComments.test_nested_comments()
  lu.assertEquals(render("{% comment %}a{% comment %}b{% endcomment %}c{% endcomment %}d"), "d")
end

function TestLiquidComments.test_inline_comment()
  lu.assertEquals(render("a{% # a note about {{ x }} %}b"), "ab")
  lu.assertEquals(render("a{%# no space %}b"), "ab")
end

function TestLiquidComments.test_inline_comment_in_liquid_tag()
  lu.assertEquals(render("{% liquid\n  # first a note\n  echo 'x'\n  # another\n%}"), "x")
end

function TestLiquidComments.test_doc_hides_its_body()
  -- 5.13: doc is new in Liquid 5.8; Debian's 5.4 treats it as an unknown tag
  lu.assertEquals(render("a{% doc %}\n  @param {string} x - {{ x }}\n{% enddoc %}b"), "ab")
end

function TestLiquidComments.test_raw_outputs_markup_verbatim()
  lu.assertEquals(render("{% raw %}{{ x }} {% if %}{% endraw %}", { x = 1 }), "{{ x }} {% if %}")
end

function TestLiquidComments.test_raw_keeps_whitespace()
  lu.assertEquals(render("a{% raw %} {{ y }}\n {% endraw %}b"), "a {{ y }}\n b")
end

-- ---------------------------------------------------------------------------
TestLiquidCycle = {}

function TestLiquidCycle.test_cycle_in_loop()
  lu.assertEquals(render("{% for i in (1..5) %}{% cycle 'a', 'b', 'c' %}{% endfor %}"), "abcab")
end

function TestLiquidCycle.test_cycles_with_same_values_share_position()
  lu.assertEquals(render("{% cycle 'a', 'b' %}{% cycle 'a', 'b' %}{% cycle 'a', 'b' %}"), "aba")
end

function TestLiquidCycle.test_cycles_with_different_values_are_separate()
  lu.assertEquals(render("{% cycle 'a', 'b' %}{% cycle 'x', 'y' %}{% cycle 'a', 'b' %}"), "axb")
end

function TestLiquidCycle.test_named_cycle_groups()
  lu.assertEquals(render("{% cycle 'g1': 'a', 'b' %}{% cycle 'g2': 'a', 'b' %}{% cycle 'g1': 'a', 'b' %}"), "aab")
end

function TestLiquidCycle.test_cycle_with_variables_and_numbers()
  lu.assertEquals(render("{% for i in (1..3) %}{% cycle x, 2 %}{% endfor %}", { x = "v" }), "v2v")
end

function TestLiquidCycle.test_increment_starts_at_zero()
  lu.assertEquals(render("{% increment n %}{% increment n %}{% increment n %}"), "012")
end

function TestLiquidCycle.test_increment_value_is_readable()
  lu.assertEquals(render("{% increment n %}{% increment n %}{{ n }}"), "012")
end

function TestLiquidCycle.test_decrement_starts_at_minus_one()
  lu.assertEquals(render("{% decrement n %}{% decrement n %}"), "-1-2")
end

function TestLiquidCycle.test_increment_and_decrement_share_a_counter()
  lu.assertEquals(render("{% increment n %}{% increment n %}{% decrement n %}"), "011")
end

function TestLiquidCycle.test_counters_are_separate_from_assign()
  lu.assertEquals(render("{% assign n = 5 %}{% increment n %}{% increment n %}{{ n }}"), "015")
end

function TestLiquidCycle.test_counters_ignore_and_then_hide_a_context_value()
  -- 5.13 (liquid-spec IncrementTagTest): counters start at 0 whatever the context holds,
  -- and {{ n }} then finds the counter; 5.4 counted on from the context value ("1011|12")
  lu.assertEquals(render("{% increment n %}{% increment n %}|{{ n }}", { n = 10 }), "01|2")
  lu.assertEquals(render("{% decrement n %}|{{ n }}", { n = 10 }), "-1|-1")
end

function TestLiquidCycle.test_separate_counters_per_name()
  lu.assertEquals(render("{% increment a %}{% increment b %}{% increment a %}"), "001")
end

-- ---------------------------------------------------------------------------
TestLiquidFor = {}

function TestLiquidFor.test_for_over_array()
  lu.assertEquals(render("{% for x in a %}{{ x }},{% endfor %}", { a = { 1, 2, 3 } }), "1,2,3,")
end

function TestLiquidFor.test_for_over_array_of_hashes()
  local ctx = { users = { { name = "Ana" }, { name = "Bo" } } }
  lu.assertEquals(render("{% for u in users %}<{{ u.name }}>{% endfor %}", ctx), "<Ana><Bo>")
end

function TestLiquidFor.test_for_over_range()
  lu.assertEquals(render("{% for i in (1..4) %}{{ i }}{% endfor %}"), "1234")
end

function TestLiquidFor.test_for_over_range_with_variable_bounds()
  lu.assertEquals(render("{% for i in (a..b) %}{{ i }}{% endfor %}", { a = 2, b = 5 }), "2345")
  lu.assertEquals(render("{% for i in (1..n.size) %}{{ i }}{% endfor %}", { n = { 7, 8 } }), "12")
end

function TestLiquidFor.test_range_bounds_convert_strings_and_floats()
  lu.assertEquals(render("{% for i in (a..b) %}{{ i }}{% endfor %}", { a = "2", b = "4" }), "234")
  lu.assertEquals(render("{% for i in (1.9..3.2) %}{{ i }}{% endfor %}"), "123")
end

function TestLiquidFor.test_range_with_negative_bounds()
  lu.assertEquals(render("{% for i in (-2..1) %}{{ i }},{% endfor %}"), "-2,-1,0,1,")
end

function TestLiquidFor.test_reversed_range_is_empty()
  lu.assertEquals(render("{% for i in (3..1) %}{{ i }}{% else %}none{% endfor %}"), "none")
end

function TestLiquidFor.test_limit()
  lu.assertEquals(render("{% for i in (1..5) limit: 2 %}{{ i }}{% endfor %}"), "12")
end

function TestLiquidFor.test_offset()
  lu.assertEquals(render("{% for i in (1..5) offset: 2 %}{{ i }}{% endfor %}"), "345")
end

function TestLiquidFor.test_limit_and_offset()
  lu.assertEquals(render("{% for i in (1..5) limit: 2 offset: 1 %}{{ i }}{% endfor %}"), "23")
end

function TestLiquidFor.test_limit_and_offset_from_variables()
  local ctx = { a = { "a", "b", "c", "d" }, n = 2, o = 1 }
  lu.assertEquals(render("{% for x in a limit: n offset: o %}{{ x }}{% endfor %}", ctx), "bc")
end

function TestLiquidFor.test_limit_zero_renders_else()
  lu.assertEquals(render("{% for i in (1..3) limit: 0 %}x{% else %}empty{% endfor %}"), "empty")
end

function TestLiquidFor.test_offset_past_end_renders_else()
  lu.assertEquals(render("{% for i in (1..3) offset: 5 %}x{% else %}empty{% endfor %}"), "empty")
end

function TestLiquidFor.test_reversed()
  lu.assertEquals(render("{% for i in (1..3) reversed %}{{ i }}{% endfor %}"), "321")
  lu.assertEquals(render("{% for x in a reversed %}{{ x }}{% endfor %}", { a = { "a", "b" } }), "ba")
end

function TestLiquidFor.test_reversed_applies_after_limit_and_offset()
  lu.assertEquals(render("{% for i in (1..5) reversed limit: 3 offset: 1 %}{{ i }}{% endfor %}"), "432")
end

function TestLiquidFor.test_offset_continue_resumes_after_last_loop()
  local src = "{% for i in a limit: 2 %}{{ i }}{% endfor %};"
    .. "{% for i in a offset: continue limit: 2 %}{{ i }}{% endfor %};"
    .. "{% for i in a offset: continue %}{{ i }}{% endfor %}"
  lu.assertEquals(render(src, { a = { 1, 2, 3, 4, 5 } }), "12;34;5")
end

function TestLiquidFor.test_offset_continue_is_per_variable_and_collection()
  local src = "{% for i in a limit: 2 %}{{ i }}{% endfor %};"
    .. "{% for j in a offset: continue %}{{ j }}{% endfor %}"
  lu.assertEquals(render(src, { a = { 1, 2, 3 } }), "12;123")
end

function TestLiquidFor.test_else_for_empty_nil_and_missing()
  local src = "{% for x in c %}{{ x }}{% else %}none{% endfor %}"
  lu.assertEquals(render(EMPTY .. "{% for x in e %}{{ x }}{% else %}none{% endfor %}"), "none")
  lu.assertEquals(render(src, { c = {} }), "none")
  lu.assertEquals(render(src, { c = cjson.null }), "none")
  lu.assertEquals(render(src), "none")
end

function TestLiquidFor.test_else_is_skipped_when_there_are_items()
  lu.assertEquals(render("{% for x in (1..2) %}{{ x }}{% else %}none{% endfor %}"), "12")
end

function TestLiquidFor.test_break()
  lu.assertEquals(render("{% for i in (1..5) %}{% if i == 3 %}{% break %}{% endif %}{{ i }}{% endfor %}"), "12")
end

function TestLiquidFor.test_continue()
  lu.assertEquals(render("{% for i in (1..5) %}{% if i == 3 %}{% continue %}{% endif %}{{ i }}{% endfor %}"), "1245")
end

function TestLiquidFor.test_break_only_leaves_the_inner_loop()
  local src = "{% for i in (1..2) %}{% for j in (1..3) %}{% if j == 2 %}{% break %}{% endif %}"
    .. "{{ i }}{{ j }} {% endfor %}{% endfor %}"
  lu.assertEquals(render(src), "11 21 ")
end

function TestLiquidFor.test_forloop_counters()
  local src = "{% for x in (5..7) %}{{ forloop.index }}{{ forloop.index0 }}"
    .. "{{ forloop.rindex }}{{ forloop.rindex0 }}|{% endfor %}"
  lu.assertEquals(render(src), "1032|2121|3210|")
end

function TestLiquidFor.test_forloop_first_last_length()
  local src = "{% for x in (1..3) %}{{ forloop.first }}-{{ forloop.last }}-{{ forloop.length }} {% endfor %}"
  lu.assertEquals(render(src), "true-false-3 false-false-3 false-true-3 ")
end

function TestLiquidFor.test_forloop_length_respects_limit()
  lu.assertEquals(render("{% for x in (1..5) limit: 2 %}{{ forloop.length }}{% endfor %}"), "22")
end

function TestLiquidFor.test_forloop_parentloop()
  local src = "{% for i in (1..2) %}{% for j in (1..2) %}"
    .. "{{ forloop.parentloop.index }}.{{ forloop.index }} {% endfor %}{% endfor %}"
  lu.assertEquals(render(src), "1.1 1.2 2.1 2.2 ")
end

function TestLiquidFor.test_forloop_parentloop_is_nil_at_top_level()
  lu.assertEquals(render("{% for i in (1..1) %}[{{ forloop.parentloop }}]{% endfor %}"), "[]")
end

function TestLiquidFor.test_forloop_name()
  lu.assertEquals(render("{% for b in (1..2) %}{{ forloop.name }};{% endfor %}"), "b-(1..2);b-(1..2);")
  lu.assertEquals(render("{% for x in items %}{{ forloop.name }}{% endfor %}", { items = { 1 } }), "x-items")
end

function TestLiquidFor.test_forloop_is_undefined_outside_loop()
  lu.assertEquals(render("[{{ forloop.index }}]"), "[]")
end

function TestLiquidFor.test_for_over_hash_gives_key_value_pairs_in_sorted_order()
  local ctx = { h = { b = 2, a = 1 } }
  -- design: Lua hashes iterate in sorted key order
  lu.assertEquals(render("{% for p in h %}{{ p[0] }}={{ p[1] }};{% endfor %}", ctx), "a=1;b=2;")
  lu.assertEquals(render("{% for p in h %}{{ p }};{% endfor %}", ctx), "a1;b2;")
end

function TestLiquidFor.test_for_over_string_iterates_once()
  lu.assertEquals(render("{% for c in s %}[{{ c }}]{% endfor %}", { s = "abc" }), "[abc]")
end

function TestLiquidFor.test_loop_variable_is_gone_after_the_loop()
  lu.assertEquals(render("{% for i in (1..2) %}{% endfor %}[{{ i }}]"), "[]")
end

function TestLiquidFor.test_loop_variable_shadows_outer_then_restores()
  lu.assertEquals(render("{% for i in (1..2) %}{{ i }}{% endfor %}{{ i }}", { i = "out" }), "12out")
end

function TestLiquidFor.test_nested_loops()
  lu.assertEquals(render("{% for r in rows %}{% for c in r %}{{ c }}{% endfor %}/{% endfor %}",
    { rows = { { 1, 2 }, { 3 } } }), "12/3/")
end

-- ---------------------------------------------------------------------------
TestLiquidIf = {}

local function cond(expr, ctx)
  return render("{% if " .. expr .. " %}T{% else %}F{% endif %}", ctx)
end

function TestLiquidIf.test_if_true_and_false()
  lu.assertEquals(render("{% if true %}yes{% endif %}"), "yes")
  lu.assertEquals(render("[{% if false %}yes{% endif %}]"), "[]")
end

function TestLiquidIf.test_if_else()
  lu.assertEquals(render("{% if x %}a{% else %}b{% endif %}", { x = false }), "b")
end

function TestLiquidIf.test_elsif_chain()
  local src = "{% if x == 1 %}one{% elsif x == 2 %}two{% elsif x == 3 %}three{% else %}many{% endif %}"
  lu.assertEquals(render(src, { x = 1 }), "one")
  lu.assertEquals(render(src, { x = 3 }), "three")
  lu.assertEquals(render(src, { x = 9 }), "many")
end

function TestLiquidIf.test_truthiness_only_nil_and_false_are_falsy()
  lu.assertEquals(cond("v", { v = 0 }), "T")
  lu.assertEquals(cond("v", { v = "" }), "T")
  lu.assertEquals(render(EMPTY .. "{% if e %}T{% else %}F{% endif %}"), "T")
  lu.assertEquals(cond("v", { v = {} }), "T")
  lu.assertEquals(cond("v", { v = false }), "F")
  lu.assertEquals(cond("v", { v = cjson.null }), "F")
  lu.assertEquals(cond("v"), "F")
end

function TestLiquidIf.test_equality()
  lu.assertEquals(cond("1 == 1"), "T")
  lu.assertEquals(cond("1 == 2"), "F")
  lu.assertEquals(cond("'a' == 'a'"), "T")
  lu.assertEquals(cond("x == 'ab'", { x = "ab" }), "T")
  lu.assertEquals(cond("nil == nil"), "T")
  lu.assertEquals(cond("missing == nil"), "T")
  lu.assertEquals(cond("true == true"), "T")
end

function TestLiquidIf.test_equality_does_not_coerce()
  lu.assertEquals(cond("1 == '1'"), "F")
  lu.assertEquals(cond("x == 1", { x = "1" }), "F")
  lu.assertEquals(cond("1 == 1.0"), "T")
  lu.assertEquals(cond("x == 2", { x = 2.0 }), "T")
end

function TestLiquidIf.test_inequality()
  lu.assertEquals(cond("1 != 2"), "T")
  lu.assertEquals(cond("1 != 1"), "F")
  lu.assertEquals(cond("1 <> 2"), "T")
  lu.assertEquals(cond("'a' <> 'a'"), "F")
end

function TestLiquidIf.test_ordering_operators_on_numbers()
  lu.assertEquals(cond("1 < 2"), "T")
  lu.assertEquals(cond("2 < 1"), "F")
  lu.assertEquals(cond("2 > 1"), "T")
  lu.assertEquals(cond("2 <= 2"), "T")
  lu.assertEquals(cond("3 <= 2"), "F")
  lu.assertEquals(cond("2 >= 2"), "T")
  lu.assertEquals(cond("1 >= 2"), "F")
  lu.assertEquals(cond("1.5 < 2"), "T")
  lu.assertEquals(cond("x > 10", { x = 10.5 }), "T")
end

function TestLiquidIf.test_ordering_operators_on_strings()
  lu.assertEquals(cond("'a' < 'b'"), "T")
  lu.assertEquals(cond("'abc' > 'abd'"), "F")
  lu.assertEquals(cond("'B' < 'a'"), "T")
end

function TestLiquidIf.test_comparison_with_nil_is_false()
  lu.assertEquals(cond("missing > 1"), "F")
  lu.assertEquals(cond("missing < 1"), "F")
end

function TestLiquidIf.test_and_or()
  lu.assertEquals(cond("true and true"), "T")
  lu.assertEquals(cond("true and false"), "F")
  lu.assertEquals(cond("false or true"), "T")
  lu.assertEquals(cond("false or false"), "F")
  lu.assertEquals(cond("x == 1 and y == 2", { x = 1, y = 2 }), "T")
end

function TestLiquidIf.test_and_or_group_right_to_left()
  -- false and (false or true)
  lu.assertEquals(cond("false and false or true"), "F")
  -- true or (false and false)
  lu.assertEquals(cond("true or false and false"), "T")
  lu.assertEquals(cond("true and false and false or true"), "F")
end

function TestLiquidIf.test_contains_on_strings()
  lu.assertEquals(cond("'hello world' contains 'o w'"), "T")
  lu.assertEquals(cond("'hello' contains 'z'"), "F")
  lu.assertEquals(cond("s contains 1", { s = "a1" }), "T")
end

function TestLiquidIf.test_contains_on_arrays()
  local ctx = { a = { "x", "y" }, n = { 1, 2 } }
  lu.assertEquals(cond("a contains 'y'", ctx), "T")
  lu.assertEquals(cond("a contains 'z'", ctx), "F")
  lu.assertEquals(cond("n contains 2", ctx), "T")
  lu.assertEquals(cond("n contains '2'", ctx), "F")
end

function TestLiquidIf.test_contains_on_hashes_tests_keys()
  local ctx = { h = { k = "v" } }
  lu.assertEquals(cond("h contains 'k'", ctx), "T")
  lu.assertEquals(cond("h contains 'v'", ctx), "F")
end

function TestLiquidIf.test_contains_on_nil_is_false()
  lu.assertEquals(cond("missing contains 'a'"), "F")
end

function TestLiquidIf.test_empty()
  lu.assertEquals(cond("v == empty", { v = "" }), "T")
  lu.assertEquals(render(EMPTY .. "{% if e == empty %}T{% else %}F{% endif %}"), "T")
  lu.assertEquals(cond("v == empty", { v = {} }), "T")
  lu.assertEquals(cond("v == empty", { v = " " }), "F")
  lu.assertEquals(cond("v == empty", { v = { 1 } }), "F")
  lu.assertEquals(cond("v == empty"), "F")
  lu.assertEquals(cond("v != empty", { v = "x" }), "T")
end

function TestLiquidIf.test_blank_matches_empty_and_false()
  -- 5.13: 5.4 (without ActiveSupport) matches none of these
  lu.assertEquals(cond("v == blank", { v = "" }), "T")
  lu.assertEquals(cond("v == blank", { v = "  \n " }), "T")
  lu.assertEquals(cond("v == blank", { v = false }), "T")
  lu.assertEquals(cond("v == blank", { v = {} }), "T")
  lu.assertEquals(render(EMPTY .. "{% if e == blank %}T{% else %}F{% endif %}"), "T")
end

function TestLiquidIf.test_blank_does_not_match_values()
  lu.assertEquals(cond("v == blank", { v = "x" }), "F")
  lu.assertEquals(cond("v == blank", { v = 0 }), "F")
  lu.assertEquals(cond("v == blank", { v = true }), "F")
  lu.assertEquals(cond("v == blank", { v = { 1 } }), "F")
end

function TestLiquidIf.test_nil_is_blank()
  -- 5.13: nil == blank is true (false in 5.4), NOTES.md §8
  lu.assertEquals(cond("v == blank"), "T")
end

function TestLiquidIf.test_unless()
  lu.assertEquals(render("{% unless false %}shown{% endunless %}"), "shown")
  lu.assertEquals(render("[{% unless true %}shown{% endunless %}]"), "[]")
  lu.assertEquals(render("{% unless x == 1 %}a{% else %}b{% endunless %}", { x = 1 }), "b")
end

function TestLiquidIf.test_unless_elsif()
  local src = "{% unless a %}1{% elsif b %}2{% else %}3{% endunless %}"
  lu.assertEquals(render(src, { a = false }), "1")
  lu.assertEquals(render(src, { a = true, b = true }), "2")
  lu.assertEquals(render(src, { a = true, b = false }), "3")
end

function TestLiquidIf.test_nested_if()
  lu.assertEquals(render("{% if a %}{% if b %}ab{% else %}a{% endif %}{% endif %}", { a = 1, b = false }), "a")
end

function TestLiquidIf.test_size_comparison()
  lu.assertEquals(cond("a.size > 1", { a = { 1, 2 } }), "T")
  lu.assertEquals(cond("s.size == 3", { s = "abc" }), "T")
end

function TestLiquidIf.test_ifchanged()
  local src = "{% for i in a %}{% ifchanged %}{{ i }}{% endifchanged %}{% endfor %}"
  lu.assertEquals(render(src, { a = { 1, 1, 2, 2, 1 } }), "121")
end

-- ---------------------------------------------------------------------------
TestLiquidEchoAndLiquidTag = {}

function TestLiquidEchoAndLiquidTag.test_echo()
  lu.assertEquals(render("{% echo 'hi' | upcase %}"), "HI")
  lu.assertEquals(render("{% echo x %}", { x = 5 }), "5")
end

function TestLiquidEchoAndLiquidTag.test_liquid_tag_runs_one_tag_per_line()
  local src = "{% liquid\n  assign x = 1\n  if x == 1\n    echo 'one'\n  endif\n%}"
  lu.assertEquals(render(src), "one")
end

function TestLiquidEchoAndLiquidTag.test_liquid_tag_with_for_and_case()
  local src = "{% liquid\nfor i in (1..3)\n  case i\n    when 2\n      echo 'two'\n"
    .. "    else\n      echo i\n  endcase\nendfor\n%}"
  lu.assertEquals(render(src), "1two3")
end

function TestLiquidEchoAndLiquidTag.test_liquid_tag_assign_is_visible_after()
  lu.assertEquals(render("{% liquid assign x = 'v' %}{{ x }}"), "v")
end

function TestLiquidEchoAndLiquidTag.test_liquid_tag_with_capture()
  local src = "{% liquid\ncapture c\n  echo 'a'\n  echo 'b'\nendcapture\n%}[{{ c }}]"
  lu.assertEquals(render(src), "[ab]")
end

function TestLiquidEchoAndLiquidTag.test_liquid_tag_ignores_blank_lines()
  lu.assertEquals(render("{% liquid\n\n  echo 'a'\n\n  echo 'b'\n\n%}"), "ab")
end

-- ---------------------------------------------------------------------------
TestLiquidPartials = {}

function TestLiquidPartials.test_render_with_keyword_args()
  local o = with_partials({ greet = "Hi {{ name }}{{ punct }}" })
  lu.assertEquals(render("{% render 'greet', name: 'Bo', punct: '!' %}", {}, o), "Hi Bo!")
  lu.assertEquals(render("{% render 'greet', name: who %}", { who = "Al" }, o), "Hi Al")
end

function TestLiquidPartials.test_render_scope_is_isolated_from_outer_variables()
  local o = with_partials({ p = "[{{ x }}]" })
  lu.assertEquals(render("{% render 'p' %}", { x = "outer" }, o), "[]")
  lu.assertEquals(render("{% assign x = 'assigned' %}{% render 'p' %}", {}, o), "[]")
end

function TestLiquidPartials.test_render_assigns_do_not_leak_out()
  local o = with_partials({ p = "{% assign y = 'inner' %}{{ y }}" })
  lu.assertEquals(render("{% render 'p' %}[{{ y }}]", {}, o), "inner[]")
end

function TestLiquidPartials.test_render_with_object()
  local o = with_partials({ card = "{{ card.name }}" })
  lu.assertEquals(render("{% render 'card' with user %}", { user = { name = "Ana" } }, o), "Ana")
end

function TestLiquidPartials.test_render_with_object_as_name()
  local o = with_partials({ card = "{{ person.name }}" })
  lu.assertEquals(render("{% render 'card' with user as person %}", { user = { name = "Ana" } }, o), "Ana")
end

function TestLiquidPartials.test_render_for_collection()
  local o = with_partials({ item = "{{ item }}{% unless forloop.last %},{% endunless %}" })
  lu.assertEquals(render("{% render 'item' for list %}", { list = { "a", "b", "c" } }, o), "a,b,c")
end

function TestLiquidPartials.test_render_for_collection_as_name_with_args()
  local o = with_partials({ row = "{{ forloop.index }}:{{ u.name }}{{ sep }}" })
  local ctx = { users = { { name = "Ana" }, { name = "Bo" } } }
  lu.assertEquals(render("{% render 'row' for users as u, sep: ';' %}", ctx, o), "1:Ana;2:Bo;")
end

function TestLiquidPartials.test_render_partial_can_render_another()
  local o = with_partials({ outer = "<{% render 'inner', v: v %}>", inner = "{{ v }}" })
  lu.assertEquals(render("{% render 'outer', v: 1 %}", {}, o), "<1>")
end

function TestLiquidPartials.test_render_counters_are_isolated()
  local o = with_partials({ p = "{% increment n %}" })
  lu.assertEquals(render("{% increment n %}{% render 'p' %}{% increment n %}", {}, o), "001")
end

function TestLiquidPartials.test_include_shares_the_outer_scope()
  local o = with_partials({ p = "[{{ x }}]" })
  lu.assertEquals(render("{% include 'p' %}", { x = "outer" }, o), "[outer]")
  lu.assertEquals(render("{% assign x = 'a' %}{% include 'p' %}", {}, o), "[a]")
end

function TestLiquidPartials.test_include_assigns_leak_out()
  local o = with_partials({ p = "{% assign y = 'inner' %}" })
  lu.assertEquals(render("{% include 'p' %}[{{ y }}]", {}, o), "[inner]")
end

function TestLiquidPartials.test_include_with_keyword_args()
  local o = with_partials({ p = "{{ a }}-{{ b }}" })
  lu.assertEquals(render("{% include 'p', a: 1, b: 'two' %}", {}, o), "1-two")
end

function TestLiquidPartials.test_include_with_object()
  local o = with_partials({ p = "{{ p.name }}" })
  lu.assertEquals(render("{% include 'p' with user %}", { user = { name = "Ana" } }, o), "Ana")
end

function TestLiquidPartials.test_include_for_array()
  local o = with_partials({ p = "<{{ p }}>" })
  lu.assertEquals(render("{% include 'p' for list %}", { list = { 1, 2 } }, o), "<1><2>")
end

function TestLiquidPartials.test_include_name_from_variable()
  local o = with_partials({ p = "dynamic" })
  lu.assertEquals(render("{% include name %}", { name = "p" }, o), "dynamic")
end

function TestLiquidPartials.test_partials_loader_function()
  local asked = {}
  local o = with_partials(function(name)
    asked[#asked + 1] = name
    return "<" .. name .. ":{{ v }}>"
  end)
  -- ours: the partials option may be a loader function
  lu.assertEquals(render("{% render 'a', v: 1 %}{% include 'b' %}", { v = 2 }, o), "<a:1><b:2>")
  lu.assertEquals(asked[1], "a")
  lu.assertEquals(asked[2], "b")
end

function TestLiquidPartials.test_partials_given_to_compiled_template_render()
  local t = liquid.compile("{% render 'p', v: 3 %}")
  -- ours: partials can be given at render time to a compiled template
  lu.assertEquals(t:render({}, { partials = { p = "v={{ v }}" } }), "v=3")
end

-- ---------------------------------------------------------------------------
TestLiquidTablerow = {}

function TestLiquidTablerow.test_tablerow_one_row()
  lu.assertEquals(render("{% tablerow i in (1..3) %}{{ i }}{% endtablerow %}"),
    '<tr class="row1">\n<td class="col1">1</td><td class="col2">2</td><td class="col3">3</td></tr>\n')
end

function TestLiquidTablerow.test_tablerow_cols()
  lu.assertEquals(render("{% tablerow i in (1..5) cols: 2 %}{{ i }}{% endtablerow %}"),
    '<tr class="row1">\n<td class="col1">1</td><td class="col2">2</td></tr>\n'
      .. '<tr class="row2"><td class="col1">3</td><td class="col2">4</td></tr>\n'
      .. '<tr class="row3"><td class="col1">5</td></tr>\n')
end

function TestLiquidTablerow.test_tablerow_limit_and_offset()
  lu.assertEquals(render("{% tablerow x in a limit: 2 offset: 1 %}{{ x }}{% endtablerow %}",
    { a = { "a", "b", "c", "d" } }),
    '<tr class="row1">\n<td class="col1">b</td><td class="col2">c</td></tr>\n')
end

function TestLiquidTablerow.test_tablerow_empty_collection()
  lu.assertEquals(render(EMPTY .. "{% tablerow x in e %}{{ x }}{% endtablerow %}"),
    '<tr class="row1">\n</tr>\n')
end

function TestLiquidTablerow.test_tablerowloop_columns()
  local src = "{% tablerow i in (1..4) cols: 2 %}{{ tablerowloop.col }}{{ tablerowloop.col0 }}"
    .. "{{ tablerowloop.col_first }}{{ tablerowloop.col_last }}{% endtablerow %}"
  lu.assertEquals(render(src),
    '<tr class="row1">\n<td class="col1">10truefalse</td><td class="col2">21falsetrue</td></tr>\n'
      .. '<tr class="row2"><td class="col1">10truefalse</td><td class="col2">21falsetrue</td></tr>\n')
end

function TestLiquidTablerow.test_col_last_without_cols_marks_the_last_item()
  -- 5.13: without cols the whole collection is one row; 5.4 never set col_last here
  lu.assertEquals(render("{% tablerow i in (1..2) %}{{ tablerowloop.col_last }}{% endtablerow %}"),
    '<tr class="row1">\n<td class="col1">false</td><td class="col2">true</td></tr>\n')
end

function TestLiquidTablerow.test_tablerowloop_index_and_length()
  local src = "{% tablerow i in (1..3) %}{{ tablerowloop.index }}/{{ tablerowloop.index0 }}/"
    .. "{{ tablerowloop.rindex }}/{{ tablerowloop.length }}/{{ tablerowloop.first }}/{{ tablerowloop.last }}"
    .. "{% endtablerow %}"
  lu.assertEquals(render(src),
    '<tr class="row1">\n<td class="col1">1/0/3/3/true/false</td><td class="col2">2/1/2/3/false/false</td>'
      .. '<td class="col3">3/2/1/3/false/true</td></tr>\n')
end

-- ---------------------------------------------------------------------------
TestLiquidWhitespace = {}

function TestLiquidWhitespace.test_tags_keep_surrounding_whitespace_by_default()
  lu.assertEquals(render("a \n{% if true %}\n b \n{% endif %}\n c"), "a \n\n b \n\n c")
end

function TestLiquidWhitespace.test_tag_trims_both_sides()
  lu.assertEquals(render("a  {%- if true -%}  b  {%- endif -%}  c"), "abc")
end

function TestLiquidWhitespace.test_trimming_crosses_newlines()
  lu.assertEquals(render("a\n  \n  {%- if true -%}\n\n  b\n  {%- endif -%}\n  \nc"), "abc")
end

function TestLiquidWhitespace.test_output_trims_both_sides()
  lu.assertEquals(render("a \n {{- 'x' -}} \n b"), "axb")
end

function TestLiquidWhitespace.test_left_trim_only()
  lu.assertEquals(render("a \n {{- 'x' }} \n b"), "ax \n b")
  lu.assertEquals(render("a \n {%- assign y = 1 %} \n b"), "a \n b")
end

function TestLiquidWhitespace.test_right_trim_only()
  lu.assertEquals(render("a \n {{ 'x' -}} \n b"), "a \n xb")
end

function TestLiquidWhitespace.test_trim_keeps_the_values_own_whitespace()
  lu.assertEquals(render("c {{- ' d ' -}} e"), "c d e")
end

function TestLiquidWhitespace.test_trimmed_loop_body()
  local src = "{% for i in (1..3) -%}\n  {{ i }}\n{%- endfor %}"
  lu.assertEquals(render(src), "123")
end

function TestLiquidWhitespace.test_trim_around_liquid_tag()
  lu.assertEquals(render("a \n {%- liquid echo 'x' -%} \n b"), "axb")
end

-- ---------------------------------------------------------------------------
-- The C render method's own checks (ours): it tells a Template and prepared options by
-- their metatables; anything else still gets luaL_checkudata's message, and a render
-- inside a render (a loader that renders) still gets a state of its own.
TestLiquidRenderMethod = {}

function TestLiquidRenderMethod.test_bad_self_and_options_raise_as_before()
  local core = require "rivulet.core"
  local t = assert(core.liquid_compile("{{ a }}"))
  local prep = core.liquid_options{ timezone = "UTC" }
  lu.assertErrorMsgContains("rivulet.liquid.Template expected", t.render, {}, {})
  lu.assertErrorMsgContains("rivulet.liquid.Template expected", t.render, prep, {})
  lu.assertErrorMsgContains("table expected", t.render, t, {}, t)   -- a Template is no options
  lu.assertEquals(t:render({ a = 1 }, prep, "n", nil), "1")
  lu.assertEquals(t:render({ a = 2 }, nil), "2")
  getmetatable(t).__gc(t)                                          -- freed
  lu.assertErrorMsgContains("attempt to use a freed template", t.render, t, {})
end

function TestLiquidRenderMethod.test_render_inside_render_then_again()
  local core = require "rivulet.core"
  local inner = assert(core.liquid_compile("[{{ b }}]"))
  local part = assert(core.liquid_compile("p"))
  local outer = assert(core.liquid_compile("{{ a }}{% render 'x' %}{{ a }}"))
  local seen
  local prep = core.liquid_options{ timezone = "UTC", loader = function()
    seen = inner:render({ b = "in" }, core.liquid_options{ timezone = "UTC" })
    return part
  end }
  for _ = 1, 3 do
    seen = nil
    lu.assertEquals(outer:render({ a = "o" }, prep, "t"), "opo")
    lu.assertEquals(seen, "[in]")
  end
  lu.assertEquals(inner:render({ b = 1 }), "[1]")
end
