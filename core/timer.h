/*
 * timer.h -- the timer record and its attributes (internal to core/).
 *
 * A record is 104 bytes plus its key, so that with malloc's 8-byte header
 * it fits a 112-byte chunk; see doc/architecture.md "Memory per timer".
 *
 * Who writes what:
 *
 *	field            written by                      read by
 *	wn (wheel)       dispatcher                      dispatcher; expires: any (relaxed)
 *	hp (retired)     dispatcher, after removal       reclaimer
 *	id, key          creator, before publication     any (immutable)
 *	qn               producer that sets QUEUED       dispatcher
 *	flags            producers (QUEUED), dispatcher  any
 *	applied          dispatcher                      dispatcher
 *	cell, buf        producers (cell protocol)       any (cell protocol)
 *	last             dispatcher (cell_consume)       any
 *
 * The cell is core/cell.h's claim variant (the default): one word, two
 * copies in buf; each copy holds a reference to its state's attributes.
 * Its payload is TIMER_WORDS words:
 *	word 0: deadline in ns (CLOCK_MONOTONIC, or CLOCK_REALTIME if TIMER_OP_REALTIME)
 *	word 1: struct timer_attrs pointer | TIMER_OP_* bits (attrs are 8-aligned)
 */
#ifndef TIMERD_TIMER_H
#define TIMERD_TIMER_H

#include <stdatomic.h>
#include <stdint.h>

#include "cell.h"
#include "hazptr.h"
#include "llist.h"
#include "wheel.h"

#define TIMER_WORDS 2

/* Low bits of cell word 1. */
#define TIMER_OP_CANCEL	  UINT64_C(1)	/* the requested state is "cancelled" */
#define TIMER_OP_REALTIME UINT64_C(2)	/* word 0 is a CLOCK_REALTIME time */
#define TIMER_OP_MASK	  UINT64_C(7)

/* Record flags. */
#define TIMER_QUEUED	  1u	/* on the intake list, or about to be */
#define TIMER_DEAD	  2u	/* removed from the tables (or being removed) */

/* Dispatcher-only flags (dflags). */
#define TIMER_D_REALTIME  1u	/* in the wheel as a CLOCK_REALTIME timer */
#define TIMER_D_UNTABLED  2u	/* restore (core/restore.c): keyed, not in the key table yet; clear before start */
/* The upper 14 dflags bits: the account the timer counts in (engine_arm.acct), set by its creator before publication. */
#define TIMER_D_ACCT_SHIFT 2
#define TIMER_D_ACCT_MASK  ((uint16_t)~3u)

/*
 * Immutable attributes of one arm: topic, payload, period, owner, calendar
 * schedule. Shared by reference: each cell copy holding it, the dispatcher's
 * applied state and each undelivered fire hold one reference. Only wall_next
 * and fires are written after creation, by the dispatcher. The schedule
 * (cal) is owned by the attributes: freed with them, after the hazard
 * pointer grace period, so a reader holding the attributes may read it.
 */
struct timer_attrs {
	struct hazptr_node hp;		/* first: retired through hazard pointers */
	_Atomic uint32_t refs;
	uint32_t flags;			/* engine_arm.flags */
	int64_t period;
	uint64_t owner;
	struct cal *cal;		/* calendar schedule (cal/cal.h), or NULL */
	_Atomic int64_t wall_next;	/* realtime: next CLOCK_REALTIME deadline */
	_Atomic uint64_t fires;		/* fires since this arm */
	_Atomic int64_t *mem;		/* the engine's memory account it is counted in (NULL: none) */
	_Atomic int64_t *umem;		/* its arm's account's bytes it is counted in too (NULL: none) */
	uint32_t topiclen;
	uint32_t payloadlen;
	uint32_t labellen;
	char data[];			/* topic, then payload, then label */
};

struct timer_rec {
	union {
		struct wheel_node wn;	/* while the timer lives */
		struct hazptr_node hp;	/* once retired (overlays wn.next, wn.pprev) */
	};
	uint64_t id;
	struct llist_node qn;		/* intake link */
	_Atomic uint32_t flags;
	uint16_t keylen;
	uint16_t dflags;
	struct timer_attrs *applied;	/* the state the wheel holds */
	struct cell_claim cell;		/* the cell's word (claim variant) */
	_Atomic uint64_t last;		/* generation last applied */
	_Atomic uint64_t buf[2 * TIMER_WORDS];
	char key[];
};

_Static_assert(offsetof(struct timer_rec, hp) == 0, "hazptr node must come first");
_Static_assert(sizeof(struct timer_rec) <= 104, "timer record grew: check memory per timer");

#endif /* TIMERD_TIMER_H */
