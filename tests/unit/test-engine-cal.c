/*
 * test-engine-cal.c -- calendar timers in the engine, on a manual engine
 * with an injected clock: across both DST changes of Europe/Paris in 2026
 * they fire exactly at each elapse the schedule gives (never a nanosecond
 * early, never twice, none skipped), the known UTC instants of 09:00 Paris
 * time on each side of the changes, missed counted when late, a schedule
 * that ends, re-arms and cancels (the schedule is freed: ASan checks),
 * engine_cal_changed re-placing without loss, the errors; and threads
 * arming, re-arming and cancelling calendar timers on a few keys of a
 * running engine (arms then retry on timers that die under them: each
 * schedule must be freed once, which ASan checks).
 */
#include "config.h"

#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cal/cal.h"
#include "engine.h"

#define S ENGINE_NS_PER_S
#define MS ENGINE_NS_PER_MS
/* CLOCK_REALTIME - CLOCK_MONOTONIC of the fake clock: constant, so mono deadlines map exactly. */
#define OFF (INT64_C(1700000000) * S)

/* Unix seconds of some instants (UTC). */
#define T_2026_03_27 INT64_C(1774569600)	/* 2026-03-27T00:00:00Z, before the spring change */
#define T_2026_10_23 INT64_C(1792713600)	/* 2026-10-23T00:00:00Z, before the autumn change */

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

#define MAX_FIRES 512
static struct engine_fire fires[MAX_FIRES];
static int64_t fire_real[MAX_FIRES];	/* the wall clock when each fired */
static int nfires;

/* Records each fire and the wall time it came at. */
static void on_fire(void *arg, const struct engine_fire *f)
{
	(void)arg;
	ck_assert_int_lt(nfires, MAX_FIRES);
	fires[nfires] = *f;
	fires[nfires].key = fires[nfires].topic = NULL;
	fires[nfires].payload = NULL;
	fire_real[nfires] = clk.real;
	nfires++;
}

static struct engine *E;

/* Sets the wall clock to t (unix ns); mono follows at the fixed offset. */
static void set_real(int64_t t)
{
	clk.real = t;
	clk.mono = t - OFF;
}

static void setup(void)
{
	struct engine_config cfg = { .clock = &fake_clock, .manual = true, .on_fire = on_fire };

	set_real(T_2026_03_27 * S);
	nfires = 0;
	ck_assert_int_eq(engine_create(&cfg, &E), 0);
}

static void teardown(void)
{
	engine_destroy(E);
	E = NULL;
}

/* Parses expr (it must parse). */
static struct cal *parse(const char *expr)
{
	struct cal *c;
	char err[256];

	ck_assert_msg(cal_parse(expr, &c, err, sizeof(err)) == 0, "%s: %s", expr, err);
	return c;
}

/* Arms key on calendar expr at its first elapse after now; returns that elapse (unix ns). */
static int64_t arm_cal(const char *key, const char *expr, uint32_t flags)
{
	struct engine_arm a = { .key = key, .keylen = (uint32_t)strlen(key), .when = ENGINE_AT_REAL,
				.flags = flags, .cal = parse(expr) };
	struct engine_arm_result r;

	ck_assert_int_eq(cal_next(a.cal, clk.real, &a.time), 0);
	ck_assert_int_eq(engine_arm(E, &a, &r), 0);
	ck_assert(r.created);
	ck_assert_int_eq(r.deadline, a.time - OFF);
	return a.time;
}

/*
 * Walks the wall clock through n elapses of expr from now: a nanosecond
 * before each nothing fires, at it exactly one fire, due at it, with
 * missed 0. Fills got[] with the elapses; returns how many it saw.
 */
static int walk(const char *key, const char *expr, int n, int64_t *got)
{
	struct cal *c = parse(expr);
	int64_t t = arm_cal(key, expr, 0), want;

	engine_dispatch(E);
	for (int i = 0; i < n; i++) {
		int before = nfires;

		if (i == 0)
			want = t;
		else
			ck_assert_int_eq(cal_next(c, want, &want), 0);
		set_real(want - 1);
		engine_dispatch(E);
		ck_assert_msg(nfires == before, "%s: fired 1 ns before elapse %d (%lld)", expr, i, (long long)want);
		set_real(want);
		engine_dispatch(E);
		ck_assert_msg(nfires == before + 1, "%s: %d fires at elapse %d (%lld), want 1", expr,
			      nfires - before, i, (long long)want);
		ck_assert_int_eq(fires[before].deadline, want - OFF);
		ck_assert_int_eq(fire_real[before], want);
		ck_assert_uint_eq(fires[before].missed, 0);
		ck_assert(!fires[before].final);
		ck_assert(fires[before].realtime);
		ck_assert_uint_eq(fires[before].seq, (uint64_t)i + 1);
		got[i] = want;
	}
	cal_free(c);
	return n;
}

START_TEST(test_paris_0900_across_both_changes)
{
	int64_t got[8];

	/* 09:00 Paris: CET (+1) before 2026-03-29, CEST (+2) after, CET again from 2026-10-25 */
	walk("nine", "*-*-* 09:00:00 Europe/Paris", 4, got);
	ck_assert_int_eq(got[0], (T_2026_03_27 + 8 * 3600) * S);		/* 03-27 08:00Z */
	ck_assert_int_eq(got[1], (T_2026_03_27 + 86400 + 8 * 3600) * S);	/* 03-28 08:00Z */
	ck_assert_int_eq(got[2], (T_2026_03_27 + 2 * 86400 + 7 * 3600) * S);	/* 03-29 07:00Z: CEST */
	ck_assert_int_eq(got[3], (T_2026_03_27 + 3 * 86400 + 7 * 3600) * S);
	ck_assert_int_eq(engine_cancel(E, 0, "nine", 4), 0);
	engine_dispatch(E);
	set_real(T_2026_10_23 * S);
	nfires = 0;
	walk("nine", "*-*-* 09:00:00 Europe/Paris", 4, got);
	ck_assert_int_eq(got[0], (T_2026_10_23 + 7 * 3600) * S);		/* 10-23 07:00Z: CEST */
	ck_assert_int_eq(got[1], (T_2026_10_23 + 86400 + 7 * 3600) * S);
	ck_assert_int_eq(got[2], (T_2026_10_23 + 2 * 86400 + 8 * 3600) * S);	/* 10-25 08:00Z: CET */
	ck_assert_int_eq(got[3], (T_2026_10_23 + 3 * 86400 + 8 * 3600) * S);
}
END_TEST

/* Consecutive elapses of a daily schedule are lo..hi hours apart (no double fire, no skip beyond that). */
static void spacing(const int64_t *v, int n, int lo, int hi)
{
	for (int i = 1; i < n; i++) {
		ck_assert_int_ge(v[i] - v[i - 1], (int64_t)lo * 3600 * S);
		ck_assert_int_le(v[i] - v[i - 1], (int64_t)hi * 3600 * S);
	}
}

START_TEST(test_time_in_the_spring_gap)
{
	int64_t got[5];

	/* 02:30 local does not exist on 03-29: as in systemd, that day has no elapse */
	walk("gap", "*-*-* 02:30:00 Europe/Paris", 5, got);
	spacing(got, 5, 23, 48);
	ck_assert_int_eq(got[1], (T_2026_03_27 + 86400 + 5400) * S);		/* 03-28 01:30Z (CET) */
	ck_assert_int_eq(got[2], (T_2026_03_27 + 3 * 86400 + 1800) * S);	/* 03-30 00:30Z (CEST) */
}
END_TEST

START_TEST(test_time_in_the_autumn_overlap)
{
	int64_t got[5];

	/* 02:30 local occurs twice on 10-25: it elapses once, at 02:30 CEST (00:30Z) */
	set_real(T_2026_10_23 * S);
	walk("dup", "*-*-* 02:30:00 Europe/Paris", 5, got);
	spacing(got, 5, 23, 25);	/* once a day: not twice on the day it occurs twice */
	ck_assert_int_eq(got[2], (T_2026_10_23 + 2 * 86400 + 1800) * S);
}
END_TEST

START_TEST(test_half_hourly_through_both_changes)
{
	int64_t got[12], autumn = (T_2026_10_23 + 2 * 86400) * S;	/* 10-25 00:00Z */

	/* every 30 minutes: in spring the local hour 02:00-03:00 is not there and UTC sees no gap */
	set_real((T_2026_03_27 + 2 * 86400) * S - 3600 * S);	/* 03-28 23:00Z */
	walk("half", "*:00/30 Europe/Paris", 12, got);
	for (int i = 1; i < 12; i++)
		ck_assert_int_eq(got[i] - got[i - 1], 1800 * S);
	ck_assert_int_eq(engine_cancel(E, 0, "half", 4), 0);
	/*
	 * In autumn 02:00-03:00 local comes twice; as in systemd, a local time
	 * elapses once, at its first occurrence: 02:00 and 02:30 CEST (00:00Z,
	 * 00:30Z) fire, their CET repeats (01:00Z, 01:30Z) do not.
	 */
	set_real(autumn - 3600 * S);	/* 10-24 23:00Z */
	nfires = 0;
	walk("half2", "*:00/30 Europe/Paris", 12, got);
	for (int i = 1; i < 12; i++)
		ck_assert_int_eq(got[i] - got[i - 1], got[i - 1] == autumn + 1800 * S ? 5400 * S : 1800 * S);
	ck_assert_int_eq(got[3], autumn + 7200 * S);	/* 03:00 CET */
}
END_TEST

START_TEST(test_late_counts_missed_and_goes_on_after_now)
{
	struct cal *c = parse("*:0/15 UTC");
	int64_t first = arm_cal("q", "*:0/15 UTC", 0), next;

	engine_dispatch(E);
	/* the wall clock jumps 1 h 5 min past the first elapse: 4 more elapsed meanwhile */
	set_real(first + 65 * 60 * S);
	engine_clock_changed(E);
	engine_dispatch(E);
	ck_assert_int_eq(nfires, 1);
	ck_assert_int_eq(fires[0].deadline, first - OFF);
	ck_assert_uint_eq(fires[0].missed, 4);
	ck_assert(!fires[0].final);
	/* the next fire is the first elapse after now, not a catch-up burst */
	ck_assert_int_eq(cal_next(c, clk.real, &next), 0);
	ck_assert_int_eq(next, first + 75 * 60 * S);
	set_real(next - 1);
	engine_dispatch(E);
	ck_assert_int_eq(nfires, 1);
	set_real(next);
	engine_dispatch(E);
	ck_assert_int_eq(nfires, 2);
	ck_assert_uint_eq(fires[1].missed, 0);
	ck_assert_int_eq(fires[1].deadline, next - OFF);
	cal_free(c);
}
END_TEST

START_TEST(test_missed_is_capped_far_behind)
{
	int64_t first = arm_cal("s", "*:*:00 UTC", 0);

	engine_dispatch(E);
	set_real(first + 86400 * S);	/* a day of minutely elapses: 1440 */
	engine_clock_changed(E);
	engine_dispatch(E);
	ck_assert_int_eq(nfires, 1);
	ck_assert_uint_eq(fires[0].missed, ENGINE_CAL_MISSED_MAX);
	set_real(first + 86400 * S + 60 * S);	/* the first elapse after then */
	engine_dispatch(E);
	ck_assert_int_eq(nfires, 2);
	ck_assert_uint_eq(fires[1].missed, 0);
}
END_TEST

START_TEST(test_wall_clock_behind_never_early)
{
	int64_t first = arm_cal("w", "*:0/15 UTC", 0);

	engine_dispatch(E);
	/* mono reaches the deadline but the wall clock was slewed 1 s back: not due yet */
	clk.mono = first - OFF;
	clk.real = first - S;
	engine_dispatch(E);
	ck_assert_int_eq(nfires, 0);
	clk.mono += S;
	clk.real += S;
	engine_dispatch(E);
	ck_assert_int_eq(nfires, 1);
	ck_assert_int_ge(fire_real[0], first);
}
END_TEST

START_TEST(test_schedule_that_ends)
{
	struct engine_timer *t;
	int64_t once = arm_cal("once", "2026-03-28 12:00:00 UTC", 0);

	engine_dispatch(E);
	ck_assert_int_eq(engine_get(E, 0, "once", 4, &t), 0);
	ck_assert_str_eq(t->calendar, "2026-03-28 12:00:00 UTC");
	ck_assert(t->realtime);
	ck_assert_int_eq(t->wall_deadline, once);
	engine_timer_free(t);
	set_real(once);
	engine_dispatch(E);
	ck_assert_int_eq(nfires, 1);
	ck_assert(fires[0].final);
	ck_assert_int_eq(engine_get(E, 0, "once", 4, &t), TD_ENOENT);
}
END_TEST

START_TEST(test_rearm_cancel_and_list)
{
	struct engine_arm a = { .key = "r", .keylen = 1, .when = ENGINE_AFTER, .time = 5 * S };
	struct engine_arm_result r;
	struct engine_timer *t;

	arm_cal("r", "daily UTC", 0);
	engine_dispatch(E);
	/* re-armed as a plain one-shot: no calendar left (its schedule is freed) */
	ck_assert_int_eq(engine_arm(E, &a, &r), 0);
	engine_dispatch(E);
	ck_assert_int_eq(engine_get(E, 0, "r", 1, &t), 0);
	ck_assert_str_eq(t->calendar, "");
	ck_assert_uint_eq(t->calendarlen, 0);
	engine_timer_free(t);
	/* and back to a calendar, then re-armed on another calendar before a pass, then cancelled */
	arm_cal("x", "hourly", 0);
	{
		struct engine_arm b = { .key = "x", .keylen = 1, .when = ENGINE_AT_REAL, .cal = parse("weekly UTC") };

		ck_assert_int_eq(cal_next(b.cal, clk.real, &b.time), 0);
		ck_assert_int_eq(engine_arm(E, &b, &r), 0);
		ck_assert(!r.created);
	}
	ck_assert_int_eq(engine_get(E, 0, "x", 1, &t), 0);
	ck_assert_ptr_nonnull(strstr(t->calendar, "Mon"));
	engine_timer_free(t);
	ck_assert_int_eq(engine_cancel(E, 0, "x", 1), 0);
	engine_dispatch(E);
	ck_assert_int_eq(engine_get(E, 0, "x", 1, &t), TD_ENOENT);
}
END_TEST

START_TEST(test_cal_changed_replaces_without_loss)
{
	struct engine_timer *t;
	int64_t first = arm_cal("h", "*-*-* 09:00:00 Europe/Paris", 0);

	engine_dispatch(E);
	ck_assert_int_eq(cal_tz_reload(), 0);
	engine_cal_changed(E);
	ck_assert_int_le(engine_next_wakeup(E), clk.mono);	/* a pass is due at once */
	engine_dispatch(E);
	ck_assert_int_eq(engine_get(E, 0, "h", 1, &t), 0);
	ck_assert_int_eq(t->wall_deadline, first);	/* same rules: the same elapse */
	ck_assert_int_eq(t->deadline, first - OFF);
	engine_timer_free(t);
	set_real(first);
	engine_dispatch(E);
	ck_assert_int_eq(nfires, 1);
}
END_TEST

START_TEST(test_errors_free_the_schedule)
{
	struct engine_arm a = { .key = "e", .keylen = 1, .when = ENGINE_AFTER, .time = S, .cal = parse("daily") };
	struct engine_arm_result r;

	/* not a wall-clock time, or with a period: refused (the engine frees the schedule: ASan) */
	ck_assert_int_eq(engine_arm(E, &a, &r), TD_EINVAL);
	a.when = ENGINE_AT_REAL;
	a.time = clk.real + S;
	a.period = S;
	a.cal = parse("daily");
	ck_assert_int_eq(engine_arm(E, &a, &r), TD_EINVAL);
	a.period = 0;
	a.keylen = 100000;
	a.cal = parse("daily");
	ck_assert_int_eq(engine_arm(E, &a, &r), TD_EKEYLEN);
	a.cal = parse("daily");
	ck_assert_int_eq(engine_restore_put(E, 1, &a), TD_EKEYLEN);	/* restore: taken over too */
}
END_TEST

#define RACE_THREADS 4
#define RACE_ROUNDS 5000

/* One racing thread: calendar arms, plain re-arms and cancels of 4 keys. */
static void *race_thread(void *arg)
{
	struct engine *e = arg;
	unsigned seed = (unsigned)(uintptr_t)pthread_self();

	for (int i = 0; i < RACE_ROUNDS; i++) {
		char key[2] = { (char)('a' + rand_r(&seed) % 4), 0 };
		struct engine_arm a = { .key = key, .keylen = 1, .when = ENGINE_AT_REAL };
		struct engine_arm_result r;
		struct engine_timer *t;
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		switch (rand_r(&seed) % 4) {
		case 0:
		case 1:
			a.cal = parse(i & 1 ? "*:*:0/0.001 UTC" : "*:0/15");
			ck_assert_int_eq(cal_next(a.cal, (int64_t)ts.tv_sec * S + ts.tv_nsec, &a.time), 0);
			ck_assert_int_eq(engine_arm(e, &a, &r), 0);
			break;
		case 2:
			a.time = (int64_t)ts.tv_sec * S + ts.tv_nsec + (rand_r(&seed) % 3) * MS;
			ck_assert_int_eq(engine_arm(e, &a, &r), 0);	/* a one-shot that fires at once */
			break;
		default:
			engine_cancel(e, 0, key, 1);
			if (engine_get(e, 0, key, 1, &t) == 0)
				engine_timer_free(t);	/* reads the schedule under the hazard pointer */
		}
	}
	return NULL;
}

START_TEST(test_threads_race_calendar_arms)
{
	struct engine_config cfg = { .workers = 1, .on_fire = NULL };
	pthread_t th[RACE_THREADS];
	struct engine_stats st;
	struct engine *e;

	ck_assert_int_eq(engine_create(&cfg, &e), 0);
	ck_assert_int_eq(engine_start(e), 0);
	for (int i = 0; i < RACE_THREADS; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, race_thread, e), 0);
	for (int i = 0; i < RACE_THREADS; i++)
		pthread_join(th[i], NULL);
	engine_drain(e);
	engine_stats(e, &st);
	ck_assert_uint_le(st.pending, 4);
	engine_destroy(e);	/* frees what is left: ASan reports a schedule freed twice or never */
}
END_TEST

int main(void)
{
	Suite *s = suite_create("engine-cal");
	TCase *tc = tcase_create("engine-cal");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_paris_0900_across_both_changes);
	tcase_add_test(tc, test_time_in_the_spring_gap);
	tcase_add_test(tc, test_time_in_the_autumn_overlap);
	tcase_add_test(tc, test_half_hourly_through_both_changes);
	tcase_add_test(tc, test_late_counts_missed_and_goes_on_after_now);
	tcase_add_test(tc, test_missed_is_capped_far_behind);
	tcase_add_test(tc, test_wall_clock_behind_never_early);
	tcase_add_test(tc, test_schedule_that_ends);
	tcase_add_test(tc, test_rearm_cancel_and_list);
	tcase_add_test(tc, test_cal_changed_replaces_without_loss);
	tcase_add_test(tc, test_errors_free_the_schedule);
	tcase_add_test(tc, test_threads_race_calendar_arms);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
