/* Logic states (lrv_logic.c) and the libraries custom logic sees in them (lrv_logic_lib.c):
** what the two share. */
#ifndef RIVULET_LRV_LOGIC_H
#define RIVULET_LRV_LOGIC_H

#include <stddef.h>

#include <lua.h>

#include "pattern.h"

/* Work done in C costs instructions too: one per this many bytes allocated, compared or
** scanned (the VM runs one instruction in about the time memcpy moves 16 bytes). */
#define LOGIC_BYTES_PER_UNIT 16
#define LOGIC_UNITS(bytes) ((size_t)(bytes) / LOGIC_BYTES_PER_UNIT + 1)

struct lrv_logic;

/* the budget of the logic state L belongs to, or NULL when L is not a logic state (then
** nothing is counted: these functions are only reachable from custom logic) */
struct lrv_logic *lrv_logic_of(lua_State *L);

/* counts units of work; nonzero when the budget is spent (the instruction hook then raises
** before the next instruction, however often pcall catches it) */
int lrv_logic_spend(struct lrv_logic *g, size_t units);

/* counts units of work done by a library function of L, and raises the budget's error when
** it is spent */
void lrv_logic_charge(lua_State *L, size_t units);

/* the class sets patterns compiled in g's state share */
pat_classes *lrv_logic_classes(struct lrv_logic *g);

/* raises the error of g's spent budget */
int lrv_logic_raise(lua_State *L, struct lrv_logic *g);

/* lrv_logic_lib.c: pushes the environment of custom logic: the allow-listed functions, the
** budget-aware library functions, read-only library tables; sets the string metatable */
void lrv_logic_env(lua_State *L);

#endif
