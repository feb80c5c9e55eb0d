/*
 * probe-int.h -- internals of the probe manager shared by probe/probe*.c
 * and its tests: the parsed spec, the ELF lookups, the attachers.
 *
 *	probe-spec.c     text -> struct probe_spec (no I/O); probe_fail
 *	probe-elf.c      symbol -> file offset, USDT note lookup (reads the file)
 *	probe-libbpf.c   libbpf's last warning per thread, for error messages
 *	probe-attach.c   struct probe_spec -> BPF links (uprobe, USDT, tracepoint, perf)
 *	probe-consume.c  the ring buffer consumer thread -> engine_arm/engine_cancel
 *	probe.c          the manager: slots, attach/detach/list, counters
 *
 * Calls go down this list, never up: probe.c uses the others; probe-attach.c
 * uses probe-elf.c, probe-libbpf.c and probe-spec.c and gets from the manager
 * only what it passes (the skeleton, the spec, the slot, the links to fill);
 * probe-consume.c and probe-elf.c use probe-spec.c.
 */
#ifndef TIMERD_PROBE_INT_H
#define TIMERD_PROBE_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bpf/probes.h"
#include "probe/probe.h"

struct bpf_link;
struct engine;
struct probes_bpf;
struct ring_buffer;

#define PROBE_SPEC_MAX	  511	/* longest spec text (struct probe_info.spec) */
#define PROBE_TOPIC_MAX	  64	/* longest topic= */
#define PROBE_PATH_MAX	  400	/* longest binary path */
#define PROBE_NAME_MAX	  128	/* longest symbol, provider, category or name */
#define PROBE_PERF_FREQ	  99	/* perf:cpu-clock default sampling frequency, Hz */
#define PROBE_KEY_MAX	  (6 + PROBE_TOPIC_MAX + 1 + 41)	/* "probe:" topic ":" value */

enum probe_kind {
	PROBE_KIND_UPROBE,
	PROBE_KIND_URETPROBE,
	PROBE_KIND_USDT,
	PROBE_KIND_TRACEPOINT,
	PROBE_KIND_PERF,
};

enum probe_op {
	PROBE_OP_NONE,
	PROBE_OP_ARM,		/* create or replace the timer */
	PROBE_OP_REARM,		/* move an existing timer; never creates one */
	PROBE_OP_CANCEL,
};

/* A parsed probe spec. */
struct probe_spec {
	enum probe_kind kind;
	char path[PROBE_PATH_MAX + 1];	/* uprobe, uretprobe, usdt */
	char a[PROBE_NAME_MAX + 1];	/* symbol, USDT provider, tracepoint category */
	char b[PROBE_NAME_MAX + 1];	/* USDT name, tracepoint name */
	uint64_t offset;		/* uprobe +OFF */
	bool perf_freq;			/* sample is a frequency (Hz), else a period (ns) */
	uint64_t perf_sample;		/* perf:cpu-clock freq= or period= */
	enum probe_op op;
	int64_t delay;			/* arm=/rearm= in ns */
	int64_t period;			/* every= in ns, 0: one-shot */
	enum probes_key_src key_src;
	uint8_t key_arg;
	uint64_t key_const;
	char topic[PROBE_TOPIC_MAX + 1];
	uint32_t pid;			/* pid=, 0: any */
};

/* The BPF links of one attached probe (several for perf: one per CPU). */
struct probe_links {
	struct bpf_link **v;
	size_t n, cap;
};

/* One attached probe; fields below `c` are guarded by probe_mgr.lock. */
struct probe {
	uint32_t id;
	uint32_t slot;			/* index in probes_cfg, the attach cookie */
	struct probe_spec spec;
	char text[PROBE_SPEC_MAX + 1];
	size_t topiclen;
	struct probe_links links;
	unsigned tp_copy;		/* tracepoint: which copy of the program it uses */
	bool ready;			/* attached and enabled; false while (de)attaching */
	struct probe_counters c;	/* user-side counts (hits, ring_drops: from the kernel) */
};

/* The manager: the BPF object, the slot table and the consumer thread. */
struct probe_mgr {
	struct engine *e;
	struct probes_bpf *skel;
	struct ring_buffer *rb;
	int ncpus;			/* possible CPUs: per-CPU map values */
	int epfd;			/* consumer waits here: ring buffer + stop eventfd */
	int stopfd;
	pthread_t thread;
	bool thread_started;

	/* Guards everything below and ring buffer consumption. */
	pthread_mutex_t lock;
	struct probe *slots[PROBES_MAX_SLOTS];
	uint32_t next_id;
	struct probe_counters retired;	/* sums of detached probes */
	uint64_t stale;			/* records of probes detached meanwhile */
	struct probe_batch *batch;	/* consumer scratch space */
};

/* Parses a probe spec; 0 or -EINVAL with a message naming the problem. */
int probe_spec_parse(const char *text, struct probe_spec *s, char *err, size_t errlen);

/* The spec kind's name as written in specs ("uprobe", ...). */
const char *probe_kind_name(enum probe_kind k);

/* Writes the engine key for (topic, key source, value); returns its length. */
size_t probe_key_format(char *buf, const char *topic, size_t topiclen,
			enum probes_key_src src, uint64_t value);

/*
 * Finds function sym (plus off bytes) in the ELF file path and returns the
 * file offset a uprobe attaches to; 0 or -errno with err naming the problem.
 */
int probe_elf_func_offset(const char *path, const char *sym, uint64_t off, uint64_t *file_off,
			  char *err, size_t errlen);

/* Checks that path has USDT probe provider:name; 0 or -errno with err. */
int probe_elf_usdt(const char *path, const char *provider, const char *name, char *err,
		   size_t errlen);

/*
 * probe_elf_func_offset and probe_elf_usdt on an ELF image in memory (buf,
 * 8-byte aligned; path only names it in messages), or on the file path
 * when buf is NULL. The fuzzer (tests/fuzz/fuzz-elf.c) drives these.
 */
int probe_elf_func_offset_mem(const char *path, const void *buf, size_t len, const char *sym, uint64_t off,
			      uint64_t *file_off, char *err, size_t errlen);
int probe_elf_usdt_mem(const char *path, const void *buf, size_t len, const char *provider, const char *name,
		       char *err, size_t errlen);

/*
 * Attaches the program for spec s with cookie slot (tracepoints: program
 * copy tp_copy), appending to l; 0 or -errno with err naming the problem.
 * On error l is as it was before.
 */
int probe_links_attach(struct probes_bpf *skel, const struct probe_spec *s, uint32_t slot,
		       unsigned tp_copy, struct probe_links *l, char *err, size_t errlen);

/*
 * Finds tracefs (/sys/kernel/tracing, or debugfs's tracing), mounting it at
 * /sys/kernel/tracing if it is mounted nowhere; 0 or -errno with err.
 */
int probe_tracefs(const char **dir, char *err, size_t errlen);

/* Destroys every link of l (the kernel stops calling the programs). */
void probe_links_destroy(struct probe_links *l);

/* Starts the consumer thread; 0 or -errno with err. */
int probe_consume_start(struct probe_mgr *m, char *err, size_t errlen);

/* Stops the consumer thread after a last drain. */
void probe_consume_stop(struct probe_mgr *m);

/* Applies every record in the ring buffer now (lock held); returns how many. */
size_t probe_consume_drain(struct probe_mgr *m);

/* Routes libbpf's messages here (process-wide) and clears this thread's. */
void probe_libbpf_route(void);

/* The last warning libbpf printed on this thread ("" if none). */
const char *probe_libbpf_last(void);

/* Clears the remembered libbpf warning of this thread. */
void probe_libbpf_clear(void);

/* Formats err like snprintf and returns rc (for `return probe_fail(...)`). */
int probe_fail(int rc, char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif /* TIMERD_PROBE_INT_H */
