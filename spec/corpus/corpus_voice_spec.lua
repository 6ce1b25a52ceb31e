-- The voice flows of the shared corpus (../shared/studio/flows, or $RIVULET_SHARED/
-- studio/flows), read in place, as phone calls: 06 (Cedric's Joke Hotline), 08 (the
-- webinar's demo line) and 09 (ACCFB FoodNow's voice side; its SMS side is in
-- corpus_spec.lua, 02's voice side in corpus_02_10_spec.lua). What the caller hears is
-- "> …", a key or words at a Gather (or a message at a Record) "< …", silence
-- { timeout = true }, a hang-up { hangup = true }. Every Function and HTTP call is stubbed
-- (live = false). Each flow is walked end to end, and hung up in the middle. Skipped when
-- the corpus is not there. The same flows answered with TwiML through rivulet serve:
-- spec/test_serve_voice.lua.
--
--   build/rivulet test spec/corpus/corpus_voice_spec.lua --coverage
local test = require "rivulet.test"

local here = (...):match("^(.*)/[^/]*$") or "."
local shared = os.getenv("RIVULET_SHARED") or test.normalize(here .. "/../../../shared")
local DIR = shared .. "/studio/flows/"
local JOKES = DIR .. "06_twiliodeved_cedrics-joke-hotline.json"
local WEBINAR = DIR .. "08_twilio-labs_sample-flows-github-actions_webinar.json"
local FOODNOW = DIR .. "09_mgmuscari_accfb-foodnow_bot_flow.json"
local probe = io.open(JOKES, "rb")
if probe then probe:close() end
local NO_CORPUS = not probe and ("no corpus at " .. DIR) or nil

local CALL = { event = "incomingCall" }
local CONTACT, CHANNEL = test.CONTACT, test.CHANNEL

-- ---- 06: Cedric's Joke Hotline ---------------------------------------------------------------

local GREETING = "> Greetings! Welcome to Cedric's Joke Hotline."
local MENU = "> Press 1 to submit a joke,\nPress 2 to rate the jokes that humans have submitted"
local AFTER_THE_BEEP = "> After the beep, please kindly leave your joke. I will process it for humor."
local JOKE = { ID = "J1", Joke = "Why did the robot cross the road?", Explanation = "It was programmed to.",
               ["end"] = false }
local function rate(joke)
  return "> On a scale of 1 to 5 how do you rate this joke?\n\n" .. joke.Joke .. " \n\n" .. joke.Explanation
end

-- ---- 08: the webinar's demo line ---------------------------------------------------------------

local DEMOS = { expect = { match = "^Hey there, what demo would you like to know more%? Press 1" } }
local CHECK_TEXTS = "> Please check your text messages for the link to the demo."

-- ---- 09: FoodNow by voice ------------------------------------------------------------------------

local PANTRY = { site_name = "Oakland Pantry", site_address = "1 Main St", site_city = "Oakland",
                 site_open = "9am", site_close = "1pm", distance = "0.5 miles", agency_number = "A-7",
                 day_of_week = "Monday", date_open = "2024-05-06", is_drivethru = false }
local FOODNOW_STUBS = {
  ["https://accfb-foodnow.herokuapp.com/validate-city"] = function(event)
    local valid = event.parameters.city:lower() == "oakland"
    return { status = 200, json = { valid_city = valid and "true" or "false", city = event.parameters.city } }
  end,
  ["https://accfb-foodnow.herokuapp.com/find-pantry"] = function(event)
    assert(event.parameters.city == "Oakland" and event.parameters.has_children == "no", event.url)
    return { status = 200, json = { sites = { PANTRY } } }
  end,
  ["https://accfb-foodnow.herokuapp.com/record-referral"] = function(event)
    assert(event.parameters.agency_number == "A-7" and event.parameters.channel == "voice")
    return { status = 200 }
  end,
}
local WELCOME = { expect = { match = "^Hello from Alameda County Community Food Bank%." } }
local BIENVENIDO = { expect = { match = "^Bienvenido a la l" } }
local NEED_FOOD = "> Do you need help with food right away? Say yes or no."
local WHICH_CITY = "> Ok, what city are you located in?"
local A_MOMENT = "> Thanks, just a moment please."
local IN_OAKLAND = "> I can help you find food in Oakland"
local ADDRESS = "> What is the nearest address?"
local CHILDREN = "> Do you have children under eighteen in your household? Say yes or no"
local LOOKING = "> Ok, just a moment while I look that up."
local FOUND = { expect = { match = "^I found Oakland Pantry%. It is located at 1 Main St" } }
local ABLE = "> Are you able to go to this location at that time? Say yes, no, or repeat."
local CALFRESH = { expect = { match = "^We can help you apply for CalFresh Food over the phone" } }
local REPEAT_CALFRESH = "> Would you like me to repeat that information? Say yes or no."

local function found_a_pantry()
  return { WELCOME, "< 1", NEED_FOOD, "< Yes, please", WHICH_CITY, "< Oakland", A_MOMENT, IN_OAKLAND, ADDRESS,
           "< 1 Main Street", CHILDREN, "< no", LOOKING, FOUND, ABLE }
end

local function plus(list, ...)
  local out = {}
  for _, v in ipairs(list) do out[#out + 1] = v end
  for _, v in ipairs{ ... } do out[#out + 1] = v end
  return out
end

return {
  live = false,
  skip = NO_CORPUS,
  trigger = CALL,
  now = "2024-05-06T16:00:00Z",

  cases = {
    -- 06 ---------------------------------------------------------------------------------------
    { name = "jokes: a joke is left after the beep",
      flow = JOKES,
      script = { GREETING, MENU, "< 1", AFTER_THE_BEEP, "< Why did the chicken cross the road?" },
      state = "record_voicemail_1", reason = "'record_voicemail_1' ended the flow on 'recordingComplete'",
      context = { ["widgets.menu.Digits"] = "1",
                  ["widgets.record_voicemail_1.TranscriptionText"] = "Why did the chicken cross the road?",
                  ["flow.variables.host"] = "cedrics-joke-collection-5476-dev.twil.io" } },

    { name = "jokes: hanging up after the beep (no audio, no transcription)",
      flow = JOKES,
      script = { GREETING, MENU, "< 1", AFTER_THE_BEEP, { hangup = true } },
      state = "record_voicemail_1", reason = "'record_voicemail_1' ended the flow on 'hangup'" },

    { name = "jokes: silence at the beep is noAudio",
      flow = JOKES,
      script = { GREETING, MENU, "< 1", AFTER_THE_BEEP, { timeout = true } },
      reason = "'record_voicemail_1' ended the flow on 'noAudio'" },

    { name = "jokes: rating jokes until there are none, then that's all",
      flow = JOKES,
      stubs = { run_function_next_joke = { { status = 200, json = JOKE },
                                           { status = 200, json = { ["end"] = true } } },
                run_function_rating = function(event)
                  assert(event.parameters.JokeId == "J1" and event.parameters.Rating == "4")
                  return { status = 200, json = { ok = true } }
                end },
      script = { GREETING, MENU, "< 2", rate(JOKE), "< 4", "> That's all folks" },
      state = "thats_all_folks",
      path = { "configuration", "Welcome", "menu", "check_menu", "run_function_next_joke", "check_joke",
               "prompt_joke_rating", "run_function_rating", "update_variables", "run_function_next_joke",
               "check_joke", "thats_all_folks" } },

    { name = "jokes: hanging up in the middle of a rating",
      flow = JOKES,
      stubs = { run_function_next_joke = { status = 200, json = JOKE } },
      script = { GREETING, MENU, "< 2", rate(JOKE), { hangup = true } },
      state = "prompt_joke_rating", reason = "call ended",
      context = { ["widgets.prompt_joke_rating"] = test.absent } },

    { name = "jokes: no key in the menu ends the call quietly",
      flow = JOKES,
      script = { GREETING, MENU, { timeout = true } },
      state = "menu", reason = "'menu' ended the flow on 'timeout'" },

    { name = "jokes: words in the menu go nowhere",
      flow = JOKES,
      script = { GREETING, MENU, "< tell me a joke" },
      state = "menu", reason = "'menu' ended the flow on 'speech'",
      context = { ["widgets.menu.SpeechResult"] = "tell me a joke" } },

    -- 08 ---------------------------------------------------------------------------------------
    { name = "webinar: a demo's link is texted",
      flow = WEBINAR,
      stubs = { send_demo_link = function(event)
        assert(event.parameters.To == CONTACT and event.parameters.From == CHANNEL and event.parameters.Digits == "2")
        return { status = 200, json = { sent = true } }
      end },
      script = { DEMOS, "< 2", CHECK_TEXTS },
      state = "say_play_1" },

    { name = "webinar: silence and a wrong key ask again, then a hang-up",
      flow = WEBINAR, stubs = { send_demo_link = { status = 200 } },
      script = { DEMOS, { timeout = true }, DEMOS, "< 9", DEMOS, { hangup = true } },
      state = "gather_input", reason = "call ended",
      path = { "gather_input", "gather_input", "check_for_digit", "gather_input" } },

    { name = "webinar: the function failing asks again",
      flow = WEBINAR, stubs = { send_demo_link = { status = 500 } },
      script = { DEMOS, "< 1", DEMOS, { hangup = true } },
      reason = "call ended",
      path = { "gather_input", "check_for_digit", "send_demo_link", "gather_input" } },

    -- 09 ---------------------------------------------------------------------------------------
    { name = "foodnow voice: a pantry found, the referral recorded, hung up at CalFresh",
      flow = FOODNOW, stubs = FOODNOW_STUBS,
      script = plus(found_a_pantry(), "< yes", CALFRESH, REPEAT_CALFRESH, { hangup = true }),
      state = "gather_repeat_calfresh", reason = "call ended",
      context = { ["flow.variables.language"] = "en_US", ["flow.variables.has_children"] = "no",
                  ["flow.variables.pantry_name"] = "Oakland Pantry",
                  ["widgets.record_referral_voice_english.status_code"] = 200 } },

    { name = "foodnow voice: the next pantry on no, and none left",
      flow = FOODNOW, stubs = FOODNOW_STUBS,
      script = plus(found_a_pantry(), "< no",
                    "> I'm sorry, there are no food distribution sites available at this time.",
                    { expect = { match = "^For additional locations or to speak to one of our Food Helpline" } },
                    "> Would you like me to repeat that? Say yes or no.", "< no",
                    { expect = { match = "^Thank you! We are here to help%." } }),
      state = "say_goodbye_english",
      context = { ["flow.variables.pantry_index"] = { match = "1" } } },

    { name = "foodnow voice: out of the county, in Spanish",
      flow = FOODNOW, stubs = FOODNOW_STUBS,
      script = { WELCOME, { timeout = true }, BIENVENIDO, "< 2", "> ¿Necesita ayuda con la comida de inmediato? Diga sí o no.",
                 "< sí", "> ¿En que ciudad estas?", "< Fresno", "> gracias, solo un momento por favor.",
                 { expect = { match = "^Parece que no eres residente del condado de Alameda" } } },
      state = "out_of_area_spanish" },

    { name = "foodnow voice: the city check failing tries again, then a hang-up",
      flow = FOODNOW,
      stubs = { ["https://accfb-foodnow.herokuapp.com/validate-city"] = { status = 503 } },
      script = { WELCOME, "< 1", NEED_FOOD, "< yes", WHICH_CITY, "< Oakland", A_MOMENT,
                 "> I'm sorry, something went wrong, let's try again.", WHICH_CITY, { hangup = true } },
      state = "gather_city_english", reason = "call ended" },

    { name = "foodnow voice: nobody answers either welcome: the call hangs up at once",
      flow = FOODNOW,
      script = { WELCOME, { hangup = true } },
      state = "welcome_english", reason = "call ended" },
  },
}
