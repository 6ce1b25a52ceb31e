/*
** rivulet.core's HTTP: Client and Call userdata over http.c.
** A call holds its client in its user value, so a client is never collected under a
** running call; if both go at once (lua_close), http.c detaches the calls first. A call
** started with a tag (any Lua value; the engine uses the sid of the execution waiting on
** it) is remembered in the client's user value, rv_http_call pointer -> tag, so
** Client:finished can hand back the tags of what finished; a collected call is forgotten.
*/
#include <ctype.h>
#include <string.h>

#include "http.h"
#include "lrv.h"

typedef struct client_box { rv_http *h; } client_box;
typedef struct call_box { rv_http_call *c; } call_box;

static rv_http *check_client(lua_State *L, int idx) {
  client_box *b = luaL_checkudata(L, idx, LRV_HTTP_CLIENT);
  if (!b->h) luaL_error(L, "attempt to use a closed HTTP client");
  return b->h;
}

struct rv_http *lrv_http_of(lua_State *L, int idx) {
  client_box *b = luaL_testudata(L, idx, LRV_HTTP_CLIENT);
  return b ? b->h : NULL;
}

static int client_close(lua_State *L) {
  client_box *b = luaL_checkudata(L, 1, LRV_HTTP_CLIENT);
  rv_http_free(b->h);
  b->h = NULL;
  return 0;
}

/* http_client() -> Client */
static int l_client(lua_State *L) {
  char err[128];
  client_box *b = lua_newuserdatauv(L, sizeof *b, 1);
  b->h = NULL;
  luaL_setmetatable(L, LRV_HTTP_CLIENT);
  lua_createtable(L, 0, 0);                     /* rv_http_call* -> tag */
  lua_setiuservalue(L, -2, 1);
  if (!(b->h = rv_http_new(err, sizeof err))) return luaL_error(L, "%s", err);
  return 1;
}

static long opt_field_int(lua_State *L, int t, const char *k, long def, long lo) {
  long v = def;
  if (lua_getfield(L, t, k) != LUA_TNIL) {
    if (!lua_isinteger(L, -1)) luaL_error(L, "HTTP request field '%s' must be an integer", k);
    v = (long)lua_tointeger(L, -1);
    if (v < lo) luaL_error(L, "HTTP request field '%s' must be at least %d", k, (int)lo);
  }
  lua_pop(L, 1);
  return v;
}

#define MAX_HEADERS 64

/* Client:start{method=, url=, body=, headers={"Name: value", ...}, timeout_ms=, max_body=,
** max_redirects=, verify_tls=, tag=} -> Call (never blocks) */
static int client_start(lua_State *L) {
  rv_http *h = check_client(L, 1);
  rv_http_request req;
  const char *headers[MAX_HEADERS];
  call_box *cb;
  size_t i, n;
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  memset(&req, 0, sizeof req);
  rv_http_limits_init(&req.limits);
  lua_getfield(L, 2, "method");                 /* 3 */
  req.method = luaL_optstring(L, 3, "GET");
  if (strcmp(req.method, "GET") != 0 && strcmp(req.method, "POST") != 0)
    return luaL_error(L, "HTTP method must be GET or POST, not %s", req.method);
  lua_getfield(L, 2, "url");                    /* 4 */
  req.url = luaL_checkstring(L, 4);
  lua_getfield(L, 2, "body");                   /* 5 */
  req.body = luaL_optlstring(L, 5, "", &req.body_len);
  lua_getfield(L, 2, "headers");                /* 6 */
  if (!lua_isnil(L, 6)) {
    luaL_checktype(L, 6, LUA_TTABLE);
    n = lua_rawlen(L, 6);
    if (n > MAX_HEADERS) return luaL_error(L, "at most %d HTTP headers", MAX_HEADERS);
    for (i = 0; i < n; i++) {
      lua_rawgeti(L, 6, (lua_Integer)i + 1);    /* stays on the stack while used */
      headers[i] = luaL_checkstring(L, -1);
      if (strchr(headers[i], '\r') || strchr(headers[i], '\n'))
        return luaL_error(L, "HTTP header %d contains a line break", (int)i + 1);
    }
    req.headers = headers;
    req.nheaders = n;
  }
  req.limits.timeout_ms = opt_field_int(L, 2, "timeout_ms", req.limits.timeout_ms, 1);
  req.limits.max_body = (size_t)opt_field_int(L, 2, "max_body", (long)req.limits.max_body, 0);
  req.limits.max_redirects = opt_field_int(L, 2, "max_redirects", req.limits.max_redirects, 0);
  if (lua_getfield(L, 2, "verify_tls") != LUA_TNIL) req.limits.verify_tls = lua_toboolean(L, -1);
  lua_pop(L, 1);
  cb = lua_newuserdatauv(L, sizeof *cb, 1);
  cb->c = NULL;
  luaL_setmetatable(L, LRV_HTTP_CALL);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1);                  /* the call keeps its client alive */
  if (!(cb->c = rv_http_start(h, &req))) return luaL_error(L, "out of memory");
  if (lua_getfield(L, 2, "tag") != LUA_TNIL) {   /* only tagged calls are Client:finished's */
    lua_getiuservalue(L, 1, 1);
    lua_insert(L, -2);
    lua_rawsetp(L, -2, cb->c);
  }
  lua_pop(L, 1);
  return 1;
}

/* Client:poll([timeout_ms]) -> calls still running */
static int client_poll(lua_State *L) {
  rv_http *h = check_client(L, 1);
  lua_Integer ms = luaL_optinteger(L, 2, 0);
  if (ms < 0) ms = 0;
  if (ms > 0x7fffffff) ms = 0x7fffffff;
  lua_pushinteger(L, rv_http_poll(h, (int)ms));
  return 1;
}

static int client_running(lua_State *L) {
  lua_pushinteger(L, rv_http_running(check_client(L, 1)));
  return 1;
}

static int client_completed(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)rv_http_completed(check_client(L, 1)));
  return 1;
}

/* Client:fds() -> {fd} to wait on for reading while calls run (an epoll set of their
** sockets), or {} when none runs: for core.wait_fds beside other parts' descriptors */
static int client_fds(lua_State *L) {
  int fds[4], i, n;
  short ev[4];
  n = rv_http_fds(check_client(L, 1), fds, ev, 4);
  lua_createtable(L, n, 0);
  for (i = 0; i < n; i++) {
    lua_pushinteger(L, fds[i]);
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

/* Client:timeout() -> ms before libcurl's timers want a poll (-1: no transfer runs) */
static int client_timeout(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)rv_http_timeout(check_client(L, 1)));
  return 1;
}

/* Client:finished() -> {tag, ...} of the tagged calls finished since the last look,
** oldest first, or nothing when none did; each is handed out once */
static int client_finished(lua_State *L) {
  rv_http *h = check_client(L, 1);
  rv_http_call *c;
  lua_Integer n = 0;
  lua_settop(L, 1);
  lua_getiuservalue(L, 1, 1);                   /* 2: the calls */
  while ((c = rv_http_next_done(h))) {
    if (lua_rawgetp(L, 2, c) != LUA_TNIL) {       /* untagged or collected: nobody's news */
      if (n == 0) { lua_createtable(L, 4, 0); lua_insert(L, 3); }   /* 3: the list */
      lua_rawseti(L, 3, ++n);
      lua_pushnil(L);
      lua_rawsetp(L, 2, c);
    } else lua_pop(L, 1);
  }
  return n ? 1 : 0;
}

static rv_http_call *check_call(lua_State *L, int idx) {
  call_box *b = luaL_checkudata(L, idx, LRV_HTTP_CALL);
  if (!b->c) luaL_error(L, "attempt to use a freed HTTP call");
  return b->c;
}

static int call_gc(lua_State *L) {
  call_box *b = luaL_checkudata(L, 1, LRV_HTTP_CALL);
  if (b->c && lua_getiuservalue(L, 1, 1) == LUA_TUSERDATA   /* its client forgets its tag */
      && lua_getiuservalue(L, -1, 1) == LUA_TTABLE) {
    lua_pushnil(L);
    lua_rawsetp(L, -2, b->c);
  }
  rv_http_call_free(b->c);
  b->c = NULL;
  return 0;
}

static int call_done(lua_State *L) {
  lua_pushboolean(L, rv_http_result_of(check_call(L, 1))->done);
  return 1;
}

/* the response's header fields as {lower-case name = value}; a name sent twice has its
** values joined with ", " (RFC 9110 5.3) */
static void push_fields(lua_State *L, const rv_http_result *r) {
  const char *p = r->headers;
  size_t i;
  lua_createtable(L, 0, (int)(r->nheaders < 64 ? r->nheaders : 64));
  for (i = 0; i < r->nheaders; i++) {
    size_t nlen = strlen(p), k;
    const char *name = p, *value = p + nlen + 1;
    char low[64];
    if (nlen <= sizeof low) {                      /* the usual name: no buffer on the stack */
      for (k = 0; k < nlen; k++) low[k] = (char)tolower((unsigned char)name[k]);
      lua_pushlstring(L, low, nlen);
    } else {
      luaL_Buffer b;
      luaL_buffinit(L, &b);
      for (k = 0; k < nlen; k++) luaL_addchar(&b, (char)tolower((unsigned char)name[k]));
      luaL_pushresult(&b);
    }                                              /* name */
    lua_pushvalue(L, -1);
    if (lua_rawget(L, -3) == LUA_TSTRING) {        /* [name, earlier] */
      lua_pushliteral(L, ", ");
      lua_pushstring(L, value);
      lua_concat(L, 3);
    } else {
      lua_pop(L, 1);
      lua_pushstring(L, value);
    }
    lua_rawset(L, -3);
    p = value + strlen(value) + 1;
  }
}

/* the result's fields into a new table; reply: rivulet.http's outcome names (status_code,
** no redirects), sized for the two fields the outcome adds (event, parsed) */
static int push_result(lua_State *L, int reply) {
  const rv_http_result *r = rv_http_result_of(check_call(L, 1));
  const char *reason;
  if (!r->done) return 0;
  lua_createtable(L, 0, 8);
  lua_pushinteger(L, r->status);
  lua_setfield(L, -2, reply ? "status_code" : "status");
  lua_pushstring(L, r->content_type);
  lua_setfield(L, -2, "content_type");
  lua_pushlstring(L, r->body, r->body_len);
  lua_setfield(L, -2, "body");
  push_fields(L, r);
  lua_setfield(L, -2, "headers");
  lua_pushstring(L, r->url);
  lua_setfield(L, -2, "url");
  if (!reply) {
    lua_pushinteger(L, r->redirects);
    lua_setfield(L, -2, "redirects");
  }
  lua_pushnumber(L, r->elapsed_ms);
  lua_setfield(L, -2, "elapsed_ms");
  if ((reason = rv_http_reason_name(r->reason))) {
    lua_pushstring(L, reason);
    lua_setfield(L, -2, "reason");
  }
  if (r->message[0]) {
    lua_pushstring(L, r->message);
    lua_setfield(L, -2, "message");
  }
  return 1;
}

/* Call:result() -> nil while running, else {status=, content_type=, body=, headers=,
** url=, redirects=, elapsed_ms=, reason=?, message=?} */
static int call_result(lua_State *L) {
  return push_result(L, 0);
}

/* Call:reply() -> nil while running, else {status_code=, content_type=, body=, headers=,
** url=, elapsed_ms=, reason=?, message=?}: the table rivulet.http makes its outcome of */
static int call_reply(lua_State *L) {
  return push_result(L, 1);
}

void lrv_open_http(lua_State *L) {
  static const luaL_Reg client_methods[] = {
    { "start", client_start }, { "poll", client_poll }, { "running", client_running },
    { "completed", client_completed }, { "finished", client_finished },
    { "fds", client_fds }, { "timeout", client_timeout },
    { "close", client_close }, { NULL, NULL }
  };
  static const luaL_Reg call_methods[] = {
    { "done", call_done }, { "result", call_result }, { "reply", call_reply }, { NULL, NULL }
  };
  static const luaL_Reg funcs[] = { { "http_client", l_client }, { NULL, NULL } };
  static const luaL_Reg client_meta[] = { { "__gc", client_close }, { "__close", client_close }, { NULL, NULL } };
  static const luaL_Reg call_meta[] = { { "__gc", call_gc }, { NULL, NULL } };
  lrv_class(L, LRV_HTTP_CLIENT, client_meta, client_methods);
  lrv_class(L, LRV_HTTP_CALL, call_meta, call_methods);
  luaL_setfuncs(L, funcs, 0);
  lua_pushinteger(L, RV_HTTP_TIMEOUT_MS);
  lua_setfield(L, -2, "HTTP_TIMEOUT_MS");
  lua_pushinteger(L, RV_HTTP_MAX_BODY);
  lua_setfield(L, -2, "HTTP_MAX_BODY");
  lua_pushinteger(L, RV_HTTP_MAX_REDIRECTS);
  lua_setfield(L, -2, "HTTP_MAX_REDIRECTS");
  lua_pushinteger(L, RV_HTTP_MAX_HEADER_BYTES);
  lua_setfield(L, -2, "HTTP_MAX_HEADER_BYTES");
  lua_pushinteger(L, RV_HTTP_MAX_HEADER_LINES);
  lua_setfield(L, -2, "HTTP_MAX_HEADER_LINES");
}
