/*
 * conn.c -- one client connection on its loop thread: framing, the
 * in-flight and output bounds, fire events, closing.
 *
 * Lifetime: the states and their transitions are in srv.h (enum
 * conn_state). A callback that ends a connection marks it CONN_DEAD
 * (conn_kill); only the loop's reaper frees it, so every function here may
 * go on using c after anything it calls, and none reports "freed".
 *
 * Backpressure, as documented in doc/timerd.md:
 *   - a frame longer than max-frame: an Error event, then the connection
 *     closes (the stream cannot be resynchronised);
 *   - replies are never dropped: when the output holds more than
 *     max-output bytes the connection stops being read until the output
 *     drains below half of it (TCP pushes back on the client);
 *   - more than max-inflight replies not yet written to the socket: further
 *     requests are answered TOO_MANY_INFLIGHT without being executed;
 *   - fire events to a connection whose output is over max-output are
 *     dropped and counted; once the output drains below half, the client
 *     gets a Notice FIRES_DROPPED with the number dropped;
 *   - a frame not complete frame-timeout after its first byte (however
 *     the bytes trickle in): an Error event TIMEOUT, close;
 *   - a TCP connection with nothing received for idle-timeout, no watch and
 *     no notify timer: an Error event TIMEOUT, close;
 *   - a connection whose TLS handshake (or, when it must authenticate,
 *     Auth) is not done auth-timeout after it was accepted: closed (no
 *     frame can cross an unfinished handshake), or an Error event
 *     UNAUTHENTICATED, close.
 * One timer per connection serves all three deadlines; it is re-armed only when
 * the nearest deadline moves earlier (a new partial frame), so the request
 * path does not touch it (conn_timer_update).
 *
 * Durability (journal.h): a reply that must wait for a journal commit
 * (conn_hold) and everything queued after it go to c->held instead of the
 * output, in order; conn_release_durable moves what the journal committed
 * on, so replies still leave in request order. A consumer group's delivery
 * is the exception: it is committed before it is pushed, and events may
 * come between any two replies (doc/protocol.md), so it goes out ahead of
 * the held replies (a consumer's next delivery does not wait for the
 * commit of the acks it sent before; conn_push_event). Held bytes count against
 * max-output (reads pause past it), not max-inflight (a client pipelining
 * up to its window must not be refused because the disk is slower than the
 * network), and a closing connection waits for them.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "proto/frame.h"
#include "proto/pack.h"
#include "server/group-srv.h"
#include "server/auth.h"
#include "server/journal.h"
#include "server/log.h"
#include "server/quota.h"
#include "server/srv.h"

/* How long a closing connection may take to flush its output. */
#define CONN_FLUSH_TIMEOUT_S 5
/* Bytes read per read(2) at most. */
#define CONN_READ_CHUNK (64 * 1024)
/* TLS: a batch of replies goes out as one chunk of up to this many bytes (conn_tls_coalesce). */
#define CONN_TLS_COALESCE (64 * 1024)
/* The most plaintext one TLS record carries. */
#define CONN_TLS_RECORD 16384

static void conn_read_cb(struct bufferevent *bev, void *arg);
static void conn_write_cb(struct bufferevent *bev, void *arg);
static void conn_event_cb(struct bufferevent *bev, short what, void *arg);
static void conn_finish(struct conn *c);
static bool conn_tls_failed(struct conn *c);
static void conn_timer_cb(evutil_socket_t fd, short what, void *arg);
static void conn_timer_update(struct conn *c);

/* A coarse CLOCK_MONOTONIC in ns (a few ms of resolution is plenty for timeouts). */
static int64_t conn_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The server's settings. */
static const struct srv_config *conn_cfg(const struct conn *c)
{
	return c->loop->srv->cfg;
}

/* Creates a connection for an accepted fd on loop l (loop thread). */
void conn_open(struct loop *l, const struct loop_msg *m)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (c && m->ssl)	/* the SSL is the bufferevent's from here (freed with it, or below) */
		c->bev = bufferevent_openssl_socket_new(l->base, m->fd, m->ssl, BUFFEREVENT_SSL_ACCEPTING,
							 BEV_OPT_CLOSE_ON_FREE);
	else if (c)
		c->bev = bufferevent_socket_new(l->base, m->fd, BEV_OPT_CLOSE_ON_FREE);
	if (c && c->bev)
		c->timer = evtimer_new(l->base, conn_timer_cb, c);
	if (!c || !c->bev || !c->timer || loop_conn_add(l, c) < 0) {
		log_warn_rl("out of memory: dropping the connection from %s", m->peer);
		if (c && c->timer)
			event_free(c->timer);
		if (c && c->bev) {
			bufferevent_free(c->bev);
		} else {
			close(m->fd);
			if (m->ssl)
				SSL_free(m->ssl);
		}
		free(c);
		srv_peer_release(l->srv, m->addr_key);
		/* relaxed: a gauge */
		atomic_fetch_sub_explicit(&l->srv->conns, 1, memory_order_relaxed);
		return;
	}
	c->loop = l;
	c->tls = m->ssl != NULL;
	if (c->tls) {
		bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);	/* a peer that just closes is EOF, not an error */
		SSL_set_read_ahead(m->ssl, 1);	/* what read(2) brings beyond a record: conn_tls_drain */
	}
	c->is_unix = m->is_unix;
	c->uid = m->uid;
	c->pid = m->pid;
	c->who = m->who;
	c->peer_root = m->is_unix && m->peer_cred && m->uid == 0;
	snprintf(c->peer, sizeof(c->peer), "%s", m->peer);
	snprintf(c->addr_key, sizeof(c->addr_key), "%s", m->addr_key);
	c->active_ns = conn_now();
	if (conn_cfg(c)->auth_timeout_ns > 0)
		c->admit_by_ns = c->active_ns + conn_cfg(c)->auth_timeout_ns;
	auth_bind_peer(c);
	bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
	bufferevent_setwatermark(c->bev, EV_WRITE, c->loop->lim.max_output / 2, 0);
	bufferevent_set_max_single_read(c->bev, CONN_READ_CHUNK);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	conn_timer_update(c);	/* the idle deadline */
	conn_quota_sync(c);	/* bound by its uid: its identity's max-connections */
	log_debug("connection %llx from %s", (unsigned long long)c->handle, c->peer);
}

/* The states each state may move to (the table in srv.h). */
static const unsigned conn_next[] = {
	[CONN_OPEN] = 1u << CONN_PEER_EOF | 1u << CONN_CLOSING | 1u << CONN_DEAD,
	[CONN_PEER_EOF] = 1u << CONN_CLOSING | 1u << CONN_DEAD,
	[CONN_CLOSING] = 1u << CONN_DEAD,
	[CONN_DEAD] = 0,
};

/* Moves c to state s; aborts on a transition the table does not allow. */
static void conn_set_state(struct conn *c, enum conn_state s)
{
	if (!(conn_next[c->state] & 1u << s)) {
		log_err("connection from %s: illegal state change %d -> %d", c->peer, (int)c->state, (int)s);
		abort();
	}
	c->state = s;
}

/* True while c handles requests (open or half-closed). */
static bool conn_serving(const struct conn *c)
{
	return c->state == CONN_OPEN || c->state == CONN_PEER_EOF;
}

/* Takes c off its loop's list of connections with held output. */
static void conn_holders_unlink(struct conn *c)
{
	if (!c->holding)
		return;
	if (c->hold_prev)
		c->hold_prev->hold_next = c->hold_next;
	else
		c->loop->holders = c->hold_next;
	if (c->hold_next)
		c->hold_next->hold_prev = c->hold_prev;
	c->hold_prev = c->hold_next = NULL;
	c->holding = false;
}

/* Puts c on its loop's list of connections with held output. */
static void conn_holders_link(struct conn *c)
{
	if (c->holding)
		return;
	c->hold_prev = NULL;
	c->hold_next = c->loop->holders;
	if (c->hold_next)
		c->hold_next->hold_prev = c;
	c->loop->holders = c;
	c->holding = true;
}

/* Bytes held for the journal. */
static size_t conn_held(const struct conn *c)
{
	return c->held ? evbuffer_get_length(c->held) : 0;
}

static void conn_send_drop_notice(struct conn *c);

/*
 * Sends c the notice of the fire events it lost once its output drained to
 * half of max-output. conn_write_cb does it when the bufferevent drains the
 * output; this is for the direct writes (conn_flush_batch, conn_flush_evq),
 * after which no write callback follows when the socket took everything.
 */
static void conn_drop_notice_if_drained(struct conn *c)
{
	if (c->dropped && conn_serving(c) &&
	    evbuffer_get_length(bufferevent_get_output(c->bev)) + conn_held(c) <= c->loop->lim.max_output / 2)
		conn_send_drop_notice(c);
}

/* Frees a dead c: its slot, its socket (the reaper's job, nobody else's). */
void conn_free(struct conn *c)
{
	struct loop *l = c->loop;

	if (c->state != CONN_DEAD || c->nwatches || c->watch_all) {
		log_err("connection from %s freed in state %d with %u watches", c->peer, (int)c->state, c->nwatches);
		abort();
	}
	conn_holders_unlink(c);
	if (c->held)
		evbuffer_free(c->held);
	if (c->evq)
		evbuffer_free(c->evq);	/* empty: a fire round ends with conn_flush_events */
	free(c->holds);
	loop_conn_del(l, c);
	event_free(c->timer);
	if (c->rate_ev)
		event_free(c->rate_ev);
	auth_conn_free(c);
	quota_conn_release(c);
	srv_peer_release(l->srv, c->addr_key);
	bufferevent_free(c->bev);
	free(c->reply_end);
	free(c->watches);
	free(c);
	/* relaxed: a gauge read by stats and the acceptor's limit check */
	atomic_fetch_sub_explicit(&l->srv->conns, 1, memory_order_relaxed);
}

/* Marks c dead: no event, callback or fire reaches it; the loop's reaper frees it. */
void conn_kill(struct conn *c)
{
	if (c->state == CONN_DEAD)
		return;
	conn_set_state(c, CONN_DEAD);
	watch_drop_all(c);
	group_srv_conn_drop(c);
	bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	bufferevent_set_timeouts(c->bev, NULL, NULL);
	evtimer_del(c->timer);
	bufferevent_setcb(c->bev, NULL, NULL, NULL, NULL);
	loop_defer_free(c->loop, c);
}

/* Starts closing c: no more reading or fires; dead once its output is flushed. */
static void conn_close_flush(struct conn *c)
{
	struct timeval tv = { CONN_FLUSH_TIMEOUT_S, 0 };

	if (!conn_serving(c))
		return;
	conn_set_state(c, CONN_CLOSING);
	watch_drop_all(c);
	group_srv_conn_drop(c);
	bufferevent_disable(c->bev, EV_READ);
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	evtimer_del(c->timer);	/* the flush has its own deadline */
	c->timer_at = 0;
	bufferevent_set_timeouts(c->bev, NULL, &tv);
}

/* Kills c if it is closing and everything was written (held output included). */
static void conn_kill_if_flushed(struct conn *c)
{
	if (c->state == CONN_CLOSING && !evbuffer_get_length(bufferevent_get_output(c->bev)) && !conn_held(c))
		conn_kill(c);
}

/* Bytes c has queued and not yet handed to the kernel (its batch and held output included). */
static size_t conn_unsent(struct conn *c)
{
	return evbuffer_get_length(bufferevent_get_output(c->bev)) +
	       (c->batching ? evbuffer_get_length(c->loop->batch) : 0) + conn_held(c) +
	       (c->evq ? evbuffer_get_length(c->evq) : 0);
}

/* Where c's next bytes go: held output while anything waits, else the batch or the output. */
static struct evbuffer *conn_out(struct conn *c)
{
	if (c->holding)
		return c->held;
	return c->batching ? c->loop->batch : bufferevent_get_output(c->bev);
}

void conn_hold(struct conn *c, uint64_t seq)
{
	if (!c->held && !(c->held = evbuffer_new())) {
		log_warn_rl("out of memory holding a reply to %s for the journal: closing it", c->peer);
		conn_kill(c);	/* not flushed: the reply must not leave before its commit */
		return;
	}
	if (c->hn == c->hcap) {
		uint32_t cap = c->hcap ? c->hcap * 2 : 16;
		struct conn_hold *v = malloc(cap * sizeof(*v));

		if (!v) {
			log_warn_rl("out of memory holding a reply to %s for the journal: closing it", c->peer);
			conn_kill(c);	/* not flushed: the reply must not leave before its commit */
			return;
		}
		for (uint32_t i = 0; i < c->hn; i++)
			v[i] = c->holds[(c->hhead + i) % c->hcap];
		free(c->holds);
		c->holds = v;
		c->hcap = cap;
		c->hhead = 0;
	}
	c->holds[(c->hhead + c->hn++) % c->hcap] = (struct conn_hold){ c->held_base + conn_held(c), seq };
	conn_holders_link(c);
}

/* Bytes of c's output already handed to the kernel. */
static uint64_t conn_drained(struct conn *c)
{
	return c->out_total - conn_unsent(c);
}

/* True if c may take another request. */
bool conn_inflight_ok(struct conn *c)
{
	uint64_t drained = conn_drained(c);

	while (c->rn && c->reply_end[c->rhead] <= drained) {
		c->rhead = (c->rhead + 1) % c->rcap;
		c->rn--;
	}
	return c->rn < c->loop->lim.max_inflight;
}

/* Remembers where a reply ends in the output; false if out of memory. */
static bool conn_track_reply(struct conn *c)
{
	if (c->rn == c->rcap) {
		uint32_t cap = c->rcap ? c->rcap * 2 : 16;
		uint64_t *v = malloc(cap * sizeof(*v));

		if (!v)
			return false;
		for (uint32_t i = 0; i < c->rn; i++)
			v[i] = c->reply_end[(c->rhead + i) % c->rcap];
		free(c->reply_end);
		c->reply_end = v;
		c->rcap = cap;
		c->rhead = 0;
	}
	c->reply_end[(c->rhead + c->rn++) % c->rcap] = c->out_total;
	return true;
}

/* Writes a Response to c. */
void conn_send(struct conn *c, const Timerd__Response *rs, bool reply)
{
	struct evbuffer *out = conn_out(c);

	if (c->state == CONN_DEAD)
		return;		/* killed while its request ran: nothing more goes out */
	struct pack_plan plan;
	size_t n = pack_response_size(rs, &plan);
	struct evbuffer_iovec v;

	if (evbuffer_reserve_space(out, (ev_ssize_t)(FRAME_HDR + n), &v, 1) < 1 || v.iov_len < FRAME_HDR + n) {
		log_warn_rl("out of memory replying to %s: closing it", c->peer);
		conn_close_flush(c);
		return;
	}
	frame_put_len(v.iov_base, (uint32_t)pack_response(rs, &plan, (uint8_t *)v.iov_base + FRAME_HDR));
	v.iov_len = FRAME_HDR + n;
	evbuffer_commit_space(out, &v, 1);
	c->out_total += FRAME_HDR + n;
	ctr_add(&c->loop->ctr.bytes_out, FRAME_HDR + n);
	/* A reply held for the journal is not counted: max-output bounds held bytes (reads pause). */
	if (reply && !c->holding && c->rn < c->loop->lim.max_inflight && !conn_track_reply(c))
		log_warn_rl("out of memory tracking replies to %s", c->peer);
}

/* Sends an Error event, then closes c once flushed. */
void conn_fatal(struct conn *c, Timerd__ErrorCode code, const char *fmt, ...)
{
	Timerd__Response rs = TIMERD__RESPONSE__INIT;
	Timerd__Error e = TIMERD__ERROR__INIT;
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_info_rl("closing connection from %s: %s", c->peer, msg);
	e.code = code;
	e.message = msg;
	rs.event = true;
	rs.body_case = TIMERD__RESPONSE__BODY_ERROR;
	rs.error = &e;
	conn_send(c, &rs, false);
	conn_close_flush(c);
}

/* Refuses a frame longer than max-frame; says so plainly if it looks like text. */
static void conn_too_large(struct conn *c, const uint8_t *h, uint32_t n)
{
	struct loop *l = c->loop;

	ctr_add(&l->ctr.errors, 1);
	ctr_add(&l->ctr.err_frame_too_large, 1);
	if (!c->tls && !c->frames_seen && h[0] == 0x16 && h[1] == 0x03)	/* a TLS handshake record */
		conn_fatal(c, TIMERD__ERROR_CODE__FRAME_TOO_LARGE,
			   "this port speaks plaintext; a TLS client (ClientHello) connected: connect without tls:// "
			   "(timerctl without --tls), or start timerd with --tls-cert and --tls-key");
	else if (frame_looks_like_text(h))
		conn_fatal(c, TIMERD__ERROR_CODE__FRAME_TOO_LARGE,
			   "this is timerd's socket: it speaks length-prefixed protobuf frames (doc/protocol.md), "
			   "and the data looks like text (\"%.4s\"); use timerctl or libtimerd", (const char *)h);
	else
		conn_fatal(c, TIMERD__ERROR_CODE__FRAME_TOO_LARGE,
			   "frame of %u bytes is over the limit of %u (max-frame): split the request or raise max-frame",
			   n, conn_cfg(c)->max_frame);
}

/* Stops reading c until its output drains (replies are never dropped). */
static void conn_pause(struct conn *c)
{
	c->read_paused = true;
	bufferevent_disable(c->bev, EV_READ);
}

/* True if c must still authenticate: a users file is in force and no identity is bound (auth.c). */
static bool conn_unauthenticated(const struct conn *c)
{
	return c->loop->users && !c->ident;
}

/* True if auth-timeout applies to c now: its TLS handshake or its Auth is not done. */
static bool conn_admit_pending(const struct conn *c)
{
	return c->admit_by_ns && ((c->tls && !c->tls_up) || conn_unauthenticated(c));
}

/* True if the idle timeout applies to c now (TCP, nothing it waits for). */
static bool conn_idle_applies(const struct conn *c)
{
	return !c->is_unix && conn_cfg(c)->idle_timeout_ns > 0 && !c->nwatches && !c->watch_all && !c->waits_fire;
}

/*
 * Notes when a partial frame started and makes sure the timer fires no
 * later than the nearest deadline (frame-timeout from a frame's first
 * byte, idle-timeout from the last request). The timer is moved only when
 * that deadline is earlier than the one armed: a later one is found when
 * the timer fires (conn_timer_cb), so most calls touch nothing.
 */
static void conn_timer_update(struct conn *c)
{
	bool partial = evbuffer_get_length(bufferevent_get_input(c->bev)) > 0 && !c->read_paused && !c->auth_wait &&
		       !c->rate_wait;
	int64_t due = INT64_MAX, now;
	struct timeval tv;

	if (!conn_serving(c))
		return;
	if (!partial)
		c->frame_start_ns = 0;
	if (!partial && !conn_idle_applies(c) && !conn_admit_pending(c))
		return;		/* an armed timer finds nothing due and stops */
	now = conn_now();
	if (partial && !c->frame_start_ns)
		c->frame_start_ns = now;
	if (partial)
		due = c->frame_start_ns + conn_cfg(c)->frame_timeout_ns;
	if (conn_idle_applies(c) && c->active_ns + conn_cfg(c)->idle_timeout_ns < due)
		due = c->active_ns + conn_cfg(c)->idle_timeout_ns;
	if (conn_admit_pending(c) && c->admit_by_ns < due)
		due = c->admit_by_ns;
	if (c->timer_at && c->timer_at <= due)
		return;
	c->timer_at = due;
	due = due > now ? due - now : 0;
	tv.tv_sec = (time_t)(due / 1000000000);
	tv.tv_usec = (suseconds_t)(due % 1000000000 / 1000 + 1);
	evtimer_add(c->timer, &tv);
}

/* auth-timeout passed before c's TLS handshake or Auth was done: count it and close c. */
static void conn_admit_expired(struct conn *c)
{
	double s = (double)conn_cfg(c)->auth_timeout_ns / 1e9;

	if (c->tls && !c->tls_up) {
		ctr_add(&c->loop->ctr.handshake_timeouts, 1);
		log_info_rl("closing connection from %s: its TLS handshake was not done %.3fs after it connected "
			    "(auth-timeout)", c->peer, s);
		conn_kill(c);	/* nothing can be said to it: no frame crosses an unfinished handshake */
		return;
	}
	ctr_add(&c->loop->ctr.auth_timeouts, 1);
	conn_fatal(c, TIMERD__ERROR_CODE__UNAUTHENTICATED, "no Auth %.3fs after connecting (auth-timeout): a connection "
		   "timerd cannot bind to an identity must send Auth first (timerctl --user NAME, $TIMERD_SECRET)", s);
}

/* c's timer: close it if its frame or its idleness passed a limit, else wait for the next deadline. */
static void conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	int64_t now = conn_now();
	const struct srv_config *cfg = conn_cfg(c);

	(void)fd;
	(void)what;
	c->timer_at = 0;
	if (!conn_serving(c))
		return;
	if (conn_admit_pending(c) && now >= c->admit_by_ns) {
		conn_admit_expired(c);
		return;
	}
	if (c->frame_start_ns && now - c->frame_start_ns >= cfg->frame_timeout_ns) {
		ctr_add(&c->loop->ctr.slow_closes, 1);
		conn_fatal(c, TIMERD__ERROR_CODE__TIMEOUT, "a frame stalled: not complete %.3fs after its first byte "
			   "(frame-timeout; %zu bytes came): send whole frames", (double)cfg->frame_timeout_ns / 1e9,
			   evbuffer_get_length(bufferevent_get_input(c->bev)));
		return;
	}
	if (conn_idle_applies(c) && now - c->active_ns >= cfg->idle_timeout_ns) {
		ctr_add(&c->loop->ctr.slow_closes, 1);
		conn_fatal(c, TIMERD__ERROR_CODE__TIMEOUT, "no request for %.3fs (idle-timeout): closing this idle "
			   "TCP connection; reconnect when needed", (double)cfg->idle_timeout_ns / 1e9);
		return;
	}
	conn_timer_update(c);
}

/*
 * TLS: makes the first CONN_TLS_COALESCE bytes of c's output one chunk, so
 * a batch of replies leaves as one TLS record (of up to 16 KiB), as it
 * leaves in one write(2) without TLS. libevent's bufferevent_openssl does
 * one SSL_write, so one record, per chain of the output buffer, and replies
 * are packed into chains of about 1 KiB: a batch of 100 arm replies went
 * out as 7 records, and the client reads one or two records per read event.
 */
static void conn_tls_coalesce(struct evbuffer *out)
{
	size_t len = evbuffer_get_length(out);

	if (len > evbuffer_get_contiguous_space(out))
		evbuffer_pullup(out, (ev_ssize_t)(len < CONN_TLS_COALESCE ? len : CONN_TLS_COALESCE));
}

/*
 * Sends the replies of the frames just handled. When nothing else is queued
 * they are written at once from the read callback, as one write: no
 * EV_WRITE registration, no extra turn of the event loop on the round trip.
 * What the socket does not take is queued for the bufferevent.
 */
static void conn_flush_batch(struct conn *c)
{
	struct evbuffer *b = c->loop->batch, *out = bufferevent_get_output(c->bev);

	c->batching = false;
	if (!evbuffer_get_length(b))
		return;
	if (!evbuffer_get_length(out) && !c->tls)	/* TLS: the bufferevent encrypts it */
		evbuffer_write(b, bufferevent_getfd(c->bev));
	if (evbuffer_get_length(b) && evbuffer_add_buffer(out, b) < 0) {
		log_warn_rl("out of memory replying to %s: closing it", c->peer);
		evbuffer_drain(b, evbuffer_get_length(b));
		conn_close_flush(c);
	} else if (c->tls) {
		conn_tls_coalesce(out);
	}
	conn_drop_notice_if_drained(c);
}

/*
 * Reads c again if it is paused and its output drained to half of
 * max-output; true if it did. The output drains in conn_write_cb, or at
 * once when conn_flush_batch wrote the replies straight to the socket (no
 * write callback follows that).
 */
static bool conn_unpause(struct conn *c)
{
	if (!c->read_paused || !conn_serving(c) ||
	    evbuffer_get_length(bufferevent_get_output(c->bev)) + conn_held(c) > c->loop->lim.max_output / 2)
		return false;	/* held output counts: it drains as the journal commits (conn_release) */
	c->read_paused = false;
	if (c->state == CONN_OPEN && !c->auth_wait && !c->rate_wait)	/* an Auth being checked, a rate pause: reads wait */
		bufferevent_enable(c->bev, EV_READ);
	return true;
}

/*
 * A read of conn_tls_drain ended c's TLS session (err: SSL_get_error's), as
 * libevent would have reported it: the peer's close (close_notify, or just
 * a FIN: dirty shutdowns are allowed) is its EOF, what it sent still gets
 * replies; anything else is a TLS error and c goes.
 */
static void conn_tls_read_end(struct conn *c, int err)
{
	unsigned long e = ERR_peek_error();
	char buf[256];

	bufferevent_disable(c->bev, EV_READ);	/* libevent must not read past the end either */
	if (err == SSL_ERROR_ZERO_RETURN || (err == SSL_ERROR_SYSCALL && !e)) {
		conn_set_state(c, CONN_PEER_EOF);	/* the callers of conn_process finish it (conn_finish) */
		return;
	}
	ERR_error_string_n(e ? e : (unsigned long)err, buf, sizeof(buf));
	ERR_clear_error();
	ctr_add(&c->loop->ctr.errors, 1);
	log_info_rl("connection from %s: TLS error: %s", c->peer, buf);
	conn_kill(c);
}

/*
 * TLS: moves into c's input the records OpenSSL already read from the
 * socket and libevent left there; true if it moved anything. c's SSL reads
 * ahead (what the socket has, up to 16 KiB per read(2)), and libevent's
 * bufferevent_openssl decrypts about one record per read event without
 * looking at what is buffered beyond it: the rest would wait for the
 * socket to be readable again, and a client's pipelined requests were
 * handled one record (~15 frames) per turn of the loop. Every path that
 * handles frames comes through conn_process, so the ones that resume
 * reading (unpause, Auth settled, rate pause over, handshake done) drain
 * too. At most what one read-ahead brought: bounded.
 */
static bool conn_tls_drain(struct conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	struct evbuffer_iovec v;
	bool moved = false;
	SSL *ssl;
	size_t got;
	int err;

	if (!c->tls || !c->tls_up || c->state != CONN_OPEN || c->read_paused || c->auth_wait || c->rate_wait)
		return false;
	ssl = bufferevent_openssl_get_ssl(c->bev);
	while (SSL_has_pending(ssl) && evbuffer_get_length(in) < CONN_READ_CHUNK) {
		if (evbuffer_reserve_space(in, CONN_TLS_RECORD, &v, 1) < 1)
			break;	/* out of memory: libevent reads the rest when the socket is readable */
		ERR_clear_error();
		if (SSL_read_ex(ssl, v.iov_base, v.iov_len, &got) != 1) {
			err = SSL_get_error(ssl, 0);
			if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE)
				conn_tls_read_end(c, err);
			break;	/* WANT_READ: a partial record, the socket brings the rest */
		}
		v.iov_len = got;
		evbuffer_commit_space(in, &v, 1);
		moved = true;
	}
	return moved;
}

/* Handles every complete frame in c's input; c may be closing or dead afterwards, never freed. */
static void conn_process(struct conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	uint64_t frames = 0, bytes = 0;
	uint8_t h[FRAME_HDR];
	size_t len;
	uint32_t n;

	do {
		c->batching = true;
		do {	/* TLS: and the records OpenSSL read ahead */
			while (conn_serving(c) && !c->read_paused && !c->auth_wait && !c->rate_wait &&
			       (len = evbuffer_get_length(in)) >= FRAME_HDR) {
				evbuffer_copyout(in, h, FRAME_HDR);
				if ((n = frame_len(h)) > conn_cfg(c)->max_frame) {
					conn_too_large(c, h, n);
					break;
				}
				if (len - FRAME_HDR < n)
					break;
				rpc_handle(c, evbuffer_pullup(in, (ev_ssize_t)(FRAME_HDR + n)) + FRAME_HDR, n);
				evbuffer_drain(in, FRAME_HDR + (size_t)n);
				frames++;
				c->frames_seen++;
				bytes += FRAME_HDR + (size_t)n;
				if (conn_unsent(c) > c->loop->lim.max_output)
					conn_pause(c);
			}
		} while (conn_tls_drain(c));
		conn_flush_batch(c);
	} while (conn_unpause(c));
	journal_flush(c->loop);	/* the changes of these requests go to the journal thread together */
	ctr_add(&c->loop->ctr.frames_in, frames);
	ctr_add(&c->loop->ctr.bytes_in, bytes);
	if (frames && !c->is_unix)
		c->active_ns = conn_now();	/* what idle-timeout measures from */
	conn_timer_update(c);
	conn_kill_if_flushed(c);
}

bool conn_quota_sync(struct conn *c)
{
	char why[256];

	if (quota_conn_sync(c, why, sizeof(why)))
		return true;
	ctr_add(&c->loop->ctr.quota_refusals, 1);
	conn_fatal(c, TIMERD__ERROR_CODE__TOO_MANY_CONNECTIONS, "%s", why);
	return false;
}

/* The rate pause is over (conn_rate_pause): reads and handles c's waiting frames again. */
static void conn_rate_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	(void)what;
	c->rate_wait = false;
	if (!conn_serving(c))
		return;
	if (c->state == CONN_OPEN && !c->read_paused && !c->auth_wait)
		bufferevent_enable(c->bev, EV_READ);
	conn_process(c);
	if (c->state == CONN_PEER_EOF)
		conn_finish(c);
}

void conn_rate_pause(struct conn *c, uint32_t ms)
{
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };

	if (c->rate_wait || !conn_serving(c))
		return;
	if (!c->rate_ev && !(c->rate_ev = evtimer_new(c->loop->base, conn_rate_cb, c)))
		return;		/* out of memory: the refusals alone must do */
	c->rate_wait = true;
	bufferevent_disable(c->bev, EV_READ);
	evtimer_add(c->rate_ev, &tv);
}

/* An Auth of c was settled: reads and handles the frames that waited. */
void conn_auth_resume(struct conn *c)
{
	c->auth_wait = false;
	if (!conn_serving(c) || !conn_quota_sync(c))	/* bound by Auth: its identity's max-connections */
		return;
	if (c->state == CONN_OPEN && !c->read_paused)
		bufferevent_enable(c->bev, EV_READ);
	conn_process(c);
	if (c->state == CONN_PEER_EOF)
		conn_finish(c);
}

/* bufferevent read callback. */
static void conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	(void)bev;
	conn_process(c);
	if (c->state == CONN_PEER_EOF)	/* the TLS peer's close, read by conn_tls_drain */
		conn_finish(c);
}

/* Tells c how many fire events it lost while its output was full. */
static void conn_send_drop_notice(struct conn *c)
{
	Timerd__Response rs = TIMERD__RESPONSE__INIT;
	Timerd__Notice nt = TIMERD__NOTICE__INIT;
	char msg[256];

	snprintf(msg, sizeof(msg), "%llu fire events were dropped: this connection read them more slowly than "
		 "they came and its output passed max-output (%llu bytes)", (unsigned long long)c->dropped,
		 (unsigned long long)c->loop->lim.max_output);
	nt.kind = TIMERD__NOTICE__KIND__FIRES_DROPPED;
	nt.count = c->dropped;
	nt.message = msg;
	rs.event = true;
	rs.body_case = TIMERD__RESPONSE__BODY_NOTICE;
	rs.notice = &nt;
	c->dropped = 0;
	conn_send(c, &rs, false);
}

/* bufferevent write callback: output drained to half of max-output (or empty when closing). */
static void conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	(void)bev;
	conn_kill_if_flushed(c);
	if (!conn_serving(c))
		return;
	if (c->dropped)
		conn_send_drop_notice(c);
	if (!conn_unpause(c))
		return;
	conn_process(c);	/* frames that arrived while paused are buffered */
	if (c->state == CONN_PEER_EOF)
		conn_finish(c);
}

/* The peer sent everything it will: close once the rest is answered and flushed. */
static void conn_finish(struct conn *c)
{
	size_t left = evbuffer_get_length(bufferevent_get_input(c->bev));

	if (c->read_paused || c->auth_wait || c->rate_wait)
		return;		/* conn_write_cb (conn_auth_resume) finishes once the output drains (the Auth is settled) */
	if (left)
		log_info_rl("connection from %s closed in the middle of a frame (%zu bytes unread)", c->peer, left);
	conn_close_flush(c);
	conn_kill_if_flushed(c);
}

/* bufferevent event callback: EOF, errors, timeouts. */
static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;
	size_t left = evbuffer_get_length(bufferevent_get_input(bev));

	if (what & BEV_EVENT_CONNECTED) {	/* TLS handshake done */
		c->tls_up = true;
		auth_bind_cert(c);
		if (!conn_quota_sync(c))	/* bound by its certificate: its identity's max-connections */
			return;
		conn_timer_update(c);	/* auth-timeout may still apply (Auth), else the next deadline */
		log_debug("connection from %s: %s with %s", c->peer, SSL_get_version(bufferevent_openssl_get_ssl(bev)),
			  SSL_get_cipher_name(bufferevent_openssl_get_ssl(bev)));
		conn_process(c);	/* requests read ahead with the handshake's last flight (conn_tls_drain) */
		if (c->state == CONN_PEER_EOF)
			conn_finish(c);
		return;
	}
	if (c->tls && (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF)) && conn_serving(c) && conn_tls_failed(c))
		what = BEV_EVENT_ERROR;	/* logged */
	else if ((what & BEV_EVENT_EOF) && c->state == CONN_OPEN) {
		conn_set_state(c, CONN_PEER_EOF);	/* requests already sent still get replies */
		conn_process(c);
		if (c->state == CONN_PEER_EOF)
			conn_finish(c);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		log_info_rl("connection from %s did not read its last %zu bytes in %ds: closed", c->peer,
			    evbuffer_get_length(bufferevent_get_output(bev)), CONN_FLUSH_TIMEOUT_S);
	else if (left && conn_serving(c))
		log_info_rl("connection from %s closed in the middle of a frame (%zu bytes unread)", c->peer, left);
	else if (what & BEV_EVENT_ERROR && conn_serving(c))
		log_debug("connection from %s failed: %s", c->peer, evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	conn_kill(c);
}

/*
 * A plaintext client on the TLS port: answers in plaintext, as one Error
 * frame written straight to the socket (the TLS session never started),
 * and reads what it sent so that the close is a FIN, not a reset that
 * would discard the answer.
 */
static void conn_tls_plain_answer(struct conn *c)
{
	Timerd__Response rs = TIMERD__RESPONSE__INIT;
	Timerd__Error e = TIMERD__ERROR__INIT;
	uint8_t buf[512];
	int fd = bufferevent_getfd(c->bev);
	size_t n;

	e.code = TIMERD__ERROR_CODE__MALFORMED;
	e.message = (char *)"this port speaks TLS: connect with tls://HOST:PORT (timerctl --tls)";
	rs.event = true;
	rs.body_case = TIMERD__RESPONSE__BODY_ERROR;
	rs.error = &e;
	n = timerd__response__pack(&rs, buf + FRAME_HDR);
	frame_put_len(buf, (uint32_t)n);
	if (send(fd, buf, FRAME_HDR + n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		return;
	shutdown(fd, SHUT_WR);
	for (int i = 0; i < 16 && recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0; i++)
		;
}

/* Queued fatal error on a TLS connection, if any: logs it (what the peer did, what to do); true if there was one. */
static bool conn_tls_failed(struct conn *c)
{
	unsigned long e, first = 0;
	char buf[256];

	while ((e = bufferevent_get_openssl_error(c->bev)))
		if (!first)
			first = e;
	if (!first)
		return false;
	ERR_error_string_n(first, buf, sizeof(buf));
	ctr_add(&c->loop->ctr.errors, 1);
	if (!c->tls_up && ERR_GET_LIB(first) == ERR_LIB_SSL &&
	    (ERR_GET_REASON(first) == SSL_R_WRONG_VERSION_NUMBER || ERR_GET_REASON(first) == SSL_R_HTTP_REQUEST ||
	     ERR_GET_REASON(first) == SSL_R_PACKET_LENGTH_TOO_LONG || ERR_GET_REASON(first) == SSL_R_RECORD_LENGTH_MISMATCH ||
	     ERR_GET_REASON(first) == SSL_R_UNEXPECTED_RECORD))
	{
		log_info_rl("connection from %s: this port speaks TLS and the client sent plaintext (a timerd frame or "
			    "HTTP?): it should connect with tls://HOST:PORT (timerctl --tls) (%s)", c->peer, buf);
		conn_tls_plain_answer(c);
	}
	else if (!c->tls_up)
		log_info_rl("connection from %s: TLS handshake failed: %s", c->peer, buf);
	else
		log_info_rl("connection from %s: TLS error: %s", c->peer, buf);
	return true;
}

/*
 * Where c's fire events of this fire round go: behind held replies while
 * any wait (a watcher's fire must not overtake the reply to the Arm that
 * made it), unless it is a delivery and the held replies plus the credit
 * of c's subscriptions (the deliveries it may have in flight, each an ack
 * to come) stay under max-inflight; past that the delivery waits behind
 * them as before: a consumer acking deliveries while a commit is slow
 * would otherwise have more requests unanswered than its client's window
 * of max-inflight (libtimerd refuses the ack: TIMERD_EINFLIGHT). Nor
 * while a delivery put in held is still there (held_dlv_end): held
 * replies are released per batch, so the bound may clear while it waits
 * behind a later hold, and the next delivery, even its own redelivery,
 * would overtake it. With TLS, the output (the bufferevent encrypts and
 * coalesces); else c's event queue, which conn_flush_events writes when
 * the round ends. NULL: out of memory.
 */
static struct evbuffer *conn_event_out(struct conn *c, bool delivery)
{
	if (c->holding && (!delivery || c->hn + c->gsub_credit >= c->loop->lim.max_inflight ||
			   c->held_base < c->held_dlv_end))	/* an earlier delivery still in held */
		return c->held;
	if (c->tls)
		return bufferevent_get_output(c->bev);
	if (!c->evq && !(c->evq = evbuffer_new()))
		return NULL;
	return c->evq;	/* conn_push_event puts c on evq_conns once an event is in it */
}

void conn_push_event(struct conn *c, const uint8_t *frame, size_t len, bool delivery)
{
	struct evbuffer *out;

	if (c->sse) {
		http_sse_push(c, frame, len);
		return;
	}
	if (!conn_serving(c))
		return;
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) + conn_held(c) +
	    (c->evq ? evbuffer_get_length(c->evq) : 0) > c->loop->lim.max_output || !(out = conn_event_out(c, delivery))) {
		c->dropped++;
		ctr_add(&c->loop->ctr.fires_dropped, 1);
		return;
	}
	if (evbuffer_add(out, frame, len) < 0) {
		c->dropped++;
		ctr_add(&c->loop->ctr.fires_dropped, 1);
		return;
	}
	if (out == c->held && delivery)	/* later deliveries wait until this one is released */
		c->held_dlv_end = c->held_base + conn_held(c);
	if (out == c->evq && !c->evq_linked) {	/* first event of the round: c gets flushed at its end */
		c->evq_next = c->loop->evq_conns;
		c->loop->evq_conns = c;
		c->evq_linked = true;
	}
	c->out_total += len;
	ctr_add(&c->loop->ctr.bytes_out, len);
	ctr_add(&c->loop->ctr.fires_sent, 1);
}

/*
 * Writes the events c's queue took in this round, as conn_flush_batch
 * writes replies: at once, in one write, when nothing else is queued (no
 * EV_WRITE registration, no extra turn of the loop between a fire and the
 * consumer); what the socket does not take goes behind the output.
 */
static void conn_flush_evq(struct conn *c)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);

	if (c->state == CONN_DEAD) {	/* killed in this round: its events go nowhere */
		evbuffer_drain(c->evq, evbuffer_get_length(c->evq));
		return;
	}
	if (conn_serving(c) && !evbuffer_get_length(out))	/* a closing one flushes through its write callback */
		evbuffer_write(c->evq, bufferevent_getfd(c->bev));
	if (evbuffer_get_length(c->evq) && evbuffer_add_buffer(out, c->evq) < 0) {
		log_warn_rl("out of memory sending fire events to %s: closing it", c->peer);
		evbuffer_drain(c->evq, evbuffer_get_length(c->evq));
		conn_close_flush(c);
	}
	conn_drop_notice_if_drained(c);
}

void conn_flush_events(struct loop *l)
{
	struct conn *c;

	while ((c = l->evq_conns) != NULL) {	/* none is freed before: the reaper runs in its own callback */
		l->evq_conns = c->evq_next;
		c->evq_linked = false;
		conn_flush_evq(c);
	}
}

/* Stops reading, says goodbye, flushes, then closes c. */
void conn_shutdown(struct conn *c)
{
	Timerd__Response rs = TIMERD__RESPONSE__INIT;
	Timerd__Notice nt = TIMERD__NOTICE__INIT;

	if (!conn_serving(c))
		return;
	nt.kind = TIMERD__NOTICE__KIND__SHUTDOWN;
	nt.message = (char *)"timerd is shutting down: reconnect once it is back";
	rs.event = true;
	rs.body_case = TIMERD__RESPONSE__BODY_NOTICE;
	rs.notice = &nt;
	conn_send(c, &rs, false);
	conn_close_flush(c);
	conn_kill_if_flushed(c);
}

/* What the output does after bytes left it or were added: close, unpause, read on. */
static void conn_output_moved(struct conn *c)
{
	conn_kill_if_flushed(c);
	if (!conn_serving(c) || !conn_unpause(c))
		return;
	conn_process(c);	/* frames that arrived while paused are buffered */
	if (c->state == CONN_PEER_EOF)
		conn_finish(c);
}

/* Sends c's held output up to the first reply still waiting for a batch after durable. */
static void conn_release(struct conn *c, uint64_t durable)
{
	uint64_t upto;

	while (c->hn && c->holds[c->hhead].seq <= durable) {
		c->hhead = (c->hhead + 1) % c->hcap;
		c->hn--;
	}
	upto = c->hn ? c->holds[c->hhead].off : c->held_base + conn_held(c);
	if (upto > c->held_base) {
		size_t n = (size_t)(upto - c->held_base);

		/* through the loop's batch buffer: written at once if nothing else waits */
		if (evbuffer_remove_buffer(c->held, c->loop->batch, n) != (int)n) {
			log_warn_rl("out of memory sending held replies to %s: closing it", c->peer);
			evbuffer_drain(c->loop->batch, evbuffer_get_length(c->loop->batch));
			conn_kill(c);
			return;
		}
		c->held_base = upto;
		conn_flush_batch(c);
	}
	if (!c->hn)
		conn_holders_unlink(c);	/* nothing waits: new output goes straight out again */
	conn_output_moved(c);
}

void conn_release_durable(struct loop *l)
{
	uint64_t durable;
	struct conn *c, *next;

	if (!l->holders)
		return;
	durable = journal_durable(l);
	for (c = l->holders; c; c = next) {
		next = c->hold_next;
		if (c->state != CONN_DEAD && (!c->hn || c->holds[c->hhead].seq <= durable))
			conn_release(c, durable);
	}
}
