# tests/probe.mk -- BPF probe tests.
#
# test-probe-spec needs nothing special; the others attach real probes to
# tests/probe/probe-target and exit 77 when not root or when BPF probes
# cannot be loaded. Each is bounded to a few seconds. test-probe-daemon.sh
# runs the same watchdog through server/timerd --probe and client/timerctl.
PROBE_TEST_CFLAGS = $(AM_CFLAGS) $(LIBBPF_CFLAGS)
PROBE_TEST_LIBS = probe/libprobe.la core/libcore.la $(LIBBPF_LIBS)
PROBE_TEST_HELPERS = tests/probe/probe-test.c tests/probe/probe-test.h

check_PROGRAMS += \
	tests/probe/probe-target \
	tests/probe/test-probe-spec \
	tests/probe/test-probe-uprobe \
	tests/probe/test-probe-usdt \
	tests/probe/test-probe-tracepoint \
	tests/probe/test-probe-perf \
	tests/probe/test-probe-errors

tests_probe_probe_target_SOURCES = tests/probe/probe-target.c
tests_probe_probe_target_CFLAGS = $(AM_CFLAGS)

tests_probe_test_probe_spec_SOURCES = tests/probe/test-probe-spec.c
tests_probe_test_probe_spec_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_probe_test_probe_spec_LDADD = probe/libprobe.la $(CHECK_LIBS)

tests_probe_test_probe_uprobe_SOURCES = tests/probe/test-probe-watchdog.c $(PROBE_TEST_HELPERS)
tests_probe_test_probe_uprobe_CFLAGS = $(PROBE_TEST_CFLAGS)
tests_probe_test_probe_uprobe_LDADD = $(PROBE_TEST_LIBS)

tests_probe_test_probe_usdt_SOURCES = tests/probe/test-probe-watchdog.c $(PROBE_TEST_HELPERS)
tests_probe_test_probe_usdt_CFLAGS = $(PROBE_TEST_CFLAGS) -DWATCHDOG_USDT
tests_probe_test_probe_usdt_LDADD = $(PROBE_TEST_LIBS)

tests_probe_test_probe_tracepoint_SOURCES = tests/probe/test-probe-tracepoint.c $(PROBE_TEST_HELPERS)
tests_probe_test_probe_tracepoint_CFLAGS = $(PROBE_TEST_CFLAGS)
tests_probe_test_probe_tracepoint_LDADD = $(PROBE_TEST_LIBS)

tests_probe_test_probe_perf_SOURCES = tests/probe/test-probe-perf.c $(PROBE_TEST_HELPERS)
tests_probe_test_probe_perf_CFLAGS = $(PROBE_TEST_CFLAGS)
tests_probe_test_probe_perf_LDADD = $(PROBE_TEST_LIBS)

tests_probe_test_probe_errors_SOURCES = tests/probe/test-probe-errors.c $(PROBE_TEST_HELPERS)
tests_probe_test_probe_errors_CFLAGS = $(PROBE_TEST_CFLAGS)
tests_probe_test_probe_errors_LDADD = $(PROBE_TEST_LIBS)

TESTS += \
	tests/probe/test-probe-spec \
	tests/probe/test-probe-uprobe \
	tests/probe/test-probe-usdt \
	tests/probe/test-probe-tracepoint \
	tests/probe/test-probe-perf \
	tests/probe/test-probe-errors \
	tests/probe/test-probe-daemon.sh

EXTRA_DIST += tests/probe/test-probe-daemon.sh

# Security (issue 12): the ELF reader on crafted binaries (no root needed).
check_PROGRAMS += tests/unit/test-elf
tests_unit_test_elf_SOURCES = tests/unit/test-elf.c
tests_unit_test_elf_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_test_elf_LDADD = probe/libprobe.la $(LIBBPF_LIBS) $(CHECK_LIBS)
TESTS += tests/unit/test-elf
