/* A growable byte buffer for the pure-C parts (cf. lua-cjson's strbuf). */
#ifndef RIVULET_BUF_H
#define RIVULET_BUF_H

#include <stddef.h>
#include <string.h>

typedef struct rv_buf {
  char *p;
  size_t n, cap;
  int oom;            /* sticky: an allocation failed; contents are truncated */
} rv_buf;

void rv_buf_init(rv_buf *b);
void rv_buf_free(rv_buf *b);
int  rv_buf_reserve(rv_buf *b, size_t extra);   /* 0 ok, -1 out of memory (then cap = n) */
void rv_buf_add_slow(rv_buf *b, const void *s, size_t n);
void rv_buf_addc_slow(rv_buf *b, char c);

/* The common cases stay inline: what fits is copied, the rest grows the buffer (a failed
** allocation leaves cap at n, so nothing more is added after it). */
static inline void rv_buf_add(rv_buf *b, const void *s, size_t n) {
  if (n <= b->cap - b->n) {
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
  } else {
    rv_buf_add_slow(b, s, n);
  }
}

static inline void rv_buf_addc(rv_buf *b, char c) {
  if (b->n < b->cap) b->p[b->n++] = c;
  else rv_buf_addc_slow(b, c);
}

static inline void rv_buf_adds(rv_buf *b, const char *s) {
  rv_buf_add(b, s, strlen(s));
}

#endif
