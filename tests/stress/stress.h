/*
 * stress.h -- helpers for the multi-threaded invariant checkers.
 *
 * Each stress test runs for a bounded time (STRESS_SECONDS, default 2 s per
 * phase), checks its invariants and fails loudly with the broken one.
 */
#ifndef TIMERD_STRESS_H
#define TIMERD_STRESS_H

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* Aborts the test with the invariant that broke. */
#define STRESS_FAIL(...) do {						\
		fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);	\
		fprintf(stderr, __VA_ARGS__);				\
		fputc('\n', stderr);					\
		exit(1);						\
	} while (0)

#define STRESS_CHECK(cond, ...) do {					\
		if (!(cond))						\
			STRESS_FAIL(__VA_ARGS__);			\
	} while (0)

/* Monotonic time in seconds. */
static inline double stress_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Seconds each phase runs: $STRESS_SECONDS or the default. */
static inline double stress_seconds(double dflt)
{
	const char *s = getenv("STRESS_SECONDS");

	return s ? atof(s) : dflt;
}

/* xorshift64*: a fast per-thread random generator. */
static inline unsigned long long stress_rand(unsigned long long *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

#endif /* TIMERD_STRESS_H */
