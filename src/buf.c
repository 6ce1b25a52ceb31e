#include <stdlib.h>
#include <string.h>

#include "buf.h"

void rv_buf_init(rv_buf *b) {
  b->p = NULL;
  b->n = b->cap = 0;
  b->oom = 0;
}

void rv_buf_free(rv_buf *b) {
  free(b->p);
  rv_buf_init(b);
}

int rv_buf_reserve(rv_buf *b, size_t extra) {
  size_t need, cap;
  char *p;
  if (b->oom) return -1;
  if (extra <= b->cap - b->n) return 0;
  if (extra > (size_t)-1 / 2 - b->n) { b->oom = 1; b->cap = b->n; return -1; }
  need = b->n + extra;
  cap = b->cap ? b->cap : 64;
  while (cap < need) cap *= 2;
  p = realloc(b->p, cap);
  if (!p) { b->oom = 1; b->cap = b->n; return -1; }
  b->p = p;
  b->cap = cap;
  return 0;
}

void rv_buf_add_slow(rv_buf *b, const void *s, size_t n) {
  if (n == 0 || rv_buf_reserve(b, n) != 0) return;
  memcpy(b->p + b->n, s, n);
  b->n += n;
}

void rv_buf_addc_slow(rv_buf *b, char c) {
  rv_buf_add_slow(b, &c, 1);
}
