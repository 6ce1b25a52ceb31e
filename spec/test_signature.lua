-- X-Twilio-Signature primitives: REFERENCE.md appendix B's four test vectors through
-- rivulet.core.hmac_sha1_base64 (and sha256_hex for the bodySHA256 one). Each vector gives
-- the string to sign, so these check the C digests alone; the string building is checked
-- end to end against twilio-node in spec/test_twilio_run.lua.

local lu = require "luaunit"
local rivulet = require "rivulet"

local core = rivulet.core

TestSignatureVectors = {}

local VECTORS = {
   {
      name = "form POST with a query string",
      token = "12345",
      data = "https://mycompany.com/myapp.php?foo=1&bar=2" ..
         "CallSidCA1234567890ABCDECaller+14158675310Digits1234From+14158675310To+18005551212",
      signature = "GvWf1cFY/Q7PnoempGyD5oXAezc=",
   },
   {
      name = "form POST, UTF-8 value, a repeated name (values sorted, duplicates once)",
      token = "0123456789abcdef0123456789abcdef",
      data = "http://127.0.0.1:3100/generate-random-numbermax6min1notecaf\xC3\xA9 & cotagatagb",
      signature = "ux64Nk5R5aqnAVz7ampXHr58JPo=",
   },
   {
      name = "JSON POST: only the URL with bodySHA256",
      token = "0123456789abcdef0123456789abcdef",
      data = "https://example-1234.twil.io/generate-random-number" ..
         "?bodySHA256=0db35240c955faf8f368d7ef7465901c1eb0eec1a58d60d842722b74fe212d14",
      signature = "BI90w56d2lff1/dDVx4WmYzyaoE=",
   },
   {
      name = "GET: the URL alone",
      token = "12345",
      data = "https://example-1234.twil.io/generate-random-number?min=1&max=6",
      signature = "bEIcoudSnFdX9AJGp5Wd/U4Rbcs=",
   },
}

function TestSignatureVectors:test_reference_vectors()
   for _, v in ipairs(VECTORS) do
      lu.assertEquals(core.hmac_sha1_base64(v.token, v.data), v.signature, v.name)
   end
end

function TestSignatureVectors:test_body_sha256_of_the_json_vector()
   lu.assertEquals(core.sha256_hex('{"min":1,"max":6}'),
      "0db35240c955faf8f368d7ef7465901c1eb0eec1a58d60d842722b74fe212d14")
end

function TestSignatureVectors:test_known_digests()
   -- RFC 2202-style HMAC-SHA1 and FIPS 180 SHA-256 values, as base64 / lower-case hex
   lu.assertEquals(core.hmac_sha1_base64("key", "The quick brown fox jumps over the lazy dog"),
      "3nybhbi3iqa8ino29wqQcBydtNk=")
   lu.assertEquals(core.hmac_sha1_base64("", ""), "+9sdGxiqbAgyS31ktx+3Y3BpDh0=")
   lu.assertEquals(core.sha256_hex(""),
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
   lu.assertEquals(core.sha256_hex("abc"),
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
end

function TestSignatureVectors:test_binary_safe()
   -- embedded NULs count: the digests take the Lua string's length, not strlen
   lu.assertNotEquals(core.hmac_sha1_base64("k\0x", "d"), core.hmac_sha1_base64("k", "d"))
   lu.assertNotEquals(core.sha256_hex("a\0b"), core.sha256_hex("a"))
   lu.assertEquals(#core.sha256_hex("a\0b"), 64)
end

-- the whole webhook signature in C (core.twilio_signature): the fields in any order, sorted
-- byte by byte by name then value, each distinct pair once; the string it signs is checked
-- against the HMAC of the string built by hand
TestSignatureFields = {}

function TestSignatureFields:test_sorted_by_bytes_then_value_each_pair_once()
   local url = "https://example.com/v1/Accounts/AC1/Flows/FW1?x=1"
   local list = { { "b", "2" }, { "a", "z" }, { "B", "1" }, { "a", "y" }, { "a", "z" }, { "Body", "é" } }
   -- "B" < "Body" < "a" < "b" in bytes (a locale-aware < could put "a" before "B")
   local want = core.hmac_sha1_base64("tok", url .. "B1" .. "Bodyé" .. "ay" .. "az" .. "b2")
   lu.assertEquals(core.twilio_signature("tok", url, list), want)
   lu.assertEquals(rivulet.http.signature("tok", url, list, false), want)
   lu.assertEquals(list[1][1], "b")                          -- the caller's list is left as it was
   lu.assertEquals(core.twilio_signature("tok", url, list, "sha256"),
                   core.hmac_sha256_base64("tok", url .. "B1" .. "Bodyé" .. "ay" .. "az" .. "b2"))
   lu.assertEquals(core.twilio_signature("tok", url, {}), core.hmac_sha1_base64("tok", url))
end

-- from two fields to a couple of hundred, in random order, repeated pairs included
function TestSignatureFields:test_any_number_of_fields_in_any_order()
   local seed = 11
   local function rnd(n) seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n end
   for _, count in ipairs{ 2, 19, 64, 65, 200 } do
      local list = {}
      for i = 1, count do list[i] = { "F" .. rnd(count // 2 + 1), tostring(rnd(3)) } end
      local sorted = {}
      for i, p in ipairs(list) do sorted[i] = p end
      table.sort(sorted, function(a, b) if a[1] ~= b[1] then return a[1] < b[1] end return a[2] < b[2] end)
      local parts, last = { "u" }, nil
      for _, p in ipairs(sorted) do
         local one = p[1] .. p[2]
         if one ~= last then parts[#parts + 1] = one end   -- each pair once (values are one digit,
         last = one                                         -- so name .. value tells pairs apart)
      end
      lu.assertEquals(core.twilio_signature("t", "u", list), core.hmac_sha1_base64("t", table.concat(parts)), count)
   end
end

function TestSignatureFields:test_binary_names_and_values()
   local list = { { "k\0b", "v\0" }, { "k\0a", "\255" } }
   lu.assertEquals(core.twilio_signature("t", "u", list), core.hmac_sha1_base64("t", "uk\0a\255k\0bv\0"))
end

function TestSignatureFields:test_bad_lists_raise()
   lu.assertErrorMsgContains("list[2] must be {name, value}, two strings",
      core.twilio_signature, "t", "u", { { "a", "1" }, { "b", 2 } })
   lu.assertErrorMsgContains("list[1] must be", core.twilio_signature, "t", "u", { "a" })
   lu.assertErrorMsgContains("sha1 or sha256", core.twilio_signature, "t", "u", {}, "md5")
end

-- application/x-www-form-urlencoded as Twilio posts it (core.form_decode)
TestFormDecode = {}

function TestFormDecode:test_pairs_in_order_with_repeats()
   lu.assertEquals(core.form_decode("Body=Hello+world%21&MediaUrl0=a&MediaUrl0=b&Empty="),
      { { "Body", "Hello world!" }, { "MediaUrl0", "a" }, { "MediaUrl0", "b" }, { "Empty", "" } })
end

function TestFormDecode:test_edges()
   lu.assertEquals(core.form_decode(""), {})
   lu.assertEquals(core.form_decode("&&a=1&&"), { { "a", "1" } })              -- empty parts skipped
   lu.assertEquals(core.form_decode("flag"), { { "flag", "" } })               -- no "=": value ""
   lu.assertEquals(core.form_decode("=v"), { { "", "v" } })
   lu.assertEquals(core.form_decode("a=b=c"), { { "a", "b=c" } })              -- the first "=" splits
   lu.assertEquals(core.form_decode("k%3D=%3d%26"), { { "k=", "=&" } })
   -- a % without two hex digits after it is kept as it is
   lu.assertEquals(core.form_decode("a=%zz%4&b=100%"), { { "a", "%zz%4" }, { "b", "100%" } })
   lu.assertEquals(core.form_decode("a=%00%FF"), { { "a", "\0\255" } })
   lu.assertEquals(core.form_decode("a+b=%2B+"), { { "a b", "+ " } })
end

function TestFormDecode:test_the_map_beside_the_pairs()
   local list, map = core.form_decode("Body=Hi+there&MediaUrl0=a&MediaUrl0=b&flag&&", true)
   lu.assertEquals(list, { { "Body", "Hi there" }, { "MediaUrl0", "a" }, { "MediaUrl0", "b" }, { "flag", "" } })
   lu.assertEquals(map, { Body = "Hi there", MediaUrl0 = "b", flag = "" })      -- the last value wins
   list, map = core.form_decode("", true)
   lu.assertEquals(list, {})
   lu.assertEquals(map, {})
   lu.assertEquals(select("#", core.form_decode("a=1")), 1)
end

-- and back: core.form_encode, the body of a Run Function call and a Messages API post
TestFormEncode = {}

function TestFormEncode:test_bytes_and_order()
   lu.assertEquals(core.form_encode({}), "")
   lu.assertEquals(core.form_encode({ { "a b", "+1 555/\195\169*-._~" }, { "x", "" } }),
      "a+b=%2B1+555%2F%C3%A9*-._%7E&x=")                     -- only letters, digits and *-._ stay
   lu.assertEquals(core.form_encode({ { "k", "\0\255\n" } }), "k=%00%FF%0A")
   lu.assertEquals(core.form_encode({ { "z", "1" }, { "a", "2" } }), "z=1&a=2")   -- in the list's order
   lu.assertErrorMsgContains("item 2", core.form_encode, { { "a", "1" }, "b" })
   lu.assertErrorMsgContains("must be strings", core.form_encode, { { "a", 1 } })
end

-- every byte, in names and values, as the Lua gsub it replaced wrote it; and decoded back
function TestFormEncode:test_random_texts_agree_with_the_lua_encoding_and_decode_back()
   local function escape(s)
      return (s:gsub("[^%w%*%-%._ ]", function(c) return string.format("%%%02X", c:byte()) end):gsub(" ", "+"))
   end
   local seed = 7
   local function rnd(n) seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n end
   for _ = 1, 2000 do
      local list, want = {}, {}
      for i = 1, rnd(4) + 1 do
         local a, b = {}, {}
         for j = 1, rnd(8) + 1 do a[j] = string.char(rnd(256)) end
         for j = 1, rnd(24) do b[j] = string.char(rnd(256)) end
         list[i] = { table.concat(a), table.concat(b) }
         want[i] = escape(list[i][1]) .. "=" .. escape(list[i][2])
      end
      local text = core.form_encode(list)
      lu.assertEquals(text, table.concat(want, "&"))
      lu.assertEquals(core.form_decode(text), list)
   end
end

-- what a handler reads off a request (rivulet.serve.request.form)
function TestFormDecode:test_a_request_without_fields_shares_read_only_empties()
   local request = require "rivulet.serve.request"
   local list, one, all = request.form("To=%2B1&MediaUrl=x&MediaUrl=y")
   lu.assertEquals(list, { { "To", "+1" }, { "MediaUrl", "x" }, { "MediaUrl", "y" } })
   lu.assertEquals(one, { To = "+1", MediaUrl = "y" })
   lu.assertEquals(all.MediaUrl, { "x", "y" })
   lu.assertEquals(all.Nothing, false)
   for _, text in ipairs{ "", "&&" } do
      local l2, o2, a2 = request.form(text)
      lu.assertEquals(l2, {})
      lu.assertEquals(o2, {})
      lu.assertEquals(a2.MediaUrl, false)
      lu.assertErrorMsgContains("read-only", function() o2.x = 1 end)
   end
   lu.assertIs(select(2, request.form(nil)), select(2, request.form("")))
end
