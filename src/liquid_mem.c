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
  a->nchunks = 0;
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
  a->nchunks++;
  a->used += cap;
  return (char *)c + LQ_CHUNK_HDR;
}

void *lq_arena_resize(lq_arena *a, void *p, size_t cap, size_t used, size_t n) {
  lq_chunk *c = a->head;
  void *q;
  int newest = p && c && (char *)p + LQ_ALIGN(cap) == (char *)c + LQ_CHUNK_HDR + c->top;
  if (n > ((size_t)-1) / 4) return NULL;
  if (newest) {
    size_t start = (size_t)((char *)p - ((char *)c + LQ_CHUNK_HDR)), k = LQ_ALIGN(n ? n : 1);
    if (c->cap - start >= k) {           /* room after it (or it shrinks) */
      c->top = start + k;
      return p;
    }
    if (start == 0) {                    /* alone in the newest chunk: the chunk moves */
      lq_chunk *nc;
      if (a->limit && a->used + (k - c->cap) > a->limit) return NULL;
      if (!(nc = realloc(c, LQ_CHUNK_HDR + k))) return NULL;
      a->used += k - nc->cap;
      nc->cap = nc->top = k;
      a->head = nc;
      return (char *)nc + LQ_CHUNK_HDR;
    }
  }
  if (n <= cap) return p;                /* shrinking an older block: leave it */
  if (!(q = lq_arena_alloc(a, n))) return NULL;
  if (used) memcpy(q, p, used);
  return q;
}

void lq_arena_free(lq_arena *a) {
  lq_chunk *c = a->head;
  while (c) {
    lq_chunk *p = c->prev;
    free(c);
    c = p;
  }
  a->head = NULL;
  a->nchunks = 0;
  a->used = 0;
}

void lq_arena_drop(lq_arena *a, size_t nchunks) {
  while (a->nchunks > nchunks) {
    lq_chunk *p = a->head->prev;
    a->used -= a->head->cap;
    free(a->head);
    a->head = p;
    a->nchunks--;
  }
}

/* ---- buffers ---- */

#define BUF_MIN 64             /* a buffer's first capacity */

void lq_buf_init(lq_buf *b, lq_render *r) {
  b->p = NULL;
  b->n = b->cap = 0;
  b->r = r;
  b->max = (size_t)-1;
  b->oom = b->full = 0;
}

int lq_buf_reserve(lq_buf *b, size_t extra) {
  size_t need, cap;
  char *p;
  if (b->oom || b->full) return R_ERR;
  if (extra <= b->cap - b->n) return R_OK;
  if (extra > ((size_t)-1) / 4 - b->n) goto fail;
  need = b->n + extra;
  if (!b->r && need > b->max) {        /* the output: past its limit nothing more is kept */
    b->full = 1;
    return R_ERR;
  }
  cap = b->cap ? b->cap : BUF_MIN;
  while (cap < need) cap *= 2;
  if (!b->r && cap > b->max) cap = b->max;
  if (b->r) p = lq_arena_resize(&b->r->arena, b->p, b->cap, b->n, cap);
  else p = realloc(b->p, cap);
  if (!p) goto fail;
  b->p = p;
  b->cap = cap;
  return R_OK;
fail:
  b->oom = 1;
  if (b->r) lq_fatal(b->r, "memory limit exceeded (%lld bytes)", (long long)b->r->opt.limits.memory);
  return R_ERR;
}

void lq_buf_add_slow(lq_buf *b, const void *s, size_t n) {
  if (n == 0 || lq_buf_reserve(b, n) != R_OK) return;
  memcpy(b->p + b->n, s, n);
  b->n += n;
}

void lq_buf_addc_slow(lq_buf *b, char c) {
  lq_buf_add_slow(b, &c, 1);
}

int lq_buf_str(lq_buf *b, lq_value *out) {
  if (lq_buf_reserve(b, 1) != R_OK) return R_ERR;
  b->p[b->n] = 0;
  out->type = LQ_STR;
  out->u.s.p = b->p;
  out->u.s.n = b->n;
  /* give the arena back what the string does not use */
  if (b->r) lq_arena_resize(&b->r->arena, b->p, b->cap, b->n + 1, b->n + 1);
  return R_OK;
}

void lq_buf_free(lq_buf *b) {
  size_t max = b->max;
  if (!b->r) free(b->p);
  lq_buf_init(b, b->r);
  b->max = max;
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

/* ---- the clock ---- */

static int64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void lq_clock_start(lq_render *r) {
  int64_t ms = r->opt.limits.time_ms, now = mono_ns();
  /* a limit past the end of int64 nanoseconds is no limit */
  r->deadline = ms > 0 && ms < (INT64_MAX - now) / 1000000 ? now + ms * 1000000 : 0;
  r->work = 0;
  r->work_next = r->deadline ? LQ_WORK_CLOCK : UINT64_MAX;
}

int lq_clock(lq_render *r) {
  if (!r->deadline) {
    r->work_next = UINT64_MAX;
    return R_OK;
  }
  if (r->work_next == 0 || mono_ns() > r->deadline) {
    r->work_next = 0;                  /* out of time: every later count fails at once */
    return lq_fatal(r, "time_ms limit exceeded (%lld ms)", (long long)r->opt.limits.time_ms);
  }
  r->work_next = r->work + LQ_WORK_CLOCK;
  return R_OK;
}

int64_t lq_now(const lq_render *r) {
  return r->opt.has_now ? r->opt.now : (int64_t)time(NULL);
}
