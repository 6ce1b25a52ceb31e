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

static void set_err(char *err, size_t errlen, const char *a, const char *b, const char *c)
{
    if (err && errlen > 0)
        snprintf(err, errlen, "%s%s%s", a, b, c);
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
        if (cnt[3] > 1000000 || cnt[4] > 256 || cnt[5] > 256 || cnt[2] > 100000)
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
    if (cnt[4] == 0 || cnt[5] == 0 || (cnt[0] && cnt[0] != cnt[4]) || (cnt[1] && cnt[1] != cnt[4]))
        return "bad TZif header";
    if (cnt[2] != 0)    /* "right/" zones count leap seconds in their times */
        return "leap-second TZif files are not supported";
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
        set_err(err, errlen, "no time zone name", "", "");
        return NULL;
    }
    if (strcmp(name, "UTC") == 0 || strcmp(name, "Etc/UTC") == 0)
        return &utc_zone;
    z = calloc(1, sizeof *z);
    if (!z || !(z->name = malloc(strlen(name) + 1))) {
        free(z);
        set_err(err, errlen, "out of memory", "", "");
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
            set_err(err, errlen, "too many time zones in use: ", name, "");
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
/*
 * A directive is '%' flags* width? then either ':'..':::' 'z' or an optional
 * E/O modifier and a conversion.  Whatever does not fit -- an unknown
 * conversion ("%Q", and "%+", which only Ruby's Date knows), a flag after the
 * width ("%10-d"), E/O before a conversion they do not modify ("%Ez") -- is
 * copied as literal text, as Ruby does.  A format that ends inside a
 * directive ("%", "%-", "%10") is invalid, where Ruby raises.
 */

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
        case 'Z':   /* a bare offset has no name; Ruby then pads nothing either */
            if (!tm->abbr[0])
                break;
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
    if (!fmt || !tm || tm->mon < 1 || tm->mon > 12 || tm->wday < 0 || tm->wday > 6 ||
        tm->nsec < 0 || tm->nsec > 999999999L || fmt_run(&o, fmt, fmtlen, tm) != 0) {
        if (cap)
            out[0] = '\0';
        return LQD_STRFTIME_INVALID;
    }
    if (cap)
        out[o.len < o.room ? o.len : o.room] = '\0';
    return o.len;
}

/* ======================================================================= */
/* Parsing: Ruby's Date._parse + Time.parse                                */
/* ======================================================================= */
/*
 * Accepted input is whatever Ruby's lenient parser accepts, reproduced by the
 * same strategy: the string (at most 128 bytes) is lower-cased, every run of
 * characters other than letters, digits and - + ' , . / : @ [ ] becomes one
 * space, and then recognisers run in a fixed order.  Each finds its leftmost
 * match, records fields and replaces the matched text by one space, so later
 * recognisers do not see it again.
 *
 *   1. weekday names ("fri", "friday,") -- removed, otherwise ignored;
 *   2. a time: "10:30", "10:30:15.123", "10h30m15s", "10 pm", "10:30 a.m.",
 *      optionally followed by a zone: "z", "utc", "gmt+2", "-04:00", "+0530",
 *      "pdt", "eastern standard time";
 *   3. the first date form that matches, tried in this order:
 *      "14 march 2016" / "14th mar, 16" (day month [year], also with
 *      "bc"/"ad"), "march 14, 2016" / "mar 14 2016", "2016-03-14",
 *      Japanese era "h28.03.14", "14-mar-2016" / "mar-14-2016",
 *      "2016/03/14" / "14/03/2016" / "03/14" (month/day), "2016.03.14",
 *      ISO week and ordinal dates ("2016-w11-1", "--03-14", "2016-074"),
 *      "'16" (year), a lone month name, "14th", and digit runs
 *      ("20160314", "20160314t103000z", "160314", "074" = day of year, ...);
 *   4. a trailing "bc", and a lone 1-2 digit number completing a day or hour.
 *
 * Three numbers with separators are year/month/day unless the last one has
 * more than two digits (then day/month/year): "14/03/2016" is 14 March, and
 * "03/14/2016" is an error (month 14), exactly as in Ruby.  Two-digit years
 * become 1969..2068.
 *
 * Time.parse then fills what is missing from `now` (in the stated offset, or
 * the local zone): the leading missing fields (year, then month, day, ...)
 * come from now, the ones after the first given field default to their
 * minimum, so "10:00" is today at 10:00 and "March 14" is March 14 of this
 * year, 00:00.  Ranges follow Ruby: month 1..12, day 1..31 (Feb 30 rolls to
 * Mar 1), hour 0..24, minute 0..59, second 0..60.  Zone names known for the
 * offset: UTC/UT/Z/GMT, EST/EDT/CST/CDT/MST/MDT/PST/PDT, military letters,
 * numeric offsets (+hh, +hhmm, +hh:mm[:ss]) and the local zone's own
 * abbreviations; other zone words are ignored (local time).
 *
 * Not reproduced: Unicode letters are approximated as "any byte >= 0x80";
 * years beyond +-1e9 are rejected.
 */

enum {
    H_YEAR = 1 << 0, H_MON = 1 << 1, H_MDAY = 1 << 2, H_HOUR = 1 << 3, H_MIN = 1 << 4,
    H_SEC = 1 << 5, H_FRAC = 1 << 6, H_YDAY = 1 << 7, H_ZONE = 1 << 8, H_BC = 1 << 9,
    H_NOCOMP = 1 << 10, H_BAD = 1 << 11
};

/* Digit strings saturate at BIG but keep their value modulo 86400, so that
 * a huge field still carries through an offset the way Ruby's bignums do. */
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
    const char *p;   /* NULL = absent */
    size_t n;
} slice;

static const slice NIL = {NULL, 0};

static int pdig(int c) { return c >= '0' && c <= '9'; }
static int palpha(int c) { return isalpha_c(c) || (unsigned char)c >= 0x80; }
static int pword(int c) { return pdig(c) || palpha(c) || c == '_'; }

static int wb(const pstr *b, size_t i)    /* \b before position i */
{
    int l = i > 0 && i - 1 < b->n && pword(b->s[i - 1]);
    int r = i < b->n && pword(b->s[i]);
    return l != r;
}

static size_t ndig(const pstr *b, size_t i)
{
    size_t j = i;
    while (j < b->n && pdig(b->s[j]))
        j++;
    return j - i;
}

static size_t skipsp(const pstr *b, size_t i)
{
    while (i < b->n && b->s[i] == ' ')
        i++;
    return i;
}

static int at(const pstr *b, size_t i, const char *w)
{
    size_t k = strlen(w);
    return i <= b->n && b->n - i >= k && memcmp(b->s + i, w, k) == 0;
}

static int chr(const pstr *b, size_t i, char c) { return i < b->n && b->s[i] == c; }

static slice sl(const pstr *b, size_t from, size_t to)
{
    slice s;
    s.p = b->s + from, s.n = to - from;
    return s;
}

static int64_t snum(const char *p, size_t n)
{
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
 * of the word separately); 1..12 or 0. */
static int mon_at(const pstr *b, size_t i)
{
    static const char names[] = "janfebmaraprmayjunjulaugsepoctnovdec";
    int m;
    if (i > b->n || b->n - i < 3)
        return 0;
    for (m = 0; m < 12; m++)
        if (memcmp(b->s + i, names + 3 * m, 3) == 0)
            return m + 1;
    return 0;
}

/* Replaces [from, to) by one space, as Ruby's parser does after a match. */
static void blank(pstr *b, size_t from, size_t to)
{
    if (to <= from)
        return;
    memmove(b->s + from + 1, b->s + to, b->n - to);
    b->s[from] = ' ';
    b->n = b->n - (to - from) + 1;
    b->s[b->n] = '\0';
}

/* '?-?\d+ (or '?[-+]?\d+ with sign2): end index or NOPE. */
static size_t m_num(const pstr *b, size_t i, int sign2)
{
    size_t d;
    if (chr(b, i, '\''))
        i++;
    if (chr(b, i, '-') || (sign2 && chr(b, i, '+')))
        i++;
    d = ndig(b, i);
    return d ? i + d : NOPE;
}

/* The year/month/day shuffle Ruby applies to three date fields given as
 * text: decides which one is the year from apostrophes and digit counts. */
static void s3e(dhash *h, slice y, slice m, slice d, int bc)
{
    slice t;
    if (y.p && m.p && !d.p)                        /* two fields: month, day */
        d = m, m = y, y = NIL;
    if (!y.p && d.p && (d.n > 2 || d.p[0] == '\''))
        y = d, d = NIL;
    if (y.p) {                                     /* "14th" as year: it is the day */
        size_t i = 0, k;
        while (i < y.n && !pdig(y.p[i]) && y.p[i] != '-' && y.p[i] != '+')
            i++;
        k = i + (i < y.n && !pdig(y.p[i]));
        while (k < y.n && pdig(y.p[k]))
            k++;
        if (i < y.n && k < y.n) {
            t = d, d.p = y.p + i, d.n = k - i, y = t;
        }
    }
    if (m.p && (m.p[0] == '\'' || m.n > 2))        /* "mon day year" read as y m d */
        t = y, y = m, m = d, d = t;
    if (d.p && (d.p[0] == '\'' || d.n > 2))
        t = y, y = d, d = t;
    if (y.p) {
        size_t i = 0, k;
        int neg = 0;
        while (i < y.n && !pdig(y.p[i]) && y.p[i] != '-' && y.p[i] != '+')
            i++;
        if (i < y.n) {
            if (y.p[i] == '-' || y.p[i] == '+') {
                neg = y.p[i] == '-';
                h->has |= H_NOCOMP;
                i++;
            }
            for (k = i; k < y.n && pdig(y.p[k]); k++)
                ;
            if (k - i > 2)
                h->has |= H_NOCOMP;
            h->year = snum(y.p + i, k - i) * (neg ? -1 : 1);
            h->has |= H_YEAR;
        }
    }
    if (bc)
        h->has |= H_BC;
    if (m.p)
        h->mon = snum(m.p, m.n), h->has |= H_MON;
    if (d.p)
        h->mday = snum(d.p, d.n), h->has |= H_MDAY;
}

static slice mon_slice(int mon)
{
    static const char digits[] = "123456789101112";
    static const unsigned char off[13] = {0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 13};
    slice s;
    s.p = digits + off[mon], s.n = mon < 10 ? 1 : 2;
    return s;
}

/* ---- 1. weekday ------------------------------------------------------------ */

static void p_day(pstr *b)
{
    static const char *const days[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
    size_t i, j;
    int k;
    for (i = 0; i < b->n; i++) {
        if (!wb(b, i))
            continue;
        for (k = 0; k < 7 && !at(b, i, days[k]); k++)
            ;
        if (k == 7)
            continue;
        for (j = i + 3; j < b->n && b->s[j] != '-' && b->s[j] != '/' && !pdig(b->s[j]) && b->s[j] != ' '; j++)
            ;
        blank(b, i, j);
        return;
    }
}

/* ---- 2. time of day with optional zone -------------------------------------- */

/* "am"/"pm" marker at i: [ap](m\b|\.m\.); returns end or NOPE, *pm set. */
static size_t m_ampm(const pstr *b, size_t i, int *pm)
{
    if (!chr(b, i, 'a') && !chr(b, i, 'p'))
        return NOPE;
    *pm = b->s[i] == 'p';
    if (chr(b, i + 1, 'm') && wb(b, i + 2))
        return i + 2;
    if (at(b, i + 1, ".m."))
        return i + 4;
    return NOPE;
}

/* The zone that may follow a time; end or NOPE. */
static size_t m_zone(const pstr *b, size_t k)
{
    static const char *const pre[] = {"gmt", "utc", "ut", ""};
    size_t j, r, p;
    int i;
    for (i = 0; i < 4; i++) {      /* (gmt|utc?)?[-+]\d+([,.:]\d+(:\d+)?)? */
        j = k + strlen(pre[i]);
        if (!at(b, k, pre[i]) || !(chr(b, j, '-') || chr(b, j, '+')) || !ndig(b, j + 1))
            continue;
        j += 1 + ndig(b, j + 1);
        if ((chr(b, j, ',') || chr(b, j, '.') || chr(b, j, ':')) && ndig(b, j + 1)) {
            j += 1 + ndig(b, j + 1);
            if (chr(b, j, ':') && ndig(b, j + 1))
                j += 1 + ndig(b, j + 1);
        }
        return j;
    }
    /* [[:alpha:]. ]+ (standard|daylight) time\b -- rightmost such phrase */
    for (r = k; r < b->n && (palpha(b->s[r]) || b->s[r] == '.' || b->s[r] == ' '); r++)
        ;
    for (p = r; p > k; p--)
        if ((at(b, p, "standard time") || at(b, p, "daylight time")) && wb(b, p + 13))
            return p + 13;
    /* [[:alpha:]]+( dst)?\b */
    for (r = k; r < b->n && palpha(b->s[r]); r++)
        ;
    if (r == k)
        return NOPE;
    if (at(b, r, " dst") && wb(b, r + 4))
        return r + 4;
    return wb(b, r) ? r : NOPE;
}

/* Matches a time at i; returns its end (time only) or NOPE. */
static size_t m_time(const pstr *b, size_t i)
{
    size_t j, k, d = ndig(b, i);
    int pm;
    if (!d)
        return NOPE;
    j = skipsp(b, i + d);
    if (chr(b, j, ':') && ndig(b, skipsp(b, j + 1))) {          /* h:m[:s[.f]] */
        k = skipsp(b, j + 1);
        j = k + ndig(b, k);
        k = skipsp(b, j);
        if (chr(b, k, ':') && ndig(b, skipsp(b, k + 1))) {
            k = skipsp(b, k + 1);
            j = k + ndig(b, k);
            if (chr(b, j, ',') || chr(b, j, '.'))
                j += 1 + ndig(b, j + 1);
        }
    } else if (chr(b, j, 'h')) {                                 /* 10h[30m[15s]] */
        j++;
        k = skipsp(b, j);
        if (ndig(b, k)) {
            j = k + ndig(b, k);
            if (chr(b, j, 'm'))
                j++;
            k = skipsp(b, j);
            if (ndig(b, k)) {
                j = k + ndig(b, k);
                if (chr(b, j, 's'))
                    j++;
            }
        }
    } else {                                                     /* 10 pm */
        k = m_ampm(b, j, &pm);
        return k;
    }
    k = m_ampm(b, skipsp(b, j), &pm);
    return k != NOPE ? k : j;
}

/* Reads the fields of a matched time text [i, e), the way Ruby re-scans it. */
static void time_fields(const pstr *b, size_t i, size_t e, dhash *h)
{
    pstr t;
    size_t p, q, d;
    int pm = -1;
    t.n = e - i;
    memcpy(t.s, b->s + i, t.n);
    t.s[t.n] = '\0';
    d = ndig(&t, 0);
    h->hour = snum(t.s, d), h->has |= H_HOUR;
    p = d;
    if (chr(&t, p, 'h'))
        p++;
    q = skipsp(&t, p);                       /* \s*:?\s*(\d+)m? */
    if (chr(&t, q, ':'))
        q++;
    q = skipsp(&t, q);
    if ((d = ndig(&t, q)) > 0) {
        h->min = snum(t.s + q, d), h->has |= H_MIN;
        p = q + d;
        if (chr(&t, p, 'm'))
            p++;
        q = skipsp(&t, p);                   /* \s*:?\s*(\d+)([,.]\d+)?s? */
        if (chr(&t, q, ':'))
            q++;
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
            if (chr(&t, p, 's'))
                p++;
        }
    }
    q = skipsp(&t, p);
    if (m_ampm(&t, q, &pm) != NOPE) {
        if (h->hour > INT_MAX)       /* Ruby fails converting it to int */
            h->has |= H_BAD;
        h->hour = h->hour % 12 + (pm ? 12 : 0);
    }
}

static void p_time(pstr *b, dhash *h)
{
    size_t i, e, z, ze;
    for (i = 0; i < b->n; i++) {
        if ((e = m_time(b, i)) == NOPE)
            continue;
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

/* ---- 3. dates ------------------------------------------------------------------ */

static size_t skip_word_tail(const pstr *b, size_t j)   /* [^-\d\s']* */
{
    while (j < b->n && b->s[j] != '-' && !pdig(b->s[j]) && b->s[j] != ' ' && b->s[j] != '\'')
        j++;
    return j;
}

/* With sfx, a year may carry an ordinal suffix ("14th"); s3e then takes it
 * for the day. */
static size_t m_year_sfx(const pstr *b, size_t e, int sfx)
{
    static const char *const ord[] = {"st", "nd", "rd", "th"};
    int i;
    for (i = 0; sfx && e != NOPE && i < 4; i++)
        if (at(b, e, ord[i]) && wb(b, e + 2))
            return e + 2;
    return e;
}

/* (ce|c.e.|bce|b.c.e.|ad|a.d.|bc|b.c.)? followed by a year; returns the
 * year's end or NOPE, with the year slice and the bc flag. */
static size_t m_era_year(const pstr *b, size_t k, slice *y, int *bc, int sfx)
{
    static const char *const eras[] = {"ce", "c.e.", "bce", "b.c.e.", "ad", "a.d.", "bc", "b.c."};
    size_t e, s;
    int i;
    for (i = 0; i < 8; i++) {
        if (!at(b, k, eras[i]))
            continue;
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

static int p_eu(pstr *b, dhash *h)      /* 14 march 2016, 5/may/2020 */
{
    size_t i, j, p, e, run;
    for (i = 0; i < b->n; i++) {
        slice y = NIL, ds;
        int mon = 0, bc = 0;
        j = chr(b, i, '\'') ? i + 1 : i;
        if (!ndig(b, j))
            continue;
        j += ndig(b, j);
        ds = sl(b, i, j);               /* "'14" keeps its apostrophe: a year */
        for (run = j; run < b->n && b->s[run] != '-' && !pdig(b->s[run]) && b->s[run] != ' '; run++)
            ;                           /* [^-\d\s]*: may swallow the month, back off */
        p = skipsp(b, run);
        if (!(mon = mon_at(b, p)))
            for (p = run; p-- > j && !(mon = mon_at(b, p));)
                ;
        if (!mon)
            continue;
        e = skip_word_tail(b, p + 3);
        j = m_era_year(b, skipsp(b, e), &y, &bc, 1);
        if (j != NOPE)
            e = j;
        s3e(h, y, mon_slice(mon), ds, bc);
        blank(b, i, e);
        return 1;
    }
    return 0;
}

static int p_us(pstr *b, dhash *h)      /* march 14, 2016 */
{
    size_t i, j, d, e, ds0;
    for (i = 0; i < b->n; i++) {
        slice y = NIL, ds;
        int mon, bc = 0;
        if (!wb(b, i) || !(mon = mon_at(b, i)))
            continue;
        j = skipsp(b, skip_word_tail(b, i + 3));
        ds0 = j;
        if (chr(b, j, '\''))
            j++;
        if (!(d = ndig(b, j)))
            continue;
        ds = sl(b, ds0, j + d);
        e = skip_word_tail(b, j + d);
        j = skipsp(b, e);
        if (chr(b, j, ','))
            j++;
        j = m_era_year(b, skipsp(b, j), &y, &bc, 0);
        if (j != NOPE)
            e = j;
        s3e(h, y, mon_slice(mon), ds, bc);
        blank(b, i, e);
        return 1;
    }
    return 0;
}

/* Three numbers joined by sep ('-': 2016-03-14, '.': 2016.03.14, '/':
 * 2016/03/14 with an optional third part after any non-digit). */
static int p_3num(pstr *b, dhash *h, char sep)
{
    size_t i, j, k, e;
    for (i = 0; i < b->n; i++) {
        slice y, m, d = NIL;
        if ((j = m_num(b, i, sep == '-')) == NOPE || !chr(b, j, sep))
            continue;
        y = sl(b, i, j);
        k = sep == '-' ? j + 1 : skipsp(b, j + 1);
        e = sep != '-' && chr(b, k, '\'') ? k + 1 : k;
        if (!ndig(b, e))
            continue;
        e += ndig(b, e);
        m = sl(b, k, e);
        if (sep == '/') {
            k = e + 1;                  /* \D is one character, maybe multibyte */
            while (k < b->n && ((unsigned char)b->s[k] & 0xC0) == 0x80)
                k++;
            if (e < b->n && !pdig(b->s[e]) && (j = m_num(b, skipsp(b, k), 0)) != NOPE)
                d = sl(b, skipsp(b, k), j), e = j;
        } else {
            k = sep == '-' ? e + 1 : skipsp(b, e + 1);
            if (!chr(b, e, sep) || (j = m_num(b, k, 0)) == NOPE)
                continue;
            d = sl(b, k, j), e = j;
        }
        s3e(h, y, m, d, 0);
        blank(b, i, e);
        return 1;
    }
    return 0;
}

static int p_jis(pstr *b, dhash *h)     /* h28.03.14: Japanese eras */
{
    static const char eras[] = "mtshr";
    static const int base[] = {1867, 1911, 1925, 1988, 2018};
    size_t i, j, d1, d2, d3;
    const char *e;
    for (i = 0; i < b->n; i++) {
        if (!wb(b, i) || !b->s[i] || !(e = strchr(eras, b->s[i])))
            continue;
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

static size_t skip_not_sep(const pstr *b, size_t j)   /* [^-/.]* */
{
    while (j < b->n && b->s[j] != '-' && b->s[j] != '/' && b->s[j] != '.')
        j++;
    return j;
}

static int p_vms(pstr *b, dhash *h)     /* 14-mar-2016, mar-14[-2016] */
{
    size_t i, j, k, e;
    int mon;
    for (i = 0; i < b->n; i++) {        /* day-mon-year */
        if ((j = m_num(b, i, 0)) == NOPE || !chr(b, j, '-') || !(mon = mon_at(b, j + 1)))
            continue;
        k = skip_not_sep(b, j + 4);
        if (!chr(b, k, '-') || (e = m_num(b, k + 1, 0)) == NOPE)
            continue;
        s3e(h, sl(b, k + 1, e), mon_slice(mon), sl(b, i, j), 0);
        blank(b, i, e);
        return 1;
    }
    for (i = 0; i < b->n; i++) {        /* mon-day[-year] */
        slice y = NIL, d;
        if (!wb(b, i) || !(mon = mon_at(b, i)))
            continue;
        k = skip_not_sep(b, i + 3);
        if (!chr(b, k, '-') || (e = m_num(b, k + 1, 0)) == NOPE)
            continue;
        d = sl(b, k + 1, e);
        if (chr(b, e, '-') && (j = m_num(b, e + 1, 0)) != NOPE)
            y = sl(b, e + 1, j), e = j;
        s3e(h, y, mon_slice(mon), d, 0);
        blank(b, i, e);
        return 1;
    }
    return 0;
}

/* (\d{2}|\d{4}) followed by what rest() accepts: 2, 4, or 0 if neither. */
static size_t d24(const pstr *b, size_t i, size_t (*rest)(const pstr *, size_t))
{
    size_t n = ndig(b, i);
    if (n >= 2 && rest(b, i + 2) != NOPE)
        return 2;
    if (n >= 4 && rest(b, i + 4) != NOPE)
        return 4;
    return 0;
}

/* rest of "-?w\d{2}(-?\d)?\b" from j */
static size_t iso21_rest(const pstr *b, size_t j)
{
    if (chr(b, j, '-'))
        j++;
    if (!chr(b, j, 'w') || ndig(b, j + 1) < 2)
        return NOPE;
    j += 3;
    if (chr(b, j, '-') && ndig(b, j + 1) && wb(b, j + 2))
        return j + 2;
    if (ndig(b, j) && wb(b, j + 1))
        return j + 1;
    return wb(b, j) ? j : NOPE;
}

static size_t yday_rest(const pstr *b, size_t j)     /* "-\d{3}\b" */
{
    return chr(b, j, '-') && ndig(b, j + 1) >= 3 && wb(b, j + 4) ? j + 4 : NOPE;
}

static int p_iso2(pstr *b, dhash *h)
{
    size_t i, j, n;
    /* 2016-w11-1 (week dates: recognised so nothing else claims them, but
     * Time.parse ignores their fields) */
    for (i = 0; i < b->n; i++) {
        if (!wb(b, i))
            continue;
        n = d24(b, i, iso21_rest);
        if ((j = iso21_rest(b, i + n)) != NOPE) {
            blank(b, i, j);
            return 1;
        }
    }
    for (i = 0; i < b->n; i++) {                         /* -w-1 */
        if (at(b, i, "-w-") && ndig(b, i + 3) && wb(b, i + 4)) {
            blank(b, i, i + 4);
            return 1;
        }
    }
    for (i = 0; i < b->n; i++) {                         /* --03-14, ---14 */
        if (!at(b, i, "--"))
            continue;
        j = i + 2;
        n = ndig(b, j) >= 2 && chr(b, j + 2, '-') && ndig(b, j + 3) >= 2 && wb(b, j + 5) ? 2 : 0;
        if (!chr(b, j + n, '-') || ndig(b, j + n + 1) < 2 || !wb(b, j + n + 3))
            continue;
        if (n)
            h->mon = snum(b->s + j, 2), h->has |= H_MON;
        h->mday = snum(b->s + j + n + 1, 2), h->has |= H_MDAY;
        blank(b, i, j + n + 3);
        return 1;
    }
    for (i = 0; i < b->n; i++) {                         /* --0314, --03 */
        if (!at(b, i, "--") || ndig(b, i + 2) < 2)
            continue;
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
        if ((b->s[i] == ',' || b->s[i] == '.') && (n = d24(b, i + 1, yday_rest)) != 0)
            goto no_ord;
    for (i = 0; i < b->n; i++) {
        if (!wb(b, i) || !(n = d24(b, i, yday_rest)))
            continue;
        h->year = snum(b->s + i, n), h->yday = snum(b->s + i + n + 1, 3);
        h->has |= H_YEAR | H_YDAY;
        blank(b, i, i + n + 4);
        return 1;
    }
no_ord:
    for (i = 0; i < b->n; i++)                            /* x-074: day of year */
        if (pdig(b->s[i]) && yday_rest(b, i + 1) != NOPE)
            return 0;
    for (i = 0; i < b->n; i++) {
        if (wb(b, i) && chr(b, i, '-') && ndig(b, i + 1) >= 3 && wb(b, i + 4)) {
            h->yday = snum(b->s + i + 1, 3), h->has |= H_YDAY;
            blank(b, i, i + 4);
            return 1;
        }
    }
    return 0;
}

static int p_year(pstr *b, dhash *h)    /* '16 */
{
    size_t i, d;
    for (i = 0; i < b->n; i++) {
        if (!chr(b, i, '\'') || !(d = ndig(b, i + 1)) || !wb(b, i + 1 + d))
            continue;
        h->year = snum(b->s + i + 1, d), h->has |= H_YEAR;
        blank(b, i, i + 1 + d);
        return 1;
    }
    return 0;
}

static int p_mon(pstr *b, dhash *h)     /* a lone month name */
{
    size_t i, j;
    int mon;
    for (i = 0; i < b->n; i++) {
        if (!wb(b, i) || !(mon = mon_at(b, i)))
            continue;
        for (j = i + 3; j < b->n && b->s[j] != ' '; j++)
            ;
        h->mon = mon, h->has |= H_MON;
        blank(b, i, j);
        return 1;
    }
    return 0;
}

static int p_mday(pstr *b, dhash *h)    /* 14th */
{
    static const char *const sfx[] = {"st", "nd", "rd", "th"};
    size_t i, d;
    int k;
    for (i = 0; i < b->n; i++) {
        if (!(d = ndig(b, i)))
            continue;
        for (k = 0; k < 4; k++)
            if (at(b, i + d, sfx[k]) && wb(b, i + d + 2))
                break;
        if (k == 4)
            continue;
        h->mday = snum(b->s + i, d), h->has |= H_MDAY;
        blank(b, i, i + d + 2);
        return 1;
    }
    return 0;
}

/* Digit runs: "20160314", "20160314t103000.5z", "160314", "074", "1230.5"
 * (a lone fraction makes the digits a time read from the right). */
static int p_ddd(pstr *b, dhash *h)
{
    size_t i, j = 0, k, n = 0, n3 = 0, zs = 0, ze = NOPE;
    const char *s2, *s3 = NULL, *s4 = NULL;
    size_t n4 = 0;
    int neg = 0;
    for (i = 0; i < b->n; i++) {
        j = i;
        if (chr(b, j, '-') || chr(b, j, '+'))
            neg = b->s[j] == '-', j++;
        else
            neg = 0;
        if ((n = ndig(b, j)) >= 2)
            break;
    }
    if (i >= b->n)
        return 0;
    if (n > 14)
        n = 14;
    s2 = b->s + j;
    k = skipsp(b, j + n);                        /* \s*t?\s*(\d{2,6})?([,.]\d*)? */
    if (chr(b, k, 't'))
        k++;
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
    zs = skipsp(b, j);                           /* z | [-+]\d{1,4} | [...] */
    if (chr(b, zs, 'z') && wb(b, zs + 1)) {
        ze = zs + 1;
    } else if ((chr(b, zs, '-') || chr(b, zs, '+')) && ndig(b, zs + 1) >= 1 &&
               ndig(b, zs + 1) <= 4 && wb(b, zs + 1 + ndig(b, zs + 1))) {
        ze = zs + 1 + ndig(b, zs + 1);
    } else if (chr(b, zs, '[')) {
        k = zs + 1;
        if (chr(b, k, '-') || chr(b, k, '+'))
            k++;
        if (ndig(b, k)) {
            const char *close = memchr(b->s + k, ']', b->n - k);
            if (close)
                ze = (size_t)(close - b->s) + 1;
        }
    }
    {
        int timeonly = !s3 && s4;    /* digits read as [[[[yy]mm]dd]hh]mmss */
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
        case 3: case 5: case 7:
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
        case 8: case 10: case 12: case 14:
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
        default:
            break;
        }
#undef D2
    }
    if (s3 && (n3 == 2 || n3 == 4 || n3 == 6)) {
        if (s4) {                    /* followed by a fraction: [[hh]mm]ss */
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
        if (zp[0] == '[') {          /* [-5:est] -> "est", [+9] -> "+9" */
            const char *colon = memchr(zp, ':', zn);
            if (colon)
                zn = (size_t)(zp + zn - colon) - 2, zp = colon + 1;
            else
                zp++, zn -= 2;
        }
        if (zn > sizeof h->zone - 1)
            zn = sizeof h->zone - 1;
        memcpy(h->zone, zp, zn);
        h->zone[zn] = '\0';
        h->has |= H_ZONE;
        j = ze;
    }
    blank(b, i, j);
    return 1;
}

/* ---- 4. bc and fragments --------------------------------------------------------- */

static void p_bc(pstr *b, dhash *h)
{
    size_t i, e;
    for (i = 0; i < b->n; i++) {
        if (!wb(b, i))
            continue;
        if (at(b, i, "bc") && wb(b, i + 2))
            e = i + 2;
        else if (at(b, i, "bce") && wb(b, i + 3))
            e = i + 3;
        else if (at(b, i, "b.c."))
            e = i + 4;
        else
            continue;
        h->has |= H_BC;
        blank(b, i, e);
        return;
    }
}

static void p_frag(const pstr *b, dhash *h)
{
    size_t i = skipsp(b, 0), d = ndig(b, i);
    int64_t v;
    if (d < 1 || d > 2 || skipsp(b, i + d) != b->n)
        return;
    v = snum(b->s + i, d);
    if ((h->has & H_HOUR) && !(h->has & H_MDAY) && v >= 1 && v <= 31)
        h->mday = v, h->has |= H_MDAY;
    if ((h->has & H_MDAY) && !(h->has & H_HOUR) && v >= 0 && v <= 24)
        h->hour = v, h->has |= H_HOUR;
}

/* Date._parse: fills h; returns -1 if the string is too long, -2 where Ruby
 * fails with a RangeError (an hour beyond int with am/pm). */
/* The common case first: strict ISO 8601 ("2024-11-21", "2024-11-21T15:38:00Z",
 * "2024-11-21 15:38:00.25 +05:00") read in one pass. It fills the same fields the
 * general recognisers below would (checked against them), or declines with -1. */
static int iso_fast(const char *s, size_t len, dhash *h)
{
    size_t i = 10, k;
    int64_t v[6] = {0, 0, 0, 0, 0, 0};
#define D(j) (s[j] >= '0' && s[j] <= '9')
#define N2(j) ((s[j] - '0') * 10 + (s[j + 1] - '0'))
    if (len < 10 || len > 40 || !D(0) || !D(1) || !D(2) || !D(3) || s[4] != '-' || !D(5) ||
        !D(6) || s[7] != '-' || !D(8) || !D(9))
        return -1;
    memset(h, 0, sizeof *h);
    v[0] = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + N2(2);
    v[1] = N2(5);
    v[2] = N2(8);
    h->has = H_YEAR | H_MON | H_MDAY | H_NOCOMP;      /* four digits: no century guess */
    if (i < len && (s[i] == 'T' || s[i] == 't' || s[i] == ' ')) {
        if (len < i + 6 || !D(i + 1) || !D(i + 2) || s[i + 3] != ':' || !D(i + 4) || !D(i + 5))
            return -1;
        v[3] = N2(i + 1);
        v[4] = N2(i + 4);
        h->has |= H_HOUR | H_MIN;
        i += 6;
        if (i < len && s[i] == ':') {
            if (len < i + 3 || !D(i + 1) || !D(i + 2))
                return -1;
            v[5] = N2(i + 1);
            h->has |= H_SEC;
            i += 3;
            if (i < len && s[i] == '.') {
                long ns = 0, scale = 100000000;
                if (i + 1 >= len || !D(i + 1))
                    return -1;
                for (i++; i < len && D(i); i++, scale /= 10)
                    if (scale)
                        ns += (s[i] - '0') * scale;
                h->nsec = ns;
                h->has |= H_FRAC;
            }
        }
        if (i < len && s[i] == ' ')
            i++;
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
        return -1;      /* anything unusual takes the general road */
    h->year = v[0], h->mon = v[1], h->mday = v[2], h->hour = v[3], h->min = v[4], h->sec = v[5];
    return 0;
#undef D
#undef N2
}

static int date_parse_full(const char *s, size_t len, dhash *h);

static int date_parse(const char *s, size_t len, dhash *h)
{
    if (iso_fast(s, len, h) == 0)
        return 0;
    return date_parse_full(s, len, h);
}

static int date_parse_full(const char *s, size_t len, dhash *h)
{
    pstr b;
    size_t i;
    int gap = 0;
    memset(h, 0, sizeof *h);
    if (len > LQD_PARSE_MAX)
        return -1;
    for (i = 0, b.n = 0; i < len; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
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
    if (h->has & H_BAD)
        return -2;
    if ((h->has & H_BC) && (h->has & H_YEAR))
        h->year = 1 - h->year;
    if ((h->has & H_YEAR) && !(h->has & H_NOCOMP) && h->year >= 0 && h->year <= 99)
        h->year += h->year >= 69 ? 1900 : 2000;
    return 0;
}

/* ---- Time.parse on top ------------------------------------------------------------ */

static int ci_eq(const char *a, size_t n, const char *lower)
{
    size_t i;
    if (strlen(lower) != n)
        return 0;
    for (i = 0; i < n; i++) {
        char c = a[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != lower[i])
            return 0;
    }
    return 1;
}

/* Zones Ruby's Time reads as UTC itself rather than as a zero offset. */
static int zone_is_utc(const char *z)
{
    static const char *const names[] = {"-00:00", "-0000", "-00", "utc", "z", "ut"};
    size_t i;
    for (i = 0; i < 6; i++)
        if (ci_eq(z, strlen(z), names[i]))
            return 1;
    return 0;
}

/* Time.zone_offset: numeric offsets, a fixed table of names and the local
 * zone's abbreviations in January and July of `year`.  1 if known. */
static int zone_offset(const char *z, const lqd_zone *local, int64_t year, int *off)
{
    static const struct { const char *name; int hours; } names[] = {
        {"utc", 0}, {"z", 0}, {"ut", 0}, {"gmt", 0}, {"est", -5}, {"edt", -4}, {"cst", -6},
        {"cdt", -5}, {"mst", -7}, {"mdt", -6}, {"pst", -8}, {"pdt", -7}};
    size_t n = strlen(z), i;
    if (z[0] == '+' || z[0] == '-') {   /* +hh, +hhmm[ss], +hh:mm[:ss] */
        int v[3] = {0, 0, 0}, nd = 0, colon = n > 3 && z[3] == ':';
        for (i = 1; i < n; i++) {
            if (colon && (i == 3 || i == 6)) {
                if (z[i] != ':')
                    return 0;
            } else if (pdig(z[i]) && nd < 6) {
                v[nd / 2] = v[nd / 2] * 10 + (z[i] - '0'), nd++;
            } else {
                return 0;
            }
        }
        if ((nd != 2 || colon) && nd != 4 && nd != 6)
            return 0;
        *off = (z[0] == '-' ? -1 : 1) * (v[0] * 3600 + v[1] * 60 + v[2]);
        return 1;
    }
    for (i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(z, names[i].name) == 0) {
            *off = names[i].hours * 3600;
            return 1;
        }
    if (n == 1 && z[0] >= 'a' && z[0] <= 'y' && z[0] != 'j') {   /* military */
        int c = z[0];
        *off = 3600 * (c <= 'i' ? c - 'a' + 1 : c <= 'm' ? c - 'k' + 10 : -(c - 'n' + 1));
        return 1;
    }
    if (year >= -1000000000 && year <= 1000000000) {
        int m;
        for (m = 1; m <= 7; m += 6) {
            const ttype *t = zone_type_at(local, wall_to_epoch(local, civil_secs(year, m, 1, 0, 0, 0)));
            if (strlen(t->abbr) == n) {
                char low[16];
                for (i = 0; i < n; i++)
                    low[i] = (char)(t->abbr[i] >= 'A' && t->abbr[i] <= 'Z' ? t->abbr[i] - 'A' + 'a' : t->abbr[i]);
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
 * carrying only through the fields the offset touches ("25:00 -07:00" passes,
 * "25:00 +00:00" does not) and clamping a day carry to the month's edge;
 * Time.utc checks the ranges afterwards. */
static void shift_to_utc(int64_t f[6], int off)
{
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
    if (!a)
        return;
    if (west) {
        f[2] += a;
        /* (month 0 reads December's length: Ruby indexes its table with -1) */
        if (f[1] >= 0 && f[1] <= 12 && f[2] > (f[1] ? month_len(f[0], (int)f[1]) : 31)) {
            if (++f[1] > 12)
                f[1] = 1, f[0]++;
            f[2] = 1;
        }
    } else {
        f[2] -= a;
        if (f[2] < 1) {
            if (--f[1] < 1)
                f[1] = 12, f[0]--;
            f[2] = f[1] >= 1 && f[1] <= 12 ? month_len(f[0], (int)f[1]) : 1;
        }
    }
}

/* Time.parse's make_time without the day-of-year step. */
static int make_time(const dhash *h, unsigned has, const lqd_zone *local, int64_t now,
                     int has_off, int off, lqd_tm *out)
{
    lqd_tm nt;
    int64_t f[6], epoch;   /* year mon mday hour min sec */
    long nsec = 0;
    int i;
    static const unsigned bit[6] = {H_YEAR, H_MON, H_MDAY, H_HOUR, H_MIN, H_SEC};
    const int64_t *hv[6];
    hv[0] = &h->year, hv[1] = &h->mon, hv[2] = &h->mday;
    hv[3] = &h->hour, hv[4] = &h->min, hv[5] = &h->sec;
    if (has_off ? lqd_fixedtime(now, 0, off, &nt) : lqd_localtime(local, now, 0, &nt))
        return -1;
    f[0] = nt.year, f[1] = nt.mon, f[2] = nt.mday, f[3] = nt.hour, f[4] = nt.min, f[5] = nt.sec;
    /* Leading missing fields come from now, the ones after the first given
     * field default to their minimum: "10:00" is today, "March" is March 1. */
    for (i = 0; i < 6 && !(has & bit[i]); i++)
        ;
    for (; i < 6; i++)
        f[i] = (has & bit[i]) ? *hv[i] : (i == 1 || i == 2);
    if (has & H_FRAC)
        nsec = h->nsec;
    if (has_off)
        shift_to_utc(f, off);
    if (f[0] < -1000000000 || f[0] > 1000000000 || f[1] < 1 || f[1] > 12 || f[2] < 1 ||
        f[2] > 31 || f[3] < 0 || f[3] > 24 || f[4] < 0 || f[4] > 59 || f[5] < 0 || f[5] > 60 ||
        (f[3] == 24 && (f[4] || f[5])))
        return -1;
    epoch = civil_secs(f[0], (int)f[1], (int)f[2], (int)f[3], (int)f[4], (int)f[5]);
    if (!has_off)
        return lqd_localtime(local, wall_to_epoch(local, epoch), nsec, out);
    if (zone_is_utc(h->zone))
        return lqd_utctime(epoch, nsec, out);
    if (epoch_ok(epoch, nsec) && zone_off(local, epoch) == off)  /* a real zone beats a bare offset */
        return lqd_localtime(local, epoch, nsec, out);
    return lqd_fixedtime(epoch, nsec, off, out);
}

int lqd_parse(const char *s, size_t len, const lqd_zone *local, int64_t now, lqd_tm *out)
{
    dhash h;
    lqd_tm nt;
    int off = 0, has_off = 0;
    int64_t year, diff;
    int rc;
    if (!s || !local || lqd_localtime(local, now, 0, &nt) != 0)
        return -1;
    if ((rc = date_parse(s, len, &h)) != 0)
        return rc;
    if (!(h.has & (H_YEAR | H_YDAY | H_MON | H_MDAY | H_HOUR | H_MIN | H_SEC | H_FRAC)))
        return -1;                               /* "no time information" */
    year = (h.has & H_YEAR) ? h.year : nt.year;
    if (h.has & H_ZONE) {
        has_off = zone_offset(h.zone, local, year, &off);
        if (has_off && (off <= -86400 || off >= 86400))
            return -1;
    }
    if (!(h.has & H_YDAY))
        return make_time(&h, h.has, local, now, has_off, off, out);
    /* Day of year, Ruby's way: guess month and day as if months had 31
     * days, then move by the yday error once (an hour 24 or a leap second
     * that crosses midnight is thereby absorbed). */
    if (h.yday < 1 || h.yday > 366)
        return -1;
    h.mon = (h.yday - 1) / 31 + 1, h.mday = (h.yday - 1) % 31 + 1;
    h.has |= H_MON | H_MDAY;
    if (make_time(&h, h.has, local, now, has_off, off, out) != 0)
        return -1;
    if ((diff = h.yday - out->yday) == 0)
        return 0;
    h.mday += diff;
    if (h.mday > 28 && year >= -1000000000 && year <= 1000000000 &&
        h.mday > month_len(year, (int)h.mon)) {
        h.mday -= month_len(year, (int)h.mon);
        if (++h.mon > 12)
            return -1;
    }
    return make_time(&h, h.has, local, now, has_off, off, out);
}

int lqd_to_time(const char *s, size_t len, const lqd_zone *local, int64_t now, lqd_tm *out)
{
    size_t i;
    int64_t v = 0;
    if (!s || !local || len == 0)
        return -1;
    if (ci_eq(s, len, "now") || ci_eq(s, len, "today"))
        return lqd_localtime(local, now, 0, out);
    for (i = 0; i < len && pdig(s[i]); i++) {
        if (v > LQD_EPOCH_MAX / 10)
            return -1;                           /* beyond any representable time */
        v = v * 10 + (s[i] - '0');
    }
    if (i == len)
        return lqd_localtime(local, v, 0, out);
    return lqd_parse(s, len, local, now, out);
}
