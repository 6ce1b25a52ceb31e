/*
** Liquid value semantics, as Ruby Liquid has them: truthiness, equality without coercion,
** ordering, emptiness, lookups (including .size/.first/.last), printing (Float#to_s,
** Hash#inspect) and Utils.to_number.
*/
#define _GNU_SOURCE              /* memmem */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "liquid_value.h"

static int host_fail(lq_render *r) {
  return lq_fatal(r, "%s", r->host->error ? r->host->error(r->host->ud) : "host failed");
}

/* first occurrence of needle in hay (libc's memmem: linear, not quadratic) */
const char *lq_find(const char *hay, size_t hn, const char *needle, size_t nn) {
  if (nn == 0) return hay;
  if (nn > hn) return NULL;
  return memmem(hay, hn, needle, nn);
}

int lq_enter(lq_render *r) {
  if (++r->vdepth > LQ_MAX_VALUE_DEPTH) {
    r->vdepth--;
    return lq_fatal(r, "data nested too deeply (more than %d levels)", LQ_MAX_VALUE_DEPTH);
  }
  return R_OK;
}

int lq_truthy(const lq_value *v) {
  return !(v->type == LQ_NIL || (v->type == LQ_BOOL && !v->u.b));
}

int lq_is_array(const lq_value *v) {
  return v->type == LQ_ARRAY || v->type == LQ_HOSTARR || v->type == LQ_RANGE;
}

int64_t lq_len(lq_render *r, const lq_value *v) {
  switch (v->type) {
    case LQ_STR: {
      /* characters, not bytes */
      int64_t n = 0;
      size_t i, next = 0;
      for (i = 0; i < v->u.s.n; i++) {
        if (lq_work_bytes(r, i, v->u.s.n, &next)) break;   /* out of time: the render fails */
        n += ((unsigned char)v->u.s.p[i] & 0xC0) != 0x80;
      }
      return n;
    }
    case LQ_ARRAY: return (int64_t)v->u.a->n;
    case LQ_RANGE: return lq_range_len(v->u.r.lo, v->u.r.hi);
    case LQ_HOSTARR: lq_work(r, LQ_WORK_ITEM); return r->host->len(r->host->ud, v);
    case LQ_HOSTHASH: {
      int64_t n = r->host->len(r->host->ud, v);     /* the host counts the keys */
      lq_work(r, (size_t)(n > 0 ? n : 1) * LQ_WORK_ITEM);
      return n;
    }
    default: return 0;
  }
}

int lq_is_empty(lq_render *r, const lq_value *v) {
  switch (v->type) {
    case LQ_STR: return v->u.s.n == 0;
    case LQ_ARRAY: case LQ_HOSTARR: case LQ_HOSTHASH: case LQ_RANGE: return lq_len(r, v) == 0;
    case LQ_EMPTY: case LQ_BLANK: return 1;
    default: return -1;
  }
}

int lq_is_blank(lq_render *r, const lq_value *v) {
  size_t i, next = 0;
  switch (v->type) {
    case LQ_NIL: return 1;
    case LQ_BOOL: return !v->u.b;
    case LQ_STR:
      for (i = 0; i < v->u.s.n; i++) {
        char c = v->u.s.p[i];
        if (lq_work_bytes(r, i, v->u.s.n, &next)) return 0;
        if (!(c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v')) return 0;
      }
      return 1;
    case LQ_ARRAY: case LQ_HOSTARR: case LQ_HOSTHASH: case LQ_RANGE: return lq_len(r, v) == 0;
    case LQ_EMPTY: case LQ_BLANK: return 1;
    default: return 0;
  }
}

static int is_num(const lq_value *v) { return v->type == LQ_INT || v->type == LQ_FLOAT; }
static double num_d(const lq_value *v) { return v->type == LQ_INT ? (double)v->u.i : v->u.f; }

static int equal_in(lq_render *r, const lq_value *a, const lq_value *b);

/* Deep data compares to false once it is nested past the limit (after a fatal error). */
int lq_equal(lq_render *r, const lq_value *a, const lq_value *b) {
  int eq;
  if (a->type < LQ_ARRAY && b->type < LQ_ARRAY) return equal_in(r, a, b);   /* scalars */
  if (lq_enter(r)) return 0;
  eq = equal_in(r, a, b);
  lq_leave(r);
  return eq;
}

static int equal_in(lq_render *r, const lq_value *a, const lq_value *b) {
  if (a->type == LQ_EMPTY || a->type == LQ_BLANK) {
    const lq_value *t = a; a = b; b = t;
  }
  if (b->type == LQ_EMPTY) {
    if (a->type == LQ_EMPTY || a->type == LQ_BLANK) return 0;   /* Ruby: never equal */
    return lq_is_empty(r, a) == 1;
  }
  if (b->type == LQ_BLANK) {
    if (a->type == LQ_EMPTY || a->type == LQ_BLANK) return 0;
    return lq_is_blank(r, a) == 1;
  }
  if (is_num(a) && is_num(b)) {
    if (a->type == LQ_INT && b->type == LQ_INT) return a->u.i == b->u.i;
    return num_d(a) == num_d(b);
  }
  if (a->type != b->type) {
    if (lq_is_array(a) && lq_is_array(b)) goto arrays;
    if ((a->type == LQ_HOSTHASH) != (b->type == LQ_HOSTHASH)) return 0;
    return 0;
  }
  switch (a->type) {
    case LQ_NIL: return 1;
    case LQ_BOOL: return a->u.b == b->u.b;
    case LQ_STR: return a->u.s.n == b->u.s.n && memcmp(a->u.s.p, b->u.s.p, a->u.s.n) == 0;
    case LQ_RANGE: return a->u.r.lo == b->u.r.lo && a->u.r.hi == b->u.r.hi;
    case LQ_LOOP: return a->u.loop == b->u.loop;
    case LQ_HOSTHASH: {
      lq_array ka;
      size_t i;
      if (a->u.h == b->u.h) return 1;
      if (lq_len(r, a) != lq_len(r, b)) return 0;
      if (lq_list(r, a, &ka)) return 0;   /* pairs */
      for (i = 0; i < ka.n; i++) {
        const lq_value *k = &ka.v[i].u.a->v[0], *va = &ka.v[i].u.a->v[1];
        lq_value vb;
        if (lq_work(r, LQ_WORK_ITEM)) return 0;
        if (k->type != LQ_STR || lq_key(r, b, k->u.s.p, k->u.s.n, &vb)) return 0;
        if (!lq_equal(r, va, &vb)) return 0;
      }
      return 1;
    }
    default: break;
  }
arrays:
  if (lq_is_array(a) && lq_is_array(b)) {
    lq_array x, y;
    size_t i;
    if (a->type == LQ_HOSTARR && b->type == LQ_HOSTARR && a->u.h == b->u.h) return 1;
    if (lq_len(r, a) != lq_len(r, b)) return 0;
    if (lq_list(r, a, &x) || lq_list(r, b, &y)) return 0;
    for (i = 0; i < x.n; i++)
      if (lq_work(r, LQ_WORK_ITEM) || !lq_equal(r, &x.v[i], &y.v[i])) return 0;
    return 1;
  }
  return 0;
}

static const char *ruby_class(const lq_value *v) {
  switch (v->type) {
    case LQ_NIL: return "nil";
    case LQ_BOOL: return v->u.b ? "true" : "false";
    case LQ_INT: return "Integer";
    case LQ_FLOAT: return "Float";
    case LQ_STR: return "String";
    case LQ_RANGE: return "Range";
    case LQ_ARRAY: case LQ_HOSTARR: return "Array";
    case LQ_HOSTHASH: return "Hash";
    default: return "Object";
  }
}

/* Ruby names the right operand by its inspect for numbers and nil, else by class. */
static void ruby_operand(const lq_value *v, char *out, size_t cap) {
  if (v->type == LQ_INT) snprintf(out, cap, "%lld", (long long)v->u.i);
  else if (v->type == LQ_FLOAT) lq_fmt_float(v->u.f, out, cap);
  else snprintf(out, cap, "%s", ruby_class(v));
}

int lq_compare(lq_render *r, const lq_value *a, const lq_value *b, int *cmp) {
  char rb[64];
  if (is_num(a) && is_num(b)) {
    if (a->type == LQ_INT && b->type == LQ_INT) *cmp = (a->u.i > b->u.i) - (a->u.i < b->u.i);
    else { double x = num_d(a), y = num_d(b); *cmp = (x > y) - (x < y); }
    return R_OK;
  }
  if (a->type == LQ_STR && b->type == LQ_STR) {
    size_t n = a->u.s.n < b->u.s.n ? a->u.s.n : b->u.s.n;
    int c = memcmp(a->u.s.p, b->u.s.p, n);
    *cmp = c ? c : (a->u.s.n > b->u.s.n) - (a->u.s.n < b->u.s.n);
    return R_OK;
  }
  /* a number against a string fails as Ruby's does; anything else that does not order
  ** (nil, booleans, collections) is simply false (Liquid 5.13) */
  if ((is_num(a) && b->type == LQ_STR) || (a->type == LQ_STR && is_num(b))) {
    ruby_operand(b, rb, sizeof rb);
    return lq_fail(r, "comparison of %s with %s failed", ruby_class(a), rb);
  }
  return 1;
}

int lq_contains(lq_render *r, const lq_value *a, const lq_value *b) {
  if (!lq_truthy(b)) return 0;            /* Ruby: `left && right && ...` */
  if (a->type == LQ_STR) {
    lq_value s;
    if (b->type == LQ_NIL) return 0;
    if (lq_tostr(r, b, &s)) return 0;
    if (s.u.s.n == 0) return 1;
    if (lq_work(r, a->u.s.n)) return 0;
    return lq_find(a->u.s.p, a->u.s.n, s.u.s.p, s.u.s.n) != NULL;
  }
  if (lq_is_array(a)) {
    lq_array x;
    size_t i;
    if (lq_list(r, a, &x)) return 0;
    for (i = 0; i < x.n; i++) {
      if (lq_work(r, LQ_WORK_ITEM)) return 0;
      if (lq_equal(r, &x.v[i], b)) return 1;
    }
    return 0;
  }
  if (a->type == LQ_HOSTHASH && b->type == LQ_STR) {
    lq_value v;
    if (lq_key(r, a, b->u.s.p, b->u.s.n, &v)) return 0;
    return v.type != LQ_NIL;   /* a key holding nil reads as absent */
  }
  return 0;
}

int lq_at(lq_render *r, const lq_value *vp, int64_t i, lq_value *out) {
  lq_value cp = *vp, *v = &cp;       /* out may alias the input */
  int64_t n = lq_len(r, v);
  *out = lq_nil();
  if (i < 0) i += n;
  if (i < 0 || i >= n) return R_OK;
  switch (v->type) {
    case LQ_ARRAY: *out = v->u.a->v[i]; return R_OK;
    case LQ_RANGE: *out = lq_int(v->u.r.lo + i); return R_OK;
    case LQ_HOSTARR:
      if (lq_work(r, LQ_WORK_ITEM)) return R_ERR;
      if (r->host->index(r->host->ud, v->u.h, i, out)) return host_fail(r);
      return R_OK;
    default: return R_OK;
  }
}

static int loop_field(lq_render *r, const lq_loop *l, const char *k, size_t n, lq_value *out) {
#define IS(s) (n == sizeof(s) - 1 && memcmp(k, s, n) == 0)
  (void)r;
  *out = lq_nil();
  if (IS("index")) *out = lq_int(l->index0 + 1);
  else if (IS("index0")) *out = lq_int(l->index0);
  else if (IS("rindex")) *out = lq_int(l->length - l->index0);
  else if (IS("rindex0")) *out = lq_int(l->length - l->index0 - 1);
  else if (IS("first")) *out = lq_bool(l->index0 == 0);
  else if (IS("last")) *out = lq_bool(l->index0 == l->length - 1);
  else if (IS("length")) *out = lq_int(l->length);
  else if (!l->tablerow && IS("name")) *out = lq_cstr(l->name, l->nlen);
  else if (!l->tablerow && IS("parentloop")) {
    if (l->parent) { out->type = LQ_LOOP; out->u.loop = l->parent; }
  } else if (l->tablerow) {
    if (IS("col")) *out = lq_int(l->col0 + 1);
    else if (IS("col0")) *out = lq_int(l->col0);
    else if (IS("col_first")) *out = lq_bool(l->col0 == 0);
    else if (IS("col_last")) *out = lq_bool(l->cols > 0 && l->col0 + 1 == l->cols);
    else if (IS("row")) *out = lq_int(l->row);
  }
  return R_OK;
#undef IS
}

int lq_host_fail(lq_render *r) {
  return host_fail(r);
}

#ifdef LQ_CHECK_KEYS
void lq_check_key(lq_render *r, int kid, const char *k, size_t n) {
  size_t kn;
  const char *kp = lq_template_key(r->tpl, kid, &kn);
  if (!kp || kn != n || memcmp(kp, k, n) != 0) abort();
}
#endif

int lq_key_id(lq_render *r, const lq_value *v, const char *k, size_t n, int kid, lq_value *out) {
  *out = lq_nil();
  if (v->type == LQ_HOSTHASH) return lq_host_get(r, v->u.h, k, n, kid, out);
  if (v->type == LQ_LOOP) return loop_field(r, v->u.loop, k, n, out);
  return R_OK;
}

int lq_key(lq_render *r, const lq_value *v, const char *k, size_t n, lq_value *out) {
  return lq_key_id(r, v, k, n, 0, out);
}

int lq_lookup(lq_render *r, const lq_value *v, const lq_value *key, int command, int kid, lq_value *out) {
  *out = lq_nil();
  if (key->type == LQ_STR) {
    if (v->type == LQ_HOSTHASH || v->type == LQ_LOOP) {
      if (lq_key_id(r, v, key->u.s.p, key->u.s.n, kid, out)) return R_ERR;
      if (out->type != LQ_NIL || v->type == LQ_LOOP) return R_OK;
    }
    if (command) {
      const char *k = key->u.s.p;
      size_t n = key->u.s.n;
      if (n == 4 && memcmp(k, "size", 4) == 0) {
        switch (v->type) {
          case LQ_STR: case LQ_ARRAY: case LQ_HOSTARR: case LQ_HOSTHASH: case LQ_RANGE:
            *out = lq_int(lq_len(r, v));
            break;
          case LQ_INT: *out = lq_int(8); break;
          default: break;
        }
        return R_OK;
      }
      if (lq_is_array(v)) return lq_at(r, v, n == 5 ? 0 : -1, out);
      if (v->type == LQ_STR && v->u.s.n) {      /* first/last character */
        const char *s = v->u.s.p, *e = s + v->u.s.n, *c = s;
        if (n == 5) { c = s + 1; while (c < e && ((unsigned char)*c & 0xC0) == 0x80) c++; *out = lq_cstr(s, (size_t)(c - s)); }
        else { c = e - 1; while (c > s && ((unsigned char)*c & 0xC0) == 0x80) c--; *out = lq_cstr(c, (size_t)(e - c)); }
        return R_OK;
      }
      if (v->type == LQ_HOSTHASH && n == 5) {
        lq_array p;
        if (lq_pairs(r, v, &p)) return R_ERR;
        if (p.n) *out = p.v[0];
      }
    }
    return R_OK;
  }
  if (key->type == LQ_INT && (v->type == LQ_ARRAY || v->type == LQ_HOSTARR))
    return lq_at(r, v, key->u.i, out);
  return R_OK;
}

/* bytewise, then shorter first; non-strings (a host should give none) last */
static int key_before(const lq_value *a, const lq_value *b) {
  size_t n;
  int c;
  if (a->type != LQ_STR || b->type != LQ_STR) return a->type == LQ_STR && b->type != LQ_STR;
  n = a->u.s.n < b->u.s.n ? a->u.s.n : b->u.s.n;
  c = memcmp(a->u.s.p, b->u.s.p, n);
  return c ? c < 0 : a->u.s.n < b->u.s.n;
}

/* a hash's keys in order: a bottom-up merge sort, which counts its work */
static int sort_keys(lq_render *r, lq_value *k, size_t n) {
  lq_value *tmp = lq_alloc(r, n * sizeof *tmp), *src = k, *dst = tmp;
  size_t w, lo;
  if (!tmp) return R_ERR;
  for (w = 1; w < n; w *= 2) {
    for (lo = 0; lo < n; lo += 2 * w) {
      size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
      size_t i = lo, j = mid, o = lo;
      if (lq_work(r, (hi - lo) * LQ_WORK_ITEM / 4)) return R_ERR;
      while (i < mid && j < hi) dst[o++] = key_before(&src[j], &src[i]) ? src[j++] : src[i++];
      while (i < mid) dst[o++] = src[i++];
      while (j < hi) dst[o++] = src[j++];
    }
    tmp = src, src = dst, dst = tmp;
  }
  if (src != k) memcpy(k, src, n * sizeof *k);
  return R_OK;
}

int lq_pairs(lq_render *r, const lq_value *hash, lq_array *out) {
  lq_value keys;
  lq_array list;
  int64_t i, n;
  int ordered = 0;
  out->n = 0;
  out->v = NULL;
  if (r->host->keys(r->host->ud, hash->u.h, &keys, &ordered)) return host_fail(r);
  if (lq_list(r, &keys, &list)) return R_ERR;
  if (list.n == 0) return R_OK;
  if (!ordered) {                          /* sorted here, never in the host's own array */
    lq_value *copy = keys.type == LQ_ARRAY && list.n ? lq_alloc(r, list.n * sizeof *copy) : list.v;
    if (!copy) return R_ERR;
    if (copy != list.v) memcpy(copy, list.v, list.n * sizeof *copy);
    list.v = copy;
    if (sort_keys(r, list.v, list.n)) return R_ERR;
  }
  n = (int64_t)list.n;
  if (!(out->v = lq_alloc(r, (size_t)n * (sizeof(lq_value) + sizeof(lq_array) + 2 * sizeof(lq_value)))))
    return R_ERR;
  {
    lq_array *pa = (lq_array *)(out->v + n);
    lq_value *kv = (lq_value *)(pa + n);
    for (i = 0; i < n; i++) {
      lq_value *pair = kv + 2 * i;
      pair[0] = list.v[i];
      if (pair[0].type == LQ_STR) {
        if (lq_key(r, hash, pair[0].u.s.p, pair[0].u.s.n, &pair[1])) return R_ERR;
      } else pair[1] = lq_nil();
      pa[i].n = 2;
      pa[i].v = pair;
      out->v[i].type = LQ_ARRAY;
      out->v[i].u.a = &pa[i];
    }
  }
  out->n = (size_t)n;
  return R_OK;
}

int lq_list(lq_render *r, const lq_value *v, lq_array *out) {
  int64_t i, n;
  out->n = 0;
  out->v = NULL;
  switch (v->type) {
    case LQ_ARRAY: *out = *v->u.a; return R_OK;
    case LQ_HOSTHASH: return lq_pairs(r, v, out);
    case LQ_RANGE: case LQ_HOSTARR:
      n = lq_len(r, v);
      if (n <= 0) return R_OK;
      if (r->opt.limits.loop_iterations > 0 && n > r->opt.limits.loop_iterations * 10)
        return lq_fatal(r, "collection too large (%lld items)", (long long)n);
      if (v->type == LQ_RANGE && lq_work(r, (size_t)n)) return R_ERR;  /* host items count in lq_at */
      if (!(out->v = lq_alloc(r, (size_t)n * sizeof(lq_value)))) return R_ERR;
      /* item by item as lq_at, without asking the host for the length again each time */
      for (i = 0; i < n; i++) {
        out->v[i] = lq_nil();
        if (v->type == LQ_RANGE) out->v[i] = lq_int(v->u.r.lo + i);
        else if (lq_work(r, LQ_WORK_ITEM)) return R_ERR;
        else if (r->host->index(r->host->ud, v->u.h, i, &out->v[i])) return host_fail(r);
      }
      out->n = (size_t)n;
      return R_OK;
    case LQ_NIL: return R_OK;
    default:
      if (!(out->v = lq_alloc(r, sizeof(lq_value)))) return R_ERR;
      out->v[0] = *v;
      out->n = 1;
      return R_OK;
  }
}

/* ---- numbers ---- */

/* decimal digits of i into out (NUL-terminated, at most 20 chars + NUL); the length.
** Written out because printing integers is the renderer's most common job. */
int lq_fmt_int(int64_t i, char *out) {
  char tmp[24], *p = tmp + sizeof tmp;
  uint64_t u = i < 0 ? (uint64_t)0 - (uint64_t)i : (uint64_t)i;
  int n;
  do { *--p = (char)('0' + u % 10); u /= 10; } while (u);
  if (i < 0) *--p = '-';
  n = (int)(tmp + sizeof tmp - p);
  memcpy(out, p, (size_t)n);
  out[n] = 0;
  return n;
}

/* Ruby Float#to_s: the shortest digits that read back the same; fixed notation for
** 1e-4 <= |d| < 1e15, else d.ddde+XX; always a ".0" when integral. */
/* The shortest decimal digits that read back as d (finite, non-zero): digits without a
** point, their count, and the power of ten of the first. A 15-digit rendering that round
** trips is the shortest one padded with zeros (any <=15-digit decimal sits on that grid),
** so at most three tries are needed rather than seventeen. */
int lq_shortest(double d, char digits[24], int *exp10) {
  char tmp[40];
  const char *p;
  int prec, nd = 0;
  for (prec = 15; prec <= 17; prec++) {
    snprintf(tmp, sizeof tmp, "%.*e", prec - 1, d);
    if (prec == 17 || strtod(tmp, NULL) == d) break;
  }
  p = tmp + (*tmp == '-');
  for (; *p && *p != 'e'; p++) if (*p != '.') digits[nd++] = *p;
  *exp10 = atoi(p + 1);
  while (nd > 1 && digits[nd - 1] == '0') nd--;
  digits[nd] = 0;
  return nd;
}

void lq_fmt_float(double d, char *out, size_t cap) {
  char digits[24];
  int exp10, nd, i;
  char *o = out, *oe = out + cap - 1;
  if (isnan(d)) { snprintf(out, cap, "NaN"); return; }
  if (isinf(d)) { snprintf(out, cap, d < 0 ? "-Infinity" : "Infinity"); return; }
  if (d == 0) { snprintf(out, cap, signbit(d) ? "-0.0" : "0.0"); return; }
  nd = lq_shortest(d, digits, &exp10);
  if (d < 0 && o < oe) *o++ = '-';
  if (exp10 >= -4 && exp10 < 15) {
    if (exp10 < 0) {
      if (o < oe) *o++ = '0';
      if (o < oe) *o++ = '.';
      for (i = 0; i < -exp10 - 1 && o < oe; i++) *o++ = '0';
      for (i = 0; i < nd && o < oe; i++) *o++ = digits[i];
    } else {
      for (i = 0; i <= exp10 && o < oe; i++) *o++ = i < nd ? digits[i] : '0';
      if (o < oe) *o++ = '.';
      if (nd > exp10 + 1) for (i = exp10 + 1; i < nd && o < oe; i++) *o++ = digits[i];
      else if (o < oe) *o++ = '0';
    }
    *o = 0;
  } else {
    if (o < oe) *o++ = digits[0];
    if (o < oe) *o++ = '.';
    if (nd > 1) for (i = 1; i < nd && o < oe; i++) *o++ = digits[i];
    else if (o < oe) *o++ = '0';
    *o = 0;
    snprintf(o, (size_t)(oe - o) + 1, "e%c%02d", exp10 < 0 ? '-' : '+', exp10 < 0 ? -exp10 : exp10);
  }
}

static int is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* String#to_i: optional space, sign, digits (underscores between digits allowed). */
static int64_t str_to_i(const char *p, size_t n) {
  const char *e = p + n;
  int neg = 0;
  uint64_t v = 0;
  while (p < e && is_space(*p)) p++;
  if (p < e && (*p == '-' || *p == '+')) neg = *p++ == '-';
  for (; p < e; p++) {
    if (*p >= '0' && *p <= '9') {
      if (v >= (uint64_t)INT64_MAX / 10) break;      /* saturated: more digits change nothing */
      v = v * 10 + (uint64_t)(*p - '0');
    } else if (*p == '_' && p + 1 < e && p[1] >= '0' && p[1] <= '9' && p[-1] >= '0' && p[-1] <= '9') {
      continue;
    } else break;
  }
  return neg ? -(int64_t)v : (int64_t)v;
}

int64_t lq_to_int(const lq_value *v) {
  switch (v->type) {
    case LQ_INT: return v->u.i;
    case LQ_FLOAT: return isfinite(v->u.f) ? lq_f2i(v->u.f) : 0;
    case LQ_STR: return str_to_i(v->u.s.p, v->u.s.n);
    default: return 0;
  }
}

/* Utils.to_number: numbers stay; strings that look like -?\d+\.\d+ become floats, others
** String#to_i; anything else 0. */
lq_value lq_to_number(const lq_value *v) {
  switch (v->type) {
    case LQ_INT: case LQ_FLOAT: return *v;
    case LQ_STR: {
      const char *p = v->u.s.p, *e = p + v->u.s.n, *q;
      while (p < e && is_space(*p)) p++;
      while (e > p && is_space(e[-1])) e--;
      q = p;
      if (q < e && *q == '-') q++;
      if ((size_t)(e - p) < 128 && q < e && *q >= '0' && *q <= '9') {   /* longer: not a float */
        while (q < e && *q >= '0' && *q <= '9') q++;
        if (q < e && *q == '.' && q + 1 < e && q[1] >= '0' && q[1] <= '9') {
          q++;
          while (q < e && *q >= '0' && *q <= '9') q++;
          if (q == e) {
            char tmp[128];
            size_t n = (size_t)(e - p);
            memcpy(tmp, p, n);
            tmp[n] = 0;
            return lq_float(strtod(tmp, NULL));
          }
        }
      }
      return lq_int(str_to_i(v->u.s.p, v->u.s.n));
    }
    default: return lq_int(0);
  }
}

/* ---- printing ---- */

static void add_float(lq_buf *b, double d) {
  char tmp[40];
  lq_fmt_float(d, tmp, sizeof tmp);
  lq_buf_adds(b, tmp);
}

static void add_int(lq_buf *b, int64_t i) {
  char tmp[32];
  lq_buf_add(b, tmp, (size_t)lq_fmt_int(i, tmp));
}

int lq_write(lq_render *r, lq_buf *b, const lq_value *v) {
  switch (v->type) {
    case LQ_NIL: case LQ_EMPTY: case LQ_BLANK: return R_OK;
    case LQ_BOOL: lq_buf_adds(b, v->u.b ? "true" : "false"); return R_OK;
    case LQ_INT: add_int(b, v->u.i); return R_OK;
    case LQ_FLOAT: add_float(b, v->u.f); return R_OK;
    case LQ_STR: lq_buf_add(b, v->u.s.p, v->u.s.n); return R_OK;
    case LQ_RANGE: add_int(b, v->u.r.lo); lq_buf_add(b, "..", 2); add_int(b, v->u.r.hi); return R_OK;
    case LQ_ARRAY: case LQ_HOSTARR: {
      int64_t i, n = lq_len(r, v);
      for (i = 0; i < n; i++) {
        lq_value e;
        if (b->oom || b->full) return b->oom ? R_ERR : R_OK;   /* full: the caller says so */
        if (lq_work(r, LQ_WORK_ITEM) || lq_at(r, v, i, &e)) return R_ERR;
        if (e.type == LQ_ARRAY || e.type == LQ_HOSTARR) {
          if (lq_enter(r)) return R_ERR;
          if (lq_write(r, b, &e)) { lq_leave(r); return R_ERR; }
          lq_leave(r);
        } else if (lq_write(r, b, &e)) return R_ERR;
      }
      return R_OK;
    }
    case LQ_HOSTHASH: return lq_inspect(r, b, v, 0);
    case LQ_LOOP: lq_buf_adds(b, ((lq_loop *)v->u.loop)->tablerow ? "TablerowloopDrop" : "ForloopDrop"); return R_OK;
    default: return R_OK;
  }
}

/* A quoted string, escaped the way Ruby's String#inspect (json = 0) or JSON (json = 1)
** writes it. */
static int quote_str(lq_render *r, lq_buf *b, const char *p, size_t n, int json) {
  size_t i, next = 0;
  lq_buf_addc(b, '"');
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)p[i];
    if (lq_work_bytes(r, i, n, &next)) return R_ERR;
    switch (c) {
      case '"': lq_buf_add(b, "\\\"", 2); break;
      case '\\': lq_buf_add(b, "\\\\", 2); break;
      case '\n': lq_buf_add(b, "\\n", 2); break;
      case '\t': lq_buf_add(b, "\\t", 2); break;
      case '\r': lq_buf_add(b, "\\r", 2); break;
      case '\f': lq_buf_add(b, "\\f", 2); break;
      case '\b': lq_buf_add(b, "\\b", 2); break;
      case '\v': lq_buf_add(b, json ? "\\u000b" : "\\v", json ? 6 : 2); break;
      case 27: lq_buf_add(b, json ? "\\u001b" : "\\e", json ? 6 : 2); break;
      case '#':
        if (!json && i + 1 < n && (p[i + 1] == '{' || p[i + 1] == '$' || p[i + 1] == '@')) lq_buf_add(b, "\\#", 2);
        else lq_buf_addc(b, '#');
        break;
      default:
        if (c < 32 || (!json && c == 127)) {
          char tmp[8];
          snprintf(tmp, sizeof tmp, json ? "\\u%04x" : "\\x%02X", c);
          lq_buf_adds(b, tmp);
        } else lq_buf_addc(b, (char)c);
    }
  }
  lq_buf_addc(b, '"');
  return R_OK;
}

int lq_tostr(lq_render *r, const lq_value *v, lq_value *out) {
  lq_buf b;
  int rc;
  if (v->type == LQ_STR) { *out = *v; return R_OK; }
  if (v->type == LQ_NIL) { *out = lq_cstr("", 0); return R_OK; }
  if (v->type == LQ_BOOL) { *out = v->u.b ? lq_cstr("true", 4) : lq_cstr("false", 5); return R_OK; }
  lq_buf_init(&b, r);
  /* Ruby's to_s: an array reads as its inspect form (output joins it instead) */
  if (v->type == LQ_ARRAY || v->type == LQ_HOSTARR) rc = lq_inspect(r, &b, v, 0);
  else rc = lq_write(r, &b, v);
  if (rc == R_OK) rc = lq_buf_str(&b, out);
  return rc;
}

/* ---- JSON (Studio's to_json) ---- */

/* Nested values as text, in one of three styles: Ruby's inspect (3.3 style, {"a"=>1}), used
** when a hash is printed or an array stringified under Shopify's rules; JSON, Studio's
** to_json; and Studio's printing of the same ({a=1, b=[x, y]}: no quotes, ", " between
** items, nil as null), under LQ_OBJECTS_STUDIO. */
enum { SER_RUBY, SER_JSON, SER_STUDIO };

static int serialize_in(lq_render *r, lq_buf *b, const lq_value *v, int depth, int style);

static int serialize(lq_render *r, lq_buf *b, const lq_value *v, int depth, int style) {
  int rc;
  if (lq_enter(r)) return R_ERR;
  rc = serialize_in(r, b, v, depth, style);
  lq_leave(r);
  return rc;
}

static int serialize_in(lq_render *r, lq_buf *b, const lq_value *v, int depth, int style) {
  int json = style == SER_JSON;
  const char *sep = json ? "," : ", ";
  switch (v->type) {
    case LQ_NIL: case LQ_EMPTY: case LQ_BLANK: lq_buf_adds(b, style == SER_RUBY ? "nil" : "null"); return R_OK;
    case LQ_FLOAT:
      if (json && !isfinite(v->u.f)) { lq_buf_adds(b, "null"); return R_OK; }
      add_float(b, v->u.f);
      return R_OK;
    case LQ_STR:
      if (style == SER_STUDIO) { lq_buf_add(b, v->u.s.p, v->u.s.n); return R_OK; }
      return quote_str(r, b, v->u.s.p, v->u.s.n, json);
    case LQ_RANGE:                           /* JSON has no ranges: it lists them */
      if (!json) return lq_write(r, b, v);
      /* fall through */
    case LQ_ARRAY: case LQ_HOSTARR: {
      int64_t i, n = lq_len(r, v);
      lq_buf_addc(b, '[');
      for (i = 0; i < n; i++) {
        lq_value e;
        if (i) lq_buf_adds(b, sep);
        if (b->oom || b->full) return b->oom ? R_ERR : R_OK;
        if (lq_work(r, LQ_WORK_ITEM) || lq_at(r, v, i, &e) || serialize(r, b, &e, depth + 1, style))
          return R_ERR;
      }
      lq_buf_addc(b, ']');
      return R_OK;
    }
    case LQ_HOSTHASH: {
      lq_array p;
      size_t i;
      if (lq_pairs(r, v, &p)) return R_ERR;
      lq_buf_addc(b, '{');
      for (i = 0; i < p.n; i++) {
        const lq_value *k = &p.v[i].u.a->v[0];
        lq_value ks;
        if (i) lq_buf_adds(b, sep);
        if (b->oom || b->full) return b->oom ? R_ERR : R_OK;
        if (json) {                          /* JSON keys are strings */
          if (lq_tostr(r, k, &ks)) return R_ERR;
          k = &ks;
        }
        if (serialize(r, b, k, depth + 1, style)) return R_ERR;
        lq_buf_adds(b, json ? ":" : style == SER_STUDIO ? "=" : "=>");
        if (serialize(r, b, &p.v[i].u.a->v[1], depth + 1, style)) return R_ERR;
      }
      lq_buf_addc(b, '}');
      return R_OK;
    }
    case LQ_LOOP:
      if (json) {
        static const char *const f[] = { "first", "index", "index0", "last", "length", "rindex", "rindex0", NULL };
        int i;
        lq_buf_addc(b, '{');
        for (i = 0; f[i]; i++) {
          lq_value e;
          if (i) lq_buf_addc(b, ',');
          quote_str(r, b, f[i], strlen(f[i]), 1);
          lq_buf_addc(b, ':');
          if (lq_key(r, v, f[i], strlen(f[i]), &e) || serialize(r, b, &e, depth + 1, SER_JSON)) return R_ERR;
        }
        lq_buf_addc(b, '}');
        return R_OK;
      }
      return lq_write(r, b, v);
    default: return lq_write(r, b, v);     /* booleans, integers: the same in every style */
  }
}

int lq_inspect(lq_render *r, lq_buf *b, const lq_value *v, int depth) {
  return serialize(r, b, v, depth, r->opt.objects == LQ_OBJECTS_STUDIO ? SER_STUDIO : SER_RUBY);
}

int lq_to_json(lq_render *r, lq_buf *b, const lq_value *v, int depth) {
  return serialize(r, b, v, depth, SER_JSON);
}
