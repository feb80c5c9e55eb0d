/*
 * http-watch.c -- GET /v1/watch?topic=A&topic=B: fires as Server-Sent
 * Events (text/event-stream), one per fire:
 *
 *	event: fire
 *	data: {"timer_id":42,"key":"job-7","topic":"jobs","payload":"hi",...}
 *
 * A stream is a struct conn without a socket of its own (c->sse set), so
 * watch.c registers it and fire.c delivers to it exactly as to an RPC
 * watcher; conn_push_event hands its fires here. The Watch requests go
 * through rpc_run: the topic checks and max-watches are the RPC's.
 *
 * Backpressure: once more than max-output bytes wait unsent to a stream's
 * reader, it gets one last event saying why and the stream ends:
 *
 *	event: dropped
 *	data: {"error":{"code":"TOO_MANY_INFLIGHT","message":"..."}}
 *
 * so its memory is bounded by max-output plus that event; a reader that
 * reads nothing at all is closed by http-timeout (evhttp's write timeout).
 *
 * With a users file, a stream keeps the identity its request was
 * authenticated as; a reload that removes or changes that identity ends it
 * as it closes that identity's RPC connections (auth_loop_users, counted
 * in ident_closes), with the RPC's words:
 *
 *	event: closed
 *	data: {"error":{"code":"UNAUTHENTICATED","message":"identity alice was removed by a users-file reload: ..."}}
 *
 * A comment line every HTTP_SSE_KEEPALIVE_S keeps idle streams alive and
 * notices readers that went away.
 *
 * Lifetime: a stream is freed in one place, http_sse_free, from its close
 * event (never from inside fire delivery, which iterates watch lists) or
 * from its connection's close callback.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "server/auth.h"
#include "server/http-json.h"
#include "server/http.h"
#include "server/ident.h"
#include "server/log.h"
#include "server/srv.h"

/* Seconds between keep-alive comments on a stream. */
#define HTTP_SSE_KEEPALIVE_S 15

struct http_sse {
	struct conn c;			/* what watch.c and fire.c see; c.sse points back here */
	struct evhttp_request *req;
	struct evhttp_connection *evcon;
	struct event *close_ev;		/* ends the stream outside fire delivery */
	struct http_sse *prev, *next;	/* the loop's streams */
	const struct ident *ident;	/* with a users file: the identity the request was authenticated as (else NULL) */
	bool ending;			/* set once the stream is ending: the last event is why_event, why_code, why */
	const char *why_event;
	Timerd__ErrorCode why_code;
	char why[512];
	int watch_err;			/* the first Watch's error code (0: none) */
	char watch_msg[512];
};

/* The bytes waiting unsent to the stream's reader. */
static size_t http_sse_unsent(const struct http_sse *x)
{
	struct bufferevent *bev = x->evcon ? evhttp_connection_get_bufferevent(x->evcon) : NULL;

	return bev ? evbuffer_get_length(bufferevent_get_output(bev)) : 0;
}

/* Writes text as one chunk of the stream. */
static void http_sse_write(struct http_sse *x, const char *p, size_t n)
{
	struct evbuffer *b = evbuffer_new();

	if (!b)
		return;
	if (evbuffer_add(b, p, n) == 0)
		evhttp_send_reply_chunk(x->req, b);
	evbuffer_free(b);
}

/* Unlinks x from its loop, drops its watches and frees it; the request is evhttp's again. */
static void http_sse_free(struct http_sse *x)
{
	struct http_loop *hl = x->c.loop->http;

	if (x->prev)
		x->prev->next = x->next;
	else if (hl->streams == x)
		hl->streams = x->next;
	if (x->next)
		x->next->prev = x->prev;
	x->c.state = CONN_DEAD;		/* no transition table: a stream never enters the RPC's states */
	watch_drop_all(&x->c);
	if (x->close_ev)
		event_free(x->close_ev);
	free(x->c.watches);
	free(x);
}

/* The stream's connection closed (the reader went away, or a timeout): evhttp detached the request. */
static void http_sse_closed(struct evhttp_connection *evcon, void *arg)
{
	struct http_sse *x = arg;
	struct loop *l = x->c.loop;

	http_conn_forget(l, evcon);
	x->evcon = NULL;
	evhttp_send_reply_end(x->req);	/* frees the detached request */
	http_sse_free(x);
}

/* The close event: sends the last event, ends the reply (the connection closes once it is flushed). */
static void http_sse_close_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_sse *x = arg;
	struct loop *l = x->c.loop;
	json_t *j = json_pack("{s:{s:s,s:s}}", "error", "code", http_code_name(x->why_code), "message", x->why);
	char *js = j ? json_dumps(j, JSON_COMPACT) : NULL;
	char buf[1024];
	int n;

	(void)fd;
	(void)what;
	json_decref(j);
	n = snprintf(buf, sizeof(buf), "event: %s\ndata: %s\n\n", x->why_event, js ? js : "{}");
	free(js);
	if (n > 0)
		http_sse_write(x, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
	if (x->evcon)
		evhttp_connection_set_closecb(x->evcon, http_conn_closed, l);
	evhttp_send_reply_end(x->req);
	http_sse_free(x);
}

/* Starts ending x with a last event (name ev, error code, why); may run in fire delivery, so it changes no watch list. */
static void http_sse_end(struct http_sse *x, const char *ev, Timerd__ErrorCode code, const char *why)
{
	if (x->ending)
		return;
	x->ending = true;	/* http_sse_push ignores x from now on; its watches go in the close event */
	x->why_event = ev;
	x->why_code = code;
	snprintf(x->why, sizeof(x->why), "%s", why);
	event_active(x->close_ev, EV_TIMEOUT, 0);
}

/* The current fire of loop l as an SSE event (encoded once per fire for all of l's streams); NULL if it cannot be. */
static const char *http_sse_text(struct loop *l, const uint8_t *frame, size_t len, size_t *n)
{
	struct http_loop *hl = l->http;
	Timerd__Response *rs;
	char *js = NULL;
	json_t *j;

	if (hl->sse_text && hl->sse_stamp == l->stamp) {
		*n = hl->sse_len;
		return hl->sse_text;
	}
	free(hl->sse_text);
	hl->sse_text = NULL;
	if (len < 4 || !(rs = timerd__response__unpack(NULL, len - 4, frame + 4)))
		return NULL;
	if (rs->body_case == TIMERD__RESPONSE__BODY_FIRE && (j = httpj_from_msg(&rs->fire->base)) != NULL) {
		js = json_dumps(j, JSON_COMPACT);
		json_decref(j);
	}
	timerd__response__free_unpacked(rs, NULL);
	if (!js)
		return NULL;
	hl->sse_len = strlen(js) + sizeof("event: fire\ndata: \n\n") - 1;
	if ((hl->sse_text = malloc(hl->sse_len + 1)) != NULL)
		snprintf(hl->sse_text, hl->sse_len + 1, "event: fire\ndata: %s\n\n", js);
	free(js);
	hl->sse_stamp = l->stamp;
	*n = hl->sse_len;
	return hl->sse_text;
}

void http_sse_push(struct conn *c, const uint8_t *frame, size_t len)
{
	struct http_sse *x = c->sse;
	const char *text;
	size_t n;

	if (x->ending || !x->evcon)
		return;
	if (http_sse_unsent(x) > c->loop->srv->cfg->max_output) {
		ctr_add(&c->loop->ctr.fires_dropped, 1);
		http_sse_end(x, "dropped", TIMERD__ERROR_CODE__TOO_MANY_INFLIGHT,
			     "this reader fell more than max-output bytes behind the fires: it was dropped; "
			     "read faster, or watch fewer topics, and reconnect");
		return;
	}
	if (!(text = http_sse_text(c->loop, frame, len, &n))) {
		ctr_add(&c->loop->ctr.fires_dropped, 1);
		return;
	}
	http_sse_write(x, text, n);
	ctr_add(&c->loop->ctr.fires_sent, 1);
	ctr_add(&c->loop->ctr.bytes_out, n);
}

/* Writes a comment to every stream of the loop. */
static void http_sse_keepalive(evutil_socket_t fd, short what, void *arg)
{
	struct loop *l = arg;

	(void)fd;
	(void)what;
	for (struct http_sse *x = l->http->streams; x; x = x->next)
		if (!x->ending && x->evcon)
			http_sse_write(x, ":\n\n", 3);
}

/* rpc_run's callback for each Watch: keeps the first error. */
static void http_watch_done(void *arg, const Timerd__Response *rs, uint64_t hold)
{
	struct http_sse *x = arg;

	(void)hold;
	if (rs->body_case == TIMERD__RESPONSE__BODY_ERROR && !x->watch_err) {
		x->watch_err = rs->error->code ? (int)rs->error->code : TIMERD__ERROR_CODE__SYSTEM;
		snprintf(x->watch_msg, sizeof(x->watch_msg), "%s", rs->error->message);
	}
}

/* Runs one Watch (topic NULL: every topic) for x through rpc.c. */
static void http_watch_one(struct http_sse *x, const char *topic)
{
	Timerd__Request rq = TIMERD__REQUEST__INIT;
	Timerd__Watch w = TIMERD__WATCH__INIT;

	w.topic = (char *)(topic ? topic : "");
	w.all = !topic;
	rq.body_case = TIMERD__REQUEST__BODY_WATCH;
	rq.watch = &w;
	rpc_run(x->c.loop, &x->c, &rq, http_watch_done, x);
}

/* Makes sure the loop's keep-alive timer runs; 0 or -1. */
static int http_sse_keepalive_start(struct loop *l)
{
	struct http_loop *hl = l->http;
	struct timeval tv = { HTTP_SSE_KEEPALIVE_S, 0 };

	if (hl->keepalive)
		return 0;
	if (!(hl->keepalive = event_new(l->base, -1, EV_PERSIST, http_sse_keepalive, l)))
		return -1;
	return event_add(hl->keepalive, &tv);
}

/* The identity stream c was authenticated as (fire.c's owner check on each fire). */
const struct ident *http_watch_ident(const struct conn *c)
{
	return c->sse->ident;
}

void http_watch(struct http_req *r)
{
	struct http_sse *x = calloc(1, sizeof(*x));
	struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
	struct loop *l = r->l;
	bool any = false;

	if (!x || !(x->close_ev = event_new(l->base, -1, 0, http_sse_close_cb, x)) || http_sse_keepalive_start(l) < 0) {
		free(x);
		http_reply_error(r, TIMERD__ERROR_CODE__NO_MEMORY, "timerd is out of memory: retry");
		return;
	}
	x->c.loop = l;
	x->c.sse = x;
	x->c.state = CONN_OPEN;
	x->req = r->req;
	x->evcon = evhttp_request_get_connection(r->req);
	snprintf(x->c.peer, sizeof(x->c.peer), "HTTP watch");
	x->c.ident = r->ident;	/* for the Watch checks only: fire delivery checks x->ident (http_watch_ident) */
	x->ident = r->ident;	/* what a users-file reload checks (http_watch_users) */
	for (struct evkeyval *kv = r->query.tqh_first; kv && !x->watch_err; kv = kv->next.tqe_next)
		if (!strcmp(kv->key, "topic")) {
			http_watch_one(x, kv->value);
			any = true;
		}
	if (!any)
		http_watch_one(x, NULL);
	x->c.ident = NULL;
	if (x->watch_err || !x->evcon) {
		Timerd__ErrorCode code = x->watch_err ? (Timerd__ErrorCode)x->watch_err : TIMERD__ERROR_CODE__SYSTEM;

		http_reply_error(r, code, "%s", x->watch_err ? x->watch_msg : "the connection is gone");
		http_sse_free(x);
		return;
	}
	x->next = l->http->streams;
	if (x->next)
		x->next->prev = x;
	l->http->streams = x;
	evhttp_add_header(h, "Content-Type", "text/event-stream");
	evhttp_add_header(h, "Cache-Control", "no-cache");
	evhttp_add_header(h, "Connection", "close");	/* the stream is the connection's last reply */
	evhttp_connection_set_closecb(x->evcon, http_sse_closed, x);
	evhttp_send_reply_start(r->req, 200, "OK");
	http_sse_write(x, ": watching\n\n", 12);
	http_req_free(r);	/* the stream keeps the request */
}

void http_watch_free(struct loop *l)
{
	struct http_loop *hl = l->http;

	while (hl->streams) {
		struct http_sse *x = hl->streams;

		if (x->evcon)
			evhttp_connection_set_closecb(x->evcon, http_conn_closed, l);
		evhttp_send_reply_end(x->req);
		http_sse_free(x);
	}
	if (hl->keepalive)
		event_free(hl->keepalive);
	hl->keepalive = NULL;
	free(hl->sse_text);
	hl->sse_text = NULL;
}

/* A users-file reload: rebinds each stream's identity to t's entry, or ends the stream (removed or changed). */
void http_watch_users(struct loop *l, const struct ident_table *old, const struct ident_table *t)
{
	for (struct http_sse *x = l->http->streams; x; x = x->next) {
		const struct ident *n;
		char why[512];
		bool changed;

		if (!x->ident)
			continue;
		if (x->ending) {	/* already on its way out: just let go of old's entry */
			x->ident = NULL;
			continue;
		}
		if ((n = auth_rebind(old, t, x->ident, &changed)) != NULL) {
			x->ident = n;
			continue;
		}
		ctr_add(&l->ctr.ident_closes, 1);
		log_notice("HTTP watch stream closed: its identity %s was %s by a users-file reload", x->ident->name,
			   changed ? "changed" : "removed");
		snprintf(why, sizeof(why), "identity %s was %s by a users-file reload: reconnect (and authenticate again)",
			 x->ident->name, changed ? "changed" : "removed");
		x->ident = NULL;	/* old's entry: freed after this */
		http_sse_end(x, "closed", TIMERD__ERROR_CODE__UNAUTHENTICATED, why);
	}
}
