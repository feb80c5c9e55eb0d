/*
 * journal.h -- durable timers: the journal thread between the loops and the
 * store (store/store.h), group commit, background snapshots, recovery.
 *
 * The arm path with a journal (loop thread):
 *
 *	engine_arm(...)                          visible at once, as before
 *	seq = journal_put(l, &rec);              copied into l's batch, gets an LSN
 *	conn_hold(c, seq); conn_send(c, reply);  the reply waits for seq
 *	...end of the read: journal_flush(l);    the batch goes to the journal thread
 *	...wake-up: journal_durable(l) >= seq    conn_release(c) sends it
 *
 * The journal thread takes every batch posted since its last commit (an
 * llist swap), writes them and, while a snapshot runs, a slice of it in one
 * SQLite transaction, commits (fdatasync per --fsync), then publishes each
 * loop's newest committed batch and wakes the loops that wait.
 *
 * What may run concurrently:
 *
 *	                    put/flush (loop i)  put_fire (workers)  thread
 *	put/flush (loop i)  no (one thread)     yes                 yes
 *	put_fire            yes                 yes (a mutex)       yes
 *
 * Guarantees: when journal_durable(l) >= seq, every row put by loop l into
 * batches up to seq is committed (and synced under --fsync always). LSNs
 * are handed out after the engine call they describe (acq_rel), so a
 * snapshot pass that starts after LSN n was handed out sees that change.
 * A failed commit keeps its rows and retries them until it succeeds;
 * while it fails, journal_writable() is false and new durable requests are
 * refused (TD_ESTORAGE) before they touch the engine.
 */
#ifndef TIMERD_JOURNAL_H
#define TIMERD_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "store/store.h"

struct srv;
struct loop;
struct engine_timer;

/* Engine flags the server gives timers (engine_arm.flags), beside SRV_FLAG_NOTIFY. */
#define JOURNAL_FLAG_EPHEMERAL 0x2u	/* not in the journal */
#define JOURNAL_FLAG_SKIP      0x4u	/* misfire policy skip (default: fire) */
#define JOURNAL_FLAG_RECOVERED 0x8u	/* restored late: its first fire says so */
/* Flags a restart keeps (notify names a connection that is gone). */
#define JOURNAL_FLAGS_KEPT     JOURNAL_FLAG_SKIP

/* Room for an error message of the store (path, statement, SQLite's text). */
#define JOURNAL_ERR_LEN 512

enum journal_fsync {
	JOURNAL_FSYNC_ALWAYS,		/* a reply waits for the fdatasync of its commit */
	JOURNAL_FSYNC_INTERVAL,		/* written before the reply, synced every interval */
	JOURNAL_FSYNC_NEVER,		/* written before the reply, synced by the OS */
};

/* Counters and gauges (StoreStats). */
struct journal_stats {
	bool durable;
	enum journal_fsync fsync;
	int64_t fsync_interval_ns;
	bool failing;			/* the last commit failed: writes are refused */
	uint64_t commits, rows, syncs, commit_errors, fire_rows_dropped;
	uint64_t coalesced_rows;	/* PUTs and DELs left out: their timer's FIRED was in the same commit */
	uint64_t snapshots, snapshot_rows;
	int64_t last_snapshot_ns;	/* duration of the last completed pass */
	uint64_t journal_rows, file_bytes;
	uint64_t loaded, load_snap_rows, load_journal_rows, recovered_late, skipped_late;
	int64_t load_ns, recovered_late_max_ns;	/* the latest of them, at the restore */
	uint64_t commit_p50_ns, commit_p99_ns;
	uint64_t batch_rows_max;
	char last_error[JOURNAL_ERR_LEN];
};

/*
 * Opens state-dir/timers.db and restores its timers into the (not yet
 * started) engine; 0, or -1 with err naming the file and what to do.
 * Nothing to do under --memory-only.
 */
int journal_open(struct srv *s, char *err, size_t errlen);

/* Starts the journal thread (after the engine); 0 or -1 with err. */
int journal_start(struct srv *s, char *err, size_t errlen);

/* Commits what is left, stops the thread, closes the store. */
void journal_stop(struct srv *s);

/* True if a timer with these engine flags is journaled (not ephemeral, not a probe's). */
bool journal_keeps(uint32_t flags);

/* Restored timers whose deadline had passed (they fire late, marked recovered). */
uint64_t journal_late(const struct srv *s);

/* True if the timers are durable (not --memory-only). */
bool journal_enabled(const struct srv *s);

/* True if durable requests may be taken now (the last commit did not fail). */
bool journal_writable(const struct srv *s);

/*
 * Adds a change to loop l's batch (loop thread); r's pointers are copied.
 * Returns the batch sequence number a reply must wait for, 0 if out of
 * memory (the caller answers NO_MEMORY).
 */
uint64_t journal_put(struct loop *l, const struct store_rec *r);

/* Posts l's batch to the journal thread (end of a read; loop thread). */
void journal_flush(struct loop *l);

/* Frees l's unposted batch (the loop is being destroyed). */
void journal_loop_free(struct loop *l);

/* The newest batch of l that is committed (acquire). */
uint64_t journal_durable(struct loop *l);

/* Journals the removal of fired one-shot timer id (engine delivery threads). */
void journal_put_fire(struct srv *s, uint64_t id);

/*
 * Journals the removal of one-shot id (0: none) and n group rows (server/
 * group.h) in one batch, so in one transaction (any thread). Returns that
 * batch's seq: once journal_fires_durable() >= seq the rows are committed;
 * 0 if they were dropped (out of memory, or past the bound while commits fail).
 */
uint64_t journal_put_fire_rows(struct srv *s, uint64_t id, const struct store_rec *rows, size_t n);

/* The newest fire batch committed (acquire); UINT64_MAX under --memory-only. */
uint64_t journal_fires_durable(struct srv *s);

/* Fills a snapshot of the counters. */
void journal_stats(struct srv *s, struct journal_stats *st);

/* A record describing engine timer t (for a put). */
void journal_rec_of(struct srv *s, const struct engine_timer *t, struct store_rec *r);

/* "always", "never" or the interval; buf holds what is returned. */
const char *journal_fsync_name(enum journal_fsync f, int64_t interval_ns, char *buf, size_t len);

/* timerd --check-store: opens the store read-only-ish, checks it, prints a report; exit code. */
int journal_check_store(const char *state_dir, FILE *out);

#endif /* TIMERD_JOURNAL_H */
