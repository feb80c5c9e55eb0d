/*
 * test-conn-lifetime.c -- a connection's lifetime against everything that
 * can end it: the peer closing while its frames are being handled, a fatal
 * error in the middle of a batch, a close while a fire is queued for it or
 * in the same loop turn as the delivery, and the loop stopping while
 * connections are flushing, reading a partial frame or half-closed.
 *
 * The server runs inside the test: the daemon's own struct srv with one
 * loop whose event base the test turns (no thread), a manual engine on a
 * fake clock, and connections made by conn_open() on socketpairs; the test
 * is every client. Built with ASan, any use of a freed connection, double
 * free or leak fails the test; without it, the state and count checks do.
 * (The threaded daemon is covered by the last test, through timerd.)
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "proto/frame.h"
#include "server/log.h"
#include "server/srv.h"
#include "test-server-util.h"

/* How long any wait in this file may take before the test fails. */
#define LT_DEADLINE_NS (10 * 1000000000LL)
#define LT_MAX_PEERS 64

/* One client: its end of the socketpair and what it has read. */
struct lt_peer {
	int fd;
	uint64_t handle;
	bool reading;		/* the test drains its socket every turn */
	bool eof;		/* the server closed the connection */
	uint8_t *rx;
	size_t rxlen, rxcap;
	unsigned pongs, fires, shutdowns, too_large, other;
};

/* The in-process server. */
static struct {
	struct srv_config cfg;
	struct srv *srv;
	struct loop *loop;
	int64_t mono, real;
	struct lt_peer peers[LT_MAX_PEERS];
	unsigned npeers;
} W;

/* The fake clocks the engine reads. */
static int64_t lt_mono(void *arg)
{
	(void)arg;
	return W.mono;
}

/* The fake wall clock. */
static int64_t lt_real(void *arg)
{
	(void)arg;
	return W.real;
}

/* Sets up the server (small limits, max_output bytes of output, if max_output > 0) with no connection yet. */
static void lt_open(uint64_t max_output)
{
	struct engine_clock clk = { .mono = lt_mono, .real = lt_real };
	struct engine_config ec = { .clock = &clk, .manual = true };
	char err[512];

	signal(SIGPIPE, SIG_IGN);
	ck_assert_int_eq(log_open("stderr", LOG_LVL_ERR, err, sizeof(err)), 0);
	memset(&W, 0, sizeof(W));
	settings_init(&W.cfg);
	W.cfg.stats = false;
	if (max_output) {
		W.cfg.max_frame = 2048;
		W.cfg.max_payload = 256;
		W.cfg.max_key = 32;
		W.cfg.max_topic = 32;
		W.cfg.max_output = max_output;
	}
	ck_assert_msg(settings_check(&W.cfg, err, sizeof(err)) == 0, "settings: %s", err);
	W.mono = 1000 * ENGINE_NS_PER_S;
	W.real = INT64_C(1700000000) * ENGINE_NS_PER_S;
	ck_assert_ptr_nonnull(W.srv = calloc(1, sizeof(*W.srv)));
	W.srv->cfg = &W.cfg;
	ck_assert_int_eq(watch_reg_init(&W.srv->watch), 0);
	ec.max_timers = W.cfg.max_timers;
	ec.max_key = W.cfg.max_key;
	ec.max_topic = W.cfg.max_topic;
	ec.max_payload = W.cfg.max_payload;
	ec.on_fire = fire_deliver;
	ec.fire_arg = W.srv;
	ck_assert_int_eq(engine_create(&ec, &W.srv->engine), 0);
	W.srv->start_ns = engine_now(W.srv->engine);
	ck_assert_int_eq(engine_start(W.srv->engine), 0);
	W.srv->nloops = 1;
	ck_assert_ptr_nonnull(W.srv->loops = calloc(1, sizeof(*W.srv->loops)));
	W.loop = &W.srv->loops[0];
	ck_assert_msg(loop_init(W.srv, W.loop, 0, err, sizeof(err)) == 0, "loop_init: %s", err);
}

/* Tears the server down (frees what is left) and closes the clients. */
static void lt_close(void)
{
	srv_destroy(W.srv);
	settings_free(&W.cfg);
	for (unsigned i = 0; i < W.npeers; i++) {
		if (W.peers[i].fd >= 0)
			close(W.peers[i].fd);
		free(W.peers[i].rx);
	}
	log_close();
}

/* A new connection; sndbuf > 0 shrinks both socket buffers so output backs up. */
static struct lt_peer *lt_connect(int sndbuf)
{
	struct loop_msg m = { .type = LOOP_MSG_CONN, .is_unix = true, .peer_cred = true, .uid = 1000 };
	struct lt_peer *p = &W.peers[W.npeers++];
	struct loop *l = W.loop;
	uint32_t slot;
	int sv[2];

	ck_assert_uint_le(W.npeers, LT_MAX_PEERS);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	if (sndbuf > 0) {
		setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
		setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &sndbuf, sizeof(sndbuf));
	}
	m.fd = sv[0];
	m.pid = getpid();
	snprintf(m.peer, sizeof(m.peer), "peer %u", W.npeers - 1);
	/* relaxed: one thread */
	atomic_fetch_add_explicit(&W.srv->conns, 1, memory_order_relaxed);
	slot = l->nfree ? l->free_stack[l->nfree - 1] : l->nslots;	/* the slot conn_open takes */
	conn_open(l, &m);
	ck_assert_uint_lt(slot, l->nslots);
	ck_assert_ptr_nonnull(l->slots[slot]);
	memset(p, 0, sizeof(*p));
	p->fd = sv[1];
	p->handle = l->slots[slot]->handle;
	p->reading = true;
	return p;
}

/* The server's connection for p, or NULL once it is dead or freed. */
static struct conn *lt_conn(const struct lt_peer *p)
{
	return loop_conn(W.loop, p->handle);
}

/* Counts one Response a client got. */
static void lt_response(struct lt_peer *p, const Timerd__Response *rs)
{
	if (rs->body_case == TIMERD__RESPONSE__BODY_PONG)
		p->pongs++;
	else if (rs->body_case == TIMERD__RESPONSE__BODY_FIRE)
		p->fires++;
	else if (rs->body_case == TIMERD__RESPONSE__BODY_NOTICE && rs->notice->kind == TIMERD__NOTICE__KIND__SHUTDOWN)
		p->shutdowns++;
	else if (rs->body_case == TIMERD__RESPONSE__BODY_ERROR && rs->error->code == TIMERD__ERROR_CODE__FRAME_TOO_LARGE)
		p->too_large++;
	else
		p->other++;
}

/* Parses the whole frames p has read. */
static void lt_parse(struct lt_peer *p)
{
	size_t off = 0;

	while (p->rxlen - off >= FRAME_HDR) {
		uint32_t n = frame_len(p->rx + off);
		Timerd__Response *rs;

		if (p->rxlen - off - FRAME_HDR < n)
			break;
		rs = timerd__response__unpack(NULL, n, p->rx + off + FRAME_HDR);
		ck_assert_msg(rs != NULL, "the server sent a %u-byte frame that is not a Response", n);
		lt_response(p, rs);
		timerd__response__free_unpacked(rs, NULL);
		off += FRAME_HDR + n;
	}
	memmove(p->rx, p->rx + off, p->rxlen - off);
	p->rxlen -= off;
}

/* Reads what the server sent p (nonblocking). */
static void lt_read(struct lt_peer *p)
{
	ssize_t r;

	while (p->fd >= 0 && !p->eof) {
		if (p->rxcap - p->rxlen < 65536) {
			p->rxcap = p->rxcap ? p->rxcap * 2 : 131072;
			ck_assert_ptr_nonnull(p->rx = realloc(p->rx, p->rxcap));
		}
		r = recv(p->fd, p->rx + p->rxlen, p->rxcap - p->rxlen, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (r <= 0) {
			p->eof = true;	/* EOF, or ECONNRESET: the server closed it */
			break;
		}
		p->rxlen += (size_t)r;
	}
	lt_parse(p);
}

/* One turn: the server's loop runs what is ready, the reading clients read. */
static void lt_turn(void)
{
	ck_assert_int_ge(event_base_loop(W.loop->base, EVLOOP_NONBLOCK), 0);
	for (unsigned i = 0; i < W.npeers; i++)
		if (W.peers[i].reading)
			lt_read(&W.peers[i]);
}

/* Connections the loop still holds (open, closing or dead-not-yet-freed). */
static unsigned lt_nconns(void)
{
	return atomic_load_explicit(&W.loop->nconns, memory_order_relaxed);
}

/* Turns the loop until cond() holds; fails with what it saw after the deadline. */
static void lt_until(bool (*cond)(void), const char *what)
{
	int64_t end = tsd_now() + LT_DEADLINE_NS;

	while (!cond()) {
		if (tsd_now() > end)
			ck_abort_msg("timed out waiting for %s: %u connections left", what, lt_nconns());
		lt_turn();
		usleep(100);
	}
}

/* Sends bytes from p (the socket must take them all). */
static void lt_send(struct lt_peer *p, const void *buf, size_t n)
{
	ck_assert_int_eq(send(p->fd, buf, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* Appends a framed request to buf at *off. */
static void lt_put(uint8_t *buf, size_t cap, size_t *off, const Timerd__Request *rq)
{
	size_t n = timerd__request__get_packed_size(rq);

	ck_assert_uint_le(*off + FRAME_HDR + n, cap);
	frame_put_len(buf + *off, (uint32_t)timerd__request__pack(rq, buf + *off + FRAME_HDR));
	*off += FRAME_HDR + n;
}

/* Appends a Ping with datalen bytes of data. */
static void lt_put_ping(uint8_t *buf, size_t cap, size_t *off, uint64_t id, size_t datalen)
{
	static uint8_t data[1024];
	Timerd__Request rq = TIMERD__REQUEST__INIT;
	Timerd__Ping pg = TIMERD__PING__INIT;

	rq.id = id;
	rq.body_case = TIMERD__REQUEST__BODY_PING;
	rq.ping = &pg;
	pg.data.data = data;
	pg.data.len = datalen;
	lt_put(buf, cap, off, &rq);
}

/* p watches topic (NULL: every topic); waits for the reply. */
static void lt_watch(struct lt_peer *p, const char *topic)
{
	Timerd__Request rq = TIMERD__REQUEST__INIT;
	Timerd__Watch wt = TIMERD__WATCH__INIT;
	uint8_t buf[256];
	size_t off = 0;
	unsigned before = p->other;

	rq.id = 7;
	rq.body_case = TIMERD__REQUEST__BODY_WATCH;
	rq.watch = &wt;
	wt.topic = (char *)(topic ? topic : "");
	wt.all = !topic;
	lt_put(buf, sizeof(buf), &off, &rq);
	lt_send(p, buf, off);
	for (int64_t end = tsd_now() + LT_DEADLINE_NS; p->other == before; usleep(100)) {
		ck_assert_msg(tsd_now() < end, "no reply to Watch");
		lt_turn();
	}
}

/* p arms a one-shot timer on topic "t" due in 1 ms, with notify; waits for the reply. */
static void lt_arm(struct lt_peer *p, bool notify)
{
	Timerd__Request rq = TIMERD__REQUEST__INIT;
	Timerd__Arm arm = TIMERD__ARM__INIT;
	uint8_t buf[256];
	size_t off = 0;
	unsigned before = p->other;

	rq.id = 9;
	rq.body_case = TIMERD__REQUEST__BODY_ARM;
	rq.arm = &arm;
	arm.when_case = TIMERD__ARM__WHEN_AFTER_NS;
	arm.after_ns = 1000000;
	arm.topic = (char *)"t";
	arm.notify = notify;
	lt_put(buf, sizeof(buf), &off, &rq);
	lt_send(p, buf, off);
	for (int64_t end = tsd_now() + LT_DEADLINE_NS; p->other == before; usleep(100)) {
		ck_assert_msg(tsd_now() < end, "no reply to Arm");
		lt_turn();
	}
}

/* Moves the clock on and fires what is due: the fires are queued to the loop, not yet delivered. */
static void lt_fire_due(void)
{
	W.mono += ENGINE_NS_PER_S;
	W.real += ENGINE_NS_PER_S;
	ck_assert_int_ge(engine_dispatch(W.srv->engine), 0);
}

/* A loop counter. */
static uint64_t lt_ctr(_Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

/* The client closes its end at once. */
static void lt_hangup(struct lt_peer *p)
{
	close(p->fd);
	p->fd = -1;
	p->reading = false;
}

/* True once the loop holds no connection. */
static bool lt_none_left(void)
{
	return lt_nconns() == 0;
}

/* True once the loop holds one connection (the test's long-lived one). */
static bool lt_none_left_but_one(void)
{
	return lt_nconns() == 1;
}

/*
 * The loop's event base applies its epoll changes at its next dispatch
 * (EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST, server/loop.c): a connection made
 * by lt_connect is registered with epoll in the loop's next turn, after
 * the loop's eventfd, so if the test stops the loop before that turn, the
 * stop comes first in the turn's ready list and the connection is shut
 * down before it read what its client sent. A test that means "the
 * server has read this" waits for it with these.
 */
static struct lt_peer *lt_waited;

/* True once the server has read lt_waited's EOF (or freed its connection). */
static bool lt_saw_eof(void)
{
	struct conn *c = lt_conn(lt_waited);

	return !c || c->state != CONN_OPEN;
}

/* True once lt_waited's connection stopped reading: its unread output is over the limit. */
static bool lt_backed_up(void)
{
	struct conn *c = lt_conn(lt_waited);

	return c && c->read_paused;
}

/* Frames, then one over max-frame, then more frames, all in one write. */
static size_t lt_batch_with_bad_frame(uint8_t *buf, size_t cap)
{
	size_t off = 0;

	for (uint64_t i = 1; i <= 20; i++)
		lt_put_ping(buf, cap, &off, i, 16);
	frame_put_len(buf + off, 1u << 20);	/* over max-frame */
	off += FRAME_HDR;
	for (uint64_t i = 21; i <= 30; i++)
		lt_put_ping(buf, cap, &off, i, 16);
	return off;
}

/*
 * Close during read: a fatal error in the middle of a batch (the frames
 * before it answered, the Error sent, then closed), the same with the
 * peer's EOF in the same read, and peers that close while the server is
 * handling their frames and writing the replies.
 */
START_TEST(test_close_during_read)
{
	static uint8_t buf[256 * 1024];
	struct lt_peer *a, *b, *c, *d;
	size_t n;

	lt_open(64 * 1024);
	/* a: fatal mid-batch; it reads everything */
	a = lt_connect(0);
	n = lt_batch_with_bad_frame(buf, sizeof(buf));
	lt_send(a, buf, n);
	/* b: the same, and its EOF right behind the batch */
	b = lt_connect(0);
	lt_send(b, buf, n);
	shutdown(b->fd, SHUT_WR);
	/* c: watches, sends pings and hangs up before the server reads them */
	c = lt_connect(0);
	lt_watch(c, NULL);
	lt_watch(c, "t");
	n = 0;
	for (uint64_t i = 1; i <= 200; i++)
		lt_put_ping(buf, sizeof(buf), &n, i, 1000);
	lt_send(c, buf, 64 * 1024);
	lt_hangup(c);
	/* d: small buffers, so the fatal error leaves output to flush; it reads only later */
	d = lt_connect(4096);
	d->reading = false;
	n = 0;
	for (uint64_t i = 1; i <= 20; i++)
		lt_put_ping(buf, sizeof(buf), &n, i, 1000);
	frame_put_len(buf + n, 1u << 20);
	n += FRAME_HDR;
	lt_send(d, buf, n);
	for (int i = 0; i < 200; i++)
		lt_turn();
	ck_assert_ptr_nonnull(lt_conn(d));
	ck_assert_int_eq(lt_conn(d)->state, CONN_CLOSING);
	d->reading = true;
	lt_until(lt_none_left, "every connection to be freed");
	lt_read(a);
	lt_read(b);
	ck_assert_uint_eq(a->pongs, 20);
	ck_assert_uint_eq(a->too_large, 1);
	ck_assert(a->eof);
	ck_assert_uint_eq(b->pongs, 20);
	ck_assert_uint_eq(b->too_large, 1);
	ck_assert(b->eof);
	ck_assert_uint_eq(d->too_large, 1);
	ck_assert(d->eof);
	ck_assert_uint_eq(atomic_load_explicit(&W.srv->conns, memory_order_relaxed), 0);
	ck_assert_uint_eq(atomic_load_explicit(&W.srv->watchers, memory_order_relaxed), 0);
	lt_close();
}
END_TEST

/*
 * Close during fire delivery: fires queued for connections that die
 * before the loop delivers them (the owner's fire is orphaned, the
 * watchers get nothing), and connections that hang up in the same loop
 * turn in which their fires are delivered.
 */
START_TEST(test_close_during_fire)
{
	struct lt_peer *owner, *w1, *w2, *live;
	uint64_t sent;

	lt_open(0);
	owner = lt_connect(0);
	w1 = lt_connect(0);
	w2 = lt_connect(0);
	live = lt_connect(0);
	lt_watch(w1, "t");
	lt_watch(w2, NULL);
	lt_watch(live, "t");
	lt_arm(owner, true);
	lt_fire_due();		/* queued to the loop, not delivered */
	/* a callback earlier in the turn decides they die */
	conn_kill(lt_conn(owner));
	conn_kill(lt_conn(w1));
	conn_kill(lt_conn(w2));
	lt_until(lt_none_left_but_one, "the three killed connections to be freed");
	for (int64_t end = tsd_now() + LT_DEADLINE_NS; !live->fires; usleep(100)) {
		ck_assert_msg(tsd_now() < end, "the live watcher got no fire");
		lt_turn();
	}
	ck_assert_uint_eq(lt_ctr(&W.loop->ctr.fires_orphaned), 1);
	ck_assert_uint_eq(lt_ctr(&W.loop->ctr.fires_sent), 1);
	ck_assert_uint_eq(owner->fires + w1->fires + w2->fires, 0);

	/*
	 * Many watchers and an owner hang up, (0) just after their fires are
	 * queued: the loop delivers, then reads their EOFs in the same turn;
	 * (1) just before: the loop reads the EOFs first, and the fires come
	 * in the same turn while the connections are dead but not yet freed
	 * (epoll reports ready descriptors in the order they became ready).
	 * The live watcher gets every fire.
	 */
	for (int round = 0; round < 2; round++) {
		unsigned first = W.npeers;
		uint64_t orphaned;

		owner = lt_connect(0);
		for (int i = 0; i < 16; i++)
			lt_watch(lt_connect(0), i % 2 ? "t" : NULL);
		lt_arm(owner, true);
		sent = lt_ctr(&W.loop->ctr.fires_sent);
		orphaned = lt_ctr(&W.loop->ctr.fires_orphaned);
		if (round == 0)
			lt_fire_due();
		for (unsigned i = first; i < W.npeers; i++)
			lt_hangup(&W.peers[i]);
		if (round == 1)
			lt_fire_due();
		lt_until(lt_none_left_but_one, "the hung-up connections to be freed");
		sent = lt_ctr(&W.loop->ctr.fires_sent) - sent;
		orphaned = lt_ctr(&W.loop->ctr.fires_orphaned) - orphaned;
		ck_assert_msg(sent == (round ? 1u : 18u) && orphaned == (round ? 1u : 0u),
			      "round %d: %llu fires written, %llu orphaned", round, (unsigned long long)sent,
			      (unsigned long long)orphaned);
	}
	ck_assert_uint_eq(atomic_load_explicit(&W.srv->watchers, memory_order_relaxed), 1);
	lt_close();
}
END_TEST

/* Starts the loop's stop as srv_run does. */
static void lt_stop(void)
{
	loop_post(W.loop, &W.loop->stop_msg);
}

/*
 * Close during shutdown: the loop stops while one connection flushes a
 * large output, one holds a partial frame, one is half-closed, one is
 * closing after a fatal error and one is dead but not yet freed. Every
 * reading client gets the Notice SHUTDOWN; the loop exits when the last
 * connection is freed, well before its grace deadline.
 */
START_TEST(test_close_during_shutdown)
{
	static uint8_t buf[256 * 1024];
	struct lt_peer *flush, *partial, *half, *fatal, *dead;
	int64_t t0;
	size_t n = 0;

	lt_open(64 * 1024);
	flush = lt_connect(4096);
	flush->reading = false;
	for (uint64_t i = 1; i <= 100; i++)
		lt_put_ping(buf, sizeof(buf), &n, i, 1000);
	lt_send(flush, buf, n);
	partial = lt_connect(0);
	lt_send(partial, "\0\0\0\100abcdefgh", 12);
	fatal = lt_connect(4096);
	fatal->reading = false;
	n = 0;
	for (uint64_t i = 1; i <= 20; i++)
		lt_put_ping(buf, sizeof(buf), &n, i, 1000);
	frame_put_len(buf + n, 1u << 20);
	n += FRAME_HDR;
	lt_send(fatal, buf, n);
	dead = lt_connect(0);
	for (int i = 0; i < 200; i++)
		lt_turn();
	ck_assert_ptr_nonnull(lt_conn(flush));
	ck_assert(lt_conn(flush)->read_paused);
	ck_assert_ptr_nonnull(lt_conn(fatal));
	ck_assert_int_eq(lt_conn(fatal)->state, CONN_CLOSING);
	half = lt_connect(0);
	n = 0;
	for (uint64_t i = 1; i <= 3; i++)
		lt_put_ping(buf, sizeof(buf), &n, i, 10);
	lt_send(half, buf, n);
	shutdown(half->fd, SHUT_WR);
	lt_waited = half;
	lt_until(lt_saw_eof, "the half-closed connection's pings and EOF to be read");
	conn_kill(lt_conn(dead));	/* dead, still in its slot when the stop comes */
	lt_stop();
	t0 = tsd_now();
	flush->reading = true;
	fatal->reading = true;
	while (!event_base_got_exit(W.loop->base)) {
		ck_assert_msg(tsd_now() - t0 < 1500000000LL, "the loop did not exit 1.5 s after the stop: %u connections left",
			      lt_nconns());
		lt_turn();
		usleep(100);
	}
	ck_assert_uint_eq(lt_nconns(), 0);
	for (unsigned i = 0; i < W.npeers; i++)
		lt_read(&W.peers[i]);
	ck_assert_uint_gt(flush->pongs, 0);	/* what was answered before the stop; the rest is not read */
	ck_assert_uint_eq(flush->shutdowns, 1);
	ck_assert_uint_eq(partial->shutdowns, 1);
	ck_assert_uint_eq(fatal->too_large, 1);
	ck_assert_uint_eq(fatal->shutdowns, 0);
	ck_assert_uint_eq(half->pongs, 3);
	ck_assert_uint_le(half->shutdowns, 1);
	ck_assert_uint_eq(dead->pongs + dead->shutdowns, 0);
	for (unsigned i = 0; i < W.npeers; i++)
		ck_assert_msg(W.peers[i].eof, "peer %u was not closed", i);
	lt_close();
}
END_TEST

/* The stop's grace deadline ends a connection whose client never reads; the teardown frees it. */
START_TEST(test_shutdown_deadline)
{
	static uint8_t buf[256 * 1024];
	struct lt_peer *stuck;
	int64_t t0;
	size_t n = 0;

	lt_open(64 * 1024);
	stuck = lt_connect(4096);
	stuck->reading = false;
	for (uint64_t i = 1; i <= 100; i++)
		lt_put_ping(buf, sizeof(buf), &n, i, 1000);
	lt_send(stuck, buf, n);
	lt_waited = stuck;
	lt_until(lt_backed_up, "the stuck connection's output to back up");
	lt_connect(0);
	lt_stop();
	t0 = tsd_now();
	while (!event_base_got_exit(W.loop->base)) {
		ck_assert_msg(tsd_now() - t0 < LT_DEADLINE_NS, "the loop did not exit at its grace deadline");
		lt_turn();
		usleep(1000);
	}
	ck_assert_uint_eq(lt_nconns(), 1);
	ck_assert_ptr_nonnull(lt_conn(stuck));
	ck_assert_int_eq(lt_conn(stuck)->state, CONN_CLOSING);
	lt_close();	/* loop_destroy frees it; under ASan a leak fails here */
}
END_TEST

/* A blocking Unix stream connection to the daemon. */
static int lt_dial(const struct tsd *d)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", d->sock);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	return fd;
}

/* Writes a framed request to fd (blocking). */
static void lt_dsend(int fd, const Timerd__Request *rq)
{
	uint8_t buf[2048];
	size_t off = 0;

	lt_put(buf, sizeof(buf), &off, rq);
	ck_assert_int_eq(send(fd, buf, off, MSG_NOSIGNAL), (ssize_t)off);
}

/*
 * The threaded daemon: watchers and 100 notify timers firing every 5 ms to
 * connections that hang up at different points, then SIGTERM while clients
 * are not reading, hold a partial frame, or are half-closed. timerd must
 * exit 0 (under ASan/TSan: no error, no leak, no race).
 */
START_TEST(test_daemon_churn)
{
	Timerd__Request rq = TIMERD__REQUEST__INIT;
	Timerd__Arm arm = TIMERD__ARM__INIT;
	Timerd__Watch wt = TIMERD__WATCH__INIT;
	struct tsd d;
	int keep[6];

	tsd_start(&d, (const char *[]){ "--threads", "2", "--max-frame", "4KiB", "--max-payload", "1KiB",
				"--max-key", "64", "--max-topic", "64", "--max-output", "8KiB", NULL });
	arm.when_case = TIMERD__ARM__WHEN_AFTER_NS;
	arm.after_ns = 100000;
	arm.period_ns = 5000000;
	arm.topic = (char *)"t";
	arm.notify = true;
	wt.topic = (char *)"t";
	for (int round = 0; round < 200; round++) {
		int fd = lt_dial(&d);

		rq.id = (uint64_t)round + 1;
		rq.body_case = round % 2 ? TIMERD__REQUEST__BODY_ARM : TIMERD__REQUEST__BODY_WATCH;
		rq.arm = round % 2 ? &arm : NULL;
		rq.watch = round % 2 ? NULL : &wt;
		wt.all = round % 3 == 0;
		lt_dsend(fd, &rq);
		if (round % 4 == 0)
			usleep(200);	/* let some fires reach it */
		close(fd);
	}
	for (int i = 0; i < 6; i++) {
		keep[i] = lt_dial(&d);
		rq.id = 1;
		rq.body_case = TIMERD__REQUEST__BODY_WATCH;
		rq.watch = &wt;
		rq.arm = NULL;
		wt.all = true;
		lt_dsend(keep[i], &rq);
	}
	ck_assert_int_eq(send(keep[0], "\0\0\0\100abc", 7, MSG_NOSIGNAL), 7);	/* partial frame */
	shutdown(keep[1], SHUT_WR);						/* half-closed */
	usleep(20000);		/* fires pile up for the ones that never read */
	ck_assert_int_eq(tsd_stop(&d), 0);
	for (int i = 0; i < 6; i++)
		close(keep[i]);
}
END_TEST

/* The test suite. */
static Suite *lt_suite(void)
{
	Suite *s = suite_create("conn-lifetime");
	TCase *tc = tcase_create("lifetime");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_close_during_read);
	tcase_add_test(tc, test_close_during_fire);
	tcase_add_test(tc, test_close_during_shutdown);
	tcase_add_test(tc, test_shutdown_deadline);
	tcase_add_test(tc, test_daemon_churn);
	suite_add_tcase(s, tc);
	return s;
}

/* Runs the suite; non-zero if a test failed. */
int main(void)
{
	SRunner *sr = srunner_create(lt_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
