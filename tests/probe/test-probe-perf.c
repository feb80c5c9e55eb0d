/*
 * test-probe-perf.c -- perf:cpu-clock probes.
 *
 * 1. System-wide: a freq=200 sampling event on every online CPU hits about
 *    200 times per busy CPU per second of wall time.
 * 2. A stall detector on one process: every sample of the process re-arms
 *    a periodic timer (arm=300ms every=100ms key=pid). While the process
 *    burns CPU the samples (every 2.5 ms of its CPU time) keep pushing the
 *    timer back; the number of hits matches its time on a CPU x 400 Hz (read
 *    from a counting cpu-clock event on the process). Once it
 *    stops running, the timer fires every 100 ms, each fire carrying its
 *    pid.
 */
#include "config.h"

#include <errno.h>
#include <linux/perf_event.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "tests/probe/probe-test.h"

/*
 * 400 Hz: 240 samples in the 600 ms, so that the noise of sampling a
 * process the scheduler keeps switching (measured on a loaded 2-CPU
 * machine: 0.86 to 1.00 at 100 Hz, 60 samples) stays well inside the bound.
 */
#define PF_FREQ	     400
#define PF_SPIN_MS   600
#define PF_DELAY_MS  300
#define PF_PERIOD_MS 100

/* The "cpu" line of /proc/stat: steal time of every CPU so far, ns. */
static int64_t pf_steal_ns(void)
{
	unsigned long long v[8] = { 0 };
	FILE *f = fopen("/proc/stat", "re");
	int n;

	PT_CHECK(f != NULL, "/proc/stat: %s", strerror(errno));
	n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
		   &v[4], &v[5], &v[6], &v[7]);
	fclose(f);
	PT_CHECK(n == 8, "/proc/stat: %d fields", n);
	return (int64_t)v[7] * (ENGINE_NS_PER_S / sysconf(_SC_CLK_TCK));
}

/*
 * Part 1: hits of an unfiltered probe against CPUs x frequency x time. One
 * spinner per CPU keeps every CPU busy during the window: an idle virtual
 * CPU wakes late and skips samples (measured: 0.95 idle, 1.00 busy). The
 * hits are counted over exactly the window that is timed, and the time the
 * hypervisor took from the virtual CPUs (steal: no sample fires then) is
 * left out of what is expected.
 */
static void pf_system_wide(struct pt_ctx *c)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	struct pt_child spin[64];
	struct probe_counters pc0, pc1;
	int64_t t0, t1, st0, st1;
	double expect, ratio, cpu_s;
	unsigned long long hits;
	uint32_t id;

	PT_CHECK(cpus > 0 && cpus <= 64, "%ld CPUs", cpus);
	for (long i = 0; i < cpus; i++)
		pt_spawn(&spin[i], c->target, (const char *[]){ "spin", "600", NULL });
	id = pt_attach(c, "perf:cpu-clock:freq=200 cancel key=const:1 topic=perfall");
	for (long i = 0; i < cpus; i++)
		pt_release(&spin[i]);
	pt_sleep_ms(50);	/* the spinners are running: the window starts */
	st0 = pf_steal_ns();
	t0 = pt_now();
	pc0 = pt_counters(c, id);
	pt_sleep_ms(300);	/* the spinners need 600 ms of CPU each: still running */
	pc1 = pt_counters(c, id);
	t1 = pt_now();
	st1 = pf_steal_ns();
	PT_CHECK(probe_detach(c->m, id) == 0, "detach");
	for (long i = 0; i < cpus; i++)
		free(pt_collect(&spin[i]));
	hits = (unsigned long long)(pc1.hits - pc0.hits);
	cpu_s = ((double)cpus * (double)(t1 - t0) - (double)(st1 - st0)) / 1e9;
	expect = 200.0 * cpu_s;
	ratio = (double)hits / expect;
	printf("system-wide: %llu hits in %.0f ms on %ld busy CPUs (%.0f ms stolen) at 200 Hz: "
	       "%.2f of expected\n", hits, (double)(t1 - t0) / 1e6, cpus,
	       (double)(st1 - st0) / 1e6, ratio);
	PT_CHECK(ratio > 0.75 && ratio < 1.25, "hits %llu, expected about %.0f", hits, expect);
	PT_CHECK(pc1.ring_drops == 0 && pc1.errors == 0, "drops or errors");
}

/* Checks the fires of the stall detector for pid, after the process ended at t_end. */
static void pf_check_fires(struct pt_ctx *c, pid_t pid, uint32_t id, int64_t t_end)
{
	static struct pt_fire f[PT_MAX_FIRES];
	size_t n = pt_fires(c, f, PT_MAX_FIRES), mine = 0;
	char key[64];

	snprintf(key, sizeof(key), "probe:stall:%d", (int)pid);
	for (size_t i = 0; i < n; i++) {
		PT_CHECK(strcmp(f[i].key, key) == 0, "unexpected fire %s", f[i].key);
		PT_CHECK(f[i].pid == (uint32_t)pid && f[i].probe_id == id &&
			 f[i].period == PF_PERIOD_MS * ENGINE_NS_PER_MS,
			 "fire: pid %u probe %u period %lld", f[i].pid, f[i].probe_id,
			 (long long)f[i].period);
		/* Due 300 ms after the last sample, which was just before the exit. */
		PT_CHECK(f[i].deadline >= t_end, "fired %.0f ms before the process stopped running",
			 (double)(t_end - f[i].deadline) / 1e6);
		if (mine)
			PT_CHECK(f[i].deadline - f[i - 1].deadline == PF_PERIOD_MS * ENGINE_NS_PER_MS,
				 "fires %.1f ms apart", (double)(f[i].deadline - f[i - 1].deadline) / 1e6);
		mine++;
	}
	printf("stall detector: %zu periodic fires after the process stopped\n", mine);
	PT_CHECK(mine >= 5, "%zu fires, expected at least 5", mine);
}

/*
 * A counting cpu-clock event on pid: the time it spends on a CPU as the
 * sampling events see it (the CPU's clock while it is current, stolen time
 * included), from now until it exits.
 */
static int pf_cpu_clock_open(pid_t pid)
{
	struct perf_event_attr a = { .type = PERF_TYPE_SOFTWARE, .size = sizeof(a),
				     .config = PERF_COUNT_SW_CPU_CLOCK };
	int fd = (int)syscall(SYS_perf_event_open, &a, pid, -1, -1, PERF_FLAG_FD_CLOEXEC);

	PT_CHECK(fd >= 0, "perf_event_open cpu-clock pid %d: %s", (int)pid, strerror(errno));
	return fd;
}

/*
 * Part 2: per-process samples re-arm a periodic stall timer. The hits are
 * compared with the CPU time the target consumed while they were counted
 * (from the attach to its exit: it waits at its gate until then), measured
 * by the kernel on the clock the samples use, not estimated.
 */
static void pf_stall_detector(struct pt_ctx *c)
{
	struct probe_counters pc;
	struct pt_child ch;
	long long cpu_ns = 0;
	uint64_t on_cpu_ns = 0;
	double expect, ratio;
	size_t nf;
	int cfd;
	int64_t t_end;
	uint32_t id;
	char *out, key[64];
	int klen;

	pt_spawn(&ch, c->target, (const char *[]){ "spin", "600", NULL });
	cfd = pf_cpu_clock_open(ch.pid);
	id = pt_attach(c, "perf:cpu-clock:freq=%d arm=%dms every=%dms key=pid topic=stall pid=%d",
		       PF_FREQ, PF_DELAY_MS, PF_PERIOD_MS, (int)ch.pid);
	pt_release(&ch);
	out = pt_collect(&ch);
	t_end = pt_now();
	PT_CHECK(sscanf(out, "cpu_ns %lld", &cpu_ns) == 1, "target said '%s'", out);
	free(out);
	PT_CHECK(read(cfd, &on_cpu_ns, sizeof(on_cpu_ns)) == sizeof(on_cpu_ns), "read cpu-clock: %s",
		 strerror(errno));
	close(cfd);
	/* 300 ms after the last sample the timer fires, then every 100 ms: wait for 5. */
	nf = pt_wait_fires(c, 5, PT_DEADLINE_MS);
	PT_CHECK(nf >= 5, "%zu stall fires", nf);
	pc = pt_counters(c, id);
	PT_CHECK(probe_detach(c->m, id) == 0, "detach");
	expect = (double)on_cpu_ns / 1e9 * PF_FREQ;
	ratio = (double)pc.hits / expect;
	printf("per-process: %llu hits for %.0f ms on a CPU (%.0f ms of its own CPU time) at %d Hz: "
	       "%.2f of expected; arms %llu\n", (unsigned long long)pc.hits,
	       (double)on_cpu_ns / 1e6, (double)cpu_ns / 1e6, PF_FREQ, ratio,
	       (unsigned long long)pc.arms);
	/*
	 * Sampling a process that shares its CPU errs upwards too (a hog is
	 * preempted at an interrupt, often right after the sample that
	 * interrupt took): measured 0.98 to 1.10 at 400 Hz under a load of 4
	 * on 2 CPUs. The bound still fails a probe that loses a third of its
	 * samples or counts each twice.
	 */
	PT_CHECK(ratio > 0.7 && ratio < 1.5, "hits %llu, expected about %.0f",
		 (unsigned long long)pc.hits, expect);
	PT_CHECK(pc.arms == pc.hits && pc.ring_drops == 0 && pc.errors == 0,
		 "arms %llu drops %llu errors %llu", (unsigned long long)pc.arms,
		 (unsigned long long)pc.ring_drops, (unsigned long long)pc.errors);
	pf_check_fires(c, ch.pid, id, t_end);

	/* The periodic timer is still there under its documented key: cancel it. */
	klen = snprintf(key, sizeof(key), "probe:stall:%d", (int)ch.pid);
	PT_CHECK(engine_cancel(c->e, 0, key, (uint32_t)klen) == 0, "cancel %s", key);
}

int main(void)
{
	struct pt_ctx c;

	pt_init(&c, "test-probe-perf");
	pf_system_wide(&c);
	pf_stall_detector(&c);
	PT_CHECK(probe_list(c.m, NULL, 0) == 0, "probes left");
	pt_fini(&c);
	printf("PASS\n");
	return 0;
}
