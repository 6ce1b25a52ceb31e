/* Request signing primitives over OpenSSL's libcrypto (pure C, no lua.h): what
** X-Twilio-Signature needs (signing requests we send, checking webhooks we receive), and
** HTTP Basic credentials. libcrypto is opened at the first call (lazy.h); when it cannot
** be, each function fails as it says (base64 encodes nothing, secrets never compare
** equal): callers that can say why ask rv_crypto_unavailable() first. */
#ifndef RIVULET_SIGN_H
#define RIVULET_SIGN_H

#include <stddef.h>

/* base64(HMAC-SHA1(key, data)) into out (at least 29 bytes: 28 characters and a NUL).
** 0 on success, -1 if libcrypto failed. */
int rv_hmac_sha1_base64(const char *key, size_t keylen, const char *data, size_t len, char out[29]);

/* base64(HMAC-SHA256(key, data)) into out (at least 45 bytes: 44 characters and a NUL):
** the signature Twilio sends when a Webhook Rule says algorithm=HMAC_SHA256. 0 or -1. */
int rv_hmac_sha256_base64(const char *key, size_t keylen, const char *data, size_t len, char out[45]);

/* Standard base64 of in (at most RV_BASE64_MAX_IN bytes) into out, which holds at least
** 4 * ((len + 2) / 3) + 1 bytes; returns the length written (a NUL follows). */
#define RV_BASE64_MAX_IN 0x5ffffffcu
size_t rv_base64_encode(const unsigned char *in, size_t len, char *out);

/* Standard base64 (RFC 4648, with padding; whitespace not allowed) of in into out, which
** holds at least 3 * (len / 4) bytes; *outlen gets the decoded length. 0, or -1 when in is
** not base64. */
int rv_base64_decode(const char *in, size_t len, unsigned char *out, size_t *outlen);

/* Whether a and b hold the same bytes, in a time that does not depend on where they
** differ (secrets and signatures are compared with it). 1 or 0. */
int rv_secret_equal(const char *a, size_t alen, const char *b, size_t blen);

/* lower-case hex SHA-256 of data into out (65 bytes with the NUL). 0 or -1. */
int rv_sha256_hex(const char *data, size_t len, char out[65]);

/* n (at most 64) random bytes from the operating system (getrandom), as 2n lower-case hex
** digits and a NUL into out. 0 or -1. */
int rv_random_hex(char *out, size_t n);

#endif
