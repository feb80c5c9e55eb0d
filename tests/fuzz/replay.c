/*
 * replay.c -- runs a harness over files, without libFuzzer: every file of
 * $top_srcdir/tests/fuzz/corpus/FUZZ_NAME (the seeds and the reproducers
 * of bugs found), or the files and directories given as arguments. Built
 * by make check with any compiler; under --enable-sanitizers a regression
 * shows up as a sanitizer report, a harness check as an abort.
 *
 *	tests/fuzz/replay-rpc                       the rpc corpus
 *	tests/fuzz/replay-rpc crash-1234 dir/       chosen inputs
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/fuzz/fuzz.h"

#ifndef FUZZ_NAME
#error "FUZZ_NAME names the harness's corpus folder"
#endif

/* Runs the harness on one file; 0 or -1 if it cannot be read. */
static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t n = 0, cap = 0, r;

	if (!f) {
		fprintf(stderr, "replay: cannot open %s: %s\n", path, strerror(errno));
		return -1;
	}
	do {
		if (cap - n < 65536) {
			uint8_t *v = realloc(buf, cap = cap ? cap * 2 : 65536);

			if (!v)
				fuzz_fail("out of memory reading %s", path);
			buf = v;
		}
		r = fread(buf + n, 1, cap - n, f);
		n += r;
	} while (r > 0);
	fclose(f);
	LLVMFuzzerTestOneInput(buf, n);
	free(buf);
	return 0;
}

/* Orders directory entries by name, so runs are repeatable. */
static int replay_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs the harness on every regular file of dir; the number run, or -1. */
static long replay_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL, path[4096];
	size_t n = 0, cap = 0;
	long done = 0;

	if (!d) {
		fprintf(stderr, "replay: cannot open %s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap && !(names = realloc(names, (cap = cap ? cap * 2 : 64) * sizeof(*names))))
			fuzz_fail("out of memory");
		if (!(names[n++] = strdup(e->d_name)))
			fuzz_fail("out of memory");
	}
	closedir(d);
	qsort(names, n, sizeof(*names), replay_cmp);
	for (size_t i = 0; i < n; i++) {
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			if (replay_file(path) < 0)
				done = -1;
			else if (done >= 0)
				done++;
		}
		free(names[i]);
	}
	free(names);
	return done;
}

/* Runs one argument: a file or a directory. */
static long replay_arg(const char *path)
{
	struct stat st;

	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return replay_dir(path);
	return replay_file(path) < 0 ? -1 : 1;
}

int main(int argc, char **argv)
{
	const char *top = getenv("top_srcdir");
	char dir[4096];
	long total = 0, n;

	if (argc < 2) {
		snprintf(dir, sizeof(dir), "%s/tests/fuzz/corpus/%s", top ? top : ".", FUZZ_NAME);
		n = replay_arg(dir);
		if (n == 0)
			fprintf(stderr, "replay: %s holds no inputs\n", dir);
		if (n <= 0)
			return 1;
		total = n;
	}
	for (int i = 1; i < argc; i++) {
		if ((n = replay_arg(argv[i])) < 0)
			return 1;
		total += n;
	}
	printf("replay %s: %ld inputs, no failure\n", FUZZ_NAME, total);
	return 0;
}
