#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "lazy.h"
#include "sign.h"

/* HMAC, keyed once per key. HMAC() (EVP_Q_mac) fetches the MAC and the digest by name and
** hashes the key into its pads at every call: four fifths of the 22k instructions a
** webhook's signature took, for a key (the auth token) that never changes. Each digest
** keeps a context keyed with the last key it saw; EVP_MAC_init with a NULL key starts it
** over from those pads. The mutex makes the contexts safe for embedders that run rivulets
** on several threads. */
typedef struct {
  const char *digest;
  size_t want;                     /* the MAC's length */
  EVP_MAC_CTX *ctx;                /* keyed with key, or NULL */
  char *key;
  size_t keylen;
} keyed_mac;

static keyed_mac macs[2] = { { "SHA1", 20, NULL, NULL, 0 }, { "SHA256", 32, NULL, NULL, 0 } };
static pthread_mutex_t macs_mu = PTHREAD_MUTEX_INITIALIZER;

/* m's context keyed with key (m->ctx, made over when the key is another), or NULL */
static EVP_MAC_CTX *keyed(keyed_mac *m, const char *key, size_t keylen) {
  OSSL_PARAM params[2];
  EVP_MAC *impl;
  char *copy;
  if (m->ctx && m->keylen == keylen && memcmp(m->key, key, keylen) == 0)
    return EVP_MAC_init(m->ctx, NULL, 0, NULL) ? m->ctx : NULL;
  EVP_MAC_CTX_free(m->ctx);
  free(m->key);
  m->ctx = NULL;
  m->key = NULL;
  if (!(copy = malloc(keylen ? keylen : 1))) return NULL;
  memcpy(copy, key, keylen);
  if (!(impl = EVP_MAC_fetch(NULL, "HMAC", NULL))) { free(copy); return NULL; }
  m->ctx = EVP_MAC_CTX_new(impl);
  EVP_MAC_free(impl);                          /* the context holds its own reference */
  params[0] = OSSL_PARAM_construct_utf8_string("digest", (char *)(uintptr_t)m->digest, 0);
  params[1] = OSSL_PARAM_construct_end();
  /* a key of no bytes is a key still: EVP_MAC_init reads a NULL one as "the last" */
  if (!m->ctx || !EVP_MAC_init(m->ctx, (const unsigned char *)copy, keylen, params)) {
    EVP_MAC_CTX_free(m->ctx);
    m->ctx = NULL;
    free(copy);
    return NULL;
  }
  m->key = copy;
  m->keylen = keylen;
  return m->ctx;
}

/* base64(HMAC(key, data)) with m's digest into out. 0 or -1. */
static int hmac_base64(keyed_mac *m, const char *key, size_t keylen, const char *data, size_t len,
                       char *out) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  size_t maclen = 0;
  EVP_MAC_CTX *ctx;
  int ok;
  if (keylen > (size_t)0x7fffffff || rv_crypto_unavailable()) return -1;
  pthread_mutex_lock(&macs_mu);
  ctx = keyed(m, key, keylen);
  ok = ctx && EVP_MAC_update(ctx, (const unsigned char *)data, len) &&
       EVP_MAC_final(ctx, mac, &maclen, sizeof mac) && maclen == m->want;
  pthread_mutex_unlock(&macs_mu);
  if (!ok) return -1;
  EVP_EncodeBlock((unsigned char *)out, mac, (int)maclen);
  return 0;
}

int rv_hmac_sha1_base64(const char *key, size_t keylen, const char *data, size_t len, char out[29]) {
  return hmac_base64(&macs[0], key, keylen, data, len, out);       /* 28 chars + NUL */
}

int rv_hmac_sha256_base64(const char *key, size_t keylen, const char *data, size_t len, char out[45]) {
  return hmac_base64(&macs[1], key, keylen, data, len, out);       /* 44 chars + NUL */
}

size_t rv_base64_encode(const unsigned char *in, size_t len, char *out) {
  if (len > RV_BASE64_MAX_IN || rv_crypto_unavailable()) return 0;
  return (size_t)EVP_EncodeBlock((unsigned char *)out, in, (int)len);
}

int rv_base64_decode(const char *in, size_t len, unsigned char *out, size_t *outlen) {
  size_t i, pad = 0;
  int n;
  if (len % 4 != 0 || len > (size_t)0x7fffffff) return -1;
  /* EVP_DecodeBlock skips whitespace and does not check the padding: check both first */
  for (i = 0; i < len; i++) {
    char c = in[i];
    if (c == '=') {
      if (i < len - 2 || (i == len - 2 && in[len - 1] != '=')) return -1;
      pad++;
    } else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 c == '+' || c == '/')) {
      return -1;
    }
  }
  if (len == 0) { *outlen = 0; return 0; }
  if (rv_crypto_unavailable()) return -1;
  n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)len);
  if (n < 0 || (size_t)n < pad) return -1;
  *outlen = (size_t)n - pad;
  return 0;
}

int rv_secret_equal(const char *a, size_t alen, const char *b, size_t blen) {
  return alen == blen && !rv_crypto_unavailable() && CRYPTO_memcmp(a, b, alen) == 0;
}

static const char hex[] = "0123456789abcdef";

int rv_random_hex(char *out, size_t n) {
  unsigned char b[64];
  size_t i;
  /* getrandom(2), not RAND_bytes: seeding libcrypto's generator costs a cold start ~1 ms */
  if (n > sizeof b || getrandom(b, n, 0) != (ssize_t)n) return -1;
  for (i = 0; i < n; i++) {
    out[2 * i] = hex[b[i] >> 4];
    out[2 * i + 1] = hex[b[i] & 15];
  }
  out[2 * n] = 0;
  return 0;
}

int rv_sha256_hex(const char *data, size_t len, char out[65]) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0, i;
  if (rv_crypto_unavailable()) return -1;
  if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32) return -1;
  for (i = 0; i < mdlen; i++) {
    out[2 * i] = hex[md[i] >> 4];
    out[2 * i + 1] = hex[md[i] & 15];
  }
  out[64] = 0;
  return 0;
}
