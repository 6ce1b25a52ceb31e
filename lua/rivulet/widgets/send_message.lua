-- Send Message: one message to the contact (or `to`), outputs `outbound.*`.
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
  return "sent", { outbound = out }
end

return W
