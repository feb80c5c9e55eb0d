# tests/review.mk -- review tests: wheel edges driven like the dispatcher, the kill/revive path.
check_PROGRAMS += tests/unit/test-review-edges

tests_unit_test_review_edges_SOURCES = tests/unit/test-review-edges.c
tests_unit_test_review_edges_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_review_edges_LDADD = $(TEST_LIBS)

TESTS += tests/unit/test-review-edges
