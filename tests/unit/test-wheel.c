/*
 * test-wheel.c -- the timing wheel against a simple reference model.
 *
 * Randomised arm / cancel / move / advance sequences on an injected clock,
 * including far-future deadlines, equal deadlines, already-due deadlines,
 * huge jumps and periodic re-arming; after every step the wheel must agree
 * with the model: advance returns exactly the due nodes, sorted; wheel_next
 * is never later than the earliest deadline and never in the past.
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
