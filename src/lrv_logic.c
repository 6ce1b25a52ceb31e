/* Logic states: custom Lua logic (a lua widget's function, a Lua flow file) runs in a
** lua_State of its own, made for one call and closed after it, never in the host's state:
**
**   - its own allocator, with a hard cap on live bytes (limits.memory), and on the keys one
**     table may hold outside its sequence (LOGIC_HASH_NODES);
**   - an instruction budget (limits.instructions): a count hook every LOGIC_HOOK_EVERY
**     instructions, plus what the libraries charge for work they do in C (lrv_logic_lib.c)
**     and one unit per LOGIC_BYTES_PER_UNIT bytes allocated. Once spent, the hook runs before
**     every instruction and raises again, so the code's own pcall cannot swallow it;
**   - a wall-clock deadline (limits.time_ms), checked by the same hook and by the charges:
**     a backstop for the few instructions whose cost grows with their operands (comparing
**     two long strings, a long collision chain), which the count alone does not see;
**   - the allow-listed libraries of lrv_logic_lib.c, text chunks only (or bytecode this file
**     dumped itself from text);
**   - arguments go in and results come out as deep copies of plain data (strings, numbers,
**     booleans, tables, cjson's null), read raw, without metamethods, depth- and size-capped;
**     functions, userdata and cycles are refused with a message saying where. Error values
**     become strings inside the logic state, under its budget.
**
** So nothing custom logic makes can run later on the host's stack (a finalizer, a
** metamethod of a returned table, a __tostring of an error), and nothing of one call
** survives into the next: file-level locals, metatables and the random seed are made anew
** each time. Lua runs finalizers with hooks off (lgc.c GCTM), which the count hook cannot
** stop, so the safe setmetatable refuses __gc (and __mode: weak tables can make one
** collection quadratic, again without hooks); lua_close runs with the hook still armed and a
** warning function that drops finalizer errors. A message handler would run inside the
** hook's own error, hooks off too: the safe xpcall runs it after unwinding.
**
** Why a fresh state per call: measured (bench/logic/calls.lua, bench/README.md), a call of
** a small compiled function costs about 25 us, against 11 us for the old call in the host's
** own state (a coroutine under a count hook, which left all of the above open); half of it
** is making and closing the state. Reusing states would need every trace of a call wiped
** before the next contact's (upvalues, math.randomseed, captured metatables, what the
** libraries hold), which a fresh state gets for free; and one lua widget step at 25 us
** still allows 40,000 a second. The libraries are opened on first use, small blocks come
** from one slab per state and tables are sized before they are filled: without those, 38
** us before the call even began.
**
**   core.logic_run(code, name, limits [, path [, arg [, line]]]) -> true, results... | false, message
**   core.logic_load(text, name, limits) -> true, data, unit | false, message
**   core.logic_compile(text, name, limits) -> unit | nil, message
**   core.logic_limits: the constants below (copy_depth, out_bytes, ...)
**
** code is Lua text or a unit (compiled by logic_load or logic_compile from text, so the next
** calls skip the parser). name is the chunk name ("@file" or "=name"). limits =
** {instructions =, memory =, time_ms =}, positive integers. logic_run without a path returns
** the chunk's results; with a path (a list of keys, {} for the chunk's first result) it
** calls the function found there with a copy of arg and returns that function's results (at
** most LOGIC_MAX_RESULTS). logic_load returns the chunk's first result with every function
** in it replaced by a marker {lua_fn = "states[3].fn", path = {"states", 3, "fn"}, line = 12}
** that logic_run can follow later; given line, it checks that the function it finds there
** was defined on that line, so a file whose table depends on the order of pairs (which
** differs from state to state) fails clearly instead of calling another function. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>

#include "lrv.h"
#include "lrv_logic.h"

#define LOGIC_HOOK_EVERY 1000       /* instructions between two runs of the hook: its cost
                                       stays under 1% of the VM's time */
#define LOGIC_COPY_DEPTH 100        /* tables nested in a value copied in or out (as deep as
                                       the JSON encoder writes) */
#define LOGIC_OUT_BYTES (16 * 1024 * 1024)  /* a value copied out: its strings' bytes plus
                                               LOGIC_ENTRY_BYTES per table entry (shared
                                               tables are copied once, but a long string
                                               repeated a million times would not be) */
#define LOGIC_ENTRY_BYTES 16
#define LOGIC_MAX_RESULTS 16        /* results copied out of one call (the lua widget
                                       reads two) */
#define LOGIC_ERROR_BYTES 2048      /* an error message from custom logic is cut there */
#define LOGIC_KEY_TEXT 40           /* bytes of a key shown in a path */
#define LOGIC_HASH_NODES 32768      /* keys one table may hold besides its sequence 1..n:
                                       Lua rebuilds a hash part by reinserting every key,
                                       and keys made to collide (integers, floats, table
                                       addresses hash predictably) turn that into n^2/2
                                       steps inside one instruction, beyond the hook and
                                       the deadline: 0.5 s at 32768 here, 7 s at 131072,
                                       two minutes at the 524288 32 MiB would allow */
#define LOGIC_SLAB 65536            /* a state's small blocks come from one slab, freed with
                                       it: setting a state up makes some 600 of them, and
                                       malloc and free for each were a third of a call */
#define LOGIC_SLAB_BLOCK 256        /* blocks up to this size come from the slab */

enum { SPENT_NONE, SPENT_INSTRUCTIONS, SPENT_TIME };
enum { MODE_RUN, MODE_LOAD, MODE_COMPILE };

struct lrv_logic {
  lua_State *L;                 /* the logic state: NULL before it exists and once closed */
  size_t mem, cap;              /* live bytes, and their cap */
  lua_Integer used, budget;     /* units of work done, and allowed */
  lua_Integer time_ms;
  double deadline;
  size_t since_clock;           /* units since the deadline was last looked at */
  int spent;                    /* SPENT_*: the budget that ran out */
  int charging;                 /* work counts (off while the state is set up) */
  int errmem;                   /* the run ended in a memory error */
  pat_classes classes;          /* class sets of the patterns compiled so far */
  size_t node_size;             /* sizeof(Node) of this Lua, seen when the state starts */
  int probing;                  /* the next untagged allocation is a one-node vector */
  int hash_refused;             /* a node vector over LOGIC_HASH_NODES was refused */
  unsigned char *slab;          /* LOGIC_SLAB bytes (or NULL) */
  size_t slab_used;
  /* the job, for logic_main: what to read from the host's stack */
  lua_State *host;
  int mode, code, path, arg, line;  /* host stack indices; 0 when there is none */
  const char *name;
};

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* ---- the budget ---------------------------------------------------------------------------- */

static void logic_hook(lua_State *L, lua_Debug *ar);

static void stop(struct lrv_logic *g, int why) {
  if (!g->spent) g->spent = why;
  if (g->L) lua_sethook(g->L, logic_hook, LUA_MASKCOUNT, 1);   /* before every instruction */
}

int lrv_logic_spend(struct lrv_logic *g, size_t units) {
  if (g->spent) return 1;
  if (!g->charging) return 0;
  if (units > (size_t)(g->budget - g->used)) {
    g->used = g->budget;
    stop(g, SPENT_INSTRUCTIONS);
    return 1;
  }
  g->used += (lua_Integer)units;
  g->since_clock += units;
  if (g->since_clock >= LOGIC_HOOK_EVERY) {
    g->since_clock = 0;
    if (now() >= g->deadline) {
      stop(g, SPENT_TIME);
      return 1;
    }
  }
  return 0;
}

static void *logic_alloc(void *ud, void *ptr, size_t osize, size_t nsize);

struct lrv_logic *lrv_logic_of(lua_State *L) {
  void *ud;
  return lua_getallocf(L, &ud) == logic_alloc ? (struct lrv_logic *)ud : NULL;
}

pat_classes *lrv_logic_classes(struct lrv_logic *g) {
  return &g->classes;
}

static void push_spent(lua_State *L, struct lrv_logic *g) {
  if (g->spent == SPENT_TIME)
    lua_pushfstring(L, "time budget exceeded (%I ms)", (LUAI_UACINT)g->time_ms);
  else
    lua_pushfstring(L, "instruction budget exceeded (%I)", (LUAI_UACINT)g->budget);
}

int lrv_logic_raise(lua_State *L, struct lrv_logic *g) {
  push_spent(L, g);
  return lua_error(L);
}

void lrv_logic_charge(lua_State *L, size_t units) {
  struct lrv_logic *g = lrv_logic_of(L);
  if (g && lrv_logic_spend(g, units)) lrv_logic_raise(L, g);
}

static void logic_hook(lua_State *L, lua_Debug *ar) {
  struct lrv_logic *g = lrv_logic_of(L);
  (void)ar;
  if (lrv_logic_spend(g, LOGIC_HOOK_EVERY)) lrv_logic_raise(L, g);
}

static int in_slab(const struct lrv_logic *g, const void *p) {
  return g->slab && (const unsigned char *)p >= g->slab && (const unsigned char *)p < g->slab + LOGIC_SLAB;
}

/* Growth past the cap is refused; growth below it costs work. Before failing, Lua collects
** everything and asks again, so a refusal costs as much as collecting what is in use. Small
** blocks come from the slab while it lasts; freeing one there frees nothing until the state
** is closed (the cap counts live blocks, so the state may hold up to LOGIC_SLAB more). */
/* A table's node vector is allocated afresh, untagged, node_size times a power of two (the
** string functions that could ask for such a size without a table use no luaL_Buffer). */
static int big_node_vector(const struct lrv_logic *g, const void *ptr, size_t osize, size_t nsize) {
  size_t n;
  if (ptr || osize != 0 || !g->node_size || nsize % g->node_size != 0) return 0;
  n = nsize / g->node_size;
  return n > LOGIC_HASH_NODES && (n & (n - 1)) == 0;
}

static void *logic_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  struct lrv_logic *g = (struct lrv_logic *)ud;
  size_t old = ptr ? osize : 0;    /* without ptr, osize is a type tag */
  int slab = in_slab(g, ptr);
  void *p;
  if (nsize == 0) {
    if (!slab) free(ptr);
    g->mem -= old;
    return NULL;
  }
  if (g->probing && !ptr && osize == 0) g->node_size = nsize;
  if (big_node_vector(g, ptr, osize, nsize)) {
    g->hash_refused = 1;
    return NULL;
  }
  if (nsize > old) {
    size_t more = nsize - old;
    if (more > g->cap - g->mem) {
      lrv_logic_spend(g, g->mem / LOGIC_BYTES_PER_UNIT);
      return NULL;
    }
    lrv_logic_spend(g, more / LOGIC_BYTES_PER_UNIT);
  }
  if (slab && nsize <= old) {                     /* shrinking in the slab: keep the block */
    g->mem = g->mem - old + nsize;
    return ptr;
  }
  if ((!ptr || slab) && g->slab && nsize <= LOGIC_SLAB_BLOCK) {
    size_t size = (nsize + 15) & ~(size_t)15;
    if (size <= LOGIC_SLAB - g->slab_used) {
      p = g->slab + g->slab_used;
      g->slab_used += size;
      if (ptr) memcpy(p, ptr, old);
      g->mem = g->mem - old + nsize;
      return p;
    }
  }
  if (slab) {                                     /* out of the slab */
    p = malloc(nsize);
    if (p) memcpy(p, ptr, old);
  } else {
    p = realloc(ptr, nsize);
    if (!p && nsize < old) return ptr;            /* a failed shrink keeps the block */
  }
  if (!p) return NULL;
  g->mem = g->mem - old + nsize;
  return p;
}

/* ---- copying plain data between two states ------------------------------------------------ */

enum { COPY_OK, COPY_E_TYPE, COPY_E_KEY, COPY_E_CYCLE, COPY_E_DEPTH, COPY_E_SIZE };

typedef struct copier {
  lua_State *from, *to;
  int memo;                     /* index in `to` of a table: source table -> its copy */
  int markers;                  /* functions become markers instead of errors */
  size_t bytes, max;            /* what was copied, and the cap (0: none) */
  int depth;
  const void *open[LOGIC_COPY_DEPTH];   /* the tables being copied: one seen again is a cycle */
  int keys[LOGIC_COPY_DEPTH];   /* index in `from` of the key at each depth */
  int error, error_type, error_depth;
} copier;

static int is_name(const char *s, size_t n) {
  size_t i;
  if (n == 0 || n > LOGIC_KEY_TEXT || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_'))
    return 0;
  for (i = 1; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
      return 0;
  }
  return 1;
}

/* key k of `from` as a step of a path: name, .name, [3], ["a b"] */
static void add_key(luaL_Buffer *b, lua_State *from, int k, int first) {
  char buf[64];
  size_t n, i;
  const char *s;
  switch (lua_type(from, k)) {
  case LUA_TSTRING:
    s = lua_tolstring(from, k, &n);
    if (is_name(s, n)) {
      if (!first) luaL_addchar(b, '.');
      luaL_addlstring(b, s, n);
      break;
    }
    luaL_addstring(b, "[\"");
    for (i = 0; i < n && i < LOGIC_KEY_TEXT; i++) {
      unsigned char c = (unsigned char)s[i];
      if (c == '"' || c == '\\') {
        luaL_addchar(b, '\\');
        luaL_addchar(b, (char)c);
      } else if (c < 32 || c >= 127) {
        snprintf(buf, sizeof buf, "\\%u", (unsigned)c);
        luaL_addstring(b, buf);
      } else {
        luaL_addchar(b, (char)c);
      }
    }
    luaL_addstring(b, n > LOGIC_KEY_TEXT ? "...\"]" : "\"]");
    break;
  case LUA_TNUMBER:
    if (lua_isinteger(from, k))
      snprintf(buf, sizeof buf, "[" LUA_INTEGER_FMT "]", (LUAI_UACINT)lua_tointeger(from, k));
    else
      snprintf(buf, sizeof buf, "[%.14g]", (double)lua_tonumber(from, k));
    luaL_addstring(b, buf);
    break;
  case LUA_TBOOLEAN:
    luaL_addstring(b, lua_toboolean(from, k) ? "[true]" : "[false]");
    break;
  default:
    luaL_addstring(b, "[?]");
    break;
  }
}

/* pushes on `to` the path of the first n keys */
static void push_where(copier *c, int n) {
  luaL_Buffer b;
  int i;
  luaL_buffinit(c->to, &b);
  for (i = 0; i < n; i++) add_key(&b, c->from, c->keys[i], i == 0);
  luaL_pushresult(&b);
}

static int fail(copier *c, int error, int type, int depth) {
  c->error = error;
  c->error_type = type;
  c->error_depth = depth;
  return error;
}

static int count(copier *c, size_t n) {
  if (!c->max) return 0;
  if (n > c->max - c->bytes) return 1;
  c->bytes += n;
  return 0;
}

static void push_key(copier *c, int k) {
  size_t n;
  const char *s;
  switch (lua_type(c->from, k)) {
  case LUA_TSTRING:
    s = lua_tolstring(c->from, k, &n);
    lua_pushlstring(c->to, s, n);
    break;
  case LUA_TNUMBER:
    if (lua_isinteger(c->from, k)) lua_pushinteger(c->to, lua_tointeger(c->from, k));
    else lua_pushnumber(c->to, lua_tonumber(c->from, k));
    break;
  default:
    lua_pushboolean(c->to, lua_toboolean(c->from, k));
    break;
  }
}

/* a function of a flow file: {lua_fn = "where", path = {keys...}} */
static int push_marker(copier *c, int idx) {
  lua_State *T = c->to;
  lua_Debug ar;
  int i;
  if (count(c, (size_t)(4 + c->depth) * LOGIC_ENTRY_BYTES)) return fail(c, COPY_E_SIZE, LUA_TFUNCTION, c->depth);
  luaL_checkstack(T, 4, NULL);
  lua_pushvalue(c->from, idx);
  lua_getinfo(c->from, ">S", &ar);
  lua_createtable(T, 0, 3);
  lua_pushinteger(T, ar.linedefined);                 /* checked when it is called */
  lua_setfield(T, -2, "line");
  push_where(c, c->depth);
  lua_setfield(T, -2, "lua_fn");
  lua_createtable(T, c->depth, 0);
  for (i = 0; i < c->depth; i++) {
    push_key(c, c->keys[i]);
    lua_rawseti(T, -2, i + 1);
  }
  lua_setfield(T, -2, "path");
  return COPY_OK;
}

static int copy_value(copier *c, int idx);

static int copy_table(copier *c, int idx) {
  lua_State *F = c->from, *T = c->to;
  const void *p = lua_topointer(F, idx);
  int d = c->depth, i, r;
  luaL_checkstack(T, 4, NULL);
  lua_pushlightuserdata(T, (void *)(uintptr_t)p);
  if (lua_rawget(T, c->memo) == LUA_TTABLE) {
    for (i = 0; i < d; i++)
      if (c->open[i] == p) return fail(c, COPY_E_CYCLE, LUA_TTABLE, d);
    return COPY_OK;                                   /* shared: one copy, shared too */
  }
  lua_pop(T, 1);
  if (d >= LOGIC_COPY_DEPTH || !lua_checkstack(F, 3)) return fail(c, COPY_E_DEPTH, LUA_TTABLE, d);
  {                                                   /* sized once, not grown key by key */
    int narr = (int)lua_rawlen(F, idx), n = 0;
    lua_pushnil(F);
    while (lua_next(F, idx)) {
      lua_pop(F, 1);
      n++;
    }
    lua_createtable(T, narr, n > narr ? n - narr : 0);
  }
  lua_pushlightuserdata(T, (void *)(uintptr_t)p);
  lua_pushvalue(T, -2);
  lua_rawset(T, c->memo);
  c->open[d] = p;
  c->depth = d + 1;
  lua_pushnil(F);
  while (lua_next(F, idx)) {                          /* raw: no __pairs, no __index */
    int k = lua_gettop(F) - 1, kt = lua_type(F, k);
    c->keys[d] = k;
    if (count(c, LOGIC_ENTRY_BYTES)) return fail(c, COPY_E_SIZE, LUA_TTABLE, d);
    if (kt != LUA_TSTRING && kt != LUA_TNUMBER && kt != LUA_TBOOLEAN) return fail(c, COPY_E_KEY, kt, d);
    if ((r = copy_value(c, k)) != COPY_OK) return r;
    if ((r = copy_value(c, k + 1)) != COPY_OK) return r;
    lua_rawset(T, -3);
    lua_pop(F, 1);
  }
  c->depth = d;
  return COPY_OK;
}

static int copy_value(copier *c, int idx) {
  lua_State *F = c->from, *T = c->to;
  int t = lua_type(F, idx);
  size_t n;
  const char *s;
  switch (t) {
  case LUA_TNIL:
    lua_pushnil(T);
    return COPY_OK;
  case LUA_TBOOLEAN:
    lua_pushboolean(T, lua_toboolean(F, idx));
    return COPY_OK;
  case LUA_TNUMBER:
    if (lua_isinteger(F, idx)) lua_pushinteger(T, lua_tointeger(F, idx));
    else lua_pushnumber(T, lua_tonumber(F, idx));
    return COPY_OK;
  case LUA_TSTRING:
    s = lua_tolstring(F, idx, &n);
    if (count(c, n)) return fail(c, COPY_E_SIZE, t, c->depth);
    lua_pushlstring(T, s, n);
    return COPY_OK;
  case LUA_TTABLE:
    return copy_table(c, idx);
  case LUA_TLIGHTUSERDATA:                            /* cjson.null, and nothing else */
    if (lua_touserdata(F, idx) != NULL) break;
    lua_pushlightuserdata(T, NULL);
    return COPY_OK;
  case LUA_TFUNCTION:
    if (c->markers) return push_marker(c, idx);
    break;
  default:
    break;
  }
  return fail(c, COPY_E_TYPE, t, c->depth);
}

static void copy_begin(copier *c, lua_State *from, lua_State *to, int markers, size_t max) {
  c->from = from;
  c->to = to;
  c->markers = markers;
  c->bytes = 0;
  c->max = max;
  c->depth = 0;
  c->error = COPY_OK;
  lua_createtable(to, 0, 8);
  c->memo = lua_gettop(to);
}

/* pushes on `to` the message for c's error: verb says what happened ("custom logic
** returned"), place which value (NULL, "result 2"), way what the allowed types may do */
static void push_copy_error(copier *c, const char *verb, const char *place, const char *way) {
  lua_State *T = c->to;
  const char *where = "";
  char limit[32];
  if (c->error_depth > 0) {
    push_where(c, c->error_depth);
    where = place ? lua_pushfstring(T, " (%s, at %s)", place, lua_tostring(T, -1))
                  : lua_pushfstring(T, " (at %s)", lua_tostring(T, -1));
  } else if (place) {
    where = lua_pushfstring(T, " (%s)", place);
  }
  switch (c->error) {
  case COPY_E_TYPE:
    lua_pushfstring(T, "%s a %s%s: only strings, numbers, booleans and tables %s",
                    verb, lua_typename(T, c->error_type), where, way);
    break;
  case COPY_E_KEY:
    lua_pushfstring(T, "%s a %s as a table key%s: keys are strings, numbers or booleans",
                    verb, lua_typename(T, c->error_type), where);
    break;
  case COPY_E_CYCLE:
    lua_pushfstring(T, "%s a table inside itself%s", verb, where);
    break;
  case COPY_E_DEPTH:
    lua_pushfstring(T, "%s tables nested deeper than %d%s", verb, LOGIC_COPY_DEPTH, where);
    break;
  default:
    snprintf(limit, sizeof limit, "%lu", (unsigned long)c->max);
    lua_pushfstring(T, "%s more than %s bytes of data%s", verb, limit, where);
    break;
  }
}

/* ---- the logic state ------------------------------------------------------------------------ */

typedef struct dump_state {
  luaL_Buffer b;
  int started;
} dump_state;

/* the buffer starts on the first write, above the function being dumped */
static int dump_writer(lua_State *L, const void *p, size_t size, void *ud) {
  dump_state *d = (dump_state *)ud;
  if (!d->started) {
    d->started = 1;
    luaL_buffinit(L, &d->b);
  }
  luaL_addlstring(&d->b, (const char *)p, size);
  return 0;
}

static const char *unit_code(lua_State *H, int idx, size_t *len) {
  const char *s;
  lua_getiuservalue(H, idx, 1);
  s = lua_tolstring(H, -1, len);
  lua_pop(H, 1);                                      /* the unit keeps it */
  return s;
}

/* the error value at the top -> a string, made under the budget (a __tostring is code too) */
static int error_text(lua_State *L) {
  if (lua_type(L, 1) == LUA_TNUMBER || luaL_getmetafield(L, 1, "__tostring") != LUA_TNIL) {
    luaL_tolstring(L, 1, NULL);
    return 1;
  }
  if (luaL_getmetafield(L, 1, "__name") != LUA_TSTRING) lua_pushstring(L, luaL_typename(L, 1));
  lua_pushfstring(L, "the code raised an error that is not a string (%s)", lua_tostring(L, -1));
  return 1;
}

static void error_to_string(lua_State *L) {
  int t = lua_type(L, -1);
  if (t == LUA_TSTRING) return;
  lua_pushcfunction(L, error_text);
  lua_insert(L, -2);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK || lua_type(L, -1) != LUA_TSTRING) {
    lua_pop(L, 1);
    lua_pushfstring(L, "the code raised an error that is not a string (%s)", lua_typename(L, t));
  }
}

/* run under the budget: 1 chunk, 2 path (nil: return the chunk's results), 3 argument,
** 4 the line the function at the path was defined on when the code was loaded (or nil) */
static int run_user(lua_State *L) {
  lua_Integer i, n;
  lua_settop(L, 4);
  lua_pushvalue(L, 1);
  if (lua_isnil(L, 2)) {
    lua_call(L, 0, LUA_MULTRET);
    return lua_gettop(L) - 4;
  }
  lua_call(L, 0, 1);
  n = (lua_Integer)lua_rawlen(L, 2);
  for (i = 1; i <= n; i++) {
    if (lua_type(L, -1) != LUA_TTABLE) break;
    lua_rawgeti(L, 2, i);
    lua_rawget(L, -2);
    lua_remove(L, -2);
  }
  if (lua_type(L, -1) != LUA_TFUNCTION) {
    copier c;
    int k;
    c.from = c.to = L;
    for (k = 0; k < n && k < LOGIC_COPY_DEPTH; k++) {
      lua_rawgeti(L, 2, k + 1);
      c.keys[k] = lua_gettop(L);
    }
    push_where(&c, k);
    return luaL_error(L, "custom logic: no function at %s this time (the code returned something else)",
                      lua_tostring(L, -1));
  }
  if (!lua_isnil(L, 4)) {
    lua_Debug ar;
    lua_pushvalue(L, -1);
    lua_getinfo(L, ">S", &ar);
    if (ar.linedefined != lua_tointeger(L, 4))
      return luaL_error(L, "custom logic: the file built its table differently this time: the function "
                        "at this place was defined on line %d, now on line %d (functions must not move "
                        "with the order of pairs or by chance)", (int)lua_tointeger(L, 4), ar.linedefined);
  }
  lua_pushvalue(L, 3);
  lua_call(L, 1, LUA_MULTRET);
  return lua_gettop(L) - 4;
}

/* In the logic state, protected: builds the environment, loads the code, copies the
** argument in, runs. Leaves false, message or true, [dump,] results. */
static int logic_main(lua_State *L) {
  struct lrv_logic *g = (struct lrv_logic *)lua_touserdata(L, 1);
  lua_State *H = g->host;
  const char *code;
  size_t len;
  int status;
  lua_settop(L, 0);
  g->probing = 1;                                     /* sizeof(Node), as this Lua has it */
  lua_createtable(L, 0, 1);
  g->probing = 0;
  lua_pop(L, 1);
  lrv_logic_env(L);                                   /* 1: the environment */
  if (lua_type(H, g->code) == LUA_TSTRING) {
    code = lua_tolstring(H, g->code, &len);
    status = luaL_loadbufferx(L, code, len, g->name, "t");
  } else {
    code = unit_code(H, g->code, &len);               /* bytecode dumped here from text */
    status = luaL_loadbufferx(L, code, len, g->name, "b");
  }
  if (status != LUA_OK) {
    g->errmem = status == LUA_ERRMEM;
    lua_pushboolean(L, 0);
    lua_insert(L, -2);
    return 2;
  }
  lua_pushvalue(L, 1);                                /* 2: the chunk, its _ENV set */
  if (!lua_setupvalue(L, 2, 1)) lua_pop(L, 1);
  if (g->mode != MODE_RUN) {                          /* 3: its bytecode */
    dump_state d;
    d.started = 0;
    if (lua_dump(L, dump_writer, &d, 0) != 0 || !d.started) return luaL_error(L, "cannot dump the chunk");
    luaL_pushresult(&d.b);
    if (g->mode == MODE_COMPILE) {
      lua_pushboolean(L, 1);
      lua_insert(L, -2);
      return 2;
    }
  } else {
    lua_pushnil(L);
  }
  lua_pushcfunction(L, run_user);                     /* 4: run_user, 5: chunk, 6: path, 7: arg */
  lua_pushvalue(L, 2);
  if (g->path) {
    copier c;
    copy_begin(&c, H, L, 0, 0);
    if (copy_value(&c, g->path) != COPY_OK) {
      push_copy_error(&c, "the path holds", NULL, "make a path");
      return lua_error(L);
    }
    lua_remove(L, c.memo);
    if (g->arg && !lua_isnone(H, g->arg)) {
      copy_begin(&c, H, L, 0, 0);
      if (copy_value(&c, g->arg) != COPY_OK) {
        push_copy_error(&c, "the argument holds", NULL, "go into custom logic");
        return lua_error(L);
      }
      lua_remove(L, c.memo);
    } else {
      lua_pushnil(L);
    }
  } else {
    lua_pushnil(L);
    lua_pushnil(L);
  }
  if (g->line) lua_pushinteger(L, lua_tointeger(H, g->line));   /* 8: the function's line */
  else lua_pushnil(L);
  g->used = 0;
  g->since_clock = 0;
  g->charging = 1;
  g->deadline = now() + (double)g->time_ms / 1000.0;
  lua_sethook(L, logic_hook, LUA_MASKCOUNT, LOGIC_HOOK_EVERY);
  status = lua_pcall(L, 4, LUA_MULTRET, 0);
  if (status != LUA_OK) {
    g->errmem = status == LUA_ERRMEM;
    error_to_string(L);
    lua_pushboolean(L, 0);
    lua_insert(L, -2);
    return 2;
  }
  lua_pushboolean(L, 1);
  lua_replace(L, 1);                                  /* true, chunk, dump, results... */
  lua_remove(L, 2);
  if (g->mode == MODE_RUN) lua_remove(L, 2);
  return lua_gettop(L);
}

static void close_state(struct lrv_logic *g) {
  if (g->L) {
    lua_close(g->L);                  /* the hook stays armed; no Lua code is left to run */
    g->L = NULL;
  }
  free(g->slab);
  g->slab = NULL;
}

static int box_gc(lua_State *L) {
  close_state((struct lrv_logic *)luaL_checkudata(L, 1, LRV_LOGIC_BOX));
  return 0;
}

static lua_Integer positive_field(lua_State *L, int t, const char *k) {
  lua_Integer n;
  int ok;
  lua_getfield(L, t, k);
  n = lua_tointegerx(L, -1, &ok);
  lua_pop(L, 1);
  if (!ok || n <= 0) luaL_error(L, "limits.%s must be a positive integer", k);
  return n;
}

/* a box for the state, anchored on the host's stack: if the host raises while taking the
** results, its __gc closes the state */
static struct lrv_logic *new_job(lua_State *L, int limits, int mode, int code) {
  struct lrv_logic *g;
  luaL_checktype(L, limits, LUA_TTABLE);
  g = (struct lrv_logic *)lua_newuserdatauv(L, sizeof *g, 0);
  memset(g, 0, sizeof *g);
  luaL_setmetatable(L, LRV_LOGIC_BOX);
  g->budget = positive_field(L, limits, "instructions");
  g->cap = (size_t)positive_field(L, limits, "memory");
  g->time_ms = positive_field(L, limits, "time_ms");
  g->mode = mode;
  g->code = code;
  g->name = lua_tostring(L, code + 1);
  g->host = L;
  return g;
}

/* the message of a failed job (cut to LOGIC_ERROR_BYTES) */
static void push_failure(lua_State *H, struct lrv_logic *g, int status) {
  lua_State *L = g->L;
  size_t n = 0;
  const char *s;
  if (g->spent) {
    push_spent(H, g);
  } else if ((g->errmem || status == LUA_ERRMEM) && g->hash_refused) {
    lua_pushfstring(H, "a table of custom logic may hold at most %d keys besides its sequence 1..n",
                    LOGIC_HASH_NODES);
  } else if (g->errmem || status == LUA_ERRMEM) {
    lua_pushfstring(H, "memory budget exceeded (%I bytes)", (LUAI_UACINT)g->cap);
  } else if (lua_type(L, -1) != LUA_TSTRING) {
    lua_pushliteral(H, "custom logic failed");
  } else {
    s = lua_tolstring(L, -1, &n);
    lua_pushlstring(H, s, n <= LOGIC_ERROR_BYTES ? n : LOGIC_ERROR_BYTES);
    if (n > LOGIC_ERROR_BYTES) {
      lua_pushliteral(H, "...");
      lua_concat(H, 2);
    }
  }
}

/* a unit: bytecode this file dumped from text (the only bytecode a logic state loads) */
static void push_unit(lua_State *H, lua_State *L, int idx) {
  size_t n;
  const char *s = lua_tolstring(L, idx, &n);
  lua_newuserdatauv(H, 1, 1);
  lua_pushlstring(H, s, n);
  lua_setiuservalue(H, -2, 1);
  luaL_setmetatable(H, LRV_LOGIC_UNIT);
}

/* true, copies of the results (logic_load: the data, then the unit) | false, message */
static int push_results(lua_State *H, struct lrv_logic *g, int top) {
  lua_State *L = g->L;
  int load = g->mode == MODE_LOAD, first = load ? 3 : 2, results, i, r;
  copier c;
  results = load ? 1 : lua_gettop(L) - 1;
  if (results > LOGIC_MAX_RESULTS) results = LOGIC_MAX_RESULTS;
  copy_begin(&c, L, H, load, LOGIC_OUT_BYTES);
  lua_pushboolean(H, 1);
  for (i = 0; i < results; i++) {
    if (lua_isnone(L, first + i)) {
      lua_pushnil(H);
      continue;
    }
    r = copy_value(&c, first + i);
    if (r != COPY_OK) {
      char place[32];
      snprintf(place, sizeof place, "result %d", i + 1);
      if (load) push_copy_error(&c, "the flow file returned", NULL, "can be flow data");
      else push_copy_error(&c, "custom logic returned", place, "leave custom logic");
      lua_replace(H, top + 1);
      lua_settop(H, top + 1);
      lua_pushboolean(H, 0);
      lua_insert(H, top + 1);
      return 2;
    }
  }
  if (load) push_unit(H, L, 2);
  lua_remove(H, c.memo);
  return lua_gettop(H) - top;
}

/* runs the job in a fresh logic state; pushes on the host what the mode returns */
static int run_job(lua_State *H, struct lrv_logic *g) {
  int top = lua_gettop(H), status, n;
  lua_State *L;
  g->slab = (unsigned char *)malloc(LOGIC_SLAB);     /* the state works without one too */
  g->slab_used = 0;
  L = g->L = lua_newstate(logic_alloc, g);
  if (!L) {
    close_state(g);
    if (g->mode == MODE_COMPILE) lua_pushnil(H);
    else lua_pushboolean(H, 0);
    lua_pushfstring(H, "memory budget exceeded (%I bytes)", (LUAI_UACINT)g->cap);
    return 2;
  }
  lua_setwarnf(L, NULL, NULL);        /* a finalizer's error is a warning: nobody hears it */
  lua_pushcfunction(L, logic_main);
  lua_pushlightuserdata(L, g);
  status = lua_pcall(L, 1, LUA_MULTRET, 0);
  lua_settop(H, top);                 /* what copying in left on the host's stack */
  if (status != LUA_OK || g->spent || !lua_toboolean(L, 1)) {
    if (g->mode == MODE_COMPILE) lua_pushnil(H);
    else lua_pushboolean(H, 0);
    push_failure(H, g, status);
    n = 2;
  } else if (g->mode == MODE_COMPILE) {
    push_unit(H, L, 2);
    n = 1;
  } else {
    n = push_results(H, g, top);
  }
  close_state(g);
  return n;
}

/* ---- the functions ------------------------------------------------------------------------ */

/* logic_run(code, name, limits [, path [, arg [, line]]]) */
static int l_logic_run(lua_State *L) {
  struct lrv_logic *g;
  int has_path = !lua_isnoneornil(L, 4), has_line = !lua_isnoneornil(L, 6);
  if (lua_type(L, 1) != LUA_TSTRING) luaL_checkudata(L, 1, LRV_LOGIC_UNIT);
  luaL_checkstring(L, 2);
  if (has_path) luaL_checktype(L, 4, LUA_TTABLE);
  if (has_line) luaL_checkinteger(L, 6);
  lua_settop(L, 6);
  g = new_job(L, 3, MODE_RUN, 1);
  g->path = has_path ? 4 : 0;
  g->arg = 5;
  g->line = has_line && has_path ? 6 : 0;
  return run_job(L, g);
}

/* logic_load(text, name, limits) */
static int l_logic_load(lua_State *L) {
  luaL_checkstring(L, 1);
  luaL_checkstring(L, 2);
  lua_settop(L, 3);
  return run_job(L, new_job(L, 3, MODE_LOAD, 1));
}

/* logic_compile(text, name, limits) */
static int l_logic_compile(lua_State *L) {
  luaL_checkstring(L, 1);
  luaL_checkstring(L, 2);
  lua_settop(L, 3);
  return run_job(L, new_job(L, 3, MODE_COMPILE, 1));
}

void lrv_open_logic(lua_State *L) {
  static const luaL_Reg box_meta[] = { { "__gc", box_gc }, { NULL, NULL } };
  static const luaL_Reg unit_meta[] = { { NULL, NULL } };
  static const luaL_Reg funcs[] = {
    { "logic_run", l_logic_run }, { "logic_load", l_logic_load },
    { "logic_compile", l_logic_compile }, { NULL, NULL }
  };
  static const struct { const char *name; lua_Integer value; } limits[] = {
    { "copy_depth", LOGIC_COPY_DEPTH }, { "out_bytes", LOGIC_OUT_BYTES },
    { "entry_bytes", LOGIC_ENTRY_BYTES }, { "max_results", LOGIC_MAX_RESULTS },
    { "error_bytes", LOGIC_ERROR_BYTES }, { "hook_every", LOGIC_HOOK_EVERY },
    { "bytes_per_unit", LOGIC_BYTES_PER_UNIT }, { "pattern_choices", PAT_MAXCHOICES },
    { "pattern_captures", PAT_MAXCAPTURES }, { "hash_nodes", LOGIC_HASH_NODES }, { NULL, 0 }
  };
  int i;
  lrv_class(L, LRV_LOGIC_BOX, box_meta, NULL);
  lrv_class(L, LRV_LOGIC_UNIT, unit_meta, NULL);
  luaL_setfuncs(L, funcs, 0);
  lua_newtable(L);                    /* the constants, for tests and documentation */
  for (i = 0; limits[i].name; i++) {
    lua_pushinteger(L, limits[i].value);
    lua_setfield(L, -2, limits[i].name);
  }
  lua_setfield(L, -2, "logic_limits");
}
