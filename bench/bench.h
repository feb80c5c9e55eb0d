/*
 * bench.h -- what timerd's benchmarks share (bench/bench.c, built as
 * bench/libbench.la): options, worker threads released together and
 * stopped after a fixed time, clean-run retries, medians of repetitions,
 * CPU pinning and JSON lines.
 *
 * Usage (one figure: median of o.reps runs of two workers):
 *
 *	static void foo_attempt(void *arg, struct bench_thread *t, unsigned n)
 *	{
 *		for (unsigned i = 0; i < n; i++)
 *			t[i] = (struct bench_thread){ .fn = foo_worker, .arg = arg };
 *		bench_threads_run(o, t, n);     check and tear down here
 *	}
 *
 *	struct bench_opts o;
 *	bench_opts_parse(&o, argc, argv, "bench-foo");
 *	bench_meta(&o, "bench-foo");
 *	if (bench_selected(&o, "foo.op")) {
 *		double ns[BENCH_MAX_REPS], cpu[BENCH_MAX_REPS];
 *		unsigned retried = 0;
 *		for (unsigned r = 0; r < o.reps; r++) {
 *			struct bench_thread t[2];
 *			retried += bench_best_of(&o, foo_attempt, &obj, t, 2);
 *			cpu[r] = bench_cpu_frac(t, 2);
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
 * of contending, so bench_best_of() runs such a repetition again (within
 * a per-program time budget) and keeps the cleanest attempt. Output is one
 * JSON object per line on stdout; the first line ({"bench":"meta",...})
 * names the compiler, flags and run parameters. Only what a worker calls
 * inside its loop is inline here.
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

/* A JSON object being built; printed as one line by bench_json_end(). */
struct bench_json {
	char buf[2048];
	size_t len;
};

/* One attempt of a repetition: fills t[0..n-1], runs them (bench_threads_run), checks, tears down. */
typedef void bench_attempt_fn(void *arg, struct bench_thread *t, unsigned n);

#define BENCH_MAX_THREADS 64	/* workers of one bench_best_of() run, at most */

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
void bench_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Fills o from the command line; exits 0 on --help, 2 on a bad option. */
void bench_opts_parse(struct bench_opts *o, int argc, char **argv,
		      const char *prog);

/* True if bench name passes the --filter prefixes (all pass without one). */
bool bench_selected(const struct bench_opts *o, const char *name);

/* True if any bench starting with prefix (a family) passes the filters. */
bool bench_family_selected(const struct bench_opts *o, const char *prefix);

/* Sorts a copy of v and returns its median (mean of the middle two if n is even). */
double bench_median(const double *v, unsigned n);

/* Smallest (max = false) or largest value of v. */
double bench_extreme(const double *v, unsigned n, bool max);

/* In a worker: waits (after its set-up) for the common start and starts its clock. */
void bench_thread_start(struct bench_thread *t);

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
void bench_thread_loop_end(struct bench_thread *t);

/* In a worker: stops its clock and records ops operations. */
void bench_thread_done(struct bench_thread *t, uint64_t ops);

/* Sleeps for ms milliseconds. */
void bench_sleep_ms(unsigned ms);

/*
 * Runs n workers: starts them, releases them together once all are set up,
 * lets them run o->time_ms, stops and joins them.
 */
void bench_threads_run(const struct bench_opts *o, struct bench_thread *ts,
		       unsigned n);

/*
 * Smallest share of its loop's wall time that a worker spent on a CPU:
 * below BENCH_MIN_CPU another process took the CPU (or two workers shared
 * one), so the workers did not really run side by side; retry such a run.
 */
double bench_cpu_frac(const struct bench_thread *ts, unsigned n);

/*
 * After attempt number `attempt` (from 0) of a repetition whose cleanest
 * CPU share was frac: true if it should run again. It does while the run
 * was not clean, attempts remain and the program's retry budget lasts;
 * it first backs off (25, 50, 100, 200 ms) so a burst of other work can pass.
 */
bool bench_retry(struct bench_opts *o, unsigned attempt, double frac);

/*
 * Runs attempt(arg, ...) with n workers again while the run was not clean
 * and bench_retry() allows; copies the cleanest attempt's workers into
 * best[0..n-1] and returns how many attempts were retried.
 */
unsigned bench_best_of(struct bench_opts *o, bench_attempt_fn *attempt, void *arg,
		       struct bench_thread *best, unsigned n);

/* Mean over n workers of each one's ns per operation. */
double bench_ns_per_op(const struct bench_thread *ts, unsigned n);

/* Appends a string field, escaping what JSON requires. */
void bench_json_str(struct bench_json *j, const char *key, const char *s);

/* Appends an unsigned integer field. */
void bench_json_uint(struct bench_json *j, const char *key, uint64_t v);

/* Appends a number field: 3 decimals below 100, 1 above (null if NaN). */
void bench_json_num(struct bench_json *j, const char *key, double v);

/* Appends a boolean field. */
void bench_json_bool(struct bench_json *j, const char *key, bool v);

/* Starts a figure's line with the three fields every line has. */
void bench_json_begin(struct bench_json *j, const char *bench, const char *impl,
		      unsigned threads);

/* Appends the median of the per-repetition key values. */
void bench_json_median(struct bench_json *j, const char *key, const double *v,
		       unsigned n);

/* Appends ns_per_op (median), ns_min, ns_max and reps. */
void bench_json_ns(struct bench_json *j, const double *v, unsigned n);

/* Appends cpu_frac (median of bench_cpu_frac() per repetition) and the runs retried. */
void bench_json_cpu(struct bench_json *j, const double *frac, unsigned n,
		    unsigned retried);

/* Prints the line and flushes (a consumer may read it at once). */
void bench_json_end(struct bench_json *j);

/* Appends the batch size and which peer libraries (liburcu, ConcurrencyKit) this build has. */
void bench_json_peers(struct bench_json *j);

/* Prints the meta line: program, start time, compiler, flags, CPUs and run parameters. */
void bench_meta(const struct bench_opts *o, const char *prog);

#endif /* TIMERD_BENCH_H */
