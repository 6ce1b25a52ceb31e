-- Send & Wait For Reply: sends, then waits for the contact's reply or the timeout
-- (seconds, a string in exports; default 3600). Outputs `outbound.*` always and
-- `inbound.*` (Body, From, To, MessageSid, MediaUrl0…) on a reply.
local W = {
  type = "send-and-wait-for-reply",
  events = { "incomingMessage", "timeout", "deliveryFailure" },
  required = { "body" },
  properties = { from = "string", body = "string", timeout = "string|integer", media_url = "string",
                 service = "string", channel = "string", attributes = "string" },
}

function W.run(step)
  local p = step.props
  local out = step:send{ body = p.body, from = p.from, media_url = p.media_url }
  return step:wait_reply(tonumber(p.timeout), { outbound = out })
end

function W.resume(step, input)
  local outbound = step.data and step.data.outbound
  if input.kind == "reply" then
    return "incomingMessage", { outbound = outbound, inbound = input.message }
  end
  return "timeout", { outbound = outbound }
end

return W
