/* What the fuzz targets that run Lua share (fuzz_flow, fuzz_http): a lua_State set up as the
** host does, and Lua line coverage for libFuzzer, which sees only C coverage (liblua is not
** instrumented). Each target declares its own counters in the extra-counters section and
** hands them to fuzz_lua_line. */
#ifndef RIVULET_FUZZ_LUA_H
#define RIVULET_FUZZ_LUA_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <lauxlib.h>
#include <lua.h>

#include "host.h"

/* A state built by src/host.c as the rivulet program's is: the standard libraries,
** rivulet.core preloaded, and the modules from RIVULET_LUA_PATH (a Lua path or a directory)
** or else from the lua/ directory of the checkout holding the binary (build/fuzz/NAME ->
** ../../lua). Exits when that fails. */
static lua_State *fuzz_lua_open(const char *name) {
  rv_host_opts opts = { NULL, NULL, 2 };
  lua_State *L = rv_host_newstate(NULL);
  if (!L) abort();
  if (rv_host_setup(L, &opts) != LUA_OK) {
    fprintf(stderr, "%s: %s\n", name, rv_host_errtext(L, -1));
    exit(1);
  }
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
