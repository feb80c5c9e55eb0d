/*
 * test-cell.c -- unit tests for core/cell.h, both variants.
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>

#include "bench/cell-variants.h"

#define N 4

/* Fills n words with v, v+1, ... */
static void fill(uint64_t *w, uint64_t v)
{
	for (int i = 0; i < N; i++)
		w[i] = v + (uint64_t)i;
}

START_TEST(test_mpmc_empty_reads_generation_zero)
{
	struct cell_mpmc c = { 0 };
	_Atomic uint64_t buf[2 * N] = { 0 };
	uint64_t out[N];
	_Atomic uint64_t last = 0;

	ck_assert_uint_eq(cell_mpmc_read(&c, buf, N, out, NULL), 0);
	ck_assert_int_eq(cell_consume(&last, 0), CELL_SEEN);
}
END_TEST

START_TEST(test_mpmc_write_read_generations)
{
	struct cell_mpmc c = { 0 };
	_Atomic uint64_t buf[2 * N] = { 0 };
	uint64_t in[N], out[N];

	for (uint64_t g = 1; g <= 5; g++) {
		fill(in, g * 100);
		ck_assert_int_eq(cell_mpmc_write(&c, buf, N, in), CELL_OK);
		ck_assert_uint_eq(cell_mpmc_read(&c, buf, N, out, NULL), g);
		ck_assert_uint_eq(cell_mpmc_gen(&c), g);
		for (int i = 0; i < N; i++)
			ck_assert_uint_eq(out[i], in[i]);
	}
}
END_TEST

START_TEST(test_mpmc_overlapping_writer_loses)
{
	struct cell_mpmc c = { 0 };
	_Atomic uint64_t buf[2 * N] = { 0 };
	uint64_t in[N], out[N];
	int idx;

	fill(in, 7);
	ck_assert_int_eq(cell_mpmc_write(&c, buf, N, in), CELL_OK);
	/* A writer is mid-write: a second writer must fail at once. */
	idx = cell_mpmc_write_begin(&c);
	ck_assert_int_ge(idx, 0);
	fill(in, 99);
	ck_assert_int_eq(cell_mpmc_write(&c, buf, N, in), CELL_LOST);
	/* Readers still see the last committed state, undisturbed. */
	ck_assert_uint_eq(cell_mpmc_read(&c, buf, N, out, NULL), 1);
	ck_assert_uint_eq(out[0], 7);
	cell_copy_in(buf + (size_t)idx * N, in, N);
	cell_mpmc_write_commit(&c);
	ck_assert_uint_eq(cell_mpmc_read(&c, buf, N, out, NULL), 2);
	ck_assert_uint_eq(out[0], 99);
	/* The cell is free again. */
	ck_assert_int_eq(cell_mpmc_write(&c, buf, N, in), CELL_OK);
}
END_TEST

START_TEST(test_latch_write_read_generations)
{
	struct cell_latch c = { 0 };
	_Atomic uint64_t buf[2 * N] = { 0 };
	uint64_t in[N], out[N];

	ck_assert_uint_eq(cell_latch_read(&c, buf, N, out, NULL), 0);
	for (uint64_t g = 1; g <= 5; g++) {
		fill(in, g * 10);
		ck_assert_int_eq(cell_latch_write(&c, buf, N, in), CELL_OK);
		ck_assert_uint_eq(cell_latch_read(&c, buf, N, out, NULL), g);
		ck_assert_uint_eq(cell_latch_gen(&c), g);
		for (int i = 0; i < N; i++)
			ck_assert_uint_eq(out[i], in[i]);
	}
}
END_TEST

START_TEST(test_latch_busy_writer_loses)
{
	struct cell_latch c = { 0 };
	_Atomic uint64_t buf[2 * N] = { 0 };
	uint64_t in[N], out[N];

	fill(in, 5);
	ck_assert_int_eq(cell_latch_write(&c, buf, N, in), CELL_OK);
	atomic_store(&c.busy, 1);	/* another writer holds the flag */
	fill(in, 6);
	ck_assert_int_eq(cell_latch_write(&c, buf, N, in), CELL_LOST);
	ck_assert_uint_eq(cell_latch_read(&c, buf, N, out, NULL), 1);
	ck_assert_uint_eq(out[0], 5);
	atomic_store(&c.busy, 0);
	ck_assert_int_eq(cell_latch_write(&c, buf, N, in), CELL_OK);
}
END_TEST

START_TEST(test_latch_odd_seq_reads_previous_copy)
{
	struct cell_latch c = { 0 };
	_Atomic uint64_t buf[2 * N] = { 0 };
	uint64_t in[N], out[N];

	fill(in, 40);
	ck_assert_int_eq(cell_latch_write(&c, buf, N, in), CELL_OK);
	/* Simulate a writer between its two copies: seq odd, copy 0 half new. */
	atomic_store(&c.busy, 1);
	cell_latch_bump(&c.seq);
	atomic_store(&buf[0], 12345);
	ck_assert_uint_eq(cell_latch_read(&c, buf, N, out, NULL), 1);
	for (int i = 0; i < N; i++)
		ck_assert_uint_eq(out[i], 40 + (uint64_t)i);
}
END_TEST

START_TEST(test_claim_write_read_and_lose)
{
	struct cell_claim c = { 0 };
	_Atomic uint64_t buf[2 * N] = { 0 };
	uint64_t in[N], out[N], s;
	int idx;

	ck_assert_uint_eq(cell_claim_read(&c, buf, N, out, NULL), 0);
	for (uint64_t g = 1; g <= 3; g++) {
		fill(in, g * 1000);
		ck_assert_int_eq(cell_claim_write(&c, buf, N, in), CELL_OK);
		ck_assert_uint_eq(cell_claim_read(&c, buf, N, out, NULL), g);
		ck_assert_uint_eq(out[0], g * 1000);
	}
	/* A writer is mid-write: its state is not readable and others lose. */
	idx = cell_claim_write_begin(&c, &s);
	ck_assert_int_ge(idx, 0);
	fill(in, 77);
	ck_assert_int_eq(cell_claim_write(&c, buf, N, in), CELL_LOST);
	cell_copy_in(buf + (size_t)idx * N, in, N);
	ck_assert_uint_eq(cell_claim_read(&c, buf, N, out, NULL), 3);	/* not yet */
	/* One store publishes the write and frees the cell together. */
	ck_assert_uint_eq(cell_claim_write_commit(&c, s), 4);
	ck_assert_uint_eq(cell_claim_read(&c, buf, N, out, NULL), 4);
	ck_assert_uint_eq(out[0], 77);
	ck_assert_int_eq(cell_claim_write(&c, buf, N, in), CELL_OK);
	ck_assert_uint_eq(cell_claim_gen(&c), 5);
}
END_TEST

/* The compare-and-write: claims only over the generation decided on; a newer one or an active writer says which. */
START_TEST(test_claim_write_at_generation)
{
	struct cell_claim c = { 0 };
	_Atomic uint64_t buf[2 * N] = { 0 };
	uint64_t in[N] = { 7, 8 }, out[N], s, s2, g;
	int idx;

	ck_assert_int_eq(cell_claim_write(&c, buf, N, in), CELL_OK);
	g = cell_claim_read(&c, buf, N, out, NULL);
	ck_assert_uint_eq(g, 1);
	/* another writer commits generation 2 after the decision on 1: decide again */
	in[0] = 9;
	ck_assert_int_eq(cell_claim_write(&c, buf, N, in), CELL_OK);
	ck_assert_int_eq(cell_claim_write_begin_at(&c, g, &s), -2);
	g = cell_claim_read(&c, buf, N, out, NULL);
	ck_assert_uint_eq(g, 2);
	ck_assert_uint_eq(out[0], 9);
	/* a writer active on 2: lost (ordered before it), nothing claimed */
	idx = cell_claim_write_begin(&c, &s2);
	ck_assert_int_ge(idx, 0);
	ck_assert_int_eq(cell_claim_write_begin_at(&c, g, &s), -1);
	in[0] = 10;
	cell_copy_in(buf + (size_t)idx * N, in, N);
	ck_assert_uint_eq(cell_claim_write_commit(&c, s2), 3);
	/* on the newest generation with no writer: claimed, and it commits the next one */
	g = cell_claim_read(&c, buf, N, out, NULL);
	ck_assert_uint_eq(out[0], 10);
	idx = cell_claim_write_begin_at(&c, g, &s);
	ck_assert_int_ge(idx, 0);
	in[0] = 11;
	cell_copy_in(buf + (size_t)idx * N, in, N);
	ck_assert_uint_eq(cell_claim_write_commit(&c, s), 4);
	ck_assert_uint_eq(cell_claim_read(&c, buf, N, out, NULL), 4);
	ck_assert_uint_eq(out[0], 11);
}
END_TEST

START_TEST(test_consume_once)
{
	_Atomic uint64_t last = 0;

	ck_assert_int_eq(cell_consume(&last, 1), CELL_APPLY);
	ck_assert_int_eq(cell_consume(&last, 1), CELL_SEEN);
	ck_assert_int_eq(cell_consume(&last, 3), CELL_APPLY);
	/* An older snapshot after a newer one was applied is stale. */
	ck_assert_int_eq(cell_consume(&last, 2), CELL_SEEN);
	ck_assert_uint_eq(atomic_load(&last), 3);
}
END_TEST

static Suite *cell_suite(void)
{
	Suite *s = suite_create("cell");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_mpmc_empty_reads_generation_zero);
	tcase_add_test(tc, test_mpmc_write_read_generations);
	tcase_add_test(tc, test_mpmc_overlapping_writer_loses);
	tcase_add_test(tc, test_latch_write_read_generations);
	tcase_add_test(tc, test_latch_busy_writer_loses);
	tcase_add_test(tc, test_latch_odd_seq_reads_previous_copy);
	tcase_add_test(tc, test_claim_write_read_and_lose);
	tcase_add_test(tc, test_claim_write_at_generation);
	tcase_add_test(tc, test_consume_once);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(cell_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
