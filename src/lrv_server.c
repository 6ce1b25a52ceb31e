/*
** rivulet.core's HTTP server: a Server userdata over server.c, and wait_fds, one poll(2) over
** the descriptors of several parts (the server's, the HTTP client's) so a serve loop sleeps
** in one place. No Lua runs inside libmicrohttpd: requests are copied out by Server:next and
** answered by Server:respond, both plain calls from Lua.
*/
#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <time.h>

#include "lrv.h"
#include "server.h"

#define MAX_WAIT_FDS 256          /* descriptors one wait_fds takes */

typedef struct server_box { rv_server *s; } server_box;

static rv_server *check_server(lua_State *L, int idx) {
  server_box *b = luaL_checkudata(L, idx, LRV_SERVER);
  if (!b->s) luaL_error(L, "attempt to use a closed HTTP server");
  return b->s;
}

static double mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Server:close([drain_ms]): stops accepting and, given drain_ms, first sends what was
** answered (waiting at most drain_ms); then closes every connection and frees the server.
** Idempotent; __gc and __close close without draining. */
static int server_close(lua_State *L) {
  server_box *b = luaL_checkudata(L, 1, LRV_SERVER);
  lua_Integer drain = luaL_optinteger(L, 2, 0);
  if (!b->s) return 0;
  if (drain > 0) {
    double end = mono_ms() + (double)drain;
    rv_server_shutdown(b->s);
    rv_server_run(b->s);
    while (rv_server_sending(b->s) > 0) {
      struct pollfd p;
      short ev;
      int fd;
      double left = end - mono_ms();
      long t = rv_server_timeout(b->s);
      if (left <= 0) break;
      if (t < 0 || t > (long)left) t = (long)left + 1;
      if (rv_server_fds(b->s, &fd, &ev, 1) == 1) {
        p.fd = fd;
        p.events = ev;
        p.revents = 0;
        poll(&p, 1, (int)t);
      }
      rv_server_run(b->s);
    }
  }
  rv_server_free(b->s);
  b->s = NULL;
  return 0;
}

static unsigned long opt_uint(lua_State *L, int t, const char *k, unsigned long def,
                              unsigned long lo, unsigned long hi) {
  unsigned long v = def;
  if (lua_getfield(L, t, k) != LUA_TNIL) {
    lua_Integer i;
    if (!lua_isinteger(L, -1)) luaL_error(L, "server option '%s' must be an integer", k);
    i = lua_tointeger(L, -1);
    if (i < (lua_Integer)lo || (lua_Unsigned)i > hi)
      luaL_error(L, "server option '%s' must be between %I and %I", k, (lua_Integer)lo, (lua_Integer)hi);
    v = (unsigned long)i;
  }
  lua_pop(L, 1);
  return v;
}

/* server_listen([host [, port [, opts]]]) -> Server | nil, err
** host: numeric IPv4/IPv6 ("127.0.0.1" default, "::1" or "[::1]"); port 0 picks a free one.
** opts: max_body, max_header_bytes, connection_memory, max_connections, max_per_ip (0: none),
** idle_timeout_s, request_timeout_ms, answer_timeout_ms (0: none), max_pending, backlog */
static int l_server_listen(lua_State *L) {
  const char *host = luaL_optstring(L, 1, "127.0.0.1");
  lua_Integer port = luaL_optinteger(L, 2, 0);
  rv_server_limits lim;
  server_box *b;
  char err[256];
  luaL_argcheck(L, port >= 0 && port <= 65535, 2, "port out of range");
  rv_server_limits_init(&lim);
  if (!lua_isnoneornil(L, 3)) {
    luaL_checktype(L, 3, LUA_TTABLE);
    lim.max_body = opt_uint(L, 3, "max_body", lim.max_body, 0, 0x7fffffffUL);
    lim.max_header_bytes = opt_uint(L, 3, "max_header_bytes", lim.max_header_bytes, 64, 1UL << 24);
    lim.connection_memory = opt_uint(L, 3, "connection_memory", lim.connection_memory, 0, 1UL << 26);
    lim.max_connections = (unsigned)opt_uint(L, 3, "max_connections", lim.max_connections, 1, 1000000);
    lim.max_per_ip = (unsigned)opt_uint(L, 3, "max_per_ip", lim.max_per_ip, 0, 1000000);
    lim.idle_timeout_s = (unsigned)opt_uint(L, 3, "idle_timeout_s", lim.idle_timeout_s, 0, 86400);
    lim.request_timeout_ms = (long)opt_uint(L, 3, "request_timeout_ms", (unsigned long)lim.request_timeout_ms, 0, 86400000);
    lim.answer_timeout_ms = (long)opt_uint(L, 3, "answer_timeout_ms", (unsigned long)lim.answer_timeout_ms, 0, 86400000);
    lim.max_pending = (unsigned)opt_uint(L, 3, "max_pending", lim.max_pending, 1, 1000000);
    lim.backlog = (int)opt_uint(L, 3, "backlog", (unsigned long)lim.backlog, 1, 65535);
  }
  b = lua_newuserdatauv(L, sizeof *b, 0);
  b->s = NULL;
  luaL_setmetatable(L, LRV_SERVER);
  if (!(b->s = rv_server_new(host, (int)port, &lim, err, sizeof err))) {
    luaL_pushfail(L);
    lua_pushstring(L, err);
    return 2;
  }
  return 1;
}

static int server_port(lua_State *L) {
  lua_pushinteger(L, rv_server_port(check_server(L, 1)));
  return 1;
}

/* Server:fd() -> the descriptor to wait on for reading */
static int server_fd(lua_State *L) {
  int fd;
  short ev;
  rv_server_fds(check_server(L, 1), &fd, &ev, 1);
  lua_pushinteger(L, fd);
  return 1;
}

/* Server:timeout() -> ms until Server:run has work (-1: none due) */
static int server_timeout(lua_State *L) {
  lua_pushinteger(L, rv_server_timeout(check_server(L, 1)));
  return 1;
}

/* Server:run() -> requests waiting to be taken (never blocks) */
static int server_run(lua_State *L) {
  lua_pushinteger(L, rv_server_run(check_server(L, 1)));
  return 1;
}

/* {[lower-case name] = value}, the first of a name winning (as rivulet.serve.request.header
** reads them); a name too long for the stack buffer is lowered in a Lua buffer */
static void push_header_map(lua_State *L, const rv_server_request *r) {
  char small[64];
  size_t i, j;
  lua_createtable(L, 0, (int)r->nheaders);
  for (i = 0; i < r->nheaders; i++) {
    const char *n = r->headers[i].name;
    size_t nl = r->headers[i].name_len;
    if (nl <= sizeof small) {
      for (j = 0; j < nl; j++) small[j] = (char)tolower((unsigned char)n[j]);
      lua_pushlstring(L, small, nl);
    } else {
      luaL_Buffer b;
      char *p = luaL_buffinitsize(L, &b, nl);
      for (j = 0; j < nl; j++) p[j] = (char)tolower((unsigned char)n[j]);
      luaL_pushresultsize(&b, nl);
    }
    lua_pushvalue(L, -1);
    if (lua_rawget(L, -3) != LUA_TNIL) {
      lua_pop(L, 2);
      continue;
    }
    lua_pop(L, 1);
    lua_pushlstring(L, r->headers[i].value, r->headers[i].value_len);
    lua_rawset(L, -3);
  }
}

/* Server:next() -> {id=, method=, path=, query=?, version=, headers={{name, value}, ...},
** header_map={[lower-case name] = value} (the first of a name), body=, peer=, peer_port=} or
** nil when no request waits */
static int server_next(lua_State *L) {
  const rv_server_request *r = rv_server_next(check_server(L, 1));
  size_t i;
  if (!r) return 0;
  lua_createtable(L, 0, 10);
  lua_pushinteger(L, (lua_Integer)r->id);
  lua_setfield(L, -2, "id");
  lua_pushstring(L, r->method);
  lua_setfield(L, -2, "method");
  lua_pushstring(L, r->path);
  lua_setfield(L, -2, "path");
  if (r->query) {
    lua_pushstring(L, r->query);
    lua_setfield(L, -2, "query");
  }
  lua_pushstring(L, r->version);
  lua_setfield(L, -2, "version");
  lua_createtable(L, (int)r->nheaders, 0);
  for (i = 0; i < r->nheaders; i++) {
    lua_createtable(L, 2, 0);
    lua_pushlstring(L, r->headers[i].name, r->headers[i].name_len);
    lua_rawseti(L, -2, 1);
    lua_pushlstring(L, r->headers[i].value, r->headers[i].value_len);
    lua_rawseti(L, -2, 2);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  lua_setfield(L, -2, "headers");
  push_header_map(L, r);
  lua_setfield(L, -2, "header_map");
  lua_pushlstring(L, r->body, r->body_len);
  lua_setfield(L, -2, "body");
  lua_pushstring(L, r->peer);
  lua_setfield(L, -2, "peer");
  lua_pushinteger(L, r->peer_port);
  lua_setfield(L, -2, "peer_port");
  return 1;
}

static void header_at(lua_State *L, rv_server_header *h, int k, int v, int n) {
  size_t nl, vl;
  if (lua_type(L, k) != LUA_TSTRING || !lua_isstring(L, v))
    luaL_error(L, "response header %d must be a name and a string value", n);
  h->name = lua_tolstring(L, k, &nl);
  h->value = lua_tolstring(L, v, &vl);
  h->name_len = nl;
  h->value_len = vl;
}

/* Server:respond(id, status [, headers [, body]]) -> true, or false when request id waits for
** no answer (answered already, its client went away, timed out). headers: {{name, value},
** ...} in order, and/or {[name] = value}. Raises on a status outside 200..999 or a header
** that cannot be sent (empty, line breaks, one the server sets itself: Content-Length). */
static int server_respond(lua_State *L) {
  rv_server *s = check_server(L, 1);
  lua_Integer id = luaL_checkinteger(L, 2);
  lua_Integer status = luaL_checkinteger(L, 3);
  size_t body_len = 0, n = 0, i, len;
  const char *body = luaL_optlstring(L, 5, "", &body_len);
  rv_server_header h[RV_SERVER_MAX_RESPONSE_HEADERS];
  int rc;
  luaL_argcheck(L, status >= 200 && status <= 999, 3, "HTTP status must be 200 to 999");
  lua_settop(L, 5);
  if (!lua_isnil(L, 4)) {
    luaL_checktype(L, 4, LUA_TTABLE);
    len = lua_rawlen(L, 4);
    for (i = 1; i <= len; i++) {        /* the list: pushed values stay while used */
      luaL_checkstack(L, 4, "response headers");
      if (n == RV_SERVER_MAX_RESPONSE_HEADERS)
        return luaL_error(L, "at most %d response headers", RV_SERVER_MAX_RESPONSE_HEADERS);
      if (lua_rawgeti(L, 4, (lua_Integer)i) != LUA_TTABLE)
        return luaL_error(L, "response header %d must be a {name, value} pair", (int)i);
      lua_rawgeti(L, -1, 1);
      lua_rawgeti(L, -2, 2);
      header_at(L, &h[n], -2, -1, (int)n + 1);
      n++;
    }
    lua_pushnil(L);
    while (lua_next(L, 4)) {              /* the names */
      luaL_checkstack(L, 4, "response headers");
      if (lua_type(L, -2) == LUA_TSTRING) {
        if (n == RV_SERVER_MAX_RESPONSE_HEADERS)
          return luaL_error(L, "at most %d response headers", RV_SERVER_MAX_RESPONSE_HEADERS);
        header_at(L, &h[n], -2, -1, (int)n + 1);
        n++;
        lua_pushvalue(L, -2);             /* keep name and value reachable, iterate on */
      } else lua_pop(L, 1);
    }
  }
  rc = rv_server_respond(s, (uint64_t)id, (int)status, h, n, body, body_len);
  if (rc == RV_SERVER_INVALID)
    return luaL_error(L, "a response header cannot be sent (empty, a line break, not a token "
                         "name, or one the server sets itself)");
  if (rc == RV_SERVER_NOMEM) return luaL_error(L, "out of memory");
  lua_pushboolean(L, rc == RV_SERVER_OK);
  return 1;
}

/* Server:dropped() -> {id, ...}: taken requests whose client went away or that timed out
** before their answer, since the last call (empty when none) */
static int server_dropped(lua_State *L) {
  rv_server *s = check_server(L, 1);
  uint64_t id;
  lua_Integer n = 0;
  lua_newtable(L);
  while ((id = rv_server_next_dropped(s)) != 0) {
    lua_pushinteger(L, (lua_Integer)id);
    lua_rawseti(L, -2, ++n);
  }
  return 1;
}

/* Server:shutdown(): stop accepting; open connections go on, each closes after its answer */
static int server_shutdown(lua_State *L) {
  rv_server_shutdown(check_server(L, 1));
  return 0;
}

/* Server:stats() -> {connections=, busy=, sending=} */
static int server_stats(lua_State *L) {
  rv_server *s = check_server(L, 1);
  lua_createtable(L, 0, 3);
  lua_pushinteger(L, rv_server_connections(s));
  lua_setfield(L, -2, "connections");
  lua_pushinteger(L, rv_server_busy(s));
  lua_setfield(L, -2, "busy");
  lua_pushinteger(L, rv_server_sending(s));
  lua_setfield(L, -2, "sending");
  return 1;
}

/* wait_fds({fd, ...}, timeout_ms) -> {ready fd, ...} (empty on timeout or a signal), or nil,
** err. Waits for any of them to be readable (or to fail) for at most timeout_ms (< 0: no
** limit). */
static int l_wait_fds(lua_State *L) {
  struct pollfd p[MAX_WAIT_FDS];
  lua_Integer ms = luaL_checkinteger(L, 2);
  size_t n, i;
  int rc;
  lua_Integer k = 0;
  luaL_checktype(L, 1, LUA_TTABLE);
  n = lua_rawlen(L, 1);
  luaL_argcheck(L, n <= MAX_WAIT_FDS, 1, "too many descriptors");
  for (i = 0; i < n; i++) {
    lua_Integer fd;
    lua_rawgeti(L, 1, (lua_Integer)i + 1);
    if (!lua_isinteger(L, -1)) return luaL_argerror(L, 1, "descriptors must be integers");
    fd = lua_tointeger(L, -1);
    lua_pop(L, 1);
    luaL_argcheck(L, fd >= 0 && fd <= 0x7fffffff, 1, "descriptor out of range");
    p[i].fd = (int)fd;
    p[i].events = POLLIN;
    p[i].revents = 0;
  }
  if (ms > 0x7fffffff) ms = 0x7fffffff;
  rc = poll(p, (nfds_t)n, ms < 0 ? -1 : (int)ms);
  if (rc < 0 && errno != EINTR) {
    luaL_pushfail(L);
    lua_pushfstring(L, "poll: %s", strerror(errno));
    return 2;
  }
  lua_newtable(L);
  for (i = 0; rc > 0 && i < n; i++)
    if (p[i].revents) {
      lua_pushinteger(L, p[i].fd);
      lua_rawseti(L, -2, ++k);
    }
  return 1;
}

/* ---- application/x-www-form-urlencoded --------------------------------------------------- */

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* pushes s..e decoded: "+" a space, %XX its byte (a % not followed by two hex digits is kept) */
static void push_form_text(lua_State *L, const char *s, const char *e) {
  const char *q;
  luaL_Buffer b;
  char *out;
  size_t n = 0;
  for (q = s; q < e && *q != '+' && *q != '%'; q++) {}
  if (q == e) { lua_pushlstring(L, s, (size_t)(e - s)); return; }
  out = luaL_buffinitsize(L, &b, (size_t)(e - s));
  for (q = s; q < e; q++) {
    int hi, lo;
    if (*q == '+') out[n++] = ' ';
    else if (*q == '%' && e - q > 2 && (hi = hexval((unsigned char)q[1])) >= 0 && (lo = hexval((unsigned char)q[2])) >= 0) {
      out[n++] = (char)(hi * 16 + lo);
      q += 2;
    } else out[n++] = *q;
  }
  luaL_pushresultsize(&b, n);
}

/* form_decode(text [, map]) -> {{name, value}, ...} in order (a name may repeat); empty
** parts are skipped, a part without "=" has the value "". With map true, also
** {name = value} (the last value of a repeated name wins): the fields a handler reads by
** name, built here rather than by a Lua loop. Every webhook's body goes through it. */
static int l_form_decode(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len), *end = s + len, *q;
  int map = lua_toboolean(L, 2), parts = 1;
  lua_Integer n = 0;
  for (q = s; (q = memchr(q, '&', (size_t)(end - q))) != NULL; q++) parts++;
  if (len == 0) parts = 0;
  lua_createtable(L, parts, 0);
  if (map) lua_createtable(L, 0, parts);
  while (s < end) {
    const char *amp = memchr(s, '&', (size_t)(end - s)), *eq;
    if (!amp) amp = end;
    if (amp > s) {
      eq = memchr(s, '=', (size_t)(amp - s));
      lua_createtable(L, 2, 0);
      push_form_text(L, s, eq ? eq : amp);
      if (map) lua_pushvalue(L, -1);                      /* the name, for the map */
      lua_rawseti(L, map ? -3 : -2, 1);
      if (eq) push_form_text(L, eq + 1, amp);
      else lua_pushliteral(L, "");
      if (map) {                                          /* list map pair name value */
        lua_pushvalue(L, -1);
        lua_rawseti(L, -4, 2);
        lua_rawset(L, -4);
      } else {
        lua_rawseti(L, -2, 2);
      }
      lua_rawseti(L, map ? -3 : -2, ++n);
    }
    s = amp + 1;
  }
  return map ? 2 : 1;
}

/* form-encodes s (n bytes) into out (NULL: only counts): letters, digits and "*-._" as they
** are, a space as "+", every other byte as %XX (upper-case hex), as Twilio's signature and
** servers expect. Returns the encoded length. */
static size_t form_text(char *out, const char *s, size_t n) {
  static const char hex[] = "0123456789ABCDEF";
  size_t i, k = 0;
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '*'
        || c == '-' || c == '.' || c == '_') {
      if (out) out[k] = (char)c;
      k++;
    } else if (c == ' ') {
      if (out) out[k] = '+';
      k++;
    } else {
      if (out) { out[k] = '%'; out[k + 1] = hex[c >> 4]; out[k + 2] = hex[c & 15]; }
      k += 3;
    }
  }
  return k;
}

/* one pass over the list: the encoded length, written to out unless it is NULL */
static size_t form_pass(lua_State *L, char *out) {
  lua_Integer i, n = (lua_Integer)lua_rawlen(L, 1);
  size_t k = 0;
  for (i = 1; i <= n; i++) {
    size_t kn, vn;
    const char *name, *value;
    if (lua_rawgeti(L, 1, i) != LUA_TTABLE) luaL_error(L, "form_encode: item %d is not a {name, value} pair", (int)i);
    if (lua_rawgeti(L, -1, 1) != LUA_TSTRING || lua_rawgeti(L, -2, 2) != LUA_TSTRING)
      luaL_error(L, "form_encode: item %d's name and value must be strings", (int)i);
    name = lua_tolstring(L, -2, &kn);
    value = lua_tolstring(L, -1, &vn);
    if (i > 1) { if (out) out[k] = '&'; k++; }
    k += form_text(out ? out + k : NULL, name, kn);
    if (out) out[k] = '=';
    k++;
    k += form_text(out ? out + k : NULL, value, vn);
    lua_pop(L, 3);
  }
  return k;
}

/* form_encode({{name, value}, ...}) -> "name=value&..." in the list's order: the body of
** every Run Function call and Messages API post, in C (a pass to size it, one to write it;
** a Lua gsub per text, with a function call per escaped byte, cost several times as much) */
static int l_form_encode(lua_State *L) {
  luaL_Buffer b;
  size_t len;
  char *p;
  luaL_checktype(L, 1, LUA_TTABLE);
  len = form_pass(L, NULL);
  p = luaL_buffinitsize(L, &b, len);
  form_pass(L, p);                        /* balanced: the buffer sees the stack as it left it */
  luaL_pushresultsize(&b, len);
  return 1;
}

void lrv_open_server(lua_State *L) {
  static const luaL_Reg methods[] = {
    { "port", server_port }, { "fd", server_fd }, { "timeout", server_timeout },
    { "run", server_run }, { "next", server_next }, { "respond", server_respond },
    { "dropped", server_dropped }, { "shutdown", server_shutdown }, { "stats", server_stats },
    { "close", server_close }, { NULL, NULL }
  };
  static const luaL_Reg meta[] = { { "__gc", server_close }, { "__close", server_close }, { NULL, NULL } };
  static const luaL_Reg funcs[] = {
    { "server_listen", l_server_listen }, { "wait_fds", l_wait_fds }, { "form_decode", l_form_decode },
    { "form_encode", l_form_encode },
    { NULL, NULL }
  };
  static const struct { const char *name; lua_Integer v; } limits[] = {
    { "SERVER_MAX_BODY", RV_SERVER_MAX_BODY },
    { "SERVER_MAX_HEADER_BYTES", RV_SERVER_MAX_HEADER_BYTES },
    { "SERVER_CONNECTION_MEMORY", RV_SERVER_CONNECTION_MEMORY },
    { "SERVER_MAX_CONNECTIONS", RV_SERVER_MAX_CONNECTIONS },
    { "SERVER_MAX_PER_IP", RV_SERVER_MAX_PER_IP },
    { "SERVER_IDLE_TIMEOUT_S", RV_SERVER_IDLE_TIMEOUT_S },
    { "SERVER_REQUEST_TIMEOUT_MS", RV_SERVER_REQUEST_TIMEOUT_MS },
    { "SERVER_ANSWER_TIMEOUT_MS", RV_SERVER_ANSWER_TIMEOUT_MS },
    { "SERVER_MAX_PENDING", RV_SERVER_MAX_PENDING },
    { "SERVER_MAX_RESPONSE_HEADERS", RV_SERVER_MAX_RESPONSE_HEADERS },
  };
  size_t i;
  lrv_class(L, LRV_SERVER, meta, methods);
  luaL_setfuncs(L, funcs, 0);
  for (i = 0; i < sizeof limits / sizeof limits[0]; i++) {
    lua_pushinteger(L, limits[i].v);
    lua_setfield(L, -2, limits[i].name);
  }
}
