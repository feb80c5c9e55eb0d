/*
 * cmd-top.c -- timerctl top: timerd's live view in the terminal, redrawn
 * every interval (like redis-cli --stat or htop): pending timers, arms/s and
 * fires/s from counter deltas, lateness percentiles, connections, probes,
 * errors and the next timers due. --once prints one snapshot and exits.
 *
 * Each refresh is one Stats, one ProbeList and a bounded walk of List pages
 * (TOP_SCAN_MAX timers) keeping the soonest --next of them; with more timers
 * pending than that, the "next due" table says it is the soonest of those
 * scanned, not of all.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client/timerctl.h"
#include "proto/units.h"

static int cmd_top_exec(struct ctl *ctl, int argc, char **argv);

const struct cmd_entry cmd_top_entry = {
	.name = "top",
	.usage = "[--once] [--interval DURATION] [--next N]",
	.help = "live view of timerd: rates, lateness, connections, probes, errors, next timers due",
	.options =
		"  --once               print one snapshot (rates over one interval) and exit\n"
		"  --interval DURATION  refresh every DURATION (default 1s, at least 100ms)\n"
		"  --next N             show the N timers due soonest (default 10, at most 100)\n"
		"  --json               one JSON object per snapshot (one line each)\n",
	.exec = cmd_top_exec,
};

/* Timers per List request, and the most one refresh walks. */
#define TOP_PAGE 1000
#define TOP_SCAN_MAX 10000
#define TOP_NEXT_MAX 100

/* One of the timers due soonest (strings copied out of the List page). */
struct top_next {
	uint64_t id;
	int64_t deadline_mono, deadline_unix, period;
	char *key, *topic;
};

/* What one refresh read from timerd. */
struct top_sample {
	struct timerd_stats *st;
	struct timerd_probes *probes;	/* NULL if the daemon has no probe manager */
	struct top_next next[TOP_NEXT_MAX];
	size_t nnext, scanned;
	bool complete;			/* every pending timer was scanned */
};

/* Rates between two samples, per second; valid false on the first sample. */
struct top_rates {
	bool valid;
	double dt, arms, fires, cancels, reqs, errors, hits, drops, missed;
};

/* The counter name's value in a sample, 0 if not reported. */
static int64_t cmd_top_get(const struct top_sample *s, const char *name)
{
	int64_t v = 0;

	return s->st && timerd_stats_get(s->st, name, &v) ? v : 0;
}

/* Frees what a sample holds and empties it. */
static void cmd_top_sample_free(struct top_sample *s)
{
	timerd_stats_free(s->st);
	timerd_probes_free(s->probes);
	for (size_t i = 0; i < s->nnext; i++) {
		free(s->next[i].key);
		free(s->next[i].topic);
	}
	memset(s, 0, sizeof(*s));
}

/* Inserts a timer into the sorted soonest-k array if it belongs there; false if out of memory. */
static bool cmd_top_keep(struct top_sample *s, size_t k, const struct timerd_timer *t)
{
	size_t at = s->nnext;

	while (at > 0 && (s->next[at - 1].deadline_mono > t->deadline_mono_ns ||
			  (s->next[at - 1].deadline_mono == t->deadline_mono_ns && s->next[at - 1].id > t->timer_id)))
		at--;
	if (at >= k)
		return true;
	if (s->nnext == k) {
		free(s->next[k - 1].key);
		free(s->next[k - 1].topic);
		s->nnext--;
	}
	memmove(&s->next[at + 1], &s->next[at], (s->nnext - at) * sizeof(s->next[0]));
	s->next[at] = (struct top_next){ t->timer_id, t->deadline_mono_ns, t->deadline_unix_ns, t->period_ns,
					 strdup(t->key), strdup(t->topic) };
	s->nnext++;
	return s->next[at].key && s->next[at].topic;
}

/* Walks List pages (up to TOP_SCAN_MAX timers), keeping the k soonest; TIMERD_OK or a failure. */
static int cmd_top_scan(struct ctl *ctl, struct top_sample *s, size_t k)
{
	uint64_t cursor = 0;
	struct timerd_list *page;
	int rc;

	do {
		if ((rc = timerd_list(ctl->t, NULL, cursor, TOP_PAGE, false, &page)) != TIMERD_OK)
			return rc;
		for (size_t i = 0; i < page->n; i++)
			if (!cmd_top_keep(s, k, &page->timers[i])) {
				timerd_list_free(page);
				return TIMERD_ENOMEM;
			}
		s->scanned += page->n;
		cursor = page->next_cursor;
		timerd_list_free(page);
	} while (cursor && s->scanned < TOP_SCAN_MAX);
	s->complete = cursor == 0;
	return TIMERD_OK;
}

/* Reads one sample; TIMERD_OK or the failing call's code. */
static int cmd_top_read(struct ctl *ctl, struct top_sample *s, size_t k)
{
	int rc;

	if ((rc = timerd_stats(ctl->t, &s->st)) != TIMERD_OK)
		return rc;
	rc = timerd_probe_list(ctl->t, &s->probes);
	if (rc != TIMERD_OK && rc != TIMERD_EUNAVAIL && rc != TIMERD_EPERM)
		return rc;
	return k ? cmd_top_scan(ctl, s, k) : TIMERD_OK;
}

/* Per-second rate of a counter between two samples (0 if it went backwards: a restart). */
static double cmd_top_rate(const struct top_sample *a, const struct top_sample *b, const char *name, double dt)
{
	int64_t d = cmd_top_get(b, name) - cmd_top_get(a, name);

	return d > 0 ? (double)d / dt : 0;
}

/* Rates from the previous sample to this one; invalid across a daemon restart. */
static struct top_rates cmd_top_rates(const struct top_sample *prev, const struct top_sample *cur)
{
	struct top_rates r = { 0 };

	if (!prev->st || !cur->st || cur->st->now_mono_ns <= prev->st->now_mono_ns ||
	    cmd_top_get(cur, "server.uptime_ns") < cmd_top_get(prev, "server.uptime_ns"))
		return r;
	r.valid = true;
	r.dt = (double)(cur->st->now_mono_ns - prev->st->now_mono_ns) / 1e9;
	r.arms = cmd_top_rate(prev, cur, "engine.arms", r.dt);
	r.fires = cmd_top_rate(prev, cur, "engine.fires", r.dt);
	r.cancels = cmd_top_rate(prev, cur, "engine.cancels", r.dt);
	r.missed = cmd_top_rate(prev, cur, "engine.missed", r.dt);
	r.reqs = cmd_top_rate(prev, cur, "server.frames_in", r.dt);
	r.errors = cmd_top_rate(prev, cur, "server.errors", r.dt);
	r.hits = cmd_top_rate(prev, cur, "probes.hits", r.dt);
	r.drops = cmd_top_rate(prev, cur, "probes.ring_drops", r.dt);
	return r;
}

/* Formats a rate ("1234", "0.5") or "-" before there are two samples. */
static const char *cmd_top_fmt_rate(const struct top_rates *r, double v, char *buf, size_t len)
{
	if (!r->valid)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, v >= 10 || v == 0 ? "%.0f" : "%.1f", v);
	return buf;
}

/* Formats a duration counter of the sample. */
static const char *cmd_top_fmt_ns(const struct top_sample *s, const char *name, char *buf)
{
	return units_duration_format(cmd_top_get(s, name), buf, UNITS_BUFSZ);
}

/* Prints the header, timers, requests and lateness lines. */
static void cmd_top_human_rates(const struct top_sample *s, const struct top_rates *r)
{
	char a[32], f[32], c[32], q[32], e[32], m[32], up[UNITS_BUFSZ], now[UNITS_BUFSZ];
	char p50[UNITS_BUFSZ], p90[UNITS_BUFSZ], p99[UNITS_BUFSZ], p999[UNITS_BUFSZ], mx[UNITS_BUFSZ];

	printf("%s  uptime=%s  time=%s\n", s->st->version, cmd_top_fmt_ns(s, "server.uptime_ns", up),
	       units_time_format(s->st->now_unix_ns, true, now, sizeof(now)));
	printf("timers       pending=%" PRId64 "  arms/s=%s  fires/s=%s  cancels/s=%s  missed/s=%s  inflight=%" PRId64 "\n",
	       cmd_top_get(s, "engine.pending"), cmd_top_fmt_rate(r, r->arms, a, sizeof(a)),
	       cmd_top_fmt_rate(r, r->fires, f, sizeof(f)), cmd_top_fmt_rate(r, r->cancels, c, sizeof(c)),
	       cmd_top_fmt_rate(r, r->missed, m, sizeof(m)), cmd_top_get(s, "engine.inflight"));
	printf("requests     req/s=%s  errors/s=%s\n", cmd_top_fmt_rate(r, r->reqs, q, sizeof(q)),
	       cmd_top_fmt_rate(r, r->errors, e, sizeof(e)));
	printf("lateness     dispatch p50=%s p90=%s p99=%s p99.9=%s max=%s (%" PRId64 " fires since start)\n",
	       cmd_top_fmt_ns(s, "engine.late_p50_ns", p50), cmd_top_fmt_ns(s, "engine.late_p90_ns", p90),
	       cmd_top_fmt_ns(s, "engine.late_p99_ns", p99), cmd_top_fmt_ns(s, "engine.late_p999_ns", p999),
	       cmd_top_fmt_ns(s, "engine.late_max_ns", mx), cmd_top_get(s, "engine.late_count"));
	printf("             delivery p50=%s p99=%s max=%s (%" PRId64 " fire events since start)\n",
	       cmd_top_fmt_ns(s, "server.late_p50_ns", p50), cmd_top_fmt_ns(s, "server.late_p99_ns", p99),
	       cmd_top_fmt_ns(s, "server.late_max_ns", mx), cmd_top_get(s, "server.late_count"));
	printf("connections  open=%" PRId64 "  accepted=%" PRId64 "  rejected=%" PRId64 "  watchers=%" PRId64 "\n",
	       cmd_top_get(s, "server.conns"), cmd_top_get(s, "server.conns_accepted"),
	       cmd_top_get(s, "server.conns_rejected"), cmd_top_get(s, "server.watchers"));
}

/*
 * Copies s for a terminal into buf (at most len - 1 bytes): control
 * characters (C0, DEL and C1 as UTF-8) become '?', so a key or topic
 * cannot move the cursor or recolour the screen. Returns buf.
 */
static const char *cmd_top_safe(const char *s, char *buf, size_t len)
{
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p && o + 1 < len; p++) {
		if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			buf[o++] = '?';
			p++;
		} else {
			buf[o++] = *p < 0x20 || *p == 0x7f ? '?' : (char)*p;
		}
	}
	buf[o] = '\0';
	return buf;
}

/* Prints the probes line and, if any are attached, one row per probe. */
static void cmd_top_human_probes(const struct top_sample *s, const struct top_rates *r)
{
	char h[32], d[32], spec[256];

	if (!cmd_top_get(s, "probes.available")) {
		printf("probes       unavailable (no BPF probe manager in this timerd)\n");
		return;
	}
	printf("probes       attached=%" PRId64 "  hits=%" PRId64 "  hits/s=%s  drops=%" PRId64 "  drops/s=%s"
	       "  errors=%" PRId64 "  misses=%" PRId64 "\n",
	       cmd_top_get(s, "probes.attached"), cmd_top_get(s, "probes.hits"),
	       cmd_top_fmt_rate(r, r->hits, h, sizeof(h)), cmd_top_get(s, "probes.ring_drops"),
	       cmd_top_fmt_rate(r, r->drops, d, sizeof(d)), cmd_top_get(s, "probes.errors"),
	       cmd_top_get(s, "probes.misses"));
	for (size_t i = 0; s->probes && i < s->probes->n; i++) {
		const struct timerd_probe *p = &s->probes->v[i];

		printf("  probe %-4u hits=%" PRIu64 " arms=%" PRIu64 " cancels=%" PRIu64 " drops=%" PRIu64
		       " errors=%" PRIu64 "  %s\n", p->probe_id, p->hits, p->arms, p->cancels, p->ring_drops,
		       p->errors, cmd_top_safe(p->spec, spec, sizeof(spec)));
	}
}

/* Prints the errors line: totals, then every error counter that is not zero. */
static void cmd_top_human_errors(const struct top_sample *s)
{
	printf("errors       server=%" PRId64 "  engine=%" PRId64 "  stats_db=%" PRId64 "  store_commits=%" PRId64,
	       cmd_top_get(s, "server.errors"), cmd_top_get(s, "engine.errors"), cmd_top_get(s, "server.db_errors"),
	       cmd_top_get(s, "store.commit_errors"));
	for (size_t i = 0; i < s->st->n; i++)
		if (strncmp(s->st->v[i].name, "server.err_", 11) == 0 && s->st->v[i].value)
			printf("  %s=%" PRId64, s->st->v[i].name + 11, s->st->v[i].value);
	if (cmd_top_get(s, "store.failing"))
		printf("  store FAILING: %s", *s->st->store_last_error ? s->st->store_last_error : "(no message)");
	putchar('\n');
}

/* Prints the table of the timers due soonest. */
static void cmd_top_human_next(const struct top_sample *s, int64_t now)
{
	char left[UNITS_BUFSZ], when[UNITS_BUFSZ], per[UNITS_BUFSZ], topic[41], key[61];

	if (s->complete)
		printf("next due     %zu of %" PRId64 " pending\n", s->nnext, cmd_top_get(s, "engine.pending"));
	else
		printf("next due     %zu soonest of the first %zu listed (%" PRId64 " pending)\n", s->nnext, s->scanned,
		       cmd_top_get(s, "engine.pending"));
	if (!s->nnext)
		return;
	printf("  %-10s  %-24s  %-8s  %-20s  %s\n", "LEFT", "NEXT", "PERIOD", "TOPIC", "KEY");
	for (size_t i = 0; i < s->nnext; i++) {
		const struct top_next *t = &s->next[i];

		units_duration_format(t->deadline_mono - now, left, sizeof(left));
		units_time_format(t->deadline_unix, true, when, sizeof(when));
		if (t->period)
			units_duration_format(t->period, per, sizeof(per));
		else
			strcpy(per, "-");
		printf("  %-10s  %-24s  %-8s  %-20s  %s\n", left, when, per,
		       *t->topic ? cmd_top_safe(t->topic, topic, sizeof(topic)) : "-",
		       *t->key ? cmd_top_safe(t->key, key, sizeof(key)) : "-");
	}
}

/* Prints one snapshot for humans (and scripts: name=value fields). */
static void cmd_top_human(const struct top_sample *s, const struct top_rates *r, size_t k)
{
	cmd_top_human_rates(s, r);
	cmd_top_human_probes(s, r);
	cmd_top_human_errors(s);
	if (k)
		cmd_top_human_next(s, s->st->now_mono_ns);
}

/* Writes a rate as a JSON number, or null before there are two samples. */
static void cmd_top_json_rate(const char *name, const struct top_rates *r, double v)
{
	if (r->valid)
		printf(",\"%s\":%.3f", name, v);
	else
		printf(",\"%s\":null", name);
}

/* Writes "name":value for each counter of the list (names after the group's dot). */
static void cmd_top_json_ctrs(const struct top_sample *s, const char *const *names)
{
	for (size_t i = 0; names[i]; i++)
		printf("%s\"%s\":%" PRId64, i ? "," : "", strchr(names[i], '.') + 1, cmd_top_get(s, names[i]));
}

/* Writes the probes member. */
static void cmd_top_json_probes(const struct top_sample *s)
{
	static const char *const tot[] = { "probes.attached", "probes.hits", "probes.arms", "probes.cancels",
					   "probes.ring_drops", "probes.errors", "probes.misses", NULL };

	printf(",\"probes\":{\"available\":%s,", cmd_top_get(s, "probes.available") ? "true" : "false");
	cmd_top_json_ctrs(s, tot);
	printf(",\"list\":[");
	for (size_t i = 0; s->probes && i < s->probes->n; i++) {
		const struct timerd_probe *p = &s->probes->v[i];

		printf("%s{\"probe_id\":%u,\"hits\":%" PRIu64 ",\"arms\":%" PRIu64 ",\"cancels\":%" PRIu64
		       ",\"ring_drops\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"spec\":", i ? "," : "", p->probe_id,
		       p->hits, p->arms, p->cancels, p->ring_drops, p->errors);
		ctl_json_str(stdout, p->spec);
		putchar('}');
	}
	printf("]}");
}

/* Writes the errors member: totals and every server.err_* counter. */
static void cmd_top_json_errors(const struct top_sample *s)
{
	printf(",\"errors\":{\"server\":%" PRId64 ",\"engine\":%" PRId64 ",\"stats_db\":%" PRId64
	       ",\"store_commits\":%" PRId64 ",\"store_failing\":%s,\"store_last_error\":",
	       cmd_top_get(s, "server.errors"), cmd_top_get(s, "engine.errors"), cmd_top_get(s, "server.db_errors"),
	       cmd_top_get(s, "store.commit_errors"), cmd_top_get(s, "store.failing") ? "true" : "false");
	ctl_json_str(stdout, s->st->store_last_error);
	printf(",\"by_code\":{");
	for (size_t i = 0, n = 0; i < s->st->n; i++)
		if (strncmp(s->st->v[i].name, "server.err_", 11) == 0)
			printf("%s\"%s\":%" PRId64, n++ ? "," : "", s->st->v[i].name + 11, s->st->v[i].value);
	printf("}}");
}

/* Writes the next member: the timers due soonest. */
static void cmd_top_json_next(const struct top_sample *s)
{
	printf(",\"next\":{\"complete\":%s,\"scanned\":%zu,\"timers\":[", s->complete ? "true" : "false", s->scanned);
	for (size_t i = 0; i < s->nnext; i++) {
		const struct top_next *t = &s->next[i];

		printf("%s{\"timer_id\":%" PRIu64 ",\"key\":", i ? "," : "", t->id);
		ctl_json_str(stdout, t->key);
		printf(",\"topic\":");
		ctl_json_str(stdout, t->topic);
		printf(",\"deadline_unix_ns\":%" PRId64 ",\"left_ns\":%" PRId64 ",\"period_ns\":%" PRId64 "}",
		       t->deadline_unix, t->deadline_mono - s->st->now_mono_ns, t->period);
	}
	printf("]}");
}

/* Prints one snapshot as one JSON line. */
static void cmd_top_json(const struct top_sample *s, const struct top_rates *r)
{
	static const char *const late_e[] = { "engine.late_count", "engine.late_p50_ns", "engine.late_p90_ns",
					      "engine.late_p99_ns", "engine.late_p999_ns", "engine.late_max_ns", NULL };
	static const char *const late_s[] = { "server.late_count", "server.late_p50_ns", "server.late_p99_ns",
					      "server.late_max_ns", NULL };
	static const char *const conns[] = { "server.conns", "server.conns_accepted", "server.conns_rejected",
					     "server.watchers", NULL };

	printf("{\"version\":");
	ctl_json_str(stdout, s->st->version);
	printf(",\"now_unix_ns\":%" PRId64 ",\"uptime_ns\":%" PRId64 ",\"interval_ns\":%.0f,\"pending\":%" PRId64
	       ",\"inflight\":%" PRId64, s->st->now_unix_ns, cmd_top_get(s, "server.uptime_ns"), r->dt * 1e9,
	       cmd_top_get(s, "engine.pending"), cmd_top_get(s, "engine.inflight"));
	cmd_top_json_rate("arms_per_s", r, r->arms);
	cmd_top_json_rate("fires_per_s", r, r->fires);
	cmd_top_json_rate("cancels_per_s", r, r->cancels);
	cmd_top_json_rate("missed_per_s", r, r->missed);
	cmd_top_json_rate("requests_per_s", r, r->reqs);
	cmd_top_json_rate("errors_per_s", r, r->errors);
	printf(",\"lateness\":{\"dispatch\":{");
	cmd_top_json_ctrs(s, late_e);
	printf("},\"delivery\":{");
	cmd_top_json_ctrs(s, late_s);
	printf("}},\"connections\":{");
	cmd_top_json_ctrs(s, conns);
	putchar('}');
	cmd_top_json_probes(s);
	cmd_top_json_errors(s);
	cmd_top_json_next(s);
	printf("}\n");
}

/* Set by SIGINT or SIGTERM: the live view ends. */
static volatile sig_atomic_t cmd_top_stop;

/* Signal handler: asks the live view to end. */
static void cmd_top_on_signal(int sig)
{
	(void)sig;
	cmd_top_stop = 1;
}

/* Sleeps until the monotonic time `until` (ns) or a stop signal. */
static void cmd_top_sleep_until(int64_t until)
{
	struct timespec ts = { .tv_sec = until / 1000000000, .tv_nsec = until % 1000000000 };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR && !cmd_top_stop)
		;
}

/* Connects if not connected and reads a sample; TIMERD_OK, or a failure with its message in err. */
static int cmd_top_poll(struct ctl *ctl, struct top_sample *s, size_t k, char *err, size_t errlen)
{
	struct timerd_options opt = ctl_options(ctl);	/* --tls, --user */
	struct timerd_error e;
	int rc;

	if (!ctl->t && (rc = timerd_connect(ctl->addr, &opt, &ctl->t, &e)) != TIMERD_OK) {
		snprintf(err, errlen, "%s", e.message);
		return rc;
	}
	if ((rc = cmd_top_read(ctl, s, k)) != TIMERD_OK) {
		snprintf(err, errlen, "%s", timerd_errmsg(ctl->t));
		timerd_close(ctl->t);	/* reconnect on the next refresh */
		ctl->t = NULL;
		cmd_top_sample_free(s);
	}
	return rc;
}

/* Options of one run. */
struct top_opts {
	int64_t interval;
	size_t k;
	bool once, tty;
};

/* Prints one snapshot: a redraw on a terminal, else appended (a blank line between plain snapshots). */
static void cmd_top_show(struct ctl *ctl, const struct top_opts *o, const struct top_sample *s,
			 const struct top_rates *r)
{
	if (o->tty && !o->once && !ctl->json)
		printf("\033[H\033[J");
	if (ctl->json)
		cmd_top_json(s, r);
	else
		cmd_top_human(s, r, o->k);
	if (!o->tty && !o->once && !ctl->json)
		putchar('\n');
	fflush(stdout);
}

/* Says the daemon is not reachable: redrawn on a terminal, else once per outage on stderr. */
static void cmd_top_down(struct ctl *ctl, const struct top_opts *o, const char *err, bool first)
{
	char iv[UNITS_BUFSZ];

	units_duration_format(o->interval, iv, sizeof(iv));
	if (o->tty && !ctl->json) {
		printf("\033[H\033[Jtimerd is not reachable: %s\nretrying every %s (Ctrl-C to quit)\n", err, iv);
		fflush(stdout);
	} else if (first) {
		fprintf(stderr, "%s top: timerd is not reachable: %s; retrying every %s\n", ctl->prog, err, iv);
	}
}

/* The exit code for a failed refresh: unreachable for a connection failure, else failed. */
static int cmd_top_exit_for(int rc)
{
	return rc >= TIMERD_ECONNECT || rc == TIMERD_ECONNS || rc == TIMERD_ESHUTDOWN ? CTL_EXIT_UNREACHABLE
										       : CTL_EXIT_FAILED;
}

/* --once: two samples one interval apart, then one snapshot. */
static int cmd_top_once(struct ctl *ctl, const struct top_opts *o)
{
	struct top_sample a = { 0 }, b = { 0 };
	struct top_rates r;
	char err[512];
	int rc;

	if ((rc = cmd_top_poll(ctl, &a, 0, err, sizeof(err))) != TIMERD_OK)
		return ctl_fail(ctl, cmd_top_exit_for(rc), "top: %s", err);
	cmd_top_sleep_until(ctl_mono() + o->interval);
	if ((rc = cmd_top_poll(ctl, &b, o->k, err, sizeof(err))) != TIMERD_OK) {
		cmd_top_sample_free(&a);
		return ctl_fail(ctl, cmd_top_exit_for(rc), "top: %s", err);
	}
	r = cmd_top_rates(&a, &b);
	cmd_top_show(ctl, o, &b, &r);
	cmd_top_sample_free(&a);
	cmd_top_sample_free(&b);
	return CTL_EXIT_OK;
}

/* The live view: refreshes every interval until SIGINT/SIGTERM; rides out the daemon going away. */
static int cmd_top_live(struct ctl *ctl, const struct top_opts *o)
{
	struct sigaction sa = { .sa_handler = cmd_top_on_signal };
	struct top_sample prev = { 0 }, cur;
	struct top_rates r;
	int64_t next = ctl_mono();
	bool down = false;
	char err[512];

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	while (!cmd_top_stop) {
		memset(&cur, 0, sizeof(cur));
		if (cmd_top_poll(ctl, &cur, o->k, err, sizeof(err)) == TIMERD_OK) {
			if (down && !o->tty)
				fprintf(stderr, "%s top: timerd is back\n", ctl->prog);
			down = false;
			r = cmd_top_rates(&prev, &cur);
			cmd_top_show(ctl, o, &cur, &r);
			cmd_top_sample_free(&prev);
			prev = cur;
		} else {
			cmd_top_down(ctl, o, err, !down);
			down = true;
			cmd_top_sample_free(&prev);	/* counters may restart with the daemon */
		}
		next += o->interval;
		if (next < ctl_mono())
			next = ctl_mono();
		cmd_top_sleep_until(next);
	}
	cmd_top_sample_free(&prev);
	return CTL_EXIT_OK;
}

/* timerctl top. */
static int cmd_top_exec(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = { CTL_GLOBAL_LONGOPTS, { "once", no_argument, NULL, 'o' },
					      { "interval", required_argument, NULL, 'i' },
					      { "next", required_argument, NULL, 'n' }, { NULL, 0, NULL, 0 } };
	struct top_opts o = { .interval = 1000000000, .k = 10, .tty = isatty(STDOUT_FILENO) };
	uint64_t k;
	int c, rc;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'o') {
			o.once = true;
		} else if (c == 'i') {
			if (!ctl_duration(ctl, "--interval", optarg, &o.interval))
				return CTL_EXIT_USAGE;
		} else if (c == 'n') {
			if (!ctl_u64(ctl, "--next", optarg, &k))
				return CTL_EXIT_USAGE;
			if (k > TOP_NEXT_MAX)
				return ctl_usage(ctl, &cmd_top_entry, "--next is at most %d", TOP_NEXT_MAX);
			o.k = (size_t)k;
		} else if (ctl_global_opt(ctl, &cmd_top_entry, c, optarg, &rc)) {
			return rc;
		}
	}
	if (optind < argc)
		return ctl_usage(ctl, &cmd_top_entry, "unexpected argument '%s'", argv[optind]);
	if (o.interval < 100000000)
		return ctl_usage(ctl, &cmd_top_entry, "--interval must be at least 100ms");
	return o.once ? cmd_top_once(ctl, &o) : cmd_top_live(ctl, &o);
}
