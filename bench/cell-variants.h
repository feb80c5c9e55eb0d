/*
 * cell-variants.h -- the two cell variants core/cell.h does not keep, for
 * comparison only: bench/bench-cell measures them beside claim, and
 * tests/unit/test-cell and tests/stress/stress-cell check all three. They
 * share core/cell.h's results, storage, usage and concurrency table (write
 * with cell_mpmc_write / cell_latch_write, read with cell_mpmc_read /
 * cell_latch_read, then cell_consume).
 *
 *  mpmc  -- as posted in the RFC. seq bit 0 = a writer is active; bits 1..
 *           = generation; (seq >> 1) & 1 selects the readable copy and the
 *           writer fills the other one. Two locked instructions per write
 *           (fetch_or, fetch_add), one payload copy. Readers are not
 *           disturbed by a write in progress. Same layout as claim, so it
 *           reads and initialises as claim does.
 *  latch -- what the RFC's review asked for: a writer flag taken with one
 *           cmpxchg, then the kernel's seqcount latch (seq++, fill copy 0,
 *           seq++, fill copy 1) and a plain release of the flag. One locked
 *           instruction per write, two payload copies; readers overlapping
 *           a write retry. Its flag is released after the write is
 *           readable, so a writer that loses in that gap cannot be ordered
 *           before the winner: why timerd uses claim (core/cell.h).
 */
#ifndef TIMERD_BENCH_CELL_VARIANTS_H
#define TIMERD_BENCH_CELL_VARIANTS_H

#include "cell.h"

/* mpmc variant: one word of state. */
struct cell_mpmc {
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
	cell_claim_init((struct cell_claim *)c, buf, n, src);
}

/*
 * Reads a consistent snapshot of an mpmc cell into dst and returns its
 * generation (0 = never written): the claim reader, whose layout it shares.
 */
static inline uint64_t cell_mpmc_read(struct cell_mpmc *c, _Atomic uint64_t *buf, size_t n,
				      uint64_t *dst, unsigned *retries)
{
	return cell_claim_read((struct cell_claim *)c, buf, n, dst, retries);
}

/* Returns the generation last committed to an mpmc cell. */
static inline uint64_t cell_mpmc_gen(struct cell_mpmc *c)
{
	return atomic_load_explicit(&c->seq, memory_order_acquire) >> 1;
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

/* The generation last completed by a latch cell. */
static inline uint64_t cell_latch_gen(struct cell_latch *c)
{
	return cell_latch_gen_at(&c->seq);
}

#endif /* TIMERD_BENCH_CELL_VARIANTS_H */
