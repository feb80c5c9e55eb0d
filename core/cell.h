/*
 * cell.h -- a lock-free, double-buffered, multi-writer cell.
 *
 * Ported from the kernel RFC "bpf: Add lock-free cell for NMI-safe async
 * operations" (v3, Jan 2026): many producers publish the newest requested
 * state of one object; one consumer (timerd's dispatcher) applies each
 * published state at most once. This is the variant timerd's records use
 * (claim: the RFC's layout with one locked instruction per write); the
 * RFC's own (mpmc) and the one its review asked for (latch) are kept beside
 * it for comparison in bench/cell-variants.h, which bench/bench-cell and the
 * cell tests use. Why claim: the latch's write is cheaper than mpmc's (one
 * locked instruction instead of two) but releases its writer flag after the
 * write is readable, so a writer failing in that gap cannot be ordered
 * before the winner (a cancel issued after seeing a re-arm could be lost);
 * claim keeps one locked instruction and publishes and frees the cell in
 * one store. The figures are in doc/benchmarks.md ("Primitives").
 *
 * Usage (writer; never blocks, never waits):
 *
 *	uint64_t words[N] = { ... };
 *	switch (cell_claim_write(&c, buf, N, words)) {
 *	case CELL_OK:       queue the object for the consumer;   break;
 *	case CELL_LOST:     another writer was mid-write: this update is ordered
 *	                    just before the winner's and superseded by it;
 *	                    the winner queues the object;        break;
 *	}
 *
 * (or cell_claim_write_begin(), fill the copy it names, cell_claim_write_commit()).
 *
 * Usage (reader / consumer):
 *
 *	uint64_t snap[N], gen;
 *	gen = cell_claim_read(&c, buf, N, snap, &retries);
 *	if (cell_consume(&last, gen) == CELL_APPLY)
 *		apply(snap);        exactly once per generation, even if
 *		                    several consumers race
 *
 * Storage: a cell of N payload words needs `_Atomic uint64_t buf[2*N]` next
 * to it; copy i is buf[i*N .. i*N+N-1]. The payload is accessed
 * only through relaxed atomics, so a reader that races a writer reads stale
 * or mixed words without a data race, detects it and retries (Boehm,
 * "Can seqlocks get along with programming language memory models?", 2012).
 *
 * What may run concurrently (same cell):
 *
 *	                 write     read      consume
 *	write            yes(*)    yes       yes
 *	read             yes       yes       yes
 *	consume          yes       yes       yes
 *
 *	(*) one of two overlapping writers wins; the other gets CELL_LOST.
 *
 * Guarantees: writers never block and never wait for another writer (a
 * writer retries its cmpxchg only when another write completed meanwhile);
 * a reader never returns a torn snapshot (it retries while a write
 * overlaps the copy it reads; a write in progress fills the other copy and
 * does not disturb it); generations increase by one per committed write;
 * cell_consume() returns CELL_APPLY for a generation at most once and never
 * for a generation older than one already applied. No other ordering is
 * implied.
 */
#ifndef TIMERD_CELL_H
#define TIMERD_CELL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compiler.h"

/* Result of a write. */
enum cell_result {
	CELL_OK = 0,		/* committed; a new generation is readable */
	CELL_LOST = 1,		/* overlapped a winning writer; superseded */
};

/* Result of cell_consume(). */
enum cell_consume_result {
	CELL_APPLY = 0,		/* the caller owns applying this generation */
	CELL_SEEN = 1,		/* already applied (or a newer one was) */
};

/*
 * One word of state: bit 0 = a writer is active, the generation above it,
 * (seq >> 1) & 1 = the readable copy. A writer claims bit 0 with one cmpxchg from a
 * value without it (failing at once if a writer is active), fills the other
 * copy and publishes with one plain release store of s + 2, which clears
 * bit 0 and flips the readable copy together: only the claim holder writes
 * seq (failed cmpxchgs write nothing). So a write is readable exactly when
 * the cell is free again, and a writer that loses can always be ordered
 * before the winner.
 */
struct cell_claim {
	_Atomic uint64_t seq;
};

/* Stores n payload words into one copy; relaxed: ordered by the callers' fences. */
static inline void cell_copy_in(_Atomic uint64_t *dst, const uint64_t *src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		atomic_store_explicit(&dst[i], src[i], memory_order_relaxed);
}

/* Loads n payload words from one copy; relaxed: validated by the caller's seq re-check. */
static inline void cell_copy_out(uint64_t *dst, _Atomic uint64_t *src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = atomic_load_explicit(&src[i], memory_order_relaxed);
}

/*
 * Claims a claim cell; returns the copy index to fill and the seq seen in
 * *sp, or -1 when a writer is active (the caller returns CELL_LOST).
 */
static inline int cell_claim_write_begin(struct cell_claim *c, uint64_t *sp)
{
	/* relaxed: only a hint for the cmpxchg, which re-checks it. */
	uint64_t s = atomic_load_explicit(&c->seq, memory_order_relaxed);

	/* A failed cmpxchg that saw no writer active means a write completed: try again. */
	do {
		if (s & 1)
			return -1;
		/* acquire: this writer sees the previous writer's completed copy. */
	} while (!atomic_compare_exchange_weak_explicit(&c->seq, &s, s | 1, memory_order_acquire,
							memory_order_relaxed));
	/* Orders the bit-0 store above before the payload stores (Boehm's writer fence). */
	atomic_thread_fence(memory_order_release);
	*sp = s;
	return (int)(((s >> 1) + 1) & 1);
}

/*
 * cell_claim_write_begin for a writer that decided on what generation gen
 * held (a compare-and-write: the engine's owner check): claims the cell
 * only if gen is still the newest and no writer is active. Returns the
 * copy index; -1 if a writer is active on gen (the caller returns
 * CELL_LOST: it is ordered just before that writer, over the generation
 * it decided on); -2 if a newer generation was committed (the caller
 * decides again on it).
 */
static inline int cell_claim_write_begin_at(struct cell_claim *c, uint64_t gen, uint64_t *sp)
{
	uint64_t s = gen << 1;

	/* acquire: as cell_claim_write_begin. Strong: a spurious failure must not read as either answer. */
	if (!atomic_compare_exchange_strong_explicit(&c->seq, &s, (gen << 1) | 1, memory_order_acquire,
						     memory_order_relaxed))
		return (s >> 1) == gen ? -1 : -2;
	/* Orders the bit-0 store above before the payload stores (Boehm's writer fence). */
	atomic_thread_fence(memory_order_release);
	*sp = gen << 1;
	return (int)((gen + 1) & 1);
}

/* Publishes the filled copy and frees the cell in one store; returns the new generation. */
static inline uint64_t cell_claim_write_commit(struct cell_claim *c, uint64_t s)
{
	/* release: the payload is visible before the new generation; only the holder writes seq. */
	atomic_store_explicit(&c->seq, s + 2, memory_order_release);
	return (s >> 1) + 1;
}

/* Writes n words into a claim cell; CELL_OK or CELL_LOST. */
static inline enum cell_result cell_claim_write(struct cell_claim *c, _Atomic uint64_t *buf,
						size_t n, const uint64_t *src)
{
	uint64_t s;
	int idx = cell_claim_write_begin(c, &s);

	if (unlikely(idx < 0))
		return CELL_LOST;
	cell_copy_in(buf + (size_t)idx * n, src, n);
	cell_claim_write_commit(c, s);
	return CELL_OK;
}

/*
 * Reads a consistent snapshot of a claim cell into dst and returns its
 * generation (0 = never written). *retries, if not NULL, is incremented per retry.
 */
static inline uint64_t cell_claim_read(struct cell_claim *c, _Atomic uint64_t *buf, size_t n,
				       uint64_t *dst, unsigned *retries)
{
	uint64_t s1, s2;

	for (;;) {
		/* acquire: pairs with write_commit's release; the copy is complete. */
		s1 = atomic_load_explicit(&c->seq, memory_order_acquire);
		cell_copy_out(dst, buf + ((s1 >> 1) & 1) * n, n);
		/* Orders the payload loads above before the seq re-load below. */
		atomic_thread_fence(memory_order_acquire);
		s2 = atomic_load_explicit(&c->seq, memory_order_relaxed);
		/* A write in progress (bit 0) fills the other copy: only the generation matters. */
		if (likely((s1 >> 1) == (s2 >> 1)))
			return s1 >> 1;
		if (retries)
			(*retries)++;
	}
}

/* Returns the generation last committed to a claim cell. */
static inline uint64_t cell_claim_gen(struct cell_claim *c)
{
	return atomic_load_explicit(&c->seq, memory_order_acquire) >> 1;
}

/*
 * Initialises a claim cell that no other thread can see yet with src as
 * generation 1: no locked instruction. Publishing the cell (with release)
 * makes it readable.
 */
static inline void cell_claim_init(struct cell_claim *c, _Atomic uint64_t *buf, size_t n,
				   const uint64_t *src)
{
	cell_copy_in(buf + n, src, n);		/* generation 1 reads copy 1 */
	atomic_store_explicit(&c->seq, 2, memory_order_relaxed);
}

/*
 * Claims the application of generation gen: CELL_APPLY for exactly one
 * caller per generation, CELL_SEEN if it (or a newer one) was claimed.
 * *last starts at 0 (generation 0 is the never-written state).
 */
static inline enum cell_consume_result cell_consume(_Atomic uint64_t *last, uint64_t gen)
{
	/* relaxed: a stale value only makes the cmpxchg below fail and retry. */
	uint64_t old = atomic_load_explicit(last, memory_order_relaxed);

	while (old < gen) {
		/* acq_rel: the winner's application is ordered after the claim. */
		if (atomic_compare_exchange_weak_explicit(last, &old, gen,
							  memory_order_acq_rel,
							  memory_order_relaxed))
			return CELL_APPLY;
	}
	return CELL_SEEN;
}

#endif /* TIMERD_CELL_H */
