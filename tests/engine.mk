# tests/engine.mk -- engine tests: wheel model and edges, engine API, dispatcher, torture.
check_PROGRAMS += \
	tests/unit/test-wheel \
	tests/unit/test-engine \
	tests/unit/test-engine-cal \
	tests/unit/test-dispatch \
	tests/stress/stress-engine \
	tests/stress/stress-table

tests_unit_test_wheel_SOURCES = tests/unit/test-wheel.c
tests_unit_test_wheel_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_wheel_LDADD = $(TEST_LIBS)

tests_unit_test_engine_SOURCES = tests/unit/test-engine.c
tests_unit_test_engine_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_engine_LDADD = $(TEST_LIBS)

tests_unit_test_engine_cal_SOURCES = tests/unit/test-engine-cal.c
tests_unit_test_engine_cal_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_engine_cal_LDADD = $(TEST_LIBS)

tests_unit_test_dispatch_SOURCES = tests/unit/test-dispatch.c tests/wait.h
tests_unit_test_dispatch_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_dispatch_LDADD = $(TEST_LIBS)

tests_stress_stress_engine_SOURCES = tests/stress/stress-engine.c tests/stress/stress.h
tests_stress_stress_engine_LDADD = core/libcore.la

tests_stress_stress_table_SOURCES = tests/stress/stress-table.c tests/stress/stress.h
tests_stress_stress_table_LDADD = core/libcore.la

TESTS += \
	tests/unit/test-wheel \
	tests/unit/test-engine \
	tests/unit/test-engine-cal \
	tests/unit/test-dispatch \
	tests/stress/stress-engine \
	tests/stress/stress-table

# The durable store on its own (store/).
check_PROGRAMS += tests/unit/test-store
tests_unit_test_store_SOURCES = tests/unit/test-store.c
tests_unit_test_store_CFLAGS = $(TEST_CFLAGS) $(SQLITE3_CFLAGS)
tests_unit_test_store_LDADD = store/libstore.la $(SQLITE3_LIBS) $(CHECK_LIBS)
TESTS += tests/unit/test-store

# Saved timers put back before the engine starts.
check_PROGRAMS += tests/unit/test-restore
tests_unit_test_restore_SOURCES = tests/unit/test-restore.c
tests_unit_test_restore_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_restore_LDADD = $(TEST_LIBS)
TESTS += tests/unit/test-restore

# Security (issue 12): a List by topic does not copy what it does not return.
check_PROGRAMS += tests/unit/test-list-scan
tests_unit_test_list_scan_SOURCES = tests/unit/test-list-scan.c
tests_unit_test_list_scan_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_list_scan_LDADD = $(TEST_LIBS)
TESTS += tests/unit/test-list-scan
