// Generate Random Number: the Function of the Run Function widget's example flow.
//
// Studio passes two parameters, `min` and `max` (form fields, so strings). The reply is a
// JSON object { "number": n } with n a whole number and min <= n <= max; a decimal min
// is rounded up and a decimal max rounded down, as the documented example does.
//
// Bad input gets 400 and a JSON object { "error": "bad_input", "message": ..., "field": ... }:
// a missing or repeated parameter, something that is not a decimal number, a number beyond
// +/- 2^53, or no whole number between min and max.

const crypto = require('crypto');

// A decimal number as a person types it: sign, digits, optional fraction and exponent.
const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

// crypto.randomInt accepts a range of less than 2^48.
const RANDOM_INT_RANGE = 2 ** 48;

function readNumber(event, name) {
  const raw = event[name];
  if (raw === undefined || raw === null || raw === '') {
    return { error: `${name} is required` };
  }
  if (Array.isArray(raw)) {
    return { error: `${name} was given more than once` };
  }
  let value;
  if (typeof raw === 'number') {
    value = raw; // a JSON body keeps its types
  } else if (typeof raw === 'string' && DECIMAL.test(raw.trim())) {
    value = Number(raw.trim());
  } else {
    return { error: `${name} must be a number, got ${JSON.stringify(raw)}` };
  }
  if (!Number.isFinite(value) || Math.abs(value) > Number.MAX_SAFE_INTEGER) {
    return { error: `${name} must be between -${Number.MAX_SAFE_INTEGER} and ${Number.MAX_SAFE_INTEGER}` };
  }
  return { value };
}

function badInput(callback, field, message) {
  const response = new Twilio.Response();
  response.setStatusCode(400);
  response.appendHeader('Content-Type', 'application/json');
  response.setBody({ error: 'bad_input', field, message });
  return callback(null, response);
}

exports.handler = function (context, event, callback) {
  const min = readNumber(event, 'min');
  if (min.error) return badInput(callback, 'min', min.error);
  const max = readNumber(event, 'max');
  if (max.error) return badInput(callback, 'max', max.error);

  const low = Math.ceil(min.value);
  const high = Math.floor(max.value);
  if (low > high) {
    return badInput(callback, 'max', `no whole number between min ${event.min} and max ${event.max}`);
  }

  const span = high - low + 1; // at most 2^54 + 1, still exact enough to bound the draw
  let number;
  if (span < RANDOM_INT_RANGE) {
    number = crypto.randomInt(low, high + 1);
  } else {
    number = Math.min(high, low + Math.floor(Math.random() * span));
  }
  return callback(null, { number });
};
