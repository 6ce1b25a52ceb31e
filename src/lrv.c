/*
** luaopen_rivulet_core: the C module behind `require "rivulet"`. Small primitives only; the
** friendly API is the modules in lua/rivulet/ (STYLE.md habit 12).
*/
#include <errno.h>
#include <time.h>

#include "lrv.h"
#include "version.h"

#if defined(__GNUC__)
#define LRV_EXPORT __attribute__((visibility("default")))
#else
#define LRV_EXPORT
#endif

LRV_EXPORT int luaopen_rivulet_core(lua_State *L);

/* now() -> seconds since the epoch, with a fraction (the engine's clock) */
static int l_now(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
  return 1;
}

/* monotonic() -> seconds on a clock that never jumps (for measuring) */
static int l_monotonic(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
  return 1;
}

/* sleep(ms): waits, e.g. for the next timer when nothing else can happen */
static int l_sleep(lua_State *L) {
  lua_Integer ms = luaL_checkinteger(L, 1);
  struct timespec ts;
  if (ms <= 0) return 0;
  ts.tv_sec = (time_t)(ms / 1000);
  ts.tv_nsec = (long)(ms % 1000) * 1000000L;
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
  return 0;
}

int luaopen_rivulet_core(lua_State *L) {
  static const luaL_Reg funcs[] = {
    { "now", l_now }, { "monotonic", l_monotonic }, { "sleep", l_sleep }, { NULL, NULL }
  };
  luaL_newlib(L, funcs);
  lua_pushliteral(L, RIVULET_VERSION);
  lua_setfield(L, -2, "_VERSION");
  lrv_open_liquid(L);
  lrv_open_http(L);
  lrv_open_regex(L);
  lrv_open_sandbox(L);
  return 1;
}
