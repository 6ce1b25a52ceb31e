-- The engine through its Lua API (DESIGN.md §3): scripted conversations for every widget
-- and event, the split's 17 conditions, Run Function and Make HTTP Request against the
-- loopback fixture server (spec/http_fixture.lua), subflows, custom Lua logic, the guards,
-- one execution per contact, and the execution record.

local lu = require "luaunit"
local rivulet = require "rivulet"
local json = require "rivulet.json"
local helper = require "spec.helper"
local fx = require "spec.http_fixture"

local FROM, TO = "+15550001111", "+15559990000"
local FLOWS = helper.root .. "/flows/"

-- Runs `flow` from a trigger, answering each wait for a reply with the next of
-- opts.replies; returns the execution, the messages sent, and the engine.
-- opts: engine (options), trigger (table), body (the trigger's), replies.
local function converse(flow, opts)
  opts = opts or {}
  local sent = {}
  local eopts = opts.engine or {}
  eopts.on_message = function(_, m) sent[#sent + 1] = m end
  local e = rivulet.engine(eopts)
  local trigger = opts.trigger or { event = "incomingMessage", from = FROM, to = TO, body = opts.body or "hi" }
  local exec = assert(e:start(flow, trigger))
  e:run()
  for i, r in ipairs(opts.replies or {}) do
    lu.assertEquals(exec.status, "active", "reply " .. i .. " (" .. r .. ") came after the end: " .. tostring(exec.reason))
    local ctx = exec.context
    assert(e:deliver{ from = ctx.contact.channel.address, to = ctx.flow.channel.address, body = r })
    e:run()
  end
  return exec, sent, e
end

local bodies, trail = helper.bodies, helper.trail

local function count_runs(exec, name)
  local n = 0
  for _, s in ipairs(exec.steps) do if s.transitioned_from == name then n = n + 1 end end
  return n
end

local function say(name, body, nx)
  return { name = name, type = "send-message", body = body, on = { sent = nx or false } }
end

-- ---- send-message and send-and-wait-for-reply ------------------------------------------------

TestEngineMessages = {}

function TestEngineMessages.test_send_message_is_sent_with_liquid_and_outputs()
  local exec, sent = converse({
    { name = "Trigger", type = "trigger", on = { incomingMessage = "hello" } },
    say("hello", "You said {{trigger.message.Body | upcase}} from {{contact.channel.address}}"),
  }, { body = "ahoy" })
  lu.assertEquals(bodies(sent), { "You said AHOY from " .. FROM })
  lu.assertEquals(sent[1].to, FROM)
  lu.assertEquals(sent[1].from, TO)
  lu.assertEquals(exec.status, "ended")
  lu.assertNil(exec.failed)
  local out = exec.context.widgets.hello.outbound
  lu.assertEquals(out.Body, "You said AHOY from " .. FROM)
  lu.assertEquals(out.To, FROM)
  lu.assertEquals(out.From, TO)
  lu.assertStrMatches(out.Sid, "SM%x+")
  lu.assertEquals(trail(exec), { "Trigger -incomingMessage-> hello", "hello -sent-> Ended" })
end

local ASK = {
  { name = "Trigger", type = "trigger", on = { incomingMessage = "ask" } },
  { name = "ask", type = "send-and-wait-for-reply", body = "Name?", timeout = "60",
    on = { incomingMessage = "hi", timeout = "bye" } },
  say("hi", "Hi {{widgets.ask.inbound.Body}}"),
  say("bye", "Bye ({{widgets.ask.outbound.Body}} went unanswered{{widgets.ask.inbound.Body}})"),
}

function TestEngineMessages.test_send_and_wait_waits_then_takes_the_reply()
  local sent = {}
  local e = rivulet.engine{ on_message = function(_, m) sent[#sent + 1] = m.body end }
  local exec = assert(e:start(ASK, { from = FROM, to = TO, body = "hi" }))
  lu.assertEquals(e:run(), 1)
  lu.assertEquals(exec.status, "active")
  lu.assertEquals(exec.wait.kind, "reply")
  lu.assertEquals(sent, { "Name?" })
  lu.assertIs(e:deliver{ from = FROM, to = TO, body = "Ada" }, exec)
  lu.assertEquals(sent, { "Name?", "Hi Ada" })
  lu.assertEquals(exec.status, "ended")
  local w = exec.context.widgets.ask
  lu.assertEquals(w.inbound.Body, "Ada")
  lu.assertEquals(w.inbound.From, FROM)
  lu.assertEquals(w.inbound.To, TO)
  lu.assertEquals(w.outbound.Body, "Name?")
  lu.assertEquals(trail(exec)[2], "ask -incomingMessage-> hi")
end

function TestEngineMessages.test_send_and_wait_times_out_through_engine_timeout()
  local sent = {}
  local e = rivulet.engine{ on_message = function(_, m) sent[#sent + 1] = m.body end }
  local exec = assert(e:start(ASK, { from = FROM, to = TO }))
  e:run()
  lu.assertTrue(e:timeout(exec))
  lu.assertEquals(sent, { "Name?", "Bye (Name? went unanswered)" })
  lu.assertEquals(trail(exec)[2], "ask -timeout-> bye")
  lu.assertNil(exec.context.widgets.ask.inbound)
  lu.assertEquals(exec.context.widgets.ask.outbound.Body, "Name?")
  lu.assertFalse(e:timeout(exec))         -- nothing waits any more
end

function TestEngineMessages.test_send_and_wait_timeout_fires_from_the_clock()
  local clock = 1000
  local e = rivulet.engine{ now = function() return clock end }
  local exec = assert(e:start(ASK, { from = FROM, to = TO }))
  e:poll(0)
  clock = clock + 59
  e:poll(0)
  lu.assertEquals(exec.status, "active")
  clock = clock + 2
  e:poll(0)
  lu.assertEquals(exec.status, "ended")
  lu.assertEquals(trail(exec)[2], "ask -timeout-> bye")
end

function TestEngineMessages.test_deliver_without_an_execution_is_an_error()
  local e = rivulet.engine{}
  local x, err = e:deliver{ from = FROM, to = TO, body = "anyone?" }
  lu.assertNil(x)
  lu.assertStrContains(err, "no active execution")
end

function TestEngineMessages.test_deliver_while_not_waiting_for_a_reply_is_refused()
  local base = fx.start()
  local e = rivulet.engine{}
  local exec = assert(e:start({
    { name = "Trigger", type = "trigger", on = { incomingMessage = "fn" } },
    { name = "fn", type = "run-function", url = base .. "/slow/200", on = { success = false, fail = false } },
  }, { from = FROM, to = TO }))
  lu.assertEquals(exec.wait.kind, "http")
  local x, err = e:deliver{ from = FROM, to = TO, body = "early" }
  lu.assertNil(x)
  lu.assertStrContains(err, exec.sid)
  e:run()
  lu.assertEquals(exec.status, "ended")
end

-- ---- set-variables -----------------------------------------------------------------------------

TestEngineSetVariables = {}

-- Values are "interpolated and type-cast": "A Studio variable created with the Set Variables
-- will be numeric if you do not enclose it in quotation marks" (Twilio support article
-- 4413699936411, "How do I use Liquid with Twilio Studio?")
function TestEngineSetVariables.test_numbers_unquoted_are_numbers()
  local exec, sent = converse({
    { name = "Trigger", type = "trigger", on = { incomingMessage = "vars" } },
    { name = "vars", type = "set-variables",
      variables = { name = "{{trigger.message.Body | strip}}", n = "{{ 2 | plus: 3 }}" }, on = { next = "more" } },
    { name = "more", type = "set-variables", variables = { n = "{{flow.variables.n | plus: 1}}" },
      on = { next = "done" } },
    say("done", "{{flow.variables.name}} {{flow.variables.n}} {{widgets.vars.n}}"),
  }, { body = "  Ada " })
  lu.assertEquals(bodies(sent), { "Ada 6 5" })
  lu.assertEquals(exec.context.flow.variables, { name = "Ada", n = 6 })
  lu.assertEquals(exec.context.widgets.vars, { name = "Ada", n = 5 })
  lu.assertEquals(trail(exec)[2], "vars -next-> more")
end

function TestEngineSetVariables.test_the_docs_counter_stores_a_number_and_compares_as_one()
  -- the counter of Twilio's Run Function retry guidance (REFERENCE.md §4), with its spaces
  local COUNT = "{% if flow.variables.count %}{{flow.variables.count | plus: 1}} {% else %} 1 {% endif %}"
  local flow = {
    { name = "Trigger", type = "trigger", on = { incomingMessage = "count" } },
    { name = "count", type = "set-variables", variables = { { key = "count", value = COUNT } },
      on = { next = "check" } },
    { name = "check", type = "set-variables",
      variables = { { key = "big", value = "{% if flow.variables.count > 5 %}yes{% else %}no{% endif %}" } },
      on = { next = "again" } },
    { name = "again", type = "split-based-on", input = "{{flow.variables.count}}",
      match = { { type = "less_than", value = "12", next = "count" } }, on = { noMatch = "done" } },
    say("done", "{{flow.variables.count}} {{flow.variables.big}}"),
  }
  local exec, sent = converse(flow, { engine = { limits = { same_widget = 20 } } })
  lu.assertEquals(bodies(sent), { "12 yes" })
  lu.assertEquals(exec.context.flow.variables.count, 12)
  lu.assertEquals(math.type(exec.context.flow.variables.count), "integer")
  -- a lexical comparison would say "10" > "5" is false: the 10th round still says yes
  lu.assertEquals(exec.steps[2 + 3 * 9 + 1].context.variables.big, "yes")
end

function TestEngineSetVariables.test_quoted_numbers_stay_text_and_other_text_as_rendered()
  local exec = converse({
    { name = "Trigger", type = "trigger", on = { incomingMessage = "vars" } },
    { name = "vars", type = "set-variables", variables = {
        { key = "q", value = '"10"' }, { key = "s", value = "'7'" }, { key = "f", value = " -2.5 " },
        { key = "e", value = "1e3" }, { key = "t", value = " ten " }, { key = "phone", value = "+15550001111" },
        { key = "x", value = '"ten"' }, { key = "empty", value = "" }, { key = "zip", value = "02134" },
        { key = "zero", value = "0" }, { key = "dot", value = "1." }, { key = "big", value = "99999999999999999999" } },
      on = { next = false } },
  })
  -- JSON's number grammar: no leading zeros (a zip code stays text), no trailing dot
  lu.assertEquals(exec.context.flow.variables, { q = "10", s = "7", f = -2.5, e = 1000.0, t = " ten ",
                                                 phone = "+15550001111", x = '"ten"', empty = "", zip = "02134",
                                                 zero = 0, dot = "1.", big = 1e20 })
end

-- "Parse as JSON object" (Twilio's Set Variables page); keys are never Liquid: "The key
-- itself cannot be a Liquid variable" (same page)
function TestEngineSetVariables.test_parse_as_json_and_literal_keys()
  local exec, sent = converse({
    { name = "Trigger", type = "trigger", on = { incomingMessage = "vars" } },
    { name = "vars", type = "set-variables", variables = {
        { key = "order", value = '{"id": {{trigger.message.Body}}, "items": ["a", "b"], "z": 1, "a": 2}',
          parse_as_json = true },
        { key = "{{trigger.message.Body}}", value = "kept" } },
      on = { next = "done" } },
    say("done", "{{flow.variables.order.id}} {{flow.variables.order.items[1]}} {{flow.variables.order}}"),
  }, { body = "42" })
  lu.assertEquals(exec.context.flow.variables.order.id, 42)
  lu.assertEquals(exec.context.flow.variables["{{trigger.message.Body}}"], "kept")
  lu.assertNil(exec.context.flow.variables["42"])
  lu.assertEquals(bodies(sent), { "42 b {id=42, items=[a, b], z=1, a=2}" })
  -- not JSON: no failure event to take, the execution fails and says which variable
  exec = converse({
    { name = "Trigger", type = "trigger", on = { incomingMessage = "vars" } },
    { name = "vars", type = "set-variables", parse_as_json = true,
      variables = { { key = "order", value = "{oops" } }, on = { next = false } },
  })
  lu.assertTrue(exec.failed)
  lu.assertStrContains(exec.reason, "variable 'order' (parse_as_json): not JSON")
end

-- ---- split-based-on ------------------------------------------------------------------------------

TestEngineSplit = {}

local function split_flow(ctype, value)
  return {
    { name = "Trigger", type = "trigger", on = { incomingMessage = "check" } },
    { name = "check", type = "split-based-on", input = "{{trigger.message.Body}}",
      match = { { type = ctype, value = value, next = "yes" } }, on = { noMatch = "no" } },
    say("yes", "yes"), say("no", "no"),
  }
end

local function split_on(ctype, value, input)
  local exec, sent = converse(split_flow(ctype, value), { body = input })
  lu.assertNil(exec.failed, exec.reason)
  return sent[1] and sent[1].body, exec
end

-- {type, value, an input that passes, one that fails}: inputs padded and in another case
-- where it matters, since every comparison trims and ignores case
local CASES = {
  { "equal_to", "Yes", "  yES ", "yess" },
  { "not_equal_to", "yes", "no", " YES " },
  { "matches_any_of", "Agente, agent ,help", " AGENT", "agents" },
  { "does_not_match_any_of", "a,b", "c", " B" },
  { "contains", "Help", "please HELP me", "hel p" },
  { "does_not_contain", "stop", "go on", "please STOP" },
  { "starts_with", "hi", "  HIya", "oh hi" },
  { "does_not_start_with", "hi", "oh hi", " Hi there" },
  { "is_blank", "Is Blank", "   ", " x " },
  { "is_not_blank", "Is Not Blank", "x", "   " },
  { "regex", ".*yes.*", " oh YES please ", "no" },
  { "less_than", "10", " 9 ", "10" },
  { "greater_than", "3", "3.5", "3" },
  { "is_before_date", "2024-06-01", "2024-05-31", "2024-06-01" },
  { "is_after_date", "2024-06-01", " 2024-06-02 ", "2024-05-01" },
  { "is_before_time", "13:30", "09:05", "13:30" },
  { "is_after_time", "13:30", "23:59", "08:00" },
}

for _, c in ipairs(CASES) do
  TestEngineSplit["test_" .. c[1]] = function()
    lu.assertEquals(split_on(c[1], c[2], c[3]), "yes", c[1] .. " should hold for '" .. c[3] .. "'")
    lu.assertEquals(split_on(c[1], c[2], c[4]), "no", c[1] .. " should fail for '" .. c[4] .. "'")
  end
end

function TestEngineSplit.test_every_condition_type_is_covered()
  local seen = {}
  for _, c in ipairs(CASES) do seen[c[1]] = true end
  local split = require "rivulet.widgets.split_based_on"
  lu.assertEquals(#split.CONDITIONS, 17)
  for _, t in ipairs(split.CONDITIONS) do lu.assertTrue(seen[t], t) end
end

function TestEngineSplit.test_regex_matches_the_whole_input()
  lu.assertEquals(split_on("regex", "ye", "yes"), "no")
  lu.assertEquals(split_on("regex", "y(es)?", "YES"), "yes")
end

function TestEngineSplit.test_numbers_do_not_compare_letters()
  lu.assertEquals(split_on("less_than", "10", "abc"), "no")
  lu.assertEquals(split_on("greater_than", "b", "c"), "no")
end

function TestEngineSplit.test_first_match_wins()
  local exec, sent = converse({
    { name = "Trigger", type = "trigger", on = { incomingMessage = "check" } },
    { name = "check", type = "split-based-on", input = "{{trigger.message.Body}}",
      match = { { type = "contains", value = "a", next = "first" },
                { type = "equal_to", value = "abc", next = "second" } },
      on = { noMatch = "none" } },
    say("first", "first"), say("second", "second"), say("none", "none"),
  }, { body = "abc" })
  lu.assertEquals(bodies(sent), { "first" })
  lu.assertEquals(trail(exec)[2], "check -match-> first")
end

function TestEngineSplit.test_liquid_in_the_value()
  local flow = {
    { name = "Trigger", type = "trigger", on = { incomingMessage = "limit" } },
    { name = "limit", type = "set-variables", variables = { limit = "5" }, on = { next = "check" } },
    { name = "check", type = "split-based-on", input = "{{trigger.message.Body}}",
      match = { { type = "less_than", value = "{{flow.variables.limit}}", next = "low" } },
      on = { noMatch = "high" } },
    say("low", "low"), say("high", "high"),
  }
  local _, sent = converse(flow, { body = "4" })
  lu.assertEquals(bodies(sent), { "low" })
  _, sent = converse(flow, { body = "7" })
  lu.assertEquals(bodies(sent), { "high" })
end

function TestEngineSplit.test_no_match_without_a_next_ends_the_execution()
  local exec = converse({
    { name = "Trigger", type = "trigger", on = { incomingMessage = "check" } },
    { name = "check", type = "split-based-on", input = "{{trigger.message.Body}}",
      match = { { type = "equal_to", value = "x", next = "x" } }, on = { noMatch = false } },
    say("x", "x"),
  }, { body = "y" })
  lu.assertEquals(exec.status, "ended")
  lu.assertNil(exec.failed)
  lu.assertEquals(trail(exec)[2], "check -noMatch-> Ended")
end

function TestEngineSplit.test_studio_shape_conditions_with_arguments()
  -- as exported: conditions on the match transitions, arguments = [input]
  local exec, sent = converse({
    initial_state = "Trigger",
    states = {
      { name = "Trigger", type = "trigger", properties = {},
        transitions = { { event = "incomingMessage", next = "check" } } },
      { name = "check", type = "split-based-on", properties = { input = "{{trigger.message.Body}}" },
        transitions = {
          { event = "noMatch", next = "no" },
          { event = "match", next = "yes", conditions = { {
            friendly_name = "If value equal_to 1", arguments = { "{{trigger.message.Body}}" },
            type = "equal_to", value = "1" } } },
        } },
      { name = "yes", type = "send-message", properties = { body = "yes" }, transitions = { { event = "sent" } } },
      { name = "no", type = "send-message", properties = { body = "no" }, transitions = { { event = "sent" } } },
    },
  }, { body = " 1 " })
  lu.assertEquals(bodies(sent), { "yes" })
  lu.assertEquals(exec.status, "ended")
end

-- ---- run-function ---------------------------------------------------------------------------------

TestEngineRunFunction = {}

local function function_flow(url, params)
  return {
    { name = "Trigger", type = "trigger", on = { incomingMessage = "fn" } },
    { name = "fn", type = "run-function", url = url, parameters = params,
      on = { success = "ok", fail = "ko" } },
    say("ok", "ok {{widgets.fn.status_code}} {{widgets.fn.parsed.number}}"),
    say("ko", "ko {{widgets.fn.status_code}}"),
  }
end

function TestEngineRunFunction.test_success_with_parsed_body_and_status()
  local exec, sent = converse(function_flow(fx.start() .. "/json-object"))
  lu.assertEquals(bodies(sent), { "ok 200 4" })
  local w = exec.context.widgets.fn
  lu.assertEquals(w.status_code, 200)
  lu.assertStrContains(w.content_type, "application/json")
  lu.assertEquals(w.parsed.name, "dice")
  lu.assertEquals(w.parsed.nested.a, { 1, 2 })
  lu.assertEquals(json.decode(w.body).number, 4)
  lu.assertEquals(trail(exec)[2], "fn -success-> ok")
end

function TestEngineRunFunction.test_fail_on_500_with_a_reason_in_the_step()
  local exec, sent = converse(function_flow(fx.start() .. "/status/500"))
  lu.assertEquals(bodies(sent), { "ko 500" })
  lu.assertEquals(exec.steps[2].name, "fail")
  lu.assertEquals(exec.steps[2].reason, "http_status")
  lu.assertNil(exec.failed)              -- the flow handled it: the execution ends normally
end

function TestEngineRunFunction.test_fail_when_nothing_listens()
  local exec, sent = converse(function_flow("http://127.0.0.1:" .. fx.closed_port() .. "/x"))
  lu.assertEquals(exec.steps[2].name, "fail")
  lu.assertNotNil(exec.steps[2].reason)
  lu.assertStrContains(sent[1].body, "ko")
end

function TestEngineRunFunction.test_text_reply_has_a_body_and_no_parsed()
  local exec = converse(function_flow(fx.start() .. "/text"))
  local w = exec.context.widgets.fn
  lu.assertEquals(w.body, "hello")
  lu.assertNil(w.parsed)
  lu.assertEquals(exec.steps[2].name, "success")
end

function TestEngineRunFunction.test_parameters_are_rendered_and_posted_as_a_form()
  local exec = converse(function_flow(fx.start() .. "/echo",
    { min = "{{trigger.message.Body}}", max = "6" }), { body = "1" })
  local p = exec.context.widgets.fn.parsed
  lu.assertEquals(p.method, "POST")
  lu.assertEquals(p.form, { min = "1", max = "6" })
  lu.assertStrContains(p.headers["content-type"], "application/x-www-form-urlencoded")
end

function TestEngineRunFunction.test_url_map_rewrites_the_prefix()
  local exec = converse(function_flow("https://example-1234.twil.io/json-object"),
    { engine = { url_map = { ["https://example-1234.twil.io"] = fx.start() } } })
  lu.assertEquals(exec.context.widgets.fn.parsed.number, 4)
end

function TestEngineRunFunction.test_a_rerun_merges_parsed_and_a_text_reply_keeps_it()
  -- fn runs three times: /json-object, /echo (another object), /text (not JSON)
  local base = fx.start()
  local exec, sent = converse({
    { name = "Trigger", type = "trigger", on = { incomingMessage = "first" } },
    { name = "first", type = "set-variables", variables = { path = "json-object" }, on = { next = "fn" } },
    { name = "fn", type = "run-function", url = base .. "/{{flow.variables.path}}",
      on = { success = "route", fail = false } },
    { name = "route", type = "split-based-on", input = "{{flow.variables.path}}",
      match = { { type = "equal_to", value = "json-object", next = "second" },
                { type = "equal_to", value = "echo", next = "third" } },
      on = { noMatch = "done" } },
    { name = "second", type = "set-variables", variables = { path = "echo" }, on = { next = "fn" } },
    { name = "third", type = "set-variables", variables = { path = "text" }, on = { next = "fn" } },
    say("done", "{{widgets.fn.parsed.number}} {{widgets.fn.parsed.method}} {{widgets.fn.body}}"),
  })
  lu.assertEquals(count_runs(exec, "fn"), 3)
  lu.assertEquals(bodies(sent), { "4 POST hello" })
  local p = exec.context.widgets.fn.parsed
  lu.assertEquals(p.name, "dice")        -- from the first reply
  lu.assertEquals(p.path, "/echo")       -- from the second
end

-- ---- make-http-request ---------------------------------------------------------------------------

TestEngineHttpRequest = {}

local function http_flow(props)
  local s = { name = "req", type = "make-http-request", on = { success = "ok", failed = "ko" } }
  for k, v in pairs(props) do s[k] = v end
  return {
    { name = "Trigger", type = "trigger", on = { incomingMessage = "req" } },
    s, say("ok", "ok {{widgets.req.status_code}}"), say("ko", "ko {{widgets.req.status_code}}"),
  }
end

function TestEngineHttpRequest.test_get_puts_parameters_in_the_query()
  local exec, sent = converse(http_flow{ method = "GET", url = fx.start() .. "/echo",
    parameters = { q = "{{trigger.message.Body}}" } }, { body = "rivulet" })
  lu.assertEquals(bodies(sent), { "ok 200" })
  local p = exec.context.widgets.req.parsed
  lu.assertEquals(p.method, "GET")
  lu.assertEquals(p.query.q, "rivulet")
end

function TestEngineHttpRequest.test_post_form()
  local exec = converse(http_flow{ method = "POST", url = fx.start() .. "/echo",
    content_type = "application/x-www-form-urlencoded;charset=utf-8", parameters = { a = "1", b = "two words" } })
  local p = exec.context.widgets.req.parsed
  lu.assertEquals(p.method, "POST")
  lu.assertEquals(p.form, { a = "1", b = "two words" })
end

function TestEngineHttpRequest.test_post_json_body_with_liquid()
  local exec = converse(http_flow{ method = "POST", url = fx.start() .. "/echo",
    content_type = "application/json;charset=utf-8", body = '{"n": {{trigger.message.Body}}, "who": "{{contact.channel.address}}"}' },
    { body = "5" })
  local p = exec.context.widgets.req.parsed
  lu.assertEquals(p.json, { n = 5, who = FROM })
  lu.assertStrContains(p.headers["content-type"], "application/json")
end

function TestEngineHttpRequest.test_failed_on_404()
  local exec, sent = converse(http_flow{ method = "GET", url = fx.start() .. "/status/404" })
  lu.assertEquals(bodies(sent), { "ko 404" })
  lu.assertEquals(exec.steps[2].name, "failed")
end

-- ---- run-subflow --------------------------------------------------------------------------------

TestEngineSubflow = {}

local CHILD = {
  { name = "Trigger", type = "trigger", on = { incomingParent = "vars" } },
  { name = "vars", type = "set-variables",
    variables = { greeting = "Hi {{trigger.parent.parameters.name}}", said = "{{trigger.message.Body}}" },
    on = { next = "tell" } },
  say("tell", "{{flow.variables.greeting}} (child)"),
}

local BROKEN_CHILD = {
  { name = "Trigger", type = "trigger", on = { incomingParent = "boom" } },
  { name = "boom", type = "lua", source = "return function() error('child broke') end", on = { ok = false } },
}

local function parent_flow(sid)
  return {
    { name = "Trigger", type = "trigger", on = { incomingMessage = "call" } },
    { name = "call", type = "run-subflow", flow_sid = sid, flow_revision = "LatestPublished",
      parameters = { name = "{{trigger.message.Body}}" }, on = { completed = "done", failed = "oops" } },
    say("done", "{{widgets.call.greeting}}, you said {{widgets.call.said}}"),
    say("oops", "oops: {{widgets.call.reason}}"),
  }
end

function TestEngineSubflow.test_parameters_in_and_variables_out_flat()
  local exec, sent, e = converse(parent_flow("FW123"),
    { body = "Ada", engine = { subflows = { FW123 = CHILD } } })
  lu.assertEquals(bodies(sent), { "Hi Ada (child)", "Hi Ada, you said Ada" })
  lu.assertEquals(exec.status, "ended")
  lu.assertNil(exec.failed)
  lu.assertEquals(exec.context.widgets.call, { greeting = "Hi Ada", said = "Ada" })
  lu.assertEquals(trail(exec)[2], "call -completed-> done")
  local child = e:executions()[2]
  lu.assertEquals(child.context.trigger.parent.parameters, { name = "Ada" })
  lu.assertEquals(child.status, "ended")
end

-- why it failed is the step's (reason, note), never the outputs a template reads
function TestEngineSubflow.test_a_failing_subflow_takes_failed()
  local exec, sent, e = converse(parent_flow("FWbad"), { engine = { subflows = { FWbad = BROKEN_CHILD } } })
  lu.assertEquals(trail(exec)[2], "call -failed-> oops")
  lu.assertNil(exec.failed)
  lu.assertTrue(e:executions()[2].failed)
  lu.assertEquals(sent[1].body, "oops: ")
  lu.assertEquals(exec.context.widgets.call, {})
  lu.assertEquals(exec.steps[2].reason, "subflow")
  lu.assertStrContains(exec.steps[2].note, "child broke")
end

function TestEngineSubflow.test_an_unknown_subflow_takes_failed()
  local exec, sent = converse(parent_flow("FWnope"), { engine = { subflows = {} } })
  lu.assertEquals(trail(exec)[2], "call -failed-> oops")
  lu.assertEquals(sent[1].body, "oops: ")
  lu.assertEquals(exec.steps[2].reason, "no_subflow")
  lu.assertStrContains(exec.steps[2].note, "FWnope")
end

function TestEngineSubflow.test_subflows_as_a_function_and_a_file()
  local asked
  local exec = converse(parent_flow("FWfile"), { engine = { subflows = function(id)
    asked = id
    return FLOWS .. "custom_logic.lua"
  end } })
  lu.assertEquals(asked, "FWfile")
  -- custom_logic starts on incomingMessage, not incomingParent: its trigger has no
  -- transition for the event, so the child ends at once and the parent carries on
  lu.assertEquals(trail(exec)[2], "call -completed-> done")
end

-- ---- the lua widget --------------------------------------------------------------------------------

TestEngineLuaWidget = {}

local function lua_flow(widget, events)
  widget.name, widget.type = "logic", "lua"
  widget.on = {}
  for _, ev in ipairs(events or { "high", "low" }) do widget.on[ev] = ev end
  local flow = { { name = "Trigger", type = "trigger", on = { incomingMessage = "logic" } }, widget }
  for _, ev in ipairs(events or { "high", "low" }) do flow[#flow + 1] = say(ev, ev .. " {{widgets.logic.score}}") end
  return flow
end

function TestEngineLuaWidget.test_the_function_picks_the_event_and_sets_outputs()
  local flow = lua_flow{ fn = function(ctx)
    local n = tonumber(ctx.trigger.message.Body)
    return n > 5 and "high" or "low", { score = n }
  end }
  local exec, sent = converse(flow, { body = "9" })
  lu.assertEquals(bodies(sent), { "high 9" })
  lu.assertEquals(exec.context.widgets.logic, { score = 9 })
  lu.assertEquals(trail(exec)[2], "logic -high-> high")
  local _, low = converse(flow, { body = "2" })
  lu.assertEquals(bodies(low), { "low 2" })
end

function TestEngineLuaWidget.test_source_text_works_like_fn()
  local _, sent = converse(lua_flow{ source = "return function(ctx) return 'low', { score = #ctx.trigger.message.Body } end" },
    { body = "abc" })
  lu.assertEquals(bodies(sent), { "low 3" })
end

function TestEngineLuaWidget.test_a_runaway_loop_is_stopped_by_the_budget()
  local exec = converse(lua_flow{ source = "return function() while true do end end" },
    { engine = { limits = { instructions = 100000 } } })
  lu.assertEquals(exec.status, "ended")
  lu.assertTrue(exec.failed)
  lu.assertStrContains(exec.reason, "'logic'")
  lu.assertStrContains(exec.reason, "instruction budget")
end

function TestEngineLuaWidget.test_pcall_cannot_swallow_the_budget()
  local exec = converse(lua_flow{ source = [[return function()
      while true do pcall(function() while true do end end) end
    end]] }, { engine = { limits = { instructions = 100000 } } })
  lu.assertTrue(exec.failed)
  lu.assertStrContains(exec.reason, "instruction budget")
end

function TestEngineLuaWidget.test_a_global_write_fails()
  local exec = converse(lua_flow{ source = "return function() leaked = 1 return 'high' end" })
  lu.assertTrue(exec.failed)
  lu.assertStrContains(exec.reason, "global 'leaked'")
  lu.assertNil(rawget(_G, "leaked"))
end

function TestEngineLuaWidget.test_a_global_write_fails_in_a_flow_file()
  local dir = helper.tmpdir()
  local path = helper.write_file(dir .. "/g.lua", [[return {
    { name = "Trigger", type = "trigger", on = { incomingMessage = "g" } },
    { name = "g", type = "lua", fn = function() leaked = 1 return "x" end, on = { x = false } },
  }]])
  local exec = converse(assert(rivulet.load_flow(path)))
  helper.rmtree(dir)
  lu.assertTrue(exec.failed)
  lu.assertStrContains(exec.reason, "global 'leaked'")
  lu.assertNil(rawget(_G, "leaked"))
end

function TestEngineLuaWidget.test_no_io_or_os_execute_in_the_sandbox()
  local exec = converse(lua_flow{ source = "return function() io.write('x') return 'high' end" })
  lu.assertTrue(exec.failed)
  exec = converse(lua_flow{ source = "return function() os.execute('true') return 'high' end" })
  lu.assertTrue(exec.failed)
end

function TestEngineLuaWidget.test_an_error_or_no_event_fails_the_execution()
  local exec = converse(lua_flow{ fn = function() error("nope") end })
  lu.assertTrue(exec.failed)
  lu.assertStrContains(exec.reason, "nope")
  exec = converse(lua_flow{ fn = function() return nil end })
  lu.assertTrue(exec.failed)
end

function TestEngineLuaWidget.test_an_event_without_a_transition_ends_it()
  local exec = converse(lua_flow{ fn = function() return "sideways", {} end })
  lu.assertEquals(exec.status, "ended")
  lu.assertNil(exec.failed)
  lu.assertStrContains(exec.reason, "no transition for event 'sideways'")
end

function TestEngineLuaWidget.test_custom_logic_flow_file()
  local flow = assert(rivulet.load_flow(FLOWS .. "custom_logic.lua"))
  local _, sent = converse(flow, { replies = { "9/10" } })
  lu.assertEquals(bodies(sent), { "How likely are you to recommend us, from 0 to 10?", "Thank you! A 9 made our day." })
  local exec
  exec, sent = converse(flow, { replies = { "meh", "3" } })
  lu.assertEquals(sent[#sent].body, "Thanks for the 3. We will do better.")
  lu.assertEquals(exec.context.widgets.rescore, { score = 3 })
end

-- ---- guards -------------------------------------------------------------------------------------

TestEngineGuards = {}

function TestEngineGuards.test_the_same_widget_ten_times_in_a_row_ends_it()
  local exec = converse({
    { name = "Trigger", type = "trigger", on = { incomingMessage = "again" } },
    { name = "again", type = "set-variables", variables = { n = "{{flow.variables.n | plus: 1}}" },
      on = { next = "again" } },
  })
  lu.assertEquals(exec.status, "ended")
  lu.assertTrue(exec.failed)
  lu.assertStrContains(exec.reason, "'again'")
  lu.assertStrContains(exec.reason, "10 times")
  lu.assertEquals(count_runs(exec, "again"), 10)
  lu.assertEquals(exec.context.flow.variables.n, 10)
end

function TestEngineGuards.test_the_repeat_limit_is_an_option()
  local exec = converse({
    { name = "Trigger", type = "trigger", on = { incomingMessage = "again" } },
    { name = "again", type = "set-variables", variables = { n = "1" }, on = { next = "again" } },
  }, { engine = { limits = { same_widget = 3 } } })
  lu.assertTrue(exec.failed)
  lu.assertEquals(count_runs(exec, "again"), 3)
end

function TestEngineGuards.test_a_thousand_steps_end_it()
  local exec = converse({
    { name = "Trigger", type = "trigger", on = { incomingMessage = "ping" } },
    { name = "ping", type = "set-variables", variables = { a = "1" }, on = { next = "pong" } },
    { name = "pong", type = "set-variables", variables = { b = "1" }, on = { next = "ping" } },
  })
  lu.assertTrue(exec.failed)
  lu.assertStrContains(exec.reason, "1000 steps")
  lu.assertEquals(#exec.steps, 1000)
end

function TestEngineGuards.test_an_event_with_no_transition_ends_it()
  local exec = converse({
    { name = "Trigger", type = "trigger", on = { incomingMessage = "hello" } },
    { name = "hello", type = "send-message", body = "hello", on = {} },
  })
  lu.assertEquals(exec.status, "ended")
  lu.assertNil(exec.failed)
  lu.assertStrContains(exec.reason, "no transition for event 'sent'")
end

function TestEngineGuards.test_a_trigger_event_the_flow_does_not_handle_ends_it()
  local exec = converse(ASK, { trigger = { event = "incomingCall", from = FROM, to = TO } })
  lu.assertEquals(exec.status, "ended")
  lu.assertEquals(#exec.steps, 1)
end

function TestEngineGuards.test_one_active_execution_per_contact()
  local e = rivulet.engine{}
  local first = assert(e:start(ASK, { from = FROM, to = TO }))
  local second, err = e:start(ASK, { from = FROM, to = TO })
  lu.assertNil(second)
  lu.assertStrContains(err, first.sid)
  -- another contact, or the same contact on another number, is another conversation
  lu.assertNotNil(e:start(ASK, { from = "+15550002222", to = TO }))
  lu.assertNotNil(e:start(ASK, { from = FROM, to = "+15558880000" }))
  -- once the first ends, the contact can start again
  e:timeout(first)
  lu.assertEquals(first.status, "ended")
  lu.assertNotNil(e:start(ASK, { from = FROM, to = TO }))
end

function TestEngineGuards.test_the_retry_counter_gives_up_after_four_tries()
  local flow = assert(rivulet.load_flow(FLOWS .. "retry_counter.lua"))
  local exec, sent = converse(flow, { engine = { url_map = {
    ["https://example-1234.twil.io/generate-random-number"] = fx.start() .. "/status/500" } } })
  lu.assertEquals(exec.status, "ended")
  lu.assertNil(exec.failed)
  lu.assertEquals(count_runs(exec, "get_num"), 4)
  lu.assertEquals(exec.context.flow.variables.count, 4)   -- a number: Set Variables type-casts
  lu.assertEquals(bodies(sent), { "Sorry, the number service failed 4 times. Please try again later." })
  lu.assertEquals(exec.steps[#exec.steps - 1].transitioned_to, "give_up")
end

function TestEngineGuards.test_the_retry_counter_succeeds_at_once_when_the_function_works()
  local flow = assert(rivulet.load_flow(FLOWS .. "retry_counter.lua"))
  local exec, sent = converse(flow, { engine = { url_map = {
    ["https://example-1234.twil.io/generate-random-number"] = fx.start() .. "/json-object" } } })
  lu.assertEquals(bodies(sent), { "Your random number is 4" })
  lu.assertNil(exec.context.flow.variables.count)
end

-- ---- triggers, context and the record --------------------------------------------------------------

TestEngineTriggers = {}

local function echo_flow(event, body)
  return {
    { name = "Trigger", type = "trigger", on = { [event] = "tell" } },
    say("tell", body),
  }
end

function TestEngineTriggers.test_rest_trigger_parameters_are_flow_data()
  -- Studio's Executions API: From is the flow's own number, To the contact
  local exec, sent = converse(echo_flow("incomingRequest", "Hello {{flow.data.name}} ({{trigger.request.parameters.n}})"),
    { trigger = { event = "incomingRequest", from = TO, to = FROM, parameters = { name = "Ada", n = "3" } } })
  lu.assertEquals(bodies(sent), { "Hello Ada (3)" })
  lu.assertEquals(sent[1].to, FROM)
  lu.assertEquals(exec.context.flow.data, { name = "Ada", n = "3" })
  lu.assertEquals(exec.context.contact.channel.address, FROM)
  lu.assertEquals(exec.context.flow.channel.address, TO)
end

function TestEngineTriggers.test_message_trigger_has_no_flow_data()
  local exec = converse(echo_flow("incomingMessage", "{{trigger.message.From}} {{trigger.message.Body}}"),
    { body = "yo" })
  lu.assertEquals(exec.context.widgets.tell.outbound.Body, FROM .. " yo")
  lu.assertEquals(exec.context.flow.data, {})
  lu.assertEquals(exec.context.trigger.message.To, TO)
end

function TestEngineTriggers.test_call_and_conversation_triggers()
  local exec = converse(echo_flow("incomingCall", "{{trigger.call.From}} {{trigger.call.CallStatus}}"),
    { trigger = { event = "incomingCall", from = FROM, to = TO } })
  lu.assertEquals(exec.context.widgets.tell.outbound.Body, FROM .. " ringing")
  exec = converse(echo_flow("incomingConversationMessage", "{{trigger.conversation.Body}}"),
    { trigger = { event = "incomingConversationMessage", from = FROM, to = TO, body = "chat" } })
  lu.assertEquals(exec.context.widgets.tell.outbound.Body, "chat")
end

-- every field Twilio posts (SERVING.md §2.2: the 19 fields of a captured SMS webhook; the
-- voice webhook's call, party and geography fields; REFERENCE.md §3's conversation fields),
-- the account the engine runs for, and what the caller gave kept over the defaults
local SMS_FIELDS = { "ToCountry", "ToState", "SmsMessageSid", "NumMedia", "ToCity", "FromZip", "SmsSid",
  "FromState", "SmsStatus", "FromCity", "Body", "FromCountry", "To", "ToZip", "NumSegments", "MessageSid",
  "AccountSid", "From", "ApiVersion" }
local CALL_FIELDS = { "AccountSid", "ApiVersion", "CallSid", "CallStatus", "Called", "Caller", "Direction", "From",
  "To", "FromCity", "FromState", "FromZip", "FromCountry", "ToCity", "ToState", "ToZip", "ToCountry", "CallerCity",
  "CallerState", "CallerZip", "CallerCountry", "CalledCity", "CalledState", "CalledZip", "CalledCountry" }
local CONVERSATION_FIELDS = { "AccountSid", "Author", "Body", "ChannelSid", "ConversationSid", "DateCreated",
  "From", "MessageSid", "MessagingServiceSid", "ParticipantSid", "EventType", "Source", "Index", "Attributes",
  "ChatServiceSid" }

local function keys_of(t)
  local k = {}
  for name in pairs(t) do k[#k + 1] = name end
  table.sort(k)
  return k
end

local function sorted(list)
  local c = { table.unpack(list) }
  table.sort(c)
  return c
end

function TestEngineTriggers.test_trigger_fields_are_what_twilio_posts()
  local AC = "AC" .. string.rep("ab", 16)
  local exec = converse(echo_flow("incomingMessage", "{{trigger.message.AccountSid}}"),
    { engine = { account_sid = AC }, body = "yo" })
  local m = exec.context.trigger.message
  lu.assertEquals(keys_of(m), sorted(SMS_FIELDS))
  lu.assertEquals(exec.context.widgets.tell.outbound.Body, AC)
  lu.assertEquals(m.SmsSid, m.MessageSid)
  lu.assertEquals(m.SmsMessageSid, m.MessageSid)
  lu.assertEquals({ m.SmsStatus, m.NumSegments, m.ApiVersion }, { "received", "1", "2010-04-01" })

  exec = converse(echo_flow("incomingCall", "{{trigger.call.AccountSid}} {{trigger.call.Caller}}"),
    { engine = { account_sid = AC }, trigger = { event = "incomingCall", from = FROM, to = TO,
                                                   call = { CallerName = "Ada", FromCity = "Paris" } } })
  local c = exec.context.trigger.call
  local want = sorted(CALL_FIELDS)
  want[#want + 1] = "CallerName"                 -- given: kept, as every field Twilio adds
  table.sort(want)
  lu.assertEquals(keys_of(c), want)
  lu.assertEquals(exec.context.widgets.tell.outbound.Body, AC .. " " .. FROM)
  lu.assertEquals(c.FromCity, "Paris")
  lu.assertEquals(c.Called, TO)

  -- the conversation's contact is its Author
  exec = converse(echo_flow("incomingConversationMessage", "{{trigger.conversation.Author}}"),
    { trigger = { event = "incomingConversationMessage", from = FROM, to = TO, body = "chat" } })
  c = exec.context.trigger.conversation
  lu.assertEquals(keys_of(c), sorted(CONVERSATION_FIELDS))
  lu.assertEquals(exec.context.widgets.tell.outbound.Body, FROM)
  lu.assertEquals(c.AccountSid, "AC" .. string.rep("0", 32))        -- no account set
  lu.assertEquals(c.ChannelSid, c.ConversationSid)
  lu.assertStrMatches(c.DateCreated, "%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ")
  lu.assertEquals(exec.context.contact.channel.address, FROM)
  exec = converse(echo_flow("incomingConversationMessage", "{{trigger.conversation.Author}}"),
    { trigger = { event = "incomingConversationMessage", to = TO, conversation = { Author = "ada@example.com" } } })
  lu.assertEquals(exec.context.contact.channel.address, "ada@example.com")
end

function TestEngineTriggers.test_an_unknown_trigger_event_is_an_error()
  local e = rivulet.engine{}
  lu.assertErrorMsgContains("unknown trigger event", e.start, e, ASK, { event = "incomingPigeon" })
end

function TestEngineTriggers.test_callbacks_see_steps_and_the_end()
  local steps, ended = {}, {}
  local e = rivulet.engine{
    on_step = function(_, s) steps[#steps + 1] = s.transitioned_from .. ">" .. s.transitioned_to end,
    on_end = function(x) ended[#ended + 1] = x.sid end,
  }
  local exec = assert(e:start(echo_flow("incomingMessage", "hi"), { from = FROM, to = TO }))
  lu.assertEquals(steps, { "Trigger>tell", "tell>Ended" })
  lu.assertEquals(ended, { exec.sid })
end

function TestEngineTriggers.test_the_execution_record()
  local flow = assert(rivulet.load_flow(FLOWS .. "random_number.lua"))
  local exec = converse(flow, { replies = { "1", "6" }, engine = { url_map = {
    ["https://example-1234.twil.io"] = fx.start() .. "/json-object?" } } })
  local r = rivulet.record(exec)
  lu.assertStrMatches(r.sid, "FN" .. ("%x"):rep(32))
  lu.assertEquals(r.sid, exec.sid)
  lu.assertEquals(r.status, "ended")
  lu.assertStrContains(r.reason, "send_num")
  lu.assertStrContains(r.flow, "random_number")
  local want = {
    { "incomingMessage", "trigger", "Trigger", "min_value" },
    { "incomingMessage", "send-and-wait-for-reply", "min_value", "max_value" },
    { "incomingMessage", "send-and-wait-for-reply", "max_value", "get_num" },
    { "success", "run-function", "get_num", "send_num" },
    { "sent", "send-message", "send_num", "Ended" },
  }
  lu.assertEquals(#r.steps, #want)
  for i, s in ipairs(r.steps) do
    lu.assertStrMatches(s.sid, "FT" .. ("%x"):rep(32))
    lu.assertEquals({ s.name, s.type, s.transitioned_from, s.transitioned_to }, want[i])
  end
  for _, k in ipairs{ "flow", "trigger", "contact", "widgets" } do lu.assertIsTable(r.context[k], k) end
  lu.assertEquals(r.context.widgets.get_num.parsed.number, 4)
  lu.assertEquals(r.context.flow.sid, r.sid)
  -- plain data: it survives JSON
  local back = json.decode(assert(json.encode(r)))
  lu.assertEquals(back.sid, r.sid)
  lu.assertEquals(#back.steps, #want)
end

function TestEngineTriggers.test_sids_are_unique()
  local e = rivulet.engine{}
  local seen = {}
  for i = 1, 50 do
    local x = assert(e:start(echo_flow("incomingMessage", "hi"), { from = "+1555000" .. i, to = TO }))
    lu.assertNil(seen[x.sid])
    seen[x.sid] = true
    for _, s in ipairs(x.steps) do lu.assertNil(seen[s.sid]) seen[s.sid] = true end
  end
end

-- Studio: flow.flow_sid is the Flow's SID (REFERENCE.md §3), the same for each of its
-- executions; a flow loaded without one gets one at its first execution, kept for it
function TestEngineTriggers.test_a_flow_keeps_one_sid()
  local e = rivulet.engine{}
  local flow = rivulet.load_flow{ description = "sid",
    { name = "Trigger", type = "trigger", on = { incomingMessage = "say" } },
    { name = "say", type = "send-message", body = "{{ flow.flow_sid }}" } }
  lu.assertNil(flow.sid)
  local a = assert(e:start(flow, { from = "+15550001", to = TO }))
  local b = assert(rivulet.engine{}:start(flow, { from = "+15550002", to = TO }))
  lu.assertStrMatches(a.flow_sid, "FW" .. ("%x"):rep(32))
  lu.assertEquals(b.flow_sid, a.flow_sid)
  lu.assertEquals(a.context.flow.flow_sid, a.flow_sid)
  lu.assertEquals(b.context.widgets.say.outbound.Body, a.flow_sid)
  lu.assertNotEquals(a.sid, b.sid)
  -- another flow, another SID; a flow with its own keeps it
  local other = assert(e:start(echo_flow("incomingMessage", "hi"), { from = "+15550003", to = TO }))
  lu.assertNotEquals(other.flow_sid, a.flow_sid)
  local own = rivulet.load_flow{ description = "own", sid = "FW" .. ("ab"):rep(16),
    { name = "Trigger", type = "trigger" } }
  lu.assertEquals(assert(e:start(own, { from = "+15550004", to = TO })).flow_sid, "FW" .. ("ab"):rep(16))
end

-- ---- the example flows ----------------------------------------------------------------------------

TestEngineExampleFlows = {}

-- Studio's canvas and Console bookkeeping: no effect on a run
local IGNORED = { offset = true, service = true, channel = true, service_sid = true, environment_sid = true,
                  function_sid = true }

-- a flow as comparable data: states in order, transitions sorted, list properties as maps
local function model(flow)
  local out = { initial_state = flow.initial_state, states = {} }
  for i, s in ipairs(flow.states) do
    local tr = {}
    for j, t in ipairs(s.transitions) do
      tr[j] = { event = t.event, next = t.next, conditions = t.conditions }
    end
    table.sort(tr, function(a, b) return a.event .. tostring(a.next) < b.event .. tostring(b.next) end)
    local props = {}
    for k, v in pairs(s.properties) do
      if not IGNORED[k] then
        if type(v) == "table" and v[1] and v[1].key then
          local m = {}
          for _, kv in ipairs(v) do m[kv.key] = kv.value end
          v = m
        end
        props[k] = v
      end
    end
    out.states[i] = { name = s.name, type = s.type, transitions = tr, properties = props }
  end
  return out
end

function TestEngineExampleFlows.test_random_number_lua_and_json_are_the_same_flow()
  local from_lua = assert(rivulet.load_flow(FLOWS .. "random_number.lua"))
  local json_flow = assert(rivulet.load_flow(FLOWS .. "random_number.json"))
  lu.assertEquals(model(from_lua), model(json_flow))
  lu.assertEquals(#json_flow.states, 6)
  lu.assertEquals(json_flow.initial_state, "Trigger")
end

function TestEngineExampleFlows.test_random_number_json_is_shaped_like_a_studio_export()
  local t = assert(json.decode(assert(helper.read_file(FLOWS .. "random_number.json"))))
  lu.assertIsString(t.description)
  lu.assertEquals(t.initial_state, "Trigger")
  lu.assertEquals(t.flags, { allow_concurrent_calls = true })
  for _, s in ipairs(t.states) do
    lu.assertIsTable(s.properties.offset, s.name)
    lu.assertIsNumber(s.properties.offset.x, s.name)
    lu.assertIsTable(s.transitions, s.name)
  end
  local fn = t.states[4]
  lu.assertEquals(fn.type, "run-function")
  lu.assertEquals(fn.properties.url, "https://example-1234.twil.io/generate-random-number")
  lu.assertEquals(fn.properties.parameters, {
    { key = "min", value = "{{widgets.min_value.inbound.Body}}" },
    { key = "max", value = "{{widgets.max_value.inbound.Body}}" },
  })
  -- fail goes to an apology, never back onto get_num
  for _, tr in ipairs(fn.transitions) do lu.assertNotEquals(tr.next, "get_num") end
end

function TestEngineExampleFlows.test_example_flows_validate()
  if not rivulet.validate then lu.skip("rivulet.validate is not there yet") end
  for _, f in ipairs{ "random_number.lua", "random_number.json", "retry_counter.lua", "custom_logic.lua" } do
    local ok, problems = rivulet.validate(assert(rivulet.load_flow(FLOWS .. f)))
    local errors = {}
    for _, p in ipairs(problems or {}) do
      if p.severity == "error" or p.level == "error" then errors[#errors + 1] = p.message or tostring(p) end
    end
    lu.assertTrue(ok, f .. ": " .. table.concat(errors, "; "))
  end
end

-- Subflows from a folder: FLOW_SID.lua (or .json) inside it
TestEngineSubflowFolder = {}

function TestEngineSubflowFolder:test_a_folder_of_subflows()
  local dir = helper.tmpdir()
  helper.write_file(dir .. "/FWchild.lua", [[
return {
  { name = "Trigger", type = "trigger", on = { incomingParent = "set" } },
  { name = "set", type = "set-variables", variables = { got = "{{ trigger.parent.parameters.x }}!" } },
}]])
  local sent = {}
  local e = rivulet.engine{ subflows = dir, on_message = function(_, m) sent[#sent + 1] = m.body end }
  local x = assert(e:start({
    { name = "Trigger", type = "trigger", on = { incomingMessage = "call" } },
    { name = "call", type = "run-subflow", flow_sid = "FWchild", parameters = { x = "hey" },
      on = { completed = "say", failed = "oops" } },
    { name = "say", type = "send-message", body = "sub said {{ widgets.call.got }}" },
    { name = "oops", type = "send-message", body = "no subflow" },
  }, { from = FROM, to = TO }))
  lu.assertEquals(sent, { "sub said hey!" })
  lu.assertEquals(x.status, "ended")
  -- a sid that is not a plain name never reaches the file system
  local y = assert(e:start({
    { name = "Trigger", type = "trigger", on = { incomingMessage = "call" } },
    { name = "call", type = "run-subflow", flow_sid = "../FWchild", on = { failed = "oops" } },
    { name = "oops", type = "send-message", body = "no subflow" },
  }, { from = FROM .. "9", to = TO }))
  lu.assertEquals(sent[2], "no subflow")
  lu.assertEquals(y.steps[2].reason, "no_subflow")
  helper.cleanup()
end

-- ---- the one door: handle(event) and its result codes --------------------------------------

TestEngineHandle = {}

function TestEngineHandle.test_a_message_starts_then_resumes_then_ends()
  local sent = {}
  local e = rivulet.engine{ on_message = function(_, m) sent[#sent + 1] = m.body end }
  local r = e:handle{ kind = "message", flow = ASK, from = FROM, to = TO, body = "hello" }
  lu.assertEquals(r.code, "started")
  lu.assertEquals(r.sid, r.exec.sid)
  lu.assertEquals(r.exec.context.trigger.message.Body, "hello")
  r = e:handle{ kind = "message", flow = ASK, from = FROM, to = TO, body = "Ada",
                fields = { MessageSid = "SM" .. string.rep("a", 32), NumSegments = "1" } }
  lu.assertEquals(r.code, "resumed")
  lu.assertEquals(r.exec.status, "ended")
  lu.assertEquals(r.exec.context.widgets.ask.inbound.MessageSid, "SM" .. string.rep("a", 32))
  lu.assertEquals(r.exec.context.widgets.ask.inbound.NumSegments, "1", "every posted field is kept")
  lu.assertEquals(sent, { "Name?", "Hi Ada" })
end

function TestEngineHandle.test_none_without_a_flow_and_conflict_with_the_active_sid()
  local e = rivulet.engine{}
  local r = e:handle{ kind = "message", from = FROM, to = TO, body = "x" }
  lu.assertEquals(r.code, "none")
  local first = e:handle{ kind = "start", flow = ASK, trigger = { from = FROM, to = TO } }
  lu.assertEquals(first.code, "started")
  r = e:handle{ kind = "start", flow = ASK, trigger = { from = FROM, to = TO } }
  lu.assertEquals(r.code, "conflict")
  lu.assertEquals(r.active_sid, first.sid)
  lu.assertStrContains(r.message, first.sid)
  -- another contact is not in the way
  lu.assertEquals(e:handle{ kind = "start", flow = ASK, trigger = { from = "+15550002222", to = TO } }.code, "started")
end

function TestEngineHandle.test_not_waiting_and_busy()
  local base = fx.start()
  local e = rivulet.engine{}
  local flow = {
    { name = "Trigger", type = "trigger", on = { incomingMessage = "call" } },
    { name = "call", type = "run-function", url = base .. "/slow/200", on = { success = "ask", fail = "ask" } },
    { name = "ask", type = "send-and-wait-for-reply", body = "Name?", on = { incomingMessage = false } },
  }
  lu.assertEquals(e:handle{ kind = "start", flow = flow, trigger = { from = FROM, to = TO } }.code, "started")
  local r = e:handle{ kind = "message", from = FROM, to = TO, body = "early" }
  lu.assertEquals(r.code, "not_waiting", "a reply while the function runs is ignored, as Studio does")
  e:run()
  -- a reply handed in while the execution is between two steps (from a callback) is busy
  local inner, e2
  e2 = rivulet.engine{ on_message = function()
    inner = inner or e2:handle{ kind = "message", from = FROM, to = TO, body = "now" }
  end }
  e2:handle{ kind = "start", flow = ASK, trigger = { from = FROM, to = TO } }
  lu.assertEquals(inner.code, "busy")
end

function TestEngineHandle.test_timeout_and_tick()
  local clock = 1000
  local e = rivulet.engine{ now = function() return clock end }
  local a = e:handle{ kind = "start", flow = ASK, trigger = { from = FROM, to = TO } }
  local b = e:handle{ kind = "start", flow = ASK, trigger = { from = "+15550002222", to = TO } }
  local r = e:handle{ kind = "timeout", sid = a.sid }
  lu.assertEquals(r.code, "timed_out")
  lu.assertEquals(a.exec.status, "ended")
  lu.assertEquals(e:handle{ kind = "timeout", sid = a.sid }.code, "none")
  lu.assertEquals(e:handle{ kind = "tick" }.fired, 0)
  clock = clock + 61                      -- ASK's timeout is 60 s
  r = e:handle{ kind = "tick" }
  lu.assertEquals(r.code, "ticked")
  lu.assertEquals(r.fired, 1)
  lu.assertEquals(b.exec.status, "ended")
end

function TestEngineHandle.test_bad_input_names_the_field()
  local e = rivulet.engine{}
  local cases = {
    { { kind = "start", flow = ASK, trigger = { event = "incomingPigeon" } }, "trigger.event: unknown trigger event 'incomingPigeon'" },
    { { kind = "start", flow = ASK, trigger = { event = 7 } }, "trigger.event" },
    { { kind = "start", flow = ASK, trigger = { from = {} } }, "trigger.from must be a string" },
    { { kind = "start", flow = ASK, trigger = { body = 1 } }, "trigger.body must be a string" },
    { { kind = "start", flow = ASK, trigger = { parameters = "x" } }, "trigger.parameters must be a table" },
    { { kind = "start", flow = ASK }, "needs a trigger" },
    { { kind = "message", from = FROM, to = TO, body = false }, "body must be a string" },
    { { kind = "message", from = FROM, to = TO, fields = "x" }, "fields must be a table" },
  }
  for _, c in ipairs(cases) do
    local r = e:handle(c[1])
    lu.assertEquals(r.code, "bad_input", c[2])
    lu.assertStrContains(r.message, c[2])
  end
  local r = e:handle{ kind = "start", flow = "/nonexistent/flow.json", trigger = {} }
  lu.assertEquals(r.code, "bad_input")
  lu.assertStrContains(r.message, "/nonexistent/flow.json")
  lu.assertErrorMsgContains("unknown event kind 'poke'", e.handle, e, { kind = "poke" })
  lu.assertErrorMsgContains("handle expects an event table", e.handle, e, "x")
end

-- ---- outbound messages through Twilio's Messages API (engine option twilio) ---------------

TestEngineOutbound = {}

local API = { url = "http://127.0.0.1:9", account_sid = "AC" .. string.rep("1", 32), auth_token = "tok",
              status_callback = function(x) return "http://rivulet.test/status/" .. x.sid end }

-- an HTTP client answering each request with the next reply of `replies` (as the Messages
-- API would), recording what was asked
local function fake_api(replies)
  local client, asked, done = {}, {}, {}
  local Done = { done = function() return true end, outcome = function(c) return c.o end }
  Done.__index = Done
  function client.http_request(_, args)
    asked[#asked + 1] = args
    if args.tag ~= nil then done[#done + 1] = args.tag end
    local r = table.remove(replies, 1) or { status = 201, json = { sid = "SM" .. string.rep("f", 32), status = "queued" } }
    return setmetatable({ o = rivulet.http.simulate("http_request", r) }, Done)
  end
  function client.poll() return 0 end
  function client.finished()
    local list = done
    done = {}
    return list[1] and list or nil
  end
  return client, asked
end

local function params_of(args)
  local m = {}
  for _, kv in ipairs(args.parameters) do m[kv.key] = m[kv.key] and (m[kv.key] .. "|" .. kv.value) or kv.value end
  return m
end

function TestEngineOutbound.test_send_message_posts_to_the_messages_api()
  local client, asked = fake_api{ { status = 201, json = { sid = "SM" .. string.rep("a", 32), status = "queued",
                                                          num_segments = "1", account_sid = API.account_sid } } }
  local e = rivulet.engine{ http = client, twilio = API }
  local r = e:handle{ kind = "start", trigger = { from = FROM, to = TO }, flow = {
    { name = "Trigger", type = "trigger", on = { incomingMessage = "tell" } },
    { name = "tell", type = "send-message", body = "Hi {{contact.channel.address}}",
      media_url = "https://example.com/a.png", on = { sent = false, failed = false } },
  } }
  e:run()
  lu.assertEquals(r.exec.status, "ended")
  lu.assertEquals(#asked, 1)
  lu.assertEquals(asked[1].method, "POST")
  lu.assertEquals(asked[1].url, API.url .. "/2010-04-01/Accounts/" .. API.account_sid .. "/Messages.json")
  lu.assertEquals(asked[1].basic_auth, API.account_sid .. ":tok")
  lu.assertEquals(params_of(asked[1]), { To = FROM, From = TO, Body = "Hi " .. FROM,
    MediaUrl = "https://example.com/a.png", StatusCallback = "http://rivulet.test/status/" .. r.sid })
  local out = r.exec.context.widgets.tell.outbound
  lu.assertEquals(out.Sid, "SM" .. string.rep("a", 32))
  lu.assertEquals(out.Status, "queued")
  lu.assertEquals(out.NumSegments, "1")
  lu.assertEquals(out.AccountSid, API.account_sid)
  lu.assertEquals(r.exec.steps[#r.exec.steps].name, "sent")
end

function TestEngineOutbound.test_a_refused_message_takes_failed_with_twilios_reason()
  local client = fake_api{ { status = 400, json = { code = 21211, message = "The 'To' number is not valid",
                                                   more_info = "https://www.twilio.com/docs/errors/21211", status = 400 } },
                           { reason = "connect_failed", message = "connection refused" } }
  local e = rivulet.engine{ http = client, twilio = API }
  local flow = {
    { name = "Trigger", type = "trigger", on = { incomingMessage = "tell" } },
    { name = "tell", type = "send-message", body = "x", on = { sent = false, failed = "sorry" } },
    { name = "sorry", type = "set-variables", variables = { { key = "why", value = "{{widgets.tell.message}}" } },
      on = { next = false } },
  }
  local r = e:handle{ kind = "start", flow = flow, trigger = { from = FROM, to = TO } }
  e:run()
  lu.assertEquals(r.exec.steps[2].name, "failed")
  lu.assertEquals(r.exec.steps[2].reason, "http_status")
  lu.assertStrContains(r.exec.steps[2].note, "The 'To' number is not valid (error 21211)")
  lu.assertEquals(r.exec.context.flow.variables.why, "")        -- not in the outputs
  r = e:handle{ kind = "start", flow = flow, trigger = { from = "+15550002222", to = TO } }
  e:run()
  lu.assertEquals(r.exec.steps[2].name, "failed")
  lu.assertEquals(r.exec.steps[2].reason, "connect_failed")
  lu.assertEquals(r.exec.context.widgets.tell, {})
end

function TestEngineOutbound.test_send_and_wait_watches_its_message_delivery()
  local client = fake_api{}
  local e = rivulet.engine{ http = client, twilio = API }
  local flow = {
    { name = "Trigger", type = "trigger", on = { incomingMessage = "ask" } },
    { name = "ask", type = "send-and-wait-for-reply", body = "Name?",
      on = { incomingMessage = false, timeout = false, deliveryFailure = "oops" } },
    { name = "oops", type = "set-variables", variables = { { key = "why", value = "{{widgets.ask.message}}" } },
      on = { next = false } },
  }
  local r = e:handle{ kind = "start", flow = flow, trigger = { from = FROM, to = TO } }
  e:run()
  local w = r.exec.wait
  lu.assertEquals(w.kind, "reply")
  lu.assertEquals(w.watch, "SM" .. string.rep("f", 32))
  lu.assertEquals(e:handle{ kind = "status", message_sid = w.watch, status = "delivered" }.code, "noted")
  lu.assertEquals(e:handle{ kind = "status", message_sid = "SM" .. string.rep("0", 32), status = "failed" }.code, "none")
  local s = e:handle{ kind = "status", message_sid = w.watch, status = "undelivered", error_code = "30003" }
  lu.assertEquals(s.code, "resumed")
  lu.assertEquals(r.exec.status, "ended")
  lu.assertEquals(r.exec.steps[2].name, "deliveryFailure")
  lu.assertEquals(r.exec.steps[2].reason, "delivery")
  lu.assertStrContains(r.exec.steps[2].note, "undelivered (MessageStatus, ErrorCode 30003)")
  lu.assertEquals(r.exec.context.flow.variables.why, "")
  -- a refused prompt is a delivery failure too; a delivered one waits for the reply as usual
  client = fake_api{ { status = 500, body = "oops" } }
  e = rivulet.engine{ http = client, twilio = API }
  r = e:handle{ kind = "start", flow = flow, trigger = { from = FROM, to = TO } }
  e:run()
  lu.assertEquals(r.exec.steps[2].name, "deliveryFailure")
  e = rivulet.engine{ http = fake_api{}, twilio = API }
  r = e:handle{ kind = "start", flow = flow, trigger = { from = FROM, to = TO } }
  e:run()
  lu.assertEquals(e:handle{ kind = "message", from = FROM, to = TO, body = "Ada" }.code, "resumed")
  lu.assertEquals(r.exec.steps[2].name, "incomingMessage")
  lu.assertEquals(r.exec.context.widgets.ask.outbound.Sid, "SM" .. string.rep("f", 32))
end

function TestEngineOutbound.test_end_stops_an_execution_wherever_it_stands()
  local e = rivulet.engine{}
  local r = e:handle{ kind = "start", flow = ASK, trigger = { from = FROM, to = TO } }
  local x = e:handle{ kind = "end", sid = r.sid, reason = "ended through the REST API" }
  lu.assertEquals(x.code, "ended")
  lu.assertEquals(r.exec.status, "ended")
  lu.assertEquals(r.exec.reason, "ended through the REST API")
  lu.assertNil(r.exec.failed)
  lu.assertEquals(e:handle{ kind = "end", sid = r.sid }.code, "none")
  -- the contact may start again
  lu.assertEquals(e:handle{ kind = "start", flow = ASK, trigger = { from = FROM, to = TO } }.code, "started")
end

-- A reply can overtake the Messages API's answer to the prompt it replies to (a fast
-- contact, an auto-responder): it is held, and taken once the prompt is sent, instead of
-- being dropped as a reply to a widget that is not waiting yet.
function TestEngineOutbound.test_a_reply_before_the_prompt_is_sent_is_held()
  local answered = false
  local client = fake_api{}
  local real_poll = client.poll
  local e = rivulet.engine{ http = client, twilio = API }
  local orig_finished = client.finished
  function client.finished() if answered then return orig_finished() end return nil end
  local r = e:handle{ kind = "start", flow = ASK, trigger = { from = FROM, to = TO } }
  lu.assertEquals(r.exec.wait.kind, "http", "the prompt is on its way")
  local h = e:handle{ kind = "message", from = FROM, to = TO, body = "Ada" }
  lu.assertEquals(h.code, "held")
  lu.assertEquals(e:handle{ kind = "message", from = FROM, to = TO, body = "again" }.code, "not_waiting",
    "one reply is held, not two")
  answered = true
  real_poll()
  e:run()
  lu.assertEquals(r.exec.status, "ended")
  lu.assertEquals(r.exec.steps[2].name, "incomingMessage")
  lu.assertEquals(r.exec.context.widgets.ask.inbound.Body, "Ada")
end
