/*
 * engine.c -- the producer side of the engine: arm, cancel, get, list and
 * stats, callable from any thread. The dispatcher is in dispatch.c.
 *
 * The arm path: validate; look the timer up (hazard pointer, no lock);
 * write the new state into its cell; queue it for the dispatcher unless it
 * is already queued. A new timer is created, its cell written, inserted in
 * the tables under a shard lock and queued. The QUEUED and DEAD flags live
 * in one word, so a producer's fetch_or(QUEUED) and the dispatcher's
 * fetch_or(DEAD) are totally ordered: either the producer sees DEAD (and
 * retries on a live timer) or the dispatcher sees the producer's newer
 * generation (and keeps the timer). See doc/architecture.md.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "cal/cal.h"
#include "engine_int.h"
#include "spin.h"

#define ENGINE_DEFAULT_MAX_TIMERS (UINT64_C(16) << 20)
#define ENGINE_DEFAULT_MAX_KEY	  256
#define ENGINE_DEFAULT_MAX_TOPIC  128
#define ENGINE_DEFAULT_MAX_PAYLOAD (64u << 10)
#define ENGINE_DEFAULT_MAX_INFLIGHT (1u << 20)
#define ENGINE_RETIRE_BATCH 1024
/* Most timers: half the id slots, so ids held in thread caches and freed batches never run out first. */
#define ENGINE_MAX_TIMERS (IDMAP_MAX_SLOTS / 2)

_Static_assert(ENGINE_MAX_KEY <= UINT16_MAX, "timer_rec.keylen (16 bits) holds every key length");
_Static_assert(sizeof(((struct timer_rec *)0)->keylen) == sizeof(uint16_t),
	       "ENGINE_MAX_KEY assumes a 16-bit timer_rec.keylen");
_Static_assert(ENGINE_DEFAULT_MAX_KEY <= ENGINE_MAX_KEY, "default key limit within the maximum");
_Static_assert(ENGINE_DEFAULT_MAX_TIMERS <= ENGINE_MAX_TIMERS, "default timer limit within the id map");

static _Atomic uint64_t engine_uids = 1;

static __thread struct {
	struct engine *e;
	uint64_t uid;
	struct engine_tctx ctx;
} engine_tls;

/* System CLOCK_MONOTONIC in ns. */
static int64_t engine_sys_mono(void *arg)
{
	struct timespec ts;

	(void)arg;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * ENGINE_NS_PER_S + ts.tv_nsec;
}

/* System CLOCK_REALTIME in ns. */
static int64_t engine_sys_real(void *arg)
{
	struct timespec ts;

	(void)arg;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * ENGINE_NS_PER_S + ts.tv_nsec;
}

int64_t engine_now(struct engine *e)
{
	return e->clock.mono(e->clock.arg);
}

int64_t engine_now_real(struct engine *e)
{
	return e->clock.real(e->clock.arg);
}

uint32_t engine_gen_max(struct engine *e)
{
	return idmap_gen_max(&e->ids);
}

int64_t engine_mono_to_unix(struct engine *e)
{
	int64_t mono = engine_now(e);

	return engine_now_real(e) - mono;
}

/* Claims a counters block left by an exited thread, or allocates one. */
static struct engine_counters *engine_counters_claim(struct engine *e)
{
	struct engine_counters *c, *head;

	for (c = atomic_load_explicit(&e->counters, memory_order_acquire); c; c = c->next) {
		int idle = 0;

		if (atomic_compare_exchange_strong_explicit(&c->active, &idle, 1,
							    memory_order_acquire,
							    memory_order_relaxed))
			return c;
	}
	c = aligned_alloc(CACHELINE, sizeof(*c));
	if (!c)
		return NULL;
	memset(c, 0, sizeof(*c));
	atomic_store_explicit(&c->active, 1, memory_order_relaxed);
	head = atomic_load_explicit(&e->counters, memory_order_relaxed);
	do {
		c->next = head;
		/* release: the zeroed block is visible before stats readers reach it. */
	} while (!atomic_compare_exchange_weak_explicit(&e->counters, &head, c,
							memory_order_release,
							memory_order_relaxed));
	return c;
}

/* Key destructor: the thread exits; its counters stay counted, the block is reusable. */
static void engine_counters_release(void *arg)
{
	struct engine_counters *c = arg;

	/* release: the final counts are visible to the next owner. */
	atomic_store_explicit(&c->active, 0, memory_order_release);
}

struct engine_tctx *engine_tctx(struct engine *e)
{
	struct engine_counters *c;
	struct hazptr_thread *hp;

	if (likely(engine_tls.e == e && engine_tls.uid == e->uid))
		return &engine_tls.ctx;
	hp = hazptr_thread_self(&e->hpd);
	if (!hp)
		return NULL;
	c = pthread_getspecific(e->tkey);
	if (!c) {
		c = engine_counters_claim(e);
		if (!c)
			return NULL;
		pthread_setspecific(e->tkey, c);
	}
	engine_tls.e = e;
	engine_tls.uid = e->uid;
	engine_tls.ctx = (struct engine_tctx){ .hp = hp, .c = c };
	return &engine_tls.ctx;
}

/* Bytes attributes a take. */
static int64_t engine_attrs_size(const struct timer_attrs *a)
{
	return (int64_t)(sizeof(*a) + a->topiclen + a->payloadlen + a->labellen);
}

void engine_attrs_destroy(struct timer_attrs *a)
{
	if (!a)
		return;
	/* relaxed: a gauge */
	if (a->mem)
		atomic_fetch_sub_explicit(a->mem, engine_attrs_size(a), memory_order_relaxed);
	if (a->umem)
		atomic_fetch_sub_explicit(a->umem, engine_attrs_size(a), memory_order_relaxed);
	cal_free(a->cal);
	free(a);
}

/* Counts attributes a in e's memory account, and in account acct's bytes (0: none). */
void engine_attrs_account(struct engine *e, struct timer_attrs *a, uint32_t acct)
{
	if (!a || a->mem)	/* none, or counted already (a calendar arm's retry keeps its first attributes) */
		return;
	a->mem = &e->mem;
	/* relaxed: a gauge */
	atomic_fetch_add_explicit(&e->mem, engine_attrs_size(a), memory_order_relaxed);
	if (acct && e->accts && acct < ENGINE_MAX_ACCTS) {
		a->umem = &e->accts[acct].bytes;
		/* relaxed: a quota count (struct engine_acct) */
		atomic_fetch_add_explicit(a->umem, engine_attrs_size(a), memory_order_relaxed);
	}
}

void engine_acct_count(struct engine *e, const struct timer_rec *r, int delta)
{
	uint32_t acct = (uint32_t)(r->dflags & TIMER_D_ACCT_MASK) >> TIMER_D_ACCT_SHIFT;

	if (acct && e->accts)	/* relaxed: a quota count (struct engine_acct) */
		atomic_fetch_add_explicit(&e->accts[acct].timers, (uint64_t)(int64_t)delta, memory_order_relaxed);
}

void engine_acct_use(struct engine *e, uint32_t acct, uint64_t *timers, int64_t *bytes)
{
	*timers = 0;
	*bytes = 0;
	if (!acct || !e->accts || acct >= ENGINE_MAX_ACCTS)
		return;
	/* relaxed: a quota count (struct engine_acct) */
	*timers = atomic_load_explicit(&e->accts[acct].timers, memory_order_relaxed);
	*bytes = atomic_load_explicit(&e->accts[acct].bytes, memory_order_relaxed) +
		 (int64_t)*timers * ENGINE_REC_COST;
}

/*
 * Takes one timer of a's account before creating one: TD_EQUOTA (nothing
 * taken) if that passes its max_timers, or its bytes (the new attributes
 * already counted) pass max_bytes. The fetch_add comes first so racing
 * creators cannot both pass.
 */
static int engine_acct_take(struct engine *e, const struct engine_arm *a)
{
	struct engine_acct *ac;
	uint64_t n;

	if (!a->acct || !e->accts || a->acct >= ENGINE_MAX_ACCTS)
		return 0;
	ac = &e->accts[a->acct];
	/* relaxed: a quota count (struct engine_acct) */
	n = atomic_fetch_add_explicit(&ac->timers, 1, memory_order_relaxed);
	if ((a->acct_max_timers && n >= a->acct_max_timers) ||
	    (a->acct_max_bytes &&
	     atomic_load_explicit(&ac->bytes, memory_order_relaxed) + (int64_t)(n + 1) * ENGINE_REC_COST >
		     (int64_t)a->acct_max_bytes)) {
		atomic_fetch_sub_explicit(&ac->timers, 1, memory_order_relaxed);
		return TD_EQUOTA;
	}
	return 0;
}

/* Gives back what engine_acct_take took (the arm created nothing). */
static void engine_acct_untake(struct engine *e, const struct engine_arm *a)
{
	if (a->acct && e->accts && a->acct < ENGINE_MAX_ACCTS)	/* relaxed: as engine_acct_take */
		atomic_fetch_sub_explicit(&e->accts[a->acct].timers, 1, memory_order_relaxed);
}

int64_t engine_mem_used(struct engine *e)
{
	/* relaxed: a budget check, approximate under concurrent arms */
	return atomic_load_explicit(&e->mem, memory_order_relaxed) +
	       (int64_t)atomic_load_explicit(&e->ntimers, memory_order_relaxed) * ENGINE_REC_COST +
	       (e->cfg.extra_mem ? atomic_load_explicit(e->cfg.extra_mem, memory_order_relaxed) : 0);
}

/* TD_EMEMLIMIT if an arm of a would take e past its memory budget. */
static int engine_mem_check(struct engine *e, const struct engine_arm *a)
{
	int64_t cost = (int64_t)(sizeof(struct timer_attrs) + a->topiclen + a->payloadlen + a->labellen + ENGINE_REC_COST);

	if (e->cfg.max_memory && engine_mem_used(e) + cost > (int64_t)e->cfg.max_memory)
		return TD_EMEMLIMIT;
	return 0;
}

/* Frees attributes once no reader holds them. */
static void engine_attrs_free(struct hazptr_node *n)
{
	engine_attrs_destroy((struct timer_attrs *)n);
}

void engine_attrs_put_n(struct hazptr_thread *hp, struct timer_attrs *a, uint32_t n)
{
	/* acq_rel: the last owner's uses happen before the free. */
	if (a && atomic_fetch_sub_explicit(&a->refs, n, memory_order_acq_rel) == n)
		hazptr_retire(hp, &a->hp, engine_attrs_free);
}

void engine_attrs_put(struct hazptr_thread *hp, struct timer_attrs *a)
{
	engine_attrs_put_n(hp, a, 1);
}

bool engine_attrs_tryget(struct timer_attrs *a)
{
	uint32_t r = atomic_load_explicit(&a->refs, memory_order_relaxed);

	while (r) {
		/* relaxed: the caller holds a hazard pointer on a; only the count matters. */
		if (atomic_compare_exchange_weak_explicit(&a->refs, &r, r + 1,
							  memory_order_relaxed,
							  memory_order_relaxed))
			return true;
	}
	return false;
}

/* Drops a reference held by a record being freed (no reader can reach it). */
static void engine_attrs_put_final(struct timer_attrs *a)
{
	if (a && atomic_fetch_sub_explicit(&a->refs, 1, memory_order_acq_rel) == 1)
		engine_attrs_destroy(a);
}

void engine_rec_free(struct hazptr_node *n)
{
	struct timer_rec *r = (struct timer_rec *)n;

	for (unsigned i = 0; i < 2; i++)
		engine_attrs_put_final(engine_attrs_of(atomic_load_explicit(
			&r->buf[i * TIMER_WORDS + 1], memory_order_relaxed)));
	engine_attrs_put_final(r->applied);
	free(r);
}

void engine_kick(struct engine *e)
{
	uint64_t one = 1;

	if (write(e->intake_efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		abort();	/* an eventfd write cannot fail otherwise */
}

/* Checks an arm request against the limits; 0 or the TD_* error. */
int engine_arm_check(struct engine *e, const struct engine_arm *a, int64_t now)
{
	int64_t t = a->time;

	if ((a->keylen && !a->key) || (a->topiclen && !a->topic) ||
	    (a->payloadlen && !a->payload) || (a->labellen && !a->label) || a->labellen > ENGINE_MAX_LABEL)
		return TD_EINVAL;
	if (a->keylen && a->id)
		return TD_EKEYID;
	if (a->when != ENGINE_AFTER && a->when != ENGINE_AT_MONO && a->when != ENGINE_AT_REAL)
		return TD_EINVAL;
	if (t < 0)
		return TD_EDEADLINE;
	if (t > ENGINE_MAX_DEADLINE || (a->when == ENGINE_AFTER && t > ENGINE_MAX_DEADLINE - now))
		return TD_EOVERFLOW;
	if (a->period < 0 || (a->period && a->period < ENGINE_MIN_PERIOD) ||
	    a->period > ENGINE_MAX_DEADLINE)
		return TD_EPERIOD;
	if (a->keylen > e->cfg.max_key)
		return TD_EKEYLEN;
	if (a->topiclen > e->cfg.max_topic)
		return TD_ETOPICLEN;
	if (a->payloadlen > e->cfg.max_payload)
		return TD_EPAYLOAD;
	if (a->cal && (a->when != ENGINE_AT_REAL || a->period))
		return TD_EINVAL;	/* a schedule gives its own wall-clock elapses */
	return 0;
}

/* Builds the attributes of an arm, or NULL when it has none (plain timer). */
int engine_attrs_new(const struct engine_arm *a, bool realtime, uint32_t refs,
		     struct timer_attrs **out)
{
	struct timer_attrs *at;

	*out = NULL;
	if (!a->topiclen && !a->payloadlen && !a->period && !a->owner && !a->flags && !realtime && !a->cal &&
	    !a->labellen)
		return 0;
	at = malloc(sizeof(*at) + a->topiclen + a->payloadlen + a->labellen);
	if (!at)
		return TD_ENOMEM;
	atomic_init(&at->refs, refs);
	at->flags = a->flags;
	at->period = a->period;
	at->owner = a->owner;
	at->cal = a->cal;
	atomic_init(&at->wall_next, a->time);
	atomic_init(&at->fires, 0);
	at->mem = NULL;
	at->umem = NULL;
	at->topiclen = a->topiclen;
	at->payloadlen = a->payloadlen;
	at->labellen = a->labellen;
	if (a->topiclen)
		memcpy(at->data, a->topic, a->topiclen);
	if (a->payloadlen)
		memcpy(at->data + a->topiclen, a->payload, a->payloadlen);
	if (a->labellen)
		memcpy(at->data + a->topiclen + a->payloadlen, a->label, a->labellen);
	*out = at;
	return 0;
}

static uint64_t engine_read_state(struct engine_tctx *t, struct timer_rec *r, uint64_t *w);

/*
 * Claims r's cell for a write made only over a state of owner own (ownlen
 * bytes: the label it was armed with) or a cancel: the check and the claim
 * are one step, so a re-arm by another owner committed between them is
 * checked in turn, never written over. The copy index to fill (*sp: the
 * seq), -1 if another writer holds the cell (CELL_LOST: ordered just
 * before it, over the state checked), or TD_EOWNER.
 */
static int engine_rec_claim_own(struct engine_tctx *t, struct timer_rec *r, const char *own, uint32_t ownlen,
				uint64_t *sp)
{
	uint64_t cur[TIMER_WORDS], gen;
	struct timer_attrs *at;
	bool mine;
	int idx;

	do {
		gen = engine_read_state(t, r, cur);
		at = engine_attrs_of(cur[1]);
		/*
		 * A cancelled state has no owner: the write makes the timer
		 * anew. A live state without attributes carries the empty
		 * label: only an own of "" matches it (it is no identity's,
		 * as ident_may_touch saw it before this check moved here).
		 */
		if (cur[1] & TIMER_OP_CANCEL)
			mine = true;
		else if (!at)
			mine = !ownlen;
		else
			mine = at->labellen == ownlen && !memcmp(at->data + at->topiclen + at->payloadlen, own, ownlen);
		hazptr_release(t->hp, HP_SLOT_ATTRS);
		if (!mine)
			return TD_EOWNER;
		idx = cell_claim_write_begin_at(&r->cell, gen, sp);
	} while (idx == -2);	/* a newer generation: check its owner */
	return idx;
}

/*
 * Writes w into r's cell (claim variant) and returns the new generation in
 * *gen; the copy overwritten drops its reference to its old attributes.
 * With own (not NULL), only over a state of that owner (engine_rec_claim_own).
 * CELL_OK; CELL_LOST if another writer holds the cell; TD_EOWNER.
 */
static int engine_rec_write(struct engine_tctx *t, struct timer_rec *r, const uint64_t *w, uint64_t *gen,
			    const char *own, uint32_t ownlen)
{
	_Atomic uint64_t *copy;
	struct timer_attrs *old;
	uint64_t s;
	int idx = own ? engine_rec_claim_own(t, r, own, ownlen, &s) : cell_claim_write_begin(&r->cell, &s);

	if (unlikely(idx < 0))
		return idx == TD_EOWNER ? TD_EOWNER : CELL_LOST;
	copy = r->buf + (size_t)idx * TIMER_WORDS;
	/* relaxed: this writer owns the copy until commit. */
	old = engine_attrs_of(atomic_load_explicit(&copy[1], memory_order_relaxed));
	cell_copy_in(copy, w, TIMER_WORDS);
	*gen = cell_claim_write_commit(&r->cell, s);
	/* Readers that took old from this copy validate against a newer generation. */
	engine_attrs_put(t->hp, old);
	return CELL_OK;
}

/*
 * Finds a live timer by key or id, protected in HP_SLOT_REC, or NULL. A
 * timer flagged DEAD is being removed or revived: the lock the dispatcher
 * holds while it decides (key shard or id stripe) settles it.
 */
static struct timer_rec *engine_lookup(struct engine *e, struct engine_tctx *t, uint64_t id,
				       const char *key, uint32_t keylen)
{
	uint64_t h = keylen ? hash_bytes(&e->hk, key, keylen) : 0;
	struct timer_rec *r = keylen ? table_find(&e->keys, t->hp, h, key, keylen)
				     : idmap_find(&e->ids, t->hp, id);

	if (!r || !(atomic_load_explicit(&r->flags, memory_order_acquire) & TIMER_DEAD))
		return r;
	if (!keylen) {
		/* Under the stripe lock the dispatcher has decided; find again, protected. */
		spin_lock(engine_idlock(e, id));
		r = idmap_find(&e->ids, t->hp, id);
		spin_unlock(engine_idlock(e, id));
		return r;
	}
	table_lock(&e->keys, h);
	r = table_find_locked(&e->keys, h, key, keylen);
	/* Under the shard lock r cannot be removed: publishing now protects it. */
	if (r)
		hazptr_publish(t->hp, &t->hp->slot[HP_SLOT_REC], r);
	else
		hazptr_release(t->hp, HP_SLOT_REC);
	table_unlock(&e->keys, h);
	return r;
}

void engine_push(struct engine *e, struct timer_rec *r)
{
	llist_add(&r->qn, &e->intake);
}

/*
 * Wakes a sleeping dispatcher only when it must act before it would wake
 * anyway: the new deadline is earlier than its timerfd, or its timerfd is
 * more than ENGINE_INTAKE_DELAY away (so a cancel or re-arm is applied, and
 * a cancelled timer freed, within that delay). Otherwise the request waits
 * on the intake: no system call. After a pass that took requests, the
 * dispatcher wakes again within the delay, so a stream of requests costs
 * at most one wake-up per ENGINE_INTAKE_DELAY.
 */
static void engine_wake(struct engine *e, int64_t deadline, int64_t now)
{
	int64_t wake_at;

	/* seq_cst: after our push; pairs with the dispatcher's idle store and intake check. */
	if (!atomic_load_explicit(&e->idle, memory_order_seq_cst))
		return;
	/* relaxed: published before idle (seq_cst store), which we just read. */
	wake_at = atomic_load_explicit(&e->wake_at, memory_order_relaxed);
	if (deadline >= wake_at) {
		if (!now)
			now = engine_now(e);	/* read only when the dispatcher sleeps */
		if (wake_at - now <= ENGINE_INTAKE_DELAY)
			return;
	}
	if (atomic_exchange_explicit(&e->idle, 0, memory_order_relaxed))
		engine_kick(e);
}

/* True if r's newest state is a cancel the dispatcher has not applied yet. */
static bool engine_rec_cancelled(struct timer_rec *r)
{
	uint64_t w[TIMER_WORDS];

	cell_claim_read(&r->cell, r->buf, TIMER_WORDS, w, NULL);
	return w[1] & TIMER_OP_CANCEL;
}

/* Allocates a record holding state w, not yet visible; NULL if out of memory or ids. */
static struct timer_rec *engine_rec_new(struct engine *e, struct engine_tctx *t,
					const char *key, uint32_t keylen, const uint64_t *w)
{
	struct timer_rec *r = malloc(sizeof(*r) + keylen);

	if (!r)
		return NULL;
	memset(r, 0, sizeof(*r));
	r->id = idmap_alloc(&e->ids, &t->c->idc);
	if (!r->id) {
		free(r);
		return NULL;
	}
	r->keylen = (uint16_t)keylen;
	if (keylen)
		memcpy(r->key, key, keylen);
	atomic_init(&r->flags, TIMER_QUEUED);	/* queued by its creator below */
	cell_claim_init(&r->cell, r->buf, TIMER_WORDS, w);
	return r;
}

/* Makes a new record findable: key table (shard lock held by the caller), then id. */
static int engine_rec_insert(struct engine *e, struct engine_tctx *t, struct timer_rec *r,
			     uint64_t hkey)
{
	if (r->keylen) {
		int err = table_insert_locked(&e->keys, t->hp, hkey, r);

		if (err) {
			idmap_unalloc(&e->ids, &t->c->idc, r->id);
			return err;
		}
	}
	idmap_set(&e->ids, r->id, r);
	return 0;
}

/*
 * Creates a timer with state w. If the key exists meanwhile, returns that
 * timer protected instead (*created false). 0 or a TD_* error.
 */
static int engine_create_timer(struct engine *e, struct engine_tctx *t, const char *key,
			       uint32_t keylen, const uint64_t *w, uint32_t acct, struct timer_rec **out,
			       bool *created)
{
	uint64_t hkey = keylen ? hash_bytes(&e->hk, key, keylen) : 0;
	struct timer_rec *r;
	int err = 0;

	*created = false;
	if (keylen) {
		table_lock(&e->keys, hkey);
		r = table_find_locked(&e->keys, hkey, key, keylen);
		if (r) {
			hazptr_publish(t->hp, &t->hp->slot[HP_SLOT_REC], r);
			table_unlock(&e->keys, hkey);
			*out = r;
			return 0;
		}
	}
	if (atomic_fetch_add_explicit(&e->ntimers, 1, memory_order_relaxed) >= e->cfg.max_timers) {
		err = TD_EFULL;
		goto fail_count;
	}
	r = engine_rec_new(e, t, key, keylen, w);
	if (!r) {
		err = TD_ENOMEM;
		goto fail_count;
	}
	if (acct < ENGINE_MAX_ACCTS)	/* before publication: the dispatcher reads it when it removes r */
		r->dflags = (uint16_t)(acct << TIMER_D_ACCT_SHIFT);
	err = engine_rec_insert(e, t, r, hkey);
	if (err)
		goto fail_rec;
	if (keylen)
		table_unlock(&e->keys, hkey);
	*out = r;
	*created = true;
	return 0;

fail_rec:
	/* The caller still owns the attributes: forget them before freeing. */
	free(r);
fail_count:
	atomic_fetch_sub_explicit(&e->ntimers, 1, memory_order_relaxed);
	if (keylen)
		table_unlock(&e->keys, hkey);
	return err;
}

/* The CLOCK_MONOTONIC deadline of cell state w (INT64_MAX for a cancel). */
static int64_t engine_state_deadline(struct engine *e, const uint64_t *w)
{
	if (w[1] & TIMER_OP_CANCEL)
		return INT64_MAX;
	if (w[1] & TIMER_OP_REALTIME)
		return (int64_t)w[0] - engine_mono_to_unix(e);
	return (int64_t)w[0];
}

/*
 * Pushes r (protected by the caller) and wakes the dispatcher if it must
 * act before it would wake anyway. A writer that found r already queued
 * left the wake-up to the pusher (or checks itself after a fence, below):
 * so the pusher re-reads r's newest state after its push and wakes for the
 * earlier of the two deadlines. With the fences, either this read sees the
 * other write, or that writer's own wake check comes after this push.
 */
static void engine_push_wake(struct engine *e, struct timer_rec *r, int64_t deadline, int64_t now)
{
	uint64_t w[TIMER_WORDS];
	int64_t d;

	engine_push(e, r);
	/* Orders the push before the cell re-read (pairs with engine_write_queue's fence). */
	atomic_thread_fence(memory_order_seq_cst);
	cell_claim_read(&r->cell, r->buf, TIMER_WORDS, w, NULL);
	d = engine_state_deadline(e, w);
	engine_wake(e, d < deadline ? d : deadline, now);
}

/*
 * r was flagged DEAD after this thread wrote generation gen into it. Under
 * the lock the dispatcher decides with, tells whether the write took
 * effect: r was kept (revived: the write is queued), or gen was applied
 * before r was removed. Returns 1 if the write was lost with r (retry).
 */
static int engine_write_settle(struct engine *e, struct timer_rec *r, uint64_t gen)
{
	int lost;

	spin_lock(engine_idlock(e, r->id));
	/* acquire (both): the dispatcher's decision and its consume are visible under the lock. */
	lost = (atomic_load_explicit(&r->flags, memory_order_acquire) & TIMER_DEAD) &&
	       atomic_load_explicit(&r->last, memory_order_acquire) < gen;
	spin_unlock(engine_idlock(e, r->id));
	return lost;
}

/*
 * Writes w (deadline: its monotonic deadline) into live timer r, protected
 * by the caller, and queues it; with own, only over a state of that owner.
 * Returns 1 if r died before the write took effect (the caller retries),
 * TD_EOWNER (nothing written), else 0; *lost if another writer superseded w.
 */
static int engine_write_queue(struct engine *e, struct engine_tctx *t, struct timer_rec *r,
			      const uint64_t *w, int64_t deadline, int64_t now, bool *lost,
			      const char *own, uint32_t ownlen)
{
	uint64_t gen;
	uint32_t old;
	int wr = engine_rec_write(t, r, w, &gen, own, ownlen);

	*lost = wr == CELL_LOST;
	if (wr < 0 || *lost)
		return wr < 0 ? wr : 0;
	/* acq_rel: totally ordered with the dispatcher's fetch_or(DEAD) on the same word. */
	old = atomic_fetch_or_explicit(&r->flags, TIMER_QUEUED, memory_order_acq_rel);
	if (old & TIMER_DEAD)
		return engine_write_settle(e, r, gen);
	if (!(old & TIMER_QUEUED)) {
		engine_push_wake(e, r, deadline, now);
		return 0;
	}
	/* Queued by another writer: order our write before our wake check (see engine_push_wake). */
	atomic_thread_fence(memory_order_seq_cst);
	engine_wake(e, deadline, now);
	return 0;
}

/* Deadline of an arm on CLOCK_MONOTONIC (realtime: converted at this moment). */
static int64_t engine_arm_deadline(struct engine *e, const struct engine_arm *a, int64_t now)
{
	switch (a->when) {
	case ENGINE_AFTER:
		return now + a->time;
	case ENGINE_AT_REAL:
		return a->time - (engine_now_real(e) - now);
	default:
		return a->time;
	}
}

/* Counts a rejected request and returns its error. */
static int engine_reject(struct engine_tctx *t, int err)
{
	if (t)
		ctr_add(&t->c->ctr.errors, 1);
	return err;
}

/* An arm in progress: the state it writes and where that state went. */
struct engine_arm_op {
	const struct engine_arm *a;
	uint32_t keylen;
	int64_t now;			/* CLOCK_MONOTONIC when the arm began */
	int64_t deadline;		/* its monotonic deadline */
	uint64_t w[TIMER_WORDS];	/* the cell state written */
	struct timer_attrs *at;		/* w's attributes, with the cell copy's reference */
	struct timer_attrs *cal_at;	/* a calendar arm's first attributes, with the arm's own reference */
	struct timer_rec *r;		/* the timer, protected in HP_SLOT_REC */
	bool created;			/* r is new */
	bool lost;			/* another writer superseded w: at was never published */
};

/* engine_arm_try's answer when the timer died under the write. */
#define ENGINE_ARM_RETRY 1

/*
 * The existing timer an arm writes into, protected in HP_SLOT_REC: by key,
 * or by id unless it is cancelled. NULL if none.
 */
static struct timer_rec *engine_arm_target(struct engine *e, struct engine_tctx *t,
					   const struct engine_arm_op *op)
{
	struct timer_rec *r;

	if (!op->keylen && !op->a->id)
		return NULL;
	r = engine_lookup(e, t, op->a->id, op->a->key, op->keylen);
	if (r && op->a->id && engine_rec_cancelled(r)) {
		hazptr_release(t->hp, HP_SLOT_REC);	/* cancelled: gone for ids */
		r = NULL;
	}
	return r;
}

/*
 * Hands op->at to the existing timer op->r by writing op->w into its cell
 * and queueing it (only_own: only over a state of this arm's label). 0:
 * r's cell owns at (or, op->lost, at was never published and stays the
 * caller's); ENGINE_ARM_RETRY: r died first, its dead cell owns at and r
 * is released; TD_EOWNER: another owner's timer, r released, at never
 * published (still the caller's).
 */
static int engine_arm_hand_over(struct engine *e, struct engine_tctx *t, struct engine_arm_op *op)
{
	const char *own = op->a->only_own ? (op->a->label ? op->a->label : "") : NULL;
	int rc = engine_write_queue(e, t, op->r, op->w, op->deadline, op->now, &op->lost, own, op->a->labellen);

	if (!rc)
		return 0;
	hazptr_release(t->hp, HP_SLOT_REC);
	return rc == TD_EOWNER ? rc : ENGINE_ARM_RETRY;
}

/*
 * The attributes an attempt writes, with the cell copy's reference (0 or a
 * TD_* error). A calendar arm's first attributes own a->cal and get a
 * second reference, the arm's own (engine_arm_done drops it): an attempt
 * whose timer died under it leaves them in the dead record, where the
 * schedule must stay readable while the retry copies it. Attributes are
 * never published in two records: a retry parses a copy of the schedule
 * into fresh ones (records free their last reference without a grace
 * period, which is safe only for attributes no other record can hold).
 */
static int engine_arm_attrs(struct engine_arm_op *op, bool realtime)
{
	struct engine_arm b;
	char why[64];
	int err;

	if (!op->a->cal)
		return engine_attrs_new(op->a, realtime, 1, &op->at);
	if (!op->cal_at) {
		err = engine_attrs_new(op->a, realtime, 2, &op->cal_at);
		op->at = op->cal_at;
		return err;
	}
	b = *op->a;
	if ((err = cal_parse(cal_normalized(op->cal_at->cal), &b.cal, why, sizeof(why))) != 0)
		return err;
	if ((err = engine_attrs_new(&b, realtime, 1, &op->at)) != 0)
		cal_free(b.cal);
	return err;
}

/* Drops attributes an attempt never published (the arm's own reference keeps its first ones). */
static void engine_arm_unpublished(struct engine_tctx *t, struct engine_arm_op *op)
{
	if (op->cal_at && op->at == op->cal_at)
		engine_attrs_put(t->hp, op->at);	/* never the last */
	else
		engine_attrs_destroy(op->at);		/* and a retry's copy of the schedule */
}

/* A calendar arm is over: drops its own reference, or frees the schedule it never put in attributes. */
static void engine_arm_done(struct engine_tctx *t, const struct engine_arm_op *op)
{
	if (op->cal_at)
		engine_attrs_put(t->hp, op->cal_at);
	else if (op->a->cal)
		cal_free(op->a->cal);
}

/*
 * One attempt: fresh attributes, then a new timer holding them (a created
 * record owns them from its first state) or a hand-over to the existing
 * one. 0, ENGINE_ARM_RETRY or a TD_* error (at dropped).
 */
static int engine_arm_try(struct engine *e, struct engine_tctx *t, struct engine_arm_op *op)
{
	bool realtime = op->a->when == ENGINE_AT_REAL;
	int err = engine_mem_check(e, op->a);

	if (err || (err = engine_arm_attrs(op, realtime)) != 0)
		return err;
	engine_attrs_account(e, op->at, op->a->acct);
	op->w[1] = (uint64_t)(uintptr_t)op->at | (realtime ? TIMER_OP_REALTIME : 0);
	op->r = engine_arm_target(e, t, op);
	if (!op->r && op->a->id) {
		err = TD_ENOENT;
	} else if (!op->r && (err = engine_acct_take(e, op->a)) == 0) {
		err = engine_create_timer(e, t, op->a->key, op->keylen, op->w,
					  e->accts ? op->a->acct : 0, &op->r, &op->created);
		if (err || !op->created)	/* nothing created: the key's timer is re-armed instead */
			engine_acct_untake(e, op->a);
	}
	if (err) {
		engine_arm_unpublished(t, op);
		return err;
	}
	if (op->created)
		return 0;
	err = engine_arm_hand_over(e, t, op);	/* r is protected: write into it */
	if (err == TD_EOWNER)
		engine_arm_unpublished(t, op);
	return err;
}

/* Queues a created timer, drops the protection and a lost write's attributes, counts. */
static void engine_arm_finish(struct engine *e, struct engine_tctx *t, struct engine_arm_op *op)
{
	if (op->created) {
		/* r is in the tables: protecting it now keeps it while we push and look. */
		hazptr_publish(t->hp, &t->hp->slot[HP_SLOT_REC], op->r);
		engine_push_wake(e, op->r, op->deadline, op->now);
	}
	hazptr_release(t->hp, HP_SLOT_REC);
	if (op->lost) {
		engine_arm_unpublished(t, op);	/* never published */
		ctr_add(&t->c->ctr.lost_races, 1);
	}
	ctr_add(&t->c->ctr.arms, 1);
	ctr_add(op->created ? &t->c->ctr.created : &t->c->ctr.rearms, 1);
}

int engine_arm(struct engine *e, const struct engine_arm *a, struct engine_arm_result *res)
{
	struct engine_tctx *t = engine_tctx(e);
	struct engine_arm_op op = { .a = a, .keylen = a->key ? a->keylen : 0 };
	int err;

	if (!t) {
		cal_free(a->cal);
		return TD_ENOMEM;
	}
	op.now = engine_now(e);
	err = engine_arm_check(e, a, op.now);
	if (err) {
		engine_arm_done(t, &op);
		return engine_reject(t, err);
	}
	op.w[0] = (uint64_t)(a->when == ENGINE_AFTER ? op.now + a->time : a->time);
	op.deadline = engine_arm_deadline(e, a, op.now);
	while ((err = engine_arm_try(e, t, &op)) == ENGINE_ARM_RETRY)
		;	/* the timer died under the write: again, on a live one */
	if (err) {
		engine_arm_done(t, &op);
		return engine_reject(t, err);
	}
	res->id = op.r->id;
	res->deadline = op.deadline;
	res->now = op.now;
	res->created = op.created;
	res->coalesced = op.lost;
	engine_arm_finish(e, t, &op);
	engine_arm_done(t, &op);
	return 0;
}

int engine_cancel(struct engine *e, uint64_t id, const char *key, uint32_t keylen)
{
	return engine_cancel_own(e, id, key, keylen, NULL, 0, NULL, NULL);
}

int engine_cancel_id(struct engine *e, uint64_t id, const char *key, uint32_t keylen, uint64_t *cancelled,
		     bool *coalesced)
{
	return engine_cancel_own(e, id, key, keylen, NULL, 0, cancelled, coalesced);
}

int engine_cancel_own(struct engine *e, uint64_t id, const char *key, uint32_t keylen, const char *own,
		      uint32_t ownlen, uint64_t *cancelled, bool *coalesced)
{
	struct engine_tctx *t = engine_tctx(e);
	const uint64_t w[TIMER_WORDS] = { 0, TIMER_OP_CANCEL };
	struct timer_rec *r;
	bool lost;
	int died;

	if (!t)
		return TD_ENOMEM;
	keylen = key ? keylen : 0;
	if (keylen && id)
		return engine_reject(t, TD_EKEYID);
	if (keylen > e->cfg.max_key)
		return engine_reject(t, TD_EKEYLEN);
	do {
		r = engine_lookup(e, t, id, key, keylen);
		if (r && engine_rec_cancelled(r)) {
			hazptr_release(t->hp, HP_SLOT_REC);	/* already cancelled: read your writes */
			r = NULL;
		}
		if (!r)
			return engine_reject(t, TD_ENOENT);
		died = engine_write_queue(e, t, r, w, INT64_MAX, 0, &lost, own, ownlen);
		if (cancelled)
			*cancelled = r->id;	/* immutable, and r is still protected */
		hazptr_release(t->hp, HP_SLOT_REC);
		if (died < 0)
			return engine_reject(t, died);	/* TD_EOWNER: nothing written */
	} while (died);
	if (lost)
		ctr_add(&t->c->ctr.lost_races, 1);
	if (coalesced)
		*coalesced = lost;
	ctr_add(&t->c->ctr.cancels, 1);
	return 0;
}

/* Reads r's state and protects its attributes in HP_SLOT_ATTRS; the generation read. */
static uint64_t engine_read_state(struct engine_tctx *t, struct timer_rec *r, uint64_t *w)
{
	unsigned retries = 0;
	uint64_t gen;

	for (;;) {
		struct timer_attrs *at;

		gen = cell_claim_read(&r->cell, r->buf, TIMER_WORDS, w, &retries);
		at = engine_attrs_of(w[1]);
		if (!at)
			break;
		hazptr_publish(t->hp, &t->hp->slot[HP_SLOT_ATTRS], at);
		/* Still this generation: the copies still hold their references to at. */
		if (cell_claim_gen(&r->cell) == gen)
			break;
		retries++;
	}
	if (retries)
		ctr_add(&t->c->ctr.cell_retries, retries);
	return gen;
}

/*
 * Copies timer r (protected) into a new snapshot; TD_ENOENT if it is cancelled, or o (non-NULL)
 * filters it out (topic, keep); without o->payload the payload is not copied (payload NULL).
 */
static int engine_snapshot(struct engine *e, struct engine_tctx *t, struct timer_rec *r,
			   struct engine_list_opts *o, struct engine_timer **out)
{
	uint64_t w[TIMER_WORDS], gen = engine_read_state(t, r, w);
	struct timer_attrs *at = engine_attrs_of(w[1]);
	struct engine_timer *s;
	uint32_t tl = at ? at->topiclen : 0, pl = at ? at->payloadlen : 0, ll = at ? at->labellen : 0;
	/* the schedule lives as long as at, which HP_SLOT_ATTRS protects */
	const char *cal = at && at->cal ? cal_normalized(at->cal) : "";
	size_t cl = strlen(cal);
	/* acquire: pairs with the dispatcher's consume; expires is then current. */
	bool applied = atomic_load_explicit(&r->last, memory_order_acquire) == gen;
	char *p;

	*out = NULL;
	if (w[1] & TIMER_OP_CANCEL)
		return TD_ENOENT;
	if (o && o->topic && (tl != o->topiclen || (tl && memcmp(at->data, o->topic, tl) != 0)))
		return TD_ENOENT;	/* another topic: nothing copied (a List by topic skips it) */
	if (o && o->keep && !o->keep(o->keep_arg, r->keylen ? r->key : "", r->keylen, tl ? at->data : "", tl,
				     ll ? at->data + tl + pl : "", ll))
		return TD_ENOENT;	/* not the caller's: nothing copied either */
	if (o && !o->payload)
		pl = 0;		/* the size is still reported (payloadlen), the bytes are not copied */
	s = malloc(sizeof(*s) + r->keylen + tl + pl + 1 + cl + 1 + ll + 1);
	if (!s)
		return TD_ENOMEM;
	if (o)
		o->copied += sizeof(*s) + r->keylen + tl + pl + 1 + cl + 1 + ll + 1;
	memset(s, 0, sizeof(*s));
	s->id = r->id;
	s->realtime = w[1] & TIMER_OP_REALTIME;
	if (s->realtime) {
		s->wall_deadline = applied ? atomic_load_explicit(&at->wall_next, memory_order_relaxed)
					   : (int64_t)w[0];
		s->deadline = s->wall_deadline - engine_mono_to_unix(e);
	} else {
		s->deadline = applied ? wheel_expires(&r->wn) : (int64_t)w[0];
	}
	p = (char *)(s + 1);
	s->keylen = r->keylen;
	s->key = r->keylen ? memcpy(p, r->key, r->keylen) : NULL;
	p += r->keylen;
	if (at) {
		s->period = at->period;
		s->owner = at->owner;
		s->flags = at->flags;
		s->topiclen = tl;
		s->payloadlen = at->payloadlen;
		memcpy(p, at->data, tl + pl);
	}
	p[tl + pl] = '\0';
	s->topic = p;
	s->payload = pl || !s->payloadlen ? p + tl : NULL;
	s->calendar = memcpy(p + tl + pl + 1, cal, cl + 1);
	s->calendarlen = (uint32_t)cl;
	p += tl + pl + 1 + cl + 1;
	if (ll)
		memcpy(p, at->data + tl + at->payloadlen, ll);
	p[ll] = '\0';
	s->label = p;
	s->labellen = ll;
	*out = s;
	return 0;
}

int engine_get(struct engine *e, uint64_t id, const char *key, uint32_t keylen,
	       struct engine_timer **out)
{
	struct engine_tctx *t = engine_tctx(e);
	struct timer_rec *r;
	int err;

	*out = NULL;
	if (!t)
		return TD_ENOMEM;
	keylen = key ? keylen : 0;
	if (keylen && id)
		return TD_EKEYID;
	if (keylen > e->cfg.max_key)
		return TD_EKEYLEN;
	r = engine_lookup(e, t, id, key, keylen);
	if (!r)
		return TD_ENOENT;
	err = engine_snapshot(e, t, r, NULL, out);
	hazptr_release(t->hp, HP_SLOT_ATTRS);
	hazptr_release(t->hp, HP_SLOT_REC);
	return err;
}

void engine_timer_free(struct engine_timer *t)
{
	free(t);
}

/* engine_list_opt by topic only, payloads copied. */
int engine_list(struct engine *e, const char *topic, uint32_t topiclen, uint64_t *cursor,
		uint32_t limit, engine_list_fn fn, void *arg)
{
	struct engine_list_opts o = { .topic = topic, .topiclen = topic ? topiclen : 0, .payload = true };

	return engine_list_opt(e, &o, cursor, limit, fn, arg);
}

/* Lists from *cursor: each slot's record snapshot if o keeps it (the page counts only those). */
int engine_list_opt(struct engine *e, struct engine_list_opts *o, uint64_t *cursor, uint32_t limit,
		    engine_list_fn fn, void *arg)
{
	struct engine_tctx *t = engine_tctx(e);
	uint32_t end = idmap_limit(&e->ids), n = 0;
	uint64_t i;

	if (!t)
		return TD_ENOMEM;
	if (!limit)
		return TD_EINVAL;
	/* The cursor is the next slot index to visit: records never move. */
	for (i = *cursor; i < end; i++) {
		struct timer_rec *r = idmap_at(&e->ids, t->hp, (uint32_t)i);
		struct engine_timer *tm;
		bool more;
		int err;

		if (!r)
			continue;
		err = engine_snapshot(e, t, r, o, &tm);
		hazptr_release(t->hp, HP_SLOT_ATTRS);
		hazptr_release(t->hp, HP_SLOT_REC);
		if (err == TD_ENOMEM)
			return err;
		if (err)
			continue;	/* cancelled meanwhile, or filtered out (not copied) */
		more = fn(arg, tm);
		n++;
		engine_timer_free(tm);
		if (!more || n == limit) {
			*cursor = i + 1;
			return (int)n;
		}
	}
	*cursor = 0;
	return (int)n;
}

/* Adds one thread's counter block into st. */
static void engine_stats_add(struct engine_stats *st, struct engine_ctrs *c)
{
	/* relaxed: counters are independent; the sum need not be one snapshot. */
#define ENGINE_STATS_SUM(n) st->n += atomic_load_explicit(&c->n, memory_order_relaxed);
	ENGINE_COUNTERS(ENGINE_STATS_SUM)
#undef ENGINE_STATS_SUM
}

void engine_late_snapshot(struct engine *e, struct hist_snap *s)
{
	hist_snapshot(&e->late, s);
}

void engine_stats(struct engine *e, struct engine_stats *st)
{
	struct hazptr_stats hs;
	struct hist_snap *hsnap = malloc(sizeof(*hsnap));

	memset(st, 0, sizeof(*st));
	for (struct engine_counters *c = atomic_load_explicit(&e->counters, memory_order_acquire);
	     c; c = c->next)
		engine_stats_add(st, &c->ctr);
	engine_stats_add(st, &e->ds.ctr);
	st->pending = atomic_load_explicit(&e->ntimers, memory_order_relaxed);
	st->inflight = atomic_load_explicit(&e->inflight, memory_order_relaxed);
	hazptr_stats(&e->hpd, &hs);
	st->hp_retired = hs.retired;
	st->hp_reclaimed = hs.reclaimed;
	st->hp_pending = hs.pending;
	if (!hsnap)
		return;
	hist_snapshot(&e->late, hsnap);
	st->late_count = hsnap->count;
#define ENGINE_STATS_PCT(n, proto, pct) st->n = (int64_t)hist_percentile(hsnap, pct);
	ENGINE_LATENESS(ENGINE_STATS_PCT)
#undef ENGINE_STATS_PCT
	st->late_max = (int64_t)hsnap->max;
	free(hsnap);
}

/* Fills unset limits with defaults; TD_EINVAL for impossible ones. */
static int engine_config_defaults(struct engine_config *c)
{
	if (!c->max_timers)
		c->max_timers = ENGINE_DEFAULT_MAX_TIMERS;
	if (!c->max_key)
		c->max_key = ENGINE_DEFAULT_MAX_KEY;
	if (!c->max_topic)
		c->max_topic = ENGINE_DEFAULT_MAX_TOPIC;
	if (!c->max_payload)
		c->max_payload = ENGINE_DEFAULT_MAX_PAYLOAD;
	if (!c->max_inflight)
		c->max_inflight = ENGINE_DEFAULT_MAX_INFLIGHT;
	if (c->max_key > ENGINE_MAX_KEY || c->precision_ns < 0 || c->workers > ENGINE_MAX_WORKERS ||
	    c->max_timers > ENGINE_MAX_TIMERS)
		return TD_EINVAL;
	if (c->manual)
		c->workers = 0;
	return 0;
}

/* Sets up the clock from the configuration. */
static void engine_clock_init(struct engine *e)
{
	if (e->cfg.clock)
		e->clock = *e->cfg.clock;
	if (!e->clock.mono)
		e->clock.mono = engine_sys_mono;
	if (!e->clock.real)
		e->clock.real = engine_sys_real;
	e->cfg.clock = NULL;
}

int engine_create(const struct engine_config *cfg, struct engine **out)
{
	struct hazptr_config hc = { 0 };
	struct engine *e;
	int err;

	*out = NULL;
	e = aligned_alloc(CACHELINE, (sizeof(*e) + CACHELINE - 1) / CACHELINE * CACHELINE);
	if (!e)
		return TD_ENOMEM;
	memset(e, 0, sizeof(*e));
	e->cfg = *cfg;
	err = engine_config_defaults(&e->cfg);
	if (err)
		goto fail;
	err = TD_ENOMEM;
	if (cfg->accounts && !(e->accts = calloc(ENGINE_MAX_ACCTS, sizeof(*e->accts))))
		goto fail;
	engine_clock_init(e);
	/* relaxed: only uniqueness matters, nothing is published with the uid. */
	e->uid = atomic_fetch_add_explicit(&engine_uids, 1, memory_order_relaxed);
	hash_key_init(&e->hk);
	hc.fence = cfg->hazptr_fence;
	hc.scanner_thread = cfg->hazptr_scanner;
	/*
	 * The dispatcher retires a record per cancel and one-shot fire: scan
	 * every 1024 retirements, so the membarrier (0.5-8 us here) costs a
	 * few ns per timer; at most 1024 retired records (~115 KB) wait.
	 */
	hc.retire_threshold = ENGINE_RETIRE_BATCH;
	err = TD_ESYS;
	if (hazptr_domain_init(&e->hpd, &hc))
		goto fail;
	if (pthread_key_create(&e->tkey, engine_counters_release))
		goto fail_hp;
	idmap_init(&e->ids);
	err = table_init(&e->keys, &e->hk);
	if (err)
		goto fail_ids;
	err = engine_dispatch_init(e);
	if (err)
		goto fail_keys;
	*out = e;
	return 0;

fail_keys:
	table_destroy(&e->keys);
fail_ids:
	idmap_destroy(&e->ids);
	pthread_key_delete(e->tkey);
fail_hp:
	hazptr_domain_destroy(&e->hpd);
fail:
	free(e->accts);
	free(e);
	return err;
}

int engine_start(struct engine *e)
{
	return engine_dispatch_start(e);
}

/* Frees every record still in the id map (all threads are stopped). */
static void engine_free_records(struct engine *e)
{
	uint32_t end = idmap_limit(&e->ids);

	for (uint32_t i = 0; i < end; i++) {
		struct timer_rec *r = idmap_at_unsafe(&e->ids, i);

		if (r)
			engine_rec_free(&r->hp);
	}
}

/* Frees the id batches a cache holds. */
static void engine_cache_free(struct idmap_cache *c)
{
	free(c->take);
	free(c->give);
	c->take = c->give = NULL;
}

/* Frees the records that died while queued and are still on the intake list. */
static void engine_free_dead_queued(struct engine *e)
{
	struct llist_node *n = llist_del_all(&e->intake), *next;

	for (; n; n = next) {
		struct timer_rec *r = container_of(n, struct timer_rec, qn);

		next = n->next;
		if (atomic_load_explicit(&r->flags, memory_order_relaxed) & TIMER_DEAD)
			engine_rec_free(&r->hp);
	}
}

void engine_stop(struct engine *e)
{
	if (e)
		engine_dispatch_stop(e);
}

void engine_destroy(struct engine *e)
{
	struct engine_counters *c, *next;

	if (!e)
		return;
	engine_dispatch_stop(e);
	engine_free_dead_queued(e);
	engine_free_records(e);
	engine_dispatch_fini(e);
	table_destroy(&e->keys);
	idmap_destroy(&e->ids);
	engine_cache_free(&e->dcache);
	pthread_key_delete(e->tkey);
	hazptr_domain_destroy(&e->hpd);
	/* acquire: pairs with engine_counters_claim's release; every block is complete. */
	for (c = atomic_load_explicit(&e->counters, memory_order_acquire); c; c = next) {
		next = c->next;
		engine_cache_free(&c->idc);
		free(c);
	}
	if (engine_tls.e == e)
		engine_tls.e = NULL;
	free(e->accts);	/* last: freeing attributes above subtracted from it */
	free(e);
}
