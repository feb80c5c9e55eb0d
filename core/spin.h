/*
 * spin.h -- a test-and-test-and-set spinlock for critical sections of a
 * few nanoseconds (table shards, the id map's free batches).
 *
 *	spin_lock(&l);  ...short work...  spin_unlock(&l);
 *
 * A waiter spins with a pause, then yields the CPU: the holder may be
 * resizing a table shard or have been preempted.
 */
#ifndef TIMERD_SPIN_H
#define TIMERD_SPIN_H

#include <sched.h>
#include <stdatomic.h>

#include "compiler.h"

static inline void spin_lock(_Atomic int *l)
{
	for (unsigned spins = 0;; spins++) {
		/* acquire: the previous holder's updates are visible. */
		if (!atomic_load_explicit(l, memory_order_relaxed) &&
		    !atomic_exchange_explicit(l, 1, memory_order_acquire))
			return;
		if (spins < 256)
			cpu_relax();
		else
			sched_yield();
	}
}

static inline void spin_unlock(_Atomic int *l)
{
	/* release: this holder's updates are visible to the next one. */
	atomic_store_explicit(l, 0, memory_order_release);
}

#endif /* TIMERD_SPIN_H */
