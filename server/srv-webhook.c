/*
 * srv-webhook.c -- the webhook thread: every group with a webhook_url is
 * one consumer of the group set (struct group_consumer, server/group.h,
 * with credit = its webhook_concurrency) whose deliveries server/webhook.c
 * POSTs on this thread's event_base. A 2xx acks the delivery; anything else
 * nacks it with the answer in words ("HTTP 500 Internal Server Error",
 * "timeout after 2s"), so the group's backoff, max_attempts and dead
 * letters apply as to any consumer.
 *
 * Other threads reach this one only through its inbox (a mutex-protected
 * list and an eventfd written when the list was empty): the consumers'
 * deliver callbacks (the group set's lock held, any thread) post a copy of
 * each delivery, srv_webhook_changed posts a group's new settings, and
 * srv_webhook_stop posts the end. A delivery node is in exactly one list
 * at a time: the inbox, the batch being run, its group's pending list
 * (waiting for a free request slot) or its group's busy list (its request
 * in flight; the node is the request's cookie).
 *
 * A group's webhook goes (deleted, its settings changed, timerd stopping)
 * in one place, srv_webhook_drop: it unsubscribes first, so that no
 * deliver callback runs for it afterwards and its deliveries in flight are
 * due again, then frees its requests and every node still naming it.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/err.h"
#include "proto/units.h"
#include "server/group.h"
#include "server/log.h"
#include "server/srv-webhook.h"
#include "server/webhook.h"

/* What an inbox node carries. */
enum srv_webhook_kind {
	SRV_WEBHOOK_DELIVERY,		/* a delivery to POST */
	SRV_WEBHOOK_CHANGED,		/* a group's settings, or its deletion */
	SRV_WEBHOOK_STOP,
};

/* What a group's webhook depends on; two equal ones need no new webhook. */
struct srv_webhook_conf {
	const char *url;		/* NULL: the group has no webhook (or is gone) */
	uint32_t concurrency;
	int64_t timeout_ns;
	bool insecure;
};

struct srv_webhook_group;

/* An inbox node: a delivery, a group's new settings, or the end. */
struct srv_webhook_node {
	struct srv_webhook_node *prev, *next;
	enum srv_webhook_kind kind;
	struct srv_webhook_group *g;	/* DELIVERY: its group */
	struct webhook_delivery d;	/* DELIVERY: key, topic and payload point into data */
	size_t mem;			/* DELIVERY: bytes counted in max-memory's account */
	const char *name;		/* CHANGED: into data */
	struct srv_webhook_conf conf;	/* CHANGED: url into data */
	char data[];
};

/* A doubly linked FIFO of nodes. */
struct srv_webhook_list {
	struct srv_webhook_node *head, *tail;
};

/* One group's webhook (the webhook thread's). */
struct srv_webhook_group {
	struct srv_webhooks *wh;
	struct srv_webhook_group *next;	/* wh->groups */
	char *name;
	struct srv_webhook_conf conf;	/* url malloc'd */
	struct group_consumer c;
	struct webhook *w;		/* NULL: broken */
	char *broken;			/* why webhook_new refused the settings: each delivery is nacked with it */
	struct srv_webhook_list pending;	/* waiting for a request slot */
	struct srv_webhook_list busy;		/* requests in flight */
};

struct srv_webhooks {
	struct group_set *gs;
	_Atomic int64_t *mem;		/* max-memory's account (the group set's), or NULL */
	struct event_base *base;
	struct event *wake;
	int efd;
	pthread_t thread;
	bool started;
	pthread_mutex_t mu;		/* the inbox */
	struct srv_webhook_list inbox;	/* under mu */
	struct srv_webhook_list batch;	/* the webhook thread's: taken from the inbox, being run */
	struct srv_webhook_group *groups;	/* the webhook thread's */
	bool stopping;			/* the webhook thread's: STOP was run, later changes are ignored */
};

/* Appends n to l. */
static void srv_webhook_list_push(struct srv_webhook_list *l, struct srv_webhook_node *n)
{
	n->next = NULL;
	n->prev = l->tail;
	if (l->tail)
		l->tail->next = n;
	else
		l->head = n;
	l->tail = n;
}

/* Unlinks n from l. */
static void srv_webhook_list_del(struct srv_webhook_list *l, struct srv_webhook_node *n)
{
	if (n->prev)
		n->prev->next = n->next;
	else
		l->head = n->next;
	if (n->next)
		n->next->prev = n->prev;
	else
		l->tail = n->prev;
	n->prev = n->next = NULL;
}

/* Takes l's first node, or NULL. */
static struct srv_webhook_node *srv_webhook_list_pop(struct srv_webhook_list *l)
{
	struct srv_webhook_node *n = l->head;

	if (n)
		srv_webhook_list_del(l, n);
	return n;
}

/*
 * The bytes a delivery node stands for in max-memory's account: itself and
 * the JSON body of its request (base64 payload, escaped key and topic).
 */
static size_t srv_webhook_node_mem(size_t node, const struct group_delivery *d)
{
	return node + ((size_t)d->payloadlen + 2) / 3 * 4 + 2 * ((size_t)d->keylen + d->topiclen) + 320;
}

/* Frees node n, giving its bytes back to max-memory's account. */
static void srv_webhook_node_free(struct srv_webhooks *wh, struct srv_webhook_node *n)
{
	if (n->mem && wh->mem)
		atomic_fetch_sub_explicit(wh->mem, (int64_t)n->mem, memory_order_relaxed);	/* relaxed: a gauge */
	free(n);
}

/* Frees every node of l that belongs to g (all of them if g is NULL). */
static void srv_webhook_list_purge(struct srv_webhooks *wh, struct srv_webhook_list *l,
				   const struct srv_webhook_group *g)
{
	struct srv_webhook_node *n = l->head, *next;

	for (; n; n = next) {
		next = n->next;
		if (!g || n->g == g) {
			srv_webhook_list_del(l, n);
			srv_webhook_node_free(wh, n);
		}
	}
}

/* Posts n to the webhook thread (any thread); wakes it if the inbox was empty. */
static void srv_webhook_post(struct srv_webhooks *wh, struct srv_webhook_node *n)
{
	uint64_t one = 1;
	bool was_empty;

	pthread_mutex_lock(&wh->mu);
	was_empty = wh->inbox.head == NULL;
	srv_webhook_list_push(&wh->inbox, n);
	pthread_mutex_unlock(&wh->mu);
	if (was_empty)
		while (write(wh->efd, &one, sizeof(one)) < 0 && errno == EINTR)
			;	/* EAGAIN: the counter is non-zero, the thread will wake */
}

/*
 * The consumer's deliver callback (the group set's lock held, any thread):
 * queues a copy of d to the webhook thread. 0, or -1 out of memory (d stays
 * first in line).
 */
static int srv_webhook_deliver(struct group_consumer *c, const struct group_delivery *d)
{
	struct srv_webhook_group *g = c->arg;
	size_t size = sizeof(struct srv_webhook_node) + (size_t)d->keylen + d->topiclen + d->payloadlen;
	struct srv_webhook_node *n = malloc(size);
	char *p;

	if (!n)
		return -1;
	memset(n, 0, sizeof(*n));
	n->kind = SRV_WEBHOOK_DELIVERY;
	n->g = g;
	n->mem = srv_webhook_node_mem(size, d);
	if (g->wh->mem)
		atomic_fetch_add_explicit(g->wh->mem, (int64_t)n->mem, memory_order_relaxed);	/* relaxed: a gauge */
	p = n->data;
	memcpy(p, d->key, d->keylen);
	n->d.key = p, n->d.key_len = d->keylen, p += d->keylen;
	if (d->topiclen)
		memcpy(p, d->topic, d->topiclen);
	n->d.topic = p, n->d.topic_len = d->topiclen, p += d->topiclen;
	if (d->payloadlen)
		memcpy(p, d->payload, d->payloadlen);
	n->d.payload = (const uint8_t *)p, n->d.payload_len = d->payloadlen;
	n->d.delivery_id = d->id;
	n->d.attempt = d->attempt;
	n->d.timer_id = d->timer_id;
	n->d.deadline_unix_ns = d->deadline_unix_ns;
	n->d.fired_unix_ns = d->fired_unix_ns;
	srv_webhook_post(g->wh, n);
	return 0;
}

static const struct group_consumer_ops srv_webhook_ops = { .deliver = srv_webhook_deliver };

/* Starts g's pending deliveries while it has free request slots (a broken webhook nacks them with its reason). */
static void srv_webhook_fill(struct srv_webhook_group *g)
{
	struct srv_webhook_node *n;
	char why[WEBHOOK_ERROR_MAX];
	uint64_t hold;
	int rc;

	while (g->pending.head && (!g->w || webhook_free_slots(g->w) > 0)) {
		n = srv_webhook_list_pop(&g->pending);
		rc = g->w ? webhook_post(g->w, &n->d, n) : TD_EINVAL;
		if (rc != TD_OK) {	/* not started: not counted as a request */
			if (g->w)
				snprintf(why, sizeof(why), "webhook request not started: %s", td_strerror(rc));
			else
				snprintf(why, sizeof(why), "%s", g->broken);
			group_nack(&g->c, n->d.delivery_id, 0, why, NULL, &hold);
			srv_webhook_node_free(g->wh, n);
			continue;
		}
		srv_webhook_list_push(&g->busy, n);
	}
}

/*
 * A request's answer (webhook thread): acks on ok, else nacks with error
 * (due again after the answer's Retry-After if any, else the group's
 * backoff); then starts what waits.
 */
static void srv_webhook_done(void *arg, void *cookie, bool ok, const char *error, int64_t retry_after_ns)
{
	struct srv_webhook_group *g = arg;
	struct srv_webhook_node *n = cookie;
	uint64_t hold, id = n->d.delivery_id;
	int rc;

	srv_webhook_list_del(&g->busy, n);
	srv_webhook_node_free(g->wh, n);
	group_count_webhook(&g->c, !ok);
	rc = ok ? group_ack(&g->c, id, NULL, &hold) : group_nack(&g->c, id, retry_after_ns, error, NULL, &hold);
	if (rc != 0)	/* timed out meanwhile (the ack timeout), or its group was changed */
		log_debug("group %s: delivery %llu answered (%s) but no longer in flight", g->name,
			  (unsigned long long)id, ok ? "ok" : error);
	else if (!ok)
		log_info_rl("group %s: webhook delivery %llu failed: %s", g->name, (unsigned long long)id, error);
	srv_webhook_fill(g);
}

/* Removes g (unsubscribed first: its deliveries in flight are due again) and frees it and every node naming it. */
static void srv_webhook_drop(struct srv_webhooks *wh, struct srv_webhook_group *g, const char *why)
{
	struct srv_webhook_group **pp;

	group_unsubscribe(&g->c, why);	/* after it returns, deliver is never called for g */
	webhook_free(g->w);		/* aborts the requests in flight; done is not called */
	srv_webhook_list_purge(wh, &g->busy, NULL);
	srv_webhook_list_purge(wh, &g->pending, NULL);
	srv_webhook_list_purge(wh, &wh->batch, g);
	pthread_mutex_lock(&wh->mu);
	srv_webhook_list_purge(wh, &wh->inbox, g);
	pthread_mutex_unlock(&wh->mu);
	for (pp = &wh->groups; *pp; pp = &(*pp)->next)
		if (*pp == g) {
			*pp = g->next;
			break;
		}
	free(g->name);
	free(g->broken);
	free((char *)g->conf.url);
	free(g);
}

/* True if a and b make the same webhook. */
static bool srv_webhook_conf_eq(const struct srv_webhook_conf *a, const struct srv_webhook_conf *b)
{
	return strcmp(a->url, b->url) == 0 && a->concurrency == b->concurrency && a->timeout_ns == b->timeout_ns &&
	       a->insecure == b->insecure;
}

/* The length of url's scheme://host:port, what the log shows of it (a path may hold a secret). */
static int srv_webhook_origin_len(const char *url)
{
	const char *p = strstr(url, "://");

	p = p ? p + 3 : url;
	p += strcspn(p, "/?#");
	return (int)(p - url);
}

/* Makes group name's webhook with conf and subscribes it; logs and gives up on failure. */
static void srv_webhook_add(struct srv_webhooks *wh, const char *name, const struct srv_webhook_conf *conf)
{
	struct srv_webhook_group *g = calloc(1, sizeof(*g));
	struct webhook_config wc = { .url = conf->url, .group = name, .concurrency = conf->concurrency,
				     .timeout_ns = conf->timeout_ns, .insecure = conf->insecure };
	char err[256], dur[UNITS_BUFSZ];
	int rc;

	if (!g || !(g->name = strdup(name)) || !(g->conf.url = strdup(conf->url))) {
		log_err("group %s: webhook: out of memory", name);
		goto fail;
	}
	g->wh = wh;
	g->conf.concurrency = conf->concurrency;
	g->conf.timeout_ns = conf->timeout_ns;
	g->conf.insecure = conf->insecure;
	/* refused settings still make a consumer, that nacks with the reason: the dead letters say it */
	if (!(g->w = webhook_new(wh->base, &wc, srv_webhook_done, g, err, sizeof(err)))) {
		log_err("group %s: webhook not started: %s", name, err);
		if (!(g->broken = strdup(err)))
			goto fail;
	}
	g->c.ops = &srv_webhook_ops;
	g->c.arg = g;
	g->c.webhook = true;
	if ((rc = group_subscribe(wh->gs, name, &g->c, g->w ? conf->concurrency : 1)) != 0) {
		if (rc != GROUP_ENOENT)	/* ENOENT: deleted since; its deletion is in the inbox */
			log_err("group %s: the webhook could not subscribe (%d)", name, rc);
		webhook_free(g->w);
		goto fail;
	}
	g->next = wh->groups;
	wh->groups = g;
	if (g->w)
		log_info("group %s: delivering to %.*s (%u at once, timeout %s%s)", name,
			 srv_webhook_origin_len(conf->url), conf->url, conf->concurrency,
			 units_duration_format(conf->timeout_ns, dur, sizeof(dur)),
			 conf->insecure ? ", TLS not verified" : "");
	return;
fail:
	if (g) {
		free(g->name);
		free(g->broken);
		free((char *)g->conf.url);
	}
	free(g);
}

/* Applies a group's new settings (conf->url NULL: no webhook, or deleted). */
static void srv_webhook_apply(struct srv_webhooks *wh, const char *name, const struct srv_webhook_conf *conf)
{
	struct srv_webhook_group *g;

	for (g = wh->groups; g; g = g->next)
		if (strcmp(g->name, name) == 0)
			break;
	if (g && conf->url && srv_webhook_conf_eq(&g->conf, conf))
		return;
	if (g)
		srv_webhook_drop(wh, g, conf->url ? "webhook settings changed" : "webhook removed");
	if (conf->url)
		srv_webhook_add(wh, name, conf);
}

/* Runs one inbox node on the webhook thread. */
static void srv_webhook_run(struct srv_webhooks *wh, struct srv_webhook_node *n)
{
	switch (n->kind) {
	case SRV_WEBHOOK_DELIVERY:
		srv_webhook_list_push(&n->g->pending, n);
		srv_webhook_fill(n->g);
		return;
	case SRV_WEBHOOK_CHANGED:
		if (!wh->stopping)
			srv_webhook_apply(wh, n->name, &n->conf);
		break;
	case SRV_WEBHOOK_STOP:
		wh->stopping = true;
		while (wh->groups)
			srv_webhook_drop(wh, wh->groups, "timerd stopping");
		event_base_loopbreak(wh->base);
		break;
	}
	free(n);
}

/* The inbox's eventfd: takes the inbox and runs it in order. */
static void srv_webhook_wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct srv_webhooks *wh = arg;
	struct srv_webhook_node *n;
	uint64_t v;

	(void)what;
	while (read(fd, &v, sizeof(v)) < 0 && errno == EINTR)
		;
	pthread_mutex_lock(&wh->mu);
	wh->batch = wh->inbox;
	wh->inbox.head = wh->inbox.tail = NULL;
	pthread_mutex_unlock(&wh->mu);
	while ((n = srv_webhook_list_pop(&wh->batch)) != NULL)
		srv_webhook_run(wh, n);
}

/* The webhook thread. */
static void *srv_webhook_main(void *arg)
{
	struct srv_webhooks *wh = arg;

	event_base_dispatch(wh->base);
	return NULL;
}

/* A group's settings as a CHANGED node (g NULL or without a webhook_url: none); NULL if out of memory. */
static struct srv_webhook_node *srv_webhook_changed_node(const char *name, const Timerd__Group *g)
{
	const char *url = g && g->webhook_url && *g->webhook_url ? g->webhook_url : NULL;
	size_t nl = strlen(name) + 1, ul = url ? strlen(url) + 1 : 0;
	struct srv_webhook_node *n = calloc(1, sizeof(*n) + nl + ul);
	int64_t ack, want;

	if (!n)
		return NULL;
	n->kind = SRV_WEBHOOK_CHANGED;
	memcpy(n->data, name, nl);
	n->name = n->data;
	if (url) {
		memcpy(n->data + nl, url, ul);
		n->conf.url = n->data + nl;
		ack = g->ack_timeout_ns > 0 ? g->ack_timeout_ns : GROUP_DEFAULT_ACK_TIMEOUT_NS;
		want = g->webhook_timeout_ns > 0 ? g->webhook_timeout_ns : ack;
		n->conf.concurrency = g->webhook_concurrency ? g->webhook_concurrency : GROUP_DEFAULT_WEBHOOK_CONCURRENCY;
		/* group_validate keeps want <= ack (and the delivery in flight ack + GROUP_WEBHOOK_SLACK_NS);
		 * the bound holds for a group stored before that check too */
		n->conf.timeout_ns = want < ack ? want : ack;
		n->conf.insecure = g->webhook_insecure;
	}
	return n;
}

/* A group was created, changed or deleted (any thread, no group lock held); arg: the struct srv_webhooks. */
void srv_webhook_changed(void *arg, const char *name, const Timerd__Group *g)
{
	struct srv_webhooks *wh = arg;
	struct srv_webhook_node *n;

	if (!wh)
		return;
	if (!(n = srv_webhook_changed_node(name, g))) {
		log_err("group %s: out of memory: its webhook does not follow the change", name);
		return;
	}
	srv_webhook_post(wh, n);
}

/* Frees what srv_webhook_start made (the thread not running). */
static void srv_webhook_free(struct srv_webhooks *wh)
{
	srv_webhook_list_purge(wh, &wh->inbox, NULL);
	srv_webhook_list_purge(wh, &wh->batch, NULL);
	if (wh->wake)
		event_free(wh->wake);
	if (wh->base)
		event_base_free(wh->base);
	if (wh->efd >= 0)
		close(wh->efd);
	pthread_mutex_destroy(&wh->mu);
	free(wh);
	webhook_global_cleanup();
}

/* Starts the webhook thread; NULL with err. */
struct srv_webhooks *srv_webhook_start(struct group_set *gs, char *err, size_t errlen)
{
	struct srv_webhooks *wh;
	sigset_t block, old;
	int rc;

	if (webhook_global_init(err, errlen) < 0)
		return NULL;
	if (!(wh = calloc(1, sizeof(*wh)))) {
		webhook_global_cleanup();
		td_errf(err, errlen, "out of memory");
		return NULL;
	}
	wh->gs = gs;
	wh->mem = gs->h.mem;
	wh->efd = -1;
	pthread_mutex_init(&wh->mu, NULL);
	if (!(wh->base = event_base_new()) || (wh->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0 ||
	    !(wh->wake = event_new(wh->base, wh->efd, EV_READ | EV_PERSIST, srv_webhook_wake_cb, wh)) ||
	    event_add(wh->wake, NULL) < 0) {
		td_errf(err, errlen, "webhook thread: cannot make its event loop: %s", strerror(errno));
		srv_webhook_free(wh);
		return NULL;
	}
	sigfillset(&block);
	pthread_sigmask(SIG_BLOCK, &block, &old);	/* only the main thread takes signals */
	rc = pthread_create(&wh->thread, NULL, srv_webhook_main, wh);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		td_errf(err, errlen, "cannot start the webhook thread: %s", strerror(rc));
		srv_webhook_free(wh);
		return NULL;
	}
	wh->started = true;
	return wh;
}

/* Stops the thread (each webhook unsubscribed, its deliveries in flight due again) and frees everything. */
void srv_webhook_stop(struct srv_webhooks *wh)
{
	struct srv_webhook_node *n;

	if (!wh)
		return;
	if (wh->started && (n = calloc(1, sizeof(*n))) != NULL) {
		n->kind = SRV_WEBHOOK_STOP;
		srv_webhook_post(wh, n);
		pthread_join(wh->thread, NULL);
	} else if (wh->started) {
		log_err("out of memory stopping the webhook thread: left running");
		return;
	}
	srv_webhook_free(wh);
}
