/* http.c's limits on a reply's fields (RV_HTTP_MAX_HEADER_BYTES, _LINES) through the C API,
** against a loopback server in this same loop: each at its edge with small limits set in
** rv_http_limits (exactly at it passes, one over fails), a reply with trailers without end
** at the default limits, and a normal call on the same client after each failure. Under
** valgrind and ASan (make memcheck, make SANITIZE=1 check) this also covers the abort paths:
** a handle whose reply hit a limit is dropped, not pooled. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "http.h"

#define MAXCONN 8
#define SMALL_BYTES 200           /* the small limits of the edge cases */
#define SMALL_LINES 5
#define ABORT_WITHIN_MS 2000      /* a limit hit ends the call at once: far under any timeout */

static int passed, failed;

#define CHECK(cond, ...) do { \
    if (cond) passed++; \
    else { failed++; printf("FAIL %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); printf("\n"); } \
  } while (0)

/* The replies, by request path. Field bytes as http.c counts them: status line, header
** lines, blank line, trailer lines (libcurl does not hand on the blank line after them). */
#define HEAD_CHUNKED "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"   /* 47 bytes, 1 line */
#define HEAD_LENGTH  "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"            /* 38 bytes, 1 line */
#define BODY_CHUNKED "2\r\nok\r\n0\r\n"
static const struct { const char *path, *reply; } REPLIES[] = {
  { "/ok", HEAD_LENGTH "ok" },
  /* headers: 38 + 162 = 200 bytes; then 201 */
  { "/bytes-at", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
    "X-Pad: 0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
    "01234567890123456789012345678901234567890123456789012\r\n\r\nok" },
  { "/bytes-over", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
    "X-Pad: 0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
    "012345678901234567890123456789012345678901234567890123\r\n\r\nok" },
  /* trailers: 47 + 153 = 200 bytes; then 201 */
  { "/trailer-bytes-at", HEAD_CHUNKED BODY_CHUNKED
    "X-T: 012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
    "01234567890123456789012345678901234567890123456789012345\r\n\r\n" },
  { "/trailer-bytes-over", HEAD_CHUNKED BODY_CHUNKED
    "X-T: 012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
    "012345678901234567890123456789012345678901234567890123456\r\n\r\n" },
  /* lines: 1 header + 4 trailers = 5; then 6 */
  { "/lines-at", HEAD_CHUNKED BODY_CHUNKED "A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n" },
  { "/lines-over", HEAD_CHUNKED BODY_CHUNKED "A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n" },
  /* interim responses count in the budget of the response after them: 2 + 4 = 6 lines */
  { "/interim-over", "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\nLink: </b>\r\n\r\n"
    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\nok" },
  { "/trailers-endless", HEAD_CHUNKED BODY_CHUNKED },   /* then trailer lines for ever */
};
#define NREPLIES (sizeof REPLIES / sizeof REPLIES[0])

typedef struct conn {
  int fd;
  const char *reply;              /* NULL until the request arrived */
  size_t off, len;
  int endless;
  unsigned long trailers;         /* made so far, when endless */
  char more[4096];                /* the next trailer lines, when endless */
} conn;

static conn conns[MAXCONN];
static int nconn;

static void drop(int i) {
  close(conns[i].fd);
  conns[i] = conns[--nconn];
}

/* read the request (small, one read) and pick the reply; -1: the client went away */
static int on_request(conn *k) {
  char buf[2048], path[64];
  ssize_t n = read(k->fd, buf, sizeof buf - 1);
  size_t i;
  if (n <= 0) return -1;
  buf[n] = '\0';
  if (k->reply || sscanf(buf, "GET %63s ", path) != 1) return 0;
  k->reply = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
  for (i = 0; i < NREPLIES; i++)
    if (strcmp(path, REPLIES[i].path) == 0) k->reply = REPLIES[i].reply;
  k->len = strlen(k->reply);
  k->endless = strcmp(path, "/trailers-endless") == 0;
  return 0;
}

/* write what the socket takes; -1: done (closed) or the client went away */
static int on_writable(conn *k) {
  for (;;) {
    ssize_t n;
    if (k->off == k->len) {
      if (!k->endless) return -1;     /* whole reply written: close, as Connection: close would */
      k->len = 0;
      while (k->len < sizeof k->more - 64)
        k->len += (size_t)snprintf(k->more + k->len, 64, "X-Trailer-%lu: flood\r\n", k->trailers++);
      k->reply = k->more;
      k->off = 0;
    }
    n = send(k->fd, k->reply + k->off, k->len - k->off, MSG_NOSIGNAL);
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
    k->off += (size_t)n;
  }
}

/* one call to path with these limits, driven to its end with the server in the same loop */
static const rv_http_result *run(rv_http *h, int lfd, const char *base, const char *path,
                                 const rv_http_limits *lim, rv_http_call **out) {
  char url[128];
  rv_http_request req;
  rv_http_call *c;
  int rounds = 0;
  memset(&req, 0, sizeof req);
  req.method = "GET";
  snprintf(url, sizeof url, "%s%s", base, path);
  req.url = url;
  req.limits = *lim;
  c = rv_http_start(h, &req);
  while (!rv_http_result_of(c)->done && rounds++ < 100000) {
    struct pollfd pfd[MAXCONN + 2];
    int fds[1], n, k = 0, j;
    short ev[1];
    long ms = rv_http_timeout(h);
    n = rv_http_fds(h, fds, ev, 1);
    if (n) { pfd[k].fd = fds[0]; pfd[k].events = ev[0]; k++; }
    pfd[k].fd = lfd; pfd[k].events = POLLIN; k++;
    for (j = 0; j < nconn; j++, k++) {
      pfd[k].fd = conns[j].fd;
      pfd[k].events = (short)(POLLIN | (conns[j].reply ? POLLOUT : 0));
    }
    poll(pfd, (nfds_t)k, ms < 0 || ms > 100 ? 100 : (int)ms);
    if (pfd[n].revents & POLLIN) {
      int cfd = accept(lfd, NULL, NULL);
      if (cfd >= 0 && nconn < MAXCONN) {
        fcntl(cfd, F_SETFL, O_NONBLOCK);
        memset(&conns[nconn], 0, sizeof conns[nconn]);
        conns[nconn++].fd = cfd;
      } else if (cfd >= 0) close(cfd);
    }
    for (j = nconn - 1; j >= 0; j--) {       /* backwards: drop() moves the last one here */
      short re = pfd[n + 1 + j].revents;
      if (j >= k - n - 1) continue;            /* accepted in this round: not polled yet */
      if (((re & (POLLIN | POLLHUP | POLLERR)) && on_request(&conns[j]) < 0) ||
          ((re & POLLOUT) && on_writable(&conns[j]) < 0))
        drop(j);
    }
    rv_http_poll(h, 0);
  }
  while (rv_http_next_done(h)) {}
  *out = c;
  return rv_http_result_of(c);
}

static void expect_ok(rv_http *h, int lfd, const char *base, const char *path, const rv_http_limits *lim) {
  rv_http_call *c;
  const rv_http_result *r = run(h, lfd, base, path, lim, &c);
  CHECK(r->done && r->reason == RV_HTTP_OK && r->status == 200 && r->body_len == 2 &&
        memcmp(r->body, "ok", 2) == 0, "%s: reason %d, status %ld, %s", path, r->reason, r->status, r->message);
  rv_http_call_free(c);
}

static void expect_too_large(rv_http *h, int lfd, const char *base, const char *path,
                             const rv_http_limits *lim, const char *message) {
  rv_http_call *c;
  const rv_http_result *r = run(h, lfd, base, path, lim, &c);
  CHECK(r->done && r->reason == RV_HTTP_TOO_LARGE && r->status == 0 && r->body_len == 0 &&
        strcmp(r->message, message) == 0, "%s: reason %d, status %ld, \"%s\"", path, r->reason, r->status, r->message);
  CHECK(r->elapsed_ms < ABORT_WITHIN_MS, "%s: ended at once, not at the timeout: %.0f ms", path, r->elapsed_ms);
  rv_http_call_free(c);
  expect_ok(h, lfd, base, "/ok", lim);   /* the client goes on working */
}

int main(void) {
  struct sockaddr_in a;
  socklen_t alen = sizeof a;
  char err[128], base[64], msg[96];
  rv_http_limits small, dflt;
  int lfd;
  rv_http *h = rv_http_new(err, sizeof err);
  CHECK(h != NULL, "rv_http_new: %s", err);
  if (!h) return 1;
  lfd = socket(AF_INET, SOCK_STREAM, 0);
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(lfd, MAXCONN) != 0 ||
      getsockname(lfd, (struct sockaddr *)&a, &alen) != 0) {
    printf("FAIL: no loopback listener\n");
    return 1;
  }
  snprintf(base, sizeof base, "http://127.0.0.1:%d", ntohs(a.sin_port));

  rv_http_limits_init(&dflt);
  CHECK(dflt.max_header_bytes == RV_HTTP_MAX_HEADER_BYTES && dflt.max_header_lines == RV_HTTP_MAX_HEADER_LINES,
        "the defaults are http.h's");
  small = dflt;
  small.timeout_ms = 5000;
  small.max_header_bytes = SMALL_BYTES;
  small.max_header_lines = SMALL_LINES;

  expect_ok(h, lfd, base, "/bytes-at", &small);
  snprintf(msg, sizeof msg, "reply headers over %d bytes", SMALL_BYTES);
  expect_too_large(h, lfd, base, "/bytes-over", &small, msg);
  expect_ok(h, lfd, base, "/trailer-bytes-at", &small);
  snprintf(msg, sizeof msg, "reply headers and trailers over %d bytes", SMALL_BYTES);
  expect_too_large(h, lfd, base, "/trailer-bytes-over", &small, msg);
  expect_ok(h, lfd, base, "/lines-at", &small);
  snprintf(msg, sizeof msg, "reply headers and trailers over %d lines", SMALL_LINES);
  expect_too_large(h, lfd, base, "/lines-over", &small, msg);
  snprintf(msg, sizeof msg, "reply headers over %d lines", SMALL_LINES);
  expect_too_large(h, lfd, base, "/interim-over", &small, msg);
  snprintf(msg, sizeof msg, "reply headers and trailers over %d lines", RV_HTTP_MAX_HEADER_LINES);
  expect_too_large(h, lfd, base, "/trailers-endless", &dflt, msg);

  rv_http_free(h);
  while (nconn) drop(nconn - 1);
  close(lfd);
  printf("http limits: %d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
