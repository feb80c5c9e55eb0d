/*
 * test-server-util.h -- runs a real timerd for a test: built binary, private
 * socket and state directory in a fresh temporary directory, stopped with
 * SIGTERM and checked to exit 0 (under ASan that also means: no leaks).
 *
 * Usage:
 *
 *	struct tsd d;
 *	tsd_start(&d, (const char *[]){ "--max-payload", "1KiB", NULL });
 *	...connect to d.sock...
 *	ck_assert_int_eq(tsd_stop(&d), 0);
 *
 * tsd_stat() reads one counter (by its timerd_stats_get name) over a fresh
 * connection, for tests that wait for the daemon to have done something.
 */
#ifndef TIMERD_TEST_SERVER_UTIL_H
#define TIMERD_TEST_SERVER_UTIL_H

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client/timerd.h"
#include "tests/wait.h"

struct tsd {
	pid_t pid;
	int status;		/* the wait status once exited, else -1 */
	char dir[64];
	char sock[100];
	char log[128];
};

/* True once d's process exited (its wait status then in d->status). */
static inline bool tsd_exited(void *arg)
{
	struct tsd *d = arg;

	if (d->status == -1 && waitpid(d->pid, &d->status, WNOHANG) != d->pid)
		d->status = -1;
	return d->status != -1;
}

/* Prints the daemon's log to stderr (for failing tests). */
static inline void tsd_dump_log(const struct tsd *d)
{
	char buf[4096];
	FILE *f = fopen(d->log, "r");
	size_t n;

	if (!f)
		return;
	fprintf(stderr, "---- timerd log %s ----\n", d->log);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, stderr);
	fclose(f);
}

/* True if a Unix stream connect to path succeeds. */
static inline int tsd_alive(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), ok;

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	ok = fd >= 0 && connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

/* True once d listens or its process exited (tsd_start tells which). */
static inline bool tsd_up(void *arg)
{
	struct tsd *d = arg;

	return tsd_exited(d) || tsd_alive(d->sock);
}

/* Starts $top_builddir/server/timerd in the foreground with extra flags; waits until it listens. */
static inline void tsd_start(struct tsd *d, const char *const *extra)
{
	const char *top = getenv("top_builddir");
	char bin[PATH_MAX], state[128];
	const char *argv[64];
	int n = 0;

	snprintf(d->dir, sizeof(d->dir), "/tmp/timerd-test.XXXXXX");
	if (!mkdtemp(d->dir)) {
		perror("mkdtemp");
		exit(99);
	}
	snprintf(bin, sizeof(bin), "%s/server/timerd", top ? top : ".");
	snprintf(d->sock, sizeof(d->sock), "%s/timerd.sock", d->dir);
	snprintf(state, sizeof(state), "%s/state", d->dir);
	snprintf(d->log, sizeof(d->log), "%s/timerd.log", d->dir);
	argv[n++] = bin;
	argv[n++] = "--foreground";
	argv[n++] = "--socket";
	argv[n++] = d->sock;
	argv[n++] = "--state-dir";
	argv[n++] = state;
	argv[n++] = "--log";
	argv[n++] = d->log;
	for (int i = 0; extra && extra[i] && n < 62; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	if ((d->pid = fork()) == 0) {
		execv(bin, (char *const *)(uintptr_t)argv);
		fprintf(stderr, "cannot run %s: %s\n", bin, strerror(errno));
		_exit(127);
	}
	d->status = -1;
	if (!wait_until(tsd_up, d, 10000, "timerd listening")) {
		tsd_dump_log(d);
		fprintf(stderr, "timerd did not start listening within 10s\n");
		exit(99);
	}
	if (tsd_exited(d)) {
		tsd_dump_log(d);
		fprintf(stderr, "timerd exited during start-up (status %d)\n", d->status);
		exit(99);
	}
}

/* SIGTERM, wait (at most 20 s), remove the directory; the exit status (0 = clean). */
static inline int tsd_stop(struct tsd *d)
{
	char cmd[128];
	int st = -1;

	kill(d->pid, SIGTERM);
	if (wait_until(tsd_exited, d, 20000, "timerd exiting after SIGTERM")) {
		st = d->status;
	} else {
		kill(d->pid, SIGKILL);
		waitpid(d->pid, &st, 0);
		fprintf(stderr, "timerd did not stop within 20s of SIGTERM\n");
		st = 1 << 8;
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		tsd_dump_log(d);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", d->dir);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* The daemon's counter name (e.g. "server.fires_sent") read over a new connection; -1 if unreadable. */
static inline int64_t tsd_stat(const struct tsd *d, const char *name)
{
	struct timerd_stats *s;
	struct timerd *t;
	int64_t v = -1;

	if (timerd_connect(d->sock, NULL, &t, NULL) != TIMERD_OK)
		return -1;
	if (timerd_stats(t, &s) == TIMERD_OK) {
		if (!timerd_stats_get(s, name, &v))
			v = -1;
		timerd_stats_free(s);
	}
	timerd_close(t);
	return v;
}

/* CLOCK_MONOTONIC now, ns. */
static inline int64_t tsd_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

#endif /* TIMERD_TEST_SERVER_UTIL_H */
