// The example flows' Twilio Functions (flows/functions/functions/*.js) served on 127.0.0.1
// for the inspector's browser spec, without twilio-run: each POST /NAME runs NAME.js's
// handler with the form fields as its event, as the Functions runtime does, and answers
// what it hands to its callback (an object as JSON, or a Twilio.Response).
//
//   node spec/browser/functions.js      -> {"event":"listening","url":"http://127.0.0.1:PORT"}
//
// It exits when its stdin ends (its spec stops) or on SIGTERM. Node 18+, no npm packages.
'use strict';
const http = require('http');
const path = require('path');

const DIR = path.join(__dirname, '..', '..', 'flows', 'functions', 'functions');

// what the Functions runtime gives a handler as the global Twilio.Response
class Response {
  constructor() { this.statusCode = 200; this.headers = {}; this.body = ''; }
  setStatusCode(n) { this.statusCode = n; return this; }
  appendHeader(k, v) { this.headers[k] = v; return this; }
  setBody(b) { this.body = b; return this; }
}
global.Twilio = { Response };

function answer(res, err, value) {
  if (err) {
    res.writeHead(500, { 'Content-Type': 'text/plain' });
    return res.end(String(err));
  }
  if (value instanceof Response) {
    const body = typeof value.body === 'string' ? value.body : JSON.stringify(value.body);
    res.writeHead(value.statusCode, value.headers);
    return res.end(body);
  }
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(value === undefined ? null : value));
}

const server = http.createServer((req, res) => {
  let body = '';
  req.on('data', (c) => { body += c; });
  req.on('end', () => {
    const name = req.url.split('?')[0].replace(/^\/+/, '');
    if (!/^[a-z0-9-]+$/.test(name)) { res.writeHead(404); return res.end(); }
    let fn;
    try { fn = require(path.join(DIR, name + '.js')); } catch (e) { res.writeHead(404); return res.end(); }
    const event = Object.fromEntries(new URLSearchParams(body));
    try { fn.handler({}, event, (err, value) => answer(res, err, value)); } catch (e) { answer(res, e); }
  });
});
server.listen(0, '127.0.0.1', () => {
  console.log(JSON.stringify({ event: 'listening', url: 'http://127.0.0.1:' + server.address().port }));
});
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
process.on('SIGTERM', () => process.exit(0));
