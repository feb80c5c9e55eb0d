/*
 * test-store.c -- the durable store on its own: rows survive close and
 * reopen whole and in order, a snapshot pass trims the journal, an
 * interrupted pass still loads the right state, a failed transaction keeps
 * nothing, files that are not a store are refused with a way out, calendar
 * schedules round-trip, and a format 1 file is upgraded in place; consumer
 * groups' rows round-trip and a format 2 file gains their tables.
 */
#include "config.h"

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store/store.h"

#define MODEL_IDS 64

static char dir[64], path[128];

/* A model of the timers a load rebuilds: id -> deadline (0: absent). */
struct model {
	int64_t deadline[MODEL_IDS];
	char topic[MODEL_IDS][16];
	uint64_t rows;
};

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/test-store.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/timers.db", dir);
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static struct store *open_store(void)
{
	struct store_opts o = { .create = true };
	struct store *st;
	char err[512];

	ck_assert_msg(store_open(path, &o, &st, err, sizeof(err)) == 0, "%s", err);
	return st;
}

/* A put of timer id (index id) with deadline d and a topic naming both. */
static struct store_rec put(uint64_t lsn, uint64_t id, int64_t d, char *topic)
{
	struct store_rec r = { .lsn = lsn, .op = STORE_PUT, .id = id, .deadline = d, .wall = d + 7,
			       .period = (int64_t)id % 3, .flags = 5, .misfire = 1, .boot = 42 };

	snprintf(topic, 16, "t%llu-%lld", (unsigned long long)id, (long long)d);
	r.topic = topic;
	r.topiclen = (uint32_t)strlen(topic);
	r.key = id % 2 ? topic : NULL;
	r.keylen = id % 2 ? r.topiclen : 0;
	r.payload = "\0payload";
	r.payloadlen = 8;
	return r;
}

/* Applies a loaded row to the model, checking what the row carries. */
static int apply(void *arg, const struct store_rec *r)
{
	struct model *m = arg;

	ck_assert_uint_lt(r->id, MODEL_IDS);
	m->rows++;
	if (r->op == STORE_DEL) {
		m->deadline[r->id] = 0;
		return 0;
	}
	ck_assert_int_eq(r->op, STORE_PUT);
	ck_assert_int_eq(r->wall, r->deadline + 7);
	ck_assert_int_eq(r->period, (int64_t)r->id % 3);
	ck_assert_uint_eq(r->flags, 5);
	ck_assert_uint_eq(r->misfire, 1);
	ck_assert_uint_eq(r->boot, 42);
	ck_assert_uint_eq(r->payloadlen, 8);
	ck_assert(memcmp(r->payload, "\0payload", 8) == 0);
	ck_assert_uint_lt(r->topiclen, 16);
	memcpy(m->topic[r->id], r->topic, r->topiclen);
	m->topic[r->id][r->topiclen] = 0;
	if (r->id % 2)
		ck_assert(r->key && r->keylen == r->topiclen && memcmp(r->key, r->topic, r->keylen) == 0);
	else
		ck_assert_ptr_null(r->key);
	m->deadline[r->id] = r->deadline;
	return 0;
}

static void load(struct store *st, struct model *m, struct store_load_stats *ls)
{
	char err[512];

	memset(m, 0, sizeof(*m));
	ck_assert_msg(store_load(st, apply, m, ls, err, sizeof(err)) == 0, "%s", err);
}

static void commit_rows(struct store *st, const struct store_rec *v, int n)
{
	char err[512];

	ck_assert_msg(store_begin(st, (n & 1) == 0, err, sizeof(err)) == 0, "%s", err);
	for (int i = 0; i < n; i++)
		ck_assert_msg(store_append(st, &v[i], err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(store_commit(st, err, sizeof(err)) == 0, "%s", err);
}

START_TEST(test_journal_roundtrip)
{
	char topics[8][16];
	struct store_rec v[8];
	struct store_load_stats ls;
	struct model m;
	struct store *st = open_store();

	for (int i = 0; i < 6; i++)
		v[i] = put((uint64_t)i + 1, (uint64_t)i, 1000 + i, topics[i]);
	v[6] = (struct store_rec){ .lsn = 7, .op = STORE_DEL, .id = 2 };
	v[7] = put(8, 3, 5000, topics[7]);	/* re-arm */
	commit_rows(st, v, 8);
	store_close(st);

	st = open_store();
	load(st, &m, &ls);
	ck_assert_uint_eq(ls.snap_rows, 0);
	ck_assert_uint_eq(ls.journal_rows, 8);
	ck_assert_uint_eq(ls.next_lsn, 9);
	ck_assert_int_eq(m.deadline[0], 1000);
	ck_assert_int_eq(m.deadline[2], 0);
	ck_assert_int_eq(m.deadline[3], 5000);
	ck_assert_str_eq(m.topic[3], "t3-5000");
	ck_assert_uint_eq(store_journal_rows(st), 8);
	store_close(st);
}
END_TEST

/* Writes a whole snapshot pass of the live timers of the model at lsn. */
static void snapshot(struct store *st, const int64_t *deadline, uint64_t lsn)
{
	char err[512], topic[16];
	uint64_t prev = 0;

	store_snap_begin(st, lsn);
	ck_assert(store_begin(st, true, err, sizeof(err)) == 0);
	for (uint64_t id = 0; id < MODEL_IDS; id++) {
		struct store_rec r;

		if (!deadline[id])
			continue;
		r = put(0, id, deadline[id], topic);
		ck_assert_msg(store_snap_clear(st, prev, id, err, sizeof(err)) == 0, "%s", err);
		ck_assert_msg(store_snap_put(st, id, &r, err, sizeof(err)) == 0, "%s", err);
		prev = id + 1;
	}
	ck_assert(store_snap_clear(st, prev, UINT64_MAX, err, sizeof(err)) == 0);
	ck_assert_msg(store_snap_end(st, err, sizeof(err)) == 0, "%s", err);
	ck_assert(store_commit(st, err, sizeof(err)) == 0);
}

START_TEST(test_snapshot_trims)
{
	char topics[20][16];
	struct store_rec v[20];
	struct store_load_stats ls;
	struct model m;
	struct store *st = open_store();

	for (int i = 0; i < 10; i++)
		v[i] = put((uint64_t)i + 1, (uint64_t)i, 100 + i, topics[i]);
	commit_rows(st, v, 10);
	load(st, &m, &ls);
	v[0] = (struct store_rec){ .lsn = 11, .op = STORE_DEL, .id = 4 };
	commit_rows(st, v, 1);
	m.deadline[4] = 0;
	snapshot(st, m.deadline, 11);
	ck_assert_uint_eq(store_journal_rows(st), 0);
	/* changes after the pass */
	v[0] = put(12, 20, 999, topics[0]);
	v[1] = (struct store_rec){ .lsn = 13, .op = STORE_DEL, .id = 0 };
	commit_rows(st, v, 2);
	store_close(st);

	st = open_store();
	load(st, &m, &ls);
	ck_assert_uint_eq(ls.snap_rows, 9);
	ck_assert_uint_eq(ls.journal_rows, 2);
	ck_assert_uint_eq(ls.snap_lsn, 11);
	ck_assert_uint_eq(ls.next_lsn, 14);
	ck_assert_int_eq(m.deadline[0], 0);
	ck_assert_int_eq(m.deadline[4], 0);
	ck_assert_int_eq(m.deadline[5], 105);
	ck_assert_int_eq(m.deadline[20], 999);
	store_close(st);
}
END_TEST

/*
 * A pass cut off half-way (no snap_end: a crash) leaves a snapshot that
 * mixes two passes; with the journal after the old snap_lsn it still loads
 * the state the journal describes.
 */
START_TEST(test_snapshot_interrupted)
{
	char topics[40][16], err[512], topic[16];
	struct store_rec v[40];
	struct store_load_stats ls;
	struct model m, want;
	struct store *st = open_store();
	int n = 0;

	for (int i = 0; i < 30; i++, n++)
		v[n] = put((uint64_t)n + 1, (uint64_t)i, 100 + i, topics[n]);
	commit_rows(st, v, n);
	load(st, &want, &ls);
	snapshot(st, want.deadline, 30);
	/* after the pass: delete 3, re-arm 7, delete 25 */
	n = 0;
	v[n++] = (struct store_rec){ .lsn = 31, .op = STORE_DEL, .id = 3 };
	v[n++] = put(32, 7, 777, topics[0]);
	v[n++] = (struct store_rec){ .lsn = 33, .op = STORE_DEL, .id = 25 };
	commit_rows(st, v, n);
	load(st, &want, &ls);
	/* a second pass starts at 33, writes slots 0..9 (3 removed, 7 new), then "crashes" */
	store_snap_begin(st, 33);
	ck_assert(store_begin(st, true, err, sizeof(err)) == 0);
	for (uint64_t id = 0; id < 10; id++) {
		struct store_rec r = put(0, id, want.deadline[id], topic);

		if (!want.deadline[id])
			ck_assert(store_snap_clear(st, id, id + 1, err, sizeof(err)) == 0);
		else
			ck_assert(store_snap_put(st, id, &r, err, sizeof(err)) == 0);
	}
	ck_assert(store_commit(st, err, sizeof(err)) == 0);
	/* and a change after the second pass began */
	v[0] = put(34, 8, 888, topics[1]);
	commit_rows(st, v, 1);
	want.deadline[8] = 888;
	store_close(st);

	st = open_store();
	load(st, &m, &ls);
	ck_assert_uint_eq(ls.snap_lsn, 30);
	for (int id = 0; id < MODEL_IDS; id++)
		ck_assert_msg(m.deadline[id] == want.deadline[id], "id %d: loaded %lld, want %lld", id,
			      (long long)m.deadline[id], (long long)want.deadline[id]);
	store_close(st);
}
END_TEST

/* A transaction that fails keeps nothing; the store goes on. */
START_TEST(test_failed_transaction)
{
	char topics[4][16], err[512];
	struct store_rec v[4];
	struct store_load_stats ls;
	struct model m;
	struct store *st = open_store();

	v[0] = put(1, 1, 10, topics[0]);
	commit_rows(st, v, 1);
	ck_assert(store_begin(st, true, err, sizeof(err)) == 0);
	v[1] = put(2, 2, 20, topics[1]);
	ck_assert(store_append(st, &v[1], err, sizeof(err)) == 0);
	ck_assert(store_append(st, &v[0], err, sizeof(err)) == 0);	/* LSN 1 again: found by the insert */
	ck_assert_int_eq(store_commit(st, err, sizeof(err)), -1);	/* rolled back, nothing kept */
	ck_assert_msg(strstr(err, path) != NULL, "%s", err);
	ck_assert_uint_eq(store_journal_rows(st), 1);
	/* a full multi-row statement that fails keeps nothing either */
	ck_assert(store_begin(st, false, err, sizeof(err)) == 0);
	for (int i = 0; i < 40; i++) {
		struct store_rec r = put(100 + (uint64_t)i, (uint64_t)i % 60, 50, topics[3]);

		if (i == 20)
			r.lsn = 1;	/* a duplicate inside the first 32-row statement */
		if (store_append(st, &r, err, sizeof(err)) < 0)
			break;
	}
	store_rollback(st);
	ck_assert_uint_eq(store_journal_rows(st), 1);
	v[2] = put(2, 3, 30, topics[2]);
	commit_rows(st, &v[2], 1);
	load(st, &m, &ls);
	ck_assert_int_eq(m.deadline[1], 10);
	ck_assert_int_eq(m.deadline[2], 0);
	ck_assert_int_eq(m.deadline[3], 30);
	ck_assert_msg(store_sync(st, err, sizeof(err)) == 0, "%s", err);
	store_close(st);
}
END_TEST

/* Writes text to path. */
static void write_file(const char *p, const char *text)
{
	FILE *f = fopen(p, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

START_TEST(test_refuses_foreign_files)
{
	struct store_opts o = { .create = true };
	struct store *st;
	char err[1024], cmd[256];

	write_file(path, "this is not a database, and it is long enough to have a header of its own......\n");
	ck_assert_int_eq(store_open(path, &o, &st, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, path) && strstr(err, ".recover"), "%s", err);
	unlink(path);
	snprintf(cmd, sizeof(cmd), "sqlite3 %s 'CREATE TABLE other(x)'", path);
	if (system(cmd) == 0) {
		ck_assert_int_eq(store_open(path, &o, &st, err, sizeof(err)), -1);
		ck_assert_msg(strstr(err, "not a timerd store"), "%s", err);
	}
	unlink(path);
	o.create = false;
	ck_assert_int_eq(store_open(path, &o, &st, err, sizeof(err)), -1);
}
END_TEST

START_TEST(test_check)
{
	char topics[2][16], report[1024];
	struct store_rec v[2];
	struct store_load_stats ls;
	struct store *st = open_store();

	v[0] = put(1, 1, 10, topics[0]);
	v[1] = put(2, 2, 20, topics[1]);
	commit_rows(st, v, 2);
	ck_assert_msg(store_check(st, &ls, report, sizeof(report)) == 0, "%s", report);
	ck_assert_uint_eq(ls.journal_rows, 2);
	ck_assert_uint_eq(ls.next_lsn, 3);
	ck_assert_msg(strstr(report, "ok"), "%s", report);
	ck_assert_uint_gt(store_file_bytes(st), 0);
	store_close(st);
}
END_TEST

/* Loads calendar rows: id -> its schedule ("" if none). */
static int apply_cal(void *arg, const struct store_rec *r)
{
	char (*cal)[64] = arg;

	ck_assert_uint_lt(r->id, 8);
	ck_assert(!r->calendar == !r->calendarlen);
	ck_assert_uint_lt(r->calendarlen, 64);
	memcpy(cal[r->id], r->calendar ? r->calendar : "", r->calendarlen);
	cal[r->id][r->calendarlen] = 0;
	return 0;
}

START_TEST(test_calendar_roundtrip)
{
	char topics[3][16], cal[8][64], err[512];
	struct store_rec v[3];
	struct store_load_stats ls;
	struct store *st = open_store();

	for (int i = 0; i < 3; i++)
		v[i] = put((uint64_t)i + 1, (uint64_t)i, 100 + i, topics[i]);
	v[1].calendar = "Mon..Fri *-*-* 09:00:00 Europe/Paris";
	v[1].calendarlen = (uint32_t)strlen(v[1].calendar);
	commit_rows(st, v, 3);
	ck_assert(store_begin(st, true, err, sizeof(err)) == 0);
	store_snap_begin(st, 3);
	v[2].calendar = "*-*-01 00:00:00 UTC";
	v[2].calendarlen = (uint32_t)strlen(v[2].calendar);
	ck_assert_msg(store_snap_put(st, 2, &v[2], err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(store_snap_end(st, err, sizeof(err)) == 0, "%s", err);
	ck_assert(store_commit(st, err, sizeof(err)) == 0);
	store_close(st);
	st = open_store();
	memset(cal, 0, sizeof(cal));
	ck_assert_msg(store_load(st, apply_cal, cal, &ls, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(ls.snap_rows, 1);
	ck_assert_str_eq(cal[2], "*-*-01 00:00:00 UTC");
	store_close(st);
}
END_TEST

/* Makes the store's file (path) an SQLite database holding what sql creates. */
static void make_file(const char *sql)
{
	sqlite3 *db;

	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

/*
 * Makes a format-2 file (timers with calendars; no groups, no owner
 * column) with one journal row, timer 3's arm, whose calendar is the SQL
 * literal cal ("'daily'", "NULL").
 */
static void make_format_2(const char *cal)
{
	char sql[2048];

	snprintf(sql, sizeof(sql),
		 "CREATE TABLE journal(lsn INTEGER PRIMARY KEY, op INTEGER NOT NULL, id INTEGER NOT NULL,"
		 " boot INTEGER NOT NULL, clock INTEGER NOT NULL, deadline INTEGER NOT NULL, wall INTEGER NOT NULL,"
		 " period INTEGER NOT NULL, misfire INTEGER NOT NULL, flags INTEGER NOT NULL,"
		 " key BLOB, topic BLOB, payload BLOB, calendar BLOB);"
		 "CREATE TABLE snap(slot INTEGER PRIMARY KEY, id INTEGER NOT NULL,"
		 " boot INTEGER NOT NULL, clock INTEGER NOT NULL, deadline INTEGER NOT NULL, wall INTEGER NOT NULL,"
		 " period INTEGER NOT NULL, misfire INTEGER NOT NULL, flags INTEGER NOT NULL,"
		 " key BLOB, topic BLOB, payload BLOB, calendar BLOB);"
		 "CREATE TABLE meta(k TEXT PRIMARY KEY, v);"
		 "INSERT INTO meta VALUES('snap_lsn', 0);"
		 "INSERT INTO journal VALUES(1, 1, 3, 42, 1, 5000, 5007, 0, 1, 5, NULL, 't', x'00', %s);"
		 "PRAGMA user_version = 2;", cal);
	make_file(sql);
}

START_TEST(test_upgrades_format_1)
{
	/* the schema of format 1, as timerd wrote it before calendar schedules */
	static const char v1[] =
		"CREATE TABLE journal(lsn INTEGER PRIMARY KEY, op INTEGER NOT NULL, id INTEGER NOT NULL,"
		" boot INTEGER NOT NULL, clock INTEGER NOT NULL, deadline INTEGER NOT NULL, wall INTEGER NOT NULL,"
		" period INTEGER NOT NULL, misfire INTEGER NOT NULL, flags INTEGER NOT NULL,"
		" key BLOB, topic BLOB, payload BLOB);"
		"CREATE TABLE snap(slot INTEGER PRIMARY KEY, id INTEGER NOT NULL,"
		" boot INTEGER NOT NULL, clock INTEGER NOT NULL, deadline INTEGER NOT NULL, wall INTEGER NOT NULL,"
		" period INTEGER NOT NULL, misfire INTEGER NOT NULL, flags INTEGER NOT NULL,"
		" key BLOB, topic BLOB, payload BLOB);"
		"CREATE TABLE meta(k TEXT PRIMARY KEY, v);"
		"INSERT INTO meta VALUES('snap_lsn', 0);"
		"INSERT INTO journal VALUES(1, 1, 3, 42, 1, 5000, 5007, 0, 1, 5, NULL, 't', x'00');"
		"PRAGMA user_version = 1;";
	char cal[8][64], topic[16], err[512];
	struct store_load_stats ls;
	struct store_rec r;
	struct store *st;
	sqlite3 *db;

	make_file(v1);
	st = open_store();
	memset(cal, 0, sizeof(cal));
	ck_assert_msg(store_load(st, apply_cal, cal, &ls, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(ls.journal_rows, 1);
	ck_assert_str_eq(cal[3], "");
	r = put(2, 4, 6000, topic);
	r.calendar = "daily";
	r.calendarlen = 5;
	commit_rows(st, &r, 1);
	store_close(st);
	st = open_store();
	memset(cal, 0, sizeof(cal));
	ck_assert_msg(store_load(st, apply_cal, cal, &ls, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(ls.journal_rows, 2);
	ck_assert_str_eq(cal[4], "daily");
	store_close(st);
	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	{
		sqlite3_stmt *q;

		ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &q, NULL), SQLITE_OK);
		ck_assert_int_eq(sqlite3_step(q), SQLITE_ROW);
		ck_assert_int_eq(sqlite3_column_int(q, 0), STORE_VERSION);
		sqlite3_finalize(q);
	}
	sqlite3_close(db);
}
END_TEST

/* What a groups load saw. */
struct grows {
	int groups, dlv, dead;
	char gname[4][32], settings[4][32];
	uint64_t ids[8];
	uint32_t attempts[8];
	char err[8][32], grp[8][32], key[8][32];
};

/* store_load_groups callback: records each row. */
static int apply_group(void *arg, const struct store_rec *r)
{
	struct grows *g = arg;

	if (r->op == STORE_GROUP_PUT) {
		ck_assert_int_lt(g->groups, 4);
		snprintf(g->gname[g->groups], 32, "%.*s", (int)r->keylen, (const char *)r->key);
		snprintf(g->settings[g->groups], 32, "%.*s", (int)r->payloadlen, (const char *)r->payload);
		g->groups++;
		return 0;
	}
	ck_assert_int_eq(r->op, STORE_DLV_PUT);
	ck_assert_int_lt(g->dlv, 8);
	g->ids[g->dlv] = r->id;
	g->attempts[g->dlv] = r->attempts;
	snprintf(g->err[g->dlv], 32, "%.*s", (int)r->errorlen, r->error ? r->error : "");
	snprintf(g->grp[g->dlv], 32, "%.*s", (int)r->grouplen, r->group);
	snprintf(g->key[g->dlv], 32, "%.*s", r->key ? (int)r->keylen : 6, r->key ? (const char *)r->key : "(null)");
	g->dead += (r->flags & STORE_DLV_DEAD) != 0;
	g->dlv++;
	return 0;
}

/* A delivery row of group grp. */
static struct store_rec dlv(uint64_t id, const char *grp, const char *key)
{
	return (struct store_rec){ .op = STORE_DLV_PUT, .id = id, .group = grp, .grouplen = (uint32_t)strlen(grp),
				   .timer_id = id * 10, .key = key, .keylen = key ? (uint32_t)strlen(key) : 0,
				   .topic = "jobs", .topiclen = 4, .payload = "p", .payloadlen = 1,
				   .deadline = 100, .wall = 101 };
}

START_TEST(test_groups_roundtrip)
{
	struct store_rec v[] = {
		{ .op = STORE_GROUP_PUT, .key = "a", .keylen = 1, .payload = "settings-a", .payloadlen = 10 },
		{ .op = STORE_GROUP_PUT, .key = "b", .keylen = 1, .payload = "settings-b", .payloadlen = 10 },
		dlv(1, "a", "k1"), dlv(2, "a", NULL), dlv(3, "b", "k3"), dlv(4, "a", "k4"),
		{ .op = STORE_DLV_DEL, .id = 1 },
		{ .op = STORE_DLV_SET, .id = 2, .attempts = 5, .flags = STORE_DLV_DEAD, .error = "ack timeout",
		  .errorlen = 11, .at = 77 },
		{ .op = STORE_DLV_SET, .id = 4, .attempts = 2 },
	};
	struct store_rec later[] = {
		{ .op = STORE_GROUP_DEL, .key = "b", .keylen = 1 },
		{ .op = STORE_GROUP_PUT, .key = "a", .keylen = 1, .payload = "settings-A", .payloadlen = 10 },
	};
	struct grows g = { 0 };
	char err[512];
	uint64_t next = 0;
	struct store *st = open_store();

	store_note_dlv(st, 9);
	commit_rows(st, v, (int)(sizeof(v) / sizeof(v[0])));
	ck_assert_uint_eq(store_journal_rows(st), 0);	/* group rows are not journal rows (no snapshot for them) */
	store_close(st);
	st = open_store();
	ck_assert_msg(store_load_groups(st, apply_group, &g, &next, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(next, 9 + STORE_DLV_RESERVE);	/* written a block of ids ahead */
	ck_assert_int_eq(g.groups, 2);
	ck_assert_str_eq(g.gname[0], "a");
	ck_assert_str_eq(g.settings[1], "settings-b");
	ck_assert_int_eq(g.dlv, 3);	/* 1 acked */
	ck_assert_uint_eq(g.ids[0], 2);
	ck_assert_int_eq(g.dead, 1);
	ck_assert_uint_eq(g.attempts[0], 5);
	ck_assert_str_eq(g.err[0], "ack timeout");
	ck_assert_str_eq(g.key[0], "(null)");
	ck_assert_uint_eq(g.ids[2], 4);
	ck_assert_uint_eq(g.attempts[2], 2);
	ck_assert_str_eq(g.key[2], "k4");
	ck_assert_str_eq(g.grp[1], "b");
	commit_rows(st, later, 2);
	store_close(st);
	st = open_store();
	memset(&g, 0, sizeof(g));
	ck_assert_msg(store_load_groups(st, apply_group, &g, &next, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(g.groups, 1);
	ck_assert_str_eq(g.settings[0], "settings-A");
	ck_assert_int_eq(g.dlv, 2);	/* b's delivery went with it */
	ck_assert_uint_eq(next, 9 + STORE_DLV_RESERVE);	/* nothing new handed out: not written again */
	store_close(st);
}
END_TEST

/*
 * A group deleted and made again under its name while the fire batches
 * and the loops' batches commit in either order (journal_commit takes the
 * loops' batches and the fire batch in separate commits when a loop posts
 * late, or while commits fail): the deleted group's delivery rows never
 * come back in the new group, and the new group's rows are never deleted
 * by the old group's delete.
 */
START_TEST(test_group_delete_bounded)
{
	struct store_rec old[] = {
		{ .op = STORE_GROUP_PUT, .key = "g", .keylen = 1, .payload = "old", .payloadlen = 3 },
		dlv(1, "g", "k1"),
	};
	/* the new group's first delivery (id 3, in a fire batch) commits before the loop's delete and create */
	struct store_rec fire_first[] = { dlv(3, "g", "k3") };
	/* the loop: GroupDelete (next delivery id then: 3), GroupCreate */
	struct store_rec loop[] = {
		{ .op = STORE_GROUP_DEL, .id = 3, .key = "g", .keylen = 1 },
		{ .op = STORE_GROUP_PUT, .key = "g", .keylen = 1, .payload = "new", .payloadlen = 3 },
	};
	/* a fire batch that commits after them: the old group's delivery 2 (made before the delete),
	 * then the delete's own row through the fire batches */
	struct store_rec fire_late[] = {
		dlv(2, "g", "k2"),
		{ .op = STORE_GROUP_DEL, .id = 3, .flags = STORE_GROUP_DLV_ONLY, .key = "g", .keylen = 1 },
	};
	struct grows g = { 0 };
	char err[512];
	uint64_t next = 0;
	struct store *st = open_store();

	commit_rows(st, old, 2);
	commit_rows(st, fire_first, 1);
	commit_rows(st, loop, 2);
	commit_rows(st, fire_late, 2);
	store_close(st);
	st = open_store();
	ck_assert_msg(store_load_groups(st, apply_group, &g, &next, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(g.groups, 1);	/* the fire batch's delete leaves the group row */
	ck_assert_str_eq(g.settings[0], "new");
	ck_assert_msg(g.dlv == 1 && g.ids[0] == 3, "the new group holds %d deliveries (first %llu): only 3 is its own",
		      g.dlv, (unsigned long long)g.ids[0]);
	store_close(st);
}
END_TEST

/* What a groups load saw of many deliveries: which ids, and each one's attempts. */
struct gmany {
	int n;
	uint8_t seen[256];
	uint32_t attempts[256];
	bool dead[256];
};

/* store_load_groups callback: marks each delivery id (below 256). */
static int apply_many(void *arg, const struct store_rec *r)
{
	struct gmany *g = arg;

	if (r->op != STORE_DLV_PUT)
		return 0;
	ck_assert_uint_lt(r->id, 256);
	ck_assert_uint_eq(r->timer_id, r->id * 10);	/* the row of that id, whole */
	ck_assert_uint_eq(r->payloadlen, 1);
	g->seen[r->id]++;
	g->attempts[r->id] = r->attempts;
	g->dead[r->id] = (r->flags & STORE_DLV_DEAD) != 0;
	g->n++;
	return 0;
}

/*
 * Delivery puts and deletes are written STORE_MULTI at a time (store.c):
 * many of both in one transaction, interleaved as the LSN merge gives them
 * (a delete of a delivery put in the same transaction, a set between its
 * put and its delete, a group row among them), full and partial queues,
 * then a transaction that fails: the load holds exactly what the rows say.
 */
START_TEST(test_dlv_batches)
{
	struct store_rec v[400];
	struct gmany g = { 0 };
	char err[512];
	uint64_t next = 0;
	int n = 0;
	struct store *st = open_store();

	v[n++] = (struct store_rec){ .op = STORE_GROUP_PUT, .key = "g", .keylen = 1, .payload = "s", .payloadlen = 1 };
	for (uint64_t id = 1; id <= 150; id++) {
		v[n++] = dlv(id, "g", id % 3 ? "k" : NULL);
		if (id > 40 && id % 2)
			v[n++] = (struct store_rec){ .op = STORE_DLV_DEL, .id = id - 40 };	/* put earlier in this transaction */
		if (id == 77)
			v[n++] = (struct store_rec){ .op = STORE_DLV_SET, .id = 60, .attempts = 3 };
		if (id == 100)
			v[n++] = (struct store_rec){ .op = STORE_DLV_SET, .id = 100, .attempts = 5, .flags = STORE_DLV_DEAD,
						     .error = "x", .errorlen = 1, .at = 1 };
	}
	ck_assert_int_le(n, 400);
	commit_rows(st, v, n);
	store_close(st);
	st = open_store();
	ck_assert_msg(store_load_groups(st, apply_many, &g, &next, err, sizeof(err)) == 0, "%s", err);
	for (uint64_t id = 1; id <= 150; id++) {
		bool gone = id <= 110 && id % 2;	/* deleted as id + 40 was put */

		ck_assert_msg(g.seen[id] == !gone, "delivery %llu: seen %d times, deleted: %d", (unsigned long long)id,
			      g.seen[id], gone);
	}
	ck_assert_uint_eq(g.attempts[60], 3);
	ck_assert(g.dead[100] && g.attempts[100] == 5 && !g.dead[60]);
	/* 70 deletes in one transaction (two full statements and a partial one), then a failed one */
	n = 0;
	for (uint64_t id = 2; id <= 140; id += 2)
		v[n++] = (struct store_rec){ .op = STORE_DLV_DEL, .id = id };
	commit_rows(st, v, n);
	ck_assert_msg(store_begin(st, false, err, sizeof(err)) == 0, "%s", err);
	for (uint64_t id = 141; id <= 150; id++)
		ck_assert(store_append(st, &(struct store_rec){ .op = STORE_DLV_DEL, .id = id }, err, sizeof(err)) == 0);
	store_rollback(st);	/* what was queued goes too */
	commit_rows(st, v, 0);
	store_close(st);
	st = open_store();
	memset(&g, 0, sizeof(g));
	ck_assert_msg(store_load_groups(st, apply_many, &g, &next, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(g.n, 25);	/* odd 111..149 and even 142..150 */
	for (uint64_t id = 141; id <= 150; id++)
		ck_assert_msg(g.seen[id] == 1, "delivery %llu was deleted by a transaction rolled back",
			      (unsigned long long)id);
	/* put, delete, put of one id in one transaction (the server puts an id once; the store is exact anyway) */
	n = 0;
	v[n++] = dlv(200, "g", "k");
	v[n++] = (struct store_rec){ .op = STORE_DLV_DEL, .id = 200 };
	v[n++] = dlv(200, "g", "k");
	v[n++] = dlv(201, "g", "k");
	v[n++] = (struct store_rec){ .op = STORE_DLV_DEL, .id = 201 };
	commit_rows(st, v, n);
	store_close(st);
	st = open_store();
	memset(&g, 0, sizeof(g));
	ck_assert_msg(store_load_groups(st, apply_many, &g, &next, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(g.seen[200] == 1 && g.seen[201] == 0, "put, delete, put: 200 seen %d times, 201 %d times",
		      g.seen[200], g.seen[201]);
	store_close(st);
}
END_TEST

START_TEST(test_upgrades_format_2)
{
	struct store_rec r[] = { { .op = STORE_GROUP_PUT, .key = "g", .keylen = 1, .payload = "s", .payloadlen = 1 },
				 dlv(5, "g", "k") };
	char cal[8][64], err[512];
	struct store_load_stats ls;
	struct grows g = { 0 };
	uint64_t next = 0;
	struct store *st;

	make_format_2("'daily'");	/* a format 2 file: timers with calendars, no groups */
	st = open_store();
	memset(cal, 0, sizeof(cal));
	ck_assert_msg(store_load(st, apply_cal, cal, &ls, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(ls.journal_rows, 1);
	ck_assert_str_eq(cal[3], "daily");
	ck_assert_msg(store_load_groups(st, apply_group, &g, &next, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(g.groups, 0);
	ck_assert_uint_eq(next, 0);
	commit_rows(st, r, 2);
	store_close(st);
	st = open_store();
	ck_assert_msg(store_load_groups(st, apply_group, &g, &next, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(g.groups, 1);
	ck_assert_int_eq(g.dlv, 1);
	ck_assert_uint_eq(next, 6);	/* above the highest id stored, meta or not */
	store_close(st);
}
END_TEST

/* store_load callback: keeps each row's owner by id (ids below 8). */
static int apply_owner(void *arg, const struct store_rec *r)
{
	char (*own)[64] = arg;

	ck_assert_uint_lt(r->id, 8);
	ck_assert(!r->owner == !r->ownerlen);
	ck_assert_uint_lt(r->ownerlen, 64);
	memcpy(own[r->id], r->owner ? r->owner : "", r->ownerlen);
	own[r->id][r->ownerlen] = 0;
	return 0;
}

/* A format-2 store made before the owner column gets it at open, once; owners round-trip. */
START_TEST(test_owner_column)
{
	char own[8][64], topic[16], err[512];
	struct store_load_stats ls;
	struct store_rec r;
	struct store *st;

	make_format_2("NULL");
	for (int round = 0; round < 2; round++) {	/* the second open finds the column there */
		st = open_store();
		memset(own, 0, sizeof(own));
		ck_assert_msg(store_load(st, apply_owner, own, &ls, err, sizeof(err)) == 0, "%s", err);
		ck_assert_str_eq(own[3], "");
		if (round == 0) {
			r = put(2, 4, 6000, topic);
			r.owner = "billing";
			r.ownerlen = 7;
			commit_rows(st, &r, 1);
		} else {
			ck_assert_str_eq(own[4], "billing");
		}
		store_close(st);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("store");
	TCase *tc = tcase_create("store");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_journal_roundtrip);
	tcase_add_test(tc, test_snapshot_trims);
	tcase_add_test(tc, test_snapshot_interrupted);
	tcase_add_test(tc, test_failed_transaction);
	tcase_add_test(tc, test_refuses_foreign_files);
	tcase_add_test(tc, test_check);
	tcase_add_test(tc, test_calendar_roundtrip);
	tcase_add_test(tc, test_upgrades_format_1);
	tcase_add_test(tc, test_groups_roundtrip);
	tcase_add_test(tc, test_group_delete_bounded);
	tcase_add_test(tc, test_dlv_batches);
	tcase_add_test(tc, test_upgrades_format_2);
	tcase_add_test(tc, test_owner_column);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
