/*
 * store.h -- the durable timer store: a journal of changes and a snapshot
 * of live timers, in one SQLite database (state-dir/timers.db).
 *
 * Usage (one thread owns a store; nothing here is thread-safe):
 *
 *	store_open(path, &opt, &st, err, sizeof(err));
 *	store_load(st, apply, arg, &ls);          snapshot, then journal after it
 *	loop:
 *		store_begin(st, sync);                one transaction per group commit
 *		store_append(st, &rec) ...;           journal rows, LSN order
 *		store_snap_put / store_snap_clear ... a slice of a running snapshot
 *		store_commit(st);                     sync: fdatasync before returning
 *	store_snap_begin(st, lsn) ... store_snap_end(st) (inside transactions)
 *	store_close(st);
 *
 * File format (PRAGMA user_version = STORE_VERSION; WAL mode):
 *
 *	journal(lsn INTEGER PRIMARY KEY, op, id, boot, clock, deadline, wall,
 *	        period, misfire, flags, key, topic, payload, calendar)
 *	        append-only; op 1 = put (the timer's whole state), 2 = delete,
 *	        3 = fired (a one-shot's end: final)
 *	snap(slot INTEGER PRIMARY KEY, id, boot, clock, ...)
 *	        every live timer at some moment after meta.snap_lsn was the last
 *	        LSN handed out; slot is the id's index (id & 0xffffffff)
 *	meta(k TEXT PRIMARY KEY, v)   snap_lsn; snap_rows, snap_keyed (timers in the snapshot, with keys);
 *	        max_gen (the highest id generation of any row a snapshot trimmed); last_sync
 *
 * owner (a column added in place, any version): the identity that armed the
 * timer (server/ident.h), NULL without one; a store without the column gets
 * it at open (store_owner_column), an older timerd ignores it.
 * calendar (version 2): a calendar timer's normalised schedule (cal/cal.h),
 * NULL for every other timer; deadline is then its next elapse (clock 1).
 * A version 1 file is upgraded in place when opened (the column is added,
 * its rows read back with calendar NULL); an older timerd refuses version 2.
 *
 * Consumer groups (version 3; a version 2 file gains the two tables in place):
 *
 *	groups(name TEXT PRIMARY KEY, settings BLOB)   settings: a packed timerd Group
 *	deliveries(id INTEGER PRIMARY KEY, grp, timer_id, key, topic, payload,
 *	        deadline, fired, period, attempts, dead, last_error, dead_at)
 *	        one row per delivery not yet acked (dead = 1: a dead letter);
 *	        rows are updated in place (store_append of STORE_GROUP_* and
 *	        STORE_DLV_* ops), in the same transaction as the journal rows
 *	meta dlv_next: every delivery id handed out and committed is below it
 *	        (written ahead, a block of ids at a time: not at every commit)
 *
 * What a reader may assume after a crash (SQLite's commit is atomic):
 * every committed journal row is there, whole; the state of the timers is
 * the snapshot with the journal rows after snap_lsn applied in LSN order.
 * The snapshot may be a mix of two passes (a pass interrupted by a crash);
 * that is still correct because each row holds a timer's whole state, and a
 * change made after snap_lsn was handed out has a journal row after it
 * (replaying it over a snapshot row that already has it is harmless).
 *
 * Deadlines: `deadline` is on `clock` (0 CLOCK_MONOTONIC, 1 CLOCK_REALTIME);
 * `wall` is the same instant on CLOCK_REALTIME when the row was written and
 * `boot` a hash of the boot id then, so a loader in another boot maps
 * monotonic deadlines through the wall clock.
 */
#ifndef TIMERD_STORE_H
#define TIMERD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The schema version in PRAGMA user_version. */
#define STORE_VERSION 3

enum store_op {
	STORE_PUT = 1,		/* create or replace timer id with this state */
	STORE_DEL = 2,		/* timer id is gone (cancelled, or re-armed ephemeral): a later put revives it */
	STORE_FIRED = 3,	/* one-shot id fired: gone for good (a put after it raced the fire) */
	/* consumer groups (version 3): applied to the groups and deliveries tables, not the journal */
	STORE_GROUP_PUT = 10,	/* group key (its name): settings = payload (a packed timerd Group) */
	STORE_GROUP_DEL = 11,	/* group key is gone, and its deliveries below id (0: all); flags STORE_GROUP_DLV_ONLY: only those */
	STORE_DLV_PUT = 12,	/* delivery id of group: timer_id, key, topic, payload, deadline, wall (fired), period, attempts */
	STORE_DLV_DEL = 13,	/* delivery id is done (acked, purged) */
	STORE_DLV_SET = 14,	/* delivery id: attempts, flags (STORE_DLV_DEAD), error, at (when it died) */
};

/* store_rec.flags of a delivery row: it is a dead letter. */
#define STORE_DLV_DEAD 0x1u
/*
 * store_rec.flags of a STORE_GROUP_DEL: the deliveries only (the group row
 * stays). group_delete journals one through the fire batches too, after the
 * group's delivery rows there: those batches and the loops' commit in either
 * order, and a row of the deleted group must not outlive it.
 */
#define STORE_GROUP_DLV_ONLY 0x2u

enum store_clock {
	STORE_MONO = 0,
	STORE_REAL = 1,
};

/* One timer's state (or its removal), as the journal and snapshot hold it. */
struct store_rec {
	uint64_t lsn;		/* journal position; 0 for snapshot rows */
	uint8_t op;		/* enum store_op */
	uint8_t clock;		/* enum store_clock */
	uint8_t misfire;	/* what to do when found late (the caller's codes) */
	uint32_t flags;		/* the caller's timer flags */
	uint64_t id;
	uint64_t boot;		/* store_boot_hash() of the boot it was written in */
	int64_t deadline;	/* next fire on clock, ns */
	int64_t wall;		/* deadline on CLOCK_REALTIME when written, ns */
	int64_t period;		/* 0: one-shot */
	const void *key;	/* NULL: no key */
	uint32_t keylen;
	uint32_t topiclen;
	uint32_t payloadlen;
	const void *topic;
	const void *payload;
	const char *calendar;	/* normalised calendar schedule, calendarlen bytes (no NUL); NULL: none */
	uint32_t calendarlen;
	/* group rows (STORE_GROUP_*, STORE_DLV_*) */
	const char *group;	/* the delivery's group name, grouplen bytes */
	uint32_t grouplen;
	uint32_t attempts;	/* attempts made (recorded at each failure; a live delivery's leave out those spared while the store failed) */
	const char *error;	/* a dead letter's last error, errorlen bytes */
	uint32_t errorlen;
	uint64_t timer_id;	/* the delivery's timer */
	int64_t at;		/* unix ns it became a dead letter */
	const char *owner;	/* the identity that armed it, ownerlen bytes (no NUL); NULL: none (owner column) */
	uint32_t ownerlen;
};

/* What store_load found. */
struct store_load_stats {
	uint64_t snap_rows;	/* rows read from the snapshot */
	uint64_t journal_rows;	/* journal rows replayed */
	uint64_t snap_lsn;	/* where the snapshot stands */
	uint64_t next_lsn;	/* the first LSN a writer may use */
	uint64_t max_gen;	/* highest id generation (id >> 32) ever written */
	uint64_t alive_boot;	/* when the writer last said it was alive (store_note_alive): */
	int64_t alive_mono;	/* its boot, CLOCK_MONOTONIC and CLOCK_REALTIME ns; all 0 if never */
	int64_t alive_real;	/* (filled before the first row reaches the load callback) */
	bool clean;		/* the last writer stopped cleanly (its meta are exact) */
};

struct store_opts {
	bool create;		/* create the file if it does not exist */
	int64_t busy_ms;	/* wait this long for a lock held by a reader (sqlite3 CLI) */
};

struct store;

/* Called per loaded row, in order; a negative return stops the load with it. */
typedef int (*store_load_fn)(void *arg, const struct store_rec *r);

/*
 * The boot id of this boot as a 64-bit hash (0 if it cannot be read);
 * with text, the hash of that text instead (tests inject a new boot).
 */
uint64_t store_boot_hash(const char *text);

/*
 * Opens (or creates) the store at path; 0 or -1 with err naming the file
 * and what to do. A file that is not a timerd store, or is corrupt, is
 * refused: never silently replaced.
 */
int store_open(const char *path, const struct store_opts *o, struct store **out, char *err, size_t errlen);

/* Closes the store (a transaction still open is rolled back). */
void store_close(struct store *st);

/* Keyed timers in the last snapshot: what a load's key table will hold, at least. */
uint64_t store_expected_keys(struct store *st);

/* Reads the snapshot then the journal after it into fn; 0 or -1 with err. */
int store_load(struct store *st, store_load_fn fn, void *arg, struct store_load_stats *ls, char *err,
	       size_t errlen);

/*
 * Starts a transaction; with sync, its commit is on stable storage when
 * store_commit returns (fdatasync of the log), else written to the OS
 * only. 0 or -1 with err.
 */
int store_begin(struct store *st, bool sync, char *err, size_t errlen);

/*
 * Adds a journal row (r->lsn above every earlier one), or a group row;
 * 0 or -1 with err. Rows are queued and written many to a statement, so
 * r's bytes (key, topic, payload, group, ...) must stay valid until
 * store_commit or store_rollback returns.
 */
int store_append(struct store *st, const struct store_rec *r, char *err, size_t errlen);

/*
 * Commits the transaction, synced as store_begin asked. 0 or -1 with err;
 * on failure the transaction is rolled back and nothing of it is kept.
 */
int store_commit(struct store *st, char *err, size_t errlen);

/* Rolls back an open transaction (after a failed append). */
void store_rollback(struct store *st);

/* Makes every earlier commit durable (an fdatasync of the log); 0 or -1. */
int store_sync(struct store *st, char *err, size_t errlen);

/* Raises the generation the next commit records in meta.max_gen (ids handed out, journaled or not). */
void store_note_gen(struct store *st, uint64_t gen);

/* Has the next commit record that the writer was alive at these clocks (meta alive_*). */
void store_note_alive(struct store *st, uint64_t boot, int64_t mono, int64_t real);

/* Has the next commit record whether the writer stopped cleanly (meta clean; a load reads it). */
void store_note_clean(struct store *st, bool clean);

/* True if a commit now would write meta (a noted generation or alive time not yet written). */
bool store_meta_pending(const struct store *st);

/* Starts a snapshot pass: lsn is the last LSN handed out before the pass began. */
void store_snap_begin(struct store *st, uint64_t lsn);

/* Writes timer r into the snapshot at slot (inside a transaction); 0 or -1. */
int store_snap_put(struct store *st, uint64_t slot, const struct store_rec *r, char *err, size_t errlen);

/* Removes snapshot slots from..to-1 (timers gone); 0 or -1. */
int store_snap_clear(struct store *st, uint64_t from, uint64_t to, char *err, size_t errlen);

/*
 * Ends the pass (inside a transaction): the snapshot now stands at the
 * pass's lsn and journal rows up to it are deleted. 0 or -1 with err.
 */
int store_snap_end(struct store *st, char *err, size_t errlen);

/* Journal rows now in the file (kept up to date by append and snap_end). */
uint64_t store_journal_rows(const struct store *st);

/* Bytes the database file and its log use on disk now. */
uint64_t store_file_bytes(const struct store *st);

/* A group row (op STORE_GROUP_PUT: key = name, payload = settings) or a delivery row (STORE_DLV_PUT) at load. */
typedef int (*store_group_fn)(void *arg, const struct store_rec *r);

/*
 * Reads the groups, then the deliveries (by id) into fn; *dlv_next: meta
 * dlv_next (0 if never written). 0, fn's negative code, or -1 with err.
 */
int store_load_groups(struct store *st, store_group_fn fn, void *arg, uint64_t *dlv_next, char *err,
		      size_t errlen);

/*
 * Delivery ids meta.dlv_next reserves beyond the next one: it is written
 * once per that many ids, not at every commit (a restart skips the ids
 * reserved and not used: they are unique, not dense).
 */
#define STORE_DLV_RESERVE 65536u

/* Has the next commit record that delivery ids below next were handed out (meta dlv_next, plus STORE_DLV_RESERVE). */
void store_note_dlv(struct store *st, uint64_t next);

/* Runs SQLite's integrity check and counts what the store holds; 0 or -1. */
int store_check(struct store *st, struct store_load_stats *ls, char *report, size_t reportlen);

#endif /* TIMERD_STORE_H */
