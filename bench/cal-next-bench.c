/*
 * cal-next-bench.c -- timerd's side of bench/bench-calendar: ns per cal_next
 * (walking the elapses of one expression forward from a base time) and per
 * cal_parse, and the heap bytes a parsed expression holds.
 *
 *	bench/cal-next-bench REPS BASE_UNIX_S EXPR...
 *
 * Prints one JSON line per expression and figure: median, min and max of
 * REPS repetitions of about 0.2 s of CPU each (one thread); for next also the
 * median wall time per call.
 */
#include "config.h"

#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cal/cal.h"

/* A clock in ns. */
static int64_t bench_clock(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* This thread's CPU time in ns (on a busy machine, wall time counts others' turns). */
static int64_t bench_now(void)
{
	return bench_clock(CLOCK_THREAD_CPUTIME_ID);
}

/* Orders doubles. */
static int bench_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* CPU ns per cal_next walking forward from base (restarting at base when it stops); *wall too. */
static double bench_next(const struct cal *c, int64_t base, double *wall)
{
	int64_t t = base, start = bench_now(), w0 = bench_clock(CLOCK_MONOTONIC), n = 0, now;

	do {
		for (int i = 0; i < 64; i++)
			if (cal_next(c, t, &t) != 0)
				t = base;
		n += 64;
	} while ((now = bench_now()) - start < 200000000);
	*wall = (double)(bench_clock(CLOCK_MONOTONIC) - w0) / (double)n;
	return (double)(now - start) / (double)n;
}

/* ns per cal_parse + cal_free. */
static double bench_parse(const char *expr)
{
	int64_t start = bench_now(), n = 0, now;
	struct cal *c;

	do {
		for (int i = 0; i < 64; i++) {
			if (cal_parse(expr, &c, NULL, 0) == 0)
				cal_free(c);
		}
		n += 64;
	} while ((now = bench_now()) - start < 200000000);
	return (double)(now - start) / (double)n;
}

/* Heap bytes held by one parsed expression (average over 1000). */
static double bench_bytes(const char *expr)
{
	struct cal *c[1000];
	size_t before = mallinfo2().uordblks, after;

	for (int i = 0; i < 1000; i++)
		if (cal_parse(expr, &c[i], NULL, 0) < 0)
			c[i] = NULL;
	after = mallinfo2().uordblks;
	for (int i = 0; i < 1000; i++)
		cal_free(c[i]);
	return (double)(after - before) / 1000.0;
}

/* Prints one figure: the median, min and max of v, and the median of wall if given. */
static void bench_print(const char *figure, const char *expr, double *v, double *wall, int reps, const char *unit)
{
	qsort(v, (size_t)reps, sizeof(*v), bench_cmp);
	printf("{\"bench\":\"calendar\",\"figure\":\"%s\",\"impl\":\"timerd\",\"expr\":\"", figure);
	for (const char *p = expr; *p; p++)
		printf(*p == '"' || *p == '\\' ? "\\%c" : "%c", *p);
	printf("\",\"%s\":%.1f,\"min\":%.1f,\"max\":%.1f,\"reps\":%d", unit, v[reps / 2], v[0], v[reps - 1], reps);
	if (wall) {
		qsort(wall, (size_t)reps, sizeof(*wall), bench_cmp);
		printf(",\"wall_ns_per_op\":%.1f", wall[reps / 2]);
	}
	printf("}\n");
}

int main(int argc, char **argv)
{
	int reps = argc > 1 ? atoi(argv[1]) : 5;
	int64_t base = argc > 2 ? strtoll(argv[2], NULL, 10) * 1000000000 : 0;

	if (argc < 4 || reps < 1 || reps > 100) {
		fprintf(stderr, "usage: cal-next-bench REPS BASE_UNIX_S EXPR...\n");
		return 2;
	}
	for (int a = 3; a < argc; a++) {
		double v[100];
		struct cal *c;
		char err[256];

		if (cal_parse(argv[a], &c, err, sizeof(err)) < 0) {
			fprintf(stderr, "cal-next-bench: %s\n", err);
			return 1;
		}
		double wall[100];

		for (int r = 0; r < reps; r++)
			v[r] = bench_next(c, base, &wall[r]);
		bench_print("next", argv[a], v, wall, reps, "cpu_ns_per_op");
		for (int r = 0; r < reps; r++)
			v[r] = bench_parse(argv[a]);
		bench_print("parse", argv[a], v, NULL, reps, "cpu_ns_per_op");
		v[0] = bench_bytes(argv[a]);
		bench_print("bytes", argv[a], v, NULL, 1, "bytes");
		cal_free(c);
	}
	return 0;
}
