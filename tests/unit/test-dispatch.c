/*
 * test-dispatch.c -- the real dispatcher thread on the real clock:
 * timers never fire early, fire in deadline order, a cancel before the
 * deadline prevents the fire, a re-arm moves it, periodic timers keep
 * their phase; in default mode, precision mode and with two delivery
 * threads. Each case runs well under a second.
 */
#include "config.h"

#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "tests/wait.h"

#define MS ENGINE_NS_PER_MS
#define MAXF 1024

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
	uint64_t id;
	int64_t deadline, seen, fired_at;
	uint64_t missed, seq;
} F[MAXF];
static int nf;

static int64_t mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * ENGINE_NS_PER_S + ts.tv_nsec;
}

/* Records a fire with the time the callback saw. */
static void on_fire(void *arg, const struct engine_fire *f)
{
	int64_t seen = mono_now();

	(void)arg;
	pthread_mutex_lock(&mu);
	if (nf < MAXF)
		F[nf++] = (typeof(F[0])){ f->id, f->deadline, seen, f->fired_at, f->missed, f->seq };
	pthread_mutex_unlock(&mu);
}

static int fires(void)
{
	int n;

	pthread_mutex_lock(&mu);
	n = nf;
	pthread_mutex_unlock(&mu);
	return n;
}

/* True once at least *(int *)arg fires were seen. */
static bool fired_at_least(void *arg)
{
	return fires() >= *(int *)arg;
}

/* True once more than *(int *)arg fires were seen. */
static bool fired_more_than(void *arg)
{
	return fires() > *(int *)arg;
}

/* Waits until n fires were seen; fails with the count seen after timeout ms. */
static void wait_fires(int n, int timeout_ms)
{
	ck_assert_msg(wait_until(fired_at_least, &n, timeout_ms, "fires"),
		      "saw %d fires within %d ms, want %d", fires(), timeout_ms, n);
}

static struct engine *start(unsigned workers, int64_t precision)
{
	struct engine_config cfg = { .on_fire = on_fire, .workers = workers,
				     .precision_ns = precision };
	struct engine *e;

	nf = 0;
	ck_assert_int_eq(engine_create(&cfg, &e), 0);
	ck_assert_int_eq(engine_start(e), 0);
	return e;
}

static uint64_t arm(struct engine *e, uint64_t id, int64_t at, int64_t period)
{
	struct engine_arm a = { .id = id, .when = ENGINE_AT_MONO, .time = at, .period = period };
	struct engine_arm_result r;

	ck_assert_int_eq(engine_arm(e, &a, &r), 0);
	return r.id;
}

/*
 * Arms 300 timers over 100 ms; checks never early and order; cancels and
 * moves some. The first deadline is 200 ms out: every cancel and move must
 * return before it (else the timer fired and they get TD_ENOENT), which a
 * preempted test thread on a loaded machine did not manage within 20 ms.
 */
static void run_basic(unsigned workers, int64_t precision)
{
	struct engine *e = start(workers, precision);
	int64_t t0 = mono_now() + 200 * MS;
	uint64_t ids[300];
	unsigned long long s = 88172645463325252ULL;
	int expect = 0;

	for (int i = 0; i < 300; i++) {
		s ^= s << 13; s ^= s >> 7; s ^= s << 17;
		ids[i] = arm(e, 0, t0 + (int64_t)(s % (100 * MS)), 0);
	}
	for (int i = 0; i < 300; i += 10)
		ck_assert_int_eq(engine_cancel(e, ids[i], NULL, 0), 0);
	for (int i = 5; i < 300; i += 10)
		arm(e, ids[i], t0 + 110 * MS, 0);	/* moved later */
	expect = 300 - 30;
	wait_fires(expect, 5000);
	ck_assert_msg(wait_never(fired_more_than, &expect, 20, "a fire beyond the expected"),
		      "saw %d fires, want %d (a cancelled or moved timer fired)", fires(), expect);
	for (int i = 0; i < nf; i++) {
		ck_assert_msg(F[i].fired_at >= F[i].deadline, "fired early by %lld ns",
			      (long long)(F[i].deadline - F[i].fired_at));
		ck_assert_msg(F[i].seen >= F[i].deadline, "callback before the deadline");
		for (int j = 0; j < 300; j += 10)
			ck_assert_uint_ne(F[i].id, ids[j]);	/* cancelled */
		if (workers <= 1 && i)
			ck_assert_int_le(F[i - 1].deadline, F[i].deadline);
	}
	for (int i = 5; i < 300; i += 10)
		for (int j = 0; j < nf; j++)
			if (F[j].id == ids[i])
				ck_assert_int_eq(F[j].deadline, t0 + 110 * MS);
	engine_destroy(e);
}

START_TEST(test_inline_delivery)
{
	run_basic(0, 0);
}
END_TEST

START_TEST(test_one_worker)
{
	run_basic(1, 0);
}
END_TEST

START_TEST(test_two_workers)
{
	run_basic(2, 0);
}
END_TEST

START_TEST(test_precision_mode)
{
	run_basic(1, 200 * ENGINE_NS_PER_US);
}
END_TEST

/*
 * A fire late by k >= 1 periods carries missed = k: those k periods after
 * its deadline are skipped, so the next fire is due (missed + 1) periods
 * after it (test-engine pins this on the manual clock). The gap before a
 * fire therefore comes from the previous fire's missed, not its own.
 */
START_TEST(test_periodic_phase)
{
	static typeof(F[0]) G[MAXF];
	struct engine *e = start(1, 0);
	int64_t t0 = mono_now() + 10 * MS, p = 7 * MS;
	uint64_t id = arm(e, 0, t0, p);
	int n;

	wait_fires(20, 5000);
	ck_assert_int_eq(engine_cancel(e, id, NULL, 0), 0);
	engine_drain(e);	/* the fires decided before the cancel have run */
	pthread_mutex_lock(&mu);
	n = nf;
	memcpy(G, F, (size_t)n * sizeof(G[0]));
	pthread_mutex_unlock(&mu);
	ck_assert_int_ge(n, 20);
	ck_assert_msg(wait_never(fired_more_than, &n, 20, "a fire after the cancel"),
		      "saw %d fires after the cancel and drain, want %d", fires(), n);
	for (int i = 0; i < n; i++) {
		ck_assert_int_eq((G[i].deadline - t0) % p, 0);	/* phase kept */
		ck_assert_int_ge(G[i].fired_at, G[i].deadline);
		ck_assert_uint_eq(G[i].missed, (uint64_t)((G[i].fired_at - G[i].deadline) / p));
		ck_assert_uint_eq(G[i].seq, (uint64_t)i + 1);
		if (i)
			ck_assert_msg(G[i].deadline == G[i - 1].deadline + (int64_t)(G[i - 1].missed + 1) * p,
				      "fire %d due %lld ns after fire %d, which missed %llu periods",
				      i, (long long)(G[i].deadline - G[i - 1].deadline), i - 1,
				      (unsigned long long)G[i - 1].missed);
	}
	engine_destroy(e);
}
END_TEST

START_TEST(test_sync_and_destroy_with_pending)
{
	struct engine *e = start(1, 0);
	struct engine_stats st;

	for (int i = 0; i < 1000; i++)
		arm(e, 0, mono_now() + 3600 * ENGINE_NS_PER_S, 0);
	engine_sync(e);
	engine_stats(e, &st);
	ck_assert_uint_eq(st.pending, 1000);
	ck_assert_uint_ge(st.passes, 1);
	engine_destroy(e);	/* pending timers are dropped, nothing leaks (ASan) */
}
END_TEST

static atomic_bool hold_entered, hold_released, wait_done;

/* on_fire that blocks until hold_released: a delivery thread stuck before it journals anything. */
static void on_fire_hold(void *arg, const struct engine_fire *f)
{
	(void)arg;
	(void)f;
	atomic_store(&hold_entered, true);
	while (!atomic_load(&hold_released))
		wait_sleep_ms(1);
}

/* True once *(atomic_bool *)arg is set. */
static bool flag_set(void *arg)
{
	return atomic_load((atomic_bool *)arg);
}

/* The journal thread's side of the ordering rule: engine_fires_wait, then a flag. */
static void *fires_waiter(void *arg)
{
	engine_fires_wait(arg);
	atomic_store(&wait_done, true);
	return NULL;
}

/*
 * The ordering rule (doc/architecture.md, "Durability"): once a fired
 * one-shot's key can be armed again (a new timer), engine_fires_wait does
 * not return until that fire's on_fire returned (where the daemon journals
 * its rows); with a delivery thread and with delivery on the dispatcher.
 */
static void run_fires_wait(unsigned workers)
{
	struct engine_config cfg = { .on_fire = on_fire_hold, .workers = workers };
	struct engine_arm a = { .key = "k", .keylen = 1, .when = ENGINE_AT_MONO };
	struct engine_arm_result r;
	struct engine *e;
	pthread_t t;

	atomic_store(&hold_entered, false);
	atomic_store(&hold_released, false);
	atomic_store(&wait_done, false);
	ck_assert_int_eq(engine_create(&cfg, &e), 0);
	ck_assert_int_eq(engine_start(e), 0);
	engine_fires_wait(e);	/* nothing handed out: returns at once */
	a.time = mono_now() + 5 * MS;
	ck_assert_int_eq(engine_arm(e, &a, &r), 0);
	ck_assert_msg(wait_until(flag_set, &hold_entered, 5000, "the fire's on_fire"), "k did not fire");
	a.time = mono_now() + 3600 * ENGINE_NS_PER_S;
	ck_assert_int_eq(engine_arm(e, &a, &r), 0);
	ck_assert_msg(r.created, "the fired k was still in the key table while its on_fire ran");
	ck_assert_int_eq(pthread_create(&t, NULL, fires_waiter, e), 0);
	ck_assert_msg(wait_never(flag_set, &wait_done, 100, "engine_fires_wait returning"),
		      "engine_fires_wait returned while the fire that freed k was still in on_fire (workers %u)",
		      workers);
	atomic_store(&hold_released, true);
	ck_assert_msg(wait_until(flag_set, &wait_done, 5000, "engine_fires_wait returning"),
		      "engine_fires_wait did not return within 5 s of the fire's on_fire returning");
	pthread_join(t, NULL);
	engine_destroy(e);
}

START_TEST(test_fires_wait_worker)
{
	run_fires_wait(1);
}
END_TEST

START_TEST(test_fires_wait_inline)
{
	run_fires_wait(0);
}
END_TEST

static Suite *dispatch_suite(void)
{
	Suite *s = suite_create("dispatch");
	TCase *tc = tcase_create("realclock");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_inline_delivery);
	tcase_add_test(tc, test_one_worker);
	tcase_add_test(tc, test_two_workers);
	tcase_add_test(tc, test_precision_mode);
	tcase_add_test(tc, test_periodic_phase);
	tcase_add_test(tc, test_sync_and_destroy_with_pending);
	tcase_add_test(tc, test_fires_wait_worker);
	tcase_add_test(tc, test_fires_wait_inline);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(dispatch_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
