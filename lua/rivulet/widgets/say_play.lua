-- Say/Play: speaks `say`, or plays `play` (an audio URL), `loop` times, and/or sends
-- `digits` (DTMF), then `audioComplete`. On a call it is TwiML: <Say> or <Play> (and <Play
-- digits>), then a <Redirect> back to the execution; `audioComplete` is the step taken when
-- Twilio follows it (the audio has played). The console and the specs hear it as one line.
local twiml = require "rivulet.twiml"

local W = {
  type = "say-play",
  events = { "audioComplete" },
  required = {},        -- Studio lets either say, play or digits be set; none is required
  properties = {
    say = "string", play = "string", digits = "string", voice = "string", language = "string",
    loop = "integer",
  },
}

-- the line a caller would hear: the spoken text, else [play URL]; [digits …] after either
function W.line(p)
  local parts = {}
  if type(p.say) == "string" and p.say ~= "" then
    parts[#parts + 1] = p.say
  elseif type(p.play) == "string" and p.play ~= "" then
    parts[#parts + 1] = "[play " .. p.play .. "]"
  end
  if type(p.digits) == "string" and p.digits ~= "" then
    parts[#parts + 1] = "[digits " .. p.digits .. "]"
  end
  if #parts == 0 then return nil end
  return table.concat(parts, " ")
end

function W.run(step)
  local p = step.props
  local verbs = twiml.prompt(p)
  verbs[#verbs + 1] = twiml.verb("Redirect", { method = "POST" }, twiml.callback("next"))
  return step:call(verbs, { lines = { W.line(p) } })
end

function W.resume()
  return "audioComplete", {}
end

return W
