# tests/ -- unit tests (check), stress tests (invariant checkers), regress (shell).
TEST_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
TEST_LIBS = core/libcore.la $(CHECK_LIBS)

check_PROGRAMS += \
	tests/unit/test-cell \
	tests/unit/test-hazptr \
	tests/stress/stress-cell \
	tests/stress/stress-hazptr

tests_unit_test_cell_SOURCES = tests/unit/test-cell.c bench/cell-variants.h
tests_unit_test_cell_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_cell_LDADD = $(TEST_LIBS)

tests_unit_test_hazptr_SOURCES = tests/unit/test-hazptr.c tests/wait.h
tests_unit_test_hazptr_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_hazptr_LDADD = $(TEST_LIBS)

tests_stress_stress_cell_SOURCES = tests/stress/stress-cell.c tests/stress/stress.h bench/cell-variants.h
tests_stress_stress_cell_LDADD = core/libcore.la

tests_stress_stress_hazptr_SOURCES = tests/stress/stress-hazptr.c tests/stress/stress.h tests/wait.h
tests_stress_stress_hazptr_LDADD = core/libcore.la

TESTS += \
	tests/unit/test-cell \
	tests/unit/test-hazptr \
	tests/stress/stress-cell \
	tests/stress/stress-hazptr

# Re-runs the stress tests until one fails (catches rare races).
check-loop: $(check_PROGRAMS)
	@n=0; while :; do n=$$((n+1)); echo "check-loop: round $$n"; \
	  for t in tests/stress/stress-*; do case $$t in *.o|*.c|*.h|*.log|*.trs) continue;; esac; \
	    [ -x $$t ] || continue; ./$$t >/dev/null || { echo "check-loop: $$t failed in round $$n"; exit 1; }; \
	  done; done
.PHONY: check-loop
