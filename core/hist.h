/*
 * hist.h -- a log-linear latency histogram (HDR style), in nanoseconds.
 *
 * Values below 32 have a bucket each; above, every power of two is split
 * into 32 linear buckets, so a bucket's width is at most 1/32 (3.1%) of its
 * values. Percentiles report the bucket's upper bound, capped at the max.
 *
 * Usage:
 *	hist_record(&h, late_ns);              one writer (relaxed load + store)
 *	hist_record_shared(&h, late_ns);       several writers (atomic add)
 *	hist_snapshot(&h, &s);  hist_percentile(&s, 99.0);     any thread
 *
 * Readers may run concurrently with writers; a snapshot taken meanwhile is
 * approximate (counts are read one by one) but every count is a real one.
 */
#ifndef TIMERD_HIST_H
#define TIMERD_HIST_H

#include <stdatomic.h>
#include <stdint.h>

#include "ctr.h"

#define HIST_SUB_BITS 5
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_BUCKETS ((64 - HIST_SUB_BITS) * HIST_SUB)

struct hist {
	_Atomic uint64_t bucket[HIST_BUCKETS];
	_Atomic uint64_t count;
	_Atomic uint64_t max;
	_Atomic uint64_t sum;
};

/* A copy for computing percentiles. */
struct hist_snap {
	uint64_t bucket[HIST_BUCKETS];
	uint64_t count, max, sum;
};

/* Bucket index of value v. */
static inline unsigned hist_index(uint64_t v)
{
	unsigned msb, shift;

	if (v < HIST_SUB)
		return (unsigned)v;
	msb = 63u - (unsigned)__builtin_clzll(v);
	shift = msb - HIST_SUB_BITS;
	return ((shift + 1) << HIST_SUB_BITS) + (unsigned)((v >> shift) & (HIST_SUB - 1));
}

/* Records v (negative counts as 0); the histogram has one writer. */
static inline void hist_record(struct hist *h, int64_t v)
{
	uint64_t u = v < 0 ? 0 : (uint64_t)v;

	ctr_add(&h->bucket[hist_index(u)], 1);
	ctr_add(&h->count, 1);
	ctr_add(&h->sum, u);
	ctr_max(&h->max, u);
}

/* Records v from any thread. */
void hist_record_shared(struct hist *h, int64_t v);

/* Copies the histogram. */
void hist_snapshot(struct hist *h, struct hist_snap *s);

/* Resets a histogram (no concurrent writers). */
void hist_reset(struct hist *h);

/* The value at percentile p (0..100) of a snapshot; 0 if empty. */
uint64_t hist_percentile(const struct hist_snap *s, double p);

/* Adds b's counts to a. */
void hist_merge(struct hist_snap *a, const struct hist_snap *b);

#endif /* TIMERD_HIST_H */
