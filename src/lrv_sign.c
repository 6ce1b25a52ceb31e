/*
** rivulet.core's signing primitives over sign.c: X-Twilio-Signature (HMAC-SHA1, and
** HMAC-SHA256 for Webhook Rules), SHA-256, random bytes for SIDs, base64 for HTTP Basic
** credentials, a comparison of secrets that leaks no timing, and the whole Twilio signature
** of a webhook's fields.
*/
#include <stdlib.h>
#include <string.h>

#include "lazy.h"
#include "lrv.h"
#include "sign.h"

/* libcrypto is opened on first use (lazy.h): a process that signs nothing never maps it */
static void need_crypto(lua_State *L) {
  const char *why = rv_crypto_unavailable();
  if (why != NULL) luaL_error(L, "%s", why);
}

/* base64 of HMAC-SHA1 (sha256 = 0) or HMAC-SHA256 of data with key */
static void push_hmac(lua_State *L, const char *k, size_t kl, const char *d, size_t dl, int sha256) {
  char out[45];
  if (sha256 ? rv_hmac_sha256_base64(k, kl, d, dl, out) : rv_hmac_sha1_base64(k, kl, d, dl, out))
    luaL_error(L, "libcrypto could not compute HMAC-%s", sha256 ? "SHA256" : "SHA1");
  lua_pushstring(L, out);
}

static int hmac_base64(lua_State *L, int sha256) {
  size_t kl, dl;
  const char *k = luaL_checklstring(L, 1, &kl), *d = luaL_checklstring(L, 2, &dl);
  need_crypto(L);
  push_hmac(L, k, kl, d, dl, sha256);
  return 1;
}

/* hmac_sha1_base64(key, data) -> string */
static int l_hmac_sha1_base64(lua_State *L) { return hmac_base64(L, 0); }

/* hmac_sha256_base64(key, data) -> string */
static int l_hmac_sha256_base64(lua_State *L) { return hmac_base64(L, 1); }

/* sha256_hex(data) -> string */
static int l_sha256_hex(lua_State *L) {
  size_t dl;
  const char *d = luaL_checklstring(L, 1, &dl);
  char out[65];
  need_crypto(L);
  if (rv_sha256_hex(d, dl, out)) return luaL_error(L, "libcrypto could not compute SHA-256");
  lua_pushstring(L, out);
  return 1;
}

/* random_hex(n) -> 2n hex digits of n random bytes (1..64): SIDs unique across processes
** and Lua states, which math.random's time-based seed is not */
static int l_random_hex(lua_State *L) {
  lua_Integer n = luaL_checkinteger(L, 1);
  char out[129];
  luaL_argcheck(L, n >= 1 && n <= 64, 1, "1 to 64 bytes");
  if (rv_random_hex(out, (size_t)n)) return luaL_error(L, "the system could not produce random bytes");
  lua_pushstring(L, out);
  return 1;
}

/* base64_decode(text) -> bytes | nil (not base64): text comes from outside (a header) */
static int l_base64_decode(lua_State *L) {
  size_t len, outlen;
  const char *in = luaL_checklstring(L, 1, &len);
  luaL_Buffer b;
  unsigned char *out;
  need_crypto(L);
  out = (unsigned char *)luaL_buffinitsize(L, &b, len / 4 * 3 + 1);
  if (rv_base64_decode(in, len, out, &outlen)) {
    luaL_pushfail(L);
    return 1;
  }
  luaL_pushresultsize(&b, outlen);
  return 1;
}

/* base64_encode(bytes) -> text (HTTP Basic credentials we send) */
static int l_base64_encode(lua_State *L) {
  size_t len;
  const unsigned char *in = (const unsigned char *)luaL_checklstring(L, 1, &len);
  luaL_Buffer b;
  char *out;
  luaL_argcheck(L, len <= RV_BASE64_MAX_IN, 1, "too long to encode");
  need_crypto(L);
  out = luaL_buffinitsize(L, &b, (len + 2) / 3 * 4 + 1);
  luaL_pushresultsize(&b, rv_base64_encode(in, len, out));
  return 1;
}

/* secret_equal(a, b) -> whether a and b are the same bytes, in a time that does not tell
** where they differ */
static int l_secret_equal(lua_State *L) {
  size_t al, bl;
  const char *a = luaL_checklstring(L, 1, &al), *b = luaL_checklstring(L, 2, &bl);
  need_crypto(L);
  lua_pushboolean(L, rv_secret_equal(a, al, b, bl));
  return 1;
}

/* ---- X-Twilio-Signature ------------------------------------------------------------------ */

typedef struct sig_pair { const char *k, *v; size_t kl, vl; } sig_pair;

static int bytes_cmp(const char *a, size_t al, const char *b, size_t bl) {
  int c = memcmp(a, b, al < bl ? al : bl);
  return c ? c : (al > bl) - (al < bl);
}

/* by name, then value, byte by byte (Twilio sorts by code unit; Lua's < would use the locale) */
static int sig_pair_cmp(const void *x, const void *y) {
  const sig_pair *a = x, *b = y;
  int c = bytes_cmp(a->k, a->kl, b->k, b->kl);
  return c ? c : bytes_cmp(a->v, a->vl, b->v, b->vl);
}

/* twilio_signature(token, url, list[, "sha1" | "sha256"]) -> base64 signature: HMAC of the
** URL, then each name and value of list ({{name, value}, ...}, strings, in any order) in
** name order, a repeated name's values sorted and each distinct pair once (as Twilio's own
** validators). Done in C: every webhook is checked, and a Lua sort with a comparator was
** the largest cost of answering one. */
static int l_twilio_signature(lua_State *L) {
  size_t kl, ul, i, n;
  const char *key = luaL_checklstring(L, 1, &kl), *url = luaL_checklstring(L, 2, &ul);
  const char *alg = luaL_optstring(L, 4, "sha1");
  sig_pair *p;
  luaL_Buffer b;
  int sha256 = strcmp(alg, "sha256") == 0;
  luaL_checktype(L, 3, LUA_TTABLE);
  luaL_argcheck(L, sha256 || strcmp(alg, "sha1") == 0, 4, "sha1 or sha256");
  need_crypto(L);
  n = (size_t)lua_rawlen(L, 3);
  p = lua_newuserdatauv(L, (n ? n : 1) * sizeof *p, 0);      /* freed by the GC, even on error */
  for (i = 0; i < n; i++) {
    lua_rawgeti(L, 3, (lua_Integer)i + 1);
    if (!lua_istable(L, -1) || lua_rawgeti(L, -1, 1) != LUA_TSTRING || lua_rawgeti(L, -2, 2) != LUA_TSTRING)
      return luaL_error(L, "list[%d] must be {name, value}, two strings", (int)i + 1);
    /* the strings stay referenced by list (argument 3) while we use them */
    p[i].k = lua_tolstring(L, -2, &p[i].kl);
    p[i].v = lua_tolstring(L, -1, &p[i].vl);
    lua_pop(L, 3);
  }
  qsort(p, n, sizeof *p, sig_pair_cmp);
  luaL_buffinit(L, &b);
  luaL_addlstring(&b, url, ul);
  for (i = 0; i < n; i++) {
    if (i > 0 && sig_pair_cmp(&p[i - 1], &p[i]) == 0) continue;
    luaL_addlstring(&b, p[i].k, p[i].kl);
    luaL_addlstring(&b, p[i].v, p[i].vl);
  }
  luaL_pushresult(&b);
  {
    size_t dl;
    const char *d = lua_tolstring(L, -1, &dl);
    push_hmac(L, key, kl, d, dl, sha256);
  }
  return 1;
}

void lrv_open_sign(lua_State *L) {
  static const luaL_Reg funcs[] = {
    { "hmac_sha1_base64", l_hmac_sha1_base64 }, { "hmac_sha256_base64", l_hmac_sha256_base64 },
    { "sha256_hex", l_sha256_hex }, { "random_hex", l_random_hex },
    { "base64_decode", l_base64_decode }, { "base64_encode", l_base64_encode }, { "secret_equal", l_secret_equal },
    { "twilio_signature", l_twilio_signature }, { NULL, NULL }
  };
  luaL_setfuncs(L, funcs, 0);
}
