/*
 * fuzz-units.c -- proto/units.c: durations and RFC 3339 times as settings,
 * timerctl flags and probe specs give them, and the formatting timerctl
 * applies to the numbers a server sends.
 *
 * Input: byte 0 picks the mode (0 duration, 1 time, 2 format the next 8
 * bytes as a duration and a time); the rest is the text.
 *
 * Checks: a parse gives a value or an error message; a parsed duration
 * formats into text that parses back to within the format's precision; a
 * parsed time formats (UTC) into text that parses back to the same
 * millisecond; formatting any number stays within UNITS_BUFSZ.
 */
#include "config.h"

#include <string.h>

#include "proto/units.h"
#include "tests/fuzz/fuzz.h"

#define NS_PER_S 1000000000LL

/* How far a formatted duration may be from the value: the last digit it prints. */
static int64_t units_precision(int64_t ns)
{
	if (ns >= 60 * NS_PER_S)
		return NS_PER_S;
	if (ns >= NS_PER_S)
		return 10000000;
	if (ns >= 1000000)
		return 1000;
	if (ns >= 1000)
		return 100;
	return 1;
}

/* Parses a duration; round-trips it through units_duration_format. */
static void units_duration(const char *text)
{
	char err[256] = "", buf[UNITS_BUFSZ];
	int64_t ns, back;

	if (units_duration_parse(text, &ns, err, sizeof(err)) < 0) {
		if (!err[0])
			fuzz_fail("duration '%s' refused without a message", text);
		return;
	}
	if (ns < 0)
		fuzz_fail("duration '%s' parsed to %lld", text, (long long)ns);
	units_duration_format(ns, buf, sizeof(buf));
	if (units_duration_parse(buf, &back, err, sizeof(err)) < 0)
		fuzz_fail("duration %lld formats as '%s', which does not parse: %s", (long long)ns, buf, err);
	if (back > ns || ns - back >= units_precision(ns))
		fuzz_fail("duration %lld formats as '%s', which parses as %lld", (long long)ns, buf, (long long)back);
}

/* Parses a time; round-trips it through units_time_format (UTC). */
static void units_time(const char *text)
{
	char err[256] = "", buf[UNITS_BUFSZ];
	int64_t ns, back;

	if (units_time_parse(text, &ns, err, sizeof(err)) < 0) {
		if (!err[0])
			fuzz_fail("time '%s' refused without a message", text);
		return;
	}
	if (ns < 0)
		fuzz_fail("time '%s' parsed to %lld", text, (long long)ns);
	units_time_format(ns, true, buf, sizeof(buf));
	if (strlen(buf) >= 5 && buf[4] != '-')
		return;		/* a year past 9999: RFC 3339 cannot write it */
	if (units_time_parse(buf, &back, err, sizeof(err)) < 0)
		fuzz_fail("time %lld formats as '%s', which does not parse: %s", (long long)ns, buf, err);
	if (back != ns - ns % 1000000)
		fuzz_fail("time %lld formats as '%s', which parses as %lld", (long long)ns, buf, (long long)back);
}

/* Formats an arbitrary number both ways, in a buffer of exactly UNITS_BUFSZ. */
static void units_format(const uint8_t *p, size_t n)
{
	char buf[UNITS_BUFSZ];
	int64_t v = 0;

	memcpy(&v, p, n < sizeof(v) ? n : sizeof(v));
	units_duration_format(v, buf, sizeof(buf));
	if (strnlen(buf, sizeof(buf)) == sizeof(buf))
		fuzz_fail("duration %lld overflowed its buffer", (long long)v);
	units_time_format(v, true, buf, sizeof(buf));
	units_time_format(v, false, buf, sizeof(buf));
	if (strnlen(buf, sizeof(buf)) == sizeof(buf))
		fuzz_fail("time %lld overflowed its buffer", (long long)v);
}

/* Runs one input in the mode its first byte picks. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text;

	if (size < 1)
		return 0;
	if (data[0] % 3 == 2) {
		units_format(data + 1, size - 1);
		return 0;
	}
	if (!(text = malloc(size)))
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	if (data[0] % 3 == 0)
		units_duration(text);
	else
		units_time(text);
	free(text);
	return 0;
}
