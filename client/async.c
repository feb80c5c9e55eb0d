/*
 * async.c -- libtimerd's asynchronous API over a libevent bufferevent:
 * requests are encoded straight into the output buffer and answered in
 * order, so a FIFO of callbacks matches replies to requests.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/util.h>

#include "client/internal.h"
#include "proto/addr.h"
#include "proto/arena.h"
#include "proto/frame.h"

/* TLS: requests are coalesced into chunks of up to this many bytes (a TLS record holds 16 KiB). */
#define ASYNC_TLS_COALESCE (64 * 1024)

struct async_pending {
	uint64_t id;
	Timerd__Request__BodyCase op;
	timerd_reply_fn fn;
	void *arg;
	int64_t sent_ns;	/* ping */
};

struct timerd_async {
	struct bufferevent *bev;
	uint64_t next_id;
	struct async_pending *q;	/* FIFO ring of unanswered requests */
	size_t head, n, cap;
	size_t window;			/* server's max_inflight */
	struct arena arena;
	timerd_event_fn ev_fn;
	void *ev_arg;
	timerd_close_fn close_fn;
	void *close_arg;
	bool tls;			/* over bufferevent_openssl (async_coalesce) */
	bool closed;			/* no more requests; the socket is gone */
	bool free_pending;		/* timerd_async_free ran inside a callback */
	int depth;			/* callbacks running */
	char err[512];
};

static void async_close(struct timerd_async *c, int code, const char *msg);
static void async_really_free(struct timerd_async *c);

/* Appends a pending entry; false if out of memory. */
static bool async_push(struct timerd_async *c, const struct async_pending *p)
{
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 256;
		struct async_pending *v = malloc(cap * sizeof(*v));

		if (!v)
			return false;
		for (size_t i = 0; i < c->n; i++)
			v[i] = c->q[(c->head + i) % c->cap];
		free(c->q);
		c->q = v;
		c->cap = cap;
		c->head = 0;
	}
	c->q[(c->head + c->n++) % c->cap] = *p;
	return true;
}

/* Removes and returns the oldest pending entry. */
static struct async_pending async_pop(struct timerd_async *c)
{
	struct async_pending p = c->q[c->head];

	c->head = (c->head + 1) % c->cap;
	c->n--;
	return p;
}

/* Runs a reply callback, tracking re-entrancy. */
static void async_call(struct timerd_async *c, const struct async_pending *p, const struct timerd_reply *r)
{
	if (!p->fn)
		return;
	c->depth++;
	p->fn(c, r, p->arg);
	c->depth--;
}

/* Encodes q into the output buffer and queues fn; TIMERD_OK or a failure. */
static int async_send(struct timerd_async *c, struct codec_req *q, timerd_reply_fn fn, void *arg)
{
	struct evbuffer *out;
	struct evbuffer_iovec v;
	size_t n;

	if (c->closed || c->free_pending)
		return TIMERD_ECLOSED;
	if (c->n >= c->window)
		return TIMERD_EINFLIGHT;
	q->r.id = ++c->next_id;
	n = codec_size(q);
	out = bufferevent_get_output(c->bev);
	if (evbuffer_reserve_space(out, (ev_ssize_t)n, &v, 1) < 1 || v.iov_len < n)
		return TIMERD_ENOMEM;
	codec_pack(q, v.iov_base);
	v.iov_len = n;
	if (!async_push(c, &(struct async_pending){ .id = q->r.id, .op = q->r.body_case, .fn = fn,
						    .arg = arg, .sent_ns = q->sent_ns }))
		return TIMERD_ENOMEM;
	evbuffer_commit_space(out, &v, 1);
	return TIMERD_OK;
}

/* Fills r with the body's result; copies are freed by async_reply_done. */
static int async_reply_fill(const struct async_pending *p, const Timerd__Response *m, struct timerd_reply *r)
{
	switch (p->op) {
	case TIMERD__REQUEST__BODY_ARM:
		codec_arm_result(m->arm, &r->arm);
		return TIMERD_OK;
	case TIMERD__REQUEST__BODY_GET:
		return m->get->timer && (r->timer = codec_timer_copy(m->get->timer)) ? TIMERD_OK : TIMERD_ENOMEM;
	case TIMERD__REQUEST__BODY_LIST:
		return (r->list = codec_list_copy(m->list)) ? TIMERD_OK : TIMERD_ENOMEM;
	case TIMERD__REQUEST__BODY_STATS:
		return (r->stats = codec_stats_copy(m->stats)) ? TIMERD_OK : TIMERD_ENOMEM;
	case TIMERD__REQUEST__BODY_PING:
		r->rtt_ns = codec_now() - p->sent_ns;
		return TIMERD_OK;
	default:
		return TIMERD_OK;
	}
}

/* Frees what async_reply_fill copied. */
static void async_reply_done(struct timerd_reply *r)
{
	free((void *)(uintptr_t)r->timer);
	free((void *)(uintptr_t)r->list);
	free((void *)(uintptr_t)r->stats);
}

/* Takes the server's limits from its HelloReply; TIMERD_EVERSION if it speaks another. */
static int async_hello_apply(struct timerd_async *c, const Timerd__HelloReply *h)
{
	if (h->version != TIMERD_PROTOCOL_VERSION) {
		codec_msg(c->err, sizeof(c->err), "timerd speaks protocol version %u, this library %d: upgrade one of them",
			  h->version, TIMERD_PROTOCOL_VERSION);
		return TIMERD_EVERSION;
	}
	if (h->limits && h->limits->max_inflight)
		c->window = h->limits->max_inflight;
	return TIMERD_OK;
}

/* Handles one reply frame: matches it to the oldest pending request. */
static void async_on_reply(struct timerd_async *c, const Timerd__Response *m)
{
	struct timerd_reply r = { .message = "" };
	struct async_pending p;

	/* id 0 with an error: a frame the server could not decode (it answers in order) */
	if (!c->n || (c->q[c->head].id != m->id && (m->id || m->body_case != TIMERD__RESPONSE__BODY_ERROR))) {
		codec_msg(c->err, sizeof(c->err), "timerd answered request %llu out of order: "
			  "client and server disagree on the protocol", (unsigned long long)m->id);
		async_close(c, TIMERD_EPROTO, c->err);
		return;
	}
	p = async_pop(c);
	r.code = codec_check(m, p.op, c->err, sizeof(c->err));
	if (r.code == TIMERD_OK && p.op == TIMERD__REQUEST__BODY_HELLO)
		r.code = async_hello_apply(c, m->hello);
	if (r.code == TIMERD_OK)
		r.code = async_reply_fill(&p, m, &r);
	if (r.code != TIMERD_OK)
		r.message = r.code == TIMERD_ENOMEM ? "out of memory decoding a reply" : c->err;
	async_call(c, &p, &r);
	async_reply_done(&r);
}

/* Handles one event frame (fire, notice, or a connection-level error). */
static void async_on_event(struct timerd_async *c, const Timerd__Response *m)
{
	struct timerd_event ev;

	if (m->body_case == TIMERD__RESPONSE__BODY_ERROR && m->error) {
		codec_msg(c->err, sizeof(c->err), "%s", m->error->message ? m->error->message : "");
		async_close(c, m->error->code ? (int)m->error->code : TIMERD_EPROTO, c->err);
		return;
	}
	if (!c->ev_fn || codec_event_view(m, &ev) != TIMERD_OK)
		return;
	c->depth++;
	c->ev_fn(c, &ev, c->ev_arg);
	c->depth--;
}

/* Decodes and dispatches one complete frame of n bytes at the buffer head. */
static bool async_frame(struct timerd_async *c, struct evbuffer *in, uint32_t n)
{
	const uint8_t *p = evbuffer_pullup(in, (ev_ssize_t)(FRAME_HDR + n));
	Timerd__Response *m;

	if (!p) {
		async_close(c, TIMERD_ENOMEM, "out of memory reading from timerd");
		return false;
	}
	arena_reset(&c->arena);
	arena_limit_for(&c->arena, n);
	m = timerd__response__unpack(arena_pbc(&c->arena), n, p + FRAME_HDR);
	evbuffer_drain(in, FRAME_HDR + n);
	if (!m) {
		async_close(c, TIMERD_EPROTO, "cannot decode a frame from timerd: is this a timerd server?");
		return false;
	}
	if (m->event)
		async_on_event(c, m);
	else
		async_on_reply(c, m);
	return !c->closed && !c->free_pending;
}

/*
 * TLS: makes the requests queued so far one contiguous chunk (up to
 * ASYNC_TLS_COALESCE bytes) so they leave as one TLS record, as they leave
 * in one write() without TLS. libevent's bufferevent_openssl does one
 * SSL_write, so one record, per chain of the output buffer, and requests
 * are packed into chains of about 1 KiB: a window of 100 arms went out as
 * 7 records, which the server reads one or two per read event.
 */
static void async_coalesce(struct timerd_async *c)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	size_t len = evbuffer_get_length(out);

	if (len > evbuffer_get_contiguous_space(out))
		evbuffer_pullup(out, (ev_ssize_t)(len < ASYNC_TLS_COALESCE ? len : ASYNC_TLS_COALESCE));
}

/* bufferevent read callback: dispatches every complete frame. */
static void async_read_cb(struct bufferevent *bev, void *arg)
{
	struct timerd_async *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	uint8_t h[FRAME_HDR];
	uint32_t n;

	c->depth++;
	while (evbuffer_copyout(in, h, FRAME_HDR) == FRAME_HDR) {
		n = frame_len(h);
		if (n > CODEC_MAX_REPLY) {
			async_close(c, TIMERD_EPROTO, "the server sent a frame over libtimerd's limit of 16 MiB: is this a "
				    "timerd server (lower its max-frame if it is)?");
			break;
		}
		if (evbuffer_get_length(in) < FRAME_HDR + (size_t)n || !async_frame(c, in, n))
			break;
	}
	c->depth--;
	if (c->free_pending && !c->depth)
		async_really_free(c);
	else if (c->tls && !c->closed && !c->free_pending)
		async_coalesce(c);	/* the reply callbacks queued the next requests: one record for them */
}

/* bufferevent event callback: EOF or an error closes the connection. */
static void async_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct timerd_async *c = arg;
	unsigned long e = bufferevent_get_openssl_error(bev);	/* 0 without TLS */
	char msg[512];

	if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
		return;
	c->depth++;
	if (e) {
		while (bufferevent_get_openssl_error(bev))
			;
		ctls_describe(bufferevent_openssl_get_ssl(bev), "this address", e, msg, sizeof(msg));
		async_close(c, TIMERD_EIO, msg);
	} else if (what & BEV_EVENT_EOF)
		async_close(c, TIMERD_ECLOSED, "timerd closed the connection (was it stopped?)");
	else
		async_close(c, TIMERD_EIO, "the connection to timerd failed");
	c->depth--;
	if (c->free_pending && !c->depth)
		async_really_free(c);
}

/* Fails every pending request, frees the socket, tells the owner once. */
static void async_close(struct timerd_async *c, int code, const char *msg)
{
	char copy[512];

	if (c->closed)
		return;
	c->closed = true;
	codec_msg(copy, sizeof(copy), "%s", msg);
	bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	while (c->n) {
		struct async_pending p = async_pop(c);
		struct timerd_reply r = { .code = code, .message = copy };

		async_call(c, &p, &r);
	}
	if (c->close_fn && !c->free_pending) {
		c->depth++;
		c->close_fn(c, code, copy, c->close_arg);
		c->depth--;
	}
}

/* Hello reply: learns the server's window. */
static void async_hello_cb(struct timerd_async *c, const struct timerd_reply *r, void *arg)
{
	(void)arg;
	if (r->code != TIMERD_OK && r->code != TIMERD_ECLOSED)
		async_close(c, r->code, r->message);
}

/* Connects and queues a Hello. */
int timerd_async_connect(struct event_base *base, const char *addr, const struct timerd_options *opt,
			 struct timerd_async **out, struct timerd_error *err)
{
	struct timerd_error local;
	struct timerd_async *c;
	struct codec_req q;
	void *ssl;
	int fd;

	err = err ? err : &local;
	*out = NULL;
	if ((fd = codec_open(addr, opt, err, &ssl)) < 0)
		return err->code;
	c = calloc(1, sizeof(*c));
	if (c && evutil_make_socket_nonblocking(fd) == 0)	/* with TLS the bufferevent owns the SSL from here */
		c->bev = ssl ? bufferevent_openssl_socket_new(base, fd, ssl, BUFFEREVENT_SSL_OPEN, BEV_OPT_CLOSE_ON_FREE)
			     : bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!c || !c->bev) {
		free(c);
		ctls_free(ssl);
		close(fd);
		codec_msg(err->message, sizeof(err->message), "out of memory");
		return err->code = TIMERD_ENOMEM;
	}
	arena_init(&c->arena);
	c->tls = ssl != NULL;
	c->window = CLIENT_DEFAULT_WINDOW;
	bufferevent_setcb(c->bev, async_read_cb, NULL, async_event_cb, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	codec_hello(&q, opt ? opt->client_name : NULL);
	c->window++;	/* the Hello itself */
	if (async_send(c, &q, async_hello_cb, NULL) != TIMERD_OK) {
		async_really_free(c);
		codec_msg(err->message, sizeof(err->message), "out of memory");
		return err->code = TIMERD_ENOMEM;
	}
	c->window--;
	if (opt && opt->identity) {	/* pipelined behind the Hello: encoded now, the secret is not kept */
		codec_auth(&q, opt->identity, opt->secret, opt->secret_len);
		c->window++;
		if (async_send(c, &q, async_hello_cb, NULL) != TIMERD_OK) {
			async_really_free(c);
			codec_msg(err->message, sizeof(err->message), "out of memory");
			return err->code = TIMERD_ENOMEM;
		}
		c->window--;
	}
	*out = c;
	err->code = TIMERD_OK;
	err->message[0] = '\0';
	return TIMERD_OK;
}

/* Sets the event callback. */
void timerd_async_set_event_cb(struct timerd_async *c, timerd_event_fn fn, void *arg)
{
	c->ev_fn = fn;
	c->ev_arg = arg;
}

/* Sets the close callback. */
void timerd_async_set_close_cb(struct timerd_async *c, timerd_close_fn fn, void *arg)
{
	c->close_fn = fn;
	c->close_arg = arg;
}

/* Issues an Arm. */
int timerd_async_arm(struct timerd_async *c, const struct timerd_arm *a, timerd_reply_fn fn, void *arg)
{
	struct codec_req q;

	if (codec_arm(&q, a) != TIMERD_OK)
		return TIMERD_EARG;
	return async_send(c, &q, fn, arg);
}

/* Issues a Cancel. */
int timerd_async_cancel(struct timerd_async *c, uint64_t timer_id, const char *key,
			timerd_reply_fn fn, void *arg)
{
	struct codec_req q;

	codec_cancel(&q, timer_id, key);
	return async_send(c, &q, fn, arg);
}

/* Issues a Get. */
int timerd_async_get(struct timerd_async *c, uint64_t timer_id, const char *key,
		     timerd_reply_fn fn, void *arg)
{
	struct codec_req q;

	codec_get(&q, timer_id, key);
	return async_send(c, &q, fn, arg);
}

/* Issues a List. */
int timerd_async_list(struct timerd_async *c, const char *topic, uint64_t cursor, uint32_t limit,
		      bool with_payload, timerd_reply_fn fn, void *arg)
{
	struct codec_req q;

	codec_list(&q, topic, cursor, limit, with_payload);
	return async_send(c, &q, fn, arg);
}

/* Issues a Watch. */
int timerd_async_watch(struct timerd_async *c, const char *topic, timerd_reply_fn fn, void *arg)
{
	struct codec_req q;

	codec_watch(&q, topic, false);
	return async_send(c, &q, fn, arg);
}

/* Issues an Unwatch. */
int timerd_async_unwatch(struct timerd_async *c, const char *topic, timerd_reply_fn fn, void *arg)
{
	struct codec_req q;

	codec_watch(&q, topic, true);
	return async_send(c, &q, fn, arg);
}

/* Issues a Ping. */
int timerd_async_ping(struct timerd_async *c, timerd_reply_fn fn, void *arg)
{
	struct codec_req q;

	codec_ping(&q);
	return async_send(c, &q, fn, arg);
}

/* Issues a StatsRequest. */
int timerd_async_stats(struct timerd_async *c, timerd_reply_fn fn, void *arg)
{
	struct codec_req q;

	codec_stats(&q);
	return async_send(c, &q, fn, arg);
}

/* Issues a Subscribe. */
int timerd_async_subscribe(struct timerd_async *c, const char *group, uint32_t credit,
			   timerd_reply_fn fn, void *arg)
{
	struct codec_req q;

	codec_subscribe(&q, group, credit, false);
	return async_send(c, &q, fn, arg);
}

/* Issues an Ack. */
int timerd_async_ack(struct timerd_async *c, uint64_t delivery_id, timerd_reply_fn fn, void *arg)
{
	struct codec_req q;

	codec_ack(&q, delivery_id);
	return async_send(c, &q, fn, arg);
}

/* Issues a Nack. */
int timerd_async_nack(struct timerd_async *c, uint64_t delivery_id, int64_t retry_after_ns,
		      const char *error, timerd_reply_fn fn, void *arg)
{
	struct codec_req q;

	codec_nack(&q, delivery_id, retry_after_ns, error);
	return async_send(c, &q, fn, arg);
}

/* Requests issued and not yet answered. */
size_t timerd_async_pending(const struct timerd_async *c)
{
	return c->n;
}

/* The most requests that may be pending. */
size_t timerd_async_window(const struct timerd_async *c)
{
	return c->window;
}

/* Frees the connection's memory. */
static void async_really_free(struct timerd_async *c)
{
	bufferevent_free(c->bev);
	arena_destroy(&c->arena);
	free(c->q);
	free(c);
}

/* Closes the connection; pending callbacks run with TIMERD_ECLOSED first. */
void timerd_async_free(struct timerd_async *c)
{
	if (!c || c->free_pending)
		return;
	c->free_pending = true;
	async_close(c, TIMERD_ECLOSED, "the connection was closed by the program");
	if (!c->depth)
		async_really_free(c);
}
