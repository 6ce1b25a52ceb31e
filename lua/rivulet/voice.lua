-- rivulet.voice: a phone call simulated in-process, for the console (rivulet run) and the
-- specs (rivulet test). It plays Twilio's part: it reads the TwiML a waiting voice widget
-- gave (rivulet.twiml) and comes back through the engine's one door as Twilio would, with
-- the fields Twilio posts: a <Redirect> after a <Say> is followed at once, a <Gather> takes
-- the caller's keys (up to its finish key or number of digits) or words, a <Record> the
-- caller's message, and silence goes on to the verb after them. Outcomes the outside world
-- decides (a dialled party, a queue, a payment, an outgoing call, a Flex task) are chosen
-- by name (FlowEvent). A hang-up is the call's status callback.
--
--   local n = voice.settle(engine, exec)   -- drives the execution until it needs something
--   -- n = nil (it ended, or waits for something else: a reply, a subflow) or
--   --     { ask = "input" | "recording" | "outcome", exec, root, wait, widget, type, events,
--   --       in_call, verb }
--   voice.input(engine, n, text)           -- the caller's keys or words ("" : silence)
--   voice.answer(engine, n, text)          -- -> the callback's kind and the fields Twilio would
--                                          --    post for them (rivulet serve's inspector posts them)
--   voice.choose(engine, n, event, outputs?)
--   voice.hangup(engine, exec)             -- the caller hangs up
--   voice.expire(engine, n)                -- nobody answers before the wait's deadline
-- Each returns the engine's result ({code = "resumed" | "ended" | …}).

local twiml = require "rivulet.twiml"
local widgets = require "rivulet.widgets"
local sid = require("rivulet.sid").new

local type, ipairs, tostring, tonumber = type, ipairs, tostring, tonumber
local floor, max, min = math.floor, math.max, math.min

local M = {}

M.CONFIDENCE = "0.9"       -- what simulated speech recognition is sure of
M.RECORDING_URL = "https://example.invalid/recordings/"

-- verbs that play and go on by themselves, before a <Redirect> back to the execution
local PASSIVE = { Say = true, Play = true, Pause = true, Start = true, Stop = true }

local function ask_of(wait)
  if wait.kind ~= "call" then return "outcome" end
  local verbs = type(wait.data) == "table" and wait.data.twiml or {}
  local g = twiml.find(verbs, "Gather")
  if g then return "input", g end
  local r = twiml.find(verbs, "Record")
  if r then return "recording", r end
  for i, v in ipairs(verbs) do
    local last = i == #verbs
    if last and v.name == "Redirect" and twiml.is_callback(v.text) then return "next", v end
    if not PASSIVE[v.name] then break end
  end
  return "outcome"
end

-- what the execution waits for from the call or the outside world, or nil
function M.need(engine, exec)
  if exec.status ~= "active" then return nil end
  local w = engine:innermost(exec)
  local wait = w.status == "active" and w.wait
  if not wait or (wait.kind ~= "call" and wait.kind ~= "event") then return nil end
  local state = w.flow.by_name[wait.state]
  local widget = widgets.get(state.type)
  local ask, verb = ask_of(wait)
  return { ask = ask, verb = verb, exec = w, root = engine:root(w), wait = wait, widget = state.name,
           type = state.type, events = widget.events or {}, in_call = wait.kind == "call" }
end

local function callback(engine, n, kind, fields)
  return engine:handle{ kind = "call", sid = n.exec.sid, token = n.wait.data.token, callback = kind,
                        fields = fields or {} }
end

-- the <Redirect> back to the execution that ends this TwiML: where silence goes
local function fallthrough(n)
  local verbs = n.wait.data.twiml or {}
  local last = verbs[#verbs]
  if last and last.name == "Redirect" and twiml.is_callback(last.text) then return last.text.callback end
  return nil
end

function M.next(engine, n)
  return callback(engine, n, fallthrough(n))
end

local function trim(s)
  return (tostring(s or ""):match("^%s*(.-)%s*$"))
end

-- keys typed at a <Gather>: Twilio stops at its finish key (not reported) or after
-- numDigits keys
local function digits(keys, gather)
  local fin = gather.attrs.finishOnKey
  if fin == nil then fin = "#" end
  local n = tonumber(gather.attrs.numDigits)
  local out = {}
  for c in keys:gmatch(".") do
    if fin ~= "" and fin:find(c, 1, true) then break end
    out[#out + 1] = c
    if n and #out >= n then break end
  end
  return table.concat(out)
end

local function recording(engine, n, text)
  local rec = n.verb.attrs
  local seconds = max(1, floor(engine.now() - (n.wait.since or engine.now())))
  local most = tonumber(rec.maxLength)
  if most and most >= 1 then seconds = min(seconds, floor(most)) end
  local rsid = sid("RE")
  local f = { RecordingSid = rsid, RecordingUrl = M.RECORDING_URL .. rsid, RecordingDuration = tostring(seconds) }
  if rec.transcribe == true then f.TranscriptionText = text end
  return f
end

-- the callback Twilio makes for the caller's input at a <Gather> (keys or words) or a
-- <Record> (the message): its kind and the fields it posts; "" or nil is silence: Twilio
-- goes on to the verb after it (the Redirect's callback, no fields)
function M.answer(engine, n, text)
  text = trim(text)
  if text ~= "" then
    if n.ask == "input" then
      if text:match("^[%d#%*]+$") then
        local d = digits(text, n.verb)
        if d ~= "" then return "action", { Digits = d } end
      else
        return "action", { SpeechResult = text, Confidence = M.CONFIDENCE }
      end
    elseif n.ask == "recording" then
      return "action", recording(engine, n, text)
    end
  end
  return fallthrough(n), {}
end

function M.input(engine, n, text)
  return callback(engine, n, M.answer(engine, n, text))
end

-- an outcome chosen by name; outputs default to what the widget says a real one hands back
-- what a real outcome `event` of the widget n waits in hands back as its outputs
function M.outputs(n, event)
  local w = widgets.get(n.type)
  return w.simulated and w.simulated(event, n.wait.props or {}, n.exec.context, sid) or {}
end

function M.choose(engine, n, event, outputs)
  if outputs == nil then outputs = M.outputs(n, event) end
  return engine:handle{ kind = "flow_event", sid = n.exec.sid, event = event, fields = outputs }
end

-- the caller hangs up: Twilio's status callback says the call completed
function M.hangup(engine, exec)
  local root = engine:root(engine:innermost(exec))
  return engine:handle{ kind = "call_status", sid = root.sid, status = "completed",
                        fields = { CallStatus = "completed" } }
end

-- nobody answers before the wait's deadline
function M.expire(engine, n)
  return engine:handle{ kind = "timeout", sid = n.root.sid }
end

-- drives the execution (HTTP calls, the redirects after what the caller only hears) until
-- it ends or needs something: returns what it needs (see need), or nil
function M.settle(engine, exec)
  engine:run()
  return M.settled(engine, exec)
end

-- settle's work after the engine has run (rivulet run loads this module only once an
-- execution waits on a call or an outcome, and has run the engine to find that out)
function M.settled(engine, exec)
  while true do
    local n = M.need(engine, exec)
    if not n or n.ask ~= "next" then return n end
    local r = M.next(engine, n)
    if r.code ~= "resumed" then return n, r end
    engine:run()
  end
end

return M
