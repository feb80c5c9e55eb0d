/*
 * unpack.c -- the canonical Ack request decoded by hand (see unpack.h).
 */
#include "config.h"

#include "proto/unpack.h"

/* Request.ack's key: field 45, wire type 2 (length-delimited), as a 2-byte varint. */
#define UNPACK_ACK_KEY0 0xea
#define UNPACK_ACK_KEY1 0x02
/* The key of field 1 with wire type 0 (Request.id, Ack.delivery_id). */
#define UNPACK_F1_VARINT 0x08

/* Reads a varint of at most 10 bytes at *p (before end) into *v, as protobuf-c does; false if none. */
static bool unpack_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	uint64_t r = 0;

	for (unsigned i = 0; i < 10 && *p < end; i++) {
		uint8_t b = *(*p)++;

		r |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			if (i == 9 && b > 1)
				return false;	/* past 64 bits: leave it to protobuf-c */
			*v = r;
			return true;
		}
	}
	return false;
}

bool unpack_ack_request(const uint8_t *p, size_t n, Timerd__Request *rq, Timerd__Ack *ack)
{
	const uint8_t *end = p + n;
	uint64_t id = 0, len, did = 0;

	if (n && *p == UNPACK_F1_VARINT) {
		p++;
		if (!unpack_varint(&p, end, &id))
			return false;
	}
	if (end - p < 2 || p[0] != UNPACK_ACK_KEY0 || p[1] != UNPACK_ACK_KEY1)
		return false;
	p += 2;
	if (!unpack_varint(&p, end, &len) || len != (uint64_t)(end - p))
		return false;	/* the body must end the frame */
	if (len) {
		if (*p != UNPACK_F1_VARINT)
			return false;
		p++;
		if (!unpack_varint(&p, end, &did) || p != end)
			return false;
	}
	timerd__request__init(rq);
	timerd__ack__init(ack);
	ack->delivery_id = did;
	rq->id = id;
	rq->body_case = TIMERD__REQUEST__BODY_ACK;
	rq->ack = ack;
	return true;
}
