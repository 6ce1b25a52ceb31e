/*
** Ruby's Time#strftime (Ruby 3.1 behaviour, flags and widths) for Liquid's date filter
** (liquid_date.h).
*/
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "liquid_date_int.h"

/*
** A directive is '%' flags* width? then either ':'..':::' 'z' or an optional
** E/O modifier and a conversion. Whatever does not fit -- an unknown
** conversion ("%Q", and "%+", which only Ruby's Date knows), a flag after the
** width ("%10-d"), E/O before a conversion they do not modify ("%Ez") -- is
** copied as literal text, as Ruby does. A format that ends inside a
** directive ("%", "%-", "%10") is invalid, where Ruby raises.
*/

typedef struct {
  char *p;
  size_t room; /* bytes we may write (cap - 1) */
  size_t len;  /* bytes the full result needs */
} obuf;

static void out_bytes(obuf *o, const char *s, size_t n) {
  if (o->len < o->room) memcpy(o->p + o->len, s, n < o->room - o->len ? n : o->room - o->len);
  o->len = o->len + n < o->len ? SIZE_MAX - 1 : o->len + n;
}

static void out_fill(obuf *o, char c, size_t n) {
  char buf[64];
  memset(buf, c, sizeof buf);
  while (n > 0) {
    size_t k = n < sizeof buf ? n : sizeof buf;
    out_bytes(o, buf, k);
    n -= k;
  }
}

enum { CASE_KEEP, CASE_UPPER, CASE_LOWER };

static void out_case(obuf *o, const char *s, size_t n, int cmode) {
  size_t i;
  for (i = 0; i < n; i++) {
    char c = s[i];
    if (cmode == CASE_UPPER && c >= 'a' && c <= 'z') c = (char)(c - 'a' + 'A');
    else if (cmode == CASE_LOWER && c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
    out_bytes(o, &c, 1);
  }
}

/* One directive's flags: '-' no padding, '_' spaces, '0' zeros, '^' upcase,
** '#' change case, width, and the colons of %:z. */
typedef struct {
  int left, upper, swap, width, colons;
  char pad; /* 0 = the conversion's default */
} spec;

/* Text: padded with spaces (zeros with '0') unless '-'. Composite
** conversions such as %c pad even with '-', as Ruby does. */
static void out_text(obuf *o, const spec *sp, const char *s, size_t n, int cmode, int always_pad) {
  if ((always_pad || !sp->left) && sp->width > 0 && (size_t)sp->width > n)
    out_fill(o, sp->pad == '0' ? '0' : ' ', (size_t)sp->width - n);
  out_case(o, s, n, cmode);
}

/* Numbers: the width counts the sign; zero padding goes after the sign. */
static void out_num(obuf *o, const spec *sp, int64_t v, int defw, char defpad) {
  char dig[24];
  size_t nd = 0, body, w;
  uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
  char pad = sp->pad ? sp->pad : defpad;
  do {
    dig[sizeof dig - 1 - nd++] = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  w = sp->left ? 0 : (size_t)(sp->width >= 0 ? sp->width : defw);
  body = nd + (v < 0);
  if (pad != '0' && w > body) out_fill(o, ' ', w - body);
  if (v < 0) out_bytes(o, "-", 1);
  if (pad == '0' && w > body) out_fill(o, '0', w - body);
  out_bytes(o, dig + sizeof dig - nd, nd);
}

/* %z family. The width applies to the "+hh" part; '_' pads it with spaces
** and drops the hour's leading zero; a UTC time with '-' prints "-0000". */
static void out_offset(obuf *o, const spec *sp, const lqd_tm *tm) {
  int off = tm->utc_offset, colons = sp->colons;
  int neg = off < 0 || (off == 0 && tm->is_utc && sp->left);
  unsigned a = (unsigned)(off < 0 ? -off : off), h = a / 3600, m = a / 60 % 60, s = a % 60;
  char tail[8], hd[8];
  size_t tl, hl, hw = 3;
  if (colons == 3) /* %:::z: as short as the offset allows */
    colons = s ? 2 : m ? 1 : 3;
  if (colons == 0) tl = (size_t)snprintf(tail, sizeof tail, "%02u", m);
  else if (colons == 1) tl = (size_t)snprintf(tail, sizeof tail, ":%02u", m);
  else if (colons == 2) tl = (size_t)snprintf(tail, sizeof tail, ":%02u:%02u", m, s);
  else tl = 0;
  if (sp->width > 0 && (size_t)sp->width > tl + 3) hw = (size_t)sp->width - tl;
  hl = (size_t)snprintf(hd, sizeof hd, "%u", h);
  if (sp->pad == ' ') {
    if (hw > hl + 1) out_fill(o, ' ', hw - hl - 1);
    out_bytes(o, neg ? "-" : "+", 1);
  } else {
    out_bytes(o, neg ? "-" : "+", 1);
    if (hw > hl + 1) out_fill(o, '0', hw - hl - 1);
  }
  out_bytes(o, hd, hl);
  out_bytes(o, tail, tl);
}

/* %L / %N: the width is the number of digits, truncated (not rounded). */
static void out_frac(obuf *o, const spec *sp, long nsec, int defdigits) {
  char d[16];
  size_t n = (size_t)(sp->width > 0 ? sp->width : defdigits);
  snprintf(d, sizeof d, "%09ld", nsec);
  out_bytes(o, d, n < 9 ? n : 9);
  if (n > 9) out_fill(o, '0', n - 9);
}

static int iso_weeks_in_year(int64_t y) {
  int jan1 = wday_of_days(days_from_civil(y, 1, 1));
  return jan1 == 4 || (jan1 == 3 && is_leap(y)) ? 53 : 52;
}

static int iso_week(const lqd_tm *tm, int64_t *gyear) {
  int w = (tm->yday - (tm->wday + 6) % 7 - 1 + 10) / 7;
  *gyear = tm->year;
  if (w < 1) {
    *gyear = tm->year - 1;
    return iso_weeks_in_year(tm->year - 1);
  }
  if (w > iso_weeks_in_year(tm->year)) {
    *gyear = tm->year + 1;
    return 1;
  }
  return w;
}

static const char *const day_names[7] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                         "Thursday", "Friday", "Saturday"};
static const char *const month_names[12] = {"January",   "February", "March",    "April",
                                            "May",       "June",     "July",     "August",
                                            "September", "October",  "November", "December"};

static int fmt_run(obuf *o, const char *f, size_t n, const lqd_tm *tm);

/* Composite conversions (%c, %F, ...) are formatted whole, then padded and
** upcased as one piece. */
static void out_composite(obuf *o, const spec *sp, const char *sub, const lqd_tm *tm) {
  char buf[128];
  obuf t;
  t.p = buf, t.room = sizeof buf - 1, t.len = 0;
  fmt_run(&t, sub, strlen(sub), tm);
  out_text(o, sp, buf, t.len < t.room ? t.len : t.room, sp->upper ? CASE_UPPER : CASE_KEEP, 1);
}

/* Returns 0, or -1 when the format ends inside a directive. */
static int fmt_run(obuf *o, const char *f, size_t n, const lqd_tm *tm) {
  size_t i = 0;
  while (i < n) {
    size_t start, j;
    spec sp = {0, 0, 0, -1, 0, 0};
    int64_t gy;
    int cm;
    const char *txt;
    if (f[i] != '%') {
      for (j = i; j < n && f[j] != '%'; j++) {}
      out_bytes(o, f + i, j - i);
      i = j;
      continue;
    }
    start = i++;
    for (;; i++) {
      if (i >= n) return -1;
      if (f[i] == '-') sp.left = 1, sp.pad = 0;
      else if (f[i] == '_' || f[i] == '0') sp.pad = f[i] == '_' ? ' ' : '0';
      else if (f[i] == '^') sp.upper = 1;
      else if (f[i] == '#') sp.swap = 1;
      else break;
    }
    if (isdigit_c(f[i])) {
      uint64_t w = 0;
      while (i < n && isdigit_c(f[i])) {
        if (w <= INT_MAX) w = w * 10 + (uint64_t)(f[i] - '0');
        i++;
      }
      if (i >= n) return -1;
      if (w > INT_MAX) { /* Ruby gives up on such widths: literal */
        out_bytes(o, f + start, i + 1 - start);
        i++;
        continue;
      }
      sp.width = w > LQD_STRFTIME_MAXWIDTH ? LQD_STRFTIME_MAXWIDTH : (int)w;
    }
    if (f[i] == ':') {
      for (j = i; j < n && f[j] == ':'; j++) {}
      if (j - i > 3 || j >= n || f[j] != 'z') {
        out_bytes(o, f + start, i + 1 - start); /* "%:" stays literal */
        i++;
        continue;
      }
      sp.colons = (int)(j - i);
      i = j;
    } else if (f[i] == 'E' || f[i] == 'O') {
      /* POSIX locale modifiers: accepted (and ignored) before these only */
      const char *ok = f[i] == 'E' ? "cCxXyY" : "deHkIlmMSuUVwWy";
      if (i + 1 < n && f[i + 1] != '\0' && strchr(ok, f[i + 1])) {
        i++;
      } else {
        out_bytes(o, f + start, i + 1 - start);
        i++;
        continue;
      }
    }
    switch (f[i++]) {
      case 'Y': out_num(o, &sp, tm->year, tm->year < 0 ? 5 : 4, '0'); break;
      case 'C': out_num(o, &sp, fdiv(tm->year, 100), 2, '0'); break;
      case 'y': out_num(o, &sp, fmod64(tm->year, 100), 2, '0'); break;
      case 'm': out_num(o, &sp, tm->mon, 2, '0'); break;
      case 'd': out_num(o, &sp, tm->mday, 2, '0'); break;
      case 'e': out_num(o, &sp, tm->mday, 2, ' '); break;
      case 'j': out_num(o, &sp, tm->yday, 3, '0'); break;
      case 'H': out_num(o, &sp, tm->hour, 2, '0'); break;
      case 'k': out_num(o, &sp, tm->hour, 2, ' '); break;
      case 'I': out_num(o, &sp, (tm->hour + 11) % 12 + 1, 2, '0'); break;
      case 'l': out_num(o, &sp, (tm->hour + 11) % 12 + 1, 2, ' '); break;
      case 'M': out_num(o, &sp, tm->min, 2, '0'); break;
      case 'S': out_num(o, &sp, tm->sec, 2, '0'); break;
      case 'L': out_frac(o, &sp, tm->nsec, 3); break;
      case 'N': out_frac(o, &sp, tm->nsec, 9); break;
      case 's': out_num(o, &sp, tm->epoch, 1, '0'); break;
      case 'u': out_num(o, &sp, tm->wday ? tm->wday : 7, 1, '0'); break;
      case 'w': out_num(o, &sp, tm->wday, 1, '0'); break;
      case 'U': out_num(o, &sp, (tm->yday - 1 + 7 - tm->wday) / 7, 2, '0'); break;
      case 'W': out_num(o, &sp, (tm->yday - 1 + 7 - (tm->wday + 6) % 7) / 7, 2, '0'); break;
      case 'V': out_num(o, &sp, iso_week(tm, &gy), 2, '0'); break;
      case 'G':
        iso_week(tm, &gy);
        out_num(o, &sp, gy, gy < 0 ? 5 : 4, '0');
        break;
      case 'g':
        iso_week(tm, &gy);
        out_num(o, &sp, fmod64(gy, 100), 2, '0');
        break;
      case 'z': out_offset(o, &sp, tm); break;
      case 'Z': /* a bare offset has no name; Ruby then pads nothing either */
        if (!tm->abbr[0]) break;
        cm = sp.swap ? CASE_LOWER : sp.upper ? CASE_UPPER : CASE_KEEP;
        out_text(o, &sp, tm->abbr, strlen(tm->abbr), cm, 0);
        break;
      case 'A':
      case 'a':
      case 'B':
      case 'b':
      case 'h':
        txt = f[i - 1] == 'A' || f[i - 1] == 'a' ? day_names[tm->wday] : month_names[tm->mon - 1];
        out_text(o, &sp, txt, f[i - 1] == 'A' || f[i - 1] == 'B' ? strlen(txt) : 3,
                 sp.upper || sp.swap ? CASE_UPPER : CASE_KEEP, 0);
        break;
      case 'p': /* '#' turns "PM" into "pm" but "pm" (%P) into "PM" */
        cm = sp.swap ? CASE_LOWER : sp.upper ? CASE_UPPER : CASE_KEEP;
        out_text(o, &sp, tm->hour < 12 ? "AM" : "PM", 2, cm, 0);
        break;
      case 'P':
        out_text(o, &sp, tm->hour < 12 ? "am" : "pm", 2,
                 sp.upper || sp.swap ? CASE_UPPER : CASE_KEEP, 0);
        break;
      case 'n': out_text(o, &sp, "\n", 1, CASE_KEEP, 0); break;
      case 't': out_text(o, &sp, "\t", 1, CASE_KEEP, 0); break;
      case '%': out_text(o, &sp, "%", 1, CASE_KEEP, 0); break;
      case 'c': out_composite(o, &sp, "%a %b %e %H:%M:%S %Y", tm); break;
      case 'D':
      case 'x': out_composite(o, &sp, "%m/%d/%y", tm); break;
      case 'F': out_composite(o, &sp, "%Y-%m-%d", tm); break;
      case 'T':
      case 'X': out_composite(o, &sp, "%H:%M:%S", tm); break;
      case 'R': out_composite(o, &sp, "%H:%M", tm); break;
      case 'r': out_composite(o, &sp, "%I:%M:%S %p", tm); break;
      case 'v': out_composite(o, &sp, "%e-%^b-%4Y", tm); break;
      default: /* unknown (including Ruby's unsupported %+): copied as is */
        out_bytes(o, f + start, i - start);
        break;
    }
  }
  return 0;
}

size_t lqd_strftime(char *out, size_t cap, const char *fmt, size_t fmtlen, const lqd_tm *tm) {
  obuf o;
  o.p = out, o.room = cap ? cap - 1 : 0, o.len = 0;
  if (!fmt || !tm || tm->mon < 1 || tm->mon > 12 || tm->wday < 0 || tm->wday > 6 || tm->nsec < 0 ||
      tm->nsec > 999999999L || fmt_run(&o, fmt, fmtlen, tm) != 0) {
    if (cap) out[0] = '\0';
    return LQD_STRFTIME_INVALID;
  }
  if (cap) out[o.len < o.room ? o.len : o.room] = '\0';
  return o.len;
}
