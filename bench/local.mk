# bench/ -- benchmarks: JSON lines, timerd beside its peers in one run.
# `make bench` runs them all (bench/run-all) and rewrites their sections of
# doc/benchmarks.md; BENCH_ARGS passes options, e.g. make bench BENCH_ARGS=--quick.

noinst_PROGRAMS += bench/bench-primitives
bench_bench_primitives_SOURCES = bench/bench-primitives.c bench/bench.h
# The compile flags that matter for speed are printed in the benchmark's meta line.
bench_bench_primitives_CPPFLAGS = $(AM_CPPFLAGS) -DBENCH_CFLAGS='"$(CFLAGS) $(SAN_CFLAGS)"'
bench_bench_primitives_CFLAGS = $(AM_CFLAGS) $(URCU_CFLAGS)
bench_bench_primitives_LDADD = core/libcore.la
if HAVE_URCU
bench_bench_primitives_LDADD += $(URCU_LIBS)
endif
if HAVE_CK
bench_bench_primitives_LDADD += $(CK_LIBS)
endif

dist_noinst_SCRIPTS += bench/run-all

BENCH_ARGS =

# Runs every benchmark and rewrites their sections of doc/benchmarks.md.
bench: all
	python3 $(srcdir)/bench/run-all --build-dir "$(abs_top_builddir)" \
	  --doc "$(abs_top_srcdir)/doc/benchmarks.md" $(BENCH_ARGS)
.PHONY: bench
