/*
 * watch.c -- who watches which topic. Two levels:
 *
 *   - per loop (loop thread only): topic -> the loop's connections watching
 *     it, plus the loop's all-topic watchers; used to deliver a fire;
 *   - the registry (all threads): topic -> which loops have watchers, read
 *     by engine threads to decide where a fire goes. Writers (watch and
 *     unwatch, rare) take the rwlock for writing; fires take it for
 *     reading, and skip it entirely while nobody watches anything.
 */
#include "config.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "server/quota.h"
#include "server/srv.h"

/* Each loop is one bit of the registry's uint64_t loop masks. */
_Static_assert(SETTINGS_MAX_THREADS <= sizeof(((struct watch_reg *)0)->all_mask) * CHAR_BIT,
	       "a loop mask has a bit per loop thread");

/* A topic's watchers per loop, in the registry. */
struct watch_topic {
	uint32_t count[SETTINGS_MAX_THREADS];
	uint64_t mask;			/* loops with count > 0 */
};

_Static_assert(sizeof(((struct watch_topic *)0)->mask) == sizeof(((struct watch_reg *)0)->all_mask),
	       "topic and all-topic masks are merged in watch_reg_targets");

/* Initialises an empty registry; 0 or -1. */
int watch_reg_init(struct watch_reg *r)
{
	memset(r, 0, sizeof(*r));
	hmap_init(&r->topics);
	return pthread_rwlock_init(&r->lock, NULL) ? -1 : 0;
}

/* Frees the registry (no thread uses it any more). */
void watch_reg_destroy(struct watch_reg *r)
{
	hmap_destroy(&r->topics, free);
	pthread_rwlock_destroy(&r->lock);
}

/* Bitmask of loops that have watchers of topic or of every topic. */
uint64_t watch_reg_targets(struct watch_reg *r, const char *topic, uint32_t len)
{
	struct watch_topic *t;
	uint64_t mask;

	/* relaxed: a watch that races this fire may or may not see it, as documented */
	if (!atomic_load_explicit(&r->total, memory_order_relaxed))
		return 0;
	mask = atomic_load_explicit(&r->all_mask, memory_order_relaxed);
	pthread_rwlock_rdlock(&r->lock);
	if ((t = hmap_get(&r->topics, topic, len)) != NULL)
		mask |= t->mask;
	pthread_rwlock_unlock(&r->lock);
	return mask;
}

/* Counts a watch of topic (NULL: all) by loop idx in the registry; 0 or -1. */
static int watch_reg_add(struct watch_reg *r, unsigned idx, const char *topic, uint32_t len)
{
	struct watch_topic *t = NULL;
	int rc = 0;

	pthread_rwlock_wrlock(&r->lock);
	if (!topic) {
		if (r->all[idx]++ == 0)
			atomic_fetch_or_explicit(&r->all_mask, UINT64_C(1) << idx, memory_order_relaxed);
	} else if ((t = hmap_get(&r->topics, topic, len)) || ((t = calloc(1, sizeof(*t))) &&
							       hmap_put(&r->topics, topic, len, t) == 0)) {
		if (t->count[idx]++ == 0)
			t->mask |= UINT64_C(1) << idx;
	} else {
		free(t);
		rc = -1;
	}
	if (!rc)	/* relaxed: the lock orders the registry; total is only a fast-path hint */
		atomic_fetch_add_explicit(&r->total, 1, memory_order_relaxed);
	pthread_rwlock_unlock(&r->lock);
	return rc;
}

/* Uncounts a watch of topic (NULL: all) by loop idx. */
static void watch_reg_del(struct watch_reg *r, unsigned idx, const char *topic, uint32_t len)
{
	struct watch_topic *t;

	pthread_rwlock_wrlock(&r->lock);
	if (!topic) {
		if (--r->all[idx] == 0)
			atomic_fetch_and_explicit(&r->all_mask, ~(UINT64_C(1) << idx), memory_order_relaxed);
	} else if ((t = hmap_get(&r->topics, topic, len)) != NULL && --t->count[idx] == 0) {
		t->mask &= ~(UINT64_C(1) << idx);
		if (!t->mask)
			free(hmap_del(&r->topics, topic, len));
	}
	atomic_fetch_sub_explicit(&r->total, 1, memory_order_relaxed);
	pthread_rwlock_unlock(&r->lock);
}

/* Appends c to a watch list; 0 or -1. */
static int watch_list_add(struct watch_list *wl, struct conn *c)
{
	if (wl->n == wl->cap) {
		uint32_t cap = wl->cap ? wl->cap * 2 : 4;
		struct conn **v = realloc(wl->v, cap * sizeof(*v));

		if (!v)
			return -1;
		wl->v = v;
		wl->cap = cap;
	}
	wl->v[wl->n++] = c;
	return 0;
}

/* Removes c from a watch list (order does not matter). */
static void watch_list_del(struct watch_list *wl, struct conn *c)
{
	for (uint32_t i = 0; i < wl->n; i++) {
		if (wl->v[i] == c) {
			wl->v[i] = wl->v[--wl->n];
			return;
		}
	}
}

/* The watchers of topic in loop l, or NULL. */
struct watch_list *watch_loop_list(struct loop *l, const char *topic, uint32_t len)
{
	return l->watchers.n ? hmap_get(&l->watchers, topic, len) : NULL;
}

/* Index of topic among c's watches, or -1. */
static int watch_find(const struct conn *c, const char *topic, uint32_t len)
{
	for (uint32_t i = 0; i < c->nwatches; i++)
		if (strlen(c->watches[i]) == len && memcmp(c->watches[i], topic, len) == 0)
			return (int)i;
	return -1;
}

/* Adds topic to the loop's list for c; 0 or -1. */
static int watch_loop_add(struct loop *l, struct conn *c, const char *topic, uint32_t len)
{
	struct watch_list *wl = watch_loop_list(l, topic, len);

	if (!wl) {
		if (!(wl = calloc(1, sizeof(*wl))) || hmap_put(&l->watchers, topic, len, wl) < 0) {
			free(wl);
			return -1;
		}
	}
	if (watch_list_add(wl, c) == 0)
		return 0;
	if (!wl->n)
		free(hmap_del(&l->watchers, topic, len));
	return -1;
}

/* Removes c from the loop's list for topic. */
static void watch_loop_del(struct loop *l, struct conn *c, const char *topic, uint32_t len)
{
	struct watch_list *wl = watch_loop_list(l, topic, len);

	if (!wl)
		return;
	watch_list_del(wl, c);
	if (!wl->n) {
		hmap_del(&l->watchers, topic, len);
		free(wl->v);
		free(wl);
	}
}

/*
 * What one watch of a len-byte topic costs in max-memory (srv.fire_mem):
 * the topic's copy, and an estimate of its slots in the connection's list,
 * the loop's watch list and map, and the registry.
 */
#define WATCH_MEM_COST(len) ((int64_t)(len) + 1 + 96)

/* Adds (or with a negative n, returns) a watch's bytes to max-memory's account. */
static void watch_mem(struct loop *l, int64_t n)
{
	/* relaxed: a gauge the engine's budget check reads approximately */
	atomic_fetch_add_explicit(&l->srv->fire_mem, n, memory_order_relaxed);
}

/* Records a copy of topic in c's own list; 0 or -1. */
static int watch_conn_add(struct conn *c, const char *topic, uint32_t len)
{
	char *copy;

	if (c->nwatches == c->wcap) {
		uint32_t cap = c->wcap ? c->wcap * 2 : 4;
		char **v = realloc(c->watches, cap * sizeof(*v));

		if (!v)
			return -1;
		c->watches = v;
		c->wcap = cap;
	}
	if (!(copy = malloc(len + 1)))
		return -1;
	memcpy(copy, topic, len);
	copy[len] = '\0';
	c->watches[c->nwatches++] = copy;
	return 0;
}

/* c watches every topic. */
static int watch_add_all(struct conn *c)
{
	struct loop *l = c->loop;

	if (c->watch_all)
		return 0;
	if (!quota_watch_room(c))
		return TD_ETOOMANY;	/* the identity's max-watches (rpc.c tells it from the connection's) */
	if (watch_list_add(&l->all, c) < 0)
		return TD_ENOMEM;
	if (watch_reg_add(&l->srv->watch, l->idx, NULL, 0) < 0) {
		watch_list_del(&l->all, c);
		return TD_ENOMEM;
	}
	c->watch_all = true;
	quota_watch_add(c, 1);
	watch_mem(l, WATCH_MEM_COST(0));
	atomic_fetch_add_explicit(&l->srv->watchers, 1, memory_order_relaxed);
	return 0;
}

/* c watches topic (NULL: every topic). */
int watch_add(struct conn *c, const char *topic, uint32_t len)
{
	struct loop *l = c->loop;

	if (!topic)
		return watch_add_all(c);
	if (watch_find(c, topic, len) >= 0)
		return 0;
	if (c->nwatches >= l->srv->cfg->max_watches || !quota_watch_room(c))
		return TD_ETOOMANY;	/* the connection's max-watches, or its identity's */
	if (watch_conn_add(c, topic, len) < 0)
		return TD_ENOMEM;
	if (watch_loop_add(l, c, topic, len) < 0) {
		free(c->watches[--c->nwatches]);
		return TD_ENOMEM;
	}
	if (watch_reg_add(&l->srv->watch, l->idx, topic, len) < 0) {
		watch_loop_del(l, c, topic, len);
		free(c->watches[--c->nwatches]);
		return TD_ENOMEM;
	}
	quota_watch_add(c, 1);
	watch_mem(l, WATCH_MEM_COST(len));
	atomic_fetch_add_explicit(&l->srv->watchers, 1, memory_order_relaxed);
	return 0;
}

/* c stops watching topic (NULL: every topic). */
int watch_del(struct conn *c, const char *topic, uint32_t len)
{
	struct loop *l = c->loop;
	int i;

	if (!topic) {
		if (!c->watch_all)
			return TD_ENOENT;
		watch_list_del(&l->all, c);
		watch_reg_del(&l->srv->watch, l->idx, NULL, 0);
		c->watch_all = false;
		watch_mem(l, -WATCH_MEM_COST(0));
	} else {
		if ((i = watch_find(c, topic, len)) < 0)
			return TD_ENOENT;
		watch_loop_del(l, c, topic, len);
		watch_reg_del(&l->srv->watch, l->idx, topic, len);
		watch_mem(l, -WATCH_MEM_COST(len));
		free(c->watches[i]);
		c->watches[i] = c->watches[--c->nwatches];
	}
	quota_watch_add(c, -1);
	atomic_fetch_sub_explicit(&l->srv->watchers, 1, memory_order_relaxed);
	return 0;
}

/* Drops every watch of c. */
void watch_drop_all(struct conn *c)
{
	if (c->watch_all)
		watch_del(c, NULL, 0);
	while (c->nwatches)
		watch_del(c, c->watches[c->nwatches - 1], (uint32_t)strlen(c->watches[c->nwatches - 1]));
}
