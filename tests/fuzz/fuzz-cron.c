/*
 * fuzz-cron.c -- the cron parser (cal/cron.c) as cal_parse sees an Arm's
 * calendar field (the input is prefixed with CRON_TZ=UTC unless it starts
 * with @ or CRON_TZ=, so that it is read as cron): parse, then a few next
 * elapses (the body and its checks: tests/fuzz/calendar.h).
 */
#include "config.h"

#include "tests/fuzz/calendar.h"

/* "CRON_TZ=UTC " unless the input names its own (CRON_TZ=) or is a nickname (@daily). */
static const char *cron_prefix(const uint8_t *data, size_t size)
{
	return size && (data[0] == '@' || (size >= 8 && !memcmp(data, "CRON_TZ=", 8))) ? "" : "CRON_TZ=UTC ";
}

/* Parses one expression as cron. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return calendar_fuzz_one(data, size, cron_prefix);
}
