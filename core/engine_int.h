/*
 * engine_int.h -- what engine.c (producers, queries) and dispatch.c (the
 * dispatcher and delivery threads) share. Internal to core/.
 */
#ifndef TIMERD_ENGINE_INT_H
#define TIMERD_ENGINE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "compiler.h"
#include "ctr.h"
#include "engine.h"
#include "hash.h"
#include "hazptr.h"
#include "hist.h"
#include "hpslots.h"
#include "idmap.h"
#include "llist.h"
#include "table.h"
#include "timer.h"
#include "wheel.h"

/* Stripe locks ordering id lookups of dying timers against their removal. */
#define ENGINE_ID_LOCKS 256
_Static_assert((ENGINE_ID_LOCKS & (ENGINE_ID_LOCKS - 1)) == 0, "engine_idlock masks: a power of two");

/* One thread's block of ENGINE_COUNTERS; only that thread adds (ctr_add). */
struct engine_ctrs {
#define ENGINE_CTR_FIELD(n) _Atomic uint64_t n;
	ENGINE_COUNTERS(ENGINE_CTR_FIELD)
#undef ENGINE_CTR_FIELD
};

/* A producer thread's counters and id supply. */
struct engine_counters {
	struct engine_ctrs ctr;
	struct idmap_cache idc;		/* the owner's supply of ids */
	struct engine_counters *next;	/* engine list, never unlinked */
	_Atomic int active;		/* owned by a live thread */
} cacheline_aligned;

/* A thread's view of an engine, cached in TLS. */
struct engine_tctx {
	struct hazptr_thread *hp;
	struct engine_counters *c;
};

/* A fire on its way to a delivery thread. */
struct engine_fire_item {
	struct llist_node ln;
	struct timer_attrs *attrs;	/* a reference, or NULL */
	struct engine_fire f;
	char key[];
};

struct engine_worker {
	struct engine *e;
	pthread_t tid;
	struct llist_head q;
	_Atomic int idle;		/* asleep on efd */
	int efd;			/* wake-up when q goes non-empty */
	bool started;
	_Atomic uint64_t handed;	/* fires put on q (the dispatcher writes) */
	_Atomic uint64_t delivered;	/* fires whose on_fire returned (the worker writes) */
	/*
	 * The smallest delivered count a waiter (engine_drain, engine_fires_wait)
	 * waits for, UINT64_MAX: none. The worker wakes the waiters once its
	 * count reaches it (and resets it), not after every fire: waiters set it
	 * again, under sync_mu, each time they recheck (disp_want).
	 */
	_Atomic uint64_t wake_at;
} cacheline_aligned;

/* Dispatcher counters: one writer (the dispatcher), any reader. */
struct engine_dstats {
	struct engine_ctrs ctr;		/* summed into engine_stats */
	_Atomic uint64_t cancels_applied;	/* internal, not reported */
};

/*
 * One account's use (engine_arm.acct). Relaxed atomics: they are counts
 * compared with a quota, ordered with nothing else; a concurrent arm may
 * see a count one timer stale, and the fetch_add a creator makes first is
 * what keeps two racing creators from both passing the limit.
 */
struct engine_acct {
	_Atomic uint64_t timers;
	_Atomic int64_t bytes;		/* attributes only (engine_acct_use adds records) */
};

struct engine {
	struct engine_config cfg;
	struct engine_clock clock;
	uint64_t uid;			/* unique per engine (TLS cache key) */
	struct hash_key hk;
	struct hazptr_domain hpd;
	struct idmap ids;		/* id -> record */
	struct table keys;		/* key -> record */
	_Atomic int idlock[ENGINE_ID_LOCKS];	/* settle DEAD records found by id */
	struct idmap_cache dcache;	/* the dispatcher's freed ids */
	pthread_key_t tkey;
	_Atomic(struct engine_counters *) counters;

	/* Producers -> dispatcher. */
	struct llist_head intake cacheline_aligned;
	_Atomic int idle;		/* the dispatcher is (about to be) asleep */
	_Atomic int64_t wake_at;	/* when its timerfd wakes it (INT64_MAX: never) */
	int intake_efd;
	_Atomic uint64_t ntimers cacheline_aligned;
	_Atomic int64_t mem;		/* bytes accounted: attributes (engine_mem_used adds records), server's */
	_Atomic uint64_t inflight;
	struct engine_acct *accts;	/* ENGINE_MAX_ACCTS of them (cfg.accounts), else NULL */

	/* Dispatcher-owned. */
	struct wheel wheel cacheline_aligned;
	struct hazptr_thread *dhp;
	int epfd, tfd_mono, tfd_real;
	int64_t armed_at;		/* value the monotonic timerfd holds */
	uint64_t pass_intake;		/* requests the last pass took */
	unsigned rr;
	struct engine_dstats ds;
	struct hist late;
	_Atomic bool clock_changed;
	_Atomic bool cal_changed;	/* engine_cal_changed: re-place the calendar timers */

	/* Threads. */
	pthread_t disp_tid;
	bool disp_started;
	bool restore_bulk;		/* engine_restore_put defers keys to engine_restore_bulk_end */
	_Atomic bool stop;		/* the dispatcher stops */
	_Atomic bool wstop;		/* then the delivery threads stop */
	struct engine_worker *workers;
	bool *wake_worker;		/* dispatcher: worker got fires this pass */

	/* engine_sync() and engine_drain(). */
	pthread_mutex_t sync_mu;
	pthread_cond_t sync_cv;
	_Atomic uint64_t sync_req;
	uint64_t sync_done;
	pthread_cond_t drain_cv;	/* a worker's delivered count grew (under sync_mu) */
	_Atomic unsigned drain_waiters;	/* threads in engine_drain() */
};

/* The calling thread's context (registers it on first use); NULL if out of memory. */
struct engine_tctx *engine_tctx(struct engine *e);

/* Attributes pointer of cell word 1. */
static inline struct timer_attrs *engine_attrs_of(uint64_t w1)
{
	return (struct timer_attrs *)(uintptr_t)(w1 & ~TIMER_OP_MASK);
}

/* Drops a reference (or n); the last one retires the attributes through hp. */
void engine_attrs_put(struct hazptr_thread *hp, struct timer_attrs *a);

/* Counts new attributes a in e's memory budget; engine_attrs_destroy frees them and returns the bytes. */
void engine_attrs_account(struct engine *e, struct timer_attrs *a, uint32_t acct);

/* Record r (created or restored) enters (+1) or leaves (-1) the timers of its account, if any. */
void engine_acct_count(struct engine *e, const struct timer_rec *r, int delta);
void engine_attrs_put_n(struct hazptr_thread *hp, struct timer_attrs *a, uint32_t n);

/* Takes a reference unless the count already reached zero. */
bool engine_attrs_tryget(struct timer_attrs *a);

/* Checks an arm request against the limits; 0 or the TD_* error. */
int engine_arm_check(struct engine *e, const struct engine_arm *a, int64_t now);

/* Builds the attributes of an arm with refs references (NULL: a plain timer); 0 or TD_ENOMEM. */
int engine_attrs_new(const struct engine_arm *a, bool realtime, uint32_t refs, struct timer_attrs **out);

/* Frees attributes no reader can reach and their schedule, returning their bytes to max-memory's account (NULL is fine). */
void engine_attrs_destroy(struct timer_attrs *a);

/* Frees a retired record and the references it holds. */
void engine_rec_free(struct hazptr_node *n);

/* The stripe lock of an id. */
static inline _Atomic int *engine_idlock(struct engine *e, uint64_t id)
{
	return &e->idlock[hash_id(id) & (ENGINE_ID_LOCKS - 1)];
}

/* Wakes the dispatcher. */
void engine_kick(struct engine *e);

/* Pushes r on the intake (the caller decides whether to wake the dispatcher). */
void engine_push(struct engine *e, struct timer_rec *r);

/* Longest a request waits on the intake before the dispatcher applies it. */
#define ENGINE_INTAKE_DELAY ENGINE_NS_PER_MS

/* dispatch.c: threads, one pass, manual-mode helpers. */
int engine_dispatch_start(struct engine *e);
void engine_dispatch_stop(struct engine *e);
int engine_dispatch_init(struct engine *e);
void engine_dispatch_fini(struct engine *e);

#endif /* TIMERD_ENGINE_INT_H */
