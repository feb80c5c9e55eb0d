/*
 * cmd-ping.c -- timerctl ping: is timerd there, and how far away.
 */
#include "config.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <unistd.h>

#include "client/timerctl.h"
#include "proto/units.h"

static int cmd_ping_exec(struct ctl *ctl, int argc, char **argv);

const struct cmd_entry cmd_ping_entry = {
	.name = "ping",
	.usage = "[--count N]",
	.help = "check that timerd answers and measure the round trip",
	.options = "  --count N   send N pings, one per 100ms, and print min/median/max\n",
	.exec = cmd_ping_exec,
};

/* Orders int64 values. */
static int cmd_ping_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Prints the summary of n round trips. */
static void cmd_ping_print(struct ctl *ctl, int64_t *rtt, uint64_t n)
{
	char a[UNITS_BUFSZ], b[UNITS_BUFSZ], c[UNITS_BUFSZ];

	qsort(rtt, n, sizeof(*rtt), cmd_ping_cmp);
	if (ctl->json)
		printf("{\"pings\":%" PRIu64 ",\"rtt_min_ns\":%" PRId64 ",\"rtt_p50_ns\":%" PRId64
		       ",\"rtt_max_ns\":%" PRId64 "}\n", n, rtt[0], rtt[n / 2], rtt[n - 1]);
	else if (n == 1)
		printf("pong from timerd: rtt %s\n", units_duration_format(rtt[0], a, sizeof(a)));
	else
		printf("%" PRIu64 " pongs from timerd: rtt min %s, median %s, max %s\n", n,
		       units_duration_format(rtt[0], a, sizeof(a)), units_duration_format(rtt[n / 2], b, sizeof(b)),
		       units_duration_format(rtt[n - 1], c, sizeof(c)));
}

/* timerctl ping. */
static int cmd_ping_exec(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = { CTL_GLOBAL_LONGOPTS, { "count", required_argument, NULL, 'c' },
					      { NULL, 0, NULL, 0 } };
	uint64_t count = 1;
	int64_t *rtt;
	int c, rc;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'c') {
			if (!ctl_u64(ctl, "--count", optarg, &count) || !count || count > 1000000)
				return ctl_usage(ctl, &cmd_ping_entry, "--count takes 1 to 1000000");
		} else if (ctl_global_opt(ctl, &cmd_ping_entry, c, optarg, &rc)) {
			return rc;
		}
	}
	if (optind < argc)
		return ctl_usage(ctl, &cmd_ping_entry, "unexpected argument '%s'", argv[optind]);
	if ((rc = ctl_connect(ctl)) != CTL_EXIT_OK)
		return rc;
	if (!(rtt = malloc(count * sizeof(*rtt))))
		return ctl_fail(ctl, CTL_EXIT_FAILED, "out of memory");
	for (uint64_t i = 0; i < count; i++) {
		if ((rc = timerd_ping(ctl->t, &rtt[i])) != TIMERD_OK) {
			free(rtt);
			return ctl_fail_call(ctl, rc, "ping");
		}
		if (i + 1 < count)
			usleep(100000);
	}
	cmd_ping_print(ctl, rtt, count);
	free(rtt);
	return CTL_EXIT_OK;
}
