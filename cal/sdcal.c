/*
 * sdcal.c -- systemd.time(7) calendar expressions, as systemd 252 parses,
 * normalises and computes them (src/shared/calendarspec.c is the reference;
 * this is a re-implementation, checked against systemd-analyze by
 * tests/cal/sd-compare.sh).
 *
 * systemd searches field by field through a broken-down local time and lets
 * glibc's mktime() normalise it after each step, with tm_isdst = -1. Local
 * times that do not exist or occur twice at a DST change are therefore
 * resolved the way glibc's mktime resolves them: its guess of the UT offset is
 * the offset of the previous call's result, and it follows the offset found
 * there; in a gap it prefers the DST side. sdcal_mktime below reproduces that
 * algorithm (per call of sdcal_next, no process-wide state), so the elapses
 * are systemd's. Where systemd gives up (EDEADLK: the search would go
 * backwards, or 1000 rounds), sdcal_fallback finds the next elapse by the
 * rule systemd follows everywhere else (doc/calendar.md): a local time that does
 * not exist is skipped, a repeated local time elapses at its first occurrence.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cal/cal-int.h"
#include "core/err.h"

#define SD_USEC 1000000
#define SD_MIN_YEAR 1970
#define SD_CHAIN_MAX 240
#define SD_WEEKDAYS_ALL 127
#define SD_ITER_MAX 1000
/* systemd's USEC_TIMESTAMP_FORMATTABLE_MAX on 64-bit: 9999-12-30 23:59:59.999999 UTC */
#define SD_USEC_MAX INT64_C(253402214399999999)

enum { SD_YEAR, SD_MONTH, SD_DAY, SD_HOUR, SD_MINUTE, SD_USECS, SD_NFIELDS };

struct sd_comp {
	int start, stop, repeat;	/* stop -1: none; repeat 0: none */
};

struct sd_chain {
	struct sd_comp *v;
	int n;			/* 0: '*' (any), except SD_USECS where '*' is 0/1s */
};

struct sdcal {
	struct sd_chain f[SD_NFIELDS];
	int weekdays;		/* bit 0 Monday; -1 any */
	bool end_of_month;
	bool utc;
	struct tz_slot *zone;	/* NULL with utc */
	char *norm;
};

/* A broken-down time, like struct tm but with the full year. */
struct sd_tm {
	int year, mon, mday, hour, min, sec;	/* mon 0..11 */
	int isdst, wday;
};

/* One next-elapse computation: the zone, glibc's offset guess (mktime's static), and
 * one-entry caches of the last day and month converted (find_next converts the same
 * few dates over and over). */
struct sd_ctx {
	const struct sdcal *s;
	const struct tz *z;
	int64_t guess;		/* t - naive of the previous mktime result */
	int64_t day;		/* cache: day number -> year, mon, mday, wday */
	int day_y, day_m, day_d, day_wd;
	int mon_y, mon_m;	/* cache: (year, month 0..11) -> day number of its 1st */
	int64_t mon_days;
};

#define SD_CTX_INIT(spec, zone) { .s = (spec), .z = (zone), .guess = 0, .day = INT64_MIN, .mon_y = INT_MIN }

/* ---- time conversion ---- */

/* Seconds of the naive (as-if-UTC) reading of tm, normalising out-of-range fields linearly. */
static int64_t sd_naive(struct sd_ctx *x, const struct sd_tm *tm)
{
	int y = tm->year, m = tm->mon;

	if (m < 0 || m > 11) {
		y += (int)cal_fdiv(m, 12);
		m = (int)cal_fmod(m, 12);
	}
	if (y != x->mon_y || m != x->mon_m) {
		x->mon_y = y;
		x->mon_m = m;
		x->mon_days = cal_days_from_civil(y, m + 1, 1);
	}
	return (x->mon_days + tm->mday - 1) * 86400 + (int64_t)tm->hour * 3600 + (int64_t)tm->min * 60 + tm->sec;
}

/* Breaks naive seconds into tm (wday too). */
static void sd_break(struct sd_ctx *x, int64_t naive, struct sd_tm *tm)
{
	int64_t days = cal_fdiv(naive, 86400), y;
	int r = (int)(naive - days * 86400), m, d;

	if (days != x->day) {
		cal_civil_from_days(days, &y, &m, &d);
		x->day = days;
		x->day_y = (int)y;
		x->day_m = m - 1;
		x->day_d = d;
		x->day_wd = (int)cal_fmod(days + 4, 7);
	}
	tm->year = x->day_y;
	tm->mon = x->day_m;
	tm->mday = x->day_d;
	tm->wday = x->day_wd;
	tm->hour = r / 3600;
	tm->min = r / 60 % 60;
	tm->sec = r % 60;
}

/* localtime_r / gmtime_r. */
static void sd_local(struct sd_ctx *x, int64_t t, struct sd_tm *tm)
{
	const struct tz_type *ty = x->z ? tz_at(x->z, t) : NULL;

	sd_break(x, t + (ty ? ty->off : 0), tm);
	tm->isdst = ty ? ty->isdst : 0;
}

/* mktime (glibc's __mktime_internal, with x->guess as its localtime_offset) or timegm;
 * normalises *tm and returns the time, or INT64_MIN where glibc returns -1. */
static int64_t sd_mktime(struct sd_ctx *x, struct sd_tm *tm)
{
	int64_t naive = sd_naive(x, tm), t, t1, t2, dt;
	int isdst = tm->isdst, probes = 6;
	bool dst2 = false;
	const struct tz_type *ty;

	if (!x->z) {
		/* timegm: fields already in range stay as they are (most calls of the search). */
		if (tm->mon >= 0 && tm->mon <= 11 && tm->mday >= 1 && tm->mday <= cal_mdays(tm->year, tm->mon + 1) &&
		    tm->hour >= 0 && tm->hour <= 23 && tm->min >= 0 && tm->min <= 59 && tm->sec >= 0 && tm->sec <= 59)
			tm->wday = (int)cal_fmod(x->mon_days + tm->mday - 1 + 4, 7);
		else
			sd_break(x, naive, tm);
		tm->isdst = 0;
		return naive;
	}
	t = t1 = t2 = naive + x->guess;
	for (;;) {
		ty = tz_at(x->z, t);
		dt = naive - (t + ty->off);
		if (dt == 0)
			break;
		if (t == t1 && t != t2 && (isdst < 0 ? dst2 <= (ty->isdst != 0) : (isdst != 0) != (ty->isdst != 0)))
			goto found;	/* oscillating across a gap: keep this side */
		if (--probes == 0)
			return INT64_MIN;
		t1 = t2;
		t2 = t;
		t += dt;
		dst2 = ty->isdst != 0;
	}
	if (isdst >= 0 && (isdst != 0) != (ty->isdst != 0)) {
		/* Wrong isdst: borrow the offset of the nearest time with the requested one. */
		const int64_t stride = 601200, bound = 536454000 / 2 + stride;

		for (int64_t delta = stride; delta < bound; delta += stride)
			for (int dir = -1; dir <= 1; dir += 2) {
				int64_t ot = t + delta * dir;
				const struct tz_type *oty = tz_at(x->z, ot);

				if ((oty->isdst != 0) == (isdst != 0)) {
					t = ot + (naive - (ot + oty->off));
					goto found;
				}
			}
	}
found:
	x->guess = t - naive;
	sd_local(x, t, tm);
	return t;
}

/* ---- find_next ---- */

/* The day number of the DAY-th last day (0: last) of tm's month, or -1 (systemd's find_end_of_month). */
static int sd_end_of_month(struct sd_ctx *x, const struct sd_tm *tm, int day)
{
	struct sd_tm t = *tm;

	t.mon++;
	t.mday = 1 - day;
	if (sd_mktime(x, &t) == INT64_MIN || t.mon != tm->mon)
		return -1;
	return t.mday;
}

/* The earliest value >= *val the chain allows: 1 if *val changed, 0 if not, -1 if none. */
static int sd_match(struct sd_ctx *x, int field, const struct sd_tm *tm, int *val)
{
	const struct sd_chain *ch = &x->s->f[field];
	bool eom = x->s->end_of_month && field == SD_DAY;
	int d = -1;
	bool set = false;

	if (!ch->n)
		return 0;
	for (int i = 0; i < ch->n; i++) {
		const struct sd_comp *c = &ch->v[i];
		int start = c->start, stop = c->stop;

		if (eom) {
			start = sd_end_of_month(x, tm, c->start);
			stop = sd_end_of_month(x, tm, c->stop);
			if (stop > 0) {
				int tmp = start;

				start = stop;
				stop = tmp;
			}
		}
		if (start >= *val) {
			if (!set || start < d) {
				d = start;
				set = true;
			}
		} else if (c->repeat > 0) {
			int k = start + c->repeat * ((*val - start + c->repeat - 1) / c->repeat);

			if ((!set || k < d) && (stop < 0 || k <= stop)) {
				d = k;
				set = true;
			}
		}
	}
	if (!set)
		return -1;
	int r = *val != d;
	*val = d;
	return r;
}

/* systemd's tm_within_bounds: 1 in bounds, 0 normalised forward (tm updated), <0 error
 * (-ERANGE past CAL_MAX_YEAR, -EDEADLK if normalising went backwards). */
static int sd_bounds(struct sd_ctx *x, struct sd_tm *tm)
{
	struct sd_tm t;
	int cmp;

	if (tm->year > CAL_MAX_YEAR)
		return -ERANGE;
	t = *tm;
	if (sd_mktime(x, &t) < 0)
		return -EINVAL;
#define SD_CMP(a, b) (((a) > (b)) - ((a) < (b)))
	if ((cmp = SD_CMP(t.year, tm->year)) != 0)
		t.mon = 0;
	else if ((cmp = SD_CMP(t.mon, tm->mon)) != 0)
		t.mday = 1;
	else if ((cmp = SD_CMP(t.mday, tm->mday)) != 0)
		t.hour = 0;
	else if ((cmp = SD_CMP(t.hour, tm->hour)) != 0)
		t.min = 0;
	else if ((cmp = SD_CMP(t.min, tm->min)) != 0)
		t.sec = 0;
	else
		cmp = SD_CMP(t.sec, tm->sec);
#undef SD_CMP
	if (cmp < 0)
		return -EDEADLK;
	if (cmp > 0)
		*tm = t;
	return cmp == 0;
}

/* Whether tm's weekday is allowed. */
static bool sd_weekday(struct sd_ctx *x, const struct sd_tm *tm)
{
	struct sd_tm t = *tm;

	if (x->s->weekdays < 0)
		return true;
	if (sd_mktime(x, &t) < 0)
		return false;
	return x->s->weekdays & (1 << (t.wday == 0 ? 6 : t.wday - 1));
}

/* Whether a's fields come before b's. */
static bool sd_tm_before(const struct sd_tm *a, const struct sd_tm *b)
{
	const int x[] = { a->year, a->mon, a->mday, a->hour, a->min, a->sec };
	const int y[] = { b->year, b->mon, b->mday, b->hour, b->min, b->sec };

	for (int i = 0; i < 6; i++)
		if (x[i] != y[i])
			return x[i] < y[i];
	return false;
}

/* systemd's find_next: the first matching time at or after (*tm, *usec); 0, -ENOENT or -EDEADLK. */
static int sd_find_next(struct sd_ctx *x, struct sd_tm *tm, int *usec)
{
	struct sd_tm c = *tm;
	int u = *usec, r, last_isdst = c.isdst;

	for (int iter = 0; iter < SD_ITER_MAX; iter++) {
		struct sd_tm pre = c;

		(void)sd_mktime(x, &c);
		if (sd_tm_before(&c, &pre)) {
			/* Normalising went backwards (a gap where DST is negative, Europe/Dublin):
			 * normalise again with the isdst of the previous round, which lands after
			 * the gap. Debian's systemd 252.38 has a fix of this kind (upstream PR
			 * 36897); this rule is the one that gives its results (sd-compare.sh). */
			c = pre;
			c.isdst = last_isdst;
			(void)sd_mktime(x, &c);
		}
		last_isdst = c.isdst;
		c.isdst = -1;

		r = sd_match(x, SD_YEAR, &c, &c.year);
		if (r > 0) {
			c.mon = 0;
			c.mday = 1;
			c.hour = c.min = c.sec = u = 0;
		}
		if (r < 0)
			return -ENOENT;
		if (sd_bounds(x, &c) <= 0)
			return -ENOENT;

		c.mon++;
		r = sd_match(x, SD_MONTH, &c, &c.mon);
		c.mon--;
		if (r > 0) {
			c.mday = 1;
			c.hour = c.min = c.sec = u = 0;
		}
		if (r < 0 || (r = sd_bounds(x, &c)) < 0) {
			c.year++;
			c.mon = 0;
			c.mday = 1;
			c.hour = c.min = c.sec = u = 0;
			continue;
		}
		if (r == 0)
			continue;

		r = sd_match(x, SD_DAY, &c, &c.mday);
		if (r > 0)
			c.hour = c.min = c.sec = u = 0;
		if (r < 0 || (r = sd_bounds(x, &c)) < 0) {
			c.mon++;
			c.mday = 1;
			c.hour = c.min = c.sec = u = 0;
			continue;
		}
		if (r == 0)
			continue;

		if (!sd_weekday(x, &c)) {
			c.mday++;
			c.hour = c.min = c.sec = u = 0;
			continue;
		}

		r = sd_match(x, SD_HOUR, &c, &c.hour);
		if (r > 0)
			c.min = c.sec = u = 0;
		if (r < 0 || (r = sd_bounds(x, &c)) < 0) {
			c.mday++;
			c.hour = c.min = c.sec = u = 0;
			continue;
		}
		if (r == 0)
			continue;

		r = sd_match(x, SD_MINUTE, &c, &c.min);
		if (r > 0)
			c.sec = u = 0;
		if (r < 0 || (r = sd_bounds(x, &c)) < 0) {
			c.hour++;
			c.min = c.sec = u = 0;
			continue;
		}
		if (r == 0)
			continue;

		c.sec = c.sec * SD_USEC + u;
		r = sd_match(x, SD_USECS, &c, &c.sec);
		u = c.sec % SD_USEC;
		c.sec /= SD_USEC;
		if (r < 0 || (r = sd_bounds(x, &c)) < 0) {
			c.min++;
			c.sec = u = 0;
			continue;
		}
		if (r == 0)
			continue;

		*tm = c;
		*usec = u;
		return 0;
	}
	return -EDEADLK;
}

/* systemd's calendar_spec_next_usec_impl: 0, -ENOENT, -EDEADLK or -EINVAL. */
static int sd_next_impl(struct sd_ctx *x, int64_t after_us, int64_t *next_us)
{
	struct sd_tm tm;
	int64_t us = after_us + 1, t;
	int u, r;

	if (after_us > SD_USEC_MAX)
		return -EINVAL;
	t = cal_fdiv(us, SD_USEC);
	u = (int)(us - t * SD_USEC);
	sd_local(x, t, &tm);
	if ((r = sd_find_next(x, &tm, &u)) < 0)
		return r;
	if ((t = sd_mktime(x, &tm)) < 0)
		return -EINVAL;
	*next_us = t * SD_USEC + u;
	return 0;
}

/* The instant of local time W (naive seconds) by the fallback rule: its first
 * occurrence; INT64_MAX when it does not exist (a gap: skipped, as systemd does). */
static int64_t sd_fallback_instant(const struct tz *z, int64_t w)
{
	int64_t lo = w - 26 * 3600, hi = w + 26 * 3600, best = INT64_MAX;
	const struct tz_type *prev = tz_at(z, lo);
	size_t i = 0;

	/* Offsets lie within [-26h, +26h]: try the offset of each type in force around w. */
	while (i < z->n && z->at[i] <= lo)
		i++;
	for (;; i++) {
		int64_t t = w - prev->off;

		if (tz_at(z, t) == prev && t < best)
			best = t;
		if (i >= z->n || z->at[i] > hi)
			break;
		prev = &z->types[z->ty[i]];
	}
	return best;
}

/* The next elapse after AFTER_US by the fallback rule (where systemd gives up). */
static int sd_fallback(const struct sdcal *s, const struct tz *z, int64_t after_us, int64_t *next_us)
{
	struct sd_ctx u = SD_CTX_INIT(s, NULL);
	int64_t after_s = cal_fdiv(after_us, SD_USEC);
	int64_t w = (after_s + tz_at(z, after_s)->off - 27 * 3600) * SD_USEC, best = INT64_MAX;

	/* Walk the matching wall times (the expression read in UTC) from a day before; an
	 * instant is at most 26 h from its wall time, so stop 27 h past the best so far. */
	for (int i = 0; i < 200000; i++) {
		int64_t nw, ws, frac, t;

		if (sd_next_impl(&u, w, &nw) < 0)
			break;
		ws = cal_fdiv(nw, SD_USEC);
		frac = nw - ws * SD_USEC;
		t = sd_fallback_instant(z, ws);
		if (t != INT64_MAX && t * SD_USEC + frac > after_us && t * SD_USEC + frac < best)
			best = t * SD_USEC + frac;
		if (best != INT64_MAX && ws - 27 * 3600 > best / SD_USEC)
			break;
		w = nw;
	}
	if (best == INT64_MAX)
		return -ENOENT;
	*next_us = best;
	return 0;
}

/* The fast path: where the zone's offset does not change from a day before AFTER to a day
 * (or, with '~', a month) after the result, every mktime of the search is timegm shifted by
 * that offset, so the search runs on wall time in UTC mode. False if it does not apply. */
static bool sd_next_fixed(const struct sdcal *s, const struct tz *z, int64_t after_us, int64_t *next_us, int *r)
{
	struct sd_ctx u = SD_CTX_INIT(s, NULL);
	int64_t after_s = cal_fdiv(after_us, SD_USEC), wall_us;
	size_t pos = tz_pos(z, after_s - 86400);
	int32_t off = pos ? z->types[z->ty[pos - 1]].off : z->types[0].off;

	if (after_us > SD_USEC_MAX)
		return false;
	if ((*r = sd_next_impl(&u, after_us + (int64_t)off * SD_USEC, &wall_us)) == -ENOENT)
		return tz_pos(z, INT64_MAX / 4) == pos;	/* never: only if no change ever after */
	if (*r < 0)
		return false;
	*next_us = wall_us - (int64_t)off * SD_USEC;
	return tz_pos(z, cal_fdiv(*next_us, SD_USEC) + (s->end_of_month ? 33 : 1) * 86400) == pos;
}

int sdcal_next(const struct sdcal *s, int64_t after_us, int64_t *next_us)
{
	struct sd_ctx x = SD_CTX_INIT(s, NULL);
	unsigned tok = 0;
	int r;

	if (after_us < -1)
		after_us = -1;
	if (s->zone)
		x.z = tz_enter(s->zone, &tok);
	if (!x.z || !sd_next_fixed(s, x.z, after_us, next_us, &r)) {
		r = sd_next_impl(&x, after_us, next_us);
		/* Never early: a search that did not move forward counts as one systemd gave up on. */
		if (r == 0 && *next_us <= after_us)
			r = -EDEADLK;
		if (r == -EDEADLK && x.z)
			r = sd_fallback(s, x.z, after_us, next_us);
	}
	if (s->zone)
		tz_leave(tok);
	return r == 0 ? 0 : r == -ENOMEM ? TD_ENOMEM : TD_ENOENT;
}

/* ---- parsing ---- */

struct sd_parse {
	struct sdcal *s;
	char *err;
	size_t errlen;
	const char *expr;
};

/* Sets the error message (once) and returns TD_EINVAL. */
static int sd_fail(struct sd_parse *p, const char *at, const char *what)
{
	if (p->err && p->errlen && !p->err[0]) {
		if (at && *at)
			td_errf(p->err, p->errlen, "%s at '%.40s' in '%s'", what, at, p->expr);
		else
			td_errf(p->err, p->errlen, "%s in '%s'", what, p->expr);
	}
	return TD_EINVAL;
}

/* Appends a component to a chain. */
static int sd_push(struct sd_chain *ch, int start, int stop, int repeat)
{
	struct sd_comp *v = realloc(ch->v, (size_t)(ch->n + 1) * sizeof(*v));

	if (!v)
		return TD_ENOMEM;
	ch->v = v;
	v[ch->n++] = (struct sd_comp){ start, stop, repeat };
	return 0;
}

/* Parses "digits[.fraction]" (fraction only for seconds, rounded at the 7th digit). */
static int sd_decimal(const char **pp, bool usec, int *out)
{
	const char *p = *pp;
	unsigned long long v = 0;

	if (!isdigit((unsigned char)*p))
		return -EINVAL;
	while (isdigit((unsigned char)*p)) {
		v = v * 10 + (unsigned)(*p++ - '0');
		if (v > INT_MAX)
			return -ERANGE;
	}
	if (usec) {
		v *= SD_USEC;
		if (p[0] == '.' && p[1] != '.') {
			unsigned add = 0;
			int i;

			p++;
			for (i = 0; i < 6; i++, p++) {
				if (!isdigit((unsigned char)*p)) {
					if (i == 0)
						return -EINVAL;
					for (; i < 6; i++)
						add *= 10;
					break;
				}
				add = add * 10 + (unsigned)(*p - '0');
			}
			if (*p >= '5' && *p <= '9')
				add++;
			while (isdigit((unsigned char)*p))
				p++;
			v += add;
		}
	}
	if (v > INT_MAX)
		return -ERANGE;
	*pp = p;
	*out = (int)v;
	return 0;
}

/* Parses a comma list of components (systemd's prepend_component). */
static int sd_components(struct sd_parse *ps, const char **pp, bool usec, struct sd_chain *ch)
{
	const char *e = *pp;

	for (int nest = 0;; nest++) {
		int start, stop = -1, repeat = 0, r;

		if (nest > SD_CHAIN_MAX)
			return sd_fail(ps, e, "too many components");
		if ((r = sd_decimal(&e, usec, &start)) < 0)
			return sd_fail(ps, e, r == -ERANGE ? "number out of range" : "expected a number");
		if (e[0] == '.' && e[1] == '.') {
			e += 2;
			if ((r = sd_decimal(&e, usec, &stop)) < 0)
				return sd_fail(ps, e, r == -ERANGE ? "number out of range" : "expected a number after '..'");
			repeat = usec ? SD_USEC : 1;
		}
		if (*e == '/') {
			e++;
			if ((r = sd_decimal(&e, usec, &repeat)) < 0)
				return sd_fail(ps, e, r == -ERANGE ? "number out of range" : "expected a number after '/'");
			if (repeat == 0)
				return sd_fail(ps, e, "a repetition of 0");
		} else {
			if (start > INT_MAX - repeat)
				return sd_fail(ps, e, "number out of range");
			if (usec && stop >= 0 && start + repeat > stop)
				return sd_fail(ps, e, "a seconds range shorter than 1s needs a '/' repetition");
		}
		if (!strchr(" ,-~:", *e) && *e)
			return sd_fail(ps, e, "unexpected character");
		if ((r = sd_push(ch, start, stop, repeat)) < 0)
			return r;
		if (*e != ',')
			break;
		e++;
	}
	*pp = e;
	return 0;
}

/* Parses '*' or components. */
static int sd_chain_parse(struct sd_parse *ps, const char **pp, bool usec, struct sd_chain *ch)
{
	if (**pp == '*') {
		(*pp)++;
		return usec ? sd_push(ch, 0, -1, SD_USEC) : 0;
	}
	return sd_components(ps, pp, usec, ch);
}

/* Frees a chain's components. */
static void sd_chain_clear(struct sd_chain *ch)
{
	free(ch->v);
	ch->v = NULL;
	ch->n = 0;
}

/* Parses the weekday list; 0 with *pp past it (or untouched when there is none). */
static int sd_weekdays_parse(struct sd_parse *ps, const char **pp)
{
	static const struct { const char *name; int nr; } days[] = {
		{ "Monday", 0 }, { "Mon", 0 }, { "Tuesday", 1 }, { "Tue", 1 }, { "Wednesday", 2 }, { "Wed", 2 },
		{ "Thursday", 3 }, { "Thu", 3 }, { "Friday", 4 }, { "Fri", 4 }, { "Saturday", 5 }, { "Sat", 5 },
		{ "Sunday", 6 }, { "Sun", 6 },
	};
	const char *p = *pp;
	int l = -1;
	bool first = true;

	for (;;) {
		size_t i, skip = 0;

		for (i = 0; i < sizeof(days) / sizeof(days[0]); i++) {
			skip = strlen(days[i].name);
			if (!strncasecmp(p, days[i].name, skip))
				break;
		}
		if (i == sizeof(days) / sizeof(days[0])) {
			if (first)
				return 0;
			return sd_fail(ps, p, "expected a weekday");
		}
		if (!strchr("-., ", p[skip]))
			return sd_fail(ps, p, "unknown weekday");
		ps->s->weekdays |= 1 << days[i].nr;
		if (l >= 0) {
			if (l > days[i].nr)
				return sd_fail(ps, p, "weekday range goes backwards");
			for (int j = l + 1; j < days[i].nr; j++)
				ps->s->weekdays |= 1 << j;
		}
		p += skip;
		if (!*p) {
			*pp = p;
			return 0;
		}
		if (*p == ' ') {
			*pp = p + strspn(p, " ");
			return 0;
		}
		if (*p == '.') {
			if (l >= 0 || p[1] != '.')
				return sd_fail(ps, p, "bad weekday range");
			l = days[i].nr;
			p += 2;
		} else if (*p == '-') {
			if (l >= 0)
				return sd_fail(ps, p, "bad weekday range");
			l = days[i].nr;
			p++;
		} else if (*p == ',') {
			l = -1;
			p++;
		}
		if (!*p || *p == ' ') {
			if (l >= 0)
				return sd_fail(ps, p, "open weekday range");
			*pp = p + strspn(p, " ");
			return 0;
		}
		first = false;
	}
}

/* Sets the fields of "@SECONDS" (a fixed UTC time). */
static int sd_epoch(struct sd_parse *ps, int64_t secs)
{
	struct sd_ctx x = SD_CTX_INIT(NULL, NULL);
	struct sd_tm tm;
	struct sdcal *s = ps->s;
	int rc;

	sd_break(&x, secs, &tm);
	s->utc = true;
	if ((rc = sd_push(&s->f[SD_YEAR], tm.year, -1, 0)) < 0 || (rc = sd_push(&s->f[SD_MONTH], tm.mon + 1, -1, 0)) < 0 ||
	    (rc = sd_push(&s->f[SD_DAY], tm.mday, -1, 0)) < 0 || (rc = sd_push(&s->f[SD_HOUR], tm.hour, -1, 0)) < 0 ||
	    (rc = sd_push(&s->f[SD_MINUTE], tm.min, -1, 0)) < 0 || (rc = sd_push(&s->f[SD_USECS], tm.sec * SD_USEC, -1, 0)) < 0)
		return rc;
	return 0;
}

/* Parses the date part; 1 when it was "@SECONDS" (no time follows). */
static int sd_date(struct sd_parse *ps, const char **pp)
{
	struct sd_chain a = { 0 }, b = { 0 }, c = { 0 };
	struct sdcal *s = ps->s;
	const char *t = *pp;
	int r;

	if (!*t)
		return 0;
	if (*t == '@') {
		unsigned long long v = 0;

		t++;
		if (!isdigit((unsigned char)*t))
			return sd_fail(ps, t, "expected seconds after '@'");
		while (isdigit((unsigned char)*t)) {
			v = v * 10 + (unsigned)(*t++ - '0');
			if (v > INT64_C(67767976233316604))
				return sd_fail(ps, t, "number out of range");
		}
		if ((r = sd_epoch(ps, (int64_t)v)) < 0)
			return r;
		*pp = t;
		return 1;
	}
	if ((r = sd_chain_parse(ps, &t, false, &a)) < 0)
		goto fail;
	if (!*t || *t == ':') {	/* a time, not a date */
		sd_chain_clear(&a);
		return 0;
	}
	if (*t == '~')
		s->end_of_month = true;
	else if (*t != '-') {
		r = sd_fail(ps, t, "expected '-' in the date");
		goto fail;
	}
	t++;
	if ((r = sd_chain_parse(ps, &t, false, &b)) < 0)
		goto fail;
	if (!*t || *t == ' ') {
		*pp = t + strspn(t, " ");
		s->f[SD_MONTH] = a;
		s->f[SD_DAY] = b;
		return 0;
	}
	if (s->end_of_month) {
		r = sd_fail(ps, t, "'~' must come between month and day");
		goto fail;
	}
	if (*t == '~')
		s->end_of_month = true;
	else if (*t != '-') {
		r = sd_fail(ps, t, "expected '-' in the date");
		goto fail;
	}
	t++;
	if ((r = sd_chain_parse(ps, &t, false, &c)) < 0)
		goto fail;
	if (*t && *t != ' ') {
		r = sd_fail(ps, t, "unexpected character after the date");
		goto fail;
	}
	*pp = t + strspn(t, " ");
	s->f[SD_YEAR] = a;
	s->f[SD_MONTH] = b;
	s->f[SD_DAY] = c;
	return 0;
fail:
	sd_chain_clear(&a);
	sd_chain_clear(&b);
	sd_chain_clear(&c);
	return r;
}

/* Parses the time part ("" is 00:00:00; hh:mm means seconds 0). */
static int sd_time(struct sd_parse *ps, const char **pp)
{
	struct sd_chain h = { 0 }, m = { 0 }, sec = { 0 };
	struct sdcal *s = ps->s;
	const char *t = *pp;
	int r;

	if (!*t) {
		if ((r = sd_push(&h, 0, -1, 0)) < 0 || (r = sd_push(&m, 0, -1, 0)) < 0 || (r = sd_push(&sec, 0, -1, 0)) < 0)
			goto fail;
		goto done;
	}
	if ((r = sd_chain_parse(ps, &t, false, &h)) < 0)
		goto fail;
	if (*t != ':') {
		r = sd_fail(ps, t, "expected ':' in the time");
		goto fail;
	}
	t++;
	if ((r = sd_chain_parse(ps, &t, false, &m)) < 0)
		goto fail;
	if (!*t) {
		if ((r = sd_push(&sec, 0, -1, 0)) < 0)
			goto fail;
		goto done;
	}
	if (*t != ':') {
		r = sd_fail(ps, t, "expected ':' in the time");
		goto fail;
	}
	t++;
	if ((r = sd_chain_parse(ps, &t, true, &sec)) < 0)
		goto fail;
	if (*t) {
		r = sd_fail(ps, t, "unexpected text after the time");
		goto fail;
	}
done:
	*pp = t;
	s->f[SD_HOUR] = h;
	s->f[SD_MINUTE] = m;
	s->f[SD_USECS] = sec;
	return 0;
fail:
	sd_chain_clear(&h);
	sd_chain_clear(&m);
	sd_chain_clear(&sec);
	return r;
}

/* Orders components like systemd (start, stop, repeat). */
static int sd_comp_cmp(const void *a, const void *b)
{
	const struct sd_comp *x = a, *y = b;

	if (x->start != y->start)
		return (x->start > y->start) - (x->start < y->start);
	if (x->stop != y->stop)
		return (x->stop > y->stop) - (x->stop < y->stop);
	return (x->repeat > y->repeat) - (x->repeat < y->repeat);
}

/* systemd's normalize_chain: trims ranges to whole repeats, sorts, drops duplicates. */
static void sd_chain_normalize(struct sd_chain *ch)
{
	int n = 0;

	for (int i = 0; i < ch->n; i++) {
		struct sd_comp *c = &ch->v[i];

		if (c->stop > c->start && c->repeat > 0)
			c->stop -= (c->stop - c->start) % c->repeat;
		if ((c->stop > c->start && c->repeat > 0 && c->start + c->repeat > c->stop) || c->start == c->stop) {
			c->repeat = 0;
			c->stop = -1;
		}
	}
	if (ch->n <= 1)
		return;
	qsort(ch->v, (size_t)ch->n, sizeof(*ch->v), sd_comp_cmp);
	for (int i = 0; i < ch->n; i++)
		if (!n || sd_comp_cmp(&ch->v[n - 1], &ch->v[i]))
			ch->v[n++] = ch->v[i];
	ch->n = n;
}

/* systemd's chain_valid. */
static bool sd_chain_valid(const struct sd_chain *ch, int from, int to, bool eom)
{
	if (eom)
		to -= 3;
	for (int i = 0; i < ch->n; i++) {
		const struct sd_comp *c = &ch->v[i];

		if (c->start < from || c->start > to || c->repeat > to - from)
			return false;
		if (c->stop >= 0) {
			if (c->stop < from || c->stop > to || c->start + c->repeat > c->stop)
				return false;
		} else if ((eom && c->start - c->repeat < from) || (!eom && c->start + c->repeat > to)) {
			return false;
		}
	}
	return true;
}

/* Normalises and validates the parsed fields (systemd's calendar_spec_normalize and _valid). */
static int sd_finish(struct sd_parse *ps)
{
	static const int lim[SD_NFIELDS][2] = {
		{ SD_MIN_YEAR, CAL_MAX_YEAR }, { 1, 12 }, { 1, 31 }, { 0, 23 }, { 0, 59 }, { 0, 60 * SD_USEC - 1 },
	};
	static const char *const names[SD_NFIELDS] = { "year", "month", "day", "hour", "minute", "second" };
	struct sdcal *s = ps->s;

	if (s->weekdays <= 0 || s->weekdays >= SD_WEEKDAYS_ALL)
		s->weekdays = -1;
	if (s->end_of_month && !s->f[SD_DAY].n)
		s->end_of_month = false;
	for (int i = 0; i < s->f[SD_YEAR].n; i++) {
		struct sd_comp *c = &s->f[SD_YEAR].v[i];

		if (c->start >= 0 && c->start < 70)
			c->start += 2000;
		else if (c->start >= 70 && c->start < 100)
			c->start += 1900;
		if (c->stop >= 0 && c->stop < 70)
			c->stop += 2000;
		else if (c->stop >= 70 && c->stop < 100)
			c->stop += 1900;
	}
	for (int f = 0; f < SD_NFIELDS; f++) {
		sd_chain_normalize(&s->f[f]);
		if (!sd_chain_valid(&s->f[f], lim[f][0], lim[f][1], f == SD_DAY && s->end_of_month)) {
			char what[64];

			snprintf(what, sizeof(what), "%s out of range", names[f]);
			return sd_fail(ps, NULL, what);
		}
	}
	return 0;
}

/* Appends to a growing string. */
struct sd_buf {
	char b[2048];
	size_t n;
	bool over;
};

static void sd_put(struct sd_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* printf into the buffer. */
static void sd_put(struct sd_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(b->b + b->n, sizeof(b->b) - b->n, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(b->b) - b->n)
		b->over = true;
	else
		b->n += (size_t)n;
}

/* Formats a chain as systemd's format_chain does. */
static void sd_fmt_chain(struct sd_buf *b, int width, const struct sd_chain *ch, bool usec)
{
	int d = usec ? SD_USEC : 1;

	if (!ch->n) {
		sd_put(b, "*");
		return;
	}
	if (usec)
		for (int i = 0; i < ch->n; i++)
			if (ch->v[i].start == 0 && ch->v[i].stop < 0 && ch->v[i].repeat == SD_USEC) {
				sd_put(b, "*");
				return;
			}
	for (int i = 0; i < ch->n; i++) {
		const struct sd_comp *c = &ch->v[i];

		if (i)
			sd_put(b, ",");
		sd_put(b, "%0*i", width, c->start / d);
		if (c->start % d > 0)
			sd_put(b, ".%06i", c->start % d);
		if (c->stop > 0)
			sd_put(b, "..%0*i", width, c->stop / d);
		if (c->stop % d > 0)
			sd_put(b, ".%06i", c->stop % d);
		if (c->repeat > 0 && !(c->stop > 0 && c->repeat == d))
			sd_put(b, "/%i", c->repeat / d);
		if (c->repeat % d > 0)
			sd_put(b, ".%06i", c->repeat % d);
	}
}

/* Formats the weekday set as systemd does (runs of 3 or more as ranges). */
static void sd_fmt_weekdays(struct sd_buf *b, int bits)
{
	static const char *const days[] = { "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun" };
	bool comma = false;
	int x, l;

	for (x = 0, l = -1; x < 7; x++) {
		if (bits & (1 << x)) {
			if (l < 0) {
				sd_put(b, "%s%s", comma ? "," : "", days[x]);
				comma = true;
				l = x;
			}
		} else if (l >= 0) {
			if (x > l + 1)
				sd_put(b, "%s%s", x > l + 2 ? ".." : ",", days[x - 1]);
			l = -1;
		}
	}
	if (l >= 0 && x > l + 1)
		sd_put(b, "%s%s", x > l + 2 ? ".." : ",", days[x - 1]);
}

/* Builds the normalised form (systemd's calendar_spec_to_string). */
static int sd_format(struct sdcal *s)
{
	struct sd_buf b = { .n = 0 };

	if (s->weekdays > 0) {
		sd_fmt_weekdays(&b, s->weekdays);
		sd_put(&b, " ");
	}
	sd_fmt_chain(&b, 4, &s->f[SD_YEAR], false);
	sd_put(&b, "-");
	sd_fmt_chain(&b, 2, &s->f[SD_MONTH], false);
	sd_put(&b, "%c", s->end_of_month ? '~' : '-');
	sd_fmt_chain(&b, 2, &s->f[SD_DAY], false);
	sd_put(&b, " ");
	sd_fmt_chain(&b, 2, &s->f[SD_HOUR], false);
	sd_put(&b, ":");
	sd_fmt_chain(&b, 2, &s->f[SD_MINUTE], false);
	sd_put(&b, ":");
	sd_fmt_chain(&b, 2, &s->f[SD_USECS], true);
	if (s->utc)
		sd_put(&b, " UTC");
	else if (s->zone && *tz_slot_name(s->zone))
		sd_put(&b, " %s", tz_slot_name(s->zone));
	if (b.over)
		return TD_ENOMEM;
	return (s->norm = strdup(b.b)) ? 0 : TD_ENOMEM;
}

/* Fills the fields of a shorthand ("daily"); false if P is none. */
static int sd_shorthand(struct sdcal *s, const char *p, bool *found)
{
	static const struct { const char *name; const char *months; int day, hour, minute, weekly; } sh[] = {
		{ "minutely", NULL, -1, -1, -1, 0 },
		{ "hourly", NULL, -1, -1, 0, 0 },
		{ "daily", NULL, -1, 0, 0, 0 },
		{ "monthly", NULL, 1, 0, 0, 0 },
		{ "annually", "1", 1, 0, 0, 0 },
		{ "yearly", "1", 1, 0, 0, 0 },
		{ "anually", "1", 1, 0, 0, 0 },
		{ "weekly", NULL, -1, 0, 0, 1 },
		{ "quarterly", "1,4,7,10", 1, 0, 0, 0 },
		{ "biannually", "1,7", 1, 0, 0, 0 },
		{ "bi-annually", "1,7", 1, 0, 0, 0 },
		{ "semiannually", "1,7", 1, 0, 0, 0 },
		{ "semi-annually", "1,7", 1, 0, 0, 0 },
	};
	int rc = 0;

	*found = false;
	for (size_t i = 0; i < sizeof(sh) / sizeof(sh[0]); i++) {
		if (strcasecmp(p, sh[i].name))
			continue;
		*found = true;
		for (const char *m = sh[i].months; m && *m; m += strcspn(m, ",") + (m[strcspn(m, ",")] == ','))
			if ((rc = sd_push(&s->f[SD_MONTH], atoi(m), -1, 0)) < 0)
				return rc;
		if (sh[i].day >= 0 && (rc = sd_push(&s->f[SD_DAY], sh[i].day, -1, 0)) < 0)
			return rc;
		if (sh[i].hour >= 0 && (rc = sd_push(&s->f[SD_HOUR], sh[i].hour, -1, 0)) < 0)
			return rc;
		if (sh[i].minute >= 0 && (rc = sd_push(&s->f[SD_MINUTE], sh[i].minute, -1, 0)) < 0)
			return rc;
		if (sh[i].weekly)
			s->weekdays = 1;
		return sd_push(&s->f[SD_USECS], 0, -1, 0);
	}
	return 0;
}

/* Whether the last word looks like it was meant as a zone name (for the error message). */
static bool sd_zone_like(const char *w)
{
	return strchr(w, '/') && isupper((unsigned char)w[0]);
}

/* Parses the body (the expression without its zone). */
static int sd_body(struct sd_parse *ps, const char *p)
{
	bool found;
	int r;

	if (!*p)
		return sd_fail(ps, NULL, "empty calendar expression");
	if ((r = sd_shorthand(ps->s, p, &found)) < 0 || found)
		return r;
	if ((r = sd_weekdays_parse(ps, &p)) < 0)
		return r;
	if ((r = sd_date(ps, &p)) < 0)
		return r;
	if (r == 0 && (r = sd_time(ps, &p)) < 0)
		return r;
	if (*p)
		return sd_fail(ps, p, "unexpected text");
	return 0;
}

int sdcal_parse(const char *expr, struct sdcal **out, char *err, size_t errlen)
{
	struct sdcal *s = calloc(1, sizeof(*s));
	struct sd_parse ps = { s, err, errlen, expr };
	size_t len = strlen(expr);
	char *body = NULL;
	int rc;

	if (err && errlen)
		err[0] = '\0';
	if (!s)
		return TD_ENOMEM;
	if (!(body = strdup(expr))) {
		rc = TD_ENOMEM;
		goto fail;
	}
	if (len >= 4 && !strcasecmp(expr + len - 4, " UTC")) {
		s->utc = true;
		body[len - 4] = '\0';
	} else {
		char *sp = strrchr(body, ' ');

		if (sp && tz_slot_get(sp + 1, &s->zone, NULL, 0) == 0) {
			*sp = '\0';
			if (!strcmp(tz_slot_name(s->zone), "UTC")) {	/* systemd: the zone "UTC" is utc */
				s->zone = NULL;
				s->utc = true;
			}
		}
	}
	if ((rc = sd_body(&ps, body)) < 0) {
		char *sp = strrchr(expr, ' ');

		if (!s->zone && !s->utc && sp && sd_zone_like(sp + 1)) {
			if (err && errlen)
				td_errf(err, errlen, "unknown time zone '%s' (see timedatectl list-timezones)", sp + 1);
		}
		goto fail;
	}
	if ((rc = sd_finish(&ps)) < 0)
		goto fail;
	if (!s->utc && !s->zone && (rc = tz_slot_get("", &s->zone, err, errlen)) < 0)
		goto fail;
	if ((rc = sd_format(s)) < 0)
		goto fail;
	free(body);
	*out = s;
	return 0;
fail:
	free(body);
	sdcal_free(s);
	return rc;
}

const char *sdcal_normalized(const struct sdcal *s)
{
	return s->norm;
}

const char *sdcal_zone(const struct sdcal *s)
{
	return s->utc ? "UTC" : tz_slot_name(s->zone);
}

void sdcal_free(struct sdcal *s)
{
	if (!s)
		return;
	for (int f = 0; f < SD_NFIELDS; f++)
		free(s->f[f].v);
	free(s->norm);
	free(s);
}
