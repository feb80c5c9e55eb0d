# bench/rpc.mk -- timerd-bench and compare-peers.
#
# bench/timerd-bench: timerd's RPC figures through libtimerd (rpc.arm,
# rpc.rtt, e2e.lateness). bench/bench-beanstalkd: the same figures for
# beanstalkd's put with a delay. bench/compare-peers runs both beside
# redis-benchmark against private servers and prints medians and goals.

noinst_PROGRAMS += bench/timerd-bench bench/bench-beanstalkd
dist_noinst_SCRIPTS += bench/compare-peers

bench_timerd_bench_SOURCES = bench/timerd-bench.c
bench_timerd_bench_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS)
bench_timerd_bench_LDADD = client/libtimerd.la $(LIBEVENT_LIBS)

bench_bench_beanstalkd_SOURCES = bench/bench-beanstalkd.c

# bench/bench-fsync: the disk's append + fdatasync latency (disk.fdatasync),
# the floor under --fsync always. bench/compare-durable: timerd's fsync
# policies beside Redis' AOF and beanstalkd's binlog (and --churn: the store's
# size under churn); bench/bench-recovery: restart time and memory per timer.
noinst_PROGRAMS += bench/bench-fsync
dist_noinst_SCRIPTS += bench/compare-durable bench/bench-recovery bench/bench-churn
bench_bench_fsync_SOURCES = bench/bench-fsync.c

# Security (issue 12): the limits' cost on the RPC hot path, two builds side by side.
dist_noinst_SCRIPTS += bench/compare-sec

# Security (issue 12): a List an identity's rule or a topic filters, two builds side by side.
dist_noinst_SCRIPTS += bench/compare-list-filter bench/list-filter.py
