/*
 * sync-shim.c -- an LD_PRELOAD shim for the regress tests (built by them
 * with cc): fdatasync and fsync fail with EIO while the file named by
 * $SYNC_SHIM_FAIL exists, and take $SYNC_SHIM_SLOW_MS milliseconds more
 * otherwise (a slow disk).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* -1 with EIO while the flag file exists; else sleeps as asked and returns 0. */
static int shim_before(void)
{
	const char *flag = getenv("SYNC_SHIM_FAIL"), *slow = getenv("SYNC_SHIM_SLOW_MS");

	if (flag && access(flag, F_OK) == 0) {
		errno = EIO;
		return -1;
	}
	if (slow && atoi(slow) > 0) {
		struct timespec ts = { atoi(slow) / 1000, (long)(atoi(slow) % 1000) * 1000000 };

		nanosleep(&ts, NULL);
	}
	return 0;
}

/* fdatasync(2), failing or slowed as the environment says. */
int fdatasync(int fd)
{
	int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");

	if (shim_before() < 0)
		return -1;
	return real(fd);
}

/* fsync(2), failing or slowed as the environment says. */
int fsync(int fd)
{
	int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fsync");

	if (shim_before() < 0)
		return -1;
	return real(fd);
}
