/*
** The step loop's hot parts (issue #17: "transitions, SIDs, step records, set-variables/split
** evaluation ... in the C core"): the pieces every non-I/O step runs, in C so that a step
** makes no garbage for them. The widgets stay Lua (lua/rivulet/widgets/) and call these:
**
**   sid(prefix)                  -> a Twilio-shaped SID: prefix, 24 hex of this process,
**                                   an 8-hex counter (rivulet.sid)
**   split_test(kind, input, value) -> boolean | nil (kind is not one of these tests): Split
**                                   Based On's conditions but `regex` (lua/rivulet/widgets/
**                                   split_based_on.lua says what each means)
**   cast(text)                   -> Set Variables' type-cast of a rendered text: a number,
**                                   the text inside quotation marks, or the text itself
**
** Each follows the Lua it replaced byte for byte; spec/test_step_core.lua holds that Lua as
** its oracle.
*/
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lrv.h"
#include "sign.h"

/* ---- SIDs ---------------------------------------------------------------------------- */

#define SID_PREFIX_MAX 2              /* Twilio's SIDs: two letters */
#define SID_BASE_HEX 24               /* 96 random bits per Lua state: unique across processes */
#define SID_LENGTH (SID_PREFIX_MAX + SID_BASE_HEX + 8)

/* one per Lua state (the closure's upvalue), as rivulet.sid's locals were: no state shares
** a counter with another thread's */
struct lrv_sid_source {
  char base[SID_BASE_HEX + 1];
  uint32_t count;
  int ready;
};
typedef struct lrv_sid_source sid_source;

static int sid_init(sid_source *src) {
  char c[7];
  if (rv_random_hex(src->base, SID_BASE_HEX / 2) || rv_random_hex(c, 3)) return -1;
  src->count = (uint32_t)strtoul(c, NULL, 16);
  src->ready = 1;
  return 0;
}

/* pushes prefix (two letters) .. base .. counter: the next SID of src */
void lrv_sid_push(lua_State *L, lrv_sid_source *src, const char *prefix) {
  static const char hex[] = "0123456789abcdef";
  char out[SID_LENGTH];
  uint32_t n;
  int i;
  if (!src->ready && sid_init(src)) luaL_error(L, "the system could not produce random bytes");
  n = ++src->count;
  memcpy(out, prefix, SID_PREFIX_MAX);
  memcpy(out + SID_PREFIX_MAX, src->base, SID_BASE_HEX);
  for (i = SID_LENGTH - 1; i >= SID_PREFIX_MAX + SID_BASE_HEX; i--, n >>= 4) out[i] = hex[n & 15];
  lua_pushlstring(L, out, SID_LENGTH);
}

/* sid(prefix) -> prefix .. base .. counter */
static int l_sid(lua_State *L) {
  size_t pl;
  const char *p = luaL_checklstring(L, 1, &pl);
  luaL_argcheck(L, pl == SID_PREFIX_MAX, 1, "a SID's prefix is two letters");
  lrv_sid_push(L, (sid_source *)lua_touserdata(L, lua_upvalueindex(1)), p);
  return 1;
}

/* ---- text as Split Based On and Set Variables read it ----------------------------------- */

/* Lua's %s and %d in the C locale */
static int is_space(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }
static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static unsigned char lower(unsigned char c) { return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c; }

typedef struct { const char *s; size_t n; } span;

static span trim(const char *s, size_t n) {
  span t;
  while (n > 0 && is_space((unsigned char)*s)) { s++; n--; }
  while (n > 0 && is_space((unsigned char)s[n - 1])) n--;
  t.s = s;
  t.n = n;
  return t;
}

/* the argument as the Lua did tostring(x or ""): nil and false are "" */
static span text_arg(lua_State *L, int i) {
  span t;
  if (lua_isnoneornil(L, i) || (lua_isboolean(L, i) && !lua_toboolean(L, i))) {
    t.s = "";
    t.n = 0;
  } else {
    t.s = luaL_tolstring(L, i, &t.n);
    lua_replace(L, i);                   /* kept alive where it was */
  }
  return t;
}

/* trimmed and lower-cased, compared without copying */
static int norm_eq(span a, span b) {
  size_t i;
  if (a.n != b.n) return 0;
  for (i = 0; i < a.n; i++)
    if (lower((unsigned char)a.s[i]) != lower((unsigned char)b.s[i])) return 0;
  return 1;
}

static int norm_starts(span a, span b) {
  if (b.n > a.n) return 0;
  a.n = b.n;
  return norm_eq(a, b);
}

static int norm_contains(span a, span b) {
  size_t i;
  if (b.n == 0) return 1;
  for (i = 0; i + b.n <= a.n; i++) {
    span at;
    at.s = a.s + i;
    at.n = b.n;
    if (norm_eq(at, b)) return 1;
  }
  return 0;
}

/* matches_any_of: value is a comma-separated list, each item trimmed (empty items too) */
static int any_of(span a, span list) {
  const char *p = list.s, *end = list.s + list.n;
  for (;;) {
    const char *c = memchr(p, ',', (size_t)(end - p));
    const char *e = c ? c : end;
    if (norm_eq(a, trim(p, (size_t)(e - p)))) return 1;
    if (!c) return 0;
    p = c + 1;
  }
}

/* the Lua's tonumber(trim(s)) pushed (1), or nothing (0) */
static int push_number(lua_State *L, span t) {
  char buf[64];
  if (t.n == 0 || t.n >= sizeof buf) {
    if (t.n == 0) return 0;
    lua_pushlstring(L, t.s, t.n);            /* long: Lua's own conversion decides */
    if (lua_stringtonumber(L, lua_tostring(L, -1)) == t.n + 1) { lua_remove(L, -2); return 1; }
    lua_pop(L, 1);
    return 0;
  }
  memcpy(buf, t.s, t.n);
  buf[t.n] = '\0';
  return lua_stringtonumber(L, buf) == t.n + 1;
}

/* a date YYYY-MM-DD or a time HH:MM: shape holds 'd' for a digit, else the character */
static int shaped(span t, const char *shape) {
  size_t i, n = strlen(shape);
  if (t.n != n) return 0;
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)t.s[i];
    if (shape[i] == 'd' ? !is_digit(c) : c != (unsigned char)shape[i]) return 0;
  }
  return 1;
}

/* -1, 0, 1 as x sorts before, with, after y (bytes: digits, '-' and ':' only here) */
static int cmp_span(span x, span y) {
  int c = memcmp(x.s, y.s, x.n < y.n ? x.n : y.n);
  if (c) return c < 0 ? -1 : 1;
  return x.n < y.n ? -1 : x.n > y.n;
}

enum { LESS = -1, GREATER = 1 };

static int compare_numbers(lua_State *L, span a, span v, int want) {
  int ok;
  if (!push_number(L, a)) return 0;
  if (!push_number(L, v)) { lua_pop(L, 1); return 0; }
  ok = want == LESS ? lua_compare(L, -2, -1, LUA_OPLT) : lua_compare(L, -1, -2, LUA_OPLT);
  lua_pop(L, 2);
  return ok;
}

static int compare_shaped(span a, span v, const char *shape, int want) {
  a = trim(a.s, a.n);
  v = trim(v.s, v.n);
  if (!shaped(a, shape) || !shaped(v, shape)) return 0;
  return cmp_span(a, v) == want;
}

#define DATE_SHAPE "dddd-dd-dd"
#define TIME_SHAPE "dd:dd"

static const char *const TESTS[] = {
  "equal_to", "not_equal_to", "matches_any_of", "does_not_match_any_of", "contains",
  "does_not_contain", "starts_with", "does_not_start_with", "is_blank", "is_not_blank",
  "less_than", "greater_than", "is_before_date", "is_after_date", "is_before_time",
  "is_after_time", NULL
};

/* the number of the test named kind (for lrv_split_eval), or -1 (regex or unknown) */
int lrv_split_kind(const char *kind) {
  int k;
  for (k = 0; TESTS[k]; k++)
    if (strcmp(TESTS[k], kind) == 0) return k;
  return -1;
}

/* whether test k (lrv_split_kind) holds for input a and value v */
int lrv_split_eval(lua_State *L, int k, const char *as, size_t an, const char *vs, size_t vn) {
  span a, v, ta, tv;
  int r = 0;
  a.s = as;
  a.n = an;
  v.s = vs;
  v.n = vn;
  ta = trim(a.s, a.n);
  tv = trim(v.s, v.n);
  switch (k) {
  case 0: r = norm_eq(ta, tv); break;
  case 1: r = !norm_eq(ta, tv); break;
  case 2: r = any_of(ta, v); break;
  case 3: r = !any_of(ta, v); break;
  case 4: r = norm_contains(ta, tv); break;
  case 5: r = !norm_contains(ta, tv); break;
  case 6: r = norm_starts(ta, tv); break;
  case 7: r = !norm_starts(ta, tv); break;
  case 8: r = ta.n == 0; break;
  case 9: r = ta.n != 0; break;
  case 10: r = compare_numbers(L, ta, tv, LESS); break;
  case 11: r = compare_numbers(L, ta, tv, GREATER); break;
  case 12: r = compare_shaped(a, v, DATE_SHAPE, LESS); break;
  case 13: r = compare_shaped(a, v, DATE_SHAPE, GREATER); break;
  case 14: r = compare_shaped(a, v, TIME_SHAPE, LESS); break;
  case 15: r = compare_shaped(a, v, TIME_SHAPE, GREATER); break;
  default: break;
  }
  return r;
}

/* split_test(kind, input, value) -> boolean | nil (not a test of these) */
static int l_split_test(lua_State *L) {
  int k = lrv_split_kind(luaL_checkstring(L, 1));
  span a = text_arg(L, 2), v = text_arg(L, 3);
  if (k < 0) lua_pushnil(L);
  else lua_pushboolean(L, lrv_split_eval(L, k, a.s, a.n, v.s, v.n));
  return 1;
}

/* split_kind(kind) -> the test's number for the hot path (src/lrv_hot.c) | nil */
static int l_split_kind(lua_State *L) {
  int k = lrv_split_kind(luaL_checkstring(L, 1));
  if (k < 0) lua_pushnil(L);
  else lua_pushinteger(L, k);
  return 1;
}

/* ---- Set Variables' type-cast ------------------------------------------------------------ */

/* whether t spells a number in JSON's grammar: an optional minus, digits without a leading
** zero, an optional fraction with digits, an optional exponent with digits */
static int json_number(span t) {
  size_t i = 0, d;
  if (i < t.n && t.s[i] == '-') i++;
  for (d = i; i < t.n && is_digit((unsigned char)t.s[i]); i++) {}
  if (i == d || (t.s[d] == '0' && i - d > 1)) return 0;
  if (i < t.n && t.s[i] == '.') {
    for (d = ++i; i < t.n && is_digit((unsigned char)t.s[i]); i++) {}
    if (i == d) return 0;
  }
  if (i < t.n && (t.s[i] == 'e' || t.s[i] == 'E')) {
    i++;
    if (i < t.n && (t.s[i] == '+' || t.s[i] == '-')) i++;
    for (d = i; i < t.n && is_digit((unsigned char)t.s[i]); i++) {}
    if (i == d) return 0;
  }
  return i == t.n;
}

/* pushes the cast of the string at idx: the number it spells (integer when it fits 64
** bits), the text inside quotation marks when that spells one ("10" stays text), or the
** text as given */
void lrv_cast_push(lua_State *L, int idx) {
  size_t n;
  const char *s = lua_tolstring(L, idx, &n);
  span t = trim(s, n);
  if (json_number(t) && push_number(L, t)) return;
  if (t.n >= 2 && (t.s[0] == '"' || t.s[0] == '\'') && t.s[t.n - 1] == t.s[0]) {
    span inner;
    inner.s = t.s + 1;
    inner.n = t.n - 2;
    if (json_number(inner)) { lua_pushlstring(L, inner.s, inner.n); return; }
  }
  lua_pushvalue(L, idx);
}

/* cast(text) -> lrv_cast_push's value */
static int l_cast(lua_State *L) {
  luaL_checkstring(L, 1);
  lrv_cast_push(L, 1);
  return 1;
}

/* ---- Set Variables' tables ------------------------------------------------------------- */

/* the size hint lua_createtable takes, clamped: a hint never fails, it only sizes */
static int hint(lua_Integer n) {
  return n <= 0 ? 0 : n > 1024 ? 1024 : (int)n;
}

void lrv_new_vars_push(lua_State *L, int idx, lua_Integer n) {
  lua_Integer count = 0;
  idx = lua_absindex(L, idx);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    count++;
    lua_pop(L, 1);
  }
  /* made at its size: grown from empty, a copy was rehashed at each power of two */
  lua_createtable(L, 0, hint(count + n));
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, -4);
  }
  lua_createtable(L, 0, hint(n));
}

/* new_vars(variables, n) -> vars, outputs (lrv_new_vars_push) */
static int l_new_vars(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lrv_new_vars_push(L, 1, luaL_checkinteger(L, 2));
  return 2;
}

void lrv_open_step(lua_State *L) {
  static const luaL_Reg fns[] = { { "split_test", l_split_test }, { "cast", l_cast },
                                  { "split_kind", l_split_kind }, { "new_vars", l_new_vars },
                                  { NULL, NULL } };
  sid_source *src = (sid_source *)lua_newuserdatauv(L, sizeof *src, 0);
  memset(src, 0, sizeof *src);           /* random bytes on first use: a cold start pays nothing */
  lua_pushvalue(L, -1);
  lua_pushcclosure(L, l_sid, 1);
  lua_setfield(L, -3, "sid");
  lrv_open_hot(L, lua_gettop(L));        /* the hot path makes its SIDs from the same source */
  lua_pop(L, 1);
  luaL_setfuncs(L, fns, 0);
}
