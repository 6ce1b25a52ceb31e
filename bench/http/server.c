/* bench/http/server.c: the loopback function server of the HTTP and scale benchmarks, in C
 * so that the server costs the same, and little, whichever client it serves (rivulet, bare
 * libcurl, raw sockets). One thread, epoll, HTTP/1.1 keep-alive (a /slow reply closes: below).
 *
 *   server            prints "PORT n" once listening on 127.0.0.1:n (a free port)
 *
 * Every request gets 200 {"number":4} (application/json). A path starting with /slow
 * answers after BENCH_SLOW_MS (default 100) ms. The request body (Content-Length) is read
 * and dropped; chunked requests are not supported (no client here sends one). The server
 * exits when its stdin closes, so it never outlives the script that started it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_FDS 70000       /* one slot per descriptor: 10,000 executions + the clients' */
#define BUF_SIZE 8192       /* a request's head and body: the benchmarks send < 1 KiB */
#define BACKLOG 65535       /* 10,000 connections arrive at once (the kernel caps it) */

static const char REPLY[] =
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 12\r\n"
    "Connection: keep-alive\r\n\r\n{\"number\":4}";
/* A slow reply closes its connection, the server first: the TIME_WAIT left behind is then
** the server's (its port, one entry per client port) and not the client's. Left to the
** client, the 10,000 connections of one run of bench/scale stayed in TIME_WAIT for a
** minute on the client's ports, and the next run's connect() searched past them for free
** ports: ~0.6 s more CPU for 10,000 connections (the raw floor 0.48 s on a fresh host,
** 1.1 s after another run), a cost every client in a round paid according to its turn. */
static const char REPLY_CLOSE[] =
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 12\r\n"
    "Connection: close\r\n\r\n{\"number\":4}";

typedef struct {
  char buf[BUF_SIZE];
  size_t len;
  int open;
  unsigned gen; /* one more per connection on this descriptor: a reply due to a closed one is dropped */
} conn;

typedef struct {
  int fd;
  unsigned gen;
  double due;
} pending;

static conn *conns;
static pending *queue; /* FIFO: every delay is the same, so due times only grow */
static size_t q_head, q_tail, q_cap;

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void drop(int ep, int fd) {
  epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
  close(fd);
  conns[fd].open = 0;
  conns[fd].len = 0;
  conns[fd].gen++;
}

static void reply(int fd, const char *text, size_t len) {
  size_t off = 0;
  while (off < len) {
    ssize_t n = write(fd, text + off, len - off);
    if (n > 0) { off += (size_t)n; continue; }
    if (n < 0 && errno == EINTR) continue;
    return; /* a full send buffer for 90 bytes: the peer is gone; its read will say so */
  }
}

/* length of the first complete request in c->buf, 0 when incomplete */
static size_t complete(conn *c, int *slow) {
  char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
  size_t head, body = 0;
  char *p;
  if (!end) return 0;
  head = (size_t)(end - c->buf) + 4;
  for (p = c->buf; p && p < end; p = memchr(p, '\n', (size_t)(end - p))) {
    if (*p == '\n') p++;
    if (strncasecmp(p, "content-length:", 15) == 0) body = strtoul(p + 15, NULL, 10);
  }
  if (head + body > c->len) return 0;
  *slow = strncmp(strchr(c->buf, ' ') ? strchr(c->buf, ' ') + 1 : "", "/slow", 5) == 0;
  return head + body;
}

int main(void) {
  struct sockaddr_in a;
  socklen_t alen = sizeof a;
  int lfd, ep, one = 1;
  double slow_ms = getenv("BENCH_SLOW_MS") ? atof(getenv("BENCH_SLOW_MS")) : 100;
  struct epoll_event ev, evs[256];

  conns = calloc(MAX_FDS, sizeof *conns);
  q_cap = MAX_FDS;
  queue = malloc(q_cap * sizeof *queue);
  if (!conns || !queue) return 1;

  lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(lfd, BACKLOG) != 0) {
    perror("server: listen");
    return 1;
  }
  getsockname(lfd, (struct sockaddr *)&a, &alen);
  ep = epoll_create1(0);
  ev.events = EPOLLIN;
  ev.data.fd = lfd;
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  ev.data.fd = 0;
  epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev);
  printf("PORT %d\n", ntohs(a.sin_port));
  fflush(stdout);

  for (;;) {
    int timeout = -1, n, i;
    if (q_head != q_tail) {
      double wait = queue[q_head % q_cap].due - now_ms();
      timeout = wait <= 0 ? 0 : (int)wait + 1;
    }
    n = epoll_wait(ep, evs, 256, timeout);
    if (n < 0 && errno != EINTR) return 1;
    for (i = 0; i < n; i++) {
      int fd = evs[i].data.fd;
      if (fd == 0) {
        char b[64];
        if (read(0, b, sizeof b) <= 0) return 0; /* stdin closed: the script is done */
        continue;
      }
      if (fd == lfd) {
        int c;
        while ((c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
          if (c >= MAX_FDS) { close(c); continue; }
          setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          conns[c].open = 1;
          conns[c].len = 0;
          ev.events = EPOLLIN;
          ev.data.fd = c;
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
        }
        continue;
      }
      for (;;) {
        conn *c = &conns[fd];
        ssize_t r = read(fd, c->buf + c->len, BUF_SIZE - c->len);
        size_t used;
        int slow = 0;
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) { drop(ep, fd); break; }
        if (r < 0) break;
        c->len += (size_t)r;
        while ((used = complete(c, &slow)) > 0) {
          memmove(c->buf, c->buf + used, c->len - used);
          c->len -= used;
          if (slow && q_tail - q_head == q_cap) { drop(ep, fd); break; } /* cannot happen below MAX_FDS */
          if (slow) {
            queue[q_tail % q_cap].fd = fd;
            queue[q_tail % q_cap].gen = c->gen;
            queue[q_tail % q_cap].due = now_ms() + slow_ms;
            q_tail++;
          } else {
            reply(fd, REPLY, sizeof REPLY - 1);
          }
        }
        if (c->len == BUF_SIZE) { drop(ep, fd); break; } /* a request larger than we serve */
      }
    }
    while (q_head != q_tail && queue[q_head % q_cap].due <= now_ms()) {
      int fd = queue[q_head % q_cap].fd;
      unsigned gen = queue[q_head % q_cap].gen;
      q_head++;
      if (conns[fd].open && conns[fd].gen == gen) {
        reply(fd, REPLY_CLOSE, sizeof REPLY_CLOSE - 1);
        drop(ep, fd);
      }
    }
  }
}
