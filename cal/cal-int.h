/*
 * cal-int.h -- what the files of cal/ share: civil-date arithmetic, the
 * zone objects (tz.c), the two expression kinds (sdcal.c, cron.c).
 */
#ifndef TIMERD_CAL_INT_H
#define TIMERD_CAL_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Calendar computations stop at the end of this year (systemd's MAX_YEAR). */
#define CAL_MAX_YEAR 2199
/* Zones expand their rule (the TZif footer) up to the start of this year. */
#define TZ_EXPAND_YEAR 2202

/* Days since 1970-01-01 of the proleptic Gregorian y-m-d (m 1..12). */
static inline int64_t cal_days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + doe - 719468;
}

/* The y-m-d (m 1..12) of a day number since 1970-01-01. */
static inline void cal_civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;

	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

/* Floor division and modulo for possibly negative a. */
static inline int64_t cal_fdiv(int64_t a, int64_t b) { return a / b - (a % b != 0 && (a < 0) != (b < 0)); }
static inline int64_t cal_fmod(int64_t a, int64_t b) { return a - cal_fdiv(a, b) * b; }

/* Whether y is a Gregorian leap year. */
static inline bool cal_leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

/* Days in month m (1..12) of year y. */
static inline int cal_mdays(int64_t y, int m)
{
	static const int d[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	return m == 2 && cal_leap(y) ? 29 : d[m - 1];
}

/* ---- tz.c: zones ---- */

/* One local time type: UT offset in seconds, DST flag, abbreviation. */
struct tz_type {
	int32_t off;
	uint8_t isdst;
	char abbr[15];
};

/* An immutable zone: transitions (UTC seconds, ascending) and the type from each on;
 * times before the first transition use types[0]. */
struct tz {
	int64_t *at;
	uint16_t *ty;
	size_t n;
	struct tz_type *types;
	size_t ntypes;
	/* bucket[k]: transitions before b0 + k << TZ_BUCKET_SHIFT (a lookup scans on from there) */
	uint32_t *bucket;
	size_t nbucket;
	int64_t b0;
};

#define TZ_BUCKET_SHIFT 23	/* 97 days: a bucket holds at most a few transitions */

/* A zone name's slot: permanent, its current struct tz swapped by cal_tz_reload. */
struct tz_slot;

/* The slot for a zone name ("" is the local zone: $TZ, else /etc/localtime), loading
 * it the first time; TD_EINVAL (no such zone, message in err) or TD_ENOMEM. */
int tz_slot_get(const char *name, struct tz_slot **out, char *err, size_t errlen);

/* The slot's name ("" for the local zone). */
const char *tz_slot_name(const struct tz_slot *s);

/* Enters a read section and returns the slot's current zone, valid until tz_leave(tok). */
const struct tz *tz_enter(struct tz_slot *s, unsigned *tok);

/* Leaves the read section tz_enter opened. */
void tz_leave(unsigned tok);

/* Re-reads every slot's zone from the database; the old ones are freed once no reader holds them. */
int tz_reload(void);

/* Loads zone NAME from the database (or a POSIX TZ string when NAME starts with
 * "posix:"); for tests and the registry. */
int tz_load(const char *name, struct tz **out, char *err, size_t errlen);

/* Frees a zone from tz_load. */
void tz_destroy(struct tz *z);

/* The number of transitions at or before UTC second t. */
static inline size_t tz_pos(const struct tz *z, int64_t t)
{
	size_t i;

	if (!z->n || t < z->at[0])
		return 0;
	if (t < z->b0)
		i = 0;
	else if (t - z->b0 >= (int64_t)(z->nbucket << TZ_BUCKET_SHIFT))
		i = z->nbucket ? z->bucket[z->nbucket - 1] : 0;
	else
		i = z->bucket[(t - z->b0) >> TZ_BUCKET_SHIFT];
	while (i < z->n && z->at[i] <= t)
		i++;
	return i;
}

/* The index of the type in force at UTC second t. */
static inline size_t tz_index(const struct tz *z, int64_t t)
{
	size_t i = tz_pos(z, t);

	return i ? z->ty[i - 1] : 0;
}

/* The type in force at UTC second t. */
static inline const struct tz_type *tz_at(const struct tz *z, int64_t t)
{
	return &z->types[tz_index(z, t)];
}

/* ---- the two expression kinds ---- */

struct sdcal;
struct cron;

/* systemd calendar syntax: parse, next (µs, strictly after), normalised form. */
int sdcal_parse(const char *expr, struct sdcal **out, char *err, size_t errlen);
int sdcal_next(const struct sdcal *s, int64_t after_us, int64_t *next_us);
const char *sdcal_normalized(const struct sdcal *s);
const char *sdcal_zone(const struct sdcal *s);
void sdcal_free(struct sdcal *s);

/* Cron syntax: whether EXPR looks like cron, parse, next (s, strictly after). */
bool cron_is_cron(const char *expr);
int cron_parse(const char *expr, struct cron **out, char *err, size_t errlen);
int cron_next(const struct cron *c, int64_t after_ns, int64_t *next_ns);
const char *cron_normalized(const struct cron *c);
const char *cron_zone(const struct cron *c);
void cron_free(struct cron *c);

#endif /* TIMERD_CAL_INT_H */
