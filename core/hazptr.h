/*
 * hazptr.h -- hazard pointers with asymmetric fences.
 *
 * After the kernel's "hazptr: Hazard Pointers" (RFC v4/v5, 2025-26), with its
 * review applied: every thread owns pre-allocated slots so the fast path
 * never searches; the reader's fence is a compiler barrier and the
 * reclaimer pays one membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) per batch
 * (Folly, hpref); retirement is batched and scans may be consolidated in one
 * scanner thread instead of each retiring thread scanning.
 *
 * Usage (reader):
 *
 *	struct hazptr_thread *t = hazptr_thread_self(dom);
 *	struct obj *o = hazptr_protect(t, 0, (void *_Atomic *)&shared);
 *	if (o)
 *		use(o);             o cannot be freed while slot 0 holds it
 *	hazptr_release(t, 0);
 *
 * Usage (updater; objects embed a struct hazptr_node as their FIRST member:
 * an object is identified by its node's address):
 *
 *	old = atomic_exchange(&shared, new);       unlink first
 *	hazptr_retire(t, &old->hp, obj_free);      freed once no slot holds it
 *
 * What may run concurrently:
 *
 *	                   protect/release  retire   scan     register/unregister
 *	protect/release    yes (own slots)  yes      yes      yes
 *	retire             yes              yes(**)  yes      yes
 *	scan               yes              yes      yes      yes
 *	register/unreg.    yes              yes      yes      yes
 *
 *	A struct hazptr_thread is used by one thread at a time.
 *	(**) on different hazptr_thread handles.
 *
 * Slots: each thread has HAZPTR_SLOTS fast slots addressed by index (the
 * caller assigns roles, e.g. 0 = record, 1 = array). A thread that needs
 * more at once takes extra slots with hazptr_slot_get(): a slow path that
 * reuses the thread's free extra slots or allocates a block of them; extra
 * slots are scanned like the fast ones and stay with the thread record.
 *
 * Protocol: protect() loads the pointer, publishes it in the slot, orders
 * the publication before a re-load of the source (compiler barrier in
 * asymmetric mode, seq_cst fence in full-fence mode) and retries until the
 * two loads agree. scan() first makes every reader's publication visible
 * (membarrier in asymmetric mode, which acts as a full fence on every
 * running thread of the process; a seq_cst fence in full-fence mode), then
 * frees every retired object no slot holds. The kernel patch's v5 wildcard
 * scheme (publish a wildcard, no re-load) was not taken: it makes the
 * reclaimer wait while a slot holds the wildcard, and timerd's reclaimers
 * must never wait; the re-load is an L1 hit. Every store into a slot is a
 * release (a plain store on x86-64, as relaxed), so a reader may move a
 * slot from one object to the next without clearing it: what it did with
 * the old object happens before the scan that frees it.
 *
 * Bound on unreclaimed memory: with H slots registered in the domain
 * (fast + extra, all threads) a thread scans when its private retired list
 * reaches R = max(retire_threshold, 2*H), and a scan leaves at most H
 * objects (each one held by a distinct slot). So each thread holds at most
 * R retired objects, objects handed over by exiting threads are adopted by
 * the next scan, and in scanner mode at most 4*R per registered thread wait
 * for the scanner before retiring threads fall back to scanning
 * themselves. A stalled reader holds back only the objects its slots hold.
 */
#ifndef TIMERD_HAZPTR_H
#define TIMERD_HAZPTR_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compiler.h"

#define HAZPTR_SLOTS		4	/* fast slots per thread */
#define HAZPTR_EXTRA_BLOCK	8	/* extra slots allocated at a time */

/* Embedded first in every object that is retired. */
struct hazptr_node {
	struct hazptr_node *next;
	void (*free_fn)(struct hazptr_node *);
};

/* How reader publications are ordered against scans. */
enum hazptr_fence {
	HAZPTR_FENCE_AUTO = 0,	/* asymmetric if membarrier works, else full */
	HAZPTR_FENCE_FULL = 1,	/* force a seq_cst fence in every protect */
};

struct hazptr_config {
	enum hazptr_fence fence;
	bool scanner_thread;		/* consolidate scans in one thread */
	unsigned retire_threshold;	/* R floor; 0 = default (128) */
};

/* One extra slot; lives in a block owned by a thread record. */
struct hazptr_slot {
	_Atomic(void *) ptr;
	struct hazptr_slot *next_free;	/* owner thread only */
};

struct hazptr_block {
	struct hazptr_block *next;
	struct hazptr_slot slot[HAZPTR_EXTRA_BLOCK];
};

struct hazptr_domain;

/*
 * Per-thread record. The first cache line holds what the fast path touches
 * (slots and the fence mode); scanners read the slots, so nothing the owner
 * writes often shares that line besides them.
 */
struct hazptr_thread {
	_Atomic(void *) slot[HAZPTR_SLOTS];
	bool full_fence;
	struct hazptr_domain *dom;

	/* Owner-only state, off the readers' line. */
	struct hazptr_node *retired cacheline_aligned;
	size_t nretired;
	struct hazptr_slot *free_extra;
	uint64_t n_retired, n_reclaimed;	/* owner counters */

	/* Domain list: records are never freed before the domain, only reused. */
	struct hazptr_thread *next;
	_Atomic(struct hazptr_block *) blocks;
	_Atomic int active;
	_Atomic uint64_t pub_retired, pub_reclaimed;	/* published counters */
};

struct hazptr_stats {
	uint64_t retired;	/* objects ever retired */
	uint64_t reclaimed;	/* objects ever freed */
	uint64_t pending;	/* retired - reclaimed */
	uint64_t scans;		/* scans performed */
	uint64_t membarriers;	/* membarrier calls made */
	unsigned slots;		/* hazard slots registered (H) */
	bool asymmetric;	/* true if readers use a compiler barrier only */
};

struct hazptr_domain {
	_Atomic(struct hazptr_thread *) threads;
	uint64_t id;				/* unique per initialised domain */
	_Atomic unsigned nslots;		/* H: fast + extra slots registered */
	bool asymmetric;
	bool scanner;
	unsigned threshold;

	_Atomic(struct hazptr_node *) orphans;	/* handed over; adopted by scans */
	_Atomic size_t norphans;
	_Atomic uint64_t scans, membarriers;
	_Atomic uint64_t orphan_reclaimed;	/* reclaims not charged to a thread */

	/* Scanner thread (scanner mode only). */
	pthread_t scanner_tid;
	pthread_mutex_t scanner_mu;
	pthread_cond_t scanner_cv;
	bool scanner_stop;
	_Atomic(struct hazptr_node *) pending;	/* batches waiting for the scanner */
	_Atomic size_t npending;
	pthread_key_t self_key;
};

/* Initialises a domain; 0 or a negative errno. */
int hazptr_domain_init(struct hazptr_domain *d, const struct hazptr_config *cfg);

/* Frees every retired object; no thread may still be registered or reading. */
void hazptr_domain_destroy(struct hazptr_domain *d);

/* Registers the calling thread (reusing an exited thread's record). */
struct hazptr_thread *hazptr_thread_register(struct hazptr_domain *d);

/* Clears the thread's slots, scans its retirements and hands the rest over. */
void hazptr_thread_unregister(struct hazptr_thread *t);

/* The calling thread's record, registered on first use and unregistered at thread exit. */
struct hazptr_thread *hazptr_thread_self(struct hazptr_domain *d);

/* Hands obj to reclamation once no slot holds it; may scan (never waits). */
void hazptr_retire(struct hazptr_thread *t, struct hazptr_node *obj,
		   void (*free_fn)(struct hazptr_node *));

/* Scans now: frees this thread's (and orphaned) retirements no slot holds. */
void hazptr_scan(struct hazptr_thread *t);

/* Takes an extra slot (slow path, may allocate); NULL if out of memory. */
struct hazptr_slot *hazptr_slot_get(struct hazptr_thread *t);

/* Returns an extra slot taken with hazptr_slot_get(); it must be released. */
void hazptr_slot_put(struct hazptr_thread *t, struct hazptr_slot *s);

/* Sums the domain's counters (approximate while threads run). */
void hazptr_stats(struct hazptr_domain *d, struct hazptr_stats *st);

/* Orders a slot publication before the caller's next load of the source. */
static inline void hazptr_reader_fence(bool full_fence)
{
	if (unlikely(full_fence))
		atomic_thread_fence(memory_order_seq_cst);
	else
		compiler_barrier();	/* the scan's membarrier supplies the fence */
}

/*
 * Publishes p in slot and orders it before the caller's next load; the
 * caller must then re-validate that p is still reachable.
 */
static inline void hazptr_publish(struct hazptr_thread *t, _Atomic(void *) *slot, void *p)
{
	/* Read the mode first: after the barrier it would be re-loaded from memory. */
	bool full = t->full_fence;

	/*
	 * release: this thread's accesses to the object the slot held before
	 * happen before a scan that sees p and frees that object (a slot moved
	 * on without hazptr_release, as engine_lookup does from a dead timer to
	 * the key's new one). Ordered against the re-load by hazptr_reader_fence().
	 */
	atomic_store_explicit(slot, p, memory_order_release);
	hazptr_reader_fence(full);
}

/* Protects *src in slot and returns it (or NULL); safe to dereference until released. */
static inline void *hazptr_protect_slot(struct hazptr_thread *t, _Atomic(void *) *slot,
					void *_Atomic *src)
{
	/* relaxed: the pointer is only used once the acquire re-load confirms it. */
	void *p = atomic_load_explicit(src, memory_order_relaxed), *q;
	bool full = t->full_fence;

	for (;;) {
		/* release: as hazptr_publish(); ordered against the re-load by hazptr_reader_fence(). */
		atomic_store_explicit(slot, p, memory_order_release);
		hazptr_reader_fence(full);
		/* acquire: pairs with the publisher's release; o's fields are initialised. */
		q = atomic_load_explicit(src, memory_order_acquire);
		if (likely(q == p))
			return p;
		p = q;
	}
}

/* Protects *src in fast slot idx (< HAZPTR_SLOTS). */
static inline void *hazptr_protect(struct hazptr_thread *t, unsigned idx, void *_Atomic *src)
{
	return hazptr_protect_slot(t, &t->slot[idx], src);
}

/* Ends the protection held by fast slot idx. */
static inline void hazptr_release(struct hazptr_thread *t, unsigned idx)
{
	/* release: the reader's accesses to the object complete before the slot clears. */
	atomic_store_explicit(&t->slot[idx], NULL, memory_order_release);
}

/* Ends the protection held by an extra slot. */
static inline void hazptr_release_slot(struct hazptr_slot *s)
{
	/* release: as hazptr_release(). */
	atomic_store_explicit(&s->ptr, NULL, memory_order_release);
}

#endif /* TIMERD_HAZPTR_H */
