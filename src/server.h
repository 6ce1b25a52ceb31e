/*
** The HTTP server behind `rivulet serve`: pure C over GNU libmicrohttpd (no lua.h), driven by
** the caller's loop the way http.h's client is. The daemon runs no thread of its own: the
** caller waits on rv_server_fds (one descriptor) for at most rv_server_timeout ms, then calls
** rv_server_run, which accepts, reads, writes and enforces the limits without ever blocking.
**
** No caller code runs inside a libmicrohttpd callback. A request is collected whole (method,
** target, headers, body), its connection is suspended and the request queued; the caller
** takes it with rv_server_next and answers it with rv_server_respond, at once or much later
** (a voice webhook waits until its flow reaches a TwiML widget). The answer resumes the
** connection and the next rv_server_run sends it. A request whose client went away before it
** was answered is reported once by rv_server_next_dropped; answering it afterwards is harmless.
*/
#ifndef RIVULET_SERVER_H
#define RIVULET_SERVER_H

#include <stddef.h>
#include <stdint.h>

/* The defaults of rv_server_limits_init. */
/* Request body bytes. Twilio's webhooks are a few KiB; the largest Studio flow definition in
** the shared corpus is 108 KB of JSON, which form-encoding (the REST API's only body type)
** grows to ~1.5-3x: 1 MiB leaves room for flows several times that. One byte more is 413. */
#define RV_SERVER_MAX_BODY          (1024 * 1024)
/* Request line and header lines as sent, line ends and the closing blank line included.
** nginx's default buffer for a long header is 8 KiB, Apache's limit per line 8190 bytes;
** Twilio sends well under 2 KiB. One byte more is 431. */
#define RV_SERVER_MAX_HEADER_BYTES  8192
/* libmicrohttpd's memory per connection (read buffer, parsed headers, response header): 4x
** the header limit so our own 431 is the one that acts, except for floods of tiny headers
** (each parsed header costs ~50 bytes more), which libmicrohttpd answers 431 itself. It
** zeroes the whole of it after every request, so a connection that has made a request holds
** all of it while it idles: this is most of the memory of an idle keep-alive connection. */
#define RV_SERVER_CONNECTION_MEMORY (4 * RV_SERVER_MAX_HEADER_BYTES)
/* Open connections. At the limit the listening socket leaves the poll set and new clients
** wait in the kernel's backlog until one closes (Twilio keeps trying for 10 s). Each takes a
** descriptor; Debian's default soft limit is 1024 and libcurl's transfers need theirs too. */
#define RV_SERVER_MAX_CONNECTIONS   512
/* Connections from one address: one client cannot take more than half of the slots. Behind a
** proxy on the same machine every client has the proxy's address: raise it there. */
#define RV_SERVER_MAX_PER_IP        256
/* Seconds a connection may stay silent (no byte either way) before it is closed; suspended
** connections (waiting for our answer) do not count. Twice Twilio's 15 s webhook window. */
#define RV_SERVER_IDLE_TIMEOUT_S    30
/* A whole request (headers and body) must arrive within this many ms of its connection being
** ready for it (accepted, or its previous response sent): a client dripping bytes keeps the
** idle timer happy but cannot hold a slot longer than this (slow loris). Bounds keep-alive
** idling too. 1 MiB in 30 s is 35 KB/s. */
#define RV_SERVER_REQUEST_TIMEOUT_MS 30000
/* A request nobody answered within this many ms is answered 503 by the server and reported
** as dropped: a forgotten request cannot hold its slot for ever. Twilio gives up at 15 s. */
#define RV_SERVER_ANSWER_TIMEOUT_MS 60000
/* Requests received but not answered yet (queued or taken): one more is answered 503 with
** Retry-After at once, so a caller that falls behind sheds load instead of piling it up. */
#define RV_SERVER_MAX_PENDING       256
/* Headers of a response given to rv_server_respond. */
#define RV_SERVER_MAX_RESPONSE_HEADERS 64
/* Pending connections the kernel holds for us (listen(2) backlog). */
#define RV_SERVER_BACKLOG           128

typedef struct rv_server rv_server;

typedef struct rv_server_limits {
  size_t max_body;
  size_t max_header_bytes;
  size_t connection_memory;       /* 0: RV_SERVER_CONNECTION_MEMORY or 4x max_header_bytes */
  unsigned max_connections;
  unsigned max_per_ip;            /* 0: no per-address limit */
  unsigned idle_timeout_s;        /* 0: none */
  long request_timeout_ms;        /* 0: none */
  long answer_timeout_ms;         /* 0: none */
  unsigned max_pending;
  int backlog;
} rv_server_limits;

void rv_server_limits_init(rv_server_limits *l);

/* A header of a request or a response. Names keep the case they were sent with. */
typedef struct rv_server_header {
  const char *name, *value;
  size_t name_len, value_len;
} rv_server_header;

/* A request as rv_server_next hands it out. Every pointer stays valid until the next call of
** rv_server_next, rv_server_run or rv_server_free. */
typedef struct rv_server_request {
  uint64_t id;                    /* >= 1, never reused by a server */
  const char *method;             /* as sent: "GET", "POST", "HEAD", ... */
  const char *path;               /* the target before '?', as sent (not percent-decoded) */
  const char *query;              /* after the first '?', as sent; NULL when there is no '?' */
  const char *version;            /* "HTTP/1.1", "HTTP/1.0" */
  const rv_server_header *headers;   /* in the order sent, duplicates kept */
  size_t nheaders;
  const char *body;               /* NUL-terminated too; "" when none */
  size_t body_len;
  const char *peer;               /* the client's address: "127.0.0.1", "::1" */
  int peer_port;
} rv_server_request;

enum {
  RV_SERVER_OK = 0,
  RV_SERVER_GONE,                 /* no such request waits: answered, dropped or unknown */
  RV_SERVER_INVALID,              /* a status outside 100..999 or a header it cannot send */
  RV_SERVER_NOMEM
};

/* Listen on host (a numeric IPv4 or IPv6 address; NULL: 127.0.0.1) and port (0: any free
** one), with limits (NULL: the defaults). NULL with a message in err when the address is not
** numeric, cannot be bound (in use, not ours) or libmicrohttpd cannot start. */
rv_server *rv_server_new(const char *host, int port, const rv_server_limits *limits,
                         char *err, size_t errlen);
/* Closes every connection (answered or not; nothing more is sent) and frees the server. */
void rv_server_free(rv_server *s);

int rv_server_port(const rv_server *s);           /* the bound port */

/* For the caller's loop, as rv_http_timeout and rv_http_fds: the longest it may wait before
** rv_server_run has work (-1: nothing due; 0: run now), and the one descriptor to wait on for
** reading (an epoll set holding the listening socket and every connection). */
long rv_server_timeout(rv_server *s);
int rv_server_fds(rv_server *s, int *fds, short *events, int max);

/* Does everything due, without blocking: accepts, reads, sends, closes timed-out and
** dropped connections, answers what the limits refuse. Returns how many requests wait to be
** taken. */
int rv_server_run(rv_server *s);

/* The oldest complete request not taken yet, or NULL. */
const rv_server_request *rv_server_next(rv_server *s);

/* Answers request id. headers are sent as given after libmicrohttpd's own (Date,
** Content-Length); body is copied. RV_SERVER_GONE when id waits for no answer. */
int rv_server_respond(rv_server *s, uint64_t id, int status, const rv_server_header *headers,
                      size_t nheaders, const char *body, size_t body_len);

/* The next taken request whose client went away (closed its connection) or that timed out
** (answer_timeout_ms) before it was answered, oldest first, each once; 0 when none. */
uint64_t rv_server_next_dropped(rv_server *s);

/* Hands a connected stream socket to the server as if it had accepted it (a socketpair in
** tests and fuzzing, a socket from a supervisor); the server owns and closes it. 0, or -1
** when it is refused (limits, shut down). */
int rv_server_add_socket(rv_server *s, int fd);

/* Stops accepting new connections (the listening socket is closed); connections already
** open go on, and every later response closes its connection. Idempotent. */
void rv_server_shutdown(rv_server *s);

/* Requests not finished: received and not yet answered, or answered and still being sent. */
int rv_server_busy(const rv_server *s);
/* Answered responses still being sent (what a drain waits for). */
int rv_server_sending(const rv_server *s);
/* Open connections. */
int rv_server_connections(const rv_server *s);

#endif
