// Writes a file of ready-made HTTP/1.1 requests for bench/serve/load.c: each record is
// "LENGTH\n" followed by LENGTH bytes of request. Signing happens here, once, so the load
// client only replays bytes (and the signer is node's crypto, not rivulet's own code).
//
//   node gen.js webhook OUT CONVERSATIONS FIRST ACCOUNT_SID FLOW_SID TOKEN PUBLIC_URL [PHASES]
//     PHASES (default 2) × CONVERSATIONS incoming-message webhooks, POST /v1/Accounts/{AC}/Flows/{FW},
//     every field Twilio posts (SERVING.md §2.2), signed with X-Twilio-Signature over
//     PUBLIC_URL + path + the fields sorted by name. Contact i (From +1555 and 7 digits,
//     numbered from FIRST) sends a first message, then, after all the first messages, its
//     reply: YES, NO or "maybe later" in turn. The replies come CONVERSATIONS requests
//     after the first messages, so each reply finds its execution waiting (N >> clients).
//     PHASES 1: the first messages only (N executions left waiting for their reply).
//   node gen.js rest OUT COUNT FIRST ACCOUNT_SID FLOW_SID TOKEN
//     COUNT × POST /v2/Flows/{FW}/Executions (Basic auth), To +1666 and 7 digits from FIRST
//     (one new contact each), From the flow's number, Parameters a small JSON object.
//   node gen.js get OUT COUNT ACCOUNT_SID FLOW_SID TOKEN
//     COUNT × GET /v2/Flows/{FW} (Basic auth): a cheap request that opens a connection.
"use strict";

const crypto = require("crypto");
const fs = require("fs");

const FLOW_NUMBER = "+15005550006";
const REPLIES = ["YES", "no", "maybe later"];   // confirmed, cancelled, unclear

function hex32(kind, n) {
  return crypto.createHash("md5").update(kind + ":" + n).digest("hex");
}

function number(prefix, n) {
  return prefix + String(n).padStart(7, "0");
}

// x-www-form-urlencoded as Twilio sends it (space as +)
function form(fields) {
  return fields.map(([k, v]) => encodeURIComponent(k) + "=" +
    encodeURIComponent(v).replace(/%20/g, "+")).join("&");
}

// Twilio's webhook signature: base64 HMAC-SHA1 over the URL and the sorted name+value pairs
function signature(token, url, fields) {
  const sorted = fields.slice().sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 :
    a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  const h = crypto.createHmac("sha1", token);
  h.update(url);
  for (const [k, v] of sorted) h.update(k + v);
  return h.digest("base64");
}

// the fields of an incoming SMS, in the order of Twilio's captured payload
function messageFields(account, sid, from, body) {
  return [
    ["ToCountry", "US"], ["ToState", "CA"], ["SmsMessageSid", sid], ["NumMedia", "0"],
    ["ToCity", "SAN FRANCISCO"], ["FromZip", "94105"], ["SmsSid", sid], ["FromState", "CA"],
    ["SmsStatus", "received"], ["FromCity", "SAN FRANCISCO"], ["Body", body],
    ["FromCountry", "US"], ["To", FLOW_NUMBER], ["ToZip", "94107"], ["NumSegments", "1"],
    ["MessageSid", sid], ["AccountSid", account], ["From", from], ["ApiVersion", "2010-04-01"],
  ];
}

function request(method, path, headers, body) {
  let s = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  for (const [k, v] of headers) s += k + ": " + v + "\r\n";
  if (body !== undefined) s += "Content-Length: " + Buffer.byteLength(body) + "\r\n";
  s += "\r\n" + (body || "");
  return s;
}

function write(out, reqs) {
  const parts = [];
  for (const r of reqs) parts.push(Buffer.byteLength(r) + "\n" + r);
  fs.writeFileSync(out, parts.join(""));
}

function basic(account, token) {
  return "Basic " + Buffer.from(account + ":" + token).toString("base64");
}

const [mode, out, ...a] = process.argv.slice(2);
const reqs = [];
if (mode === "webhook") {
  const [n, first, account, flow, token, publicUrl] = [Number(a[0]), Number(a[1]), a[2], a[3], a[4], a[5]];
  const phases = a[6] === "1" ? [0] : [0, 1];
  const path = "/v1/Accounts/" + account + "/Flows/" + flow;
  const url = publicUrl.replace(/\/+$/, "") + path;
  for (const phase of phases) {
    for (let i = 0; i < n; i++) {
      const c = first + i;
      const sid = "SM" + hex32(phase, c);
      const body = phase === 0 ? "Hi, this is about my appointment" : REPLIES[c % REPLIES.length];
      const fields = messageFields(account, sid, number("+1555", c), body);
      reqs.push(request("POST", path, [
        ["Content-Type", "application/x-www-form-urlencoded"],
        ["X-Twilio-Signature", signature(token, url, fields)],
        ["I-Twilio-Idempotency-Token", hex32("idem" + phase, c)],
        ["User-Agent", "TwilioProxy/1.1"], ["Accept", "*/*"],
      ], form(fields)));
    }
  }
} else if (mode === "rest") {
  const [n, first, account, flow, token] = [Number(a[0]), Number(a[1]), a[2], a[3], a[4]];
  const path = "/v2/Flows/" + flow + "/Executions";
  for (let i = 0; i < n; i++) {
    const body = form([["To", number("+1666", first + i)], ["From", FLOW_NUMBER],
      ["Parameters", JSON.stringify({ when: "Tuesday at 09:30", ref: "A" + (first + i) })]]);
    reqs.push(request("POST", path, [
      ["Authorization", basic(account, token)],
      ["Content-Type", "application/x-www-form-urlencoded"], ["User-Agent", "twilio-node/5"],
    ], body));
  }
} else if (mode === "get") {
  const [n, account, flow, token] = [Number(a[0]), a[1], a[2], a[3]];
  for (let i = 0; i < n; i++) {
    reqs.push(request("GET", "/v2/Flows/" + flow, [["Authorization", basic(account, token)]]));
  }
} else {
  process.stderr.write("usage: node gen.js webhook|rest|get OUT ... (see the head of gen.js)\n");
  process.exit(2);
}
write(out, reqs);
