/*
 * bench-cell.c -- timerd's cell (core/cell.h) beside its variants and peers,
 * in one run.
 *
 * The cell (4-word = 32-byte payload, the size of timerd's arm state) in
 * its three variants (claim, which timerd uses, and mpmc and latch from
 * bench/cell-variants.h) against a pthread mutex around a struct and
 * ConcurrencyKit's ck_sequence (with a mutex serialising writers):
 *
 *   cell.write     `threads` writers on the SAME cell, 0 or 1 reader beside;
 *                  lost_race_frac = share of writes that lost the race
 *                  (CELL_LOST: superseded by the concurrent winner).
 *   cell.read      one reader, 0 or 1 writer writing flat out beside;
 *                  retries_per_read = validation failures per snapshot;
 *                  torn = snapshots whose words disagreed (must be 0).
 *
 * Fairness: every implementation runs the same loop (one always-inlined
 * function specialised per implementation by a constant). bench/run-all
 * puts these figures in the "primitives" section beside bench-hazptr's.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "bench/cell-variants.h"

#ifdef HAVE_CK
#include <ck_sequence.h>
#endif

#define PROG		"bench-cell"
#define PC_WORDS	4	/* payload words: 32 bytes */
#define CELL_MAXT	4	/* worker threads per run, at most */

#define always_inline inline __attribute__((always_inline))

static int cell_status;		/* exit status: 1 once an invariant failed */

enum pc_impl { PC_MPMC, PC_LATCH, PC_CLAIM, PC_MUTEX, PC_CKSEQ };

/* One cell of the kind under test; a run uses one member. */
union pc_obj {
	struct {
		struct cell_mpmc c;
		_Atomic uint64_t buf[2 * PC_WORDS];
	} mpmc;
	struct {
		struct cell_latch c;
		_Atomic uint64_t buf[2 * PC_WORDS];
	} latch;
	struct {
		struct cell_claim c;
		_Atomic uint64_t buf[2 * PC_WORDS];
	} claim;
	struct {
		pthread_mutex_t mu;
		uint64_t w[PC_WORDS];
	} mutex;
#ifdef HAVE_CK
	struct {
		ck_sequence_t seq;
		_Atomic uint64_t w[PC_WORDS];
		pthread_mutex_t mu;	/* serialises writers */
	} ckseq;
#endif
};

static union pc_obj pc_obj cacheline_aligned;

/* Writes src into the cell; 1 if the write lost a race (superseded), else 0. */
static always_inline unsigned pc_write(enum pc_impl impl, union pc_obj *o, const uint64_t *src)
{
	switch (impl) {
	case PC_MPMC:
		return cell_mpmc_write(&o->mpmc.c, o->mpmc.buf, PC_WORDS, src) == CELL_LOST;
	case PC_LATCH:
		return cell_latch_write(&o->latch.c, o->latch.buf, PC_WORDS, src) == CELL_LOST;
	case PC_CLAIM:
		return cell_claim_write(&o->claim.c, o->claim.buf, PC_WORDS, src) == CELL_LOST;
	case PC_MUTEX:
		pthread_mutex_lock(&o->mutex.mu);
		memcpy(o->mutex.w, src, sizeof(o->mutex.w));
		pthread_mutex_unlock(&o->mutex.mu);
		return 0;
	case PC_CKSEQ:
#ifdef HAVE_CK
		pthread_mutex_lock(&o->ckseq.mu);
		ck_sequence_write_begin(&o->ckseq.seq);
		cell_copy_in(o->ckseq.w, src, PC_WORDS);
		ck_sequence_write_end(&o->ckseq.seq);
		pthread_mutex_unlock(&o->ckseq.mu);
#endif
		return 0;
	}
	return 0;
}

/* Reads a consistent snapshot into dst; returns the number of retries. */
static always_inline unsigned pc_read(enum pc_impl impl, union pc_obj *o, uint64_t *dst)
{
	unsigned r = 0;

	switch (impl) {
	case PC_MPMC:
		cell_mpmc_read(&o->mpmc.c, o->mpmc.buf, PC_WORDS, dst, &r);
		break;
	case PC_LATCH:
		cell_latch_read(&o->latch.c, o->latch.buf, PC_WORDS, dst, &r);
		break;
	case PC_CLAIM:
		cell_claim_read(&o->claim.c, o->claim.buf, PC_WORDS, dst, &r);
		break;
	case PC_MUTEX:
		pthread_mutex_lock(&o->mutex.mu);
		memcpy(dst, o->mutex.w, sizeof(o->mutex.w));
		pthread_mutex_unlock(&o->mutex.mu);
		break;
	case PC_CKSEQ:
#ifdef HAVE_CK
		for (;;) {
			unsigned v = ck_sequence_read_begin(&o->ckseq.seq);

			cell_copy_out(dst, o->ckseq.w, PC_WORDS);
			if (!ck_sequence_read_retry(&o->ckseq.seq, v))
				break;
			r++;
		}
#endif
		break;
	}
	return r;
}

/* 1 if a snapshot's words disagree (every write stores one value in all of them). */
static inline uint64_t pc_torn(const uint64_t *w)
{
	return (w[0] != w[1]) | (w[0] != w[2]) | (w[0] != w[3]);
}

/* Writer loop: writes an increasing value flat out; extra[0] = lost races. */
static always_inline void pc_writer(struct bench_thread *t, enum pc_impl impl)
{
	union pc_obj *o = t->arg;
	uint64_t src[PC_WORDS], v = (uint64_t)(t->id + 1) << 48, n = 0, lost = 0;

	bench_thread_start(t);
	while (bench_thread_running(t)) {
		for (unsigned i = 0; i < BENCH_BATCH; i++) {
			v++;
			for (unsigned k = 0; k < PC_WORDS; k++)
				src[k] = v;
			lost += pc_write(impl, o, src);
		}
		n += BENCH_BATCH;
	}
	bench_thread_done(t, n);
	t->extra[0] = (double)lost;
}

/* Reader loop: snapshots flat out; extra[0] = retries, extra[1] = torn snapshots. */
static always_inline void pc_reader(struct bench_thread *t, enum pc_impl impl)
{
	union pc_obj *o = t->arg;
	uint64_t dst[PC_WORDS], n = 0, retries = 0, torn = 0, sink = 0;

	bench_thread_start(t);
	while (bench_thread_running(t)) {
		for (unsigned i = 0; i < BENCH_BATCH; i++) {
			retries += pc_read(impl, o, dst);
			torn += pc_torn(dst);
			sink += dst[0];
		}
		n += BENCH_BATCH;
	}
	bench_thread_done(t, n);
	t->extra[0] = (double)retries;
	t->extra[1] = (double)torn;
	bench_sink(sink);
}

/* Resets the cell and writes one value, so readers always find a snapshot. */
static always_inline void pc_init(enum pc_impl impl, union pc_obj *o)
{
	static const uint64_t first[PC_WORDS] = { 1, 1, 1, 1 };

	memset(o, 0, sizeof(*o));
	if (impl == PC_MUTEX)
		pthread_mutex_init(&o->mutex.mu, NULL);
#ifdef HAVE_CK
	if (impl == PC_CKSEQ) {
		ck_sequence_init(&o->ckseq.seq);
		pthread_mutex_init(&o->ckseq.mu, NULL);
	}
#endif
	pc_write(impl, o, first);
}

/* Releases what pc_init() set up. */
static void pc_fini(enum pc_impl impl, union pc_obj *o)
{
	if (impl == PC_MUTEX)
		pthread_mutex_destroy(&o->mutex.mu);
#ifdef HAVE_CK
	if (impl == PC_CKSEQ)
		pthread_mutex_destroy(&o->ckseq.mu);
#endif
}

/* Per-implementation entry points (the loops above, specialised). */
#define PC_ENTRIES(name, impl)							\
	static void pc_writer_##name(struct bench_thread *t) { pc_writer(t, impl); }	\
	static void pc_reader_##name(struct bench_thread *t) { pc_reader(t, impl); }	\
	static void pc_init_##name(union pc_obj *o) { pc_init(impl, o); }

PC_ENTRIES(mpmc, PC_MPMC)
PC_ENTRIES(latch, PC_LATCH)
PC_ENTRIES(claim, PC_CLAIM)
PC_ENTRIES(mutex, PC_MUTEX)
#ifdef HAVE_CK
PC_ENTRIES(ckseq, PC_CKSEQ)
#endif

static const struct pc_desc {
	const char *name;
	enum pc_impl impl;
	void (*writer)(struct bench_thread *);
	void (*reader)(struct bench_thread *);
	void (*init)(union pc_obj *);
} pc_descs[] = {
	{ "mpmc", PC_MPMC, pc_writer_mpmc, pc_reader_mpmc, pc_init_mpmc },
	{ "latch", PC_LATCH, pc_writer_latch, pc_reader_latch, pc_init_latch },
	{ "claim", PC_CLAIM, pc_writer_claim, pc_reader_claim, pc_init_claim },
	{ "mutex", PC_MUTEX, pc_writer_mutex, pc_reader_mutex, pc_init_mutex },
#ifdef HAVE_CK
	{ "ck_sequence", PC_CKSEQ, pc_writer_ckseq, pc_reader_ckseq, pc_init_ckseq },
#endif
};

#define PC_NIMPL ARRAY_SIZE(pc_descs)

/* Per-repetition figures of one cell case. */
struct pc_result {
	double w_ns[BENCH_MAX_REPS], lost[BENCH_MAX_REPS];
	double r_ns[BENCH_MAX_REPS], retries[BENCH_MAX_REPS];
	double cpu[BENCH_MAX_REPS];
	uint64_t torn;
	unsigned retried;
};

/* One attempt of a cell case: what pc_attempt() needs. */
struct pc_try {
	const struct bench_opts *o;
	const struct pc_desc *d;
	unsigned writers;
	struct pc_result *res;
};

/* Runs writers + readers on a fresh cell of one kind; counts torn snapshots. */
static void pc_attempt(void *arg, struct bench_thread *t, unsigned n)
{
	struct pc_try *p = arg;

	p->d->init(&pc_obj);
	for (unsigned i = 0; i < n; i++) {
		t[i].fn = i < p->writers ? p->d->writer : p->d->reader;
		t[i].arg = &pc_obj;
	}
	bench_threads_run(p->o, t, n);
	pc_fini(p->d->impl, &pc_obj);
	for (unsigned i = p->writers; i < n; i++)
		p->res->torn += (uint64_t)t[i].extra[1];
}

/* Runs one repetition of writers + readers and records its figures. */
static void pc_run(struct bench_opts *o, const struct pc_desc *d, unsigned writers,
		   unsigned readers, struct pc_result *res, unsigned rep)
{
	struct bench_thread t[CELL_MAXT];
	struct pc_try p = { o, d, writers, res };
	unsigned n = writers + readers;
	double wops = 0, lost = 0, rops = 0, retries = 0;

	res->retried += bench_best_of(o, pc_attempt, &p, t, n);
	for (unsigned i = 0; i < n; i++) {
		if (i < writers) {
			wops += (double)t[i].ops;
			lost += t[i].extra[0];
		} else {
			rops += (double)t[i].ops;
			retries += t[i].extra[0];
		}
	}
	res->cpu[rep] = bench_cpu_frac(t, n);
	res->w_ns[rep] = bench_ns_per_op(t, writers);
	res->lost[rep] = wops > 0 ? lost / wops : 0;
	res->r_ns[rep] = bench_ns_per_op(t + writers, readers);
	res->retries[rep] = rops > 0 ? retries / rops : 0;
}

/* Prints the figures of one cell case for one implementation. */
static void pc_print(const struct bench_opts *o, const char *impl, unsigned writers,
		     unsigned readers, const struct pc_result *res)
{
	struct bench_json j;

	if (writers && bench_selected(o, "cell.write")) {
		bench_json_begin(&j, "cell.write", impl, writers);
		bench_json_uint(&j, "writers", writers);
		bench_json_uint(&j, "readers", readers);
		bench_json_ns(&j, res->w_ns, o->reps);
		bench_json_median(&j, "lost_race_frac", res->lost, o->reps);
		bench_json_cpu(&j, res->cpu, o->reps, res->retried);
		bench_json_end(&j);
	}
	if (readers && bench_selected(o, "cell.read")) {
		bench_json_begin(&j, "cell.read", impl, readers);
		bench_json_uint(&j, "writers", writers);
		bench_json_uint(&j, "readers", readers);
		bench_json_ns(&j, res->r_ns, o->reps);
		bench_json_median(&j, "retries_per_read", res->retries, o->reps);
		bench_json_uint(&j, "torn", res->torn);
		bench_json_cpu(&j, res->cpu, o->reps, res->retried);
		bench_json_end(&j);
	}
	if (res->torn) {
		fprintf(stderr, PROG ": %s: %llu torn snapshots: the cell is broken\n", impl,
			(unsigned long long)res->torn);
		cell_status = 1;
	}
}

/* Runs one cell case (writers + readers) for every implementation, reps interleaved. */
static void pc_case(struct bench_opts *o, unsigned writers, unsigned readers)
{
	static struct pc_result res[PC_NIMPL];

	if (!(writers && bench_selected(o, "cell.write")) &&
	    !(readers && bench_selected(o, "cell.read")))
		return;
	memset(res, 0, sizeof(res));
	for (unsigned r = 0; r < o->reps; r++)
		for (unsigned i = 0; i < PC_NIMPL; i++)
			pc_run(o, &pc_descs[i], writers, readers, &res[i], r);
	for (unsigned i = 0; i < PC_NIMPL; i++)
		pc_print(o, pc_descs[i].name, writers, readers, &res[i]);
}

/* All cell benches: 1 writer, 2 writers, writer + reader, lone reader. */
static void pc_bench_all(struct bench_opts *o)
{
	pc_case(o, 1, 0);
	pc_case(o, 2, 0);
	pc_case(o, 1, 1);
	pc_case(o, 0, 1);
}

/* Prints the payload size and which peers this build has (the table depends on it). */
static void cell_info(void)
{
	struct bench_json j = { .len = 0 };

	bench_json_str(&j, "bench", "info");
	bench_json_uint(&j, "payload_bytes", PC_WORDS * sizeof(uint64_t));
	bench_json_peers(&j);
	bench_json_end(&j);
}

int main(int argc, char **argv)
{
	struct bench_opts o;

	bench_opts_parse(&o, argc, argv, PROG);
	bench_meta(&o, PROG);
	cell_info();
	pc_bench_all(&o);
	return cell_status;
}
