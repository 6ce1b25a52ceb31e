-- Real Studio exports (../shared/studio/flows, read in place) run as conversations: the
-- messaging and REST flows, each from its trigger along a path walked by the replies, with
-- every HTTP and Function call sent to the fixture server (Run Function to /json-object,
-- Make HTTP Request to /echo) by a catch-all client handed to the engine. An execution may
-- take any branch its data leads to; what must not happen is the engine itself failing.
-- The conversation is driven as `rivulet run` drives it (rivulet.cli.run's converse):
-- replies in order, then each further wait times out.

local lu = require "luaunit"
local rivulet = require "rivulet"
local helper = require "spec.helper"
local fx = require "spec.http_fixture"
local cli_run = require "rivulet.cli.run"

local DIR = helper.corpus
local CONTACT, CHANNEL = "+15550001111", "+15559990000"

-- Every call goes to the fixture, whatever its URL; the URLs asked for are kept.
local function catch_all(base)
  local client = rivulet.http.client()
  local c = { urls = {} }
  local function to(args, path)
    local a = {}
    for k, v in pairs(args) do a[k] = v end
    c.urls[#c.urls + 1] = args.url
    a.url = base .. path
    return a
  end
  function c.run_function(_, args) return client:run_function(to(args, "/json-object")) end
  function c.http_request(_, args) return client:http_request(to(args, "/echo")) end
  function c.poll(_, ms) return client:poll(ms) end
  return c
end

-- case: file, event, params (REST), body, replies, subflows -> execution, messages, engine, client
local function run_case(case)
  local http = catch_all(fx.start())
  local sent = {}
  local e = rivulet.engine{
    http = http, subflows = case.subflows,
    on_message = function(_, m) sent[#sent + 1] = m.body end,
  }
  local flow = assert(rivulet.load_flow(DIR .. case.file))
  local trigger = { event = case.event, from = CONTACT, to = CHANNEL, body = case.body or "hi",
                    parameters = case.params }
  if case.event == "incomingRequest" then trigger.from, trigger.to = CHANNEL, CONTACT end
  local exec = assert(e:start(flow, trigger))
  local i = 0
  local _, stopped = cli_run.converse(e, exec, function()
    i = i + 1
    return case.replies and case.replies[i]
  end)
  lu.assertNil(stopped, case.file)
  return exec, sent, e, http
end

local function visited(exec)
  local seen = {}
  for _, s in ipairs(exec.steps) do seen[s.transitioned_from] = true seen[s.transitioned_to] = true end
  return seen
end

-- the engine's own failures, in any execution it ran (subflows too)
local function assert_no_engine_failure(e, case)
  for _, x in ipairs(e:executions()) do
    lu.assertNotEquals(x.status, "active", case.file .. ": " .. x.sid .. " still active")
    if x.failed then
      lu.assertTrue(case.unsupported and x.reason:find(case.unsupported, 1, true) ~= nil,
        case.file .. " (" .. case.event .. "): failed: " .. tostring(x.reason))
    end
    for _, s in ipairs(x.steps) do
      lu.assertNotNil(x.flow.by_name[s.transitioned_from], s.transitioned_from)
    end
  end
end

local CASES = {
  { name = "appointments_remind_confirm", file = "01_twilio-labs_patient-appointment-management.json",
    event = "incomingRequest", params = { event_type = "REMIND", patient_first_name = "Ada", provider_last_name = "Who" },
    replies = { " confirm appt " },
    path = { "get-datetime-parts", "save-remind", "send_remind", "confirm_remind" },
    http = { "https://you_ehr_endpoint_url.com/inbound" } },
  { name = "appointments_booked_cancel", file = "01_twilio-labs_patient-appointment-management.json",
    event = "incomingRequest", params = { event_type = "booked", patient_first_name = "Ada" },
    replies = { "CANCEL APPT" }, path = { "save-booked", "send_booked", "split_booked", "confirm_booked" } },
  { name = "appointments_opted_out", file = "01_twilio-labs_patient-appointment-management.json",
    event = "incomingRequest", params = { event_type = "OPTED-OUT", patient_first_name = "Ada" },
    path = { "send_optedout" }, last = "^Hello, Ada%. You have opted out" },
  { name = "appointments_unknown_event", file = "01_twilio-labs_patient-appointment-management.json",
    event = "incomingRequest", params = { event_type = "SOMETHING" }, path = { "split_on_event_type" } },
  { name = "frontline_conversation", file = "02_guvarallo_frontline-airtable-studio-bot.json",
    event = "incomingConversationMessage", replies = { "Ada", " Agente " },
    path = { "get-convo-name", "get-customer", "new-customer-name", "new-customer-send-reply", "transfer-message",
             "add-convo-name", "routing" },
    messages = { "Olá, bem vindo(a) ao atendimento Twilio! Antes de iniciarmos, nos informe seu nome por favor.",
                 'Muito prazer Ada! Para falar com um agente exclusivo, digite "agente".',
                 "Um momento enquanto te transfiro ao seu agente exclusivo." } },
  { name = "frontline_message_ends_at_the_trigger", file = "02_guvarallo_frontline-airtable-studio-bot.json",
    event = "incomingMessage", steps = 1 },
  { name = "sit_down_parent_and_child", file = "03_anthonyjdella_daily-sit-down-parent.json",
    event = "incomingMessage", replies = { "wrote specs", "wrote specs", "none", "1" },
    subflows = { FW50120385f4d1e8dcf30c0bcd83695969 = DIR .. "04_anthonyjdella_daily-sit-down-child.json" },
    path = { "validate_caller", "get_names", "ask_questions", "end", "press_1", "airtable_link" },
    last = "^https://airtable.com/", child_path = { "yesterday", "today", "same_thing", "impediments",
                                                     "var_input", "save_to_airtable" } },
  { name = "sit_down_parent_rest", file = "03_anthonyjdella_daily-sit-down-parent.json",
    event = "incomingRequest", path = { "schedule_multiple_messages" } },
  { name = "sit_down_child_times_out", file = "03_anthonyjdella_daily-sit-down-parent.json",
    event = "incomingMessage",
    subflows = { FW50120385f4d1e8dcf30c0bcd83695969 = DIR .. "04_anthonyjdella_daily-sit-down-child.json" },
    path = { "ask_questions", "end" }, child_path = { "yesterday", "nothing", "today" } },
  { name = "eppo_message", file = "05_datakabeta_twilio-eppo.json", event = "incomingMessage",
    path = { "set_experiment_key", "get_assignment", "split_based_on_assigned_variation" } },
  { name = "eppo_rest", file = "05_datakabeta_twilio-eppo.json", event = "incomingRequest",
    params = { time = "10:00", loc = "Main St" }, path = { "get_assignment" } },
  { name = "requestbin", file = "07_prebrov_studio-requestbin.json", event = "incomingRequest",
    params = { sample = "given" }, replies = { "Ada" }, path = { "intro", "callback", "ack" },
    last = '^Pleasure to meet you, Ada%. HTTP response from callback was: ""$' },
  { name = "foodnow_sms_english", file = "09_mgmuscari_accfb-foodnow_bot_flow.json", event = "incomingMessage",
    replies = { "English", "yes", "Oakland" },
    path = { "split_language_sms", "gather_city_sms_english", "valid_http_city_sms", "out_of_area_sms_english" } },
  { name = "foodnow_sms_spanish", file = "09_mgmuscari_accfb-foodnow_bot_flow.json", event = "incomingMessage",
    replies = { " Español ", "sí", "Oakland" },
    path = { "gather_need_food_spanish_sms", "gather_city_sms_spanish", "send_out_of_area_sms_spanish" } },
  { name = "foodnow_sms_no_reply", file = "09_mgmuscari_accfb-foodnow_bot_flow.json", event = "incomingMessage",
    path = { "ask_language_sms_english" } },
  { name = "apaleo_greeting_no_match", file = "10_hlsrobot_twilio-apaleo.json", event = "incomingMessage",
    replies = { "hello" }, path = { "init_variables", "get_apaleo_token", "greeting", "split_greeting" } },
  { name = "apaleo_booking_to_flex", file = "10_hlsrobot_twilio-apaleo.json", event = "incomingMessage",
    replies = { "Booking", "12345" }, unsupported = "send-to-flex",
    path = { "ask_booking_id", "get_reservation", "no_booking_fail", "connect_with_agent", "send_to_flex" } },
}

TestCorpusRuns = {}

function TestCorpusRuns.setUp()
  helper.skip_without_corpus()
end

for _, case in ipairs(CASES) do
  TestCorpusRuns["test_" .. case.name] = function()
    local exec, sent, e, http = run_case(case)
    assert_no_engine_failure(e, case)
    local seen = visited(exec)
    for _, s in ipairs(case.path or {}) do lu.assertTrue(seen[s], case.name .. ": never reached " .. s) end
    if case.child_path then
      local child = e:executions()[2]
      lu.assertNotNil(child, "no subflow ran")
      lu.assertEquals(child.trigger_event, "incomingParent")
      local cseen = visited(child)
      for _, s in ipairs(case.child_path) do lu.assertTrue(cseen[s], case.name .. ": subflow never reached " .. s) end
    end
    if case.steps then lu.assertEquals(#exec.steps, case.steps) end
    if case.last then lu.assertStrContains(sent[#sent] or "", case.last, true) end
    if case.messages then lu.assertEquals(sent, case.messages) end
    for _, url in ipairs(case.http or {}) do
      local found = false
      for _, u in ipairs(http.urls) do if u == url then found = true end end
      lu.assertTrue(found, case.name .. ": no call to " .. url)
    end
    -- the record of every corpus run is plain data
    lu.assertNotNil(require("rivulet.json").encode(cli_run.plain(rivulet.record(exec), {})))
  end
end

-- every messaging and REST entry of the corpus is covered by a case above
function TestCorpusRuns.test_every_messaging_and_rest_entry_is_covered()
  local json = require "rivulet.json"
  local covered = {}
  for _, c in ipairs(CASES) do covered[c.file .. " " .. c.event] = true end
  local p = io.popen('ls "' .. DIR .. '" 2>/dev/null')
  local n = 0
  for name in p:lines() do
    if name:match("%.json$") then
      n = n + 1
      local t = assert(json.decode(assert(helper.read_file(DIR .. name))))
      for _, s in ipairs(t.states) do
        if s.type == "trigger" then
          for _, tr in ipairs(s.transitions) do
            if (tr.event == "incomingMessage" or tr.event == "incomingRequest") and tr.next and tr.next ~= "" then
              lu.assertTrue(covered[name .. " " .. tr.event], name .. " " .. tr.event .. " has no case")
            end
          end
        end
      end
    end
  end
  p:close()
  if n == 0 then lu.skip("no corpus at " .. DIR) end
end
