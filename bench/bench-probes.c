/*
 * bench-probes.c -- the cost of the BPF watchdog: a tight loop calling an
 * instrumented call, with nothing attached (`none`), with an empty BPF
 * program on its entry and return (`empty-bpf`: the bare probe cost), and
 * with timerd's watchdog (`timerd`: the entry arms a 1 s timer keyed by
 * tid, the return cancels it, through the ring buffer, the consumer thread
 * and the engine). Two instrumented calls:
 *
 *	probe.watchdog   a function of this program, uprobe + uretprobe
 *	probe.syscall    getppid(2), tracepoints syscalls:sys_enter_getppid
 *	                 and sys_exit_getppid (a cheap probe: shows what the
 *	                 consumer sustains when the trap is not the limit)
 *
 * Flat-out lines (one per impl, medians of --reps runs of --time ms):
 * calls_per_s, ns_per_call, ns_per_call_overhead (minus `none`), and for
 * timerd: ring_drops, applied_frac (arms and cancels the engine accepted,
 * per 2 calls), coalesced_frac (arms superseded in the consumer by their
 * cancel from the same batch), fires (must be 0: no call takes 1 s),
 * consumer_ns_per_call (CPU time of the other threads: the consumer and
 * the engine's dispatcher). "<bench>.ratio": timerd's overhead over the
 * empty program's (goal: at most 1.5).
 *
 * "<bench>.paced": the watchdog asked for 200k calls/s for 1 s (goal: no
 * lost request), with the rate achieved; the uprobe case from one thread
 * and from one per CPU (a thread cannot outrun the bare probe cost).
 *
 * Every row runs; --filter selects the family ("probe."). Needs root
 * (prints a "probe.skip" line and exits 0 otherwise).
 */
#include "config.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "bench/bench.h"
#include "bpf/probes.skel.h"
#include "engine.h"
#include "probe/probe-int.h"
#include "probe/probe.h"

#define BP_PACED_RATE 200000	/* calls per second asked of the paced runs */
#define BP_PACED_MS   1000
#define BP_MAX_THREADS 64

/* The probed function keeps its symbol: no inlining, and no gcc clone (clang has no noclone). */
#ifdef __clang__
#define PROBED_FN __attribute__((noinline))
#else
#define PROBED_FN __attribute__((noinline, noclone))
#endif

/* The instrumented function: cheap, never inlined, a real call and return. */
PROBED_FN unsigned long bench_probe_work(unsigned long x);
PROBED_FN unsigned long bench_probe_work(unsigned long x)
{
	__asm__ __volatile__("" : "+r"(x));
	return x + 1;
}

/* The instrumented system call (glibc does not cache getppid, syscall() is raw anyway). */
static unsigned long bp_getppid(unsigned long x)
{
	return x + (unsigned long)syscall(SYS_getppid);
}

/* What a family of rows instruments. */
struct bp_case {
	const char *bench;			/* "probe.watchdog", "probe.syscall" */
	unsigned long (*call)(unsigned long);
	bool uprobe;				/* else the getppid tracepoints */
	unsigned paced_threads_max;		/* 0: one paced run from one thread */
};

/* One repetition's figures. */
struct bp_rep {
	double ns_per_call, calls_per_s, cpu_frac;
	double other_cpu_ns;	/* CPU time of the process minus the caller's */
	uint64_t calls;
};

/* Fires seen by the engine callback (none expected). */
static _Atomic uint64_t bp_fires;

/* Engine fire callback: counts. */
static void bp_on_fire(void *arg, const struct engine_fire *f)
{
	/* relaxed: a counter read after the run. */
	atomic_fetch_add_explicit(&bp_fires, 1, memory_order_relaxed);
}

/* Fires so far. */
static uint64_t bp_fires_now(void)
{
	/* relaxed: read while no probe timer is due (they are armed for 1 s). */
	return atomic_load_explicit(&bp_fires, memory_order_relaxed);
}

/* CPU time of the whole process in ns. */
static uint64_t bp_process_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Makes calls flat out for ms milliseconds (paced to rate calls/s if rate > 0). */
static struct bp_rep bp_loop(const struct bp_case *k, unsigned ms, unsigned rate)
{
	uint64_t t0 = bench_now_ns(), c0 = bench_thread_cpu_ns(), p0 = bp_process_cpu_ns();
	uint64_t end = t0 + (uint64_t)ms * 1000000u, now = t0, n = 0, x = 0;
	double gap = rate ? 1e9 / rate : 0;
	struct bp_rep r;

	while (now < end) {
		for (unsigned i = 0; i < 64; i++) {
			x = k->call(x);
			n++;
			if (rate)	/* wait for the next call's slot */
				while (bench_now_ns() < t0 + (uint64_t)((double)n * gap))
					cpu_relax();
		}
		now = bench_now_ns();
	}
	bench_sink(x);
	r.calls = n;
	r.ns_per_call = (double)(now - t0) / (double)n;
	r.calls_per_s = (double)n * 1e9 / (double)(now - t0);
	r.cpu_frac = (double)(bench_thread_cpu_ns() - c0) / (double)(now - t0);
	r.other_cpu_ns = (double)(bp_process_cpu_ns() - p0) - (double)(bench_thread_cpu_ns() - c0);
	return r;
}

/* Path of this program (uprobes attach to a file). */
static void bp_self(char *buf, size_t len)
{
	ssize_t n = readlink("/proc/self/exe", buf, len - 1);

	if (n <= 0)
		bench_die("bench-probes: readlink /proc/self/exe: %s", strerror(errno));
	buf[n] = '\0';
}

/*
 * Runs o->reps loops into reps[], retrying unclean runs (the caller lost
 * its CPU); returns the calls made by every run, retried ones included.
 */
static uint64_t bp_reps(struct bench_opts *o, const struct bp_case *k, struct bp_rep *reps,
			unsigned *retried)
{
	uint64_t calls = 0;

	for (unsigned r = 0; r < o->reps; r++) {
		unsigned a = 0;

		do {
			reps[r] = bp_loop(k, o->time_ms, 0);
			calls += reps[r].calls;
		} while (bench_retry(o, a++, reps[r].cpu_frac) && ++*retried);
	}
	return calls;
}

/* Median ns per call of the repetitions. */
static double bp_median_ns(const struct bench_opts *o, const struct bp_rep *reps)
{
	double ns[BENCH_MAX_REPS];

	for (unsigned r = 0; r < o->reps; r++)
		ns[r] = reps[r].ns_per_call;
	return bench_median(ns, o->reps);
}

/* Starts a flat-out line: the fields every impl has. */
static void bp_print(const struct bench_opts *o, const struct bp_case *k, const char *impl,
		     const struct bp_rep *reps, double none_ns, unsigned retried,
		     struct bench_json *j)
{
	double ns[BENCH_MAX_REPS], cps[BENCH_MAX_REPS], frac[BENCH_MAX_REPS];

	for (unsigned r = 0; r < o->reps; r++) {
		ns[r] = reps[r].ns_per_call;
		cps[r] = reps[r].calls_per_s;
		frac[r] = reps[r].cpu_frac;
	}
	bench_json_begin(j, k->bench, impl, 1);
	bench_json_median(j, "ns_per_call", ns, o->reps);
	bench_json_num(j, "ns_min", bench_extreme(ns, o->reps, false));
	bench_json_num(j, "ns_max", bench_extreme(ns, o->reps, true));
	bench_json_median(j, "calls_per_s", cps, o->reps);
	bench_json_num(j, "ns_per_call_overhead", bench_median(ns, o->reps) - none_ns);
	bench_json_median(j, "cpu_frac", frac, o->reps);
	bench_json_uint(j, "reps", o->reps);
	bench_json_uint(j, "retried", retried);
}

/* `none`: the loop alone. Returns its median ns per call. */
static double bp_none(struct bench_opts *o, const struct bp_case *k)
{
	struct bp_rep reps[BENCH_MAX_REPS];
	struct bench_json j;
	unsigned retried = 0;
	double ns;

	bp_reps(o, k, reps, &retried);
	ns = bp_median_ns(o, reps);
	bp_print(o, k, "none", reps, ns, retried, &j);
	bench_json_end(&j);
	return ns;
}

/* Attaches the empty program to the function's entry (ret false) or return. */
static struct bpf_link *bp_empty_uprobe(struct probes_bpf *skel, const char *self, bool ret)
{
	LIBBPF_OPTS(bpf_uprobe_opts, uo, .retprobe = ret);
	struct bpf_link *l;
	char err[256];
	uint64_t off;

	if (probe_elf_func_offset(self, "bench_probe_work", 0, &off, err, sizeof(err)))
		bench_die("bench-probes: %s", err);
	l = bpf_program__attach_uprobe_opts(skel->progs.td_empty, getpid(), self, (size_t)off, &uo);
	if (!l)
		bench_die("bench-probes: attaching the empty uprobe: %s", strerror(errno));
	return l;
}

/* Attaches the empty tracepoint program to syscalls:name. */
static struct bpf_link *bp_empty_tp(struct probes_bpf *skel, const char *name)
{
	struct bpf_link *l;
	const char *dir;
	char err[256];

	if (probe_tracefs(&dir, err, sizeof(err)))	/* mounts tracefs for libbpf if needed */
		bench_die("bench-probes: %s", err);
	l = bpf_program__attach_tracepoint(skel->progs.td_empty_tp, "syscalls", name);
	if (!l)
		bench_die("bench-probes: attaching the empty program to syscalls:%s: %s", name,
			  strerror(errno));
	return l;
}

/* `empty-bpf`: the bare probes running an empty program. Returns its median overhead. */
static double bp_empty(struct bench_opts *o, const struct bp_case *k, const char *self,
		       double none_ns)
{
	struct bp_rep reps[BENCH_MAX_REPS];
	struct probes_bpf *skel = probes_bpf__open_and_load();
	struct bpf_link *entry, *ret;
	struct bench_json j;
	unsigned retried = 0;

	if (!skel)
		bench_die("bench-probes: loading the BPF object: %s", strerror(errno));
	entry = k->uprobe ? bp_empty_uprobe(skel, self, false) : bp_empty_tp(skel, "sys_enter_getppid");
	ret = k->uprobe ? bp_empty_uprobe(skel, self, true) : bp_empty_tp(skel, "sys_exit_getppid");
	bp_reps(o, k, reps, &retried);
	bpf_link__destroy(entry);
	bpf_link__destroy(ret);
	probes_bpf__destroy(skel);
	bp_print(o, k, "empty-bpf", reps, none_ns, retried, &j);
	bench_json_end(&j);
	return bp_median_ns(o, reps) - none_ns;
}

/* The watchdog under measurement: an engine, a manager and the two probes. */
struct bp_wd {
	struct engine *e;
	struct probe_mgr *m;
};

/* Attaches one spec or dies. */
static void bp_wd_attach(struct bp_wd *w, const char *spec)
{
	char err[512];
	uint32_t id;

	if (probe_attach(w->m, spec, &id, err, sizeof(err)))
		bench_die("bench-probes: '%s': %s", spec, err);
}

/* Sets up the watchdog of case k. */
static void bp_wd_start(struct bp_wd *w, const struct bp_case *k, const char *self)
{
	struct engine_config cfg = { .on_fire = bp_on_fire };
	char spec[PROBE_SPEC_MAX + 1], err[512];
	int pid = (int)getpid();

	if (engine_create(&cfg, &w->e) || engine_start(w->e))
		bench_die("bench-probes: engine_create/start failed");
	if (probe_mgr_create(w->e, &w->m, err, sizeof(err)))
		bench_die("bench-probes: %s", err);
	if (k->uprobe) {
		snprintf(spec, sizeof(spec), "uprobe:%s:bench_probe_work arm=1s key=tid topic=bench "
			 "pid=%d", self, pid);
		bp_wd_attach(w, spec);
		snprintf(spec, sizeof(spec), "uretprobe:%s:bench_probe_work cancel key=tid "
			 "topic=bench pid=%d", self, pid);
		bp_wd_attach(w, spec);
		return;
	}
	snprintf(spec, sizeof(spec), "tracepoint:syscalls:sys_enter_getppid arm=1s key=tid "
		 "topic=bench pid=%d", pid);
	bp_wd_attach(w, spec);
	snprintf(spec, sizeof(spec), "tracepoint:syscalls:sys_exit_getppid cancel key=tid "
		 "topic=bench pid=%d", pid);
	bp_wd_attach(w, spec);
}

/* Tears the watchdog down. */
static void bp_wd_stop(struct bp_wd *w)
{
	probe_mgr_destroy(w->m);
	engine_destroy(w->e);
}

/* The sum of both probes' counters, once the consumer applied everything. */
static struct probe_counters bp_wd_counters(struct bp_wd *w)
{
	struct probe_counters c;

	probe_sync(w->m);
	probe_totals(w->m, &c);
	return c;
}

/* Appends the watchdog's request accounting for `calls` calls between two counter reads. */
static void bp_wd_json(struct bench_json *j, const struct probe_counters *a,
		       const struct probe_counters *b, uint64_t calls, uint64_t fires)
{
	uint64_t arms = b->arms - a->arms, cancels = b->cancels - a->cancels;
	bool no_loss = b->ring_drops == a->ring_drops && b->errors == a->errors &&
		       arms == calls && cancels == calls;

	bench_json_uint(j, "calls", calls);
	bench_json_uint(j, "hits", b->hits - a->hits);
	bench_json_uint(j, "ring_drops", b->ring_drops - a->ring_drops);
	bench_json_uint(j, "errors", b->errors - a->errors);
	bench_json_num(j, "applied_frac", calls ? (double)(arms + cancels) / (2.0 * (double)calls) : 0);
	bench_json_num(j, "coalesced_frac",
		       arms ? (double)(b->coalesced - a->coalesced) / (double)arms : 0);
	bench_json_uint(j, "fires", fires);
	bench_json_bool(j, "no_loss", no_loss);
}

/* `timerd`: the watchdog flat out. Returns its median overhead. */
static double bp_timerd(struct bench_opts *o, const struct bp_case *k, struct bp_wd *w,
			double none_ns)
{
	struct bp_rep reps[BENCH_MAX_REPS];
	struct probe_counters a = bp_wd_counters(w), b;
	uint64_t f0 = bp_fires_now(), calls;
	double other[BENCH_MAX_REPS];
	struct bench_json j;
	unsigned retried = 0;

	calls = bp_reps(o, k, reps, &retried);
	b = bp_wd_counters(w);
	for (unsigned r = 0; r < o->reps; r++)
		other[r] = reps[r].other_cpu_ns / (double)reps[r].calls;
	bp_print(o, k, "timerd", reps, none_ns, retried, &j);
	bench_json_median(&j, "consumer_ns_per_call", other, o->reps);
	bp_wd_json(&j, &a, &b, calls, bp_fires_now() - f0);
	bench_json_end(&j);
	return bp_median_ns(o, reps) - none_ns;
}

/* A paced caller thread. */
struct bp_caller {
	pthread_t t;
	const struct bp_case *k;
	unsigned ms, rate;
	struct bp_rep r;
};

/* Thread body: calls at its rate for its time. */
static void *bp_caller_main(void *arg)
{
	struct bp_caller *c = arg;

	c->r = bp_loop(c->k, c->ms, c->rate);
	return NULL;
}

/*
 * <bench>.paced: the watchdog asked for BP_PACED_RATE calls/s in total,
 * split over `threads` caller threads; the rate achieved and whether any
 * request was lost.
 */
static void bp_paced(struct bench_opts *o, const struct bp_case *k, struct bp_wd *w,
		     unsigned threads)
{
	struct bp_caller c[BP_MAX_THREADS];
	unsigned ms = o->quick ? 200 : BP_PACED_MS;
	struct probe_counters a = bp_wd_counters(w), b;
	uint64_t f0 = bp_fires_now(), calls = 0, p0 = bp_process_cpu_ns(), t0 = bench_now_ns();
	double callers_cpu = 0;
	char name[64];
	struct bench_json j;

	for (unsigned i = 0; i < threads; i++) {
		c[i] = (struct bp_caller){ .k = k, .ms = ms, .rate = BP_PACED_RATE / threads };
		if (pthread_create(&c[i].t, NULL, bp_caller_main, &c[i]))
			bench_die("bench-probes: pthread_create failed");
	}
	for (unsigned i = 0; i < threads; i++) {
		pthread_join(c[i].t, NULL);
		calls += c[i].r.calls;
		callers_cpu += c[i].r.ns_per_call * (double)c[i].r.calls * c[i].r.cpu_frac;
	}
	double secs = (double)(bench_now_ns() - t0) / 1e9;

	b = bp_wd_counters(w);
	snprintf(name, sizeof(name), "%s.paced", k->bench);
	bench_json_begin(&j, name, "timerd", threads);
	bench_json_uint(&j, "target_calls_per_s", BP_PACED_RATE);
	bench_json_num(&j, "calls_per_s", (double)calls / secs);
	bench_json_uint(&j, "time_ms", ms);
	/* The consumer's and the dispatcher's CPU: the process's minus the callers'. */
	bench_json_num(&j, "consumer_ns_per_call",
		       ((double)(bp_process_cpu_ns() - p0) - callers_cpu) / (double)calls);
	bp_wd_json(&j, &a, &b, calls, bp_fires_now() - f0);
	bench_json_end(&j);
}

/* Prints <bench>.ratio: timerd's overhead over the bare probes'. */
static void bp_ratio(const struct bp_case *k, double timerd_ov, double empty_ov)
{
	struct bench_json j;
	char name[64];

	snprintf(name, sizeof(name), "%s.ratio", k->bench);
	bench_json_begin(&j, name, "timerd/empty-bpf", 1);
	bench_json_num(&j, "overhead_ratio", empty_ov > 0 ? timerd_ov / empty_ov : 0);
	bench_json_num(&j, "timerd_ns", timerd_ov);
	bench_json_num(&j, "empty_ns", empty_ov);
	bench_json_num(&j, "goal", 1.5);
	bench_json_end(&j);
}

/* Every row of one case. */
static void bp_case_run(struct bench_opts *o, const struct bp_case *k, const char *self)
{
	double none_ns = bp_none(o, k), empty_ov = bp_empty(o, k, self, none_ns), timerd_ov;
	struct bp_wd w;

	bp_wd_start(&w, k, self);
	timerd_ov = bp_timerd(o, k, &w, none_ns);
	bp_ratio(k, timerd_ov, empty_ov);
	bp_paced(o, k, &w, 1);
	if (k->paced_threads_max > 1)
		bp_paced(o, k, &w, k->paced_threads_max);
	bp_wd_stop(&w);
}

int main(int argc, char **argv)
{
	struct bench_opts o;
	struct bench_json j;
	char self[PROBE_PATH_MAX];

	bench_opts_parse(&o, argc, argv, "bench-probes");
	const struct bp_case cases[] = {
		{ .bench = "probe.watchdog", .call = bench_probe_work, .uprobe = true,
		  .paced_threads_max = o.ncpu < BP_MAX_THREADS ? o.ncpu : BP_MAX_THREADS },
		{ .bench = "probe.syscall", .call = bp_getppid, .uprobe = false },
	};

	bench_meta(&o, "bench-probes");
	if (!bench_family_selected(&o, "probe."))
		return 0;
	if (geteuid() != 0) {
		bench_json_begin(&j, "probe.skip", "none", 0);
		bench_json_str(&j, "reason", "BPF probes need root");
		bench_json_end(&j);
		return 0;
	}
	bp_self(self, sizeof(self));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (bench_family_selected(&o, cases[i].bench))
			bp_case_run(&o, &cases[i], self);
	return 0;
}
