/*
 * test-cal.c -- unit tests for cal/: systemd calendar expressions (hand-checked
 * elapses, the normalised form, errors), cron expressions and their DST rule at
 * every DST edge of Europe/Paris, America/New_York and Australia/Lord_Howe
 * (2026, hand-checked against `zdump -v`), and tz reload: under concurrent use,
 * and picking up a changed zone file (a tzdata update).
 */
#include "config.h"

#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cal/cal.h"
#include "core/err.h"

#define NS INT64_C(1000000000)

/* Unix seconds of a UTC "YYYY-MM-DD HH:MM:SS". */
static int64_t utc(const char *s)
{
	struct tm tm = { 0 };

	ck_assert_ptr_nonnull(strptime(s, "%Y-%m-%d %H:%M:%S", &tm));
	return (int64_t)timegm(&tm);
}

/* Checks that EXPR from BASE (UTC) elapses at the UTC times in WANT (NULL-terminated). */
static void expect(const char *expr, const char *base, const char *const *want)
{
	struct cal *c;
	char err[256];
	int64_t t = utc(base) * NS;

	ck_assert_msg(cal_parse(expr, &c, err, sizeof(err)) == 0, "%s: %s", expr, err);
	for (int i = 0; want[i]; i++) {
		ck_assert_msg(cal_next(c, t, &t) == 0, "%s: no elapse %d", expr, i);
		ck_assert_msg(t == utc(want[i]) * NS, "%s: elapse %d is %lld, want %s (%lld)", expr, i,
			      (long long)(t / NS), want[i], (long long)utc(want[i]));
	}
	cal_free(c);
}

/* Checks the normalised form of EXPR. */
static void expect_norm(const char *expr, const char *norm)
{
	struct cal *c;
	char err[256];

	ck_assert_msg(cal_parse(expr, &c, err, sizeof(err)) == 0, "%s: %s", expr, err);
	ck_assert_str_eq(cal_normalized(c), norm);
	cal_free(c);
}

/* Checks that EXPR is refused with a message containing WHAT. */
static void expect_err(const char *expr, const char *what)
{
	struct cal *c = NULL;
	char err[256];

	ck_assert_int_eq(cal_parse(expr, &c, err, sizeof(err)), TD_EINVAL);
	ck_assert_msg(strstr(err, what), "%s: message '%s' lacks '%s'", expr, err, what);
}

#define W(...) ((const char *const[]){ __VA_ARGS__, NULL })

START_TEST(test_sd_basic)
{
	expect("Mon..Fri *-*-* 09:00:00 Europe/Paris", "2026-12-04 12:00:00",
	       W("2026-12-07 08:00:00", "2026-12-08 08:00:00"));
	expect("*:0/15 UTC", "2026-01-01 00:07:00", W("2026-01-01 00:15:00", "2026-01-01 00:30:00"));
	expect("daily UTC", "2026-01-01 00:00:00", W("2026-01-02 00:00:00"));
	expect("*-02~1 UTC", "2026-01-01 00:00:00", W("2026-02-28 00:00:00", "2027-02-28 00:00:00"));
	expect("*-02-29 UTC", "2026-01-01 00:00:00", W("2028-02-29 00:00:00", "2032-02-29 00:00:00"));
	expect("quarterly America/New_York", "2026-02-01 00:00:00", W("2026-04-01 04:00:00", "2026-07-01 04:00:00"));
	/* systemd skips a local time that does not exist (Paris 2026-03-29 02:30) and elapses
	 * at the first occurrence of a repeated one (2026-10-25 02:30 CEST, not CET). */
	expect("*-*-* 02:30 Europe/Paris", "2026-03-28 12:00:00", W("2026-03-30 00:30:00", "2026-03-31 00:30:00"));
	expect("*-*-* 02:30 Europe/Paris", "2026-10-24 12:00:00", W("2026-10-25 00:30:00", "2026-10-26 01:30:00"));
	/* Europe/Dublin (negative DST): the gap at 01:00 GMT 2021-03-28 does not send the search
	 * back to midnight (which once made every next elapse the same, systemd PR 36897). */
	expect("*-*-* 00:00:00 Europe/Dublin", "2021-03-27 00:00:00",
	       W("2021-03-28 00:00:00", "2021-03-28 23:00:00", "2021-03-29 23:00:00"));
	/* systemd 252 fails here (EDEADLK); the same rule skips the missing 2026-09-27 02:50. */
	expect("*-*-* 02:50 Pacific/Chatham", "2026-09-26 00:00:00", W("2026-09-27 13:05:00", "2026-09-28 13:05:00"));
}
END_TEST

START_TEST(test_sd_norm)
{
	expect_norm("Mon..Fri 09:00 Europe/Paris", "Mon..Fri *-*-* 09:00:00 Europe/Paris");
	expect_norm("*:0/15", "*-*-* *:00/15:00");
	expect_norm("*:*:0/0.25", "*-*-* *:*:00/0.250000");
	expect_norm("weekly", "Mon *-*-* 00:00:00");
	expect_norm("semiannually UTC", "*-01,07-01 00:00:00 UTC");
	expect_norm("Sat,Mon..Wed 12-10-15 1:2:3", "Mon..Wed,Sat 2012-10-15 01:02:03");
	expect_norm("*-02~1", "*-02~01 00:00:00");
}
END_TEST

START_TEST(test_sd_never_and_errors)
{
	struct cal *c;
	char err[256];
	int64_t t;

	ck_assert_int_eq(cal_parse("*-02-30", &c, err, sizeof(err)), 0);
	ck_assert_int_eq(cal_next(c, 0, &t), TD_ENOENT);
	cal_free(c);
	expect_err("daily Europe/Pariss", "unknown time zone 'Europe/Pariss'");
	expect_err("*-13-01", "month out of range");
	expect_err("Mon..Fri 25:00", "hour out of range");
	expect_err("", "empty");
}
END_TEST

/* Cron's DST rule, hand-checked: a wall time in a gap fires at the transition, once;
 * a repeated wall time fires at its first occurrence only. */
START_TEST(test_cron_dst_paris)
{
	/* 2026-03-29 01:00Z: 02:00 CET -> 03:00 CEST. */
	expect("CRON_TZ=Europe/Paris 30 2 * * *", "2026-03-28 12:00:00", W("2026-03-29 01:00:00", "2026-03-30 00:30:00"));
	expect("CRON_TZ=Europe/Paris */15 * * * *", "2026-03-29 00:50:00",
	       W("2026-03-29 01:00:00", "2026-03-29 01:15:00"));
	expect("CRON_TZ=Europe/Paris 0 3 * * *", "2026-03-28 12:00:00", W("2026-03-29 01:00:00", "2026-03-30 01:00:00"));
	/* 2026-10-25 01:00Z: 03:00 CEST -> 02:00 CET. */
	expect("CRON_TZ=Europe/Paris 30 2 * * *", "2026-10-24 12:00:00", W("2026-10-25 00:30:00", "2026-10-26 01:30:00"));
	expect("CRON_TZ=Europe/Paris */30 * * * *", "2026-10-24 23:45:00",
	       W("2026-10-25 00:00:00", "2026-10-25 00:30:00", "2026-10-25 02:00:00"));
	expect("CRON_TZ=Europe/Paris */30 * * * *", "2026-10-25 01:10:00", W("2026-10-25 02:00:00"));
}
END_TEST

START_TEST(test_cron_dst_new_york)
{
	/* 2026-03-08 07:00Z: 02:00 EST -> 03:00 EDT. */
	expect("CRON_TZ=America/New_York 30 2 * * *", "2026-03-07 12:00:00", W("2026-03-08 07:00:00", "2026-03-09 06:30:00"));
	expect("CRON_TZ=America/New_York 0 2 * * *", "2026-03-07 12:00:00", W("2026-03-08 07:00:00", "2026-03-09 06:00:00"));
	/* 2026-11-01 06:00Z: 02:00 EDT -> 01:00 EST. */
	expect("CRON_TZ=America/New_York 30 1 * * *", "2026-10-31 12:00:00", W("2026-11-01 05:30:00", "2026-11-02 06:30:00"));
	expect("CRON_TZ=America/New_York 0 * * * *", "2026-11-01 04:30:00",
	       W("2026-11-01 05:00:00", "2026-11-01 07:00:00", "2026-11-01 08:00:00"));
}
END_TEST

START_TEST(test_cron_dst_lord_howe)
{
	/* 2026-04-04 15:00Z: 02:00 +11 -> 01:30 +1030 (30-minute DST). */
	expect("CRON_TZ=Australia/Lord_Howe 45 1 * * *", "2026-04-04 00:00:00", W("2026-04-04 14:45:00", "2026-04-05 15:15:00"));
	expect("CRON_TZ=Australia/Lord_Howe 0 2 * * *", "2026-04-04 00:00:00", W("2026-04-04 15:30:00", "2026-04-05 15:30:00"));
	/* 2026-10-03 15:30Z: 02:00 +1030 -> 02:30 +11. */
	expect("CRON_TZ=Australia/Lord_Howe 15 2 * * *", "2026-10-03 00:00:00", W("2026-10-03 15:30:00", "2026-10-04 15:15:00"));
	expect("CRON_TZ=Australia/Lord_Howe 30 59 1 4 10 *", "2026-01-01 00:00:00", W("2026-10-03 15:29:30"));
}
END_TEST

START_TEST(test_cron_syntax)
{
	expect("0 9 * * MON-FRI", "2026-12-04 12:00:00" /* TZ=UTC below */, W("2026-12-07 09:00:00"));
	expect("@daily", "2026-01-01 00:00:00", W("2026-01-02 00:00:00"));
	expect("@hourly", "2026-01-01 00:00:00", W("2026-01-01 01:00:00"));
	expect("0 0 1,15 * 3", "2026-12-01 00:00:00", W("2026-12-02 00:00:00", "2026-12-09 00:00:00", "2026-12-15 00:00:00"));
	expect("*/20 * * * * *", "2026-01-01 00:00:01", W("2026-01-01 00:00:20", "2026-01-01 00:00:40"));
	expect("0 0 29 FEB *", "2026-01-01 00:00:00", W("2028-02-29 00:00:00"));
	expect_norm("0 9 * * mon-fri", "0 9 * * 1-5");
	expect_norm("CRON_TZ=Europe/Paris @weekly", "CRON_TZ=Europe/Paris 0 0 * * 0");
	expect_norm("0 0 */2 * 7", "0 0 */2 * 0");
	expect_err("CRON_TZ=UTC 0 0 * *", "5 fields");
	expect_err("60 * * * *", "minute out of range");
	expect_err("CRON_TZ=Mars/Base 0 0 * * *", "unknown time zone 'Mars/Base'");
	expect_err("@reboot", "unknown cron macro");

	struct cal *c;
	int64_t t;
	ck_assert_int_eq(cal_parse("0 0 30 2 *", &c, NULL, 0), 0);
	ck_assert_int_eq(cal_next(c, 0, &t), TD_ENOENT);
	cal_free(c);
}
END_TEST

static atomic_bool reload_stop;

/* Computes elapses until told to stop; checks they stay right. */
static void *reload_reader(void *arg)
{
	struct cal *c = arg;
	int64_t t, want = utc("2026-12-07 08:00:00") * NS;
	long n = 0;

	while (!atomic_load_explicit(&reload_stop, memory_order_relaxed) || n < 1000) {
		ck_assert_int_eq(cal_next(c, utc("2026-12-04 12:00:00") * NS, &t), 0);
		ck_assert_int_eq(t, want);
		n++;
	}
	return NULL;
}

START_TEST(test_tz_reload_concurrent)
{
	struct cal *c;
	pthread_t th[2];

	ck_assert_int_eq(cal_parse("Mon..Fri 09:00 Europe/Paris", &c, NULL, 0), 0);
	for (int i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, reload_reader, c);
	for (int i = 0; i < 50; i++)
		ck_assert_int_eq(cal_tz_reload(), 0);
	atomic_store_explicit(&reload_stop, true, memory_order_relaxed);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	cal_free(c);
}
END_TEST

/* Copies file a to b. */
static void copy_file(const char *a, const char *b)
{
	char buf[65536];
	FILE *in = fopen(a, "rb"), *out = fopen(b, "wb");
	size_t n;

	ck_assert_ptr_nonnull(in);
	ck_assert_ptr_nonnull(out);
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		ck_assert_uint_eq(fwrite(buf, 1, n, out), n);
	fclose(in);
	ck_assert_int_eq(fclose(out), 0);
}

/* A tzdata update: the zone file changes, cal_tz_reload picks it up for parsed expressions. */
START_TEST(test_tz_reload_picks_up_update)
{
	char dir[] = "/tmp/test-cal-tzXXXXXX", sub[64], path[96];
	struct cal *c;
	int64_t t;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(sub, sizeof(sub), "%s/Test", dir);
	ck_assert_int_eq(mkdir(sub, 0700), 0);
	snprintf(path, sizeof(path), "%s/Zone", sub);
	copy_file("/usr/share/zoneinfo/Europe/Paris", path);
	setenv("TZDIR", dir, 1);
	ck_assert_int_eq(cal_parse("daily Test/Zone", &c, NULL, 0), 0);
	ck_assert_int_eq(cal_next(c, utc("2026-12-04 12:00:00") * NS, &t), 0);
	ck_assert_int_eq(t, utc("2026-12-04 23:00:00") * NS);	/* midnight CET */
	copy_file("/usr/share/zoneinfo/Asia/Tokyo", path);
	ck_assert_int_eq(cal_next(c, utc("2026-12-04 12:00:00") * NS, &t), 0);
	ck_assert_int_eq(t, utc("2026-12-04 23:00:00") * NS);	/* not yet reloaded */
	ck_assert_int_eq(cal_tz_reload(), 0);
	ck_assert_int_eq(cal_next(c, utc("2026-12-04 12:00:00") * NS, &t), 0);
	ck_assert_int_eq(t, utc("2026-12-04 15:00:00") * NS);	/* midnight JST */
	cal_free(c);
	unlink(path);
	rmdir(sub);
	rmdir(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cal");
	TCase *tc = tcase_create("cal");
	SRunner *sr;
	int failed;

	setenv("TZ", "UTC", 1);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_sd_basic);
	tcase_add_test(tc, test_sd_norm);
	tcase_add_test(tc, test_sd_never_and_errors);
	tcase_add_test(tc, test_cron_dst_paris);
	tcase_add_test(tc, test_cron_dst_new_york);
	tcase_add_test(tc, test_cron_dst_lord_howe);
	tcase_add_test(tc, test_cron_syntax);
	tcase_add_test(tc, test_tz_reload_concurrent);
	tcase_add_test(tc, test_tz_reload_picks_up_update);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
