/*
 * unpack.h -- the Ack request decoded without protobuf-c, when its bytes
 * are the canonical encoding every protobuf packer writes for it:
 *
 *	[08 <id varint>] EA 02 <len> [08 <delivery_id varint>]
 *
 * (Request.id = 1, Request.ack = 45, Ack.delivery_id = 1; proto3 leaves a
 * zero out). That is a consumer's one request per delivery; protobuf-c's
 * generic unpacker (its descriptor search over Request's 40-odd fields, an
 * arena allocation per message) was 8% of the consumer loop's samples.
 * Anything else, or anything this is unsure of (another field, an unknown
 * one, a varint of more than 10 bytes, trailing bytes), returns false and
 * the caller unpacks with protobuf-c, so the result is always protobuf-c's
 * (tests/unit/test-proto.c checks it on canonical and mangled frames).
 *
 * Usage:
 *
 *	Timerd__Request rq; Timerd__Ack ack;
 *	const Timerd__Request *r = unpack_ack_request(p, n, &rq, &ack) ? &rq
 *	                           : timerd__request__unpack(alloc, n, p);
 *
 * rq and ack are filled (rq.ack points at ack); they live as long as the
 * caller keeps them, and need no free.
 */
#ifndef TIMERD_UNPACK_H
#define TIMERD_UNPACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/timerd.pb-c.h"

/* Decodes the n bytes at p into *rq and *ack if they are a canonical Ack request; false otherwise. */
bool unpack_ack_request(const uint8_t *p, size_t n, Timerd__Request *rq, Timerd__Ack *ack);

#endif /* TIMERD_UNPACK_H */
