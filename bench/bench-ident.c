/*
 * bench-ident.c -- the cost of identities (server/ident.c): ns per
 * permission check (ident_allows: operation, key and topic) with rules of
 * 1, 8 and 64 prefixes, beside a naive loop over the same prefixes (strncmp
 * each, unsorted: what a first version would do), on keys and topics the
 * rule allows (a refused request also formats its message); the fast tag check of a
 * remembered secret; and ms per scrypt (the KDF every unknown secret costs).
 *
 *	bench/bench-ident [REPS]
 *
 * One JSON line per figure: median, min and max of REPS runs (CPU time of
 * this thread, so other processes on a busy machine do not count).
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server/ident.h"

#define NKEYS 1024

/* This thread's CPU time in ns. */
static int64_t bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Orders doubles. */
static int bench_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static char keys[NKEYS][48], topics[NKEYS][48];
static size_t keylen[NKEYS], topiclen[NKEYS];	/* the server knows them from validation */
static volatile unsigned sink;

/* The naive check: every prefix, strncmp, then the separator (what ident_prefix_match replaces). */
static bool naive_match(char **v, size_t n, const char *s, size_t len, char sep)
{
	for (size_t i = 0; i < n; i++) {
		size_t pl = strlen(v[i]);

		if (len >= pl && strncmp(v[i], s, pl) == 0 && (len == pl || s[pl] == sep))
			return true;
	}
	return false;
}

/* Prints one figure's JSON line from REPS samples. */
static void bench_print(const char *what, int nprefixes, double *v, int reps, const char *unit)
{
	qsort(v, (size_t)reps, sizeof(*v), bench_cmp);
	printf("{\"bench\":\"ident\",\"what\":\"%s\",\"prefixes\":%d,\"median_%s\":%.2f,\"min_%s\":%.2f,\"max_%s\":%.2f,"
	       "\"reps\":%d}\n", what, nprefixes, unit, v[reps / 2], unit, v[0], unit, v[reps - 1], reps);
}

/* ns per check with n prefixes: ident_allows, then the naive loop, over allowed keys and topics. */
static void bench_rules(int n, int reps)
{
	char line[8192], *pre[64];
	int off = snprintf(line, sizeof(line), "svc uid=4242 keys=");
	struct ident_table *t;
	const struct ident *id;
	char err[512], why[256];
	double a[64], b[64];

	for (int i = 0; i < n; i++) {
		off += snprintf(line + off, sizeof(line) - (size_t)off, "%stenant%02d/app", i ? "," : "", i * 7 % 97);
		if (!(pre[i] = malloc(32)))
			exit(1);
		snprintf(pre[i], 32, "tenant%02d/app", i * 7 % 97);
	}
	off += snprintf(line + off, sizeof(line) - (size_t)off, " topics=");
	for (int i = 0; i < n; i++)
		off += snprintf(line + off, sizeof(line) - (size_t)off, "%stenant%02d.app", i ? "," : "", i * 7 % 97);
	snprintf(line + off, sizeof(line) - (size_t)off, "\n");
	if (ident_parse(line, strlen(line), "bench", 0, &t, err, sizeof(err)) < 0) {
		fprintf(stderr, "bench-ident: %s\n", err);
		exit(1);
	}
	id = ident_by_name(t, "svc");
	for (int i = 0; i < NKEYS; i++) {	/* half inside a prefix, half not */
		int p = (i % n) * 7 % 97;

		snprintf(keys[i], sizeof(keys[i]), "tenant%02d/app/job/%d", p, i);	/* allowed: the path every request takes */
		snprintf(topics[i], sizeof(topics[i]), "tenant%02d.app.ev", p);
		keylen[i] = strlen(keys[i]);
		topiclen[i] = strlen(topics[i]);
	}
	for (int r = 0; r < reps; r++) {
		int64_t t0 = bench_now(), iters = 0;
		unsigned ok = 0;

		do {
			for (int i = 0; i < NKEYS; i++)
				ok += ident_allows(id, IDENT_OP_ARM, keys[i], keylen[i], topics[i], topiclen[i], why,
						   sizeof(why));
			iters += NKEYS;
		} while (bench_now() - t0 < 50000000);
		a[r] = (double)(bench_now() - t0) / (double)iters;
		sink += ok;
		t0 = bench_now();
		iters = 0;
		ok = 0;
		do {
			for (int i = 0; i < NKEYS; i++)
				ok += naive_match(pre, (size_t)n, keys[i], keylen[i], '/') &&
				      naive_match(pre, (size_t)n, topics[i], topiclen[i], '.');
			iters += NKEYS;
		} while (bench_now() - t0 < 50000000);
		b[r] = (double)(bench_now() - t0) / (double)iters;
		sink += ok;
	}
	bench_print("check_ident_allows", n, a, reps, "ns");
	bench_print("check_naive_loop", n, b, reps, "ns");
	for (int i = 0; i < n; i++)
		free(pre[i]);
	ident_table_unref(t);
}

/* ms per scrypt, and ns per remembered-tag check. */
static void bench_kdf(int reps)
{
	char val[256], line[512], err[512];
	struct ident_table *t;
	struct ident *id;
	double a[64], b[64];

	if (ident_hash_secret((const uint8_t *)"secret", 6, val, sizeof(val)) < 0)
		exit(1);
	snprintf(line, sizeof(line), "svc secret=%s\n", val);
	if (ident_parse(line, strlen(line), "bench", 0, &t, err, sizeof(err)) < 0)
		exit(1);
	id = (struct ident *)(uintptr_t)ident_by_name(t, "svc");
	for (int r = 0; r < reps; r++) {
		int64_t t0 = bench_now(), iters = 0;

		sink += ident_verify(id, (const uint8_t *)"secret", 6);
		a[r] = (double)(bench_now() - t0) / 1e6;
		t0 = bench_now();
		do {
			sink += (unsigned)ident_verify_fast(id, (const uint8_t *)"secret", 6);
			iters++;
		} while (bench_now() - t0 < 20000000);
		b[r] = (double)(bench_now() - t0) / (double)iters;
	}
	bench_print("scrypt_verify", 0, a, reps, "ms");
	bench_print("tag_verify", 0, b, reps, "ns");
	ident_table_unref(t);
}

int main(int argc, char **argv)
{
	int reps = argc > 1 ? atoi(argv[1]) : 11;

	if (reps < 1 || reps > 64)
		reps = 11;
	printf("{\"bench\":\"ident\",\"meta\":true,\"scrypt\":\"N=2^%d,r=%d,p=%d\",\"cpus\":%ld}\n", IDENT_SCRYPT_LOG2N,
	       IDENT_SCRYPT_R, IDENT_SCRYPT_P, sysconf(_SC_NPROCESSORS_ONLN));
	bench_rules(1, reps);
	bench_rules(8, reps);
	bench_rules(64, reps);
	bench_kdf(reps);
	return 0;
}
