/*
 * test-wheel.c -- the timing wheel against a simple reference model.
 *
 * Randomised arm / cancel / move / advance sequences on an injected clock,
 * including far-future deadlines, equal deadlines, already-due deadlines,
 * huge jumps and periodic re-arming; after every step the wheel must agree
 * with the model: advance returns exactly the due nodes, sorted; wheel_next
 * is never later than the earliest deadline and never in the past.
 *
 * Edges, deterministically: the wheel driven the way the dispatcher drives
 * it (advance to exactly wheel_next(), again and again) from just before a
 * rotation boundary of every level, with deadlines on, beside and across
 * that boundary and up to INT64_MAX: every node comes out exactly at its
 * deadline (never early, never late), in order, and the empty wake-ups
 * (cascades) stay within one per level per node.
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "wheel.h"

#define NODES 2000

struct tnode {
	struct wheel_node wn;	/* first */
	bool pending;		/* model: armed */
	int64_t expires;	/* model: deadline */
	int64_t period;		/* 0: one-shot */
};

static struct tnode nodes[NODES];
static struct wheel W;
static int64_t now;
static unsigned long long seed;

static unsigned long long rnd(void)
{
	seed ^= seed >> 12;
	seed ^= seed << 25;
	seed ^= seed >> 27;
	return seed * 2685821657736338717ULL;
}

/* A deadline drawn from a mix of scales around now. */
static int64_t pick_deadline(void)
{
	switch (rnd() % 8) {
	case 0: return now;					/* due now */
	case 1: return now - (int64_t)(rnd() % 1000);		/* already due */
	case 2: return now + (int64_t)(rnd() % 2048);		/* within ~2 ticks */
	case 3: return now + (int64_t)(rnd() % 100000);		/* microseconds */
	case 4: return now + (int64_t)(rnd() % 5000000000LL);	/* seconds */
	case 5: return now + (int64_t)(rnd() % (1LL << 50));	/* weeks */
	case 6: return (INT64_C(1) << 62) - (int64_t)(rnd() % 1000);	/* ~146 years */
	default: return now + 1000000 * (int64_t)(rnd() % 4);	/* equal deadlines */
	}
}

/* Earliest pending deadline in the model. */
static int64_t model_min(void)
{
	int64_t m = INT64_MAX;

	for (int i = 0; i < NODES; i++)
		if (nodes[i].pending && nodes[i].expires < m)
			m = nodes[i].expires;
	return m;
}

/* Number of armed nodes in the model. */
static size_t model_count(void)
{
	size_t c = 0;

	for (int i = 0; i < NODES; i++)
		c += nodes[i].pending;
	return c;
}

/* Arms or moves node i to deadline t. */
static void arm(int i, int64_t t)
{
	if (nodes[i].pending)
		wheel_del(&W, &nodes[i].wn);
	nodes[i].pending = true;
	nodes[i].expires = t < 0 ? 0 : t;
	wheel_set_expires(&nodes[i].wn, nodes[i].expires);
	wheel_add(&W, &nodes[i].wn);
}

/* Advances to t and checks the due set and order against the model. */
static void advance(int64_t t)
{
	struct wheel_node *due = wheel_advance(&W, t), *n;
	int64_t prev = INT64_MIN;
	int got = 0, want = 0;

	now = t > now ? t : now;
	for (int i = 0; i < NODES; i++)
		if (nodes[i].pending && nodes[i].expires <= now)
			want++;
	for (n = due; n; n = n->next) {
		struct tnode *x = (struct tnode *)n;

		ck_assert_msg(x->pending, "wheel returned a node that is not armed");
		ck_assert_msg(x->expires <= now, "fired early: %lld > now %lld",
			      (long long)x->expires, (long long)now);
		ck_assert_msg(x->expires >= prev, "fires out of order");
		ck_assert(!wheel_pending(n));
		prev = x->expires;
		got++;
	}
	ck_assert_int_eq(got, want);
	/* Mark fired; periodic nodes are re-armed by their period. */
	for (n = due; n;) {
		struct tnode *x = (struct tnode *)n;

		n = n->next;
		x->pending = false;
		if (x->period)
			arm((int)(x - nodes), x->expires + x->period);
	}
}

/* Checks wheel_next against the model. */
static void check_next(void)
{
	int64_t next = wheel_next(&W), m = model_min();

	if (m == INT64_MAX) {
		ck_assert_int_eq(next, INT64_MAX);
		return;
	}
	ck_assert_msg(next <= m, "next %lld later than earliest deadline %lld",
		      (long long)next, (long long)m);
	if (m > now)
		ck_assert_msg(next > now, "next %lld not after now %lld", (long long)next,
			      (long long)now);
	ck_assert_uint_eq(W.count, model_count());
}

/* Runs steps random operations from a given seed and start time. */
static void run_model(unsigned long long s, int64_t start, int steps)
{
	seed = s;
	now = start;
	memset(nodes, 0, sizeof(nodes));
	wheel_init(&W, now);
	for (int step = 0; step < steps; step++) {
		int i = (int)(rnd() % NODES);

		switch (rnd() % 10) {
		case 0: case 1: case 2:
			nodes[i].period = rnd() % 5 == 0 ? 1 + (int64_t)(rnd() % 3000000) : 0;
			arm(i, pick_deadline());
			break;
		case 3:
			if (nodes[i].pending) {
				wheel_del(&W, &nodes[i].wn);
				nodes[i].pending = false;
			}
			break;
		case 4:
			advance(now + (int64_t)(rnd() % 3000));
			break;
		case 5:
			advance(now + (int64_t)(rnd() % 2000000));
			break;
		case 6:
			/* Jump straight to the next event: exactly what the dispatcher does. */
			if (wheel_next(&W) != INT64_MAX)
				advance(wheel_next(&W));
			break;
		case 7:
			if (rnd() % 50 == 0)
				advance(now + (int64_t)(rnd() % (1LL << 45)));
			break;
		default:
			advance(now);
			break;
		}
		check_next();
	}
}

START_TEST(test_model_small_times)
{
	run_model(0x1234567ULL + (unsigned long long)_i, 0, 20000);
}
END_TEST

START_TEST(test_model_large_times)
{
	/* Start near a high-level rotation boundary to exercise cascades. */
	run_model(0xfeedULL + (unsigned long long)_i, (INT64_C(1) << 40) - 5000, 20000);
}
END_TEST

START_TEST(test_exact_nanosecond_and_order)
{
	struct tnode *a = &nodes[0], *b = &nodes[1], *c = &nodes[2];
	struct wheel_node *due;

	memset(nodes, 0, sizeof(nodes));
	wheel_init(&W, 1000);
	wheel_set_expires(&a->wn, 5000001);
	wheel_set_expires(&b->wn, 5000000);
	wheel_set_expires(&c->wn, 5000000);
	wheel_add(&W, &a->wn);
	wheel_add(&W, &b->wn);
	wheel_add(&W, &c->wn);
	/* Walk the dispatcher loop: only cascade points until the exact deadline. */
	while (wheel_next(&W) < 5000000) {
		ck_assert_ptr_null(wheel_advance(&W, wheel_next(&W)));
	}
	ck_assert_int_eq(wheel_next(&W), 5000000);
	ck_assert_ptr_null(wheel_advance(&W, 4999999));
	due = wheel_advance(&W, 5000000);
	ck_assert_ptr_nonnull(due);
	ck_assert_ptr_nonnull(due->next);
	ck_assert_ptr_null(due->next->next);
	ck_assert_int_eq(wheel_expires(due), 5000000);
	ck_assert_int_eq(wheel_expires(due->next), 5000000);
	ck_assert_int_eq(wheel_next(&W), 5000001);
	due = wheel_advance(&W, 5000001);
	ck_assert_ptr_eq(due, &a->wn);
	ck_assert_int_eq(wheel_next(&W), INT64_MAX);
	ck_assert_uint_eq(W.count, 0);
}
END_TEST

START_TEST(test_del_clears_occupancy)
{
	memset(nodes, 0, sizeof(nodes));
	wheel_init(&W, 0);
	wheel_set_expires(&nodes[0].wn, 123456789);
	wheel_add(&W, &nodes[0].wn);
	ck_assert_int_ne(wheel_next(&W), INT64_MAX);
	wheel_del(&W, &nodes[0].wn);
	for (unsigned l = 0; l < WHEEL_LEVELS; l++)
		ck_assert_uint_eq(W.occupied[l], 0);
	ck_assert_int_eq(wheel_next(&W), INT64_MAX);
}
END_TEST

#define EDGE_NODES 24

struct edge_node {
	struct wheel_node wn;	/* first */
	int64_t expires;
	bool fired;
};

static struct edge_node edge_nodes[EDGE_NODES];

/* The level-l slot width in ns (2^(10 + 6l)). */
static int64_t slot_width(unsigned l)
{
	return INT64_C(1) << (WHEEL_GRAN_BITS + WHEEL_LEVEL_BITS * l);
}

/* Deadline candidates around boundary b for a wheel starting at start; their count. */
static int boundary_deadlines(int64_t start, int64_t b, unsigned l, int64_t *out)
{
	int64_t c[] = {
		start - 5, start, start + 1, b - 1, b, b + 1, b + 1023, b + 1024, b + 1025,
		b + slot_width(l) - 1, b + slot_width(l), b + slot_width(l) + 1, b - slot_width(l),
		b + slot_width(l < 8 ? l + 1 : l), INT64_MAX - 1, INT64_MAX,
		(INT64_C(1) << 62), (INT64_C(1) << 62) + 1, b + 7 * slot_width(l) + 3,
		start + 1024, start + 1025, b - 1024, b + 2 * slot_width(l) - 1, b + 12345,
	};
	int n = 0;

	for (unsigned i = 0; i < sizeof(c) / sizeof(c[0]) && n < EDGE_NODES; i++)
		out[n++] = c[i] < 0 ? 0 : c[i];
	return n;
}

/* Drives one wheel from start as the dispatcher does (advance to wheel_next, again and again); checks exactness, order and the wake-up bound. */
static void drive_like_dispatcher(int64_t start, int64_t b, unsigned l)
{
	struct wheel w;
	int64_t d[EDGE_NODES], prev_t = start;
	int n = boundary_deadlines(start, b, l, d), left = n, empty = 0;

	wheel_init(&w, start);
	for (int i = 0; i < n; i++) {
		edge_nodes[i].expires = d[i];
		edge_nodes[i].fired = false;
		wheel_set_expires(&edge_nodes[i].wn, d[i]);
		wheel_add(&w, &edge_nodes[i].wn);
	}
	/* What is already due comes out at the first advance, at start. */
	for (struct wheel_node *x = wheel_advance(&w, start); x; x = x->next) {
		struct edge_node *e = (struct edge_node *)x;

		ck_assert_msg(e->expires <= start, "early at start: %lld > %lld",
			      (long long)e->expires, (long long)start);
		e->fired = true;
		left--;
	}
	while (left > 0) {
		int64_t t = wheel_next(&w), last = INT64_MIN;
		struct wheel_node *due;
		int got = 0;

		ck_assert_msg(t > prev_t, "wheel_next %lld not after %lld (level %u, boundary %lld)",
			      (long long)t, (long long)prev_t, l, (long long)b);
		if (t == INT64_MAX) {	/* only a node due at INT64_MAX may be left */
			for (int i = 0; i < n; i++)
				ck_assert_msg(edge_nodes[i].fired || edge_nodes[i].expires == INT64_MAX,
					      "wheel_next lost the node due %lld",
					      (long long)edge_nodes[i].expires);
		}
		due = wheel_advance(&w, t);
		for (struct wheel_node *x = due; x; x = x->next) {
			struct edge_node *e = (struct edge_node *)x;

			ck_assert_msg(!e->fired, "node returned twice");
			ck_assert_msg(e->expires == t,
				      "node due %lld came out at %lld (level %u, boundary %lld, start %lld)",
				      (long long)e->expires, (long long)t, l, (long long)b,
				      (long long)start);
			ck_assert(e->expires >= last);
			last = e->expires;
			e->fired = true;
			got++;
		}
		left -= got;
		empty += got == 0;
		ck_assert_msg(empty <= n * WHEEL_LEVELS, "too many empty wake-ups: %d", empty);
		prev_t = t;
	}
	for (int i = 0; i < n; i++)
		ck_assert(edge_nodes[i].fired);
	ck_assert_int_eq(wheel_next(&w), INT64_MAX);
	ck_assert_uint_eq(w.count, 0);
}

/* From just before a rotation boundary of every level: each node comes out exactly at its deadline. */
START_TEST(test_rotation_boundaries_driven_like_dispatcher)
{
	for (unsigned l = 0; l < WHEEL_LEVELS; l++) {
		/* A rotation boundary of level l (a slot boundary of level l + 1). */
		int64_t span = l + 1 < WHEEL_LEVELS ? slot_width(l + 1) : (INT64_C(1) << 62);
		int64_t b = span * 3 > 0 && span <= (INT64_C(1) << 60) ? span * 3 : span;
		int64_t starts[] = { b - 1, b - 2, b - 1024, b - 1025, b - slot_width(l), b - slot_width(l) - 1,
				     b, b + 1 };

		for (unsigned s = 0; s < sizeof(starts) / sizeof(starts[0]); s++)
			drive_like_dispatcher(starts[s] < 0 ? 0 : starts[s], b, l);
	}
}
END_TEST

static Suite *wheel_suite(void)
{
	Suite *s = suite_create("wheel");
	TCase *tc = tcase_create("model");

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_model_small_times, 0, 4);
	tcase_add_loop_test(tc, test_model_large_times, 0, 4);
	tcase_add_test(tc, test_exact_nanosecond_and_order);
	tcase_add_test(tc, test_del_clears_occupancy);
	suite_add_tcase(s, tc);
	tc = tcase_create("edges");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_rotation_boundaries_driven_like_dispatcher);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(wheel_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
