# bench/engine.mk -- bench-engine: the engine beside libevent and a binary heap.
noinst_PROGRAMS += bench/bench-engine
bench_bench_engine_SOURCES = bench/bench-engine.c bench/bench.h
bench_bench_engine_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS)
bench_bench_engine_LDADD = bench/libbench.la core/libcore.la $(LIBEVENT_LIBS)
