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

local NONE = {}

local function shallow(t)
  local c = {}
  for k, v in pairs(t or {}) do c[k] = v end
  return c
end

-- The account an execution runs for when none is set (the engine option account_sid)
W.DEFAULT_ACCOUNT = "AC00000000000000000000000000000000"

-- fields missing from t get Twilio's value for them
local function defaults(t, d)
  for k, v in pairs(d) do if t[k] == nil then t[k] = v end end
  return t
end

-- context(trigger, account_sid, now) -> the trigger's part of the context, the contact, the
-- channel (the flow's own address). trigger = {event, from, to, body, message|call|
-- conversation = the fields as Twilio posts them, parameters (REST, subflows),
-- parent_trigger}. Fields the caller did not give get what Twilio posts for them
-- (SERVING.md §2.2, REFERENCE.md §3): a local run sees every field a real one sees, the
-- geography empty (Twilio sends "" where it has none) and the countries "US".
function W.context(tr, account, now)
  local ev = tr.event or "incomingMessage"
  local t, contact, channel = {}, tr.from, tr.to
  account = account or W.DEFAULT_ACCOUNT
  if ev == "incomingMessage" then
    -- the 19 fields of a captured SMS webhook (docs.csml.dev's Twilio page, SERVING.md §2.2),
    -- in one table made at its size (an execution starts with it: adding the fields one by
    -- one grew it four times), then what the caller gave over them
    local given = tr.message or NONE
    local m = { Body = "", From = false, To = false, MessageSid = false, AccountSid = account,
                SmsSid = false, SmsMessageSid = false, NumMedia = "0", NumSegments = "1",
                SmsStatus = "received", ApiVersion = "2010-04-01", FromCity = "", FromState = "",
                FromZip = "", FromCountry = "US", ToCity = "", ToState = "", ToZip = "", ToCountry = "US" }
    for k, v in pairs(given) do m[k] = v end
    m.Body = tr.body or given.Body or ""
    m.From = tr.from or given.From
    m.To = tr.to or given.To
    local msid = given.MessageSid or given.SmsMessageSid or given.SmsSid or sid("SM")
    m.MessageSid = msid
    if given.SmsSid == nil then m.SmsSid = msid end
    if given.SmsMessageSid == nil then m.SmsMessageSid = msid end
    t.message = m
  elseif ev == "incomingCall" then
    -- the voice webhook's parameters (Twilio's "TwiML voice: your response" request
    -- parameters; REFERENCE.md §3): the call, its parties and their geography
    local c = shallow(tr.call)
    c.From, c.To = tr.from or c.From, tr.to or c.To
    defaults(c, { Caller = c.From, Called = c.To, CallSid = sid("CA"), CallStatus = "ringing",
                  Direction = "inbound", AccountSid = account, ApiVersion = "2010-04-01",
                  FromCity = "", FromState = "", FromZip = "", FromCountry = "US",
                  ToCity = "", ToState = "", ToZip = "", ToCountry = "US",
                  CallerCity = "", CallerState = "", CallerZip = "", CallerCountry = "US",
                  CalledCity = "", CalledState = "", CalledZip = "", CalledCountry = "US" })
    t.call = c
  elseif ev == "incomingConversationMessage" then
    -- a Conversations onMessageAdded webhook: Author is the contact (who wrote the message),
    -- From kept as REFERENCE.md §3 lists it
    local c = shallow(tr.conversation)
    c.Body = tr.body or c.Body or ""
    c.Author = c.Author or tr.from or c.From
    c.From = tr.from or c.From or c.Author
    defaults(c, { ConversationSid = sid("CH"), MessageSid = sid("IM"), AccountSid = account,
                  EventType = "onMessageAdded", Source = "SMS", Index = "0", Attributes = "{}",
                  ParticipantSid = sid("MB"), ChatServiceSid = sid("IS"), MessagingServiceSid = sid("MG"),
                  ChannelSid = c.ConversationSid })
    c.ChannelSid = c.ChannelSid or c.ConversationSid
    c.DateCreated = c.DateCreated or os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(now or os.time()))
    t.conversation = c
    contact = c.Author
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
