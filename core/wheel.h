/*
 * wheel.h -- a hierarchical timing wheel, exact to the nanosecond.
 *
 * Usage (one thread owns a wheel; nothing here is thread-safe):
 *
 *	wheel_init(&w, now);
 *	n->expires = deadline;  wheel_add(&w, n);      O(1)
 *	wheel_del(&w, n);                               O(1)
 *	for (;;) {
 *		sleep until wheel_next(&w);              O(levels) + one slot
 *		due = wheel_advance(&w, now);            every node with expires <= now,
 *		for (n = due; n; n = next) ...           sorted by expires
 *	}
 *
 * Layout: WHEEL_LEVELS levels of 64 slots. Level l slot covers
 * 2^(WHEEL_GRAN_BITS + 6l) ns: level 0 slots are 1.024 us wide, and nine
 * levels cover the whole int64 range. A node is placed at the highest 6-bit
 * group in which its expiry differs from the wheel's time (the "xor"
 * placement), in the slot its expiry bits name at that level; when time
 * reaches that slot the node is re-placed lower (cascade) or is due.
 * Expiry is compared in full nanoseconds, so nothing is returned early and
 * due nodes come back in deadline order. A 64-bit occupancy bitmap per
 * level finds the next non-empty slot with one count-trailing-zeros.
 *
 * wheel_next() returns the exact earliest expiry when level 0 has a node,
 * else the start of the first occupied slot of the lowest non-empty level
 * (a cascade point, never later than any expiry): sleeping until it is
 * never late, and at most one wake-up per level is spent cascading.
 *
 * Guarantees: wheel_advance(now) returns exactly the nodes with
 * expires <= now, in non-decreasing expires order (ties in an unspecified
 * but deterministic order); all other nodes stay pending.
 */
#ifndef TIMERD_WHEEL_H
#define TIMERD_WHEEL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WHEEL_GRAN_BITS 10
#define WHEEL_LEVEL_BITS 6
#define WHEEL_SLOTS (1 << WHEEL_LEVEL_BITS)
#define WHEEL_LEVELS 9

/* Embedded in each timer. expires is atomic so other threads may read it. */
struct wheel_node {
	struct wheel_node *next;
	struct wheel_node **pprev;	/* NULL when not in the wheel */
	_Atomic int64_t expires;	/* written by the owner only (relaxed) */
};

struct wheel {
	int64_t now;			/* the time the wheel has advanced to */
	size_t count;			/* nodes pending */
	uint64_t occupied[WHEEL_LEVELS];
	struct wheel_node *slot[WHEEL_LEVELS][WHEEL_SLOTS];
};

/* Initialises an empty wheel at time now (>= 0). */
void wheel_init(struct wheel *w, int64_t now);

/* Adds n (n->expires set, >= 0); a node already due is returned by the next advance. */
void wheel_add(struct wheel *w, struct wheel_node *n);

/* Removes a pending node. */
void wheel_del(struct wheel *w, struct wheel_node *n);

/* Moves the wheel to now; returns the due nodes, sorted, linked by next. */
struct wheel_node *wheel_advance(struct wheel *w, int64_t now);

/* The next time wheel_advance has work, or INT64_MAX if the wheel is empty. */
int64_t wheel_next(const struct wheel *w);

/* Calls fn on every pending node (the callback must not modify the wheel). */
void wheel_for_each(struct wheel *w, void (*fn)(void *arg, struct wheel_node *n), void *arg);

/* True if n is in a wheel. */
static inline bool wheel_pending(const struct wheel_node *n)
{
	return n->pprev != NULL;
}

/* The node's expiry (owner thread: relaxed is enough). */
static inline int64_t wheel_expires(const struct wheel_node *n)
{
	return atomic_load_explicit(&n->expires, memory_order_relaxed);
}

/* Sets the node's expiry; only while it is not in a wheel. */
static inline void wheel_set_expires(struct wheel_node *n, int64_t t)
{
	/* relaxed: readers on other threads only need a value once written. */
	atomic_store_explicit(&n->expires, t, memory_order_relaxed);
}

#endif /* TIMERD_WHEEL_H */
