/*
 * cmd-cancel.c -- timerctl cancel: cancel a timer by key or id.
 */
#include "config.h"

#include <getopt.h>
#include <inttypes.h>

#include "client/timerctl.h"

static int cmd_cancel_exec(struct ctl *ctl, int argc, char **argv);

const struct cmd_entry cmd_cancel_entry = {
	.name = "cancel",
	.usage = "KEY | --id ID",
	.help = "cancel a timer (exit code 4 if there is none)",
	.options = "  --id ID     the timer's id instead of its key\n",
	.exec = cmd_cancel_exec,
};

/* timerctl cancel. */
static int cmd_cancel_exec(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = { CTL_GLOBAL_LONGOPTS, { "id", required_argument, NULL, 'I' },
					      { NULL, 0, NULL, 0 } };
	const char *key = NULL;
	uint64_t id = 0;
	int c, rc;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'I') {
			if (!ctl_u64(ctl, "--id", optarg, &id))
				return CTL_EXIT_USAGE;
		} else if (ctl_global_opt(ctl, &cmd_cancel_entry, c, optarg, &rc)) {
			return rc;
		}
	}
	if (optind < argc)
		key = argv[optind++];
	if (optind < argc || !key == !id)
		return ctl_usage(ctl, &cmd_cancel_entry, "give one KEY or --id ID");
	if ((rc = ctl_connect(ctl)) != CTL_EXIT_OK)
		return rc;
	if ((rc = timerd_cancel(ctl->t, id, key)) != TIMERD_OK)
		return ctl_fail_call(ctl, rc, "cancel");
	if (ctl->json) {
		printf("{\"cancelled\":true,\"timer_id\":%" PRIu64 ",\"key\":", id);
		ctl_json_str(stdout, key);
		printf("}\n");
	} else if (key) {
		printf("cancelled %s\n", key);
	} else {
		printf("cancelled id %" PRIu64 "\n", id);
	}
	return CTL_EXIT_OK;
}
