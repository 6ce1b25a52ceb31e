/*
** OpenSSL's libcrypto, loaded when first used (see lazy.h). Mapping it and running its
** initialisation costs about a millisecond at every start; only signatures, Basic
** credentials and SHA-256 use it (sign.c). Each function of sign.c that calls into it asks
** rv_crypto_unavailable() first.
*/
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

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
  R(EVP_MAC *, EVP_MAC_fetch, (OSSL_LIB_CTX *libctx, const char *alg, const char *props),  \
    (libctx, alg, props))                                                                  \
  V(EVP_MAC_free, (EVP_MAC *mac), (mac))                                                   \
  R(EVP_MAC_CTX *, EVP_MAC_CTX_new, (EVP_MAC *mac), (mac))                                 \
  V(EVP_MAC_CTX_free, (EVP_MAC_CTX *ctx), (ctx))                                           \
  R(int, EVP_MAC_init, (EVP_MAC_CTX *ctx, const unsigned char *key, size_t keylen,         \
                        const OSSL_PARAM params[]), (ctx, key, keylen, params))            \
  R(int, EVP_MAC_update, (EVP_MAC_CTX *ctx, const unsigned char *d, size_t n), (ctx, d, n)) \
  R(int, EVP_MAC_final, (EVP_MAC_CTX *ctx, unsigned char *out, size_t *outl, size_t outsize), \
    (ctx, out, outl, outsize))                                                             \
  R(OSSL_PARAM, OSSL_PARAM_construct_utf8_string, (const char *key, char *buf, size_t bsize), \
    (key, buf, bsize))                                                                     \
  R(OSSL_PARAM, OSSL_PARAM_construct_end, (void), ())                                      \
  R(const EVP_MD *, EVP_sha256, (void), ())

RV_LAZY_LIBRARY(CRYPTO_FUNCS, rv_crypto_unavailable, RV_CRYPTO_SONAME, "libcrypto (OpenSSL)")
