// Twilio's incoming-message and incoming-call webhooks, as Twilio posts them to a number's
// SMS/Voice URL (fields: ../shared/studio/SERVING.md §2.2 and REFERENCE.md §3), signed with
// X-Twilio-Signature (sign.js) over the URL Twilio would have called.
//
//   const webhook = require("./webhook");
//   webhook.messageFields({ from, to, body, media: [{ url, contentType }], extra: {...} })
//   webhook.callFields({ from, to, callStatus, extra: {...} })
//   await webhook.send({ url, fields, authToken, publicUrl, signUrl, method, algorithm,
//                        sharedKeyId, signature, headers, timeoutMs })
//     -> { status, headers, body, signature, signedUrl, params }
//
// CLI (prints that answer as JSON):
//   node webhook.js message|call URL TOKEN [--public-url BASE] [--sha256 KEY_ID]
//                   [--get] [Name=value ...]
// e.g. node webhook.js message http://127.0.0.1:8080/v1/Accounts/AC…/Flows/FW… TOKEN Body=hi

"use strict";

const crypto = require("crypto");
const http = require("http");
const https = require("https");
const sign = require("./sign");

const DEFAULT_ACCOUNT = "AC" + "0".repeat(32);
const DEFAULT_FROM = "+15550001111";
const DEFAULT_TO = "+15559990000";
const TIMEOUT_MS = 15000; // Twilio waits 15 s for a webhook's answer (SERVING.md §2.4)

function sid(prefix) {
  return prefix + crypto.randomBytes(16).toString("hex");
}

// Geo fields Twilio adds for a US number (the captured payload in SERVING.md §2.2).
function geo(prefix) {
  return [
    [prefix + "City", ""], [prefix + "State", "CA"], [prefix + "Zip", ""],
    [prefix + "Country", "US"],
  ];
}

// The fields of an incoming SMS/MMS, in the order Twilio's captured payload lists them; a
// list of [name, value] pairs. o.extra (object) adds or replaces fields; an extra value of
// null removes that field.
function messageFields(o) {
  o = o || {};
  const messageSid = o.messageSid || sid(o.media && o.media.length ? "MM" : "SM");
  const media = o.media || [];
  const fields = [
    ["ToCountry", "US"], ["ToState", "CA"], ["SmsMessageSid", messageSid],
    ["NumMedia", String(media.length)], ["ToCity", ""], ["FromZip", ""], ["SmsSid", messageSid],
    ["FromState", "CA"], ["SmsStatus", "received"], ["FromCity", ""],
    ["Body", o.body === undefined ? "" : String(o.body)], ["FromCountry", "US"],
    ["To", o.to || DEFAULT_TO], ["ToZip", ""], ["NumSegments", String(o.numSegments || 1)],
    ["MessageSid", messageSid], ["AccountSid", o.accountSid || DEFAULT_ACCOUNT],
    ["From", o.from || DEFAULT_FROM], ["ApiVersion", "2010-04-01"],
  ];
  media.forEach((m, i) => {
    fields.push(["MediaContentType" + i, m.contentType || "image/jpeg"]);
    fields.push(["MediaUrl" + i, m.url]);
  });
  if (o.messagingServiceSid) fields.push(["MessagingServiceSid", o.messagingServiceSid]);
  return applyExtra(fields, o.extra);
}

// The fields of an incoming voice call (Twilio's voice webhook request).
function callFields(o) {
  o = o || {};
  const from = o.from || DEFAULT_FROM;
  const to = o.to || DEFAULT_TO;
  const fields = [
    ["AccountSid", o.accountSid || DEFAULT_ACCOUNT], ["ApiVersion", "2010-04-01"],
    ["CallSid", o.callSid || sid("CA")], ["CallStatus", o.callStatus || "ringing"],
    ["Called", to], ...geo("Called"), ["Caller", from], ...geo("Caller"),
    ["Direction", "inbound"], ["From", from], ...geo("From"), ["To", to], ...geo("To"),
  ];
  if (o.forwardedFrom) fields.push(["ForwardedFrom", o.forwardedFrom]);
  if (o.callerName) fields.push(["CallerName", o.callerName]);
  return applyExtra(fields, o.extra);
}

function applyExtra(fields, extra) {
  if (!extra) return fields;
  for (const name of Object.keys(extra)) {
    const i = fields.findIndex(([n]) => n === name);
    if (extra[name] === null) {
      if (i >= 0) fields.splice(i, 1);
    } else if (i >= 0) {
      fields[i] = [name, String(extra[name])];
    } else {
      fields.push([name, String(extra[name])]);
    }
  }
  return fields;
}

function formEncode(pairs) {
  const u = new URLSearchParams();
  for (const [n, v] of pairs) u.append(n, v);
  return u.toString();
}

// The URL Twilio would have called: o.signUrl, else o.publicUrl's origin and base path with
// the target's path and query, else the target URL itself.
function signedUrlFor(o, url) {
  if (o.signUrl) return o.signUrl;
  if (!o.publicUrl) return url;
  const target = new URL(url);
  return o.publicUrl.replace(/\/+$/, "") + target.pathname + target.search;
}

// One HTTP exchange; resolves { status, headers, body } or rejects with a network error.
function request(method, url, headers, body, timeoutMs) {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const lib = u.protocol === "https:" ? https : http;
    const req = lib.request(u, { method, headers, agent: false }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers,
                                    body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.setTimeout(timeoutMs || TIMEOUT_MS, () => {
      req.destroy(new Error("timeout after " + (timeoutMs || TIMEOUT_MS) + " ms"));
    });
    req.on("error", reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

// Sends fields to o.url as Twilio would (POST form, or GET with the fields in the query),
// with X-Twilio-Signature over the signed URL (plus the fields for a POST). o.signature
// replaces the computed one (to send a wrong one); o.algorithm "HMAC_SHA256" with
// o.sharedKeyId adds X-Twilio-Webhooks-Signature-Settings, as a Webhook Rule does.
async function send(o) {
  const fields = o.fields || [];
  const method = (o.method || "POST").toUpperCase();
  let url = o.url;
  let body;
  const headers = Object.assign({ "User-Agent": "TwilioProxy/1.1", Accept: "*/*" }, o.headers);
  if (method === "GET") {
    if (fields.length) url += (url.includes("?") ? "&" : "?") + formEncode(fields);
  } else {
    body = formEncode(fields);
    headers["Content-Type"] = "application/x-www-form-urlencoded";
    headers["Content-Length"] = Buffer.byteLength(body);
  }
  const signedUrl = signedUrlFor(o, url);
  const algorithm = o.algorithm || "HMAC_SHA1";
  const signature = o.signature !== undefined ? o.signature
    : sign.signature(o.authToken, signedUrl, method === "GET" ? null : fields, algorithm);
  if (signature !== null) headers["X-Twilio-Signature"] = signature;
  if (algorithm.toUpperCase() !== "HMAC_SHA1" || o.sharedKeyId) {
    headers["X-Twilio-Webhooks-Signature-Settings"] =
      "key=" + (o.sharedKeyId || "") + ",algorithm=" + algorithm;
  }
  const res = await request(method, url, headers, body, o.timeoutMs);
  return Object.assign(res, { signature, signedUrl, params: fields });
}

module.exports = { messageFields, callFields, send, request, formEncode, signedUrlFor, sid };

if (require.main === module) {
  const args = process.argv.slice(2);
  const kind = args.shift();
  const url = args.shift();
  const token = args.shift();
  if (!["message", "call"].includes(kind) || !url || !token) {
    process.stderr.write("usage: node webhook.js message|call URL TOKEN [--public-url BASE] " +
      "[--sha256 KEY_ID] [--get] [Name=value ...]\n");
    process.exit(2);
  }
  const o = { url, authToken: token };
  const extra = {};
  while (args.length) {
    const a = args.shift();
    if (a === "--public-url") o.publicUrl = args.shift();
    else if (a === "--sha256") { o.algorithm = "HMAC_SHA256"; o.sharedKeyId = args.shift(); }
    else if (a === "--get") o.method = "GET";
    else {
      const i = a.indexOf("=");
      if (i < 0) { process.stderr.write("webhook.js: not Name=value: " + a + "\n"); process.exit(2); }
      extra[a.slice(0, i)] = a.slice(i + 1);
    }
  }
  o.fields = kind === "message" ? messageFields({ extra }) : callFields({ extra });
  send(o).then((r) => {
    process.stdout.write(JSON.stringify(r) + "\n");
  }, (e) => {
    process.stderr.write("webhook.js: " + e.message + "\n");
    process.exit(1);
  });
}
