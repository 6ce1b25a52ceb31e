-- TwiML for the voice specs: a real XML parser (LuaExpat, Debian's lua-expat) turns
-- rivulet's answers into trees, and a table of Twilio's documented rules checks them:
-- which elements exist, where each may be nested, its attributes and their values, and
-- what text it holds.
--
--   local tw = require "spec.twiml"
--   local doc = tw.parse(body)          -- {name = "Response", attrs = {}, children = {...}, text = ""}
--   local ok, problems = tw.check(body) -- problems: {"Gather/@timeout: 'x' is not an integer >= 1", ...}
--   tw.find(doc, "Gather"), tw.all(doc, "Say"), tw.text(node)
--
-- The rules are Twilio's TwiML voice reference, one page per verb or noun (read through
-- the search tool's stored copies, mid-2026):
--   <Response> and the verbs        https://www.twilio.com/docs/voice/twiml
--   <Say>         https://www.twilio.com/docs/voice/twiml/say       language, loop (integer >= 0), voice
--   <Play>        https://www.twilio.com/docs/voice/twiml/play      loop (integer >= 0), digits (0-9 # * w);
--                 the URL as text
--   <Pause>       https://www.twilio.com/docs/voice/twiml/pause     length (seconds)
--   <Gather>      https://www.twilio.com/docs/voice/twiml/gather    action, finishOnKey (0-9 # * or ''),
--                 hints, input (dtmf, speech, dtmf speech), language, method (GET, POST), numDigits
--                 (positive integer), partialResultCallback(+Method), profanityFilter, speechModel,
--                 speechTimeout (positive integer or auto), timeout (positive integer),
--                 actionOnEmptyResult, bargeIn, enhanced; nests <Say>, <Play>, <Pause>
--   <Record>      https://www.twilio.com/docs/voice/twiml/record    action, method, timeout, finishOnKey,
--                 maxLength, playBeep, trim (trim-silence, do-not-trim), recordingStatusCallback(+Method,
--                 +Event), transcribe, transcribeCallback; empty
--   <Dial>        https://www.twilio.com/docs/voice/twiml/dial      action, method, timeout, hangupOnStar,
--                 timeLimit, callerId, record (do-not-record, record-from-answer, record-from-ringing,
--                 record-from-answer-dual, record-from-ringing-dual), trim, recordingStatusCallback…,
--                 answerOnBridge, ringTone, sequential; nests <Number>, <Client>, <Sip>, <Conference>,
--                 <Queue>, <Sim>, <Application>, <WhatsApp>, or holds a number as text
--   <Number> <Client> <Sip> <Conference> <Sim>   …/twiml/number, client, sip, conference, sim
--   <Enqueue>     https://www.twilio.com/docs/voice/twiml/enqueue   action, method, waitUrl, waitUrlMethod,
--                 workflowSid, maxQueueSize; a queue name as text, or <Task> (priority, timeout) for a
--                 workflow
--   <Redirect>    https://www.twilio.com/docs/voice/twiml/redirect  method (GET, POST); a URL as text;
--                 "No verbs can be nested within <Redirect>"
--   <Hangup> <Leave> (no attributes), <Reject> (reason rejected | busy)
--   <Pay>         https://www.twilio.com/docs/voice/twiml/pay       action, paymentConnector, chargeAmount,
--                 currency, timeout, maxAttempts, securityCode, postalCode, tokenType (one-time,
--                 reusable, payment-method), paymentMethod (ach-debit, credit-card), validCardTypes,
--                 language, description, bankAccountType, minPostalCodeLength, statusCallback(+Method)
--   <Connect>     https://www.twilio.com/docs/voice/twiml/connect   action, method; nests <VirtualAgent>
--                 (…/connect/virtualagent: connectorName, language, sentimentAnalysis, statusCallback),
--                 <ConversationRelay> (…/connect/conversationrelay: url, welcomeGreeting, ttsProvider,
--                 voice, language, transcriptionProvider, interruptible…; nests <Parameter>, <Language>),
--                 <Stream>, <Autopilot>, <Room>, <Conversation>
--   <Start> <Stop> https://www.twilio.com/docs/voice/twiml/stream  <Stream> (name, url, track
--                 inbound_track | outbound_track | both_tracks, connectorName, statusCallback; nests
--                 <Parameter name value>), <Siprec>; <Start> also <Recording>
--                 (https://www.twilio.com/docs/voice/twiml/recording: channels mono | dual, track,
--                 trim, recordingStatusCallback(+Method, +Event))
-- twilio-node's generated TwiML builder (lib/twiml/VoiceResponse.d.ts, 5.13.1) lists the same
-- grammar; spec/test_serve_voice.lua checks this table against it when spec/serve's npm
-- packages are installed.

local lxp = require "lxp"

local M = {}

-- ---- values ------------------------------------------------------------------------------

local function enum(...)
  local set, names = {}, { ... }
  for _, v in ipairs(names) do set[v] = true end
  return function(v) return set[v] == true, "one of " .. table.concat(names, ", ") end
end

local V = {
  any = function() return true end,
  method = enum("GET", "POST"),
  bool = enum("true", "false"),
  uint = function(v) return v:match("^%d+$") ~= nil, "an integer >= 0" end,
  posint = function(v) return v:match("^%d+$") ~= nil and tonumber(v) >= 1, "an integer >= 1" end,
  url = function(v) return v ~= "" and not v:match("%s"), "a URL" end,
  keys = function(v) return v:match("^[%d#%*]*$") ~= nil, "keys among 0-9 # * (or '')" end,
  dtmf = function(v) return v:match("^[%d#%*wW]+$") ~= nil, "DTMF digits (0-9 # * w)" end,
  input = enum("dtmf", "speech", "dtmf speech", "speech dtmf"),
  speech_timeout = function(v) return v == "auto" or v:match("^%d+$") ~= nil, "an integer or auto" end,
  dial_record = enum("do-not-record", "record-from-answer", "record-from-ringing", "record-from-answer-dual",
                     "record-from-ringing-dual"),
  trim = enum("trim-silence", "do-not-trim"),
  track = enum("inbound_track", "outbound_track", "both_tracks"),
  rec_track = enum("inbound", "outbound", "both"),
  channels = enum("mono", "dual"),
  reject = enum("rejected", "busy"),
  token_type = enum("one-time", "reusable", "payment-method"),
  payment_method = enum("ach-debit", "credit-card"),
  amount = function(v) return v:match("^%d+%.?%d*$") ~= nil, "an amount" end,
}
M.VALUES = V

-- ---- the grammar ---------------------------------------------------------------------------

local VERBS = { "Say", "Play", "Pause", "Gather", "Record", "Dial", "Enqueue", "Redirect", "Hangup", "Reject",
                "Leave", "Pay", "Connect", "Start", "Stop", "Refer", "Sms", "Prompt", "Echo", "Queue" }

local function set(list)
  local s = {}
  for _, v in ipairs(list) do s[v] = true end
  return s
end

local CB = { statusCallback = V.url, statusCallbackMethod = V.method, statusCallbackEvent = V.any, url = V.url,
             method = V.method }
local function with(base, more)
  local t = {}
  for k, v in pairs(base) do t[k] = v end
  for k, v in pairs(more or {}) do t[k] = v end
  return t
end

-- element -> {attrs = {name = check}, children = set, text = "required" | "optional" | nil}
M.ELEMENTS = {
  Response = { attrs = {}, children = set(VERBS) },
  Say = { attrs = { voice = V.any, language = V.any, loop = V.uint }, text = "required",
          children = set{ "break", "emphasis", "lang", "p", "phoneme", "prosody", "s", "say-as", "sub", "w" } },
  Play = { attrs = { loop = V.uint, digits = V.dtmf }, text = "optional" },
  Pause = { attrs = { length = V.posint } },
  Gather = { attrs = { action = V.url, method = V.method, timeout = V.posint, finishOnKey = V.keys,
                       numDigits = V.posint, input = V.input, language = V.any, hints = V.any,
                       speechTimeout = V.speech_timeout, speechModel = V.any, profanityFilter = V.bool,
                       actionOnEmptyResult = V.bool, partialResultCallback = V.url,
                       partialResultCallbackMethod = V.method, bargeIn = V.bool, enhanced = V.bool,
                       debug = V.bool, maxSpeechTime = V.posint },
             children = set{ "Say", "Play", "Pause" } },
  Record = { attrs = { action = V.url, method = V.method, timeout = V.uint, finishOnKey = V.keys,
                       maxLength = V.posint, playBeep = V.bool, trim = V.trim, recordingStatusCallback = V.url,
                       recordingStatusCallbackMethod = V.method, recordingStatusCallbackEvent = V.any,
                       transcribe = V.bool, transcribeCallback = V.url } },
  Dial = { attrs = { action = V.url, method = V.method, timeout = V.posint, hangupOnStar = V.bool,
                     timeLimit = V.posint, callerId = V.any, record = V.dial_record, trim = V.trim,
                     recordingStatusCallback = V.url, recordingStatusCallbackMethod = V.method,
                     recordingStatusCallbackEvent = V.any, recordingTrack = V.any, answerOnBridge = V.bool,
                     ringTone = V.any, sequential = V.bool, referUrl = V.url, referMethod = V.method, events = V.any },
           children = set{ "Number", "Client", "Sip", "Conference", "Queue", "Sim", "Application", "WhatsApp" },
           text = "optional" },
  Number = { attrs = with(CB, { sendDigits = V.dtmf, byoc = V.any, machineDetection = V.any,
                                machineDetectionTimeout = V.posint, amdStatusCallback = V.url,
                                amdStatusCallbackMethod = V.method }), text = "required" },
  Client = { attrs = CB, text = "optional", children = set{ "Identity", "Parameter" } },
  Sip = { attrs = with(CB, { username = V.any, password = V.any }), text = "required" },
  Conference = { attrs = { muted = V.bool, beep = V.any, startConferenceOnEnter = V.bool, endConferenceOnExit = V.bool,
                           waitUrl = V.url, waitMethod = V.method, maxParticipants = V.posint, record = V.any,
                           trim = V.trim, statusCallback = V.url, statusCallbackMethod = V.method,
                           statusCallbackEvent = V.any }, text = "required" },
  Sim = { attrs = {}, text = "required" },
  Queue = { attrs = { url = V.url, method = V.method, reservationSid = V.any, postWorkActivitySid = V.any },
            text = "required" },
  Enqueue = { attrs = { action = V.url, method = V.method, waitUrl = V.url, waitUrlMethod = V.method,
                        workflowSid = V.any, maxQueueSize = V.posint },
              children = set{ "Task" }, text = "optional" },
  Task = { attrs = { priority = V.uint, timeout = V.posint }, text = "required" },
  Redirect = { attrs = { method = V.method }, text = "required" },
  Hangup = { attrs = {} },
  Leave = { attrs = {} },
  Reject = { attrs = { reason = V.reject } },
  Pay = { attrs = { action = V.url, paymentConnector = V.any, chargeAmount = V.amount,
                    currency = V.any, timeout = V.posint, maxAttempts = V.posint, securityCode = V.bool,
                    postalCode = V.any, tokenType = V.token_type, paymentMethod = V.payment_method,
                    validCardTypes = V.any, language = V.any, description = V.any, bankAccountType = V.any,
                    minPostalCodeLength = V.posint, statusCallback = V.url, statusCallbackMethod = V.method,
                    input = V.any },
          children = set{ "Prompt", "Parameter" } },
  Connect = { attrs = { action = V.url, method = V.method },
              children = set{ "VirtualAgent", "ConversationRelay", "Stream", "Autopilot", "Room", "Conversation",
                              "Assistant", "AiSession", "ConversationRelaySession" } },
  VirtualAgent = { attrs = { connectorName = V.any, language = V.any, sentimentAnalysis = V.bool,
                             statusCallback = V.url, statusCallbackMethod = V.method },
                   children = set{ "Config", "Parameter" } },
  ConversationRelay = { attrs = { url = V.url, welcomeGreeting = V.any, welcomeGreetingInterruptible = V.any,
                                  ttsProvider = V.any, voice = V.any, language = V.any, ttsLanguage = V.any,
                                  transcriptionLanguage = V.any, transcriptionProvider = V.any, speechModel = V.any,
                                  interruptible = V.any, dtmfDetection = V.bool, profanityFilter = V.bool,
                                  hints = V.any, debug = V.any, partialPrompts = V.bool,
                                  interruptSensitivity = V.any, preemptible = V.bool, intelligenceService = V.any,
                                  reportInputDuringAgentSpeech = V.any, elevenlabsTextNormalization = V.any },
                        children = set{ "Language", "Parameter" } },
  Autopilot = { attrs = {}, text = "required" },
  Start = { attrs = { action = V.url, method = V.method },
            children = set{ "Stream", "Siprec", "Transcription", "Recording" } },
  Stop = { attrs = {}, children = set{ "Stream", "Siprec", "Transcription" } },
  Stream = { attrs = { name = V.any, url = V.url, track = V.track, connectorName = V.any, statusCallback = V.url,
                       statusCallbackMethod = V.method }, children = set{ "Parameter" } },
  Siprec = { attrs = { name = V.any, connectorName = V.any, track = V.track, statusCallback = V.url,
                       statusCallbackMethod = V.method }, children = set{ "Parameter" } },
  Recording = { attrs = { channels = V.channels, track = V.rec_track, trim = V.trim, recordingStatusCallback = V.url,
                          recordingStatusCallbackMethod = V.method, recordingStatusCallbackEvent = V.any } },
  Parameter = { attrs = { name = V.any, value = V.any } },
}

-- ---- parsing -----------------------------------------------------------------------------

-- the document as a tree (raises on XML that does not parse)
function M.parse(xml)
  local root
  local stack = {}
  local p = lxp.new{
    StartElement = function(_, name, attrs)
      local a = {}
      for k, v in pairs(attrs) do if type(k) == "string" then a[k] = v end end
      local node = { name = name, attrs = a, children = {}, text = "", order = {} }
      for i = 1, #attrs do node.order[i] = attrs[i] end
      local top = stack[#stack]
      if top then top.children[#top.children + 1] = node else root = node end
      stack[#stack + 1] = node
    end,
    EndElement = function() stack[#stack] = nil end,
    CharacterData = function(_, s)
      local top = stack[#stack]
      if top then top.text = top.text .. s end
    end,
  }
  local ok, err, line = p:parse(xml)
  if ok then ok, err, line = p:parse() end
  pcall(p.close, p)                  -- closing a parser that failed raises again
  if not ok then error(string.format("not XML (line %s): %s", tostring(line), tostring(err)), 2) end
  return root
end

function M.text(node)
  return node and (node.text:match("^%s*(.-)%s*$")) or nil
end

function M.all(node, name, out)
  out = out or {}
  if node.name == name then out[#out + 1] = node end
  for _, c in ipairs(node.children) do M.all(c, name, out) end
  return out
end

function M.find(node, name)
  return M.all(node, name)[1]
end

-- ---- checking ------------------------------------------------------------------------------

local function check_node(node, where, problems)
  local rule = M.ELEMENTS[node.name]
  if not rule then
    problems[#problems + 1] = where .. ": no such TwiML element"
    return
  end
  for k, v in pairs(node.attrs) do
    local check = rule.attrs[k]
    if not check then
      problems[#problems + 1] = string.format("%s/@%s: <%s> has no such attribute", where, k, node.name)
    else
      local ok, wanted = check(v)
      if not ok then problems[#problems + 1] = string.format("%s/@%s: '%s' is not %s", where, k, v, wanted) end
    end
  end
  local text = M.text(node)
  if text ~= "" and not rule.text then
    problems[#problems + 1] = string.format("%s: <%s> holds no text, got '%s'", where, node.name, text)
  end
  if rule.text == "required" and text == "" and #node.children == 0 then
    problems[#problems + 1] = string.format("%s: <%s> needs its text", where, node.name)
  end
  if node.name == "Play" and text == "" and not node.attrs.digits then
    problems[#problems + 1] = where .. ": <Play> needs a URL or digits"
  end
  for i, c in ipairs(node.children) do
    local cw = string.format("%s/%s[%d]", where, c.name, i)
    if not (rule.children and rule.children[c.name]) then
      problems[#problems + 1] = string.format("%s: <%s> cannot be nested in <%s>", cw, c.name, node.name)
    end
    check_node(c, cw, problems)
  end
end

-- check(xml) -> true, {} | false, problems: the document against the rules above (the root
-- must be <Response>; a <Redirect> ends what Twilio runs, so nothing may follow it)
function M.check(xml)
  local ok, doc = pcall(M.parse, xml)
  if not ok then return false, { tostring(doc) } end
  local problems = {}
  if doc.name ~= "Response" then
    problems[1] = "the root is <" .. doc.name .. ">, not <Response>"
    return false, problems
  end
  check_node(doc, "Response", problems)
  for i, c in ipairs(doc.children) do
    if (c.name == "Redirect" or c.name == "Hangup" or c.name == "Reject") and i < #doc.children then
      problems[#problems + 1] = string.format("Response/%s[%d]: nothing after it ever runs", c.name, i)
    end
  end
  return #problems == 0, problems
end

return M
