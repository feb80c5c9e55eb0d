# bench/ -- benchmarks: JSON lines, timerd beside its peers in one run.
# `make bench` runs them all (bench/run-all) and rewrites their sections of
# doc/benchmarks.md; BENCH_ARGS passes options, e.g. make bench BENCH_ARGS=--quick.

# The helpers every benchmark links (bench/bench.h). The compile flags that
# matter for speed are printed in each benchmark's meta line.
noinst_LTLIBRARIES += bench/libbench.la
bench_libbench_la_SOURCES = bench/bench.c bench/bench.h
bench_libbench_la_CPPFLAGS = $(AM_CPPFLAGS) -DBENCH_CFLAGS='"$(CFLAGS) $(SAN_CFLAGS)"'

# The "primitives" section of doc/benchmarks.md: the cell and hazard pointers beside their peers.
noinst_PROGRAMS += bench/bench-cell bench/bench-hazptr

bench_bench_cell_SOURCES = bench/bench-cell.c bench/cell-variants.h
bench_bench_cell_LDADD = bench/libbench.la core/libcore.la
if HAVE_CK
bench_bench_cell_LDADD += $(CK_LIBS)
endif

bench_bench_hazptr_SOURCES = bench/bench-hazptr.c
bench_bench_hazptr_CFLAGS = $(AM_CFLAGS) $(URCU_CFLAGS)
bench_bench_hazptr_LDADD = bench/libbench.la core/libcore.la
if HAVE_URCU
bench_bench_hazptr_LDADD += $(URCU_LIBS)
endif
if HAVE_CK
bench_bench_hazptr_LDADD += $(CK_LIBS)
endif

dist_noinst_SCRIPTS += bench/run-all

BENCH_ARGS =

# Runs every benchmark and rewrites their sections of doc/benchmarks.md.
bench: all
	python3 $(srcdir)/bench/run-all --build-dir "$(abs_top_builddir)" \
	  --doc "$(abs_top_srcdir)/doc/benchmarks.md" $(BENCH_ARGS)
.PHONY: bench

# The "Calendar schedules" section of doc/benchmarks.md: cal_next beside
# systemd-analyze and croniter (bench/bench-calendar runs bench/cal-next-bench).
noinst_PROGRAMS += bench/cal-next-bench
bench_cal_next_bench_SOURCES = bench/cal-next-bench.c
bench_cal_next_bench_LDADD = cal/libcal.la
dist_noinst_SCRIPTS += bench/bench-calendar

# The "Identities" section of doc/benchmarks.md: the permission check per
# request beside a naive prefix loop, and the scrypt cost (server/ident.c).
noinst_PROGRAMS += bench/bench-ident
bench_bench_ident_SOURCES = bench/bench-ident.c
bench_bench_ident_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS)
bench_bench_ident_LDADD = server/libserver.la proto/libproto.la $(PROTOBUF_C_LIBS) $(OPENSSL_LIBS)
