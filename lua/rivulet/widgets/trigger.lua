-- Trigger: where every execution starts. The engine fires the event the execution was
-- started with (incomingMessage, incomingCall, incomingConversationMessage,
-- incomingRequest, incomingParent); the trigger's data lands in `trigger.*`. This module
-- is the one place that says which trigger events exist and what each puts in the context.
local sid = require("rivulet.sid").new

local pairs = pairs

local W = {
  type = "trigger",
  events = { "incomingMessage", "incomingCall", "incomingConversationMessage", "incomingRequest", "incomingParent" },
  required = {},
}

W.EVENTS = {}
for _, e in ipairs(W.events) do W.EVENTS[e] = true end

-- "incomingMessage, incomingCall, ..." for messages
W.EVENT_LIST = table.concat(W.events, ", ")

local function shallow(t)
  local c = {}
  for k, v in pairs(t or {}) do c[k] = v end
  return c
end

-- context(trigger) -> the trigger's part of the context, the contact, the channel (the
-- flow's own address). trigger = {event, from, to, body, message|call|conversation = the
-- fields as Twilio posts them, parameters (REST, subflows), parent_trigger}.
function W.context(tr)
  local ev = tr.event or "incomingMessage"
  local t, contact, channel = {}, tr.from, tr.to
  if ev == "incomingMessage" then
    local m = shallow(tr.message)
    m.Body = tr.body or m.Body or ""
    m.From = tr.from or m.From
    m.To = tr.to or m.To
    m.MessageSid = m.MessageSid or sid("SM")
    m.AccountSid = m.AccountSid or "AC00000000000000000000000000000000"
    m.NumMedia = m.NumMedia or "0"
    t.message = m
  elseif ev == "incomingCall" then
    local c = shallow(tr.call)
    c.From, c.To = tr.from or c.From, tr.to or c.To
    c.Caller, c.Called = c.Caller or c.From, c.Called or c.To
    c.CallSid = c.CallSid or sid("CA")
    c.CallStatus = c.CallStatus or "ringing"
    c.Direction = c.Direction or "inbound"
    t.call = c
  elseif ev == "incomingConversationMessage" then
    local c = shallow(tr.conversation)
    c.Body = tr.body or c.Body or ""
    c.From = tr.from or c.From
    c.ConversationSid = c.ConversationSid or sid("CH")
    c.MessageSid = c.MessageSid or sid("IM")
    t.conversation = c
  elseif ev == "incomingRequest" then
    -- REST: `from` is the flow's own address and `to` the contact (Studio's Executions API)
    t.request = { from = tr.from, to = tr.to, parameters = tr.parameters or {} }
    contact, channel = tr.to, tr.from
  elseif ev == "incomingParent" then
    t.parent = { parameters = tr.parameters or {} }
    for k, v in pairs(tr.parent_trigger or {}) do if t[k] == nil then t[k] = v end end
  end
  return t, contact, channel
end

return W
