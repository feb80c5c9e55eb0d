/*
 * bench.h -- helpers shared by timerd's benchmarks: options, worker threads
 * released together and stopped after a fixed time, medians of
 * repetitions, CPU pinning and JSON lines.
 *
 * Usage (one figure: median of o.reps runs of two workers):
 *
 *	struct bench_opts o;
 *	bench_opts_parse(&o, argc, argv, "bench-foo");
 *	bench_meta(&o, "bench-foo");
 *	if (bench_selected(&o, "foo.op")) {
 *		double ns[BENCH_MAX_REPS], cpu[BENCH_MAX_REPS];
 *		unsigned retried = 0;
 *		for (unsigned r = 0; r < o.reps; r++) {
 *			struct bench_thread t[2];
 *			for (unsigned a = 0;; a++) {
 *				t[0] = (struct bench_thread){ .fn = foo_worker, .arg = &obj };
 *				t[1] = t[0];
 *				bench_threads_run(&o, t, 2);
 *				cpu[r] = bench_cpu_frac(t, 2);
 *				if (!bench_retry(&o, a, cpu[r]))
 *					break;          clean, or out of attempts
 *				retried++;
 *			}
 *			ns[r] = bench_ns_per_op(t, 2);
 *		}
 *		struct bench_json j;
 *		bench_json_begin(&j, "foo.op", "impl", 2);
 *		bench_json_ns(&j, ns, o.reps);
 *		bench_json_cpu(&j, cpu, o.reps, retried);
 *		bench_json_end(&j);
 *	}
 *
 * A worker does its set-up, waits for the common start, loops in batches
 * until told to stop, records its count, then tears down:
 *
 *	static void foo_worker(struct bench_thread *t)
 *	{
 *		uint64_t n = 0;
 *
 *		setup();
 *		bench_thread_start(t);
 *		while (bench_thread_running(t)) {
 *			for (unsigned i = 0; i < BENCH_BATCH; i++)
 *				op();
 *			n += BENCH_BATCH;
 *		}
 *		bench_thread_done(t, n);        time stops here
 *		teardown();
 *	}
 *
 * Figures: ns_per_op is wall time per operation as one thread sees it
 * (its elapsed time / its operations), averaged over the measured
 * threads; each figure is the median of o.reps repetitions, printed with
 * the minimum and maximum. A run is clean when every worker was on a CPU
 * for BENCH_MIN_CPU of its loop (cpu_frac, from the thread CPU clock); on
 * a shared machine two workers squeezed onto one CPU take turns instead
 * of contending, so bench_retry() runs such a repetition again, within a
 * per-program time budget. Output is one JSON object per line on stdout;
 * the first line ({"bench":"meta",...}) names the compiler, flags and run
 * parameters. Everything here is header-only (static inline).
 */
#ifndef TIMERD_BENCH_H
#define TIMERD_BENCH_H

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "compiler.h"

#ifndef BENCH_CFLAGS
#define BENCH_CFLAGS "unknown"	/* the build passes -DBENCH_CFLAGS="..." */
#endif

#define BENCH_BATCH	128	/* operations between two looks at the stop flag */
#define BENCH_MAX_REPS	31
#define BENCH_MAX_FILTERS 16
#define BENCH_EXTRA	4	/* per-thread figures a worker may report */
#define BENCH_MIN_CPU	0.9	/* a clean run: every worker had the CPU 90% of the time */
#define BENCH_ATTEMPTS	5	/* runs tried per repetition to get a clean one */

/* Command-line options common to all benchmarks. */
struct bench_opts {
	unsigned reps;		/* repetitions per figure (median printed) */
	unsigned time_ms;	/* duration of one repetition */
	bool quick;		/* short run: 3 reps of 20 ms */
	bool pin;		/* pin worker i to CPU i mod ncpu */
	unsigned nfilters;
	const char *filter[BENCH_MAX_FILTERS];	/* bench-name prefixes */
	unsigned ncpu;
	unsigned retry_budget_ms;	/* total time retries may take */
	unsigned retry_spent_ms;
};

/* The threads of one run share this. */
struct bench_group {
	_Atomic unsigned ready;	/* workers waiting for the start */
	_Atomic bool go;	/* start signal */
	_Atomic bool stop;	/* stop signal */
};

/* One worker of a run; the caller sets fn and arg, the worker the rest. */
struct bench_thread {
	void (*fn)(struct bench_thread *);
	void *arg;
	unsigned id;			/* index in the run */
	uint64_t ops;			/* set by bench_thread_done() */
	uint64_t ns;
	uint64_t loop_ns, cpu_ns;	/* wall and CPU time of the loop phase */
	double extra[BENCH_EXTRA];	/* the worker's own figures */
	struct bench_group *group;
	uint64_t t0, cpu_t0;
	bool cpu_stopped;
	int cpu;			/* -1: not pinned */
	pthread_t tid;
};

/* Monotonic time in nanoseconds. */
static inline uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CPU time of the calling thread in nanoseconds. */
static inline uint64_t bench_thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Keeps v alive: the compiler must compute it (an empty asm takes it as input). */
static inline void bench_sink(uint64_t v)
{
	__asm__ __volatile__("" : : "r"(v));
}

/* Prints a fatal error and exits 1. */
static inline void bench_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static inline void bench_die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* Prints the usage shared by all benchmarks. */
static inline void bench_usage(FILE *f, const char *prog)
{
	fprintf(f,
		"usage: %s [--quick] [--filter PREFIX]... [--reps N] [--time MS] [--pin]\n"
		"  --quick          short run (3 repetitions of 20 ms per figure)\n"
		"  --filter PREFIX  only benches whose name starts with PREFIX (repeatable)\n"
		"  --reps N         repetitions per figure; the median is printed (default 7)\n"
		"  --time MS        duration of one repetition in ms (default 200)\n"
		"  --pin            pin worker i to CPU i mod ncpu\n"
		"Prints one JSON object per line.\n", prog);
}

/* Parses a positive integer option value or exits with a message. */
static inline unsigned bench_parse_uint(const char *prog, const char *opt, const char *s,
					unsigned max)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s ? s : "", &end, 10);
	if (!s || errno || *end || v == 0 || v > max)
		bench_die("%s: %s needs a number from 1 to %u (got '%s')", prog, opt, max,
			  s ? s : "");
	return (unsigned)v;
}

/* Fills o from the command line; exits 0 on --help, 2 on a bad option. */
static inline void bench_opts_parse(struct bench_opts *o, int argc, char **argv,
				    const char *prog)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	bool reps_set = false, time_set = false;

	memset(o, 0, sizeof(*o));
	o->ncpu = n > 0 ? (unsigned)n : 1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--quick")) {
			o->quick = true;
		} else if (!strcmp(a, "--pin")) {
			o->pin = true;
		} else if (!strcmp(a, "--filter") && i + 1 < argc) {
			if (o->nfilters == BENCH_MAX_FILTERS)
				bench_die("%s: at most %d --filter options", prog, BENCH_MAX_FILTERS);
			o->filter[o->nfilters++] = argv[++i];
		} else if (!strcmp(a, "--reps")) {
			o->reps = bench_parse_uint(prog, a, i + 1 < argc ? argv[++i] : NULL,
						   BENCH_MAX_REPS);
			reps_set = true;
		} else if (!strcmp(a, "--time")) {
			o->time_ms = bench_parse_uint(prog, a, i + 1 < argc ? argv[++i] : NULL,
						      600000);
			time_set = true;
		} else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			bench_usage(stdout, prog);
			exit(0);
		} else {
			fprintf(stderr, "%s: unknown or incomplete option '%s'\n", prog, a);
			bench_usage(stderr, prog);
			exit(2);
		}
	}
	if (!reps_set)
		o->reps = o->quick ? 3 : 7;
	if (!time_set)
		o->time_ms = o->quick ? 20 : 200;
	o->retry_budget_ms = o->quick ? 3000 : 45000;
}

/* True if bench name passes the --filter prefixes (all pass without one). */
static inline bool bench_selected(const struct bench_opts *o, const char *name)
{
	if (o->nfilters == 0)
		return true;
	for (unsigned i = 0; i < o->nfilters; i++)
		if (!strncmp(name, o->filter[i], strlen(o->filter[i])))
			return true;
	return false;
}

/* True if any bench starting with prefix (a family) passes the filters. */
static inline bool bench_family_selected(const struct bench_opts *o, const char *prefix)
{
	if (o->nfilters == 0)
		return true;
	for (unsigned i = 0; i < o->nfilters; i++) {
		size_t lf = strlen(o->filter[i]), lp = strlen(prefix);

		if (!strncmp(prefix, o->filter[i], lf < lp ? lf : lp))
			return true;
	}
	return false;
}

/* Pins the calling thread to one CPU; 0 or an errno. */
static inline int bench_pin_cpu(unsigned cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

/* Sorts a copy of v and returns its median (mean of the middle two if n is even). */
static inline double bench_median(const double *v, unsigned n)
{
	double s[BENCH_MAX_REPS];

	if (n == 0)
		return 0;
	if (n > BENCH_MAX_REPS)
		n = BENCH_MAX_REPS;
	memcpy(s, v, n * sizeof(*s));
	for (unsigned i = 1; i < n; i++)	/* insertion sort: n is small */
		for (unsigned j = i; j > 0 && s[j - 1] > s[j]; j--) {
			double x = s[j];

			s[j] = s[j - 1];
			s[j - 1] = x;
		}
	return n & 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/* Smallest (max = false) or largest value of v. */
static inline double bench_extreme(const double *v, unsigned n, bool max)
{
	double x = n ? v[0] : 0;

	for (unsigned i = 1; i < n; i++)
		if (max ? v[i] > x : v[i] < x)
			x = v[i];
	return x;
}

/* In a worker: waits (after its set-up) for the common start and starts its clock. */
static inline void bench_thread_start(struct bench_thread *t)
{
	/* release: the worker's set-up is done before the main thread counts it ready. */
	atomic_fetch_add_explicit(&t->group->ready, 1, memory_order_release);
	/* acquire: pairs with the main thread's release of the start signal. */
	while (!atomic_load_explicit(&t->group->go, memory_order_acquire))
		cpu_relax();
	t->cpu_t0 = bench_thread_cpu_ns();
	t->t0 = bench_now_ns();
}

/* In a worker: false once the run's time is up. */
static inline bool bench_thread_running(const struct bench_thread *t)
{
	/* relaxed: only a signal; a late look costs one more batch. */
	return !atomic_load_explicit(&t->group->stop, memory_order_relaxed);
}

/*
 * In a worker: ends the loop phase, whose share of CPU time tells whether
 * the run was clean (call it before a final phase that may sleep, such as
 * waiting for a grace period; bench_thread_done() calls it otherwise).
 */
static inline void bench_thread_loop_end(struct bench_thread *t)
{
	t->loop_ns = bench_now_ns() - t->t0;
	t->cpu_ns = bench_thread_cpu_ns() - t->cpu_t0;
	t->cpu_stopped = true;
}

/* In a worker: stops its clock and records ops operations. */
static inline void bench_thread_done(struct bench_thread *t, uint64_t ops)
{
	if (!t->cpu_stopped)
		bench_thread_loop_end(t);
	t->ns = bench_now_ns() - t->t0;
	t->ops = ops;
}

/* Thread entry: pins if asked, then runs the worker. */
static inline void *bench_thread_main(void *arg)
{
	struct bench_thread *t = arg;

	if (t->cpu >= 0)
		bench_pin_cpu((unsigned)t->cpu);
	t->fn(t);
	return NULL;
}

/* Sleeps for ms milliseconds. */
static inline void bench_sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/*
 * Runs n workers: starts them, releases them together once all are set up,
 * lets them run o->time_ms, stops and joins them.
 */
static inline void bench_threads_run(const struct bench_opts *o, struct bench_thread *ts,
				     unsigned n)
{
	struct bench_group g;

	atomic_init(&g.ready, 0);
	atomic_init(&g.go, false);
	atomic_init(&g.stop, false);
	for (unsigned i = 0; i < n; i++) {
		ts[i].id = i;
		ts[i].group = &g;
		ts[i].ops = ts[i].ns = ts[i].loop_ns = ts[i].cpu_ns = 0;
		ts[i].cpu_stopped = false;
		memset(ts[i].extra, 0, sizeof(ts[i].extra));
		ts[i].cpu = o->pin ? (int)(i % o->ncpu) : -1;
		int err = pthread_create(&ts[i].tid, NULL, bench_thread_main, &ts[i]);

		if (err)
			bench_die("bench: pthread_create: %s", strerror(err));
	}
	/* acquire: pairs with each worker's release; their set-up is complete. */
	while (atomic_load_explicit(&g.ready, memory_order_acquire) < n)
		sched_yield();
	/* release: everything the main thread prepared is visible to the workers. */
	atomic_store_explicit(&g.go, true, memory_order_release);
	bench_sleep_ms(o->time_ms);
	atomic_store_explicit(&g.stop, true, memory_order_relaxed);
	for (unsigned i = 0; i < n; i++)
		pthread_join(ts[i].tid, NULL);
}

/*
 * Smallest share of its loop's wall time that a worker spent on a CPU:
 * below BENCH_MIN_CPU another process took the CPU (or two workers shared
 * one), so the workers did not really run side by side; retry such a run.
 */
static inline double bench_cpu_frac(const struct bench_thread *ts, unsigned n)
{
	double f = 1;

	for (unsigned i = 0; i < n; i++) {
		double x = ts[i].loop_ns ? (double)ts[i].cpu_ns / (double)ts[i].loop_ns : 0;

		if (x < f)
			f = x;
	}
	return f;
}

/*
 * After attempt number `attempt` (from 0) of a repetition whose cleanest
 * CPU share was frac: true if it should run again. It does while the run
 * was not clean, attempts remain and the program's retry budget lasts;
 * it first backs off (25, 50, 100, 200 ms) so a burst of other work can pass.
 */
static inline bool bench_retry(struct bench_opts *o, unsigned attempt, double frac)
{
	unsigned wait = 25u << (attempt < 8 ? attempt : 8);

	if (frac >= BENCH_MIN_CPU || attempt + 1 >= BENCH_ATTEMPTS)
		return false;
	if (o->retry_spent_ms + wait + o->time_ms > o->retry_budget_ms)
		return false;
	o->retry_spent_ms += wait + o->time_ms;
	bench_sleep_ms(wait);
	return true;
}

/* Mean over n workers of each one's ns per operation. */
static inline double bench_ns_per_op(const struct bench_thread *ts, unsigned n)
{
	double sum = 0;

	for (unsigned i = 0; i < n; i++)
		sum += ts[i].ops ? (double)ts[i].ns / (double)ts[i].ops : 0;
	return n ? sum / n : 0;
}

/* A JSON object being built; printed as one line by bench_json_end(). */
struct bench_json {
	char buf[2048];
	size_t len;
};

/* Appends formatted text (truncated at the buffer's end). */
static inline void bench_json_raw(struct bench_json *j, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static inline void bench_json_raw(struct bench_json *j, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (j->len >= sizeof(j->buf))
		return;
	va_start(ap, fmt);
	n = vsnprintf(j->buf + j->len, sizeof(j->buf) - j->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		j->len += (size_t)n;
}

/* Appends ,"key": (or the opening brace and key for the first field). */
static inline void bench_json_key(struct bench_json *j, const char *key)
{
	bench_json_raw(j, "%s\"%s\":", j->len ? "," : "{", key);
}

/* Appends a string field, escaping what JSON requires. */
static inline void bench_json_str(struct bench_json *j, const char *key, const char *s)
{
	bench_json_key(j, key);
	bench_json_raw(j, "\"");
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			bench_json_raw(j, "\\%c", c);
		else if (c < 0x20)
			bench_json_raw(j, "\\u%04x", c);
		else
			bench_json_raw(j, "%c", c);
	}
	bench_json_raw(j, "\"");
}

/* Appends an unsigned integer field. */
static inline void bench_json_uint(struct bench_json *j, const char *key, uint64_t v)
{
	bench_json_key(j, key);
	bench_json_raw(j, "%llu", (unsigned long long)v);
}

/* Appends a number field: 3 decimals below 100, 1 above (null if NaN). */
static inline void bench_json_num(struct bench_json *j, const char *key, double v)
{
	bench_json_key(j, key);
	if (v != v)
		bench_json_raw(j, "null");
	else if (v < 100 && v > -100)
		bench_json_raw(j, "%.3f", v);
	else
		bench_json_raw(j, "%.1f", v);
}

/* Appends a boolean field. */
static inline void bench_json_bool(struct bench_json *j, const char *key, bool v)
{
	bench_json_key(j, key);
	bench_json_raw(j, "%s", v ? "true" : "false");
}

/* Starts a figure's line with the three fields every line has. */
static inline void bench_json_begin(struct bench_json *j, const char *bench, const char *impl,
				    unsigned threads)
{
	j->len = 0;
	bench_json_str(j, "bench", bench);
	bench_json_str(j, "impl", impl);
	bench_json_uint(j, "threads", threads);
}

/* Appends the median of the per-repetition key values. */
static inline void bench_json_median(struct bench_json *j, const char *key, const double *v,
				     unsigned n)
{
	bench_json_num(j, key, bench_median(v, n));
}

/* Appends ns_per_op (median), ns_min, ns_max and reps. */
static inline void bench_json_ns(struct bench_json *j, const double *v, unsigned n)
{
	bench_json_median(j, "ns_per_op", v, n);
	bench_json_num(j, "ns_min", bench_extreme(v, n, false));
	bench_json_num(j, "ns_max", bench_extreme(v, n, true));
	bench_json_uint(j, "reps", n);
}

/* Appends cpu_frac (median of bench_cpu_frac() per repetition) and the runs retried. */
static inline void bench_json_cpu(struct bench_json *j, const double *frac, unsigned n,
				  unsigned retried)
{
	bench_json_median(j, "cpu_frac", frac, n);
	bench_json_uint(j, "retried", retried);
}

/* Prints the line and flushes (a consumer may read it at once). */
static inline void bench_json_end(struct bench_json *j)
{
	bench_json_raw(j, "}");
	if (j->len >= sizeof(j->buf))
		bench_die("bench: JSON line longer than %zu bytes", sizeof(j->buf) - 1);
	puts(j->buf);
	fflush(stdout);
}

/* Prints the meta line: program, start time, compiler, flags, CPUs and run parameters. */
static inline void bench_meta(const struct bench_opts *o, const char *prog)
{
	struct bench_json j = { .len = 0 };
	char date[32] = "";
	time_t now = time(NULL);
	struct tm tm;

	if (gmtime_r(&now, &tm))
		strftime(date, sizeof(date), "%Y-%m-%d %H:%M UTC", &tm);
	bench_json_str(&j, "bench", "meta");
	bench_json_str(&j, "program", prog);
	bench_json_str(&j, "date", date);
#ifdef __VERSION__
	bench_json_str(&j, "compiler", __VERSION__);
#endif
	bench_json_str(&j, "cflags", BENCH_CFLAGS);
	bench_json_uint(&j, "cpus", o->ncpu);
	bench_json_uint(&j, "reps", o->reps);
	bench_json_uint(&j, "time_ms", o->time_ms);
	bench_json_bool(&j, "pinned", o->pin);
	bench_json_end(&j);
}

#endif /* TIMERD_BENCH_H */
