/*
 * probe-test.h -- helpers of the probe test drivers: an engine and a probe
 * manager that record every fire, the target program started behind a
 * gate (so probes can be attached to its pid first), checks that print
 * what failed and exit 1, and the skip rule (exit 77 when not root or
 * when BPF probes cannot be loaded).
 *
 * Usage:
 *
 *	struct pt_ctx c;
 *	pt_init(&c, "test-foo");                exits 77 if probes are unavailable
 *	uint32_t id = pt_attach(&c, "uprobe:%s:probe_target_work arm=20ms", c.target);
 *	struct pt_child ch;
 *	pt_spawn(&ch, c.target, (const char *[]){ "work", "1", "10", "5", "60", NULL });
 *	pt_release(&ch);
 *	char *out = pt_collect(&ch);            waits for the exit, checks status 0
 *	PT_CHECK(pt_wait_fires(&c, 2, PT_DEADLINE_MS) == 2, "fires");
 *	pt_fini(&c);
 */
#ifndef TIMERD_PROBE_TEST_H
#define TIMERD_PROBE_TEST_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>

#include "engine.h"
#include "probe/probe.h"

#define PT_MAX_FIRES 4096

/* One fire of a probe timer, as the test saw it. */
struct pt_fire {
	uint32_t pid, tid, probe_id;
	uint32_t flags;
	char comm[16];
	char key[128];
	char topic[80];
	int64_t deadline, fired_at;
	uint64_t hit_ns;
	int64_t period;
	bool has_origin;	/* the payload was a struct probe_origin */
};

struct pt_ctx {
	const char *name;
	struct engine *e;
	struct probe_mgr *m;
	char target[PATH_MAX];	/* tests/probe/probe-target */
	pthread_mutex_t lock;
	size_t nfires;
	struct pt_fire fires[PT_MAX_FIRES];
};

/* A target program waiting behind its gate. */
struct pt_child {
	pid_t pid;
	int gate;	/* write end of the child's fd 3 */
	int out;	/* read end of the child's stdout */
};

/* Prints a failed check with its location and exits 1. */
#define PT_CHECK(cond, ...)							\
	do {									\
		if (!(cond)) {							\
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);				\
			fputc('\n', stderr);					\
			exit(1);						\
		}								\
	} while (0)

/* Sets up the engine and the manager; exits 77 when probes are unavailable. */
void pt_init(struct pt_ctx *c, const char *name);

/* Tears the manager and the engine down. */
void pt_fini(struct pt_ctx *c);

/* Attaches a spec built from fmt; the test fails if it does not attach. */
uint32_t pt_attach(struct pt_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Attaches a spec that must fail; returns the error, with the message in err. */
int pt_attach_fail(struct pt_ctx *c, const char *spec, char *err, size_t errlen);

/* Starts path with args (NULL-terminated) behind a gate. */
void pt_spawn(struct pt_child *ch, const char *path, const char *const *args);

/* Lets the child run. */
void pt_release(struct pt_child *ch);

/* Reads the child's output until it exits; checks exit status 0; caller frees. */
char *pt_collect(struct pt_child *ch);

/* Copies the fires recorded so far into out (up to max); returns the count. */
size_t pt_fires(struct pt_ctx *c, struct pt_fire *out, size_t max);

/* The counters of probe id (the test fails if it is not attached). */
struct probe_counters pt_counters(struct pt_ctx *c, uint32_t id);

/* Applies what the ring holds, then waits until every fire decided by then was recorded. */
void pt_settle(struct pt_ctx *c);

/*
 * Settles and polls cond(arg) until it holds (true) or deadline_ms pass
 * (false, after printing what); the caller then says what it saw.
 */
bool pt_wait(struct pt_ctx *c, bool (*cond)(void *), void *arg, int deadline_ms,
	     const char *what);

/*
 * pt_wait for the counters of probe id to satisfy pred(counters, arg);
 * *seen gets the last counters read, for the caller to say what it saw.
 */
bool pt_wait_counters(struct pt_ctx *c, uint32_t id,
		      bool (*pred)(const struct probe_counters *, void *), void *arg,
		      int deadline_ms, const char *what, struct probe_counters *seen);

/* Waits up to deadline_ms until at least n fires were recorded; returns the count seen. */
size_t pt_wait_fires(struct pt_ctx *c, size_t n, int deadline_ms);

/*
 * Settles and checks for ms that the count of recorded fires stays n; the
 * test fails, saying what arrived, as soon as it does not.
 */
void pt_no_more_fires(struct pt_ctx *c, size_t n, int ms);

/* How long a test waits for an event that is due now, ms (generous: CI is loaded). */
#define PT_DEADLINE_MS 10000

/* CLOCK_MONOTONIC now in ns. */
int64_t pt_now(void);

/* Sleeps ms milliseconds. */
void pt_sleep_ms(unsigned ms);

#endif /* TIMERD_PROBE_TEST_H */
