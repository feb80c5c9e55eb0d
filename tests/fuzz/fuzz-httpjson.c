/*
 * fuzz-httpjson.c -- server/http-json.c: every decoder of an HTTP API
 * request body on the same bytes -- the arm body (httpj_arm_decode: PUT
 * /v1/timers/{key}, POST /v1/timers), the nack body (httpj_nack_decode:
 * POST /v1/deliveries/{id}/nack) and the group body (httpj_group_decode:
 * PUT /v1/groups/{g}) -- and the encoder on what each decoded. The other
 * routes take no JSON body (the dead-letter routes read their path and
 * query).
 *
 * Checks, for each decoder: a body is decoded or refused with INVALID,
 * MALFORMED or NO_MEMORY and a message. A decoded arm has a time
 * (after_ns or at_unix_ns, never negative) or else a calendar and no
 * period, a payload within the body's size and a NUL-free topic; the
 * decoded Arm encodes back to JSON, base64 round-trips its payload, and
 * httpj_print's direct writer prints an ArmReply made of the decoded
 * numbers byte for byte as jansson does. A decoded nack has a
 * retry_after that is not negative and an error string within the body;
 * a decoded group has at most 1024 topics, each a string within the
 * body, durations that are not negative, a webhook_url within the body;
 * each encodes back, httpj_print writing what jansson does.
 */
#include "config.h"

#include <string.h>

#include <event2/buffer.h>

#include "server/http-json.h"
#include "tests/fuzz/fuzz.h"

/* Checks what a successful decode produced. */
static void httpjson_check(const Timerd__Arm *a, size_t n, struct arena *arena)
{
	json_t *j, *b64;
	uint8_t *back;
	ptrdiff_t m;

	if (a->calendar && *a->calendar) {
		if (a->when_case != TIMERD__ARM__WHEN__NOT_SET || a->period_ns)
			fuzz_fail("decoded a calendar arm with a time or period too (when_case %d)", (int)a->when_case);
		if (strlen(a->calendar) > n)
			fuzz_fail("a calendar longer than the body");
	} else if (a->when_case != TIMERD__ARM__WHEN_AFTER_NS && a->when_case != TIMERD__ARM__WHEN_AT_UNIX_NS) {
		fuzz_fail("decoded an arm without a time or calendar (when_case %d)", (int)a->when_case);
	}
	if (a->after_ns < 0 || a->at_unix_ns < 0 || a->period_ns < 0)
		fuzz_fail("decoded a negative time or period");
	if (a->payload.len > n)
		fuzz_fail("a %zu-byte payload from a %zu-byte body", a->payload.len, n);
	if (a->topic && strlen(a->topic) > n)
		fuzz_fail("a topic longer than the body");
	if (!(j = httpj_from_msg(&a->base)))
		fuzz_fail("the decoded arm does not encode");
	json_decref(j);
	if (!(b64 = httpj_base64(a->payload.data, a->payload.len)))
		return;
	m = httpj_unbase64(json_string_value(b64), json_string_length(b64), arena, &back);
	if (m != (ptrdiff_t)a->payload.len || (m && memcmp(back, a->payload.data, (size_t)m)))
		fuzz_fail("base64 does not round-trip a %zu-byte payload", a->payload.len);
	json_decref(b64);
}

/* httpj_print of m must equal jansson's compact dump of httpj_from_msg(m) and a newline. */
static void httpjson_print_check(const ProtobufCMessage *m)
{
	struct evbuffer *b = evbuffer_new();
	json_t *j = httpj_from_msg(m);
	char *want = j ? json_dumps(j, JSON_COMPACT) : NULL;
	size_t n;

	if (!b || !want)
		fuzz_fail("out of memory");
	if (httpj_print(m, b) < 0)
		fuzz_fail("httpj_print failed");
	n = evbuffer_get_length(b);
	if (n != strlen(want) + 1 || memcmp(evbuffer_pullup(b, -1), want, n - 1) || evbuffer_pullup(b, -1)[n - 1] != '\n')
		fuzz_fail("httpj_print wrote '%.*s', jansson '%s'", (int)n, (const char *)evbuffer_pullup(b, -1), want);
	free(want);
	json_decref(j);
	evbuffer_free(b);
}

/* A decoder's refusal must be one of the body's codes, with a message. */
static void httpjson_refusal(const char *what, int rc, const char *err)
{
	if ((rc != -TIMERD__ERROR_CODE__INVALID && rc != -TIMERD__ERROR_CODE__MALFORMED &&
	     rc != -TIMERD__ERROR_CODE__NO_MEMORY) || !err[0])
		fuzz_fail("the %s body was refused with %d and message '%s'", what, rc, err);
}

/* A decoded string must be shorter than the body it came from. */
static void httpjson_str(const char *what, const char *v, size_t n)
{
	if (v && strlen(v) > n)
		fuzz_fail("%s: a %zu-byte string from a %zu-byte body", what, strlen(v), n);
}

/* The nack body decoder (the route's: delivery_id is the path's). */
static void httpjson_nack(const uint8_t *data, size_t size)
{
	struct arena arena;
	Timerd__Nack m;
	char err[512] = "";
	int rc;

	arena_init(&arena);
	timerd__nack__init(&m);
	if ((rc = httpj_nack_decode((const char *)data, size, &arena, &m, err, sizeof(err))) == 0) {
		if (m.retry_after_ns < 0)
			fuzz_fail("a nack decoded with retry_after %lld ns", (long long)m.retry_after_ns);
		httpjson_str("nack error", m.error, size);
		httpjson_print_check(&m.base);
	} else {
		httpjson_refusal("nack", rc, err);
	}
	arena_destroy(&arena);
}

/* The group body decoder (the route's: the name is the path's). */
static void httpjson_group(const uint8_t *data, size_t size)
{
	struct arena arena;
	Timerd__Group g;
	char err[512] = "";
	int rc;

	arena_init(&arena);
	timerd__group__init(&g);
	if ((rc = httpj_group_decode((const char *)data, size, &arena, &g, err, sizeof(err))) == 0) {
		if (g.n_topics > 1024 || (g.n_topics && !g.topics))
			fuzz_fail("a group decoded with %zu topics", g.n_topics);
		for (size_t i = 0; i < g.n_topics; i++) {
			if (!g.topics[i])
				fuzz_fail("a group decoded with topic %zu missing", i);
			httpjson_str("group topic", g.topics[i], size);
		}
		if (g.ack_timeout_ns < 0 || g.backoff_min_ns < 0 || g.backoff_max_ns < 0 || g.webhook_timeout_ns < 0)
			fuzz_fail("a group decoded with a negative duration");
		httpjson_str("group webhook_url", g.webhook_url, size);
		httpjson_print_check(&g.base);
	} else {
		httpjson_refusal("group", rc, err);
	}
	arena_destroy(&arena);
}

/* Decodes one body with each decoder. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct arena arena;
	Timerd__Arm a;
	char err[512] = "";
	static int init;
	int rc;

	if (!init)
		httpj_init();	/* the daemon's allocator: the decode's tree in the scratch buffer, as in timerd */
	init = 1;
	httpjson_nack(data, size);
	httpjson_group(data, size);
	arena_init(&arena);
	rc = httpj_arm_decode((const char *)data, size, &arena, &a, err, sizeof(err));
	if (rc == 0) {
		Timerd__ArmReply ar = TIMERD__ARM_REPLY__INIT;
		Timerd__CancelReply cr = TIMERD__CANCEL_REPLY__INIT;

		httpjson_check(&a, size, &arena);
		/* numbers from the body, negative and past 2^63 too */
		ar.timer_id = (uint64_t)a.after_ns * 2654435761u ^ (uint64_t)a.period_ns << 20;
		ar.deadline_mono_ns = a.at_unix_ns - a.after_ns;
		ar.deadline_unix_ns = -a.period_ns;
		ar.created = a.payload.len & 1;
		ar.coalesced = a.topic != NULL;
		httpjson_print_check(&ar.base);
		httpjson_print_check(&cr.base);
		httpjson_print_check(&a.base);	/* strings: the jansson path */
	}
	else
		httpjson_refusal("arm", rc, err);
	arena_destroy(&arena);
	return 0;
}
