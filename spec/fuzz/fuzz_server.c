/* libFuzzer target: raw request bytes into the HTTP server (src/server.c over libmicrohttpd),
** through one end of a socketpair handed over with rv_server_add_socket, driven the way the
** serve loop drives it (rv_server_run, rv_server_next, rv_server_respond) until the client
** has its answers or the connection is closed. Nothing waits: every round is non-blocking.
**
** Input: byte 0 chooses how this client and the caller behave (below), byte 1 where the bytes
** are split in two sends, the rest is what the client sends. One server lives across inputs
** (small limits, so inputs reach them), and is freed and made again when byte 0 says so.
**
** Checked, besides crashes, sanitizer reports, leaks and hangs:
**   - every request handed out is well formed: a method of token characters that starts the
**     request line in the input, a path that is in the input, a query only after a '?',
**     header names and values NUL-terminated at their lengths, a body within max_body and,
**     unless chunked, a run of the input's bytes;
**   - ids grow; an answered id cannot be answered twice; a dropped id is one that was taken
**     and not answered, reported once;
**   - what comes back is a sequence of HTTP/1.x responses with a three-digit status;
**   - once the client closes, the server is back to no connection and nothing busy within a
**     few rounds, so no state leaks into the next input. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c, what) do { if (!(c)) { fprintf(stderr, "fuzz_server: %s\n", what); abort(); } } while (0)

#define MAX_BODY 2048            /* small limits, so inputs reach them */
#define MAX_HEADER_BYTES 1024
#define MAX_PENDING 4
#define ROUNDS 64                /* loop rounds per input before the client gives up */
#define MAX_TAKEN 64             /* requests one input can make (pipelining) */

/* byte 0 */
#define ANSWER_MASK 3            /* 0 at once, 1 a round later, 2 never (the client leaves), 3 at once, big */
#define SHUT_AFTER 4             /* the client shuts its writing side once it has sent */
#define SPLIT 8                  /* send in two parts, byte 1 is where */
#define FREE_SERVER 16           /* free the server while the connection is open */
#define CLOSE_HEADER 32          /* answers carry Connection: close */

static rv_server *srv;
static uint64_t last_id;

static rv_server *server(void) {
  if (!srv) {
    rv_server_limits lim;
    char err[256];
    rv_server_limits_init(&lim);
    lim.max_body = MAX_BODY;
    lim.max_header_bytes = MAX_HEADER_BYTES;
    lim.max_pending = MAX_PENDING;
    lim.idle_timeout_s = 0;       /* no timers: every input ends by rounds, not by the clock */
    lim.request_timeout_ms = 0;
    lim.answer_timeout_ms = 0;
    srv = rv_server_new("127.0.0.1", 0, &lim, err, sizeof err);
    if (!srv) { fprintf(stderr, "fuzz_server: %s\n", err); abort(); }
    last_id = 0;
  }
  return srv;
}

static int in_input(const uint8_t *data, size_t size, const char *s, size_t n) {
  size_t i;
  if (n == 0) return 1;
  if (n > size) return 0;
  for (i = 0; i + n <= size; i++)
    if (data[i] == (uint8_t)s[0] && memcmp(data + i, s, n) == 0) return 1;
  return 0;
}

static int token(const char *s) {
  if (!*s) return 0;
  for (; *s; s++)
    if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')
          || strchr("!#$%&'*+-.^_`|~", *s)))
      return 0;
  return 1;
}

static void check_request(const rv_server_request *r, const uint8_t *in, size_t n) {
  size_t i;
  int chunked = 0;
  CHECK(r->id > last_id, "ids grow");
  last_id = r->id;
  CHECK(token(r->method) && in_input(in, n, r->method, strlen(r->method)), "method");
  CHECK(in_input(in, n, r->path, strlen(r->path)), "path from the input");
  CHECK(strchr(r->path, '?') == NULL, "the path stops at '?'");
  if (r->query) CHECK(in_input(in, n, r->query, strlen(r->query)), "query from the input");
  CHECK(strncmp(r->version, "HTTP/1.", 7) == 0, "version");
  for (i = 0; i < r->nheaders; i++) {
    CHECK(strlen(r->headers[i].name) == r->headers[i].name_len, "header name length");
    CHECK(strlen(r->headers[i].value) == r->headers[i].value_len, "header value length");
    if (strcasecmp(r->headers[i].name, "Transfer-Encoding") == 0) chunked = 1;
  }
  CHECK(r->body_len <= MAX_BODY && r->body[r->body_len] == '\0', "body within the limit");
  if (!chunked) CHECK(in_input(in, n, r->body, r->body_len), "body from the input");
}

/* libmicrohttpd is not instrumented: its outcomes become branches here, so inputs that make
** it answer differently count as new (each status seen, how many responses and requests) */
static volatile unsigned sink;
static void feature(unsigned v) {
  switch (v) {
  case 100: sink += 1; break; case 200: sink += 2; break; case 204: sink += 3; break;
  case 400: sink += 4; break; case 413: sink += 5; break; case 414: sink += 6; break;
  case 417: sink += 7; break; case 431: sink += 8; break; case 500: sink += 9; break;
  case 501: sink += 10; break; case 503: sink += 11; break; case 505: sink += 12; break;
  default: sink += v < 200 ? 13 : v < 300 ? 14 : v < 400 ? 15 : v < 500 ? 16 : 17;
  }
}

/* what came back: HTTP/1.x NNN responses, one after another (bodies are opaque) */
static void check_output(const char *out, size_t n, size_t nrequests) {
  const char *p = out, *end = out + n;
  unsigned count = 0;
  if (n == 0) return;
  CHECK(n >= 12 && memcmp(out, "HTTP/1.", 7) == 0 && out[8] == ' '
        && out[9] >= '1' && out[9] <= '9' && out[10] >= '0' && out[10] <= '9'
        && out[11] >= '0' && out[11] <= '9', "a status line first");
  while (p && end - p >= 12) {
    if (memcmp(p, "HTTP/1.", 7) == 0 && p[8] == ' ' && p[9] >= '1' && p[9] <= '9') {
      feature((unsigned)((p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0')));
      count++;
    }
    p = memchr(p + 1, 'H', (size_t)(end - p - 1));
  }
  feature(count < 4 ? 600 + count : 604);
  feature(nrequests < 4 ? 700 + (unsigned)nrequests : 704);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static char out[1 << 16];
  uint64_t taken[MAX_TAKEN], late = 0, d;
  size_t late_at = 0;
  int answered[MAX_TAKEN];
  size_t ntaken = 0, nout = 0, sent = 0, split, i;
  int sv[2], mode, round, eof = 0, quiet = 0;
  const uint8_t *in;
  rv_server *s;
  if (size < 2) return 0;
  mode = data[0];
  split = data[1];
  in = data + 2;
  size -= 2;
  if (!(mode & SPLIT) || split > size) split = size;
  s = server();
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) != 0) return 0;
  if (rv_server_add_socket(s, sv[1]) != 0) { close(sv[0]); return 0; }

  for (round = 0; round < ROUNDS && !eof; round++) {
    const rv_server_request *r;
    ssize_t k;
    size_t want = round == 0 ? split : size;
    while (sent < want) {                       /* the client's bytes, as the socket takes them */
      k = write(sv[0], in + sent, want - sent);
      if (k <= 0) break;
      sent += (size_t)k;
    }
    if (sent == size && (mode & SHUT_AFTER)) shutdown(sv[0], SHUT_WR);
    rv_server_run(s);
    if (late) {                                 /* answered a round after it came, if it still waits */
      if (rv_server_respond(s, late, 200, NULL, 0, "late", 4) == RV_SERVER_OK) answered[late_at] = 1;
      late = 0;
    }
    while ((r = rv_server_next(s))) {
      rv_server_header h[2] = { { "Content-Type", "text/xml", 12, 8 }, { "Connection", "close", 10, 5 } };
      check_request(r, in, size);
      CHECK(ntaken < MAX_TAKEN, "more requests than bytes allow");
      taken[ntaken] = r->id;
      answered[ntaken] = 0;
      switch (mode & ANSWER_MASK) {
      case 0:
        CHECK(rv_server_respond(s, r->id, 200, h, (mode & CLOSE_HEADER) ? 2 : 1, "<Response/>", 11)
              == RV_SERVER_OK, "answer");
        answered[ntaken] = 1;
        break;
      case 1:
        if (late && rv_server_respond(s, late, 204, NULL, 0, NULL, 0) == RV_SERVER_OK) answered[late_at] = 1;
        late = r->id;
        late_at = ntaken;
        break;
      case 2:
        break;                                  /* never: the client gives up below */
      default: {
        static char big[70000];
        memset(big, 'b', sizeof big);
        CHECK(rv_server_respond(s, r->id, 500, h, 2, big, sizeof big) == RV_SERVER_OK, "big answer");
        answered[ntaken] = 1;
      }
      }
      if (answered[ntaken])
        CHECK(rv_server_respond(s, r->id, 200, NULL, 0, NULL, 0) == RV_SERVER_GONE, "answered once");
      ntaken++;
    }
    rv_server_run(s);
    for (;;) {                                  /* what the client reads */
      char buf[4096];
      k = read(sv[0], buf, sizeof buf);
      if (k > 0) {
        size_t room = sizeof out - nout;
        if ((size_t)k < room) room = (size_t)k;
        memcpy(out + nout, buf, room);
        nout += room;
        quiet = 0;
        continue;
      }
      if (k == 0) eof = 1;
      break;
    }
    if (sent == size && ++quiet > 8 && !late) break;   /* nothing more will come */
  }
  if (late && rv_server_respond(s, late, 200, NULL, 0, NULL, 0) == RV_SERVER_OK) answered[late_at] = 1;
  check_output(out, nout, ntaken);

  if (mode & FREE_SERVER) {                     /* freed with the connection still open */
    rv_server_free(s);
    srv = NULL;
    close(sv[0]);
    return 0;
  }
  close(sv[0]);                                 /* the client goes: the server must let go */
  for (round = 0; round < 16 && (rv_server_connections(s) > 0 || rv_server_busy(s) > 0); round++)
    rv_server_run(s);
  CHECK(rv_server_connections(s) == 0, "the connection is closed once the client is gone");
  CHECK(rv_server_busy(s) == 0, "no request is left over");
  while ((d = rv_server_next_dropped(s)) != 0) {
    for (i = 0; i < ntaken && taken[i] != d; i++) {}
    CHECK(i < ntaken, "a dropped id was taken by this input");
    CHECK(!answered[i], "an answered request is not dropped");
    answered[i] = 2;                            /* reported: once */
    CHECK(rv_server_respond(s, d, 200, NULL, 0, NULL, 0) == RV_SERVER_GONE, "a dropped id takes no answer");
  }
  for (i = 0; i < ntaken; i++)
    CHECK(answered[i], "every taken request was answered or reported dropped");
  return 0;
}
