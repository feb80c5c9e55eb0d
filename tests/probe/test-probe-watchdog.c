/*
 * test-probe-watchdog.c -- the watchdog recipe end to end: an entry probe
 * arms a 20 ms timer, a return probe cancels it; exactly the slow calls
 * (60 ms) fire, each carrying the tid, pid and comm of the thread that
 * made the call and the id of the entry probe.
 *
 * Built twice: test-probe-uprobe (uprobe + uretprobe on
 * probe_target_work, key=tid) and test-probe-usdt (the USDT probes
 * timerd_test:work_begin / work_end, key=arg0: the request id).
 */
#include "config.h"

#include <string.h>

#include "tests/probe/probe-test.h"

#define WD_THREADS    3
#define WD_CALLS      25
#define WD_SLOW_EVERY 5	/* 5 slow calls per thread */
#define WD_SLOW_MS    60
#define WD_BUDGET_MS  20

/* What the target reported: its slow calls. */
struct wd_slow {
	uint32_t tid;
	unsigned long req;
	int fires;
};

/* Parses "slow TID REQ" lines; returns how many. */
static size_t wd_parse(const char *out, struct wd_slow *v, size_t max, unsigned *calls)
{
	size_t n = 0;
	unsigned c = 0;

	for (const char *l = out; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
		unsigned tid, k;
		unsigned long req;

		if (sscanf(l, "slow %u %lu", &tid, &req) == 2 && n < max)
			v[n++] = (struct wd_slow){ .tid = tid, .req = req };
		else if (sscanf(l, "calls %u %u", &tid, &k) == 2)
			c += k;
	}
	*calls = c;
	return n;
}

/* Finds the slow call a fire belongs to: by request id (USDT) or by tid. */
static struct wd_slow *wd_match(struct wd_slow *v, size_t n, const struct pt_fire *f,
				const char *topic)
{
	char key[128];

	for (size_t i = 0; i < n; i++) {
#ifdef WATCHDOG_USDT
		snprintf(key, sizeof(key), "probe:%s:%lu", topic, v[i].req);
		if (strcmp(f->key, key) == 0 && v[i].tid == f->tid && !v[i].fires)
			return &v[i];
#else
		snprintf(key, sizeof(key), "probe:%s:%u", topic, v[i].tid);
		if (strcmp(f->key, key) == 0 && v[i].tid == f->tid && !v[i].fires)
			return &v[i];
#endif
	}
	return NULL;
}

/* Checks one fire's origin and marks the slow call it reports. */
static void wd_check_fire(const struct pt_fire *f, struct wd_slow *v, size_t n, pid_t pid,
			  uint32_t entry_id, const char *topic)
{
	struct wd_slow *s;

	PT_CHECK(f->has_origin && (f->flags & PROBE_TIMER_FLAG), "fire %s without origin", f->key);
	PT_CHECK(f->pid == (uint32_t)pid, "fire %s: pid %u, expected %d", f->key, f->pid, (int)pid);
	PT_CHECK(strcmp(f->comm, "probe-target") == 0, "fire %s: comm '%s'", f->key, f->comm);
	PT_CHECK(f->probe_id == entry_id, "fire %s: probe %u, expected %u", f->key, f->probe_id,
		 entry_id);
	PT_CHECK(strcmp(f->topic, topic) == 0, "fire %s: topic '%s'", f->key, f->topic);
	PT_CHECK(f->deadline == (int64_t)f->hit_ns + WD_BUDGET_MS * ENGINE_NS_PER_MS,
		 "fire %s: deadline is not hit + budget", f->key);
	PT_CHECK(f->fired_at >= f->deadline, "fire %s: early", f->key);
	s = wd_match(v, n, f, topic);
	PT_CHECK(s != NULL, "fire %s (tid %u) matches no slow call: a fast call fired", f->key,
		 f->tid);
	s->fires++;
}

int main(void)
{
	static struct pt_fire fires[PT_MAX_FIRES];
	struct wd_slow slow[WD_THREADS * WD_CALLS];
	struct probe_counters ce, cr;
	struct pt_ctx c;
	struct pt_child ch;
	uint32_t entry, ret;
	unsigned calls;
	size_t nslow, nf;
	char *out;
#ifdef WATCHDOG_USDT
	const char *topic = "wdusdt";
	pt_init(&c, "test-probe-usdt");
#else
	const char *topic = "wd";
	pt_init(&c, "test-probe-uprobe");
#endif

	pt_spawn(&ch, c.target, (const char *[]){ "work", "3", "25", "5", "60", NULL });
#ifdef WATCHDOG_USDT
	entry = pt_attach(&c, "usdt:%s:timerd_test:work_begin arm=%dms key=arg0 topic=%s pid=%d",
			  c.target, WD_BUDGET_MS, topic, (int)ch.pid);
	ret = pt_attach(&c, "usdt:%s:timerd_test:work_end cancel key=arg0 topic=%s pid=%d",
			c.target, topic, (int)ch.pid);
#else
	entry = pt_attach(&c, "uprobe:%s:probe_target_work arm=%dms key=tid topic=%s pid=%d",
			  c.target, WD_BUDGET_MS, topic, (int)ch.pid);
	ret = pt_attach(&c, "uretprobe:%s:probe_target_work cancel key=tid topic=%s pid=%d",
			c.target, topic, (int)ch.pid);
#endif
	pt_release(&ch);
	out = pt_collect(&ch);
	nslow = wd_parse(out, slow, WD_THREADS * WD_CALLS, &calls);
	PT_CHECK(calls == WD_THREADS * WD_CALLS, "target made %u calls", calls);
	PT_CHECK(nslow == WD_THREADS * WD_CALLS / WD_SLOW_EVERY, "target made %zu slow calls", nslow);
	/* One fire per slow call, and none more once every fast call's timer would be due. */
	nf = pt_wait_fires(&c, nslow, PT_DEADLINE_MS);
	PT_CHECK(nf >= nslow, "%zu fires for %zu slow calls", nf, nslow);
	pt_no_more_fires(&c, nf, 3 * WD_BUDGET_MS);

	nf = pt_fires(&c, fires, PT_MAX_FIRES);
	for (size_t i = 0; i < nf; i++)
		wd_check_fire(&fires[i], slow, nslow, ch.pid, entry, topic);
	for (size_t i = 0; i < nslow; i++)
		PT_CHECK(slow[i].fires == 1, "slow call tid %u req %lu fired %d times", slow[i].tid,
			 slow[i].req, slow[i].fires);
	PT_CHECK(nf == nslow, "%zu fires for %zu slow calls", nf, nslow);

	ce = pt_counters(&c, entry);
	cr = pt_counters(&c, ret);
	printf("entry: hits %llu arms %llu coalesced %llu drops %llu errors %llu\n",
	       (unsigned long long)ce.hits, (unsigned long long)ce.arms,
	       (unsigned long long)ce.coalesced, (unsigned long long)ce.ring_drops,
	       (unsigned long long)ce.errors);
	printf("return: hits %llu cancels %llu misses %llu drops %llu errors %llu\n",
	       (unsigned long long)cr.hits, (unsigned long long)cr.cancels,
	       (unsigned long long)cr.misses, (unsigned long long)cr.ring_drops,
	       (unsigned long long)cr.errors);
	PT_CHECK(ce.hits == calls && cr.hits == calls, "hits %llu/%llu for %u calls",
		 (unsigned long long)ce.hits, (unsigned long long)cr.hits, calls);
	PT_CHECK(ce.arms == calls && cr.cancels == calls, "arms %llu cancels %llu",
		 (unsigned long long)ce.arms, (unsigned long long)cr.cancels);
	PT_CHECK(cr.misses == nslow, "misses %llu: every slow call's cancel finds its timer fired",
		 (unsigned long long)cr.misses);
	PT_CHECK(ce.ring_drops + cr.ring_drops + ce.errors + cr.errors == 0, "drops or errors");

	PT_CHECK(probe_detach(c.m, entry) == 0 && probe_detach(c.m, ret) == 0, "detach");
	PT_CHECK(probe_list(c.m, NULL, 0) == 0, "probes left after detach");
	free(out);
	pt_fini(&c);
	printf("PASS: %zu slow calls of %u fired, each with its tid; no fast call fired\n", nslow,
	       calls);
	return 0;
}
