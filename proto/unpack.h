/*
 * unpack.h -- the two hot requests, Arm (a producer's) and Ack (a
 * consumer's, one per delivery), decoded without protobuf-c when their
 * bytes are in the canonical form every protobuf packer writes: each field
 * once, in field-number order, wire types as declared. protobuf-c's generic
 * unpacker (a descriptor search over Request's 40-odd fields per field
 * read, the oneof and default handling, an allocation per message) was 22%
 * of the producer loop's samples and 8% of the consumer loop's in
 * bench-deliver (doc/benchmarks.md, "Deliveries: CPU outside the journal").
 *
 * Anything else, or anything this is unsure of (another request, an
 * unknown or repeated field, fields out of order, a second member of Arm's
 * `when` oneof, empty bytes, a varint past 64 bits, an enum past int32,
 * trailing bytes), returns NULL and the caller unpacks with protobuf-c: the
 * result is always what protobuf-c would have made of the same bytes
 * (tests/unit/test-proto.c checks it on canonical and mangled frames).
 *
 * Usage:
 *
 *	struct unpack_buf ub;
 *	const Timerd__Request *r = unpack_request(p, n, &arena, &ub);
 *	if (!r)
 *		r = timerd__request__unpack(arena_pbc(&arena), n, p);
 *
 * The request lives in ub (keep ub as long as r is used); its strings and
 * bytes are copies in the arena (NUL-terminated, as protobuf-c's), freed by
 * the arena's reset.
 */
#ifndef TIMERD_UNPACK_H
#define TIMERD_UNPACK_H

#include <stddef.h>
#include <stdint.h>

#include "proto/arena.h"
#include "proto/timerd.pb-c.h"

/* Room for a request decoded here. */
struct unpack_buf {
	Timerd__Request rq;
	union {
		Timerd__Arm arm;
		Timerd__Ack ack;
	} u;
};

/* The n bytes at p as a canonical Arm or Ack request in *b (copies in a); NULL: unpack with protobuf-c. */
const Timerd__Request *unpack_request(const uint8_t *p, size_t n, struct arena *a, struct unpack_buf *b);

#endif /* TIMERD_UNPACK_H */
