/*
 * cron.c -- cron expressions: 5 fields (minute hour day-of-month month
 * day-of-week) or 6 (seconds first), names (JAN, MON), lists, ranges, steps,
 * @yearly/@annually/@monthly/@weekly/@daily/@midnight/@hourly, and an optional
 * CRON_TZ=Zone prefix (else the local zone).
 *
 * Matching follows Vixie cron / cronie: when both day fields are restricted
 * (neither is written as '*' or '*' /step, nor allows every value), a day
 * matches if EITHER matches; otherwise both must. Day of week 0 and 7 are Sunday.
 *
 * DST (cronie's rule, doc/calendar.md): schedules are matched against local
 * wall-clock times; a wall time that does not exist (clocks go forward) fires
 * at the first instant after the gap (the transition), once however many of
 * its times fell in the gap; a wall time that occurs twice (clocks go back)
 * fires once, at its first occurrence. Nothing is skipped, nothing doubles.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cal/cal-int.h"
#include "core/err.h"

enum { CR_SEC, CR_MIN, CR_HOUR, CR_DOM, CR_MON, CR_DOW, CR_NFIELDS };

struct cron {
	uint64_t bits[CR_NFIELDS];	/* bit v set: value v allowed */
	bool dom_star, dow_star;	/* the field was '*' or '*' /step */
	bool has_sec;			/* six fields were given */
	bool never;			/* no day of any allowed month matches */
	struct tz_slot *zone;
	char *norm;
};

static const int cr_min[CR_NFIELDS] = { 0, 0, 0, 1, 1, 0 };
static const int cr_max[CR_NFIELDS] = { 59, 59, 23, 31, 12, 7 };
static const char *const cr_names[CR_NFIELDS] = { "second", "minute", "hour", "day of month", "month", "day of week" };

/* Whether EXPR is meant as cron rather than systemd calendar syntax: "@name" (not
 * "@seconds"), a CRON_TZ= prefix, or 5 or 6 words without ':'. */
bool cron_is_cron(const char *expr)
{
	int words = 0;

	while (isspace((unsigned char)*expr))
		expr++;
	if (expr[0] == '@')
		return isalpha((unsigned char)expr[1]);
	if (!strncmp(expr, "CRON_TZ=", 8))
		return true;
	if (strchr(expr, ':'))
		return false;
	for (const char *p = expr; *p;) {
		while (isspace((unsigned char)*p))
			p++;
		if (!*p)
			break;
		words++;
		while (*p && !isspace((unsigned char)*p))
			p++;
	}
	return words == 5 || words == 6;
}

/* Parses a value: a number or (months, weekdays) a three-letter name. */
static const char *cr_value(int f, const char *p, int *v)
{
	static const char *const mon[] = { "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC" };
	static const char *const dow[] = { "SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT" };

	if (isdigit((unsigned char)*p)) {
		long n = 0;

		while (isdigit((unsigned char)*p) && n < 1000)
			n = n * 10 + (*p++ - '0');
		*v = (int)n;
		return isdigit((unsigned char)*p) ? NULL : p;
	}
	if (f == CR_MON || f == CR_DOW) {
		const char *const *names = f == CR_MON ? mon : dow;
		int n = f == CR_MON ? 12 : 7;

		for (int i = 0; i < n; i++)
			if (!strncasecmp(p, names[i], 3) && !isalpha((unsigned char)p[3])) {
				*v = f == CR_MON ? i + 1 : i;
				return p + 3;
			}
	}
	return NULL;
}

/* Parses one field (a comma list of *, v, a-b, with /step) into bits. */
static int cr_field(int f, const char *text, uint64_t *bits, bool *star, char *err, size_t errlen)
{
	const char *p = text;

	*bits = 0;
	*star = text[0] == '*' && (!text[1] || (text[1] == '/' && !strchr(text, ',')));
	for (;;) {
		int a, b, step = 1;
		bool single = false;

		if (*p == '*' || *p == '?') {
			a = cr_min[f];
			b = cr_max[f];
			p++;
		} else {
			if (!(p = cr_value(f, p, &a)))
				goto bad;
			b = a;
			single = *p != '-';
			if (*p == '-' && !(p = cr_value(f, p + 1, &b)))
				goto bad;
		}
		if (*p == '/') {
			if (!(p = cr_value(-1, p + 1, &step)) || step < 1)
				goto bad;
			if (single)
				b = f == CR_DOW ? 6 : cr_max[f];	/* "a/step": from a to the end */
		}
		if (a < cr_min[f] || b > cr_max[f] || a > b) {
			td_errf(err, errlen, "%s out of range in '%s' (%d to %d)", cr_names[f], text, cr_min[f], cr_max[f]);
			return TD_EINVAL;
		}
		for (int v = a; v <= b; v += step)
			*bits |= UINT64_C(1) << v;
		if (!*p)
			break;
		if (*p != ',')
			goto bad;
		p++;
	}
	if (f == CR_DOW && (*bits & (1u << 7)))	/* 7 is Sunday */
		*bits = (*bits | 1u) & 0x7f;
	return 0;
bad:
	td_errf(err, errlen, "bad %s field '%s'", cr_names[f], text);
	return TD_EINVAL;
}

/* Formats one field: '*' when full, else a list with runs of three or more as ranges. */
static void cr_fmt_field(char *out, size_t outsz, int f, uint64_t bits, bool star)
{
	int lo = cr_min[f], hi = f == CR_DOW ? 6 : cr_max[f];
	size_t n = 0;
	uint64_t full = 0;

	for (int v = lo; v <= hi; v++)
		full |= UINT64_C(1) << v;
	if (bits == full) {
		snprintf(out, outsz, "*");
		return;
	}
	if (star) {	/* '*' /step: an arithmetic run from the minimum */
		int step = 0;

		for (int v = lo + 1; v <= hi && !step; v++)
			if (bits >> v & 1)
				step = v - lo;
		snprintf(out, outsz, "*/%d", step ? step : hi - lo + 1);
		return;
	}
	out[0] = '\0';
	for (int v = lo; v <= hi; v++) {
		int e = v;

		if (!(bits >> v & 1))
			continue;
		while (e + 1 <= hi && (bits >> (e + 1) & 1))
			e++;
		if (e - v >= 2)
			n += (size_t)snprintf(out + n, n < outsz ? outsz - n : 0, "%s%d-%d", n ? "," : "", v, e);
		else if (e == v + 1)
			n += (size_t)snprintf(out + n, n < outsz ? outsz - n : 0, "%s%d,%d", n ? "," : "", v, e);
		else
			n += (size_t)snprintf(out + n, n < outsz ? outsz - n : 0, "%s%d", n ? "," : "", v);
		v = e;
	}
}

/* Whether any allowed (month, day-of-month) exists, when only the day of month decides. */
static bool cr_possible(const struct cron *c)
{
	if (c->dom_star || !c->dow_star)
		return true;	/* any day, or (OR rule) weekdays always come */
	for (int m = 1; m <= 12; m++)
		if (c->bits[CR_MON] >> m & 1)
			for (int d = 1; d <= (m == 2 ? 29 : cal_mdays(2001, m)); d++)
				if (c->bits[CR_DOM] >> d & 1)
					return true;
	return false;
}

/* Builds the normalised form: [CRON_TZ=Zone ]fields (5, or 6 with seconds). */
static int cr_format(struct cron *c)
{
	char f[CR_NFIELDS][200], buf[1400];
	const char *z = tz_slot_name(c->zone);

	for (int i = 0; i < CR_NFIELDS; i++)
		cr_fmt_field(f[i], sizeof(f[i]), i, c->bits[i],
			     (i == CR_DOM && c->dom_star) || (i == CR_DOW && c->dow_star));
	snprintf(buf, sizeof(buf), "%s%s%s%s%s%s %s %s %s %s", *z ? "CRON_TZ=" : "", z, *z ? " " : "",
		 c->has_sec ? f[CR_SEC] : "", c->has_sec ? " " : "", f[CR_MIN], f[CR_HOUR], f[CR_DOM], f[CR_MON],
		 f[CR_DOW]);
	return (c->norm = strdup(buf)) ? 0 : TD_ENOMEM;
}

/* Expands @name into fields. */
static const char *cr_macro(const char *name)
{
	static const struct { const char *name, *fields; } m[] = {
		{ "yearly", "0 0 1 1 *" }, { "annually", "0 0 1 1 *" }, { "monthly", "0 0 1 * *" },
		{ "weekly", "0 0 * * 0" }, { "daily", "0 0 * * *" },	 { "midnight", "0 0 * * *" },
		{ "hourly", "0 * * * *" },
	};

	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
		if (!strcasecmp(name, m[i].name))
			return m[i].fields;
	return NULL;
}

int cron_parse(const char *expr, struct cron **out, char *err, size_t errlen)
{
	struct cron *c = calloc(1, sizeof(*c));
	char *copy = NULL, *words[8], *save = NULL, *w, zone[256] = "";
	const char *body;
	int n = 0, rc;

	if (err && errlen)
		err[0] = '\0';
	if (!c)
		return TD_ENOMEM;
	while (isspace((unsigned char)*expr))
		expr++;
	if (!strncmp(expr, "CRON_TZ=", 8)) {
		size_t zl = strcspn(expr + 8, " \t");

		if (zl == 0 || zl >= sizeof(zone)) {
			td_errf(err, errlen, "CRON_TZ= needs a zone name, e.g. CRON_TZ=Europe/Paris");
			rc = TD_EINVAL;
			goto fail;
		}
		memcpy(zone, expr + 8, zl);
		zone[zl] = '\0';
		expr += 8 + zl;
		while (isspace((unsigned char)*expr))
			expr++;
	}
	if ((rc = tz_slot_get(zone, &c->zone, err, errlen)) < 0)
		goto fail;
	body = expr;
	if (*body == '@') {
		if (!(body = cr_macro(expr + 1))) {
			td_errf(err, errlen, "unknown cron macro '%s' (@yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly)", expr);
			rc = TD_EINVAL;
			goto fail;
		}
	}
	if (!(copy = strdup(body))) {
		rc = TD_ENOMEM;
		goto fail;
	}
	for (w = strtok_r(copy, " \t\n", &save); w; w = strtok_r(NULL, " \t\n", &save)) {
		if (n == 7)
			break;
		words[n++] = w;
	}
	if (n != 5 && n != 6) {
		td_errf(err, errlen, "a cron expression has 5 fields (minute hour day month weekday) or 6 (seconds first), not %d", n);
		rc = TD_EINVAL;
		goto fail;
	}
	c->has_sec = n == 6;
	for (int i = 0; i < CR_NFIELDS; i++) {
		bool star;

		if (i == CR_SEC && !c->has_sec) {
			c->bits[i] = 1;
			continue;
		}
		if ((rc = cr_field(i, words[i - !c->has_sec], &c->bits[i], &star, err, errlen)) < 0)
			goto fail;
		/* A field that allows every value is '*' (so the normalised form means the same). */
		star |= c->bits[i] == (i == CR_DOW ? UINT64_C(0x7f) : ((UINT64_C(1) << (cr_max[i] + 1)) - 1) & ~((UINT64_C(1) << cr_min[i]) - 1));
		if (i == CR_DOM)
			c->dom_star = star;
		if (i == CR_DOW)
			c->dow_star = star;
	}
	c->never = !cr_possible(c);
	if ((rc = cr_format(c)) < 0)
		goto fail;
	free(copy);
	*out = c;
	return 0;
fail:
	free(copy);
	cron_free(c);
	return rc;
}

/* The lowest set bit of bits at or above v, or -1. */
static int cr_next_bit(uint64_t bits, int v)
{
	if (v > 63)
		return -1;
	bits &= ~UINT64_C(0) << v;
	return bits ? __builtin_ctzll(bits) : -1;
}

/* Whether day y-m-d matches the day fields. */
static bool cr_day_ok(const struct cron *c, int64_t days, int d)
{
	bool dom = c->bits[CR_DOM] >> d & 1, dow = c->bits[CR_DOW] >> cal_fmod(days + 4, 7) & 1;

	if (c->dom_star || c->dow_star)
		return dom && dow;
	return dom || dow;
}

/* The first matching wall time (naive seconds) at or after w; false if none before CAL_MAX_YEAR ends. */
static bool cr_next_wall(const struct cron *c, int64_t w, int64_t *out)
{
	for (int guard = 0; guard < 1000000; guard++) {
		int64_t days = cal_fdiv(w, 86400), r = w - days * 86400, y;
		int m, d, v;

		cal_civil_from_days(days, &y, &m, &d);
		if (y > CAL_MAX_YEAR)
			return false;
		if ((v = cr_next_bit(c->bits[CR_MON], m)) < 0) {
			w = cal_days_from_civil(y + 1, 1, 1) * 86400;
			continue;
		}
		if (v != m) {
			w = cal_days_from_civil(y, v, 1) * 86400;
			continue;
		}
		if (!cr_day_ok(c, days, d)) {
			w = (days + 1) * 86400;
			continue;
		}
		int hh = (int)(r / 3600), mm = (int)(r / 60 % 60), ss = (int)(r % 60);

		if ((v = cr_next_bit(c->bits[CR_HOUR], hh)) < 0) {
			w = (days + 1) * 86400;
			continue;
		}
		if (v != hh) {
			w = days * 86400 + v * 3600;
			continue;
		}
		if ((v = cr_next_bit(c->bits[CR_MIN], mm)) < 0) {
			w = days * 86400 + (hh + 1) * 3600;
			continue;
		}
		if (v != mm) {
			w = days * 86400 + hh * 3600 + v * 60;
			continue;
		}
		if ((v = cr_next_bit(c->bits[CR_SEC], ss)) < 0) {
			w = days * 86400 + hh * 3600 + (mm + 1) * 60;
			continue;
		}
		*out = days * 86400 + hh * 3600 + mm * 60 + v;
		return true;
	}
	return false;
}

/* The instant of wall time w by the DST rule: its first occurrence, or the end of its gap. */
static int64_t cr_instant(const struct tz *z, int64_t w)
{
	int64_t lo = w - 27 * 3600, hi = w + 27 * 3600, best = INT64_MAX, gap = INT64_MAX;
	const struct tz_type *prev = tz_at(z, lo);
	size_t i = 0, a = 0, b = z->n;

	while (b - a > 0) {	/* first transition after lo */
		size_t mid = (a + b) / 2;

		if (z->at[mid] <= lo)
			a = mid + 1;
		else
			b = mid;
	}
	for (i = a;; i++) {
		int64_t t = w - prev->off;

		if (tz_at(z, t) == prev && t < best)
			best = t;
		if (i >= z->n || z->at[i] > hi)
			break;
		const struct tz_type *nx = &z->types[z->ty[i]];

		if (gap == INT64_MAX && w >= z->at[i] + prev->off && w < z->at[i] + nx->off)
			gap = z->at[i];
		prev = nx;
	}
	return best != INT64_MAX ? best : gap;
}

int cron_next(const struct cron *c, int64_t after_ns, int64_t *next_ns)
{
	int64_t a = cal_fdiv(after_ns, 1000000000) + 1, w0, w;
	unsigned tok;
	const struct tz *z;
	int rc = TD_ENOENT;

	if (c->never)
		return TD_ENOENT;
	z = tz_enter(c->zone, &tok);
	/* The first wall time whose instant is >= a: wall(a), except inside a repeated range
	 * (start at its end: those wall times first occurred before a) or exactly at a gap
	 * (start at its beginning: those wall times fire at a). */
	size_t idx = 0, lo = 0, hi = z->n;

	while (hi - lo > 0) {
		size_t mid = (lo + hi) / 2;

		if (z->at[mid] <= a)
			lo = mid + 1;
		else
			hi = mid;
	}
	idx = lo;	/* transitions [0, idx) are <= a */
	const struct tz_type *cur = tz_at(z, a);
	w0 = a + cur->off;
	if (idx > 0) {
		int64_t t = z->at[idx - 1];
		const struct tz_type *before = tz_at(z, t - 1);

		if (before->off > cur->off && a < t + (before->off - cur->off))
			w0 = t + before->off;
		else if (a == t && before->off < cur->off)
			w0 = t + before->off;
	}
	if (cr_next_wall(c, w0, &w)) {
		int64_t t = cr_instant(z, w);

		if (t != INT64_MAX && t < (INT64_MAX / 1000000000)) {
			*next_ns = t * 1000000000;
			rc = 0;
		}
	}
	tz_leave(tok);
	return rc;
}

const char *cron_normalized(const struct cron *c)
{
	return c->norm;
}

const char *cron_zone(const struct cron *c)
{
	return tz_slot_name(c->zone);
}

void cron_free(struct cron *c)
{
	if (!c)
		return;
	free(c->norm);
	free(c);
}
