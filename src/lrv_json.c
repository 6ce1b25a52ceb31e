/*
** json_encode(value [, indent [, raw]]) -> string: JSON for the execution store, where a
** context is written at every step, and for everything rivulet prints or serves as JSON. Unlike lua-cjson 2.1 (14 significant digits) numbers come back
** exactly: integers as integers, floats in the shorter of %.15g and %.17g that reads back
** the same. Values JSON cannot hold are written as text, so a context always stores:
** "<function>", "<cycle>" (a table inside itself), "<too deep>". cjson.null (a NULL light
** userdata) is null; an empty table is {} unless its metatable marks it as an array
** (rivulet.liquid.array_mt, cjson's empty-array ones): then []. With indent, each level is
** indented by it and keys are sorted.
**
** The output is always valid UTF-8 (strict parsers reject anything else): a byte sequence in
** a string or key that is not well-formed UTF-8 is written as U+FFFD, one per maximal
** subpart (Unicode's recommended practice, as WHATWG's decoder and Python's "replace" do), so
** valid text round-trips byte for byte and only invalid bytes are lost. raw = true writes
** strings as the bytes they are instead: the store's own text, which only rivulet reads back
** (lua-cjson keeps such bytes), so that a context holding binary (a function's reply) is kept
** exactly and a resumed execution sees what it saw before.
**
** The output grows in an rv_buf (malloc), so the walk runs under lua_pcall: an error inside
** (memory, a __tostring of a key) frees the buffer before it propagates.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "lrv.h"

#define LRV_JSON_MAX_DEPTH 100      /* deeper tables are written as "<too deep>" */

typedef struct {
  rv_buf b;
  const char *indent;             /* NULL: compact */
  int raw;                        /* strings as their bytes, valid UTF-8 or not */
  const void *path[LRV_JSON_MAX_DEPTH];   /* the tables being written, outermost first: one
                                  ** met again inside them is a cycle (a C array, not a Lua
                                  ** table: no hashing and no garbage per table written) */
} Enc;

/* ESCAPE[c]: 1 when byte c cannot be copied as it is (a control, '"', '\\', DEL), 2 when
** it starts a multi-byte sequence to check (unless raw) */
static const unsigned char ESCAPE[256] = {
  1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,
  0,0,1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
  0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1,0,0,0,
  0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1,
  2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,
  2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,
  2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,
  2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,
};

/* The length of the well-formed UTF-8 sequence at s[0] (lead byte >= 0x80), or 0 when it
** is not one; then *bad is the length of its maximal subpart (Unicode 15, §3.9, D93b and
** Table 3-7: the lead byte and the continuation bytes that could still have made it valid),
** which is replaced by one U+FFFD. */
static size_t utf8_len(const unsigned char *s, size_t n, size_t *bad) {
  unsigned char c = s[0], lo = 0x80, hi = 0xBF;
  size_t len, i;
  if (c >= 0xC2 && c <= 0xDF) len = 2;
  else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;               /* overlong */
    else if (c == 0xED) hi = 0x9F;          /* UTF-16 surrogates */
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;               /* overlong */
    else if (c == 0xF4) hi = 0x8F;          /* over U+10FFFF */
  } else {
    *bad = 1;                               /* a continuation byte, C0, C1, F5-FF */
    return 0;
  }
  for (i = 1; i < len; i++) {
    if (i >= n || s[i] < lo || s[i] > hi) {
      *bad = i;
      return 0;
    }
    lo = 0x80;                              /* only the second byte has narrower bounds */
    hi = 0xBF;
  }
  return len;
}

static void add_string(rv_buf *b, const char *s, size_t n, int raw) {
  static const char hex[] = "0123456789abcdef";
  size_t i, start = 0;
  const unsigned char *u8 = (const unsigned char *)s;
  unsigned char stop = raw ? 1 : 3;          /* the ESCAPE bits that need a look */
  rv_buf_addc(b, '"');
  for (i = 0; i < n; i++) {
    unsigned char c;
    char u[7];
    const char *esc = NULL;
    while (i < n && !(ESCAPE[u8[i]] & stop)) i++;   /* plain text: copied in one run below */
    if (i == n) break;
    c = u8[i];
    if (c >= 0x80) {
      size_t bad = 0, len = raw ? 1 : utf8_len((const unsigned char *)s + i, n - i, &bad);
      if (len > 0) {
        i += len - 1;                       /* kept as it is */
        continue;
      }
      rv_buf_add(b, s + start, i - start);
      rv_buf_adds(b, "\xEF\xBF\xBD");      /* U+FFFD REPLACEMENT CHARACTER */
      i += bad - 1;
      start = i + 1;
      continue;
    }
    switch (c) {
    case '"': esc = "\\\""; break;
    case '\\': esc = "\\\\"; break;
    case '\n': esc = "\\n"; break;
    case '\r': esc = "\\r"; break;
    case '\t': esc = "\\t"; break;
    case '\b': esc = "\\b"; break;
    case '\f': esc = "\\f"; break;
    default:
      if (c < 0x20 || c == 0x7f) {
        memcpy(u, "\\u00", 4);
        u[4] = hex[c >> 4];
        u[5] = hex[c & 15];
        u[6] = '\0';
        esc = u;
      }
    }
    if (esc) {
      rv_buf_add(b, s + start, i - start);
      rv_buf_adds(b, esc);
      start = i + 1;
    }
  }
  rv_buf_add(b, s + start, n - start);
  rv_buf_addc(b, '"');
}

static void add_number(lua_State *L, rv_buf *b, int idx) {
  char tmp[40];
  double d;
  if (lua_isinteger(L, idx)) {         /* as LUA_INTEGER_FMT writes it, without printf */
    lua_Integer v = lua_tointeger(L, idx);
    lua_Unsigned u = v < 0 ? 0 - (lua_Unsigned)v : (lua_Unsigned)v;
    char *end = tmp + sizeof tmp, *p = end;
    do *--p = (char)('0' + u % 10); while ((u /= 10) != 0);
    if (v < 0) *--p = '-';
    rv_buf_add(b, p, (size_t)(end - p));
    return;
  }
  d = (double)lua_tonumber(L, idx);
  if (isnan(d) || isinf(d)) {
    rv_buf_adds(b, "null");
    return;
  }
  snprintf(tmp, sizeof tmp, "%.15g", d);
  if (strtod(tmp, NULL) != d) snprintf(tmp, sizeof tmp, "%.17g", d);
  rv_buf_adds(b, tmp);
}

static void newline(Enc *e, int depth) {
  int i;
  if (!e->indent) return;
  rv_buf_addc(&e->b, '\n');
  for (i = 0; i < depth; i++) rv_buf_adds(&e->b, e->indent);
}

static void encode(lua_State *L, Enc *e, int idx, int depth);

/* a table key as text, as tostring() would write it (on a copy: lua_next's key stays intact) */
static void add_key(lua_State *L, Enc *e, int key) {
  size_t n;
  const char *s;
  if (lua_type(L, key) == LUA_TSTRING) {
    s = lua_tolstring(L, key, &n);
    add_string(&e->b, s, n, e->raw);
    return;
  }
  lua_pushvalue(L, key);
  s = luaL_tolstring(L, -1, &n);
  add_string(&e->b, s, n, e->raw);
  lua_pop(L, 2);
}

/* an object's member: [key, value] at the top, the value popped */
static void add_member(lua_State *L, Enc *e, int *first, int depth) {
  if (!*first) rv_buf_addc(&e->b, ',');
  *first = 0;
  add_key(L, e, lua_gettop(L) - 1);
  rv_buf_addc(&e->b, ':');
  encode(L, e, lua_gettop(L), depth + 1);
  lua_pop(L, 1);
}

static int cmp_str(const void *a, const void *b) {
  const char *const *x = (const char *const *)a, *const *y = (const char *const *)b;
  return strcmp(*x, *y);
}

/* keys sorted by their text: {text -> key} and an array of the texts, then in order */
static void encode_sorted(lua_State *L, Enc *e, int t, int depth, lua_Integer count) {
  const char **texts;
  lua_Integer i = 0;
  int map;
  lua_createtable(L, 0, (int)count);
  map = lua_gettop(L);
  texts = (const char **)lua_newuserdatauv(L, (size_t)count * sizeof *texts, 0);
  lua_pushnil(L);
  while (lua_next(L, t)) {
    lua_pop(L, 1);
    lua_pushvalue(L, -1);
    texts[i] = luaL_tolstring(L, -1, NULL);        /* [key, key copy, text] */
    lua_pushvalue(L, -3);
    lua_rawset(L, map);                            /* map[text] = key; keeps text alive */
    lua_pop(L, 1);
    i++;
  }
  qsort(texts, (size_t)i, sizeof *texts, cmp_str);
  for (lua_Integer k = 0; k < i; k++) {
    if (k > 0) rv_buf_addc(&e->b, ',');
    newline(e, depth + 1);
    add_string(&e->b, texts[k], strlen(texts[k]), e->raw);
    rv_buf_adds(&e->b, ": ");
    lua_getfield(L, map, texts[k]);
    lua_rawget(L, t);
    encode(L, e, lua_gettop(L), depth + 1);
    lua_pop(L, 1);
  }
  lua_pop(L, 2);
}

/* whether the empty table at t is marked as an array (rivulet's array_mt, cjson's) */
static int is_array_mt(lua_State *L, int t) {
  int yes;
  if (!lua_getmetatable(L, t)) return 0;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &lrv_array_mts_key);
  if (!lua_istable(L, -1)) { lua_pop(L, 2); return 0; }
  lua_pushvalue(L, -2);
  yes = lua_rawget(L, -2) != LUA_TNIL;
  lua_pop(L, 3);
  return yes;
}

/* Keys in the order the table's metatable lists in __keys (an order-keeping JSON decode,
** rivulet.json's ordered decode), then any others; compact output only (indented output
** sorts). Returns 0 when the table has no __keys list. */
static int encode_listed(lua_State *L, Enc *e, int t, int depth) {
  lua_Integer m, k;
  int keys, set, first = 1;
  if (!lua_getmetatable(L, t)) return 0;
  if (lua_getfield(L, -1, "__keys") != LUA_TTABLE) { lua_pop(L, 2); return 0; }
  keys = lua_gettop(L);
  m = (lua_Integer)lua_rawlen(L, keys);
  lua_createtable(L, 0, (int)(m < 1024 ? m : 1024));
  set = lua_gettop(L);                            /* the keys written so far */
  for (k = 1; k <= m; k++) {
    lua_rawgeti(L, keys, k);                      /* key */
    if (lua_type(L, -1) != LUA_TSTRING) { lua_pop(L, 1); continue; }
    lua_pushvalue(L, -1);
    if (lua_rawget(L, set) != LUA_TNIL) { lua_pop(L, 2); continue; }   /* listed twice */
    lua_pop(L, 1);
    lua_pushvalue(L, -1);
    if (lua_rawget(L, t) == LUA_TNIL) { lua_pop(L, 2); continue; }     /* [key, value] */
    add_member(L, e, &first, depth);
    lua_pushboolean(L, 1);
    lua_rawset(L, set);                           /* set[key] = true */
  }
  lua_pushnil(L);
  while (lua_next(L, t)) {                        /* keys __keys did not list */
    lua_pushvalue(L, -2);
    if (lua_rawget(L, set) != LUA_TNIL) { lua_pop(L, 2); continue; }
    lua_pop(L, 1);
    add_member(L, e, &first, depth);
  }
  lua_settop(L, keys - 2);
  return 1;
}

static void encode_table(lua_State *L, Enc *e, int t, int depth) {
  lua_Integer len = (lua_Integer)lua_rawlen(L, t), count = 0, i;
  const void *self = lua_topointer(L, t);
  int k;
  for (k = 0; k < depth && k < LRV_JSON_MAX_DEPTH; k++) {
    if (e->path[k] == self) {
      rv_buf_adds(&e->b, "\"<cycle>\"");
      return;
    }
  }
  if (depth >= LRV_JSON_MAX_DEPTH) {
    rv_buf_adds(&e->b, "\"<too deep>\"");
    return;
  }
  luaL_checkstack(L, 8, "JSON nesting");
  e->path[depth] = self;
  if (len > 0) {                      /* a sequence, unless it has other keys too */
    lua_pushnil(L);
    while (lua_next(L, t)) {
      count++;
      lua_pop(L, 1);
    }
  }
  lua_pushnil(L);
  if (!lua_next(L, t)) {
    rv_buf_adds(&e->b, is_array_mt(L, t) ? "[]" : "{}");
    return;
  }
  if (len == 0 && !e->indent) {
    if (!lua_getmetatable(L, t)) {    /* a plain object: on from the pair just read */
      int first = 1;
      rv_buf_addc(&e->b, '{');
      do add_member(L, e, &first, depth); while (lua_next(L, t));
      rv_buf_addc(&e->b, '}');
      return;
    }
    lua_pop(L, 1);                    /* encode_listed looks at it again */
  }
  lua_pop(L, 2);
  if (len > 0 && count == len) {
    rv_buf_addc(&e->b, '[');
    for (i = 1; i <= len; i++) {
      if (i > 1) rv_buf_addc(&e->b, ',');
      newline(e, depth + 1);
      lua_rawgeti(L, t, i);
      encode(L, e, lua_gettop(L), depth + 1);
      lua_pop(L, 1);
    }
    newline(e, depth);
    rv_buf_addc(&e->b, ']');
    return;
  }
  rv_buf_addc(&e->b, '{');
  if (e->indent) {
    if (count == 0) {
      lua_pushnil(L);
      while (lua_next(L, t)) {
        count++;
        lua_pop(L, 1);
      }
    }
    encode_sorted(L, e, t, depth, count);
  } else if (!encode_listed(L, e, t, depth)) {
    int first = 1;
    lua_pushnil(L);
    while (lua_next(L, t)) {
      add_member(L, e, &first, depth);
    }
  }
  newline(e, depth);
  rv_buf_addc(&e->b, '}');
}

static void encode(lua_State *L, Enc *e, int idx, int depth) {
  switch (lua_type(L, idx)) {
  case LUA_TSTRING: {
    size_t n;
    const char *s = lua_tolstring(L, idx, &n);
    add_string(&e->b, s, n, e->raw);
    break;
  }
  case LUA_TNUMBER: add_number(L, &e->b, idx); break;
  case LUA_TBOOLEAN: rv_buf_adds(&e->b, lua_toboolean(L, idx) ? "true" : "false"); break;
  case LUA_TNIL: rv_buf_adds(&e->b, "null"); break;
  case LUA_TLIGHTUSERDATA:
    if (lua_touserdata(L, idx) == NULL) { rv_buf_adds(&e->b, "null"); break; }
    /* fall through */
  default:
    rv_buf_adds(&e->b, "\"<");
    rv_buf_adds(&e->b, luaL_typename(L, idx));
    rv_buf_adds(&e->b, ">\"");
    break;
  case LUA_TTABLE: encode_table(L, e, idx, depth); break;
  }
}

/* protected part: (enc, value) */
static int encode_protected(lua_State *L) {
  Enc *e = (Enc *)lua_touserdata(L, 1);
  encode(L, e, 2, 0);
  return 0;
}

static int l_json_encode(lua_State *L) {
  Enc e;
  int rc;
  luaL_checkany(L, 1);
  e.indent = luaL_optstring(L, 2, NULL);
  e.raw = lua_toboolean(L, 3);
  rv_buf_init(&e.b);
  rv_buf_reserve(&e.b, 1024);     /* a context's size at once: growing from 64 took 5 reallocs */
  lua_pushcfunction(L, encode_protected);
  lua_pushlightuserdata(L, &e);
  lua_pushvalue(L, 1);
  rc = lua_pcall(L, 2, 0, 0);
  if (rc != LUA_OK || e.b.oom) {
    rv_buf_free(&e.b);
    if (rc != LUA_OK) return lua_error(L);
    return luaL_error(L, "out of memory encoding JSON");
  }
  lua_pushlstring(L, e.b.p ? e.b.p : "", e.b.n);
  rv_buf_free(&e.b);
  return 1;
}

/* ---- json_shape: what lua-cjson's decode leaves to do ---------------------------------- */

/* json_shape(text, value, ordered, unescape) walks valid JSON text (lua-cjson decoded it
** into value) beside value: a float that is integral (|x| < 2^53) becomes an integer, as
** Studio's JavaScript prints it ({{parsed.number}} is 4, not 4.0); with ordered, every
** object of two keys or more gets a metatable whose __keys lists them as written (Studio
** prints an object in its document's order; rivulet.liquid and json_encode follow __keys).
** A key with an escape is decoded by unescape(quoted key). A key written twice is listed
** once, where it first appears; each occurrence is walked with the value lua-cjson kept.
** In C because a Lua scanner was most of a small reply's decode (bench/scale's profile). */
typedef struct {
  const char *s;
  size_t n, pos;
  int ordered, unescape;           /* unescape: stack index of the key decoder */
} Walk;

#define JSON_SHAPE_SEEN_AFTER 8    /* more keys than this: a set finds the repeated ones */

static void walk_ws(Walk *w) {
  while (w->pos < w->n) {
    char c = w->s[w->pos];
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n') break;
    w->pos++;
  }
}

/* w->pos at an opening quote: the index of the closing one; *esc when it holds a backslash */
static size_t walk_string_end(Walk *w, int *esc) {
  size_t i = w->pos + 1;
  *esc = 0;
  while (i < w->n) {
    char c = w->s[i];
    if (c == '"') return i;
    if (c == '\\') {
      *esc = 1;
      i += 2;
    } else {
      i++;
    }
  }
  return w->n;
}

/* t[k] (k at the stack top, popped) made an integer when it is an integral float */
static void integral_at(lua_State *L, int t) {
  lua_Number x;
  lua_pushvalue(L, -1);
  if (lua_rawget(L, t) == LUA_TNUMBER && !lua_isinteger(L, -1)) {
    x = lua_tonumber(L, -1);
    if (x == floor(x) && x > -9007199254740992.0 && x < 9007199254740992.0) {
      lua_pop(L, 1);
      lua_pushinteger(L, (lua_Integer)x);
      lua_rawset(L, t);
      return;
    }
  }
  lua_pop(L, 2);
}

static void walk_value(lua_State *L, Walk *w);

/* past an opening { or [: 1 when the container is empty (and then past its end too) */
static int walk_open(Walk *w, char close) {
  w->pos++;
  walk_ws(w);
  if (w->pos < w->n && w->s[w->pos] == close) {
    w->pos++;
    return 1;
  }
  return 0;
}

/* walks a member's value (its decoded value at the top, popped) and what follows it: 1 when
** that closes the container */
static int walk_item(lua_State *L, Walk *w, char close) {
  walk_value(L, w);
  lua_pop(L, 1);
  walk_ws(w);
  return w->pos >= w->n || w->s[w->pos++] == close;
}

/* walks the value at w->pos; the table it decoded to (or anything else) is at the top */
static void walk_value(lua_State *L, Walk *w) {
  int v = lua_gettop(L), is_table = lua_type(L, v) == LUA_TTABLE;
  char c;
  luaL_checkstack(L, 8, "JSON nesting");
  walk_ws(w);
  if (w->pos >= w->n) return;
  c = w->s[w->pos];
  if (c == '{') {
    int keys = 0, seen = 0, esc;
    lua_Integer nkeys = 0;
    if (walk_open(w, '}')) return;
    if (w->ordered) {
      lua_newtable(L);
      keys = lua_gettop(L);
      lua_pushnil(L);                                   /* the set's slot, once needed */
    }
    while (w->pos < w->n) {
      size_t q;
      int fresh = 1;
      walk_ws(w);
      q = walk_string_end(w, &esc);
      if (esc) {
        lua_pushvalue(L, w->unescape);
        lua_pushlstring(L, w->s + w->pos, q + 1 - w->pos);
        lua_call(L, 1, 1);
      } else {
        lua_pushlstring(L, w->s + w->pos + 1, q - w->pos - 1);
      }
      w->pos = q + 1;                                   /* [key] */
      if (keys) {
        if (seen) {
          lua_pushvalue(L, -1);
          fresh = lua_rawget(L, seen) == LUA_TNIL;
          lua_pop(L, 1);
        } else {
          lua_Integer i;
          for (i = 1; i <= nkeys && fresh; i++) {
            lua_rawgeti(L, keys, i);
            fresh = !lua_rawequal(L, -1, -2);
            lua_pop(L, 1);
          }
        }
        if (fresh) {
          lua_pushvalue(L, -1);
          lua_rawseti(L, keys, ++nkeys);
          if (nkeys == JSON_SHAPE_SEEN_AFTER + 1) {     /* from here on, a set */
            lua_Integer i;
            lua_createtable(L, 0, (int)nkeys * 2);
            for (i = 1; i <= nkeys; i++) {
              lua_rawgeti(L, keys, i);
              lua_pushboolean(L, 1);
              lua_rawset(L, -3);
            }
            lua_replace(L, keys + 1);
            seen = keys + 1;
          } else if (seen) {
            lua_pushvalue(L, -1);
            lua_pushboolean(L, 1);
            lua_rawset(L, seen);
          }
        }
      }
      walk_ws(w);
      w->pos++;                                         /* : */
      if (is_table) {
        lua_pushvalue(L, -1);
        integral_at(L, v);
        lua_rawget(L, v);                               /* [key] -> [value] */
      } else {
        lua_pop(L, 1);
        lua_pushnil(L);
      }
      if (walk_item(L, w, '}')) break;
    }
    if (keys && nkeys > 1 && is_table && !lua_getmetatable(L, v)) {
      lua_createtable(L, 0, 1);
      lua_pushvalue(L, keys);
      lua_setfield(L, -2, "__keys");
      lua_setmetatable(L, v);
    }
    lua_settop(L, v);
  } else if (c == '[') {
    lua_Integer i = 0;
    if (walk_open(w, ']')) return;
    while (w->pos < w->n) {
      i++;
      if (is_table) {
        lua_pushinteger(L, i);
        integral_at(L, v);
        lua_rawgeti(L, v, i);
      } else {
        lua_pushnil(L);
      }
      if (walk_item(L, w, ']')) break;
    }
  } else if (c == '"') {
    int esc;
    w->pos = walk_string_end(w, &esc) + 1;
  } else {                                              /* a number, true, false, null */
    while (w->pos < w->n) {
      c = w->s[w->pos];
      if (c == ',' || c == ']' || c == '}' || c == ' ' || c == '\t' || c == '\r' || c == '\n') break;
      w->pos++;
    }
  }
}

static int l_json_shape(lua_State *L) {
  Walk w;
  w.s = luaL_checklstring(L, 1, &w.n);
  w.pos = 0;
  w.ordered = lua_toboolean(L, 3);
  luaL_checktype(L, 4, LUA_TFUNCTION);
  w.unescape = 4;
  lua_settop(L, 4);
  lua_pushvalue(L, 2);
  walk_value(L, &w);
  return 0;
}

void lrv_open_json(lua_State *L) {
  lua_pushcfunction(L, l_json_shape);
  lua_setfield(L, -2, "json_shape");
  lua_pushcfunction(L, l_json_encode);
  lua_setfield(L, -2, "json_encode");
  lua_pushinteger(L, LRV_JSON_MAX_DEPTH);
  lua_setfield(L, -2, "json_max_depth");
  /* lua-cjson's null, without loading lua-cjson: a NULL light userdata equals any other */
  lua_pushlightuserdata(L, NULL);
  lua_setfield(L, -2, "json_null");
}
