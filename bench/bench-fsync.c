/*
 * bench-fsync.c -- the machine's sync floor for bench/compare-durable: the
 * latency of writing 4 KiB at the end of a file and fdatasync(2) on it, in
 * a directory given on the command line (the state directory's disk).
 *
 *   disk.fdatasync  `ops` appends of `bytes` + fdatasync: p50/p99/max
 *
 * usage: bench-fsync --dir DIR [--ops N] [--bytes N] [--rep N]
 *
 * The file grows by one block per write, as a write-ahead log does (SQLite's
 * WAL appends its frames; an append also makes fdatasync write the inode's
 * size), and is removed at the end.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* CLOCK_MONOTONIC now, ns. */
static int64_t fs_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Orders int64 values. */
static int fs_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* The p-th percentile of n sorted values. */
static int64_t fs_pct(const int64_t *v, size_t n, double p)
{
	size_t i = (size_t)(p / 100.0 * (double)n);

	return n ? v[i < n ? i : n - 1] : 0;
}

/* Stops with a message naming the failed call. */
static void fs_die(const char *what)
{
	fprintf(stderr, "bench-fsync: %s: %s\n", what, strerror(errno));
	exit(1);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' }, { "ops", required_argument, NULL, 'n' },
		{ "bytes", required_argument, NULL, 'b' }, { "rep", required_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	const char *dir = NULL;
	unsigned ops = 2000, bytes = 4096, rep = 0;
	char path[4096], *buf;
	int64_t *v, sum = 0;
	int o, fd;

	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		unsigned x = optarg ? (unsigned)strtoul(optarg, NULL, 10) : 0;

		switch (o) {
		case 'd': dir = optarg; break;
		case 'n': ops = x ? x : 1; break;
		case 'b': bytes = x ? x : 1; break;
		case 'R': rep = x; break;
		default:
			fprintf(stderr, "usage: bench-fsync --dir DIR [--ops N] [--bytes N] [--rep N]\n");
			return o == 'h' ? 0 : 2;
		}
	}
	if (!dir) {
		fprintf(stderr, "bench-fsync: --dir DIR is required (the directory whose disk to measure)\n");
		return 2;
	}
	snprintf(path, sizeof(path), "%s/bench-fsync.%ld", dir, (long)getpid());
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		fs_die(path);
	buf = malloc(bytes);
	v = malloc(ops * sizeof(*v));
	if (!buf || !v)
		fs_die("malloc");
	memset(buf, 'x', bytes);
	if (fsync(fd) < 0)
		fs_die("fsync");
	for (unsigned i = 0; i < ops; i++) {
		int64_t t0 = fs_now();

		buf[0] = (char)i;
		if (write(fd, buf, bytes) != (ssize_t)bytes)
			fs_die("write");
		if (fdatasync(fd) < 0)
			fs_die("fdatasync");
		v[i] = fs_now() - t0;
		sum += v[i];
	}
	close(fd);
	unlink(path);
	qsort(v, ops, sizeof(*v), fs_cmp);
	printf("{\"bench\":\"disk.fdatasync\",\"impl\":\"fdatasync\",\"rep\":%u,\"bytes\":%u,\"ops\":%u,"
	       "\"p50_ns\":%" PRId64 ",\"p99_ns\":%" PRId64 ",\"max_ns\":%" PRId64 ",\"mean_ns\":%" PRId64
	       ",\"ops_per_s\":%.0f}\n", rep, bytes, ops, fs_pct(v, ops, 50), fs_pct(v, ops, 99), v[ops - 1],
	       sum / ops, 1e9 * ops / (double)sum);
	free(buf);
	free(v);
	return 0;
}
