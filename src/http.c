/*
** HTTP over libcurl's multi interface. One easy handle per call, removed when the call
** ends; the multi handle keeps the connections, so calls to the same host reuse them.
** libcurl's callbacks only append to C buffers: nothing here calls back into a caller.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <poll.h>
#include <sys/select.h>

#include <curl/curl.h>

#include "buf.h"
#include "http.h"

#define POOL_MAX 64              /* idle easy handles a client keeps for its next calls */

struct rv_http {
  CURLM *multi;
  rv_http_call *calls;            /* running, doubly linked */
  int running;
  CURL *pool[POOL_MAX];           /* finished easy handles, reset and ready */
  int npool;
  unsigned long completed;        /* calls finished so far: callers skip scans when unchanged */
};

struct rv_http_call {
  rv_http *h;                     /* NULL once done or detached */
  CURL *easy;
  struct curl_slist *headers;
  rv_http_call *next, *prev;
  rv_buf body;
  size_t max_body;
  int too_large;
  double started;                 /* monotonic ms */
  char *content_type, *url;
  rv_http_result res;
  char errbuf[CURL_ERROR_SIZE];
};

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
  l->verify_tls = 1;
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

rv_http *rv_http_new(char *err, size_t errlen) {
  static int inited;
  rv_http *h;
  if (!inited) {
    /* libcurl >= 7.84 makes this thread-safe; it is once per process in any case */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
      snprintf(err, errlen, "libcurl could not be initialised");
      return NULL;
    }
    inited = 1;
  }
  h = calloc(1, sizeof *h);
  if (!h || !(h->multi = curl_multi_init())) {
    free(h);
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  return h;
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
  }
}

static void unlink_call(rv_http_call *c) {
  rv_http *h = c->h;
  if (!h) return;
  if (c->prev) c->prev->next = c->next;
  else h->calls = c->next;
  if (c->next) c->next->prev = c->prev;
  c->next = c->prev = NULL;
  if (c->easy) {
    curl_multi_remove_handle(h->multi, c->easy);
    /* a handle is costly to make: keep it for the next call */
    if (h->npool < POOL_MAX) {
      curl_easy_reset(c->easy);
      h->pool[h->npool++] = c->easy;
    } else curl_easy_cleanup(c->easy);
    c->easy = NULL;
  }
  h->running--;
  c->h = NULL;
}

void rv_http_free(rv_http *h) {
  if (!h) return;
  while (h->calls) {
    rv_http_call *c = h->calls;
    unlink_call(c);
    finish(c, RV_HTTP_TRANSPORT, "the client was closed before the call ended", NULL);
  }
  while (h->npool) curl_easy_cleanup(h->pool[--h->npool]);
  curl_multi_cleanup(h->multi);
  free(h);
}

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
  rv_http_call *c = ud;
  size_t len = size * n;
  if (len > c->max_body - c->body.n) {   /* the first byte over the limit ends the transfer */
    c->too_large = 1;
    return 0;
  }
  rv_buf_add(&c->body, p, len);
  return c->body.oom ? 0 : len;
}

/* http and https only, before anything is sent */
static int check_url(const char *url, char *msg, size_t msglen) {
  CURLU *u;
  char *scheme = NULL;
  int ok = 0;
  if (!url || !*url) { snprintf(msg, msglen, "no URL"); return 0; }
  if (strlen(url) > RV_HTTP_MAX_URL) { snprintf(msg, msglen, "URL longer than %d bytes", RV_HTTP_MAX_URL); return 0; }
  if (!(u = curl_url())) { snprintf(msg, msglen, "out of memory"); return 0; }
  if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
    snprintf(msg, msglen, "not a valid URL: %.200s", url);
  else if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK || !scheme)
    snprintf(msg, msglen, "URL has no scheme: %.200s", url);
  else if (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0)
    snprintf(msg, msglen, "only http and https URLs are allowed, not %.40s", scheme);
  else ok = 1;
  curl_free(scheme);
  curl_url_cleanup(u);
  return ok;
}

rv_http_call *rv_http_start(rv_http *h, const rv_http_request *req) {
  rv_http_call *c = calloc(1, sizeof *c);
  CURL *e;
  size_t i;
  int post;
  if (!c) return NULL;
  rv_buf_init(&c->body);
  c->started = now_ms();
  c->max_body = req->limits.max_body;
  c->res.content_type = "";
  c->res.body = "";
  c->res.url = "";
  if (!check_url(req->url, c->res.message, sizeof c->res.message)) {
    finish(c, RV_HTTP_BAD_URL, NULL, NULL);
    return c;
  }
  post = req->method && strcasecmp(req->method, "POST") == 0;
  c->easy = e = h->npool ? h->pool[--h->npool] : curl_easy_init();
  if (!e) goto nomem;
  c->headers = curl_slist_append(NULL, "Expect:");     /* no 100-continue round trip */
  for (i = 0; c->headers && i < req->nheaders; i++) {
    struct curl_slist *l = curl_slist_append(c->headers, req->headers[i]);
    if (!l) { curl_slist_free_all(c->headers); c->headers = NULL; }
    c->headers = l;
  }
  if (!c->headers) goto nomem;
  curl_easy_setopt(e, CURLOPT_URL, req->url);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, req->limits.max_redirects > 0 ? 1L : 0L);
  curl_easy_setopt(e, CURLOPT_MAXREDIRS, req->limits.max_redirects);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, req->limits.timeout_ms);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, req->limits.timeout_ms);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, req->limits.verify_tls ? 1L : 0L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, req->limits.verify_tls ? 2L : 0L);
  curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)req->limits.max_body);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->headers);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->errbuf);
  curl_easy_setopt(e, CURLOPT_PRIVATE, c);
  if (post) {
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, req->body ? req->body : "");
  } else {
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
  }
  if (curl_multi_add_handle(h->multi, e) != CURLM_OK) goto nomem;
  c->h = h;
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
  finish(c, RV_HTTP_NOMEM, "out of memory", NULL);
  return c;
}

static char *dup_str(const char *s) {
  size_t n = strlen(s ? s : "");
  char *d = malloc(n + 1);
  if (d) memcpy(d, s ? s : "", n + 1);
  return d;
}

static int reason_of(rv_http_call *c, CURLcode code) {
  switch (code) {
    case CURLE_OK: return RV_HTTP_OK;
    case CURLE_OPERATION_TIMEDOUT: return RV_HTTP_TIMEOUT;
    case CURLE_FILESIZE_EXCEEDED: return RV_HTTP_TOO_LARGE;
    case CURLE_WRITE_ERROR: return c->too_large ? RV_HTTP_TOO_LARGE : c->body.oom ? RV_HTTP_NOMEM : RV_HTTP_TRANSPORT;
    case CURLE_COULDNT_CONNECT: case CURLE_COULDNT_RESOLVE_HOST: case CURLE_COULDNT_RESOLVE_PROXY:
      return RV_HTTP_CONNECT;
    case CURLE_SSL_CONNECT_ERROR: case CURLE_PEER_FAILED_VERIFICATION: case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER: case CURLE_SSL_CACERT_BADFILE: case CURLE_USE_SSL_FAILED:
    case CURLE_SSL_ENGINE_NOTFOUND: case CURLE_SSL_ENGINE_SETFAILED: case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CRL_BADFILE: case CURLE_SSL_ISSUER_ERROR: case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS: case CURLE_SSL_CLIENTCERT:
      return RV_HTTP_TLS;
    case CURLE_URL_MALFORMAT: return RV_HTTP_BAD_URL;
    case CURLE_UNSUPPORTED_PROTOCOL: return RV_HTTP_PROTOCOL;     /* the URL was checked: a redirect */
    case CURLE_TOO_MANY_REDIRECTS: return RV_HTTP_REDIRECTS;
    case CURLE_OUT_OF_MEMORY: return RV_HTTP_NOMEM;
    default: return RV_HTTP_TRANSPORT;
  }
}

static void complete(rv_http_call *c, CURLcode code) {
  CURL *e = c->easy;
  long status = 0, redirects = 0;
  char *ct = NULL, *url = NULL;
  int reason = reason_of(c, code);
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_getinfo(e, CURLINFO_CONTENT_TYPE, &ct);
  curl_easy_getinfo(e, CURLINFO_EFFECTIVE_URL, &url);
  curl_easy_getinfo(e, CURLINFO_REDIRECT_COUNT, &redirects);
  c->content_type = dup_str(ct);
  c->url = dup_str(url);
  if (!c->content_type || !c->url || c->body.oom) reason = RV_HTTP_NOMEM;
  c->res.status = status;
  c->res.redirects = redirects;
  c->res.content_type = c->content_type ? c->content_type : "";
  c->res.url = c->url ? c->url : "";
  c->res.body = c->body.p ? c->body.p : "";
  c->res.body_len = c->body.n;
  unlink_call(c);
  switch (reason) {
    case RV_HTTP_OK: finish(c, reason, NULL, NULL); break;
    case RV_HTTP_TOO_LARGE:
      snprintf(c->res.message, sizeof c->res.message, "response body larger than %zu bytes", c->max_body);
      finish(c, reason, NULL, NULL);
      break;
    case RV_HTTP_TIMEOUT:
      finish(c, reason, "no complete response in time (%s)", c->errbuf[0] ? c->errbuf : curl_easy_strerror(code));
      break;
    default:
      finish(c, reason, "%s", c->errbuf[0] ? c->errbuf : curl_easy_strerror(code));
  }
}

static void drain(rv_http *h) {
  CURLMsg *m;
  int left;
  while ((m = curl_multi_info_read(h->multi, &left))) {
    rv_http_call *c = NULL;
    if (m->msg != CURLMSG_DONE) continue;
    curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&c);
    if (c) {
      complete(c, m->data.result);
      h->completed++;
    }
  }
}

int rv_http_poll(rv_http *h, int timeout_ms) {
  int still;
  if (!h->running) return 0;
  curl_multi_perform(h->multi, &still);
  drain(h);
  if (h->running && timeout_ms > 0) {
    curl_multi_poll(h->multi, NULL, 0, timeout_ms, NULL);
    curl_multi_perform(h->multi, &still);
    drain(h);
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
  long ms = -1;
  if (!h->running) return -1;
  curl_multi_timeout(h->multi, &ms);
  return ms;
}

int rv_http_fds(rv_http *h, int *fds, short *events, int max) {
  fd_set r, w, x;
  int maxfd = -1, fd, n = 0;
  if (!h->running) return 0;
  FD_ZERO(&r);
  FD_ZERO(&w);
  FD_ZERO(&x);
  if (curl_multi_fdset(h->multi, &r, &w, &x, &maxfd) != CURLM_OK) return 0;
  for (fd = 0; fd <= maxfd && n < max; fd++) {
    short ev = (short)((FD_ISSET(fd, &r) ? POLLIN : 0) | (FD_ISSET(fd, &w) ? POLLOUT : 0));
    if (ev) { fds[n] = fd; events[n] = ev; n++; }
  }
  return n;
}

const rv_http_result *rv_http_result_of(const rv_http_call *c) {
  return &c->res;
}

void rv_http_call_free(rv_http_call *c) {
  if (!c) return;
  unlink_call(c);
  curl_slist_free_all(c->headers);
  rv_buf_free(&c->body);
  free(c->content_type);
  free(c->url);
  free(c);
}
