/*
 * wheel.c -- the hierarchical timing wheel (see wheel.h for the layout).
 */
#include "config.h"

#include <string.h>

#include "wheel.h"

/* Bit position where level l's slot index starts. */
static unsigned wheel_shift(unsigned level)
{
	return WHEEL_GRAN_BITS + WHEEL_LEVEL_BITS * level;
}

/* Rotates a 64-bit mask left by r (0..63). */
static uint64_t wheel_rotl(uint64_t x, unsigned r)
{
	return r ? (x << r) | (x >> (64 - r)) : x;
}

void wheel_init(struct wheel *w, int64_t now)
{
	memset(w, 0, sizeof(*w));
	w->now = now < 0 ? 0 : now;
}

/* Chooses the level and slot for expiry t relative to the wheel's time. */
static void wheel_place(const struct wheel *w, int64_t t, unsigned *level, unsigned *slot)
{
	uint64_t a = (uint64_t)t >> WHEEL_GRAN_BITS, b = (uint64_t)w->now >> WHEEL_GRAN_BITS;
	uint64_t diff = a ^ b;
	unsigned l;

	if (t <= w->now || diff == 0) {
		/* Due, or due within the current tick: the current slot is rescanned each advance. */
		*level = 0;
		*slot = (unsigned)(b & (WHEEL_SLOTS - 1));
		return;
	}
	l = (unsigned)(63 - __builtin_clzll(diff)) / WHEEL_LEVEL_BITS;
	*level = l;
	*slot = (unsigned)((a >> (WHEEL_LEVEL_BITS * l)) & (WHEEL_SLOTS - 1));
}

void wheel_add(struct wheel *w, struct wheel_node *n)
{
	unsigned l, s;
	struct wheel_node **head;

	wheel_place(w, wheel_expires(n), &l, &s);
	head = &w->slot[l][s];
	n->next = *head;
	if (n->next)
		n->next->pprev = &n->next;
	*head = n;
	n->pprev = head;
	w->occupied[l] |= UINT64_C(1) << s;
	w->count++;
}

/* If pprev is a slot head whose list became empty, clears its occupancy bit. */
static void wheel_note_empty(struct wheel *w, struct wheel_node **pprev)
{
	struct wheel_node **first = &w->slot[0][0];
	size_t idx;

	if (pprev < first || pprev >= first + WHEEL_LEVELS * WHEEL_SLOTS || *pprev)
		return;
	idx = (size_t)(pprev - first);
	w->occupied[idx / WHEEL_SLOTS] &= ~(UINT64_C(1) << (idx % WHEEL_SLOTS));
}

void wheel_del(struct wheel *w, struct wheel_node *n)
{
	struct wheel_node **pprev = n->pprev;

	*pprev = n->next;
	if (n->next)
		n->next->pprev = pprev;
	n->next = NULL;
	n->pprev = NULL;
	w->count--;
	wheel_note_empty(w, pprev);
}

/* Moves every node of slot (l, s) onto *moved and empties the slot. */
static void wheel_take_slot(struct wheel *w, unsigned l, unsigned s, struct wheel_node **moved)
{
	struct wheel_node *n = w->slot[l][s], *next;

	for (; n; n = next) {
		next = n->next;
		n->pprev = NULL;
		n->next = *moved;
		*moved = n;
		w->count--;
	}
	w->slot[l][s] = NULL;
	w->occupied[l] &= ~(UINT64_C(1) << s);
}

/* Mask of level-l slots whose time range was reached moving from old to now. */
static uint64_t wheel_reached(unsigned l, int64_t old, int64_t now)
{
	uint64_t o = (uint64_t)old >> wheel_shift(l), n = (uint64_t)now >> wheel_shift(l);
	/* Level 0 rescans the current slot too: it holds nodes due later in this tick. */
	uint64_t first = l == 0 ? o : o + 1, count = n - first + 1;

	if (n < first)
		return 0;
	if (count >= WHEEL_SLOTS)
		return ~UINT64_C(0);
	return wheel_rotl((UINT64_C(1) << count) - 1, (unsigned)(first & (WHEEL_SLOTS - 1)));
}

/* Merges two lists sorted by expires (stable: a's nodes first on ties). */
static struct wheel_node *wheel_merge(struct wheel_node *a, struct wheel_node *b)
{
	struct wheel_node head = { 0 }, *t = &head;

	while (a && b) {
		if (wheel_expires(b) < wheel_expires(a)) {
			t->next = b;
			b = b->next;
		} else {
			t->next = a;
			a = a->next;
		}
		t = t->next;
	}
	t->next = a ? a : b;
	return head.next;
}

/* Sorts a list by expires (bottom-up merge sort, O(n log n), no allocation). */
static struct wheel_node *wheel_sort(struct wheel_node *list)
{
	struct wheel_node *bin[64] = { 0 }, *n;
	unsigned i, top = 0;

	while (list) {
		n = list;
		list = list->next;
		n->next = NULL;
		for (i = 0; i < 64 && bin[i]; i++) {
			n = wheel_merge(bin[i], n);
			bin[i] = NULL;
		}
		if (i == 64)
			i = 63;
		bin[i] = n;
		if (i >= top)
			top = i + 1;
	}
	for (n = NULL, i = 0; i < top; i++)
		n = wheel_merge(bin[i], n);
	return n;
}

struct wheel_node *wheel_advance(struct wheel *w, int64_t now)
{
	struct wheel_node *moved = NULL, *due = NULL, *n, *next;
	int64_t old = w->now;

	if (now < old)
		now = old;
	for (unsigned l = 0; l < WHEEL_LEVELS; l++) {
		uint64_t mask;

		if (l > 0 && ((uint64_t)old >> wheel_shift(l)) == ((uint64_t)now >> wheel_shift(l)))
			break;	/* higher levels did not move either */
		mask = wheel_reached(l, old, now) & w->occupied[l];
		while (mask) {
			wheel_take_slot(w, l, (unsigned)__builtin_ctzll(mask), &moved);
			mask &= mask - 1;
		}
	}
	w->now = now;
	for (n = moved; n; n = next) {
		next = n->next;
		if (wheel_expires(n) <= now) {
			n->next = due;
			due = n;
		} else {
			wheel_add(w, n);	/* cascade to a lower level */
		}
	}
	return wheel_sort(due);
}

/* Earliest expiry among the nodes of one slot. */
static int64_t wheel_slot_min(struct wheel_node *n)
{
	int64_t min = INT64_MAX;

	for (; n; n = n->next)
		if (wheel_expires(n) < min)
			min = wheel_expires(n);
	return min;
}

int64_t wheel_next(const struct wheel *w)
{
	uint64_t n0 = (uint64_t)w->now >> WHEEL_GRAN_BITS, bits;

	if (!w->count)
		return INT64_MAX;
	/* Level 0 nodes lie in [current slot, end of rotation]: exact minimum. */
	bits = w->occupied[0] >> (n0 & (WHEEL_SLOTS - 1));
	if (bits)
		return wheel_slot_min(w->slot[0][(n0 & (WHEEL_SLOTS - 1)) + (unsigned)__builtin_ctzll(bits)]);
	for (unsigned l = 1; l < WHEEL_LEVELS; l++) {
		uint64_t nl = (uint64_t)w->now >> wheel_shift(l);
		unsigned idx = (unsigned)(nl & (WHEEL_SLOTS - 1));

		/* Level l nodes lie in the slots after the current one, same rotation. */
		bits = idx == WHEEL_SLOTS - 1 ? 0 : w->occupied[l] >> (idx + 1);
		if (bits)
			return (int64_t)((nl + 1 + (uint64_t)__builtin_ctzll(bits)) << wheel_shift(l));
	}
	return INT64_MAX;	/* unreachable while count > 0 */
}

void wheel_for_each(struct wheel *w, void (*fn)(void *arg, struct wheel_node *n), void *arg)
{
	for (unsigned l = 0; l < WHEEL_LEVELS; l++)
		for (unsigned s = 0; s < WHEEL_SLOTS; s++)
			for (struct wheel_node *n = w->slot[l][s]; n; n = n->next)
				fn(arg, n);
}
