/*
 * cmd-group.c -- timerctl group create|list|show|delete: consumer groups,
 * the durable subscribers that get each fire of their topics as a delivery
 * to acknowledge (doc/delivery.md).
 */
#include "config.h"

#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "client/timerctl.h"
#include "proto/units.h"

static int cmd_group_exec(struct ctl *ctl, int argc, char **argv);

const struct cmd_entry cmd_group_entry = {
	.name = "group",
	.usage = "create GROUP --topic T [OPTIONS] | list | show GROUP | delete GROUP",
	.help = "declare, list, show or delete consumer groups (durable deliveries, doc/delivery.md)",
	.options =
		"  create GROUP             declare GROUP (again with the same settings: nothing changes, exit 0)\n"
		"  list                     every group with its counters\n"
		"  show GROUP               GROUP's settings and counters (backlog, in flight, acked/s...)\n"
		"  delete GROUP             delete GROUP with its deliveries and dead letters\n"
		"  --topic T                create: a topic the group takes fires of (repeat for more)\n"
		"  --ack-timeout DURATION   create: a delivery not acked in this time is due again (default 30s)\n"
		"  --max-attempts N         create: attempts before a dead letter (default 5)\n"
		"  --backoff-min DURATION   create: the first retry's delay, doubling, with jitter (default 1s)\n"
		"  --backoff-max DURATION   create: the longest retry delay (default 5m)\n"
		"  --max-backlog N          create: deliveries kept at most (default: timerd's; doc/delivery.md)\n"
		"  --unordered              create: deliveries of one key may run at once (default: one at a time)\n"
		"  --webhook URL            create: POST deliveries to this http(s) URL instead of consumers\n"
		"  --webhook-concurrency N  create: webhook requests in flight at most (default 8)\n"
		"  --webhook-timeout DURATION  create: per webhook request, at most the ack timeout (default: it)\n"
		"  --webhook-insecure       create: do not verify the webhook's TLS certificate\n"
		"  --update                 create: change an existing group's settings\n"
		"  --interval DURATION      show: the time between the two samples acked/s is taken from (default 1s)\n",
	.exec = cmd_group_exec,
};

#define GROUP_MAX_TOPICS 64

enum {
	GROUP_OPT_TOPIC = 0x200,
	GROUP_OPT_ACK_TIMEOUT,
	GROUP_OPT_MAX_ATTEMPTS,
	GROUP_OPT_BACKOFF_MIN,
	GROUP_OPT_BACKOFF_MAX,
	GROUP_OPT_MAX_BACKLOG,
	GROUP_OPT_UNORDERED,
	GROUP_OPT_WEBHOOK,
	GROUP_OPT_WEBHOOK_CONC,
	GROUP_OPT_WEBHOOK_TIMEOUT,
	GROUP_OPT_WEBHOOK_INSECURE,
	GROUP_OPT_UPDATE,
	GROUP_OPT_INTERVAL,
};

/* What the command line asked. */
struct group_args {
	struct timerd_group g;
	const char *topics[GROUP_MAX_TOPICS];
	bool update;
	bool create_opts;		/* an option only create takes was given */
	int64_t interval_ns;
};

/* Writes a group with its counters as one JSON object (no newline). */
static void group_json(const struct timerd_group_info *x)
{
	const struct timerd_group *g = &x->group;

	printf("{\"name\":");
	ctl_json_str(stdout, g->name);
	printf(",\"topics\":[");
	for (size_t i = 0; i < g->n_topics; i++) {
		if (i)
			putchar(',');
		ctl_json_str(stdout, g->topics[i]);
	}
	printf("],\"ack_timeout_ns\":%" PRId64 ",\"max_attempts\":%u,\"backoff_min_ns\":%" PRId64
	       ",\"backoff_max_ns\":%" PRId64 ",\"max_backlog\":%" PRIu64 ",\"unordered\":%s,\"webhook_url\":",
	       g->ack_timeout_ns, g->max_attempts, g->backoff_min_ns, g->backoff_max_ns, g->max_backlog,
	       g->unordered ? "true" : "false");
	ctl_json_str(stdout, g->webhook_url);
	printf(",\"webhook_concurrency\":%u,\"webhook_timeout_ns\":%" PRId64 ",\"webhook_insecure\":%s"
	       ",\"backlog\":%" PRIu64 ",\"in_flight\":%" PRIu64 ",\"acked\":%" PRIu64 ",\"redeliveries\":%" PRIu64
	       ",\"dead_letters\":%" PRIu64 ",\"consumers\":%" PRIu64 ",\"delivered\":%" PRIu64 ",\"nacked\":%" PRIu64
	       ",\"timeouts\":%" PRIu64 ",\"backlog_dropped\":%" PRIu64 ",\"created\":%" PRIu64
	       ",\"dead_lettered\":%" PRIu64 ",\"webhook_requests\":%" PRIu64 ",\"webhook_failures\":%" PRIu64 "}",
	       g->webhook_concurrency, g->webhook_timeout_ns, g->webhook_insecure ? "true" : "false", x->backlog,
	       x->in_flight, x->acked, x->redeliveries, x->dead_letters, x->consumers, x->delivered, x->nacked,
	       x->timeouts, x->backlog_dropped, x->created, x->dead_lettered, x->webhook_requests, x->webhook_failures);
}

/* The group's topics as one comma-separated string for humans. */
static const char *group_topics(const struct timerd_group *g, char *buf, size_t len)
{
	char safe[CTL_SAFE_SZ];
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < g->n_topics && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? "," : "", ctl_safe(g->topics[i], safe, sizeof(safe)));
	return buf;
}

/* A duration for humans, "default" for 0. */
static const char *group_dur(int64_t ns, char *buf, size_t len)
{
	if (!ns)
		return "default";
	return units_duration_format(ns, buf, len);
}

/* group create GROUP. */
static int group_create(struct ctl *ctl, struct group_args *a)
{
	bool created = false;
	int rc = timerd_group_create(ctl->t, &a->g, a->update, &created);

	if (rc == TIMERD_ECONFLICT)
		return ctl_fail(ctl, CTL_EXIT_FAILED, "group create: %s (run it with --update to change them, or "
				"`timerctl group show %s` to see them)", timerd_errmsg(ctl->t), a->g.name);
	if (rc != TIMERD_OK)
		return ctl_fail_call(ctl, rc, "group create");
	if (ctl->json) {
		printf("{\"group\":");
		ctl_json_str(stdout, a->g.name);
		printf(",\"created\":%s}\n", created ? "true" : "false");
	} else if (created) {
		printf("created group %s\n", a->g.name);
	} else {
		printf("group %s %s\n", a->g.name, a->update ? "updated" : "exists with these settings");
	}
	return CTL_EXIT_OK;
}

/* group delete GROUP. */
static int group_delete(struct ctl *ctl, const char *name)
{
	int rc = timerd_group_delete(ctl->t, name);

	if (rc == TIMERD_ENOTFOUND)
		return ctl_fail(ctl, CTL_EXIT_NOTFOUND, "group delete: no group named %s (`timerctl group list` shows them)",
				name);
	if (rc != TIMERD_OK)
		return ctl_fail_call(ctl, rc, "group delete");
	if (ctl->json) {
		printf("{\"deleted\":");
		ctl_json_str(stdout, name);
		printf("}\n");
	} else {
		printf("deleted group %s\n", name);
	}
	return CTL_EXIT_OK;
}

/* group list. */
static int group_list(struct ctl *ctl)
{
	struct timerd_groups *l;
	char topics[1024], safe[CTL_SAFE_SZ], cons[32];
	int rc = timerd_group_list(ctl->t, NULL, &l);

	if (rc != TIMERD_OK)
		return ctl_fail_call(ctl, rc, "group list");
	if (!ctl->json)
		printf("%-20s  %9s  %9s  %10s  %8s  %8s  %9s  %s\n", "GROUP", "BACKLOG", "IN_FLIGHT", "ACKED", "REDELIV",
		       "DEAD", "CONSUMERS", "TOPICS");
	for (size_t i = 0; i < l->n; i++) {
		const struct timerd_group_info *x = &l->v[i];

		if (ctl->json) {
			group_json(x);
			putchar('\n');
			continue;
		}
		printf("%-20s  %9" PRIu64 "  %9" PRIu64 "  %10" PRIu64 "  %8" PRIu64 "  %8" PRIu64 "  %9s  %s\n",
		       ctl_safe(x->group.name, safe, sizeof(safe)), x->backlog, x->in_flight, x->acked, x->redeliveries,
		       x->dead_letters,
		       *x->group.webhook_url ? "webhook" : (snprintf(cons, sizeof(cons), "%" PRIu64, x->consumers), cons),
		       group_topics(&x->group, topics, sizeof(topics)));
	}
	if (!ctl->json)
		printf("\n%zu group%s.\n", l->n, l->n == 1 ? "" : "s");
	timerd_groups_free(l);
	return CTL_EXIT_OK;
}

/* Fetches one group's info; *out NULL with an exit code printed when there is none. */
static int group_fetch(struct ctl *ctl, const char *name, struct timerd_groups **out)
{
	int rc = timerd_group_list(ctl->t, name, out);

	if (rc == TIMERD_ENOTFOUND || (rc == TIMERD_OK && (*out)->n == 0)) {
		if (rc == TIMERD_OK)
			timerd_groups_free(*out);
		*out = NULL;
		return ctl_fail(ctl, CTL_EXIT_NOTFOUND, "group show: no group named %s (`timerctl group list` shows them)",
				name);
	}
	if (rc != TIMERD_OK) {
		*out = NULL;
		return ctl_fail_call(ctl, rc, "group show");
	}
	for (size_t i = 0; i < (*out)->n; i++)	/* a server that lists more than asked: take the one named */
		if (strcmp((*out)->v[i].group.name, name) == 0 && i) {
			(*out)->v[0] = (*out)->v[i];
			break;
		}
	return CTL_EXIT_OK;
}

/* group show GROUP: settings, counters and the ack rate over two samples. */
static int group_show(struct ctl *ctl, const char *name, int64_t interval_ns)
{
	struct timerd_groups *a, *b = NULL;
	char d1[UNITS_BUFSZ], d2[UNITS_BUFSZ], d3[UNITS_BUFSZ], topics[1024], safe[CTL_SAFE_SZ];
	int64_t t0, t1 = 0;
	int rc;

	t0 = ctl_mono();
	if ((rc = group_fetch(ctl, name, &a)) != CTL_EXIT_OK)
		return rc;
	if (ctl->json) {
		group_json(&a->v[0]);
		putchar('\n');
		timerd_groups_free(a);
		return CTL_EXIT_OK;
	}
	if (interval_ns > 0) {
		poll(NULL, 0, (int)(interval_ns / 1000000 > 3600000 ? 3600000 : interval_ns / 1000000));
		t1 = ctl_mono();
		if ((rc = group_fetch(ctl, name, &b)) != CTL_EXIT_OK) {
			timerd_groups_free(a);
			return rc;
		}
	}
	{
		const struct timerd_group_info *x = b ? &b->v[0] : &a->v[0];
		const struct timerd_group *g = &x->group;

		printf("group         %s\n", ctl_safe(g->name, safe, sizeof(safe)));
		printf("topics        %s\n", group_topics(g, topics, sizeof(topics)));
		printf("ack timeout   %s, max attempts %u, backoff %s..%s\n", group_dur(g->ack_timeout_ns, d1, sizeof(d1)),
		       g->max_attempts, group_dur(g->backoff_min_ns, d2, sizeof(d2)),
		       group_dur(g->backoff_max_ns, d3, sizeof(d3)));
		printf("max backlog   %" PRIu64 "%s, %s\n", g->max_backlog, g->max_backlog ? "" : " (default)",
		       g->unordered ? "unordered" : "ordered per key");
		if (*g->webhook_url)
			printf("webhook       %s (concurrency %u, timeout %s%s)\n", ctl_safe(g->webhook_url, safe, sizeof(safe)),
			       g->webhook_concurrency, group_dur(g->webhook_timeout_ns, d1, sizeof(d1)),
			       g->webhook_insecure ? ", certificate not verified" : "");
		if (*g->webhook_url)
			printf("requests      %" PRIu64 " (%" PRIu64 " failed)\n", x->webhook_requests, x->webhook_failures);
		else
			printf("consumers     %" PRIu64 "\n", x->consumers);
		printf("backlog       %" PRIu64 "\n", x->backlog);
		printf("in flight     %" PRIu64 "\n", x->in_flight);
		if (b)	/* a restart between the samples starts the counter over: no negative rate */
			printf("acked/s       %.1f\n", x->acked < a->v[0].acked ? 0.0 :
			       (double)(x->acked - a->v[0].acked) * 1e9 / (double)(t1 - t0));
		printf("acked         %" PRIu64 "\n", x->acked);
		printf("redeliveries  %" PRIu64 "\n", x->redeliveries);
		printf("dead letters  %" PRIu64 " (%" PRIu64 " all time)\n", x->dead_letters, x->dead_lettered);
		printf("created       %" PRIu64 ", delivered %" PRIu64 ", nacked %" PRIu64 ", timeouts %" PRIu64
		       ", backlog dropped %" PRIu64 "\n", x->created, x->delivered, x->nacked, x->timeouts, x->backlog_dropped);
	}
	timerd_groups_free(a);
	timerd_groups_free(b);
	return CTL_EXIT_OK;
}

/* Parses a uint32 option. */
static bool group_u32(struct ctl *ctl, const char *opt, const char *s, uint32_t *v)
{
	uint64_t x;

	if (!ctl_u64(ctl, opt, s, &x))
		return false;
	if (x > UINT32_MAX) {
		ctl_fail(ctl, CTL_EXIT_USAGE, "%s: %s is too large", opt, s);
		return false;
	}
	*v = (uint32_t)x;
	return true;
}

/* Handles one of group's own options; false (message printed) if its argument is bad. */
static bool group_opt(struct ctl *ctl, struct group_args *a, int c, const char *arg)
{
	struct timerd_group *g = &a->g;

	a->create_opts |= c != GROUP_OPT_INTERVAL;
	switch (c) {
	case GROUP_OPT_TOPIC:
		if (g->n_topics == GROUP_MAX_TOPICS) {
			ctl_fail(ctl, CTL_EXIT_USAGE, "--topic: at most %d topics", GROUP_MAX_TOPICS);
			return false;
		}
		a->topics[g->n_topics++] = arg;
		return true;
	case GROUP_OPT_ACK_TIMEOUT:
		return ctl_duration(ctl, "--ack-timeout", arg, &g->ack_timeout_ns);
	case GROUP_OPT_MAX_ATTEMPTS:
		return group_u32(ctl, "--max-attempts", arg, &g->max_attempts);
	case GROUP_OPT_BACKOFF_MIN:
		return ctl_duration(ctl, "--backoff-min", arg, &g->backoff_min_ns);
	case GROUP_OPT_BACKOFF_MAX:
		return ctl_duration(ctl, "--backoff-max", arg, &g->backoff_max_ns);
	case GROUP_OPT_MAX_BACKLOG:
		return ctl_u64(ctl, "--max-backlog", arg, &g->max_backlog);
	case GROUP_OPT_UNORDERED:
		g->unordered = true;
		return true;
	case GROUP_OPT_WEBHOOK:
		g->webhook_url = arg;
		return true;
	case GROUP_OPT_WEBHOOK_CONC:
		return group_u32(ctl, "--webhook-concurrency", arg, &g->webhook_concurrency);
	case GROUP_OPT_WEBHOOK_TIMEOUT:
		return ctl_duration(ctl, "--webhook-timeout", arg, &g->webhook_timeout_ns);
	case GROUP_OPT_WEBHOOK_INSECURE:
		g->webhook_insecure = true;
		return true;
	case GROUP_OPT_UPDATE:
		a->update = true;
		return true;
	case GROUP_OPT_INTERVAL:
		return ctl_duration(ctl, "--interval", arg, &a->interval_ns);
	default:
		return false;
	}
}

/* timerctl group. */
static int cmd_group_exec(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		CTL_GLOBAL_LONGOPTS,
		{ "topic", required_argument, NULL, GROUP_OPT_TOPIC },
		{ "ack-timeout", required_argument, NULL, GROUP_OPT_ACK_TIMEOUT },
		{ "max-attempts", required_argument, NULL, GROUP_OPT_MAX_ATTEMPTS },
		{ "backoff-min", required_argument, NULL, GROUP_OPT_BACKOFF_MIN },
		{ "backoff-max", required_argument, NULL, GROUP_OPT_BACKOFF_MAX },
		{ "max-backlog", required_argument, NULL, GROUP_OPT_MAX_BACKLOG },
		{ "unordered", no_argument, NULL, GROUP_OPT_UNORDERED },
		{ "webhook", required_argument, NULL, GROUP_OPT_WEBHOOK },
		{ "webhook-concurrency", required_argument, NULL, GROUP_OPT_WEBHOOK_CONC },
		{ "webhook-timeout", required_argument, NULL, GROUP_OPT_WEBHOOK_TIMEOUT },
		{ "webhook-insecure", no_argument, NULL, GROUP_OPT_WEBHOOK_INSECURE },
		{ "update", no_argument, NULL, GROUP_OPT_UPDATE },
		{ "interval", required_argument, NULL, GROUP_OPT_INTERVAL },
		{ NULL, 0, NULL, 0 },
	};
	struct group_args a = { .interval_ns = TIMERD_S };
	const char *sub, *name = NULL;
	int c, rc;

	a.g.topics = a.topics;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c >= GROUP_OPT_TOPIC && c <= GROUP_OPT_INTERVAL) {
			if (!group_opt(ctl, &a, c, optarg))
				return CTL_EXIT_USAGE;
		} else if (ctl_global_opt(ctl, &cmd_group_entry, c, optarg, &rc)) {
			return rc;
		}
	}
	if (optind >= argc)
		return ctl_usage(ctl, &cmd_group_entry, "say create, list, show or delete");
	sub = argv[optind++];
	if (strcmp(sub, "list") == 0) {
		if (optind != argc)
			return ctl_usage(ctl, &cmd_group_entry, "group list takes no argument");
	} else if (!strcmp(sub, "create") || !strcmp(sub, "show") || !strcmp(sub, "delete")) {
		if (argc - optind != 1)
			return ctl_usage(ctl, &cmd_group_entry, "say group %s GROUP", sub);
		name = argv[optind];
		if (!*name)
			return ctl_usage(ctl, &cmd_group_entry, "the group's name is empty");
	} else {
		return ctl_usage(ctl, &cmd_group_entry, "unknown group command '%s': say create, list, show or delete", sub);
	}
	if (strcmp(sub, "create") == 0 && !a.g.n_topics)
		return ctl_usage(ctl, &cmd_group_entry, "group create needs at least one --topic");
	if (strcmp(sub, "create") && a.create_opts)
		return ctl_usage(ctl, &cmd_group_entry, "--topic, --ack-timeout, --max-attempts... go with group create");
	a.g.name = name;
	if ((rc = ctl_connect(ctl)) != CTL_EXIT_OK)
		return rc;
	if (strcmp(sub, "create") == 0)
		return group_create(ctl, &a);
	if (strcmp(sub, "delete") == 0)
		return group_delete(ctl, name);
	if (strcmp(sub, "show") == 0)
		return group_show(ctl, name, a.interval_ns);
	return group_list(ctl);
}
