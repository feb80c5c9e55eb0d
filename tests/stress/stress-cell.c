/*
 * stress-cell.c -- concurrent writers, readers and consumers on one cell.
 *
 * Invariants checked, for every variant:
 *  - a snapshot is never torn: every word derives from the same (writer, count);
 *  - each reader sees generations in non-decreasing order;
 *  - cell_consume() grants each generation at most once, across consumers;
 *  - committed writes == final generation; OK + LOST == attempted writes.
 */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "bench/cell-variants.h"
#include "stress.h"

#define WORDS	  4
#define WRITERS	  3
#define READERS	  2
#define CONSUMERS 2
#define MAX_GEN	  (1u << 26)

enum variant { MPMC, LATCH, CLAIM };

static struct {
	enum variant v;
	struct cell_mpmc m;
	struct cell_latch l;
	struct cell_claim k;
	_Atomic uint64_t buf[2 * WORDS];
	_Atomic uint64_t last;
	_Atomic bool stop;
	_Atomic uint64_t ok, lost, retries, reads, applied;
	_Atomic uint8_t *seen;	/* one byte per generation */
} S;

/* The value of word i for the write tagged tag (word 0 is the tag). */
static uint64_t word(uint64_t tag, int i)
{
	return tag + (uint64_t)i * 0x9E3779B97F4A7C15ULL;
}

static enum cell_result do_write(const uint64_t *w)
{
	if (S.v == MPMC)
		return cell_mpmc_write(&S.m, S.buf, WORDS, w);
	if (S.v == CLAIM)
		return cell_claim_write(&S.k, S.buf, WORDS, w);
	return cell_latch_write(&S.l, S.buf, WORDS, w);
}

/* Reads a snapshot and checks it is not torn; returns its generation. */
static uint64_t do_read(uint64_t *w, unsigned *retries)
{
	uint64_t gen = S.v == MPMC  ? cell_mpmc_read(&S.m, S.buf, WORDS, w, retries)
		     : S.v == CLAIM ? cell_claim_read(&S.k, S.buf, WORDS, w, retries)
				    : cell_latch_read(&S.l, S.buf, WORDS, w, retries);

	if (gen == 0)
		return 0;
	for (int i = 1; i < WORDS; i++)
		STRESS_CHECK(w[i] == word(w[0], i),
			     "torn snapshot at generation %llu: word %d", (unsigned long long)gen, i);
	return gen;
}

static void *writer(void *arg)
{
	uint64_t id = (uint64_t)(uintptr_t)arg, n = 0, w[WORDS];

	while (!atomic_load_explicit(&S.stop, memory_order_relaxed)) {
		uint64_t tag = (id << 40) | ++n;

		for (int i = 0; i < WORDS; i++)
			w[i] = word(tag, i);
		if (do_write(w) == CELL_OK)
			atomic_fetch_add_explicit(&S.ok, 1, memory_order_relaxed);
		else
			atomic_fetch_add_explicit(&S.lost, 1, memory_order_relaxed);
		if (atomic_load_explicit(&S.ok, memory_order_relaxed) >= MAX_GEN - 64)
			atomic_store(&S.stop, true);
	}
	return NULL;
}

static void *reader(void *arg)
{
	uint64_t w[WORDS], prev = 0, n = 0;
	unsigned retries = 0;

	(void)arg;
	while (!atomic_load_explicit(&S.stop, memory_order_relaxed)) {
		uint64_t gen = do_read(w, &retries);

		STRESS_CHECK(gen >= prev, "generation went back: %llu after %llu",
			     (unsigned long long)gen, (unsigned long long)prev);
		prev = gen;
		n++;
	}
	atomic_fetch_add(&S.reads, n);
	atomic_fetch_add(&S.retries, retries);
	return NULL;
}

static void *consumer(void *arg)
{
	uint64_t w[WORDS];

	(void)arg;
	while (!atomic_load_explicit(&S.stop, memory_order_relaxed)) {
		uint64_t gen = do_read(w, NULL);

		if (cell_consume(&S.last, gen) != CELL_APPLY)
			continue;
		STRESS_CHECK(gen < MAX_GEN, "generation %llu out of range", (unsigned long long)gen);
		STRESS_CHECK(atomic_exchange(&S.seen[gen], 1) == 0,
			     "generation %llu applied twice", (unsigned long long)gen);
		atomic_fetch_add_explicit(&S.applied, 1, memory_order_relaxed);
	}
	return NULL;
}

/* Runs one variant for `secs` seconds and checks the totals. */
static void run(enum variant v, double secs)
{
	pthread_t t[WRITERS + READERS + CONSUMERS];
	int n = 0;
	uint64_t gen, w[WORDS];
	double end;

	memset(&S, 0, sizeof(S));
	S.v = v;
	S.seen = calloc(MAX_GEN, 1);
	STRESS_CHECK(S.seen, "out of memory");
	for (int i = 0; i < WRITERS; i++)
		pthread_create(&t[n++], NULL, writer, (void *)(uintptr_t)(i + 1));
	for (int i = 0; i < READERS; i++)
		pthread_create(&t[n++], NULL, reader, NULL);
	for (int i = 0; i < CONSUMERS; i++)
		pthread_create(&t[n++], NULL, consumer, NULL);
	end = stress_now() + secs;
	while (stress_now() < end && !atomic_load(&S.stop))
		nanosleep(&(struct timespec){ .tv_nsec = 10000000 }, NULL);
	atomic_store(&S.stop, true);
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	gen = do_read(w, NULL);
	STRESS_CHECK(gen == atomic_load(&S.ok), "final generation %llu != %llu committed writes",
		     (unsigned long long)gen, (unsigned long long)atomic_load(&S.ok));
	STRESS_CHECK(atomic_load(&S.applied) <= gen, "more applications than generations");
	printf("%s: writes ok=%llu lost=%llu (%.3f%%) reads=%llu retries=%llu applied=%llu\n",
	       v == MPMC ? "mpmc" : v == CLAIM ? "claim" : "latch", (unsigned long long)S.ok,
	       (unsigned long long)S.lost,
	       100.0 * (double)S.lost / (double)(S.ok + S.lost + 1),
	       (unsigned long long)S.reads, (unsigned long long)S.retries,
	       (unsigned long long)S.applied);
	free(S.seen);
}

int main(void)
{
	double secs = stress_seconds(2.0);

	run(MPMC, secs);
	run(LATCH, secs);
	run(CLAIM, secs);
	return 0;
}
