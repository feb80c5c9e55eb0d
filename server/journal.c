/*
 * journal.c -- the journal thread: group commit of the loops' batches,
 * background snapshots that keep timers.db small, and recovery at start
 * (see journal.h).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "cal/cal.h"
#include "engine.h"
#include "hist.h"
#include "probe/probe.h"
#include "server/group-srv.h"
#include "server/journal.h"
#include "server/log.h"
#include "server/quota.h"
#include "server/srv.h"

/* Rows a snapshot pass writes per transaction (bounds the latency it adds to a commit). */
#define JOURNAL_SNAP_SLICE 2000
/* Fire removals kept while commits fail; past it they are dropped (a fired timer may fire again after a restart). */
#define JOURNAL_MAX_FIRE_ROWS (1u << 20)
/* Retry delays of a failing commit. */
#define JOURNAL_RETRY_MIN_MS 50
#define JOURNAL_RETRY_MAX_MS 1000
/* How often the journal records that timerd is alive (meta alive_*): a periodic timer's
 * fire in the last such interval before a crash may fire again after the restart. */
#define JOURNAL_ALIVE_NS (250 * ENGINE_NS_PER_MS)
/* How often the store's file size gauge is read after commits (two stat(2) calls). */
#define JOURNAL_GAUGES_NS (10 * ENGINE_NS_PER_MS)
/* FIRED rows in a commit past which it does not coalesce (journal_coalesce_index: a set of 1 MiB at most). */
#define JOURNAL_COALESCE_MAX 65536u
/* Generations a restart after a crash skips beyond the highest one recorded, so ids handed
 * out since the last record (at most JOURNAL_ALIVE_NS ago) stay unique: a slot is reused
 * only after a batch of 512 other frees (idmap.h), so even 1 M frees/s raise a slot's
 * generation by about 500 in that time. After a clean stop the record is exact. */
#define JOURNAL_GEN_MARGIN 4096
/* Ids deleted during a load: the set's load factor limit (percent). */
#define JOURNAL_DELSET_LOAD 50

/* A batch of rows from one loop (or the delivery workers: loop NULL). */
struct journal_batch {
	struct llist_node node;
	struct loop *loop;
	uint64_t seq;			/* the loop's batch number */
	uint32_t n, cap;
	struct store_rec *rows;		/* key/topic/payload: offsets into buf until fixed */
	char *buf;
	size_t len, bcap;
};

struct journal {
	struct srv *s;
	struct store *st;
	pthread_t thread;
	bool started;
	int efd;			/* wakes the thread */
	_Atomic bool stop;
	_Atomic uint64_t next_lsn;	/* the next LSN to hand out */
	_Atomic bool failing;
	struct llist_head in;		/* batches posted by loops */
	struct llist_node *leftover;	/* taken from in, not yet pending (out of memory); thread only */
	pthread_mutex_t fire_mu;	/* the workers' batch of fire removals (and group rows of no loop) */
	struct journal_batch *fires;
	uint64_t fires_seq;		/* under fire_mu: the seq of the current fires batch */
	_Atomic uint64_t fires_durable;	/* the newest fires batch committed */
	/* owned by the thread */
	struct journal_batch **pending;	/* taken, not yet committed */
	size_t npending, cap_pending;
	bool fires_taken;		/* the fire batch was taken for the pending set (false while none is pending) */
	uint64_t *fired_set;		/* this commit's STORE_FIRED ids (journal_coalesce_index); 0: empty */
	size_t fired_cap;		/* slots allocated */
	size_t fired_n;			/* slots in use for this commit (a power of two); 0: no coalescing */
	int64_t last_sync, interval;
	bool unsynced;			/* commits since the last sync (or sync asked of the syncer) */
	/*
	 * --fsync DURATION: the syncer thread fdatasyncs the WAL so that no
	 * commit waits for the disk (journal_syncer_main). wal_fd -1: no
	 * syncer, a due sync is a synchronous commit on this thread.
	 */
	int wal_fd;
	pthread_t sync_thread;
	bool sync_started;
	pthread_mutex_t sync_mu;
	pthread_cond_t sync_cv;
	bool sync_want, sync_stop;	/* under sync_mu */
	_Atomic bool sync_failed;	/* the syncer's fdatasync failed; the journal thread takes it (journal_sync_check) */
	bool sync_forced;		/* thread only: a sync failed, the next commit is synchronous (FULL) */
	int64_t last_alive;		/* when meta alive_* was last noted */
	int64_t gauges_at;		/* when file_bytes was last read (journal_gauges) */
	bool snap_running;
	bool snap_err;			/* a snapshot row could not be written: the slice fails */
	uint64_t snap_cursor, snap_prev, snap_rows, snap_live;
	int64_t snap_started;
	struct hist commit_ns;
	/* stats: the thread writes (ctr_add), any thread reads */
	_Atomic uint64_t commits, rows, syncs, commit_errors, fire_rows_dropped, snapshots, snapshot_rows;
	_Atomic uint64_t coalesced_rows;
	_Atomic uint64_t journal_rows, file_bytes, batch_rows_max;
	_Atomic int64_t last_snapshot_ns;
	pthread_mutex_t err_mu;
	char last_error[JOURNAL_ERR_LEN];
	/* recovery */
	uint64_t loaded, load_snap_rows, load_journal_rows, recovered_late, skipped_late;
	int64_t load_ns, recovered_late_max_ns;
};

/* --- batches --- */

/* A new empty batch; NULL if out of memory. */
static struct journal_batch *journal_batch_new(struct loop *l)
{
	struct journal_batch *b = calloc(1, sizeof(*b));

	if (b)
		b->loop = l;
	return b;
}

static void journal_batch_free(struct journal_batch *b)
{
	if (!b)
		return;
	free(b->rows);
	free(b->buf);
	free(b);
}

/* Makes room for n more bytes in b's buffer; false if out of memory. */
static bool journal_batch_room(struct journal_batch *b, size_t n)
{
	size_t cap = b->bcap ? b->bcap * 2 : 4096;
	char *v;

	if (b->len + n <= b->bcap)
		return true;
	while (cap < b->len + n)
		cap *= 2;
	if (!(v = realloc(b->buf, cap)))
		return false;
	b->buf = v;
	b->bcap = cap;
	return true;
}

/*
 * Copies n bytes of p into b's buffer (room made by journal_batch_room);
 * the stand-in pointer of their offset (1 + offset; 0 is NULL) until the
 * batch is fixed.
 */
static const void *journal_batch_copy(struct journal_batch *b, const void *p, size_t n)
{
	size_t off = b->len;

	if (n)
		memcpy(b->buf + off, p, n);
	b->len += n;
	return (const void *)(uintptr_t)(off + 1);
}

/* Appends r to b with copies of its bytes (one buffer check for them all); false if out of memory. */
static bool journal_batch_add(struct journal_batch *b, const struct store_rec *r)
{
	struct store_rec *c;
	size_t need = (r->key ? r->keylen : 0) + r->topiclen + r->payloadlen + r->calendarlen +
		      (r->group ? r->grouplen : 0) + (r->error ? r->errorlen : 0) + r->ownerlen;

	if (b->n == b->cap) {
		uint32_t cap = b->cap ? b->cap * 2 : 64;
		struct store_rec *v = realloc(b->rows, cap * sizeof(*v));

		if (!v)
			return false;
		b->rows = v;
		b->cap = cap;
	}
	if (!journal_batch_room(b, need))
		return false;
	c = &b->rows[b->n++];
	*c = *r;
	c->key = r->key ? journal_batch_copy(b, r->key, r->keylen) : NULL;
	c->topic = journal_batch_copy(b, r->topic, r->topiclen);
	c->payload = journal_batch_copy(b, r->payload, r->payloadlen);
	c->calendar = r->calendarlen ? journal_batch_copy(b, r->calendar, r->calendarlen) : NULL;
	c->group = r->group ? journal_batch_copy(b, r->group, r->grouplen) : NULL;
	c->error = r->error ? journal_batch_copy(b, r->error, r->errorlen) : NULL;
	c->owner = r->ownerlen ? journal_batch_copy(b, r->owner, r->ownerlen) : NULL;
	return true;
}

/* Turns b's offsets back into pointers into its buffer (the buffer no longer moves). */
static void journal_batch_fix(struct journal_batch *b)
{
	for (uint32_t i = 0; i < b->n; i++) {
		struct store_rec *r = &b->rows[i];

		if (r->key)
			r->key = b->buf + ((uintptr_t)r->key - 1);
		r->topic = b->buf + ((uintptr_t)r->topic - 1);
		r->payload = b->buf + ((uintptr_t)r->payload - 1);
		if (r->calendar)
			r->calendar = b->buf + ((uintptr_t)r->calendar - 1);
		if (r->group)
			r->group = b->buf + ((uintptr_t)r->group - 1);
		if (r->error)
			r->error = b->buf + ((uintptr_t)r->error - 1);
		if (r->owner)
			r->owner = b->buf + ((uintptr_t)r->owner - 1);
	}
}

/* --- the loop side --- */

bool journal_keeps(uint32_t flags)
{
	return !(flags & (JOURNAL_FLAG_EPHEMERAL | PROBE_TIMER_FLAG));
}

uint64_t journal_late(const struct srv *s)
{
	return s->journal ? s->journal->recovered_late : 0;
}

bool journal_enabled(const struct srv *s)
{
	return s->journal != NULL;
}

bool journal_writable(const struct srv *s)
{
	/* relaxed: a hint; a commit that fails after this check keeps and retries its rows. */
	return !s->journal || !atomic_load_explicit(&s->journal->failing, memory_order_relaxed);
}

/* Hands out the next LSN, ordered after the engine call it describes. */
static uint64_t journal_lsn(struct journal *j)
{
	/* acq_rel: the engine call before it happens-before a snapshot pass that reads a later value. */
	return atomic_fetch_add_explicit(&j->next_lsn, 1, memory_order_acq_rel);
}

uint64_t journal_put(struct loop *l, const struct store_rec *r)
{
	struct journal *j = l->srv->journal;
	struct store_rec c = *r;

	if (!l->jbatch && !(l->jbatch = journal_batch_new(l)))
		return 0;
	c.lsn = journal_lsn(j);
	if (!journal_batch_add(l->jbatch, &c))
		return 0;	/* the LSN stays unused: a gap is harmless */
	return l->jseq + 1;
}

/* Wakes the journal thread. */
static void journal_wake(struct journal *j)
{
	uint64_t one = 1;

	while (write(j->efd, &one, sizeof(one)) < 0 && errno == EINTR)
		;	/* EAGAIN: already awake-pending */
}

void journal_flush(struct loop *l)
{
	struct journal_batch *b = l->jbatch;

	if (!b || !b->n)
		return;
	l->jbatch = NULL;
	b->seq = ++l->jseq;
	if (llist_add(&b->node, &l->srv->journal->in))
		journal_wake(l->srv->journal);
}

void journal_loop_free(struct loop *l)
{
	journal_batch_free(l->jbatch);
	l->jbatch = NULL;
}

uint64_t journal_durable(struct loop *l)
{
	/* acquire: pairs with the journal thread's release after its commit. */
	return atomic_load_explicit(&l->jdurable, memory_order_acquire);
}

void journal_put_fire(struct srv *s, uint64_t id)
{
	journal_put_fire_rows(s, id, NULL, 0);
}

uint64_t journal_put_fire_rows(struct srv *s, uint64_t id, const struct store_rec *rows, size_t n)
{
	struct journal *j = s->journal;
	struct store_rec r = { .op = STORE_FIRED, .id = id, .boot = 0 };
	uint64_t seq = 0;
	bool first;

	pthread_mutex_lock(&j->fire_mu);
	if (!j->fires && (j->fires = journal_batch_new(NULL)) != NULL)
		j->fires->seq = ++j->fires_seq;
	if (!j->fires || j->fires->n + n + 1 > JOURNAL_MAX_FIRE_ROWS) {
		pthread_mutex_unlock(&j->fire_mu);
		/* relaxed: a counter several workers add to (fetch_add: none lost) */
		atomic_fetch_add_explicit(&j->fire_rows_dropped, 1 + n, memory_order_relaxed);
		return 0;
	}
	first = j->fires->n == 0;
	if (id) {
		r.lsn = journal_lsn(j);
		if (!journal_batch_add(j->fires, &r))
			atomic_fetch_add_explicit(&j->fire_rows_dropped, 1, memory_order_relaxed);	/* relaxed: as above */
	}
	seq = j->fires->seq;
	for (size_t i = 0; i < n; i++) {
		struct store_rec c = rows[i];

		/* an LSN orders it with the loops' group rows in a commit (journal_commit_groups) */
		c.lsn = journal_lsn(j);
		if (!journal_batch_add(j->fires, &c)) {
			atomic_fetch_add_explicit(&j->fire_rows_dropped, 1, memory_order_relaxed);	/* relaxed: as above */
			seq = 0;
		}
	}
	pthread_mutex_unlock(&j->fire_mu);
	if (first)
		journal_wake(j);
	return seq;
}

uint64_t journal_fires_durable(struct srv *s)
{
	/* acquire: pairs with the journal thread's release after the commit. */
	return s->journal ? atomic_load_explicit(&s->journal->fires_durable, memory_order_acquire) : UINT64_MAX;
}

/* --- records --- */

/* The record of engine timer t as a put (pointers into t). */
void journal_rec_of(struct srv *s, const struct engine_timer *t, struct store_rec *r)
{
	memset(r, 0, sizeof(*r));
	r->op = STORE_PUT;
	r->id = t->id;
	r->boot = s->boot;
	r->clock = t->realtime ? STORE_REAL : STORE_MONO;
	r->deadline = t->realtime ? t->wall_deadline : t->deadline;
	r->wall = t->realtime ? t->wall_deadline : t->deadline + engine_mono_to_unix(s->engine);
	r->period = t->period;
	r->flags = t->flags & JOURNAL_FLAGS_KEPT;
	r->misfire = (t->flags & JOURNAL_FLAG_SKIP) ? 1 : 0;
	r->key = t->key;
	r->keylen = t->key ? t->keylen : 0;
	r->topic = t->topic;
	r->topiclen = t->topiclen;
	r->payload = t->payload;
	r->payloadlen = t->payloadlen;
	r->calendar = t->calendarlen ? t->calendar : NULL;
	r->calendarlen = t->calendarlen;
	r->owner = t->labellen ? t->label : NULL;
	r->ownerlen = t->labellen;
}

const char *journal_fsync_name(enum journal_fsync f, int64_t interval_ns, char *buf, size_t len)
{
	switch (f) {
	case JOURNAL_FSYNC_ALWAYS:
		return "always";
	case JOURNAL_FSYNC_NEVER:
		return "never";
	default:
		snprintf(buf, len, "%lldms", (long long)(interval_ns / ENGINE_NS_PER_MS));
		return buf;
	}
}

/* --- the thread --- */

/* Remembers what went wrong last (for stats and logs). */
static void journal_set_error(struct journal *j, const char *msg)
{
	pthread_mutex_lock(&j->err_mu);
	snprintf(j->last_error, sizeof(j->last_error), "%s", msg);
	pthread_mutex_unlock(&j->err_mu);
}

/* Makes room for k more pending batches; false if out of memory. */
static bool journal_pending_room(struct journal *j, size_t k)
{
	size_t cap = j->cap_pending ? j->cap_pending : 64;
	struct journal_batch **v;

	while (cap < j->npending + k)
		cap *= 2;
	if (cap == j->cap_pending)
		return true;
	if (!(v = realloc(j->pending, cap * sizeof(*v))))
		return false;
	j->pending = v;
	j->cap_pending = cap;
	return true;
}

/*
 * Moves every loop batch posted since the last take (after what an earlier
 * take could not queue) to the pending list, in order; true if any. Out of
 * memory, the chain waits whole for the next take: a loop's batches are
 * never committed out of order. The fire batch is taken later, by
 * journal_take_fires, within the commit (the ordering rule is there).
 */
static bool journal_take(struct journal *j)
{
	/* llist_del_all: acquire, pairs with journal_flush's push (release) */
	struct llist_node *n = llist_reverse(llist_del_all(&j->in)), **tail = &j->leftover, *next;
	size_t k = 1;	/* room for the fire batch (journal_take_fires) */

	while (*tail)
		tail = &(*tail)->next;
	*tail = n;	/* after the leftover, in posting order */
	for (n = j->leftover; n; n = n->next)
		k++;
	if (!journal_pending_room(j, k)) {
		log_warn_rl("journal: out of memory queueing %zu batches: they wait for the next commit", k - 1);
		return false;
	}
	for (n = j->leftover; n; n = next) {
		next = n->next;
		journal_batch_fix(container_of(n, struct journal_batch, node));
		j->pending[j->npending++] = container_of(n, struct journal_batch, node);
	}
	j->leftover = NULL;
	return k > 1;
}

/* True if the delivery workers' fire batch holds rows. */
static bool journal_fires_waiting(struct journal *j)
{
	bool any;

	pthread_mutex_lock(&j->fire_mu);
	any = j->fires && j->fires->n;
	pthread_mutex_unlock(&j->fire_mu);
	return any;
}

/*
 * The ordering rule (doc/architecture.md, "Durability"): called after the
 * loops' batches of this commit were taken (journal_take) and after the
 * snapshot slice read the engine, it waits until every fire handed to
 * delivery before now has journaled its rows (engine_fires_wait), then
 * moves the fire batch to the pending list, so the same transaction
 * commits the FIRED rows and group deliveries of every fire that
 * happened-before any change in it. Room was made by journal_take.
 * Returns the batch taken, or NULL.
 */
static struct journal_batch *journal_take_fires(struct journal *j)
{
	struct journal_batch *fb = NULL;

	/*
	 * acquire fence: the snapshot slice read id map slots with relaxed
	 * loads; one that saw a fired timer's slot freed (the dispatcher's
	 * release in idmap_release, after its handed count) synchronizes here,
	 * so engine_fires_wait sees that count. The loops' batches need no
	 * fence: the llist swap was an acquire.
	 */
	atomic_thread_fence(memory_order_acquire);
	engine_fires_wait(j->s->engine);
	pthread_mutex_lock(&j->fire_mu);
	if (j->fires && j->fires->n) {
		fb = j->fires;
		j->fires = NULL;
	}
	pthread_mutex_unlock(&j->fire_mu);
	if (fb) {
		journal_batch_fix(fb);
		j->pending[j->npending++] = fb;
	}
	return fb;
}

/* True if this commit must be synced under the policy. */
static bool journal_sync_due(struct journal *j, int64_t now)
{
	switch (j->s->cfg->fsync) {
	case JOURNAL_FSYNC_ALWAYS:
		return true;
	case JOURNAL_FSYNC_INTERVAL:	/* with the syncer, only after its sync failed: journal_sync_ask */
		return j->sync_forced || (j->wal_fd < 0 && now - j->last_sync >= j->interval);
	default:
		return false;
	}
}

/* engine_list callback of a snapshot slice: writes one timer (ephemeral ones are skipped). */
static bool journal_snap_one(void *arg, const struct engine_timer *t)
{
	struct journal *j = arg;
	uint64_t slot = (uint32_t)t->id;
	struct store_rec r;
	char err[JOURNAL_ERR_LEN];

	if (!journal_keeps(t->flags))
		return true;
	journal_rec_of(j->s, t, &r);
	if (store_snap_clear(j->st, j->snap_prev, slot, err, sizeof(err)) < 0 ||
	    store_snap_put(j->st, slot, &r, err, sizeof(err)) < 0) {
		journal_set_error(j, err);
		j->snap_err = true;	/* the slice must fail: a skipped timer would be trimmed away */
		return false;
	}
	j->snap_prev = slot + 1;
	j->snap_rows++;
	return true;
}

/* Starts a snapshot pass when the journal outgrew the live timers. */
static void journal_snap_maybe_start(struct journal *j)
{
	uint64_t rows = store_journal_rows(j->st);

	if (j->snap_running || rows <= j->s->cfg->snapshot_min_rows || rows <= j->snap_live)
		return;
	/* acquire: pairs with journal_lsn's acq_rel; every change with an LSN below is visible to the pass. */
	store_snap_begin(j->st, atomic_load_explicit(&j->next_lsn, memory_order_acquire) - 1);
	j->snap_running = true;
	j->snap_cursor = j->snap_prev = j->snap_rows = 0;
	j->snap_started = engine_now(j->s->engine);
	log_info("journal: %llu changes in the journal: writing a snapshot of the live timers",
		 (unsigned long long)rows);
}

/* Writes the next slice of a running pass into the open transaction; -1 on a store error. */
static int journal_snap_slice(struct journal *j, bool *done)
{
	char err[JOURNAL_ERR_LEN];
	int n;

	*done = false;
	j->snap_err = false;
	n = engine_list(j->s->engine, NULL, 0, &j->snap_cursor, JOURNAL_SNAP_SLICE, journal_snap_one, j);
	if (j->snap_err)
		return -1;
	if (n < 0)
		return 0;	/* out of memory: try again next time */
	if (j->snap_cursor)
		return 0;
	if (store_snap_clear(j->st, j->snap_prev, UINT64_MAX, err, sizeof(err)) < 0 ||
	    store_snap_end(j->st, err, sizeof(err)) < 0) {
		journal_set_error(j, err);
		return -1;
	}
	*done = true;
	return 0;
}

/* A pass was committed whole: the snapshot stands at its LSN. */
static void journal_snap_finish(struct journal *j)
{
	int64_t took = engine_now(j->s->engine) - j->snap_started;

	j->snap_running = false;
	j->snap_live = j->snap_rows;
	ctr_add(&j->snapshots, 1);
	ctr_add(&j->snapshot_rows, j->snap_rows);
	atomic_store_explicit(&j->last_snapshot_ns, took, memory_order_relaxed);
	log_info("journal: snapshot of %llu timers written in %.1f ms; the journal before it is gone",
		 (unsigned long long)j->snap_rows, (double)took / ENGINE_NS_PER_MS);
}

/* Publishes the committed batches to their loops, wakes them, frees the batches. */
static void journal_publish(struct journal *j)
{
	uint64_t rows = 0;

	for (size_t i = 0; i < j->npending; i++) {
		struct journal_batch *b = j->pending[i];

		rows += b->n;
		if (b->loop) {
			/* release: the commit happens-before the loop's acquire in journal_durable. */
			atomic_store_explicit(&b->loop->jdurable, b->seq, memory_order_release);
			loop_wake_journal(b->loop);
		} else {
			/* release: the commit happens-before the group thread's acquire in journal_fires_durable. */
			atomic_store_explicit(&j->fires_durable, b->seq, memory_order_release);
			group_srv_wake(j->s);
		}
		journal_batch_free(b);
	}
	ctr_add(&j->rows, rows);
	ctr_max(&j->batch_rows_max, rows);
	j->npending = 0;
}

/* Has the next commit record the ids handed out and that timerd is alive (meta). */
static void journal_note_meta(struct journal *j, int64_t now)
{
	store_note_gen(j->st, engine_gen_max(j->s->engine));
	store_note_dlv(j->st, group_srv_next_id(j->s));	/* before the rows: above every id they hold */
	if (now - j->last_alive >= JOURNAL_ALIVE_NS) {
		store_note_alive(j->st, j->s->boot, now, engine_now_real(j->s->engine));
		j->last_alive = now;
	}
}

/* With nothing else to commit: writes the meta the store still has to record (not synced). */
static void journal_touch(struct journal *j)
{
	char err[JOURNAL_ERR_LEN];

	journal_note_meta(j, engine_now(j->s->engine));
	if (!store_meta_pending(j->st))
		return;
	if (store_begin(j->st, false, err, sizeof(err)) < 0 || store_commit(j->st, err, sizeof(err)) < 0) {
		store_rollback(j->st);
		log_warn_rl("journal: %s", err);
	}
}

/* At a clean stop (engine and loops stopped): records the exact generation and that the stop was clean. */
static void journal_touch_clean(struct journal *j)
{
	char err[JOURNAL_ERR_LEN];

	store_note_gen(j->st, engine_gen_max(j->s->engine));
	store_note_dlv(j->st, group_srv_next_id(j->s));
	store_note_alive(j->st, j->s->boot, engine_now(j->s->engine), engine_now_real(j->s->engine));
	store_note_clean(j->st, true);
	if (store_begin(j->st, true, err, sizeof(err)) < 0 || store_commit(j->st, err, sizeof(err)) < 0) {
		store_rollback(j->st);
		log_warn("journal: recording a clean stop: %s", err);
	}
}

/* A batch's next group row (journal_commit_groups). */
struct journal_gcur {
	const struct journal_batch *b;
	uint32_t k;
};

/*
 * Appends the pending batches' consumer-group rows in LSN order across the
 * batches; 0 or -1 with err. They are taken under the groups' lock
 * (server/group.c), so LSN order is the order the changes were made: a
 * dead letter's row from the group thread (the fire batch) before the
 * DlqRetry a loop took next, an ack after its delivery's row, whichever
 * batch comes first in pending. Each batch is in LSN order already: a merge.
 */
static int journal_commit_groups(struct journal *j, char *err, size_t errlen)
{
	struct journal_gcur stack_act[64], *act = stack_act;
	size_t na = 0;
	int rc = 0;

	if (j->npending > 64 && !(act = malloc(j->npending * sizeof(*act)))) {
		snprintf(err, errlen, "out of memory ordering %zu batches' group rows", j->npending);
		return -1;
	}
	for (size_t i = 0; i < j->npending; i++) {	/* the batches holding group rows, at their first */
		uint32_t k = 0;

		while (k < j->pending[i]->n && j->pending[i]->rows[k].op < STORE_GROUP_PUT)
			k++;
		if (k < j->pending[i]->n)
			act[na++] = (struct journal_gcur){ j->pending[i], k };
	}
	while (na && rc == 0) {
		size_t m = 0;

		for (size_t x = 1; x < na; x++)
			if (act[x].b->rows[act[x].k].lsn < act[m].b->rows[act[m].k].lsn)
				m = x;
		rc = store_append(j->st, &act[m].b->rows[act[m].k], err, errlen);
		do
			act[m].k++;
		while (act[m].k < act[m].b->n && act[m].b->rows[act[m].k].op < STORE_GROUP_PUT);
		if (act[m].k == act[m].b->n)
			act[m] = act[--na];	/* that batch is done */
	}
	if (act != stack_act)
		free(act);
	return rc;
}

/* The slot of id in the fired set (open addressing, linear probing; 0 is never an id). */
static size_t journal_fired_slot(const struct journal *j, uint64_t id)
{
	size_t m = j->fired_n - 1, i = (size_t)((id * UINT64_C(0x9e3779b97f4a7c15)) >> 32) & m;

	while (j->fired_set[i] && j->fired_set[i] != id)
		i = (i + 1) & m;
	return i;
}

/*
 * Indexes the ids of the STORE_FIRED rows in the pending fire batches (all
 * of them: after failed commits there may be several), so that the commit
 * can leave out the PUTs and DELs of those timers (journal_coalesced).
 * Built again for every attempt, retries included, from the rows pending
 * then. Nothing is indexed (every row is written) with no loop batch
 * pending, no FIRED row, more than JOURNAL_COALESCE_MAX of them (commits
 * failing or stalled), or out of memory.
 */
static void journal_coalesce_index(struct journal *j)
{
	size_t n = 0, loops = 0, cap;

	j->fired_n = 0;
	for (size_t i = 0; i < j->npending; i++)
		if (j->pending[i]->loop)
			loops++;
		else
			n += j->pending[i]->n;	/* FIRED and group rows: an upper bound */
	if (!loops || !n)
		return;
	if (n > JOURNAL_COALESCE_MAX) {
		n = 0;
		for (size_t i = 0; i < j->npending; i++)
			for (uint32_t k = 0; !j->pending[i]->loop && k < j->pending[i]->n; k++)
				n += j->pending[i]->rows[k].op == STORE_FIRED;
		if (n > JOURNAL_COALESCE_MAX)
			return;
	}
	for (cap = 64; cap < 2 * n; cap *= 2)
		;
	if (cap > j->fired_cap) {
		uint64_t *v = realloc(j->fired_set, cap * sizeof(*v));

		if (!v)
			return;
		j->fired_set = v;
		j->fired_cap = cap;
	}
	j->fired_n = cap;	/* not fired_cap: one big commit must not make every later one clear a megabyte */
	memset(j->fired_set, 0, cap * sizeof(*j->fired_set));
	for (size_t i = 0; i < j->npending; i++) {
		const struct journal_batch *b = j->pending[i];

		for (uint32_t k = 0; !b->loop && k < b->n; k++)
			if (b->rows[k].op == STORE_FIRED && b->rows[k].id)
				j->fired_set[journal_fired_slot(j, b->rows[k].id)] = b->rows[k].id;
	}
}

/*
 * True if loop row r is left out of this commit because its timer's FIRED
 * row is in it (doc/architecture.md, "Durability": a FIRED is final at the
 * load, and removes an older generation from its slot as a PUT would): a
 * DEL, or a PUT of a timer without a key (a keyed PUT also evicts the
 * committed holder of its key at the load, which the FIRED row cannot do).
 */
static bool journal_coalesced(const struct journal *j, const struct store_rec *r)
{
	if (!j->fired_n || !r->id || (r->op != STORE_DEL && (r->op != STORE_PUT || (r->key && r->keylen))))
		return false;
	return j->fired_set[journal_fired_slot(j, r->id)] == r->id;
}

/*
 * One group commit of everything pending (plus a snapshot slice); 0 or -1
 * (rows kept). The fire batch is taken after the loops' batches and the
 * slice, once per pending set (a retry takes it if its failed attempt did not).
 */
static int journal_commit(struct journal *j)
{
	int64_t t0 = engine_now(j->s->engine);
	bool sync = journal_sync_due(j, t0), snap_done = false;
	char err[JOURNAL_ERR_LEN];
	uint64_t coalesced = 0;

	if (store_begin(j->st, sync, err, sizeof(err)) < 0)
		goto fail;
	if (j->snap_running && journal_snap_slice(j, &snap_done) < 0) {
		pthread_mutex_lock(&j->err_mu);	/* the syncer may be writing it */
		snprintf(err, sizeof(err), "%s", j->last_error);
		pthread_mutex_unlock(&j->err_mu);
		goto fail_tx;
	}
	/*
	 * The ordering rule: after the loops' batches were taken and the slice
	 * read the engine. A retry takes them too if the failed attempt ended
	 * before it did (store_begin or the slice failed): its pending loop
	 * batches must not commit without the fires that happened-before them.
	 */
	if (!j->fires_taken) {
		journal_take_fires(j);
		j->fires_taken = true;
	}
	/* timer rows (rowid = LSN: insertion order does not matter), then group rows in LSN order */
	journal_coalesce_index(j);
	for (size_t i = 0; i < j->npending; i++)
		for (uint32_t k = 0; k < j->pending[i]->n; k++) {
			const struct store_rec *r = &j->pending[i]->rows[k];

			if (r->op >= STORE_GROUP_PUT)
				continue;
			if (j->pending[i]->loop && journal_coalesced(j, r))
				coalesced++;
			else if (store_append(j->st, r, err, sizeof(err)) < 0)
				goto fail_tx;
		}
	if (journal_commit_groups(j, err, sizeof(err)) < 0)
		goto fail_tx;
	journal_note_meta(j, t0);	/* after the fire batch's mutex: dlv_next above every id in its rows */
	if (store_commit(j->st, err, sizeof(err)) < 0)
		goto fail;
	hist_record(&j->commit_ns, engine_now(j->s->engine) - t0);
	ctr_add(&j->commits, 1);
	ctr_add(&j->coalesced_rows, coalesced);	/* once committed: a retry counts its rows again */
	if (sync) {
		j->last_sync = t0;
		j->unsynced = false;
		j->sync_forced = false;
		ctr_add(&j->syncs, 1);
	} else {
		j->unsynced = true;
	}
	if (snap_done)
		journal_snap_finish(j);
	journal_publish(j);
	return 0;
fail_tx:
	store_rollback(j->st);
fail:
	journal_set_error(j, err);
	if (j->snap_running)
		j->snap_cursor = 0, j->snap_running = false;	/* start the pass again later */
	return -1;
}

/* Updates the gauges stats read. */
static void journal_gauges(struct journal *j)
{
	int64_t now = engine_now(j->s->engine);

	/* relaxed: gauges */
	atomic_store_explicit(&j->journal_rows, store_journal_rows(j->st), memory_order_relaxed);
	if (now - j->gauges_at < JOURNAL_GAUGES_NS)
		return;	/* two stat(2) calls: not at every commit (thousands a second under load) */
	j->gauges_at = now;
	atomic_store_explicit(&j->file_bytes, store_file_bytes(j->st), memory_order_relaxed);
}

/*
 * The syncer (--fsync DURATION): each time it is asked, one fdatasync of
 * timers.db-wal, which makes every commit that ended before it began
 * durable (in WAL mode a commit is its frames in the WAL; SQLite's own
 * synchronous=FULL syncs exactly that file, and synchronous=NORMAL, which
 * the commits use, stays safe from corruption whatever reaches the disk:
 * frames past the last synced commit fail their checksums and are
 * ignored). The journal thread goes on committing meanwhile; replies under
 * an interval never wait for a sync, so nothing else changes: a power loss
 * loses at most the commits of the last interval plus those made during
 * up to two syncs (the one running when a sync is asked, and the asked
 * one, which starts after it): unbounded if the disk stalls.
 * A failed fdatasync sets sync_failed: the journal thread then refuses
 * writes (failing) and makes its next commit a synchronous one, as when a
 * synchronous commit fails (journal_sync_check). Only this thread adds to
 * j->syncs while it runs.
 */
static void *journal_syncer_main(void *arg)
{
	struct journal *j = arg;

	pthread_mutex_lock(&j->sync_mu);
	for (;;) {
		while (!j->sync_want && !j->sync_stop)
			pthread_cond_wait(&j->sync_cv, &j->sync_mu);
		if (!j->sync_want)
			break;	/* stopping, nothing asked */
		j->sync_want = false;
		pthread_mutex_unlock(&j->sync_mu);
		if (fdatasync(j->wal_fd) == 0) {
			ctr_add(&j->syncs, 1);
		} else {
			char err[JOURNAL_ERR_LEN];

			snprintf(err, sizeof(err), "syncing %.400s-wal: %s", j->s->store_path, strerror(errno));
			journal_set_error(j, err);
			/* release: orders last_error (also under err_mu) before the journal thread's acquire */
			atomic_store_explicit(&j->sync_failed, true, memory_order_release);
			journal_wake(j);
		}
		pthread_mutex_lock(&j->sync_mu);
	}
	pthread_mutex_unlock(&j->sync_mu);
	return NULL;
}

/* Asks the syncer for a sync of everything committed so far (journal thread). */
static void journal_sync_ask(struct journal *j)
{
	pthread_mutex_lock(&j->sync_mu);	/* the mutex orders the commits before it with the syncer's fdatasync */
	j->sync_want = true;
	pthread_cond_signal(&j->sync_cv);
	pthread_mutex_unlock(&j->sync_mu);
	j->last_sync = engine_now(j->s->engine);
	j->unsynced = false;
}

/* Starts the syncer under --fsync DURATION (journal_start); without it, due syncs stay synchronous commits. */
static void journal_syncer_start(struct journal *j)
{
	char path[sizeof(j->s->store_path) + 8];
	int rc;

	if (j->s->cfg->fsync != JOURNAL_FSYNC_INTERVAL)
		return;
	snprintf(path, sizeof(path), "%s-wal", j->s->store_path);
	if ((j->wal_fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		log_info("journal: cannot open %s (%s): interval syncs are made by the commits", path, strerror(errno));
		return;
	}
	if ((rc = pthread_create(&j->sync_thread, NULL, journal_syncer_main, j)) != 0) {
		log_info("journal: cannot start the syncer (%s): interval syncs are made by the commits", strerror(rc));
		close(j->wal_fd);
		j->wal_fd = -1;
		return;
	}
	j->sync_started = true;
}

/* Stops the syncer after its last asked sync (the journal thread has exited). */
static void journal_syncer_stop(struct journal *j)
{
	if (!j->sync_started)
		return;
	pthread_mutex_lock(&j->sync_mu);
	j->sync_stop = true;
	pthread_cond_signal(&j->sync_cv);
	pthread_mutex_unlock(&j->sync_mu);
	pthread_join(j->sync_thread, NULL);
	j->sync_started = false;
}

/* Waits for work: posted batches, a due interval sync, or the retry delay (ms; -1: none). */
static void journal_wait(struct journal *j, int timeout_ms)
{
	struct pollfd p = { .fd = j->efd, .events = POLLIN };
	uint64_t v;

	if (poll(&p, 1, timeout_ms) > 0 && read(j->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_warn_rl("journal: reading its eventfd: %s", strerror(errno));
}

/* How long the thread may sleep: until the interval sync is due, or forever. */
static int journal_timeout(struct journal *j)
{
	int64_t left;

	int alive = (int)(JOURNAL_ALIVE_NS / ENGINE_NS_PER_MS);

	if (j->snap_running)
		return 0;
	if (!j->unsynced || j->s->cfg->fsync != JOURNAL_FSYNC_INTERVAL)
		return alive;	/* wake to record the alive time (journal_touch) */
	left = j->last_sync + j->interval - engine_now(j->s->engine);
	left = left <= 0 ? 0 : left / ENGINE_NS_PER_MS + 1;
	return left < alive ? (int)left : alive;
}

/* A commit failed: say so once, refuse new writes, back off. */
static void journal_failed(struct journal *j, int *retry_ms)
{
	char msg[JOURNAL_ERR_LEN];

	ctr_add(&j->commit_errors, 1);
	pthread_mutex_lock(&j->err_mu);
	snprintf(msg, sizeof(msg), "%s", j->last_error);
	pthread_mutex_unlock(&j->err_mu);
	if (!atomic_exchange_explicit(&j->failing, true, memory_order_relaxed))
		log_err("journal: cannot commit to the timer store: %s; arms and cancels are refused (STORAGE) "
			"until it works again; timers still fire; retrying", msg);
	*retry_ms = *retry_ms ? (*retry_ms * 2 > JOURNAL_RETRY_MAX_MS ? JOURNAL_RETRY_MAX_MS : *retry_ms * 2)
			      : JOURNAL_RETRY_MIN_MS;
}

/*
 * The syncer's fdatasync failed (journal thread): what it was to make
 * durable may not be, so as for a failed synchronous commit, writes are
 * refused and the next commit (or, idle, a sync) is synchronous; failing
 * clears once one succeeds. True if a failure was taken.
 */
static bool journal_sync_check(struct journal *j, int *retry_ms)
{
	/* acquire: pairs with the syncer's release (its last_error is set) */
	if (!atomic_exchange_explicit(&j->sync_failed, false, memory_order_acquire))
		return false;
	j->unsynced = true;
	j->sync_forced = true;
	journal_failed(j, retry_ms);
	return true;
}

/* A commit worked after failures: writes are taken again. */
static void journal_recovered(struct journal *j, int *retry_ms)
{
	*retry_ms = 0;
	if (atomic_exchange_explicit(&j->failing, false, memory_order_relaxed))
		log_notice("journal: the timer store is writable again; arms and cancels are taken");
}

/* The thread: take, commit, publish; interval syncs; snapshots. */
static void *journal_main(void *arg)
{
	struct journal *j = arg;
	int retry_ms = 0;
	char err[JOURNAL_ERR_LEN];

	for (;;) {
		bool stopping = atomic_load_explicit(&j->stop, memory_order_acquire);
		/*
		 * A failed transaction is retried with the loop batches it had
		 * (and its fire batch, or the fires up to the retry if it failed
		 * before taking them: journal_commit); new batches once it commits.
		 * Meanwhile the fire batch stays in j->fires, whose cap bounds it.
		 */
		bool fresh = !j->npending;
		bool work;

		if (fresh)
			j->fires_taken = false;	/* a new pending set: its commit takes the fire batch */

		journal_sync_check(j, &retry_ms);
		work = !fresh || journal_take(j) || journal_fires_waiting(j);

		if (work || (j->snap_running && !stopping)) {	/* a pass is dropped at shutdown */
			if (journal_commit(j) < 0) {
				journal_failed(j, &retry_ms);
				if (stopping && retry_ms >= JOURNAL_RETRY_MAX_MS)
					break;	/* stopping on a store that keeps failing: give up */
				journal_wait(j, retry_ms);
				continue;
			}
			if (!journal_sync_check(j, &retry_ms) && !j->sync_forced)
				journal_recovered(j, &retry_ms);	/* a forced commit was synchronous */
			if (j->sync_started && !j->sync_forced && j->unsynced &&
			    engine_now(j->s->engine) - j->last_sync >= j->interval)
				journal_sync_ask(j);	/* under load the idle path below is rarely reached */
			journal_snap_maybe_start(j);
			journal_gauges(j);
			continue;
		}
		if (j->sync_forced) {	/* idle after a failed sync: a synchronous one on this thread */
			if (store_sync(j->st, err, sizeof(err)) == 0) {
				j->unsynced = j->sync_forced = false;
				j->last_sync = engine_now(j->s->engine);
				ctr_add(&j->syncs, 1);
				journal_recovered(j, &retry_ms);
			} else {
				journal_set_error(j, err);
				journal_failed(j, &retry_ms);
				if (stopping && retry_ms >= JOURNAL_RETRY_MAX_MS)
					break;	/* stopping on a disk that keeps failing: give up */
				journal_wait(j, retry_ms);
			}
			continue;
		}
		if (j->unsynced && j->s->cfg->fsync == JOURNAL_FSYNC_INTERVAL &&
		    engine_now(j->s->engine) - j->last_sync >= j->interval) {
			if (j->sync_started) {
				journal_sync_ask(j);
			} else if (store_sync(j->st, err, sizeof(err)) == 0) {
				j->unsynced = false;
				j->last_sync = engine_now(j->s->engine);
				ctr_add(&j->syncs, 1);
			} else {
				journal_set_error(j, err);
				log_warn_rl("journal: %s", err);
			}
			continue;
		}
		journal_touch(j);
		if (stopping)
			break;
		journal_snap_maybe_start(j);	/* idle too: after a restore that left a long journal */
		if (j->snap_running)
			continue;
		journal_wait(j, journal_timeout(j));
	}
	if (j->npending)
		log_err("journal: %zu batches could not be committed at shutdown", j->npending);
	else
		journal_touch_clean(j);	/* every id handed out is recorded: the next start needs no margin */
	return NULL;
}

/* --- recovery --- */

/* One-shot ids the journal says fired, during a load: a fired one-shot is gone for good. */
struct journal_delset {
	uint64_t *v;
	size_t cap, n;
};

/* Mixes an id into a set index. */
static size_t journal_delset_hash(uint64_t id, size_t cap)
{
	id ^= id >> 33;
	id *= 0xff51afd7ed558ccdULL;
	id ^= id >> 33;
	return (size_t)id & (cap - 1);
}

/* True if id is in the set. */
static bool journal_delset_has(const struct journal_delset *d, uint64_t id)
{
	if (!d->cap)
		return false;
	for (size_t i = journal_delset_hash(id, d->cap);; i = (i + 1) & (d->cap - 1)) {
		if (d->v[i] == id)
			return true;
		if (!d->v[i])
			return false;
	}
}

/* Adds id; false if out of memory. */
static bool journal_delset_add(struct journal_delset *d, uint64_t id)
{
	if ((d->n + 1) * 100 > d->cap * JOURNAL_DELSET_LOAD) {
		struct journal_delset g = { .cap = d->cap ? d->cap * 2 : 1024 };

		if (!(g.v = calloc(g.cap, sizeof(*g.v))))
			return false;
		for (size_t i = 0; i < d->cap; i++)
			if (d->v[i])
				journal_delset_add(&g, d->v[i]);
		free(d->v);
		*d = g;
	}
	for (size_t i = journal_delset_hash(id, d->cap);; i = (i + 1) & (d->cap - 1)) {
		if (d->v[i] == id)
			return true;
		if (!d->v[i]) {
			d->v[i] = id;
			d->n++;
			return true;
		}
	}
}

/* What a load needs as it goes. */
struct journal_load {
	struct journal *j;
	struct journal_delset del;
	int64_t now_mono, now_real;
	uint32_t max_gen;
	uint64_t skipped;	/* late one-shots dropped (misfire skip) */
	bool bulk;		/* snapshot rows (distinct slots) go in without key lookups */
	const struct store_load_stats *ls;	/* its alive_* are set before the first row */
	int64_t late_max;
	char *err;
	size_t errlen;
};

/* The monotonic deadline of a saved timer in this boot. */
static int64_t journal_load_deadline(struct journal_load *ld, const struct store_rec *r)
{
	if (r->boot == ld->j->s->boot && r->boot)
		return r->deadline;
	return r->wall - (ld->now_real - ld->now_mono);	/* another boot: through the wall clock */
}

/* When timerd was last alive on clock (this boot's monotonic time, or wall time); 0 if unknown. */
static int64_t journal_load_alive(const struct journal_load *ld, uint8_t clock)
{
	const struct store_load_stats *ls = ld->ls;

	if (!ls->alive_real)
		return 0;
	if (clock == STORE_REAL)
		return ls->alive_real;
	if (ls->alive_boot == ld->j->s->boot && ls->alive_boot)
		return ls->alive_mono;
	return ls->alive_real - (ld->now_real - ld->now_mono);	/* another boot: through the wall clock */
}

/* The first period of p after now, keeping the phase of deadline d. */
static int64_t journal_next_period(int64_t d, int64_t p, int64_t now)
{
	return d + ((now - d) / p + 1) * p;
}

/* Drops a saved timer at the restore: whatever an earlier row of its id restored goes too. */
static int journal_load_drop(struct journal_load *ld, struct engine_arm *a, uint64_t id)
{
	cal_free(a->cal);
	a->cal = NULL;
	engine_restore_del(ld->j->s->engine, id);
	return 1;
}

/*
 * A saved calendar timer: its schedule parsed again into a->cal (under
 * today's tz rules) and its deadline in a->time (unix ns): the elapses up
 * to when timerd was last alive fired; the first one after that stands,
 * late or not. 0; 1 if it is dropped (the schedule no longer parses, or has
 * no elapse left: logged); TD_ENOMEM.
 */
static int journal_load_cal(struct journal_load *ld, const struct store_rec *r, struct engine_arm *a)
{
	int64_t alive = journal_load_alive(ld, STORE_REAL);
	char *expr = strndup(r->calendar, r->calendarlen), why[256];
	int rc;

	if (!expr)
		return TD_ENOMEM;
	a->when = ENGINE_AT_REAL;
	a->period = 0;
	if ((rc = cal_parse(expr, &a->cal, why, sizeof(why))) == 0 &&
	    cal_next(a->cal, alive && r->deadline <= alive ? alive : r->deadline - 1, &a->time) != 0) {
		rc = TD_ENOENT;
		snprintf(why, sizeof(why), "it has no elapse left");
	}
	if (rc && rc != TD_ENOMEM)
		log_warn_rl("journal: timer %llx: its calendar '%s' cannot be restored (%s): the timer is dropped",
			    (unsigned long long)r->id, expr, why);
	free(expr);
	if (rc == TD_ENOMEM)
		return rc;
	return rc ? journal_load_drop(ld, a, r->id) : 0;
}

/* Restores one saved put; 0, 1 if it was skipped (misfire skip), or a TD_* error. */
static int journal_load_put(struct journal_load *ld, const struct store_rec *r)
{
	struct engine_arm a = { .key = r->key, .keylen = r->key ? r->keylen : 0, .topic = r->topic,
				.topiclen = r->topiclen, .payload = r->payload, .payloadlen = r->payloadlen,
				.period = r->period, .flags = r->flags & JOURNAL_FLAGS_KEPT,
				.label = r->owner, .labellen = r->ownerlen <= ENGINE_MAX_LABEL ? r->ownerlen : 0 };
	int64_t alive;
	bool late;
	int rc;

	if (r->calendar) {
		if ((rc = journal_load_cal(ld, r, &a)) != 0)
			return rc;
	} else if (r->clock == STORE_REAL) {
		a.when = ENGINE_AT_REAL;
		a.time = r->deadline;
	} else {
		a.when = ENGINE_AT_MONO;
		a.time = journal_load_deadline(ld, r);
	}
	/* a periodic timer fired every period up to when timerd was last alive: not late for those */
	alive = journal_load_alive(ld, r->clock);
	if (r->period && alive && a.time <= alive)
		a.time = journal_next_period(a.time, r->period, alive);
	late = a.time <= (a.when == ENGINE_AT_REAL ? ld->now_real : ld->now_mono);
	if (a.time < 0)
		a.time = 0;
	if (late && (r->flags & JOURNAL_FLAG_SKIP)) {
		if (a.cal) {
			/* calendar: go on at the first elapse after now */
			if (cal_next(a.cal, ld->now_real, &a.time) != 0) {
				ld->skipped++;
				return journal_load_drop(ld, &a, r->id);
			}
		} else if (!r->period) {
			engine_restore_del(ld->j->s->engine, r->id);
			ld->skipped++;
			return 1;
		} else {
			a.time = journal_next_period(a.time, r->period,
						     a.when == ENGINE_AT_REAL ? ld->now_real : ld->now_mono);
		}
		late = false;
	}
	if (a.labellen) {	/* a restored timer counts for its owner's max-timers/max-memory (never refused) */
		char owner[ENGINE_MAX_LABEL + 1];

		memcpy(owner, a.label, a.labellen);
		owner[a.labellen] = 0;
		a.acct = quota_acct(ld->j->s, NULL, owner);
	}
	if (late) {
		int64_t by = (a.when == ENGINE_AT_REAL ? ld->now_real : ld->now_mono) - a.time;

		a.flags |= JOURNAL_FLAG_RECOVERED;
		if (by > ld->late_max)
			ld->late_max = by;
	}
	return engine_restore_put(ld->j->s->engine, r->id, &a);
}

/* Ends the bulk part of a load: the snapshot's keys go into the key table. */
static int journal_load_bulk_end(struct journal_load *ld)
{
	ld->bulk = false;
	if (engine_restore_bulk_end(ld->j->s->engine) < 0) {
		snprintf(ld->err, ld->errlen, "out of memory building the key table from the store");
		return -1;
	}
	return 0;
}

/* store_load callback: applies one row to the engine. */
static int journal_load_row(void *arg, const struct store_rec *r)
{
	struct journal_load *ld = arg;
	int rc;

	if ((uint32_t)(r->id >> 32) > ld->max_gen)
		ld->max_gen = (uint32_t)(r->id >> 32);
	if (r->lsn && ld->bulk && journal_load_bulk_end(ld) < 0)
		return -1;	/* the snapshot is in: keys into the table before the journal */
	if (r->op == STORE_DEL) {
		engine_restore_del(ld->j->s->engine, r->id);	/* a later put of the id revives it */
		return 0;
	}
	if (r->op == STORE_FIRED) {
		engine_restore_fired(ld->j->s->engine, r->id);	/* and an older generation of its slot */
		if (!journal_delset_add(&ld->del, r->id)) {
			snprintf(ld->err, ld->errlen, "out of memory loading the timer store");
			return -1;
		}
		return 0;
	}
	if (r->lsn && journal_delset_has(&ld->del, r->id))
		return 0;	/* put after its one-shot fired (the fire raced the arm's journaling): gone */
	rc = journal_load_put(ld, r);
	if (rc < 0) {
		snprintf(ld->err, ld->errlen, "restoring timer %llx from the store: %s", (unsigned long long)r->id,
			 td_strerror(rc));
		return rc == TD_ENOMEM || rc == TD_EFULL ? -1 : 0;	/* a row the limits refuse is skipped */
	}
	return 0;
}

/* Loads the store into the engine; 0 or -1 with err. */
static int journal_load(struct journal *j, char *err, size_t errlen)
{
	struct store_load_stats ls;
	struct journal_load ld = { .j = j, .err = err, .errlen = errlen, .ls = &ls };
	int64_t t0 = engine_now(j->s->engine);
	uint64_t floor;
	int rc;

	ld.now_mono = t0;
	ld.now_real = engine_now_real(j->s->engine);
	err[0] = 0;
	if (engine_restore_reserve(j->s->engine, store_expected_keys(j->st)) < 0)
		return td_errf(err, errlen, "out of memory sizing the key table for %s", j->s->store_path);
	engine_restore_bulk(j->s->engine);
	ld.bulk = true;
	rc = store_load(j->st, journal_load_row, &ld, &ls, err, errlen);
	if (rc == 0 && ld.bulk)
		rc = journal_load_bulk_end(&ld);	/* no journal rows after the snapshot */
	free(ld.del.v);
	if (rc < 0)
		return -1;
	if (err[0])
		log_warn("journal: %s (skipped)", err);
	if (group_srv_load(j->s, j->st, err, errlen) < 0)
		return -1;
	if (ls.max_gen > ld.max_gen)
		ld.max_gen = (uint32_t)ls.max_gen;
	floor = ld.max_gen + (ls.clean ? 1 : JOURNAL_GEN_MARGIN);	/* ids handed out since max_gen was recorded */
	j->loaded = engine_restore_done(j->s->engine, floor > UINT32_MAX ? UINT32_MAX : (uint32_t)floor,
					JOURNAL_FLAG_RECOVERED, &j->recovered_late);
	atomic_store_explicit(&j->next_lsn, ls.next_lsn, memory_order_relaxed);
	j->load_ns = engine_now(j->s->engine) - t0;
	j->load_snap_rows = ls.snap_rows;
	j->load_journal_rows = ls.journal_rows;
	j->snap_live = ls.snap_rows;
	j->skipped_late = ld.skipped;
	j->recovered_late_max_ns = ld.late_max;
	log_notice("journal: %llu timers restored from %s in %.1f ms (%llu snapshot rows, %llu journal rows); "
		   "%llu came due while timerd was down (the latest by %.3fs), %llu skipped (misfire skip)",
		   (unsigned long long)j->loaded, j->s->store_path, (double)j->load_ns / ENGINE_NS_PER_MS,
		   (unsigned long long)ls.snap_rows, (unsigned long long)ls.journal_rows,
		   (unsigned long long)j->recovered_late, (double)j->recovered_late_max_ns / ENGINE_NS_PER_S,
		   (unsigned long long)j->skipped_late);
	return 0;
}

/* Frees a journal that is not running. */
static void journal_free(struct journal *j)
{
	if (!j)
		return;
	journal_syncer_stop(j);	/* before the store closes (after a failed start too) */
	for (size_t i = 0; i < j->npending; i++)
		journal_batch_free(j->pending[i]);
	free(j->pending);
	free(j->fired_set);
	journal_batch_free(j->fires);
	for (struct llist_node *n = llist_del_all(&j->in), *next; n; n = next) {
		next = n->next;
		journal_batch_free(container_of(n, struct journal_batch, node));
	}
	for (struct llist_node *n = j->leftover, *next; n; n = next) {
		next = n->next;
		journal_batch_free(container_of(n, struct journal_batch, node));
	}
	if (j->st)
		store_close(j->st);
	if (j->efd >= 0)
		close(j->efd);
	if (j->wal_fd >= 0)
		close(j->wal_fd);
	pthread_cond_destroy(&j->sync_cv);
	pthread_mutex_destroy(&j->sync_mu);
	pthread_mutex_destroy(&j->fire_mu);
	pthread_mutex_destroy(&j->err_mu);
	free(j);
}

int journal_open(struct srv *s, char *err, size_t errlen)
{
	struct store_opts o = { .create = true };
	struct journal *j;

	int dfd;

	if (s->cfg->memory_only)
		return 0;
	if ((dfd = srv_dir_open(s->cfg->state_dir, 0700, true, "timers.db", err, errlen)) < 0)
		return -1;	/* says what to do; state-dir or --memory-only are the ways out */
	close(dfd);
	snprintf(s->store_path, sizeof(s->store_path), "%s/timers.db", s->cfg->state_dir);
	if (srv_state_file(s->store_path, err, errlen) < 0)
		return -1;
	if (!(j = calloc(1, sizeof(*j))))
		return td_errf(err, errlen, "out of memory");
	j->s = s;
	j->efd = -1;
	j->wal_fd = -1;
	j->interval = s->cfg->fsync_interval_ns;
	pthread_mutex_init(&j->fire_mu, NULL);
	pthread_mutex_init(&j->sync_mu, NULL);
	pthread_cond_init(&j->sync_cv, NULL);
	pthread_mutex_init(&j->err_mu, NULL);
	atomic_init(&j->next_lsn, 1);
	if ((j->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
		td_errf(err, errlen, "cannot create the journal's eventfd: %s", strerror(errno));
		goto fail;
	}
	s->boot = store_boot_hash(getenv("TIMERD_TEST_BOOT_ID"));	/* tests inject a new boot */
	if (store_open(s->store_path, &o, &j->st, err, errlen) < 0 || journal_load(j, err, errlen) < 0)
		goto fail;
	j->last_sync = engine_now(s->engine);
	journal_gauges(j);
	s->journal = j;
	return 0;
fail:
	journal_free(j);
	return -1;
}

int journal_start(struct srv *s, char *err, size_t errlen)
{
	struct journal *j = s->journal;
	int rc;

	if (!j)
		return 0;
	journal_syncer_start(j);
	if ((rc = pthread_create(&j->thread, NULL, journal_main, j)) != 0)
		return td_errf(err, errlen, "cannot start the journal thread: %s", strerror(rc));
	j->started = true;
	return 0;
}

void journal_stop(struct srv *s)
{
	struct journal *j = s->journal;

	if (!j)
		return;
	if (j->started) {
		/* release: everything posted before is taken by the thread's last round. */
		atomic_store_explicit(&j->stop, true, memory_order_release);
		journal_wake(j);
		pthread_join(j->thread, NULL);
	}
	journal_syncer_stop(j);
	s->journal = NULL;
	journal_free(j);
}

void journal_stats(struct srv *s, struct journal_stats *st)
{
	struct journal *j = s->journal;
	struct hist_snap h;

	memset(st, 0, sizeof(*st));
	st->durable = j != NULL;
	st->fsync = s->cfg->fsync;
	st->fsync_interval_ns = s->cfg->fsync_interval_ns;
	if (!j)
		return;
	/* relaxed (all): counters and gauges */
	st->failing = atomic_load_explicit(&j->failing, memory_order_relaxed);
	st->commits = atomic_load_explicit(&j->commits, memory_order_relaxed);
	st->rows = atomic_load_explicit(&j->rows, memory_order_relaxed);
	st->syncs = atomic_load_explicit(&j->syncs, memory_order_relaxed);
	st->commit_errors = atomic_load_explicit(&j->commit_errors, memory_order_relaxed);
	st->fire_rows_dropped = atomic_load_explicit(&j->fire_rows_dropped, memory_order_relaxed);
	st->coalesced_rows = atomic_load_explicit(&j->coalesced_rows, memory_order_relaxed);
	st->snapshots = atomic_load_explicit(&j->snapshots, memory_order_relaxed);
	st->snapshot_rows = atomic_load_explicit(&j->snapshot_rows, memory_order_relaxed);
	st->last_snapshot_ns = atomic_load_explicit(&j->last_snapshot_ns, memory_order_relaxed);
	st->journal_rows = atomic_load_explicit(&j->journal_rows, memory_order_relaxed);
	st->file_bytes = atomic_load_explicit(&j->file_bytes, memory_order_relaxed);
	st->batch_rows_max = atomic_load_explicit(&j->batch_rows_max, memory_order_relaxed);
	st->loaded = j->loaded;
	st->load_snap_rows = j->load_snap_rows;
	st->load_journal_rows = j->load_journal_rows;
	st->load_ns = j->load_ns;
	st->recovered_late = j->recovered_late;
	st->skipped_late = j->skipped_late;
	st->recovered_late_max_ns = j->recovered_late_max_ns;
	hist_snapshot(&j->commit_ns, &h);
	st->commit_p50_ns = hist_percentile(&h, 50.0);
	st->commit_p99_ns = hist_percentile(&h, 99.0);
	pthread_mutex_lock(&j->err_mu);
	snprintf(st->last_error, sizeof(st->last_error), "%s", j->last_error);
	pthread_mutex_unlock(&j->err_mu);
}

/* Counts rows for --check-store. */
static int journal_check_row(void *arg, const struct store_rec *r)
{
	uint64_t *n = arg;

	n[r->op != STORE_PUT]++;
	return 0;
}

int journal_check_store(const char *state_dir, FILE *out)
{
	struct store_opts o = { .create = false };
	struct store_load_stats ls;
	struct store *st;
	char path[4200], report[1024];
	uint64_t n[2] = { 0, 0 };

	snprintf(path, sizeof(path), "%s/timers.db", state_dir);
	if (store_open(path, &o, &st, report, sizeof(report)) < 0) {
		fprintf(out, "timerd: %s\n", report);
		return 1;
	}
	if (store_check(st, &ls, report, sizeof(report)) < 0 ||
	    store_load(st, journal_check_row, n, &ls, report, sizeof(report)) < 0) {
		fprintf(out, "timerd: %s\n", report);
		store_close(st);
		return 1;
	}
	fprintf(out, "%s\n", report);
	fprintf(out, "replay: %llu puts, %llu removals\n", (unsigned long long)n[0], (unsigned long long)n[1]);
	store_close(st);
	return 0;
}
