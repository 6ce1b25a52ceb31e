/* libFuzzer target: the signing primitives (src/sign.c) and the URL encoding in C (Liquid's
** url_encode / url_decode filters), checked against properties rather than for crashes only.
**
** Input: byte 0 is the key length k (capped at what is there), then k key bytes, then the
** message. Checked:
**   rv_hmac_sha1_base64: succeeds; 28 characters of standard base64 ending in one '=',
**     decoding to the 20 bytes of HMAC-SHA1 computed here from SHA-1 (RFC 2104: long keys
**     hashed, ipad/opad), so key handling (empty, > 64 bytes, NULs) is checked too;
**   rv_sha256_hex: succeeds; 64 lower-case hex digits, equal to SHA-256 computed here;
**   url_encode: only unreserved bytes, '+' and %XX with upper-case hex, and decoding that
**     by hand gives the message back;
**   url_decode(url_encode(m)) == m when m is UTF-8, and fails otherwise;
**   url_decode(m) equals a reference decoder here ('+' is a space, %XX with two hex digits
**     a byte, anything else itself) when that result is UTF-8, and fails otherwise. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "liquid.h"
#include "sign.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c, what) do { if (!(c)) { fprintf(stderr, "fuzz_sign: %s\n", what); abort(); } } while (0)

/* ---- reference implementations */

static void sha1(const void *p, size_t n, unsigned char md[20]) {
  unsigned int len = 0;
  CHECK(EVP_Digest(p, n, md, &len, EVP_sha1(), NULL) && len == 20, "EVP_Digest(sha1)");
}

static void ref_hmac_sha1(const unsigned char *key, size_t klen, const unsigned char *msg, size_t n,
                          unsigned char mac[20]) {
  unsigned char k[64], pad[64], inner[20];
  EVP_MD_CTX *c = EVP_MD_CTX_new();
  unsigned int len = 0;
  size_t i;
  CHECK(c != NULL, "EVP_MD_CTX_new");
  memset(k, 0, sizeof k);
  if (klen > 64) sha1(key, klen, k);
  else if (klen) memcpy(k, key, klen);
  for (i = 0; i < 64; i++) pad[i] = k[i] ^ 0x36;
  CHECK(EVP_DigestInit_ex(c, EVP_sha1(), NULL) && EVP_DigestUpdate(c, pad, 64) &&
        EVP_DigestUpdate(c, msg, n) && EVP_DigestFinal_ex(c, inner, &len), "inner SHA-1");
  for (i = 0; i < 64; i++) pad[i] = k[i] ^ 0x5c;
  CHECK(EVP_DigestInit_ex(c, EVP_sha1(), NULL) && EVP_DigestUpdate(c, pad, 64) &&
        EVP_DigestUpdate(c, inner, 20) && EVP_DigestFinal_ex(c, mac, &len), "outer SHA-1");
  EVP_MD_CTX_free(c);
}

static int b64val(int c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* UTF-8 as Ruby's valid_encoding? sees it: no overlong forms, surrogates or > U+10FFFF */
static int utf8_ok(const unsigned char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    unsigned c = s[i];
    size_t len, j;
    uint32_t cp;
    if (c < 0x80) { i++; continue; }
    if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0F; }
    else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07; }
    else return 0;
    if (n - i < len) return 0;
    for (j = 1; j < len; j++) {
      if ((s[i + j] & 0xC0) != 0x80) return 0;
      cp = cp << 6 | (s[i + j] & 0x3F);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
      return 0;
    i += len;
  }
  return 1;
}

/* '+' -> space, %XX -> byte, else the byte; out has room for n bytes */
static size_t ref_url_decode(const unsigned char *s, size_t n, unsigned char *out) {
  size_t i, o = 0;
  for (i = 0; i < n; i++) {
    if (s[i] == '+') out[o++] = ' ';
    else if (s[i] == '%' && i + 2 < n + 0 && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
      out[o++] = (unsigned char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
      i += 2;
    } else out[o++] = s[i];
  }
  return o;
}

/* ---- Liquid with one variable, s */

static const char *var_p;
static size_t var_n;

static int host_get(void *ud, intptr_t obj, const char *key, size_t klen, lq_value *out) {
  (void)ud; (void)obj;
  out->type = LQ_NIL;
  if (klen == 1 && key[0] == 's') {
    out->type = LQ_STR;
    out->u.s.p = var_p;
    out->u.s.n = var_n;
  }
  return 0;
}

static lq_template *compile(const char *src) {
  lq_error err;
  lq_template *t = lq_compile(src, strlen(src), LQ_MODE_STRICT, &err);
  if (!t) { fprintf(stderr, "fuzz_sign: %s: %s\n", src, err.msg); abort(); }
  return t;
}

/* renders t with s = (p, n): 0 and the output copied into *out (malloc'd), or -1 */
static int render(const lq_template *t, const void *p, size_t n, char **out, size_t *outlen) {
  lq_host host;
  lq_options o;
  lq_render *r = malloc(lq_render_size());
  const char *res;
  int rc;
  CHECK(r != NULL, "malloc");
  var_p = p;
  var_n = n;
  memset(&host, 0, sizeof host);
  host.get = host_get;
  lq_options_init(&o);
  o.timezone = "UTC";
  o.strict_errors = 1;                        /* a filter's error fails the render */
  lq_render_init(r);
  rc = lq_render_run(r, t, &host, &o, (lq_value){ .type = LQ_HOSTHASH, .u.h = 1 });
  if (rc == 0) {
    res = lq_render_output(r, outlen);
    *out = malloc(*outlen + 1);
    CHECK(*out != NULL, "malloc");
    memcpy(*out, res, *outlen);
    (*out)[*outlen] = 0;
  } else {
    CHECK(strstr(lq_render_error(r)->msg, "invalid byte sequence in UTF-8") != NULL,
          "url_decode failed for another reason than UTF-8");
  }
  lq_render_free(r);
  free(r);
  return rc == 0 ? 0 : -1;
}

static void check_sign(const unsigned char *key, size_t klen, const unsigned char *msg, size_t n) {
  char sig[32], hex[72];
  unsigned char mac[20], got[21];
  unsigned char md[32];
  unsigned int mdlen = 0;
  int i, k = 0;
  uint32_t acc = 0;
  int bits = 0;
  memset(sig, 0x7f, sizeof sig);
  CHECK(rv_hmac_sha1_base64((const char *)key, klen, (const char *)msg, n, sig) == 0, "HMAC failed");
  CHECK(sig[28] == 0 && sig[29] == 0x7f, "signature is not 28 characters and a NUL");
  CHECK(sig[27] == '=' && sig[26] != '=', "signature does not end in exactly one '='");
  for (i = 0; i < 27; i++) {
    int v = b64val((unsigned char)sig[i]);
    CHECK(v >= 0, "signature is not base64");
    acc = acc << 6 | (uint32_t)v;
    bits += 6;
    if (bits >= 8) { bits -= 8; got[k++] = (unsigned char)(acc >> bits); }
  }
  CHECK(k == 20 && (acc & ((1u << bits) - 1)) == 0, "signature does not decode to 20 bytes");
  ref_hmac_sha1(key, klen, msg, n, mac);
  CHECK(memcmp(mac, got, 20) == 0, "signature differs from HMAC-SHA1");

  memset(hex, 0x7f, sizeof hex);
  CHECK(rv_sha256_hex((const char *)msg, n, hex) == 0, "SHA-256 failed");
  CHECK(hex[64] == 0 && hex[65] == 0x7f, "SHA-256 hex is not 64 characters and a NUL");
  CHECK(EVP_Digest(msg, n, md, &mdlen, EVP_sha256(), NULL) && mdlen == 32, "EVP_Digest(sha256)");
  for (i = 0; i < 32; i++) {
    static const char digits[] = "0123456789abcdef";
    CHECK(hex[2 * i] == digits[md[i] >> 4] && hex[2 * i + 1] == digits[md[i] & 15], "SHA-256 hex differs");
  }
}

static void check_url(const unsigned char *msg, size_t n) {
  static lq_template *enc, *round, *dec;
  char *e, *d;
  size_t en, dn, i, rn;
  unsigned char *ref;
  int utf8 = utf8_ok(msg, n);
  if (!enc) {
    enc = compile("{{ s | url_encode }}");
    round = compile("{{ s | url_encode | url_decode }}");
    dec = compile("{{ s | url_decode }}");
  }
  CHECK(render(enc, msg, n, &e, &en) == 0, "url_encode failed");
  for (i = 0; i < en; i++) {
    unsigned char c = (unsigned char)e[i];
    if (c == '%') {
      CHECK(i + 2 < en && strchr("0123456789ABCDEF", e[i + 1]) && strchr("0123456789ABCDEF", e[i + 2]) &&
            e[i + 1] && e[i + 2], "url_encode wrote a % without two upper-case hex digits");
      i += 2;
    } else
      CHECK((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
            c == '-' || c == '_' || c == '.' || c == '~', "url_encode left a reserved byte");
  }
  ref = malloc(en + 1);
  CHECK(ref != NULL, "malloc");
  rn = ref_url_decode((const unsigned char *)e, en, ref);
  CHECK(rn == n && memcmp(ref, msg, n) == 0, "url_encode does not decode back to its input");
  free(ref);
  free(e);

  if (render(round, msg, n, &d, &dn) == 0) {
    CHECK(utf8, "url_decode(url_encode(m)) accepted bytes that are not UTF-8");
    CHECK(dn == n && memcmp(d, msg, n) == 0, "url_decode(url_encode(m)) != m");
    free(d);
  } else CHECK(!utf8, "url_decode(url_encode(m)) failed on UTF-8");

  ref = malloc(n + 1);
  CHECK(ref != NULL, "malloc");
  rn = ref_url_decode(msg, n, ref);
  if (render(dec, msg, n, &d, &dn) == 0) {
    CHECK(utf8_ok(ref, rn), "url_decode accepted bytes that are not UTF-8");
    CHECK(dn == rn && memcmp(d, ref, rn) == 0, "url_decode differs from the reference decoder");
    free(d);
  } else CHECK(!utf8_ok(ref, rn), "url_decode failed on a result that is UTF-8");
  free(ref);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t klen;
  if (size == 0) return 0;
  klen = data[0];
  if (klen > size - 1) klen = size - 1;
  check_sign(data + 1, klen, data + 1 + klen, size - 1 - klen);
  check_url(data + 1 + klen, size - 1 - klen);
  return 0;
}
