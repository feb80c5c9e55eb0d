/*
 * cal-tool.c -- drives cal/ for the comparison tests (tests/cal/ scripts).
 *
 *	cal-tool batch		reads "EXPR<TAB>BASE_US<TAB>N" lines, prints for each
 *				"normalized<TAB>e1 e2 ..." (µs, "never" when none, "error: ..."
 *				when it does not parse)
 *	cal-tool zdump ZONE	reads `zdump -v -c 1970,2100 ZONE` on stdin; checks every
 *				line's offset and isdst, and that there are no other
 *				transitions; exit 1 with the differences
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cal/cal-int.h"
#include "cal/cal.h"
#include "core/err.h"

/* Batch mode. */
static int tool_batch(void)
{
	char line[4096], err[256];

	while (fgets(line, sizeof(line), stdin)) {
		char *tab1 = strchr(line, '\t'), *tab2;
		struct cal *c;
		int64_t t, n;

		if (!tab1 || !(tab2 = strchr(tab1 + 1, '\t')))
			continue;
		*tab1 = *tab2 = '\0';
		t = strtoll(tab1 + 1, NULL, 10) * 1000;
		n = strtoll(tab2 + 1, NULL, 10);
		if (cal_parse(line, &c, err, sizeof(err)) < 0) {
			printf("error: %s\n", err);
			continue;
		}
		printf("%s\t", cal_normalized(c));
		int64_t i;
		for (i = 0; i < n; i++) {
			if (cal_next(c, t, &t) < 0)
				break;
			printf("%s%" PRId64, i ? " " : "", t / 1000);
		}
		printf("%s\n", i == 0 ? "never" : "");
		cal_free(c);
	}
	return 0;
}

static const char *const tool_mons[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

/* Parses zdump's "Mon Mar 29 00:59:59 1970 UT" into seconds; false if not such a time. */
static bool tool_zdump_time(const char *s, int64_t *out)
{
	char wd[8], mon[8];
	int d, hh, mm, ss;
	long long y;

	if (sscanf(s, "%7s %7s %d %d:%d:%d %lld", wd, mon, &d, &hh, &mm, &ss, &y) != 7)
		return false;
	for (int m = 0; m < 12; m++)
		if (!strcmp(mon, tool_mons[m])) {
			*out = cal_days_from_civil(y, m + 1, d) * 86400 + hh * 3600 + mm * 60 + ss;
			return true;
		}
	return false;
}

/* zdump mode. */
static int tool_zdump(const char *zone)
{
	char line[512], err[256];
	struct tz *z;
	int bad = 0, lines = 0;
	int64_t lo = cal_days_from_civil(1970, 1, 1) * 86400, hi = cal_days_from_civil(2100, 1, 1) * 86400;
	size_t trans_seen = 0, trans_mine = 0;

	if (tz_load(zone, &z, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: %s\n", zone, err);
		return 1;
	}
	while (fgets(line, sizeof(line), stdin)) {
		char *ut = strchr(line, ' '), *eq = strstr(line, " UT = "), *p;
		int64_t t;
		int isdst, off;

		if (!ut || !eq || strstr(line, "NULL"))
			continue;
		while (*ut == ' ')
			ut++;
		if (!tool_zdump_time(ut, &t) || !(p = strstr(line, "isdst=")) || sscanf(p, "isdst=%d gmtoff=%d", &isdst, &off) != 2)
			continue;
		lines++;
		const struct tz_type *ty = tz_at(z, t);
		if (ty->off != off || ty->isdst != isdst) {
			if (bad++ < 5)
				fprintf(stderr, "%s: at %" PRId64 " zdump says gmtoff=%d isdst=%d, cal says %d %d: %s", zone, t,
					off, isdst, ty->off, ty->isdst, line);
		}
		if (lines % 2 == 0)
			trans_seen++;
	}
	for (size_t i = 0; i < z->n; i++) {
		if (z->at[i] < lo || z->at[i] >= hi)
			continue;
		const struct tz_type *a = tz_at(z, z->at[i] - 1), *b = &z->types[z->ty[i]];
		if (a->off != b->off || a->isdst != b->isdst || strcmp(a->abbr, b->abbr))
			trans_mine++;
	}
	if (trans_mine != trans_seen) {
		fprintf(stderr, "%s: zdump shows %zu transitions in 1970..2099, cal has %zu\n", zone, trans_seen, trans_mine);
		bad++;
	}
	tz_destroy(z);
	return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "batch"))
		return tool_batch();
	if (argc == 3 && !strcmp(argv[1], "zdump"))
		return tool_zdump(argv[2]);
	fprintf(stderr, "usage: cal-tool batch | cal-tool zdump ZONE\n");
	return 2;
}
