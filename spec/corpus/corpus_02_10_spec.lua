-- Real Studio exports from the shared corpus (../shared/studio/flows, or $RIVULET_SHARED/
-- studio/flows), read in place, as corpus_spec.lua does: 02 (Frontline + Airtable bot, its
-- Conversations side and its voice side) and 10 (Apaleo hotel bookings over SMS). Every
-- Function and HTTP call is stubbed by widget name (live = false). Skipped when the corpus
-- is not there.
--
--   build/rivulet test spec/corpus/corpus_02_10_spec.lua --coverage
local test = require "rivulet.test"

local here = (...):match("^(.*)/[^/]*$") or "."
local shared = os.getenv("RIVULET_SHARED") or test.normalize(here .. "/../../../shared")
local DIR = shared .. "/studio/flows/"
local FRONTLINE = DIR .. "02_guvarallo_frontline-airtable-studio-bot.json"
local APALEO = DIR .. "10_hlsrobot_twilio-apaleo.json"
local probe = io.open(APALEO, "rb")
if probe then probe:close() end
local NO_CORPUS = not probe and ("no corpus at " .. DIR) or nil

local CONTACT = test.CONTACT

-- a stub that checks what the widget sends, then answers
local function expecting(method, params, reply)
  return function(event)
    assert(event.method == method, event.widget .. ": method " .. tostring(event.method))
    for k, v in pairs(params) do
      local got = event.parameters[k]
      assert(got == v, event.widget .. ": " .. k .. " = " .. tostring(got))
    end
    return reply
  end
end

-- a stub for a call the case must not make
local function never(event) error(event.widget .. " should not be called") end

-- ---- 02: Frontline + Airtable bot, the Conversations side -----------------------------------

local CONVERSATION = { event = "incomingConversationMessage", body = "Oi",
                       conversation = { ConversationSid = "CH0001" } }
local FRONTLINE_IDS = { conversationSid = "CH0001", customerNumber = CONTACT }

-- a conversation with no friendly name yet, from a number Airtable does not know
local NEW_CUSTOMER = {
  ["get-convo-name"] = expecting("GET", { conversationSid = "CH0001" },
                                 { status = 200, json = { name = "" } }),
  ["get-customer"] = expecting("GET", { customerNumber = CONTACT },
                               { status = 200, json = { customer = "" } }),
  ["add-convo-name"] = expecting("POST", FRONTLINE_IDS, { status = 200, json = { ok = true } }),
  routing = expecting("POST", FRONTLINE_IDS, { status = 200, json = { worker = "WK1" } }),
  function_1 = never,
}
local KNOWN_CUSTOMER = {
  ["get-customer"] = { status = 200, json = { customer = { display_name = "Ana Souza" } } },
}

local ASK_NAME = "> Olá, bem vindo(a) ao atendimento Twilio! Antes de iniciarmos, nos informe seu "
  .. "nome por favor."
local NICE_TO_MEET_ANA = '> Muito prazer Ana! Para falar com um agente exclusivo, digite "agente".'
local WELCOME_BACK = '> Bem vindo(a) de volta Ana Souza! Para eu te transferir ao seu agente '
  .. 'exclusivo, digite "agente".'
local TRANSFER = "> Um momento enquanto te transfiro ao seu agente exclusivo."
local TRANSFER_PATH = { "transfer-message", "add-convo-name", "routing" }

local function path(...)
  local p = {}
  for _, part in ipairs{ ... } do
    for _, s in ipairs(type(part) == "table" and part or { part }) do p[#p + 1] = s end
  end
  return p
end
local FIND_NEW = { "set_variables_1", "get-convo-name", "split-convo-name", "get-customer",
                   "split-customer" }

-- ---- 02: the voice side ---------------------------------------------------------------------

local CALL = { event = "incomingCall" }
local PRESS_0 = "> ,,,Olá, bem vindo ao atendimento Twilio! Para continuar esse atendimento via "
  .. "Whats-ápp, favor digitar 0"
local GO_TO_WHATSAPP = "> Favor se dirigir ao aplicativo do Whats-ápp para continuar o "
  .. "atendimento. Até já!"

-- ---- 10: Apaleo hotel bookings (SMS) ------------------------------------------------------

local GREETING = [[
> Hello!

Welcome to *Twilion* 🛎️
We wish you a pleasent stay!

- Reply with *Booking* if you are inquiring about an open booking.
- Reply with *New* if you want to chat with an agent about a new booking.]]
local ASK_BOOKING = [[
> In order to help you I will need your *Booking Id* provided via email. 

If you dont have it on hand, you can simply provide your *email address* and we will try to find it.

If you keep having trouble simply reply with *agent* and we will connect you with an available agent.]]
local CONNECT = "> We will now connect you with an available agent."
local NOT_FOUND = "> Unfortunatelly we could not find a reservation with the information that you "
  .. "provided."
local STILL_AGENT = "> If you still want to talk to an agent please reply with *agent* else we wish "
  .. "you a nice day ☀️"
local CONFIRM_CANCEL = [[
> Are you sure you want to cancel this reservation?

Cancelations fees might apply.

_This action is irreversable._]]
local ASK_COMMENT = { expect = { match = "^\nPlease add your comment now" } }
local COMMENT_ADDED = { expect = { match = "^Thank you%. Your comment:" } }
-- Liquid's whitespace is kept: the template starts with an assign and a newline
local function action_menu(id, hotel, status)
  return "> \nYour reservation with ID: *" .. id .. "* for the hotel *" .. hotel
    .. "* has a status of *" .. status .. "*.\n\n"
    .. "If you would like to add a comment to the reservation reply with *Comment*.\n"
    .. "If you would like to cancel the reservation, reply with *Cancel*.\n"
    .. "For everything else, reply with *Agent*."
end

local BERLIN = { id = "BKNG-1", status = "Confirmed", adults = 2,
                 arrival = "2024-06-01T14:00:00+02:00", property = { name = "Twilion Berlin" },
                 primaryGuest = { firstName = "Ada", lastName = "Lovelace" } }
local MUNICH = { id = "BKNG-2", status = "InHouse", adults = 1, arrival = "2024-07-15",
                 property = { name = "Twilion Munich" },
                 primaryGuest = { firstName = "Grace", lastName = "Hopper" } }
local OPTIONS = [[
> It looks like you have a few reservations open. 
Which would you like more information about?

Reply *1* for the _Confirmed_ reservation at _Twilion Berlin_ for _2_ guests starting on _Jun 01, 2024_

Reply *2* for the _InHouse_ reservation at _Twilion Munich_ for _1_ guests starting on _Jul 15, 2024_
]]

-- the token function answers with the bare token (text/plain): the flow passes its body on
local TOKEN = { status = 200, body = "tok-123", content_type = "text/plain" }
local function reservations(list, booking_id)
  return expecting("POST", { apaleo_token = "tok-123", booking_id = booking_id },
                   { status = 200, json = { count = #list, reservations = list } })
end
local APALEO_STUBS = {
  get_apaleo_token = TOKEN,
  get_reservation = reservations({ BERLIN }, "BKNG-1"),
  set_comment = expecting("POST", { reservation_id = "BKNG-1", comment = "Late check-in, please",
                                    apaleo_token = "tok-123" },
                          { status = 200, json = { ok = true } }),
  cancel_reservation = never,
}
local TWO_BOOKINGS = { get_reservation = reservations({ BERLIN, MUNICH }, "ada@example.com") }

-- Send to Flex hands the guest to an agent; whether Flex takes the task is the outside
-- world's to say (here the script's: { event = … }), and every outcome ends the flow
local function to_flex(case, outcome)
  outcome = outcome or "callComplete"
  case.script[#case.script + 1] = { event = outcome }
  case.state = "send_to_flex"
  case.reason = "'send_to_flex' ended the flow on '" .. outcome .. "'"
  return case
end

local DEFAULT_STUBS = {}
for _, set in ipairs{ NEW_CUSTOMER, APALEO_STUBS } do
  for k, v in pairs(set) do DEFAULT_STUBS[k] = v end
end

return {
  live = false,
  stubs = DEFAULT_STUBS,
  skip = NO_CORPUS,
  now = "2024-05-06T16:00:00Z",

  cases = {
    -- 02, Conversations ---------------------------------------------------------------------
    { name = "frontline: a new customer gives a name and asks for an agent",
      flow = FRONTLINE, trigger = CONVERSATION, stubs = NEW_CUSTOMER,
      script = { ASK_NAME, "< Ana", NICE_TO_MEET_ANA, "< agente", TRANSFER },
      state = "routing",
      path = path(FIND_NEW, "new-customer-name", "new-customer-send-reply",
                  "split-agent-new-customer", TRANSFER_PATH),
      context = { ["flow.variables.conversationSid"] = "CH0001",
                  ["flow.variables.customerNumber"] = CONTACT,
                  ["widgets.new-customer-name.inbound.Body"] = "Ana",
                  ["widgets.routing.parsed.worker"] = "WK1" } },

    { name = "frontline: a new customer who does not ask for an agent is left there",
      flow = FRONTLINE, trigger = CONVERSATION, stubs = NEW_CUSTOMER,
      script = { ASK_NAME, "< Ana", NICE_TO_MEET_ANA, "< obrigada" },
      state = "split-agent-new-customer",
      context = { ["widgets.add-convo-name"] = test.absent } },

    { name = "frontline: no name within the hour",
      flow = FRONTLINE, trigger = CONVERSATION, stubs = NEW_CUSTOMER,
      script = { ASK_NAME, { advance = 3599 }, { status = "active" }, { timeout = true } },
      state = "new-customer-name",
      context = { ["widgets.new-customer-name.inbound"] = test.absent } },

    { name = "frontline: a name, then silence for an hour",
      flow = FRONTLINE, trigger = CONVERSATION, stubs = NEW_CUSTOMER,
      script = { ASK_NAME, "< Ana", NICE_TO_MEET_ANA, { timeout = true } },
      state = "new-customer-send-reply" },

    { name = "frontline: a known customer is welcomed back by name and transferred",
      flow = FRONTLINE, trigger = CONVERSATION, stubs = KNOWN_CUSTOMER,
      script = { WELCOME_BACK, "< Agente", TRANSFER },
      state = "routing",
      path = path(FIND_NEW, "existing-customer-send-reply", "split-agent-existing-customer",
                  TRANSFER_PATH),
      context = { ["widgets.get-customer.parsed.customer.display_name"] = "Ana Souza",
                  ["widgets.add-convo-name.status_code"] = 200 } },

    { name = "frontline: a known customer answering anything else is left there",
      flow = FRONTLINE, trigger = CONVERSATION, stubs = KNOWN_CUSTOMER,
      script = { WELCOME_BACK, "< quero falar com alguém" },
      state = "split-agent-existing-customer" },

    { name = "frontline: a known customer who never answers",
      flow = FRONTLINE, trigger = CONVERSATION, stubs = KNOWN_CUSTOMER,
      script = { WELCOME_BACK, { timeout = true } },
      state = "existing-customer-send-reply" },

    { name = "frontline: a conversation that already has a name gets nothing",
      flow = FRONTLINE, trigger = CONVERSATION,
      stubs = { ["get-convo-name"] = { status = 200, json = { name = "Ana Souza" } },
                ["get-customer"] = never },
      script = {},
      state = "split-convo-name",
      path = { "set_variables_1", "get-convo-name", "split-convo-name" } },

    { name = "frontline: get-convo-name failing ends it silently",
      flow = FRONTLINE, trigger = CONVERSATION,
      stubs = { ["get-convo-name"] = { status = 500 }, ["get-customer"] = never },
      script = {},
      state = "get-convo-name", reason = { match = "ended the flow on 'failed'" },
      context = { ["widgets.get-convo-name.status_code"] = 500 } },

    { name = "frontline: get-customer timing out ends it silently",
      flow = FRONTLINE, trigger = CONVERSATION,
      stubs = { ["get-customer"] = { reason = "timeout" } },
      script = {},
      state = "get-customer", reason = { match = "ended the flow on 'failed'" } },

    { name = "frontline: add-convo-name failing after the transfer message skips routing",
      flow = FRONTLINE, trigger = CONVERSATION,
      stubs = { ["add-convo-name"] = { status = 503 }, routing = never },
      script = { ASK_NAME, "< Ana", NICE_TO_MEET_ANA, "< agente", TRANSFER },
      state = "add-convo-name", reason = { match = "ended the flow on 'failed'" } },

    { name = "frontline: routing failing is the end too",
      flow = FRONTLINE, trigger = CONVERSATION,
      stubs = { routing = { status = 500, json = { error = "no worker" } } },
      script = { ASK_NAME, "< Ana", NICE_TO_MEET_ANA, "< agente", TRANSFER },
      state = "routing", reason = { match = "ended the flow on 'failed'" },
      context = { ["widgets.routing.status_code"] = 500 } },

    -- 02, voice -------------------------------------------------------------------------------
    { name = "frontline voice: pressing 0 sends the caller to WhatsApp",
      flow = FRONTLINE, trigger = CALL,
      stubs = { function_1 = expecting("POST", { To = CONTACT },
                                       { status = 200, json = { sid = "SM1" } }) },
      script = { PRESS_0, "< 0", GO_TO_WHATSAPP },
      state = "say_play_2",
      path = { "set_variables_2", "gather_1", "function_1", "say_play_2" },
      context = { ["flow.variables.To"] = CONTACT, ["widgets.gather_1.Digits"] = "0" } },

    { name = "frontline voice: when voice-to-wa fails the call just ends",
      flow = FRONTLINE, trigger = CALL, stubs = { function_1 = { status = 500 } },
      script = { PRESS_0, "< 0" },
      state = "function_1", reason = { match = "ended the flow on 'fail'" } },

    { name = "frontline voice: speaking instead of pressing ends the call",
      flow = FRONTLINE, trigger = CALL, stubs = { function_1 = never },
      script = { PRESS_0, "< zero" },
      state = "gather_1",
      context = { ["widgets.gather_1.SpeechResult"] = "zero" } },

    { name = "frontline voice: hanging up in the menu ends the call",
      flow = FRONTLINE, trigger = CALL, stubs = { function_1 = never },
      script = { PRESS_0, { hangup = true } },
      state = "gather_1", reason = "call ended" },

    { name = "frontline voice: no key in five seconds ends the call",
      flow = FRONTLINE, trigger = CALL, stubs = { function_1 = never },
      script = { PRESS_0, { advance = 4 }, { status = "active" }, { timeout = true } },
      state = "gather_1" },

    -- 10 ---------------------------------------------------------------------------------------
    { name = "apaleo: one booking found by id, a comment added, then goodbye",
      flow = APALEO, stubs = APALEO_STUBS,
      trigger = { from = "whatsapp:" .. CONTACT, to = "whatsapp:+15559990000" },
      script = { GREETING, "< Booking", ASK_BOOKING, "< BKNG-1",
                 action_menu("BKNG-1", "Twilion Berlin", "Confirmed"), "< Comment",
                 "> \nPlease add your comment now and we will inform the Hotel *Twilion Berlin* "
                   .. "about your request.",
                 "< Late check-in, please",
                 "> Thank you. Your comment: _Late check-in, please_ is added to the reservation.",
                 STILL_AGENT, "< no, thanks" },
      state = "split_comment",
      context = { ["flow.variables.user_number"] = CONTACT,
                  ["flow.variables.reservation_index"] = 0,
                  ["flow.variables.reservation_id"] = "BKNG-1",
                  ["flow.variables.customer_name"] = "Ada Lovelace",
                  ["widgets.get_apaleo_token.body"] = "tok-123",
                  ["widgets.set_comment.parsed.ok"] = true } },

    to_flex{ name = "apaleo: after the comment the guest still wants an agent",
      flow = APALEO, stubs = APALEO_STUBS,
      script = { GREETING, "< booking", ASK_BOOKING, "< BKNG-1",
                 action_menu("BKNG-1", "Twilion Berlin", "Confirmed"), "< comment",
                 ASK_COMMENT, "< Late check-in, please",
                 COMMENT_ADDED, STILL_AGENT, "< Agent", CONNECT },
      context = { ["widgets.connect_to_agent.inbound.Body"] = "Agent" } },

    { name = "apaleo: silence after the comment ends it in an hour",
      flow = APALEO, stubs = APALEO_STUBS,
      script = { GREETING, "< booking", ASK_BOOKING, "< BKNG-1",
                 action_menu("BKNG-1", "Twilion Berlin", "Confirmed"), "< comment",
                 ASK_COMMENT, "< Late check-in, please",
                 COMMENT_ADDED, STILL_AGENT, { timeout = true } },
      state = "connect_to_agent" },

    { name = "apaleo: set_comment failing ends it without a word",
      flow = APALEO, stubs = { set_comment = { status = 500 } },
      script = { GREETING, "< booking", ASK_BOOKING, "< BKNG-1",
                 action_menu("BKNG-1", "Twilion Berlin", "Confirmed"), "< comment",
                 ASK_COMMENT, "< Late check-in, please" },
      state = "set_comment", reason = { match = "ended the flow on 'fail'" } },

    { name = "apaleo: no comment within the hour",
      flow = APALEO, stubs = APALEO_STUBS,
      script = { GREETING, "< booking", ASK_BOOKING, "< BKNG-1",
                 action_menu("BKNG-1", "Twilion Berlin", "Confirmed"), "< comment",
                 ASK_COMMENT, { timeout = true } },
      state = "add_comment_1" },

    -- the cancel_reservation parameter is "{{flow.variables.reservation_id" (no closing
    -- braces): the widget cannot render it, takes `fail`, which has no next, and the guest
    -- is never told
    { name = "apaleo: two bookings by email, the second one cancelled (its Function never runs)",
      flow = APALEO, stubs = TWO_BOOKINGS,
      script = { GREETING, "< booking", ASK_BOOKING, "< ada@example.com", OPTIONS, "< 2",
                 action_menu("BKNG-2", "Twilion Munich", "InHouse"), "< Cancel",
                 CONFIRM_CANCEL, "< yes" },
      state = "cancel_reservation", reason = { match = "ended the flow on 'fail'" },
      context = { ["flow.variables.reservation_index"] = 1,
                  ["flow.variables.reservation_id"] = "BKNG-2",
                  ["flow.variables.customer_name"] = "Grace Hopper",
                  ["widgets.cancel_reservation.message"] = test.absent,
                  ["widgets.cancel_reservation_2"] = test.absent },
      reasons = { cancel_reservation = { reason = "liquid", note = { match = "not properly terminated" } } } },

    { name = "apaleo: two bookings, the first one, cancel thought better of",
      flow = APALEO, stubs = TWO_BOOKINGS,
      script = { GREETING, "< booking", ASK_BOOKING, "< ada@example.com", OPTIONS, "< 1",
                 action_menu("BKNG-1", "Twilion Berlin", "Confirmed"), "< cancel",
                 CONFIRM_CANCEL, "< no" },
      state = "split_cancel",
      context = { ["flow.variables.reservation_index"] = 0,
                  ["flow.variables.customer_name"] = "Ada Lovelace" } },

    { name = "apaleo: two bookings, no choice within the hour",
      flow = APALEO, stubs = TWO_BOOKINGS,
      script = { GREETING, "< booking", ASK_BOOKING, "< ada@example.com", OPTIONS,
                 { timeout = true } },
      state = "give_reservation_options" },

    { name = "apaleo: no answer to the cancel question",
      flow = APALEO, stubs = TWO_BOOKINGS,
      script = { GREETING, "< booking", ASK_BOOKING, "< ada@example.com", OPTIONS, "< 2",
                 action_menu("BKNG-2", "Twilion Munich", "InHouse"), "< cancel",
                 CONFIRM_CANCEL, { timeout = true } },
      state = "cancel_reservation_confirm" },

    to_flex{ name = "apaleo: an unclear answer is asked again, then an agent",
      flow = APALEO, stubs = APALEO_STUBS,
      script = { GREETING, "< booking", ASK_BOOKING, "< BKNG-1",
                 action_menu("BKNG-1", "Twilion Berlin", "Confirmed"), "< change dates",
                 "> Sorry, I did not get that...",
                 action_menu("BKNG-1", "Twilion Berlin", "Confirmed"), "< agent", CONNECT },
      context = { ["widgets.reservation_action.inbound.Body"] = "agent" } },

    { name = "apaleo: no answer to the reservation menu",
      flow = APALEO, stubs = APALEO_STUBS,
      script = { GREETING, "< booking", ASK_BOOKING, "< BKNG-1",
                 action_menu("BKNG-1", "Twilion Berlin", "Confirmed"), { timeout = true } },
      state = "reservation_action" },

    to_flex{ name = "apaleo: no reservation found goes to an agent",
      flow = APALEO, stubs = { get_reservation = reservations({}, "nobody@example.com") },
      script = { GREETING, "< booking", ASK_BOOKING, "< nobody@example.com", NOT_FOUND,
                 CONNECT },
      context = { ["widgets.get_reservation.parsed.count"] = 0 } },

    { name = "apaleo: Flex never takes the task: failedToEnqueue when its wait runs out",
      flow = APALEO, stubs = APALEO_STUBS,
      script = { GREETING, "< New", CONNECT, { status = "active" }, { timeout = true } },
      state = "send_to_flex", reason = "'send_to_flex' ended the flow on 'failedToEnqueue'" },

    to_flex({ name = "apaleo: Flex fails the task",
      flow = APALEO, stubs = APALEO_STUBS,
      script = { GREETING, "< New", CONNECT } }, "callFailure"),

    to_flex{ name = "apaleo: get_reservation failing goes to an agent",
      flow = APALEO, stubs = { get_reservation = { status = 500 } },
      script = { GREETING, "< booking", ASK_BOOKING, "< BKNG-1", NOT_FOUND, CONNECT },
      context = { ["widgets.get_reservation.status_code"] = 500 } },

    to_flex{ name = "apaleo: asking for an agent instead of a booking id",
      flow = APALEO, stubs = { get_reservation = never },
      script = { GREETING, "< booking", ASK_BOOKING, "< agent", CONNECT } },

    { name = "apaleo: no booking id within the hour",
      flow = APALEO, stubs = APALEO_STUBS,
      script = { GREETING, "< booking", ASK_BOOKING, { timeout = true } },
      state = "ask_booking_id" },

    to_flex{ name = "apaleo: a new booking goes straight to an agent",
      flow = APALEO, stubs = APALEO_STUBS,
      script = { GREETING, "< New", CONNECT },
      path = { "init_variables", "get_apaleo_token", "greeting", "split_greeting",
               "connect_with_agent", "send_to_flex" } },

    { name = "apaleo: a greeting answered with neither keyword ends there",
      flow = APALEO, stubs = APALEO_STUBS,
      script = { GREETING, "< hello?" },
      state = "split_greeting" },

    { name = "apaleo: no answer to the greeting",
      flow = APALEO, stubs = APALEO_STUBS,
      script = { GREETING, { advance = 3599 }, { status = "active" }, { timeout = true } },
      state = "greeting" },

    to_flex{ name = "apaleo: no token from Apaleo: a plain welcome, then an agent",
      flow = APALEO, stubs = { get_apaleo_token = { status = 500 } },
      script = { "> Hello!\nWelcome to *Twilion* 🛎️\nWe wish you a pleasent stay!", CONNECT },
      path = { "init_variables", "get_apaleo_token", "apaleo_conn_fail", "connect_with_agent",
               "send_to_flex" } },
  },
}
