/*
 * http-json.h -- JSON for the HTTP API (jansson): the request bodies it
 * takes, decoded into the same protobuf-c messages the RPC handlers take,
 * and any protobuf-c message encoded as JSON through its descriptor (the
 * JSON field names are the .proto field names, so a field added to
 * timerd.proto appears in the HTTP replies with no other change).
 *
 * Nothing here validates limits (key length, payload size, period): the
 * decoder only checks the JSON's shape and converts durations and times;
 * server/rpc.c validates the message for both front ends.
 *
 * Usage:
 *
 *	Timerd__Arm a;
 *	char err[256];
 *	if (httpj_arm_decode(body, n, &arena, &a, err, sizeof(err)) < 0)
 *		400 INVALID or MALFORMED (the return value), err says why
 *	json_t *j = httpj_from_msg(&reply->base);     NULL if out of memory
 */
#ifndef TIMERD_HTTP_JSON_H
#define TIMERD_HTTP_JSON_H

#include <stddef.h>
#include <stdint.h>

#include <event2/buffer.h>
#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

#include "proto/arena.h"
#include "proto/timerd.pb-c.h"

/*
 * Decodes a nack body ({"retry_after": "5s", "error": "why"}, both
 * optional; doc/http.md) into m (delivery_id is not touched), error text in
 * arena. 0, or -MALFORMED / -INVALID with err set; the range of
 * retry_after is rpc.c's to check.
 */
int httpj_nack_decode(const char *body, size_t n, struct arena *arena, Timerd__Nack *m, char *err, size_t errlen);

/*
 * Decodes a group body ({"topics": ["jobs"], "ack_timeout": "30s", ...};
 * doc/http.md) into g (timerd__group__init'ed by the caller; the name is
 * not read from the body), strings in arena. 0, or -MALFORMED / -INVALID
 * with err set; the settings' bounds are group_validate's (through rpc.c).
 */
int httpj_group_decode(const char *body, size_t n, struct arena *arena, Timerd__Group *g, char *err, size_t errlen);

/*
 * Installs jansson's allocator (json_set_alloc_funcs, once, before the
 * loops start): httpj_arm_decode's parse tree then lives in a per-thread
 * scratch buffer instead of malloc. Without it the decoder works the same
 * with malloc.
 */
void httpj_init(void);

/*
 * Decodes an arm body ({"in": "250ms", "topic": "jobs", ...}; doc/http.md)
 * into a, whose strings and payload live in arena. Returns 0, or
 * -TIMERD__ERROR_CODE__MALFORMED (not JSON, not an object) or
 * -TIMERD__ERROR_CODE__INVALID (a field unknown, of the wrong type, or not
 * a duration or time) with err set. The key is not read from the body.
 */
int httpj_arm_decode(const char *body, size_t n, struct arena *arena, Timerd__Arm *a, char *err, size_t errlen);

/*
 * m as a JSON object: scalars as numbers, enums by name, strings as
 * strings, bytes as text if they are UTF-8 without NUL ("payload") else
 * as base64 ("payload_base64"), sub-messages as objects, repeated fields as
 * arrays; unset oneof members are left out. NULL if out of memory.
 */
json_t *httpj_from_msg(const ProtobufCMessage *m);

/*
 * Appends m as compact JSON and a newline to out, the text jansson prints
 * for httpj_from_msg(m) (messages of integers and bools are written without
 * building the tree); 0, or -1 if out of memory.
 */
int httpj_print(const ProtobufCMessage *m, struct evbuffer *out);

/* Base64 (RFC 4648, padded) of n bytes as a new JSON string; NULL if out of memory. */
json_t *httpj_base64(const uint8_t *p, size_t n);

/* Decodes padded base64 text into arena; its length, or -1 if it is not base64 (or out of memory). */
ptrdiff_t httpj_unbase64(const char *s, size_t n, struct arena *arena, uint8_t **out);

#endif /* TIMERD_HTTP_JSON_H */
