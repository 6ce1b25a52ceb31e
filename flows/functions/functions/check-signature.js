// Check Signature: validates the request's X-Twilio-Signature with twilio-node's own
// validator, the reference for rivulet's signing.
//
// Reply: 200 { "valid": true|false, "url": <the URL it validated> } (plus "reason" when the
// request carried no signature); 500 { "error": "no_auth_token" } when the environment
// has no AUTH_TOKEN.
//
// twilio-run never checks signatures itself. The caller signed the URL it requested, so the
// URL is rebuilt here: http:// + the Host header + the function's path. Two limits of the
// local runtime (@twilio/runtime-handler's dev server, which twilio-run uses when the
// project depends on it; twilio-run's built-in server gives a function no headers at all):
//   * a query string cannot be recovered: query and form fields arrive merged in `event`,
//     so call this function with form parameters only (they are validated as body fields);
//   * JSON bodies cannot be checked (the raw body, needed for bodySHA256, is not passed on).

const twilio = require('twilio');

exports.handler = function (context, event, callback) {
  const token = context.AUTH_TOKEN;
  if (typeof token !== 'string' || token === '') {
    const response = new Twilio.Response();
    response.setStatusCode(500);
    response.appendHeader('Content-Type', 'application/json');
    response.setBody({ error: 'no_auth_token', message: 'AUTH_TOKEN is not set in the environment' });
    return callback(null, response);
  }

  // event = { request: { headers, cookies }, ...query, ...form }; a form field named
  // "request" would replace the headers object.
  const request = event.request && typeof event.request === 'object' ? event.request : {};
  const headers = request.headers && typeof request.headers === 'object' ? request.headers : {};
  const params = {};
  for (const key of Object.keys(event)) {
    if (key !== 'request') params[key] = event[key];
  }
  if (typeof event.request === 'string' || Array.isArray(event.request)) {
    params.request = event.request;
  }

  const first = (v) => (Array.isArray(v) ? v[0] : v);
  const host = first(headers.host) || context.DOMAIN_NAME;
  const url = `http://${host}${context.PATH}`;
  const signature = first(headers['x-twilio-signature']);

  if (typeof signature !== 'string' || signature === '') {
    return callback(null, { valid: false, url, reason: 'no X-Twilio-Signature header' });
  }
  const valid = twilio.validateRequest(token, signature, url, params);
  return callback(null, { valid, url });
};
