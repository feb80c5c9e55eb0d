/*
 * llist.h -- a lock-free multi-producer list (the kernel's llist).
 *
 * Usage:
 *
 *	producers:  if (llist_add(&node, &head)) wake_consumer();   was empty
 *	consumer:   for (n = llist_reverse(llist_del_all(&head)); n; n = next) {
 *	                next = n->next;        read before n may be re-added
 *	                ...
 *	            }
 *
 * What may run concurrently:
 *
 *	              add    del_all
 *	add           yes    yes
 *	del_all       yes    yes
 *
 * A node may be added again only after the consumer has read its next
 * pointer. Guarantees: every added node is returned by exactly one
 * del_all; del_all returns nodes newest first (llist_reverse gives FIFO).
 */
#ifndef TIMERD_LLIST_H
#define TIMERD_LLIST_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

struct llist_node {
	struct llist_node *next;
};

struct llist_head {
	_Atomic(struct llist_node *) first;
};

/* Pushes n; returns true if the list was empty (the consumer may need a wake-up). */
static inline bool llist_add(struct llist_node *n, struct llist_head *h)
{
	/* relaxed: a stale head only makes the cmpxchg fail and retry. */
	struct llist_node *first = atomic_load_explicit(&h->first, memory_order_relaxed);

	do {
		n->next = first;
		/*
		 * seq_cst: n's contents are visible to the consumer's acquire, and
		 * the push is ordered before the caller's next seq_cst load (the
		 * wake-up protocol of llist_wake_needed()). Same instruction as
		 * release on x86.
		 */
	} while (!atomic_compare_exchange_weak_explicit(&h->first, &first, n,
							memory_order_seq_cst,
							memory_order_relaxed));
	return first == NULL;
}

/* Takes the whole list, newest first. */
static inline struct llist_node *llist_del_all(struct llist_head *h)
{
	/* relaxed pre-check: avoids a locked instruction on an empty list. */
	if (!atomic_load_explicit(&h->first, memory_order_relaxed))
		return NULL;
	/* acquire: pairs with llist_add's release; the nodes are fully visible. */
	return atomic_exchange_explicit(&h->first, NULL, memory_order_acquire);
}

/*
 * Wake-up protocol between producers and a consumer that sleeps:
 *
 *	consumer:  llist_consumer_idle(&idle);       before sleeping
 *	           if (!llist_empty_sc(&h)) { llist_consumer_busy(&idle); continue; }
 *	           sleep on its fd;  llist_consumer_busy(&idle);
 *	producer:  llist_add(n, &h);
 *	           if (llist_wake_needed(&idle)) write the consumer's fd;
 *
 * The consumer's store of idle and its load of the list, and the producer's
 * push and its load of idle, are seq_cst: at least one side sees the other,
 * so a push is never left asleep, and producers make no system call while
 * the consumer is running.
 */
static inline void llist_consumer_idle(_Atomic int *idle)
{
	atomic_store_explicit(idle, 1, memory_order_seq_cst);
}

static inline void llist_consumer_busy(_Atomic int *idle)
{
	atomic_store_explicit(idle, 0, memory_order_relaxed);
}

/* True for exactly one producer after the consumer went idle. */
static inline bool llist_wake_needed(_Atomic int *idle)
{
	return atomic_load_explicit(idle, memory_order_seq_cst) &&
	       atomic_exchange_explicit(idle, 0, memory_order_relaxed);
}

/* The consumer's seq_cst emptiness check of the protocol above. */
static inline bool llist_empty_sc(struct llist_head *h)
{
	return atomic_load_explicit(&h->first, memory_order_seq_cst) == NULL;
}

/* True if the list looks empty (a hint: it may change at once). */
static inline bool llist_empty(struct llist_head *h)
{
	return atomic_load_explicit(&h->first, memory_order_relaxed) == NULL;
}

/* Reverses a taken list in place (newest-first to oldest-first). */
static inline struct llist_node *llist_reverse(struct llist_node *n)
{
	struct llist_node *prev = NULL, *next;

	for (; n; n = next) {
		next = n->next;
		n->next = prev;
		prev = n;
	}
	return prev;
}

#endif /* TIMERD_LLIST_H */
