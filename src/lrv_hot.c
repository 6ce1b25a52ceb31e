/*
** The step loop's hot path (issue #17 item 2): consecutive Set Variables and Split Based On
** steps of one execution run here, in C, instead of through Engine:enter -> run_widget ->
** the widget -> Engine:render -> Engine:settle -> Engine:transition for each.
**
**   hot_steps(engine, exec, name, plans) -> name, bailed
**
** plans[state] is the state's plan (lua/rivulet/hot.lua builds it once per state, and says
** what it holds). Starting at state `name`, each step whose state has a plan runs here with
** the same effects as the Lua path: the variables (a new table per Set Variables), the
** widget's outputs, exec.state/last_state/repeats, the step record (a SID from core.sid's
** source, date_created from engine.now), the store's write (engine:persist) and on_step
** (engine:tell), both called back in Lua. It returns the name of the first state it did not
** run; bailed is true when that state has a plan but something was unusual (a limit about
** to be hit, a render error, an ending, a field of an unexpected shape): nothing of that
** step was changed, and the engine's Lua runs it as it runs every other step. name nil:
** the store refused a write (the execution is detached), as Engine:transition returns.
*/
#include <math.h>

#include "lrv.h"

/* the arguments, then what every step reads (load) */
enum { ENGINE = 1, EXEC, NAME, PLANS, CTX, FLOWT, WIDGETS, STEPS, BYNAME, NOWFN, PREPARED, BASE = PREPARED };
/* each step's slots, then its work */
enum { STATE = BASE + 1, PLAN, SNAME, NEXT, OLDVARS, VARS, OUT, WORK };

enum { SET_VARIABLES = 1, SPLIT = 2 };

typedef struct hot {
  lua_Number max_steps, same_widget;
  int store, on_step, opts_now;
  int64_t out_max;              /* the renders' output_bytes (<= 0: none; -1: unknown) */
} hot;

/* the strings the hot path reads and writes, made once, each an upvalue of its own
** (KEYS[i] at upvalue 3 + i): a lua_pushstring or lua_setfield hashes its key at every call,
** and an upvalue is read without the table lookup a list of them costs (~30 a step) */
static const char *const KEYS[] = {
  "context", "flow", "widgets", "steps", "by_name", "now",
  "render_prepared", "limits", "same_widget", "store", "opts", "on_step",
  "variables", "status", "active", "name", "rerun", "http_request",
  "last_state", "repeats", "state", "type", "sid", "transitioned_from",
  "transitioned_to", "date_created", "widget", "outputs", "match", "noMatch",
  "next", "replay_now", NULL
};
enum {
  K_CONTEXT, K_FLOW, K_WIDGETS, K_STEPS, K_BY_NAME, K_NOW,
  K_RENDER_PREPARED, K_LIMITS, K_SAME_WIDGET, K_STORE, K_OPTS, K_ON_STEP,
  K_VARIABLES, K_STATUS, K_ACTIVE, K_NAME, K_RERUN, K_HTTP_REQUEST,
  K_LAST_STATE, K_REPEATS, K_STATE, K_TYPE, K_SID, K_TRANSITIONED_FROM,
  K_TRANSITIONED_TO, K_DATE_CREATED, K_WIDGET, K_OUTPUTS, K_MATCH, K_NOMATCH,
  K_NEXT, K_REPLAY_NOW
};

#define RENDER_FN lua_upvalueindex(2)
#define KEY_FIRST 3
#define NKEYS (K_REPLAY_NOW + 1)
typedef char keys_match_names[(sizeof KEYS / sizeof *KEYS - 1 == NKEYS) ? 1 : -1];

static void push_key(lua_State *L, int k) {
  lua_pushvalue(L, lua_upvalueindex(KEY_FIRST + k));
}

/* t[k] = the value on top (popped), t below it */
static void set(lua_State *L, int k) {
  push_key(L, k);
  lua_insert(L, -2);
  lua_rawset(L, -3);
}

/* pushes t[k] (raw: the Lua path reads these plain tables the same way) -> its type */
static int field(lua_State *L, int t, int k) {
  t = lua_absindex(L, t);
  push_key(L, k);
  return lua_rawget(L, t);
}

/* a number field of table t -> 1, or 0 (not a number) */
static int number_field(lua_State *L, int t, int k, lua_Number *out) {
  int ok;
  field(L, t, k);
  *out = lua_tonumberx(L, -1, &ok);
  lua_pop(L, 1);
  return ok;
}

/* a table field of table t into the next slot -> 1, or 0 (not a table) */
static int table_field(lua_State *L, int t, int k) {
  return field(L, t, k) == LUA_TTABLE;
}

/* what every step reads, at CTX..PREPARED (again after each call back into Lua: a
** callback may change the engine or the execution) -> 0 when something is not as the
** hot path expects */
static int load(lua_State *L, hot *h) {
  int t;
  lua_settop(L, PLANS);
  if (lua_getmetatable(L, EXEC)) return 0;            /* packed (rivulet.packed) */
  if (!table_field(L, EXEC, K_CONTEXT)) return 0;     /* CTX */
  if (!table_field(L, CTX, K_FLOW)) return 0;         /* FLOWT */
  if (!table_field(L, CTX, K_WIDGETS)) return 0;      /* WIDGETS */
  if (!table_field(L, EXEC, K_STEPS)) return 0;       /* STEPS */
  if (!table_field(L, EXEC, K_FLOW)) return 0;
  t = field(L, -1, K_BY_NAME);
  lua_remove(L, -2);                                  /* BYNAME */
  if (t != LUA_TTABLE) return 0;
  if (field(L, ENGINE, K_NOW) == LUA_TNIL) return 0;  /* NOWFN */
  field(L, ENGINE, K_RENDER_PREPARED);                /* PREPARED */
  if (field(L, ENGINE, K_LIMITS) != LUA_TTABLE) return 0;
  if (!number_field(L, -1, K_STEPS, &h->max_steps) || !number_field(L, -1, K_SAME_WIDGET, &h->same_widget))
    return 0;
  lua_pop(L, 1);
  h->store = field(L, ENGINE, K_STORE) != LUA_TNIL && lua_toboolean(L, -1);
  lua_pop(L, 1);
  if (field(L, ENGINE, K_OPTS) != LUA_TTABLE) return 0;
  h->on_step = field(L, -1, K_ON_STEP) != LUA_TNIL && lua_toboolean(L, -1);
  h->opts_now = field(L, -2, K_NOW) != LUA_TNIL && lua_toboolean(L, -1);
  lua_pop(L, 3);
  h->out_max = lrv_liquid_output_limit(L, RENDER_FN, PREPARED);
  return lua_gettop(L) == PREPARED;
}

/* the first state not run here: its name, and whether it was a bail */
static int stop(lua_State *L, int bailed) {
  lua_pushvalue(L, NAME);
  lua_pushboolean(L, bailed);
  return 2;
}

/* Engine:render of the template at tpl against the context: pushes the text -> 1, or
** pushes nothing -> 0 (a render error, or a clock that fails: the Lua path says which).
** As Engine:render, the engine's clock is read for Liquid's "now" only when opts.now is set.
** The render goes through lrv_liquid_render, protected as the method's pcall was; what it
** does not take (a state named by a number, say) goes back to the Lua path. */
static int render(lua_State *L, const hot *h, int tpl) {
  lua_Number now = 0;
  const char *name;
  int rc;
  if (lua_type(L, SNAME) != LUA_TSTRING) return 0;     /* a name of another kind: the Lua path's */
  if (h->opts_now) {
    int ok;
    lua_pushvalue(L, NOWFN);
    if (lua_pcall(L, 0, 1, 0) != LUA_OK) { lua_pop(L, 1); return 0; }
    /* each reading is kept for the Lua path, which renders the same texts again when the
    ** step goes back to it (Engine:render takes them first): a counting clock reads the
    ** same either way */
    if (field(L, ENGINE, K_REPLAY_NOW) != LUA_TTABLE) {
      lua_pop(L, 1);
      lua_createtable(L, 2, 0);
      push_key(L, K_REPLAY_NOW);
      lua_pushvalue(L, -2);
      lua_rawset(L, ENGINE);
    }
    lua_pushvalue(L, -2);
    lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
    lua_pop(L, 1);
    now = lua_tonumberx(L, -1, &ok);
    lua_pop(L, 1);
    if (!ok) return 0;
    now = floor(now);
  }
  name = lua_tostring(L, SNAME);
  rc = lrv_liquid_render(L, RENDER_FN, tpl, CTX, PREPARED, name, h->opts_now, now);
  if (rc == 0) lua_pop(L, 1);
  return rc > 0;
}

/* A plan's {{ a.b.c }} (rivulet.hot's path: its Template, then the keys): the value the
** renderer would print, found by the lookups it makes (raw, from the context, through
** tables that are not arrays), when it is text or an integer within the output limit.
** Pushes the text -> 1; else pushes nothing -> 0, and the Template renders it. Not under a
** clock the Lua path reads at each render (opts.now). */
static int lookup(lua_State *L, const hot *h, int path) {
  lua_Integer i, n = (lua_Integer)lua_rawlen(L, path);
  int top = lua_gettop(L);
  size_t len;
  if (h->opts_now || h->out_max < 0) return 0;
  lua_pushvalue(L, CTX);
  for (i = 2; i <= n; i++) {
    /* the context is a hash; what is in it may be text, an array (by its items or its
    ** metatable) or a table of its own kind */
    if (i > 2 && (lua_type(L, -1) != LUA_TTABLE || lua_rawlen(L, -1) > 0 || lua_getmetatable(L, -1))) {
      lua_settop(L, top);
      return 0;
    }
    lua_rawgeti(L, path, i);
    lua_rawget(L, -2);
    lua_remove(L, -2);
  }
  if (lua_type(L, -1) == LUA_TNUMBER && lua_isinteger(L, -1)) {
    /* in decimal, as the renderer prints it (digits from the end: lua_pushfstring's
    ** formatting was a quarter of a lookup) */
    char buf[24], *p = buf + sizeof buf;
    lua_Integer v = lua_tointeger(L, -1);
    lua_Unsigned u = v < 0 ? (lua_Unsigned)0 - (lua_Unsigned)v : (lua_Unsigned)v;
    do *--p = (char)('0' + u % 10); while ((u /= 10) != 0);
    if (v < 0) *--p = '-';
    lua_pop(L, 1);
    lua_pushlstring(L, p, (size_t)(buf + sizeof buf - p));
  } else if (lua_type(L, -1) != LUA_TSTRING) {
    lua_pop(L, 1);                              /* nil, a float, a table...: the renderer's */
    return 0;
  }
  lua_tolstring(L, -1, &len);
  if (h->out_max > 0 && (uint64_t)len > (uint64_t)h->out_max) {
    lua_pop(L, 1);
    return 0;                                   /* the render fails, as it must */
  }
  return 1;
}

/* a source in a plan (at idx): a Template renders, a path is looked up (or its Template
** renders), any other value is the text itself; pushes it -> 1, or 0 (nothing pushed) when
** it does not render */
static int text_of(lua_State *L, const hot *h, int idx) {
  int rc;
  idx = lua_absindex(L, idx);
  switch (lua_type(L, idx)) {
    case LUA_TUSERDATA: return render(L, h, idx);
    case LUA_TTABLE:
      if (lookup(L, h, idx)) return 1;
      lua_rawgeti(L, idx, 1);
      rc = render(L, h, lua_gettop(L));
      lua_remove(L, rc ? -2 : -1);
      return rc;
    default:
      lua_pushvalue(L, idx);
      return 1;
  }
}

/* Set Variables: a new variables table (old steps keep the old one), each pair rendered and
** cast in order, every render seeing the pairs before it -> 1, or 0 with everything as it was */
static int set_variables(lua_State *L, const hot *h) {
  lua_Integer i, n;
  if (field(L, FLOWT, K_VARIABLES) != LUA_TTABLE || lua_getmetatable(L, OLDVARS)) return 0;
  lua_rawgeti(L, PLAN, 4);                            /* the list's length, the widget's hint */
  n = lua_tointeger(L, -1);
  lua_pop(L, 1);
  lrv_new_vars_push(L, OLDVARS, n);                   /* VARS, OUT: as the widget makes them */
  push_key(L, K_VARIABLES);
  lua_pushvalue(L, VARS);
  lua_rawset(L, FLOWT);
  lua_rawgeti(L, PLAN, 3);                            /* WORK: key, source, key, source... */
  n = (lua_Integer)lua_rawlen(L, WORK);
  for (i = 1; i < n; i += 2) {
    lua_rawgeti(L, WORK, i);                          /* WORK + 1: key */
    lua_rawgeti(L, WORK, i + 1);                      /* WORK + 2: source */
    if (lua_type(L, -1) == LUA_TUSERDATA || lua_type(L, -1) == LUA_TTABLE) {
      if (!text_of(L, h, WORK + 2)) {
        push_key(L, K_VARIABLES);
        lua_pushvalue(L, OLDVARS);
        lua_rawset(L, FLOWT);
        return 0;
      }
      lrv_cast_push(L, -1);
    } else {
      lua_pushvalue(L, -1);                           /* cast once, in the plan */
    }
    lua_pushvalue(L, WORK + 1);
    lua_pushvalue(L, -2);
    lua_rawset(L, VARS);
    lua_pushvalue(L, WORK + 1);
    lua_pushvalue(L, -2);
    lua_rawset(L, OUT);
    lua_settop(L, WORK);
  }
  lua_settop(L, OUT);
  return 1;
}

/* Split Based On: the first match transition whose conditions all hold (in order, each
** value rendered only when its test is reached), else noMatch. Leaves NEXT and the event
** (at WORK) -> 1, or 0 with nothing changed */
static int split(lua_State *L, const hot *h) {
  lua_Integer i, n, j, m;
  const char *a;
  size_t an;
  lua_pushnil(L);                                     /* OLDVARS: unused */
  lua_pushnil(L);                                     /* VARS: unused */
  lua_newtable(L);                                    /* OUT: no outputs */
  lua_rawgeti(L, PLAN, 3);
  if (!text_of(L, h, -1)) return 0;
  lua_remove(L, -2);                                  /* WORK: the input, rendered */
  a = lua_tolstring(L, WORK, &an);
  lua_rawgeti(L, PLAN, 4);                            /* WORK + 1: the match transitions */
  n = (lua_Integer)lua_rawlen(L, WORK + 1);
  for (i = 1; i <= n; i++) {
    int all = 1;
    lua_rawgeti(L, WORK + 1, i);                      /* WORK + 2: {next, test, value, ...} */
    m = (lua_Integer)lua_rawlen(L, WORK + 2);
    for (j = 2; j < m && all; j += 2) {
      const char *v;
      size_t vn;
      int kind;
      lua_rawgeti(L, WORK + 2, j);
      kind = (int)lua_tointeger(L, -1);
      lua_pop(L, 1);
      lua_rawgeti(L, WORK + 2, j + 1);
      if (!text_of(L, h, lua_gettop(L))) return 0;
      v = lua_tolstring(L, -1, &vn);
      all = lrv_split_eval(L, kind, a, an, v, vn);
      lua_pop(L, 2);
    }
    if (all) {
      lua_rawgeti(L, WORK + 2, 1);
      lua_replace(L, NEXT);
      lua_settop(L, OUT);
      push_key(L, K_MATCH);
      return lua_type(L, NEXT) == LUA_TSTRING;       /* a branch that ends: Lua's */
    }
    lua_pop(L, 1);
  }
  lua_settop(L, OUT);
  push_key(L, K_NOMATCH);
  return lua_type(L, NEXT) == LUA_TSTRING;
}

/* hot_steps(engine, exec, name, plans) -> name, bailed (the file's comment says more) */
static int l_hot_steps(lua_State *L) {
  lrv_sid_source *src = (lrv_sid_source *)lua_touserdata(L, lua_upvalueindex(1));
  hot h;
  luaL_checktype(L, ENGINE, LUA_TTABLE);
  luaL_checktype(L, EXEC, LUA_TTABLE);
  luaL_checktype(L, PLANS, LUA_TTABLE);
  lua_settop(L, PLANS);
  if (!load(L, &h)) return stop(L, 1);
  for (;;) {
    lua_Integer nsteps, repeats = 1;
    int kind, ok, same;
    lua_settop(L, BASE);
    field(L, EXEC, K_STATUS);
    push_key(L, K_ACTIVE);
    if (!lua_rawequal(L, -1, -2)) return stop(L, 0);
    lua_pop(L, 2);
    lua_pushvalue(L, NAME);
    if (lua_rawget(L, BYNAME) != LUA_TTABLE) return stop(L, 0);       /* STATE */
    lua_pushvalue(L, STATE);
    if (lua_rawget(L, PLANS) != LUA_TTABLE) return stop(L, 0);        /* PLAN: none yet, or not hot */
    field(L, STATE, K_NAME);                                            /* SNAME */
    lua_rawgeti(L, PLAN, 2);                                            /* NEXT (Split: noMatch's) */
    /* the rare ones: a note for the step (a re-run), an HTTP call to record */
    if (field(L, EXEC, K_RERUN) != LUA_TNIL || field(L, EXEC, K_HTTP_REQUEST) != LUA_TNIL) return stop(L, 1);
    lua_settop(L, NEXT);
    /* Studio's limits: the Lua path ends the execution, saying which */
    nsteps = (lua_Integer)lua_rawlen(L, STEPS);
    if ((lua_Number)nsteps >= h.max_steps) return stop(L, 1);
    field(L, EXEC, K_LAST_STATE);
    same = lua_rawequal(L, -1, NAME);
    lua_pop(L, 1);
    if (same) {
      field(L, EXEC, K_REPEATS);
      if (!lua_isinteger(L, -1)) return stop(L, 1);
      repeats = lua_tointeger(L, -1) + 1;
      lua_pop(L, 1);
    }
    if ((lua_Number)repeats > h.same_widget) return stop(L, 1);
    lua_rawgeti(L, PLAN, 1);
    kind = (int)lua_tointeger(L, -1);
    lua_pop(L, 1);
    if (kind == SET_VARIABLES) {
      if (lua_type(L, NEXT) != LUA_TSTRING) return stop(L, 1);         /* it ends: Lua's */
      ok = set_variables(L, &h);
      push_key(L, K_NEXT);                                       /* WORK: the event */
    } else {
      lua_rawgeti(L, PLAN, 5);                  /* a branch ends: its renders would read the */
      ok = !(h.opts_now && lua_toboolean(L, -1));   /* clock the Lua path reads again */
      lua_pop(L, 1);
      ok = ok && split(L, &h);
    }
    if (!ok) return stop(L, 1);
    /* nothing bails from here: the step happens, and its clock readings were its own */
    if (h.opts_now) {
      push_key(L, K_REPLAY_NOW);
      lua_pushnil(L);
      lua_rawset(L, ENGINE);
    }
    if (!same) {
      push_key(L, K_LAST_STATE);
      lua_pushvalue(L, NAME);
      lua_rawset(L, EXEC);
    }
    push_key(L, K_REPEATS);
    lua_pushinteger(L, repeats);
    lua_rawset(L, EXEC);
    push_key(L, K_STATE);
    lua_pushvalue(L, NAME);
    lua_rawset(L, EXEC);
    lua_pushvalue(L, SNAME);
    lua_pushvalue(L, OUT);
    lua_rawset(L, WIDGETS);
    /* the step, its fields set in the order of Engine:transition's constructor */
    lua_createtable(L, 0, 7);                                           /* WORK + 1 */
    lrv_sid_push(L, src, "FT");
    set(L, K_SID);
    lua_pushvalue(L, WORK);
    set(L, K_NAME);
    field(L, STATE, K_TYPE);
    set(L, K_TYPE);
    lua_pushvalue(L, SNAME);
    set(L, K_TRANSITIONED_FROM);
    lua_pushvalue(L, NEXT);
    set(L, K_TRANSITIONED_TO);
    lua_pushvalue(L, NOWFN);
    lua_call(L, 0, 1);
    set(L, K_DATE_CREATED);
    lua_createtable(L, 0, 3);
    lua_pushvalue(L, SNAME);
    set(L, K_WIDGET);
    lua_pushvalue(L, OUT);
    set(L, K_OUTPUTS);
    field(L, FLOWT, K_VARIABLES);
    set(L, K_VARIABLES);
    set(L, K_CONTEXT);
    lua_pushvalue(L, -1);
    lua_rawseti(L, STEPS, nsteps + 1);
    if (h.store || h.on_step) {
      if (h.store) {
        lua_getfield(L, ENGINE, "persist");
        lua_pushvalue(L, ENGINE);
        lua_pushvalue(L, EXEC);
        lua_pushvalue(L, WORK + 1);
        lua_pushvalue(L, NEXT);
        lua_call(L, 4, 1);
        if (!lua_toboolean(L, -1)) { lua_pushnil(L); return 1; }   /* detached */
        lua_pop(L, 1);
      }
      if (h.on_step) {
        lua_getfield(L, ENGINE, "tell");
        lua_pushvalue(L, ENGINE);
        push_key(L, K_ON_STEP);
        lua_pushvalue(L, EXEC);
        lua_pushvalue(L, WORK + 1);
        lua_call(L, 4, 0);
      }
      lua_pushvalue(L, NEXT);
      lua_replace(L, NAME);
      if (!load(L, &h)) return stop(L, 0);       /* the loop's Lua looks at it again */
      continue;
    }
    lua_pushvalue(L, NEXT);
    lua_replace(L, NAME);
  }
}

void lrv_open_hot(lua_State *L, int sid_idx) {
  int i;
  lua_pushvalue(L, sid_idx);
  luaL_getmetatable(L, LRV_TEMPLATE);                 /* lrv_open_liquid ran before */
  lua_getfield(L, -1, "__index");
  lua_getfield(L, -1, "render");
  lua_replace(L, -3);
  lua_pop(L, 1);
  luaL_checkstack(L, NKEYS, "rivulet.core: hot_steps");
  for (i = 0; KEYS[i]; i++) lua_pushstring(L, KEYS[i]);
  lua_pushcclosure(L, l_hot_steps, KEY_FIRST - 1 + NKEYS);
  lua_setfield(L, sid_idx - 1, "hot_steps");
}
