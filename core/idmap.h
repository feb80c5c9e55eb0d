/*
 * idmap.h -- engine id -> timer record: a slot map.
 *
 * Usage:
 *
 *	creator:    id = idmap_alloc(m, &cache);         no lock, no hashing
 *	            r->id = id;  idmap_set(m, id, r);     publish
 *	reader:     r = idmap_find(m, hp, id);            protected in HP_SLOT_REC
 *	            ...  hazptr_release(hp, HP_SLOT_REC);
 *	remover:    idmap_remove(m, &cache, r);           the slot is free again
 *
 * An id is (generation << 32) | index. The index picks a slot in a
 * two-level array of 64 Ki-slot chunks that never move (no resize, no
 * rehash); the generation, bumped each time a slot is freed, makes ids
 * unique over time: a stale id finds a slot whose record has another id.
 * A free slot holds (next generation << 1) | 1; a used one the record.
 *
 * Indices are handed out from per-thread caches: batches of freed indices
 * (the remover batches them) or, when none is free, fresh ones taken 256
 * at a time from the high-water mark. Memory is 8 bytes per slot up to the
 * most timers that ever existed at once (plus cached indices).
 *
 * What may run concurrently:
 *
 *	                 alloc   set    find   remove
 *	alloc            yes(*)  yes    yes    yes(*)
 *	set              yes     yes    yes    yes (other ids)
 *	find             yes     yes    yes    yes
 *	remove           yes(*)  yes    yes    one remover per id
 *
 *	(*) each thread with its own struct idmap_cache.
 *
 * Guarantees: idmap_find returns the record set for that exact id while it
 * is set, protected so it cannot be freed until released, or NULL.
 */
#ifndef TIMERD_IDMAP_H
#define TIMERD_IDMAP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "compiler.h"
#include "hazptr.h"
#include "hpslots.h"
#include "timer.h"

#define IDMAP_CHUNK_BITS 16
#define IDMAP_CHUNK	 (1u << IDMAP_CHUNK_BITS)
#define IDMAP_MAX_CHUNKS 4096			/* 268 Mi slots */
#define IDMAP_MAX_SLOTS	 ((uint64_t)IDMAP_MAX_CHUNKS * IDMAP_CHUNK)
#define IDMAP_BATCH	 512			/* freed indices moved at a time */
#define IDMAP_BUMP	 256			/* fresh indices taken at a time */
_Static_assert(IDMAP_MAX_SLOTS <= (UINT64_C(1) << 32), "an id's index is its low 32 bits");

struct idmap_chunk {
	_Atomic uintptr_t slot[IDMAP_CHUNK];
};

/* A batch of freed indices. */
struct idmap_batch {
	struct idmap_batch *next;
	uint32_t n;
	uint32_t idx[IDMAP_BATCH];
};

/* A thread's private supply of indices (and, for removers, of freed ones). */
struct idmap_cache {
	struct idmap_batch *take;	/* indices to hand out */
	struct idmap_batch *give;	/* indices freed, not yet shared */
	uint32_t bump_next, bump_end;	/* fresh indices */
};

struct idmap {
	_Atomic(struct idmap_chunk *) dir[IDMAP_MAX_CHUNKS];
	_Atomic uint32_t hwm cacheline_aligned;	/* indices below were handed out */
	uint32_t gen_base;			/* generation of a never-used slot (0: 1) */
	_Atomic uint32_t gen_max;		/* highest generation handed out (for a restart's floor) */
	_Atomic int lock cacheline_aligned;		/* free batches, chunk growth */
	struct idmap_batch *free;
};

/* Initialises an empty map. */
void idmap_init(struct idmap *m);

/* Frees the chunks and batches (not the records). */
void idmap_destroy(struct idmap *m);

/* A new unused id, or 0 if the map is full or memory ran out. */
uint64_t idmap_alloc(struct idmap *m, struct idmap_cache *c);

/* Gives back an id from idmap_alloc that was never set. */
void idmap_unalloc(struct idmap *m, struct idmap_cache *c, uint64_t id);

/* Publishes r (r->id == id) in its slot. */
void idmap_set(struct idmap *m, uint64_t id, struct timer_rec *r);

/* Finds the record of id, protected in HP_SLOT_REC, or NULL. */
struct timer_rec *idmap_find(struct idmap *m, struct hazptr_thread *hp, uint64_t id);

/* Frees r's slot; its id never finds anything again. */
void idmap_remove(struct idmap *m, struct idmap_cache *c, struct timer_rec *r);

/*
 * Restoring ids saved before a restart: single-threaded, before any
 * idmap_alloc. idmap_restore_set publishes r at exactly r->id (false if
 * out of memory or the index is out of range); idmap_restore_clear frees
 * it again. idmap_restore_finish hands every free index below the highest
 * restored one out again, and makes every id handed out from now on use a
 * generation of at least gen, so no id given before the restart is reused.
 */
bool idmap_restore_set(struct idmap *m, struct timer_rec *r);
void idmap_restore_clear(struct idmap *m, uint64_t id);
void idmap_restore_finish(struct idmap *m, struct idmap_cache *c, uint32_t gen);

/* The highest generation idmap_alloc has handed out so far (relaxed). */
static inline uint32_t idmap_gen_max(struct idmap *m)
{
	return atomic_load_explicit(&m->gen_max, memory_order_relaxed);
}

/* Number of slots that may be in use: indices are below this. */
static inline uint32_t idmap_limit(struct idmap *m)
{
	return atomic_load_explicit(&m->hwm, memory_order_acquire);
}

/* The record in slot index (for iteration), protected in HP_SLOT_REC, or NULL. */
struct timer_rec *idmap_at(struct idmap *m, struct hazptr_thread *hp, uint32_t index);

/* The record in slot index with no protection (single-threaded teardown). */
struct timer_rec *idmap_at_unsafe(struct idmap *m, uint32_t index);

#endif /* TIMERD_IDMAP_H */
