/*
 * test-engine.c -- the engine API on a manual engine with an injected clock:
 * deterministic arm / re-arm / cancel / get / list, periodic timers, wall
 * clock jumps, limits and errors; an arm that reaches a one-shot timer while
 * the pass that fires it is running (the dispatcher's kill keeps the newer
 * generation); the owner check of a re-arm or cancel made in one step with
 * the write, also while another owner re-arms the timer from a thread.
 */
#include "config.h"

#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

#define MS ENGINE_NS_PER_MS

static struct {
	int64_t mono, real;
} clk;

static int64_t fake_mono(void *arg)
{
	(void)arg;
	return clk.mono;
}

static int64_t fake_real(void *arg)
{
	(void)arg;
	return clk.real;
}

static const struct engine_clock fake_clock = { fake_mono, fake_real, NULL };

#define MAX_FIRES 4096
static struct engine_fire fires[MAX_FIRES];
static char fire_topic[MAX_FIRES][32];
static int nfires;
/* When set, on_fire calls it first (a test that acts inside the pass); teardown clears it. */
static void (*fire_hook)(const struct engine_fire *f);

/* Records each fire (manual engines run it on the dispatching thread). */
static void on_fire(void *arg, const struct engine_fire *f)
{
	(void)arg;
	if (fire_hook)
		fire_hook(f);
	ck_assert_int_lt(nfires, MAX_FIRES);
	fires[nfires] = *f;
	memcpy(fire_topic[nfires], f->topic, f->topiclen < 31 ? f->topiclen : 31);
	fire_topic[nfires][f->topiclen < 31 ? f->topiclen : 31] = '\0';
	fires[nfires].key = NULL;
	fires[nfires].topic = NULL;
	fires[nfires].payload = NULL;
	nfires++;
}

static struct engine *E;

/* A manual engine at mono 1 s, wall 1.7e9 s, with optional limits. */
static void setup_with(uint64_t max_timers)
{
	struct engine_config cfg = {
		.clock = &fake_clock,
		.manual = true,
		.on_fire = on_fire,
		.max_timers = max_timers,
		.max_key = 32,
		.max_topic = 16,
		.max_payload = 64,
	};

	clk.mono = 1000 * MS;
	clk.real = INT64_C(1700000000) * ENGINE_NS_PER_S;
	nfires = 0;
	ck_assert_int_eq(engine_create(&cfg, &E), 0);
}

static void setup(void)
{
	setup_with(0);
}

static void teardown(void)
{
	engine_destroy(E);
	E = NULL;
	fire_hook = NULL;
}

/* Moves both clocks forward and runs one pass. */
static int step(int64_t dt)
{
	clk.mono += dt;
	clk.real += dt;
	return engine_dispatch(E);
}

/* Arms a timer after delay ms with an optional key/topic; returns its id. */
static uint64_t arm_after(const char *key, int64_t delay, int64_t period, const char *topic)
{
	struct engine_arm a = {
		.key = key, .keylen = key ? (uint32_t)strlen(key) : 0,
		.when = ENGINE_AFTER, .time = delay, .period = period,
		.topic = topic, .topiclen = topic ? (uint32_t)strlen(topic) : 0,
	};
	struct engine_arm_result r;

	ck_assert_int_eq(engine_arm(E, &a, &r), 0);
	return r.id;
}

START_TEST(test_one_shot_fires_once_never_early)
{
	struct engine_timer *t;
	uint64_t id = arm_after(NULL, 50 * MS, 0, NULL);

	ck_assert_int_eq(engine_get(E, id, NULL, 0, &t), 0);
	ck_assert_int_eq(t->deadline, 1050 * MS);
	engine_timer_free(t);
	ck_assert_int_eq(step(0), 0);
	ck_assert_int_eq(step(50 * MS - 1), 0);	/* 1 ns before */
	ck_assert_int_eq(nfires, 0);
	ck_assert_int_eq(step(1), 1);
	ck_assert_int_eq(nfires, 1);
	ck_assert_uint_eq(fires[0].id, id);
	ck_assert_int_eq(fires[0].deadline, 1050 * MS);
	ck_assert_int_eq(fires[0].fired_at, 1050 * MS);
	ck_assert(fires[0].final);
	ck_assert_int_eq(engine_get(E, id, NULL, 0, &t), TD_ENOENT);
	ck_assert_int_eq(step(100 * MS), 0);
	ck_assert_int_eq(nfires, 1);
}
END_TEST

START_TEST(test_key_is_create_or_replace)
{
	struct engine_arm a = { .key = "job", .keylen = 3, .when = ENGINE_AFTER, .time = 10 * MS };
	struct engine_arm_result r1, r2;
	struct engine_stats st;

	ck_assert_int_eq(engine_arm(E, &a, &r1), 0);
	ck_assert(r1.created);
	a.time = 30 * MS;
	ck_assert_int_eq(engine_arm(E, &a, &r2), 0);
	ck_assert(!r2.created);
	ck_assert_uint_eq(r1.id, r2.id);
	ck_assert_int_eq(r2.deadline, 1030 * MS);
	ck_assert_int_eq(step(20 * MS), 0);	/* the replaced 10 ms deadline is gone */
	ck_assert_int_eq(step(10 * MS), 1);
	ck_assert_uint_eq(fires[0].id, r1.id);
	ck_assert_int_eq(fires[0].keylen, 3);
	engine_stats(E, &st);
	ck_assert_uint_eq(st.created, 1);
	ck_assert_uint_eq(st.rearms, 1);
	ck_assert_uint_eq(st.coalesced, 1);	/* both arms before one pass */
	ck_assert_uint_eq(st.pending, 0);
}
END_TEST

START_TEST(test_cancel_prevents_fire_and_is_visible)
{
	struct engine_timer *t;
	uint64_t id = arm_after("a", 10 * MS, 0, NULL), id2 = arm_after(NULL, 10 * MS, 0, NULL);

	ck_assert_int_eq(engine_cancel(E, 0, "a", 1), 0);
	ck_assert_int_eq(engine_cancel(E, id2, NULL, 0), 0);
	/* Read your writes: the cancel shows before the dispatcher applies it. */
	ck_assert_int_eq(engine_get(E, id, NULL, 0, &t), TD_ENOENT);
	ck_assert_int_eq(engine_get(E, 0, "a", 1, &t), TD_ENOENT);
	ck_assert_int_eq(engine_cancel(E, 0, "a", 1), TD_ENOENT);
	ck_assert_int_eq(engine_cancel(E, id2, NULL, 0), TD_ENOENT);
	{
		struct engine_arm a = { .id = id2, .when = ENGINE_AFTER, .time = MS };
		struct engine_arm_result r;

		ck_assert_int_eq(engine_arm(E, &a, &r), TD_ENOENT);
	}
	ck_assert_int_eq(step(20 * MS), 0);
	ck_assert_int_eq(engine_cancel(E, 0, "a", 1), TD_ENOENT);
	ck_assert_int_eq(engine_cancel(E, 424242, NULL, 0), TD_ENOENT);
	/* The key can be armed again after its timer died. */
	ck_assert_uint_ne(arm_after("a", 5 * MS, 0, NULL), id);
	ck_assert_int_eq(step(5 * MS), 1);
}
END_TEST

START_TEST(test_rearm_by_id_moves_deadline)
{
	struct engine_arm a = { .when = ENGINE_AFTER, .time = 100 * MS };
	struct engine_arm_result r;
	uint64_t id = arm_after(NULL, 50 * MS, 0, NULL);

	step(1 * MS);
	a.id = id;
	a.time = 5 * MS;	/* earlier */
	ck_assert_int_eq(engine_arm(E, &a, &r), 0);
	ck_assert_uint_eq(r.id, id);
	ck_assert(!r.created);
	ck_assert_int_eq(step(5 * MS), 1);
	ck_assert_int_eq(fires[0].deadline, 1006 * MS);
	ck_assert_int_eq(step(100 * MS), 0);
	a.id = 999999;
	ck_assert_int_eq(engine_arm(E, &a, &r), TD_ENOENT);
}
END_TEST

START_TEST(test_periodic_keeps_phase_and_counts_missed)
{
	uint64_t id = arm_after("tick", 10 * MS, 10 * MS, "t");
	struct engine_timer *t;
	struct engine_stats st;

	for (int i = 1; i <= 3; i++) {
		ck_assert_int_eq(step(10 * MS), 1);
		ck_assert_int_eq(fires[i - 1].deadline, (1000 + 10 * i) * MS);
		ck_assert_uint_eq(fires[i - 1].seq, (uint64_t)i);
		ck_assert(!fires[i - 1].final);
	}
	/* Late by 3.5 periods: one fire, 3 periods skipped, phase kept. */
	ck_assert_int_eq(step(45 * MS), 1);
	ck_assert_int_eq(fires[3].deadline, 1040 * MS);
	ck_assert_uint_eq(fires[3].missed, 3);
	ck_assert_int_eq(engine_get(E, id, NULL, 0, &t), 0);
	ck_assert_int_eq(t->deadline, 1080 * MS);
	ck_assert_int_eq(t->period, 10 * MS);
	engine_timer_free(t);
	engine_stats(E, &st);
	ck_assert_uint_eq(st.missed, 3);
	/* The late fire carried the skipped periods; the next one is on time. */
	ck_assert_int_eq(step(5 * MS), 1);
	ck_assert_int_eq(fires[4].deadline, fires[3].deadline + (int64_t)(fires[3].missed + 1) * 10 * MS);
	ck_assert_uint_eq(fires[4].missed, 0);
	ck_assert_uint_eq(fires[4].seq, 5);
	ck_assert_int_eq(engine_cancel(E, id, NULL, 0), 0);
	ck_assert_int_eq(step(100 * MS), 0);
}
END_TEST

START_TEST(test_equal_deadlines_fire_in_one_pass_in_order)
{
	for (int i = 0; i < 100; i++)
		arm_after(NULL, (i % 2 ? 7 : 3) * MS, 0, NULL);
	ck_assert_int_eq(step(10 * MS), 100);
	for (int i = 1; i < 100; i++)
		ck_assert_int_le(fires[i - 1].deadline, fires[i].deadline);
	ck_assert_int_eq(fires[0].deadline, 1003 * MS);
	ck_assert_int_eq(fires[99].deadline, 1007 * MS);
}
END_TEST

START_TEST(test_wall_clock_jumps)
{
	struct engine_arm a = { .key = "w", .keylen = 1, .when = ENGINE_AT_REAL,
				.time = clk.real + 100 * MS };
	struct engine_arm b = { .key = "v", .keylen = 1, .when = ENGINE_AT_REAL,
				.time = clk.real + 300 * MS };
	struct engine_arm_result r;
	struct engine_timer *t;

	ck_assert_int_eq(engine_arm(E, &a, &r), 0);
	ck_assert_int_eq(r.deadline, 1100 * MS);
	ck_assert_int_eq(engine_arm(E, &b, &r), 0);
	ck_assert_int_eq(step(0), 0);
	/* The wall clock jumps forward 200 ms: w became due, v did not. */
	clk.real += 200 * MS;
	engine_clock_changed(E);
	ck_assert_int_eq(engine_next_wakeup(E), clk.mono);
	ck_assert_int_eq(step(0), 1);
	ck_assert(fires[0].realtime);
	ck_assert_int_eq(engine_get(E, 0, "v", 1, &t), 0);
	ck_assert_int_eq(t->wall_deadline, b.time);
	ck_assert_int_eq(t->deadline, 1100 * MS);	/* 100 ms of wall time left */
	engine_timer_free(t);
	/* The wall clock jumps back 1 s: v is delayed accordingly. */
	clk.real -= 1000 * MS;
	engine_clock_changed(E);
	ck_assert_int_eq(step(100 * MS), 0);
	ck_assert_int_eq(step(1000 * MS - 1), 0);
	ck_assert_int_eq(step(1), 1);
	ck_assert_int_eq(fires[1].fired_at, 2100 * MS);
}
END_TEST

START_TEST(test_wall_clock_slew_never_early)
{
	struct engine_arm a = { .when = ENGINE_AT_REAL, .time = clk.real + 100 * MS };
	struct engine_arm_result r;

	ck_assert_int_eq(engine_arm(E, &a, &r), 0);
	step(0);
	/* The wall clock runs 1 ms slow (slewed, no jump event). */
	clk.mono += 100 * MS;
	clk.real += 99 * MS;
	ck_assert_int_eq(engine_dispatch(E), 0);
	ck_assert_int_eq(step(1 * MS), 1);
}
END_TEST

START_TEST(test_topic_payload_owner_roundtrip)
{
	struct engine_arm a = { .key = "k1", .keylen = 2, .when = ENGINE_AT_MONO,
				.time = 1020 * MS, .topic = "mail", .topiclen = 4,
				.payload = "\x00\x01\x02", .payloadlen = 3,
				.owner = 77, .flags = 5 };
	struct engine_arm_result r;
	struct engine_timer *t;

	ck_assert_int_eq(engine_arm(E, &a, &r), 0);
	ck_assert_int_eq(engine_get(E, 0, "k1", 2, &t), 0);
	ck_assert_int_eq(t->topiclen, 4);
	ck_assert_mem_eq(t->topic, "mail", 4);
	ck_assert_int_eq(t->payloadlen, 3);
	ck_assert_mem_eq(t->payload, "\x00\x01\x02", 3);
	ck_assert_uint_eq(t->owner, 77);
	ck_assert_uint_eq(t->flags, 5);
	ck_assert_int_eq(t->keylen, 2);
	ck_assert_mem_eq(t->key, "k1", 2);
	engine_timer_free(t);
	ck_assert_int_eq(step(20 * MS), 1);
	ck_assert_str_eq(fire_topic[0], "mail");
	ck_assert_uint_eq(fires[0].owner, 77);
	ck_assert_uint_eq(fires[0].flags, 5);
	ck_assert_int_eq(fires[0].payloadlen, 3);
}
END_TEST

START_TEST(test_errors_are_distinct_and_nothing_half_applied)
{
	struct engine_arm a = { .when = ENGINE_AFTER, .time = -1 };
	struct engine_arm_result r;
	struct engine_stats st;
	char big[100];

	memset(big, 'x', sizeof(big));
	ck_assert_int_eq(engine_arm(E, &a, &r), TD_EDEADLINE);
	a.time = INT64_MAX;
	ck_assert_int_eq(engine_arm(E, &a, &r), TD_EOVERFLOW);
	a.time = ENGINE_MAX_DEADLINE;	/* plus now overflows the range */
	ck_assert_int_eq(engine_arm(E, &a, &r), TD_EOVERFLOW);
	a.time = MS;
	a.period = 999;
	ck_assert_int_eq(engine_arm(E, &a, &r), TD_EPERIOD);
	a.period = -5;
	ck_assert_int_eq(engine_arm(E, &a, &r), TD_EPERIOD);
	a.period = 0;
	a.key = big;
	a.keylen = 33;
	ck_assert_int_eq(engine_arm(E, &a, &r), TD_EKEYLEN);
	a.keylen = 3;
	a.id = 5;
	ck_assert_int_eq(engine_arm(E, &a, &r), TD_EKEYID);
	a.id = 0;
	a.topic = big;
	a.topiclen = 17;
	ck_assert_int_eq(engine_arm(E, &a, &r), TD_ETOPICLEN);
	a.topiclen = 0;
	a.payload = big;
	a.payloadlen = 65;
	ck_assert_int_eq(engine_arm(E, &a, &r), TD_EPAYLOAD);
	a.payload = NULL;
	a.payloadlen = 3;
	ck_assert_int_eq(engine_arm(E, &a, &r), TD_EINVAL);
	a.payloadlen = 0;
	a.when = 9;
	ck_assert_int_eq(engine_arm(E, &a, &r), TD_EINVAL);
	engine_stats(E, &st);
	ck_assert_uint_eq(st.pending, 0);
	ck_assert_uint_eq(st.arms, 0);
	ck_assert_uint_eq(st.errors, 11);
	ck_assert_int_eq(step(10 * MS), 0);
}
END_TEST

START_TEST(test_full_engine)
{
	struct engine_arm a = { .when = ENGINE_AFTER, .time = MS };
	struct engine_arm_result r;
	struct engine_stats st;

	teardown();
	setup_with(3);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(engine_arm(E, &a, &r), 0);
	ck_assert_int_eq(engine_arm(E, &a, &r), TD_EFULL);
	a.key = "k";
	a.keylen = 1;
	ck_assert_int_eq(engine_arm(E, &a, &r), TD_EFULL);
	engine_stats(E, &st);
	ck_assert_uint_eq(st.pending, 3);
	ck_assert_int_eq(step(MS), 3);
	ck_assert_int_eq(engine_arm(E, &a, &r), 0);	/* room again */
}
END_TEST

struct list_ctx {
	unsigned char seen[2048];
	int n;
};

static bool list_cb(void *arg, const struct engine_timer *t)
{
	struct list_ctx *c = arg;

	uint32_t index = (uint32_t)t->id;	/* ids are (generation << 32) | slot */

	ck_assert_uint_lt(index, sizeof(c->seen));
	ck_assert_int_eq(c->seen[index]++, 0);	/* exactly once */
	c->n++;
	return true;
}

START_TEST(test_list_paginates_exactly_once)
{
	struct list_ctx c = { 0 };
	uint64_t cursor = 0;
	int pages = 0, n;

	for (int i = 0; i < 1000; i++)
		arm_after(NULL, (1 + i % 50) * MS, 0, i % 3 ? "a" : "b");
	do {
		n = engine_list(E, NULL, 0, &cursor, 37, list_cb, &c);
		ck_assert_int_ge(n, 0);
		ck_assert_int_le(n, 37);
		pages++;
	} while (cursor);
	ck_assert_int_eq(c.n, 1000);
	ck_assert_int_ge(pages, 1000 / 37);
	memset(&c, 0, sizeof(c));
	do
		n = engine_list(E, "b", 1, &cursor, 1000, list_cb, &c);
	while (cursor);
	ck_assert_int_eq(c.n, 334);
}
END_TEST

START_TEST(test_stats_and_lateness)
{
	struct engine_stats st;

	for (int i = 0; i < 10; i++)
		arm_after(NULL, 10 * MS, 0, NULL);
	ck_assert_int_eq(step(12 * MS), 10);	/* 2 ms late */
	engine_stats(E, &st);
	ck_assert_uint_eq(st.fires, 10);
	ck_assert_uint_eq(st.late_count, 10);
	ck_assert_int_ge(st.late_p50, 2 * MS * 97 / 100);
	ck_assert_int_le(st.late_p50, 2 * MS);
	ck_assert_int_eq(st.late_max, 2 * MS);
	ck_assert_uint_ge(st.intake_hwm, 10);
	ck_assert_uint_eq(st.pending, 0);
}
END_TEST

static uint64_t rearm_a_id;
static int rearm_rc = 99;

/* A's fire re-arms B (by key, due later in the same pass) to 50 ms from now. */
static void rearm_b_from_a(const struct engine_fire *f)
{
	struct engine_arm a = { .key = "b", .keylen = 1, .when = ENGINE_AT_MONO, .time = clk.mono + 50 * MS };
	struct engine_arm_result r;

	ck_assert_int_ge(f->fired_at, f->deadline);
	if (f->id != rearm_a_id)
		return;
	rearm_rc = engine_arm(E, &a, &r);
	ck_assert(!r.created);
}

/* The deadline of B's last fire and how many B fired in all. */
static int b_fires(uint64_t b_id, int64_t *last)
{
	int n = 0;

	for (int i = 0; i < nfires; i++)
		if (fires[i].id == b_id) {
			*last = fires[i].deadline;
			n++;
		}
	return n;
}

START_TEST(test_rearm_while_its_pass_fires_it)
{
	int64_t t0 = clk.mono, rearmed, last = 0;
	struct engine_timer *t;
	struct engine_stats st;
	uint64_t b_id;
	int nb;

	fire_hook = rearm_b_from_a;
	rearm_rc = 99;
	rearm_a_id = arm_after("a", 10 * MS, 0, NULL);
	b_id = arm_after("b", 20 * MS, 0, NULL);
	step(0);
	step(30 * MS);			/* both due in this pass: A first */
	ck_assert_int_eq(rearm_rc, 0);
	rearmed = clk.mono + 50 * MS;
	/* The old deadline fired at most once; the re-arm is what exists now. */
	nb = b_fires(b_id, &last);
	ck_assert_int_le(nb, 1);
	if (nb == 1)
		ck_assert_int_eq(last, t0 + 20 * MS);
	step(0);			/* applies the re-arm kept by the kill */
	ck_assert_int_eq(engine_get(E, 0, "b", 1, &t), 0);
	ck_assert_int_eq(t->deadline, rearmed);
	engine_timer_free(t);
	step(rearmed - 1 - clk.mono);
	ck_assert_int_le(b_fires(b_id, &last), 1);
	step(1);
	ck_assert_int_ge(b_fires(b_id, &last), 1);
	ck_assert_int_eq(last, rearmed);
	step(1000 * MS);
	step(0);
	ck_assert_int_le(b_fires(b_id, &last), 2);
	ck_assert_int_eq(last, rearmed);
	ck_assert_int_eq(engine_get(E, 0, "b", 1, &t), TD_ENOENT);
	engine_stats(E, &st);
	ck_assert_uint_eq(st.pending, 0);
}
END_TEST

static uint32_t quota_acct_no = 7;

/* Arms key in account quota_acct_no with a quota of max timers / max_bytes bytes; the arm's error. */
static int arm_acct(const char *key, uint32_t payloadlen, uint64_t max, uint64_t max_bytes)
{
	static const char payload[64];
	struct engine_arm a = {
		.key = key, .keylen = (uint32_t)strlen(key), .when = ENGINE_AFTER, .time = 50 * MS,
		.payload = payload, .payloadlen = payloadlen, .label = "q", .labellen = 1,
		.acct = quota_acct_no, .acct_max_timers = max, .acct_max_bytes = max_bytes,
	};
	struct engine_arm_result r;

	return engine_arm(E, &a, &r);
}

/* Per-account quotas: creation past max-timers is TD_EQUOTA, re-arms never; removal gives the slot back. */
START_TEST(test_account_quota)
{
	struct engine_config cfg = {
		.clock = &fake_clock, .manual = true, .on_fire = on_fire, .accounts = true,
		.max_key = 32, .max_topic = 16, .max_payload = 64,
	};
	uint64_t n;
	int64_t bytes;

	engine_destroy(E);
	ck_assert_int_eq(engine_create(&cfg, &E), 0);
	ck_assert_int_eq(arm_acct("a", 0, 2, 0), 0);
	ck_assert_int_eq(arm_acct("b", 0, 2, 0), 0);
	ck_assert_int_eq(arm_acct("c", 0, 2, 0), TD_EQUOTA);
	ck_assert_int_eq(arm_acct("a", 0, 2, 0), 0);	/* a re-arm at the limit */
	engine_acct_use(E, 7, &n, &bytes);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_gt(bytes, 2 * ENGINE_REC_COST);
	ck_assert_int_eq(engine_cancel(E, 0, "a", 1), 0);
	ck_assert_int_eq(engine_dispatch(E), 0);
	engine_acct_use(E, 7, &n, &bytes);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(arm_acct("c", 0, 2, 0), 0);
	/* fired one-shots leave it too */
	step(60 * MS);
	engine_acct_use(E, 7, &n, &bytes);
	ck_assert_uint_eq(n, 0);
	/* bytes: the record's estimate plus the attributes (another account: the freed ones' bytes wait for reclamation) */
	quota_acct_no = 8;
	ck_assert_int_eq(arm_acct("d", 64, 0, 2 * ENGINE_REC_COST + 200), 0);
	ck_assert_int_eq(arm_acct("e", 64, 0, 2 * ENGINE_REC_COST + 200), TD_EQUOTA);
	ck_assert_int_eq(arm_acct("d", 64, 0, 2 * ENGINE_REC_COST + 200), 0);
	quota_acct_no = 7;
}
END_TEST

/* Arms key with label (only_own: only over its own state); the engine's answer. */
static int arm_as(const char *key, const char *label, bool only_own, int64_t delay, struct engine_arm_result *r)
{
	struct engine_arm a = {
		.key = key, .keylen = (uint32_t)strlen(key), .when = ENGINE_AFTER, .time = delay,
		.label = label, .labellen = (uint32_t)strlen(label), .only_own = only_own,
	};

	return engine_arm(E, &a, r);
}

/* The label key's timer carries now ("" if none, "-" if there is no timer). */
static const char *label_of(const char *key, char *buf, size_t len)
{
	struct engine_timer *t;

	if (engine_get(E, 0, key, (uint32_t)strlen(key), &t) != 0)
		return "-";
	snprintf(buf, len, "%.*s", (int)t->labellen, t->label);
	engine_timer_free(t);
	return buf;
}

/* The owner check of a re-arm or cancel (only_own, engine_cancel_own): refused over another's state, nothing changed. */
START_TEST(test_owner_checked_with_the_write)
{
	struct engine_arm_result r;
	struct engine_timer *t;
	char b[32];

	ck_assert_int_eq(arm_as("k", "a", false, 10 * MS, &r), 0);
	ck_assert_int_eq(arm_as("k", "a", true, 20 * MS, &r), 0);	/* a's own */
	ck_assert_int_eq(arm_as("k", "b", false, 30 * MS, &r), 0);	/* b re-arms it (b may) */
	ck_assert_int_eq(arm_as("k", "a", true, 40 * MS, &r), TD_EOWNER);
	ck_assert_int_eq(engine_cancel_own(E, 0, "k", 1, "a", 1, NULL, NULL), TD_EOWNER);
	ck_assert_int_eq(engine_get(E, 0, "k", 1, &t), 0);
	ck_assert_int_eq(t->deadline, 1030 * MS);	/* b's arm stands */
	ck_assert_str_eq(label_of("k", b, sizeof(b)), "b");
	engine_timer_free(t);
	ck_assert_int_eq(engine_cancel_own(E, 0, "k", 1, "b", 1, NULL, NULL), 0);
	ck_assert_int_eq(arm_as("k", "a", true, 50 * MS, &r), 0);	/* cancelled: no owner, made anew */
	ck_assert_str_eq(label_of("k", b, sizeof(b)), "a");
	ck_assert_int_eq(arm_as("new", "a", true, 50 * MS, &r), 0);	/* created */
	ck_assert(r.created);
	ck_assert_int_eq(engine_cancel_own(E, r.id, NULL, 0, "a", 1, NULL, NULL), 0);	/* by id */
}
END_TEST

/*
 * A live timer without attributes (no topic, payload, label, period or
 * flags: armed without a users file, or restored from such a row) has no
 * owner, as one with attributes and an empty label has none: a writer
 * allowed only over its own (only_own, engine_cancel_own) is refused, as
 * rpc_owner_ok refused it (ident_may_touch: no owner is no identity's).
 * Only a cancelled state counts as ownerless for the write.
 */
START_TEST(test_owner_check_unowned_plain_timer)
{
	struct engine_arm plain = { .key = "p", .keylen = 1, .when = ENGINE_AFTER, .time = 10 * MS };
	struct engine_arm_result r;
	struct engine_timer *t;
	char b[32];

	ck_assert_int_eq(engine_arm(E, &plain, &r), 0);	/* no attributes at all */
	ck_assert_int_eq(arm_as("p", "a", true, 20 * MS, &r), TD_EOWNER);
	ck_assert_int_eq(engine_cancel_own(E, 0, "p", 1, "a", 1, NULL, NULL), TD_EOWNER);
	ck_assert_int_eq(engine_get(E, 0, "p", 1, &t), 0);
	ck_assert_int_eq(t->deadline, 1010 * MS);	/* unchanged */
	engine_timer_free(t);
	ck_assert_str_eq(label_of("p", b, sizeof(b)), "");
	ck_assert_int_eq(arm_as("p", "", true, 30 * MS, &r), 0);	/* an empty label is its own */
	ck_assert_int_eq(engine_cancel_own(E, 0, "p", 1, "", 0, NULL, NULL), 0);
	ck_assert_int_eq(arm_as("p", "a", true, 40 * MS, &r), 0);	/* cancelled: made anew, a's */
	ck_assert_str_eq(label_of("p", b, sizeof(b)), "a");
}
END_TEST

static atomic_bool race_stop;

/* Identity a, allowed only over its own timers: re-arms and cancels "k" as fast as it can. */
static void *race_a(void *arg)
{
	struct engine_arm_result r;
	unsigned n = 0;

	(void)arg;
	/* relaxed: a stop flag; the join orders the rest */
	while (!atomic_load_explicit(&race_stop, memory_order_relaxed)) {
		int rc = n++ % 4 == 3 ? engine_cancel_own(E, 0, "k", 1, "a", 1, NULL, NULL)
				      : arm_as("k", "a", true, 3600 * ENGINE_NS_PER_S, &r);

		ck_assert(rc == 0 || rc == TD_EOWNER || rc == TD_ENOENT);
	}
	return NULL;
}

/*
 * The TOCTOU the one-step check closes: while a re-arms and cancels its
 * timer "k" as fast as it can, b re-arms "k" (b may); once b's arm took
 * effect (not superseded), a can neither overwrite nor cancel it.
 */
START_TEST(test_owner_check_races_a_rearm)
{
	unsigned checked = 0;
	const char *l;
	char b[32];

	for (int i = 0; i < 2000; i++) {
		struct engine_arm_result r;
		pthread_t th;

		ck_assert_int_eq(arm_as("k", "a", false, 3600 * ENGINE_NS_PER_S, &r), 0);
		atomic_store_explicit(&race_stop, false, memory_order_relaxed);	/* relaxed: before the thread starts */
		ck_assert_int_eq(pthread_create(&th, NULL, race_a, NULL), 0);
		for (volatile int spin = 0; spin < i % 64 * 50; spin++)
			;	/* b's arm lands at varying points of a's loop */
		ck_assert_int_eq(arm_as("k", "b", false, 7200 * ENGINE_NS_PER_S, &r), 0);
		for (volatile int spin = 0; spin < 2000; spin++)
			;	/* a keeps trying over b's timer */
		atomic_store_explicit(&race_stop, true, memory_order_relaxed);	/* relaxed: the join orders it */
		ck_assert_int_eq(pthread_join(th, NULL), 0);
		if (r.coalesced)
			continue;	/* b's arm was ordered before one of a's and superseded: nothing to check */
		checked++;
		l = label_of("k", b, sizeof(b));
		ck_assert_msg(!strcmp(l, "b"), "round %d: b's arm took effect, then k's owner is %s (a wrote over or "
			      "cancelled b's timer; \"-\": none)", i, l);
	}
	ck_assert_uint_gt(checked, 1000);
}
END_TEST

static Suite *engine_suite(void)
{
	Suite *s = suite_create("engine");
	TCase *tc = tcase_create("manual");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_one_shot_fires_once_never_early);
	tcase_add_test(tc, test_key_is_create_or_replace);
	tcase_add_test(tc, test_cancel_prevents_fire_and_is_visible);
	tcase_add_test(tc, test_rearm_by_id_moves_deadline);
	tcase_add_test(tc, test_periodic_keeps_phase_and_counts_missed);
	tcase_add_test(tc, test_equal_deadlines_fire_in_one_pass_in_order);
	tcase_add_test(tc, test_wall_clock_jumps);
	tcase_add_test(tc, test_wall_clock_slew_never_early);
	tcase_add_test(tc, test_topic_payload_owner_roundtrip);
	tcase_add_test(tc, test_errors_are_distinct_and_nothing_half_applied);
	tcase_add_test(tc, test_full_engine);
	tcase_add_test(tc, test_list_paginates_exactly_once);
	tcase_add_test(tc, test_stats_and_lateness);
	tcase_add_test(tc, test_rearm_while_its_pass_fires_it);
	tcase_add_test(tc, test_account_quota);
	tcase_add_test(tc, test_owner_checked_with_the_write);
	tcase_add_test(tc, test_owner_check_unowned_plain_timer);
	tcase_add_test(tc, test_owner_check_races_a_rearm);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(engine_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
