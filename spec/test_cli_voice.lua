-- A phone call in the console (`rivulet run --trigger incomingCall`) and in conversation
-- specs (`rivulet test`): what the caller hears prints, keys and words answer a Gather, a
-- line is a Record's message, an empty line is silence, end of input hangs up; outcomes the
-- outside world decides are named by a line or by --event; specs script { hangup = true }
-- and { event = …, outputs = … }.

local lu = require "luaunit"
local helper = require "spec.helper"
local test = require "rivulet.test"

local function run(args, stdin_text)
  local argv = { "run" }
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  return helper.run(argv, stdin_text, { RIVULET_AUTH_TOKEN = "" })
end

local function lines(s)
  local out = {}
  for l in s:gmatch("([^\n]*)\n") do out[#out + 1] = l end
  return out
end

local IVR = [[return {
  { name = "Trigger", type = "trigger", on = { incomingCall = "menu" } },
  { name = "menu", type = "gather-input-on-call", say = "Press 1 for sales, 2 for a message.",
    on = { keypress = "route", speech = "bye", timeout = "menu" } },
  { name = "route", type = "split-based-on", input = "{{widgets.menu.Digits}}",
    match = { { type = "equal_to", value = "1", next = "sales" }, { type = "equal_to", value = "2", next = "voicemail" } },
    on = { noMatch = "bye" } },
  { name = "sales", type = "connect-call-to", noun = "number", to = "+15550002222",
    on = { callCompleted = "bye", hangup = false } },
  { name = "voicemail", type = "record-voicemail", transcribe = true,
    on = { recordingComplete = "thanks", noAudio = "bye", hangup = false } },
  { name = "thanks", type = "say-play", say = "You said: {{widgets.voicemail.TranscriptionText}}",
    on = { audioComplete = false } },
  { name = "bye", type = "say-play", say = "Goodbye.", on = { audioComplete = false } },
}]]

local function ivr_file()
  return helper.write_file(helper.tmpdir() .. "/ivr.lua", IVR)
end

TestCliVoice = {}

function TestCliVoice.tearDown() helper.cleanup() end

function TestCliVoice.test_keys_then_a_message()
  local code, out, err = run({ ivr_file(), "--trigger", "incomingCall", "--reply", "2", "--reply", "Call me back" })
  lu.assertEquals(code, 0, err)
  lu.assertEquals(lines(out), { "> (voice) Press 1 for sales, 2 for a message.", "< 2", "< Call me back",
                                "> (voice) You said: Call me back" })
  lu.assertStrContains(err, "'thanks' ended the flow on 'audioComplete'")
end

function TestCliVoice.test_end_of_input_hangs_up()
  local code, out, err = run({ ivr_file(), "--trigger", "incomingCall" }, "")
  lu.assertEquals(code, 0, err)
  lu.assertEquals(lines(out), { "> (voice) Press 1 for sales, 2 for a message.", "* the caller hangs up" })
  lu.assertStrContains(err, "ended: call ended")
end

function TestCliVoice.test_silence_asks_again_and_words_are_speech()
  local code, out = run({ ivr_file(), "--trigger", "incomingCall" }, "\nsales please\n")
  lu.assertEquals(code, 0)
  lu.assertEquals(lines(out), { "> (voice) Press 1 for sales, 2 for a message.", "< ",
                                "> (voice) Press 1 for sales, 2 for a message.", "< sales please",
                                "> (voice) Goodbye." })
end

function TestCliVoice.test_the_dial_outcome_is_a_line_or_event()
  -- a line names the outcome; an empty one is the widget's first (usual) event
  local code, out = run({ ivr_file(), "--trigger", "incomingCall", "--reply", "1", "--reply", "" })
  lu.assertEquals(code, 0)
  lu.assertEquals(lines(out), { "> (voice) Press 1 for sales, 2 for a message.", "< 1",
                                "> (voice) [connecting the call to number +15550002222]", "< ",
                                "* sales: callCompleted", "> (voice) Goodbye." })
  local _, out2, err2 = run({ ivr_file(), "--trigger", "incomingCall", "--reply", "1", "--reply", "HANGUP" })
  lu.assertEquals(lines(out2)[5], "* sales: hangup")
  lu.assertStrContains(err2, "'sales' ended the flow on 'hangup'")
  -- a line that names no event is said so, and asked again
  local _, out3 = run({ ivr_file(), "--trigger", "incomingCall", "--reply", "1", "--reply", "maybe" })
  lu.assertEquals(lines(out3)[5], "* sales: 'maybe' is none of its events (callCompleted, hangup)")
  lu.assertEquals(lines(out3)[6], "* the caller hangs up")
  -- --event decides every time, without a line
  local code4, out4, err4 = run({ ivr_file(), "--trigger", "incomingCall", "--reply", "1", "--event", "sales=hangup" })
  lu.assertEquals(code4, 0, err4)
  lu.assertEquals(lines(out4)[4], "* sales: hangup (--event)")
end

function TestCliVoice.test_bad_events_are_usage_errors()
  local code, _, err = run({ ivr_file(), "--trigger", "incomingCall", "--event", "nobody=hangup" })
  lu.assertEquals(code, 2)
  lu.assertStrContains(err, "the flow has no widget 'nobody'")
  code, _, err = run({ ivr_file(), "--trigger", "incomingCall", "--event", "sales=busy" })
  lu.assertEquals(code, 2)
  lu.assertStrContains(err, "'sales' (connect-call-to) has no event 'busy' (callCompleted, hangup)")
  code, _, err = run({ ivr_file(), "--event", "sales" })
  lu.assertEquals(code, 2)
  lu.assertStrContains(err, "--event wants WIDGET=EVENT")
end

function TestCliVoice.test_every_corpus_widget_runs_in_the_console()
  helper.skip_without_corpus()
  -- the SMS side of 10 ends in Send to Flex: its outcome is a line too
  local code, out, err = run({ helper.corpus .. "10_hlsrobot_twilio-apaleo.json", "--reply", "New",
                               "--reply", "callComplete" })
  lu.assertEquals(code, 0, err)
  lu.assertEquals(lines(out)[#lines(out)], "* send_to_flex: callComplete")
  lu.assertStrContains(err, "'send_to_flex' ended the flow on 'callComplete'")
end

-- ---- rivulet test ---------------------------------------------------------------------------

TestSpecVoice = {}

function TestSpecVoice.tearDown() helper.cleanup() end

local function spec(cases)
  return { flow = assert(load(IVR))(), trigger = { event = "incomingCall" }, cases = cases }
end

function TestSpecVoice.test_hangup_event_and_outputs()
  local r = test.run(spec{
    { name = "hangs up in the menu", script = { "> Press 1 for sales, 2 for a message.", { hangup = true } },
      state = "menu", reason = "call ended" },
    { name = "the dial is busy, then goodbye",
      script = { "> Press 1 for sales, 2 for a message.", "< 1", "> [connecting the call to number +15550002222]",
                 { event = "callCompleted", outputs = { DialCallStatus = "busy" } }, "> Goodbye." },
      state = "bye", context = { ["widgets.sales"] = { DialCallStatus = "busy" } } },
    { name = "the outcome's widget can be checked",
      script = { "> Press 1 for sales, 2 for a message.", "< 1", "> [connecting the call to number +15550002222]",
                 { event = "hangup", widget = "sales" } },
      state = "sales", context = { ["widgets.sales.CallStatus"] = "completed" } },
    { name = "silence: the gather asks again",
      script = { "> Press 1 for sales, 2 for a message.", { timeout = true }, "> Press 1 for sales, 2 for a message.",
                 { hangup = true } },
      path = { "menu", "menu" } },
    { name = "a recording, and silence on it",
      script = { "> Press 1 for sales, 2 for a message.", "< 2", { timeout = true }, "> Goodbye." },
      state = "bye", context = { ["widgets.voicemail"] = {} } },
  })
  for _, c in ipairs(r.cases) do lu.assertTrue(c.ok, c.name .. ": " .. tostring(c.message)) end
  lu.assertEquals(r.passed, 5)
end

function TestSpecVoice.test_scripts_that_do_not_fit_the_call_fail_saying_why()
  local r = test.run(spec{
    { name = "a reply to a dial", script = { "> Press 1 for sales, 2 for a message.", "< 1",
                                              "> [connecting the call to number +15550002222]", "< hello" } },
    { name = "an event the widget has not", script = { "> Press 1 for sales, 2 for a message.", { event = "busy" } } },
    { name = "a hangup with no call", trigger = { event = "incomingMessage" }, script = { { hangup = true } } },
  })
  lu.assertEquals(r.failed, 3)
  lu.assertStrContains(r.cases[1].message, "'sales' waits for an outcome (callCompleted, hangup)")
  lu.assertStrContains(r.cases[1].message, "{ event = … }")
  lu.assertStrContains(r.cases[2].message, "'menu' (gather-input-on-call) has no event 'busy'")
  lu.assertStrContains(r.cases[3].message, "the script hangs up, but")
  -- malformed steps are refused before anything runs
  local s, err = test.load({ flow = assert(load(IVR))(), cases = { { name = "x", script = { { hangup = 1 } } } } })
  lu.assertNil(s)
  lu.assertStrContains(err, "hangup wants true")
  s, err = test.load({ flow = assert(load(IVR))(), cases = { { name = "x", script = { { event = "a", outputs = 3 } } } } })
  lu.assertNil(s)
  lu.assertStrContains(err, "outputs wants a table")
end
