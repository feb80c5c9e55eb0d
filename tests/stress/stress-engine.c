/*
 * stress-engine.c -- producers arm, re-arm and cancel while the real
 * dispatcher fires.
 *
 * Owned keys: each of PRODUCERS threads owns KEYS keys and records every
 * operation (call and return times, deadline). Afterwards, per key:
 *  - no fire is early, and each fire matches an arm of that key;
 *  - an arm fires at most once;
 *  - an arm superseded (re-armed or cancelled) by an operation that
 *    returned before its deadline never fires;
 *  - the last arm of a key, if not cancelled, fires exactly once.
 * Contended timers: two extra threads hammer the same few keys and the same
 * few numeric ids (cell races, coalescing, kill/revive, ids reused after
 * removal) and finally cancel them all; afterwards no timer may remain and
 * every fire must be on time.
 */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "stress.h"

#define PRODUCERS 3
#define KEYS 128
#define OPS 400
#define CONTENDERS 2
#define CKEYS 16
#define MS ENGINE_NS_PER_MS
#define QUIET_SECONDS 20	/* bound on the wait for the last fires (TSan is slow) */

struct op {
	char type;		/* 'a' arm, 'c' cancel */
	int64_t deadline, t_call, t_ret;
};

static struct {
	struct engine *e;
	struct op ops[PRODUCERS][KEYS][OPS];
	int nops[PRODUCERS][KEYS];
	int64_t fired[PRODUCERS][KEYS][OPS + 4];
	int nfired[PRODUCERS][KEYS];
	pthread_mutex_t mu;
	_Atomic bool stop;
	_Atomic uint64_t cfires, early;
	_Atomic uint64_t nids[CKEYS];	/* numeric timers the contenders share */
	int64_t max_deadline;
} S;

static int64_t mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * ENGINE_NS_PER_S + ts.tv_nsec;
}

/* Records fires of owned keys ("o<t>.<k>") and counts contended ones. */
static void on_fire(void *arg, const struct engine_fire *f)
{
	char key[32];
	int t, k;

	(void)arg;
	if (f->fired_at < f->deadline)
		atomic_fetch_add(&S.early, 1);
	if (f->keylen >= sizeof(key) || (f->keylen && !f->key))
		STRESS_FAIL("fire with an unexpected key length %u", f->keylen);
	if (f->keylen)
		memcpy(key, f->key, f->keylen);
	key[f->keylen] = '\0';
	if (!f->keylen || key[0] == 'c') {
		atomic_fetch_add(&S.cfires, 1);
		return;
	}
	STRESS_CHECK(sscanf(key, "o%d.%d", &t, &k) == 2, "fire with unknown key '%s'", key);
	pthread_mutex_lock(&S.mu);
	STRESS_CHECK(S.nfired[t][k] < OPS + 4, "key %s fired too often", key);
	S.fired[t][k][S.nfired[t][k]++] = f->deadline;
	pthread_mutex_unlock(&S.mu);
}

/* Arms key after delay; returns the deadline. */
static int64_t do_arm(const char *key, int64_t delay)
{
	struct engine_arm a = { .key = key, .keylen = (uint32_t)strlen(key),
				.when = ENGINE_AFTER, .time = delay };
	struct engine_arm_result r;
	int err = engine_arm(S.e, &a, &r);

	STRESS_CHECK(err == 0, "arm %s: %s", key, td_strerror(err));
	return r.deadline;
}

static void *producer(void *arg)
{
	int t = (int)(uintptr_t)arg;
	unsigned long long rnd = 0x9E3779B97F4A7C15ULL * (unsigned long long)(t + 1);
	char key[32];

	for (int i = 0; i < OPS; i++) {
		for (int k = 0; k < KEYS; k++) {
			struct op *o = &S.ops[t][k][S.nops[t][k]++];

			snprintf(key, sizeof(key), "o%d.%d", t, k);
			o->t_call = mono();
			if (stress_rand(&rnd) % 4 == 0) {
				int err = engine_cancel(S.e, 0, key, (uint32_t)strlen(key));

				STRESS_CHECK(err == 0 || err == TD_ENOENT, "cancel: %s", td_strerror(err));
				o->type = 'c';
			} else {
				o->type = 'a';
				o->deadline = do_arm(key, (int64_t)(stress_rand(&rnd) % (8 * MS)));
			}
			o->t_ret = mono();
		}
		usleep(stress_rand(&rnd) % 2000);
	}
	return NULL;
}

/* Creates, re-arms or cancels a numeric timer of a shared set, by id. */
static void contend_by_id(unsigned long long *rnd)
{
	_Atomic uint64_t *slot = &S.nids[stress_rand(rnd) % CKEYS];
	uint64_t id = atomic_load(slot);
	struct engine_arm a = { .id = id, .when = ENGINE_AFTER,
				.time = (int64_t)(stress_rand(rnd) % (2 * MS)) };
	struct engine_arm_result r;
	int err;

	if (!id || stress_rand(rnd) % 8 == 0) {
		a.id = 0;
		STRESS_CHECK(engine_arm(S.e, &a, &r) == 0, "arm by id failed");
		id = atomic_exchange(slot, r.id);
		if (id)
			engine_cancel(S.e, id, NULL, 0);	/* forget the old one */
	} else if (stress_rand(rnd) % 3 == 0) {
		err = engine_cancel(S.e, id, NULL, 0);
		STRESS_CHECK(err == 0 || err == TD_ENOENT, "cancel by id: %s", td_strerror(err));
	} else {
		err = engine_arm(S.e, &a, &r);
		STRESS_CHECK(err == 0 || err == TD_ENOENT, "re-arm by id: %s", td_strerror(err));
	}
}

static void *contender(void *arg)
{
	unsigned long long rnd = 0xDEADBEEFULL * (unsigned long long)((uintptr_t)arg + 1);
	char key[16];

	while (!atomic_load_explicit(&S.stop, memory_order_relaxed)) {
		if (stress_rand(&rnd) % 2) {
			contend_by_id(&rnd);
			continue;
		}
		snprintf(key, sizeof(key), "c%d", (int)(stress_rand(&rnd) % CKEYS));
		if (stress_rand(&rnd) % 3 == 0)
			engine_cancel(S.e, 0, key, (uint32_t)strlen(key));
		else
			do_arm(key, (int64_t)(stress_rand(&rnd) % (2 * MS)));
	}
	return NULL;
}

/* Number of recorded fires of key (t,k) with deadline d. */
static int fires_with(int t, int k, int64_t d)
{
	int n = 0;

	for (int i = 0; i < S.nfired[t][k]; i++)
		n += S.fired[t][k][i] == d;
	return n;
}

/* True if another arm of the key has the same deadline (then counts are ambiguous). */
static bool deadline_shared(int t, int k, int i)
{
	for (int j = 0; j < S.nops[t][k]; j++)
		if (j != i && S.ops[t][k][j].type == 'a' &&
		    S.ops[t][k][j].deadline == S.ops[t][k][i].deadline)
			return true;
	return false;
}

/*
 * Prints key (t,k)'s operations around op i (times relative to op i's
 * call) and the fires since the first of them, so that a broken
 * invariant says what happened.
 */
static void dump_key(int t, int k, int i)
{
	int n = S.nops[t][k], from = i > 3 ? i - 3 : 0, to = i + 3 < n ? i + 3 : n - 1;
	int64_t t0 = S.ops[t][k][i < n ? i : n - 1].t_call;

	fprintf(stderr, "o%d.%d: %d ops, %d fires; ops %d..%d (ns from op %d's call):\n", t, k, n,
		S.nfired[t][k], from, to, i);
	for (int j = from; j <= to; j++) {
		struct op *o = &S.ops[t][k][j];

		fprintf(stderr, "  op %d %s call %+lld ret %+lld", j, o->type == 'a' ? "arm" : "cancel",
			(long long)(o->t_call - t0), (long long)(o->t_ret - t0));
		if (o->type == 'a')
			fprintf(stderr, " deadline %+lld fired %d", (long long)(o->deadline - t0),
				fires_with(t, k, o->deadline));
		fputc('\n', stderr);
	}
	for (int f = 0; f < S.nfired[t][k]; f++)
		if (S.fired[t][k][f] >= S.ops[t][k][from].t_call)	/* the fires of the ops shown */
			fprintf(stderr, "  fire %d deadline %+lld\n", f, (long long)(S.fired[t][k][f] - t0));
}

/* Fails the per-key check (t,k,i) unless cond holds, after dumping the key. */
#define KEY_CHECK(cond, t, k, i, ...) do {					\
		if (!(cond)) {							\
			dump_key(t, k, i);					\
			STRESS_FAIL(__VA_ARGS__);				\
		}								\
	} while (0)

/* Checks the per-key invariants listed at the top. */
static void check_key(int t, int k)
{
	int n = S.nops[t][k];

	for (int f = 0; f < S.nfired[t][k]; f++) {
		bool found = false;

		for (int i = 0; i < n; i++)
			found |= S.ops[t][k][i].type == 'a' && S.ops[t][k][i].deadline == S.fired[t][k][f];
		KEY_CHECK(found, t, k, n - 1, "o%d.%d fired for a deadline never armed", t, k);
	}
	for (int i = 0; i < n; i++) {
		struct op *o = &S.ops[t][k][i];
		int c;

		if (o->type != 'a' || deadline_shared(t, k, i))
			continue;
		c = fires_with(t, k, o->deadline);
		KEY_CHECK(c <= 1, t, k, i, "o%d.%d: arm %d fired %d times", t, k, i, c);
		if (i + 1 < n && o->deadline > S.ops[t][k][i + 1].t_ret)
			KEY_CHECK(c == 0, t, k, i, "o%d.%d: arm %d fired although superseded %lld ns "
				  "before its deadline", t, k, i,
				  (long long)(o->deadline - S.ops[t][k][i + 1].t_ret));
		if (i + 1 == n)
			KEY_CHECK(c == 1, t, k, i, "o%d.%d: the last arm fired %d times", t, k, c);
	}
}

/*
 * Waits until no timer is left (each fired or was cancelled), then until
 * their deliveries returned (engine_drain); fails loudly after a while.
 */
static double wait_quiet(struct engine_stats *st)
{
	double start = stress_now(), end = start + QUIET_SECONDS;

	for (engine_stats(S.e, st); st->pending; engine_stats(S.e, st)) {
		STRESS_CHECK(stress_now() < end, "%llu timers still pending %d s after the last "
			     "request (fires %llu, dispatcher passes %llu, inflight %llu)",
			     (unsigned long long)st->pending, QUIET_SECONDS, (unsigned long long)st->fires,
			     (unsigned long long)st->passes, (unsigned long long)st->inflight);
		usleep(1000);
	}
	engine_drain(S.e);
	engine_stats(S.e, st);
	return stress_now() - start;
}

int main(void)
{
	struct engine_config cfg = { .on_fire = on_fire, .workers = 1 };
	pthread_t p[PRODUCERS], c[CONTENDERS];
	struct engine_stats st;
	char key[16];
	uint64_t total = 0;
	double quiet;

	pthread_mutex_init(&S.mu, NULL);
	STRESS_CHECK(engine_create(&cfg, &S.e) == 0 && engine_start(S.e) == 0, "engine start");
	for (int i = 0; i < CONTENDERS; i++)
		pthread_create(&c[i], NULL, contender, (void *)(uintptr_t)i);
	for (int i = 0; i < PRODUCERS; i++)
		pthread_create(&p[i], NULL, producer, (void *)(uintptr_t)i);
	for (int i = 0; i < PRODUCERS; i++)
		pthread_join(p[i], NULL);
	atomic_store(&S.stop, true);
	for (int i = 0; i < CONTENDERS; i++)
		pthread_join(c[i], NULL);
	for (int i = 0; i < CKEYS; i++) {
		snprintf(key, sizeof(key), "c%d", i);
		engine_cancel(S.e, 0, key, (uint32_t)strlen(key));
		engine_cancel(S.e, atomic_load(&S.nids[i]), NULL, 0);
	}
	quiet = wait_quiet(&st);
	pthread_mutex_lock(&S.mu);
	for (int t = 0; t < PRODUCERS; t++)
		for (int k = 0; k < KEYS; k++)
			total += (uint64_t)S.nfired[t][k];
	/* The figures first: a failure below is read with them. */
	printf("ops=%d owned_fires=%llu contended_fires=%llu arms=%llu cancels=%llu "
	       "coalesced=%llu lost_races=%llu cell_retries=%llu pending=%llu late_p99=%lldns quiet=%.3fs\n",
	       PRODUCERS * KEYS * OPS, (unsigned long long)total,
	       (unsigned long long)S.cfires, (unsigned long long)st.arms,
	       (unsigned long long)st.cancels, (unsigned long long)st.coalesced,
	       (unsigned long long)st.lost_races, (unsigned long long)st.cell_retries,
	       (unsigned long long)st.pending, (long long)st.late_p99, quiet);
	fflush(stdout);
	for (int t = 0; t < PRODUCERS; t++)
		for (int k = 0; k < KEYS; k++)
			check_key(t, k);
	pthread_mutex_unlock(&S.mu);
	STRESS_CHECK(S.early == 0, "%llu fires were early", (unsigned long long)S.early);
	STRESS_CHECK(st.pending == 0, "%llu timers left after everything fired or was cancelled",
		     (unsigned long long)st.pending);
	STRESS_CHECK(st.fires == total + S.cfires, "engine counted %llu fires, delivered %llu",
		     (unsigned long long)st.fires, (unsigned long long)(total + S.cfires));
	engine_destroy(S.e);
	return 0;
}
