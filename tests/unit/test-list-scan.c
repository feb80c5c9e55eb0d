/*
 * test-list-scan.c -- a List by topic does not copy the payloads of the
 * timers it does not return (issue 12: 18 ms of loop time per List with
 * 192 MB of non-matching payloads). 400 timers with 64 KiB payloads on
 * topic "big", one on "small": listing "small" must cost a fraction of
 * listing everything (which copies every payload). Prints the time per
 * List of each kind. And a List with a filter (an identity's rule: the
 * engine_list_opts.keep predicate) copies nothing of the timers it drops,
 * nor payloads when it is asked for none (counted: engine_list_opts.copied).
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

/* engine_keep_fn: keeps the timers whose label is arg (a NUL-terminated name). */
static bool keep_label(const void *arg, const char *key, uint32_t keylen, const char *topic, uint32_t topiclen,
		       const char *label, uint32_t labellen)
{
	(void)key, (void)keylen, (void)topic, (void)topiclen;
	return labellen == strlen(arg) && !memcmp(label, arg, labellen);
}

/* Counts the timers listed without their payload's size, or with a payload. */
static bool check_sizes(void *arg, const struct engine_timer *t)
{
	if (t->payloadlen != PAYLOAD || t->payload)
		(*(uint32_t *)arg)++;
	return true;
}

/* Lists with o from the start to the end; the timers listed. */
static uint32_t list_all(struct engine_list_opts *o)
{
	uint64_t cursor = 0;
	uint32_t n = 0;

	o->copied = 0;
	ck_assert_int_ge(engine_list_opt(E, o, &cursor, 100000, count_one, &n), 0);
	ck_assert_uint_eq(cursor, 0);
	return n;
}

/*
 * Issue 12: an identity's List copied every payload before the server dropped the timers
 * it does not own (3 ms per List of 1,000 x 45 KB, 0 entries). The filter now runs first,
 * and a List without payloads copies none: counted in bytes copied.
 */
START_TEST(test_list_filter_copies_nothing_it_drops)
{
	struct engine_config cfg = { .manual = true, .max_payload = PAYLOAD };
	char *payload = malloc(PAYLOAD), key[32];
	struct engine_list_opts o = { .payload = true, .keep = keep_label };
	struct engine_arm_result r;

	ck_assert_ptr_nonnull(payload);
	memset(payload, 'x', PAYLOAD);
	ck_assert_int_eq(engine_create(&cfg, &E), 0);
	for (int i = 0; i <= NBIG; i++) {
		const char *label = i == NBIG ? "reader" : "writer";
		struct engine_arm a = { .key = key, .when = ENGINE_AFTER, .time = ENGINE_NS_PER_S * 3600,
					.payload = payload, .payloadlen = PAYLOAD,
					.label = label, .labellen = (uint32_t)strlen(label) };

		a.keylen = (uint32_t)snprintf(key, sizeof(key), "k%d", i);
		ck_assert_int_eq(engine_arm(E, &a, &r), 0);
	}
	/* nobody's: nothing at all is copied */
	o.keep_arg = "nobody";
	ck_assert_uint_eq(list_all(&o), 0);
	ck_assert_msg(o.copied == 0, "a List keeping no timer copied %llu bytes", (unsigned long long)o.copied);
	/* reader's one timer: one payload copied, not the %d others' */
	o.keep_arg = "reader";
	ck_assert_uint_eq(list_all(&o), 1);
	ck_assert_msg(o.copied >= PAYLOAD && o.copied < 2 * PAYLOAD, "a List keeping 1 timer copied %llu bytes",
		      (unsigned long long)o.copied);
	/* everything without payloads: no payload copied, sizes still reported */
	o.keep = NULL;
	o.payload = false;
	ck_assert_uint_eq(list_all(&o), NBIG + 1);
	ck_assert_msg(o.copied < (uint64_t)(NBIG + 1) * 1024, "a List without payloads copied %llu bytes",
		      (unsigned long long)o.copied);
	{
		uint64_t cursor = 0;
		uint32_t bad = 0;

		ck_assert_int_eq(engine_list_opt(E, &o, &cursor, 100000, check_sizes, &bad), NBIG + 1);
		ck_assert_msg(bad == 0, "%u timers listed without payload lost their payloadlen or kept a payload", bad);
	}
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
	tcase_add_test(tc, test_list_filter_copies_nothing_it_drops);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
