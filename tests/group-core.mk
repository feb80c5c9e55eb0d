# tests/group-core.mk -- consumer groups, daemon side: the state machine
# (server/group.c) on an injected clock with fake journal hooks.

check_PROGRAMS += tests/unit/test-group
TESTS += tests/unit/test-group
tests_unit_test_group_SOURCES = tests/unit/test-group.c
tests_unit_test_group_CFLAGS = $(RPC_TEST_CFLAGS)
tests_unit_test_group_LDADD = $(SERVER_LIBS) $(CHECK_LIBS)

# A real timerd: refused Subscribes take no subscription slot; a stop while
# the group thread times deliveries out (TSan/ASan: the journal outlives it).
check_PROGRAMS += tests/unit/test-group-srv
TESTS += tests/unit/test-group-srv
tests_unit_test_group_srv_SOURCES = tests/unit/test-group-srv.c
tests_unit_test_group_srv_CFLAGS = $(RPC_TEST_CFLAGS)
tests_unit_test_group_srv_LDADD = client/libtimerd.la proto/libproto.la $(PROTOBUF_C_LIBS) $(CHECK_LIBS)
