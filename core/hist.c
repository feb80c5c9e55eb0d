/*
 * hist.c -- percentiles and shared recording for hist.h.
 */
#include "config.h"

#include <string.h>

#include "hist.h"

/* Highest value that falls in bucket i. */
static uint64_t hist_upper(unsigned i)
{
	unsigned shift;

	if (i < HIST_SUB)
		return i;
	shift = (i >> HIST_SUB_BITS) - 1;
	return ((((uint64_t)HIST_SUB | (i & (HIST_SUB - 1))) << shift) + (UINT64_C(1) << shift)) - 1;
}

void hist_record_shared(struct hist *h, int64_t v)
{
	uint64_t u = v < 0 ? 0 : (uint64_t)v, m;

	atomic_fetch_add_explicit(&h->bucket[hist_index(u)], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum, u, memory_order_relaxed);
	m = atomic_load_explicit(&h->max, memory_order_relaxed);
	while (u > m && !atomic_compare_exchange_weak_explicit(&h->max, &m, u,
							       memory_order_relaxed,
							       memory_order_relaxed))
		;
}

void hist_snapshot(struct hist *h, struct hist_snap *s)
{
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		s->bucket[i] = atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
	s->count = 0;
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		s->count += s->bucket[i];
	s->max = atomic_load_explicit(&h->max, memory_order_relaxed);
	s->sum = atomic_load_explicit(&h->sum, memory_order_relaxed);
}

void hist_reset(struct hist *h)
{
	memset(h, 0, sizeof(*h));
}

uint64_t hist_percentile(const struct hist_snap *s, double p)
{
	uint64_t rank, seen = 0;

	if (!s->count)
		return 0;
	rank = (uint64_t)((p / 100.0) * (double)s->count + 0.5);
	if (rank < 1)
		rank = 1;
	if (rank > s->count)
		rank = s->count;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += s->bucket[i];
		if (seen >= rank) {
			uint64_t up = hist_upper(i);

			return up < s->max ? up : s->max;
		}
	}
	return s->max;
}

void hist_merge(struct hist_snap *a, const struct hist_snap *b)
{
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		a->bucket[i] += b->bucket[i];
	a->count += b->count;
	a->sum += b->sum;
	if (b->max > a->max)
		a->max = b->max;
}
