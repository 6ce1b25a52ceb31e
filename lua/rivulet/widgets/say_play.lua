-- Say/Play: speaks `say`, or plays `play` (an audio URL), or sends `digits` (DTMF), then
-- `audioComplete`. Simulated: the text goes to the contact as a voice line, so an IVR can
-- be walked through in a terminal. `loop` repeats audio on a real call; one line is enough here.
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
  local line = W.line(step.props)
  if line then step:say(line) end
  return "audioComplete", {}
end

return W
