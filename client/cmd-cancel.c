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
	const char *key;
	uint64_t id;
	int rc;

	if ((rc = ctl_key_or_id(ctl, &cmd_cancel_entry, argc, argv, &key, &id)) != CTL_EXIT_OK)
		return rc == CTL_DONE ? CTL_EXIT_OK : rc;
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
