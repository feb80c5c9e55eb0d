/*
 * test-client.c -- libtimerd's blocking API against a real timerd: every
 * operation, the errors a user meets (daemon not running, bad fields,
 * limits, permissions), events, and the local event queue bound.
 */
#include "config.h"

#include <check.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/timerd.h"
#include "test-server-util.h"
#include "tests/wait.h"

static struct tsd daemon_;
static char tcp_addr[64];

/* Connects to the test daemon (over TCP if tcp). */
static struct timerd *connect_ok(bool tcp)
{
	struct timerd_options opt = { .timeout_ms = 10000, .client_name = "test-client" };
	struct timerd_error e;
	struct timerd *t;
	int rc = timerd_connect(tcp ? tcp_addr : daemon_.sock, &opt, &t, &e);

	ck_assert_msg(rc == TIMERD_OK, "connect: %s", e.message);
	return t;
}

/* Arms key after delay ms on topic; returns the result. */
static struct timerd_arm_result arm_ok(struct timerd *t, const char *key, int64_t ms, const char *topic, bool notify)
{
	struct timerd_arm a = { .when = TIMERD_AFTER, .time_ns = ms * TIMERD_MS, .key = key, .topic = topic,
				.notify = notify };
	struct timerd_arm_result r;

	ck_assert_msg(timerd_arm(t, &a, &r) == TIMERD_OK, "arm %s: %s", key ? key : "-", timerd_errmsg(t));
	return r;
}

START_TEST(test_not_running)
{
	struct timerd_error e;
	struct timerd *t;

	ck_assert_int_eq(timerd_connect("/nonexistent/timerd.sock", NULL, &t, &e), TIMERD_ECONNECT);
	ck_assert_ptr_null(t);
	ck_assert_msg(strstr(e.message, "not running") && strstr(e.message, "start it"), "%s", e.message);
	ck_assert_int_eq(timerd_connect("tcp:localhost:notaport", NULL, &t, &e), TIMERD_ECONNECT);
	ck_assert_msg(strstr(e.message, "HOST:PORT"), "%s", e.message);
}
END_TEST

START_TEST(test_arm_get_cancel)
{
	struct timerd *t = connect_ok(false);
	struct timerd_arm_result r = arm_ok(t, "agc", 60000, "jobs", false), r2;
	struct timerd_timer *tm;

	ck_assert(r.created);
	ck_assert_int_gt(r.deadline_mono_ns, tsd_now());
	ck_assert_int_eq(timerd_get(t, 0, "agc", &tm), TIMERD_OK);
	ck_assert_uint_eq(tm->timer_id, r.timer_id);
	ck_assert_str_eq(tm->topic, "jobs");
	ck_assert_int_eq(tm->deadline_mono_ns, r.deadline_mono_ns);
	timerd_timer_free(tm);
	r2 = arm_ok(t, "agc", 120000, "jobs", false);	/* re-arm by key replaces */
	ck_assert(!r2.created);
	ck_assert_uint_eq(r2.timer_id, r.timer_id);
	ck_assert_int_gt(r2.deadline_mono_ns, r.deadline_mono_ns);
	ck_assert_int_eq(timerd_get(t, r.timer_id, NULL, &tm), TIMERD_OK);
	ck_assert_str_eq(tm->key, "agc");
	timerd_timer_free(tm);
	ck_assert_int_eq(timerd_cancel(t, 0, "agc"), TIMERD_OK);
	ck_assert_int_eq(timerd_get(t, 0, "agc", &tm), TIMERD_ENOTFOUND);
	ck_assert_ptr_null(tm);
	ck_assert_int_eq(timerd_cancel(t, UINT64_MAX - 1, NULL), TIMERD_ENOTFOUND);
	ck_assert(strstr(timerd_errmsg(t), "no such timer"));
	timerd_close(t);
}
END_TEST

START_TEST(test_notify_never_early)
{
	struct timerd *t = connect_ok(false);
	struct timerd_event *ev;
	int64_t now;

	for (int i = 0; i < 20; i++) {
		char key[32];

		snprintf(key, sizeof(key), "early-%d", i);
		arm_ok(t, key, 5 + i * 3, NULL, true);
	}
	for (int i = 0; i < 20; i++) {
		ck_assert_int_eq(timerd_next_event(t, 5000, &ev), TIMERD_OK);
		now = tsd_now();
		ck_assert_int_eq(ev->kind, TIMERD_EVENT_FIRE);
		ck_assert_int_ge(ev->fire.fired_mono_ns, ev->fire.deadline_mono_ns);
		ck_assert_int_ge(now, ev->fire.deadline_mono_ns);
		ck_assert(ev->fire.final);
		ck_assert_uint_eq(ev->fire.seq, 1);
		timerd_event_free(ev);
	}
	ck_assert_int_eq(timerd_next_event(t, 50, &ev), TIMERD_ETIMEDOUT);
	timerd_close(t);
}
END_TEST

START_TEST(test_watch_unwatch)
{
	struct timerd *w = connect_ok(false), *a = connect_ok(true);
	struct timerd_event *ev;

	ck_assert_int_eq(timerd_watch(w, "wu"), TIMERD_OK);
	ck_assert_int_eq(timerd_watch(w, "wu"), TIMERD_OK);		/* idempotent */
	arm_ok(a, "wu-1", 10, "wu", false);
	arm_ok(a, "other-1", 10, "other", false);
	ck_assert_int_eq(timerd_next_event(w, 5000, &ev), TIMERD_OK);
	ck_assert_str_eq(ev->fire.key, "wu-1");
	ck_assert_str_eq(ev->fire.topic, "wu");
	timerd_event_free(ev);
	ck_assert_int_eq(timerd_next_event(w, 100, &ev), TIMERD_ETIMEDOUT);
	ck_assert_int_eq(timerd_unwatch(w, "wu"), TIMERD_OK);
	ck_assert_int_eq(timerd_unwatch(w, "wu"), TIMERD_ENOTFOUND);
	arm_ok(a, "wu-2", 10, "wu", false);
	ck_assert_int_eq(timerd_next_event(w, 150, &ev), TIMERD_ETIMEDOUT);
	ck_assert_int_eq(timerd_watch(w, NULL), TIMERD_OK);	/* every topic */
	arm_ok(a, "wu-3", 10, "anything", false);
	ck_assert_int_eq(timerd_next_event(w, 5000, &ev), TIMERD_OK);
	ck_assert_str_eq(ev->fire.key, "wu-3");
	timerd_event_free(ev);
	timerd_close(w);
	timerd_close(a);
}
END_TEST

START_TEST(test_list_pages)
{
	struct timerd *t = connect_ok(false);
	struct timerd_list *l;
	uint64_t cursor = 0, seen = 0;
	char key[32];

	for (int i = 0; i < 250; i++) {
		snprintf(key, sizeof(key), "page-%03d", i);
		arm_ok(t, key, 600000, "pages", false);
	}
	arm_ok(t, "not-a-page", 600000, "elsewhere", false);
	do {
		ck_assert_int_eq(timerd_list(t, "pages", cursor, 100, false, &l), TIMERD_OK);
		ck_assert_uint_le(l->n, 100);
		for (size_t i = 0; i < l->n; i++) {
			ck_assert_str_eq(l->timers[i].topic, "pages");
			ck_assert_uint_eq(l->timers[i].payload_len, 0);
		}
		seen += l->n;
		cursor = l->next_cursor;
		timerd_list_free(l);
	} while (cursor);
	ck_assert_uint_eq(seen, 250);
	timerd_close(t);
}
END_TEST

START_TEST(test_invalid_fields)
{
	struct timerd *t = connect_ok(false);
	char big[2048];
	struct timerd_arm a = { .when = TIMERD_AFTER, .time_ns = TIMERD_S };
	struct timerd_arm_result r;

	a.period_ns = 10;
	ck_assert_int_eq(timerd_arm(t, &a, &r), TIMERD_EPERIOD);
	a.period_ns = 0;
	a.time_ns = -1;
	ck_assert_int_eq(timerd_arm(t, &a, &r), TIMERD_EDEADLINE);
	a.time_ns = TIMERD_S;
	a.key = "k";
	a.timer_id = 5;
	ck_assert_int_eq(timerd_arm(t, &a, &r), TIMERD_EKEYID);
	a.timer_id = 0;
	a.key = "bad\xff\xfe";
	ck_assert_int_eq(timerd_arm(t, &a, &r), TIMERD_EINVAL);
	ck_assert(strstr(timerd_errmsg(t), "UTF-8"));
	a.key = NULL;
	memset(big, 'x', sizeof(big));
	a.payload = big;
	a.payload_len = sizeof(big);
	ck_assert_int_eq(timerd_arm(t, &a, &r), TIMERD_EPAYLOAD);
	ck_assert_msg(strstr(timerd_errmsg(t), "max-payload"), "%s", timerd_errmsg(t));
	big[300] = '\0';
	a.payload = NULL;
	a.key = big;
	ck_assert_int_eq(timerd_arm(t, &a, &r), TIMERD_EKEYLEN);
	a.when = (enum timerd_when)7;
	ck_assert_int_eq(timerd_arm(t, &a, &r), TIMERD_EARG);
	ck_assert_int_eq(timerd_cancel(t, 0, NULL), TIMERD_EINVAL);
	/* the connection still works after every error */
	ck_assert_int_eq(timerd_ping(t, NULL), TIMERD_OK);
	timerd_close(t);
}
END_TEST

START_TEST(test_stats_ping)
{
	struct timerd *t = connect_ok(false);
	struct timerd_stats *s;
	int64_t rtt = 0, v;

	ck_assert_int_eq(timerd_ping(t, &rtt), TIMERD_OK);
	ck_assert_int_gt(rtt, 0);
	arm_ok(t, NULL, 100000, NULL, false);
	ck_assert_int_eq(timerd_stats(t, &s), TIMERD_OK);
	ck_assert(timerd_stats_get(s, "engine.arms", &v) && v >= 1);
	ck_assert(timerd_stats_get(s, "server.req_arm", &v) && v >= 1);
	ck_assert(timerd_stats_get(s, "server.conns", &v) && v >= 1);
	ck_assert(timerd_stats_get(s, "probes.available", &v));
	ck_assert(!timerd_stats_get(s, "no.such", &v));
	ck_assert(strncmp(s->version, "timerd ", 7) == 0);
	ck_assert(strstr(s->stats_db, "stats.db"));
	timerd_stats_free(s);
	timerd_close(t);
}
END_TEST

START_TEST(test_probe_permissions)
{
	struct timerd *t = connect_ok(true);
	struct timerd_probes *p;
	uint32_t id;

	ck_assert_int_eq(timerd_probe_attach(t, "tracepoint:sched:sched_process_exit cancel key=pid", &id), TIMERD_EPERM);
	ck_assert_msg(strstr(timerd_errmsg(t), "TCP"), "%s", timerd_errmsg(t));
	ck_assert_int_eq(timerd_probe_list(t, &p), TIMERD_EPERM);
	timerd_close(t);
	t = connect_ok(false);
	if (geteuid() == 0) {
		int rc = timerd_probe_list(t, &p);

		ck_assert_msg(rc == TIMERD_OK || rc == TIMERD_EUNAVAIL, "%s", timerd_errmsg(t));
		if (rc == TIMERD_OK)
			timerd_probes_free(p);
		rc = timerd_probe_attach(t, "nonsense", &id);
		ck_assert_msg(rc == TIMERD_EINVAL || rc == TIMERD_EUNAVAIL, "%d %s", rc, timerd_errmsg(t));
	} else {
		ck_assert_int_eq(timerd_probe_list(t, &p), TIMERD_EPERM);
	}
	timerd_close(t);
}
END_TEST

/* The daemon's fires_sent counter and the value a wait expects it to reach. */
struct sent_wait {
	int64_t want, seen;
};

/* True once the daemon wrote w->want fires in all (to the connections' output). */
static bool fires_sent_reached(void *arg)
{
	struct sent_wait *w = arg;

	w->seen = tsd_stat(&daemon_, "server.fires_sent");
	return w->seen >= w->want;
}

START_TEST(test_event_queue_bound)
{
	struct timerd_options opt = { .max_queued_events = 5 };
	struct timerd_error e;
	struct timerd *w, *a = connect_ok(false);
	struct timerd_event *ev;
	struct sent_wait sent = { .want = tsd_stat(&daemon_, "server.fires_sent") + 20 };
	int fires = 0;

	ck_assert_int_ge(sent.want, 20);
	ck_assert_int_eq(timerd_connect(daemon_.sock, &opt, &w, &e), TIMERD_OK);
	ck_assert_int_eq(timerd_watch(w, "qb"), TIMERD_OK);
	for (int i = 0; i < 20; i++)
		arm_ok(a, NULL, 1, "qb", false);
	ck_assert_msg(wait_until(fires_sent_reached, &sent, 10000, "20 fires sent to the watcher"),
		      "server.fires_sent is %lld, want %lld", (long long)sent.seen, (long long)sent.want);
	/* The pong follows the 20 fires on w's stream: reading it reads (and queues) them all. */
	ck_assert_int_eq(timerd_ping(w, NULL), TIMERD_OK);
	ck_assert_int_eq(timerd_next_event(w, 1000, &ev), TIMERD_OK);
	ck_assert_int_eq(ev->kind, TIMERD_EVENT_NOTICE);
	ck_assert_int_eq(ev->notice.kind, TIMERD_NOTICE_FIRES_DROPPED);
	ck_assert_uint_eq(ev->notice.count, 15);
	timerd_event_free(ev);
	while (timerd_next_event(w, 100, &ev) == TIMERD_OK) {
		fires += ev->kind == TIMERD_EVENT_FIRE;
		timerd_event_free(ev);
	}
	ck_assert_int_eq(fires, 5);
	timerd_close(w);
	timerd_close(a);
}
END_TEST

START_TEST(test_wall_clock_arm)
{
	struct timerd *t = connect_ok(false);
	struct timespec now;
	struct timerd_arm a = { .when = TIMERD_AT_UNIX, .key = "wall", .notify = true };
	struct timerd_arm_result r;
	struct timerd_event *ev;

	clock_gettime(CLOCK_REALTIME, &now);
	a.time_ns = now.tv_sec * TIMERD_S + now.tv_nsec + 50 * TIMERD_MS;
	ck_assert_int_eq(timerd_arm(t, &a, &r), TIMERD_OK);
	ck_assert_int_eq(r.deadline_unix_ns, a.time_ns);
	ck_assert_int_eq(timerd_next_event(t, 5000, &ev), TIMERD_OK);
	clock_gettime(CLOCK_REALTIME, &now);
	ck_assert_int_ge(now.tv_sec * TIMERD_S + now.tv_nsec, a.time_ns);
	ck_assert_str_eq(ev->fire.key, "wall");
	timerd_event_free(ev);
	timerd_close(t);
}
END_TEST

START_TEST(test_durable_fields)
{
	struct timerd *t = connect_ok(false);
	struct timerd_arm a = { .when = TIMERD_AFTER, .time_ns = 600 * TIMERD_S, .key = "dur-mem",
				.ephemeral = true };
	struct timerd_arm_result r;
	struct timerd_timer *tm;
	struct timerd_list *l;
	struct timerd_stats *s;
	int64_t v;
	int seen = 0;

	ck_assert_int_eq(timerd_arm(t, &a, &r), TIMERD_OK);
	a = (struct timerd_arm){ .when = TIMERD_AFTER, .time_ns = 600 * TIMERD_S, .key = "dur-skip",
				 .topic = "dur", .misfire = TIMERD_MISFIRE_SKIP };
	ck_assert_int_eq(timerd_arm(t, &a, &r), TIMERD_OK);
	ck_assert_int_eq(timerd_get(t, 0, "dur-mem", &tm), TIMERD_OK);
	ck_assert(tm->ephemeral);
	ck_assert_int_eq(tm->misfire, TIMERD_MISFIRE_FIRE);
	timerd_timer_free(tm);
	ck_assert_int_eq(timerd_get(t, r.timer_id, NULL, &tm), TIMERD_OK);
	ck_assert(!tm->ephemeral);			/* durable by default */
	ck_assert_int_eq(tm->misfire, TIMERD_MISFIRE_SKIP);
	timerd_timer_free(tm);
	ck_assert_int_eq(timerd_list(t, "dur", 0, 0, false, &l), TIMERD_OK);
	for (size_t i = 0; i < l->n; i++, seen++)
		ck_assert(!l->timers[i].ephemeral && l->timers[i].misfire == TIMERD_MISFIRE_SKIP);
	ck_assert_int_eq(seen, 1);
	timerd_list_free(l);
	a.misfire = (enum timerd_misfire)9;
	ck_assert_int_eq(timerd_arm(t, &a, &r), TIMERD_EARG);
	ck_assert_int_eq(timerd_stats(t, &s), TIMERD_OK);
	ck_assert(timerd_stats_get(s, "store.durable", &v) && v == 1);
	ck_assert(timerd_stats_get(s, "store.rows", &v) && v >= 1);
	ck_assert_str_eq(s->store_fsync, "always");
	ck_assert_msg(strstr(s->store_path, "timers.db"), "%s", s->store_path);
	ck_assert_str_eq(s->store_last_error, "");
	timerd_stats_free(s);
	ck_assert_int_eq(timerd_cancel(t, 0, "dur-mem"), TIMERD_OK);
	ck_assert_int_eq(timerd_cancel(t, 0, "dur-skip"), TIMERD_OK);
	ck_assert_str_eq(timerd_errname(TIMERD_ESTORAGE), "STORAGE");
	timerd_close(t);
}
END_TEST

/* Arms a with calendar expr and expects code, with want in the server's message. */
static void cal_refused(struct timerd *t, struct timerd_arm a, const char *expr, int code, const char *want)
{
	struct timerd_arm_result r;

	a.calendar = expr;
	ck_assert_msg(timerd_arm(t, &a, &r) == code, "%s: %s", expr, timerd_errmsg(t));
	ck_assert_msg(strstr(timerd_errmsg(t), want), "%s: '%s' does not say '%s'", expr, timerd_errmsg(t), want);
}

START_TEST(test_calendar_validation)
{
	struct timerd *t = connect_ok(false);
	struct timerd_arm a = { .key = "cal-bad" };
	struct timerd_timer *tm;
	char big[1100];

	cal_refused(t, a, "Mon..Fri 09:00 Europe/Pariss", TIMERD_EINVAL, "unknown time zone 'Europe/Pariss'");
	cal_refused(t, a, "*-02-30", TIMERD_EINVAL, "never elapses");
	cal_refused(t, a, "not a calendar", TIMERD_EINVAL, "calendar 'not a calendar'");
	a.time_ns = TIMERD_S;	/* after_ns with it */
	cal_refused(t, a, "daily", TIMERD_EINVAL, "not both");
	a.time_ns = 0;
	a.when = TIMERD_AT_UNIX;
	a.time_ns = 4102444800LL * TIMERD_S;
	cal_refused(t, a, "daily", TIMERD_EINVAL, "not both");
	a.when = TIMERD_AFTER;
	a.time_ns = 0;
	a.period_ns = TIMERD_S;
	cal_refused(t, a, "daily", TIMERD_EINVAL, "period_ns 0");
	a.period_ns = 0;
	cal_refused(t, a, "daily\x01", TIMERD_EINVAL, "control characters");
	memset(big, '*', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	cal_refused(t, a, big, TIMERD_EINVAL, "1024 bytes");
	/* nothing was armed by any of them */
	ck_assert_int_eq(timerd_get(t, 0, "cal-bad", &tm), TIMERD_ENOTFOUND);
	ck_assert_int_eq(timerd_ping(t, NULL), TIMERD_OK);
	timerd_close(t);
}
END_TEST

START_TEST(test_calendar_fires_and_shows)
{
	struct timerd *t = connect_ok(false);
	struct timerd_arm a = { .key = "cal-tick", .topic = "cal", .calendar = "*:*:*", .notify = true };
	struct timerd_arm_result r;
	struct timerd_timer *tm;
	struct timerd_list *l;
	struct timerd_event *ev;
	struct timespec now;
	bool listed = false;

	ck_assert_msg(timerd_arm(t, &a, &r) == TIMERD_OK, "%s", timerd_errmsg(t));
	ck_assert_int_eq(r.deadline_unix_ns % TIMERD_S, 0);	/* the first elapse: a whole second */
	ck_assert_int_eq(timerd_get(t, 0, "cal-tick", &tm), TIMERD_OK);
	ck_assert_str_eq(tm->calendar, "*-*-* *:*:*");
	ck_assert(tm->realtime);
	ck_assert_int_eq(tm->period_ns, 0);
	ck_assert_int_eq(tm->deadline_unix_ns, r.deadline_unix_ns);
	timerd_timer_free(tm);
	ck_assert_int_eq(timerd_list(t, "cal", 0, 0, false, &l), TIMERD_OK);
	for (size_t i = 0; i < l->n; i++)
		listed |= strcmp(l->timers[i].calendar, "*-*-* *:*:*") == 0;
	ck_assert(listed);
	timerd_list_free(l);
	/* two fires, one second apart, each at or after its elapse on the wall clock */
	for (uint64_t seq = 1; seq <= 2; seq++) {
		ck_assert_int_eq(timerd_next_event(t, 5000, &ev), TIMERD_OK);
		clock_gettime(CLOCK_REALTIME, &now);
		ck_assert_int_eq(ev->kind, TIMERD_EVENT_FIRE);
		ck_assert_str_eq(ev->fire.key, "cal-tick");
		ck_assert_uint_eq(ev->fire.seq, seq);
		ck_assert(!ev->fire.final);
		ck_assert_int_eq(ev->fire.period_ns, 0);
		ck_assert_int_ge(ev->fire.fired_mono_ns, ev->fire.deadline_mono_ns);
		ck_assert_int_ge(now.tv_sec * TIMERD_S + now.tv_nsec, r.deadline_unix_ns + (int64_t)(seq - 1) * TIMERD_S);
		timerd_event_free(ev);
	}
	/* re-armed as a plain timer: the calendar is gone */
	a = (struct timerd_arm){ .key = "cal-tick", .when = TIMERD_AFTER, .time_ns = 600 * TIMERD_S };
	ck_assert_int_eq(timerd_arm(t, &a, &r), TIMERD_OK);
	ck_assert_int_eq(timerd_get(t, 0, "cal-tick", &tm), TIMERD_OK);
	ck_assert_str_eq(tm->calendar, "");
	timerd_timer_free(tm);
	ck_assert_int_eq(timerd_cancel(t, 0, "cal-tick"), TIMERD_OK);
	timerd_close(t);
}
END_TEST

/* Finds a free TCP port on loopback. */
static int free_port(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) < 0)
		exit(99);
	port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

/* Builds the suite. */
/* Waits up to ms for a delivery event (other events skipped); NULL if none came. */
static struct timerd_event *next_delivery(struct timerd *t, int ms)
{
	int64_t end = tsd_now() + (int64_t)ms * TIMERD_MS;
	struct timerd_event *ev;

	while (tsd_now() < end) {
		if (timerd_next_event(t, (int)((end - tsd_now()) / TIMERD_MS) + 1, &ev) != TIMERD_OK)
			return NULL;
		if (ev->kind == TIMERD_EVENT_FIRE && ev->delivery.delivery_id)
			return ev;
		timerd_event_free(ev);
	}
	return NULL;
}

START_TEST(test_group_sync)
{
	struct timerd *c = connect_ok(false), *a = connect_ok(true);
	const char *topics[] = { "gs-topic" };
	struct timerd_group g = { .name = "gs", .topics = topics, .n_topics = 1, .unordered = true,
				  .backoff_min_ns = 10 * TIMERD_MS, .backoff_max_ns = 20 * TIMERD_MS };
	struct timerd_event *e1, *e2, *e3;
	struct timerd_groups *gl;
	struct timerd_dlq *d;
	uint64_t n = 99;
	bool created = false;

	ck_assert_int_eq(timerd_group_create(c, &g, false, &created), TIMERD_OK);
	ck_assert(created);
	ck_assert_int_eq(timerd_group_create(c, &g, false, &created), TIMERD_OK);	/* the same: OK */
	ck_assert(!created);
	g.max_attempts = 9;
	ck_assert_int_eq(timerd_group_create(c, &g, false, &created), TIMERD_ECONFLICT);
	ck_assert_int_eq(timerd_group_create(c, &g, true, &created), TIMERD_OK);
	g.name = NULL;
	ck_assert_int_eq(timerd_group_create(c, &g, false, NULL), TIMERD_EARG);	/* nothing sent */
	ck_assert_int_eq(timerd_subscribe(c, "gs-none", 1), TIMERD_ENOTFOUND);
	ck_assert_int_eq(timerd_subscribe(c, "gs", 2), TIMERD_OK);
	arm_ok(a, "gs-1", 5, "gs-topic", false);
	arm_ok(a, "gs-2", 5, "gs-topic", false);
	arm_ok(a, "gs-3", 5, "gs-topic", false);
	ck_assert_ptr_nonnull(e1 = next_delivery(c, 5000));
	ck_assert_ptr_nonnull(e2 = next_delivery(c, 5000));
	ck_assert_str_eq(e1->delivery.group, "gs");
	ck_assert_uint_eq(e1->delivery.attempt, 1);
	ck_assert_str_eq(e1->fire.topic, "gs-topic");
	ck_assert_uint_ne(e1->delivery.delivery_id, e2->delivery.delivery_id);
	/* credit 2: the third waits for an answer */
	ck_assert_ptr_null(e3 = next_delivery(c, 150));
	ck_assert_int_eq(timerd_nack(c, e1->delivery.delivery_id, 30 * TIMERD_MS, "try again"), TIMERD_OK);
	ck_assert_int_eq(timerd_ack(c, e2->delivery.delivery_id), TIMERD_OK);
	ck_assert_int_eq(timerd_ack(c, e2->delivery.delivery_id), TIMERD_ENOTFOUND);	/* acked already */
	/* the third, and e1 again (attempt 2) after its retry_after */
	for (int i = 0; i < 2; i++) {
		ck_assert_ptr_nonnull(e3 = next_delivery(c, 5000));
		if (e3->delivery.delivery_id == e1->delivery.delivery_id)
			ck_assert_uint_eq(e3->delivery.attempt, 2);
		else
			ck_assert_uint_eq(e3->delivery.attempt, 1);
		ck_assert_int_eq(timerd_ack(c, e3->delivery.delivery_id), TIMERD_OK);
		timerd_event_free(e3);
	}
	timerd_event_free(e1);
	timerd_event_free(e2);
	ck_assert_int_eq(timerd_group_list(a, "gs", &gl), TIMERD_OK);
	ck_assert_uint_eq(gl->n, 1);
	ck_assert_str_eq(gl->v[0].group.name, "gs");
	ck_assert_uint_eq(gl->v[0].group.max_attempts, 9);
	ck_assert_uint_eq(gl->v[0].group.n_topics, 1);
	ck_assert_str_eq(gl->v[0].group.topics[0], "gs-topic");
	ck_assert_uint_eq(gl->v[0].acked, 3);
	ck_assert_uint_eq(gl->v[0].consumers, 1);
	ck_assert_uint_ge(gl->v[0].redeliveries, 1);
	ck_assert_uint_ge(gl->v[0].nacked, 1);
	timerd_groups_free(gl);
	ck_assert_int_eq(timerd_dlq_list(a, "gs", NULL, 0, 0, false, &d), TIMERD_OK);
	ck_assert_uint_eq(d->n, 0);
	timerd_dlq_free(d);
	ck_assert_int_eq(timerd_dlq_purge(a, "gs", NULL, 0, &n), TIMERD_OK);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(timerd_unsubscribe(c, "gs"), TIMERD_OK);
	ck_assert_int_eq(timerd_group_delete(a, "gs"), TIMERD_OK);
	ck_assert_int_eq(timerd_group_list(a, "gs", &gl) == TIMERD_ENOTFOUND || gl->n == 0, 1);
	if (gl)
		timerd_groups_free(gl);
	timerd_close(c);
	timerd_close(a);
}
END_TEST

static Suite *client_suite(void)
{
	Suite *s = suite_create("client");
	TCase *tc = tcase_create("blocking");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_not_running);
	tcase_add_test(tc, test_arm_get_cancel);
	tcase_add_test(tc, test_notify_never_early);
	tcase_add_test(tc, test_watch_unwatch);
	tcase_add_test(tc, test_list_pages);
	tcase_add_test(tc, test_invalid_fields);
	tcase_add_test(tc, test_stats_ping);
	tcase_add_test(tc, test_probe_permissions);
	tcase_add_test(tc, test_event_queue_bound);
	tcase_add_test(tc, test_wall_clock_arm);
	tcase_add_test(tc, test_durable_fields);
	tcase_add_test(tc, test_calendar_validation);
	tcase_add_test(tc, test_calendar_fires_and_shows);
	tcase_add_test(tc, test_group_sync);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	char listen[64];
	SRunner *sr;
	int failed, port = free_port();

	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	snprintf(tcp_addr, sizeof(tcp_addr), "tcp:127.0.0.1:%d", port);
	tsd_start(&daemon_, (const char *[]){ "--max-payload", "1KiB", "--listen", listen, "--threads", "2", NULL });
	sr = srunner_create(client_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	if (tsd_stop(&daemon_) != 0) {
		fprintf(stderr, "timerd did not exit cleanly\n");
		failed++;
	}
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
