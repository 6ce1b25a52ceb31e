/*
** luaopen_rivulet_core: the C module behind `require "rivulet"`. Small primitives only; the
** friendly API is the modules in lua/rivulet/ (STYLE.md habit 12).
*/
#include "lrv.h"
#include "version.h"

#if defined(__GNUC__)
#define LRV_EXPORT __attribute__((visibility("default")))
#else
#define LRV_EXPORT
#endif

LRV_EXPORT int luaopen_rivulet_core(lua_State *L);

int luaopen_rivulet_core(lua_State *L) {
  luaL_checkversion(L);
  lua_newtable(L);
  lua_pushliteral(L, RIVULET_VERSION);
  lua_setfield(L, -2, "_VERSION");
  lrv_open_liquid(L);
  lrv_open_http(L);
  return 1;
}
