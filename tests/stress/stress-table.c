/*
 * stress-table.c -- the key table (core/table.c): resizes against a model,
 * then lock-free readers beside a writer that grows and shrinks it.
 *
 * Phase 1, one thread: 200,000 keys inserted (every shard doubles many
 * times), 90% removed in random order (shards halve), a quarter of those
 * inserted again (tombstones reused); after each step every key is found
 * exactly when the model has it, by table_find and table_find_locked.
 *
 * Phase 2, concurrent: stable keys stay in the table the whole time; a
 * writer inserts and removes churn keys in bursts that make shards grow
 * and shrink, retiring removed records through hazard pointers (poisoned
 * before free). Readers look keys up without locks. Invariants: a stable
 * key is always found; a found record has the key looked up and is not
 * poisoned; every record retired is freed by the end.
 */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "hash.h"
#include "hazptr.h"
#include "table.h"
#include "timer.h"
#include "tests/stress/stress.h"

#define MODEL_KEYS  200000
#define STABLE_KEYS 20000
#define CHURN_KEYS  60000
#define READERS     1
#define LIVE_MAGIC  0x5ca1ab1eu
#define DEAD_MAGIC  0xdeadbeefu

static struct hash_key hk;
static struct hazptr_domain dom;
static struct table tab;
static _Atomic uint64_t freed, retired_count;

/* A record of key "<prefix><n>"; the flags word carries a liveness magic. */
static struct timer_rec *rec_new(char prefix, unsigned n)
{
	char key[32];
	int len = snprintf(key, sizeof(key), "%c%u", prefix, n);
	struct timer_rec *r = calloc(1, sizeof(*r) + (size_t)len);

	STRESS_CHECK(r, "out of memory");
	r->keylen = (uint16_t)len;
	memcpy(r->key, key, (size_t)len);
	atomic_init(&r->flags, LIVE_MAGIC);
	return r;
}

/* Poisons and frees a retired record. */
static void rec_free(struct hazptr_node *n)
{
	struct timer_rec *r = (struct timer_rec *)n;

	atomic_store_explicit(&r->flags, DEAD_MAGIC, memory_order_relaxed);
	memset(r->key, 'X', r->keylen);
	free(r);
	atomic_fetch_add_explicit(&freed, 1, memory_order_relaxed);
}

/* Inserts r under its shard lock. */
static void tab_insert(struct hazptr_thread *hp, struct timer_rec *r)
{
	uint64_t h = hash_bytes(&hk, r->key, r->keylen);

	table_lock(&tab, h);
	STRESS_CHECK(!table_find_locked(&tab, h, r->key, r->keylen), "key %.*s inserted twice",
		     (int)r->keylen, r->key);
	STRESS_CHECK(table_insert_locked(&tab, hp, h, r) == 0, "insert failed");
	table_unlock(&tab, h);
}

/* Removes r under its shard lock and retires it. */
static void tab_remove(struct hazptr_thread *hp, struct timer_rec *r)
{
	uint64_t h = hash_bytes(&hk, r->key, r->keylen);

	table_lock(&tab, h);
	table_remove_locked(&tab, hp, h, r);
	table_unlock(&tab, h);
	atomic_fetch_add_explicit(&retired_count, 1, memory_order_relaxed);
	hazptr_retire(hp, &r->hp, rec_free);
}

/* Looks "<prefix><n>" up without a lock; the record found (released) or NULL. */
static struct timer_rec *tab_find(struct hazptr_thread *hp, char prefix, unsigned n)
{
	char key[32];
	int len = snprintf(key, sizeof(key), "%c%u", prefix, n);
	uint64_t h = hash_bytes(&hk, key, (size_t)len);
	struct timer_rec *r = table_find(&tab, hp, h, key, (uint32_t)len);

	if (r) {
		STRESS_CHECK(atomic_load_explicit(&r->flags, memory_order_relaxed) == LIVE_MAGIC,
			     "found a freed record for %s", key);
		STRESS_CHECK(r->keylen == len && !memcmp(r->key, key, (size_t)len),
			     "looked up %s, found %.*s", key, (int)r->keylen, r->key);
	}
	hazptr_release(hp, HP_SLOT_REC);
	return r;
}

/* Checks every model key: found (both ways) exactly when present. */
static void model_check(struct hazptr_thread *hp, struct timer_rec **model, const char *step)
{
	for (unsigned i = 0; i < MODEL_KEYS; i++) {
		struct timer_rec *r = tab_find(hp, 'm', i);
		char key[32];
		int len = snprintf(key, sizeof(key), "m%u", i);
		uint64_t h = hash_bytes(&hk, key, (size_t)len);
		struct timer_rec *l;

		STRESS_CHECK(r == model[i], "%s: key %s: table %p, model %p", step, key, (void *)r,
			     (void *)model[i]);
		table_lock(&tab, h);
		l = table_find_locked(&tab, h, key, (uint32_t)len);
		table_unlock(&tab, h);
		STRESS_CHECK(l == model[i], "%s: key %s: locked find disagrees", step, key);
	}
}

/* Phase 1: grow, shrink and reuse against the model. */
static void phase_model(void)
{
	struct hazptr_thread *hp = hazptr_thread_register(&dom);
	struct timer_rec **model = calloc(MODEL_KEYS, sizeof(*model));
	unsigned *order = malloc(MODEL_KEYS * sizeof(*order));
	unsigned long long seed = 42;
	size_t cap_full, cap_low;

	STRESS_CHECK(hp && model && order, "setup failed");
	for (unsigned i = 0; i < MODEL_KEYS; i++) {
		model[i] = rec_new('m', i);
		tab_insert(hp, model[i]);
		order[i] = i;
	}
	model_check(hp, model, "after inserts");
	cap_full = table_capacity(&tab);
	for (unsigned i = MODEL_KEYS - 1; i > 0; i--) {
		unsigned j = (unsigned)(stress_rand(&seed) % (i + 1)), t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	for (unsigned i = 0; i < MODEL_KEYS / 10 * 9; i++) {
		tab_remove(hp, model[order[i]]);
		model[order[i]] = NULL;
	}
	model_check(hp, model, "after removals");
	cap_low = table_capacity(&tab);
	STRESS_CHECK(cap_low * 2 <= cap_full, "capacity %zu after removing 90%% (was %zu)", cap_low,
		     cap_full);
	for (unsigned i = 0; i < MODEL_KEYS / 10 * 9; i += 4) {
		model[order[i]] = rec_new('m', order[i]);
		tab_insert(hp, model[order[i]]);
	}
	model_check(hp, model, "after re-inserts");
	for (unsigned i = 0; i < MODEL_KEYS; i++)
		if (model[i])
			tab_remove(hp, model[i]);
	printf("phase 1: %d keys, capacity %zu -> %zu slots\n", MODEL_KEYS, cap_full, cap_low);
	hazptr_thread_unregister(hp);
	free(model);
	free(order);
}

static _Atomic bool stop;
static _Atomic uint64_t lookups, stable_misses;

/* Reader: stable keys must always be found; churn keys checked when found. */
static void *reader_main(void *arg)
{
	struct hazptr_thread *hp = hazptr_thread_register(&dom);
	unsigned long long seed = (uintptr_t)arg + 7;
	uint64_t n = 0;

	STRESS_CHECK(hp, "register failed");
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		unsigned k = (unsigned)(stress_rand(&seed) % STABLE_KEYS);

		if (!tab_find(hp, 's', k))
			atomic_fetch_add_explicit(&stable_misses, 1, memory_order_relaxed);
		tab_find(hp, 'c', (unsigned)(stress_rand(&seed) % CHURN_KEYS));
		n += 2;
	}
	atomic_fetch_add_explicit(&lookups, n, memory_order_relaxed);
	hazptr_thread_unregister(hp);
	return NULL;
}

/* Phase 2: the writer grows and shrinks the table under lock-free readers. */
static void phase_concurrent(double seconds)
{
	struct hazptr_thread *hp = hazptr_thread_register(&dom);
	struct timer_rec **stable = calloc(STABLE_KEYS, sizeof(*stable));
	struct timer_rec **churn = calloc(CHURN_KEYS, sizeof(*churn));
	unsigned long long seed = 99;
	pthread_t rd[READERS];
	uint64_t bursts = 0, retired = 0;
	double end;

	STRESS_CHECK(hp && stable && churn, "setup failed");
	for (unsigned i = 0; i < STABLE_KEYS; i++) {
		stable[i] = rec_new('s', i);
		tab_insert(hp, stable[i]);
	}
	for (uintptr_t i = 0; i < READERS; i++)
		pthread_create(&rd[i], NULL, reader_main, (void *)i);
	end = stress_now() + seconds;
	while (stress_now() < end || bursts < 2) {	/* two bursts at least, however slow the machine */
		/* A burst fills most churn keys (shards grow), then empties them (shrink). */
		unsigned fill = (unsigned)(stress_rand(&seed) % CHURN_KEYS);

		for (unsigned i = 0; i < fill; i++)
			if (!churn[i]) {
				churn[i] = rec_new('c', i);
				tab_insert(hp, churn[i]);
			}
		for (unsigned i = 0; i < CHURN_KEYS; i++)
			if (churn[i] && stress_rand(&seed) % 8) {
				tab_remove(hp, churn[i]);
				churn[i] = NULL;
				retired++;
			}
		bursts++;
	}
	atomic_store(&stop, true);
	for (unsigned i = 0; i < READERS; i++)
		pthread_join(rd[i], NULL);
	STRESS_CHECK(atomic_load(&stable_misses) == 0, "%llu lookups of stable keys missed",
		     (unsigned long long)atomic_load(&stable_misses));
	for (unsigned i = 0; i < CHURN_KEYS; i++)
		if (churn[i]) {
			tab_remove(hp, churn[i]);
			retired++;
		}
	for (unsigned i = 0; i < STABLE_KEYS; i++)
		tab_remove(hp, stable[i]);
	retired += STABLE_KEYS;
	printf("phase 2: %llu bursts, %llu lookups, %llu records retired\n",
	       (unsigned long long)bursts, (unsigned long long)atomic_load(&lookups),
	       (unsigned long long)retired);
	STRESS_CHECK(bursts >= 2 && atomic_load(&lookups) > 0, "the phase did not run");
	hazptr_thread_unregister(hp);
	free(stable);
	free(churn);
}

int main(void)
{
	struct hazptr_config cfg = { 0 };
	uint64_t nfreed;

	hash_key_init(&hk);
	STRESS_CHECK(hazptr_domain_init(&dom, &cfg) == 0, "hazptr domain");
	STRESS_CHECK(table_init(&tab, &hk) == 0, "table_init");
	phase_model();
	phase_concurrent(stress_seconds(2.0));
	table_destroy(&tab);
	hazptr_domain_destroy(&dom);
	nfreed = atomic_load(&freed);
	printf("freed %llu records\n", (unsigned long long)nfreed);
	STRESS_CHECK(nfreed == atomic_load(&retired_count), "%llu records retired, %llu freed",
		     (unsigned long long)atomic_load(&retired_count), (unsigned long long)nfreed);
	return 0;
}
