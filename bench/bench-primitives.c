/*
 * bench-primitives.c -- timerd's core primitives beside their peers, in one run.
 *
 * Cell (core/cell.h, 4-word = 32-byte payload, the size of timerd's arm
 * state) against a pthread mutex around a struct and ConcurrencyKit's
 * ck_sequence (with a mutex serialising writers):
 *
 *   cell.write     `threads` writers on the SAME cell, 0 or 1 reader beside;
 *                  lost_race_frac = share of writes that lost the race
 *                  (CELL_LOST: superseded by the concurrent winner).
 *   cell.read      one reader, 0 or 1 writer writing flat out beside;
 *                  retries_per_read = validation failures per snapshot;
 *                  torn = snapshots whose words disagreed (must be 0).
 *
 * Hazard pointers (core/hazptr.h) in asymmetric (membarrier) and full-fence
 * mode against liburcu (memb and qsbr flavours), ck_hp and ck_epoch:
 *
 *   hazptr.protect protect + read + release of one shared pointer.
 *   hazptr.list10  hand-over-hand walk of a 10-node list: node i+1 is
 *                  protected from node i's next pointer, alternating two
 *                  slots (RCU/epoch: one read-side section around the walk).
 *   hazptr.retire  one updater replaces a shared object and retires the old
 *                  one while a reader keeps reading it; ns per retired object
 *                  including its reclamation (the run ends with a full drain:
 *                  hazptr_scan, rcu_barrier, ck_hp_purge, ck_epoch_barrier).
 *
 * Fairness: every implementation runs the same loop (one always-inlined
 * function specialised per implementation by a constant), the same pointer
 * loads (C11 acquire loads; what rcu_dereference and ck_pr_load_ptr compile
 * to on x86-64), and reads the protected object so nothing is optimised
 * away. liburcu is used with _LGPL_SOURCE (its inline read-side fast path).
 * qsbr readers report a quiescent state after every BENCH_BATCH (128) read
 * sections, as an event loop would once per iteration; the ck_epoch updater
 * polls once per 128 retirements, and ck_hp reclaims at 128 pending, as
 * timerd's hazptr does by default.
 */
#include "config.h"

#include <linux/membarrier.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bench/cell-variants.h"
#include "hazptr.h"

#include "bench/bench.h"

#ifdef HAVE_URCU
#define _LGPL_SOURCE 1
#include <urcu/urcu-memb.h>
#include <urcu/urcu-qsbr.h>
/*
 * <urcu/call-rcu.h> is included once, under the memb names, so the qsbr
 * flavour's call_rcu and rcu_barrier (exported by liburcu-qsbr) are
 * declared here.
 */
void urcu_qsbr_call_rcu(struct rcu_head *head, void (*func)(struct rcu_head *head));
void urcu_qsbr_barrier(void);
#endif

#ifdef HAVE_CK
#include <ck_epoch.h>
#include <ck_hp.h>
#include <ck_pr.h>
#include <ck_sequence.h>
#endif

#define PROG		"bench-primitives"
#define PC_WORDS	4	/* payload words: 32 bytes */
#define PRIM_MAXT	4	/* worker threads per run, at most */
#define RD_LIST		10	/* nodes in the hazptr.list10 list */
#define RD_THRESHOLD	128	/* ck_hp reclaim threshold (timerd's default R) */
#define RD_LIVE		0x11fe11fe11fe11feull
#define RD_DEAD		0xdeaddeaddeaddeadull

#define always_inline inline __attribute__((always_inline))

static int prim_status;		/* exit status: 1 once an invariant failed */

/* ------------------------------------------------------------------ cell */

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

/*
 * Runs writers + readers on a fresh cell of one kind, again while the
 * workers did not really run side by side (bench_retry()); keeps the
 * cleanest run in best.
 */
static void pc_attempts(struct bench_opts *o, const struct pc_desc *d, unsigned writers,
			unsigned n, struct pc_result *res, struct bench_thread *best)
{
	struct bench_thread t[PRIM_MAXT];
	double best_frac = -1;

	for (unsigned a = 0;; a++) {
		double frac;

		d->init(&pc_obj);
		memset(t, 0, sizeof(t));
		for (unsigned i = 0; i < n; i++) {
			t[i].fn = i < writers ? d->writer : d->reader;
			t[i].arg = &pc_obj;
		}
		bench_threads_run(o, t, n);
		pc_fini(d->impl, &pc_obj);
		for (unsigned i = writers; i < n; i++)
			res->torn += (uint64_t)t[i].extra[1];
		frac = bench_cpu_frac(t, n);
		if (frac > best_frac) {
			best_frac = frac;
			memcpy(best, t, sizeof(t));
		}
		if (!bench_retry(o, a, frac))
			break;
		res->retried++;
	}
}

/* Runs one repetition of writers + readers and records its figures. */
static void pc_run(struct bench_opts *o, const struct pc_desc *d, unsigned writers,
		   unsigned readers, struct pc_result *res, unsigned rep)
{
	struct bench_thread t[PRIM_MAXT];
	unsigned n = writers + readers;
	double wops = 0, lost = 0, rops = 0, retries = 0;

	pc_attempts(o, d, writers, n, res, t);
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
		prim_status = 1;
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

/* ------------------------------------------------- hazard pointers & peers */

enum rd_impl { RD_ASYM, RD_FENCE, RD_MEMB, RD_QSBR, RD_CKHP, RD_CKEPOCH };

/* A protected / retired object; the reclamation hook comes first for hazptr. */
struct rd_node {
	union {
		struct hazptr_node hp;	/* first: hazptr knows an object by its node */
#ifdef HAVE_URCU
		struct rcu_head rcu;
#endif
#ifdef HAVE_CK
		ck_hp_hazard_t ckhp;
		ck_epoch_entry_t cke;
#endif
	} u;
	void *_Atomic next;
	uint64_t val;
	uint64_t magic;		/* RD_LIVE, RD_DEAD once freed */
};

/* State shared by the threads of one run; reset by rd_setup(). */
static struct {
	void *_Atomic head cacheline_aligned;	/* hazptr.protect / retire */
	void *_Atomic list;			/* hazptr.list10 */
	struct rd_node nodes[RD_LIST];
	struct hazptr_domain dom;
	bool asymmetric;
	_Atomic uint64_t freed;		/* written by one freeing thread at a time */
#ifdef HAVE_CK
	ck_hp_t ckhp;
	ck_hp_record_t ckhp_rec[PRIM_MAXT];
	struct rd_ckhp_slots {
		void *ptr[2];	/* a thread's ck_hp slots, alone on their line */
	} cacheline_aligned ckhp_slots[PRIM_MAXT];
	ck_epoch_t cke;
	ck_epoch_record_t cke_rec[PRIM_MAXT];
#endif
} rd;

/* A worker's handle on the implementation under test. */
struct rd_ctx {
	struct hazptr_thread *hp;
#ifdef HAVE_CK
	ck_hp_record_t *ckhp;
	ck_epoch_record_t *cke;
#endif
};

/* Frees a node, poisoning it first; counts it (one freeing thread at a time). */
static void rd_free(struct rd_node *n)
{
	n->magic = RD_DEAD;
	free(n);
	/* relaxed load + store, no locked add: the frees of a run are serialised. */
	atomic_store_explicit(&rd.freed, atomic_load_explicit(&rd.freed, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

/* hazptr free function. */
static void rd_free_hp(struct hazptr_node *hn)
{
	rd_free(container_of(hn, struct rd_node, u.hp));
}

#ifdef HAVE_URCU
/* call_rcu callback. */
static void rd_free_rcu(struct rcu_head *h)
{
	rd_free(container_of(h, struct rd_node, u.rcu));
}
#endif

#ifdef HAVE_CK
/* ck_hp destructor (gets the data pointer given to ck_hp_free). */
static void rd_free_ckhp(void *p)
{
	rd_free(p);
}

/* ck_epoch callback. */
static void rd_free_cke(ck_epoch_entry_t *e)
{
	rd_free(container_of(e, struct rd_node, u.cke));
}
#endif

/* Allocates a live node holding v. */
static struct rd_node *rd_node_new(uint64_t v)
{
	struct rd_node *n = malloc(sizeof(*n));

	if (!n)
		bench_die(PROG ": out of memory");
	memset(n, 0, sizeof(*n));
	n->val = v;
	n->magic = RD_LIVE;
	return n;
}

/* Prepares the shared state of a run: domain / global record, objects. */
static void rd_setup(enum rd_impl impl)
{
	struct hazptr_config cfg = { .fence = impl == RD_FENCE ? HAZPTR_FENCE_FULL
							       : HAZPTR_FENCE_AUTO };
	struct hazptr_stats st;

	atomic_store(&rd.freed, 0);
	atomic_store(&rd.head, rd_node_new(0));
	for (unsigned i = 0; i < RD_LIST; i++) {
		rd.nodes[i].val = i;
		rd.nodes[i].magic = RD_LIVE;
		atomic_store(&rd.nodes[i].next, i + 1 < RD_LIST ? &rd.nodes[i + 1] : NULL);
	}
	atomic_store(&rd.list, &rd.nodes[0]);
	if (impl == RD_ASYM || impl == RD_FENCE) {
		int err = hazptr_domain_init(&rd.dom, &cfg);

		if (err)
			bench_die(PROG ": hazptr_domain_init: %s", strerror(-err));
		hazptr_stats(&rd.dom, &st);
		rd.asymmetric = st.asymmetric;
	}
#ifdef HAVE_CK
	if (impl == RD_CKHP) {
		memset(rd.ckhp_rec, 0, sizeof(rd.ckhp_rec));
		memset(rd.ckhp_slots, 0, sizeof(rd.ckhp_slots));
		ck_hp_init(&rd.ckhp, 2, RD_THRESHOLD, rd_free_ckhp);
	}
	if (impl == RD_CKEPOCH) {
		memset(rd.cke_rec, 0, sizeof(rd.cke_rec));
		ck_epoch_init(&rd.cke);
	}
#endif
}

/* Frees the run's shared object and domain (all workers have left). */
static void rd_teardown(enum rd_impl impl)
{
	rd_free(atomic_exchange(&rd.head, NULL));
	if (impl == RD_ASYM || impl == RD_FENCE)
		hazptr_domain_destroy(&rd.dom);
}

/*
 * Registers the calling worker (id < PRIM_MAXT) with the implementation. The
 * handle is returned by value so that it lives in registers, as a caller's
 * local `t = hazptr_thread_self(dom)` would.
 */
static struct rd_ctx rd_enter(enum rd_impl impl, unsigned id)
{
	struct rd_ctx c = { 0 };

	switch (impl) {
	case RD_ASYM:
	case RD_FENCE:
		c.hp = hazptr_thread_register(&rd.dom);
		if (!c.hp)
			bench_die(PROG ": hazptr_thread_register: out of memory");
		break;
	case RD_MEMB:
#ifdef HAVE_URCU
		urcu_memb_register_thread();
#endif
		break;
	case RD_QSBR:
#ifdef HAVE_URCU
		urcu_qsbr_register_thread();
#endif
		break;
	case RD_CKHP:
#ifdef HAVE_CK
		c.ckhp = &rd.ckhp_rec[id];
		ck_hp_register(&rd.ckhp, c.ckhp, rd.ckhp_slots[id].ptr);
#endif
		break;
	case RD_CKEPOCH:
#ifdef HAVE_CK
		c.cke = &rd.cke_rec[id];
		ck_epoch_register(&rd.cke, c.cke, NULL);
#endif
		break;
	}
	return c;
}

/* Unregisters the calling worker. */
static void rd_leave(enum rd_impl impl, struct rd_ctx c)
{
	switch (impl) {
	case RD_ASYM:
	case RD_FENCE:
		hazptr_thread_unregister(c.hp);
		break;
	case RD_MEMB:
#ifdef HAVE_URCU
		urcu_memb_unregister_thread();
#endif
		break;
	case RD_QSBR:
#ifdef HAVE_URCU
		urcu_qsbr_unregister_thread();
#endif
		break;
	case RD_CKHP:
#ifdef HAVE_CK
		ck_hp_clear(c.ckhp);
		ck_hp_unregister(c.ckhp);
#endif
		break;
	case RD_CKEPOCH:
#ifdef HAVE_CK
		ck_epoch_unregister(c.cke);
#endif
		break;
	}
}

/* Opens a read-side section (RCU, epoch); nothing for hazard pointers. */
static always_inline void rd_begin(enum rd_impl impl, struct rd_ctx *c)
{
#ifdef HAVE_URCU
	if (impl == RD_MEMB)
		urcu_memb_read_lock();
	if (impl == RD_QSBR)
		urcu_qsbr_read_lock();
#endif
#ifdef HAVE_CK
	if (impl == RD_CKEPOCH)
		ck_epoch_begin(c->cke, NULL);
#endif
}

/* Loads *src so that the object stays valid until rd_end(); hazard slot `slot`. */
static always_inline struct rd_node *rd_protect(enum rd_impl impl, struct rd_ctx *c,
						unsigned slot, void *_Atomic *src)
{
	switch (impl) {
	case RD_ASYM:
	case RD_FENCE:
		return hazptr_protect(c->hp, slot, src);
	case RD_CKHP:
#ifdef HAVE_CK
		/* As ck_hp_fifo: load, ck_hp_set_fence, re-validate. */
		for (;;) {
			/* relaxed: confirmed by the acquire re-load. */
			void *p = atomic_load_explicit(src, memory_order_relaxed);

			ck_hp_set_fence(c->ckhp, slot, p);
			/* acquire: the node's fields were initialised before its publication. */
			if (atomic_load_explicit(src, memory_order_acquire) == p)
				return p;
		}
#endif
		return NULL;
	case RD_MEMB:
	case RD_QSBR:
	case RD_CKEPOCH:
		/* acquire: rcu_dereference (consume); inside the read-side section. */
		return atomic_load_explicit(src, memory_order_acquire);
	}
	return NULL;
}

/* Ends the protection of slots 0..nslots-1 or the read-side section. */
static always_inline void rd_end(enum rd_impl impl, struct rd_ctx *c, unsigned nslots)
{
	switch (impl) {
	case RD_ASYM:
	case RD_FENCE:
		for (unsigned i = 0; i < nslots; i++)
			hazptr_release(c->hp, i);
		break;
	case RD_MEMB:
#ifdef HAVE_URCU
		urcu_memb_read_unlock();
#endif
		break;
	case RD_QSBR:
#ifdef HAVE_URCU
		urcu_qsbr_read_unlock();
#endif
		break;
	case RD_CKHP:
#ifdef HAVE_CK
		/* Orders the reads of the objects before the slots clear. */
		ck_pr_fence_release();
		for (unsigned i = 0; i < nslots; i++)
			ck_hp_set(c->ckhp, i, NULL);
#endif
		break;
	case RD_CKEPOCH:
#ifdef HAVE_CK
		ck_epoch_end(c->cke, NULL);
#endif
		break;
	}
}

/* After each batch of read sections: a qsbr reader reports a quiescent state. */
static always_inline void rd_reader_batch(enum rd_impl impl)
{
#ifdef HAVE_URCU
	if (impl == RD_QSBR)
		urcu_qsbr_quiescent_state();
#endif
}

/* One hazptr.protect operation: protect the head, read it, release. */
static always_inline uint64_t rd_op_one(enum rd_impl impl, struct rd_ctx *c, uint64_t *bad)
{
	struct rd_node *p;
	uint64_t v;

	rd_begin(impl, c);
	p = rd_protect(impl, c, 0, &rd.head);
	v = p->val;
	*bad += p->magic != RD_LIVE;
	rd_end(impl, c, 1);
	return v;
}

/* One hazptr.list10 operation: hand-over-hand walk, two alternating slots. */
static always_inline uint64_t rd_op_list(enum rd_impl impl, struct rd_ctx *c, uint64_t *bad)
{
	struct rd_node *p;
	uint64_t v;

	rd_begin(impl, c);
	p = rd_protect(impl, c, 0, &rd.list);
	v = p->val;
	for (unsigned k = 1; k < RD_LIST; k++) {
		p = rd_protect(impl, c, k & 1, &p->next);
		v += p->val;
	}
	*bad += p->magic != RD_LIVE;
	rd_end(impl, c, 2);
	return v;
}

/* Reader loop of one op kind; extra[0] = objects found freed (must be 0). */
static always_inline void rd_reader(struct bench_thread *t, enum rd_impl impl, bool list)
{
	struct rd_ctx c = rd_enter(impl, t->id);
	uint64_t n = 0, bad = 0, sink = 0;

	bench_thread_start(t);
	while (bench_thread_running(t)) {
		for (unsigned i = 0; i < BENCH_BATCH; i++)
			sink += list ? rd_op_list(impl, &c, &bad) : rd_op_one(impl, &c, &bad);
		n += BENCH_BATCH;
		rd_reader_batch(impl);
	}
	bench_thread_done(t, n);
	rd_leave(impl, c);
	t->extra[0] = (double)bad;
	bench_sink(sink);
}

/* Hands a replaced object to the implementation's reclamation. */
static always_inline void rd_retire(enum rd_impl impl, struct rd_ctx *c, struct rd_node *old)
{
	switch (impl) {
	case RD_ASYM:
	case RD_FENCE:
		hazptr_retire(c->hp, &old->u.hp, rd_free_hp);
		break;
	case RD_MEMB:
#ifdef HAVE_URCU
		urcu_memb_call_rcu(&old->u.rcu, rd_free_rcu);
#endif
		break;
	case RD_QSBR:
#ifdef HAVE_URCU
		urcu_qsbr_call_rcu(&old->u.rcu, rd_free_rcu);
#endif
		break;
	case RD_CKHP:
#ifdef HAVE_CK
		ck_hp_free(c->ckhp, &old->u.ckhp, old, old);
#endif
		break;
	case RD_CKEPOCH:
#ifdef HAVE_CK
		ck_epoch_call(c->cke, &old->u.cke, rd_free_cke);
#endif
		break;
	}
}

/* After each batch of retirements: qsbr reports a quiescent state, ck_epoch polls. */
static always_inline void rd_updater_batch(enum rd_impl impl, struct rd_ctx *c)
{
#ifdef HAVE_URCU
	if (impl == RD_QSBR)
		urcu_qsbr_quiescent_state();
#endif
#ifdef HAVE_CK
	if (impl == RD_CKEPOCH)
		ck_epoch_poll(c->cke);
#endif
}

/* Reclaims everything retired that no reader still holds (waits for RCU/epochs). */
static always_inline void rd_drain(enum rd_impl impl, struct rd_ctx *c)
{
	switch (impl) {
	case RD_ASYM:
	case RD_FENCE:
		hazptr_scan(c->hp);
		break;
	case RD_MEMB:
#ifdef HAVE_URCU
		urcu_memb_barrier();
#endif
		break;
	case RD_QSBR:
#ifdef HAVE_URCU
		urcu_qsbr_thread_offline();
		urcu_qsbr_barrier();
		urcu_qsbr_thread_online();
#endif
		break;
	case RD_CKHP:
#ifdef HAVE_CK
		ck_hp_purge(c->ckhp);
#endif
		break;
	case RD_CKEPOCH:
#ifdef HAVE_CK
		ck_epoch_barrier(c->cke);
#endif
		break;
	}
}

/* Updater loop: replace the shared object, retire the old one; drain at the end. */
static always_inline void rd_updater(struct bench_thread *t, enum rd_impl impl)
{
	struct rd_ctx c = rd_enter(impl, t->id);
	uint64_t n = 0;

	bench_thread_start(t);
	while (bench_thread_running(t)) {
		for (unsigned i = 0; i < BENCH_BATCH; i++) {
			struct rd_node *nn = rd_node_new(n + i);
			/* acq_rel: publishes nn initialised; takes the old one's contents. */
			struct rd_node *old = atomic_exchange_explicit(&rd.head, nn,
								       memory_order_acq_rel);

			rd_retire(impl, &c, old);
		}
		n += BENCH_BATCH;
		rd_updater_batch(impl, &c);
	}
	bench_thread_loop_end(t);	/* the drain may sleep: not part of the CPU check */
	rd_drain(impl, &c);
	bench_thread_done(t, n);
	rd_leave(impl, c);
}

/* Per-implementation entry points (the loops above, specialised). */
#define RD_ENTRIES(name, impl)								\
	static void rd_one_##name(struct bench_thread *t) { rd_reader(t, impl, false); }	\
	static void rd_list_##name(struct bench_thread *t) { rd_reader(t, impl, true); }	\
	static void rd_upd_##name(struct bench_thread *t) { rd_updater(t, impl); }

RD_ENTRIES(asym, RD_ASYM)
RD_ENTRIES(fence, RD_FENCE)
#ifdef HAVE_URCU
RD_ENTRIES(memb, RD_MEMB)
RD_ENTRIES(qsbr, RD_QSBR)
#endif
#ifdef HAVE_CK
RD_ENTRIES(ckhp, RD_CKHP)
RD_ENTRIES(cke, RD_CKEPOCH)
#endif

static const struct rd_desc {
	const char *name;
	enum rd_impl impl;
	void (*one)(struct bench_thread *);
	void (*list)(struct bench_thread *);
	void (*upd)(struct bench_thread *);
} rd_descs[] = {
	{ "timerd-asym", RD_ASYM, rd_one_asym, rd_list_asym, rd_upd_asym },
	{ "timerd-fence", RD_FENCE, rd_one_fence, rd_list_fence, rd_upd_fence },
#ifdef HAVE_URCU
	{ "urcu-memb", RD_MEMB, rd_one_memb, rd_list_memb, rd_upd_memb },
	{ "urcu-qsbr", RD_QSBR, rd_one_qsbr, rd_list_qsbr, rd_upd_qsbr },
#endif
#ifdef HAVE_CK
	{ "ck_hp", RD_CKHP, rd_one_ckhp, rd_list_ckhp, rd_upd_ckhp },
	{ "ck_epoch", RD_CKEPOCH, rd_one_cke, rd_list_cke, rd_upd_cke },
#endif
};

#define RD_NIMPL ARRAY_SIZE(rd_descs)

enum rd_kind { RD_PROTECT, RD_LIST10, RD_RETIRE };

static const char *const rd_bench_name[] = {
	[RD_PROTECT] = "hazptr.protect",
	[RD_LIST10] = "hazptr.list10",
	[RD_RETIRE] = "hazptr.retire",
};

/* Per-repetition figures of one hazptr case. */
struct rd_result {
	double ns[BENCH_MAX_REPS], reader_ns[BENCH_MAX_REPS], cpu[BENCH_MAX_REPS];
	uint64_t bad, leaked;
	unsigned retried;
	bool asymmetric;
};

/*
 * Runs `threads` readers (protect, list10) or one updater and one reader
 * (retire) on fresh state, checks that every object was freed and no
 * reader saw a freed one; again while the workers did not really run
 * side by side (bench_retry()). Keeps the cleanest run in best.
 */
static void rd_attempts(struct bench_opts *o, const struct rd_desc *d, enum rd_kind kind,
			unsigned n, struct rd_result *res, struct bench_thread *best)
{
	struct bench_thread t[PRIM_MAXT];
	double best_frac = -1;

	for (unsigned a = 0;; a++) {
		uint64_t made, freed;
		double frac;

		rd_setup(d->impl);
		memset(t, 0, sizeof(t));
		for (unsigned i = 0; i < n; i++)
			t[i].fn = kind == RD_LIST10 ? d->list : d->one;
		if (kind == RD_RETIRE)
			t[0].fn = d->upd;
		bench_threads_run(o, t, n);
		res->asymmetric = rd.asymmetric;
		for (unsigned i = kind == RD_RETIRE ? 1 : 0; i < n; i++)
			res->bad += (uint64_t)t[i].extra[0];
		made = kind == RD_RETIRE ? t[0].ops + 1 : 1;
		rd_teardown(d->impl);
		freed = atomic_load(&rd.freed);
		if (freed != made)
			res->leaked += made > freed ? made - freed : freed - made;
		frac = bench_cpu_frac(t, n);
		if (frac > best_frac) {
			best_frac = frac;
			memcpy(best, t, sizeof(t));
		}
		if (!bench_retry(o, a, frac))
			break;
		res->retried++;
	}
}

/* Runs one repetition of a hazptr case and records its figures. */
static void rd_run(struct bench_opts *o, const struct rd_desc *d, enum rd_kind kind,
		   unsigned threads, struct rd_result *res, unsigned rep)
{
	struct bench_thread t[PRIM_MAXT];
	unsigned n = kind == RD_RETIRE ? 2 : threads;

	rd_attempts(o, d, kind, n, res, t);
	res->cpu[rep] = bench_cpu_frac(t, n);
	if (kind == RD_RETIRE) {
		res->ns[rep] = bench_ns_per_op(t, 1);
		res->reader_ns[rep] = bench_ns_per_op(t + 1, 1);
	} else {
		res->ns[rep] = bench_ns_per_op(t, n);
	}
}

/* Prints the figures of one hazptr case for one implementation. */
static void rd_print(const struct bench_opts *o, const struct rd_desc *d, enum rd_kind kind,
		     unsigned threads, const struct rd_result *res)
{
	struct bench_json j;

	bench_json_begin(&j, rd_bench_name[kind], d->name, threads);
	if (kind == RD_RETIRE)
		bench_json_uint(&j, "readers", 1);
	bench_json_ns(&j, res->ns, o->reps);
	if (kind == RD_RETIRE)
		bench_json_median(&j, "reader_ns_per_op", res->reader_ns, o->reps);
	bench_json_cpu(&j, res->cpu, o->reps, res->retried);
	if (d->impl == RD_ASYM || d->impl == RD_FENCE)
		bench_json_bool(&j, "asymmetric", res->asymmetric);
#ifdef HAVE_URCU
	if (d->impl == RD_MEMB)
		bench_json_bool(&j, "membarrier", urcu_memb_has_sys_membarrier != 0);
#endif
	if (res->bad || res->leaked) {
		bench_json_uint(&j, "freed_seen", res->bad);
		bench_json_uint(&j, "leaked", res->leaked);
		fprintf(stderr, PROG ": %s %s: %llu freed objects seen, %llu not reclaimed\n",
			rd_bench_name[kind], d->name, (unsigned long long)res->bad,
			(unsigned long long)res->leaked);
		prim_status = 1;
	}
	bench_json_end(&j);
	if (d->impl == RD_ASYM && !res->asymmetric)
		fprintf(stderr, PROG ": warning: membarrier is unavailable, timerd-asym ran with "
			"full fences; check that the kernel has CONFIG_MEMBARRIER\n");
}

/* Runs one hazptr case for every implementation, reps interleaved. */
static void rd_case(struct bench_opts *o, enum rd_kind kind, unsigned threads)
{
	static struct rd_result res[RD_NIMPL];

	if (!bench_selected(o, rd_bench_name[kind]))
		return;
	memset(res, 0, sizeof(res));
	for (unsigned r = 0; r < o->reps; r++)
		for (unsigned i = 0; i < RD_NIMPL; i++)
			rd_run(o, &rd_descs[i], kind, threads, &res[i], r);
	for (unsigned i = 0; i < RD_NIMPL; i++)
		rd_print(o, &rd_descs[i], kind, threads, &res[i]);
}

/* All hazptr benches: read side at 1 and 2 readers, then retire. */
static void rd_bench_all(struct bench_opts *o)
{
	rd_case(o, RD_PROTECT, 1);
	rd_case(o, RD_PROTECT, 2);
	rd_case(o, RD_LIST10, 1);
	rd_case(o, RD_LIST10, 2);
	rd_case(o, RD_RETIRE, 1);
}

/* ------------------------------------------------------------ membarrier */

/* One membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED): what a scan pays in asymmetric mode. */
static int mb_call(void)
{
	return (int)syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0);
}

/* Calls membarrier flat out. */
static void mb_caller(struct bench_thread *t)
{
	uint64_t n = 0, failed = 0;

	bench_thread_start(t);
	while (bench_thread_running(t)) {
		for (unsigned i = 0; i < BENCH_BATCH; i++)
			failed += mb_call() != 0;
		n += BENCH_BATCH;
	}
	bench_thread_done(t, n);
	t->extra[0] = (double)failed;
}

/* Another running thread of the process: the membarrier must interrupt its CPU. */
static void mb_spinner(struct bench_thread *t)
{
	uint64_t n = 0;

	bench_thread_start(t);
	while (bench_thread_running(t)) {
		for (unsigned i = 0; i < BENCH_BATCH; i++)
			cpu_relax();
		n += BENCH_BATCH;
	}
	bench_thread_done(t, n);
}

/*
 * sys.membarrier: the cost of one expedited private membarrier with no other
 * thread running, and with one other thread of the process running (the
 * kernel then interrupts that thread's CPU).
 */
static void mb_bench(struct bench_opts *o)
{
	int mask = (int)syscall(__NR_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);

	if (!bench_selected(o, "sys.membarrier"))
		return;
	if (mask < 0 || !(mask & MEMBARRIER_CMD_PRIVATE_EXPEDITED) ||
	    syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) != 0) {
		fprintf(stderr, PROG ": membarrier(PRIVATE_EXPEDITED) is unavailable: "
			"sys.membarrier skipped\n");
		return;
	}
	for (unsigned others = 0; others <= 1; others++) {
		double v[BENCH_MAX_REPS], cpu[BENCH_MAX_REPS];
		unsigned retried = 0;
		struct bench_json j;

		for (unsigned r = 0; r < o->reps; r++) {
			struct bench_thread t[2];

			for (unsigned a = 0;; a++) {
				memset(t, 0, sizeof(t));
				t[0].fn = mb_caller;
				t[1].fn = mb_spinner;
				bench_threads_run(o, t, 1 + others);
				if (t[0].extra[0])
					bench_die(PROG ": membarrier failed after registration");
				cpu[r] = bench_cpu_frac(t, 1 + others);
				if (!bench_retry(o, a, cpu[r]))
					break;
				retried++;
			}
			v[r] = bench_ns_per_op(t, 1);
		}
		bench_json_begin(&j, "sys.membarrier", "private_expedited", 1);
		bench_json_uint(&j, "others_running", others);
		bench_json_ns(&j, v, o->reps);
		bench_json_cpu(&j, cpu, o->reps, retried);
		bench_json_end(&j);
	}
}

/* Prints which peers this build has (the rest of the table depends on it). */
static void prim_info(void)
{
	struct bench_json j = { .len = 0 };

	bench_json_str(&j, "bench", "info");
	bench_json_uint(&j, "payload_bytes", PC_WORDS * sizeof(uint64_t));
	bench_json_uint(&j, "batch", BENCH_BATCH);
#ifdef HAVE_URCU
	bench_json_bool(&j, "urcu", true);
#else
	bench_json_bool(&j, "urcu", false);
#endif
#ifdef HAVE_CK
	bench_json_bool(&j, "ck", true);
#else
	bench_json_bool(&j, "ck", false);
#endif
	bench_json_end(&j);
}

int main(int argc, char **argv)
{
	struct bench_opts o;

	bench_opts_parse(&o, argc, argv, PROG);
	bench_meta(&o, PROG);
	prim_info();
	pc_bench_all(&o);
	rd_bench_all(&o);
	mb_bench(&o);
	return prim_status;
}
