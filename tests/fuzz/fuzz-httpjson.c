/*
 * fuzz-httpjson.c -- server/http-json.c: the HTTP API's arm body decoder
 * (httpj_arm_decode) on any bytes, and the encoder on what it decoded.
 *
 * Checks: a body is decoded or refused with INVALID, MALFORMED or
 * NO_MEMORY and a message; a decoded arm has a time (after_ns or
 * at_unix_ns, never negative) or else a calendar and no period, a
 * payload within the body's size and a NUL-free topic; the decoded Arm
 * encodes back to JSON, base64 round-trips its payload, and httpj_print's
 * direct writer prints an ArmReply made of the decoded numbers byte for
 * byte as jansson does.
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

/* Decodes one body. */
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
	else if ((rc != -TIMERD__ERROR_CODE__INVALID && rc != -TIMERD__ERROR_CODE__MALFORMED &&
		  rc != -TIMERD__ERROR_CODE__NO_MEMORY) || !err[0])
		fuzz_fail("refused with %d and message '%s'", rc, err);
	arena_destroy(&arena);
	return 0;
}
