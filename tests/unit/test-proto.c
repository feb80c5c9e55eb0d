/*
 * test-proto.c -- the wire contract: framing, decoding with the arena,
 * unknown operations, garbage; duration and RFC 3339 parsing.
 */
#include "config.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/arena.h"
#include "proto/frame.h"
#include "proto/timerd.pb-c.h"
#include "proto/units.h"

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

/* Builds the suite. */
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
