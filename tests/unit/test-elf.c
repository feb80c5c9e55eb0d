/*
 * test-elf.c -- the ELF note parser of the probe loader on crafted
 * binaries (tests/fuzz/corpus/elf): a note whose n_descsz is near 2^32
 * wrapped the alignment round-up to 0, so the parser read past its
 * section and the error message carried bytes from beyond it ("SECRET").
 * Now such a note ends the walk; a good note is still found.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probe/probe-int.h"

/* The path of corpus file name. */
static const char *seed(const char *name)
{
	static char buf[4096];
	const char *top = getenv("top_srcdir");

	snprintf(buf, sizeof(buf), "%s/tests/fuzz/corpus/elf/%s", top ? top : ".", name);
	return buf;
}

START_TEST(test_good_note_found)
{
	char err[512] = "";

	ck_assert_msg(probe_elf_usdt(seed("usdt-note"), "prov", "name", err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(probe_elf_usdt(seed("usdt-note"), "prov", "other", err, sizeof(err)), -ENOENT);
	ck_assert_msg(strstr(err, "it has prov:name"), "%s", err);
}
END_TEST

START_TEST(test_wrapping_descsz_reads_nothing_beyond)
{
	char err[512] = "";

	ck_assert_int_eq(probe_elf_usdt(seed("wrap-note-descsz"), "prov", "name", err, sizeof(err)), -ENOENT);
	ck_assert_msg(!strstr(err, "SECRET"), "the message carries bytes from beyond the note section: %s", err);
}
END_TEST

START_TEST(test_wrapping_namesz_reads_nothing_beyond)
{
	char err[512] = "";

	ck_assert_int_eq(probe_elf_usdt(seed("wrap-note-namesz"), "prov", "name", err, sizeof(err)), -ENOENT);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("elf");
	TCase *tc = tcase_create("notes");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_good_note_found);
	tcase_add_test(tc, test_wrapping_descsz_reads_nothing_beyond);
	tcase_add_test(tc, test_wrapping_namesz_reads_nothing_beyond);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
