# tests/cal.mk -- the tests of cal/ (calendar schedules and time zones).
#
# test-cal: hand-checked elapses, normalised forms, errors, cron's DST rule,
# tz reload under concurrent cal_next.
# tz-zdump.sh: every zone under /usr/share/zoneinfo against zdump -v, 1970..2100.
# sd-compare.sh: thousands of (expression, base time) pairs against systemd-analyze.
check_PROGRAMS += \
	tests/cal/cal-tool \
	tests/unit/test-cal

tests_unit_test_cal_SOURCES = tests/unit/test-cal.c
tests_unit_test_cal_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_test_cal_LDADD = cal/libcal.la $(CHECK_LIBS)

tests_cal_cal_tool_SOURCES = tests/cal/cal-tool.c
tests_cal_cal_tool_LDADD = cal/libcal.la

dist_noinst_SCRIPTS += \
	tests/cal/sd-compare.py \
	tests/cal/sd-compare.sh \
	tests/cal/tz-zdump.sh

TESTS += \
	tests/unit/test-cal \
	tests/cal/tz-zdump.sh \
	tests/cal/sd-compare.sh

