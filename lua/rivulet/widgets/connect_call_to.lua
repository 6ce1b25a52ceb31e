-- Connect Call To: dials `to` and bridges the caller. `noun` says what `to` is: number (a
-- comma-separated list rings them all), client, sip (`sip_endpoint`, with its user name and
-- password), conference or sim. On a call it is TwiML: <Dial action=…> (caller ID, ring
-- timeout, time limit, recording) around the nouns. Twilio requests the action when the
-- dialled call ends: `callCompleted` with DialCallStatus, DialCallSid, DialCallDuration,
-- RecordingUrl…; `hangup` when its CallStatus says the caller hung up (or the call's status
-- callback does).
local twiml = require "rivulet.twiml"

local W = {
  type = "connect-call-to",
  events = { "callCompleted", "hangup" },
  required = {},
  properties = {
    noun = "string", to = "string", caller_id = "string", record = "boolean", timeout = "integer",
    time_limit = "string", sip_endpoint = "string", sip_username = "string",
    sip_password = "string",
  },
}

local int, str, bool = twiml.int, twiml.str, twiml.bool

local NOUNS = { number = "Number", ["number-multi"] = "Number", client = "Client", sip = "Sip",
                conference = "Conference", sim = "Sim" }

local function noun_of(p)
  local n = str(p.noun) or "number"
  return NOUNS[n] and n or "number"
end

-- the party dialled, as the console says it
local function target(p)
  local noun = noun_of(p)
  if noun == "sip" then return noun, str(p.sip_endpoint) or str(p.to) or "" end
  return noun, str(p.to) or ""
end

function W.verbs(p)
  local noun, to = target(p)
  local nouns = {}
  if noun == "sip" then
    nouns[1] = twiml.verb("Sip", { username = str(p.sip_username), password = str(p.sip_password) }, to)
  elseif NOUNS[noun] == "Number" then
    for n in (to .. ","):gmatch("%s*([^,]-)%s*,") do
      if n ~= "" then nouns[#nouns + 1] = twiml.verb("Number", {}, n) end
    end
  else
    nouns[1] = twiml.verb(NOUNS[noun], {}, to)
  end
  return {
    twiml.verb("Dial", {
      action = twiml.callback("action"), method = "POST", callerId = str(p.caller_id),
      timeout = int(p.timeout), timeLimit = int(p.time_limit),
      record = bool(p.record) and "record-from-answer" or nil,
    }, nouns),
  }
end

function W.run(step)
  local noun, to = target(step.props)
  return step:call(W.verbs(step.props), { lines = { string.format("[connecting the call to %s %s]", noun, to) } })
end

function W.resume(_, input)
  local f = input.fields or {}
  if f.CallStatus == "completed" then return "hangup", f end
  return "callCompleted", f
end

-- what a simulated call hands back when the console or a spec picks an outcome
function W.simulated(event, _, _, new_sid)
  local o = { DialCallStatus = "completed", DialCallSid = new_sid("CA"), DialCallDuration = "0" }
  if event == "hangup" then o.CallStatus = "completed" end
  return o
end

return W
