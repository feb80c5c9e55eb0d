/*
 * timerd-bench.c -- timerd's RPC figures, measured through libtimerd's
 * async API against a running timerd; one JSON object per line:
 *
 *   rpc.arm       arms/s with `conns` connections each keeping `pipeline`
 *                 arms in flight (keys drawn from `keys`, deadline 1 h, so
 *                 most arms re-arm an existing key, like ZADD updating a
 *                 member of a sorted set)
 *   rpc.rtt       one connection, one arm at a time: round-trip p50/p99
 *   e2e.lateness  arms issued at `rate`/s with a `delay`; a second
 *                 connection watches the topic; lateness = the time the
 *                 watcher read the fire - the timer's deadline (same clock).
 *                 For attribution the line also carries the daemon's own
 *                 p99s since it started: the dispatcher's (engine) and
 *                 deadline -> event queued to the connection (server)
 *   rpc.fill      exactly `count` arms as fast as `conns` x `pipeline` go:
 *                 with --keys 0 each creates a new anonymous timer (numeric
 *                 id) due in `delay` ms (default 1 h: they stay pending);
 *                 with --keys K they re-arm K keys over and over. For
 *                 bench/bench-recovery and bench/compare-durable --churn
 *
 * usage: timerd-bench --socket PATH (or tls://HOST:PORT with --ca FILE) [--mode arm|rtt|lateness|all] [--conns N]
 *        [--pipeline N] [--time MS] [--keys N] [--rtt-ops N] [--rate N]
 *        [--delay MS] [--lat-time MS] [--quick] [--rep N]
 *        [--count N] (--mode fill)
 */
#include "config.h"

#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "client/timerd.h"

struct bench_cfg {
	const char *socket;
	const char *ca;			/* --ca: TLS (with a tls:// --socket) verified against these CAs */
	const char *mode;
	unsigned conns, pipeline, keys, rate, rep;
	unsigned time_ms, rtt_ops, delay_ms, lat_ms;
	uint64_t count;			/* fill: arms to make */
	bool delay_set;
};

/* CLOCK_MONOTONIC now, ns. */
static int64_t bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Stops with a message. */
static void bench_die(const char *what, const char *msg)
{
	fprintf(stderr, "timerd-bench: %s: %s\n", what, msg);
	exit(1);
}

/* Connects an async client. */
static struct timerd_async *bench_connect(const struct bench_cfg *c, struct event_base *base)
{
	struct timerd_async *a;
	struct timerd_error e;
	struct timerd_tls tls = { .ca_file = c->ca };
	struct timerd_options opt = { .tls = c->ca ? &tls : NULL };

	if (timerd_async_connect(base, c->socket, &opt, &a, &e) != TIMERD_OK)
		bench_die("connect", e.message);
	return a;
}

/* Orders int64 values. */
static int bench_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* The p-th percentile of n sorted values. */
static int64_t bench_pct(const int64_t *v, size_t n, double p)
{
	size_t i = (size_t)(p / 100.0 * (double)n);

	return n ? v[i < n ? i : n - 1] : 0;
}

/* ------------------------------------------------------------------------ */
/* rpc.arm: pipelined arms */

struct arm_run {
	struct event_base *base;
	char **keys;
	unsigned nkeys;
	uint64_t done;			/* replies received, all connections */
	uint64_t errors;
	uint32_t rnd;
	bool stopping;
	unsigned depth;
};

static void arm_issue(struct arm_run *r, struct timerd_async *c);

/* Reply of one pipelined arm: counts it and issues the next. */
static void arm_on_reply(struct timerd_async *c, const struct timerd_reply *rep, void *arg)
{
	struct arm_run *r = arg;

	r->done++;
	if (rep->code != TIMERD_OK && rep->code != TIMERD_ECLOSED && r->errors++ == 0)
		fprintf(stderr, "timerd-bench: arm: %s\n", rep->message);
	if (!r->stopping)
		arm_issue(r, c);
}

/* Keeps depth arms in flight on c. */
static void arm_issue(struct arm_run *r, struct timerd_async *c)
{
	size_t window = timerd_async_window(c) < r->depth ? timerd_async_window(c) : r->depth;

	while (timerd_async_pending(c) < window) {
		struct timerd_arm a = { .when = TIMERD_AFTER, .time_ns = 3600 * TIMERD_S };

		r->rnd = r->rnd * 1664525u + 1013904223u;
		a.key = r->keys[(r->rnd >> 8) % r->nkeys];
		if (timerd_async_arm(c, &a, arm_on_reply, r) != TIMERD_OK)
			bench_die("arm", "cannot queue a request");
	}
}

/* Timer callback: ends the loop. */
static void bench_stop_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

/* Runs the loop for ms milliseconds. */
static void bench_run_for(struct event_base *base, unsigned ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	struct event *ev = evtimer_new(base, bench_stop_cb, base);

	evtimer_add(ev, &tv);
	event_base_dispatch(base);
	event_free(ev);
}

/* Makes the key strings once so the loop does not format. */
static char **bench_keys(unsigned n)
{
	char **k = malloc(n * sizeof(*k));

	for (unsigned i = 0; k && i < n; i++) {
		k[i] = malloc(16);
		if (!k[i])
			bench_die("keys", "out of memory");
		snprintf(k[i], 16, "key:%u", i);
	}
	if (!k)
		bench_die("keys", "out of memory");
	return k;
}

/* rpc.arm: conns x pipeline arms in flight; ops/s over time_ms after a warm-up. */
static void bench_arm(const struct bench_cfg *c)
{
	struct arm_run r = { .base = event_base_new(), .nkeys = c->keys, .rnd = 12345, .depth = c->pipeline };
	struct timerd_async **conns = calloc(c->conns, sizeof(*conns));
	uint64_t d0;
	int64_t t0, t1;

	r.keys = bench_keys(c->keys);
	for (unsigned i = 0; i < c->conns; i++) {
		conns[i] = bench_connect(c, r.base);
		arm_issue(&r, conns[i]);
	}
	bench_run_for(r.base, c->time_ms / 4 + 100);	/* warm-up: fills the key space */
	d0 = r.done;
	t0 = bench_now();
	bench_run_for(r.base, c->time_ms);
	t1 = bench_now();
	r.stopping = true;
	printf("{\"bench\":\"rpc.arm\",\"impl\":\"timerd\",\"rep\":%u,\"conns\":%u,\"pipeline\":%u,\"keys\":%u,"
	       "\"ops\":%" PRIu64 ",\"secs\":%.3f,\"ops_per_s\":%.0f,\"ns_per_op\":%.1f,\"errors\":%" PRIu64 "}\n",
	       c->rep, c->conns, c->pipeline, c->keys, r.done - d0, (double)(t1 - t0) / 1e9,
	       (double)(r.done - d0) * 1e9 / (double)(t1 - t0), (double)(t1 - t0) / (double)(r.done - d0), r.errors);
	fflush(stdout);
	for (unsigned i = 0; i < c->conns; i++)
		timerd_async_free(conns[i]);
	for (unsigned i = 0; i < c->keys; i++)
		free(r.keys[i]);
	free(r.keys);
	free(conns);
	event_base_free(r.base);
}

/* ------------------------------------------------------------------------ */
/* rpc.fill: a fixed number of arms, pipelined */

struct fill_run {
	struct event_base *base;
	char **keys;
	unsigned nkeys, depth;
	uint64_t issued, done, count, errors;
	int64_t delay_ns;
};

static void fill_issue(struct fill_run *r, struct timerd_async *c);

/* Reply of one fill arm: counts it, issues more, ends the loop after the last. */
static void fill_on_reply(struct timerd_async *c, const struct timerd_reply *rep, void *arg)
{
	struct fill_run *r = arg;

	r->done++;
	if (rep->code != TIMERD_OK && r->errors++ == 0)
		fprintf(stderr, "timerd-bench: fill: %s\n", rep->message);
	if (r->done == r->count)
		event_base_loopbreak(r->base);
	else
		fill_issue(r, c);
}

/* Keeps depth arms in flight on c until count were issued. */
static void fill_issue(struct fill_run *r, struct timerd_async *c)
{
	size_t window = timerd_async_window(c) < r->depth ? timerd_async_window(c) : r->depth;

	while (r->issued < r->count && timerd_async_pending(c) < window) {
		struct timerd_arm a = { .when = TIMERD_AFTER, .time_ns = r->delay_ns };

		if (r->nkeys)
			a.key = r->keys[r->issued % r->nkeys];
		if (timerd_async_arm(c, &a, fill_on_reply, r) != TIMERD_OK)
			bench_die("fill", "cannot queue a request");
		r->issued++;
	}
}

/* rpc.fill: count arms over conns x pipeline; arms/s over the whole fill. */
static void bench_fill(const struct bench_cfg *c)
{
	struct fill_run r = { .base = event_base_new(), .nkeys = c->keys, .depth = c->pipeline,
			      .count = c->count,
			      .delay_ns = c->delay_set ? (int64_t)c->delay_ms * TIMERD_MS : 3600 * TIMERD_S };
	struct timerd_async **conns = calloc(c->conns, sizeof(*conns));
	int64_t t0, t1;

	if (r.nkeys)
		r.keys = bench_keys(r.nkeys);
	t0 = bench_now();
	for (unsigned i = 0; i < c->conns; i++) {
		conns[i] = bench_connect(c, r.base);
		fill_issue(&r, conns[i]);
	}
	if (r.count)
		event_base_dispatch(r.base);
	t1 = bench_now();
	printf("{\"bench\":\"rpc.fill\",\"impl\":\"timerd\",\"rep\":%u,\"conns\":%u,\"pipeline\":%u,\"keys\":%u,"
	       "\"delay_ms\":%.3f,\"ops\":%" PRIu64 ",\"secs\":%.3f,\"ops_per_s\":%.0f,\"errors\":%" PRIu64 "}\n",
	       c->rep, c->conns, c->pipeline, r.nkeys, (double)r.delay_ns / 1e6, r.done, (double)(t1 - t0) / 1e9,
	       (double)r.done * 1e9 / (double)(t1 - t0 > 0 ? t1 - t0 : 1), r.errors);
	fflush(stdout);
	for (unsigned i = 0; i < c->conns; i++)
		timerd_async_free(conns[i]);
	for (unsigned i = 0; i < r.nkeys; i++)
		free(r.keys[i]);
	free(r.keys);
	free(conns);
	event_base_free(r.base);
	if (r.errors)
		exit(1);
}

/* ------------------------------------------------------------------------ */
/* rpc.rtt: one arm at a time */

/* Reply callback: marks the request answered. */
static void rtt_on_reply(struct timerd_async *c, const struct timerd_reply *rep, void *arg)
{
	(void)c;
	if (rep->code != TIMERD_OK)
		bench_die("arm", rep->message);
	*(bool *)arg = true;
}

/* Issues one arm and waits for it; its round trip in ns. */
static int64_t rtt_one(struct event_base *base, struct timerd_async *a, const char *key)
{
	struct timerd_arm arm = { .when = TIMERD_AFTER, .time_ns = 3600 * TIMERD_S, .key = key };
	bool done = false;
	int64_t t0 = bench_now();

	if (timerd_async_arm(a, &arm, rtt_on_reply, &done) != TIMERD_OK)
		bench_die("arm", "cannot queue a request");
	while (!done)
		event_base_loop(base, EVLOOP_ONCE);
	return bench_now() - t0;
}

/* rpc.rtt: p50/p99 of rtt_ops sequential arms. */
static void bench_rtt(const struct bench_cfg *c)
{
	struct event_base *base = event_base_new();
	struct timerd_async *a = bench_connect(c, base);
	int64_t *v = malloc(c->rtt_ops * sizeof(*v)), sum = 0;
	char **keys = bench_keys(c->keys);
	uint32_t rnd = 777;

	for (unsigned i = 0; i < 2000; i++)	/* warm-up */
		rtt_one(base, a, keys[i % c->keys]);
	for (unsigned i = 0; i < c->rtt_ops; i++) {
		rnd = rnd * 1664525u + 1013904223u;
		v[i] = rtt_one(base, a, keys[(rnd >> 8) % c->keys]);
		sum += v[i];
	}
	qsort(v, c->rtt_ops, sizeof(*v), bench_cmp);
	printf("{\"bench\":\"rpc.rtt\",\"impl\":\"timerd\",\"rep\":%u,\"op\":\"arm\",\"ops\":%u,\"p50_ns\":%" PRId64
	       ",\"p99_ns\":%" PRId64 ",\"mean_ns\":%" PRId64 ",\"ops_per_s\":%.0f}\n", c->rep, c->rtt_ops,
	       bench_pct(v, c->rtt_ops, 50), bench_pct(v, c->rtt_ops, 99), sum / c->rtt_ops,
	       1e9 * c->rtt_ops / (double)sum);
	fflush(stdout);
	timerd_async_free(a);
	for (unsigned i = 0; i < c->keys; i++)
		free(keys[i]);
	free(keys);
	free(v);
	event_base_free(base);
}

/* ------------------------------------------------------------------------ */
/* e2e.lateness: fires at a steady rate, read by a watcher */

struct lat_run {
	const struct bench_cfg *c;
	struct event_base *base;
	struct timerd_async *armer;
	int64_t start, end;		/* arming window, CLOCK_MONOTONIC */
	uint64_t issued, backlog_max;
	int64_t *late;
	size_t nlate, cap;
	uint64_t early, notices, errors;
};

/* Watcher: records each fire's lateness as read here. */
static void lat_on_event(struct timerd_async *a, const struct timerd_event *ev, void *arg)
{
	struct lat_run *r = arg;
	int64_t now = bench_now();

	(void)a;
	if (ev->kind != TIMERD_EVENT_FIRE) {
		r->notices++;
		return;
	}
	r->early += now < ev->fire.deadline_mono_ns;
	if (r->nlate < r->cap)
		r->late[r->nlate++] = now - ev->fire.deadline_mono_ns;
}

/* Arm reply: only errors matter. */
static void lat_on_reply(struct timerd_async *a, const struct timerd_reply *rep, void *arg)
{
	struct lat_run *r = arg;

	(void)a;
	if (rep->code != TIMERD_OK && r->errors++ == 0)
		fprintf(stderr, "timerd-bench: lateness arm: %s\n", rep->message);
}

/* Ticker (every ms): issues the arms due by now at the target rate. */
static void lat_tick(evutil_socket_t fd, short what, void *arg)
{
	struct lat_run *r = arg;
	int64_t now = bench_now();
	uint64_t due = (uint64_t)((double)((now < r->end ? now : r->end) - r->start) * r->c->rate / 1e9);

	(void)fd;
	(void)what;
	if (due - r->issued > r->backlog_max)
		r->backlog_max = due - r->issued;
	while (r->issued < due && timerd_async_pending(r->armer) < timerd_async_window(r->armer)) {
		struct timerd_arm a = { .when = TIMERD_AFTER, .time_ns = (int64_t)r->c->delay_ms * TIMERD_MS,
					.topic = "bench-lateness" };

		if (timerd_async_arm(r->armer, &a, lat_on_reply, r) != TIMERD_OK)
			bench_die("arm", "cannot queue a request");
		r->issued++;
	}
}

/* Reply of the Watch request. */
static void lat_on_watch(struct timerd_async *a, const struct timerd_reply *rep, void *arg)
{
	(void)a;
	(void)arg;
	if (rep->code != TIMERD_OK)
		bench_die("watch", rep->message);
}

struct lat_stats {
	int64_t engine_p99, server_p99;
	bool done;
};

/* Stats reply: the daemon's own lateness figures, for attribution. */
static void lat_on_stats(struct timerd_async *a, const struct timerd_reply *rep, void *arg)
{
	struct lat_stats *ls = arg;

	(void)a;
	ls->done = true;
	if (rep->code != TIMERD_OK)
		return;
	timerd_stats_get(rep->stats, "engine.late_p99_ns", &ls->engine_p99);
	timerd_stats_get(rep->stats, "server.late_p99_ns", &ls->server_p99);
}

/* e2e.lateness at rate/s for lat_ms, fires delay_ms after arming. */
static void bench_lateness(const struct bench_cfg *c)
{
	struct lat_run r = { .c = c, .base = event_base_new() };
	struct lat_stats ls = { 0 };
	struct timerd_async *w;
	struct timeval ms = { 0, 1000 };
	struct event *tick;

	r.cap = (size_t)c->rate * (c->lat_ms / 1000 + 2);
	r.late = malloc(r.cap * sizeof(*r.late));
	w = bench_connect(c, r.base);
	r.armer = bench_connect(c, r.base);
	timerd_async_set_event_cb(w, lat_on_event, &r);
	timerd_async_watch(w, "bench-lateness", lat_on_watch, NULL);
	bench_run_for(r.base, 100);		/* the watch is in place */
	tick = event_new(r.base, -1, EV_PERSIST, lat_tick, &r);
	r.start = bench_now();
	r.end = r.start + (int64_t)c->lat_ms * 1000000;
	evtimer_add(tick, &ms);
	bench_run_for(r.base, c->lat_ms);
	lat_tick(-1, 0, &r);			/* the last due arms */
	event_free(tick);
	bench_run_for(r.base, c->delay_ms + 500);	/* the last fires */
	timerd_async_stats(w, lat_on_stats, &ls);
	while (!ls.done)
		event_base_loop(r.base, EVLOOP_ONCE);
	qsort(r.late, r.nlate, sizeof(*r.late), bench_cmp);
	printf("{\"bench\":\"e2e.lateness\",\"impl\":\"timerd\",\"rep\":%u,\"rate\":%u,\"delay_ms\":%u,\"expected\":%"
	       PRIu64 ",\"fires\":%zu,\"early\":%" PRIu64 ",\"p50_ns\":%" PRId64 ",\"p99_ns\":%" PRId64
	       ",\"p999_ns\":%" PRId64 ",\"max_ns\":%" PRId64 ",\"notices\":%" PRIu64 ",\"arm_backlog_max\":%" PRIu64
	       ",\"errors\":%" PRIu64 ",\"daemon_engine_late_p99_ns\":%" PRId64 ",\"daemon_server_late_p99_ns\":%" PRId64
	       "}\n", c->rep, c->rate, c->delay_ms, r.issued, r.nlate, r.early,
	       bench_pct(r.late, r.nlate, 50), bench_pct(r.late, r.nlate, 99), bench_pct(r.late, r.nlate, 99.9),
	       r.nlate ? r.late[r.nlate - 1] : 0, r.notices, r.backlog_max, r.errors, ls.engine_p99, ls.server_p99);
	fflush(stdout);
	timerd_async_free(w);
	timerd_async_free(r.armer);
	free(r.late);
	event_base_free(r.base);
}

/* ------------------------------------------------------------------------ */

/* Parses the command line into c. */
static void bench_args(struct bench_cfg *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' }, { "mode", required_argument, NULL, 'm' },
		{ "conns", required_argument, NULL, 'c' }, { "pipeline", required_argument, NULL, 'p' },
		{ "time", required_argument, NULL, 't' }, { "keys", required_argument, NULL, 'k' },
		{ "rtt-ops", required_argument, NULL, 'n' }, { "rate", required_argument, NULL, 'r' },
		{ "delay", required_argument, NULL, 'd' }, { "lat-time", required_argument, NULL, 'l' },
		{ "rep", required_argument, NULL, 'R' }, { "quick", no_argument, NULL, 'q' },
		{ "count", required_argument, NULL, 'C' }, { "ca", required_argument, NULL, 'A' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	int o;

	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		unsigned v = optarg ? (unsigned)strtoul(optarg, NULL, 10) : 0;

		switch (o) {
		case 's': c->socket = optarg; break;
		case 'A': c->ca = optarg; break;
		case 'm': c->mode = optarg; break;
		case 'c': c->conns = v ? v : 1; break;
		case 'p': c->pipeline = v ? v : 1; break;
		case 't': c->time_ms = v ? v : 100; break;
		case 'k': c->keys = v; break;
		case 'n': c->rtt_ops = v ? v : 1; break;
		case 'r': c->rate = v ? v : 1; break;
		case 'd': c->delay_ms = v; c->delay_set = true; break;
		case 'C': c->count = strtoull(optarg, NULL, 10); break;
		case 'l': c->lat_ms = v ? v : 100; break;
		case 'R': c->rep = v; break;
		case 'q': c->time_ms = 500; c->rtt_ops = 5000; c->lat_ms = 1000; break;
		default:
			fprintf(stderr, "usage: timerd-bench --socket PATH [--mode arm|rtt|lateness|all] [--conns N] "
				"[--pipeline N] [--time MS] [--keys N] [--rtt-ops N] [--rate N] [--delay MS] "
				"[--lat-time MS] [--quick] [--rep N] [--count N]\n");
			exit(o == 'h' ? 0 : 2);
		}
	}
}

int main(int argc, char **argv)
{
	struct bench_cfg c = { .mode = "all", .conns = 4, .pipeline = 100, .keys = 100000, .rate = 10000,
			       .time_ms = 2000, .rtt_ops = 20000, .delay_ms = 50, .lat_ms = 3000 };

	signal(SIGPIPE, SIG_IGN);
	bench_args(&c, argc, argv);
	if (!c.keys && strcmp(c.mode, "fill"))
		c.keys = 1;	/* only fill makes anonymous timers */
	if (!strcmp(c.mode, "arm") || !strcmp(c.mode, "all"))
		bench_arm(&c);
	if (!strcmp(c.mode, "rtt") || !strcmp(c.mode, "all"))
		bench_rtt(&c);
	if (!strcmp(c.mode, "lateness") || !strcmp(c.mode, "all"))
		bench_lateness(&c);
	if (!strcmp(c.mode, "fill"))
		bench_fill(&c);
	return 0;
}
