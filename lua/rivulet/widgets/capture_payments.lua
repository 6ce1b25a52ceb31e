-- Capture Payments: collects card (or bank account) details over the phone through a Pay
-- Connector and charges `payment_amount` (or tokenizes). On a call it is TwiML: <Pay
-- action=…> with the connector, amount, currency, attempts, timeout, what to ask for (postal
-- code, security code), the token type and the card types. Twilio's action Result decides
-- the event (see RESULTS); outputs are the fields it posted (PaymentConfirmationCode,
-- PaymentCardNumber, Result…).
local twiml = require "rivulet.twiml"

local W = {
  type = "capture-payments",
  events = { "success", "maxFailedAttempts", "providerError", "payInterrupted", "hangup",
             "validationError" },
  required = {},
  properties = {
    payment_connector = "string", payment_amount = "string|number", currency = "string",
    timeout = "string|integer", max_attempts = "string|integer", security_code = "string|boolean",
    postal_code = "string|boolean", payment_token_type = "string", payment_method = "string",
    valid_card_types = "string", language = "string", description = "string",
    bank_account_type = "string", min_postal_code_length = "string|integer",
    parameters = "kv_list",
  },
}

-- <Pay>'s Result (https://www.twilio.com/docs/voice/twiml/pay) -> the widget's event
W.RESULTS = {
  success = "success", ["too-many-failed-attempts"] = "maxFailedAttempts",
  ["payment-connector-error"] = "providerError", ["internal-error"] = "providerError",
  ["caller-interrupted-with-star"] = "payInterrupted", ["caller-hung-up"] = "hangup",
  ["validation-error"] = "validationError",
}

local int, str = twiml.int, twiml.str

local function flag(v)
  if v == true or v == "true" then return true end
  if v == false or v == "false" then return false end
  return nil
end

function W.run(step)
  local p = step.props
  return step:call({ twiml.verb("Pay", {
    action = twiml.callback("action"), paymentConnector = str(p.payment_connector),
    chargeAmount = p.payment_amount ~= nil and tostring(p.payment_amount) or nil, currency = str(p.currency),
    timeout = int(p.timeout), maxAttempts = int(p.max_attempts), securityCode = flag(p.security_code),
    postalCode = flag(p.postal_code) == nil and str(p.postal_code) or flag(p.postal_code),
    tokenType = str(p.payment_token_type), paymentMethod = str(p.payment_method),
    validCardTypes = str(p.valid_card_types), language = str(p.language), description = str(p.description),
    bankAccountType = str(p.bank_account_type), minPostalCodeLength = int(p.min_postal_code_length),
  }) }, { lines = { "[collecting a payment]" } })
end

function W.resume(_, input)
  local f = input.fields or {}
  if f.CallStatus == "completed" then return "hangup", f end
  return W.RESULTS[f.Result] or "providerError", f
end

return W
