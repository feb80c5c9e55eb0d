/*
 * cmd-calendar.c -- timerctl calendar: the normalised form and the next
 * elapses of a calendar expression (systemd OnCalendar= syntax or cron), in
 * UTC and in the expression's zone; no daemon needed (like systemd-analyze
 * calendar).
 */
#include "config.h"

#include <ctype.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cal/cal-int.h"
#include "cal/cal.h"
#include "client/timerctl.h"
#include "core/err.h"

#define CMD_CALENDAR_MAX_ITER 100000

static int cmd_calendar_exec(struct ctl *ctl, int argc, char **argv);

const struct cmd_entry cmd_calendar_entry = {
	.name = "calendar",
	.usage = "EXPR [--iterations N] [--base-time RFC3339]",
	.help = "show the normalised form and next elapses of a calendar expression (no daemon needed)",
	.options = "  --iterations N        show the next N elapses (default 1)\n"
		   "  --base-time RFC3339   count from this time, e.g. 2026-03-29T00:30:00.5Z (default now)\n",
	.exec = cmd_calendar_exec,
};

/* Parses RFC 3339 ("2026-03-29T01:02:03.5+02:00", 'T' or ' ', 'Z' or an offset) into Unix ns. */
static bool cmd_calendar_rfc3339(const char *s, int64_t *ns)
{
	int y, mo, d, h, mi, sec, n = 0;
	int64_t frac = 0, scale = 100000000, off = 0;

	if (sscanf(s, "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || n != 19)
		return false;
	s += n;
	if (mo < 1 || mo > 12 || d < 1 || d > cal_mdays(y, mo) || h > 23 || mi > 59 || sec > 60)
		return false;
	if (*s == '.') {
		if (!isdigit((unsigned char)*++s))
			return false;
		for (; isdigit((unsigned char)*s); s++, scale /= 10)
			frac += scale * (*s - '0');
	}
	if (*s == 'Z' || *s == 'z') {
		s++;
	} else if (*s == '+' || *s == '-') {
		int oh, om;

		if (sscanf(s + 1, "%2d:%2d%n", &oh, &om, &n) != 2 || n != 5 || oh > 23 || om > 59)
			return false;
		off = (*s == '-' ? -1 : 1) * (oh * 3600 + om * 60);
		s += 6;
	} else {
		return false;
	}
	if (*s)
		return false;
	*ns = ((cal_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec) - off) * INT64_C(1000000000) + frac;
	return true;
}

/* Formats Unix ns as "Mon 2026-12-07 09:00:00[.250000] ABBR" in zone z (NULL: UTC). */
static void cmd_calendar_fmt(int64_t ns, const struct tz *z, char *buf, size_t len)
{
	static const char *const wd[] = { "Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed" };
	int64_t s = cal_fdiv(ns, 1000000000), us = (ns - s * 1000000000) / 1000, y;
	const struct tz_type *ty = z ? tz_at(z, s) : NULL;
	int64_t local = s + (ty ? ty->off : 0), days = cal_fdiv(local, 86400), r = local - days * 86400;
	int m, d;
	char fr[24] = "";

	cal_civil_from_days(days, &y, &m, &d);
	if (us)
		snprintf(fr, sizeof(fr), ".%06" PRId64, us);
	snprintf(buf, len, "%s %04" PRId64 "-%02d-%02d %02d:%02d:%02d%s %s", wd[cal_fmod(days, 7)], y, m, d,
		 (int)(r / 3600), (int)(r / 60 % 60), (int)(r % 60), fr, ty ? ty->abbr : "UTC");
}

/* Prints the result, human or JSON. */
static void cmd_calendar_print(struct ctl *ctl, const char *expr, const struct cal *c, const int64_t *el, uint64_t n,
			       const struct tz *z)
{
	char a[96], b[96];

	if (ctl->json) {
		printf("{\"normalized\":");
		ctl_json_str(stdout, cal_normalized(c));
		printf(",\"elapses_unix_ns\":[");
		for (uint64_t i = 0; i < n; i++)
			printf("%s%" PRId64, i ? "," : "", el[i]);
		printf("]}\n");
		return;
	}
	if (strcmp(expr, cal_normalized(c)))
		printf("  Original form: %s\n", expr);
	printf("Normalized form: %s\n", cal_normalized(c));
	if (!n)
		printf("    Next elapse: never (this expression never elapses)\n");
	for (uint64_t i = 0; i < n; i++) {
		char label[32];

		cmd_calendar_fmt(el[i], z, a, sizeof(a));
		cmd_calendar_fmt(el[i], NULL, b, sizeof(b));
		if (i == 0)
			snprintf(label, sizeof(label), "Next elapse:");
		else
			snprintf(label, sizeof(label), "Iter. #%" PRIu64 ":", i + 1);
		printf("%16s %s\n", label, a);
		if (strcmp(a, b))
			printf("%16s %s\n", "(in UTC):", b);
	}
}

/* timerctl calendar. */
static int cmd_calendar_exec(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = { CTL_GLOBAL_LONGOPTS,
					      { "iterations", required_argument, NULL, 'n' },
					      { "base-time", required_argument, NULL, 'b' },
					      { NULL, 0, NULL, 0 } };
	uint64_t iters = 1, n = 0;
	int64_t t = ctl_real(), *el;
	struct cal *c;
	struct tz *z = NULL;
	char err[256];
	int opt, rc;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (opt == 'n') {
			if (!ctl_u64(ctl, "--iterations", optarg, &iters) || !iters || iters > CMD_CALENDAR_MAX_ITER)
				return ctl_usage(ctl, &cmd_calendar_entry, "--iterations takes 1 to %d", CMD_CALENDAR_MAX_ITER);
		} else if (opt == 'b') {
			if (!cmd_calendar_rfc3339(optarg, &t))
				return ctl_usage(ctl, &cmd_calendar_entry,
						 "--base-time '%s' is not RFC 3339, e.g. 2026-03-29T00:30:00.5Z", optarg);
		} else if (ctl_global_opt(ctl, &cmd_calendar_entry, opt, optarg, &rc)) {
			return rc;
		}
	}
	if (optind + 1 != argc)
		return ctl_usage(ctl, &cmd_calendar_entry, optind < argc ? "give one expression (quote it)" : "missing EXPR");
	if ((rc = cal_parse(argv[optind], &c, err, sizeof(err))) < 0)
		return ctl_fail(ctl, CTL_EXIT_USAGE, "%s", rc == TD_ENOMEM ? "out of memory" : err);
	if (strcmp(cal_zone(c), "UTC") && tz_load(cal_zone(c), &z, NULL, 0) < 0)
		z = NULL;
	if (!(el = malloc(iters * sizeof(*el)))) {
		cal_free(c);
		tz_destroy(z);
		return ctl_fail(ctl, CTL_EXIT_FAILED, "out of memory");
	}
	while (n < iters && cal_next(c, t, &t) == 0)
		el[n++] = t;
	cmd_calendar_print(ctl, argv[optind], c, el, n, z);
	free(el);
	tz_destroy(z);
	cal_free(c);
	return CTL_EXIT_OK;
}
