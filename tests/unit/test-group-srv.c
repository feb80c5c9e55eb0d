/*
 * test-group-srv.c -- consumer groups in a real timerd (server/group-srv.c):
 * a Subscribe refused (no such group) takes none of the connection's 64
 * subscriptions; a stop while the group thread is busy with ack timeouts
 * (under TSan/ASan: the group thread must be gone before the journal is
 * freed, it reads s->journal at every tick); a delivery refused by a full
 * loop fire queue goes out again at once, not after its ack timeout.
 */
#include "config.h"

#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/test-server-util.h"

#define MS 1000000LL

/* Creates group name on topic with ack timeout ack_ns (0: the default) and max_attempts attempts. */
static void mkgroup(struct timerd *t, const char *name, const char *topic, int64_t ack_ns, uint32_t attempts)
{
	const char *topics[1] = { topic };
	struct timerd_group g = { .name = name, .topics = topics, .n_topics = 1, .ack_timeout_ns = ack_ns,
				  .max_attempts = attempts, .backoff_min_ns = ack_ns ? ack_ns : 0,
				  .backoff_max_ns = ack_ns ? ack_ns : 0 };

	ck_assert_int_eq(timerd_group_create(t, &g, false, NULL), TIMERD_OK);
}

START_TEST(test_subscribe_missing_takes_no_slot)
{
	struct tsd d;
	struct timerd *t;
	char name[32];

	tsd_start(&d, NULL);
	ck_assert_int_eq(timerd_connect(d.sock, NULL, &t, NULL), TIMERD_OK);
	mkgroup(t, "real", "jobs", 0, 0);
	for (int i = 0; i < 70; i++) {
		snprintf(name, sizeof(name), "missing-%d", i);
		ck_assert_int_eq(timerd_subscribe(t, name, 1), TIMERD_ENOTFOUND);
	}
	/* 70 refused Subscribes later the connection still has its 64 subscriptions */
	ck_assert_msg(timerd_subscribe(t, "real", 1) == TIMERD_OK,
		      "Subscribe to an existing group after 70 refused ones: %s", timerd_errmsg(t));
	ck_assert_int_eq(timerd_subscribe(t, "real", 1), TIMERD_EINVAL);	/* twice: refused, still */
	timerd_close(t);
	ck_assert_int_eq(tsd_stop(&d), 0);
}
END_TEST

/* The group's timeouts so far (-1 if unreadable). */
static int64_t timeouts(struct timerd *t, const char *name)
{
	struct timerd_groups *g;
	int64_t v = -1;

	if (timerd_group_list(t, name, &g) == TIMERD_OK) {
		if (g->n == 1)
			v = (int64_t)g->v[0].timeouts;
		timerd_groups_free(g);
	}
	return v;
}

/* What wait_until polls: enough timeouts seen. */
struct tmo_wait {
	struct timerd *t;
	int64_t seen;
};

/* True once the group timed out deliveries many times. */
static bool enough_timeouts(void *arg)
{
	struct tmo_wait *w = arg;

	w->seen = timeouts(w->t, "busy");
	return w->seen >= 50;
}

START_TEST(test_stop_while_timing_out)
{
	struct tsd d;
	struct timerd *t, *cons;
	struct timerd_arm a = { .when = TIMERD_AFTER, .time_ns = 1 * MS, .period_ns = 1 * MS, .key = "tick",
				.topic = "busy" };
	struct timerd_arm_result r;
	struct tmo_wait w;

	tsd_start(&d, (const char *[]){ "--fsync", "always", NULL });
	ck_assert_int_eq(timerd_connect(d.sock, NULL, &t, NULL), TIMERD_OK);
	ck_assert_int_eq(timerd_connect(d.sock, NULL, &cons, NULL), TIMERD_OK);
	mkgroup(t, "busy", "busy", 1 * MS, 1000);
	/* a consumer that never acks: every delivery times out after 1 ms, over and over */
	ck_assert_int_eq(timerd_subscribe(cons, "busy", 100), TIMERD_OK);
	ck_assert_int_eq(timerd_arm(t, &a, &r), TIMERD_OK);
	w.t = t;
	w.seen = 0;
	ck_assert_msg(wait_until(enough_timeouts, &w, 20000, "50 ack timeouts"), "only %" PRId64 " ack timeouts in 20 s",
		      w.seen);
	timerd_close(t);
	/* the consumer stays connected: the group thread keeps timing out while timerd stops */
	ck_assert_int_eq(tsd_stop(&d), 0);
	timerd_close(cons);
}
END_TEST

/*
 * A delivery whose frame the loop's fire queue refuses (full: here
 * --max-fire-queue 1 and eight deliveries handed out at once) stays first
 * in line and goes out again at the group thread's next tick: it must not
 * wait in flight, holding credit and an attempt, for its ack timeout (an
 * hour here).
 */
START_TEST(test_queue_full_not_in_flight)
{
	enum { N = 8 };
	struct tsd d;
	struct timerd *t, *cons;
	struct timerd_arm_result r;
	struct timerd_event *ev;
	bool seen[N + 1] = { false };
	int got = 0, redelivered = 0;
	int64_t until, now_unix;
	struct timespec ts;
	char key[16];

	tsd_start(&d, (const char *[]){ "--max-fire-queue", "1", NULL });
	ck_assert_int_eq(timerd_connect(d.sock, NULL, &t, NULL), TIMERD_OK);
	ck_assert_int_eq(timerd_connect(d.sock, NULL, &cons, NULL), TIMERD_OK);
	mkgroup(t, "burst", "burst", 3600LL * 1000 * MS, 0);
	ck_assert_int_eq(timerd_subscribe(cons, "burst", 100), TIMERD_OK);
	clock_gettime(CLOCK_REALTIME, &ts);
	now_unix = ts.tv_sec * 1000000000LL + ts.tv_nsec;
	for (int i = 1; i <= N; i++) {	/* all due at the same instant: one fire batch, one hand-out */
		struct timerd_arm a = { .when = TIMERD_AT_UNIX, .time_ns = now_unix + 500 * MS, .key = key,
					.topic = "burst" };

		snprintf(key, sizeof(key), "k%d", i);
		ck_assert_int_eq(timerd_arm(t, &a, &r), TIMERD_OK);
	}
	until = tsd_now() + 20000 * MS;
	while (got < N && tsd_now() < until) {
		int rc = timerd_next_event(cons, 500, &ev);

		if (rc == TIMERD_ETIMEDOUT)
			continue;
		ck_assert_int_eq(rc, TIMERD_OK);
		if (ev->kind == TIMERD_EVENT_FIRE && ev->delivery.delivery_id) {
			int k = atoi(ev->fire.key + 1);

			ck_assert(k >= 1 && k <= N);
			redelivered += ev->delivery.attempt > 1;
			if (!seen[k]) {
				seen[k] = true;
				got++;
			}
			ck_assert_int_eq(timerd_ack(cons, ev->delivery.delivery_id), TIMERD_OK);
		}
		timerd_event_free(ev);
	}
	ck_assert_msg(got == N, "%d of %d deliveries reached the consumer in 20 s (the others wait in flight for "
		      "their ack timeout?)", got, N);
	ck_assert_int_eq(redelivered, 0);
	timerd_close(cons);
	timerd_close(t);
	ck_assert_int_eq(tsd_stop(&d), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("group-srv");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_subscribe_missing_takes_no_slot);
	tcase_add_test(tc, test_stop_while_timing_out);
	tcase_add_test(tc, test_queue_full_not_in_flight);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
