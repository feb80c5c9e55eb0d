/*
 * fuzz-config.c -- server/settings.c: the config file (--config FILE) and
 * the command-line flags, the two ways an operator configures timerd.
 *
 * Input: byte 0 picks the mode; the rest is the text.
 *	mode 0: the text is a config file (read through a memfd);
 *	mode 1: the text is argv, one argument per line ("timerd" is argv[0]);
 *	        --config, --help and --version are dropped (they would open
 *	        a file named by the input or print).
 *
 * Checks: a refused input says why (a file error names FILE:LINE); an
 * accepted one passes settings_check and keeps every value within the
 * range the settings table allows; nothing leaks (LeakSanitizer in fuzz
 * builds) whether the input is accepted or not.
 */
#include "config.h"

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "server/settings.h"
#include "tests/fuzz/fuzz.h"

#define CONFIG_MAX_ARGS 64

/* Fails unless every value of an accepted configuration is within its range. */
static void config_check_ranges(const struct srv_config *c)
{
	if (!c->socket || !c->state_dir)
		fuzz_fail("accepted settings lost the socket or the state dir");
	if (c->threads > SETTINGS_MAX_THREADS || c->engine_workers > 16)
		fuzz_fail("threads %u / engine-workers %u out of range", c->threads, c->engine_workers);
	if (c->socket_mode > 0777)
		fuzz_fail("socket-mode %o out of range", c->socket_mode);
	if (!c->max_key || c->max_key > 65535 || !c->max_topic || c->max_topic > 65535)
		fuzz_fail("max-key %u / max-topic %u out of range", c->max_key, c->max_topic);
	if (!c->max_connections || !c->max_inflight || !c->max_watches || !c->max_list ||
	    !c->max_fire_queue || !c->max_timers)
		fuzz_fail("a count limit of 0 was accepted");
	if (c->max_frame < 1024 || c->max_output < c->max_frame)
		fuzz_fail("max-frame %u / max-output %llu accepted", c->max_frame,
			  (unsigned long long)c->max_output);
	if (c->precision_ns < 0 || c->frame_timeout_ns < 1000000 ||
	    c->stats_interval_ns < 10000000 || c->stats_retention_ns < 1000000000)
		fuzz_fail("a duration below its minimum was accepted");
	if (c->nprobes > SETTINGS_MAX_PROBES)
		fuzz_fail("%zu probes kept", c->nprobes);
}

/* Mode 0: loads text as a config file. */
static void config_file(const uint8_t *text, size_t n)
{
	struct srv_config c;
	char path[64], err[1024] = "";
	int fd = memfd_create("fuzz-config", 0), rc;

	if (fd < 0 || write(fd, text, n) != (ssize_t)n)
		fuzz_fail("memfd: cannot hold the input");
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	settings_init(&c);
	rc = settings_load_file(&c, path, err, sizeof(err));
	if (rc < 0 && !strstr(err, path))
		fuzz_fail("config refused without FILE:LINE: '%s'", err);
	if (rc == 0 && settings_check(&c, err, sizeof(err)) == 0)
		config_check_ranges(&c);
	settings_free(&c);
	close(fd);
}

/* True for flags the harness must not pass (they open files or print). */
static bool config_arg_dropped(const char *a)
{
	static const char *const drop[] = { "--config", "--help", "--version" };

	if (!strcmp(a, "-c") || !strcmp(a, "-h") || !strcmp(a, "-V"))
		return true;
	for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
		if (strncmp(a, drop[i], strlen(drop[i])) == 0)
			return true;
	return false;
}

/* Mode 1: parses text as argv, one argument per line. */
static void config_flags(const uint8_t *text, size_t n)
{
	char *buf = malloc(n + 1), *argv[CONFIG_MAX_ARGS + 1], err[1024] = "";
	struct srv_config c;
	int argc = 0;

	if (!buf)
		return;
	memcpy(buf, text, n);
	buf[n] = '\0';
	argv[argc++] = (char *)"timerd";
	for (char *save = NULL, *a = strtok_r(buf, "\n", &save); a && argc < CONFIG_MAX_ARGS;
	     a = strtok_r(NULL, "\n", &save))
		if (!config_arg_dropped(a))
			argv[argc++] = a;
	argv[argc] = NULL;
	settings_init(&c);
	switch (settings_parse(&c, argc, argv, err, sizeof(err))) {
	case SETTINGS_RUN:
		config_check_ranges(&c);
		break;
	case SETTINGS_FAIL:
		if (!err[0])
			fuzz_fail("flags refused without a message");
		break;
	case SETTINGS_EXIT:
		fuzz_fail("a dropped flag (--help or --version) got through");
	}
	settings_free(&c);
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 65536)
		return 0;
	if (data[0] & 1)
		config_flags(data + 1, size - 1);
	else
		config_file(data + 1, size - 1);
	return 0;
}
