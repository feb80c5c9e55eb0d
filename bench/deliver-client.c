/*
 * deliver-client.c -- one figure of reliable delivery against one running
 * server, for bench/bench-deliver (which starts the servers and prints the
 * table): a producer thread enqueues jobs, N consumer threads take each one
 * and acknowledge it, each thread on its own connection.
 *
 *   deliver.ack       acked deliveries/s over --time ms after a warm-up of
 *                     --delay + 1 s; the producer keeps --pipe enqueues in
 *                     flight (default 256) and at most --window jobs
 *                     produced and not yet acked (a closed loop: the figure is
 *                     what the whole cycle enqueue -> due -> take -> ack sustains)
 *     beanstalkd      put with a delay (--delay rounded up to whole seconds,
 *                     beanstalkd's unit), consumers: reserve + delete, each
 *                     keeping --prefetch reserves pipelined
 *     redis           the reliable-queue pattern: LPUSH queue; consumers
 *                     BLMOVE queue processing RIGHT LEFT (--prefetch
 *                     pipelined), then LREM processing 1 job on completion
 *                     (a list has no delay: jobs are due at once)
 *     timerd          one-shot timers due after --delay on a topic, a group
 *                     over it; consumers Subscribe with credit --prefetch and
 *                     Ack each delivery (libtimerd's async API)
 *   deliver.lateness  timerd: timers armed at --rate/s due --delay later, 4
 *                     consumers of a group: lateness = the time a consumer
 *                     read the delivery - the timer's deadline (one clock)
 *   deliver.backlog   timerd: RSS of the server (--pid) before and after
 *                     --count deliveries wait in a group's backlog with no
 *                     consumer (--payload bytes each); first the same number
 *                     of timers fire on a topic without a group, so the
 *                     engine's own memory is at its high-water mark already
 *
 * usage: deliver-client --system beanstalkd|redis|timerd --addr ADDR
 *        [--mode ack|lateness|backlog] [--consumers N] [--prefetch N]
 *        [--window N] [--delay MS] [--time MS] [--rate N] [--count N]
 *        [--payload BYTES] [--pid PID] [--fsync LABEL] [--rep N] [--pipe N]
 * ADDR: beanstalkd HOST:PORT; redis HOST:PORT or a Unix socket path;
 * timerd its socket (as timerctl --socket).
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#ifdef DELIVER_TIMERD
#include <event2/event.h>

#include "client/timerd.h"
#endif

#define BD_MAX_CONSUMERS 64
#define BD_TOPIC "bench-deliver"
#define BD_GROUP "bench-deliver"
#define BD_BODY 16			/* job body: its sequence number, 16 hex digits */
#define BD_PIPE 256			/* producer: enqueues in flight on its connection (--pipe) */
#define BD_PIPE_MAX 1024		/* what one batch of them may take of a 64 KiB output buffer */

struct bd_cfg {
	const char *system, *addr, *mode, *fsync;
	unsigned consumers, prefetch, window, delay_ms, time_ms, rate, count, payload, rep, pipe;
	int pid;
};

/* What the threads of one run share. */
struct bd_run {
	const struct bd_cfg *c;
	_Atomic uint64_t produced;	/* enqueues the server acknowledged */
	_Atomic uint64_t acked;		/* acks (deletes, LREMs) the server acknowledged */
	_Atomic bool stop;
	/* lateness: per consumer, ns between deadline and read */
	int64_t *late[BD_MAX_CONSUMERS];
	size_t nlate[BD_MAX_CONSUMERS], cap;
	_Atomic uint64_t early, errors;
};

/* CLOCK_MONOTONIC now, ns. */
static int64_t bd_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Stops with a message. */
static void bd_die(const char *what, const char *msg)
{
	fprintf(stderr, "deliver-client: %s: %s\n", what, msg);
	exit(1);
}

/* True once the run is over. */
static bool bd_stopped(struct bd_run *r)
{
	/* relaxed: a stop signal only; a late look costs a few more operations. */
	return atomic_load_explicit(&r->stop, memory_order_relaxed);
}

/* Jobs produced and not yet acked, against the window. */
static bool bd_window_full(struct bd_run *r, uint64_t sent)
{
	/* relaxed: a flow-control estimate; either counter read late only delays a put. */
	return sent - atomic_load_explicit(&r->acked, memory_order_relaxed) >= r->c->window;
}

/* ------------------------------------------------------------------------ */
/* Plain sockets (beanstalkd, redis) */

struct bd_sock {
	int fd;
	char in[1 << 16];
	size_t in_len;
	char out[1 << 16];
	size_t out_len;
};

/* Connects to HOST:PORT, or to a Unix socket path (anything with a '/'). */
static int bd_connect_addr(const char *addr)
{
	int fd, one = 1;

	if (strchr(addr, '/')) {
		struct sockaddr_un sun = { .sun_family = AF_UNIX };

		snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", addr);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
			bd_die(addr, strerror(errno));
		return fd;
	}
	char host[64];
	const char *colon = strrchr(addr, ':');
	struct sockaddr_in sin = { .sin_family = AF_INET };

	if (!colon || (size_t)(colon - addr) >= sizeof(host))
		bd_die(addr, "give HOST:PORT or a socket path");
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = 0;
	sin.sin_port = htons((uint16_t)atoi(colon + 1));
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || inet_pton(AF_INET, host, &sin.sin_addr) != 1 ||
	    connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
		bd_die(addr, strerror(errno));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* Queues bytes to send (flushed by bd_flush). */
static void bd_put(struct bd_sock *s, const char *p, size_t n)
{
	if (s->out_len + n > sizeof(s->out))
		bd_die("write", "output buffer full");
	memcpy(s->out + s->out_len, p, n);
	s->out_len += n;
}

/* Writes everything queued. */
static void bd_flush(struct bd_sock *s)
{
	size_t off = 0;

	while (off < s->out_len) {
		ssize_t w = write(s->fd, s->out + off, s->out_len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			bd_die("write", strerror(errno));
		off += (size_t)w;
	}
	s->out_len = 0;
}

/* Waits up to 10 ms for input and reads it; false if none came. */
static bool bd_fill(struct bd_sock *s)
{
	struct pollfd pf = { .fd = s->fd, .events = POLLIN };

	if (poll(&pf, 1, 10) <= 0)
		return false;
	ssize_t r = read(s->fd, s->in + s->in_len, sizeof(s->in) - s->in_len);

	if (r == 0)
		bd_die("read", "the server closed the connection");
	if (r < 0)
		bd_die("read", strerror(errno));
	s->in_len += (size_t)r;
	return true;
}

/* Drops the first n bytes of input. */
static void bd_consume(struct bd_sock *s, size_t n)
{
	s->in_len -= n;
	memmove(s->in, s->in + n, s->in_len);
}

/* Length of the first line with its CRLF, or 0 if not complete yet. */
static size_t bd_line(const struct bd_sock *s, size_t from)
{
	const char *nl = memchr(s->in + from, '\n', s->in_len - from);

	return nl ? (size_t)(nl - (s->in + from)) + 1 : 0;
}

/* beanstalkd producer: put with a delay, keeping --pipe in flight within the window. */
static void *bs_producer(void *arg)
{
	struct bd_run *r = arg;
	static struct bd_sock s;
	unsigned delay_s = (r->c->delay_ms + 999) / 1000;
	uint64_t seq = 0, pending = 0;

	s.fd = bd_connect_addr(r->c->addr);
	while (!bd_stopped(r)) {
		char cmd[96];

		while (pending < r->c->pipe && !bd_window_full(r, seq)) {
			int n = snprintf(cmd, sizeof(cmd), "put 0 %u 120 %d\r\n%016" PRIx64 "\r\n", delay_s,
					 BD_BODY, seq++);
			bd_put(&s, cmd, (size_t)n);
			pending++;
		}
		bd_flush(&s);
		if (!bd_fill(&s))
			continue;
		size_t off = 0, n;

		while ((n = bd_line(&s, off)) != 0) {
			if (strncmp(s.in + off, "INSERTED ", 9) != 0)
				bd_die("put", "unexpected reply (is beanstalkd out of memory or draining?)");
			off += n;
			pending--;
			/* relaxed: a counter read by the main thread after the run. */
			atomic_fetch_add_explicit(&r->produced, 1, memory_order_relaxed);
		}
		bd_consume(&s, off);
	}
	close(s.fd);
	return NULL;
}

/* beanstalkd consumer: prefetch reserves in flight; delete each job reserved. */
static void *bs_consumer(void *arg)
{
	struct bd_run *r = arg;
	struct bd_sock *s = calloc(1, sizeof(*s));

	s->fd = bd_connect_addr(r->c->addr);
	for (unsigned i = 0; i < r->c->prefetch; i++)
		bd_put(s, "reserve\r\n", 9);
	bd_flush(s);
	while (!bd_stopped(r)) {
		if (!bd_fill(s))
			continue;
		size_t off = 0, n;

		while ((n = bd_line(s, off)) != 0) {
			const char *l = s->in + off;
			uint64_t id;
			unsigned bytes;

			if (strncmp(l, "DELETED", 7) == 0) {
				/* relaxed: counted for the figure and the producer's window. */
				atomic_fetch_add_explicit(&r->acked, 1, memory_order_relaxed);
				off += n;
				continue;
			}
			if (sscanf(l, "RESERVED %" SCNu64 " %u", &id, &bytes) != 2)
				bd_die("reserve", "unexpected reply");
			if (off + n + bytes + 2 > s->in_len)
				break;		/* the body is not all here yet */
			off += n + bytes + 2;
			char cmd[64];
			int k = snprintf(cmd, sizeof(cmd), "delete %" PRIu64 "\r\nreserve\r\n", id);

			bd_put(s, cmd, (size_t)k);
		}
		bd_consume(s, off);
		bd_flush(s);
	}
	close(s->fd);
	free(s);
	return NULL;
}

/* Queues one RESP command of argc strings. */
static void rd_cmd(struct bd_sock *s, unsigned argc, const char *const *argv)
{
	char hdr[32];
	int n = snprintf(hdr, sizeof(hdr), "*%u\r\n", argc);

	bd_put(s, hdr, (size_t)n);
	for (unsigned i = 0; i < argc; i++) {
		size_t len = strlen(argv[i]);

		n = snprintf(hdr, sizeof(hdr), "$%zu\r\n", len);
		bd_put(s, hdr, (size_t)n);
		bd_put(s, argv[i], len);
		bd_put(s, "\r\n", 2);
	}
}

/* Redis producer: LPUSH queue job, --pipe in flight within the window. */
static void *rd_producer(void *arg)
{
	struct bd_run *r = arg;
	static struct bd_sock s;
	uint64_t seq = 0, pending = 0;

	s.fd = bd_connect_addr(r->c->addr);
	while (!bd_stopped(r)) {
		while (pending < r->c->pipe && !bd_window_full(r, seq)) {
			char body[BD_BODY + 1];

			snprintf(body, sizeof(body), "%016" PRIx64, seq++);
			rd_cmd(&s, 3, (const char *[]){ "LPUSH", "bench:queue", body });
			pending++;
		}
		bd_flush(&s);
		if (!bd_fill(&s))
			continue;
		size_t off = 0, n;

		while ((n = bd_line(&s, off)) != 0) {
			if (s.in[off] != ':')
				bd_die("LPUSH", "unexpected reply");
			off += n;
			pending--;
			/* relaxed: a counter read by the main thread after the run. */
			atomic_fetch_add_explicit(&r->produced, 1, memory_order_relaxed);
		}
		bd_consume(&s, off);
	}
	close(s.fd);
	return NULL;
}

/* Redis consumer: BLMOVE queue -> processing (prefetch pipelined), LREM each on completion. */
static void *rd_consumer(void *arg)
{
	struct bd_run *r = arg;
	struct bd_sock *s = calloc(1, sizeof(*s));
	const char *blmove[] = { "BLMOVE", "bench:queue", "bench:processing", "RIGHT", "LEFT", "1" };

	s->fd = bd_connect_addr(r->c->addr);
	for (unsigned i = 0; i < r->c->prefetch; i++)
		rd_cmd(s, 6, blmove);
	bd_flush(s);
	while (!bd_stopped(r)) {
		if (!bd_fill(s))
			continue;
		size_t off = 0, n;

		while ((n = bd_line(s, off)) != 0) {
			const char *l = s->in + off;

			if (l[0] == ':') {		/* LREM's count: the job is done */
				if (l[1] != '1')
					bd_die("LREM", "the job was not in the processing list");
				/* relaxed: counted for the figure and the producer's window. */
				atomic_fetch_add_explicit(&r->acked, 1, memory_order_relaxed);
				off += n;
				continue;
			}
			if (l[0] == '*' || (l[0] == '$' && l[1] == '-')) {	/* BLMOVE timed out */
				off += n;
				rd_cmd(s, 6, blmove);
				continue;
			}
			if (l[0] != '$')
				bd_die("BLMOVE", "unexpected reply");
			unsigned len = (unsigned)atoi(l + 1);

			if (off + n + len + 2 > s->in_len)
				break;
			char body[64];

			snprintf(body, sizeof(body), "%.*s", (int)(len < 63 ? len : 63), s->in + off + n);
			off += n + len + 2;
			rd_cmd(s, 4, (const char *[]){ "LREM", "bench:processing", "1", body });
			rd_cmd(s, 6, blmove);
		}
		bd_consume(s, off);
		bd_flush(s);
	}
	close(s->fd);
	free(s);
	return NULL;
}

#ifdef DELIVER_TIMERD
/* ------------------------------------------------------------------------ */
/* timerd (libtimerd's async API, one event base per thread) */

struct td_thread {
	struct bd_run *r;
	struct event_base *base;
	struct timerd_async *a;
	struct event *tick;
	unsigned idx;
	uint64_t sent, count;		/* producer: arms issued; 0: no limit */
	int64_t start, arm_end;		/* lateness: arming starts, stops (CLOCK_MONOTONIC) */
	int64_t delay_ns;
	const char *topic;
	char payload[4096];
	size_t payload_len;
	bool lateness;
};

/* Connects an async client to c->addr. */
static struct timerd_async *td_connect(struct event_base *base, const char *addr)
{
	struct timerd_async *a;
	struct timerd_error e;

	if (timerd_async_connect(base, addr, NULL, &a, &e) != TIMERD_OK)
		bd_die("connect", e.message);
	return a;
}

/* The connection went away during a run. */
static void td_on_close(struct timerd_async *a, int code, const char *msg, void *arg)
{
	struct td_thread *t = arg;

	(void)a;
	(void)code;
	if (!bd_stopped(t->r))
		bd_die("timerd closed the connection", msg);
	event_base_loopbreak(t->base);
}

static void td_produce(struct td_thread *t);

/* Arm reply: counts it and tops the pipeline up. */
static void td_on_armed(struct timerd_async *a, const struct timerd_reply *rep, void *arg)
{
	struct td_thread *t = arg;

	(void)a;
	if (rep->code != TIMERD_OK) {
		if (rep->code != TIMERD_ECLOSED)
			bd_die("arm", rep->message);
		return;
	}
	/* relaxed: a counter; the window's estimate and the main thread's figure. */
	atomic_fetch_add_explicit(&t->r->produced, 1, memory_order_relaxed);
	td_produce(t);
}

/* Issues the arms the window, the pipeline, the rate and the count allow. */
static void td_produce(struct td_thread *t)
{
	struct bd_run *r = t->r;
	uint64_t due = UINT64_MAX;

	if (bd_stopped(r))
		return;
	if (t->lateness) {
		int64_t now = bd_now();

		due = (uint64_t)((double)((now < t->arm_end ? now : t->arm_end) - t->start) * r->c->rate / 1e9);
	}
	while (timerd_async_pending(t->a) < r->c->pipe && t->sent < due && (!t->count || t->sent < t->count) &&
	       (t->lateness || t->count || !bd_window_full(r, t->sent))) {
		struct timerd_arm arm = { .when = TIMERD_AFTER, .time_ns = t->delay_ns, .topic = t->topic,
					  .payload = t->payload, .payload_len = t->payload_len };

		if (!t->payload_len)
			arm.payload = NULL;
		if (timerd_async_arm(t->a, &arm, td_on_armed, t) != TIMERD_OK)
			bd_die("arm", timerd_async_pending(t->a) ? "cannot queue a request" : "connection lost");
		t->sent++;
	}
}

/* Every ms: the rate's next arms, the window's refill, the stop flag. */
static void td_tick(evutil_socket_t fd, short what, void *arg)
{
	struct td_thread *t = arg;

	(void)fd;
	(void)what;
	if (bd_stopped(t->r)) {
		event_base_loopbreak(t->base);
		return;
	}
	if (!t->idx)
		td_produce(t);
	if (t->count && t->sent >= t->count && !timerd_async_pending(t->a))
		event_base_loopbreak(t->base);
}

/* Ack reply: one delivery done. */
static void td_on_acked(struct timerd_async *a, const struct timerd_reply *rep, void *arg)
{
	struct td_thread *t = arg;

	(void)a;
	if (rep->code != TIMERD_OK) {
		/* relaxed: an error count for the figure's line. */
		if (rep->code != TIMERD_ECLOSED && atomic_fetch_add_explicit(&t->r->errors, 1,
									     memory_order_relaxed) == 0)
			fprintf(stderr, "deliver-client: ack: %s\n", rep->message);
		return;
	}
	/* relaxed: counted for the figure and the producer's window. */
	atomic_fetch_add_explicit(&t->r->acked, 1, memory_order_relaxed);
}

/* A delivery: (lateness) records it, acks it. */
static void td_on_event(struct timerd_async *a, const struct timerd_event *ev, void *arg)
{
	struct td_thread *t = arg;
	struct bd_run *r = t->r;
	unsigned i = t->idx - 1;

	if (ev->kind != TIMERD_EVENT_FIRE || !ev->delivery.delivery_id)
		return;
	if (t->lateness) {
		int64_t now = bd_now();

		if (now < ev->fire.deadline_mono_ns)
			/* relaxed: a count for the figure's line. */
			atomic_fetch_add_explicit(&r->early, 1, memory_order_relaxed);
		if (r->nlate[i] < r->cap)
			r->late[i][r->nlate[i]++] = now - ev->fire.deadline_mono_ns;
	}
	if (timerd_async_ack(a, ev->delivery.delivery_id, td_on_acked, t) != TIMERD_OK && !bd_stopped(r))
		bd_die("ack", "cannot queue a request");
}

/* Subscribe reply. */
static void td_on_subscribed(struct timerd_async *a, const struct timerd_reply *rep, void *arg)
{
	(void)a;
	(void)arg;
	if (rep->code != TIMERD_OK)
		bd_die("subscribe", rep->message);
}

/* A timerd thread: idx 0 produces, the others consume. */
static void *td_thread_main(void *arg)
{
	struct td_thread *t = arg;
	struct timeval ms = { 0, 1000 };

	t->base = event_base_new();
	t->a = td_connect(t->base, t->r->c->addr);
	timerd_async_set_close_cb(t->a, td_on_close, t);
	if (t->idx) {
		timerd_async_set_event_cb(t->a, td_on_event, t);
		if (timerd_async_subscribe(t->a, BD_GROUP, t->r->c->prefetch, td_on_subscribed, t) != TIMERD_OK)
			bd_die("subscribe", "cannot queue a request");
	} else {
		t->start = bd_now();
		t->arm_end = t->start + (int64_t)t->r->c->time_ms * TIMERD_MS;
		td_produce(t);
	}
	t->tick = event_new(t->base, -1, EV_PERSIST, td_tick, t);
	event_add(t->tick, &ms);
	event_base_dispatch(t->base);
	event_free(t->tick);
	/* relaxed: only the stop signal. */
	atomic_store_explicit(&t->r->stop, true, memory_order_relaxed);
	timerd_async_free(t->a);
	event_base_free(t->base);
	return NULL;
}

/* Declares the group over topic (blocking API). */
static void td_group(const char *addr, const char *name, const char *topic, uint64_t max_backlog)
{
	struct timerd *t;
	struct timerd_error e;
	const char *topics[] = { topic };
	struct timerd_group g = { .name = name, .topics = topics, .n_topics = 1, .max_backlog = max_backlog,
				  .unordered = true };

	if (timerd_connect(addr, NULL, &t, &e) != TIMERD_OK)
		bd_die("connect", e.message);
	timerd_group_delete(t, name);	/* a fresh group per figure; absent is fine */
	if (timerd_group_create(t, &g, true, NULL) != TIMERD_OK)
		bd_die("group create", timerd_errmsg(t));
	timerd_close(t);
}

/* The group's backlog (blocking API). */
static uint64_t td_backlog(const char *addr, const char *name)
{
	struct timerd *t;
	struct timerd_error e;
	struct timerd_groups *g;
	uint64_t n = 0;

	if (timerd_connect(addr, NULL, &t, &e) != TIMERD_OK)
		bd_die("connect", e.message);
	if (timerd_group_list(t, name, &g) != TIMERD_OK)
		bd_die("group list", timerd_errmsg(t));
	if (g->n)
		n = g->v[0].backlog;
	timerd_groups_free(g);
	timerd_close(t);
	return n;
}

#else
struct td_thread {
	int unused;
};
#endif /* DELIVER_TIMERD */

/* ------------------------------------------------------------------------ */

/* Sleeps ms milliseconds. */
static void bd_sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
	}
}

/* Starts the producer (index 0) and the consumers of one system. */
static void bd_start(struct bd_run *r, pthread_t *tid, struct td_thread *tt, bool lateness)
{
	const struct bd_cfg *c = r->c;

	for (unsigned i = 0; i <= c->consumers; i++) {
		void *(*fn)(void *) = NULL;
		void *arg = r;

		if (!strcmp(c->system, "beanstalkd"))
			fn = i ? bs_consumer : bs_producer;
		else if (!strcmp(c->system, "redis"))
			fn = i ? rd_consumer : rd_producer;
		else {
#ifndef DELIVER_TIMERD
			(void)tt;
			(void)lateness;
			bd_die("--system timerd", "this build lacks libtimerd's group functions (build with -DDELIVER_TIMERD)");
#else
			tt[i] = (struct td_thread){ .r = r, .idx = i, .topic = BD_TOPIC, .lateness = lateness,
						    .delay_ns = (int64_t)c->delay_ms * TIMERD_MS,
						    .payload_len = c->payload < sizeof(tt[i].payload) ? c->payload : 0 };
			memset(tt[i].payload, 'p', sizeof(tt[i].payload));
			fn = td_thread_main;
			arg = &tt[i];
#endif
		}
		if (pthread_create(&tid[i], NULL, fn, arg) != 0)
			bd_die("pthread_create", strerror(errno));
	}
}

/* Stops and joins the threads. */
static void bd_join(struct bd_run *r, pthread_t *tid)
{
	/* relaxed: only the stop signal; pthread_join orders the rest. */
	atomic_store_explicit(&r->stop, true, memory_order_relaxed);
	for (unsigned i = 0; i <= r->c->consumers; i++)
		pthread_join(tid[i], NULL);
}

/* CPU time (user + system) process pid has used, ns; 0 if unknown (/proc/PID/stat fields 14 and 15). */
static uint64_t bd_cpu_ns(int pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut = 0, st = 0;
	long tck = sysconf(_SC_CLK_TCK);
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if (pid <= 0 || tck <= 0 || !(f = fopen(path, "r")))
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	if (!(p = strrchr(buf, ')')) ||	/* after the command name, which may hold spaces */
	    sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return 0;
	return (uint64_t)(ut + st) * (1000000000ULL / (unsigned long long)tck);
}

/* This process's CPU time, ns. */
static uint64_t bd_self_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* deliver.ack: acked deliveries/s in the steady state (with --pid: the server's CPU per ack too). */
static void bd_ack(const struct bd_cfg *c)
{
	static struct bd_run r;
	pthread_t tid[BD_MAX_CONSUMERS + 1];
	static struct td_thread tt[BD_MAX_CONSUMERS + 1];
	unsigned warm = (!strcmp(c->system, "beanstalkd") ? (c->delay_ms + 999) / 1000 * 1000 :
			 !strcmp(c->system, "redis") ? 0 : c->delay_ms) + 1000;

	r.c = c;
#ifdef DELIVER_TIMERD
	if (!strcmp(c->system, "timerd"))
		td_group(c->addr, BD_GROUP, BD_TOPIC, (uint64_t)c->window * 2);
#endif
	bd_start(&r, tid, tt, false);
	bd_sleep_ms(warm);
	/* relaxed: counters sampled at the window's ends; a few in flight do not matter. */
	uint64_t a0 = atomic_load_explicit(&r.acked, memory_order_relaxed);
	uint64_t p0 = atomic_load_explicit(&r.produced, memory_order_relaxed);
	int64_t t0 = bd_now();
	uint64_t s0 = bd_cpu_ns(c->pid), u0 = bd_self_cpu_ns();

	bd_sleep_ms(c->time_ms);
	uint64_t a1 = atomic_load_explicit(&r.acked, memory_order_relaxed);
	uint64_t p1 = atomic_load_explicit(&r.produced, memory_order_relaxed);
	int64_t t1 = bd_now();
	uint64_t s1 = bd_cpu_ns(c->pid), u1 = bd_self_cpu_ns();
	double secs = (double)(t1 - t0) / 1e9, acked = a1 > a0 ? (double)(a1 - a0) : 1;
	char cpu[128] = "";

	if (s0 && s1)	/* CPU per ack is what a loaded machine distorts least (throughput follows the CPUs left) */
		snprintf(cpu, sizeof(cpu), ",\"server_cpu_us_per_ack\":%.2f,\"client_cpu_us_per_ack\":%.2f",
			 (double)(s1 - s0) / 1e3 / acked, (double)(u1 - u0) / 1e3 / acked);

	bd_join(&r, tid);
	printf("{\"bench\":\"deliver.ack\",\"impl\":\"%s\",\"consumers\":%u,\"fsync\":\"%s\",\"rep\":%u,"
	       "\"prefetch\":%u,\"window\":%u,\"pipe\":%u,\"delay_ms\":%u,\"acked\":%" PRIu64 ",\"secs\":%.3f,"
	       "\"acked_per_s\":%.0f,\"produced_per_s\":%.0f,\"errors\":%" PRIu64 "%s}\n",
	       c->system, c->consumers, c->fsync, c->rep, c->prefetch, c->window, c->pipe,
	       !strcmp(c->system, "redis") ? 0 : c->delay_ms, a1 - a0, secs, (double)(a1 - a0) / secs,
	       (double)(p1 - p0) / secs, atomic_load_explicit(&r.errors, memory_order_relaxed), cpu);
	fflush(stdout);
}

#ifdef DELIVER_TIMERD
/* Orders int64 values. */
static int bd_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Resident set of a process, bytes (VmRSS). */
static uint64_t bd_rss(int pid)
{
	char path[64], line[256];
	uint64_t kb = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	if (!(f = fopen(path, "r")))
		bd_die(path, strerror(errno));
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %" SCNu64, &kb) == 1)
			break;
	fclose(f);
	return kb * 1024;
}

/* deliver.lateness: deadline -> consumer read at a steady rate, through a group. */
static void bd_lateness(const struct bd_cfg *c)
{
	static struct bd_run r;
	pthread_t tid[BD_MAX_CONSUMERS + 1];
	static struct td_thread tt[BD_MAX_CONSUMERS + 1];
	int64_t *all;
	size_t n = 0;

	r.c = c;
	r.cap = (size_t)c->rate * (c->time_ms + 1000) / 1000 + 1000;
	for (unsigned i = 0; i < c->consumers; i++)
		r.late[i] = malloc(r.cap * sizeof(int64_t));
	td_group(c->addr, BD_GROUP, BD_TOPIC, (uint64_t)c->rate * 10);
	bd_start(&r, tid, tt, true);
	/* the arms stop after time_ms; their deadlines come delay later */
	bd_sleep_ms(c->time_ms + c->delay_ms + 500);
	uint64_t produced = atomic_load_explicit(&r.produced, memory_order_relaxed);

	bd_join(&r, tid);
	all = malloc(r.cap * c->consumers * sizeof(int64_t));
	for (unsigned i = 0; i < c->consumers; i++) {
		memcpy(all + n, r.late[i], r.nlate[i] * sizeof(int64_t));
		n += r.nlate[i];
		free(r.late[i]);
	}
	qsort(all, n, sizeof(int64_t), bd_cmp);
	printf("{\"bench\":\"deliver.lateness\",\"impl\":\"timerd\",\"consumers\":%u,\"fsync\":\"%s\",\"rep\":%u,"
	       "\"rate\":%u,\"delay_ms\":%u,\"prefetch\":%u,\"armed\":%" PRIu64 ",\"received\":%zu,"
	       "\"p50_ns\":%" PRId64 ",\"p99_ns\":%" PRId64 ",\"p999_ns\":%" PRId64 ",\"max_ns\":%" PRId64
	       ",\"early\":%" PRIu64 ",\"errors\":%" PRIu64 "}\n",
	       c->consumers, c->fsync, c->rep, c->rate, c->delay_ms, c->prefetch, produced, n,
	       n ? all[n / 2] : 0, n ? all[(size_t)(n * 0.99)] : 0, n ? all[(size_t)(n * 0.999)] : 0,
	       n ? all[n - 1] : 0, atomic_load_explicit(&r.early, memory_order_relaxed),
	       atomic_load_explicit(&r.errors, memory_order_relaxed));
	fflush(stdout);
	free(all);
}

/* Arms count timers due at once on topic (no consumer), as fast as the pipeline goes. */
static void bd_fill_topic(const struct bd_cfg *c, const char *topic)
{
	static struct bd_run r;
	static struct td_thread t;

	memset(&r, 0, sizeof(r));
	r.c = c;
	t = (struct td_thread){ .r = &r, .topic = topic, .count = c->count,
				.payload_len = c->payload < sizeof(t.payload) ? c->payload : 0 };
	memset(t.payload, 'p', sizeof(t.payload));
	td_thread_main(&t);
	if (atomic_load_explicit(&r.produced, memory_order_relaxed) != c->count)
		bd_die("backlog", "not every arm was answered");
}

/* deliver.backlog: server RSS per delivery waiting with no consumer. */
static void bd_backlog(const struct bd_cfg *c)
{
	uint64_t before, after, n = 0;
	int64_t end;

	if (c->pid <= 0)
		bd_die("backlog", "give --pid (the server's)");
	td_group(c->addr, BD_GROUP, BD_TOPIC, (uint64_t)c->count * 2);
	bd_fill_topic(c, "bench-nobody");	/* orphaned fires: the engine's high water */
	bd_sleep_ms(500);
	before = bd_rss(c->pid);
	bd_fill_topic(c, BD_TOPIC);
	for (end = bd_now() + 60 * TIMERD_S; bd_now() < end; bd_sleep_ms(100))
		if ((n = td_backlog(c->addr, BD_GROUP)) >= c->count)
			break;
	if (n < c->count)
		bd_die("backlog", "the group's backlog did not reach --count within 60 s");
	bd_sleep_ms(300);
	after = bd_rss(c->pid);
	printf("{\"bench\":\"deliver.backlog\",\"impl\":\"timerd\",\"fsync\":\"%s\",\"rep\":%u,\"count\":%u,"
	       "\"payload\":%u,\"backlog\":%" PRIu64 ",\"rss_before\":%" PRIu64 ",\"rss_after\":%" PRIu64
	       ",\"bytes_per_delivery\":%.1f}\n",
	       c->fsync, c->rep, c->count, c->payload, n, before, after,
	       ((double)after - (double)before) / (double)c->count);
	fflush(stdout);
}

#endif /* DELIVER_TIMERD */

/* Prints the usage. */
static void bd_usage(FILE *f)
{
	fprintf(f, "usage: deliver-client --system beanstalkd|redis|timerd --addr ADDR\n"
		   "       [--mode ack|lateness|backlog] [--consumers N] [--prefetch N] [--window N]\n"
		   "       [--delay MS] [--time MS] [--rate N] [--count N] [--payload BYTES]\n"
		   "       [--pid PID] [--fsync LABEL] [--rep N] [--pipe N]\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "system", 1, NULL, 's' }, { "addr", 1, NULL, 'a' }, { "mode", 1, NULL, 'm' },
		{ "consumers", 1, NULL, 'c' }, { "prefetch", 1, NULL, 'P' }, { "window", 1, NULL, 'w' },
		{ "delay", 1, NULL, 'd' }, { "time", 1, NULL, 't' }, { "rate", 1, NULL, 'r' },
		{ "count", 1, NULL, 'n' }, { "payload", 1, NULL, 'b' }, { "pid", 1, NULL, 'p' },
		{ "fsync", 1, NULL, 'f' }, { "rep", 1, NULL, 'R' }, { "pipe", 1, NULL, 'i' },
		{ "help", 0, NULL, 'h' }, { 0 }
	};
	struct bd_cfg c = { .mode = "ack", .fsync = "", .consumers = 1, .prefetch = 64, .window = 20000,
			    .delay_ms = 0, .time_ms = 3000, .rate = 10000, .count = 100000, .pipe = BD_PIPE };
	int o;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 's': c.system = optarg; break;
		case 'a': c.addr = optarg; break;
		case 'm': c.mode = optarg; break;
		case 'c': c.consumers = (unsigned)atoi(optarg); break;
		case 'P': c.prefetch = (unsigned)atoi(optarg); break;
		case 'w': c.window = (unsigned)atoi(optarg); break;
		case 'd': c.delay_ms = (unsigned)atoi(optarg); break;
		case 't': c.time_ms = (unsigned)atoi(optarg); break;
		case 'r': c.rate = (unsigned)atoi(optarg); break;
		case 'n': c.count = (unsigned)atoi(optarg); break;
		case 'b': c.payload = (unsigned)atoi(optarg); break;
		case 'p': c.pid = atoi(optarg); break;
		case 'f': c.fsync = optarg; break;
		case 'R': c.rep = (unsigned)atoi(optarg); break;
		case 'i': c.pipe = (unsigned)atoi(optarg); break;
		case 'h': bd_usage(stdout); return 0;
		default: bd_usage(stderr); return 2;
		}
	}
	if (!c.system || !c.addr || (strcmp(c.system, "beanstalkd") && strcmp(c.system, "redis") &&
				     strcmp(c.system, "timerd"))) {
		bd_usage(stderr);
		return 2;
	}
	if (c.consumers < 1 || c.consumers > BD_MAX_CONSUMERS || c.prefetch < 1 || c.window < 1 || c.pipe < 1 ||
	    c.pipe > BD_PIPE_MAX)
		bd_die("options", "--consumers 1..64, --prefetch and --window at least 1, --pipe 1..1024");
	signal(SIGPIPE, SIG_IGN);
	if (!strcmp(c.mode, "ack"))
		bd_ack(&c);
	else if (strcmp(c.system, "timerd"))
		bd_die("options", "--mode lateness and backlog are timerd's");
#ifdef DELIVER_TIMERD
	else if (!strcmp(c.mode, "lateness"))
		bd_lateness(&c);
	else if (!strcmp(c.mode, "backlog"))
		bd_backlog(&c);
#endif
	else
		bd_die("options", "--mode ack, lateness or backlog");
	return 0;
}
