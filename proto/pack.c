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

size_t pack_response_size(const Timerd__Response *rs, struct pack_plan *p)
{
	memset(p, 0, sizeof(*p));
	if (rs->base.n_unknown_fields ||
	    (rs->body_case != TIMERD__RESPONSE__BODY__NOT_SET && !(p->body = pack_body(rs)))) {
		p->generic = true;
		p->body = NULL;
		return p->len = timerd__response__get_packed_size(rs);
	}
	/* fields in number order, as protobuf-c: id (1), event (2), the body (9 and up); proto3 defaults left out */
	if (rs->id)
		p->len += pack_varint_len(pack_key(1, 0)) + pack_varint_len(rs->id);
	if (rs->event)
		p->len += pack_varint_len(pack_key(2, 0)) + 1;
	if (p->body) {
		p->body_len = protobuf_c_message_get_packed_size(p->body);
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
		n += protobuf_c_message_pack(p->body, out + n);
	}
	return n;
}
