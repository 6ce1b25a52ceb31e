/* Signing primitives against the X-Twilio-Signature vectors of REFERENCE.md appendix B
** (the strings to sign are given there; the Lua side builds them, see spec/test_http.lua). */
#include <stdio.h>
#include <string.h>

#include "sign.h"

static int passed, failed;

static void check(const char *name, const char *got, const char *want) {
  if (strcmp(got, want) == 0) passed++;
  else {
    failed++;
    printf("FAIL %s\n  want: %s\n  got:  %s\n", name, want, got);
  }
}

int main(void) {
  char sig[29], hex[65];
  static const char s1[] = "https://mycompany.com/myapp.php?foo=1&bar=2CallSidCA1234567890ABCDECaller+14158675310"
                           "Digits1234From+14158675310To+18005551212";
  static const char s2[] = "http://127.0.0.1:3100/generate-random-numbermax6min1notecaf\xc3\xa9 & cotagatagb";
  static const char s3[] = "https://example-1234.twil.io/generate-random-number?bodySHA256="
                           "0db35240c955faf8f368d7ef7465901c1eb0eec1a58d60d842722b74fe212d14";
  static const char s4[] = "https://example-1234.twil.io/generate-random-number?min=1&max=6";
  static const char k2[] = "0123456789abcdef0123456789abcdef";

  rv_hmac_sha1_base64("12345", 5, s1, strlen(s1), sig);
  check("form POST", sig, "GvWf1cFY/Q7PnoempGyD5oXAezc=");
  rv_hmac_sha1_base64(k2, strlen(k2), s2, strlen(s2), sig);
  check("repeated names, UTF-8", sig, "ux64Nk5R5aqnAVz7ampXHr58JPo=");
  rv_sha256_hex("{\"min\":1,\"max\":6}", 17, hex);
  check("bodySHA256", hex, "0db35240c955faf8f368d7ef7465901c1eb0eec1a58d60d842722b74fe212d14");
  rv_hmac_sha1_base64(k2, strlen(k2), s3, strlen(s3), sig);
  check("JSON body URL", sig, "BI90w56d2lff1/dDVx4WmYzyaoE=");
  rv_hmac_sha1_base64("12345", 5, s4, strlen(s4), sig);
  check("GET", sig, "bEIcoudSnFdX9AJGp5Wd/U4Rbcs=");
  rv_sha256_hex("", 0, hex);
  check("empty SHA-256", hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");

  /* HMAC-SHA256 (Webhook Rules): RFC 4231 test case 2, and appendix B's form POST string */
  {
    char sig256[45];
    rv_hmac_sha256_base64("Jefe", 4, "what do ya want for nothing?", 28, sig256);
    check("HMAC-SHA256 RFC 4231 #2", sig256, "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM=");
    rv_hmac_sha256_base64("12345", 5, s1, strlen(s1), sig256);
    check("HMAC-SHA256 form POST", sig256, "/Px0ZZziCxf9Zt7wehmYS+fbCh+oLQi2VrfCqcV1vPM=");
  }
  /* each digest keeps a context keyed with the last key (sign.c): a key of no bytes, a key
  ** longer than a block (hashed first), and keys that change back and forth all sign as
  ** HMAC does (the values from `openssl dgst -hmac`) */
  {
    char sig256[45], longkey[101];
    memset(longkey, 'k', 100);
    longkey[100] = 0;
    rv_hmac_sha1_base64("", 0, "", 0, sig);
    check("HMAC-SHA1 empty key", sig, "+9sdGxiqbAgyS31ktx+3Y3BpDh0=");
    rv_hmac_sha256_base64("", 0, "", 0, sig256);
    check("HMAC-SHA256 empty key", sig256, "thNnmggU2ex3L5XXeMNfxf8Wl8STcVZTxscSFEKSxa0=");
    rv_hmac_sha1_base64(longkey, 100, "what do ya want for nothing?", 28, sig);
    check("HMAC-SHA1 long key", sig, "n0/AnH3GqnYaW8KKf732M2wlZV8=");
    rv_hmac_sha1_base64("12345", 5, s1, strlen(s1), sig);
    check("HMAC-SHA1 key changed back", sig, "GvWf1cFY/Q7PnoempGyD5oXAezc=");
    rv_hmac_sha1_base64("12345", 5, s4, strlen(s4), sig);
    check("HMAC-SHA1 same key again", sig, "bEIcoudSnFdX9AJGp5Wd/U4Rbcs=");
    rv_hmac_sha256_base64(longkey, 100, "abc", 3, sig256);
    check("HMAC-SHA256 long key", sig256, "tYsraU/boN122j6+mRdPco0ydWDzbs4iTpCGeXJHmSI=");
    rv_hmac_sha256_base64("Jefe", 4, "what do ya want for nothing?", 28, sig256);
    check("HMAC-SHA256 key changed back", sig256, "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM=");
  }
  /* base64 as HTTP Basic carries it: padding checked, anything else refused */
  {
    unsigned char out[64];
    size_t n = 99;
    static const struct { const char *in; const char *want; } ok[] = {
      { "", "" }, { "YQ==", "a" }, { "YWI=", "ab" }, { "YWJj", "abc" },
      { "QUN4eHg6c2VjcmV0", "ACxxx:secret" },
    };
    static const char *const bad[] = { "YQ=", "Y===", "YQ=a", "YW J", "YWJj\n", "YW@j", "=YWJ", "YQ==YQ==" };
    size_t i;
    for (i = 0; i < sizeof ok / sizeof ok[0]; i++) {
      int rc = rv_base64_decode(ok[i].in, strlen(ok[i].in), out, &n);
      out[rc == 0 ? n : 0] = 0;
      check(ok[i].in, rc == 0 ? (const char *)out : "(refused)", ok[i].want);
    }
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
      check(bad[i], rv_base64_decode(bad[i], strlen(bad[i]), out, &n) ? "refused" : "accepted", "refused");
  }
  check("secret_equal same", rv_secret_equal("abc", 3, "abc", 3) ? "1" : "0", "1");
  check("secret_equal differs", rv_secret_equal("abc", 3, "abd", 3) ? "1" : "0", "0");
  check("secret_equal prefix", rv_secret_equal("abc", 3, "ab", 2) ? "1" : "0", "0");

  printf("sign: %d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
