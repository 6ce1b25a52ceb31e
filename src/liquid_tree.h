/*
** The template tree: what the parser (liquid_parse.c) builds and the renderer (liquid_render.c)
** walks. Types only. Not installed.
*/
#ifndef RIVULET_LIQUID_TREE_H
#define RIVULET_LIQUID_TREE_H

#include "liquid_mem.h"

typedef struct lq_expr lq_expr;
typedef struct lq_node lq_node;
typedef struct lq_filter_def lq_filter_def;   /* liquid_filters.h */

enum { X_LIT, X_VAR, X_RANGE };
enum { SEG_KEY, SEG_INDEX, SEG_EXPR };

typedef struct lq_seg {
  int kind;
  const char *key; size_t klen;   /* SEG_KEY */
  int kid;                        /* SEG_KEY: its key number in the template (1..nkeys) */
  int64_t index;                  /* SEG_INDEX: a literal integer in brackets */
  lq_expr *e;                     /* SEG_EXPR */
} lq_seg;

struct lq_expr {
  int kind;
  lq_value lit;                   /* X_LIT */
  const char *name; size_t nlen;  /* X_VAR: root name, or NULL when the root is [expr] */
  size_t hash;                    /* X_VAR: lq_hash of name, computed once at parse time */
  int kid;                        /* X_VAR: the name's key number in the template, 0: none */
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

/* A name the template looks up in the host's data: variables at the root and keys after a
** dot or in brackets, each distinct name once (lq_template_key). */
typedef struct lq_tkey { const char *p; size_t n; } lq_tkey;

struct lq_template {
  lq_arena arena;
  char *src; size_t len;
  lq_node *body;
  int mode;
  int nkeys; lq_tkey *keys;       /* keys[k - 1] is key number k */
};

#endif
