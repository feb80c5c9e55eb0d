/*
 * pack.c -- Response packing in fewer passes (see pack.h).
 */
#include "config.h"

#include <string.h>

#include "proto/pack.h"

/* Bytes of v as a varint. */
static size_t pack_varint_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

/* Writes v as a varint at out; the bytes written. */
static size_t pack_varint(uint64_t v, uint8_t *out)
{
	size_t n = 0;

	while (v >= 0x80) {
		out[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	out[n++] = (uint8_t)v;
	return n;
}

/* The key of field number f with wire type t. */
static uint64_t pack_key(uint32_t f, unsigned t)
{
	return (uint64_t)f << 3 | t;
}

/* The body message rs holds (its oneof case's pointer), or NULL. */
static const ProtobufCMessage *pack_body(const Timerd__Response *rs)
{
	const ProtobufCFieldDescriptor *f;

	if (rs->body_case == TIMERD__RESPONSE__BODY__NOT_SET)
		return NULL;
	f = protobuf_c_message_descriptor_get_field(&timerd__response__descriptor, (unsigned)rs->body_case);
	if (!f || f->type != PROTOBUF_C_TYPE_MESSAGE)
		return NULL;
	return *(const ProtobufCMessage *const *)((const char *)rs + f->offset);
}

/* Bytes of field f (wire type 0) holding v; proto3: 0 is left out, as protobuf-c does. */
static size_t pack_u64_len(uint32_t f, uint64_t v)
{
	return v ? pack_varint_len(pack_key(f, 0)) + pack_varint_len(v) : 0;
}

/* Writes field f (wire type 0) holding v unless it is 0; the bytes written. */
static size_t pack_u64(uint32_t f, uint64_t v, uint8_t *out)
{
	size_t n;

	if (!v)
		return 0;
	n = pack_varint(pack_key(f, 0), out);
	return n + pack_varint(v, out + n);
}

/* Bytes of length-delimited field f of len bytes; left out when empty (proto3: "" and empty bytes). */
static size_t pack_lenf_len(uint32_t f, size_t len)
{
	return len ? pack_varint_len(pack_key(f, 2)) + pack_varint_len(len) + len : 0;
}

/* Writes length-delimited field f (len bytes of v) unless empty; the bytes written. */
static size_t pack_lenf(uint32_t f, const void *v, size_t len, uint8_t *out)
{
	size_t n;

	if (!len)
		return 0;
	n = pack_varint(pack_key(f, 2), out);
	n += pack_varint(len, out + n);
	memcpy(out + n, v, len);
	return n + len;
}

/* A string field's length (NULL: none, as protobuf-c treats it). */
static size_t pack_strlen(const char *s)
{
	return s ? strlen(s) : 0;
}

/* True if fire f is packed here: protobuf-c packs one with unknown fields or a probe origin (rare). */
static bool pack_fire_ours(const Timerd__Fire *f)
{
	return f && !f->base.n_unknown_fields && !f->origin;
}

/*
 * Packed size of fire f (pack_fire_ours), field by field in number order
 * as protobuf-c packs proto3: zeros, empty strings and bytes left out;
 * int64 as the varint of its two's complement (10 bytes when negative);
 * bool as 1. tests/unit/test-proto.c compares the bytes with protobuf-c's
 * and checks Fire's fields still are the ones written here.
 */
static size_t pack_fire_size(const Timerd__Fire *f)
{
	return pack_u64_len(1, f->timer_id) + pack_lenf_len(2, pack_strlen(f->key)) +
	       pack_lenf_len(3, pack_strlen(f->topic)) + pack_lenf_len(4, f->payload.len) +
	       pack_u64_len(5, (uint64_t)f->deadline_mono_ns) + pack_u64_len(6, (uint64_t)f->fired_mono_ns) +
	       pack_u64_len(7, (uint64_t)f->deadline_unix_ns) + pack_u64_len(8, (uint64_t)f->period_ns) +
	       pack_u64_len(9, f->seq) + pack_u64_len(10, f->missed) + pack_u64_len(11, f->final ? 1 : 0) +
	       pack_u64_len(13, f->recovered ? 1 : 0) + pack_u64_len(14, f->delivery_id) +
	       pack_u64_len(15, f->attempt) + pack_lenf_len(16, pack_strlen(f->group));
}

/* Packs fire f (pack_fire_ours) into out; the bytes written (pack_fire_size's). */
static size_t pack_fire(const Timerd__Fire *f, uint8_t *out)
{
	size_t n = 0;

	n += pack_u64(1, f->timer_id, out + n);
	n += pack_lenf(2, f->key, pack_strlen(f->key), out + n);
	n += pack_lenf(3, f->topic, pack_strlen(f->topic), out + n);
	n += pack_lenf(4, f->payload.data, f->payload.len, out + n);
	n += pack_u64(5, (uint64_t)f->deadline_mono_ns, out + n);
	n += pack_u64(6, (uint64_t)f->fired_mono_ns, out + n);
	n += pack_u64(7, (uint64_t)f->deadline_unix_ns, out + n);
	n += pack_u64(8, (uint64_t)f->period_ns, out + n);
	n += pack_u64(9, f->seq, out + n);
	n += pack_u64(10, f->missed, out + n);
	n += pack_u64(11, f->final ? 1 : 0, out + n);
	n += pack_u64(13, f->recovered ? 1 : 0, out + n);
	n += pack_u64(14, f->delivery_id, out + n);
	n += pack_u64(15, f->attempt, out + n);
	n += pack_lenf(16, f->group, pack_strlen(f->group), out + n);
	return n;
}

/* Packed size of ArmReply a (no unknown fields), as protobuf-c packs it (see pack_fire_size). */
static size_t pack_arm_reply_size(const Timerd__ArmReply *a)
{
	return pack_u64_len(1, a->timer_id) + pack_u64_len(2, (uint64_t)a->deadline_mono_ns) +
	       pack_u64_len(3, (uint64_t)a->deadline_unix_ns) + pack_u64_len(4, a->created ? 1 : 0) +
	       pack_u64_len(5, a->coalesced ? 1 : 0);
}

/* Packs ArmReply a into out; the bytes written (pack_arm_reply_size's). */
static size_t pack_arm_reply(const Timerd__ArmReply *a, uint8_t *out)
{
	size_t n = 0;

	n += pack_u64(1, a->timer_id, out + n);
	n += pack_u64(2, (uint64_t)a->deadline_mono_ns, out + n);
	n += pack_u64(3, (uint64_t)a->deadline_unix_ns, out + n);
	n += pack_u64(4, a->created ? 1 : 0, out + n);
	n += pack_u64(5, a->coalesced ? 1 : 0, out + n);
	return n;
}

size_t pack_response_size(const Timerd__Response *rs, struct pack_plan *p)
{
	memset(p, 0, sizeof(*p));
	if (!rs->base.n_unknown_fields && rs->body_case == TIMERD__RESPONSE__BODY_FIRE && pack_fire_ours(rs->fire)) {
		p->body = &rs->fire->base;	/* fires and deliveries: the hot events, packed here whole */
		p->fire = true;
	} else if (!rs->base.n_unknown_fields && rs->body_case == TIMERD__RESPONSE__BODY_ARM && rs->arm &&
		   !rs->arm->base.n_unknown_fields) {
		p->body = &rs->arm->base;	/* a producer's one reply per job */
		p->arm = true;
	}
	if (rs->base.n_unknown_fields ||
	    (rs->body_case != TIMERD__RESPONSE__BODY__NOT_SET && !p->body && !(p->body = pack_body(rs)))) {
		p->generic = true;
		p->body = NULL;
		p->fire = p->arm = false;
		return p->len = timerd__response__get_packed_size(rs);
	}
	/* fields in number order, as protobuf-c: id (1), event (2), the body (9 and up); proto3 defaults left out */
	if (rs->id)
		p->len += pack_varint_len(pack_key(1, 0)) + pack_varint_len(rs->id);
	if (rs->event)
		p->len += pack_varint_len(pack_key(2, 0)) + 1;
	if (p->body) {
		p->body_len = p->fire ? pack_fire_size(rs->fire)
			      : p->arm ? pack_arm_reply_size(rs->arm) : protobuf_c_message_get_packed_size(p->body);
		p->len += pack_varint_len(pack_key((uint32_t)rs->body_case, 2)) + pack_varint_len(p->body_len) +
			  p->body_len;
	}
	return p->len;
}

size_t pack_response(const Timerd__Response *rs, const struct pack_plan *p, uint8_t *out)
{
	size_t n = 0;

	if (p->generic)
		return timerd__response__pack(rs, out);
	if (rs->id) {
		n += pack_varint(pack_key(1, 0), out + n);
		n += pack_varint(rs->id, out + n);
	}
	if (rs->event) {
		n += pack_varint(pack_key(2, 0), out + n);
		out[n++] = 1;
	}
	if (p->body) {
		n += pack_varint(pack_key((uint32_t)rs->body_case, 2), out + n);
		n += pack_varint(p->body_len, out + n);
		n += p->fire ? pack_fire(rs->fire, out + n)
			     : p->arm ? pack_arm_reply(rs->arm, out + n) : protobuf_c_message_pack(p->body, out + n);
	}
	return n;
}
