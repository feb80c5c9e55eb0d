# tests/cal.mk -- the tests of cal/ (calendar schedules and time zones).
#
# test-cal: hand-checked elapses, normalised forms, errors, cron's DST rule,
# tz reload under concurrent cal_next.
# tz-zdump.sh: every zone under /usr/share/zoneinfo against zdump -v, 1970..2100.
# sd-compare.sh: thousands of (expression, base time) pairs against systemd-analyze.
# cron-compare.sh: generated cron expressions against python3-croniter (UTC).
# timerctl-calendar.sh: timerctl calendar's output, --json, never, errors.
check_PROGRAMS += \
	tests/cal/cal-tool \
	tests/unit/test-cal

tests_unit_test_cal_SOURCES = tests/unit/test-cal.c
tests_unit_test_cal_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_test_cal_LDADD = cal/libcal.la $(CHECK_LIBS)

tests_cal_cal_tool_SOURCES = tests/cal/cal-tool.c
tests_cal_cal_tool_LDADD = cal/libcal.la

dist_noinst_SCRIPTS += \
	tests/cal/cron-compare.py \
	tests/cal/cron-compare.sh \
	tests/cal/sd-compare.py \
	tests/cal/sd-compare.sh \
	tests/cal/timerctl-calendar.sh \
	tests/cal/tz-zdump.sh

TESTS += \
	tests/unit/test-cal \
	tests/cal/tz-zdump.sh \
	tests/cal/sd-compare.sh \
	tests/cal/cron-compare.sh \
	tests/cal/timerctl-calendar.sh

# libFuzzer harnesses of the two parsers (tests/fuzz.mk explains the scheme);
# make check replays tests/fuzz/corpus/{calendar,cron}.
FUZZ_NAMES += calendar cron
check_PROGRAMS += \
	tests/fuzz/replay-calendar \
	tests/fuzz/replay-cron
TESTS += \
	tests/fuzz/replay-calendar \
	tests/fuzz/replay-cron

tests_fuzz_replay_calendar_SOURCES = tests/fuzz/fuzz-calendar.c tests/fuzz/replay.c tests/fuzz/fuzz.h tests/fuzz/calendar.h
tests_fuzz_replay_calendar_CFLAGS = $(AM_CFLAGS) -DFUZZ_NAME='"calendar"'
tests_fuzz_replay_calendar_LDADD = cal/libcal.la

tests_fuzz_replay_cron_SOURCES = tests/fuzz/fuzz-cron.c tests/fuzz/replay.c tests/fuzz/fuzz.h tests/fuzz/calendar.h
tests_fuzz_replay_cron_CFLAGS = $(AM_CFLAGS) -DFUZZ_NAME='"cron"'
tests_fuzz_replay_cron_LDADD = cal/libcal.la

if FUZZ
noinst_PROGRAMS += \
	tests/fuzz/fuzz-calendar \
	tests/fuzz/fuzz-cron

tests_fuzz_fuzz_calendar_SOURCES = tests/fuzz/fuzz-calendar.c tests/fuzz/fuzz.h tests/fuzz/calendar.h
tests_fuzz_fuzz_calendar_LDFLAGS = $(FUZZER_LINK)
tests_fuzz_fuzz_calendar_LDADD = cal/libcal.la

tests_fuzz_fuzz_cron_SOURCES = tests/fuzz/fuzz-cron.c tests/fuzz/fuzz.h tests/fuzz/calendar.h
tests_fuzz_fuzz_cron_LDFLAGS = $(FUZZER_LINK)
tests_fuzz_fuzz_cron_LDADD = cal/libcal.la
endif
