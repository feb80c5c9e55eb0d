# tests/rpc.mk -- daemon, protocol, client and regress tests.
#
# The C tests that need a daemon start the built server/timerd on a private
# socket (tests/unit/test-server-util.h); the shell tests in tests/regress
# drive it with timerctl (tests/regress/lib.sh).

RPC_TEST_CFLAGS = $(TEST_CFLAGS) $(PROTOBUF_C_CFLAGS) $(LIBEVENT_CFLAGS) -I$(top_srcdir)/tests/unit

check_PROGRAMS += \
	tests/unit/test-client \
	tests/unit/test-client-async \
	tests/unit/test-conn-lifetime \
	tests/unit/test-journal-load \
	tests/unit/test-proto \
	tests/unit/test-server-badinput \
	tests/unit/test-server-errors \
	tests/unit/test-server-units

TESTS += \
	tests/unit/test-proto \
	tests/unit/test-server-units \
	tests/unit/test-server-errors \
	tests/unit/test-client \
	tests/unit/test-client-async \
	tests/unit/test-server-badinput \
	tests/unit/test-conn-lifetime \
	tests/unit/test-journal-load

# libtimerd's codec is built in: its internals are not exported by libtimerd.la.
tests_unit_test_proto_SOURCES = tests/unit/test-proto.c client/codec.c client/group.c client/internal.h client/tls.c
tests_unit_test_proto_CFLAGS = $(RPC_TEST_CFLAGS)
tests_unit_test_proto_LDADD = proto/libproto.la $(PROTOBUF_C_LIBS) $(OPENSSL_LIBS) $(CHECK_LIBS)

tests_unit_test_client_SOURCES = tests/unit/test-client.c tests/unit/test-server-util.h tests/wait.h
tests_unit_test_client_CFLAGS = $(RPC_TEST_CFLAGS)
tests_unit_test_client_LDADD = client/libtimerd.la $(CHECK_LIBS)

tests_unit_test_client_async_SOURCES = tests/unit/test-client-async.c tests/unit/test-server-util.h tests/wait.h
tests_unit_test_client_async_CFLAGS = $(RPC_TEST_CFLAGS)
tests_unit_test_client_async_LDADD = client/libtimerd.la $(LIBEVENT_LIBS) $(CHECK_LIBS)

tests_unit_test_server_badinput_SOURCES = tests/unit/test-server-badinput.c tests/unit/frames.h tests/unit/test-server-util.h tests/wait.h
tests_unit_test_server_badinput_CFLAGS = $(RPC_TEST_CFLAGS)
tests_unit_test_server_badinput_LDADD = client/libtimerd.la proto/libproto.la $(PROTOBUF_C_LIBS) $(CHECK_LIBS)

tests_unit_test_conn_lifetime_SOURCES = tests/unit/test-conn-lifetime.c tests/unit/test-server-util.h
tests_unit_test_conn_lifetime_CFLAGS = $(RPC_TEST_CFLAGS)
tests_unit_test_conn_lifetime_LDADD = $(SERVER_LIBS) $(CHECK_LIBS)

tests_unit_test_journal_load_SOURCES = tests/unit/test-journal-load.c
tests_unit_test_journal_load_CFLAGS = $(RPC_TEST_CFLAGS) $(SQLITE3_CFLAGS)
tests_unit_test_journal_load_LDADD = $(SERVER_LIBS) $(CHECK_LIBS)

tests_unit_test_server_units_SOURCES = tests/unit/test-server-units.c
tests_unit_test_server_units_CFLAGS = $(RPC_TEST_CFLAGS) $(SQLITE3_CFLAGS)
tests_unit_test_server_units_LDADD = $(SERVER_LIBS) $(CHECK_LIBS)

tests_unit_test_server_errors_SOURCES = tests/unit/test-server-errors.c
tests_unit_test_server_errors_CFLAGS = $(RPC_TEST_CFLAGS)
tests_unit_test_server_errors_LDADD = $(SERVER_LIBS) $(CHECK_LIBS)

# Shell tests: a real timerd driven by timerctl.
REGRESS_TESTS = \
	tests/regress/calendar.sh \
	tests/regress/cancel.sh \
	tests/regress/cli.sh \
	tests/regress/daemon.sh \
	tests/regress/diskfull.sh \
	tests/regress/durable-cli.sh \
	tests/regress/durable-coalesce.sh \
	tests/regress/durable.sh \
	tests/regress/fire.sh \
	tests/regress/http-page.sh \
	tests/regress/list.sh \
	tests/regress/periodic.sh \
	tests/regress/probes.sh \
	tests/regress/rearm.sh \
	tests/regress/sigterm.sh \
	tests/regress/stats-history.sh \
	tests/regress/store-size.sh \
	tests/regress/tcp.sh \
	tests/regress/top.sh
TESTS += $(REGRESS_TESTS)
EXTRA_DIST += $(REGRESS_TESTS) tests/regress/lib.sh

# The crash test of durable timers: SIGKILL at random moments under a
# pipelined load, restart, check every acknowledged change (one run per
# --fsync mode, and one with snapshots forced to run into the kills).
check_PROGRAMS += tests/stress/crash-durable
CRASH_TESTS = \
	tests/stress/crash-durable-always.sh \
	tests/stress/crash-durable-10ms.sh \
	tests/stress/crash-durable-never.sh \
	tests/stress/crash-durable-snapshot.sh \
	tests/stress/crash-durable-revive.sh
TESTS += $(CRASH_TESTS)
EXTRA_DIST += $(CRASH_TESTS)

tests_stress_crash_durable_SOURCES = tests/stress/crash-durable.c tests/stress/stress.h tests/unit/test-server-util.h
tests_stress_crash_durable_CFLAGS = $(RPC_TEST_CFLAGS)
tests_stress_crash_durable_LDADD = client/libtimerd.la $(LIBEVENT_LIBS)

# Security (issue 12): regression tests of the holes closed (doc/security.md).
SEC_REGRESS_TESTS = \
	tests/regress/sockdir.sh \
	tests/regress/sockpath.sh \
	tests/regress/statemodes.sh \
	tests/regress/tcp-peer.sh \
	tests/regress/slowconn.sh \
	tests/regress/limits.sh \
	tests/regress/text.sh \
	tests/regress/memory.sh \
	tests/regress/privdrop.sh \
	tests/regress/exposure.sh \
	tests/regress/authtimeout.sh \
	tests/regress/quotas.sh \
	tests/regress/memory-watch.sh \
	tests/regress/quota-timers.sh
TESTS += $(SEC_REGRESS_TESTS)
check_PROGRAMS += tests/regress/quota-fair
tests_regress_quota_fair_SOURCES = tests/regress/quota-fair.c
tests_regress_quota_fair_CFLAGS = $(RPC_TEST_CFLAGS)
tests_regress_quota_fair_LDADD = client/libtimerd.la $(LIBEVENT_LIBS) -lpthread
EXTRA_DIST += $(SEC_REGRESS_TESTS) tests/regress/conns.py tests/regress/text.py tests/regress/auth_timeout.py

# TLS on the TCP listener (issue 12 section 3, doc/security.md "TLS").
TLS_REGRESS_TESTS = tests/regress/tls.sh
TESTS += $(TLS_REGRESS_TESTS)
EXTRA_DIST += $(TLS_REGRESS_TESTS) tests/regress/tls_check.py

# Identities: the users file and the rule engine (server/ident.c, issue 12 section 4).
check_PROGRAMS += tests/unit/test-ident
TESTS += tests/unit/test-ident
tests_unit_test_ident_SOURCES = tests/unit/test-ident.c
tests_unit_test_ident_CFLAGS = $(RPC_TEST_CFLAGS)
tests_unit_test_ident_LDADD = $(SERVER_LIBS) $(CHECK_LIBS)
AUTH_REGRESS_TESTS = tests/regress/auth.sh tests/regress/http-auth.sh tests/regress/tls-ident.sh tests/regress/owner.sh \
	tests/regress/owner-plain.sh
TESTS += $(AUTH_REGRESS_TESTS)
EXTRA_DIST += $(AUTH_REGRESS_TESTS)

# Every Request body x every kind of identity rule against a real timerd (server/rpc.c rpc_permit).
check_PROGRAMS += tests/unit/test-perm-table
TESTS += tests/unit/test-perm-table
tests_unit_test_perm_table_SOURCES = tests/unit/test-perm-table.c tests/unit/frames.h tests/unit/test-server-util.h tests/wait.h
tests_unit_test_perm_table_CFLAGS = $(RPC_TEST_CFLAGS)
tests_unit_test_perm_table_LDADD = client/libtimerd.la proto/libproto.la $(PROTOBUF_C_LIBS) $(CHECK_LIBS)
