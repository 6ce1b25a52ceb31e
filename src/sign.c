#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>
#include <sys/random.h>

#include "lazy.h"
#include "sign.h"

int rv_hmac_sha1_base64(const char *key, size_t keylen, const char *data, size_t len, char out[29]) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int maclen = 0;
  if (keylen > (size_t)0x7fffffff || rv_crypto_unavailable()) return -1;
  if (!HMAC(EVP_sha1(), key, (int)keylen, (const unsigned char *)data, len, mac, &maclen) || maclen != 20)
    return -1;
  EVP_EncodeBlock((unsigned char *)out, mac, (int)maclen);   /* 20 bytes -> 28 chars + NUL */
  return 0;
}

int rv_hmac_sha256_base64(const char *key, size_t keylen, const char *data, size_t len, char out[45]) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int maclen = 0;
  if (keylen > (size_t)0x7fffffff || rv_crypto_unavailable()) return -1;
  if (!HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)data, len, mac, &maclen) || maclen != 32)
    return -1;
  EVP_EncodeBlock((unsigned char *)out, mac, (int)maclen);   /* 32 bytes -> 44 chars + NUL */
  return 0;
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
