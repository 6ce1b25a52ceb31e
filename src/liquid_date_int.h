/*
** What the three parts of the date machinery share (liquid_date_tz.c,
** liquid_date_strftime.c, liquid_date_parse.c): calendar arithmetic and a zone's local
** time types. Not installed; liquid_date.h is their face.
*/
#ifndef RIVULET_LIQUID_DATE_INT_H
#define RIVULET_LIQUID_DATE_INT_H

#include "liquid_date.h"

/* ---- calendar (proleptic Gregorian, any int64 year in range) ---- */

static inline int64_t fdiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) q--;
  return q;
}

static inline int64_t fmod64(int64_t a, int64_t b) { return a - fdiv(a, b) * b; }

static inline int is_leap(int64_t y) {
  return fmod64(y, 4) == 0 && (fmod64(y, 100) != 0 || fmod64(y, 400) == 0);
}

static inline int month_len(int64_t y, int m) {
  static const int len[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : len[m - 1];
}

/* Days from 1970-01-01 to y-m-d. Years are counted from March so that the
** leap day falls last; 400 Gregorian years are exactly 146097 days. */
static inline int64_t days_from_civil(int64_t y, int m, int d) {
  int64_t era, yoe, doy;
  if (m <= 2) y--;
  era = fdiv(y, 400);
  yoe = y - era * 400;                          /* 0..399 */
  doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1; /* 0..365 */
  return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

static inline int wday_of_days(int64_t days) { return (int)fmod64(days + 4, 7); }

static inline int isalpha_c(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static inline int isdigit_c(int c) { return c >= '0' && c <= '9'; }

/* ---- zones (liquid_date_tz.c) ---- */

/* One local time type of a zone: its offset east of UTC, DST flag and abbreviation. */
typedef struct {
  int32_t off;
  int isdst;
  char abbr[16];
} lqd_ttype;

/* the type in force at epoch t, and its offset */
const lqd_ttype *lqd_zone_type_at(const lqd_zone *z, int64_t t);
int lqd_zone_off(const lqd_zone *z, int64_t t);

/* Wall-clock seconds L (epoch-like, offset not applied) in zone z -> epoch. */
int64_t lqd_wall_to_epoch(const lqd_zone *z, int64_t L);
/* Wall-clock seconds of a civil time; days past the month's end roll over, as in Ruby. */
int64_t lqd_civil_secs(int64_t year, int mon, int mday, int hour, int min, int sec);
/* |epoch| <= LQD_EPOCH_MAX and nsec 0..999999999 */
int lqd_epoch_ok(int64_t epoch, long nsec);

#endif
