/*
 * store.c -- the durable timer store on SQLite (see store.h).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store/store.h"

/* Columns after the key column, shared by journal and snap, in bind order. */
#define STORE_COLS "id, boot, clock, deadline, wall, period, misfire, flags, key, topic, payload, calendar, owner"
#define STORE_NCOLS 13

/* Journal rows per INSERT statement (one step writes this many: far fewer VDBE runs per row). */
#define STORE_MULTI 32
/*
 * Statements of 1, 2, 4 ... STORE_MULTI rows (index: log2 of the count): a
 * partial queue at commit goes out in at most log2(STORE_MULTI) + 1 steps,
 * not row by row.
 */
#define STORE_NSIZES 6
/* The deliveries table's columns bound per row (the rest are constants: a new delivery is live). */
#define STORE_DLV_NCOLS 10

/* WAL pages after which the checkpointer copies the log into the database (4 MiB of 4 KiB pages). */
#define STORE_CKPT_PAGES 1000
/* WAL pages after which the writer checkpoints itself, after its commit (6 MiB): bounds the WAL. */
#define STORE_CKPT_INLINE_PAGES 1500

/*
 * Upgrades of older formats, in place: version 1 had no calendar column
 * (its rows read back with calendar NULL, as timers without a schedule).
 */
static const char store_upgrade_1[] =
	"ALTER TABLE journal ADD COLUMN calendar BLOB;"
	"ALTER TABLE snap ADD COLUMN calendar BLOB;";

/* Version 3 adds the consumer groups' tables (a version 2 file simply had no groups). */
static const char store_upgrade_2[] =
	"CREATE TABLE groups(name TEXT PRIMARY KEY, settings BLOB NOT NULL);"
	"CREATE TABLE deliveries(id INTEGER PRIMARY KEY, grp TEXT NOT NULL, timer_id INTEGER NOT NULL,"
	" key BLOB, topic BLOB, payload BLOB, deadline INTEGER NOT NULL, fired INTEGER NOT NULL,"
	" period INTEGER NOT NULL, attempts INTEGER NOT NULL, dead INTEGER NOT NULL,"
	" last_error TEXT, dead_at INTEGER NOT NULL);";
/*
 * The owner column (identities, doc/security.md): added to a store of any
 * format that lacks it, in place and idempotently (store_owner_column), so
 * it composes with format upgrades made by other work; a timerd that does
 * not know it never names it and leaves it NULL.
 */
static const char store_add_owner[] =
	"ALTER TABLE journal ADD COLUMN owner BLOB;"
	"ALTER TABLE snap ADD COLUMN owner BLOB;";

/* Where the boot id is (and its length as text). */
#define STORE_BOOT_ID_PATH "/proc/sys/kernel/random/boot_id"

static const char store_schema[] =
	"CREATE TABLE journal(lsn INTEGER PRIMARY KEY, op INTEGER NOT NULL, id INTEGER NOT NULL,"
	" boot INTEGER NOT NULL, clock INTEGER NOT NULL, deadline INTEGER NOT NULL, wall INTEGER NOT NULL,"
	" period INTEGER NOT NULL, misfire INTEGER NOT NULL, flags INTEGER NOT NULL,"
	" key BLOB, topic BLOB, payload BLOB, calendar BLOB, owner BLOB);"
	"CREATE TABLE snap(slot INTEGER PRIMARY KEY, id INTEGER NOT NULL,"
	" boot INTEGER NOT NULL, clock INTEGER NOT NULL, deadline INTEGER NOT NULL, wall INTEGER NOT NULL,"
	" period INTEGER NOT NULL, misfire INTEGER NOT NULL, flags INTEGER NOT NULL,"
	" key BLOB, topic BLOB, payload BLOB, calendar BLOB, owner BLOB);"
	"CREATE TABLE meta(k TEXT PRIMARY KEY, v);"
	"INSERT INTO meta VALUES('snap_lsn', 0);";
/* store_schema is followed by store_upgrade_2 (the groups' tables) in a new file. */

struct store {
	sqlite3 *db;
	char *path;
	sqlite3_stmt *begin, *commit, *rollback, *snap_put, *snap_clear;
	sqlite3_stmt *append[STORE_NSIZES];	/* INSERT INTO journal of 1 << i rows */
	sqlite3_stmt *append_id[STORE_NSIZES];	/* the same of rows with only lsn, op and id (store_id_only) */
	struct store_rec q[STORE_MULTI];	/* appended rows not yet inserted (their bytes stay the caller's until commit) */
	unsigned nq;
	struct store_idrow {			/* appended id-only rows not yet inserted */
		uint64_t lsn, id;
		uint8_t op;
	} iq[STORE_MULTI];
	unsigned niq;
	sqlite3_stmt *meta_set, *journal_trim, *count_journal;
	sqlite3_stmt *group_put, *group_del, *group_del_dlv, *dlv_set;
	sqlite3_stmt *dlv_put[STORE_NSIZES];	/* INSERT OR REPLACE INTO deliveries of 1 << i rows */
	sqlite3_stmt *dlv_del;			/* DELETE of up to STORE_MULTI ids (unused ones bound NULL) */
	struct store_rec dq[STORE_MULTI];	/* STORE_DLV_PUT rows not yet inserted (as q) */
	uint64_t delq[STORE_MULTI];		/* STORE_DLV_DEL ids not yet deleted */
	unsigned ndq, ndelq;
	uint64_t dlv_next, dlv_written;	/* meta.dlv_next to write, and as last committed */
	bool synchronous_full;		/* PRAGMA synchronous as last set */
	bool snap_running;
	uint64_t snap_lsn;		/* the running pass's lsn */
	uint64_t journal_rows;		/* counted: the load sets it, appends add, trims subtract */
	uint64_t journal_rows_begun;	/* journal_rows when the open transaction began (a rollback goes back to it) */
	uint64_t max_gen;		/* highest id generation appended or loaded */
	uint64_t snap_count, snap_keyed;	/* timers the running pass wrote, and those with keys */
	uint64_t gen_written;		/* meta.max_gen as last committed */
	bool alive_pending;
	int clean_pending;		/* -1: nothing to write; 0 or 1: meta.clean to write */
	uint64_t alive_boot;
	int64_t alive_mono, alive_real;
	struct store_ckpt {		/* checkpoints on a thread and connection of their own */
		sqlite3 *db;
		pthread_t thread;
		pthread_mutex_t mu;
		pthread_cond_t cv;	/* want, stop and running changed (broadcast: two kinds of waiters) */
		bool want, stop, started;
		bool running;		/* a checkpoint is under way on one of the two connections */
	} ck;
};

/* Writes "path: what: sqlite's message" into err; returns -1. */
static int store_fail(struct store *st, char *err, size_t errlen, const char *what)
{
	snprintf(err, errlen, "%s: %s: %s", st->path, what, st->db ? sqlite3_errmsg(st->db) : "out of memory");
	return -1;
}

/* Runs SQL without results; 0 or -1 with err. */
static int store_exec(struct store *st, const char *sql, char *err, size_t errlen)
{
	char *msg = NULL;

	if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) == SQLITE_OK)
		return 0;
	snprintf(err, errlen, "%s: %s: %s", st->path, sql, msg ? msg : sqlite3_errmsg(st->db));
	sqlite3_free(msg);
	return -1;
}

/* Runs a prepared statement that returns no rows, then resets it; SQLite's code. */
static int store_step(sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);

	sqlite3_reset(s);	/* every parameter is bound again before the next step */
	return rc == SQLITE_ROW ? SQLITE_DONE : rc;
}

/* Reads one integer from a query; 0 or -1. */
static int store_int(struct store *st, const char *sql, int64_t *v)
{
	sqlite3_stmt *s;
	int rc;

	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
		return -1;
	rc = sqlite3_step(s);
	*v = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	sqlite3_finalize(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

/*
 * Rows in the journal, from its first and last LSN: O(log n), where
 * count(*) reads every page. LSNs handed out but never written (group
 * rows, puts left out beside their FIRED row) make it an overestimate, so
 * it is only the first guess at open: store_load counts the rows it
 * replays, and from then on appends and trims keep the count.
 */
static int store_journal_span(struct store *st, int64_t *rows)
{
	int rc = sqlite3_step(st->count_journal);

	*rows = rc == SQLITE_ROW ? sqlite3_column_int64(st->count_journal, 0) : 0;
	sqlite3_reset(st->count_journal);
	return rc == SQLITE_ROW ? 0 : -1;
}

/* FNV-1a of the boot id text (or of text). */
uint64_t store_boot_hash(const char *text)
{
	char buf[64];
	uint64_t h = 0xcbf29ce484222325ULL;
	ssize_t n;
	int fd;

	if (text) {
		n = (ssize_t)snprintf(buf, sizeof(buf), "%s", text);
		n = n < (ssize_t)sizeof(buf) ? n : (ssize_t)sizeof(buf) - 1;
	} else {
		if ((fd = open(STORE_BOOT_ID_PATH, O_RDONLY | O_CLOEXEC)) < 0)
			return 0;
		n = read(fd, buf, sizeof(buf));
		close(fd);
	}
	for (ssize_t i = 0; i < n && buf[i] != '\n'; i++)
		h = (h ^ (uint8_t)buf[i]) * 0x100000001b3ULL;
	return n > 0 ? h : 0;
}

/*
 * Prepares head followed by n copies of row separated by commas (and a
 * closing parenthesis when head opens one); 0 or -1.
 */
static int store_prepare_rows(struct store *st, const char *head, const char *row, unsigned n, sqlite3_stmt **out)
{
	size_t hl = strlen(head), rl = strlen(row), len = hl + n * (rl + 1) + 2;
	char *sql = malloc(len), *p;
	int rc;

	if (!sql)
		return -1;
	memcpy(sql, head, hl);
	p = sql + hl;
	for (unsigned i = 0; i < n; i++) {
		if (i)
			*p++ = ',';
		memcpy(p, row, rl);
		p += rl;
	}
	if (head[hl - 1] == '(')
		*p++ = ')';
	*p = '\0';
	rc = sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL);
	free(sql);
	return rc == SQLITE_OK ? 0 : -1;
}

/* Prepares every statement the store runs; 0 or -1. */
static int store_prepare(struct store *st, char *err, size_t errlen)
{
	static const struct {
		size_t off;
		const char *sql;
	} q[] = {
		{ offsetof(struct store, begin), "BEGIN IMMEDIATE" },
		{ offsetof(struct store, commit), "COMMIT" },
		{ offsetof(struct store, rollback), "ROLLBACK" },
		{ offsetof(struct store, snap_put), "INSERT OR REPLACE INTO snap(slot, " STORE_COLS ")"
						    " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?)" },
		{ offsetof(struct store, snap_clear), "DELETE FROM snap WHERE slot >= ? AND slot < ?" },
		{ offsetof(struct store, meta_set), "INSERT OR REPLACE INTO meta VALUES(?, ?)" },
		{ offsetof(struct store, journal_trim), "DELETE FROM journal WHERE lsn <= ?" },
		{ offsetof(struct store, count_journal),
		  "SELECT coalesce(max(lsn) - min(lsn) + 1, 0) FROM journal" },
		{ offsetof(struct store, group_put), "INSERT OR REPLACE INTO groups VALUES(?, ?)" },
		{ offsetof(struct store, group_del), "DELETE FROM groups WHERE name = ?" },
		{ offsetof(struct store, group_del_dlv), "DELETE FROM deliveries WHERE grp = ?1 AND (?2 = 0 OR id < ?2)" },
		{ offsetof(struct store, dlv_set), "UPDATE deliveries SET attempts = ?2, dead = ?3, last_error = ?4,"
						   " dead_at = ?5 WHERE id = ?1" },
	};

	for (size_t i = 0; i < sizeof(q) / sizeof(q[0]); i++)
		if (sqlite3_prepare_v3(st->db, q[i].sql, -1, SQLITE_PREPARE_PERSISTENT,
				       (sqlite3_stmt **)((char *)st + q[i].off), NULL) != SQLITE_OK)
			return store_fail(st, err, errlen, q[i].sql);
	for (unsigned i = 0; i < STORE_NSIZES; i++)
		if (store_prepare_rows(st, "INSERT INTO journal(lsn, op, " STORE_COLS ") VALUES",
				       "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", 1u << i, &st->append[i]) < 0 ||
		    store_prepare_rows(st, "INSERT INTO journal(lsn, op, " STORE_COLS ") VALUES",
				       "(?,?,?,0,0,0,0,0,0,0,NULL,X'',X'',NULL,NULL)", 1u << i, &st->append_id[i]) < 0 ||
		    store_prepare_rows(st, "INSERT OR REPLACE INTO deliveries VALUES",
				       "(?,?,?,?,?,?,?,?,?,?,0,NULL,0)", 1u << i, &st->dlv_put[i]) < 0)
			return store_fail(st, err, errlen, "preparing the multi-row INSERTs");
	if (store_prepare_rows(st, "DELETE FROM deliveries WHERE id IN (", "?", STORE_MULTI, &st->dlv_del) < 0)
		return store_fail(st, err, errlen, "preparing the deliveries' DELETE");
	return 0;
}

/* Adds the owner column where it is missing (a store made before it); 0 or -1. */
static int store_owner_column(struct store *st, char *err, size_t errlen)
{
	int64_t has;
	char sql[sizeof(store_add_owner) + 16];

	if (store_int(st, "SELECT count(*) FROM pragma_table_info('journal') WHERE name = 'owner'", &has) < 0) {
		snprintf(err, errlen, "%s: cannot read its columns (%s)", st->path, sqlite3_errmsg(st->db));
		return -1;
	}
	if (has)
		return 0;
	snprintf(sql, sizeof(sql), "BEGIN; %s COMMIT;", store_add_owner);	/* both tables or neither */
	return store_exec(st, sql, err, errlen);
}

/* Creates the schema in an empty database, or checks the one there; 0 or -1. */
static int store_schema_check(struct store *st, bool create, char *err, size_t errlen)
{
	int64_t version, tables;

	if (store_int(st, "PRAGMA user_version", &version) < 0 ||
	    store_int(st, "SELECT count(*) FROM sqlite_master", &tables) < 0) {
		snprintf(err, errlen, "%s cannot be read as a timerd store (%s); if it is damaged, recover what "
			 "SQLite can with: sqlite3 %s .recover | sqlite3 recovered.db, then move recovered.db "
			 "in its place", st->path, sqlite3_errmsg(st->db), st->path);
		return -1;
	}
	if (version == STORE_VERSION)
		return store_owner_column(st, err, errlen);
	if ((version == 1 || version == 2) && tables != 0) {
		char sql[sizeof(store_upgrade_1) + sizeof(store_upgrade_2) + 64];

		/* one transaction: a crash leaves the old version whole, or the new one */
		snprintf(sql, sizeof(sql), "BEGIN; %s%s PRAGMA user_version = %d; COMMIT;",
			 version == 1 ? store_upgrade_1 : "", store_upgrade_2, STORE_VERSION);
		if (store_exec(st, sql, err, errlen) < 0)
			return -1;
		return store_owner_column(st, err, errlen);
	}
	if (version != 0 || tables != 0) {
		snprintf(err, errlen, "%s is not a timerd store of format %d (user_version %lld, %lld tables): "
			 "move it away or point state-dir elsewhere", st->path, STORE_VERSION,
			 (long long)version, (long long)tables);
		return -1;
	}
	if (!create) {
		snprintf(err, errlen, "%s holds no timerd store", st->path);
		return -1;
	}
	char sql[sizeof(store_schema) + sizeof(store_upgrade_2) + 64];

	snprintf(sql, sizeof(sql), "BEGIN; %s%s PRAGMA user_version = %d; COMMIT;", store_schema, store_upgrade_2,
		 STORE_VERSION);
	return store_exec(st, sql, err, errlen);
}

/* The checkpointer: copies the WAL into the database when asked, off the commit path. */
static void *store_ckpt_main(void *arg)
{
	struct store_ckpt *ck = arg;

	pthread_mutex_lock(&ck->mu);
	for (;;) {
		while ((!ck->want || ck->running) && !ck->stop)
			pthread_cond_wait(&ck->cv, &ck->mu);
		if (ck->stop)
			break;
		ck->want = false;
		ck->running = true;
		pthread_mutex_unlock(&ck->mu);
		/* PASSIVE: never blocks the writer; the WAL restarts once a pass got through it all */
		sqlite3_wal_checkpoint_v2(ck->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		pthread_mutex_lock(&ck->mu);
		ck->running = false;
		pthread_cond_broadcast(&ck->cv);
	}
	pthread_mutex_unlock(&ck->mu);
	return NULL;
}

/* The writer's WAL hook (after each commit): asks for a checkpoint past STORE_CKPT_PAGES. */
static int store_wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
	struct store_ckpt *ck = arg;

	(void)name;
	if (pages < STORE_CKPT_PAGES)
		return SQLITE_OK;
	if (pages >= STORE_CKPT_INLINE_PAGES) {
		/*
		 * Under steady writes a checkpoint on the other connection never
		 * catches up with the WAL's end, so the WAL is never rewound and
		 * grows; here, between two transactions, it backfills every frame
		 * and the next transaction starts the WAL over. SQLite runs one
		 * checkpoint at a time and answers a second SQLITE_BUSY at once,
		 * so the writer first waits for a pass of the checkpointer's
		 * (under load those take long enough that skipping them let the
		 * WAL outgrow its bound): this stall is what caps the WAL.
		 */
		pthread_mutex_lock(&ck->mu);
		while (ck->running)
			pthread_cond_wait(&ck->cv, &ck->mu);
		ck->running = true;
		pthread_mutex_unlock(&ck->mu);
		sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		pthread_mutex_lock(&ck->mu);
		ck->running = false;
		pthread_cond_broadcast(&ck->cv);
		pthread_mutex_unlock(&ck->mu);
		return SQLITE_OK;
	}
	pthread_mutex_lock(&ck->mu);
	ck->want = true;
	pthread_cond_broadcast(&ck->cv);
	pthread_mutex_unlock(&ck->mu);
	return SQLITE_OK;
}

/* Starts the checkpointer (its own connection); replaces SQLite's checkpoint inside COMMIT. 0 or -1. */
static int store_ckpt_start(struct store *st, char *err, size_t errlen)
{
	struct store_ckpt *ck = &st->ck;
	int rc;

	pthread_mutex_init(&ck->mu, NULL);
	pthread_cond_init(&ck->cv, NULL);
	if (sqlite3_open_v2(st->path, &ck->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK ||
	    sqlite3_exec(ck->db, "PRAGMA synchronous = FULL", NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: opening the checkpointer's connection: %s", st->path,
			 ck->db ? sqlite3_errmsg(ck->db) : "out of memory");
		return -1;
	}
	sqlite3_busy_timeout(ck->db, 1000);
	if ((rc = pthread_create(&ck->thread, NULL, store_ckpt_main, ck)) != 0) {
		snprintf(err, errlen, "%s: cannot start the checkpointer: %s", st->path, strerror(rc));
		return -1;
	}
	ck->started = true;
	sqlite3_wal_hook(st->db, store_wal_hook, ck);	/* also turns off wal_autocheckpoint */
	return 0;
}

/* Stops the checkpointer and closes its connection. */
static void store_ckpt_stop(struct store *st)
{
	struct store_ckpt *ck = &st->ck;

	if (ck->started) {
		pthread_mutex_lock(&ck->mu);
		ck->stop = true;
		pthread_cond_broadcast(&ck->cv);
		pthread_mutex_unlock(&ck->mu);
		pthread_join(ck->thread, NULL);
		ck->started = false;
		pthread_mutex_destroy(&ck->mu);
		pthread_cond_destroy(&ck->cv);
	}
	if (st->db)
		sqlite3_wal_hook(st->db, NULL, NULL);
	sqlite3_close(ck->db);
	ck->db = NULL;
}

/* Opens the store; 0 or -1 with err. */
int store_open(const char *path, const struct store_opts *o, struct store **out, char *err, size_t errlen)
{
	struct store *st = calloc(1, sizeof(*st));
	int64_t rows;

	*out = NULL;
	if (!st || !(st->path = strdup(path))) {
		free(st);
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW | (o->create ? SQLITE_OPEN_CREATE : 0) |
			    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot open %s: %s", path, st->db ? sqlite3_errmsg(st->db) : "out of memory");
		goto fail;
	}
	st->clean_pending = -1;
	sqlite3_busy_timeout(st->db, (int)(o->busy_ms > 0 ? o->busy_ms : 1000));
	sqlite3_extended_result_codes(st->db, 1);
	if (store_schema_check(st, o->create, err, errlen) < 0 ||
	    store_exec(st, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA cache_size = -65536; "
		       "PRAGMA journal_size_limit = 8388608;",
		       err, errlen) < 0 ||
	    store_prepare(st, err, errlen) < 0 || store_ckpt_start(st, err, errlen) < 0)
		goto fail;
	if (store_journal_span(st, &rows) < 0) {
		store_fail(st, err, errlen, "reading the journal's extent");
		goto fail;
	}
	st->journal_rows = st->journal_rows_begun = (uint64_t)rows;
	*out = st;
	return 0;
fail:
	store_close(st);
	return -1;
}

/* Closes the store. */
void store_close(struct store *st)
{
	if (!st)
		return;
	sqlite3_stmt *v[] = { st->begin, st->commit, st->rollback, st->snap_put, st->snap_clear, st->meta_set,
			      st->journal_trim, st->count_journal, st->group_put, st->group_del, st->group_del_dlv,
			      st->dlv_del, st->dlv_set };

	store_ckpt_stop(st);
	if (st->db && !sqlite3_get_autocommit(st->db))
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		sqlite3_finalize(v[i]);
	for (unsigned i = 0; i < STORE_NSIZES; i++) {
		sqlite3_finalize(st->append[i]);
		sqlite3_finalize(st->append_id[i]);
		sqlite3_finalize(st->dlv_put[i]);
	}
	sqlite3_close(st->db);
	free(st->path);
	free(st);
}

/* Fills r from the columns of a row whose STORE_COLS start at column c. */
static void store_row(sqlite3_stmt *s, int c, struct store_rec *r)
{
	r->id = (uint64_t)sqlite3_column_int64(s, c);
	r->boot = (uint64_t)sqlite3_column_int64(s, c + 1);
	r->clock = (uint8_t)sqlite3_column_int(s, c + 2);
	r->deadline = sqlite3_column_int64(s, c + 3);
	r->wall = sqlite3_column_int64(s, c + 4);
	r->period = sqlite3_column_int64(s, c + 5);
	r->misfire = (uint8_t)sqlite3_column_int(s, c + 6);
	r->flags = (uint32_t)sqlite3_column_int64(s, c + 7);
	r->key = sqlite3_column_blob(s, c + 8);
	r->keylen = (uint32_t)sqlite3_column_bytes(s, c + 8);
	r->topic = sqlite3_column_blob(s, c + 9);
	r->topiclen = (uint32_t)sqlite3_column_bytes(s, c + 9);
	r->payload = sqlite3_column_blob(s, c + 10);
	r->payloadlen = (uint32_t)sqlite3_column_bytes(s, c + 10);
	r->calendar = sqlite3_column_blob(s, c + 11);
	r->calendarlen = (uint32_t)sqlite3_column_bytes(s, c + 11);
	if (sqlite3_column_type(s, c + 8) == SQLITE_NULL)
		r->key = NULL;
	if (!r->calendarlen)
		r->calendar = NULL;
	r->owner = sqlite3_column_blob(s, c + 12);
	r->ownerlen = (uint32_t)sqlite3_column_bytes(s, c + 12);
	if (!r->ownerlen)
		r->owner = NULL;
}

/* Streams one query's rows into fn; rows counted in *n; 0, fn's code, or -1. */
static int store_scan(struct store *st, const char *sql, int64_t arg, uint8_t op_col, store_load_fn fn,
		      void *fnarg, uint64_t *n, uint64_t *max_lsn, char *err, size_t errlen)
{
	sqlite3_stmt *s;
	int rc, frc = 0;

	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
		return store_fail(st, err, errlen, sql);
	sqlite3_bind_int64(s, 1, arg);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_rec r = { 0 };

		if (op_col) {
			r.lsn = (uint64_t)sqlite3_column_int64(s, 0);
			r.op = (uint8_t)sqlite3_column_int(s, 1);
			store_row(s, 2, &r);
			if (r.lsn > *max_lsn)
				*max_lsn = r.lsn;
		} else {
			r.op = STORE_PUT;
			store_row(s, 1, &r);
		}
		(*n)++;
		if (r.id >> 32 > st->max_gen)
			st->max_gen = r.id >> 32;
		if ((frc = fn(fnarg, &r)) < 0)
			break;
	}
	if (frc >= 0 && rc != SQLITE_DONE) {
		store_fail(st, err, errlen, "reading the store");
		frc = -1;
	}
	sqlite3_finalize(s);
	return frc < 0 ? frc : 0;
}

/* Reads the snapshot, then the journal after it; 0 or -1 (or fn's code) with err. */
/* Keyed timers the last snapshot holds (for sizing the key table before a load). */
uint64_t store_expected_keys(struct store *st)
{
	int64_t n = 0;

	store_int(st, "SELECT coalesce((SELECT v FROM meta WHERE k = 'snap_keyed'), 0)", &n);
	return (uint64_t)n;
}

int store_load(struct store *st, store_load_fn fn, void *arg, struct store_load_stats *ls, char *err,
	       size_t errlen)
{
	int64_t snap_lsn, max_gen;
	uint64_t max_lsn = 0;
	int rc;

	memset(ls, 0, sizeof(*ls));
	if (store_int(st, "SELECT v FROM meta WHERE k = 'snap_lsn'", &snap_lsn) < 0 ||
	    store_int(st, "SELECT coalesce((SELECT v FROM meta WHERE k = 'max_gen'), 0)", &max_gen) < 0)
		return store_fail(st, err, errlen, "reading meta");
	if ((uint64_t)max_gen > st->max_gen)
		st->max_gen = (uint64_t)max_gen;
	st->gen_written = (uint64_t)max_gen;
	{
		int64_t boot = 0;

		if (store_int(st, "SELECT coalesce((SELECT v FROM meta WHERE k = 'alive_boot'), 0)", &boot) < 0 ||
		    store_int(st, "SELECT coalesce((SELECT v FROM meta WHERE k = 'alive_mono'), 0)", &ls->alive_mono) < 0 ||
		    store_int(st, "SELECT coalesce((SELECT v FROM meta WHERE k = 'alive_real'), 0)", &ls->alive_real) < 0)
			return store_fail(st, err, errlen, "reading meta.alive_*");
		ls->alive_boot = (uint64_t)boot;
		if (store_int(st, "SELECT coalesce((SELECT v FROM meta WHERE k = 'clean'), 0)", &boot) < 0)
			return store_fail(st, err, errlen, "reading meta.clean");
		ls->clean = boot != 0;
		st->clean_pending = 0;	/* this run is not clean until it says so */
	}
	ls->snap_lsn = (uint64_t)snap_lsn;
	if (store_exec(st, "BEGIN", err, errlen) < 0)
		return -1;
	rc = store_scan(st, "SELECT slot, " STORE_COLS " FROM snap WHERE slot >= ?1 ORDER BY slot", 0, 0, fn, arg,
			&ls->snap_rows, &max_lsn, err, errlen);
	if (rc == 0)
		rc = store_scan(st, "SELECT lsn, op, " STORE_COLS " FROM journal WHERE lsn > ?1 ORDER BY lsn",
				snap_lsn, 1, fn, arg, &ls->journal_rows, &max_lsn, err, errlen);
	sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
	if (rc == 0)	/* every row after the snapshot (a pass trims the ones before it in its commit) */
		st->journal_rows = st->journal_rows_begun = ls->journal_rows;
	ls->next_lsn = (max_lsn > ls->snap_lsn ? max_lsn : ls->snap_lsn) + 1;
	ls->max_gen = st->max_gen;
	return rc;
}

int store_load_groups(struct store *st, store_group_fn fn, void *arg, uint64_t *dlv_next, char *err,
		      size_t errlen)
{
	static const char qg[] = "SELECT name, settings FROM groups ORDER BY rowid";
	static const char qd[] = "SELECT id, grp, timer_id, key, topic, payload, deadline, fired, period, attempts,"
				 " dead, last_error, dead_at FROM deliveries ORDER BY id";
	sqlite3_stmt *s = NULL;
	int64_t next = 0;
	int rc, frc = 0;

	if (store_int(st, "SELECT coalesce((SELECT v FROM meta WHERE k = 'dlv_next'), 0)", &next) < 0)
		return store_fail(st, err, errlen, "reading meta.dlv_next");
	*dlv_next = (uint64_t)next;
	st->dlv_next = st->dlv_written = (uint64_t)next;
	if (sqlite3_prepare_v2(st->db, qg, -1, &s, NULL) != SQLITE_OK)
		return store_fail(st, err, errlen, qg);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_rec r = { .op = STORE_GROUP_PUT };

		r.key = (const char *)sqlite3_column_text(s, 0);
		r.keylen = (uint32_t)sqlite3_column_bytes(s, 0);
		r.payload = sqlite3_column_blob(s, 1);
		r.payloadlen = (uint32_t)sqlite3_column_bytes(s, 1);
		if ((frc = fn(arg, &r)) < 0)
			break;
	}
	sqlite3_finalize(s);
	if (frc < 0)
		return frc;
	if (rc != SQLITE_DONE)
		return store_fail(st, err, errlen, "reading the groups");
	if (sqlite3_prepare_v2(st->db, qd, -1, &s, NULL) != SQLITE_OK)
		return store_fail(st, err, errlen, qd);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_rec r = { .op = STORE_DLV_PUT };

		r.id = (uint64_t)sqlite3_column_int64(s, 0);
		r.group = (const char *)sqlite3_column_text(s, 1);
		r.grouplen = (uint32_t)sqlite3_column_bytes(s, 1);
		r.timer_id = (uint64_t)sqlite3_column_int64(s, 2);
		if (sqlite3_column_type(s, 3) != SQLITE_NULL) {	/* before the conversions below */
			r.key = sqlite3_column_blob(s, 3);
			r.keylen = (uint32_t)sqlite3_column_bytes(s, 3);
			r.key = r.key ? r.key : "";
		}
		r.topic = sqlite3_column_blob(s, 4);
		r.topiclen = (uint32_t)sqlite3_column_bytes(s, 4);
		r.payload = sqlite3_column_blob(s, 5);
		r.payloadlen = (uint32_t)sqlite3_column_bytes(s, 5);
		r.deadline = sqlite3_column_int64(s, 6);
		r.wall = sqlite3_column_int64(s, 7);
		r.period = sqlite3_column_int64(s, 8);
		r.attempts = (uint32_t)sqlite3_column_int64(s, 9);
		r.flags = sqlite3_column_int(s, 10) ? STORE_DLV_DEAD : 0;
		r.error = (const char *)sqlite3_column_text(s, 11);
		r.errorlen = (uint32_t)sqlite3_column_bytes(s, 11);
		r.at = sqlite3_column_int64(s, 12);
		if (r.id >= *dlv_next)
			*dlv_next = r.id + 1;
		if ((frc = fn(arg, &r)) < 0)
			break;
	}
	sqlite3_finalize(s);
	if (frc < 0)
		return frc;
	if (rc != SQLITE_DONE)
		return store_fail(st, err, errlen, "reading the deliveries");
	return 0;
}

/* Sets PRAGMA synchronous (FULL: the commit syncs the log); 0 or -1. */
static int store_synchronous(struct store *st, bool full, char *err, size_t errlen)
{
	if (st->synchronous_full == full)
		return 0;
	if (store_exec(st, full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL", err, errlen) < 0)
		return -1;
	st->synchronous_full = full;
	return 0;
}

/* Starts a transaction whose commit syncs the log or not. */
int store_begin(struct store *st, bool sync, char *err, size_t errlen)
{
	if (store_synchronous(st, sync, err, errlen) < 0)
		return -1;
	if (store_step(st->begin) != SQLITE_DONE)
		return store_fail(st, err, errlen, "BEGIN");
	st->journal_rows_begun = st->journal_rows;
	return 0;
}

/* Binds the shared columns of r starting at parameter p. */
static void store_bind(sqlite3_stmt *s, int p, const struct store_rec *r)
{
	sqlite3_bind_int64(s, p, (int64_t)r->id);
	sqlite3_bind_int64(s, p + 1, (int64_t)r->boot);
	sqlite3_bind_int(s, p + 2, r->clock);
	sqlite3_bind_int64(s, p + 3, r->deadline);
	sqlite3_bind_int64(s, p + 4, r->wall);
	sqlite3_bind_int64(s, p + 5, r->period);
	sqlite3_bind_int(s, p + 6, r->misfire);
	sqlite3_bind_int64(s, p + 7, r->flags);
	if (r->key)
		sqlite3_bind_blob(s, p + 8, r->key, (int)r->keylen, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, p + 8);
	sqlite3_bind_blob(s, p + 9, r->topiclen ? r->topic : "", (int)r->topiclen, SQLITE_STATIC);
	sqlite3_bind_blob(s, p + 10, r->payloadlen ? r->payload : "", (int)r->payloadlen, SQLITE_STATIC);
	if (r->calendarlen)
		sqlite3_bind_blob(s, p + 11, r->calendar, (int)r->calendarlen, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, p + 11);
	if (r->ownerlen)
		sqlite3_bind_blob(s, p + 12, r->owner, (int)r->ownerlen, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, p + 12);
}

/* Binds one journal row at parameter p (STORE_COLS after lsn and op). */
static void store_bind_journal(sqlite3_stmt *s, int p, const void *row)
{
	const struct store_rec *r = row;

	sqlite3_bind_int64(s, p, (int64_t)r->lsn);
	sqlite3_bind_int(s, p + 1, r->op);
	store_bind(s, p + 2, r);
}

/* The largest statement size (log2) whose rows fit in n, n >= 1. */
static unsigned store_size_of(unsigned n)
{
	unsigned i = 0;

	while (i + 1 < STORE_NSIZES && (2u << i) <= n)
		i++;
	return i;
}

/* Binds one row's columns at parameter p. */
typedef void store_bind_fn(sqlite3_stmt *s, int p, const void *row);

/*
 * Inserts n queued rows (each size bytes, ncols parameters) through the
 * statements of 1, 2, 4 ... STORE_MULTI rows in stmts: as few steps as
 * their sizes allow; 0 or -1 with err naming what failed.
 */
static int store_insert_rows(struct store *st, sqlite3_stmt *const *stmts, const void *rows, size_t size,
			     unsigned n, int ncols, store_bind_fn *bind, const char *what, char *err, size_t errlen)
{
	for (unsigned at = 0; at < n;) {
		unsigned i = store_size_of(n - at);
		sqlite3_stmt *s = stmts[i];

		for (unsigned k = 0; k < 1u << i; k++)
			bind(s, 1 + (int)k * ncols, (const char *)rows + (size_t)(at + k) * size);
		if (store_step(s) != SQLITE_DONE)
			return store_fail(st, err, errlen, what);
		at += 1u << i;
	}
	return 0;
}

/* Inserts the queued journal rows. */
static int store_flush(struct store *st, char *err, size_t errlen)
{
	unsigned n = st->nq;

	st->nq = 0;
	return store_insert_rows(st, st->append, st->q, sizeof(st->q[0]), n, STORE_NCOLS + 2, store_bind_journal,
				 "appending to the journal", err, errlen);
}

/*
 * True if r has nothing but its lsn, op and id (a removal, a fired
 * one-shot): store_bind would bind every other column to 0, NULL or an
 * empty blob, which append_id's constants are, so the row is the same.
 */
static bool store_id_only(const struct store_rec *r)
{
	return !r->boot && !r->clock && !r->deadline && !r->wall && !r->period && !r->misfire && !r->flags &&
	       !r->key && !r->topiclen && !r->payloadlen && !r->calendarlen && !r->ownerlen;
}

/* Binds one id-only journal row (lsn, op, id) at parameter p. */
static void store_bind_idrow(sqlite3_stmt *s, int p, const void *row)
{
	const struct store_idrow *r = row;

	sqlite3_bind_int64(s, p, (int64_t)r->lsn);
	sqlite3_bind_int(s, p + 1, r->op);
	sqlite3_bind_int64(s, p + 2, (int64_t)r->id);
}

/* Inserts the queued id-only journal rows (three parameters a row). */
static int store_flush_ids(struct store *st, char *err, size_t errlen)
{
	unsigned n = st->niq;

	st->niq = 0;
	return store_insert_rows(st, st->append_id, st->iq, sizeof(st->iq[0]), n, 3, store_bind_idrow,
				 "appending to the journal", err, errlen);
}

/* Binds a blob (NULL when p is NULL). */
static void store_bind_blob(sqlite3_stmt *s, int p, const void *v, uint32_t n)
{
	if (v)
		sqlite3_bind_blob(s, p, n ? v : "", (int)n, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, p);
}

/* Binds one delivery row (STORE_DLV_PUT) at parameter p. */
static void store_bind_dlv(sqlite3_stmt *s, int p, const void *row)
{
	const struct store_rec *r = row;

	sqlite3_bind_int64(s, p, (int64_t)r->id);
	sqlite3_bind_text(s, p + 1, r->group, (int)r->grouplen, SQLITE_STATIC);
	sqlite3_bind_int64(s, p + 2, (int64_t)r->timer_id);
	store_bind_blob(s, p + 3, r->key, r->keylen);
	store_bind_blob(s, p + 4, r->topic ? r->topic : "", r->topiclen);
	store_bind_blob(s, p + 5, r->payload ? r->payload : "", r->payloadlen);
	sqlite3_bind_int64(s, p + 6, r->deadline);
	sqlite3_bind_int64(s, p + 7, r->wall);
	sqlite3_bind_int64(s, p + 8, r->period);
	sqlite3_bind_int64(s, p + 9, r->attempts);
}

/* Inserts the queued delivery rows (as store_flush does the journal's). */
static int store_flush_dlv_put(struct store *st, char *err, size_t errlen)
{
	unsigned n = st->ndq;

	st->ndq = 0;
	return store_insert_rows(st, st->dlv_put, st->dq, sizeof(st->dq[0]), n, STORE_DLV_NCOLS, store_bind_dlv,
				 "writing a consumer group's delivery", err, errlen);
}

/*
 * Runs the queued delivery rows: the inserts, then the deletes (one
 * statement of up to STORE_MULTI ids). A delivery's rows come in LSN order
 * as put, sets, delete, and it is put once: so inserts first, deletes after,
 * is their order for each id (a put of an id whose delete is queued first
 * runs the queues: store_group_op); sets and group rows run only after both
 * queues were emptied. 0 or -1.
 */
static int store_flush_dlv(struct store *st, char *err, size_t errlen)
{
	unsigned n = st->ndelq;

	st->ndelq = 0;		/* cleared first: a failure leaves nothing queued (the caller rolls back) */
	if (store_flush_dlv_put(st, err, errlen) < 0)
		return -1;
	if (!n)
		return 0;
	for (unsigned k = 0; k < STORE_MULTI; k++)
		if (k < n)
			sqlite3_bind_int64(st->dlv_del, 1 + (int)k, (int64_t)st->delq[k]);
		else
			sqlite3_bind_null(st->dlv_del, 1 + (int)k);	/* matches no row */
	if (store_step(st->dlv_del) != SQLITE_DONE)
		return store_fail(st, err, errlen, "deleting consumer groups' deliveries");
	return 0;
}

/*
 * Applies a group row (STORE_GROUP_*, STORE_DLV_*) in the open transaction;
 * 0 or -1. Delivery puts and deletes are queued (their bytes stay the
 * caller's until commit, as the journal's) and written STORE_MULTI at a
 * time; any other group row first writes what is queued.
 */
static int store_group_op(struct store *st, const struct store_rec *r, char *err, size_t errlen)
{
	sqlite3_stmt *s = NULL;

	if (r->op == STORE_DLV_PUT) {
		/* a put of an id whose delete is queued would run before it: write the deletes first */
		for (unsigned k = 0; k < st->ndelq; k++)
			if (st->delq[k] == r->id) {
				if (store_flush_dlv(st, err, errlen) < 0)
					return -1;
				break;
			}
		st->dq[st->ndq++] = *r;
		return st->ndq == STORE_MULTI ? store_flush_dlv_put(st, err, errlen) : 0;
	}
	if (r->op == STORE_DLV_DEL) {
		st->delq[st->ndelq++] = r->id;
		return st->ndelq == STORE_MULTI ? store_flush_dlv(st, err, errlen) : 0;
	}
	if (store_flush_dlv(st, err, errlen) < 0)
		return -1;
	switch (r->op) {
	case STORE_GROUP_PUT:
		s = st->group_put;
		sqlite3_bind_text(s, 1, r->key, (int)r->keylen, SQLITE_STATIC);
		store_bind_blob(s, 2, r->payload ? r->payload : "", r->payloadlen);
		break;
	case STORE_GROUP_DEL:
		/* only the deliveries below id (0: all): a group made again under the name keeps its own */
		sqlite3_bind_text(st->group_del_dlv, 1, r->key, (int)r->keylen, SQLITE_STATIC);
		sqlite3_bind_int64(st->group_del_dlv, 2, (int64_t)r->id);
		if (store_step(st->group_del_dlv) != SQLITE_DONE)
			return store_fail(st, err, errlen, "deleting a group's deliveries");
		if (r->flags & STORE_GROUP_DLV_ONLY)
			return 0;
		s = st->group_del;
		sqlite3_bind_text(s, 1, r->key, (int)r->keylen, SQLITE_STATIC);
		break;
	case STORE_DLV_SET:
		s = st->dlv_set;
		sqlite3_bind_int64(s, 1, (int64_t)r->id);
		sqlite3_bind_int64(s, 2, r->attempts);
		sqlite3_bind_int(s, 3, (r->flags & STORE_DLV_DEAD) ? 1 : 0);
		if (r->error)
			sqlite3_bind_text(s, 4, r->error, (int)r->errorlen, SQLITE_STATIC);
		else
			sqlite3_bind_null(s, 4);
		sqlite3_bind_int64(s, 5, r->at);
		break;
	default:
		snprintf(err, errlen, "%s: unknown row op %u", st->path, r->op);
		return -1;
	}
	if (store_step(s) != SQLITE_DONE)
		return store_fail(st, err, errlen, "writing a consumer group's row");
	return 0;
}

/* Adds a journal row (inserted by the time store_commit commits). */
int store_append(struct store *st, const struct store_rec *r, char *err, size_t errlen)
{
	if (r->op >= STORE_GROUP_PUT)
		return store_group_op(st, r, err, errlen);	/* its own tables: order with timer rows does not matter */
	st->journal_rows++;
	if (r->id >> 32 > st->max_gen)
		st->max_gen = r->id >> 32;
	if (store_id_only(r)) {	/* rowid = LSN: the two queues may go in either order */
		st->iq[st->niq++] = (struct store_idrow){ .lsn = r->lsn, .id = r->id, .op = r->op };
		return st->niq == STORE_MULTI ? store_flush_ids(st, err, errlen) : 0;
	}
	st->q[st->nq++] = *r;
	return st->nq == STORE_MULTI ? store_flush(st, err, errlen) : 0;
}

/* Rolls back an open transaction. */
void store_rollback(struct store *st)
{
	st->nq = st->niq = st->ndq = st->ndelq = 0;
	if (!sqlite3_get_autocommit(st->db))
		store_step(st->rollback);
	st->journal_rows = st->journal_rows_begun;	/* the rolled-back appends and trims are undone */
}

/* Binds and runs one meta update; false on failure. */
static bool store_meta_put(struct store *st, const char *k, int64_t v)
{
	sqlite3_bind_text(st->meta_set, 1, k, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st->meta_set, 2, v);
	return store_step(st->meta_set) == SQLITE_DONE;
}

void store_note_gen(struct store *st, uint64_t gen)
{
	if (gen > st->max_gen)
		st->max_gen = gen;
}

void store_note_alive(struct store *st, uint64_t boot, int64_t mono, int64_t real)
{
	st->alive_pending = true;
	st->alive_boot = boot;
	st->alive_mono = mono;
	st->alive_real = real;
}

void store_note_clean(struct store *st, bool clean)
{
	st->clean_pending = clean;
}

bool store_meta_pending(const struct store *st)
{
	return st->alive_pending || st->max_gen > st->gen_written || st->clean_pending >= 0 ||
	       st->dlv_next > st->dlv_written;
}

void store_note_dlv(struct store *st, uint64_t next)
{
	if (next > st->dlv_next)
		st->dlv_next = next;
}

/* Writes the noted generation and alive time into the open transaction; 0 or -1. */
static int store_meta_flush(struct store *st, char *err, size_t errlen)
{
	if (st->max_gen > st->gen_written && !store_meta_put(st, "max_gen", (int64_t)st->max_gen))
		return store_fail(st, err, errlen, "writing meta.max_gen");
	if (st->alive_pending &&
	    (!store_meta_put(st, "alive_boot", (int64_t)st->alive_boot) ||
	     !store_meta_put(st, "alive_mono", st->alive_mono) || !store_meta_put(st, "alive_real", st->alive_real)))
		return store_fail(st, err, errlen, "writing meta.alive_*");
	if (st->clean_pending >= 0 && !store_meta_put(st, "clean", st->clean_pending))
		return store_fail(st, err, errlen, "writing meta.clean");
	if (st->dlv_next > st->dlv_written &&
	    !store_meta_put(st, "dlv_next", (int64_t)(st->dlv_next + STORE_DLV_RESERVE)))
		return store_fail(st, err, errlen, "writing meta.dlv_next");
	return 0;
}

/* Commits, synced as store_begin asked. */
int store_commit(struct store *st, char *err, size_t errlen)
{
	/* what store_meta_flush writes: ids up to it are reserved, so the next commits need not write it */
	uint64_t gen = st->max_gen, dlv = st->dlv_next > st->dlv_written ? st->dlv_next + STORE_DLV_RESERVE : st->dlv_written;
	bool alive = st->alive_pending;

	if (store_flush(st, err, errlen) < 0 || store_flush_ids(st, err, errlen) < 0 ||
	    store_flush_dlv(st, err, errlen) < 0 || store_meta_flush(st, err, errlen) < 0) {
		store_rollback(st);
		return -1;
	}
	if (store_step(st->commit) != SQLITE_DONE) {
		store_fail(st, err, errlen, "COMMIT");
		store_rollback(st);
		return -1;
	}
	st->gen_written = gen;
	st->dlv_written = dlv;
	st->journal_rows_begun = st->journal_rows;	/* a rollback with no transaction open changes nothing */
	if (alive)
		st->alive_pending = false;
	st->clean_pending = -1;
	return 0;
}

/* Makes every earlier commit durable: a small synchronous commit syncs the log up to it. */
int store_sync(struct store *st, char *err, size_t errlen)
{
	if (store_begin(st, true, err, errlen) < 0)
		return -1;
	sqlite3_bind_text(st->meta_set, 1, "last_sync", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st->meta_set, 2, (int64_t)time(NULL));
	if (store_step(st->meta_set) != SQLITE_DONE) {
		store_fail(st, err, errlen, "writing meta.last_sync");
		store_rollback(st);
		return -1;
	}
	return store_commit(st, err, errlen);
}

/* Starts a snapshot pass at lsn. */
void store_snap_begin(struct store *st, uint64_t lsn)
{
	st->snap_count = st->snap_keyed = 0;
	st->snap_running = true;
	st->snap_lsn = lsn;
}

/* Writes one live timer into the snapshot. */
int store_snap_put(struct store *st, uint64_t slot, const struct store_rec *r, char *err, size_t errlen)
{
	sqlite3_bind_int64(st->snap_put, 1, (int64_t)slot);
	store_bind(st->snap_put, 2, r);
	if (store_step(st->snap_put) != SQLITE_DONE)
		return store_fail(st, err, errlen, "writing the snapshot");
	st->snap_count++;
	st->snap_keyed += r->key != NULL;
	return 0;
}

/* Removes snapshot slots from..to-1. */
int store_snap_clear(struct store *st, uint64_t from, uint64_t to, char *err, size_t errlen)
{
	if (from >= to)
		return 0;
	sqlite3_bind_int64(st->snap_clear, 1, (int64_t)from);
	sqlite3_bind_int64(st->snap_clear, 2, (int64_t)(to > INT64_MAX ? INT64_MAX : to));
	if (store_step(st->snap_clear) != SQLITE_DONE)
		return store_fail(st, err, errlen, "clearing snapshot slots");
	return 0;
}

/* Ends the pass: the snapshot stands at its lsn; older journal rows go. */
int store_snap_end(struct store *st, char *err, size_t errlen)
{
	sqlite3_bind_text(st->meta_set, 1, "snap_lsn", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st->meta_set, 2, (int64_t)st->snap_lsn);
	if (store_step(st->meta_set) != SQLITE_DONE)
		return store_fail(st, err, errlen, "writing meta.snap_lsn");
	sqlite3_bind_text(st->meta_set, 1, "snap_rows", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st->meta_set, 2, (int64_t)st->snap_count);
	if (store_step(st->meta_set) != SQLITE_DONE)
		return store_fail(st, err, errlen, "writing meta.snap_rows");
	sqlite3_bind_text(st->meta_set, 1, "snap_keyed", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st->meta_set, 2, (int64_t)st->snap_keyed);
	if (store_step(st->meta_set) != SQLITE_DONE)
		return store_fail(st, err, errlen, "writing meta.snap_keyed");
	sqlite3_bind_text(st->meta_set, 1, "max_gen", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st->meta_set, 2, (int64_t)st->max_gen);
	if (store_step(st->meta_set) != SQLITE_DONE)
		return store_fail(st, err, errlen, "writing meta.max_gen");
	sqlite3_bind_int64(st->journal_trim, 1, (int64_t)st->snap_lsn);
	if (store_step(st->journal_trim) != SQLITE_DONE)
		return store_fail(st, err, errlen, "trimming the journal");
	st->journal_rows -= (uint64_t)sqlite3_changes(st->db) < st->journal_rows ?
			    (uint64_t)sqlite3_changes(st->db) : st->journal_rows;
	st->snap_running = false;
	return 0;
}

/* Journal rows in the file. */
uint64_t store_journal_rows(const struct store *st)
{
	return st->journal_rows;
}

/* Size of one file, or 0. */
static uint64_t store_size(const char *path, const char *suffix)
{
	char p[4200];
	struct stat sb;

	snprintf(p, sizeof(p), "%s%s", path, suffix);
	return stat(p, &sb) == 0 ? (uint64_t)sb.st_blocks * 512 : 0;
}

/* Bytes on disk: the database and its WAL. */
uint64_t store_file_bytes(const struct store *st)
{
	return store_size(st->path, "") + store_size(st->path, "-wal");
}

/* Integrity check plus counts. */
int store_check(struct store *st, struct store_load_stats *ls, char *report, size_t reportlen)
{
	sqlite3_stmt *s;
	int64_t snap_rows = 0, journal_rows = 0, snap_lsn = 0, max_lsn = 0, groups = 0, dlv = 0, dead = 0;
	const unsigned char *res = NULL;
	int rc = -1;

	memset(ls, 0, sizeof(*ls));
	if (sqlite3_prepare_v2(st->db, "PRAGMA integrity_check(1)", -1, &s, NULL) != SQLITE_OK) {
		snprintf(report, reportlen, "%s: integrity check: %s", st->path, sqlite3_errmsg(st->db));
		return -1;
	}
	if (sqlite3_step(s) == SQLITE_ROW)
		res = sqlite3_column_text(s, 0);
	if (!res || strcmp((const char *)res, "ok") != 0)
		snprintf(report, reportlen, "%s: integrity check failed: %s; recover with: sqlite3 %s .recover | "
			 "sqlite3 recovered.db", st->path, res ? (const char *)res : sqlite3_errmsg(st->db), st->path);
	else
		rc = 0;
	sqlite3_finalize(s);
	if (rc < 0)
		return -1;
	if (store_int(st, "SELECT count(*) FROM snap", &snap_rows) < 0 ||
	    store_int(st, "SELECT count(*) FROM journal", &journal_rows) < 0 ||
	    store_int(st, "SELECT v FROM meta WHERE k = 'snap_lsn'", &snap_lsn) < 0 ||
	    store_int(st, "SELECT coalesce(max(lsn), 0) FROM journal", &max_lsn) < 0) {
		snprintf(report, reportlen, "%s: %s", st->path, sqlite3_errmsg(st->db));
		return -1;
	}
	if (store_int(st, "SELECT count(*) FROM groups", &groups) < 0 ||
	    store_int(st, "SELECT count(*) FROM deliveries WHERE dead = 0", &dlv) < 0 ||
	    store_int(st, "SELECT count(*) FROM deliveries WHERE dead != 0", &dead) < 0) {
		snprintf(report, reportlen, "%s: %s", st->path, sqlite3_errmsg(st->db));
		return -1;
	}
	ls->snap_rows = (uint64_t)snap_rows;
	ls->journal_rows = (uint64_t)journal_rows;
	ls->snap_lsn = (uint64_t)snap_lsn;
	ls->next_lsn = (uint64_t)(max_lsn > snap_lsn ? max_lsn : snap_lsn) + 1;
	snprintf(report, reportlen, "%s: ok, format %d; snapshot: %lld timers at LSN %lld; journal: %lld changes "
		 "after it, up to LSN %lld; %lld consumer groups holding %lld deliveries and %lld dead letters; "
		 "%llu bytes on disk", st->path, STORE_VERSION, (long long)snap_rows,
		 (long long)snap_lsn, (long long)journal_rows, (long long)max_lsn, (long long)groups, (long long)dlv,
		 (long long)dead, (unsigned long long)store_file_bytes(st));
	return 0;
}
