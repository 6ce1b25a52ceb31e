/* http.c driven the way an embedding host drives it: poll(2) on rv_http_fds plus a loopback
** server in this same loop, waking no sooner than rv_http_timeout says. More calls than one
** multi handle takes (several shards), each finished call handed out once, and a call that
** cannot start counted at once. */
#define _POSIX_C_SOURCE 200809L
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "http.h"

#define NCALLS 300                /* above http.c's 256 transfers per multi handle */
#define MAXCONN (NCALLS + 8)

static int passed, failed;

#define CHECK(cond, ...) do { \
    if (cond) passed++; \
    else { failed++; printf("FAIL %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); printf("\n"); } \
  } while (0)

static const char REPLY[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi";

int main(void) {
  static rv_http_call *calls[NCALLS];
  static int conns[MAXCONN], seen[NCALLS];
  struct sockaddr_in a;
  socklen_t alen = sizeof a;
  char err[128], url[64];
  int lfd, i, nconn = 0, rounds = 0, handed = 0;
  rv_http_request req;
  rv_http_call *c;
  rv_http *h = rv_http_new(err, sizeof err);
  CHECK(h != NULL, "rv_http_new: %s", err);
  if (!h) return 1;
  CHECK(rv_http_timeout(h) == -1, "no transfers, no deadline");
  {
    int fd;
    short ev;
    CHECK(rv_http_fds(h, &fd, &ev, 1) == 0, "no transfers, nothing to watch");
  }

  /* a call that cannot start is finished, counted and handed out at once */
  memset(&req, 0, sizeof req);
  rv_http_limits_init(&req.limits);
  req.method = "GET";
  req.url = "ftp://example.com/x";
  c = rv_http_start(h, &req);
  CHECK(c && rv_http_result_of(c)->done && rv_http_completed(h) == 1, "bad URL done and counted");
  CHECK(rv_http_next_done(h) == c && rv_http_next_done(h) == NULL, "handed out once");
  rv_http_call_free(c);

  lfd = socket(AF_INET, SOCK_STREAM, 0);
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK(lfd >= 0 && bind(lfd, (struct sockaddr *)&a, sizeof a) == 0 && listen(lfd, NCALLS) == 0
        && getsockname(lfd, (struct sockaddr *)&a, &alen) == 0, "a loopback listener");
  snprintf(url, sizeof url, "http://127.0.0.1:%d/", ntohs(a.sin_port));
  req.url = url;
  for (i = 0; i < NCALLS; i++) calls[i] = rv_http_start(h, &req);
  CHECK(rv_http_running(h) == NCALLS, "all running: %d", rv_http_running(h));
  CHECK(rv_http_timeout(h) == 0, "new calls want a poll now: %ld", rv_http_timeout(h));

  while (rv_http_running(h) > 0 && rounds++ < 20000) {
    struct pollfd pfd[MAXCONN + 2];
    int fds[4], k = 0, n, j;
    short ev[4];
    long ms = rv_http_timeout(h);
    n = rv_http_fds(h, fds, ev, 4);
    if (rounds == 1) CHECK(n == 1 && ev[0] == POLLIN, "one descriptor, read: %d", n);
    for (j = 0; j < n; j++, k++) { pfd[k].fd = fds[j]; pfd[k].events = ev[j]; }
    pfd[k].fd = lfd; pfd[k].events = POLLIN; k++;
    for (j = 0; j < nconn; j++, k++) { pfd[k].fd = conns[j]; pfd[k].events = POLLIN; }
    poll(pfd, (nfds_t)k, ms < 0 || ms > 1000 ? 1000 : (int)ms);
    for (j = 0; j < k; j++) {
      if (!(pfd[j].revents & POLLIN)) continue;
      if (pfd[j].fd == lfd) {
        int cfd = accept(lfd, NULL, NULL);
        if (cfd >= 0 && nconn < MAXCONN) conns[nconn++] = cfd;
        else if (cfd >= 0) close(cfd);
      } else if (j >= n + 1) {           /* one request per connection, small: read, answer */
        char buf[2048];
        if (read(pfd[j].fd, buf, sizeof buf) > 0 && write(pfd[j].fd, REPLY, sizeof REPLY - 1) < 0) break;
      }
    }
    rv_http_poll(h, 0);
    while ((c = rv_http_next_done(h))) {
      for (j = 0; j < NCALLS; j++) if (calls[j] == c) { seen[j]++; handed++; }
    }
  }
  CHECK(rv_http_running(h) == 0, "all done in %d rounds", rounds);
  CHECK(rv_http_completed(h) == 1 + NCALLS, "completed: %lu", rv_http_completed(h));
  CHECK(handed == NCALLS, "handed out: %d", handed);
  for (i = 0; i < NCALLS; i++) {
    const rv_http_result *r = rv_http_result_of(calls[i]);
    if (seen[i] != 1 || r->reason != RV_HTTP_OK || r->status != 200 || r->body_len != 2
        || memcmp(r->body, "hi", 2) != 0) {
      CHECK(0, "call %d: seen %d, reason %d, status %ld, %s", i, seen[i], r->reason, r->status, r->message);
      break;
    }
  }
  CHECK(rv_http_timeout(h) == -1, "done: no deadline");
  /* a call finished but never taken, freed before its client: the queue forgets it */
  req.url = "not a url";
  c = rv_http_start(h, &req);
  rv_http_call_free(c);
  CHECK(rv_http_next_done(h) == NULL, "a freed call is not handed out");
  c = rv_http_start(h, &req);
  rv_http_free(h);                       /* ...and a call outliving its client is still freeable */
  rv_http_call_free(c);
  for (i = 0; i < NCALLS; i++) rv_http_call_free(calls[i]);
  for (i = 0; i < nconn; i++) close(conns[i]);
  close(lfd);
  printf("http loop: %d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
