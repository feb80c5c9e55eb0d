/*
 * test-client-async.c -- libtimerd's libevent API against a real timerd:
 * many pipelined requests on several connections at once, replies in
 * order, fires to a watcher, every pending callback run when a connection
 * goes away, freeing a connection from inside its own callback.
 */
#include "config.h"

#include <check.h>
#include <event2/event.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/timerd.h"
#include "test-server-util.h"

#define CONNS 4
#define ARMS_PER_CONN 20000

static struct tsd daemon_;

struct pipe_conn {
	struct timerd_async *c;
	struct event_base *base;
	uint64_t issued, answered, created, out_of_order;
	uint64_t last_timer_id;
	int *done;
};

static void pipe_issue(struct pipe_conn *p);

/* Reply to one pipelined arm: checks order, issues the next. */
static void pipe_on_arm(struct timerd_async *c, const struct timerd_reply *r, void *arg)
{
	struct pipe_conn *p = arg;

	(void)c;
	ck_assert_msg(r->code == TIMERD_OK, "arm failed: %s", r->message);
	p->out_of_order += r->arm.timer_id <= p->last_timer_id;	/* ids grow in issue order on one connection */
	p->last_timer_id = r->arm.timer_id;
	p->created += r->arm.created;
	if (++p->answered == ARMS_PER_CONN) {
		if (++*p->done == CONNS)
			event_base_loopbreak(p->base);
		return;
	}
	pipe_issue(p);
}

/* Issues arms until the window is full or all were issued. */
static void pipe_issue(struct pipe_conn *p)
{
	struct timerd_arm a = { .when = TIMERD_AFTER, .time_ns = 3600 * TIMERD_S, .topic = "pipelined" };
	int rc;

	while (p->issued < ARMS_PER_CONN && timerd_async_pending(p->c) < timerd_async_window(p->c)) {
		rc = timerd_async_arm(p->c, &a, pipe_on_arm, p);
		ck_assert_int_eq(rc, TIMERD_OK);
		p->issued++;
	}
}

/* Connects an async client to the test daemon. */
static struct timerd_async *aconnect(struct event_base *base)
{
	struct timerd_async *c;
	struct timerd_error e;

	ck_assert_msg(timerd_async_connect(base, daemon_.sock, NULL, &c, &e) == TIMERD_OK, "%s", e.message);
	return c;
}

/* Counts the timers of a topic with the blocking API. */
static uint64_t count_topic(const char *topic)
{
	struct timerd_list *l;
	struct timerd *t;
	uint64_t cursor = 0, n = 0;

	ck_assert_int_eq(timerd_connect(daemon_.sock, NULL, &t, NULL), TIMERD_OK);
	do {
		ck_assert_int_eq(timerd_list(t, topic, cursor, 1000, false, &l), TIMERD_OK);
		n += l->n;
		cursor = l->next_cursor;
		timerd_list_free(l);
	} while (cursor);
	timerd_close(t);
	return n;
}

START_TEST(test_pipelined_arms)
{
	struct event_base *base = event_base_new();
	struct pipe_conn p[CONNS];
	int done = 0;

	for (int i = 0; i < CONNS; i++) {
		p[i] = (struct pipe_conn){ .c = aconnect(base), .base = base, .done = &done };
		pipe_issue(&p[i]);
	}
	ck_assert_int_gt(timerd_async_window(p[0].c), 1);
	event_base_dispatch(base);
	ck_assert_int_eq(done, CONNS);
	for (int i = 0; i < CONNS; i++) {
		ck_assert_uint_eq(p[i].answered, ARMS_PER_CONN);
		ck_assert_uint_eq(p[i].created, ARMS_PER_CONN);
		ck_assert_uint_eq(p[i].out_of_order, 0);
		ck_assert_uint_eq(timerd_async_pending(p[i].c), 0);
		timerd_async_free(p[i].c);
	}
	ck_assert_uint_eq(count_topic("pipelined"), (uint64_t)CONNS * ARMS_PER_CONN);
	event_base_free(base);
}
END_TEST

struct fire_watch {
	struct event_base *base;
	int64_t fires, early, expected, notices;
	int64_t max_late;
};

/* Event callback: counts fires, checks none came early. */
static void watch_on_event(struct timerd_async *c, const struct timerd_event *ev, void *arg)
{
	struct fire_watch *w = arg;
	int64_t now = tsd_now();

	(void)c;
	if (ev->kind != TIMERD_EVENT_FIRE) {
		w->notices++;
		return;
	}
	w->early += now < ev->fire.deadline_mono_ns || ev->fire.fired_mono_ns < ev->fire.deadline_mono_ns;
	if (now - ev->fire.deadline_mono_ns > w->max_late)
		w->max_late = now - ev->fire.deadline_mono_ns;
	if (++w->fires == w->expected)
		event_base_loopbreak(w->base);
}

/* Reply callback that only checks success. */
static void expect_ok(struct timerd_async *c, const struct timerd_reply *r, void *arg)
{
	(void)c;
	(void)arg;
	ck_assert_msg(r->code == TIMERD_OK, "%s", r->message);
}

/* Stops the loop when the safety timeout passes. */
static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

START_TEST(test_fires_to_watcher)
{
	struct event_base *base = event_base_new();
	struct fire_watch w = { .base = base, .expected = 3000 };
	struct timerd_async *watcher = aconnect(base), *armer = aconnect(base);
	struct timeval tv = { 20, 0 };
	struct event *timeout = evtimer_new(base, on_timeout, base);

	timerd_async_set_event_cb(watcher, watch_on_event, &w);
	ck_assert_int_eq(timerd_async_watch(watcher, "to-watcher", expect_ok, NULL), TIMERD_OK);
	ck_assert_int_eq(timerd_async_ping(watcher, expect_ok, NULL), TIMERD_OK);
	evtimer_add(timeout, &tv);
	event_base_loop(base, EVLOOP_ONCE);	/* the watch is in place before the first arm */
	for (int i = 0; i < w.expected; i++) {
		struct timerd_arm a = { .when = TIMERD_AFTER, .time_ns = (50 + i % 100) * TIMERD_MS,
					.topic = "to-watcher" };

		while (timerd_async_pending(armer) >= timerd_async_window(armer))
			event_base_loop(base, EVLOOP_ONCE);
		ck_assert_int_eq(timerd_async_arm(armer, &a, expect_ok, NULL), TIMERD_OK);
	}
	event_base_dispatch(base);
	/* the last fire may come before the last arms' replies: read them, within the safety timeout */
	while (timerd_async_pending(armer) > 0 && evtimer_pending(timeout, NULL))
		event_base_loop(base, EVLOOP_ONCE);
	ck_assert_int_eq(timerd_async_pending(armer), 0);
	ck_assert_int_eq(w.fires, w.expected);
	ck_assert_int_eq(w.early, 0);
	ck_assert_int_eq(w.notices, 0);
	event_free(timeout);
	timerd_async_free(watcher);
	timerd_async_free(armer);
	event_base_free(base);
}
END_TEST

struct closing {
	int replies, closed_codes, close_cb;
};

/* Reply callback: counts replies that came back as connection closed. */
static void count_closed(struct timerd_async *c, const struct timerd_reply *r, void *arg)
{
	struct closing *k = arg;

	(void)c;
	k->replies++;
	k->closed_codes += r->code == TIMERD_ECLOSED;
}

START_TEST(test_free_fails_pending)
{
	struct event_base *base = event_base_new();
	struct timerd_async *c = aconnect(base);
	struct closing k = { 0 };

	for (int i = 0; i < 100; i++)
		ck_assert_int_eq(timerd_async_ping(c, count_closed, &k), TIMERD_OK);
	timerd_async_free(c);	/* before any reply was read */
	ck_assert_int_eq(k.replies, 100);
	ck_assert_int_eq(k.closed_codes, 100);
	event_base_free(base);
}
END_TEST

/* Reply callback that frees its own connection. */
static void free_in_callback(struct timerd_async *c, const struct timerd_reply *r, void *arg)
{
	int *calls = arg;

	(*calls)++;
	if (r->code == TIMERD_OK)
		timerd_async_free(c);
}

START_TEST(test_free_in_callback)
{
	struct event_base *base = event_base_new();
	struct timerd_async *c = aconnect(base);
	int calls = 0;

	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(timerd_async_ping(c, free_in_callback, &calls), TIMERD_OK);
	event_base_dispatch(base);	/* ends once the freed connection's events are gone */
	ck_assert_int_eq(calls, 10);	/* one OK, then nine ECLOSED */
	event_base_free(base);
}
END_TEST

/* Builds the suite. */
static Suite *async_suite(void)
{
	Suite *s = suite_create("client-async");
	TCase *tc = tcase_create("pipelined");

	tcase_set_timeout(tc, 50);
	tcase_add_test(tc, test_pipelined_arms);
	tcase_add_test(tc, test_fires_to_watcher);
	tcase_add_test(tc, test_free_fails_pending);
	tcase_add_test(tc, test_free_in_callback);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	signal(SIGPIPE, SIG_IGN);
	tsd_start(&daemon_, (const char *[]){ "--threads", "2", "--max-inflight", "512", NULL });
	sr = srunner_create(async_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	if (tsd_stop(&daemon_) != 0) {
		fprintf(stderr, "timerd did not exit cleanly\n");
		failed++;
	}
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
