/*
 * cmd-list.c -- timerctl list: pending timers as a table (next fire, time
 * left, period, topic, key, flags), like systemctl list-timers.
 */
#include "config.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "client/timerctl.h"
#include "proto/units.h"

static int cmd_list_exec(struct ctl *ctl, int argc, char **argv);

const struct cmd_entry cmd_list_entry = {
	.name = "list",
	.usage = "[--topic TOPIC] [--limit N] [--payload]",
	.help = "list pending timers, soonest first",
	.options =
		"  --topic TOPIC   only timers of TOPIC\n"
		"  --limit N       fetch at most N timers (default: all)\n"
		"  --payload       show payloads\n",
	.exec = cmd_list_exec,
};

/* Timers per List request. */
#define CMD_LIST_PAGE 1000

struct cmd_list_rows {
	struct timerd_list **pages;
	size_t npages;
	const struct timerd_timer **rows;
	size_t n;
};

/* Orders timers by next fire, then id. */
static int cmd_list_cmp(const void *a, const void *b)
{
	const struct timerd_timer *x = *(const struct timerd_timer *const *)a;
	const struct timerd_timer *y = *(const struct timerd_timer *const *)b;

	if (x->deadline_mono_ns != y->deadline_mono_ns)
		return x->deadline_mono_ns < y->deadline_mono_ns ? -1 : 1;
	return x->timer_id < y->timer_id ? -1 : x->timer_id > y->timer_id;
}

/* Fetches every page (up to limit timers) into rows; TIMERD_OK or a failure. */
static int cmd_list_fetch(struct ctl *ctl, const char *topic, uint64_t limit, bool payload,
			  struct cmd_list_rows *rows)
{
	uint64_t cursor = 0;
	struct timerd_list *page, **pages;
	int rc;

	do {
		uint64_t want = limit - rows->n < CMD_LIST_PAGE ? limit - rows->n : CMD_LIST_PAGE;

		if ((rc = timerd_list(ctl->t, topic, cursor, (uint32_t)want, payload, &page)) != TIMERD_OK)
			return rc;
		if (!(pages = realloc(rows->pages, (rows->npages + 1) * sizeof(*pages)))) {
			timerd_list_free(page);
			return TIMERD_ENOMEM;
		}
		rows->pages = pages;
		rows->pages[rows->npages++] = page;
		rows->n += page->n;
		cursor = page->next_cursor;
	} while (cursor && rows->n < limit);
	return TIMERD_OK;
}

/* Flattens the pages into a sorted row array. */
static bool cmd_list_sort(struct cmd_list_rows *rows)
{
	size_t k = 0;

	if (!(rows->rows = malloc((rows->n ? rows->n : 1) * sizeof(*rows->rows))))
		return false;
	for (size_t p = 0; p < rows->npages; p++)
		for (size_t i = 0; i < rows->pages[p]->n; i++)
			rows->rows[k++] = &rows->pages[p]->timers[i];
	qsort(rows->rows, rows->n, sizeof(*rows->rows), cmd_list_cmp);
	return true;
}

/* Prints one timer as a JSON line (members are only added after the old ones: scripts match them in order). */
static void cmd_list_json(const struct timerd_timer *t, int64_t now, bool payload)
{
	char mf[16];

	printf("{\"timer_id\":%" PRIu64 ",\"key\":", t->timer_id);
	ctl_json_str(stdout, t->key);
	printf(",\"topic\":");
	ctl_json_str(stdout, t->topic);
	printf(",\"deadline_mono_ns\":%" PRId64 ",\"deadline_unix_ns\":%" PRId64 ",\"left_ns\":%" PRId64
	       ",\"period_ns\":%" PRId64 ",\"realtime\":%s,\"payload_size\":%u,\"ephemeral\":%s,\"misfire\":\"%s\"",
	       t->deadline_mono_ns, t->deadline_unix_ns, t->deadline_mono_ns - now, t->period_ns,
	       t->realtime ? "true" : "false", t->payload_size, t->ephemeral ? "true" : "false",
	       ctl_misfire_name(t->misfire, mf));
	if (payload) {
		putchar(',');
		ctl_json_payload(stdout, t->payload, t->payload_len);
	}
	printf(",\"calendar\":");
	ctl_json_str(stdout, t->calendar);
	printf("}\n");
}

/* Column widths of the human table. */
struct cmd_list_w {
	int next, left, period, topic, key, id, flags;
};

/* Longest PERIOD cell: a duration, or a calendar schedule's normalised form (at most 128 bytes). */
#define CMD_LIST_PERIOD_SZ 160

/* Longest FLAGS cell: "ephemeral,misfire=" and a policy name. */
#define CMD_LIST_FLAGS_SZ 48

/* Formats the FLAGS cell: "ephemeral" and a misfire policy other than fire, or "-". */
static void cmd_list_flags(const struct timerd_timer *t, char flags[CMD_LIST_FLAGS_SZ])
{
	char mf[16];

	if (t->misfire != TIMERD_MISFIRE_FIRE)
		snprintf(flags, CMD_LIST_FLAGS_SZ, "%smisfire=%s", t->ephemeral ? "ephemeral," : "",
			 ctl_misfire_name(t->misfire, mf));
	else
		snprintf(flags, CMD_LIST_FLAGS_SZ, "%s", t->ephemeral ? "ephemeral" : "-");
}

/* Formats the cells of one row (PERIOD: the calendar schedule of a calendar timer). */
static void cmd_list_cells(const struct timerd_timer *t, int64_t now, char next[UNITS_BUFSZ],
			   char left[UNITS_BUFSZ], char period[CMD_LIST_PERIOD_SZ])
{
	units_time_format(t->deadline_unix_ns, false, next, UNITS_BUFSZ);
	units_duration_format(t->deadline_mono_ns - now, left, UNITS_BUFSZ);
	if (t->calendar && *t->calendar)
		snprintf(period, CMD_LIST_PERIOD_SZ, "%s", t->calendar);
	else if (t->period_ns)
		units_duration_format(t->period_ns, period, UNITS_BUFSZ);
	else
		strcpy(period, "-");
}

/* Widens w to fit every row. */
static void cmd_list_widths(const struct cmd_list_rows *rows, int64_t now, struct cmd_list_w *w)
{
	char next[UNITS_BUFSZ], left[UNITS_BUFSZ], period[CMD_LIST_PERIOD_SZ], flags[CMD_LIST_FLAGS_SZ];

	*w = (struct cmd_list_w){ 4, 4, 6, 5, 3, 2, 5 };
	for (size_t i = 0; i < rows->n; i++) {
		const struct timerd_timer *t = rows->rows[i];
		int tl = (int)strlen(t->topic), kl = (int)strlen(t->key);
		int il = snprintf(NULL, 0, "%" PRIu64, t->timer_id);

		cmd_list_cells(t, now, next, left, period);
		cmd_list_flags(t, flags);
		w->id = il > w->id ? il : w->id;
		w->flags = (int)strlen(flags) > w->flags ? (int)strlen(flags) : w->flags;
		w->next = (int)strlen(next) > w->next ? (int)strlen(next) : w->next;
		w->left = (int)strlen(left) > w->left ? (int)strlen(left) : w->left;
		w->period = (int)strlen(period) > w->period ? (int)strlen(period) : w->period;
		w->topic = tl > w->topic ? (tl > 40 ? 40 : tl) : w->topic;
		w->key = kl > w->key ? (kl > 60 ? 60 : kl) : w->key;
	}
}

/* Prints the table for humans. */
static void cmd_list_human(const struct cmd_list_rows *rows, int64_t now, bool payload)
{
	char next[UNITS_BUFSZ], left[UNITS_BUFSZ], period[CMD_LIST_PERIOD_SZ], flags[CMD_LIST_FLAGS_SZ];
	char sk[CTL_SAFE_SZ], st[CTL_SAFE_SZ];
	struct cmd_list_w w;
	int fw;

	cmd_list_widths(rows, now, &w);
	fw = payload ? w.flags : 0;	/* the last column unless payloads follow: no trailing blanks */
	printf("%-*s  %-*s  %-*s  %-*s  %-*s  %-*s  %-*s%s\n", w.next, "NEXT", w.left, "LEFT", w.period, "PERIOD",
	       w.topic, "TOPIC", w.key, "KEY", w.id, "ID", fw, "FLAGS", payload ? "  PAYLOAD" : "");
	for (size_t i = 0; i < rows->n; i++) {
		const struct timerd_timer *t = rows->rows[i];

		cmd_list_cells(t, now, next, left, period);
		cmd_list_flags(t, flags);
		printf("%-*s  %-*s  %-*s  %-*s  %-*s  %-*" PRIu64 "  %-*s", w.next, next, w.left, left, w.period,
		       period, w.topic, *t->topic ? ctl_safe(t->topic, st, sizeof(st)) : "-", w.key,
		       *t->key ? ctl_safe(t->key, sk, sizeof(sk)) : "-", w.id, t->timer_id, fw, flags);
		if (payload) {
			printf("  ");
			ctl_human_payload(stdout, t->payload, t->payload_len);
		}
		putchar('\n');
	}
	printf("\n%zu timer%s listed.\n", rows->n, rows->n == 1 ? "" : "s");
}

/* Frees the fetched pages. */
static void cmd_list_free(struct cmd_list_rows *rows)
{
	for (size_t p = 0; p < rows->npages; p++)
		timerd_list_free(rows->pages[p]);
	free(rows->pages);
	free(rows->rows);
}

/* timerctl list. */
static int cmd_list_exec(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		CTL_GLOBAL_LONGOPTS, { "topic", required_argument, NULL, 't' },
		{ "limit", required_argument, NULL, 'l' }, { "payload", no_argument, NULL, 'p' }, { NULL, 0, NULL, 0 },
	};
	struct cmd_list_rows rows = { 0 };
	const char *topic = NULL;
	uint64_t limit = UINT64_MAX;
	bool payload = false;
	int c, rc;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 't')
			topic = optarg;
		else if (c == 'p')
			payload = true;
		else if (c == 'l' && !ctl_u64(ctl, "--limit", optarg, &limit))
			return CTL_EXIT_USAGE;
		else if (c != 'l' && ctl_global_opt(ctl, &cmd_list_entry, c, optarg, &rc))
			return rc;
	}
	if (optind < argc)
		return ctl_usage(ctl, &cmd_list_entry, "unexpected argument '%s'", argv[optind]);
	if ((rc = ctl_connect(ctl)) != CTL_EXIT_OK)
		return rc;
	if ((rc = cmd_list_fetch(ctl, topic, limit, payload, &rows)) != TIMERD_OK) {
		cmd_list_free(&rows);
		return ctl_fail_call(ctl, rc, "list");
	}
	if (!cmd_list_sort(&rows)) {
		cmd_list_free(&rows);
		return ctl_fail(ctl, CTL_EXIT_FAILED, "out of memory sorting %zu timers", rows.n);
	}
	for (size_t i = 0; ctl->json && i < rows.n; i++)
		cmd_list_json(rows.rows[i], ctl_mono(), payload);
	if (!ctl->json)
		cmd_list_human(&rows, ctl_mono(), payload);
	cmd_list_free(&rows);
	return CTL_EXIT_OK;
}
