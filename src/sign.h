/* Request signing primitives over OpenSSL's libcrypto (pure C, no lua.h): what
** X-Twilio-Signature needs. */
#ifndef RIVULET_SIGN_H
#define RIVULET_SIGN_H

#include <stddef.h>

/* base64(HMAC-SHA1(key, data)) into out (at least 29 bytes: 28 characters and a NUL).
** 0 on success, -1 if libcrypto failed. */
int rv_hmac_sha1_base64(const char *key, size_t keylen, const char *data, size_t len, char out[29]);

/* lower-case hex SHA-256 of data into out (65 bytes with the NUL). 0 or -1. */
int rv_sha256_hex(const char *data, size_t len, char out[65]);

/* n (at most 64) random bytes from the operating system (getrandom), as 2n lower-case hex
** digits and a NUL into out. 0 or -1. */
int rv_random_hex(char *out, size_t n);

#endif
