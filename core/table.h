/*
 * table.h -- the key -> timer map, with lock-free readers.
 *
 * Usage:
 *
 *	reader (any thread):
 *		r = table_find(t, hp, h, key, keylen);   r protected in HP_SLOT_REC
 *		if (r) use(r);
 *		hazptr_release(hp, HP_SLOT_REC);
 *
 *	writer:
 *		table_lock(t, h);
 *		if (!table_find_locked(t, h, key, keylen))
 *			table_insert_locked(t, hp, h, r);
 *		table_unlock(t, h);
 *
 * Keys are hashed with SipHash-1-3 (hash.h). Ids have their own slot map
 * (idmap.h). Layout: 256 shards picked by the hash's top byte, each an open-addressing
 * array (linear probing) of record pointers, resized (doubled, halved or
 * rehashed to drop tombstones) under the shard's spinlock. Beside the slots
 * the array keeps each slot's low 32 hash bits: lookups skip other keys'
 * records without reading them (a cache miss each), and a resize places
 * records by those bits, so it is a sequential pass that reads no record.
 * A resize publishes the new array and retires the old one through hazard
 * pointers, so readers never stop.
 *
 * Why writers lock: the brief has the dispatcher as the table's only
 * writer, but an arm that creates a timer must be visible to the next
 * request at once (read your writes: arm then cancel from two connections),
 * which the dispatcher's asynchronous apply cannot give. So producers insert
 * and the dispatcher removes, each under the shard lock for a few
 * nanoseconds (a resize: a pass over the shard's arrays); lookups, which
 * are most operations, take no lock.
 *
 * What may run concurrently:
 *
 *	                 find     find_locked/insert/remove
 *	find             yes      yes
 *	insert/remove    yes      same shard: under the shard lock only
 *
 * Guarantees: table_find returns a record that was in the table at some
 * moment during the call, or NULL if the key was absent at some moment;
 * the returned record cannot be freed until the caller releases the slot.
 * A record's slot goes NULL -> record -> tombstone and is never reused for
 * the same record.
 *
 * Why a reader may trust the hash bits: a writer stores a slot's bits
 * before its record (release), so a reader that loads the record (acquire)
 * reads that record's bits or bits written later; later bits are written
 * only after the slot was tombstoned, i.e. after the record left the table
 * during the lookup. So a record skipped for its bits was absent at some
 * moment of the call, and a present record is never skipped.
 */
#ifndef TIMERD_TABLE_H
#define TIMERD_TABLE_H

#include <stdbool.h>
#include <stdint.h>

#include "compiler.h"
#include "hash.h"
#include "hazptr.h"
#include "hpslots.h"
#include "timer.h"

#define TABLE_SHARD_BITS 8
#define TABLE_SHARDS (1u << TABLE_SHARD_BITS)
_Static_assert(TABLE_SHARD_BITS > 0 && TABLE_SHARD_BITS < 64, "the shard is the hash's top bits");

struct table_array {
	struct hazptr_node hp;		/* first: retired through hazard pointers */
	size_t mask;			/* capacity - 1 (a power of two) */
	_Atomic uint32_t *hlo;		/* low 32 hash bits of each slot's record */
	_Atomic(struct timer_rec *) slot[];
};

struct table_shard {
	_Atomic int lock;		/* spinlock: held for a few nanoseconds */
	_Atomic(struct table_array *) arr;
	size_t live, tombs;		/* under lock */
} cacheline_aligned;

struct table {
	const struct hash_key *hk;	/* the SipHash key */
	struct table_shard *shard;
};

/* Creates an empty table hashing keys under hk; 0 or TD_ENOMEM. */
int table_init(struct table *t, const struct hash_key *hk);

/* The hash a record is filed under in table t. */
uint64_t table_hash_rec(const struct table *t, const struct timer_rec *r);

/* Frees the arrays (not the records); no other thread may use the table. */
void table_destroy(struct table *t);

/* Finds the record with this key, protected. */
struct timer_rec *table_find(struct table *t, struct hazptr_thread *hp, uint64_t hash,
			     const char *key, uint32_t keylen);

/* Locks / unlocks the shard of hash. */
void table_lock(struct table *t, uint64_t hash);
void table_unlock(struct table *t, uint64_t hash);

/* Finds under the shard lock (no hazard needed while it is held). */
struct timer_rec *table_find_locked(struct table *t, uint64_t hash, const char *key,
				    uint32_t keylen);

/* Inserts r (absent) under the shard lock; 0 or TD_ENOMEM. */
int table_insert_locked(struct table *t, struct hazptr_thread *hp, uint64_t hash,
			struct timer_rec *r);

/* Removes r under the shard lock (it must be present). */
void table_remove_locked(struct table *t, struct hazptr_thread *hp, uint64_t hash,
			 struct timer_rec *r);

/* Number of slots allocated across shards (for memory accounting). */
size_t table_capacity(struct table *t);

/* Prefetches where a lookup of hash starts (single-threaded callers, e.g. a restore). */
static inline void table_prefetch(struct table *t, uint64_t hash)
{
	struct table_array *a = atomic_load_explicit(&t->shard[hash >> (64 - TABLE_SHARD_BITS)].arr,
						     memory_order_relaxed);

	__builtin_prefetch(&a->slot[hash & a->mask], 1);
	__builtin_prefetch(&a->hlo[hash & a->mask], 1);
}

/* Makes room for n keys in all, so inserting them resizes nothing; 0 or TD_ENOMEM. */
int table_reserve(struct table *t, struct hazptr_thread *hp, size_t n);

#endif /* TIMERD_TABLE_H */
