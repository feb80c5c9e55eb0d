/*
 * quota.c -- per-identity quotas: connections, arms/s, watches (see quota.h).
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/engine.h"
#include "server/hmap.h"
#include "server/ident.h"
#include "server/quota.h"
#include "server/srv.h"

/* One identity's use, shared by its connections; found by name, freed with the table. */
struct quota_use {
	pthread_mutex_t lock;		/* the fields below */
	uint32_t conns;			/* connections counted under it */
	uint32_t watches;		/* topics they watch */
	double tokens;			/* arms/s bucket: arms it may make now */
	int64_t refill_ns;		/* CLOCK_MONOTONIC of the last refill, 0: full */
	uint32_t acct;			/* its engine account (immutable; 0: none left) */
	char name[];
};

/* CLOCK_MONOTONIC in ns. */
static int64_t quota_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int quota_init(struct srv *s)
{
	pthread_mutex_init(&s->quota_lock, NULL);
	hmap_init(&s->quota_uses);
	return 0;
}

/* hmap_destroy callback. */
static void quota_use_free(void *v)
{
	struct quota_use *u = v;

	pthread_mutex_destroy(&u->lock);
	free(u);
}

void quota_destroy(struct srv *s)
{
	hmap_destroy(&s->quota_uses, quota_use_free);
	pthread_mutex_destroy(&s->quota_lock);
}

/*
 * The use of identity name, created on first sight; NULL if out of memory.
 * Uses are never freed before quota_destroy: there are at most as many as
 * names the users files ever held, each a few dozen bytes.
 */
static struct quota_use *quota_use_of(struct srv *s, const char *name)
{
	size_t len = strlen(name);
	struct quota_use *u;

	pthread_mutex_lock(&s->quota_lock);
	if (!(u = hmap_get(&s->quota_uses, name, len)) && (u = calloc(1, sizeof(*u) + len + 1))) {
		pthread_mutex_init(&u->lock, NULL);
		memcpy(u->name, name, len + 1);
		u->tokens = -1;	/* full at the first arm */
		/* accounts are never reused: a use lives as long as the table */
		if (s->quota_naccts + 1 < ENGINE_MAX_ACCTS)
			u->acct = ++s->quota_naccts;
		if (hmap_put(&s->quota_uses, name, len, u) < 0) {
			quota_use_free(u);
			u = NULL;
		}
	}
	pthread_mutex_unlock(&s->quota_lock);
	return u;
}

/* Takes c's connection and watches out of the use they are counted under. */
static void quota_conn_leave(struct conn *c)
{
	struct quota_use *u = c->quota;

	if (!u)
		return;
	pthread_mutex_lock(&u->lock);
	u->conns--;
	u->watches -= c->quota_watches < u->watches ? c->quota_watches : u->watches;
	pthread_mutex_unlock(&u->lock);
	c->quota = NULL;
	c->quota_watches = 0;
}

bool quota_conn_sync(struct conn *c, char *why, size_t whylen)
{
	const struct ident *id = c->ident;
	struct quota_use *u;
	bool ok;

	if (c->quota && id && strcmp(c->quota->name, id->name) == 0)
		return true;	/* already counted there (the common case: one strcmp) */
	quota_conn_leave(c);
	if (!id || !(u = quota_use_of(c->loop->srv, id->name)))
		return true;	/* no identity (yet), or no memory to count it: not refused for that */
	pthread_mutex_lock(&u->lock);
	ok = !id->quota.max_connections || u->conns < id->quota.max_connections;
	if (ok) {
		u->conns++;
		u->watches += c->nwatches + c->watch_all;
	}
	pthread_mutex_unlock(&u->lock);
	if (!ok) {
		snprintf(why, whylen, "identity %s already has its max-connections (%u) open: close one, or raise "
			 "max-connections= on its users-file line", id->name, id->quota.max_connections);
		return false;
	}
	c->quota = u;
	c->quota_watches = c->nwatches + c->watch_all;
	return true;
}

void quota_conn_release(struct conn *c)
{
	quota_conn_leave(c);
}

/*
 * Token bucket: arms_per_s tokens a second, holding at most arms_per_s
 * (one second of burst, at least one token). A refused arm takes nothing;
 * retry_ms is when the next token is there.
 */
bool quota_arm_take(struct srv *s, struct conn *c, const struct ident *id, uint32_t *retry_ms)
{
	struct quota_use *u;
	double rate, cap;
	int64_t now;
	bool ok;

	if (!id || !id->quota.arms_per_s)
		return true;
	u = c && c->quota && strcmp(c->quota->name, id->name) == 0 ? c->quota : quota_use_of(s, id->name);
	if (!u)
		return true;
	rate = id->quota.arms_per_s;
	cap = rate < 1 ? 1 : rate;
	now = quota_now();
	pthread_mutex_lock(&u->lock);
	if (u->tokens < 0 || !u->refill_ns)
		u->tokens = cap;
	else
		u->tokens += (double)(now - u->refill_ns) * rate / 1e9;
	if (u->tokens > cap)
		u->tokens = cap;
	u->refill_ns = now;
	ok = u->tokens >= 1;
	if (ok)
		u->tokens -= 1;
	else
		*retry_ms = (uint32_t)((1 - u->tokens) * 1000 / rate) + 1;
	pthread_mutex_unlock(&u->lock);
	return ok;
}

uint32_t quota_acct(struct srv *s, const struct conn *c, const char *name)
{
	struct quota_use *u;

	if (!name || !*name)
		return 0;
	if (c && c->quota && strcmp(c->quota->name, name) == 0)
		return c->quota->acct;	/* the arm path: no lock */
	u = quota_use_of(s, name);
	return u ? u->acct : 0;
}

bool quota_watch_room(const struct conn *c)
{
	struct quota_use *u = c->quota;
	bool ok;

	if (!u || !c->ident || !c->ident->quota.max_watches)
		return true;
	pthread_mutex_lock(&u->lock);
	ok = u->watches < c->ident->quota.max_watches;
	pthread_mutex_unlock(&u->lock);
	return ok;
}

void quota_watch_add(struct conn *c, int delta)
{
	struct quota_use *u = c->quota;

	if (!u)
		return;
	pthread_mutex_lock(&u->lock);
	if (delta > 0 || u->watches)
		u->watches += (uint32_t)delta;
	pthread_mutex_unlock(&u->lock);
	if (delta > 0 || c->quota_watches)
		c->quota_watches += (uint32_t)delta;
}
