/*
** Time zones for Liquid's date filter (liquid_date.h): the built-in UTC, POSIX TZ strings,
** TZif files from tzdata and the process-wide cache; epoch <-> broken-down time both ways.
** Behaviour was checked against Ruby 3.1.
*/
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "liquid_date_int.h"

static void set_err(char *err, size_t errlen, const char *a, const char *b, const char *c) {
  if (err && errlen > 0) snprintf(err, errlen, "%s%s%s", a, b, c);
}

/* ---- calendar ---- */

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d) {
  int64_t era, doe, yoe, doy, mp;
  z += 719468; /* from 0000-03-01 */
  era = fdiv(z, 146097);
  doe = z - era * 146097; /* 0..146096 */
  yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  mp = (5 * doy + 2) / 153; /* March = 0 */
  *d = (int)(doy - (153 * mp + 2) / 5 + 1);
  *m = (int)(mp < 10 ? mp + 3 : mp - 9);
  *y = yoe + era * 400 + (*m <= 2);
}

/* Fill every calendar field of out from epoch + offset. */
static void breakdown(int64_t epoch, long nsec, int off, lqd_tm *out) {
  int64_t local = epoch + off, days = fdiv(local, 86400);
  int64_t secs = local - days * 86400;
  civil_from_days(days, &out->year, &out->mon, &out->mday);
  out->hour = (int)(secs / 3600);
  out->min = (int)(secs / 60 % 60);
  out->sec = (int)(secs % 60);
  out->wday = wday_of_days(days);
  out->yday = (int)(days - days_from_civil(out->year, 1, 1)) + 1;
  out->nsec = nsec;
  out->utc_offset = off;
  out->epoch = epoch;
}

/* ---- time zones ---- */

#define MAX_OFFSET (26 * 3600) /* sanity bound on any zone offset */

/* One POSIX rule date: Jn (1..365, Feb 29 never counted), n (0..365), or
** Mm.w.d; `time` is seconds after local midnight and may be negative or past
** 24h (RFC 8536 allows -167..167 hours). */
typedef struct {
  char kind;   /* 'J', 'N' or 'M' */
  int a, b, c; /* day, or month/week/weekday */
  int32_t time;
} rdate;

typedef struct {
  lqd_ttype std, dst;
  int has_dst;
  rdate start, end;
} prule;

struct lqd_zone {
  char *name;
  size_t ntrans;
  int64_t *trans;      /* ascending UTC transition times */
  unsigned char *tidx; /* type index for each transition */
  size_t ntypes;
  lqd_ttype *types;
  int has_rule; /* footer / POSIX string: used after the last transition */
  prule rule;
};

/* The built-in UTC zone: static, never written after initialisation. */
static char utc_name[] = "UTC";
static lqd_ttype utc_type = {0, 0, "UTC"};
static lqd_zone utc_zone = {
  utc_name, 0, NULL, NULL, 1, &utc_type, 0,
  { { 0, 0, "" }, { 0, 0, "" }, 0, { 0, 0, 0, 0, 0 }, { 0, 0, 0, 0, 0 } }
};

const lqd_zone *lqd_zone_utc(void) { return &utc_zone; }

const char *lqd_zone_name(const lqd_zone *z) { return z ? z->name : NULL; }

void lqd_zone_free(lqd_zone *z) {
  if (!z || z == &utc_zone) return;
  free(z->name);
  free(z->trans);
  free(z->tidx);
  free(z->types);
  free(z);
}

/* ---- POSIX TZ strings ---- */

/* std/dst name: <...> quoted or three or more letters. */
static const char *tz_name(const char *p, char *abbr) {
  const char *s, *e;
  size_t n;
  if (*p == '<') {
    s = ++p;
    while (*p && *p != '>') {
      if (!isalpha_c(*p) && !isdigit_c(*p) && *p != '+' && *p != '-') return NULL;
      p++;
    }
    if (*p != '>') return NULL;
    e = p++;
  } else {
    s = p;
    while (isalpha_c(*p)) p++;
    e = p;
  }
  n = (size_t)(e - s);
  if (n < 3) return NULL;
  if (n > 15) n = 15;
  memcpy(abbr, s, n);
  abbr[n] = '\0';
  return p;
}

/* [+-]hh[:mm[:ss]] with hh <= maxh; result in seconds (sign as written). */
static const char *tz_hms(const char *p, int maxh, int32_t *out) {
  int sign = 1, h = 0, m = 0, s = 0, n = 0;
  if (*p == '+' || *p == '-') sign = *p++ == '-' ? -1 : 1;
  while (isdigit_c(*p) && n < 3) h = h * 10 + (*p++ - '0'), n++;
  if (n == 0 || h > maxh) return NULL;
  if (*p == ':') {
    p++;
    if (!isdigit_c(p[0]) || !isdigit_c(p[1]) || (m = (p[0] - '0') * 10 + p[1] - '0') > 59)
      return NULL;
    p += 2;
    if (*p == ':') {
      p++;
      if (!isdigit_c(p[0]) || !isdigit_c(p[1]) || (s = (p[0] - '0') * 10 + p[1] - '0') > 59)
        return NULL;
      p += 2;
    }
  }
  *out = sign * (h * 3600 + m * 60 + s);
  return p;
}

static const char *tz_num(const char *p, int lo, int hi, int *out) {
  int v = 0, n = 0;
  while (isdigit_c(*p) && n < 4) v = v * 10 + (*p++ - '0'), n++;
  if (n == 0 || v < lo || v > hi) return NULL;
  *out = v;
  return p;
}

static const char *tz_rdate(const char *p, rdate *r) {
  r->a = r->b = r->c = 0;
  if (*p == 'J') {
    r->kind = 'J';
    p = tz_num(p + 1, 1, 365, &r->a);
  } else if (*p == 'M') {
    r->kind = 'M';
    if (!(p = tz_num(p + 1, 1, 12, &r->a)) || *p != '.') return NULL;
    if (!(p = tz_num(p + 1, 1, 5, &r->b)) || *p != '.') return NULL;
    p = tz_num(p + 1, 0, 6, &r->c);
  } else {
    r->kind = 'N';
    p = tz_num(p, 0, 365, &r->a);
  }
  if (!p) return NULL;
  r->time = 7200;
  if (*p == '/') p = tz_hms(p + 1, 167, &r->time);
  return p;
}

/* Parses a whole POSIX TZ string ("UTC0", "EST5EDT,M3.2.0,M11.1.0",
** "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0"). */
static int parse_posix_tz(const char *p, prule *r) {
  int32_t v;
  memset(r, 0, sizeof *r);
  if (!(p = tz_name(p, r->std.abbr)) || !(p = tz_hms(p, 24, &v))) return -1;
  r->std.off = -v; /* POSIX counts west-positive */
  if (*p == '\0') return 0;
  if (!(p = tz_name(p, r->dst.abbr))) return -1;
  r->has_dst = 1;
  r->dst.isdst = 1;
  r->dst.off = r->std.off + 3600;
  if (*p && *p != ',') {
    if (!(p = tz_hms(p, 24, &v))) return -1;
    r->dst.off = -v;
  }
  if (*p == '\0') { /* no rule: the traditional US one */
    r->start = (rdate){'M', 3, 2, 0, 7200};
    r->end = (rdate){'M', 11, 1, 0, 7200};
    return 0;
  }
  if (*p != ',' || !(p = tz_rdate(p + 1, &r->start)) || *p != ',' ||
      !(p = tz_rdate(p + 1, &r->end)) || *p != '\0')
    return -1;
  return 0;
}

/* Local seconds (since 1970, no offset applied) at which rule date r falls in year y. */
static int64_t rdate_local(const rdate *r, int64_t y) {
  int64_t days;
  if (r->kind == 'J') {
    days = days_from_civil(y, 1, 1) + r->a - 1 + (is_leap(y) && r->a >= 60);
  } else if (r->kind == 'N') {
    days = days_from_civil(y, 1, 1) + r->a;
  } else {
    int64_t first = days_from_civil(y, r->a, 1);
    int d = 1 + (r->c - wday_of_days(first) + 7) % 7 + 7 * (r->b - 1);
    while (d > month_len(y, r->a)) d -= 7;
    days = first + d - 1;
  }
  return days * 86400 + r->time;
}

static const lqd_ttype *rule_at(const prule *r, int64_t t) {
  int64_t y, ev[6], tmp;
  int dst[6], n = 0, i, j, m, d, itmp;
  const lqd_ttype *cur;
  if (!r->has_dst) return &r->std;
  civil_from_days(fdiv(t + r->std.off, 86400), &y, &m, &d);
  /* Transitions of the neighbouring years too: rule times may cross
  ** New Year, and southern zones start DST late in the year. */
  for (i = -1; i <= 1; i++) {
    ev[n] = rdate_local(&r->start, y + i) - r->std.off, dst[n++] = 1;
    ev[n] = rdate_local(&r->end, y + i) - r->dst.off, dst[n++] = 0;
  }
  for (i = 1; i < n; i++) /* insertion sort; ends before starts on ties */
    for (j = i; j > 0 && (ev[j - 1] > ev[j] || (ev[j - 1] == ev[j] && dst[j - 1] > dst[j])); j--) {
      tmp = ev[j], ev[j] = ev[j - 1], ev[j - 1] = tmp;
      itmp = dst[j], dst[j] = dst[j - 1], dst[j - 1] = itmp;
    }
  cur = dst[0] ? &r->std : &r->dst; /* state before the first event */
  for (i = 0; i < n && ev[i] <= t; i++) cur = dst[i] ? &r->dst : &r->std;
  return cur;
}

const lqd_ttype *lqd_zone_type_at(const lqd_zone *z, int64_t t) {
  size_t lo, hi;
  if (z->has_rule && (z->ntrans == 0 || t >= z->trans[z->ntrans - 1])) return rule_at(&z->rule, t);
  if (z->ntrans == 0 || t < z->trans[0])
    return &z->types[0];  /* RFC 8536: type 0 before the first transition */
  lo = 0, hi = z->ntrans; /* last transition <= t */
  while (hi - lo > 1) {
    size_t mid = lo + (hi - lo) / 2;
    if (z->trans[mid] <= t) lo = mid;
    else hi = mid;
  }
  return &z->types[z->tidx[lo]];
}

/* ---- TZif files ---- */

static uint32_t be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p) {
  return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

/* Parses a TZif image into z; returns NULL or a reason. */
static const char *parse_tzif(const unsigned char *p, size_t n, lqd_zone *z) {
  uint32_t cnt[6]; /* isutcnt isstdcnt leapcnt timecnt typecnt charcnt */
  size_t i, tsize = 4, need, off = 0;
  const unsigned char *d, *chars;
  int pass;
  for (pass = 0; pass < 2; pass++) {
    if (n - off < 44 || memcmp(p + off, "TZif", 4) != 0) return "not a TZif file";
    for (i = 0; i < 6; i++) cnt[i] = be32(p + off + 20 + 4 * i);
    if (cnt[3] > 1000000 || cnt[4] > 256 || cnt[5] > 256 || cnt[2] > 100000)
      return "bad TZif header";
    need = cnt[3] * (tsize + 1) + cnt[4] * 6 + cnt[5] + cnt[2] * (tsize + 4) + cnt[1] + cnt[0];
    if (n - off - 44 < need) return "truncated TZif file";
    if (pass == 0 && p[off + 4] >= '2') { /* skip the 32-bit data, use the 64-bit */
      off += 44 + need;
      tsize = 8;
      continue;
    }
    break;
  }
  if (cnt[4] == 0 || cnt[5] == 0 || (cnt[0] && cnt[0] != cnt[4]) || (cnt[1] && cnt[1] != cnt[4]))
    return "bad TZif header";
  if (cnt[2] != 0) /* "right/" zones count leap seconds in their times */
    return "leap-second TZif files are not supported";
  d = p + off + 44;
  z->ntrans = cnt[3];
  z->ntypes = cnt[4];
  z->trans = malloc(z->ntrans ? z->ntrans * sizeof *z->trans : 1);
  z->tidx = malloc(z->ntrans ? z->ntrans : 1);
  z->types = malloc(z->ntypes * sizeof *z->types);
  if (!z->trans || !z->tidx || !z->types) return "out of memory";
  for (i = 0; i < z->ntrans; i++) {
    z->trans[i] = tsize == 8 ? be64(d + 8 * i) : (int32_t)be32(d + 4 * i);
    if (i > 0 && z->trans[i] <= z->trans[i - 1]) return "TZif transitions out of order";
  }
  d += z->ntrans * tsize;
  for (i = 0; i < z->ntrans; i++) {
    if ((z->tidx[i] = d[i]) >= z->ntypes) return "bad TZif type index";
  }
  d += z->ntrans;
  chars = d + 6 * z->ntypes;
  for (i = 0; i < z->ntypes; i++, d += 6) {
    lqd_ttype *t = &z->types[i];
    size_t a = d[5], len = 0;
    t->off = (int32_t)be32(d);
    t->isdst = d[4] != 0;
    if (t->off <= -MAX_OFFSET || t->off >= MAX_OFFSET || a >= cnt[5]) return "bad TZif time type";
    while (a + len < cnt[5] && chars[a + len]) len++;
    if (a + len == cnt[5]) return "unterminated TZif abbreviation";
    if (len > 15) len = 15;
    memcpy(t->abbr, chars + a, len);
    t->abbr[len] = '\0';
  }
  if (tsize == 8) { /* footer: \n<POSIX TZ>\n */
    const unsigned char *f = p + off + 44 + need, *e = p + n, *nl;
    if (f < e && *f == '\n' && (nl = memchr(f + 1, '\n', (size_t)(e - f - 1))) && nl > f + 1) {
      char buf[128];
      size_t len = (size_t)(nl - f - 1);
      if (len < sizeof buf) {
        memcpy(buf, f + 1, len);
        buf[len] = '\0';
        z->has_rule = parse_posix_tz(buf, &z->rule) == 0;
      }
    }
  }
  return NULL;
}

static int valid_zone_file_name(const char *name) {
  const char *p;
  if (name[0] == '\0' || name[0] == '/' || strstr(name, "..") || strlen(name) > 255) return 0;
  for (p = name; *p; p++)
    if (!isalpha_c(*p) && !isdigit_c(*p) && !strchr("/_+-.", *p)) return 0;
  return 1;
}

/* Reads a regular file of at most 1 MiB; returns NULL if missing or unreadable. */
static unsigned char *read_small_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  unsigned char *buf;
  size_t cap = 1 << 20;
  if (!f) return NULL;
  buf = malloc(cap);
  if (buf) {
    *len = fread(buf, 1, cap, f);
    if (ferror(f) || *len == 0 || *len == cap) {
      free(buf);
      buf = NULL;
    }
  }
  fclose(f);
  return buf;
}

lqd_zone *lqd_zone_load(const char *name, char *err, size_t errlen) {
  lqd_zone *z;
  const char *file = name, *why = NULL;
  if (!name) {
    set_err(err, errlen, "no time zone name", "", "");
    return NULL;
  }
  if (strcmp(name, "UTC") == 0 || strcmp(name, "Etc/UTC") == 0) return &utc_zone;
  z = calloc(1, sizeof *z);
  if (!z || !(z->name = malloc(strlen(name) + 1))) {
    free(z);
    set_err(err, errlen, "out of memory", "", "");
    return NULL;
  }
  strcpy(z->name, name);
  if (file[0] == ':') /* POSIX "TZ=:Area/City" means a file */
    file++;
  if (valid_zone_file_name(file)) {
    const char *dir = getenv("TZDIR");
    char path[1024];
    unsigned char *data;
    size_t len = 0;
    if (!dir || !*dir) dir = "/usr/share/zoneinfo";
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, file) < sizeof path &&
        (data = read_small_file(path, &len)) != NULL) {
      why = parse_tzif(data, len, z);
      free(data);
      if (!why) return z;
      set_err(err, errlen, name, ": ", why);
      lqd_zone_free(z);
      return NULL;
    }
  }
  if (name[0] != ':' && parse_posix_tz(name, &z->rule) == 0) {
    z->has_rule = 1;
    z->ntypes = 1 + z->rule.has_dst;
    if ((z->types = malloc(2 * sizeof *z->types)) != NULL) {
      z->types[0] = z->rule.std;
      z->types[1] = z->rule.dst;
      return z;
    }
  }
  lqd_zone_free(z);
  set_err(err, errlen, "unknown time zone: ", name, "");
  return NULL;
}

/* ---- the shared cache ---- */

static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static lqd_zone *cache[LQD_ZONE_CACHE_MAX]; /* guarded by cache_mu */
static size_t cache_n;                      /* guarded by cache_mu */

const lqd_zone *lqd_zone_get(const char *name, char *err, size_t errlen) {
  lqd_zone *z = NULL;
  size_t i;
  if (name && (strcmp(name, "UTC") == 0 || strcmp(name, "Etc/UTC") == 0)) return &utc_zone;
  if (!name) return lqd_zone_load(name, err, errlen);
  pthread_mutex_lock(&cache_mu);
  for (i = 0; i < cache_n && !z; i++)
    if (strcmp(cache[i]->name, name) == 0) z = cache[i];
  if (!z) {
    if (cache_n == LQD_ZONE_CACHE_MAX)
      set_err(err, errlen, "too many time zones in use: ", name, "");
    else if ((z = lqd_zone_load(name, err, errlen)) != NULL) cache[cache_n++] = z;
  }
  pthread_mutex_unlock(&cache_mu);
  return z;
}

void lqd_zone_cache_clear(void) {
  pthread_mutex_lock(&cache_mu);
  while (cache_n > 0) lqd_zone_free(cache[--cache_n]);
  pthread_mutex_unlock(&cache_mu);
}

/* ---- epoch <-> broken-down time ---- */

int lqd_epoch_ok(int64_t epoch, long nsec) {
  return epoch >= -LQD_EPOCH_MAX && epoch <= LQD_EPOCH_MAX && nsec >= 0 && nsec <= 999999999L;
}

int lqd_localtime(const lqd_zone *z, int64_t epoch, long nsec, lqd_tm *out) {
  const lqd_ttype *t;
  if (!z || !lqd_epoch_ok(epoch, nsec)) return -1;
  t = lqd_zone_type_at(z, epoch);
  breakdown(epoch, nsec, t->off, out);
  out->isdst = t->isdst;
  out->is_utc = 0;
  memcpy(out->abbr, t->abbr, sizeof out->abbr);
  return 0;
}

int lqd_fixedtime(int64_t epoch, long nsec, int utc_offset, lqd_tm *out) {
  if (!lqd_epoch_ok(epoch, nsec) || utc_offset <= -86400 || utc_offset >= 86400) return -1;
  breakdown(epoch, nsec, utc_offset, out);
  out->isdst = 0;
  out->is_utc = 0;
  out->abbr[0] = '\0';
  return 0;
}

int lqd_utctime(int64_t epoch, long nsec, lqd_tm *out) {
  if (!lqd_epoch_ok(epoch, nsec)) return -1;
  breakdown(epoch, nsec, 0, out);
  out->isdst = 0;
  out->is_utc = 1;
  strcpy(out->abbr, "UTC");
  return 0;
}

int lqd_zone_off(const lqd_zone *z, int64_t t) { return lqd_zone_type_at(z, t)->off; }

/* Wall-clock seconds L (epoch-like, offset not applied) in zone z -> epoch. */
int64_t lqd_wall_to_epoch(const lqd_zone *z, int64_t L) {
  int found = 0, a, b;
  int32_t best = 0;
  size_t i, n = z->ntypes + 2 * (size_t)z->has_rule;
  /* Every offset the zone ever uses is a candidate; keep those that are in
  ** force at the instant they imply, and take the later instant (Ruby's
  ** choice in a fall-back overlap). */
  for (i = 0; i < n; i++) {
    int32_t o =
        i < z->ntypes ? z->types[i].off : (i == z->ntypes ? z->rule.std.off : z->rule.dst.off);
    if (lqd_zone_off(z, L - o) == o && (!found || o < best)) best = o, found = 1;
  }
  if (found) return L - best;
  /* In a spring-forward gap: use the offset from before the gap, which is
  ** the smaller of the two offsets around it. */
  a = lqd_zone_off(z, L - lqd_zone_off(z, L));
  b = lqd_zone_off(z, L - a);
  return L - (a < b ? a : b);
}

static int civil_ok(int64_t year, int mon, int mday, int hour, int min, int sec) {
  return year >= -1000000000 && year <= 1000000000 && mon >= 1 && mon <= 12 && mday >= 1 &&
      mday <= 31 && hour >= 0 && hour <= 24 && min >= 0 && min <= 59 && sec >= 0 && sec <= 60 &&
      (hour < 24 || (min == 0 && sec == 0));
}

/* Wall-clock seconds; days past the month's end roll over, as in Ruby. */
int64_t lqd_civil_secs(int64_t year, int mon, int mday, int hour, int min, int sec) {
  return (days_from_civil(year, mon, 1) + mday - 1) * 86400 + hour * 3600 + min * 60 + sec;
}

int lqd_mktime(const lqd_zone *z, int64_t year, int mon, int mday, int hour, int min, int sec,
               int64_t *epoch_out) {
  if (!z || !civil_ok(year, mon, mday, hour, min, sec)) return -1;
  *epoch_out = lqd_wall_to_epoch(z, lqd_civil_secs(year, mon, mday, hour, min, sec));
  return 0;
}
