/*
 * quota-fair.c -- the fairness check of per-identity quotas (quotas.sh,
 * doc/security.md "Quotas"): while one identity floods arms (several
 * connections, each pipelining a window of them), another identity's ping
 * and arm round trips must stay within 2x of what they were idle.
 *
 *	quota-fair SOCKET FLOOD_IDENTITY VICTIM_IDENTITY [CONNS [WINDOW [SAMPLES]]]
 *
 * Secrets come from $FLOOD_SECRET and $VICTIM_SECRET. Prints one JSON line
 * with the figures; exits 0 if each flood p99 is at most 2x its idle p99
 * (with a 200 us floor on the idle figure: scheduler noise on a shared
 * machine), 1 with the figures otherwise, 2 on a setup error. With
 * $QUOTA_FAIR_REPORT=1 it only reports (a run without the quota, for the
 * figures in doc/benchmarks.md).
 */
#include "config.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "client/timerd.h"

#define FAIR_MAX_CONNS 64
/* Keys the flood cycles through: its timers stay bounded whatever its rate. */
#define FAIR_FLOOD_KEYS 1024
/* Between two samples, ns: 400 samples span about half a second of the flood. */
#define FAIR_GAP_NS 1000000
/* The idle figure's floor, ns. */
#define FAIR_FLOOR_NS 200000

struct fair_flood {
	const char *addr;
	struct timerd_options opt;
	unsigned conns, window;
	struct event_base *base;
	struct timerd_async *c[FAIR_MAX_CONNS];
	_Atomic bool stop;
	_Atomic unsigned ready;
	_Atomic uint64_t ok, limited, other, key;
	int setup_err;
	char err[600];
};

/* CLOCK_MONOTONIC in ns. */
static int64_t fair_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void fair_arm_next(struct timerd_async *c, struct fair_flood *f);

/* A flood arm's reply: counts it and sends the next one (the window stays full). */
static void fair_on_arm(struct timerd_async *c, const struct timerd_reply *r, void *arg)
{
	struct fair_flood *f = arg;

	/* relaxed: counters read once the flood thread is joined */
	if (r->code == TIMERD_OK)
		atomic_fetch_add_explicit(&f->ok, 1, memory_order_relaxed);
	else if (r->code == TIMERD_ERATELIMIT)
		atomic_fetch_add_explicit(&f->limited, 1, memory_order_relaxed);
	else if (r->code == TIMERD_ECLOSED)
		return;
	else
		atomic_fetch_add_explicit(&f->other, 1, memory_order_relaxed);
	/* relaxed: a flag polled by the flood thread, nothing else hangs on it */
	if (!atomic_load_explicit(&f->stop, memory_order_relaxed))
		fair_arm_next(c, f);
	else if (!timerd_async_pending(c))
		event_base_loopbreak(f->base);
}

/* Sends one flood arm on c. */
static void fair_arm_next(struct timerd_async *c, struct fair_flood *f)
{
	char key[32];
	struct timerd_arm a = { .when = TIMERD_AFTER, .time_ns = 3600 * TIMERD_S, .key = key, .topic = "flood" };

	snprintf(key, sizeof(key), "f-%llu", (unsigned long long)(atomic_fetch_add_explicit(&f->key, 1,
			memory_order_relaxed) % FAIR_FLOOD_KEYS));
	if (timerd_async_arm(c, &a, fair_on_arm, f) != TIMERD_OK)
		atomic_fetch_add_explicit(&f->other, 1, memory_order_relaxed);
}

/* Stops the flood's loop once asked to (checked every 10 ms). */
static void fair_tick(evutil_socket_t fd, short what, void *arg)
{
	struct fair_flood *f = arg;

	(void)fd;
	(void)what;
	if (atomic_load_explicit(&f->stop, memory_order_relaxed))
		event_base_loopbreak(f->base);
}

/* The flood thread: conns connections, each with window arms in flight. */
static void *fair_flood_main(void *arg)
{
	struct fair_flood *f = arg;
	struct timerd_error e;
	struct timeval tv = { 0, 10000 };
	struct event *tick;

	f->base = event_base_new();
	tick = event_new(f->base, -1, EV_PERSIST, fair_tick, f);
	event_add(tick, &tv);
	for (unsigned i = 0; i < f->conns; i++) {
		if (timerd_async_connect(f->base, f->addr, &f->opt, &f->c[i], &e) != TIMERD_OK) {
			snprintf(f->err, sizeof(f->err), "flood connection %u: %s", i, e.message);
			f->setup_err = 1;
			break;
		}
		for (unsigned k = 0; k < f->window; k++)
			fair_arm_next(f->c[i], f);
	}
	/* release: the main thread reads setup_err and err after seeing ready */
	atomic_store_explicit(&f->ready, 1, memory_order_release);
	if (!f->setup_err)
		event_base_dispatch(f->base);
	for (unsigned i = 0; i < f->conns; i++)
		if (f->c[i])
			timerd_async_free(f->c[i]);
	event_free(tick);
	event_base_free(f->base);
	return NULL;
}

/* qsort comparator of int64_t. */
static int fair_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* The p-th percentile of v (n values; sorted in place). */
static int64_t fair_pct(int64_t *v, size_t n, double p)
{
	size_t i;

	qsort(v, n, sizeof(*v), fair_cmp);
	i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
	return v[i < n ? i : n - 1];
}

/* samples pings and arms as the victim; their p50 and p99 into out[4] (ping p50, p99, arm p50, p99); 0 or -1. */
static int fair_measure(struct timerd *t, size_t samples, const char *phase, int64_t out[4])
{
	int64_t *ping = calloc(samples, sizeof(*ping)), *arm = calloc(samples, sizeof(*arm));
	struct timerd_arm_result r;
	char key[48];
	int rc = -1;

	if (!ping || !arm)
		goto out;
	for (size_t i = 0; i < samples; i++) {
		struct timerd_arm a = { .when = TIMERD_AFTER, .time_ns = 3600 * TIMERD_S, .key = key, .topic = "victim" };
		int64_t t0 = fair_now();

		if (timerd_ping(t, NULL) != TIMERD_OK) {
			fprintf(stderr, "quota-fair: victim ping (%s): %s\n", phase, timerd_errmsg(t));
			goto out;
		}
		ping[i] = fair_now() - t0;
		snprintf(key, sizeof(key), "v-%s-%zu", phase, i % 64);
		t0 = fair_now();
		if (timerd_arm(t, &a, &r) != TIMERD_OK) {
			fprintf(stderr, "quota-fair: victim arm (%s): %s\n", phase, timerd_errmsg(t));
			goto out;
		}
		arm[i] = fair_now() - t0;
		nanosleep(&(struct timespec){ 0, FAIR_GAP_NS }, NULL);	/* spread over the flood's steady state */
	}
	out[0] = fair_pct(ping, samples, 50);
	out[1] = fair_pct(ping, samples, 99);
	out[2] = fair_pct(arm, samples, 50);
	out[3] = fair_pct(arm, samples, 99);
	rc = 0;
out:
	free(ping);
	free(arm);
	return rc;
}

/* An identity's options: its name and the secret in environment variable var. */
static int fair_opts(struct timerd_options *o, const char *identity, const char *var)
{
	const char *secret = getenv(var);

	if (!secret || !*secret) {
		fprintf(stderr, "quota-fair: set $%s to %s's secret\n", var, identity);
		return -1;
	}
	*o = (struct timerd_options){ .identity = identity, .secret = secret, .secret_len = strlen(secret) };
	return 0;
}

int main(int argc, char **argv)
{
	struct fair_flood f = { 0 };
	struct timerd_options vo;
	struct timerd_error e;
	struct timerd *v;
	pthread_t th;
	int64_t idle[4], flood[4], t0, t1;
	size_t samples;
	bool report = getenv("QUOTA_FAIR_REPORT") && !strcmp(getenv("QUOTA_FAIR_REPORT"), "1"), ok;

	if (argc < 4) {
		fprintf(stderr, "usage: quota-fair SOCKET FLOOD_IDENTITY VICTIM_IDENTITY [CONNS [WINDOW [SAMPLES]]]\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	f.addr = argv[1];
	f.conns = argc > 4 ? (unsigned)atoi(argv[4]) : 4;
	f.window = argc > 5 ? (unsigned)atoi(argv[5]) : 256;
	samples = argc > 6 ? (size_t)atoi(argv[6]) : 400;
	if (!f.conns || f.conns > FAIR_MAX_CONNS || !f.window || samples < 10)
		return 2;
	if (fair_opts(&f.opt, argv[2], "FLOOD_SECRET") < 0 || fair_opts(&vo, argv[3], "VICTIM_SECRET") < 0)
		return 2;
	if (timerd_connect(argv[1], &vo, &v, &e) != TIMERD_OK) {
		fprintf(stderr, "quota-fair: victim: %s\n", e.message);
		return 2;
	}
	if (fair_measure(v, samples / 4, "warm", idle) < 0 || fair_measure(v, samples, "idle", idle) < 0)
		return 2;
	if (pthread_create(&th, NULL, fair_flood_main, &f) != 0)
		return 2;
	while (!atomic_load_explicit(&f.ready, memory_order_acquire))
		nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
	if (f.setup_err) {
		pthread_join(th, NULL);
		fprintf(stderr, "quota-fair: %s\n", f.err);
		return 2;
	}
	/* the flood reaches its steady state: the bucket's first second of burst is spent */
	nanosleep(&(struct timespec){ 1, 200000000 }, NULL);
	t0 = fair_now();
	if (fair_measure(v, samples, "flood", flood) < 0)
		return 2;
	t1 = fair_now();
	atomic_store_explicit(&f.stop, true, memory_order_relaxed);
	pthread_join(th, NULL);
	timerd_close(v);
	ok = flood[1] <= 2 * (idle[1] > FAIR_FLOOR_NS ? idle[1] : FAIR_FLOOR_NS) &&
	     flood[3] <= 2 * (idle[3] > FAIR_FLOOR_NS ? idle[3] : FAIR_FLOOR_NS);
	printf("{\"bench\":\"quota-fair\",\"flood_conns\":%u,\"flood_window\":%u,\"samples\":%zu,"
	       "\"idle_ping_p50_us\":%.1f,\"idle_ping_p99_us\":%.1f,\"idle_arm_p50_us\":%.1f,\"idle_arm_p99_us\":%.1f,"
	       "\"flood_ping_p50_us\":%.1f,\"flood_ping_p99_us\":%.1f,\"flood_arm_p50_us\":%.1f,\"flood_arm_p99_us\":%.1f,"
	       "\"flood_ok\":%llu,\"flood_rate_limited\":%llu,\"flood_other\":%llu,\"flood_s\":%.3f,\"pass\":%s}\n",
	       f.conns, f.window, samples, idle[0] / 1e3, idle[1] / 1e3, idle[2] / 1e3, idle[3] / 1e3, flood[0] / 1e3,
	       flood[1] / 1e3, flood[2] / 1e3, flood[3] / 1e3, (unsigned long long)f.ok, (unsigned long long)f.limited,
	       (unsigned long long)f.other, (double)(t1 - t0) / 1e9, ok ? "true" : "false");
	if (!ok && !report)
		fprintf(stderr, "quota-fair: FAIL: under the flood the victim's p99 went from ping %.1f us / arm %.1f us "
			"(idle) to ping %.1f us / arm %.1f us: more than 2x (floor %d us)\n", idle[1] / 1e3, idle[3] / 1e3,
			flood[1] / 1e3, flood[3] / 1e3, FAIR_FLOOR_NS / 1000);
	return ok || report ? 0 : 1;
}
