/*
 * sync.c -- libtimerd's blocking API: one request at a time on a blocking
 * socket with poll() deadlines; events that arrive meanwhile are queued.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "client/internal.h"
#include "proto/addr.h"
#include "proto/arena.h"
#include "proto/frame.h"

struct timerd {
	int fd;
	SSL *ssl;			/* TLS (client/tls.c), NULL: plaintext */
	int timeout_ms;
	uint64_t next_id;		/* last request id used */
	bool broken;			/* a read or write failed: only close is left */
	uint8_t *in;			/* received bytes not yet consumed */
	size_t in_len, in_cap;
	struct arena arena;		/* decoded replies, reset per frame */
	struct timerd_event **ev;	/* queued events, a ring */
	size_t ev_head, ev_n, ev_cap, ev_max;
	uint64_t ev_dropped;		/* events dropped since the last notice */
	char err[512];
};

/* Records a failure on t; returns code. */
__attribute__((format(printf, 3, 4)))
static int sync_fail(struct timerd *t, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t->err, sizeof(t->err), fmt, ap);
	va_end(ap);
	if (code == TIMERD_EIO || code == TIMERD_ECLOSED || code == TIMERD_EPROTO)
		t->broken = true;
	return code;
}

/* Milliseconds left until deadline (CLOCK_MONOTONIC ns; < 0: none). */
static int sync_left(int64_t deadline)
{
	int64_t left;

	if (deadline < 0)
		return -1;
	left = (deadline - codec_now()) / TIMERD_MS;
	return left < 0 ? 0 : left > 1000000000 ? 1000000000 : (int)left;
}

/* Absolute deadline for a timeout in ms (< 0: none). */
static int64_t sync_deadline(int timeout_ms)
{
	return timeout_ms < 0 ? -1 : codec_now() + (int64_t)timeout_ms * TIMERD_MS;
}

/* Waits for events on fd until deadline; 1 ready, 0 timed out, -1 error. */
static int sync_poll(struct timerd *t, short events, int64_t deadline)
{
	struct pollfd p = { .fd = t->fd, .events = events };
	int rc;

	do
		rc = poll(&p, 1, sync_left(deadline));
	while (rc < 0 && errno == EINTR);
	return rc;
}

/* An SSL_read/SSL_write result r: 1 done, 0 wait for *events, < 0 minus the TIMERD_* code recorded on t. */
static int sync_tls_result(struct timerd *t, int r, short *events)
{
	char msg[512];

	switch (SSL_get_error(t->ssl, r)) {
	case SSL_ERROR_NONE:
		return 1;
	case SSL_ERROR_WANT_READ:
		*events = POLLIN;
		return 0;
	case SSL_ERROR_WANT_WRITE:
		*events = POLLOUT;
		return 0;
	case SSL_ERROR_ZERO_RETURN:
		ERR_clear_error();
		return -sync_fail(t, TIMERD_ECLOSED, "timerd closed the connection (was it stopped?)");
	case SSL_ERROR_SYSCALL:
		if (!ERR_peek_last_error()) {
			if (errno == EINTR)
				return 0;
			return -sync_fail(t, r == 0 || !errno ? TIMERD_ECLOSED : TIMERD_EIO, "%s%s",
					 r == 0 || !errno ? "timerd closed the connection" : "cannot use the connection to timerd: ",
					 r == 0 || !errno ? " (was it stopped?)" : strerror(errno));
		}
		/* fall through */
	default:
		ctls_describe(t->ssl, "this address", 0, msg, sizeof(msg));
		return -sync_fail(t, TIMERD_EIO, "%s", msg);
	}
}

/* Writes all of buf through TLS before deadline. */
static int sync_tls_write(struct timerd *t, const uint8_t *buf, size_t n, int64_t deadline)
{
	while (n) {
		size_t w = 0;
		short ev = POLLOUT;
		int rc = SSL_write_ex(t->ssl, buf, n, &w);

		if (rc == 1) {
			buf += w;
			n -= w;
			continue;
		}
		if (SSL_get_error(t->ssl, rc) == SSL_ERROR_SYSCALL && !ERR_peek_last_error()) {
			/* the server closed: an alert it sent first (TLS 1.3: client certificate required) says why */
			uint8_t scratch[256];
			size_t got;
			int rr = SSL_read_ex(t->ssl, scratch, sizeof(scratch), &got);

			if (rr != 1 && ERR_peek_last_error())
				return -sync_tls_result(t, rr, &ev);
		}
		if ((rc = sync_tls_result(t, rc, &ev)) < 0)
			return -rc;
		if (rc == 0 && sync_poll(t, ev, deadline) == 0)
			return sync_fail(t, TIMERD_ETIMEDOUT, "timerd did not accept the request in time (is it overloaded?)");
	}
	return TIMERD_OK;
}

/* Reads more bytes through TLS (every decrypted byte of the record: none stays hidden from poll). */
static int sync_tls_fill(struct timerd *t, int64_t deadline)
{
	for (;;) {
		size_t r = 0;
		short ev = POLLIN;
		int rc = SSL_read_ex(t->ssl, t->in + t->in_len, t->in_cap - t->in_len, &r);

		if (rc == 1) {
			t->in_len += r;
			while (SSL_pending(t->ssl) > 0 && t->in_len < t->in_cap &&
			       SSL_read_ex(t->ssl, t->in + t->in_len, t->in_cap - t->in_len, &r) == 1)
				t->in_len += r;
			return TIMERD_OK;
		}
		if ((rc = sync_tls_result(t, rc, &ev)) < 0)
			return -rc;
		if (rc == 0 && sync_poll(t, ev, deadline) == 0)
			return sync_fail(t, TIMERD_ETIMEDOUT, "no answer from timerd in time");
	}
}

/* Writes all of buf before deadline. */
static int sync_write(struct timerd *t, const uint8_t *buf, size_t n, int64_t deadline)
{
	if (t->ssl)
		return sync_tls_write(t, buf, n, deadline);
	while (n) {
		ssize_t w = send(t->fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w > 0) {
			buf += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return sync_fail(t, TIMERD_EIO, "cannot send to timerd: %s (reconnect)", strerror(errno));
		if (sync_poll(t, POLLOUT, deadline) == 0)
			return sync_fail(t, TIMERD_ETIMEDOUT, "timerd did not accept the request in time (is it overloaded?)");
	}
	return TIMERD_OK;
}

/* Reads more bytes into the input buffer before deadline. */
static int sync_fill(struct timerd *t, int64_t deadline)
{
	ssize_t r;

	if (t->in_cap - t->in_len < 4096) {
		size_t cap = t->in_cap ? t->in_cap * 2 : 65536;
		uint8_t *p = realloc(t->in, cap);

		if (!p)
			return sync_fail(t, TIMERD_ENOMEM, "out of memory reading from timerd");
		t->in = p;
		t->in_cap = cap;
	}
	if (t->ssl)
		return sync_tls_fill(t, deadline);
	for (;;) {
		r = recv(t->fd, t->in + t->in_len, t->in_cap - t->in_len, MSG_DONTWAIT);
		if (r > 0) {
			t->in_len += (size_t)r;
			return TIMERD_OK;
		}
		if (r == 0)
			return sync_fail(t, TIMERD_ECLOSED, "timerd closed the connection (was it stopped?)");
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return sync_fail(t, TIMERD_EIO, "cannot read from timerd: %s", strerror(errno));
		if (sync_poll(t, POLLIN, deadline) == 0)
			return sync_fail(t, TIMERD_ETIMEDOUT, "no answer from timerd in time");
	}
}

/* Reads and decodes one frame (into the arena) before deadline. */
static int sync_read_frame(struct timerd *t, int64_t deadline, Timerd__Response **out)
{
	uint32_t n;
	int rc;

	while (t->in_len < FRAME_HDR)
		if ((rc = sync_fill(t, deadline)) != TIMERD_OK)
			return rc;
	n = frame_len(t->in);
	if (n > CODEC_MAX_REPLY)
		return sync_fail(t, TIMERD_EPROTO, "the server sent a %u-byte frame, over libtimerd's limit of %u: is this "
				 "a timerd server (lower its max-frame if it is)?", n, CODEC_MAX_REPLY);
	while (t->in_len < FRAME_HDR + (size_t)n)
		if ((rc = sync_fill(t, deadline)) != TIMERD_OK)
			return rc;
	arena_reset(&t->arena);
	arena_limit_for(&t->arena, n);
	*out = timerd__response__unpack(arena_pbc(&t->arena), n, t->in + FRAME_HDR);
	t->in_len -= FRAME_HDR + (size_t)n;
	memmove(t->in, t->in + FRAME_HDR + n, t->in_len);
	if (!*out)
		return sync_fail(t, TIMERD_EPROTO, "cannot decode a frame from timerd: is this a timerd server?");
	return TIMERD_OK;
}

/* Appends an event to the queue, dropping (and counting) it when full. */
static void sync_queue_event(struct timerd *t, const Timerd__Response *m)
{
	struct timerd_event *ev;

	if (t->ev_n == t->ev_max || !(ev = codec_event_copy(m))) {
		t->ev_dropped++;
		return;
	}
	if (t->ev_n == t->ev_cap) {
		size_t cap = t->ev_cap ? t->ev_cap * 2 : 64;
		struct timerd_event **v = malloc(cap * sizeof(*v));

		if (!v) {
			free(ev);
			t->ev_dropped++;
			return;
		}
		for (size_t i = 0; i < t->ev_n; i++)
			v[i] = t->ev[(t->ev_head + i) % t->ev_cap];
		free(t->ev);
		t->ev = v;
		t->ev_cap = cap;
		t->ev_head = 0;
	}
	t->ev[(t->ev_head + t->ev_n++) % t->ev_cap] = ev;
}

/*
 * True for the answer to a frame the server could not decode: it could not
 * read the id either, so it answers with id 0 (in order, like any reply).
 */
static bool sync_unreadable(const Timerd__Response *m)
{
	return !m->id && m->body_case == TIMERD__RESPONSE__BODY_ERROR;
}

/* A connection-level error from the server: it closes the connection next. */
static int sync_server_gone(struct timerd *t, const Timerd__Response *m)
{
	int code = m->error->code ? (int)m->error->code : TIMERD_EPROTO;

	sync_fail(t, code, "%s", m->error->message && *m->error->message ? m->error->message : timerd_strerror(code));
	t->broken = true;
	return code;
}

/* Sends q and reads frames until its reply; *reply lives in the arena. */
static int sync_call(struct timerd *t, struct codec_req *q, Timerd__Response **reply)
{
	int64_t deadline = sync_deadline(t->timeout_ms);
	uint8_t stack[512], *buf = stack;
	size_t n;
	int rc;

	if (t->broken)
		return sync_fail(t, TIMERD_ECLOSED, "the connection to timerd is broken: reconnect");
	q->r.id = ++t->next_id;
	n = codec_size(q);
	if (n > sizeof(stack) && !(buf = malloc(n)))
		return sync_fail(t, TIMERD_ENOMEM, "out of memory encoding a request");
	codec_pack(q, buf);
	rc = sync_write(t, buf, n, deadline);
	if (buf != stack)
		free(buf);
	while (rc == TIMERD_OK) {
		if ((rc = sync_read_frame(t, deadline, reply)) != TIMERD_OK)
			break;
		if ((*reply)->event && (*reply)->body_case == TIMERD__RESPONSE__BODY_ERROR)
			return sync_server_gone(t, *reply);
		if ((*reply)->event)
			sync_queue_event(t, *reply);
		else if ((*reply)->id == q->r.id || sync_unreadable(*reply))
			return codec_check(*reply, q->r.body_case, t->err, sizeof(t->err));
		else if ((*reply)->id > q->r.id)
			return sync_fail(t, TIMERD_EPROTO, "timerd answered request %llu, which was never sent",
					 (unsigned long long)(*reply)->id);
		/* else: the late reply of an earlier request that timed out */
	}
	return rc;
}

/* Exchanges Hello. */
static int sync_hello(struct timerd *t, const char *name)
{
	struct codec_req q;
	Timerd__Response *m;
	int rc;

	codec_hello(&q, name);
	rc = sync_call(t, &q, &m);
	if (rc == TIMERD_OK && m->hello->version != TIMERD_PROTOCOL_VERSION)
		return sync_fail(t, TIMERD_EVERSION, "timerd speaks protocol version %u, this library %d: upgrade one of them",
				 m->hello->version, TIMERD_PROTOCOL_VERSION);
	return rc;
}

/* Sets up a connection object around a connected fd. */
static struct timerd *sync_new(int fd, const struct timerd_options *opt)
{
	struct timerd *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->fd = fd;
	t->ssl = NULL;
	t->timeout_ms = opt && opt->timeout_ms ? opt->timeout_ms : CLIENT_DEFAULT_TIMEOUT_MS;
	t->ev_max = opt && opt->max_queued_events ? opt->max_queued_events : CLIENT_DEFAULT_MAX_EVENTS;
	arena_init(&t->arena);
	return t;
}

/* Connects, exchanges Hello; *out NULL on failure. */
int timerd_connect(const char *addr, const struct timerd_options *opt, struct timerd **out,
		   struct timerd_error *err)
{
	struct timerd_error local;
	void *ssl;
	int fd, rc;

	err = err ? err : &local;
	*out = NULL;
	if ((fd = codec_open(addr, opt, err, &ssl)) < 0)
		return err->code;
	if (ssl)	/* SSL_read/SSL_write then poll on WANT_*: never block past a deadline */
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	if (!(*out = sync_new(fd, opt))) {
		ctls_free(ssl);
		close(fd);
		codec_msg(err->message, sizeof(err->message), "out of memory");
		return err->code = TIMERD_ENOMEM;
	}
	(*out)->ssl = ssl;
	if ((rc = sync_hello(*out, opt ? opt->client_name : NULL)) != TIMERD_OK) {
		codec_msg(err->message, sizeof(err->message), "%s", (*out)->err);
		timerd_close(*out);
		*out = NULL;
		return err->code = rc;
	}
	err->code = TIMERD_OK;
	err->message[0] = '\0';
	return TIMERD_OK;
}

/* Closes the connection and frees everything. */
void timerd_close(struct timerd *t)
{
	if (!t)
		return;
	ctls_free(t->ssl);
	close(t->fd);
	for (size_t i = 0; i < t->ev_n; i++)
		free(t->ev[(t->ev_head + i) % t->ev_cap]);
	free(t->ev);
	free(t->in);
	arena_destroy(&t->arena);
	free(t);
}

/* The message of the last failure. */
const char *timerd_errmsg(const struct timerd *t)
{
	return t ? t->err : "no connection";
}

/* The socket's fd. */
int timerd_fd(const struct timerd *t)
{
	return t->fd;
}

/* Arms a timer. */
int timerd_arm(struct timerd *t, const struct timerd_arm *a, struct timerd_arm_result *r)
{
	struct codec_req q;
	Timerd__Response *m;
	int rc;

	if (codec_arm(&q, a) != TIMERD_OK)
		return sync_fail(t, TIMERD_EARG, "timerd_arm: `when` must be TIMERD_AFTER, TIMERD_AT_MONO or TIMERD_AT_UNIX");
	if ((rc = sync_call(t, &q, &m)) == TIMERD_OK && r)
		codec_arm_result(m->arm, r);
	return rc;
}

/* Cancels a timer by id or key. */
int timerd_cancel(struct timerd *t, uint64_t timer_id, const char *key)
{
	struct codec_req q;
	Timerd__Response *m;

	codec_cancel(&q, timer_id, key);
	return sync_call(t, &q, &m);
}

/* Copies a timer out. */
int timerd_get(struct timerd *t, uint64_t timer_id, const char *key, struct timerd_timer **out)
{
	struct codec_req q;
	Timerd__Response *m;
	int rc;

	*out = NULL;
	codec_get(&q, timer_id, key);
	if ((rc = sync_call(t, &q, &m)) != TIMERD_OK)
		return rc;
	if (!m->get->timer)
		return sync_fail(t, TIMERD_EPROTO, "timerd sent an empty Get reply");
	if (!(*out = codec_timer_copy(m->get->timer)))
		return sync_fail(t, TIMERD_ENOMEM, "out of memory");
	return TIMERD_OK;
}

/* Lists one page of timers. */
int timerd_list(struct timerd *t, const char *topic, uint64_t cursor, uint32_t limit,
		bool with_payload, struct timerd_list **out)
{
	struct codec_req q;
	Timerd__Response *m;
	int rc;

	*out = NULL;
	codec_list(&q, topic, cursor, limit, with_payload);
	if ((rc = sync_call(t, &q, &m)) != TIMERD_OK)
		return rc;
	if (!(*out = codec_list_copy(m->list)))
		return sync_fail(t, TIMERD_ENOMEM, "out of memory");
	return TIMERD_OK;
}

/* Watches a topic (NULL: all). */
int timerd_watch(struct timerd *t, const char *topic)
{
	struct codec_req q;
	Timerd__Response *m;

	codec_watch(&q, topic, false);
	return sync_call(t, &q, &m);
}

/* Stops watching a topic (NULL: the all-topics watch). */
int timerd_unwatch(struct timerd *t, const char *topic)
{
	struct codec_req q;
	Timerd__Response *m;

	codec_watch(&q, topic, true);
	return sync_call(t, &q, &m);
}

/* Measures one round trip. */
int timerd_ping(struct timerd *t, int64_t *rtt_ns)
{
	struct codec_req q;
	Timerd__Response *m;
	int rc;

	codec_ping(&q);
	rc = sync_call(t, &q, &m);
	if (rc == TIMERD_OK && rtt_ns)
		*rtt_ns = codec_now() - q.sent_ns;
	return rc;
}

/* Fetches the server's counters. */
int timerd_stats(struct timerd *t, struct timerd_stats **out)
{
	struct codec_req q;
	Timerd__Response *m;
	int rc;

	*out = NULL;
	codec_stats(&q);
	if ((rc = sync_call(t, &q, &m)) != TIMERD_OK)
		return rc;
	if (!(*out = codec_stats_copy(m->stats)))
		return sync_fail(t, TIMERD_ENOMEM, "out of memory");
	return TIMERD_OK;
}

/* Attaches a BPF probe. */
int timerd_probe_attach(struct timerd *t, const char *spec, uint32_t *probe_id)
{
	struct codec_req q;
	Timerd__Response *m;
	int rc;

	codec_probe_attach(&q, spec);
	if ((rc = sync_call(t, &q, &m)) == TIMERD_OK && probe_id)
		*probe_id = m->probe_attach->probe_id;
	return rc;
}

/* Detaches a BPF probe. */
int timerd_probe_detach(struct timerd *t, uint32_t probe_id)
{
	struct codec_req q;
	Timerd__Response *m;

	codec_probe_detach(&q, probe_id);
	return sync_call(t, &q, &m);
}

/* Lists attached probes. */
int timerd_probe_list(struct timerd *t, struct timerd_probes **out)
{
	struct codec_req q;
	Timerd__Response *m;
	int rc;

	*out = NULL;
	codec_probe_list(&q);
	if ((rc = sync_call(t, &q, &m)) != TIMERD_OK)
		return rc;
	if (!(*out = codec_probes_copy(m->probe_list)))
		return sync_fail(t, TIMERD_ENOMEM, "out of memory");
	return TIMERD_OK;
}

/* Declares a consumer group; *created false when it existed with the same settings. */
int timerd_group_create(struct timerd *t, const struct timerd_group *g, bool update, bool *created)
{
	struct codec_req q;
	Timerd__Response *m;
	int rc;

	if (codec_group_create(&q, g, update) != TIMERD_OK)
		return sync_fail(t, TIMERD_EARG, "timerd_group_create: the group needs a name (and topics[] its n_topics strings)");
	if ((rc = sync_call(t, &q, &m)) == TIMERD_OK && created)
		*created = m->group_create->created;
	return rc;
}

/* Deletes a group, its deliveries and dead letters. */
int timerd_group_delete(struct timerd *t, const char *name)
{
	struct codec_req q;
	Timerd__Response *m;

	codec_group_delete(&q, name);
	return sync_call(t, &q, &m);
}

/* Lists groups (name NULL or "": all) with their counters. */
int timerd_group_list(struct timerd *t, const char *name, struct timerd_groups **out)
{
	struct codec_req q;
	Timerd__Response *m;
	int rc;

	*out = NULL;
	codec_group_list(&q, name);
	if ((rc = sync_call(t, &q, &m)) != TIMERD_OK)
		return rc;
	if (!(*out = codec_groups_copy(m->group_list)))
		return sync_fail(t, TIMERD_ENOMEM, "out of memory");
	return TIMERD_OK;
}

/* Makes this connection a consumer of group. */
int timerd_subscribe(struct timerd *t, const char *group, uint32_t credit)
{
	struct codec_req q;
	Timerd__Response *m;

	codec_subscribe(&q, group, credit, false);
	return sync_call(t, &q, &m);
}

/* Stops consuming group; its deliveries in flight here become due again. */
int timerd_unsubscribe(struct timerd *t, const char *group)
{
	struct codec_req q;
	Timerd__Response *m;

	codec_subscribe(&q, group, 0, true);
	return sync_call(t, &q, &m);
}

/* Acknowledges a delivery. */
int timerd_ack(struct timerd *t, uint64_t delivery_id)
{
	struct codec_req q;
	Timerd__Response *m;

	codec_ack(&q, delivery_id);
	return sync_call(t, &q, &m);
}

/* Refuses a delivery: due again after retry_after_ns (0: the group's backoff). */
int timerd_nack(struct timerd *t, uint64_t delivery_id, int64_t retry_after_ns, const char *error)
{
	struct codec_req q;
	Timerd__Response *m;

	codec_nack(&q, delivery_id, retry_after_ns, error);
	return sync_call(t, &q, &m);
}

/* Lists one page of a group's dead letters. */
int timerd_dlq_list(struct timerd *t, const char *group, const char *key, uint64_t cursor,
		    uint32_t limit, bool with_payload, struct timerd_dlq **out)
{
	struct codec_req q;
	Timerd__Response *m;
	int rc;

	*out = NULL;
	codec_dlq_list(&q, group, key, cursor, limit, with_payload);
	if ((rc = sync_call(t, &q, &m)) != TIMERD_OK)
		return rc;
	if (!(*out = codec_dlq_copy(m->dlq_list)))
		return sync_fail(t, TIMERD_ENOMEM, "out of memory");
	return TIMERD_OK;
}

/* Makes dead letters deliveries again; *count how many. */
int timerd_dlq_retry(struct timerd *t, const char *group, const char *key, uint64_t delivery_id,
		     uint64_t *count)
{
	struct codec_req q;
	Timerd__Response *m;
	int rc;

	codec_dlq_act(&q, group, key, delivery_id, false);
	if ((rc = sync_call(t, &q, &m)) == TIMERD_OK && count)
		*count = m->dlq_retry->count;
	return rc;
}

/* Drops dead letters; *count how many. */
int timerd_dlq_purge(struct timerd *t, const char *group, const char *key, uint64_t delivery_id,
		     uint64_t *count)
{
	struct codec_req q;
	Timerd__Response *m;
	int rc;

	codec_dlq_act(&q, group, key, delivery_id, true);
	if ((rc = sync_call(t, &q, &m)) == TIMERD_OK && count)
		*count = m->dlq_purge->count;
	return rc;
}

/* Makes a notice event telling how many events the queue dropped. */
static struct timerd_event *sync_drop_notice(struct timerd *t)
{
	Timerd__Response m = TIMERD__RESPONSE__INIT;
	Timerd__Notice n = TIMERD__NOTICE__INIT;
	char msg[160];

	codec_msg(msg, sizeof(msg), "libtimerd dropped %llu events: call timerd_next_event() more often",
		  (unsigned long long)t->ev_dropped);
	n.kind = TIMERD__NOTICE__KIND__FIRES_DROPPED;
	n.count = t->ev_dropped;
	n.message = msg;
	m.event = true;
	m.body_case = TIMERD__RESPONSE__BODY_NOTICE;
	m.notice = &n;
	t->ev_dropped = 0;
	return codec_event_copy(&m);
}

/* Pops the oldest queued event, or a notice of local drops first. */
static struct timerd_event *sync_pop_event(struct timerd *t)
{
	struct timerd_event *ev;

	if (t->ev_dropped && (ev = sync_drop_notice(t)))
		return ev;
	if (!t->ev_n)
		return NULL;
	ev = t->ev[t->ev_head];
	t->ev_head = (t->ev_head + 1) % t->ev_cap;
	t->ev_n--;
	return ev;
}

/* Waits for a pushed event. */
int timerd_next_event(struct timerd *t, int timeout_ms, struct timerd_event **out)
{
	int64_t deadline = sync_deadline(timeout_ms);
	Timerd__Response *m;
	int rc;

	while (!(*out = sync_pop_event(t))) {
		if (t->broken)
			return sync_fail(t, TIMERD_ECLOSED, "the connection to timerd is broken: reconnect");
		if ((rc = sync_read_frame(t, deadline, &m)) != TIMERD_OK)
			return rc;
		if (m->event)
			sync_queue_event(t, m);
		/* else a late reply of a request that timed out: skip it */
	}
	return TIMERD_OK;
}
