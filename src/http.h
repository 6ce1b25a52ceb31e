/*
** The HTTP client behind Run Function and Make HTTP Request: pure C over libcurl's multi
** interface (no lua.h). Calls never block: rv_http_start queues a transfer, rv_http_poll
** drives every transfer of a client on the calling thread, and connections are kept alive
** across calls. Every failure of the outside world ends as a result with a reason, never as
** an error of the caller.
*/
#ifndef RIVULET_HTTP_H
#define RIVULET_HTTP_H

#include <stddef.h>

/* Studio's limits, the defaults of rv_http_limits_init. */
#define RV_HTTP_TIMEOUT_MS    10000   /* whole call, connecting included */
/* Response body bytes as they arrive, after de-chunking: one more aborts the transfer.
** Nothing is decoded (no Accept-Encoding is sent, and libcurl's decoding is off: see
** http.c), so this also bounds a compressed body, a bomb or a stream without end. */
#define RV_HTTP_MAX_BODY      65536
#define RV_HTTP_MAX_REDIRECTS 5
#define RV_HTTP_MAX_URL       8192    /* bytes of a URL we accept */

/* What a reply's fields may make us hold. Studio publishes no such limit and shows a flow
** no reply header (Run Function one, x-twilio-function-concurrency), so these are ours:
** generous for a Function's reply, small enough that many calls at once stay cheap.
** Counted per response of the call: each response of a redirect chain has its own budget
** (the chain has at most max_redirects + 1 of them); interim (1xx) responses count in the
** budget of the response after them, so a stream of them ends too. Trailers count in the
** budget of their response: they are fields sent late (RFC 9110 6.5), libcurl hands them
** to the same callback and stores them in the same list, and a separate budget would only
** double what one reply may make us hold. One over either ends the transfer at once with
** RV_HTTP_TOO_LARGE. libcurl's own caps sit above these (see http.c). */
#define RV_HTTP_MAX_HEADER_BYTES 32768  /* status line, header lines, blank line, trailer
                                        ** lines, as received: 4x the 8 KiB of upstream
                                        ** headers nginx proxies by default */
#define RV_HTTP_MAX_HEADER_LINES 100    /* header and trailer lines (not the status or blank
                                        ** line): Apache's default cap on a request's; each is
                                        ** a node in libcurl's list of received headers */

typedef struct rv_http rv_http;            /* a client: transfers and a connection cache */
typedef struct rv_http_call rv_http_call;  /* one request and, once done, its result */

typedef struct rv_http_limits {
  long timeout_ms;
  size_t max_body;
  long max_redirects;
  size_t max_header_bytes;        /* per response, see RV_HTTP_MAX_HEADER_BYTES */
  long max_header_lines;
  int verify_tls;                 /* 0 turns TLS verification off (tests against self-signed) */
} rv_http_limits;

void rv_http_limits_init(rv_http_limits *l);

typedef struct rv_http_request {
  const char *method;             /* "GET" or "POST" */
  const char *url;
  const char *body;               /* POST: the body as sent */
  size_t body_len;
  const char *const *headers;     /* "Name: value" lines, NULL-terminated; may be NULL */
  size_t nheaders;
  rv_http_limits limits;
} rv_http_request;

enum {
  RV_HTTP_OK = 0,                 /* a response arrived (whatever its status) */
  RV_HTTP_TIMEOUT, RV_HTTP_TOO_LARGE, RV_HTTP_CONNECT, RV_HTTP_TLS, RV_HTTP_BAD_URL,
  RV_HTTP_PROTOCOL, RV_HTTP_REDIRECTS, RV_HTTP_TRANSPORT, RV_HTTP_NOMEM
};

/* "timeout", "too_large", "connect_failed", "tls", "bad_url", "protocol",
** "too_many_redirects", "transport", "out_of_memory"; NULL for RV_HTTP_OK */
const char *rv_http_reason_name(int reason);

typedef struct rv_http_result {
  int done;
  int reason;                     /* RV_HTTP_OK or why there is no usable response */
  long status;                    /* 0 when no response arrived */
  const char *content_type;       /* "" when none */
  const char *body;               /* what arrived (nothing on a failure) */
  size_t body_len;
  const char *url;                /* where the call ended, after redirects */
  /* the final response's header fields, nheaders of them, as "name\0value\0" pairs (names
  ** as sent, values as libcurl hands them; nothing on a failure). Bounded by the header
  ** limits above. Run Function shows them to a flow (widgets.NAME.headers). */
  const char *headers;
  size_t nheaders;
  long redirects;
  double elapsed_ms;
  char message[256];              /* for people; "" on success */
} rv_http_result;

/* NULL with a message in err when libcurl cannot be set up. */
rv_http *rv_http_new(char *err, size_t errlen);
/* Ends every call still running (their results say so) and frees the client. */
void rv_http_free(rv_http *h);

/* Queue a call; the request is copied. NULL only when out of memory. A request that
** cannot be sent (a bad URL) still returns a call, already done with its reason. */
rv_http_call *rv_http_start(rv_http *h, const rv_http_request *req);

/* Drive all transfers, waiting at most timeout_ms (0: do not wait) for one to progress.
** Returns how many calls are still running. */
int rv_http_poll(rv_http *h, int timeout_ms);
int rv_http_running(const rv_http *h);
unsigned long rv_http_completed(const rv_http *h);   /* calls finished so far */
/* The calls finished since they were last taken, oldest first, one per call (NULL: none
** left); a call that could not start counts as finished at rv_http_start. Lets a caller
** with thousands of calls in flight visit only the finished ones. */
rv_http_call *rv_http_next_done(rv_http *h);

const rv_http_result *rv_http_result_of(const rv_http_call *c);
/* Frees a call; a running one is cancelled first. Safe after its client is freed. */
void rv_http_call_free(rv_http_call *c);

/* For hosts with their own event loop: the longest a poll may wait before timers are due
** (-1: no transfers), and what to wait on (fds[i] with POLLIN/POLLOUT bits in events[i]; at
** most max; returns how many). That is one descriptor, an epoll set holding every socket of
** the transfers, readable when one of them is ready; none when no transfer runs. */
long rv_http_timeout(rv_http *h);
int rv_http_fds(rv_http *h, int *fds, short *events, int max);

#endif
