/*
 * stress-hazptr.c -- concurrent protect/retire on a shared array of objects.
 *
 * Invariants checked in each of the four modes (asymmetric / full fence,
 * with / without the scanner thread):
 *  - a protected object is alive: its magic is intact and its value
 *    unchanged while held (freed objects are poisoned before free(); under
 *    ASan any use after free aborts);
 *  - no thread's private retired list reaches its threshold R, and the
 *    domain's pending count stays within the documented bound;
 *  - a reader stalled on one object holds back only that object;
 *  - short-lived threads that exit with pending retirements hand them over;
 *  - at the end every object ever retired has been freed exactly once.
 */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "hazptr.h"
#include "stress.h"
#include "tests/wait.h"

#define NSLOTS	64
#define WRITERS 2
#define READERS 3
#define ALIVE	0xA11FE5A11FE5ULL
#define DEAD	0xDEADDEADDEADULL
#define RETIRE_THRESHOLD 64

struct obj {
	struct hazptr_node hp;
	uint64_t magic;
	uint64_t value;
};

static struct {
	struct hazptr_domain d;
	_Atomic(struct obj *) slot[NSLOTS];
	_Atomic(struct obj *) stalled_src;
	_Atomic bool stop;
	_Atomic uint64_t allocated, freed, protects, max_pending;
} S;

static void obj_free(struct hazptr_node *n)
{
	struct obj *o = (struct obj *)n;

	STRESS_CHECK(o->magic == ALIVE, "object freed twice or corrupted");
	o->magic = DEAD;	/* poison: a later reader sees it (or ASan stops it) */
	o->value = 0;
	atomic_fetch_add_explicit(&S.freed, 1, memory_order_relaxed);
	free(o);
}

static struct obj *obj_new(uint64_t v)
{
	struct obj *o = malloc(sizeof(*o));

	STRESS_CHECK(o, "out of memory");
	o->magic = ALIVE;
	o->value = v;
	atomic_fetch_add_explicit(&S.allocated, 1, memory_order_relaxed);
	return o;
}

/* Current threshold R, as the domain computes it. */
static size_t threshold(void)
{
	size_t h2 = 2 * (size_t)atomic_load(&S.d.nslots);

	return h2 > S.d.threshold ? h2 : S.d.threshold;
}

/* Replaces a random object and retires the old one. */
static void *writer(void *arg)
{
	struct hazptr_thread *t = hazptr_thread_register(&S.d);
	unsigned long long rnd = (uintptr_t)arg * 7919 + 1;

	while (!atomic_load_explicit(&S.stop, memory_order_relaxed)) {
		unsigned i = (unsigned)(stress_rand(&rnd) % NSLOTS);
		struct obj *o = obj_new(stress_rand(&rnd));
		struct obj *old = atomic_exchange_explicit(&S.slot[i], o, memory_order_acq_rel);

		if (old)
			hazptr_retire(t, &old->hp, obj_free);
		STRESS_CHECK(t->nretired < threshold(), "retired list %zu reached R=%zu",
			     t->nretired, threshold());
	}
	hazptr_thread_unregister(t);
	return NULL;
}

/* Checks that o is alive and stable while protected. */
static void check_alive(const struct obj *o)
{
	uint64_t v = o->value;

	STRESS_CHECK(o->magic == ALIVE, "protected object was freed (magic %llx)",
		     (unsigned long long)o->magic);
	for (int k = 0; k < 8; k++)
		STRESS_CHECK(o->value == v, "protected object changed under the reader");
}

static void *reader(void *arg)
{
	struct hazptr_thread *t = hazptr_thread_self(&S.d);
	unsigned long long rnd = (uintptr_t)arg * 104729 + 3;
	uint64_t n = 0;

	while (!atomic_load_explicit(&S.stop, memory_order_relaxed)) {
		unsigned i = (unsigned)(stress_rand(&rnd) % NSLOTS);
		unsigned j = (i + 1) % NSLOTS;
		struct obj *a = hazptr_protect(t, 0, (void *_Atomic *)&S.slot[i]);
		struct obj *b = hazptr_protect(t, 1, (void *_Atomic *)&S.slot[j]);

		if (a)
			check_alive(a);
		if (b)
			check_alive(b);
		hazptr_release(t, 1);
		hazptr_release(t, 0);
		n++;
	}
	atomic_fetch_add(&S.protects, n);
	return NULL;
}

/* Holds one object for the whole run: it alone must be held back. */
static void *stalled_reader(void *arg)
{
	struct hazptr_thread *t = hazptr_thread_self(&S.d);
	struct obj *o = hazptr_protect(t, 2, (void *_Atomic *)&S.stalled_src);

	(void)arg;
	STRESS_CHECK(o, "stalled reader found nothing");
	/* Unlink it; a writer-side retire happens below while we hold it. */
	atomic_store(&S.stalled_src, NULL);
	hazptr_retire(t, &o->hp, obj_free);
	while (!atomic_load_explicit(&S.stop, memory_order_relaxed)) {
		check_alive(o);
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
	}
	check_alive(o);
	hazptr_release(t, 2);
	return NULL;
}

/* A short-lived thread: retires a few objects and exits without scanning. */
static void *churn_thread(void *arg)
{
	struct hazptr_thread *t = hazptr_thread_self(&S.d);
	unsigned long long rnd = (uintptr_t)arg + 17;

	for (int k = 0; k < 5; k++) {
		unsigned i = (unsigned)(stress_rand(&rnd) % NSLOTS);
		struct obj *old = atomic_exchange(&S.slot[i], obj_new(k));

		if (old)
			hazptr_retire(t, &old->hp, obj_free);
	}
	return NULL;
}

/*
 * Scans as thread arg; true once every allocated object was freed and the
 * domain's counters say so: the scanner thread counts a batch as reclaimed
 * only after freeing all of it, so the frees are seen first.
 */
static bool scan_freed_all(void *arg)
{
	struct hazptr_stats st;

	hazptr_scan(arg);
	hazptr_stats(&S.d, &st);
	return atomic_load(&S.freed) >= atomic_load(&S.allocated) && st.pending == 0;
}

/* Runs one mode and checks the invariants. */
static void run(enum hazptr_fence fence, bool scanner, double secs)
{
	struct hazptr_config cfg = { .fence = fence, .scanner_thread = scanner,
				     .retire_threshold = RETIRE_THRESHOLD };
	pthread_t w[WRITERS], r[READERS], stalled;
	struct hazptr_thread *self;
	struct hazptr_stats st;
	uint64_t churned = 0, bound;
	double end;

	memset(&S, 0, sizeof(S));
	STRESS_CHECK(hazptr_domain_init(&S.d, &cfg) == 0, "domain init failed");
	for (int i = 0; i < NSLOTS; i++)
		atomic_store(&S.slot[i], obj_new((uint64_t)i));
	atomic_store(&S.stalled_src, obj_new(42));
	pthread_create(&stalled, NULL, stalled_reader, NULL);
	for (int i = 0; i < WRITERS; i++)
		pthread_create(&w[i], NULL, writer, (void *)(uintptr_t)(i + 1));
	for (int i = 0; i < READERS; i++)
		pthread_create(&r[i], NULL, reader, (void *)(uintptr_t)(i + 1));
	end = stress_now() + secs;
	while (stress_now() < end) {
		pthread_t c;
		size_t threads;

		pthread_create(&c, NULL, churn_thread, (void *)(uintptr_t)churned++);
		pthread_join(c, NULL);
		hazptr_stats(&S.d, &st);
		threads = st.slots / HAZPTR_SLOTS + 1;
		/* Private lists + orphans (each <= H after a scan) + scanner queue. */
		bound = threads * threshold() + st.slots +
			(scanner ? 4 * threshold() * threads + threshold() : 0) +
			atomic_load(&S.d.norphans);
		STRESS_CHECK(st.pending <= bound, "pending %llu exceeds bound %llu",
			     (unsigned long long)st.pending, (unsigned long long)bound);
		if (st.pending > S.max_pending)
			S.max_pending = st.pending;
		nanosleep(&(struct timespec){ .tv_nsec = 2000000 }, NULL);
	}
	atomic_store(&S.stop, true);
	for (int i = 0; i < WRITERS; i++)
		pthread_join(w[i], NULL);
	for (int i = 0; i < READERS; i++)
		pthread_join(r[i], NULL);
	pthread_join(stalled, NULL);

	/* Retire what is left, then a final scan must free everything. */
	self = hazptr_thread_register(&S.d);
	for (int i = 0; i < NSLOTS; i++)
		hazptr_retire(self, &atomic_exchange(&S.slot[i], NULL)->hp, obj_free);
	wait_until(scan_freed_all, self, 5000, "final scan freeing every object");
	hazptr_stats(&S.d, &st);
	printf("fence=%s scanner=%d: protects=%llu allocated=%llu freed=%llu scans=%llu "
	       "membarriers=%llu max_pending=%llu churn_threads=%llu\n",
	       st.asymmetric ? "asym" : "full", scanner, (unsigned long long)S.protects,
	       (unsigned long long)S.allocated, (unsigned long long)S.freed,
	       (unsigned long long)st.scans, (unsigned long long)st.membarriers,
	       (unsigned long long)S.max_pending, (unsigned long long)churned);
	STRESS_CHECK(S.freed == S.allocated, "%llu objects never freed",
		     (unsigned long long)(S.allocated - S.freed));
	STRESS_CHECK(st.pending == 0, "stats report %llu pending", (unsigned long long)st.pending);
	STRESS_CHECK(fence == HAZPTR_FENCE_FULL ? !st.asymmetric : true, "full fence not forced");
	hazptr_thread_unregister(self);
	hazptr_domain_destroy(&S.d);
}

int main(void)
{
	double secs = stress_seconds(1.5);

	run(HAZPTR_FENCE_AUTO, false, secs);
	run(HAZPTR_FENCE_FULL, false, secs);
	run(HAZPTR_FENCE_AUTO, true, secs);
	run(HAZPTR_FENCE_FULL, true, secs);
	return 0;
}
