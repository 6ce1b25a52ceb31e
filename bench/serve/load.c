/* A small HTTP/1.1 load client for bench/serve/run.sh: replays a file of ready-made
 * requests (bench/serve/gen.js writes it: "LENGTH\n" + the request's bytes, repeated) over
 * keep-alive connections to 127.0.0.1:PORT, checks every answer and prints one JSON line.
 *
 *   load [-c CONNS] [-r RATE] [-s STATUS] [-b BODY | -m SUBSTRING] [-i] PORT FILE
 *
 *   -c CONNS   keep-alive connections (default 50)
 *   -r RATE    open loop: request i is due at start + i/RATE s and its latency counts
 *              from then, so a slow answer delays nothing and is not forgiven
 *              (no coordinated omission); a due request waits for a free connection.
 *              Without -r: closed loop, each connection sends its next request when the
 *              answer to the last one has come
 *   -s STATUS  the status every answer must have (default 200)
 *   -b BODY    the body every answer must have, exactly; -m: must contain SUBSTRING
 *   -i         idle: CONNS connections make one request each, then "idle N" is printed and
 *              they stay open until stdin closes (for RSS per connection)
 *
 * Requests go in the file's order. Output: {"requests", "ok", "bad", "first_bad",
 * "seconds", "rps", "p50_us", "p90_us", "p99_us", "max_us"}; exit 1 when any answer was
 * wrong or missing. Why not wrk: a wrk run is bounded by time, so how many requests the
 * server received (and so what the store must hold) is unknown; its Lua cannot sign
 * (no HMAC in LuaJIT's library) and Debian has no wrk2 for a fixed rate. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 20000      /* beyond any run here; the caller raises ulimit -n to match */
#define IN_CAP 65536         /* an answer's head and body (serve's JSON stays far below) */
#define MAX_EVENTS 256
#define IDLE_RAMP 50         /* -i: connections opening at once */

typedef struct {
  const char *data;
  size_t len;
} req_t;

typedef struct {
  int fd;
  int busy;                  /* a request is on its way or its answer is awaited */
  long req;                  /* its index */
  size_t sent;
  char in[IN_CAP];
  size_t got;
} conn_t;

static req_t *reqs;
static long nreqs;
static conn_t *conns;
static int nconns = 50;
static int port;
static int ep;
static int want_status = 200;
static const char *want_body, *want_sub;
static double *start_at;     /* when each request's latency starts (s) */
static double *lat;          /* latency of each answered request (s) */
static long next_req, answered, ok, bad;
static char first_bad[256];

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what) {
  perror(what);
  exit(2);
}

static void read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) die(path);
  if (fseek(f, 0, SEEK_END) != 0) die(path);
  long size = ftell(f);
  if (size < 0 || fseek(f, 0, SEEK_SET) != 0) die(path);
  char *buf = malloc((size_t)size + 1);
  if (!buf || fread(buf, 1, (size_t)size, f) != (size_t)size) die(path);
  fclose(f);
  long cap = 1024;
  reqs = malloc(sizeof *reqs * (size_t)cap);
  for (char *p = buf, *end = buf + size; p < end;) {
    char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl) break;
    size_t len = strtoul(p, NULL, 10);
    if (nl + 1 + len > end) { fprintf(stderr, "load: %s: truncated record\n", path); exit(2); }
    if (nreqs == cap) {
      cap *= 2;
      reqs = realloc(reqs, sizeof *reqs * (size_t)cap);
      if (!reqs) die("realloc");
    }
    reqs[nreqs].data = nl + 1;
    reqs[nreqs].len = len;
    nreqs++;
    p = nl + 1 + len;
  }
}

static void note_bad(long i, const char *why, const char *body, size_t blen) {
  bad++;
  if (!first_bad[0]) {
    snprintf(first_bad, sizeof first_bad, "request %ld: %s: %.*s", i, why,
             (int)(blen > 120 ? 120 : blen), body ? body : "");
    for (char *c = first_bad; *c; c++) if (*c == '"' || *c == '\\' || (unsigned char)*c < 32) *c = ' ';
  }
}

static void open_conn(conn_t *c) {
  struct sockaddr_in a;
  int one = 1;
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (c->fd < 0) die("socket");
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(c->fd, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS) die("connect");
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = c};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) die("epoll_ctl");
  c->busy = 0;
  c->got = 0;
}

static void try_send(conn_t *c) {
  const req_t *r = &reqs[c->req];
  while (c->sent < r->len) {
    ssize_t n = send(c->fd, r->data + c->sent, r->len - c->sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOTCONN) return;
      return;                /* the read side sees the error and counts it */
    }
    c->sent += (size_t)n;
  }
}

static void start(conn_t *c, long i) {
  c->busy = 1;
  c->req = i;
  c->sent = 0;
  c->got = 0;
  try_send(c);
}

/* a whole answer in c->in: its length, 0 when more is needed, -1 when it cannot be read */
static long answer_length(conn_t *c, int *status, const char **body, size_t *blen) {
  c->in[c->got < IN_CAP ? c->got : IN_CAP - 1] = 0;
  char *end = strstr(c->in, "\r\n\r\n");
  if (!end) return c->got >= IN_CAP - 1 ? -1 : 0;
  if (sscanf(c->in, "HTTP/1.%*d %d", status) != 1) return -1;
  long clen = -1;
  for (char *h = strstr(c->in, "\r\n"); h && h < end; h = strstr(h + 2, "\r\n")) {
    if (strncasecmp(h + 2, "Content-Length:", 15) == 0) clen = strtol(h + 17, NULL, 10);
  }
  if (clen < 0) return -1;   /* both servers send Content-Length */
  size_t head = (size_t)(end + 4 - c->in);
  if (head + (size_t)clen >= IN_CAP) return -1;
  if (c->got < head + (size_t)clen) return 0;
  *body = end + 4;
  *blen = (size_t)clen;
  return (long)(head + (size_t)clen);
}

static void finish(conn_t *c, double t, int status, const char *body, size_t blen) {
  long i = c->req;
  lat[answered++] = t - start_at[i];
  if (status != want_status) {
    char why[32];
    snprintf(why, sizeof why, "status %d", status);
    note_bad(i, why, body, blen);
  } else if (want_body && (blen != strlen(want_body) || memcmp(body, want_body, blen) != 0)) {
    note_bad(i, "body", body, blen);
  } else if (want_sub && !memmem(body, blen, want_sub, strlen(want_sub))) {
    note_bad(i, "body", body, blen);
  } else {
    ok++;
  }
  c->busy = 0;
}

static void lost(conn_t *c) {    /* the connection broke: its request fails, a new one opens */
  if (c->busy) {
    lat[answered++] = now_s() - start_at[c->req];
    note_bad(c->req, "connection closed", NULL, 0);
  }
  epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  open_conn(c);
}

/* reads what came; true when the connection is free for a new request */
static int on_readable(conn_t *c, double *t) {
  for (;;) {
    ssize_t n = recv(c->fd, c->in + c->got, IN_CAP - 1 - c->got, 0);
    if (n == 0) { lost(c); return !c->busy; }
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      lost(c);
      return !c->busy;
    }
    c->got += (size_t)n;
    if (c->got >= IN_CAP - 1) break;
  }
  if (!c->busy) { c->got = 0; return 1; }
  int status = 0;
  const char *body = NULL;
  size_t blen = 0;
  long len = answer_length(c, &status, &body, &blen);
  if (len == 0) return 0;
  *t = now_s();
  if (len < 0) {
    note_bad(c->req, "unreadable answer", c->in, c->got);
    lat[answered++] = *t - start_at[c->req];
    c->busy = 0;
    return 1;
  }
  finish(c, *t, status, body, blen);
  return 1;
}

/* -r: how many requests are due at `now` (request i is due at t0 + i/rate). The tick for
 * request i fires at that time or later, and so must find it due: a tick armed a hair
 * before the time the request's latency counts from would leave it for the next tick, a
 * whole interval late (it was, up to 5 ms at 200/s, before the ticks were armed here). */
static long due_by(double now, double t0, double rate) {
  return (long)((now - t0) * rate + 1e-6) + 1;
}

/* a one-shot tick at monotonic time `at` (seconds), rounded up to the nanosecond */
static void arm_tick(int tfd, double at) {
  struct itimerspec its = {{0, 0}, {0, 0}};
  double whole = (double)(long)at;
  its.it_value.tv_sec = (time_t)whole;
  its.it_value.tv_nsec = (long)((at - whole) * 1e9) + 1;
  if (its.it_value.tv_nsec >= 1000000000L) { its.it_value.tv_sec++; its.it_value.tv_nsec -= 1000000000L; }
  if (timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0) die("timerfd_settime");
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double pct(double p) {
  if (answered == 0) return 0;
  long i = (long)(p * (double)(answered - 1) + 0.5);
  return lat[i] * 1e6;
}

int main(int argc, char **argv) {
  double rate = 0;
  int idle = 0, opt;
  while ((opt = getopt(argc, argv, "c:r:s:b:m:i")) != -1) {
    switch (opt) {
    case 'c': nconns = atoi(optarg); break;
    case 'r': rate = atof(optarg); break;
    case 's': want_status = atoi(optarg); break;
    case 'b': want_body = optarg; break;
    case 'm': want_sub = optarg; break;
    case 'i': idle = 1; break;
    default: fprintf(stderr, "usage: load [-c N] [-r RATE] [-s STATUS] [-b BODY|-m SUB] [-i] PORT FILE\n"); return 2;
    }
  }
  if (argc - optind != 2 || nconns < 1 || nconns > MAX_CONNS) {
    fprintf(stderr, "usage: load [-c N (1..%d)] [-r RATE] [-s STATUS] [-b BODY|-m SUB] [-i] PORT FILE\n", MAX_CONNS);
    return 2;
  }
  port = atoi(argv[optind]);
  read_file(argv[optind + 1]);
  if (idle && nreqs < nconns) { fprintf(stderr, "load: -i needs a request per connection\n"); return 2; }
  if (idle) nreqs = nconns;
  start_at = calloc((size_t)nreqs + 1, sizeof *start_at);
  lat = calloc((size_t)nreqs + 1, sizeof *lat);
  conns = calloc((size_t)nconns, sizeof *conns);
  conn_t **free_list = calloc((size_t)nconns, sizeof *free_list);
  if (!start_at || !lat || !conns || !free_list) die("calloc");
  ep = epoll_create1(0);
  if (ep < 0) die("epoll_create1");
  /* -i: connections open IDLE_RAMP at a time, a new one as each earlier one is answered
   * (a thousand SYNs at once overflow a listen backlog; Twilio's connections come in turn) */
  int opened = idle && nconns > IDLE_RAMP ? IDLE_RAMP : nconns;
  for (int i = 0; i < opened; i++) open_conn(&conns[i]);

  int tfd = -1;
  if (rate > 0) {           /* armed at the next request's due time (arm_tick) */
    tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    if (tfd < 0) die("timerfd_create");
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev) < 0) die("epoll_ctl");
  }

  double t0 = now_s(), t_end = t0;
  int nfree = 0;
  if (rate > 0) {
    for (int i = 0; i < nconns; i++) free_list[nfree++] = &conns[i];
    start_at[0] = t0;
    start(free_list[--nfree], next_req++);
    if (nreqs > 1) arm_tick(tfd, t0 + 1.0 / rate);
  } else {
    for (int i = 0; i < opened && next_req < nreqs; i++) {
      start_at[next_req] = t0;
      start(&conns[i], next_req++);
    }
  }
  struct epoll_event evs[MAX_EVENTS];
  while (answered < nreqs) {
    int n = epoll_wait(ep, evs, MAX_EVENTS, 1000);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    for (int k = 0; k < n; k++) {
      conn_t *c = evs[k].data.ptr;
      if (!c) {              /* the rate's tick */
        uint64_t x;
        if (read(tfd, &x, sizeof x) < 0 && errno != EAGAIN) die("read timerfd");
        continue;
      }
      if ((evs[k].events & EPOLLOUT) && c->busy) try_send(c);
      if (evs[k].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
        double t = 0;
        if (on_readable(c, &t)) {
          if (t > t_end) t_end = t;
          if (rate > 0) {
            free_list[nfree++] = c;
          } else if (idle && opened < nconns) {
            open_conn(&conns[opened]);
            start_at[next_req] = now_s();
            start(&conns[opened++], next_req++);
          } else if (!idle && next_req < nreqs) {
            start_at[next_req] = now_s();
            start(c, next_req++);
          }
        }
      }
    }
    if (rate > 0) {          /* every request due by now goes out, on free connections */
      long due = due_by(now_s(), t0, rate);
      if (due > nreqs) due = nreqs;
      while (next_req < due && nfree > 0) {
        start_at[next_req] = t0 + (double)next_req / rate;
        start(free_list[--nfree], next_req++);
      }
      /* the next one's time, when it is still ahead (one already due goes out as an
       * answer frees a connection: a tick in the past would only spin) */
      if (next_req < nreqs && due_by(now_s(), t0, rate) <= next_req) arm_tick(tfd, t0 + (double)next_req / rate);
    }
  }
  double secs = t_end - t0;
  qsort(lat, (size_t)answered, sizeof *lat, cmp_d);
  printf("{\"requests\":%ld,\"ok\":%ld,\"bad\":%ld,\"first_bad\":\"%s\",\"seconds\":%.4f,\"rps\":%.1f,"
         "\"p50_us\":%.0f,\"p90_us\":%.0f,\"p99_us\":%.0f,\"max_us\":%.0f}\n",
         nreqs, ok, bad, first_bad, secs, secs > 0 ? (double)answered / secs : 0.0,
         pct(0.50), pct(0.90), pct(0.99), answered ? lat[answered - 1] * 1e6 : 0.0);
  fflush(stdout);
  if (idle) {                /* hold the connections until stdin closes */
    printf("idle %d\n", nconns);
    fflush(stdout);
    char buf[256];
    while (read(0, buf, sizeof buf) > 0) {}
  }
  for (int i = 0; i < opened; i++) close(conns[i].fd);
  return bad == 0 && ok == nreqs ? 0 : 1;
}
