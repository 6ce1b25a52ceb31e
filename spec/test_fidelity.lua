-- Studio fidelity (issue #16): how objects print, what Make HTTP Request's add_twilio_auth
-- sends and to whom, reserved parameter names, Run Function's headers, and what a failed
-- call leaves in the outputs. Each test names the Studio source it follows.
local lu = require "luaunit"
local rivulet = require "rivulet"
local liquid = require "rivulet.liquid"
local json = require "rivulet.json"
local fx = require "spec.http_fixture"

local FROM, TO = "+15550001111", "+15559990000"
local AC = "AC" .. string.rep("0123456789abcdef", 2)
local TOKEN = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"

-- runs flow to its end (HTTP calls included) -> exec, sent bodies
local function run(flow, eopts, trigger)
  local sent = {}
  eopts = eopts or {}
  eopts.on_message = function(_, m) sent[#sent + 1] = m.body end
  local e = rivulet.engine(eopts)
  local exec = assert(e:start(flow, trigger or { from = FROM, to = TO, body = "hi" }))
  e:run()
  local spins = 0
  while exec.status == "active" and spins < 2000 do
    e:poll(10)
    spins = spins + 1
  end
  return exec, sent
end

local function step_of(exec, name)
  for i = #exec.steps, 1, -1 do
    if exec.steps[i].transitioned_from == name then return exec.steps[i] end
  end
end

-- ---- objects print as Studio prints them ---------------------------------------------------

TestFidelityObjects = {}

-- Studio renders {{flow.data}} as {k1=v1, k2=v2}: twilio-labs/function-templates'
-- outreach-pcp-followup documents this shape in save-response's comment and its test
-- sends {outreach_id=Followup,patient_id=1000,…}; Shopify's Liquid prints Ruby's inspect.
function TestFidelityObjects:test_the_option_and_its_default()
  local ctx = { h = json.ordered({ "b", "a" }, { b = 1, a = "x y" }), l = { 1, "two" } }
  lu.assertEquals(liquid.render("{{ h }}", ctx), '{"b"=>1, "a"=>"x y"}')           -- Shopify: the default here
  lu.assertEquals(liquid.render("{{ h }}", ctx, { objects = "studio" }), "{b=1, a=x y}")
  lu.assertEquals(liquid.render("{{ h | to_json }}", ctx, { objects = "studio" }), '{"b":1,"a":"x y"}')
  lu.assertEquals(liquid.render("{{ l }}", ctx, { objects = "studio" }), "1two")   -- arrays print joined either way
  lu.assertErrorMsgContains("liquid option 'objects' must be", liquid.render, "{{ h }}", ctx, { objects = "ruby" })
end

function TestFidelityObjects:test_flows_print_objects_as_studio_in_document_order()
  local flow = {
    { name = "Trigger", type = "trigger", on = { incomingRequest = "say" } },
    { name = "say", type = "send-message", body = "{{flow.data}}" },
  }
  local trig = { event = "incomingRequest", from = TO, to = FROM,
                 parameters = json.decode('{"outreach_id": "Followup", "patient_id": 1000, "nested": {"z": 1, "a": [1, "b"]}}', true) }
  local _, sent = run(flow, {}, trig)
  lu.assertEquals(sent, { "{outreach_id=Followup, patient_id=1000, nested={z=1, a=[1, b]}}" })
  _, sent = run(flow, { liquid_objects = "shopify" }, trig)
  lu.assertEquals(sent, { '{"outreach_id"=>"Followup", "patient_id"=>1000, "nested"=>{"z"=>1, "a"=>[1, "b"]}}' })
  lu.assertErrorMsgContains("liquid_objects", rivulet.engine, { liquid_objects = "ruby" })
end

-- ---- add_twilio_auth -------------------------------------------------------------------------

TestFidelityTwilioAuth = {}

-- "add_twilio_auth": the account's credentials, "only valid for Twilio API URLs"; anywhere
-- else the widget fails without sending (Twilio's Make HTTP Request page, REFERENCE.md §4)
local function auth_flow(url)
  return {
    { name = "Trigger", type = "trigger", on = { incomingMessage = "call" } },
    { name = "call", type = "make-http-request", method = "GET", url = url, add_twilio_auth = true,
      on = { success = "ok", failed = "ko" } },
    { name = "ok", type = "send-message", body = "{{widgets.call.parsed.authorization}}" },
    { name = "ko", type = "send-message", body = "ko [{{widgets.call.status_code}}]" },
  }
end

function TestFidelityTwilioAuth:test_basic_auth_to_twilio_only()
  local _
  local api = "https://api.twilio.com/2010-04-01/Accounts/" .. AC .. "/Calls.json"
  local map = { ["https://api.twilio.com/"] = fx.start() .. "/basic-auth?" }
  local exec, sent = run(auth_flow(api), { account_sid = AC, auth_token = TOKEN, url_map = map })
  lu.assertEquals(sent, { "Basic " .. require("rivulet.core").base64_encode(AC .. ":" .. TOKEN) })
  lu.assertEquals(exec.context.widgets.call.status_code, 200)
  -- the URL's own user:password gives way to the account's
  _, sent = run(auth_flow("https://u:p@api.twilio.com/x"), { account_sid = AC, auth_token = TOKEN, url_map = map })
  lu.assertEquals(sent, { "Basic " .. require("rivulet.core").base64_encode(AC .. ":" .. TOKEN) })
  -- another host: failed, nothing sent (the fixture's request count does not move)
  local before = json.decode(select(1, rivulet.http_request{ url = fx.start() .. "/count", method = "GET" }).body)
  for _, url in ipairs{ fx.start() .. "/basic-auth", "https://api.twilio.com.evil.test/x", "http://api.twilio.com/x",
                        "https://twilio.com@evil.test/x" } do
    exec, sent = run(auth_flow(url), { account_sid = AC, auth_token = TOKEN })
    lu.assertEquals(sent, { "ko []" }, url)
    lu.assertEquals(step_of(exec, "call").reason, "not_twilio_url", url)
    lu.assertStrContains(step_of(exec, "call").note, "nothing was sent")
  end
  local after = json.decode(select(1, rivulet.http_request{ url = fx.start() .. "/count", method = "GET" }).body)
  lu.assertEquals(after.requests, before.requests + 1)          -- only the /count call itself
  -- no account SID: failed, and says which credential is missing
  exec, sent = run(auth_flow(api), { auth_token = TOKEN, url_map = map })
  lu.assertEquals(sent, { "ko []" })
  lu.assertEquals(step_of(exec, "call").reason, "no_credentials")
  lu.assertStrContains(step_of(exec, "call").note, "no account SID")
end

-- ---- reserved parameter names -------------------------------------------------------------

TestFidelityReserved = {}

-- error 81014, "Parameter name uses a reserved word, e.g. "method""
-- (twilio.com/docs/api/errors/81014): the widget fails, nothing is sent
function TestFidelityReserved:test_method_fails_the_widget()
  for _, ty in ipairs{ "make-http-request", "run-function" } do
    local fail = ty == "run-function" and "fail" or "failed"
    local flow = {
      { name = "Trigger", type = "trigger", on = { incomingMessage = "call" } },
      { name = "call", type = ty, method = "POST", url = fx.start() .. "/echo",
        parameters = { { key = "method", value = "x" } }, on = { success = "ok", [fail] = "ko" } },
      { name = "ok", type = "send-message", body = "ok" },
      { name = "ko", type = "send-message", body = "ko {{widgets.call.status_code}}" },
    }
    local exec, sent = run(flow)
    lu.assertEquals(sent, { "ko " }, ty)
    lu.assertEquals(step_of(exec, "call").reason, "reserved_parameter")
    lu.assertStrContains(step_of(exec, "call").note, "81014")
    lu.assertEquals(exec.context.widgets.call, {})
  end
end

-- ---- outputs -------------------------------------------------------------------------------

TestFidelityOutputs = {}

-- Run Function's outputs include the reply's headers (Twilio's Run Function page lists
-- widgets.NAME.headers, e.g. x-twilio-function-concurrency); Make HTTP Request's do not
function TestFidelityOutputs:test_run_function_exposes_headers()
  local flow = {
    { name = "Trigger", type = "trigger", on = { incomingMessage = "fn" } },
    { name = "fn", type = "run-function", url = fx.start() .. "/function-headers", on = { success = "http" } },
    { name = "http", type = "make-http-request", method = "GET", url = fx.start() .. "/function-headers",
      on = { success = "say" } },
    { name = "say", type = "send-message",
      body = "{{widgets.fn.headers.x-twilio-function-concurrency}} {{widgets.fn.headers['x-twice']}} [{{widgets.http.headers}}]" },
  }
  local exec, sent = run(flow)
  lu.assertEquals(sent, { "1 a, b []" })
  lu.assertStrContains(exec.context.widgets.fn.headers["content-type"], "application/json")
  lu.assertNil(exec.context.widgets.http.headers)
end

-- After a network failure, a timeout or an oversized reply the outputs are an empty map
-- (REFERENCE.md §3, §4: "too-large/network/timeout failures carry an empty output map"):
-- status_code renders empty, not 0; why is the step's
function TestFidelityOutputs:test_no_reply_is_an_empty_map()
  for _, case in ipairs{ { "/slow/3000", "timeout", { timeout_ms = 200 } }, { "/size/70000", "too_large" },
                         { "CLOSED", "connect_failed" } } do
    local url = case[1] == "CLOSED" and ("http://127.0.0.1:" .. fx.closed_port() .. "/") or fx.start() .. case[1]
    local flow = {
      { name = "Trigger", type = "trigger", on = { incomingMessage = "fn" } },
      { name = "fn", type = "run-function", url = url, on = { success = "say", fail = "say" } },
      { name = "say", type = "send-message", body = "[{{widgets.fn.status_code}}]" },
    }
    local exec, sent = run(flow, case[3])
    lu.assertEquals(sent, { "[]" }, case[1])
    lu.assertEquals(exec.context.widgets.fn, {}, case[1])
    lu.assertEquals(step_of(exec, "fn").reason, case[2], case[1])
    lu.assertNotNil(step_of(exec, "fn").note, case[1])
  end
end

-- Object order survives the store: an execution read back (a restart, `rivulet deliver`)
-- prints {{flow.data}} in its document's order still
function TestFidelityObjects:test_order_survives_the_store()
  local helper = require "spec.helper"
  local dir = helper.tmpdir()
  local path = dir .. "/s.db"
  local flow = {
    { name = "Trigger", type = "trigger", on = { incomingRequest = "ask" } },
    { name = "ask", type = "send-and-wait-for-reply", body = "{{flow.data}}", timeout = "600",
      on = { incomingMessage = "again" } },
    { name = "again", type = "send-message", body = "{{flow.data}}" },
  }
  local sent = {}
  local e = assert(rivulet.engine{ store = path, on_message = function(_, m) sent[#sent + 1] = m.body end })
  local exec = assert(e:start(flow, { event = "incomingRequest", from = TO, to = FROM,
                                      parameters = json.decode('{"z": 1, "a": 2, "m": {"y": 1, "b": 2}}', true) }))
  e:run()
  lu.assertEquals(sent, { "{z=1, a=2, m={y=1, b=2}}" })
  local st = assert(require("rivulet.store").open(path, { readonly = true }))
  local row = assert(st:execution(exec.sid))
  st:close()
  lu.assertEquals(liquid.render("{{ d }}", { d = row.context.flow.data }, { objects = "studio" }),
                  "{z=1, a=2, m={y=1, b=2}}")
  helper.cleanup()
end
