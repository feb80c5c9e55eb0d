/*
 * dispatch.c -- the dispatcher thread and the delivery threads.
 *
 * The dispatcher is the only thread that touches the wheel, applies cell
 * states, removes timers from the tables and retires them. One pass:
 *
 *	1. take the whole intake list; for each record clear QUEUED, then
 *	   read its cell and apply the newest generation exactly once;
 *	2. advance the wheel to now and fire every due timer in deadline
 *	   order (never early); periodic timers go back in at their next
 *	   period, one-shot timers leave the tables and are retired;
 *	3. arm the CLOCK_MONOTONIC timerfd at the next deadline (in precision
 *	   mode: a window early, then spin to the deadline).
 *
 * It sleeps in epoll on that timerfd, the intake eventfd and a
 * CLOCK_REALTIME timerfd armed with TFD_TIMER_CANCEL_ON_SET, which wakes it
 * when the wall clock is set so CLOCK_REALTIME timers are re-evaluated.
 *
 * Calendar timers are CLOCK_REALTIME timers whose attributes hold a
 * schedule (cal/cal.h): after each fire the dispatcher asks it for the next
 * elapse strictly after the one that fired (cal_next, well under a
 * microsecond) and puts the timer back there, like a periodic timer.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "cal/cal.h"
#include "engine_int.h"
#include "spin.h"

/*
 * How far ahead the CLOCK_REALTIME timerfd is armed (10 years): it only has
 * to be pending to report clock sets; if it ever expires it is re-armed.
 */
#define DISP_REALFD_AHEAD_S (INT64_C(10) * 365 * 86400)
_Static_assert(ENGINE_MAX_DEADLINE / ENGINE_NS_PER_S + DISP_REALFD_AHEAD_S <= INT64_MAX / 2,
	       "the realtime timerfd expiry (now + DISP_REALFD_AHEAD_S) fits in 64-bit seconds");

/* epoll tags. */
enum { DISP_EV_INTAKE = 1, DISP_EV_MONO, DISP_EV_REAL };

/* Reads and discards an eventfd/timerfd counter; returns read()'s result. */
static ssize_t disp_drain(int fd)
{
	uint64_t v;

	return read(fd, &v, sizeof(v));
}

/* Retires a record that left the tables (its attributes go with it). */
static void disp_retire(struct engine *e, struct timer_rec *r)
{
	hazptr_retire(e->dhp, &r->hp, engine_rec_free);
}

/* Locks what orders lookups of r against its removal: key shard, then id stripe. */
static void disp_lock_rec(struct engine *e, struct timer_rec *r, uint64_t *hkey)
{
	if (r->keylen) {
		*hkey = hash_bytes(&e->hk, r->key, r->keylen);
		table_lock(&e->keys, *hkey);
	}
	spin_lock(engine_idlock(e, r->id));
}

/* Unlocks what disp_lock_rec locked. */
static void disp_unlock_rec(struct engine *e, struct timer_rec *r, uint64_t hkey)
{
	spin_unlock(engine_idlock(e, r->id));
	if (r->keylen)
		table_unlock(&e->keys, hkey);
}

/*
 * Removes r (out of the wheel) from the tables and retires it, unless a
 * newer generation was written meanwhile: then r stays and will be applied
 * again (its writer queued it, or retries once we unlock). True if removed.
 * With w (a one-shot's final fire going to delivery w), counts the hand-over
 * in w->handed before r's id slot and key can be reused (engine_fires_wait).
 */
static bool disp_kill(struct engine *e, struct timer_rec *r, struct engine_worker *w)
{
	uint64_t hkey = 0;
	uint32_t old;

	disp_lock_rec(e, r, &hkey);
	/* acq_rel: ordered with producers' fetch_or(QUEUED) on the same word. */
	old = atomic_fetch_or_explicit(&r->flags, TIMER_DEAD, memory_order_acq_rel);
	if (cell_claim_gen(&r->cell) != atomic_load_explicit(&r->last, memory_order_relaxed)) {
		/* acq_rel: as above. */
		uint32_t now = atomic_fetch_and_explicit(&r->flags, ~TIMER_DEAD, memory_order_acq_rel);

		disp_unlock_rec(e, r, hkey);
		/*
		 * A writer that set QUEUED while DEAD was up saw DEAD and will
		 * not push r (it retries and finds r queued): push it here.
		 */
		if (!(old & TIMER_QUEUED) && (now & TIMER_QUEUED))
			engine_push(e, r);
		return false;
	}
	if (w)
		/*
		 * release: sequenced before the unlocks below, through which a
		 * writer reusing r's slot or key (or settling DEAD) acquires it;
		 * so any change that depends on r being gone carries it to the
		 * journal thread (engine_fires_wait).
		 */
		atomic_store_explicit(&w->handed, atomic_load_explicit(&w->handed, memory_order_relaxed) + 1,
				      memory_order_release);
	idmap_remove(&e->ids, &e->dcache, r);
	if (r->keylen)
		table_remove_locked(&e->keys, e->dhp, hkey, r);
	disp_unlock_rec(e, r, hkey);
	atomic_fetch_sub_explicit(&e->ntimers, 1, memory_order_relaxed);
	engine_acct_count(e, r, -1);	/* its creator's account (server quotas: max-timers) */
	/* Queued before DEAD was set: the intake pass retires it when it pops it. */
	if (!(old & TIMER_QUEUED))
		disp_retire(e, r);
	return true;
}

/*
 * Reads r's newest state into w with a reference on its attributes (the
 * dispatcher owns r, so only the attributes need a hazard). Returns the
 * generation, or 0 if it was already applied.
 */
static uint64_t disp_read_state(struct engine *e, struct timer_rec *r, uint64_t *w)
{
	unsigned retries = 0;
	uint64_t gen;

	for (;;) {
		struct timer_attrs *at;

		gen = cell_claim_read(&r->cell, r->buf, TIMER_WORDS, w, &retries);
		if (gen <= atomic_load_explicit(&r->last, memory_order_relaxed)) {
			gen = 0;
			break;
		}
		at = engine_attrs_of(w[1]);
		if (!at)
			break;
		hazptr_publish(e->dhp, &e->dhp->slot[HP_SLOT_ATTRS], at);
		if (cell_claim_gen(&r->cell) == gen && engine_attrs_tryget(at))
			break;
		retries++;
	}
	hazptr_release(e->dhp, HP_SLOT_ATTRS);
	if (retries)
		ctr_add(&e->ds.ctr.cell_retries, retries);
	return gen;
}

/* Publishes generation gen as applied (readers then trust expires). */
static void disp_consume(struct engine *e, struct timer_rec *r, uint64_t gen)
{
	uint64_t last = atomic_load_explicit(&r->last, memory_order_relaxed);

	if (gen > last + 1)
		ctr_add(&e->ds.ctr.coalesced, gen - last - 1);
	cell_consume(&r->last, gen);
}

/* Applies r's newest cell state to the wheel and tables. */
static void disp_apply(struct engine *e, struct timer_rec *r)
{
	uint64_t w[TIMER_WORDS], gen = disp_read_state(e, r, w);
	struct timer_attrs *at = engine_attrs_of(w[1]);
	int64_t expires = (int64_t)w[0];

	if (!gen)
		return;
	if (wheel_pending(&r->wn))
		wheel_del(&e->wheel, &r->wn);
	engine_attrs_put(e->dhp, r->applied);
	r->applied = at;
	if (w[1] & TIMER_OP_CANCEL) {
		disp_consume(e, r, gen);
		ctr_add(&e->ds.cancels_applied, 1);
		disp_kill(e, r, NULL);
		return;
	}
	r->dflags &= TIMER_D_ACCT_MASK;	/* the account stays */
	if (w[1] & TIMER_OP_REALTIME) {
		r->dflags |= TIMER_D_REALTIME;
		atomic_store_explicit(&at->wall_next, expires, memory_order_relaxed);
		expires -= engine_mono_to_unix(e);
	}
	wheel_set_expires(&r->wn, expires < 0 ? 0 : expires);
	disp_consume(e, r, gen);	/* release: expires is set first */
	wheel_add(&e->wheel, &r->wn);
}

/* Step 1: takes the whole intake and applies each record once. */
static void disp_intake(struct engine *e)
{
	struct llist_node *n = llist_reverse(llist_del_all(&e->intake)), *next;
	uint64_t count = 0;

	for (; n; n = next, count++) {
		struct timer_rec *r = container_of(n, struct timer_rec, qn);
		uint32_t old;

		next = n->next;		/* before r can be queued again */
		/* acq_rel: a producer that sets QUEUED after this re-queues r;
		 * one that set it before has its cell write visible below. */
		old = atomic_fetch_and_explicit(&r->flags, ~TIMER_QUEUED, memory_order_acq_rel);
		if (old & TIMER_DEAD)
			disp_retire(e, r);	/* killed while queued */
		else
			disp_apply(e, r);
	}
	e->pass_intake = count;
	ctr_max(&e->ds.ctr.intake_hwm, count);
}

/* Runs on_fire for one fire (on this thread) and drops the item's reference. */
static void disp_deliver(struct engine *e, struct hazptr_thread *hp, struct engine_fire_item *it)
{
	if (e->cfg.on_fire)
		e->cfg.on_fire(e->cfg.fire_arg, &it->f);
	engine_attrs_put(hp, it->attrs);
	free(it);
	atomic_fetch_sub_explicit(&e->inflight, 1, memory_order_relaxed);
}

/* Counts n fires a worker delivered and wakes engine_drain() and engine_fires_wait() waiters. */
static void disp_delivered(struct engine *e, struct engine_worker *w, uint64_t n)
{
	/*
	 * seq_cst (store and load): the count is stored before the waiter
	 * check, engine_drain adds itself before its count check; so either
	 * it sees the count or we see it and wake it. The store also releases
	 * the on_fire calls to the waiter.
	 */
	uint64_t now = atomic_load_explicit(&w->delivered, memory_order_relaxed) + n;

	atomic_store_explicit(&w->delivered, now, memory_order_seq_cst);
	if (!atomic_load_explicit(&e->drain_waiters, memory_order_seq_cst))
		return;
	/*
	 * seq_cst: after the delivered store, pairs with disp_want's CAS before
	 * its delivered load: either the waiter's load sees our count, or our
	 * load sees its target (or a smaller one). A waiter not woken now has a
	 * target above our count: a later fire's count reaches it.
	 */
	if (now < atomic_load_explicit(&w->wake_at, memory_order_seq_cst))
		return;
	/* seq_cst: as above; the waiters woken set their targets again (under sync_mu) */
	atomic_store_explicit(&w->wake_at, UINT64_MAX, memory_order_seq_cst);
	pthread_mutex_lock(&e->sync_mu);
	pthread_cond_broadcast(&e->drain_cv);
	pthread_mutex_unlock(&e->sync_mu);
}

/* The delivery thread of timer id (with workers == 0, workers[0] counts the dispatcher's own fires). */
static struct engine_worker *disp_worker_of(struct engine *e, uint64_t id)
{
	return &e->workers[e->cfg.workers ? hash_id(id) % e->cfg.workers : 0];
}

/* Hands a fire to the delivery thread of its timer (keeps per-timer order); counted: disp_kill counted it. */
static void disp_hand_over(struct engine *e, struct engine_fire_item *it, bool counted)
{
	struct engine_worker *w = disp_worker_of(e, it->f.id);

	atomic_fetch_add_explicit(&e->inflight, 1, memory_order_relaxed);
	if (!counted)
		/* release: before the push (engine_drain waits for it), as in disp_kill */
		atomic_store_explicit(&w->handed, atomic_load_explicit(&w->handed, memory_order_relaxed) + 1,
				      memory_order_release);
	llist_add(&it->ln, &w->q);
	e->wake_worker[w - e->workers] = true;	/* woken once, at the end of the pass */
}

/* Wakes the delivery threads that received fires in this pass and sleep. */
static void disp_wake_workers(struct engine *e)
{
	uint64_t one = 1;

	for (unsigned i = 0; i < e->cfg.workers; i++) {
		struct engine_worker *w = &e->workers[i];

		if (!e->wake_worker[i])
			continue;
		e->wake_worker[i] = false;
		if (llist_wake_needed(&w->idle) && write(w->efd, &one, sizeof(one)) < 0 &&
		    errno != EAGAIN)
			abort();
	}
}

/* Builds the fire of r due at deadline, final if r ends with it (NULL if out of memory). */
static struct engine_fire_item *disp_fire_item(struct timer_rec *r, int64_t deadline,
					       int64_t now, uint64_t missed, bool final)
{
	struct timer_attrs *at = r->applied;
	struct engine_fire_item *it = malloc(sizeof(*it) + r->keylen);

	if (!it)
		return NULL;
	memset(&it->f, 0, sizeof(it->f));
	it->attrs = at;
	it->f.id = r->id;
	it->f.keylen = r->keylen;
	it->f.key = r->keylen ? memcpy(it->key, r->key, r->keylen) : NULL;
	it->f.topic = "";
	if (at) {
		atomic_fetch_add_explicit(&at->refs, 1, memory_order_relaxed);
		it->f.topic = at->data;
		it->f.topiclen = at->topiclen;
		it->f.payload = at->data + at->topiclen;
		it->f.payloadlen = at->payloadlen;
		it->f.owner = at->owner;
		it->f.flags = at->flags;
		it->f.label = at->labellen ? at->data + at->topiclen + at->payloadlen : NULL;
		it->f.labellen = at->labellen;
		it->f.period = at->period;
		it->f.seq = atomic_load_explicit(&at->fires, memory_order_relaxed);
	} else {
		it->f.seq = 1;
	}
	it->f.realtime = r->dflags & TIMER_D_REALTIME;
	it->f.final = final;
	it->f.deadline = deadline;
	it->f.fired_at = now;
	it->f.missed = missed;
	return it;
}

/* Re-inserts periodic r at its next period after deadline; returns periods missed. */
static uint64_t disp_rearm_periodic(struct engine *e, struct timer_rec *r, int64_t deadline,
				    int64_t now)
{
	struct timer_attrs *at = r->applied;
	uint64_t missed = 0;
	int64_t next = deadline + at->period;

	if (next <= now) {
		/* Fixed rate: skip the periods that already passed, keep the phase. */
		missed = (uint64_t)((now - deadline) / at->period);
		next = deadline + (int64_t)(missed + 1) * at->period;
	}
	if (r->dflags & TIMER_D_REALTIME)
		atomic_fetch_add_explicit(&at->wall_next, (int64_t)(missed + 1) * at->period,
					  memory_order_relaxed);
	wheel_set_expires(&r->wn, next);
	wheel_add(&e->wheel, &r->wn);
	return missed;
}

/*
 * A CLOCK_REALTIME timer whose wall deadline is not reached (the wall
 * clock was slewed): put back at the remaining wall time. True if so.
 */
static bool disp_wall_early(struct engine *e, struct timer_rec *r, int64_t now)
{
	int64_t wall, real;

	if (!(r->dflags & TIMER_D_REALTIME))
		return false;
	wall = atomic_load_explicit(&r->applied->wall_next, memory_order_relaxed);
	real = engine_now_real(e);
	if (real >= wall)
		return false;
	wheel_set_expires(&r->wn, now + (wall - real));
	wheel_add(&e->wheel, &r->wn);
	return true;
}

/* Hands a fire to delivery: a delivery thread, or on_fire right here; counted: disp_kill counted it. */
static void disp_deliver_fire(struct engine *e, struct engine_fire_item *it, bool counted)
{
	if (e->cfg.workers) {
		disp_hand_over(e, it, counted);
	} else {
		atomic_fetch_add_explicit(&e->inflight, 1, memory_order_relaxed);
		disp_deliver(e, e->dhp, it);
		if (counted)
			disp_delivered(e, &e->workers[0], 1);	/* engine_fires_wait waits for it */
	}
	ctr_add(&e->ds.ctr.fires, 1);
}

/* Drops a fire that was built but will not be delivered. */
static void disp_drop_item(struct engine *e, struct engine_fire_item *it)
{
	engine_attrs_put(e->dhp, it->attrs);
	free(it);
}

/* Fires a due periodic timer and puts it back at its next period. */
static void disp_fire_periodic(struct engine *e, struct timer_rec *r, int64_t deadline,
			       int64_t now)
{
	uint64_t missed = disp_rearm_periodic(e, r, deadline, now);
	struct engine_fire_item *it;

	if (e->cfg.workers &&
	    atomic_load_explicit(&e->inflight, memory_order_relaxed) >= e->cfg.max_inflight) {
		ctr_add(&e->ds.ctr.missed, missed + 1);	/* delivery backlog: skip */
		return;
	}
	ctr_add(&e->ds.ctr.missed, missed);
	it = disp_fire_item(r, deadline, now, missed, false);
	if (it)
		disp_deliver_fire(e, it, false);
	else
		ctr_add(&e->ds.ctr.missed, 1);
}

/*
 * Fires a due one-shot timer. The fire is built first (r may be freed by
 * the kill) and delivered only if the kill removed r: if a newer state was
 * written meanwhile, r stays and that state takes effect instead.
 */
static void disp_fire_once(struct engine *e, struct timer_rec *r, int64_t deadline, int64_t now,
			   uint64_t missed)
{
	struct engine_fire_item *it = disp_fire_item(r, deadline, now, missed, true);

	if (!disp_kill(e, r, it ? disp_worker_of(e, r->id) : NULL)) {
		if (it)
			disp_drop_item(e, it);
		ctr_add(&e->ds.ctr.coalesced, 1);
		return;
	}
	if (it)
		disp_deliver_fire(e, it, true);
	else
		ctr_add(&e->ds.ctr.missed, 1);
}

/*
 * The first elapse of schedule c after the one at fired (unix ns) that is
 * after real, in *next; the elapses skipped to reach it in *missed (counted
 * up to ENGINE_CAL_MISSED_MAX, then found from real at once). False if the
 * schedule has no elapse after fired: it ends.
 */
static bool disp_cal_next(const struct cal *c, int64_t fired, int64_t real, int64_t *next,
			  uint64_t *missed)
{
	*missed = 0;
	if (cal_next(c, fired, next) != 0)
		return false;
	while (*next <= real) {
		if (*missed == ENGINE_CAL_MISSED_MAX)
			return cal_next(c, real, next) == 0;	/* more than counted: go on from now */
		(*missed)++;
		if (cal_next(c, *next, next) != 0)
			return false;
	}
	return true;
}

/* Puts calendar timer r back in the wheel at wall time next (unix ns). */
static void disp_cal_place(struct engine *e, struct timer_rec *r, int64_t next)
{
	int64_t t = next - engine_mono_to_unix(e);

	atomic_store_explicit(&r->applied->wall_next, next, memory_order_relaxed);
	wheel_set_expires(&r->wn, t < 0 ? 0 : t);
	wheel_add(&e->wheel, &r->wn);
}

/*
 * Fires a due calendar timer and puts it back at its next elapse after the
 * one that fired (elapses that passed meanwhile are skipped and counted in
 * missed); if its schedule ends, the fire is final and the timer goes.
 */
static void disp_fire_cal(struct engine *e, struct timer_rec *r, int64_t deadline, int64_t now)
{
	struct timer_attrs *at = r->applied;
	int64_t next, fired = atomic_load_explicit(&at->wall_next, memory_order_relaxed);
	uint64_t missed;
	struct engine_fire_item *it;

	if (!disp_cal_next(at->cal, fired, engine_now_real(e), &next, &missed)) {
		ctr_add(&e->ds.ctr.missed, missed);
		disp_fire_once(e, r, deadline, now, missed);
		return;
	}
	disp_cal_place(e, r, next);
	if (e->cfg.workers &&
	    atomic_load_explicit(&e->inflight, memory_order_relaxed) >= e->cfg.max_inflight) {
		ctr_add(&e->ds.ctr.missed, missed + 1);	/* delivery backlog: skip */
		return;
	}
	ctr_add(&e->ds.ctr.missed, missed);
	it = disp_fire_item(r, deadline, now, missed, false);
	if (it)
		disp_deliver_fire(e, it, false);
	else
		ctr_add(&e->ds.ctr.missed, 1);
}

/*
 * Fires one due timer; false if it did not fire: not due on the wall clock,
 * or a newer state (a re-arm or cancel that returned after this pass took
 * the intake) was written, which is applied instead.
 */
static bool disp_fire(struct engine *e, struct timer_rec *r)
{
	int64_t deadline = wheel_expires(&r->wn), now = engine_now(e);
	struct timer_attrs *at = r->applied;

	if (cell_claim_gen(&r->cell) != atomic_load_explicit(&r->last, memory_order_relaxed)) {
		disp_apply(e, r);	/* if still due, it fires in the next pass */
		return false;
	}
	if (disp_wall_early(e, r, now))
		return false;
	hist_record(&e->late, now - deadline);
	if (at)
		ctr_add(&at->fires, 1);
	if (at && at->period)
		disp_fire_periodic(e, r, deadline, now);
	else if (at && at->cal)
		disp_fire_cal(e, r, deadline, now);
	else
		disp_fire_once(e, r, deadline, now, 0);
	return true;
}

/* Collects CLOCK_REALTIME timers (wheel_for_each callback). */
static void disp_collect_real(void *arg, struct wheel_node *n)
{
	struct timer_rec *r = container_of(n, struct timer_rec, wn);
	struct timer_rec ***v = arg;

	if (r->dflags & TIMER_D_REALTIME)
		*(*v)++ = r;
}

/* The wall clock was set: re-place every CLOCK_REALTIME timer. */
static void disp_clock_jump(struct engine *e)
{
	size_t cap = e->wheel.count;
	struct timer_rec **v = malloc((cap ? cap : 1) * sizeof(*v)), **end = v;
	int64_t off = engine_mono_to_unix(e);

	ctr_add(&e->ds.ctr.clock_jumps, 1);
	if (!v)
		return;		/* out of memory: the fire-time wall check still holds */
	wheel_for_each(&e->wheel, disp_collect_real, &end);
	for (struct timer_rec **p = v; p < end; p++) {
		struct timer_rec *r = *p;
		int64_t t = atomic_load_explicit(&r->applied->wall_next, memory_order_relaxed) - off;

		wheel_del(&e->wheel, &r->wn);
		wheel_set_expires(&r->wn, t < 0 ? 0 : t);
		wheel_add(&e->wheel, &r->wn);
	}
	free(v);
}

/* Collects calendar timers (wheel_for_each callback). */
static void disp_collect_cal(void *arg, struct wheel_node *n)
{
	struct timer_rec *r = container_of(n, struct timer_rec, wn);
	struct timer_rec ***v = arg;

	if (r->applied && r->applied->cal)
		*(*v)++ = r;
}

/*
 * The calendar rules changed: re-places every calendar timer not due yet
 * at its schedule's first elapse after now (one that is due fires as it
 * is). A schedule with no elapse left leaves its timer where it was.
 */
static void disp_cal_replace(struct engine *e)
{
	size_t cap = e->wheel.count;
	struct timer_rec **v = malloc((cap ? cap : 1) * sizeof(*v)), **end = v;
	int64_t real = engine_now_real(e);

	if (!v)
		return;		/* out of memory: the old elapses stand */
	wheel_for_each(&e->wheel, disp_collect_cal, &end);
	for (struct timer_rec **p = v; p < end; p++) {
		struct timer_rec *r = *p;
		int64_t next;

		if (atomic_load_explicit(&r->applied->wall_next, memory_order_relaxed) <= real ||
		    cal_next(r->applied->cal, real, &next) != 0)
			continue;
		wheel_del(&e->wheel, &r->wn);
		disp_cal_place(e, r, next);
	}
	free(v);
}

/* Tells engine_sync() waiters everything queued before their ticket was applied. */
static void disp_sync_done(struct engine *e, uint64_t ticket)
{
	if (ticket == e->sync_done)
		return;
	pthread_mutex_lock(&e->sync_mu);
	e->sync_done = ticket;
	pthread_cond_broadcast(&e->sync_cv);
	pthread_mutex_unlock(&e->sync_mu);
}

/* One pass: intake, fire what is due, report sync. Returns the fires. */
static int disp_pass(struct engine *e)
{
	/* seq_cst: read before the intake exchange, pairs with engine_sync()'s fetch_add. */
	uint64_t ticket = atomic_load_explicit(&e->sync_req, memory_order_seq_cst);
	struct wheel_node *due, *next;
	int64_t now;
	int fired = 0;

	if (atomic_exchange_explicit(&e->clock_changed, false, memory_order_acq_rel))
		disp_clock_jump(e);
	/*
	 * Read the clock before taking the intake: a re-arm or cancel that
	 * returned before a deadline was pushed before this read, so it is
	 * applied before that deadline can fire.
	 */
	now = engine_now(e);
	disp_intake(e);
	if (atomic_exchange_explicit(&e->cal_changed, false, memory_order_acq_rel))
		disp_cal_replace(e);	/* after the intake: arms made before the change are placed too */
	due = wheel_advance(&e->wheel, now);
	for (; due; due = next) {
		next = due->next;
		fired += disp_fire(e, container_of(due, struct timer_rec, wn));
	}
	if (e->cfg.workers)
		disp_wake_workers(e);
	ctr_add(&e->ds.ctr.passes, 1);
	disp_sync_done(e, ticket);
	return fired;
}

int engine_dispatch(struct engine *e)
{
	e->dhp = hazptr_thread_self(&e->hpd);	/* the calling thread's own record */
	return disp_pass(e);
}

int64_t engine_next_wakeup(struct engine *e)
{
	/* relaxed: a hint for when to pass; the pass itself takes the flag with acq_rel. */
	if (!llist_empty(&e->intake) || atomic_load_explicit(&e->clock_changed, memory_order_relaxed) ||
	    atomic_load_explicit(&e->cal_changed, memory_order_relaxed))
		return engine_now(e);
	return wheel_next(&e->wheel);
}

void engine_clock_changed(struct engine *e)
{
	atomic_store_explicit(&e->clock_changed, true, memory_order_release);
	engine_kick(e);
}

/* Asks the dispatcher for a pass; the ticket engine_ping_answered checks. */
uint64_t engine_ping(struct engine *e)
{
	/* seq_cst: the same ticket order as engine_sync's, read by disp_pass. */
	uint64_t ticket = atomic_fetch_add_explicit(&e->sync_req, 1, memory_order_seq_cst) + 1;

	engine_kick(e);
	return ticket;
}

/* True once a dispatcher pass that read the ping's ticket has finished. */
bool engine_ping_answered(struct engine *e, uint64_t ticket)
{
	bool done;

	pthread_mutex_lock(&e->sync_mu);	/* sync_done is written under it (disp_sync_done) */
	done = e->sync_done >= ticket;
	pthread_mutex_unlock(&e->sync_mu);
	return done;
}

/* Asks the dispatcher to re-place every calendar timer (after cal_tz_reload). */
void engine_cal_changed(struct engine *e)
{
	/* release: the caller's cal_tz_reload happens-before the dispatcher's re-placement. */
	atomic_store_explicit(&e->cal_changed, true, memory_order_release);
	engine_kick(e);
}

void engine_sync(struct engine *e)
{
	uint64_t ticket;

	if (e->cfg.manual) {
		engine_dispatch(e);
		return;
	}
	/* seq_cst: after this thread's pushes, before the dispatcher's ticket read. */
	ticket = atomic_fetch_add_explicit(&e->sync_req, 1, memory_order_seq_cst) + 1;
	engine_kick(e);
	pthread_mutex_lock(&e->sync_mu);
	while (e->sync_done < ticket)
		pthread_cond_wait(&e->sync_cv, &e->sync_mu);
	pthread_mutex_unlock(&e->sync_mu);
}

/*
 * Under sync_mu: asks worker w to wake the waiters once its delivered count
 * reaches want (lowering w->wake_at to want), then says whether it has.
 */
static bool disp_want(struct engine_worker *w, uint64_t want)
{
	/* seq_cst: see disp_delivered; the CAS is ordered before the delivered load below */
	uint64_t cur = atomic_load_explicit(&w->wake_at, memory_order_seq_cst);

	while (want < cur &&
	       !atomic_compare_exchange_weak_explicit(&w->wake_at, &cur, want, memory_order_seq_cst,
						      memory_order_seq_cst))
		;
	/* seq_cst: pairs with disp_delivered (see there); acquires the on_fire calls. */
	return atomic_load_explicit(&w->delivered, memory_order_seq_cst) >= want;
}

/* Waits under sync_mu until worker w delivered every fire handed to it so far. */
static void disp_drain_worker(struct engine *e, struct engine_worker *w)
{
	/* relaxed: sync_mu orders this after the hand-overs of the pass engine_sync waited for. */
	uint64_t want = atomic_load_explicit(&w->handed, memory_order_relaxed);

	while (!disp_want(w, want))
		pthread_cond_wait(&e->drain_cv, &e->sync_mu);
}

void engine_drain(struct engine *e)
{
	engine_sync(e);
	if (!e->cfg.workers)
		return;		/* on_fire ran on the dispatcher, within the pass */
	/* seq_cst: before the count checks, pairs with disp_delivered. */
	atomic_fetch_add_explicit(&e->drain_waiters, 1, memory_order_seq_cst);
	pthread_mutex_lock(&e->sync_mu);
	for (unsigned i = 0; i < e->cfg.workers; i++)
		disp_drain_worker(e, &e->workers[i]);
	pthread_mutex_unlock(&e->sync_mu);
	/* relaxed: only tells workers whether to wake anyone. */
	atomic_fetch_sub_explicit(&e->drain_waiters, 1, memory_order_relaxed);
}

/* True if every fire counted in each worker's handed before the call has been delivered. */
static bool disp_fires_done(struct engine *e, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		/* acquire (handed): pairs with disp_kill/disp_hand_over; seq_cst (delivered): see disp_delivered. */
		if (atomic_load_explicit(&e->workers[i].delivered, memory_order_seq_cst) <
		    atomic_load_explicit(&e->workers[i].handed, memory_order_acquire))
			return false;
	return true;
}

void engine_fires_wait(struct engine *e)
{
	unsigned n = e->cfg.workers ? e->cfg.workers : 1;

	if (disp_fires_done(e, n))
		return;
	/* seq_cst: before the count checks, pairs with disp_delivered (as engine_drain). */
	atomic_fetch_add_explicit(&e->drain_waiters, 1, memory_order_seq_cst);
	pthread_mutex_lock(&e->sync_mu);
	for (unsigned i = 0; i < n; i++) {
		struct engine_worker *w = &e->workers[i];
		/* acquire: pairs with the dispatcher's release in disp_kill/disp_hand_over. */
		uint64_t want = atomic_load_explicit(&w->handed, memory_order_acquire);

		/* disp_want's load (seq_cst) acquires the on_fire calls (their journal rows) */
		while (!disp_want(w, want))
			pthread_cond_wait(&e->drain_cv, &e->sync_mu);
	}
	pthread_mutex_unlock(&e->sync_mu);
	/* relaxed: only tells workers whether to wake anyone. */
	atomic_fetch_sub_explicit(&e->drain_waiters, 1, memory_order_relaxed);
}

/* Arms the monotonic timerfd at t (absolute ns); INT64_MAX disarms. */
static void disp_arm_timerfd(struct engine *e, int64_t t)
{
	struct itimerspec its = { 0 };

	if (t == e->armed_at)
		return;
	e->armed_at = t;
	if (t != INT64_MAX) {
		if (t < 1)
			t = 1;	/* zero would disarm */
		its.it_value.tv_sec = t / ENGINE_NS_PER_S;
		its.it_value.tv_nsec = t % ENGINE_NS_PER_S;
	}
	if (timerfd_settime(e->tfd_mono, TFD_TIMER_ABSTIME, &its, NULL) < 0)
		abort();	/* cannot fail with valid arguments */
}

/* Arms the realtime timerfd far ahead, to be told when the wall clock is set. */
static void disp_arm_realfd(struct engine *e)
{
	struct itimerspec its = { 0 };

	its.it_value.tv_sec = (engine_now_real(e) / ENGINE_NS_PER_S) + DISP_REALFD_AHEAD_S;
	timerfd_settime(e->tfd_real, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &its, NULL);
}

/* Handles one epoll event. */
static void disp_event(struct engine *e, uint32_t tag)
{
	switch (tag) {
	case DISP_EV_INTAKE:
		disp_drain(e->intake_efd);
		break;
	case DISP_EV_MONO:
		disp_drain(e->tfd_mono);
		e->armed_at = 0;	/* expired: must be re-armed */
		break;
	case DISP_EV_REAL:
		if (disp_drain(e->tfd_real) < 0 && errno == ECANCELED)
			atomic_store_explicit(&e->clock_changed, true, memory_order_relaxed);
		disp_arm_realfd(e);
		break;
	}
}

/*
 * Precision mode: if the next deadline is within the window, spin until it
 * (or until new intake arrives). True if the caller should pass again now.
 */
static bool disp_spin(struct engine *e, int64_t next)
{
	if (!e->cfg.precision_ns || next == INT64_MAX ||
	    next - engine_now(e) > e->cfg.precision_ns)
		return false;
	while (engine_now(e) < next && llist_empty(&e->intake) &&
	       !atomic_load_explicit(&e->stop, memory_order_relaxed))
		cpu_relax();
	return true;
}

/* The dispatcher thread. */
static void *disp_main(void *arg)
{
	struct engine *e = arg;

	e->dhp = hazptr_thread_self(&e->hpd);
	disp_arm_realfd(e);
	while (!atomic_load_explicit(&e->stop, memory_order_acquire)) {
		struct epoll_event ev[4];
		int64_t next;
		int n;

		disp_pass(e);
		next = wheel_next(&e->wheel);
		if (disp_spin(e, next))
			continue;
		next = next == INT64_MAX ? next : next - e->cfg.precision_ns;
		/* Requests came: look again within the delay for those that did not wake us. */
		if (e->pass_intake && next - engine_now(e) > ENGINE_INTAKE_DELAY)
			next = engine_now(e) + ENGINE_INTAKE_DELAY;
		disp_arm_timerfd(e, next);
		/* Producers wake us only for deadlines earlier than this (engine_wake). */
		atomic_store_explicit(&e->wake_at, next, memory_order_relaxed);
		llist_consumer_idle(&e->idle);
		if (!llist_empty_sc(&e->intake)) {
			llist_consumer_busy(&e->idle);
			continue;
		}
		n = epoll_wait(e->epfd, ev, 4, -1);
		llist_consumer_busy(&e->idle);
		for (int i = 0; i < n; i++)
			disp_event(e, ev[i].data.u32);
	}
	return NULL;
}

/* A delivery thread: runs on_fire for each handed-over fire. */
static void *disp_worker_main(void *arg)
{
	struct engine_worker *w = arg;
	struct engine *e = w->e;
	struct hazptr_thread *hp = hazptr_thread_self(&e->hpd);

	for (;;) {
		struct llist_node *n = llist_reverse(llist_del_all(&w->q)), *next;

		if (!n) {
			if (atomic_load_explicit(&e->wstop, memory_order_acquire) &&
			    llist_empty(&w->q))
				break;
			llist_consumer_idle(&w->idle);
			if (llist_empty_sc(&w->q) &&
			    !atomic_load_explicit(&e->wstop, memory_order_acquire))
				disp_drain(w->efd);	/* blocks until a fire or stop arrives */
			llist_consumer_busy(&w->idle);
			continue;
		}
		for (; n; n = next) {
			next = n->next;
			disp_deliver(e, hp, container_of(n, struct engine_fire_item, ln));
			disp_delivered(e, w, 1);	/* each: the journal thread may be waiting for this one */
		}
	}
	return NULL;
}

/* Adds fd to the dispatcher's epoll set with a tag. */
static int disp_watch(struct engine *e, int fd, uint32_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = tag };

	return epoll_ctl(e->epfd, EPOLL_CTL_ADD, fd, &ev);
}

/* Allocates the delivery threads' records, each with its wake-up eventfd. */
static int disp_workers_init(struct engine *e)
{
	size_t n = e->cfg.workers ? e->cfg.workers : 1;

	e->workers = aligned_alloc(CACHELINE, n * sizeof(*e->workers));
	if (!e->workers)
		return TD_ENOMEM;
	memset(e->workers, 0, n * sizeof(*e->workers));
	for (size_t i = 0; i < n; i++)
		/* relaxed: before the threads start */
		atomic_store_explicit(&e->workers[i].wake_at, UINT64_MAX, memory_order_relaxed);
	for (unsigned i = 0; i < e->cfg.workers; i++)
		e->workers[i].efd = -1;		/* engine_dispatch_fini closes only opened ones */
	e->wake_worker = calloc(n, sizeof(bool));
	if (!e->wake_worker)
		return TD_ENOMEM;
	for (unsigned i = 0; i < e->cfg.workers; i++) {
		e->workers[i].e = e;
		e->workers[i].efd = eventfd(0, EFD_CLOEXEC);
		if (e->workers[i].efd < 0)
			return TD_ESYS;
	}
	return 0;
}

/* Sets up the dispatcher's fds and the workers; on error the caller runs engine_dispatch_fini. */
static int disp_init(struct engine *e)
{
	e->intake_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (e->intake_efd < 0)
		return TD_ESYS;
	wheel_init(&e->wheel, engine_now(e));
	if (e->cfg.manual)
		return disp_workers_init(e);	/* workers[0] counts the fires on_fire runs inline */
	e->epfd = epoll_create1(EPOLL_CLOEXEC);
	e->tfd_mono = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	e->tfd_real = timerfd_create(CLOCK_REALTIME, TFD_CLOEXEC | TFD_NONBLOCK);
	if (e->epfd < 0 || e->tfd_mono < 0 || e->tfd_real < 0 ||
	    disp_watch(e, e->intake_efd, DISP_EV_INTAKE) || disp_watch(e, e->tfd_mono, DISP_EV_MONO) ||
	    disp_watch(e, e->tfd_real, DISP_EV_REAL))
		return TD_ESYS;
	return disp_workers_init(e);
}

int engine_dispatch_init(struct engine *e)
{
	int err;

	e->intake_efd = e->epfd = e->tfd_mono = e->tfd_real = -1;
	pthread_mutex_init(&e->sync_mu, NULL);
	pthread_cond_init(&e->sync_cv, NULL);
	pthread_cond_init(&e->drain_cv, NULL);
	err = disp_init(e);
	if (err)
		engine_dispatch_fini(e);	/* closes what was opened: no fd leaks */
	return err;
}

int engine_dispatch_start(struct engine *e)
{
	if (e->cfg.manual || e->disp_started)
		return 0;
	for (unsigned i = 0; i < e->cfg.workers; i++) {
		if (pthread_create(&e->workers[i].tid, NULL, disp_worker_main, &e->workers[i]))
			return TD_ESYS;
		e->workers[i].started = true;
	}
	if (pthread_create(&e->disp_tid, NULL, disp_main, e))
		return TD_ESYS;
	e->disp_started = true;
	return 0;
}

void engine_dispatch_stop(struct engine *e)
{
	uint64_t one = 1;

	atomic_store_explicit(&e->stop, true, memory_order_release);
	if (e->disp_started) {
		engine_kick(e);
		pthread_join(e->disp_tid, NULL);
		e->disp_started = false;
	}
	/* Only now: the dispatcher's last pass may still have handed over fires. */
	atomic_store_explicit(&e->wstop, true, memory_order_release);
	for (unsigned i = 0; e->workers && i < e->cfg.workers; i++) {
		if (!e->workers[i].started)
			continue;
		if (write(e->workers[i].efd, &one, sizeof(one)) < 0)
			abort();
		pthread_join(e->workers[i].tid, NULL);
		e->workers[i].started = false;
	}
}

void engine_dispatch_fini(struct engine *e)
{
	int fds[] = { e->intake_efd, e->epfd, e->tfd_mono, e->tfd_real };

	for (unsigned i = 0; e->workers && i < e->cfg.workers; i++)
		if (e->workers[i].efd >= 0)
			close(e->workers[i].efd);
	free(e->workers);
	free(e->wake_worker);
	for (unsigned i = 0; i < ARRAY_SIZE(fds); i++)
		if (fds[i] >= 0)
			close(fds[i]);
	pthread_mutex_destroy(&e->sync_mu);
	pthread_cond_destroy(&e->sync_cv);
	pthread_cond_destroy(&e->drain_cv);
}
