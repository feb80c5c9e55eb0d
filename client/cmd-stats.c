/*
 * cmd-stats.c -- timerctl stats: live counters from timerd, or the history
 * timerd wrote to stats.db (--history 10m).
 */
#include "config.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "client/timerctl.h"
#include "proto/addr.h"
#include "proto/units.h"

static int cmd_stats_exec(struct ctl *ctl, int argc, char **argv);

const struct cmd_entry cmd_stats_entry = {
	.name = "stats",
	.usage = "[--history DURATION [--db PATH]]",
	.help = "show timerd's counters, or their history from stats.db",
	.options =
		"  --history DURATION   rows stats.db holds for the last DURATION (e.g. 10m)\n"
		"  --db PATH            stats.db to read (default: the one timerd reports,\n"
		"                       else the default state directory's)\n",
	.exec = cmd_stats_exec,
};

/* True if a counter name is a duration in ns. */
static bool cmd_stats_is_ns(const char *name)
{
	size_t n = strlen(name);

	return n > 3 && strcmp(name + n - 3, "_ns") == 0;
}

/* Prints the string fields of a group (flat_walk gives only numbers) for humans. */
static void cmd_stats_strings_human(const struct timerd_stats *s, const char *group)
{
	if (strcmp(group, "store") != 0)
		return;
	printf("  %-24s %s\n", "fsync", *s->store_fsync ? s->store_fsync : "-");
	printf("  %-24s %s\n", "path", *s->store_path ? s->store_path : "-");
	printf("  %-24s %s\n", "last_error", *s->store_last_error ? s->store_last_error : "-");
}

/* Prints the string fields of a group as JSON members, each followed by a comma. */
static void cmd_stats_strings_json(const struct timerd_stats *s, const char *group)
{
	if (strcmp(group, "store") != 0)
		return;
	printf("\"fsync\":");
	ctl_json_str(stdout, s->store_fsync);
	printf(",\"path\":");
	ctl_json_str(stdout, s->store_path);
	printf(",\"last_error\":");
	ctl_json_str(stdout, s->store_last_error);
	putchar(',');
}

/* Prints live counters, grouped, for humans. */
static void cmd_stats_human(const struct timerd_stats *s)
{
	char group[64] = "", b[UNITS_BUFSZ];

	printf("%s    stats.db: %s\n", s->version, *s->stats_db ? s->stats_db : "(off)");
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i].name, "server.insecure") == 0 && s->v[i].value)
			printf("WARNING: this timerd runs with --insecure: its TCP and HTTP listeners may admit anyone "
			       "without TLS or authentication (doc/security.md, Exposure rules)\n");
	for (size_t i = 0; i < s->n; i++) {
		const char *dot = strchr(s->v[i].name, '.');
		size_t gl = dot ? (size_t)(dot - s->v[i].name) : 0;

		if (gl && (strlen(group) != gl || strncmp(group, s->v[i].name, gl) != 0)) {
			snprintf(group, sizeof(group), "%.*s", (int)gl, s->v[i].name);
			printf("%s:\n", group);
			cmd_stats_strings_human(s, group);
		}
		if (cmd_stats_is_ns(s->v[i].name))
			printf("  %-24s %s\n", dot ? dot + 1 : s->v[i].name,
			       units_duration_format(s->v[i].value, b, sizeof(b)));
		else
			printf("  %-24s %" PRId64 "\n", dot ? dot + 1 : s->v[i].name, s->v[i].value);
	}
}

/* Prints live counters as one JSON object with a member per group. */
static void cmd_stats_json(const struct timerd_stats *s)
{
	char group[64] = "";

	printf("{\"version\":");
	ctl_json_str(stdout, s->version);
	printf(",\"stats_db\":");
	ctl_json_str(stdout, s->stats_db);
	printf(",\"now_mono_ns\":%" PRId64 ",\"now_unix_ns\":%" PRId64, s->now_mono_ns, s->now_unix_ns);
	for (size_t i = 0; i < s->n; i++) {
		const char *dot = strchr(s->v[i].name, '.');
		size_t gl = dot ? (size_t)(dot - s->v[i].name) : 0;

		if (strlen(group) != gl || strncmp(group, s->v[i].name, gl) != 0) {
			printf("%s,\"%.*s\":{", *group ? "}" : "", (int)gl, s->v[i].name);
			snprintf(group, sizeof(group), "%.*s", (int)gl, s->v[i].name);
			cmd_stats_strings_json(s, group);
		} else {
			putchar(',');
		}
		printf("\"%s\":%" PRId64, dot ? dot + 1 : s->v[i].name, s->v[i].value);
	}
	printf("%s}\n", *group ? "}" : "");
}

/* Live counters from the daemon. */
static int cmd_stats_live(struct ctl *ctl)
{
	struct timerd_stats *s;
	int rc;

	if ((rc = ctl_connect(ctl)) != CTL_EXIT_OK)
		return rc;
	if ((rc = timerd_stats(ctl->t, &s)) != TIMERD_OK)
		return ctl_fail_call(ctl, rc, "stats");
	if (ctl->json)
		cmd_stats_json(s);
	else
		cmd_stats_human(s);
	timerd_stats_free(s);
	return CTL_EXIT_OK;
}

/* Finds stats.db: --db, else the running daemon's, else the default state dir's. */
static void cmd_stats_db_path(struct ctl *ctl, const char *given, char *buf, size_t len)
{
	struct timerd_options opt = ctl_options(ctl);
	struct timerd_stats *s = NULL;
	struct timerd_error e;
	char dir[256];

	if (given) {
		snprintf(buf, len, "%s", given);
		return;
	}
	if (timerd_connect(ctl->addr, &opt, &ctl->t, &e) == TIMERD_OK && timerd_stats(ctl->t, &s) == TIMERD_OK &&
	    *s->stats_db) {
		snprintf(buf, len, "%s", s->stats_db);
		timerd_stats_free(s);
		return;
	}
	timerd_stats_free(s);
	addr_default_state_dir(dir, sizeof(dir));
	snprintf(buf, len, "%s/stats.db", dir);
}

/* Reads a named column of the current row as int64 (0 if absent). */
static int64_t cmd_stats_col(sqlite3_stmt *st, const char *name)
{
	for (int i = 0; i < sqlite3_column_count(st); i++)
		if (strcmp(sqlite3_column_name(st, i), name) == 0)
			return sqlite3_column_int64(st, i);
	return 0;
}

/* Prints one history row as a JSON object of every column. */
static void cmd_stats_row_json(sqlite3_stmt *st)
{
	putchar('{');
	for (int i = 0; i < sqlite3_column_count(st); i++) {
		if (i)
			putchar(',');
		ctl_json_str(stdout, sqlite3_column_name(st, i));
		if (sqlite3_column_type(st, i) == SQLITE_TEXT) {
			putchar(':');
			ctl_json_str(stdout, (const char *)sqlite3_column_text(st, i));
		} else {
			printf(":%" PRId64, (int64_t)sqlite3_column_int64(st, i));
		}
	}
	printf("}\n");
}

/* The columns the human history table shows, as rates where cumulative. */
struct cmd_stats_prev {
	int64_t ts, arms, fires, frames, errors;
	bool have;
};

/* Prints one history row for humans: rates against the previous row. */
static void cmd_stats_row_human(sqlite3_stmt *st, struct cmd_stats_prev *p)
{
	int64_t ts = cmd_stats_col(st, "ts_ms"), arms = cmd_stats_col(st, "engine_arms");
	int64_t fires = cmd_stats_col(st, "engine_fires"), frames = cmd_stats_col(st, "server_frames_in");
	int64_t errors = cmd_stats_col(st, "server_errors");
	double dt = p->have && ts > p->ts ? (double)(ts - p->ts) / 1000.0 : 0;
	char when[UNITS_BUFSZ], late[UNITS_BUFSZ];

	units_time_format(ts * 1000000, false, when, sizeof(when));
	units_duration_format(cmd_stats_col(st, "engine_late_p99_ns"), late, sizeof(late));
	if (dt > 0)
		printf("%-29s  %10.0f  %10.0f  %10.0f  %10.0f", when, (double)(arms - p->arms) / dt,
		       (double)(fires - p->fires) / dt, (double)(frames - p->frames) / dt,
		       (double)(errors - p->errors) / dt);
	else
		printf("%-29s  %10s  %10s  %10s  %10s", when, "-", "-", "-", "-");
	printf("  %10" PRId64 "  %6" PRId64 "  %9s\n", cmd_stats_col(st, "engine_pending"),
	       cmd_stats_col(st, "server_conns"), late);
	*p = (struct cmd_stats_prev){ ts, arms, fires, frames, errors, true };
}

/* Opens stats.db read-only; NULL with a message printed. */
static sqlite3 *cmd_stats_open(struct ctl *ctl, const char *path)
{
	sqlite3 *db = NULL;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		ctl_fail(ctl, CTL_EXIT_FAILED, "cannot open %s: %s (is timerd writing stats there? pass --db PATH)",
			 path, db ? sqlite3_errmsg(db) : "out of memory");
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_busy_timeout(db, 2000);
	return db;
}

/* Rows of the last `span` ns from stats.db. */
static int cmd_stats_history(struct ctl *ctl, int64_t span, const char *dbpath)
{
	struct cmd_stats_prev prev = { 0 };
	char path[1024];
	sqlite3_stmt *st = NULL;
	sqlite3 *db;
	int rows = 0, rc;

	cmd_stats_db_path(ctl, dbpath, path, sizeof(path));
	if (!(db = cmd_stats_open(ctl, path)))
		return CTL_EXIT_FAILED;
	if (sqlite3_prepare_v2(db, "SELECT * FROM stats WHERE ts_ms >= ? ORDER BY ts_ms", -1, &st, NULL) != SQLITE_OK) {
		rc = ctl_fail(ctl, CTL_EXIT_FAILED, "cannot read %s: %s", path, sqlite3_errmsg(db));
		sqlite3_close(db);
		return rc;
	}
	sqlite3_bind_int64(st, 1, (ctl_real() - span) / 1000000);
	if (!ctl->json)
		printf("%-29s  %10s  %10s  %10s  %10s  %10s  %6s  %9s\n", "TIME", "ARMS/S", "FIRES/S", "REQS/S",
		       "ERRORS/S", "PENDING", "CONNS", "LATE P99");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		rows++;
		if (ctl->json)
			cmd_stats_row_json(st);
		else
			cmd_stats_row_human(st, &prev);
	}
	if (rc != SQLITE_DONE)
		ctl_fail(ctl, CTL_EXIT_FAILED, "reading %s: %s", path, sqlite3_errmsg(db));
	if (!ctl->json)
		printf("\n%d row%s from %s\n", rows, rows == 1 ? "" : "s", path);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rc == SQLITE_DONE ? CTL_EXIT_OK : CTL_EXIT_FAILED;
}

/* timerctl stats. */
static int cmd_stats_exec(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = { CTL_GLOBAL_LONGOPTS, { "history", required_argument, NULL, 'H' },
					      { "db", required_argument, NULL, 'd' }, { NULL, 0, NULL, 0 } };
	const char *db = NULL;
	int64_t span = -1;
	int c, rc;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'H') {
			if (!ctl_duration(ctl, "--history", optarg, &span))
				return CTL_EXIT_USAGE;
		} else if (c == 'd') {
			db = optarg;
		} else if (ctl_global_opt(ctl, &cmd_stats_entry, c, optarg, &rc)) {
			return rc;
		}
	}
	if (optind < argc)
		return ctl_usage(ctl, &cmd_stats_entry, "unexpected argument '%s'", argv[optind]);
	if (db && span < 0)
		return ctl_usage(ctl, &cmd_stats_entry, "--db goes with --history");
	return span >= 0 ? cmd_stats_history(ctl, span, db) : cmd_stats_live(ctl);
}
