/*
** The C API (rivulet.h) over the Lua engine: one lua_State per handle, built by host.c as
** the `rivulet` program's is (standard libraries, rivulet.core preloaded), running
** rivulet.embed. Every entry goes through one protected call (rv_host_pcall), so a Lua error
** never unwinds into the host; the state's allocator keeps the memory budget, so running out
** is RIVULET_NOMEM, not an abort.
**
** Re-entry: while a call runs Lua (`busy`), the host's callbacks may not call into the
** handle (RIVULET_MISUSE), except rivulet_errmsg and rivulet_close. A close from a callback
** is deferred (as sqlite3_close_v2 defers a close while statements live): it silences the
** callbacks, stops the running call at its next Lua instruction (a count hook that raises,
** which no pcall inside the engine can swallow: the hook fires again on the next instruction
** after any catch), and the handle is freed when that call returns to the host.
*/
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>

#include "host.h"
#include "http.h"
#include "liquid_date.h"
#include "lrv.h"
#include "rivulet.h"

/* The longest error message a handle keeps (with its NUL); longer ones are cut at a UTF-8
** character boundary and end in "...". Lua tracebacks of internal errors can be longer. */
#define ERRMSG_MAX 512

struct rivulet {
  lua_State *L;
  rivulet_config cfg;
  rv_budget mem;                  /* bytes the state holds, and the budget (0: none) */
  rv_http *http;                  /* the engine's HTTP client, taken once at open; its
                                     userdata lives as long as the engine, i.e. the state */
  int api;                        /* registry ref of the rivulet.embed api table */
  int busy;                       /* a call is running Lua: callbacks may not re-enter */
  int closing;                    /* rivulet_close came from a callback: free on return */
  lua_State *cb;                  /* the thread running a host callback, or NULL */
  char errmsg[ERRMSG_MAX];
};

static void set_error(rivulet *rv, const char *fmt, ...) {
  static const char more[] = "...";
  va_list ap;
  int n;
  va_start(ap, fmt);
  n = vsnprintf(rv->errmsg, sizeof rv->errmsg, fmt, ap);
  va_end(ap);
  if (n >= (int)sizeof rv->errmsg) {  /* cut: never in the middle of a UTF-8 character */
    size_t end = sizeof rv->errmsg - sizeof more;
    while (end > 0 && ((unsigned char)rv->errmsg[end] & 0xC0) == 0x80) end--;
    memcpy(rv->errmsg + end, more, sizeof more);
  }
}

/* maps a failed Lua status to a code, with the error (on top, popped) as the message;
** outside protected mode, so nothing here may allocate in the state */
static int lua_failure(rivulet *rv, int status) {
  lua_State *L = rv->L;
  if (status == LUA_ERRMEM)
    set_error(rv, "out of memory (budget %zu bytes)", rv->mem.limit);
  else if (lua_type(L, -1) == LUA_TSTRING)
    set_error(rv, "%s", lua_tostring(L, -1));
  else                                /* the handler already tried its __tostring */
    set_error(rv, "(error object is a %s value)", luaL_typename(L, -1));
  lua_pop(L, 1);
  return status == LUA_ERRMEM ? RIVULET_NOMEM : RIVULET_ERROR;
}

/* The three results of an api function on top (value | nil, code name, message) to a
** code; on success the first nres of them stay. */
static int results(rivulet *rv, int nres) {
  lua_State *L = rv->L;
  if (lua_isnil(L, -3)) {
    const char *code = lua_tostring(L, -2), *msg = lua_tostring(L, -1);
    int rc = RIVULET_ERROR;
    set_error(rv, "%s", msg ? msg : "failed");
    if (code && strcmp(code, "notfound") == 0) rc = RIVULET_NOTFOUND;
    else if (code && strcmp(code, "busy") == 0) rc = RIVULET_BUSY;
    else if (code && strcmp(code, "badinput") == 0) rc = RIVULET_BADINPUT;
    else if (code && strcmp(code, "misuse") == 0) rc = RIVULET_MISUSE;
    lua_pop(L, 3);
    return rc;
  }
  lua_pop(L, 3 - nres);
  return RIVULET_OK;
}

static void free_handle(rivulet *rv) {
  if (rv->L) {
    lua_sethook(rv->L, NULL, 0, 0);
    lua_close(rv->L);
  }
  free(rv);
}


/* ---- callbacks from the engine into the host ---- */

/* Installed by a close from a callback: the running call stops at its next instruction. */
static void stop_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  luaL_error(L, "rivulet_close was called from a callback: the call stops here");
}

static int emit_message(lua_State *L) {
  rivulet *rv = lua_touserdata(L, lua_upvalueindex(1));
  const char *sid = luaL_checkstring(L, 1), *from = luaL_checkstring(L, 2);
  const char *to = luaL_checkstring(L, 3), *body = luaL_checkstring(L, 4);
  if (rv->closing || !rv->cfg.on_message) return 0;
  rv->cb = L;
  rv->cfg.on_message(rv->cfg.userdata, sid, from, to, body);
  rv->cb = NULL;
  return 0;
}

static int emit_end(lua_State *L) {
  rivulet *rv = lua_touserdata(L, lua_upvalueindex(1));
  const char *sid = luaL_checkstring(L, 1), *status = luaL_checkstring(L, 2);
  const char *reason = luaL_checkstring(L, 3);
  if (rv->closing || !rv->cfg.on_end) return 0;
  rv->cb = L;
  rv->cfg.on_end(rv->cfg.userdata, sid, status, reason);
  rv->cb = NULL;
  return 0;
}


/* ---- opening ---- */

static void set_field_string(lua_State *L, const char *k, const char *v) {
  if (!v) return;
  lua_pushstring(L, v);
  lua_setfield(L, -2, k);
}

static void set_field_int(lua_State *L, const char *k, long v) {
  if (v <= 0) return;
  lua_pushinteger(L, v);
  lua_setfield(L, -2, k);
}

/* runs protected: rivulet.embed.new(config, emit_message, emit_end) -> its three results */
static int open_api(lua_State *L) {
  rivulet *rv = lua_touserdata(L, 1);
  int i;
  lua_settop(L, 0);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "rivulet.embed");
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) {        /* plainly: the modules are not where said */
    lua_pushfstring(L, "cannot load the rivulet Lua modules (rivulet_config.lua_path, "
                       "RIVULET_LUA_PATH): %s", rv_host_errtext(L, 1));
    lua_pushnil(L);
    lua_pushliteral(L, "error");
    lua_rotate(L, -3, 2);                         /* nil, "error", message */
    return 3;
  }
  lua_getfield(L, -1, "new");
  lua_newtable(L);                                  /* the config as plain fields */
  set_field_string(L, "auth_token", rv->cfg.auth_token);
  set_field_string(L, "timezone", rv->cfg.timezone);
  set_field_string(L, "store_path", rv->cfg.store_path);
  set_field_int(L, "http_timeout_ms", rv->cfg.http_timeout_ms);
  set_field_int(L, "same_widget_limit", rv->cfg.same_widget_limit);
  set_field_int(L, "step_limit", rv->cfg.step_limit);
  if (rv->cfg.url_map) {
    lua_newtable(L);
    for (i = 0; rv->cfg.url_map[i]; i++) {
      lua_pushstring(L, rv->cfg.url_map[i]);
      lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "url_map");
  }
  set_field_string(L, "account_sid", rv->cfg.account_sid);
  if (rv->cfg.function_map) {
    lua_newtable(L);
    for (i = 0; rv->cfg.function_map[i]; i++) {
      lua_pushstring(L, rv->cfg.function_map[i]);
      lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "function_map");
  }
  lua_pushlightuserdata(L, rv);
  lua_pushcclosure(L, emit_message, 1);
  lua_pushlightuserdata(L, rv);
  lua_pushcclosure(L, emit_end, 1);
  lua_call(L, 3, 3);
  return 3;
}

/* the config's own mistakes, before any Lua runs: RIVULET_OK or RIVULET_MISUSE */
static int check_config(rivulet *rv) {
  const rivulet_config *c = &rv->cfg;
  char err[128];
  lqd_zone *z;
  if (c->http_timeout_ms < 0 || c->same_widget_limit < 0 || c->step_limit < 0) {
    set_error(rv, "rivulet_config.%s must not be negative (0: the default)",
              c->http_timeout_ms < 0 ? "http_timeout_ms"
              : c->same_widget_limit < 0 ? "same_widget_limit" : "step_limit");
    return RIVULET_MISUSE;
  }
  if (c->timezone) {
    z = lqd_zone_load(c->timezone, err, sizeof err);
    if (!z) {
      set_error(rv, "rivulet_config.timezone: %s", err);
      return RIVULET_MISUSE;
    }
    lqd_zone_free(z);
  }
  return RIVULET_OK;
}

int rivulet_open(rivulet **out, const rivulet_config *config) {
  rivulet *rv;
  rv_host_opts opts;
  int status, rc;
  if (!out) return RIVULET_MISUSE;
  *out = NULL;
  rv = calloc(1, sizeof *rv);
  if (!rv) return RIVULET_NOMEM;
  rv->api = LUA_NOREF;
  *out = rv;
  if (config && (config->version < 0 || config->version > RIVULET_CONFIG_VERSION)) {
    set_error(rv, "rivulet_config.version %d is not one this library knows (0 to %d)",
              config->version, RIVULET_CONFIG_VERSION);
    return RIVULET_MISUSE;
  }
  if (config && config->version >= 2) rv->cfg = *config;
  else if (config && config->version == 1)   /* a version 1 struct ends before account_sid */
    memcpy(&rv->cfg, config, offsetof(rivulet_config, account_sid));
  else if (config) {             /* version 0: only the fields every version has */
    rv->cfg.userdata = config->userdata;
    rv->cfg.on_message = config->on_message;
    rv->cfg.on_end = config->on_end;
    rv->cfg.store_path = config->store_path;
  }
  if ((rc = check_config(rv)) != RIVULET_OK) return rc;
  rv->mem.limit = rv->cfg.memory_limit;
  rv->L = rv_host_newstate(&rv->mem);
  if (!rv->L) {
    set_error(rv, "out of memory");
    return RIVULET_NOMEM;
  }
  opts.lua_path = rv->cfg.lua_path;
  opts.argv0 = NULL;
  opts.exe_depth = 0;            /* a library: the program that links it says nothing */
  status = rv_host_setup(rv->L, &opts);
  if (status == LUA_OK) {
    lua_pushcfunction(rv->L, open_api);
    lua_pushlightuserdata(rv->L, rv);
    status = rv_host_pcall(rv->L, 1, 3);
  }
  if (status != LUA_OK) return lua_failure(rv, status);
  if ((rc = results(rv, 1)) != RIVULET_OK) return rc;
  lua_getfield(rv->L, -1, "http_client");
  rv->http = lrv_http_of(rv->L, -1);
  lua_pop(rv->L, 1);
  rv->api = luaL_ref(rv->L, LUA_REGISTRYINDEX);
  return RIVULET_OK;
}

void rivulet_close(rivulet *rv) {
  if (!rv) return;
  if (rv->busy) {                /* from a callback: stop the call, free when it returns */
    if (!rv->closing) {
      rv->closing = 1;
      lua_sethook(rv->L, stop_hook, LUA_MASKCOUNT, 1);
      if (rv->cb && rv->cb != rv->L) lua_sethook(rv->cb, stop_hook, LUA_MASKCOUNT, 1);
    }
    return;
  }
  free_handle(rv);
}

/* bytes the engine holds (for measuring; not in rivulet.h) */
size_t rivulet_memory_used(rivulet *rv);
size_t rivulet_memory_used(rivulet *rv) {
  return rv ? rv->mem.used : 0;
}

const char *rivulet_errmsg(rivulet *rv) {
  if (!rv) return "no handle (rivulet_open had no out pointer, or no memory for one)";
  return rv->errmsg;
}


/* ---- calls ---- */

/* Whether the handle can take a call now: RIVULET_OK, or RIVULET_MISUSE with the reason. */
static int check_handle(rivulet *rv, const char *fn) {
  static const char prefix[] = "the handle did not open";
  if (!rv) return RIVULET_MISUSE;
  if (rv->busy) {
    set_error(rv, "%s called from inside a callback: a callback may not call into the handle "
                  "that runs it%s", fn, rv->closing ? " (and rivulet_close was called)" : "");
    return RIVULET_MISUSE;
  }
  if (!rv->L || rv->api == LUA_NOREF) {
    if (strncmp(rv->errmsg, prefix, sizeof prefix - 1) != 0) {   /* once: calls repeat it */
      char why[sizeof rv->errmsg];
      memcpy(why, rv->errmsg, sizeof why);      /* the format must not read what it writes */
      set_error(rv, "%s (%s)", prefix, why[0] ? why : "see rivulet_open");
    }
    return RIVULET_MISUSE;
  }
  rv->errmsg[0] = 0;
  return RIVULET_OK;
}

/* Refuses a bad argument of a call (before anything runs): RIVULET_MISUSE. */
static int bad_argument(rivulet *rv, const char *fmt, ...) {
  va_list ap;
  char msg[ERRMSG_MAX];
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  set_error(rv, "%s", msg);
  return RIVULET_MISUSE;
}

/* What a call hands to api.NAME: up to three strings, or an integer. */
typedef struct api_args {
  const char *name;
  const char *str[3];
  int nstr;
  int has_int;
  lua_Integer num;
} api_args;

/* runs protected (pushing the arguments may run out of memory too): api.NAME(args...) */
static int call_protected(lua_State *L) {
  rivulet *rv = lua_touserdata(L, 1);
  const api_args *a = lua_touserdata(L, 2);
  int i;
  lua_settop(L, 0);
  lua_rawgeti(L, LUA_REGISTRYINDEX, rv->api);
  lua_getfield(L, 1, a->name);
  lua_remove(L, 1);
  for (i = 0; i < a->nstr; i++) lua_pushstring(L, a->str[i]);
  if (a->has_int) lua_pushinteger(L, a->num);
  lua_call(L, a->nstr + a->has_int, 3);
  return 3;
}

/* Calls api.NAME with args (the handle was checked); on RIVULET_OK the first nres results
** are on top. A close asked for from a callback leaves nothing on the stack and returns
** RIVULET_ERROR: the caller then hands its code to done(). */
static int api_call(rivulet *rv, api_args *args, int nres) {
  lua_State *L = rv->L;
  int base = lua_gettop(L), status;
  lua_pushcfunction(L, call_protected);
  lua_pushlightuserdata(L, rv);
  lua_pushlightuserdata(L, args);
  rv->busy = 1;
  status = rv_host_pcall(L, 2, 3);
  rv->busy = 0;
  rv->cb = NULL;
  if (rv->closing) {
    lua_settop(L, base);
    return RIVULET_ERROR;
  }
  if (status != LUA_OK) return lua_failure(rv, status);
  if ((status = results(rv, nres)) == RIVULET_OK)
    rv->errmsg[0] = '\0';          /* not a callback's refused call: this one succeeded */
  return status;
}

/* The end of every call that ran Lua: a close a callback asked for happens now, and the call
** returns RIVULET_OK (the handle is gone: its message cannot be read). */
static int done(rivulet *rv, int rc) {
  if (rv->closing) {
    free_handle(rv);
    return RIVULET_OK;
  }
  return rc;
}

int rivulet_load_flow(rivulet *rv, const char *name, const char *path) {
  int rc = check_handle(rv, "rivulet_load_flow");
  if (rc) return rc;
  if (!name || !path) return bad_argument(rv, "rivulet_load_flow: %s is NULL", name ? "path" : "name");
  {
    api_args a = { "load_flow", { name, path, NULL }, 2, 0, 0 };
    rc = api_call(rv, &a, 0);
  }
  return done(rv, rc);
}

int rivulet_start(rivulet *rv, const char *flow_name, const char *trigger_json, char sid_out[35]) {
  int rc;
  if (sid_out) sid_out[0] = '\0';
  rc = check_handle(rv, "rivulet_start");
  if (rc) return rc;
  if (!flow_name || !trigger_json)
    return bad_argument(rv, "rivulet_start: %s is NULL", flow_name ? "trigger_json" : "flow_name");
  {
    api_args a = { "start", { flow_name, trigger_json, NULL }, 2, 0, 0 };
    rc = api_call(rv, &a, 1);
  }
  if (rc == RIVULET_OK) {
    if (sid_out) snprintf(sid_out, 35, "%s", lua_tostring(rv->L, -1) ? lua_tostring(rv->L, -1) : "");
    lua_pop(rv->L, 1);
  }
  return done(rv, rc);
}

int rivulet_deliver(rivulet *rv, const char *from, const char *to, const char *body) {
  int rc = check_handle(rv, "rivulet_deliver");
  if (rc) return rc;
  if (!from || !to) return bad_argument(rv, "rivulet_deliver: %s is NULL", from ? "to" : "from");
  {
    api_args a = { "deliver", { from, to, body ? body : "" }, 3, 0, 0 };
    rc = api_call(rv, &a, 0);
  }
  return done(rv, rc);
}

int rivulet_poll(rivulet *rv, int timeout_ms) {
  int rc = check_handle(rv, "rivulet_poll");
  if (rc) return rc;
  {
    api_args a = { "poll", { NULL, NULL, NULL }, 0, 1, 0 };
    a.num = timeout_ms < 0 ? 0 : timeout_ms;
    rc = api_call(rv, &a, 0);
  }
  return done(rv, rc);
}

int rivulet_active(rivulet *rv) {
  int n = -1;
  api_args a = { "active", { NULL, NULL, NULL }, 0, 0, 0 };
  if (check_handle(rv, "rivulet_active")) return -1;
  if (api_call(rv, &a, 1) == RIVULET_OK) {
    n = (int)lua_tointeger(rv->L, -1);
    lua_pop(rv->L, 1);
  }
  done(rv, RIVULET_OK);           /* (nothing in active() calls back; uniform all the same) */
  return n;
}

int rivulet_fds(rivulet *rv, int *fds, short *events, int max, int *n) {
  int rc;
  if (n) *n = 0;
  rc = check_handle(rv, "rivulet_fds");
  if (rc) return rc;
  if (!n) return bad_argument(rv, "rivulet_fds: n is NULL");
  if (max < 0) return bad_argument(rv, "rivulet_fds: max is negative (%d)", max);
  if (max > 0 && (!fds || !events))
    return bad_argument(rv, "rivulet_fds: %s is NULL", fds ? "events" : "fds");
  if (rv->http) *n = rv_http_fds(rv->http, fds, events, max);
  return RIVULET_OK;
}

int rivulet_timeout(rivulet *rv, long *ms) {
  long t = -1, http_ms;
  int rc;
  if (ms) *ms = -1;
  rc = check_handle(rv, "rivulet_timeout");
  if (rc) return rc;
  if (!ms) return bad_argument(rv, "rivulet_timeout: ms is NULL");
  {
    api_args a = { "next_timer_ms", { NULL, NULL, NULL }, 0, 0, 0 };
    rc = api_call(rv, &a, 1);
  }
  if (rc == RIVULET_OK) {
    t = (long)lua_tointeger(rv->L, -1);
    lua_pop(rv->L, 1);
    http_ms = rv->http ? rv_http_timeout(rv->http) : -1;
    if (http_ms >= 0 && (t < 0 || http_ms < t)) t = http_ms;
    *ms = t;
  }
  return done(rv, rc);
}
