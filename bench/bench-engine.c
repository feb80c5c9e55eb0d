/*
 * bench-engine.c -- the timer engine beside libevent's timer heap and a
 * plain binary heap, in one run.
 *
 *	engine.arm / engine.rearm / engine.cancel   ns_per_op at `pending` timers
 *	engine.memory                               bytes_per_timer (RSS growth / N)
 *	engine.lateness                             fire lateness percentiles
 *	engine.storm                                2 threads re-arming 1000 timers
 *	engine.keyed                                creating N keyed timers: throughput
 *	                                            and the per-arm tail (table resizes)
 *	engine.calendar                             arming N keyed calendar timers beside N
 *	                                            keyed periodic ones: ns per arm (parse,
 *	                                            first elapse, engine_arm) and RSS / N
 *	mem.latency                                 ns per dependent load (the floor
 *	                                            of any op on a random timer)
 *
 * timerd's figures are throughput with the dispatcher's work included: the
 * clock stops when engine_sync() reports every request applied to the
 * wheel. Deadlines are spread over 10 s..1 h so nothing fires meanwhile.
 */
#include "config.h"

#include <event2/event.h>
#include <signal.h>
#include <sys/timerfd.h>
#include <sys/wait.h>

#include "bench.h"
#include "cal/cal.h"
#include "engine.h"
#include "hist.h"

#define MS ENGINE_NS_PER_MS
#define S  ENGINE_NS_PER_S

static struct bench_opts O;
static unsigned long long R = 0x2545F4914F6CDD1DULL;

static uint64_t rnd(void)
{
	R ^= R >> 12;
	R ^= R << 25;
	R ^= R >> 27;
	return R * 2685821657736338717ULL;
}

/* A random delay in [10 s, 1 h). */
static int64_t far_delay(void)
{
	return 10 * S + (int64_t)(rnd() % (uint64_t)(3590 * S));
}

/* Prints one ns_per_op line. */
static void emit_ns(const char *bench, const char *impl, uint64_t pending, const double *ns,
		    unsigned n)
{
	struct bench_json j;

	bench_json_begin(&j, bench, impl, 1);
	bench_json_uint(&j, "pending", pending);
	bench_json_ns(&j, ns, n);
	bench_json_end(&j);
}

/* ---- binary heap baseline: intrusive nodes with their heap index ---- */

struct bh_node {
	int64_t deadline;
	size_t idx;		/* SIZE_MAX: not in the heap */
};

struct bheap {
	struct bh_node **a;
	size_t n, cap;
};

/* Swaps heap slots i and j. */
static void bh_swap(struct bheap *h, size_t i, size_t j)
{
	struct bh_node *t = h->a[i];

	h->a[i] = h->a[j];
	h->a[j] = t;
	h->a[i]->idx = i;
	h->a[j]->idx = j;
}

/* Restores the heap property around slot i. */
static void bh_fix(struct bheap *h, size_t i)
{
	while (i && h->a[(i - 1) / 2]->deadline > h->a[i]->deadline) {
		bh_swap(h, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
	for (;;) {
		size_t l = 2 * i + 1, m = i;

		if (l < h->n && h->a[l]->deadline < h->a[m]->deadline)
			m = l;
		if (l + 1 < h->n && h->a[l + 1]->deadline < h->a[m]->deadline)
			m = l + 1;
		if (m == i)
			return;
		bh_swap(h, i, m);
		i = m;
	}
}

static void bh_add(struct bheap *h, struct bh_node *x)
{
	if (h->n == h->cap) {
		h->cap = h->cap ? h->cap * 2 : 1024;
		h->a = realloc(h->a, h->cap * sizeof(*h->a));
		if (!h->a)
			bench_die("bench-engine: out of memory");
	}
	h->a[h->n] = x;
	x->idx = h->n++;
	bh_fix(h, x->idx);
}

static void bh_del(struct bheap *h, struct bh_node *x)
{
	size_t i = x->idx;

	h->n--;
	if (i != h->n) {
		h->a[i] = h->a[h->n];
		h->a[i]->idx = i;
		bh_fix(h, i);
	}
	x->idx = SIZE_MAX;
}

/* Re-arms x: a deadline change and one sift. */
static void bh_move(struct bheap *h, struct bh_node *x, int64_t deadline)
{
	x->deadline = deadline;
	bh_fix(h, x->idx);
}

/* ---- the three operations, per implementation ---- */

struct ops_result {
	double arm[BENCH_MAX_REPS], rearm[BENCH_MAX_REPS], cancel[BENCH_MAX_REPS];
};

/* Monotonic now (the bench's own clock reads are part of each op, as in the engine). */
static int64_t now_ns(void)
{
	return (int64_t)bench_now_ns();
}

/* Shuffles ids (Fisher-Yates). */
static void shuffle(uint64_t *v, size_t n)
{
	for (size_t i = n; i > 1; i--) {
		size_t j = rnd() % i;
		uint64_t t = v[i - 1];

		v[i - 1] = v[j];
		v[j] = t;
	}
}

/* Arms one numeric timer far ahead; returns its id. */
static uint64_t td_arm(struct engine *e, uint64_t id)
{
	struct engine_arm a = { .id = id, .when = ENGINE_AFTER, .time = far_delay() };
	struct engine_arm_result r;

	if (engine_arm(e, &a, &r))
		bench_die("bench-engine: engine_arm failed");
	return r.id;
}

/* timerd: prefill n, then reps of arm m new / re-arm m old / cancel the m new. */
static void ops_timerd(uint64_t n, size_t m, struct ops_result *res)
{
	struct engine_config cfg = { .max_timers = n + m + 1024 };
	uint64_t *ids = malloc(n * sizeof(*ids)), *fresh = malloc(m * sizeof(*fresh));
	struct engine *e;
	uint64_t t0;

	if (!ids || !fresh || engine_create(&cfg, &e) || engine_start(e))
		bench_die("bench-engine: engine setup failed");
	for (uint64_t i = 0; i < n; i++)
		ids[i] = td_arm(e, 0);
	engine_sync(e);
	for (unsigned r = 0; r < O.reps; r++) {
		t0 = bench_now_ns();
		for (size_t i = 0; i < m; i++)
			fresh[i] = td_arm(e, 0);
		engine_sync(e);
		res->arm[r] = (double)(bench_now_ns() - t0) / (double)m;
		t0 = bench_now_ns();
		for (size_t i = 0; i < m; i++)
			td_arm(e, ids[rnd() % n]);
		engine_sync(e);
		res->rearm[r] = (double)(bench_now_ns() - t0) / (double)m;
		shuffle(fresh, m);
		t0 = bench_now_ns();
		for (size_t i = 0; i < m; i++)
			engine_cancel(e, fresh[i], NULL, 0);
		engine_sync(e);
		res->cancel[r] = (double)(bench_now_ns() - t0) / (double)m;
	}
	engine_destroy(e);
	free(ids);
	free(fresh);
}

static void ev_nop(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

/* Arms ev after a random far delay. */
static void ev_arm(struct event *ev)
{
	int64_t d = far_delay();
	struct timeval tv = { .tv_sec = d / S, .tv_usec = (d % S) / 1000 };

	event_add(ev, &tv);
}

/* libevent: the same sequence with event_add / event_del on one event_base. */
static void ops_libevent(uint64_t n, size_t m, struct ops_result *res)
{
	struct event_base *base = event_base_new();
	size_t sz = event_get_struct_event_size();
	char *evs = calloc(n + m, sz);
	uint64_t *order = malloc(m * sizeof(*order)), t0;

	if (!base || !evs || !order)
		bench_die("bench-engine: libevent setup failed");
	for (uint64_t i = 0; i < n + m; i++)
		event_assign((struct event *)(evs + i * sz), base, -1, 0, ev_nop, NULL);
	for (uint64_t i = 0; i < n; i++)
		ev_arm((struct event *)(evs + i * sz));
	for (unsigned r = 0; r < O.reps; r++) {
		t0 = bench_now_ns();
		for (size_t i = 0; i < m; i++)
			ev_arm((struct event *)(evs + (n + i) * sz));
		res->arm[r] = (double)(bench_now_ns() - t0) / (double)m;
		t0 = bench_now_ns();
		for (size_t i = 0; i < m; i++)
			ev_arm((struct event *)(evs + (rnd() % n) * sz));
		res->rearm[r] = (double)(bench_now_ns() - t0) / (double)m;
		for (size_t i = 0; i < m; i++)
			order[i] = n + i;
		shuffle(order, m);
		t0 = bench_now_ns();
		for (size_t i = 0; i < m; i++)
			event_del((struct event *)(evs + order[i] * sz));
		res->cancel[r] = (double)(bench_now_ns() - t0) / (double)m;
	}
	for (uint64_t i = 0; i < n + m; i++)
		event_del((struct event *)(evs + i * sz));
	event_base_free(base);
	free(evs);
	free(order);
}

/* binheap: the same sequence; each op reads the clock like the others do. */
static void ops_binheap(uint64_t n, size_t m, struct ops_result *res)
{
	struct bh_node *nodes = calloc(n + m, sizeof(*nodes));
	uint64_t *order = malloc(m * sizeof(*order)), t0;
	struct bheap h = { 0 };

	if (!nodes || !order)
		bench_die("bench-engine: out of memory");
	for (uint64_t i = 0; i < n; i++) {
		nodes[i].deadline = now_ns() + far_delay();
		bh_add(&h, &nodes[i]);
	}
	for (unsigned r = 0; r < O.reps; r++) {
		t0 = bench_now_ns();
		for (size_t i = 0; i < m; i++) {
			nodes[n + i].deadline = now_ns() + far_delay();
			bh_add(&h, &nodes[n + i]);
		}
		res->arm[r] = (double)(bench_now_ns() - t0) / (double)m;
		t0 = bench_now_ns();
		for (size_t i = 0; i < m; i++)
			bh_move(&h, &nodes[rnd() % n], now_ns() + far_delay());
		res->rearm[r] = (double)(bench_now_ns() - t0) / (double)m;
		for (size_t i = 0; i < m; i++)
			order[i] = n + i;
		shuffle(order, m);
		t0 = bench_now_ns();
		for (size_t i = 0; i < m; i++)
			bh_del(&h, &nodes[order[i]]);
		res->cancel[r] = (double)(bench_now_ns() - t0) / (double)m;
	}
	free(h.a);
	free(nodes);
	free(order);
}

/* engine.arm / rearm / cancel at each pending level for every implementation. */
static void bench_ops(void)
{
	static const uint64_t full[] = { 1000, 100000, 1000000, 10000000 };
	static const uint64_t quick[] = { 1000, 100000 };
	const uint64_t *lv = O.quick ? quick : full;
	size_t nlv = O.quick ? 2 : 4, m = O.quick ? 20000 : 200000;
	static const char *impls[] = { "timerd", "libevent", "binheap" };
	void (*fns[])(uint64_t, size_t, struct ops_result *) = { ops_timerd, ops_libevent,
								  ops_binheap };

	if (!bench_family_selected(&O, "engine.arm") && !bench_family_selected(&O, "engine.rearm") &&
	    !bench_family_selected(&O, "engine.cancel"))
		return;
	for (size_t l = 0; l < nlv; l++)
		for (size_t i = 0; i < 3; i++) {
			struct ops_result res;

			fns[i](lv[l], m, &res);
			emit_ns("engine.arm", impls[i], lv[l], res.arm, O.reps);
			emit_ns("engine.rearm", impls[i], lv[l], res.rearm, O.reps);
			emit_ns("engine.cancel", impls[i], lv[l], res.cancel, O.reps);
		}
}

/* ---- memory per timer ---- */

/* Resident set size of this process in bytes. */
static uint64_t rss_bytes(void)
{
	unsigned long size = 0, res = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (!f || fscanf(f, "%lu %lu", &size, &res) != 2)
		bench_die("bench-engine: cannot read /proc/self/statm");
	fclose(f);
	return (uint64_t)res * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* Child: fills an engine with n timers (keys of keylen bytes or none); prints bytes/timer. */
static void memory_child(uint64_t n, unsigned keylen)
{
	struct engine_config cfg = { .max_timers = n + 1 };
	struct engine *e;
	char key[32];
	uint64_t base;
	struct bench_json j;

	base = rss_bytes();
	if (engine_create(&cfg, &e) || engine_start(e))
		bench_die("bench-engine: engine setup failed");
	for (uint64_t i = 0; i < n; i++) {
		struct engine_arm a = { .when = ENGINE_AFTER, .time = far_delay() };
		struct engine_arm_result r;

		if (keylen) {
			snprintf(key, sizeof(key), "k%0*llu", (int)keylen - 1, (unsigned long long)i);
			a.key = key;
			a.keylen = keylen;
		}
		if (engine_arm(e, &a, &r))
			bench_die("bench-engine: engine_arm failed at %llu", (unsigned long long)i);
	}
	engine_sync(e);
	bench_json_begin(&j, "engine.memory", "timerd", 1);
	bench_json_uint(&j, "pending", n);
	bench_json_uint(&j, "key_bytes", keylen);
	bench_json_num(&j, "bytes_per_timer", (double)(rss_bytes() - base) / (double)n);
	bench_json_end(&j);
	_exit(0);
}

/* Child: the same for libevent events (struct event + heap slot). */
static void memory_child_libevent(uint64_t n, unsigned keylen)
{
	uint64_t base = rss_bytes();
	struct event_base *b = event_base_new();
	struct bench_json j;

	(void)keylen;
	for (uint64_t i = 0; i < n; i++)
		ev_arm(event_new(b, -1, 0, ev_nop, NULL));
	bench_json_begin(&j, "engine.memory", "libevent", 1);
	bench_json_uint(&j, "pending", n);
	bench_json_uint(&j, "key_bytes", 0);
	bench_json_num(&j, "bytes_per_timer", (double)(rss_bytes() - base) / (double)n);
	bench_json_end(&j);
	_exit(0);
}

/* Runs fn in a child so RSS growth is measured from a clean heap. */
static void in_child(void (*fn)(uint64_t, unsigned), uint64_t n, unsigned keylen)
{
	pid_t pid;
	int st;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		bench_die("bench-engine: fork failed");
	if (pid == 0)
		fn(n, keylen);
	waitpid(pid, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		bench_die("bench-engine: memory child failed");
}

static void bench_memory(void)
{
	uint64_t n = O.quick ? 1000000 : 10000000;

	if (!bench_selected(&O, "engine.memory"))
		return;
	in_child(memory_child, n, 0);
	in_child(memory_child, n, 16);
	in_child(memory_child_libevent, n, 0);
}

/* ---- lateness ---- */

struct late_ctx {
	struct hist h;
	_Atomic uint64_t seen;
};

/* Records callback-observed lateness (inline delivery: the dispatcher thread). */
static void late_fire(void *arg, const struct engine_fire *f)
{
	struct late_ctx *c = arg;

	hist_record(&c->h, now_ns() - f->deadline);
	atomic_fetch_add_explicit(&c->seen, 1, memory_order_relaxed);
}

/* Percentiles of one lateness run. */
struct late_fig {
	double p50, p99, p999, max;
	uint64_t samples;
};

/* Takes the percentiles of a histogram. */
static struct late_fig late_figures(struct hist *h)
{
	struct hist_snap *s = malloc(sizeof(*s));
	struct late_fig f;

	if (!s)
		bench_die("bench-engine: out of memory");
	hist_snapshot(h, s);
	f.p50 = (double)hist_percentile(s, 50);
	f.p99 = (double)hist_percentile(s, 99);
	f.p999 = (double)hist_percentile(s, 99.9);
	f.max = (double)s->max;
	f.samples = s->count;
	free(s);
	return f;
}

/* Prints one lateness line: medians over the repetitions, the largest max. */
static void emit_late(const char *mode, unsigned rate, const struct late_fig *f, unsigned n)
{
	double p50[BENCH_MAX_REPS], p99[BENCH_MAX_REPS], p999[BENCH_MAX_REPS], max = 0;
	uint64_t samples = 0;
	struct bench_json j;

	for (unsigned i = 0; i < n; i++) {
		p50[i] = f[i].p50;
		p99[i] = f[i].p99;
		p999[i] = f[i].p999;
		max = f[i].max > max ? f[i].max : max;
		samples += f[i].samples;
	}
	bench_json_begin(&j, "engine.lateness", strcmp(mode, "raw-timerfd") ? "timerd" : "timerfd", 1);
	bench_json_str(&j, "mode", mode);
	bench_json_uint(&j, "rate", rate);
	bench_json_uint(&j, "samples", samples);
	bench_json_uint(&j, "p50_ns", (uint64_t)bench_median(p50, n));
	bench_json_uint(&j, "p99_ns", (uint64_t)bench_median(p99, n));
	bench_json_uint(&j, "p999_ns", (uint64_t)bench_median(p999, n));
	bench_json_uint(&j, "max_ns", (uint64_t)max);
	bench_json_uint(&j, "p99_min_ns", (uint64_t)bench_extreme(p99, n, false));
	bench_json_uint(&j, "p99_max_ns", (uint64_t)bench_extreme(p99, n, true));
	bench_json_uint(&j, "reps", n);
	bench_json_end(&j);
}

/* One timerfd re-armed at each deadline: the floor for one timer. */
static void late_raw(unsigned rate, uint64_t n, struct hist *h)
{
	int fd = timerfd_create(CLOCK_MONOTONIC, 0);
	int64_t t0 = now_ns() + 20 * MS, step = S / rate;
	uint64_t v;

	for (uint64_t i = 0; i < n; i++) {
		int64_t d = t0 + (int64_t)i * step;
		struct itimerspec its = { .it_value = { d / S, d % S } };

		timerfd_settime(fd, TFD_TIMER_ABSTIME, &its, NULL);
		if (read(fd, &v, sizeof(v)) != sizeof(v))
			bench_die("bench-engine: timerfd read failed");
		hist_record(h, now_ns() - d);
	}
	close(fd);
}

/* The engine with n timers armed at rate per second. */
static void late_engine(unsigned rate, uint64_t n, int64_t precision, struct late_ctx *c)
{
	struct engine_config cfg = { .on_fire = late_fire, .fire_arg = c,
				     .precision_ns = precision, .max_timers = n + 16 };
	int64_t t0 = now_ns() + 300 * MS, step = S / rate;
	struct engine *e;

	if (engine_create(&cfg, &e) || engine_start(e))
		bench_die("bench-engine: engine setup failed");
	for (uint64_t i = 0; i < n; i++) {
		struct engine_arm a = { .when = ENGINE_AT_MONO, .time = t0 + (int64_t)i * step };
		struct engine_arm_result r;

		engine_arm(e, &a, &r);
	}
	while (atomic_load(&c->seen) < n)
		bench_sleep_ms(10);
	engine_destroy(e);
}

/*
 * The three modes take turns, repetition after repetition, so background
 * load falls on all of them alike; each figure is the median over the
 * repetitions of that repetition's percentile.
 */
static void bench_lateness(void)
{
	static const unsigned rates[] = { 1000, 10000, 100000 };
	static const char *modes[] = { "raw-timerfd", "default", "precise" };
	double secs = O.quick ? 0.3 : 1.0;
	unsigned reps = O.quick ? 1 : 5;

	if (!bench_selected(&O, "engine.lateness"))
		return;
	for (size_t i = 0; i < 3; i++) {
		uint64_t n = (uint64_t)(rates[i] * secs);
		struct late_fig fig[3][BENCH_MAX_REPS];
		struct late_ctx *c = malloc(sizeof(*c));

		if (!c)
			bench_die("bench-engine: out of memory");
		for (unsigned r = 0; r < reps; r++)
			for (size_t m = 0; m < 3; m++) {
				memset(c, 0, sizeof(*c));
				if (m == 0)
					late_raw(rates[i], n, &c->h);
				else
					late_engine(rates[i], n, m == 2 ? 100 * ENGINE_NS_PER_US : 0, c);
				fig[m][r] = late_figures(&c->h);
			}
		for (size_t m = 0; m < 3; m++)
			emit_late(modes[m], rates[i], fig[m], reps);
		free(c);
	}
}

/* ---- storm: two threads re-arming the same 1000 timers ---- */

struct storm_arg {
	struct engine *e;
	_Atomic bool *stop;
	uint64_t arms;
	unsigned seed;
};

static void *storm_thread(void *arg)
{
	struct storm_arg *a = arg;
	unsigned long long s = 0x9E3779B97F4A7C15ULL * (a->seed + 1);
	char key[16];

	while (!atomic_load_explicit(a->stop, memory_order_relaxed)) {
		for (int i = 0; i < 64; i++) {
			struct engine_arm r = { .key = key, .when = ENGINE_AFTER };
			struct engine_arm_result res;

			s ^= s << 13;
			s ^= s >> 7;
			s ^= s << 17;
			r.keylen = (uint32_t)snprintf(key, sizeof(key), "s%u", (unsigned)(s % 1000));
			r.time = S + (int64_t)(s % (uint64_t)S);
			engine_arm(a->e, &r, &res);
		}
		a->arms += 64;
	}
	return NULL;
}

static void bench_storm(void)
{
	double aps[BENCH_MAX_REPS], frac[BENCH_MAX_REPS], lost[BENCH_MAX_REPS];
	struct bench_json j;

	if (!bench_selected(&O, "engine.storm"))
		return;
	for (unsigned r = 0; r < O.reps; r++) {
		struct engine_config cfg = { 0 };
		_Atomic bool stop = false;
		struct storm_arg a[2];
		pthread_t t[2];
		struct engine_stats st;
		uint64_t t0, ns;
		struct engine *e;

		if (engine_create(&cfg, &e) || engine_start(e))
			bench_die("bench-engine: engine setup failed");
		t0 = bench_now_ns();
		for (int i = 0; i < 2; i++) {
			a[i] = (struct storm_arg){ .e = e, .stop = &stop, .seed = (unsigned)i };
			pthread_create(&t[i], NULL, storm_thread, &a[i]);
		}
		bench_sleep_ms(O.quick ? 200 : 1000);
		atomic_store(&stop, true);
		for (int i = 0; i < 2; i++)
			pthread_join(t[i], NULL);
		engine_sync(e);
		ns = bench_now_ns() - t0;
		engine_stats(e, &st);
		aps[r] = (double)st.arms * 1e9 / (double)ns;
		frac[r] = (double)(st.coalesced + st.lost_races) / (double)st.arms;
		lost[r] = (double)st.lost_races / (double)st.arms;
		engine_destroy(e);
	}
	bench_json_begin(&j, "engine.storm", "timerd", 2);
	bench_json_uint(&j, "timers", 1000);
	bench_json_median(&j, "arms_per_s", aps, O.reps);
	bench_json_median(&j, "coalesced_frac", frac, O.reps);
	bench_json_median(&j, "lost_race_frac", lost, O.reps);
	bench_json_uint(&j, "reps", O.reps);
	bench_json_end(&j);
}

/*
 * engine.keyed: one thread creates N timers with 16-byte keys in a fresh
 * engine. Every shard of the key table doubles many times meanwhile; each
 * arm is timed, so a resize that holds a shard's lock shows in the tail:
 * slow_arms counts the arms over KEYED_SLOW_NS, slow_ms sums their time.
 */
#define KEYED_SLOW_NS 100000
static void bench_keyed(void)
{
	uint64_t n = O.quick ? 200000 : 2000000;
	unsigned reps = O.reps < 3 ? O.reps : 3;
	double tput[BENCH_MAX_REPS], p99[BENCH_MAX_REPS], p999[BENCH_MAX_REPS], max = 0;
	double slow[BENCH_MAX_REPS], slow_ms[BENCH_MAX_REPS];
	struct bench_json j;

	if (!bench_selected(&O, "engine.keyed"))
		return;
	for (unsigned r = 0; r < reps; r++) {
		struct engine_config cfg = { .max_timers = n + 1024 };
		struct late_ctx *c = calloc(1, sizeof(*c));
		struct late_fig f;
		struct engine *e;
		uint64_t t0;
		char key[32];

		if (!c || engine_create(&cfg, &e) || engine_start(e))
			bench_die("bench-engine: engine setup failed");
		slow[r] = slow_ms[r] = 0;
		t0 = bench_now_ns();
		for (uint64_t i = 0; i < n; i++) {
			struct engine_arm a = { .key = key, .when = ENGINE_AFTER, .time = far_delay() };
			struct engine_arm_result res;
			int64_t t1;

			a.keylen = (uint32_t)snprintf(key, sizeof(key), "key-%012llu", (unsigned long long)i);
			t1 = now_ns();
			if (engine_arm(e, &a, &res))
				bench_die("bench-engine: keyed arm failed");
			t1 = now_ns() - t1;
			hist_record(&c->h, t1);
			if (t1 > KEYED_SLOW_NS) {
				slow[r]++;
				slow_ms[r] += (double)t1 / 1e6;
			}
		}
		engine_sync(e);
		tput[r] = (double)(bench_now_ns() - t0) / (double)n;
		f = late_figures(&c->h);
		p99[r] = f.p99;
		p999[r] = f.p999;
		max = f.max > max ? f.max : max;
		engine_destroy(e);
		free(c);
	}
	bench_json_begin(&j, "engine.keyed", "timerd", 1);
	bench_json_uint(&j, "timers", n);
	bench_json_uint(&j, "key_bytes", 16);
	bench_json_median(&j, "ns_per_op", tput, reps);
	bench_json_median(&j, "p99_ns", p99, reps);
	bench_json_median(&j, "p999_ns", p999, reps);
	bench_json_num(&j, "max_ns", max);
	bench_json_median(&j, "slow_arms", slow, reps);
	bench_json_median(&j, "slow_ms", slow_ms, reps);
	bench_json_uint(&j, "reps", reps);
	bench_json_end(&j);
}

/*
 * engine.calendar: what a daemon does per calendar Arm, for N keyed timers
 * in a fresh child (RSS measured from a clean heap): cal_parse of the
 * expression, cal_next for the first elapse after now, engine_arm; each
 * phase timed over all N, then engine_sync. Beside it, N keyed periodic
 * timers (period 1 h, first fire in 10 s..1 h) armed the same way: the
 * memory a schedule costs over a period, and the arm cost. Nothing fires.
 * Each phase also reports CPU time per op (*_cpu_ns: this thread's for
 * parse and next, the process's for the arms, which includes the
 * dispatcher applying them): on a loaded machine wall time is mostly
 * waiting for a CPU.
 */
static const char *const cal_exprs[] = {
	"Mon..Fri *-*-* 09:00:00 Europe/Paris",	/* typical: weekdays, a zone */
	"*:0/15",				/* every 15 minutes, local zone */
};

/* CPU time of a clock (CLOCK_THREAD_CPUTIME_ID, CLOCK_PROCESS_CPUTIME_ID) in ns. */
static int64_t cpu_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * S + ts.tv_nsec;
}

/* Child: arms n keyed timers, calendar (expr) or periodic (expr NULL); prints one line. */
static void cal_child(uint64_t n, const char *expr)
{
	struct engine_config cfg = { .max_timers = n + 1 };
	struct cal **v = expr ? malloc(n * sizeof(*v)) : NULL;
	int64_t *first = expr ? malloc(n * sizeof(*first)) : NULL, now_real, t0, t1, t2, t3, c0, c1, c2, p2, p3;
	uint64_t base = rss_bytes();
	struct engine *e;
	struct bench_json j;
	char key[32], err[256];
	struct timespec ts;

	if ((expr && (!v || !first)) || engine_create(&cfg, &e) || engine_start(e))
		bench_die("bench-engine: calendar setup failed");
	clock_gettime(CLOCK_REALTIME, &ts);
	now_real = (int64_t)ts.tv_sec * S + ts.tv_nsec;
	t0 = now_ns();
	c0 = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
	for (uint64_t i = 0; expr && i < n; i++)
		if (cal_parse(expr, &v[i], err, sizeof(err)))
			bench_die("bench-engine: cal_parse '%s': %s", expr, err);
	t1 = now_ns();
	c1 = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
	for (uint64_t i = 0; expr && i < n; i++)
		if (cal_next(v[i], now_real, &first[i]))
			bench_die("bench-engine: '%s' never elapses", expr);
	t2 = now_ns();
	c2 = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
	p2 = cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
	for (uint64_t i = 0; i < n; i++) {
		struct engine_arm a = { .key = key, .when = ENGINE_AFTER, .time = far_delay(), .period = 3600 * S };
		struct engine_arm_result r;

		a.keylen = (uint32_t)snprintf(key, sizeof(key), "key-%012llu", (unsigned long long)i);
		if (expr) {
			a.when = ENGINE_AT_REAL;
			a.time = first[i];
			a.period = 0;
			a.cal = v[i];
		}
		if (engine_arm(e, &a, &r))
			bench_die("bench-engine: calendar arm failed at %llu", (unsigned long long)i);
	}
	engine_sync(e);
	t3 = now_ns();
	p3 = cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
	free(v);	/* the engine owns the schedules now */
	free(first);
	bench_json_begin(&j, "engine.calendar", expr ? "calendar" : "periodic", 1);
	bench_json_str(&j, "expr", expr ? expr : "-");
	bench_json_uint(&j, "timers", n);
	bench_json_uint(&j, "key_bytes", 16);
	bench_json_num(&j, "arm_ns", (double)(t3 - t0) / (double)n);
	bench_json_num(&j, "parse_ns", (double)(t1 - t0) / (double)n);
	bench_json_num(&j, "next_ns", (double)(t2 - t1) / (double)n);
	bench_json_num(&j, "engine_arm_ns", (double)(t3 - t2) / (double)n);
	bench_json_num(&j, "parse_cpu_ns", (double)(c1 - c0) / (double)n);
	bench_json_num(&j, "next_cpu_ns", (double)(c2 - c1) / (double)n);
	bench_json_num(&j, "engine_arm_cpu_ns", (double)(p3 - p2) / (double)n);
	/* the arrays (mmap-sized chunks) went back to the system at free: RSS is the timers' */
	bench_json_num(&j, "bytes_per_timer", (double)(rss_bytes() - base) / (double)n);
	bench_json_end(&j);
	_exit(0);
}

/* Runs cal_child for one expression (NULL: periodic) in a child. */
static void cal_in_child(uint64_t n, const char *expr)
{
	pid_t pid;
	int st;

	fflush(stdout);
	if ((pid = fork()) < 0)
		bench_die("bench-engine: fork failed");
	if (pid == 0)
		cal_child(n, expr);
	waitpid(pid, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		bench_die("bench-engine: calendar child failed");
}

static void bench_calendar(void)
{
	uint64_t n = O.quick ? 100000 : 1000000;

	if (!bench_selected(&O, "engine.calendar"))
		return;
	for (unsigned r = 0; r < (O.reps < 3 ? O.reps : 3); r++) {
		cal_in_child(n, NULL);
		for (size_t i = 0; i < sizeof(cal_exprs) / sizeof(cal_exprs[0]); i++)
			cal_in_child(n, cal_exprs[i]);
	}
}

/*
 * mem.latency: ns per dependent load over a random cyclic permutation of
 * cache lines in `mb` MiB. An arm, re-arm or cancel of a random timer among
 * many touches its record and its id slot, which are not in cache: this is
 * the floor each such access costs on this machine.
 */
static double memlat_once(size_t mb)
{
	size_t n = mb * 1024 * 1024 / CACHELINE, iters = O.quick ? 2000000 : 10000000, p = 0;
	uint64_t *a = aligned_alloc(CACHELINE, n * CACHELINE), t0, ns;
	size_t *perm = malloc(n * sizeof(*perm));

	if (!a || !perm)
		bench_die("bench-engine: out of memory");
	for (size_t i = 0; i < n; i++)
		perm[i] = i;
	for (size_t i = n - 1; i > 0; i--) {
		size_t j = rnd() % (i + 1), t = perm[i];

		perm[i] = perm[j];
		perm[j] = t;
	}
	for (size_t i = 0; i < n; i++)
		a[perm[i] * (CACHELINE / 8)] = perm[(i + 1) % n] * (CACHELINE / 8);
	free(perm);
	t0 = bench_now_ns();
	for (size_t i = 0; i < iters; i++)
		p = a[p];
	ns = bench_now_ns() - t0;
	bench_sink(p);
	free(a);
	return (double)ns / (double)iters;
}

/* mem.latency at 2 MiB (cache), 32 MiB (past the last-level cache) and 256 MiB. */
static void bench_memlat(void)
{
	static const size_t sizes[] = { 2, 32, 256 };
	double ns[BENCH_MAX_REPS];
	struct bench_json j;

	if (!bench_selected(&O, "mem.latency"))
		return;
	for (size_t k = 0; k < ARRAY_SIZE(sizes); k++) {
		for (unsigned r = 0; r < O.reps; r++)
			ns[r] = memlat_once(sizes[k]);
		bench_json_begin(&j, "mem.latency", "dependent-load", 1);
		bench_json_uint(&j, "mib", sizes[k]);
		bench_json_ns(&j, ns, O.reps);
		bench_json_end(&j);
	}
}

int main(int argc, char **argv)
{
	bench_opts_parse(&O, argc, argv, "bench-engine");
	bench_meta(&O, "bench-engine");
	bench_memory();
	bench_ops();
	bench_lateness();
	bench_storm();
	bench_keyed();
	bench_calendar();
	bench_memlat();
	return 0;
}
