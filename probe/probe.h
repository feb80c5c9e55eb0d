/*
 * probe.h -- BPF probes that arm and cancel timers (interface between the
 * daemon and the probe manager; implemented in probe/probe.c).
 *
 * Usage:
 *
 *	struct probe_mgr *m;
 *	char err[256];
 *	if (probe_mgr_create(engine, &m, err, sizeof(err)) < 0)
 *		log the error (e.g. not root, BPF unavailable) and go on without probes;
 *	if (probe_attach(m, "uprobe:/usr/bin/app:handle arm=50ms key=tid topic=slow",
 *			 &id, err, sizeof(err)) < 0)
 *		report err to the user: nothing was attached;
 *	probe_list(m, infos, n);              per-probe counters
 *	probe_totals(m, &c);                  sums, detached probes included
 *	probe_detach(m, id);
 *	...
 *	probe_mgr_destroy(m);                 before engine_destroy(): it
 *	                                      applies the ring's last records
 *
 * The manager consumes the BPF ring buffer on a thread of its own and turns
 * each record into engine_arm()/engine_cancel(). All functions are
 * thread-safe. Timers armed by probes carry PROBE_TIMER_FLAG in their
 * engine flags and a struct probe_origin as their payload, so the fire
 * event can report pid, tid, comm and the probe that armed them.
 *
 * Engine keys of probe timers are "probe:<topic>:<value>" (value: the tid,
 * pid, argument or constant in decimal; "<pid>:<tid>" for key=pid:tid), so
 * an entry probe and a return probe with the same topic and key source
 * meet on the same timer; an RPC client can cancel one by that key.
 * probe_mgr_create() routes libbpf's messages into the errors it returns
 * (libbpf_set_print is process-wide). Errors are -errno: -EINVAL a spec
 * that does not parse; -ENOENT a missing binary, function, USDT probe or
 * tracepoint; -ENOEXEC a file that is not a usable ELF binary; -ERANGE an
 * offset beyond its function; -ENOTUNIQ an ambiguous symbol; -ESRCH no
 * such pid; -EPERM no privilege; -EBUSY/-ENOSPC a tracepoint or the probe
 * table full; others from the kernel. The spec grammar: doc/probes.md.
 */
#ifndef TIMERD_PROBE_H
#define TIMERD_PROBE_H

#include <stddef.h>
#include <stdint.h>

struct engine;
struct probe_mgr;

/* Engine flag set on timers armed by probes. */
#define PROBE_TIMER_FLAG 0x80000000u

/* Payload of a probe-armed timer. */
struct probe_origin {
	uint32_t pid;
	uint32_t tid;
	uint32_t probe_id;
	uint32_t reserved;
	uint64_t hit_ns;	/* CLOCK_MONOTONIC time of the probe hit */
	char comm[16];
};

struct probe_counters {
	uint64_t hits;		/* probe hits seen in the kernel */
	uint64_t arms;		/* arms (and re-arms) applied */
	uint64_t cancels;	/* cancels applied */
	uint64_t ring_drops;	/* ring buffer reservations that failed */
	uint64_t errors;	/* records the engine rejected or that could not be read */
	uint64_t misses;	/* cancels and re-arms that found no timer (it had
				 * fired or was never armed) */
	uint64_t coalesced;	/* arms (counted in arms) cancelled before their
				 * deadline within one consumer batch: applied as
				 * the cancel alone */
};

struct probe_info {
	uint32_t id;
	char spec[512];
	struct probe_counters c;
};

/* Loads the BPF object and starts the consumer; 0 or -errno with err filled. */
int probe_mgr_create(struct engine *e, struct probe_mgr **out, char *err, size_t errlen);

/* Detaches every probe, stops the consumer, frees everything. */
void probe_mgr_destroy(struct probe_mgr *m);

/* Parses and attaches a spec; 0 and *id, or -errno with a precise err. */
int probe_attach(struct probe_mgr *m, const char *spec, uint32_t *id, char *err, size_t errlen);

/* Detaches probe id; 0 or -ENOENT. */
int probe_detach(struct probe_mgr *m, uint32_t id);

/* Copies up to max attached probes into out; returns how many exist. */
size_t probe_list(struct probe_mgr *m, struct probe_info *out, size_t max);

/* Applies every record the ring buffer holds now; returns once the engine has them. */
void probe_sync(struct probe_mgr *m);

/* Sums the counters of every probe, attached now or before. */
void probe_totals(struct probe_mgr *m, struct probe_counters *c);

#endif /* TIMERD_PROBE_H */
