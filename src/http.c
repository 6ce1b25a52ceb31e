/*
** HTTP over libcurl's multi interface. One easy handle per call, removed when the call
** ends; the multi handle keeps the connections, so calls to the same host reuse them.
** libcurl's callbacks only append to C buffers or note sockets and deadlines: nothing here
** calls back into a caller.
**
** libcurl is driven through its socket interface: it tells us which sockets to watch
** (on_socket, kept in an epoll set) and when it next needs a timeout run (on_timer), and
** curl_multi_socket_action then touches only the transfers with something to do.
** curl_multi_perform would walk every transfer on each poll, which with thousands in
** flight makes a run quadratic.
**
** Calls are spread over several multi handles ("shards") of at most SHARD_MAX transfers.
** libcurl before 8.x walks every connection of a multi handle when a transfer looks for a
** connection to reuse and again when a handle is removed, so one multi handle with 10,000
** connections is quadratic too. A new call goes to the first shard with room: a client
** with few calls at a time uses one multi handle and reuses its connections as before.
**
** What a reply can make us hold (http.h names our limits). libcurl 7.88 caps by itself: a
** header or status line at CURL_MAX_HTTP_HEADER (100 KiB; over it the transfer ends with
** CURLE_OUT_OF_MEMORY), a trailer line at 4 KiB (CURLE_RECV_ERROR, "Out of memory in
** chunked-encoding"), a chunk size at 16 hex digits; Debian's 7.88.1 (the CVE-2023-38039
** fix) and libcurl >= 8.3 also all the header bytes of a transfer at 300 KiB. It stores
** every header and trailer line of every response of a transfer in a list (curl_easy_header)
** freed only when the handle starts its next transfer, and neither counts nor caps trailers:
** a chunked body followed by trailers without end grew the process past 1 GB in 10 s. So
** on_header counts each response's fields and ends the transfer at one over the limit;
** complete() reports libcurl's caps as RV_HTTP_TOO_LARGE too. Chunk extensions and the body
** of a redirect libcurl follows are read and dropped without being held: they cost time, up
** to the call's timeout, not memory.
**
** Nothing is decoded. We send no Accept-Encoding, so libcurl leaves a Content-Encoding
** alone; but 7.88 decodes a Transfer-Encoding gzip or deflate nobody asked for (8.x ignores
** it), counting only what comes out: a stream of empty deflate blocks ran to the timeout.
** CURLOPT_HTTP_CONTENT_DECODING 0 turns that off, so the body limit counts what arrived.
*/
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <errno.h>
#include <stdint.h>
#include <poll.h>
#include <unistd.h>
#include <sys/epoll.h>

#include <curl/curl.h>

#include "buf.h"
#include "http.h"

#define POOL_MAX 64              /* idle easy handles a client keeps for its next calls */
#define MAX_EVENTS 256           /* ready sockets taken per epoll_wait */
#define MAX_ROUNDS 64            /* epoll_wait rounds per poll: bounded even under a flood */
#define SHARD_MAX 256            /* transfers per multi handle (see above) */
#define CURL_TRAILER_LINE 4096   /* libcurl 7.88's cap on a trailer line (DYN_H1_TRAILER) */

typedef struct shard {
  CURLM *multi;
  struct rv_http *h;
  unsigned idx;                   /* in h->shards, tagged onto its sockets' epoll events */
  int running;
  double timer_at;                /* monotonic ms when libcurl wants a timeout run; <0: none */
} shard;

struct rv_http {
  int epfd;                       /* the sockets of every shard */
  shard **shards;                 /* created as needed, freed with the client */
  unsigned nshards;
  rv_http_call *calls;            /* running, doubly linked */
  int running;
  CURL *pool[POOL_MAX];           /* finished easy handles, reset and ready */
  int npool;
  unsigned long completed;        /* calls finished so far: callers skip scans when unchanged */
  rv_http_call *done_head, *done_tail;   /* finished, not yet taken by rv_http_next_done */
  /* the last URL that passed check_url: its text, its parse (copied for each call to it)
  ** and that normalised. A flow calls the same few URLs again and again. */
  char *url_text, *url_norm;
  CURLU *url_uh;
};

struct rv_http_call {
  rv_http *h;                     /* NULL once done or detached */
  shard *sh;                      /* whose multi handle runs the transfer */
  CURL *easy;
  CURLU *uh;                      /* the URL as check_url parsed it, libcurl's (CURLOPT_CURLU) */
  struct curl_slist *headers;
  rv_http_call *next, *prev;
  rv_http *dq;                    /* whose done queue holds the call; NULL: none */
  rv_http_call *dnext, *dprev;
  rv_buf body;
  size_t max_body;
  size_t max_header_bytes;
  long max_header_lines;
  int limit;                      /* which limit ended the transfer (LIMIT_*) */
  int phase;                      /* where on_header is in the current response (PHASE_*) */
  int trailers;                   /* the response's trailers have begun */
  size_t head_bytes;              /* the current response's fields so far (http.h) */
  long head_lines;
  double started;                 /* monotonic ms */
  char *content_type, *url;
  rv_buf fields;                  /* the final response's headers (rv_http_result.headers) */
  char status_line[64];           /* the last response's, as the server sent it (cut) */
  rv_http_result res;
  char errbuf[CURL_ERROR_SIZE];
};

/* ours (http.h), then libcurl's: a header line, a trailer line, all header bytes */
enum { LIMIT_NONE, LIMIT_BODY, LIMIT_HEADER_BYTES, LIMIT_HEADER_LINES,
       LIMIT_CURL_LINE, LIMIT_CURL_TRAILER_LINE, LIMIT_CURL_HEADERS };
enum { PHASE_STATUS, PHASE_HEAD, PHASE_BODY };   /* status line next, header lines, body/trailers */

static const char *const REASONS[] = {
  NULL, "timeout", "too_large", "connect_failed", "tls", "bad_url", "protocol",
  "too_many_redirects", "transport", "out_of_memory"
};

const char *rv_http_reason_name(int reason) {
  if (reason < 0 || reason >= (int)(sizeof REASONS / sizeof REASONS[0])) return "transport";
  return REASONS[reason];
}

void rv_http_limits_init(rv_http_limits *l) {
  l->timeout_ms = RV_HTTP_TIMEOUT_MS;
  l->max_body = RV_HTTP_MAX_BODY;
  l->max_redirects = RV_HTTP_MAX_REDIRECTS;
  l->max_header_bytes = RV_HTTP_MAX_HEADER_BYTES;
  l->max_header_lines = RV_HTTP_MAX_HEADER_LINES;
  l->verify_tls = 1;
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* libcurl: watch s for what (CURL_POLL_IN/OUT/INOUT), or stop (CURL_POLL_REMOVE) */
static int on_socket(CURL *e, curl_socket_t s, int what, void *ud, void *sockp) {
  shard *sh = ud;
  rv_http *h = sh->h;
  struct epoll_event ev;
  (void)e;
  if (what == CURL_POLL_REMOVE) {
    /* ENOENT/EBADF: already gone (a closed descriptor leaves the set by itself) */
    epoll_ctl(h->epfd, EPOLL_CTL_DEL, s, NULL);
    return 0;
  }
  memset(&ev, 0, sizeof ev);
  ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0u) | (what & CURL_POLL_OUT ? EPOLLOUT : 0u);
  ev.data.u64 = (uint64_t)sh->idx << 32 | (uint32_t)s;
  /* sockp is set (curl_multi_assign) once the socket is in the set: one syscall per change.
  ** The fallbacks cover a descriptor number the set holds, or has lost, unexpectedly. */
  if (!sockp) {
    if (epoll_ctl(h->epfd, EPOLL_CTL_ADD, s, &ev) != 0 && errno == EEXIST)
      epoll_ctl(h->epfd, EPOLL_CTL_MOD, s, &ev);
    curl_multi_assign(sh->multi, s, sh);
  } else if (epoll_ctl(h->epfd, EPOLL_CTL_MOD, s, &ev) != 0 && errno == ENOENT) {
    epoll_ctl(h->epfd, EPOLL_CTL_ADD, s, &ev);
  }
  return 0;
}

/* libcurl: run a timeout action in ms ms (-1: no timer); only noted, run by rv_http_poll */
static int on_timer(CURLM *m, long ms, void *ud) {
  shard *sh = ud;
  (void)m;
  sh->timer_at = ms < 0 ? -1 : now_ms() + (double)ms;
  return 0;
}

/* the first shard with room for one more transfer, made if there is none; NULL: no memory */
static shard *shard_for_call(rv_http *h) {
  shard *sh, **grown;
  unsigned i;
  for (i = 0; i < h->nshards; i++)
    if (h->shards[i]->running < SHARD_MAX) return h->shards[i];
  if (!(grown = realloc(h->shards, (h->nshards + 1) * sizeof *grown))) return NULL;
  h->shards = grown;
  if (!(sh = calloc(1, sizeof *sh))) return NULL;
  if (!(sh->multi = curl_multi_init())) { free(sh); return NULL; }
  sh->h = h;
  sh->idx = h->nshards;
  sh->timer_at = -1;
  curl_multi_setopt(sh->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
  curl_multi_setopt(sh->multi, CURLMOPT_SOCKETDATA, sh);
  curl_multi_setopt(sh->multi, CURLMOPT_TIMERFUNCTION, on_timer);
  curl_multi_setopt(sh->multi, CURLMOPT_TIMERDATA, sh);
  h->shards[h->nshards++] = sh;
  return sh;
}

/* libcurl initialised, once per process, by the first call (not the first client: an engine
** makes a client whether or not its flows call anything, and initialising libcurl is also
** what loads it, src/curl_lazy.c). 1 ready, 0 it cannot be loaded or initialised. */
static int curl_ready(void) {
  static int state;            /* 0 not tried, 1 ready, -1 failed */
  if (!state)                  /* libcurl >= 7.84 makes this thread-safe; it runs once anyway */
    state = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 1 : -1;
  return state > 0;
}

rv_http *rv_http_new(char *err, size_t errlen) {
  rv_http *h;
  h = calloc(1, sizeof *h);
  if (!h) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  if ((h->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0) {
    snprintf(err, errlen, "epoll_create1: %s", strerror(errno));
    free(h);
    return NULL;
  }
  return h;                          /* the first shard comes with the first call */
}

static void finish(rv_http_call *c, int reason, const char *fmt, const char *detail) {
  c->res.done = 1;
  c->res.reason = reason;
  c->res.elapsed_ms = now_ms() - c->started;
  if (fmt) snprintf(c->res.message, sizeof c->res.message, fmt, detail ? detail : "");
  if (reason != RV_HTTP_OK) {        /* a failed call carries no partial response */
    c->res.status = 0;
    c->res.content_type = "";
    c->res.body = "";
    c->res.body_len = 0;
    c->res.headers = "";
    c->res.nheaders = 0;
  }
}

/* a call just finished: count it and queue it for rv_http_next_done */
static void queue_done(rv_http *h, rv_http_call *c) {
  h->completed++;
  c->dq = h;
  c->dnext = NULL;
  c->dprev = h->done_tail;
  if (h->done_tail) h->done_tail->dnext = c;
  else h->done_head = c;
  h->done_tail = c;
}

static void dequeue_done(rv_http_call *c) {
  rv_http *h = c->dq;
  if (!h) return;
  if (c->dprev) c->dprev->dnext = c->dnext;
  else h->done_head = c->dnext;
  if (c->dnext) c->dnext->dprev = c->dprev;
  else h->done_tail = c->dprev;
  c->dq = NULL;
  c->dnext = c->dprev = NULL;
}

rv_http_call *rv_http_next_done(rv_http *h) {
  rv_http_call *c = h->done_head;
  if (c) dequeue_done(c);
  return c;
}

static void unlink_call(rv_http_call *c) {
  rv_http *h = c->h;
  if (!h) return;
  if (c->prev) c->prev->next = c->next;
  else h->calls = c->next;
  if (c->next) c->next->prev = c->prev;
  c->next = c->prev = NULL;
  if (c->easy) {
    curl_multi_remove_handle(c->sh->multi, c->easy);
    /* a handle is costly to make: keep it for the next call, unless a reply hit a limit
    ** (it still holds that reply's fields, and a buffer as long as its longest line).
    ** It keeps its options: the next call sets every one that changes (rv_http_start). */
    if (h->npool < POOL_MAX && c->limit == LIMIT_NONE) {
      curl_easy_setopt(c->easy, CURLOPT_CURLU, (CURLU *)NULL);
      h->pool[h->npool++] = c->easy;
    } else curl_easy_cleanup(c->easy);
    c->easy = NULL;
  }
  if (c->uh) curl_url_cleanup(c->uh);
  c->uh = NULL;
  h->running--;
  c->sh->running--;
  c->h = NULL;
  c->sh = NULL;
}

void rv_http_free(rv_http *h) {
  if (!h) return;
  while (h->calls) {
    rv_http_call *c = h->calls;
    unlink_call(c);
    finish(c, RV_HTTP_TRANSPORT, "the client was closed before the call ended", NULL);
  }
  while (h->done_head) dequeue_done(h->done_head);   /* the calls outlive their client */
  while (h->npool) curl_easy_cleanup(h->pool[--h->npool]);
  while (h->nshards) {               /* may still call on_socket: the set goes after */
    shard *sh = h->shards[--h->nshards];
    curl_multi_cleanup(sh->multi);
    free(sh);
  }
  free(h->shards);
  free(h->url_text);
  if (h->url_norm) curl_free(h->url_norm);
  if (h->url_uh) curl_url_cleanup(h->url_uh);
  close(h->epfd);
  free(h);
}

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
  rv_http_call *c = ud;
  size_t len = size * n;
  if (len > c->max_body - c->body.n) {   /* the first byte over the limit ends the transfer */
    c->limit = LIMIT_BODY;
    return 0;
  }
  rv_buf_add(&c->body, p, len);
  return c->body.oom ? 0 : len;
}

/* libcurl: a request (the first, a redirect's, a retry's) is about to be sent, so what
** arrives next is a new response */
static int on_request(void *ud, char *ip, char *local_ip, int port, int local_port) {
  rv_http_call *c = ud;
  (void)ip; (void)local_ip; (void)port; (void)local_port;
  c->phase = PHASE_STATUS;
  c->trailers = 0;
  c->head_bytes = 0;
  c->head_lines = 0;
  return CURL_PREREQFUNC_OK;
}

/* libcurl: one whole line of a response's fields: its status line, a header line, the
** blank line ending the headers, or (after the body) a trailer line. Counted against the
** limits; every response's status line is kept (a redirect's, then the final one's). */
static size_t on_header(char *p, size_t size, size_t n, void *ud) {
  rv_http_call *c = ud;
  size_t len = size * n;
  c->head_bytes += len;                 /* each line is at most 100 KiB: no overflow */
  if (c->phase == PHASE_STATUS) {
    size_t k = len < sizeof c->status_line - 1 ? len : sizeof c->status_line - 1;
    memcpy(c->status_line, p, k);
    c->status_line[k] = '\0';
    c->phase = PHASE_HEAD;
  } else if (c->phase == PHASE_HEAD && (p[0] == '\r' || p[0] == '\n')) {
    /* libcurl's reading of this status decides whether another response follows: a 1xx
    ** but 101 (libcurl, not having asked to switch, takes that one as the final one) */
    long code = 0;
    curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &code);
    c->phase = code >= 100 && code < 200 && code != 101 ? PHASE_STATUS : PHASE_BODY;
  } else {
    if (c->phase == PHASE_BODY) c->trailers = 1;
    c->head_lines++;
  }
  if (c->head_bytes > c->max_header_bytes) c->limit = LIMIT_HEADER_BYTES;
  else if (c->head_lines > c->max_header_lines) c->limit = LIMIT_HEADER_LINES;
  return c->limit ? 0 : len;
}

/* "HTTP/1.1 200 OK", "HTTP/2 204": a version, one space, exactly three digits, then a
** space or the line's end. libcurl reads some malformed lines anyway (an unbounded number
** after "HTTP/2", or 200 for a line it cannot read at all), so the line itself decides. */
static int status_line_ok(const char *s, long status) {
  const char *p = s + 5;
  long code;
  if (strncmp(s, "HTTP/", 5) != 0 || !isdigit((unsigned char)*p)) return 0;
  p++;
  if (*p == '.') {
    if (!isdigit((unsigned char)p[1])) return 0;
    p += 2;
  }
  if (*p++ != ' ') return 0;
  if (!isdigit((unsigned char)p[0]) || !isdigit((unsigned char)p[1]) || !isdigit((unsigned char)p[2])) return 0;
  if (p[3] != ' ' && p[3] != '\r' && p[3] != '\n' && p[3] != '\0') return 0;
  code = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
  return code >= 100 && code == status;
}

/* http and https only, before anything is sent: the parsed URL, which libcurl then takes as
** it is (CURLOPT_CURLU) instead of parsing the text again, or NULL (msg says why) */
static CURLU *check_url(const char *url, char *msg, size_t msglen) {
  CURLU *u;
  char *scheme = NULL;
  int ok = 0;
  if (!url || !*url) { snprintf(msg, msglen, "no URL"); return NULL; }
  if (strlen(url) > RV_HTTP_MAX_URL) { snprintf(msg, msglen, "URL longer than %d bytes", RV_HTTP_MAX_URL); return NULL; }
  if (!(u = curl_url())) { snprintf(msg, msglen, "out of memory"); return NULL; }
  if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
    snprintf(msg, msglen, "not a valid URL: %.200s", url);
  else if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK || !scheme)
    snprintf(msg, msglen, "URL has no scheme: %.200s", url);
  else if (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0)
    snprintf(msg, msglen, "only http and https URLs are allowed, not %.40s", scheme);
  else ok = 1;
  curl_free(scheme);
  if (ok) return u;
  curl_url_cleanup(u);
  return NULL;
}

static char *dup_str(const char *s) {
  size_t n = strlen(s ? s : "");
  char *d = malloc(n + 1);
  if (d) memcpy(d, s ? s : "", n + 1);
  return d;
}

/* check_url, or a copy of the last URL's parse when url is the same text; NULL: msg says
** why. The URL's normalised text, libcurl's effective URL when nothing redirects (see
** complete), goes to c->url. */
static CURLU *parsed_url(rv_http *h, rv_http_call *c, const char *url) {
  CURLU *u, *keep = NULL;
  char *norm = NULL, *text = NULL;
  if (h->url_text && strcmp(h->url_text, url) == 0 && (u = curl_url_dup(h->url_uh))) {
    c->url = dup_str(h->url_norm);
    return u;
  }
  if (!(u = check_url(url, c->res.message, sizeof c->res.message))) return NULL;
  if (curl_url_get(u, CURLUPART_URL, &norm, 0) != CURLUE_OK || !norm) return u;   /* complete asks libcurl */
  c->url = dup_str(norm);
  if ((keep = curl_url_dup(u)) && (text = dup_str(url))) {
    free(h->url_text);
    if (h->url_norm) curl_free(h->url_norm);
    if (h->url_uh) curl_url_cleanup(h->url_uh);
    h->url_text = text, h->url_norm = norm, h->url_uh = keep;
    return u;
  }
  if (keep) curl_url_cleanup(keep);
  curl_free(norm);
  return u;
}

rv_http_call *rv_http_start(rv_http *h, const rv_http_request *req) {
  rv_http_call *c = calloc(1, sizeof *c);
  shard *sh;
  CURL *e;
  size_t i;
  int post, fresh;
  if (!c) return NULL;
  rv_buf_init(&c->body);
  c->started = now_ms();
  c->max_body = req->limits.max_body;
  c->max_header_bytes = req->limits.max_header_bytes;
  c->max_header_lines = req->limits.max_header_lines;
  c->res.content_type = "";
  c->res.body = "";
  c->res.url = "";
  c->res.headers = "";
  rv_buf_init(&c->fields);
  if (!curl_ready()) {
    finish(c, RV_HTTP_TRANSPORT, "libcurl could not be loaded or initialised", NULL);
    queue_done(h, c);
    return c;
  }
  if (!(c->uh = parsed_url(h, c, req->url))) {
    finish(c, RV_HTTP_BAD_URL, NULL, NULL);
    queue_done(h, c);                /* finished too: a caller waiting for the count sees it */
    return c;
  }
  post = req->method && strcasecmp(req->method, "POST") == 0;
  fresh = !h->npool;
  c->easy = e = h->npool ? h->pool[--h->npool] : curl_easy_init();
  if (!e) goto nomem;
  c->headers = curl_slist_append(NULL, "Expect:");     /* no 100-continue round trip */
  for (i = 0; c->headers && i < req->nheaders; i++) {
    struct curl_slist *l = curl_slist_append(c->headers, req->headers[i]);
    if (!l) { curl_slist_free_all(c->headers); c->headers = NULL; }
    c->headers = l;
  }
  if (!c->headers) goto nomem;
  /* what every call sets alike: once per handle (a pooled one has them from its first call) */
  if (fresh) {
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_HTTP_CONTENT_DECODING, 0L);   /* see the top of this file */
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, on_request);
  }
  /* the rest changes from call to call: set every time */
  curl_easy_setopt(e, CURLOPT_URL, req->url);
  curl_easy_setopt(e, CURLOPT_CURLU, c->uh);
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, req->limits.max_redirects > 0 ? 1L : 0L);
  curl_easy_setopt(e, CURLOPT_MAXREDIRS, req->limits.max_redirects);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, req->limits.timeout_ms);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, req->limits.timeout_ms);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, req->limits.verify_tls ? 1L : 0L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, req->limits.verify_tls ? 2L : 0L);
  curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)req->limits.max_body);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->headers);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, c);
  curl_easy_setopt(e, CURLOPT_PREREQDATA, c);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->errbuf);
  curl_easy_setopt(e, CURLOPT_PRIVATE, c);
  if (post) {
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, req->body ? req->body : "");
  } else {                            /* no body of an earlier POST on this handle */
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)-1);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, (char *)NULL);
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
  }
  if (!(sh = shard_for_call(h)) || curl_multi_add_handle(sh->multi, e) != CURLM_OK) goto nomem;
  c->h = h;
  c->sh = sh;
  sh->running++;
  c->next = h->calls;
  if (h->calls) h->calls->prev = c;
  h->calls = c;
  h->running++;
  return c;
nomem:
  if (c->easy) curl_easy_cleanup(c->easy);
  c->easy = NULL;
  curl_slist_free_all(c->headers);
  c->headers = NULL;
  if (c->uh) curl_url_cleanup(c->uh);
  c->uh = NULL;
  finish(c, RV_HTTP_NOMEM, "out of memory", NULL);
  queue_done(h, c);
  return c;
}

/* Which of libcurl's caps ended the transfer, if one did. It says so only in words: a line
** over its cap in a response's head is CURLE_OUT_OF_MEMORY with no message (a real lack of
** memory there, after bytes arrived, reads the same and is taken for it); over its cap on a
** trailer line, CURLE_RECV_ERROR "Out of memory in chunked-encoding"; over 300 KiB of
** headers (Debian's 7.88.1, libcurl >= 8.3), CURLE_RECV_ERROR "Too large response headers". */
static int curl_limit_of(rv_http_call *c, CURLcode code) {
  curl_off_t first_byte = 0;
  if (code == CURLE_OUT_OF_MEMORY && c->phase != PHASE_BODY && !c->body.oom &&
      curl_easy_getinfo(c->easy, CURLINFO_STARTTRANSFER_TIME_T, &first_byte) == CURLE_OK && first_byte > 0)
    return LIMIT_CURL_LINE;
  if (code == CURLE_RECV_ERROR && strncmp(c->errbuf, "Too large response headers", 26) == 0)
    return LIMIT_CURL_HEADERS;
  if (code == CURLE_RECV_ERROR && c->phase == PHASE_BODY &&
      strncmp(c->errbuf, "Out of memory in chunked-encoding", 33) == 0)
    return LIMIT_CURL_TRAILER_LINE;
  return LIMIT_NONE;
}

static int reason_of(rv_http_call *c, CURLcode code) {
  if (c->limit) return RV_HTTP_TOO_LARGE;
  switch (code) {
    case CURLE_OK: return RV_HTTP_OK;
    case CURLE_OPERATION_TIMEDOUT: return RV_HTTP_TIMEOUT;
    case CURLE_FILESIZE_EXCEEDED: return RV_HTTP_TOO_LARGE;
    case CURLE_WRITE_ERROR: return c->body.oom ? RV_HTTP_NOMEM : RV_HTTP_TRANSPORT;
    case CURLE_COULDNT_CONNECT: case CURLE_COULDNT_RESOLVE_HOST: case CURLE_COULDNT_RESOLVE_PROXY:
      return RV_HTTP_CONNECT;
    case CURLE_SSL_CONNECT_ERROR: case CURLE_PEER_FAILED_VERIFICATION: case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER: case CURLE_SSL_CACERT_BADFILE: case CURLE_USE_SSL_FAILED:
    case CURLE_SSL_ENGINE_NOTFOUND: case CURLE_SSL_ENGINE_SETFAILED: case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CRL_BADFILE: case CURLE_SSL_ISSUER_ERROR: case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS: case CURLE_SSL_CLIENTCERT:
      return RV_HTTP_TLS;
    case CURLE_URL_MALFORMAT: return RV_HTTP_BAD_URL;
    /* a redirect to another scheme (the URL itself was checked), or a reply that is not
    ** HTTP (libcurl says so for HTTP/0.9 and for a status it cannot read) */
    case CURLE_UNSUPPORTED_PROTOCOL: case CURLE_WEIRD_SERVER_REPLY: return RV_HTTP_PROTOCOL;
    case CURLE_TOO_MANY_REDIRECTS: return RV_HTTP_REDIRECTS;
    case CURLE_OUT_OF_MEMORY: return RV_HTTP_NOMEM;
    default: return RV_HTTP_TRANSPORT;
  }
}

/* names the limit a reply went over, and the number */
static void too_large_message(rv_http_call *c) {
  char *m = c->res.message;
  size_t mlen = sizeof c->res.message;
  const char *what = c->trailers ? "reply headers and trailers" : "reply headers";
  switch (c->limit) {
    case LIMIT_HEADER_BYTES: snprintf(m, mlen, "%s over %zu bytes", what, c->max_header_bytes); break;
    case LIMIT_HEADER_LINES: snprintf(m, mlen, "%s over %ld lines", what, c->max_header_lines); break;
    case LIMIT_CURL_LINE:
      snprintf(m, mlen, "a reply header line over %d bytes (libcurl's limit)", CURL_MAX_HTTP_HEADER);
      break;
    case LIMIT_CURL_TRAILER_LINE:
      snprintf(m, mlen, "a reply trailer line over %d bytes (libcurl's limit)", CURL_TRAILER_LINE);
      break;
    case LIMIT_CURL_HEADERS: snprintf(m, mlen, "%.200s (libcurl's limit)", c->errbuf); break;
    default: snprintf(m, mlen, "response body larger than %zu bytes", c->max_body);   /* or its Content-Length */
  }
}

/* The final response's header fields (libcurl's header API: the last request's headers,
** trailers and 1xx responses left out) into c->fields as "name\0value\0" pairs. */
static void collect_fields(rv_http_call *c) {
  struct curl_header *prev = NULL, *hd;
  while ((hd = curl_easy_nextheader(c->easy, CURLH_HEADER, -1, prev)) != NULL) {
    rv_buf_add(&c->fields, hd->name, strlen(hd->name) + 1);
    rv_buf_add(&c->fields, hd->value, strlen(hd->value) + 1);
    c->res.nheaders++;
    prev = hd;
  }
  c->res.headers = c->fields.p ? c->fields.p : "";
}

static void complete(rv_http_call *c, CURLcode code) {
  CURL *e = c->easy;
  long status = 0, redirects = 0;
  char *ct = NULL, *url = NULL;
  int reason;
  if (!c->limit) c->limit = curl_limit_of(c, code);
  reason = reason_of(c, code);
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_getinfo(e, CURLINFO_CONTENT_TYPE, &ct);
  curl_easy_getinfo(e, CURLINFO_REDIRECT_COUNT, &redirects);
  c->content_type = dup_str(ct);
  /* libcurl's effective URL is the text it parsed, normalised, or a redirect's target. It
  ** parsed nothing here (CURLOPT_CURLU), so without a redirect it is ours (parsed_url). */
  if (redirects != 0 || !c->url) {
    free(c->url);
    curl_easy_getinfo(e, CURLINFO_EFFECTIVE_URL, &url);
    c->url = dup_str(url);
  }
  if (reason == RV_HTTP_OK) collect_fields(c);
  if (!c->content_type || !c->url || c->body.oom || c->fields.oom) reason = RV_HTTP_NOMEM;
  if (reason == RV_HTTP_OK && !status_line_ok(c->status_line, status)) {
    size_t k = strcspn(c->status_line, "\r\n");
    snprintf(c->res.message, sizeof c->res.message, "malformed status line from the server: \"%.*s\"",
             (int)(k > 60 ? 60 : k), c->status_line);
    for (k = 0; c->res.message[k]; k++)          /* bytes from outside: keep the message printable */
      if ((unsigned char)c->res.message[k] < 0x20 || (unsigned char)c->res.message[k] == 0x7f) c->res.message[k] = '?';
    reason = RV_HTTP_PROTOCOL;                  /* finish() drops the status, body and type */
  }
  c->res.status = status;
  c->res.redirects = redirects;
  c->res.content_type = c->content_type ? c->content_type : "";
  c->res.url = c->url ? c->url : "";
  c->res.body = c->body.p ? c->body.p : "";
  c->res.body_len = c->body.n;
  unlink_call(c);
  switch (reason) {
    case RV_HTTP_OK: finish(c, reason, NULL, NULL); break;
    case RV_HTTP_PROTOCOL:
      if (c->res.message[0]) { finish(c, reason, NULL, NULL); break; }
      finish(c, reason, "%s", c->errbuf[0] ? c->errbuf : curl_easy_strerror(code));
      break;
    case RV_HTTP_TOO_LARGE:
      too_large_message(c);
      finish(c, reason, NULL, NULL);
      break;
    case RV_HTTP_TIMEOUT:
      finish(c, reason, "no complete response in time (%s)", c->errbuf[0] ? c->errbuf : curl_easy_strerror(code));
      break;
    default:
      finish(c, reason, "%s", c->errbuf[0] ? c->errbuf : curl_easy_strerror(code));
  }
}

/* Finished transfers. The messages are all read before any handle is removed: removing
** one makes libcurl search the queue for its message, so removing while the queue is long
** is quadratic when many calls end together. Returns how many calls completed. */
static int drain(shard *sh) {
  struct { CURL *e; CURLcode code; } done[64];
  int n, i, total = 0;
  do {
    CURLMsg *m;
    int left;
    n = 0;
    while (n < (int)(sizeof done / sizeof done[0]) && (m = curl_multi_info_read(sh->multi, &left))) {
      if (m->msg != CURLMSG_DONE) continue;
      done[n].e = m->easy_handle;
      done[n].code = m->data.result;
      n++;
    }
    for (i = 0; i < n; i++) {
      rv_http_call *c = NULL;
      curl_easy_getinfo(done[i].e, CURLINFO_PRIVATE, (char **)&c);
      if (c) {
        complete(c, done[i].code);
        queue_done(sh->h, c);
        total++;
      }
    }
  } while (n == (int)(sizeof done / sizeof done[0]));
  return total;
}

/* ms until sh's timer is due (0: due now; -1: none), rounded up so a wait ends after it */
static long timer_ms(const shard *sh, double now) {
  double d;
  if (sh->timer_at < 0) return -1;
  d = sh->timer_at - now;
  return d <= 0 ? 0 : (long)d + 1;
}

/* the soonest timer of all shards, as timer_ms */
static long next_timer_ms(const rv_http *h) {
  double now = now_ms();
  long best = -1;
  unsigned i;
  for (i = 0; i < h->nshards; i++) {
    long t = timer_ms(h->shards[i], now);
    if (t >= 0 && (best < 0 || t < best)) best = t;
  }
  return best;
}

/* One round: wait up to wait_ms for a socket (0: just look; -1: skip the sockets), act on the
** ready ones and on due timers, then collect what finished. Returns how many completed. */
static int step(rv_http *h, int wait_ms) {
  struct epoll_event ev[MAX_EVENTS];
  int n, i, still, rounds = 0, total = 0;
  unsigned k;
  double now;
  do {
    n = wait_ms < 0 ? 0 : epoll_wait(h->epfd, ev, MAX_EVENTS, rounds ? 0 : wait_ms);
    for (i = 0; i < n; i++) {
      unsigned idx = (unsigned)(ev[i].data.u64 >> 32);
      curl_socket_t s = (curl_socket_t)(uint32_t)ev[i].data.u64;
      int mask = (ev[i].events & (EPOLLIN | EPOLLHUP) ? CURL_CSELECT_IN : 0) |
                 (ev[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                 (ev[i].events & EPOLLERR ? CURL_CSELECT_ERR : 0);
      if (idx < h->nshards) curl_multi_socket_action(h->shards[idx]->multi, s, mask, &still);
    }
  } while (n == MAX_EVENTS && ++rounds < MAX_ROUNDS);   /* more may be ready */
  now = now_ms();
  for (k = 0; k < h->nshards; k++) {
    shard *sh = h->shards[k];
    if (timer_ms(sh, now) == 0) {
      sh->timer_at = -1;                /* on_timer may set it again from inside the call */
      curl_multi_socket_action(sh->multi, CURL_SOCKET_TIMEOUT, 0, &still);
    }
    total += drain(sh);
  }
  return total;
}

int rv_http_poll(rv_http *h, int timeout_ms) {
  if (!h->running) return 0;
  /* due timers first (a new call starts there); sockets in the wait, which returns at once
  ** when one is ready, or in a look of their own when there is no wait */
  if (step(h, -1) == 0 && h->running) {
    long t = next_timer_ms(h);
    step(h, timeout_ms <= 0 ? 0 : t >= 0 && t < timeout_ms ? (int)t : timeout_ms);
  }
  return h->running;
}

int rv_http_running(const rv_http *h) {
  return h->running;
}

unsigned long rv_http_completed(const rv_http *h) {
  return h->completed;
}

long rv_http_timeout(rv_http *h) {
  if (!h->running) return -1;
  return next_timer_ms(h);
}

/* The epoll set stands for all of libcurl's sockets: it polls readable when one of them
** is ready, and rv_http_poll then acts on exactly those. */
int rv_http_fds(rv_http *h, int *fds, short *events, int max) {
  if (!h->running || max < 1) return 0;
  fds[0] = h->epfd;
  events[0] = POLLIN;
  return 1;
}

const rv_http_result *rv_http_result_of(const rv_http_call *c) {
  return &c->res;
}

void rv_http_call_free(rv_http_call *c) {
  if (!c) return;
  unlink_call(c);
  dequeue_done(c);
  curl_slist_free_all(c->headers);
  if (c->uh) curl_url_cleanup(c->uh);
  rv_buf_free(&c->body);
  rv_buf_free(&c->fields);
  free(c->content_type);
  free(c->url);
  free(c);
}
