/*
 * flat.c -- message-of-counters flattening (see flat.h).
 */
#include "config.h"

#include <stdbool.h>
#include <string.h>

#include "proto/flat.h"

/* Reads an integer-like field of m as int64; false if the type is not one. */
static bool flat_value(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, int64_t *v)
{
	const char *p = m ? (const char *)m + f->offset : NULL;

	switch (f->type) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64: {
		int64_t x = 0;

		if (p)
			memcpy(&x, p, sizeof(x));
		*v = x;
		return true;
	}
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_ENUM: {
		int32_t x = 0;

		if (p)
			memcpy(&x, p, sizeof(x));
		*v = x;
		return true;
	}
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32: {
		uint32_t x = 0;

		if (p)
			memcpy(&x, p, sizeof(x));
		*v = x;
		return true;
	}
	case PROTOBUF_C_TYPE_BOOL: {
		protobuf_c_boolean x = 0;

		if (p)
			memcpy(&x, p, sizeof(x));
		*v = x != 0;
		return true;
	}
	default:
		return false;
	}
}

/* Calls fn for each integer field of one sub-message. */
static void flat_group(const ProtobufCMessage *sub, const ProtobufCMessageDescriptor *d, const char *group,
		       flat_fn fn, void *arg)
{
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		int64_t v;

		if (f->label != PROTOBUF_C_LABEL_REPEATED && flat_value(sub, f, &v))
			fn(arg, group, f->name, v);
	}
}

/* Calls fn for each integer or bool field of each sub-message of m. */
void flat_walk(const ProtobufCMessage *m, const ProtobufCMessageDescriptor *d, flat_fn fn, void *arg)
{
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const ProtobufCMessage *sub = NULL;

		if (f->type != PROTOBUF_C_TYPE_MESSAGE || f->label == PROTOBUF_C_LABEL_REPEATED)
			continue;
		if (m)
			memcpy(&sub, (const char *)m + f->offset, sizeof(sub));
		flat_group(sub, f->descriptor, f->name, fn, arg);
	}
}
