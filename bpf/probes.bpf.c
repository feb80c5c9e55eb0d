// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * probes.bpf.c -- generic programs that turn probe hits into timer requests.
 *
 * One program per attachment kind (uprobe/uretprobe, USDT, tracepoint,
 * perf event); all of them are parameterised per attachment by the BPF
 * cookie, the index of a struct probes_slot in probes_cfg. A hit writes a
 * struct probes_event into probes_ring for the probe manager in timerd,
 * which applies it to the engine (see bpf/probes.h and doc/probes.md).
 *
 * Nothing here waits: a full ring buffer makes the reservation fail, and
 * the failure is counted in the slot's per-CPU counters. The counters are
 * plain increments: tracing programs run with preemption disabled and never
 * nest on one CPU (the kernel's bpf_prog_active guard skips a program that
 * would run inside another, and counts that in the program's
 * recursion_misses). Wake-ups of the consumer are throttled
 * (probes_wake_flags): in a VM each one costs the probed thread
 * microseconds.
 */
/*
 * Only the UAPI-stable pt_regs layout is read, so no CO-RE relocations are
 * needed and the object loads on kernels without BTF too.
 */
#define BPF_NO_PRESERVE_ACCESS_INDEX
#include "vmlinux.h"

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>

#include "probes.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Per-attachment configuration, indexed by the attach cookie. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PROBES_MAX_SLOTS);
	__type(key, __u32);
	__type(value, struct probes_slot);
} probes_cfg SEC(".maps");

/* Per-CPU hit, drop and bad-argument counters, indexed like probes_cfg. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PROBES_MAX_SLOTS);
	__type(key, __u32);
	__type(value, struct probes_count);
} probes_counts SEC(".maps");

/* Records for the probe manager; resized by the loader before load. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, PROBES_RING_BYTES);
} probes_ring SEC(".maps");

/* CLOCK_MONOTONIC ns of the last record that woke the consumer. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} probes_wake SEC(".maps");

/*
 * Submit flags for a record written at now: wake the consumer if no record
 * did for PROBES_WAKE_NS, else let its next poll find the record. Racing
 * CPUs may both wake it; that costs a wake-up, nothing else.
 */
static __always_inline __u64 probes_wake_flags(__u64 now)
{
	__u32 zero = 0;
	__u64 *last = bpf_map_lookup_elem(&probes_wake, &zero);

	if (!last)
		return 0;
	if (now - *last < PROBES_WAKE_NS)
		return BPF_RB_NO_WAKEUP;
	*last = now;
	return BPF_RB_FORCE_WAKEUP;
}

/*
 * Reads argument n (0-based) of a function from its entry registers. All
 * six are loaded at constant offsets first (barrier_var stops clang from
 * merging them into one load at an offset computed from n, which the
 * verifier rejects).
 */
static __always_inline int probes_regs_arg(struct pt_regs *ctx, __u8 n, __u64 *out)
{
	__u64 a0 = PT_REGS_PARM1(ctx), a1 = PT_REGS_PARM2(ctx), a2 = PT_REGS_PARM3(ctx);
	__u64 a3 = PT_REGS_PARM4(ctx), a4 = PT_REGS_PARM5(ctx), a5 = 0;

#ifdef __TARGET_ARCH_x86
	a5 = ctx->r9;		/* PT_REGS_PARM6 is not in libbpf 1.1 */
#elif defined(__TARGET_ARCH_arm64)
	a5 = ctx->regs[5];
#endif
	barrier_var(a0);	/* keep the loads here, not sunk into the switch */
	barrier_var(a1);
	barrier_var(a2);
	barrier_var(a3);
	barrier_var(a4);
	barrier_var(a5);
	switch (n) {
	case 0: *out = a0; return 0;
	case 1: *out = a1; return 0;
	case 2: *out = a2; return 0;
	case 3: *out = a3; return 0;
	case 4: *out = a4; return 0;
	case 5: *out = a5; return 0;
	}
	return -1;
}

/*
 * Fetches a PROBES_KEY_ARG key; 0 or -1. prog is a constant in each
 * program, so the tracepoint and perf programs carry no pt_regs reads: the
 * kernel refuses to attach a tracepoint program whose context accesses go
 * beyond the tracepoint's record (EACCES).
 */
static __always_inline int probes_arg(void *ctx, const struct probes_slot *s, __u64 *out,
				      const int prog)
{
	long v = 0;

	if (prog == PROBES_PROG_UPROBE)
		return probes_regs_arg(ctx, s->key_arg, out);
	if (prog == PROBES_PROG_USDT) {
		if (bpf_usdt_arg(ctx, s->key_arg, &v))
			return -1;
		*out = (__u64)v;
		return 0;
	}
	return -1;	/* the spec parser rejects argN for other kinds */
}

/* Derives the key of a hit from the slot's key source; 0 or -1. */
static __always_inline int probes_key(void *ctx, const struct probes_slot *s,
				      __u64 pid_tgid, __u64 *out, const int prog)
{
	switch (s->key_src) {
	case PROBES_KEY_TID:
		*out = (__u32)pid_tgid;
		return 0;
	case PROBES_KEY_PID:
		*out = pid_tgid >> 32;
		return 0;
	case PROBES_KEY_PID_TID:
		*out = (pid_tgid & 0xffffffff00000000ull) | (__u32)pid_tgid;
		return 0;
	case PROBES_KEY_CONST:
		*out = s->key_const;
		return 0;
	case PROBES_KEY_ARG:
		return probes_arg(ctx, s, out, prog);
	}
	return -1;
}

/* Handles one hit of the attachment whose slot is `cookie`; prog: the calling program. */
static __always_inline int probes_hit(void *ctx, __u64 cookie, const int prog)
{
	__u32 slot = (__u32)cookie;
	struct probes_slot *s = bpf_map_lookup_elem(&probes_cfg, &slot);
	struct probes_count *c = bpf_map_lookup_elem(&probes_counts, &slot);
	struct probes_event *ev;
	__u64 pid_tgid, key, now;

	if (!s || !c || !s->probe_id)
		return 0;
	pid_tgid = bpf_get_current_pid_tgid();
	if (s->pid && s->pid != (__u32)(pid_tgid >> 32))
		return 0;
	c->hits++;
	if (probes_key(ctx, s, pid_tgid, &key, prog)) {
		c->bad_args++;
		return 0;
	}
	ev = bpf_ringbuf_reserve(&probes_ring, sizeof(*ev), 0);
	if (!ev) {
		c->drops++;
		return 0;
	}
	now = bpf_ktime_get_ns();
	ev->hit_ns = now;
	ev->key = key;
	ev->probe_id = s->probe_id;
	ev->pid = pid_tgid >> 32;
	ev->tid = (__u32)pid_tgid;
	ev->slot = slot;
	if (s->flags & PROBES_SLOT_COMM)	/* arms carry it to the fire; cancels need not */
		bpf_get_current_comm(ev->comm, sizeof(ev->comm));
	else
		ev->comm[0] = '\0';
	bpf_ringbuf_submit(ev, probes_wake_flags(now));
	return 0;
}

/* uprobe and uretprobe attachments. */
SEC("uprobe")
int td_uprobe(struct pt_regs *ctx)
{
	return probes_hit(ctx, bpf_get_attach_cookie(ctx), PROBES_PROG_UPROBE);
}

/* USDT attachments: libbpf keeps the real cookie for its argument specs. */
SEC("usdt")
int td_usdt(struct pt_regs *ctx)
{
	return probes_hit(ctx, (__u64)bpf_usdt_cookie(ctx), PROBES_PROG_USDT);
}

/*
 * Tracepoint attachments (perf-event based, so cookies work from 5.15). A
 * tracepoint holds each program at most once (EEXIST), so there are
 * PROBES_TP_COPIES identical programs: one per probe on the same tracepoint.
 */
#define PROBES_TP_PROG(n)							\
	SEC("tracepoint")							\
	int td_tracepoint##n(void *ctx)						\
	{									\
		return probes_hit(ctx, bpf_get_attach_cookie(ctx), PROBES_PROG_TRACEPOINT); \
	}
PROBES_TP_PROG(0)
PROBES_TP_PROG(1)
PROBES_TP_PROG(2)
PROBES_TP_PROG(3)
PROBES_TP_PROG(4)
PROBES_TP_PROG(5)
PROBES_TP_PROG(6)
PROBES_TP_PROG(7)

/* perf event attachments (software events such as cpu-clock). */
SEC("perf_event")
int td_perf(struct bpf_perf_event_data *ctx)
{
	return probes_hit(ctx, bpf_get_attach_cookie(ctx), PROBES_PROG_PERF);
}

/* Do nothing: the baseline cost of a uprobe or tracepoint hit (bench-probes). */
SEC("uprobe")
int td_empty(struct pt_regs *ctx)
{
	return 0;
}

SEC("tracepoint")
int td_empty_tp(void *ctx)
{
	return 0;
}
