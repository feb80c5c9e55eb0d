/*
 * restore.c -- putting saved timers back into an engine before it starts:
 * exact ids, keys, deadlines and attributes, with no dispatcher running.
 *
 * A bulk load (engine_restore_bulk) skips the key table while it puts
 * records in: engine_restore_bulk_end then inserts every key in slot
 * order, hashing a window of them and prefetching their table slots so the
 * cache misses overlap. A snapshot holds one row per slot, so only an
 * interrupted snapshot can hold a key twice (see server/journal.c): one of
 * the two is dropped, and the journal rows after it settle the key.
 *
 * Single-threaded by contract (engine.h): nothing else touches the engine
 * until engine_restore_done(), so records go straight into the id map and
 * the key table, and a replaced or deleted one is freed at once. Only
 * engine_restore_done() queues the survivors for the dispatcher, which
 * applies them like any new timer when it starts.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "cal/cal.h"
#include "engine_int.h"

/* Slots whose keys are hashed and prefetched together when the key table is built. */
#define RESTORE_WINDOW 16

/* Index of an id in the id map. */
static uint32_t restore_index(uint64_t id)
{
	return (uint32_t)id;
}

/* Frees restored record r at once: out of the tables, then memory. */
static void restore_remove(struct engine *e, struct engine_tctx *t, struct timer_rec *r)
{
	if (r->keylen && !(r->dflags & TIMER_D_UNTABLED)) {
		uint64_t hkey = hash_bytes(&e->hk, r->key, r->keylen);

		table_lock(&e->keys, hkey);
		table_remove_locked(&e->keys, t->hp, hkey, r);
		table_unlock(&e->keys, hkey);
	}
	idmap_restore_clear(&e->ids, r->id);
	atomic_fetch_sub_explicit(&e->ntimers, 1, memory_order_relaxed);
	engine_acct_count(e, r, -1);
	engine_rec_free(&r->hp);	/* no reader exists yet: no grace period */
}

/* Frees whatever holds id's index or a's key, so the restored timer can take both. */
static void restore_make_room(struct engine *e, struct engine_tctx *t, uint64_t id, const struct engine_arm *a)
{
	struct timer_rec *r = idmap_at_unsafe(&e->ids, restore_index(id));

	if (r)
		restore_remove(e, t, r);
	if (a && a->keylen) {
		uint64_t hkey = hash_bytes(&e->hk, a->key, a->keylen);

		table_lock(&e->keys, hkey);
		r = table_find_locked(&e->keys, hkey, a->key, a->keylen);
		table_unlock(&e->keys, hkey);
		if (r)
			restore_remove(e, t, r);
	}
}

/* A record for id holding state w, not yet in any table; NULL if out of memory. */
static struct timer_rec *restore_rec_new(uint64_t id, const struct engine_arm *a, const uint64_t *w)
{
	struct timer_rec *r = malloc(sizeof(*r) + a->keylen);

	if (!r)
		return NULL;
	memset(r, 0, sizeof(*r));
	r->id = id;
	r->keylen = (uint16_t)a->keylen;
	if (a->keylen)
		memcpy(r->key, a->key, a->keylen);
	atomic_init(&r->flags, 0);	/* queued by engine_restore_done */
	cell_claim_init(&r->cell, r->buf, TIMER_WORDS, w);
	return r;
}

/* Puts r into the key table and the id map; 0 or a TD_* error (r not inserted). */
static int restore_insert(struct engine *e, struct engine_tctx *t, struct timer_rec *r)
{
	if (r->keylen && e->restore_bulk) {
		r->dflags |= TIMER_D_UNTABLED;	/* engine_restore_bulk_end puts it in the table */
	} else if (r->keylen) {
		uint64_t hkey = hash_bytes(&e->hk, r->key, r->keylen);
		int err;

		table_lock(&e->keys, hkey);
		err = table_insert_locked(&e->keys, t->hp, hkey, r);
		table_unlock(&e->keys, hkey);
		if (err)
			return err;
	}
	if (!idmap_restore_set(&e->ids, r)) {
		if (r->keylen && !(r->dflags & TIMER_D_UNTABLED)) {
			uint64_t hkey = hash_bytes(&e->hk, r->key, r->keylen);

			table_lock(&e->keys, hkey);
			table_remove_locked(&e->keys, t->hp, hkey, r);
			table_unlock(&e->keys, hkey);
		}
		return TD_ENOMEM;
	}
	atomic_fetch_add_explicit(&e->ntimers, 1, memory_order_relaxed);
	return 0;
}

int engine_restore_put(struct engine *e, uint64_t id, const struct engine_arm *a)
{
	struct engine_tctx *t = engine_tctx(e);
	bool realtime = a->when == ENGINE_AT_REAL;
	struct timer_attrs *at;
	struct timer_rec *r;
	uint64_t w[TIMER_WORDS];
	int err;

	if (!t)
		err = TD_ENOMEM;
	else if (a->when == ENGINE_AFTER || a->id || !id)
		err = TD_EINVAL;
	else
		err = engine_arm_check(e, a, 0);
	if (err)
		goto fail;
	restore_make_room(e, t, id, e->restore_bulk ? NULL : a);
	err = TD_EFULL;
	if ((uint64_t)atomic_load_explicit(&e->ntimers, memory_order_relaxed) >= e->cfg.max_timers ||
	    (err = engine_attrs_new(a, realtime, 1, &at)) != 0)
		goto fail;
	engine_attrs_account(e, at, e->accts ? a->acct : 0);	/* restored timers count against max-memory (never refused) */
	w[0] = (uint64_t)a->time;
	w[1] = (uint64_t)(uintptr_t)at | (realtime ? TIMER_OP_REALTIME : 0);
	if (!(r = restore_rec_new(id, a, w))) {
		engine_attrs_destroy(at);	/* and its schedule, and its bytes */
		return TD_ENOMEM;
	}
	if (e->accts && a->acct < ENGINE_MAX_ACCTS)	/* it counts for its owner, never refused for that */
		r->dflags = (uint16_t)(a->acct << TIMER_D_ACCT_SHIFT);
	if ((err = restore_insert(e, t, r)) != 0)
		engine_rec_free(&r->hp);
	else
		engine_acct_count(e, r, +1);
	return err;
fail:
	cal_free(a->cal);	/* a's schedule is ours, on error too */
	return err;
}

void engine_restore_bulk(struct engine *e)
{
	e->restore_bulk = true;
}

/* Puts the untabled keyed records in slots [from, to) into the key table; duplicates of a key are freed. */
static int restore_table_window(struct engine *e, struct engine_tctx *t, uint32_t from, uint32_t to)
{
	struct timer_rec *v[RESTORE_WINDOW];
	uint64_t h[RESTORE_WINDOW];
	unsigned n = 0;
	int err = 0;

	for (uint32_t i = from; i < to; i++) {
		struct timer_rec *r = idmap_at_unsafe(&e->ids, i);

		if (!r || !(r->dflags & TIMER_D_UNTABLED))
			continue;
		h[n] = hash_bytes(&e->hk, r->key, r->keylen);
		table_prefetch(&e->keys, h[n]);	/* the window's misses overlap */
		v[n++] = r;
	}
	for (unsigned k = 0; k < n; k++) {
		struct timer_rec *r = v[k];

		r->dflags &= (uint16_t)~TIMER_D_UNTABLED;
		table_lock(&e->keys, h[k]);
		if (table_find_locked(&e->keys, h[k], r->key, r->keylen)) {
			/* Two saved timers with one key: an interrupted snapshot; the journal after it settles the key. */
			table_unlock(&e->keys, h[k]);
			r->dflags |= TIMER_D_UNTABLED;	/* not in the table: removal skips it */
			restore_remove(e, t, r);
			continue;
		}
		if (!err)
			err = table_insert_locked(&e->keys, t->hp, h[k], r);
		table_unlock(&e->keys, h[k]);
		if (err) {
			r->dflags |= TIMER_D_UNTABLED;
			restore_remove(e, t, r);
		}
	}
	return err;
}

int engine_restore_bulk_end(struct engine *e)
{
	struct engine_tctx *t = engine_tctx(e);
	uint32_t end = idmap_limit(&e->ids);
	int err = 0;

	if (!t)
		return TD_ENOMEM;
	for (uint32_t i = 0; i < end; i += RESTORE_WINDOW) {
		int rc = restore_table_window(e, t, i, end - i < RESTORE_WINDOW ? end : i + RESTORE_WINDOW);

		if (rc && !err)
			err = rc;	/* go on: every record must leave the untabled state */
	}
	e->restore_bulk = false;
	return err;
}

int engine_restore_del(struct engine *e, uint64_t id)
{
	struct engine_tctx *t = engine_tctx(e);
	struct timer_rec *r = idmap_at_unsafe(&e->ids, restore_index(id));

	if (!t)
		return TD_ENOMEM;
	if (!r || r->id != id)
		return TD_ENOENT;
	restore_remove(e, t, r);
	return 0;
}

int engine_restore_fired(struct engine *e, uint64_t id)
{
	struct engine_tctx *t = engine_tctx(e);
	struct timer_rec *r = idmap_at_unsafe(&e->ids, restore_index(id));

	if (!t)
		return TD_ENOMEM;
	/*
	 * An older generation of the slot left it before id was handed out, so
	 * it is as gone as id (its removal's row may be lost with a batch that
	 * never committed); a newer one (a later holder) stays. Serial-number
	 * order: generations wrap (idmap_release).
	 */
	if (!r || (r->id != id && (int32_t)((uint32_t)(id >> 32) - (uint32_t)(r->id >> 32)) <= 0))
		return TD_ENOENT;
	restore_remove(e, t, r);
	return 0;
}

int engine_restore_reserve(struct engine *e, uint64_t n)
{
	struct engine_tctx *t = engine_tctx(e);

	if (!t)
		return TD_ENOMEM;
	return table_reserve(&e->keys, t->hp, n > e->cfg.max_timers ? e->cfg.max_timers : n);
}

/* The arm flags of restored record r (no other thread runs). */
static uint32_t restore_flags(struct timer_rec *r)
{
	uint64_t w[TIMER_WORDS];
	struct timer_attrs *at;

	cell_claim_read(&r->cell, r->buf, TIMER_WORDS, w, NULL);
	at = engine_attrs_of(w[1]);
	return at ? at->flags : 0;
}

uint64_t engine_restore_done(struct engine *e, uint32_t gen, uint32_t flags, uint64_t *flagged)
{
	uint32_t end = idmap_limit(&e->ids);
	uint64_t n = 0;

	if (flagged)
		*flagged = 0;
	for (uint32_t i = 0; i < end; i++) {
		struct timer_rec *r = idmap_at_unsafe(&e->ids, i);

		if (!r)
			continue;
		if (flagged && (restore_flags(r) & flags))
			(*flagged)++;
		/* relaxed: the dispatcher has not started; engine_start publishes everything. */
		atomic_store_explicit(&r->flags, TIMER_QUEUED, memory_order_relaxed);
		engine_push(e, r);
		n++;
	}
	idmap_restore_finish(&e->ids, &e->dcache, gen);
	return n;
}
