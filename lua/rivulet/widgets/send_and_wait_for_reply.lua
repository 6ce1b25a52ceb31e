-- Send & Wait For Reply: sends, then waits for the contact's reply or the timeout
-- (seconds, a string in exports; default 3600). Outputs `outbound.*` always and
-- `inbound.*` (Body, From, To, MessageSid, MediaUrl0…) on a reply. `deliveryFailure` when
-- the Messages API refuses the prompt or its status callback says failed/undelivered.
local W = {
  type = "send-and-wait-for-reply",
  events = { "incomingMessage", "timeout", "deliveryFailure" },
  required = { "body" },
  properties = { from = "string", body = "string", timeout = "string|integer", media_url = "string",
                 service = "string", channel = "string", attributes = "string" },
}

function W.run(step)
  local p = step.props
  local out = step:send{ body = p.body, from = p.from, media_url = p.media_url, expect_reply = true }
  if out.wait then return out end
  return step:wait_reply(tonumber(p.timeout), { outbound = out })
end

function W.resume(step, input)
  if input.kind == "http" then       -- the Messages API answered the prompt
    local out, failure = step:sent(input)
    if not out then
      step:why(failure.reason, failure.message)
      return "deliveryFailure", {}
    end
    if input.early then return "incomingMessage", { outbound = out, inbound = input.early } end
    return step:wait_reply(tonumber(step.props.timeout), { outbound = out }, out.Sid)
  end
  local outbound = step.data and step.data.outbound
  if input.kind == "reply" then
    return "incomingMessage", { outbound = outbound, inbound = input.message }
  elseif input.kind == "delivery_failure" then
    step:why("delivery", string.format("the message was %s (MessageStatus%s)", tostring(input.status),
      input.error_code and (", ErrorCode " .. tostring(input.error_code)) or ""))
    return "deliveryFailure", { outbound = outbound }
  end
  return "timeout", { outbound = outbound }
end

return W
