/*
 * cmd-watch.c -- timerctl watch: stream fires of some topics (or all).
 */
#include "config.h"

#include <getopt.h>
#include <inttypes.h>

#include "client/timerctl.h"

static int cmd_watch_exec(struct ctl *ctl, int argc, char **argv);

const struct cmd_entry cmd_watch_entry = {
	.name = "watch",
	.usage = "[TOPIC...] [--count N] [--for DURATION]",
	.help = "print fires of TOPICs (default: every topic) as they happen",
	.options =
		"  --count N        stop after N fires\n"
		"  --for DURATION   stop after DURATION (exit code 5 if --count fires did not come)\n",
	.exec = cmd_watch_exec,
};

struct cmd_watch_opts {
	uint64_t count;		/* 0: unlimited */
	int64_t duration;	/* ns; 0: forever */
};

/* Subscribes to the topics on the command line (or all); an exit code. */
static int cmd_watch_subscribe(struct ctl *ctl, int n, char **topics)
{
	int rc;

	if (!n && (rc = timerd_watch(ctl->t, NULL)) != TIMERD_OK)
		return ctl_fail_call(ctl, rc, "watch");
	for (int i = 0; i < n; i++)
		if ((rc = timerd_watch(ctl->t, topics[i])) != TIMERD_OK)
			return ctl_fail_call(ctl, rc, "watch");
	if (ctl->json)
		return CTL_EXIT_OK;
	fprintf(stderr, "watching %s", n ? (n == 1 ? "topic" : "topics") : "every topic");
	for (int i = 0; i < n; i++)
		fprintf(stderr, " %s", topics[i]);
	fprintf(stderr, " (Ctrl-C to stop)\n");
	return CTL_EXIT_OK;
}

/* Prints events until count fires or the duration ends; an exit code. */
static int cmd_watch_loop(struct ctl *ctl, const struct cmd_watch_opts *o)
{
	int64_t end = o->duration ? ctl_mono() + o->duration : -1;
	struct timerd_event *ev;
	uint64_t fires = 0;
	int rc;

	while (!o->count || fires < o->count) {
		int64_t left = end < 0 ? -1 : (end - ctl_mono()) / 1000000;

		rc = timerd_next_event(ctl->t, end < 0 ? -1 : left < 0 ? 0 : (int)left, &ev);
		if (rc == TIMERD_ETIMEDOUT && end >= 0)
			return o->count ? ctl_fail(ctl, CTL_EXIT_TIMEOUT, "%" PRIu64 " of %" PRIu64 " fires in --for",
						   fires, o->count) : CTL_EXIT_OK;
		if (rc != TIMERD_OK)
			return ctl_fail_call(ctl, rc, "watch");
		if (ev->kind == TIMERD_EVENT_FIRE) {
			ctl_print_fire(ctl, &ev->fire);
			fires++;
		} else {
			ctl_print_notice(ctl, ev);
		}
		timerd_event_free(ev);
	}
	return CTL_EXIT_OK;
}

/* timerctl watch. */
static int cmd_watch_exec(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = { CTL_GLOBAL_LONGOPTS, { "count", required_argument, NULL, 'c' },
					      { "for", required_argument, NULL, 'f' }, { NULL, 0, NULL, 0 } };
	struct cmd_watch_opts o = { 0 };
	int c, rc;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'c') {
			if (!ctl_u64(ctl, "--count", optarg, &o.count))
				return CTL_EXIT_USAGE;
		} else if (c == 'f') {
			if (!ctl_duration(ctl, "--for", optarg, &o.duration))
				return CTL_EXIT_USAGE;
		} else if (ctl_global_opt(ctl, &cmd_watch_entry, c, optarg, &rc)) {
			return rc;
		}
	}
	if ((rc = ctl_connect(ctl)) != CTL_EXIT_OK ||
	    (rc = cmd_watch_subscribe(ctl, argc - optind, argv + optind)) != CTL_EXIT_OK)
		return rc;
	return cmd_watch_loop(ctl, &o);
}
