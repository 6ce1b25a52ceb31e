/*
** The one setup of a Lua state for rivulet's hosts (see host.h): the state and its memory
** budget, the libraries, rivulet.core preloaded, the modules' path, and the protected call
** every entry from C into Lua goes through.
*/
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#include "host.h"
#include "lrv.h"

#define LUA_VDIR LUA_VERSION_MAJOR "." LUA_VERSION_MINOR

#ifndef RIVULET_LUADIR
#define RIVULET_LUADIR "/usr/local/share/lua/" LUA_VDIR
#endif

/* Longest path of the executable we look at (PATH_MAX is not C99). */
#define EXE_PATH_MAX 4096


/* ---------------------------------------------------------------- the state */

/* The allocator with the budget: growth past the limit fails (Lua then collects and tries
** once more before it raises "not enough memory"); shrinking and freeing always succeed. */
static void *budget_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  rv_budget *b = (rv_budget *)ud;
  if (ptr == NULL) osize = 0;        /* without ptr, osize is a type tag, not a size */
  if (nsize == 0) {
    free(ptr);
    b->used -= osize;
    return NULL;
  }
  if (b->limit && nsize > osize
      && (nsize - osize > b->limit || b->used > b->limit - (nsize - osize)))
    return NULL;
  ptr = realloc(ptr, nsize);
  if (ptr) b->used = b->used - osize + nsize;
  return ptr;
}

lua_State *rv_host_newstate(rv_budget *budget) {
  lua_State *L = luaL_newstate();    /* its panic and warning functions; realloc and free */
  if (L && budget) {
    /* what the state holds so far, exactly: Lua counts every block it allocated */
    budget->used = (size_t)lua_gc(L, LUA_GCCOUNT) * 1024 + (size_t)lua_gc(L, LUA_GCCOUNTB);
    lua_setallocf(L, budget_alloc, budget);   /* same realloc and free underneath */
  }
  return L;
}


/* ---------------------------------------------------------------- protected calls */

const char *rv_host_errtext(lua_State *L, int idx) {
  const char *msg = lua_tostring(L, idx);
  if (msg == NULL)
    msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, idx));
  return msg;
}

/* Message handler: adds a traceback; an error object that is not a string is shown by its
** __tostring, or described. */
static int msghandler(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
      return 1;
    msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

int rv_host_pcall(lua_State *L, int nargs, int nres) {
  int base = lua_gettop(L) - nargs, status;
  lua_pushcfunction(L, msghandler);
  lua_insert(L, base);
  status = lua_pcall(L, nargs, nres, base);
  lua_remove(L, base);
  return status;
}


/* ---------------------------------------------------------------- the modules' path */

/* package[field] = s .. ";" .. package[field], package at stack index pkg. */
static void prepend_path(lua_State *L, int pkg, const char *field, const char *s) {
  lua_getfield(L, pkg, field);
  lua_pushfstring(L, "%s;%s", s, lua_tostring(L, -1));
  lua_setfield(L, pkg, field);
  lua_pop(L, 1);
}

/* Pushes the directory depth levels above the one holding this executable, or returns 0. */
static int push_prefix(lua_State *L, const char *argv0, int depth) {
  char buf[EXE_PATH_MAX];
  char *slash;
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  int i;
  if (n > 0)
    buf[n] = '\0';
  else {
    char *real;
    if (argv0 == NULL || strchr(argv0, '/') == NULL || (real = realpath(argv0, NULL)) == NULL)
      return 0;
    n = (ssize_t)strlen(real);
    if ((size_t)n >= sizeof buf) {
      free(real);
      return 0;
    }
    memcpy(buf, real, (size_t)n + 1);
    free(real);
  }
  for (i = 0; i <= depth; i++) {     /* the executable's directory, then its parents */
    if ((slash = strrchr(buf, '/')) == NULL)
      return 0;
    *slash = '\0';
  }
  lua_pushstring(L, buf);
  return 1;
}

/* Does the directory on top of the stack hold rivulet/init.lua? Leaves the stack as it was. */
static int has_rivulet(lua_State *L) {
  int ok = access(lua_pushfstring(L, "%s/rivulet/init.lua", lua_tostring(L, -1)), R_OK) == 0;
  lua_pop(L, 1);
  return ok;
}

/* The directory of the modules near the executable (pushed), or NULL (nothing pushed). */
static const char *near_executable(lua_State *L, int pkg, const rv_host_opts *o) {
  const char *prefix;
  if (o->exe_depth <= 0 || !push_prefix(L, o->argv0, o->exe_depth))
    return NULL;
  prefix = lua_tostring(L, -1);
  lua_pushfstring(L, "%s/lua", prefix);                    /* a checkout */
  if (has_rivulet(L))
    return lua_tostring(L, -1);
  lua_pushfstring(L, "%s/share/lua/" LUA_VDIR, prefix);    /* an install or a LuaRocks tree */
  if (has_rivulet(L)) {                                    /* its C modules come first too */
    prepend_path(L, pkg, "cpath", lua_pushfstring(L, "%s/lib/lua/" LUA_VDIR "/?.so", prefix));
    lua_pop(L, 1);
    return lua_tostring(L, -1);
  }
  lua_pop(L, 3);
  return NULL;
}

/* ---------------------------------------------------------------- precompiled modules */

/* Feeds lua_load the chunk with its name replaced by the source file's: the dump up to the
** name, the new name's length (lua_dump's encoding), the name, the rest of the dump. */
typedef struct chunk_reader {
  const rv_embedded_module *m;
  const char *name;
  size_t name_len, len_bytes;
  unsigned char len[sizeof(size_t) * 8 / 7 + 1];
  int part;
} chunk_reader;

static const char *read_chunk(lua_State *L, void *ud, size_t *size) {
  chunk_reader *r = (chunk_reader *)ud;
  size_t rest = r->m->name_at + r->m->name_len;
  (void)L;
  switch (r->part++) {
    case 0: *size = r->m->name_at; return (const char *)r->m->code;
    case 1: *size = r->len_bytes; return (const char *)r->len;
    case 2: *size = r->name_len; return r->name;
    case 3: *size = r->m->code_len - rest; return (const char *)r->m->code + rest;
    default: *size = 0; return NULL;
  }
}

/* the string's length + 1 in 7-bit groups, most significant first, the last one marked */
static void encode_len(chunk_reader *r) {
  unsigned char tmp[sizeof r->len];
  size_t x = r->name_len + 1, n = 0, i;
  do { tmp[n++] = (unsigned char)(x & 0x7f); x >>= 7; } while (x != 0);
  tmp[0] |= 0x80;
  for (i = 0; i < n; i++) r->len[i] = tmp[n - 1 - i];
  r->len_bytes = n;
}

/* nanoseconds: a module edited in the second it was compiled still counts as edited */
static long long mtime_ns(const struct stat *st) {
  return (long long)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

/* package.searchers entry (upvalue: the modules' directory): the precompiled chunk of a
** module of the host's own, named after its source file, when that file is absent or is
** the one it was compiled from; nothing otherwise, and the text loader looks. */
static int embedded_searcher(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  const rv_embedded_module *m;
  chunk_reader r;
  struct stat st;
  const char *path;
  for (m = rv_embedded_modules; m->name != NULL; m++)
    if (strcmp(m->name, name) == 0) break;
  if (m->name == NULL)
    return 0;
  path = lua_pushfstring(L, "%s/%s", lua_tostring(L, lua_upvalueindex(1)), m->file);
  if (stat(path, &st) == 0 && ((long long)st.st_size != m->size || mtime_ns(&st) != m->mtime))
    return 0;                          /* edited since the build: the text loader loads it */
  r.name = lua_pushfstring(L, "@%s", path);
  r.name_len = strlen(r.name);
  r.m = m;
  r.part = 0;
  encode_len(&r);
  if (lua_load(L, read_chunk, &r, r.name, "b") != LUA_OK)
    return 1;                          /* the message: require goes on to the text loader */
  lua_pushvalue(L, -3);                /* the file name, the loader's second argument */
  return 2;
}

/* package.searchers[2] = the searcher above; preload stays first, the text loader next. */
static void add_embedded_searcher(lua_State *L, int pkg, const char *dir) {
  lua_Integer i;
  lua_getfield(L, pkg, "searchers");
  for (i = (lua_Integer)luaL_len(L, -1); i >= 2; i--) {
    lua_geti(L, -1, i);
    lua_seti(L, -2, i + 1);
  }
  lua_pushstring(L, dir);
  lua_pushcclosure(L, embedded_searcher, 1);
  lua_seti(L, -2, 2);
  lua_pop(L, 1);
}

static void set_path(lua_State *L, const rv_host_opts *o) {
  const char *where = o->lua_path;
  int pkg;
  lua_getglobal(L, "package");
  pkg = lua_gettop(L);
  if (where == NULL || where[0] == '\0')
    where = getenv("RIVULET_LUA_PATH");
  if (where == NULL || where[0] == '\0') {
    /* the modules beside the host: its own, so their precompiled chunks may stand in */
    where = near_executable(L, pkg, o);
    if (where == NULL)
      where = RIVULET_LUADIR;
    add_embedded_searcher(L, pkg, where);
  }
  if (strchr(where, '?') == NULL)    /* a directory */
    where = lua_pushfstring(L, "%s/?.lua;%s/?/init.lua", where, where);
  prepend_path(L, pkg, "path", where);
  lua_settop(L, pkg - 1);
}


/* ---------------------------------------------------------------- setup */

static int setup(lua_State *L) {
  const rv_host_opts *o = (const rv_host_opts *)lua_touserdata(L, 1);
  lua_settop(L, 0);
  luaL_checkversion(L);
  lua_gc(L, LUA_GCSTOP);             /* no collections while building the state */
  luaL_openlibs(L);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, luaopen_rivulet_core);
  lua_setfield(L, -2, "rivulet.core");
  lua_pop(L, 1);
  set_path(L, o);
  lua_gc(L, LUA_GCRESTART);
  lua_gc(L, LUA_GCGEN, 0, 0);
  return 0;
}

int rv_host_setup(lua_State *L, const rv_host_opts *opts) {
  rv_host_opts o = { NULL, NULL, 0 };
  if (opts) o = *opts;
  lua_pushcfunction(L, setup);
  lua_pushlightuserdata(L, &o);
  return rv_host_pcall(L, 1, 0);
}
