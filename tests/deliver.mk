# tests/deliver.mk -- consumer groups under SIGKILL (issue 11): timerd killed
# at random moments (seeded) while 4 consumers ack and a producer arms; every
# acknowledged arm must be acked by a consumer after the last restart.
# GROUPS_CFLAGS: -DTIMERD_HAVE_GROUPS: libtimerd has the group functions
# (without it the client is a stub and the test skips).
GROUPS_CFLAGS = -DTIMERD_HAVE_GROUPS
check_PROGRAMS += tests/stress/group-crash-client
tests_stress_group_crash_client_SOURCES = tests/stress/group-crash-client.c
tests_stress_group_crash_client_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS) $(GROUPS_CFLAGS)
tests_stress_group_crash_client_LDADD = client/libtimerd.la $(LIBEVENT_LIBS)
GROUP_CRASH_TESTS = tests/stress/group-crash.sh
TESTS += $(GROUP_CRASH_TESTS)
EXTRA_DIST += $(GROUP_CRASH_TESTS)
# Expected to fail until the daemon stops losing deliveries under SIGKILL: it
# finds one-shot timers armed and acknowledged whose fire was neither
# journaled nor delivered, their slots re-armed and fired in later commits
# (the deliver-bench report to the coordinator has the evidence). Remove this
# line once the daemon is fixed: the test then guards it.
XFAIL_TESTS = $(GROUP_CRASH_TESTS)
