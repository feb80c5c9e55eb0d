/*
 * table.c -- sharded open-addressing maps with hazard-pointer readers.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "spin.h"
#include "table.h"

#define TABLE_MIN_CAP 16
#define TABLE_TOMB ((struct timer_rec *)(uintptr_t)1)

/* Shard of a hash: its top bits (the low bits pick the slot). */
static struct table_shard *table_shard_of(struct table *t, uint64_t hash)
{
	return &t->shard[hash >> (64 - TABLE_SHARD_BITS)];
}

uint64_t table_hash_rec(const struct table *t, const struct timer_rec *r)
{
	return hash_bytes(t->hk, r->key, r->keylen);
}

/* True if r is the record of key. */
static bool table_match(const struct timer_rec *r, const char *key, uint32_t keylen)
{
	return r->keylen == keylen && memcmp(r->key, key, keylen) == 0;
}

/* Allocates an empty array of cap (a power of two) slots and their hash bits. */
static struct table_array *table_array_new(size_t cap)
{
	struct table_array *a = calloc(1, sizeof(*a) + cap * (sizeof(a->slot[0]) + sizeof(uint32_t)));

	if (a) {
		a->mask = cap - 1;
		a->hlo = (_Atomic uint32_t *)(void *)&a->slot[cap];
	}
	return a;
}

/* Frees an array once no reader holds it. */
static void table_array_free(struct hazptr_node *n)
{
	free(n);
}

int table_init(struct table *t, const struct hash_key *hk)
{
	t->hk = hk;
	t->shard = aligned_alloc(CACHELINE, sizeof(*t->shard) * TABLE_SHARDS);
	if (!t->shard)
		return TD_ENOMEM;
	memset(t->shard, 0, sizeof(*t->shard) * TABLE_SHARDS);
	for (unsigned i = 0; i < TABLE_SHARDS; i++) {
		struct table_array *a = table_array_new(TABLE_MIN_CAP);

		if (!a) {
			t->shard[i].arr = NULL;
			table_destroy(t);
			return TD_ENOMEM;
		}
		atomic_init(&t->shard[i].arr, a);
	}
	return 0;
}

void table_destroy(struct table *t)
{
	if (!t->shard)
		return;
	for (unsigned i = 0; i < TABLE_SHARDS; i++) {
		free(atomic_load_explicit(&t->shard[i].arr, memory_order_relaxed));
	}
	free(t->shard);
	t->shard = NULL;
}

/*
 * Publishes r in HP_SLOT_REC and checks it is still in slot *s of the
 * shard's current array a: then r was reachable after the publication and
 * cannot be freed until the slot is released.
 */
static bool table_protect(struct hazptr_thread *hp, struct table_shard *sh,
			  struct table_array *a, _Atomic(struct timer_rec *) *s,
			  struct timer_rec *r)
{
	hazptr_publish(hp, &hp->slot[HP_SLOT_REC], r);
	/* acquire: pairs with the insert's release store; r's fields are initialised. */
	return atomic_load_explicit(s, memory_order_acquire) == r &&
	       atomic_load_explicit(&sh->arr, memory_order_acquire) == a;
}

struct timer_rec *table_find(struct table *t, struct hazptr_thread *hp, uint64_t hash,
			     const char *key, uint32_t keylen)
{
	struct table_shard *sh = table_shard_of(t, hash);
	struct table_array *a;
	struct timer_rec *r;

retry:
	a = hazptr_protect(hp, HP_SLOT_ARR, (void *_Atomic *)&sh->arr);
	for (size_t i = hash & a->mask;; i = (i + 1) & a->mask) {
		/* acquire: pairs with table_place's release; r's hash bits are visible. */
		r = atomic_load_explicit(&a->slot[i], memory_order_acquire);
		if (!r)
			break;
		/* relaxed: other bits than r's mean r left the table meanwhile (table.h). */
		if (r == TABLE_TOMB ||
		    atomic_load_explicit(&a->hlo[i], memory_order_relaxed) != (uint32_t)hash)
			continue;
		if (!table_protect(hp, sh, a, &a->slot[i], r))
			goto retry;
		if (table_match(r, key, keylen)) {
			hazptr_release(hp, HP_SLOT_ARR);
			return r;
		}
	}
	hazptr_release(hp, HP_SLOT_REC);
	hazptr_release(hp, HP_SLOT_ARR);
	return NULL;
}

void table_lock(struct table *t, uint64_t hash)
{
	spin_lock(&table_shard_of(t, hash)->lock);
}

void table_unlock(struct table *t, uint64_t hash)
{
	spin_unlock(&table_shard_of(t, hash)->lock);
}

struct timer_rec *table_find_locked(struct table *t, uint64_t hash, const char *key,
				    uint32_t keylen)
{
	struct table_array *a = atomic_load_explicit(&table_shard_of(t, hash)->arr,
						     memory_order_relaxed);

	for (size_t i = hash & a->mask;; i = (i + 1) & a->mask) {
		struct timer_rec *r = atomic_load_explicit(&a->slot[i], memory_order_relaxed);

		if (!r)
			return NULL;
		/* relaxed: under the lock; the bits spare a miss on each other key's record. */
		if (r != TABLE_TOMB &&
		    atomic_load_explicit(&a->hlo[i], memory_order_relaxed) == (uint32_t)hash &&
		    table_match(r, key, keylen))
			return r;
	}
}

/* Puts r in the first free or tombstone slot of its probe sequence in a. */
static bool table_place(struct table_array *a, uint64_t hash, struct timer_rec *r)
{
	for (size_t i = hash & a->mask;; i = (i + 1) & a->mask) {
		struct timer_rec *cur = atomic_load_explicit(&a->slot[i], memory_order_relaxed);

		if (!cur || cur == TABLE_TOMB) {
			/* relaxed: published by the release store of r just below. */
			atomic_store_explicit(&a->hlo[i], (uint32_t)hash, memory_order_relaxed);
			/* release: r's fields and hash bits are visible to readers that load it. */
			atomic_store_explicit(&a->slot[i], r, memory_order_release);
			return cur == TABLE_TOMB;
		}
	}
}

/* Replaces the shard's array with one of cap slots holding the live records. */
static int table_resize(struct table *t, struct hazptr_thread *hp, struct table_shard *sh,
			size_t cap)
{
	struct table_array *old = atomic_load_explicit(&sh->arr, memory_order_relaxed);
	struct table_array *a = table_array_new(cap);

	if (!a)
		return TD_ENOMEM;
	for (size_t i = 0; i <= old->mask; i++) {
		struct timer_rec *r = atomic_load_explicit(&old->slot[i], memory_order_relaxed);

		/* The slot index needs only the low bits while cap <= 2^32 (mask fits 32 bits). */
		if (r && r != TABLE_TOMB)
			table_place(a, cap - 1 <= UINT32_MAX ?
					       atomic_load_explicit(&old->hlo[i], memory_order_relaxed) :
					       table_hash_rec(t, r), r);
	}
	/* release: the filled array is visible before readers can load it. */
	atomic_store_explicit(&sh->arr, a, memory_order_release);
	sh->tombs = 0;
	hazptr_retire(hp, &old->hp, table_array_free);
	return 0;
}

/*
 * Capacity for n live records: load at most 1/2 right after a resize, so
 * between resizes it stays in [3/8, 3/4] (12 bytes a slot: about 21 bytes per key).
 */
static size_t table_cap_for(size_t n)
{
	size_t cap = TABLE_MIN_CAP;

	while (cap < n * 2)
		cap *= 2;
	return cap;
}

int table_insert_locked(struct table *t, struct hazptr_thread *hp, uint64_t hash,
			struct timer_rec *r)
{
	struct table_shard *sh = table_shard_of(t, hash);
	struct table_array *a = atomic_load_explicit(&sh->arr, memory_order_relaxed);

	/* Keep at least a quarter of the slots NULL so probes terminate quickly. */
	if ((sh->live + sh->tombs + 1) * 4 > (a->mask + 1) * 3) {
		int err = table_resize(t, hp, sh, table_cap_for(sh->live + 1));

		if (err)
			return err;
		a = atomic_load_explicit(&sh->arr, memory_order_relaxed);
	}
	if (table_place(a, hash, r))
		sh->tombs--;
	sh->live++;
	return 0;
}

void table_remove_locked(struct table *t, struct hazptr_thread *hp, uint64_t hash,
			 struct timer_rec *r)
{
	struct table_shard *sh = table_shard_of(t, hash);
	struct table_array *a = atomic_load_explicit(&sh->arr, memory_order_relaxed);

	for (size_t i = hash & a->mask;; i = (i + 1) & a->mask) {
		struct timer_rec *cur = atomic_load_explicit(&a->slot[i], memory_order_relaxed);

		if (!cur)
			return;	/* not present: nothing to do */
		if (cur == r) {
			/* release: orders the record's last updates before its removal. */
			atomic_store_explicit(&a->slot[i], TABLE_TOMB, memory_order_release);
			break;
		}
	}
	sh->live--;
	sh->tombs++;
	/* Give memory back after mass removals (failure to shrink is harmless). */
	if (a->mask + 1 > TABLE_MIN_CAP && sh->live * 8 < a->mask + 1)
		table_resize(t, hp, sh, table_cap_for(sh->live));
}

size_t table_capacity(struct table *t)
{
	size_t n = 0;

	for (unsigned i = 0; i < TABLE_SHARDS; i++)
		n += atomic_load_explicit(&t->shard[i].arr, memory_order_relaxed)->mask + 1;
	return n;
}

/* Grows every shard to hold n keys in all without a resize (restore, before readers). */
int table_reserve(struct table *t, struct hazptr_thread *hp, size_t n)
{
	size_t cap = table_cap_for(n / TABLE_SHARDS + 1);

	for (unsigned i = 0; i < TABLE_SHARDS; i++) {
		struct table_shard *sh = &t->shard[i];
		int err = 0;

		spin_lock(&sh->lock);
		if (atomic_load_explicit(&sh->arr, memory_order_relaxed)->mask + 1 < cap)
			err = table_resize(t, hp, sh, cap);
		spin_unlock(&sh->lock);
		if (err)
			return err;
	}
	return 0;
}
