-- Send Message: one message to the contact (or `to`), outputs `outbound.*` (the Message
-- resource); through Twilio's Messages API when the engine has one, whose refusal (4xx,
-- 5xx, no answer) is `failed` with the reason.
local W = {
  type = "send-message",
  events = { "sent", "failed" },
  required = { "body" },
  properties = { from = "string", to = "string", body = "string", media_url = "string", service = "string",
                 channel = "string", attributes = "string", message_type = "string", content_sid = "string",
                 content_variables = "kv_list" },
}

function W.run(step)
  local p = step.props
  local out = step:send{ body = p.body, from = p.from, to = p.to, media_url = p.media_url }
  if out.wait then return out end
  return "sent", { outbound = out }
end

function W.resume(step, input)
  local out, failure = step:sent(input)
  if not out then
    step:why(failure.reason, failure.message)
    return "failed", {}
  end
  return "sent", { outbound = out }
end

return W
