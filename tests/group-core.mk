# tests/group-core.mk -- consumer groups, daemon side: the state machine
# (server/group.c) on an injected clock with fake journal hooks.

check_PROGRAMS += tests/unit/test-group
TESTS += tests/unit/test-group
tests_unit_test_group_SOURCES = tests/unit/test-group.c
tests_unit_test_group_CFLAGS = $(RPC_TEST_CFLAGS)
tests_unit_test_group_LDADD = $(SERVER_LIBS) $(CHECK_LIBS)

# consumer-group requests in raw frames against a real timerd
check_PROGRAMS += tests/unit/test-group-badinput
TESTS += tests/unit/test-group-badinput
tests_unit_test_group_badinput_SOURCES = tests/unit/test-group-badinput.c tests/unit/frames.h tests/unit/test-server-util.h tests/wait.h
tests_unit_test_group_badinput_CFLAGS = $(RPC_TEST_CFLAGS)
tests_unit_test_group_badinput_LDADD = client/libtimerd.la proto/libproto.la $(PROTOBUF_C_LIBS) $(CHECK_LIBS)

# A real timerd: refused Subscribes take no subscription slot; a stop while
# the group thread times deliveries out (TSan/ASan: the journal outlives it).
check_PROGRAMS += tests/unit/test-group-srv
TESTS += tests/unit/test-group-srv
tests_unit_test_group_srv_SOURCES = tests/unit/test-group-srv.c tests/unit/test-server-util.h tests/wait.h
tests_unit_test_group_srv_CFLAGS = $(RPC_TEST_CFLAGS)
tests_unit_test_group_srv_LDADD = client/libtimerd.la proto/libproto.la $(PROTOBUF_C_LIBS) $(CHECK_LIBS)
