-- Liquid standard filters, number printing and the date filter.
--
-- Expectations were checked against Ruby Liquid (Debian ruby-liquid 5.4.0) with
-- `ruby spec/tools/ruby_check.rb --spec spec/test_liquid_filters.lua`, except
-- those marked `-- ours` (rivulet's own design: to_json, options) or `-- 5.13`
-- (filters newer than 5.4: sum 5.5; find, find_index, has, reject 5.7; squish
-- 5.12; written from /work/shared/liquid/NOTES.md).
local lu = require "luaunit"
local cjson = require "cjson"
local liquid = require("rivulet").liquid

local function render(src, ctx, opts)
  local out, err = liquid.render(src, ctx or {}, opts)
  if out == nil then return "<error: " .. tostring(err) .. ">" end
  return out
end

local USERS = {
  users = {
    { name = "Ana", role = "admin", active = true, age = 31, score = 1.5 },
    { name = "bo", role = "user", active = false, age = 25, score = 2 },
    { name = "Cy", role = "admin", age = 40, score = 3 },
  },
}

-- ---------------------------------------------------------------------------
TestLiquidStringFilters = {}

function TestLiquidStringFilters.test_append_and_prepend()
  lu.assertEquals(render("{{ 'a' | append: 'b' }}"), "ab")
  lu.assertEquals(render("{{ 'b' | prepend: 'a' }}"), "ab")
  lu.assertEquals(render("{{ 1 | append: 2 }}"), "12")
  lu.assertEquals(render("{{ 'x' | append: v }}", { v = 1.5 }), "x1.5")
end

function TestLiquidStringFilters.test_upcase_downcase()
  lu.assertEquals(render("{{ 'Hello' | upcase }}"), "HELLO")
  lu.assertEquals(render("{{ 'HeLLo' | downcase }}"), "hello")
end

function TestLiquidStringFilters.test_case_filters_map_non_ascii_letters()
  lu.assertEquals(render("{{ 'josé' | upcase }}"), "JOSÉ")
  lu.assertEquals(render("{{ 'ÉCOLE Ñ' | downcase }}"), "école ñ")
  lu.assertEquals(render("{{ 'élan VITAL' | capitalize }}"), "Élan vital")
end

function TestLiquidStringFilters.test_capitalize()
  lu.assertEquals(render("{{ 'hello world' | capitalize }}"), "Hello world")
  lu.assertEquals(render("{{ 'hELLO' | capitalize }}"), "Hello")
  lu.assertEquals(render("{{ '' | capitalize }}"), "")
end

function TestLiquidStringFilters.test_strip_lstrip_rstrip()
  local ctx = { s = " \t\n a b \n\t " }
  lu.assertEquals(render("[{{ s | strip }}]", ctx), "[a b]")
  lu.assertEquals(render("[{{ s | lstrip }}]", ctx), "[a b \n\t ]")
  lu.assertEquals(render("[{{ s | rstrip }}]", ctx), "[ \t\n a b]")
end

function TestLiquidStringFilters.test_squish()
  -- 5.13: squish is new in Liquid 5.12
  lu.assertEquals(render("[{{ s | squish }}]", { s = "  a   b \n\t c  " }), "[a b c]")
end

function TestLiquidStringFilters.test_strip_newlines()
  lu.assertEquals(render("{{ s | strip_newlines }}", { s = "a\nb\r\nc\n" }), "abc")
end

function TestLiquidStringFilters.test_newline_to_br()
  lu.assertEquals(render("{{ s | newline_to_br }}", { s = "a\nb\r\nc" }), "a<br />\nb<br />\nc")
end

function TestLiquidStringFilters.test_escape()
  lu.assertEquals(render("{{ s | escape }}", { s = "<a href=\"x\">'&'</a>" }),
    "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;")
  lu.assertEquals(render("{{ 'plain' | escape }}"), "plain")
  lu.assertEquals(render("{{ '<b>' | h }}"), "&lt;b&gt;")
end

function TestLiquidStringFilters.test_escape_once()
  lu.assertEquals(render("{{ s | escape_once }}", { s = "&lt;b&gt; & <i> &amp;" }),
    "&lt;b&gt; &amp; &lt;i&gt; &amp;")
end

function TestLiquidStringFilters.test_remove_filters()
  local ctx = { s = "a-b-a-b" }
  lu.assertEquals(render("{{ s | remove: 'a' }}", ctx), "-b--b")
  lu.assertEquals(render("{{ s | remove_first: 'a-' }}", ctx), "b-a-b")
  lu.assertEquals(render("{{ s | remove_last: '-b' }}", ctx), "a-b-a")
end

function TestLiquidStringFilters.test_replace_filters()
  local ctx = { s = "a.b.a" }
  lu.assertEquals(render("{{ s | replace: 'a', 'x' }}", ctx), "x.b.x")
  lu.assertEquals(render("{{ s | replace_first: 'a', 'x' }}", ctx), "x.b.a")
  lu.assertEquals(render("{{ s | replace_last: 'a', 'x' }}", ctx), "a.b.x")
end

function TestLiquidStringFilters.test_replace_is_literal_not_a_pattern()
  lu.assertEquals(render("{{ 'a.b%c' | replace: '.', '%' }}"), "a%b%c")
  lu.assertEquals(render("{{ 'a.b' | replace: '.', '%1' }}"), "a%1b")
end

function TestLiquidStringFilters.test_replace_without_replacement_removes()
  lu.assertEquals(render("{{ 'abc' | replace: 'b' }}"), "ac")
end

function TestLiquidStringFilters.test_split()
  lu.assertEquals(render("{{ 'a,b,c' | split: ',' | join: '|' }}"), "a|b|c")
  lu.assertEquals(render("{{ 'abc' | split: '' | join: '|' }}"), "a|b|c")
  lu.assertEquals(render("{{ 'a b  c' | split: ' ' | join: '|' }}"), "a|b|c")
  lu.assertEquals(render("{{ 'a,b,,' | split: ',' | size }}"), "2")
  lu.assertEquals(render("{{ ',a' | split: ',' | size }}"), "2")
end

function TestLiquidStringFilters.test_split_on_missing_separator_gives_one_item()
  lu.assertEquals(render("{{ 'abc' | split: ',' | first }}"), "abc")
end

function TestLiquidStringFilters.test_slice_strings()
  lu.assertEquals(render("{{ 'hello' | slice: 1 }}"), "e")
  lu.assertEquals(render("{{ 'hello' | slice: 1, 3 }}"), "ell")
  lu.assertEquals(render("{{ 'hello' | slice: -3, 2 }}"), "ll")
  lu.assertEquals(render("{{ 'hello' | slice: -1 }}"), "o")
  lu.assertEquals(render("[{{ 'hello' | slice: 9 }}]"), "[]")
  lu.assertEquals(render("{{ 'hello' | slice: 3, 99 }}"), "lo")
end

function TestLiquidStringFilters.test_slice_counts_characters_not_bytes()
  lu.assertEquals(render("{{ s | slice: 1, 2 }}", { s = "héllo" }), "él")
end

function TestLiquidStringFilters.test_truncate()
  lu.assertEquals(render("{{ 'abcdefghij' | truncate: 5 }}"), "ab...")
  lu.assertEquals(render("{{ 'abcdefghij' | truncate: 5, '!' }}"), "abcd!")
  lu.assertEquals(render("{{ 'abcdefghij' | truncate: 5, '' }}"), "abcde")
  lu.assertEquals(render("{{ 'abc' | truncate: 5 }}"), "abc")
  lu.assertEquals(render("{{ 'abcde' | truncate: 5 }}"), "abcde")
end

function TestLiquidStringFilters.test_truncate_default_length_is_50()
  local s = string.rep("x", 60)
  lu.assertEquals(render("{{ s | truncate }}", { s = s }), string.rep("x", 47) .. "...")
end

function TestLiquidStringFilters.test_truncatewords()
  lu.assertEquals(render("{{ 'one two three four' | truncatewords: 2 }}"), "one two...")
  lu.assertEquals(render("{{ 'one two three' | truncatewords: 2, ' >' }}"), "one two >")
  lu.assertEquals(render("{{ 'one two' | truncatewords: 5 }}"), "one two")
  lu.assertEquals(render("{{ 'one  two\nthree' | truncatewords: 3 }}"), "one  two\nthree")
  lu.assertEquals(render("{{ 'one  two   three' | truncatewords: 2 }}"), "one two...")
end

function TestLiquidStringFilters.test_strip_html()
  lu.assertEquals(render("{{ s | strip_html }}", { s = "<p>Hi <b>there</b></p>" }), "Hi there")
  lu.assertEquals(render("{{ s | strip_html }}",
    { s = "a<script>var x = '<b>';</script>b<style>p{}</style>c<!-- note -->d" }), "abcd")
end

-- a block whose end never comes is an ordinary tag (strip_html remembers the failed search
-- for it, which keeps it linear): up to the next '>'; a '<' with no '>' after it stays
function TestLiquidStringFilters.test_strip_html_unclosed()
  lu.assertEquals(render("{{ s | strip_html }}", { s = "<script>a<b>c<script>d" }), "acd")
  lu.assertEquals(render("{{ s | strip_html }}", { s = "<!-- x <b>y</b> <!--z" }), "y <!--z")
  lu.assertEquals(render("{{ s | strip_html }}", { s = "<style x>a</style <style>b" }), "ab")
  lu.assertEquals(render("{{ s | strip_html }}", { s = "a < b <c> d < e" }), "a  d < e")
end

-- replace_last and remove_last look for needles up to 32 bytes from the end, longer ones
-- through reversed copies: both ways find the same last match
function TestLiquidStringFilters.test_replace_last_short_and_long_needles()
  for _, n in ipairs{ 1, 31, 32, 33, 100 } do
    local needle = string.rep("ab", n):sub(1, n)
    local s = "<" .. needle .. needle .. "|" .. needle .. ">"
    lu.assertEquals(render("{{ s | replace_last: p, '#' }}", { s = s, p = needle }),
      "<" .. needle .. needle .. "|#>", "needle of " .. n)
    lu.assertEquals(render("{{ s | remove_last: p }}", { s = needle:sub(2), p = needle }), needle:sub(2))
  end
  lu.assertEquals(render("{{ 'aaaa' | replace_last: 'aa', 'b' }}"), "aab")
  lu.assertEquals(render("{{ 'abc' | replace_last: '', 'x' }}"), "abcx")
end

function TestLiquidStringFilters.test_url_encode_and_decode()
  lu.assertEquals(render("{{ 'a b&c=d/é' | url_encode }}"), "a+b%26c%3Dd%2F%C3%A9")
  lu.assertEquals(render("{{ 'a-b_c.d~e' | url_encode }}"), "a-b_c.d~e")
  lu.assertEquals(render("{{ 'a+b%26c%20d%C3%A9' | url_decode }}"), "a b&c dé")
end

function TestLiquidStringFilters.test_base64()
  lu.assertEquals(render("{{ 'hello' | base64_encode }}"), "aGVsbG8=")
  lu.assertEquals(render("{{ 'aGVsbG8=' | base64_decode }}"), "hello")
  lu.assertEquals(render("{{ '>>>???' | base64_encode }}"), "Pj4+Pz8/")
end

function TestLiquidStringFilters.test_base64_url_safe()
  lu.assertEquals(render("{{ '>>>???' | base64_url_safe_encode }}"), "Pj4-Pz8_")
  lu.assertEquals(render("{{ 'Pj4-Pz8_' | base64_url_safe_decode }}"), ">>>???")
  lu.assertEquals(render("{{ 'ab' | base64_url_safe_encode }}"), "YWI=")
end

function TestLiquidStringFilters.test_size()
  lu.assertEquals(render("{{ 'hello' | size }}"), "5")
  lu.assertEquals(render("{{ s | size }}", { s = "héllo" }), "5")
  lu.assertEquals(render("{{ a | size }}", { a = { 1, 2, 3 } }), "3")
  lu.assertEquals(render("{{ h | size }}", { h = { a = 1, b = 2 } }), "2")
  lu.assertEquals(render("{{ missing | size }}"), "0")
end

function TestLiquidStringFilters.test_size_filter_counts_a_hash_even_with_size_key()
  lu.assertEquals(render("{{ h | size }}", { h = { size = 10 } }), "1")
end

function TestLiquidStringFilters.test_size_of_an_integer_is_eight()
  lu.assertEquals(render("{{ 42 | size }}"), "8")
end

function TestLiquidStringFilters.test_string_filters_on_numbers()
  lu.assertEquals(render("{{ 12 | upcase }}"), "12")
  lu.assertEquals(render("{{ 1.5 | append: 'x' }}"), "1.5x")
  lu.assertEquals(render("{{ 123 | size }}"), "8")
  lu.assertEquals(render("{{ 12345 | slice: 1, 2 }}"), "23")
end

-- ---------------------------------------------------------------------------
TestLiquidMathFilters = {}

function TestLiquidMathFilters.test_plus()
  lu.assertEquals(render("{{ 1 | plus: 2 }}"), "3")
  lu.assertEquals(render("{{ 1 | plus: 2.0 }}"), "3.0")
  lu.assertEquals(render("{{ -1 | plus: 1 }}"), "0")
end

function TestLiquidMathFilters.test_plus_avoids_binary_float_noise()
  lu.assertEquals(render("{{ 0.1 | plus: 0.2 }}"), "0.3")
  lu.assertEquals(render("{{ a | plus: b }}", { a = 0.1, b = 0.2 }), "0.3")
end

function TestLiquidMathFilters.test_plus_with_numeric_strings()
  lu.assertEquals(render("{{ '3' | plus: 2 }}"), "5")
  lu.assertEquals(render("{{ n | plus: 1 }}", { n = "41" }), "42")
  lu.assertEquals(render("{{ 3 | plus: '2' }}"), "5")
  lu.assertEquals(render("{{ '3.5' | plus: 1 }}"), "4.5")
  lu.assertEquals(render("{{ '3abc' | plus: 1 }}"), "4")
  lu.assertEquals(render("{{ 'abc' | plus: 1 }}"), "1")
end

function TestLiquidMathFilters.test_plus_zero_coerces_a_string()
  lu.assertEquals(render("{% assign n = s | plus: 0 %}{% if n > 9 %}big{% endif %}", { s = "10" }), "big")
end

function TestLiquidMathFilters.test_minus()
  lu.assertEquals(render("{{ 5 | minus: 3 }}"), "2")
  lu.assertEquals(render("{{ 3 | minus: 5 }}"), "-2")
  lu.assertEquals(render("{{ 5.5 | minus: 1 }}"), "4.5")
  lu.assertEquals(render("{{ 1 | minus: 0.9 }}"), "0.1")
  lu.assertEquals(render("{{ '10' | minus: 1 }}"), "9")
end

function TestLiquidMathFilters.test_times()
  lu.assertEquals(render("{{ 3 | times: 4 }}"), "12")
  lu.assertEquals(render("{{ 1.1 | times: 3 }}"), "3.3")
  lu.assertEquals(render("{{ 9.99 | times: 100 }}"), "999.0")
  lu.assertEquals(render("{{ '2' | times: 3 }}"), "6")
  lu.assertEquals(render("{{ 2 | times: 1.5 }}"), "3.0")
end

function TestLiquidMathFilters.test_divided_by_integers_floors()
  lu.assertEquals(render("{{ 7 | divided_by: 2 }}"), "3")
  lu.assertEquals(render("{{ -7 | divided_by: 2 }}"), "-4")
  lu.assertEquals(render("{{ 7 | divided_by: -2 }}"), "-4")
  lu.assertEquals(render("{{ 6 | divided_by: 3 }}"), "2")
  lu.assertEquals(render("{{ '10' | divided_by: 4 }}"), "2")
end

function TestLiquidMathFilters.test_divided_by_with_floats()
  lu.assertEquals(render("{{ 7 | divided_by: 2.0 }}"), "3.5")
  lu.assertEquals(render("{{ 7.0 | divided_by: 2 }}"), "3.5")
  lu.assertEquals(render("{{ 6 | divided_by: 3.0 }}"), "2.0")
  lu.assertEquals(render("{{ 1 | divided_by: 3.0 | times: 3 }}"), "0.9999999999999999")
end

function TestLiquidMathFilters.test_modulo()
  lu.assertEquals(render("{{ 7 | modulo: 3 }}"), "1")
  lu.assertEquals(render("{{ -7 | modulo: 3 }}"), "2")
  lu.assertEquals(render("{{ 7 | modulo: -3 }}"), "-2")
  lu.assertEquals(render("{{ 7.5 | modulo: 2 }}"), "1.5")
end

function TestLiquidMathFilters.test_abs()
  lu.assertEquals(render("{{ -3 | abs }}"), "3")
  lu.assertEquals(render("{{ 3 | abs }}"), "3")
  lu.assertEquals(render("{{ -2.5 | abs }}"), "2.5")
  lu.assertEquals(render("{{ '-5' | abs }}"), "5")
  lu.assertEquals(render("{{ 'abc' | abs }}"), "0")
end

function TestLiquidMathFilters.test_ceil_and_floor()
  lu.assertEquals(render("{{ 1.2 | ceil }}"), "2")
  lu.assertEquals(render("{{ -1.5 | ceil }}"), "-1")
  lu.assertEquals(render("{{ '3.5' | ceil }}"), "4")
  lu.assertEquals(render("{{ 2 | ceil }}"), "2")
  lu.assertEquals(render("{{ 1.9 | floor }}"), "1")
  lu.assertEquals(render("{{ -1.1 | floor }}"), "-2")
  lu.assertEquals(render("{{ '3.7' | floor }}"), "3")
end

function TestLiquidMathFilters.test_round_half_away_from_zero()
  lu.assertEquals(render("{{ 1.5 | round }}"), "2")
  lu.assertEquals(render("{{ 2.5 | round }}"), "3")
  lu.assertEquals(render("{{ -2.5 | round }}"), "-3")
  lu.assertEquals(render("{{ 1.4 | round }}"), "1")
  lu.assertEquals(render("{{ 3 | round }}"), "3")
  lu.assertEquals(render("{{ '2.5' | round }}"), "3")
end

function TestLiquidMathFilters.test_round_with_digits()
  lu.assertEquals(render("{{ 3.14159 | round: 2 }}"), "3.14")
  lu.assertEquals(render("{{ 3.14159 | round: 3 }}"), "3.142")
  lu.assertEquals(render("{{ 1.04 | round: 1 }}"), "1.0")
  lu.assertEquals(render("{{ 2.675 | round: 1 }}"), "2.7")
end

function TestLiquidMathFilters.test_at_least_and_at_most()
  lu.assertEquals(render("{{ 3 | at_least: 5 }}"), "5")
  lu.assertEquals(render("{{ 7 | at_least: 5 }}"), "7")
  lu.assertEquals(render("{{ 4.5 | at_least: 5 }}"), "5")
  lu.assertEquals(render("{{ 7 | at_most: 5 }}"), "5")
  lu.assertEquals(render("{{ 3 | at_most: 5 }}"), "3")
  lu.assertEquals(render("{{ 3 | at_most: 2.5 }}"), "2.5")
end

function TestLiquidMathFilters.test_math_on_nil_treats_it_as_zero()
  lu.assertEquals(render("{{ missing | plus: 1 }}"), "1")
  lu.assertEquals(render("{{ missing | times: 5 }}"), "0")
  lu.assertEquals(render("{{ 5 | minus: missing }}"), "5")
  lu.assertEquals(render("{{ missing | abs }}"), "0")
end

-- ---------------------------------------------------------------------------
TestLiquidArrayFilters = {}

function TestLiquidArrayFilters.test_join()
  local ctx = { a = { 1, 2, 3 } }
  lu.assertEquals(render("{{ a | join }}", ctx), "1 2 3")
  lu.assertEquals(render("{{ a | join: ', ' }}", ctx), "1, 2, 3")
  lu.assertEquals(render("{{ a | join: '' }}", ctx), "123")
end

function TestLiquidArrayFilters.test_first_and_last()
  local ctx = { a = { "x", "y", "z" } }
  lu.assertEquals(render("{{ a | first }}{{ a | last }}", ctx), "xz")
  lu.assertEquals(render("[{{ missing | first }}]"), "[]")
end

function TestLiquidArrayFilters.test_first_and_last_of_a_string_are_characters()
  -- 5.13 (liquid-spec StandardFiltersTest); 5.4 gave ""
  lu.assertEquals(render("{{ s | first }}{{ s | last }}", { s = "héllo" }), "ho")
end

function TestLiquidArrayFilters.test_reverse()
  lu.assertEquals(render("{{ a | reverse | join: ',' }}", { a = { 1, 2, 3 } }), "3,2,1")
  lu.assertEquals(render("{{ 'abc' | split: '' | reverse | join }}"), "c b a")
end

function TestLiquidArrayFilters.test_reverse_leaves_a_string_whole()
  lu.assertEquals(render("{{ 'abc' | reverse }}"), "abc")
end

function TestLiquidArrayFilters.test_concat()
  lu.assertEquals(render("{{ a | concat: b | join: ',' }}", { a = { 1, 2 }, b = { "x" } }), "1,2,x")
end

function TestLiquidArrayFilters.test_compact()
  local ctx = { a = { 1, cjson.null, 2, cjson.null } }
  lu.assertEquals(render("{{ a | compact | join: ',' }}", ctx), "1,2")
  lu.assertEquals(render("{{ a | size }}", ctx), "4")
end

function TestLiquidArrayFilters.test_compact_by_property()
  local ctx = { a = { { n = 1 }, { m = 2 }, { n = 3 } } }
  lu.assertEquals(render("{{ a | compact: 'n' | map: 'n' | join: ',' }}", ctx), "1,3")
end

-- item[property] as Ruby reads it: an integer cannot take a string (the property error),
-- a string gives its substring or nil, nil and booleans have no [] (the result is nil).
-- (It returned the items uninitialised when the first one was not a hash.)
function TestLiquidArrayFilters.test_compact_by_property_on_other_items()
  lu.assertEquals(render("{{ a | compact: 'x' }}", { a = { 1, 2 } }), "Liquid error: cannot select the property 'x'")
  lu.assertEquals(render("{{ a | compact: 'x' | join: ',' }}", { a = { "xa", "b", "x" } }), "xa,x")
  lu.assertEquals(render("[{{ a | compact: 'x' }}]", { a = { true, 1 } }), "[]")
end

function TestLiquidArrayFilters.test_map()
  lu.assertEquals(render("{{ users | map: 'name' | join: ',' }}", USERS), "Ana,bo,Cy")
end

function TestLiquidArrayFilters.test_map_missing_property_gives_nils()
  lu.assertEquals(render("{{ users | map: 'nope' | compact | size }}", USERS), "0")
end

function TestLiquidArrayFilters.test_sort()
  lu.assertEquals(render("{{ a | sort | join: ',' }}", { a = { 3, 1, 2 } }), "1,2,3")
  lu.assertEquals(render("{{ a | sort | join: ',' }}", { a = { "b", "a", "B" } }), "B,a,b")
  lu.assertEquals(render("{{ a | sort | join: ',' }}", { a = { 2.5, 1, 3 } }), "1,2.5,3")
end

function TestLiquidArrayFilters.test_sort_by_property()
  lu.assertEquals(render("{{ users | sort: 'age' | map: 'name' | join: ',' }}", USERS), "bo,Ana,Cy")
  lu.assertEquals(render("{{ users | sort: 'name' | map: 'name' | join: ',' }}", USERS), "Ana,Cy,bo")
end

function TestLiquidArrayFilters.test_sort_natural()
  lu.assertEquals(render("{{ a | sort_natural | join: ',' }}", { a = { "b", "a", "C" } }), "a,b,C")
  lu.assertEquals(render("{{ users | sort_natural: 'name' | map: 'name' | join: ',' }}", USERS), "Ana,bo,Cy")
end

function TestLiquidArrayFilters.test_uniq()
  lu.assertEquals(render("{{ a | uniq | join: ',' }}", { a = { 1, 1, 2, 1, 3 } }), "1,2,3")
  lu.assertEquals(render("{{ a | uniq | join: ',' }}", { a = { 1, "1" } }), "1,1")
  lu.assertEquals(render("{{ users | uniq: 'role' | map: 'name' | join: ',' }}", USERS), "Ana,bo")
end

-- uniq keeps a hash set: what counts as the same must not change with it (eql? at the top,
-- == inside arrays and hashes, a hash's pairs in any order), nor the order of what is kept
function TestLiquidArrayFilters.test_uniq_sameness()
  lu.assertEquals(render("{{ a | uniq | join: ',' }}", { a = { 1, 1.0, 1, 1.0, 0.0, -0.0 } }), "1,1.0,0.0")
  lu.assertEquals(render("{{ a | uniq | size }}", { a = { { 1 }, { 1.0 }, { 2 }, { 1, 2 } } }), "3")
  lu.assertEquals(render("{{ a | uniq | size }}",
    { a = { { x = 1, y = { 2 } }, { y = { 2.0 }, x = 1 }, { x = 1 } } }), "2")
  lu.assertEquals(render("{{ a | uniq | join: ',' }}", { a = { "b", "a", "b", "", "a", "" } }), "b,a,")
  lu.assertEquals(render("{{ a | uniq | join: ',' }}", { a = { true, false, true, cjson.null, cjson.null } }),
    "true,false,")
  -- empty has no hash that agrees with ==: uniq compares pairwise from there on
  lu.assertEquals(render("{{ empty | concat: a | uniq | size }}", { a = { 1, 1, "", 2 } }), "4")
end

function TestLiquidArrayFilters.test_slice_arrays()
  local ctx = { a = { "a", "b", "c", "d" } }
  lu.assertEquals(render("{{ a | slice: 1 | join: ',' }}", ctx), "b")
  lu.assertEquals(render("{{ a | slice: 1, 2 | join: ',' }}", ctx), "b,c")
  lu.assertEquals(render("{{ a | slice: -2, 2 | join: ',' }}", ctx), "c,d")
end

function TestLiquidArrayFilters.test_where_with_value()
  lu.assertEquals(render("{{ users | where: 'role', 'admin' | map: 'name' | join: ',' }}", USERS), "Ana,Cy")
end

function TestLiquidArrayFilters.test_where_without_value_keeps_truthy()
  lu.assertEquals(render("{{ users | where: 'active' | map: 'name' | join: ',' }}", USERS), "Ana")
end

function TestLiquidArrayFilters.test_where_with_boolean_value()
  lu.assertEquals(render("{{ users | where: 'active', false | map: 'name' | join: ',' }}", USERS), "bo")
end

function TestLiquidArrayFilters.test_where_with_no_match_is_empty()
  lu.assertEquals(render("[{{ users | where: 'role', 'root' | join }}]", USERS), "[]")
end

function TestLiquidArrayFilters.test_sum()
  -- 5.13: sum is new in Liquid 5.5
  lu.assertEquals(render("{{ a | sum }}", { a = { 1, 2, 3 } }), "6")
  lu.assertEquals(render("{{ a | sum }}", { a = { 1, 2.5 } }), "3.5")
  lu.assertEquals(render("{{ a | sum }}", { a = { "1", 2 } }), "3")
  lu.assertEquals(render("{{ users | sum: 'age' }}", USERS), "96")
  lu.assertEquals(render("{{ users | sum: 'score' }}", USERS), "6.5")
end

function TestLiquidArrayFilters.test_find()
  -- 5.13: find is new in Liquid 5.7
  lu.assertEquals(render("{% assign u = users | find: 'role', 'user' %}{{ u.name }}", USERS), "bo")
  lu.assertEquals(render("[{{ users | find: 'role', 'root' }}]", USERS), "[]")
end

function TestLiquidArrayFilters.test_find_index()
  -- 5.13: find_index is new in Liquid 5.7; indexes are 0-based like Liquid's
  lu.assertEquals(render("{{ users | find_index: 'name', 'Cy' }}", USERS), "2")
  lu.assertEquals(render("[{{ users | find_index: 'name', 'Zed' }}]", USERS), "[]")
end

function TestLiquidArrayFilters.test_has()
  -- 5.13: has is new in Liquid 5.7
  lu.assertEquals(render("{{ users | has: 'role', 'admin' }}", USERS), "true")
  lu.assertEquals(render("{{ users | has: 'role', 'root' }}", USERS), "false")
  lu.assertEquals(render("{{ users | has: 'active' }}", USERS), "true")
end

function TestLiquidArrayFilters.test_reject()
  -- 5.13: reject is new in Liquid 5.7
  lu.assertEquals(render("{{ users | reject: 'role', 'admin' | map: 'name' | join: ',' }}", USERS), "bo")
  lu.assertEquals(render("{{ users | reject: 'active' | map: 'name' | join: ',' }}", USERS), "bo,Cy")
end

function TestLiquidArrayFilters.test_array_filters_on_a_lua_array_from_context()
  -- design: a Lua sequence is a Liquid array (1-based in Lua, 0-based in Liquid)
  local ctx = { a = { 10, 20, 30 } }
  lu.assertEquals(render("{{ a | first }} {{ a | last }} {{ a | size }} {{ a | slice: 0 }}", ctx), "10 30 3 10")
end

-- ---------------------------------------------------------------------------
TestLiquidDefaultFilter = {}

function TestLiquidDefaultFilter.test_default_replaces_nil_false_and_empty()
  lu.assertEquals(render("{{ missing | default: 'd' }}"), "d")
  lu.assertEquals(render("{{ nil | default: 'd' }}"), "d")
  lu.assertEquals(render("{{ false | default: 'd' }}"), "d")
  lu.assertEquals(render("{{ '' | default: 'd' }}"), "d")
  lu.assertEquals(render("{{ h | default: 'd' }}", { h = {} }), "d")
  lu.assertEquals(render("{% assign e = '' | split: ',' %}{{ e | default: 'd' }}"), "d")
  lu.assertEquals(render("{{ n | default: 'd' }}", { n = cjson.null }), "d")
end

function TestLiquidDefaultFilter.test_default_keeps_other_values()
  lu.assertEquals(render("{{ ' ' | default: 'd' }}"), " ")
  lu.assertEquals(render("{{ 0 | default: 'd' }}"), "0")
  lu.assertEquals(render("{{ true | default: 'd' }}"), "true")
  lu.assertEquals(render("{{ 'x' | default: 'd' }}"), "x")
end

function TestLiquidDefaultFilter.test_default_allow_false()
  lu.assertEquals(render("{{ false | default: 'd', allow_false: true }}"), "false")
  lu.assertEquals(render("{{ nil | default: 'd', allow_false: true }}"), "d")
  lu.assertEquals(render("{{ false | default: 'd', allow_false: false }}"), "d")
end

function TestLiquidDefaultFilter.test_default_with_variable_fallback()
  lu.assertEquals(render("{{ a | default: b }}", { b = 2 }), "2")
end

-- ---------------------------------------------------------------------------
TestLiquidNilFilters = {}

function TestLiquidNilFilters.test_string_filters_treat_nil_as_empty()
  lu.assertEquals(render("[{{ missing | upcase }}]"), "[]")
  lu.assertEquals(render("{{ missing | append: 'x' }}"), "x")
  lu.assertEquals(render("{{ missing | prepend: 'x' }}"), "x")
  lu.assertEquals(render("[{{ missing | strip }}]"), "[]")
  lu.assertEquals(render("[{{ missing | replace: 'a', 'b' }}]"), "[]")
  lu.assertEquals(render("[{{ missing | truncate: 3 }}]"), "[]")
end

function TestLiquidNilFilters.test_collection_filters_treat_nil_as_empty()
  lu.assertEquals(render("[{{ missing | join: ',' }}]"), "[]")
  lu.assertEquals(render("[{{ missing | last }}]"), "[]")
  lu.assertEquals(render("{{ missing | size }}"), "0")
  lu.assertEquals(render("[{{ missing | map: 'x' | join }}]"), "[]")
end

function TestLiquidNilFilters.test_escape_of_nil_is_empty()
  lu.assertEquals(render("[{{ missing | escape }}]"), "[]")
end

function TestLiquidNilFilters.test_date_of_nil_is_empty()
  lu.assertEquals(render("[{{ missing | date: '%Y' }}]"), "[]")
end

-- ---------------------------------------------------------------------------
TestLiquidToJson = {}

-- ours: to_json is Studio's filter; Shopify Liquid has none.
function TestLiquidToJson.test_to_json_scalars()
  lu.assertEquals(render("{{ 'a\"b' | to_json }}"), '"a\\"b"')
  lu.assertEquals(render("{{ 42 | to_json }}"), "42")
  lu.assertEquals(render("{{ true | to_json }}"), "true")
  lu.assertEquals(render("{{ missing | to_json }}"), "null")
end

-- ours
function TestLiquidToJson.test_to_json_array()
  lu.assertEquals(render("{{ a | to_json }}", { a = { 1, "x", true } }), '[1,"x",true]')
  lu.assertEquals(render("{{ 'a,b' | split: ',' | to_json }}"), '["a","b"]')
end

-- ours: an empty Lua table is a hash unless it carries liquid.array_mt
function TestLiquidToJson.test_to_json_of_empty_tables()
  lu.assertEquals(render("{{ h | to_json }}", { h = {} }), "{}")
  lu.assertEquals(render("{{ a | to_json }}", { a = setmetatable({}, liquid.array_mt) }), "[]")
  lu.assertEquals(render("{{ '' | split: ',' | to_json }}"), "[]")
end

-- ours
function TestLiquidToJson.test_to_json_hash_round_trips()
  local h = { name = "Ana", tags = { "a", "b" }, n = 1.5, ok = false }
  local out = render("{{ h | to_json }}", { h = h })
  local ok, back = pcall(cjson.decode, out)
  lu.assertTrue(ok, out)
  lu.assertEquals(back, h)
end

-- ours
function TestLiquidToJson.test_to_json_of_widget_output()
  local ctx = { widgets = { fn = { parsed = { id = 7 } } } }
  lu.assertEquals(render("{{ widgets.fn.parsed | to_json }}", ctx), '{"id":7}')
end

-- ---------------------------------------------------------------------------
TestLiquidDateFilter = {}

local UTC = { timezone = "UTC", now = 1700000000 }
local LA = { timezone = "America/Los_Angeles", now = 1700000000 }

function TestLiquidDateFilter.test_epoch_integer_in_utc()
  lu.assertEquals(render("{{ t | date: '%Y-%m-%d %H:%M:%S' }}", { t = 1700000000 }, UTC), "2023-11-14 22:13:20")
end

function TestLiquidDateFilter.test_epoch_integer_in_los_angeles()
  lu.assertEquals(render("{{ t | date: '%Y-%m-%d %H:%M %Z %z' }}", { t = 1700000000 }, LA),
    "2023-11-14 14:13 PST -0800")
end

function TestLiquidDateFilter.test_summer_time_in_los_angeles()
  lu.assertEquals(render("{{ 1720000000 | date: '%Y-%m-%d %H:%M %Z %z' }}", {}, LA), "2024-07-03 02:46 PDT -0700")
end

function TestLiquidDateFilter.test_default_timezone_is_los_angeles()
  lu.assertEquals(render("{{ 1700000000 | date: '%H:%M %Z' }}"), "14:13 PST")
end

function TestLiquidDateFilter.test_utc_zone_name_and_offset()
  lu.assertEquals(render("{{ 1700000000 | date: '%Z %z' }}", {}, UTC), "UTC +0000")
end

function TestLiquidDateFilter.test_all_digit_string_is_epoch_seconds()
  lu.assertEquals(render("{{ '1700000000' | date: '%F %T' }}", {}, UTC), "2023-11-14 22:13:20")
end

function TestLiquidDateFilter.test_now_uses_the_frozen_clock()
  lu.assertEquals(render("{{ 'now' | date: '%s' }}", {}, UTC), "1700000000")
  lu.assertEquals(render("{{ 'now' | date: '%Y-%m-%d %H:%M' }}", {}, UTC), "2023-11-14 22:13")
  lu.assertEquals(render("{{ 'now' | date: '%Y-%m-%d %H:%M' }}", {}, LA), "2023-11-14 14:13")
end

function TestLiquidDateFilter.test_today_uses_the_frozen_clock()
  lu.assertEquals(render("{{ 'today' | date: '%Y-%m-%d' }}", {}, UTC), "2023-11-14")
  lu.assertEquals(render("{{ 'today' | date: '%A' }}", {}, LA), "Tuesday")
end

function TestLiquidDateFilter.test_now_near_midnight_depends_on_the_zone()
  local opts = { timezone = "UTC", now = 1700006400 } -- 2023-11-15 00:00:00 UTC
  lu.assertEquals(render("{{ 'now' | date: '%Y-%m-%d' }}", {}, opts), "2023-11-15")
  opts.timezone = "America/Los_Angeles"
  lu.assertEquals(render("{{ 'now' | date: '%Y-%m-%d' }}", {}, opts), "2023-11-14")
end

function TestLiquidDateFilter.test_iso8601_string_keeps_its_own_offset()
  local src = "{{ '2024-03-05T10:00:00Z' | date: '%Y-%m-%d %H:%M %z' }}"
  lu.assertEquals(render(src, {}, UTC), "2024-03-05 10:00 +0000")
  lu.assertEquals(render(src, {}, LA), "2024-03-05 10:00 +0000")
  lu.assertEquals(render("{{ '2024-03-05T10:00:00Z' | date: '%s' }}", {}, LA), "1709632800")
end

function TestLiquidDateFilter.test_written_out_date_is_local_midnight()
  lu.assertEquals(render("{{ 'March 5, 2024' | date: '%Y-%m-%d %H:%M' }}", {}, UTC), "2024-03-05 00:00")
  lu.assertEquals(render("{{ 'March 5, 2024' | date: '%s' }}", {}, UTC), "1709596800")
  lu.assertEquals(render("{{ 'March 5, 2024' | date: '%s' }}", {}, LA), "1709625600")
end

function TestLiquidDateFilter.test_plain_date_string()
  lu.assertEquals(render("{{ '2024-03-05' | date: '%d/%m/%Y' }}", {}, UTC), "05/03/2024")
  lu.assertEquals(render("{{ '2024-03-05 14:30' | date: '%I:%M %p' }}", {}, UTC), "02:30 PM")
end

function TestLiquidDateFilter.test_day_padding_and_day_of_year()
  local src = "{{ '2024-03-05' | date: '[%d] [%-d] [%e] [%j] [%m] [%-m]' }}"
  lu.assertEquals(render(src, {}, UTC), "[05] [5] [ 5] [065] [03] [3]")
end

function TestLiquidDateFilter.test_names_of_days_and_months()
  lu.assertEquals(render("{{ '2024-03-05' | date: '%A %a %B %b' }}", {}, UTC), "Tuesday Tue March Mar")
end

function TestLiquidDateFilter.test_epoch_seconds_format()
  lu.assertEquals(render("{{ 1700000000 | date: '%s' }}", {}, LA), "1700000000")
end

function TestLiquidDateFilter.test_year_and_literal_percent()
  lu.assertEquals(render("{{ 1700000000 | date: '%y %C 100%%' }}", {}, UTC), "23 20 100%")
end

function TestLiquidDateFilter.test_twelve_hour_clock()
  lu.assertEquals(render("{{ 1700000000 | date: '%I:%M %p %l' }}", {}, UTC), "10:13 PM 10")
end

function TestLiquidDateFilter.test_invalid_day_rolls_over()
  lu.assertEquals(render("{{ '2024-02-30' | date: '%Y-%m-%d' }}", {}, UTC), "2024-03-01")
end

function TestLiquidDateFilter.test_unparseable_input_is_returned_unchanged()
  lu.assertEquals(render("{{ 'not a date' | date: '%Y' }}", {}, UTC), "not a date")
end

function TestLiquidDateFilter.test_empty_format_returns_input()
  lu.assertEquals(render("{{ 1700000000 | date: '' }}", {}, UTC), "1700000000")
end

function TestLiquidDateFilter.test_date_from_context_string()
  lu.assertEquals(render("{{ d | date: '%b %-d, %Y' }}", { d = "2024-12-25T08:00:00Z" }, UTC), "Dec 25, 2024")
end
