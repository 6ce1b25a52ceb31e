/*
** Liquid value semantics (liquid_value.c), as Ruby Liquid has them: constructors,
** truthiness, equality, ordering, lookups, printing and number conversions. Not installed.
*/
#ifndef RIVULET_LIQUID_VALUE_H
#define RIVULET_LIQUID_VALUE_H

#include "liquid_mem.h"

/* the forloop / tablerowloop drop: an LQ_LOOP value points at one */
typedef struct lq_loop {
  int64_t index0, length;
  int tablerow;
  int64_t col0, cols, row;
  const char *name; size_t nlen;
  struct lq_loop *parent;
} lq_loop;

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
/* the same for key number kid of the template being rendered (0: none, k names it) */
int  lq_key_id(lq_render *r, const lq_value *v, const char *k, size_t n, int kid, lq_value *out);
int  lq_host_fail(lq_render *r);   /* R_ERR, with the host's message as the fatal error */
#ifdef LQ_CHECK_KEYS
void lq_check_key(lq_render *r, int kid, const char *k, size_t n);   /* aborts on a wrong kid */
#endif

/* host obj[k]: kid as lq_key_id. Inline: every field of host data is read through here. */
static inline int lq_host_get(lq_render *r, intptr_t obj, const char *k, size_t n, int kid, lq_value *out) {
  const lq_host *h = r->host;
  if (lq_work(r, LQ_WORK_ITEM)) return R_ERR;
#ifdef LQ_CHECK_KEYS                   /* the fuzz build: a key number names the key it stands for */
  if (kid) lq_check_key(r, kid, k, n);
#endif
  if (kid && h->get_key ? h->get_key(h->ud, obj, r->tpl, kid, out) : h->get(h->ud, obj, k, n, out))
    return lq_host_fail(r);
  return R_OK;
}
/* obj[key]; `command` marks .size/.first/.last written with a dot; kid as lq_key_id */
int  lq_lookup(lq_render *r, const lq_value *v, const lq_value *key, int command, int kid, lq_value *out);
int  lq_list(lq_render *r, const lq_value *v, lq_array *out);  /* materialise a collection */
int  lq_pairs(lq_render *r, const lq_value *hash, lq_array *out);  /* [key, value] pairs */
/* to_s into a buffer; nested hashes/arrays inspect-style, as Ruby prints them or (the
** render's objects option) as Studio does */
int  lq_write(lq_render *r, lq_buf *b, const lq_value *v);
int  lq_inspect(lq_render *r, lq_buf *b, const lq_value *v, int depth);
/* to_s as a value: strings stay, others are written to the arena */
int  lq_tostr(lq_render *r, const lq_value *v, lq_value *out);
void lq_fmt_float(double d, char *out, size_t cap);   /* Ruby Float#to_s */
int  lq_shortest(double d, char digits[24], int *exp10);
int  lq_fmt_int(int64_t i, char *out);
/* Liquid's Utils.to_number; *exact tells whether a float came from a decimal string */
lq_value lq_to_number(const lq_value *v);
int64_t lq_to_int(const lq_value *v);       /* to_i */
int  lq_to_json(lq_render *r, lq_buf *b, const lq_value *v, int depth);

#endif
