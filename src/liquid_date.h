/*
** The machinery behind Liquid's `date` filter, in pure C99. Three parts, usable
** separately:
**   - time zones (liquid_date_tz.c) read from tzdata (TZif v1/v2/v3 plus the POSIX
**     TZ footer), or given as POSIX TZ strings ("EST5EDT,M3.2.0,M11.1.0"); "UTC" and
**     "Etc/UTC" need no files;
**   - lqd_strftime (liquid_date_strftime.c): Ruby's Time#strftime (Ruby 3.1
**     behaviour, flags and widths);
**   - lqd_parse / lqd_to_time (liquid_date_parse.c): Ruby's lenient Time.parse
**     (Date._parse rules) and Liquid's Utils.to_date on top of it.
**
** Thread safety: nothing here touches TZ, tzset() or localtime(). A loaded
** zone is immutable and may be shared between threads. The only global
** mutable state is the zone cache behind lqd_zone_get(), guarded by a mutex.
**
** Typical use by the `date` filter:
**     const lqd_zone *z = lqd_zone_get("America/Los_Angeles", err, sizeof err);
**     lqd_tm tm;
**     if (input is an integer)  lqd_localtime(z, n, 0, &tm);
**     else if (lqd_to_time(s, len, z, now, &tm) != 0)  -> output the input unchanged
**     n = lqd_strftime(buf, cap, fmt, fmtlen, &tm);   (grow and retry if n >= cap)
*/
#ifndef RIVULET_LIQUID_DATE_H
#define RIVULET_LIQUID_DATE_H

#include <stddef.h>
#include <stdint.h>

#define LQD_ZONE_DEFAULT "America/Los_Angeles"

/* A broken-down time, ready for lqd_strftime. */
typedef struct lqd_tm {
    int64_t year;     /* proleptic Gregorian, astronomical (0 = 1 BC) */
    int mon;          /* 1..12 */
    int mday;         /* 1..31 */
    int hour, min, sec;
    int wday;         /* 0 = Sunday */
    int yday;         /* 1..366 */
    long nsec;        /* 0..999999999 */
    int utc_offset;   /* seconds east of UTC */
    int isdst;
    int is_utc;       /* Ruby's Time#utc?: %Z is "UTC" and %-z prints "-0000" */
    char abbr[16];    /* %Z; "" for a bare offset such as "+05:00" (as Ruby) */
    int64_t epoch;    /* seconds since 1970-01-01T00:00:00Z */
} lqd_tm;

/* ---- time zones ---- */

typedef struct lqd_zone lqd_zone;   /* opaque, immutable once loaded */

/* Loads a zone: "UTC"/"Etc/UTC" (built in), an IANA name read from
** $TZDIR (default /usr/share/zoneinfo)/<name>, or a POSIX TZ string. Names
** must not start with '/' nor contain "..". Returns NULL and writes a message
** to err (when errlen > 0) if the zone is unknown or its file is malformed. */
lqd_zone *lqd_zone_load(const char *name, char *err, size_t errlen);
void lqd_zone_free(lqd_zone *z);           /* NULL and the static UTC are no-ops */
const lqd_zone *lqd_zone_utc(void);        /* static, never freed */
const char *lqd_zone_name(const lqd_zone *z);

/* Process-wide cache: returns a shared zone loaded once per name, or NULL with
** a message. Thread-safe (a pthread mutex guards it). Zones stay until
** lqd_zone_cache_clear(), which must only run when no other thread still uses
** a zone it returned (e.g. at exit, for leak checkers). At most
** LQD_ZONE_CACHE_MAX distinct names are cached; beyond that this fails. */
#define LQD_ZONE_CACHE_MAX 64
const lqd_zone *lqd_zone_get(const char *name, char *err, size_t errlen);
void lqd_zone_cache_clear(void);

/* ---- epoch <-> broken-down time ---- */

/* |epoch| must be <= LQD_EPOCH_MAX (about 3 billion years); nsec 0..999999999.
** All return 0, or -1 for out-of-range arguments. */
#define LQD_EPOCH_MAX INT64_C(100000000000000000)
int lqd_localtime(const lqd_zone *z, int64_t epoch, long nsec, lqd_tm *out);
int lqd_fixedtime(int64_t epoch, long nsec, int utc_offset, lqd_tm *out);
int lqd_utctime(int64_t epoch, long nsec, lqd_tm *out);

/* Wall-clock time in zone z to epoch, as Ruby's Time.local: day 29..31 past
** the month's end rolls into the next month, hour 24 (with min = sec = 0) and
** sec 60 roll forward; a wall time skipped by a DST gap is read with the
** offset in force before the gap, and an ambiguous one resolves to the later
** instant. Returns 0, or -1 if a field is out of Ruby's ranges (mon 1..12,
** mday 1..31, hour 0..24, min 0..59, sec 0..60, |year| <= 1e9). */
int lqd_mktime(const lqd_zone *z, int64_t year, int mon, int mday, int hour,
               int min, int sec, int64_t *epoch_out);

/* ---- strftime ---- */

/* Ruby Time#strftime. Writes at most cap-1 bytes plus a NUL (when cap > 0)
** and returns the full length the result needs, like snprintf, so the caller
** can grow the buffer and retry. Returns LQD_STRFTIME_INVALID where Ruby
** raises "invalid format" (the format ends inside a directive: "%", "%-",
** "%10"). Field widths are capped at LQD_STRFTIME_MAXWIDTH. */
#define LQD_STRFTIME_INVALID ((size_t)-1)
#define LQD_STRFTIME_MAXWIDTH 1024
size_t lqd_strftime(char *out, size_t cap, const char *fmt, size_t fmtlen,
                    const lqd_tm *tm);

/* ---- parsing ---- */

/* Ruby's Time.parse(s, now) with `local` as the process zone: returns 0 and
** fills *out, or -1 where Ruby raises ArgumentError (no date/time found, a
** field out of range, longer than LQD_PARSE_MAX bytes: Liquid then outputs
** the input unchanged), or -2 where Ruby raises RangeError ("99999999999 pm":
** Liquid renders "Liquid error: internal"). The result keeps the offset the
** string states: "...Z"/"UTC"/"-00:00" give a UTC time, a stated offset gives
** the local zone's time if its offset agrees at that instant, else a bare
** offset (abbr ""). See the comment at the top of liquid_date_parse.c for the
** accepted formats. */
#define LQD_PARSE_MAX 128
int lqd_parse(const char *s, size_t len, const lqd_zone *local, int64_t now,
              lqd_tm *out);

/* Liquid's Utils.to_date for a string: "" is no date; "now"/"today" (any case)
** are `now`; all digits are Unix seconds; anything else goes through
** lqd_parse. Returns 0 with *out filled, or lqd_parse's -1/-2 (-1 also for
** "" and for digit strings beyond LQD_EPOCH_MAX). Integers are the caller's:
** lqd_localtime(local, n, 0, out); Ruby Liquid leaves a Float input
** unchanged. `now` has whole seconds only, so %N of "now" prints zeros. */
int lqd_to_time(const char *s, size_t len, const lqd_zone *local, int64_t now,
                lqd_tm *out);

#endif
