/*
 * cell.h -- a lock-free, double-buffered, multi-writer cell.
 *
 * Ported from the kernel RFC "bpf: Add lock-free cell for NMI-safe async
 * operations" (v3, Jan 2026): many producers publish the newest requested
 * state of one object; one consumer (timerd's dispatcher) applies each
 * published state at most once. Two variants are kept side by side because
 * the RFC's review never settled which is cheaper, plus a third that keeps
 * the better of both (claim); bench/bench-primitives measures them and
 * cell_default below records the choice.
 *
 * Usage (writer; never blocks, never waits):
 *
 *	uint64_t words[N] = { ... };
 *	switch (cell_mpmc_write(&c, buf, N, words)) {
 *	case CELL_OK:       queue the object for the consumer;   break;
 *	case CELL_LOST:     another writer was mid-write: this update is ordered
 *	                    just before the winner's and superseded by it;
 *	                    the winner queues the object;        break;
 *	}
 *
 * Usage (reader / consumer):
 *
 *	uint64_t snap[N], gen;
 *	gen = cell_mpmc_read(&c, buf, N, snap, &retries);
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
 * claim writer retries its cmpxchg only when another write completed
 * meanwhile); a reader never returns
 * a torn snapshot (it retries while a write overlaps the copy it reads);
 * generations increase by one per committed write; cell_consume() returns
 * CELL_APPLY for a generation at most once and never for a generation
 * older than one already applied. No other ordering is implied.
 *
 * The variants:
 *  mpmc  -- as posted in the RFC. seq bit 0 = a writer is active; bits 1..
 *           = generation; (seq >> 1) & 1 selects the readable copy and the
 *           writer fills the other one. Two locked instructions per write
 *           (fetch_or, fetch_add), one payload copy. Readers are not
 *           disturbed by a write in progress.
 *  latch -- what the review asked for: a writer flag taken with one
 *           cmpxchg, then the kernel's seqcount latch (seq++, fill copy 0,
 *           seq++, fill copy 1) and a plain release of the flag. One locked
 *           instruction per write, two payload copies; readers overlapping
 *           a write retry. Its flag is released after the write is
 *           readable: see claim.
 *  claim -- mpmc's layout with the latch's single locked instruction:
 *           claim bit 0 with one cmpxchg, fill one copy, publish and free
 *           with one plain store.
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

/* mpmc variant: one word of state. */
struct cell_mpmc {
	_Atomic uint64_t seq;
};

/*
 * claim variant: the mpmc layout (one word: bit 0 = writer active,
 * generation above it, (seq >> 1) & 1 = readable copy) with the latch's
 * single locked instruction. A writer claims bit 0 with one cmpxchg from a
 * value without it (failing at once if a writer is active), fills the other
 * copy and publishes with one plain release store of s + 2, which clears
 * bit 0 and flips the readable copy together: only the claim holder writes
 * seq (failed cmpxchgs write nothing). So a write is readable exactly when
 * the cell is free again, and a writer that loses can always be ordered
 * before the winner, which the latch cannot promise (its flag is released
 * after its write became readable). Readers are the mpmc readers.
 */
struct cell_claim {
	_Atomic uint64_t seq;
};

/*
 * latch variant: a seqcount and a one-byte writer flag. The functions
 * below take the two separately (the *_at forms), so an object can keep
 * the flag in a spare byte beside its other fields; struct cell_latch
 * keeps them together.
 */
struct cell_latch {
	_Atomic uint64_t seq;
	_Atomic uint8_t busy;
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
 * Claims an mpmc cell for writing. Returns the copy index to fill, or -1
 * when another writer is active (the caller then returns CELL_LOST).
 */
static inline int cell_mpmc_write_begin(struct cell_mpmc *c)
{
	/* acquire: this writer sees the previous writer's completed copy. */
	uint64_t s = atomic_fetch_or_explicit(&c->seq, 1, memory_order_acquire);

	if (s & 1)
		return -1;
	/*
	 * Orders the bit-0 store above before the payload stores that follow:
	 * a reader whose relaxed payload load sees one of them will, after its
	 * acquire fence, also see this seq (Boehm's writer-side fence).
	 */
	atomic_thread_fence(memory_order_release);
	return (int)(((s >> 1) + 1) & 1);
}

/* Publishes the filled copy: clears bit 0 and bumps the generation (carry). */
static inline void cell_mpmc_write_commit(struct cell_mpmc *c)
{
	/* release: the payload stores are visible before the new generation. */
	atomic_fetch_add_explicit(&c->seq, 1, memory_order_release);
}

/* Writes n words into an mpmc cell; CELL_OK or CELL_LOST. */
static inline enum cell_result cell_mpmc_write(struct cell_mpmc *c, _Atomic uint64_t *buf,
					       size_t n, const uint64_t *src)
{
	int idx = cell_mpmc_write_begin(c);

	if (unlikely(idx < 0))
		return CELL_LOST;
	cell_copy_in(buf + (size_t)idx * n, src, n);
	cell_mpmc_write_commit(c);
	return CELL_OK;
}

/*
 * Initialises an mpmc cell that no other thread can see yet with src as
 * generation 1: no locked instruction. Publishing the cell (with release)
 * makes it readable.
 */
static inline void cell_mpmc_init(struct cell_mpmc *c, _Atomic uint64_t *buf, size_t n,
				  const uint64_t *src)
{
	cell_copy_in(buf + n, src, n);		/* generation 1 reads copy 1 */
	atomic_store_explicit(&c->seq, 2, memory_order_relaxed);
}

/*
 * Reads a consistent snapshot of an mpmc cell into dst and returns its
 * generation (0 = never written). *retries, if not NULL, is incremented per retry.
 */
static inline uint64_t cell_mpmc_read(struct cell_mpmc *c, _Atomic uint64_t *buf, size_t n,
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

/* Returns the generation last committed to an mpmc cell. */
static inline uint64_t cell_mpmc_gen(struct cell_mpmc *c)
{
	return atomic_load_explicit(&c->seq, memory_order_acquire) >> 1;
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

/* Reads a consistent snapshot of a claim cell; returns its generation. */
static inline uint64_t cell_claim_read(struct cell_claim *c, _Atomic uint64_t *buf, size_t n,
				       uint64_t *dst, unsigned *retries)
{
	return cell_mpmc_read((struct cell_mpmc *)c, buf, n, dst, retries);
}

/* Returns the generation last committed to a claim cell. */
static inline uint64_t cell_claim_gen(struct cell_claim *c)
{
	return atomic_load_explicit(&c->seq, memory_order_acquire) >> 1;
}

/* Initialises a claim cell no other thread can see yet (generation 1). */
static inline void cell_claim_init(struct cell_claim *c, _Atomic uint64_t *buf, size_t n,
				   const uint64_t *src)
{
	cell_mpmc_init((struct cell_mpmc *)c, buf, n, src);
}

/* Bumps the latch seqcount; the fences order it between the two copy fills. */
static inline void cell_latch_bump(_Atomic uint64_t *seq)
{
	uint64_t s = atomic_load_explicit(seq, memory_order_relaxed);

	/* Orders the previous copy's stores before the new seq value. */
	atomic_thread_fence(memory_order_release);
	atomic_store_explicit(seq, s + 1, memory_order_relaxed);
	/* Orders the new seq value before the next copy's stores (Boehm). */
	atomic_thread_fence(memory_order_release);
}

/* Takes the writer flag with one cmpxchg; false if another writer holds it. */
static inline bool cell_latch_claim(_Atomic uint8_t *busy)
{
	uint8_t idle = 0;

	/* acquire: sees the previous writer's completed copies (pairs with the release below). */
	return atomic_compare_exchange_strong_explicit(busy, &idle, 1, memory_order_acquire,
						       memory_order_relaxed);
}

/* Releases the writer flag with a plain store. */
static inline void cell_latch_unclaim(_Atomic uint8_t *busy)
{
	/* release: both copies are complete before the next writer claims the cell. */
	atomic_store_explicit(busy, 0, memory_order_release);
}

/* With the flag held: fills both copies through the latch (a new generation). */
static inline void cell_latch_fill(_Atomic uint64_t *seq, _Atomic uint64_t *buf, size_t n,
				   const uint64_t *src)
{
	cell_latch_bump(seq);		/* odd: readers use copy 1 */
	cell_copy_in(buf, src, n);
	cell_latch_bump(seq);		/* even: readers use copy 0 */
	cell_copy_in(buf + n, src, n);
}

/* Writes n words into a latch cell whose flag is *busy; CELL_OK or CELL_LOST. */
static inline enum cell_result cell_latch_write_at(_Atomic uint8_t *busy, _Atomic uint64_t *seq,
						   _Atomic uint64_t *buf, size_t n,
						   const uint64_t *src)
{
	if (unlikely(!cell_latch_claim(busy)))
		return CELL_LOST;
	cell_latch_fill(seq, buf, n, src);
	cell_latch_unclaim(busy);
	return CELL_OK;
}

/* Writes n words into a latch cell; CELL_OK or CELL_LOST. */
static inline enum cell_result cell_latch_write(struct cell_latch *c, _Atomic uint64_t *buf,
						size_t n, const uint64_t *src)
{
	return cell_latch_write_at(&c->busy, &c->seq, buf, n, src);
}

/*
 * Initialises a latch cell no other thread can see yet with src as
 * generation 1 (no locked instruction); publishing it makes it readable.
 */
static inline void cell_latch_init_at(_Atomic uint64_t *seq, _Atomic uint64_t *buf, size_t n,
				      const uint64_t *src)
{
	cell_copy_in(buf, src, n);
	cell_copy_in(buf + n, src, n);
	atomic_store_explicit(seq, 2, memory_order_relaxed);
}

/* Reads a consistent snapshot of a latch cell; returns its generation. */
static inline uint64_t cell_latch_read_at(_Atomic uint64_t *seq, _Atomic uint64_t *buf,
					  size_t n, uint64_t *dst, unsigned *retries)
{
	uint64_t s1, s2;

	for (;;) {
		/* acquire: pairs with the release fence before the seq store. */
		s1 = atomic_load_explicit(seq, memory_order_acquire);
		cell_copy_out(dst, buf + (s1 & 1) * n, n);
		/* Orders the payload loads above before the seq re-load below. */
		atomic_thread_fence(memory_order_acquire);
		s2 = atomic_load_explicit(seq, memory_order_relaxed);
		if (likely(s1 == s2))
			return s1 >> 1;	/* odd: copy 1 still holds generation (s1-1)/2 */
		if (retries)
			(*retries)++;
	}
}

/* Reads a consistent snapshot of a latch cell; returns its generation. */
static inline uint64_t cell_latch_read(struct cell_latch *c, _Atomic uint64_t *buf, size_t n,
				       uint64_t *dst, unsigned *retries)
{
	return cell_latch_read_at(&c->seq, buf, n, dst, retries);
}

/* The generation last completed (a write in progress does not count yet). */
static inline uint64_t cell_latch_gen_at(_Atomic uint64_t *seq)
{
	return atomic_load_explicit(seq, memory_order_acquire) >> 1;
}

static inline uint64_t cell_latch_gen(struct cell_latch *c)
{
	return cell_latch_gen_at(&c->seq);
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

/*
 * The default variant: claim. bench/bench-primitives measured the latch's
 * write cheaper than mpmc's (one locked instruction instead of two), but
 * the latch releases its writer flag after its write is readable, so a
 * writer failing in that gap cannot be ordered before the winner (a cancel
 * issued after seeing a re-arm could be lost). claim keeps one locked
 * instruction and publishes and frees the cell in one store; its figures
 * are in doc/benchmarks.md ("Primitives"). timerd's records use it.
 */
#define cell_default		cell_claim
#define cell_default_write	cell_claim_write
#define cell_default_read	cell_claim_read
#define cell_default_gen	cell_claim_gen

#endif /* TIMERD_CELL_H */
