/*
 * test-probe-perf.c -- perf:cpu-clock probes.
 *
 * 1. System-wide: a freq=200 sampling event on every online CPU hits about
 *    200 times per busy CPU per second of wall time.
 * 2. A stall detector on one process: every sample of the process re-arms
 *    a periodic timer (arm=300ms every=100ms key=pid). While the process
 *    burns CPU the samples (every 10 ms of its CPU time) keep pushing the
 *    timer back; the number of hits matches its CPU time x 100 Hz. Once it
 *    stops running, the timer fires every 100 ms, each fire carrying its
 *    pid.
 */
#include "config.h"

#include <string.h>
#include <unistd.h>

#include "tests/probe/probe-test.h"

#define PF_FREQ	     100
#define PF_SPIN_MS   600
#define PF_DELAY_MS  300
#define PF_PERIOD_MS 100

/*
 * Part 1: hits of an unfiltered probe against CPUs x frequency x time. One
 * spinner per CPU keeps every CPU busy during the window: an idle virtual
 * CPU wakes late and skips samples (measured: 0.95 idle, 1.00 busy).
 */
static void pf_system_wide(struct pt_ctx *c)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	struct pt_child spin[64];
	struct probe_counters pc;
	int64_t t0, t1;
	double expect, ratio;
	uint32_t id;

	PT_CHECK(cpus > 0 && cpus <= 64, "%ld CPUs", cpus);
	for (long i = 0; i < cpus; i++)
		pt_spawn(&spin[i], c->target, (const char *[]){ "spin", "600", NULL });
	id = pt_attach(c, "perf:cpu-clock:freq=200 cancel key=const:1 topic=perfall");
	for (long i = 0; i < cpus; i++)
		pt_release(&spin[i]);
	t0 = pt_now();
	pt_sleep_ms(400);	/* the spinners need 600 ms of CPU each: still running */
	pc = pt_counters(c, id);
	t1 = pt_now();
	PT_CHECK(probe_detach(c->m, id) == 0, "detach");
	for (long i = 0; i < cpus; i++)
		free(pt_collect(&spin[i]));
	expect = 200.0 * (double)cpus * (double)(t1 - t0) / 1e9;
	ratio = (double)pc.hits / expect;
	printf("system-wide: %llu hits in %.0f ms on %ld busy CPUs at 200 Hz: %.2f of expected\n",
	       (unsigned long long)pc.hits, (double)(t1 - t0) / 1e6, cpus, ratio);
	PT_CHECK(ratio > 0.75 && ratio < 1.25, "hits %llu, expected about %.0f",
		 (unsigned long long)pc.hits, expect);
	PT_CHECK(pc.ring_drops == 0 && pc.errors == 0, "drops or errors");
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
	PT_CHECK(mine >= 3, "%zu fires, expected about 6", mine);
}

/* Part 2: per-process samples re-arm a periodic stall timer. */
static void pf_stall_detector(struct pt_ctx *c)
{
	struct probe_counters pc;
	struct pt_child ch;
	long long cpu_ns = 0;
	double expect, ratio;
	int64_t t_end;
	uint32_t id;
	char *out, key[64];
	int klen;

	pt_spawn(&ch, c->target, (const char *[]){ "spin", "600", NULL });
	id = pt_attach(c, "perf:cpu-clock:freq=%d arm=%dms every=%dms key=pid topic=stall pid=%d",
		       PF_FREQ, PF_DELAY_MS, PF_PERIOD_MS, (int)ch.pid);
	pt_release(&ch);
	out = pt_collect(&ch);
	t_end = pt_now();
	PT_CHECK(sscanf(out, "cpu_ns %lld", &cpu_ns) == 1, "target said '%s'", out);
	free(out);
	pt_settle(c, PF_DELAY_MS + 5 * PF_PERIOD_MS + 50);
	pc = pt_counters(c, id);
	PT_CHECK(probe_detach(c->m, id) == 0, "detach");
	expect = (double)cpu_ns / 1e9 * PF_FREQ;
	ratio = (double)pc.hits / expect;
	printf("per-process: %llu hits for %.0f ms of CPU at %d Hz: %.2f of expected; arms %llu\n",
	       (unsigned long long)pc.hits, (double)cpu_ns / 1e6, PF_FREQ, ratio,
	       (unsigned long long)pc.arms);
	PT_CHECK(ratio > 0.75 && ratio < 1.25, "hits %llu, expected about %.0f",
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
