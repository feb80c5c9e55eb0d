/*
 * test-list-scan.c -- a List by topic does not copy the payloads of the
 * timers it does not return (issue 12: 18 ms of loop time per List with
 * 192 MB of non-matching payloads). 400 timers with 64 KiB payloads on
 * topic "big", one on "small": listing "small" must cost a fraction of
 * listing everything (which copies every payload). Prints the time per
 * List of each kind.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine.h"

#define NBIG 400
#define PAYLOAD (64 * 1024)
#define ROUNDS 20

static struct engine *E;

/* Monotonic ns. */
static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Counts the timers listed. */
static bool count_one(void *arg, const struct engine_timer *t)
{
	(void)t;
	(*(uint32_t *)arg)++;
	return true;
}

/* Lists topic (NULL: all) ROUNDS times; the best ns per List; *n the timers of one. */
static int64_t list_ns(const char *topic, uint32_t *n)
{
	int64_t best = INT64_MAX;

	for (int r = 0; r < ROUNDS; r++) {
		uint64_t cursor = 0;
		int64_t t0 = now_ns(), dt;

		*n = 0;
		ck_assert_int_ge(engine_list(E, topic, topic ? (uint32_t)strlen(topic) : 0, &cursor, 100000, count_one, n),
				 0);
		dt = now_ns() - t0;
		best = dt < best ? dt : best;
	}
	return best;
}

START_TEST(test_list_by_topic_skips_payloads)
{
	struct engine_config cfg = { .manual = true, .max_payload = PAYLOAD };
	char *payload = malloc(PAYLOAD), key[32];
	struct engine_arm_result r;
	int64_t small, all;
	uint32_t n;

	ck_assert_ptr_nonnull(payload);
	memset(payload, 'x', PAYLOAD);
	ck_assert_int_eq(engine_create(&cfg, &E), 0);
	for (int i = 0; i <= NBIG; i++) {
		const char *topic = i == NBIG ? "small" : "big";
		struct engine_arm a = { .key = key, .when = ENGINE_AFTER, .time = ENGINE_NS_PER_S * 3600,
					.topic = topic, .topiclen = (uint32_t)strlen(topic),
					.payload = payload, .payloadlen = i == NBIG ? 4 : PAYLOAD };

		a.keylen = (uint32_t)snprintf(key, sizeof(key), "k%d", i);
		ck_assert_int_eq(engine_arm(E, &a, &r), 0);
	}
	small = list_ns("small", &n);
	ck_assert_uint_eq(n, 1);
	all = list_ns(NULL, &n);
	ck_assert_uint_eq(n, NBIG + 1);
	printf("# List{topic small} over %d non-matching 64 KiB payloads: %.1f us; List{} copying them: %.1f us\n",
	       NBIG, small / 1e3, all / 1e3);
	ck_assert_msg(small * 5 < all, "List by topic took %lld ns, listing everything %lld ns: non-matching payloads "
		      "are still copied", (long long)small, (long long)all);
	engine_destroy(E);
	free(payload);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("list-scan");
	TCase *tc = tcase_create("list");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_list_by_topic_skips_payloads);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
