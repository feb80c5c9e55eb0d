/*
 * fuzz-calendar.c -- the systemd calendar parser (cal/sdcal.c) as cal_parse
 * sees an Arm's calendar field: parse, then a few next elapses (the body
 * and its checks: tests/fuzz/calendar.h).
 */
#include "config.h"

#include "tests/fuzz/calendar.h"

/* Parses one expression as it is. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return calendar_fuzz_one(data, size, NULL);
}
