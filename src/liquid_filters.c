/*
** Liquid's standard filters (Shopify Liquid 5.13) plus Studio's to_json. Each takes the
** input in *v and replaces it with the result; arity is checked by the caller from the
** table at the bottom. Float arithmetic is decimal, as Ruby's BigDecimal makes it.
*/
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <locale.h>
#include <wctype.h>

#include "liquid_date.h"
#include "liquid_filters.h"
#include "liquid_value.h"

#define FILTER(name) static int f_##name(lq_render *r, lq_value *v, int argc, const lq_value *argv, \
                                         int nkw, const lq_kwarg *kw, const lq_value *kwv)
#define UNUSED_ARGS (void)argc; (void)argv; (void)nkw; (void)kw; (void)kwv

static const lq_value NIL_VALUE = { LQ_NIL, { 0 } };
#define ARG(i) (argc > (i) ? &argv[i] : &NIL_VALUE)

/* ---- helpers ---- */

static int tostr(lq_render *r, const lq_value *in, lq_value *out) {
  return lq_tostr(r, in, out);
}

static int new_array(lq_render *r, size_t n, lq_value *out, lq_value **items) {
  lq_array *a = lq_alloc(r, sizeof *a + (n ? n : 1) * sizeof(lq_value));
  if (!a) return R_ERR;
  a->n = n;
  a->v = (lq_value *)(a + 1);
  out->type = LQ_ARRAY;
  out->u.a = a;
  if (items) *items = a->v;
  return R_OK;
}

static int flatten_into(lq_render *r, const lq_value *v, lq_buf *acc) {
  lq_array a;
  size_t i;
  int rc = R_OK;
  if (lq_enter(r)) return R_ERR;
  if (lq_list(r, v, &a)) rc = R_ERR;
  for (i = 0; rc == R_OK && i < a.n; i++) {
    if (lq_work(r, LQ_WORK_ITEM)) rc = R_ERR;
    else if (a.v[i].type == LQ_ARRAY || a.v[i].type == LQ_HOSTARR) rc = flatten_into(r, &a.v[i], acc);
    else lq_buf_add(acc, &a.v[i], sizeof(lq_value));
  }
  lq_leave(r);
  return rc;
}

/* Ruby's InputIterator: arrays flattened, a hash is one item, nil is none, a range its
** numbers, anything else itself. */
static int input_list(lq_render *r, const lq_value *v, lq_array *out) {
  out->n = 0;
  out->v = NULL;
  if (v->type == LQ_NIL) return R_OK;
  if (v->type == LQ_ARRAY || v->type == LQ_HOSTARR) {
    lq_buf acc;
    size_t i;
    if (lq_list(r, v, out)) return R_ERR;
    for (i = 0; i < out->n; i++)
      if (out->v[i].type == LQ_ARRAY || out->v[i].type == LQ_HOSTARR) break;
    if (i == out->n) return R_OK;            /* flat already: the list as it is */
    lq_buf_init(&acc, r);
    if (flatten_into(r, v, &acc) || acc.oom) return R_ERR;
    out->v = (lq_value *)acc.p;              /* the arena keeps it */
    out->n = acc.n / sizeof(lq_value);
    return R_OK;
  }
  if (v->type == LQ_RANGE) return lq_list(r, v, out);
  if (!(out->v = lq_alloc(r, sizeof(lq_value)))) return R_ERR;
  out->v[0] = *v;
  out->n = 1;
  return R_OK;
}

/* characters in s (a count is work: lq_work; past time_ms the render fails anyway) */
static size_t utf8_len(lq_render *r, const char *s, size_t n) {
  size_t i, c = 0, next = 0;
  for (i = 0; i < n; i++) {
    if (lq_work_bytes(r, i, n, &next)) break;
    c += ((unsigned char)s[i] & 0xC0) != 0x80;
  }
  return c;
}

/* bytes of the character at s (n > 0 bytes left) */
static size_t utf8_next(const char *s, size_t n) {
  size_t i = 1;
  while (i < n && ((unsigned char)s[i] & 0xC0) == 0x80) i++;
  return i;
}

/* byte offset of character index ci (ci <= length) */
static size_t utf8_off(lq_render *r, const char *s, size_t n, size_t ci) {
  size_t i = 0, next = 0;
  while (i < n && ci) {
    if (lq_work_bytes(r, i, n, &next)) break;
    i++;
    while (i < n && ((unsigned char)s[i] & 0xC0) == 0x80) i++;
    ci--;
  }
  return i;
}

/* Ruby's whitespace (\s): a table, as word loops test every byte */
static const unsigned char RSPACE[256] = {['\t'] = 1, ['\n'] = 1, ['\v'] = 1, ['\f'] = 1, ['\r'] = 1, [' '] = 1};

static int is_rspace(char c) {
  return RSPACE[(unsigned char)c];
}

/* Utils.to_integer: integers stay, floats truncate (their to_s must be an integer for Ruby:
** 2.2 is invalid), strings must read wholly as an integer. */
static int to_integer(lq_render *r, const lq_value *v, int64_t *out) {
  if (v->type == LQ_INT) { *out = v->u.i; return R_OK; }
  if (v->type == LQ_STR) {
    const char *p = v->u.s.p, *e = p + v->u.s.n;
    char tmp[32], *end;
    size_t n;
    while (p < e && is_rspace(*p)) p++;
    while (e > p && is_rspace(e[-1])) e--;
    n = (size_t)(e - p);
    if (n && n < sizeof tmp) {
      memcpy(tmp, p, n);
      tmp[n] = 0;
      *out = strtoll(tmp, &end, 10);
      if (!*end) return R_OK;
    }
  }
  if (v->type == LQ_FLOAT && v->u.f == floor(v->u.f) && fabs(v->u.f) < 9e18) {
    *out = lq_f2i(v->u.f);
    return R_OK;
  }
  return lq_fail(r, "invalid integer");
}

/* ---- decimal arithmetic (Ruby's BigDecimal for floats) ---- */

__extension__ typedef __int128 i128;
typedef struct dec { i128 m; int e; } dec;   /* m * 10^e */
#define DEC_MAX ((i128)1000000000 * 1000000000 * 1000000000 * 100000000)   /* 1e35 */

static dec dec_of(const lq_value *v) {
  dec d;
  char digits[24];
  int nd, ex, i;
  d.m = 0;
  d.e = 0;
  if (v->type == LQ_INT) { d.m = v->u.i; return d; }
  if (v->u.f == 0 || !isfinite(v->u.f)) return d;
  nd = lq_shortest(v->u.f, digits, &ex);     /* Ruby: BigDecimal(float.to_s) */
  for (i = 0; i < nd; i++) d.m = d.m * 10 + (digits[i] - '0');
  d.e = ex - (nd - 1);
  if (v->u.f < 0) d.m = -d.m;
  return d;
}

static double dec_to_double(dec d) {
  char tmp[64], *p = tmp + sizeof tmp - 1;
  i128 m = d.m < 0 ? -d.m : d.m;
  *p = 0;
  do { *--p = (char)('0' + (int)(m % 10)); m /= 10; } while (m);
  if (d.m < 0) *--p = '-';
  {
    char out[96];
    snprintf(out, sizeof out, "%se%d", p, d.e);
    return strtod(out, NULL);
  }
}

/* bring both to the smaller exponent; 0 when that would overflow */
static int dec_align(dec *a, dec *b) {
  while (a->e > b->e) {
    if (a->m > DEC_MAX / 10 || a->m < -DEC_MAX / 10) return 0;
    a->m *= 10;
    a->e--;
  }
  while (b->e > a->e) {
    if (b->m > DEC_MAX / 10 || b->m < -DEC_MAX / 10) return 0;
    b->m *= 10;
    b->e--;
  }
  return 1;
}

static int is_float(const lq_value *v) { return v->type == LQ_FLOAT; }

static int arith(lq_render *r, lq_value *v, const lq_value *operand, char op) {
  lq_value a = lq_to_number(v), b = lq_to_number(operand);
  if (a.type == LQ_INT && b.type == LQ_INT) {
    int64_t x = a.u.i, y = b.u.i, z;
    switch (op) {
      case '+': if (!__builtin_add_overflow(x, y, &z)) { *v = lq_int(z); return R_OK; } break;
      case '-': if (!__builtin_sub_overflow(x, y, &z)) { *v = lq_int(z); return R_OK; } break;
      case '*': if (!__builtin_mul_overflow(x, y, &z)) { *v = lq_int(z); return R_OK; } break;
      case '/': case '%':
        if (y == 0) return lq_fail(r, "divided by 0");
        if (x == INT64_MIN && y == -1) break;
        z = op == '/' ? x / y : x % y;
        if (op == '/' && (x % y != 0) && ((x < 0) != (y < 0))) z--;         /* floor */
        if (op == '%' && z != 0 && ((z < 0) != (y < 0))) z += y;
        *v = lq_int(z);
        return R_OK;
    }
    *v = lq_float(op == '+' ? (double)x + (double)y : op == '-' ? (double)x - (double)y :
                  op == '*' ? (double)x * (double)y : (double)x / (double)y);
    return R_OK;
  }
  if (!isfinite(is_float(&a) ? a.u.f : 0) || !isfinite(is_float(&b) ? b.u.f : 0)) {
    double x = a.type == LQ_INT ? (double)a.u.i : a.u.f, y = b.type == LQ_INT ? (double)b.u.i : b.u.f;
    *v = lq_float(op == '+' ? x + y : op == '-' ? x - y : op == '*' ? x * y : op == '/' ? x / y : fmod(x, y));
    return R_OK;
  }
  {
    dec x = dec_of(&a), y = dec_of(&b), z;
    double xd = dec_to_double(x), yd = dec_to_double(y);
    if (op == '%' && y.m == 0) return lq_fail(r, "divided by 0");
    if (op == '/' && y.m == 0) { *v = lq_float(xd == 0 ? NAN : (xd < 0) != signbit(yd) ? -INFINITY : INFINITY); return R_OK; }
    switch (op) {
      case '+': case '-':
        if (dec_align(&x, &y)) {
          z.m = op == '+' ? x.m + y.m : x.m - y.m;
          z.e = x.e;
          *v = lq_float(dec_to_double(z));
          return R_OK;
        }
        *v = lq_float(op == '+' ? xd + yd : xd - yd);
        return R_OK;
      case '*': {
        i128 ax = x.m < 0 ? -x.m : x.m, ay = y.m < 0 ? -y.m : y.m;
        if (ax == 0 || ay == 0) { *v = lq_float(0.0 * (xd < 0 ? -1 : 1) * (yd < 0 ? -1 : 1)); return R_OK; }
        if (ax <= DEC_MAX / ay) {
          z.m = x.m * y.m;
          z.e = x.e + y.e;
          *v = lq_float(dec_to_double(z));
          return R_OK;
        }
        *v = lq_float(xd * yd);
        return R_OK;
      }
      case '/':
        *v = lq_float(xd / yd);           /* a float divided by zero is Infinity/NaN */
        return R_OK;
      default:     /* % : floored, sign of the divisor */
        if (dec_align(&x, &y)) {
          z.m = x.m % y.m;
          if (z.m != 0 && ((z.m < 0) != (y.m < 0))) z.m += y.m;
          z.e = x.e;
          *v = lq_float(dec_to_double(z));
          return R_OK;
        }
        {
          double m = fmod(xd, yd);
          if (m != 0 && ((m < 0) != (yd < 0))) m += yd;
          *v = lq_float(m);
        }
        return R_OK;
    }
  }
}

FILTER(plus) { UNUSED_ARGS; return arith(r, v, ARG(0), '+'); }
FILTER(minus) { UNUSED_ARGS; return arith(r, v, ARG(0), '-'); }
FILTER(times) { UNUSED_ARGS; return arith(r, v, ARG(0), '*'); }
FILTER(divided_by) { UNUSED_ARGS; return arith(r, v, ARG(0), '/'); }
FILTER(modulo) { UNUSED_ARGS; return arith(r, v, ARG(0), '%'); }

FILTER(abs) {
  lq_value n = lq_to_number(v);
  UNUSED_ARGS; (void)r;
  if (n.type == LQ_INT) *v = lq_int(n.u.i < 0 ? -n.u.i : n.u.i);
  else *v = lq_float(fabs(n.u.f));
  return R_OK;
}

static int num_cmp(const lq_value *a, const lq_value *b) {
  if (a->type == LQ_INT && b->type == LQ_INT) return (a->u.i > b->u.i) - (a->u.i < b->u.i);
  {
    double x = a->type == LQ_INT ? (double)a->u.i : a->u.f;
    double y = b->type == LQ_INT ? (double)b->u.i : b->u.f;
    return (x > y) - (x < y);
  }
}

FILTER(at_least) {
  lq_value n = lq_to_number(v), m = lq_to_number(ARG(0));
  UNUSED_ARGS; (void)r;
  *v = num_cmp(&m, &n) > 0 ? m : n;
  return R_OK;
}

FILTER(at_most) {
  lq_value n = lq_to_number(v), m = lq_to_number(ARG(0));
  UNUSED_ARGS; (void)r;
  *v = num_cmp(&m, &n) < 0 ? m : n;
  return R_OK;
}

static int float_domain(lq_render *r, double d) {
  if (isnan(d)) return lq_fail(r, "NaN");
  return lq_fail(r, d < 0 ? "-Infinity" : "Infinity");
}

/* ceil and floor: integers stay, floats go to the integer Ruby's ceil/floor gives */
static int to_whole(lq_render *r, lq_value *v, double (*fn)(double)) {
  lq_value n = lq_to_number(v);
  if (n.type == LQ_FLOAT) {
    if (!isfinite(n.u.f)) return float_domain(r, n.u.f);
    double w = fn(n.u.f);
    /* past int64 the whole number stays a float rather than overflow */
    n = fabs(w) < 9.2e18 ? lq_int((int64_t)w) : lq_float(w);
  }
  *v = n;
  return R_OK;
}

FILTER(ceil) { UNUSED_ARGS; return to_whole(r, v, ceil); }
FILTER(floor) { UNUSED_ARGS; return to_whole(r, v, floor); }

static i128 pow10i(int k) {
  i128 p = 1;
  while (k-- > 0) p *= 10;
  return p;
}

/* round half away from zero to `digits` decimals (negative: tens, hundreds ...) */
FILTER(round) {
  lq_value n = lq_to_number(v), dn = lq_to_number(ARG(0));
  int64_t digits = dn.type == LQ_INT ? dn.u.i : lq_f2i(dn.u.f);
  UNUSED_ARGS;
  if (digits > 30) digits = 30;
  if (digits < -30) digits = -30;
  if (n.type == LQ_INT) {
    if (digits < 0) {
      i128 p = pow10i((int)-digits), m = n.u.i, q = m / p, rem = m % p;
      if ((rem < 0 ? -rem : rem) * 2 >= p) q += m < 0 ? -1 : 1;
      *v = lq_int((int64_t)(q * p));
    } else *v = n;
    return R_OK;
  }
  if (!isfinite(n.u.f)) return float_domain(r, n.u.f);
  {
    dec d = dec_of(&n);
    int shift = -(int)digits - d.e;       /* digits to drop */
    if (shift > 0) {
      if (shift > 36) d.m = 0;
      else {
        i128 p = pow10i(shift), q = d.m / p, rem = d.m % p;
        if ((rem < 0 ? -rem : rem) * 2 >= p) q += d.m < 0 ? -1 : 1;
        d.m = q;
      }
      d.e = -(int)digits;
    }
    if (digits <= 0) {
      double x = dec_to_double(d);
      if (fabs(x) >= 9.2e18) *v = lq_float(x);
      else *v = lq_int((int64_t)x);
    } else *v = lq_float(dec_to_double(d));
  }
  return R_OK;
}

/* ---- strings ---- */

/* a then b, both as strings */
static int join2(lq_render *r, lq_value *v, const lq_value *a, const lq_value *b) {
  lq_value x, y;
  lq_buf o;
  if (tostr(r, a, &x) || tostr(r, b, &y)) return R_ERR;
  if (lq_work(r, x.u.s.n + y.u.s.n)) return R_ERR;
  lq_buf_init(&o, r);
  lq_buf_add(&o, x.u.s.p, x.u.s.n);
  lq_buf_add(&o, y.u.s.p, y.u.s.n);
  return lq_buf_str(&o, v);
}

FILTER(append) { lq_value in = *v; UNUSED_ARGS; return join2(r, v, &in, ARG(0)); }
FILTER(prepend) { lq_value in = *v; UNUSED_ARGS; return join2(r, v, ARG(0), &in); }

/* Unicode case mapping through libc's tables for C.UTF-8 (towupper_l): one locale object,
** made on first use; if two threads race here one object leaks, nothing worse. */
static locale_t utf8_locale(void) {
  static locale_t loc;
  static int tried;
  if (!tried) {
    loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
    tried = 1;
  }
  return loc;
}

/* decode one UTF-8 sequence at s (n bytes left); returns its length, 0 if malformed */
static size_t utf8_dec(const unsigned char *s, size_t n, uint32_t *cp) {
  size_t len, k;
  if (s[0] < 0x80) { *cp = s[0]; return 1; }
  if (s[0] >= 0xC2 && s[0] <= 0xDF) { len = 2; *cp = s[0] & 0x1F; }
  else if (s[0] >= 0xE0 && s[0] <= 0xEF) { len = 3; *cp = s[0] & 0x0F; }
  else if (s[0] >= 0xF0 && s[0] <= 0xF4) { len = 4; *cp = s[0] & 0x07; }
  else return 0;
  if (len > n) return 0;
  for (k = 1; k < len; k++) {
    if ((s[k] & 0xC0) != 0x80) return 0;
    *cp = (*cp << 6) | (s[k] & 0x3F);
  }
  /* overlong forms, surrogates and code points past U+10FFFF are not UTF-8 */
  if ((len == 3 && (*cp < 0x800 || (*cp >= 0xD800 && *cp <= 0xDFFF))) ||
      (len == 4 && (*cp < 0x10000 || *cp > 0x10FFFF)))
    return 0;
  return len;
}

/* 1 valid, 0 not, R_ERR out of time */
static int valid_utf8(lq_render *r, const char *s, size_t n) {
  size_t i = 0, next = 0;
  while (i < n) {
    uint32_t cp;
    size_t k;
    if (lq_work_bytes(r, i, n, &next)) return R_ERR;
    if (!(k = utf8_dec((const unsigned char *)s + i, n - i, &cp))) return 0;
    i += k;
  }
  return 1;
}

static void utf8_enc(lq_buf *b, uint32_t cp) {
  char t[4];
  if (cp < 0x80) { lq_buf_addc(b, (char)cp); return; }
  if (cp < 0x800) { t[0] = (char)(0xC0 | cp >> 6); t[1] = (char)(0x80 | (cp & 0x3F)); lq_buf_add(b, t, 2); return; }
  if (cp < 0x10000) {
    t[0] = (char)(0xE0 | cp >> 12); t[1] = (char)(0x80 | ((cp >> 6) & 0x3F)); t[2] = (char)(0x80 | (cp & 0x3F));
    lq_buf_add(b, t, 3);
    return;
  }
  t[0] = (char)(0xF0 | cp >> 18); t[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  t[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); t[3] = (char)(0x80 | (cp & 0x3F));
  lq_buf_add(b, t, 4);
}

/* mode 0 downcase, 1 upcase, 2 capitalize (first character up, the rest down) */
static int map_chars(lq_render *r, lq_value *v, int mode) {
  lq_value s;
  lq_buf o;
  size_t i = 0, next = 0;
  locale_t loc = utf8_locale();
  const unsigned char *p;
  if (tostr(r, v, &s)) return R_ERR;
  p = (const unsigned char *)s.u.s.p;
  lq_buf_init(&o, r);
  while (i < s.u.s.n && p[i] < 0x80) i++;
  if (i == s.u.s.n) {                  /* ASCII (names, tags, codes): byte by byte, in place */
    if (lq_work(r, s.u.s.n) || lq_buf_reserve(&o, s.u.s.n + 1)) return R_ERR;
    /* ASCII letters by arithmetic: the same in every locale, and no libc call per byte */
    for (i = 0; i < s.u.s.n; i++) {
      unsigned char c = p[i];
      if (mode == 1 || (mode == 2 && i == 0)) { if (c >= 'a' && c <= 'z') c = (unsigned char)(c - 32); }
      else if (c >= 'A' && c <= 'Z') c = (unsigned char)(c + 32);
      o.p[i] = (char)c;
    }
    o.n = s.u.s.n;
    return lq_buf_str(&o, v);
  }
  i = 0;
  while (i < s.u.s.n) {
    uint32_t cp;
    size_t k = utf8_dec(p + i, s.u.s.n - i, &cp);
    int up = mode == 1 || (mode == 2 && i == 0);
    if (lq_work_bytes(r, i, s.u.s.n, &next)) return R_ERR;
    if (k == 0) { lq_buf_addc(&o, (char)p[i]); i++; continue; }    /* bytes that are not UTF-8 stay */
    if (cp < 128) cp = (uint32_t)(up ? toupper((int)cp) : tolower((int)cp));
    else if (loc) cp = (uint32_t)(up ? towupper_l((wint_t)cp, loc) : towlower_l((wint_t)cp, loc));
    utf8_enc(&o, cp);
    i += k;
  }
  return lq_buf_str(&o, v);
}

FILTER(downcase) { UNUSED_ARGS; return map_chars(r, v, 0); }
FILTER(upcase) { UNUSED_ARGS; return map_chars(r, v, 1); }
FILTER(capitalize) { UNUSED_ARGS; return map_chars(r, v, 2); }

static int escape_html(lq_render *r, lq_value *v, int once) {
  lq_value s;
  lq_buf o;
  size_t i, next = 0;
  if (tostr(r, v, &s)) return R_ERR;
  if (lq_work(r, s.u.s.n)) return R_ERR;
  for (i = 0; i < s.u.s.n; i++) {        /* nothing to escape: the input as it is */
    char c = s.u.s.p[i];
    if (c == '&' || c == '<' || c == '>' || c == '"' || c == '\'') break;
  }
  if (i == s.u.s.n) { *v = s; return R_OK; }
  lq_buf_init(&o, r);
  lq_buf_reserve(&o, s.u.s.n + 16);
  lq_buf_add(&o, s.u.s.p, i);
  for (; i < s.u.s.n; i++) {
    char c = s.u.s.p[i];
    if (lq_work_bytes(r, i, s.u.s.n, &next)) return R_ERR;
    switch (c) {
      case '&':
        if (once) {
          /* an entity already: &name; or &#digits; */
          size_t j = i + 1;
          if (j < s.u.s.n && s.u.s.p[j] == '#') {
            j++;
            while (j < s.u.s.n && isdigit((unsigned char)s.u.s.p[j])) j++;
            if (j > i + 2 && j < s.u.s.n && s.u.s.p[j] == ';') { lq_buf_addc(&o, '&'); break; }
          } else {
            while (j < s.u.s.n && isalpha((unsigned char)s.u.s.p[j])) j++;
            if (j > i + 1 && j < s.u.s.n && s.u.s.p[j] == ';') { lq_buf_addc(&o, '&'); break; }
          }
        }
        lq_buf_adds(&o, "&amp;");
        break;
      case '<': lq_buf_adds(&o, "&lt;"); break;
      case '>': lq_buf_adds(&o, "&gt;"); break;
      case '"': lq_buf_adds(&o, "&quot;"); break;
      case '\'': lq_buf_adds(&o, "&#39;"); break;
      default: lq_buf_addc(&o, c);
    }
  }
  return lq_buf_str(&o, v);
}

FILTER(escape) {
  UNUSED_ARGS;
  if (v->type == LQ_NIL) return R_OK;
  return escape_html(r, v, 0);
}

FILTER(escape_once) { UNUSED_ARGS; return escape_html(r, v, 1); }

FILTER(url_encode) {
  lq_value s;
  lq_buf o;
  size_t i, next = 0;
  UNUSED_ARGS;
  if (v->type == LQ_NIL) return R_OK;
  if (tostr(r, v, &s)) return R_ERR;
  lq_buf_init(&o, r);
  for (i = 0; i < s.u.s.n; i++) {
    unsigned char c = (unsigned char)s.u.s.p[i];
    if (lq_work_bytes(r, i, s.u.s.n, &next)) return R_ERR;
    if (isalnum(c) || c == '_' || c == '.' || c == '-' || c == '~') lq_buf_addc(&o, (char)c);
    else if (c == ' ') lq_buf_addc(&o, '+');
    else {
      char t[4];
      snprintf(t, sizeof t, "%%%02X", c);
      lq_buf_add(&o, t, 3);
    }
  }
  return lq_buf_str(&o, v);
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

FILTER(url_decode) {
  lq_value s;
  lq_buf o;
  size_t i, next = 0;
  int valid;
  UNUSED_ARGS;
  if (v->type == LQ_NIL) return R_OK;
  if (tostr(r, v, &s)) return R_ERR;
  lq_buf_init(&o, r);
  for (i = 0; i < s.u.s.n; i++) {
    char c = s.u.s.p[i];
    if (lq_work_bytes(r, i, s.u.s.n, &next)) return R_ERR;
    if (c == '+') lq_buf_addc(&o, ' ');
    else if (c == '%' && i + 2 < s.u.s.n && hexval(s.u.s.p[i + 1]) >= 0 && hexval(s.u.s.p[i + 2]) >= 0) {
      lq_buf_addc(&o, (char)(hexval(s.u.s.p[i + 1]) * 16 + hexval(s.u.s.p[i + 2])));
      i += 2;
    } else lq_buf_addc(&o, c);
  }
  if (o.oom || (valid = valid_utf8(r, o.p ? o.p : "", o.n)) == R_ERR) return R_ERR;
  if (!valid) return lq_fail(r, "invalid byte sequence in UTF-8");
  return lq_buf_str(&o, v);
}

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_encode(lq_render *r, lq_value *v, int urlsafe) {
  lq_value s;
  lq_buf o;
  size_t i, next = 0;
  const unsigned char *p;
  if (tostr(r, v, &s)) return R_ERR;
  p = (const unsigned char *)s.u.s.p;
  lq_buf_init(&o, r);
  for (i = 0; i < s.u.s.n; i += 3) {
    uint32_t w = (uint32_t)p[i] << 16;
    size_t left = s.u.s.n - i;
    char q[4];
    int k;
    if (lq_work_bytes(r, i, s.u.s.n, &next)) return R_ERR;
    if (left > 1) w |= (uint32_t)p[i + 1] << 8;
    if (left > 2) w |= p[i + 2];
    for (k = 0; k < 4; k++) q[k] = B64[(w >> (18 - 6 * k)) & 63];
    if (left < 3) q[3] = '=';
    if (left < 2) q[2] = '=';
    if (urlsafe) for (k = 0; k < 4; k++) { if (q[k] == '+') q[k] = '-'; else if (q[k] == '/') q[k] = '_'; }
    lq_buf_add(&o, q, 4);
  }
  return lq_buf_str(&o, v);
}

static int b64_val(char c, int urlsafe) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == (urlsafe ? '-' : '+')) return 62;
  if (c == (urlsafe ? '_' : '/')) return 63;
  return -1;
}

/* strict: length a multiple of 4 with '=' padding only at the end (url-safe may omit it) */
static int b64_decode(lq_render *r, lq_value *v, int urlsafe, const char *fname) {
  lq_value s;
  lq_buf o;
  size_t i, n, next = 0;
  const char *p;
  char *padded = NULL;
  if (tostr(r, v, &s)) return R_ERR;
  p = s.u.s.p;
  n = s.u.s.n;
  if (urlsafe && n % 4) {
    size_t k;
    if (!(padded = lq_alloc(r, n + 4))) return R_ERR;
    memcpy(padded, p, n);
    for (k = n; k % 4; k++) padded[k] = '=';
    p = padded;
    n = k;
  }
  if (n % 4) return lq_fail(r, "invalid base64 provided to %s", fname);
  lq_buf_init(&o, r);
  for (i = 0; i < n; i += 4) {
    int a = b64_val(p[i], urlsafe), b = b64_val(p[i + 1], urlsafe);
    int c = p[i + 2] == '=' ? -2 : b64_val(p[i + 2], urlsafe);
    int d = p[i + 3] == '=' ? -2 : b64_val(p[i + 3], urlsafe);
    uint32_t w;
    if (lq_work_bytes(r, i, n, &next)) return R_ERR;
    if (a < 0 || b < 0 || c == -1 || d == -1 || (c == -2 && d != -2) || ((c == -2 || d == -2) && i + 4 != n))
      return lq_fail(r, "invalid base64 provided to %s", fname);
    w = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)(c < 0 ? 0 : c) << 6 | (uint32_t)(d < 0 ? 0 : d);
    lq_buf_addc(&o, (char)(w >> 16));
    if (c >= 0) lq_buf_addc(&o, (char)(w >> 8));
    if (d >= 0) lq_buf_addc(&o, (char)w);
  }
  return lq_buf_str(&o, v);
}

FILTER(base64_encode) { UNUSED_ARGS; return b64_encode(r, v, 0); }
FILTER(base64_url_safe_encode) { UNUSED_ARGS; return b64_encode(r, v, 1); }
FILTER(base64_decode) { UNUSED_ARGS; return b64_decode(r, v, 0, "base64_decode"); }
FILTER(base64_url_safe_decode) { UNUSED_ARGS; return b64_decode(r, v, 1, "base64_url_safe_decode"); }

/* Ruby strip: whitespace and NUL */
static int strip_ws(char c) { return is_rspace(c) || c == 0; }

static int do_strip(lq_render *r, lq_value *v, int left, int right) {
  lq_value s;
  const char *p, *e;
  if (tostr(r, v, &s) || lq_work(r, s.u.s.n)) return R_ERR;
  p = s.u.s.p;
  e = p + s.u.s.n;
  if (left) while (p < e && strip_ws(*p)) p++;
  if (right) while (e > p && strip_ws(e[-1])) e--;
  *v = lq_cstr(p, (size_t)(e - p));
  return R_OK;
}

FILTER(strip) { UNUSED_ARGS; return do_strip(r, v, 1, 1); }
FILTER(lstrip) { UNUSED_ARGS; return do_strip(r, v, 1, 0); }
FILTER(rstrip) { UNUSED_ARGS; return do_strip(r, v, 0, 1); }

FILTER(squish) {
  lq_value s;
  lq_buf o;
  size_t i, next = 0;
  int sp = 0;
  UNUSED_ARGS;
  if (v->type == LQ_NIL) return R_OK;
  if (tostr(r, v, &s)) return R_ERR;
  lq_buf_init(&o, r);
  for (i = 0; i < s.u.s.n; i++) {
    char c = s.u.s.p[i];
    if (lq_work_bytes(r, i, s.u.s.n, &next)) return R_ERR;
    if (is_rspace(c)) { sp = o.n > 0; continue; }
    if (sp) lq_buf_addc(&o, ' ');
    sp = 0;
    lq_buf_addc(&o, c);
  }
  return lq_buf_str(&o, v);
}

static const char *find_str(const char *p, const char *e, const char *s) {
  return lq_find(p, (size_t)(e - p), s, strlen(s));
}

/* Ruby's regexps, without their backtracking: a search for a block's end that fails from
** one '<' fails from every later '<' too, so each is made at most once and the whole is
** linear (it was quadratic on "<script<script..."). */
FILTER(strip_html) {
  lq_value s;
  lq_buf o;
  const char *p, *e, *last;
  int no_script = 0, no_comment = 0, no_style = 0, no_gt = 0;
  UNUSED_ARGS;
  if (tostr(r, v, &s)) return R_ERR;
  p = last = s.u.s.p;
  e = p + s.u.s.n;
  if (!memchr(p, '<', s.u.s.n)) { *v = s; return R_OK; }    /* no markup at all */
  lq_buf_init(&o, r);
  lq_buf_reserve(&o, s.u.s.n);
  while (p < e) {
    const char *close = NULL;
    /* what the last turn scanned: at most the rest of the input, once */
    if (lq_work(r, (size_t)(p - last) + LQ_WORK_ITEM)) return R_ERR;
    last = p;
    if (*p != '<') {                     /* a run of text up to the next '<' */
      const char *lt = memchr(p, '<', (size_t)(e - p));
      if (!lt) lt = e;
      lq_buf_add(&o, p, (size_t)(lt - p));
      p = lt;
      continue;
    }
    /* blocks first (script, comment, style: case-sensitive like Ruby's regexps) */
    if (!no_script && (size_t)(e - p) >= 7 && memcmp(p, "<script", 7) == 0) {
      if ((close = find_str(p, e, "</script>"))) { p = close + 9; continue; }
      no_script = 1;
      if (lq_work(r, (size_t)(e - p))) return R_ERR;
    }
    if (!no_comment && (size_t)(e - p) >= 4 && memcmp(p, "<!--", 4) == 0) {
      if ((close = find_str(p + 4, e, "-->"))) { p = close + 3; continue; }
      no_comment = 1;
      if (lq_work(r, (size_t)(e - p))) return R_ERR;
    }
    if (!no_style && (size_t)(e - p) >= 6 && memcmp(p, "<style", 6) == 0) {
      if ((close = find_str(p, e, "</style>"))) { p = close + 8; continue; }
      no_style = 1;
      if (lq_work(r, (size_t)(e - p))) return R_ERR;
    }
    if (!no_gt) {
      if ((close = memchr(p, '>', (size_t)(e - p)))) { p = close + 1; continue; }
      no_gt = 1;
      if (lq_work(r, (size_t)(e - p))) return R_ERR;
    }
    lq_buf_addc(&o, *p++);
  }
  return lq_buf_str(&o, v);
}

FILTER(strip_newlines) {
  lq_value s;
  lq_buf o;
  size_t i, next = 0;
  UNUSED_ARGS;
  if (tostr(r, v, &s)) return R_ERR;
  lq_buf_init(&o, r);
  for (i = 0; i < s.u.s.n; i++) {
    char c = s.u.s.p[i];
    if (lq_work_bytes(r, i, s.u.s.n, &next)) return R_ERR;
    if (c == '\n') continue;
    if (c == '\r' && i + 1 < s.u.s.n && s.u.s.p[i + 1] == '\n') continue;
    lq_buf_addc(&o, c);
  }
  return lq_buf_str(&o, v);
}

FILTER(newline_to_br) {
  lq_value s;
  lq_buf o;
  size_t i, next = 0;
  UNUSED_ARGS;
  if (tostr(r, v, &s)) return R_ERR;
  lq_buf_init(&o, r);
  for (i = 0; i < s.u.s.n; i++) {
    char c = s.u.s.p[i];
    if (lq_work_bytes(r, i, s.u.s.n, &next)) return R_ERR;
    if (c == '\r' && i + 1 < s.u.s.n && s.u.s.p[i + 1] == '\n') { lq_buf_adds(&o, "<br />\n"); i++; }
    else if (c == '\n') lq_buf_adds(&o, "<br />\n");
    else lq_buf_addc(&o, c);
  }
  return lq_buf_str(&o, v);
}

/* Needles up to this long are looked for from the end position by position (at most this
** many byte comparisons each); longer ones by memmem over reversed copies, which stays
** linear where the naive scan is not ("aaa...a" in "aaa...a"). */
#define FIND_LAST_NAIVE 32

/* the last occurrence of needle in hay (nn > 0); NULL when none or on error (*err set) */
static const char *find_last(lq_render *r, const char *hay, size_t hn, const char *needle, size_t nn,
                             int *err) {
  *err = 0;
  if (nn > hn) return NULL;
  if (nn <= FIND_LAST_NAIVE) {
    const char *q;
    size_t next = 0;
    for (q = hay + hn - nn;; q--) {
      if (lq_work_bytes(r, (size_t)(hay + hn - nn - q) * nn, (hn - nn + 1) * nn, &next)) break;
      if (*q == *needle && memcmp(q, needle, nn) == 0) return q;
      if (q == hay) return NULL;
    }
  } else {
    char *rh = lq_alloc(r, hn), *rn = lq_alloc(r, nn);
    const char *q;
    size_t i;
    if (rh && rn && !lq_work(r, 2 * (hn + nn))) {
      for (i = 0; i < hn; i++) rh[i] = hay[hn - 1 - i];
      for (i = 0; i < nn; i++) rn[i] = needle[nn - 1 - i];
      q = lq_find(rh, hn, rn, nn);
      return q ? hay + (hn - (size_t)(q - rh) - nn) : NULL;
    }
  }
  *err = 1;
  return NULL;
}

/* replace/remove: which = 0 all, 1 first, 2 last */
static int do_replace(lq_render *r, lq_value *v, const lq_value *pat, const lq_value *rep, int which) {
  lq_value s, p, w;
  lq_buf o;
  const char *a, *e, *hit = NULL;
  if (tostr(r, v, &s) || tostr(r, pat, &p) || tostr(r, rep, &w)) return R_ERR;
  a = s.u.s.p;
  e = a + s.u.s.n;
  lq_buf_init(&o, r);
  if (which == 2) {
    int err;
    if (p.u.s.n == 0) hit = e;              /* Ruby: the empty pattern matches at the end */
    else if (!(hit = find_last(r, a, s.u.s.n, p.u.s.p, p.u.s.n, &err)) && err) return R_ERR;
    if (!hit) { *v = s; return R_OK; }
    lq_buf_add(&o, a, (size_t)(hit - a));
    lq_buf_add(&o, w.u.s.p, w.u.s.n);
    lq_buf_add(&o, hit + p.u.s.n, (size_t)(e - hit - p.u.s.n));
    return lq_buf_str(&o, v);
  }
  if (p.u.s.n == 0) {
    /* Ruby: an empty pattern matches between every character */
    size_t i = 0, next = 0;
    lq_buf_add(&o, w.u.s.p, w.u.s.n);
    if (which == 1) { lq_buf_add(&o, a, s.u.s.n); return lq_buf_str(&o, v); }
    while (i < s.u.s.n) {
      size_t j = utf8_next(a + i, s.u.s.n - i);
      if (lq_work_bytes(r, i, s.u.s.n, &next) || lq_work(r, w.u.s.n)) return R_ERR;
      lq_buf_add(&o, a + i, j);
      lq_buf_add(&o, w.u.s.p, w.u.s.n);
      i += j;
    }
    return lq_buf_str(&o, v);
  }
  while (a < e) {
    const char *q = lq_find(a, (size_t)(e - a), p.u.s.p, p.u.s.n);
    if (lq_work(r, (size_t)((q ? q : e) - a) + p.u.s.n + w.u.s.n)) return R_ERR;
    if (!q) break;
    lq_buf_add(&o, a, (size_t)(q - a));
    lq_buf_add(&o, w.u.s.p, w.u.s.n);
    a = q + p.u.s.n;
    if (which == 1) break;
  }
  lq_buf_add(&o, a, (size_t)(e - a));
  return lq_buf_str(&o, v);
}

static const lq_value EMPTY_STR = { LQ_STR, { .s = { "", 0 } } };

FILTER(replace) { UNUSED_ARGS; return do_replace(r, v, ARG(0), argc > 1 ? &argv[1] : &EMPTY_STR, 0); }
FILTER(replace_first) { UNUSED_ARGS; return do_replace(r, v, ARG(0), argc > 1 ? &argv[1] : &EMPTY_STR, 1); }
FILTER(replace_last) { UNUSED_ARGS; return do_replace(r, v, ARG(0), argc > 1 ? &argv[1] : &EMPTY_STR, 2); }
FILTER(remove) { UNUSED_ARGS; return do_replace(r, v, ARG(0), &EMPTY_STR, 0); }
FILTER(remove_first) { UNUSED_ARGS; return do_replace(r, v, ARG(0), &EMPTY_STR, 1); }
FILTER(remove_last) { UNUSED_ARGS; return do_replace(r, v, ARG(0), &EMPTY_STR, 2); }

FILTER(slice) {
  int64_t off, len = 1;
  UNUSED_ARGS;
  if (to_integer(r, ARG(0), &off)) return R_ERR;
  if (argc > 1 && argv[1].type != LQ_NIL && to_integer(r, &argv[1], &len)) return R_ERR;
  if (v->type == LQ_ARRAY || v->type == LQ_HOSTARR) {
    int64_t n = lq_len(r, v), i;
    lq_value *items;
    if (off < 0) off += n;
    if (off < 0 || off > n || len < 0) return new_array(r, 0, v, NULL);
    if (len > n - off) len = n - off;
    if (lq_work(r, (size_t)len)) return R_ERR;
    {
      lq_value src = *v;
      if (new_array(r, (size_t)len, v, &items)) return R_ERR;
      for (i = 0; i < len; i++) if (lq_at(r, &src, off + i, &items[i])) return R_ERR;
    }
    return R_OK;
  }
  {
    lq_value s;
    int64_t n;
    size_t b0, b1;
    if (tostr(r, v, &s)) return R_ERR;
    n = (int64_t)utf8_len(r, s.u.s.p, s.u.s.n);
    if (off < 0) off += n;
    if (off < 0 || off > n || len < 0) { *v = lq_cstr("", 0); return R_OK; }
    if (len > n - off) len = n - off;
    b0 = utf8_off(r, s.u.s.p, s.u.s.n, (size_t)off);
    b1 = b0 + utf8_off(r, s.u.s.p + b0, s.u.s.n - b0, (size_t)len);
    *v = lq_cstr(s.u.s.p + b0, b1 - b0);
    return R_OK;
  }
}

FILTER(truncate) {
  lq_value s, t = lq_cstr("...", 3);
  int64_t length = 50, l;
  size_t n;
  lq_buf o;
  UNUSED_ARGS;
  if (v->type == LQ_NIL) return R_OK;
  if (tostr(r, v, &s)) return R_ERR;
  if (argc > 0 && to_integer(r, &argv[0], &length)) return R_ERR;
  if (argc > 1 && tostr(r, &argv[1], &t)) return R_ERR;
  n = utf8_len(r, s.u.s.p, s.u.s.n);
  if ((int64_t)n <= length) { *v = s; return R_OK; }
  l = length - (int64_t)utf8_len(r, t.u.s.p, t.u.s.n);
  if (l < 0) l = 0;
  lq_buf_init(&o, r);
  lq_buf_add(&o, s.u.s.p, utf8_off(r, s.u.s.p, s.u.s.n, (size_t)l));
  lq_buf_add(&o, t.u.s.p, t.u.s.n);
  return lq_buf_str(&o, v);
}

FILTER(truncatewords) {
  lq_value s, t = lq_cstr("...", 3);
  int64_t words = 15, count = 0;
  const char *p, *e, *last, *first = NULL;
  int single = 1;
  lq_buf o;
  UNUSED_ARGS;
  if (v->type == LQ_NIL) return R_OK;
  if (tostr(r, v, &s)) return R_ERR;
  if (argc > 0 && to_integer(r, &argv[0], &words)) return R_ERR;
  if (argc > 1 && tostr(r, &argv[1], &t)) return R_ERR;
  if (words < 1) words = 1;
  p = last = s.u.s.p;
  e = p + s.u.s.n;
  while (p < e) {
    const char *w;
    if (lq_work(r, (size_t)(p - last) + LQ_WORK_ITEM)) return R_ERR;    /* the last word */
    last = p;
    while (p < e && is_rspace(*p)) p++;
    if (p == e) break;
    w = p;
    if (!count) first = w;
    else if (w - last != 1 || *last != ' ') single = 0;
    while (p < e && !is_rspace(*p)) p++;
    /* Ruby splits with a limit: anything left, even trailing space, means truncated */
    if (++count == words && p < e) break;
  }
  if (count < words || p == e) {
    *v = s;
    return R_OK;
  }
  /* the words joined by single spaces: when they are so already, one copy of the span */
  lq_buf_init(&o, r);
  if (single) lq_buf_add(&o, first, (size_t)(p - first));
  else {
    const char *q = first;
    for (count = 0; q < p; count++) {
      const char *w;
      while (q < p && is_rspace(*q)) q++;
      w = q;
      while (q < p && !is_rspace(*q)) q++;
      if (count) lq_buf_addc(&o, ' ');
      lq_buf_add(&o, w, (size_t)(q - w));
    }
  }
  lq_buf_add(&o, t.u.s.p, t.u.s.n);
  return lq_buf_str(&o, v);
}

/* String#split: " " splits on runs of whitespace (leading ones ignored), "" into
** characters; trailing empty fields dropped. */
FILTER(split) {
  lq_value s, p;
  lq_buf acc;
  const char *a, *e, *last;
  lq_value item;
  UNUSED_ARGS;
  if (tostr(r, v, &s) || tostr(r, ARG(0), &p)) return R_ERR;
  a = last = s.u.s.p;
  e = a + s.u.s.n;
  lq_buf_init(&acc, r);
  if (p.u.s.n == 1 && p.u.s.p[0] == ' ') {
    while (a < e) {
      const char *w;
      if (lq_work(r, (size_t)(a - last) + LQ_WORK_ITEM)) return R_ERR;   /* the last field */
      last = a;
      while (a < e && is_rspace(*a)) a++;
      if (a == e) break;
      w = a;
      while (a < e && !is_rspace(*a)) a++;
      item = lq_cstr(w, (size_t)(a - w));
      lq_buf_add(&acc, &item, sizeof item);
    }
  } else if (p.u.s.n == 0) {
    while (a < e) {
      size_t k = utf8_next(a, (size_t)(e - a));
      if (lq_work(r, LQ_WORK_ITEM)) return R_ERR;
      item = lq_cstr(a, k);
      lq_buf_add(&acc, &item, sizeof item);
      a += k;
    }
  } else {
    for (;;) {
      const char *q = lq_find(a, (size_t)(e - a), p.u.s.p, p.u.s.n);
      if (!q) q = e;
      if (lq_work(r, (size_t)(q - a) + LQ_WORK_ITEM)) return R_ERR;
      item = lq_cstr(a, (size_t)(q - a));
      lq_buf_add(&acc, &item, sizeof item);
      if (q == e) break;
      a = q + p.u.s.n;
    }
    /* drop trailing empty strings */
    while (acc.n >= sizeof item) {
      lq_value *tail = (lq_value *)(acc.p + acc.n - sizeof item);
      if (tail->u.s.n) break;
      acc.n -= sizeof item;
    }
  }
  if (acc.oom) return R_ERR;
  if (acc.n == 0) return new_array(r, 0, v, NULL);
  {
    lq_array *arr = lq_alloc(r, sizeof *arr);    /* the items stay where they were gathered */
    if (!arr) return R_ERR;
    arr->n = acc.n / sizeof item;
    arr->v = (lq_value *)acc.p;
    v->type = LQ_ARRAY;
    v->u.a = arr;
    return R_OK;
  }
}

FILTER(size) {
  UNUSED_ARGS;
  switch (v->type) {
    case LQ_STR: case LQ_ARRAY: case LQ_HOSTARR: case LQ_HOSTHASH: case LQ_RANGE:
      *v = lq_int(lq_len(r, v));
      break;
    case LQ_INT: *v = lq_int(8); break;
    default: *v = lq_int(0);
  }
  return R_OK;
}

/* ---- arrays ---- */

FILTER(join) {
  lq_array a;
  lq_value glue = lq_cstr(" ", 1);
  lq_buf o;
  size_t i;
  UNUSED_ARGS;
  if (argc > 0 && tostr(r, &argv[0], &glue)) return R_ERR;
  if (input_list(r, v, &a)) return R_ERR;
  lq_buf_init(&o, r);
  for (i = 0; i < a.n; i++) {
    if (lq_work(r, LQ_WORK_ITEM + glue.u.s.n)) return R_ERR;
    if (i) lq_buf_add(&o, glue.u.s.p, glue.u.s.n);
    if (lq_write(r, &o, &a.v[i]) || o.oom) return R_ERR;
  }
  return lq_buf_str(&o, v);
}

static int str_end_char(lq_value *v, int first) {
  const char *s = v->u.s.p, *e = s + v->u.s.n, *c;
  if (!v->u.s.n) { *v = lq_nil(); return R_OK; }
  if (first) { c = s + 1; while (c < e && ((unsigned char)*c & 0xC0) == 0x80) c++; *v = lq_cstr(s, (size_t)(c - s)); }
  else { c = e - 1; while (c > s && ((unsigned char)*c & 0xC0) == 0x80) c--; *v = lq_cstr(c, (size_t)(e - c)); }
  return R_OK;
}

FILTER(first) {
  UNUSED_ARGS;
  if (v->type == LQ_STR) return str_end_char(v, 1);      /* Liquid 5.13 */
  if (lq_is_array(v)) return lq_at(r, v, 0, v);
  if (v->type == LQ_HOSTHASH) {
    lq_array p;
    if (lq_pairs(r, v, &p)) return R_ERR;
    *v = p.n ? p.v[0] : lq_nil();
    return R_OK;
  }
  *v = lq_nil();
  return R_OK;
}

FILTER(last) {
  UNUSED_ARGS;
  if (v->type == LQ_STR) return str_end_char(v, 0);
  if (lq_is_array(v)) return lq_at(r, v, -1, v);
  *v = lq_nil();
  return R_OK;
}

FILTER(reverse) {
  lq_array a;
  lq_value *items;
  size_t i;
  UNUSED_ARGS;
  if (input_list(r, v, &a) || lq_work(r, a.n)) return R_ERR;
  if (new_array(r, a.n, v, &items)) return R_ERR;
  for (i = 0; i < a.n; i++) items[i] = a.v[a.n - 1 - i];
  return R_OK;
}

static int item_get(lq_render *r, const lq_value *item, const lq_value *prop, lq_value *out);
static int property_error(lq_render *r, const lq_value *prop);

/* Liquid 5.13: without a property the nils go; with one, the items whose item[property]
** is nil (a TypeError there is the property error, a NoMethodError makes the result nil) */
FILTER(compact) {
  lq_array a;
  lq_value *items;
  size_t i, k = 0;
  int byprop = argc > 0 && argv[0].type != LQ_NIL;
  UNUSED_ARGS;
  if (input_list(r, v, &a)) return R_ERR;
  if (new_array(r, a.n, v, &items)) return R_ERR;
  for (i = 0; i < a.n; i++) {
    lq_value x = a.v[i];
    if (lq_work(r, LQ_WORK_ITEM)) return R_ERR;
    if (byprop) {
      lq_value pv;
      int rc = item_get(r, &x, &argv[0], &pv);
      if (rc < 0) return R_ERR;
      if (rc == 1) return property_error(r, &argv[0]);
      if (rc == 2) { *v = lq_nil(); return R_OK; }
      if (pv.type == LQ_NIL) continue;
    } else if (x.type == LQ_NIL) continue;
    items[k++] = x;
  }
  v->u.a->n = k;
  return R_OK;
}

FILTER(concat) {
  lq_array a, b;
  lq_value *items;
  UNUSED_ARGS;
  if (!(argv[0].type == LQ_ARRAY || argv[0].type == LQ_HOSTARR || argv[0].type == LQ_RANGE))
    return lq_fail(r, "concat filter requires an array argument");
  if (input_list(r, v, &a) || lq_list(r, &argv[0], &b) || lq_work(r, a.n + b.n)) return R_ERR;
  if (new_array(r, a.n + b.n, v, &items)) return R_ERR;
  if (a.n) memcpy(items, a.v, a.n * sizeof *items);
  if (b.n) memcpy(items + a.n, b.v, b.n * sizeof *items);
  return R_OK;
}

/* item[property] as Ruby would do it: 0 ok, 1 TypeError, 2 NoMethodError */
static int item_get(lq_render *r, const lq_value *item, const lq_value *prop, lq_value *out) {
  *out = lq_nil();
  switch (item->type) {
    case LQ_HOSTHASH:
      if (prop->type == LQ_STR) return lq_key(r, item, prop->u.s.p, prop->u.s.n, out) ? -1 : 0;
      return 0;
    case LQ_ARRAY: case LQ_HOSTARR:
      if (prop->type == LQ_INT) return lq_at(r, item, prop->u.i, out) ? -1 : 0;
      return 1;
    case LQ_STR:
      if (prop->type == LQ_STR) {       /* Ruby's String#[String]: the substring, if there */
        if (lq_find(item->u.s.p, item->u.s.n, prop->u.s.p, prop->u.s.n)) *out = *prop;
        return 0;
      }
      if (prop->type == LQ_INT) {
        int64_t n = (int64_t)utf8_len(r, item->u.s.p, item->u.s.n), k = prop->u.i;
        size_t b0;
        if (k < 0) k += n;
        if (k < 0 || k >= n) return 0;
        b0 = utf8_off(r, item->u.s.p, item->u.s.n, (size_t)k);
        *out = lq_cstr(item->u.s.p + b0, utf8_next(item->u.s.p + b0, item->u.s.n - b0));
        return 0;
      }
      return 1;
    case LQ_INT:
      if (prop->type == LQ_INT) {
        *out = lq_int(prop->u.i >= 0 && prop->u.i < 64 ? (item->u.i >> prop->u.i) & 1 : item->u.i < 0);
        return 0;
      }
      return 1;
    case LQ_LOOP:
      if (prop->type == LQ_STR) return lq_key(r, item, prop->u.s.p, prop->u.s.n, out) ? -1 : 0;
      return 0;
    default:
      return 2;
  }
}

static int property_error(lq_render *r, const lq_value *prop) {
  lq_value s;
  if (lq_tostr(r, prop, &s)) return R_ERR;
  return lq_fail(r, "cannot select the property '%.*s'", (int)(s.u.s.n > 60 ? 60 : s.u.s.n), s.u.s.p);
}

FILTER(map) {
  lq_array a;
  lq_value *items;
  size_t i;
  UNUSED_ARGS;
  if (input_list(r, v, &a)) return R_ERR;
  if (new_array(r, a.n, v, &items)) return R_ERR;
  for (i = 0; i < a.n; i++) {
    int rc = lq_work(r, LQ_WORK_ITEM) ? -1 : item_get(r, &a.v[i], &argv[0], &items[i]);
    if (rc < 0) return R_ERR;
    if (rc == 1) return property_error(r, &argv[0]);
    if (rc == 2) items[i] = lq_nil();
  }
  return R_OK;
}

enum { FA_WHERE, FA_REJECT, FA_FIND, FA_FIND_INDEX, FA_HAS };

/* Liquid 5.7's filter_array: where, reject, find, find_index and has */
static int filter_array(lq_render *r, lq_value *v, int argc, const lq_value *argv, int kind) {
  lq_array a;
  lq_value *items = NULL, prop = argv[0];
  const lq_value *target = argc > 1 ? &argv[1] : &NIL_VALUE;
  size_t i, k = 0;
  if (prop.type == LQ_NIL) prop = lq_cstr("", 0);     /* Ruby reads a nil property as "" */
  if (input_list(r, v, &a)) return R_ERR;
  if (a.n == 0) {
    if (kind == FA_HAS) *v = lq_bool(0);
    else if (kind == FA_FIND || kind == FA_FIND_INDEX) *v = lq_nil();
    else return new_array(r, 0, v, NULL);
    return R_OK;
  }
  if ((kind == FA_WHERE || kind == FA_REJECT) && new_array(r, a.n, v, &items)) return R_ERR;
  for (i = 0; i < a.n; i++) {
    lq_value pv;
    int hit, rc = lq_work(r, LQ_WORK_ITEM) ? -1 : item_get(r, &a.v[i], &prop, &pv);
    if (rc < 0) return R_ERR;
    if (rc == 1) return property_error(r, &prop);
    if (rc == 2) { *v = lq_nil(); return R_OK; }
    hit = target->type == LQ_NIL ? lq_truthy(&pv) : lq_equal(r, &pv, target);
    if (r->fatal) return R_ERR;              /* a limit hit inside the comparison */
    switch (kind) {
      case FA_WHERE: if (hit) items[k++] = a.v[i]; break;
      case FA_REJECT: if (!hit) items[k++] = a.v[i]; break;
      case FA_FIND: if (hit) { *v = a.v[i]; return R_OK; } break;
      case FA_FIND_INDEX: if (hit) { *v = lq_int((int64_t)i); return R_OK; } break;
      default: if (hit) { *v = lq_bool(1); return R_OK; } break;
    }
  }
  if (kind == FA_WHERE || kind == FA_REJECT) v->u.a->n = k;
  else if (kind == FA_HAS) *v = lq_bool(0);
  else *v = lq_nil();
  return R_OK;
}

FILTER(where) { UNUSED_ARGS; return filter_array(r, v, argc, argv, FA_WHERE); }
FILTER(reject) { UNUSED_ARGS; return filter_array(r, v, argc, argv, FA_REJECT); }
FILTER(find) { UNUSED_ARGS; return filter_array(r, v, argc, argv, FA_FIND); }
FILTER(find_index) { UNUSED_ARGS; return filter_array(r, v, argc, argv, FA_FIND_INDEX); }
FILTER(has) { UNUSED_ARGS; return filter_array(r, v, argc, argv, FA_HAS); }

/* uniq compares with eql?: 1 and 1.0 differ */
static int same(lq_render *r, const lq_value *a, const lq_value *b) {
  if (a->type != b->type) {
    if ((a->type == LQ_ARRAY || a->type == LQ_HOSTARR) && (b->type == LQ_ARRAY || b->type == LQ_HOSTARR))
      return lq_equal(r, a, b);
    return 0;
  }
  if (a->type == LQ_FLOAT) return a->u.f == b->u.f;
  return lq_equal(r, a, b);
}

/* ---- uniq: a hash set of values ----
** Comparing every item with every one kept before was quadratic. value_hash agrees with
** same(): values that are the same hash alike (numbers by their value, so that 1 inside
** an array meets 1.0 as lq_equal has it; arrays by their items in order; hashes by their
** pairs in any order). What it cannot hash that way (empty and blank, forloop drops, a
** range inside an array) sends uniq back to comparing pairs, under the time limit. */

enum { HASHED = 0, UNHASHABLE = 1 };

static uint64_t mix64(uint64_t h) {        /* a bijection that spreads every bit */
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

/* a seed that differs between processes (address space layout), so that crafted
** collisions do not carry from one run to the next */
static const char hash_seed_anchor;

static int value_hash(lq_render *r, const lq_value *v, int top, uint64_t *out) {
  switch (v->type) {
    case LQ_NIL: *out = 0x6a09e667f3bcc908ULL; return HASHED;
    case LQ_BOOL: *out = v->u.b ? 0xbb67ae8584caa73bULL : 0x3c6ef372fe94f82bULL; return HASHED;
    case LQ_INT: case LQ_FLOAT: {
      double d = v->type == LQ_INT ? (double)v->u.i : v->u.f;
      uint64_t bits;
      if (d == 0) d = 0;                     /* -0.0 is 0.0 */
      memcpy(&bits, &d, sizeof bits);
      *out = mix64(bits ^ 0xa54ff53a5f1d36f1ULL);
      return HASHED;
    }
    case LQ_STR: {
      uint64_t h = 14695981039346656037ULL ^ (uint64_t)(uintptr_t)&hash_seed_anchor;
      size_t i, next = 0;
      for (i = 0; i < v->u.s.n; i++) {
        if (lq_work_bytes(r, i, v->u.s.n, &next)) return R_ERR;
        h = (h ^ (unsigned char)v->u.s.p[i]) * 1099511628211ULL;     /* FNV-1a */
      }
      *out = mix64(h ^ v->u.s.n);
      return HASHED;
    }
    case LQ_RANGE:
      if (!top) return UNHASHABLE;           /* inside an array it equals its items */
      *out = mix64((uint64_t)v->u.r.lo * 0x9e3779b97f4a7c15ULL ^ (uint64_t)v->u.r.hi);
      return HASHED;
    case LQ_ARRAY: case LQ_HOSTARR: case LQ_HOSTHASH: {
      lq_array a;
      uint64_t h = v->type == LQ_HOSTHASH ? 0x510e527fade682d1ULL : 0x9b05688c2b3e6c1fULL;
      size_t i;
      int rc = HASHED;
      if (lq_enter(r)) return R_ERR;
      if (lq_list(r, v, &a)) rc = R_ERR;     /* a hash: its [key, value] pairs */
      for (i = 0; rc == HASHED && i < a.n; i++) {
        uint64_t ih;
        if (lq_work(r, LQ_WORK_ITEM)) rc = R_ERR;
        else if ((rc = value_hash(r, &a.v[i], 0, &ih)) == HASHED)
          h = v->type == LQ_HOSTHASH ? h + mix64(ih) : mix64(h ^ ih);   /* pairs in any order */
      }
      lq_leave(r);
      *out = mix64(h ^ a.n);
      return rc;
    }
    default: return UNHASHABLE;              /* empty, blank, forloop drops */
  }
}

FILTER(uniq) {
  lq_array a;
  lq_value *items, *keys;
  uint64_t *hashes = NULL;
  size_t i, j, k = 0, *slots = NULL, mask = 0;
  int byprop = argc > 0 && argv[0].type != LQ_NIL;
  UNUSED_ARGS;
  if (input_list(r, v, &a)) return R_ERR;
  if (new_array(r, a.n, v, &items)) return R_ERR;
  if (a.n == 0) return R_OK;
  if (!(keys = lq_alloc(r, a.n * sizeof *keys))) return R_ERR;
  for (i = 0; i < a.n; i++) {
    lq_value key = a.v[i];
    uint64_t h = 0;
    int dup = 0;
    if (lq_work(r, LQ_WORK_ITEM)) return R_ERR;
    if (byprop) {
      int rc = item_get(r, &a.v[i], &argv[0], &key);
      if (rc < 0) return R_ERR;
      if (rc == 1) return property_error(r, &argv[0]);
      if (rc == 2) { *v = lq_nil(); return R_OK; }
    }
    if (i == 0) {                            /* the set: twice as many slots as items */
      for (mask = 16; mask < 2 * a.n; mask *= 2) {}
      if (!(slots = lq_alloc(r, mask * sizeof *slots)) || !(hashes = lq_alloc(r, a.n * sizeof *hashes)))
        return R_ERR;
      memset(slots, 0, mask * sizeof *slots);
      mask--;
    }
    if (slots) {
      int rc = value_hash(r, &key, 1, &h);
      if (rc == R_ERR) return R_ERR;
      if (rc == UNHASHABLE) slots = NULL;    /* from here on, pairwise */
    }
    if (slots) {
      size_t at;
      for (at = h & mask; slots[at]; at = (at + 1) & mask) {
        size_t kept = slots[at] - 1;
        if (hashes[kept] == h && (lq_work(r, LQ_WORK_ITEM) || same(r, &keys[kept], &key))) {
          dup = 1;
          break;
        }
      }
      if (!dup) {
        slots[at] = k + 1;
        hashes[k] = h;
      }
    } else {
      for (j = 0; j < k && !dup; j++) {
        if (lq_work(r, LQ_WORK_ITEM)) return R_ERR;
        dup = same(r, &keys[j], &key);
      }
    }
    if (r->fatal) return R_ERR;
    if (!dup) { keys[k] = key; items[k++] = a.v[i]; }
  }
  v->u.a->n = k;
  return R_OK;
}

typedef struct sort_ctx { lq_render *r; int natural, failed; } sort_ctx;

static int casecmp(const lq_value *a, const lq_value *b) {
  size_t i, n = a->u.s.n < b->u.s.n ? a->u.s.n : b->u.s.n;
  for (i = 0; i < n; i++) {
    int x = tolower((unsigned char)a->u.s.p[i]), y = tolower((unsigned char)b->u.s.p[i]);
    if (x != y) return x < y ? -1 : 1;
  }
  return (a->u.s.n > b->u.s.n) - (a->u.s.n < b->u.s.n);
}

/* nil sorts last; otherwise <=>, which fails between types that do not compare.
** sort_natural's keys are strings already (do_sort made them once). */
static int sort_cmp(sort_ctx *c, const lq_value *a, const lq_value *b) {
  int cmp;
  if (lq_work(c->r, LQ_WORK_ITEM)) { c->failed = 1; return 0; }
  if (a->type == LQ_NIL || b->type == LQ_NIL) return a->type == LQ_NIL ? (b->type == LQ_NIL ? 0 : 1) : -1;
  if (c->natural) return casecmp(a, b);
  if ((a->type == LQ_INT || a->type == LQ_FLOAT) && (b->type == LQ_INT || b->type == LQ_FLOAT)) {
    lq_compare(c->r, a, b, &cmp);
    return cmp;
  }
  if (a->type == LQ_STR && b->type == LQ_STR) {
    lq_compare(c->r, a, b, &cmp);
    return cmp;
  }
  if (lq_is_array(a) && lq_is_array(b)) {
    lq_array x, y;
    size_t i;
    int k = 0;
    if (lq_enter(c->r)) { c->failed = 1; return 0; }
    if (lq_list(c->r, a, &x) || lq_list(c->r, b, &y)) c->failed = 1;
    else {
      for (i = 0; i < x.n && i < y.n && !k && !c->failed; i++) k = sort_cmp(c, &x.v[i], &y.v[i]);
      if (!k) k = (x.n > y.n) - (x.n < y.n);
    }
    lq_leave(c->r);
    return k;
  }
  if (a->type == LQ_BOOL && b->type == LQ_BOOL && a->u.b == b->u.b) return 0;
  c->failed = 1;
  return 0;
}

/* a stable merge sort: Ruby's sort is not stable, but stability is the least surprise */
static void msort(sort_ctx *c, lq_value *v, lq_value *keys, lq_value *tmp, lq_value *tkeys, size_t n) {
  size_t mid, i, j, k;
  if (n < 2 || c->failed) return;
  mid = n / 2;
  msort(c, v, keys, tmp, tkeys, mid);
  msort(c, v + mid, keys + mid, tmp, tkeys, n - mid);
  if (c->failed) return;                   /* out of time, say: no merging left to do */
  for (i = 0, j = mid, k = 0; i < mid && j < n; k++) {
    if (sort_cmp(c, &keys[j], &keys[i]) < 0) { tmp[k] = v[j]; tkeys[k] = keys[j++]; }
    else { tmp[k] = v[i]; tkeys[k] = keys[i++]; }
  }
  while (i < mid) { tmp[k] = v[i]; tkeys[k++] = keys[i++]; }
  while (j < n) { tmp[k] = v[j]; tkeys[k++] = keys[j++]; }
  memcpy(v, tmp, n * sizeof *v);
  memcpy(keys, tkeys, n * sizeof *keys);
}

static int do_sort(lq_render *r, lq_value *v, int argc, const lq_value *argv, int natural) {
  lq_array a;
  lq_value *items, *keys, *tmp;
  sort_ctx c;
  size_t i;
  int byprop = argc > 0 && argv[0].type != LQ_NIL;
  if (input_list(r, v, &a)) return R_ERR;
  if (new_array(r, a.n, v, &items)) return R_ERR;
  if (a.n == 0) return R_OK;
  if (!(keys = lq_alloc(r, a.n * 3 * sizeof *keys))) return R_ERR;
  tmp = keys + a.n;
  for (i = 0; i < a.n; i++) {
    items[i] = a.v[i];
    keys[i] = a.v[i];
    if (byprop) {
      int rc;
      if (!(a.v[i].type == LQ_HOSTHASH || a.v[i].type == LQ_ARRAY || a.v[i].type == LQ_HOSTARR ||
            a.v[i].type == LQ_STR || a.v[i].type == LQ_INT)) {
        *v = lq_nil();
        return R_OK;
      }
      rc = item_get(r, &a.v[i], &argv[0], &keys[i]);
      if (rc < 0) return R_ERR;
      if (rc) return property_error(r, &argv[0]);
    }
    /* what the comparisons need, made once rather than at each of them: the string of a
    ** natural key (Ruby: to_s.downcase), the items of a host array */
    if (lq_work(r, LQ_WORK_ITEM)) return R_ERR;
    if (natural && keys[i].type != LQ_NIL) {
      if (lq_tostr(r, &keys[i], &keys[i])) return R_ERR;
    } else if (!natural && keys[i].type == LQ_HOSTARR) {
      lq_array *arr = lq_alloc(r, sizeof *arr);
      if (!arr || lq_list(r, &keys[i], arr)) return R_ERR;
      keys[i].type = LQ_ARRAY;
      keys[i].u.a = arr;
    }
  }
  c.r = r;
  c.natural = natural;
  c.failed = 0;
  msort(&c, items, keys, tmp, tmp + a.n, a.n);
  if (c.failed) {
    if (r->fatal) return R_ERR;
    return lq_fail(r, "cannot sort values of incompatible types");
  }
  return R_OK;
}

FILTER(sort) { UNUSED_ARGS; return do_sort(r, v, argc, argv, 0); }
FILTER(sort_natural) { UNUSED_ARGS; return do_sort(r, v, argc, argv, 1); }

FILTER(sum) {
  lq_array a;
  lq_value acc = lq_int(0);
  size_t i;
  int byprop = argc > 0 && argv[0].type != LQ_NIL;
  UNUSED_ARGS;
  if (input_list(r, v, &a)) return R_ERR;
  for (i = 0; i < a.n; i++) {
    lq_value x = a.v[i];
    if (lq_work(r, LQ_WORK_ITEM)) return R_ERR;
    if (byprop) {
      int rc = item_get(r, &a.v[i], &argv[0], &x);
      if (rc < 0) return R_ERR;
      if (rc == 1) return property_error(r, &argv[0]);
      if (rc == 2) x = lq_int(0);
    }
    if (x.type == LQ_ARRAY || x.type == LQ_HOSTARR) {
      lq_value sub = x;
      int rc;
      if (lq_enter(r)) return R_ERR;
      rc = f_sum(r, &sub, 0, NULL, 0, NULL, NULL);
      lq_leave(r);
      if (rc) return R_ERR;
      x = sub;
    }
    x = lq_to_number(&x);
    if (arith(r, &acc, &x, '+')) return R_ERR;
  }
  *v = acc;
  return R_OK;
}

FILTER(default) {
  int allow_false = 0, i, useit;
  UNUSED_ARGS;
  for (i = 0; i < nkw; i++)
    if (kw[i].nlen == 11 && memcmp(kw[i].name, "allow_false", 11) == 0) allow_false = lq_truthy(&kwv[i]);
  if (allow_false) useit = v->type == LQ_NIL;
  else useit = !lq_truthy(v);
  if (!useit) {
    int e = lq_is_empty(r, v);
    useit = e == 1 && v->type != LQ_EMPTY && v->type != LQ_BLANK ? 1 : (v->type == LQ_EMPTY || v->type == LQ_BLANK);
  }
  if (useit) *v = argc > 0 ? argv[0] : lq_cstr("", 0);
  return R_OK;
}

FILTER(to_json) {
  lq_buf b;
  UNUSED_ARGS;
  lq_buf_init(&b, r);
  if (lq_to_json(r, &b, v, 0)) return R_ERR;
  return lq_buf_str(&b, v);
}

/* ---- date ---- */

static const lqd_zone *render_zone(lq_render *r) {
  if (!r->zone) {
    const char *name = r->opt.timezone ? r->opt.timezone : LQD_ZONE_DEFAULT;
    char err[160];
    r->zone = lqd_zone_get(name, err, sizeof err);
    if (!r->zone) lq_fatal(r, "%s", err);
  }
  return r->zone;
}

FILTER(date) {
  lq_value fmt;
  lqd_tm tm;
  const lqd_zone *z;
  UNUSED_ARGS;
  if (tostr(r, &argv[0], &fmt)) return R_ERR;
  if (fmt.u.s.n == 0) return R_OK;
  if (!(z = render_zone(r))) return R_ERR;
  /* a Float is not a time for Ruby's Liquid: it comes back unchanged */
  switch (v->type) {
    case LQ_INT:
      if (lqd_localtime(z, v->u.i, 0, &tm)) return R_OK;
      break;
    case LQ_STR: {
      int rc = lqd_to_time(v->u.s.p, v->u.s.n, z, lq_now(r), &tm);
      if (rc == -2) return lq_fail(r, "internal");     /* where Ruby's Time raises RangeError */
      if (rc) return R_OK;                             /* not a date: the input unchanged */
      break;
    }
    default: return R_OK;
  }
  if (lq_work(r, fmt.u.s.n)) return R_ERR;
  {
    char small[256];
    size_t need = lqd_strftime(small, sizeof small, fmt.u.s.p, fmt.u.s.n, &tm);
    if (need == LQD_STRFTIME_INVALID)
      return lq_fail(r, "invalid format: %.*s", (int)(fmt.u.s.n > 60 ? 60 : fmt.u.s.n), fmt.u.s.p);
    if (need < sizeof small) return lq_str(r, small, need, v);
    {
      char *big = lq_alloc(r, need + 1);
      if (!big || lq_work(r, need)) return R_ERR;
      lqd_strftime(big, need + 1, fmt.u.s.p, fmt.u.s.n, &tm);
      *v = lq_cstr(big, need);
      return R_OK;
    }
  }
}

/* ---- the table (sorted by name for bsearch) ---- */

#define F(name, min, max) { #name, f_##name, min, max }
static const lq_filter_def FILTERS[] = {
  F(abs, 0, 0), F(append, 1, 1), F(at_least, 1, 1), F(at_most, 1, 1),
  F(base64_decode, 0, 0), F(base64_encode, 0, 0), F(base64_url_safe_decode, 0, 0),
  F(base64_url_safe_encode, 0, 0), F(capitalize, 0, 0), F(ceil, 0, 0), F(compact, 0, 1),
  F(concat, 1, 1), F(date, 1, 1), F(default, 0, 1), F(divided_by, 1, 1), F(downcase, 0, 0),
  F(escape, 0, 0), F(escape_once, 0, 0), F(find, 1, 2), F(find_index, 1, 2), F(first, 0, 0),
  F(floor, 0, 0), { "h", f_escape, 0, 0 }, F(has, 1, 2), F(join, 0, 1), F(last, 0, 0),
  F(lstrip, 0, 0), F(map, 1, 1), F(minus, 1, 1), F(modulo, 1, 1), F(newline_to_br, 0, 0),
  F(plus, 1, 1), F(prepend, 1, 1), F(reject, 1, 2), F(remove, 1, 1), F(remove_first, 1, 1),
  F(remove_last, 1, 1), F(replace, 1, 2), F(replace_first, 1, 2), F(replace_last, 2, 2),
  F(reverse, 0, 0), F(round, 0, 1), F(rstrip, 0, 0), F(size, 0, 0), F(slice, 1, 2),
  F(sort, 0, 1), F(sort_natural, 0, 1), F(split, 1, 1), F(squish, 0, 0), F(strip, 0, 0),
  F(strip_html, 0, 0), F(strip_newlines, 0, 0), F(sum, 0, 1), F(times, 1, 1),
  F(to_json, 0, 0), F(truncate, 0, 2), F(truncatewords, 0, 2), F(uniq, 0, 1),
  F(upcase, 0, 0), F(url_decode, 0, 0), F(url_encode, 0, 0), F(where, 1, 2),
};
#undef F

const lq_filter_def *lq_filter_find(const char *name, size_t n) {
  size_t lo = 0, hi = sizeof FILTERS / sizeof FILTERS[0];
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    const char *s = FILTERS[mid].name;
    size_t sl = strlen(s);
    int c = memcmp(name, s, n < sl ? n : sl);
    if (c == 0) c = (n > sl) - (n < sl);
    if (c == 0) return &FILTERS[mid];
    if (c < 0) hi = mid;
    else lo = mid + 1;
  }
  return NULL;
}
