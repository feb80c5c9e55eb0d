/*
 * test-topic-metrics.c -- metrics-topics' table (server/topic-metrics.c):
 * a reload's swap carries counts over and frees the old table only after
 * its readers left. Four threads count fires of topics a, b and c, started
 * together with the main thread (a barrier), which swaps between "a, b" and
 * "b, a" (the same topics: every count must survive) until they are done,
 * while a scraper reads as /metrics does; the swaps made while counting
 * must be many, the totals must equal what was counted, and no scrape may
 * see a counter go down (under ASan or TSan a reader of a freed table
 * shows up as a report). Then the carry-over and drop rules on one thread.
 */
#include "config.h"

#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "server/topic-metrics.h"

#define COUNTERS 4
#define PER_THREAD 200000

#define MIN_SWAPS 10	/* swaps that must overlap the counting */

static struct topic_metrics_ref ref;
static _Atomic int stop, done, swaps;
static pthread_barrier_t start;
static long counted[COUNTERS];	/* fires each counting thread made (read after the join) */

/*
 * A counting thread: a, b and c in turn, from the start barrier on, at
 * least PER_THREAD fires and until MIN_SWAPS swaps were made (so on a
 * loaded machine the swaps still race the counting).
 */
static void *counter(void *arg)
{
	static const char *const topics[] = { "a", "b", "c" };
	long i;

	pthread_barrier_wait(&start);
	/* relaxed: a count polled */
	for (i = 0; i < PER_THREAD || atomic_load_explicit(&swaps, memory_order_relaxed) < MIN_SWAPS; i++)
		topic_metrics_count(&ref, topics[i % 3], 1);
	counted[(intptr_t)arg] = i;
	atomic_fetch_add_explicit(&done, 1, memory_order_relaxed);	/* relaxed: a count polled; join orders */
	return NULL;
}

/* A scraping thread: reads every counter as /metrics does until told to stop; 1 if a count went down. */
static void *scraper(void *arg)
{
	uint64_t last[3] = { 0 };	/* a, b, other */
	intptr_t down = 0;

	(void)arg;
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {	/* relaxed: a flag polled */
		unsigned slot;
		struct topic_metrics *tm = topic_metrics_scrape_begin(&ref, &slot);

		for (unsigned i = 0; tm && i <= tm->n; i++) {
			unsigned k = i == tm->n ? 2 : tm->name[i][0] - 'a';
			/* relaxed: a counter read for a report */
			uint64_t v = atomic_load_explicit(&tm->fires[i], memory_order_relaxed);

			if (v < last[k]) {
				fprintf(stderr, "scrape: count %u went down from %llu to %llu\n", k,
					(unsigned long long)last[k], (unsigned long long)v);
				down = 1;
			}
			last[k] = v;
		}
		topic_metrics_scrape_end(&ref, slot);
	}
	return (void *)down;
}

/* The count of topic (or "other") in the table in force; -1 if it has no series. */
static long long count_of(const char *topic)
{
	unsigned slot;
	struct topic_metrics *tm = topic_metrics_enter(&ref, &slot);
	long long v = -1;

	for (unsigned i = 0; tm && i <= tm->n; i++)
		if (i == tm->n ? !strcmp(topic, "other") : tm->len[i] == strlen(topic) && !memcmp(tm->name[i], topic, tm->len[i]))
			v = (long long)atomic_load_explicit(&tm->fires[i], memory_order_relaxed);
	topic_metrics_exit(&ref, slot);
	return v;
}

START_TEST(test_swap_under_load)
{
	pthread_t t[COUNTERS], sc;
	char err[256];
	void *down;
	long long want_a = 0, want_b = 0, want_other = 0;

	ck_assert_int_eq(topic_metrics_init(&ref, "a, b", 64, err, sizeof(err)), 0);
	ck_assert_int_eq(pthread_barrier_init(&start, NULL, COUNTERS + 1), 0);
	ck_assert_int_eq(pthread_create(&sc, NULL, scraper, NULL), 0);
	for (int i = 0; i < COUNTERS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, counter, (void *)(intptr_t)i), 0);
	pthread_barrier_wait(&start);
	/* relaxed: a count polled; a swap made before the last counter ends overlaps counting */
	while (atomic_load_explicit(&done, memory_order_relaxed) < COUNTERS) {
		int n = atomic_load_explicit(&swaps, memory_order_relaxed);	/* relaxed: only this thread writes it */

		ck_assert_msg(topic_metrics_swap(&ref, n % 2 ? "a, b" : "b, a", 64, err, sizeof(err)) == 0, "%s", err);
		atomic_store_explicit(&swaps, n + 1, memory_order_relaxed);	/* relaxed: a count polled */
	}
	for (int i = 0; i < COUNTERS; i++)
		pthread_join(t[i], NULL);
	atomic_store_explicit(&stop, 1, memory_order_relaxed);	/* relaxed: a flag polled */
	pthread_join(sc, &down);
	pthread_barrier_destroy(&start);
	fprintf(stderr, "test_swap_under_load: %d swaps while counting\n", atomic_load(&swaps));
	ck_assert_msg(atomic_load(&swaps) >= MIN_SWAPS, "only %d swaps overlapped the counting", atomic_load(&swaps));
	ck_assert_msg(!down, "a scrape saw a counter go down across a swap (see above)");
	/* topics a, b, c in turn: of N fires a gets ceil(N/3), b ceil((N-1)/3), c (as other) floor(N/3) */
	for (int i = 0; i < COUNTERS; i++) {
		want_a += (counted[i] + 2) / 3;
		want_b += (counted[i] + 1) / 3;
		want_other += counted[i] / 3;
	}
	ck_assert_int_eq(count_of("a"), want_a);
	ck_assert_int_eq(count_of("b"), want_b);
	ck_assert_int_eq(count_of("other"), want_other);
	topic_metrics_destroy(&ref);
}
END_TEST

START_TEST(test_carry_and_drop)
{
	char err[256];

	ck_assert_int_eq(topic_metrics_init(&ref, "a", 64, err, sizeof(err)), 0);
	topic_metrics_count(&ref, "a", 1);
	topic_metrics_count(&ref, "b", 1);
	ck_assert_int_eq(topic_metrics_swap(&ref, "a, b", 64, err, sizeof(err)), 0);
	ck_assert_int_eq(count_of("a"), 1);
	ck_assert_int_eq(count_of("b"), 0);	/* newly listed: from 0 */
	ck_assert_int_eq(count_of("other"), 1);	/* b's fire before it was listed stays in other */
	topic_metrics_count(&ref, "b", 1);
	ck_assert_int_eq(topic_metrics_swap(&ref, "b", 64, err, sizeof(err)), 0);
	ck_assert_int_eq(count_of("a"), -1);	/* dropped: its series goes */
	ck_assert_int_eq(count_of("b"), 1);
	ck_assert_int_eq(topic_metrics_swap(&ref, "other", 64, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "'other'"), "%s", err);
	ck_assert_int_eq(count_of("b"), 1);	/* a refused list leaves the one in force */
	ck_assert_int_eq(topic_metrics_swap(&ref, "", 64, err, sizeof(err)), 0);
	ck_assert_int_eq(count_of("other"), -1);	/* off */
	topic_metrics_count(&ref, "b", 1);	/* counts nothing, touches no table */
	topic_metrics_destroy(&ref);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("topic-metrics");
	TCase *tc = tcase_create("topic-metrics");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_swap_under_load);
	tcase_add_test(tc, test_carry_and_drop);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
