/*
** rivulet.core's signals, for a long-running loop (rivulet serve): trap_signals() makes
** SIGTERM and SIGINT set a flag instead of ending the process, and interrupts whatever
** waits (poll returns EINTR: no SA_RESTART); signaled() reads the flag. Signals belong to
** the process, so the flag is one static, set once.
*/
#include <signal.h>
#include <string.h>

#include "lrv.h"

static volatile sig_atomic_t caught;

static void on_signal(int sig) {
  caught = sig;
}

/* trap_signals(): from now on SIGTERM and SIGINT are caught (see signaled) */
static int l_trap_signals(lua_State *L) {
  struct sigaction sa;
  (void)L;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;                  /* no SA_RESTART: a wait returns at once */
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  return 0;
}

/* signaled() -> "TERM" | "INT" (once caught; it stays caught) | nil */
static int l_signaled(lua_State *L) {
  int sig = caught;
  if (sig == SIGTERM) lua_pushliteral(L, "TERM");
  else if (sig == SIGINT) lua_pushliteral(L, "INT");
  else return 0;
  return 1;
}

void lrv_open_signal(lua_State *L) {
  static const luaL_Reg funcs[] = {
    { "trap_signals", l_trap_signals }, { "signaled", l_signaled }, { NULL, NULL }
  };
  luaL_setfuncs(L, funcs, 0);
}
