/*
 * liquid_date.c -- time zones, Ruby strftime and Ruby Time.parse in pure C99.
 * See liquid_date.h for the API.  Behaviour was checked against Ruby 3.1.
 */
#include "liquid_date.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOPE ((size_t)-1)

static void set_err(char *err, size_t errlen, const char *fmt, const char *arg)
{
    if (err && errlen > 0)
        snprintf(err, errlen, fmt, arg);
}

/* ======================================================================= */
/* Calendar arithmetic (proleptic Gregorian, any int64 year in range)      */
/* ======================================================================= */

static int64_t fdiv(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

static int64_t fmod64(int64_t a, int64_t b) { return a - fdiv(a, b) * b; }

static int is_leap(int64_t y)
{
    return fmod64(y, 4) == 0 && (fmod64(y, 100) != 0 || fmod64(y, 400) == 0);
}

static int month_len(int64_t y, int m)
{
    static const int len[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : len[m - 1];
}

/* Days from 1970-01-01 to y-m-d.  Years are counted from March so that the
 * leap day falls last; 400 Gregorian years are exactly 146097 days. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    int64_t era, yoe, doy;
    if (m <= 2)
        y--;
    era = fdiv(y, 400);
    yoe = y - era * 400;                                   /* 0..399 */
    doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;          /* 0..365 */
    return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    int64_t era, doe, yoe, doy, mp;
    z += 719468;                                           /* from 0000-03-01 */
    era = fdiv(z, 146097);
    doe = z - era * 146097;                                /* 0..146096 */
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;                              /* March = 0 */
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int wday_of_days(int64_t days) { return (int)fmod64(days + 4, 7); }

/* Fill every calendar field of out from epoch + offset. */
static void breakdown(int64_t epoch, long nsec, int off, lqd_tm *out)
{
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

/* ======================================================================= */
/* Time zones                                                              */
/* ======================================================================= */

#define MAX_OFFSET (26 * 3600)   /* sanity bound on any zone offset */

typedef struct {
    int32_t off;
    int isdst;
    char abbr[16];
} ttype;

/* One POSIX rule date: Jn (1..365, Feb 29 never counted), n (0..365), or
 * Mm.w.d; `time` is seconds after local midnight and may be negative or past
 * 24h (RFC 8536 allows -167..167 hours). */
typedef struct {
    char kind;   /* 'J', 'N' or 'M' */
    int a, b, c; /* day, or month/week/weekday */
    int32_t time;
} rdate;

typedef struct {
    ttype std, dst;
    int has_dst;
    rdate start, end;
} prule;

struct lqd_zone {
    char *name;
    size_t ntrans;
    int64_t *trans;        /* ascending UTC transition times */
    unsigned char *tidx;   /* type index for each transition */
    size_t ntypes;
    ttype *types;
    int has_rule;          /* footer / POSIX string: used after the last transition */
    prule rule;
};

/* The built-in UTC zone: static, never written after initialisation. */
static char utc_name[] = "UTC";
static ttype utc_type = {0, 0, "UTC"};
static lqd_zone utc_zone = {utc_name, 0, NULL, NULL, 1, &utc_type, 0,
                            {{0, 0, ""}, {0, 0, ""}, 0, {0, 0, 0, 0, 0}, {0, 0, 0, 0, 0}}};

const lqd_zone *lqd_zone_utc(void) { return &utc_zone; }

const char *lqd_zone_name(const lqd_zone *z) { return z ? z->name : NULL; }

void lqd_zone_free(lqd_zone *z)
{
    if (!z || z == &utc_zone)
        return;
    free(z->name);
    free(z->trans);
    free(z->tidx);
    free(z->types);
    free(z);
}

/* ---- POSIX TZ strings ----------------------------------------------------- */

static int isalpha_c(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int isdigit_c(int c) { return c >= '0' && c <= '9'; }

/* std/dst name: <...> quoted or three or more letters. */
static const char *tz_name(const char *p, char *abbr)
{
    const char *s, *e;
    size_t n;
    if (*p == '<') {
        s = ++p;
        while (*p && *p != '>') {
            if (!isalpha_c(*p) && !isdigit_c(*p) && *p != '+' && *p != '-')
                return NULL;
            p++;
        }
        if (*p != '>')
            return NULL;
        e = p++;
    } else {
        s = p;
        while (isalpha_c(*p))
            p++;
        e = p;
    }
    n = (size_t)(e - s);
    if (n < 3)
        return NULL;
    if (n > 15)
        n = 15;
    memcpy(abbr, s, n);
    abbr[n] = '\0';
    return p;
}

/* [+-]hh[:mm[:ss]] with hh <= maxh; result in seconds (sign as written). */
static const char *tz_hms(const char *p, int maxh, int32_t *out)
{
    int sign = 1, h = 0, m = 0, s = 0, n = 0;
    if (*p == '+' || *p == '-')
        sign = *p++ == '-' ? -1 : 1;
    while (isdigit_c(*p) && n < 3)
        h = h * 10 + (*p++ - '0'), n++;
    if (n == 0 || h > maxh)
        return NULL;
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

static const char *tz_num(const char *p, int lo, int hi, int *out)
{
    int v = 0, n = 0;
    while (isdigit_c(*p) && n < 4)
        v = v * 10 + (*p++ - '0'), n++;
    if (n == 0 || v < lo || v > hi)
        return NULL;
    *out = v;
    return p;
}

static const char *tz_rdate(const char *p, rdate *r)
{
    r->a = r->b = r->c = 0;
    if (*p == 'J') {
        r->kind = 'J';
        p = tz_num(p + 1, 1, 365, &r->a);
    } else if (*p == 'M') {
        r->kind = 'M';
        if (!(p = tz_num(p + 1, 1, 12, &r->a)) || *p != '.')
            return NULL;
        if (!(p = tz_num(p + 1, 1, 5, &r->b)) || *p != '.')
            return NULL;
        p = tz_num(p + 1, 0, 6, &r->c);
    } else {
        r->kind = 'N';
        p = tz_num(p, 0, 365, &r->a);
    }
    if (!p)
        return NULL;
    r->time = 7200;
    if (*p == '/')
        p = tz_hms(p + 1, 167, &r->time);
    return p;
}

/* Parses a whole POSIX TZ string ("UTC0", "EST5EDT,M3.2.0,M11.1.0",
 * "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0"). */
static int parse_posix_tz(const char *p, prule *r)
{
    int32_t v;
    memset(r, 0, sizeof *r);
    if (!(p = tz_name(p, r->std.abbr)) || !(p = tz_hms(p, 24, &v)))
        return -1;
    r->std.off = -v;                 /* POSIX counts west-positive */
    if (*p == '\0')
        return 0;
    if (!(p = tz_name(p, r->dst.abbr)))
        return -1;
    r->has_dst = 1;
    r->dst.isdst = 1;
    r->dst.off = r->std.off + 3600;
    if (*p && *p != ',') {
        if (!(p = tz_hms(p, 24, &v)))
            return -1;
        r->dst.off = -v;
    }
    if (*p == '\0') {                /* no rule: the traditional US one */
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
static int64_t rdate_local(const rdate *r, int64_t y)
{
    int64_t days;
    if (r->kind == 'J') {
        days = days_from_civil(y, 1, 1) + r->a - 1 + (is_leap(y) && r->a >= 60);
    } else if (r->kind == 'N') {
        days = days_from_civil(y, 1, 1) + r->a;
    } else {
        int64_t first = days_from_civil(y, r->a, 1);
        int d = 1 + (r->c - wday_of_days(first) + 7) % 7 + 7 * (r->b - 1);
        while (d > month_len(y, r->a))
            d -= 7;
        days = first + d - 1;
    }
    return days * 86400 + r->time;
}

static const ttype *rule_at(const prule *r, int64_t t)
{
    int64_t y, ev[6], tmp;
    int dst[6], n = 0, i, j, m, d, itmp;
    const ttype *cur;
    if (!r->has_dst)
        return &r->std;
    civil_from_days(fdiv(t + r->std.off, 86400), &y, &m, &d);
    /* Transitions of the neighbouring years too: rule times may cross
     * New Year, and southern zones start DST late in the year. */
    for (i = -1; i <= 1; i++) {
        ev[n] = rdate_local(&r->start, y + i) - r->std.off, dst[n++] = 1;
        ev[n] = rdate_local(&r->end, y + i) - r->dst.off, dst[n++] = 0;
    }
    for (i = 1; i < n; i++)         /* insertion sort; ends before starts on ties */
        for (j = i; j > 0 && (ev[j - 1] > ev[j] || (ev[j - 1] == ev[j] && dst[j - 1] > dst[j])); j--) {
            tmp = ev[j], ev[j] = ev[j - 1], ev[j - 1] = tmp;
            itmp = dst[j], dst[j] = dst[j - 1], dst[j - 1] = itmp;
        }
    cur = dst[0] ? &r->std : &r->dst;   /* state before the first event */
    for (i = 0; i < n && ev[i] <= t; i++)
        cur = dst[i] ? &r->dst : &r->std;
    return cur;
}

static const ttype *zone_type_at(const lqd_zone *z, int64_t t)
{
    size_t lo, hi;
    if (z->has_rule && (z->ntrans == 0 || t >= z->trans[z->ntrans - 1]))
        return rule_at(&z->rule, t);
    if (z->ntrans == 0 || t < z->trans[0])
        return &z->types[0];         /* RFC 8536: type 0 before the first transition */
    lo = 0, hi = z->ntrans;          /* last transition <= t */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (z->trans[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    return &z->types[z->tidx[lo]];
}

/* ---- TZif files ----------------------------------------------------------- */

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

/* Parses a TZif image into z; returns NULL or a reason. */
static const char *parse_tzif(const unsigned char *p, size_t n, lqd_zone *z)
{
    uint32_t cnt[6];   /* isutcnt isstdcnt leapcnt timecnt typecnt charcnt */
    size_t i, tsize = 4, need, off = 0;
    const unsigned char *d, *chars;
    int pass;
    for (pass = 0; pass < 2; pass++) {
        if (n - off < 44 || memcmp(p + off, "TZif", 4) != 0)
            return "not a TZif file";
        for (i = 0; i < 6; i++)
            cnt[i] = be32(p + off + 20 + 4 * i);
        if (cnt[4] == 0 || cnt[4] > 256 || cnt[5] == 0 || cnt[3] > 1000000 ||
            cnt[2] > 100000 || (cnt[0] && cnt[0] != cnt[4]) || (cnt[1] && cnt[1] != cnt[4]))
            return "bad TZif header";
        need = cnt[3] * (tsize + 1) + cnt[4] * 6 + cnt[5] + cnt[2] * (tsize + 4) + cnt[1] + cnt[0];
        if (n - off - 44 < need)
            return "truncated TZif file";
        if (pass == 0 && p[off + 4] >= '2') {   /* skip the 32-bit data, use the 64-bit */
            off += 44 + need;
            tsize = 8;
            continue;
        }
        break;
    }
    d = p + off + 44;
    z->ntrans = cnt[3];
    z->ntypes = cnt[4];
    z->trans = malloc(z->ntrans ? z->ntrans * sizeof *z->trans : 1);
    z->tidx = malloc(z->ntrans ? z->ntrans : 1);
    z->types = malloc(z->ntypes * sizeof *z->types);
    if (!z->trans || !z->tidx || !z->types)
        return "out of memory";
    for (i = 0; i < z->ntrans; i++) {
        z->trans[i] = tsize == 8 ? be64(d + 8 * i) : (int32_t)be32(d + 4 * i);
        if (i > 0 && z->trans[i] <= z->trans[i - 1])
            return "TZif transitions out of order";
    }
    d += z->ntrans * tsize;
    for (i = 0; i < z->ntrans; i++) {
        if ((z->tidx[i] = d[i]) >= z->ntypes)
            return "bad TZif type index";
    }
    d += z->ntrans;
    chars = d + 6 * z->ntypes;
    for (i = 0; i < z->ntypes; i++, d += 6) {
        ttype *t = &z->types[i];
        size_t a = d[5], len = 0;
        t->off = (int32_t)be32(d);
        t->isdst = d[4] != 0;
        if (t->off <= -MAX_OFFSET || t->off >= MAX_OFFSET || a >= cnt[5])
            return "bad TZif time type";
        while (a + len < cnt[5] && chars[a + len])
            len++;
        if (a + len == cnt[5])
            return "unterminated TZif abbreviation";
        if (len > 15)
            len = 15;
        memcpy(t->abbr, chars + a, len);
        t->abbr[len] = '\0';
    }
    if (tsize == 8) {                   /* footer: \n<POSIX TZ>\n */
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

static int valid_zone_file_name(const char *name)
{
    const char *p;
    if (name[0] == '\0' || name[0] == '/' || strstr(name, "..") || strlen(name) > 255)
        return 0;
    for (p = name; *p; p++)
        if (!isalpha_c(*p) && !isdigit_c(*p) && !strchr("/_+-.", *p))
            return 0;
    return 1;
}

/* Reads a regular file of at most 1 MiB; returns NULL if missing or unreadable. */
static unsigned char *read_small_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf;
    size_t cap = 1 << 20;
    if (!f)
        return NULL;
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

lqd_zone *lqd_zone_load(const char *name, char *err, size_t errlen)
{
    lqd_zone *z;
    const char *file = name, *why = NULL;
    if (!name) {
        set_err(err, errlen, "%s", "no time zone name");
        return NULL;
    }
    if (strcmp(name, "UTC") == 0 || strcmp(name, "Etc/UTC") == 0)
        return &utc_zone;
    z = calloc(1, sizeof *z);
    if (!z || !(z->name = malloc(strlen(name) + 1))) {
        free(z);
        set_err(err, errlen, "%s", "out of memory");
        return NULL;
    }
    strcpy(z->name, name);
    if (file[0] == ':')              /* POSIX "TZ=:Area/City" means a file */
        file++;
    if (valid_zone_file_name(file)) {
        const char *dir = getenv("TZDIR");
        char path[1024];
        unsigned char *data;
        size_t len = 0;
        if (!dir || !*dir)
            dir = "/usr/share/zoneinfo";
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, file) < sizeof path &&
            (data = read_small_file(path, &len)) != NULL) {
            why = parse_tzif(data, len, z);
            free(data);
            if (!why)
                return z;
            set_err(err, errlen, "time zone '%s': ", name);
            if (err && errlen > strlen(err))
                snprintf(err + strlen(err), errlen - strlen(err), "%s", why);
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
    set_err(err, errlen, "unknown time zone '%s'", name);
    return NULL;
}

/* ---- the shared cache ------------------------------------------------------ */

static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static lqd_zone *cache[LQD_ZONE_CACHE_MAX];   /* guarded by cache_mu */
static size_t cache_n;                        /* guarded by cache_mu */

const lqd_zone *lqd_zone_get(const char *name, char *err, size_t errlen)
{
    lqd_zone *z = NULL;
    size_t i;
    if (name && (strcmp(name, "UTC") == 0 || strcmp(name, "Etc/UTC") == 0))
        return &utc_zone;
    if (!name)
        return lqd_zone_load(name, err, errlen);
    pthread_mutex_lock(&cache_mu);
    for (i = 0; i < cache_n && !z; i++)
        if (strcmp(cache[i]->name, name) == 0)
            z = cache[i];
    if (!z) {
        if (cache_n == LQD_ZONE_CACHE_MAX)
            set_err(err, errlen, "too many time zones in use (%s)", name);
        else if ((z = lqd_zone_load(name, err, errlen)) != NULL)
            cache[cache_n++] = z;
    }
    pthread_mutex_unlock(&cache_mu);
    return z;
}

void lqd_zone_cache_clear(void)
{
    pthread_mutex_lock(&cache_mu);
    while (cache_n > 0)
        lqd_zone_free(cache[--cache_n]);
    pthread_mutex_unlock(&cache_mu);
}

/* ======================================================================= */
/* epoch <-> broken-down time                                              */
/* ======================================================================= */

static int epoch_ok(int64_t epoch, long nsec)
{
    return epoch >= -LQD_EPOCH_MAX && epoch <= LQD_EPOCH_MAX && nsec >= 0 && nsec <= 999999999L;
}

int lqd_localtime(const lqd_zone *z, int64_t epoch, long nsec, lqd_tm *out)
{
    const ttype *t;
    if (!z || !epoch_ok(epoch, nsec))
        return -1;
    t = zone_type_at(z, epoch);
    breakdown(epoch, nsec, t->off, out);
    out->isdst = t->isdst;
    out->is_utc = 0;
    memcpy(out->abbr, t->abbr, sizeof out->abbr);
    return 0;
}

int lqd_fixedtime(int64_t epoch, long nsec, int utc_offset, lqd_tm *out)
{
    if (!epoch_ok(epoch, nsec) || utc_offset <= -86400 || utc_offset >= 86400)
        return -1;
    breakdown(epoch, nsec, utc_offset, out);
    out->isdst = 0;
    out->is_utc = 0;
    out->abbr[0] = '\0';
    return 0;
}

int lqd_utctime(int64_t epoch, long nsec, lqd_tm *out)
{
    if (!epoch_ok(epoch, nsec))
        return -1;
    breakdown(epoch, nsec, 0, out);
    out->isdst = 0;
    out->is_utc = 1;
    strcpy(out->abbr, "UTC");
    return 0;
}

static int zone_off(const lqd_zone *z, int64_t t) { return zone_type_at(z, t)->off; }

/* Wall-clock seconds L (epoch-like, offset not applied) in zone z -> epoch. */
static int64_t wall_to_epoch(const lqd_zone *z, int64_t L)
{
    int found = 0, a, b;
    int32_t best = 0;
    size_t i, n = z->ntypes + 2 * (size_t)z->has_rule;
    /* Every offset the zone ever uses is a candidate; keep those that are in
     * force at the instant they imply, and take the later instant (Ruby's
     * choice in a fall-back overlap). */
    for (i = 0; i < n; i++) {
        int32_t o = i < z->ntypes ? z->types[i].off
                    : (i == z->ntypes ? z->rule.std.off : z->rule.dst.off);
        if (zone_off(z, L - o) == o && (!found || o < best))
            best = o, found = 1;
    }
    if (found)
        return L - best;
    /* In a spring-forward gap: use the offset from before the gap, which is
     * the smaller of the two offsets around it. */
    a = zone_off(z, L - zone_off(z, L));
    b = zone_off(z, L - a);
    return L - (a < b ? a : b);
}

static int civil_ok(int64_t year, int mon, int mday, int hour, int min, int sec)
{
    return year >= -1000000000 && year <= 1000000000 && mon >= 1 && mon <= 12 &&
           mday >= 1 && mday <= 31 && hour >= 0 && hour <= 24 && min >= 0 && min <= 59 &&
           sec >= 0 && sec <= 60 && (hour < 24 || (min == 0 && sec == 0));
}

/* Wall-clock seconds; days past the month's end roll over, as in Ruby. */
static int64_t civil_secs(int64_t year, int mon, int mday, int hour, int min, int sec)
{
    return (days_from_civil(year, mon, 1) + mday - 1) * 86400 + hour * 3600 + min * 60 + sec;
}

int lqd_mktime(const lqd_zone *z, int64_t year, int mon, int mday, int hour, int min,
               int sec, int64_t *epoch_out)
{
    if (!z || !civil_ok(year, mon, mday, hour, min, sec))
        return -1;
    *epoch_out = wall_to_epoch(z, civil_secs(year, mon, mday, hour, min, sec));
    return 0;
}

/* ======================================================================= */
/* strftime (Ruby 3.1 Time#strftime)                                       */
/* ======================================================================= */

typedef struct {
    char *p;
    size_t room;   /* bytes we may write (cap - 1) */
    size_t len;    /* bytes the full result needs */
} obuf;

static void out_bytes(obuf *o, const char *s, size_t n)
{
    if (o->len < o->room)
        memcpy(o->p + o->len, s, n < o->room - o->len ? n : o->room - o->len);
    o->len = o->len + n < o->len ? SIZE_MAX - 1 : o->len + n;
}

static void out_fill(obuf *o, char c, size_t n)
{
    char buf[64];
    memset(buf, c, sizeof buf);
    while (n > 0) {
        size_t k = n < sizeof buf ? n : sizeof buf;
        out_bytes(o, buf, k);
        n -= k;
    }
}

enum { CASE_KEEP, CASE_UPPER, CASE_LOWER };

static void out_case(obuf *o, const char *s, size_t n, int cmode)
{
    size_t i;
    for (i = 0; i < n; i++) {
        char c = s[i];
        if (cmode == CASE_UPPER && c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        else if (cmode == CASE_LOWER && c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        out_bytes(o, &c, 1);
    }
}

/* One directive's flags: '-' no padding, '_' spaces, '0' zeros, '^' upcase,
 * '#' change case, width, and the colons of %:z. */
typedef struct {
    int left, upper, swap, width, colons;
    char pad;   /* 0 = the conversion's default */
} spec;

/* Text: padded with spaces (zeros with '0') unless '-'.  Composite
 * conversions such as %c pad even with '-', as Ruby does. */
static void out_text(obuf *o, const spec *sp, const char *s, size_t n, int cmode, int always_pad)
{
    if ((always_pad || !sp->left) && sp->width > 0 && (size_t)sp->width > n)
        out_fill(o, sp->pad == '0' ? '0' : ' ', (size_t)sp->width - n);
    out_case(o, s, n, cmode);
}

/* Numbers: the width counts the sign; zero padding goes after the sign. */
static void out_num(obuf *o, const spec *sp, int64_t v, int defw, char defpad)
{
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
    if (pad != '0' && w > body)
        out_fill(o, ' ', w - body);
    if (v < 0)
        out_bytes(o, "-", 1);
    if (pad == '0' && w > body)
        out_fill(o, '0', w - body);
    out_bytes(o, dig + sizeof dig - nd, nd);
}

/* %z family.  The width applies to the "+hh" part; '_' pads it with spaces
 * and drops the hour's leading zero; a UTC time with '-' prints "-0000". */
static void out_offset(obuf *o, const spec *sp, const lqd_tm *tm)
{
    int off = tm->utc_offset, colons = sp->colons;
    int neg = off < 0 || (off == 0 && tm->is_utc && sp->left);
    unsigned a = (unsigned)(off < 0 ? -off : off), h = a / 3600, m = a / 60 % 60, s = a % 60;
    char tail[8], hd[8];
    size_t tl, hl, hw = 3;
    if (colons == 3)            /* %:::z: as short as the offset allows */
        colons = s ? 2 : m ? 1 : 3;
    if (colons == 0)
        tl = (size_t)snprintf(tail, sizeof tail, "%02u", m);
    else if (colons == 1)
        tl = (size_t)snprintf(tail, sizeof tail, ":%02u", m);
    else if (colons == 2)
        tl = (size_t)snprintf(tail, sizeof tail, ":%02u:%02u", m, s);
    else
        tl = 0;
    if (sp->width > 0 && (size_t)sp->width > tl + 3)
        hw = (size_t)sp->width - tl;
    hl = (size_t)snprintf(hd, sizeof hd, "%u", h);
    if (sp->pad == ' ') {
        if (hw > hl + 1)
            out_fill(o, ' ', hw - hl - 1);
        out_bytes(o, neg ? "-" : "+", 1);
    } else {
        out_bytes(o, neg ? "-" : "+", 1);
        if (hw > hl + 1)
            out_fill(o, '0', hw - hl - 1);
    }
    out_bytes(o, hd, hl);
    out_bytes(o, tail, tl);
}

/* %L / %N: the width is the number of digits, truncated (not rounded). */
static void out_frac(obuf *o, const spec *sp, long nsec, int defdigits)
{
    char d[16];
    size_t n = (size_t)(sp->width > 0 ? sp->width : defdigits);
    snprintf(d, sizeof d, "%09ld", nsec);
    out_bytes(o, d, n < 9 ? n : 9);
    if (n > 9)
        out_fill(o, '0', n - 9);
}

static int iso_weeks_in_year(int64_t y)
{
    int jan1 = wday_of_days(days_from_civil(y, 1, 1));
    return jan1 == 4 || (jan1 == 3 && is_leap(y)) ? 53 : 52;
}

static int iso_week(const lqd_tm *tm, int64_t *gyear)
{
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

static const char *const day_names[7] = {"Sunday", "Monday", "Tuesday", "Wednesday",
                                         "Thursday", "Friday", "Saturday"};
static const char *const month_names[12] = {"January", "February", "March", "April",
                                            "May", "June", "July", "August", "September",
                                            "October", "November", "December"};

static int fmt_run(obuf *o, const char *f, size_t n, const lqd_tm *tm);

/* Composite conversions (%c, %F, ...) are formatted whole, then padded and
 * upcased as one piece. */
static void out_composite(obuf *o, const spec *sp, const char *sub, const lqd_tm *tm)
{
    char buf[128];
    obuf t;
    t.p = buf, t.room = sizeof buf - 1, t.len = 0;
    fmt_run(&t, sub, strlen(sub), tm);
    out_text(o, sp, buf, t.len < t.room ? t.len : t.room, sp->upper ? CASE_UPPER : CASE_KEEP, 1);
}

/* Returns 0, or -1 when the format ends inside a directive. */
static int fmt_run(obuf *o, const char *f, size_t n, const lqd_tm *tm)
{
    size_t i = 0;
    while (i < n) {
        size_t start, j;
        spec sp = {0, 0, 0, -1, 0, 0};
        int64_t gy;
        int cm;
        const char *txt;
        if (f[i] != '%') {
            for (j = i; j < n && f[j] != '%'; j++)
                ;
            out_bytes(o, f + i, j - i);
            i = j;
            continue;
        }
        start = i++;
        for (;; i++) {
            if (i >= n)
                return -1;
            if (f[i] == '-')
                sp.left = 1, sp.pad = 0;
            else if (f[i] == '_' || f[i] == '0')
                sp.pad = f[i] == '_' ? ' ' : '0';
            else if (f[i] == '^')
                sp.upper = 1;
            else if (f[i] == '#')
                sp.swap = 1;
            else
                break;
        }
        if (isdigit_c(f[i])) {
            uint64_t w = 0;
            while (i < n && isdigit_c(f[i])) {
                if (w <= INT_MAX)
                    w = w * 10 + (uint64_t)(f[i] - '0');
                i++;
            }
            if (i >= n)
                return -1;
            if (w > INT_MAX) {          /* Ruby gives up on such widths: literal */
                out_bytes(o, f + start, i + 1 - start);
                i++;
                continue;
            }
            sp.width = w > LQD_STRFTIME_MAXWIDTH ? LQD_STRFTIME_MAXWIDTH : (int)w;
        }
        if (f[i] == ':') {
            for (j = i; j < n && f[j] == ':'; j++)
                ;
            if (j - i > 3 || j >= n || f[j] != 'z') {
                out_bytes(o, f + start, i + 1 - start);   /* "%:" stays literal */
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
        case 'Z':
            cm = sp.swap ? CASE_LOWER : sp.upper ? CASE_UPPER : CASE_KEEP;
            out_text(o, &sp, tm->abbr, strlen(tm->abbr), cm, 0);
            break;
        case 'A': case 'a': case 'B': case 'b': case 'h':
            txt = f[i - 1] == 'A' || f[i - 1] == 'a' ? day_names[tm->wday] : month_names[tm->mon - 1];
            out_text(o, &sp, txt, f[i - 1] == 'A' || f[i - 1] == 'B' ? strlen(txt) : 3,
                     sp.upper || sp.swap ? CASE_UPPER : CASE_KEEP, 0);
            break;
        case 'p':   /* '#' turns "PM" into "pm" but "pm" (%P) into "PM" */
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
        case 'D': case 'x': out_composite(o, &sp, "%m/%d/%y", tm); break;
        case 'F': out_composite(o, &sp, "%Y-%m-%d", tm); break;
        case 'T': case 'X': out_composite(o, &sp, "%H:%M:%S", tm); break;
        case 'R': out_composite(o, &sp, "%H:%M", tm); break;
        case 'r': out_composite(o, &sp, "%I:%M:%S %p", tm); break;
        case 'v': out_composite(o, &sp, "%e-%^b-%4Y", tm); break;
        default:    /* unknown (including Ruby's unsupported %+): copied as is */
            out_bytes(o, f + start, i - start);
            break;
        }
    }
    return 0;
}

size_t lqd_strftime(char *out, size_t cap, const char *fmt, size_t fmtlen, const lqd_tm *tm)
{
    obuf o;
    o.p = out, o.room = cap ? cap - 1 : 0, o.len = 0;
    if (fmt_run(&o, fmt, fmtlen, tm) != 0) {
        if (cap)
            out[0] = '\0';
        return LQD_STRFTIME_INVALID;
    }
    if (cap)
        out[o.len < o.room ? o.len : o.room] = '\0';
    return o.len;
}
