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

# Re-runs LOOP_TESTS (default: the stress tests, tests/stress/stress-*, and
# LOOP_DAEMON_TESTS, the daemon tests that race by nature) round after
# round to catch rare races: until one fails, or with LOOP_SECONDS=S until
# a round ends after S seconds, then prints
# "check-loop: N rounds in S s, 0 failures". A failing test's output is
# printed and kept in check-loop.log; exit status 77 (skipped) counts as a pass.
#   make check-loop LOOP_SECONDS=1800
#   make check-loop LOOP_TESTS="tests/unit/test-dispatch" LOOP_SECONDS=60
LOOP_DAEMON_TESTS = tests/unit/test-server-badinput tests/unit/test-conn-lifetime \
	tests/unit/test-client-async tests/unit/test-dispatch
LOOP_TESTS =
LOOP_SECONDS = 0
check-loop: $(check_PROGRAMS)
	@$(AM_TESTS_ENVIRONMENT) tests="$(LOOP_TESTS)"; \
	if [ -z "$$tests" ]; then \
	  for t in tests/stress/stress-*; do case $$t in *.*) ;; *) tests="$$tests $$t";; esac; done; \
	  tests="$$tests $(LOOP_DAEMON_TESTS)"; \
	fi; \
	echo "check-loop:$$tests"; \
	start=$$(date +%s); n=0; \
	while :; do n=$$((n+1)); echo "check-loop: round $$n"; \
	  for t in $$tests; do \
	    rc=0; ./$$t > check-loop.log 2>&1 || rc=$$?; \
	    if [ $$rc -ne 0 ] && [ $$rc -ne 77 ]; then \
	      cat check-loop.log; \
	      echo "check-loop: $$t failed (status $$rc) in round $$n after $$(( $$(date +%s) - start )) s"; \
	      exit 1; \
	    fi; \
	  done; \
	  s=$$(( $$(date +%s) - start )); \
	  if [ $(LOOP_SECONDS) -gt 0 ] && [ $$s -ge $(LOOP_SECONDS) ]; then \
	    echo "check-loop: $$n rounds in $$s s, 0 failures"; exit 0; \
	  fi; \
	done
.PHONY: check-loop

# The status page in headless Chromium over the DevTools protocol (skips,
# 77, without chromium, node or /usr/bin/python3).
BROWSER_TESTS = tests/browser/status-page.sh
TESTS += $(BROWSER_TESTS)
EXTRA_DIST += $(BROWSER_TESTS) tests/browser/status-page.js tests/browser/png-variety.py
