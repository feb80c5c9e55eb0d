/*
 * cmd-dlq.c -- timerctl dlq list|retry|purge GROUP: a consumer group's dead
 * letters, the deliveries that failed max_attempts times (doc/delivery.md).
 */
#include "config.h"

#include <getopt.h>
#include <inttypes.h>
#include <string.h>

#include "client/timerctl.h"
#include "proto/units.h"

static int cmd_dlq_exec(struct ctl *ctl, int argc, char **argv);

const struct cmd_entry cmd_dlq_entry = {
	.name = "dlq",
	.usage = "list|retry|purge GROUP [--key K] [--id ID]",
	.help = "list, retry or purge a consumer group's dead letters",
	.options =
		"  list GROUP      each dead letter: delivery id, key, topic, attempts, when, last error\n"
		"  retry GROUP     make the dead letters deliveries again (attempts start over)\n"
		"  purge GROUP     delete the dead letters\n"
		"  --key K         only those of timer key K\n"
		"  --id ID         only the dead letter of delivery ID\n"
		"  --payload       list: with each payload\n",
	.exec = cmd_dlq_exec,
};

enum {
	DLQ_OPT_KEY = 0x200,
	DLQ_OPT_ID,
	DLQ_OPT_PAYLOAD,
};

/* Prints one dead letter (human or JSON). */
static void dlq_print(struct ctl *ctl, const char *group, const struct timerd_dead_letter *d, bool payload)
{
	char when[UNITS_BUFSZ], safe[CTL_SAFE_SZ], safe2[CTL_SAFE_SZ];

	if (ctl->json) {
		printf("{\"group\":");
		ctl_json_str(stdout, group);
		printf(",\"delivery_id\":%" PRIu64 ",\"timer_id\":%" PRIu64 ",\"key\":", d->delivery_id, d->timer_id);
		ctl_json_str(stdout, d->key);
		printf(",\"topic\":");
		ctl_json_str(stdout, d->topic);
		printf(",\"attempts\":%u,\"last_error\":", d->attempts);
		ctl_json_str(stdout, d->last_error);
		printf(",\"deadline_unix_ns\":%" PRId64 ",\"dead_unix_ns\":%" PRId64 ",\"payload_len\":%u",
		       d->deadline_unix_ns, d->dead_unix_ns, d->payload_size);
		if (payload) {
			putchar(',');
			ctl_json_payload(stdout, d->payload, d->payload_len);
		}
		printf("}\n");
		return;
	}
	printf("%-10" PRIu64 "  %-20s  %-12s  %8u  %-24s  %s", d->delivery_id, ctl_safe(d->key, safe, sizeof(safe)),
	       ctl_safe(d->topic, safe2, sizeof(safe2)), d->attempts,
	       units_time_format(d->dead_unix_ns, false, when, sizeof(when)),
	       ctl_safe(d->last_error, safe, sizeof(safe)));
	if (payload) {
		printf("  payload=");
		ctl_human_payload(stdout, d->payload, d->payload_len);
	}
	putchar('\n');
}

/* dlq list GROUP: every page. */
static int dlq_list(struct ctl *ctl, const char *group, const char *key, uint64_t id, bool payload)
{
	uint64_t cursor = 0;
	size_t n = 0;
	int rc;

	if (!ctl->json)
		printf("%-10s  %-20s  %-12s  %8s  %-24s  %s\n", "DELIVERY", "KEY", "TOPIC", "ATTEMPTS", "DEAD SINCE",
		       "LAST ERROR");
	do {
		struct timerd_dlq *d;

		if ((rc = timerd_dlq_list(ctl->t, group, key, cursor, 0, payload, &d)) != TIMERD_OK) {
			if (rc == TIMERD_ENOTFOUND)
				return ctl_fail(ctl, CTL_EXIT_NOTFOUND, "dlq list: %s (`timerctl group list` shows the groups)",
						timerd_errmsg(ctl->t));
			return ctl_fail_call(ctl, rc, "dlq list");
		}
		for (size_t i = 0; i < d->n; i++) {
			if (id && d->v[i].delivery_id != id)
				continue;
			dlq_print(ctl, group, &d->v[i], payload);
			n++;
		}
		cursor = d->n ? d->next_cursor : 0;
		timerd_dlq_free(d);
	} while (cursor);
	if (!ctl->json)
		printf("\n%zu dead letter%s.\n", n, n == 1 ? "" : "s");
	return CTL_EXIT_OK;
}

/* dlq retry|purge GROUP. */
static int dlq_act(struct ctl *ctl, bool purge, const char *group, const char *key, uint64_t id)
{
	uint64_t count = 0;
	int rc = purge ? timerd_dlq_purge(ctl->t, group, key, id, &count) : timerd_dlq_retry(ctl->t, group, key, id, &count);

	if (rc == TIMERD_ENOTFOUND)
		return ctl_fail(ctl, CTL_EXIT_NOTFOUND, "dlq %s: %s (`timerctl group list` shows the groups)",
				purge ? "purge" : "retry", timerd_errmsg(ctl->t));
	if (rc != TIMERD_OK)
		return ctl_fail_call(ctl, rc, purge ? "dlq purge" : "dlq retry");
	if (ctl->json)
		printf("{\"%s\":%" PRIu64 "}\n", purge ? "purged" : "retried", count);
	else
		printf("%s %" PRIu64 " dead letter%s\n", purge ? "purged" : "retried", count, count == 1 ? "" : "s");
	return CTL_EXIT_OK;
}

/* timerctl dlq. */
static int cmd_dlq_exec(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		CTL_GLOBAL_LONGOPTS,
		{ "key", required_argument, NULL, DLQ_OPT_KEY },
		{ "id", required_argument, NULL, DLQ_OPT_ID },
		{ "payload", no_argument, NULL, DLQ_OPT_PAYLOAD },
		{ NULL, 0, NULL, 0 },
	};
	const char *key = NULL, *sub, *group;
	uint64_t id = 0;
	bool payload = false;
	int c, rc;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == DLQ_OPT_KEY)
			key = optarg;
		else if (c == DLQ_OPT_ID) {
			if (!ctl_u64(ctl, "--id", optarg, &id))
				return CTL_EXIT_USAGE;
		} else if (c == DLQ_OPT_PAYLOAD)
			payload = true;
		else if (ctl_global_opt(ctl, &cmd_dlq_entry, c, optarg, &rc))
			return rc;
	}
	if (argc - optind != 2)
		return ctl_usage(ctl, &cmd_dlq_entry, "say list, retry or purge, then the GROUP");
	sub = argv[optind];
	group = argv[optind + 1];
	if (strcmp(sub, "list") && strcmp(sub, "retry") && strcmp(sub, "purge"))
		return ctl_usage(ctl, &cmd_dlq_entry, "unknown dlq command '%s': say list, retry or purge", sub);
	if (!*group)
		return ctl_usage(ctl, &cmd_dlq_entry, "the group's name is empty");
	if (payload && strcmp(sub, "list"))
		return ctl_usage(ctl, &cmd_dlq_entry, "--payload goes with dlq list");
	if ((rc = ctl_connect(ctl)) != CTL_EXIT_OK)
		return rc;
	if (strcmp(sub, "list") == 0)
		return dlq_list(ctl, group, key, id, payload);
	return dlq_act(ctl, strcmp(sub, "purge") == 0, group, key, id);
}
