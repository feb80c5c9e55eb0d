/*
 * world.c -- a timerd server inside the fuzzing process (see world.h).
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/sockios.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "proto/frame.h"
#include "server/log.h"
#include "tests/fuzz/world.h"

/* Loop turns a settle may take before the server counts as hung. */
#define WORLD_MAX_TURNS 100000
/* Largest frame the server may send: a List page or a Stats reply fits well within. */
#define WORLD_MAX_RX_FRAME (FRAME_LIMIT_MAX + 4096u)

/* The fake clocks the engine reads. */
static int64_t world_mono(void *arg)
{
	return ((struct fuzz_world *)arg)->mono;
}

static int64_t world_real(void *arg)
{
	return ((struct fuzz_world *)arg)->real;
}

/* Once per process: the daemon's log at error level only, no SIGPIPE (as main.c). */
static void world_once(void)
{
	static bool done;
	char err[256];

	if (done)
		return;
	done = true;
	signal(SIGPIPE, SIG_IGN);
	if (log_open("stderr", LOG_LVL_ERR, err, sizeof(err)) < 0)
		fuzz_fail("log_open: %s", err);
}

/* Small limits: every bound is a few requests away. */
static void world_tighten(struct srv_config *c)
{
	c->max_frame = 1024;
	c->max_payload = 256;
	c->max_key = 32;
	c->max_topic = 32;
	c->max_inflight = 4;
	c->max_watches = 4;
	c->max_list = 8;
	c->max_output = 2048;
	c->max_fire_queue = 16;
	c->max_timers = 64;
}

/* Creates the manual engine the way srv_engine() configures the threaded one. */
static void world_engine(struct fuzz_world *w)
{
	const struct srv_config *c = &w->cfg;
	struct engine_clock clk = { .mono = world_mono, .real = world_real, .arg = w };
	struct engine_config ec = {
		.clock = &clk,
		.manual = true,
		.max_timers = c->max_timers,
		.max_key = c->max_key,
		.max_topic = c->max_topic,
		.max_payload = c->max_payload,
		.on_fire = fire_deliver,
		.fire_arg = w->srv,
	};
	int rc = engine_create(&ec, &w->srv->engine);

	if (rc < 0 || (rc = engine_start(w->srv->engine)) < 0)
		fuzz_fail("engine: %s", td_strerror(rc));
}

/* Opens the connection as srv_accept() and conn_open() do for an accepted socket. */
static void world_connect(struct fuzz_world *w, const struct fuzz_world_opts *o)
{
	struct loop_msg m = { .type = LOOP_MSG_CONN, .is_unix = !o->tcp, .peer_cred = !o->tcp };
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		fuzz_fail("socketpair: %s", strerror(errno));
	m.fd = sv[0];
	m.uid = o->root ? 0 : 1000;
	m.pid = getpid();
	snprintf(m.peer, sizeof(m.peer), "%s", o->tcp ? "127.0.0.1:5555" : "fuzz peer");
	/* relaxed: one thread */
	atomic_fetch_add_explicit(&w->srv->conns, 1, memory_order_relaxed);
	conn_open(w->loop, &m);
	for (uint32_t i = 0; i < w->loop->nslots && !w->conn; i++)
		w->conn = w->loop->slots[i];
	if (!w->conn)
		fuzz_fail("conn_open made no connection");
	w->handle = w->conn->handle;
	w->peer = sv[1];
}

/* Sets up the server and the connection. */
void fuzz_world_open(struct fuzz_world *w, const struct fuzz_world_opts *o)
{
	char err[512];

	world_once();
	memset(w, 0, sizeof(*w));
	settings_init(&w->cfg);
	w->cfg.stats = false;
	if (o->tight)
		world_tighten(&w->cfg);
	if (settings_check(&w->cfg, err, sizeof(err)) < 0)
		fuzz_fail("settings: %s", err);
	w->mono = 1000 * ENGINE_NS_PER_S;
	w->real = INT64_C(1700000000) * ENGINE_NS_PER_S;
	if (!(w->srv = calloc(1, sizeof(*w->srv))))
		fuzz_fail("out of memory");
	w->srv->cfg = &w->cfg;
	snprintf(w->srv->probe_err, sizeof(w->srv->probe_err), "this server runs inside a fuzzer: it attaches no probes");
	if (watch_reg_init(&w->srv->watch) < 0)
		fuzz_fail("watch_reg_init");
	world_engine(w);
	w->srv->start_ns = engine_now(w->srv->engine);
	w->srv->nloops = 1;
	if (!(w->srv->loops = calloc(1, sizeof(*w->srv->loops))))
		fuzz_fail("out of memory");
	w->loop = &w->srv->loops[0];
	if (loop_init(w->srv, w->loop, 0, err, sizeof(err)) < 0)
		fuzz_fail("loop_init: %s", err);
	world_connect(w, o);
}

/* Tears everything down. */
void fuzz_world_close(struct fuzz_world *w)
{
	srv_destroy(w->srv);
	settings_free(&w->cfg);
	close(w->peer);
	free(w->rx);
	free(w->ids);
	memset(w, 0, sizeof(*w));
}

/* Remembers the request id of a reply. */
static void world_push_id(struct fuzz_world *w, uint64_t id)
{
	if (w->replies == w->idcap) {
		size_t cap = w->idcap ? w->idcap * 2 : 64;
		uint64_t *v = realloc(w->ids, cap * sizeof(*v));

		if (!v)
			fuzz_fail("out of memory");
		w->ids = v;
		w->idcap = cap;
	}
	w->ids[w->replies] = id;
}

/* Checks one Response the server sent. */
static void world_response(struct fuzz_world *w, const Timerd__Response *rs)
{
	if (rs->body_case == TIMERD__RESPONSE__BODY__NOT_SET)
		fuzz_fail("a Response without a body");
	if (rs->body_case == TIMERD__RESPONSE__BODY_ERROR &&
	    (!rs->error || !rs->error->message || !*rs->error->message || !rs->error->code))
		fuzz_fail("an Error without a code or a message");
	if (rs->event) {
		w->events++;
		if (rs->body_case == TIMERD__RESPONSE__BODY_ERROR &&
		    rs->error->code == TIMERD__ERROR_CODE__FRAME_TOO_LARGE)
			w->too_large++;
		return;
	}
	if (rs->body_case == TIMERD__RESPONSE__BODY_FIRE || rs->body_case == TIMERD__RESPONSE__BODY_NOTICE)
		fuzz_fail("a fire or notice not flagged as an event");
	world_push_id(w, rs->id);
	w->replies++;
}

/* Parses whole frames at buf; returns the bytes consumed. */
size_t fuzz_world_parse(struct fuzz_world *w, const uint8_t *buf, size_t len)
{
	size_t off = 0;

	while (len - off >= FRAME_HDR) {
		uint32_t n = frame_len(buf + off);
		Timerd__Response *rs;

		if (n > WORLD_MAX_RX_FRAME)
			fuzz_fail("the server sent a frame of %u bytes", n);
		if (len - off - FRAME_HDR < n)
			break;
		if (!(rs = timerd__response__unpack(NULL, n, buf + off + FRAME_HDR)))
			fuzz_fail("the server sent a %u-byte frame that is not a Response", n);
		world_response(w, rs);
		timerd__response__free_unpacked(rs, NULL);
		off += FRAME_HDR + n;
	}
	return off;
}

/* Reads what the server sent; true if anything came (or EOF). */
static bool world_read(struct fuzz_world *w)
{
	bool got = false;
	ssize_t r;

	while (!w->peer_eof) {
		if (w->rxcap - w->rxlen < 65536) {
			size_t cap = w->rxcap ? w->rxcap * 2 : 131072;
			uint8_t *v = realloc(w->rx, cap);

			if (!v)
				fuzz_fail("out of memory");
			w->rx = v;
			w->rxcap = cap;
		}
		r = recv(w->peer, w->rx + w->rxlen, w->rxcap - w->rxlen, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (r < 0)
			fuzz_fail("recv: %s", strerror(errno));
		got = true;
		if (r == 0)
			w->peer_eof = true;
		w->rxlen += (size_t)r;
	}
	if (got) {
		size_t used = fuzz_world_parse(w, w->rx, w->rxlen);

		memmove(w->rx, w->rx + used, w->rxlen - used);
		w->rxlen -= used;
	}
	return got;
}

/* One turn: the server's loop runs what is ready, the client reads. */
static bool world_turn(struct fuzz_world *w)
{
	if (event_base_loop(w->loop->base, EVLOOP_NONBLOCK) < 0)
		fuzz_fail("event_base_loop failed");
	w->conn = loop_conn(w->loop, w->handle);
	return world_read(w);
}

/* True if the server has nothing left to do for the connection. */
static bool world_idle(struct fuzz_world *w)
{
	int queued = 0;

	if (w->peer_eof)
		return true;
	if (!w->conn)
		return false;	/* freed: its EOF is still to be read */
	if (evbuffer_get_length(bufferevent_get_output(w->conn->bev)))
		return false;
	if (w->conn->state == CONN_CLOSING || w->conn->read_paused)
		return !w->conn->read_paused;
	return ioctl(w->peer, SIOCOUTQ, &queued) < 0 || queued == 0;
}

/* Aborts, describing the connection's state. */
static void world_stuck(struct fuzz_world *w, const char *what)
{
	int queued = -1;

	ioctl(w->peer, SIOCOUTQ, &queued);
	if (!w->conn)
		fuzz_fail("%s in %d loop turns (connection freed, EOF not seen)", what, WORLD_MAX_TURNS);
	fuzz_fail("%s in %d loop turns: state %d, read_paused %d, output %zu bytes, "
		  "input %zu bytes, %d bytes unread in the socket", what, WORLD_MAX_TURNS, (int)w->conn->state,
		  w->conn->read_paused, evbuffer_get_length(bufferevent_get_output(w->conn->bev)),
		  evbuffer_get_length(bufferevent_get_input(w->conn->bev)), queued);
}

/* Runs until neither side has anything to do. */
void fuzz_world_settle(struct fuzz_world *w)
{
	int quiet = 0;

	for (int i = 0; i < WORLD_MAX_TURNS; i++) {
		if (!world_turn(w) && world_idle(w) && ++quiet >= 2)
			return;
		if (!world_idle(w))
			quiet = 0;
	}
	world_stuck(w, "the server made no progress");
}

/* Writes bytes to the server. */
void fuzz_world_write(struct fuzz_world *w, const uint8_t *p, size_t n)
{
	for (int i = 0; n && i < WORLD_MAX_TURNS; i++) {
		ssize_t r = send(w->peer, p, n, MSG_NOSIGNAL);

		if (r > 0) {
			p += r;
			n -= (size_t)r;
		} else if (r < 0 && (errno == EPIPE || errno == ECONNRESET)) {
			return;		/* the server closed the connection */
		} else if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			fuzz_fail("send: %s", strerror(errno));
		} else {
			world_turn(w);
		}
	}
	if (n)
		world_stuck(w, "the server read nothing");
}

/* Moves the clocks forward, fires what is due, delivers it. */
void fuzz_world_advance(struct fuzz_world *w, int64_t ns)
{
	w->mono += ns;
	w->real += ns;
	if (engine_dispatch(w->srv->engine) < 0)
		fuzz_fail("engine_dispatch failed");
	fuzz_world_settle(w);
}

/* Shuts the client's writing side; runs until the server closed the connection. */
void fuzz_world_finish(struct fuzz_world *w)
{
	if (shutdown(w->peer, SHUT_WR) < 0)
		fuzz_fail("shutdown: %s", strerror(errno));
	for (int i = 0; i < WORLD_MAX_TURNS && !w->peer_eof; i++)
		world_turn(w);
	if (!w->peer_eof)
		world_stuck(w, "the server did not close the connection after the client's EOF");
	if (w->rxlen)
		fuzz_fail("the server's last frame was cut short (%zu bytes left)", w->rxlen);
}
