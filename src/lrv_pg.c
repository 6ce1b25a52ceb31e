/*
** A small libpq binding for the PostgreSQL execution store (lua/rivulet/store_pg.lua): a
** connection, prepared statements with positional parameters ($1, $2, ...), rows as tables
** keyed by column name, LISTEN/NOTIFY's notifications and the socket to wait on. The
** schema and the store's rules live in Lua; this file only moves values across, the same
** shapes as the SQLite binding (src/lrv_sqlite.c): stmt:run/all/first.
**
** Every call is synchronous and bounded: a query is sent, and its answer waited for on the
** connection's socket for at most the connection's timeout (conn:set_timeout). A database
** that does not answer in time, a connection that broke or a server that restarts is
** "unavailable": the connection is closed, and the store opens a new one later. The serve
** loop is therefore never held longer than one query's timeout; on a LAN a query takes
** well under a millisecond to a few milliseconds (see store_pg.lua for why synchronous).
**
** Failures of the outside world return nil, message, code. code is named from the
** SQLSTATE: "constraint" (23xxx), "busy" (a serialization failure, a deadlock, a statement
** timeout), "locked" (55P03), "full" (53100 disk full), "nomem", "ioerr", "perm",
** "readonly", "unavailable" (a connection failure, 08xxx, 57P0x, too many connections, no
** answer in time), "error" (anything else). Misuse (a closed connection, a value that
** cannot be a parameter) raises; no Lua error is raised while a PGresult is held.
**
** Values. Results come in binary format and are decoded by type: integers (int2/4/8, oid)
** as Lua integers, float4/8 as numbers, bool as booleans, text and bytea as their bytes,
** void as absent; NULL is absent. Parameters: nil is NULL, numbers and booleans are sent as
** text, a string for a bytea parameter is sent as its bytes (binary), a string for any other
** type as text; text must be valid UTF-8 without NUL (PostgreSQL's text type), so invalid
** bytes and NUL are written as U+FFFD there. The store keeps bytes that must survive
** exactly (contexts, waits, flow sources) in bytea columns.
*/
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "lazy.h"
#include "lrv.h"

#define LRV_PG_CONN "rivulet.pg.Conn"
#define LRV_PG_STMT "rivulet.pg.Stmt"

/* type OIDs (pg_type.h, stable across releases) */
#define OID_BOOL 16
#define OID_BYTEA 17
#define OID_NAME 19
#define OID_INT8 20
#define OID_INT2 21
#define OID_INT4 23
#define OID_TEXT 25
#define OID_OID 26
#define OID_FLOAT4 700
#define OID_FLOAT8 701
#define OID_UNKNOWN 705
#define OID_BPCHAR 1042
#define OID_VARCHAR 1043
#define OID_VOID 2278

#define DEFAULT_TIMEOUT_MS 5000     /* a query's answer, unless set_timeout says otherwise */
#define MAX_TIMEOUT_MS 3600000      /* set_timeout's bound: an hour (poll takes an int) */
#define MAX_PARAMS 256              /* parameters of one statement (the store's take < 40) */

typedef struct {
  PGconn *pg;                 /* NULL once closed (or broken: the store opens another) */
  int timeout_ms;             /* how long a query's answer is waited for */
  unsigned next_stmt;         /* names of prepared statements: s1, s2, ... */
} Conn;

typedef struct {
  Conn *conn;                 /* kept alive through the statement's user value */
  PGconn *pg;                 /* the connection it was prepared on (a new one knows it not) */
  char name[16];
  int nparams;
  Oid types[MAX_PARAMS];
} Stmt;

/* the code of a failure that broke the connection (compared by address) */
static const char UNAVAILABLE[] = "unavailable";

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *code_of_state(const char *st) {
  if (!st || strlen(st) != 5) return "error";
  if (strncmp(st, "23", 2) == 0) return "constraint";
  if (strcmp(st, "40001") == 0 || strcmp(st, "40P01") == 0 || strcmp(st, "57014") == 0) return "busy";
  if (strcmp(st, "55P03") == 0) return "locked";
  if (strcmp(st, "53100") == 0) return "full";
  if (strcmp(st, "53200") == 0) return "nomem";
  if (strcmp(st, "53300") == 0) return UNAVAILABLE;        /* too many connections */
  if (strcmp(st, "58030") == 0) return "ioerr";
  if (strcmp(st, "42501") == 0) return "perm";
  if (strcmp(st, "25006") == 0) return "readonly";
  if (strncmp(st, "08", 2) == 0 || strncmp(st, "57P0", 4) == 0) return UNAVAILABLE;
  return "error";
}

/* libpq's messages end with a newline and may span lines: one line for ours */
static void push_message(lua_State *L, const char *msg) {
  size_t n = msg ? strlen(msg) : 0, i;
  luaL_Buffer b;
  while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' ')) n--;
  if (n == 0) {
    lua_pushliteral(L, "the database failed without saying why");
    return;
  }
  luaL_buffinit(L, &b);
  for (i = 0; i < n; i++) {
    if (msg[i] == '\n') {
      luaL_addstring(&b, "; ");
      while (i + 1 < n && (msg[i + 1] == '\t' || msg[i + 1] == ' ')) i++;
    } else {
      luaL_addchar(&b, msg[i]);
    }
  }
  luaL_pushresult(&b);
}

/* notices (a NOTICE from IF NOT EXISTS...) are not the user's business */
static void quiet(void *arg, const char *message) {
  (void)arg;
  (void)message;
}

static void drop(Conn *c) {
  if (c->pg) {
    PQfinish(c->pg);
    c->pg = NULL;
  }
}

/* nil, message, code; a connection that broke is closed (the store opens another) */
static int push_fail(lua_State *L, Conn *c, const char *msg, const char *code) {
  luaL_pushfail(L);
  push_message(L, msg);
  if (c->pg && PQstatus(c->pg) != CONNECTION_OK) code = UNAVAILABLE;
  lua_pushstring(L, code);
  if (code == UNAVAILABLE) drop(c);
  return 3;
}

static Conn *check_conn(lua_State *L, int idx) {
  Conn *c = (Conn *)luaL_checkudata(L, idx, LRV_PG_CONN);
  if (!c->pg) luaL_error(L, "the database connection is closed");
  return c;
}

/* waits until the socket is ready for `events` or the deadline passes: 1 ready, 0 timeout,
** -1 failed */
static int wait_socket(PGconn *pg, short events, int64_t deadline) {
  struct pollfd p;
  int64_t left;
  int rc;
  p.fd = PQsocket(pg);
  if (p.fd < 0) return -1;
  p.events = events;
  for (;;) {
    left = deadline - now_ms();
    if (left <= 0) return 0;
    p.revents = 0;
    rc = poll(&p, 1, (int)left);
    if (rc > 0) return 1;
    if (rc == 0) return 0;
    if (errno != EINTR) return -1;
  }
}

/* pg_connect(conninfo [, timeout_ms]) -> conn | nil, err, code. conninfo: a postgresql://
** URI or "key=value ..." text. The connection is made without blocking past timeout_ms
** (libpq's own connect_timeout counts whole seconds). client_encoding is UTF8. */
static int l_connect(lua_State *L) {
  const char *info = luaL_checkstring(L, 1);
  lua_Integer ms = luaL_optinteger(L, 2, DEFAULT_TIMEOUT_MS);
  /* defaults first (the URI may set its own), then what the store relies on */
  const char *const keys[] = { "fallback_application_name", "keepalives", "keepalives_idle",
                               "keepalives_interval", "keepalives_count", "dbname",
                               "client_encoding", NULL };
  const char *const vals[] = { "rivulet", "1", "10", "5", "3", info, "UTF8", NULL };
  int64_t deadline;
  PostgresPollingStatusType st = PGRES_POLLING_WRITING;
  Conn *c;
  const char *why;
  luaL_argcheck(L, ms > 0 && ms <= MAX_TIMEOUT_MS, 2, "timeout out of range");
  if ((why = rv_pq_unavailable()) != NULL) {   /* libpq is opened on first use */
    luaL_pushfail(L);
    lua_pushstring(L, why);
    lua_pushliteral(L, "unavailable");
    return 3;
  }
  c = (Conn *)lua_newuserdatauv(L, sizeof *c, 0);
  c->pg = NULL;
  c->timeout_ms = (int)ms;
  c->next_stmt = 0;
  luaL_setmetatable(L, LRV_PG_CONN);
  deadline = now_ms() + ms;
  c->pg = PQconnectStartParams(keys, vals, 1);
  if (!c->pg) {
    luaL_pushfail(L);
    lua_pushliteral(L, "out of memory");
    lua_pushliteral(L, "nomem");
    return 3;
  }
  if (PQstatus(c->pg) == CONNECTION_BAD) {
    luaL_pushfail(L);
    push_message(L, PQerrorMessage(c->pg));
    /* a conninfo libpq cannot read is the caller's to fix, not the database's */
    lua_pushliteral(L, "badpath");
    drop(c);
    return 3;
  }
  while (st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED) {
    int rc = wait_socket(c->pg, st == PGRES_POLLING_READING ? POLLIN : POLLOUT, deadline);
    if (rc <= 0) {
      luaL_pushfail(L);
      if (rc == 0) lua_pushfstring(L, "no connection to the database within %d ms", (int)ms);
      else lua_pushfstring(L, "connecting to the database: %s", strerror(errno));
      lua_pushliteral(L, "unavailable");
      drop(c);
      return 3;
    }
    st = PQconnectPoll(c->pg);
  }
  if (st == PGRES_POLLING_FAILED) {
    const char *msg = PQerrorMessage(c->pg);
    luaL_pushfail(L);
    push_message(L, msg);
    /* who it is or which database is the caller's to fix; everything else may pass */
    if (strstr(msg, "password authentication failed") || strstr(msg, "does not exist")
        || strstr(msg, "no password supplied") || strstr(msg, "no pg_hba.conf entry"))
      lua_pushliteral(L, "refused");
    else
      lua_pushliteral(L, "unavailable");
    drop(c);
    return 3;
  }
  PQsetnonblocking(c->pg, 1);
  PQsetNoticeProcessor(c->pg, quiet, NULL);
  return 1;
}

static int l_conn_close(lua_State *L) {
  Conn *c = (Conn *)luaL_checkudata(L, 1, LRV_PG_CONN);
  drop(c);
  return 0;
}

/* conn:ok() -> whether the connection is open and healthy (as far as libpq knows) */
static int l_conn_ok(lua_State *L) {
  Conn *c = (Conn *)luaL_checkudata(L, 1, LRV_PG_CONN);
  lua_pushboolean(L, c->pg != NULL && PQstatus(c->pg) == CONNECTION_OK);
  return 1;
}

/* conn:set_timeout(ms): how long a query's answer is waited for */
static int l_conn_set_timeout(lua_State *L) {
  Conn *c = check_conn(L, 1);
  lua_Integer ms = luaL_checkinteger(L, 2);
  luaL_argcheck(L, ms > 0 && ms <= MAX_TIMEOUT_MS, 2, "timeout out of range");
  c->timeout_ms = (int)ms;
  return 0;
}

static int l_conn_fd(lua_State *L) {
  Conn *c = check_conn(L, 1);
  lua_pushinteger(L, PQsocket(c->pg));
  return 1;
}

static int l_conn_backend_pid(lua_State *L) {
  Conn *c = check_conn(L, 1);
  lua_pushinteger(L, PQbackendPID(c->pg));
  return 1;
}

static int l_conn_server_version(lua_State *L) {
  Conn *c = check_conn(L, 1);
  lua_pushinteger(L, PQserverVersion(c->pg));
  return 1;
}

/* After a PQsend*: flushes the query out and collects its results within the connection's
** timeout. Returns the last result (the caller clears it; a failed one wins over later
** ones), or NULL with *why set (no answer in time, or the connection failed). */
static PGresult *collect(Conn *c, const char **why) {
  int64_t deadline = now_ms() + c->timeout_ms;
  PGresult *keep = NULL, *r;
  int rc;
  *why = NULL;
  while ((rc = PQflush(c->pg)) == 1)
    if (wait_socket(c->pg, POLLIN | POLLOUT, deadline) <= 0) {
      *why = "no answer from the database in time (sending)";
      return NULL;
    } else if (!PQconsumeInput(c->pg)) {
      *why = PQerrorMessage(c->pg);
      return NULL;
    }
  if (rc < 0) {
    *why = PQerrorMessage(c->pg);
    return NULL;
  }
  for (;;) {
    while (PQisBusy(c->pg)) {
      int w = wait_socket(c->pg, POLLIN, deadline);
      if (w <= 0) {
        if (keep) PQclear(keep);
        *why = w == 0 ? "no answer from the database in time" : strerror(errno);
        return NULL;
      }
      if (!PQconsumeInput(c->pg)) {
        if (keep) PQclear(keep);
        *why = PQerrorMessage(c->pg);
        return NULL;
      }
    }
    r = PQgetResult(c->pg);
    if (!r) break;
    if (keep && PQresultStatus(keep) == PGRES_FATAL_ERROR) PQclear(r);   /* the first failure */
    else {
      if (keep) PQclear(keep);
      keep = r;
    }
  }
  if (!keep) *why = PQerrorMessage(c->pg);
  return keep;
}

/* a result that failed -> nil, err, code (and clears it); NULL when it succeeded */
static int result_failed(lua_State *L, Conn *c, PGresult *r) {
  ExecStatusType s = PQresultStatus(r);
  if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK || s == PGRES_EMPTY_QUERY) return 0;
  {
    /* the message lives in the result: copy it before clearing */
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    const char *primary = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    const char *code = code_of_state(state);
    lua_pushstring(L, primary ? primary : PQresultErrorMessage(r));
    PQclear(r);
    luaL_pushfail(L);
    push_message(L, lua_tostring(L, -2));
    lua_remove(L, -3);
    if (c->pg && PQstatus(c->pg) != CONNECTION_OK) code = UNAVAILABLE;
    lua_pushstring(L, code);
    if (code == UNAVAILABLE) drop(c);
    return 3;
  }
}

/* conn:exec(sql) -> true | nil, err, code: statements without parameters (several may be
** given, separated by ;), their rows ignored */
static int l_conn_exec(lua_State *L) {
  Conn *c = check_conn(L, 1);
  const char *sql = luaL_checkstring(L, 2);
  const char *why;
  PGresult *r;
  int n;
  if (!PQsendQuery(c->pg, sql)) return push_fail(L, c, PQerrorMessage(c->pg), "error");
  r = collect(c, &why);
  if (!r) return push_fail(L, c, why, UNAVAILABLE);
  if ((n = result_failed(L, c, r)) != 0) return n;
  PQclear(r);
  lua_pushboolean(L, 1);
  return 1;
}

/* conn:prepare(sql) -> stmt | nil, err, code */
static int l_conn_prepare(lua_State *L) {
  Conn *c = check_conn(L, 1);
  const char *sql = luaL_checkstring(L, 2);
  const char *why;
  PGresult *r;
  Stmt *s = (Stmt *)lua_newuserdatauv(L, sizeof *s, 1);
  int n, i;
  s->conn = c;
  s->pg = NULL;
  s->nparams = 0;
  snprintf(s->name, sizeof s->name, "s%u", ++c->next_stmt);
  luaL_setmetatable(L, LRV_PG_STMT);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1);
  if (!PQsendPrepare(c->pg, s->name, sql, 0, NULL)) return push_fail(L, c, PQerrorMessage(c->pg), "error");
  r = collect(c, &why);
  if (!r) return push_fail(L, c, why, UNAVAILABLE);
  if ((n = result_failed(L, c, r)) != 0) return n;
  PQclear(r);
  /* the parameters' types: a bytea takes bytes, text takes UTF-8 */
  if (!PQsendDescribePrepared(c->pg, s->name)) return push_fail(L, c, PQerrorMessage(c->pg), "error");
  r = collect(c, &why);
  if (!r) return push_fail(L, c, why, UNAVAILABLE);
  if ((n = result_failed(L, c, r)) != 0) return n;
  n = PQnparams(r);
  if (n > MAX_PARAMS) {
    PQclear(r);
    return luaL_error(L, "a statement takes at most %d parameters", MAX_PARAMS);
  }
  for (i = 0; i < n; i++) s->types[i] = PQparamtype(r, i);
  s->nparams = n;
  PQclear(r);
  s->pg = c->pg;
  return 1;
}

static Stmt *check_stmt(lua_State *L, int idx) {
  Stmt *s = (Stmt *)luaL_checkudata(L, idx, LRV_PG_STMT);
  if (!s->pg || s->conn->pg != s->pg) luaL_error(L, "the statement's connection is closed");
  return s;
}

/* the length of the well-formed UTF-8 sequence (not NUL) at s, or 0 */
static size_t utf8_seq(const unsigned char *s, size_t n) {
  unsigned char c = s[0], lo = 0x80, hi = 0xBF;
  size_t len, i;
  if (c == 0) return 0;
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) len = 2;
  else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;
    else if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;
    else if (c == 0xF4) hi = 0x8F;
  } else return 0;
  for (i = 1; i < len; i++) {
    if (i >= n || s[i] < lo || s[i] > hi) return 0;
    lo = 0x80;
    hi = 0xBF;
  }
  return len;
}

/* text for a text parameter: s itself when it is valid UTF-8 without NUL, else a copy with
** each bad byte as U+FFFD, left on the stack */
static const char *as_text(lua_State *L, const char *s, size_t n) {
  size_t i = 0, k, bad = 0;
  luaL_Buffer b;
  while (i < n) {
    k = utf8_seq((const unsigned char *)s + i, n - i);
    if (k == 0) { bad = 1; break; }
    i += k;
  }
  if (!bad) return s;
  luaL_buffinit(L, &b);
  for (i = 0; i < n;) {
    k = utf8_seq((const unsigned char *)s + i, n - i);
    if (k == 0) {
      luaL_addstring(&b, "\xEF\xBF\xBD");
      i++;
    } else {
      luaL_addlstring(&b, s + i, k);
      i += k;
    }
  }
  luaL_pushresult(&b);
  return lua_tostring(L, -1);
}

/* sends the statement with arguments from..top; the strings it makes stay on the stack
** until the query is sent. 0, or nil, err, code pushed (the count of them) */
static int send(lua_State *L, Stmt *s, int from) {
  int top = lua_gettop(L), n = top - from + 1, i;
  const char *values[MAX_PARAMS];
  int lengths[MAX_PARAMS], formats[MAX_PARAMS];
  if (n > s->nparams) return luaL_error(L, "statement takes %d parameters, got %d", s->nparams, n);
  luaL_checkstack(L, n + 4, "too many parameters");
  for (i = 0; i < s->nparams; i++) {
    int idx = from + i;
    Oid t = s->types[i];
    values[i] = NULL;
    lengths[i] = 0;
    formats[i] = 0;
    if (i >= n) continue;
    switch (lua_type(L, idx)) {
    case LUA_TNIL: break;
    case LUA_TBOOLEAN:
      if (t == OID_BOOL) values[i] = lua_toboolean(L, idx) ? "t" : "f";
      else values[i] = lua_toboolean(L, idx) ? "1" : "0";
      break;
    case LUA_TNUMBER:
      if (lua_isinteger(L, idx)) lua_pushfstring(L, "%I", (LUAI_UACINT)lua_tointeger(L, idx));
      else {
        char num[64];
        snprintf(num, sizeof num, "%.17g", (double)lua_tonumber(L, idx));
        lua_pushstring(L, num);
      }
      values[i] = lua_tostring(L, -1);
      break;
    case LUA_TSTRING: {
      size_t len;
      const char *v = lua_tolstring(L, idx, &len);
      if (len > 0x7fffffff) return luaL_error(L, "parameter %d is too long", i + 1);
      if (t == OID_BYTEA) {
        values[i] = v;
        lengths[i] = (int)len;
        formats[i] = 1;
      } else {
        values[i] = as_text(L, v, len);
      }
      break;
    }
    default:
      return luaL_error(L, "cannot store a %s (parameter %d)", luaL_typename(L, idx), i + 1);
    }
  }
  if (!PQsendQueryPrepared(s->pg, s->name, s->nparams, values, lengths, formats, 1))
    return push_fail(L, s->conn, PQerrorMessage(s->pg), "error");
  return 0;
}

static uint64_t be(const char *p, int n) {
  uint64_t v = 0;
  int i;
  for (i = 0; i < n; i++) v = (v << 8) | (unsigned char)p[i];
  return v;
}

/* whether every column's type is one this binding reads */
static int readable(PGresult *r, int *bad_col) {
  int i, n = PQnfields(r);
  for (i = 0; i < n; i++) {
    switch (PQftype(r, i)) {
    case OID_BOOL: case OID_BYTEA: case OID_NAME: case OID_INT8: case OID_INT2: case OID_INT4:
    case OID_TEXT: case OID_OID: case OID_FLOAT4: case OID_FLOAT8: case OID_UNKNOWN:
    case OID_BPCHAR: case OID_VARCHAR: case OID_VOID: break;
    default: *bad_col = i; return 0;
    }
  }
  return 1;
}

static void push_row(lua_State *L, PGresult *r, int row) {
  int n = PQnfields(r), i;
  lua_createtable(L, 0, n);
  for (i = 0; i < n; i++) {
    const char *v;
    int len;
    if (PQgetisnull(r, row, i)) continue;
    v = PQgetvalue(r, row, i);
    len = PQgetlength(r, row, i);
    switch (PQftype(r, i)) {
    case OID_VOID: continue;
    case OID_BOOL: lua_pushboolean(L, len > 0 && v[0] != 0); break;
    case OID_INT2: lua_pushinteger(L, (lua_Integer)(int16_t)be(v, 2)); break;
    case OID_INT4: lua_pushinteger(L, (lua_Integer)(int32_t)be(v, 4)); break;
    case OID_OID: lua_pushinteger(L, (lua_Integer)(uint32_t)be(v, 4)); break;
    case OID_INT8: lua_pushinteger(L, (lua_Integer)(int64_t)be(v, 8)); break;
    case OID_FLOAT4: {
      uint32_t b = (uint32_t)be(v, 4);
      float f;
      memcpy(&f, &b, sizeof f);
      lua_pushnumber(L, (lua_Number)f);
      break;
    }
    case OID_FLOAT8: {
      uint64_t b = be(v, 8);
      double d;
      memcpy(&d, &b, sizeof d);
      lua_pushnumber(L, (lua_Number)d);
      break;
    }
    default: lua_pushlstring(L, v, (size_t)len);
    }
    lua_setfield(L, -2, PQfname(r, i));
  }
}

/* runs the statement: the result, or NULL with nil, err, code pushed (*pushed) */
static PGresult *run(lua_State *L, Stmt *s, int *pushed) {
  const char *why;
  PGresult *r;
  int col = 0, n;
  *pushed = send(L, s, 2);
  if (*pushed) return NULL;
  r = collect(s->conn, &why);
  if (!r) {
    *pushed = push_fail(L, s->conn, why, UNAVAILABLE);
    return NULL;
  }
  if ((n = result_failed(L, s->conn, r)) != 0) {
    *pushed = n;
    return NULL;
  }
  if (!readable(r, &col)) {
    Oid t = PQftype(r, col);
    lua_pushstring(L, PQfname(r, col));
    PQclear(r);
    luaL_error(L, "column %s has a type this binding does not read (OID %d)", lua_tostring(L, -1), (int)t);
  }
  return r;
}

/* stmt:run(...) -> rows affected (or returned) | nil, err, code */
static int l_stmt_run(lua_State *L) {
  Stmt *s = check_stmt(L, 1);
  int pushed;
  PGresult *r = run(L, s, &pushed);
  const char *t;
  if (!r) return pushed;
  t = PQcmdTuples(r);
  lua_pushinteger(L, PQresultStatus(r) == PGRES_TUPLES_OK ? PQntuples(r) : (t && *t ? atoi(t) : 0));
  PQclear(r);
  return 1;
}

/* stmt:all(...) -> {row, ...} | nil, err, code */
static int l_stmt_all(lua_State *L) {
  Stmt *s = check_stmt(L, 1);
  int pushed, i, n;
  PGresult *r = run(L, s, &pushed);
  if (!r) return pushed;
  n = PQntuples(r);
  lua_createtable(L, n, 0);
  for (i = 0; i < n; i++) {
    push_row(L, r, i);
    lua_rawseti(L, -2, i + 1);
  }
  PQclear(r);
  return 1;
}

/* stmt:first(...) -> row | false (no row) | nil, err, code */
static int l_stmt_first(lua_State *L) {
  Stmt *s = check_stmt(L, 1);
  int pushed;
  PGresult *r = run(L, s, &pushed);
  if (!r) return pushed;
  if (PQntuples(r) > 0) push_row(L, r, 0);
  else lua_pushboolean(L, 0);
  PQclear(r);
  return 1;
}

/* conn:notifies() -> {{channel=, payload=, pid=}, ...} | nil, err, code: what LISTEN
** brought since the last look (reads what the socket holds, without waiting) */
static int l_conn_notifies(lua_State *L) {
  Conn *c = check_conn(L, 1);
  PGnotify *n;
  int k = 0;
  if (!PQconsumeInput(c->pg)) return push_fail(L, c, PQerrorMessage(c->pg), UNAVAILABLE);
  lua_newtable(L);
  while ((n = PQnotifies(c->pg)) != NULL) {
    lua_createtable(L, 0, 3);
    lua_pushstring(L, n->relname);
    lua_setfield(L, -2, "channel");
    lua_pushstring(L, n->extra);
    lua_setfield(L, -2, "payload");
    lua_pushinteger(L, n->be_pid);
    lua_setfield(L, -2, "pid");
    PQfreemem(n);
    lua_rawseti(L, -2, ++k);
  }
  return 1;
}

/* conn:transaction_status() -> "idle" | "intrans" | "inerror" | "active" | "unknown": where
** the session stands (no round trip). "inerror": a statement failed inside a transaction,
** which PostgreSQL then only rolls back (its COMMIT answers ROLLBACK, not an error) */
static int l_conn_transaction_status(lua_State *L) {
  Conn *c = check_conn(L, 1);
  switch (PQtransactionStatus(c->pg)) {
  case PQTRANS_IDLE: lua_pushliteral(L, "idle"); break;
  case PQTRANS_INTRANS: lua_pushliteral(L, "intrans"); break;
  case PQTRANS_INERROR: lua_pushliteral(L, "inerror"); break;
  case PQTRANS_ACTIVE: lua_pushliteral(L, "active"); break;
  default: lua_pushliteral(L, "unknown"); break;
  }
  return 1;
}

static int l_stmt_gc(lua_State *L) {
  (void)luaL_checkudata(L, 1, LRV_PG_STMT);
  /* the server drops prepared statements with their session; nothing to free here */
  return 0;
}

void lrv_open_pg(lua_State *L) {
  static const luaL_Reg conn_methods[] = {
    { "exec", l_conn_exec }, { "prepare", l_conn_prepare }, { "close", l_conn_close },
    { "ok", l_conn_ok }, { "set_timeout", l_conn_set_timeout }, { "fd", l_conn_fd },
    { "notifies", l_conn_notifies }, { "backend_pid", l_conn_backend_pid },
    { "server_version", l_conn_server_version }, { "transaction_status", l_conn_transaction_status },
    { NULL, NULL }
  };
  static const luaL_Reg stmt_methods[] = {
    { "run", l_stmt_run }, { "all", l_stmt_all }, { "first", l_stmt_first }, { NULL, NULL }
  };
  static const luaL_Reg conn_meta[] = { { "__gc", l_conn_close }, { NULL, NULL } };
  static const luaL_Reg stmt_meta[] = { { "__gc", l_stmt_gc }, { NULL, NULL } };
  lrv_class(L, LRV_PG_CONN, conn_meta, conn_methods);
  lrv_class(L, LRV_PG_STMT, stmt_meta, stmt_methods);
  lua_pushcfunction(L, l_connect);
  lua_setfield(L, -2, "pg_connect");
}
