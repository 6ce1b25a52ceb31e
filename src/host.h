/*
** host.h: the one setup of a Lua state that runs rivulet, shared by the `rivulet` program
** (main.c), the C API (rivulet.c) and the fuzz targets (spec/fuzz). Private: not installed,
** and not in the Lua module core.so (a module never builds a state: the interpreter that
** loads it did), so it goes into librivulet and the host only.
**
**   rv_budget mem = { 0, limit };
**   lua_State *L = rv_host_newstate(&mem);        (NULL: out of memory)
**   rv_host_opts o = { path, argv0, 0 };
**   if (rv_host_setup(L, &o) != LUA_OK) ...      (the message is on top of the stack)
**   push a function and its arguments; status = rv_host_pcall(L, nargs, nres);
*/
#ifndef RIVULET_HOST_H
#define RIVULET_HOST_H

#include <stddef.h>

#include <lua.h>

/* A memory budget: the bytes the state holds, and the most it may hold (0: no limit). An
** allocation past the limit fails, and Lua raises its ordinary memory error. */
typedef struct rv_budget {
  size_t used, limit;
} rv_budget;

typedef struct rv_host_opts {
  const char *lua_path;  /* where the rivulet Lua modules are: a Lua path (holding '?') or a
                            directory; NULL: $RIVULET_LUA_PATH (the same two forms), then the
                            executable's prefix (exe_depth), then RIVULET_LUADIR (the Makefile's) */
  const char *argv0;     /* finds the executable where /proc/self/exe does not */
  int exe_depth;         /* > 0: the prefix is that many directories above the executable's
                            own; its lua/ (a checkout) or share/lua/5.4 (an install, whose C
                            modules in lib/lua/5.4 then come first too) is used when it holds
                            rivulet/init.lua. 0: do not look (a library does not know where
                            its modules are from the program that links it) */
} rv_host_opts;

/* One of the host's own Lua modules, compiled at build time (scripts/embed_lua.c writes the
** table, rv_embedded_modules, ended by a row of NULLs). The chunk is used only while the
** source file beside the host (file under the modules' directory) is absent or still has
** the size and mtime it was compiled from; otherwise the text loader loads the file. */
typedef struct rv_embedded_module {
  const char *name;           /* "rivulet.engine" */
  const char *file;           /* "rivulet/engine.lua", under the modules' directory */
  const unsigned char *code;  /* lua_dump's output, debug information kept */
  size_t code_len;
  size_t name_at, name_len;   /* where the dump holds its chunk name (replaced at load) */
  long long size, mtime;      /* the source file's, when compiled (mtime in ns) */
} rv_embedded_module;

extern const rv_embedded_module rv_embedded_modules[];

/* A new state: luaL_newstate's panic and warning functions; with a budget, every
** allocation from then on goes through it (budget->used starts at what the state holds).
** NULL when even that cannot be allocated. */
lua_State *rv_host_newstate(rv_budget *budget);

/* In protected mode, as lua.c's pmain does: the standard libraries, rivulet.core (linked
** in) in package.preload, the modules' directory in front of package.path (and, unless the
** caller or $RIVULET_LUA_PATH named the modules, a searcher of the precompiled ones before
** the text loader), the generational collector. Returns a LUA_* status; on an error its message is on top of the stack. */
int rv_host_setup(lua_State *L, const rv_host_opts *opts);

/* Every call from C into Lua goes through here (STYLE.md habit 8): calls the function below
** its nargs arguments under a message handler that adds a traceback (and describes error
** objects that are not strings), and returns lua_pcall's status with the results, or the
** error message, on top. */
int rv_host_pcall(lua_State *L, int nargs, int nres);

/* The error object at idx as text; for one that is not a string, a description of it is
** pushed and returned. Never NULL. */
const char *rv_host_errtext(lua_State *L, int idx);

#endif
