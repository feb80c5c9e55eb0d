/*
 * bench-hazptr.c -- timerd's hazard pointers (core/hazptr.h) beside their
 * peers, in one run, and the membarrier their asymmetric mode pays.
 *
 * Hazard pointers in asymmetric (membarrier) and full-fence mode against
 * liburcu (memb and qsbr flavours), ck_hp and ck_epoch:
 *
 *   hazptr.protect protect + read + release of one shared pointer.
 *   hazptr.list10  hand-over-hand walk of a 10-node list: node i+1 is
 *                  protected from node i's next pointer, alternating two
 *                  slots (RCU/epoch: one read-side section around the walk).
 *   hazptr.retire  one updater replaces a shared object and retires the old
 *                  one while a reader keeps reading it; ns per retired object
 *                  including its reclamation (the run ends with a full drain:
 *                  hazptr_scan, rcu_barrier, ck_hp_purge, ck_epoch_barrier).
 *   sys.membarrier one expedited private membarrier, with 0 or 1 other thread
 *                  running: what a scan pays in asymmetric mode.
 *
 * Fairness: every implementation runs the same loop (one always-inlined
 * function specialised per implementation by a constant), the same pointer
 * loads (C11 acquire loads; what rcu_dereference and ck_pr_load_ptr compile
 * to on x86-64), and reads the protected object so nothing is optimised
 * away. liburcu is used with _LGPL_SOURCE (its inline read-side fast path).
 * qsbr readers report a quiescent state after every BENCH_BATCH (128) read
 * sections, as an event loop would once per iteration; the ck_epoch updater
 * polls once per 128 retirements, and ck_hp reclaims at 128 pending, as
 * timerd's hazptr does by default. bench/run-all puts these figures in the
 * "primitives" section beside bench-cell's.
 */
#include "config.h"

#include <linux/membarrier.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

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
#endif

#define PROG		"bench-hazptr"
#define RD_MAXT		4	/* worker threads per run, at most */
#define RD_LIST		10	/* nodes in the hazptr.list10 list */
#define RD_THRESHOLD	128	/* ck_hp reclaim threshold (timerd's default R) */
#define RD_LIVE		0x11fe11fe11fe11feull
#define RD_DEAD		0xdeaddeaddeaddeadull

#define always_inline inline __attribute__((always_inline))

static int hazptr_bench_status;	/* exit status: 1 once an invariant failed */

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
	ck_hp_record_t ckhp_rec[RD_MAXT];
	struct rd_ckhp_slots {
		void *ptr[2];	/* a thread's ck_hp slots, alone on their line */
	} cacheline_aligned ckhp_slots[RD_MAXT];
	ck_epoch_t cke;
	ck_epoch_record_t cke_rec[RD_MAXT];
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
 * Registers the calling worker (id < RD_MAXT) with the implementation. The
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

/* One attempt of a hazptr case: what rd_attempt() needs. */
struct rd_try {
	const struct bench_opts *o;
	const struct rd_desc *d;
	enum rd_kind kind;
	struct rd_result *res;
};

/*
 * Runs `n` readers (protect, list10) or one updater and one reader
 * (retire) on fresh state; checks that every object was freed and no
 * reader saw a freed one.
 */
static void rd_attempt(void *arg, struct bench_thread *t, unsigned n)
{
	struct rd_try *p = arg;
	uint64_t made, freed;

	rd_setup(p->d->impl);
	for (unsigned i = 0; i < n; i++)
		t[i].fn = p->kind == RD_LIST10 ? p->d->list : p->d->one;
	if (p->kind == RD_RETIRE)
		t[0].fn = p->d->upd;
	bench_threads_run(p->o, t, n);
	p->res->asymmetric = rd.asymmetric;
	for (unsigned i = p->kind == RD_RETIRE ? 1 : 0; i < n; i++)
		p->res->bad += (uint64_t)t[i].extra[0];
	made = p->kind == RD_RETIRE ? t[0].ops + 1 : 1;
	rd_teardown(p->d->impl);
	freed = atomic_load_explicit(&rd.freed, memory_order_relaxed);	/* the workers were joined */
	if (freed != made)
		p->res->leaked += made > freed ? made - freed : freed - made;
}

/* Runs one repetition of a hazptr case and records its figures. */
static void rd_run(struct bench_opts *o, const struct rd_desc *d, enum rd_kind kind,
		   unsigned threads, struct rd_result *res, unsigned rep)
{
	struct bench_thread t[RD_MAXT];
	unsigned n = kind == RD_RETIRE ? 2 : threads;
	struct rd_try p = { o, d, kind, res };

	res->retried += bench_best_of(o, rd_attempt, &p, t, n);
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
		hazptr_bench_status = 1;
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

/* Runs the caller, and the spinner beside it if n is 2 (arg: the options). */
static void mb_attempt(void *arg, struct bench_thread *t, unsigned n)
{
	t[0].fn = mb_caller;
	if (n > 1)
		t[1].fn = mb_spinner;
	bench_threads_run(arg, t, n);
	if (t[0].extra[0])
		bench_die(PROG ": membarrier failed after registration");
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

			retried += bench_best_of(o, mb_attempt, o, t, 1 + others);
			cpu[r] = bench_cpu_frac(t, 1 + others);
			v[r] = bench_ns_per_op(t, 1);
		}
		bench_json_begin(&j, "sys.membarrier", "private_expedited", 1);
		bench_json_uint(&j, "others_running", others);
		bench_json_ns(&j, v, o->reps);
		bench_json_cpu(&j, cpu, o->reps, retried);
		bench_json_end(&j);
	}
}

/* Prints which peers this build has (the table depends on it). */
static void hazptr_bench_info(void)
{
	struct bench_json j = { .len = 0 };

	bench_json_str(&j, "bench", "info");
	bench_json_peers(&j);
	bench_json_end(&j);
}

int main(int argc, char **argv)
{
	struct bench_opts o;

	bench_opts_parse(&o, argc, argv, PROG);
	bench_meta(&o, PROG);
	hazptr_bench_info();
	rd_bench_all(&o);
	mb_bench(&o);
	return hazptr_bench_status;
}
