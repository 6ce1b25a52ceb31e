// twilio-node as a client of a local Studio (rivulet serve, or Prism's mock): runs twilio-node
// calls and prints what they return, one JSON object per line. See README.md.
//
//   node client.js BASE_URL ACCOUNT_SID AUTH_TOKEN [options] '<json-command>'   one command
//   node client.js BASE_URL ACCOUNT_SID AUTH_TOKEN [options]  < commands         one per line
// options: --api-url URL     the 2010-04-01 API's base (default BASE_URL)
//          --lib twilio|twilio-6   which pinned twilio-node (default twilio, 5.13.1)
//          --timeout-ms N    per HTTP request (default 10000); a command gets 3x that
//
// In stdin mode the first line is {"ready":true,"pid":…,"twilio":"5.13.1",…}; then each
// command gets one answer line, in order:
//   {"id":…, "ok":true,  "result":…, "http":[{method,url,status,violations,prism}…]}
//   {"id":…, "ok":false, "error":{"kind":"rest"|"problem"|"client"|"left_local",
//                                 "status","code","message","moreInfo","details",…}, "http":[…]}
// "http" lists every request twilio-node made for the command; "violations" is the parsed
// sl-violations header a Prism proxy adds, and "prism" Prism's own problem+json error.
//
// How twilio-node is pointed at BASE_URL (twilio-node 5.13.1 lib/base/Domain.js,
// lib/rest/StudioBase.js, lib/base/BaseTwilio.js): every domain is a Domain whose public
// `baseUrl` ("https://studio.twilio.com") prefixes each request's path, so
// `client.studio.baseUrl = BASE_URL` (and `client.api.baseUrl`) redirects it. Edge/region
// must stay unset: getHostname() splices them into the host name. Studio paging follows
// meta.next_page_url verbatim, so the server must answer absolute URLs pointing at itself;
// the httpClient below refuses any request that leaves BASE_URL/--api-url (error kind
// "left_local") instead of letting it reach twilio.com.
//
// Command: {"id":…, "op":"flows.create", "args":{…}, "as":{username,password,accountSid},
//           "baseUrl":…, "apiUrl":…}   (as/baseUrl/apiUrl override the defaults for one command)
// ops (args in twilio-node's camelCase):
//   flows.create {friendlyName,status,definition,commitMessage}   flows.fetch {sid}
//   flows.update {sid,status,friendlyName,definition,commitMessage}   flows.remove {sid}
//   flows.list {limit,pageSize}   flows.page {pageSize,pageNumber,pageToken | url}
//   flowValidate.update {friendlyName,status,definition,commitMessage}
//   revisions.list/page {flowSid,…}   revisions.fetch {flowSid,revision}
//   testUsers.fetch {flowSid}   testUsers.update {flowSid,testUsers}
//   executions.create {flowSid,to,from,parameters}
//   executions.list/page {flowSid,dateCreatedFrom,dateCreatedTo,limit,pageSize,… | url}
//   executions.fetch/remove {flowSid,sid}   executions.update {flowSid,sid,status}
//   executionContext.fetch {flowSid,executionSid}
//   steps.list/page {flowSid,executionSid,…}   steps.fetch {flowSid,executionSid,sid}
//   stepContext.fetch {flowSid,executionSid,stepSid}
//   messages.create {to,from,body,mediaUrl,statusCallback,messagingServiceSid}
//   messages.fetch {sid}   calls.create {to,from,url,twiml,statusCallback}   calls.fetch {sid}
//   http {method,url,headers,form|json|body,auth}    a raw request (auth: true = Basic)
//   webhook {kind:"message"|"call", url, message|call:{from,to,body,media,…}, fields,
//            publicUrl, signUrl, authToken, algorithm, sharedKeyId, signature, method}
//   sign {token,url,params,algorithm}   validateRequest {authToken,signature,url,params,algorithm}
//   version {}
// A "url" in page/http/webhook args may be a path: it is resolved against BASE_URL.

"use strict";

const path = require("path");
const webhook = require("./webhook");
const sign = require("./sign");

const DEFAULT_TIMEOUT_MS = 10000;
const COMMAND_TIMEOUT_FACTOR = 3; // a command may make several requests (list pages)

function usage(msg) {
  if (msg) process.stderr.write("client.js: " + msg + "\n");
  process.stderr.write("usage: node client.js BASE_URL ACCOUNT_SID AUTH_TOKEN [--api-url URL] " +
    "[--lib twilio|twilio-6] [--timeout-ms N] ['<json-command>']\n");
  process.exit(2);
}

function parseArgs(argv) {
  const pos = [];
  const o = { lib: "twilio", timeoutMs: DEFAULT_TIMEOUT_MS };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--api-url") o.apiUrl = argv[++i];
    else if (a === "--lib") o.lib = argv[++i];
    else if (a === "--timeout-ms") o.timeoutMs = Number(argv[++i]);
    else if (a.startsWith("--")) usage("unknown option " + a);
    else pos.push(a);
  }
  if (pos.length < 3 || pos.length > 4) usage();
  [o.baseUrl, o.accountSid, o.authToken, o.command] = pos;
  o.apiUrl = o.apiUrl || o.baseUrl;
  if (!["twilio", "twilio-6"].includes(o.lib)) usage("--lib must be twilio or twilio-6");
  return o;
}

const opts = parseArgs(process.argv.slice(2));

// Edge and region would be spliced into the host name (BaseTwilio getHostname).
delete process.env.TWILIO_EDGE;
delete process.env.TWILIO_REGION;

const twilio = require(opts.lib);
const twilioVersion = require(path.join(opts.lib, "package.json")).version;

function origin(url) {
  return new URL(url).origin;
}

function parseViolations(value) {
  if (!value) return null;
  const text = String(value);
  const json = text.startsWith("Too many violations! ") ? text.slice(21) : text;
  try { return JSON.parse(json); } catch (e) { return [{ unparsed: text }]; }
}

// twilio-node's RequestClient, keeping a log of each exchange and refusing other hosts.
class LocalClient extends twilio.RequestClient {
  constructor(allowed, timeout) {
    super({ timeout, keepAlive: true });
    this.allowed = allowed;
    this.log = [];
  }

  async request(o) {
    let url = o.uri;
    if (o.params && Object.keys(o.params).length) {
      const q = new URLSearchParams();
      for (const [k, v] of Object.entries(o.params)) [].concat(v).forEach((x) => q.append(k, x));
      url += (url.includes("?") ? "&" : "?") + q.toString();
    }
    const entry = { method: String(o.method).toUpperCase(), url, status: null };
    this.log.push(entry);
    if (!this.allowed.has(origin(o.uri))) {
      const e = new Error("twilio-node tried to reach " + o.uri + ", outside the server under test (" +
                          [...this.allowed].join(", ") + ")");
      e.kind = "left_local";
      throw e;
    }
    const res = await super.request(o);
    entry.status = res.statusCode;
    entry.violations = parseViolations(res.headers && res.headers["sl-violations"]);
    const body = res.body;
    if (body && typeof body === "object" && typeof body.type === "string" &&
        body.type.includes("stoplight.io/prism")) {
      entry.prism = body;
    }
    return res;
  }
}

const clients = new Map();

function clientFor(cmd) {
  const as = cmd.as || {};
  const username = as.username || opts.accountSid;
  const password = as.password || opts.authToken;
  const baseUrl = cmd.baseUrl || opts.baseUrl;
  const apiUrl = cmd.apiUrl || (cmd.baseUrl ? cmd.baseUrl : opts.apiUrl);
  const key = JSON.stringify([username, password, as.accountSid, baseUrl, apiUrl]);
  let c = clients.get(key);
  if (!c) {
    const http = new LocalClient(new Set([origin(baseUrl), origin(apiUrl)]), opts.timeoutMs);
    const client = twilio(username, password, { accountSid: as.accountSid, httpClient: http,
                                                 env: {}, edge: undefined, region: undefined });
    client.studio.baseUrl = baseUrl;
    client.api.baseUrl = apiUrl;
    c = { client, http, baseUrl };
    clients.set(key, c);
  }
  return c;
}

function absolute(url, base) {
  return new URL(url, base.replace(/\/*$/, "/")).toString();
}

function plain(v) {
  if (v && typeof v.toJSON === "function" && !(v instanceof Date)) return v.toJSON();
  return v;
}

function page(p) {
  return { instances: p.instances.map(plain), nextPageUrl: p.nextPageUrl || null,
           previousPageUrl: p.previousPageUrl || null, meta: (p._payload && p._payload.meta) || null };
}

// definition may be given as an object: twilio-node serializes objects with JSON.stringify.
function flowParams(a) {
  const p = {};
  for (const k of ["friendlyName", "status", "definition", "commitMessage"]) {
    if (a[k] !== undefined) p[k] = a[k];
  }
  return p;
}

function listParams(a) {
  const p = {};
  for (const k of ["limit", "pageSize", "pageNumber", "pageToken", "dateCreatedFrom", "dateCreatedTo",
                   "to", "from", "dateSent"]) {
    if (a[k] !== undefined) p[k] = a[k];
  }
  return p;
}

// list/page/fetch-by-url over one list resource.
function collection(list, a, base) {
  return {
    list: async () => (await list.list(listParams(a))).map(plain),
    page: async () => page(a.url ? await list.getPage(absolute(a.url, base)) : await list.page(listParams(a))),
  };
}

const studio = (c) => c.client.studio.v2;
const flow = (c, a) => studio(c).flows(a.flowSid);
const execution = (c, a) => flow(c, a).executions(a.executionSid);

const OPS = {
  "flows.create": async (c, a) => plain(await studio(c).flows.create(flowParams(a))),
  "flows.fetch": async (c, a) => plain(await studio(c).flows(a.sid).fetch()),
  "flows.update": async (c, a) => plain(await studio(c).flows(a.sid).update(flowParams(a))),
  "flows.remove": async (c, a) => studio(c).flows(a.sid).remove(),
  "flows.list": (c, a) => collection(studio(c).flows, a, c.baseUrl).list(),
  "flows.page": (c, a) => collection(studio(c).flows, a, c.baseUrl).page(),
  "flowValidate.update": async (c, a) => plain(await studio(c).flowValidate.update(flowParams(a))),
  "revisions.list": (c, a) => collection(flow(c, a).revisions, a, c.baseUrl).list(),
  "revisions.page": (c, a) => collection(flow(c, a).revisions, a, c.baseUrl).page(),
  "revisions.fetch": async (c, a) => plain(await flow(c, a).revisions(String(a.revision)).fetch()),
  "testUsers.fetch": async (c, a) => plain(await flow(c, a).testUsers().fetch()),
  "testUsers.update": async (c, a) => plain(await flow(c, a).testUsers().update({ testUsers: a.testUsers })),
  "executions.create": async (c, a) => {
    const p = { to: a.to, from: a.from };
    if (a.parameters !== undefined) p.parameters = a.parameters;
    return plain(await flow(c, a).executions.create(p));
  },
  "executions.list": (c, a) => collection(flow(c, a).executions, a, c.baseUrl).list(),
  "executions.page": (c, a) => collection(flow(c, a).executions, a, c.baseUrl).page(),
  "executions.fetch": async (c, a) => plain(await flow(c, a).executions(a.sid).fetch()),
  "executions.update": async (c, a) => plain(await flow(c, a).executions(a.sid).update({ status: a.status })),
  "executions.remove": async (c, a) => flow(c, a).executions(a.sid).remove(),
  "executionContext.fetch": async (c, a) => plain(await execution(c, a).executionContext().fetch()),
  "steps.list": (c, a) => collection(execution(c, a).steps, a, c.baseUrl).list(),
  "steps.page": (c, a) => collection(execution(c, a).steps, a, c.baseUrl).page(),
  "steps.fetch": async (c, a) => plain(await execution(c, a).steps(a.sid).fetch()),
  "stepContext.fetch": async (c, a) =>
    plain(await execution(c, a).steps(a.stepSid).stepContext().fetch()),
  "messages.create": async (c, a) => plain(await c.client.messages.create(a)),
  "messages.fetch": async (c, a) => plain(await c.client.messages(a.sid).fetch()),
  "calls.create": async (c, a) => plain(await c.client.calls.create(a)),
  "calls.fetch": async (c, a) => plain(await c.client.calls(a.sid).fetch()),

  http: async (c, a, cmd) => {
    const headers = Object.assign({}, a.headers);
    let body;
    if (a.form !== undefined) {
      body = webhook.formEncode(Array.isArray(a.form) ? a.form : Object.entries(a.form));
      headers["Content-Type"] = "application/x-www-form-urlencoded";
    } else if (a.json !== undefined) {
      body = JSON.stringify(a.json);
      headers["Content-Type"] = "application/json";
    } else if (a.body !== undefined) {
      body = a.body;
    }
    if (body !== undefined) headers["Content-Length"] = Buffer.byteLength(body);
    if (a.auth) {
      const as = a.auth === true ? (cmd.as || {}) : a.auth;
      const user = as.username || opts.accountSid;
      const pass = as.password || opts.authToken;
      headers.Authorization = "Basic " + Buffer.from(user + ":" + pass).toString("base64");
    }
    const url = absolute(a.url, c.baseUrl);
    const entry = { method: (a.method || "GET").toUpperCase(), url, status: null };
    c.http.log.push(entry);
    const res = await webhook.request(entry.method, url, headers, body, opts.timeoutMs);
    entry.status = res.status;
    entry.violations = parseViolations(res.headers["sl-violations"]);
    try { res.json = JSON.parse(res.body); } catch (e) { /* not JSON */ }
    return res;
  },

  webhook: async (c, a) => {
    const kind = a.kind || "message";
    if (!["message", "call"].includes(kind)) throw new Error("webhook kind must be message or call");
    const base = kind === "message" ? webhook.messageFields(Object.assign({ extra: a.fields }, a.message))
                                    : webhook.callFields(Object.assign({ extra: a.fields }, a.call));
    const url = absolute(a.url, c.baseUrl);
    const entry = { method: (a.method || "POST").toUpperCase(), url, status: null };
    c.http.log.push(entry);
    const res = await webhook.send({
      url, fields: base, authToken: a.authToken || opts.authToken, publicUrl: a.publicUrl,
      signUrl: a.signUrl, method: a.method, algorithm: a.algorithm, sharedKeyId: a.sharedKeyId,
      signature: a.signature, headers: a.headers, timeoutMs: opts.timeoutMs,
    });
    entry.status = res.status;
    return res;
  },

  sign: async (c, a) => ({
    signature: sign.signature(a.token, a.url, a.params, a.algorithm),
    stringToSign: sign.stringToSign(a.url, a.params),
  }),

  validateRequest: async (c, a) => (a.algorithm
    ? twilio.validateRequest(a.authToken, a.signature, a.url, a.params || {}, a.algorithm)
    : twilio.validateRequest(a.authToken, a.signature, a.url, a.params || {})),

  version: async () => ({ twilio: twilioVersion, lib: opts.lib, node: process.version }),
};

function describeError(e) {
  if (e.kind === "left_local") return { kind: "left_local", message: e.message };
  if (e instanceof twilio.RestException || (e.constructor && e.constructor.name === "RestException")) {
    return { kind: "rest", status: e.status, code: e.code === undefined ? null : e.code,
             message: e.message === undefined ? null : e.message,
             moreInfo: e.moreInfo === undefined ? null : e.moreInfo,
             details: e.details === undefined ? null : e.details };
  }
  if (e.constructor && e.constructor.name === "TwilioServiceException") {
    return { kind: "problem", status: e.status, code: e.code, type: e.type, title: e.title,
             detail: e.detail || null, message: e.message };
  }
  return { kind: "client", message: e.message, code: e.code || null };
}

async function run(cmd) {
  const answer = { id: cmd.id === undefined ? null : cmd.id, ok: false };
  let c;
  try {
    const op = OPS[cmd.op];
    if (!op) throw Object.assign(new Error("unknown op " + JSON.stringify(cmd.op)), { code: "EUSAGE" });
    c = clientFor(cmd);
    c.http.log = [];
    const budget = opts.timeoutMs * COMMAND_TIMEOUT_FACTOR;
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(Object.assign(new Error("command took over " + budget + " ms"),
                                                    { code: "ETIMEDOUT" })), budget);
    });
    try {
      answer.result = await Promise.race([op(c, cmd.args || {}, cmd), timeout]);
    } finally {
      clearTimeout(timer);
    }
    answer.ok = true;
  } catch (e) {
    answer.ok = false;
    answer.error = describeError(e);
  }
  answer.http = c ? c.http.log : [];
  return answer;
}

function parse(line) {
  try { return JSON.parse(line); } catch (e) { return { op: null, parseError: e.message }; }
}

async function main() {
  if (opts.command !== undefined) {
    const answer = await run(parse(opts.command));
    process.stdout.write(JSON.stringify(answer) + "\n");
    process.exit(answer.ok ? 0 : 1);
  }
  process.stdout.write(JSON.stringify({ ready: true, pid: process.pid, twilio: twilioVersion,
                                        lib: opts.lib, node: process.version }) + "\n");
  // Commands run one at a time, in order; stdin's end ends the process.
  let pending = "";
  let chain = Promise.resolve();
  process.stdin.setEncoding("utf8");
  process.stdin.on("data", (chunk) => {
    pending += chunk;
    let i;
    while ((i = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, i).trim();
      pending = pending.slice(i + 1);
      if (!line) continue;
      chain = chain.then(() => run(parse(line))).then((a) => {
        process.stdout.write(JSON.stringify(a) + "\n");
      });
    }
  });
  process.stdin.on("end", () => chain.then(() => process.exit(0)));
}

process.on("SIGTERM", () => process.exit(0));
main();
