/* The C API (rivulet.h) from a host's side: open, load, start, deliver, poll, the error
** codes and messages, callbacks, re-entry refused, the memory budget, and a few thousand
** executions waiting at once (with the memory each costs). Run from the repository root. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "rivulet.h"

static int passed, failed;

#define CHECK(cond, ...) do { if (cond) passed++; else { failed++; printf("FAIL %s:%d: ", __FILE__, __LINE__); \
  printf(__VA_ARGS__); printf("\n"); } } while (0)

typedef struct host {
  rivulet *rv;
  int messages, ended, reentry;
  char last[256], last_status[32];
} host;

static void on_message(void *ud, const char *sid, const char *from, const char *to, const char *body) {
  host *h = ud;
  (void)sid; (void)from; (void)to;
  h->messages++;
  snprintf(h->last, sizeof h->last, "%s", body);
  if (h->reentry) h->reentry = rivulet_poll(h->rv, 0);   /* must be refused */
}

static void on_end(void *ud, const char *sid, const char *status, const char *reason) {
  host *h = ud;
  (void)sid; (void)reason;
  h->ended++;
  snprintf(h->last_status, sizeof h->last_status, "%s", status);
}

static rivulet *open_with(host *h, size_t memory) {
  rivulet_config cfg;
  rivulet *rv = NULL;
  int rc;
  memset(&cfg, 0, sizeof cfg);
  cfg.version = RIVULET_CONFIG_VERSION;
  cfg.userdata = h;
  cfg.on_message = on_message;
  cfg.on_end = on_end;
  cfg.lua_path = "lua";
  cfg.memory_limit = memory;
  rc = rivulet_open(&rv, &cfg);
  CHECK(rc == RIVULET_OK, "open: %d %s", rc, rivulet_errmsg(rv));
  h->rv = rv;
  return rv;
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void trigger(char *buf, size_t n, int i) {
  snprintf(buf, n, "{\"event\":\"incomingMessage\",\"from\":\"+1555%07d\",\"to\":\"+15559990000\",\"body\":\"hi\"}", i);
}

int main(void) {
  host h;
  rivulet *rv;
  char sid[35], trig[160], from[32];
  int rc, i, n;
  long ms;
  memset(&h, 0, sizeof h);

  rv = open_with(&h, 0);
  rc = rivulet_load_flow(rv, "ask", "spec/fixtures/ask_name.lua");
  CHECK(rc == RIVULET_OK, "load: %d %s", rc, rivulet_errmsg(rv));
  rc = rivulet_load_flow(rv, "nope", "spec/fixtures/does-not-exist.lua");
  CHECK(rc == RIVULET_BADINPUT && strstr(rivulet_errmsg(rv), "does-not-exist"), "missing flow: %d %s", rc, rivulet_errmsg(rv));

  trigger(trig, sizeof trig, 1);
  rc = rivulet_start(rv, "ask", trig, sid);
  CHECK(rc == RIVULET_OK && strncmp(sid, "FN", 2) == 0 && strlen(sid) == 34, "start: %d %s '%s'", rc, rivulet_errmsg(rv), sid);
  CHECK(h.messages == 1 && strcmp(h.last, "Your name?") == 0, "asked: %d '%s'", h.messages, h.last);
  CHECK(rivulet_active(rv) == 1, "one active");
  rc = rivulet_start(rv, "ask", trig, sid);
  CHECK(rc == RIVULET_BUSY && strstr(rivulet_errmsg(rv), "FN"), "busy contact: %d %s", rc, rivulet_errmsg(rv));
  rc = rivulet_start(rv, "missing", trig, sid);
  CHECK(rc == RIVULET_NOTFOUND, "unknown flow: %d", rc);
  rc = rivulet_start(rv, "ask", "{not json", sid);
  CHECK(rc == RIVULET_BADINPUT, "bad trigger: %d %s", rc, rivulet_errmsg(rv));
  rc = rivulet_deliver(rv, "+19999999999", "+15559990000", "x");
  CHECK(rc == RIVULET_NOTFOUND, "no execution for that contact: %d", rc);

  h.reentry = 1;
  rc = rivulet_deliver(rv, "+15550000001", "+15559990000", "Ada");
  CHECK(rc == RIVULET_OK, "deliver: %d %s", rc, rivulet_errmsg(rv));
  CHECK(strcmp(h.last, "Hello Ada") == 0, "greeted: '%s'", h.last);
  CHECK(h.reentry == RIVULET_MISUSE, "a call from a callback is refused: %d", h.reentry);
  CHECK(h.ended == 1 && strcmp(h.last_status, "ended") == 0, "ended: %d %s", h.ended, h.last_status);
  CHECK(rivulet_active(rv) == 0, "none active");
  CHECK(rivulet_poll(rv, 0) == RIVULET_OK, "poll");
  CHECK(rivulet_timeout(rv, &ms) == RIVULET_OK && ms == -1, "no deadline: %ld", ms);
  {
    int fds[8];
    short ev[8];
    CHECK(rivulet_fds(rv, fds, ev, 8, &n) == RIVULET_OK && n == 0, "no sockets: %d", n);
  }
  CHECK(rivulet_poll(NULL, 0) == RIVULET_MISUSE, "NULL handle");

  /* a few thousand executions waiting at once; then each answered */
  {
    enum { N = 3000 };
    const char *before = NULL;
    (void)before;
    h.messages = h.ended = 0;
    for (i = 0; i < N; i++) {
      trigger(trig, sizeof trig, 1000 + i);
      if (rivulet_start(rv, "ask", trig, sid) != RIVULET_OK) break;
    }
    CHECK(i == N && rivulet_active(rv) == N, "%d started, %d active: %s", i, rivulet_active(rv), rivulet_errmsg(rv));
    CHECK(rivulet_timeout(rv, &ms) == RIVULET_OK && ms > 3000 * 1000 - 60000, "next timer in about an hour: %ld", ms);
    for (i = 0; i < N; i++) {
      snprintf(from, sizeof from, "+1555%07d", 1000 + i);
      if (rivulet_deliver(rv, from, "+15559990000", "Bo") != RIVULET_OK) break;
    }
    CHECK(i == N && h.ended == N && rivulet_active(rv) == 0, "%d answered, %d ended", i, h.ended);
  }
  rivulet_close(rv);

  /* the memory budget: a waiting execution's cost, and running out is a code */
  {
    enum { M = 2000 };
    host h2;
    rivulet *r2;
    size_t base, used;
    memset(&h2, 0, sizeof h2);
    r2 = open_with(&h2, 0);
    rivulet_load_flow(r2, "ask", "spec/fixtures/ask_name.lua");
    trigger(trig, sizeof trig, 1);
    rivulet_start(r2, "ask", trig, sid);      /* warm: modules and templates loaded */
    rivulet_deliver(r2, "+15550000001", "+15559990000", "x");
    base = 0;
    rivulet_poll(r2, 0);
    {
      extern size_t rivulet_memory_used(rivulet *);
      base = rivulet_memory_used(r2);
      for (i = 0; i < M; i++) {
        trigger(trig, sizeof trig, 5000 + i);
        rivulet_start(r2, "ask", trig, sid);
      }
      used = rivulet_memory_used(r2);
    }
    printf("memory: %zu bytes per waiting execution (%d waiting, %zu bytes in all)\n",
           (used - base) / M, M, used);
    CHECK((used - base) / M < 16384, "a waiting execution stays small: %zu bytes", (used - base) / M);
    rivulet_close(r2);

    memset(&h2, 0, sizeof h2);
    {
      rivulet_config cfg;
      rivulet *r3 = NULL;
      memset(&cfg, 0, sizeof cfg);
      cfg.version = RIVULET_CONFIG_VERSION;
      cfg.lua_path = "lua";
      cfg.memory_limit = 64 * 1024;        /* too small for the engine to load */
      rc = rivulet_open(&r3, &cfg);
      CHECK(rc == RIVULET_NOMEM || rc == RIVULET_ERROR, "tiny budget: %d %s", rc, rivulet_errmsg(r3));
      CHECK(rivulet_poll(r3, 0) == RIVULET_MISUSE, "a handle that did not open refuses calls");
      CHECK(rivulet_poll(r3, 0) == RIVULET_MISUSE && strncmp(rivulet_errmsg(r3),
            "the handle did not open (", 25) == 0 && strstr(rivulet_errmsg(r3) + 25, "did not open") == NULL,
            "and says why once: %s", rivulet_errmsg(r3));
      rivulet_close(r3);
    }
  }

  /* without a config: defaults (the Lua modules found through RIVULET_LUA_PATH) */
  {
    rivulet *r4 = NULL;
    setenv("RIVULET_LUA_PATH", "lua", 1);
    rc = rivulet_open(&r4, NULL);
    CHECK(rc == RIVULET_OK, "open without a config: %d %s", rc, rivulet_errmsg(r4));
    CHECK(rivulet_load_flow(r4, "ask", "spec/fixtures/ask_name.lua") == RIVULET_OK, "load without a config");
    rivulet_close(r4);
    rivulet_close(NULL);
  }

  /* 10,000 waiting executions: poll never overstays its timeout; poll(0) is cheap */
  {
    enum { W = 10000, P = 200 };
    host h5;
    rivulet *r5;
    double t0, dt, per;
    memset(&h5, 0, sizeof h5);
    r5 = open_with(&h5, 0);
    rivulet_load_flow(r5, "ask", "spec/fixtures/ask_name.lua");
    for (i = 0; i < W; i++) {
      trigger(trig, sizeof trig, 20000 + i);
      rivulet_start(r5, "ask", trig, sid);
    }
    CHECK(rivulet_active(r5) == W, "%d waiting", rivulet_active(r5));
    t0 = now_ms();
    for (i = 0; i < P; i++) rivulet_poll(r5, 0);
    per = (now_ms() - t0) * 1000.0 / P;
    printf("rivulet_poll(rv, 0) with %d waiting: %.1f us\n", W, per);
    CHECK(per < 1000.0, "poll(0) stays cheap: %.1f us", per);
    t0 = now_ms();
    rivulet_poll(r5, 50);
    dt = now_ms() - t0;
    CHECK(dt < 50 + 25, "poll(50) returns in time: %.1f ms", dt);
    rivulet_close(r5);                 /* 10,000 executions still waiting: nothing may leak */
  }

  /* close with a call in flight: a loopback listener that never answers holds it open */
  {
    struct sockaddr_in a;
    socklen_t alen = sizeof a;
    int lfd = socket(AF_INET, SOCK_STREAM, 0), fds[8];
    short ev[8];
    char map[64];
    const char *maps[2];
    rivulet_config cfg;
    rivulet *r6 = NULL;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(lfd >= 0 && bind(lfd, (struct sockaddr *)&a, sizeof a) == 0 && listen(lfd, 8) == 0
          && getsockname(lfd, (struct sockaddr *)&a, &alen) == 0, "a loopback listener");
    snprintf(map, sizeof map, "http://slow.test=http://127.0.0.1:%d", ntohs(a.sin_port));
    maps[0] = map;
    maps[1] = NULL;
    memset(&cfg, 0, sizeof cfg);
    cfg.version = RIVULET_CONFIG_VERSION;
    cfg.lua_path = "lua";
    cfg.url_map = maps;
    CHECK(rivulet_open(&r6, &cfg) == RIVULET_OK
          && rivulet_load_flow(r6, "slow", "spec/fixtures/call_slow.lua") == RIVULET_OK, "open: %s",
          rivulet_errmsg(r6));
    trigger(trig, sizeof trig, 1);
    CHECK(rivulet_start(r6, "slow", trig, sid) == RIVULET_OK, "start: %s", rivulet_errmsg(r6));
    for (i = 0; i < 5; i++) rivulet_poll(r6, 10);
    CHECK(rivulet_active(r6) == 1, "the call is still in flight: %d active", rivulet_active(r6));
    CHECK(rivulet_fds(r6, fds, ev, 8, &n) == RIVULET_OK && n >= 1, "a socket to watch: %d", n);
    CHECK(rivulet_timeout(r6, &ms) == RIVULET_OK && ms >= 0 && ms <= 10000,
          "curl's deadline within the call's 10 s: %ld", ms);
    rivulet_close(r6);                 /* the easy handle, its socket, the Lua state: all freed */
    close(lfd);
  }

  {                                    /* a file store: executions outlive the handle */
    host h7;
    rivulet *r7 = NULL;
    rivulet_config cfg;
    char dir[] = "/tmp/rivulet-embed-XXXXXX", path[64], sid7[35], sid8[35];
    FILE *f;
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    snprintf(path, sizeof path, "%s/store.db", dir);
    memset(&h7, 0, sizeof h7);
    memset(&cfg, 0, sizeof cfg);
    cfg.version = RIVULET_CONFIG_VERSION;
    cfg.userdata = &h7;
    cfg.on_message = on_message;
    cfg.on_end = on_end;
    cfg.lua_path = "lua";
    cfg.store_path = path;
    CHECK(rivulet_open(&r7, &cfg) == RIVULET_OK, "open with a store: %s", rivulet_errmsg(r7));
    CHECK(rivulet_load_flow(r7, "ask", "spec/fixtures/ask_name.lua") == RIVULET_OK, "load: %s", rivulet_errmsg(r7));
    CHECK(rivulet_start(r7, "ask", "{\"from\": \"+15550007777\", \"to\": \"+15559990000\"}", sid7) == RIVULET_OK,
          "start: %s", rivulet_errmsg(r7));
    rivulet_close(r7);
    h7.messages = 0;
    CHECK(rivulet_open(&r7, &cfg) == RIVULET_OK, "reopen: %s", rivulet_errmsg(r7));
    CHECK(rivulet_active(r7) == 1 && h7.messages == 0, "the execution is back, nothing sent on open: %d, %d",
          rivulet_active(r7), h7.messages);
    CHECK(rivulet_start(r7, "ask", "{\"from\": \"+15550007777\", \"to\": \"+15559990000\"}", sid8) == RIVULET_NOTFOUND,
          "no flow loaded yet in this handle");
    CHECK(rivulet_deliver(r7, "+15550007777", "+15559990000", "Grace") == RIVULET_OK, "deliver after reopen: %s",
          rivulet_errmsg(r7));
    CHECK(strcmp(h7.last, "Hello Grace") == 0 && h7.ended == 1, "finished from the store: '%s' %d", h7.last, h7.ended);
    rivulet_close(r7);
    f = fopen(path, "wb");               /* not a store any more */
    if (f) { fputs("this is not a database, just text that is long enough to matter", f); fclose(f); }
    CHECK(rivulet_open(&r7, &cfg) == RIVULET_ERROR && strstr(rivulet_errmsg(r7), path)
          && strstr(rivulet_errmsg(r7), "not a rivulet store"), "a bad store: %s", rivulet_errmsg(r7));
    rivulet_close(r7);
    snprintf(path, sizeof path, "rm -rf '%s'", dir);
    CHECK(system(path) == 0, "cleanup");
  }

  printf("embed: %d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
