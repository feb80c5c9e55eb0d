/*
 * calendar.h -- the body fuzz-calendar.c and fuzz-cron.c share: one input
 * as cal_parse sees an Arm's calendar field, parsed, its normalised form
 * parsed again, then a few next elapses.
 *
 *	int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
 *	{
 *		return calendar_fuzz_one(data, size, my_prefix);   NULL: no prefix
 *	}
 *
 * Checks: cal_parse returns 0, TD_EINVAL with a message, or TD_ENOMEM; a
 * parsed expression's normalised form parses again to itself; elapses come
 * strictly after their base and grow; nothing leaks (ASan).
 */
#ifndef TIMERD_TESTS_FUZZ_CALENDAR_H
#define TIMERD_TESTS_FUZZ_CALENDAR_H

#include <stdint.h>
#include <stdlib.h>
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

/*
 * Parses one expression; the first 4 bytes (0xff and 3 more, if more
 * follow) pick the base time; the text parsed is prefix(rest) (NULL: "")
 * followed by the rest. Returns 0 (libFuzzer's convention).
 */
static int calendar_fuzz_one(const uint8_t *data, size_t size, const char *(*prefix)(const uint8_t *p, size_t n))
{
	int64_t base = INT64_C(1790380800) * 1000000000;
	char *text, err[256] = "";
	const char *pre;
	struct cal *c;
	size_t plen;
	int rc;

	if (size > 4096)
		return 0;
	if (size > 4 && data[0] == 0xff) {
		base = (int64_t)((uint32_t)data[1] << 16 | (uint32_t)data[2] << 8 | data[3]) * 3600 * INT64_C(1000000000);
		data += 4;
		size -= 4;
	}
	pre = prefix ? prefix(data, size) : "";
	plen = strlen(pre);
	if (!(text = malloc(plen + size + 1)))
		return 0;
	memcpy(text, pre, plen);
	memcpy(text + plen, data, size);
	text[plen + size] = '\0';
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

#endif /* TIMERD_TESTS_FUZZ_CALENDAR_H */
