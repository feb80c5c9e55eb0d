/*
 * ctr.h -- counters with a single writer: the owner adds without a locked
 * instruction; any thread may read them with a relaxed load.
 *
 *	owner:   ctr_add(&c->fires, 1);          ctr_max(&c->hwm, n);
 *	reader:  v = atomic_load_explicit(&c->fires, memory_order_relaxed);
 *
 * Two writers of one counter lose updates: each counter belongs to one thread.
 */
#ifndef TIMERD_CTR_H
#define TIMERD_CTR_H

#include <stdatomic.h>
#include <stdint.h>

/* Adds n to a counter only the calling thread writes. */
static inline void ctr_add(_Atomic uint64_t *c, uint64_t n)
{
	/* relaxed: one writer; readers want a recent value, not an ordering. */
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

/* Raises a high-water mark only the calling thread writes to at least v. */
static inline void ctr_max(_Atomic uint64_t *c, uint64_t v)
{
	/* relaxed: one writer, as ctr_add. */
	if (v > atomic_load_explicit(c, memory_order_relaxed))
		atomic_store_explicit(c, v, memory_order_relaxed);
}

#endif /* TIMERD_CTR_H */
