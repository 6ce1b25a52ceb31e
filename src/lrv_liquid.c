/*
** rivulet.core's Liquid: compile to a Template userdata, render it against Lua tables read
** in place (rawget only, so no metamethod runs mid-render). Tables the renderer holds are
** anchored in a per-render `refs` table; a handle is an index into it.
*/
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "liquid.h"
#include "lrv.h"

typedef struct tpl_box { lq_template *t; } tpl_box;

#define ARRAY_MTS_KEY lrv_array_mts_key       /* registry: set of metatables that mark arrays */

/* ---- Template ---- */

static tpl_box *check_tpl(lua_State *L, int idx) {
  tpl_box *b = luaL_checkudata(L, idx, LRV_TEMPLATE);
  if (!b->t) luaL_error(L, "attempt to use a freed template");
  return b;
}

static int tpl_gc(lua_State *L) {
  tpl_box *b = luaL_checkudata(L, 1, LRV_TEMPLATE);
  lq_template_free(b->t);
  b->t = NULL;
  return 0;
}

static int tpl_tostring(lua_State *L) {
  tpl_box *b = luaL_checkudata(L, 1, LRV_TEMPLATE);
  lua_pushfstring(L, "%s (%p)", LRV_TEMPLATE, (void *)b->t);
  return 1;
}

/* liquid_compile(source, mode, name) -> Template | nil, "name:line:col: message" */
static int l_compile(lua_State *L) {
  size_t len;
  const char *src = luaL_checklstring(L, 1, &len);
  static const char *const modes[] = { "lax", "strict", "strict2", NULL };
  int mode = luaL_checkoption(L, 2, "lax", modes);
  const char *name = luaL_optstring(L, 3, "template");
  lq_error err;
  tpl_box *b = lua_newuserdatauv(L, sizeof *b, 1);   /* closed until compiled; 1: its keys */
  b->t = NULL;
  luaL_setmetatable(L, LRV_TEMPLATE);
  b->t = lq_compile(src, len, mode == 0 ? LQ_MODE_LAX : LQ_MODE_STRICT, &err);
  if (!b->t) {
    luaL_pushfail(L);
    if (err.line) lua_pushfstring(L, "%s:%d:%d: %s", name, err.line, err.col, err.msg);
    else lua_pushfstring(L, "%s: %s", name, err.msg);
    return 2;
  }
  /* the collector cannot see the template's C memory: pace it as if Lua had allocated it */
  lua_gc(L, LUA_GCSTEP, (int)(lq_template_size(b->t) / 1024));
  return 1;
}

/* ---- the host: Lua values seen by the renderer ---- */

#define ANCHOR_CACHE 64            /* addresses of recently anchored values remembered (a power of 2) */
#define STACK_ANCHORS 10000        /* tables anchored on the Lua stack; the rest go into refs */
#define STACK_SLACK 32             /* free stack slots kept above the anchors for the callbacks */
#define STACK_GROW 256             /* slots reserved at a time */
#define KEY_TEMPLATES 16           /* templates per render whose prepared keys are used */
#define KEYS_FLAT 256              /* a template with at most this many keys has them on the stack */
#define VALUE_CACHE 256            /* lookups remembered (a power of 2) */
#define PARTIALS 8                 /* partials remembered by name in a render */
#define PARTIAL_NAME 64            /* longer names are not remembered */

/* A lookup remembered: obj[key number kid of template t], or item -kid - 1 of array obj
** when t is NULL. Valid while gen is the slot's generation: a render starts a new one, and
** so does any Lua code run mid-render (a partial loader), which could change the data. */
typedef struct vcache {
  intptr_t obj;
  const lq_template *t;
  int kid;
  unsigned gen;
  lq_value v;
} vcache;

/* A handle: > 0, the stack index of an anchored table; < 0, refs[-handle]. The renderer
** fetches a table and then its fields, over and over: a table anchored where it lands on the
** stack is read there in place, with no refs lookup, no copy and nothing to clear. */
typedef struct lhost {
  lua_State *L;
  int refs, nrefs, loader, arraymts;
  int top;                             /* the host's part of the stack ends here */
  int room;                            /* lua_checkstack has made room up to here */
  int nstack;                          /* tables anchored on the stack */
  int caches;                          /* refs holds a cache table (push_cache made one) */
  const void *seen[ANCHOR_CACHE];      /* anchor's cache: address -> handle, value type */
  intptr_t seen_h[ANCHOR_CACHE];
  int seen_type[ANCHOR_CACHE];
  vcache *vc;                          /* the slot's lookups (NULL: none) */
  unsigned *gen;                       /* the slot's generation */
  int nparts;                          /* partials loaded in this render, by name */
  struct { size_t n; const lq_template *t; char name[PARTIAL_NAME]; } parts[PARTIALS];
  /* the key tables (template userdata's user value 1: its keys as Lua strings) on the stack */
  const lq_template *cur_t;
  int cur_keys;
  int ntk;
  int cur_flat;
  const lq_template *tk_t[KEY_TEMPLATES];
  int tk_idx[KEY_TEMPLATES];
  int tk_flat[KEY_TEMPLATES];          /* its keys are on the stack too, key k at tk_idx + k */
  char err[256];
} lhost;

/* keeps the value on top of the stack where it is, as part of the host's stack; 0 when it
** cannot stay (not right above the host's part, or no more room) */
static int stay(lhost *h) {
  lua_State *L = h->L;
  int top = lua_gettop(L);
  if (top != h->top + 1 || h->nstack >= STACK_ANCHORS) return 0;
  if (top + STACK_SLACK > h->room) {
    if (!lua_checkstack(L, STACK_GROW)) { h->nstack = STACK_ANCHORS; return 0; }
    h->room = top + STACK_GROW;
  }
  h->top = top;
  h->nstack++;
  return 1;
}

static unsigned seen_slot(const void *p) {
  return (unsigned)(((uintptr_t)p >> 4) & (ANCHOR_CACHE - 1));
}

/* anchors the value on top of the stack (address p) and remembers its handle and type */
static intptr_t anchor_new(lhost *h, const void *p, int type) {
  unsigned slot = seen_slot(p);
  intptr_t hd;
  if (stay(h)) hd = h->top;
  else {
    lua_rawseti(h->L, h->refs, ++h->nrefs);
    hd = -(intptr_t)h->nrefs;
  }
  h->seen[slot] = p;
  h->seen_h[slot] = hd;
  h->seen_type[slot] = type;
  return hd;
}

/* The handle of the value on top of the stack; pops it unless it stays on the stack. A
** table fetched again and again (product in {{ product.title }}, in a loop) would be
** anchored once per fetch and grow the stack or refs without bound: a small cache by
** address finds its handle again. An address is the table's for the whole render, since
** the anchor keeps the table alive. */
static intptr_t anchor_top(lhost *h, int type) {
  const void *p = lua_topointer(h->L, -1);
  unsigned slot = seen_slot(p);
  if (p && h->seen[slot] == p) {
    lua_pop(h->L, 1);
    return h->seen_h[slot];
  }
  return anchor_new(h, p, type);
}

/* the stack index of handle obj's table; a refs handle's table is pushed */
static int obj_index(lhost *h, intptr_t obj) {
  if (obj > 0) return (int)obj;
  lua_rawgeti(h->L, h->refs, (lua_Integer)-obj);
  return lua_gettop(h->L);
}

static int is_array_table(lhost *h, int idx) {
  lua_State *L = h->L;
  int yes;
  if (lua_rawlen(L, idx) > 0) return 1;
  if (!lua_getmetatable(L, idx)) return 0;
  yes = lua_rawget(L, h->arraymts) != LUA_TNIL;
  lua_pop(L, 1);
  return yes;
}

/* the value at the top of the stack, of Lua type `type` (what the lua_rawget that pushed it
** returned) -> *out; pops it (or keeps it there as an anchor) */
static void to_value(lhost *h, int type, lq_value *out) {
  lua_State *L = h->L;
  switch (type) {
    case LUA_TBOOLEAN: out->type = LQ_BOOL; out->u.b = lua_toboolean(L, -1); break;
    case LUA_TNUMBER:
      if (lua_isinteger(L, -1)) { out->type = LQ_INT; out->u.i = (int64_t)lua_tointeger(L, -1); }
      else { out->type = LQ_FLOAT; out->u.f = (double)lua_tonumber(L, -1); }
      break;
    case LUA_TSTRING: {
      size_t n;
      out->u.s.p = lua_tolstring(L, -1, &n);   /* stays valid: its table is anchored */
      out->u.s.n = n;
      out->type = LQ_STR;
      break;
    }
    case LUA_TTABLE: {
      /* a table seen before: its handle and kind without asking Lua again */
      const void *p = lua_topointer(L, -1);
      unsigned slot = seen_slot(p);
      if (h->seen[slot] == p) {
        out->type = h->seen_type[slot];
        out->u.h = h->seen_h[slot];
        break;
      }
      out->type = is_array_table(h, -1) ? LQ_HOSTARR : LQ_HOSTHASH;
      out->u.h = anchor_new(h, p, out->type);
      return;
    }
    default:          /* nil, cjson.null, functions, userdata */
      out->type = LQ_NIL;
      out->u.i = 0;
  }
  lua_pop(L, 1);
}

/* obj[key], the key pushed and obj's table at stack index t */
static int get_pushed_key(lhost *h, intptr_t obj, int t, lq_value *out) {
  to_value(h, lua_rawget(h->L, t), out);
  if (obj < 0) lua_pop(h->L, 1);
  return 0;
}

static int h_get(void *ud, intptr_t obj, const char *key, size_t klen, lq_value *out) {
  lhost *h = ud;
  int t = obj_index(h, obj);
  lua_pushlstring(h->L, key, klen);
  return get_pushed_key(h, obj, t, out);
}

/* the stack index of template t's key table, or 0 when it is not on the stack */
static int keys_of(lhost *h, const lq_template *t) {
  int i;
  if (t == h->cur_t) return h->cur_keys;
  for (i = 0; i < h->ntk; i++)
    if (h->tk_t[i] == t) {
      h->cur_t = t;
      h->cur_flat = h->tk_flat[i];
      return h->cur_keys = h->tk_idx[i];
    }
  return 0;
}

/* what the cache holds is forgotten at once (a generation of 0 marks an empty entry) */
static void new_generation(unsigned *gen, vcache *vc) {
  if (++*gen == 0) {
    memset(vc, 0, VALUE_CACHE * sizeof *vc);
    *gen = 1;
  }
}

/* obj[kid] remembered (tp NULL: an array item), or the entry to fill, or NULL */
static inline vcache *cached(lhost *h, intptr_t obj, const lq_template *tp, int kid, lq_value *out) {
  vcache *e;
  if (!h->vc) return NULL;
  e = &h->vc[(((uintptr_t)obj * 0x9E3779B1u) ^ ((uintptr_t)kid * 0x85EBCA6Bu) ^ ((uintptr_t)tp >> 4))
             & (VALUE_CACHE - 1)];
  if (e->gen == *h->gen && e->obj == obj && e->kid == kid && e->t == tp) {
    *out = e->v;
    return NULL;
  }
  return e;
}

static void remember(lhost *h, vcache *e, intptr_t obj, const lq_template *tp, int kid, const lq_value *v) {
  e->gen = *h->gen;
  e->obj = obj;
  e->t = tp;
  e->kid = kid;
  e->v = *v;
}

/* A key by number: the template's key table holds it as a Lua string already, so the
** lookup skips making (hashing and interning) the string again; and the same lookup again
** in this render (product.price, settings.x in every card) is answered from the cache. */
static int h_get_key(void *ud, intptr_t obj, const lq_template *tp, int kid, lq_value *out) {
  lhost *h = ud;
  vcache *e = NULL;
  int kt, t;
  if (h->vc && !(e = cached(h, obj, tp, kid, out))) return 0;
  kt = keys_of(h, tp);
  if (!kt) {
    size_t n;
    const char *k = lq_template_key(tp, kid, &n);
    h_get(ud, obj, k ? k : "", n, out);
  } else {
    t = obj_index(h, obj);
    if (h->cur_flat) lua_pushvalue(h->L, kt + kid);
    else lua_rawgeti(h->L, kt, kid);
    get_pushed_key(h, obj, t, out);
  }
  if (e) remember(h, e, obj, tp, kid, out);
  return 0;
}

/* Pushes template t's key table (the template userdata at ud's user value 1), made on
** first use. */
static void push_keys(lua_State *L, int ud, const lq_template *t) {
  int k, n;
  if (lua_getiuservalue(L, ud, 1) == LUA_TTABLE) return;
  lua_pop(L, 1);
  n = lq_template_nkeys(t);
  lua_createtable(L, n, 0);
  for (k = 1; k <= n; k++) {
    size_t len;
    const char *p = lq_template_key(t, k, &len);
    lua_pushlstring(L, p, len);
    lua_rawseti(L, -2, k);
  }
  lua_pushvalue(L, -1);
  lua_setiuservalue(L, ud, 1);
}

/* The template userdata at stack index ud: its key table goes on the host's stack for
** h_get_key, while there is room; and, for a template of up to KEYS_FLAT keys, the keys
** themselves right above it (a lua_pushvalue finds one cheaper than a lua_rawgeti). */
static void add_keys(lhost *h, int ud, const lq_template *t) {
  lua_State *L = h->L;
  int n = lq_template_nkeys(t), k, flat = 0;
  if (h->ntk >= KEY_TEMPLATES || keys_of(h, t)) return;
  push_keys(L, ud, t);
  if (!stay(h)) { lua_pop(L, 1); return; }
  if (n <= KEYS_FLAT && h->nstack < STACK_ANCHORS && lua_checkstack(L, n + STACK_SLACK)) {
    for (k = 1; k <= n; k++) lua_rawgeti(L, h->top, k);
    if (h->top + n + STACK_SLACK > h->room) h->room = h->top + n + STACK_SLACK;
    h->top += n;
    flat = 1;
  }
  h->tk_t[h->ntk] = t;
  h->tk_flat[h->ntk] = flat;
  h->tk_idx[h->ntk++] = h->top - (flat ? n : 0);
  h->cur_t = NULL;                     /* keys_of looks again */
}

static int h_index(void *ud, intptr_t obj, int64_t i, lq_value *out) {
  lhost *h = ud;
  lua_State *L = h->L;
  vcache *e = NULL;
  int t;
  if (h->vc && i < INT_MAX && !(e = cached(h, obj, NULL, (int)-i - 1, out))) return 0;
  t = obj_index(h, obj);
  to_value(h, lua_rawgeti(L, t, (lua_Integer)i + 1), out);   /* Liquid counts from 0, Lua from 1 */
  if (obj < 0) lua_pop(L, 1);
  if (e) remember(h, e, obj, NULL, (int)-i - 1, out);
  return 0;
}

/* What the host worked out about a hash once in a render, kept in the refs table under
** these negative indices: a hash's keys and size are asked for again and again
** ({{ h.size }} or {{ h | first }} in a loop), and each answer costs a walk over the whole
** hash. */
#define KEYS_CACHE (-1)     /* table -> its string keys, in table order (for the engine to sort) */
#define OKEYS_CACHE (-2)    /* table -> its keys in the order its metatable's __keys gives */
#define LEN_CACHE (-3)      /* table -> how many string keys it has */

/* pushes the cache table at index `which` of refs, made on first use */
static void push_cache(lhost *h, lua_Integer which) {
  lua_State *L = h->L;
  if (lua_rawgeti(L, h->refs, which) == LUA_TTABLE) return;
  lua_pop(L, 1);
  lua_newtable(L);
  lua_pushvalue(L, -1);
  lua_rawseti(L, h->refs, which);
  h->caches = 1;
}

static int64_t h_len(void *ud, const lq_value *obj) {
  lhost *h = ud;
  lua_State *L = h->L;
  int64_t n = 0;
  int t = obj_index(h, obj->u.h);
  if (obj->type == LQ_HOSTARR) {
    n = (int64_t)lua_rawlen(L, t);
    if (obj->u.h > 0) return n;          /* nothing was pushed */
  } else {
    push_cache(h, LEN_CACHE);
    lua_pushvalue(L, t);
    if (lua_rawget(L, -2) == LUA_TNUMBER) n = (int64_t)lua_tointeger(L, -1);
    else {
      lua_pop(L, 1);
      lua_pushnil(L);
      while (lua_next(L, t)) {
        if (lua_type(L, -2) == LUA_TSTRING) n++;
        lua_pop(L, 1);
      }
      lua_pushvalue(L, t);
      lua_pushinteger(L, (lua_Integer)n);
      lua_rawset(L, -3);
    }
  }
  lua_settop(L, h->top);
  return n;
}

/* A Lua table has no order: a hash iterates in the order its metatable's __keys lists
** (what an order-keeping JSON decoder records); otherwise the engine sorts the keys, so
** output is reproducible (and the sort stays under the render's time limit). The table
** (refs[obj]) is at index t; pushes the keys array. */
static void make_keys(lhost *h, int t, int *ordered) {
  lua_State *L = h->L;
  lua_Integer n = 0;
  *ordered = 0;
  if (lua_getmetatable(L, t)) {
    if (lua_getfield(L, -1, "__keys") == LUA_TTABLE) {
      lua_Integer k, m = (lua_Integer)lua_rawlen(L, -1);
      lua_createtable(L, (int)m, 0);
      for (k = 1; k <= m; k++) {
        lua_rawgeti(L, -2, k);
        lua_pushvalue(L, -1);
        if (lua_type(L, -1) == LUA_TSTRING && lua_rawget(L, t) != LUA_TNIL) {
          lua_pop(L, 1);
          lua_rawseti(L, -2, ++n);
        } else lua_pop(L, 2);
      }
      lua_replace(L, -3);                      /* over the metatable */
      lua_pop(L, 1);
      *ordered = 1;
      return;
    }
    lua_pop(L, 2);
  }
  lua_newtable(L);
  lua_pushnil(L);
  while (lua_next(L, t)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) == LUA_TSTRING) {
      lua_pushvalue(L, -1);
      lua_rawseti(L, -3, ++n);
    }
  }
}

static int h_keys(void *ud, intptr_t obj, lq_value *out, int *ordered) {
  lhost *h = ud;
  lua_State *L = h->L;
  int top = h->top, t = obj_index(h, obj), c;
  push_cache(h, OKEYS_CACHE);                         /* c */
  c = lua_gettop(L);
  push_cache(h, KEYS_CACHE);                          /* c + 1 */
  lua_pushvalue(L, t);
  if (lua_rawget(L, c) == LUA_TTABLE) *ordered = 1;
  else {
    lua_pop(L, 1);
    lua_pushvalue(L, t);
    if (lua_rawget(L, c + 1) == LUA_TTABLE) *ordered = 0;
    else {
      lua_pop(L, 1);
      make_keys(h, t, ordered);
      lua_pushvalue(L, t);
      lua_pushvalue(L, -2);
      lua_rawset(L, *ordered ? c : c + 1);
    }
  }
  lua_replace(L, top + 1);                            /* the keys, right above the host's part */
  lua_settop(L, top + 1);
  out->type = LQ_HOSTARR;
  out->u.h = anchor_top(h, LQ_HOSTARR);
  return 0;
}

/* A partial is loaded once per render by name (as Ruby's cached_partials): a
** {% render %} in a loop asks for the same one each time. */
static int h_partial(void *ud, const char *name, size_t n, const lq_template **out) {
  lhost *h = ud;
  lua_State *L = h->L;
  int i;
  *out = NULL;
  if (lua_isnoneornil(L, h->loader)) return 0;
  for (i = 0; i < h->nparts; i++)
    if (h->parts[i].n == n && memcmp(h->parts[i].name, name, n) == 0) {
      *out = h->parts[i].t;
      return 0;
    }
  if (h->vc) new_generation(h->gen, h->vc);   /* Lua code runs: what was read may change */
  lua_pushvalue(L, h->loader);
  lua_pushlstring(L, name, n);
  if (lua_pcall(L, 1, 2, 0) != LUA_OK) {
    const char *m = lua_tostring(L, -1);
    strncpy(h->err, m ? m : "partial loader failed", sizeof h->err - 1);
    h->err[sizeof h->err - 1] = 0;
    lua_settop(L, h->top);
    return -1;
  }
  if (lua_isnil(L, -2)) {
    if (lua_isstring(L, -1)) {
      strncpy(h->err, lua_tostring(L, -1), sizeof h->err - 1);
      h->err[sizeof h->err - 1] = 0;
      lua_settop(L, h->top);
      return -1;
    }
    lua_settop(L, h->top);
    return 0;
  }
  {
    tpl_box *b = luaL_testudata(L, -2, LRV_TEMPLATE);
    intptr_t hd;
    if (!b || !b->t) {
      strncpy(h->err, "partial loader returned no template", sizeof h->err - 1);
      h->err[sizeof h->err - 1] = 0;
      lua_settop(L, h->top);
      return -1;
    }
    lua_pop(L, 1);
    hd = anchor_top(h, LQ_NIL);                /* the template lives while it renders */
    if (hd > 0) add_keys(h, (int)hd, b->t);
    *out = b->t;
    if (h->nparts < PARTIALS && n <= PARTIAL_NAME) {
      memcpy(h->parts[h->nparts].name, name, n);
      h->parts[h->nparts].n = n;
      h->parts[h->nparts++].t = b->t;
    }
  }
  return 0;
}

static const char *h_error(void *ud) {
  return ((lhost *)ud)->err;
}

/* ---- render ---- */

static int render_gc(lua_State *L) {
  lq_render_free(luaL_checkudata(L, 1, LRV_RENDER));
  return 0;
}

static int64_t opt_int(lua_State *L, int t, const char *k, int64_t def) {
  int64_t v = def;
  if (lua_getfield(L, t, k) != LUA_TNIL) {
    if (!lua_isinteger(L, -1)) luaL_error(L, "liquid option '%s' must be an integer", k);
    v = (int64_t)lua_tointeger(L, -1);
  }
  lua_pop(L, 1);
  return v;
}

static int opt_bool(lua_State *L, int t, const char *k) {
  int v;
  lua_getfield(L, t, k);
  v = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}

/* The options table at t -> *o, but for the name. Pushes the timezone and the loader
** (o->timezone points into the first, so it lives while that stack slot does). */
static void read_options(lua_State *L, int t, lq_options *o) {
  lq_options_init(o);
  o->strict_errors = opt_bool(L, t, "strict_errors");
  o->strict_variables = opt_bool(L, t, "strict_variables");
  o->strict_filters = opt_bool(L, t, "strict_filters");
  o->line_numbers = lua_getfield(L, t, "line_numbers") == LUA_TBOOLEAN && lua_toboolean(L, -1);
  lua_pop(L, 1);
  if (lua_getfield(L, t, "objects") == LUA_TSTRING && strcmp(lua_tostring(L, -1), "studio") == 0)
    o->objects = LQ_OBJECTS_STUDIO;
  lua_pop(L, 1);
  if (lua_getfield(L, t, "now") != LUA_TNIL) {
    o->has_now = 1;
    o->now = (int64_t)luaL_checknumber(L, -1);
  }
  lua_pop(L, 1);
  if (lua_getfield(L, t, "limits") == LUA_TTABLE) {
    int l = lua_gettop(L);
    o->limits.output_bytes = opt_int(L, l, "output_bytes", o->limits.output_bytes);
    o->limits.loop_iterations = opt_int(L, l, "loop_iterations", o->limits.loop_iterations);
    o->limits.depth = opt_int(L, l, "depth", o->limits.depth);
    o->limits.render_score = opt_int(L, l, "render_score", o->limits.render_score);
    o->limits.assign_score = opt_int(L, l, "assign_score", o->limits.assign_score);
    o->limits.memory = opt_int(L, l, "memory", o->limits.memory);
    o->limits.time_ms = opt_int(L, l, "time_ms", o->limits.time_ms);
  }
  lua_pop(L, 1);
  lua_getfield(L, t, "timezone");
  o->timezone = lua_tostring(L, -1);
  lua_getfield(L, t, "loader");
}

/* Prepared options (liquid_options): read once, for a caller that renders many times with
** the same ones (the engine renders every widget property). User values: 1 the timezone
** string (o.timezone points into it), 2 the loader. */
typedef struct prepared { lq_options o; } prepared;

/* liquid_options(options) -> Options: the table's options (as render takes them, but for
** name and now, which render takes per call) read once */
static int l_options(lua_State *L) {
  prepared *p;
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  p = lua_newuserdatauv(L, sizeof *p, 2);               /* 2 */
  luaL_setmetatable(L, LRV_LQOPTS);
  read_options(L, 1, &p->o);                            /* 3 timezone, 4 loader */
  p->o.name = NULL;
  p->o.has_now = 0;
  lua_setiuservalue(L, 2, 2);
  lua_setiuservalue(L, 2, 1);
  return 1;
}

/* One render state per Lua state, used again by every render (a render used to make a
** __gc userdata and a refs table each time: garbage on the hottest path there is). A render
** called from Lua marks it to be closed on the render's stack, so an error unwinding
** through the render frees what the state holds and makes the slot free again; the C entry
** (lrv_liquid_render) renders under a protected call of its own and does the same when that
** call fails. A render inside a render (a partial loader that renders) gets a state and a
** table of its own, as before. */
typedef struct render_slot {
  int busy;
  int stale;                      /* an error unwound through a render: refs is made anew */
  unsigned gen;                   /* the lookup cache's generation (vcache) */
  vcache vc[VALUE_CACHE];
  lq_render *r;                   /* in the same block, after this header */
} render_slot;

#define SLOT_HEAD ((sizeof(render_slot) + 15) & ~(size_t)15)

/* What a render reads at every call, found once per Lua state: upvalue 1 of the render
** method. User values: 1 the array metatables' set (ARRAY_MTS_KEY's), 2 the render slot
** (made on first use; its user value 1 is the refs table), 3 and 4 the Template and Options
** metatables (the pointers below stay valid while these hold them). */
typedef struct lq_state {
  const void *tpl_mt, *opts_mt;
  render_slot *slot;              /* NULL until the first render */
} lq_state;

static int slot_close(lua_State *L) {
  render_slot *s = lua_touserdata(L, 1);
  lq_render_free(s->r);
  if (s->busy && !lua_isnil(L, 2)) {   /* unwound mid-render: a fresh refs table, unreferenced */
    lua_newtable(L);
    lua_setiuservalue(L, 1, 1);
  }
  s->busy = 0;
  return 0;
}

static int slot_gc(lua_State *L) {
  render_slot *s = lua_touserdata(L, 1);
  lq_render_free(s->r);
  return 0;
}

/* The slot when it is free (marked busy; to be closed when `close`) -> its render state,
** with the slot and its refs table pushed; or NULL, nothing pushed, when it is in use. The
** state's userdata is at st_idx. */
static lq_render *take_slot(lua_State *L, lq_state *st, int st_idx, int close, render_slot **sp) {
  render_slot *s = st->slot;
  if (!s) {
    s = lua_newuserdatauv(L, SLOT_HEAD + lq_render_size(), 1);
    memset(s, 0, SLOT_HEAD);
    s->r = (lq_render *)(void *)((char *)s + SLOT_HEAD);
    lq_render_init(s->r);
    luaL_setmetatable(L, LRV_RENDER_SLOT);
    lua_newtable(L);
    lua_setiuservalue(L, -2, 1);
    lua_pushvalue(L, -1);
    lua_setiuservalue(L, st_idx, 2);
    st->slot = s;
  } else {
    if (s->busy) return NULL;
    lua_getiuservalue(L, st_idx, 2);
  }
  if (s->stale) {                 /* the refs of a render an error unwound: unreferenced */
    lua_newtable(L);
    lua_setiuservalue(L, -2, 1);
    s->stale = 0;
  }
  s->busy = 1;
  *sp = s;
  lq_render_init(s->r);
  if (close) lua_toclose(L, -1);
  lua_getiuservalue(L, -1, 1);
  return s->r;
}

/* empties the slot's refs table (at idx) for the next render: entries 1..n and the caches
** when the render made them */
static void clear_refs(lua_State *L, int idx, int n, int caches) {
  int i;
  for (i = 1; i <= n; i++) {
    lua_pushnil(L);
    lua_rawseti(L, idx, i);
  }
  if (!caches) return;
  for (i = KEYS_CACHE; i >= LEN_CACHE; i--) {
    lua_pushnil(L);
    lua_rawseti(L, idx, i);
  }
}

/* Renders template b (its userdata at stack index 1) against the context at stack index 2
** with options o (its name set), the loader at stack index `loader` and the state (st, its
** userdata at st_idx). The slot is to be closed when `close`; otherwise *taken says whether
** this render took it, for the caller to recover it when an error unwinds. Pushes the text
** -> 1, or fail and "name:line: message" -> 2. */
static int render_core(lua_State *L, lq_state *st, int st_idx, tpl_box *b, const lq_options *o,
                       int loader, int close, render_slot **taken) {
  lhost h;
  lq_host host;
  lq_render *r;
  lq_value root;
  int rc, base;
  render_slot *rs = NULL;
  lua_getiuservalue(L, st_idx, 1);                      /* base + 1: array metatables */
  base = lua_gettop(L) - 1;
  r = take_slot(L, st, st_idx, close, &rs);             /* base + 2 slot, base + 3 refs */
  if (!r) {
    lua_pushnil(L);                                     /* base + 2 */
    lua_newtable(L);                                    /* base + 3: refs */
    r = lua_newuserdatauv(L, lq_render_size(), 0);      /* base + 4: freed by __gc if we unwind */
    lq_render_init(r);
    luaL_setmetatable(L, LRV_RENDER);
  } else if (taken) *taken = rs;
  /* only what is read before it is written: parts, tk_* and err are read below their counts
  ** (or after a callback wrote them); seen_h and seen_type where seen matches */
  h.L = L;
  h.loader = loader;
  h.refs = base + 3;
  h.arraymts = base + 1;
  h.nrefs = 0;
  h.top = h.room = lua_gettop(L);
  h.nstack = 0;
  h.caches = 0;
  memset(h.seen, 0, sizeof h.seen);
  h.vc = NULL;
  h.gen = NULL;
  h.nparts = 0;
  h.cur_t = NULL;
  h.cur_keys = 0;
  h.ntk = 0;
  h.cur_flat = 0;
  h.err[0] = 0;
  if (rs) {                                             /* nothing cached yet */
    new_generation(&rs->gen, rs->vc);
    h.vc = rs->vc;
    h.gen = &rs->gen;
  }
  memset(&host, 0, sizeof host);
  host.ud = &h;
  host.get = h_get;
  host.get_key = h_get_key;
  host.index = h_index;
  host.len = h_len;
  host.keys = h_keys;
  host.partial = h_partial;
  host.error = h_error;
  lua_pushvalue(L, 1);                                  /* the template, for its keys */
  if (anchor_top(&h, LQ_NIL) > 0) add_keys(&h, h.top, b->t);
  root.type = LQ_HOSTHASH;
  root.u.h = 2;                                         /* the context, anchored as an argument */
  rc = lq_render_run(r, b->t, &host, o, root);
  if (rs) clear_refs(L, base + 3, h.nrefs, h.caches);
  if (rc == 0) {
    size_t n;
    const char *s = lq_render_output(r, &n);
    lua_pushlstring(L, s, n);
    lq_render_free(r);
    if (rs && !close) rs->busy = 0;
    return 1;                                  /* closing the slot frees it for the next */
  }
  {
    const lq_error *e = lq_render_error(r);
    luaL_pushfail(L);
    if (e->line) lua_pushfstring(L, "%s:%d: %s", o->name, e->line, e->msg);
    else lua_pushfstring(L, "%s: %s", o->name, e->msg);
    lq_render_free(r);
    if (rs && !close) rs->busy = 0;
    return 2;
  }
}

/* Template:render(context, options) -> string | nil, err
** options (already checked by rivulet.liquid): strict_errors, strict_variables,
** strict_filters, timezone, now, name, objects ("studio" | "shopify"), limits = {...},
** loader = function(name) -> Template
** Template:render(context, prepared, name, now): prepared = liquid_options(...), name and
** now (epoch seconds) for this render, each optional */
static int l_render(lua_State *L) {
  lq_state *st = lua_touserdata(L, lua_upvalueindex(1));
  tpl_box *b;
  lq_options o;
  const char *name;
  prepared *p = NULL;
  /* a Template and prepared options, told by their metatables' addresses (what
  ** luaL_checkudata and luaL_testudata compare, without looking the names up) */
  if (lua_type(L, 1) == LUA_TUSERDATA && lua_getmetatable(L, 1)) {
    b = lua_topointer(L, -1) == st->tpl_mt ? lua_touserdata(L, 1) : NULL;
    lua_pop(L, 1);
    if (!b || !b->t) b = check_tpl(L, 1);
  } else b = check_tpl(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  if (lua_isnoneornil(L, 3)) { lua_settop(L, 2); lua_newtable(L); }
  else if (lua_type(L, 3) == LUA_TUSERDATA && lua_getmetatable(L, 3)) {
    if (lua_topointer(L, -1) == st->opts_mt) p = lua_touserdata(L, 3);
    lua_pop(L, 1);
  }
  if (p) {
    lua_settop(L, 5);
    o = p->o;
    name = lua_isstring(L, 4) ? lua_tostring(L, 4) : "template";
    if (!lua_isnil(L, 5)) {
      o.has_now = 1;
      o.now = (int64_t)luaL_checknumber(L, 5);
    }
    lua_getiuservalue(L, 3, 1);                /* 6: the timezone, kept alive by p anyway */
    lua_getiuservalue(L, 3, 2);                /* 7: loader */
  } else {
    luaL_checktype(L, 3, LUA_TTABLE);
    lua_settop(L, 3);
    lua_getfield(L, 3, "name");                /* 4 */
    name = lua_isstring(L, 4) ? lua_tostring(L, 4) : "template";
    lua_pushnil(L);                            /* 5 */
    read_options(L, 3, &o);                    /* 6 timezone, 7 loader */
  }
  o.name = name;
  return render_core(L, st, lua_upvalueindex(1), b, &o, 7, 1, NULL);
}

/* the C entry's protected part: 1 template, 2 context, 3 prepared, 4 state, 5 its
** arguments (checked by lrv_liquid_render) */
typedef struct direct {
  lq_state *st;
  const char *name;
  int has_now;
  lua_Number now;
  render_slot *taken;
} direct;

static int render_direct(lua_State *L) {
  direct *a = lua_touserdata(L, 5);
  tpl_box *b = lua_touserdata(L, 1);
  lq_options o = ((prepared *)lua_touserdata(L, 3))->o;   /* its timezone lives in it */
  o.name = a->name;
  if (a->has_now) {
    o.has_now = 1;
    o.now = (int64_t)a->now;
  }
  lua_getiuservalue(L, 3, 2);                  /* 6: loader */
  return render_core(L, a->st, 4, b, &o, 6, 0, &a->taken);
}

/* the lq_state of render method fn (the Template metatable's __index.render), or NULL
** when fn is not that method */
static lq_state *state_of(lua_State *L, int fn) {
  lq_state *st;
  if (lua_tocfunction(L, fn) != l_render) return NULL;
  lua_getupvalue(L, fn, 1);
  st = lua_touserdata(L, -1);
  lua_pop(L, 1);
  return st;
}

/* whether the value at idx is a userdata whose metatable is mt (told by its address, as
** luaL_testudata would, without looking the name up) */
static int has_mt(lua_State *L, int idx, const void *mt) {
  int ok;
  if (lua_type(L, idx) != LUA_TUSERDATA || !lua_getmetatable(L, idx)) return 0;
  ok = lua_topointer(L, -1) == mt;
  lua_pop(L, 1);
  return ok;
}

int64_t lrv_liquid_output_limit(lua_State *L, int fn, int opts) {
  lq_state *st = state_of(L, fn);
  if (!st || !has_mt(L, opts, st->opts_mt)) return -1;
  return ((const prepared *)lua_touserdata(L, opts))->o.limits.output_bytes;
}

int lrv_liquid_render(lua_State *L, int fn, int tpl, int ctx, int opts, const char *name,
                      int has_now, lua_Number now) {
  direct a;
  const tpl_box *b;
  fn = lua_absindex(L, fn);
  tpl = lua_absindex(L, tpl);
  ctx = lua_absindex(L, ctx);
  opts = lua_absindex(L, opts);
  a.st = state_of(L, fn);
  if (!a.st || lua_type(L, ctx) != LUA_TTABLE || !has_mt(L, tpl, a.st->tpl_mt)
      || !has_mt(L, opts, a.st->opts_mt))
    return -1;
  b = lua_touserdata(L, tpl);
  if (!b->t) return -1;
  a.name = name;
  a.has_now = has_now;
  a.now = now;
  a.taken = NULL;
  lua_pushcfunction(L, render_direct);
  lua_pushvalue(L, tpl);
  lua_pushvalue(L, ctx);
  lua_pushvalue(L, opts);
  lua_getupvalue(L, fn, 1);
  lua_pushlightuserdata(L, &a);
  if (lua_pcall(L, 5, 2, 0) != LUA_OK) {
    if (a.taken) {                 /* unwound mid-render: as slot_close does, but allocating */
      lq_render_free(a.taken->r);  /* nothing here, outside any protected call */
      a.taken->stale = 1;
      a.taken->busy = 0;
    }
    return 0;
  }
  if (lua_type(L, -2) == LUA_TSTRING) {
    lua_pop(L, 1);
    return 1;
  }
  lua_remove(L, -2);
  return 0;
}

/* liquid_array_mt(mt): tables with this metatable are arrays even when empty (cjson's) */
static int l_array_mt(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &ARRAY_MTS_KEY);
  lua_pushvalue(L, 1);
  lua_pushboolean(L, 1);
  lua_rawset(L, -3);
  return 0;
}

void lrv_open_liquid(lua_State *L) {
  static const luaL_Reg tpl_methods[] = {
    { "render", NULL },                    /* a closure: its state below */
    { NULL, NULL }
  };
  static const luaL_Reg tpl_meta[] = {
    { "__gc", tpl_gc },
    { "__close", tpl_gc },
    { "__tostring", tpl_tostring },
    { NULL, NULL }
  };
  static const luaL_Reg funcs[] = {
    { "liquid_compile", l_compile },
    { "liquid_array_mt", l_array_mt },
    { "liquid_options", l_options },
    { NULL, NULL }
  };
  static const luaL_Reg render_meta[] = { { "__gc", render_gc }, { NULL, NULL } };
  static const luaL_Reg slot_meta[] = { { "__gc", slot_gc }, { "__close", slot_close }, { NULL, NULL } };
  static const luaL_Reg options_meta[] = { { NULL, NULL } };
  int top;
  lrv_class(L, LRV_TEMPLATE, tpl_meta, tpl_methods);
  lrv_class(L, LRV_RENDER, render_meta, NULL);
  lrv_class(L, LRV_RENDER_SLOT, slot_meta, NULL);
  lrv_class(L, LRV_LQOPTS, options_meta, NULL);
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &ARRAY_MTS_KEY) == LUA_TNIL) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_newtable(L);                       /* weak keys: metatables can go away */
    lua_pushliteral(L, "k");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &ARRAY_MTS_KEY);
  } else lua_pop(L, 1);
  top = lua_gettop(L);
  luaL_getmetatable(L, LRV_TEMPLATE);
  if (lua_getfield(L, -1, "__index") == LUA_TTABLE
      && lua_getfield(L, -1, "render") != LUA_TFUNCTION) {   /* once a Lua state */
    lq_state *st = lua_newuserdatauv(L, sizeof *st, 4);
    st->slot = NULL;
    st->tpl_mt = lua_topointer(L, -4);
    lua_pushvalue(L, -4);
    lua_setiuservalue(L, -2, 3);
    luaL_getmetatable(L, LRV_LQOPTS);
    st->opts_mt = lua_topointer(L, -1);
    lua_setiuservalue(L, -2, 4);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &ARRAY_MTS_KEY);
    lua_setiuservalue(L, -2, 1);
    lua_pushcclosure(L, l_render, 1);
    lua_setfield(L, -3, "render");
  }
  lua_settop(L, top);
  luaL_setfuncs(L, funcs, 0);
  /* rivulet's own array marker: tables with this metatable are arrays even when empty */
  lua_newtable(L);
  lua_pushliteral(L, "rivulet.array");
  lua_setfield(L, -2, "__name");
  lua_pushcfunction(L, l_array_mt);
  lua_pushvalue(L, -2);
  lua_call(L, 1, 0);
  lua_setfield(L, -2, "array_mt");
}
