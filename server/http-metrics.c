/*
 * http-metrics.c -- GET /metrics in the Prometheus text exposition format
 * (version 0.0.4).
 *
 * Every numeric field of StatsReply's sub-messages (the same walk that
 * writes stats.db columns, proto/flat.c) becomes one metric, so a counter
 * added to timerd.proto is exported with no change here:
 *
 *	engine  fires     -> timerd_fires_total            (the engine's, unprefixed)
 *	server  conns     -> timerd_server_conns            (a gauge: http_metric_kinds)
 *	store   load_ns   -> timerd_store_load_seconds      (ns fields in seconds)
 *
 * Counters end in _total; the fields in http_metric_kinds are gauges or
 * left out (lateness percentiles: the histograms below carry them).
 * Lateness is two real histograms built from the HDR histograms at fixed
 * bucket bounds: timerd_fire_lateness_seconds (the engine's dispatcher,
 * deadline -> fire) and timerd_delivery_lateness_seconds (deadline ->
 * event queued to a watcher). No label carries a key, and a topic only
 * as timerd_topic_fires_total{topic} for the at most 64 topics an operator
 * lists in metrics-topics (the rest are topic="other"), so the series are
 * bounded whatever clients do.
 *
 * Cost: one stats_collect (what timerctl stats costs) plus two histogram
 * copies; nothing walks the timers, so a scrape costs the same with 1 M
 * pending (doc/benchmarks.md, "HTTP API and metrics").
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "proto/flat.h"
#include "server/http.h"
#include "server/srv.h"

enum http_metric_kind { HTTP_COUNTER, HTTP_GAUGE, HTTP_SKIP };

/* The fields that are not counters (group "" matches any group). */
static const struct {
	const char *group, *field;
	enum http_metric_kind kind;
} http_metric_kinds[] = {
	{ "engine", "pending", HTTP_GAUGE }, { "engine", "inflight", HTTP_GAUGE },
	{ "engine", "intake_hwm", HTTP_GAUGE }, { "engine", "hp_pending", HTTP_GAUGE },
	{ "server", "uptime_ns", HTTP_GAUGE }, { "server", "threads", HTTP_GAUGE },
	{ "server", "conns", HTTP_GAUGE }, { "server", "watchers", HTTP_GAUGE },
	{ "store", "durable", HTTP_GAUGE }, { "store", "failing", HTTP_GAUGE },
	{ "store", "last_snapshot_ns", HTTP_GAUGE }, { "store", "journal_rows", HTTP_GAUGE },
	{ "store", "file_bytes", HTTP_GAUGE }, { "store", "loaded", HTTP_GAUGE },
	{ "store", "load_snap_rows", HTTP_GAUGE }, { "store", "load_journal_rows", HTTP_GAUGE },
	{ "store", "load_ns", HTTP_GAUGE }, { "store", "commit_p50_ns", HTTP_GAUGE },
	{ "store", "commit_p99_ns", HTTP_GAUGE }, { "store", "batch_rows_max", HTTP_GAUGE },
	{ "store", "recovered_late", HTTP_GAUGE }, { "store", "skipped_late", HTTP_GAUGE },
	{ "store", "recovered_late_max_ns", HTTP_GAUGE },
	{ "probes", "available", HTTP_GAUGE }, { "probes", "attached", HTTP_GAUGE },
	{ "delivery", "groups", HTTP_GAUGE }, { "delivery", "backlog", HTTP_GAUGE },
	{ "delivery", "in_flight", HTTP_GAUGE }, { "delivery", "dead_letters", HTTP_GAUGE },
	{ "", "late_count", HTTP_SKIP }, { "", "late_p50_ns", HTTP_SKIP }, { "", "late_p90_ns", HTTP_SKIP },
	{ "", "late_p99_ns", HTTP_SKIP }, { "", "late_p999_ns", HTTP_SKIP }, { "", "late_max_ns", HTTP_SKIP },
};

/* Histogram bucket bounds, seconds (Prometheus' defaults, extended down to a microsecond). */
static const double http_late_bounds[] = {
	1e-6, 5e-6, 1e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};

struct http_metrics_ctx {
	struct evbuffer *b;
	int failed;
};

/* The kind of a field. */
static enum http_metric_kind http_metric_kind(const char *group, const char *field)
{
	for (size_t i = 0; i < sizeof(http_metric_kinds) / sizeof(http_metric_kinds[0]); i++)
		if ((!*http_metric_kinds[i].group || !strcmp(http_metric_kinds[i].group, group)) &&
		    !strcmp(http_metric_kinds[i].field, field))
			return http_metric_kinds[i].kind;
	return HTTP_COUNTER;
}

/* flat_walk callback: one metric. */
static void http_metric_one(void *arg, const char *group, const char *field, int64_t value)
{
	struct http_metrics_ctx *m = arg;
	enum http_metric_kind kind = http_metric_kind(group, field);
	size_t n = strlen(field);
	bool ns = n > 3 && !strcmp(field + n - 3, "_ns");
	char name[160];

	if (kind == HTTP_SKIP)
		return;
	snprintf(name, sizeof(name), "timerd_%s%s%.*s%s%s", strcmp(group, "engine") ? group : "",
		 strcmp(group, "engine") ? "_" : "", (int)(ns ? n - 3 : n), field, ns ? "_seconds" : "",
		 kind == HTTP_COUNTER ? "_total" : "");
	if (evbuffer_add_printf(m->b, "# HELP %s timerd.proto %s stats: %s\n# TYPE %s %s\n", name, group, field, name,
				kind == HTTP_COUNTER ? "counter" : "gauge") < 0)
		m->failed = 1;
	if ((ns ? evbuffer_add_printf(m->b, "%s %.9f\n", name, (double)value / 1e9)
		: evbuffer_add_printf(m->b, "%s %" PRId64 "\n", name, value)) < 0)
		m->failed = 1;
}

/* The largest value HDR bucket i holds (hist.h's layout). */
static uint64_t http_bucket_top(unsigned i)
{
	unsigned shift, sub;

	if (i < HIST_SUB)
		return i;
	shift = (i >> HIST_SUB_BITS) - 1;
	sub = i & (HIST_SUB - 1);
	return ((uint64_t)(HIST_SUB + sub + 1) << shift) - 1;
}

/* Writes h as the Prometheus histogram name (bounds rounded to the HDR buckets, within 1/32). */
static void http_metric_hist(struct http_metrics_ctx *m, const char *name, const char *help,
			     const struct hist_snap *h)
{
	uint64_t cum = 0;
	unsigned i = 0;

	if (evbuffer_add_printf(m->b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name) < 0)
		m->failed = 1;
	for (size_t k = 0; k < sizeof(http_late_bounds) / sizeof(http_late_bounds[0]); k++) {
		uint64_t le = (uint64_t)(http_late_bounds[k] * 1e9 + 0.5);

		for (; i < HIST_BUCKETS && http_bucket_top(i) <= le; i++)
			cum += h->bucket[i];
		if (evbuffer_add_printf(m->b, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name, http_late_bounds[k], cum) < 0)
			m->failed = 1;
	}
	for (; i < HIST_BUCKETS; i++)
		cum += h->bucket[i];
	/* +Inf is the buckets' sum, not h->count: a snapshot taken while firing reads them one by one */
	if (evbuffer_add_printf(m->b, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n%s_sum %.9f\n%s_count %" PRIu64 "\n",
				name, cum, name, (double)h->sum / 1e9, name, cum) < 0)
		m->failed = 1;
}

/* Writes a gauge or counter the stats messages do not have. */
static void http_metric_extra(struct http_metrics_ctx *m, const char *name, const char *type, const char *help,
			      uint64_t v)
{
	if (evbuffer_add_printf(m->b, "# HELP %s %s\n# TYPE %s %s\n%s %" PRIu64 "\n", name, help, name, type, name,
				v) < 0)
		m->failed = 1;
}

/* Writes one label value of v[0..n), escaped as the exposition format asks (\\, \", \n). */
static void http_metric_label(struct http_metrics_ctx *m, const char *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *esc = v[i] == '\\' ? "\\\\" : v[i] == '"' ? "\\\"" : v[i] == '\n' ? "\\n" : NULL;

		if ((esc ? evbuffer_add(m->b, esc, 2) : evbuffer_add(m->b, v + i, 1)) < 0)
			m->failed = 1;
	}
}

/* Writes series name for each topic of tm and "other". */
static void http_metric_topic_lines(struct http_metrics_ctx *m, const char *name, const struct topic_metrics *tm)
{
	if (evbuffer_add_printf(m->b, "# HELP %s fires of the topics metrics-topics lists; \"other\": the rest\n"
				"# TYPE %s counter\n", name, name) < 0)
		m->failed = 1;
	for (unsigned i = 0; i <= tm->n; i++) {
		if (evbuffer_add_printf(m->b, "%s{topic=\"", name) < 0)
			m->failed = 1;
		http_metric_label(m, i < tm->n ? tm->name[i] : "other", i < tm->n ? tm->len[i] : 5);
		/* relaxed: a counter read for a report */
		if (evbuffer_add_printf(m->b, "\"} %" PRIu64 "\n",
					atomic_load_explicit(&tm->fires[i], memory_order_relaxed)) < 0)
			m->failed = 1;
	}
}

/* Writes timerd_topic_fires_total{topic} for metrics-topics' topics and "other"; nothing if none is listed. */
static void http_metric_topics(struct http_metrics_ctx *m, struct topic_metrics_ref *ref)
{
	static const char name[] = "timerd_topic_fires_total";
	unsigned slot;
	struct topic_metrics *tm = topic_metrics_scrape_begin(ref, &slot);	/* no count seen going down */

	if (tm)
		http_metric_topic_lines(m, name, tm);
	topic_metrics_scrape_end(ref, slot);
}

void http_metrics(struct http_req *r)
{
	struct stats_bufs *sb = malloc(sizeof(*sb));
	struct hist_snap *late = malloc(sizeof(*late));
	struct http_metrics_ctx m = { .b = evbuffer_new() };
	struct srv *s = r->s;

	if (!sb || !late || !m.b) {
		free(sb);
		free(late);
		if (m.b)
			evbuffer_free(m.b);
		http_reply_error(r, TIMERD__ERROR_CODE__NO_MEMORY, "timerd is out of memory: retry the scrape");
		return;
	}
	stats_collect(s, sb);
	flat_walk(&sb->reply.base, &timerd__stats_reply__descriptor, http_metric_one, &m);
	engine_late_snapshot(s->engine, late);
	http_metric_hist(&m, "timerd_fire_lateness_seconds", "how late the engine fired timers (deadline to fire)",
			 late);
	http_metric_hist(&m, "timerd_delivery_lateness_seconds",
			 "deadline to the fire event queued to a watching connection", &sb->late);
	/* relaxed: gauges and counters read for a report */
	http_metric_extra(&m, "timerd_http_connections", "gauge", "HTTP connections open now",
			  atomic_load_explicit(&s->http_conns, memory_order_relaxed));
	http_metric_extra(&m, "timerd_http_connections_accepted_total", "counter", "HTTP connections served",
			  atomic_load_explicit(&s->http_accepted, memory_order_relaxed));
	http_metric_extra(&m, "timerd_http_connections_rejected_total", "counter",
			  "HTTP connections refused over http-max-connections",
			  atomic_load_explicit(&s->http_rejected, memory_order_relaxed));
	http_metric_extra(&m, "timerd_http_plaintext_on_tls_total", "counter",
			  "plaintext HTTP requests to the HTTPS port (http-tls), answered 400: use https://",
			  atomic_load_explicit(&s->http_plain_on_tls, memory_order_relaxed));
	http_metric_extra(&m, "timerd_http_requests_total", "counter", "HTTP requests received",
			  atomic_load_explicit(&s->http_requests, memory_order_relaxed));
	http_metric_extra(&m, "timerd_http_replies_held_total", "counter",
			  "HTTP replies that waited for their change to be committed to timers.db",
			  atomic_load_explicit(&s->http_held, memory_order_relaxed));
	http_metric_topics(&m, &s->topic_metrics);
	free(sb);
	free(late);
	if (m.failed) {
		evbuffer_free(m.b);
		http_reply_error(r, TIMERD__ERROR_CODE__NO_MEMORY, "timerd is out of memory: retry the scrape");
		return;
	}
	evhttp_add_header(evhttp_request_get_output_headers(r->req), "Content-Type", "text/plain; version=0.0.4");
	http_reply_buf(r, 200, m.b);
}
