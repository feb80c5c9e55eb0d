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
# The test is strict: it fails (keeping its logs and state in
# /tmp/group-crash-failed.SEED) while the daemon can lose a delivery under
# SIGKILL, which it did in 3 of 7 runs here at this commit (a slot
# re-armed and its PUT committed before the fire batch holding the old
# timer's FIRED and delivery rows; see the deliver-bench report). To merge
# before that is fixed, list it in XFAIL_TESTS (it then XPASSes now and then).
# Fixed by the journal's ordering rule for fires (branch groups-crashfix,
# doc/architecture.md "Ordering rule"): 16 of 16 runs passed there (2 more under TSan).
