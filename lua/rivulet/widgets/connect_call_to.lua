-- Connect Call To: dials `to` (a number, client, SIP endpoint, conference, …; `noun` says
-- which) and bridges the caller. Simulated: a voice line says who the call connects to,
-- and the dialled party hangs up at once: `callCompleted`, DialCallStatus "completed".
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

function W.run(step)
  local p = step.props
  local noun = type(p.noun) == "string" and p.noun ~= "" and p.noun or "number"
  local target = p.to
  if noun == "sip" or target == nil or target == "" then target = p.sip_endpoint or target end
  local line = string.format("[connecting the call to %s %s]", noun, tostring(target or ""))
  step:say(line)
  return "callCompleted", {
    DialCallStatus = "completed", DialCallSid = step:sid("CA"),
  }
end

return W
