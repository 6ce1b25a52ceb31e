-- Voice widgets on a simulated call (rivulet.voice playing Twilio's part): an IVR walked
-- through with the engine (say-play, gather, split on Digits, record-voicemail,
-- connect-call-to), the TwiML each widget gives, the callbacks and outcomes that move it
-- on, hang-ups and the call's own timeout, and Cedric's Joke Hotline from the shared corpus.
-- The same widgets behind rivulet serve's webhook: spec/test_serve_voice.lua.
local lu = require "luaunit"
local helper = require "spec.helper"
local rivulet = require "rivulet"
local widgets = require "rivulet.widgets"
local voice = require "rivulet.voice"
local twiml = require "rivulet.twiml"
local cli_run = require "rivulet.cli.run"

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
           properties = { say = "Welcome to {{flow.channel.address}}.", loop = 1, voice = "Polly.Amy",
                          language = "en-GB" },
           transitions = { tr("audioComplete", "menu") } },
         { name = "menu", type = "gather-input-on-call",
           properties = { say = "Press 1 for sales, 2 to leave a message.", timeout = 7,
                          finish_on_key = "#", number_of_digits = 1, stop_gather = true,
                          speech_timeout = "auto", hints = "sales, message", profanity_filter = "true",
                          gather_language = "en-US" },
           transitions = { tr("keypress", "route"), tr("speech", "heard"), tr("timeout", "bye") } },
         { name = "route", type = "split-based-on",
           properties = { input = "{{widgets.menu.Digits}}" },
           transitions = { tr("noMatch", "bye"), match("1", "sales"), match("2", "voicemail") } },
         { name = "sales", type = "connect-call-to",
           properties = { noun = "number", to = "+15550002222",
                          caller_id = "{{contact.channel.address}}", timeout = 20, record = true },
           transitions = { tr("callCompleted"), tr("hangup") } },
         { name = "voicemail", type = "record-voicemail",
           properties = { timeout = 5, max_length = 60, transcribe = true, play_beep = "true",
                          finish_on_key = "#" },
           transitions = { tr("recordingComplete", "thanks"), tr("noAudio", "bye"),
                           tr("hangup", "notify") } },
         { name = "thanks", type = "say-play",
           properties = { say = "Thanks. You said: {{widgets.voicemail.TranscriptionText}}" },
           transitions = { tr("audioComplete") } },
         { name = "notify", type = "set-variables",
           properties = { variables = { { key = "left", value = "{{widgets.voicemail.CallStatus}}" } } },
           transitions = { tr("next", "bye") } },
         { name = "heard", type = "say-play",
           properties = { say = "You said {{widgets.menu.SpeechResult}}." },
           transitions = { tr("audioComplete") } },
         { name = "bye", type = "say-play", properties = { say = "Goodbye." },
           transitions = { tr("audioComplete") } },
      },
   }
end

-- an engine that records what it sends; returns engine, sent messages
local function engine(opts)
   local sent = {}
   opts = opts or {}
   opts.on_message = function(_, m) sent[#sent + 1] = m end
   return rivulet.engine(opts), sent
end

local function call(e, flow)
   local exec = assert(e:start(flow, { event = "incomingCall", from = CALLER, to = LINE }))
   voice.settle(e, exec)
   return exec
end

-- the caller's keys, words or message ("" : silence)
local function press(e, exec, text)
   local n = assert(voice.settle(e, exec), "the call waits for nothing")
   local r = voice.input(e, n, text)
   voice.settle(e, exec)
   return r
end

local function choose(e, exec, event, outputs)
   local n = assert(voice.settle(e, exec), "the call waits for nothing")
   local r = voice.choose(e, n, event, outputs)
   voice.settle(e, exec)
   return r
end

-- the TwiML of the wait the call is in
local function verbs(e, exec)
   local w = e:innermost(exec).wait
   lu.assertEquals(w.kind, "call")
   return w.data.twiml
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

function TestVoiceIvr:test_the_welcome_is_said_then_redirects_back()
   local e, sent = engine()
   local exec = assert(e:start(ivr(), { event = "incomingCall", from = CALLER, to = LINE }))
   -- before Twilio comes back, the execution waits in the say-play: audioComplete is the
   -- step taken when the audio has played
   lu.assertEquals(exec.state, "welcome")
   lu.assertEquals(#exec.steps, 1)
   local v = verbs(e, exec)
   lu.assertEquals(v[1], twiml.verb("Say", { voice = "Polly.Amy", language = "en-GB", loop = 1 },
                                    "Welcome to +15559990000."))
   lu.assertEquals(v[2], twiml.verb("Redirect", { method = "POST" }, twiml.callback("next")))
   lu.assertEquals(#v, 2)
   lu.assertEquals(bodies(sent), { "Welcome to +15559990000." })
   voice.settle(e, exec)
   lu.assertEquals(exec.state, "menu")
   lu.assertEquals(exec.steps[2].name, "audioComplete")
end

function TestVoiceIvr:test_the_menu_is_a_gather_with_studios_settings()
   local e, sent = engine()
   local exec = call(e, ivr())
   lu.assertEquals(exec.status, "active")
   lu.assertEquals(exec.state, "menu")
   lu.assertEquals(bodies(sent), { "Welcome to +15559990000.", "Press 1 for sales, 2 to leave a message." })
   for _, m in ipairs(sent) do
      lu.assertEquals(m.kind, "voice")
      lu.assertEquals(m.to, CALLER)
      lu.assertEquals(m.from, LINE)
   end
   local v = verbs(e, exec)
   lu.assertEquals(v[1].name, "Gather")
   lu.assertEquals(v[1].attrs, {
      action = twiml.callback("action"), method = "POST", input = "dtmf speech", timeout = 7,
      finishOnKey = "#", numDigits = 1, speechTimeout = "auto", hints = "sales, message",
      profanityFilter = true, language = "en-US" })
   lu.assertEquals(v[1].children, { twiml.verb("Say", {}, "Press 1 for sales, 2 to leave a message.") })
   lu.assertEquals(v[2], twiml.verb("Redirect", { method = "POST" }, twiml.callback("timeout")))
   -- the call's own deadline, not the gather's: Twilio times the gather out
   local w = exec.wait
   lu.assertEquals(w.deadline - w.since, require("rivulet.engine").LIMITS.call_wait)
end

function TestVoiceIvr:test_key_2_records_a_voicemail()
   local e, sent = engine()
   local exec = call(e, ivr())
   press(e, exec, "2")
   lu.assertEquals(exec.state, "voicemail")
   lu.assertEquals(exec.context.widgets.menu, { Digits = "2" })
   local v = verbs(e, exec)
   lu.assertEquals(v[1], twiml.verb("Record", { action = twiml.callback("action"), method = "POST", timeout = 5,
     maxLength = 60, transcribe = true, playBeep = true, finishOnKey = "#" }))
   lu.assertEquals(v[2], twiml.verb("Redirect", { method = "POST" }, twiml.callback("empty")))
   press(e, exec, "Please call me back about my order.")
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

function TestVoiceIvr:test_key_1_dials_and_the_dial_decides()
   local e, sent = engine()
   local exec = call(e, ivr())
   press(e, exec, "1")
   lu.assertEquals(exec.state, "sales")
   lu.assertEquals(sent[#sent].body, "[connecting the call to number +15550002222]")
   local v = verbs(e, exec)
   lu.assertEquals(v, { twiml.verb("Dial", { action = twiml.callback("action"), method = "POST",
      callerId = CALLER, timeout = 20, record = "record-from-answer" }, { twiml.verb("Number", {}, "+15550002222") }) })
   -- Twilio's action when the dialled call ends, the caller still there
   local r = e:handle{ kind = "call", sid = exec.sid, token = e:innermost(exec).wait.data.token, callback = "action",
                       fields = { DialCallStatus = "no-answer", DialCallSid = "CA1", CallStatus = "in-progress" } }
   lu.assertEquals(r.code, "resumed")
   lu.assertEquals(exec.status, "ended")
   lu.assertEquals(exec.steps[#exec.steps].name, "callCompleted")
   lu.assertEquals(exec.context.widgets.sales.DialCallStatus, "no-answer")
end

function TestVoiceIvr:test_a_dial_outcome_chosen_outside_hands_back_twilios_fields()
   local e = engine()
   local exec = call(e, ivr())
   press(e, exec, "1")
   choose(e, exec, "callCompleted")
   local out = exec.context.widgets.sales
   lu.assertEquals(out.DialCallStatus, "completed")
   lu.assertStrMatches(out.DialCallSid, "CA%x+")
   lu.assertEquals(exec.steps[#exec.steps].name, "callCompleted")
   -- the caller hanging up while connected is the widget's hangup
   exec = call(e, ivr())
   press(e, exec, "1")
   e:handle{ kind = "call", sid = exec.sid, token = exec.wait.data.token, callback = "action",
             fields = { DialCallStatus = "completed", CallStatus = "completed" } }
   lu.assertEquals(exec.steps[#exec.steps].name, "hangup")
end

function TestVoiceIvr:test_the_finish_key_and_the_number_of_digits_end_the_keys()
   local e = engine()
   local exec = call(e, ivr())
   press(e, exec, "1#")
   lu.assertEquals(exec.context.widgets.menu, { Digits = "1" })
   lu.assertEquals(exec.state, "sales")
   voice.hangup(e, exec)
   -- numDigits 1: Twilio takes the first key and stops
   exec = call(e, ivr())
   press(e, exec, "*9")
   lu.assertEquals(exec.context.widgets.menu, { Digits = "*" })
   lu.assertEquals(exec.state, "bye")
   -- the finish key alone is no input: the gather times out
   exec = call(e, ivr())
   press(e, exec, "#")
   lu.assertEquals(exec.steps[3].name, "timeout")
end

function TestVoiceIvr:test_words_are_speech()
   local e, sent = engine()
   local exec = call(e, ivr())
   press(e, exec, "  sales please ")
   lu.assertEquals(exec.context.widgets.menu, { SpeechResult = "sales please", Confidence = "0.9" })
   lu.assertEquals(exec.steps[3].name, "speech")
   lu.assertEquals(exec.state, "heard")
   lu.assertEquals(sent[#sent].body, "You said sales please.")
end

function TestVoiceIvr:test_silence_is_the_gathers_timeout()
   local e, sent = engine()
   local exec = call(e, ivr())
   press(e, exec, "")
   lu.assertEquals(exec.steps[3].name, "timeout")
   lu.assertEquals(exec.context.widgets.menu, {})
   lu.assertEquals(exec.status, "ended")
   lu.assertEquals(sent[#sent].body, "Goodbye.")
   lu.assertEquals(path(exec)[#path(exec)], "audioComplete:bye->Ended")
end

function TestVoiceIvr:test_silence_on_the_recording_is_no_audio()
   local e = engine()
   local exec = call(e, ivr())
   press(e, exec, "2")
   press(e, exec, "   ")
   lu.assertEquals(exec.steps[#exec.steps - 1].name, "noAudio")
   lu.assertEquals(exec.context.widgets.voicemail, {})
   lu.assertEquals(exec.state, "bye")
end

function TestVoiceIvr:test_recording_duration_is_the_time_waited_up_to_max_length()
   local t = 1000
   local e = engine{ now = function() return t end }
   local exec = call(e, ivr())
   press(e, exec, "2")
   t = t + 42
   press(e, exec, "hello")
   lu.assertEquals(exec.context.widgets.voicemail.RecordingDuration, "42")
   t = 1000
   exec = call(e, ivr())
   press(e, exec, "2")
   t = t + 500                        -- past max_length = 60
   press(e, exec, "a long one")
   lu.assertEquals(exec.context.widgets.voicemail.RecordingDuration, "60")
end

-- ---- hang-ups ---------------------------------------------------------------------------------

TestVoiceHangup = {}

function TestVoiceHangup:test_a_hangup_in_the_menu_ends_the_call()
   local e = engine()
   local exec = call(e, ivr())
   local r = voice.hangup(e, exec)
   lu.assertEquals(r.code, "ended")
   lu.assertEquals(exec.status, "ended")
   lu.assertNil(exec.failed)
   lu.assertEquals(exec.reason, "call ended")
   lu.assertEquals(exec.state, "menu")
   lu.assertEquals(#exec.steps, 2)
end

function TestVoiceHangup:test_a_hangup_while_recording_is_its_hangup_and_the_flow_goes_on_without_voice()
   local e, sent = engine()
   local exec = call(e, ivr())
   press(e, exec, "2")
   local n = #sent
   lu.assertEquals(voice.hangup(e, exec).code, "resumed")
   -- hangup -> notify (set-variables) runs; bye (say-play) has nobody to talk to
   lu.assertEquals(exec.status, "ended")
   lu.assertEquals(exec.reason, "call ended")
   lu.assertEquals(exec.context.flow.variables.left, "completed")
   lu.assertEquals(path(exec)[5], "hangup:voicemail->notify")
   lu.assertEquals(path(exec)[6], "next:notify->bye")
   lu.assertEquals(#exec.steps, 6)
   lu.assertEquals(#sent, n, "nothing said after the hang-up")
end

function TestVoiceHangup:test_twilios_record_action_after_a_hangup_is_the_hangup_too()
   local e = engine()
   local exec = call(e, ivr())
   press(e, exec, "2")
   e:handle{ kind = "call", sid = exec.sid, token = exec.wait.data.token, callback = "action",
             fields = { Digits = "hangup", RecordingUrl = "https://x.invalid/RE1", RecordingDuration = "3" } }
   lu.assertEquals(exec.steps[5].name, "hangup")
   lu.assertEquals(exec.context.widgets.voicemail.RecordingUrl, "https://x.invalid/RE1")
   -- the status callback comes after: the execution already at bye ends there
   lu.assertEquals(exec.state, "bye")
   lu.assertEquals(voice.hangup(e, exec).code, "ended")
   lu.assertEquals(exec.reason, "call ended")
end

function TestVoiceHangup:test_a_hangup_noted_while_a_function_runs_ends_at_the_next_voice_widget()
   local flow = { initial_state = "Trigger", states = {
      { name = "Trigger", type = "trigger", properties = {}, transitions = { tr("incomingCall", "fn") } },
      { name = "fn", type = "run-function", properties = { url = "https://fn.invalid/x" },
        transitions = { tr("success", "said"), tr("fail", "said") } },
      { name = "said", type = "say-play", properties = { say = "Done." }, transitions = { tr("audioComplete") } },
   } }
   local pending = {}
   local http = { run_function = function(_, args) local c = { done = function() return false end, tag = args.tag }
                                                     pending[1] = c return c end,
                  poll = function() return 0 end }
   local e, sent = engine{ http = http }
   local exec = assert(e:start(flow, { event = "incomingCall", from = CALLER, to = LINE }))
   lu.assertEquals(exec.wait.kind, "http")
   local r = e:handle{ kind = "call_status", from = CALLER, to = LINE, status = "completed",
                       call_sid = exec.context.trigger.call.CallSid }
   lu.assertEquals(r.code, "noted")
   lu.assertEquals(exec.status, "active")
   -- the function answers; the say-play finds the call over
   pending[1].done = function() return true end
   pending[1].outcome = function() return { event = "success", status_code = 200 } end
   e:resume(exec, { kind = "http", outcome = pending[1]:outcome() })
   lu.assertEquals(exec.status, "ended")
   lu.assertEquals(exec.reason, "call ended")
   lu.assertEquals(exec.state, "said")
   lu.assertEquals(sent, {})
end

function TestVoiceHangup:test_another_calls_status_is_not_this_executions()
   local e = engine()
   local exec = call(e, ivr())
   local r = e:handle{ kind = "call_status", from = CALLER, to = LINE, status = "completed", call_sid = "CA" .. ("9"):rep(32) }
   lu.assertEquals(r.code, "none")
   lu.assertEquals(exec.status, "active")
   -- a status that is not final changes nothing
   r = e:handle{ kind = "call_status", from = CALLER, to = LINE, status = "in-progress" }
   lu.assertEquals(r.code, "noted")
   lu.assertEquals(exec.status, "active")
end

function TestVoiceHangup:test_an_unanswered_console_hangs_up_instead_of_looping()
   -- a gather that loops on its timeout: end of input hangs up at once
   local flow = { initial_state = "Trigger", states = {
      { name = "Trigger", type = "trigger", properties = {}, transitions = { tr("incomingCall", "ask") } },
      { name = "ask", type = "gather-input-on-call", properties = { say = "Anyone?" },
        transitions = { tr("keypress"), tr("speech"), tr("timeout", "ask") } },
   } }
   local e = engine()
   local exec = assert(e:start(flow, { event = "incomingCall", from = CALLER, to = LINE }))
   local notes = {}
   local _, stopped = cli_run.converse(e, exec, function() return nil end, { note = function(t) notes[#notes + 1] = t end })
   lu.assertNil(stopped)
   lu.assertEquals(exec.reason, "call ended")
   lu.assertEquals(#exec.steps, 1)
   lu.assertEquals(notes, { "the caller hangs up" })
   -- silence every time: the gather times out and asks again, until the repeat guard
   exec = assert(e:start(flow, { event = "incomingCall", from = CALLER, to = "+15559990001" }))
   cli_run.converse(e, exec, function() return "" end)
   lu.assertTrue(exec.failed)
   lu.assertStrContains(exec.reason, "'ask' ran 10 times in a row")
end

function TestVoiceHangup:test_a_call_with_no_word_for_the_call_wait_ends()
   local t = 0
   local e = engine{ now = function() return t end, limits = { call_wait = 30 } }
   local exec = call(e, ivr())
   t = 29
   e:handle{ kind = "tick" }
   lu.assertEquals(exec.status, "active")
   t = 30
   e:handle{ kind = "tick" }
   lu.assertEquals(exec.status, "ended")
   lu.assertEquals(exec.reason, "call ended (no word from the call in 30 s)")
end

function TestVoiceHangup:test_a_retried_callback_never_advances_twice()
   local e = engine()
   local exec = call(e, ivr())
   local token = exec.wait.data.token
   local cb = { kind = "call", sid = exec.sid, token = token, callback = "action", fields = { Digits = "2" } }
   lu.assertEquals(e:handle(cb).code, "resumed")
   local steps = #exec.steps
   lu.assertEquals(e:handle(cb).code, "stale")
   lu.assertEquals(#exec.steps, steps)
   lu.assertEquals(e:handle{ kind = "call", sid = exec.sid, callback = "action" }.code, "stale")
   lu.assertEquals(e:handle{ kind = "call", sid = "FN" .. ("0"):rep(32), token = token }.code, "none")
end

-- ---- every widget ------------------------------------------------------------------------------

TestVoiceWidgets = {}

local function chain(states, event)
   local list = { { name = "Trigger", type = "trigger", properties = {},
                    transitions = { tr(event or "incomingCall", states[1].name) } } }
   for _, s in ipairs(states) do list[#list + 1] = s end
   return { initial_state = "Trigger", states = list }
end

local function one(type_, props, transitions)
   local ts = {}
   for _, ev in ipairs(widgets.get(type_).events) do ts[#ts + 1] = tr(ev, transitions and transitions[ev]) end
   return { name = "w", type = type_, properties = props or {}, transitions = ts }
end

-- a widget's wait answered by a callback carrying fields -> the step's event, the outputs
local function called_back(type_, props, callback, fields)
   local e = engine()
   local exec = assert(e:start(chain{ one(type_, props) }, { event = "incomingCall", from = CALLER, to = LINE }))
   local w = e:innermost(exec).wait
   local r = e:handle{ kind = "call", sid = exec.sid, token = w.data.token, callback = callback, fields = fields or {} }
   lu.assertEquals(r.code, "resumed", type_)
   return exec.steps[#exec.steps].name, exec.context.widgets.w, w
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
   lu.assertEquals(bodies(sent), { "[play https://example.invalid/hold.mp3]", "[digits 1234#]", "Hi [digits 9]" })
   lu.assertEquals(#exec.steps, 5)
   local say = widgets.get("say-play")
   lu.assertEquals(twiml.prompt{ play = "u", loop = 2 }, { twiml.verb("Play", { loop = 2 }, "u") })
   lu.assertEquals(twiml.prompt{ say = "Hi", digits = "9" },
                   { twiml.verb("Say", {}, "Hi"), twiml.verb("Play", { digits = "9" }) })
   lu.assertEquals(say.line{}, nil)
end

function TestVoiceWidgets:test_gather_default_timeout_and_play_prompt()
   local e, sent = engine()
   local exec = call(e, chain{
      { name = "g", type = "gather-input-on-call",
        properties = { play = "https://example.invalid/menu.mp3", finish_on_key = "" },
        transitions = { tr("keypress"), tr("speech"), tr("timeout") } },
   })
   lu.assertEquals(bodies(sent), { "[play https://example.invalid/menu.mp3]" })
   local g = verbs(e, exec)[1]
   lu.assertEquals(g.attrs.timeout, 5)
   lu.assertEquals(g.attrs.finishOnKey, "", "an empty finish key is Twilio's 'none'")
   lu.assertEquals(g.children, { twiml.verb("Play", {}, "https://example.invalid/menu.mp3") })
   press(e, exec, "42#")                     -- no finish key: # is a key like the others
   lu.assertEquals(exec.context.widgets.g, { Digits = "42#" })
   lu.assertEquals(exec.steps[2].name, "keypress")
end

function TestVoiceWidgets:test_gather_takes_every_field_twilio_posts()
   local ev, out = called_back("gather-input-on-call", {}, "action",
     { Digits = "7", CallSid = "CA1", From = CALLER, CallStatus = "in-progress" })
   lu.assertEquals(ev, "keypress")
   lu.assertEquals(out, { Digits = "7", CallSid = "CA1", From = CALLER, CallStatus = "in-progress" })
   ev, out = called_back("gather-input-on-call", {}, "action", { SpeechResult = "yes", Confidence = "0.42" })
   lu.assertEquals(ev, "speech")
   lu.assertEquals(out.Confidence, "0.42")
   lu.assertEquals((called_back("gather-input-on-call", {}, "timeout")), "timeout")
end

function TestVoiceWidgets:test_every_type_runs()
   for t in pairs(widgets.TYPES) do
      if t ~= "trigger" then lu.assertIsFunction(widgets.get(t).run, t) end
   end
end

function TestVoiceWidgets:test_every_registered_type_has_a_module()
   for t, name in pairs(widgets.TYPES) do
      local w = widgets.get(t)
      lu.assertNotNil(w, t)
      lu.assertEquals(w.type, t, name)
      lu.assertIsTable(w.required, t)
      if t ~= "lua" then lu.assertIsTable(w.events, t) end
      if w.timeout_event then
         local found = false
         for _, e in ipairs(w.events) do if e == w.timeout_event then found = true end end
         lu.assertTrue(found, t .. ": timeout_event is one of its events")
      end
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

function TestVoiceWidgets:test_connect_call_to_nouns()
   local D = widgets.get("connect-call-to")
   local function nouns(p) return D.verbs(p)[1].children end
   lu.assertEquals(nouns{ noun = "number-multi", to = "+1, +2 ,+3" },
     { twiml.verb("Number", {}, "+1"), twiml.verb("Number", {}, "+2"), twiml.verb("Number", {}, "+3") })
   lu.assertEquals(nouns{ noun = "client", to = "alice" }, { twiml.verb("Client", {}, "alice") })
   lu.assertEquals(nouns{ noun = "conference", to = "room" }, { twiml.verb("Conference", {}, "room") })
   lu.assertEquals(nouns{ noun = "sip", sip_endpoint = "sip:a@b.invalid", sip_username = "u", sip_password = "p" },
     { twiml.verb("Sip", { username = "u", password = "p" }, "sip:a@b.invalid") })
   lu.assertEquals(D.verbs{ to = "+1", time_limit = "600" }[1].attrs.timeLimit, 600)
end

function TestVoiceWidgets:test_enqueue_and_flex_on_a_call()
   local ev, out, w = called_back("enqueue-call", { queue_name = "support", wait_url = "https://x.invalid/wait" },
                                  "action", { QueueResult = "bridged", QueueTime = "12" })
   lu.assertEquals(ev, "callComplete")
   lu.assertEquals(out.QueueTime, "12")
   lu.assertEquals(w.data.twiml, { twiml.verb("Enqueue", { action = twiml.callback("action"), method = "POST",
     waitUrl = "https://x.invalid/wait" }, "support") })
   lu.assertEquals((called_back("enqueue-call", {}, "action", { QueueResult = "queue-full" })), "failedToEnqueue")
   lu.assertEquals((called_back("enqueue-call", {}, "action", { QueueResult = "system-error" })), "callFailure")
   local _
   ev, _, w = called_back("send-to-flex", { workflow = "WW1", attributes = '{"a":1}', priority = "5", timeout = "30" },
                          "action", { QueueResult = "hangup" })
   lu.assertEquals(ev, "callComplete")
   lu.assertEquals(w.data.twiml, { twiml.verb("Enqueue", { action = twiml.callback("action"), method = "POST",
     workflowSid = "WW1" }, { twiml.verb("Task", { priority = 5, timeout = 30 }, '{"a":1}') }) })
end

function TestVoiceWidgets:test_flex_for_a_message_waits_for_the_outside_world()
   local e = engine()
   local flow = chain({ one("send-to-flex", { workflow = "WW1", timeout = "60" }) }, "incomingMessage")
   local exec = assert(e:start(flow, { from = CALLER, to = LINE, body = "agent" }))
   lu.assertEquals(exec.wait.kind, "event")
   lu.assertEquals(exec.wait.deadline - exec.wait.since, 60)
   lu.assertNil(exec.wait.data.twiml)
   lu.assertEquals(e:handle{ kind = "flow_event", from = CALLER, to = LINE, event = "nope" }.code, "bad_input")
   lu.assertEquals(e:handle{ kind = "flow_event", from = CALLER, to = LINE, event = "callComplete",
                             fields = { TaskSid = "WT1" } }.code, "resumed")
   lu.assertEquals(exec.context.widgets.w, { TaskSid = "WT1" })
   lu.assertEquals(exec.steps[2].name, "callComplete")
   -- no word at all: failedToEnqueue when the wait runs out
   exec = assert(e:start(flow, { from = CALLER, to = LINE, body = "agent" }))
   lu.assertEquals(e:handle{ kind = "timeout", sid = exec.sid }.code, "timed_out")
   lu.assertEquals(exec.steps[2].name, "failedToEnqueue")
end

function TestVoiceWidgets:test_fork_stream_and_call_recording_go_on_when_twilio_comes_back()
   local ev, _, w = called_back("fork-stream", { stream_action = "start", stream_url = "wss://x.invalid/s",
     stream_name = "s1", stream_track = "both_tracks", stream_parameters = { { key = "k", value = "v" } } }, "next")
   lu.assertEquals(ev, "next")
   lu.assertEquals(w.data.twiml[1], twiml.verb("Start", {}, { twiml.verb("Stream", { name = "s1", url = "wss://x.invalid/s",
     track = "both_tracks" }, { twiml.verb("Parameter", { name = "k", value = "v" }) }) }))
   _, _, w = called_back("fork-stream", { stream_action = "stop", stream_name = "s1" }, "next")
   lu.assertEquals(w.data.twiml[1].name, "Stop")
   ev, _, w = called_back("record-call", { record_call = true, recording_channels = "dual", trim = "trim-silence" }, "next")
   lu.assertEquals(ev, "success")
   lu.assertEquals(w.data.twiml[1], twiml.verb("Start", {}, { twiml.verb("Recording", { channels = "dual",
     trim = "trim-silence" }) }))
   -- stopping has no TwiML; without Twilio's API nothing records here
   local e = engine()
   local exec = call(e, chain{ one("record-call", { record_call = false }) })
   lu.assertEquals(exec.steps[2].name, "success")
end

function TestVoiceWidgets:test_capture_payments_results()
   local cases = { success = "success", ["too-many-failed-attempts"] = "maxFailedAttempts",
                   ["payment-connector-error"] = "providerError", ["caller-interrupted-with-star"] = "payInterrupted",
                   ["caller-hung-up"] = "hangup", ["validation-error"] = "validationError" }
   for result, event in pairs(cases) do
      lu.assertEquals((called_back("capture-payments", { payment_connector = "Stripe" }, "action", { Result = result })), event)
   end
   local _, out, w = called_back("capture-payments", { payment_connector = "Stripe", payment_amount = "10.50",
     currency = "usd", max_attempts = "2", security_code = true, postal_code = "false", payment_token_type = "reusable" },
     "action", { Result = "success", PaymentConfirmationCode = "ch_1" })
   lu.assertEquals(out.PaymentConfirmationCode, "ch_1")
   lu.assertEquals(w.data.twiml[1], twiml.verb("Pay", { action = twiml.callback("action"), paymentConnector = "Stripe",
     chargeAmount = "10.50", currency = "usd", maxAttempts = 2, securityCode = true, postalCode = false,
     tokenType = "reusable" }))
end

function TestVoiceWidgets:test_virtual_agents_and_conversation_relay()
   local ev, _, w = called_back("connect-virtual-agent", { connector = "df1", language = "en-US" }, "action",
                                { VirtualAgentStatus = "completed" })
   lu.assertEquals(ev, "return")
   lu.assertEquals(w.data.twiml, { twiml.verb("Connect", { action = twiml.callback("action"), method = "POST" },
     { twiml.verb("VirtualAgent", { connectorName = "df1", language = "en-US" }) }) })
   lu.assertEquals((called_back("connect-virtual-agent", {}, "action", { CallStatus = "completed" })), "hangup")
   lu.assertEquals((called_back("connect-virtual-agent-v2", {}, "action", { VirtualAgentStatus = "live-agent-handoff" })),
                   "live-agent-handoff")
   lu.assertEquals((called_back("connect-virtual-agent-v2", {}, "action", {})), "completed")
   ev, _, w = called_back("run-conversation-relay", { url = "wss://ai.invalid", welcome_greeting = "Hi!",
     interruptible = true, parameters = { { key = "a", value = "b" } } }, "action", { SessionStatus = "completed" })
   lu.assertEquals(ev, "success")
   lu.assertEquals(w.data.twiml[1].children[1], twiml.verb("ConversationRelay", { url = "wss://ai.invalid",
     welcomeGreeting = "Hi!", interruptible = "true" }, { twiml.verb("Parameter", { name = "a", value = "b" }) }))
   lu.assertEquals((called_back("run-conversation-relay", {}, "action", { SessionStatus = "failed" })), "failed")
   lu.assertEquals((called_back("send-to-auto-pilot", { autopilot_assistant_sid = "UA1" }, "action", {})), "sessionEnded")
end

function TestVoiceWidgets:test_twiml_redirect_returns_with_the_query_as_outputs()
   local e = engine()
   local flow = chain{ one("add-twiml-redirect", { url = "https://x.invalid/twiml", method = "get", timeout = "60" },
                           { ["return"] = "after" }),
                       { name = "after", type = "say-play", properties = { say = "Back: {{widgets.w.foo}}" },
                         transitions = { tr("audioComplete") } } }
   local exec = call(e, flow)
   lu.assertEquals(verbs(e, exec), { twiml.verb("Redirect", { method = "GET" },
     twiml.with_callback("https://x.invalid/twiml", "FlowReturnUrl", "return")) })
   lu.assertEquals(twiml.render(verbs(e, exec), function(k) return "https://r.invalid/hook?FlowEvent=" .. k end),
     twiml.HEADER .. '<Response><Redirect method="GET">https://x.invalid/twiml?FlowReturnUrl=' ..
     'https%3A%2F%2Fr.invalid%2Fhook%3FFlowEvent%3Dreturn</Redirect></Response>')
   lu.assertEquals(exec.wait.deadline - exec.wait.since, 60)
   local r = e:handle{ kind = "flow_event", from = CALLER, to = LINE, call_sid = exec.context.trigger.call.CallSid,
                       event = "return", fields = { foo = "bar" } }
   lu.assertEquals(r.code, "resumed")
   lu.assertEquals(exec.context.widgets.w, { foo = "bar" })
   lu.assertEquals(exec.state, "after")
   voice.hangup(e, exec)
   -- no return in time
   exec = call(e, flow)
   e:handle{ kind = "timeout", sid = exec.sid }
   lu.assertEquals(exec.steps[2].name, "timeout")
   -- "0": control does not come back, the timeout is now
   local seen
   e = engine{ on_call = function(_, w) seen = w end }
   exec = assert(e:start(chain{ one("add-twiml-redirect", { url = "https://x.invalid/t", timeout = "0" }) },
                         { event = "incomingCall", from = CALLER, to = LINE }))
   lu.assertEquals(seen.deadline, seen.since, "the TwiML is given, the deadline is now")
   e:handle{ kind = "tick" }
   lu.assertEquals(exec.steps[2].name, "timeout")
end

function TestVoiceWidgets:test_an_outgoing_call_answered_carries_the_voice_widgets_after_it()
   local flow = chain({ one("make-outgoing-call-v2", { to = "+15550003333" }, { answered = "hello" }),
                        { name = "hello", type = "say-play", properties = { say = "This is a call from {{flow.channel.address}}." },
                          transitions = { tr("audioComplete") } } }, "incomingRequest")
   local e, sent = engine()
   local exec = assert(e:start(flow, { event = "incomingRequest", from = LINE, to = CALLER }))
   lu.assertEquals(exec.wait.kind, "event")
   lu.assertNil(e:call_sid(exec))
   lu.assertEquals(exec.wait.deadline - exec.wait.since, 120)
   choose(e, exec, "answered")
   local out = exec.context.widgets.w
   lu.assertStrMatches(out.CallSid, "CA%x+")
   lu.assertEquals(out.To, "+15550003333")
   lu.assertEquals(out.From, LINE)
   lu.assertEquals(e:call_sid(exec), out.CallSid)
   lu.assertEquals(exec.state, "hello")
   lu.assertEquals(bodies(sent), { "This is a call from +15559990000." })
   voice.settle(e, exec)
   lu.assertEquals(exec.status, "ended")
   -- nobody answers: noAnswer when the ring timeout (and a margin) runs out
   exec = assert(e:start(flow, { event = "incomingRequest", from = LINE, to = "+15550004444" }))
   e:handle{ kind = "timeout", sid = exec.sid }
   lu.assertEquals(exec.steps[2].name, "noAnswer")
end

function TestVoiceWidgets:test_an_outgoing_call_through_the_calls_api()
   local posted
   local http = {
      http_request = function(_, args)
         posted = args
         local o = { event = "success", status_code = 201, parsed = { sid = "CA" .. ("7"):rep(32), status = "queued" } }
         return { done = function() return true end, outcome = function() return o end }
      end,
      poll = function() return 0 end,
   }
   local api = { url = "https://api.invalid", account_sid = "AC" .. ("0"):rep(32), auth_token = "t",
                 callback_url = function(exec, widget, token, kind)
                    return "https://rivulet.invalid/" .. exec.sid .. "?Widget=" .. widget .. "&Token=" .. tostring(token)
                       .. "&Callback=" .. kind end }
   local flow = chain({ one("make-outgoing-call-v1", { to = "+15550003333", timeout = 20, detect_answering_machine = true,
                                                       send_digits = "1w2" }) }, "incomingRequest")
   local e = engine{ http = http, twilio = api }
   local exec = assert(e:start(flow, { event = "incomingRequest", from = LINE, to = CALLER }))
   e:resume(exec, { kind = "http", outcome = { event = "success", status_code = 201,
                                                 parsed = { sid = "CA" .. ("7"):rep(32), status = "queued" } } })
   lu.assertEquals(posted.url, "https://api.invalid/2010-04-01/Accounts/AC" .. ("0"):rep(32) .. "/Calls.json")
   local p = {}
   for _, kv in ipairs(posted.parameters) do p[kv.key] = kv.value end
   lu.assertEquals(p.To, "+15550003333")
   lu.assertEquals(p.From, LINE)
   lu.assertEquals(p.Timeout, 20)
   lu.assertEquals(p.MachineDetection, "Enable")
   lu.assertEquals(p.SendDigits, "1w2")
   lu.assertStrContains(p.Url, "Callback=answered")
   lu.assertEquals(p.StatusCallback, "https://rivulet.invalid/" .. exec.sid .. "?Widget=w&Token=nil&Callback=status")
   lu.assertEquals(exec.wait.kind, "event")
   lu.assertEquals(exec.wait.data.call_sid, "CA" .. ("7"):rep(32))
   local token = p.Url:match("Token=(%x+)")
   lu.assertEquals(token, exec.wait.data.token)
   -- busy, before any answer
   local r = e:handle{ kind = "call_status", sid = exec.sid, call_sid = "CA" .. ("7"):rep(32), status = "busy",
                       fields = { CallStatus = "busy" } }
   lu.assertEquals(r.code, "resumed")
   lu.assertEquals(exec.steps[2].name, "busy")
   -- answered by a machine (v1)
   exec = assert(e:start(flow, { event = "incomingRequest", from = LINE, to = "+15550005555" }))
   e:resume(exec, { kind = "http", outcome = { event = "success", status_code = 201, parsed = { sid = "CA2" } } })
   e:handle{ kind = "call", sid = exec.sid, token = exec.wait.data.token, callback = "answered",
             fields = { CallSid = "CA2", AnsweredBy = "machine_end_beep" } }
   lu.assertEquals(exec.steps[2].name, "answeredByMachine")
   -- refused
   exec = assert(e:start(flow, { event = "incomingRequest", from = LINE, to = "+15550006666" }))
   e:resume(exec, { kind = "http", outcome = { event = "failed", status_code = 400,
                                                 parsed = { code = 21211, message = "Invalid 'To'" } } })
   lu.assertEquals(exec.steps[2].name, "failed")
   lu.assertEquals(exec.steps[2].reason, "http_status")
   lu.assertStrContains(exec.steps[2].note, "Invalid 'To' (error 21211)")
   lu.assertEquals(exec.context.widgets.w, {})
end

function TestVoiceWidgets:test_conversations_wait_for_the_outside_world()
   for _, t in ipairs{ "start-conversation", "resume-conversation" } do
      local e = engine()
      local exec = assert(e:start(chain({ one(t) }, "incomingRequest"), { event = "incomingRequest", from = LINE, to = CALLER }))
      lu.assertEquals(exec.wait.kind, "event", t)
      e:handle{ kind = "timeout", sid = exec.sid }
      lu.assertEquals(exec.steps[2].name, "failed", t)
   end
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
   press(e, exec, "1")
   lu.assertEquals(exec.state, "record_voicemail_1")
   lu.assertEquals(sent[3].body,
                   "After the beep, please kindly leave your joke. I will process it for humor.")
   press(e, exec, "Why did the robot cross the road?")
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

-- ---- validate: voice widgets need a call ------------------------------------------------------

TestVoiceValidate = {}

local function warnings(flow)
   local _, problems = rivulet.validate(flow)
   local out = {}
   for _, p in ipairs(problems) do
      if p.level == "warning" and p.message:find("voice widget", 1, true) then out[#out + 1] = p.path .. " " .. p.message end
   end
   return out
end

function TestVoiceValidate:test_a_voice_widget_no_call_reaches_is_a_warning()
   local hello = { name = "hello", type = "say-play", properties = { say = "Hi" }, transitions = { tr("audioComplete") } }
   local w = warnings{ initial_state = "Trigger", states = {
      { name = "Trigger", type = "trigger", properties = {}, transitions = { tr("incomingMessage", "hello") } }, hello } }
   lu.assertEquals(#w, 1)
   lu.assertStrContains(w[1], "#/states/1 'hello' (say-play) is a voice widget, but no call reaches it")
   -- from a call, an outgoing call answered, or as a subflow (its parent may be on a call): fine
   for _, start in ipairs{ { tr("incomingCall", "hello") }, { tr("incomingParent", "hello") } } do
      lu.assertEquals(warnings{ initial_state = "Trigger", states = {
         { name = "Trigger", type = "trigger", properties = {}, transitions = start }, hello } }, {})
   end
   lu.assertEquals(warnings{ initial_state = "Trigger", states = {
      { name = "Trigger", type = "trigger", properties = {}, transitions = { tr("incomingRequest", "out") } },
      { name = "out", type = "make-outgoing-call-v2", properties = {},
        transitions = { tr("answered", "hello"), tr("busy"), tr("noAnswer"), tr("failed") } }, hello } }, {})
   -- widgets that serve messages too (Flex, TwiML Redirect) are not voice-only
   lu.assertEquals(warnings{ initial_state = "Trigger", states = {
      { name = "Trigger", type = "trigger", properties = {}, transitions = { tr("incomingMessage", "flex") } },
      { name = "flex", type = "send-to-flex", properties = { workflow = "WW1" }, transitions = {} } } }, {})
end

function TestVoiceValidate:test_the_corpus_voice_flows_have_their_calls()
   helper.skip_without_corpus()
   for _, f in ipairs{ "02_guvarallo_frontline-airtable-studio-bot.json", "06_twiliodeved_cedrics-joke-hotline.json",
                       "08_twilio-labs_sample-flows-github-actions_webinar.json", "09_mgmuscari_accfb-foodnow_bot_flow.json" } do
      lu.assertEquals(warnings(assert(rivulet.load_flow(helper.corpus .. f))), {}, f)
   end
end
