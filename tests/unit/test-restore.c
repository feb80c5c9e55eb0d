/*
 * test-restore.c -- putting saved timers back into a manual engine before
 * it starts (engine_restore_*): exact ids, keys and attributes, deadlines
 * that passed fire at once, replaced and deleted timers leave nothing
 * behind, and ids made afterwards never repeat a restored generation.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

#define MS ENGINE_NS_PER_MS

static int64_t now_mono = 1000 * MS, now_real = INT64_C(1700000000) * ENGINE_NS_PER_S;

static int64_t fake_mono(void *arg)
{
	(void)arg;
	return now_mono;
}

static int64_t fake_real(void *arg)
{
	(void)arg;
	return now_real;
}

static const struct engine_clock fake_clock = { fake_mono, fake_real, NULL };
static uint64_t fired[64];
static int nfired;

static void on_fire(void *arg, const struct engine_fire *f)
{
	(void)arg;
	ck_assert_int_lt(nfired, 64);
	fired[nfired++] = f->id;
}

static struct engine *E;

static void setup(void)
{
	struct engine_config cfg = { .clock = &fake_clock, .manual = true, .on_fire = on_fire };

	nfired = 0;
	ck_assert_int_eq(engine_create(&cfg, &E), 0);
}

static void teardown(void)
{
	engine_destroy(E);
}

/* Restores a keyed (or not) timer at id with deadline d on the monotonic clock. */
static int put(uint64_t id, const char *key, int64_t d, const char *topic)
{
	struct engine_arm a = { .when = ENGINE_AT_MONO, .time = d, .topic = topic,
				.topiclen = (uint32_t)strlen(topic), .key = key,
				.keylen = key ? (uint32_t)strlen(key) : 0, .payload = "pl", .payloadlen = 2 };

	return engine_restore_put(E, id, &a);
}

#define ID(gen, idx) (((uint64_t)(gen) << 32) | (idx))

START_TEST(test_exact_ids_and_keys)
{
	struct engine_timer *t;

	ck_assert_int_eq(put(ID(7, 3), "job-a", 5000 * MS, "jobs"), 0);
	ck_assert_int_eq(put(ID(2, 100000), NULL, 2000 * MS, "anon"), 0);
	ck_assert_int_eq(put(ID(9, 4), "job-b", 500 * MS, "late"), 0);	/* passed */
	ck_assert_uint_eq(engine_restore_done(E, 10, 0, NULL), 3);
	ck_assert_int_eq(engine_get(E, 0, "job-a", 5, &t), 0);
	ck_assert_uint_eq(t->id, ID(7, 3));
	ck_assert_int_eq(t->deadline, 5000 * MS);
	ck_assert_uint_eq(t->topiclen, 4);
	ck_assert(memcmp(t->topic, "jobs", 4) == 0 && t->payloadlen == 2);
	engine_timer_free(t);
	ck_assert_int_eq(engine_get(E, ID(2, 100000), NULL, 0, &t), 0);
	engine_timer_free(t);
	ck_assert_int_eq(engine_dispatch(E), 1);	/* the late one, at once */
	ck_assert_uint_eq(fired[0], ID(9, 4));
	now_mono = 2000 * MS;
	ck_assert_int_eq(engine_dispatch(E), 1);
	ck_assert_uint_eq(fired[1], ID(2, 100000));
}
END_TEST

START_TEST(test_replace_and_delete)
{
	struct engine_timer *t;
	struct engine_stats st;

	ck_assert_int_eq(put(ID(1, 5), "k", 3000 * MS, "a"), 0);
	ck_assert_int_eq(put(ID(1, 5), "k", 4000 * MS, "b"), 0);	/* re-armed */
	ck_assert_int_eq(put(ID(1, 6), "x", 3000 * MS, "a"), 0);
	ck_assert_int_eq(engine_restore_del(E, ID(1, 6)), 0);
	ck_assert_int_eq(engine_restore_del(E, ID(1, 6)), TD_ENOENT);
	ck_assert_int_eq(put(ID(2, 6), "k", 6000 * MS, "c"), 0);	/* the key moved to a new id */
	ck_assert_int_eq(engine_restore_del(E, ID(1, 5)), TD_ENOENT);	/* already replaced */
	ck_assert_uint_eq(engine_restore_done(E, 3, 0, NULL), 1);
	ck_assert_int_eq(engine_get(E, 0, "k", 1, &t), 0);
	ck_assert_uint_eq(t->id, ID(2, 6));
	ck_assert_int_eq(t->deadline, 6000 * MS);
	engine_timer_free(t);
	ck_assert_int_eq(engine_get(E, ID(1, 5), NULL, 0, &t), TD_ENOENT);
	engine_dispatch(E);
	engine_stats(E, &st);
	ck_assert_uint_eq(st.pending, 1);
}
END_TEST

/* New ids fill the gaps below the restored ones, with a new generation, and never collide. */
START_TEST(test_new_ids_after_restore)
{
	struct engine_arm a = { .when = ENGINE_AFTER, .time = 10 * MS };
	struct engine_arm_result r;
	uint64_t seen[600];

	ck_assert_int_eq(put(ID(4, 0), "a", 3000 * MS, "t"), 0);
	ck_assert_int_eq(put(ID(4, 2), "b", 3000 * MS, "t"), 0);
	ck_assert_int_eq(put(ID(4, 300), "c", 3000 * MS, "t"), 0);
	engine_restore_done(E, 5, 0, NULL);
	for (int i = 0; i < 600; i++) {
		ck_assert_int_eq(engine_arm(E, &a, &r), 0);
		ck_assert_uint_ge(r.id >> 32, 5);
		ck_assert(r.id != ID(4, 0) && (uint32_t)r.id != 0 && (uint32_t)r.id != 2 && (uint32_t)r.id != 300);
		for (int j = 0; j < i; j++)
			ck_assert_uint_ne(seen[j], r.id);
		seen[i] = r.id;
	}
}
END_TEST

/* A bulk load (a snapshot): keys go in at the end; a key held twice keeps one; later puts replace as usual. */
START_TEST(test_bulk)
{
	struct engine_timer *t;
	struct engine_stats st;
	char key[16];

	engine_restore_bulk(E);
	for (uint32_t i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "k%u", i);
		ck_assert_int_eq(put(ID(3, i), key, 5000 * MS + i, "bulk"), 0);
	}
	ck_assert_int_eq(put(ID(3, 2000), "k7", 7000 * MS, "dup"), 0);	/* k7 twice */
	ck_assert_int_eq(engine_restore_bulk_end(E), 0);
	ck_assert_int_eq(engine_get(E, 0, "k999", 4, &t), 0);
	ck_assert_uint_eq(t->id, ID(3, 999));
	ck_assert_int_eq(t->deadline, 5000 * MS + 999);
	engine_timer_free(t);
	ck_assert_int_eq(engine_get(E, 0, "k7", 2, &t), 0);
	ck_assert(t->id == ID(3, 7) || t->id == ID(3, 2000));
	engine_timer_free(t);
	/* the journal after the snapshot settles k7 */
	ck_assert_int_eq(put(ID(4, 3000), "k7", 8000 * MS, "final"), 0);
	ck_assert_int_eq(engine_restore_done(E, 5, 0, NULL), 1000);
	ck_assert_int_eq(engine_get(E, 0, "k7", 2, &t), 0);
	ck_assert_uint_eq(t->id, ID(4, 3000));
	engine_timer_free(t);
	engine_dispatch(E);
	engine_stats(E, &st);
	ck_assert_uint_eq(st.pending, 1000);
}
END_TEST

START_TEST(test_bad_restores)
{
	struct engine_arm a = { .when = ENGINE_AFTER, .time = 1 };

	ck_assert_int_eq(engine_restore_put(E, ID(1, 1), &a), TD_EINVAL);
	a.when = ENGINE_AT_MONO;
	ck_assert_int_eq(engine_restore_put(E, 0, &a), TD_EINVAL);
	a.period = 1;	/* below the minimum */
	ck_assert_int_eq(engine_restore_put(E, ID(1, 1), &a), TD_EPERIOD);
	engine_restore_done(E, 1, 0, NULL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("restore");
	TCase *tc = tcase_create("restore");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_exact_ids_and_keys);
	tcase_add_test(tc, test_replace_and_delete);
	tcase_add_test(tc, test_new_ids_after_restore);
	tcase_add_test(tc, test_bulk);
	tcase_add_test(tc, test_bad_restores);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
