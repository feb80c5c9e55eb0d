/*
 * test-review-edges.c -- edge cases of the wheel and the engine's revive
 * path, written deterministically:
 *  - the wheel driven the way the dispatcher drives it (advance to exactly
 *    wheel_next(), again and again) from just before a rotation boundary
 *    of every level, with deadlines on, beside and across that boundary and
 *    up to INT64_MAX: every node comes out exactly at its deadline (never
 *    early, never late), in order, and the empty wake-ups (cascades) stay
 *    within one per level per node;
 *  - an arm that reaches a one-shot timer while the pass that fires it is
 *    running (on_fire re-arms a timer due later in the same pass): the
 *    dispatcher's kill sees the newer generation and keeps the record; the
 *    re-arm's deadline then fires exactly once, on time, and the timer is
 *    gone afterwards.
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "wheel.h"

#define MS ENGINE_NS_PER_MS
#define NNODES 24

struct enode {
	struct wheel_node wn;	/* first */
	int64_t expires;
	bool fired;
};

static struct enode en[NNODES];

/* Start of the level-l slot width in ns (2^(10 + 6l)). */
static int64_t width(unsigned l)
{
	return INT64_C(1) << (WHEEL_GRAN_BITS + WHEEL_LEVEL_BITS * l);
}

/* Deadline candidates around boundary b for a wheel starting at now. */
static int pick(int64_t now, int64_t b, unsigned l, int64_t *out)
{
	int64_t c[] = {
		now - 5, now, now + 1, b - 1, b, b + 1, b + 1023, b + 1024, b + 1025,
		b + width(l) - 1, b + width(l), b + width(l) + 1, b - width(l),
		b + width(l < 8 ? l + 1 : l), INT64_MAX - 1, INT64_MAX,
		(INT64_C(1) << 62), (INT64_C(1) << 62) + 1, b + 7 * width(l) + 3,
		now + 1024, now + 1025, b - 1024, b + 2 * width(l) - 1, b + 12345,
	};
	int n = 0;

	for (unsigned i = 0; i < sizeof(c) / sizeof(c[0]) && n < NNODES; i++)
		out[n++] = c[i] < 0 ? 0 : c[i];
	return n;
}

/* Drives one wheel from now; checks exactness, order and the wake-up bound. */
static void drive(int64_t now, int64_t b, unsigned l)
{
	struct wheel w;
	int64_t d[NNODES], prev_t = now;
	int n = pick(now, b, l, d), left = n, empty = 0;

	wheel_init(&w, now);
	for (int i = 0; i < n; i++) {
		en[i].expires = d[i];
		en[i].fired = false;
		wheel_set_expires(&en[i].wn, d[i]);
		wheel_add(&w, &en[i].wn);
	}
	/* What is already due comes out at the first advance, at now. */
	for (struct wheel_node *x = wheel_advance(&w, now); x; x = x->next) {
		struct enode *e = (struct enode *)x;

		ck_assert_msg(e->expires <= now, "early at start: %lld > %lld",
			      (long long)e->expires, (long long)now);
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
				ck_assert_msg(en[i].fired || en[i].expires == INT64_MAX,
					      "wheel_next lost the node due %lld",
					      (long long)en[i].expires);
		}
		due = wheel_advance(&w, t);
		for (struct wheel_node *x = due; x; x = x->next) {
			struct enode *e = (struct enode *)x;

			ck_assert_msg(!e->fired, "node returned twice");
			ck_assert_msg(e->expires == t,
				      "node due %lld came out at %lld (level %u, boundary %lld, start %lld)",
				      (long long)e->expires, (long long)t, l, (long long)b,
				      (long long)now);
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
		ck_assert(en[i].fired);
	ck_assert_int_eq(wheel_next(&w), INT64_MAX);
	ck_assert_uint_eq(w.count, 0);
}

START_TEST(test_wheel_rotation_boundaries)
{
	for (unsigned l = 0; l < WHEEL_LEVELS; l++) {
		/* A rotation boundary of level l (a slot boundary of level l + 1). */
		int64_t span = l + 1 < WHEEL_LEVELS ? width(l + 1) : (INT64_C(1) << 62);
		int64_t b = span * 3 > 0 && span <= (INT64_C(1) << 60) ? span * 3 : span;
		int64_t starts[] = { b - 1, b - 2, b - 1024, b - 1025, b - width(l), b - width(l) - 1,
				     b, b + 1 };

		for (unsigned s = 0; s < sizeof(starts) / sizeof(starts[0]); s++)
			drive(starts[s] < 0 ? 0 : starts[s], b, l);
	}
}
END_TEST

/* Engine part: a manual engine on an injected clock. */
static int64_t clk;

static int64_t fake_mono(void *arg)
{
	(void)arg;
	return clk;
}

static int64_t fake_real(void *arg)
{
	(void)arg;
	return clk + INT64_C(1700000000) * ENGINE_NS_PER_S;
}

static const struct engine_clock fake_clock = { fake_mono, fake_real, NULL };
static struct engine *E;
static int64_t b_fired[8];
static int nb, rearm_rc = 99;

static void rearm_b(int64_t at)
{
	struct engine_arm a = { .key = "b", .keylen = 1, .when = ENGINE_AT_MONO, .time = at };
	struct engine_arm_result r;

	rearm_rc = engine_arm(E, &a, &r);
	ck_assert(!r.created);
}

/* A's fire re-arms B (due later in the same pass) to clk + 50 ms. */
static void on_fire(void *arg, const struct engine_fire *f)
{
	(void)arg;
	ck_assert_int_ge(f->fired_at, f->deadline);
	if (f->keylen == 1 && f->key[0] == 'a')
		rearm_b(clk + 50 * MS);
	else if (f->keylen == 1 && f->key[0] == 'b' && nb < 8)
		b_fired[nb++] = f->deadline;
}

START_TEST(test_rearm_while_its_pass_fires_it)
{
	struct engine_config cfg = { .clock = &fake_clock, .manual = true, .on_fire = on_fire };
	struct engine_arm a = { .key = "a", .keylen = 1, .when = ENGINE_AFTER, .time = 10 * MS };
	struct engine_arm_result r;
	struct engine_timer *t;
	struct engine_stats st;
	int64_t t0, rearmed;

	clk = 1000 * MS;
	t0 = clk;
	nb = 0;
	ck_assert_int_eq(engine_create(&cfg, &E), 0);
	ck_assert_int_eq(engine_arm(E, &a, &r), 0);
	a.key = "b";
	a.time = 20 * MS;
	ck_assert_int_eq(engine_arm(E, &a, &r), 0);
	engine_dispatch(E);
	clk += 30 * MS;			/* both due in this pass: A first */
	engine_dispatch(E);
	ck_assert_int_eq(rearm_rc, 0);
	rearmed = clk + 50 * MS;
	/* The old deadline fired at most once; the re-arm is what exists now. */
	ck_assert_int_le(nb, 1);
	if (nb == 1)
		ck_assert_int_eq(b_fired[0], t0 + 20 * MS);
	engine_dispatch(E);		/* applies the re-arm kept by the kill */
	ck_assert_int_eq(engine_get(E, 0, "b", 1, &t), 0);
	ck_assert_int_eq(t->deadline, rearmed);
	engine_timer_free(t);
	clk = rearmed - 1;
	engine_dispatch(E);
	ck_assert_int_le(nb, 1);
	clk = rearmed;
	engine_dispatch(E);
	ck_assert_int_ge(nb, 1);
	ck_assert_int_eq(b_fired[nb - 1], rearmed);
	clk += 1000 * MS;
	engine_dispatch(E);
	engine_dispatch(E);
	ck_assert_int_eq(b_fired[nb - 1], rearmed);
	ck_assert_int_le(nb, 2);
	ck_assert_int_eq(engine_get(E, 0, "b", 1, &t), TD_ENOENT);
	engine_stats(E, &st);
	ck_assert_uint_eq(st.pending, 0);
	engine_destroy(E);
}
END_TEST

static Suite *edges_suite(void)
{
	Suite *s = suite_create("review-edges");
	TCase *tc = tcase_create("edges");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_wheel_rotation_boundaries);
	tcase_add_test(tc, test_rearm_while_its_pass_fires_it);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(edges_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
