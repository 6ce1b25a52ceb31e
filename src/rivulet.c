/*
** The C API (rivulet.h) over the Lua engine: one lua_State per handle, built by host.c as
** the `rivulet` program's is (standard libraries, rivulet.core preloaded), running
** rivulet.embed. Every entry goes through one protected call (rv_host_pcall), so a Lua error
** never unwinds into the host; the state's allocator keeps the memory budget, so running out
** is RIVULET_NOMEM, not an abort.
*/
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>

#include "host.h"
#include "http.h"
#include "lrv.h"
#include "rivulet.h"

struct rivulet {
  lua_State *L;
  rivulet_config cfg;
  rv_budget mem;                  /* bytes the state holds, and the budget (0: none) */
  rv_http *http;                  /* the engine's HTTP client, taken once at open; its
                                     userdata lives as long as the engine, i.e. the state */
  int api;                        /* registry ref of the rivulet.embed api table */
  int busy;                       /* inside a call: callbacks may not re-enter */
  char errmsg[512];
};

static void set_error(rivulet *rv, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(rv->errmsg, sizeof rv->errmsg, fmt, ap);
  va_end(ap);
}

static int failure(rivulet *rv, int status);

/* call the function below nargs arguments, protected; on failure the message is on the
** handle and the code returned */
static int pcall(rivulet *rv, int nargs, int nres) {
  int status = rv_host_pcall(rv->L, nargs, nres);
  return status == LUA_OK ? RIVULET_OK : failure(rv, status);
}

/* maps a failed Lua status to a code, with the error (on top, popped) as the message */
static int failure(rivulet *rv, int status) {
  lua_State *L = rv->L;
  int top;
  if (status == LUA_ERRMEM) {
    set_error(rv, "out of memory (budget %zu bytes)", rv->mem.limit);
    lua_pop(L, 1);
    return RIVULET_NOMEM;
  }
  top = lua_gettop(L);
  set_error(rv, "%s", rv_host_errtext(L, -1));   /* (may push a description) */
  lua_settop(L, top - 1);
  return RIVULET_ERROR;
}

/* ---- callbacks from the engine into the host ---- */

static int emit_message(lua_State *L) {
  rivulet *rv = lua_touserdata(L, lua_upvalueindex(1));
  if (rv->cfg.on_message)
    rv->cfg.on_message(rv->cfg.userdata, luaL_checkstring(L, 1), luaL_checkstring(L, 2),
                       luaL_checkstring(L, 3), luaL_checkstring(L, 4));
  return 0;
}

static int emit_end(lua_State *L) {
  rivulet *rv = lua_touserdata(L, lua_upvalueindex(1));
  if (rv->cfg.on_end)
    rv->cfg.on_end(rv->cfg.userdata, luaL_checkstring(L, 1), luaL_checkstring(L, 2), luaL_checkstring(L, 3));
  return 0;
}

/* ---- setting up ---- */

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

/* runs protected: the api table of rivulet.embed, and the engine's C HTTP client */
static int setup(lua_State *L) {
  rivulet *rv = lua_touserdata(L, 1);
  int i;
  lua_getglobal(L, "require");
  lua_pushliteral(L, "rivulet.embed");
  lua_call(L, 1, 1);
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
  lua_pushlightuserdata(L, rv);
  lua_pushcclosure(L, emit_message, 1);
  lua_pushlightuserdata(L, rv);
  lua_pushcclosure(L, emit_end, 1);
  lua_call(L, 3, 1);
  lua_getfield(L, -1, "http_client");
  rv->http = lrv_http_of(L, -1);
  lua_pop(L, 1);
  rv->api = luaL_ref(L, LUA_REGISTRYINDEX);
  return 0;
}

int rivulet_open(rivulet **out, const rivulet_config *config) {
  rivulet *rv;
  rv_host_opts opts;
  int rc;
  if (!out) return RIVULET_MISUSE;
  *out = NULL;
  rv = calloc(1, sizeof *rv);
  if (!rv) return RIVULET_NOMEM;
  if (config && config->version >= 1) rv->cfg = *config;
  else if (config) {             /* version 0: only the fields every version has */
    rv->cfg.userdata = config->userdata;
    rv->cfg.on_message = config->on_message;
    rv->cfg.on_end = config->on_end;
    rv->cfg.store_path = config->store_path;
  }
  rv->mem.limit = rv->cfg.memory_limit;
  rv->api = LUA_NOREF;
  *out = rv;
  rv->L = rv_host_newstate(&rv->mem);
  if (!rv->L) {
    set_error(rv, "out of memory");
    return RIVULET_NOMEM;
  }
  opts.lua_path = rv->cfg.lua_path;
  opts.argv0 = NULL;
  opts.exe_depth = 0;            /* a library: the program that links it says nothing */
  rc = rv_host_setup(rv->L, &opts);
  if (rc != LUA_OK) return failure(rv, rc);
  lua_pushcfunction(rv->L, setup);
  lua_pushlightuserdata(rv->L, rv);
  rc = pcall(rv, 1, 0);
  return rc;
}

void rivulet_close(rivulet *rv) {
  if (!rv) return;
  if (rv->L) lua_close(rv->L);
  free(rv);
}

/* bytes the engine holds (for measuring; not in rivulet.h) */
size_t rivulet_memory_used(rivulet *rv);
size_t rivulet_memory_used(rivulet *rv) {
  return rv ? rv->mem.used : 0;
}

const char *rivulet_errmsg(rivulet *rv) {
  if (!rv) return "no handle (out of memory?)";
  return rv->errmsg;
}

/* pushes api.NAME; RIVULET_MISUSE when the handle cannot take a call now */
static int api_fn(rivulet *rv, const char *name) {
  if (!rv) return RIVULET_MISUSE;
  if (!rv->L || rv->api == LUA_NOREF) {
    static const char prefix[] = "the handle did not open";
    if (strncmp(rv->errmsg, prefix, sizeof prefix - 1) != 0) {   /* once: calls repeat it */
      char why[sizeof rv->errmsg];
      memcpy(why, rv->errmsg, sizeof why);      /* the format must not read what it writes */
      set_error(rv, "%s (%s)", prefix, why[0] ? why : "see rivulet_open");
    }
    return RIVULET_MISUSE;
  }
  if (rv->busy) {
    set_error(rv, "rivulet_%s called from inside a callback", name);
    return RIVULET_MISUSE;
  }
  rv->errmsg[0] = 0;
  lua_rawgeti(rv->L, LUA_REGISTRYINDEX, rv->api);
  lua_getfield(rv->L, -1, name);
  lua_remove(rv->L, -2);
  return RIVULET_OK;
}

/* call api.NAME with nargs already pushed; maps (nil, code, message) to a code */
static int api_call(rivulet *rv, int nargs, int nres) {
  lua_State *L = rv->L;
  int rc;
  rv->busy = 1;
  rc = pcall(rv, nargs, nres < 3 ? 3 : nres);
  rv->busy = 0;
  if (rc != RIVULET_OK) return rc;
  if (lua_isnil(L, -3)) {
    const char *code = lua_tostring(L, -2), *msg = lua_tostring(L, -1);
    set_error(rv, "%s", msg ? msg : "failed");
    lua_pop(L, 3);
    if (code && strcmp(code, "notfound") == 0) return RIVULET_NOTFOUND;
    if (code && strcmp(code, "busy") == 0) return RIVULET_BUSY;
    if (code && strcmp(code, "badinput") == 0) return RIVULET_BADINPUT;
    return RIVULET_ERROR;
  }
  lua_pop(L, 2);                  /* keep the first result */
  return RIVULET_OK;
}

int rivulet_load_flow(rivulet *rv, const char *name, const char *path) {
  int rc = api_fn(rv, "load_flow");
  if (rc) return rc;
  if (!name || !path) {
    lua_pop(rv->L, 1);
    set_error(rv, "rivulet_load_flow needs a name and a path");
    return RIVULET_MISUSE;
  }
  lua_pushstring(rv->L, name);
  lua_pushstring(rv->L, path);
  rc = api_call(rv, 2, 1);
  if (rc == RIVULET_OK) lua_pop(rv->L, 1);
  return rc;
}

int rivulet_start(rivulet *rv, const char *flow_name, const char *trigger_json, char sid_out[35]) {
  int rc = api_fn(rv, "start");
  if (rc) return rc;
  if (!flow_name || !trigger_json) {
    lua_pop(rv->L, 1);
    set_error(rv, "rivulet_start needs a flow name and a trigger");
    return RIVULET_MISUSE;
  }
  lua_pushstring(rv->L, flow_name);
  lua_pushstring(rv->L, trigger_json);
  rc = api_call(rv, 2, 1);
  if (rc == RIVULET_OK) {
    if (sid_out) snprintf(sid_out, 35, "%s", lua_tostring(rv->L, -1) ? lua_tostring(rv->L, -1) : "");
    lua_pop(rv->L, 1);
  }
  return rc;
}

int rivulet_deliver(rivulet *rv, const char *from, const char *to, const char *body) {
  int rc = api_fn(rv, "deliver");
  if (rc) return rc;
  if (!from || !to) {
    lua_pop(rv->L, 1);
    set_error(rv, "rivulet_deliver needs from and to");
    return RIVULET_MISUSE;
  }
  lua_pushstring(rv->L, from);
  lua_pushstring(rv->L, to);
  lua_pushstring(rv->L, body ? body : "");
  rc = api_call(rv, 3, 1);
  if (rc == RIVULET_OK) lua_pop(rv->L, 1);
  return rc;
}

int rivulet_poll(rivulet *rv, int timeout_ms) {
  int rc = api_fn(rv, "poll");
  if (rc) return rc;
  lua_pushinteger(rv->L, timeout_ms < 0 ? 0 : timeout_ms);
  rc = api_call(rv, 1, 1);
  if (rc == RIVULET_OK) lua_pop(rv->L, 1);
  return rc;
}

int rivulet_active(rivulet *rv) {
  int n = 0;
  if (api_fn(rv, "active")) return 0;
  if (api_call(rv, 0, 1) == RIVULET_OK) {
    n = (int)lua_tointeger(rv->L, -1);
    lua_pop(rv->L, 1);
  }
  return n;
}

int rivulet_fds(rivulet *rv, int *fds, short *events, int max, int *n) {
  if (!rv || !fds || !events || !n || max < 0) return RIVULET_MISUSE;
  *n = 0;
  if (api_fn(rv, "fds")) return RIVULET_MISUSE;
  lua_pop(rv->L, 1);
  if (rv->http) *n = rv_http_fds(rv->http, fds, events, max);
  return RIVULET_OK;
}

int rivulet_timeout(rivulet *rv, long *ms) {
  long t = -1, http_ms;
  if (!rv || !ms) return RIVULET_MISUSE;
  if (api_fn(rv, "next_timer_ms")) return RIVULET_MISUSE;
  if (api_call(rv, 0, 1) == RIVULET_OK) {
    t = (long)lua_tointeger(rv->L, -1);
    lua_pop(rv->L, 1);
  }
  http_ms = rv->http ? rv_http_timeout(rv->http) : -1;
  if (http_ms >= 0 && (t < 0 || http_ms < t)) t = http_ms;
  *ms = t;
  return RIVULET_OK;
}
