-- What a newcomer sees on the console (issue: "a newcomer's first hour"): rivulet run shows
-- a widget's failure as it happens, -v traces, -q keeps to the messages, the last line says
-- why the execution stopped, Ctrl-C ends it (recorded in --log and --store), rivulet end
-- ends a stuck one, and every command reports bad usage and documents its exit statuses the
-- same way. Terminal behaviour goes through a pseudo-terminal (spec/tools/pty_run.py).

local lu = require "luaunit"
local helper = require "spec.helper"
local json = require "rivulet.json"

local FLOWS = helper.root .. "/flows/"
local FN_URL = "https://example-1234.twil.io"
local SID = "FN" .. ("%x"):rep(32)

local function run(args, stdin_text, env)
  local argv = { "run" }
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  env = env or {}
  if env.RIVULET_AUTH_TOKEN == nil then env.RIVULET_AUTH_TOKEN = "" end
  return helper.run(argv, stdin_text, env)
end

local function last_line(s)
  return s:match("([^\n]*)\n$") or s
end

-- a function URL where nothing listens: connection refused at once, no network needed
local REFUSED = "http://127.0.0.1:1"

local pty = helper.pty

-- ---- failures as they happen, -v, -q, the last line -----------------------------------------

TestConsole = {}

function TestConsole.tearDown()
  helper.cleanup()
end

function TestConsole.test_a_failed_function_shows_on_stderr_with_its_reason()
  local code, out, err = run({ FLOWS .. "random_number.lua", "--reply", "1", "--reply", "6",
                               "--map-url", FN_URL .. "=" .. REFUSED })
  lu.assertEquals(code, 0, err)
  -- the conversation is unchanged on stdout: only the fallback text
  lu.assertStrContains(out, "> Sorry, we could not pick a number between 1 and 6")
  lu.assertNotStrContains(out, "connect_failed")
  -- stderr says which widget failed, on which event, why, and where the flow went
  lu.assertStrMatches(err, ".*! get_num %(run%-function%) fail: connect_failed: [^\n]*127%.0%.0%.1[^\n]* %-> send_error\n.*")
  lu.assertStrMatches(last_line(err), "execution " .. SID .. " ended: 'send_error' ended the flow on 'sent' " ..
    "%(after 1 widget failure, shown above%)")
end

function TestConsole.test_an_http_error_status_is_named()
  local fx = require "spec.http_fixture"
  local code, _, err = run({ FLOWS .. "random_number.lua", "--reply", "1", "--reply", "6",
                             "--map-url", FN_URL .. "/generate-random-number=" .. fx.start() .. "/status/500" })
  lu.assertEquals(code, 0, err)
  lu.assertStrContains(err, "! get_num (run-function) fail: http_status")
  lu.assertStrContains(err, "500")
end

function TestConsole.test_verbose_traces_steps_requests_and_replies()
  local code, out, err = run({ FLOWS .. "random_number.lua", "-v", "--reply", "2", "--reply", "5",
                               "--map-url", FN_URL .. "=" .. REFUSED })
  lu.assertEquals(code, 0, err)
  lu.assertStrContains(out, "> What is the minimum number?")
  local steps = {}
  for n, from, ty, ev, to in err:gmatch("%[%+[%d.]+ ms%] (%d+) (%S+) %((%S+)%) (%S+) %-> (%S+)\n") do
    steps[#steps + 1] = table.concat({ n, from, ty, ev, to }, " ")
  end
  lu.assertEquals(steps, {
    "1 Trigger trigger incomingMessage min_value",
    "2 min_value send-and-wait-for-reply incomingMessage max_value",
    "3 max_value send-and-wait-for-reply incomingMessage get_num",
    "4 get_num run-function fail send_error",
    "5 send_error send-message sent Ended",
  })
  -- the request as sent (URL mapped, parameters rendered) and what came back
  lu.assertStrContains(err, "get_num: POST " .. REFUSED .. "/generate-random-number  max=5 min=2\n")
  lu.assertStrMatches(err, ".*get_num: fail %(connect_failed%) in [%d.]+ ms\n.*")
end

function TestConsole.test_verbose_shows_the_reply_body()
  local fx = require "spec.http_fixture"
  local code, _, err = run({ FLOWS .. "random_number.lua", "-v", "--reply", "1", "--reply", "6",
                             "--map-url", FN_URL .. "/generate-random-number=" .. fx.start() .. "/json-object" })
  lu.assertEquals(code, 0, err)
  lu.assertStrMatches(err, ".*get_num: success HTTP 200 application/json[^\n]* in [%d.]+ ms: {[^\n]*}\n.*")
end

function TestConsole.test_quiet_prints_only_the_messages()
  local code, out, err = run({ FLOWS .. "random_number.lua", "-q", "--reply", "1", "--reply", "6",
                               "--map-url", FN_URL .. "=" .. REFUSED })
  lu.assertEquals(code, 0, err)
  lu.assertEquals(out, "> What is the minimum number?\n> What is the maximum number?\n" ..
    "> Sorry, we could not pick a number between 1 and 6 just now. Please try again later.\n")
  lu.assertEquals(err, "")
end

function TestConsole.test_quiet_still_says_why_a_failed_run_failed()
  -- a function failure nothing handles fails the execution
  local flow = helper.tmpdir() .. "/unhandled.lua"
  helper.write_file(flow, [[return {
    { name = "Trigger", type = "trigger", on = { incomingMessage = "call" } },
    { name = "call", type = "run-function", url = "]] .. REFUSED .. [[/f", on = { success = false } },
  }]])
  local code, out, err = run({ flow, "-q" })
  lu.assertEquals(code, 1, err)
  lu.assertEquals(out, "")
  lu.assertStrMatches(err, "execution " .. SID .. " ended: no transition for event 'fail' of 'call' %(.*%)\n")
end

function TestConsole.test_verbose_and_quiet_do_not_go_together()
  local code, _, err = run({ FLOWS .. "random_number.lua", "-v", "-q" })
  lu.assertEquals(code, 2)
  lu.assertStrContains(err, "rivulet run: -v and -q do not go together\n")
end

function TestConsole.test_a_call_without_an_answer_is_said_before_it_times_out()
  local fx = require "spec.http_fixture"
  -- 2.5 s: past the 2 s after which a call still running is said, within Studio's 10 s
  local code, out, err = run({ FLOWS .. "random_number.lua", "--reply", "1", "--reply", "6",
                               "--map-url", FN_URL .. "/generate-random-number=" .. fx.start() .. "/slow/2500" })
  lu.assertEquals(code, 0, err)
  lu.assertStrContains(out, "> Your random number is")
  lu.assertStrMatches(err, ".*%.%.%. get_num: no answer from http://127%.0%.0%.1:%d+/slow/2500 after 2 s " ..
    "%(it gives up after 10 s%)\n.*")
end

function TestConsole.test_a_store_conflict_says_how_to_end_the_old_execution()
  local db = helper.tmpdir() .. "/c.db"
  local code, _, err = run({ FLOWS .. "feedback.lua", "--store", db })   -- waits, times out at end of input
  lu.assertEquals(code, 0, err)
  -- a run whose wait was not timed out: deliver leaves it waiting
  code, _, err = helper.run({ "deliver", "--store", db, "--flow", FLOWS .. "feedback.lua",
                              "--from", "+15550001111", "--to", "+15559990000", "--body", "hi" })
  lu.assertEquals(code, 0, err)
  local sid = err:match("execution (FN%x+) started")
  code, _, err = run({ FLOWS .. "feedback.lua", "--store", db })
  lu.assertEquals(code, 1, err)
  lu.assertStrContains(err, "the contact already has an active execution " .. sid)
  lu.assertStrContains(err, "`rivulet end " .. sid .. " --store " .. db .. "` ends it")
end

-- ---- Ctrl-C ------------------------------------------------------------------------------------

TestConsoleInterrupt = {}

function TestConsoleInterrupt.tearDown()
  helper.cleanup()
end

local function record(path)
  return assert(json.decode(assert(helper.read_file(path))))
end

function TestConsoleInterrupt.test_ctrl_c_at_a_prompt_ends_the_execution_logs_and_stores_it()
  local dir = helper.tmpdir()
  local db, log = dir .. "/s.db", dir .. "/run.json"
  local r = pty({ helper.bin, "run", FLOWS .. "random_number.lua", "--store", db, "--log", log },
    { { expect = "What is the minimum number?" }, { expect = "< " }, { send = "\3" } })
  lu.assertNil(r.error, r.output)
  lu.assertEquals(r.status, 130, r.output)
  lu.assertStrMatches(r.output, ".*execution " .. SID .. " interrupted %(Ctrl%-C%); ended at 'min_value'\r?\n$")
  -- the --log file holds the record, ended by a step
  local rec = record(log)
  lu.assertEquals(rec.status, "ended")
  lu.assertEquals(rec.reason, "interrupted (Ctrl-C)")
  local last = rec.steps[#rec.steps]
  lu.assertEquals({ last.name, last.transitioned_from, last.transitioned_to }, { "ended", "min_value", "Ended" })
  -- the store holds it ended, so the contact can start again
  local code, out, err = helper.run({ "logs", "--store", db, "--json" })
  lu.assertEquals(code, 0, err)
  local list = json.decode(out)
  lu.assertEquals(#list, 1)
  lu.assertEquals(list[1].status, "ended")
  code, out, err = run({ FLOWS .. "random_number.lua", "--store", db, "--reply", "1", "--reply", "6",
                         "--map-url", FN_URL .. "=" .. REFUSED })
  lu.assertEquals(code, 0, err)
  lu.assertStrContains(out, "> Sorry, we could not pick a number")
end

function TestConsoleInterrupt.test_ctrl_c_during_a_function_call_stops_at_once()
  local fx = require "spec.http_fixture"
  local dir = helper.tmpdir()
  local log = dir .. "/run.json"
  local r = pty({ helper.bin, "run", FLOWS .. "random_number.lua", "--reply", "1", "--reply", "6", "--log", log,
                  "--map-url", FN_URL .. "/generate-random-number=" .. fx.start() .. "/slow/30000" },
    { { expect = "< 6" }, { send = "\3" } })
  lu.assertNil(r.error, r.output)     -- it ended within the script's deadline, long before 30 s
  lu.assertEquals(r.status, 130, r.output)
  lu.assertStrContains(r.output, "interrupted (Ctrl-C); ended at 'get_num'")
  lu.assertEquals(record(log).state, "get_num")
end

function TestConsoleInterrupt.test_sigterm_ends_it_too()
  local r = pty({ helper.bin, "run", FLOWS .. "feedback.lua" },
    { { expect = "How would you rate us" }, { expect = "< " }, { signal = "TERM" } })
  lu.assertNil(r.error, r.output)
  lu.assertEquals(r.status, 143, r.output)
  lu.assertStrContains(r.output, "terminated (SIGTERM); ended at 'ask_rating'")
end

-- ---- rivulet end ------------------------------------------------------------------------------

TestCliEnd = {}

function TestCliEnd.tearDown()
  helper.cleanup()
end

local function deliver(db, from, body)
  local code, _, err = helper.run({ "deliver", "--store", db, "--flow", FLOWS .. "feedback.lua",
                                    "--from", from, "--to", "+15559990000", "--body", body })
  lu.assertEquals(code, 0, err)
  return err:match("execution (FN%x+)")
end

function TestCliEnd.test_ends_a_waiting_execution_with_a_step_and_frees_the_contact()
  local db = helper.tmpdir() .. "/s.db"
  local sid = deliver(db, "+15550001111", "hi")
  local other = deliver(db, "+15550002222", "hi")
  local code, _, err = helper.run({ "end", sid, "--store", db, "--reason", "customer asked" })
  lu.assertEquals(code, 0, err)
  lu.assertEquals(err, "execution " .. sid .. " ended at 'ask_rating': customer asked\n")
  local out
  code, out = helper.run({ "logs", "--store", db, sid, "--json" })
  lu.assertEquals(code, 0)
  local rec = json.decode(out)
  lu.assertEquals(rec.status, "ended")
  lu.assertEquals(rec.reason, "customer asked")
  local last = rec.steps[#rec.steps]
  lu.assertEquals({ last.name, last.transitioned_from, last.transitioned_to }, { "ended", "ask_rating", "Ended" })
  -- the other contact's execution was left alone; this contact starts afresh
  _, out = helper.run({ "logs", "--store", db, other, "--json" })
  lu.assertEquals(json.decode(out).status, "active")
  lu.assertNotEquals(deliver(db, "+15550001111", "hello"), sid)
end

function TestCliEnd.test_what_cannot_be_ended()
  local db = helper.tmpdir() .. "/s.db"
  local sid = deliver(db, "+15550001111", "hi")
  lu.assertEquals(helper.run({ "end", sid, "--store", db }), 0)
  local code, _, err = helper.run({ "end", sid, "--store", db })
  lu.assertEquals(code, 1)
  lu.assertStrContains(err, "rivulet end: execution " .. sid .. " is not active (ended: ended with rivulet end)")
  code, _, err = helper.run({ "end", "FN" .. ("0"):rep(32), "--store", db })
  lu.assertEquals(code, 1)
  lu.assertStrContains(err, "no execution FN" .. ("0"):rep(32))
  code, _, err = helper.run({ "end", sid, "--store", db .. ".missing" })
  lu.assertEquals(code, 2)
  lu.assertStrContains(err, "no such store")
  code, _, err = helper.run({ "end", "--store", db })
  lu.assertEquals(code, 2)
  lu.assertStrContains(err, "rivulet end: missing SID\n")
  code, _, err = helper.run({ "end", "not-a-sid", "--store", db })
  lu.assertEquals(code, 2)
  lu.assertStrContains(err, "is not an execution SID")
end

-- ---- --help pages and usage errors, C and Lua commands alike ---------------------------------

TestCliHelp = {}

local function commands()
  local _, out = helper.run({ "help" })
  local list = {}
  for name in out:gmatch("\n  (%l+) ") do list[#list + 1] = name end
  return list
end

function TestCliHelp.test_every_command_has_help_with_its_exit_statuses()
  local list = commands()
  lu.assertTrue(#list >= 14, table.concat(list, " "))
  for _, name in ipairs{ "end", "export", "env" } do
    lu.assertStrContains(" " .. table.concat(list, " ") .. " ", " " .. name .. " ")
  end
  for _, name in ipairs(list) do
    local code, out = helper.run({ name, "--help" })
    lu.assertEquals(code, 0, name)
    lu.assertStrMatches(out, "usage: rivulet " .. name .. ".*", nil, nil, name)
    lu.assertStrContains(out, "Exit status: 0", false, name)
  end
end

function TestCliHelp.test_quiet_and_verbose_where_they_make_sense()
  for name, flags in pairs{ run = { "-v, --verbose", "-q, --quiet" }, test = { "-v, --verbose", "-q, --quiet" },
                            validate = { "-q, --quiet" } } do
    local _, out = helper.run({ name, "--help" })
    for _, f in ipairs(flags) do lu.assertStrContains(out, f, false, name) end
  end
end

-- "rivulet CMD: message", then "usage: rivulet CMD ...", then the hint, whichever language
-- the command is written in
function TestCliHelp.test_usage_errors_have_one_shape()
  for _, name in ipairs(commands()) do
    if name ~= "help" and name ~= "lua" then
      local code, _, err = helper.run({ name, "--no-such-option" })
      lu.assertEquals(code, 2, name .. ": " .. err)
      local lines = {}
      for l in err:gmatch("[^\n]+") do lines[#lines + 1] = l end
      lu.assertStrMatches(lines[1], "rivulet " .. name .. ": .*", nil, nil, name)
      lu.assertStrContains(err, "\nusage: rivulet " .. name, false, name)
      lu.assertEquals(lines[#lines], "Run 'rivulet " .. name .. " --help' for details.", name)
    end
  end
  local code, _, err = helper.run({ "lua", "--bogus" })
  lu.assertEquals(code, 2)
  lu.assertStrMatches(err, "rivulet lua: unknown option '%-%-bogus'\nusage: rivulet lua SCRIPT.*\n" ..
    "Run 'rivulet lua %-%-help' for details%.\n")
end

-- ---- the engine's end, underneath rivulet end and Ctrl-C ------------------------------------------

TestEngineEnd = {}

function TestEngineEnd.tearDown()
  helper.cleanup()
end

local rivulet = require "rivulet"

-- an HTTP client whose calls never finish, counting them
local function hanging_client()
  local c = { started = 0 }
  local call = { done = function() return false end, outcome = function() return nil end }
  function c.run_function() c.started = c.started + 1 return call end
  function c.http_request() c.started = c.started + 1 return call end
  function c.poll() return 0 end
  function c.finished() return nil end
  return c
end

local CALLING = {
  { name = "Trigger", type = "trigger", on = { incomingMessage = "call" } },
  { name = "call", type = "run-function", url = "http://127.0.0.1:1/f", on = { success = false, fail = false } },
}

function TestEngineEnd.test_an_execution_mid_call_ends_with_a_step_without_calling_again()
  local db = helper.tmpdir() .. "/s.db"
  local http = hanging_client()
  local e = assert(rivulet.engine{ store = db, http = http })
  local x = assert(e:start(CALLING, { body = "hi" }))
  lu.assertEquals(x.wait.kind, "http")
  local r = e:handle{ kind = "end", sid = x.sid, reason = "stop" }
  lu.assertEquals(r.code, "ended")
  lu.assertEquals(http.started, 1)                      -- the widget did not run again
  lu.assertEquals(r.exec.status, "ended")
  lu.assertEquals(r.exec.reason, "stop")
  local last = r.exec.steps[#r.exec.steps]
  lu.assertEquals({ last.name, last.type, last.transitioned_from, last.transitioned_to, last.reason },
                  { "ended", "run-function", "call", "Ended", "stop" })
  local rec = e.store:record(x.sid)
  lu.assertEquals(rec.status, "ended")
  lu.assertEquals(rec.steps[#rec.steps].name, "ended")
end

function TestEngineEnd.test_a_parent_ends_before_its_subflow_and_does_not_go_on()
  local child = {
    { name = "Trigger", type = "trigger", on = { incomingParent = "ask" } },
    { name = "ask", type = "send-and-wait-for-reply", body = "child asks", on = { incomingMessage = false } },
  }
  local parent = {
    { name = "Trigger", type = "trigger", on = { incomingMessage = "sub" } },
    { name = "sub", type = "run-subflow", flow_sid = "FWchild", on = { completed = "after", failed = "after" } },
    { name = "after", type = "send-message", body = "parent goes on", on = { sent = false } },
  }
  local sent = {}
  local e = assert(rivulet.engine{ subflows = { FWchild = child },
                                   on_message = function(_, m) sent[#sent + 1] = m.body end })
  local x = assert(e:start(parent, { body = "hi" }))
  local kid = e:executions()[2]
  lu.assertEquals(kid.wait.kind, "reply")
  lu.assertEquals(e:handle{ kind = "end", sid = x.sid, reason = "stop" }.code, "ended")
  lu.assertEquals(sent, { "child asks" })               -- "parent goes on" never sent
  lu.assertEquals({ x.status, kid.status }, { "ended", "ended" })
  lu.assertEquals(x.steps[#x.steps].name, "ended")
  lu.assertEquals(kid.steps[#kid.steps].name, "ended")
end
