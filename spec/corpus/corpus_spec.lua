-- Real Studio exports from the shared corpus (../shared/studio/flows, or $RIVULET_SHARED/
-- studio/flows), read in place: the messaging and REST flows as conversations, every
-- Function and HTTP call stubbed (live = false), so each case pins one path through a flow
-- someone shipped. Skipped when the corpus is not there.
--
--   build/rivulet test spec/corpus/corpus_spec.lua --coverage
local test = require "rivulet.test"
local json = require "rivulet.json"

local here = (...):match("^(.*)/[^/]*$") or "."
local shared = os.getenv("RIVULET_SHARED") or test.normalize(here .. "/../../../shared")
local DIR = shared .. "/studio/flows/"
local probe = io.open(DIR .. "01_twilio-labs_patient-appointment-management.json", "rb")
if probe then probe:close() end
local NO_CORPUS = not probe and ("no corpus at " .. DIR) or nil

local CONTACT = test.CONTACT

-- ---- 01: patient appointment management (REST) -------------------------------------------

local APPOINTMENTS = DIR .. "01_twilio-labs_patient-appointment-management.json"

local function appointment(event_type)
  return { event = "incomingRequest", parameters = {
    event_type = event_type, patient_first_name = "Ada", provider_last_name = "Lovelace",
    appointment_location = "Main St Clinic", provider_callback_phone = "555-0100",
    appointment_datetime = "2024-05-06T09:30:00-07:00", appointment_id = "A1", provider_id = "P1",
    patient_id = "PT1" } }
end

-- the health system's functions: get-datetime-parts reads the date, the save-* ones store
local APPOINTMENT_STUBS = {
  ["https://YOUR_TWILIO_ENVIRONMENT_DOMAIN_NAME/get-datetime-parts"] = function(event)
    local iso = event.parameters.datetime_iso
    assert(iso == "2024-05-06T09:30:00-07:00", iso)
    return { status = 200, json = { readable_datetime = "Monday, May 6 at 9:30 AM" } }
  end,
  -- the save-* Functions get {{flow.data}} as Studio prints an object; their own comment
  -- (twilio-labs/function-templates, patient-appointment-management/functions/
  -- save-booked.protected.js) says "parenthesis enclosed comma-separated key=value string ...
  -- values will not be enclosed in quotes (eg., {k1=v1, k2=v2, k3=v3})". This stub reads it
  -- the way they do (braces off, split on commas, then on "=", trimmed) and fails as their
  -- assert would (a Function error: 500) when a field is missing.
  ["https://YOUR_TWILIO_ENVIRONMENT_DOMAIN_NAME/save-"] = function(event)
    local text = tostring(event.parameters.appointment or "")
    local fields = {}
    for piece in text:gsub("{", "", 1):gsub("}", "", 1):gmatch("[^,]+") do
      local k, v = piece:match("^([^=]*)=([^=]*)")
      if k then fields[k:match("^%s*(.-)%s*$")] = v:match("^%s*(.-)%s*$") end
    end
    for _, field in ipairs{ "appointment_id", "patient_id", "appointment_datetime" } do
      if fields[field] == nil then
        return { status = 500, body = "AssertionError: missing appointment." .. field }
      end
    end
    return { status = 200, json = { status = "saved", appointment = fields } }
  end,
  -- the EHR endpoint gets JSON; the stub checks what it is told
  ["https://you_ehr_endpoint_url.com/inbound"] = function(event)
    local body = assert(json.decode(event.body))
    assert(event.method == "POST" and body.appointment_id == "A1", event.body)
    return { status = 200, json = { received = body.event_type } }
  end,
}

local REMINDER = [[
Hello, Ada. This is a reminder that you have an appointment scheduled with Dr. Lovelace for  Monday, May 6 at 9:30 AM  at Main St Clinic.

Please respond to this message with CONFIRM APPT to confirm or CANCEL APPT to cancel your appointment.

If you would like to make changes to your appointment details, please call us at 555-0100.

- From YOUR_HEALTH_SYSTEM_NAME]]

-- ---- 03 + 04: daily sit-down, a parent running a subflow -------------------------------------

local SIT_DOWN = DIR .. "03_anthonyjdella_daily-sit-down-parent.json"
local SIT_DOWN_STUBS = {
  validate_caller = { status = 200, json = { valid = true } },
  get_names = function(event)
    assert(event.parameters.caller == CONTACT, "caller " .. tostring(event.parameters.caller))
    return { status = 200, json = { name = "Ada" } }
  end,
  -- the date comes from the simulated clock, in Studio's time zone (America/Los_Angeles)
  save_to_airtable = function(event)
    assert(event.parameters.date == "2024-05-06", "date " .. tostring(event.parameters.date))
    return { status = 200, json = { id = "rec1" } }
  end,
}

-- ---- 09: ACCFB FoodNow, the SMS side -------------------------------------------------------

local FOODNOW = DIR .. "09_mgmuscari_accfb-foodnow_bot_flow.json"
local PANTRY = { site_name = "Oakland Pantry", site_address = "1 Main St", site_city = "Oakland",
                 site_open = "9am", site_close = "1pm", distance = "0.5 miles",
                 agency_number = "A-7", day_of_week = "Monday", date_open = "2024-05-06",
                 is_drivethru = false }
local FOODNOW_STUBS = {
  ["https://accfb-foodnow.herokuapp.com/validate-city"] = function(event)
    local valid = event.parameters.city == "oakland"
    return { status = 200, json = { valid_city = valid, city = event.parameters.city } }
  end,
  ["https://accfb-foodnow.herokuapp.com/find-pantry"] =
    { status = 200, json = { sites = { PANTRY } } },
  ["https://accfb-foodnow.herokuapp.com/record-referral"] = function(event)
    assert(event.parameters.agency_number == "A-7" and event.parameters.channel == "sms")
    return { status = 200 }
  end,
}
-- the question ends in invisible characters (U+200F, U+200E, U+00A0): a pattern is kinder
local LANGUAGE = { expect = { match = "^For English, reply 'english'%. Para español, responda" } }
local NEED_FOOD = '> Do you need help with food right away?  Reply "yes" or "no"'
local WHICH_CITY = "> Ok, I can help you find food. What city are you located in?"
local SUBFLOWS = { FW50120385f4d1e8dcf30c0bcd83695969 =
  DIR .. "04_anthonyjdella_daily-sit-down-child.json" }

return {
  live = false,
  skip = NO_CORPUS,
  now = "2024-05-06T16:00:00Z",      -- 09:00 in Los Angeles

  cases = {
    -- 01 ---------------------------------------------------------------------------------------
    { name = "appointments: a reminder confirmed by reply",
      flow = APPOINTMENTS, trigger = appointment("REMIND"), stubs = APPOINTMENT_STUBS,
      script = { "> " .. REMINDER, "< confirm appt" },
      state = "confirm_remind",
      context = { ["widgets.confirm_remind.parsed.received"] = "Confirm",
                  ["widgets.send_remind.inbound.Body"] = "confirm appt",
                  -- the Function read {{flow.data}} back (Studio's {k=v, ...}: issue #16)
                  ["widgets.save-remind.parsed.appointment.patient_id"] = "PT1",
                  ["widgets.save-remind.parsed.appointment.appointment_datetime"] = "2024-05-06T09:30:00-07:00" } },

    { name = "appointments: a reminder nobody answers ends after two minutes",
      flow = APPOINTMENTS, trigger = appointment("REMIND"), stubs = APPOINTMENT_STUBS,
      script = { "> " .. REMINDER, { advance = 119 }, { status = "active" }, { timeout = true } },
      state = "send_remind" },

    { name = "appointments: booked, then cancelled by reply",
      flow = APPOINTMENTS, trigger = appointment("BOOKED"), stubs = APPOINTMENT_STUBS,
      script = { { expect = { match = "^Hello, Ada%. Your appointment with Dr%. Lovelace is" } },
                 "< CANCEL APPT" },
      state = "confirm_booked",
      context = { ["widgets.confirm_booked.parsed.received"] = "Confirm",
                  ["widgets.save-booked.parsed.status"] = "saved",
                  ["widgets.save-booked.parsed.appointment.appointment_id"] = "A1" } },

    { name = "appointments: opting out",
      flow = APPOINTMENTS, trigger = appointment("OPTED-OUT"), stubs = APPOINTMENT_STUBS,
      script = { { expect = { match = "^Hello, Ada%. You have opted out of receiving" } } },
      state = "send_optedout" },

    { name = "appointments: an event type the flow does not know ends at the split",
      flow = APPOINTMENTS, trigger = appointment("SOMETHING"), stubs = APPOINTMENT_STUBS,
      script = {},
      state = "split_on_event_type",
      path = { "set_global_variables", "get-datetime-parts", "split_on_event_type" } },

    { name = "appointments: when get-datetime-parts fails nothing is sent",
      flow = APPOINTMENTS, trigger = appointment("REMIND"),
      stubs = { ["https://YOUR_TWILIO_ENVIRONMENT_DOMAIN_NAME/get-datetime-parts"] =
                  { status = 500 } },
      script = {},
      state = "get-datetime-parts", reason = { match = "ended the flow on 'fail'" } },

    -- 03 + 04 ----------------------------------------------------------------------------------
    { name = "sit-down: the subflow asks three questions, then the parent links the board",
      flow = SIT_DOWN, stubs = SIT_DOWN_STUBS,
      subflows = SUBFLOWS,
      script = { "> ADA what did you do yesterday?", "< specs",
                 "> ADA what will you do today?", "< specs",
                 "> Weren’t you working on that yesterday? Why aren’t you done yet?",
                 "> ADA what impediments do you have?", "< none",
                 "> Thanks, Ada now get back to work.\n\nReply with 1 to view the Daily Sit-Down.",
                 "< 1",
                 "> https://airtable.com/shrgxvKyKIJ9pJItw" },
      state = "airtable_link",
      context = { ["widgets.ask_questions.date"] = "2024-05-06",
                  ["widgets.ask_questions.impediments"] = "none" } },

    { name = "sit-down: a quiet morning gets teased",
      flow = SIT_DOWN, stubs = SIT_DOWN_STUBS,
      subflows = SUBFLOWS,
      script = { "> ADA what did you do yesterday?", { timeout = true },
                 "> Are you telling me you sat around doing nothing?",
                 "> ADA what will you do today?", { timeout = true },
                 -- the child ends on today's timeout (no next): the parent counts it as completed
                 "> Thanks, Ada now get back to work.\n\nReply with 1 to view the Daily Sit-Down.",
                 { timeout = true } },
      state = "end", context = { ["widgets.ask_questions.name"] = "Ada" } },

    { name = "sit-down: a stranger is turned away",
      flow = SIT_DOWN, stubs = { validate_caller = { status = 403 } },
      script = { "> Daily Sit-Down is a sacred ritual, and you are not allowed to join." },
      state = "invalid_user" },

    { name = "sit-down: the REST trigger schedules the morning messages",
      flow = SIT_DOWN, trigger = { event = "incomingRequest" },
      stubs = { schedule_multiple_messages = function(event)
        assert(json.decode(event.body).message:find("^Good morning!"), event.body)
        return { status = 202, json = { scheduled = 3 } }
      end },
      script = {},
      state = "schedule_multiple_messages",
      context = { ["widgets.schedule_multiple_messages.status_code"] = 202 } },

    -- 05 ---------------------------------------------------------------------------------------
    { name = "eppo: the split reads a widget that does not exist, so every execution stops there",
      flow = DIR .. "05_datakabeta_twilio-eppo.json",
      trigger = { event = "incomingRequest", parameters = { time = "10:00", loc = "Main St" } },
      stubs = { get_assignment = { status = 200, json = { variation = "newMessage" } } },
      script = {},
      state = "split_based_on_assigned_variation",
      context = { ["widgets.get_assignment.parsed.variation"] = "newMessage" } },

    -- 07 ---------------------------------------------------------------------------------------
    { name = "requestbin: the callback's answer is quoted back",
      flow = DIR .. "07_prebrov_studio-requestbin.json",
      trigger = { event = "incomingRequest", parameters = { sample = "given" } },
      stubs = { callback = function(event)
        local body = assert(json.decode(event.body))
        assert(body.inbound.inboundText == "Ada", event.body)
        return { status = 200, json = { message = "logged" } }
      end },
      script = { "> Hi, how may I address you?", "< Ada",
                 '> Pleasure to meet you, Ada. HTTP response from callback was: "logged"' } },

    { name = "requestbin: a failing callback still gets an answer",
      flow = DIR .. "07_prebrov_studio-requestbin.json",
      trigger = { event = "incomingRequest", parameters = { sample = "given" } },
      stubs = { callback = { status = 502, body = "bad gateway" } },
      script = { "> Hi, how may I address you?", "< Ada",
                 '> Pleasure to meet you, Ada. HTTP response from callback was: ""' },
      path = { "intro", "callback", "ack" } },

    -- 09 ---------------------------------------------------------------------------------------
    { name = "foodnow: English, finds a pantry, will go",
      flow = FOODNOW, stubs = FOODNOW_STUBS,
      script = { LANGUAGE, "< English", NEED_FOOD, "< yes", WHICH_CITY, "< Oakland ",
                 "> Ok, what is the nearest address?", "< 2 Main St",
                 "> Do you have children under 18 in your household? Reply 'yes' or 'no'.", "< no",
                 [[> I found Oakland Pantry.
It is located at 1 Main St in Oakland.
It is open Monday from 9am until 1pm.
It is 0.5 miles away.]],
                 "> Are you able to go to this location at that time? Reply 'yes' or 'no'.",
                 "< yes",
                 { expect = { match = "^Thank you! We are here to help%." } },
                 { expect = { match = "^As our country begins to feel the effects of COVID" } } },
      state = "send_survey_sms_english",
      context = { ["flow.variables.has_children"] = "no", ["flow.variables.pantry_id"] = "A-7" } },

    { name = "foodnow: English, out of the area",
      flow = FOODNOW, stubs = FOODNOW_STUBS,
      script = { LANGUAGE, "< english", NEED_FOOD, "< yes", WHICH_CITY, "< Fresno",
                 { expect = { match = "^It appears that you are not a resident of Alameda" } } },
      state = "out_of_area_sms_english" },

    { name = "foodnow: Spanish, no help needed right now",
      flow = FOODNOW, stubs = FOODNOW_STUBS,
      script = { LANGUAGE, "< Español",
                 '> ¿Necesita ayuda con la comida de inmediato? Responda "sí" o "no"', "< no",
                 { expect = { match = "^Los miembros de nuestro equipo" } } },
      state = "send_calfresh_sms_spanish" },

    { name = "foodnow: no language chosen in ten minutes",
      flow = FOODNOW, stubs = FOODNOW_STUBS,
      script = { LANGUAGE, { timeout = true } },
      state = "ask_language_sms_english" },
  },
}
