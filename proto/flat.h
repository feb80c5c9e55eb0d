/*
 * flat.h -- flattens a message of sub-messages of counters (StatsReply)
 * into (group, field, value) triples through protobuf-c's descriptors, so
 * a field added to timerd.proto appears in timerctl and as a stats.db
 * column with no other change.
 *
 * Usage:
 *
 *	flat_walk(&reply->base, &timerd__stats_reply__descriptor, print, NULL);
 *	    print(arg, "engine", "fires", 1234) ...
 *	flat_walk(NULL, &timerd__stats_reply__descriptor, add_column, db);
 *	    every field, value 0: the schema
 */
#ifndef TIMERD_FLAT_H
#define TIMERD_FLAT_H

#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

typedef void (*flat_fn)(void *arg, const char *group, const char *field, int64_t value);

/*
 * Calls fn for each integer or bool field of each non-repeated sub-message
 * of m (m NULL, or a sub-message unset: value 0), in descriptor order.
 */
void flat_walk(const ProtobufCMessage *m, const ProtobufCMessageDescriptor *d, flat_fn fn, void *arg);

#endif /* TIMERD_FLAT_H */
