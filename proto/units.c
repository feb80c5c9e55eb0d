/*
 * units.c -- durations and RFC 3339 times (see units.h).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "proto/units.h"

#define NS_PER_S 1000000000LL

struct units_unit {
	const char *name;
	int64_t ns;
};

/* Longest names first so "ms" is not read as "m". */
static const struct units_unit units_table[] = {
	{ "ns", 1 },
	{ "us", 1000 },
	{ "\xc2\xb5s", 1000 },		/* µs */
	{ "ms", 1000000 },
	{ "s", NS_PER_S },
	{ "m", 60 * NS_PER_S },
	{ "h", 3600 * NS_PER_S },
	{ "d", 86400 * NS_PER_S },
};

/* Finds the unit at s; sets *len to its length. */
static const struct units_unit *units_find(const char *s, size_t *len)
{
	const struct units_unit *best = NULL;
	size_t bestlen = 0;

	for (size_t i = 0; i < sizeof(units_table) / sizeof(units_table[0]); i++) {
		size_t n = strlen(units_table[i].name);

		if (n > bestlen && strncmp(s, units_table[i].name, n) == 0) {
			best = &units_table[i];
			bestlen = n;
		}
	}
	*len = bestlen;
	return best;
}

/* Parses digits (and a fraction) at *p into whole and frac (frac in 1e-9 units). */
static int units_number(const char **p, int64_t *whole, int64_t *frac)
{
	const char *s = *p;
	int64_t w = 0, f = 0, scale = 100000000;

	if (*s < '0' || *s > '9')
		return -1;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (w > (INT64_MAX - 9) / 10)
			return -2;
		w = w * 10 + (*s - '0');
	}
	if (*s == '.') {
		s++;
		if (*s < '0' || *s > '9')
			return -1;
		for (; *s >= '0' && *s <= '9'; s++, scale /= 10)
			f += (*s - '0') * scale;
	}
	*whole = w;
	*frac = f;
	*p = s;
	return 0;
}

/* Parses a duration into *ns; 0 or -1 with a message in err. */
int units_duration_parse(const char *s, int64_t *ns, char *err, size_t errlen)
{
	const char *p = s;
	int64_t total = 0;

	if (!s || !*s)
		return td_errf(err, errlen, "empty duration: give e.g. 250ms, 5s or 1h30m");
	if (strcmp(s, "0") == 0) {
		*ns = 0;
		return 0;
	}
	while (*p) {
		int64_t whole, frac, term;
		const struct units_unit *u;
		size_t ulen;
		int rc = units_number(&p, &whole, &frac);

		if (rc == -2)
			return td_errf(err, errlen, "duration '%s' is too large", s);
		if (rc < 0)
			return td_errf(err, errlen, "cannot read duration '%s': give e.g. 250ms, 5s, 1.5s or 1h30m", s);
		u = units_find(p, &ulen);
		if (!u)
			return td_errf(err, errlen, "duration '%s' needs a unit (ns, us, ms, s, m, h, d): e.g. 5s or 250ms", s);
		p += ulen;
		if (whole > INT64_MAX / u->ns ||
		    __builtin_add_overflow(whole * u->ns, (int64_t)((__int128)frac * u->ns / NS_PER_S), &term) ||
		    total > INT64_MAX - term)
			return td_errf(err, errlen, "duration '%s' is too large", s);
		total += term;
	}
	*ns = total;
	return 0;
}

/* Appends "<n><unit>" to buf at *off, never past len. */
static void units_put(char *buf, size_t len, size_t *off, int64_t n, const char *unit)
{
	int w;

	if (*off >= len)
		return;
	w = snprintf(buf + *off, len - *off, "%" PRId64 "%s", n, unit);
	if (w > 0)
		*off += (size_t)w;
}

/* Appends "<n>.<frac><unit>" with digits fraction digits, trailing zeros cut. */
static void units_put_frac(char *buf, size_t len, size_t *off, int64_t n, int64_t frac,
			   int digits, const char *unit)
{
	int w;

	while (digits > 0 && frac % 10 == 0) {
		frac /= 10;
		digits--;
	}
	if (!digits) {
		units_put(buf, len, off, n, unit);
		return;
	}
	if (*off >= len)
		return;
	w = snprintf(buf + *off, len - *off, "%" PRId64 ".%0*" PRId64 "%s", n, digits, frac, unit);
	if (w > 0)
		*off += (size_t)w;
}

/* Formats a sub-second duration: "250ms", "1.5ms", "800us", "12ns". */
static void units_small(int64_t ns, char *buf, size_t len, size_t *off)
{
	if (ns >= 1000000)
		units_put_frac(buf, len, off, ns / 1000000, ns % 1000000 / 1000, 3, "ms");
	else if (ns >= 1000)
		units_put_frac(buf, len, off, ns / 1000, ns % 1000 / 100, 1, "us");
	else
		units_put(buf, len, off, ns, "ns");
}

/* Formats ns compactly; returns buf. */
char *units_duration_format(int64_t ns, char *buf, size_t len)
{
	static const struct { const char *unit; uint64_t ns; } big[] = {
		{ "d", 86400 * NS_PER_S }, { "h", 3600 * NS_PER_S }, { "m", 60 * NS_PER_S },
	};
	uint64_t u = ns < 0 ? (uint64_t)0 - (uint64_t)ns : (uint64_t)ns;
	size_t off = 0;

	if (!len)
		return buf;
	buf[0] = '\0';
	if (ns < 0 && len > 1) {
		buf[off++] = '-';
		buf[off] = '\0';
	}
	if (u < (uint64_t)NS_PER_S) {
		units_small((int64_t)u, buf, len, &off);
		return buf;
	}
	if (u < 60 * (uint64_t)NS_PER_S) {
		units_put_frac(buf, len, &off, (int64_t)(u / NS_PER_S), (int64_t)(u % NS_PER_S / 10000000), 2, "s");
		return buf;
	}
	for (size_t i = 0; i < 3; i++) {
		if (u >= big[i].ns)
			units_put(buf, len, &off, (int64_t)(u / big[i].ns), big[i].unit);
		u %= big[i].ns;
	}
	if (u >= (uint64_t)NS_PER_S)
		units_put(buf, len, &off, (int64_t)(u / NS_PER_S), "s");
	return buf;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static int64_t units_days(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* Days in month m of year y. */
static int units_mdays(int64_t y, int m)
{
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : mdays[m - 1];
}

/* Reads exactly n digits at *p into *v. */
static bool units_digits(const char **p, int n, int *v)
{
	int x = 0;

	for (int i = 0; i < n; i++) {
		char c = (*p)[i];

		if (c < '0' || c > '9')
			return false;
		x = x * 10 + (c - '0');
	}
	*p += n;
	*v = x;
	return true;
}

/* Reads the literal character c (any of two cases) at *p. */
static bool units_lit(const char **p, char c, char alt)
{
	if (**p != c && **p != alt)
		return false;
	(*p)++;
	return true;
}

/* Reads a fraction of a second (".123") at *p into ns. */
static bool units_fraction(const char **p, int64_t *ns)
{
	int64_t scale = 100000000;

	*ns = 0;
	if (**p != '.')
		return true;
	(*p)++;
	if (**p < '0' || **p > '9')
		return false;
	for (; **p >= '0' && **p <= '9'; (*p)++, scale /= 10)
		*ns += (**p - '0') * scale;
	return true;
}

/* Reads "Z" or "+HH:MM" / "-HH:MM" at *p into seconds east of UTC. */
static bool units_offset(const char **p, int64_t *off)
{
	int hh, mm, sign;

	if (units_lit(p, 'Z', 'z')) {
		*off = 0;
		return true;
	}
	if (**p != '+' && **p != '-')
		return false;
	sign = **p == '-' ? -1 : 1;
	(*p)++;
	if (!units_digits(p, 2, &hh) || !units_lit(p, ':', ':') || !units_digits(p, 2, &mm) ||
	    hh > 23 || mm > 59)
		return false;
	*off = sign * (hh * 3600 + mm * 60);
	return true;
}

/* Parses an RFC 3339 time into unix ns; 0 or -1 with a message in err. */
int units_time_parse(const char *s, int64_t *unix_ns, char *err, size_t errlen)
{
	const char *p = s;
	int y, mo, d, h, mi, sec;
	int64_t frac, off, secs;

	if (!s || !units_digits(&p, 4, &y) || !units_lit(&p, '-', '-') || !units_digits(&p, 2, &mo) ||
	    !units_lit(&p, '-', '-') || !units_digits(&p, 2, &d) || !(units_lit(&p, 'T', 't') || units_lit(&p, ' ', ' ')) ||
	    !units_digits(&p, 2, &h) || !units_lit(&p, ':', ':') || !units_digits(&p, 2, &mi) ||
	    !units_lit(&p, ':', ':') || !units_digits(&p, 2, &sec) || !units_fraction(&p, &frac) ||
	    !units_offset(&p, &off) || *p)
		return td_errf(err, errlen, "cannot read time '%s': give RFC 3339, e.g. 2030-01-02T15:04:05Z or 2030-01-02T15:04:05.5+01:00", s ? s : "");
	if (mo < 1 || mo > 12 || d < 1 || d > units_mdays(y, mo) || h > 23 || mi > 59 || sec > 60)
		return td_errf(err, errlen, "time '%s' has a field out of range (month, day, hour, minute or second)", s);
	secs = units_days(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - off;	/* second 60: the next second */
	if (secs < 0 || secs > INT64_MAX / NS_PER_S - 1)
		return td_errf(err, errlen, "time '%s' is before 1970 or too far ahead", s);
	*unix_ns = secs * NS_PER_S + frac;
	return 0;
}

/* Formats unix ns as RFC 3339 with milliseconds, in UTC or local time; returns buf. */
char *units_time_format(int64_t unix_ns, bool utc, char *buf, size_t len)
{
	int64_t rem = unix_ns % NS_PER_S;	/* floor division without t * NS_PER_S, which overflows near INT64_MIN */
	time_t t = (time_t)(unix_ns / NS_PER_S - (rem < 0));
	int64_t ms = (rem < 0 ? rem + NS_PER_S : rem) / 1000000;
	struct tm tm;
	char zone[16] = "Z";
	long gmtoff, a;

	if (!(utc ? gmtime_r(&t, &tm) : localtime_r(&t, &tm))) {
		snprintf(buf, len, "%" PRId64 "ns", unix_ns);
		return buf;
	}
	gmtoff = utc ? 0 : tm.tm_gmtoff;
	a = (gmtoff < 0 ? -gmtoff : gmtoff) % 86400;
	if (gmtoff)
		snprintf(zone, sizeof(zone), "%c%02ld:%02ld", gmtoff < 0 ? '-' : '+', a / 3600, a % 3600 / 60);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03d%s", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)ms, zone);
	return buf;
}
