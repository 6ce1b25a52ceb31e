/* The memory half of the sandbox (rivulet.sandbox): a budget on how much a call of custom
** Lua logic may grow the heap. The state's allocator is wrapped on first use; the wrapper
** forwards to the original one and, while a budget is armed, refuses growth past it, so a
** 1 GB string.rep fails at once with Lua's ordinary memory error instead of swapping.
**
**   core.memory_budget(bytes)   arm: from now on the heap may grow by at most bytes
**   core.memory_budget()        disarm -> bytes grown while armed, and whether the budget
**                               refused an allocation (true/false)
*/
#include <stddef.h>

#include "lrv.h"

#define BUDGET_KEY "rivulet.sandbox.budget"

typedef struct budget {
  lua_Alloc f;         /* the allocator we wrap */
  void *ud;
  int armed, refused;
  size_t limit;
  ptrdiff_t grown;     /* net bytes since arming; frees of older blocks make it negative */
} budget;

static void *budget_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  budget *b = (budget *)ud;
  size_t old = ptr ? osize : 0;     /* without ptr, osize is a type tag, not a size */
  void *p;
  if (b->armed && nsize > old) {
    size_t more = nsize - old;
    if (b->grown > 0 && (size_t)b->grown > b->limit) { b->refused = 1; return NULL; }
    if (more > b->limit - (b->grown > 0 ? (size_t)b->grown : 0)) { b->refused = 1; return NULL; }
  }
  p = b->f(b->ud, ptr, osize, nsize);
  if (b->armed && (p || nsize == 0)) b->grown += (ptrdiff_t)nsize - (ptrdiff_t)old;
  return p;
}

/* At lua_close finalizers run before any memory is freed: put the original allocator back
** so that no free goes through a wrapper whose userdata is about to be freed. */
static int budget_gc(lua_State *L) {
  budget *b = (budget *)lua_touserdata(L, 1);
  void *ud;
  if (lua_getallocf(L, &ud) == budget_alloc && ud == b) lua_setallocf(L, b->f, b->ud);
  b->armed = 0;
  return 0;
}

static budget *budget_of(lua_State *L) {
  budget *b;
  if (lua_getfield(L, LUA_REGISTRYINDEX, BUDGET_KEY) == LUA_TUSERDATA) {
    b = (budget *)lua_touserdata(L, -1);
    lua_pop(L, 1);
    return b;
  }
  lua_pop(L, 1);
  b = (budget *)lua_newuserdatauv(L, sizeof *b, 0);
  b->f = lua_getallocf(L, &b->ud);
  b->armed = b->refused = 0;
  b->limit = 0;
  b->grown = 0;
  lua_newtable(L);
  lua_pushcfunction(L, budget_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  lua_setfield(L, LUA_REGISTRYINDEX, BUDGET_KEY);
  lua_setallocf(L, budget_alloc, b);
  return b;
}

static int l_memory_budget(lua_State *L) {
  budget *b = budget_of(L);
  if (lua_isnoneornil(L, 1)) {
    ptrdiff_t grown = b->grown;
    int refused = b->refused;
    b->armed = b->refused = 0;
    b->grown = 0;
    lua_pushinteger(L, grown > 0 ? (lua_Integer)grown : 0);
    lua_pushboolean(L, refused);
    return 2;
  }
  {
    lua_Integer n = luaL_checkinteger(L, 1);
    luaL_argcheck(L, n > 0, 1, "the budget must be a positive number of bytes");
    b->limit = (size_t)n;
    b->grown = 0;
    b->refused = 0;
    b->armed = 1;
  }
  return 0;
}

void lrv_open_sandbox(lua_State *L) {
  lua_pushcfunction(L, l_memory_budget);
  lua_setfield(L, -2, "memory_budget");
}
