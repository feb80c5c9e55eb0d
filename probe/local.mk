# probe/ -- the probe library: BPF probes that arm and cancel engine timers.
#
# probe/libprobe.la holds the manager (probe.c), the spec parser (probe-spec.c),
# the ELF lookups (probe-elf.c), the attachers (probe-attach.c), the ring
# buffer consumer (probe-consume.c) and libbpf's messages (probe-libbpf.c);
# calls between them go one way (probe/probe-int.h). It needs the engine
# (core/) and libbpf, never server/: timerd, the probe tests, fuzz-spec and
# bench-probes link it.
# The BPF programs it loads are built in bpf/ (bpf/local.mk).

noinst_LTLIBRARIES += probe/libprobe.la
probe_libprobe_la_SOURCES = \
	probe/probe-attach.c \
	probe/probe-consume.c \
	probe/probe-elf.c \
	probe/probe-int.h \
	probe/probe-libbpf.c \
	probe/probe-spec.c \
	probe/probe.c \
	probe/probe.h
nodist_probe_libprobe_la_SOURCES = bpf/probes.skel.h
probe_libprobe_la_CFLAGS = $(AM_CFLAGS) $(LIBBPF_CFLAGS)
probe_libprobe_la_LIBADD = $(LIBBPF_LIBS)
# The skeleton before the objects, also when a target is built on its own.
$(probe_libprobe_la_OBJECTS): bpf/probes.skel.h
