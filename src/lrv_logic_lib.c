/* What custom logic sees (the state it runs in: lrv_logic.c). An allow list: assert, error,
** ipairs, next, pairs, pcall, print (silent), rawequal, rawget, rawlen, select,
** setmetatable, getmetatable, tonumber, tostring, type, xpcall, and the string, table,
** math, utf8 and os (time, date, clock) libraries, read-only. No io, require, load,
** collectgarbage, coroutine, debug, rawset; no string.dump, string.pack/unpack/packsize.
**
** Every library function that can work long in C without returning to the VM (where the
** instruction hook counts) is replaced here or charged up front for its work:
**   string.find/match/gmatch/gsub   pattern.c's matcher, counting its steps; a plain find
**                                   is memmem (linear) instead of Lua's quadratic search
**   string.rep                      "" at once for an empty string and separator (Lua loops
**                                   n times copying nothing); with upper, lower, reverse,
**                                   written here to build results in a userdata (see
**                                   scratch)
**   string.format, tonumber         their string arguments' length up front
**   table.insert/remove/move/concat/unpack/sort
**                                   written here: one unit per element moved, fetched or
**                                   compared, counted once the range is known (a __len
**                                   returning 2^62 runs out of budget at once); sort is a
**                                   heapsort whose comparisons are counted
**   utf8.len/codepoint              the range they scan, up front
**   utf8.offset/codes               written here, counting the bytes they step over
** What the rest do is bounded by the memory they allocate, and allocation is charged by the
** state's allocator (string.sub, char, byte, the math library, os.date). The libraries are
** opened when custom logic first reads them (push_library).
**
** xpcall runs its message handler after the error has unwound (see safe_xpcall).
**
** setmetatable takes a copy of the metatable when a table first gets it (later changes to
** the metatable itself are not seen; its __index tables are read as they are) and refuses
** __gc and __mode: finalizers run with hooks off, and weak tables can make one collection
** take quadratic time, both beyond the budget. getmetatable returns the original. */
#include <ctype.h>
#include <limits.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "lrv_logic.h"
#include "pattern.h"

/* ---- patterns ---------------------------------------------------------------------------- */

static int charge_steps(void *ud, size_t steps) {
  return lrv_logic_spend((struct lrv_logic *)ud, steps);
}

/* string.find's and string.match's init: 0 counts as 1, before the start as 1 */
static size_t init_position(lua_Integer pos, size_t len) {
  if (pos > 0) return (size_t)pos;
  if (pos == 0) return 1;
  if (pos < -(lua_Integer)len) return 1;
  return len + (size_t)pos + 1;
}

#define PAT_STACK_BYTES 2048      /* patterns up to about 60 characters compile on the C stack */

typedef union pat_buffer {
  pattern pat;
  void *align;
  char bytes[PAT_STACK_BYTES];
} pat_buffer;

/* compiles p into buf when it fits, else into a userdata pushed on the stack */
static pattern *compile(lua_State *L, const char *p, size_t lp, int anchor, pat_buffer *buf) {
  struct lrv_logic *g = lrv_logic_of(L);
  pat_classes local, *classes = g ? lrv_logic_classes(g) : &local;
  size_t size = pat_size(lp);
  pattern *pat;
  if (size == 0 || size > ((size_t)-1) - sizeof(pattern)) luaL_error(L, "pattern too long");
  if (!g) local.have = 0;
  if (buf && sizeof(pattern) + size <= sizeof *buf) pat = &buf->pat;
  else pat = (pattern *)lua_newuserdatauv(L, sizeof(pattern) + size, 0);
  lrv_logic_charge(L, pat_compile(pat, pat + 1, p, lp, anchor, classes));
  return pat;
}

static void begin(lua_State *L, pat_state *ms, const pattern *pat, const char *s, size_t ls) {
  struct lrv_logic *g = lrv_logic_of(L);
  pat_begin(ms, pat, s, ls, g ? charge_steps : NULL, g);
}

/* a result of pat_match or pat_flush other than PAT_MATCH or PAT_NOMATCH: raise it */
static void check(lua_State *L, pat_state *ms, int r) {
  char buf[64];
  if (r == PAT_BUDGET) lrv_logic_raise(L, (struct lrv_logic *)ms->ud);
  else if (r == PAT_ERROR) luaL_error(L, "%s", pat_message(ms, buf, sizeof buf));
}

static void flush(lua_State *L, pat_state *ms) {
  check(L, ms, pat_flush(ms));
}

/* capture i of the match s..e; with no captures, capture 0 is the whole match */
static void push_capture(lua_State *L, pat_state *ms, int i, size_t s, size_t e) {
  if (i >= ms->level) {
    if (i != 0) luaL_error(L, "invalid capture index %%%d", i + 1);
    lua_pushlstring(L, ms->src + s, e - s);
  } else if (ms->cap[i].len == PAT_CAP_UNFINISHED) {
    luaL_error(L, "unfinished capture");
  } else if (ms->cap[i].len == PAT_CAP_POSITION) {
    lua_pushinteger(L, (lua_Integer)ms->cap[i].init + 1);
  } else {
    lua_pushlstring(L, ms->src + ms->cap[i].init, (size_t)ms->cap[i].len);
  }
}

/* the captures (or the whole match when there are none and whole is set) */
static int push_captures(lua_State *L, pat_state *ms, int whole, size_t s, size_t e) {
  int n = (ms->level == 0 && whole) ? 1 : ms->level, i;
  luaL_checkstack(L, n, "too many captures");
  for (i = 0; i < n; i++) push_capture(L, ms, i, s, e);
  return n;
}

static int find_or_match(lua_State *L, int find) {
  size_t ls, lp, init, s1, e;
  const char *s = luaL_checklstring(L, 1, &ls);
  const char *p = luaL_checklstring(L, 2, &lp);
  pat_state ms;
  int r;
  init = init_position(luaL_optinteger(L, 3, 1), ls) - 1;
  if (init > ls) {
    luaL_pushfail(L);
    return 1;
  }
  if (find && (lua_toboolean(L, 4) || pat_is_plain(p, lp))) {
    size_t at;
    begin(L, &ms, NULL, s, ls);
    r = pat_find_plain(&ms, s + init, ls - init, p, lp, &at);
    check(L, &ms, r);
    flush(L, &ms);
    if (r == PAT_MATCH) {
      lua_pushinteger(L, (lua_Integer)(init + at + 1));
      lua_pushinteger(L, (lua_Integer)(init + at + lp));
      return 2;
    }
  } else {
    pat_buffer buf;
    const pattern *pat = compile(L, p, lp, 1, &buf);
    begin(L, &ms, pat, s, ls);
    s1 = init;
    do {
      r = pat_match(&ms, s1, &e);
      check(L, &ms, r);
      if (r == PAT_MATCH) {
        flush(L, &ms);
        if (find) {
          lua_pushinteger(L, (lua_Integer)s1 + 1);
          lua_pushinteger(L, (lua_Integer)e);
          return push_captures(L, &ms, 0, 0, 0) + 2;
        }
        return push_captures(L, &ms, 1, s1, e);
      }
    } while (s1++ < ls && !pat->anchor);
    flush(L, &ms);
  }
  luaL_pushfail(L);
  return 1;
}

static int str_find(lua_State *L) { return find_or_match(L, 1); }
static int str_match(lua_State *L) { return find_or_match(L, 0); }

typedef struct gmatch {
  size_t src, last;            /* where the next search starts; end of the last match */
  int has_last;
  pattern pat;                 /* followed by its items */
} gmatch;

static int gmatch_next(lua_State *L) {
  size_t ls, e, src;
  const char *s = lua_tolstring(L, lua_upvalueindex(1), &ls);
  gmatch *gm = (gmatch *)lua_touserdata(L, lua_upvalueindex(3));
  pat_state ms;
  int r;
  begin(L, &ms, &gm->pat, s, ls);
  for (src = gm->src; src <= ls; src++) {
    r = pat_match(&ms, src, &e);
    check(L, &ms, r);
    if (r == PAT_MATCH && !(gm->has_last && e == gm->last)) {
      gm->src = gm->last = e;
      gm->has_last = 1;
      flush(L, &ms);
      return push_captures(L, &ms, 1, src, e);
    }
  }
  gm->src = ls + 1;
  flush(L, &ms);
  return 0;
}

/* string.gmatch(s, pattern [, init]): a '^' does not anchor here (as in Lua) */
static int str_gmatch(lua_State *L) {
  size_t ls, lp, size, init;
  const char *p;
  gmatch *gm;
  luaL_checklstring(L, 1, &ls);
  p = luaL_checklstring(L, 2, &lp);
  init = init_position(luaL_optinteger(L, 3, 1), ls) - 1;
  lua_settop(L, 2);
  size = pat_size(lp);
  if (size == 0 || size > ((size_t)-1) - sizeof(gmatch)) return luaL_error(L, "pattern too long");
  gm = (gmatch *)lua_newuserdatauv(L, sizeof(gmatch) + size, 0);
  {
    struct lrv_logic *g = lrv_logic_of(L);
    pat_classes local;
    local.have = 0;
    lrv_logic_charge(L, pat_compile(&gm->pat, gm + 1, p, lp, 0, g ? lrv_logic_classes(g) : &local));
  }
  gm->src = init > ls ? ls + 1 : init;
  gm->last = 0;
  gm->has_last = 0;
  lua_pushcclosure(L, gmatch_next, 3);    /* the subject and pattern stay alive with it */
  return 1;
}

/* the replacement text of string.gsub: %0-%9, %% */
static void add_text(lua_State *L, pat_state *ms, luaL_Buffer *b, size_t s, size_t e) {
  size_t l;
  const char *news = lua_tolstring(L, 3, &l), *p;
  lrv_logic_charge(L, LOGIC_UNITS(l));
  while ((p = (const char *)memchr(news, '%', l)) != NULL) {
    luaL_addlstring(b, news, (size_t)(p - news));
    p++;                                             /* Lua strings end in '\0' */
    if (*p == '%') {
      luaL_addchar(b, '%');
    } else if (*p == '0') {
      luaL_addlstring(b, ms->src + s, e - s);
    } else if (*p >= '1' && *p <= '9') {
      push_capture(L, ms, *p - '1', s, e);
      luaL_addvalue(b);                              /* a position becomes its digits */
    } else {
      luaL_error(L, "invalid use of '%c' in replacement string", '%');
    }
    l -= (size_t)(p + 1 - news);
    news = p + 1;
  }
  luaL_addlstring(b, news, l);
}

/* adds the replacement of the match s..e; 0 when it keeps the match as it was */
static int add_value(lua_State *L, pat_state *ms, luaL_Buffer *b, size_t s, size_t e, int tr) {
  if (tr == LUA_TFUNCTION) {
    int n;
    lua_pushvalue(L, 3);
    n = push_captures(L, ms, 1, s, e);
    lua_call(L, n, 1);
  } else if (tr == LUA_TTABLE) {
    push_capture(L, ms, 0, s, e);
    lua_gettable(L, 3);
  } else {
    add_text(L, ms, b, s, e);
    return 1;
  }
  if (!lua_toboolean(L, -1)) {                       /* nil or false: keep the match */
    lua_pop(L, 1);
    luaL_addlstring(b, ms->src + s, e - s);
    return 0;
  }
  if (!lua_isstring(L, -1))
    return luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
  luaL_addvalue(b);
  return 1;
}

static int str_gsub(lua_State *L) {
  size_t ls, lp, pos = 0, last = 0, e;
  const char *src = luaL_checklstring(L, 1, &ls);
  const char *p = luaL_checklstring(L, 2, &lp);
  int tr = lua_type(L, 3), has_last = 0, changed = 0, r;
  lua_Integer max_s = luaL_optinteger(L, 4, (lua_Integer)ls + 1), n = 0;
  const pattern *pat;
  pat_buffer buf;
  pat_state ms;
  luaL_Buffer b;
  luaL_argexpected(L, tr == LUA_TNUMBER || tr == LUA_TSTRING || tr == LUA_TFUNCTION ||
                   tr == LUA_TTABLE, 3, "string/function/table");
  lua_settop(L, 4);
  pat = compile(L, p, lp, 1, &buf);
  begin(L, &ms, pat, src, ls);
  luaL_buffinit(L, &b);
  while (n < max_s) {
    r = pat_match(&ms, pos, &e);
    check(L, &ms, r);
    if (r == PAT_MATCH && !(has_last && e == last)) {
      n++;
      changed = add_value(L, &ms, &b, pos, e, tr) | changed;
      pos = last = e;
      has_last = 1;
    } else if (pos < ls) {
      luaL_addchar(&b, src[pos++]);
    } else {
      break;
    }
    if (pat->anchor) break;
  }
  flush(L, &ms);
  if (!changed) {
    lua_pushvalue(L, 1);
  } else {
    luaL_addlstring(&b, src + pos, ls - pos);
    luaL_pushresult(&b);
  }
  lua_pushinteger(L, n);
  return 2;
}

/* ---- other string functions: checked or charged, then the originals ---------------------- */

/* runs upvalue 1, the original C function, in this call's frame: its argument errors name
** the function as the caller knows it ("bad argument #2 to 'format'") */
static int call_original(lua_State *L) {
  return lua_tocfunction(L, lua_upvalueindex(1))(L);
}

/* The string functions that build a result of a size known beforehand build it in a
** userdata, not a luaL_Buffer: a buffer's first block of exactly a table node vector's size
** would look like one to logic_alloc, which refuses big node vectors. */
static char *scratch(lua_State *L, size_t n) {
  return (char *)lua_newuserdatauv(L, n ? n : 1, 0);
}

/* string.rep: Lua's loops n times even when each copy is empty */
static int str_rep(lua_State *L) {
  size_t l, lsep, total;
  const char *s = luaL_checklstring(L, 1, &l);
  lua_Integer n = luaL_checkinteger(L, 2), i;
  const char *sep = luaL_optlstring(L, 3, "", &lsep);
  char *buf, *p;
  if (n <= 0 || l + lsep == 0) {
    lua_pushliteral(L, "");
    return 1;
  }
  if (l + lsep < l || l + lsep > (size_t)INT_MAX / (size_t)n)     /* Lua's MAXSIZE */
    return luaL_error(L, "resulting string too large");
  total = (size_t)n * l + (size_t)(n - 1) * lsep;
  buf = p = scratch(L, total);
  for (i = 0; i < n; i++) {
    memcpy(p, s, l);
    p += l;
    if (lsep > 0 && i + 1 < n) {
      memcpy(p, sep, lsep);
      p += lsep;
    }
  }
  lua_pushlstring(L, buf, total);
  return 1;
}

static int str_case(lua_State *L, int upper) {
  size_t l, i;
  const char *s = luaL_checklstring(L, 1, &l);
  char *p = scratch(L, l);
  for (i = 0; i < l; i++) p[i] = (char)(upper ? toupper((unsigned char)s[i]) : tolower((unsigned char)s[i]));
  lua_pushlstring(L, p, l);
  return 1;
}

static int str_upper(lua_State *L) { return str_case(L, 1); }
static int str_lower(lua_State *L) { return str_case(L, 0); }

static int str_reverse(lua_State *L) {
  size_t l, i;
  const char *s = luaL_checklstring(L, 1, &l);
  char *p = scratch(L, l);
  for (i = 0; i < l; i++) p[i] = s[l - i - 1];
  lua_pushlstring(L, p, l);
  return 1;
}

/* the length of the string arguments from first on, in units */
static size_t string_args(lua_State *L, int first) {
  size_t units = 1;
  int i, n = lua_gettop(L);
  for (i = first; i <= n; i++)
    if (lua_type(L, i) == LUA_TSTRING) units += LOGIC_UNITS(lua_rawlen(L, i));
  return units;
}

/* string.format ("%.1s" reads its whole argument with strlen), tonumber (parses it all) */
static int charged_by_strings(lua_State *L) {
  lrv_logic_charge(L, string_args(L, 1));
  return call_original(L);
}

/* ---- table ------------------------------------------------------------------------------- */

/* units for the elements first..last (none when last < first) */
static size_t range_units(lua_Integer first, lua_Integer last) {
  lua_Unsigned n;
  if (last < first) return 1;
  n = (lua_Unsigned)last - (lua_Unsigned)first;
  return n >= (lua_Unsigned)((size_t)-1) ? (size_t)-1 : (size_t)n + 1;
}

static lua_Integer table_len(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  return luaL_len(L, 1);
}

static int tab_insert(lua_State *L) {
  lua_Integer e = table_len(L), pos, i;
  e = (lua_Integer)((lua_Unsigned)e + 1u);            /* the first empty slot */
  switch (lua_gettop(L)) {
  case 2:
    pos = e;
    break;
  case 3:
    pos = luaL_checkinteger(L, 2);
    luaL_argcheck(L, (lua_Unsigned)pos - 1u < (lua_Unsigned)e, 2, "position out of bounds");
    lrv_logic_charge(L, range_units(pos, e));
    for (i = e; i > pos; i--) {
      lua_geti(L, 1, i - 1);
      lua_seti(L, 1, i);
    }
    break;
  default:
    return luaL_error(L, "wrong number of arguments to 'insert'");
  }
  lua_seti(L, 1, pos);
  return 0;
}

static int tab_remove(lua_State *L) {
  lua_Integer size = table_len(L);
  lua_Integer pos = luaL_optinteger(L, 2, size);
  if (pos != size)                                  /* Lua 5.4.4 names argument 1 */
    luaL_argcheck(L, (lua_Unsigned)pos - 1u <= (lua_Unsigned)size, 1, "position out of bounds");
  lrv_logic_charge(L, range_units(pos, size));
  lua_geti(L, 1, pos);
  for (; pos < size; pos++) {
    lua_geti(L, 1, pos + 1);
    lua_seti(L, 1, pos);
  }
  lua_pushnil(L);
  lua_seti(L, 1, pos);
  return 1;
}

static int tab_move(lua_State *L) {
  lua_Integer f = luaL_checkinteger(L, 2);
  lua_Integer e = luaL_checkinteger(L, 3);
  lua_Integer t = luaL_checkinteger(L, 4);
  int tt = !lua_isnoneornil(L, 5) ? 5 : 1;
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_checktype(L, tt, LUA_TTABLE);
  if (e >= f) {
    lua_Integer n, i;
    luaL_argcheck(L, f > 0 || e < LUA_MAXINTEGER + f, 3, "too many elements to move");
    n = e - f + 1;
    luaL_argcheck(L, t <= LUA_MAXINTEGER - n + 1, 4, "destination wrap around");
    lrv_logic_charge(L, range_units(f, e));
    if (t > e || t <= f || (tt != 1 && !lua_compare(L, 1, tt, LUA_OPEQ))) {
      for (i = 0; i < n; i++) {
        lua_geti(L, 1, f + i);
        lua_seti(L, tt, t + i);
      }
    } else {
      for (i = n - 1; i >= 0; i--) {
        lua_geti(L, 1, f + i);
        lua_seti(L, tt, t + i);
      }
    }
  }
  lua_pushvalue(L, tt);
  return 1;
}

static void concat_field(lua_State *L, luaL_Buffer *b, lua_Integer i) {
  lua_geti(L, 1, i);
  if (!lua_isstring(L, -1))
    luaL_error(L, "invalid value (%s) at index %I in table for 'concat'", luaL_typename(L, -1),
               (LUAI_UACINT)i);
  luaL_addvalue(b);
}

static int tab_concat(lua_State *L) {
  luaL_Buffer b;
  lua_Integer last = table_len(L), i;
  size_t lsep;
  const char *sep = luaL_optlstring(L, 2, "", &lsep);
  i = luaL_optinteger(L, 3, 1);
  last = luaL_optinteger(L, 4, last);
  lrv_logic_charge(L, range_units(i, last));
  luaL_buffinit(L, &b);
  for (; i < last; i++) {
    concat_field(L, &b, i);
    luaL_addlstring(&b, sep, lsep);
  }
  if (i == last) concat_field(L, &b, i);
  luaL_pushresult(&b);
  return 1;
}

static int tab_unpack(lua_State *L) {
  lua_Unsigned n;
  lua_Integer i = luaL_optinteger(L, 2, 1);
  lua_Integer e = luaL_opt(L, luaL_checkinteger, 3, luaL_len(L, 1));
  if (i > e) return 0;
  n = (lua_Unsigned)e - (lua_Unsigned)i;
  if (n >= (unsigned int)INT_MAX) return luaL_error(L, "too many results to unpack");
  lrv_logic_charge(L, (size_t)n + 1);
  if (!lua_checkstack(L, (int)(++n))) return luaL_error(L, "too many results to unpack");
  for (; i < e; i++) lua_geti(L, 1, i);
  lua_geti(L, 1, e);
  return (int)n;
}

/* sort: a heapsort (bounded whatever the order function answers); each comparison counts */
static int sort_less(lua_State *L, struct lrv_logic *g, lua_Integer a, lua_Integer b) {
  int r;
  if (g && lrv_logic_spend(g, 1)) lrv_logic_raise(L, g);
  if (lua_isnil(L, 2)) {
    lua_geti(L, 1, a);
    lua_geti(L, 1, b);
    r = lua_compare(L, -2, -1, LUA_OPLT);
    lua_pop(L, 2);
  } else {
    lua_pushvalue(L, 2);
    lua_geti(L, 1, a);
    lua_geti(L, 1, b);
    lua_call(L, 2, 1);
    r = lua_toboolean(L, -1);
    lua_pop(L, 1);
  }
  return r;
}

static void sort_swap(lua_State *L, lua_Integer a, lua_Integer b) {
  lua_geti(L, 1, a);
  lua_geti(L, 1, b);
  lua_seti(L, 1, a);
  lua_seti(L, 1, b);
}

static void sift_down(lua_State *L, struct lrv_logic *g, lua_Integer root, lua_Integer end) {
  while (2 * root <= end) {
    lua_Integer child = 2 * root;
    if (child + 1 <= end && sort_less(L, g, child, child + 1)) child++;
    if (!sort_less(L, g, root, child)) return;
    sort_swap(L, root, child);
    root = child;
  }
}

static int tab_sort(lua_State *L) {
  lua_Integer n = table_len(L), i;
  struct lrv_logic *g = lrv_logic_of(L);
  if (n > 1) {
    luaL_argcheck(L, n < INT_MAX, 1, "array too big");
    if (!lua_isnoneornil(L, 2)) luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_settop(L, 2);
    for (i = n / 2; i >= 1; i--) sift_down(L, g, i, n);
    for (i = n; i > 1; i--) {
      sort_swap(L, 1, i);
      sift_down(L, g, 1, i - 1);
    }
  }
  return 0;
}

/* ---- utf8 -------------------------------------------------------------------------------- */

#define IS_CONT(c) (((unsigned char)(c) & 0xC0) == 0x80)

static lua_Integer utf8_position(lua_Integer pos, size_t len) {
  if (pos >= 0) return pos;
  if (0u - (size_t)pos > len) return 0;
  return (lua_Integer)len + pos + 1;
}

/* utf8.len(s, i, j), utf8.codepoint(s, i, j): the bytes from i to j, up front */
static int utf8_ranged(lua_State *L) {
  size_t len;
  lua_Integer i, j;
  int is_len = lua_toboolean(L, lua_upvalueindex(2));
  luaL_checklstring(L, 1, &len);
  i = utf8_position(luaL_optinteger(L, 2, 1), len);
  j = utf8_position(luaL_optinteger(L, 3, is_len ? -1 : i), len);
  lrv_logic_charge(L, j >= i ? LOGIC_UNITS(range_units(i, j)) : 1);
  return call_original(L);
}

/* the code point starting at s[0] (s ends in '\0'): its length, or 0 when it is not valid
** UTF-8 (strict: no surrogates, nothing past U+10FFFF; lax: up to 2^31 - 1) */
static size_t utf8_decode1(const unsigned char *s, lua_Integer *code, int strict) {
  static const unsigned long least[] = { 0, 0x80, 0x800, 0x10000, 0x200000, 0x4000000 };
  unsigned long v;
  size_t n, k;
  unsigned c = s[0];
  if (c < 0x80) { *code = c; return 1; }
  if (c < 0xC0) return 0;                            /* a continuation byte */
  if (c < 0xE0) { n = 1; v = c & 0x1F; }
  else if (c < 0xF0) { n = 2; v = c & 0x0F; }
  else if (c < 0xF8) { n = 3; v = c & 0x07; }
  else if (c < 0xFC) { n = 4; v = c & 0x03; }
  else if (c < 0xFE) { n = 5; v = c & 0x01; }
  else return 0;
  for (k = 1; k <= n; k++) {
    if (!IS_CONT(s[k])) return 0;
    v = (v << 6) | (s[k] & 0x3F);
  }
  if (v < least[n] || v > 0x7FFFFFFFul) return 0;  /* overlong */
  if (strict && (v > 0x10FFFFul || (v >= 0xD800ul && v <= 0xDFFFul))) return 0;
  *code = (lua_Integer)v;
  return n + 1;
}

/* utf8.offset(s, n [, i]) */
static int utf8_offset(lua_State *L) {
  size_t len, steps = 0;
  const char *s = luaL_checklstring(L, 1, &len);
  lua_Integer n = luaL_checkinteger(L, 2);
  lua_Integer posi = n >= 0 ? 1 : (lua_Integer)len + 1;
  posi = utf8_position(luaL_optinteger(L, 3, posi), len);
  luaL_argcheck(L, 1 <= posi && --posi <= (lua_Integer)len, 3, "position out of bounds");
  if (n == 0) {
    while (posi > 0 && IS_CONT(s[posi])) { posi--; steps++; }     /* its first byte */
  } else {
    if (IS_CONT(s[posi])) return luaL_error(L, "initial position is a continuation byte");
    if (n < 0) {
      while (n < 0 && posi > 0) {                                   /* back, one character */
        do { posi--; steps++; } while (posi > 0 && IS_CONT(s[posi]));
        n++;
      }
    } else {
      n--;
      while (n > 0 && posi < (lua_Integer)len) {                    /* on, one character */
        do { posi++; steps++; } while (IS_CONT(s[posi]));         /* s ends in '\0' */
        n--;
      }
    }
  }
  lrv_logic_charge(L, LOGIC_UNITS(steps));
  if (n != 0) luaL_pushfail(L);
  else lua_pushinteger(L, posi + 1);
  return 1;
}

/* the iterator of utf8.codes: from the byte after the last one (continuation bytes skipped) */
static int utf8_codes_next(lua_State *L) {
  size_t len, n, skipped = 0, k;
  const char *s = luaL_checklstring(L, 1, &len);
  lua_Integer code;
  n = (size_t)(lua_Unsigned)lua_tointeger(L, 2);
  if (n < len) while (IS_CONT(s[n])) { n++; skipped++; }
  lrv_logic_charge(L, LOGIC_UNITS(skipped));
  if (n >= len) return 0;
  k = utf8_decode1((const unsigned char *)s + n, &code, lua_toboolean(L, lua_upvalueindex(1)));
  if (k == 0) return luaL_error(L, "invalid UTF-8 code");
  lua_pushinteger(L, (lua_Integer)n + 1);
  lua_pushinteger(L, code);
  return 2;
}

/* utf8.codes(s [, lax]) */
static int utf8_codes(lua_State *L) {
  int lax = lua_toboolean(L, 2);
  luaL_checkstring(L, 1);
  lua_pushboolean(L, !lax);
  lua_pushcclosure(L, utf8_codes_next, 1);
  lua_pushvalue(L, 1);
  lua_pushinteger(L, 0);
  return 3;
}

/* ---- metatables -------------------------------------------------------------------------- */

/* upvalue 1: metatable -> the copy tables get; upvalue 2: copy -> metatable */
static int safe_setmetatable(lua_State *L) {
  int t = lua_type(L, 2);
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_argexpected(L, t == LUA_TNIL || t == LUA_TTABLE, 2, "nil or table");
  if (luaL_getmetafield(L, 1, "__metatable") != LUA_TNIL)
    return luaL_error(L, "cannot change a protected metatable");
  lua_settop(L, 2);
  if (t == LUA_TTABLE) {
    lua_pushvalue(L, 2);
    if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TTABLE) {
      lua_pop(L, 1);
      lua_pushliteral(L, "__gc");                     /* raw, as Lua reads metamethods */
      if (lua_rawget(L, 2) != LUA_TNIL)
        return luaL_error(L, "custom logic may not set __gc (finalizers run outside its budget)");
      lua_pushliteral(L, "__mode");
      if (lua_rawget(L, 2) != LUA_TNIL)
        return luaL_error(L, "custom logic may not make weak tables (__mode)");
      lua_pop(L, 2);
      lua_newtable(L);
      lua_pushnil(L);
      while (lua_next(L, 2)) {
        lrv_logic_charge(L, 1);
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, -4);
      }
      lua_pushvalue(L, 2);
      lua_pushvalue(L, -2);
      lua_rawset(L, lua_upvalueindex(1));             /* metatable -> copy */
      lua_pushvalue(L, -1);
      lua_pushvalue(L, 2);
      lua_rawset(L, lua_upvalueindex(2));             /* copy -> metatable */
    }
    lua_setmetatable(L, 1);
  } else {
    lua_setmetatable(L, 1);
  }
  lua_settop(L, 1);
  return 1;
}

static int safe_getmetatable(lua_State *L) {
  luaL_checkany(L, 1);
  if (lua_type(L, 1) != LUA_TTABLE || !lua_getmetatable(L, 1)) {   /* strings show none */
    lua_pushnil(L);
    return 1;
  }
  if (luaL_getmetafield(L, 1, "__metatable") != LUA_TNIL) return 1;
  lua_pushvalue(L, -1);
  if (lua_rawget(L, lua_upvalueindex(2)) == LUA_TNIL) lua_pop(L, 1);   /* one of ours */
  return 1;
}

/* ---- the environment --------------------------------------------------------------------- */

/* xpcall(f, msgh, ...). Lua runs msgh inside the error, before unwinding; when the error is
** the budget's, raised from the instruction hook, that is still inside the hook, where hooks
** are off, and a msgh that loops would never be stopped. Here msgh runs once the call has
** unwound, under the budget; it gets the error value as Lua's would (it could not walk the
** stack anyway: there is no debug library). An error in msgh is what xpcall returns. */
static int safe_xpcall(lua_State *L) {
  int n = lua_gettop(L), i;
  luaL_checktype(L, 2, LUA_TFUNCTION);
  luaL_checkstack(L, n + 2, "too many arguments");
  lua_pushvalue(L, 1);
  for (i = 3; i <= n; i++) lua_pushvalue(L, i);
  if (lua_pcall(L, n - 2, LUA_MULTRET, 0) == LUA_OK) {
    lua_pushboolean(L, 1);
    lua_insert(L, n + 1);
    return lua_gettop(L) - n;
  }
  lua_pushvalue(L, 2);
  lua_insert(L, -2);
  lua_pcall(L, 1, 1, 0);
  lua_pushboolean(L, 0);
  lua_insert(L, -2);
  return 2;
}

static int silent_print(lua_State *L) {
  (void)L;
  return 0;
}

/* a key in a message: strings and numbers as they are, anything else by its type */
static const char *key_text(lua_State *L, int idx) {
  int t = lua_type(L, idx);
  if (t == LUA_TSTRING || t == LUA_TNUMBER) return lua_pushfstring(L, "%s", lua_tostring(L, idx));
  return lua_pushfstring(L, "(a %s)", lua_typename(L, t));
}

static int global_write(lua_State *L) {
  return luaL_error(L, "assignment to global '%s' in sandboxed code", key_text(L, 2));
}

static int library_write(lua_State *L) {
  return luaL_error(L, "%s.%s is read-only", lua_tostring(L, lua_upvalueindex(1)), key_text(L, 2));
}

/* t[name] = f with the current t[name] as its upvalue (the original it checks and calls) */
static void wrap(lua_State *L, int t, const char *name, lua_CFunction f, int flag) {
  lua_getfield(L, t, name);
  if (flag >= 0) {
    lua_pushboolean(L, flag);
    lua_pushcclosure(L, f, 2);
  } else {
    lua_pushcclosure(L, f, 1);
  }
  lua_setfield(L, t, name);
}

static void set(lua_State *L, int t, const char *name, lua_CFunction f) {
  lua_pushcfunction(L, f);
  lua_setfield(L, t, name);
}

/* The libraries are opened when custom logic first reads them (most use only the string
** methods): opening all five costs more than the rest of a fresh state. */
enum { LIB_STRING, LIB_TABLE, LIB_MATH, LIB_UTF8, LIB_OS, LIB_COUNT };
static const char *const LIB_NAMES[] = { "string", "table", "math", "utf8", "os" };
static const lua_CFunction LIB_OPEN[] = { luaopen_string, luaopen_table, luaopen_math, luaopen_utf8, luaopen_os };

/* pushes library `which` as custom logic gets it, opening it the first time */
static void push_library(lua_State *L, int which) {
  static const char *const dropped[] = { "dump", "pack", "packsize", "unpack", NULL };
  static const char *const os_names[] = { "time", "date", "clock", NULL };
  const char *name = LIB_NAMES[which];
  int lib, i;
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  if (lua_getfield(L, -1, name) == LUA_TTABLE) {
    lua_remove(L, -2);
    return;
  }
  lua_pop(L, 1);
  lua_pushcfunction(L, LIB_OPEN[which]);
  lua_call(L, 0, 1);                       /* luaopen_string also sets the strings' metatable */
  lib = lua_gettop(L);
  switch (which) {
  case LIB_STRING:
    set(L, lib, "find", str_find);
    set(L, lib, "match", str_match);
    set(L, lib, "gmatch", str_gmatch);
    set(L, lib, "gsub", str_gsub);
    set(L, lib, "rep", str_rep);
    set(L, lib, "upper", str_upper);
    set(L, lib, "lower", str_lower);
    set(L, lib, "reverse", str_reverse);
    wrap(L, lib, "format", charged_by_strings, -1);
    for (i = 0; dropped[i]; i++) {
      lua_pushnil(L);
      lua_setfield(L, lib, dropped[i]);
    }
    break;
  case LIB_TABLE:
    set(L, lib, "insert", tab_insert);
    set(L, lib, "remove", tab_remove);
    set(L, lib, "move", tab_move);
    set(L, lib, "concat", tab_concat);
    set(L, lib, "unpack", tab_unpack);
    set(L, lib, "sort", tab_sort);
    break;
  case LIB_UTF8:
    wrap(L, lib, "len", utf8_ranged, 1);
    wrap(L, lib, "codepoint", utf8_ranged, 0);
    set(L, lib, "offset", utf8_offset);
    set(L, lib, "codes", utf8_codes);
    break;
  case LIB_OS:
    lua_createtable(L, 0, 3);
    for (i = 0; os_names[i]; i++) {
      lua_getfield(L, lib, os_names[i]);
      lua_setfield(L, -2, os_names[i]);
    }
    lua_replace(L, lib);
    break;
  default:
    break;
  }
  lua_pushvalue(L, lib);
  lua_setfield(L, lib - 1, name);          /* LOADED[name]: the library as patched */
  lua_remove(L, lib - 1);
}

/* __index of a library view (and of strings) until the library is opened. Upvalues: which
** library, the view's metatable (whose __index becomes the library). */
static int lazy_library(lua_State *L) {
  push_library(L, (int)lua_tointeger(L, lua_upvalueindex(1)));
  lua_pushvalue(L, -1);
  lua_setfield(L, lua_upvalueindex(2), "__index");
  lua_pushvalue(L, 2);
  lua_rawget(L, -2);
  return 1;
}

void lrv_logic_env(lua_State *L) {
  static const char *const base_names[] = {
    "assert", "error", "ipairs", "next", "pairs", "pcall", "rawequal", "rawget", "rawlen",
    "select", "tostring", "type", NULL
  };
  int g, base, i;
  luaL_checkstack(L, 20, NULL);
  lua_createtable(L, 0, 32);                          /* the globals, grown once */
  lua_rawseti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
  luaL_requiref(L, "_G", luaopen_base, 0);
  g = lua_gettop(L);
  lua_createtable(L, 0, 24);
  base = lua_gettop(L);
  for (i = 0; base_names[i]; i++) {
    lua_getfield(L, g, base_names[i]);
    lua_setfield(L, base, base_names[i]);
  }
  lua_getfield(L, g, "tonumber");
  lua_pushcclosure(L, charged_by_strings, 1);
  lua_setfield(L, base, "tonumber");
  set(L, base, "print", silent_print);
  set(L, base, "xpcall", safe_xpcall);
  lua_newtable(L);                                    /* metatable -> copy */
  lua_newtable(L);                                    /* copy -> metatable */
  lua_pushvalue(L, -2);
  lua_pushvalue(L, -2);
  lua_pushcclosure(L, safe_setmetatable, 2);
  lua_setfield(L, base, "setmetatable");
  lua_pushcclosure(L, safe_getmetatable, 2);
  lua_setfield(L, base, "getmetatable");

  /* each library: a read-only view, empty until first read */
  for (i = 0; i < LIB_COUNT; i++) {
    lua_newtable(L);                                  /* the view */
    lua_createtable(L, 0, 3);                         /* its metatable */
    lua_pushinteger(L, i);
    lua_pushvalue(L, -2);
    lua_pushcclosure(L, lazy_library, 2);
    if (i == LIB_STRING) {                            /* strings' methods, the same way */
      lua_createtable(L, 0, 1);
      lua_pushvalue(L, -2);
      lua_setfield(L, -2, "__index");
      lua_pushliteral(L, "");
      lua_insert(L, -2);
      lua_setmetatable(L, -2);
      lua_pop(L, 1);
    }
    lua_setfield(L, -2, "__index");
    lua_pushstring(L, LIB_NAMES[i]);
    lua_pushcclosure(L, library_write, 1);
    lua_setfield(L, -2, "__newindex");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);
    lua_setfield(L, base, LIB_NAMES[i]);
  }

  /* the environment: reads go to base, writes fail; nothing else is reachable from it */
  lua_newtable(L);
  lua_createtable(L, 0, 3);
  lua_pushvalue(L, base);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, global_write);
  lua_setfield(L, -2, "__newindex");
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "__metatable");
  lua_setmetatable(L, -2);
  lua_replace(L, g);
  lua_settop(L, g);
  /* nothing loaded later gets the full globals either */
  lua_pushvalue(L, -1);
  lua_rawseti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
}
