/*
 * statsdb.c -- the stats.db writer (see statsdb.h).
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "proto/flat.h"
#include "server/statsdb.h"

/* The schema version in PRAGMA user_version. */
#define STATSDB_VERSION 1
/* How long a write waits for a lock held by a reader before failing. */
#define STATSDB_BUSY_MS 200

struct statsdb {
	sqlite3 *db;
	sqlite3_stmt *insert, *expire, *begin, *commit, *rollback;
	int64_t retention_ms;
	char **cols;			/* "<group>_<field>", in flat_walk order */
	size_t ncols;
	bool oom;
};

/* A growing SQL text. */
struct statsdb_sql {
	char *s;
	size_t len, cap;
	bool oom;
};

/* Appends text to the SQL being built. */
static void statsdb_cat(struct statsdb_sql *q, const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b);

	if (q->oom)
		return;
	if (q->len + n + 1 > q->cap) {
		size_t cap = (q->len + n + 1) * 2;
		char *p = realloc(q->s, cap);

		if (!p) {
			q->oom = true;
			return;
		}
		q->s = p;
		q->cap = cap;
	}
	q->len += (size_t)sprintf(q->s + q->len, "%s%s", a, b);
}

/* Writes "what: sqlite's message" into err; returns -1. */
static int statsdb_fail(struct statsdb *d, char *err, size_t errlen, const char *what)
{
	snprintf(err, errlen, "%s: %s", what, d && d->db ? sqlite3_errmsg(d->db) : "out of memory");
	return -1;
}

/* Runs one statement without results. */
static int statsdb_exec(struct statsdb *d, const char *sql, char *err, size_t errlen)
{
	char *msg = NULL;

	if (sqlite3_exec(d->db, sql, NULL, NULL, &msg) == SQLITE_OK)
		return 0;
	snprintf(err, errlen, "%s: %s", sql, msg ? msg : sqlite3_errmsg(d->db));
	sqlite3_free(msg);
	return -1;
}

/* flat_walk callback: records one column name. */
static void statsdb_name(void *arg, const char *group, const char *field, int64_t v)
{
	struct statsdb *d = arg;
	char name[160], **cols;

	(void)v;
	snprintf(name, sizeof(name), "%s_%s", group, field);
	if (d->oom || !(cols = realloc(d->cols, (d->ncols + 1) * sizeof(*cols))) ||
	    !(cols[d->ncols] = strdup(name))) {
		d->oom = true;
		return;
	}
	d->cols = cols;
	d->ncols++;
}

/* True if the stats table already has a column. */
static bool statsdb_has_col(struct statsdb *d, const char *name)
{
	sqlite3_stmt *st;
	bool found;

	if (sqlite3_prepare_v2(d->db, "SELECT 1 FROM pragma_table_info('stats') WHERE name = ?", -1, &st, NULL) != SQLITE_OK)
		return false;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	found = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return found;
}

/* Creates the table and index, and adds the columns an older table lacks. */
static int statsdb_schema(struct statsdb *d, char *err, size_t errlen)
{
	struct statsdb_sql q = { 0 };
	char sql[256];
	int rc;

	statsdb_cat(&q, "CREATE TABLE IF NOT EXISTS stats (ts_ms INTEGER NOT NULL, interval_ms INTEGER NOT NULL", "");
	for (size_t i = 0; i < d->ncols; i++) {
		statsdb_cat(&q, ", ", d->cols[i]);
		statsdb_cat(&q, " INTEGER NOT NULL DEFAULT 0", "");
	}
	statsdb_cat(&q, ")", "");
	rc = q.oom ? statsdb_fail(NULL, err, errlen, "schema") : statsdb_exec(d, q.s, err, errlen);
	free(q.s);
	if (rc || statsdb_exec(d, "CREATE INDEX IF NOT EXISTS stats_ts ON stats(ts_ms)", err, errlen))
		return -1;
	for (size_t i = 0; i < d->ncols; i++) {
		if (statsdb_has_col(d, d->cols[i]))
			continue;
		snprintf(sql, sizeof(sql), "ALTER TABLE stats ADD COLUMN %s INTEGER NOT NULL DEFAULT 0", d->cols[i]);
		if (statsdb_exec(d, sql, err, errlen))
			return -1;
	}
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", STATSDB_VERSION);
	return statsdb_exec(d, sql, err, errlen);
}

/* Prepares one statement. */
static int statsdb_prep(struct statsdb *d, const char *sql, sqlite3_stmt **st, char *err, size_t errlen)
{
	if (sqlite3_prepare_v3(d->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) == SQLITE_OK)
		return 0;
	return statsdb_fail(d, err, errlen, sql);
}

/* Prepares the INSERT (one parameter per column) and the others. */
static int statsdb_prepare(struct statsdb *d, char *err, size_t errlen)
{
	struct statsdb_sql q = { 0 };
	int rc;

	statsdb_cat(&q, "INSERT INTO stats (ts_ms, interval_ms", "");
	for (size_t i = 0; i < d->ncols; i++)
		statsdb_cat(&q, ", ", d->cols[i]);
	statsdb_cat(&q, ") VALUES (?, ?", "");
	for (size_t i = 0; i < d->ncols; i++)
		statsdb_cat(&q, ", ?", "");
	statsdb_cat(&q, ")", "");
	rc = q.oom ? statsdb_fail(NULL, err, errlen, "insert") : statsdb_prep(d, q.s, &d->insert, err, errlen);
	free(q.s);
	if (rc || statsdb_prep(d, "DELETE FROM stats WHERE ts_ms < ?", &d->expire, err, errlen) ||
	    statsdb_prep(d, "BEGIN IMMEDIATE", &d->begin, err, errlen) ||
	    statsdb_prep(d, "COMMIT", &d->commit, err, errlen) ||
	    statsdb_prep(d, "ROLLBACK", &d->rollback, err, errlen))
		return -1;
	return 0;
}

/* Opens (creating) the database and its table. */
int statsdb_open(const char *path, int64_t retention_ns, struct statsdb **out, char *err, size_t errlen)
{
	struct statsdb *d = calloc(1, sizeof(*d));

	*out = NULL;
	if (!d)
		return statsdb_fail(NULL, err, errlen, path);
	d->retention_ms = retention_ns / 1000000;
	flat_walk(NULL, &timerd__stats_reply__descriptor, statsdb_name, d);
	if (d->oom) {
		statsdb_fail(NULL, err, errlen, path);
		goto fail;
	}
	if (sqlite3_open_v2(path, &d->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		statsdb_fail(d, err, errlen, path);
		goto fail;
	}
	sqlite3_busy_timeout(d->db, STATSDB_BUSY_MS);
	if (statsdb_exec(d, "PRAGMA journal_mode = WAL", err, errlen) ||
	    statsdb_exec(d, "PRAGMA synchronous = NORMAL", err, errlen) || statsdb_schema(d, err, errlen) ||
	    statsdb_prepare(d, err, errlen))
		goto fail;
	*out = d;
	return 0;
fail:
	statsdb_close(d);
	return -1;
}

struct statsdb_bind {
	sqlite3_stmt *st;
	int i;
};

/* flat_walk callback: binds the next column's value. */
static void statsdb_bind_one(void *arg, const char *group, const char *field, int64_t v)
{
	struct statsdb_bind *b = arg;

	(void)group;
	(void)field;
	sqlite3_bind_int64(b->st, b->i++, v);
}

/* Steps a statement that returns no rows, then resets it; true if it ran. */
static bool statsdb_step(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	return rc == SQLITE_DONE;
}

/*
 * After a failed write (a full disk), deletes the expired rows in a
 * transaction of their own: the pages they free make room for the next
 * rows, so a stats.db that filled the disk does not stay stuck.
 */
static void statsdb_expire_alone(struct statsdb *d, int64_t ts_ms)
{
	sqlite3_bind_int64(d->expire, 1, ts_ms - d->retention_ms);
	if (!statsdb_step(d->begin))
		return;
	if (!statsdb_step(d->expire) || !statsdb_step(d->commit))
		statsdb_step(d->rollback);
}

/* Writes one row and drops expired ones, in one transaction. */
int statsdb_write(struct statsdb *d, const Timerd__StatsReply *r, int64_t ts_ms, int64_t interval_ms,
		  char *err, size_t errlen)
{
	struct statsdb_bind b = { d->insert, 3 };

	if (!statsdb_step(d->begin))
		return statsdb_fail(d, err, errlen, "BEGIN");
	sqlite3_bind_int64(d->insert, 1, ts_ms);
	sqlite3_bind_int64(d->insert, 2, interval_ms);
	flat_walk(&r->base, &timerd__stats_reply__descriptor, statsdb_bind_one, &b);
	sqlite3_bind_int64(d->expire, 1, ts_ms - d->retention_ms);
	if (!statsdb_step(d->insert) || !statsdb_step(d->expire) || !statsdb_step(d->commit)) {
		statsdb_fail(d, err, errlen, "writing a row");
		statsdb_step(d->rollback);
		statsdb_expire_alone(d, ts_ms);
		return -1;
	}
	return 0;
}

/* Finalizes the statements and closes the database. */
void statsdb_close(struct statsdb *d)
{
	if (!d)
		return;
	sqlite3_finalize(d->insert);
	sqlite3_finalize(d->expire);
	sqlite3_finalize(d->begin);
	sqlite3_finalize(d->commit);
	sqlite3_finalize(d->rollback);
	sqlite3_close(d->db);
	for (size_t i = 0; i < d->ncols; i++)
		free(d->cols[i]);
	free(d->cols);
	free(d);
}
