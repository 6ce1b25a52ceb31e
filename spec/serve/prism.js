// Prism (@stoplight/prism-cli, pinned in package.json) for the specs, behind a small recording
// hop that turns Prism's violation reports into one JSON line per exchange. See README.md.
//
//   node prism.js mock  SPEC            [--port N] [--dynamic] [--as-is] [--only REGEX]
//   node prism.js proxy SPEC UPSTREAM   [--port N] [--no-errors] [--as-is] [--only REGEX]
//                                       [--pass REGEX]  (paths it matches go straight to
//                                       UPSTREAM, unchecked: routes outside the spec)
//
// stdout, one JSON object per line:
//   {"event":"listening","url":"http://127.0.0.1:PORT","port":…,"pid":…,"prism_pid":…,"mode":…}
//   {"event":"exchange","seq":n,"method":…,"path":…,"status":…,"violations":[…],"prism_error":…}
//     for every request answered: violations = Prism's sl-violations header, or the
//     `validation` list of the problem+json error Prism answered in its place; a Prism error
//     without one (no route matched, bad auth scheme) counts as one violation
//   {"event":"exit",…} if Prism dies
// HTTP: GET /_prism/exchanges[?since=SEQ] lists the exchanges so far.
// stdin: its end stops Prism and this process (so neither outlives the spec).
//
// What Prism does (5.14.2, packages/http-server/src/server.ts, packages/core/src/factory.ts,
// packages/http/src/forwarder/index.ts):
//  * proxy: routes the request against the spec's paths (the spec's `servers` are ignored; a
//    path not in the spec is NO_PATH_MATCHED_ERROR 404 with --errors, forwarded without);
//    checks the security scheme (Basic: any well-formed Authorization header) and the
//    request; with --errors an invalid request is answered 422 (401 for security) and never
//    reaches the upstream; the upstream's answer is validated against the spec and, with
//    --errors, one with Error-severity violations is replaced by 500 VIOLATIONS.
//  * every violation found is also sent as the `sl-violations` header (JSON list of
//    {location, severity, code, message}, cut at ~8 KB with a "Too many violations!" prefix)
//    and logged as "Violation: …" (not logged when --errors replaces the answer).
//  * form bodies: Prism keeps the last of repeated names and treats an array property as an
//    array only when the operation declares an `encoding` style for it. Twilio's specs
//    declare none (OpenAPI's default for form bodies is style form, explode true), so every
//    array property (TestUsers, MediaUrl, StatusCallbackEvent…) would fail "must be array"
//    whatever the client sends.
//  * response schemas with an untyped `nullable` do not compile, and Prism then validates
//    nothing for them (see dropUntypedNullable below).
// Unless --as-is, this script gives Prism a copy of SPEC, in a temporary directory, with
// both written around (the "spec_fixes" counts in the listening line).

"use strict";

const child = require("child_process");
const fs = require("fs");
const http = require("http");
const net = require("net");
const os = require("os");
const path = require("path");

const START_DEADLINE_MS = 30000; // Prism parses a 100-300 KB spec: ~1.5 s here, more under load
const PORT_TRIES = 3;            // a free port can be taken between probing and Prism's bind
const MAX_EXCHANGES = 100000;    // kept for /_prism/exchanges; a spec run makes far fewer

function usage(msg) {
  if (msg) process.stderr.write("prism.js: " + msg + "\n");
  process.stderr.write("usage: node prism.js mock SPEC [--port N] [--dynamic] [--as-is] [--only REGEX]\n" +
                       "       node prism.js proxy SPEC UPSTREAM [--port N] [--no-errors] [--as-is] [--only REGEX] [--pass REGEX]\n");
  process.exit(2);
}

function parseArgs(argv) {
  const o = { port: 0, errors: true, asIs: false, dynamic: false, pos: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--port") o.port = Number(argv[++i]);
    else if (a === "--no-errors") o.errors = false;
    else if (a === "--as-is") o.asIs = true;
    else if (a === "--dynamic") o.dynamic = true;
    else if (a === "--only") o.only = argv[++i];
    else if (a === "--pass") o.pass = new RegExp(argv[++i]);
    else if (a.startsWith("--")) usage("unknown option " + a);
    else o.pos.push(a);
  }
  [o.mode, o.spec, o.upstream] = o.pos;
  if (o.mode === "mock" ? o.pos.length !== 2 : o.mode === "proxy" ? o.pos.length !== 3 : true) usage();
  return o;
}

const opts = parseArgs(process.argv.slice(2));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "rivulet-prism-"));
let prism = null;
let exchanges = [];
let seq = 0;

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

function cleanup() {
  if (prism && prism.exitCode === null) {
    try { prism.kill("SIGTERM"); } catch (e) { /* already gone */ }
  }
  fs.rmSync(tmp, { recursive: true, force: true });
}

function quit(code) {
  cleanup();
  process.exit(code);
}

// OpenAPI 3.0's `nullable` needs a `type` beside it for Ajv (Prism's validator), which throws
// "nullable cannot be used without type" when compiling such a schema; Prism catches that
// and validates nothing (packages/http/src/validator/validators/utils.ts, validateAgainstSchema:
// O.tryCatch around the compile). Twilio writes `context`/`definition` as {nullable: true},
// so 14 of the 17 Studio v2 response schemas (and 15 of 167 in 2010-04-01) would pass
// whatever the server answers. An untyped schema already accepts null: dropping the keyword
// there changes nothing else.
function dropUntypedNullable(node) {
  if (Array.isArray(node)) { node.forEach(dropUntypedNullable); return 0; }
  if (!node || typeof node !== "object") return 0;
  let n = 0;
  if (node.nullable === true && node.type === undefined) { delete node.nullable; n++; }
  for (const v of Object.values(node)) n += dropUntypedNullable(v) || 0;
  return n;
}

// Writes out OpenAPI's default form encoding (style form, explode true) for every array
// property of a form request body that declares none.
function explicitFormArrays(doc) {
  let n = 0;
  for (const item of Object.values(doc.paths || {})) {
    for (const op of Object.values(item)) {
      const media = op && op.requestBody && op.requestBody.content &&
                    op.requestBody.content["application/x-www-form-urlencoded"];
      const props = media && media.schema && media.schema.properties;
      if (!props) continue;
      for (const [name, schema] of Object.entries(props)) {
        if (schema.type !== "array") continue;
        media.encoding = media.encoding || {};
        if (!media.encoding[name]) { media.encoding[name] = { style: "form", explode: true }; n++; }
      }
    }
  }
  return n;
}

// The spec Prism reads: SPEC itself (--as-is), or a copy in a temporary directory (never in
// the checkout) with the two fixes above.
// Keeps the paths `keep` matches and the components they reach through $ref.
function keepPaths(doc, keep) {
  for (const p of Object.keys(doc.paths)) if (!keep.test(p)) delete doc.paths[p];
  const reached = new Set();
  const walk = (node) => {
    if (Array.isArray(node)) { node.forEach(walk); return; }
    if (!node || typeof node !== "object") return;
    const ref = typeof node.$ref === "string" && /^#\/components\/([^/]+)\/(.+)$/.exec(node.$ref);
    if (ref && !reached.has(node.$ref)) {
      reached.add(node.$ref);
      walk(doc.components[ref[1]] && doc.components[ref[1]][ref[2]]);
    }
    Object.values(node).forEach(walk);
  };
  walk(doc.paths);
  for (const [kind, items] of Object.entries(doc.components || {})) {
    if (kind === "securitySchemes") continue;
    for (const name of Object.keys(items)) {
      if (!reached.has(`#/components/${kind}/${name}`)) delete items[name];
    }
  }
}

// --only REGEX keeps the paths it matches (Prism takes ~7 s to start on all of the 1.8 MB
// 2010-04-01 description, ~2 s on its Messages and Calls).
function specFor(file) {
  if (opts.asIs && !opts.only) return { file, fixes: null };
  const doc = JSON.parse(fs.readFileSync(file, "utf8"));
  if (opts.only) keepPaths(doc, new RegExp(opts.only));
  const fixes = opts.asIs ? null
    : { untyped_nullable: dropUntypedNullable(doc), form_arrays: explicitFormArrays(doc) };
  const out = path.join(tmp, path.basename(file));
  fs.writeFileSync(out, JSON.stringify(doc));
  return { file: out, fixes };
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = s.address().port;
      s.close(() => resolve(port));
    });
  });
}

// Starts Prism on a free port; resolves its port once it says it listens.
function startPrism(spec) {
  return new Promise((resolve, reject) => {
    freePort().then((port) => {
      const cli = require.resolve("@stoplight/prism-cli/dist/index.js");
      const args = [cli, opts.mode, spec];
      if (opts.mode === "proxy") args.push(opts.upstream);
      args.push("-h", "127.0.0.1", "-p", String(port));
      if (opts.mode === "proxy" && opts.errors) args.push("--errors");
      if (opts.dynamic) args.push("--dynamic");
      prism = child.spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"],
                                                   env: Object.assign({}, process.env, { FORCE_COLOR: "0" }) });
      let log = "";
      let ready = false;
      const timer = setTimeout(() => {
        reject(new Error("Prism did not listen within " + START_DEADLINE_MS + " ms:\n" + log.slice(-3000)));
      }, START_DEADLINE_MS);
      const onData = (chunk) => {
        const text = chunk.toString("utf8");
        if (!ready) log += text;
        // Prism's own log goes to our stderr, so a failing spec can show it.
        process.stderr.write(text);
        if (!ready && /Prism is listening on/.test(log)) {
          ready = true;
          clearTimeout(timer);
          resolve(port);
        }
      };
      prism.stdout.on("data", onData);
      prism.stderr.on("data", onData);
      prism.on("exit", (code, signal) => {
        clearTimeout(timer);
        if (!ready) {
          reject(Object.assign(new Error("Prism exited (" + (signal || code) + ") before listening:\n" +
                                         log.slice(-3000)), { portTaken: /EADDRINUSE/.test(log) }));
        } else {
          emit({ event: "exit", code, signal });
          quit(1);
        }
      });
    }, reject);
  });
}

function parseViolations(value) {
  if (!value) return null;
  const text = String(value);
  const json = text.startsWith("Too many violations! ") ? text.slice(21) : text;
  try { return JSON.parse(json); } catch (e) { return [{ location: [], severity: "Error", code: "truncated", message: text }]; }
}

function violationsOf(res, body) {
  let violations = parseViolations(res.headers["sl-violations"]) || [];
  let prismError = null;
  if (/application\/problem\+json/.test(res.headers["content-type"] || "")) {
    let problem = null;
    try { problem = JSON.parse(body.toString("utf8")); } catch (e) { /* not JSON */ }
    if (problem && typeof problem.type === "string" && problem.type.includes("stoplight.io/prism")) {
      prismError = { type: problem.type, title: problem.title, status: problem.status, detail: problem.detail };
      if (violations.length === 0 && Array.isArray(problem.validation)) violations = problem.validation;
      if (violations.length === 0) {
        violations = [{ location: ["request"], severity: "Error", code: problem.type.replace(/.*#/, ""),
                        message: problem.title }];
      }
    }
  }
  return { violations, prismError };
}

function serveHop(prismPort, fixes) {
  const agent = new http.Agent({ keepAlive: true });
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, "http://127.0.0.1");
    if (url.pathname === "/_prism/exchanges" && req.method === "GET") {
      const since = Number(url.searchParams.get("since") || 0);
      const body = JSON.stringify(exchanges.filter((e) => e.seq > since));
      res.writeHead(200, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      if (opts.pass && opts.upstream && opts.pass.test(url.pathname)) {
        // not an operation of the spec (e.g. the flows' webhooks): straight to the upstream
        const target = new URL(req.url, opts.upstream);
        const direct = http.request({ host: target.hostname, port: target.port, method: req.method,
                                      path: target.pathname + target.search, headers: req.headers, agent }, (ures) => {
          res.writeHead(ures.statusCode, ures.headers);
          ures.pipe(res);
        });
        direct.on("error", (e) => {
          res.writeHead(502, { "Content-Type": "application/json" });
          res.end(JSON.stringify({ error: "prism.js: the upstream did not answer: " + e.message }));
        });
        direct.end(body);
        return;
      }
      const up = http.request({ host: "127.0.0.1", port: prismPort, method: req.method, path: req.url,
                                headers: req.headers, agent }, (pres) => {
        const out = [];
        pres.on("data", (c) => out.push(c));
        pres.on("end", () => {
          const payload = Buffer.concat(out);
          const { violations, prismError } = violationsOf(pres, payload);
          const ex = { event: "exchange", seq: ++seq, method: req.method, path: url.pathname + url.search,
                       status: pres.statusCode, violations, prism_error: prismError };
          exchanges.push(ex);
          if (exchanges.length > MAX_EXCHANGES) exchanges.shift();
          emit(ex);
          const headers = Object.assign({}, pres.headers);
          delete headers["transfer-encoding"];
          headers["content-length"] = payload.length;
          res.writeHead(pres.statusCode, headers);
          res.end(payload);
        });
      });
      up.on("error", (e) => {
        const text = JSON.stringify({ error: "prism.js: Prism did not answer: " + e.message });
        res.writeHead(502, { "Content-Type": "application/json" });
        res.end(text);
      });
      up.end(body);
    });
  });
  server.listen(opts.port, "127.0.0.1", () => {
    const port = server.address().port;
    emit({ event: "listening", url: "http://127.0.0.1:" + port, port, pid: process.pid,
           prism_pid: prism.pid, prism_port: prismPort, mode: opts.mode,
           errors: opts.mode === "proxy" && opts.errors, spec_fixes: fixes });
  });
  server.on("error", (e) => {
    process.stderr.write("prism.js: " + e.message + "\n");
    quit(1);
  });
}

async function main() {
  const spec = specFor(opts.spec);
  let lastError;
  for (let i = 0; i < PORT_TRIES; i++) {
    try {
      serveHop(await startPrism(spec.file), spec.fixes);
      return;
    } catch (e) {
      lastError = e;
      if (!e.portTaken) break;
    }
  }
  process.stderr.write("prism.js: " + lastError.message + "\n");
  quit(1);
}

process.stdin.on("data", () => {});
process.stdin.on("end", () => quit(0));
process.on("SIGTERM", () => quit(0));
process.on("SIGINT", () => quit(0));
main();
