/*
 * statsdb.h -- stats.db: one row per stats interval, written by the stats
 * thread only. WAL mode, prepared statements, one transaction per row,
 * rows older than the retention deleted in the same transaction.
 *
 * The columns are ts_ms, interval_ms and every integer field of
 * StatsReply's sub-messages as <group>_<field> (proto/flat.h); a field
 * added to timerd.proto becomes a column (ALTER TABLE) at the next start.
 * doc/stats.md has the schema and example queries.
 *
 * Usage (one thread):
 *
 *	struct statsdb *db;
 *	if (statsdb_open(path, retention_ns, &db, err, sizeof(err)) < 0)
 *		log err; retry later;
 *	statsdb_write(db, &reply, ts_ms, interval_ms, err, sizeof(err));
 *	statsdb_close(db);
 */
#ifndef TIMERD_STATSDB_H
#define TIMERD_STATSDB_H

#include <stddef.h>
#include <stdint.h>

#include "proto/timerd.pb-c.h"

struct statsdb;

/* Opens (creating) the database and its table; 0 or -1 with err. */
int statsdb_open(const char *path, int64_t retention_ns, struct statsdb **out, char *err, size_t errlen);

/* Writes one row and drops expired ones, in one transaction; 0 or -1 with err (nothing written). */
int statsdb_write(struct statsdb *db, const Timerd__StatsReply *r, int64_t ts_ms, int64_t interval_ms,
		  char *err, size_t errlen);

/* Finalizes the statements and closes the database. */
void statsdb_close(struct statsdb *db);

#endif /* TIMERD_STATSDB_H */
