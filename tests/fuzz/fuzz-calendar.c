/*
 * fuzz-calendar.c -- the systemd calendar parser (cal/sdcal.c) as cal_parse
 * sees an Arm's calendar field: parse, then a few next elapses.
 *
 * Checks: cal_parse returns 0, TD_EINVAL with a message, or TD_ENOMEM; a
 * parsed expression's normalised form parses again to itself; elapses come
 * strictly after their base and grow; nothing leaks (ASan).
 */
#include "config.h"

#include <string.h>

#include "cal/cal.h"
#include "core/err.h"
#include "tests/fuzz/fuzz.h"

/* Parses the normalised form of c again and checks it is a fixed point. */
static void calendar_reparse(const struct cal *c)
{
	struct cal *d;
	char err[256] = "";

	if (cal_parse(cal_normalized(c), &d, err, sizeof(err)) != 0)
		fuzz_fail("normalised form '%s' does not parse: %s", cal_normalized(c), err);
	if (strcmp(cal_normalized(c), cal_normalized(d)))
		fuzz_fail("normalised form '%s' normalises to '%s'", cal_normalized(c), cal_normalized(d));
	cal_free(d);
}

/* Walks a few elapses from a base taken from the input. */
static void calendar_walk(const struct cal *c, int64_t base)
{
	int64_t t = base, n;

	for (int i = 0; i < 4; i++) {
		if (cal_next(c, t, &n) != 0)
			return;
		if (n <= t)
			fuzz_fail("'%s': elapse %lld is not after %lld", cal_normalized(c), (long long)n, (long long)t);
		t = n;
	}
}

/* Parses one expression; the first 4 bytes (if more follow) pick the base time. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int64_t base = INT64_C(1790380800) * 1000000000;
	char *text, err[256] = "";
	struct cal *c;
	int rc;

	if (size > 4096)
		return 0;
	if (size > 4 && data[0] == 0xff) {
		base = (int64_t)((uint32_t)data[1] << 16 | (uint32_t)data[2] << 8 | data[3]) * 3600 * INT64_C(1000000000);
		data += 4;
		size -= 4;
	}
	if (!(text = malloc(size + 1)))
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	rc = cal_parse(text, &c, err, sizeof(err));
	if (rc == 0) {
		calendar_reparse(c);
		calendar_walk(c, base);
		cal_free(c);
	} else if ((rc != TD_EINVAL || !err[0]) && rc != TD_ENOMEM) {
		fuzz_fail("cal_parse returned %d with message '%s'", rc, err);
	}
	free(text);
	return 0;
}
