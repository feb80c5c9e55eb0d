/*
 * cmd-get.c -- timerctl get: show one timer.
 */
#include "config.h"

#include <getopt.h>
#include <inttypes.h>

#include "client/timerctl.h"
#include "proto/units.h"

static int cmd_get_exec(struct ctl *ctl, int argc, char **argv);

const struct cmd_entry cmd_get_entry = {
	.name = "get",
	.usage = "KEY | --id ID",
	.help = "show a timer (exit code 4 if there is none)",
	.options = "  --id ID     the timer's id instead of its key\n",
	.exec = cmd_get_exec,
};

/* Prints a timer as JSON (members are only added after the old ones: scripts match them in order). */
static void cmd_get_json(const struct timerd_timer *t)
{
	char mf[16];

	printf("{\"timer_id\":%" PRIu64 ",\"key\":", t->timer_id);
	ctl_json_str(stdout, t->key);
	printf(",\"topic\":");
	ctl_json_str(stdout, t->topic);
	printf(",\"deadline_mono_ns\":%" PRId64 ",\"deadline_unix_ns\":%" PRId64 ",\"left_ns\":%" PRId64
	       ",\"period_ns\":%" PRId64 ",\"realtime\":%s,\"notify\":%s,\"payload_size\":%u,\"ephemeral\":%s"
	       ",\"misfire\":\"%s\",", t->deadline_mono_ns, t->deadline_unix_ns, t->deadline_mono_ns - ctl_mono(),
	       t->period_ns, t->realtime ? "true" : "false", t->notify ? "true" : "false", t->payload_size,
	       t->ephemeral ? "true" : "false", ctl_misfire_name(t->misfire, mf));
	ctl_json_payload(stdout, t->payload, t->payload_len);
	printf(",\"calendar\":");
	ctl_json_str(stdout, t->calendar);
	printf(",\"owner\":");
	ctl_json_str(stdout, t->owner ? t->owner : "");
	printf("}\n");
}

/* Prints a timer for humans, one field per line. */
static void cmd_get_human(const struct timerd_timer *t)
{
	char b[UNITS_BUFSZ], mf[16], safe[CTL_SAFE_SZ];

	printf("id:       %" PRIu64 "\n", t->timer_id);
	printf("key:      %s\n", *t->key ? ctl_safe(t->key, safe, sizeof(safe)) : "-");
	printf("topic:    %s\n", *t->topic ? ctl_safe(t->topic, safe, sizeof(safe)) : "-");
	printf("next:     %s%s\n", units_time_format(t->deadline_unix_ns, false, b, sizeof(b)),
	       t->realtime ? " (wall clock)" : "");
	printf("left:     %s\n", units_duration_format(t->deadline_mono_ns - ctl_mono(), b, sizeof(b)));
	printf("period:   %s\n", t->period_ns ? units_duration_format(t->period_ns, b, sizeof(b)) : "-");
	if (t->calendar && *t->calendar)
		printf("calendar: %s\n", t->calendar);
	if (t->owner && *t->owner)
		printf("owner:    %s\n", ctl_safe(t->owner, safe, sizeof(safe)));
	printf("notify:   %s\n", t->notify ? "yes" : "no");
	printf("stored:   %s\n", t->ephemeral ? "no (ephemeral: lost on restart)" : "yes (timers.db)");
	printf("misfire:  %s\n", ctl_misfire_name(t->misfire, mf));
	printf("payload:  ");
	ctl_human_payload(stdout, t->payload, t->payload_len);
	printf("\n");
}

/* timerctl get. */
static int cmd_get_exec(struct ctl *ctl, int argc, char **argv)
{
	struct timerd_timer *t;
	const char *key;
	uint64_t id;
	int rc;

	if ((rc = ctl_key_or_id(ctl, &cmd_get_entry, argc, argv, &key, &id)) != CTL_EXIT_OK)
		return rc == CTL_DONE ? CTL_EXIT_OK : rc;
	if ((rc = ctl_connect(ctl)) != CTL_EXIT_OK)
		return rc;
	if ((rc = timerd_get(ctl->t, id, key, &t)) != TIMERD_OK)
		return ctl_fail_call(ctl, rc, "get");
	if (ctl->json)
		cmd_get_json(t);
	else
		cmd_get_human(t);
	timerd_timer_free(t);
	return CTL_EXIT_OK;
}
