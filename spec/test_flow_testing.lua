-- rivulet.test, the conversation-spec runner (lua/rivulet/test/init.lua) and `rivulet test`
-- (lua/rivulet/cli/test.lua): scripts and their failures (readable diffs, the conversation
-- so far), stubs, simulated time, context expectations, coverage, DOT, JUnit, load errors.

local lu = require "luaunit"
local test = require "rivulet.test"
local json = require "rivulet.json"
local helper = require "spec.helper"
local fx = require "spec.http_fixture"

local FLOWS = helper.root .. "/flows/"

-- a small flow with a wait, a function and a date: the runner's own test subject
local ASK = {
  description = "Ask",
  { name = "Trigger", type = "trigger", on = { incomingMessage = "ask", incomingRequest = "fn" } },
  { name = "ask", type = "send-and-wait-for-reply", body = "Name?", timeout = "600",
    on = { incomingMessage = "fn", timeout = "late" } },
  { name = "fn", type = "run-function", url = "https://fn.example.com/hello",
    parameters = { name = "{{widgets.ask.inbound.Body | default: flow.data.name}}" },
    on = { success = "hi", fail = "oops" } },
  { name = "hi", type = "send-message", body = "Hi {{widgets.fn.parsed.greeting}}",
    on = { sent = false } },
  { name = "oops", type = "send-message", body = "Sorry ({{widgets.fn.status_code}})",
    on = { sent = false } },
  { name = "late", type = "send-message", body = "Too late: {{ 'now' | date: '%Y-%m-%d %H:%M' }}",
    on = { sent = false } },
}

local HELLO = { status = 200, json = { greeting = "Ada!" } }

-- runs a one-case spec table; returns the results and that case's result
local function run1(case, spec_extra, options)
  local spec = { flow = ASK, stubs = { fn = HELLO }, cases = { case } }
  for k, v in pairs(spec_extra or {}) do spec[k] = v end
  local r = assert(test.run(spec, options))
  return r, r.cases[1]
end

local function assert_fails(case, ...)
  local r, c = run1(case)
  lu.assertEquals(r.failed, 1, "the case passed")
  lu.assertFalse(c.ok)
  local report = test.format_failure(c)
  for _, s in ipairs{ ... } do lu.assertStrContains(report, s) end
  return c, report
end

-- ---- scripts ---------------------------------------------------------------------------------

TestFlowTestingScripts = {}

function TestFlowTestingScripts.test_a_passing_conversation()
  local r, c = run1{ name = "greets", script = { "> Name?", "< Ada", "> Hi Ada!" }, state = "hi",
                     context = { ["widgets.fn.parsed.greeting"] = "Ada!" } }
  lu.assertEquals({ r.passed, r.failed, r.skipped }, { 1, 0, 0 })
  lu.assertTrue(c.ok)
  lu.assertEquals(c.name, "greets")
  lu.assertEquals(c.transcript, { "> Name?", "< Ada", "> Hi Ada!" })
  lu.assertEquals(c.execution.status, "ended")
end

function TestFlowTestingScripts.test_a_different_message_fails_with_a_readable_diff()
  local c, report = assert_fails(
    { name = "wrong greeting", script = { "> Name?", "< Ada", "> Hi Bob!" } },
    "FAIL spec: wrong greeting", "  conversation:\n    > Name?\n    < Ada\n    > Hi Ada!",
    "at step 3 of 3 (> Hi Bob!)", "the flow sent a different message",
    "      - Hi Bob!\n      + Hi Ada!")
  lu.assertEquals(c.failure.diff, { { "-", "Hi Bob!" }, { "+", "Hi Ada!" } })
  lu.assertStrContains(c.message, "- Hi Bob!")
  lu.assertNotStrContains(report, "traceback")
end

function TestFlowTestingScripts.test_multi_line_messages_diff_line_by_line()
  local flow = { { name = "T", type = "trigger", on = { incomingMessage = "m" } },
                 { name = "m", type = "send-message", body = "one\ntwo\nthree",
                   on = { sent = false } } }
  local r = assert(test.run{ flow = flow, cases = { { script = { "> one\n2\nthree" } } } })
  lu.assertEquals(r.cases[1].failure.diff,
    { { " ", "one" }, { "-", "2" }, { "+", "two" }, { " ", "three" } })
end

function TestFlowTestingScripts.test_a_message_the_script_does_not_expect_fails()
  assert_fails({ script = { "< Ada" } }, "at step 1 of 1 (< Ada)",
    "the flow sent a message the script does not expect",
    "- (no message: the script replies \"Ada\" next)", "+ Name?")
  assert_fails({ script = { "> Name?", "< Ada" } }, "after the last step",
    "- (no message: the script has ended)", "+ Hi Ada!")
end

function TestFlowTestingScripts.test_an_expected_message_that_never_comes_fails()
  assert_fails({ script = { "> Name?", "> Hello?" } }, "the flow sent no message",
    "- Hello?", "+ (nothing: the flow waits for a reply at 'ask')")
  assert_fails({ script = { "> Name?", "< Ada", "> Hi Ada!", "> Bye" } },
    "+ (nothing: the execution ended at 'hi'")
end

function TestFlowTestingScripts.test_a_reply_after_the_end_fails()
  assert_fails({ script = { "> Name?", "< Ada", "> Hi Ada!", "< again" } },
    "the script replies \"again\", but the execution ended at 'hi'")
end

function TestFlowTestingScripts.test_pattern_and_function_expectations()
  local r = run1{ script = { { expect = { match = "^Name%?$" } }, "< Ada",
                             { expect = function(body, msg)
                                 return body:sub(1, 3) == "Hi " and msg.widget == "hi"
                               end, to = test.CONTACT, from = test.CHANNEL, widget = "hi" } } }
  lu.assertEquals(r.passed, 1)
  assert_fails({ script = { { expect = { match = "^Hello" } } } }, "the message does not match",
    '- match "^Hello"', "+ Name?")
  assert_fails({ script = { { expect = function() return false, "too short" end } } },
    "the expect function refused the message: too short")
  assert_fails({ script = { { expect = "Name?", widget = "nope" } } },
    "the message's widget differs", '- widget = "nope"', '+ widget = "ask"')
end

function TestFlowTestingScripts.test_whitespace_differences_are_visible()
  local _, report = assert_fails({ script = { "> Name? " } }, '- "Name? "', "+ Name?")
  lu.assertNotNil(report)
end

function TestFlowTestingScripts.test_the_end_expectations_list_every_mismatch()
  local c = assert_fails({ script = { "> Name?", "< Ada", "> Hi Ada!" }, state = "oops",
                           status = "failed", path = { "ask", "fn", "oops" },
                           context = { ["widgets.fn.status_code"] = 500, ["flow.variables.x"] = "1",
                                       ["widgets.ask.inbound.Body"] = "Ada" } },
    "the execution did not end as expected",
    '- status = "failed"', '+ status = "ended"', '- state = "oops"', '+ state = "hi"',
    "        path:\n          ask\n          fn\n      -   oops\n      +   hi\n",
    "- flow.variables.x = \"1\"", "+ flow.variables.x = nil",
    "- widgets.fn.status_code = 500", "+ widgets.fn.status_code = 200")
  lu.assertNotStrContains(c.message, "widgets.ask.inbound.Body")   -- that one matched
end

function TestFlowTestingScripts.test_context_matchers()
  local ok = run1{ script = { "> Name?", "< Ada", "> Hi Ada!" }, context = {
    ["widgets.fn.status_code"] = 200,
    ["widgets.fn.parsed"] = { greeting = "Ada!" },                       -- a table: these keys
    ["widgets.fn.content_type"] = { match = "^application/json" },
    ["widgets.ask.inbound.Body"] = function(v) return #v == 3 end,
    ["widgets.ask.outbound.Body"] = "Name?",
    ["widgets.late"] = test.absent,
    ["trigger.message.Body"] = "hi",
  } }
  lu.assertEquals(ok.passed, 1)
  assert_fails({ script = { "> Name?", "< Ada", "> Hi Ada!" },
                 context = { ["widgets.fn"] = test.absent } },
    "- widgets.fn: (absent)", "(it is there)")
  assert_fails({ script = { "> Name?", "< Ada", "> Hi Ada!" },
                 context = { ["widgets.fn.status_code"] = "200" } },
    '- widgets.fn.status_code = "200"', "+ widgets.fn.status_code = 200")
  assert_fails({ script = { "> Name?", "< Ada", "> Hi Ada!" },
                 context = { ["widgets.fn.status_code"] = function(v)
                   return v > 200, "not above 200"
                 end } },
    "- widgets.fn.status_code: passes function (", "(not above 200)")
end

function TestFlowTestingScripts.test_mid_script_checks()
  local r = run1{ script = {
    "> Name?", { state = "ask" }, { status = "active" },
    { context = { ["trigger.message.Body"] = "hi", ["widgets.ask"] = test.absent } },
    { check = function(exec) return exec.wait and exec.wait.kind == "reply" end },
    "< Ada", { path = { "ask", "fn", "hi" } }, "> Hi Ada!" } }
  lu.assertEquals(r.passed, 1, r.cases[1].message)
  assert_fails({ script = { "> Name?", { state = "fn" } } },
    "the flow is not where the script says", '- state = "fn"', '+ state = "ask"')
  assert_fails({ script = { { check = function() return false, "nope" end } } },
    "the check failed: nope")
end

function TestFlowTestingScripts.test_terse_and_table_steps_are_the_same()
  local a = run1{ script = { "> Name?", "< Ada", "> Hi Ada!" } }
  local b = run1{ script = { { expect = "Name?" }, { reply = "Ada" }, { expect = "Hi Ada!" } } }
  lu.assertEquals(a.cases[1].transcript, b.cases[1].transcript)
  lu.assertTrue(b.cases[1].ok)
end

function TestFlowTestingScripts.test_rest_and_string_triggers()
  local r = run1{ trigger = { event = "incomingRequest", parameters = { name = "Bo" } },
                  stubs = { fn = function(e)
                    return { status = 200, json = { greeting = e.parameters.name } }
                  end },
                  script = { { expect = "Hi Bo", to = test.CONTACT } },
                  context = { ["flow.data.name"] = "Bo",
                              ["contact.channel.address"] = test.CONTACT } }
  lu.assertEquals(r.passed, 1, r.cases[1].message)
  r = run1{ trigger = "hello there", script = { "> Name?" }, status = "active",
            context = { ["trigger.message.Body"] = "hello there" } }
  lu.assertEquals(r.passed, 1, r.cases[1].message)
end

function TestFlowTestingScripts.test_a_lua_error_in_the_flow_is_a_failed_execution()
  local flow = { { name = "T", type = "trigger", on = { incomingMessage = "boom" } },
                 { name = "boom", type = "lua", fn = function() error("kaboom") end,
                   on = { ok = false } } }
  local r = assert(test.run{ flow = flow, cases = {
    { status = "failed", reason = { match = "kaboom" } }, { name = "default is ended" } } })
  lu.assertTrue(r.cases[1].ok, r.cases[1].message)
  lu.assertFalse(r.cases[2].ok)
  lu.assertStrContains(r.cases[2].message, '+ status = "failed"')
end

-- ---- simulated time ----------------------------------------------------------------------------

TestFlowTestingTime = {}

function TestFlowTestingTime.test_timeout_jumps_the_clock_to_the_deadline()
  local r, c = run1{ now = "2024-05-06T16:00:00Z", script = { "> Name?", { timeout = true },
                                                             "> Too late: 2024-05-06 09:10" },
                     state = "late" }
  lu.assertEquals(r.passed, 1, c.message)
  lu.assertStrContains(table.concat(c.transcript, "\n"), "(no reply: 'ask' times out after 600 s)")
end

function TestFlowTestingTime.test_advance_fires_due_timers_only()
  local r, c = run1{ now = 0, script = { "> Name?", { advance = 599 }, { status = "active" },
                                         { advance = 1 }, "> Too late: 1969-12-31 16:10" } }
  lu.assertEquals(r.passed, 1, c.message)
end

function TestFlowTestingTime.test_nothing_sleeps()
  local t0 = fx.now()
  local r = run1{ script = { "> Name?", { advance = 86400 * 365 },
                             "> Too late: 2024-12-30 16:00" } }
  lu.assertEquals(r.passed, 1, r.cases[1].message)
  lu.assertTrue(fx.now() - t0 < 2)
end

function TestFlowTestingTime.test_the_default_clock()
  local r = run1{ script = { "> Name?", { timeout = true }, "> Too late: 2023-12-31 16:10" } }
  lu.assertEquals(r.passed, 1, r.cases[1].message)
end

function TestFlowTestingTime.test_a_timeout_where_nothing_waits_fails()
  assert_fails({ script = { "> Name?", "< Ada", "> Hi Ada!", { timeout = true } } },
    "the script expects a timeout, but the execution ended at 'hi'")
end

function TestFlowTestingTime.test_parse_time()
  lu.assertEquals(test.parse_time("1970-01-01T00:00:00Z"), 0)
  lu.assertEquals(test.parse_time("2024-01-01T00:00:00Z"), 1704067200)
  lu.assertEquals(test.parse_time("2024-02-29 12:30"), 1709209800)
  lu.assertEquals(test.parse_time("2024-05-06T09:00:00-07:00"),
    test.parse_time("2024-05-06T16:00:00Z"))
  lu.assertEquals(test.parse_time("2000-03-01"), 951868800)
  lu.assertEquals(test.parse_time(12.5), 12.5)
  lu.assertNil(test.parse_time("yesterday"))
  lu.assertNil(test.parse_time("2024-05-06T09:00+7"))
end

-- ---- stubs and live calls ----------------------------------------------------------------------

TestFlowTestingStubs = {}

local GREET = { "> Name?", "< Ada" }
local function greet(...)
  local s = { GREET[1], GREET[2] }
  for _, x in ipairs{ ... } do s[#s + 1] = x end
  return s
end

function TestFlowTestingStubs.test_a_widget_name_beats_a_url_prefix_and_the_longest_prefix_wins()
  local function says(g) return { status = 200, json = { greeting = g } } end
  local r = run1({ stubs = { ["https://fn.example.com/"] = says("url"),
                             ["https://fn.example.com/hel"] = says("longer") },
                   script = greet("> Hi longer") }, { stubs = {} })
  lu.assertEquals(r.passed, 1, r.cases[1].message)
  r = run1({ stubs = { ["https://fn.example.com/"] = says("url") },
             script = greet("> Hi Ada!") })       -- the spec-level fn stub is by name
  lu.assertEquals(r.passed, 1, r.cases[1].message)
end

function TestFlowTestingStubs.test_a_function_stub_sees_the_request()
  local seen
  local r = run1{ stubs = { fn = function(e)
                    seen = e
                    return { status = 200, json = { greeting = "x" } }
                  end }, script = greet("> Hi x") }
  lu.assertEquals(r.passed, 1, r.cases[1].message)
  lu.assertEquals(seen.widget, "fn")
  lu.assertEquals(seen.url, "https://fn.example.com/hello")
  lu.assertEquals(seen.method, "POST")
  lu.assertEquals(seen.parameters, { name = "Ada" })
  lu.assertEquals(seen.kind, "run_function")
  lu.assertEquals(seen.count, 1)
end

function TestFlowTestingStubs.test_replies_take_the_real_road()
  -- 3xx is a Run Function success; 404 a fail; a JSON array is not parsed; a transport failure
  local r = run1{ stubs = { fn = { status = 302, json = { greeting = "moved" } } },
                  script = greet("> Hi moved") }
  lu.assertEquals(r.passed, 1, r.cases[1].message)
  r = run1{ stubs = { fn = { status = 404 } }, script = greet("> Sorry (404)"),
            reasons = { fn = "http_status" }, context = { ["widgets.fn.reason"] = test.absent } }
  lu.assertEquals(r.passed, 1, r.cases[1].message)
  r = run1{ stubs = { fn = { status = 200, body = "[1,2]", content_type = "application/json" } },
            script = greet("> Hi "), reasons = { fn = "not_json_object" },
            context = { ["widgets.fn.parsed"] = test.absent } }
  lu.assertEquals(r.passed, 1, r.cases[1].message)
  -- no reply at all: Studio's empty output map, status_code renders empty (not 0)
  r = run1{ stubs = { fn = { reason = "timeout" } }, script = greet("> Sorry ()"), reasons = { fn = "timeout" } }
  lu.assertEquals(r.passed, 1, r.cases[1].message)
end

function TestFlowTestingStubs.test_a_list_of_replies_is_used_in_turn()
  local r = assert(test.run{ flow = FLOWS .. "retry_counter.lua", live = false, cases = { {
    stubs = { get_num = { { status = 500 }, { status = 200, json = { number = 2 } } } },
    script = { "> Your random number is 2" }, context = { ["flow.variables.count"] = 1 } } } })
  lu.assertEquals(r.passed, 1, r.cases[1].message)
  lu.assertEquals(#r.cases[1].calls, 2)
end

function TestFlowTestingStubs.test_a_stub_that_raises_fails_the_case()
  local c = assert_fails({ stubs = { fn = function(e)
                             assert(e.parameters.name == "Bob", "wrong name")
                           end }, script = greet("> Hi") },
    "the stub 'fn' for fn raised", "wrong name")
  lu.assertEquals(c.failure.where, "at step 2 of 3 (< Ada)")
  assert_fails({ stubs = { fn = function() return "ok" end }, script = greet("> Hi") },
    "the stub 'fn' for fn returned \"ok\", not a reply table")
end

function TestFlowTestingStubs.test_without_live_an_unstubbed_call_fails_clearly()
  local r = run1({ stubs = { fn = false }, live = false, script = greet("> Sorry (0)") })
  lu.assertEquals(r.failed, 1)
  lu.assertStrContains(r.cases[1].message, "fn: no stub for POST https://fn.example.com/hello " ..
    "(live = false; stub it by widget name or URL)")
  r = assert(test.run({ flow = ASK, stubs = { fn = false },
                        cases = { { script = greet("> Sorry (0)") } } }, { live = false }))
  lu.assertEquals(r.failed, 1)
end

function TestFlowTestingStubs.test_unstubbed_calls_go_live_through_url_map()
  local base = fx.start()
  local r = run1({ stubs = { fn = false },
                   url_map = { ["https://fn.example.com/hello"] = base .. "/json-object" },
                   script = greet({ expect = { match = "^Hi " } }),
                   context = { ["widgets.fn.status_code"] = 200, ["widgets.fn.parsed"] = function(p)
                     return type(p) == "table" end } })
  lu.assertEquals(r.passed, 1, r.cases[1].message)
  lu.assertEquals(r.cases[1].calls[1].live, base .. "/json-object")
end

function TestFlowTestingStubs.test_make_http_request_stubs()
  local flow = {
    { name = "T", type = "trigger", on = { incomingMessage = "req" } },
    { name = "req", type = "make-http-request", method = "POST",
      url = "https://api.example.com/v1/items", content_type = "application/json",
      body = '{"q": "{{trigger.message.Body}}"}', on = { success = "ok", failed = "ko" } },
    { name = "ok", type = "send-message", body = "got {{widgets.req.parsed.n}}",
      on = { sent = false } },
    { name = "ko", type = "send-message", body = "failed {{widgets.req.status_code}}",
      on = { sent = false } },
  }
  local r = assert(test.run{ flow = flow, live = false, cases = {
    { trigger = "pens", stubs = { ["https://api.example.com/"] = function(e)
        lu.assertEquals(e.kind, "http_request")
        lu.assertEquals(e.method, "POST")
        return { status = 201, json = { n = json.decode(e.body).q } }
      end }, script = { "> got pens" } },
    { stubs = { req = { status = 302 } }, script = { "> failed 302" } },   -- 2xx only here
  } })
  lu.assertEquals(r.passed, 2, (r.cases[1].message or "") .. (r.cases[2].message or ""))
end

function TestFlowTestingStubs.test_subflow_widgets_are_stubbed_by_name()
  local child = {
    { name = "T", type = "trigger", on = { incomingParent = "fetch" } },
    { name = "fetch", type = "run-function", url = "https://x.example.com/f",
      on = { success = "set", fail = false } },
    { name = "set", type = "set-variables", variables = { got = "{{widgets.fetch.parsed.v}}" },
      on = { next = false } },
  }
  local parent = {
    { name = "T", type = "trigger", on = { incomingMessage = "sub" } },
    { name = "sub", type = "run-subflow", flow_sid = "FWchild",
      on = { completed = "say", failed = false } },
    { name = "say", type = "send-message", body = "child got {{widgets.sub.got}}",
      on = { sent = false } },
  }
  local case = { stubs = { fetch = { status = 200, json = { v = 7 } } },
                 script = { "> child got 7" } }
  local r = assert(test.run({ flow = parent, subflows = { FWchild = child }, live = false,
                              cases = { case, case } }, { coverage = true }))
  lu.assertEquals(r.passed, 2, r.cases[1].message)
  local rep = r.coverage:report()
  lu.assertEquals(#rep, 2)     -- the parent and the child, each once
  lu.assertEquals({ rep[1].cases, rep[2].cases }, { 2, 2 })
end

-- ---- specs: loading, cases, hooks ---------------------------------------------------------

TestFlowTestingSpecs = {}

function TestFlowTestingSpecs.test_cases_in_order_then_test_entries_by_name()
  local r = assert(test.run{ flow = ASK, stubs = { fn = HELLO },
    test_b = { script = { "> Name?" }, status = "active" },
    test_a = { script = { "> Name?" }, status = "active" },
    cases = { { name = "second", script = { "> Name?" }, status = "active" },
              { script = { "> Name?" }, status = "active" } } })
  local names = {}
  for i, c in ipairs(r.cases) do names[i] = c.name end
  lu.assertEquals(names, { "second", "case 2", "test_a", "test_b" })
  lu.assertEquals(r.passed, 4)
end

function TestFlowTestingSpecs.test_a_spec_file_and_its_relative_flow()
  local dir = helper.tmpdir()
  helper.write_file(dir .. "/flow.lua", "return " .. [[{
    { name = "T", type = "trigger", on = { incomingMessage = "m" } },
    { name = "m", type = "send-message", body = "hello {{trigger.message.Body}}",
      on = { sent = false } } }]])
  local spec = helper.write_file(dir .. "/x_spec.lua", [[
    local path = ...
    return { flow = "flow.lua", cases = {
      { trigger = "you", script = { "> hello you" } },
      { name = "path", trigger = path, script = { "> hello " .. path } } } }]])
  local r = assert(test.run(spec))
  lu.assertEquals(r.passed, 2, r.cases[1].message)
  lu.assertEquals(r.spec, spec)
end

function TestFlowTestingSpecs.test_load_errors_name_the_problem()
  local function err_of(spec)
    local r, err = test.run(spec)
    lu.assertNil(r)
    return err
  end
  lu.assertStrContains(err_of{ flow = ASK, cases = { { scirpt = {} } } },
    "spec: case 1: unknown key 'scirpt'")
  lu.assertStrContains(err_of{ flow = ASK, cases = { { script = { "hello" } } } },
    'script step 1: "hello": a string step is "> TEXT" (the flow sends) or "< TEXT"')
  local both = { expect = "a", reply = "b" }
  lu.assertStrContains(err_of{ flow = ASK, cases = { { script = { both } } } },
    "a step does one thing")
  lu.assertStrContains(err_of{ flow = ASK, cases = { { script = { { advance = -1 } } } } },
    "advance wants")
  lu.assertStrContains(err_of{ flow = ASK, cases = { { status = "done" } } }, "status is one of")
  lu.assertStrContains(err_of{ flow = ASK, cases = { { now = "soon" } } },
    "now wants epoch seconds")
  lu.assertStrContains(err_of{ flow = ASK, cases = { { trigger = { event = "incomingFax" } } } },
    "unknown trigger event 'incomingFax'")
  lu.assertStrContains(err_of{ flow = ASK, cases = {} }, "no cases")
  lu.assertStrContains(err_of{ flow = ASK, cases = { {} }, flaw = 1 }, "unknown spec key 'flaw'")
  lu.assertStrContains(err_of("/nonexistent/x_spec.lua"), "/nonexistent/x_spec.lua")
  local dir = helper.tmpdir()
  lu.assertStrContains(err_of(helper.write_file(dir .. "/bad_spec.lua", "return {")),
    dir .. "/bad_spec.lua:1:")
  lu.assertStrContains(err_of(helper.write_file(dir .. "/num_spec.lua", "return 1")),
    "must return a table")
  lu.assertStrContains(err_of(helper.write_file(dir .. "/err_spec.lua", "error('nope')")), "nope")
end

function TestFlowTestingSpecs.test_an_unreadable_flow_is_marked_and_names_the_file()
  local r = assert(test.run{ flow = "/nonexistent/flow.lua", cases = { {} } })
  lu.assertEquals(r.failed, 1)
  lu.assertEquals(r.unreadable, 1)
  lu.assertTrue(r.cases[1].unreadable)
  lu.assertStrContains(r.cases[1].message, "/nonexistent/flow.lua")
end

function TestFlowTestingSpecs.test_setup_teardown_and_skip()
  local calls = {}
  local r = assert(test.run{ flow = ASK,
    setup = function(spec) calls[#calls + 1] = "setup" spec.stubs = { fn = HELLO } end,
    teardown = function() calls[#calls + 1] = "teardown" end,
    cases = { { script = greet("> Hi Ada!") }, { skip = "not today" },
              { skip = function() return nil end, script = greet("> Hi Ada!") } } })
  lu.assertEquals(calls, { "setup", "teardown" })
  lu.assertEquals({ r.passed, r.failed, r.skipped }, { 2, 0, 1 })
  lu.assertEquals(r.cases[2].message, "not today")
  r = assert(test.run{ flow = ASK, setup = function() error("no server") end, cases = { {}, {} } })
  lu.assertEquals(r.failed, 2)
  lu.assertStrContains(r.cases[1].message, "setup failed:")
  lu.assertStrContains(r.cases[1].message, "no server")
end

function TestFlowTestingSpecs.test_check_raises_the_report_for_luaunit()
  local function spec(script)
    return { flow = ASK, stubs = { fn = HELLO }, cases = { { script = script } } }
  end
  lu.assertEquals(test.check(spec(greet("> Hi Ada!"))).passed, 1)
  local ok, err = pcall(test.check, spec(greet("> Hi Bo!")))
  lu.assertFalse(ok)
  lu.assertStrContains(err, "- Hi Bo!\n      + Hi Ada!")
  lu.assertStrContains(err, "0 passed, 1 failed")
end

function TestFlowTestingSpecs.test_filter_and_on_case()
  local seen = {}
  local r = assert(test.run({ flow = ASK, cases = { { name = "one", status = "active" },
                                                    { name = "two", status = "active" } } },
    { filter = "^t", on_case = function(c) seen[#seen + 1] = c.name end }))
  lu.assertEquals(seen, { "two" })
  lu.assertEquals(#r.cases, 1)
end

-- ---- coverage ----------------------------------------------------------------------------------

TestFlowTestingCoverage = {}

function TestFlowTestingCoverage.test_coverage_lists_untested_transitions()
  local r = assert(test.run({ flow = ASK, stubs = { fn = HELLO },
                              cases = { { script = greet("> Hi Ada!") } } }, { coverage = true }))
  local rep = r.coverage:report()
  lu.assertEquals(#rep, 1)
  local f = rep[1]
  lu.assertEquals(f.cases, 1)
  lu.assertEquals({ f.states.total, f.states.entered }, { 6, 4 })
  lu.assertEquals(f.states.unvisited, { "oops", "late" })
  lu.assertEquals({ f.transitions.total, f.transitions.taken }, { 9, 4 })
  local untested = {}
  for i, e in ipairs(f.transitions.untested) do untested[i] = test.edge_text(e) end
  lu.assertEquals(untested, { "Trigger -incomingRequest-> fn", "ask -timeout-> late",
                              "fn -fail-> oops", "oops -sent-> Ended", "late -sent-> Ended" })
  local text = test.format_coverage(rep)
  lu.assertStrContains(text, "coverage of Ask (1 case)")
  lu.assertStrContains(text, "states       4 of 6 entered; never: oops, late")
  lu.assertStrContains(text, "transitions  4 of 9 taken (44%)")
  lu.assertStrContains(text, "1x  ask -incomingMessage-> fn")
  lu.assertStrContains(text,
    "  untested\n           Trigger -incomingRequest-> fn\n           ask -timeout-> late")
end

function TestFlowTestingCoverage.test_coverage_adds_up_across_specs_and_runs()
  local cov = test.coverage()
  local flow = FLOWS .. "custom_logic.lua"
  local ask = { expect = { match = "^How likely" } }
  local high = { ask, "< 9", "> Thank you! A 9 made our day." }
  assert(test.run({ flow = flow, cases = { { script = high } } }, { coverage = cov }))
  assert(test.run({ flow = flow, cases = { { script = { ask, { timeout = true },
                                                        "> No worries, bye for now." } } } },
    { coverage = cov }))
  local rep = cov:report()
  lu.assertEquals(#rep, 1)
  lu.assertEquals(rep[1].cases, 2)
  lu.assertEquals(rep[1].name, test.normalize(flow))
  local taken = {}
  for _, e in ipairs(rep[1].transitions.list) do
    if e.count > 0 then taken[#taken + 1] = test.edge_text(e) end
  end
  lu.assertEquals(taken, { "Trigger -incomingMessage-> ask", "ask -incomingMessage-> score",
                           "ask -timeout-> bye", "score -high-> thanks", "thanks -sent-> Ended",
                           "bye -sent-> Ended" })
end

function TestFlowTestingCoverage.test_a_split_s_branches_are_told_apart_by_next()
  local r = assert(test.run({ flow = FLOWS .. "retry_counter.lua", live = false,
    cases = { { stubs = { get_num = { status = 500 } },
                script = { { expect = { match = "failed 4 times" } } } } } },
    { coverage = true }))
  local counts = {}
  for _, e in ipairs(r.coverage:report()[1].transitions.list) do
    counts[test.edge_text(e)] = e.count
  end
  lu.assertEquals(counts["check_count -match-> give_up"], 1)
  lu.assertEquals(counts["check_count -noMatch-> get_num"], 3)
  lu.assertEquals(counts["get_num -fail-> count"], 4)
  lu.assertEquals(counts["get_num -success-> send_num"], 0)
end

function TestFlowTestingCoverage.test_dot_highlights_untested_edges()
  local r = assert(test.run({ flow = ASK, stubs = { fn = HELLO },
                              cases = { { script = greet("> Hi Ada!") } } }, { coverage = true }))
  local dot = test.dot(r.coverage:report())
  lu.assertStrContains(dot, "digraph coverage {")
  lu.assertStrContains(dot,
    '"ask" -> "fn" [label="incomingMessage (1)", penwidth=2, color=darkgreen];')
  lu.assertStrContains(dot,
    '"ask" -> "late" [label="timeout (untested)", color=red, fontcolor=red, style=dashed];')
  lu.assertStrContains(dot, '"oops" [label="oops\\nsend-message", style="rounded,dashed"')
  lu.assertStrContains(dot, '"Ended" [label="Ended", shape=doublecircle];')
  if os.execute("command -v dot >/dev/null 2>&1") then
    local dir = helper.tmpdir()
    helper.write_file(dir .. "/c.dot", dot)
    local code, _, err = helper.exec({ "dot", "-Tsvg", "-o", dir .. "/c.svg", dir .. "/c.dot" })
    lu.assertEquals(code, 0, err)
  end
end

-- ---- JUnit -------------------------------------------------------------------------------------

TestFlowTestingJUnit = {}

function TestFlowTestingJUnit.test_junit_xml_is_escaped_and_counts()
  local r = assert(test.run({ flow = ASK,
    stubs = { fn = { status = 200, json = { greeting = "<b>&\"'\1" } } },
    cases = { { name = "ok & <fine>", script = greet({ expect = { match = "^Hi " } }) },
              { name = "broken", script = greet("> Hi you") },
              { name = "skipped", skip = "later" } } }))
  local xml = test.junit({ { name = "specs/a_spec.lua", results = r },
                           { name = "specs/b_spec.lua", error = "cannot <open>" } })
  lu.assertStrContains(xml, '<?xml version="1.0" encoding="UTF-8"?>\n' ..
    '<testsuites name="rivulet test" tests="4" failures="1" errors="1" skipped="1"')
  lu.assertStrContains(xml,
    '<testsuite name="specs/a_spec.lua" tests="3" failures="1" errors="0" skipped="1"')
  lu.assertStrContains(xml, '<testcase classname="specs.a_spec" name="ok &amp; &lt;fine&gt;"')
  lu.assertStrContains(xml, '<failure message="at step 3 of 3 (&gt; Hi you): ' ..
    'the flow sent a different message" type="expectation">')
  lu.assertStrContains(xml, "+ \"Hi &lt;b&gt;&amp;\\\"'\\1\"")      -- quoted: the \1 is visible
  lu.assertStrContains(xml, '<skipped message="later"/>')
  lu.assertStrContains(xml,
    '<error message="cannot &lt;open&gt;" type="unreadable">cannot &lt;open&gt;</error>')
  lu.assertNotStrContains(xml, "\1")
  lu.assertEquals(test.xml_escape("a\255b\1c\0"), "a\239\191\189b\239\191\189c\239\191\189")
  lu.assertEquals(test.xml_escape("é\n<\"", true), "é&#10;&lt;&quot;")
  if os.execute("command -v xmllint >/dev/null 2>&1") then
    local dir = helper.tmpdir()
    helper.write_file(dir .. "/j.xml", xml)
    local code, _, err = helper.exec({ "xmllint", "--noout", dir .. "/j.xml" })
    lu.assertEquals(code, 0, err)
  end
end

-- ---- the command ------------------------------------------------------------------------------

TestFlowTestingCli = {}

-- `rivulet test ARGS` through the host: the command when the host has it, else its module
local function rivulet_test(args, cwd)
  local dir = helper.tmpdir()
  local script = helper.write_file(dir .. "/main.lua",
    'os.exit(require("rivulet.cli.test").main(arg))')
  local argv = { "lua", script }
  local _, usage = helper.run({ "help" })
  if usage:find("\n  test ", 1, true) then argv = { "test" } end
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  if cwd then
    local q = { "cd", helper.quote(cwd), "&&", helper.quote(helper.bin) }
    for _, a in ipairs(argv) do q[#q + 1] = helper.quote(a) end
    return helper.exec({ "sh", "-c", table.concat(q, " ") })
  end
  return helper.run(argv)
end

local function last_line(s)
  return s:match("([^\n]*)\n$")
end

local function spec_dir()
  local dir = helper.tmpdir()
  helper.write_file(dir .. "/flow.lua", "return " .. [[{
    { name = "T", type = "trigger", on = { incomingMessage = "ask" } },
    { name = "ask", type = "send-and-wait-for-reply", body = "Name?",
      on = { incomingMessage = "hi", timeout = false } },
    { name = "hi", type = "send-message", body = "Hi {{widgets.ask.inbound.Body}}",
      on = { sent = false, failed = false } } }]])
  helper.write_file(dir .. "/good_spec.lua", [[
    return { flow = "flow.lua",
             cases = { { name = "greets", script = { "> Name?", "< Ada", "> Hi Ada" } } } }]])
  helper.write_file(dir .. "/bad_spec.lua", [[
    return { flow = "flow.lua", cases = {
      { name = "greets wrong", script = { "> Name?", "< Ada", "> Hello Ada" } },
      { name = "fine", script = { "> Name?", { timeout = true } } } } }]])
  return dir
end

function TestFlowTestingCli.test_all_green_exits_0()
  local dir = spec_dir()
  local code, out, err = rivulet_test({ dir .. "/good_spec.lua" })
  lu.assertEquals(code, 0, err)
  lu.assertEquals(out, dir .. "/good_spec.lua: 1 passed\n1 passed, 0 failed\n")
end

function TestFlowTestingCli.test_a_failure_prints_the_conversation_and_the_diff_and_exits_1()
  local dir = spec_dir()
  local code, out = rivulet_test({ dir .. "/good_spec.lua", dir .. "/bad_spec.lua" })
  lu.assertEquals(code, 1)
  lu.assertStrContains(out, dir .. "/bad_spec.lua: 1 passed, 1 failed\n\n" ..
    "FAIL " .. dir .. "/bad_spec.lua: greets wrong\n" ..
    "  conversation:\n    > Name?\n    < Ada\n    > Hi Ada\n" ..
    "  at step 3 of 3 (> Hello Ada):\n    the flow sent a different message\n" ..
    "      - Hello Ada\n      + Hi Ada\n")
  lu.assertEquals(last_line(out), "2 passed, 1 failed")
end

function TestFlowTestingCli.test_verbose_coverage_junit_and_dot()
  local dir = spec_dir()
  local code, out, err = rivulet_test({ "-v", "--coverage", "--junit", dir .. "/j.xml",
                                        "--dot=" .. dir .. "/c.dot", "bad_spec.lua",
                                        "good_spec.lua" }, dir)
  lu.assertEquals(code, 1, err)
  lu.assertStrContains(out, "bad_spec.lua\n  FAIL  greets wrong (")
  lu.assertStrContains(out, "  ok    fine (")
  lu.assertStrContains(out, "coverage of flow.lua (3 cases)\n  states       3 of 3 entered\n")
  lu.assertStrContains(out, "  transitions  4 of 5 taken (80%)\n")
  lu.assertStrContains(out, "  untested\n           hi -failed-> Ended\n")
  lu.assertEquals(last_line(out), "2 passed, 1 failed")
  lu.assertStrContains(helper.read_file(dir .. "/j.xml"), 'name="greets wrong"')
  lu.assertStrContains(helper.read_file(dir .. "/c.dot"), "digraph coverage {")
end

function TestFlowTestingCli.test_unreadable_specs_and_flows_exit_2_and_name_the_file()
  local dir = spec_dir()
  helper.write_file(dir .. "/noflow_spec.lua", 'return { flow = "missing.lua", cases = { {} } }')
  local code, out, err = rivulet_test({ dir .. "/good_spec.lua", dir .. "/nope_spec.lua" })
  lu.assertEquals(code, 2)
  lu.assertStrContains(err, "rivulet test: " .. dir .. "/nope_spec.lua: ")
  lu.assertEquals(last_line(out), "1 passed, 1 failed")
  code, out = rivulet_test({ dir .. "/noflow_spec.lua" })
  lu.assertEquals(code, 2)
  lu.assertStrContains(out, dir .. "/missing.lua")
  local _
  code, _, err = rivulet_test({})
  lu.assertEquals(code, 2)
  lu.assertStrContains(err, "no SPEC given")
  code, _, err = rivulet_test({ "--nope", "x" })
  lu.assertEquals(code, 2)
  lu.assertStrContains(err, "unknown option '--nope'")
end

-- (make test runs all of flows/specs/ and spec/corpus/; these two need neither twilio-run
-- nor the corpus)
function TestFlowTestingCli.test_shipped_specs_pass()
  local specs = { "flows/specs/custom_logic_spec.lua", "flows/specs/retry_counter_spec.lua" }
  local code, out, err = rivulet_test(specs, helper.root)
  lu.assertEquals(code, 0, out .. err)
  lu.assertStrMatches(last_line(out), "%d+ passed, 0 failed")
end

-- A spec gives what `rivulet run` takes on its command line: functions (a Run Function
-- named only by its function SID, as Studio exports have it, calls the URL mapped) and
-- account_sid (trigger.*.AccountSid); `reasons` checks why a widget failed.
TestFlowTestingFidelity = {}

function TestFlowTestingFidelity.test_functions_and_account_sid()
  local SID = "ZH" .. string.rep("0123456789abcdef", 2)
  local AC = "AC" .. string.rep("fedcba9876543210", 2)
  local flow = {
    { name = "Trigger", type = "trigger", on = { incomingMessage = "fn" } },
    { name = "fn", type = "run-function", url = "", function_sid = SID,
      parameters = { account = "{{trigger.message.AccountSid}}" }, on = { success = "hi", fail = "oops" } },
    { name = "hi", type = "send-message", body = "{{widgets.fn.parsed.form.account}}" },
    { name = "oops", type = "send-message", body = "oops" },
  }
  local r = assert(test.run{ flow = flow, functions = { [SID] = fx.start() .. "/echo" }, account_sid = AC,
                             cases = { { script = { "> " .. AC } } } })
  lu.assertEquals(r.passed, 1, r.cases[1].message)
  -- not mapped: no call, fail, and the step says how to map it
  r = assert(test.run{ flow = flow, cases = { { script = { "> oops" },
    reasons = { fn = { reason = "no_url", note = { match = "%-%-map%-function " .. SID .. "=URL" } } } } } })
  lu.assertEquals(r.passed, 1, r.cases[1].message)
  -- reasons can fail a case
  r = assert(test.run{ flow = flow, cases = { { script = { "> oops" }, reasons = { fn = "timeout" } } } })
  lu.assertEquals(r.failed, 1)
  lu.assertStrContains(r.cases[1].message, "reasons.fn")
end
