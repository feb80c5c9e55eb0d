/*
 * http-group.c -- consumer groups over HTTP (doc/http.md, "Consumer
 * groups"): the long poll POST /v1/groups/{g}/next, POST
 * /v1/deliveries/{id}/ack and /nack, the groups themselves (PUT, GET,
 * DELETE /v1/groups/{g}, GET /v1/groups) and their dead letters (GET
 * /v1/groups/{g}/dead-letters, POST .../dead-letters/retry and /purge).
 *
 * Everything goes through rpc_run / rpc_run_consumer (server/rpc.c): the
 * group name checks, credit, nack's retry_after and error checks, the
 * error codes and messages are the RPC's.
 *
 * A long poll is a consumer that is not a connection (group.h's
 * interface): struct http_gpoll, subscribed with credit 1 for the request.
 * Its life, on the loop that took the request (its owner) unless said:
 *
 *	WAITING   subscribed, the request waits (up to ?wait=)
 *	  deliver (any thread, the group lock held): WAITING -> DELIVERED,
 *	    the delivery copied into a message posted to the owner loop
 *	  the wait ends first: WAITING -> CLOSED, unsubscribed, 204
 *	  the client goes first: WAITING -> CLOSED, unsubscribed
 *	DELIVERED the message arrives: 200 with the delivery -> HELD; if the
 *	    client is gone meanwhile, unsubscribed: the delivery is due again
 *	    at once (group_unsubscribe), nothing is lost
 *	HELD      the delivery waits for its ack: the poll stays subscribed
 *	    (group_ack needs the consumer it is in flight to) and is found by
 *	    delivery id in http_gdlv (any loop's ack or nack route); an ack or
 *	    nack settles it and unsubscribes the poll; past the group's ack
 *	    timeout the owner's sweep timer unsubscribes it (the group has
 *	    timed the delivery out already, or does now), unless the group
 *	    extended that timeout meanwhile (the store fails): then the
 *	    sweep waits for the new one
 *
 * Memory: a poll is freed when its last reference goes (the owner's, a
 * posted message's, an ack route's); only the owner touches its libevent
 * objects, and frees them before dropping its reference, so the last
 * reference may go on any loop.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>

#include "engine.h"
#include "proto/units.h"
#include "server/group-srv.h"
#include "server/http-json.h"
#include "server/http.h"
#include "server/log.h"
#include "server/srv.h"

/* Longest ?wait= of a long poll. */
#define HTTP_GROUP_MAX_WAIT_NS (300LL * 1000000000LL)
/* How long after its ack timeout a held delivery's poll is swept. */
#define HTTP_GROUP_SWEEP_SLACK_NS (1000000000LL)

enum { GP_WAITING, GP_DELIVERED, GP_CLOSED, GP_HELD };

struct http_gpoll {
	struct group_consumer c;	/* group.c's view of the poll */
	struct loop *l;			/* the owner */
	_Atomic int state;		/* GP_* */
	_Atomic unsigned refs;
	struct http_req *r;		/* the waiting request; NULL once answered or gone (owner) */
	struct evhttp_connection *evcon;
	struct event *timer;		/* the wait, then the sweep (owner) */
	struct event *close_ev;		/* EV_CLOSED on the connection's socket while the request waits (owner) */
	bool gone;			/* the client closed its end while the request waited (owner) */
	struct http_gpoll *prev, *next;	/* the owner's polls */
	uint64_t id;			/* the delivery it holds (GP_HELD) */
	bool registered;		/* in http_gdlv (under http_gdlv_mu) */
	bool ended;			/* http_gpoll_end ran (owner) */
	_Atomic bool end_posted;	/* endmsg is on its way to the owner */
	struct loop_msg endmsg;		/* an ack or nack on another loop asks the owner to end p now */
};

/* A delivery on its way to the owner loop: the copy deliver made. */
struct http_gmsg {
	struct loop_msg m;
	struct http_gpoll *p;
	Timerd__Fire fire;		/* strings point into buf */
	int64_t ack_by_ns;		/* CLOCK_MONOTONIC */
	char buf[];
};

static const ProtobufCMessage *http_group_body_fire(const Timerd__Response *rs);

/* Held deliveries by id (8 bytes) -> struct http_gpoll, for the ack and nack routes of every loop. */
static pthread_mutex_t http_gdlv_mu = PTHREAD_MUTEX_INITIALIZER;
static struct hmap http_gdlv;
static bool http_gdlv_init;

/* Drops a reference; the last one frees p (its libevent objects are gone by then). */
static void http_gpoll_unref(struct http_gpoll *p)
{
	/* acq_rel: the last dropper sees every other holder's writes before freeing */
	if (atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) == 1)
		free(p);
}

/* Takes p out of http_gdlv if it is there (and not replaced by a newer poll of the same delivery). */
static void http_gdlv_forget(struct http_gpoll *p)
{
	pthread_mutex_lock(&http_gdlv_mu);
	if (p->registered) {
		if (hmap_get(&http_gdlv, (const char *)&p->id, sizeof(p->id)) == p)
			hmap_del(&http_gdlv, (const char *)&p->id, sizeof(p->id));
		p->registered = false;
		http_gpoll_unref(p);	/* the map's reference */
	}
	pthread_mutex_unlock(&http_gdlv_mu);
}

/* Ends p on its owner loop: unsubscribed (a delivery in flight is due again), unlinked, its timer freed. */
static void http_gpoll_end(struct http_gpoll *p, const char *why)
{
	struct http_loop *hl = p->l->http;

	if (p->ended)
		return;
	p->ended = true;
	http_gdlv_forget(p);
	group_unsubscribe(&p->c, why);
	if (p->timer)
		event_free(p->timer);
	p->timer = NULL;
	if (p->close_ev)
		event_free(p->close_ev);
	p->close_ev = NULL;
	if (p->prev)
		p->prev->next = p->next;
	else if (hl && hl->polls == p)
		hl->polls = p->next;
	if (p->next)
		p->next->prev = p->prev;
	p->prev = p->next = NULL;
	http_gpoll_unref(p);	/* the owner's reference */
}

/* The poll's connection closed while its request waited (evhttp detached the request). */
static void http_gpoll_closed(struct evhttp_connection *evcon, void *arg)
{
	struct http_gpoll *p = arg;
	struct http_req *r = p->r;

	if (p->close_ev)
		event_free(p->close_ev);	/* evhttp closes the socket after this callback */
	p->close_ev = NULL;
	http_conn_forget(p->l, evcon);
	p->evcon = NULL;
	p->r = NULL;
	if (r) {
		if (!evhttp_request_get_connection(r->req))
			evhttp_request_free(r->req);	/* detached from the failed connection: ours to free */
		http_req_free(r);
	}
	{
		int want = GP_WAITING;

		/* acq_rel: pairs with deliver's exchange; losing means a delivery is on its way (it ends p) */
		if (atomic_compare_exchange_strong_explicit(&p->state, &want, GP_CLOSED, memory_order_acq_rel,
							    memory_order_acquire))
			http_gpoll_end(p, "HTTP client gone");
	}
}

/* Gives the request back to the connection's usual close callback (before answering it or letting it go). */
static void http_gpoll_detach(struct http_gpoll *p)
{
	if (p->close_ev)
		event_free(p->close_ev);	/* before evhttp may close the socket */
	p->close_ev = NULL;
	if (p->evcon)
		evhttp_connection_set_closecb(p->evcon, http_conn_closed, p->l);
	p->evcon = NULL;
}

/*
 * The client closed its end while the request waited (EPOLLRDHUP): evhttp
 * does not read a connection whose request it has not answered, so it
 * would not notice until the reply. The poll ends now (a delivery on its
 * way goes back: p->gone) and the request is answered with Connection:
 * close, which lets evhttp find the socket closed and free the connection.
 */
static void http_gpoll_rdhup(evutil_socket_t fd, short what, void *arg)
{
	struct http_gpoll *p = arg;
	struct http_req *r = p->r;
	int want = GP_WAITING;

	(void)fd;
	(void)what;
	p->gone = true;
	/* acq_rel: as in http_gpoll_closed */
	if (!atomic_compare_exchange_strong_explicit(&p->state, &want, GP_CLOSED, memory_order_acq_rel,
						     memory_order_acquire)) {
		if (p->close_ev)
			event_del(p->close_ev);	/* level-triggered: once is enough; the message ends p */
		return;
	}
	p->r = NULL;
	http_gpoll_detach(p);
	if (r) {
		evhttp_add_header(evhttp_request_get_output_headers(r->req), "Connection", "close");
		http_reply_buf(r, 204, NULL);
	}
	http_gpoll_end(p, "HTTP client gone");
}

/* The owner's timer: the wait is over (204), or a held delivery's ack timeout has passed (sweep). */
static void http_gpoll_timer(evutil_socket_t fd, short what, void *arg)
{
	struct http_gpoll *p = arg;
	int want = GP_WAITING;

	(void)fd;
	(void)what;
	if (atomic_load_explicit(&p->state, memory_order_acquire) == GP_HELD) {	/* acquire: pairs with the message's store */
		int64_t left = group_ack_by(&p->c, p->id) - engine_now(p->l->srv->engine) + HTTP_GROUP_SWEEP_SLACK_NS;

		if (left > HTTP_GROUP_SWEEP_SLACK_NS) {	/* its ack timeout was extended (the store fails): hold on */
			struct timeval tv = { (time_t)(left / 1000000000), (suseconds_t)(left % 1000000000 / 1000) };

			evtimer_add(p->timer, &tv);
			return;
		}
		http_gpoll_end(p, "ack timeout");
		return;
	}
	/* acq_rel: as in http_gpoll_closed */
	if (!atomic_compare_exchange_strong_explicit(&p->state, &want, GP_CLOSED, memory_order_acq_rel,
						     memory_order_acquire))
		return;	/* DELIVERED: the message answers */
	if (p->r) {
		struct http_req *r = p->r;

		p->r = NULL;
		http_gpoll_detach(p);
		http_reply_buf(r, 204, NULL);
	}
	http_gpoll_end(p, "long poll ended");
}

/* The delivery reached the owner loop: answers the poll with it, or gives it back if the client is gone. */
static void http_gmsg_run(struct loop *l, struct loop_msg *lm)
{
	struct http_gmsg *g = container_of(lm, struct http_gmsg, m);
	struct http_gpoll *p = g->p, *old;
	struct http_req *r = p->r;

	if (!r || l->stopping || p->ended || p->gone) {
		if (r) {	/* stopping, or the client is gone: nobody reads the delivery, it goes back */
			p->r = NULL;
			http_gpoll_detach(p);
			evhttp_add_header(evhttp_request_get_output_headers(r->req), "Connection", "close");
			if (l->stopping)
				http_reply_error(r, TIMERD__ERROR_CODE__SHUTTING_DOWN, "timerd is stopping: poll again "
						 "once it is back");
			else
				http_reply_buf(r, 204, NULL);
		}
		http_gpoll_end(p, l->stopping ? "timerd stopping" : "HTTP client gone");	/* due again at once */
		free(g);
		http_gpoll_unref(p);	/* the message's reference */
		return;
	}
	p->r = NULL;
	p->id = g->fire.delivery_id;
	pthread_mutex_lock(&http_gdlv_mu);
	if (!http_gdlv_init) {
		hmap_init(&http_gdlv);
		http_gdlv_init = true;
	}
	old = hmap_get(&http_gdlv, (const char *)&p->id, sizeof(p->id));
	if (hmap_put(&http_gdlv, (const char *)&p->id, sizeof(p->id), p) == 0) {
		p->registered = true;
		atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);	/* relaxed: we hold one already */
		if (old && old != p) {	/* the group timed old's hold out and gave the delivery to p: acks are p's now */
			old->registered = false;
			http_gpoll_unref(old);	/* the map's reference (its owner still holds one) */
		}
	}
	pthread_mutex_unlock(&http_gdlv_mu);
	atomic_store_explicit(&p->state, GP_HELD, memory_order_release);	/* release: the id and map entry before it */
	http_gpoll_detach(p);
	if (p->timer) {
		int64_t left = g->ack_by_ns - engine_now(l->srv->engine) + HTTP_GROUP_SWEEP_SLACK_NS;	/* the group's clock */
		struct timeval tv = { (time_t)(left / 1000000000), (suseconds_t)(left % 1000000000 / 1000) };

		if (left < 0)
			tv = (struct timeval){ 0, 0 };
		evtimer_add(p->timer, &tv);
	}
	if (!p->registered) {
		http_reply_error(r, TIMERD__ERROR_CODE__NO_MEMORY, "timerd is out of memory: the delivery goes to the "
				 "next consumer; retry");
		http_gpoll_end(p, "out of memory");
	} else {
		Timerd__Response rs = TIMERD__RESPONSE__INIT;

		rs.body_case = TIMERD__RESPONSE__BODY_FIRE;
		rs.fire = &g->fire;
		http_answer_rpc(r, &rs, 0, 200, http_group_body_fire);
	}
	free(g);
	http_gpoll_unref(p);	/* the message's reference */
}

/* endmsg on the owner loop: ends a poll whose delivery was settled on some loop. */
static void http_gpoll_end_msg(struct loop *l, struct loop_msg *m)
{
	struct http_gpoll *p = container_of(m, struct http_gpoll, endmsg);

	(void)l;
	http_gpoll_end(p, "settled");
	http_gpoll_unref(p);	/* the message's reference */
}

/* Asks the owner loop to end p (any thread; once). */
static void http_gpoll_post_end(struct http_gpoll *p)
{
	/* relaxed: the exchange only picks who posts; loop_post (release) publishes */
	if (atomic_exchange_explicit(&p->end_posted, true, memory_order_relaxed))
		return;
	atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);	/* relaxed: the caller holds one */
	p->endmsg.type = LOOP_MSG_CALL;
	p->endmsg.call = http_gpoll_end_msg;
	loop_post(p->l, &p->endmsg);	/* its timer and list are the owner's */
}

/* Copies n bytes to *at as a NUL-terminated string; returns it. */
static char *http_gcopy(char **at, const void *src, size_t n)
{
	char *d = *at;

	if (n)
		memcpy(d, src, n);
	d[n] = '\0';
	*at += n + 1;
	return d;
}

/* group.h's deliver (any thread, the group lock held): takes d if the poll still waits and posts it to the owner. */
static int http_gpoll_deliver(struct group_consumer *gc, const struct group_delivery *d)
{
	struct http_gpoll *p = gc->arg;
	struct srv *s = p->l->srv;
	size_t glen = strlen(d->group);
	struct http_gmsg *g;
	int want = GP_WAITING;
	int64_t m2u;
	char *at;

	int now = atomic_load_explicit(&p->state, memory_order_acquire);	/* acquire: a cheap pre-check */

	if (now == GP_HELD) {
		/* credit 1: a hand-out means the held delivery is no longer in flight here (timed out): end p now */
		http_gpoll_post_end(p);
		return -1;
	}
	if (now != GP_WAITING)
		return -1;
	if (!(g = calloc(1, sizeof(*g) + d->keylen + d->topiclen + d->payloadlen + glen + 4)))
		return -1;
	/* acq_rel: pairs with the owner's WAITING -> CLOSED; only one side wins */
	if (!atomic_compare_exchange_strong_explicit(&p->state, &want, GP_DELIVERED, memory_order_acq_rel,
						     memory_order_acquire)) {
		free(g);
		return -1;
	}
	at = g->buf;
	timerd__fire__init(&g->fire);
	g->fire.timer_id = d->timer_id;
	g->fire.key = http_gcopy(&at, d->key, d->keylen);
	g->fire.topic = http_gcopy(&at, d->topic, d->topiclen);
	g->fire.payload.data = (uint8_t *)http_gcopy(&at, d->payload, d->payloadlen);
	g->fire.payload.len = d->payloadlen;
	g->fire.group = http_gcopy(&at, d->group, glen);
	g->fire.deadline_unix_ns = d->deadline_unix_ns;
	m2u = group_srv_mono_to_unix(s, d);
	g->fire.deadline_mono_ns = d->deadline_unix_ns - m2u;
	g->fire.fired_mono_ns = d->fired_unix_ns - m2u;
	g->fire.period_ns = d->period_ns;
	g->fire.seq = d->seq;
	g->fire.final = d->final;
	g->fire.delivery_id = d->id;
	g->fire.attempt = d->attempt;
	g->ack_by_ns = d->ack_by_ns;
	g->p = p;
	g->m.type = LOOP_MSG_CALL;
	g->m.call = http_gmsg_run;
	atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);	/* relaxed: the owner holds one until the message runs */
	loop_post(p->l, &g->m);
	return 0;
}

static const struct group_consumer_ops http_gpoll_ops = { .deliver = http_gpoll_deliver };

/* The Fire of a delivery as the reply body. */
static const ProtobufCMessage *http_group_body_fire(const Timerd__Response *rs)
{
	return &rs->fire->base;
}

/* What http_group_next's rpc_run hands back. */
struct http_gnext {
	struct http_gpoll *p;
	int64_t wait_ns;
};

/* The Subscribe's answer: an error ends the poll; else it waits (the delivery may be on its way already). */
static void http_group_next_done(void *arg, const Timerd__Response *rs, uint64_t hold)
{
	struct http_gnext *n = arg;
	struct http_gpoll *p = n->p;
	struct http_loop *hl = p->l->http;
	struct timeval tv = { (time_t)(n->wait_ns / 1000000000), (suseconds_t)(n->wait_ns % 1000000000 / 1000) };

	if (rs->body_case == TIMERD__RESPONSE__BODY_ERROR) {
		struct http_req *r = p->r;

		p->r = NULL;
		http_answer_rpc(r, rs, hold, 200, http_group_body_fire);
		event_free(p->timer);
		http_gpoll_unref(p);	/* never subscribed, never shared */
		return;
	}
	p->next = hl->polls;
	if (p->next)
		p->next->prev = p;
	hl->polls = p;
	p->evcon = evhttp_request_get_connection(p->r->req);
	if (p->evcon) {
		struct bufferevent *bev = evhttp_connection_get_bufferevent(p->evcon);
		evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;

		evhttp_connection_set_closecb(p->evcon, http_gpoll_closed, p);
		/* without EV_CLOSED (not epoll) a gone client is noticed at the reply; the ack timeout covers it */
		if (fd >= 0 && (event_base_get_features(p->l->base) & EV_FEATURE_EARLY_CLOSE) &&
		    (p->close_ev = event_new(p->l->base, fd, EV_CLOSED, http_gpoll_rdhup, p)) != NULL)
			event_add(p->close_ev, NULL);
	}
	evtimer_add(p->timer, &tv);
}

/* POST /v1/groups/{g}/next?wait=30s: one delivery, or 204 after the wait. */
static void http_group_next(struct http_req *r)
{
	Timerd__Request rq = TIMERD__REQUEST__INIT;
	Timerd__Subscribe m = TIMERD__SUBSCRIBE__INIT;
	const char *w = http_query(r, "wait");
	struct http_gnext n = { 0 };
	struct http_gpoll *p;
	char err[256];

	if (r->l->stopping) {
		http_reply_error(r, TIMERD__ERROR_CODE__SHUTTING_DOWN, "timerd is stopping: poll again once it is back");
		return;
	}
	if (w && (units_duration_parse(w, &n.wait_ns, err, sizeof(err)) < 0 || n.wait_ns < 0 ||
		  n.wait_ns > HTTP_GROUP_MAX_WAIT_NS)) {
		http_reply_error(r, TIMERD__ERROR_CODE__INVALID, "wait '%.32s' is not a duration from 0 to 5m (e.g. "
				 "?wait=30s)", w);
		return;
	}
	if (!(p = calloc(1, sizeof(*p))) || !(p->timer = evtimer_new(r->l->base, http_gpoll_timer, p))) {
		free(p);
		http_reply_error(r, TIMERD__ERROR_CODE__NO_MEMORY, "timerd is out of memory: retry");
		return;
	}
	p->c.ops = &http_gpoll_ops;
	p->c.arg = p;
	p->l = r->l;
	p->r = r;
	atomic_init(&p->state, GP_WAITING);
	atomic_init(&p->refs, 1);
	n.p = p;
	m.group = r->arg[0];
	m.credit = 1;
	rq.body_case = TIMERD__REQUEST__BODY_SUBSCRIBE;
	rq.subscribe = &m;
	rpc_run_consumer(r->l, NULL, r->ident, &p->c, &rq, http_group_next_done, &n);
}

/* AckReply / NackReply: {}. */
static const ProtobufCMessage *http_group_body_settle(const Timerd__Response *rs)
{
	return rs->body_case == TIMERD__RESPONSE__BODY_ACK ? &rs->ack->base : &rs->nack->base;
}

/* What an ack or nack route's rpc_run hands back. */
struct http_gsettle {
	struct http_req *r;
	struct http_gpoll *p;		/* the poll holding the delivery, or NULL */
};

/* The Ack's or Nack's answer: settled (or no longer in flight) ends the poll's hold. */
static void http_group_settle_done(void *arg, const Timerd__Response *rs, uint64_t hold)
{
	struct http_gsettle *st = arg;

	if (st->p && (rs->body_case != TIMERD__RESPONSE__BODY_ERROR ||
		      rs->error->code == TIMERD__ERROR_CODE__NOT_FOUND)) {
		http_gdlv_forget(st->p);
		group_unsubscribe(&st->p->c, "settled");	/* nothing in flight: no delivery goes back */
		http_gpoll_post_end(st->p);
	}
	http_answer_rpc(st->r, rs, hold, 200, http_group_body_settle);
}

/* A consumer that holds nothing: Ack and Nack of an unknown id answer the RPC's NOT_FOUND. */
static struct group_consumer http_gnobody;

/* POST /v1/deliveries/{id}/ack and /nack: through the RPC's Ack and Nack with the poll that holds it. */
static void http_group_settle(struct http_req *r, const Timerd__Request *rq, uint64_t id)
{
	struct http_gsettle st = { .r = r };

	pthread_mutex_lock(&http_gdlv_mu);
	if (http_gdlv_init && (st.p = hmap_get(&http_gdlv, (const char *)&id, sizeof(id))) != NULL)
		atomic_fetch_add_explicit(&st.p->refs, 1, memory_order_relaxed);	/* relaxed: the map holds one */
	pthread_mutex_unlock(&http_gdlv_mu);
	rpc_run_consumer(r->l, NULL, r->ident, st.p ? &st.p->c : &http_gnobody, rq, http_group_settle_done, &st);
	if (st.p)
		http_gpoll_unref(st.p);
}

/* The {id} of /v1/deliveries/{id}/...; false after answering 400. */
static bool http_group_id(struct http_req *r, uint64_t *id)
{
	char *end;

	*id = strtoull(r->arg[0], &end, 10);
	if (!*r->arg[0] || *r->arg[0] < '0' || *r->arg[0] > '9' || *end || !*id) {
		http_reply_error(r, TIMERD__ERROR_CODE__INVALID, "'%.64s' is not a delivery id: give the delivery_id "
				 "POST /v1/groups/{group}/next returned", r->arg[0]);
		return false;
	}
	return true;
}

/* POST /v1/deliveries/{id}/ack. */
static void http_group_ack(struct http_req *r)
{
	Timerd__Request rq = TIMERD__REQUEST__INIT;
	Timerd__Ack m = TIMERD__ACK__INIT;

	if (!http_group_id(r, &m.delivery_id))
		return;
	rq.body_case = TIMERD__REQUEST__BODY_ACK;
	rq.ack = &m;
	http_group_settle(r, &rq, m.delivery_id);
}

/* POST /v1/deliveries/{id}/nack, body {"retry_after": "5s", "error": "why"} (both optional). */
static void http_group_nack(struct http_req *r)
{
	Timerd__Request rq = TIMERD__REQUEST__INIT;
	Timerd__Nack m = TIMERD__NACK__INIT;
	struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
	size_t len = evbuffer_get_length(in);
	char err[512];
	int rc;

	if (!http_group_id(r, &m.delivery_id))
		return;
	if (len && (rc = httpj_nack_decode((const char *)evbuffer_pullup(in, (ev_ssize_t)len), len, &r->l->arena, &m,
					   err, sizeof(err))) < 0) {
		http_reply_error(r, (Timerd__ErrorCode)-rc, "%s", err);
		return;
	}
	rq.body_case = TIMERD__REQUEST__BODY_NACK;
	rq.nack = &m;
	http_group_settle(r, &rq, m.delivery_id);
}

/* GroupCreateReply: {"created": ...}; 201 if it was created. */
static const ProtobufCMessage *http_group_body_create(const Timerd__Response *rs)
{
	return &rs->group_create->base;
}

/* PUT's answer: 201 created, 200 changed or unchanged. */
static void http_group_put_done(void *arg, const Timerd__Response *rs, uint64_t hold)
{
	bool created = rs->body_case == TIMERD__RESPONSE__BODY_GROUP_CREATE && rs->group_create->created;

	http_answer_rpc(arg, rs, hold, created ? 201 : 200, http_group_body_create);
}

/*
 * PUT /v1/groups/{g}: create the group, or change its settings (GroupCreate
 * with update); with If-None-Match: * only create it (update false), so a
 * group there with other settings answers 409 CONFLICT.
 */
static void http_group_put(struct http_req *r)
{
	Timerd__Request rq = TIMERD__REQUEST__INIT;
	Timerd__GroupCreate m = TIMERD__GROUP_CREATE__INIT;
	Timerd__Group g = TIMERD__GROUP__INIT;
	struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
	size_t len = evbuffer_get_length(in);
	const char *body = len ? (const char *)evbuffer_pullup(in, (ev_ssize_t)len) : "{}";
	const char *inm = evhttp_find_header(evhttp_request_get_input_headers(r->req), "If-None-Match");
	char err[512];
	int rc;

	if ((rc = httpj_group_decode(body, len ? len : 2, &r->l->arena, &g, err, sizeof(err))) < 0) {
		http_reply_error(r, (Timerd__ErrorCode)-rc, "%s", err);
		return;
	}
	g.name = r->arg[0];
	m.group = &g;
	/* PUT states what the group is: a change of settings is not a conflict, unless the client asked create-only */
	m.update = !(inm && !strcmp(inm, "*"));
	rq.body_case = TIMERD__REQUEST__BODY_GROUP_CREATE;
	rq.group_create = &m;
	rpc_run_as(r->l, NULL, r->ident, &rq, http_group_put_done, r);
}

/* GroupListReply: {"groups": [...]}. */
static const ProtobufCMessage *http_group_body_list(const Timerd__Response *rs)
{
	return &rs->group_list->base;
}

/* One GroupInfo (GET /v1/groups/{g}). */
static const ProtobufCMessage *http_group_body_one(const Timerd__Response *rs)
{
	return &rs->group_list->groups[0]->base;
}

/* GET /v1/groups/{g}'s answer: the group's GroupInfo. */
static void http_group_get_done(void *arg, const Timerd__Response *rs, uint64_t hold)
{
	if (rs->body_case == TIMERD__RESPONSE__BODY_GROUP_LIST && !rs->group_list->n_groups) {
		http_reply_error(arg, TIMERD__ERROR_CODE__NOT_FOUND, "no such group");	/* deleted meanwhile */
		return;
	}
	http_answer_rpc(arg, rs, hold, 200, http_group_body_one);
}

/* GET /v1/groups/{g}, or GET /v1/groups (name NULL): settings and counters. */
static void http_group_list_by(struct http_req *r, const char *name)
{
	Timerd__Request rq = TIMERD__REQUEST__INIT;
	Timerd__GroupList m = TIMERD__GROUP_LIST__INIT;

	m.name = (char *)(name ? name : "");
	rq.body_case = TIMERD__REQUEST__BODY_GROUP_LIST;
	rq.group_list = &m;
	if (name)
		rpc_run_as(r->l, NULL, r->ident, &rq, http_group_get_done, r);
	else
		http_call_rpc(r, &rq, 200, http_group_body_list);
}

/* GET /v1/groups. */
static void http_group_list(struct http_req *r)
{
	http_group_list_by(r, NULL);
}

/* GET /v1/groups/{g}. */
static void http_group_get(struct http_req *r)
{
	if (!*r->arg[0]) {
		http_reply_error(r, TIMERD__ERROR_CODE__INVALID, "the group name is empty: GET /v1/groups/{group}");
		return;
	}
	http_group_list_by(r, r->arg[0]);
}

/* GroupDeleteReply: {}. */
static const ProtobufCMessage *http_group_body_delete(const Timerd__Response *rs)
{
	return &rs->group_delete->base;
}

/* DELETE /v1/groups/{g}: the group with its deliveries and dead letters. */
static void http_group_delete(struct http_req *r)
{
	Timerd__Request rq = TIMERD__REQUEST__INIT;
	Timerd__GroupDelete m = TIMERD__GROUP_DELETE__INIT;

	m.name = r->arg[0];
	rq.body_case = TIMERD__REQUEST__BODY_GROUP_DELETE;
	rq.group_delete = &m;
	http_call_rpc(r, &rq, 200, http_group_body_delete);
}

/*
 * Query parameter name of r as a decimal number up to max (absent: *v 0);
 * false after answering 400 with what to give (hint).
 */
static bool http_group_qnum(struct http_req *r, const char *name, uint64_t max, uint64_t *v, const char *hint)
{
	const char *s = http_query(r, name);
	char *end;

	*v = 0;
	if (!s)
		return true;
	errno = 0;
	if (*s >= '0' && *s <= '9')
		*v = strtoull(s, &end, 10);
	if (*s < '0' || *s > '9' || errno || *end || *v > max) {
		http_reply_error(r, TIMERD__ERROR_CODE__INVALID, "%s '%.32s' is not a number: %s", name, s, hint);
		return false;
	}
	return true;
}

/* DlqListReply: {"letters": [...], "next_cursor": N}. */
static const ProtobufCMessage *http_group_body_dlq_list(const Timerd__Response *rs)
{
	return &rs->dlq_list->base;
}

/* GET /v1/groups/{g}/dead-letters?key=&cursor=&limit=&payload=1: one page (the RPC's DlqList). */
static void http_group_dlq_list(struct http_req *r)
{
	Timerd__Request rq = TIMERD__REQUEST__INIT;
	Timerd__DlqList m = TIMERD__DLQ_LIST__INIT;
	const char *key = http_query(r, "key"), *payload = http_query(r, "payload");
	uint64_t limit;

	if (!http_group_qnum(r, "cursor", UINT64_MAX, &m.cursor, "give 0 or the next_cursor of the previous page") ||
	    !http_group_qnum(r, "limit", UINT32_MAX, &limit, "give a number of dead letters (0: the default page)"))
		return;
	m.group = r->arg[0];
	m.key = (char *)(key ? key : "");
	m.limit = (uint32_t)limit;
	m.with_payload = payload && (!strcmp(payload, "1") || !strcmp(payload, "true"));
	rq.body_case = TIMERD__REQUEST__BODY_DLQ_LIST;
	rq.dlq_list = &m;
	http_call_rpc(r, &rq, 200, http_group_body_dlq_list);
}

/* DlqRetryReply or DlqPurgeReply: {"count": N}. */
static const ProtobufCMessage *http_group_body_dlq_apply(const Timerd__Response *rs)
{
	return rs->body_case == TIMERD__RESPONSE__BODY_DLQ_RETRY ? &rs->dlq_retry->base : &rs->dlq_purge->base;
}

/* POST /v1/groups/{g}/dead-letters/retry or /purge?key=&id= (neither: every dead letter of the group). */
static void http_group_dlq_apply(struct http_req *r, bool purge)
{
	Timerd__Request rq = TIMERD__REQUEST__INIT;
	Timerd__DlqRetry rm = TIMERD__DLQ_RETRY__INIT;
	Timerd__DlqPurge pm = TIMERD__DLQ_PURGE__INIT;
	const char *key = http_query(r, "key");
	uint64_t id;

	if (!http_group_qnum(r, "id", UINT64_MAX, &id, "give a dead letter's delivery_id (GET .../dead-letters)"))
		return;
	if (purge) {
		pm.group = r->arg[0];
		pm.key = (char *)(key ? key : "");
		pm.delivery_id = id;
		rq.body_case = TIMERD__REQUEST__BODY_DLQ_PURGE;
		rq.dlq_purge = &pm;
	} else {
		rm.group = r->arg[0];
		rm.key = (char *)(key ? key : "");
		rm.delivery_id = id;
		rq.body_case = TIMERD__REQUEST__BODY_DLQ_RETRY;
		rq.dlq_retry = &rm;
	}
	http_call_rpc(r, &rq, 200, http_group_body_dlq_apply);
}

/* POST /v1/groups/{g}/dead-letters/retry: delivered again, attempts reset. */
static void http_group_dlq_retry(struct http_req *r)
{
	http_group_dlq_apply(r, false);
}

/* POST /v1/groups/{g}/dead-letters/purge: deleted. */
static void http_group_dlq_purge(struct http_req *r)
{
	http_group_dlq_apply(r, true);
}

void http_group_register(void)
{
	http_route_add(EVHTTP_REQ_PUT, "/v1/groups/{group}", http_group_put);
	http_route_add(EVHTTP_REQ_GET, "/v1/groups/{group}", http_group_get);
	http_route_add(EVHTTP_REQ_DELETE, "/v1/groups/{group}", http_group_delete);
	http_route_add(EVHTTP_REQ_GET, "/v1/groups", http_group_list);
	http_route_add(EVHTTP_REQ_POST, "/v1/groups/{group}/next", http_group_next);
	http_route_add(EVHTTP_REQ_POST, "/v1/deliveries/{id}/ack", http_group_ack);
	http_route_add(EVHTTP_REQ_POST, "/v1/deliveries/{id}/nack", http_group_nack);
	http_route_add(EVHTTP_REQ_GET, "/v1/groups/{group}/dead-letters", http_group_dlq_list);
	http_route_add(EVHTTP_REQ_POST, "/v1/groups/{group}/dead-letters/retry", http_group_dlq_retry);
	http_route_add(EVHTTP_REQ_POST, "/v1/groups/{group}/dead-letters/purge", http_group_dlq_purge);
}

void http_group_loop_stop(struct loop *l)
{
	if (l->http)
		http_group_loop_free(l);	/* while the engine (the groups' clock) is there */
}

void http_group_loop_free(struct loop *l)
{
	struct http_loop *hl = l->http;

	while (hl->polls) {
		struct http_gpoll *p = hl->polls;
		struct http_req *r = p->r;
		int want = GP_WAITING;

		/* acq_rel: as in http_gpoll_closed (no hand-out happens any more: group_srv_quiesce ran) */
		atomic_compare_exchange_strong_explicit(&p->state, &want, GP_CLOSED, memory_order_acq_rel,
							memory_order_acquire);
		p->r = NULL;
		http_gpoll_detach(p);
		if (r)
			http_reply_error(r, TIMERD__ERROR_CODE__SHUTTING_DOWN, "timerd is stopping: poll again once it "
					 "is back");
		/* a delivery still on its way to this loop finds p ended (its message runs in loop_drain, before) */
		http_gpoll_end(p, "timerd stopping");
	}
}
