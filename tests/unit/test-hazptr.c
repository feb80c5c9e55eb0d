/*
 * test-hazptr.c -- unit tests for core/hazptr, in both fence modes.
 */
#include "config.h"

#include <check.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "hazptr.h"
#include "tests/wait.h"

struct obj {
	struct hazptr_node hp;	/* first: the object's identity */
	int value;
};

static _Atomic int freed;

static void obj_free(struct hazptr_node *n)
{
	atomic_fetch_add(&freed, 1);
	free(n);
}

static struct obj *obj_new(int v)
{
	struct obj *o = calloc(1, sizeof(*o));

	ck_assert_ptr_nonnull(o);
	o->value = v;
	return o;
}

/* Sets up a domain in the mode given by the loop index (0 auto, 1 full fence). */
static void domain_setup(struct hazptr_domain *d, int mode, bool scanner, unsigned threshold)
{
	struct hazptr_config cfg = {
		.fence = mode ? HAZPTR_FENCE_FULL : HAZPTR_FENCE_AUTO,
		.scanner_thread = scanner,
		.retire_threshold = threshold,
	};

	atomic_store(&freed, 0);
	ck_assert_int_eq(hazptr_domain_init(d, &cfg), 0);
	if (mode)
		ck_assert(!d->asymmetric);
}

START_TEST(test_protect_blocks_reclaim)
{
	struct hazptr_domain d;
	struct hazptr_thread *t;
	struct obj *o;
	_Atomic(struct obj *) shared;

	domain_setup(&d, _i, false, 0);
	t = hazptr_thread_register(&d);
	o = obj_new(1);
	atomic_store(&shared, o);
	ck_assert_ptr_eq(hazptr_protect(t, 0, (void *_Atomic *)&shared), o);
	atomic_store(&shared, NULL);
	hazptr_retire(t, &o->hp, obj_free);
	hazptr_scan(t);
	ck_assert_int_eq(atomic_load(&freed), 0);	/* still protected */
	ck_assert_int_eq(o->value, 1);
	hazptr_release(t, 0);
	hazptr_scan(t);
	ck_assert_int_eq(atomic_load(&freed), 1);
	hazptr_thread_unregister(t);
	hazptr_domain_destroy(&d);
}
END_TEST

START_TEST(test_protect_follows_updates)
{
	struct hazptr_domain d;
	struct hazptr_thread *t;
	struct obj *a, *b;
	_Atomic(struct obj *) shared;

	domain_setup(&d, _i, false, 0);
	t = hazptr_thread_register(&d);
	a = obj_new(1);
	b = obj_new(2);
	atomic_store(&shared, a);
	ck_assert_ptr_eq(hazptr_protect(t, 1, (void *_Atomic *)&shared), a);
	atomic_store(&shared, b);
	ck_assert_ptr_eq(hazptr_protect(t, 1, (void *_Atomic *)&shared), b);
	hazptr_retire(t, &a->hp, obj_free);
	hazptr_scan(t);
	ck_assert_int_eq(atomic_load(&freed), 1);	/* a no longer held */
	hazptr_release(t, 1);
	hazptr_thread_unregister(t);
	free(b);
	hazptr_domain_destroy(&d);
}
END_TEST

START_TEST(test_extra_slots)
{
	struct hazptr_domain d;
	struct hazptr_thread *t;
	struct hazptr_slot *s[20];
	struct obj *o[20];
	_Atomic(struct obj *) src;
	unsigned h0;

	domain_setup(&d, _i, false, 0);
	t = hazptr_thread_register(&d);
	h0 = atomic_load(&d.nslots);
	for (int i = 0; i < 20; i++) {
		o[i] = obj_new(i);
		s[i] = hazptr_slot_get(t);
		ck_assert_ptr_nonnull(s[i]);
		atomic_store(&src, o[i]);
		ck_assert_ptr_eq(hazptr_protect_slot(t, &s[i]->ptr, (void *_Atomic *)&src), o[i]);
	}
	ck_assert_uint_ge(atomic_load(&d.nslots), h0 + 20);
	for (int i = 0; i < 20; i++)
		hazptr_retire(t, &o[i]->hp, obj_free);
	hazptr_scan(t);
	ck_assert_int_eq(atomic_load(&freed), 0);
	for (int i = 0; i < 20; i += 2)
		hazptr_slot_put(t, s[i]);
	hazptr_scan(t);
	ck_assert_int_eq(atomic_load(&freed), 10);
	for (int i = 1; i < 20; i += 2)
		hazptr_slot_put(t, s[i]);
	/* Slots are reused, not reallocated. */
	ck_assert_ptr_nonnull(hazptr_slot_get(t));
	ck_assert_uint_eq(atomic_load(&d.nslots), h0 + 24);
	hazptr_scan(t);
	ck_assert_int_eq(atomic_load(&freed), 20);
	hazptr_thread_unregister(t);
	hazptr_domain_destroy(&d);
}
END_TEST

START_TEST(test_threshold_and_bound)
{
	struct hazptr_domain d;
	struct hazptr_thread *t;
	struct hazptr_stats st;
	_Atomic(struct obj *) held[2];
	unsigned r;

	domain_setup(&d, _i, false, 16);
	t = hazptr_thread_register(&d);
	r = 16 > 2 * HAZPTR_SLOTS ? 16 : 2 * HAZPTR_SLOTS;
	/* Two objects stay protected for the whole test. */
	for (int i = 0; i < 2; i++) {
		struct obj *o = obj_new(-1);

		atomic_store(&held[i], o);
		hazptr_protect(t, (unsigned)i, (void *_Atomic *)&held[i]);
		hazptr_retire(t, &o->hp, obj_free);
	}
	for (int i = 0; i < 1000; i++) {
		hazptr_retire(t, &obj_new(i)->hp, obj_free);
		ck_assert_uint_lt(t->nretired, r);	/* scans when it reaches R */
	}
	hazptr_stats(&d, &st);
	ck_assert_uint_eq(st.retired, 1002);
	ck_assert_uint_le(st.pending, r);
	ck_assert_uint_ge(st.scans, 1000 / r);
	hazptr_release(t, 0);
	hazptr_release(t, 1);
	hazptr_scan(t);
	hazptr_stats(&d, &st);
	ck_assert_uint_eq(st.pending, 0);
	ck_assert_uint_eq(st.reclaimed, 1002);
	hazptr_thread_unregister(t);
	hazptr_domain_destroy(&d);
}
END_TEST

struct exit_arg {
	struct hazptr_domain *d;
	struct obj *o;
};

/* A thread that retires an object someone else protects, then exits. */
static void *retire_and_exit(void *arg)
{
	struct exit_arg *a = arg;
	struct hazptr_thread *t = hazptr_thread_self(a->d);

	hazptr_retire(t, &a->o->hp, obj_free);
	hazptr_retire(t, &obj_new(0)->hp, obj_free);
	return NULL;	/* the key destructor unregisters and hands over */
}

START_TEST(test_thread_exit_hands_over)
{
	struct hazptr_domain d;
	struct hazptr_thread *t;
	struct exit_arg a;
	_Atomic(struct obj *) shared;
	pthread_t tid;

	domain_setup(&d, _i, false, 0);
	t = hazptr_thread_self(&d);
	a.d = &d;
	a.o = obj_new(5);
	atomic_store(&shared, a.o);
	hazptr_protect(t, 0, (void *_Atomic *)&shared);
	atomic_store(&shared, NULL);
	ck_assert_int_eq(pthread_create(&tid, NULL, retire_and_exit, &a), 0);
	pthread_join(tid, NULL);
	ck_assert_int_eq(atomic_load(&freed), 1);	/* the unprotected one */
	ck_assert_uint_eq(atomic_load(&d.norphans), 1);
	ck_assert_int_eq(a.o->value, 5);
	hazptr_release(t, 0);
	hazptr_scan(t);					/* adopts the orphan */
	ck_assert_int_eq(atomic_load(&freed), 2);
	ck_assert_uint_eq(atomic_load(&d.norphans), 0);
	/* The exited thread's record is reused by the next registration. */
	ck_assert_ptr_eq(hazptr_thread_register(&d), atomic_load(&d.threads));
	hazptr_domain_destroy(&d);
}
END_TEST

/* The domain and the count of frees a wait expects. */
struct freed_wait {
	struct hazptr_domain *d;
	int want;
};

/* True once the scanner freed w->want objects and counted them (pending = retired - freed). */
static bool scanner_caught_up(void *arg)
{
	struct freed_wait *w = arg;
	struct hazptr_stats st;

	hazptr_stats(w->d, &st);
	return atomic_load(&freed) >= w->want && st.retired - st.pending >= (uint64_t)w->want;
}

START_TEST(test_scanner_thread)
{
	struct hazptr_domain d;
	struct hazptr_thread *t;
	struct hazptr_stats st;
	_Atomic(struct obj *) shared;
	struct obj *keep;

	domain_setup(&d, _i, true, 32);
	t = hazptr_thread_register(&d);
	keep = obj_new(9);
	atomic_store(&shared, keep);
	hazptr_protect(t, 0, (void *_Atomic *)&shared);
	hazptr_retire(t, &keep->hp, obj_free);
	for (int i = 0; i < 31; i++)
		hazptr_retire(t, &obj_new(i)->hp, obj_free);
	/* The 32nd retirement handed the batch to the scanner thread. */
	ck_assert_uint_eq(t->nretired, 0);
	ck_assert_msg(wait_until(scanner_caught_up, &(struct freed_wait){ &d, 31 }, 5000, "scanner frees"),
		      "the scanner freed %d of 31", atomic_load(&freed));
	ck_assert_int_eq(keep->value, 9);
	hazptr_stats(&d, &st);
	ck_assert_uint_eq(st.pending, 1);
	hazptr_release(t, 0);
	hazptr_scan(t);
	ck_assert_int_eq(atomic_load(&freed), 32);
	hazptr_thread_unregister(t);
	hazptr_domain_destroy(&d);
}
END_TEST

/*
 * The republish test's reader and the test thread share this. stage is
 * only ever accessed relaxed: it sequences the two threads without ordering
 * memory, so only the hazard slot can order the reader's read of the old
 * object before its free (as in engine_lookup, where the slot moves from a
 * dead timer to the key's new one under a lock the reclaimer does not take).
 */
struct republish {
	struct hazptr_domain *d;
	_Atomic(struct obj *) shared;
	struct obj *next;
	_Atomic int stage;	/* 1: moved on to next; 2: the scan is done */
	int seen;
};

/* Stage of r, relaxed (see struct republish). */
static int republish_stage(struct republish *r)
{
	return atomic_load_explicit(&r->stage, memory_order_relaxed);
}

/* True once the reader moved its slot on (wait_until). */
static bool republish_moved(void *arg)
{
	return republish_stage(arg) >= 1;
}

/* Reads the protected object, then publishes another in the same slot without a release in between. */
static void *republish_reader(void *arg)
{
	struct republish *r = arg;
	struct hazptr_thread *t = hazptr_thread_register(r->d);
	struct obj *o = hazptr_protect(t, 0, (void *_Atomic *)&r->shared);

	r->seen = o->value;
	hazptr_publish(t, &t->slot[0], r->next);
	atomic_store_explicit(&r->stage, 1, memory_order_relaxed);
	while (republish_stage(r) < 2)
		sched_yield();
	hazptr_release(t, 0);
	hazptr_thread_unregister(t);
	return NULL;
}

/*
 * A slot moved from one object to another without hazptr_release: a scan
 * that sees the new value frees the old object, and the reader's read of it
 * happens before that free (the publication is a release). Under
 * ThreadSanitizer a relaxed publication makes this a reported race: CI's
 * TSan run of stress-engine failed on it (engine_lookup, a dead record).
 */
START_TEST(test_republish_orders_reads)
{
	struct hazptr_domain d;
	struct hazptr_thread *t;
	struct republish r = { .d = &d };
	struct obj *old;
	pthread_t tid;

	domain_setup(&d, _i, false, 0);
	t = hazptr_thread_register(&d);
	old = obj_new(7);
	r.next = obj_new(8);
	atomic_store(&r.shared, old);
	ck_assert_int_eq(pthread_create(&tid, NULL, republish_reader, &r), 0);
	ck_assert_msg(wait_until(republish_moved, &r, 5000, "reader moving its slot on"),
		      "the reader is at stage %d", republish_stage(&r));
	atomic_store(&r.shared, NULL);
	hazptr_retire(t, &old->hp, obj_free);
	hazptr_scan(t);
	ck_assert_int_eq(atomic_load(&freed), 1);	/* the slot holds next, not old */
	atomic_store_explicit(&r.stage, 2, memory_order_relaxed);
	pthread_join(tid, NULL);
	ck_assert_int_eq(r.seen, 7);
	hazptr_thread_unregister(t);
	free(r.next);
	hazptr_domain_destroy(&d);
}
END_TEST

START_TEST(test_destroy_frees_everything)
{
	struct hazptr_domain d;
	struct hazptr_thread *t;

	domain_setup(&d, _i, false, 1000);
	t = hazptr_thread_register(&d);
	for (int i = 0; i < 100; i++)
		hazptr_retire(t, &obj_new(i)->hp, obj_free);
	ck_assert_int_eq(atomic_load(&freed), 0);
	hazptr_domain_destroy(&d);
	ck_assert_int_eq(atomic_load(&freed), 100);
}
END_TEST

static Suite *hazptr_suite(void)
{
	Suite *s = suite_create("hazptr");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 30);
	/* Each test runs twice: asymmetric (membarrier) and full-fence mode. */
	tcase_add_loop_test(tc, test_protect_blocks_reclaim, 0, 2);
	tcase_add_loop_test(tc, test_protect_follows_updates, 0, 2);
	tcase_add_loop_test(tc, test_extra_slots, 0, 2);
	tcase_add_loop_test(tc, test_threshold_and_bound, 0, 2);
	tcase_add_loop_test(tc, test_thread_exit_hands_over, 0, 2);
	tcase_add_loop_test(tc, test_scanner_thread, 0, 2);
	tcase_add_loop_test(tc, test_destroy_frees_everything, 0, 2);
	tcase_add_loop_test(tc, test_republish_orders_reads, 0, 2);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(hazptr_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
