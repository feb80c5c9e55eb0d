/*
 * probe-target.c -- the program the probe tests attach to: a function that
 * sometimes overruns its budget, with USDT probes (sys/sdt.h) at its start
 * and end.
 *
 *	probe-target work THREADS CALLS SLOW_EVERY SLOW_MS
 *		each thread calls probe_target_work() CALLS times; every
 *		SLOW_EVERY-th call sleeps SLOW_MS, the others return at once;
 *		prints "slow TID REQ" for every slow call and "calls TID N"
 *		per thread, then "done"
 *	probe-target spin MS       burns MS ms of CPU, prints "cpu_ns N"
 *	probe-target loop MS GAP_US  calls probe_target_work() every GAP_US
 *		for MS ms, prints "calls N"
 *
 * The caller releases the program by writing a byte to fd 3 (when it is
 * open), so it can attach probes to the pid before the first call.
 */
#include "config.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sdt.h>
#include <time.h>
#include <unistd.h>

struct target_thread {
	pthread_t t;
	unsigned index, calls, slow_every, slow_ms;
	pid_t tid;
	unsigned nslow;
	unsigned long slow_req[1024];
};

/* Sleeps ms milliseconds. */
static void target_sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0)
		;
}

/* The probed function keeps its symbol: no inlining, and no gcc clone (clang has no noclone). */
#ifdef __clang__
#define PROBED_FN __attribute__((noinline))
#else
#define PROBED_FN __attribute__((noinline, noclone))
#endif

/* The instrumented function: takes ms milliseconds for request req. */
PROBED_FN int probe_target_work(unsigned long req, unsigned ms);
PROBED_FN int probe_target_work(unsigned long req, unsigned ms)
{
	DTRACE_PROBE1(timerd_test, work_begin, req);
	if (ms)
		target_sleep_ms(ms);
	__asm__ __volatile__("" ::: "memory");	/* keep the call and its return */
	DTRACE_PROBE1(timerd_test, work_end, req);
	return (int)(req & 1);
}

/* A worker thread of "work". */
static void *target_worker(void *arg)
{
	struct target_thread *t = arg;

	t->tid = gettid();
	for (unsigned i = 0; i < t->calls; i++) {
		unsigned long req = (t->index + 1) * 100000ul + i;
		bool slow = t->slow_every && i % t->slow_every == t->slow_every - 1;

		probe_target_work(req, slow ? t->slow_ms : 0);
		if (slow && t->nslow < sizeof(t->slow_req) / sizeof(t->slow_req[0]))
			t->slow_req[t->nslow++] = req;
	}
	return NULL;
}

/* "work": threads calling the function, some calls slow. */
static int target_work(unsigned threads, unsigned calls, unsigned slow_every, unsigned slow_ms)
{
	struct target_thread *t = calloc(threads, sizeof(*t));

	if (!t)
		return 1;
	for (unsigned i = 0; i < threads; i++) {
		t[i] = (struct target_thread){ .index = i, .calls = calls,
					      .slow_every = slow_every, .slow_ms = slow_ms };
		if (pthread_create(&t[i].t, NULL, target_worker, &t[i]))
			return 1;
	}
	for (unsigned i = 0; i < threads; i++) {
		pthread_join(t[i].t, NULL);
		for (unsigned j = 0; j < t[i].nslow; j++)
			printf("slow %d %lu\n", (int)t[i].tid, t[i].slow_req[j]);
		printf("calls %d %u\n", (int)t[i].tid, t[i].calls);
	}
	printf("done\n");
	free(t);
	return 0;
}

/* CPU time of this process in ns. */
static int64_t target_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* "spin": burns ms of CPU time. */
static int target_spin(unsigned ms)
{
	int64_t start = target_cpu_ns(), now;
	uint64_t x = 0;

	do {
		for (int i = 0; i < 10000; i++) {
			x += (uint64_t)i;
			__asm__ __volatile__("" : "+r"(x));	/* keeps the loop: the work is the point */
		}
		now = target_cpu_ns();
	} while (now - start < (int64_t)ms * 1000000LL);
	printf("cpu_ns %lld\n", (long long)(now - start));
	return 0;
}

/* Monotonic time in ns. */
static int64_t target_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* "loop": fast calls every gap_us for ms. */
static int target_loop(unsigned ms, unsigned gap_us)
{
	int64_t end = target_mono_ns() + (int64_t)ms * 1000000LL;
	struct timespec gap = { 0, (long)gap_us * 1000L };
	unsigned long n = 0;

	while (target_mono_ns() < end) {
		probe_target_work(n++, 0);
		nanosleep(&gap, NULL);
	}
	printf("calls %lu\n", n);
	return 0;
}

int main(int argc, char **argv)
{
	char go;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (read(3, &go, 1) < 0) {
		/* fd 3 not open: run at once */
	}
	if (argc == 6 && strcmp(argv[1], "work") == 0)
		return target_work((unsigned)atoi(argv[2]), (unsigned)atoi(argv[3]),
				   (unsigned)atoi(argv[4]), (unsigned)atoi(argv[5]));
	if (argc == 3 && strcmp(argv[1], "spin") == 0)
		return target_spin((unsigned)atoi(argv[2]));
	if (argc == 4 && strcmp(argv[1], "loop") == 0)
		return target_loop((unsigned)atoi(argv[2]), (unsigned)atoi(argv[3]));
	fprintf(stderr, "usage: probe-target work THREADS CALLS SLOW_EVERY SLOW_MS | spin MS | "
		"loop MS GAP_US\n");
	return 2;
}
