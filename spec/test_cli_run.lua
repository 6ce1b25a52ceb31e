-- `rivulet run` and `rivulet graph` through the host binary (spec/helper.lua's run helper):
-- the example flows run non-interactively (--reply, --replies, stdin), the summary line,
-- exit statuses 0/1/2, --log, the auth token kept out of every output, and DOT output.
-- HTTP goes to the loopback fixture server; the seed's flow against real twilio-run is
-- TestCliRunTwilio (skipped only when node is missing).

local lu = require "luaunit"
local helper = require "spec.helper"
local fx = require "spec.http_fixture"
local json = require "rivulet.json"

local FLOWS = helper.root .. "/flows/"
local FN_URL = "https://example-1234.twil.io/generate-random-number"
local TOKEN = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"

-- `rivulet run ARGS...` -> code, stdout, stderr. The environment never carries a token
-- unless the test gives one.
local function run(args, stdin_text, env)
  local argv = { "run" }
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  env = env or {}
  if env.RIVULET_AUTH_TOKEN == nil then env.RIVULET_AUTH_TOKEN = "" end
  return helper.run(argv, stdin_text, env)
end

-- the --map-url sending the seed's function to the fixture's `path`
local function map_fn(path)
  return "--map-url", FN_URL .. "=" .. fx.start() .. path
end

local function lines(s)
  local out = {}
  for l in s:gmatch("([^\n]*)\n") do out[#out + 1] = l end
  return out
end

local function last_line(s)
  local t = lines(s)
  return t[#t]
end

local function assert_summary(err, reason_part)
  local l = last_line(err)
  lu.assertStrMatches(l, "execution FN" .. ("%x"):rep(32) .. " ended: .*")
  if reason_part then lu.assertStrContains(l, reason_part) end
end

local TRANSCRIPT = {
  "> What is the minimum number?", "< 1", "> What is the maximum number?", "< 6",
  "> Your random number is 4",
}

TestCliRun = {}

function TestCliRun.tearDown()
  helper.cleanup()
end

function TestCliRun.test_random_number_with_replies()
  local code, out, err = run({ FLOWS .. "random_number.lua", "--reply", "1", "--reply", "6", map_fn("/json-object") })
  lu.assertEquals(code, 0, err)
  lu.assertEquals(lines(out), TRANSCRIPT)
  assert_summary(err, "'send_num' ended the flow on 'sent'")
end

function TestCliRun.test_the_json_export_runs_the_same_conversation()
  local code, out, err = run({ FLOWS .. "random_number.json", "--reply", "1", "--reply", "6", map_fn("/json-object") })
  lu.assertEquals(code, 0, err)
  lu.assertEquals(lines(out), TRANSCRIPT)
end

function TestCliRun.test_replies_file_and_options_after_flow_or_before()
  local dir = helper.tmpdir()
  local file = helper.write_file(dir .. "/replies.txt", "1\r\n6\n")
  local m1, m2 = map_fn("/json-object")
  local code, out, err = run({ "--replies", file, m1, m2, FLOWS .. "random_number.lua" })
  lu.assertEquals(code, 0, err)
  lu.assertEquals(lines(out), TRANSCRIPT)
end

function TestCliRun.test_replies_from_stdin_after_the_scripted_ones()
  local code, out, err = run({ FLOWS .. "random_number.lua", "--reply", "1", map_fn("/json-object") }, "6\nextra\n")
  lu.assertEquals(code, 0, err)
  lu.assertEquals(lines(out), TRANSCRIPT)
end

function TestCliRun.test_no_replies_left_times_the_wait_out()
  local code, out, err = run({ FLOWS .. "random_number.lua", "--reply", "1" })
  lu.assertEquals(code, 0, err)
  lu.assertEquals(lines(out), { "> What is the minimum number?", "< 1", "> What is the maximum number?" })
  assert_summary(err, "'max_value' ended the flow on 'timeout'")
end

function TestCliRun.test_a_failing_function_takes_the_fail_branch()
  local code, out, err = run({ FLOWS .. "random_number.lua", "--reply", "1", "--reply", "6", map_fn("/status/500") })
  lu.assertEquals(code, 0, err)
  lu.assertStrContains(last_line(out), "> Sorry, we could not pick a number between 1 and 6")
end

function TestCliRun.test_an_unhandled_failure_fails_the_run_and_says_why()
  local dir = helper.tmpdir()
  local flow = helper.write_file(dir .. "/f.lua", string.format([[return {
    { name = "Trigger", type = "trigger", on = { incomingMessage = "call" } },
    { name = "call", type = "run-function", url = %q, on = { success = "ok" } },
    { name = "ok", type = "send-message", body = "ok" },
  }]], "http://127.0.0.1:" .. fx.closed_port() .. "/fn"))
  local code, out, err = run({ flow })
  lu.assertEquals(code, 1, err)
  lu.assertEquals(out, "")
  assert_summary(err, "no transition for event 'fail' of 'call' (Failed to connect to 127.0.0.1 port")
end

-- A Studio export's Run Function names only its function (function_sid, url ""): a local
-- run reaches it through --map-function or a --functions file, and says so when neither
-- maps it. The function is the fixture's /studio-object, which parses {{flow.data}} as
-- Studio prints an object ({k=v, k2=v2}, what twilio-labs/function-templates'
-- outreach-pcp-followup save-response reads) and answers 400 otherwise.
local FN_SID = "ZH" .. string.rep("0123456789abcdef", 2)
local function studio_object_flow(dir)
  return helper.write_file(dir .. "/save.lua", string.format([[return {
    { name = "Trigger", type = "trigger", on = { incomingRequest = "save" } },
    { name = "save", type = "run-function", url = "", function_sid = %q,
      parameters = { patient = "{{flow.data}}" }, on = { success = "ok", fail = "ko" } },
    { name = "ok", type = "send-message", body = "saved {{widgets.save.parsed.patient.patient_id}} for {{trigger.request.to}} on {{trigger.request.from}} ({{widgets.save.parsed.code}})" },
    { name = "ko", type = "send-message", body = "ko {{widgets.save.status_code}}" },
  }]], FN_SID))
end

function TestCliRun.test_a_function_named_by_its_sid_runs_through_a_mapping()
  local dir = helper.tmpdir()
  local flow = studio_object_flow(dir)
  local params = { "--trigger", "incomingRequest", "--param", "outreach_id=Followup", "--param", "patient_id=1000" }
  local args = { flow, "--map-function", FN_SID .. "=" .. fx.start() .. "/studio-object", table.unpack(params) }
  local code, out, err = run(args)
  lu.assertEquals(code, 0, err)
  lu.assertEquals(lines(out), { "> saved 1000 for +15550001111 on +15559990000 (200)" })
  -- the same from a services file
  local file = helper.write_file(dir .. "/functions.json",
    string.format('{"functions": [{"sid": %q, "url": %q}]}', FN_SID, fx.start() .. "/studio-object"))
  code, out, err = run({ flow, "--functions", file, table.unpack(params) })
  lu.assertEquals(code, 0, err)
  lu.assertEquals(lines(out), { "> saved 1000 for +15550001111 on +15559990000 (200)" })
  -- without a mapping: nothing is sent, and the failure says how to map it
  local log = dir .. "/log.json"
  code, out = run({ flow, "--log", log, table.unpack(params) })
  lu.assertEquals(code, 0)
  lu.assertEquals(lines(out), { "> ko " })
  local rec = json.decode(helper.read_file(log))
  lu.assertEquals(rec.steps[2].reason, "no_url")
  lu.assertStrContains(rec.steps[2].note, "--map-function " .. FN_SID .. "=URL")
  -- bad mappings are usage errors
  local _
  code, _, err = run({ flow, "--map-function", "ZH12=http://x.test/" })
  lu.assertEquals(code, 2)
  lu.assertStrContains(err, "not a function SID")
  code, _, err = run({ flow, "--map-function", FN_SID .. "=ftp://x.test/" })
  lu.assertEquals(code, 2)
  lu.assertStrContains(err, "must be http(s)")
end

function TestCliRun.test_the_account_sid_reaches_the_trigger()
  local dir = helper.tmpdir()
  local flow = helper.write_file(dir .. "/acct.lua", [[return {
    { name = "Trigger", type = "trigger", on = { incomingMessage = "say" } },
    { name = "say", type = "send-message", body = "{{trigger.message.AccountSid}}" },
  }]])
  local AC = "AC" .. string.rep("0123456789abcdef", 2)
  local code, out, err = run({ flow, "--account-sid", AC })
  lu.assertEquals(code, 0, err)
  lu.assertEquals(lines(out), { "> " .. AC })
  code, out = run({ flow }, nil, { RIVULET_ACCOUNT_SID = AC })
  lu.assertEquals(code, 0)
  lu.assertEquals(lines(out), { "> " .. AC })
  local _
  code, _, err = run({ flow, "--account-sid", "AC123" })
  lu.assertEquals(code, 2)
  lu.assertStrContains(err, "--account-sid must be AC and 32 hex digits")
end

function TestCliRun.test_subflows_from_a_directory()
  local dir = helper.tmpdir()
  helper.write_file(dir .. "/FWchild.lua", [[return {
    { name = "Trigger", type = "trigger", on = { incomingParent = "ask" } },
    { name = "ask", type = "send-and-wait-for-reply", body = "Child asks {{trigger.parent.parameters.q}}",
      on = { incomingMessage = "set" } },
    { name = "set", type = "set-variables", variables = { answer = "{{widgets.ask.inbound.Body}}" } },
  }]])
  local parent = helper.write_file(dir .. "/parent.lua", [[return {
    { name = "Trigger", type = "trigger", on = { incomingMessage = "sub" } },
    { name = "sub", type = "run-subflow", flow_sid = "FWchild", parameters = { q = "why?" },
      on = { completed = "say", failed = "ko" } },
    { name = "say", type = "send-message", body = "child said {{widgets.sub.answer}}", on = { sent = false } },
    { name = "ko", type = "send-message", body = "ko", on = { sent = false } },
  }]])
  local code, out, err = run({ parent, "--subflows", dir, "--reply", "because" })
  lu.assertEquals(code, 0, err)
  lu.assertEquals(lines(out), { "> Child asks why?", "< because", "> child said because" })
  local log = dir .. "/log.json"
  code, out = run({ parent, "--reply", "because", "--log", log })  -- without it: the failed branch
  lu.assertEquals(code, 0)
  lu.assertStrContains(out, "> ko")
  local rec = json.decode(helper.read_file(log))                  -- why: the step's, not the outputs'
  lu.assertEquals(rec.steps[2].reason, "no_subflow")
  lu.assertStrContains(rec.steps[2].note, "no subflow 'FWchild'")
end

function TestCliRun.test_retry_counter_gives_up()
  local code, out, err = run({ FLOWS .. "retry_counter.lua", map_fn("/status/500") })
  lu.assertEquals(code, 0, err)
  lu.assertEquals(lines(out), { "> Sorry, the number service failed 4 times. Please try again later." })
  assert_summary(err, "give_up")
end

function TestCliRun.test_custom_logic()
  local code, out, err = run({ FLOWS .. "custom_logic.lua", "--reply", "meh", "--reply", "8" })
  lu.assertEquals(code, 0, err)
  lu.assertEquals(lines(out), { "> How likely are you to recommend us, from 0 to 10?", "< meh",
    "> Sorry, I need a number from 0 to 10.", "< 8", "> Thank you! A 8 made our day." })
end

function TestCliRun.test_rest_trigger_params_are_flow_data_and_from_is_the_contact()
  local dir = helper.tmpdir()
  local flow = helper.write_file(dir .. "/rest.lua", [[return {
    { name = "Trigger", type = "trigger", on = { incomingRequest = "tell" } },
    { name = "tell", type = "send-message",
      body = "{{flow.data.greeting}} {{contact.channel.address}} via {{flow.channel.address}}: {{flow.data.eq}}",
      on = { sent = false } },
  }]])
  local code, out, err = run({ flow, "--trigger", "incomingRequest", "--param", "greeting=Hello",
    "--param", "eq=a=b", "--from", "+15551112222", "--to", "+15553334444" })
  lu.assertEquals(code, 0, err)
  lu.assertEquals(lines(out), { "> Hello +15551112222 via +15553334444: a=b" })
end

function TestCliRun.test_body_from_to_defaults_and_options()
  local dir = helper.tmpdir()
  local flow = helper.write_file(dir .. "/echo.lua", [[return {
    { name = "Trigger", type = "trigger", on = { incomingMessage = "tell" } },
    { name = "tell", type = "send-message",
      body = "{{trigger.message.Body}}|{{trigger.message.From}}|{{trigger.message.To}}", on = { sent = false } },
  }]])
  local _, out = run({ flow })
  lu.assertEquals(lines(out), { "> hi|+15550001111|+15559990000" })
  _, out = run({ flow, "--body", "yo there", "--from", "+1", "--to", "+2" })
  lu.assertEquals(lines(out), { "> yo there|+1|+2" })
end

function TestCliRun.test_voice_lines_are_marked()
  local dir = helper.tmpdir()
  local flow = helper.write_file(dir .. "/ivr.lua", [[return {
    { name = "Trigger", type = "trigger", on = { incomingCall = "menu" } },
    { name = "menu", type = "gather-input-on-call", say = "Press 1 for sales.",
      on = { keypress = "bye", speech = "bye", timeout = false } },
    { name = "bye", type = "say-play", say = "You pressed {{widgets.menu.Digits}}.", on = { audioComplete = false } },
  }]])
  local code, out, err = run({ flow, "--trigger", "incomingCall", "--reply", "1" })
  lu.assertEquals(code, 0, err)
  lu.assertEquals(lines(out), { "> (voice) Press 1 for sales.", "< 1", "> (voice) You pressed 1." })
end

function TestCliRun.test_a_guard_stopping_the_flow_exits_1()
  local dir = helper.tmpdir()
  local flow = helper.write_file(dir .. "/loop.lua", [[return {
    { name = "Trigger", type = "trigger", on = { incomingMessage = "again" } },
    { name = "again", type = "set-variables", variables = { n = "1" }, on = { next = "again" } },
  }]])
  local code, out, err = run({ flow })
  lu.assertEquals(code, 1)
  lu.assertEquals(out, "")
  assert_summary(err, "'again' ran 10 times in a row")
end

function TestCliRun.test_a_widget_error_exits_1()
  local dir = helper.tmpdir()
  local flow = helper.write_file(dir .. "/err.lua", [[return {
    { name = "Trigger", type = "trigger", on = { incomingMessage = "boom" } },
    { name = "boom", type = "lua", fn = function() error("kaput") end, on = {} },
  }]])
  local code, _, err = run({ flow })
  lu.assertEquals(code, 1)
  assert_summary(err, "kaput")
end

function TestCliRun.test_bad_input_exits_2()
  local cases = {
    { {}, "missing FLOW" },
    { { FLOWS .. "random_number.lua", "--bogus" }, "unknown option '--bogus'" },
    { { FLOWS .. "random_number.lua", "--param", "novalue" }, "--param wants KEY=VALUE" },
    { { FLOWS .. "random_number.lua", "--param", "=x" }, "--param wants KEY=VALUE" },
    { { FLOWS .. "random_number.lua", "--map-url", "nothing" }, "--map-url wants FROM=TO" },
    { { FLOWS .. "random_number.lua", "--trigger", "incomingPigeon" }, "unknown trigger event" },
    { { FLOWS .. "random_number.lua", "--reply" }, "needs a value" },
    { { FLOWS .. "random_number.lua", FLOWS .. "retry_counter.lua" }, "one FLOW only" },
    { { FLOWS .. "random_number.lua", "--replies", "/nonexistent/replies" }, "--replies" },
    { { FLOWS .. "random_number.lua", "--log", "/nonexistent/dir/log.json" }, "--log" },
  }
  for _, c in ipairs(cases) do
    local code, out, err = run(c[1])
    local what = table.concat(c[1], " ")
    lu.assertEquals(code, 2, what .. ": " .. err)
    lu.assertEquals(out, "", what)
    lu.assertStrContains(err, c[2], false, what)
  end
end

function TestCliRun.test_usage_errors_print_the_usage()
  local _, _, err = run({ "--bogus" })
  lu.assertStrContains(err, "usage: rivulet run FLOW")
end

function TestCliRun.test_a_missing_or_broken_flow_exits_2_naming_the_file()
  local code, _, err = run({ "/nonexistent/flow.lua" })
  lu.assertEquals(code, 2)
  lu.assertStrContains(err, "/nonexistent/flow.lua")
  local dir = helper.tmpdir()
  for name, text in pairs{ ["syntax.lua"] = "return {", ["bad.json"] = "{\"states\": [", ["raise.lua"] = "error('no')" } do
    local path = helper.write_file(dir .. "/" .. name, text)
    code, _, err = run({ path })
    lu.assertEquals(code, 2, name)
    lu.assertStrContains(err, path, false, name)
  end
end

function TestCliRun.test_log_writes_the_record_as_json()
  local dir = helper.tmpdir()
  local log = dir .. "/exec.json"
  local code, _, err = run({ FLOWS .. "random_number.lua", "--reply", "1", "--reply", "6", "--log", log,
    map_fn("/json-object") })
  lu.assertEquals(code, 0, err)
  local r = assert(json.decode(assert(helper.read_file(log))))
  lu.assertStrMatches(r.sid, "FN" .. ("%x"):rep(32))
  lu.assertStrContains(last_line(err), r.sid)
  lu.assertEquals(r.status, "ended")
  lu.assertEquals(#r.steps, 5)
  for _, s in ipairs(r.steps) do
    lu.assertStrMatches(s.sid, "FT" .. ("%x"):rep(32))
    for _, k in ipairs{ "name", "type", "transitioned_from", "transitioned_to" } do lu.assertIsString(s[k], k) end
  end
  lu.assertEquals(r.steps[4].transitioned_from, "get_num")
  lu.assertEquals(r.context.widgets.get_num.parsed.number, 4)
  lu.assertEquals(r.context.widgets.min_value.inbound.Body, "1")
end

function TestCliRun.test_log_is_written_for_a_failed_execution_with_lua_outputs()
  local dir = helper.tmpdir()
  local flow = helper.write_file(dir .. "/fnout.lua", [[return {
    { name = "Trigger", type = "trigger", on = { incomingMessage = "f" } },
    { name = "f", type = "lua", fn = function() return "x", { fn = function() end, list = { 1, 2 } } end,
      on = { x = "again" } },
    { name = "again", type = "set-variables", variables = { n = "1" }, on = { next = "again" } },
  }]])
  local log = dir .. "/exec.json"
  local code = run({ flow, "--log", log })
  lu.assertEquals(code, 1)
  -- a function cannot leave custom logic: the widget fails, and the record says why
  local r = assert(json.decode(assert(helper.read_file(log))))
  lu.assertEquals(r.status, "ended")
  lu.assertStrContains(r.reason, "custom logic returned a function (result 2, at fn)")
  lu.assertNil(r.context.widgets.f)
end

-- the token signs requests but never shows: not on stdout, stderr, nor in the log, even
-- when the flow echoes it (as a REST parameter) or the signature comes back
function TestCliRun.test_the_auth_token_never_appears()
  local dir = helper.tmpdir()
  local flow = helper.write_file(dir .. "/sign.lua", [[return {
    { name = "Trigger", type = "trigger", on = { incomingRequest = "fn" } },
    { name = "fn", type = "run-function", url = "https://example-1234.twil.io/echo",
      parameters = { secret = "{{flow.data.secret}}" }, on = { success = "tell", fail = "tell" } },
    { name = "tell", type = "send-message",
      body = "signed={{widgets.fn.parsed.headers['x-twilio-signature'] | size}} echo={{widgets.fn.parsed.form.secret}} data={{flow.data.secret}}",
      on = { sent = false } },
  }]])
  local map = "https://example-1234.twil.io=" .. fx.start()
  for _, how in ipairs{ "option", "env" } do
    local log = dir .. "/" .. how .. ".json"
    local args = { flow, "--trigger", "incomingRequest", "--param", "secret=" .. TOKEN, "--map-url", map, "--log", log }
    local env = {}
    if how == "option" then args[#args + 1] = "--auth-token" args[#args + 1] = TOKEN
    else env.RIVULET_AUTH_TOKEN = TOKEN end
    local code, out, err = run(args, nil, env)
    lu.assertEquals(code, 0, err)
    local text = assert(helper.read_file(log))
    for name, s in pairs{ stdout = out, stderr = err, log = text } do
      lu.assertNotStrContains(s, TOKEN, false, how .. ": token in " .. name)
    end
    lu.assertStrMatches(out, "> signed=28 echo=%[auth token%] data=%[auth token%]\n", nil, nil, how)
  end
end

function TestCliRun.test_without_a_token_requests_are_unsigned()
  local dir = helper.tmpdir()
  local flow = helper.write_file(dir .. "/nosign.lua", [[return {
    { name = "Trigger", type = "trigger", on = { incomingMessage = "fn" } },
    { name = "fn", type = "run-function", url = "https://example-1234.twil.io/echo", on = { success = "tell" } },
    { name = "tell", type = "send-message", body = "signed={{widgets.fn.parsed.headers['x-twilio-signature'] | size}}",
      on = { sent = false } },
  }]])
  local _, out = run({ flow, "--map-url", "https://example-1234.twil.io=" .. fx.start() })
  lu.assertEquals(out, "> signed=0\n")
end

-- ---- graph -----------------------------------------------------------------------------------

TestCliGraph = {}

function TestCliGraph.tearDown()
  helper.cleanup()
end

-- a DOT quoted string starting at line[i] -> its text (escapes undone), the index after it
local function quoted(line, i)
  local buf, j = {}, i + 1
  while j <= #line do
    local c = line:sub(j, j)
    if c == "\\" then
      buf[#buf + 1] = line:sub(j + 1, j + 1)
      j = j + 2
    elseif c == '"' then
      return table.concat(buf), j + 1
    else
      buf[#buf + 1] = c
      j = j + 1
    end
  end
  error("unterminated string in: " .. line)
end

-- the nodes (id -> line) and edges ({from, to, label}) of our DOT output
local function parse_dot(text)
  lu.assertStrMatches(text, "^digraph flow {\n.*}\n$")
  local nodes, edges = {}, {}
  for line in text:gmatch("[^\n]+") do
    if line:match('^  "') then
      local a, i = quoted(line, 3)
      local rest = line:sub(i)
      if rest:match('^ %-> "') then
        local b, k = quoted(rest, 5)
        local label = quoted(rest, assert(rest:find('label="', k, true)) + 6)
        edges[#edges + 1] = { a, b, label }
      else
        lu.assertStrMatches(rest, " %[.*%];")
        nodes[a] = line
      end
    end
  end
  return nodes, edges
end

local function has_edge(edges, a, b, label)
  for _, e in ipairs(edges) do
    if e[1] == a and e[2] == b and e[3] == label then return true end
  end
  return false
end

function TestCliGraph.test_every_state_and_transition()
  for _, file in ipairs{ "random_number.lua", "random_number.json" } do
    local code, out, err = helper.run({ "graph", FLOWS .. file })
    lu.assertEquals(code, 0, err)
    local nodes, edges = parse_dot(out)
    for _, s in ipairs{ "Trigger", "min_value", "max_value", "get_num", "send_num", "send_error", "Ended" } do
      lu.assertNotNil(nodes[s], file .. ": node " .. s)
    end
    lu.assertStrContains(nodes.get_num, 'label="get_num\\nrun-function"')
    lu.assertStrContains(nodes.Trigger, "shape=ellipse")
    lu.assertEquals(#edges, 5 + 3 + 3 + 2 + 2 + 2, file)
    lu.assertTrue(has_edge(edges, "Trigger", "min_value", "incomingMessage"))
    lu.assertTrue(has_edge(edges, "get_num", "send_num", "success"))
    lu.assertTrue(has_edge(edges, "get_num", "send_error", "fail"))
    lu.assertTrue(has_edge(edges, "send_num", "Ended", "sent"))
  end
end

function TestCliGraph.test_split_edges_carry_their_condition()
  local _, out = helper.run({ "graph", FLOWS .. "retry_counter.lua" })
  local _, edges = parse_dot(out)
  lu.assertTrue(has_edge(edges, "check_count", "give_up", "match: greater_than 3"))
  lu.assertTrue(has_edge(edges, "check_count", "get_num", "noMatch"))
end

function TestCliGraph.test_names_are_quoted_and_escaped()
  local dir = helper.tmpdir()
  local path = helper.write_file(dir .. "/q.json", json.encode{
    initial_state = "Trigger",
    states = {
      { name = "Trigger", type = "trigger", properties = {}, transitions = { { event = "incomingMessage", next = "new-customer" } } },
      { name = "new-customer", type = "split-based-on", properties = { input = "x" }, transitions = {
        { event = "match", next = 'say "hi"', conditions = { { type = "equal_to", value = 'a "b"\\c', arguments = { "x" } } } },
        { event = "noMatch", next = "Ended" } } },
      { name = 'say "hi"', type = "send-message", properties = { body = "hi" }, transitions = { { event = "sent", next = "ghost" } } },
      { name = "Ended", type = "send-message", properties = { body = "a state called Ended" }, transitions = { { event = "sent" } } },
    },
  })
  local code, out, err = helper.run({ "graph", path })
  lu.assertEquals(code, 0, err)
  lu.assertStrContains(out, '"new-customer" -> "say \\"hi\\"" [label="match: equal_to a \\"b\\"\\\\c"];')
  -- a state named Ended is not the end: the end node gets another id
  lu.assertStrContains(out, '"new-customer" -> "Ended" [label="noMatch"];')
  lu.assertStrContains(out, '"Ended" -> "Ended_" [label="sent"];')
  lu.assertStrContains(out, '"Ended_" [label="Ended", shape=doublecircle];')
  -- a next naming no state still draws, marked
  lu.assertStrContains(out, '"ghost" [label="ghost\\n(no such state)", color=red, style=dashed];')
end

function TestCliGraph.test_corpus_flows_graph()
  helper.skip_without_corpus()
  local p = io.popen('ls "' .. helper.corpus .. '"*.json 2>/dev/null')
  local n = 0
  for file in p:lines() do
    n = n + 1
    local code, out, err = helper.run({ "graph", file })
    lu.assertEquals(code, 0, file .. ": " .. err)
    local nodes = parse_dot(out)
    lu.assertNotNil(nodes.Trigger, file)
  end
  p:close()
  lu.assertTrue(n > 0, "no flows in " .. helper.corpus)
end

function TestCliGraph.test_bad_input_exits_2()
  local code, out, err = helper.run({ "graph", "/nonexistent/flow.json" })
  lu.assertEquals(code, 2)
  lu.assertEquals(out, "")
  lu.assertStrContains(err, "/nonexistent/flow.json")
  code = helper.run({ "graph" })
  lu.assertEquals(code, 2)
  code = helper.run({ "graph", FLOWS .. "random_number.lua", FLOWS .. "retry_counter.lua" })
  lu.assertEquals(code, 2)
  code = helper.run({ "graph", "--bogus" })
  lu.assertEquals(code, 2)
end

-- ---- the seed's flow end to end against twilio-run -------------------------------------------------

TestCliRunTwilio = {}

-- the server is started on first use (a skip, not a crash, when npm is offline)
function TestCliRunTwilio.teardownClass()
  require("spec.twilio_run").release()
end

function TestCliRunTwilio.test_random_number_between_1_and_6()
  local server = require("spec.twilio_run").need{ deadline_s = 20 }
  for _ = 1, 3 do
    local code, out, err = run({ FLOWS .. "random_number.lua", "--reply", "1", "--reply", "6",
      "--map-url", "https://example-1234.twil.io=" .. server.base_url })
    lu.assertEquals(code, 0, err)
    local n = tonumber(out:match("> Your random number is (%d+)\n$"))
    lu.assertNotNil(n, out)
    lu.assertTrue(n >= 1 and n <= 6, out)
  end
end

function TestCliRunTwilio.test_a_bad_range_takes_the_fail_branch()
  local server = require("spec.twilio_run").need{ deadline_s = 20 }
  local code, out, err = run({ FLOWS .. "random_number.json", "--reply", "9", "--reply", "1",
    "--map-url", "https://example-1234.twil.io=" .. server.base_url })
  lu.assertEquals(code, 0, err)
  lu.assertStrContains(out, "> Sorry, we could not pick a number between 9 and 1")
end

-- why a call failed is in the store's steps: `rivulet logs` shows the reason and the message
-- (Studio keeps both out of the outputs, which are an empty map)
function TestCliRun.test_logs_show_why_a_widget_failed()
  local dir = helper.tmpdir()
  local flow = helper.write_file(dir .. "/f.lua", string.format([[return {
    { name = "Trigger", type = "trigger", on = { incomingMessage = "call" } },
    { name = "call", type = "run-function", url = "http://127.0.0.1:%d/x", on = { success = "ok", fail = "ko" } },
    { name = "ok", type = "send-message", body = "ok" },
    { name = "ko", type = "send-message", body = "ko [{{widgets.call.status_code}}]" },
  }]], fx.closed_port()))
  local db = dir .. "/s.db"
  local code, out, err = run({ flow, "--store", db })
  lu.assertEquals(code, 0, err)
  lu.assertEquals(lines(out), { "> ko []" })
  local sid = err:match("execution (FN%x+)")
  lu.assertNotNil(sid, err)
  code, out, err = helper.run({ "logs", "--store", db, sid })
  lu.assertEquals(code, 0, err)
  lu.assertStrMatches(out, ".*call %-> ko  %[connect_failed%]\n       %([^\n]*127%.0%.0%.1[^\n]*%)\n.*")
end
