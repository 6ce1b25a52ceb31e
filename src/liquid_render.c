/*
** Liquid renderer: walks the tree of liquid_parse.c against data reached through an lq_host.
** Temporaries live in a per-render arena (released after each output node); variables live
** in small maps; every loop, nesting level and output byte is counted against the limits.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "liquid_filters.h"
#include "liquid_tree.h"
#include "liquid_value.h"

/* ---- variables ---- */

typedef struct lq_var {
  const char *name; size_t nlen;
  size_t hash;                     /* lq_hash of name */
  lq_value v;
  struct lq_var *next;
} lq_var;

typedef struct lq_map {            /* small string-keyed map in the render arena */
  lq_var **slot; size_t cap, n;
} lq_map;

typedef struct lq_scope {          /* loop variables, include arguments */
  lq_var *vars;
  struct lq_scope *up;
} lq_scope;

struct lq_ctx {                    /* one variable environment; `render` makes a fresh one */
  lq_value root;
  lq_map assigns, counters, cycles, offsets;
  lq_scope *scope;
  lq_loop *loop;
};

/* ---- maps ---- */

/* a variable lookup's helpers go into its one hot caller: their calls cost more than the
** work (a name found in a few compares) */
#if defined(__GNUC__)
#define LOOKUP_INLINE inline __attribute__((always_inline))
#else
#define LOOKUP_INLINE inline
#endif

/* names are short: compared a word at a time, inline (a memcmp call costs more than the
** bytes); from 4 bytes on, the last word overlaps the one before instead of a byte loop */
static LOOKUP_INLINE int same_name(const char *a, const char *b, size_t n) {
  uint32_t x, y, x2, y2;
  if (n < 4) {
    size_t i;
    for (i = 0; i < n; i++)
      if (a[i] != b[i]) return 0;
    return 1;
  }
  while (n > 8) {
    memcpy(&x, a, 4); memcpy(&y, b, 4);
    memcpy(&x2, a + 4, 4); memcpy(&y2, b + 4, 4);
    if ((x ^ y) | (x2 ^ y2)) return 0;
    a += 8; b += 8; n -= 8;
  }
  if (n < 4) { a -= 4 - n; b -= 4 - n; n = 4; }     /* stays within the name: it had > 8 */
  memcpy(&x, a, 4); memcpy(&y, b, 4);
  memcpy(&x2, a + n - 4, 4); memcpy(&y2, b + n - 4, 4);
  return !((x ^ y) | (x2 ^ y2));
}

static LOOKUP_INLINE lq_var *map_find_h(const lq_map *m, const char *k, size_t n, size_t h) {
  lq_var *v;
  if (!m->n) return NULL;
  for (v = m->slot[h & (m->cap - 1)]; v; v = v->next)
    if (v->hash == h && v->nlen == n && same_name(v->name, k, n)) return v;
  return NULL;
}

static lq_var *map_find(lq_map *m, const char *k, size_t n) {
  return m->n ? map_find_h(m, k, n, lq_hash(k, n)) : NULL;
}

/* Set k (copied) = val; returns the entry or NULL (fatal error set). */
static lq_var *map_set(lq_render *r, lq_map *m, const char *k, size_t n, const lq_value *val) {
  size_t h = lq_hash(k, n);
  lq_var *v = map_find_h(m, k, n, h);
  if (v) { v->v = *val; return v; }
  if (m->n + 1 > m->cap * 3 / 4) {
    size_t nc = m->cap ? m->cap * 2 : 16, i;
    lq_var **ns = lq_alloc(r, nc * sizeof *ns);
    if (!ns) return NULL;
    memset(ns, 0, nc * sizeof *ns);
    for (i = 0; i < m->cap; i++) {
      lq_var *e = m->slot[i];
      while (e) {
        lq_var *nx = e->next;
        size_t j = e->hash & (nc - 1);
        e->next = ns[j];
        ns[j] = e;
        e = nx;
      }
    }
    m->slot = ns;
    m->cap = nc;
  }
  v = lq_alloc(r, sizeof *v + n + 1);
  if (!v) return NULL;
  memcpy((char *)(v + 1), k, n);
  v->name = (const char *)(v + 1);
  v->nlen = n;
  v->hash = h;
  v->v = *val;
  h &= m->cap - 1;
  v->next = m->slot[h];
  m->slot[h] = v;
  m->n++;
  return v;
}

/* ---- output ---- */

/* the output from byte `at` on (a capture's or ifchanged's segment) */
static const char *out_at(const lq_render *r, size_t at) {
  return r->out.p ? r->out.p + at : "";
}

/* A capture or ifchanged renders its segment in place from byte `at`: the output_bytes
** limit holds for each segment, and the output stops growing just past it. */
static void set_seg(lq_render *r, size_t at) {
  int64_t lim = r->opt.limits.output_bytes;
  r->seg = at;
  r->out.max = lim > 0 && (uint64_t)lim < (size_t)-1 - at ? at + (size_t)lim : (size_t)-1;
}

static int out_fail(lq_render *r) {
  if (r->out.oom) return lq_fatal(r, "out of memory");
  if (r->out.full || (r->opt.limits.output_bytes > 0 && (int64_t)(r->out.n - r->seg) > r->opt.limits.output_bytes))
    return lq_fatal(r, "output_bytes limit exceeded (%lld bytes)", (long long)r->opt.limits.output_bytes);
  return R_OK;
}

/* after every node: out.max is seg + the limit (set_seg), so the common case is one test */
static inline int out_check(lq_render *r) {
  if (!(r->out.oom | r->out.full) && r->out.n <= r->out.max) return R_OK;
  return out_fail(r);
}

/* ---- expressions ---- */

static int eval_any(lq_render *r, const lq_expr *x, lq_value *out);

/* a literal (a filter's argument, a comparison's right side) without eval_any's frame */
static inline int eval(lq_render *r, const lq_expr *x, lq_value *out) {
  if (x->kind == X_LIT) { *out = x->lit; return R_OK; }
  return eval_any(r, x, out);
}

/* h: the name's lq_hash, or 0 to have it computed when needed; kid: its key number in the
** template being rendered, or 0 */
static LOOKUP_INLINE int find_var_h(lq_render *r, const char *k, size_t n, size_t h, int kid, lq_value *out) {
  lq_ctx *c = r->ctx;
  lq_scope *s;
  lq_var *v;
  if (!h && (c->scope || c->assigns.n || c->counters.n)) h = lq_hash(k, n);
  for (s = c->scope; s; s = s->up)
    for (v = s->vars; v; v = v->next)
      if (v->hash == h && v->nlen == n && same_name(v->name, k, n)) { *out = v->v; return 1; }
  if ((v = map_find_h(&c->assigns, k, n, h))) { *out = v->v; return 1; }
  if ((v = map_find_h(&c->counters, k, n, h))) { *out = v->v; return 1; }
  if (c->root.type == LQ_HOSTHASH) {
    if (lq_host_get(r, c->root.u.h, k, n, kid, out)) return R_ERR;
    return out->type != LQ_NIL;
  }
  *out = lq_nil();
  return 0;
}

/* Ruby records undefined variables and filters without printing them inline */
static int find_var(lq_render *r, const char *k, size_t n, lq_value *out) {
  return find_var_h(r, k, n, 0, 0, out);
}

static int undefined(lq_render *r, const char *k, size_t n) {
  r->err_silent = 1;
  return lq_fail(r, "undefined variable %.*s", (int)(n > 60 ? 60 : n), k);
}

static int eval_var(lq_render *r, const lq_expr *x, lq_value *out) {
  lq_value cur;
  int i, found;
  if (x->name) {
    found = find_var_h(r, x->name, x->nlen, x->hash, x->kid, &cur);
    if (found < 0) return R_ERR;
    if (!found && r->opt.strict_variables) return undefined(r, x->name, x->nlen);
  } else {
    lq_value k;
    if (eval(r, x->root, &k)) return R_ERR;
    if (k.type == LQ_STR) {
      found = find_var(r, k.u.s.p, k.u.s.n, &cur);
      if (found < 0) return R_ERR;
    } else cur = lq_nil();
  }
  for (i = 0; i < x->nseg; i++) {
    const lq_seg *s = &x->segs[i];
    lq_value key, next;
    if (s->kind == SEG_KEY) key = lq_cstr(s->key, s->klen);
    else if (s->kind == SEG_INDEX) key = lq_int(s->index);
    else if (eval(r, s->e, &key)) return R_ERR;
    /* the common step, a named field of a host hash, goes straight to the host; lq_lookup
    ** has the rest, and a command (.size, .first, .last with a dot) the host lacks */
    if (s->kind == SEG_KEY && cur.type == LQ_HOSTHASH) {
      next = lq_nil();
      if (lq_host_get(r, cur.u.h, s->key, s->klen, s->kid, &next)) return R_ERR;
      if (next.type == LQ_NIL && s->index == 1 && lq_lookup(r, &cur, &key, 1, s->kid, &next))
        return R_ERR;
    } else if (lq_lookup(r, &cur, &key, s->kind == SEG_KEY && s->index == 1, s->kind == SEG_KEY ? s->kid : 0, &next))
      return R_ERR;
    if (next.type == LQ_NIL && r->opt.strict_variables) {
      if (key.type == LQ_STR) return undefined(r, key.u.s.p, key.u.s.n);
      r->err_silent = 1;
      return lq_fail(r, "undefined variable");
    }
    cur = next;
  }
  *out = cur;
  return R_OK;
}

static int range_end(lq_render *r, const lq_value *v, int64_t *out) {
  switch (v->type) {
    case LQ_INT: *out = v->u.i; return R_OK;
    case LQ_FLOAT: *out = lq_f2i(v->u.f); return R_OK;
    case LQ_NIL: *out = 0; return R_OK;
    case LQ_STR: *out = lq_to_int(v); return R_OK;
    default: return lq_fail(r, "invalid integer");
  }
}

static int eval_any(lq_render *r, const lq_expr *x, lq_value *out) {
  switch (x->kind) {
    case X_LIT: *out = x->lit; return R_OK;
    case X_VAR: return eval_var(r, x, out);
    case X_RANGE: {
      lq_value lo, hi;
      if (eval(r, x->lo, &lo) || eval(r, x->hi, &hi)) return R_ERR;
      out->type = LQ_RANGE;
      if (range_end(r, &lo, &out->u.r.lo) || range_end(r, &hi, &out->u.r.hi)) return R_ERR;
      return R_OK;
    }
  }
  return lq_fatal(r, "bad expression");
}

static int apply_filters(lq_render *r, const lq_fexpr *fx, lq_value *v) {
  int i, j;
  for (i = 0; i < fx->nf; i++) {
    const lq_fcall *f = &fx->f[i];
    lq_value argv[8], kwv[8], *av = argv, *kv = kwv;
    int given;
    if (!f->def) {
      if (r->opt.strict_filters) {
        r->err_silent = 1;
        return lq_fail(r, "undefined filter %.*s", (int)f->nlen, f->name);
      }
      continue;
    }
    /* keyword arguments travel as one trailing hash, as in Ruby; only `default` reads
    ** them by name, others see that position as nil */
    given = f->nargs + (f->nkw > 0 && strcmp(f->def->name, "default") != 0 ? 1 : 0);
    if (given > 8 && !(av = lq_alloc(r, (size_t)given * sizeof *av))) return R_ERR;
    if (f->nkw > 8 && !(kv = lq_alloc(r, (size_t)f->nkw * sizeof *kv))) return R_ERR;
    for (j = 0; j < f->nargs; j++) if (eval(r, f->args[j], &av[j])) return R_ERR;
    for (j = f->nargs; j < given; j++) av[j] = lq_nil();
    for (j = 0; j < f->nkw; j++) if (eval(r, f->kw[j].e, &kv[j])) return R_ERR;
    if (given < f->def->min || (f->def->max >= 0 && given > f->def->max)) {
      if (f->def->min == f->def->max)
        return lq_fail(r, "wrong number of arguments (given %d, expected %d)", given + 1, f->def->min + 1);
      return lq_fail(r, "wrong number of arguments (given %d, expected %d..%d)", given + 1,
                     f->def->min + 1, f->def->max + 1);
    }
    if (f->def->fn(r, v, given, av, f->nkw, f->kw, kv)) return R_ERR;
  }
  return R_OK;
}

static int eval_fexpr(lq_render *r, const lq_fexpr *fx, lq_value *out) {
  if (eval(r, fx->e, out)) return R_ERR;
  return apply_filters(r, fx, out);
}

static int eval_cond(lq_render *r, const lq_cond *c, int *res) {
  lq_value a, b;
  switch (c->kind) {
    case C_EXPR:
      if (eval(r, c->l, &a)) return R_ERR;
      *res = lq_truthy(&a);
      return R_OK;
    case C_AND:
      if (eval_cond(r, c->a, res)) return R_ERR;
      if (!*res) return R_OK;
      return eval_cond(r, c->b, res);
    case C_OR:
      if (eval_cond(r, c->a, res)) return R_ERR;
      if (*res) return R_OK;
      return eval_cond(r, c->b, res);
    case C_BAD:
      return lq_fail(r, "Unknown operator %.*s", (int)c->l->srclen, c->l->src);
    default: break;
  }
  if (eval(r, c->l, &a) || eval(r, c->r, &b)) return R_ERR;
  switch (c->op) {     /* a comparison that hit a limit has recorded a fatal error */
    case OP_EQ: *res = lq_equal(r, &a, &b); return r->fatal ? R_ERR : R_OK;
    case OP_NE: *res = !lq_equal(r, &a, &b); return r->fatal ? R_ERR : R_OK;
    case OP_CONTAINS: *res = lq_contains(r, &a, &b); return r->fatal ? R_ERR : R_OK;
    default: {
      int cmp, rc = lq_compare(r, &a, &b, &cmp);
      if (rc == R_ERR) return R_ERR;
      if (rc > 0) { *res = 0; return R_OK; }   /* not comparable: false */
      switch (c->op) {
        case OP_LT: *res = cmp < 0; break;
        case OP_GT: *res = cmp > 0; break;
        case OP_LE: *res = cmp <= 0; break;
        default: *res = cmp >= 0; break;
      }
      return R_OK;
    }
  }
}

/* ---- nodes ---- */

/* The per-tag renderers stay out of line: inlined, their locals would swell the frame of
** the loop every node goes through. */
#if defined(__GNUC__)
#define COLD_TAG __attribute__((noinline))
#else
#define COLD_TAG
#endif

static int render_body(lq_render *r, const lq_node *nd);
static int render_body_in(lq_render *r, const lq_node *nd);

static int count_iteration(lq_render *r) {
  if (lq_work(r, LQ_WORK_NODE)) return R_ERR;
  if (r->opt.limits.loop_iterations > 0 && ++r->iterations > r->opt.limits.loop_iterations)
    return lq_fatal(r, "loop_iterations limit exceeded (%lld)", (long long)r->opt.limits.loop_iterations);
  return R_OK;
}

static int64_t body_size(const lq_node *nd) {
  int64_t n = 0;
  for (; nd; nd = nd->next) n++;
  return n;
}

static int add_score(lq_render *r, const lq_node *body) {
  if (r->opt.limits.render_score > 0) {
    r->score += body_size(body);
    if (r->score > r->opt.limits.render_score)
      return lq_fatal(r, "render_score limit exceeded (%lld)", (long long)r->opt.limits.render_score);
  }
  return R_OK;
}

static int64_t assign_score_of(lq_render *r, const lq_value *v, int depth) {
  int64_t s = 1;
  if (v->type == LQ_STR) return (int64_t)v->u.s.n;
  /* deeper than this counts 1 per level: the score stays a bound, not an audit */
  if (depth < 32 && (v->type == LQ_ARRAY || v->type == LQ_HOSTARR || v->type == LQ_HOSTHASH)) {
    lq_array a;
    size_t i;
    if (lq_list(r, v, &a)) return 1;
    for (i = 0; i < a.n && !lq_work(r, LQ_WORK_ITEM); i++) s += assign_score_of(r, &a.v[i], depth + 1);
  }
  return s;
}

static int do_assign(lq_render *r, const char *k, size_t n, const lq_value *v) {
  if (r->opt.limits.assign_score > 0) {
    r->assigned += assign_score_of(r, v, 0);
    if (r->fatal) return R_ERR;                /* out of time counting it */
    if (r->assigned > r->opt.limits.assign_score)
      return lq_fatal(r, "assign_score limit exceeded (%lld)", (long long)r->opt.limits.assign_score);
  }
  return map_set(r, &r->ctx->assigns, k, n, v) ? R_OK : R_ERR;
}

static int to_loop_int(lq_render *r, const lq_expr *x, int64_t *out, int *set) {
  lq_value v;
  *set = 0;
  if (!x) return R_OK;
  if (eval(r, x, &v)) return R_ERR;
  if (v.type == LQ_NIL) return R_OK;
  *set = 1;
  if (v.type == LQ_INT) { *out = v.u.i; return R_OK; }
  if (v.type == LQ_FLOAT) {
    *out = lq_f2i(v.u.f);
    return R_OK;
  }
  if (v.type == LQ_STR) {
    const char *p = v.u.s.p, *e = p + v.u.s.n;
    char *end;
    char tmp[32];
    size_t n;
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\n')) p++;
    while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n')) e--;
    n = (size_t)(e - p);
    if (n == 0 || n > 20) return lq_fail(r, "invalid integer");
    memcpy(tmp, p, n);
    tmp[n] = 0;
    *out = strtoll(tmp, &end, 10);
    if (*end) return lq_fail(r, "invalid integer");
    return R_OK;
  }
  return lq_fail(r, "invalid integer");
}

/* The items of a loop after offset/limit: a materialised array, or a range kept lazy. */
typedef struct segment {
  int is_range;
  int64_t lo, n;        /* range: first value and count */
  lq_array a;
  size_t from;          /* array: first index into a */
} segment;

static int tablerow_int(lq_render *r, const lq_expr *x, int64_t *out, int *set);

static int collect(lq_render *r, const lq_node *nd, const lq_value *coll, segment *sg,
                   int64_t *from_out) {
  int64_t from = 0, lim = 0, len, to;
  int has_from, has_lim;
  lq_var *off = NULL;
  memset(sg, 0, sizeof *sg);
  int (*to_int)(lq_render *, const lq_expr *, int64_t *, int *) =
    nd->kind == N_TABLEROW ? tablerow_int : to_loop_int;
  if (nd->offset_continue) {
    off = map_find(&r->ctx->offsets, nd->text, nd->tlen);
    from = off ? off->v.u.i : 0;
  } else {
    if (to_int(r, nd->offset, &from, &has_from)) return R_ERR;
  }
  if (to_int(r, nd->limit, &lim, &has_lim)) return R_ERR;
  if (coll->type == LQ_STR) {
    /* a string is one item, whatever the offset and limit */
    sg->a.n = coll->u.s.n ? 1 : 0;
    if (!(sg->a.v = lq_alloc(r, sizeof(lq_value)))) return R_ERR;
    sg->a.v[0] = *coll;
    sg->n = (int64_t)sg->a.n;
    *from_out = from;
    return R_OK;
  }
  if (coll->type == LQ_RANGE) {
    len = lq_range_len(coll->u.r.lo, coll->u.r.hi);
    sg->is_range = 1;
  } else if (coll->type == LQ_HOSTHASH) {
    if (lq_pairs(r, coll, &sg->a)) return R_ERR;
    len = (int64_t)sg->a.n;
  } else if (coll->type == LQ_ARRAY || coll->type == LQ_HOSTARR) {
    len = lq_len(r, coll);
  } else {
    len = 0;
  }
  /* Ruby takes the items whose index is in [from, from + limit): a negative offset
  ** shortens the window rather than counting from the end */
  if (has_lim) {
    if (lim < 0) lim = 0;
    to = from > INT64_MAX - lim ? INT64_MAX : from + lim;
  } else to = len;
  if (to > len) to = len;
  if (from < 0) from = 0;
  if (from > len) from = len;
  sg->n = to > from ? to - from : 0;
  if (sg->is_range) sg->lo = (int64_t)((uint64_t)coll->u.r.lo + (uint64_t)from);   /* from <= len: no wrap */
  else if (coll->type == LQ_ARRAY) { sg->a = *coll->u.a; sg->from = (size_t)from; }
  else if (coll->type == LQ_HOSTARR) {
    /* only the slice we iterate is fetched from the host */
    int64_t i;
    lq_value *v = sg->n ? lq_alloc(r, (size_t)sg->n * sizeof *v) : NULL;
    if (sg->n && !v) return R_ERR;
    for (i = 0; i < sg->n; i++) {
      if (lq_work(r, LQ_WORK_ITEM)) return R_ERR;
      if (r->host->index(r->host->ud, coll->u.h, from + i, &v[i]))
        return lq_fatal(r, "%s", r->host->error ? r->host->error(r->host->ud) : "host failed");
    }
    sg->a.v = v;
    sg->a.n = (size_t)sg->n;
    sg->from = 0;
  } else sg->from = (size_t)from;
  *from_out = from;
  return R_OK;
}


/* a for/tablerow body's scope: the item variable and the loop object (forloop,
** tablerowloop) on top of the current scope; the caller pops it (r->ctx->scope = scope.up) */
static void enter_loop_scope(lq_render *r, lq_scope *scope, lq_var *vitem, lq_var *vloop,
                             const lq_node *nd, const char *loopname, lq_loop *loopp) {
  vloop->name = loopname;
  vloop->nlen = strlen(loopname);
  vloop->hash = lq_hash(loopname, vloop->nlen);
  vloop->v.type = LQ_LOOP;
  vloop->v.u.loop = loopp;
  vloop->next = NULL;
  vitem->name = nd->var;
  vitem->nlen = nd->vlen;
  vitem->hash = lq_hash(nd->var, nd->vlen);
  vitem->next = vloop;
  scope->vars = vitem;
  scope->up = r->ctx->scope;
  r->ctx->scope = scope;
}

static lq_value seg_item(const segment *sg, int64_t i, int reversed) {
  int64_t k = reversed ? sg->n - 1 - i : i;
  if (sg->is_range) return lq_int(sg->lo + k);
  return sg->a.v[sg->from + (size_t)k];
}

COLD_TAG static int render_for(lq_render *r, const lq_node *nd) {
  lq_value coll;
  segment sg;
  int64_t from, i;
  lq_scope scope;
  lq_var vitem, vloop;
  lq_loop *loopp;
  int rc = R_OK;
  if (eval(r, nd->subject, &coll)) return R_ERR;
  if (collect(r, nd, &coll, &sg, &from)) return R_ERR;
  if (!map_set(r, &r->ctx->offsets, nd->text, nd->tlen, &(lq_value){LQ_INT, {.i = from + sg.n}}))
    return R_ERR;
  if (sg.n == 0) return nd->alt ? render_body(r, nd->alt) : R_OK;
  /* the forloop drop can be assigned and outlive the loop: it lives in the arena */
  if (!(loopp = lq_alloc(r, sizeof *loopp))) return R_ERR;
  memset(loopp, 0, sizeof *loopp);
  loopp->length = sg.n;
  loopp->parent = r->ctx->loop;
  loopp->name = nd->loopname;
  loopp->nlen = nd->lnlen;
  loopp->name = nd->text;             /* "var-collection" */
  loopp->nlen = nd->tlen;
  enter_loop_scope(r, &scope, &vitem, &vloop, nd, "forloop", loopp);
  r->ctx->loop = loopp;
  for (i = 0; i < sg.n; i++) {
    loopp->index0 = i;
    if ((rc = count_iteration(r))) break;
    vitem.v = seg_item(&sg, i, nd->reversed);
    rc = render_body(r, nd->body);
    if (rc == R_BREAK) { rc = R_OK; break; }
    if (rc == R_CONTINUE) { rc = R_OK; continue; }
    if (rc) break;
  }
  loopp->index0 = i < sg.n ? i + 1 : sg.n;     /* as Ruby's drop after its last increment */
  r->ctx->scope = scope.up;
  r->ctx->loop = loopp->parent;
  return rc;
}

/* tablerow's attributes (Liquid 5.13): nil and non-numeric strings read as 0, other
** non-numbers are an invalid integer */
static int tablerow_int(lq_render *r, const lq_expr *x, int64_t *out, int *set) {
  lq_value v;
  *set = 0;
  if (!x) return R_OK;
  if (eval(r, x, &v)) return R_ERR;
  *set = 1;
  switch (v.type) {
    case LQ_NIL: *out = 0; return R_OK;
    case LQ_STR: *out = lq_to_int(&v); return R_OK;
    case LQ_INT: *out = v.u.i; return R_OK;
    case LQ_FLOAT: *out = lq_f2i(v.u.f); return R_OK;
    default: return lq_fail(r, "invalid integer");
  }
}

COLD_TAG static int render_tablerow(lq_render *r, const lq_node *nd) {
  lq_value coll;
  segment sg;
  int64_t from, i, cols = 0;
  int has_cols = 0;
  lq_scope scope;
  lq_var vitem, vloop;
  lq_loop *loopp;
  char tmp[96];
  int rc = R_OK;
  if (eval(r, nd->subject, &coll)) return R_ERR;
  if (!(lq_is_array(&coll) || coll.type == LQ_HOSTHASH || coll.type == LQ_STR)) return R_OK;
  if (nd->cols && tablerow_int(r, nd->cols, &cols, &has_cols)) return R_ERR;
  if (collect(r, nd, &coll, &sg, &from)) return R_ERR;
  if (!(loopp = lq_alloc(r, sizeof *loopp))) return R_ERR;
  memset(loopp, 0, sizeof *loopp);
  loopp->tablerow = 1;
  loopp->length = sg.n;
  loopp->cols = nd->cols ? (has_cols ? cols : 0) : sg.n;   /* no cols: one row */
  loopp->col0 = 0;
  loopp->row = 1;
  loopp->parent = r->ctx->loop;
  enter_loop_scope(r, &scope, &vitem, &vloop, nd, "tablerowloop", loopp);
  lq_buf_adds(&r->out, "<tr class=\"row1\">\n");
  for (i = 0; i < sg.n; i++) {
    int col_last;
    loopp->index0 = i;
    if ((rc = count_iteration(r))) break;
    vitem.v = seg_item(&sg, i, 0);
    snprintf(tmp, sizeof tmp, "<td class=\"col%lld\">", (long long)loopp->col0 + 1);
    lq_buf_adds(&r->out, tmp);
    rc = render_body(r, nd->body);
    if (rc == R_BREAK) { lq_buf_adds(&r->out, "</td>"); rc = R_OK; break; }
    if (rc == R_CONTINUE) rc = R_OK;
    if (rc) break;
    lq_buf_adds(&r->out, "</td>");
    col_last = loopp->cols > 0 ? loopp->col0 + 1 == loopp->cols : 0;
    if (col_last && i + 1 < sg.n) {
      snprintf(tmp, sizeof tmp, "</tr>\n<tr class=\"row%lld\">", (long long)loopp->row + 1);
      lq_buf_adds(&r->out, tmp);
    }
    if (col_last) { loopp->col0 = 0; loopp->row++; }
    else loopp->col0++;
    if ((rc = out_check(r))) break;
  }
  r->ctx->scope = scope.up;
  if (rc == R_OK) lq_buf_adds(&r->out, "</tr>\n");
  return rc;
}

COLD_TAG static int render_case(lq_render *r, const lq_node *nd) {
  lq_value subj;
  const lq_branch *b;
  int matched = 0;
  if (eval(r, nd->subject, &subj)) return R_ERR;
  for (b = nd->br; b; b = b->next) {
    int i, hit = 0, rc;
    if (b->nvals == 0) {                  /* else */
      if (matched) continue;
      rc = render_body(r, b->body);
      if (rc) return rc;
      continue;
    }
    /* Ruby makes each value of a `when` its own condition: every match renders */
    for (i = 0; i < b->nvals; i++) {
      lq_value v;
      if (eval(r, b->vals[i], &v)) return R_ERR;
      hit = lq_equal(r, &subj, &v);
      if (hit) {
        matched = 1;
        rc = render_body(r, b->body);
        if (rc) return rc;
      }
    }
  }
  return R_OK;
}

COLD_TAG static int render_cycle(lq_render *r, const lq_node *nd) {
  lq_value key, v;
  lq_var *e;
  int64_t idx;
  if (nd->group) {
    if (eval(r, nd->group, &key)) return R_ERR;
    if (lq_tostr(r, &key, &key)) return R_ERR;
  } else key = lq_cstr(nd->text, nd->tlen);
  e = map_find(&r->ctx->cycles, key.u.s.p, key.u.s.n);
  idx = e ? e->v.u.i : 0;
  /* Ruby keeps the position per group and reads it unchecked: a shorter cycle in the
  ** same group can print nothing */
  if (idx < nd->nvals) {
    if (eval(r, nd->vals[idx], &v)) return R_ERR;
    if (lq_write(r, &r->out, &v)) return R_ERR;
  }
  idx++;
  if (idx >= nd->nvals) idx = 0;
  if (!map_set(r, &r->ctx->cycles, key.u.s.p, key.u.s.n, &(lq_value){LQ_INT, {.i = idx}}))
    return R_ERR;
  return R_OK;
}

COLD_TAG static int render_counter(lq_render *r, const lq_node *nd) {
  lq_var *e = map_find(&r->ctx->counters, nd->text, nd->tlen);
  int64_t v = e ? e->v.u.i : 0;
  char tmp[32];
  if (nd->kind == N_DECREMENT) v--;
  lq_fmt_int(nd->kind == N_DECREMENT ? v : v, tmp);
  lq_buf_adds(&r->out, tmp);
  if (nd->kind == N_INCREMENT) v++;
  return map_set(r, &r->ctx->counters, nd->text, nd->tlen, &(lq_value){LQ_INT, {.i = v}}) ? R_OK : R_ERR;
}

/* The variable a with/for value is bound to: the alias, or the last path component of the
** partial's name. */
static void bind_name(const lq_node *nd, const lq_value *name, const char **bind, size_t *blen) {
  const char *s = name->u.s.p, *e = s + name->u.s.n, *q;
  if (nd->alias) { *bind = nd->alias; *blen = nd->alen; return; }
  for (q = e; q > s && q[-1] != '/'; q--) {}
  *bind = q;
  *blen = (size_t)(e - q);
}

static int load_partial(lq_render *r, const lq_node *nd, lq_value *name, const lq_template **t) {
  if (eval(r, nd->tname, name)) return R_ERR;
  if (name->type != LQ_STR)
    return lq_fail(r, "Argument error in tag '%s' - Illegal template name",
                   nd->kind == N_INCLUDE ? "include" : "render");
  if (nd->kind == N_INCLUDE && r->in_render)
    return lq_fail(r, "include usage is not allowed in this context");

  *t = NULL;
  if (r->host->partial && r->host->partial(r->host->ud, name->u.s.p, name->u.s.n, t)) {
    if (r->fatal) return R_ERR;
    r->err_noline = 1;
    return lq_fail(r, "%s", r->host->error ? r->host->error(r->host->ud) : "could not load partial");
  }
  if (!*t) {
    r->err_noline = 1;
    return lq_fail(r, "Could not find asset %.*s", (int)name->u.s.n, name->u.s.p);
  }
  return R_OK;
}

static int render_sub(lq_render *r, const lq_template *t, const char *pname) {
  const char *saved = r->pname;
  const lq_template *saved_t = r->tpl;
  int rc;
  if (pname) r->pname = pname;
  r->tpl = t;                          /* key numbers are the partial's from here */
  rc = render_body(r, t->body);
  r->tpl = saved_t;
  r->pname = saved;
  return rc;
}

/* {% include %}: shares the caller's variables; with/for and keyword arguments live in a
** scope of their own; an array value renders the partial once per item. */
COLD_TAG static int render_include(lq_render *r, const lq_node *nd) {
  lq_value name, var;
  const lq_template *t;
  const char *bind;
  size_t blen, k, n = 1;
  lq_array items;
  lq_scope scope;
  lq_var *vars;
  int i, rc = R_OK;
  if (load_partial(r, nd, &name, &t)) return R_ERR;
  bind_name(nd, &name, &bind, &blen);
  if (nd->subject) {
    if (eval(r, nd->subject, &var)) return R_ERR;
  } else if (find_var(r, name.u.s.p, name.u.s.n, &var) < 0) return R_ERR;
  items.n = 0;
  if (var.type == LQ_ARRAY || var.type == LQ_HOSTARR) {
    if (lq_list(r, &var, &items)) return R_ERR;
    n = items.n;
  }
  if (!(vars = lq_alloc(r, (size_t)(nd->nkw + 1) * sizeof *vars))) return R_ERR;
  for (k = 0; k < n && rc == R_OK; k++) {
    /* the bound value first, then each keyword in turn: later ones see earlier ones */
    vars[0].name = bind;
    vars[0].nlen = blen;
    vars[0].hash = lq_hash(bind, blen);
    vars[0].v = items.n ? items.v[k] : var;
    vars[0].next = NULL;
    scope.vars = &vars[0];
    scope.up = r->ctx->scope;
    r->ctx->scope = &scope;
    for (i = 0; i < nd->nkw && rc == R_OK; i++) {
      lq_var *kv = &vars[i + 1];
      kv->name = nd->kw[i].name;
      kv->nlen = nd->kw[i].nlen;
      kv->hash = lq_hash(kv->name, kv->nlen);
      if (eval(r, nd->kw[i].e, &kv->v)) rc = R_ERR;
      kv->next = scope.vars;
      scope.vars = kv;
    }
    if (rc == R_OK) rc = render_sub(r, t, NULL);
    r->ctx->scope = scope.up;
  }
  return rc;
}

/* {% render %}: a fresh, isolated set of variables per rendering. */
COLD_TAG static int render_render(lq_render *r, const lq_node *nd) {
  lq_value name, with = lq_nil(), *kwv = NULL;
  const lq_template *t;
  const char *bind;
  size_t blen, k, n = 1;
  lq_array items;
  lq_ctx ctx, *saved = r->ctx;
  lq_loop *loop;
  char *pname;
  int i, rc = R_OK, saved_in = r->in_render;
  if (load_partial(r, nd, &name, &t)) return R_ERR;
  bind_name(nd, &name, &bind, &blen);
  if (nd->subject && eval(r, nd->subject, &with)) return R_ERR;
  if (nd->nkw && !(kwv = lq_alloc(r, (size_t)nd->nkw * sizeof *kwv))) return R_ERR;
  for (i = 0; i < nd->nkw; i++)
    if (eval(r, nd->kw[i].e, &kwv[i])) return R_ERR;
  items.n = 0;
  if (nd->is_for && (with.type == LQ_ARRAY || with.type == LQ_HOSTARR || with.type == LQ_RANGE ||
                     with.type == LQ_HOSTHASH)) {
    if (lq_list(r, &with, &items)) return R_ERR;
    n = items.n;
  }
  if (!(pname = lq_alloc(r, name.u.s.n + 1))) return R_ERR;
  memcpy(pname, name.u.s.p, name.u.s.n);
  pname[name.u.s.n] = 0;
  if (!(loop = lq_alloc(r, sizeof *loop))) return R_ERR;
  memset(loop, 0, sizeof *loop);
  loop->length = (int64_t)n;
  loop->name = pname;
  loop->nlen = name.u.s.n;
  r->in_render = 1;
  for (k = 0; k < n && rc == R_OK; k++) {
    lq_mark m = lq_arena_mark(&r->arena);
    const char *changed = r->changed.u.s.p;
    int had_changed = r->has_changed;
    memset(&ctx, 0, sizeof ctx);
    ctx.root = lq_nil();
    r->ctx = &ctx;
    for (i = 0; i < nd->nkw && rc == R_OK; i++)
      if (!map_set(r, &ctx.assigns, nd->kw[i].name, nd->kw[i].nlen, &kwv[i])) rc = R_ERR;
    if (nd->subject && rc == R_OK) {      /* the with/for value wins over a keyword */
      lq_value bv = nd->is_for && items.n ? items.v[k] : with;
      if (!nd->is_for || items.n || with.type != LQ_NIL)
        if (!map_set(r, &ctx.assigns, bind, blen, &bv)) rc = R_ERR;
    }
    if (rc == R_OK && nd->is_for && items.n) {
      lq_value lv;
      loop->index0 = (int64_t)k;
      lv.type = LQ_LOOP;
      lv.u.loop = loop;
      if (!map_set(r, &ctx.assigns, "forloop", 7, &lv)) rc = R_ERR;
    }
    if (rc == R_OK) {
      rc = render_sub(r, t, pname);
      if (rc == R_BREAK || rc == R_CONTINUE) rc = R_OK;
    }
    r->ctx = saved;
    /* what the partial allocated dies with its variables (a partial that renders itself
    ** grew the arena without bound), unless ifchanged kept its last output there */
    if (rc == R_OK && !r->fatal && r->has_changed == had_changed && r->changed.u.s.p == changed)
      lq_arena_release(&r->arena, m);
  }
  r->in_render = saved_in;
  return rc;
}

static int render_node(lq_render *r, const lq_node *nd) {
  lq_value v;
  switch (nd->kind) {
    case N_TEXT:
      lq_buf_add(&r->out, nd->text, nd->tlen);
      return R_OK;
    case N_OUTPUT: {
      lq_mark m = lq_arena_mark(&r->arena);
      int rc = eval_fexpr(r, nd->fx, &v);
      if (rc == R_OK) rc = lq_write(r, &r->out, &v);
      if (!r->fatal) lq_arena_release(&r->arena, m);
      return rc;
    }
    case N_ASSIGN:
      if (eval_fexpr(r, nd->fx, &v)) return R_ERR;
      return do_assign(r, nd->text, nd->tlen, &v);
    case N_CAPTURE: {
      /* rendered in place, then cut off the output */
      size_t base = r->out.n, saved = r->seg;
      int rc;
      set_seg(r, base);
      rc = render_body(r, nd->body);
      set_seg(r, saved);
      if (rc == R_OK || rc == R_BREAK || rc == R_CONTINUE) {
        int rc2 = r->out.oom ? lq_fatal(r, "out of memory") : lq_str(r, out_at(r, base), r->out.n - base, &v);
        if (rc2 == R_OK) rc2 = do_assign(r, nd->text, nd->tlen, &v);
        if (rc2) rc = rc2;
      }
      r->out.n = base;
      return rc;
    }
    case N_IF:
    case N_UNLESS: {
      const lq_branch *b;
      int first = 1;
      for (b = nd->br; b; b = b->next, first = 0) {
        int res = 1;
        if (b->cond) {
          lq_mark m = lq_arena_mark(&r->arena);
          int rc = eval_cond(r, b->cond, &res);
          if (!r->fatal) lq_arena_release(&r->arena, m);
          if (rc) return rc;
          if (first && nd->kind == N_UNLESS) res = !res;
        }
        if (res) return render_body(r, b->body);
      }
      return R_OK;
    }
    case N_CASE: return render_case(r, nd);
    case N_FOR: return render_for(r, nd);
    case N_TABLEROW: return render_tablerow(r, nd);
    case N_BREAK: return R_BREAK;
    case N_CONTINUE: return R_CONTINUE;
    case N_CYCLE: return render_cycle(r, nd);
    case N_INCREMENT:
    case N_DECREMENT: return render_counter(r, nd);
    case N_IFCHANGED: {
      /* rendered in place; cut off again when it is what was printed last time */
      size_t base = r->out.n, saved = r->seg, n;
      int rc;
      set_seg(r, base);
      rc = render_body(r, nd->body);
      set_seg(r, saved);
      n = r->out.n - base;
      if (rc == R_OK && r->out.oom) rc = lq_fatal(r, "out of memory");
      if (rc == R_OK && r->has_changed && r->changed.u.s.n == n && memcmp(r->changed.u.s.p, out_at(r, base), n) == 0)
        r->out.n = base;
      else if (rc == R_OK) {
        if (lq_str(r, out_at(r, base), n, &r->changed)) rc = R_ERR;
        else r->has_changed = 1;
      } else r->out.n = base;
      return rc;
    }
    case N_RENDER: return render_render(r, nd);
    case N_INCLUDE: return render_include(r, nd);
    case N_BLOCK: return render_body(r, nd->body);
    default: return R_OK;
  }
}

static void write_inline_error(lq_render *r) {
  char tmp[400];
  if (!r->opt.line_numbers || r->err_noline)
    snprintf(tmp, sizeof tmp, "Liquid error: %s", r->err.msg);
  else if (r->pname)
    snprintf(tmp, sizeof tmp, "Liquid error (%s line %d): %s", r->pname, r->err.line, r->err.msg);
  else
    snprintf(tmp, sizeof tmp, "Liquid error (line %d): %s", r->err.line, r->err.msg);
  lq_buf_adds(&r->out, tmp);
  r->err.msg[0] = 0;
  r->err_noline = 0;
}

static int render_body(lq_render *r, const lq_node *nd) {
  int rc = render_body_in(r, nd);
  r->depth--;
  return rc;
}

/* Bodies nest (blocks, partials); the document's own body is depth 0. */
static int render_body_in(lq_render *r, const lq_node *nd) {
  if (r->opt.limits.depth > 0 && ++r->depth > r->opt.limits.depth)
    return lq_fatal(r, "depth limit exceeded (%lld): nesting too deep", (long long)r->opt.limits.depth);
  if (r->opt.limits.depth <= 0) r->depth++;
  if (add_score(r, nd)) return R_ERR;
  for (; nd; nd = nd->next) {
    int rc;
    r->line = nd->line;
    if (lq_work(r, LQ_WORK_NODE)) return R_ERR;
    rc = render_node(r, nd);
    if (r->fatal) rc = R_ERR;          /* e.g. a limit hit inside a comparison */
    if (rc == R_ERR) {
      if (r->fatal || r->opt.strict_errors) return R_ERR;
      /* Ruby writes no error text for tags that render nothing (assign, blank blocks) */
      if (nd->blank || r->err_silent) { r->err.msg[0] = 0; r->err_noline = r->err_silent = 0; }
      else write_inline_error(r);
      rc = R_OK;
    }
    if (rc) return rc;                 /* break / continue travel up to the loop */
    if (out_check(r)) return R_ERR;
  }
  return R_OK;
}

/* ---- public ---- */

void lq_options_init(lq_options *o) {
  memset(o, 0, sizeof *o);
  o->limits.output_bytes = LQ_DEF_OUTPUT_BYTES;
  o->limits.loop_iterations = LQ_DEF_LOOP_ITERATIONS;
  o->limits.depth = LQ_DEF_DEPTH;
  o->limits.memory = LQ_DEF_MEMORY;
  o->limits.time_ms = LQ_DEF_TIME_MS;
}

size_t lq_render_size(void) {
  return sizeof(lq_render);
}

void lq_render_init(lq_render *r) {
  memset(r, 0, sizeof *r);
  lq_buf_init(&r->out, NULL);
  lq_arena_init(&r->arena, 0);
  r->inited = 1;
}

int lq_render_run(lq_render *r, const lq_template *t, const lq_host *host,
                  const lq_options *o, lq_value root) {
  lq_ctx ctx;
  int rc;
  if (!r->inited) lq_render_init(r);
  r->host = host;
  if (o) r->opt = *o;
  else lq_options_init(&r->opt);
  r->tpl = t;
  set_seg(r, 0);
  r->arena.limit = r->opt.limits.memory > 0 ? (size_t)r->opt.limits.memory : 0;
  memset(&ctx, 0, sizeof ctx);
  ctx.root = root;
  r->ctx = &ctx;
  r->depth = -1;
  lq_clock_start(r);
  rc = render_body(r, t->body);
  r->ctx = NULL;
  if (rc == R_ERR || out_check(r)) return -1;
  return 0;
}

const char *lq_render_output(const lq_render *r, size_t *len) {
  *len = r->out.n;
  return r->out.p ? r->out.p : "";
}

const lq_error *lq_render_error(const lq_render *r) {
  return &r->err;
}

void lq_render_free(lq_render *r) {
  if (!r->inited) return;
  lq_buf_free(&r->out);
  lq_arena_free(&r->arena);
  r->inited = 0;
}
