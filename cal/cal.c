/*
 * cal.c -- the public calendar API (cal/cal.h): picks the syntax (systemd
 * calendar or cron) and forwards to sdcal.c or cron.c.
 */
#include "config.h"

#include <stdlib.h>

#include "cal/cal-int.h"
#include "cal/cal.h"
#include "core/err.h"

struct cal {
	struct sdcal *sd;	/* exactly one of sd, cron */
	struct cron *cron;
};

int cal_parse(const char *expr, struct cal **out, char *err, size_t errlen)
{
	struct cal *c;
	int rc;

	if (err && errlen)
		err[0] = '\0';
	if (!expr)
		return td_errf(err, errlen, "no calendar expression"), TD_EINVAL;
	if (!(c = calloc(1, sizeof(*c))))
		return TD_ENOMEM;
	if (cron_is_cron(expr))
		rc = cron_parse(expr, &c->cron, err, errlen);
	else
		rc = sdcal_parse(expr, &c->sd, err, errlen);
	if (rc < 0) {
		if (err && errlen && !err[0])
			td_errf(err, errlen, "invalid calendar expression '%s'", expr);
		free(c);
		return rc;
	}
	*out = c;
	return 0;
}

int cal_next(const struct cal *c, int64_t after_unix_ns, int64_t *next_unix_ns)
{
	int64_t us;
	int rc;

	if (c->cron)
		return cron_next(c->cron, after_unix_ns, next_unix_ns);
	/* systemd counts in µs: the first elapse after floor(after/1000) µs is after AFTER too. */
	if ((rc = sdcal_next(c->sd, cal_fdiv(after_unix_ns, 1000), &us)) < 0)
		return rc;
	if (us > INT64_MAX / 1000)
		return TD_ENOENT;
	*next_unix_ns = us * 1000;
	return 0;
}

const char *cal_normalized(const struct cal *c)
{
	return c->cron ? cron_normalized(c->cron) : sdcal_normalized(c->sd);
}

const char *cal_zone(const struct cal *c)
{
	return c->cron ? cron_zone(c->cron) : sdcal_zone(c->sd);
}

void cal_free(struct cal *c)
{
	if (!c)
		return;
	sdcal_free(c->sd);
	cron_free(c->cron);
	free(c);
}
