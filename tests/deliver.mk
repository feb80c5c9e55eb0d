# tests/deliver.mk -- consumer groups under SIGKILL (issue 11): timerd killed
# at random moments (seeded) while 4 consumers ack and a producer arms; every
# acknowledged arm must be acked by a consumer after the last restart.
check_PROGRAMS += tests/stress/group-crash-client
tests_stress_group_crash_client_SOURCES = tests/stress/group-crash-client.c
tests_stress_group_crash_client_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS)
tests_stress_group_crash_client_LDADD = client/libtimerd.la $(LIBEVENT_LIBS)
GROUP_CRASH_TESTS = tests/stress/group-crash.sh
TESTS += $(GROUP_CRASH_TESTS)
EXTRA_DIST += $(GROUP_CRASH_TESTS)
# The test is strict: a failure keeps its logs and state in
# /tmp/group-crash-failed.SEED. It found lost deliveries once (a re-armed
# slot's PUT committed before the old timer's fire rows), fixed by the
# journal's ordering rule for fires (doc/architecture.md, "Ordering rule").
