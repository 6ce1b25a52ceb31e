/*
** The HTTP server over libmicrohttpd, in its external-loop epoll mode (MHD_USE_EPOLL without
** a thread, MHD_ALLOW_SUSPEND_RESUME). Each request goes through these phases:
**
**   HEAD   the request line arrived (on_uri: the raw target is kept, libmicrohttpd decodes
**          its own copy); the first handler call checks the header bytes and Content-Length
**   BODY   body chunks are appended (over the limit they are discarded and 413 answered)
**   WAIT   complete: the connection is suspended and the request queued (taken: rv_server_next)
**   ANSWER rv_server_respond stored the response and resumed the connection; the handler,
**          called again by libmicrohttpd, queues it
**   ABORT  the client went away while suspended, or the server closes: the handler returns
**          MHD_NO so libmicrohttpd closes the connection
**   SENT   a response is queued; on_completed frees the request
**
** A suspended connection is out of libmicrohttpd's poll set, so it would not see its client
** go away: its socket sits in our own epoll set (the one rv_server_fds hands out, which also
** holds libmicrohttpd's) for EPOLLRDHUP while it waits. Only from the next rv_server_run
** on: a request answered before it (most are: serve answers in the turn that took them)
** costs no epoll_ctl to watch it and none to stop; a client that left meanwhile is reported
** as soon as its socket is added (epoll reports a state already there).
**
** Slow clients: libmicrohttpd's idle timeout resets on every byte, so a client dripping one
** byte a second would hold its slot for ever. Each connection is on a list (oldest first)
** from when it is ready for a request until the request is complete; past request_timeout_ms
** its socket is shut down, and libmicrohttpd, seeing the end of the stream, closes it.
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <poll.h>

#include <microhttpd.h>

#include "lazy.h"
#include "server.h"

#define ID_BUCKETS 1024          /* id -> waiting request; a power of two */
#define WATCH_EVENTS 64          /* departures taken per epoll_wait */

enum { P_HEAD, P_BODY, P_WAIT, P_ANSWER, P_ABORT, P_SENT };

typedef struct conn conn;
typedef struct req req;

/* one per connection (libmicrohttpd's socket context) */
struct conn {
  int fd;
  double since;                   /* monotonic ms it began waiting for its current request */
  int listed;                     /* on s->slow (the request-timeout list) */
  conn *prev, *next;
};

struct req {
  rv_server *s;
  struct MHD_Connection *mc;
  conn *c;
  uint64_t id;                    /* 0 until complete */
  int phase;
  int taken, too_large, counted;
  int watched;                    /* in our epoll set for EPOLLRDHUP */
  int watch_tried;                /* rv_server_run has tried to add it (watch_waiting) */
  char *target;                   /* the raw request target, from on_uri */
  char *body;
  size_t body_len, body_cap;
  unsigned status;                /* the answer, while phase == P_ANSWER */
  struct MHD_Response *resp;
  double queued_at;
  req *qprev, *qnext;             /* s->ready: complete, not taken */
  req *pprev, *pnext;             /* s->pending: complete, not answered (answer timeout) */
  req *hnext;                     /* s->ids[id & (ID_BUCKETS - 1)] */
  rv_server_request view;         /* filled when taken */
  char *strings;                  /* what view points into */
  rv_server_header *headers;
};

struct rv_server {
  struct MHD_Daemon *d;
  rv_server_limits lim;
  int epfd;                       /* libmicrohttpd's epoll fd + suspended sockets */
  int mhd_fd;
  int port;
  int listen_fd;                  /* -1 once shut down */
  int closing;                    /* shut down: every response closes its connection */
  int stopping;                   /* rv_server_free: the handler refuses everything */
  int kick;                       /* a connection was resumed: run now */
  uint64_t next_id;
  int nready, npending, nsending, nconn, nbusy;
  req *ready_head, *ready_tail;
  req *pending_head, *pending_tail;
  req *ids[ID_BUCKETS];
  conn *slow_head, *slow_tail;
  req *last;                      /* handed out by rv_server_next; its strings go next time */
  uint64_t *dropped;
  size_t ndropped, dropped_cap, dropped_at;
  struct MHD_Response *r400, *r413, *r431, *r503;
};

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

void rv_server_limits_init(rv_server_limits *l) {
  l->max_body = RV_SERVER_MAX_BODY;
  l->max_header_bytes = RV_SERVER_MAX_HEADER_BYTES;
  l->connection_memory = RV_SERVER_CONNECTION_MEMORY;
  l->max_connections = RV_SERVER_MAX_CONNECTIONS;
  l->max_per_ip = RV_SERVER_MAX_PER_IP;
  l->idle_timeout_s = RV_SERVER_IDLE_TIMEOUT_S;
  l->request_timeout_ms = RV_SERVER_REQUEST_TIMEOUT_MS;
  l->answer_timeout_ms = RV_SERVER_ANSWER_TIMEOUT_MS;
  l->max_pending = RV_SERVER_MAX_PENDING;
  l->backlog = RV_SERVER_BACKLOG;
}

/* ---- the request-timeout list (oldest first: every entry has the same timeout) */

static void slow_remove(rv_server *s, conn *c) {
  if (!c || !c->listed) return;
  if (c->prev) c->prev->next = c->next; else s->slow_head = c->next;
  if (c->next) c->next->prev = c->prev; else s->slow_tail = c->prev;
  c->prev = c->next = NULL;
  c->listed = 0;
}

static void slow_add(rv_server *s, conn *c) {
  if (!c || s->lim.request_timeout_ms <= 0) return;
  slow_remove(s, c);
  c->since = now_ms();
  c->prev = s->slow_tail;
  c->next = NULL;
  if (s->slow_tail) s->slow_tail->next = c; else s->slow_head = c;
  s->slow_tail = c;
  c->listed = 1;
}

/* ---- waiting requests: ready queue, pending list, ids */

static void ready_remove(rv_server *s, req *r) {
  if (r->taken) return;
  if (r->qprev) r->qprev->qnext = r->qnext; else if (s->ready_head == r) s->ready_head = r->qnext;
  else return;                    /* not queued */
  if (r->qnext) r->qnext->qprev = r->qprev; else s->ready_tail = r->qprev;
  r->qprev = r->qnext = NULL;
  s->nready--;
}

/* no longer waiting for an answer: off the pending list, the id table and our epoll set */
static void unwait(rv_server *s, req *r) {
  req **pp;
  ready_remove(s, r);
  if (r->pprev || s->pending_head == r) {
    if (r->pprev) r->pprev->pnext = r->pnext; else s->pending_head = r->pnext;
    if (r->pnext) r->pnext->pprev = r->pprev; else s->pending_tail = r->pprev;
    r->pprev = r->pnext = NULL;
    s->npending--;
  }
  for (pp = &s->ids[r->id & (ID_BUCKETS - 1)]; *pp; pp = &(*pp)->hnext)
    if (*pp == r) { *pp = r->hnext; r->hnext = NULL; break; }
  if (r->watched) {
    epoll_ctl(s->epfd, EPOLL_CTL_DEL, r->c->fd, NULL);
    r->watched = 0;
  }
}

static req *find(rv_server *s, uint64_t id) {
  req *r;
  for (r = s->ids[id & (ID_BUCKETS - 1)]; r; r = r->hnext)
    if (r->id == id) return r;
  return NULL;
}

static void note_dropped(rv_server *s, uint64_t id) {
  if (s->ndropped == s->dropped_cap) {
    size_t cap = s->dropped_cap ? s->dropped_cap * 2 : 16;
    uint64_t *p;
    if (s->dropped_at > 0) {      /* reuse the part already taken */
      memmove(s->dropped, s->dropped + s->dropped_at, (s->ndropped - s->dropped_at) * sizeof *p);
      s->ndropped -= s->dropped_at;
      s->dropped_at = 0;
    }
    if (s->ndropped == s->dropped_cap) {
      if (!(p = realloc(s->dropped, cap * sizeof *p))) return;   /* the news is lost, not the request */
      s->dropped = p;
      s->dropped_cap = cap;
    }
  }
  s->dropped[s->ndropped++] = id;
}

static void release_view(req *r) {
  free(r->strings);
  free(r->headers);
  free(r->body);
  r->strings = NULL;
  r->headers = NULL;
  r->body = NULL;
  r->body_len = r->body_cap = 0;
}

/* the connection of a waiting request goes: by the client (abort) or by a deadline */
static void abort_wait(rv_server *s, req *r) {
  unwait(s, r);
  if (r->taken) note_dropped(s, r->id);
  r->phase = P_ABORT;
  s->kick = 1;
  MHD_resume_connection(r->mc);
}

/* ---- libmicrohttpd callbacks: they only move bytes and pointers, never call out */

static void on_connection(void *cls, struct MHD_Connection *mc, void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
  rv_server *s = cls;
  conn *c = *socket_context;
  if (code == MHD_CONNECTION_NOTIFY_STARTED) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
    s->nconn++;
    if (!(c = calloc(1, sizeof *c))) return;      /* no request timeout for this one */
    c->fd = ci ? ci->connect_fd : -1;
    *socket_context = c;
    slow_add(s, c);
  } else {
    s->nconn--;
    if (c) {
      slow_remove(s, c);
      free(c);
      *socket_context = NULL;
    }
  }
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *mc) {
  rv_server *s = cls;
  const union MHD_ConnectionInfo *ci;
  req *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  if (!(r->target = strdup(uri ? uri : ""))) { free(r); return NULL; }
  r->s = s;
  r->mc = mc;
  ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  r->c = ci ? ci->socket_context : NULL;
  r->phase = P_HEAD;
  s->nbusy++;
  r->counted = 1;
  return r;
}

static void free_req(rv_server *s, req *r) {
  unwait(s, r);
  if (s->last == r) s->last = NULL;
  if (r->resp) MHD_destroy_response(r->resp);
  if (r->phase == P_SENT && r->id) s->nsending--;
  if (r->counted) s->nbusy--;
  release_view(r);
  free(r->target);
  free(r);
}

static void on_completed(void *cls, struct MHD_Connection *mc, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  rv_server *s = cls;
  req *r = *con_cls;
  const union MHD_ConnectionInfo *ci;
  (void)toe;
  *con_cls = NULL;
  if (r) free_req(s, r);
  /* the connection may stay open for another request: its time starts now */
  ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  if (ci && ci->socket_context && !s->stopping) slow_add(s, ci->socket_context);
}

static int token_char(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
         || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int is_token(const char *p) {
  if (!*p) return 0;
  for (; *p; p++)
    if (!token_char((unsigned char)*p)) return 0;
  return 1;
}

static enum MHD_Result check_name(void *cls, enum MHD_ValueKind kind, const char *key,
                                  size_t key_size, const char *value, size_t value_size) {
  int *bad = cls;
  (void)kind; (void)value; (void)value_size;
  if (key_size == 0 || strlen(key) != key_size || !is_token(key)) { *bad = 1; return MHD_NO; }
  return MHD_YES;
}

/* what libmicrohttpd lets through but HTTP does not, so callers only ever see clean requests:
** a method or header name that is not a token, an empty target or one with a space or a
** control byte (RFC 9112 3, 5.1) */
static int malformed(req *r, const char *method) {
  const unsigned char *p;
  int bad = 0;
  if (!is_token(method)) return 1;
  for (p = (const unsigned char *)r->target; *p; p++)
    if (*p <= 0x20 || *p == 0x7f) return 1;
  if (!r->target[0]) return 1;
  MHD_get_connection_values_n(r->mc, MHD_HEADER_KIND, check_name, &bad);
  return bad;
}

static enum MHD_Result refuse(rv_server *s, req *r, unsigned status, struct MHD_Response *resp) {
  slow_remove(s, r->c);
  r->phase = P_SENT;
  return MHD_queue_response(r->mc, status, resp);
}

typedef struct sizes { size_t n, bytes; rv_server_header *h; char *p; } sizes;

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                    size_t key_size, const char *value, size_t value_size) {
  sizes *z = cls;
  (void)kind; (void)key; (void)value;
  z->n++;
  z->bytes += key_size + value_size + 2;
  return MHD_YES;
}

static char *put(char **p, const char *src, size_t n) {
  char *at = *p;
  if (n) memcpy(at, src, n);
  at[n] = '\0';
  *p += n + 1;
  return at;
}

static enum MHD_Result copy_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                   size_t key_size, const char *value, size_t value_size) {
  sizes *z = cls;
  rv_server_header *h = &z->h[z->n++];
  (void)kind;
  h->name = put(&z->p, key, key_size);
  h->name_len = key_size;
  h->value = put(&z->p, value ? value : "", value ? value_size : 0);
  h->value_len = value ? value_size : 0;
  return MHD_YES;
}

/* fills r->view: method, target split at '?', version, headers, peer (0 ok, -1 no memory) */
static int make_view(req *r, const char *method, const char *version) {
  rv_server_request *v = &r->view;
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->mc, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  char peer[INET6_ADDRSTRLEN] = "";
  const char *q = strchr(r->target, '?');
  size_t tl = strlen(r->target), ml = strlen(method), vl = strlen(version), pl;
  sizes z = { 0, 0, NULL, NULL };
  char *p;
  v->peer_port = 0;
  if (ci && ci->client_addr) {
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET) {
      const struct sockaddr_in *a = (const void *)sa;
      inet_ntop(AF_INET, &a->sin_addr, peer, sizeof peer);
      v->peer_port = ntohs(a->sin_port);
    } else if (sa->sa_family == AF_INET6) {
      const struct sockaddr_in6 *a = (const void *)sa;
      inet_ntop(AF_INET6, &a->sin6_addr, peer, sizeof peer);
      v->peer_port = ntohs(a->sin6_port);
    }
  }
  pl = strlen(peer);
  MHD_get_connection_values_n(r->mc, MHD_HEADER_KIND, count_header, &z);
  if (!(r->strings = malloc(z.bytes + tl + ml + vl + pl + 8))) return -1;
  if (z.n && !(r->headers = malloc(z.n * sizeof *r->headers))) return -1;
  p = r->strings;
  v->method = put(&p, method, ml);
  v->version = put(&p, version, vl);
  v->peer = put(&p, peer, pl);
  v->path = put(&p, r->target, q ? (size_t)(q - r->target) : tl);
  v->query = q ? put(&p, q + 1, tl - (size_t)(q - r->target) - 1) : NULL;
  z.h = r->headers;
  z.p = p;
  z.n = 0;
  MHD_get_connection_values_n(r->mc, MHD_HEADER_KIND, copy_header, &z);
  v->headers = r->headers;
  v->nheaders = z.n;
  free(r->target);
  r->target = NULL;
  return 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *mc, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
  rv_server *s = cls;
  req *r = *con_cls;
  (void)url;
  if (!r || s->stopping) return MHD_NO;
  switch (r->phase) {
  case P_HEAD: {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
    const char *cl = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    r->phase = P_BODY;
    if (ci && ci->header_size > s->lim.max_header_bytes)
      return refuse(s, r, MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE, s->r431);
    if (malformed(r, method)) return refuse(s, r, MHD_HTTP_BAD_REQUEST, s->r400);
    /* libmicrohttpd has checked that Content-Length is a number: refuse before reading it */
    if (cl && strtoull(cl, NULL, 10) > (unsigned long long)s->lim.max_body)
      return refuse(s, r, MHD_HTTP_CONTENT_TOO_LARGE, s->r413);
    return MHD_YES;
  }
  case P_BODY:
    if (*upload_data_size > 0) {        /* a chunk: keep it, or count it towards 413 */
      size_t n = *upload_data_size;
      *upload_data_size = 0;
      if (r->too_large) return MHD_YES;
      if (n > s->lim.max_body - r->body_len) {
        r->too_large = 1;
        free(r->body);
        r->body = NULL;
        r->body_len = r->body_cap = 0;
        return MHD_YES;
      }
      if (r->body_len + n + 1 > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap : 1024;
        char *p;
        while (cap < r->body_len + n + 1) cap *= 2;
        if (!(p = realloc(r->body, cap))) return MHD_NO;
        r->body = p;
        r->body_cap = cap;
      }
      memcpy(r->body + r->body_len, upload_data, n);
      r->body_len += n;
      return MHD_YES;
    }
    /* the whole request is here */
    if (r->too_large) return refuse(s, r, MHD_HTTP_CONTENT_TOO_LARGE, s->r413);
    if (s->npending >= (int)s->lim.max_pending)
      return refuse(s, r, MHD_HTTP_SERVICE_UNAVAILABLE, s->r503);
    if (make_view(r, method, version) != 0) return MHD_NO;
    slow_remove(s, r->c);
    if (!r->body && !(r->body = calloc(1, 1))) return MHD_NO;
    r->body[r->body_len] = '\0';
    r->view.body = r->body;
    r->view.body_len = r->body_len;
    r->id = r->view.id = ++s->next_id;
    r->phase = P_WAIT;
    r->queued_at = now_ms();
    r->qprev = s->ready_tail;       /* ready queue */
    if (s->ready_tail) s->ready_tail->qnext = r; else s->ready_head = r;
    s->ready_tail = r;
    s->nready++;
    r->pprev = s->pending_tail;     /* pending list */
    if (s->pending_tail) s->pending_tail->pnext = r; else s->pending_head = r;
    s->pending_tail = r;
    s->npending++;
    r->hnext = s->ids[r->id & (ID_BUCKETS - 1)];
    s->ids[r->id & (ID_BUCKETS - 1)] = r;
    MHD_suspend_connection(mc);     /* watched from the next run on, if still waiting */
    return MHD_YES;
  case P_ANSWER: {
    struct MHD_Response *resp = r->resp ? r->resp : s->r503;
    enum MHD_Result ok;
    r->phase = P_SENT;
    s->nsending++;
    ok = MHD_queue_response(mc, r->status, resp);
    if (r->resp) MHD_destroy_response(r->resp);   /* a queued one has its own reference */
    r->resp = NULL;
    return ok;
  }
  default:                          /* P_ABORT, or called again after a refusal */
    return MHD_NO;
  }
}

/* ---- the listening socket */

static int listen_on(const char *host, int port, int backlog, int *bound, char *err, size_t errlen) {
  struct sockaddr_storage ss;
  socklen_t len;
  char h[64];
  size_t hl;
  int fd, one = 1;
  memset(&ss, 0, sizeof ss);
  if (!host || !*host) host = "127.0.0.1";
  hl = strlen(host);
  if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') { host++; hl -= 2; }
  if (hl >= sizeof h) { snprintf(err, errlen, "not a numeric address: %s", host); return -1; }
  memcpy(h, host, hl);
  h[hl] = '\0';
  if (inet_pton(AF_INET, h, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    a->sin_family = AF_INET;
    a->sin_port = htons((unsigned short)port);
    len = sizeof *a;
  } else if (inet_pton(AF_INET6, h, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons((unsigned short)port);
    len = sizeof *a;
  } else {
    snprintf(err, errlen, "not a numeric IPv4 or IPv6 address: %s", h);
    return -1;
  }
  fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) { snprintf(err, errlen, "socket: %s", strerror(errno)); return -1; }
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (ss.ss_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, backlog) != 0) {
    snprintf(err, errlen, "cannot listen on %s port %d: %s", h, port, strerror(errno));
    close(fd);
    return -1;
  }
  len = sizeof ss;
  getsockname(fd, (struct sockaddr *)&ss, &len);
  *bound = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                          : ((struct sockaddr_in *)&ss)->sin_port);
  return fd;
}

static struct MHD_Response *static_response(const char *body, const char *extra_name,
                                            const char *extra_value) {
  struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)(uintptr_t)body,
                                                           MHD_RESPMEM_PERSISTENT);
  if (!r) return NULL;
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
  if (extra_name) MHD_add_response_header(r, extra_name, extra_value);
  return r;
}

rv_server *rv_server_new(const char *host, int port, const rv_server_limits *limits,
                         char *err, size_t errlen) {
  rv_server *s;
  const union MHD_DaemonInfo *di;
  struct epoll_event ev;
  size_t mem;
  const char *why;
  if (port < 0 || port > 65535) { snprintf(err, errlen, "port out of range: %d", port); return NULL; }
  if ((why = rv_mhd_unavailable()) != NULL) { snprintf(err, errlen, "%s", why); return NULL; }
  if (!(s = calloc(1, sizeof *s))) { snprintf(err, errlen, "out of memory"); return NULL; }
  s->epfd = -1;
  if (limits) s->lim = *limits; else rv_server_limits_init(&s->lim);
  if (s->lim.max_connections < 1) s->lim.max_connections = 1;
  if (s->lim.backlog < 1) s->lim.backlog = 1;
  mem = s->lim.connection_memory ? s->lim.connection_memory : 4 * s->lim.max_header_bytes;
  if (mem < 4096) mem = 4096;
  s->r400 = static_response("bad request\n", NULL, NULL);
  s->r413 = static_response("request body too large\n", NULL, NULL);
  s->r431 = static_response("request header fields too large\n", NULL, NULL);
  s->r503 = static_response("too many requests waiting\n", MHD_HTTP_HEADER_RETRY_AFTER, "1");
  if (!s->r400 || !s->r413 || !s->r431 || !s->r503) {
    snprintf(err, errlen, "out of memory");
    rv_server_free(s);
    return NULL;
  }
  if ((s->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0) {
    snprintf(err, errlen, "epoll_create1: %s", strerror(errno));
    rv_server_free(s);
    return NULL;
  }
  if ((s->listen_fd = listen_on(host, port, s->lim.backlog, &s->port, err, errlen)) < 0) {
    rv_server_free(s);
    return NULL;
  }
  s->d = MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME, 0, NULL, NULL,
                          on_request, s,
                          MHD_OPTION_LISTEN_SOCKET, (MHD_socket)s->listen_fd,
                          MHD_OPTION_CONNECTION_MEMORY_LIMIT, mem,
                          MHD_OPTION_CONNECTION_LIMIT, s->lim.max_connections,
                          MHD_OPTION_PER_IP_CONNECTION_LIMIT, s->lim.max_per_ip,
                          MHD_OPTION_CONNECTION_TIMEOUT, s->lim.idle_timeout_s,
                          MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                          MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
                          MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
                          MHD_OPTION_END);
  if (!s->d) {
    close(s->listen_fd);
    s->listen_fd = -1;
    snprintf(err, errlen, "libmicrohttpd could not start");
    rv_server_free(s);
    return NULL;
  }
  di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_EPOLL_FD);
  s->mhd_fd = di ? di->epoll_fd : -1;
  memset(&ev, 0, sizeof ev);
  ev.events = EPOLLIN;
  ev.data.ptr = NULL;               /* NULL: libmicrohttpd's set */
  if (s->mhd_fd < 0 || epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->mhd_fd, &ev) != 0) {
    snprintf(err, errlen, "epoll_ctl: %s", strerror(errno));
    rv_server_free(s);
    return NULL;
  }
  return s;
}

void rv_server_free(rv_server *s) {
  req *r;
  if (!s) return;
  s->stopping = 1;
  if (s->d) {
    /* libmicrohttpd must not be stopped with suspended connections: resume each waiting one
    ** (the handler is not called again: stopping closes them all) */
    while ((r = s->pending_head)) {
      unwait(s, r);
      r->phase = P_ABORT;
      MHD_resume_connection(r->mc);
    }
    MHD_stop_daemon(s->d);
  }
  if (s->epfd >= 0) close(s->epfd);
  if (s->r400) MHD_destroy_response(s->r400);
  if (s->r413) MHD_destroy_response(s->r413);
  if (s->r431) MHD_destroy_response(s->r431);
  if (s->r503) MHD_destroy_response(s->r503);
  free(s->dropped);
  free(s);
}

int rv_server_port(const rv_server *s) {
  return s->port;
}

/* the first deadline of ours, in ms from now (-1: none) */
static long our_timeout(rv_server *s, double now) {
  double at = -1;
  if (s->slow_head) at = s->slow_head->since + (double)s->lim.request_timeout_ms;
  if (s->pending_head && s->lim.answer_timeout_ms > 0) {
    double a = s->pending_head->queued_at + (double)s->lim.answer_timeout_ms;
    if (at < 0 || a < at) at = a;
  }
  if (at < 0) return -1;
  return at <= now ? 0 : (long)(at - now) + 1;
}

long rv_server_timeout(rv_server *s) {
  MHD_UNSIGNED_LONG_LONG t;
  long ours, mhd = -1;
  /* requests read by the last run wait for the caller: no descriptor will say so */
  if (s->kick || s->ready_head) return 0;
  if (s->d && MHD_get_timeout(s->d, &t) == MHD_YES) mhd = t > 0x7fffffffULL ? 0x7fffffffL : (long)t;
  ours = our_timeout(s, now_ms());
  if (ours < 0) return mhd;
  if (mhd < 0) return ours;
  return ours < mhd ? ours : mhd;
}

int rv_server_fds(rv_server *s, int *fds, short *events, int max) {
  if (max < 1) return 0;
  fds[0] = s->epfd;
  events[0] = POLLIN;
  return 1;
}

/* Watches the requests that have waited since the last run, for their client leaving.
** Those are the pending list's tail (it is in the order they came): back from it to the
** first one tried before. */
static void watch_waiting(rv_server *s) {
  req *r;
  for (r = s->pending_tail; r && !r->watch_tried; r = r->pprev) {
    struct epoll_event ev;
    r->watch_tried = 1;
    if (!r->c || r->c->fd < 0) continue;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLRDHUP;
    ev.data.ptr = r;
    if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, r->c->fd, &ev) == 0) r->watched = 1;
  }
}

/* clients that left while their request waited (EPOLLRDHUP on a suspended socket) */
static void take_departures(rv_server *s) {
  struct epoll_event ev[WATCH_EVENTS];
  int n, i, rounds = 0;
  do {
    n = epoll_wait(s->epfd, ev, WATCH_EVENTS, 0);
    for (i = 0; i < n; i++)
      if (ev[i].data.ptr) abort_wait(s, ev[i].data.ptr);   /* unwatched: no second event */
  } while (n == WATCH_EVENTS && ++rounds < 16);
}

static void enforce_deadlines(rv_server *s) {
  double now = now_ms();
  while (s->slow_head && now - s->slow_head->since >= (double)s->lim.request_timeout_ms) {
    conn *c = s->slow_head;
    slow_remove(s, c);
    /* libmicrohttpd reads the end of the stream and closes the connection itself */
    if (c->fd >= 0) shutdown(c->fd, SHUT_RDWR);
    s->kick = 1;
  }
  while (s->pending_head && s->lim.answer_timeout_ms > 0
         && now - s->pending_head->queued_at >= (double)s->lim.answer_timeout_ms) {
    req *r = s->pending_head;
    unwait(s, r);
    if (r->taken) note_dropped(s, r->id);
    r->status = MHD_HTTP_SERVICE_UNAVAILABLE;
    r->resp = NULL;                 /* NULL: the shared 503 */
    r->phase = P_ANSWER;
    s->kick = 1;
    MHD_resume_connection(r->mc);
  }
}

int rv_server_run(rv_server *s) {
  int i;
  if (!s->d) return s->nready;
  watch_waiting(s);
  take_departures(s);
  enforce_deadlines(s);
  /* twice at most: a connection resumed or cut above is handled in this call */
  for (i = 0; i < 2; i++) {
    s->kick = 0;
    MHD_run(s->d);
    if (!s->kick) break;
  }
  s->kick = 0;
  return s->nready;
}

const rv_server_request *rv_server_next(rv_server *s) {
  req *r = s->ready_head;
  if (s->last) {                    /* the previous one was copied by now */
    release_view(s->last);
    s->last = NULL;
  }
  if (!r) return NULL;
  ready_remove(s, r);
  r->taken = 1;
  s->last = r;
  return &r->view;
}

int rv_server_respond(rv_server *s, uint64_t id, int status, const rv_server_header *headers,
                      size_t nheaders, const char *body, size_t body_len) {
  req *r = find(s, id);
  struct MHD_Response *resp;
  size_t i, j;
  if (!r || r->phase != P_WAIT) return RV_SERVER_GONE;
  if (status < 200 || status > 999 || nheaders > RV_SERVER_MAX_RESPONSE_HEADERS)
    return RV_SERVER_INVALID;
  for (i = 0; i < nheaders; i++) {
    const rv_server_header *h = &headers[i];
    if (h->name_len == 0 || h->value_len == 0 || strlen(h->name) != h->name_len
        || strlen(h->value) != h->value_len)
      return RV_SERVER_INVALID;
    for (j = 0; j < h->name_len; j++)
      if (!token_char((unsigned char)h->name[j])) return RV_SERVER_INVALID;
    if (strpbrk(h->value, "\r\n")) return RV_SERVER_INVALID;
  }
  resp = MHD_create_response_from_buffer(body_len, (void *)(uintptr_t)(body ? body : ""),
                                         MHD_RESPMEM_MUST_COPY);
  if (!resp) return RV_SERVER_NOMEM;
  for (i = 0; i < nheaders; i++)
    if (MHD_add_response_header(resp, headers[i].name, headers[i].value) != MHD_YES) {
      MHD_destroy_response(resp);
      return RV_SERVER_INVALID;     /* one libmicrohttpd sets itself: Content-Length, ... */
    }
  if (s->closing) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
  unwait(s, r);
  r->resp = resp;
  r->status = (unsigned)status;
  r->phase = P_ANSWER;
  s->kick = 1;
  MHD_resume_connection(r->mc);
  return RV_SERVER_OK;
}

uint64_t rv_server_next_dropped(rv_server *s) {
  if (s->dropped_at >= s->ndropped) {
    s->dropped_at = s->ndropped = 0;
    return 0;
  }
  return s->dropped[s->dropped_at++];
}

int rv_server_add_socket(rv_server *s, int fd) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  memset(&ss, 0, sizeof ss);
  if (getpeername(fd, (struct sockaddr *)&ss, &len) != 0 || len == 0) {
    ss.ss_family = AF_UNIX;         /* a socketpair has no name: an address without a key */
    len = sizeof ss.ss_family;
  }
  if (!s->d || s->closing) { close(fd); return -1; }
  s->kick = 1;
  return MHD_add_connection(s->d, fd, (struct sockaddr *)&ss, len) == MHD_YES ? 0 : -1;
}

void rv_server_shutdown(rv_server *s) {
  MHD_socket fd;
  if (s->closing || !s->d) return;
  s->closing = 1;
  fd = MHD_quiesce_daemon(s->d);
  if (fd != MHD_INVALID_SOCKET) close(fd);
  s->listen_fd = -1;
}

int rv_server_busy(const rv_server *s) { return s->nbusy; }
int rv_server_sending(const rv_server *s) { return s->nsending; }
int rv_server_connections(const rv_server *s) { return s->nconn; }
