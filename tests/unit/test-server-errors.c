/*
 * test-server-errors.c -- errors at the daemon boundary: every TD_* code
 * maps to a defined wire ErrorCode, every wire code is counted in its own
 * ServerStats counter (NO_MEMORY, SYSTEM and BUSY are not field
 * validation), every loop counter is a ServerStats field; td_errf and
 * srv_mkdirs, the helpers defined once.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/srv.h"

/* Every TD_* code of core/err.h, from its X-macro (TD_ERANGE_END excluded below). */
#define ERR_TD(name, num, msg) { name, #name },
static const struct { int code; const char *name; } err_td[] = { TD_ERRORS(ERR_TD) };
#undef ERR_TD

/* Every loop counter by name, from SRV_LOOP_COUNTERS. */
#define ERR_CTR(n) { offsetof(struct loop_counters, n), #n },
static const struct { size_t off; const char *name; } err_ctrs[] = { SRV_LOOP_COUNTERS(ERR_CTR) };
#undef ERR_CTR

/* The counter each wire code must land in, by the proto's documentation. */
static const struct { const char *code, *counter; } err_want[] = {
	{ "OK", "err_other" },
	{ "INVALID", "err_invalid" },
	{ "DEADLINE", "err_invalid" },
	{ "OVERFLOW", "err_invalid" },
	{ "PERIOD", "err_invalid" },
	{ "KEY_TOO_LONG", "err_invalid" },
	{ "TOPIC_TOO_LONG", "err_invalid" },
	{ "PAYLOAD_TOO_LARGE", "err_payload_too_large" },
	{ "FULL", "err_full" },
	{ "NOT_FOUND", "err_not_found" },
	{ "NO_MEMORY", "err_no_memory" },
	{ "SYSTEM", "err_system" },
	{ "BUSY", "err_busy" },
	{ "STORAGE", "err_storage" },
	{ "KEY_AND_ID", "err_invalid" },
	{ "VERSION", "err_other" },
	{ "MALFORMED", "err_malformed" },
	{ "UNKNOWN_OP", "err_unknown_op" },
	{ "FRAME_TOO_LARGE", "err_frame_too_large" },
	{ "TOO_MANY_INFLIGHT", "err_too_many_inflight" },
	{ "TOO_MANY_CONNECTIONS", "err_other" },
	{ "PERMISSION", "err_permission" },
	{ "UNAVAILABLE", "err_other" },
	{ "SHUTTING_DOWN", "err_other" },
	{ "TOO_MANY_WATCHES", "err_other" },
	{ "TIMEOUT", "err_other" },
	{ "CONFLICT", "err_other" },
	{ "UNAUTHENTICATED", "err_unauthenticated" },
	{ "RATE_LIMITED", "err_rate_limited" },
};

/* The name of the loop counter at c inside ctr, or NULL. */
static const char *err_ctr_name(const struct loop_counters *ctr, const _Atomic uint64_t *c)
{
	size_t off = (size_t)((const char *)c - (const char *)ctr);

	for (size_t i = 0; i < sizeof(err_ctrs) / sizeof(err_ctrs[0]); i++)
		if (err_ctrs[i].off == off)
			return err_ctrs[i].name;
	return NULL;
}

/* The counter a wire code should land in (err_want), or NULL if the table lacks it. */
static const char *err_want_counter(const char *code)
{
	for (size_t i = 0; i < sizeof(err_want) / sizeof(err_want[0]); i++)
		if (strcmp(err_want[i].code, code) == 0)
			return err_want[i].counter;
	return NULL;
}

START_TEST(test_td_to_wire)
{
	const ProtobufCEnumDescriptor *d = &timerd__error_code__descriptor;
	int seen[sizeof(err_td) / sizeof(err_td[0])];
	size_t n = 0;

	for (size_t i = 0; i < sizeof(err_td) / sizeof(err_td[0]); i++) {
		int code = err_td[i].code;
		Timerd__ErrorCode w;

		if (code == TD_ERANGE_END)
			continue;
		w = errmap_wire(code);
		ck_assert_msg(protobuf_c_enum_descriptor_get_value(d, (int)w), "%s maps to %d, not a defined ErrorCode",
			      err_td[i].name, (int)w);
		ck_assert_msg((code == TD_OK) == (w == TIMERD__ERROR_CODE__OK), "%s maps to %s", err_td[i].name,
			      protobuf_c_enum_descriptor_get_value(d, (int)w)->name);
		if (code == TD_EMEMLIMIT) {	/* issue 12: the budget is NO_MEMORY on the wire, as out of memory is */
			ck_assert_int_eq(w, TIMERD__ERROR_CODE__NO_MEMORY);
			continue;
		}
		if (code == TD_EQUOTA) {	/* an identity's max-timers is FULL (rpc.c names the quota; max-memory: NO_MEMORY) */
			ck_assert_int_eq(w, TIMERD__ERROR_CODE__FULL);
			continue;
		}
		for (size_t j = 0; j < n; j++)
			ck_assert_msg(seen[j] != (int)w, "%s maps to %s, as another TD_* code does", err_td[i].name,
				      protobuf_c_enum_descriptor_get_value(d, (int)w)->name);
		seen[n++] = (int)w;
	}
	ck_assert_uint_eq(n, sizeof(err_td) / sizeof(err_td[0]) - 3);
	/* the pairs the daemon relies on, by name */
	ck_assert_int_eq(errmap_wire(TD_ENOENT), TIMERD__ERROR_CODE__NOT_FOUND);
	ck_assert_int_eq(errmap_wire(TD_EFULL), TIMERD__ERROR_CODE__FULL);
	ck_assert_int_eq(errmap_wire(TD_ENOMEM), TIMERD__ERROR_CODE__NO_MEMORY);
	ck_assert_int_eq(errmap_wire(TD_ETOOMANY), TIMERD__ERROR_CODE__TOO_MANY_WATCHES);
	/* outside the table: an internal error, never a wire code by coincidence */
	ck_assert_int_eq(errmap_wire(TD_ERANGE_END), TIMERD__ERROR_CODE__SYSTEM);
	ck_assert_int_eq(errmap_wire(-1000), TIMERD__ERROR_CODE__SYSTEM);
	ck_assert_int_eq(errmap_wire(7), TIMERD__ERROR_CODE__SYSTEM);
}
END_TEST

START_TEST(test_counter_per_code)
{
	const ProtobufCEnumDescriptor *d = &timerd__error_code__descriptor;
	struct loop_counters ctr;

	ck_assert_uint_eq(d->n_values, sizeof(err_want) / sizeof(err_want[0]));
	for (unsigned i = 0; i < d->n_values; i++) {
		const ProtobufCEnumValue *v = &d->values[i];
		const char *want = err_want_counter(v->name), *got;

		ck_assert_msg(want, "ErrorCode %s has no expected counter in this test: add it", v->name);
		got = err_ctr_name(&ctr, errmap_counter(&ctr, (Timerd__ErrorCode)v->value));
		ck_assert_msg(got && strcmp(got, want) == 0, "ErrorCode %s is counted in %s, not %s", v->name,
			      got ? got : "(not a loop counter)", want);
	}
	/* a code this build does not know */
	ck_assert_str_eq(err_ctr_name(&ctr, errmap_counter(&ctr, (Timerd__ErrorCode)999)), "err_other");
}
END_TEST

START_TEST(test_counters_are_fields)
{
	for (size_t i = 0; i < sizeof(err_ctrs) / sizeof(err_ctrs[0]); i++)
		ck_assert_msg(protobuf_c_message_descriptor_get_field_by_name(&timerd__server_stats__descriptor,
									       err_ctrs[i].name),
			      "loop counter %s is not a ServerStats field", err_ctrs[i].name);
}
END_TEST

START_TEST(test_td_errf)
{
	char err[16];

	ck_assert_int_eq(td_errf(err, sizeof(err), "%s %d", "code", 42), -1);
	ck_assert_str_eq(err, "code 42");
	ck_assert_int_eq(td_errf(err, sizeof(err), "%s", "a message longer than the buffer"), -1);
	ck_assert_uint_eq(strlen(err), sizeof(err) - 1);
	ck_assert_int_eq(td_errf(NULL, 0, "no buffer %d", 1), -1);
	ck_assert_int_eq(td_errf(err, 0, "no room %d", 1), -1);
}
END_TEST

START_TEST(test_mkdirs)
{
	char base[] = "/tmp/test-server-errors.XXXXXX", path[256], file[256];
	struct stat st;

	ck_assert_ptr_nonnull(mkdtemp(base));
	snprintf(path, sizeof(path), "%s/a/b/c", base);
	ck_assert_int_eq(srv_mkdirs(path, 0750), 0);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	ck_assert_int_eq(srv_mkdirs(path, 0750), 0);	/* already there */
	snprintf(file, sizeof(file), "%s/f", base);
	fclose(fopen(file, "w"));
	snprintf(path, sizeof(path), "%s/f/x", base);
	ck_assert_int_eq(srv_mkdirs(path, 0750), -1);	/* a component is a file */
	ck_assert_int_eq(errno, ENOTDIR);
	unlink(file);
	snprintf(path, sizeof(path), "rm -r '%s'", base);
	ck_assert_int_eq(system(path), 0);
}
END_TEST

/* Builds the suite. */
static Suite *errors_suite(void)
{
	Suite *s = suite_create("server-errors");
	TCase *tc = tcase_create("errors");

	tcase_add_test(tc, test_td_to_wire);
	tcase_add_test(tc, test_counter_per_code);
	tcase_add_test(tc, test_counters_are_fields);
	tcase_add_test(tc, test_td_errf);
	tcase_add_test(tc, test_mkdirs);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(errors_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
