/*
 * cal.h -- calendar schedules: systemd.time(7) OnCalendar= expressions and cron
 * expressions, with a time zone per expression.
 *
 * Usage:
 *
 *	struct cal *c;
 *	char err[128];
 *	if (cal_parse("Mon..Fri *-*-* 09:00:00 Europe/Paris", &c, err, sizeof err) < 0)
 *		report(err);			// names the offending part
 *	int64_t t = now_unix_ns;
 *	while (cal_next(c, t, &t) == 0)		// strictly after t, never early
 *		arm_at(t);
 *	puts(cal_normalized(c));		// "Mon..Fri *-*-* 09:00:00 Europe/Paris"
 *	cal_free(c);
 *
 * What may run concurrently:
 *
 *	call			with itself		with others
 *	cal_parse		yes			yes
 *	cal_next		yes (same c too)	yes, also with cal_tz_reload
 *	cal_normalized/_zone	yes			yes, until cal_free(c)
 *	cal_free(c)		no (once)		no other call on c
 *	cal_tz_reload		serialised		yes
 *
 * All functions return 0 or a TD_* code (core/err.h).
 */
#ifndef TIMERD_CAL_H
#define TIMERD_CAL_H

#include <stddef.h>
#include <stdint.h>

struct cal;	/* a parsed expression; immutable after cal_parse */

/* Parses EXPR (systemd calendar syntax, or cron: 5 or 6 fields, @daily..., CRON_TZ=Zone).
 * TD_EINVAL with ERR set to a message naming the offending part; TD_ENOMEM. An expression
 * that parses but never elapses parses fine: cal_next then returns TD_ENOENT. */
int cal_parse(const char *expr, struct cal **out, char *err, size_t errlen);

/* The first elapse strictly after AFTER_UNIX_NS, in Unix ns; TD_ENOENT when there is none
 * (never elapses, or not again before the end of the supported range). */
int cal_next(const struct cal *c, int64_t after_unix_ns, int64_t *next_unix_ns);

/* The normalised form (what get/list show); valid until cal_free. */
const char *cal_normalized(const struct cal *c);

/* The expression's zone: "UTC", an IANA name, or "" for the local zone. */
const char *cal_zone(const struct cal *c);

/* Frees C (NULL is fine). */
void cal_free(struct cal *c);

/* Re-reads the tz database (after a tzdata update; the daemon calls it on SIGHUP). Later
 * cal_next calls on any expression use the new rules; the caller re-places its timers. */
int cal_tz_reload(void);

#endif
