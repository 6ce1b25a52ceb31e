/*
** The floor of the Liquid engine (liquid_mem.h): the arena, and the helpers that allocate
** in a render or record its failure.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "liquid_mem.h"

/* ---- arena ---- */

#define CHUNK_MIN 4096         /* the first chunk; each next one doubles, up to CHUNK_MAX */
#define CHUNK_MAX (1u << 20)   /* bigger requests get a chunk of their own size */

void lq_arena_init(lq_arena *a, size_t limit) {
  a->head = NULL;
  a->used = 0;
  a->limit = limit;
}

void *lq_arena_grow(lq_arena *a, size_t n) {
  lq_chunk *c = a->head;
  size_t cap = c ? c->cap * 2 : CHUNK_MIN;
  if (n > ((size_t)-1) / 4) return NULL;
  n = LQ_ALIGN(n ? n : 1);
  if (cap > CHUNK_MAX) cap = CHUNK_MAX;
  if (cap < n) cap = n;
  if (a->limit && a->used + cap > a->limit) return NULL;
  c = malloc(LQ_CHUNK_HDR + cap);
  if (!c) return NULL;
  c->prev = a->head;
  c->cap = cap;
  c->top = n;
  a->head = c;
  a->used += cap;
  return (char *)c + LQ_CHUNK_HDR;
}

void lq_arena_free(lq_arena *a) {
  lq_chunk *c = a->head;
  while (c) {
    lq_chunk *p = c->prev;
    free(c);
    c = p;
  }
  a->head = NULL;
  a->used = 0;
}

lq_mark lq_arena_mark(const lq_arena *a) {
  lq_mark m;
  m.head = a->head;
  m.top = a->head ? a->head->top : 0;
  m.used = a->used;
  return m;
}

void lq_arena_release(lq_arena *a, lq_mark m) {
  while (a->head && a->head != m.head) {
    lq_chunk *p = a->head->prev;
    free(a->head);
    a->head = p;
  }
  if (a->head) a->head->top = m.top;
  a->used = m.used;
}

/* ---- errors and memory ---- */

static int set_err(lq_render *r, int fatal, const char *fmt, va_list ap) {
  if (r->err.msg[0] && r->fatal) return R_ERR;   /* keep the first fatal error */
  vsnprintf(r->err.msg, sizeof r->err.msg, fmt, ap);
  r->err.line = r->line;
  r->err.col = 0;
  r->fatal = fatal;
  return R_ERR;
}

int lq_fail(lq_render *r, const char *fmt, ...) {
  va_list ap;
  int rc;
  va_start(ap, fmt);
  rc = set_err(r, 0, fmt, ap);
  va_end(ap);
  return rc;
}

int lq_fatal(lq_render *r, const char *fmt, ...) {
  va_list ap;
  int rc;
  va_start(ap, fmt);
  rc = set_err(r, 1, fmt, ap);
  va_end(ap);
  return rc;
}

void *lq_alloc(lq_render *r, size_t n) {
  void *p = lq_arena_alloc(&r->arena, n);
  if (!p) lq_fatal(r, "memory limit exceeded (%lld bytes)", (long long)r->opt.limits.memory);
  return p;
}

int lq_str(lq_render *r, const char *s, size_t n, lq_value *out) {
  char *p = lq_alloc(r, n + 1);
  if (!p) return R_ERR;
  if (n) memcpy(p, s, n);
  p[n] = 0;
  out->type = LQ_STR;
  out->u.s.p = p;
  out->u.s.n = n;
  return R_OK;
}

int64_t lq_now(const lq_render *r) {
  return r->opt.has_now ? r->opt.now : (int64_t)time(NULL);
}
