/*
 * test-proto.c -- the wire contract: framing, decoding with the arena,
 * unknown operations, garbage; duration and RFC 3339 parsing; libtimerd's
 * codec (client/codec.c, built in) both ways: requests it packs, replies
 * and events it copies into the public structs, its error table.
 */
#include "config.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client/internal.h"
#include "proto/arena.h"
#include "proto/frame.h"
#include "proto/pack.h"
#include "proto/timerd.pb-c.h"
#include "proto/units.h"
#include "proto/unpack.h"

#define MS 1000000LL
#define S  1000000000LL

START_TEST(test_frame_len)
{
	uint8_t h[FRAME_HDR];

	frame_put_len(h, 0x01020304u);
	ck_assert_int_eq(h[0], 1);
	ck_assert_int_eq(h[3], 4);
	ck_assert_uint_eq(frame_len(h), 0x01020304u);
	frame_put_len(h, UINT32_MAX);
	ck_assert_uint_eq(frame_len(h), UINT32_MAX);
	ck_assert(frame_looks_like_text((const uint8_t *)"GET "));
	ck_assert(!frame_looks_like_text((const uint8_t *)"\0\0\0\x10"));
}
END_TEST

/* Packs a request into a malloc'ed buffer. */
static uint8_t *pack_request(const Timerd__Request *r, size_t *n)
{
	uint8_t *buf;

	*n = timerd__request__get_packed_size(r);
	buf = malloc(*n ? *n : 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(timerd__request__pack(r, buf), *n);
	return buf;
}

START_TEST(test_roundtrip_arena)
{
	Timerd__Request r = TIMERD__REQUEST__INIT, *d;
	Timerd__Arm arm = TIMERD__ARM__INIT;
	struct arena a;
	uint8_t *buf;
	size_t n;

	arm.when_case = TIMERD__ARM__WHEN_AFTER_NS;
	arm.after_ns = 250 * MS;
	arm.key = (char *)"job-7";
	arm.topic = (char *)"jobs";
	arm.payload.data = (uint8_t *)"hello";
	arm.payload.len = 5;
	r.id = 42;
	r.body_case = TIMERD__REQUEST__BODY_ARM;
	r.arm = &arm;
	buf = pack_request(&r, &n);
	arena_init(&a);
	for (int i = 0; i < 1000; i++) {
		d = timerd__request__unpack(arena_pbc(&a), n, buf);
		ck_assert_ptr_nonnull(d);
		ck_assert_uint_eq(d->id, 42);
		ck_assert_int_eq(d->body_case, TIMERD__REQUEST__BODY_ARM);
		ck_assert_int_eq(d->arm->after_ns, 250 * MS);
		ck_assert_str_eq(d->arm->key, "job-7");
		ck_assert_mem_eq(d->arm->payload.data, "hello", 5);
		arena_reset(&a);
	}
	arena_destroy(&a);
	free(buf);
}
END_TEST

START_TEST(test_arena_large)
{
	struct arena a;
	char *p, *q;

	arena_init(&a);
	p = arena_alloc(&a, 3 * ARENA_KEEP);
	ck_assert_ptr_nonnull(p);
	memset(p, 1, 3 * ARENA_KEEP);
	for (int i = 0; i < 10000; i++) {
		q = arena_alloc(&a, 24);
		ck_assert_ptr_nonnull(q);
		ck_assert_uint_eq((uintptr_t)q % 16, 0);
	}
	ck_assert_ptr_null(arena_alloc(&a, SIZE_MAX - 4));
	arena_reset(&a);
	arena_reset(&a);
	ck_assert_ptr_nonnull(arena_alloc(&a, 1));
	arena_destroy(&a);
}
END_TEST

START_TEST(test_unknown_op)
{
	/* field 99 (varint 5) in a Request: a body this version does not know */
	static const uint8_t wire[] = { 0x08, 0x07, 0x98, 0x06, 0x05 };
	Timerd__Request *d = timerd__request__unpack(NULL, sizeof(wire), wire);

	ck_assert_ptr_nonnull(d);
	ck_assert_uint_eq(d->id, 7);
	ck_assert_int_eq(d->body_case, TIMERD__REQUEST__BODY__NOT_SET);
	ck_assert_uint_eq(d->base.n_unknown_fields, 1);
	ck_assert_uint_eq(d->base.unknown_fields[0].tag, 99);
	timerd__request__free_unpacked(d, NULL);
}
END_TEST

START_TEST(test_garbage)
{
	static const char *junk[] = { "GET / HTTP/1.1\r\n", "\xff\xff\xff\xff\xff\xff", "\x0a\x80" };
	struct arena a;

	arena_init(&a);
	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
		ck_assert_ptr_null(timerd__request__unpack(arena_pbc(&a), strlen(junk[i]),
							   (const uint8_t *)junk[i]));
		arena_reset(&a);
	}
	/* random bytes never crash the decoder */
	srandom(1);
	for (int i = 0; i < 20000; i++) {
		uint8_t b[64];
		size_t n = (size_t)random() % sizeof(b);

		for (size_t j = 0; j < n; j++)
			b[j] = (uint8_t)random();
		(void)timerd__request__unpack(arena_pbc(&a), n, b);
		arena_reset(&a);
	}
	arena_destroy(&a);
}
END_TEST

START_TEST(test_duration_parse)
{
	static const struct { const char *s; int64_t ns; } ok[] = {
		{ "0", 0 }, { "250ms", 250 * MS }, { "5s", 5 * S }, { "1h30m", 5400 * S },
		{ "1.5s", 1500 * MS }, { "100us", 100000 }, { "100\xc2\xb5s", 100000 }, { "12ns", 12 },
		{ "2d", 172800 * S }, { "1m1s1ms", 61 * S + MS }, { "0.25ms", 250000 },
	};
	static const char *bad[] = { "", "5", "s", "5x", "-5s", "1.s", "5 s", "99999999999999999999s", "300000d" };
	char err[256];
	int64_t ns;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		ck_assert_msg(units_duration_parse(ok[i].s, &ns, err, sizeof(err)) == 0, "%s: %s", ok[i].s, err);
		ck_assert_int_eq(ns, ok[i].ns);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		ck_assert_msg(units_duration_parse(bad[i], &ns, err, sizeof(err)) < 0, "accepted '%s'", bad[i]);
		ck_assert(err[0] != '\0');
	}
	units_duration_parse("5", &ns, err, sizeof(err));
	ck_assert(strstr(err, "unit") != NULL);
}
END_TEST

START_TEST(test_duration_format)
{
	static const struct { int64_t ns; const char *s; } cases[] = {
		{ 0, "0ns" }, { 12, "12ns" }, { 1500, "1.5us" }, { 250 * MS, "250ms" }, { 1500000, "1.5ms" },
		{ 4250 * MS, "4.25s" }, { 5 * S, "5s" }, { 5400 * S, "1h30m" }, { 90061 * S, "1d1h1m1s" },
		{ -3 * S, "-3s" }, { INT64_MIN, "-106751d23h47m16s" },
	};
	char buf[UNITS_BUFSZ];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ck_assert_str_eq(units_duration_format(cases[i].ns, buf, sizeof(buf)), cases[i].s);
}
END_TEST

START_TEST(test_time_parse)
{
	static const struct { const char *s; int64_t ns; } ok[] = {
		{ "1970-01-01T00:00:00Z", 0 },
		{ "2030-01-02T15:04:05Z", 1893596645 * S },
		{ "2030-01-02T16:04:05+01:00", 1893596645 * S },
		{ "2030-01-02t15:04:05.5z", 1893596645 * S + 500 * MS },
		{ "2030-01-02 15:04:05.000000001Z", 1893596645 * S + 1 },
		{ "2024-02-29T00:00:00-00:30", 1709166600 * S },
	};
	static const char *bad[] = { "", "2030-01-02", "2030-13-01T00:00:00Z", "2023-02-29T00:00:00Z",
				     "2030-01-02T24:00:00Z", "2030-01-02T15:04:05", "1969-12-31T23:59:59Z",
				     "2030-01-02T15:04:05Zjunk", "2030-01-02T15:04:05+0100" };
	char err[256], buf[UNITS_BUFSZ];
	int64_t ns;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		ck_assert_msg(units_time_parse(ok[i].s, &ns, err, sizeof(err)) == 0, "%s: %s", ok[i].s, err);
		ck_assert_int_eq(ns, ok[i].ns);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(units_time_parse(bad[i], &ns, err, sizeof(err)) < 0, "accepted '%s'", bad[i]);
	ck_assert_str_eq(units_time_format(1893596645 * S + 500 * MS, true, buf, sizeof(buf)),
			 "2030-01-02T15:04:05.500Z");
	units_time_parse(units_time_format(1893596645 * S, false, buf, sizeof(buf)), &ns, err, sizeof(err));
	ck_assert_int_eq(ns, 1893596645 * S);
}
END_TEST

/* Packs q with libtimerd's encoder and decodes it back (free with timerd__request__free_unpacked). */
static Timerd__Request *codec_roundtrip(const struct codec_req *q)
{
	size_t n = codec_size(q);
	uint8_t *buf = malloc(n);
	Timerd__Request *d;

	ck_assert_ptr_nonnull(buf);
	codec_pack(q, buf);
	ck_assert_uint_eq(frame_len(buf), n - FRAME_HDR);
	d = timerd__request__unpack(NULL, n - FRAME_HDR, buf + FRAME_HDR);
	ck_assert_ptr_nonnull(d);
	free(buf);
	return d;
}

/* Packs a response and decodes it back, as a client reads it. */
static Timerd__Response *response_roundtrip(const Timerd__Response *m)
{
	size_t n = timerd__response__get_packed_size(m);
	uint8_t *buf = malloc(n ? n : 1);
	Timerd__Response *d;

	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(timerd__response__pack(m, buf), n);
	d = timerd__response__unpack(NULL, n, buf);
	ck_assert_ptr_nonnull(d);
	free(buf);
	return d;
}

START_TEST(test_codec_arm_durable)
{
	struct timerd_arm a = { .when = TIMERD_AFTER, .time_ns = 5 * S, .key = "k", .ephemeral = true,
				.misfire = TIMERD_MISFIRE_SKIP };
	struct codec_req q;
	Timerd__Request *d;

	ck_assert_int_eq(codec_arm(&q, &a), TIMERD_OK);
	d = codec_roundtrip(&q);
	ck_assert_int_eq(d->body_case, TIMERD__REQUEST__BODY_ARM);
	ck_assert(d->arm->ephemeral);
	ck_assert_int_eq(d->arm->misfire, TIMERD__MISFIRE__MISFIRE_SKIP);
	ck_assert_int_eq(d->arm->after_ns, 5 * S);
	timerd__request__free_unpacked(d, NULL);
	/* the defaults: durable, misfire fire */
	a = (struct timerd_arm){ .when = TIMERD_AFTER, .time_ns = S };
	ck_assert_int_eq(codec_arm(&q, &a), TIMERD_OK);
	d = codec_roundtrip(&q);
	ck_assert(!d->arm->ephemeral);
	ck_assert_int_eq(d->arm->misfire, TIMERD__MISFIRE__MISFIRE_FIRE);
	timerd__request__free_unpacked(d, NULL);
	a.misfire = (enum timerd_misfire)7;
	ck_assert_int_eq(codec_arm(&q, &a), TIMERD_EARG);
}
END_TEST

START_TEST(test_codec_timer_durable)
{
	Timerd__Timer m = TIMERD__TIMER__INIT, m2 = TIMERD__TIMER__INIT, *v[2] = { &m, &m2 };
	Timerd__ListReply lr = TIMERD__LIST_REPLY__INIT;
	struct timerd_timer *t;
	struct timerd_list *l;

	m.timer_id = 9;
	m.key = (char *)"k";
	m.ephemeral = true;
	m.misfire = TIMERD__MISFIRE__MISFIRE_SKIP;
	t = codec_timer_copy(&m);
	ck_assert_ptr_nonnull(t);
	ck_assert(t->ephemeral);
	ck_assert_int_eq(t->misfire, TIMERD_MISFIRE_SKIP);
	ck_assert_str_eq(t->key, "k");
	timerd_timer_free(t);
	m2.timer_id = 10;
	m2.misfire = (Timerd__Misfire)5;	/* a newer server's policy passes through */
	lr.n_timers = 2;
	lr.timers = v;
	l = codec_list_copy(&lr);
	ck_assert_ptr_nonnull(l);
	ck_assert_uint_eq(l->n, 2);
	ck_assert(l->timers[0].ephemeral && l->timers[0].misfire == TIMERD_MISFIRE_SKIP);
	ck_assert(!l->timers[1].ephemeral);
	ck_assert_int_eq(l->timers[1].misfire, 5);
	timerd_list_free(l);
}
END_TEST

START_TEST(test_codec_fire_recovered)
{
	Timerd__Response r = TIMERD__RESPONSE__INIT, *d;
	Timerd__Fire f = TIMERD__FIRE__INIT;
	struct timerd_event *ev;

	f.timer_id = 3;
	f.key = (char *)"late";
	f.final = true;
	f.recovered = true;
	r.body_case = TIMERD__RESPONSE__BODY_FIRE;
	r.fire = &f;
	d = response_roundtrip(&r);
	ev = codec_event_copy(d);
	timerd__response__free_unpacked(d, NULL);
	ck_assert_ptr_nonnull(ev);
	ck_assert_int_eq(ev->kind, TIMERD_EVENT_FIRE);
	ck_assert(ev->fire.recovered);
	ck_assert(ev->fire.final);
	ck_assert_str_eq(ev->fire.key, "late");
	timerd_event_free(ev);
	f.recovered = false;
	d = response_roundtrip(&r);
	ev = codec_event_copy(d);
	timerd__response__free_unpacked(d, NULL);
	ck_assert(!ev->fire.recovered);
	timerd_event_free(ev);
}
END_TEST

START_TEST(test_codec_store_stats)
{
	Timerd__Response r = TIMERD__RESPONSE__INIT, *d;
	Timerd__StatsReply sr = TIMERD__STATS_REPLY__INIT;
	Timerd__StoreStats st = TIMERD__STORE_STATS__INIT;
	struct timerd_stats *s;
	int64_t v;

	st.durable = true;
	st.fsync = (char *)"10ms";
	st.path = (char *)"/var/lib/timerd/timers.db";
	st.last_error = (char *)"database or disk is full";
	st.loaded = 3;
	st.load_ns = 1234;
	sr.version = (char *)"timerd test";
	sr.store = &st;
	r.body_case = TIMERD__RESPONSE__BODY_STATS;
	r.stats = &sr;
	d = response_roundtrip(&r);
	s = codec_stats_copy(d->stats);
	timerd__response__free_unpacked(d, NULL);
	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(s->store_fsync, "10ms");
	ck_assert_str_eq(s->store_path, "/var/lib/timerd/timers.db");
	ck_assert_str_eq(s->store_last_error, "database or disk is full");
	ck_assert(timerd_stats_get(s, "store.durable", &v) && v == 1);
	ck_assert(timerd_stats_get(s, "store.loaded", &v) && v == 3);
	ck_assert(timerd_stats_get(s, "store.load_ns", &v) && v == 1234);
	ck_assert_str_eq(s->version, "timerd test");
	timerd_stats_free(s);
	/* a server that sends no store section: empty strings, zero counters */
	sr.store = NULL;
	s = codec_stats_copy(&sr);
	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(s->store_fsync, "");
	ck_assert_str_eq(s->store_path, "");
	ck_assert_str_eq(s->store_last_error, "");
	ck_assert(timerd_stats_get(s, "store.durable", &v) && v == 0);
	timerd_stats_free(s);
}
END_TEST

START_TEST(test_codec_errors)
{
	const ProtobufCEnumDescriptor *e = &timerd__error_code__descriptor;
	Timerd__Response r = TIMERD__RESPONSE__INIT;
	Timerd__Error err = TIMERD__ERROR__INIT;
	char msg[256];

	/* every wire ErrorCode has a name (the protocol's) and a text in libtimerd's table */
	for (unsigned i = 0; i < e->n_values; i++) {
		ck_assert_msg(strcmp(timerd_errname(e->values[i].value), e->values[i].name) == 0,
			      "code %d: libtimerd names it %s, timerd.proto %s", e->values[i].value,
			      timerd_errname(e->values[i].value), e->values[i].name);
		ck_assert_msg(strcmp(timerd_strerror(e->values[i].value), "unknown error") != 0,
			      "code %s has no text", e->values[i].name);
	}
	ck_assert_int_eq(TIMERD_ESTORAGE, TIMERD__ERROR_CODE__STORAGE);
	ck_assert(strstr(timerd_strerror(TIMERD_ESTORAGE), "retry"));
	/* a STORAGE error reply reaches the caller as TIMERD_ESTORAGE with the server's words */
	err.code = TIMERD__ERROR_CODE__STORAGE;
	err.message = (char *)"cannot write timers.db: disk full; retry later";
	r.body_case = TIMERD__RESPONSE__BODY_ERROR;
	r.error = &err;
	ck_assert_int_eq(codec_check(&r, TIMERD__REQUEST__BODY_ARM, msg, sizeof(msg)), TIMERD_ESTORAGE);
	ck_assert_str_eq(msg, err.message);
	err.message = (char *)"";
	ck_assert_int_eq(codec_check(&r, TIMERD__REQUEST__BODY_CANCEL, msg, sizeof(msg)), TIMERD_ESTORAGE);
	ck_assert_str_eq(msg, timerd_strerror(TIMERD_ESTORAGE));
}
END_TEST

/* Builds the suite. */
START_TEST(test_codec_group_requests)
{
	const char *topics[] = { "jobs", "mail" };
	struct timerd_group g = { .name = "billing", .topics = topics, .n_topics = 2, .ack_timeout_ns = 7 * S,
				  .max_attempts = 3, .backoff_min_ns = S / 2, .backoff_max_ns = 60 * S,
				  .max_backlog = 1000, .unordered = true, .webhook_url = "https://h/x",
				  .webhook_concurrency = 4, .webhook_timeout_ns = 2 * S, .webhook_insecure = true };
	struct codec_req q;
	Timerd__Request *d;

	ck_assert_int_eq(codec_group_create(&q, &g, true), TIMERD_OK);
	d = codec_roundtrip(&q);
	ck_assert_int_eq(d->body_case, TIMERD__REQUEST__BODY_GROUP_CREATE);
	ck_assert(d->group_create->update);
	ck_assert_str_eq(d->group_create->group->name, "billing");
	ck_assert_uint_eq(d->group_create->group->n_topics, 2);
	ck_assert_str_eq(d->group_create->group->topics[1], "mail");
	ck_assert_int_eq(d->group_create->group->ack_timeout_ns, 7 * S);
	ck_assert_uint_eq(d->group_create->group->max_attempts, 3);
	ck_assert_int_eq(d->group_create->group->backoff_min_ns, S / 2);
	ck_assert_int_eq(d->group_create->group->backoff_max_ns, 60 * S);
	ck_assert_uint_eq(d->group_create->group->max_backlog, 1000);
	ck_assert(d->group_create->group->unordered && d->group_create->group->webhook_insecure);
	ck_assert_str_eq(d->group_create->group->webhook_url, "https://h/x");
	ck_assert_uint_eq(d->group_create->group->webhook_concurrency, 4);
	ck_assert_int_eq(d->group_create->group->webhook_timeout_ns, 2 * S);
	timerd__request__free_unpacked(d, NULL);
	g.name = "";
	ck_assert_int_eq(codec_group_create(&q, &g, false), TIMERD_EARG);
	g.name = "x";
	g.topics = NULL;
	ck_assert_int_eq(codec_group_create(&q, &g, false), TIMERD_EARG);

	codec_subscribe(&q, "billing", 8, false);
	d = codec_roundtrip(&q);
	ck_assert_int_eq(d->body_case, TIMERD__REQUEST__BODY_SUBSCRIBE);
	ck_assert_str_eq(d->subscribe->group, "billing");
	ck_assert_uint_eq(d->subscribe->credit, 8);
	timerd__request__free_unpacked(d, NULL);
	codec_subscribe(&q, "billing", 8, true);
	d = codec_roundtrip(&q);
	ck_assert_int_eq(d->body_case, TIMERD__REQUEST__BODY_UNSUBSCRIBE);
	ck_assert_str_eq(d->unsubscribe->group, "billing");
	timerd__request__free_unpacked(d, NULL);
	codec_ack(&q, 42);
	d = codec_roundtrip(&q);
	ck_assert_int_eq(d->body_case, TIMERD__REQUEST__BODY_ACK);
	ck_assert_uint_eq(d->ack->delivery_id, 42);
	timerd__request__free_unpacked(d, NULL);
	codec_nack(&q, 43, 3 * S, "exit status 2");
	d = codec_roundtrip(&q);
	ck_assert_int_eq(d->body_case, TIMERD__REQUEST__BODY_NACK);
	ck_assert_uint_eq(d->nack->delivery_id, 43);
	ck_assert_int_eq(d->nack->retry_after_ns, 3 * S);
	ck_assert_str_eq(d->nack->error, "exit status 2");
	timerd__request__free_unpacked(d, NULL);
	codec_group_delete(&q, "billing");
	d = codec_roundtrip(&q);
	ck_assert_int_eq(d->body_case, TIMERD__REQUEST__BODY_GROUP_DELETE);
	ck_assert_str_eq(d->group_delete->name, "billing");
	timerd__request__free_unpacked(d, NULL);
	codec_group_list(&q, NULL);
	d = codec_roundtrip(&q);
	ck_assert_int_eq(d->body_case, TIMERD__REQUEST__BODY_GROUP_LIST);
	ck_assert_str_eq(d->group_list->name, "");
	timerd__request__free_unpacked(d, NULL);
	codec_dlq_list(&q, "billing", "k1", 5, 10, true);
	d = codec_roundtrip(&q);
	ck_assert_int_eq(d->body_case, TIMERD__REQUEST__BODY_DLQ_LIST);
	ck_assert_str_eq(d->dlq_list->key, "k1");
	ck_assert_uint_eq(d->dlq_list->cursor, 5);
	ck_assert_uint_eq(d->dlq_list->limit, 10);
	ck_assert(d->dlq_list->with_payload);
	timerd__request__free_unpacked(d, NULL);
	codec_dlq_act(&q, "billing", NULL, 9, false);
	d = codec_roundtrip(&q);
	ck_assert_int_eq(d->body_case, TIMERD__REQUEST__BODY_DLQ_RETRY);
	ck_assert_str_eq(d->dlq_retry->key, "");
	ck_assert_uint_eq(d->dlq_retry->delivery_id, 9);
	timerd__request__free_unpacked(d, NULL);
	codec_dlq_act(&q, "billing", "k", 0, true);
	d = codec_roundtrip(&q);
	ck_assert_int_eq(d->body_case, TIMERD__REQUEST__BODY_DLQ_PURGE);
	ck_assert_str_eq(d->dlq_purge->key, "k");
	timerd__request__free_unpacked(d, NULL);
}
END_TEST

START_TEST(test_codec_group_replies)
{
	Timerd__Response r = TIMERD__RESPONSE__INIT, *d;
	Timerd__GroupListReply gl = TIMERD__GROUP_LIST_REPLY__INIT;
	Timerd__GroupInfo gi = TIMERD__GROUP_INFO__INIT, gi2 = TIMERD__GROUP_INFO__INIT, *giv[2] = { &gi, &gi2 };
	Timerd__Group g = TIMERD__GROUP__INIT;
	Timerd__DlqListReply dl = TIMERD__DLQ_LIST_REPLY__INIT;
	Timerd__DeadLetter l = TIMERD__DEAD_LETTER__INIT, *lv[1] = { &l };
	char *topics[] = { (char *)"a", (char *)"b" };
	struct timerd_groups *gs;
	struct timerd_dlq *q;

	g.name = (char *)"g1";
	g.n_topics = 2;
	g.topics = topics;
	g.max_attempts = 4;
	g.webhook_url = (char *)"http://x";
	gi.group = &g;
	gi.backlog = 1;
	gi.in_flight = 2;
	gi.acked = 3;
	gi.redeliveries = 4;
	gi.dead_letters = 5;
	gi.consumers = 6;
	gi.dead_lettered = 13;
	gi2.group = NULL;	/* a reply without the group: an empty one, no crash */
	gl.n_groups = 2;
	gl.groups = giv;
	r.body_case = TIMERD__RESPONSE__BODY_GROUP_LIST;
	r.group_list = &gl;
	d = response_roundtrip(&r);
	gs = codec_groups_copy(d->group_list);
	timerd__response__free_unpacked(d, NULL);
	ck_assert_ptr_nonnull(gs);
	ck_assert_uint_eq(gs->n, 2);
	ck_assert_str_eq(gs->v[0].group.name, "g1");
	ck_assert_uint_eq(gs->v[0].group.n_topics, 2);
	ck_assert_str_eq(gs->v[0].group.topics[0], "a");
	ck_assert_str_eq(gs->v[0].group.topics[1], "b");
	ck_assert_str_eq(gs->v[0].group.webhook_url, "http://x");
	ck_assert_uint_eq(gs->v[0].group.max_attempts, 4);
	ck_assert_uint_eq(gs->v[0].backlog, 1);
	ck_assert_uint_eq(gs->v[0].in_flight, 2);
	ck_assert_uint_eq(gs->v[0].acked, 3);
	ck_assert_uint_eq(gs->v[0].redeliveries, 4);
	ck_assert_uint_eq(gs->v[0].dead_letters, 5);
	ck_assert_uint_eq(gs->v[0].consumers, 6);
	ck_assert_uint_eq(gs->v[0].dead_lettered, 13);
	ck_assert_str_eq(gs->v[1].group.name, "");
	ck_assert_uint_eq(gs->v[1].group.n_topics, 0);
	timerd_groups_free(gs);
	gl.n_groups = 0;	/* an empty list */
	gs = codec_groups_copy(&gl);
	ck_assert_ptr_nonnull(gs);
	ck_assert_uint_eq(gs->n, 0);
	timerd_groups_free(gs);

	l.delivery_id = 77;
	l.key = (char *)"k";
	l.topic = (char *)"jobs";
	l.payload.data = (uint8_t *)"xyz";
	l.payload.len = 3;
	l.payload_len = 3;
	l.attempts = 5;
	l.last_error = (char *)"exit status 1";
	l.dead_unix_ns = 1234;
	dl.n_letters = 1;
	dl.letters = lv;
	dl.next_cursor = 78;
	r.body_case = TIMERD__RESPONSE__BODY_DLQ_LIST;
	r.dlq_list = &dl;
	d = response_roundtrip(&r);
	q = codec_dlq_copy(d->dlq_list);
	timerd__response__free_unpacked(d, NULL);
	ck_assert_ptr_nonnull(q);
	ck_assert_uint_eq(q->n, 1);
	ck_assert_uint_eq(q->next_cursor, 78);
	ck_assert_uint_eq(q->v[0].delivery_id, 77);
	ck_assert_str_eq(q->v[0].key, "k");
	ck_assert_str_eq(q->v[0].topic, "jobs");
	ck_assert_uint_eq(q->v[0].payload_len, 3);
	ck_assert_mem_eq(q->v[0].payload, "xyz", 3);
	ck_assert_uint_eq(q->v[0].attempts, 5);
	ck_assert_str_eq(q->v[0].last_error, "exit status 1");
	ck_assert_int_eq(q->v[0].dead_unix_ns, 1234);
	timerd_dlq_free(q);
}
END_TEST

START_TEST(test_codec_fire_delivery)
{
	Timerd__Response r = TIMERD__RESPONSE__INIT, *d;
	Timerd__Fire f = TIMERD__FIRE__INIT;
	struct timerd_event *ev, view;

	f.timer_id = 3;
	f.key = (char *)"job";
	f.delivery_id = 991;
	f.attempt = 2;
	f.group = (char *)"billing";
	r.event = true;
	r.body_case = TIMERD__RESPONSE__BODY_FIRE;
	r.fire = &f;
	d = response_roundtrip(&r);
	ck_assert_int_eq(codec_event_view(d, &view), TIMERD_OK);	/* the async path */
	ck_assert_uint_eq(view.delivery.delivery_id, 991);
	ck_assert_uint_eq(view.delivery.attempt, 2);
	ck_assert_str_eq(view.delivery.group, "billing");
	ev = codec_event_copy(d);	/* the blocking path */
	timerd__response__free_unpacked(d, NULL);
	ck_assert_ptr_nonnull(ev);
	ck_assert_uint_eq(ev->delivery.delivery_id, 991);
	ck_assert_uint_eq(ev->delivery.attempt, 2);
	ck_assert_str_eq(ev->delivery.group, "billing");
	ck_assert_str_eq(ev->fire.key, "job");
	timerd_event_free(ev);
	/* a plain fire: no delivery */
	f.delivery_id = 0;
	f.attempt = 0;
	f.group = NULL;
	d = response_roundtrip(&r);
	ev = codec_event_copy(d);
	timerd__response__free_unpacked(d, NULL);
	ck_assert_uint_eq(ev->delivery.delivery_id, 0);
	ck_assert_str_eq(ev->delivery.group, "");
	timerd_event_free(ev);
}
END_TEST

/* Packs rs both ways (pack_response, protobuf-c) and compares the bytes. */
static void pack_same(const Timerd__Response *rs)
{
	struct pack_plan p;
	size_t n = pack_response_size(rs, &p), m = timerd__response__get_packed_size(rs);
	uint8_t *a = malloc(n + 1), *b = malloc(m + 1);

	ck_assert_uint_eq(n, m);
	ck_assert_uint_eq(pack_response(rs, &p, a), n);
	ck_assert_uint_eq(timerd__response__pack(rs, b), m);
	ck_assert_msg(memcmp(a, b, n) == 0, "pack_response's bytes differ from protobuf-c's (body case %d)",
		      (int)rs->body_case);
	free(a);
	free(b);
}

/*
 * pack_response writes Response's own fields itself: it relies on them
 * being id (1), event (2) and one oneof of messages; a field added to
 * Response fails here first (pack.c then needs it).
 */
START_TEST(test_pack_response_shape)
{
	const ProtobufCMessageDescriptor *d = &timerd__response__descriptor;

	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];

		if (f->id == 1)
			ck_assert(f->type == PROTOBUF_C_TYPE_UINT64 && f->label == PROTOBUF_C_LABEL_NONE);
		else if (f->id == 2)
			ck_assert(f->type == PROTOBUF_C_TYPE_BOOL && f->label == PROTOBUF_C_LABEL_NONE);
		else
			ck_assert_msg(f->type == PROTOBUF_C_TYPE_MESSAGE && (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF),
				      "Response field %s (%u) is not a message of the body oneof: see proto/pack.c",
				      f->name, f->id);
		ck_assert(i == 0 || f->id > d->fields[i - 1].id);	/* number order: the order pack.c writes */
	}
}
END_TEST

/*
 * pack.c packs a Fire body itself, field by field: it relies on Fire's
 * fields being these (number, type); a field added to Fire fails here
 * first (pack_fire then needs it).
 */
START_TEST(test_pack_fire_shape)
{
	static const struct { unsigned id; ProtobufCType type; } want[] = {
		{ 1, PROTOBUF_C_TYPE_UINT64 }, { 2, PROTOBUF_C_TYPE_STRING }, { 3, PROTOBUF_C_TYPE_STRING },
		{ 4, PROTOBUF_C_TYPE_BYTES }, { 5, PROTOBUF_C_TYPE_INT64 }, { 6, PROTOBUF_C_TYPE_INT64 },
		{ 7, PROTOBUF_C_TYPE_INT64 }, { 8, PROTOBUF_C_TYPE_INT64 }, { 9, PROTOBUF_C_TYPE_UINT64 },
		{ 10, PROTOBUF_C_TYPE_UINT64 }, { 11, PROTOBUF_C_TYPE_BOOL }, { 12, PROTOBUF_C_TYPE_MESSAGE },
		{ 13, PROTOBUF_C_TYPE_BOOL }, { 14, PROTOBUF_C_TYPE_UINT64 }, { 15, PROTOBUF_C_TYPE_UINT32 },
		{ 16, PROTOBUF_C_TYPE_STRING },
	};
	const ProtobufCMessageDescriptor *d = &timerd__fire__descriptor;

	ck_assert_msg(d->n_fields == sizeof(want) / sizeof(want[0]), "Fire has %u fields: see proto/pack.c pack_fire",
		      d->n_fields);
	for (unsigned i = 0; i < d->n_fields; i++)
		ck_assert_msg(d->fields[i].id == want[i].id && d->fields[i].type == want[i].type &&
				      d->fields[i].label == PROTOBUF_C_LABEL_NONE,
			      "Fire field %s (%u) is not what proto/pack.c pack_fire writes", d->fields[i].name,
			      d->fields[i].id);
}
END_TEST

/* pack.c packs an ArmReply body itself: it relies on ArmReply's fields being these (number, type). */
START_TEST(test_pack_arm_reply_shape)
{
	static const struct { unsigned id; ProtobufCType type; } want[] = {
		{ 1, PROTOBUF_C_TYPE_UINT64 }, { 2, PROTOBUF_C_TYPE_INT64 }, { 3, PROTOBUF_C_TYPE_INT64 },
		{ 4, PROTOBUF_C_TYPE_BOOL }, { 5, PROTOBUF_C_TYPE_BOOL },
	};
	const ProtobufCMessageDescriptor *d = &timerd__arm_reply__descriptor;

	ck_assert_msg(d->n_fields == sizeof(want) / sizeof(want[0]),
		      "ArmReply has %u fields: see proto/pack.c pack_arm_reply", d->n_fields);
	for (unsigned i = 0; i < d->n_fields; i++)
		ck_assert_msg(d->fields[i].id == want[i].id && d->fields[i].type == want[i].type &&
				      d->fields[i].label == PROTOBUF_C_LABEL_NONE,
			      "ArmReply field %s (%u) is not what proto/pack.c pack_arm_reply writes", d->fields[i].name,
			      d->fields[i].id);
}
END_TEST

/* pack_arm_reply's bytes are protobuf-c's for every subset of ArmReply's fields, with edge values. */
START_TEST(test_pack_arm_reply_bytes)
{
	static const int64_t iv[] = { 1, -1, INT64_MAX, INT64_MIN, 127, 128 };
	Timerd__Response r = TIMERD__RESPONSE__INIT;
	Timerd__ArmReply a;

	r.body_case = TIMERD__RESPONSE__BODY_ARM;
	r.arm = &a;
	for (unsigned mask = 0; mask < 1u << 5; mask++)
		for (unsigned k = 0; k < sizeof(iv) / sizeof(iv[0]); k++) {
			timerd__arm_reply__init(&a);
			r.id = k ? (uint64_t)iv[k] : 0;
			if (mask & 1) a.timer_id = (uint64_t)iv[k];
			if (mask & 2) a.deadline_mono_ns = iv[k];
			if (mask & 4) a.deadline_unix_ns = ~iv[k];	/* another value (no overflow) */
			if (mask & 8) a.created = k & 1 ? 1 : 7;	/* any true is packed as 1 */
			if (mask & 16) a.coalesced = 1;
			pack_same(&r);
		}
}
END_TEST

/* The value of Fire's field i (0-14, numbers 1-16 without origin) in the k-th variant, set when bit i of mask is. */
static void pack_fire_set(Timerd__Fire *f, unsigned mask, unsigned k, const uint8_t *payload, const char *lng)
{
	static const int64_t iv[] = { 1, -1, INT64_MAX, INT64_MIN, 127, 128, 300 };
	int64_t v = iv[k % (sizeof(iv) / sizeof(iv[0]))];

	*f = (Timerd__Fire)TIMERD__FIRE__INIT;
	if (mask & 1u << 0) f->timer_id = (uint64_t)v;
	if (mask & 1u << 1) f->key = (char *)(k & 1 ? lng : "job-1");
	else if (k & 1) f->key = NULL;	/* NULL and "" are both left out */
	if (mask & 1u << 2) f->topic = (char *)(k & 2 ? lng : "jobs");
	if (mask & 1u << 3) f->payload.len = k & 1 ? 300 : 1;
	f->payload.data = (mask & 1u << 3) || (k & 2) ? (uint8_t *)payload : NULL;	/* len 0 with data too */
	if (mask & 1u << 4) f->deadline_mono_ns = v;
	if (mask & 1u << 5) f->fired_mono_ns = ~v;	/* another value (no overflow) */
	if (mask & 1u << 6) f->deadline_unix_ns = v;
	if (mask & 1u << 7) f->period_ns = v;
	if (mask & 1u << 8) f->seq = (uint64_t)v;
	if (mask & 1u << 9) f->missed = (uint64_t)v;
	if (mask & 1u << 10) f->final = k & 1 ? 1 : 5;	/* any true is packed as 1 */
	if (mask & 1u << 11) f->recovered = 1;
	if (mask & 1u << 12) f->delivery_id = (uint64_t)v;
	if (mask & 1u << 13) f->attempt = (uint32_t)v;
	if (mask & 1u << 14) f->group = (char *)(k & 2 ? lng : "billing");
}

/* pack_fire's bytes are protobuf-c's for every subset of Fire's fields set, with edge values. */
START_TEST(test_pack_fire_bytes)
{
	Timerd__Response r = TIMERD__RESPONSE__INIT;
	Timerd__Fire f;
	Timerd__ProbeOrigin o = TIMERD__PROBE_ORIGIN__INIT;
	uint8_t payload[300];
	char lng[201];

	memset(payload, 0xa5, sizeof(payload));
	memset(lng, 'k', sizeof(lng) - 1);
	lng[sizeof(lng) - 1] = '\0';	/* 200 bytes: a 2-byte length */
	r.event = true;
	r.body_case = TIMERD__RESPONSE__BODY_FIRE;
	r.fire = &f;
	for (unsigned mask = 0; mask < 1u << 15; mask++)
		for (unsigned k = 0; k < 7; k += (mask & 7) ? 3 : 1) {
			pack_fire_set(&f, mask, k, payload, lng);
			pack_same(&r);
		}
	pack_fire_set(&f, 0x7fff, 2, payload, lng);
	o.pid = 42;
	f.origin = &o;	/* a probe's fire: protobuf-c packs the body */
	pack_same(&r);
}
END_TEST

/* Two strings protobuf-c would give alike (NULL and "" are both the default). */
static bool unpack_str_eq(const char *a, const char *b)
{
	return !strcmp(a ? a : "", b ? b : "");
}

/* Ours (unpack_request) and protobuf-c's decodes of one Arm agree. */
static void unpack_arm_eq(const Timerd__Arm *a, const Timerd__Arm *b)
{
	ck_assert_int_eq(a->when_case, b->when_case);
	if (a->when_case == TIMERD__ARM__WHEN_AFTER_NS)
		ck_assert_int_eq(a->after_ns, b->after_ns);
	else if (a->when_case == TIMERD__ARM__WHEN_AT_MONO_NS)
		ck_assert_int_eq(a->at_mono_ns, b->at_mono_ns);
	else if (a->when_case == TIMERD__ARM__WHEN_AT_UNIX_NS)
		ck_assert_int_eq(a->at_unix_ns, b->at_unix_ns);
	ck_assert_int_eq(a->period_ns, b->period_ns);
	ck_assert(unpack_str_eq(a->key, b->key) && unpack_str_eq(a->topic, b->topic) &&
		  unpack_str_eq(a->calendar, b->calendar));
	ck_assert_uint_eq(a->timer_id, b->timer_id);
	ck_assert_uint_eq(a->payload.len, b->payload.len);
	ck_assert(a->payload.len == 0 || !memcmp(a->payload.data, b->payload.data, a->payload.len));
	ck_assert_int_eq(!!a->notify, !!b->notify);
	ck_assert_int_eq(!!a->ephemeral, !!b->ephemeral);
	ck_assert_int_eq(a->misfire, b->misfire);
	ck_assert_uint_eq(b->base.n_unknown_fields, 0);
}

/*
 * unpack_request on n bytes at b: when it decodes them, protobuf-c must
 * decode them to the same request; returns whether it decoded them.
 */
static bool unpack_same(const uint8_t *b, size_t n)
{
	struct arena a;
	struct unpack_buf ub;
	Timerd__Request *pc = timerd__request__unpack(NULL, n, b);
	const Timerd__Request *ours;

	arena_init(&a);
	arena_limit_for(&a, n);
	if ((ours = unpack_request(b, n, &a, &ub)) != NULL) {
		ck_assert_msg(pc != NULL, "unpack_request took %zu bytes protobuf-c refuses", n);
		ck_assert_int_eq(ours->body_case, pc->body_case);
		ck_assert_uint_eq(pc->base.n_unknown_fields, 0);
		ck_assert_uint_eq(ours->id, pc->id);
		if (ours->body_case == TIMERD__REQUEST__BODY_ACK)
			ck_assert_uint_eq(ours->ack->delivery_id, pc->ack->delivery_id);
		else
			unpack_arm_eq(ours->arm, pc->arm);
	}
	if (pc)
		timerd__request__free_unpacked(pc, NULL);
	arena_destroy(&a);
	return ours != NULL;
}

/* Packs r, checks unpack_request takes it, then its truncations and manglings against protobuf-c. */
static void unpack_canonical(const Timerd__Request *r, unsigned *seed)
{
	uint8_t b[1024], m[1024];
	size_t n = timerd__request__pack(r, b);

	ck_assert_uint_lt(n, sizeof(b) - 8);
	ck_assert_msg(unpack_same(b, n), "a canonical request (body %d, %zu bytes) was declined", (int)r->body_case,
		      n);
	for (size_t cut = 0; cut < n; cut += cut < 32 ? 1 : 7)
		unpack_same(b, cut);	/* truncated (every cut in the first 32 bytes: the keys and lengths) */
	for (unsigned k = 0; k < 24; k++) {	/* one or two bytes mangled */
		memcpy(m, b, n);
		*seed = *seed * 1103515245u + 12345u;
		m[(*seed >> 8) % n] = (uint8_t)(*seed >> 16);
		if (k & 1)
			m[(*seed >> 3) % n] ^= (uint8_t)(*seed >> 24);
		unpack_same(m, n);
	}
	for (unsigned k = 0; k < 12; k++) {	/* 1-6 continuation bytes inserted: overlong keys and lengths */
		size_t at, run = 1 + k % 6;

		*seed = *seed * 1103515245u + 12345u;
		at = (*seed >> 8) % n;
		memcpy(m, b, at);
		memset(m + at, 0x80, run);
		memcpy(m + at + run, b + at, n - at);
		unpack_same(m, n + run);
	}
	b[n] = 0x08;	/* a trailing field (id again): protobuf-c's */
	b[n + 1] = 0x05;
	ck_assert(!unpack_same(b, n + 2));
}

/* The Ack fast path takes every canonical Ack, and on anything else agrees with protobuf-c or declines. */
START_TEST(test_unpack_ack)
{
	Timerd__Request r = TIMERD__REQUEST__INIT;
	Timerd__Ack a = TIMERD__ACK__INIT;
	unsigned seed = 1;

	r.body_case = TIMERD__REQUEST__BODY_ACK;
	r.ack = &a;
	for (uint64_t id = 0; id <= UINT64_MAX / 8; id = id * 7 + 1)	/* no wrap: stops below 2^64 */
		for (uint64_t did = 0; did <= UINT64_MAX / 12; did = did * 11 + 1) {
			r.id = id;
			a.delivery_id = did;
			unpack_canonical(&r, &seed);
		}
	{
		/* overlong varints (protobuf-c takes up to 10 bytes) and one past 64 bits */
		static const uint8_t over[] = { 0x08, 0x81, 0x80, 0x00, 0xea, 0x02, 0x03, 0x08, 0xff, 0x01 };
		static const uint8_t big[] = { 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
					       0xea, 0x02, 0x00 };
		static const uint8_t past[] = { 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02,
						0xea, 0x02, 0x00 };
		static const uint8_t twice[] = { 0xea, 0x02, 0x04, 0x08, 0x01, 0x08, 0x02 };	/* delivery_id twice */

		ck_assert(unpack_same(over, sizeof(over)));
		ck_assert(unpack_same(big, sizeof(big)));
		ck_assert(!unpack_same(past, sizeof(past)));
		ck_assert(!unpack_same(twice, sizeof(twice)));
	}
	{
		/* a key or a length prefix in more than 5 bytes: protobuf-c refuses the frame, so must this */
		static const uint8_t k6[] = { 0xea, 0x82, 0x80, 0x80, 0x80, 0x00, 0x02, 0x08, 0x05 };
		static const uint8_t ik6[] = { 0xea, 0x02, 0x07, 0x88, 0x80, 0x80, 0x80, 0x80, 0x00, 0x05 };
		static const uint8_t l6[] = { 0xea, 0x02, 0x82, 0x80, 0x80, 0x80, 0x80, 0x00, 0x08, 0x05 };
		static const uint8_t id6[] = { 0x88, 0x80, 0x80, 0x80, 0x80, 0x00, 0x07, 0xea, 0x02, 0x02, 0x08, 0x05 };
		static const uint8_t z10[] = { 0xea, 0x02, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00 };
		static const uint8_t s6[] = { 0x5a, 0x0a, 0x08, 0x01, 0x2a, 0x81, 0x80, 0x80, 0x80, 0x80, 0x00, 0x78 };

		ck_assert(!unpack_same(k6, sizeof(k6)));
		ck_assert(!unpack_same(ik6, sizeof(ik6)));
		ck_assert(!unpack_same(l6, sizeof(l6)));
		ck_assert(!unpack_same(id6, sizeof(id6)));
		ck_assert(!unpack_same(z10, sizeof(z10)));
		ck_assert(!unpack_same(s6, sizeof(s6)));
	}
}
END_TEST

/* The Arm fast path takes every canonical Arm (each subset of its fields), and agrees or declines on the rest. */
START_TEST(test_unpack_arm)
{
	static const int64_t iv[] = { 1, -1, INT64_MAX, INT64_MIN, 300 };
	Timerd__Request r = TIMERD__REQUEST__INIT;
	Timerd__Arm a;
	uint8_t payload[300];
	char lng[201];
	unsigned seed = 7;

	memset(payload, 0x5a, sizeof(payload));
	memset(lng, 'x', sizeof(lng) - 1);
	lng[sizeof(lng) - 1] = '\0';
	r.body_case = TIMERD__REQUEST__BODY_ARM;
	r.arm = &a;
	for (unsigned mask = 0; mask < 1u << 11; mask++) {
		int64_t v = iv[mask % (sizeof(iv) / sizeof(iv[0]))];

		timerd__arm__init(&a);
		r.id = mask & 1 ? (uint64_t)v : 0;
		if (mask & 2) {
			a.when_case = (Timerd__Arm__WhenCase)(1 + mask % 3);
			a.after_ns = v;	/* the union's members share it */
		}
		if (mask & 4) a.period_ns = v;
		if (mask & 8) a.key = mask & 16 ? lng : (char *)"job-1";
		if (mask & 16) a.timer_id = (uint64_t)v;
		if (mask & 32) a.topic = (char *)"jobs";
		if (mask & 64) {
			a.payload.data = payload;
			a.payload.len = mask & 128 ? 300 : 3;
		}
		if (mask & 128) a.notify = 1;
		if (mask & 256) a.ephemeral = 1;
		if (mask & 512) a.misfire = TIMERD__MISFIRE__MISFIRE_SKIP;
		if (mask & 1024) a.calendar = (char *)"*-*-* 09:00:00";
		unpack_canonical(&r, &seed);
	}
	{
		/* two members of `when` (protobuf-c: the last wins) and fields out of order: declined */
		static const uint8_t two[] = { 0x5a, 0x04, 0x08, 0x01, 0x10, 0x02 };
		static const uint8_t order[] = { 0x5a, 0x04, 0x20, 0x01, 0x08, 0x02 };
		static const uint8_t nobytes[] = { 0x5a, 0x02, 0x42, 0x00 };	/* empty payload */
		static const uint8_t empty[] = { 0x5a, 0x00 };			/* an Arm of defaults */

		ck_assert(!unpack_same(two, sizeof(two)));
		ck_assert(!unpack_same(order, sizeof(order)));
		ck_assert(!unpack_same(nobytes, sizeof(nobytes)));
		ck_assert(unpack_same(empty, sizeof(empty)));
	}
}
END_TEST

/* pack_response's bytes are protobuf-c's: replies, events, big ids, empty and unset bodies. */
START_TEST(test_pack_response_bytes)
{
	Timerd__Response r = TIMERD__RESPONSE__INIT;
	Timerd__Fire f = TIMERD__FIRE__INIT;
	Timerd__ArmReply arm = TIMERD__ARM_REPLY__INIT;
	Timerd__AckReply ack = TIMERD__ACK_REPLY__INIT;
	Timerd__Error e = TIMERD__ERROR__INIT;
	uint8_t payload[300];

	memset(payload, 7, sizeof(payload));
	pack_same(&r);	/* nothing set */
	r.id = 1;
	pack_same(&r);	/* no body */
	r.body_case = TIMERD__RESPONSE__BODY_ACK;
	r.ack = &ack;	/* an empty body */
	pack_same(&r);
	for (uint64_t id = 1; id; id = id < (UINT64_C(1) << 56) ? id * 131 : 0) {
		r.id = id;
		r.body_case = TIMERD__RESPONSE__BODY_ARM;
		r.arm = &arm;
		arm.timer_id = id * 3;
		arm.deadline_mono_ns = (int64_t)id;
		pack_same(&r);
		r.body_case = TIMERD__RESPONSE__BODY_ERROR;
		r.error = &e;
		e.code = TIMERD__ERROR_CODE__NOT_FOUND;
		e.message = (char *)"no such delivery";
		pack_same(&r);
	}
	r.id = 0;
	r.event = true;
	r.body_case = TIMERD__RESPONSE__BODY_FIRE;
	r.fire = &f;
	f.timer_id = UINT64_MAX;
	f.key = (char *)"job-1";
	f.topic = (char *)"jobs";
	f.payload.data = payload;
	for (size_t len = 0; len <= sizeof(payload); len += 50) {	/* body lengths of 1- and 2-byte varints */
		f.payload.len = len;
		f.deadline_unix_ns = -5;
		f.delivery_id = len + 1;
		f.attempt = 3;
		f.group = (char *)"billing";
		f.final = true;
		pack_same(&r);
	}
	r.fire = NULL;	/* a case set without its message: protobuf-c's own packing */
	pack_same(&r);
}
END_TEST

static Suite *proto_suite(void)
{
	Suite *s = suite_create("proto");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_frame_len);
	tcase_add_test(tc, test_roundtrip_arena);
	tcase_add_test(tc, test_arena_large);
	tcase_add_test(tc, test_unknown_op);
	tcase_add_test(tc, test_garbage);
	tcase_add_test(tc, test_duration_parse);
	tcase_add_test(tc, test_duration_format);
	tcase_add_test(tc, test_time_parse);
	suite_add_tcase(s, tc);
	tc = tcase_create("codec");
	tcase_add_test(tc, test_codec_arm_durable);
	tcase_add_test(tc, test_codec_timer_durable);
	tcase_add_test(tc, test_codec_fire_recovered);
	tcase_add_test(tc, test_codec_store_stats);
	tcase_add_test(tc, test_codec_errors);
	tcase_add_test(tc, test_codec_group_requests);
	tcase_add_test(tc, test_codec_group_replies);
	tcase_add_test(tc, test_codec_fire_delivery);
	tcase_add_test(tc, test_pack_response_shape);
	tcase_add_test(tc, test_pack_response_bytes);
	suite_add_tcase(s, tc);
	tc = tcase_create("fast-paths");	/* pack.c and unpack.c against protobuf-c: exhaustive, so slower (ASan) */
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_pack_fire_shape);
	tcase_add_test(tc, test_pack_fire_bytes);
	tcase_add_test(tc, test_pack_arm_reply_shape);
	tcase_add_test(tc, test_pack_arm_reply_bytes);
	tcase_add_test(tc, test_unpack_ack);
	tcase_add_test(tc, test_unpack_arm);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(proto_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
