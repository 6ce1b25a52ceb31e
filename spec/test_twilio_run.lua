-- Run Function end to end against twilio-run, the local Twilio Functions server, serving
-- flows/functions/functions/*.js (see spec/twilio_run.lua):
--   * generate-random-number: the Run Function widget's documented example;
--   * check-signature: twilio-node 4.23.0's validateRequest on rivulet's X-Twilio-Signature.
--
-- Skipped (reason printed, with the command that fixes it) when node is missing, npm cannot
-- reach its registry, or RIVULET_OFFLINE=1 (make test OFFLINE=1). Otherwise twilio-run is
-- installed when missing (scripts/twilio-run.sh: ~20 s from the lockfile, ~45 s cold),
-- started once on a free port for the whole class, and stopped in teardownClass (and,
-- failing that, when the Lua state closes). Every call carries a deadline.

local lu = require "luaunit"
local twilio_run = require "spec.twilio_run"
local rivulet = require "rivulet"

local CALL_TIMEOUT_MS = 5000
local TOKEN = twilio_run.default_token

-- The running server, or the test is skipped (no node, npm offline: the reason says how to
-- fix it) / fails (twilio-run would not install or start).
local function need_server()
   return twilio_run.need{ auth_token = TOKEN, deadline_s = 15 }
end

local function stop_server()
   twilio_run.release()
end

local function is_integer(n)
   return type(n) == "number" and math.tointeger(n) ~= nil
end

local function describe(o)
   return ("event=%s status=%s reason=%s message=%s body=%s"):format(tostring(o.event),
      tostring(o.status_code), tostring(o.reason), tostring(o.message), tostring(o.body))
end

-- ---- generate-random-number --------------------------------------------------------------

-- One class, so the server starts once (on first use) and stops once.
TestTwilioRun = {}

function TestTwilioRun.teardownClass()
   local ok, err = pcall(stop_server) -- LuaUnit 3.4 cannot report an error raised here
   if not ok then
      io.stderr:write("spec/test_twilio_run.lua: stopping twilio-run: ", tostring(err), "\n")
   end
end

function TestTwilioRun:test_random_twenty_numbers_in_range()
   local url = need_server():url("generate-random-number")
   for i = 1, 20 do
      -- both parameter shapes of the contract, alternately
      local parameters = (i % 2 == 0) and { min = "1", max = "6" }
         or { { key = "min", value = "1" }, { key = "max", value = "6" } }
      local o = rivulet.run_function{ url = url, parameters = parameters,
         timeout_ms = CALL_TIMEOUT_MS }
      lu.assertEquals(o.event, "success", describe(o))
      lu.assertEquals(o.status_code, 200)
      lu.assertStrContains(o.content_type, "application/json")
      lu.assertIsTable(o.parsed, describe(o))
      local n = o.parsed.number
      lu.assertTrue(is_integer(n), "not an integer: " .. tostring(n))
      lu.assertTrue(n >= 1 and n <= 6, "out of 1..6: " .. tostring(n))
      lu.assertNil(o.reason)
      lu.assertEquals(o.url, url)
      lu.assertIsNumber(o.elapsed_ms)
      lu.assertTrue(o.elapsed_ms < CALL_TIMEOUT_MS)
   end
end

function TestTwilioRun:test_random_numbers_as_parameters()
   -- numbers are sent as their decimal text; the function rounds min up and max down
   local o = rivulet.run_function{ url = need_server():url("generate-random-number"),
      parameters = { min = 2.5, max = 3 }, timeout_ms = CALL_TIMEOUT_MS }
   lu.assertEquals(o.event, "success", describe(o))
   lu.assertEquals(o.parsed, { number = 3 })
end

function TestTwilioRun:test_random_bad_input_fails_with_400_and_keeps_the_body()
   local url = need_server():url("generate-random-number")
   local cases = {
      { parameters = { min = "one", max = "6" }, field = "min" },
      { parameters = { min = "1" }, field = "max" },
      { parameters = { min = "6", max = "1" }, field = "max" },
   }
   for _, c in ipairs(cases) do
      local o = rivulet.run_function{ url = url, parameters = c.parameters,
         timeout_ms = CALL_TIMEOUT_MS }
      lu.assertEquals(o.event, "fail", describe(o))
      lu.assertEquals(o.reason, "http_status", describe(o))
      lu.assertEquals(o.status_code, 400)
      lu.assertStrContains(o.content_type, "application/json")
      lu.assertStrContains(o.body, '"error":"bad_input"')
      lu.assertStrContains(o.body, '"field":"' .. c.field .. '"')
   end
end

function TestTwilioRun:test_random_concurrent_calls_through_one_client()
   local url = need_server():url("generate-random-number")
   local client = rivulet.http.client{ timeout_ms = CALL_TIMEOUT_MS }
   local calls = {}
   for i = 1, 10 do
      calls[i] = client:run_function{ url = url,
         parameters = { min = tostring(i), max = tostring(i) } }
   end
   for i, call in ipairs(calls) do
      local o = client:wait(call)
      lu.assertTrue(call:done())
      lu.assertEquals(o.event, "success", describe(o))
      lu.assertEquals(o.parsed, { number = i })
   end
   lu.assertEquals(client:poll(0), 0)
end

-- ---- check-signature -----------------------------------------------------------------------

-- Form fields that exercise the encoding: UTF-8, '&', '+', '=', '%', spaces, an empty value.
local PARAMS = { max = "6", min = "1", note = "café & co", plus = "+1 415 867 5310",
   eq = "a=b%20c", empty = "" }

local function check(args)
   local url = need_server():url("check-signature")
   args.url = url
   args.timeout_ms = CALL_TIMEOUT_MS
   local o = rivulet.run_function(args)
   lu.assertEquals(o.event, "success", describe(o))
   lu.assertEquals(o.status_code, 200)
   lu.assertIsTable(o.parsed, describe(o))
   lu.assertIsBoolean(o.parsed.valid, describe(o))
   -- the function validated the URL rivulet called (and signed)
   lu.assertEquals(o.parsed.url, url)
   return o.parsed
end

function TestTwilioRun:test_signature_right_token_is_valid()
   local r = check{ parameters = PARAMS, auth_token = TOKEN }
   lu.assertTrue(r.valid, "twilio-node rejected rivulet's signature")
end

function TestTwilioRun:test_signature_right_token_no_parameters_is_valid()
   lu.assertTrue(check{ auth_token = TOKEN }.valid)
end

function TestTwilioRun:test_signature_repeated_names_in_studio_list_form_are_valid()
   -- REFERENCE.md appendix B, second vector: values sorted, duplicates once (as twilio-node)
   local r = check{ auth_token = TOKEN, parameters = {
      { key = "max", value = "6" }, { key = "min", value = "1" },
      { key = "tag", value = "b" }, { key = "tag", value = "a" }, { key = "tag", value = "b" },
      { key = "note", value = "café & co" },
   } }
   lu.assertTrue(r.valid)
end

function TestTwilioRun:test_signature_client_token_is_used()
   local client = rivulet.http.client{ timeout_ms = CALL_TIMEOUT_MS }
   local url = need_server():url("check-signature")
   local call = client:run_function{ url = url, parameters = PARAMS, auth_token = TOKEN }
   local o = client:wait(call)
   lu.assertEquals(o.event, "success", describe(o))
   lu.assertTrue(o.parsed.valid)
end

function TestTwilioRun:test_signature_wrong_token_is_invalid()
   lu.assertFalse(check{ parameters = PARAMS, auth_token = TOKEN:sub(1, -2) .. "0" }.valid)
end

function TestTwilioRun:test_signature_no_token_is_invalid()
   if os.getenv("RIVULET_AUTH_TOKEN") then
      lu.skip("RIVULET_AUTH_TOKEN is set in the environment: every call is signed")
   end
   local r = check{ parameters = PARAMS }
   lu.assertFalse(r.valid)
   lu.assertEquals(r.reason, "no X-Twilio-Signature header")
end
