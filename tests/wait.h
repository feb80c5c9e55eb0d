/*
 * wait.h -- waiting for an event with a deadline, for tests that must not
 * sleep and then assert: poll a condition until it holds, and when the
 * deadline passes say what was awaited so the caller can say what it saw.
 *
 * Usage:
 *
 *	static bool all_fired(void *arg) { return fires() >= *(int *)arg; }
 *	...
 *	ck_assert_msg(wait_until(all_fired, &n, 5000, "all fires"),
 *		      "saw %d fires, want %d", fires(), n);
 *
 * wait_never() is the converse, for "nothing more arrives": it polls for the
 * whole period and fails as soon as the condition holds.
 */
#ifndef TIMERD_TESTS_WAIT_H
#define TIMERD_TESTS_WAIT_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

/* The longest pause between two polls, ms (polls start at 1 ms and double). */
#define WAIT_POLL_MAX_MS 20

/* CLOCK_MONOTONIC now, ms. */
static inline int64_t wait_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleeps ms milliseconds (restarted after signals). */
static inline void wait_sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Polls cond(arg) until it holds (true) or deadline_ms pass (false, after printing what to stderr). */
static inline bool wait_until(bool (*cond)(void *), void *arg, int deadline_ms, const char *what)
{
	int64_t start = wait_now_ms(), end = start + deadline_ms;
	unsigned pause = 1;

	while (!cond(arg)) {
		if (wait_now_ms() >= end) {
			if (cond(arg))
				return true;
			fprintf(stderr, "wait_until: no %s within %d ms\n", what, deadline_ms);
			return false;
		}
		wait_sleep_ms(pause);
		if (pause < WAIT_POLL_MAX_MS)
			pause *= 2;
	}
	return true;
}

/* Polls cond(arg) for ms: true if it never held, else false at once (after printing what to stderr). */
static inline bool wait_never(bool (*cond)(void *), void *arg, int ms, const char *what)
{
	int64_t end = wait_now_ms() + ms;

	for (;;) {
		if (cond(arg)) {
			fprintf(stderr, "wait_never: %s\n", what);
			return false;
		}
		if (wait_now_ms() >= end)
			return true;
		wait_sleep_ms(1);
	}
}

#endif /* TIMERD_TESTS_WAIT_H */
