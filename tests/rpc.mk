# tests/rpc.mk -- daemon, protocol, client and regress tests.

check_PROGRAMS += tests/unit/test-proto
TESTS += tests/unit/test-proto

tests_unit_test_proto_SOURCES = tests/unit/test-proto.c
tests_unit_test_proto_CFLAGS = $(TEST_CFLAGS) $(PROTOBUF_C_CFLAGS)
tests_unit_test_proto_LDADD = proto/libproto.la $(CHECK_LIBS)
