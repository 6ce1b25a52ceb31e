// A fake of Twilio's 2010-04-01 REST API for the specs: what rivulet serve's Send Message
// (and later the voice widgets) talk to instead of api.twilio.com. See README.md.
//
//   node fake_twilio.js [--port N] [--account-sid AC…] [--auth-token TOKEN]
//
// Serves, on 127.0.0.1 (port 0 = any free one):
//   POST /2010-04-01/Accounts/{AC}/Messages.json   201 + a Message resource (status "queued")
//   POST /2010-04-01/Accounts/{AC}/Calls.json      201 + a Call resource (status "queued")
//   GET  /2010-04-01/Accounts/{AC}/Messages/{SM}.json, …/Calls/{CA}.json
//   GET  /_requests[?since=SEQ]   every request so far (JSON list), DELETE clears it
//   POST /_control                a control command (JSON body, as on stdin; answers the ack)
//   any route added with the "route" command (canned answers, e.g. a Prism upstream)
// The API wants HTTP Basic ACCOUNT_SID:AUTH_TOKEN (401, code 20003 otherwise).
//
// stdout: one JSON object per line. First {"event":"listening","url":…,"port":…,"pid":…};
// then {"event":"request",…} for each request (after it was answered), {"event":"callback",…}
// for each status callback sent, {"event":"ack","id":…,…} for each control command.
// stdin: control commands, one JSON object per line (optional "id" is echoed in the ack):
//   {"op":"fail", "match":{"method","path","resource"}, "times":1, "mode":"error"|"reset"|"slow"|"hang",
//    "status":400, "code":21211, "message":…, "more_info":…, "delay_ms":…, "preset":"invalid_to"}
//   {"op":"route", "method":"GET", "path":"/v2/Flows" | "^regex", "status":200, "json":{…} | "body":"…",
//    "headers":{…}, "times":N}
//   {"op":"deliver", "sid":"SM…" (default: the last message), "status":"delivered", "error_code":30003}
//   {"op":"auto_status", "statuses":["sent","delivered"]}   callbacks sent after every new message
//   {"op":"requests", "since":SEQ}   {"op":"messages"}   {"op":"clear"}   {"op":"reset"}
// The process exits when stdin ends (so it never outlives the spec that started it).

"use strict";

const crypto = require("crypto");
const http = require("http");
const webhook = require("./webhook");

const API_VERSION = "2010-04-01";
const CALLBACK_TIMEOUT_MS = 15000; // Twilio gives a callback URL 15 s (SERVING.md §2.4)
const MAX_BODY = 1024 * 1024;     // a request body larger than this is refused (413)

// Twilio's answers for common failures (twilio.com/docs/errors/NNNNN).
const PRESETS = {
  invalid_to: { status: 400, code: 21211, message: "The 'To' number is not a valid phone number." },
  invalid_from: { status: 400, code: 21212, message: "The 'From' number is not a valid phone number, shortcode, or alphanumeric sender ID." },
  unsubscribed: { status: 400, code: 21610, message: "Attempt to send to unsubscribed recipient" },
  unverified: { status: 400, code: 21608, message: "The number is unverified. Trial accounts cannot send messages to unverified numbers." },
  rate_limited: { status: 429, code: 20429, message: "Too Many Requests" },
  server_error: { status: 500, code: 20500, message: "Internal Server Error" },
  unavailable: { status: 503, code: 20503, message: "Service Unavailable" },
};

function parseArgs(argv) {
  const o = { port: 0, accountSid: "AC" + "0".repeat(32), authToken: "0123456789abcdef0123456789abcdef" };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--port") o.port = Number(argv[++i]);
    else if (a === "--account-sid") o.accountSid = argv[++i];
    else if (a === "--auth-token") o.authToken = argv[++i];
    else {
      process.stderr.write("fake_twilio.js: unknown argument " + a + "\n");
      process.exit(2);
    }
  }
  return o;
}

const opts = parseArgs(process.argv.slice(2));

let seq = 0;
let requests = [];
let rules = [];      // fail rules, first match wins, each used `times` times
let routes = [];     // canned answers
let messages = new Map();
let calls = new Map();
let lastMessageSid = null;
let autoStatuses = [];
const hanging = new Set();

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

function sid(prefix) {
  return prefix + crypto.randomBytes(16).toString("hex");
}

// RFC 2822 as Twilio's 2010 API writes dates: "Thu, 24 Aug 2023 05:01:45 +0000".
function rfc2822(d) {
  return d.toUTCString().replace("GMT", "+0000");
}

function twilioError(status, code, message, moreInfo) {
  return { code, message, more_info: moreInfo || "https://www.twilio.com/docs/errors/" + code, status };
}

function send(res, status, obj, headers) {
  const body = typeof obj === "string" ? obj : JSON.stringify(obj);
  const h = Object.assign({ "Content-Type": "application/json; charset=utf-8",
                            "Content-Length": Buffer.byteLength(body) }, headers);
  res.writeHead(status, h);
  res.end(body);
}

function formPairs(body, contentType) {
  if (!/application\/x-www-form-urlencoded/i.test(contentType || "")) return [];
  return [...new URLSearchParams(body)];
}

function paramsObject(pairs) {
  const o = {};
  for (const [n, v] of pairs) {
    if (n in o) o[n] = [].concat(o[n], v);
    else o[n] = v;
  }
  return o;
}

function basicAuth(header) {
  const m = /^Basic\s+(\S+)$/i.exec(header || "");
  if (!m) return null;
  const text = Buffer.from(m[1], "base64").toString("utf8");
  const i = text.indexOf(":");
  return i < 0 ? { username: text, password: "" } : { username: text.slice(0, i), password: text.slice(i + 1) };
}

function matches(match, rec) {
  if (!match) return true;
  if (match.method && match.method.toUpperCase() !== rec.method) return false;
  if (match.resource && match.resource !== rec.resource) return false;
  if (match.path) {
    if (match.path.startsWith("^")) { if (!new RegExp(match.path).test(rec.path)) return false; }
    else if (!rec.path.includes(match.path)) return false;
  }
  return true;
}

// The first matching fail rule (they queue up), or the last matching route (a newer one
// overrides an older one); one use of it is spent.
function take(list, rec, test, newestFirst) {
  const i = newestFirst ? list.findLastIndex((r) => test(r, rec)) : list.findIndex((r) => test(r, rec));
  if (i < 0) return null;
  const r = list[i];
  if (r.times !== null && r.times !== undefined) {
    r.times -= 1;
    if (r.times <= 0) list.splice(i, 1);
  }
  return r;
}

function routeMatches(route, rec) {
  if (route.method && route.method.toUpperCase() !== rec.method) return false;
  if (route.path.startsWith("^")) return new RegExp(route.path).test(rec.path);
  return route.path === rec.path;
}

// ---- the 2010-04-01 resources -----------------------------------------------------------

function messageResource(account, p, now) {
  const media = [].concat(p.MediaUrl || []);
  const s = sid(media.length ? "MM" : "SM"); // Twilio's prefix for a message with media
  const base = `/${API_VERSION}/Accounts/${account}/Messages/${s}`;
  return {
    account_sid: account, api_version: API_VERSION, body: p.Body || "",
    date_created: rfc2822(now), date_sent: null, date_updated: rfc2822(now),
    direction: "outbound-api", error_code: null, error_message: null,
    from: p.From || null, messaging_service_sid: p.MessagingServiceSid || null,
    num_media: String(media.length), num_segments: "1", price: null, price_unit: "USD",
    sid: s, status: "queued", subresource_uris: { media: base + "/Media.json" },
    to: p.To, uri: base + ".json",
  };
}

function callResource(account, p, now) {
  const s = sid("CA");
  const base = `/${API_VERSION}/Accounts/${account}/Calls/${s}`;
  const sub = {};
  for (const k of ["notifications", "recordings", "payments", "events", "siprec", "streams",
                   "transcriptions"]) {
    sub[k] = base + "/" + k[0].toUpperCase() + k.slice(1) + ".json";
  }
  return {
    account_sid: account, answered_by: null, api_version: API_VERSION, caller_name: null,
    date_created: rfc2822(now), date_updated: rfc2822(now), direction: "outbound-api",
    duration: null, end_time: null, forwarded_from: null, from: p.From, from_formatted: p.From,
    group_sid: null, parent_call_sid: null, phone_number_sid: null, price: null,
    price_unit: "USD", queue_time: "0", sid: s, start_time: null, status: "queued",
    subresource_uris: sub, to: p.To, to_formatted: p.To, trunk_sid: null, uri: base + ".json",
  };
}

// Required fields as Twilio checks them; an error object or null.
function checkMessage(p) {
  if (!p.To) return twilioError(400, 21604, "A 'To' phone number is required.");
  if (!p.From && !p.MessagingServiceSid) return twilioError(400, 21603, "A 'From' phone number is required.");
  if (!p.Body && !p.MediaUrl && !p.ContentSid) return twilioError(400, 21602, "Message body is required.");
  return null;
}

function checkCall(p) {
  if (!p.To) return twilioError(400, 21201, "No 'To' number is specified");
  if (!p.From) return twilioError(400, 21213, "No 'From' number is specified");
  if (!p.Url && !p.Twiml && !p.ApplicationSid) return twilioError(400, 21205, "Url parameter is required.");
  return null;
}

// The POST Twilio makes to a message's StatusCallback, signed with the account's token.
async function statusCallback(msg, status, errorCode) {
  msg.resource.status = status;
  msg.resource.date_updated = rfc2822(new Date());
  if (errorCode) msg.resource.error_code = errorCode;
  const r = msg.resource;
  const fields = [
    ["AccountSid", r.account_sid], ["ApiVersion", API_VERSION], ["From", r.from || ""],
    ["MessageSid", r.sid], ["MessageStatus", status], ["SmsSid", r.sid], ["SmsStatus", status],
    ["To", r.to],
  ];
  if (errorCode) fields.push(["ErrorCode", String(errorCode)]);
  const event = { event: "callback", sid: r.sid, status, url: msg.statusCallback };
  if (!msg.statusCallback) {
    Object.assign(event, { http_status: null, error: "no StatusCallback" });
    emit(event);
    return event;
  }
  try {
    const res = await webhook.send({ url: msg.statusCallback, fields, authToken: opts.authToken,
                                     timeoutMs: CALLBACK_TIMEOUT_MS,
                                     headers: { "I-Twilio-Idempotency-Token": crypto.randomUUID() } });
    Object.assign(event, { http_status: res.status, signature: res.signature, body: res.body });
  } catch (e) {
    Object.assign(event, { http_status: null, error: e.message });
  }
  emit(event);
  return event;
}

async function autoCallbacks(msg) {
  for (const status of autoStatuses) await statusCallback(msg, status);
}

// The answer to one API request (not a canned route): { status, json, headers, sid }.
function api(rec) {
  const m = /^\/2010-04-01\/Accounts\/([^/]+)\/(Messages|Calls)(?:\/([^/]+))?\.json$/.exec(rec.path);
  if (!m) return notFound(rec);
  const [, account, kind, id] = m;
  const auth = rec.auth;
  if (!auth || auth.username !== opts.accountSid || !auth.password_ok || account !== opts.accountSid) {
    return { status: 401, json: twilioError(401, 20003, "Authenticate"),
             headers: { "WWW-Authenticate": 'Basic realm="Twilio API"' } };
  }
  const store = kind === "Messages" ? messages : calls;
  if (id) {
    const found = rec.method === "GET" && store.get(id);
    if (!found) return notFound(rec);
    return { status: 200, json: found.resource, sid: id };
  }
  if (rec.method !== "POST") return { status: 405, json: twilioError(405, 20004, "Method not allowed") };
  const p = rec.params;
  const err = kind === "Messages" ? checkMessage(p) : checkCall(p);
  if (err) return { status: err.status, json: err };
  const now = new Date();
  const resource = kind === "Messages" ? messageResource(account, p, now) : callResource(account, p, now);
  const entry = { resource, statusCallback: p.StatusCallback || null };
  store.set(resource.sid, entry);
  if (kind === "Messages") {
    lastMessageSid = resource.sid;
    // after the 201 has gone out, as Twilio's callbacks follow its answer
    if (entry.statusCallback && autoStatuses.length) setImmediate(() => autoCallbacks(entry));
  }
  return { status: 201, json: resource, sid: resource.sid };
}

function notFound(rec) {
  return { status: 404, json: twilioError(404, 20404, `The requested resource ${rec.path} was not found`) };
}

// ---- control ------------------------------------------------------------------------------

async function control(cmd) {
  const ack = { event: "ack", id: cmd.id, op: cmd.op, ok: true };
  switch (cmd.op) {
    case "fail": {
      const preset = cmd.preset ? PRESETS[cmd.preset] : null;
      if (cmd.preset && !preset) return Object.assign(ack, { ok: false, error: "unknown preset " + cmd.preset });
      rules.push(Object.assign({ times: 1, mode: "error" }, preset, cmd));
      break;
    }
    case "route":
      if (typeof cmd.path !== "string") return Object.assign(ack, { ok: false, error: "route needs a path" });
      routes.push(Object.assign({ status: 200 }, cmd));
      break;
    case "deliver": {
      const s = cmd.sid || lastMessageSid;
      const msg = s && messages.get(s);
      if (!msg) return Object.assign(ack, { ok: false, error: "no message " + s });
      ack.callback = await statusCallback(msg, cmd.status || "delivered", cmd.error_code);
      break;
    }
    case "auto_status":
      autoStatuses = cmd.statuses || [];
      break;
    case "requests":
      ack.requests = requests.filter((r) => r.seq > (cmd.since || 0));
      break;
    case "messages":
      ack.messages = [...messages.values()].map((m) => m.resource);
      break;
    case "clear":
      requests = [];
      break;
    case "reset":
      requests = []; rules = []; routes = []; messages = new Map(); calls = new Map();
      lastMessageSid = null; autoStatuses = [];
      break;
    case "quit":
      setImmediate(() => process.exit(0));
      break;
    default:
      return Object.assign(ack, { ok: false, error: "unknown op " + cmd.op });
  }
  return ack;
}

// ---- the server ---------------------------------------------------------------------------

function record(req, body) {
  const url = new URL(req.url, "http://127.0.0.1");
  const pairs = formPairs(body, req.headers["content-type"]);
  const auth = basicAuth(req.headers.authorization);
  const m = /\/(Messages|Calls)(\/[^/]+)?\.json$/.exec(url.pathname);
  // the credentials are checked here and not kept: the record shows who and whether it fit
  const headers = Object.assign({}, req.headers);
  if (headers.authorization) headers.authorization = headers.authorization.replace(/\s.*/, " [credentials]");
  return {
    at: new Date().toISOString(), method: req.method, path: url.pathname,
    query: Object.fromEntries(url.searchParams), headers, body,
    form: pairs, params: paramsObject(pairs),
    auth: auth && { username: auth.username, password_ok: auth.password === opts.authToken },
    resource: m ? m[1] : null,
  };
}

// Records the request (stdout line, /_requests) before its answer goes out, so whoever
// got the answer finds the record.
function finish(rec, answer) {
  rec.seq = ++seq;
  rec.answer = answer;
  requests.push(rec);
  emit(Object.assign({ event: "request" }, rec));
}

async function handle(req, res, body) {
  const rec = record(req, body);
  const path = rec.path;
  if (path === "/_requests") {
    if (req.method === "DELETE") { requests = []; send(res, 204, ""); return; }
    const since = Number(new URL(req.url, "http://x").searchParams.get("since") || 0);
    send(res, 200, requests.filter((r) => r.seq > since));
    return;
  }
  if (path === "/_control" && req.method === "POST") {
    let cmd;
    try { cmd = JSON.parse(body); } catch (e) { send(res, 400, { error: "control body is not JSON" }); return; }
    const ack = await control(cmd);
    send(res, ack.ok ? 200 : 400, ack);
    return;
  }

  const rule = take(rules, rec, (r, x) => matches(r.match, x));
  if (rule) {
    rec.rule = rule.mode;
    if (rule.mode === "reset") {
      finish(rec, { status: null, reset: true });
      req.socket.destroy();
      return;
    }
    if (rule.mode === "hang") {
      finish(rec, { status: null, hang: true });
      hanging.add(res);
      res.on("close", () => hanging.delete(res));
      return;
    }
    if (rule.mode === "slow") await new Promise((r) => setTimeout(r, rule.delay_ms || 1000));
    if (rule.mode === "error" || rule.status) {
      const status = rule.status || 400;
      const code = rule.code || (status >= 500 ? 20500 : 21211);
      const message = rule.message || (status >= 500 ? "Internal Server Error" : "Fake failure");
      finish(rec, { status, code });
      send(res, status, twilioError(status, code, message, rule.more_info));
      return;
    }
  }
  const route = take(routes, rec, routeMatches, true);
  if (route) {
    const payload = route.json !== undefined ? JSON.stringify(route.json) : (route.body || "");
    const headers = Object.assign(route.json !== undefined ? {} : { "Content-Type": "text/plain" }, route.headers);
    finish(rec, { status: route.status, route: route.path });
    send(res, route.status, payload, headers);
    return;
  }
  const answer = api(rec);
  finish(rec, { status: answer.status, sid: answer.sid, code: answer.json && answer.json.code });
  send(res, answer.status, answer.json, answer.headers);
}

const server = http.createServer((req, res) => {
  const chunks = [];
  let size = 0;
  req.on("data", (c) => {
    size += c.length;
    if (size <= MAX_BODY) chunks.push(c);
  });
  req.on("end", () => {
    if (size > MAX_BODY) { send(res, 413, twilioError(413, 20413, "Request entity too large")); return; }
    handle(req, res, Buffer.concat(chunks).toString("utf8")).catch((e) => {
      process.stderr.write("fake_twilio.js: " + (e.stack || e) + "\n");
      if (!res.headersSent) send(res, 500, twilioError(500, 20500, "fake_twilio.js: " + e.message));
    });
  });
});
server.keepAliveTimeout = 5000;

server.listen(opts.port, "127.0.0.1", () => {
  const port = server.address().port;
  emit({ event: "listening", url: "http://127.0.0.1:" + port, port, pid: process.pid,
         account_sid: opts.accountSid });
});
server.on("error", (e) => {
  process.stderr.write("fake_twilio.js: " + e.message + "\n");
  process.exit(1);
});

// Control commands on stdin; its end (the spec finished or died) ends the process.
let pending = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => {
  pending += chunk;
  let i;
  while ((i = pending.indexOf("\n")) >= 0) {
    const line = pending.slice(0, i).trim();
    pending = pending.slice(i + 1);
    if (!line) continue;
    let cmd;
    try { cmd = JSON.parse(line); } catch (e) { emit({ event: "ack", ok: false, error: "not JSON: " + line }); continue; }
    control(cmd).then(emit);
  }
});
process.stdin.on("end", () => process.exit(0));
process.on("SIGTERM", () => process.exit(0));
process.on("SIGINT", () => process.exit(0));
