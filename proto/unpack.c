/*
 * unpack.c -- canonical Arm and Ack requests decoded by hand (see unpack.h).
 */
#include "config.h"

#include <stdbool.h>
#include <string.h>

#include "proto/unpack.h"


/* The most bytes protobuf-c takes for a field's key or a length prefix: longer, it refuses the frame. */
#define UNPACK_MAX_PREFIX 5
/* Wire types. */
enum { UNPACK_VARINT = 0, UNPACK_LEN = 2 };

/* Request's fields read here. */
enum { UNPACK_REQ_ID = 1, UNPACK_REQ_ARM = 11, UNPACK_REQ_ACK = 45 };

/* Bytes left to read. */
struct unpack_rd {
	const uint8_t *p, *end;
};

/* Reads a varint of at most 10 bytes into *v, as protobuf-c does; false if none or past 64 bits. */
static bool unpack_varint(struct unpack_rd *r, uint64_t *v)
{
	uint64_t x = 0;

	for (unsigned i = 0; i < 10 && r->p < r->end; i++) {
		uint8_t b = *r->p++;

		x |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			if (i == 9 && b > 1)
				return false;	/* past 64 bits: leave it to protobuf-c */
			*v = x;
			return true;
		}
	}
	return false;
}

/*
 * Reads the next field's key: its number (above *last: increasing order,
 * so each field once) and wire type; false at the end or on a bad key.
 */
static bool unpack_key(struct unpack_rd *r, uint32_t *last, uint32_t *field, unsigned *wt)
{
	const uint8_t *at = r->p;
	uint64_t k;

	/* protobuf-c refuses a key of more than 5 bytes (parse_tag_and_wiretype): so does this */
	if (r->p >= r->end || !unpack_varint(r, &k) || r->p - at > UNPACK_MAX_PREFIX ||
	    (k >> 3) <= *last || (k >> 3) > UINT32_MAX)
		return false;
	*field = *last = (uint32_t)(k >> 3);
	*wt = (unsigned)(k & 7);
	return true;
}

/* Reads a length-delimited field's bytes (a sub-reader over them); false if they pass the end. */
static bool unpack_len(struct unpack_rd *r, struct unpack_rd *sub)
{
	const uint8_t *at = r->p;
	uint64_t len;

	/* and a length prefix of more than 5 bytes (scan_length_prefixed_data) */
	if (!unpack_varint(r, &len) || r->p - at > UNPACK_MAX_PREFIX || len > (uint64_t)(r->end - r->p))
		return false;
	sub->p = r->p;
	sub->end = r->p + len;
	r->p = sub->end;
	return true;
}

/* A NUL-terminated copy of sub's bytes in a (protobuf-c's string), or NULL. */
static char *unpack_str(struct arena *a, const struct unpack_rd *sub)
{
	size_t n = (size_t)(sub->end - sub->p);
	char *s = arena_alloc(a, n + 1);

	if (s) {
		memcpy(s, sub->p, n);
		s[n] = '\0';
	}
	return s;
}

/* Decodes an Ack body (delivery_id = 1); false if not canonical. */
static bool unpack_ack(struct unpack_rd *r, Timerd__Ack *m)
{
	uint32_t last = 0, f;
	unsigned wt;
	uint64_t v;

	timerd__ack__init(m);
	while (r->p < r->end) {
		if (!unpack_key(r, &last, &f, &wt) || f != 1 || wt != UNPACK_VARINT || !unpack_varint(r, &v))
			return false;
		m->delivery_id = v;
	}
	return true;
}

/* Decodes Arm's varint field f (v); false if f is not one. */
static bool unpack_arm_varint(Timerd__Arm *m, uint32_t f, uint64_t v)
{
	switch (f) {
	case 1: case 2: case 3:	/* the `when` oneof: one member at most (increasing order) */
		if (m->when_case != TIMERD__ARM__WHEN__NOT_SET)
			return false;
		m->when_case = (Timerd__Arm__WhenCase)f;
		if (f == 1)
			m->after_ns = (int64_t)v;
		else if (f == 2)
			m->at_mono_ns = (int64_t)v;
		else
			m->at_unix_ns = (int64_t)v;
		return true;
	case 4: m->period_ns = (int64_t)v; return true;
	case 6: m->timer_id = v; return true;
	case 9: m->notify = v != 0; return true;	/* protobuf-c: any bit set is true */
	case 10: m->ephemeral = v != 0; return true;
	case 11:
		if (v > INT32_MAX)
			return false;	/* protobuf-c truncates to int32: leave that to it */
		m->misfire = (Timerd__Misfire)v;
		return true;
	default:
		return false;
	}
}

/* Decodes Arm's length-delimited field f (sub's bytes, copied into a); false if f is not one. */
static bool unpack_arm_len(Timerd__Arm *m, uint32_t f, const struct unpack_rd *sub, struct arena *a)
{
	char **str;

	switch (f) {
	case 5: str = &m->key; break;
	case 7: str = &m->topic; break;
	case 12: str = &m->calendar; break;
	case 8:
		if (sub->p == sub->end || !(m->payload.data = arena_alloc(a, (size_t)(sub->end - sub->p))))
			return false;	/* empty bytes: protobuf-c's own way */
		m->payload.len = (size_t)(sub->end - sub->p);
		memcpy(m->payload.data, sub->p, m->payload.len);
		return true;
	default:
		return false;
	}
	return (*str = unpack_str(a, sub)) != NULL;
}

/* Decodes an Arm body; false if not canonical. */
static bool unpack_arm(struct unpack_rd *r, Timerd__Arm *m, struct arena *a)
{
	uint32_t last = 0, f;
	unsigned wt;

	timerd__arm__init(m);
	while (r->p < r->end) {
		struct unpack_rd sub;
		uint64_t v;

		if (!unpack_key(r, &last, &f, &wt))
			return false;
		if (wt == UNPACK_VARINT) {
			if (!unpack_varint(r, &v) || !unpack_arm_varint(m, f, v))
				return false;
		} else if (wt != UNPACK_LEN || !unpack_len(r, &sub) || !unpack_arm_len(m, f, &sub, a)) {
			return false;
		}
	}
	return true;
}

const Timerd__Request *unpack_request(const uint8_t *p, size_t n, struct arena *a, struct unpack_buf *b)
{
	struct unpack_rd r = { p, p + n }, sub;
	uint32_t last = 0, f;
	unsigned wt;
	uint64_t v;

	timerd__request__init(&b->rq);
	if (!unpack_key(&r, &last, &f, &wt))
		return NULL;
	if (f == UNPACK_REQ_ID) {
		if (wt != UNPACK_VARINT || !unpack_varint(&r, &v) || !unpack_key(&r, &last, &f, &wt))
			return NULL;
		b->rq.id = v;
	}
	if (wt != UNPACK_LEN || !unpack_len(&r, &sub) || r.p != r.end)
		return NULL;	/* the body ends the frame */
	if (f == UNPACK_REQ_ACK && unpack_ack(&sub, &b->u.ack)) {
		b->rq.body_case = TIMERD__REQUEST__BODY_ACK;
		b->rq.ack = &b->u.ack;
		return &b->rq;
	}
	if (f == UNPACK_REQ_ARM && unpack_arm(&sub, &b->u.arm, a)) {
		b->rq.body_case = TIMERD__REQUEST__BODY_ARM;
		b->rq.arm = &b->u.arm;
		return &b->rq;
	}
	return NULL;
}
