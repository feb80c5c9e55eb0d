# tests/probe.mk -- BPF probe tests.
#
# test-probe-spec needs nothing special: the spec parser, the engine key
# format and the ELF lookups, against tests/probe/probe-target (the program
# the BPF probe tests attach to).
check_PROGRAMS += \
	tests/probe/probe-target \
	tests/probe/test-probe-spec

tests_probe_probe_target_SOURCES = tests/probe/probe-target.c
tests_probe_probe_target_CFLAGS = $(AM_CFLAGS)

tests_probe_test_probe_spec_SOURCES = tests/probe/test-probe-spec.c
tests_probe_test_probe_spec_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_probe_test_probe_spec_LDADD = server/libprobe.la $(CHECK_LIBS)

TESTS += \
	tests/probe/test-probe-spec
