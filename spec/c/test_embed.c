/* The C API (rivulet.h) from a host's side: open, load, start, deliver, poll, the error
** codes and messages, callbacks, re-entry refused, the memory budget, and a few thousand
** executions waiting at once (with the memory each costs); then every misuse of each entry,
** one check each (misuse_*: NULL arguments, bad configs, triggers that do not validate,
** invalid UTF-8, over-long strings, calls from inside callbacks, rivulet_close from inside
** a callback, calls on a handle that did not open). Run from the repository root. */
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

/* ---------------------------------------------------------------- misuse, one check each */

#define ERRMSG_MAX 512             /* rivulet.c's longest kept message (with its NUL) */

/* a host whose callbacks misbehave on purpose */
typedef struct rogue {
  rivulet *rv;
  int messages, ended;
  int close_on_message, close_on_end;  /* close the handle from that callback (n times) */
  int call_all;                        /* on_message: try every call into the handle */
  int codes[8], active, n;             /* what those calls returned */
  char first_msg[ERRMSG_MAX], errmsg_inside[ERRMSG_MAX], after_close[ERRMSG_MAX];
  int after_close_code;
  int other_handle;                    /* on_message: open, use and close another handle */
  int other_rc;
} rogue;

static const char *trig_for(const char *from) {
  static char buf[160];
  snprintf(buf, sizeof buf, "{\"event\":\"incomingMessage\",\"from\":\"%s\",\"to\":\"+15559990000\",\"body\":\"hi\"}", from);
  return buf;
}

static void rogue_message(void *ud, const char *sid, const char *from, const char *to, const char *body) {
  rogue *r = ud;
  (void)sid; (void)from; (void)to; (void)body;
  r->messages++;
  if (r->call_all) {
    char sid2[35];
    int fds[4], n;
    short ev[4];
    long ms;
    r->call_all = 0;
    r->codes[0] = rivulet_load_flow(r->rv, "x", "spec/fixtures/ask_name.lua");
    snprintf(r->first_msg, sizeof r->first_msg, "%s", rivulet_errmsg(r->rv));
    r->codes[1] = rivulet_start(r->rv, "ask", trig_for("+15550009999"), sid2);
    r->codes[2] = rivulet_deliver(r->rv, "+15550000001", "+15559990000", "x");
    r->codes[3] = rivulet_poll(r->rv, 0);
    r->codes[4] = rivulet_fds(r->rv, fds, ev, 4, &n);
    r->codes[5] = rivulet_timeout(r->rv, &ms);
    r->active = rivulet_active(r->rv);
    snprintf(r->errmsg_inside, sizeof r->errmsg_inside, "%s", rivulet_errmsg(r->rv));
  }
  if (r->other_handle) {
    rivulet_config cfg;
    rivulet *o = NULL;
    memset(&cfg, 0, sizeof cfg);
    cfg.version = RIVULET_CONFIG_VERSION;
    cfg.lua_path = "lua";
    r->other_handle = 0;
    r->other_rc = rivulet_open(&o, &cfg);
    if (r->other_rc == RIVULET_OK) r->other_rc = rivulet_load_flow(o, "ask", "spec/fixtures/ask_name.lua");
    rivulet_close(o);
  }
  if (r->close_on_message > 0) {
    while (r->close_on_message > 0) {
      rivulet_close(r->rv);
      r->close_on_message--;
    }
    r->after_close_code = rivulet_poll(r->rv, 0);      /* still there until the call returns */
    snprintf(r->after_close, sizeof r->after_close, "%s", rivulet_errmsg(r->rv));
  }
}

static void rogue_end(void *ud, const char *sid, const char *status, const char *reason) {
  rogue *r = ud;
  (void)sid; (void)status; (void)reason;
  r->ended++;
  if (r->close_on_end) {
    r->close_on_end = 0;
    rivulet_close(r->rv);
  }
}

static rivulet *open_rogue(rogue *r, const char *store) {
  rivulet_config cfg;
  rivulet *rv = NULL;
  int rc;
  memset(&cfg, 0, sizeof cfg);
  cfg.version = RIVULET_CONFIG_VERSION;
  cfg.userdata = r;
  cfg.on_message = rogue_message;
  cfg.on_end = rogue_end;
  cfg.lua_path = "lua";
  cfg.store_path = store;
  rc = rivulet_open(&rv, &cfg);
  if (rc == RIVULET_OK) rc = rivulet_load_flow(rv, "ask", "spec/fixtures/ask_name.lua");
  CHECK(rc == RIVULET_OK, "open for a misuse check: %d %s", rc, rivulet_errmsg(rv));
  r->rv = rv;
  return rv;
}

/* whether s is well-formed UTF-8 (as Lua's utf8.len sees it, without the range details) */
static int utf8_ok(const char *s) {
  const unsigned char *p = (const unsigned char *)s;
  while (*p) {
    int n = *p < 0x80 ? 0 : (*p & 0xE0) == 0xC0 ? 1 : (*p & 0xF0) == 0xE0 ? 2 : (*p & 0xF8) == 0xF0 ? 3 : -1;
    if (n < 0) return 0;
    for (p++; n > 0; n--, p++)
      if ((*p & 0xC0) != 0x80) return 0;
  }
  return 1;
}

static int plain(const char *msg) {             /* a message for people: no Lua traceback */
  return strstr(msg, "stack traceback") == NULL && strstr(msg, ".lua:") == NULL;
}

/* rivulet_open */
static void misuse_open(void) {
  rivulet_config cfg;
  rivulet *rv = NULL;
  const char *bad_map[] = { "http://a.test=http://b.test", "no equals sign", NULL };
  int rc;

  CHECK(rivulet_open(NULL, NULL) == RIVULET_MISUSE, "open: out is NULL");

  memset(&cfg, 0, sizeof cfg);
  cfg.version = RIVULET_CONFIG_VERSION + 1;
  cfg.lua_path = "lua";
  rc = rivulet_open(&rv, &cfg);
  CHECK(rc == RIVULET_MISUSE && strstr(rivulet_errmsg(rv), "rivulet_config.version"),
        "open: a config version from a newer header: %d %s", rc, rivulet_errmsg(rv));
  rivulet_close(rv);

  cfg.version = -1;
  rc = rivulet_open(&rv, &cfg);
  CHECK(rc == RIVULET_MISUSE && strstr(rivulet_errmsg(rv), "version -1"), "open: a negative config version: %d %s",
        rc, rivulet_errmsg(rv));
  rivulet_close(rv);

  cfg.version = RIVULET_CONFIG_VERSION;
  cfg.http_timeout_ms = -1;
  rc = rivulet_open(&rv, &cfg);
  CHECK(rc == RIVULET_MISUSE && strstr(rivulet_errmsg(rv), "http_timeout_ms"), "open: negative http_timeout_ms: %d %s",
        rc, rivulet_errmsg(rv));
  rivulet_close(rv);
  cfg.http_timeout_ms = 0;

  cfg.step_limit = -5;
  rc = rivulet_open(&rv, &cfg);
  CHECK(rc == RIVULET_MISUSE && strstr(rivulet_errmsg(rv), "step_limit"), "open: negative step_limit: %d %s",
        rc, rivulet_errmsg(rv));
  rivulet_close(rv);
  cfg.step_limit = 0;

  cfg.same_widget_limit = -1;
  rc = rivulet_open(&rv, &cfg);
  CHECK(rc == RIVULET_MISUSE && strstr(rivulet_errmsg(rv), "same_widget_limit"),
        "open: negative same_widget_limit: %d %s", rc, rivulet_errmsg(rv));
  rivulet_close(rv);
  cfg.same_widget_limit = 0;

  cfg.timezone = "Mars/Olympus_Mons";
  rc = rivulet_open(&rv, &cfg);
  CHECK(rc == RIVULET_MISUSE && strstr(rivulet_errmsg(rv), "rivulet_config.timezone")
        && strstr(rivulet_errmsg(rv), "Mars/Olympus_Mons"), "open: an unknown time zone: %d %s", rc, rivulet_errmsg(rv));
  rivulet_close(rv);
  cfg.timezone = "Europe/Paris";
  rc = rivulet_open(&rv, &cfg);
  CHECK(rc == RIVULET_OK, "open: a known time zone: %d %s", rc, rivulet_errmsg(rv));
  rivulet_close(rv);
  cfg.timezone = NULL;

  cfg.url_map = bad_map;
  rc = rivulet_open(&rv, &cfg);
  CHECK(rc == RIVULET_MISUSE && strstr(rivulet_errmsg(rv), "url_map[1]") && plain(rivulet_errmsg(rv)),
        "open: a url_map entry that is not FROM=TO: %d %s", rc, rivulet_errmsg(rv));
  rivulet_close(rv);
  cfg.url_map = NULL;

  cfg.lua_path = "/nonexistent/rivulet-lua";
  rc = rivulet_open(&rv, &cfg);
  CHECK(rc == RIVULET_ERROR && strstr(rivulet_errmsg(rv), "cannot load the rivulet Lua modules")
        && strstr(rivulet_errmsg(rv), "/nonexistent/rivulet-lua") && plain(rivulet_errmsg(rv)),
        "open: modules that are not where lua_path says: %d %s", rc, rivulet_errmsg(rv));
  rivulet_close(rv);
  cfg.lua_path = "lua";

  cfg.store_path = "/nonexistent-dir/store.db";
  rc = rivulet_open(&rv, &cfg);
  CHECK(rc == RIVULET_ERROR && strstr(rivulet_errmsg(rv), "/nonexistent-dir/store.db") && plain(rivulet_errmsg(rv)),
        "open: a store that cannot be created: %d %s", rc, rivulet_errmsg(rv));
  rivulet_close(rv);

  CHECK(rivulet_errmsg(NULL) != NULL && rivulet_errmsg(NULL)[0] != '\0', "errmsg of NULL: a message");
}

/* version 2: the account (trigger.*.AccountSid) and the function map (a Run Function naming
** only its function SID calls the URL mapped; without the map it says it has none); a
** version 1 struct is read only as far as version 1 goes */
static char end_reason[512];
static void keep_reason(void *ud, const char *sid, const char *status, const char *reason) {
  host *h = ud;
  (void)sid; (void)status;
  h->ended++;
  snprintf(end_reason, sizeof end_reason, "%s", reason);
}

static void account_and_function_map(void) {
  static const char *const fmap[] = { "ZH0123456789abcdef0123456789abcdef=http://127.0.0.1:1/fn", NULL };
  static const char *const bad_fmap[] = { "ZH0123456789abcdef0123456789abcdef=http://127.0.0.1:1/fn", "ZHnope=x", NULL };
  const char *acct = "AC0123456789abcdef0123456789abcdef";
  int variant;
  for (variant = 0; variant < 3; variant++) {        /* with the map, without, a version 1 struct */
    rivulet_config cfg;
    rivulet *rv = NULL;
    host h;
    char sid[35];
    int rc, spins = 0;
    memset(&h, 0, sizeof h);
    memset(&cfg, 0, sizeof cfg);
    cfg.version = variant == 2 ? 1 : RIVULET_CONFIG_VERSION;
    cfg.userdata = &h;
    cfg.on_message = on_message;
    cfg.on_end = keep_reason;
    cfg.lua_path = "lua";
    cfg.account_sid = variant == 2 ? "garbage past a version 1 struct" : acct;
    cfg.function_map = variant == 0 ? fmap : NULL;
    end_reason[0] = '\0';
    rc = rivulet_open(&rv, &cfg);
    CHECK(rc == RIVULET_OK, "open (variant %d): %d %s", variant, rc, rivulet_errmsg(rv));
    h.rv = rv;
    rc = rivulet_load_flow(rv, "acct", "spec/fixtures/account.lua");
    CHECK(rc == RIVULET_OK, "load account.lua: %d %s", rc, rivulet_errmsg(rv));
    rc = rivulet_start(rv, "acct", trig_for("+15550007777"), sid);
    CHECK(rc == RIVULET_OK, "start: %d %s", rc, rivulet_errmsg(rv));
    CHECK(strcmp(h.last, variant == 2 ? "account AC00000000000000000000000000000000" : "account AC0123456789abcdef0123456789abcdef") == 0,
          "trigger.message.AccountSid (variant %d): '%s'", variant, h.last);
    while (h.ended == 0 && spins++ < 1000) rivulet_poll(rv, 10);
    CHECK(h.ended == 1, "the call ended the execution (variant %d)", variant);
    if (variant == 0)
      CHECK(strstr(end_reason, "no transition for event 'fail'") && !strstr(end_reason, "no url"),
            "mapped: the function's URL was called (and refused): %s", end_reason);
    else
      CHECK(strstr(end_reason, "names function ZH0123456789abcdef0123456789abcdef but has no url"),
            "not mapped: says so (variant %d): %s", variant, end_reason);
    rivulet_close(rv);
  }
  {
    rivulet_config cfg;
    rivulet *rv = NULL;
    int rc;
    memset(&cfg, 0, sizeof cfg);
    cfg.version = RIVULET_CONFIG_VERSION;
    cfg.lua_path = "lua";
    cfg.function_map = bad_fmap;
    rc = rivulet_open(&rv, &cfg);
    CHECK(rc == RIVULET_MISUSE && strstr(rivulet_errmsg(rv), "function_map[1]"),
          "open: a function_map entry that is not ZH...=URL: %d %s", rc, rivulet_errmsg(rv));
    rivulet_close(rv);
    cfg.function_map = NULL;
    cfg.account_sid = "ACshort";
    rc = rivulet_open(&rv, &cfg);
    CHECK(rc == RIVULET_MISUSE && strstr(rivulet_errmsg(rv), "rivulet_config.account_sid"),
          "open: an account SID that is not AC + 32 hex: %d %s", rc, rivulet_errmsg(rv));
    rivulet_close(rv);
  }
}

/* every call on a handle that did not open: RIVULET_MISUSE, saying why once */
static void misuse_after_failed_open(void) {
  rivulet_config cfg;
  rivulet *rv = NULL;
  char sid[35] = "unchanged";
  int fds[2], n = 7;
  short ev[2];
  long ms = 7;
  memset(&cfg, 0, sizeof cfg);
  cfg.version = RIVULET_CONFIG_VERSION;
  cfg.lua_path = "/nonexistent/rivulet-lua";
  CHECK(rivulet_open(&rv, &cfg) == RIVULET_ERROR && rv != NULL, "a failed open still gives a handle to ask and close");
  CHECK(rivulet_load_flow(rv, "ask", "spec/fixtures/ask_name.lua") == RIVULET_MISUSE, "failed open: load_flow");
  CHECK(strncmp(rivulet_errmsg(rv), "the handle did not open (cannot load", 36) == 0,
        "failed open: the message says why: %s", rivulet_errmsg(rv));
  CHECK(rivulet_start(rv, "ask", trig_for("+15550000001"), sid) == RIVULET_MISUSE && sid[0] == '\0',
        "failed open: start (sid_out emptied)");
  CHECK(rivulet_deliver(rv, "+15550000001", "+15559990000", "x") == RIVULET_MISUSE, "failed open: deliver");
  CHECK(rivulet_poll(rv, 0) == RIVULET_MISUSE, "failed open: poll");
  CHECK(rivulet_active(rv) == -1, "failed open: active is -1");
  CHECK(rivulet_fds(rv, fds, ev, 2, &n) == RIVULET_MISUSE && n == 0, "failed open: fds (n = 0)");
  CHECK(rivulet_timeout(rv, &ms) == RIVULET_MISUSE && ms == -1, "failed open: timeout (ms = -1)");
  CHECK(strstr(rivulet_errmsg(rv) + 10, "the handle did not open") == NULL, "failed open: said once: %s",
        rivulet_errmsg(rv));
  rivulet_close(rv);
}

/* NULL and out-of-range arguments of each call */
static void misuse_arguments(void) {
  rogue r;
  rivulet *rv;
  char sid[35];
  int fds[2], n = 7, rc;
  short ev[2];
  memset(&r, 0, sizeof r);
  rv = open_rogue(&r, NULL);

  CHECK(rivulet_load_flow(rv, NULL, "spec/fixtures/ask_name.lua") == RIVULET_MISUSE
        && strstr(rivulet_errmsg(rv), "name is NULL"), "load_flow: NULL name: %s", rivulet_errmsg(rv));
  CHECK(rivulet_load_flow(rv, "ask", NULL) == RIVULET_MISUSE && strstr(rivulet_errmsg(rv), "path is NULL"),
        "load_flow: NULL path: %s", rivulet_errmsg(rv));
  rc = rivulet_load_flow(rv, "dir", "spec/fixtures");
  CHECK(rc == RIVULET_BADINPUT && plain(rivulet_errmsg(rv)), "load_flow: a directory: %d %s", rc, rivulet_errmsg(rv));
  {
    char path[8192];
    memset(path, 'a', sizeof path - 1);
    path[sizeof path - 1] = '\0';
    rc = rivulet_load_flow(rv, "long", path);
    CHECK(rc == RIVULET_BADINPUT && strlen(rivulet_errmsg(rv)) < ERRMSG_MAX, "load_flow: a path longer than PATH_MAX: %d",
          rc);
  }
  CHECK(rivulet_load_flow(rv, "ask", "spec/fixtures/ask_name.lua") == RIVULET_OK, "load_flow: loading a name again");

  CHECK(rivulet_start(rv, NULL, trig_for("+15550000001"), sid) == RIVULET_MISUSE
        && strstr(rivulet_errmsg(rv), "flow_name is NULL"), "start: NULL flow_name: %s", rivulet_errmsg(rv));
  CHECK(rivulet_start(rv, "ask", NULL, sid) == RIVULET_MISUSE && strstr(rivulet_errmsg(rv), "trigger_json is NULL"),
        "start: NULL trigger: %s", rivulet_errmsg(rv));
  rc = rivulet_start(rv, "ask", trig_for("+15550000001"), NULL);
  CHECK(rc == RIVULET_OK && rivulet_active(rv) == 1, "start: a NULL sid_out is allowed: %d %s", rc, rivulet_errmsg(rv));

  CHECK(rivulet_deliver(rv, NULL, "+15559990000", "x") == RIVULET_MISUSE && strstr(rivulet_errmsg(rv), "from is NULL"),
        "deliver: NULL from: %s", rivulet_errmsg(rv));
  CHECK(rivulet_deliver(rv, "+15550000001", NULL, "x") == RIVULET_MISUSE && strstr(rivulet_errmsg(rv), "to is NULL"),
        "deliver: NULL to: %s", rivulet_errmsg(rv));
  rc = rivulet_deliver(rv, "+15550000001", "+15559990000", "\xff\xfe");
  CHECK(rc == RIVULET_BADINPUT && strstr(rivulet_errmsg(rv), "body is not valid UTF-8"),
        "deliver: a body that is not UTF-8: %d %s", rc, rivulet_errmsg(rv));
  rc = rivulet_deliver(rv, "+1555\xc3", "+15559990000", "x");
  CHECK(rc == RIVULET_BADINPUT && strstr(rivulet_errmsg(rv), "from is not valid UTF-8"),
        "deliver: a from that is not UTF-8: %d %s", rc, rivulet_errmsg(rv));
  CHECK(rivulet_active(rv) == 1 && r.messages == 1, "deliver: a refused message moved nothing");
  rc = rivulet_deliver(rv, "+15550000001", "+15559990000", NULL);
  CHECK(rc == RIVULET_OK && strcmp(rivulet_errmsg(rv), "") == 0 && r.ended == 1,
        "deliver: a NULL body is the empty message: %d %s", rc, rivulet_errmsg(rv));

  CHECK(rivulet_poll(rv, -5) == RIVULET_OK, "poll: a negative timeout is 0");
  CHECK(rivulet_fds(rv, fds, ev, 2, NULL) == RIVULET_MISUSE && strstr(rivulet_errmsg(rv), "n is NULL"),
        "fds: NULL n: %s", rivulet_errmsg(rv));
  CHECK(rivulet_fds(rv, fds, ev, -1, &n) == RIVULET_MISUSE && n == 0 && strstr(rivulet_errmsg(rv), "negative"),
        "fds: negative max: %s", rivulet_errmsg(rv));
  CHECK(rivulet_fds(rv, NULL, ev, 2, &n) == RIVULET_MISUSE && strstr(rivulet_errmsg(rv), "fds is NULL"),
        "fds: NULL fds: %s", rivulet_errmsg(rv));
  CHECK(rivulet_fds(rv, fds, NULL, 2, &n) == RIVULET_MISUSE && strstr(rivulet_errmsg(rv), "events is NULL"),
        "fds: NULL events: %s", rivulet_errmsg(rv));
  CHECK(rivulet_fds(rv, NULL, NULL, 0, &n) == RIVULET_OK && n == 0, "fds: no room (max 0) needs no arrays");
  CHECK(rivulet_timeout(rv, NULL) == RIVULET_MISUSE && strstr(rivulet_errmsg(rv), "ms is NULL"),
        "timeout: NULL ms: %s", rivulet_errmsg(rv));
  CHECK(rivulet_active(NULL) == -1, "active: NULL handle is -1");
  CHECK(rivulet_fds(NULL, fds, ev, 2, &n) == RIVULET_MISUSE, "fds: NULL handle");
  CHECK(rivulet_timeout(NULL, NULL) == RIVULET_MISUSE, "timeout: NULL handle");
  CHECK(rivulet_load_flow(NULL, "a", "b") == RIVULET_MISUSE, "load_flow: NULL handle");
  CHECK(rivulet_start(NULL, "a", "{}", sid) == RIVULET_MISUSE, "start: NULL handle");
  CHECK(rivulet_deliver(NULL, "a", "b", "c") == RIVULET_MISUSE, "deliver: NULL handle");
  rivulet_close(rv);
}

/* triggers that do not validate: RIVULET_BADINPUT, a plain message naming the field */
static void misuse_triggers(void) {
  static const struct { const char *json, *says; } bad[] = {
    { "[]", "must be a JSON object, not an array" },
    { " [1, 2]", "must be a JSON object, not an array" },
    { "null", "not null" },
    { "42", "not number" },
    { "\"incomingMessage\"", "not string" },
    { "{not json", "not valid JSON" },
    { "", "not valid JSON" },
    { "{\"event\": \"incomingFax\"}", "trigger.event 'incomingFax' is not one of incomingMessage, incomingCall, "
                                       "incomingConversationMessage, incomingRequest" },
    { "{\"event\": \"\"}", "trigger.event '' is not one of" },
    { "{\"event\": 5}", "trigger.event must be a string, not number" },
    { "{\"event\": null}", "trigger.event must be a string, not null" },
    { "{\"event\": [\"incomingMessage\"]}", "trigger.event must be a string, not array" },
    { "{\"event\": \"incomingParent\"}", "trigger.event incomingParent starts a subflow" },
    { "{\"from\": 15550000001}", "trigger.from must be a string, not number" },
    { "{\"to\": {\"a\": 1}}", "trigger.to must be a string, not object" },
    { "{\"body\": true}", "trigger.body must be a string, not boolean" },
    { "{\"from\": \"+1555\\u0000\"}", "trigger.from holds a NUL character" },
    { "{\"body\": \"\xff\"}", "trigger.body is not valid UTF-8 (byte 1)" },
    { "{\"from\": \"+1\xed\xa0\x80\"}", "trigger.from is not valid UTF-8 (byte 3)" },
    { "{\"event\": \"incomingRequest\", \"parameters\": {\"k\": [\"ok\", \"\xc3\"]}}",
      "trigger.parameters.k[1] is not valid UTF-8" },
    { "{\"event\": \"incomingRequest\", \"parameters\": {\"\xe2\x82\": 1}}", "a key in trigger.parameters is not valid UTF-8" },
    { "{\"form\": \"+15550000001\"}", "trigger.form is not a trigger field (event, from, to, body, parameters)" },
    { "{\"event\": \"incomingRequest\", \"body\": \"hi\"}", "trigger.body: an incomingRequest trigger has no body" },
    { "{\"event\": \"incomingCall\", \"body\": \"hi\"}", "trigger.body: an incomingCall trigger has no body" },
    { "{\"parameters\": {\"a\": 1}}", "trigger.parameters: only an incomingRequest trigger has parameters" },
    { "{\"event\": \"incomingRequest\", \"parameters\": \"a=1\"}", "trigger.parameters must be a JSON object, not string" },
    { "{\"event\": \"incomingRequest\", \"parameters\": [1, 2]}", "trigger.parameters must be a JSON object, not array" },
  };
  static const char *const good[] = {
    "{}",
    "{\"event\": \"incomingCall\", \"from\": \"+15550000002\", \"to\": \"+15559990000\"}",
    "{\"event\": \"incomingConversationMessage\", \"from\": \"+15550000003\", \"to\": \"+15559990000\", \"body\": \"h\xc3\xa9\"}",
    "{\"event\": \"incomingRequest\", \"from\": \"+15559990000\", \"to\": \"+15550000004\", \"parameters\": {\"n\": 1}}",
    "{\"event\": \"incomingRequest\", \"from\": \"+15559990000\", \"to\": \"+15550000005\", \"parameters\": []}",
  };
  rogue r;
  rivulet *rv;
  char sid[35];
  size_t i;
  int rc;
  memset(&r, 0, sizeof r);
  rv = open_rogue(&r, NULL);
  for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    strcpy(sid, "unchanged");
    rc = rivulet_start(rv, "ask", bad[i].json, sid);
    CHECK(rc == RIVULET_BADINPUT && strstr(rivulet_errmsg(rv), bad[i].says) && plain(rivulet_errmsg(rv))
          && sid[0] == '\0', "trigger %s: %d %s", bad[i].json, rc, rivulet_errmsg(rv));
  }
  CHECK(rivulet_active(rv) == 0 && r.messages == 0, "no refused trigger started anything");
  for (i = 0; i < sizeof good / sizeof good[0]; i++) {
    rc = rivulet_start(rv, "ask", good[i], sid);
    CHECK(rc == RIVULET_OK && strlen(sid) == 34, "trigger %s: %d %s", good[i], rc, rivulet_errmsg(rv));
  }
  rivulet_close(rv);
}

/* strings far longer than anything real: no limit of their own (the memory budget is one),
** and a message naming them is cut, on a character boundary */
static void misuse_long_strings(void) {
  enum { BIG = 1 << 20 };
  rogue r;
  rivulet *rv;
  char sid[35], *name, *trig;
  size_t i, len;
  int rc;
  memset(&r, 0, sizeof r);
  rv = open_rogue(&r, NULL);
  name = malloc(BIG + 1);
  trig = malloc(BIG + 128);
  for (i = 0; i + 2 <= BIG; i += 2) { name[i] = '\xc3'; name[i + 1] = '\xa9'; }   /* é... */
  name[i] = '\0';
  rc = rivulet_start(rv, name + 1, trig_for("+15550000001"), sid);   /* + 1: starts mid-character */
  CHECK(rc == RIVULET_NOTFOUND || rc == RIVULET_MISUSE, "start: a 1 MiB flow name: %d", rc);
  rc = rivulet_start(rv, name, trig_for("+15550000001"), sid);
  len = strlen(rivulet_errmsg(rv));
  CHECK(rc == RIVULET_NOTFOUND && len < ERRMSG_MAX && len > ERRMSG_MAX - 8
        && strcmp(rivulet_errmsg(rv) + len - 3, "...") == 0 && utf8_ok(rivulet_errmsg(rv)),
        "a 1 MiB flow name: NOTFOUND, the message cut on a character: %d, %zu bytes", rc, len);
  {                                    /* the edge: 511 bytes are kept whole, 512 are cut */
    const size_t fmt_len = sizeof "no flow named '' (rivulet_load_flow it first)" - 1;
    char edge[ERRMSG_MAX];
    memset(edge, 'n', sizeof edge);
    edge[ERRMSG_MAX - 1 - fmt_len] = '\0';
    rivulet_start(rv, edge, trig_for("+15550000001"), sid);
    len = strlen(rivulet_errmsg(rv));
    CHECK(len == ERRMSG_MAX - 1 && strcmp(rivulet_errmsg(rv) + len - 6, "first)") == 0,
          "a message of %d bytes is kept whole: %zu", ERRMSG_MAX - 1, len);
    memset(edge, 'n', sizeof edge);
    edge[ERRMSG_MAX - fmt_len] = '\0';
    rivulet_start(rv, edge, trig_for("+15550000001"), sid);
    len = strlen(rivulet_errmsg(rv));
    CHECK(len == ERRMSG_MAX - 1 && strcmp(rivulet_errmsg(rv) + len - 3, "...") == 0,
          "a message of %d bytes is cut: %zu", ERRMSG_MAX, len);
  }
  len = (size_t)snprintf(trig, 128, "{\"from\": \"+15550000001\", \"to\": \"+15559990000\", \"body\": \"");
  memset(trig + len, 'x', BIG);
  strcpy(trig + len + BIG, "\"}");
  rc = rivulet_start(rv, "ask", trig, sid);
  CHECK(rc == RIVULET_OK, "start: a 1 MiB body: %d %s", rc, rivulet_errmsg(rv));
  trig[len + BIG - 1] = '\0';
  rc = rivulet_deliver(rv, "+15550000001", "+15559990000", trig + len);
  CHECK(rc == RIVULET_OK && r.ended == 1, "deliver: a 1 MiB reply: %d %s", rc, rivulet_errmsg(rv));
  rivulet_close(rv);

  {                                    /* past the memory budget: NOMEM, and the handle goes on */
    rivulet_config cfg;
    rivulet *small = NULL;
    memset(&cfg, 0, sizeof cfg);
    cfg.version = RIVULET_CONFIG_VERSION;
    cfg.lua_path = "lua";
    cfg.memory_limit = 8u << 20;
    CHECK(rivulet_open(&small, &cfg) == RIVULET_OK
          && rivulet_load_flow(small, "ask", "spec/fixtures/ask_name.lua") == RIVULET_OK, "open with 8 MiB: %s",
          rivulet_errmsg(small));
    free(trig);
    trig = malloc(16u << 20);
    len = (size_t)snprintf(trig, 128, "{\"from\": \"+15550000001\", \"to\": \"+15559990000\", \"body\": \"");
    memset(trig + len, 'x', (16u << 20) - len - 3);
    strcpy(trig + (16u << 20) - 3, "\"}");
    rc = rivulet_start(small, "ask", trig, sid);
    CHECK(rc == RIVULET_NOMEM && strstr(rivulet_errmsg(small), "out of memory"), "a 16 MiB trigger in 8 MiB: %d %s",
          rc, rivulet_errmsg(small));
    rc = rivulet_start(small, "ask", trig_for("+15550000001"), sid);
    CHECK(rc == RIVULET_OK && rivulet_active(small) == 1, "and the handle goes on: %d %s", rc, rivulet_errmsg(small));
    rivulet_close(small);
  }
  free(name);
  free(trig);
}

/* from inside a callback: every call into the same handle is refused; another handle is fine */
static void misuse_reentry(void) {
  rogue r;
  rivulet *rv;
  char sid[35];
  int i;
  memset(&r, 0, sizeof r);
  rv = open_rogue(&r, NULL);
  r.call_all = 1;
  CHECK(rivulet_start(rv, "ask", trig_for("+15550000001"), sid) == RIVULET_OK, "start: %s", rivulet_errmsg(rv));
  for (i = 0; i < 6; i++)
    CHECK(r.codes[i] == RIVULET_MISUSE, "call %d from inside a callback: %d", i, r.codes[i]);
  CHECK(r.active == -1, "active from inside a callback: -1");
  CHECK(strstr(r.first_msg, "rivulet_load_flow called from inside a callback"), "the message names the call: %s",
        r.first_msg);
  CHECK(strstr(r.errmsg_inside, "rivulet_active called from inside a callback"),
        "rivulet_errmsg works inside a callback: %s", r.errmsg_inside);
  CHECK(rivulet_active(rv) == 1, "only the one execution started");
  r.call_all = 1;
  r.codes[0] = -1;
  CHECK(rivulet_start(rv, "ask", trig_for("+15550000002"), sid) == RIVULET_OK && r.codes[0] == RIVULET_MISUSE
        && rivulet_errmsg(rv)[0] == '\0', "after the refusals inside, a call that succeeded has no message: %s",
        rivulet_errmsg(rv));
  r.other_handle = 1;
  CHECK(rivulet_deliver(rv, "+15550000001", "+15559990000", "Ada") == RIVULET_OK, "deliver: %s", rivulet_errmsg(rv));
  CHECK(r.other_rc == RIVULET_OK, "a callback may open, use and close another handle: %d", r.other_rc);
  rivulet_close(rv);
}

/* rivulet_close from inside a callback: deferred to the end of the call, which stops there */
static void misuse_close_in_callback(void) {
  rogue r;
  rivulet *rv;
  char sid[35];
  int rc;

  memset(&r, 0, sizeof r);
  rv = open_rogue(&r, NULL);
  r.close_on_message = 1;
  strcpy(sid, "unchanged");
  rc = rivulet_start(rv, "ask", trig_for("+15550000001"), sid);   /* the handle is gone after this */
  CHECK(rc == RIVULET_OK && sid[0] == '\0' && r.messages == 1, "close in on_message during start: %d '%s' %d", rc, sid,
        r.messages);
  CHECK(r.after_close_code == RIVULET_MISUSE && strstr(r.after_close, "rivulet_close was called"),
        "a call after the close, in the same callback: %d %s", r.after_close_code, r.after_close);

  memset(&r, 0, sizeof r);
  rv = open_rogue(&r, NULL);
  rivulet_start(rv, "ask", trig_for("+15550000001"), sid);
  r.close_on_message = 1;
  rc = rivulet_deliver(rv, "+15550000001", "+15559990000", "Ada");
  CHECK(rc == RIVULET_OK && r.messages == 2 && r.ended == 0,
        "close in on_message during deliver: no callback after it (%d messages, %d ended)", r.messages, r.ended);

  memset(&r, 0, sizeof r);
  rv = open_rogue(&r, NULL);
  rivulet_start(rv, "ask", trig_for("+15550000001"), sid);
  r.close_on_message = 3;
  rc = rivulet_deliver(rv, "+15550000001", "+15559990000", "Ada");
  CHECK(rc == RIVULET_OK && r.close_on_message == 0, "closing three times in a callback: one close");

  memset(&r, 0, sizeof r);
  rv = open_rogue(&r, NULL);
  rivulet_start(rv, "ask", trig_for("+15550000001"), sid);
  r.close_on_end = 1;
  rc = rivulet_deliver(rv, "+15550000001", "+15559990000", "Ada");
  CHECK(rc == RIVULET_OK && r.ended == 1, "close in on_end during deliver: %d", rc);

  {                                    /* with a store: as if the process had stopped there */
    char dir[] = "/tmp/rivulet-close-XXXXXX", path[64], cmd[96];
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    snprintf(path, sizeof path, "%s/store.db", dir);
    memset(&r, 0, sizeof r);
    rv = open_rogue(&r, path);
    rivulet_start(rv, "ask", trig_for("+15550000001"), sid);
    r.close_on_message = 1;
    rc = rivulet_deliver(rv, "+15550000001", "+15559990000", "Ada");
    CHECK(rc == RIVULET_OK && r.ended == 0, "close in on_message with a store: %d", rc);
    memset(&r, 0, sizeof r);
    rv = open_rogue(&r, path);
    CHECK(rivulet_active(rv) == 1, "the store still holds the execution: %d active", rivulet_active(rv));
    rivulet_poll(rv, 0);
    CHECK(rivulet_active(rv) == 0 && r.ended == 1 && r.messages == 1,
          "and the next open runs the cut-off step again (its message once more) and ends: %d active, %d ended, %d sent",
          rivulet_active(rv), r.ended, r.messages);
    rivulet_close(rv);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0, "cleanup");
  }
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

  misuse_open();
  misuse_after_failed_open();
  account_and_function_map();
  misuse_arguments();
  misuse_triggers();
  misuse_long_strings();
  misuse_reentry();
  misuse_close_in_callback();

  printf("embed: %d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
