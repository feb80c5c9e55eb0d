# tests/group-core.mk -- consumer groups, daemon side: the state machine
# (server/group.c) on an injected clock with fake journal hooks.

check_PROGRAMS += tests/unit/test-group
TESTS += tests/unit/test-group
tests_unit_test_group_SOURCES = tests/unit/test-group.c
tests_unit_test_group_CFLAGS = $(RPC_TEST_CFLAGS)
tests_unit_test_group_LDADD = $(SERVER_LIBS) $(CHECK_LIBS)
