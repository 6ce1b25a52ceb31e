-- rivulet.validate and `rivulet validate`: the ten real flows of the shared corpus (read in
-- place), a crafted flow for every rule, and the command's output and exit statuses.
local lu = require "luaunit"
local helper = require "spec.helper"
local rivulet = require "rivulet"
local json = require "rivulet.json"
local validate = require "rivulet.validate"

local CORPUS = helper.corpus

local CORPUS_FILES = {
   "01_twilio-labs_patient-appointment-management.json",
   "02_guvarallo_frontline-airtable-studio-bot.json",
   "03_anthonyjdella_daily-sit-down-parent.json",
   "04_anthonyjdella_daily-sit-down-child.json",
   "05_datakabeta_twilio-eppo.json",
   "06_twiliodeved_cedrics-joke-hotline.json",
   "07_prebrov_studio-requestbin.json",
   "08_twilio-labs_sample-flows-github-actions_webinar.json",
   "09_mgmuscari_accfb-foodnow_bot_flow.json",
   "10_hlsrobot_twilio-apaleo.json",
}

local function tr(event, nx) return { event = event, next = nx } end

-- Trigger -> hello (send-message) -> bye (set-variables): no problems at all
local function base()
   return {
      description = "base", initial_state = "Trigger", flags = { allow_concurrent_calls = true },
      states = {
         { name = "Trigger", type = "trigger", properties = { offset = { x = 0, y = 0 } },
           transitions = { tr("incomingMessage", "hello"), tr("incomingCall") } },
         { name = "hello", type = "send-message",
           properties = { body = "Hi {{contact.channel.address}}" },
           transitions = { tr("sent", "bye"), tr("failed", "bye") } },
         { name = "bye", type = "set-variables",
           properties = { variables = { { key = "done", value = "yes" } } },
           transitions = { tr("next", "") } },
      },
   }
end

local function add(flow, state)
   flow.states[#flow.states + 1] = state
   return flow
end

-- the problems of `flow` at `path` (any level)
local function at(problems, path)
   local out = {}
   for _, p in ipairs(problems) do if p.path == path then out[#out + 1] = p end end
   return out
end

-- exactly one problem at path, of that level, whose message holds every fragment
local function expect(flow, path, level, ...)
   local ok, problems = rivulet.validate(flow)
   local found = at(problems, path)
   local where = path .. " in " .. json.encode(problems)
   lu.assertEquals(#found, 1, where)
   lu.assertEquals(found[1].level, level, where)
   for _, frag in ipairs{ ... } do lu.assertStrContains(found[1].message, frag) end
   if level == "error" then lu.assertFalse(ok) end
   return found[1], problems
end

local function count(problems, level)
   local n = 0
   for _, p in ipairs(problems) do if p.level == level then n = n + 1 end end
   return n
end

-- ---- the corpus ----------------------------------------------------------------------------

TestValidateCorpus = {}

function TestValidateCorpus:test_all_ten_load_and_have_no_errors()
   helper.skip_without_corpus()
   for _, name in ipairs(CORPUS_FILES) do
      local flow, err = rivulet.load_flow(CORPUS .. name)
      lu.assertNotNil(flow, err)
      local ok, problems = rivulet.validate(flow)
      lu.assertEquals(count(problems, "error"), 0, name .. ": " .. json.encode(problems))
      lu.assertTrue(ok, name)
   end
end

-- every warning each flow gets: how many unhandled failures, and the others one by one
local EXPECTED = {
   ["01"] = { failures = 11 },
   ["02"] = { failures = 5 },
   ["03"] = { failures = 3 },
   ["04"] = { failures = 1 },
   ["05"] = { failures = 3, others = {
      { "#/states/7/properties/input",
        "reads widgets.get_assignment_express, but no state is named 'get_assignment_express'" },
      { "#/states/7/transitions/1/conditions/0/arguments/0", "widgets.get_assignment_express" },
      { "#/states/7/transitions/2/conditions/0/arguments/0", "widgets.get_assignment_express" },
   } },
   ["06"] = { failures = 2 },
   ["07"] = { failures = 0 },
   ["08"] = { failures = 0 },
   ["09"] = { failures = 1 },
   ["10"] = { failures = 2, others = {
      { "#/states/23/properties/parameters/0/value",
        "Liquid syntax error at 1:1: variable '{{' was not properly terminated with '}}'" },
   } },
}

function TestValidateCorpus:test_the_warnings_each_flow_gets()
   helper.skip_without_corpus()
   for _, name in ipairs(CORPUS_FILES) do
      local want = EXPECTED[name:sub(1, 2)]
      local _, problems = rivulet.validate(assert(rivulet.load_flow(CORPUS .. name)))
      local failures, others = 0, {}
      for _, p in ipairs(problems) do
         lu.assertEquals(p.level, "warning", name)
         if p.message:find("a failure ends the execution unhandled", 1, true) then
            failures = failures + 1
            lu.assertStrMatches(p.path, "#/states/%d+/transitions/%d+")
         else
            others[#others + 1] = p
         end
      end
      lu.assertEquals(failures, want.failures, name)
      lu.assertEquals(#others, #(want.others or {}), name .. ": " .. json.encode(others))
      for i, w in ipairs(want.others or {}) do
         lu.assertEquals(others[i].path, w[1], name)
         lu.assertStrContains(others[i].message, w[2])
      end
   end
end

function TestValidateCorpus:test_hyphenated_names_in_liquid_resolve()
   helper.skip_without_corpus()
   -- 02 reads widgets.new-customer-send-reply.inbound.Body and friends: all exist
   local _, problems = rivulet.validate(assert(rivulet.load_flow(CORPUS .. CORPUS_FILES[2])))
   for _, p in ipairs(problems) do lu.assertNotStrContains(p.message, "reads widgets.") end
end

function TestValidateCorpus:test_problems_are_in_path_order()
   helper.skip_without_corpus()
   local _, problems = rivulet.validate(assert(rivulet.load_flow(CORPUS .. CORPUS_FILES[9])))
   lu.assertEquals(problems[1].path, "#/states/90/transitions/1")
   lu.assertEquals(problems[#problems].path, "#/states/90/transitions/1")
   local last = -1
   for _, p in ipairs(problems) do
      local n = tonumber(p.path:match("^#/states/(%d+)"))
      lu.assertTrue(n >= last, p.path)
      last = n
   end
end

function TestValidateCorpus:test_the_project_flows_validate()
   for _, f in ipairs{ "flows/random_number.lua", "flows/random_number.json" } do
      local flow = assert(rivulet.load_flow(helper.root .. "/" .. f))
      local ok, problems = rivulet.validate(flow)
      lu.assertTrue(ok, f)
      lu.assertEquals(count(problems, "error"), 0, f)
   end
end

-- ---- the envelope -------------------------------------------------------------------------------

TestValidateFlow = {}

function TestValidateFlow:test_a_clean_flow_has_no_problems()
   local ok, problems = rivulet.validate(base())
   lu.assertTrue(ok)
   lu.assertEquals(problems, {})
   -- a loaded flow too
   ok, problems = rivulet.validate(assert(rivulet.load_flow(base())))
   lu.assertTrue(ok)
   lu.assertEquals(problems, {})
end

function TestValidateFlow:test_not_a_table()
   local ok, problems = rivulet.validate("flow.json")
   lu.assertFalse(ok)
   lu.assertEquals(problems, {
      { path = "#", level = "error", message = "a flow must be a table, not string" },
   })
end

function TestValidateFlow:test_no_states()
   expect({ initial_state = "Trigger", states = {} }, "#/states", "error", "at least one state")
   expect({ initial_state = "Trigger", states = "nope" }, "#/states", "error", "must be a list")
   expect({}, "#/states", "error", "at least one state")
end

function TestValidateFlow:test_more_than_1000_states()
   local f = base()
   f.states[3].transitions = { tr("next", "s4") }
   for i = 4, 1001 do
      add(f, { name = "s" .. i, type = "set-variables", properties = { variables = {} },
               transitions = { tr("next", i < 1001 and "s" .. (i + 1) or nil) } })
   end
   lu.assertEquals(#f.states, 1001)
   expect(f, "#/states", "error", "1001 states", "at most 1000")
   f.states[1001] = nil
   f.states[1000].transitions = { tr("next") }
   lu.assertTrue((rivulet.validate(f)))
end

function TestValidateFlow:test_initial_state()
   local f = base()
   f.initial_state = nil
   expect(f, "#/initial_state", "error", "initial_state is missing")
   f.initial_state = "Start"
   expect(f, "#/initial_state", "error", "'Start'", "names no state")
   f.initial_state = 3
   expect(f, "#/initial_state", "error", "not number")
end

-- ---- states ------------------------------------------------------------------------------------

TestValidateStates = {}

function TestValidateStates:test_a_state_must_be_an_object()
   local f = base()
   f.states[4] = "oops"
   expect(f, "#/states/3", "error", "must be an object", "string")
end

function TestValidateStates:test_names()
   local f = base()
   f.states[2].name = nil
   f.states[1].transitions[1].next = nil
   expect(f, "#/states/1/name", "error", "state 1 has no name")

   f = base()
   f.states[3].name = 42
   expect(f, "#/states/2/name", "error", "must be a string", "number")
end

function TestValidateStates:test_duplicate_names()
   local f = add(base(), { name = "hello", type = "set-variables", properties = { variables = {} },
                           transitions = {} })
   expect(f, "#/states/3/name", "error", "duplicate state name 'hello'", "#/states/1")
end

function TestValidateStates:test_invalid_names()
   for _, bad in ipairs{ "1st", "two words", "v1.2", "", "_x", "-x", "tab\there" } do
      local f = base()
      f.states[3].name = bad
      f.states[2].transitions = { tr("sent", bad), tr("failed", bad) }
      expect(f, "#/states/2/name", "error", "invalid state name '" .. bad .. "'",
             "start with a letter")
   end
   for _, good in ipairs{ "new-customer-send-reply", "say_play_2", "A", "x9-_" } do
      local f = base()
      f.states[3].name = good
      f.states[2].transitions = { tr("sent", good), tr("failed", good) }
      local ok, problems = rivulet.validate(f)
      lu.assertTrue(ok, good .. " " .. json.encode(problems))
   end
end

function TestValidateStates:test_unknown_type()
   local f = base()
   f.states[3].type = "send-fax"
   expect(f, "#/states/2/type", "error", "unknown widget type 'send-fax'", "'bye'")
   f.states[3].type = nil
   expect(f, "#/states/2/type", "error", "'bye' has no type")
end

function TestValidateStates:test_every_known_type_is_accepted()
   local widgets = require "rivulet.widgets"
   for t in pairs(widgets.TYPES) do
      local f = base()
      f.states[3].type = t
      f.states[3].properties = {}
      f.states[3].transitions = {}
      local _, problems = rivulet.validate(f)
      lu.assertEquals(#at(problems, "#/states/2/type"), 0, t)
   end
end

function TestValidateStates:test_properties_must_be_an_object()
   local f = base()
   f.states[3].properties = "x"
   expect(f, "#/states/2/properties", "error", "properties of 'bye' must be an object")
end

-- ---- transitions ---------------------------------------------------------------------------

TestValidateTransitions = {}

function TestValidateTransitions:test_an_event_the_widget_does_not_have()
   local f = base()
   f.states[2].transitions[1].event = "delivered"
   expect(f, "#/states/1/transitions/0/event", "error",
          "'hello' (send-message) has no event 'delivered'", "sent, failed")
   -- run-function fails with `fail`, make-http-request with `failed`
   f = add(base(), { name = "fn", type = "run-function", properties = { url = "https://x.invalid" },
                     transitions = { tr("success", "bye"), tr("failed", "bye") } })
   f.states[3].transitions = { tr("next", "fn") }
   expect(f, "#/states/3/transitions/1/event", "error", "no event 'failed'")
end

function TestValidateTransitions:test_lua_widgets_take_any_event()
   local f = add(base(), { name = "logic", type = "lua",
                           properties = { source = "return function() return 'odd' end" },
                           transitions = { tr("odd", "bye"), tr("whatever") } })
   f.states[3].transitions = { tr("next", "logic") }
   f.states[3].name = "bye"
   local ok, problems = rivulet.validate(f)
   lu.assertTrue(ok, json.encode(problems))
end

function TestValidateTransitions:test_next_must_name_a_state()
   local f = base()
   f.states[2].transitions[1].next = "nowhere"
   expect(f, "#/states/1/transitions/0/next", "error", "next 'nowhere' names no state")
   f.states[2].transitions[1].next = ""          -- "" ends the execution: fine
   lu.assertTrue((rivulet.validate(f)))
   f.states[2].transitions[1].next = 7
   expect(f, "#/states/1/transitions/0/next", "error", "not number")
   f.states[2].transitions[1].next = json.null   -- JSON null is not an end
   expect(f, "#/states/1/transitions/0/next", "error", "not null")
end

function TestValidateTransitions:test_transitions_must_be_a_list_of_objects()
   local f = base()
   f.states[2].transitions = { sent = "bye" }
   expect(f, "#/states/1/transitions", "error", "transitions of 'hello' must be a list")
   f = base()
   f.states[2].transitions[3] = "sent"
   expect(f, "#/states/1/transitions/2", "error", "a transition must be an object")
   f = base()
   f.states[2].transitions[1].event = nil
   expect(f, "#/states/1/transitions/0/event", "error", "needs an event name")
end

-- ---- properties -------------------------------------------------------------------------------

TestValidateProperties = {}

function TestValidateProperties:test_missing_required_property()
   local f = base()
   f.states[2].properties.body = nil
   expect(f, "#/states/1/properties/body", "error",
          "'hello' (send-message) is missing required property 'body'")
   f = base()
   f.states[3].properties = {}
   expect(f, "#/states/2/properties/variables", "error", "missing required property 'variables'")
end

function TestValidateProperties:test_send_and_wait_timeout_is_a_string_or_a_whole_number()
   local function flow(timeout)
      local f = add(base(), { name = "ask", type = "send-and-wait-for-reply",
                              properties = { body = "Yes?", timeout = timeout },
                              transitions = { tr("incomingMessage", "bye"), tr("timeout"),
                                             tr("deliveryFailure") } })
      f.states[2].transitions[1].next = "ask"
      return f
   end
   lu.assertTrue((rivulet.validate(flow("3600"))))
   lu.assertTrue((rivulet.validate(flow(600))))        -- 2020 exports (corpus 07, 09)
   expect(flow(true), "#/states/3/properties/timeout", "error",
          "property 'timeout' must be a string or an integer, not boolean")
   expect(flow(1.5), "#/states/3/properties/timeout", "error", "a number with a fraction")
   expect(flow({ 1 }), "#/states/3/properties/timeout", "error", "not table")
end

function TestValidateProperties:test_voice_property_types()
   local f = add(base(), { name = "rec", type = "record-call",
                           properties = { record_call = "true" },
                           transitions = { tr("success"), tr("failed", "bye") } })
   f.states[2].transitions[1].next = "rec"
   expect(f, "#/states/3/properties/record_call", "error",
          "'record_call' must be a boolean, not string")
   f.states[4] = { name = "menu", type = "gather-input-on-call", properties = { timeout = "5" },
                   transitions = { tr("keypress"), tr("speech"), tr("timeout") } }
   f.states[2].transitions[1].next = "menu"
   expect(f, "#/states/3/properties/timeout", "error", "'timeout' must be an integer, not string")
end

function TestValidateProperties:test_key_value_lists()
   local f = base()
   f.states[3].properties.variables = { done = "yes" }
   expect(f, "#/states/2/properties/variables", "error",
          "property 'variables' must be a list of {key, value}, not table")
   f.states[3].properties.variables = { { key = "a", value = "1" }, { value = "2" } }
   expect(f, "#/states/2/properties/variables/1/key", "error",
          "key must be a non-empty string, not nil")
   f.states[3].properties.variables = { { key = "a", value = { 1 } } }
   expect(f, "#/states/2/properties/variables/0/value", "error", "value of 'a' must be a string")
   f.states[3].properties.variables = { "a=1" }
   expect(f, "#/states/2/properties/variables/0", "error", "must be an object {key, value}")
   -- items may carry Studio's UI `index`; values may be numbers in Lua flows
   f.states[3].properties.variables = {
      { key = "a", value = "1", index = "0" }, { key = "n", value = 2 },
   }
   lu.assertTrue((rivulet.validate(f)))

   local g = add(base(), { name = "fn", type = "run-function",
                           properties = { url = "https://x.invalid", parameters = { a = "1" } },
                           transitions = { tr("success"), tr("fail", "bye") } })
   g.states[2].transitions[1].next = "fn"
   expect(g, "#/states/3/properties/parameters", "error",
          "'parameters' must be a list of {key, value}")
end

-- Studio's error 81014, "Parameter name uses a reserved word, e.g. "method""
-- (twilio.com/docs/api/errors/81014): an error for both widgets that send parameters
function TestValidateProperties:test_reserved_parameter_names()
   for _, ty in ipairs{ "make-http-request", "run-function" } do
      local fail = ty == "run-function" and "fail" or "failed"
      local g = add(base(), { name = "call", type = ty,
                              properties = { url = "https://x.invalid", method = "POST",
                                             parameters = { { key = "a", value = "1" }, { key = "method", value = "x" } } },
                              transitions = { tr("success", "bye"), tr(fail, "bye") } })
      g.states[2].transitions[1].next = "call"
      expect(g, "#/states/3/properties/parameters/1", "error", "parameter name 'method' is a reserved word",
             "81014", ty)
      g.states[4].properties.parameters[2].key = "Method"       -- only the exact word
      lu.assertTrue((rivulet.validate(g)))
   end
end

-- what a local run cannot reach (validate.local_run): a function named only by its SID
-- unless mapped, add_twilio_auth without credentials, a widget the outside world answers
function TestValidateProperties:test_local_run_notes()
   local SID = "ZH" .. string.rep("ab", 16)
   local f = rivulet.load_flow({
      { name = "Trigger", type = "trigger", on = { incomingMessage = "fn" } },
      { name = "fn", type = "run-function", url = "", function_sid = SID, on = { success = "http", fail = "http" } },
      { name = "http", type = "make-http-request", method = "GET", add_twilio_auth = true,
        url = "https://api.twilio.com/2010-04-01/Accounts.json", on = { success = "flex", failed = "flex" } },
      { name = "flex", type = "send-to-flex", workflow = "WW1", channel = "TC1" },
   })
   local notes = validate.local_run(f)
   local kinds = {}
   for _, n in ipairs(notes) do kinds[#kinds + 1] = n.kind .. " " .. n.path end
   lu.assertEquals(kinds, { "function #/states/1", "credentials #/states/2", "outside #/states/3" })
   notes = validate.local_run(f, { function_map = { [SID] = "http://127.0.0.1:1/" }, account_sid = "AC1",
                                   auth_token = "t" })
   lu.assertEquals(#notes, 1)
   lu.assertEquals(notes[1].kind, "outside")
end

-- ---- split conditions --------------------------------------------------------------------------

TestValidateSplit = {}

local function split(conditions, ev)
   local f = add(base(), {
      name = "check", type = "split-based-on", properties = { input = "{{trigger.message.Body}}" },
      transitions = { tr("noMatch", "bye"),
                      { event = ev or "match", next = "hello", conditions = conditions } },
   })
   f.states[1].transitions[1].next = "check"
   return f
end

local function cond(t, value, arg)
   return { friendly_name = "c", arguments = { arg or "{{trigger.message.Body}}" },
            type = t, value = value }
end

function TestValidateSplit:test_every_condition_type_is_known()
   for _, t in ipairs(require("rivulet.widgets.split_based_on").CONDITIONS) do
      local ok, problems = rivulet.validate(split{ cond(t, "1") })
      lu.assertTrue(ok, t .. " " .. json.encode(problems))
   end
end

function TestValidateSplit:test_match_needs_conditions()
   expect(split(nil), "#/states/3/transitions/1", "error", "a 'match' transition needs conditions",
          "'hello'")
   expect(split({}), "#/states/3/transitions/1", "error", "needs conditions")
   expect(split("x"), "#/states/3/transitions/1/conditions", "error", "conditions must be a list")
end

function TestValidateSplit:test_unknown_condition_type()
   expect(split{ cond("equals", "1") }, "#/states/3/transitions/1/conditions/0/type", "error",
          "unknown condition type 'equals'")
   expect(split{ cond("equal_to", "1"), cond(nil, "1") },
          "#/states/3/transitions/1/conditions/1/type", "error", "needs a type")
end

function TestValidateSplit:test_regex_must_compile()
   expect(split{ cond("regex", "(yes|y") }, "#/states/3/transitions/1/conditions/0/value", "error",
          "regex '(yes|y' does not compile", "missing closing parenthesis")
   lu.assertTrue((rivulet.validate(split{ cond("regex", ".*(s(i|í)|y).*") })))
   -- a value built with Liquid is only known at run time
   lu.assertTrue((rivulet.validate(split{ cond("regex", "{{flow.variables.pattern}}(") })))
end

function TestValidateSplit:test_conditions_are_checked_only_on_match()
   local ok = rivulet.validate(split({ cond("bogus", "1") }, "noMatch"))
   lu.assertTrue(ok)
end

function TestValidateSplit:test_arguments_and_values()
   expect(split{ { type = "equal_to", arguments = { 5 }, value = "1" } },
          "#/states/3/transitions/1/conditions/0/arguments/0", "error",
          "must be a string, not number")
   expect(split{ { type = "equal_to", arguments = {}, value = { "a" } } },
          "#/states/3/transitions/1/conditions/0/value", "error",
          "value must be a string, not table")
   expect(split{ cond("equal_to", "{{ 'x' | upcase }") },
          "#/states/3/transitions/1/conditions/0/value", "warning", "Liquid syntax error at 1:")
   expect(split{ cond("equal_to", "1", "{% if %}") },
          "#/states/3/transitions/1/conditions/0/arguments/0", "warning", "Liquid syntax error")
end

-- ---- Liquid -------------------------------------------------------------------------------------

TestValidateLiquid = {}

function TestValidateLiquid:test_syntax_errors_name_line_and_column()
   local f = base()
   f.states[2].properties.body = "Hello\n{% if contact.channel.address %}you"
   local p = expect(f, "#/states/1/properties/body", "warning", "'if' tag was never closed")
   lu.assertStrMatches(p.message, "Liquid syntax error at 2:%d+: .*")
   f = base()
   f.states[3].properties.variables[1].value = "{{ flow.variables.n | plus: 1 }"
   expect(f, "#/states/2/properties/variables/0/value", "warning", "Liquid syntax error at 1:1")
   f = base()
   f.states[2].properties.extra = { deep = { "ok", "{% unknown_tag %}" } }
   expect(f, "#/states/1/properties/extra/deep/1", "warning", "unknown tag 'unknown_tag'")
end

function TestValidateLiquid:test_lua_source_is_not_liquid()
   local f = add(base(), { name = "logic", type = "lua",
                           properties = { source = "return function() return '{{' end" },
                           transitions = { tr("next", "bye") } })
   f.states[3].transitions = { tr("next", "logic") }
   f.states[4].transitions = { tr("next") }
   local ok, problems = rivulet.validate(f)
   lu.assertTrue(ok)
   lu.assertEquals(problems, {})
end

function TestValidateLiquid:test_reading_a_widget_that_does_not_exist()
   local cases = {
      { "{{widgets.ask.inbound.Body}}", "ask" },
      { "{{ widgets['ask'].inbound.Body }}", "ask" },
      { '{% if widgets["ask-again"].inbound.Body == "y" %}y{% endif %}', "ask-again" },
      { "{{widgets.new-customer.inbound.Body}}", "new-customer" },
   }
   for _, c in ipairs(cases) do
      local f = base()
      f.states[2].properties.body = c[1]
      expect(f, "#/states/1/properties/body", "warning",
             "reads widgets." .. c[2] .. ", but no state is named '" .. c[2] .. "'")
   end
end

function TestValidateLiquid:test_reading_widgets_that_exist_or_text_outside_liquid()
   for _, body in ipairs{ "{{widgets.hello.outbound.Body}}", "{{ widgets['bye'].done }}",
                          "see widgets.nothing in the docs", "{{ flow.variables.widgets.x }}",
                          "{{ mywidgets.x }}" } do
      local f = base()
      f.states[2].properties.body = body
      local _, problems = rivulet.validate(f)
      lu.assertEquals(problems, {}, body)
   end
end

-- ---- warnings about the flow's shape ------------------------------------------------------------

TestValidateWarnings = {}

local function with_function(fail_transition)
   local f = add(base(), { name = "fn", type = "run-function",
                           properties = { url = "https://x.invalid/f" },
                           transitions = { tr("success", "bye"), fail_transition } })
   f.states[2].transitions[1].next = "fn"
   return f
end

function TestValidateWarnings:test_unhandled_failure()
   local p, problems = expect(with_function(nil), "#/states/3/transitions", "warning",
                              "'fn' has no transition for 'fail'", "unhandled")
   lu.assertTrue((rivulet.validate(with_function(nil))))
   lu.assertEquals(#problems, 1)
   lu.assertNotNil(p)
   expect(with_function(tr("fail")), "#/states/3/transitions/1", "warning",
          "'fn' does not handle 'fail'")
   expect(with_function(tr("fail", "")), "#/states/3/transitions/1/next", "warning",
          "'fn' does not handle 'fail'")
   local _, none = rivulet.validate(with_function(tr("fail", "hello")))
   lu.assertEquals(none, {})
end

function TestValidateWarnings:test_send_message_failures_left_unhandled_are_not_warned()
   -- nearly every Studio export leaves Send Message's `failed` unconnected
   local f = base()
   f.states[2].transitions[2].next = nil
   local _, problems = rivulet.validate(f)
   for _, p in ipairs(problems) do lu.assertNotStrContains(p.message, "'hello' does not handle") end
end

function TestValidateWarnings:test_failure_looping_back_to_itself()
   expect(with_function(tr("fail", "fn")), "#/states/3/transitions/1/next", "warning",
          "'fn' sends 'fail' back to itself")
end

function TestValidateWarnings:test_unreachable_states()
   local f = add(base(), { name = "orphan", type = "set-variables", properties = { variables = {} },
                           transitions = { tr("next", "orphan2") } })
   add(f, { name = "orphan2", type = "set-variables", properties = { variables = {} },
            transitions = {} })
   local _, problems = rivulet.validate(f)
   lu.assertEquals(problems, {
      { path = "#/states/3", level = "warning",
        message = "'orphan' is unreachable from 'Trigger'" },
      { path = "#/states/4", level = "warning",
        message = "'orphan2' is unreachable from 'Trigger'" },
   })
end

function TestValidateWarnings:test_send_and_wait_whose_reply_goes_nowhere()
   local f = add(base(), { name = "ask", type = "send-and-wait-for-reply",
                           properties = { body = "Yes?", timeout = "60" },
                           transitions = { tr("timeout", "bye"), tr("deliveryFailure") } })
   f.states[2].transitions[1].next = "ask"
   expect(f, "#/states/3/transitions", "warning", "'ask' has no transition for 'incomingMessage'")
   f.states[4].transitions[3] = tr("incomingMessage", "")
   expect(f, "#/states/3/transitions/2/next", "warning", "'ask' sends 'incomingMessage' nowhere")
end

function TestValidateWarnings:test_order_is_by_state_then_path()
   local f = base()
   for i = 4, 12 do
      add(f, { name = "s" .. i, type = "send-message", properties = { body = "x" },
               transitions = { tr("sent"), tr("failed") } })
   end
   f.states[2].properties.body = nil
   local ok, problems = rivulet.validate(f)
   lu.assertFalse(ok)
   local paths = {}
   for i, p in ipairs(problems) do paths[i] = p.path end
   lu.assertEquals(paths[1], "#/states/1/properties/body")
   lu.assertEquals(paths[2], "#/states/3")
   lu.assertEquals(paths[3], "#/states/4")
   lu.assertEquals(paths[#paths], "#/states/11")
   lu.assertEquals(#paths, 10)
end

function TestValidateWarnings:test_short_lua_form()
   local ok, problems = rivulet.validate{
      { name = "Trigger", type = "trigger", on = { incomingMessage = "ask" } },
      { name = "ask", type = "send-and-wait-for-reply", body = "Heads or tails?",
        on = { incomingMessage = "check", timeout = false } },
      { name = "check", type = "split-based-on", input = "{{widgets.ask.inbound.Body}}",
        match = { { type = "matches_any_of", value = "heads,h", next = "win" } },
        on = { noMatch = "lose" } },
      { name = "win", type = "send-message", body = "You win",
        on = { sent = false, failed = "lose" } },
      { name = "lose", type = "set-variables", variables = { lost = "yes" },
        on = { next = false } },
   }
   lu.assertTrue(ok)
   lu.assertEquals(problems, {})
end

function TestValidateWarnings:test_levels_and_messages_are_plain_data()
   local _, problems = validate.validate(with_function(nil))
   lu.assertEquals(problems, { { path = "#/states/3/transitions", level = "warning",
      message = "'fn' has no transition for 'fail': a failure ends the execution unhandled" } })
end

-- ---- the command -------------------------------------------------------------------------------

TestValidateCli = {}

function TestValidateCli:setUp()
   self.dir = helper.tmpdir()
end

function TestValidateCli:tearDown()
   helper.cleanup()
end

local function lines(s)
   local out = {}
   for l in s:gmatch("[^\n]+") do out[#out + 1] = l end
   return out
end

local function bad_flow(dir)
   local f = base()
   f.states[2].transitions[1].next = "nowhere"
   f.states[2].transitions[2].next = nil
   return helper.write_file(dir .. "/bad.json", json.encode(f))
end

function TestValidateCli:test_warnings_only_exit_0()
   helper.skip_without_corpus()
   local file = CORPUS .. CORPUS_FILES[5]
   local code, out, err = helper.run({ "validate", file })
   lu.assertEquals(code, 0)
   local l = lines(out)
   lu.assertEquals(#l, 6)
   lu.assertStrContains(out, file .. ": #/states/7/properties/input: warning: " ..
      "reads widgets.get_assignment_express, but no state is named 'get_assignment_express'\n")
   for _, line in ipairs(l) do
      lu.assertStrMatches(line, ".*%.json: #/states/%d+/[%w/_]+: warning: .+")
   end
   lu.assertEquals(err, "1 flows, 0 errors, 6 warnings\n")
end

function TestValidateCli:test_errors_exit_1()
   local file = bad_flow(self.dir)
   local code, out, err = helper.run({ "validate", file })
   lu.assertEquals(code, 1)
   lu.assertEquals(out,
      file .. ": #/states/1/transitions/0/next: error: next 'nowhere' names no state\n" ..
      file .. ": #/states/2: warning: 'bye' is unreachable from 'Trigger'\n")
   lu.assertEquals(err, "1 flows, 1 errors, 1 warnings\n")
end

function TestValidateCli:test_quiet_prints_errors_only()
   helper.skip_without_corpus()
   local file = bad_flow(self.dir)
   local code, out, err = helper.run({ "validate", "-q", file, CORPUS .. CORPUS_FILES[8] })
   lu.assertEquals(code, 1)
   lu.assertEquals(out,
      file .. ": #/states/1/transitions/0/next: error: next 'nowhere' names no state\n")
   lu.assertEquals(err, "2 flows, 1 errors, 1 warnings\n")
   code, out = helper.run({ "validate", "-q", CORPUS .. CORPUS_FILES[1] })
   lu.assertEquals(code, 0)
   lu.assertEquals(out, "")
end

function TestValidateCli:test_the_whole_corpus()
   helper.skip_without_corpus()
   local args = { "validate" }
   for _, name in ipairs(CORPUS_FILES) do args[#args + 1] = CORPUS .. name end
   local code, out, err = helper.run(args)
   lu.assertEquals(code, 0)
   lu.assertEquals(helper.count(out, ": error: "), 0)
   lu.assertEquals(err, "10 flows, 0 errors, 32 warnings, 6 for a local run\n")
   -- apaleo's four functions named only by their SID, its Flex hand-off; the parent's subflow
   lu.assertEquals(helper.count(out, ": local: "), 6)
   lu.assertEquals(helper.count(out, "names function ZH"), 4)
   lu.assertStrContains(out, CORPUS .. CORPUS_FILES[3] .. ": #/states/3: local: 'ask_questions' runs subflow ")
end

-- #18 point 2: what a local run cannot reach, and what makes it reachable
function TestValidateCli:test_what_a_local_run_cannot_reach()
   helper.skip_without_corpus()
   local apaleo = CORPUS .. CORPUS_FILES[10]
   local args = { "validate", "--subflows", self.dir }
   for _, sid in ipairs{ "ZH70825684e5611ddad7d6c1c420f9676e", "ZH81cb1cac644e52898ccf0021fd1be30b",
                         "ZHc22704e1d02aff705b887614e6055220" } do
      args[#args + 1] = "--map-function"
      args[#args + 1] = sid .. "=http://127.0.0.1:1/fn"
   end
   args[#args + 1] = apaleo
   args[#args + 1] = CORPUS .. CORPUS_FILES[3]
   local code, out, err = helper.run(args)
   lu.assertEquals(code, 0, err)
   lu.assertEquals(helper.count(out, ": local: "), 3)
   lu.assertStrContains(out, apaleo .. ": #/states/23: local: 'cancel_reservation' names function " ..
      "ZHdd15109e531b870b2cd984ddddfc1a95 but has no url: map it (--map-function ZHdd15109e531b870b2cd984ddddfc1a95=URL")
   lu.assertStrContains(out, "(or --event send_to_flex=EVENT)")
   lu.assertStrContains(out, "(not in " .. self.dir .. ")")
   -- the subflow there: reachable
   helper.write_file(self.dir .. "/FW50120385f4d1e8dcf30c0bcd83695969.json", "{}")
   code, out, err = helper.run(args)
   lu.assertEquals(code, 0)
   lu.assertEquals(helper.count(out, ": local: "), 2)
   lu.assertStrMatches(lines(err)[1], "2 flows, 0 errors, %d+ warnings, 2 for a local run")
   -- -q: counted, not printed
   code, out, err = helper.run({ "validate", "-q", apaleo })
   lu.assertEquals(code, 0)
   lu.assertEquals(out, "")
   lu.assertStrContains(err, ", 5 for a local run")
   code, out, err = helper.run({ "validate", "--map-function", "nope", apaleo })
   lu.assertEquals(out, "")
   lu.assertEquals(code, 2)
   lu.assertStrContains(err, "--map-function wants ZH...=URL")
end

function TestValidateCli:test_unreadable_files_exit_2_after_checking_the_rest()
   local broken = helper.write_file(self.dir .. "/broken.json", '{"states": [')
   local missing = self.dir .. "/missing.json"
   local bad = bad_flow(self.dir)
   local code, out, err = helper.run({ "validate", broken, missing, bad, self.dir })
   lu.assertEquals(code, 2)
   lu.assertStrContains(out, bad .. ": #/states/1/transitions/0/next: error: ")
   local l = lines(err)
   lu.assertEquals(#l, 4)
   lu.assertStrMatches(l[1], broken:gsub("%p", "%%%0") .. ": error: invalid JSON: .+")
   lu.assertStrMatches(l[2], missing:gsub("%p", "%%%0") .. ": error: No such file or directory")
   lu.assertStrMatches(l[3], self.dir:gsub("%p", "%%%0") .. ": error: Is a directory")
   lu.assertEquals(l[4], "4 flows, 4 errors, 1 warnings")
end

function TestValidateCli:test_lua_flows_too()
   local file = helper.write_file(self.dir .. "/f.lua", [[
return {
  { name = "Trigger", type = "trigger", on = { incomingMessage = "hi" } },
  { name = "hi", type = "send-message", body = "{{ 'hi' | upcase }}",
    on = { sent = false, failed = "hi" } },
}]])
   local code, out, err = helper.run({ "validate", file })
   lu.assertEquals(code, 0)
   lu.assertEquals(out, file .. ": #/states/1/transitions/0/next: warning: " ..
      "'hi' sends 'failed' back to itself: a lasting failure repeats it until the same-widget " ..
      "limit stops the execution\n")
   lu.assertEquals(err, "1 flows, 0 errors, 1 warnings\n")
end

function TestValidateCli:test_usage()
   local code, out, err = helper.run({ "validate" })
   lu.assertEquals(code, 2)
   lu.assertEquals(out, "")
   lu.assertStrContains(err, "no FLOW given")
   lu.assertStrContains(err, "usage: rivulet validate [-q] [--map-function ZH...=URL]...")
   code, out, err = helper.run({ "validate", "--frobnicate", CORPUS .. CORPUS_FILES[8] })
   lu.assertEquals(code, 2)
   lu.assertEquals(out, "")
   lu.assertStrContains(err, "unknown option '--frobnicate'")
end

-- Inputs the flow fuzzer (spec/fuzz/fuzz_flow.c) found: each spec/fuzz/corpus/flow/regress-*
-- goes through flow.from_json and validate without raising, and validate keeps its contract.
TestValidateFuzzRegressions = {}

function TestValidateFuzzRegressions:test_a_transition_without_an_event()
   local f = base()
   f.states[1].transitions[1] = { next = "hello" }
   local ok, problems = validate.validate(f)
   lu.assertFalse(ok)
   lu.assertTrue(count(problems, "error") > 0)
end

function TestValidateFuzzRegressions:test_the_regress_seeds()
   local flowlib = require "rivulet.flow"
   local dir = helper.root .. "/spec/fuzz/corpus/flow/"
   local p = assert(io.popen("ls '" .. dir .. "'"))
   local n = 0
   for name in p:lines() do
      if name:match("^regress%-") then
         n = n + 1
         local text = assert(helper.read_file(dir .. name))
         local f, err = flowlib.from_json(text, name)
         if f then
            local ok, problems = validate.validate(f)
            lu.assertIsBoolean(ok, name)
            local errors = false
            for _, pr in ipairs(problems) do
               lu.assertIsString(pr.path, name)
               lu.assertIsString(pr.message, name)
               if pr.level == "error" then errors = true end
            end
            lu.assertEquals(ok, not errors, name)
         else
            lu.assertIsString(err, name)
         end
      end
   end
   p:close()
   lu.assertTrue(n > 0)
end
