/*
 * pack.h -- packs a Response the way protobuf-c does, byte for byte, in
 * fewer passes: its own two fields (id, event) are written here and only
 * the one body message set goes through protobuf-c (once for its size,
 * once to pack it). protobuf-c's generic packer walks every field of
 * Response for the size, again to pack, and sizes the body a second time
 * for its length prefix; on the daemon's reply and delivery paths that
 * was most of the encoding time (issue 11's CPU per acked delivery).
 *
 * Usage:
 *
 *	struct pack_plan p;
 *	size_t n = pack_response_size(rs, &p);
 *	...make room for FRAME_HDR + n bytes...
 *	pack_response(rs, &p, buf + FRAME_HDR);   returns n
 *
 * A Fire body (every fire and delivery event) and an ArmReply body (one
 * per arm) are packed here field by field, without protobuf-c: its generic
 * packer walked their descriptors twice per message.
 *
 * The bytes equal timerd__response__pack's (tests/unit/test-proto.c
 * compares them, and checks that Response still has only id, event and
 * the oneof body of messages that this relies on); a Response this does
 * not expect (unknown fields) is packed by protobuf-c itself.
 */
#ifndef TIMERD_PACK_H
#define TIMERD_PACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/timerd.pb-c.h"

/* What pack_response_size found, for pack_response. */
struct pack_plan {
	const ProtobufCMessage *body;	/* the body set, NULL: none (or generic) */
	size_t body_len;		/* its packed size */
	size_t len;			/* the whole Response's */
	bool generic;			/* packed by protobuf-c as a whole */
	bool fire;			/* the body is a Fire packed by pack.c itself (no protobuf-c at all) */
	bool arm;			/* the body is an ArmReply packed by pack.c itself */
};

/* The packed size of rs (the same as timerd__response__get_packed_size). */
size_t pack_response_size(const Timerd__Response *rs, struct pack_plan *p);

/* Packs rs as planned into out (room for p->len bytes); returns p->len. */
size_t pack_response(const Timerd__Response *rs, const struct pack_plan *p, uint8_t *out);

#endif /* TIMERD_PACK_H */
