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
