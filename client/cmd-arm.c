/*
 * cmd-arm.c -- timerctl arm: create or re-arm a timer, optionally wait for it.
 */
#include "config.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "client/timerctl.h"
#include "proto/units.h"

/* Largest --payload-file read (the server enforces its own limit). */
#define CMD_ARM_MAX_FILE (64u * 1024u * 1024u)

static int cmd_arm_exec(struct ctl *ctl, int argc, char **argv);

const struct cmd_entry cmd_arm_entry = {
	.name = "arm",
	.usage = "[KEY] (--in DURATION | --at TIME | --every DURATION | --on-calendar EXPR) [--ephemeral] "
		 "[--misfire fire|skip] [OPTIONS]",
	.help = "create a timer, or re-arm the one with this key",
	.options =
		"  --in DURATION         fire after this long (250ms, 5s, 1h30m)\n"
		"  --at TIME             fire at this wall-clock time (RFC 3339); follows clock changes\n"
		"  --every DURATION      fire periodically (first fire after one period unless --in/--at)\n"
		"  --on-calendar EXPR    fire at each elapse of a calendar schedule: systemd.time(7)\n"
		"                        ('Mon..Fri 09:00 Europe/Paris', '*:0/15', 'daily') or cron\n"
		"                        ('0 9 * * 1-5', 'CRON_TZ=Europe/Paris 0 9 * * *'); see timerctl calendar\n"
		"  --key KEY             the timer's key (same as the KEY argument)\n"
		"  --id ID               re-arm the timer with this id instead of a key\n"
		"  --topic TOPIC         watchers of TOPIC receive the fires\n"
		"  --payload TEXT        bytes delivered with every fire\n"
		"  --payload-file FILE   read the payload from FILE ('-': stdin)\n"
		"  --ephemeral           keep the timer in memory only: not stored, lost on restart\n"
		"  --misfire fire|skip   if it came due while timerd was down: fire it once, late\n"
		"                        (default), or skip it (a periodic timer goes on at its next period)\n"
		"  --wait                block until the timer fires and print the fire\n"
		"  --count N             with --wait: wait for N fires (periodic timers; default 1)\n"
		"  --wait-timeout DUR    with --wait: give up after DUR (exit code 5)\n",
	.exec = cmd_arm_exec,
};

struct cmd_arm_opts {
	struct timerd_arm a;
	bool have_time, wait;
	uint64_t count;
	int64_t wait_timeout;		/* ns; 0: none */
	char *payload_buf;
};

/* Parses --misfire; false (message printed) if it is not one of the policies. */
static bool cmd_arm_misfire(struct ctl *ctl, const char *s, enum timerd_misfire *m)
{
	if (strcmp(s, "fire") == 0) {
		*m = TIMERD_MISFIRE_FIRE;
		return true;
	}
	if (strcmp(s, "skip") == 0) {
		*m = TIMERD_MISFIRE_SKIP;
		return true;
	}
	ctl_usage(ctl, &cmd_arm_entry, "--misfire: '%s' is not a policy: give fire or skip", s);
	return false;
}

/* Parses the options into o; CTL_EXIT_OK, CTL_DONE (--help) or an exit code. */
static int cmd_arm_parse(struct ctl *ctl, int argc, char **argv, struct cmd_arm_opts *o)
{
	static const struct option opts[] = {
		CTL_GLOBAL_LONGOPTS,
		{ "in", required_argument, NULL, 'i' }, { "at", required_argument, NULL, 'a' },
		{ "every", required_argument, NULL, 'e' }, { "key", required_argument, NULL, 'k' },
		{ "id", required_argument, NULL, 'I' }, { "topic", required_argument, NULL, 't' },
		{ "payload", required_argument, NULL, 'p' }, { "payload-file", required_argument, NULL, 'f' },
		{ "wait", no_argument, NULL, 'w' }, { "count", required_argument, NULL, 'c' },
		{ "wait-timeout", required_argument, NULL, 'W' }, { "ephemeral", no_argument, NULL, 'E' },
		{ "misfire", required_argument, NULL, 'M' }, { "on-calendar", required_argument, NULL, 'C' },
		{ NULL, 0, NULL, 0 },
	};
	char err[256];
	int c, rc;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'i':
			if (o->have_time)
				return ctl_usage(ctl, &cmd_arm_entry, "give one of --in and --at");
			if (!ctl_duration(ctl, "--in", optarg, &o->a.time_ns))
				return CTL_EXIT_USAGE;
			o->a.when = TIMERD_AFTER;
			o->have_time = true;
			break;
		case 'a':
			if (o->have_time)
				return ctl_usage(ctl, &cmd_arm_entry, "give one of --in and --at");
			if (units_time_parse(optarg, &o->a.time_ns, err, sizeof(err)) < 0)
				return ctl_fail(ctl, CTL_EXIT_USAGE, "--at: %s", err);
			o->a.when = TIMERD_AT_UNIX;
			o->have_time = true;
			break;
		case 'e':
			if (!ctl_duration(ctl, "--every", optarg, &o->a.period_ns))
				return CTL_EXIT_USAGE;
			if (!o->a.period_ns)
				return ctl_usage(ctl, &cmd_arm_entry, "--every needs a positive duration");
			break;
		case 'k':
			o->a.key = optarg;
			break;
		case 'I':
			if (!ctl_u64(ctl, "--id", optarg, &o->a.timer_id))
				return CTL_EXIT_USAGE;
			break;
		case 't':
			o->a.topic = optarg;
			break;
		case 'p':
			o->a.payload = optarg;
			o->a.payload_len = strlen(optarg);
			break;
		case 'f':
			free(o->payload_buf);
			if (!(o->payload_buf = ctl_read_file(ctl, optarg, CMD_ARM_MAX_FILE, &o->a.payload_len)))
				return CTL_EXIT_USAGE;
			o->a.payload = o->payload_buf;
			break;
		case 'w':
			o->wait = true;
			break;
		case 'c':
			if (!ctl_u64(ctl, "--count", optarg, &o->count) || !o->count)
				return ctl_usage(ctl, &cmd_arm_entry, "--count needs a positive number");
			break;
		case 'W':
			if (!ctl_duration(ctl, "--wait-timeout", optarg, &o->wait_timeout))
				return CTL_EXIT_USAGE;
			break;
		case 'E':
			o->a.ephemeral = true;
			break;
		case 'M':
			if (!cmd_arm_misfire(ctl, optarg, &o->a.misfire))
				return CTL_EXIT_USAGE;
			break;
		case 'C':
			if (!*optarg)
				return ctl_usage(ctl, &cmd_arm_entry, "--on-calendar needs an expression");
			o->a.calendar = optarg;
			break;
		default:
			if (ctl_global_opt(ctl, &cmd_arm_entry, c, optarg, &rc))
				return rc == CTL_EXIT_OK ? CTL_DONE : rc;
		}
	}
	return CTL_EXIT_OK;
}

/* Checks the parsed options against each other and the positional KEY. */
static int cmd_arm_check(struct ctl *ctl, int argc, char **argv, struct cmd_arm_opts *o)
{
	if (optind < argc) {
		if (o->a.key || argc - optind > 1)
			return ctl_usage(ctl, &cmd_arm_entry, "give the key once");
		o->a.key = argv[optind];
	}
	if (o->a.key && o->a.timer_id)
		return ctl_usage(ctl, &cmd_arm_entry, "give a KEY or --id, not both");
	if (o->a.calendar && (o->have_time || o->a.period_ns))
		return ctl_usage(ctl, &cmd_arm_entry, "--on-calendar gives the times itself: leave out --in, --at and --every");
	if (!o->have_time && !o->a.period_ns && !o->a.calendar)
		return ctl_usage(ctl, &cmd_arm_entry, "say when: --in DURATION, --at TIME, --every DURATION or "
				 "--on-calendar EXPR");
	if (!o->have_time && !o->a.calendar) {
		o->a.when = TIMERD_AFTER;
		o->a.time_ns = o->a.period_ns;
	}
	if ((o->count || o->wait_timeout) && !o->wait)
		return ctl_usage(ctl, &cmd_arm_entry, "--count and --wait-timeout go with --wait");
	if (!o->count)
		o->count = 1;
	o->a.notify = o->wait;
	return CTL_EXIT_OK;
}

/* Prints the arm result. */
static void cmd_arm_print(struct ctl *ctl, const struct cmd_arm_opts *o, const struct timerd_arm_result *r)
{
	char when[UNITS_BUFSZ], in[UNITS_BUFSZ], every[UNITS_BUFSZ], mf[16];

	if (ctl->json) {
		printf("{\"timer_id\":%" PRIu64 ",\"key\":", r->timer_id);
		ctl_json_str(stdout, o->a.key);
		printf(",\"created\":%s,\"coalesced\":%s,\"deadline_mono_ns\":%" PRId64 ",\"deadline_unix_ns\":%" PRId64
		       ",\"period_ns\":%" PRId64 ",\"ephemeral\":%s,\"misfire\":\"%s\",\"calendar\":", r->created ? "true" : "false",
		       r->coalesced ? "true" : "false", r->deadline_mono_ns, r->deadline_unix_ns, o->a.period_ns,
		       o->a.ephemeral ? "true" : "false", ctl_misfire_name(o->a.misfire, mf));
		ctl_json_str(stdout, o->a.calendar ? o->a.calendar : "");
		printf("}\n");
	} else {
		printf("%s %s%s(id %" PRIu64 "): fires %s (in %s)", r->created ? "armed" : "re-armed",
		       o->a.key ? o->a.key : "", o->a.key ? " " : "", r->timer_id,
		       units_time_format(r->deadline_unix_ns, false, when, sizeof(when)),
		       units_duration_format(r->deadline_mono_ns - ctl_mono(), in, sizeof(in)));
		if (o->a.period_ns)
			printf(", then every %s", units_duration_format(o->a.period_ns, every, sizeof(every)));
		if (o->a.calendar)
			printf(", then on calendar '%s'", o->a.calendar);
		if (o->a.ephemeral)
			printf("; ephemeral (lost on restart)");
		if (o->a.misfire != TIMERD_MISFIRE_FIRE)
			printf("; misfire %s", ctl_misfire_name(o->a.misfire, mf));
		printf("\n");
	}
	fflush(stdout);
}

/* Waits for count fires of timer id; an exit code. */
static int cmd_arm_wait(struct ctl *ctl, const struct cmd_arm_opts *o, uint64_t id)
{
	int64_t deadline = o->wait_timeout ? ctl_mono() + o->wait_timeout : -1;
	uint64_t seen = 0;
	struct timerd_event *ev;
	int rc;

	while (seen < o->count) {
		int left = deadline < 0 ? -1 : (int)((deadline - ctl_mono()) / 1000000);

		rc = timerd_next_event(ctl->t, deadline >= 0 && left < 0 ? 0 : left, &ev);
		if (rc == TIMERD_ETIMEDOUT && deadline >= 0)
			return ctl_fail(ctl, CTL_EXIT_TIMEOUT, "timer %" PRIu64 " did not fire within --wait-timeout", id);
		if (rc != TIMERD_OK)
			return ctl_fail_call(ctl, rc, "waiting for the fire");
		if (ev->kind == TIMERD_EVENT_FIRE && ev->fire.timer_id == id) {
			ctl_print_fire(ctl, &ev->fire);
			seen++;
		} else if (ev->kind == TIMERD_EVENT_NOTICE) {
			ctl_print_notice(ctl, ev);
		}
		timerd_event_free(ev);
	}
	return CTL_EXIT_OK;
}

/* timerctl arm. */
static int cmd_arm_exec(struct ctl *ctl, int argc, char **argv)
{
	struct cmd_arm_opts o = { .a.when = TIMERD_AFTER };
	struct timerd_arm_result r;
	int rc;

	if ((rc = cmd_arm_parse(ctl, argc, argv, &o)) != CTL_EXIT_OK ||
	    (rc = cmd_arm_check(ctl, argc, argv, &o)) != CTL_EXIT_OK ||
	    (rc = ctl_connect(ctl)) != CTL_EXIT_OK)
		goto out;
	if ((rc = timerd_arm(ctl->t, &o.a, &r)) != TIMERD_OK) {
		rc = ctl_fail_call(ctl, rc, "arm");
		goto out;
	}
	cmd_arm_print(ctl, &o, &r);
	rc = o.wait ? cmd_arm_wait(ctl, &o, r.timer_id) : CTL_EXIT_OK;
out:
	free(o.payload_buf);
	return rc == CTL_DONE ? CTL_EXIT_OK : rc;
}
