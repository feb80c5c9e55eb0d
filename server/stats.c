/*
 * stats.c -- counters merged from the engine, the loop threads and the
 * probes (for the Stats reply and stats.db), and the stats thread that
 * writes one stats.db row per interval. Nothing on the request or fire
 * paths waits for it: they only bump their own counters.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server/journal.h"
#include "server/log.h"
#include "server/group-srv.h"
#include "server/srv.h"
#include "server/statsdb.h"

/* How long to wait before trying to open stats.db again after a failure. */
#define STATS_REOPEN_NS (30 * 1000000000LL)

struct stats_thread {
	struct srv *s;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;		/* CLOCK_MONOTONIC; signalled to stop */
	bool stop;
	struct statsdb *db;
	int64_t next_open;		/* engine_now ns of the next open attempt */
	struct hist_snap prev;		/* lateness at the previous row */
	int64_t prev_ns;
	const char *path;		/* s->stats_path */
};

/* Copies the engine's counters. */
static void stats_engine(struct srv *s, Timerd__EngineStats *m)
{
	struct engine_stats st;

	engine_stats(s->engine, &st);
	timerd__engine_stats__init(m);
#define STATS_E(f) m->f = st.f;
	ENGINE_COUNTERS(STATS_E)
	ENGINE_GAUGES(STATS_E)
#undef STATS_E
#define STATS_L(f, proto, pct) m->proto = st.f;
	ENGINE_LATENESS(STATS_L)
#undef STATS_L
	m->late_max_ns = st.late_max;
}

/* Sums the loops' counters and lateness into m and late. */
static void stats_server(struct srv *s, Timerd__ServerStats *m, struct hist_snap *late)
{
	struct hist_snap one;

	timerd__server_stats__init(m);
	memset(late, 0, sizeof(*late));
	for (unsigned i = 0; i < s->nloops; i++) {
		struct loop *l = &s->loops[i];

		/* relaxed: counters are independent; a snapshot need not be atomic as a whole */
#define STATS_S(n) m->n += atomic_load_explicit(&l->ctr.n, memory_order_relaxed);
		SRV_LOOP_COUNTERS(STATS_S)
#undef STATS_S
		hist_snapshot(&l->late, &one);
		hist_merge(late, &one);
	}
	m->uptime_ns = (uint64_t)(engine_now(s->engine) - s->start_ns);
	m->threads = s->nloops;
	m->conns = atomic_load_explicit(&s->conns, memory_order_relaxed);
	m->conns_accepted = atomic_load_explicit(&s->conns_accepted, memory_order_relaxed);
	m->conns_rejected = atomic_load_explicit(&s->conns_rejected, memory_order_relaxed);
	m->watchers = atomic_load_explicit(&s->watchers, memory_order_relaxed);
	m->queue_drops = atomic_load_explicit(&s->queue_drops, memory_order_relaxed);
	m->db_writes = atomic_load_explicit(&s->db_writes, memory_order_relaxed);
	m->db_errors = atomic_load_explicit(&s->db_errors, memory_order_relaxed);
	m->insecure = s->cfg->insecure || s->cfg->allow_remote;
}

/* Sets the lateness fields from a histogram. */
static void stats_late(Timerd__ServerStats *m, const struct hist_snap *h)
{
	m->late_count = h->count;
	m->late_p50_ns = (int64_t)hist_percentile(h, 50.0);
	m->late_p99_ns = (int64_t)hist_percentile(h, 99.0);
	m->late_max_ns = (int64_t)h->max;
}

/* Fills a StatsReply from the engine, loops and probes. */
/* Fills StoreStats from the journal (durable = false under --memory-only). */
static void stats_store(struct srv *s, struct stats_bufs *b)
{
	Timerd__StoreStats *m = &b->store;
	struct journal_stats js;

	timerd__store_stats__init(m);
	journal_stats(s, &js);
	m->durable = js.durable;
	m->fsync = (char *)(uintptr_t)(js.durable ? journal_fsync_name(js.fsync, js.fsync_interval_ns, b->fsync,
								       sizeof(b->fsync)) : "memory-only");
	m->path = s->store_path;
	m->failing = js.failing;
	m->commits = js.commits;
	m->rows = js.rows;
	m->syncs = js.syncs;
	m->commit_errors = js.commit_errors;
	m->fire_rows_dropped = js.fire_rows_dropped;
	m->coalesced_rows = js.coalesced_rows;
	m->snapshots = js.snapshots;
	m->snapshot_rows = js.snapshot_rows;
	m->last_snapshot_ns = js.last_snapshot_ns;
	m->journal_rows = js.journal_rows;
	m->file_bytes = js.file_bytes;
	m->loaded = js.loaded;
	m->load_snap_rows = js.load_snap_rows;
	m->load_journal_rows = js.load_journal_rows;
	m->load_ns = js.load_ns;
	m->commit_p50_ns = js.commit_p50_ns;
	m->commit_p99_ns = js.commit_p99_ns;
	m->batch_rows_max = js.batch_rows_max;
	m->recovered_late = js.recovered_late;
	m->skipped_late = js.skipped_late;
	m->recovered_late_max_ns = js.recovered_late_max_ns;
	snprintf(b->store_error, sizeof(b->store_error), "%s", js.last_error);
	m->last_error = b->store_error;
}

void stats_collect(struct srv *s, struct stats_bufs *b)
{
	timerd__stats_reply__init(&b->reply);
	stats_engine(s, &b->engine);
	stats_server(s, &b->server, &b->late);
	stats_late(&b->server, &b->late);
	timerd__probe_stats__init(&b->probes);
	srv_probes_stats(s, &b->probes);
	snprintf(b->version, sizeof(b->version), "timerd %s", PACKAGE_VERSION);
	b->reply.engine = &b->engine;
	b->reply.server = &b->server;
	b->reply.probes = &b->probes;
	stats_store(s, b);
	b->reply.store = &b->store;
	group_srv_stats(s, &b->delivery);
	b->reply.delivery = &b->delivery;
	b->reply.version = b->version;
	b->reply.stats_db = (char *)(uintptr_t)stats_db_path(s);
	b->reply.now_mono_ns = engine_now(s->engine);
	b->reply.now_unix_ns = engine_now_real(s->engine);
}

/* The path stats.db is written to. */
const char *stats_db_path(struct srv *s)
{
	return s->stats_path;
}

/* Opens stats.db if it is closed and it is time to try; true if open. */
static bool stats_open(struct stats_thread *t)
{
	char err[512];
	int dfd;

	if (t->db)
		return true;
	if (engine_now(t->s->engine) < t->next_open)
		return false;
	t->next_open = engine_now(t->s->engine) + STATS_REOPEN_NS;
	if ((dfd = srv_dir_open(t->s->cfg->state_dir, 0700, true, "stats.db", err, sizeof(err))) < 0 ||
	    (close(dfd), srv_state_file(t->path, err, sizeof(err))) < 0) {
		log_err("%s; stats.db is off until it can (retrying every 30s)", err);
		return false;
	}
	if (statsdb_open(t->path, t->s->cfg->stats_retention_ns, &t->db, err, sizeof(err)) < 0) {
		log_err("cannot open %s: %s; stats.db is off until it can (retrying every 30s)", t->path, err);
		return false;
	}
	log_info("writing stats to %s every %lldms", t->path, (long long)(t->s->cfg->stats_interval_ns / 1000000));
	return true;
}

/* Writes one row: counters now, lateness over the interval. */
static void stats_write(struct stats_thread *t)
{
	struct stats_bufs *b = malloc(sizeof(*b));
	struct hist_snap d;
	char err[512];
	int64_t now = engine_now(t->s->engine);

	if (!b || !stats_open(t)) {
		atomic_fetch_add_explicit(&t->s->db_errors, 1, memory_order_relaxed);
		free(b);
		return;
	}
	stats_collect(t->s, b);
	d = b->late;
	for (size_t i = 0; i < HIST_BUCKETS; i++)
		d.bucket[i] -= t->prev.bucket[i];
	d.count -= t->prev.count;
	d.sum -= t->prev.sum;
	stats_late(&b->server, &d);
	b->server.late_max_ns = (int64_t)hist_percentile(&d, 100.0);
	if (statsdb_write(t->db, &b->reply, engine_now_real(t->s->engine) / 1000000, (now - t->prev_ns) / 1000000, err, sizeof(err)) < 0) {
		atomic_fetch_add_explicit(&t->s->db_errors, 1, memory_order_relaxed);
		log_warn_rl("stats.db: %s (timerd keeps serving; the row is lost)", err);
	} else {
		atomic_fetch_add_explicit(&t->s->db_writes, 1, memory_order_relaxed);
	}
	t->prev = b->late;
	t->prev_ns = now;
	free(b);
}

/*
 * Waits until deadline (engine_now ns) or a stop; true if stopping. The
 * condition variable waits on CLOCK_MONOTONIC: the daemon's engine runs on
 * the system clocks (srv_engine injects none), so the two agree.
 */
static bool stats_wait(struct stats_thread *t, int64_t deadline)
{
	struct timespec ts = { deadline / 1000000000, deadline % 1000000000 };
	bool stop;

	pthread_mutex_lock(&t->lock);
	while (!t->stop && pthread_cond_timedwait(&t->cond, &t->lock, &ts) != ETIMEDOUT)
		;
	stop = t->stop;
	pthread_mutex_unlock(&t->lock);
	return stop;
}

/* The stats thread: one row per interval, on a fixed schedule. */
static void *stats_main(void *arg)
{
	struct stats_thread *t = arg;
	struct engine *e = t->s->engine;
	int64_t next = engine_now(e) + t->s->cfg->stats_interval_ns;

	t->prev_ns = engine_now(e);
	while (!stats_wait(t, next)) {
		stats_write(t);
		next += t->s->cfg->stats_interval_ns;
		if (next < engine_now(e))	/* fell behind (a slow disk): skip, do not burst */
			next = engine_now(e) + t->s->cfg->stats_interval_ns;
	}
	stats_write(t);		/* the final row */
	return NULL;
}

/* Starts the stats thread. */
int stats_start(struct srv *s, char *err, size_t errlen)
{
	struct stats_thread *t;
	pthread_condattr_t ca;
	int rc;

	if (!s->cfg->stats)
		return 0;
	if (!(t = calloc(1, sizeof(*t)))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	t->s = s;
	t->path = s->stats_path;
	pthread_mutex_init(&t->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&t->cond, &ca);
	pthread_condattr_destroy(&ca);
	stats_open(t);		/* log a bad state dir at startup, not a second later */
	s->stats = t;
	if ((rc = pthread_create(&t->thread, NULL, stats_main, t)) != 0) {
		snprintf(err, errlen, "cannot start the stats thread: %s", strerror(rc));
		statsdb_close(t->db);
		s->stats = NULL;
		free(t);
		return -1;
	}
	return 0;
}

/* Writes a final row, closes stats.db, joins the thread. */
void stats_stop(struct srv *s)
{
	struct stats_thread *t = s->stats;

	if (!t)
		return;
	pthread_mutex_lock(&t->lock);
	t->stop = true;
	pthread_cond_signal(&t->cond);
	pthread_mutex_unlock(&t->lock);
	pthread_join(t->thread, NULL);
	statsdb_close(t->db);
	pthread_mutex_destroy(&t->lock);
	pthread_cond_destroy(&t->cond);
	s->stats = NULL;
	free(t);
}
