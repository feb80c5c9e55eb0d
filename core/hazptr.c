/*
 * hazptr.c -- hazard pointer domains: registration, retirement, scans and
 * the optional scanner thread. The reader fast path is inline in hazptr.h.
 */
#include "config.h"

#include <errno.h>
#include <linux/membarrier.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ctr.h"
#include "hazptr.h"

#define HAZPTR_DEFAULT_THRESHOLD 128
#define HAZPTR_STACK_HAZARDS	 256

/* Unique id per domain, so a thread's cached record never outlives its domain. */
static _Atomic uint64_t hazptr_domain_ids = 1;
static __thread struct {
	struct hazptr_domain *dom;
	uint64_t id;
	struct hazptr_thread *t;
} hazptr_tls;

static int hazptr_membarrier(int cmd)
{
	return (int)syscall(__NR_membarrier, cmd, 0, 0);
}

/* Registers for expedited private membarrier; true if it can be used. */
static bool hazptr_membarrier_setup(void)
{
	int mask = hazptr_membarrier(MEMBARRIER_CMD_QUERY);

	if (mask < 0 || !(mask & MEMBARRIER_CMD_PRIVATE_EXPEDITED))
		return false;
	return hazptr_membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
}

/* Orders every reader's earlier slot publication before the scan's slot reads. */
static void hazptr_scan_fence(struct hazptr_domain *d)
{
	if (!d->asymmetric) {
		/* Pairs with the seq_cst fence in hazptr_reader_fence(). */
		atomic_thread_fence(memory_order_seq_cst);
		return;
	}
	/* A full barrier on every running thread of this process (readers use a compiler barrier). */
	if (hazptr_membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0) {
		/* Readers rely on it: reclaiming without it could free a protected object. */
		fprintf(stderr, "hazptr: membarrier failed after registration: %s\n",
			strerror(errno));
		abort();
	}
	atomic_fetch_add_explicit(&d->membarriers, 1, memory_order_relaxed);
}

/* Current retire threshold R = max(configured, 2*H). */
static size_t hazptr_threshold(struct hazptr_domain *d)
{
	size_t h2 = 2 * (size_t)atomic_load_explicit(&d->nslots, memory_order_relaxed);

	return h2 > d->threshold ? h2 : d->threshold;
}

/* Pushes the list first..last onto a lock-free stack. */
static void hazptr_push(_Atomic(struct hazptr_node *) *head, struct hazptr_node *first,
			struct hazptr_node *last)
{
	struct hazptr_node *old = atomic_load_explicit(head, memory_order_relaxed);

	do {
		last->next = old;
		/* release: the list's links (and the objects' unlinking) precede the push. */
	} while (!atomic_compare_exchange_weak_explicit(head, &old, first,
							memory_order_release,
							memory_order_relaxed));
}

/* Appends every slot value of every record to *hz (growing it if needed). */
static size_t hazptr_collect(struct hazptr_domain *d, void ***hz, size_t *cap, bool *heap)
{
	size_t n = 0;

	for (struct hazptr_thread *t = atomic_load_explicit(&d->threads, memory_order_acquire);
	     t; t = t->next) {
		/* One load of the head for both walks: the owner may prepend a block meanwhile. */
		struct hazptr_block *blocks = atomic_load_explicit(&t->blocks, memory_order_acquire);
		size_t need = n + HAZPTR_SLOTS;

		for (struct hazptr_block *b = blocks; b; b = b->next)
			need += HAZPTR_EXTRA_BLOCK;
		if (need > *cap) {
			size_t ncap = need * 2;
			void **nhz = malloc(ncap * sizeof(*nhz));

			if (!nhz) {
				fprintf(stderr, "hazptr: out of memory during scan\n");
				abort();
			}
			memcpy(nhz, *hz, n * sizeof(*nhz));
			if (*heap)
				free(*hz);
			*hz = nhz;
			*cap = ncap;
			*heap = true;
		}
		for (unsigned i = 0; i < HAZPTR_SLOTS; i++) {
			/* acquire: after the scan fence, a published slot is seen. */
			void *p = atomic_load_explicit(&t->slot[i], memory_order_acquire);

			if (p)
				(*hz)[n++] = p;
		}
		for (struct hazptr_block *b = blocks; b; b = b->next)
			for (unsigned i = 0; i < HAZPTR_EXTRA_BLOCK; i++) {
				void *p = atomic_load_explicit(&b->slot[i].ptr,
							       memory_order_acquire);

				if (p)
					(*hz)[n++] = p;
			}
	}
	return n;
}

static int hazptr_ptr_cmp(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)*(void *const *)a, y = (uintptr_t)*(void *const *)b;

	return x < y ? -1 : x > y;
}

/* True if p is in the sorted hazard array. */
static bool hazptr_held(void **hz, size_t n, const void *p)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if ((uintptr_t)hz[mid] < (uintptr_t)p)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && hz[lo] == p;
}

/*
 * Frees every node of list no slot holds; returns the survivors (still
 * protected) through *keep and the number freed.
 */
static size_t hazptr_reclaim(struct hazptr_domain *d, struct hazptr_node *list,
			     struct hazptr_node **keep, size_t *nkeep)
{
	void *stack[HAZPTR_STACK_HAZARDS], **hz = stack;
	size_t cap = HAZPTR_STACK_HAZARDS, nhz, freed = 0;
	bool heap = false;

	hazptr_scan_fence(d);
	nhz = hazptr_collect(d, &hz, &cap, &heap);
	qsort(hz, nhz, sizeof(*hz), hazptr_ptr_cmp);
	*keep = NULL;
	*nkeep = 0;
	while (list) {
		struct hazptr_node *next = list->next;

		if (hazptr_held(hz, nhz, list)) {
			list->next = *keep;
			*keep = list;
			(*nkeep)++;
		} else {
			list->free_fn(list);
			freed++;
		}
		list = next;
	}
	if (heap)
		free(hz);
	atomic_fetch_add_explicit(&d->scans, 1, memory_order_relaxed);
	return freed;
}

/* Takes the orphan list, returning it and adjusting the orphan count. */
static struct hazptr_node *hazptr_take_orphans(struct hazptr_domain *d)
{
	struct hazptr_node *o;
	size_t n = 0;

	if (!atomic_load_explicit(&d->orphans, memory_order_relaxed))
		return NULL;
	/* acquire: pairs with the release push; the links are visible. */
	o = atomic_exchange_explicit(&d->orphans, NULL, memory_order_acquire);
	for (struct hazptr_node *p = o; p; p = p->next)
		n++;
	atomic_fetch_sub_explicit(&d->norphans, n, memory_order_relaxed);
	return o;
}

/* Hands a list to the orphan stack, for the next scan to adopt. */
static void hazptr_give_orphans(struct hazptr_domain *d, struct hazptr_node *list, size_t n)
{
	struct hazptr_node *last = list;

	if (!list)
		return;
	while (last->next)
		last = last->next;
	atomic_fetch_add_explicit(&d->norphans, n, memory_order_relaxed);
	hazptr_push(&d->orphans, list, last);
}

/* Appends list b to list a and returns the head. */
static struct hazptr_node *hazptr_concat(struct hazptr_node *a, struct hazptr_node *b)
{
	struct hazptr_node *p = a;

	if (!a)
		return b;
	while (p->next)
		p = p->next;
	p->next = b;
	return a;
}

void hazptr_scan(struct hazptr_thread *t)
{
	struct hazptr_domain *d = t->dom;
	struct hazptr_node *orphans = hazptr_take_orphans(d), *keep;
	size_t own = t->nretired, freed, nkeep;
	struct hazptr_node *list = hazptr_concat(t->retired, orphans);

	freed = hazptr_reclaim(d, list, &keep, &nkeep);
	t->retired = keep;
	t->nretired = nkeep;
	/* Reclaims beyond this thread's own retirements were orphans. */
	if (freed > own) {
		atomic_fetch_add_explicit(&d->orphan_reclaimed, freed - own, memory_order_relaxed);
		freed = own;
	}
	ctr_add(&t->pub_reclaimed, freed);
}

/* Hands the thread's batch to the scanner thread and wakes it. */
static void hazptr_hand_to_scanner(struct hazptr_thread *t)
{
	struct hazptr_domain *d = t->dom;
	struct hazptr_node *last = t->retired;

	while (last->next)
		last = last->next;
	atomic_fetch_add_explicit(&d->npending, t->nretired, memory_order_relaxed);
	hazptr_push(&d->pending, t->retired, last);
	t->retired = NULL;
	t->nretired = 0;
	pthread_mutex_lock(&d->scanner_mu);
	pthread_cond_signal(&d->scanner_cv);
	pthread_mutex_unlock(&d->scanner_mu);
}

void hazptr_retire(struct hazptr_thread *t, struct hazptr_node *obj,
		   void (*free_fn)(struct hazptr_node *))
{
	struct hazptr_domain *d = t->dom;
	size_t r;

	obj->free_fn = free_fn;
	obj->next = t->retired;
	t->retired = obj;
	t->nretired++;
	ctr_add(&t->pub_retired, 1);
	r = hazptr_threshold(d);
	if (t->nretired < r)
		return;
	if (d->scanner) {
		size_t nthreads = atomic_load_explicit(&d->nslots, memory_order_relaxed) /
				  HAZPTR_SLOTS;
		size_t cap = 4 * r * (nthreads ? nthreads : 1);

		/* The scanner keeps up: hand over. Otherwise scan here to keep the bound. */
		if (atomic_load_explicit(&d->npending, memory_order_relaxed) < cap) {
			hazptr_hand_to_scanner(t);
			return;
		}
	}
	hazptr_scan(t);
}

/* The scanner thread: one fence and one slot walk for all pending batches. */
static void *hazptr_scanner_main(void *arg)
{
	struct hazptr_domain *d = arg;

	for (;;) {
		struct hazptr_node *list, *keep;
		size_t n = 0, nkeep, freed;
		bool stop;

		pthread_mutex_lock(&d->scanner_mu);
		while (!d->scanner_stop &&
		       !atomic_load_explicit(&d->pending, memory_order_relaxed))
			pthread_cond_wait(&d->scanner_cv, &d->scanner_mu);
		stop = d->scanner_stop;
		pthread_mutex_unlock(&d->scanner_mu);
		/* acquire: pairs with the retiring thread's release push. */
		list = atomic_exchange_explicit(&d->pending, NULL, memory_order_acquire);
		for (struct hazptr_node *p = list; p; p = p->next)
			n++;
		list = hazptr_concat(list, hazptr_take_orphans(d));
		freed = hazptr_reclaim(d, list, &keep, &nkeep);
		atomic_fetch_add_explicit(&d->orphan_reclaimed, freed, memory_order_relaxed);
		atomic_fetch_sub_explicit(&d->npending, n, memory_order_relaxed);
		/* Survivors wait for a later scan as orphans. */
		hazptr_give_orphans(d, keep, nkeep);
		if (stop)
			return NULL;
	}
}

/* pthread key destructor: a thread that used hazptr_thread_self() exits. */
static void hazptr_self_exit(void *arg)
{
	/* POSIX clears the key's value before calling: unregister will not see it. */
	hazptr_thread_unregister(arg);
}

int hazptr_domain_init(struct hazptr_domain *d, const struct hazptr_config *cfg)
{
	static const struct hazptr_config defaults;
	int err;

	if (!cfg)
		cfg = &defaults;
	memset(d, 0, sizeof(*d));
	d->id = atomic_fetch_add_explicit(&hazptr_domain_ids, 1, memory_order_relaxed);
	d->threshold = cfg->retire_threshold ? cfg->retire_threshold : HAZPTR_DEFAULT_THRESHOLD;
	d->asymmetric = cfg->fence == HAZPTR_FENCE_AUTO && hazptr_membarrier_setup();
	d->scanner = cfg->scanner_thread;
	err = pthread_key_create(&d->self_key, hazptr_self_exit);
	if (err)
		return -err;
	if (!d->scanner)
		return 0;
	pthread_mutex_init(&d->scanner_mu, NULL);
	pthread_cond_init(&d->scanner_cv, NULL);
	err = pthread_create(&d->scanner_tid, NULL, hazptr_scanner_main, d);
	if (err) {
		pthread_key_delete(d->self_key);
		return -err;
	}
	return 0;
}

/* Frees a list of retired nodes unconditionally (no readers remain). */
static void hazptr_free_all(struct hazptr_node *list)
{
	while (list) {
		struct hazptr_node *next = list->next;

		list->free_fn(list);
		list = next;
	}
}

void hazptr_domain_destroy(struct hazptr_domain *d)
{
	struct hazptr_thread *t, *next;

	if (d->scanner) {
		pthread_mutex_lock(&d->scanner_mu);
		d->scanner_stop = true;
		pthread_cond_signal(&d->scanner_cv);
		pthread_mutex_unlock(&d->scanner_mu);
		pthread_join(d->scanner_tid, NULL);
		pthread_mutex_destroy(&d->scanner_mu);
		pthread_cond_destroy(&d->scanner_cv);
	}
	pthread_key_delete(d->self_key);
	/*
	 * acquire (all four): no thread uses the domain any more; these pair
	 * with the release that published each list, so its nodes are complete.
	 */
	hazptr_free_all(atomic_exchange_explicit(&d->pending, NULL, memory_order_acquire));
	hazptr_free_all(atomic_exchange_explicit(&d->orphans, NULL, memory_order_acquire));
	for (t = atomic_load_explicit(&d->threads, memory_order_acquire); t; t = next) {
		struct hazptr_block *b = atomic_load_explicit(&t->blocks, memory_order_acquire), *bn;

		next = t->next;
		hazptr_free_all(t->retired);
		for (; b; b = bn) {
			bn = b->next;
			free(b);
		}
		free(t);
	}
	memset(d, 0, sizeof(*d));
}

/* Claims an exited thread's record, or NULL if none is free. */
static struct hazptr_thread *hazptr_reuse(struct hazptr_domain *d)
{
	for (struct hazptr_thread *t = atomic_load_explicit(&d->threads, memory_order_acquire);
	     t; t = t->next) {
		int idle = 0;

		/* acquire: the previous owner's release of the record is complete. */
		if (atomic_compare_exchange_strong_explicit(&t->active, &idle, 1,
							    memory_order_acquire,
							    memory_order_relaxed))
			return t;
	}
	return NULL;
}

struct hazptr_thread *hazptr_thread_register(struct hazptr_domain *d)
{
	struct hazptr_thread *t = hazptr_reuse(d), *head;

	if (t)
		return t;
	t = aligned_alloc(CACHELINE, (sizeof(*t) + CACHELINE - 1) / CACHELINE * CACHELINE);
	if (!t)
		return NULL;
	memset(t, 0, sizeof(*t));
	t->dom = d;
	t->full_fence = !d->asymmetric;
	atomic_store_explicit(&t->active, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&d->nslots, HAZPTR_SLOTS, memory_order_relaxed);
	head = atomic_load_explicit(&d->threads, memory_order_relaxed);
	do {
		t->next = head;
		/* release: the record is initialised before scanners can reach it. */
	} while (!atomic_compare_exchange_weak_explicit(&d->threads, &head, t,
							memory_order_release,
							memory_order_relaxed));
	return t;
}

void hazptr_thread_unregister(struct hazptr_thread *t)
{
	struct hazptr_domain *d = t->dom;

	for (unsigned i = 0; i < HAZPTR_SLOTS; i++)
		hazptr_release(t, i);
	if (t->retired)
		hazptr_scan(t);
	/* What is still protected by other threads is adopted by a later scan. */
	hazptr_give_orphans(d, t->retired, t->nretired);
	t->retired = NULL;
	t->nretired = 0;
	if (hazptr_tls.t == t)
		hazptr_tls.dom = NULL;
	/* A record registered by hazptr_thread_self() must not be unregistered twice. */
	if (pthread_getspecific(d->self_key) == t)
		pthread_setspecific(d->self_key, NULL);
	/* release: the record's state is final before another thread claims it. */
	atomic_store_explicit(&t->active, 0, memory_order_release);
}

struct hazptr_thread *hazptr_thread_self(struct hazptr_domain *d)
{
	struct hazptr_thread *t;

	if (likely(hazptr_tls.dom == d && hazptr_tls.id == d->id))
		return hazptr_tls.t;
	t = pthread_getspecific(d->self_key);
	if (!t) {
		t = hazptr_thread_register(d);
		if (!t)
			return NULL;
		pthread_setspecific(d->self_key, t);
	}
	hazptr_tls.dom = d;
	hazptr_tls.id = d->id;
	hazptr_tls.t = t;
	return t;
}

struct hazptr_slot *hazptr_slot_get(struct hazptr_thread *t)
{
	struct hazptr_slot *s = t->free_extra;
	struct hazptr_block *b;

	if (s) {
		t->free_extra = s->next_free;
		return s;
	}
	b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	for (unsigned i = 1; i < HAZPTR_EXTRA_BLOCK; i++) {
		b->slot[i].next_free = t->free_extra;
		t->free_extra = &b->slot[i];
	}
	b->next = atomic_load_explicit(&t->blocks, memory_order_relaxed);
	/* release: the zeroed block is visible before scanners walk it. */
	atomic_store_explicit(&t->blocks, b, memory_order_release);
	atomic_fetch_add_explicit(&t->dom->nslots, HAZPTR_EXTRA_BLOCK, memory_order_relaxed);
	return &b->slot[0];
}

void hazptr_slot_put(struct hazptr_thread *t, struct hazptr_slot *s)
{
	hazptr_release_slot(s);
	s->next_free = t->free_extra;
	t->free_extra = s;
}

void hazptr_stats(struct hazptr_domain *d, struct hazptr_stats *st)
{
	memset(st, 0, sizeof(*st));
	for (struct hazptr_thread *t = atomic_load_explicit(&d->threads, memory_order_acquire);
	     t; t = t->next) {
		st->retired += atomic_load_explicit(&t->pub_retired, memory_order_relaxed);
		st->reclaimed += atomic_load_explicit(&t->pub_reclaimed, memory_order_relaxed);
	}
	st->reclaimed += atomic_load_explicit(&d->orphan_reclaimed, memory_order_relaxed);
	st->pending = st->retired > st->reclaimed ? st->retired - st->reclaimed : 0;
	st->scans = atomic_load_explicit(&d->scans, memory_order_relaxed);
	st->membarriers = atomic_load_explicit(&d->membarriers, memory_order_relaxed);
	st->slots = atomic_load_explicit(&d->nslots, memory_order_relaxed);
	st->asymmetric = d->asymmetric;
}
