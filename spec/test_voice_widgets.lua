-- Voice widgets, simulated: an IVR walked through with the engine (say-play, gather,
-- split on Digits, record-voicemail, connect-call-to), the other voice widgets that run,
-- the ones rivulet only knows, and Cedric's Joke Hotline from the shared corpus.
local lu = require "luaunit"
local helper = require "spec.helper"
local rivulet = require "rivulet"
local widgets = require "rivulet.widgets"

local CALLER, LINE = "+15550001111", "+15559990000"

local function tr(event, nx) return { event = event, next = nx } end

local function match(value, nx)
   return { event = "match", next = nx, conditions = { {
      friendly_name = "If value equal_to " .. value, arguments = { "{{widgets.menu.Digits}}" },
      type = "equal_to", value = value } } }
end

-- Trigger (a call) -> welcome -> menu -> route: 1 sales, 2 voicemail, else bye
local function ivr()
   return {
      description = "IVR", initial_state = "Trigger", flags = { allow_concurrent_calls = true },
      states = {
         { name = "Trigger", type = "trigger", properties = {},
           transitions = { tr("incomingMessage"), tr("incomingCall", "welcome") } },
         { name = "welcome", type = "say-play",
           properties = { say = "Welcome to {{flow.channel.address}}.", loop = 1 },
           transitions = { tr("audioComplete", "menu") } },
         { name = "menu", type = "gather-input-on-call",
           properties = { say = "Press 1 for sales, 2 to leave a message.", timeout = 7,
                          finish_on_key = "#", number_of_digits = 1, stop_gather = true },
           transitions = { tr("keypress", "route"), tr("speech", "heard"), tr("timeout", "bye") } },
         { name = "route", type = "split-based-on",
           properties = { input = "{{widgets.menu.Digits}}" },
           transitions = { tr("noMatch", "bye"), match("1", "sales"), match("2", "voicemail") } },
         { name = "sales", type = "connect-call-to",
           properties = { noun = "number", to = "+15550002222",
                          caller_id = "{{contact.channel.address}}" },
           transitions = { tr("callCompleted"), tr("hangup") } },
         { name = "voicemail", type = "record-voicemail",
           properties = { timeout = 5, max_length = 60, transcribe = true, play_beep = "true" },
           transitions = { tr("recordingComplete", "thanks"), tr("noAudio", "bye"),
                           tr("hangup") } },
         { name = "thanks", type = "say-play",
           properties = { say = "Thanks. You said: {{widgets.voicemail.TranscriptionText}}" },
           transitions = { tr("audioComplete") } },
         { name = "heard", type = "say-play",
           properties = { say = "You said {{widgets.menu.SpeechResult}}." },
           transitions = { tr("audioComplete") } },
         { name = "bye", type = "say-play", properties = { say = "Goodbye." },
           transitions = { tr("audioComplete") } },
      },
   }
end

-- an engine that records what it sends; returns engine, sent messages
local function engine()
   local sent = {}
   local e = rivulet.engine{ on_message = function(_, m) sent[#sent + 1] = m end }
   return e, sent
end

local function call(e, flow)
   local exec = assert(e:start(flow, { event = "incomingCall", from = CALLER, to = LINE }))
   return exec
end

local function press(e, body)
   return assert(e:deliver{ from = CALLER, to = LINE, body = body })
end

local bodies = helper.bodies

-- "event:from->to" for each step
local function path(exec)
   local out = {}
   for i, s in ipairs(exec.steps) do
      out[i] = s.name .. ":" .. s.transitioned_from .. "->" .. s.transitioned_to
   end
   return out
end

TestVoiceIvr = {}

function TestVoiceIvr:test_flow_validates_clean()
   local ok, problems = rivulet.validate(ivr())
   lu.assertTrue(ok)
   lu.assertEquals(problems, {})
end

function TestVoiceIvr:test_prompts_then_wait_for_a_key()
   local e, sent = engine()
   local exec = call(e, ivr())
   lu.assertEquals(exec.status, "active")
   lu.assertEquals(exec.state, "menu")
   lu.assertEquals(bodies(sent),
                   { "Welcome to +15559990000.", "Press 1 for sales, 2 to leave a message." })
   for _, m in ipairs(sent) do
      lu.assertEquals(m.kind, "voice")
      lu.assertEquals(m.to, CALLER)
      lu.assertEquals(m.from, LINE)
   end
   lu.assertEquals(sent[1].widget, "welcome")
   lu.assertEquals(sent[2].widget, "menu")
   -- the gather's own timeout (7 s), not Send & Wait's hour
   lu.assertEquals(exec.wait.kind, "reply")
   lu.assertEquals(exec.wait.deadline - exec.wait.since, 7)
   lu.assertEquals(exec.context.widgets.welcome, {})
end

function TestVoiceIvr:test_key_2_records_a_voicemail()
   local e, sent = engine()
   local exec = call(e, ivr())
   press(e, "2")
   lu.assertEquals(exec.state, "voicemail")
   lu.assertEquals(exec.context.widgets.menu, { Digits = "2" })
   lu.assertEquals(exec.wait.deadline - exec.wait.since, 5)
   press(e, "Please call me back about my order.")
   lu.assertEquals(exec.status, "ended")
   lu.assertNil(exec.failed)
   lu.assertEquals(exec.state, "thanks")
   local vm = exec.context.widgets.voicemail
   lu.assertStrMatches(vm.RecordingUrl, "https://example%.invalid/recordings/RE%x+")
   lu.assertEquals(vm.RecordingUrl, "https://example.invalid/recordings/" .. vm.RecordingSid)
   lu.assertEquals(vm.RecordingDuration, "1")
   lu.assertEquals(vm.TranscriptionText, "Please call me back about my order.")
   lu.assertEquals(sent[#sent].body, "Thanks. You said: Please call me back about my order.")
   lu.assertEquals(path(exec), {
      "incomingCall:Trigger->welcome", "audioComplete:welcome->menu", "keypress:menu->route",
      "match:route->voicemail", "recordingComplete:voicemail->thanks",
      "audioComplete:thanks->Ended",
   })
end

function TestVoiceIvr:test_key_1_connects_the_call()
   local e, sent = engine()
   local exec = call(e, ivr())
   press(e, "1")
   lu.assertEquals(exec.status, "ended")
   lu.assertEquals(exec.state, "sales")
   lu.assertEquals(sent[#sent].body, "[connecting the call to number +15550002222]")
   lu.assertEquals(sent[#sent].kind, "voice")
   local out = exec.context.widgets.sales
   lu.assertEquals(out.DialCallStatus, "completed")
   lu.assertStrMatches(out.DialCallSid, "CA%x+")
   lu.assertEquals(exec.steps[#exec.steps].name, "callCompleted")
   lu.assertEquals(exec.steps[#exec.steps].transitioned_to, "Ended")
end

function TestVoiceIvr:test_finish_key_is_not_part_of_the_digits()
   local e = engine()
   local exec = call(e, ivr())
   press(e, "1#")
   lu.assertEquals(exec.context.widgets.menu, { Digits = "1" })
   lu.assertEquals(exec.state, "sales")
end

function TestVoiceIvr:test_other_keys_go_nowhere_in_particular()
   local e, sent = engine()
   local exec = call(e, ivr())
   press(e, "*9")
   lu.assertEquals(exec.context.widgets.menu, { Digits = "*9" })
   lu.assertEquals(exec.state, "bye")
   lu.assertEquals(sent[#sent].body, "Goodbye.")
end

function TestVoiceIvr:test_words_are_speech()
   local e, sent = engine()
   local exec = call(e, ivr())
   press(e, "  sales please ")
   lu.assertEquals(exec.context.widgets.menu, { SpeechResult = "sales please", Confidence = "0.9" })
   lu.assertEquals(exec.steps[3].name, "speech")
   lu.assertEquals(exec.state, "heard")
   lu.assertEquals(sent[#sent].body, "You said sales please.")
end

function TestVoiceIvr:test_no_key_is_a_timeout()
   local e, sent = engine()
   local exec = call(e, ivr())
   lu.assertTrue(e:timeout(exec))
   lu.assertEquals(exec.steps[3].name, "timeout")
   lu.assertEquals(exec.context.widgets.menu, {})
   lu.assertEquals(exec.state, "bye")
   lu.assertEquals(exec.status, "ended")
   lu.assertEquals(sent[#sent].body, "Goodbye.")
end

function TestVoiceIvr:test_an_empty_reply_is_a_timeout_too()
   local e = engine()
   local exec = call(e, ivr())
   press(e, "   ")
   lu.assertEquals(exec.steps[3].name, "timeout")
   lu.assertEquals(exec.state, "bye")
end

function TestVoiceIvr:test_silence_on_the_recording_is_no_audio()
   local e = engine()
   local exec = call(e, ivr())
   press(e, "2")
   lu.assertTrue(e:timeout(exec))
   lu.assertEquals(exec.steps[#exec.steps - 1].name, "noAudio")
   lu.assertEquals(exec.context.widgets.voicemail, {})
   lu.assertEquals(exec.state, "bye")
end

function TestVoiceIvr:test_recording_duration_is_the_time_waited_up_to_max_length()
   local t = 1000
   local e = rivulet.engine{ now = function() return t end }
   local exec = call(e, ivr())
   press(e, "2")
   t = t + 42
   press(e, "hello")
   lu.assertEquals(exec.context.widgets.voicemail.RecordingDuration, "42")

   t = 1000
   exec = call(e, ivr())
   press(e, "2")
   t = t + 500                        -- past max_length = 60
   press(e, "a long one")
   lu.assertEquals(exec.context.widgets.voicemail.RecordingDuration, "60")
end

TestVoiceWidgets = {}

local function chain(states)
   local list = { { name = "Trigger", type = "trigger", properties = {},
                    transitions = { tr("incomingCall", states[1].name) } } }
   for _, s in ipairs(states) do list[#list + 1] = s end
   return { initial_state = "Trigger", states = list }
end

function TestVoiceWidgets:test_say_play_plays_audio_and_digits()
   local e, sent = engine()
   local exec = call(e, chain{
      { name = "tune", type = "say-play",
        properties = { play = "https://example.invalid/hold.mp3", loop = 2 },
        transitions = { tr("audioComplete", "dial") } },
      { name = "dial", type = "say-play", properties = { digits = "1234#" },
        transitions = { tr("audioComplete", "both") } },
      { name = "both", type = "say-play", properties = { say = "Hi", digits = "9" },
        transitions = { tr("audioComplete", "silent") } },
      { name = "silent", type = "say-play", properties = {},
        transitions = { tr("audioComplete") } },
   })
   lu.assertEquals(exec.status, "ended")
   lu.assertEquals(bodies(sent),
                   { "[play https://example.invalid/hold.mp3]", "[digits 1234#]", "Hi [digits 9]" })
   lu.assertEquals(#exec.steps, 5)
end

function TestVoiceWidgets:test_gather_default_timeout_and_play_prompt()
   local e, sent = engine()
   local exec = call(e, chain{
      { name = "g", type = "gather-input-on-call",
        properties = { play = "https://example.invalid/menu.mp3" },
        transitions = { tr("keypress"), tr("speech"), tr("timeout") } },
   })
   lu.assertEquals(bodies(sent), { "[play https://example.invalid/menu.mp3]" })
   lu.assertEquals(exec.wait.deadline - exec.wait.since, 5)
   press(e, "42")
   lu.assertEquals(exec.context.widgets.g, { Digits = "42" })
   lu.assertEquals(exec.steps[2].name, "keypress")
end

function TestVoiceWidgets:test_call_widgets_that_go_straight_on()
   local e, sent = engine()
   local exec = call(e, chain{
      { name = "stream", type = "fork-stream",
        properties = { stream_action = "start", stream_url = "wss://example.invalid" },
        transitions = { tr("next", "rec") } },
      { name = "rec", type = "record-call", properties = { record_call = true },
        transitions = { tr("success", "queue"), tr("failed") } },
      { name = "queue", type = "enqueue-call",
        properties = { queue_name = "support", priority = 1 },
        transitions = { tr("callComplete", "out"), tr("failedToEnqueue"), tr("callFailure") } },
      { name = "out", type = "make-outgoing-call-v2",
        properties = { from = LINE, to = "+15550003333" },
        transitions = { tr("answered", "legacy"), tr("busy"), tr("noAnswer"), tr("failed") } },
      { name = "legacy", type = "make-outgoing-call-v1", properties = {},
        transitions = { tr("answered"), tr("hangup") } },
   })
   lu.assertEquals(exec.status, "ended")
   lu.assertNil(exec.failed)
   lu.assertEquals(path(exec), {
      "incomingCall:Trigger->stream", "next:stream->rec", "success:rec->queue",
      "callComplete:queue->out",
      "answered:out->legacy", "answered:legacy->Ended",
   })
   local out = exec.context.widgets.out
   lu.assertEquals(out.To, "+15550003333")
   lu.assertEquals(out.From, LINE)
   lu.assertEquals(out.CallStatus, "in-progress")
   lu.assertStrMatches(out.CallSid, "CA%x+")
   lu.assertEquals(exec.context.widgets.legacy.To, CALLER)
   lu.assertEquals(sent, {})
end

function TestVoiceWidgets:test_known_widgets_that_do_not_run_end_the_execution()
   for _, t in ipairs{ "capture-payments", "connect-virtual-agent", "connect-virtual-agent-v2",
                       "run-conversation-relay", "add-twiml-redirect", "send-to-flex",
                       "send-to-auto-pilot", "start-conversation", "resume-conversation" } do
      local w = widgets.get(t)
      lu.assertNil(w.run, t)
      local e = engine()
      local exec = call(e, chain{ { name = "x", type = t, properties = {}, transitions = {} } })
      lu.assertEquals(exec.status, "ended", t)
      lu.assertTrue(exec.failed, t)
      lu.assertStrContains(exec.reason, "'x': widget type '" .. t .. "' cannot run here")
   end
end

function TestVoiceWidgets:test_every_registered_type_has_a_module()
   for t, name in pairs(widgets.TYPES) do
      local w = widgets.get(t)
      lu.assertNotNil(w, t)
      lu.assertEquals(w.type, t, name)
      lu.assertIsTable(w.required, t)
      if t ~= "lua" then lu.assertIsTable(w.events, t) end
      if w.run then lu.assertIsFunction(w.run, t) end
   end
end

function TestVoiceWidgets:test_events_as_studio_lists_them()
   local want = {
      ["say-play"] = { "audioComplete" },
      ["gather-input-on-call"] = { "keypress", "speech", "timeout" },
      ["record-voicemail"] = { "recordingComplete", "noAudio", "hangup" },
      ["connect-call-to"] = { "callCompleted", "hangup" },
      ["make-outgoing-call-v2"] = { "answered", "busy", "noAnswer", "failed" },
      ["record-call"] = { "success", "failed" },
      ["enqueue-call"] = { "callComplete", "failedToEnqueue", "callFailure" },
      ["fork-stream"] = { "next" },
      ["add-twiml-redirect"] = { "return", "timeout", "fail" },
      ["run-conversation-relay"] = { "success", "failed" },
      ["connect-virtual-agent"] = { "return", "hangup" },
      ["start-conversation"] = { "created", "failed" },
      ["resume-conversation"] = { "resumed", "failed" },
      ["send-to-auto-pilot"] = { "sessionEnded", "failure", "timeout" },
   }
   for t, events in pairs(want) do lu.assertEquals(widgets.get(t).events, events, t) end
end

-- Cedric's Joke Hotline (corpus 06), read in place: press 1, leave a joke.
TestVoiceCorpus = {}

function TestVoiceCorpus:test_joke_hotline_records_a_joke()
   helper.skip_without_corpus()
   local file = helper.corpus .. "06_twiliodeved_cedrics-joke-hotline.json"
   local flow = assert(rivulet.load_flow(file))
   local e, sent = engine()
   local exec = call(e, flow)
   lu.assertEquals(exec.state, "menu")
   lu.assertEquals(bodies(sent), {
      "Greetings! Welcome to Cedric's Joke Hotline.",
      "Press 1 to submit a joke,\nPress 2 to rate the jokes that humans have submitted",
   })
   press(e, "1")
   lu.assertEquals(exec.state, "record_voicemail_1")
   lu.assertEquals(sent[3].body,
                   "After the beep, please kindly leave your joke. I will process it for humor.")
   press(e, "Why did the robot cross the road?")
   lu.assertEquals(exec.status, "ended")
   lu.assertNil(exec.failed)
   lu.assertEquals(exec.context.widgets.record_voicemail_1.TranscriptionText,
                   "Why did the robot cross the road?")
   lu.assertEquals(exec.context.flow.variables.host, "cedrics-joke-collection-5476-dev.twil.io")
   lu.assertEquals(path(exec), {
      "incomingCall:Trigger->configuration", "next:configuration->Welcome",
      "audioComplete:Welcome->menu",
      "keypress:menu->check_menu", "match:check_menu->instructions",
      "audioComplete:instructions->record_voicemail_1",
      "recordingComplete:record_voicemail_1->Ended",
   })
end
