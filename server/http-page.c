/*
 * http-page.c -- the status page (GET /) and what it reads: its files
 * (built into the daemon: server/www-assets.h), GET /v1/status (the
 * counters, the probes and the next timers due in one reply) and
 * GET /v1/history (series from stats.db). doc/http.md "Status page".
 *
 * Every handler runs on the loop thread that accepted the request and
 * answers at once. /v1/status walks at most PAGE_SCAN_MAX timers;
 * /v1/history reads stats.db with its own read-only connection (WAL: the
 * stats thread is never blocked) and at most PAGE_POINTS_MAX buckets.
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <sqlite3.h>

#include "probe/probe.h"
#include "server/http-json.h"
#include "server/http.h"
#include "server/srv.h"
#include "server/www-assets.h"

/* The most timers one /v1/status walks for the next due, and the most it returns. */
#define PAGE_SCAN_MAX 20000
#define PAGE_NEXT_MAX 100
#define PAGE_NEXT_DEFAULT 10
/* /v1/history: default span, bucket count, and the most columns one request may ask for. */
#define PAGE_SPAN_MS (3600 * 1000LL)
#define PAGE_POINTS_DEFAULT 600
#define PAGE_POINTS_MAX 5000
#define PAGE_METRICS_MAX 32
/* How much of stats.db a history read maps instead of copying into its page cache (a day at 1 s is ~14 MB). */
#define PAGE_MMAP_BYTES "268435456"
/* How long a history read waits for a lock (the writer only blocks readers at a checkpoint). */
#define PAGE_BUSY_MS 100

/* The series the page plots when ?metric= is not given. */
static const char page_default_metrics[] =
	"engine_arms,engine_fires,engine_pending,server_late_p50_ns,server_late_p99_ns,server_late_max_ns,server_conns";

/* The security headers every page file carries. */
static void page_headers(struct http_req *r, const struct www_asset *a)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);

	evhttp_add_header(h, "ETag", a->etag);
	evhttp_add_header(h, "Cache-Control", "no-cache");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	if (strncmp(a->type, "text/html", 9) == 0) {
		evhttp_add_header(h, "Content-Security-Policy",
				  "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'");
		evhttp_add_header(h, "Referrer-Policy", "no-referrer");
	}
}

/* True if If-None-Match names the asset's ETag (or is "*"). */
static bool page_not_modified(struct http_req *r, const struct www_asset *a)
{
	const char *inm = evhttp_find_header(evhttp_request_get_input_headers(r->req), "If-None-Match");

	return inm && (strcmp(inm, "*") == 0 || strstr(inm, a->etag) != NULL);
}

/* Serves one built-in file: 304 if the client has it, else its bytes. */
static void page_send(struct http_req *r, const char *path)
{
	for (size_t i = 0; i < www_nassets; i++) {
		const struct www_asset *a = &www_assets[i];

		if (strcmp(a->path, path) != 0)
			continue;
		page_headers(r, a);
		if (page_not_modified(r, a))
			http_reply_text(r, 304, a->type, "", 0);
		else
			http_reply_text(r, 200, a->type, a->data, a->len);
		return;
	}
	http_reply_error(r, TIMERD__ERROR_CODE__NOT_FOUND, "no such file %s: the status page is at /", path);
}

/* GET /: the page. */
static void page_index(struct http_req *r)
{
	page_send(r, "/");
}

/* GET /static/NAME: the page's script, stylesheet and the vendored uPlot. */
static void page_static(struct http_req *r)
{
	char path[128];

	if (snprintf(path, sizeof(path), "/static/%s", r->arg[0]) >= (int)sizeof(path)) {
		http_reply_error(r, TIMERD__ERROR_CODE__NOT_FOUND, "no such file: the status page is at /");
		return;
	}
	page_send(r, path);
}

/* A string of n bytes as JSON; "(not UTF-8, N bytes)" if it is not text. */
static json_t *page_str(const char *p, size_t n)
{
	json_t *j = p ? json_stringn(p, n) : json_string("");

	if (!j) {
		char b[64];

		snprintf(b, sizeof(b), "(not UTF-8, %zu bytes)", n);
		j = json_string(b);
	}
	return j;
}

/* One of the timers due soonest, copied out of the listing. */
struct page_next {
	uint64_t id;
	int64_t deadline, unix_deadline, period;
	char *key, *topic;
	uint32_t keylen, topiclen;
};

/* The soonest k timers seen so far, sorted. */
struct page_scan {
	struct page_next v[PAGE_NEXT_MAX];
	size_t n, k, seen;
	int64_t mono_to_unix;
	bool oom;
};

/* Frees the copied strings. */
static void page_scan_free(struct page_scan *sc)
{
	for (size_t i = 0; i < sc->n; i++) {
		free(sc->v[i].key);
		free(sc->v[i].topic);
	}
}

/* Copies n bytes into a new string (NULL if p is NULL). */
static char *page_dup(const char *p, size_t n, bool *oom)
{
	char *s;

	if (!p)
		return NULL;
	if (!(s = malloc(n + 1))) {
		*oom = true;
		return NULL;
	}
	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

/* engine_list callback: keeps t if it is among the k soonest. */
static bool page_scan_one(void *arg, const struct engine_timer *t)
{
	struct page_scan *sc = arg;
	size_t at = sc->n;

	sc->seen++;
	while (at > 0 && (sc->v[at - 1].deadline > t->deadline ||
			  (sc->v[at - 1].deadline == t->deadline && sc->v[at - 1].id > t->id)))
		at--;
	if (at >= sc->k)
		return true;
	if (sc->n == sc->k) {
		free(sc->v[sc->k - 1].key);
		free(sc->v[sc->k - 1].topic);
		sc->n--;
	}
	memmove(&sc->v[at + 1], &sc->v[at], (sc->n - at) * sizeof(sc->v[0]));
	sc->v[at] = (struct page_next){
		.id = t->id, .deadline = t->deadline, .period = t->period,
		.unix_deadline = t->realtime ? t->wall_deadline : t->deadline + sc->mono_to_unix,
		.key = page_dup(t->key, t->keylen, &sc->oom), .keylen = t->keylen,
		.topic = page_dup(t->topic, t->topiclen, &sc->oom), .topiclen = t->topiclen,
	};
	sc->n++;
	return true;
}

/* The "next" member: the k timers due soonest of the first PAGE_SCAN_MAX. */
static json_t *page_next_json(struct srv *s, size_t k, int64_t now)
{
	struct page_scan *sc = calloc(1, sizeof(*sc));
	uint64_t cursor = 0;
	json_t *o, *a;

	if (!sc)
		return NULL;
	sc->k = k;
	sc->mono_to_unix = engine_mono_to_unix(s->engine);
	do {		/* next=0: no walk at all */
		if (!k || engine_list(s->engine, NULL, 0, &cursor, 1000, page_scan_one, sc) < 0)
			break;
	} while (cursor && sc->seen < PAGE_SCAN_MAX);
	o = json_pack("{s:b,s:I,s:[]}", "complete", cursor == 0, "scanned", (json_int_t)sc->seen, "timers");
	a = o ? json_object_get(o, "timers") : NULL;
	for (size_t i = 0; a && i < sc->n; i++) {
		const struct page_next *t = &sc->v[i];

		json_array_append_new(a, json_pack("{s:I,s:o,s:o,s:I,s:I,s:I}", "timer_id", (json_int_t)t->id,
						   "key", page_str(t->key, t->keylen), "topic",
						   page_str(t->topic, t->topiclen), "deadline_unix_ns",
						   (json_int_t)t->unix_deadline, "left_ns", (json_int_t)(t->deadline - now),
						   "period_ns", (json_int_t)t->period));
	}
	page_scan_free(sc);
	free(sc);
	return o;
}

/* The "probes" member: one object per attached probe ([] without probes). */
static json_t *page_probes_json(struct srv *s)
{
	size_t n = s->probes ? probe_list(s->probes, NULL, 0) : 0, got;
	struct probe_info *v = n ? calloc(n, sizeof(*v)) : NULL;
	json_t *a = json_array();

	got = v ? probe_list(s->probes, v, n) : 0;
	got = got < n ? got : n;	/* one may have been detached meanwhile */
	for (size_t i = 0; a && i < got; i++)
		json_array_append_new(a, json_pack("{s:I,s:o,s:I,s:I,s:I,s:I,s:I,s:I}", "probe_id",
						   (json_int_t)v[i].id, "spec", page_str(v[i].spec, strlen(v[i].spec)),
						   "hits", (json_int_t)v[i].c.hits, "arms", (json_int_t)v[i].c.arms,
						   "cancels", (json_int_t)v[i].c.cancels, "ring_drops",
						   (json_int_t)v[i].c.ring_drops, "errors", (json_int_t)v[i].c.errors,
						   "misses", (json_int_t)v[i].c.misses));
	free(v);
	return a;
}

/* Parses an integer query parameter in [lo, hi]; false (400 sent) if present and bad. */
static bool page_int_arg(struct http_req *r, const char *name, long long lo, long long hi, long long *v)
{
	const char *s = http_query(r, name);
	char *end;
	long long x;

	if (!s)
		return true;
	x = strtoll(s, &end, 10);
	if (!*s || *end || x < lo || x > hi) {
		http_reply_error(r, TIMERD__ERROR_CODE__INVALID, "%s must be an integer from %lld to %lld, not '%.64s'",
				 name, lo, hi, s);
		return false;
	}
	*v = x;
	return true;
}

/* GET /v1/status[?next=N]: the counters (as /v1/stats), the probes and the next timers due. */
static void page_status(struct http_req *r)
{
	struct stats_bufs *b = malloc(sizeof(*b));
	long long k = PAGE_NEXT_DEFAULT;
	json_t *o = NULL;

	if (!b) {
		http_reply_json(r, 500, NULL);
		return;
	}
	if (!page_int_arg(r, "next", 0, PAGE_NEXT_MAX, &k)) {
		free(b);
		return;
	}
	stats_collect(r->s, b);
	o = json_pack("{s:o,s:o,s:o}", "stats", httpj_from_msg(&b->reply.base), "probes", page_probes_json(r->s),
		      "next", page_next_json(r->s, (size_t)k, b->reply.now_mono_ns));
	free(b);
	http_reply_json(r, 200, o);
}

/* The columns of stats.db's stats table, as a JSON object used as a set; NULL on failure. */
static json_t *page_columns(sqlite3 *db)
{
	sqlite3_stmt *st;
	json_t *set = json_object();

	if (!set || sqlite3_prepare_v2(db, "PRAGMA table_info(stats)", -1, &st, NULL) != SQLITE_OK) {
		json_decref(set);
		return NULL;
	}
	while (sqlite3_step(st) == SQLITE_ROW)
		json_object_set_new(set, (const char *)sqlite3_column_text(st, 1), json_true());
	sqlite3_finalize(st);
	return set;
}

/* A history request, parsed. */
struct page_hist {
	long long since, until, points, step;
	char *names[PAGE_METRICS_MAX];
	size_t n;
	char list[1024];		/* the metric list, split in place into names */
};

/* Parses ?since=&until=&points=&metric=; false (400 sent) if bad. */
static bool page_hist_args(struct http_req *r, struct page_hist *h, long long now_ms)
{
	const char *m = http_query(r, "metric");
	char *save = NULL;

	h->until = now_ms;
	h->points = PAGE_POINTS_DEFAULT;
	if (!page_int_arg(r, "until", 0, 1LL << 50, &h->until) ||
	    !page_int_arg(r, "points", 1, PAGE_POINTS_MAX, &h->points))
		return false;
	h->since = h->until - PAGE_SPAN_MS;
	if (!page_int_arg(r, "since", 0, h->until, &h->since))
		return false;
	h->step = (h->until - h->since + h->points - 1) / h->points;
	h->step = h->step > 0 ? h->step : 1;
	if (snprintf(h->list, sizeof(h->list), "%s", m && *m ? m : page_default_metrics) >= (int)sizeof(h->list)) {
		http_reply_error(r, TIMERD__ERROR_CODE__INVALID, "metric: the list is too long (at most %d names)",
				 PAGE_METRICS_MAX);
		return false;
	}
	for (char *t = strtok_r(h->list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (h->n == PAGE_METRICS_MAX) {
			http_reply_error(r, TIMERD__ERROR_CODE__INVALID, "metric: at most %d names", PAGE_METRICS_MAX);
			return false;
		}
		h->names[h->n++] = t;
	}
	return true;
}

/* Checks every metric is a column (so it can be quoted into SQL); false (400 sent) if not. */
static bool page_hist_known(struct http_req *r, sqlite3 *db, const struct page_hist *h)
{
	json_t *cols = page_columns(db);

	for (size_t i = 0; cols && i < h->n; i++)
		if (!json_object_get(cols, h->names[i]) || strcmp(h->names[i], "ts_ms") == 0 || strchr(h->names[i], '"')) {
			json_decref(cols);
			http_reply_error(r, TIMERD__ERROR_CODE__INVALID,
					 "metric: no column '%.64s' in stats.db (names are <group>_<field>, e.g. "
					 "engine_fires; doc/stats.md lists them)", h->names[i]);
			return false;
		}
	if (!cols)
		http_reply_error(r, TIMERD__ERROR_CODE__SYSTEM, "cannot read stats.db's columns: %s", sqlite3_errmsg(db));
	json_decref(cols);
	return cols != NULL;
}

/* SELECT ts_ms, "m1", ... in ts_ms order over the range (names are known columns). */
static char *page_hist_sql(const struct page_hist *h)
{
	size_t len = 128;
	char *q, *p;

	for (size_t i = 0; i < h->n; i++)
		len += strlen(h->names[i]) + 4;
	if (!(q = malloc(len)))
		return NULL;
	p = q + sprintf(q, "SELECT ts_ms");
	for (size_t i = 0; i < h->n; i++)
		p += sprintf(p, ", \"%s\"", h->names[i]);
	sprintf(p, " FROM stats WHERE ts_ms >= ?1 AND ts_ms <= ?2 ORDER BY ts_ms");
	return q;
}


/* One bucket being summed: its last ts_ms and each column's maximum (have: not all NULL). */
struct page_bucket {
	int64_t id, ts, max[PAGE_METRICS_MAX];
	bool have[PAGE_METRICS_MAX], open;
};

/* Appends the open bucket as one point of each series. */
static void page_bucket_flush(struct page_bucket *b, size_t n, json_t *ts, json_t **cols)
{
	if (!b->open)
		return;
	json_array_append_new(ts, json_integer(b->ts));
	for (size_t i = 0; i < n; i++)
		json_array_append_new(cols[i], b->have[i] ? json_integer(b->max[i]) : json_null());
	b->open = false;
}

/* Adds the current row to its bucket (flushing the previous bucket when the row starts a new one). */
static void page_bucket_add(struct page_bucket *b, sqlite3_stmt *st, const struct page_hist *h, json_t *ts,
			    json_t **cols)
{
	int64_t t = sqlite3_column_int64(st, 0);

	if (b->open && t / h->step != b->id)
		page_bucket_flush(b, h->n, ts, cols);
	if (!b->open) {
		memset(b->have, 0, sizeof(b->have));
		b->open = true;
		b->id = t / h->step;
	}
	b->ts = t;
	for (size_t i = 0; i < h->n; i++) {
		int64_t v = sqlite3_column_int64(st, (int)i + 1);

		if (sqlite3_column_type(st, (int)i + 1) == SQLITE_NULL || (b->have[i] && v <= b->max[i]))
			continue;
		b->max[i] = v;
		b->have[i] = true;
	}
}

/*
 * Reads the range in ts_ms order (the index's: no sort, no temporary
 * table: a GROUP BY in SQL sorted into one, 96 against 50 ms for a day of rows) and sums
 * each bucket of step ms (aligned to multiples of step) into one point:
 * the bucket's last ts_ms and each column's maximum. Fills "ts_ms" and
 * "series" of o; false on an SQLite error.
 */
static bool page_hist_rows(sqlite3 *db, const struct page_hist *h, json_t *o)
{
	json_t *ts = json_array(), *series = json_object(), *cols[PAGE_METRICS_MAX];
	struct page_bucket *b = calloc(1, sizeof(*b));
	char *sql = page_hist_sql(h);
	sqlite3_stmt *st = NULL;
	int rc = SQLITE_NOMEM;

	json_object_set_new(o, "ts_ms", ts);
	json_object_set_new(o, "series", series);
	for (size_t i = 0; i < h->n; i++)
		json_object_set_new(series, h->names[i], cols[i] = json_array());
	if (b && sql && (rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL)) == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, h->since);
		sqlite3_bind_int64(st, 2, h->until);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW)
			page_bucket_add(b, st, h, ts, cols);
		page_bucket_flush(b, h->n, ts, cols);
	}
	sqlite3_finalize(st);
	free(sql);
	free(b);
	return rc == SQLITE_DONE;
}

/* Opens stats.db read-only; NULL (error sent) if it cannot. */
static sqlite3 *page_hist_open(struct http_req *r)
{
	const char *path = stats_db_path(r->s);
	sqlite3 *db = NULL;

	if (!*path) {
		http_reply_error(r, TIMERD__ERROR_CODE__UNAVAILABLE,
				 "stats are off (timerd --no-stats): start timerd with stats to keep a history");
		return NULL;
	}
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		http_reply_error(r, TIMERD__ERROR_CODE__UNAVAILABLE,
				 "cannot open %s: %s (timerd writes it once per stats interval; retry shortly)", path,
				 db ? sqlite3_errmsg(db) : "out of memory");
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_busy_timeout(db, PAGE_BUSY_MS);
	sqlite3_exec(db, "PRAGMA mmap_size=" PAGE_MMAP_BYTES, NULL, NULL, NULL);	/* scans read the file in place */
	return db;
}

/* GET /v1/history?since=MS&until=MS&points=N&metric=a,b: stats.db series, one point per bucket. */
static void page_history(struct http_req *r)
{
	struct page_hist *h = calloc(1, sizeof(*h));
	sqlite3 *db = NULL;
	json_t *o;

	if (!h) {
		http_reply_json(r, 500, NULL);
		return;
	}
	if (!page_hist_args(r, h, engine_now_real(r->s->engine) / 1000000) || !(db = page_hist_open(r)) ||
	    !page_hist_known(r, db, h))
		goto done;
	o = json_pack("{s:I,s:I,s:I}", "since_ms", (json_int_t)h->since, "until_ms", (json_int_t)h->until, "step_ms",
		      (json_int_t)h->step);
	if (o && !page_hist_rows(db, h, o)) {
		json_decref(o);
		http_reply_error(r, TIMERD__ERROR_CODE__SYSTEM, "reading stats.db: %s (retry shortly)", sqlite3_errmsg(db));
		goto done;
	}
	http_reply_json(r, 200, o);
done:
	sqlite3_close(db);
	free(h);
}

void http_page_register(void)
{
	http_route_add(EVHTTP_REQ_GET, "/", page_index);
	http_route_add(EVHTTP_REQ_GET, "/static/{name}", page_static);
	http_route_add(EVHTTP_REQ_GET, "/v1/status", page_status);
	http_route_add(EVHTTP_REQ_GET, "/v1/history", page_history);
}
