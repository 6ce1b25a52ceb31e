-- Custom logic: a `lua` widget scores a reply and picks the branch, where Studio would
-- need a Function or a chain of splits. The function gets the execution context and
-- returns an event (its state's `on` says where each leads) and outputs, here
-- widgets.score.score. Each call runs in a sandbox of its own (no io, os.execute, require;
-- globals are read-only) under instruction, memory and time budgets; the file runs again
-- for every call, so its locals never carry anything from one call (or contact) to the next.
--
--   build/rivulet run flows/custom_logic.lua --reply 9
--   build/rivulet run flows/custom_logic.lua --reply "meh" --reply 3
return {
  description = "Custom logic",

  { name = "Trigger", type = "trigger", on = { incomingMessage = "ask" } },

  { name = "ask", type = "send-and-wait-for-reply",
    body = "How likely are you to recommend us, from 0 to 10?",
    on = { incomingMessage = "score", timeout = "bye" } },

  { name = "score", type = "lua",
    fn = function(ctx)
      local text = ctx.widgets.ask.inbound.Body
      -- "9", " 9/10 ", "nine" -> the first number in the reply, if any
      local n = tonumber(text:match("%d+%.?%d*"))
      if not n or n > 10 then return "unclear", { reply = text } end
      return n >= 7 and "high" or "low", { score = n }
    end,
    on = { high = "thanks", low = "sorry", unclear = "ask_again" } },

  { name = "ask_again", type = "send-and-wait-for-reply",
    body = "Sorry, I need a number from 0 to 10.",
    on = { incomingMessage = "rescore", timeout = "bye" } },

  -- the same logic on the second answer
  { name = "rescore", type = "lua",
    fn = function(ctx)
      local n = tonumber(ctx.widgets.ask_again.inbound.Body:match("%d+%.?%d*"))
      if not n or n > 10 then return "unclear", {} end
      return n >= 7 and "high" or "low", { score = n }
    end,
    on = { high = "thanks", low = "sorry", unclear = "bye" } },

  { name = "thanks", type = "send-message",
    body = "Thank you! A {{widgets.score.score | default: widgets.rescore.score}} made our day.",
    on = { sent = false } },

  { name = "sorry", type = "send-message",
    body = "Thanks for the {{widgets.score.score | default: widgets.rescore.score}}. "
      .. "We will do better.",
    on = { sent = false } },

  { name = "bye", type = "send-message", body = "No worries, bye for now.", on = { sent = false } },
}
