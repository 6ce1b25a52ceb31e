/* server.c from C, the way a host drives it: poll(2) on rv_server_fds for rv_server_timeout
** ms, rv_server_run, take and answer. Clients are socketpairs handed over with
** rv_server_add_socket (and one real TCP client), all in this one thread. Covers what the Lua
** spec cannot see: the request view's pointers, the ids, and freeing a server that still holds
** requests in every phase (make memcheck runs this under valgrind). */
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

#include "server.h"

static int passed, failed;

#define CHECK(cond, ...) do { \
    if (cond) passed++; \
    else { failed++; printf("FAIL %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); printf("\n"); } \
  } while (0)

/* one round of the host's loop */
static void step(rv_server *s, int max_ms) {
  struct pollfd p;
  short ev;
  int fd;
  long t = rv_server_timeout(s);
  if (t < 0 || t > max_ms) t = max_ms;
  if (rv_server_fds(s, &fd, &ev, 1) == 1) {
    p.fd = fd;
    p.events = ev;
    p.revents = 0;
    poll(&p, 1, (int)t);
  }
  rv_server_run(s);
}

/* a client end: the other end of a socketpair the server owns */
static int client(rv_server *s) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return -1;
  fcntl(sv[0], F_SETFL, O_NONBLOCK);
  if (rv_server_add_socket(s, sv[1]) != 0) { close(sv[0]); return -1; }
  return sv[0];
}

static void put(int fd, const char *s) {
  size_t n = strlen(s), off = 0;
  while (off < n) {
    ssize_t w = write(fd, s + off, n - off);
    if (w > 0) off += (size_t)w;
    else if (w < 0 && errno != EAGAIN && errno != EINTR) return;
  }
}

/* the request next in line, running the loop for it (NULL after 200 rounds) */
static const rv_server_request *take(rv_server *s) {
  int i;
  for (i = 0; i < 200; i++) {
    const rv_server_request *r = rv_server_next(s);
    if (r) return r;
    step(s, 10);
  }
  return NULL;
}

/* what arrived on fd, running the loop until `want` shows up or the peer closes */
static size_t collect(rv_server *s, int fd, char *buf, size_t cap, const char *want) {
  size_t n = 0;
  int i;
  buf[0] = '\0';
  for (i = 0; i < 200; i++) {
    ssize_t r = read(fd, buf + n, cap - 1 - n);
    if (r > 0) { n += (size_t)r; buf[n] = '\0'; }
    if (r == 0 || (want && strstr(buf, want))) break;
    step(s, 10);
  }
  return n;
}

int main(void) {
  char err[256], buf[8192];
  rv_server_limits lim;
  rv_server *s;
  const rv_server_request *r;
  uint64_t id1, id2;
  int a, b, c, d, i;
  rv_server_header hs[2] = { { "Content-Type", "text/xml", 12, 8 }, { "X-Dup", "1", 5, 1 } };

  rv_server_limits_init(&lim);
  CHECK(lim.max_body == RV_SERVER_MAX_BODY && lim.max_pending == RV_SERVER_MAX_PENDING, "defaults");
  CHECK(rv_server_new("localhost", 0, NULL, err, sizeof err) == NULL && strstr(err, "numeric"),
        "a name is not an address: %s", err);
  CHECK(rv_server_new(NULL, 70000, NULL, err, sizeof err) == NULL, "port range");
  s = rv_server_new(NULL, 0, NULL, err, sizeof err);
  CHECK(s != NULL, "rv_server_new: %s", err);
  if (!s) return 1;
  CHECK(rv_server_port(s) > 0, "a port was picked");
  CHECK(rv_server_timeout(s) == -1, "nothing due");

  /* a request through a socketpair: the view, then an answer */
  a = client(s);
  put(a, "POST /v1/Accounts/AC1/Flows/FW1?FlowEvent=return HTTP/1.1\r\nHost: x\r\n"
         "X-Dup: 1\r\nx-dup: 2\r\nContent-Length: 5\r\n\r\nhello");
  r = take(s);
  CHECK(r != NULL, "the request arrives");
  if (r) {
    CHECK(r->id == 1 && strcmp(r->method, "POST") == 0, "id %llu method %s",
          (unsigned long long)r->id, r->method);
    CHECK(strcmp(r->path, "/v1/Accounts/AC1/Flows/FW1") == 0, "path %s", r->path);
    CHECK(r->query && strcmp(r->query, "FlowEvent=return") == 0, "query");
    CHECK(r->nheaders == 4 && strcmp(r->headers[2].name, "x-dup") == 0
          && strcmp(r->headers[2].value, "2") == 0, "headers in order, names as sent");
    CHECK(r->body_len == 5 && strcmp(r->body, "hello") == 0, "body");
    CHECK(strcmp(r->peer, "") == 0 && r->peer_port == 0, "a socketpair has no address");
    id1 = r->id;
    CHECK(rv_server_respond(s, id1, 99, NULL, 0, "", 0) == RV_SERVER_INVALID, "status range");
    hs[1].value_len = 2;
    CHECK(rv_server_respond(s, id1, 200, hs, 2, "", 0) == RV_SERVER_INVALID, "lengths must match");
    hs[1].value_len = 1;
    CHECK(rv_server_respond(s, id1, 200, hs, 2, "<Response/>", 11) == RV_SERVER_OK, "answered");
    CHECK(rv_server_respond(s, id1, 200, NULL, 0, "", 0) == RV_SERVER_GONE, "once");
    collect(s, a, buf, sizeof buf, "<Response/>");
    CHECK(strncmp(buf, "HTTP/1.1 200", 12) == 0 && strstr(buf, "Content-Type: text/xml\r\n")
          && strstr(buf, "\r\n\r\n<Response/>"), "the response: %s", buf);
  }

  /* a departure while waiting: reported once, the late answer refused */
  b = client(s);
  put(b, "GET /gone HTTP/1.1\r\nHost: x\r\n\r\n");
  r = take(s);
  id2 = r ? r->id : 0;
  CHECK(id2 == 2, "second id %llu", (unsigned long long)id2);
  close(b);
  for (i = 0; i < 100 && (id1 = rv_server_next_dropped(s)) == 0; i++) step(s, 10);
  CHECK(id1 == id2, "dropped %llu", (unsigned long long)id1);
  CHECK(rv_server_next_dropped(s) == 0, "reported once");
  CHECK(rv_server_respond(s, id2, 200, NULL, 0, "", 0) == RV_SERVER_GONE, "too late");

  /* a real TCP client too (a peer address) */
  {
    struct sockaddr_in sa;
    int t = socket(AF_INET, SOCK_STREAM, 0);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)rv_server_port(s));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(t >= 0 && connect(t, (struct sockaddr *)&sa, sizeof sa) == 0, "TCP connect");
    fcntl(t, F_SETFL, O_NONBLOCK);
    put(t, "GET / HTTP/1.0\r\n\r\n");
    r = take(s);
    CHECK(r && strcmp(r->peer, "127.0.0.1") == 0 && r->peer_port > 0 && r->query == NULL
          && strcmp(r->version, "HTTP/1.0") == 0, "TCP request");
    if (r) rv_server_respond(s, r->id, 204, NULL, 0, NULL, 0);
    collect(s, t, buf, sizeof buf, NULL);
    CHECK(strncmp(buf, "HTTP/1.0 204", 12) == 0 || strncmp(buf, "HTTP/1.1 204", 12) == 0,
          "HTTP/1.0 answered and closed: %s", buf);
    close(t);
  }

  /* freeing a server with requests in every phase: queued, taken, half-received, sending */
  c = client(s);
  put(c, "GET /taken HTTP/1.1\r\nHost: x\r\n\r\n");
  r = take(s);
  CHECK(r && strcmp(r->path, "/taken") == 0, "taken");
  d = client(s);
  put(d, "GET /queued HTTP/1.1\r\nHost: x\r\n\r\n");
  for (i = 0; i < 100 && rv_server_busy(s) < 2; i++) step(s, 10);
  b = client(s);
  put(b, "POST /half HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc");
  for (i = 0; i < 100 && rv_server_busy(s) < 3; i++) step(s, 10);
  CHECK(rv_server_busy(s) == 3 && rv_server_connections(s) == 4, "busy %d connections %d",
        rv_server_busy(s), rv_server_connections(s));
  rv_server_shutdown(s);
  rv_server_shutdown(s);
  rv_server_free(s);
  CHECK(read(c, buf, sizeof buf) == 0 && read(d, buf, sizeof buf) == 0 && read(b, buf, sizeof buf) == 0,
        "every connection closed, nothing sent");
  close(a); close(b); close(c); close(d);

  /* limits given: the pending limit at 1 */
  lim.max_pending = 1;
  s = rv_server_new("127.0.0.1", 0, &lim, err, sizeof err);
  CHECK(s != NULL, "with limits: %s", err);
  if (s) {
    a = client(s);
    b = client(s);
    put(a, "GET /1 HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(take(s) != NULL, "one waits");
    put(b, "GET /2 HTTP/1.1\r\nHost: x\r\n\r\n");
    collect(s, b, buf, sizeof buf, "\r\n\r\n");
    CHECK(strncmp(buf, "HTTP/1.1 503", 12) == 0 && strstr(buf, "Retry-After: 1"), "over: %s", buf);
    rv_server_free(s);
    close(a); close(b);
  }

  printf("server: %d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
