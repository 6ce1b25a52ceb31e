/*
** Liquid internals shared by the parser (liquid.c), the renderer (liquid_render.c), the
** value semantics (liquid_value.c) and the filters (liquid_filters.c). Not installed.
*/
#ifndef RIVULET_LIQUID_INT_H
#define RIVULET_LIQUID_INT_H

#include <stdarg.h>

#include "buf.h"
#include "liquid.h"

/* ---- arena: bump allocation in chunks, freed all at once ---- */

typedef struct lq_chunk lq_chunk;
typedef struct lq_arena {
  lq_chunk *head;
  size_t used;       /* bytes handed out, for the memory limit */
  size_t limit;      /* 0: none */
} lq_arena;

typedef struct lq_mark { lq_chunk *head; size_t top; size_t used; } lq_mark;

void  lq_arena_init(lq_arena *a, size_t limit);
void *lq_arena_alloc(lq_arena *a, size_t n);  /* NULL when out of memory or over the limit */
void  lq_arena_free(lq_arena *a);
lq_mark lq_arena_mark(const lq_arena *a);
void  lq_arena_release(lq_arena *a, lq_mark m);

/* ---- the template tree ---- */

typedef struct lq_expr lq_expr;
typedef struct lq_node lq_node;
typedef struct lq_filter_def lq_filter_def;

enum { X_LIT, X_VAR, X_RANGE };
enum { SEG_KEY, SEG_INDEX, SEG_EXPR };

typedef struct lq_seg {
  int kind;
  const char *key; size_t klen;   /* SEG_KEY */
  int64_t index;                  /* SEG_INDEX: a literal integer in brackets */
  lq_expr *e;                     /* SEG_EXPR */
} lq_seg;

struct lq_expr {
  int kind;
  lq_value lit;                   /* X_LIT */
  const char *name; size_t nlen;  /* X_VAR: root name, or NULL when the root is [expr] */
  size_t hash;                    /* X_VAR: lq_hash of name, computed once at parse time */
  lq_expr *root;                  /* X_VAR with a bracketed root */
  int nseg; lq_seg *segs;
  lq_expr *lo, *hi;               /* X_RANGE */
  const char *src; size_t srclen; /* markup, for forloop.name and messages */
};

typedef struct lq_kwarg { const char *name; size_t nlen; lq_expr *e; } lq_kwarg;

typedef struct lq_fcall {
  const lq_filter_def *def;       /* NULL: unknown filter */
  const char *name; size_t nlen;
  int nargs; lq_expr **args;
  int nkw; lq_kwarg *kw;
} lq_fcall;

typedef struct lq_fexpr {          /* an expression with a filter chain */
  lq_expr *e;
  int nf; lq_fcall *f;
} lq_fexpr;

enum { C_EXPR, C_CMP, C_AND, C_OR, C_BAD };
enum { OP_EQ, OP_NE, OP_LT, OP_GT, OP_LE, OP_GE, OP_CONTAINS };

typedef struct lq_cond {
  int kind, op;
  lq_expr *l, *r;                 /* C_EXPR uses l */
  struct lq_cond *a, *b;          /* C_AND, C_OR: a op (b) */
} lq_cond;

typedef struct lq_branch {        /* if/elsif/else, when/else */
  lq_cond *cond;                  /* NULL: else */
  int nvals; lq_expr **vals;      /* case/when values; 0 with cond NULL: else */
  lq_node *body;
  struct lq_branch *next;
} lq_branch;

enum {
  N_TEXT, N_OUTPUT, N_ASSIGN, N_CAPTURE, N_IF, N_UNLESS, N_CASE, N_FOR, N_TABLEROW,
  N_BREAK, N_CONTINUE, N_CYCLE, N_INCREMENT, N_DECREMENT, N_IFCHANGED, N_RENDER,
  N_INCLUDE, N_BLOCK, N_ERROR
};

struct lq_node {
  int kind, line;
  int blank;                      /* renders no visible output (Ruby's blank?) */
  lq_node *next;
  const char *text; size_t tlen;  /* N_TEXT; N_ERROR message; names (assign, capture, counters) */
  lq_fexpr *fx;                   /* N_OUTPUT, N_ASSIGN */
  /* Simple nodes (text, output, assign, counters, break/continue) end here: they are
  ** allocated without the fields below, so the common nodes pack into cache lines. */
  lq_branch *br;                  /* N_IF, N_UNLESS, N_CASE */
  lq_expr *subject;               /* N_CASE; N_FOR/N_TABLEROW collection; N_RENDER/INCLUDE with/for */
  lq_node *body, *alt;            /* block bodies; for-else */
  /* for / tablerow */
  const char *var; size_t vlen;
  lq_expr *limit, *offset, *cols;
  int reversed, offset_continue, cols_set;
  const char *loopname; size_t lnlen;
  /* cycle */
  lq_expr *group; int nvals; lq_expr **vals;
  /* render / include */
  lq_expr *tname;                 /* template name expression */
  int is_for;                     /* `for` rather than `with` */
  const char *alias; size_t alen;
  int nkw; lq_kwarg *kw;
};

struct lq_template {
  lq_arena arena;
  char *src; size_t len;
  lq_node *body;
  int mode;
};

/* ---- rendering ---- */

typedef struct lq_var { const char *name; size_t nlen; lq_value v; struct lq_var *next; } lq_var;

typedef struct lq_map {            /* small string-keyed map in the render arena */
  lq_var **slot; size_t cap, n;
} lq_map;

typedef struct lq_loop {           /* forloop / tablerowloop */
  int64_t index0, length;
  int tablerow;
  int64_t col0, cols, row;
  const char *name; size_t nlen;
  struct lq_loop *parent;
} lq_loop;

typedef struct lq_scope {
  lq_var *vars;
  struct lq_scope *up;
} lq_scope;

typedef struct lq_ctx {            /* one variable environment; `render` makes a fresh one */
  lq_value root;
  lq_map assigns, counters, cycles, offsets;
  lq_scope *scope;
  lq_loop *loop;
} lq_ctx;

struct lq_render {
  const lq_host *host;
  lq_options opt;
  const lq_template *tpl;
  rv_buf out, *cur;
  lq_arena arena;
  lq_ctx *ctx;
  lq_map changed;
  int64_t iterations, depth, score, assigned;
  int vdepth;                      /* recursion into nested data, against LQ_MAX_VALUE_DEPTH */
  int64_t deadline;                /* monotonic ns when time_ms runs out; 0: none */
  unsigned ticks;                  /* nodes rendered, to look at the clock now and then */
  const void *zone;                /* lqd_zone, loaded on first use */
  int line;                        /* line of the node being rendered */
  const char *pname;               /* partial being rendered (messages) */
  lq_error err;
  int fatal;                       /* err is not recoverable inline */
  int in_render;                   /* inside a {% render %} partial */
  int err_silent;                  /* recorded, not printed inline (strict_variables/filters) */
  int err_noline;                  /* the inline message carries no line (Ruby's file system errors) */
  int inited;
};

enum { R_OK = 0, R_ERR = -1, R_BREAK = 1, R_CONTINUE = 2 };

/* Record an error. render_fail: recoverable (written inline unless strict_errors);
** render_fatal: stops the render. Both return R_ERR. */
size_t lq_hash(const char *s, size_t n);   /* of a variable name; never 0 */
int lq_fail(lq_render *r, const char *fmt, ...);
int lq_fatal(lq_render *r, const char *fmt, ...);
void *lq_alloc(lq_render *r, size_t n);      /* render-arena memory; NULL sets a fatal error */
int lq_str(lq_render *r, const char *s, size_t n, lq_value *out);  /* copy into the arena */

/* ---- value semantics (liquid_value.c) ---- */

static inline lq_value lq_nil(void) { lq_value v; v.type = LQ_NIL; v.u.i = 0; return v; }
static inline lq_value lq_int(int64_t i) { lq_value v; v.type = LQ_INT; v.u.i = i; return v; }
static inline lq_value lq_float(double f) { lq_value v; v.type = LQ_FLOAT; v.u.f = f; return v; }
static inline lq_value lq_bool(int b) { lq_value v; v.type = LQ_BOOL; v.u.b = !!b; return v; }
static inline lq_value lq_cstr(const char *p, size_t n) {
  lq_value v; v.type = LQ_STR; v.u.s.p = p; v.u.s.n = n; return v;
}

/* a double as an integer, saturating (NaN is 0): no undefined conversions */
static inline int64_t lq_f2i(double f) {
  if (f != f) return 0;
  if (f >= 9223372036854775807.0) return INT64_MAX;
  if (f <= -9223372036854775808.0) return INT64_MIN;
  return (int64_t)f;
}

/* element count of lo..hi, saturating */
static inline int64_t lq_range_len(int64_t lo, int64_t hi) {
  if (hi < lo) return 0;
  if ((uint64_t)hi - (uint64_t)lo >= (uint64_t)INT64_MAX) return INT64_MAX;
  return (int64_t)((uint64_t)hi - (uint64_t)lo) + 1;
}

/* Enter/leave one level of recursion into nested data: the C stack stays bounded however
** deep the host's tables go. lq_enter returns R_ERR (a fatal error) past the limit. */
int lq_enter(lq_render *r);
static inline void lq_leave(lq_render *r) { r->vdepth--; }

const char *lq_find(const char *hay, size_t hn, const char *needle, size_t nn);
int  lq_truthy(const lq_value *v);
int  lq_is_array(const lq_value *v);        /* ARRAY, HOSTARR or RANGE */
int  lq_is_empty(lq_render *r, const lq_value *v);   /* Ruby empty? (-1 when n/a) */
int  lq_is_blank(lq_render *r, const lq_value *v);
int  lq_equal(lq_render *r, const lq_value *a, const lq_value *b);
/* <0, 0, >0 ; R_ERR (with a render error) when the types do not compare */
int  lq_compare(lq_render *r, const lq_value *a, const lq_value *b, int *cmp);
int  lq_contains(lq_render *r, const lq_value *a, const lq_value *b);
int64_t lq_len(lq_render *r, const lq_value *v);
int  lq_at(lq_render *r, const lq_value *v, int64_t i, lq_value *out);      /* 0-based, negative from end */
int  lq_key(lq_render *r, const lq_value *v, const char *k, size_t n, lq_value *out);
int  lq_lookup(lq_render *r, const lq_value *v, const lq_value *key, int command, lq_value *out);
int  lq_list(lq_render *r, const lq_value *v, lq_array *out);  /* materialise a collection */
int  lq_pairs(lq_render *r, const lq_value *hash, lq_array *out);  /* [key, value] pairs */
/* to_s into a buffer; inspect-style for nested hashes/arrays as Ruby prints them */
int  lq_write(lq_render *r, rv_buf *b, const lq_value *v);
int  lq_inspect(lq_render *r, rv_buf *b, const lq_value *v, int depth);
/* to_s as a value: strings stay, others are written to the arena */
int  lq_tostr(lq_render *r, const lq_value *v, lq_value *out);
void lq_fmt_float(double d, char *out, size_t cap);   /* Ruby Float#to_s */
int  lq_shortest(double d, char digits[24], int *exp10);
int  lq_fmt_int(int64_t i, char *out);
/* Liquid's Utils.to_number; *exact tells whether a float came from a decimal string */
lq_value lq_to_number(const lq_value *v);
int64_t lq_to_int(const lq_value *v);       /* to_i */
int  lq_to_json(lq_render *r, rv_buf *b, const lq_value *v, int depth);

/* ---- filters (liquid_filters.c) ---- */

typedef int (*lq_filter_fn)(lq_render *r, lq_value *v, int argc, const lq_value *argv,
                            int nkw, const lq_kwarg *kw, const lq_value *kwv);
struct lq_filter_def { const char *name; lq_filter_fn fn; int min, max; };
const lq_filter_def *lq_filter_find(const char *name, size_t n);

/* ---- time (used by date and "now") ---- */
int64_t lq_now(const lq_render *r);

#endif
