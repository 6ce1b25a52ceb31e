/*
** Ruby's lenient Time.parse (Date._parse rules) and Liquid's Utils.to_date on top of it,
** for Liquid's date filter (liquid_date.h).
*/
#include <limits.h>
#include <string.h>

#include "liquid_date_int.h"

#define NOPE ((size_t)-1)

/*
** Accepted input is whatever Ruby's lenient parser accepts, reproduced by the
** same strategy: the string (at most 128 bytes) is lower-cased, every run of
** characters other than letters, digits and - + ' , . / : @ [ ] becomes one
** space, and then recognisers run in a fixed order. Each finds its leftmost
** match, records fields and replaces the matched text by one space, so later
** recognisers do not see it again.
**
**   1. weekday names ("fri", "friday,") -- removed, otherwise ignored;
**   2. a time: "10:30", "10:30:15.123", "10h30m15s", "10 pm", "10:30 a.m.",
**      optionally followed by a zone: "z", "utc", "gmt+2", "-04:00", "+0530",
**      "pdt", "eastern standard time";
**   3. the first date form that matches, tried in this order:
**      "14 march 2016" / "14th mar, 16" (day month [year], also with
**      "bc"/"ad"), "march 14, 2016" / "mar 14 2016", "2016-03-14",
**      Japanese era "h28.03.14", "14-mar-2016" / "mar-14-2016",
**      "2016/03/14" / "14/03/2016" / "03/14" (month/day), "2016.03.14",
**      ISO week and ordinal dates ("2016-w11-1", "--03-14", "2016-074"),
**      "'16" (year), a lone month name, "14th", and digit runs
**      ("20160314", "20160314t103000z", "160314", "074" = day of year, ...);
**   4. a trailing "bc", and a lone 1-2 digit number completing a day or hour.
**
** Three numbers with separators are year/month/day unless the last one has
** more than two digits (then day/month/year): "14/03/2016" is 14 March, and
** "03/14/2016" is an error (month 14), exactly as in Ruby. Two-digit years
** become 1969..2068.
**
** Time.parse then fills what is missing from `now` (in the stated offset, or
** the local zone): the leading missing fields (year, then month, day, ...)
** come from now, the ones after the first given field default to their
** minimum, so "10:00" is today at 10:00 and "March 14" is March 14 of this
** year, 00:00. Ranges follow Ruby: month 1..12, day 1..31 (Feb 30 rolls to
** Mar 1), hour 0..24, minute 0..59, second 0..60. Zone names known for the
** offset: UTC/UT/Z/GMT, EST/EDT/CST/CDT/MST/MDT/PST/PDT, military letters,
** numeric offsets (+hh, +hhmm, +hh:mm[:ss]) and the local zone's own
** abbreviations; other zone words are ignored (local time).
**
** Not reproduced: Unicode letters are approximated as "any byte >= 0x80";
** years beyond +-1e9 are rejected.
*/

enum {
  H_YEAR = 1 << 0,
  H_MON = 1 << 1,
  H_MDAY = 1 << 2,
  H_HOUR = 1 << 3,
  H_MIN = 1 << 4,
  H_SEC = 1 << 5,
  H_FRAC = 1 << 6,
  H_YDAY = 1 << 7,
  H_ZONE = 1 << 8,
  H_BC = 1 << 9,
  H_NOCOMP = 1 << 10,
  H_BAD = 1 << 11
};

/* Digit strings saturate at BIG but keep their value modulo 86400, so that
** a huge field still carries through an offset the way Ruby's bignums do. */
#define BIG (INT64_C(86400) * 10000000000)

typedef struct {
  unsigned has;
  int64_t year, mon, mday, hour, min, sec, yday;
  long nsec;
  char zone[48];
} dhash;

typedef struct {
  char s[LQD_PARSE_MAX + 1];
  size_t n;
} pstr;

typedef struct {
  const char *p; /* NULL = absent */
  size_t n;
} slice;

static const slice NIL = {NULL, 0};

static int pdig(int c) { return c >= '0' && c <= '9'; }
static int palpha(int c) { return isalpha_c(c) || (unsigned char)c >= 0x80; }
static int pword(int c) { return pdig(c) || palpha(c) || c == '_'; }

/* \b before position i */
static int wb(const pstr *b, size_t i) {
  int l = i > 0 && i - 1 < b->n && pword(b->s[i - 1]);
  int r = i < b->n && pword(b->s[i]);
  return l != r;
}

static size_t ndig(const pstr *b, size_t i) {
  size_t j = i;
  while (j < b->n && pdig(b->s[j])) j++;
  return j - i;
}

static size_t skipsp(const pstr *b, size_t i) {
  while (i < b->n && b->s[i] == ' ') i++;
  return i;
}

static int at(const pstr *b, size_t i, const char *w) {
  size_t k = strlen(w);
  return i <= b->n && b->n - i >= k && memcmp(b->s + i, w, k) == 0;
}

static int chr(const pstr *b, size_t i, char c) { return i < b->n && b->s[i] == c; }

static slice sl(const pstr *b, size_t from, size_t to) {
  slice s;
  s.p = b->s + from, s.n = to - from;
  return s;
}

static int64_t snum(const char *p, size_t n) {
  int64_t v = 0, r = 0;
  size_t i;
  for (i = 0; i < n; i++)
    if (pdig(p[i])) {
      r = (r * 10 + (p[i] - '0')) % 86400;
      v = v < BIG ? v * 10 + (p[i] - '0') : BIG;
    }
  return v < BIG ? v : BIG + r;
}

/* Month abbreviation at i (the regexes take three letters and then the rest
** of the word separately); 1..12 or 0. */
static int mon_at(const pstr *b, size_t i) {
  static const char names[] = "janfebmaraprmayjunjulaugsepoctnovdec";
  int m;
  if (i > b->n || b->n - i < 3) return 0;
  for (m = 0; m < 12; m++)
    if (memcmp(b->s + i, names + 3 * m, 3) == 0) return m + 1;
  return 0;
}

/* Replaces [from, to) by one space, as Ruby's parser does after a match. */
static void blank(pstr *b, size_t from, size_t to) {
  if (to <= from) return;
  memmove(b->s + from + 1, b->s + to, b->n - to);
  b->s[from] = ' ';
  b->n = b->n - (to - from) + 1;
  b->s[b->n] = '\0';
}

/* '?-?\d+ (or '?[-+]?\d+ with sign2): end index or NOPE. */
static size_t m_num(const pstr *b, size_t i, int sign2) {
  size_t d;
  if (chr(b, i, '\'')) i++;
  if (chr(b, i, '-') || (sign2 && chr(b, i, '+'))) i++;
  d = ndig(b, i);
  return d ? i + d : NOPE;
}

/* The year/month/day shuffle Ruby applies to three date fields given as
** text: decides which one is the year from apostrophes and digit counts. */
static void s3e(dhash *h, slice y, slice m, slice d, int bc) {
  slice t;
  if (y.p && m.p && !d.p) /* two fields: month, day */
    d = m, m = y, y = NIL;
  if (!y.p && d.p && (d.n > 2 || d.p[0] == '\'')) y = d, d = NIL;
  if (y.p) { /* "14th" as year: it is the day */
    size_t i = 0, k;
    while (i < y.n && !pdig(y.p[i]) && y.p[i] != '-' && y.p[i] != '+') i++;
    k = i + (i < y.n && !pdig(y.p[i]));
    while (k < y.n && pdig(y.p[k])) k++;
    if (i < y.n && k < y.n) {
      t = d, d.p = y.p + i, d.n = k - i, y = t;
    }
  }
  if (m.p && (m.p[0] == '\'' || m.n > 2)) /* "mon day year" read as y m d */
    t = y, y = m, m = d, d = t;
  if (d.p && (d.p[0] == '\'' || d.n > 2)) t = y, y = d, d = t;
  if (y.p) {
    size_t i = 0, k;
    int neg = 0;
    while (i < y.n && !pdig(y.p[i]) && y.p[i] != '-' && y.p[i] != '+') i++;
    if (i < y.n) {
      if (y.p[i] == '-' || y.p[i] == '+') {
        neg = y.p[i] == '-';
        h->has |= H_NOCOMP;
        i++;
      }
      for (k = i; k < y.n && pdig(y.p[k]); k++) {}
      if (k - i > 2) h->has |= H_NOCOMP;
      h->year = snum(y.p + i, k - i) * (neg ? -1 : 1);
      h->has |= H_YEAR;
    }
  }
  if (bc) h->has |= H_BC;
  if (m.p) h->mon = snum(m.p, m.n), h->has |= H_MON;
  if (d.p) h->mday = snum(d.p, d.n), h->has |= H_MDAY;
}

static slice mon_slice(int mon) {
  static const char digits[] = "123456789101112";
  static const unsigned char off[13] = {0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 13};
  slice s;
  s.p = digits + off[mon], s.n = mon < 10 ? 1 : 2;
  return s;
}

/* ---- 1. weekday ---- */

static void p_day(pstr *b) {
  static const char *const days[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
  size_t i, j;
  int k;
  for (i = 0; i < b->n; i++) {
    if (!wb(b, i)) continue;
    for (k = 0; k < 7 && !at(b, i, days[k]); k++) {}
    if (k == 7) continue;
    for (j = i + 3;
         j < b->n && b->s[j] != '-' && b->s[j] != '/' && !pdig(b->s[j]) && b->s[j] != ' '; j++) {}
    blank(b, i, j);
    return;
  }
}

/* ---- 2. time of day with optional zone ---- */

/* "am"/"pm" marker at i: [ap](m\b|\.m\.); returns end or NOPE, *pm set. */
static size_t m_ampm(const pstr *b, size_t i, int *pm) {
  if (!chr(b, i, 'a') && !chr(b, i, 'p')) return NOPE;
  *pm = b->s[i] == 'p';
  if (chr(b, i + 1, 'm') && wb(b, i + 2)) return i + 2;
  if (at(b, i + 1, ".m.")) return i + 4;
  return NOPE;
}

/* The zone that may follow a time; end or NOPE. */
static size_t m_zone(const pstr *b, size_t k) {
  static const char *const pre[] = {"gmt", "utc", "ut", ""};
  size_t j, r, p;
  int i;
  for (i = 0; i < 4; i++) { /* (gmt|utc?)?[-+]\d+([,.:]\d+(:\d+)?)? */
    j = k + strlen(pre[i]);
    if (!at(b, k, pre[i]) || !(chr(b, j, '-') || chr(b, j, '+')) || !ndig(b, j + 1)) continue;
    j += 1 + ndig(b, j + 1);
    if ((chr(b, j, ',') || chr(b, j, '.') || chr(b, j, ':')) && ndig(b, j + 1)) {
      j += 1 + ndig(b, j + 1);
      if (chr(b, j, ':') && ndig(b, j + 1)) j += 1 + ndig(b, j + 1);
    }
    return j;
  }
  /* [[:alpha:]. ]+ (standard|daylight) time\b -- rightmost such phrase */
  for (r = k; r < b->n && (palpha(b->s[r]) || b->s[r] == '.' || b->s[r] == ' '); r++) {}
  for (p = r; p > k; p--)
    if ((at(b, p, "standard time") || at(b, p, "daylight time")) && wb(b, p + 13)) return p + 13;
  /* [[:alpha:]]+( dst)?\b */
  for (r = k; r < b->n && palpha(b->s[r]); r++) {}
  if (r == k) return NOPE;
  if (at(b, r, " dst") && wb(b, r + 4)) return r + 4;
  return wb(b, r) ? r : NOPE;
}

/* Matches a time at i; returns its end (time only) or NOPE. */
static size_t m_time(const pstr *b, size_t i) {
  size_t j, k, d = ndig(b, i);
  int pm;
  if (!d) return NOPE;
  j = skipsp(b, i + d);
  if (chr(b, j, ':') && ndig(b, skipsp(b, j + 1))) { /* h:m[:s[.f]] */
    k = skipsp(b, j + 1);
    j = k + ndig(b, k);
    k = skipsp(b, j);
    if (chr(b, k, ':') && ndig(b, skipsp(b, k + 1))) {
      k = skipsp(b, k + 1);
      j = k + ndig(b, k);
      if (chr(b, j, ',') || chr(b, j, '.')) j += 1 + ndig(b, j + 1);
    }
  } else if (chr(b, j, 'h')) { /* 10h[30m[15s]] */
    j++;
    k = skipsp(b, j);
    if (ndig(b, k)) {
      j = k + ndig(b, k);
      if (chr(b, j, 'm')) j++;
      k = skipsp(b, j);
      if (ndig(b, k)) {
        j = k + ndig(b, k);
        if (chr(b, j, 's')) j++;
      }
    }
  } else { /* 10 pm */
    k = m_ampm(b, j, &pm);
    return k;
  }
  k = m_ampm(b, skipsp(b, j), &pm);
  return k != NOPE ? k : j;
}

/* Reads the fields of a matched time text [i, e), the way Ruby re-scans it. */
static void time_fields(const pstr *b, size_t i, size_t e, dhash *h) {
  pstr t;
  size_t p, q, d;
  int pm = -1;
  t.n = e - i;
  memcpy(t.s, b->s + i, t.n);
  t.s[t.n] = '\0';
  d = ndig(&t, 0);
  h->hour = snum(t.s, d), h->has |= H_HOUR;
  p = d;
  if (chr(&t, p, 'h')) p++;
  q = skipsp(&t, p); /* \s*:?\s*(\d+)m? */
  if (chr(&t, q, ':')) q++;
  q = skipsp(&t, q);
  if ((d = ndig(&t, q)) > 0) {
    h->min = snum(t.s + q, d), h->has |= H_MIN;
    p = q + d;
    if (chr(&t, p, 'm')) p++;
    q = skipsp(&t, p); /* \s*:?\s*(\d+)([,.]\d+)?s? */
    if (chr(&t, q, ':')) q++;
    q = skipsp(&t, q);
    if ((d = ndig(&t, q)) > 0) {
      h->sec = snum(t.s + q, d), h->has |= H_SEC;
      p = q + d;
      if ((chr(&t, p, ',') || chr(&t, p, '.')) && (d = ndig(&t, p + 1)) > 0) {
        char f[10] = "000000000";
        memcpy(f, t.s + p + 1, d < 9 ? d : 9);
        h->nsec = (long)snum(f, 9), h->has |= H_FRAC;
        p += 1 + d;
      }
      if (chr(&t, p, 's')) p++;
    }
  }
  q = skipsp(&t, p);
  if (m_ampm(&t, q, &pm) != NOPE) {
    if (h->hour > INT_MAX) /* Ruby fails converting it to int */
      h->has |= H_BAD;
    h->hour = h->hour % 12 + (pm ? 12 : 0);
  }
}

static void p_time(pstr *b, dhash *h) {
  size_t i, e, z, ze;
  for (i = 0; i < b->n; i++) {
    if ((e = m_time(b, i)) == NOPE) continue;
    time_fields(b, i, e, h);
    z = skipsp(b, e);
    ze = z < b->n ? m_zone(b, z) : NOPE;
    if (ze != NOPE) {
      size_t n = ze - z < sizeof h->zone - 1 ? ze - z : sizeof h->zone - 1;
      memcpy(h->zone, b->s + z, n);
      h->zone[n] = '\0';
      h->has |= H_ZONE;
      e = ze;
    }
    blank(b, i, e);
    return;
  }
}

/* ---- 3. dates ---- */

/* [^-\d\s']* */
static size_t skip_word_tail(const pstr *b, size_t j) {
  while (j < b->n && b->s[j] != '-' && !pdig(b->s[j]) && b->s[j] != ' ' && b->s[j] != '\'') j++;
  return j;
}

/* With sfx, a year may carry an ordinal suffix ("14th"); s3e then takes it
** for the day. */
static size_t m_year_sfx(const pstr *b, size_t e, int sfx) {
  static const char *const ord[] = {"st", "nd", "rd", "th"};
  int i;
  for (i = 0; sfx && e != NOPE && i < 4; i++)
    if (at(b, e, ord[i]) && wb(b, e + 2)) return e + 2;
  return e;
}

/* (ce|c.e.|bce|b.c.e.|ad|a.d.|bc|b.c.)? followed by a year; returns the
** year's end or NOPE, with the year slice and the bc flag. */
static size_t m_era_year(const pstr *b, size_t k, slice *y, int *bc, int sfx) {
  static const char *const eras[] = {"ce", "c.e.", "bce", "b.c.e.", "ad", "a.d.", "bc", "b.c."};
  size_t e, s;
  int i;
  for (i = 0; i < 8; i++) {
    if (!at(b, k, eras[i])) continue;
    s = skipsp(b, k + strlen(eras[i]));
    if ((e = m_year_sfx(b, m_num(b, s, 0), sfx)) != NOPE) {
      *y = sl(b, s, e), *bc = eras[i][0] == 'b';
      return e;
    }
  }
  if ((e = m_year_sfx(b, m_num(b, k, 0), sfx)) != NOPE) {
    *y = sl(b, k, e), *bc = 0;
    return e;
  }
  return NOPE;
}

/* 14 march 2016, 5/may/2020 */
static int p_eu(pstr *b, dhash *h) {
  size_t i, j, p, e, run;
  for (i = 0; i < b->n; i++) {
    slice y = NIL, ds;
    int mon = 0, bc = 0;
    j = chr(b, i, '\'') ? i + 1 : i;
    if (!ndig(b, j)) continue;
    j += ndig(b, j);
    ds = sl(b, i, j); /* "'14" keeps its apostrophe: a year */
    for (run = j; run < b->n && b->s[run] != '-' && !pdig(b->s[run]) && b->s[run] != ' '; run++)
      ; /* [^-\d\s]*: may swallow the month, back off */
    p = skipsp(b, run);
    if (!(mon = mon_at(b, p)))
      for (p = run; p-- > j && !(mon = mon_at(b, p));) {}
    if (!mon) continue;
    e = skip_word_tail(b, p + 3);
    j = m_era_year(b, skipsp(b, e), &y, &bc, 1);
    if (j != NOPE) e = j;
    s3e(h, y, mon_slice(mon), ds, bc);
    blank(b, i, e);
    return 1;
  }
  return 0;
}

/* march 14, 2016 */
static int p_us(pstr *b, dhash *h) {
  size_t i, j, d, e, ds0;
  for (i = 0; i < b->n; i++) {
    slice y = NIL, ds;
    int mon, bc = 0;
    if (!wb(b, i) || !(mon = mon_at(b, i))) continue;
    j = skipsp(b, skip_word_tail(b, i + 3));
    ds0 = j;
    if (chr(b, j, '\'')) j++;
    if (!(d = ndig(b, j))) continue;
    ds = sl(b, ds0, j + d);
    e = skip_word_tail(b, j + d);
    j = skipsp(b, e);
    if (chr(b, j, ',')) j++;
    j = m_era_year(b, skipsp(b, j), &y, &bc, 0);
    if (j != NOPE) e = j;
    s3e(h, y, mon_slice(mon), ds, bc);
    blank(b, i, e);
    return 1;
  }
  return 0;
}

/* Three numbers joined by sep ('-': 2016-03-14, '.': 2016.03.14, '/':
** 2016/03/14 with an optional third part after any non-digit). */
static int p_3num(pstr *b, dhash *h, char sep) {
  size_t i, j, k, e;
  for (i = 0; i < b->n; i++) {
    slice y, m, d = NIL;
    if ((j = m_num(b, i, sep == '-')) == NOPE || !chr(b, j, sep)) continue;
    y = sl(b, i, j);
    k = sep == '-' ? j + 1 : skipsp(b, j + 1);
    e = sep != '-' && chr(b, k, '\'') ? k + 1 : k;
    if (!ndig(b, e)) continue;
    e += ndig(b, e);
    m = sl(b, k, e);
    if (sep == '/') {
      k = e + 1; /* \D is one character, maybe multibyte */
      while (k < b->n && ((unsigned char)b->s[k] & 0xC0) == 0x80) k++;
      if (e < b->n && !pdig(b->s[e]) && (j = m_num(b, skipsp(b, k), 0)) != NOPE)
        d = sl(b, skipsp(b, k), j), e = j;
    } else {
      k = sep == '-' ? e + 1 : skipsp(b, e + 1);
      if (!chr(b, e, sep) || (j = m_num(b, k, 0)) == NOPE) continue;
      d = sl(b, k, j), e = j;
    }
    s3e(h, y, m, d, 0);
    blank(b, i, e);
    return 1;
  }
  return 0;
}

/* h28.03.14: Japanese eras */
static int p_jis(pstr *b, dhash *h) {
  static const char eras[] = "mtshr";
  static const int base[] = {1867, 1911, 1925, 1988, 2018};
  size_t i, j, d1, d2, d3;
  const char *e;
  for (i = 0; i < b->n; i++) {
    if (!wb(b, i) || !b->s[i] || !(e = strchr(eras, b->s[i]))) continue;
    j = i + 1;
    if (!(d1 = ndig(b, j)) || !chr(b, j + d1, '.') || !(d2 = ndig(b, j + d1 + 1)) ||
        !chr(b, j + d1 + 1 + d2, '.') || !(d3 = ndig(b, j + d1 + d2 + 2)))
      continue;
    h->year = base[e - eras] + snum(b->s + j, d1);
    h->mon = snum(b->s + j + d1 + 1, d2);
    h->mday = snum(b->s + j + d1 + d2 + 2, d3);
    h->has |= H_YEAR | H_MON | H_MDAY;
    blank(b, i, j + d1 + d2 + 2 + d3);
    return 1;
  }
  return 0;
}

/* [^-/.]* */
static size_t skip_not_sep(const pstr *b, size_t j) {
  while (j < b->n && b->s[j] != '-' && b->s[j] != '/' && b->s[j] != '.') j++;
  return j;
}

/* 14-mar-2016, mar-14[-2016] */
static int p_vms(pstr *b, dhash *h) {
  size_t i, j, k, e;
  int mon;
  for (i = 0; i < b->n; i++) { /* day-mon-year */
    if ((j = m_num(b, i, 0)) == NOPE || !chr(b, j, '-') || !(mon = mon_at(b, j + 1))) continue;
    k = skip_not_sep(b, j + 4);
    if (!chr(b, k, '-') || (e = m_num(b, k + 1, 0)) == NOPE) continue;
    s3e(h, sl(b, k + 1, e), mon_slice(mon), sl(b, i, j), 0);
    blank(b, i, e);
    return 1;
  }
  for (i = 0; i < b->n; i++) { /* mon-day[-year] */
    slice y = NIL, d;
    if (!wb(b, i) || !(mon = mon_at(b, i))) continue;
    k = skip_not_sep(b, i + 3);
    if (!chr(b, k, '-') || (e = m_num(b, k + 1, 0)) == NOPE) continue;
    d = sl(b, k + 1, e);
    if (chr(b, e, '-') && (j = m_num(b, e + 1, 0)) != NOPE) y = sl(b, e + 1, j), e = j;
    s3e(h, y, mon_slice(mon), d, 0);
    blank(b, i, e);
    return 1;
  }
  return 0;
}

/* (\d{2}|\d{4}) followed by what rest() accepts: 2, 4, or 0 if neither. */
static size_t d24(const pstr *b, size_t i, size_t (*rest)(const pstr *, size_t)) {
  size_t n = ndig(b, i);
  if (n >= 2 && rest(b, i + 2) != NOPE) return 2;
  if (n >= 4 && rest(b, i + 4) != NOPE) return 4;
  return 0;
}

/* rest of "-?w\d{2}(-?\d)?\b" from j */
static size_t iso21_rest(const pstr *b, size_t j) {
  if (chr(b, j, '-')) j++;
  if (!chr(b, j, 'w') || ndig(b, j + 1) < 2) return NOPE;
  j += 3;
  if (chr(b, j, '-') && ndig(b, j + 1) && wb(b, j + 2)) return j + 2;
  if (ndig(b, j) && wb(b, j + 1)) return j + 1;
  return wb(b, j) ? j : NOPE;
}

/* "-\d{3}\b" */
static size_t yday_rest(const pstr *b, size_t j) {
  return chr(b, j, '-') && ndig(b, j + 1) >= 3 && wb(b, j + 4) ? j + 4 : NOPE;
}

static int p_iso2(pstr *b, dhash *h) {
  size_t i, j, n;
  /* 2016-w11-1 (week dates: recognised so nothing else claims them, but
  ** Time.parse ignores their fields) */
  for (i = 0; i < b->n; i++) {
    if (!wb(b, i)) continue;
    n = d24(b, i, iso21_rest);
    if ((j = iso21_rest(b, i + n)) != NOPE) {
      blank(b, i, j);
      return 1;
    }
  }
  for (i = 0; i < b->n; i++) { /* -w-1 */
    if (at(b, i, "-w-") && ndig(b, i + 3) && wb(b, i + 4)) {
      blank(b, i, i + 4);
      return 1;
    }
  }
  for (i = 0; i < b->n; i++) { /* --03-14, ---14 */
    if (!at(b, i, "--")) continue;
    j = i + 2;
    n = ndig(b, j) >= 2 && chr(b, j + 2, '-') && ndig(b, j + 3) >= 2 && wb(b, j + 5) ? 2 : 0;
    if (!chr(b, j + n, '-') || ndig(b, j + n + 1) < 2 || !wb(b, j + n + 3)) continue;
    if (n) h->mon = snum(b->s + j, 2), h->has |= H_MON;
    h->mday = snum(b->s + j + n + 1, 2), h->has |= H_MDAY;
    blank(b, i, j + n + 3);
    return 1;
  }
  for (i = 0; i < b->n; i++) { /* --0314, --03 */
    if (!at(b, i, "--") || ndig(b, i + 2) < 2) continue;
    j = i + 2;
    if (ndig(b, j + 2) >= 2 && wb(b, j + 4)) {
      h->mon = snum(b->s + j, 2), h->mday = snum(b->s + j + 2, 2);
      h->has |= H_MON | H_MDAY;
      blank(b, i, j + 4);
      return 1;
    }
    if (wb(b, j + 2)) {
      h->mon = snum(b->s + j, 2), h->has |= H_MON;
      blank(b, i, j + 2);
      return 1;
    }
  }
  /* 2016-074 (ordinal), unless it follows [,.] like a fraction */
  for (i = 0; i + 1 < b->n; i++)
    if ((b->s[i] == ',' || b->s[i] == '.') && (n = d24(b, i + 1, yday_rest)) != 0) goto no_ord;
  for (i = 0; i < b->n; i++) {
    if (!wb(b, i) || !(n = d24(b, i, yday_rest))) continue;
    h->year = snum(b->s + i, n), h->yday = snum(b->s + i + n + 1, 3);
    h->has |= H_YEAR | H_YDAY;
    blank(b, i, i + n + 4);
    return 1;
  }
no_ord:
  for (i = 0; i < b->n; i++) /* x-074: day of year */
    if (pdig(b->s[i]) && yday_rest(b, i + 1) != NOPE) return 0;
  for (i = 0; i < b->n; i++) {
    if (wb(b, i) && chr(b, i, '-') && ndig(b, i + 1) >= 3 && wb(b, i + 4)) {
      h->yday = snum(b->s + i + 1, 3), h->has |= H_YDAY;
      blank(b, i, i + 4);
      return 1;
    }
  }
  return 0;
}

/* '16 */
static int p_year(pstr *b, dhash *h) {
  size_t i, d;
  for (i = 0; i < b->n; i++) {
    if (!chr(b, i, '\'') || !(d = ndig(b, i + 1)) || !wb(b, i + 1 + d)) continue;
    h->year = snum(b->s + i + 1, d), h->has |= H_YEAR;
    blank(b, i, i + 1 + d);
    return 1;
  }
  return 0;
}

/* a lone month name */
static int p_mon(pstr *b, dhash *h) {
  size_t i, j;
  int mon;
  for (i = 0; i < b->n; i++) {
    if (!wb(b, i) || !(mon = mon_at(b, i))) continue;
    for (j = i + 3; j < b->n && b->s[j] != ' '; j++) {}
    h->mon = mon, h->has |= H_MON;
    blank(b, i, j);
    return 1;
  }
  return 0;
}

/* 14th */
static int p_mday(pstr *b, dhash *h) {
  static const char *const sfx[] = {"st", "nd", "rd", "th"};
  size_t i, d;
  int k;
  for (i = 0; i < b->n; i++) {
    if (!(d = ndig(b, i))) continue;
    for (k = 0; k < 4; k++)
      if (at(b, i + d, sfx[k]) && wb(b, i + d + 2)) break;
    if (k == 4) continue;
    h->mday = snum(b->s + i, d), h->has |= H_MDAY;
    blank(b, i, i + d + 2);
    return 1;
  }
  return 0;
}

/* Digit runs: "20160314", "20160314t103000.5z", "160314", "074", "1230.5"
** (a lone fraction makes the digits a time read from the right). */
static int p_ddd(pstr *b, dhash *h) {
  size_t i, j = 0, k, n = 0, n3 = 0, zs = 0, ze = NOPE;
  const char *s2, *s3 = NULL, *s4 = NULL;
  size_t n4 = 0;
  int neg = 0;
  for (i = 0; i < b->n; i++) {
    j = i;
    if (chr(b, j, '-') || chr(b, j, '+')) neg = b->s[j] == '-', j++;
    else neg = 0;
    if ((n = ndig(b, j)) >= 2) break;
  }
  if (i >= b->n) return 0;
  if (n > 14) n = 14;
  s2 = b->s + j;
  k = skipsp(b, j + n); /* \s*t?\s*(\d{2,6})?([,.]\d*)? */
  if (chr(b, k, 't')) k++;
  k = skipsp(b, k);
  if (ndig(b, k) >= 2) {
    n3 = ndig(b, k) > 6 ? 6 : ndig(b, k);
    s3 = b->s + k, k += n3;
  }
  if (chr(b, k, ',') || chr(b, k, '.')) {
    s4 = b->s + k + 1, n4 = ndig(b, k + 1);
    k += 1 + n4;
  }
  j = k;
  zs = skipsp(b, j); /* z | [-+]\d{1,4} | [...] */
  if (chr(b, zs, 'z') && wb(b, zs + 1)) {
    ze = zs + 1;
  } else if ((chr(b, zs, '-') || chr(b, zs, '+')) && ndig(b, zs + 1) >= 1 && ndig(b, zs + 1) <= 4 &&
             wb(b, zs + 1 + ndig(b, zs + 1))) {
    ze = zs + 1 + ndig(b, zs + 1);
  } else if (chr(b, zs, '[')) {
    k = zs + 1;
    if (chr(b, k, '-') || chr(b, k, '+')) k++;
    if (ndig(b, k)) {
      const char *close = memchr(b->s + k, ']', b->n - k);
      if (close) ze = (size_t)(close - b->s) + 1;
    }
  }
  {
    int timeonly = !s3 && s4; /* digits read as [[[[yy]mm]dd]hh]mmss */
    const char *p = s2;
#define D2(o) snum(p + (o), 2)
    switch (n) {
      case 2:
        if (timeonly) h->sec = D2(0), h->has |= H_SEC;
        else h->mday = D2(0), h->has |= H_MDAY;
        break;
      case 4:
        if (timeonly) h->sec = D2(2), h->min = D2(0), h->has |= H_SEC | H_MIN;
        else h->mon = D2(0), h->mday = D2(2), h->has |= H_MON | H_MDAY;
        break;
      case 3:
      case 5:
      case 7:
        if (timeonly) {
          h->sec = D2(n - 2), h->min = D2(n - 4 + (n == 3)), h->has |= H_SEC | H_MIN;
          if (n == 3) h->min = snum(p, 1);
          if (n >= 5) h->hour = n == 5 ? snum(p, 1) : D2(1), h->has |= H_HOUR;
          if (n == 7) h->mday = snum(p, 1), h->has |= H_MDAY;
        } else if (n == 3) {
          h->yday = snum(p, 3), h->has |= H_YDAY;
        } else {
          size_t yl = n == 5 ? 2 : 4;
          h->year = snum(p, yl) * (neg ? -1 : 1), h->yday = snum(p + yl, 3);
          h->has |= H_YEAR | H_YDAY;
        }
        break;
      case 6:
        if (timeonly) {
          h->sec = D2(4), h->min = D2(2), h->hour = D2(0);
          h->has |= H_SEC | H_MIN | H_HOUR;
        } else {
          h->year = D2(0) * (neg ? -1 : 1), h->mon = D2(2), h->mday = D2(4);
          h->has |= H_YEAR | H_MON | H_MDAY;
        }
        break;
      case 8:
      case 10:
      case 12:
      case 14:
        if (timeonly) {
          h->sec = D2(n - 2), h->min = D2(n - 4), h->hour = D2(n - 6), h->mday = D2(n - 8);
          h->has |= H_SEC | H_MIN | H_HOUR | H_MDAY;
          if (n >= 10) h->mon = D2(n - 10), h->has |= H_MON;
          if (n == 12) h->year = D2(0) * (neg ? -1 : 1), h->has |= H_YEAR;
          if (n == 14) h->year = snum(p, 4) * (neg ? -1 : 1), h->has |= H_YEAR | H_NOCOMP;
        } else {
          h->year = snum(p, 4) * (neg ? -1 : 1), h->mon = D2(4), h->mday = D2(6);
          h->has |= H_YEAR | H_MON | H_MDAY | H_NOCOMP;
          if (n >= 10) h->hour = D2(8), h->has |= H_HOUR;
          if (n >= 12) h->min = D2(10), h->has |= H_MIN;
          if (n >= 14) h->sec = D2(12), h->has |= H_SEC;
        }
        break;
      default: break;
    }
#undef D2
  }
  if (s3 && (n3 == 2 || n3 == 4 || n3 == 6)) {
    if (s4) { /* followed by a fraction: [[hh]mm]ss */
      h->sec = snum(s3 + n3 - 2, 2), h->has |= H_SEC;
      if (n3 >= 4) h->min = snum(s3 + n3 - 4, 2), h->has |= H_MIN;
      if (n3 >= 6) h->hour = snum(s3, 2), h->has |= H_HOUR;
    } else {
      h->hour = snum(s3, 2), h->has |= H_HOUR;
      if (n3 >= 4) h->min = snum(s3 + 2, 2), h->has |= H_MIN;
      if (n3 >= 6) h->sec = snum(s3 + 4, 2), h->has |= H_SEC;
    }
  }
  if (s4) {
    char f[10] = "000000000";
    memcpy(f, s4, n4 < 9 ? n4 : 9);
    h->nsec = (long)snum(f, 9), h->has |= H_FRAC;
  }
  if (ze != NOPE) {
    const char *zp = b->s + zs;
    size_t zn = ze - zs;
    if (zp[0] == '[') { /* [-5:est] -> "est", [+9] -> "+9" */
      const char *colon = memchr(zp, ':', zn);
      if (colon) zn = (size_t)(zp + zn - colon) - 2, zp = colon + 1;
      else zp++, zn -= 2;
    }
    if (zn > sizeof h->zone - 1) zn = sizeof h->zone - 1;
    memcpy(h->zone, zp, zn);
    h->zone[zn] = '\0';
    h->has |= H_ZONE;
    j = ze;
  }
  blank(b, i, j);
  return 1;
}

/* ---- 4. bc and fragments ---- */

static void p_bc(pstr *b, dhash *h) {
  size_t i, e;
  for (i = 0; i < b->n; i++) {
    if (!wb(b, i)) continue;
    if (at(b, i, "bc") && wb(b, i + 2)) e = i + 2;
    else if (at(b, i, "bce") && wb(b, i + 3)) e = i + 3;
    else if (at(b, i, "b.c.")) e = i + 4;
    else continue;
    h->has |= H_BC;
    blank(b, i, e);
    return;
  }
}

static void p_frag(const pstr *b, dhash *h) {
  size_t i = skipsp(b, 0), d = ndig(b, i);
  int64_t v;
  if (d < 1 || d > 2 || skipsp(b, i + d) != b->n) return;
  v = snum(b->s + i, d);
  if ((h->has & H_HOUR) && !(h->has & H_MDAY) && v >= 1 && v <= 31) h->mday = v, h->has |= H_MDAY;
  if ((h->has & H_MDAY) && !(h->has & H_HOUR) && v >= 0 && v <= 24) h->hour = v, h->has |= H_HOUR;
}

/* Date._parse: fills h; returns -1 if the string is too long, -2 where Ruby
** fails with a RangeError (an hour beyond int with am/pm). */
/* The common case first: strict ISO 8601 ("2024-11-21", "2024-11-21T15:38:00Z",
** "2024-11-21 15:38:00.25 +05:00") read in one pass. It fills the same fields the
** general recognisers below would (checked against them), or declines with -1. */
static int iso_fast(const char *s, size_t len, dhash *h) {
  size_t i = 10, k;
  int64_t v[6] = {0, 0, 0, 0, 0, 0};
#define D(j) (s[j] >= '0' && s[j] <= '9')
#define N2(j) ((s[j] - '0') * 10 + (s[j + 1] - '0'))
  if (len < 10 || len > 40 || !D(0) || !D(1) || !D(2) || !D(3) || s[4] != '-' || !D(5) || !D(6) ||
      s[7] != '-' || !D(8) || !D(9))
    return -1;
  memset(h, 0, sizeof *h);
  v[0] = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + N2(2);
  v[1] = N2(5);
  v[2] = N2(8);
  h->has = H_YEAR | H_MON | H_MDAY | H_NOCOMP; /* four digits: no century guess */
  if (i < len && (s[i] == 'T' || s[i] == 't' || s[i] == ' ')) {
    if (len < i + 6 || !D(i + 1) || !D(i + 2) || s[i + 3] != ':' || !D(i + 4) || !D(i + 5))
      return -1;
    v[3] = N2(i + 1);
    v[4] = N2(i + 4);
    h->has |= H_HOUR | H_MIN;
    i += 6;
    if (i < len && s[i] == ':') {
      if (len < i + 3 || !D(i + 1) || !D(i + 2)) return -1;
      v[5] = N2(i + 1);
      h->has |= H_SEC;
      i += 3;
      if (i < len && s[i] == '.') {
        long ns = 0, scale = 100000000;
        if (i + 1 >= len || !D(i + 1)) return -1;
        for (i++; i < len && D(i); i++, scale /= 10)
          if (scale) ns += (s[i] - '0') * scale;
        h->nsec = ns;
        h->has |= H_FRAC;
      }
    }
    if (i < len && s[i] == ' ') i++;
    if (i < len && (s[i] == 'Z' || s[i] == 'z') && i + 1 == len) {
      strcpy(h->zone, "z");
      h->has |= H_ZONE;
      i++;
    } else if (i < len && (s[i] == '+' || s[i] == '-')) {
      /* +HH, +HHMM or +HH:MM, kept as written for zone_offset */
      k = len - i;
      if (!((k == 3 && D(i + 1) && D(i + 2)) ||
            (k == 5 && D(i + 1) && D(i + 2) && D(i + 3) && D(i + 4)) ||
            (k == 6 && D(i + 1) && D(i + 2) && s[i + 3] == ':' && D(i + 4) && D(i + 5))))
        return -1;
      memcpy(h->zone, s + i, k);
      h->zone[k] = '\0';
      h->has |= H_ZONE;
      i = len;
    }
  }
  if (i != len || v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > 31 || v[3] > 23 || v[4] > 59 ||
      v[5] > 59)
    return -1; /* anything unusual takes the general road */
  h->year = v[0], h->mon = v[1], h->mday = v[2], h->hour = v[3], h->min = v[4], h->sec = v[5];
  return 0;
#undef D
#undef N2
}

static int date_parse_full(const char *s, size_t len, dhash *h);

static int date_parse(const char *s, size_t len, dhash *h) {
  if (iso_fast(s, len, h) == 0) return 0;
  return date_parse_full(s, len, h);
}

static int date_parse_full(const char *s, size_t len, dhash *h) {
  pstr b;
  size_t i;
  int gap = 0;
  memset(h, 0, sizeof *h);
  if (len > LQD_PARSE_MAX) return -1;
  for (i = 0, b.n = 0; i < len; i++) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
    if (pdig(c) || palpha(c) || (c != '\0' && strchr("-+',./:@[]", c))) {
      b.s[b.n++] = c;
      gap = 0;
    } else if (!gap) {
      b.s[b.n++] = ' ';
      gap = 1;
    }
  }
  b.s[b.n] = '\0';
  p_day(&b);
  p_time(&b, h);
  (void)(p_eu(&b, h) || p_us(&b, h) || p_3num(&b, h, '-') || p_jis(&b, h) || p_vms(&b, h) ||
         p_3num(&b, h, '/') || p_3num(&b, h, '.') || p_iso2(&b, h) || p_year(&b, h) ||
         p_mon(&b, h) || p_mday(&b, h) || p_ddd(&b, h));
  p_bc(&b, h);
  p_frag(&b, h);
  if (h->has & H_BAD) return -2;
  if ((h->has & H_BC) && (h->has & H_YEAR)) h->year = 1 - h->year;
  if ((h->has & H_YEAR) && !(h->has & H_NOCOMP) && h->year >= 0 && h->year <= 99)
    h->year += h->year >= 69 ? 1900 : 2000;
  return 0;
}

/* ---- Time.parse on top ---- */

static int ci_eq(const char *a, size_t n, const char *lower) {
  size_t i;
  if (strlen(lower) != n) return 0;
  for (i = 0; i < n; i++) {
    char c = a[i];
    if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
    if (c != lower[i]) return 0;
  }
  return 1;
}

/* Zones Ruby's Time reads as UTC itself rather than as a zero offset. */
static int zone_is_utc(const char *z) {
  static const char *const names[] = {"-00:00", "-0000", "-00", "utc", "z", "ut"};
  size_t i;
  for (i = 0; i < 6; i++)
    if (ci_eq(z, strlen(z), names[i])) return 1;
  return 0;
}

/* Time.zone_offset: numeric offsets, a fixed table of names and the local
** zone's abbreviations in January and July of `year`. 1 if known. */
static int zone_offset(const char *z, const lqd_zone *local, int64_t year, int *off) {
  static const struct {
    const char *name;
    int hours;
  } names[] = {{"utc", 0},  {"z", 0},    {"ut", 0},   {"gmt", 0},  {"est", -5}, {"edt", -4},
               {"cst", -6}, {"cdt", -5}, {"mst", -7}, {"mdt", -6}, {"pst", -8}, {"pdt", -7}};
  size_t n = strlen(z), i;
  if (z[0] == '+' || z[0] == '-') { /* +hh, +hhmm[ss], +hh:mm[:ss] */
    int v[3] = {0, 0, 0}, nd = 0, colon = n > 3 && z[3] == ':';
    for (i = 1; i < n; i++) {
      if (colon && (i == 3 || i == 6)) {
        if (z[i] != ':') return 0;
      } else if (pdig(z[i]) && nd < 6) {
        v[nd / 2] = v[nd / 2] * 10 + (z[i] - '0'), nd++;
      } else {
        return 0;
      }
    }
    if ((nd != 2 || colon) && nd != 4 && nd != 6) return 0;
    *off = (z[0] == '-' ? -1 : 1) * (v[0] * 3600 + v[1] * 60 + v[2]);
    return 1;
  }
  for (i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strcmp(z, names[i].name) == 0) {
      *off = names[i].hours * 3600;
      return 1;
    }
  if (n == 1 && z[0] >= 'a' && z[0] <= 'y' && z[0] != 'j') { /* military */
    int c = z[0];
    *off = 3600 * (c <= 'i' ? c - 'a' + 1 : c <= 'm' ? c - 'k' + 10 : -(c - 'n' + 1));
    return 1;
  }
  if (year >= -1000000000 && year <= 1000000000) {
    int m;
    for (m = 1; m <= 7; m += 6) {
      const lqd_ttype *t =
          lqd_zone_type_at(local, lqd_wall_to_epoch(local, lqd_civil_secs(year, m, 1, 0, 0, 0)));
      if (strlen(t->abbr) == n) {
        char low[16];
        for (i = 0; i < n; i++)
          low[i] =
              (char)(t->abbr[i] >= 'A' && t->abbr[i] <= 'Z' ? t->abbr[i] - 'A' + 'a' : t->abbr[i]);
        low[n] = '\0';
        if (strcmp(low, z) == 0) {
          *off = t->off;
          return 1;
        }
      }
    }
  }
  return 0;
}

/* Ruby turns a wall time with a stated offset into UTC field by field,
** carrying only through the fields the offset touches ("25:00 -07:00" passes,
** "25:00 +00:00" does not) and clamping a day carry to the month's edge;
** Time.utc checks the ranges afterwards. */
static void shift_to_utc(int64_t f[6], int off) {
  static const int64_t base[3] = {60, 60, 24};
  int64_t a = off < 0 ? -(int64_t)off : off, o, c;
  int k, west = off < 0;
  for (k = 0; k < 3; k++) {
    o = a % base[k], a /= base[k];
    if (o) {
      f[5 - k] += west ? o : -o;
      c = fdiv(f[5 - k], base[k]);
      f[5 - k] -= c * base[k];
      a += west ? c : -c;
    }
  }
  if (!a) return;
  if (west) {
    f[2] += a;
    /* (month 0 reads December's length: Ruby indexes its table with -1) */
    if (f[1] >= 0 && f[1] <= 12 && f[2] > (f[1] ? month_len(f[0], (int)f[1]) : 31)) {
      if (++f[1] > 12) f[1] = 1, f[0]++;
      f[2] = 1;
    }
  } else {
    f[2] -= a;
    if (f[2] < 1) {
      if (--f[1] < 1) f[1] = 12, f[0]--;
      f[2] = f[1] >= 1 && f[1] <= 12 ? month_len(f[0], (int)f[1]) : 1;
    }
  }
}

/* Time.parse's make_time without the day-of-year step. */
static int make_time(const dhash *h, unsigned has, const lqd_zone *local, int64_t now, int has_off,
                     int off, lqd_tm *out) {
  lqd_tm nt;
  int64_t f[6], epoch; /* year mon mday hour min sec */
  long nsec = 0;
  int i;
  static const unsigned bit[6] = {H_YEAR, H_MON, H_MDAY, H_HOUR, H_MIN, H_SEC};
  const int64_t *hv[6];
  hv[0] = &h->year, hv[1] = &h->mon, hv[2] = &h->mday;
  hv[3] = &h->hour, hv[4] = &h->min, hv[5] = &h->sec;
  /* now's fields fill only what leads up to the first given field: with a year, none */
  if (!(has & H_YEAR)) {
    if (has_off ? lqd_fixedtime(now, 0, off, &nt) : lqd_localtime(local, now, 0, &nt)) return -1;
    f[0] = nt.year, f[1] = nt.mon, f[2] = nt.mday, f[3] = nt.hour, f[4] = nt.min, f[5] = nt.sec;
  }
  /* Leading missing fields come from now, the ones after the first given
  ** field default to their minimum: "10:00" is today, "March" is March 1. */
  for (i = 0; i < 6 && !(has & bit[i]); i++) {}
  for (; i < 6; i++) f[i] = (has & bit[i]) ? *hv[i] : (i == 1 || i == 2);
  if (has & H_FRAC) nsec = h->nsec;
  if (has_off) shift_to_utc(f, off);
  if (f[0] < -1000000000 || f[0] > 1000000000 || f[1] < 1 || f[1] > 12 || f[2] < 1 || f[2] > 31 ||
      f[3] < 0 || f[3] > 24 || f[4] < 0 || f[4] > 59 || f[5] < 0 || f[5] > 60 ||
      (f[3] == 24 && (f[4] || f[5])))
    return -1;
  epoch = lqd_civil_secs(f[0], (int)f[1], (int)f[2], (int)f[3], (int)f[4], (int)f[5]);
  if (!has_off) return lqd_localtime(local, lqd_wall_to_epoch(local, epoch), nsec, out);
  if (zone_is_utc(h->zone)) return lqd_utctime(epoch, nsec, out);
  if (lqd_epoch_ok(epoch, nsec) &&
      lqd_zone_off(local, epoch) == off) /* a real zone beats a bare offset */
    return lqd_localtime(local, epoch, nsec, out);
  return lqd_fixedtime(epoch, nsec, off, out);
}

int lqd_parse(const char *s, size_t len, const lqd_zone *local, int64_t now, lqd_tm *out) {
  dhash h;
  lqd_tm nt;
  int off = 0, has_off = 0;
  int64_t year, diff;
  int rc;
  /* (where lqd_localtime of now would fail; now itself is read only when needed) */
  if (!s || !local || !lqd_epoch_ok(now, 0)) return -1;
  if ((rc = date_parse(s, len, &h)) != 0) return rc;
  if (!(h.has & (H_YEAR | H_YDAY | H_MON | H_MDAY | H_HOUR | H_MIN | H_SEC | H_FRAC)))
    return -1; /* "no time information" */
  if (h.has & H_YEAR) year = h.year;
  else if (lqd_localtime(local, now, 0, &nt) == 0) year = nt.year;
  else return -1;
  if (h.has & H_ZONE) {
    has_off = zone_offset(h.zone, local, year, &off);
    if (has_off && (off <= -86400 || off >= 86400)) return -1;
  }
  if (!(h.has & H_YDAY)) return make_time(&h, h.has, local, now, has_off, off, out);
  /* Day of year, Ruby's way: guess month and day as if months had 31
  ** days, then move by the yday error once (an hour 24 or a leap second
  ** that crosses midnight is thereby absorbed). */
  if (h.yday < 1 || h.yday > 366) return -1;
  h.mon = (h.yday - 1) / 31 + 1, h.mday = (h.yday - 1) % 31 + 1;
  h.has |= H_MON | H_MDAY;
  if (make_time(&h, h.has, local, now, has_off, off, out) != 0) return -1;
  if ((diff = h.yday - out->yday) == 0) return 0;
  h.mday += diff;
  if (h.mday > 28 && year >= -1000000000 && year <= 1000000000 &&
      h.mday > month_len(year, (int)h.mon)) {
    h.mday -= month_len(year, (int)h.mon);
    if (++h.mon > 12) return -1;
  }
  return make_time(&h, h.has, local, now, has_off, off, out);
}

int lqd_to_time(const char *s, size_t len, const lqd_zone *local, int64_t now, lqd_tm *out) {
  size_t i;
  int64_t v = 0;
  if (!s || !local || len == 0) return -1;
  if (ci_eq(s, len, "now") || ci_eq(s, len, "today")) return lqd_localtime(local, now, 0, out);
  for (i = 0; i < len && pdig(s[i]); i++) {
    if (v > LQD_EPOCH_MAX / 10) return -1; /* beyond any representable time */
    v = v * 10 + (s[i] - '0');
  }
  if (i == len) return lqd_localtime(local, v, 0, out);
  return lqd_parse(s, len, local, now, out);
}
