# bench/probes.mk -- bench-probes: the BPF watchdog's cost per instrumented call
# beside the bare uprobe+uretprobe cost (an empty BPF program) and no probe.
noinst_PROGRAMS += bench/bench-probes
bench_bench_probes_SOURCES = bench/bench-probes.c bench/bench.h
nodist_bench_bench_probes_SOURCES = bpf/probes.skel.h
bench_bench_probes_CPPFLAGS = $(AM_CPPFLAGS) -DBENCH_CFLAGS='"$(CFLAGS) $(SAN_CFLAGS)"'
bench_bench_probes_CFLAGS = $(AM_CFLAGS) $(LIBBPF_CFLAGS)
bench_bench_probes_LDADD = probe/libprobe.la core/libcore.la $(LIBBPF_LIBS)
$(bench_bench_probes_OBJECTS): bpf/probes.skel.h
bench_bench_probes_LDADD += bench/libbench.la
