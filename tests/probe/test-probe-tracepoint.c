/*
 * test-probe-tracepoint.c -- tracepoint probes: sched:sched_process_exit
 * cancels the timers of the processes that exit (timers armed directly on
 * the engine under the documented key "probe:<topic>:<pid>", as an RPC
 * client would arm them), leaves the others alone, and with arm= fires one
 * timer carrying the exiting process's pid, tid and comm.
 */
#include "config.h"

#include <string.h>

#include "tests/probe/probe-test.h"

/* Arms a 10 s timer keyed like a key=pid probe of topic "life" would key it. */
static void tp_arm(struct pt_ctx *c, pid_t pid)
{
	struct engine_arm_result r;
	char key[64];
	struct engine_arm a = { .key = key, .when = ENGINE_AFTER, .time = 10 * ENGINE_NS_PER_S,
				.topic = "life", .topiclen = 4 };

	a.keylen = (uint32_t)snprintf(key, sizeof(key), "probe:life:%d", (int)pid);
	PT_CHECK(engine_arm(c->e, &a, &r) == 0, "engine_arm %s", key);
}

/* True if the timer of pid exists. */
static bool tp_exists(struct pt_ctx *c, pid_t pid)
{
	struct engine_timer *t;
	char key[64];
	int n = snprintf(key, sizeof(key), "probe:life:%d", (int)pid);
	int rc = engine_get(c->e, 0, key, (uint32_t)n, &t);

	PT_CHECK(rc == 0 || rc == TD_ENOENT, "engine_get %s: %d", key, rc);
	if (rc == 0)
		engine_timer_free(t);
	return rc == 0;
}

/* What tp_gone looks at. */
struct tp_pid {
	struct pt_ctx *c;
	pid_t pid;
};

/* True once the timer of p->pid is gone. */
static bool tp_gone(void *arg)
{
	struct tp_pid *p = arg;

	return !tp_exists(p->c, p->pid);
}

/* Waits for pid's timer to be cancelled; true if it was. */
static bool tp_wait_gone(struct pt_ctx *c, pid_t pid)
{
	struct tp_pid p = { c, pid };

	return pt_wait(c, tp_gone, &p, PT_DEADLINE_MS, "cancel of the exited pid's timer");
}

/* True once exactly our 3 timers were cancelled (the other cancels missed). */
static bool tp_settled(const struct probe_counters *pc, void *arg)
{
	(void)arg;
	return pc->cancels >= pc->misses && pc->cancels - pc->misses == 3;
}

/* Starts a target that makes one fast call and exits when released. */
static void tp_spawn(struct pt_ctx *c, struct pt_child *ch)
{
	pt_spawn(ch, c->target, (const char *[]){ "spin", "1", NULL });
}

int main(void)
{
	static struct pt_fire fires[PT_MAX_FIRES];
	struct pt_child a, b, k, d;
	struct probe_counters pc;
	struct pt_ctx c;
	uint32_t cancel_id, arm_id;
	size_t nf, mine = 0;

	pt_init(&c, "test-probe-tracepoint");
	tp_spawn(&c, &a);
	tp_spawn(&c, &b);
	tp_spawn(&c, &k);
	tp_spawn(&c, &d);
	tp_arm(&c, a.pid);
	tp_arm(&c, b.pid);
	tp_arm(&c, k.pid);
	cancel_id = pt_attach(&c, "tracepoint:sched:sched_process_exit cancel key=pid topic=life");
	arm_id = pt_attach(&c, "tracepoint:sched:sched_process_exit arm=0ms key=pid topic=exited "
			   "pid=%d", (int)d.pid);

	pt_release(&a);
	pt_release(&b);
	free(pt_collect(&a));
	free(pt_collect(&b));
	PT_CHECK(tp_wait_gone(&c, a.pid), "the timer of exited pid %d was not cancelled", (int)a.pid);
	PT_CHECK(tp_wait_gone(&c, b.pid), "the timer of exited pid %d was not cancelled", (int)b.pid);
	PT_CHECK(tp_exists(&c, k.pid), "the timer of live pid %d was cancelled", (int)k.pid);

	pt_release(&k);
	free(pt_collect(&k));
	PT_CHECK(tp_wait_gone(&c, k.pid), "the timer of exited pid %d was not cancelled", (int)k.pid);

	pt_release(&d);
	free(pt_collect(&d));
	/* arm=0ms: one fire at once; then none more (the pid exits once). */
	nf = pt_wait_fires(&c, 1, PT_DEADLINE_MS);
	PT_CHECK(nf >= 1, "no fire for the exit of pid %d", (int)d.pid);
	pt_no_more_fires(&c, nf, 200);
	nf = pt_fires(&c, fires, PT_MAX_FIRES);
	for (size_t i = 0; i < nf; i++) {
		PT_CHECK(strcmp(fires[i].topic, "exited") == 0, "unexpected fire %s", fires[i].key);
		PT_CHECK(fires[i].pid == (uint32_t)d.pid && fires[i].tid == (uint32_t)d.pid &&
			 strcmp(fires[i].comm, "probe-target") == 0 &&
			 fires[i].probe_id == arm_id, "fire %s: pid %u tid %u comm %s probe %u",
			 fires[i].key, fires[i].pid, fires[i].tid, fires[i].comm, fires[i].probe_id);
		mine++;
	}
	PT_CHECK(mine == 1, "%zu fires for the exit of pid %d, expected 1", mine, (int)d.pid);

	/*
	 * Every exit on the machine hits (other tests run in parallel), so wait
	 * until the counters of the consumer are settled: exactly our 3 timers
	 * were cancelled; the other exits' cancels found no timer (misses).
	 */
	pt_wait_counters(&c, cancel_id, tp_settled, NULL, PT_DEADLINE_MS,
			 "3 cancels more than misses", &pc);
	printf("cancel probe: hits %llu cancels %llu misses %llu drops %llu\n",
	       (unsigned long long)pc.hits, (unsigned long long)pc.cancels,
	       (unsigned long long)pc.misses, (unsigned long long)pc.ring_drops);
	PT_CHECK(pc.hits >= 4 && pc.cancels >= 4 && pc.cancels - pc.misses == 3,
		 "hits %llu cancels %llu misses %llu", (unsigned long long)pc.hits,
		 (unsigned long long)pc.cancels, (unsigned long long)pc.misses);
	pc = pt_counters(&c, arm_id);
	PT_CHECK(pc.hits == 1 && pc.arms == 1, "pid-filtered probe: hits %llu arms %llu",
		 (unsigned long long)pc.hits, (unsigned long long)pc.arms);
	pt_fini(&c);
	printf("PASS: exits cancelled their pids' timers; the live one kept its timer\n");
	return 0;
}
