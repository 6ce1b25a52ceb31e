// X-Twilio-Signature, written from the algorithm in ../shared/studio/REFERENCE.md appendix B
// (not from any library): the full URL, then for a form POST every parameter name followed
// by its value, names in byte order; a repeated name contributes each distinct value once,
// values in byte order (twilio-node's validator drops duplicates: appendix B's second
// vector). HMAC keyed by the auth token (or a Webhook Rule's shared key), base64 with padding.
// A JSON body is signed as its URL with bodySHA256=<hex SHA-256 of the body> in the query.
//
//   const sign = require("./sign");
//   sign.signature(token, url, params)                    // HMAC-SHA1
//   sign.signature(token, url, params, "HMAC_SHA256")     // a Webhook Rule's algorithm
//   sign.stringToSign(url, params)
//   sign.jsonUrl(url, body)                               // url + bodySHA256=...
//
// CLI: node sign.js TOKEN URL [name=value ...]   prints the signature (HMAC-SHA1)

"use strict";

const crypto = require("crypto");

// Twilio's names for the algorithms (X-Twilio-Webhooks-Signature-Settings: algorithm=...).
const ALGORITHMS = { HMAC_SHA1: "sha1", HMAC_SHA256: "sha256" };

// Byte order of the UTF-8 encodings (JS string comparison is UTF-16 order, which differs
// above the BMP).
function byteOrder(a, b) {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

// params: an object name -> string | string[] (repeated names), or an array of [name, value]
// pairs (the order a form was sent in); null/undefined = no parameters.
function toMap(params) {
  const map = new Map();
  const add = (name, value) => {
    if (!map.has(name)) map.set(name, []);
    map.get(name).push(value === undefined || value === null ? "" : String(value));
  };
  if (Array.isArray(params)) {
    for (const [name, value] of params) add(String(name), value);
  } else if (params) {
    for (const name of Object.keys(params)) {
      const v = params[name];
      if (Array.isArray(v)) v.forEach((x) => add(name, x));
      else add(name, v);
    }
  }
  return map;
}

function stringToSign(url, params) {
  const map = toMap(params);
  let s = url;
  for (const name of [...map.keys()].sort(byteOrder)) {
    for (const value of [...new Set(map.get(name))].sort(byteOrder)) s += name + value;
  }
  return s;
}

function signature(token, url, params, algorithm) {
  const hash = ALGORITHMS[(algorithm || "HMAC_SHA1").toUpperCase()];
  if (!hash) throw new Error("unsupported signature algorithm: " + algorithm);
  return crypto.createHmac(hash, token).update(stringToSign(url, params), "utf8").digest("base64");
}

function bodySha256(body) {
  return crypto.createHash("sha256").update(body, "utf8").digest("hex");
}

// The URL a JSON body is signed as.
function jsonUrl(url, body) {
  return url + (url.includes("?") ? "&" : "?") + "bodySHA256=" + bodySha256(body);
}

module.exports = { ALGORITHMS, stringToSign, signature, bodySha256, jsonUrl };

if (require.main === module) {
  const [token, url, ...pairs] = process.argv.slice(2);
  if (!token || !url) {
    process.stderr.write("usage: node sign.js TOKEN URL [name=value ...]\n");
    process.exit(2);
  }
  const params = pairs.map((p) => {
    const i = p.indexOf("=");
    return i < 0 ? [p, ""] : [p.slice(0, i), p.slice(i + 1)];
  });
  process.stdout.write(signature(token, url, params.length ? params : null) + "\n");
}
