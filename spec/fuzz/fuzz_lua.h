/* What the fuzz targets that run Lua share (fuzz_flow, fuzz_http): a lua_State set up as the
** host does, and Lua line coverage for libFuzzer, which sees only C coverage (liblua is not
** instrumented). Each target declares its own counters in the extra-counters section and
** hands them to fuzz_lua_line. */
#ifndef RIVULET_FUZZ_LUA_H
#define RIVULET_FUZZ_LUA_H

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

int luaopen_rivulet_core(lua_State *L);

/* A state with the standard libraries, rivulet.core preloaded, and the modules from
** RIVULET_LUA_PATH (a Lua path) or else from the lua/ directory of the checkout holding
** the binary (build/fuzz/NAME -> ../../lua). Exits when that cannot be found. */
static lua_State *fuzz_lua_open(const char *name) {
  const char *env = getenv("RIVULET_LUA_PATH");
  char exe[PATH_MAX], *slash;
  ssize_t n;
  int i;
  lua_State *L = luaL_newstate();
  if (!L) abort();
  luaL_openlibs(L);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, luaopen_rivulet_core);
  lua_setfield(L, -2, "rivulet.core");
  lua_pop(L, 1);
  lua_getglobal(L, "package");
  if (env) lua_pushfstring(L, "%s;", env);
  else {
    n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) { fprintf(stderr, "%s: cannot find the executable; set RIVULET_LUA_PATH\n", name); exit(1); }
    exe[n] = 0;
    for (i = 0; i < 3; i++) {
      slash = strrchr(exe, '/');
      if (!slash) { fprintf(stderr, "%s: set RIVULET_LUA_PATH\n", name); exit(1); }
      *slash = 0;
    }
    lua_pushfstring(L, "%s/lua/?.lua;%s/lua/?/init.lua;", exe, exe);
  }
  lua_getfield(L, -2, "path");
  lua_concat(L, 2);
  lua_setfield(L, -2, "path");
  lua_pop(L, 1);
  return L;
}

/* the previous line seen; reset it before each input */
static uintptr_t fuzz_lua_prev_line;

/* from a line hook: the edge (chunk, previous line, line) bumps one of n counters; the
** harness's own chunks ("=name") do not count */
static void fuzz_lua_line(uint8_t *counters, size_t n, lua_State *L, lua_Debug *ar) {
  uintptr_t h;
  if (!lua_getinfo(L, "S", ar) || ar->source[0] == '=') return;
  h = ((uintptr_t)ar->source * 31u) ^ ((uintptr_t)ar->currentline * 2654435761u);
  counters[(h ^ (fuzz_lua_prev_line >> 1)) % n]++;
  fuzz_lua_prev_line = h;
}

#endif
