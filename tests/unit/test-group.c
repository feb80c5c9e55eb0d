/*
 * test-group.c -- the consumer groups' state machine (server/group.c) on an
 * injected clock with fake journal hooks and fake consumers: create, same
 * settings, conflict and update; validation; a delivery waits for its fire
 * batch's commit; credit; spreading over consumers; ack timeouts and
 * backoff within its bounds (jitter); nack with retry_after; dead letters
 * after max_attempts with the last error, listed, retried and purged;
 * per-key ordering (and unordered); a consumer gone; a redelivery to another
 * consumer than the last one when one has credit; a webhook group's request
 * timeout within its ack timeout, in flight ack + slack; max_backlog (the
 * newest refused, counted); a restart's redelivery (attempt counted up,
 * duplicates counted); every row journaled.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <unistd.h>

#include "server/group.h"

#define MS 1000000LL
#define SEC 1000000000LL

/* A STORE_GROUP_DEL row put: through a loop's batch (jctx) or the fire batches. */
struct tdel {
	bool loop;
	uint64_t id;
	uint32_t flags;
};

/* The fake world: clock, journal, consumers. */
static struct {
	int64_t now;
	uint64_t seq, durable;
	int rows[16];			/* rows journaled per op (op < 16) */
	int fired_rows;
	uint64_t last_fired;
	int changed;
	_Atomic int64_t mem;
	int64_t mem_limit;		/* hooks.mem_full: past it (0: none) */
	struct tdel dels[4];		/* STORE_GROUP_DEL rows put */
	int ndels;
} W;

/* A fake consumer: records what it got. */
struct fake {
	struct group_consumer c;
	uint64_t ids[256];
	uint32_t attempts[256];
	char keys[256][16];
	int64_t ack_by[256];
	int n;
	bool refuse;
};

/* hooks.put */
static uint64_t t_put(void *arg, void *jctx, const struct store_rec *r)
{
	(void)arg;
	W.rows[r->op & 15]++;
	if (r->op == STORE_GROUP_DEL && W.ndels < 4)
		W.dels[W.ndels++] = (struct tdel){ jctx != NULL, r->id, r->flags };
	return jctx ? 7 : 0;
}

/* hooks.put_fire */
static uint64_t t_put_fire(void *arg, uint64_t fired, const struct store_rec *rows, size_t n)
{
	(void)arg;
	if (fired) {
		W.fired_rows++;
		W.last_fired = fired;
	}
	for (size_t i = 0; i < n; i++)
		W.rows[rows[i].op & 15]++;
	return ++W.seq;
}

/* The test says when max-memory is used up (see t_mem_full). */
static bool t_mem_is_full;

/* hooks.durable */
static uint64_t t_durable(void *arg)
{
	(void)arg;
	return W.durable;
}

/* hooks.wake */
static void t_wake(void *arg)
{
	(void)arg;
}

/* hooks.changed */
static void t_changed(void *arg, const char *name, const Timerd__Group *g)
{
	(void)arg;
	(void)name;
	(void)g;
	W.changed++;
}

/* The threads test's clock (W.now is the single-threaded tests'). */
static _Atomic int64_t th_clock;

/* hooks.now */
static int64_t t_now(void *arg, bool real)
{
	(void)arg;
	if (th_clock)	/* relaxed: the threads test's clock never moves */
		return atomic_load_explicit(&th_clock, memory_order_relaxed) + (real ? 1000 * SEC : 0);
	return real ? W.now + 1000 * SEC : W.now;
}

/* hooks.mem_full: full when a test says so, or past W.mem_limit. */
static bool t_mem_full(void *arg, size_t bytes)
{
	(void)arg;
	return t_mem_is_full || (W.mem_limit && W.mem + (int64_t)bytes > W.mem_limit);
}

/* hooks.writable: false while a test makes the store fail. */
static bool t_store_failing;

/* hooks.writable */
static bool t_writable(void *arg)
{
	(void)arg;
	return !t_store_failing;
}

/* deliver of the fake consumer. */
static int t_deliver(struct group_consumer *c, const struct group_delivery *d)
{
	struct fake *f = (struct fake *)c;

	if (f->refuse)
		return -1;
	ck_assert_int_lt(f->n, 256);
	f->ids[f->n] = d->id;
	f->attempts[f->n] = d->attempt;
	f->ack_by[f->n] = d->ack_by_ns;
	snprintf(f->keys[f->n], sizeof(f->keys[0]), "%.*s", (int)d->keylen, d->key);
	ck_assert_str_eq(d->group, d->settings->name);
	f->n++;
	return 0;
}

static const struct group_consumer_ops t_ops = { .deliver = t_deliver };

static struct group_set GS;

static void setup(void)
{
	struct group_hooks h = { .put = t_put, .put_fire = t_put_fire, .durable = t_durable, .wake = t_wake,
				 .changed = t_changed, .now = t_now, .mem = &W.mem, .mem_full = t_mem_full,
				 .writable = t_writable };

	memset(&W, 0, sizeof(W));
	t_store_failing = false;
	W.now = 100 * SEC;
	W.durable = UINT64_MAX;
	ck_assert_int_eq(group_set_init(&GS, &h, 12345), 0);
}

static void teardown(void)
{
	group_set_destroy(&GS);
	ck_assert_int_eq(W.mem, 0);	/* every delivery's bytes returned to max-memory's account */
}

/* Creates group name on topic with the given settings (0: defaults); asserts rc. */
static int mk(const char *name, const char *topic, int64_t ack, uint32_t attempts, int64_t bmin, int64_t bmax,
	      uint64_t backlog, bool unordered, bool update, bool *created)
{
	Timerd__Group g = TIMERD__GROUP__INIT;
	char *topics[1] = { (char *)topic };
	char err[512];
	uint64_t hold;
	bool c;

	g.name = (char *)name;
	g.topics = topics;
	g.n_topics = 1;
	g.ack_timeout_ns = ack;
	g.max_attempts = attempts;
	g.backoff_min_ns = bmin;
	g.backoff_max_ns = bmax;
	g.max_backlog = backlog;
	g.unordered = unordered;
	if (group_validate(&g, 256, err, sizeof(err)) < 0)
		return -1;
	return group_create(&GS, &g, update, (void *)1, created ? created : &c, &hold, err, sizeof(err));
}

/* A fire of topic with key. */
static void fire(const char *topic, const char *key, uint64_t timer_id, bool final)
{
	struct group_fire f = { .timer_id = timer_id, .key = key, .keylen = key ? (uint32_t)strlen(key) : 0,
				.topic = topic, .topiclen = (uint32_t)strlen(topic), .payload = "pl", .payloadlen = 2,
				.deadline_unix_ns = 1, .fired_unix_ns = 2, .final = final, .journal_fired = final };

	group_fire(&GS, &f);
}

/* Subscribes fake f to name with credit. */
static void sub(struct fake *f, const char *name, uint32_t credit)
{
	memset(f, 0, sizeof(*f));
	f->c.ops = &t_ops;
	f->c.arg = f;
	ck_assert_int_eq(group_subscribe(&GS, name, &f->c, credit), 0);
}

/* One GroupInfo. */
static Timerd__GroupInfo G;

/* group_list callback: keeps gi. */
static void keep_info(void *arg, const Timerd__GroupInfo *gi, const uint8_t *packed, size_t len)
{
	(void)arg;
	(void)packed;
	(void)len;
	G = *gi;
	G.group = NULL;
}

/* Refreshes G for name. */
static Timerd__GroupInfo *info(const char *name)
{
	ck_assert_int_eq(group_list(&GS, name, keep_info, NULL), 0);
	return &G;
}

START_TEST(test_create_conflict_update)
{
	bool created;

	ck_assert_int_eq(mk("jobs", "t", 0, 0, 0, 0, 0, false, false, &created), 0);
	ck_assert(created);
	/* the same settings again, with the defaults spelt out: OK, not created */
	ck_assert_int_eq(mk("jobs", "t", 30 * SEC, 5, 1 * SEC, 300 * SEC, 0, false, false, &created), 0);
	ck_assert(!created);
	ck_assert_int_eq(mk("jobs", "t", 10 * SEC, 0, 0, 0, 0, false, false, &created), GROUP_ECONFLICT);
	ck_assert_int_eq(mk("jobs", "t", 10 * SEC, 0, 0, 0, 0, false, true, &created), 0);
	ck_assert(!created);
	ck_assert_int_eq(W.rows[STORE_GROUP_PUT], 2);
	ck_assert_int_eq(W.changed, 2);
	/* validation */
	ck_assert_int_eq(mk("", "t", 0, 0, 0, 0, 0, false, false, NULL), -1);
	ck_assert_int_eq(mk("x", "", 0, 0, 0, 0, 0, false, false, NULL), -1);
	ck_assert_int_eq(mk("x\x01", "t", 0, 0, 0, 0, 0, false, false, NULL), -1);
	ck_assert_int_eq(mk("x", "t", -1, 0, 0, 0, 0, false, false, NULL), -1);
	ck_assert_int_eq(mk("x", "t", 1, 0, 0, 0, 0, false, false, NULL), -1);	/* below 1 ms */
	ck_assert_int_eq(mk("x", "t", 0, 0, 10 * SEC, 1 * SEC, 0, false, false, NULL), -1);	/* min > max */
	ck_assert_int_eq(mk("x", "t", 0, 100000, 0, 0, 0, false, false, NULL), -1);
	ck_assert_int_eq(mk("x", "t", 0, 0, 0, 0, GROUP_MAX_BACKLOG + 1ULL, false, false, NULL), -1);
	{
		uint64_t hold;

		ck_assert_int_eq(group_delete(&GS, "nope", NULL, &hold), GROUP_ENOENT);
		ck_assert_int_eq(group_delete(&GS, "jobs", (void *)1, &hold), 0);
		ck_assert_uint_eq(hold, 7);
		ck_assert_int_eq(group_list(&GS, "jobs", keep_info, NULL), GROUP_ENOENT);
	}
}
END_TEST

START_TEST(test_commit_then_push_ack)
{
	struct fake a;
	uint64_t hold;

	ck_assert_int_eq(mk("g", "t", 0, 0, 0, 0, 0, false, false, NULL), 0);
	sub(&a, "g", 4);
	W.durable = 0;
	fire("t", "k", 11, true);
	fire("other", "k", 12, true);	/* no group: nothing */
	ck_assert_int_eq(W.fired_rows, 1);
	ck_assert_uint_eq(W.last_fired, 11);
	ck_assert_int_eq(W.rows[STORE_DLV_PUT], 1);
	group_tick(&GS, W.now);
	ck_assert_int_eq(a.n, 0);	/* not committed yet: not pushed */
	ck_assert_uint_eq(info("g")->backlog, 1);
	W.durable = W.seq;
	group_tick(&GS, W.now);
	ck_assert_int_eq(a.n, 1);
	ck_assert_uint_eq(a.attempts[0], 1);
	ck_assert_str_eq(a.keys[0], "k");
	ck_assert_uint_eq(info("g")->in_flight, 1);
	ck_assert_int_eq(group_ack(&a.c, a.ids[0] + 1, (void *)1, &hold), GROUP_ENOENT);
	ck_assert_int_eq(group_ack(&a.c, a.ids[0], (void *)1, &hold), 0);
	ck_assert_uint_eq(hold, 7);
	ck_assert_int_eq(W.rows[STORE_DLV_DEL], 1);
	ck_assert_int_eq(group_ack(&a.c, a.ids[0], (void *)1, &hold), GROUP_ENOENT);	/* twice */
	ck_assert_uint_eq(info("g")->acked, 1);
	ck_assert_uint_eq(G.in_flight, 0);
	ck_assert_uint_eq(G.backlog, 0);
	ck_assert_uint_eq(G.created, 1);
	ck_assert_uint_eq(G.delivered, 1);
	group_unsubscribe(&a.c, NULL);
}
END_TEST

START_TEST(test_credit_and_spread)
{
	struct fake a, b;
	uint64_t hold;

	ck_assert_int_eq(mk("g", "t", 0, 0, 0, 0, 0, true, false, NULL), 0);
	for (int i = 0; i < 6; i++)
		fire("t", "k", 20 + (uint64_t)i, false);
	group_tick(&GS, W.now);
	sub(&a, "g", 2);
	ck_assert_int_eq(a.n, 2);	/* credit */
	sub(&b, "g", 1);
	ck_assert_int_eq(b.n, 1);
	ck_assert_uint_eq(info("g")->in_flight, 3);
	ck_assert_uint_eq(G.backlog, 3);
	ck_assert_uint_eq(G.consumers, 2);
	/* ids oldest first across both */
	ck_assert_uint_lt(a.ids[0], a.ids[1]);
	ck_assert_uint_lt(a.ids[1], b.ids[0]);
	ck_assert_int_eq(group_ack(&b.c, b.ids[0], NULL, &hold), 0);
	ck_assert_int_eq(b.n, 2);
	ck_assert_int_eq(group_ack(&a.c, a.ids[0], NULL, &hold), 0);
	ck_assert_int_eq(group_ack(&b.c, b.ids[1], NULL, &hold), 0);
	ck_assert_int_eq(a.n + b.n, 6);
	ck_assert_int_ge(b.n, 2);
	group_unsubscribe(&a.c, NULL);
	group_unsubscribe(&b.c, NULL);
}
END_TEST

START_TEST(test_timeout_backoff_bounds)
{
	struct fake a;
	int64_t next, min = 100 * MS, max = 800 * MS;

	ck_assert_int_eq(mk("g", "t", 1 * SEC, 8, min, max, 0, false, false, NULL), 0);
	sub(&a, "g", 1);
	fire("t", "k", 1, false);
	group_tick(&GS, W.now);
	ck_assert_int_eq(a.n, 1);
	for (uint32_t attempt = 1; attempt < 8; attempt++) {
		int64_t b = min, lo, hi;

		for (uint32_t i = 1; i < attempt; i++)
			b = b * 2 > max ? max : b * 2;
		lo = b / 2 > min ? b / 2 : min;
		hi = b;
		/* no ack: the timeout is due 1 s after the push */
		next = group_tick(&GS, W.now);
		ck_assert_int_eq(next, W.now + 1 * SEC);
		W.now += 1 * SEC;
		next = group_tick(&GS, W.now);	/* timed out: backing off */
		ck_assert_uint_eq(info("g")->timeouts, attempt);
		ck_assert_int_eq(a.n, (int)attempt);
		ck_assert_msg(next - W.now >= lo && next - W.now <= hi, "attempt %u: backoff %lld ns not in [%lld, %lld]",
			      attempt, (long long)(next - W.now), (long long)lo, (long long)hi);
		W.now = next;
		group_tick(&GS, W.now);
		ck_assert_int_eq(a.n, (int)attempt + 1);
		ck_assert_uint_eq(a.attempts[attempt], attempt + 1);
	}
	ck_assert_uint_eq(info("g")->redeliveries, 7);
	/* the 8th attempt times out: a dead letter */
	W.now += 1 * SEC;
	group_tick(&GS, W.now);
	ck_assert_uint_eq(info("g")->dead_letters, 1);
	ck_assert_uint_eq(G.dead_lettered, 1);
	ck_assert_uint_eq(G.in_flight, 0);
	group_unsubscribe(&a.c, NULL);
}
END_TEST

/* Arena-less allocator for group_dlq_list: a list of blocks freed at the end. */
static void *blocks[4096];
static int nblocks;

static void *t_alloc(void *arg, size_t n)
{
	(void)arg;
	ck_assert_int_lt(nblocks, 4096);
	return blocks[nblocks++] = calloc(1, n ? n : 1);
}

static void t_free_blocks(void)
{
	while (nblocks)
		free(blocks[--nblocks]);
}

START_TEST(test_nack_dead_letters)
{
	Timerd__DlqList q = TIMERD__DLQ_LIST__INIT;
	Timerd__DlqListReply r;
	struct fake a;
	uint64_t hold, count;
	int64_t next;

	ck_assert_int_eq(mk("g", "t", 0, 2, 0, 0, 0, false, false, NULL), 0);
	sub(&a, "g", 1);
	fire("t", "k", 1, false);
	group_tick(&GS, W.now);
	ck_assert_int_eq(a.n, 1);
	ck_assert_int_eq(group_nack(&a.c, a.ids[0], 5 * SEC, "disk full", (void *)1, &hold), 0);
	ck_assert_uint_eq(hold, 7);
	ck_assert_int_eq(W.rows[STORE_DLV_SET], 1);
	next = group_tick(&GS, W.now);
	ck_assert_int_eq(next, W.now + 5 * SEC);	/* retry_after, not the backoff */
	ck_assert_int_eq(a.n, 1);
	W.now = next;
	group_tick(&GS, W.now);
	ck_assert_int_eq(a.n, 2);
	ck_assert_uint_eq(a.attempts[1], 2);
	ck_assert_int_eq(group_nack(&a.c, a.ids[1], 0, "still full", NULL, &hold), 0);
	ck_assert_uint_eq(info("g")->dead_letters, 1);
	ck_assert_uint_eq(G.nacked, 2);
	q.group = (char *)"g";
	q.key = (char *)"";
	ck_assert_int_eq(group_dlq_list(&GS, &q, &r, t_alloc, NULL), 0);
	ck_assert_uint_eq(r.n_letters, 1);
	ck_assert_str_eq(r.letters[0]->last_error, "still full");
	ck_assert_str_eq(r.letters[0]->key, "k");
	ck_assert_uint_eq(r.letters[0]->attempts, 2);
	ck_assert_uint_eq(r.letters[0]->payload_len, 2);
	ck_assert_uint_eq(r.next_cursor, 0);
	t_free_blocks();
	/* retry: a delivery again, attempts from 1 */
	ck_assert_int_eq(group_dlq_apply(&GS, "g", "other", 0, false, NULL, &count, &hold), 0);
	ck_assert_uint_eq(count, 0);
	ck_assert_int_eq(group_dlq_apply(&GS, "g", "k", 0, false, NULL, &count, &hold), 0);
	ck_assert_uint_eq(count, 1);
	ck_assert_int_eq(a.n, 3);
	ck_assert_uint_eq(a.attempts[2], 1);
	ck_assert_int_eq(group_nack(&a.c, a.ids[2], 0, "x", NULL, &hold), 0);
	W.now = group_tick(&GS, W.now);
	group_tick(&GS, W.now);
	ck_assert_int_eq(group_nack(&a.c, a.ids[3], 0, "x", NULL, &hold), 0);
	ck_assert_uint_eq(info("g")->dead_letters, 1);
	ck_assert_int_eq(group_dlq_apply(&GS, "g", "", 0, true, NULL, &count, &hold), 0);
	ck_assert_uint_eq(count, 1);
	ck_assert_uint_eq(info("g")->dead_letters, 0);
	ck_assert_uint_eq(G.dead_lettered, 2);
	group_unsubscribe(&a.c, NULL);
}
END_TEST

/*
 * While the store fails, ack timeouts wait (the delivery stays in flight),
 * an attempt whose ack was refused or whose consumer went meanwhile is not
 * counted: max_attempts 1 and still no dead letter.
 */
START_TEST(test_store_failing_spares_attempts)
{
	struct fake a, b;
	uint64_t hold;
	int64_t next;

	ck_assert_int_eq(mk("g", "t", 1 * SEC, 1, 0, 0, 0, false, false, NULL), 0);
	sub(&a, "g", 1);
	fire("t", "k", 1, false);
	group_tick(&GS, W.now);
	ck_assert_int_eq(a.n, 1);
	t_store_failing = true;
	group_ack_refused(&a.c, a.ids[0]);	/* the ack was answered STORAGE */
	for (int i = 0; i < 5; i++) {	/* five ack timeouts pass: still in flight to a, nothing counted */
		W.now += 1 * SEC;
		next = group_tick(&GS, W.now);
		ck_assert_int_eq(next, W.now + 1 * SEC);
	}
	ck_assert_uint_eq(info("g")->in_flight, 1);
	ck_assert_uint_eq(G.timeouts, 0);
	ck_assert_uint_eq(G.dead_letters, 0);
	ck_assert_int_eq(a.n, 1);
	/* the store recovers; the refused ack is not repeated: the timeout comes, not counted, due at once */
	t_store_failing = false;
	W.now += 1 * SEC;
	group_tick(&GS, W.now);
	ck_assert_uint_eq(info("g")->dead_letters, 0);
	ck_assert_uint_eq(G.timeouts, 1);
	ck_assert_int_eq(a.n, 2);
	ck_assert_uint_eq(a.ids[1], a.ids[0]);
	ck_assert_uint_eq(a.attempts[1], 2);	/* attempt numbers still count every push */
	/* its consumer goes while the store fails: not counted either; b gets it */
	t_store_failing = true;
	group_unsubscribe(&a.c, NULL);
	ck_assert_uint_eq(info("g")->dead_letters, 0);
	ck_assert_uint_eq(G.backlog, 1);
	t_store_failing = false;
	sub(&b, "g", 1);
	group_tick(&GS, W.now);
	ck_assert_int_eq(b.n, 1);
	ck_assert_uint_eq(b.attempts[0], 3);
	ck_assert_int_eq(group_ack(&b.c, b.ids[0], NULL, &hold), 0);
	ck_assert_uint_eq(info("g")->acked, 1);
	/* a timeout with the store writable and no refused ack is counted as before: max_attempts 1 -> dead */
	fire("t", "k", 1, false);
	group_tick(&GS, W.now);
	ck_assert_int_eq(b.n, 2);
	W.now += 1 * SEC;
	group_tick(&GS, W.now);
	ck_assert_uint_eq(info("g")->dead_letters, 1);
	group_unsubscribe(&b.c, NULL);
}
END_TEST

START_TEST(test_ordering_per_key)
{
	struct fake a;
	uint64_t hold;

	ck_assert_int_eq(mk("g", "t", 0, 0, 0, 0, 0, false, false, NULL), 0);
	sub(&a, "g", 10);
	fire("t", "k", 1, false);
	fire("t", "k", 1, false);
	fire("t", "j", 2, false);
	fire("t", "k", 1, false);
	fire("t", NULL, 3, false);	/* no key: ordered by its timer id */
	fire("t", NULL, 3, false);
	group_tick(&GS, W.now);
	ck_assert_int_eq(a.n, 3);	/* k#1, j#1, timer 3 #1 */
	ck_assert_str_eq(a.keys[0], "k");
	ck_assert_str_eq(a.keys[1], "j");
	ck_assert_str_eq(a.keys[2], "");
	/* the head of k failing keeps the next k waiting (it backs off, not acked) */
	ck_assert_int_eq(group_nack(&a.c, a.ids[0], 0, "again", NULL, &hold), 0);
	W.now = group_tick(&GS, W.now);
	group_tick(&GS, W.now);
	ck_assert_int_eq(a.n, 4);
	ck_assert_uint_eq(a.ids[3], a.ids[0]);	/* the same one again */
	ck_assert_int_eq(group_ack(&a.c, a.ids[3], NULL, &hold), 0);
	ck_assert_int_eq(a.n, 5);
	ck_assert_str_eq(a.keys[4], "k");
	ck_assert_uint_gt(a.ids[4], a.ids[0]);
	ck_assert_int_eq(group_ack(&a.c, a.ids[2], NULL, &hold), 0);	/* timer 3's first */
	ck_assert_int_eq(a.n, 6);
	ck_assert_str_eq(a.keys[5], "");
	ck_assert_uint_eq(info("g")->backlog, 1);	/* the third k waits */
	group_unsubscribe(&a.c, NULL);
	/* unordered: everything at once */
	ck_assert_int_eq(mk("u", "t2", 0, 0, 0, 0, 0, true, false, NULL), 0);
	sub(&a, "u", 10);
	fire("t2", "k", 1, false);
	fire("t2", "k", 1, false);
	fire("t2", "k", 1, false);
	group_tick(&GS, W.now);
	ck_assert_int_eq(a.n, 3);
	group_unsubscribe(&a.c, NULL);
}
END_TEST

START_TEST(test_consumer_gone)
{
	struct fake a, b;
	uint64_t hold;

	ck_assert_int_eq(mk("g", "t", 0, 0, 0, 0, 0, false, false, NULL), 0);
	sub(&a, "g", 1);
	sub(&b, "g", 1);
	b.refuse = true;
	fire("t", "k", 1, false);
	group_tick(&GS, W.now);
	ck_assert_int_eq(a.n + b.n, 1);
	if (!a.n) {	/* b refused: a got it */
		ck_assert_int_eq(a.n, 1);
	}
	b.refuse = false;
	group_unsubscribe(&a.c, "consumer gone");
	ck_assert_int_eq(b.n, 1);	/* at once, to the other consumer */
	ck_assert_uint_eq(b.attempts[0], 2);
	ck_assert_uint_eq(info("g")->timeouts, 1);
	ck_assert_int_eq(group_ack(&a.c, a.ids[0], NULL, &hold), GROUP_ENOENT);	/* no longer a's */
	ck_assert_int_eq(group_ack(&b.c, b.ids[0], NULL, &hold), 0);
	group_unsubscribe(&b.c, NULL);
	/* no consumer at all: it waits, a re-subscribe drains it */
	fire("t", "k", 1, false);
	group_tick(&GS, W.now);
	ck_assert_uint_eq(info("g")->backlog, 1);
	sub(&a, "g", 1);
	ck_assert_int_eq(a.n, 1);
	group_unsubscribe(&a.c, NULL);
	ck_assert_uint_eq(info("g")->backlog, 1);
}
END_TEST

/* An ack timeout's redelivery goes to another consumer with credit; to the same one only if none has. */
START_TEST(test_timeout_other_consumer)
{
	struct fake a, b;
	uint64_t hold;
	int64_t next;

	ck_assert_int_eq(mk("g", "t", 1 * SEC, 0, 10 * MS, 10 * MS, 0, true, false, NULL), 0);
	sub(&a, "g", 2);
	fire("t", "k", 1, false);
	group_tick(&GS, W.now);
	ck_assert_int_eq(a.n, 1);
	sub(&b, "g", 1);	/* after a in the ring: the hand-out would start at a again */
	ck_assert_int_eq(b.n, 0);
	W.now += 1 * SEC;
	next = group_tick(&GS, W.now);	/* timed out at a: backing off */
	ck_assert_uint_eq(info("g")->timeouts, 1);
	W.now = next;
	group_tick(&GS, W.now);
	ck_assert_int_eq(b.n, 1);	/* attempt 2 to b, not back to a */
	ck_assert_uint_eq(b.attempts[0], 2);
	ck_assert_uint_eq(b.ids[0], a.ids[0]);
	ck_assert_int_eq(a.n, 1);
	/* b's times out while a is full: back to b, the only one with credit */
	W.now += 500 * MS;
	fire("t", "k2", 2, false);
	fire("t", "k3", 3, false);
	group_tick(&GS, W.now);
	ck_assert_int_eq(a.n, 3);	/* a: k2, k3 (credit 2) */
	W.now += 500 * MS;
	next = group_tick(&GS, W.now);	/* b's times out, a's not yet */
	ck_assert_uint_eq(info("g")->timeouts, 2);
	W.now = next;
	group_tick(&GS, W.now);
	ck_assert_int_eq(b.n, 2);
	ck_assert_uint_eq(b.ids[1], b.ids[0]);
	ck_assert_uint_eq(b.attempts[1], 3);
	ck_assert_int_eq(group_ack(&b.c, b.ids[1], NULL, &hold), 0);
	ck_assert_int_eq(group_ack(&a.c, a.ids[1], NULL, &hold), 0);
	ck_assert_int_eq(group_ack(&a.c, a.ids[2], NULL, &hold), 0);
	ck_assert_uint_eq(info("g")->backlog, 0);
	ck_assert_uint_eq(G.in_flight, 0);
	group_unsubscribe(&a.c, NULL);
	group_unsubscribe(&b.c, NULL);
	/* only a subscribed: its timed-out delivery goes back to it */
	ck_assert_int_eq(mk("h", "t2", 1 * SEC, 0, 10 * MS, 10 * MS, 0, true, false, NULL), 0);
	sub(&a, "h", 1);
	fire("t2", "k4", 4, false);
	group_tick(&GS, W.now);
	ck_assert_int_eq(a.n, 1);
	W.now += 1 * SEC;
	W.now = group_tick(&GS, W.now);
	group_tick(&GS, W.now);
	ck_assert_int_eq(a.n, 2);
	ck_assert_uint_eq(a.ids[1], a.ids[0]);
	ck_assert_uint_eq(a.attempts[1], 2);
	/* a consumer struct subscribed again is a new consumer (a new id): its old deliveries may go to it */
	group_unsubscribe(&a.c, NULL);
	ck_assert_uint_eq(info("h")->backlog, 1);
	sub(&a, "h", 1);
	ck_assert_int_eq(a.n, 1);
	ck_assert_uint_eq(a.attempts[0], 3);
	group_unsubscribe(&a.c, NULL);
}
END_TEST

/* A webhook group: its request timeout may not pass the ack timeout, and its deliveries stay in flight ack + slack. */
START_TEST(test_webhook_deadline)
{
	Timerd__Group g = TIMERD__GROUP__INIT;
	char *topics[1] = { (char *)"t" };
	char err[512];
	struct fake a;
	uint64_t hold;
	int64_t next;
	bool created;

	g.name = (char *)"hook";
	g.topics = topics;
	g.n_topics = 1;
	g.webhook_url = (char *)"http://127.0.0.1:9/hook";
	g.ack_timeout_ns = 2 * SEC;
	g.webhook_timeout_ns = 3 * SEC;
	ck_assert_int_eq(group_validate(&g, 256, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "webhook_timeout_ns") && strstr(err, "--ack-timeout") && strstr(err, "--webhook-timeout"),
		      "error: %s", err);
	g.ack_timeout_ns = 0;	/* the default, 30 s */
	ck_assert_int_eq(group_validate(&g, 256, err, sizeof(err)), 0);
	g.webhook_timeout_ns = 31 * SEC;
	ck_assert_int_eq(group_validate(&g, 256, err, sizeof(err)), -1);
	g.webhook_url = NULL;	/* no webhook: the request timeout is unused */
	ck_assert_int_eq(group_validate(&g, 256, err, sizeof(err)), 0);
	g.webhook_url = (char *)"http://127.0.0.1:9/hook";
	g.ack_timeout_ns = 2 * SEC;
	g.webhook_timeout_ns = 2 * SEC;	/* equal: allowed */
	ck_assert_int_eq(group_validate(&g, 256, err, sizeof(err)), 0);
	ck_assert_int_eq(group_create(&GS, &g, false, NULL, &created, &hold, err, sizeof(err)), 0);
	memset(&a, 0, sizeof(a));
	a.c.ops = &t_ops;
	a.c.arg = &a;
	a.c.webhook = true;
	ck_assert_int_eq(group_subscribe(&GS, "hook", &a.c, 1), 0);
	fire("t", "k", 1, false);
	next = group_tick(&GS, W.now);
	ck_assert_int_eq(a.n, 1);
	ck_assert_int_eq(a.ack_by[0], W.now + 2 * SEC + GROUP_WEBHOOK_SLACK_NS);
	ck_assert_int_eq(next, W.now + 2 * SEC + GROUP_WEBHOOK_SLACK_NS);
	W.now += 2 * SEC;	/* the request's timeout answers now: still in flight, so its nack counts */
	group_tick(&GS, W.now);
	ck_assert_uint_eq(info("hook")->timeouts, 0);
	ck_assert_uint_eq(G.in_flight, 1);
	ck_assert_int_eq(group_nack(&a.c, a.ids[0], 0, "timeout after 2s", NULL, &hold), 0);
	ck_assert_uint_eq(info("hook")->nacked, 1);
	/* no answer at all: the group times it out at ack + slack */
	W.now = group_tick(&GS, W.now);
	group_tick(&GS, W.now);
	ck_assert_int_eq(a.n, 2);
	W.now += 2 * SEC + GROUP_WEBHOOK_SLACK_NS - 1;
	group_tick(&GS, W.now);
	ck_assert_uint_eq(info("hook")->timeouts, 0);
	W.now += 1;
	group_tick(&GS, W.now);
	ck_assert_uint_eq(info("hook")->timeouts, 1);
	group_unsubscribe(&a.c, NULL);
}
END_TEST

START_TEST(test_max_backlog)
{
	struct fake a;

	ck_assert_int_eq(mk("g", "t", 0, 0, 0, 0, 3, true, false, NULL), 0);
	for (int i = 0; i < 5; i++)
		fire("t", "k", 1 + (uint64_t)i, false);
	group_tick(&GS, W.now);
	ck_assert_uint_eq(info("g")->backlog, 3);
	ck_assert_uint_eq(G.backlog_dropped, 2);
	ck_assert_uint_eq(G.created, 3);
	ck_assert_int_eq(W.rows[STORE_DLV_PUT], 3);	/* the refused ones never reach the store */
	sub(&a, "g", 10);
	ck_assert_int_eq(a.n, 3);
	ck_assert_uint_eq(a.ids[0], 1);	/* the oldest are kept */
	ck_assert_uint_eq(a.ids[2], 3);
	/* in flight counts: still full */
	fire("t", "k", 9, false);
	ck_assert_uint_eq(info("g")->backlog_dropped, 3);
	group_unsubscribe(&a.c, NULL);
	/* max-memory used up: refused the same way, whatever the group's room */
	ck_assert_int_eq(mk("roomy", "t3", 0, 0, 0, 0, 0, true, false, NULL), 0);
	t_mem_is_full = true;
	fire("t3", "k", 10, false);
	t_mem_is_full = false;
	ck_assert_uint_eq(info("roomy")->backlog_dropped, 1);
	ck_assert_uint_eq(G.created, 0);
	fire("t3", "k", 11, false);
	ck_assert_uint_eq(info("roomy")->created, 1);
}
END_TEST

START_TEST(test_restore_redelivers)
{
	Timerd__Group g = TIMERD__GROUP__INIT;
	char *topics[1] = { (char *)"t" };
	uint8_t buf[256];
	size_t len;
	struct store_rec live = { .op = STORE_DLV_PUT, .id = 41, .group = "g", .grouplen = 1, .timer_id = 5,
				  .key = "k", .keylen = 1, .topic = "t", .topiclen = 1, .attempts = 0 };
	struct store_rec retried = live, dead = live, orphan = live;
	struct fake a;
	uint64_t hold;

	g.name = (char *)"g";
	g.topics = topics;
	g.n_topics = 1;
	len = timerd__group__pack(&g, buf);
	ck_assert_int_eq(group_restore_group(&GS, "g", buf, len), 0);
	ck_assert_int_eq(group_restore_group(&GS, "g", "\xff\xff", 2), -1);	/* does not decode */
	retried.id = 42;
	retried.key = "j";
	retried.attempts = 2;
	dead.id = 43;
	dead.flags = STORE_DLV_DEAD;
	dead.attempts = 5;
	dead.error = "ack timeout";
	dead.errorlen = 11;
	orphan.id = 99;
	orphan.group = "gone";
	orphan.grouplen = 4;
	ck_assert_int_eq(group_restore_delivery(&GS, &live), 0);
	ck_assert_int_eq(group_restore_delivery(&GS, &retried), 0);
	ck_assert_int_eq(group_restore_delivery(&GS, &dead), 0);
	ck_assert_int_eq(group_restore_delivery(&GS, &orphan), 0);	/* skipped */
	group_restore_done(&GS, 50);
	ck_assert_uint_eq(group_next_id(&GS), 50);
	ck_assert_uint_eq(info("g")->backlog, 2);
	ck_assert_uint_eq(G.dead_letters, 1);
	sub(&a, "g", 10);
	ck_assert_int_eq(a.n, 2);
	ck_assert_uint_eq(a.attempts[0], 2);	/* pushed once (maybe) before the stop */
	ck_assert_uint_eq(a.attempts[1], 4);
	{
		Timerd__DeliveryStats st;

		group_stats(&GS, &st);
		ck_assert_uint_eq(st.duplicates, 2);
		ck_assert_uint_eq(st.redeliveries, 2);
		ck_assert_uint_eq(st.dead_letters, 1);
		ck_assert_uint_eq(st.groups, 1);
	}
	ck_assert_int_eq(group_ack(&a.c, 41, NULL, &hold), 0);
	fire("t", "k", 1, false);
	group_tick(&GS, W.now);
	ck_assert_uint_eq(a.ids[2], 50);	/* ids go on above every one stored */
	group_unsubscribe(&a.c, NULL);
}
END_TEST

START_TEST(test_delete_with_consumers)
{
	struct fake a;
	uint64_t hold;

	ck_assert_int_eq(mk("g", "t", 0, 0, 0, 0, 0, false, false, NULL), 0);
	sub(&a, "g", 2);
	fire("t", "k", 1, false);
	fire("t", "j", 2, false);
	fire("t", "j", 2, false);
	group_tick(&GS, W.now);
	ck_assert_int_eq(a.n, 2);
	ck_assert_int_eq(group_delete(&GS, "g", NULL, &hold), 0);
	ck_assert_int_eq(group_ack(&a.c, a.ids[0], NULL, &hold), GROUP_ENOENT);
	group_unsubscribe(&a.c, NULL);	/* harmless after the delete */
	/* re-created: empty, and the old consumer may subscribe again */
	ck_assert_int_eq(mk("g", "t", 0, 0, 0, 0, 0, false, false, NULL), 0);
	ck_assert_uint_eq(info("g")->backlog, 0);
	ck_assert_int_eq(group_subscribe(&GS, "g", &a.c, 1), 0);
	group_unsubscribe(&a.c, NULL);
}
END_TEST

/*
 * GroupDelete's rows (the loop's batch and the fire batches commit in
 * either order, see test-store's test_group_delete_bounded): the loop's row
 * deletes only the deliveries made before it, and the same delete goes
 * through the fire batches (jctx NULL), after the group's rows there.
 */
START_TEST(test_delete_rows_bounded)
{
	uint64_t hold;

	ck_assert_int_eq(mk("g", "t", 0, 0, 0, 0, 0, false, false, NULL), 0);
	fire("t", "a", 1, true);
	fire("t", "b", 2, true);
	ck_assert_int_eq(group_delete(&GS, "g", (void *)1, &hold), 0);
	ck_assert_uint_eq(hold, 7);
	ck_assert_int_eq(W.ndels, 2);
	ck_assert_msg(W.dels[0].loop && W.dels[0].id == 3 && !W.dels[0].flags,
		      "the loop's delete must be bounded by the next delivery id 3 (got id %llu flags %u)",
		      (unsigned long long)W.dels[0].id, W.dels[0].flags);
	ck_assert_msg(!W.dels[1].loop && W.dels[1].id == 3 && W.dels[1].flags == STORE_GROUP_DLV_ONLY,
		      "the fire batches need the deliveries-only delete below 3 (got loop %d id %llu flags %u)",
		      W.dels[1].loop, (unsigned long long)W.dels[1].id, W.dels[1].flags);
	/* made again: its deliveries are above the bound */
	ck_assert_int_eq(mk("g", "t", 0, 0, 0, 0, 0, false, false, NULL), 0);
	fire("t", "a", 3, true);
	group_tick(&GS, W.now);
	ck_assert_uint_eq(info("g")->backlog, 1);
}
END_TEST

/* Past max-memory (hooks.mem_full) a fire makes no delivery: counted as dropped, nothing journaled. */
START_TEST(test_max_memory)
{
	ck_assert_int_eq(mk("g", "t", 0, 0, 0, 0, 0, false, false, NULL), 0);
	fire("t", "k", 1, false);
	ck_assert_int_gt(W.mem, 0);
	W.mem_limit = W.mem + 10;	/* no room for one more */
	fire("t", "k", 2, false);
	group_tick(&GS, W.now);
	ck_assert_uint_eq(info("g")->backlog, 1);
	ck_assert_uint_eq(G.backlog_dropped, 1);
	ck_assert_int_eq(W.rows[STORE_DLV_PUT], 1);
	W.mem_limit = 0;
	fire("t", "k", 3, false);
	group_tick(&GS, W.now);
	ck_assert_uint_eq(info("g")->backlog, 2);
}
END_TEST

/* --- threads: fires, ticks, acks and unsubscribes at once (TSan) --- */

#define TH_FIRES 3000

/* A consumer on a thread of its own: deliver queues ids, the thread acks them. */
struct tcons {
	struct group_consumer c;
	pthread_mutex_t mu;
	uint64_t q[4096];
	unsigned head, tail;
	_Atomic int acked;
	_Atomic bool stop;
};

/* deliver: queue the id (gs->mu held: only our own lock). */
static int th_deliver(struct group_consumer *c, const struct group_delivery *d)
{
	struct tcons *t = (struct tcons *)c;

	pthread_mutex_lock(&t->mu);
	t->q[t->tail++ % 4096] = d->id;
	pthread_mutex_unlock(&t->mu);
	return 0;
}

static const struct group_consumer_ops th_ops = { .deliver = th_deliver };

/* The consumer's thread: acks what it got, nacks every 7th once. */
static void *th_consume(void *arg)
{
	struct tcons *t = arg;
	unsigned n = 0;

	/* relaxed: a flag polled in a loop; the join orders the end */
	while (!atomic_load_explicit(&t->stop, memory_order_relaxed)) {
		uint64_t id = 0, hold;

		pthread_mutex_lock(&t->mu);
		if (t->head != t->tail)
			id = t->q[t->head++ % 4096];
		pthread_mutex_unlock(&t->mu);
		if (!id) {
			sched_yield();
			continue;
		}
		if (++n % 7 == 0)
			group_nack(&t->c, id, 1, "try again", NULL, &hold);
		else if (group_ack(&t->c, id, NULL, &hold) == 0)
			atomic_fetch_add_explicit(&t->acked, 1, memory_order_relaxed);	/* relaxed: a count */
	}
	return NULL;
}

/* A firing thread. */
static void *th_fire(void *arg)
{
	char key[16];

	for (int i = 0; i < TH_FIRES; i++) {
		snprintf(key, sizeof(key), "%s%d", (const char *)arg, i % 10);
		fire("t", key, 1 + (uint64_t)(i % 10), i % 3 == 0);
	}
	return NULL;
}

/* The clock (a real one here: the tick thread runs as the group thread would). */
static _Atomic bool th_stop_tick;

/* The tick thread. */
static void *th_tick(void *arg)
{
	(void)arg;
	/* relaxed: a stop flag; the join orders the end */
	while (!atomic_load_explicit(&th_stop_tick, memory_order_relaxed)) {
		group_tick(&GS, atomic_load_explicit(&th_clock, memory_order_relaxed) + 10 * SEC);
		sched_yield();
	}
	return NULL;
}

START_TEST(test_threads)
{
	struct tcons a = { 0 }, b = { 0 };
	pthread_t f1, f2, tk, ca, cb;
	Timerd__DeliveryStats st;

	atomic_store(&th_clock, 100 * SEC);
	ck_assert_int_eq(mk("g", "t", 0, 1000, 1 * MS, 1 * MS, GROUP_MAX_BACKLOG, false, false, NULL), 0);
	pthread_mutex_init(&a.mu, NULL);
	pthread_mutex_init(&b.mu, NULL);
	a.c.ops = b.c.ops = &th_ops;
	ck_assert_int_eq(group_subscribe(&GS, "g", &a.c, 64), 0);
	ck_assert_int_eq(group_subscribe(&GS, "g", &b.c, 64), 0);
	atomic_store(&th_stop_tick, false);
	pthread_create(&ca, NULL, th_consume, &a);
	pthread_create(&cb, NULL, th_consume, &b);
	pthread_create(&tk, NULL, th_tick, NULL);
	pthread_create(&f1, NULL, th_fire, (char *)"x");
	pthread_create(&f2, NULL, th_fire, (char *)"y");
	pthread_join(f1, NULL);
	pthread_join(f2, NULL);
	/* every delivery acked, with a deadline */
	for (int i = 0; i < 3000; i++) {
		group_stats(&GS, &st);
		if (st.acked == 2 * TH_FIRES)
			break;
		usleep(10000);
	}
	group_stats(&GS, &st);
	ck_assert_msg(st.acked == 2 * TH_FIRES, "acked %llu of %d (backlog %llu, in flight %llu)",
		      (unsigned long long)st.acked, 2 * TH_FIRES, (unsigned long long)st.backlog,
		      (unsigned long long)st.in_flight);
	ck_assert_uint_eq(st.created, 2 * TH_FIRES);
	ck_assert_uint_eq(st.nacked, st.redeliveries);
	atomic_store(&th_stop_tick, true);
	atomic_store(&a.stop, true);
	atomic_store(&b.stop, true);
	pthread_join(tk, NULL);
	pthread_join(ca, NULL);
	pthread_join(cb, NULL);
	group_unsubscribe(&a.c, NULL);
	group_unsubscribe(&b.c, NULL);
	pthread_mutex_destroy(&a.mu);
	pthread_mutex_destroy(&b.mu);
	atomic_store(&th_clock, 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("group");
	TCase *tc = tcase_create("group");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_create_conflict_update);
	tcase_add_test(tc, test_commit_then_push_ack);
	tcase_add_test(tc, test_credit_and_spread);
	tcase_add_test(tc, test_timeout_backoff_bounds);
	tcase_add_test(tc, test_nack_dead_letters);
	tcase_add_test(tc, test_store_failing_spares_attempts);
	tcase_add_test(tc, test_ordering_per_key);
	tcase_add_test(tc, test_consumer_gone);
	tcase_add_test(tc, test_timeout_other_consumer);
	tcase_add_test(tc, test_webhook_deadline);
	tcase_add_test(tc, test_max_backlog);
	tcase_add_test(tc, test_restore_redelivers);
	tcase_add_test(tc, test_delete_with_consumers);
	tcase_add_test(tc, test_delete_rows_bounded);
	tcase_add_test(tc, test_max_memory);
	tcase_add_test(tc, test_threads);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
