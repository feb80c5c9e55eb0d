# bench/deliver.mk -- the "Deliveries" section of doc/benchmarks.md (issue 11).
#
# bench/deliver-client: one figure against one running server: acked
# deliveries/s of beanstalkd reserve+delete, Redis's reliable queue (BLMOVE +
# LREM) and timerd's consumer groups; timerd's lateness through a group and
# memory per backlogged delivery. bench/bench-deliver starts the servers,
# runs every point 3 times and prints medians and ratios.
noinst_PROGRAMS += bench/deliver-client
dist_noinst_SCRIPTS += bench/bench-deliver
bench_deliver_client_SOURCES = bench/deliver-client.c
bench_deliver_client_CPPFLAGS = $(AM_CPPFLAGS) -DDELIVER_TIMERD
bench_deliver_client_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS)
bench_deliver_client_LDADD = client/libtimerd.la $(LIBEVENT_LIBS) -lpthread

# bench/bench-store-floor: the journal thread's SQLite rows per job alone (store/store.c, no daemon).
noinst_PROGRAMS += bench/bench-store-floor
bench_bench_store_floor_SOURCES = bench/bench-store-floor.c
bench_bench_store_floor_CFLAGS = $(AM_CFLAGS) $(SQLITE3_CFLAGS)
bench_bench_store_floor_LDADD = store/libstore.la $(SQLITE3_LIBS)
