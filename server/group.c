/*
 * group.c -- the consumer groups' state machine (see group.h): groups,
 * deliveries and their states, consumers and credit, ordering per key,
 * timeouts, backoff, dead letters. No thread, socket or SQL here: the
 * journal, the clock and the wake-ups are hooks.
 *
 * A delivery's states (doc/delivery.md, "States"):
 *
 *	COMMIT   created by a fire, its row not yet committed      -> READY, BLOCKED
 *	BLOCKED  ordered group: an earlier delivery of its key is
 *	         not acked yet                                     -> READY
 *	READY    in the group's queue, oldest first                -> FLIGHT
 *	FLIGHT   pushed to a consumer, waiting for its ack         -> (acked: freed), WAIT, READY, DEAD
 *	WAIT     backing off after a nack or a timeout             -> READY
 *	DEAD     a dead letter                                     -> READY/BLOCKED (DlqRetry), (purged: freed)
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "proto/text.h"
#include "server/group.h"

enum group_state { D_COMMIT, D_BLOCKED, D_READY, D_FLIGHT, D_WAIT, D_DEAD };

struct group_key;

/* One delivery; key, topic and payload follow it. */
struct group_dlv {
	uint64_t id, timer_id, fseq;
	uint64_t commit_seq;		/* the fire batch its row is in (COMMIT) */
	struct group *g;
	enum group_state st;
	uint32_t attempts;		/* pushes made (a restart counts one) */
	uint32_t spared;		/* of them, attempts timerd's store failure ended: not counted for max_attempts */
	bool ack_refused;		/* this push's ack was refused (the store failed): its end is spared */
	bool restored;			/* loaded at start, not pushed since: its next push is a duplicate */
	bool final;
	bool has_mono;			/* u.m2u is the fire's (false: restored, or dead once: u.dead_unix) */
	int64_t due;			/* FLIGHT: ack by; WAIT: ready at */
	size_t hidx;			/* in gs->heap, SIZE_MAX: not */
	struct group_consumer *c;	/* FLIGHT: to whom */
	uint64_t last_cid;		/* the cid of the consumer it last went to (0: none); never dereferenced */
	struct group_dlv *prev, *next;	/* the list of its state: commit (set), ready, dead, consumer's flight */
	struct group_dlv *kprev, *knext;	/* its key's queue (ordered groups) */
	struct group_key *k;
	struct group_dlv *gprev, *gnext;	/* every delivery of the group */
	struct group_dlv *idnext;	/* its chain in gs->id_b */
	int64_t deadline_unix, fired_unix, period;
	union {				/* one word for both: a dead letter is not pushed, a live delivery has no death */
		int64_t m2u;		/* has_mono: unix minus monotonic ns at the fire (the consumer's mono times) */
		int64_t dead_unix;	/* D_DEAD: when it died (0 once re-driven) */
	} u;
	char *error;			/* the last failure (malloc'd), NULL: none */
	uint32_t keylen, topiclen, payloadlen;
	uint32_t cap;			/* bytes allocated for it and its data (>= what it uses: a reused block) */
	size_t memsize;
	char data[];
};

/*
 * The pool of freed deliveries (gs->pool, linked by next). A delivery is
 * made on an engine delivery worker (group_fire) and freed on a loop
 * thread (its ack): through malloc that was a free into another thread's
 * arena (its lock, then malloc_consolidate on the worker's next large
 * request) and a malloc that found its thread cache empty, for every
 * delivery. Both ends already hold gs->mu, so the pool is a plain list
 * under it: no new synchronisation. Bounded (GROUP_POOL_MAX blocks of at
 * most GROUP_POOL_BLOCK bytes: 1 MiB), so a drained backlog gives its
 * memory back; a pooled block is not counted in max-memory's account.
 */
#define GROUP_POOL_MAX 2048u
/* ASan: no pool, every delivery is freed, so a stale pointer to one is reported */
#if defined(__SANITIZE_ADDRESS__)
#define GROUP_POOL_ON 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GROUP_POOL_ON 0
#endif
#endif
#ifndef GROUP_POOL_ON
#define GROUP_POOL_ON 1
#endif
#define GROUP_POOL_BLOCK 512u

/* The deliveries of one key not yet acked nor dead, in fire order (ordered groups). */
struct group_key {
	struct group_dlv *head, *tail;
	uint32_t len;
	char kb[];
};

struct group_list {
	struct group_dlv *head, *tail;
};

struct group {
	char name[GROUP_MAX_NAME + 1];
	Timerd__Group *cfg;		/* normalised settings (defaults filled in), owned */
	uint8_t *packed;		/* cfg packed: what is stored and compared */
	size_t packedlen;
	int64_t ack_timeout, backoff_min, backoff_max;
	uint32_t max_attempts;
	uint64_t max_backlog;
	bool unordered, webhook;
	struct group_list ready, dead;
	struct group_dlv *all_head;	/* every delivery (gprev/gnext) */
	uint64_t held;			/* deliveries held, every state (max_backlog's count) */
	uint64_t nready, nwait, nflight, ndead, nblocked, ncommit;
	struct hmap keys;		/* ordering key -> struct group_key */
	struct group_consumer *cons;	/* ring; cons is where the next hand-out starts */
	uint32_t ncons;
	struct group_counters c;
};

/* The groups subscribed to one topic. */
struct group_tlist {
	struct group **v;
	size_t n, cap;
};

/* --- lists --- */

/* Appends d to l (prev/next links). */
static void gl_push_tail(struct group_list *l, struct group_dlv *d)
{
	d->next = NULL;
	d->prev = l->tail;
	if (l->tail)
		l->tail->next = d;
	else
		l->head = d;
	l->tail = d;
}

/* Prepends d to l. */
static void gl_push_head(struct group_list *l, struct group_dlv *d)
{
	d->prev = NULL;
	d->next = l->head;
	if (l->head)
		l->head->prev = d;
	else
		l->tail = d;
	l->head = d;
}

/* Unlinks d from l. */
static void gl_remove(struct group_list *l, struct group_dlv *d)
{
	if (d->prev)
		d->prev->next = d->next;
	else
		l->head = d->next;
	if (d->next)
		d->next->prev = d->prev;
	else
		l->tail = d->prev;
	d->prev = d->next = NULL;
}

/* Inserts d into l sorted by id (from the tail: ids mostly arrive in order). */
static void gl_insert_sorted(struct group_list *l, struct group_dlv *d)
{
	struct group_dlv *at = l->tail;

	while (at && at->id > d->id)
		at = at->prev;
	if (!at) {
		gl_push_head(l, d);
		return;
	}
	d->prev = at;
	d->next = at->next;
	if (at->next)
		at->next->prev = d;
	else
		l->tail = d;
	at->next = d;
}

/* The commit list of gs as a list. */
static struct group_list *gs_commit(struct group_set *gs)
{
	_Static_assert(offsetof(struct group_set, commit_tail) == offsetof(struct group_set, commit_head) +
			       sizeof(struct group_dlv *), "commit_head, commit_tail form a list");
	return (struct group_list *)(void *)&gs->commit_head;
}

/* The flight list of consumer c. */
static struct group_list *c_flight(struct group_consumer *c)
{
	_Static_assert(offsetof(struct group_consumer, ftail) == offsetof(struct group_consumer, fhead) +
			       sizeof(struct group_dlv *), "fhead, ftail form a list");
	return (struct group_list *)(void *)&c->fhead;
}

/* --- the heap of due times --- */

/* Swaps heap entries i and j. */
static void heap_swap(struct group_heap *h, size_t i, size_t j)
{
	struct group_dlv *t = h->v[i];

	h->v[i] = h->v[j];
	h->v[j] = t;
	h->v[i]->hidx = i;
	h->v[j]->hidx = j;
}

/* Restores the heap order around i. */
static void heap_fix(struct group_heap *h, size_t i)
{
	while (i > 0 && h->v[(i - 1) / 2]->due > h->v[i]->due) {
		heap_swap(h, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < h->n && h->v[l]->due < h->v[m]->due)
			m = l;
		if (r < h->n && h->v[r]->due < h->v[m]->due)
			m = r;
		if (m == i)
			break;
		heap_swap(h, i, m);
		i = m;
	}
}

/* Adds d (its due set); false if out of memory. */
static bool heap_push(struct group_heap *h, struct group_dlv *d)
{
	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 64;
		struct group_dlv **v = realloc(h->v, cap * sizeof(*v));

		if (!v)
			return false;
		h->v = v;
		h->cap = cap;
	}
	d->hidx = h->n;
	h->v[h->n++] = d;
	heap_fix(h, d->hidx);
	return true;
}

/* Removes d if it is in the heap. */
static void heap_del(struct group_heap *h, struct group_dlv *d)
{
	size_t i = d->hidx;

	if (i == SIZE_MAX)
		return;
	d->hidx = SIZE_MAX;
	if (i != --h->n) {
		h->v[i] = h->v[h->n];
		h->v[i]->hidx = i;
		heap_fix(h, i);
	}
}

/* --- helpers --- */

/* xorshift64* for the backoff's jitter. */
static uint64_t gs_rand(struct group_set *gs)
{
	uint64_t x = gs->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	gs->rng = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/* The backoff before attempt+1 after `attempts` failed ones: exponential, with jitter in [b/2, b], at least min. */
static int64_t group_backoff(struct group_set *gs, const struct group *g, uint32_t attempts)
{
	int64_t b = g->backoff_min;
	int64_t d;

	for (uint32_t i = 1; i < attempts && b < g->backoff_max; i++)
		b = b > g->backoff_max / 2 ? g->backoff_max : b * 2;
	if (b > g->backoff_max)
		b = g->backoff_max;
	d = b / 2 + (int64_t)(gs_rand(gs) % (uint64_t)(b / 2 + 1));
	return d < g->backoff_min ? g->backoff_min : d;
}

/* Counts n of field f in g's counters and the totals. */
#define GROUP_COUNT(gs, g, f, n) do { (g)->c.f += (n); (gs)->tot.f += (n); } while (0)

/* The ordering key of d: its key, or its timer id for a timer without one. */
static size_t group_okey(const struct group_dlv *d, char *buf)
{
	if (d->keylen) {
		memcpy(buf, d->data, d->keylen);
		return d->keylen;
	}
	buf[0] = '\0';
	memcpy(buf + 1, &d->timer_id, sizeof(d->timer_id));
	return 1 + sizeof(d->timer_id);
}

/* Adds d at the tail of its key's queue (ordered groups); false if out of memory. */
static bool group_key_add(struct group *g, struct group_dlv *d)
{
	char stackbuf[256], *buf = stackbuf;
	size_t n;
	struct group_key *k;

	if (g->unordered)
		return true;
	if (d->keylen + 1 + sizeof(uint64_t) > sizeof(stackbuf) && !(buf = malloc(d->keylen + 16)))
		return false;
	n = group_okey(d, buf);
	if (!(k = hmap_get(&g->keys, buf, n))) {
		if (!(k = calloc(1, sizeof(*k) + n)) || hmap_put(&g->keys, buf, n, k) < 0) {
			free(k);
			if (buf != stackbuf)
				free(buf);
			return false;
		}
		k->len = (uint32_t)n;
		memcpy(k->kb, buf, n);
	}
	if (buf != stackbuf)
		free(buf);
	d->k = k;
	d->knext = NULL;
	d->kprev = k->tail;
	if (k->tail)
		k->tail->knext = d;
	else
		k->head = d;
	k->tail = d;
	return true;
}

static void group_make_ready(struct group *g, struct group_dlv *d, bool first);

/* Takes d out of its key's queue; the next one of the key may go. */
static void group_key_del(struct group *g, struct group_dlv *d)
{
	struct group_key *k = d->k;
	bool was_head;

	if (!k)
		return;
	was_head = k->head == d;
	if (d->kprev)
		d->kprev->knext = d->knext;
	else
		k->head = d->knext;
	if (d->knext)
		d->knext->kprev = d->kprev;
	else
		k->tail = d->kprev;
	d->k = NULL;
	d->kprev = d->knext = NULL;
	if (!k->head) {
		hmap_del(&g->keys, k->kb, k->len);
		free(k);
		return;
	}
	if (was_head && k->head->st == D_BLOCKED) {
		g->nblocked--;
		group_make_ready(g, k->head, false);
	}
}

/* d may go out: READY (queued; first: at the head) unless an earlier delivery of its key is pending. */
static void group_make_ready(struct group *g, struct group_dlv *d, bool first)
{
	if (!g->unordered && d->k && d->k->head != d) {
		d->st = D_BLOCKED;
		g->nblocked++;
		return;
	}
	d->st = D_READY;
	g->nready++;
	if (first)
		gl_push_head(&g->ready, d);
	else
		gl_push_tail(&g->ready, d);
}

/* Unlinks d from the lists of its state (not from its key's queue). */
static void group_detach(struct group_set *gs, struct group_dlv *d)
{
	struct group *g = d->g;

	switch (d->st) {
	case D_COMMIT: gl_remove(gs_commit(gs), d); g->ncommit--; break;
	case D_BLOCKED: g->nblocked--; break;
	case D_READY: gl_remove(&g->ready, d); g->nready--; break;
	case D_FLIGHT:
		heap_del(&gs->heap, d);
		gl_remove(c_flight(d->c), d);
		d->c->inflight--;
		d->c = NULL;
		g->nflight--;
		break;
	case D_WAIT: heap_del(&gs->heap, d); g->nwait--; break;
	case D_DEAD: gl_remove(&g->dead, d); g->ndead--; break;
	}
}

/* The chain head of delivery id in gs's id table (id_nb > 0). */
static struct group_dlv **group_id_bucket(const struct group_set *gs, uint64_t id)
{
	return &gs->id_b[(size_t)((id * UINT64_C(0x9e3779b97f4a7c15)) >> 20) & (gs->id_nb - 1)];
}

/* The delivery with id, or NULL. */
static struct group_dlv *group_id_get(const struct group_set *gs, uint64_t id)
{
	struct group_dlv *d = gs->id_nb ? *group_id_bucket(gs, id) : NULL;

	while (d && d->id != id)
		d = d->idnext;
	return d;
}

/* Indexes d by its id (ids are unique: no check); false if out of memory. */
static bool group_id_put(struct group_set *gs, struct group_dlv *d)
{
	struct group_dlv **b;

	if (gs->id_n >= gs->id_nb) {	/* load 1 at most: double, rehash */
		size_t nb = gs->id_nb ? gs->id_nb * 2 : 1024, onb = gs->id_nb;
		struct group_dlv **ob = gs->id_b;

		if (!(gs->id_b = calloc(nb, sizeof(*gs->id_b)))) {
			gs->id_b = ob;
			return false;
		}
		gs->id_nb = nb;
		for (size_t i = 0; i < onb; i++)
			for (struct group_dlv *e = ob[i], *next; e; e = next) {
				next = e->idnext;
				b = group_id_bucket(gs, e->id);
				e->idnext = *b;
				*b = e;
			}
		free(ob);
	}
	b = group_id_bucket(gs, d->id);
	d->idnext = *b;
	*b = d;
	gs->id_n++;
	return true;
}

/* Takes d out of the id table. */
static void group_id_del(struct group_set *gs, struct group_dlv *d)
{
	for (struct group_dlv **pp = gs->id_nb ? group_id_bucket(gs, d->id) : NULL; pp && *pp; pp = &(*pp)->idnext)
		if (*pp == d) {
			*pp = d->idnext;
			gs->id_n--;
			return;
		}
}

/* Frees d, which is detached and out of its key's queue. */
static void group_dlv_free(struct group_set *gs, struct group_dlv *d)
{
	struct group *g = d->g;

	group_id_del(gs, d);
	if (d->gprev)
		d->gprev->gnext = d->gnext;
	else
		g->all_head = d->gnext;
	if (d->gnext)
		d->gnext->gprev = d->gprev;
	g->held--;
	gs->mem_used -= (int64_t)d->memsize;
	if (gs->h.mem)
		atomic_fetch_sub_explicit(gs->h.mem, (int64_t)d->memsize, memory_order_relaxed);	/* relaxed: a gauge */
	free(d->error);
	if (GROUP_POOL_ON && gs->npool < GROUP_POOL_MAX && d->cap <= GROUP_POOL_BLOCK) {
		d->next = gs->pool;	/* gs->mu held, as by every caller */
		gs->pool = d;
		gs->npool++;
	} else {
		free(d);
	}
}

/* Frees the pool's blocks (gs->mu held, or the set no longer shared). */
static void group_pool_drain(struct group_set *gs)
{
	while (gs->pool) {
		struct group_dlv *d = gs->pool;

		gs->pool = d->next;
		free(d);
	}
	gs->npool = 0;
}

/* Detaches and frees d (acked, purged, group deleted). */
static void group_dlv_done(struct group_set *gs, struct group_dlv *d)
{
	group_detach(gs, d);
	group_key_del(d->g, d);
	group_dlv_free(gs, d);
}

/* Journals a row through the hook; the seq to hold (0: none), UINT64_MAX if out of memory. */
static uint64_t group_put(struct group_set *gs, void *jctx, const struct store_rec *r)
{
	return gs->h.put ? gs->h.put(gs->h.arg, jctx, r) : 0;
}

/* Journals d's attempts, dead state and error (jctx NULL: the shared batch). */
static uint64_t group_put_set(struct group_set *gs, void *jctx, const struct group_dlv *d)
{
	/* a live delivery's row holds the attempts charged (spared ones left out), a dead letter's every push */
	struct store_rec r = { .op = STORE_DLV_SET, .id = d->id,
			       .attempts = d->st == D_DEAD ? d->attempts : d->attempts - d->spared,
			       .flags = d->st == D_DEAD ? STORE_DLV_DEAD : 0, .error = d->error,
			       .errorlen = d->error ? (uint32_t)strlen(d->error) : 0,
			       .at = d->st == D_DEAD ? d->u.dead_unix : 0 };

	return group_put(gs, jctx, &r);
}

/* Replaces d's last error with a copy of why (cut at GROUP_MAX_ERROR bytes). */
static void group_set_error(struct group_dlv *d, const char *why)
{
	size_t n = strnlen(why, GROUP_MAX_ERROR);
	char *e = malloc(n + 1);

	if (!e)
		return;	/* keeps the older one */
	memcpy(e, why, n);
	e[n] = '\0';
	free(d->error);
	d->error = e;
}

/*
 * The server's clock (real: the wall clock), or the last tick's time when
 * there is no hook or the set is quiesced: at shutdown the engine that owns
 * the clock is freed before the loops drop their consumers (srv_destroy).
 */
static int64_t group_clock(struct group_set *gs, bool real)
{
	if (!gs->h.now || gs->quiesced)
		return real ? 0 : gs->now;
	return gs->h.now(gs->h.arg, real);
}

/* True unless the store fails now (hooks.writable). */
static bool group_writable(struct group_set *gs)
{
	return !gs->h.writable || gs->h.writable(gs->h.arg);
}

/* d's attempt ends through no fault of its consumer's (the store fails, or refused its ack): not counted. */
static void group_spare(struct group_set *gs, struct group_dlv *d)
{
	if (d->ack_refused || !group_writable(gs))
		d->spared++;
}

/* d (detached) failed: a dead letter after max_attempts, else due again after delay (-1: the backoff; 0: at once, first in line). */
static uint64_t group_fail(struct group_set *gs, struct group_dlv *d, int64_t now, int64_t delay, const char *why,
			   void *jctx)
{
	struct group *g = d->g;

	group_set_error(d, why);
	if (d->attempts - d->spared >= g->max_attempts) {
		group_key_del(g, d);	/* the next of its key may go */
		d->st = D_DEAD;
		d->has_mono = false;	/* the word is the death's now: a re-driven letter's push reads the clock */
		d->u.dead_unix = group_clock(gs, true);
		g->ndead++;
		gl_insert_sorted(&g->dead, d);
		GROUP_COUNT(gs, g, dead_lettered, 1);
		return group_put_set(gs, jctx, d);
	}
	if (delay == 0) {
		group_make_ready(g, d, true);
	} else {
		d->st = D_WAIT;
		d->due = now + (delay < 0 ? group_backoff(gs, g, d->attempts) : delay);
		g->nwait++;
		if (!heap_push(&gs->heap, d)) {
			g->nwait--;
			group_make_ready(g, d, false);	/* out of memory: no backoff, but not lost */
		}
	}
	return group_put_set(gs, jctx, d);
}

/* Fills the consumer's view of d. */
static void group_view(const struct group *g, const struct group_dlv *d, struct group_delivery *v)
{
	*v = (struct group_delivery){
		.id = d->id, .attempt = d->attempts, .group = g->name, .timer_id = d->timer_id,
		.key = d->data, .keylen = d->keylen, .topic = d->data + d->keylen, .topiclen = d->topiclen,
		.payload = (const uint8_t *)d->data + d->keylen + d->topiclen, .payloadlen = d->payloadlen,
		.deadline_unix_ns = d->deadline_unix, .fired_unix_ns = d->fired_unix, .period_ns = d->period,
		.mono_to_unix_ns = d->has_mono ? d->u.m2u : 0, .has_mono = d->has_mono,
		.seq = d->fseq, .final = d->final, .ack_by_ns = d->due, .settings = g->cfg,
	};
}

/*
 * The next consumer of g with credit left, from the ring's start, other
 * than the one with id avoid (the one a redelivery last went to: issue 11,
 * "to another consumer when there is one"); that one only if no other has
 * credit. NULL if none has.
 */
static struct group_consumer *group_pick(struct group *g, uint64_t avoid)
{
	struct group_consumer *c = g->cons, *same = NULL;

	for (uint32_t i = 0; c && i < g->ncons; i++, c = c->next) {
		if (c->skip || c->inflight >= c->credit)
			continue;
		if (!avoid || c->cid != avoid)
			return c;
		same = c;
	}
	return same;
}

/* Hands g's ready deliveries to its consumers with credit, spreading them round the ring. */
static void group_dispatch(struct group_set *gs, struct group *g, int64_t now)
{
	struct group_consumer *c;
	struct group_delivery v;

	if (gs->quiesced)
		return;
	for (c = g->cons; c && g->ncons; c = c->next) {
		c->skip = false;
		if (c->next == g->cons)
			break;
	}
	while (g->ready.head && (c = group_pick(g, g->ready.head->last_cid)) != NULL) {
		struct group_dlv *d = g->ready.head;

		gl_remove(&g->ready, d);
		g->nready--;
		d->attempts++;
		d->ack_refused = false;
		d->st = D_FLIGHT;
		d->c = c;
		/* a webhook's request times out within ack_timeout (group_validate): it answers first */
		d->due = now + g->ack_timeout + (g->webhook ? GROUP_WEBHOOK_SLACK_NS : 0);
		group_view(g, d, &v);
		if (c->ops->deliver(c, &v) < 0) {
			d->attempts--;
			d->c = NULL;
			group_make_ready(g, d, true);
			c->skip = true;
			continue;
		}
		if (!heap_push(&gs->heap, d))
			d->hidx = SIZE_MAX;	/* out of memory: no ack timeout; the consumer going away still frees it */
		gl_push_tail(c_flight(c), d);
		c->inflight++;
		d->last_cid = c->cid;
		g->nflight++;
		g->cons = c->next;	/* the next hand-out starts after c */
		GROUP_COUNT(gs, g, delivered, 1);
		if (d->attempts > 1)
			GROUP_COUNT(gs, g, redeliveries, 1);
		if (d->restored) {
			d->restored = false;
			GROUP_COUNT(gs, g, duplicates, 1);
		}
	}
}

/* --- settings --- */

/* Compares two topic pointers (qsort). */
static int group_topic_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Checks a text field: UTF-8 without control characters, 1..max bytes; false with err. */
static bool group_text(const char *what, const char *s, size_t max, char *err, size_t errlen)
{
	size_t n = s ? strlen(s) : 0;

	if (!n) {
		snprintf(err, errlen, "%s is empty: give one", what);
		return false;
	}
	if (n > max) {
		snprintf(err, errlen, "%s is %zu bytes; the limit is %zu", what, n, max);
		return false;
	}
	if (!text_ok(s, n)) {
		snprintf(err, errlen, "%s is not valid UTF-8 text (control characters and bidi overrides are not "
			 "allowed)", what);
		return false;
	}
	return true;
}

/* Checks a duration field: 0 (the default) or within [lo, hi]; false with err. */
static bool group_dur(const char *what, int64_t v, int64_t lo, int64_t hi, char *err, size_t errlen)
{
	if (v == 0 || (v >= lo && v <= hi))
		return true;
	snprintf(err, errlen, "%s %lld ns is out of range: give 0 for the default, or %lld ns (%lld ms) to %lld ns "
		 "(%lld h)", what, (long long)v, (long long)lo, (long long)(lo / 1000000), (long long)hi,
		 (long long)(hi / 3600000000000LL));
	return false;
}

int group_validate(const Timerd__Group *g, uint32_t max_topic, char *err, size_t errlen)
{
	int64_t bmin, bmax;
	char what[64];

	if (!g) {
		snprintf(err, errlen, "group_create needs a group (name, topics)");
		return -1;
	}
	if (!group_text("group name", g->name, GROUP_MAX_NAME, err, errlen))
		return -1;
	if (!g->n_topics) {
		snprintf(err, errlen, "group '%s' has no topic: give at least one (--topic T)", g->name);
		return -1;
	}
	if (g->n_topics > GROUP_MAX_TOPICS) {
		snprintf(err, errlen, "group '%s' has %zu topics; the limit is %d: use fewer, broader topics", g->name,
			 g->n_topics, GROUP_MAX_TOPICS);
		return -1;
	}
	for (size_t i = 0; i < g->n_topics; i++) {
		snprintf(what, sizeof(what), "topic %zu", i + 1);
		if (!group_text(what, g->topics[i], max_topic, err, errlen))
			return -1;
	}
	if (!group_dur("ack_timeout_ns", g->ack_timeout_ns, GROUP_MIN_ACK_TIMEOUT_NS, GROUP_MAX_ACK_TIMEOUT_NS, err,
		       errlen) ||
	    !group_dur("backoff_min_ns", g->backoff_min_ns, GROUP_MIN_BACKOFF_NS, GROUP_MAX_BACKOFF_NS, err, errlen) ||
	    !group_dur("backoff_max_ns", g->backoff_max_ns, GROUP_MIN_BACKOFF_NS, GROUP_MAX_BACKOFF_NS, err, errlen) ||
	    !group_dur("webhook_timeout_ns", g->webhook_timeout_ns, GROUP_MIN_ACK_TIMEOUT_NS, GROUP_MAX_ACK_TIMEOUT_NS,
		       err, errlen))
		return -1;
	bmin = g->backoff_min_ns ? g->backoff_min_ns : GROUP_DEFAULT_BACKOFF_MIN_NS;
	bmax = g->backoff_max_ns ? g->backoff_max_ns : GROUP_DEFAULT_BACKOFF_MAX_NS;
	if (bmin > bmax) {
		snprintf(err, errlen, "backoff_min_ns (%lld) is above backoff_max_ns (%lld): give a minimum at most the "
			 "maximum (defaults 1s and 5m)", (long long)bmin, (long long)bmax);
		return -1;
	}
	if (g->max_attempts > GROUP_MAX_ATTEMPTS) {
		snprintf(err, errlen, "max_attempts %u is above %u: give 0 for the default (%u) or fewer", g->max_attempts,
			 GROUP_MAX_ATTEMPTS, GROUP_DEFAULT_MAX_ATTEMPTS);
		return -1;
	}
	if (g->max_backlog > GROUP_MAX_BACKLOG) {
		snprintf(err, errlen, "max_backlog %llu is above %u: give 0 for the default (%u) or less",
			 (unsigned long long)g->max_backlog, GROUP_MAX_BACKLOG, GROUP_DEFAULT_MAX_BACKLOG);
		return -1;
	}
	if (g->webhook_url && *g->webhook_url) {
		if (!group_text("webhook_url", g->webhook_url, GROUP_MAX_URL, err, errlen))
			return -1;
		if (strncmp(g->webhook_url, "http://", 7) && strncmp(g->webhook_url, "https://", 8)) {
			snprintf(err, errlen, "webhook_url '%s' is not an http:// or https:// URL", g->webhook_url);
			return -1;
		}
	}
	if (g->webhook_url && *g->webhook_url) {
		int64_t ack = g->ack_timeout_ns ? g->ack_timeout_ns : GROUP_DEFAULT_ACK_TIMEOUT_NS;

		if (g->webhook_timeout_ns > ack) {
			snprintf(err, errlen, "webhook_timeout_ns %lld is above ack_timeout_ns %lld: a request must end "
				 "within the ack timeout; raise --ack-timeout or lower --webhook-timeout",
				 (long long)g->webhook_timeout_ns, (long long)ack);
			return -1;
		}
	}
	if (g->webhook_concurrency > 1000) {
		snprintf(err, errlen, "webhook_concurrency %u is above 1000: give 0 for the default (%u) or fewer",
			 g->webhook_concurrency, GROUP_DEFAULT_WEBHOOK_CONCURRENCY);
		return -1;
	}
	return 0;
}

/* Packs g's settings normalised (defaults filled, topics sorted and unique) into *out (malloc); 0 or -1. */
static int group_normalise(const Timerd__Group *in, uint8_t **out, size_t *len)
{
	Timerd__Group n = *in;
	char **t = NULL;
	size_t k = 0;

	if (in->n_topics && !(t = malloc(in->n_topics * sizeof(*t))))
		return -1;
	for (size_t i = 0; i < in->n_topics; i++)
		t[i] = in->topics[i];
	if (in->n_topics)
		qsort(t, in->n_topics, sizeof(*t), group_topic_cmp);
	for (size_t i = 0; i < in->n_topics; i++)
		if (!k || strcmp(t[k - 1], t[i]))
			t[k++] = t[i];
	n.topics = t;
	n.n_topics = k;
	n.base.n_unknown_fields = 0;
	n.base.unknown_fields = NULL;
	n.ack_timeout_ns = n.ack_timeout_ns ? n.ack_timeout_ns : GROUP_DEFAULT_ACK_TIMEOUT_NS;
	n.max_attempts = n.max_attempts ? n.max_attempts : GROUP_DEFAULT_MAX_ATTEMPTS;
	n.backoff_min_ns = n.backoff_min_ns ? n.backoff_min_ns : GROUP_DEFAULT_BACKOFF_MIN_NS;
	n.backoff_max_ns = n.backoff_max_ns ? n.backoff_max_ns : GROUP_DEFAULT_BACKOFF_MAX_NS;
	n.max_backlog = n.max_backlog ? n.max_backlog : GROUP_DEFAULT_MAX_BACKLOG;
	if (n.webhook_url && *n.webhook_url) {
		n.webhook_concurrency = n.webhook_concurrency ? n.webhook_concurrency : GROUP_DEFAULT_WEBHOOK_CONCURRENCY;
		n.webhook_timeout_ns = n.webhook_timeout_ns ? n.webhook_timeout_ns : n.ack_timeout_ns;
	}
	*len = timerd__group__get_packed_size(&n);
	if (!(*out = malloc(*len ? *len : 1))) {
		free(t);
		return -1;
	}
	timerd__group__pack(&n, *out);
	free(t);
	return 0;
}

/* Removes g from topic's list. */
static void group_topic_del(struct group_set *gs, struct group *g, const char *topic)
{
	struct group_tlist *tl = hmap_get(&gs->topics, topic, strlen(topic));

	if (!tl)
		return;
	for (size_t i = 0; i < tl->n; i++)
		if (tl->v[i] == g) {
			tl->v[i] = tl->v[--tl->n];
			break;
		}
	if (!tl->n) {
		hmap_del(&gs->topics, topic, strlen(topic));
		free(tl->v);
		free(tl);
	}
}

/* Adds g to topic's list; false if out of memory. */
static bool group_topic_add(struct group_set *gs, struct group *g, const char *topic)
{
	struct group_tlist *tl = hmap_get(&gs->topics, topic, strlen(topic));

	if (!tl) {
		if (!(tl = calloc(1, sizeof(*tl))) || hmap_put(&gs->topics, topic, strlen(topic), tl) < 0) {
			free(tl);
			return false;
		}
	}
	if (tl->n == tl->cap) {
		size_t cap = tl->cap ? tl->cap * 2 : 4;
		struct group **v = realloc(tl->v, cap * sizeof(*v));

		if (!v)
			return false;
		tl->v = v;
		tl->cap = cap;
	}
	tl->v[tl->n++] = g;
	return true;
}

/* Takes settings packed (owned by g from now on) as g's: the index of topics follows; 0 or -1 (g unchanged). */
static int group_apply(struct group_set *gs, struct group *g, uint8_t *packed, size_t len)
{
	Timerd__Group *cfg = timerd__group__unpack(NULL, len, packed);
	size_t i;

	if (!cfg)
		return -1;
	for (i = 0; i < cfg->n_topics; i++)
		if (!group_topic_add(gs, g, cfg->topics[i]))
			break;
	if (i < cfg->n_topics) {
		while (i-- > 0)
			group_topic_del(gs, g, cfg->topics[i]);
		timerd__group__free_unpacked(cfg, NULL);
		return -1;
	}
	if (g->cfg) {
		for (i = 0; i < g->cfg->n_topics; i++)
			group_topic_del(gs, g, g->cfg->topics[i]);
		timerd__group__free_unpacked(g->cfg, NULL);
	}
	free(g->packed);
	g->cfg = cfg;
	g->packed = packed;
	g->packedlen = len;
	g->ack_timeout = cfg->ack_timeout_ns;
	g->max_attempts = cfg->max_attempts;
	g->backoff_min = cfg->backoff_min_ns;
	g->backoff_max = cfg->backoff_max_ns;
	g->max_backlog = cfg->max_backlog;
	g->webhook = cfg->webhook_url && *cfg->webhook_url;
	if (cfg->unordered && !g->unordered) {
		/* ordered -> unordered: the key queues go, what waited in them may go now */
		g->unordered = true;
		for (struct group_dlv *d = g->all_head; d; d = d->gnext) {
			d->k = NULL;
			d->kprev = d->knext = NULL;
			if (d->st == D_BLOCKED) {
				g->nblocked--;
				group_make_ready(g, d, false);
			}
		}
		hmap_destroy(&g->keys, free);
		hmap_init(&g->keys);
	}
	g->unordered = cfg->unordered;	/* unordered -> ordered: for deliveries created from now on */
	return 0;
}

/* A new empty group named name; NULL if out of memory. */
static struct group *group_new(struct group_set *gs, const char *name)
{
	struct group *g = calloc(1, sizeof(*g));
	struct group **v;

	if (!g)
		return NULL;
	snprintf(g->name, sizeof(g->name), "%s", name);
	hmap_init(&g->keys);
	if (gs->ngroups == gs->capgroups) {
		size_t cap = gs->capgroups ? gs->capgroups * 2 : 16;

		if (!(v = realloc(gs->all, cap * sizeof(*v)))) {
			hmap_destroy(&g->keys, NULL);
			free(g);
			return NULL;
		}
		gs->all = v;
		gs->capgroups = cap;
	}
	if (hmap_put(&gs->groups, g->name, strlen(g->name), g) < 0) {
		hmap_destroy(&g->keys, NULL);
		free(g);
		return NULL;
	}
	gs->all[gs->ngroups++] = g;
	atomic_store_explicit(&gs->ngroups_any, (uint32_t)gs->ngroups, memory_order_relaxed);	/* relaxed: a hint */
	return g;
}

/* Frees g's memory (it is out of every index). */
static void group_free(struct group *g)
{
	if (g->cfg)
		timerd__group__free_unpacked(g->cfg, NULL);
	free(g->packed);
	hmap_destroy(&g->keys, free);
	free(g);
}

/* Removes g from the set: its deliveries freed, its consumers detached. */
static void group_remove(struct group_set *gs, struct group *g)
{
	struct group_consumer *c = g->cons;

	for (uint32_t i = 0; c && i < g->ncons; i++) {
		struct group_consumer *next = c->next;

		c->subscribed = false;
		c->g = NULL;
		c = next;
	}
	while (g->all_head)
		group_dlv_done(gs, g->all_head);
	for (struct group_consumer *k = g->cons; k && g->ncons; g->ncons--) {
		struct group_consumer *next = k->next;

		k->prev = k->next = NULL;
		k->fhead = k->ftail = NULL;
		k->inflight = 0;
		k = next;
	}
	g->cons = NULL;
	for (size_t i = 0; g->cfg && i < g->cfg->n_topics; i++)
		group_topic_del(gs, g, g->cfg->topics[i]);
	hmap_del(&gs->groups, g->name, strlen(g->name));
	for (size_t i = 0; i < gs->ngroups; i++)
		if (gs->all[i] == g) {
			memmove(&gs->all[i], &gs->all[i + 1], (gs->ngroups - i - 1) * sizeof(gs->all[0]));
			gs->ngroups--;
			break;
		}
	atomic_store_explicit(&gs->ngroups_any, (uint32_t)gs->ngroups, memory_order_relaxed);	/* relaxed: a hint */
	group_free(g);
}

/* --- the set --- */

int group_set_init(struct group_set *gs, const struct group_hooks *h, uint64_t seed)
{
	memset(gs, 0, sizeof(*gs));
	if (pthread_mutex_init(&gs->mu, NULL) != 0)
		return -1;
	gs->h = *h;
	hmap_init(&gs->groups);
	hmap_init(&gs->topics);
	gs->next_id = 1;
	atomic_init(&gs->next_id_pub, 1);
	gs->rng = seed ? seed : 0x9E3779B97F4A7C15ULL;
	return 0;
}

void group_quiesce(struct group_set *gs)
{
	pthread_mutex_lock(&gs->mu);
	gs->quiesced = true;
	pthread_mutex_unlock(&gs->mu);
}

void group_set_destroy(struct group_set *gs)
{
	while (gs->ngroups)
		group_remove(gs, gs->all[gs->ngroups - 1]);
	free(gs->all);
	free(gs->heap.v);
	hmap_destroy(&gs->groups, NULL);
	hmap_destroy(&gs->topics, NULL);
	free(gs->id_b);
	group_pool_drain(gs);
	pthread_mutex_destroy(&gs->mu);
}

/* The group named name, or NULL. */
static struct group *group_find(struct group_set *gs, const char *name)
{
	return name ? hmap_get(&gs->groups, name, strlen(name)) : NULL;
}

int group_create(struct group_set *gs, const Timerd__Group *in, bool update, void *jctx, bool *created,
		 uint64_t *hold, char *err, size_t errlen)
{
	struct store_rec r = { .op = STORE_GROUP_PUT };
	struct group *g;
	uint8_t *packed;
	size_t len;
	bool is_new = false;
	int rc = 0;

	*created = false;
	*hold = 0;
	if (group_normalise(in, &packed, &len) < 0)
		return GROUP_ENOMEM;
	pthread_mutex_lock(&gs->mu);
	if ((g = group_find(gs, in->name)) != NULL) {
		if (g->packedlen == len && !memcmp(g->packed, packed, len)) {
			free(packed);
			goto out;	/* the same settings again */
		}
		if (!update) {
			snprintf(err, errlen, "group '%s' exists with other settings: give the same ones, or update it "
				 "(GroupCreate.update, timerctl group create --update), or delete it first", in->name);
			free(packed);
			rc = GROUP_ECONFLICT;
			goto out;
		}
	} else {
		if (gs->ngroups >= GROUP_MAX_GROUPS) {
			snprintf(err, errlen, "timerd holds %d groups, the most it takes: delete some", GROUP_MAX_GROUPS);
			free(packed);
			rc = GROUP_EFULL;
			goto out;
		}
		if (!(g = group_new(gs, in->name))) {
			free(packed);
			rc = GROUP_ENOMEM;
			goto out;
		}
		is_new = true;
	}
	if (group_apply(gs, g, packed, len) < 0) {
		free(packed);
		if (is_new)
			group_remove(gs, g);
		rc = GROUP_ENOMEM;
		goto out;
	}
	*created = is_new;
	r.key = g->name;
	r.keylen = (uint32_t)strlen(g->name);
	r.payload = g->packed;
	r.payloadlen = (uint32_t)g->packedlen;
	*hold = group_put(gs, jctx, &r);
	if (*hold == UINT64_MAX)
		rc = GROUP_ENOMEM;
	group_dispatch(gs, g, group_clock(gs, false));	/* a changed credit... */
out:
	{
		Timerd__Group *copy = NULL;

		if (rc == 0 && (is_new || update) && gs->h.changed && g)
			copy = timerd__group__unpack(NULL, g->packedlen, g->packed);
		pthread_mutex_unlock(&gs->mu);
		if (copy) {
			gs->h.changed(gs->h.arg, copy->name, copy);
			timerd__group__free_unpacked(copy, NULL);
		}
	}
	if (rc == 0 && *hold == UINT64_MAX)
		*hold = 0;
	return rc;
}

int group_delete(struct group_set *gs, const char *name, void *jctx, uint64_t *hold)
{
	struct store_rec r = { .op = STORE_GROUP_DEL };
	struct group *g;

	*hold = 0;
	pthread_mutex_lock(&gs->mu);
	if (!(g = group_find(gs, name))) {
		pthread_mutex_unlock(&gs->mu);
		return GROUP_ENOENT;
	}
	r.key = name;
	r.keylen = (uint32_t)strlen(name);
	/*
	 * Its delivery rows below next_id go, and only those: the fire batches
	 * (its DLV_PUT rows) and the loop's batch (this row) commit in either
	 * order, so a row of a group made again under the name must survive this
	 * one, and the same delete through the fire batch (after this group's
	 * rows there) catches a DLV_PUT committed after this row.
	 */
	r.id = gs->next_id;
	*hold = group_put(gs, jctx, &r);
	if (jctx) {
		struct store_rec f = r;

		f.flags = STORE_GROUP_DLV_ONLY;
		(void)group_put(gs, NULL, &f);	/* nothing to hold: the loop's row answers */
	}
	group_remove(gs, g);
	pthread_mutex_unlock(&gs->mu);
	if (gs->h.changed)
		gs->h.changed(gs->h.arg, name, NULL);
	if (*hold == UINT64_MAX) {
		*hold = 0;
		return GROUP_ENOMEM;
	}
	return 0;
}

/* Fills gi for g. */
static void group_info(struct group *g, Timerd__GroupInfo *gi)
{
	timerd__group_info__init(gi);
	gi->group = g->cfg;
	gi->backlog = g->nready + g->nwait + g->nblocked + g->ncommit;
	gi->in_flight = g->nflight;
	gi->acked = g->c.acked;
	gi->redeliveries = g->c.redeliveries;
	gi->dead_letters = g->ndead;
	gi->consumers = g->ncons;
	gi->delivered = g->c.delivered;
	gi->nacked = g->c.nacked;
	gi->timeouts = g->c.timeouts;
	gi->backlog_dropped = g->c.backlog_dropped;
	gi->created = g->c.created;
	gi->dead_lettered = g->c.dead_lettered;
	gi->webhook_requests = g->c.webhook_requests;
	gi->webhook_failures = g->c.webhook_failures;
}

int group_list(struct group_set *gs, const char *name, group_info_fn fn, void *arg)
{
	Timerd__GroupInfo gi;
	struct group *g;

	pthread_mutex_lock(&gs->mu);
	if (name && *name) {
		if (!(g = group_find(gs, name))) {
			pthread_mutex_unlock(&gs->mu);
			return GROUP_ENOENT;
		}
		group_info(g, &gi);
		fn(arg, &gi, g->packed, g->packedlen);
	} else {
		for (size_t i = 0; i < gs->ngroups; i++) {
			group_info(gs->all[i], &gi);
			fn(arg, &gi, gs->all[i]->packed, gs->all[i]->packedlen);
		}
	}
	pthread_mutex_unlock(&gs->mu);
	return 0;
}

int group_topics_ok(struct group_set *gs, const char *name, uint64_t delivery_id, group_topic_fn fn, void *arg)
{
	const struct group_dlv *d;
	const struct group *g;
	int rc = 1;

	pthread_mutex_lock(&gs->mu);
	if (name && *name)
		g = group_find(gs, name);
	else
		g = (d = group_id_get(gs, delivery_id)) ? d->g : NULL;
	if (!g)
		rc = GROUP_ENOENT;
	for (size_t i = 0; g && rc == 1 && i < g->cfg->n_topics; i++)
		if (!fn(arg, g->cfg->topics[i], strlen(g->cfg->topics[i])))
			rc = 0;
	pthread_mutex_unlock(&gs->mu);
	return rc;
}

/* A new delivery of g with a copy of the bytes; NULL if out of memory. */
static struct group_dlv *group_dlv_new(struct group_set *gs, struct group *g, uint64_t id, const void *key,
				       uint32_t keylen, const void *topic, uint32_t topiclen, const void *payload,
				       uint32_t payloadlen)
{
	size_t size = sizeof(struct group_dlv) + keylen + topiclen + payloadlen;
	struct group_dlv *d = gs->pool;
	uint32_t cap;

	if (d && d->cap >= size) {	/* the pool's newest block fits (same-sized fires: always) */
		gs->pool = d->next;
		gs->npool--;
		cap = d->cap;
	} else if ((d = malloc(size)) != NULL) {
		cap = (uint32_t)size;	/* size < 4 GiB: key, topic and payload are bounded by max-frame */
	} else {
		return NULL;
	}
	memset(d, 0, sizeof(*d));	/* the bytes after it are all copied below */
	d->cap = cap;
	d->id = id;
	d->g = g;
	d->hidx = SIZE_MAX;
	d->keylen = keylen;
	d->topiclen = topiclen;
	d->payloadlen = payloadlen;
	if (keylen)
		memcpy(d->data, key, keylen);
	if (topiclen)
		memcpy(d->data + keylen, topic, topiclen);
	if (payloadlen)
		memcpy(d->data + keylen + topiclen, payload, payloadlen);
	/* what the admission check counted, plus its share of the id table's buckets (one per delivery and a
	 * spare); a reused block's slack past size (under GROUP_POOL_BLOCK) is the pool's, not counted */
	d->memsize = size + 16;
	if (!group_id_put(gs, d)) {
		free(d);
		return NULL;
	}
	d->gnext = g->all_head;
	if (g->all_head)
		g->all_head->gprev = d;
	g->all_head = d;
	g->held++;
	gs->mem_used += (int64_t)d->memsize;
	if (gs->h.mem)
		atomic_fetch_add_explicit(gs->h.mem, (int64_t)d->memsize, memory_order_relaxed);	/* relaxed: a gauge */
	return d;
}

bool group_wants(struct group_set *gs, const char *topic, uint32_t len)
{
	(void)topic;
	(void)len;
	/* relaxed: a hint; a group created concurrently may miss a fire that raced its creation */
	return atomic_load_explicit(&gs->ngroups_any, memory_order_relaxed) != 0;
}

/* Room for the rows of one fire on the stack (more groups: the heap). */
#define GROUP_FIRE_STACK 8

bool group_fire(struct group_set *gs, const struct group_fire *f)
{
	struct store_rec stack_rows[GROUP_FIRE_STACK], *rows = stack_rows;
	struct group_dlv *stack_d[GROUP_FIRE_STACK], **ds = stack_d;
	struct group_tlist *tl;
	size_t n = 0;
	uint64_t seq;

	pthread_mutex_lock(&gs->mu);
	if (!(tl = hmap_get(&gs->topics, f->topic, f->topiclen)) || !tl->n)
		goto none;
	if (tl->n > GROUP_FIRE_STACK &&
	    (!(rows = malloc(tl->n * sizeof(*rows))) || !(ds = malloc(tl->n * sizeof(*ds))))) {
		goto none;	/* out of memory: as if no group took it; none: frees what was allocated */
	}
	for (size_t i = 0; i < tl->n; i++) {
		struct group *g = tl->v[i];
		struct group_dlv *d;

		if (g->held >= g->max_backlog ||
		    (gs->h.mem_full && gs->h.mem_full(gs->h.arg, sizeof(struct group_dlv) + f->keylen + f->topiclen +
								     f->payloadlen))) {
			GROUP_COUNT(gs, g, backlog_dropped, 1);	/* doc/delivery.md: the newest is refused */
			continue;
		}
		if (!(d = group_dlv_new(gs, g, gs->next_id, f->key, f->keylen, f->topic, f->topiclen, f->payload,
					f->payloadlen))) {
			GROUP_COUNT(gs, g, backlog_dropped, 1);
			continue;
		}
		gs->next_id++;
		/* relaxed: the journal thread reads it after taking the fire batch's mutex, which orders it */
		atomic_store_explicit(&gs->next_id_pub, gs->next_id, memory_order_relaxed);
		d->timer_id = f->timer_id;
		d->deadline_unix = f->deadline_unix_ns;
		d->fired_unix = f->fired_unix_ns;
		d->u.m2u = f->mono_to_unix_ns;
		d->has_mono = true;
		d->period = f->period_ns;
		d->fseq = f->seq;
		d->final = f->final;
		d->st = D_COMMIT;
		if (!group_key_add(g, d)) {
			group_dlv_free(gs, d);
			GROUP_COUNT(gs, g, backlog_dropped, 1);
			continue;
		}
		GROUP_COUNT(gs, g, created, 1);
		rows[n] = (struct store_rec){ .op = STORE_DLV_PUT, .id = d->id, .group = g->name,
					      .grouplen = (uint32_t)strlen(g->name), .timer_id = d->timer_id,
					      .key = f->keylen ? d->data : NULL, .keylen = d->keylen,
					      .topic = d->data + d->keylen, .topiclen = d->topiclen,
					      .payload = d->data + d->keylen + d->topiclen, .payloadlen = d->payloadlen,
					      .deadline = d->deadline_unix, .wall = d->fired_unix, .period = d->period };
		ds[n++] = d;
	}
	if (!n)
		goto none;
	seq = gs->h.put_fire ? gs->h.put_fire(gs->h.arg, f->journal_fired ? f->timer_id : 0, rows, n) : 0;
	for (size_t i = 0; i < n; i++) {
		ds[i]->commit_seq = seq;	/* 0: not journaled (memory-only, or dropped): goes at once */
		ds[i]->g->ncommit++;
		gl_push_tail(gs_commit(gs), ds[i]);
	}
	/* journaled: the journal wakes the group thread after the commit (hooks.durable); a wake-up now
	 * would only make it take the lock for nothing, once per fire */
	if (!seq && gs->h.wake)
		gs->h.wake(gs->h.arg);
	pthread_mutex_unlock(&gs->mu);
	if (rows != stack_rows)
		free(rows);
	if (ds != stack_d)
		free(ds);
	return f->journal_fired;
none:
	pthread_mutex_unlock(&gs->mu);
	if (ds != stack_d)
		free(ds);
	if (rows != stack_rows)
		free(rows);
	return false;
}

int group_subscribe(struct group_set *gs, const char *name, struct group_consumer *c, uint32_t credit)
{
	struct group *g;

	pthread_mutex_lock(&gs->mu);
	if (!(g = group_find(gs, name))) {
		pthread_mutex_unlock(&gs->mu);
		return GROUP_ENOENT;
	}
	if (c->subscribed) {
		pthread_mutex_unlock(&gs->mu);
		return GROUP_EINVAL;
	}
	if (g->webhook != c->webhook) {
		pthread_mutex_unlock(&gs->mu);
		return GROUP_EWEBHOOK;
	}
	c->gs = gs;
	c->g = g;
	c->credit = credit ? credit : 1;
	c->inflight = 0;
	c->fhead = c->ftail = NULL;
	c->subscribed = true;
	c->skip = false;
	c->cid = ++gs->next_cid;
	if (!g->cons) {
		c->prev = c->next = c;
		g->cons = c;
	} else {
		c->next = g->cons;
		c->prev = g->cons->prev;
		c->prev->next = c;
		g->cons->prev = c;
	}
	g->ncons++;
	group_dispatch(gs, g, group_clock(gs, false));
	pthread_mutex_unlock(&gs->mu);
	return 0;
}

int group_unsubscribe(struct group_consumer *c, const char *reason)
{
	struct group_set *gs = c->gs;
	struct group *g;
	int64_t now;

	if (!gs)
		return GROUP_ENOENT;
	pthread_mutex_lock(&gs->mu);
	if (!c->subscribed || !(g = c->g)) {
		c->subscribed = false;
		pthread_mutex_unlock(&gs->mu);
		return GROUP_ENOENT;
	}
	now = group_clock(gs, false);
	c->subscribed = false;
	/* out of the ring first: what fails now goes to another consumer */
	if (c->next == c) {
		g->cons = NULL;
	} else {
		c->prev->next = c->next;
		c->next->prev = c->prev;
		if (g->cons == c)
			g->cons = c->next;
	}
	c->prev = c->next = NULL;
	g->ncons--;
	/* newest first, each to the head of the queue: they go out again oldest first */
	while (c->ftail) {
		struct group_dlv *d = c->ftail;

		group_detach(gs, d);
		GROUP_COUNT(gs, g, timeouts, 1);
		group_spare(gs, d);
		group_fail(gs, d, now, 0, reason && *reason ? reason : "consumer gone", NULL);
	}
	c->g = NULL;
	group_dispatch(gs, g, now);
	pthread_mutex_unlock(&gs->mu);
	return 0;
}

bool group_consumer_active(struct group_consumer *c)
{
	bool on;

	if (!c->gs)
		return false;
	pthread_mutex_lock(&c->gs->mu);
	on = c->subscribed;
	pthread_mutex_unlock(&c->gs->mu);
	return on;
}

/* The delivery id in flight to c, or NULL. */
static struct group_dlv *group_flight(struct group_set *gs, struct group_consumer *c, uint64_t id)
{
	struct group_dlv *d = group_id_get(gs, id);

	return d && d->st == D_FLIGHT && d->c == c ? d : NULL;
}

int group_ack(struct group_consumer *c, uint64_t id, void *jctx, uint64_t *hold)
{
	struct group_set *gs = c->gs;
	struct store_rec r = { .op = STORE_DLV_DEL, .id = id };
	struct group_dlv *d;
	struct group *g;

	*hold = 0;
	if (!gs)
		return GROUP_ENOENT;
	pthread_mutex_lock(&gs->mu);
	if (!c->subscribed || !(d = group_flight(gs, c, id))) {
		pthread_mutex_unlock(&gs->mu);
		return GROUP_ENOENT;
	}
	g = d->g;
	GROUP_COUNT(gs, g, acked, 1);
	group_dlv_done(gs, d);
	*hold = group_put(gs, jctx, &r);
	group_dispatch(gs, g, group_clock(gs, false));
	pthread_mutex_unlock(&gs->mu);
	if (*hold == UINT64_MAX) {
		*hold = 0;
		return GROUP_ENOMEM;
	}
	return 0;
}

int group_nack(struct group_consumer *c, uint64_t id, int64_t retry_after_ns, const char *error, void *jctx,
	       uint64_t *hold)
{
	struct group_set *gs = c->gs;
	struct group_dlv *d;
	struct group *g;
	int64_t now;

	*hold = 0;
	if (!gs)
		return GROUP_ENOENT;
	pthread_mutex_lock(&gs->mu);
	if (!c->subscribed || !(d = group_flight(gs, c, id))) {
		pthread_mutex_unlock(&gs->mu);
		return GROUP_ENOENT;
	}
	g = d->g;
	now = group_clock(gs, false);
	GROUP_COUNT(gs, g, nacked, 1);
	group_detach(gs, d);
	if (retry_after_ns > GROUP_MAX_BACKOFF_NS)
		retry_after_ns = GROUP_MAX_BACKOFF_NS;
	*hold = group_fail(gs, d, now, retry_after_ns > 0 ? retry_after_ns : -1,
			   error && *error ? error : "nacked", jctx);
	group_dispatch(gs, g, now);
	pthread_mutex_unlock(&gs->mu);
	if (*hold == UINT64_MAX) {
		*hold = 0;
		return GROUP_ENOMEM;
	}
	return 0;
}

void group_ack_refused(struct group_consumer *c, uint64_t id)
{
	struct group_set *gs = c->gs;
	struct group_dlv *d;

	if (!gs)
		return;
	pthread_mutex_lock(&gs->mu);
	if (c->subscribed && (d = group_flight(gs, c, id)))
		d->ack_refused = true;
	pthread_mutex_unlock(&gs->mu);
}

int64_t group_ack_by(struct group_consumer *c, uint64_t id)
{
	struct group_set *gs = c->gs;
	struct group_dlv *d;
	int64_t by = 0;

	if (!gs)
		return 0;
	pthread_mutex_lock(&gs->mu);
	if (c->subscribed && (d = group_flight(gs, c, id)))
		by = d->due;
	pthread_mutex_unlock(&gs->mu);
	return by;
}

void group_count_webhook(struct group_consumer *c, bool failed)
{
	struct group_set *gs = c->gs;

	if (!gs)
		return;
	pthread_mutex_lock(&gs->mu);
	if (c->g) {
		GROUP_COUNT(gs, c->g, webhook_requests, 1);
		if (failed)
			GROUP_COUNT(gs, c->g, webhook_failures, 1);
	}
	pthread_mutex_unlock(&gs->mu);
}

int64_t group_tick(struct group_set *gs, int64_t now)
{
	uint64_t durable = gs->h.durable ? gs->h.durable(gs->h.arg) : UINT64_MAX;
	int64_t next;

	pthread_mutex_lock(&gs->mu);
	gs->now = now;
	while (gs->commit_head && gs->commit_head->commit_seq <= durable) {
		struct group_dlv *d = gs->commit_head;

		gl_remove(gs_commit(gs), d);
		d->g->ncommit--;
		group_make_ready(d->g, d, false);
	}
	while (gs->heap.n && gs->heap.v[0]->due <= now) {
		struct group_dlv *d = gs->heap.v[0];
		struct group *g = d->g;

		if (d->st == D_FLIGHT && !group_writable(gs)) {
			/* the store fails: an ack would be refused, so the ack timeout waits for it to recover */
			d->due = now + g->ack_timeout + (g->webhook ? GROUP_WEBHOOK_SLACK_NS : 0);
			heap_fix(&gs->heap, d->hidx);
		} else if (d->st == D_FLIGHT && d->ack_refused) {
			group_detach(gs, d);
			GROUP_COUNT(gs, g, timeouts, 1);
			d->spared++;
			group_fail(gs, d, now, 0, "ack timeout (an earlier ack was refused: the store could not be written)",
				   NULL);
		} else if (d->st == D_FLIGHT) {
			group_detach(gs, d);
			GROUP_COUNT(gs, g, timeouts, 1);
			group_fail(gs, d, now, -1, "ack timeout", NULL);
		} else {
			heap_del(&gs->heap, d);
			g->nwait--;
			group_make_ready(g, d, false);
		}
	}
	for (size_t i = 0; i < gs->ngroups; i++)
		if (gs->all[i]->ready.head && gs->all[i]->cons)
			group_dispatch(gs, gs->all[i], now);
	next = gs->heap.n ? gs->heap.v[0]->due : INT64_MAX;
	pthread_mutex_unlock(&gs->mu);
	return next;
}

/* True if dead letter d matches key (NULL or "": any) and id (0: any). */
static bool group_dlq_match(const struct group_dlv *d, const char *key, uint64_t id)
{
	size_t n = key ? strlen(key) : 0;

	if (id && d->id != id)
		return false;
	return !n || (d->keylen == n && !memcmp(d->data, key, n));
}

int group_dlq_list(struct group_set *gs, const Timerd__DlqList *q, Timerd__DlqListReply *r,
		   void *(*alloc)(void *aarg, size_t n), void *aarg)
{
	uint32_t limit = q->limit ? q->limit : 100, n = 0;
	struct group_dlv *d;
	struct group *g;
	int rc = 0;

	if (limit > 1000)
		limit = 1000;
	timerd__dlq_list_reply__init(r);
	pthread_mutex_lock(&gs->mu);
	if (!(g = group_find(gs, q->group))) {
		pthread_mutex_unlock(&gs->mu);
		return GROUP_ENOENT;
	}
	if (!(r->letters = alloc(aarg, limit * sizeof(*r->letters)))) {
		pthread_mutex_unlock(&gs->mu);
		return GROUP_ENOMEM;
	}
	for (d = g->dead.head; d && n < limit; d = d->next) {
		Timerd__DeadLetter *m;
		char *key, *topic, *err = NULL;

		if (d->id <= q->cursor || !group_dlq_match(d, q->key, 0))
			continue;
		m = alloc(aarg, sizeof(*m));
		key = alloc(aarg, d->keylen + 1);
		topic = alloc(aarg, d->topiclen + 1);
		if (d->error && (err = alloc(aarg, strlen(d->error) + 1)))
			strcpy(err, d->error);
		if (!m || !key || !topic || (d->error && !err)) {
			rc = GROUP_ENOMEM;
			break;
		}
		timerd__dead_letter__init(m);
		memcpy(key, d->data, d->keylen);
		key[d->keylen] = '\0';
		memcpy(topic, d->data + d->keylen, d->topiclen);
		topic[d->topiclen] = '\0';
		m->delivery_id = d->id;
		m->timer_id = d->timer_id;
		m->key = key;
		m->topic = topic;
		m->payload_len = d->payloadlen;
		if (q->with_payload && d->payloadlen) {
			if (!(m->payload.data = alloc(aarg, d->payloadlen))) {
				rc = GROUP_ENOMEM;
				break;
			}
			memcpy(m->payload.data, d->data + d->keylen + d->topiclen, d->payloadlen);
			m->payload.len = d->payloadlen;
		}
		m->attempts = d->attempts;
		m->last_error = err ? err : (char *)"";
		m->deadline_unix_ns = d->deadline_unix;
		m->dead_unix_ns = d->u.dead_unix;
		r->letters[n++] = m;
	}
	r->n_letters = n;
	if (rc == 0 && d) {
		/* more may match after the last one returned */
		for (; d && !group_dlq_match(d, q->key, 0); d = d->next)
			;
		r->next_cursor = d && n ? r->letters[n - 1]->delivery_id : 0;
	}
	pthread_mutex_unlock(&gs->mu);
	return rc;
}

int group_dlq_apply(struct group_set *gs, const char *name, const char *key, uint64_t id, bool purge, void *jctx,
		    uint64_t *count, uint64_t *hold)
{
	struct group_dlv *d, *next;
	struct group *g;
	uint64_t h = 0;
	bool oom = false;

	*count = 0;
	*hold = 0;
	pthread_mutex_lock(&gs->mu);
	if (!(g = group_find(gs, name))) {
		pthread_mutex_unlock(&gs->mu);
		return GROUP_ENOENT;
	}
	for (d = g->dead.head; d; d = next) {
		next = d->next;
		if (!group_dlq_match(d, key, id))
			continue;
		(*count)++;
		gl_remove(&g->dead, d);
		g->ndead--;
		if (purge) {
			struct store_rec r = { .op = STORE_DLV_DEL, .id = d->id };

			h = group_put(gs, jctx, &r);
			d->st = D_READY;	/* detached: nothing to unlink */
			g->nready++;
			gl_push_tail(&g->ready, d);
			group_dlv_done(gs, d);
		} else {
			d->attempts = d->spared = 0;
			free(d->error);
			d->error = NULL;
			d->u.dead_unix = 0;	/* has_mono stays false: u is no offset */
			if (!group_key_add(g, d))
				oom = true;	/* no ordering for it, still delivered */
			d->st = D_READY;
			h = group_put_set(gs, jctx, d);
			group_make_ready(g, d, false);
		}
		if (h == UINT64_MAX)
			oom = true;
		else if (h)
			*hold = h;
	}
	group_dispatch(gs, g, group_clock(gs, false));
	pthread_mutex_unlock(&gs->mu);
	return oom ? GROUP_ENOMEM : 0;
}

void group_stats(struct group_set *gs, Timerd__DeliveryStats *st)
{
	timerd__delivery_stats__init(st);
	pthread_mutex_lock(&gs->mu);
	st->groups = gs->ngroups;
	st->created = gs->tot.created;
	st->delivered = gs->tot.delivered;
	st->acked = gs->tot.acked;
	st->nacked = gs->tot.nacked;
	st->timeouts = gs->tot.timeouts;
	st->redeliveries = gs->tot.redeliveries;
	st->dead_lettered = gs->tot.dead_lettered;
	st->backlog_dropped = gs->tot.backlog_dropped;
	st->webhook_requests = gs->tot.webhook_requests;
	st->webhook_failures = gs->tot.webhook_failures;
	st->duplicates = gs->tot.duplicates;
	for (size_t i = 0; i < gs->ngroups; i++) {
		struct group *g = gs->all[i];

		st->backlog += g->nready + g->nwait + g->nblocked + g->ncommit;
		st->in_flight += g->nflight;
		st->dead_letters += g->ndead;
	}
	pthread_mutex_unlock(&gs->mu);
}

/* --- restore --- */

int group_restore_group(struct group_set *gs, const char *name, const void *settings, size_t len)
{
	Timerd__Group *cfg = timerd__group__unpack(NULL, len, settings);
	struct group *g;
	uint8_t *packed;
	size_t plen;
	int rc = -1;

	if (!cfg)
		return -1;
	if (cfg->name && !strcmp(cfg->name, name) && !group_find(gs, name) && group_normalise(cfg, &packed, &plen) == 0) {
		if ((g = group_new(gs, name)) != NULL && group_apply(gs, g, packed, plen) == 0)
			rc = 0;
		else if (g)
			group_remove(gs, g), free(packed);
		else
			free(packed);
	}
	timerd__group__free_unpacked(cfg, NULL);
	return rc;
}

int group_restore_delivery(struct group_set *gs, const struct store_rec *r)
{
	char name[GROUP_MAX_NAME + 1];
	struct group_dlv *d;
	struct group *g;

	if (!r->group || r->grouplen > GROUP_MAX_NAME)
		return 0;
	memcpy(name, r->group, r->grouplen);
	name[r->grouplen] = '\0';
	if (!(g = group_find(gs, name)))
		return 0;	/* its group is gone (deleted in the same commit as the fire) */
	if (r->id >= gs->next_id)
		gs->next_id = r->id + 1;
	if (!(d = group_dlv_new(gs, g, r->id, r->key, r->key ? r->keylen : 0, r->topic, r->topiclen, r->payload,
				r->payloadlen)))
		return -1;
	d->timer_id = r->timer_id;
	d->deadline_unix = r->deadline;
	d->fired_unix = r->wall;
	d->period = r->period;
	if (r->error && r->errorlen) {
		char *e = strndup(r->error, r->errorlen);

		d->error = e;
	}
	if (r->flags & STORE_DLV_DEAD) {
		d->attempts = r->attempts;
		d->u.dead_unix = r->at;
		d->st = D_DEAD;
		g->ndead++;
		gl_insert_sorted(&g->dead, d);
		return 0;
	}
	/* it may have been pushed once more than recorded before the stop: the next push is a duplicate */
	d->attempts = r->attempts + 1;
	d->restored = true;
	if (!group_key_add(g, d)) {
		group_dlv_free(gs, d);
		return -1;
	}
	group_make_ready(g, d, false);
	return 0;
}

void group_restore_done(struct group_set *gs, uint64_t next_id)
{
	if (next_id > gs->next_id)
		gs->next_id = next_id;
	atomic_store_explicit(&gs->next_id_pub, gs->next_id, memory_order_relaxed);	/* relaxed: before any thread */
}

uint64_t group_next_id(struct group_set *gs)
{
	/* relaxed: see group_fire (the fire batch's mutex orders it before the rows it covers) */
	return atomic_load_explicit(&gs->next_id_pub, memory_order_relaxed);
}
