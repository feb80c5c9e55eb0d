/*
 * probes.h -- what the BPF programs (bpf/probes.bpf.c) and the probe
 * manager (probe/probe*.c) both read: the per-attachment configuration,
 * the per-CPU counters and the ring buffer record.
 *
 * Every attachment carries a BPF cookie: the index of its slot in the
 * configuration map (probes_cfg). A hit looks the slot up, applies the pid
 * filter, counts itself in the per-CPU counter map (probes_counts, same
 * index), derives the key and reserves one struct probes_event in the ring
 * buffer (probes_ring); a failed reservation is counted in the slot's
 * drops, never lost silently. The manager turns each record into an engine
 * arm, re-arm or cancel according to the probe that owns the slot.
 *
 * The BPF side includes vmlinux.h first, which defines the __u* types; the
 * user side gets them from <linux/types.h>.
 */
#ifndef TIMERD_BPF_PROBES_H
#define TIMERD_BPF_PROBES_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Slots in the configuration and counter maps: probes attached at once. */
#define PROBES_MAX_SLOTS 1024

/* Copies of the tracepoint program: probes on one tracepoint at once. */
#define PROBES_TP_COPIES 8

/*
 * Wake-up throttle: a record wakes the consumer only if no record did in
 * the last PROBES_WAKE_NS; the consumer, after a pass that found records,
 * looks again within PROBES_POLL_MS (> PROBES_WAKE_NS), so a record that
 * did not wake it waits at most about that long.
 */
#define PROBES_WAKE_NS 200000ull
#define PROBES_POLL_MS 1

/* Default ring buffer size in bytes (a power of two, a multiple of the page size). */
#define PROBES_RING_BYTES (4u << 20)

/* Where a hit takes its key from (struct probes_slot.key_src). */
enum probes_key_src {
	PROBES_KEY_TID = 0,	/* thread id of the task that hit */
	PROBES_KEY_PID = 1,	/* process id (thread group id) */
	PROBES_KEY_PID_TID = 2,	/* pid << 32 | tid */
	PROBES_KEY_ARG = 3,	/* function argument / USDT argument key_arg */
	PROBES_KEY_CONST = 4,	/* key_const */
};

/* The program kinds (a constant in each program: how PROBES_KEY_ARG is fetched). */
enum probes_prog {
	PROBES_PROG_UPROBE = 0,	/* uprobe and uretprobe: pt_regs argument registers */
	PROBES_PROG_USDT = 1,	/* USDT: the probe's argument specs */
	PROBES_PROG_TRACEPOINT = 2,
	PROBES_PROG_PERF = 3,
};

/* struct probes_slot.flags */
#define PROBES_SLOT_COMM 0x01	/* copy the task's comm into records (arms) */

/* Configuration of one attachment (value of probes_cfg, indexed by cookie). */
struct probes_slot {
	__u32 probe_id;		/* owning probe; 0: slot unused, hits ignored */
	__u32 pid;		/* only hits of this process (tgid); 0: any */
	__u8 key_src;		/* enum probes_key_src */
	__u8 key_arg;		/* argument index for PROBES_KEY_ARG (0-based) */
	__u8 flags;		/* PROBES_SLOT_* */
	__u8 pad[5];
	__u64 key_const;	/* key for PROBES_KEY_CONST */
};

/* Per-CPU counters of one slot (value of probes_counts). */
struct probes_count {
	__u64 hits;		/* hits that passed the pid filter */
	__u64 drops;		/* ring buffer reservations that failed */
	__u64 bad_args;		/* hits whose argument could not be read */
};

/* One hit, as written into the ring buffer. */
struct probes_event {
	__u64 hit_ns;		/* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u64 key;		/* the key value, as key_src says */
	__u32 probe_id;
	__u32 pid;		/* thread group id of the task that hit */
	__u32 tid;
	__u32 slot;		/* the attachment's slot (its cookie) */
	char comm[16];
};

#endif /* TIMERD_BPF_PROBES_H */
