/*
 * test-journal-load.c -- what a restart restores, on an injected clock: a
 * store written with the store API is loaded into a manual engine by
 * journal_open, and every timer must come back as the rules say: exact
 * monotonic deadlines in the same boot, wall-clock mapping in another,
 * misfire fire (late, flagged recovered, phase kept) and skip (one-shot
 * dropped, periodic at its next period), a periodic timer not late for the
 * periods it fired while timerd ran, fires final, cancels revivable by a
 * later put, ids never reused; calendar timers at their first elapse after
 * timerd was last alive (misfire fire: late and recovered; skip: the first
 * elapse after now), dropped when their schedule no longer parses or ended.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "cal/cal.h"
#include "server/journal.h"
#include "server/log.h"
#include "server/srv.h"
#include "store/store.h"
#include "tests/wait.h"

#define S ENGINE_NS_PER_S

static struct {
	struct srv_config cfg;
	struct srv srv;
	int64_t mono, real;
	char dir[64], path[128];
} W;

/* The fake clocks. */
static int64_t jl_mono(void *arg)
{
	(void)arg;
	return W.mono;
}

static int64_t jl_real(void *arg)
{
	(void)arg;
	return W.real;
}

static void setup(void)
{
	static const struct engine_clock clk = { .mono = jl_mono, .real = jl_real };
	struct engine_config ec = { .clock = &clk, .manual = true };
	char err[256];

	ck_assert_int_eq(log_open("stderr", LOG_LVL_ERR, err, sizeof(err)), 0);
	memset(&W, 0, sizeof(W));
	snprintf(W.dir, sizeof(W.dir), "/tmp/test-journal-load.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(W.dir));
	snprintf(W.path, sizeof(W.path), "%s/timers.db", W.dir);
	settings_init(&W.cfg);
	free(W.cfg.state_dir);
	W.cfg.state_dir = strdup(W.dir);
	W.cfg.stats = false;
	W.srv.cfg = &W.cfg;
	W.mono = 5000 * S;
	W.real = INT64_C(1800000000) * S;
	ck_assert_int_eq(engine_create(&ec, &W.srv.engine), 0);
}

static void teardown(void)
{
	char cmd[128];

	journal_stop(&W.srv);
	engine_destroy(W.srv.engine);
	settings_free(&W.cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", W.dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* A put of key (also the topic) in the boot hash boot. */
static struct store_rec put(uint64_t lsn, uint64_t id, const char *key, int clock, int64_t deadline,
			    int64_t period, bool skip, uint64_t boot)
{
	struct store_rec r = { .lsn = lsn, .op = STORE_PUT, .id = id, .clock = (uint8_t)clock, .deadline = deadline,
			       .period = period, .boot = boot, .key = key, .keylen = (uint32_t)strlen(key),
			       .topic = key, .topiclen = (uint32_t)strlen(key) };

	r.wall = clock == STORE_REAL ? deadline : deadline + (W.real - W.mono);
	r.flags = skip ? JOURNAL_FLAG_SKIP : 0;
	r.misfire = skip;
	return r;
}

/* Writes rows to the store as one commit. */
static void write_rows(const struct store_rec *v, int n)
{
	struct store_opts o = { .create = true };
	struct store *st;
	char err[512];

	ck_assert_msg(store_open(W.path, &o, &st, err, sizeof(err)) == 0, "%s", err);
	ck_assert(store_begin(st, false, err, sizeof(err)) == 0);
	for (int i = 0; i < n; i++)
		ck_assert_msg(store_append(st, &v[i], err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(store_commit(st, err, sizeof(err)) == 0, "%s", err);
	store_close(st);
}

/* Loads the store into the engine (as a start does). */
static void load(void)
{
	char err[512];

	ck_assert_msg(journal_open(&W.srv, err, sizeof(err)) == 0, "%s", err);
}

/* The restored timer with key k; fails if absent. */
static struct engine_timer *get(const char *k)
{
	struct engine_timer *t;
	int rc = engine_get(W.srv.engine, 0, k, (uint32_t)strlen(k), &t);

	ck_assert_msg(rc == 0, "%s: not restored (%s)", k, td_strerror(rc));
	return t;
}

/* True if key k was restored. */
static bool has(const char *k)
{
	struct engine_timer *t;

	if (engine_get(W.srv.engine, 0, k, (uint32_t)strlen(k), &t) != 0)
		return false;
	engine_timer_free(t);
	return true;
}

#define ID(gen, idx) (((uint64_t)(gen) << 32) | (idx))

START_TEST(test_same_boot_and_misfire)
{
	uint64_t boot = store_boot_hash(NULL);
	struct store_rec v[] = {
		put(1, ID(1, 1), "future", STORE_MONO, W.mono + 60 * S, 0, false, boot),
		put(2, ID(1, 2), "late-fire", STORE_MONO, W.mono - 10 * S, 0, false, boot),
		put(3, ID(1, 3), "late-skip", STORE_MONO, W.mono - 10 * S, 0, true, boot),
		put(4, ID(1, 4), "per-skip", STORE_MONO, W.mono - 10 * S - 300, 3 * S, true, boot),
		put(5, ID(1, 5), "per-fire", STORE_MONO, W.mono - 10 * S - 300, 3 * S, false, boot),
		put(6, ID(1, 6), "wall", STORE_REAL, W.real + 3600 * S, 0, false, boot),
	};
	struct engine_timer *t;

	write_rows(v, 6);
	load();
	t = get("future");
	ck_assert_uint_eq(t->id, ID(1, 1));
	ck_assert_int_eq(t->deadline, W.mono + 60 * S);	/* exact to the ns */
	ck_assert(!(t->flags & JOURNAL_FLAG_RECOVERED));
	engine_timer_free(t);
	t = get("late-fire");
	ck_assert_int_eq(t->deadline, W.mono - 10 * S);	/* due: fires at the start, late */
	ck_assert(t->flags & JOURNAL_FLAG_RECOVERED);
	engine_timer_free(t);
	ck_assert(!has("late-skip"));
	t = get("per-skip");
	ck_assert_int_eq(t->deadline, W.mono - 10 * S - 300 + 4 * 3 * S);	/* the next period, same phase */
	ck_assert(!(t->flags & JOURNAL_FLAG_RECOVERED));
	ck_assert(t->flags & JOURNAL_FLAG_SKIP);
	engine_timer_free(t);
	t = get("per-fire");
	ck_assert_int_eq(t->deadline, W.mono - 10 * S - 300);	/* fires once; missed counts the rest */
	ck_assert(t->flags & JOURNAL_FLAG_RECOVERED);
	engine_timer_free(t);
	t = get("wall");
	ck_assert(t->realtime);
	ck_assert_int_eq(t->wall_deadline, W.real + 3600 * S);
	engine_timer_free(t);
	ck_assert_uint_eq(journal_late(&W.srv), 2);
}
END_TEST

/* A periodic timer that fired while timerd ran is not late for those periods after a restart. */
START_TEST(test_periodic_alive)
{
	uint64_t boot = store_boot_hash(NULL);
	struct store_opts o = { .create = true };
	struct store_rec v[] = {
		put(1, ID(1, 1), "tick", STORE_MONO, W.mono - 100 * S, 3 * S, false, boot),
		put(2, ID(1, 2), "tock", STORE_MONO, W.mono - 100 * S, 3 * S, false, boot),
	};
	struct engine_timer *t;
	struct store *st;
	char err[512];

	write_rows(v, 1);
	/* timerd was alive until 1 s ago (its last record), then stopped */
	ck_assert(store_open(W.path, &o, &st, err, sizeof(err)) == 0);
	store_note_alive(st, boot, W.mono - 1 * S, W.real - 1 * S);
	ck_assert(store_begin(st, false, err, sizeof(err)) == 0);
	ck_assert(store_append(st, &v[1], err, sizeof(err)) == 0);
	ck_assert_msg(store_commit(st, err, sizeof(err)) == 0, "%s", err);
	store_close(st);
	load();
	/* boundaries are at now-100s + 3k s: the first after now-1s is now+2s: not late */
	t = get("tick");
	ck_assert_int_eq(t->deadline, W.mono - 100 * S + 34 * 3 * S);
	ck_assert(!(t->flags & JOURNAL_FLAG_RECOVERED));
	engine_timer_free(t);
	ck_assert_uint_eq(journal_late(&W.srv), 0);
}
END_TEST

/* A calendar timer's row: key, schedule, saved next elapse (unix ns), misfire skip or fire. */
static struct store_rec cal_put(uint64_t lsn, uint64_t id, const char *key, const char *expr, int64_t deadline,
				bool skip)
{
	struct store_rec r = put(lsn, id, key, STORE_REAL, deadline, 0, skip, 77);

	r.calendar = expr;
	r.calendarlen = (uint32_t)strlen(expr);
	return r;
}

/* The normalised form of expr. */
static void normalised(const char *expr, char *out, size_t len)
{
	struct cal *c;
	char err[128];

	ck_assert_msg(cal_parse(expr, &c, err, sizeof(err)) == 0, "%s", err);
	snprintf(out, len, "%s", cal_normalized(c));
	cal_free(c);
}

START_TEST(test_calendar_restore)
{
	/* W.real (2027-01-15T08:00:00Z) is itself an elapse of every 15 minutes */
	struct store_rec v[] = {
		cal_put(1, ID(1, 1), "cal-future", "*:0/15 UTC", W.real + 900 * S, false),
		cal_put(2, ID(1, 2), "cal-fire", "*:0/15 UTC", W.real - 3600 * S, false),
		cal_put(3, ID(1, 3), "cal-skip", "*:0/15 UTC", W.real - 3600 * S, true),
		cal_put(4, ID(1, 4), "cal-ended", "2020-01-01 00:00:00 UTC", W.real - 3600 * S, false),
		cal_put(5, ID(1, 5), "cal-broken", "*-*-* 09:00:00 Nowhere/Zone", W.real + 900 * S, false),
	};
	struct store_opts o = { .create = true };
	struct engine_timer *t;
	struct store *st;
	char err[512], norm[160];

	write_rows(v, 3);
	/* timerd was alive until 30 min + 1 s ago: the elapses up to then fired */
	ck_assert(store_open(W.path, &o, &st, err, sizeof(err)) == 0);
	store_note_alive(st, 77, W.mono - 1801 * S, W.real - 1801 * S);
	ck_assert(store_begin(st, false, err, sizeof(err)) == 0);
	ck_assert(store_append(st, &v[3], err, sizeof(err)) == 0);
	ck_assert(store_append(st, &v[4], err, sizeof(err)) == 0);
	ck_assert_msg(store_commit(st, err, sizeof(err)) == 0, "%s", err);
	store_close(st);
	load();
	normalised("*:0/15 UTC", norm, sizeof(norm));
	t = get("cal-future");
	ck_assert(t->realtime);
	ck_assert_int_eq(t->period, 0);
	ck_assert_str_eq(t->calendar, norm);
	ck_assert_int_eq(t->wall_deadline, W.real + 900 * S);
	ck_assert(!(t->flags & JOURNAL_FLAG_RECOVERED));
	engine_timer_free(t);
	t = get("cal-fire");	/* the first elapse after the last alive moment: late, fires once */
	ck_assert_int_eq(t->wall_deadline, W.real - 1800 * S);
	ck_assert(t->flags & JOURNAL_FLAG_RECOVERED);
	engine_timer_free(t);
	t = get("cal-skip");	/* no late fire: the first elapse after now */
	ck_assert_int_eq(t->wall_deadline, W.real + 900 * S);
	ck_assert(!(t->flags & JOURNAL_FLAG_RECOVERED));
	engine_timer_free(t);
	ck_assert(!has("cal-ended"));
	ck_assert(!has("cal-broken"));
	ck_assert_uint_eq(journal_late(&W.srv), 1);
}
END_TEST

/* Another boot: monotonic deadlines come through the wall clock; the new boot's clocks differ. */
START_TEST(test_other_boot)
{
	struct store_rec v[] = {
		put(1, ID(1, 1), "mono", STORE_MONO, W.mono + 60 * S, 0, false, 12345),
	};
	struct engine_timer *t;
	int64_t wall = v[0].wall;

	write_rows(v, 1);
	W.mono = 7 * S;	/* rebooted: monotonic time restarted, the wall clock went on */
	W.real += 20 * S;
	load();
	t = get("mono");
	ck_assert_int_eq(t->deadline, wall - (W.real - W.mono));
	ck_assert_int_eq(t->deadline, 7 * S + 40 * S);
	engine_timer_free(t);
}
END_TEST

/* A fire is final, a cancel is not (a re-arm by key may revive the id); new ids never repeat a saved generation. */
/* store_load_groups callback: counts the dead letters and the other deliveries. */
static int count_dlv(void *arg, const struct store_rec *r)
{
	int *n = arg;

	if (r->op == STORE_DLV_PUT)
		n[(r->flags & STORE_DLV_DEAD) ? 1 : 0]++;
	return 0;
}

/*
 * The group rows of one commit go in the order they were made (their
 * LSNs), whichever batch holds them: delivery 7 made a dead letter by the
 * group thread (an ack timeout: the fire batch) and then retried by a
 * loop (DlqRetry: the loop's batch, ahead of the fire batch in the
 * commit) is not a dead letter after the commit.
 */
START_TEST(test_group_rows_in_lsn_order)
{
	struct store_rec v[] = {
		{ .op = STORE_GROUP_PUT, .key = "g", .keylen = 1, .payload = "s", .payloadlen = 1 },
		{ .op = STORE_DLV_PUT, .id = 7, .group = "g", .grouplen = 1, .timer_id = 70, .topic = "t",
		  .topiclen = 1, .payload = "p", .payloadlen = 1 },
	};
	struct store_rec dead = { .op = STORE_DLV_SET, .id = 7, .attempts = 5, .flags = STORE_DLV_DEAD,
				  .error = "ack timeout", .errorlen = 11, .at = 9 };
	struct store_rec retry = { .op = STORE_DLV_SET, .id = 7 };
	static struct loop l;
	struct store_opts o = { .create = false };
	struct store *st;
	char err[512];
	int n[2] = { 0, 0 };
	uint64_t next;

	write_rows(v, 2);
	load();
	memset(&l, 0, sizeof(l));
	l.srv = &W.srv;
	ck_assert_int_ge(l.wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), 0);
	journal_put_fire_rows(&W.srv, 0, &dead, 1);	/* the group thread, first */
	ck_assert_uint_ne(journal_put(&l, &retry), 0);	/* then the loop */
	journal_flush(&l);
	ck_assert_msg(journal_start(&W.srv, err, sizeof(err)) == 0, "%s", err);
	journal_stop(&W.srv);	/* one take, one commit: both batches */
	close(l.wake_fd);
	ck_assert_msg(store_open(W.path, &o, &st, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(store_load_groups(st, count_dlv, n, &next, err, sizeof(err)) == 0, "%s", err);
	store_close(st);
	ck_assert_msg(n[0] == 1 && n[1] == 0, "delivery 7 after a dead letter then a retry: %d alive, %d dead (the "
		      "older row won)", n[0], n[1]);
}
END_TEST

START_TEST(test_removals_and_ids)
{
	uint64_t boot = store_boot_hash(NULL);
	struct store_rec v[] = {
		put(1, ID(3, 1), "a", STORE_MONO, W.mono + 60 * S, 0, false, boot),
		{ .lsn = 2, .op = STORE_FIRED, .id = ID(3, 1) },
		put(3, ID(3, 1), "a", STORE_MONO, W.mono + 90 * S, 0, false, boot),	/* raced its own fire */
		{ .lsn = 4, .op = STORE_DEL, .id = ID(9, 2) },			/* a generation seen only here */
		put(5, ID(3, 3), "b", STORE_MONO, W.mono + 60 * S, 0, false, boot),
		put(6, ID(3, 4), "c", STORE_MONO, W.mono + 60 * S, 0, false, boot),
		{ .lsn = 7, .op = STORE_DEL, .id = ID(3, 4) },			/* cancelled, */
		put(8, ID(3, 4), "c", STORE_MONO, W.mono + 70 * S, 0, false, boot),	/* then revived by key */
	};
	struct engine_timer *t;
	struct engine_arm a = { .when = ENGINE_AFTER, .time = S };
	struct engine_arm_result r;

	write_rows(v, 8);
	load();
	ck_assert(!has("a"));
	ck_assert(has("b"));
	t = get("c");
	ck_assert_uint_eq(t->id, ID(3, 4));
	ck_assert_int_eq(t->deadline, W.mono + 70 * S);
	engine_timer_free(t);
	for (int i = 0; i < 10; i++) {
		ck_assert_int_eq(engine_arm(W.srv.engine, &a, &r), 0);
		ck_assert_uint_gt(r.id >> 32, 9);
		ck_assert_uint_ne((uint32_t)r.id, 3);
	}
}
END_TEST

/*
 * A PUT left out beside its FIRED (journal_fired_index) must not lose what
 * the PUT did at the load: evict the older timer holding its key. W (key
 * k) is committed; loop A cancels W (its DEL still in A's batch, not
 * flushed), loop B arms X into the freed key k, X fires at once; one
 * commit takes B's batch (PUT X) and the fire batch (FIRED X); a crash
 * before A's batch commits. X's creation and fire were acknowledged (they
 * imply W was gone), so W must not come back: X's PUT evicts it by key.
 */
START_TEST(test_elided_put_still_evicts_key)
{
	static const struct engine_clock clk = { .mono = jl_mono, .real = jl_real };
	struct engine_config ec = { .clock = &clk, .manual = true };
	uint64_t boot = store_boot_hash(NULL);
	struct store_rec w = put(1, ID(1, 1), "k", STORE_MONO, W.mono + 3600 * S, 0, false, boot);
	struct store_rec x = put(0, ID(1, 2), "k", STORE_MONO, W.mono, 0, false, boot);
	static struct loop l;
	char err[512];

	write_rows(&w, 1);
	load();
	ck_assert(has("k"));
	memset(&l, 0, sizeof(l));
	l.srv = &W.srv;
	ck_assert_int_ge(l.wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), 0);
	ck_assert_uint_ne(journal_put(&l, &x), 0);	/* loop B: X armed into W's freed key */
	journal_flush(&l);
	journal_put_fire(&W.srv, ID(1, 2));		/* X fired at once: its FIRED in the same commit */
	ck_assert_msg(journal_start(&W.srv, err, sizeof(err)) == 0, "%s", err);
	journal_stop(&W.srv);	/* one commit; then the crash, before loop A's DEL of W */
	close(l.wake_fd);
	engine_destroy(W.srv.engine);
	ck_assert_int_eq(engine_create(&ec, &W.srv.engine), 0);
	load();
	ck_assert_msg(!has("k"), "W, replaced in its key by X (armed and fired, acknowledged), is back after the "
		      "restart: X's PUT was left out, and with it its eviction of W");
}
END_TEST

/*
 * The same by slot: V (no key, slot 1) committed; its cancel's DEL still
 * in loop A's batch; X, the slot's next generation, armed and fired at
 * once by loop B, its PUT and FIRED in one commit; a crash. X's PUT evicts
 * V by slot at the load: V must not come back.
 */
START_TEST(test_elided_put_still_evicts_slot)
{
	static const struct engine_clock clk = { .mono = jl_mono, .real = jl_real };
	struct engine_config ec = { .clock = &clk, .manual = true };
	uint64_t boot = store_boot_hash(NULL);
	struct store_rec v = put(1, ID(1, 1), "", STORE_MONO, W.mono + 3600 * S, 0, false, boot);
	struct store_rec x = put(0, ID(2, 1), "", STORE_MONO, W.mono, 0, false, boot);
	struct engine_timer *t;
	static struct loop l;
	char err[512];
	int rc;

	v.key = x.key = NULL;
	v.topic = x.topic = "t";
	v.topiclen = x.topiclen = 1;
	write_rows(&v, 1);
	load();
	ck_assert_int_eq(engine_get(W.srv.engine, ID(1, 1), NULL, 0, &t), 0);
	engine_timer_free(t);
	memset(&l, 0, sizeof(l));
	l.srv = &W.srv;
	ck_assert_int_ge(l.wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), 0);
	ck_assert_uint_ne(journal_put(&l, &x), 0);	/* loop B: X in V's freed slot */
	journal_flush(&l);
	journal_put_fire(&W.srv, ID(2, 1));
	ck_assert_msg(journal_start(&W.srv, err, sizeof(err)) == 0, "%s", err);
	journal_stop(&W.srv);
	close(l.wake_fd);
	engine_destroy(W.srv.engine);
	ck_assert_int_eq(engine_create(&ec, &W.srv.engine), 0);
	load();
	if ((rc = engine_get(W.srv.engine, ID(1, 1), NULL, 0, &t)) == 0)
		engine_timer_free(t);
	ck_assert_msg(rc != 0, "V, whose slot X (armed and fired, acknowledged) took, is back after the restart");
}
END_TEST

/* store_load callback: notes the journal rows (lsn > 0) of ids[0..3]: bit op of seen[i]. */
struct jl_seen {
	const uint64_t *ids;
	unsigned seen[4];
};

static int note_row(void *arg, const struct store_rec *r)
{
	struct jl_seen *x = arg;

	for (int i = 0; r->lsn && i < 4; i++)
		if (r->id == x->ids[i])
			x->seen[i] |= 1u << r->op;
	return 0;
}

/* wait_until condition: the journal committed at least once. */
static bool jl_committed(void *arg)
{
	struct journal_stats st;

	(void)arg;
	journal_stats(&W.srv, &st);
	return st.commits >= 1;
}

/*
 * Coalescing (journal_coalesce_index): in one commit holding a loop batch
 * (PUT X keyless, PUT K keyed, DEL Z, PUT Y keyless) and the fire batch
 * (FIRED X, K, Z), the PUT of X and the DEL of Z are not written, the
 * PUT of K is (its key), and so is Y's (not fired); every FIRED stays. A
 * restart restores Y only.
 */
START_TEST(test_coalesced_rows)
{
	static const struct engine_clock clk = { .mono = jl_mono, .real = jl_real };
	struct engine_config ec = { .clock = &clk, .manual = true };
	uint64_t boot = store_boot_hash(NULL);
	static const uint64_t ids[4] = { ID(1, 1), ID(1, 2), ID(1, 3), ID(1, 4) };	/* X, K, Z, Y */
	struct store_rec x = put(0, ids[0], "", STORE_MONO, W.mono, 0, false, boot);
	struct store_rec k = put(0, ids[1], "k", STORE_MONO, W.mono, 0, false, boot);
	struct store_rec z = { .op = STORE_DEL, .id = ids[2] };
	struct store_rec y = put(0, ids[3], "", STORE_MONO, W.mono + 3600 * S, 0, false, boot);
	struct jl_seen seen = { .ids = ids };
	struct store_opts o = { .create = false };
	struct store_load_stats ls;
	struct journal_stats js;
	struct engine_timer *t;
	struct store *st;
	static struct loop l;
	char err[512];

	x.key = y.key = NULL;
	x.topic = y.topic = "t";
	x.topiclen = y.topiclen = 1;
	load();	/* an empty store */
	memset(&l, 0, sizeof(l));
	l.srv = &W.srv;
	ck_assert_int_ge(l.wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), 0);
	ck_assert_uint_ne(journal_put(&l, &x), 0);
	ck_assert_uint_ne(journal_put(&l, &k), 0);
	ck_assert_uint_ne(journal_put(&l, &z), 0);
	ck_assert_uint_ne(journal_put(&l, &y), 0);
	journal_flush(&l);
	for (int i = 0; i < 3; i++)
		journal_put_fire(&W.srv, ids[i]);
	ck_assert_msg(journal_start(&W.srv, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(wait_until(jl_committed, NULL, 10000, "a commit"), "the journal did not commit in 10 s");
	journal_stats(&W.srv, &js);
	ck_assert_msg(js.commits == 1 && js.coalesced_rows == 2, "%llu commits, %llu rows coalesced: want 1 and 2",
		      (unsigned long long)js.commits, (unsigned long long)js.coalesced_rows);
	journal_stop(&W.srv);
	close(l.wake_fd);
	ck_assert_msg(store_open(W.path, &o, &st, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(store_load(st, note_row, &seen, &ls, err, sizeof(err)) == 0, "%s", err);
	store_close(st);
	ck_assert_msg(seen.seen[0] == 1u << STORE_FIRED, "X (keyless, fired): rows %#x, want its FIRED only",
		      seen.seen[0]);
	ck_assert_msg(seen.seen[1] == ((1u << STORE_PUT) | (1u << STORE_FIRED)),
		      "K (keyed, fired): rows %#x, want its PUT (it evicts by key at a load) and FIRED", seen.seen[1]);
	ck_assert_msg(seen.seen[2] == 1u << STORE_FIRED, "Z (removed, fired): rows %#x, want its FIRED only",
		      seen.seen[2]);
	ck_assert_msg(seen.seen[3] == 1u << STORE_PUT, "Y (not fired): rows %#x, want its PUT", seen.seen[3]);
	engine_destroy(W.srv.engine);
	ck_assert_int_eq(engine_create(&ec, &W.srv.engine), 0);
	load();
	for (int i = 0; i < 4; i++) {
		int rc = engine_get(W.srv.engine, ids[i], NULL, 0, &t);

		if (rc == 0)
			engine_timer_free(t);
		ck_assert_msg((rc == 0) == (i == 3), "timer %d: %s after the restart", i, rc == 0 ? "restored" : "gone");
	}
}
END_TEST

/*
 * A FIRED row at the load removes an older generation from its slot (that
 * timer left the slot before the fired one existed) and keeps a newer one
 * (a later holder whose PUT has a lower LSN than the FIRED).
 */
START_TEST(test_fired_evicts_older_generation)
{
	uint64_t boot = store_boot_hash(NULL);
	struct store_rec v[] = {
		put(1, ID(1, 7), "", STORE_MONO, W.mono + 3600 * S, 0, false, boot),	/* V: older, slot 7 */
		put(2, ID(5, 8), "", STORE_MONO, W.mono + 3600 * S, 0, false, boot),	/* Y: newer, slot 8 */
		{ .lsn = 3, .op = STORE_FIRED, .id = ID(2, 7) },
		{ .lsn = 4, .op = STORE_FIRED, .id = ID(4, 8) },
	};
	struct engine_timer *t;
	int rc;

	for (int i = 0; i < 2; i++) {
		v[i].key = NULL;
		v[i].topic = "t";
		v[i].topiclen = 1;
	}
	write_rows(v, 4);
	load();
	if ((rc = engine_get(W.srv.engine, ID(1, 7), NULL, 0, &t)) == 0)
		engine_timer_free(t);
	ck_assert_msg(rc != 0, "V (generation 1 of slot 7) restored beside the FIRED of generation 2");
	ck_assert_msg(engine_get(W.srv.engine, ID(5, 8), NULL, 0, &t) == 0,
		      "Y (generation 5 of slot 8) removed by the FIRED of the older generation 4");
	engine_timer_free(t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("journal-load");
	TCase *tc = tcase_create("journal-load");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_same_boot_and_misfire);
	tcase_add_test(tc, test_other_boot);
	tcase_add_test(tc, test_periodic_alive);
	tcase_add_test(tc, test_removals_and_ids);
	tcase_add_test(tc, test_calendar_restore);
	tcase_add_test(tc, test_group_rows_in_lsn_order);
	tcase_add_test(tc, test_elided_put_still_evicts_key);
	tcase_add_test(tc, test_elided_put_still_evicts_slot);
	tcase_add_test(tc, test_coalesced_rows);
	tcase_add_test(tc, test_fired_evicts_older_generation);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
