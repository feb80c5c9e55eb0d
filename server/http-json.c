/*
 * http-json.c -- the HTTP API's JSON (see http-json.h): arm bodies in,
 * protobuf-c messages out, through jansson.
 */
#include "config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/units.h"
#include "server/http-json.h"

/* JSON nesting the decoder accepts (an arm body is one flat object). */
#define HTTPJ_MAX_DEPTH 8

/* Bytes of the decoder's per-thread scratch (a 3-field arm body's tree takes about 1 KB). */
#define HTTPJ_SCRATCH 8192

/*
 * The arm decoder's scratch: what jansson allocates during one
 * httpj_arm_decode (the parsed tree: about 13 mallocs for a 3-field body,
 * a third of the allocations of an HTTP arm) comes from this thread's
 * bump buffer instead of malloc, its frees (the json_decref that ends the
 * decode) cost nothing, and the decode resets the buffer. What does not
 * fit, and every jansson allocation outside a decode, goes to malloc.
 * Thread-local: each loop thread decodes its own requests.
 */
static __thread struct {
	bool on;
	size_t used;
	_Alignas(16) unsigned char buf[HTTPJ_SCRATCH];
} httpj_scratch;

/* jansson's malloc (json_set_alloc_funcs): the scratch during a decode, else malloc. */
static void *httpj_alloc(size_t n)
{
	size_t need = (n + 15) & ~(size_t)15;

	if (httpj_scratch.on && need >= n && need <= HTTPJ_SCRATCH - httpj_scratch.used) {
		void *p = httpj_scratch.buf + httpj_scratch.used;

		httpj_scratch.used += need;
		return p;
	}
	return malloc(n);
}

/* jansson's free: nothing for the scratch (the decode resets it), else free. */
static void httpj_free(void *p)
{
	uintptr_t a = (uintptr_t)p, b = (uintptr_t)httpj_scratch.buf;

	if (a >= b && a < b + HTTPJ_SCRATCH)
		return;	/* a scratch block is this thread's: no other thread holds a pointer into it */
	free(p);
}

void httpj_init(void)
{
	json_set_alloc_funcs(httpj_alloc, httpj_free);
}

static const char httpj_b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Sets err and returns -code. */
__attribute__((format(printf, 4, 5)))
static int httpj_fail(int code, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -code;
}

/* Copies a JSON string's bytes into the arena, NUL-terminated; NULL if out of memory. */
static char *httpj_strdup(struct arena *arena, const json_t *v)
{
	size_t n = json_string_length(v);
	char *d = arena_alloc(arena, n + 1);

	if (d) {
		memcpy(d, json_string_value(v), n);
		d[n] = '\0';
	}
	return d;
}

/* Reads the string field name of o into *out (NULL if absent); 0, or -INVALID if it is not a string. */
static int httpj_str(json_t *o, const char *name, const char **out, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, name);

	*out = NULL;
	if (!v)
		return 0;
	if (!json_is_string(v))
		return httpj_fail(TIMERD__ERROR_CODE__INVALID, err, errlen, "field '%s' must be a string", name);
	*out = json_string_value(v);
	return 0;
}

/* Parses a duration field (a string such as "250ms"); 0 if absent or parsed into *ns (*set true). */
static int httpj_duration(json_t *o, const char *name, int64_t *ns, bool *set, char *err, size_t errlen)
{
	const char *s;
	char why[256];
	int rc;

	*set = false;
	if ((rc = httpj_str(o, name, &s, err, errlen)) < 0 || !s)
		return rc;
	if (units_duration_parse(s, ns, why, sizeof(why)) < 0)
		return httpj_fail(TIMERD__ERROR_CODE__INVALID, err, errlen, "field '%s': %s", name, why);
	*set = true;
	return 0;
}

/*
 * Reads the calendar field into a (arena copy; left "" if absent). Only its
 * shape is checked here: the RPC parses it (cal_parse) and answers its
 * errors, as for timerctl arm --on-calendar.
 */
static int httpj_arm_calendar(json_t *o, struct arena *arena, Timerd__Arm *a, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, "calendar");

	if (!v)
		return 0;
	if (!json_is_string(v))
		return httpj_fail(TIMERD__ERROR_CODE__INVALID, err, errlen,
				  "field 'calendar' must be a string such as \"Mon..Fri 09:00\" or \"*:0/15\"");
	if (!json_string_length(v))
		return httpj_fail(TIMERD__ERROR_CODE__INVALID, err, errlen, "field 'calendar' is empty: give a schedule "
				  "such as \"Mon..Fri 09:00\", or leave the field out");
	if (!(a->calendar = httpj_strdup(arena, v)))
		return httpj_fail(TIMERD__ERROR_CODE__NO_MEMORY, err, errlen, "out of memory");
	if (strlen(a->calendar) != json_string_length(v))
		return httpj_fail(TIMERD__ERROR_CODE__INVALID, err, errlen, "field 'calendar' holds a NUL character");
	return 0;
}

/* Reads the time fields (in, at, every; or calendar) into a. */
static int httpj_arm_when(json_t *o, struct arena *arena, Timerd__Arm *a, char *err, size_t errlen)
{
	int64_t in = 0, every = 0, at = 0;
	bool has_in, has_every, cal;
	const char *ats;
	char why[256];
	int rc;

	if ((rc = httpj_duration(o, "in", &in, &has_in, err, errlen)) < 0 ||
	    (rc = httpj_duration(o, "every", &every, &has_every, err, errlen)) < 0 ||
	    (rc = httpj_str(o, "at", &ats, err, errlen)) < 0 || (rc = httpj_arm_calendar(o, arena, a, err, errlen)) < 0)
		return rc;
	cal = a->calendar && *a->calendar;	/* proto3: "" when absent */
	if (cal && (ats || has_in || has_every))
		return httpj_fail(TIMERD__ERROR_CODE__INVALID, err, errlen, "a calendar timer fires and repeats by its "
				  "schedule: give 'calendar' or 'in', 'at' and 'every', not both");
	if (cal)
		return 0;	/* no when, period 0: the RPC places it at the schedule's next elapse */
	if (ats && units_time_parse(ats, &at, why, sizeof(why)) < 0)
		return httpj_fail(TIMERD__ERROR_CODE__INVALID, err, errlen, "field 'at': %s", why);
	if (ats && has_in)
		return httpj_fail(TIMERD__ERROR_CODE__INVALID, err, errlen, "give 'in' or 'at', not both");
	if (!ats && !has_in && !has_every)
		return httpj_fail(TIMERD__ERROR_CODE__INVALID, err, errlen,
				  "give a time: \"in\": \"250ms\", \"at\": \"2030-01-02T09:00:00Z\", \"every\": \"5s\" "
				  "or \"calendar\": \"Mon..Fri 09:00\"");
	a->period_ns = every;
	if (ats) {
		a->when_case = TIMERD__ARM__WHEN_AT_UNIX_NS;
		a->at_unix_ns = at;
	} else {
		a->when_case = TIMERD__ARM__WHEN_AFTER_NS;
		a->after_ns = has_in ? in : every;	/* periodic without "in": the first fire one period on */
	}
	return 0;
}

/* Reads the payload (text or payload_base64) into a. */
static int httpj_arm_payload(json_t *o, struct arena *arena, Timerd__Arm *a, char *err, size_t errlen)
{
	json_t *text = json_object_get(o, "payload"), *b64 = json_object_get(o, "payload_base64");
	ptrdiff_t n;

	if (text && b64)
		return httpj_fail(TIMERD__ERROR_CODE__INVALID, err, errlen, "give 'payload' or 'payload_base64', not both");
	if (text) {
		if (!json_is_string(text))
			return httpj_fail(TIMERD__ERROR_CODE__INVALID, err, errlen,
					  "field 'payload' must be a string (binary: use payload_base64)");
		if (!(a->payload.data = (uint8_t *)httpj_strdup(arena, text)))
			return httpj_fail(TIMERD__ERROR_CODE__NO_MEMORY, err, errlen, "out of memory");
		a->payload.len = json_string_length(text);
	} else if (b64) {
		if (!json_is_string(b64))
			return httpj_fail(TIMERD__ERROR_CODE__INVALID, err, errlen, "field 'payload_base64' must be a string");
		n = httpj_unbase64(json_string_value(b64), json_string_length(b64), arena, &a->payload.data);
		if (n < 0)
			return httpj_fail(TIMERD__ERROR_CODE__INVALID, err, errlen,
					  "field 'payload_base64' is not base64 (RFC 4648, with padding)");
		a->payload.len = (size_t)n;
	}
	return 0;
}

/* Reads misfire ("fire" or "skip") and ephemeral into a. */
static int httpj_arm_flags(json_t *o, Timerd__Arm *a, char *err, size_t errlen)
{
	json_t *eph = json_object_get(o, "ephemeral");
	const char *mis;
	int rc;

	if ((rc = httpj_str(o, "misfire", &mis, err, errlen)) < 0)
		return rc;
	if (mis && (!strcmp(mis, "fire") || !strcmp(mis, "MISFIRE_FIRE")))
		a->misfire = TIMERD__MISFIRE__MISFIRE_FIRE;
	else if (mis && (!strcmp(mis, "skip") || !strcmp(mis, "MISFIRE_SKIP")))
		a->misfire = TIMERD__MISFIRE__MISFIRE_SKIP;
	else if (mis)
		return httpj_fail(TIMERD__ERROR_CODE__INVALID, err, errlen, "field 'misfire' must be \"fire\" or \"skip\"");
	if (eph && !json_is_boolean(eph))
		return httpj_fail(TIMERD__ERROR_CODE__INVALID, err, errlen, "field 'ephemeral' must be true or false");
	a->ephemeral = eph && json_is_true(eph);
	return 0;
}

/* Refuses a field the arm body does not have. */
static int httpj_arm_known(json_t *o, char *err, size_t errlen)
{
	static const char *const known[] = { "in", "at", "every", "topic", "payload", "payload_base64", "misfire",
					     "ephemeral", "calendar" };
	const char *name;
	json_t *v;

	json_object_foreach(o, name, v) {
		size_t i = 0;

		while (i < sizeof(known) / sizeof(known[0]) && strcmp(name, known[i]))
			i++;
		if (i == sizeof(known) / sizeof(known[0]))
			return httpj_fail(TIMERD__ERROR_CODE__INVALID, err, errlen, "unknown field '%.64s': an arm takes "
					  "in, at, every, calendar, topic, payload, payload_base64, misfire and ephemeral", name);
	}
	return 0;
}

/* Decodes the object o into a. */
static int httpj_arm_object(json_t *o, struct arena *arena, Timerd__Arm *a, char *err, size_t errlen)
{
	json_t *topic;
	int rc;

	if (!json_is_object(o))
		return httpj_fail(TIMERD__ERROR_CODE__MALFORMED, err, errlen,
				  "the body must be a JSON object such as {\"in\": \"250ms\", \"topic\": \"jobs\"}");
	if ((rc = httpj_arm_known(o, err, errlen)) < 0 || (rc = httpj_arm_when(o, arena, a, err, errlen)) < 0 ||
	    (rc = httpj_arm_payload(o, arena, a, err, errlen)) < 0 || (rc = httpj_arm_flags(o, a, err, errlen)) < 0)
		return rc;
	if ((topic = json_object_get(o, "topic")) != NULL) {
		if (!json_is_string(topic))
			return httpj_fail(TIMERD__ERROR_CODE__INVALID, err, errlen, "field 'topic' must be a string");
		if (!(a->topic = httpj_strdup(arena, topic)))
			return httpj_fail(TIMERD__ERROR_CODE__NO_MEMORY, err, errlen, "out of memory");
		if (strlen(a->topic) != json_string_length(topic))
			return httpj_fail(TIMERD__ERROR_CODE__INVALID, err, errlen, "field 'topic' holds a NUL character");
	}
	return 0;
}

/* Decodes an arm body into a. */
int httpj_arm_decode(const char *body, size_t n, struct arena *arena, Timerd__Arm *a, char *err, size_t errlen)
{
	json_error_t je;
	json_t *o;
	int rc;

	timerd__arm__init(a);
	httpj_scratch.on = true;
	httpj_scratch.used = 0;
	if (!(o = json_loadb(body, n, JSON_REJECT_DUPLICATES, &je))) {
		httpj_scratch.on = false;	/* json_loadb freed what it had built */
		return httpj_fail(TIMERD__ERROR_CODE__MALFORMED, err, errlen, "the body is not JSON: %s (line %d, column %d)",
				  je.text, je.line, je.column);
	}
	rc = httpj_arm_object(o, arena, a, err, errlen);	/* copies what it keeps into the arena */
	json_decref(o);
	httpj_scratch.on = false;	/* the tree is freed: the next decode starts the scratch over */
	return rc;
}

int httpj_nack_decode(const char *body, size_t n, struct arena *arena, Timerd__Nack *m, char *err, size_t errlen)
{
	json_error_t je;
	const char *name;
	json_t *o, *v;
	char why[256];
	int rc = 0;

	if (!(o = json_loadb(body, n, JSON_REJECT_DUPLICATES, &je)))
		return httpj_fail(TIMERD__ERROR_CODE__MALFORMED, err, errlen, "the body is not JSON: %s (line %d, column %d)",
				  je.text, je.line, je.column);
	if (!json_is_object(o))
		rc = httpj_fail(TIMERD__ERROR_CODE__MALFORMED, err, errlen, "the body must be a JSON object such as "
				"{\"retry_after\": \"5s\", \"error\": \"why\"}");
	json_object_foreach(o, name, v) {
		if (rc)
			break;
		if (!strcmp(name, "retry_after")) {
			if (!json_is_string(v) || units_duration_parse(json_string_value(v), &m->retry_after_ns, why,
								       sizeof(why)) < 0)
				rc = httpj_fail(TIMERD__ERROR_CODE__INVALID, err, errlen, "field 'retry_after' must be a "
						"duration such as \"5s\" (omit it for the group's backoff)");
		} else if (!strcmp(name, "error")) {
			if (!json_is_string(v))
				rc = httpj_fail(TIMERD__ERROR_CODE__INVALID, err, errlen, "field 'error' must be a string");
			else if (!(m->error = httpj_strdup(arena, v)))
				rc = httpj_fail(TIMERD__ERROR_CODE__NO_MEMORY, err, errlen, "out of memory");
			else if (strlen(m->error) != json_string_length(v))
				rc = httpj_fail(TIMERD__ERROR_CODE__INVALID, err, errlen, "field 'error' holds a NUL character");
		} else {
			rc = httpj_fail(TIMERD__ERROR_CODE__INVALID, err, errlen, "unknown field '%.64s': a nack takes "
					"retry_after and error", name);
		}
	}
	json_decref(o);
	return rc;
}

/* A group body's duration field into *ns; 0 or -INVALID. */
static int httpj_group_dur(json_t *v, const char *name, int64_t *ns, char *err, size_t errlen)
{
	char why[256];

	if (!json_is_string(v) || units_duration_parse(json_string_value(v), ns, why, sizeof(why)) < 0)
		return httpj_fail(TIMERD__ERROR_CODE__INVALID, err, errlen, "field '%s' must be a duration such as \"30s\"",
				  name);
	return 0;
}

/* A group body's count field into *u (0..max); 0 or -INVALID. */
static int httpj_group_uint(json_t *v, const char *name, uint64_t max, uint64_t *u, char *err, size_t errlen)
{
	if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) > max)
		return httpj_fail(TIMERD__ERROR_CODE__INVALID, err, errlen, "field '%s' must be a whole number from 0 "
				  "to %" PRIu64, name, max);
	*u = (uint64_t)json_integer_value(v);
	return 0;
}

/* A group body's string into *out (in the arena); 0, -INVALID or -NO_MEMORY. */
static int httpj_group_str(json_t *v, const char *name, struct arena *arena, char **out, char *err, size_t errlen)
{
	if (!json_is_string(v))
		return httpj_fail(TIMERD__ERROR_CODE__INVALID, err, errlen, "field '%s' must be a string", name);
	if (!(*out = httpj_strdup(arena, v)))
		return httpj_fail(TIMERD__ERROR_CODE__NO_MEMORY, err, errlen, "out of memory");
	if (strlen(*out) != json_string_length(v))
		return httpj_fail(TIMERD__ERROR_CODE__INVALID, err, errlen, "field '%s' holds a NUL character", name);
	return 0;
}

/* The topics array of a group body into g; 0 or -code. */
static int httpj_group_topics(json_t *v, struct arena *arena, Timerd__Group *g, char *err, size_t errlen)
{
	size_t n = json_is_array(v) ? json_array_size(v) : 0;
	int rc;

	if (!json_is_array(v))
		return httpj_fail(TIMERD__ERROR_CODE__INVALID, err, errlen, "field 'topics' must be an array of strings "
				  "such as [\"jobs\"]");
	if (n > 1024)	/* group_validate has the real bound; this one only caps the copy */
		return httpj_fail(TIMERD__ERROR_CODE__INVALID, err, errlen, "field 'topics' has %zu topics", n);
	if (n && !(g->topics = arena_alloc(arena, n * sizeof(*g->topics))))
		return httpj_fail(TIMERD__ERROR_CODE__NO_MEMORY, err, errlen, "out of memory");
	for (size_t i = 0; i < n; i++)
		if ((rc = httpj_group_str(json_array_get(v, i), "topics", arena, &g->topics[i], err, errlen)) < 0)
			return rc;
	g->n_topics = n;
	return 0;
}

/* One field of a group body into g; 0 or -code. */
static int httpj_group_field(const char *name, json_t *v, struct arena *arena, Timerd__Group *g, char *err,
			     size_t errlen)
{
	uint64_t u = 0;
	int rc = 0;

	if (!strcmp(name, "topics"))
		return httpj_group_topics(v, arena, g, err, errlen);
	if (!strcmp(name, "ack_timeout"))
		return httpj_group_dur(v, name, &g->ack_timeout_ns, err, errlen);
	if (!strcmp(name, "backoff_min"))
		return httpj_group_dur(v, name, &g->backoff_min_ns, err, errlen);
	if (!strcmp(name, "backoff_max"))
		return httpj_group_dur(v, name, &g->backoff_max_ns, err, errlen);
	if (!strcmp(name, "webhook_timeout"))
		return httpj_group_dur(v, name, &g->webhook_timeout_ns, err, errlen);
	if (!strcmp(name, "webhook_url"))
		return httpj_group_str(v, name, arena, &g->webhook_url, err, errlen);
	if (!strcmp(name, "unordered") || !strcmp(name, "webhook_insecure")) {
		if (!json_is_boolean(v))
			return httpj_fail(TIMERD__ERROR_CODE__INVALID, err, errlen, "field '%s' must be true or false", name);
		*(name[0] == 'u' ? &g->unordered : &g->webhook_insecure) = json_is_true(v);
		return 0;
	}
	if (!strcmp(name, "max_attempts") || !strcmp(name, "webhook_concurrency")) {
		if ((rc = httpj_group_uint(v, name, UINT32_MAX, &u, err, errlen)) == 0)
			*(name[0] == 'm' ? &g->max_attempts : &g->webhook_concurrency) = (uint32_t)u;
		return rc;
	}
	if (!strcmp(name, "max_backlog"))
		return httpj_group_uint(v, name, INT64_MAX, &g->max_backlog, err, errlen);
	return httpj_fail(TIMERD__ERROR_CODE__INVALID, err, errlen, "unknown field '%.64s': a group takes topics, "
			  "ack_timeout, max_attempts, backoff_min, backoff_max, max_backlog, unordered, webhook_url, "
			  "webhook_concurrency, webhook_timeout and webhook_insecure", name);
}

int httpj_group_decode(const char *body, size_t n, struct arena *arena, Timerd__Group *g, char *err, size_t errlen)
{
	json_error_t je;
	const char *name;
	json_t *o, *v;
	int rc = 0;

	if (!(o = json_loadb(body, n, JSON_REJECT_DUPLICATES, &je)))
		return httpj_fail(TIMERD__ERROR_CODE__MALFORMED, err, errlen, "the body is not JSON: %s (line %d, column %d)",
				  je.text, je.line, je.column);
	if (!json_is_object(o))
		rc = httpj_fail(TIMERD__ERROR_CODE__MALFORMED, err, errlen, "the body must be a JSON object such as "
				"{\"topics\": [\"jobs\"], \"ack_timeout\": \"30s\"}");
	json_object_foreach(o, name, v) {
		if (rc || (rc = httpj_group_field(name, v, arena, g, err, errlen)) < 0)
			break;
	}
	json_decref(o);
	return rc;
}

/* A field's value as JSON (one element if repeated: p points at it). */
static json_t *httpj_value(const ProtobufCFieldDescriptor *f, const void *p)
{
	const ProtobufCEnumValue *ev;
	const ProtobufCBinaryData *b;

	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
		return json_integer(*(const int32_t *)p);
	case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
		return json_integer(*(const uint32_t *)p);
	case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
		return json_integer(*(const int64_t *)p);
	case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
		return json_integer((json_int_t)*(const uint64_t *)p);	/* counters and ids stay below 2^63 */
	case PROTOBUF_C_TYPE_FLOAT:
		return json_real(*(const float *)p);
	case PROTOBUF_C_TYPE_DOUBLE:
		return json_real(*(const double *)p);
	case PROTOBUF_C_TYPE_BOOL:
		return json_boolean(*(const protobuf_c_boolean *)p);
	case PROTOBUF_C_TYPE_ENUM:
		ev = protobuf_c_enum_descriptor_get_value(f->descriptor, *(const int *)p);
		return ev ? json_string(ev->name) : json_integer(*(const int *)p);
	case PROTOBUF_C_TYPE_STRING:
		return json_string(*(char *const *)p ? *(char *const *)p : "");
	case PROTOBUF_C_TYPE_BYTES:
		b = p;
		if (b->len && memchr(b->data, 0, b->len))
			return NULL;	/* binary: base64 */
		return json_stringn(b->len ? (const char *)b->data : "", b->len);	/* NULL if not UTF-8 */
	case PROTOBUF_C_TYPE_MESSAGE:
		return *(ProtobufCMessage *const *)p ? httpj_from_msg(*(ProtobufCMessage *const *)p) : json_null();
	}
	return json_null();
}

/* Sets field f of m on o. */
static int httpj_field(json_t *o, const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	const char *base = (const char *)m;
	const void *p = base + f->offset;
	char name[128];
	json_t *v;

	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF && *(const uint32_t *)(base + f->quantifier_offset) != f->id)
		return 0;	/* another member of the oneof is set */
	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		size_t n = *(const size_t *)(base + f->quantifier_offset), sz = f->type == PROTOBUF_C_TYPE_MESSAGE ?
			sizeof(void *) : f->type == PROTOBUF_C_TYPE_STRING ? sizeof(char *) : f->type == PROTOBUF_C_TYPE_BYTES ?
			sizeof(ProtobufCBinaryData) : f->type == PROTOBUF_C_TYPE_INT64 || f->type == PROTOBUF_C_TYPE_UINT64 ||
			f->type == PROTOBUF_C_TYPE_SINT64 || f->type == PROTOBUF_C_TYPE_FIXED64 ||
			f->type == PROTOBUF_C_TYPE_SFIXED64 || f->type == PROTOBUF_C_TYPE_DOUBLE ? 8 :
			f->type == PROTOBUF_C_TYPE_BOOL ? sizeof(protobuf_c_boolean) : 4;
		const char *arr = *(const char *const *)p;

		if (!(v = json_array()))
			return -1;
		for (size_t i = 0; i < n; i++)
			if (json_array_append_new(v, httpj_value(f, arr + i * sz)) < 0) {
				json_decref(v);
				return -1;
			}
		return json_object_set_new(o, f->name, v);
	}
	if (f->type == PROTOBUF_C_TYPE_MESSAGE && !*(ProtobufCMessage *const *)p)
		return 0;	/* unset sub-message: left out */
	if ((v = httpj_value(f, p)) != NULL)
		return json_object_set_new(o, f->name, v);
	if (f->type != PROTOBUF_C_TYPE_BYTES)
		return -1;
	snprintf(name, sizeof(name), "%s_base64", f->name);	/* bytes that are not UTF-8 text */
	v = httpj_base64(((const ProtobufCBinaryData *)p)->data, ((const ProtobufCBinaryData *)p)->len);
	return v ? json_object_set_new(o, name, v) : -1;
}

/* m as a JSON object. */
json_t *httpj_from_msg(const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	json_t *o = json_object();

	for (unsigned i = 0; o && i < d->n_fields; i++)
		if (httpj_field(o, m, &d->fields[i]) < 0) {
			json_decref(o);
			return NULL;
		}
	return o;
}

/* Base64 of p[0..n) as a JSON string. */
json_t *httpj_base64(const uint8_t *p, size_t n)
{
	size_t len = (n + 2) / 3 * 4, k = 0;
	char *s = malloc(len + 1);
	json_t *v;

	if (!s)
		return NULL;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t w = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);

		s[k++] = httpj_b64[w >> 18 & 63];
		s[k++] = httpj_b64[w >> 12 & 63];
		s[k++] = i + 1 < n ? httpj_b64[w >> 6 & 63] : '=';
		s[k++] = i + 2 < n ? httpj_b64[w & 63] : '=';
	}
	s[k] = '\0';
	v = json_stringn(s, k);
	free(s);
	return v;
}

/* The value of a base64 digit, or -1. */
static int httpj_b64_digit(char c)
{
	const char *q = c ? strchr(httpj_b64, c) : NULL;

	return q ? (int)(q - httpj_b64) : -1;
}

/* Decodes padded base64. */
ptrdiff_t httpj_unbase64(const char *s, size_t n, struct arena *arena, uint8_t **out)
{
	uint8_t *d;
	size_t k = 0;

	if (n % 4)
		return -1;
	if (!(d = arena_alloc(arena, n / 4 * 3 + 1)))
		return -1;
	for (size_t i = 0; i < n; i += 4) {
		int v[4], pad = 0;

		for (int j = 0; j < 4; j++) {
			bool last = i + 4 == n;

			if (last && s[i + j] == '=' && j >= 2 && (j == 3 || s[i + 3] == '=')) {
				v[j] = 0;
				pad++;
			} else if ((v[j] = httpj_b64_digit(s[i + j])) < 0 || pad) {
				return -1;
			}
		}
		d[k++] = (uint8_t)(v[0] << 2 | v[1] >> 4);
		if (pad < 2)
			d[k++] = (uint8_t)(v[1] << 4 | v[2] >> 2);
		if (pad < 1)
			d[k++] = (uint8_t)(v[2] << 6 | v[3]);
	}
	*out = d;
	return (ptrdiff_t)k;
}

/* True if every field of d is a non-repeated integer or bool (the fast path of httpj_print can write it). */
static bool httpj_scalar_only(const ProtobufCMessageDescriptor *d)
{
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];

		if (f->label == PROTOBUF_C_LABEL_REPEATED || f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
			return false;
		switch (f->type) {
		case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
		case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
		case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
		case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64: case PROTOBUF_C_TYPE_BOOL:
			break;
		default:
			return false;
		}
	}
	return true;
}

/* Writes v in decimal ending at end; the first digit. */
static char *httpj_u64(char *end, uint64_t v)
{
	do
		*--end = (char)('0' + v % 10);
	while (v /= 10);
	return end;
}

/* Writes a scalar field's value (httpj_scalar_only) at p as httpj_value's jansson integer or bool; the end. */
static char *httpj_scalar(char *p, const ProtobufCFieldDescriptor *f, const void *v)
{
	char digits[24], *d, *end = digits + sizeof(digits);
	int64_t s;

	switch (f->type) {
	case PROTOBUF_C_TYPE_BOOL:
		if (*(const protobuf_c_boolean *)v)
			return (char *)memcpy(p, "true", 4) + 4;
		return (char *)memcpy(p, "false", 5) + 5;
	case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
		s = *(const uint32_t *)v;
		break;
	case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
		s = *(const int32_t *)v;
		break;
	default:	/* 64-bit: a uint64 as json_integer's signed json_int_t, like httpj_value */
		s = *(const int64_t *)v;
		break;
	}
	d = httpj_u64(end, s < 0 ? -(uint64_t)s : (uint64_t)s);
	if (s < 0)
		*--d = '-';
	memcpy(p, d, (size_t)(end - d));
	return p + (end - d);
}

/* jansson's json_dump_callback sink: appends to an evbuffer. */
static int httpj_out(const char *p, size_t n, void *arg)
{
	return evbuffer_add(arg, p, n);
}

int httpj_print(const ProtobufCMessage *m, struct evbuffer *out)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	json_t *j;
	int rc;

	/*
	 * Replies of numbers and bools only (ArmReply, CancelReply: the hot
	 * path) are written straight from the message, byte for byte what
	 * jansson prints for httpj_from_msg's tree (field order, JSON_COMPACT),
	 * without building the tree: no string needs escaping in them. The rest
	 * goes through jansson.
	 */
	if (d->n_fields <= 16 && httpj_scalar_only(d)) {
		char buf[16 * (128 + 24)], *p = buf;

		*p++ = '{';
		for (unsigned i = 0; i < d->n_fields; i++) {
			const ProtobufCFieldDescriptor *f = &d->fields[i];
			size_t n = strlen(f->name);

			if (n > 120)
				goto tree;
			if (i)
				*p++ = ',';
			*p++ = '"';
			memcpy(p, f->name, n);
			p += n;
			*p++ = '"';
			*p++ = ':';
			p = httpj_scalar(p, f, (const char *)m + f->offset);
		}
		*p++ = '}';
		*p++ = '\n';
		return evbuffer_add(out, buf, (size_t)(p - buf));
	}
tree:
	if (!(j = httpj_from_msg(m)))
		return -1;
	rc = json_dump_callback(j, httpj_out, out, JSON_COMPACT);
	json_decref(j);
	return rc < 0 ? -1 : evbuffer_add(out, "\n", 1);
}
