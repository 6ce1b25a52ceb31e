/*
** OpenSSL's libcrypto, loaded when first used (see lazy.h). Mapping it and running its
** initialisation costs about a millisecond at every start; only signatures, Basic
** credentials and SHA-256 use it (sign.c). Each function of sign.c that calls into it asks
** rv_crypto_unavailable() first.
*/
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "lazy.h"

RV_LAZY_HIDE

#ifndef RV_CRYPTO_SONAME
#define RV_CRYPTO_SONAME "libcrypto.so.3"   /* OpenSSL 3's ABI */
#endif

#define CRYPTO_FUNCS(R, V)                                                                 \
  R(int, CRYPTO_memcmp, (const void *a, const void *b, size_t n), (a, b, n))              \
  R(int, EVP_DecodeBlock, (unsigned char *t, const unsigned char *f, int n), (t, f, n))    \
  R(int, EVP_Digest, (const void *d, size_t n, unsigned char *md, unsigned int *sz,        \
                      const EVP_MD *type, ENGINE *impl), (d, n, md, sz, type, impl))       \
  R(int, EVP_EncodeBlock, (unsigned char *t, const unsigned char *f, int n), (t, f, n))    \
  R(const EVP_MD *, EVP_sha1, (void), ())                                                  \
  R(const EVP_MD *, EVP_sha256, (void), ())                                                \
  R(unsigned char *, HMAC, (const EVP_MD *md, const void *key, int keylen,                 \
                            const unsigned char *d, size_t n, unsigned char *out,          \
                            unsigned int *outlen), (md, key, keylen, d, n, out, outlen))

RV_LAZY_LIBRARY(CRYPTO_FUNCS, rv_crypto_unavailable, RV_CRYPTO_SONAME, "libcrypto (OpenSSL)")
