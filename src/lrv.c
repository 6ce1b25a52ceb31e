/*
** luaopen_rivulet_core: the C module behind `require "rivulet"`. Small primitives only; the
** friendly API is the modules in lua/rivulet/ (STYLE.md habit 12).
*/
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lrv.h"

const char lrv_array_mts_key = 'a';
#include "version.h"

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

/* pid() -> this process's id (the store names who runs an execution) */
static int l_pid(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)getpid());
  return 1;
}

/* a zombie (killed, not yet reaped: common under a container's init) is not running */
static int is_zombie(pid_t pid) {
  char path[64], buf[512];
  const char *p;
  size_t n;
  FILE *f;
  snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
  f = fopen(path, "r");
  if (!f) return 0;                  /* no /proc here: trust kill() */
  n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  p = strrchr(buf, ')');             /* the state follows the command name, which may hold ')' */
  return p && (p[1] == ' ') && (p[2] == 'Z' || p[2] == 'X');
}

/* process_alive(pid) -> whether a process with that id runs on this machine */
static int l_process_alive(lua_State *L) {
  lua_Integer pid = luaL_checkinteger(L, 1);
  if (pid <= 0 || (lua_Integer)(pid_t)pid != pid) { lua_pushboolean(L, 0); return 1; }
  lua_pushboolean(L, (kill((pid_t)pid, 0) == 0 || errno == EPERM) && !is_zombie((pid_t)pid));
  return 1;
}

/* hostname() -> this machine's name (with pid(): who runs an execution) */
static int l_hostname(lua_State *L) {
  char name[256];
  if (gethostname(name, sizeof name - 1) != 0) name[0] = '\0';
  name[sizeof name - 1] = '\0';
  lua_pushstring(L, name);
  return 1;
}

/* isatty(fd) -> whether the descriptor (0, 1, 2) is a terminal: asking costs no shell */
static int l_isatty(lua_State *L) {
  lua_Integer fd = luaL_checkinteger(L, 1);
  luaL_argcheck(L, fd >= 0 && fd <= 2, 1, "fd must be 0, 1 or 2");
  lua_pushboolean(L, isatty((int)fd));
  return 1;
}

void lrv_class(lua_State *L, const char *name, const luaL_Reg *meta, const luaL_Reg *methods) {
  if (luaL_newmetatable(L, name)) {
    luaL_setfuncs(L, meta, 0);
    if (methods) {
      lua_newtable(L);
      luaL_setfuncs(L, methods, 0);
      lua_setfield(L, -2, "__index");
    }
  }
  lua_pop(L, 1);
}

int luaopen_rivulet_core(lua_State *L) {
  static const luaL_Reg funcs[] = {
    { "now", l_now }, { "monotonic", l_monotonic }, { "sleep", l_sleep }, { "pid", l_pid },
    { "process_alive", l_process_alive }, { "hostname", l_hostname }, { "isatty", l_isatty }, { NULL, NULL }
  };
  luaL_newlib(L, funcs);
  lua_pushliteral(L, RIVULET_VERSION);
  lua_setfield(L, -2, "_VERSION");
  lrv_open_liquid(L);
  lrv_open_http(L);
  lrv_open_sign(L);
  lrv_open_signal(L);
  lrv_open_regex(L);
  lrv_open_logic(L);
  lrv_open_sqlite(L);
  lrv_open_pg(L);
  lrv_open_json(L);
  lrv_open_step(L);
  lrv_open_server(L);
  return 1;
}
