/*
 * bench.c -- the benchmarks' shared helpers (bench.h says how to use them).
 */
#include "config.h"

#include "bench/bench.h"

#ifndef BENCH_CFLAGS
#define BENCH_CFLAGS "unknown"	/* the build passes -DBENCH_CFLAGS="..." */
#endif

/* Prints a fatal error and exits 1. */
void bench_die(const char *fmt, ...)
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
static void bench_usage(FILE *f, const char *prog)
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
static unsigned bench_parse_uint(const char *prog, const char *opt, const char *s,
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
void bench_opts_parse(struct bench_opts *o, int argc, char **argv,
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
bool bench_selected(const struct bench_opts *o, const char *name)
{
	if (o->nfilters == 0)
		return true;
	for (unsigned i = 0; i < o->nfilters; i++)
		if (!strncmp(name, o->filter[i], strlen(o->filter[i])))
			return true;
	return false;
}

/* True if any bench starting with prefix (a family) passes the filters. */
bool bench_family_selected(const struct bench_opts *o, const char *prefix)
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
static int bench_pin_cpu(unsigned cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

/* Sorts a copy of v and returns its median (mean of the middle two if n is even). */
double bench_median(const double *v, unsigned n)
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
double bench_extreme(const double *v, unsigned n, bool max)
{
	double x = n ? v[0] : 0;

	for (unsigned i = 1; i < n; i++)
		if (max ? v[i] > x : v[i] < x)
			x = v[i];
	return x;
}

/* In a worker: waits (after its set-up) for the common start and starts its clock. */
void bench_thread_start(struct bench_thread *t)
{
	/* release: the worker's set-up is done before the main thread counts it ready. */
	atomic_fetch_add_explicit(&t->group->ready, 1, memory_order_release);
	/* acquire: pairs with the main thread's release of the start signal. */
	while (!atomic_load_explicit(&t->group->go, memory_order_acquire))
		cpu_relax();
	t->cpu_t0 = bench_thread_cpu_ns();
	t->t0 = bench_now_ns();
}

/* In a worker: ends the loop phase, whose share of CPU time tells whether the run was clean. */
void bench_thread_loop_end(struct bench_thread *t)
{
	t->loop_ns = bench_now_ns() - t->t0;
	t->cpu_ns = bench_thread_cpu_ns() - t->cpu_t0;
	t->cpu_stopped = true;
}

/* In a worker: stops its clock and records ops operations. */
void bench_thread_done(struct bench_thread *t, uint64_t ops)
{
	if (!t->cpu_stopped)
		bench_thread_loop_end(t);
	t->ns = bench_now_ns() - t->t0;
	t->ops = ops;
}

/* Thread entry: pins if asked, then runs the worker. */
static void *bench_thread_main(void *arg)
{
	struct bench_thread *t = arg;

	if (t->cpu >= 0)
		bench_pin_cpu((unsigned)t->cpu);
	t->fn(t);
	return NULL;
}

/* Sleeps for ms milliseconds. */
void bench_sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Runs n workers released together for o->time_ms, then stops and joins them. */
void bench_threads_run(const struct bench_opts *o, struct bench_thread *ts,
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

/* Smallest share of its loop's wall time that a worker spent on a CPU (below BENCH_MIN_CPU: retry). */
double bench_cpu_frac(const struct bench_thread *ts, unsigned n)
{
	double f = 1;

	for (unsigned i = 0; i < n; i++) {
		double x = ts[i].loop_ns ? (double)ts[i].cpu_ns / (double)ts[i].loop_ns : 0;

		if (x < f)
			f = x;
	}
	return f;
}

/* True if attempt number `attempt` of a repetition, whose CPU share was frac, should run again. */
bool bench_retry(struct bench_opts *o, unsigned attempt, double frac)
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

/* Runs attempts until one is clean or bench_retry() says stop; keeps the cleanest in best. */
unsigned bench_best_of(struct bench_opts *o, bench_attempt_fn *attempt, void *arg,
		       struct bench_thread *best, unsigned n)
{
	struct bench_thread t[BENCH_MAX_THREADS];
	double best_frac = -1;
	unsigned retried = 0;

	if (n > BENCH_MAX_THREADS)
		bench_die("bench: %u workers, at most %d", n, BENCH_MAX_THREADS);
	for (unsigned a = 0;; a++) {
		double frac;

		memset(t, 0, n * sizeof(*t));
		attempt(arg, t, n);
		frac = bench_cpu_frac(t, n);
		if (frac > best_frac) {
			best_frac = frac;
			memcpy(best, t, n * sizeof(*t));
		}
		if (!bench_retry(o, a, frac))
			break;
		retried++;
	}
	return retried;
}

/* Mean over n workers of each one's ns per operation. */
double bench_ns_per_op(const struct bench_thread *ts, unsigned n)
{
	double sum = 0;

	for (unsigned i = 0; i < n; i++)
		sum += ts[i].ops ? (double)ts[i].ns / (double)ts[i].ops : 0;
	return n ? sum / n : 0;
}

/* Appends formatted text (truncated at the buffer's end). */
__attribute__((format(printf, 2, 3)))
static void bench_json_raw(struct bench_json *j, const char *fmt, ...)
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
static void bench_json_key(struct bench_json *j, const char *key)
{
	bench_json_raw(j, "%s\"%s\":", j->len ? "," : "{", key);
}

/* Appends a string field, escaping what JSON requires. */
void bench_json_str(struct bench_json *j, const char *key, const char *s)
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
void bench_json_uint(struct bench_json *j, const char *key, uint64_t v)
{
	bench_json_key(j, key);
	bench_json_raw(j, "%llu", (unsigned long long)v);
}

/* Appends a number field: 3 decimals below 100, 1 above (null if NaN). */
void bench_json_num(struct bench_json *j, const char *key, double v)
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
void bench_json_bool(struct bench_json *j, const char *key, bool v)
{
	bench_json_key(j, key);
	bench_json_raw(j, "%s", v ? "true" : "false");
}

/* Starts a figure's line with the three fields every line has. */
void bench_json_begin(struct bench_json *j, const char *bench, const char *impl,
		      unsigned threads)
{
	j->len = 0;
	bench_json_str(j, "bench", bench);
	bench_json_str(j, "impl", impl);
	bench_json_uint(j, "threads", threads);
}

/* Appends the median of the per-repetition key values. */
void bench_json_median(struct bench_json *j, const char *key, const double *v,
		       unsigned n)
{
	bench_json_num(j, key, bench_median(v, n));
}

/* Appends ns_per_op (median), ns_min, ns_max and reps. */
void bench_json_ns(struct bench_json *j, const double *v, unsigned n)
{
	bench_json_median(j, "ns_per_op", v, n);
	bench_json_num(j, "ns_min", bench_extreme(v, n, false));
	bench_json_num(j, "ns_max", bench_extreme(v, n, true));
	bench_json_uint(j, "reps", n);
}

/* Appends cpu_frac (median of bench_cpu_frac() per repetition) and the runs retried. */
void bench_json_cpu(struct bench_json *j, const double *frac, unsigned n,
		    unsigned retried)
{
	bench_json_median(j, "cpu_frac", frac, n);
	bench_json_uint(j, "retried", retried);
}

/* Prints the line and flushes (a consumer may read it at once). */
void bench_json_end(struct bench_json *j)
{
	bench_json_raw(j, "}");
	if (j->len >= sizeof(j->buf))
		bench_die("bench: JSON line longer than %zu bytes", sizeof(j->buf) - 1);
	puts(j->buf);
	fflush(stdout);
}

/* Appends the batch size and which peer libraries (liburcu, ConcurrencyKit) this build has. */
void bench_json_peers(struct bench_json *j)
{
	bench_json_uint(j, "batch", BENCH_BATCH);
#ifdef HAVE_URCU
	bench_json_bool(j, "urcu", true);
#else
	bench_json_bool(j, "urcu", false);
#endif
#ifdef HAVE_CK
	bench_json_bool(j, "ck", true);
#else
	bench_json_bool(j, "ck", false);
#endif
}

/* Prints the meta line: program, start time, compiler, flags, CPUs and run parameters. */
void bench_meta(const struct bench_opts *o, const char *prog)
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
