/*
** The floor of the Liquid engine: memory that is freed all at once (the arena), the state
** of one render that every layer shares (the host, the options and limits, the error) and
** the helpers that allocate in it or record a failure in it. The parser (liquid_parse.c), the
** values (liquid_value.c), the filters (liquid_filters.c) and the renderer
** (liquid_render.c) stand on this file; it calls none of them. Not installed.
*/
#ifndef RIVULET_LIQUID_MEM_H
#define RIVULET_LIQUID_MEM_H

#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#include "liquid.h"

/* ---- arena: bump allocation in chunks, freed all at once ---- */

typedef struct lq_chunk { struct lq_chunk *prev; size_t cap, top; } lq_chunk;
typedef struct lq_arena {
  lq_chunk *head;
  size_t nchunks;
  size_t used;       /* bytes of all chunks, for the memory limit */
  size_t limit;      /* 0: none */
} lq_arena;

/* A point to come back to: what was allocated after it is released. Counted in chunks,
** not by address, because the newest chunk can move when a buffer alone in it grows. */
typedef struct lq_mark { size_t nchunks, top; } lq_mark;

#define LQ_ALIGN(n) (((n) + 15u) & ~(size_t)15u)
#define LQ_CHUNK_HDR LQ_ALIGN(sizeof(lq_chunk))

void  lq_arena_init(lq_arena *a, size_t limit);
void *lq_arena_grow(lq_arena *a, size_t n);   /* lq_arena_alloc's way out: a new chunk */
void  lq_arena_free(lq_arena *a);
void  lq_arena_drop(lq_arena *a, size_t nchunks);   /* frees the chunks newer than nchunks */

/* Inline: the renderer takes a mark around every output and condition. */
static inline lq_mark lq_arena_mark(const lq_arena *a) {
  lq_mark m;
  m.nchunks = a->nchunks;
  m.top = a->head ? a->head->top : 0;
  return m;
}

static inline void lq_arena_release(lq_arena *a, lq_mark m) {
  if (a->nchunks > m.nchunks) lq_arena_drop(a, m.nchunks);
  if (a->head) a->head->top = m.top;
}
/* p (cap bytes, used of them in use) resized to n bytes: in place when p is the newest
** allocation, else a new block with the used bytes copied. NULL as lq_arena_alloc. */
void *lq_arena_resize(lq_arena *a, void *p, size_t cap, size_t used, size_t n);

/* n bytes, 16-aligned; NULL when out of memory or over the limit. Inline: the parser and
** the renderer allocate small pieces all the time. */
static inline void *lq_arena_alloc(lq_arena *a, size_t n) {
  lq_chunk *c = a->head;
  size_t k = LQ_ALIGN(n ? n : 1);
  if (k >= n && c && c->cap - c->top >= k) {    /* k < n: n + 15 wrapped around */
    c->top += k;
    return (char *)c + LQ_CHUNK_HDR + c->top - k;
  }
  return lq_arena_grow(a, n);
}

/* ---- buffers: growable byte strings ---- */

/* A scratch buffer grows in the render's arena: it counts against the memory limit, and it
** is freed with the render however the render ends, even when a host callback unwinds
** (longjmps) through the filter that holds it. It lives within one node's evaluation
** (no arena mark is taken while it grows). A buffer without a render (the output) lives
** on the heap and is freed with lq_buf_free. */
typedef struct lq_buf {
  char *p;
  size_t n, cap;
  lq_render *r;      /* whose arena holds p; NULL: the heap */
  size_t max;        /* a heap buffer grows to at most this many bytes */
  int oom;           /* sticky: growing failed and the contents are truncated */
  int full;          /* sticky: a heap buffer was refused growth past max */
} lq_buf;

void lq_buf_init(lq_buf *b, lq_render *r);
/* Room for extra more bytes: R_OK, or R_ERR with oom or full set (and, for a scratch
** buffer, the memory limit recorded as the render's fatal error). */
int  lq_buf_reserve(lq_buf *b, size_t extra);
void lq_buf_add_slow(lq_buf *b, const void *s, size_t n);
void lq_buf_addc_slow(lq_buf *b, char c);
/* A scratch buffer's contents as a string value, NUL-terminated, without a copy; the
** buffer is done with. R_ERR when it ran out of memory. */
int  lq_buf_str(lq_buf *b, lq_value *out);
void lq_buf_free(lq_buf *b);         /* heap buffers */

/* Appends n bytes (nothing once oom or full is set). Inline while there is room: the
** output takes thousands of small pieces per render, each a call and a reserve otherwise. */
/* n <= 16 bytes by two overlapping loads: most text and values written are short, and a
** memcpy call costs more than they do */
static inline void lq_copy_small(char *d, const char *s, size_t n) {
  uint64_t a, z;
  uint32_t x, y;
  if (n >= 8) {
    memcpy(&a, s, 8); memcpy(&z, s + n - 8, 8);
    memcpy(d, &a, 8); memcpy(d + n - 8, &z, 8);
  } else if (n >= 4) {
    memcpy(&x, s, 4); memcpy(&y, s + n - 4, 4);
    memcpy(d, &x, 4); memcpy(d + n - 4, &y, 4);
  } else {
    d[0] = s[0];
    if (n > 1) { d[1] = s[1]; if (n > 2) d[2] = s[2]; }
  }
}

static inline void lq_buf_add(lq_buf *b, const void *s, size_t n) {
  if (n && n <= b->cap - b->n && !(b->oom | b->full)) {
    if (n <= 16) lq_copy_small(b->p + b->n, s, n);
    else memcpy(b->p + b->n, s, n);
    b->n += n;
  } else lq_buf_add_slow(b, s, n);
}

static inline void lq_buf_adds(lq_buf *b, const char *s) {
  lq_buf_add(b, s, strlen(s));
}

/* one byte: the common case stays inline */
static inline void lq_buf_addc(lq_buf *b, char c) {
  if (b->n < b->cap) b->p[b->n++] = c;
  else lq_buf_addc_slow(b, c);
}

/* ---- the state of one render ---- */

typedef struct lq_ctx lq_ctx;      /* a variable environment (liquid_render.c) */

struct lq_render {
  /* what every layer reads and writes */
  const lq_host *host;
  lq_options opt;
  lq_arena arena;                  /* temporaries; the memory limit */
  lq_error err;
  int fatal;                       /* err is not recoverable inline */
  int err_silent;                  /* recorded, not printed inline (strict_variables/filters) */
  int err_noline;                  /* the inline message carries no line (Ruby's file system errors) */
  int line;                        /* line of the node being rendered */
  int vdepth;                      /* recursion into nested data, against LQ_MAX_VALUE_DEPTH */
  int64_t deadline;                /* monotonic ns when time_ms runs out; 0: none */
  uint64_t work, work_next;        /* work done (lq_work), and when to look at the clock */
  const void *zone;                /* lqd_zone, loaded on first use (the date filter) */
  /* the walker's own (liquid_render.c): the layers below do not touch these */
  const lq_template *tpl;
  lq_buf out;                      /* on the heap */
  size_t seg;                      /* where the segment being rendered starts in out: a
                                   ** capture or ifchanged renders in place, then cuts */
  lq_ctx *ctx;
  lq_value changed;                /* what {% ifchanged %} printed last */
  int has_changed;
  int64_t iterations, depth, score, assigned;
  const char *pname;               /* partial being rendered (messages) */
  int in_render;                   /* inside a {% render %} partial */
  int inited;
};

enum { R_OK = 0, R_ERR = -1, R_BREAK = 1, R_CONTINUE = 2 };

/* Record an error. lq_fail: recoverable (written inline unless strict_errors); lq_fatal:
** stops the render. Both return R_ERR. */
int lq_fail(lq_render *r, const char *fmt, ...);
int lq_fatal(lq_render *r, const char *fmt, ...);
void *lq_alloc(lq_render *r, size_t n);      /* render-arena memory; NULL sets a fatal error */
int lq_str(lq_render *r, const char *s, size_t n, lq_value *out);  /* copy into the arena */
int64_t lq_now(const lq_render *r);          /* epoch seconds of "now" (the option, or the clock) */

/* ---- work and the clock: time_ms holds inside long filters and loops too ----
** Whatever may run long counts its work in units of about a byte handled; every
** LQ_WORK_CLOCK units the clock is read, so a render stops within a fraction of a
** millisecond of its time_ms wherever it is. */
#define LQ_WORK_CLOCK (1u << 16)  /* units between two looks at the clock: 0.1-0.5 ms of work */
#define LQ_WORK_ITEM  64          /* an item handled: fetched from the host, compared, hashed */
#define LQ_WORK_NODE  16          /* a node rendered or a loop turned */
#define LQ_WORK_SPAN  (1u << 14)  /* bytes a byte-by-byte loop handles between two counts */

void lq_clock_start(lq_render *r);  /* at the start of a render: time_ms from now */
int lq_clock(lq_render *r);          /* R_ERR (a fatal error) once time_ms has run out */

static inline int lq_work(lq_render *r, size_t units) {
  if ((r->work += units) < r->work_next) return R_OK;
  return lq_clock(r);
}

/* For a loop over the n bytes of a string: call it at each byte i; it counts the bytes a
** span at a time. *next starts at 0. */
static inline int lq_work_bytes(lq_render *r, size_t i, size_t n, size_t *next) {
  size_t k;
  if (i < *next) return R_OK;
  k = n - i < LQ_WORK_SPAN ? n - i : LQ_WORK_SPAN;
  *next = i + k;
  return lq_work(r, k);
}

/* of a variable name; never 0, which means "not computed". FNV-1a over 4-byte words
** (names such as a for loop's "variant-product.variants" are hashed at every run), folded
** so that the low bits a map masks depend on every byte. */
static inline size_t lq_hash(const char *s, size_t n) {
  uint64_t h = 14695981039346656037u ^ n;
  uint32_t w;
  for (; n >= 4; s += 4, n -= 4) {
    memcpy(&w, s, 4);
    h = (h ^ w) * 1099511628211u;
  }
  while (n--) h = (h ^ (unsigned char)*s++) * 1099511628211u;
  h ^= h >> 32;
  h ^= h >> 15;
  return (size_t)h | 1;
}

#endif
