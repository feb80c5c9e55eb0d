/*
 * bench-store-floor.c -- the store's floor under bench/bench-deliver: what
 * the journal thread's SQLite work alone costs per acked delivery, with no
 * daemon around it (no sockets, no engine, no other thread).
 *
 *   store.floor  CPU time (this thread) and wall time per job of the rows
 *                one job writes through store/store.c, in commits of
 *                --batch jobs, with the snapshot pass's journal trim every
 *                time the journal outgrows 65,536 rows (timerd's default
 *                snapshot-min-rows), as timerd's journal thread writes them:
 *
 *     rows "arm+fire+dlv+ack": the Arm's put, the one-shot's FIRED row, the
 *                group's delivery row, and the delivery of the previous
 *                commit deleted (its ack): what one job costs today;
 *     rows "fire+dlv+ack": without the put (a put dropped in the commit
 *                that holds its timer's FIRED row);
 *     rows "dlv+ack": the delivery's put and delete only: the least a
 *                durable delivery can write in this schema.
 *
 *     each with sync "none" (--fsync DURATION: the journal thread's
 *     commits do not sync; a syncer thread does) and "full" (--fsync
 *     always: every commit is synchronous).
 *
 * The implied ceiling, 1e6 / cpu_us_per_job jobs/s, is what one journal
 * thread could commit if it did nothing else; bench/bench-deliver's figures
 * sit below it, as the journal thread shares the machine's 2 CPUs with the
 * loops, the dispatcher and the clients.
 *
 * usage: bench-store-floor --dir DIR [--jobs N] [--batch N] [--reps N]
 *
 * Prints JSON lines: a meta line, one line per measurement (with "rep"),
 * then the median per point ("stat":"median").
 */
#include "config.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store/store.h"

/* The journal's size at which timerd starts a snapshot pass (its default snapshot-min-rows). */
#define SF_SNAP_MIN_ROWS 65536
/* What bench/deliver-client's jobs carry: no key, no payload, this topic and group. */
#define SF_TOPIC "bench-deliver"
#define SF_GROUP "bench-deliver"
#define SF_MAX_REPS 15

/* What one job writes. */
enum sf_rows {
	SF_ARM_FIRE_DLV_ACK,
	SF_FIRE_DLV_ACK,
	SF_DLV_ACK,
	SF_NROWS
};

static const char *const sf_rows_name[SF_NROWS] = { "arm+fire+dlv+ack", "fire+dlv+ack", "dlv+ack" };

struct sf_cfg {
	const char *dir;
	unsigned jobs, batch, reps;
};

/* A clock's now, ns. */
static int64_t sf_clock(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Exits with what failed. */
static void sf_die(const char *what, const char *err)
{
	fprintf(stderr, "bench-store-floor: %s: %s\n", what, err);
	exit(1);
}

/* Orders doubles. */
static int sf_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Appends one row; dies on a store error. */
static void sf_append(struct store *st, const struct store_rec *r)
{
	char err[256];

	if (store_append(st, r, err, sizeof(err)) < 0)
		sf_die("append", err);
}

/* Appends job i's rows (its timer id, its delivery id) of kind rows. */
static void sf_job(struct store *st, enum sf_rows rows, uint64_t i, uint64_t *lsn, int64_t now)
{
	uint64_t id = (1ull << 32) | (i & 0xffffffu);	/* generation 1, a slot per job as the id map reuses them */
	struct store_rec put = { .op = STORE_PUT, .id = id, .boot = 1, .clock = STORE_MONO, .deadline = now,
				 .wall = now, .topic = SF_TOPIC, .topiclen = sizeof(SF_TOPIC) - 1 };
	struct store_rec fired = { .op = STORE_FIRED, .id = id };
	struct store_rec dlv = { .op = STORE_DLV_PUT, .id = i + 1, .group = SF_GROUP,
				 .grouplen = sizeof(SF_GROUP) - 1, .timer_id = id, .topic = SF_TOPIC,
				 .topiclen = sizeof(SF_TOPIC) - 1, .deadline = now, .wall = now, .attempts = 0 };

	if (rows == SF_ARM_FIRE_DLV_ACK) {
		put.lsn = ++*lsn;
		sf_append(st, &put);
	}
	if (rows != SF_DLV_ACK) {
		fired.lsn = ++*lsn;
		sf_append(st, &fired);
	}
	dlv.lsn = ++*lsn;
	sf_append(st, &dlv);
}

/* The ack of job i's delivery (the previous commit's jobs are acked in this one). */
static void sf_ack(struct store *st, uint64_t i, uint64_t *lsn)
{
	struct store_rec del = { .op = STORE_DLV_DEL, .id = i + 1, .lsn = ++*lsn };

	sf_append(st, &del);
}

/* One measurement: cfg->jobs jobs of kind rows in a fresh store; CPU and wall ns per job. */
static void sf_run(const struct sf_cfg *c, enum sf_rows rows, bool sync, double *cpu_us, double *wall_us)
{
	char path[4096], err[256];
	struct store_opts o = { .create = true };
	struct store *st;
	uint64_t lsn = 0, done = 0, prev_from = 0, prev_to = 0;
	int64_t c0, w0;

	snprintf(path, sizeof(path), "%s/floor-%d.db", c->dir, (int)getpid());
	if (store_open(path, &o, &st, err, sizeof(err)) < 0)
		sf_die("open", err);
	c0 = sf_clock(CLOCK_THREAD_CPUTIME_ID);
	w0 = sf_clock(CLOCK_MONOTONIC);
	while (done < c->jobs) {
		uint64_t n = c->jobs - done < c->batch ? c->jobs - done : c->batch;
		int64_t now = sf_clock(CLOCK_MONOTONIC);

		if (store_begin(st, sync, err, sizeof(err)) < 0)
			sf_die("begin", err);
		if (store_journal_rows(st) > SF_SNAP_MIN_ROWS) {	/* no live timers: the pass is its trim */
			store_snap_begin(st, lsn);
			if (store_snap_clear(st, 0, UINT64_MAX, err, sizeof(err)) < 0 ||
			    store_snap_end(st, err, sizeof(err)) < 0)
				sf_die("snapshot", err);
		}
		for (uint64_t i = done; i < done + n; i++)
			sf_job(st, rows, i, &lsn, now);
		for (uint64_t i = prev_from; i < prev_to; i++)
			sf_ack(st, i, &lsn);
		store_note_gen(st, 1);
		store_note_dlv(st, done + n + 1);
		if (store_commit(st, err, sizeof(err)) < 0)
			sf_die("commit", err);
		prev_from = done;
		prev_to = done + n;
		done += n;
	}
	*cpu_us = (double)(sf_clock(CLOCK_THREAD_CPUTIME_ID) - c0) / 1e3 / (double)c->jobs;
	*wall_us = (double)(sf_clock(CLOCK_MONOTONIC) - w0) / 1e3 / (double)c->jobs;
	store_close(st);
	for (const char *sfx = ""; sfx; sfx = !*sfx ? "-wal" : !strcmp(sfx, "-wal") ? "-shm" : NULL) {
		char p[4200];

		snprintf(p, sizeof(p), "%s%s", path, sfx);
		unlink(p);
	}
}

/* Prints the usage and exits with rc. */
static void sf_usage(int rc)
{
	fprintf(rc ? stderr : stdout, "usage: bench-store-floor --dir DIR [--jobs N] [--batch N] [--reps N]\n");
	exit(rc);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", 1, NULL, 'd' }, { "jobs", 1, NULL, 'j' }, { "batch", 1, NULL, 'b' },
		{ "reps", 1, NULL, 'r' }, { "help", 0, NULL, 'h' }, { 0 }
	};
	struct sf_cfg c = { .jobs = 200000, .batch = 256, .reps = 3 };
	double cpu[SF_NROWS][2][SF_MAX_REPS], wall[SF_NROWS][2][SF_MAX_REPS];
	int ch;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'd': c.dir = optarg; break;
		case 'j': c.jobs = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'b': c.batch = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'r': c.reps = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'h': sf_usage(0); break;
		default: sf_usage(2);
		}
	}
	if (!c.dir || !c.jobs || !c.batch || !c.reps || c.reps > SF_MAX_REPS)
		sf_usage(2);
	printf("{\"bench\":\"meta\",\"what\":\"store.floor\",\"jobs\":%u,\"batch\":%u,\"reps\":%u,\"sqlite\":\"%s\"}\n",
	       c.jobs, c.batch, c.reps, sqlite3_libversion());
	for (unsigned rep = 0; rep < c.reps; rep++)	/* the points of one rep run back to back: load falls on all */
		for (int k = 0; k < SF_NROWS; k++)
			for (int s = 0; s < 2; s++) {
				sf_run(&c, k, s, &cpu[k][s][rep], &wall[k][s][rep]);
				printf("{\"bench\":\"store.floor\",\"rows\":\"%s\",\"sync\":\"%s\",\"rep\":%u,"
				       "\"batch\":%u,\"cpu_us_per_job\":%.3f,\"wall_us_per_job\":%.3f}\n",
				       sf_rows_name[k], s ? "full" : "none", rep, c.batch, cpu[k][s][rep],
				       wall[k][s][rep]);
				fflush(stdout);
			}
	for (int k = 0; k < SF_NROWS; k++)
		for (int s = 0; s < 2; s++) {
			double mc, mw;

			qsort(cpu[k][s], c.reps, sizeof(double), sf_cmp);
			qsort(wall[k][s], c.reps, sizeof(double), sf_cmp);
			mc = cpu[k][s][c.reps / 2];
			mw = wall[k][s][c.reps / 2];
			printf("{\"bench\":\"store.floor\",\"stat\":\"median\",\"rows\":\"%s\",\"sync\":\"%s\",\"reps\":%u,"
			       "\"batch\":%u,\"cpu_us_per_job\":%.3f,\"wall_us_per_job\":%.3f,"
			       "\"ceiling_jobs_per_s\":%.0f}\n",
			       sf_rows_name[k], s ? "full" : "none", c.reps, c.batch, mc, mw, 1e6 / mc);
		}
	return 0;
}
