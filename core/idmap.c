/*
 * idmap.c -- the slot map from engine ids to timer records.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "hpslots.h"
#include "idmap.h"
#include "spin.h"

/* Index and generation of an id. */
static uint32_t idmap_index(uint64_t id)
{
	return (uint32_t)id;
}

static uint32_t idmap_gen(uint64_t id)
{
	return (uint32_t)(id >> 32);
}

/* The slot of index, or NULL if its chunk does not exist. */
static _Atomic uintptr_t *idmap_slot(struct idmap *m, uint32_t index)
{
	struct idmap_chunk *c;

	if (index >= IDMAP_MAX_SLOTS)
		return NULL;
	/* acquire: pairs with the release that published the (zeroed) chunk. */
	c = atomic_load_explicit(&m->dir[index >> IDMAP_CHUNK_BITS], memory_order_acquire);
	return c ? &c->slot[index & (IDMAP_CHUNK - 1)] : NULL;
}

void idmap_init(struct idmap *m)
{
	memset(m, 0, sizeof(*m));
}

void idmap_destroy(struct idmap *m)
{
	struct idmap_batch *b, *next;

	for (unsigned i = 0; i < IDMAP_MAX_CHUNKS; i++)
		free(atomic_load_explicit(&m->dir[i], memory_order_relaxed));
	for (b = m->free; b; b = next) {
		next = b->next;
		free(b);
	}
	memset(m, 0, sizeof(*m));
}

/* Shares a batch of freed indices (an empty one is just freed). */
static void idmap_share(struct idmap *m, struct idmap_batch *b)
{
	if (!b)
		return;
	if (!b->n) {
		free(b);
		return;
	}
	spin_lock(&m->lock);
	b->next = m->free;
	m->free = b;
	spin_unlock(&m->lock);
}

/* Makes sure the chunks holding [from, to) exist; false if out of memory. */
static bool idmap_grow(struct idmap *m, uint32_t from, uint32_t to)
{
	for (uint32_t ci = from >> IDMAP_CHUNK_BITS; ci <= (to - 1) >> IDMAP_CHUNK_BITS; ci++) {
		struct idmap_chunk *c;

		if (atomic_load_explicit(&m->dir[ci], memory_order_acquire))
			continue;
		spin_lock(&m->lock);
		if (!atomic_load_explicit(&m->dir[ci], memory_order_relaxed)) {
			c = calloc(1, sizeof(*c));	/* zero pages: free, generation 1 */
			if (!c) {
				spin_unlock(&m->lock);
				return false;
			}
			/* release: the zeroed chunk is visible before any of its ids. */
			atomic_store_explicit(&m->dir[ci], c, memory_order_release);
		}
		spin_unlock(&m->lock);
	}
	return true;
}

/*
 * Reserves IDMAP_BUMP fresh indices from the high-water mark; false if the
 * map is full. A CAS loop: the mark never moves past the map's size.
 */
static bool idmap_reserve(struct idmap *m, uint32_t *first)
{
	uint32_t h = atomic_load_explicit(&m->hwm, memory_order_relaxed);

	do {
		if ((uint64_t)h + IDMAP_BUMP > IDMAP_MAX_SLOTS)
			return false;
		/* relaxed: the chunk pointers, not the mark, publish the slots. */
	} while (!atomic_compare_exchange_weak_explicit(&m->hwm, &h, h + IDMAP_BUMP,
							memory_order_relaxed, memory_order_relaxed));
	*first = h;
	return true;
}

/* Refills an empty cache: a shared batch of freed indices, else fresh ones. */
static bool idmap_refill(struct idmap *m, struct idmap_cache *c)
{
	uint32_t first;

	free(c->take);
	c->take = NULL;
	spin_lock(&m->lock);
	if (m->free) {
		c->take = m->free;
		m->free = c->take->next;
	}
	spin_unlock(&m->lock);
	if (c->take)
		return true;
	if (!idmap_reserve(m, &first))
		return false;
	c->bump_next = first;
	c->bump_end = first + IDMAP_BUMP;
	return true;
}

/* Raises gen_max to gen (a CAS only when gen is higher: rare, a slot's generation grows per reuse). */
static void idmap_note_gen(struct idmap *m, uint32_t gen)
{
	uint32_t cur = atomic_load_explicit(&m->gen_max, memory_order_relaxed);

	/* relaxed: a statistic for the journal, no ordering with the slot */
	while (gen > cur && !atomic_compare_exchange_weak_explicit(&m->gen_max, &cur, gen, memory_order_relaxed,
								  memory_order_relaxed))
		;
}

uint64_t idmap_alloc(struct idmap *m, struct idmap_cache *c)
{
	uint32_t index, gen;
	uintptr_t v;

	for (;;) {
		if (c->take && c->take->n) {
			index = c->take->idx[--c->take->n];
			break;
		}
		if (c->bump_next < c->bump_end) {
			/* A fresh index keeps its reservation if its chunk cannot be made yet. */
			if (!idmap_grow(m, c->bump_next, c->bump_next + 1))
				return 0;
			index = c->bump_next++;
			break;
		}
		if (!idmap_refill(m, c))
			return 0;
	}
	/* relaxed: this thread owns the free slot; its generation was written by the remover
	 * before the index reached this cache through the lock or the bump. */
	v = atomic_load_explicit(idmap_slot(m, index), memory_order_relaxed);
	gen = v ? (uint32_t)(v >> 1) : m->gen_base ? m->gen_base : 1;
	idmap_note_gen(m, gen);
	return ((uint64_t)gen << 32) | index;
}

/* Adds a freed index to the cache, sharing full batches. */
static void idmap_give(struct idmap *m, struct idmap_cache *c, uint32_t index)
{
	if (!c->give || c->give->n == IDMAP_BATCH) {
		idmap_share(m, c->give);
		c->give = malloc(sizeof(*c->give));
		if (!c->give)
			return;		/* out of memory: the slot is lost, never reused */
		c->give->n = 0;
	}
	c->give->idx[c->give->n++] = index;
}

/* Marks the slot of id free with the next generation and recycles it. */
static void idmap_release(struct idmap *m, struct idmap_cache *c, uint64_t id)
{
	uint32_t gen = idmap_gen(id) + 1;

	if (!gen)
		gen = 1;	/* wrapped: 0 is never a generation */
	/* release: the slot's old contents are done with before it can be reused. */
	atomic_store_explicit(idmap_slot(m, idmap_index(id)), ((uintptr_t)gen << 1) | 1,
			      memory_order_release);
	idmap_give(m, c, idmap_index(id));
}

void idmap_unalloc(struct idmap *m, struct idmap_cache *c, uint64_t id)
{
	idmap_release(m, c, id);
}

void idmap_set(struct idmap *m, uint64_t id, struct timer_rec *r)
{
	/* release: r is initialised before a reader can load it. */
	atomic_store_explicit(idmap_slot(m, idmap_index(id)), (uintptr_t)r, memory_order_release);
}

void idmap_remove(struct idmap *m, struct idmap_cache *c, struct timer_rec *r)
{
	idmap_release(m, c, r->id);
}

/* Protects the record in slot s (validated: still there after publication), or NULL. */
static struct timer_rec *idmap_protect(struct hazptr_thread *hp, _Atomic uintptr_t *s)
{
	/* relaxed: used only after the acquire re-load below confirms it. */
	uintptr_t v = atomic_load_explicit(s, memory_order_relaxed), w;

	for (;;) {
		if (!v || (v & 1))
			break;
		hazptr_publish(hp, &hp->slot[HP_SLOT_REC], (void *)v);
		/* acquire: pairs with idmap_set's release; the record is initialised. */
		w = atomic_load_explicit(s, memory_order_acquire);
		if (w == v)
			return (struct timer_rec *)v;
		v = w;
	}
	hazptr_release(hp, HP_SLOT_REC);
	return NULL;
}

struct timer_rec *idmap_find(struct idmap *m, struct hazptr_thread *hp, uint64_t id)
{
	_Atomic uintptr_t *s = idmap_slot(m, idmap_index(id));
	struct timer_rec *r = s ? idmap_protect(hp, s) : NULL;

	if (r && r->id != id) {
		hazptr_release(hp, HP_SLOT_REC);	/* the slot was reused */
		r = NULL;
	}
	return r;
}

struct timer_rec *idmap_at(struct idmap *m, struct hazptr_thread *hp, uint32_t index)
{
	_Atomic uintptr_t *s = idmap_slot(m, index);

	return s ? idmap_protect(hp, s) : NULL;
}

struct timer_rec *idmap_at_unsafe(struct idmap *m, uint32_t index)
{
	_Atomic uintptr_t *s = idmap_slot(m, index);
	uintptr_t v = s ? atomic_load_explicit(s, memory_order_relaxed) : 0;

	return (!v || (v & 1)) ? NULL : (struct timer_rec *)v;
}

/* Publishes r at exactly its id (restore, single-threaded). */
bool idmap_restore_set(struct idmap *m, struct timer_rec *r)
{
	uint32_t index = idmap_index(r->id);

	if (index >= IDMAP_MAX_SLOTS - IDMAP_BUMP || !idmap_grow(m, index, index + 1))
		return false;
	/* relaxed: no other thread runs during a restore. */
	if (atomic_load_explicit(&m->hwm, memory_order_relaxed) <= index)
		atomic_store_explicit(&m->hwm, index + 1, memory_order_relaxed);
	idmap_note_gen(m, idmap_gen(r->id));
	idmap_set(m, r->id, r);
	return true;
}

/* Frees the slot of a restored id again (restore, single-threaded). */
void idmap_restore_clear(struct idmap *m, uint64_t id)
{
	atomic_store_explicit(idmap_slot(m, idmap_index(id)), 0, memory_order_relaxed);
}

/* Ends a restore: free indices below the mark go to c; generations start at gen. */
void idmap_restore_finish(struct idmap *m, struct idmap_cache *c, uint32_t gen)
{
	uint32_t end = atomic_load_explicit(&m->hwm, memory_order_relaxed);

	m->gen_base = gen ? gen : 1;
	idmap_note_gen(m, m->gen_base);
	for (uint32_t i = 0; i < end; i++) {
		_Atomic uintptr_t *s = idmap_slot(m, i);

		if (atomic_load_explicit(s, memory_order_relaxed))
			continue;
		atomic_store_explicit(s, ((uintptr_t)m->gen_base << 1) | 1, memory_order_relaxed);
		idmap_give(m, c, i);
	}
	idmap_share(m, c->give);
	c->give = NULL;
	/* release: the slots written above are visible to whoever takes the batches. */
	atomic_thread_fence(memory_order_release);
}
