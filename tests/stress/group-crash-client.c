/*
 * group-crash-client.c -- the producer and the consumers of
 * tests/stress/group-crash.sh (timerd killed with SIGKILL under a delivery
 * load). Both survive timerd's restarts: when the connection goes, they
 * reconnect every 20 ms until timerd answers again, and carry on.
 *
 *   group   --socket S --group G --topic T: declares the group and exits
 *   produce --socket S --topic T --log FILE --rate N --counter FILE
 *           arms uniquely keyed one-shot timers ("k<n>", due --delay ms
 *           later, with the topic) at up to N/s, at most --window of them
 *           armed and not yet acked (the consumers count their acks in the
 *           shared --counter file); logs the key of every arm whose reply
 *           said OK (the arm is in timerd's journal)
 *   consume --socket S --group G --log FILE --counter FILE [--credit N]
 *           subscribes, acks every delivery at once; logs
 *             R key delivery_id attempt realtime_ns   (delivery received)
 *             A key delivery_id attempt realtime_ns   (its Ack sent)
 *             C key delivery_id attempt realtime_ns   (that Ack answered OK)
 *           (an Ack sent just before a kill may be journaled with its reply
 *           lost: then no C, and rightly no redelivery either)
 * The logs are flushed every 100 ms (the script reads them while the
 * clients run) and on SIGTERM, which ends the client with status 0.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "client/timerd.h"

#define GC_PIPE 256			/* producer: arms in flight */

struct gc {
	const char *mode, *socket, *group, *topic, *log_path, *counter_path;
	unsigned rate, window, credit, delay_ms;
	struct event_base *base;
	struct timerd_async *a;		/* NULL while disconnected */
	struct timerd_async *dead;	/* lost, freed by the next tick (not in its own callback) */
	struct event *tick, *sig;
	FILE *log;
	_Atomic uint64_t *acked;	/* shared by the consumers, read by the producer */
	uint64_t seq;			/* producer: next key */
	uint64_t sent_ok;		/* producer: arms answered OK */
	int64_t start;
	uint64_t reconnects, errors;
	bool stopping;
};

/* What an ack's callback needs to log. */
struct gc_ack {
	struct gc *g;
	uint64_t delivery_id;
	uint32_t attempt;
	char key[48];
};

/* An arm's key, for its callback. */
struct gc_arm {
	struct gc *g;
	char key[32];
};

/* CLOCK_MONOTONIC now, ns. */
static int64_t gc_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* CLOCK_REALTIME now, ns (the script logs its kills on this clock). */
static int64_t gc_real(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Stops with a message (status 1). */
static void gc_die(const char *what, const char *msg)
{
	fprintf(stderr, "group-crash-client: %s: %s\n", what, msg);
	exit(1);
}

/* Maps the shared ack counter (a file of 8 bytes or more). */
static _Atomic uint64_t *gc_counter(const char *path)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	void *p;

	if (fd < 0 || ftruncate(fd, 4096) < 0)
		gc_die(path, strerror(errno));
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		gc_die(path, strerror(errno));
	close(fd);
	return p;
}

static void gc_connect(struct gc *g);

/* The connection is gone (timerd killed): forget it; the tick reconnects. */
static void gc_on_close(struct timerd_async *a, int code, const char *msg, void *arg)
{
	struct gc *g = arg;

	(void)code;
	(void)msg;
	if (g->a == a)
		g->a = NULL;
	g->dead = a;
}

/* An ack's reply: logs the delivery as acknowledged when timerd said OK. */
static void gc_on_acked(struct timerd_async *a, const struct timerd_reply *rep, void *arg)
{
	struct gc_ack *k = arg;
	struct gc *g = k->g;

	(void)a;
	if (rep->code == TIMERD_OK) {
		fprintf(g->log, "C %s %" PRIu64 " %" PRIu32 " %" PRId64 "\n", k->key, k->delivery_id, k->attempt,
			gc_real());
		/* relaxed: a flow-control count read by the producer; nothing else hangs on it. */
		atomic_fetch_add_explicit(g->acked, 1, memory_order_relaxed);
	} else if (rep->code < TIMERD_ECONNECT && g->errors++ < 5) {
		fprintf(stderr, "group-crash-client: ack %" PRIu64 ": %s\n", k->delivery_id, rep->message);
	}
	free(k);
}

/* A delivery: logs it, acks it. */
static void gc_on_event(struct timerd_async *a, const struct timerd_event *ev, void *arg)
{
	struct gc *g = arg;
	struct gc_ack *k;

	if (ev->kind != TIMERD_EVENT_FIRE || !ev->delivery.delivery_id)
		return;
	k = calloc(1, sizeof(*k));
	if (!k)
		gc_die("ack", "out of memory");
	*k = (struct gc_ack){ .g = g, .delivery_id = ev->delivery.delivery_id, .attempt = ev->delivery.attempt };
	snprintf(k->key, sizeof(k->key), "%s", ev->fire.key && *ev->fire.key ? ev->fire.key : "-");
	fprintf(g->log, "R %s %" PRIu64 " %" PRIu32 " %" PRId64 "\n", k->key, k->delivery_id, k->attempt, gc_real());
	/* the A line is made first: k belongs to the ack's callback once it is queued */
	char line[128];

	snprintf(line, sizeof(line), "A %s %" PRIu64 " %" PRIu32 " %" PRId64 "\n", k->key, k->delivery_id,
		 k->attempt, gc_real());
	if (timerd_async_ack(a, k->delivery_id, gc_on_acked, k) != TIMERD_OK) {
		free(k);		/* the connection is going: the delivery comes again */
		return;
	}
	fputs(line, g->log);
}

/* The Subscribe reply. */
static void gc_on_subscribed(struct timerd_async *a, const struct timerd_reply *rep, void *arg)
{
	(void)a;
	(void)arg;
	/* a lost connection (timerd killed: EIO, ECLOSED...) is retried by the tick */
	if (rep->code != TIMERD_OK && rep->code < TIMERD_ECONNECT && rep->code != TIMERD_ESHUTDOWN)
		gc_die("subscribe", rep->message);
}

static void gc_produce(struct gc *g);

/* An arm's reply: logs the key if it is armed (journaled). */
static void gc_on_armed(struct timerd_async *a, const struct timerd_reply *rep, void *arg)
{
	struct gc_arm *k = arg;
	struct gc *g = k->g;

	(void)a;
	if (rep->code == TIMERD_OK) {
		fprintf(g->log, "%s\n", k->key);
		g->sent_ok++;
	} else if (rep->code < TIMERD_ECONNECT && g->errors++ < 5) {
		fprintf(stderr, "group-crash-client: arm %s: %s\n", k->key, rep->message);
	}
	free(k);
	if (g->a)
		gc_produce(g);
}

/* Issues the arms the rate, the pipeline and the window allow. */
static void gc_produce(struct gc *g)
{
	uint64_t due = (uint64_t)((double)(gc_now() - g->start) * g->rate / 1e9);

	while (g->a && !g->stopping && g->seq < due && timerd_async_pending(g->a) < GC_PIPE &&
	       /* relaxed: a flow-control estimate; a stale count only delays an arm. */
	       g->seq - atomic_load_explicit(g->acked, memory_order_relaxed) < g->window) {
		struct gc_arm *k = calloc(1, sizeof(*k));

		if (!k)
			gc_die("arm", "out of memory");
		k->g = g;
		snprintf(k->key, sizeof(k->key), "k%" PRIu64, g->seq);
		struct timerd_arm arm = { .when = TIMERD_AFTER, .time_ns = (int64_t)g->delay_ms * TIMERD_MS,
					  .key = k->key, .topic = g->topic };

		if (timerd_async_arm(g->a, &arm, gc_on_armed, k) != TIMERD_OK) {
			free(k);
			return;
		}
		g->seq++;
	}
	/* keys not answered before a crash are simply not logged: they may or may not exist */
}

/* Connects (once per call; the tick retries) and subscribes or resumes arming. */
static void gc_connect(struct gc *g)
{
	struct timerd_error e;
	struct timerd_async *a;

	if (timerd_async_connect(g->base, g->socket, NULL, &a, &e) != TIMERD_OK)
		return;
	g->a = a;
	timerd_async_set_close_cb(a, gc_on_close, g);
	if (!strcmp(g->mode, "consume")) {
		timerd_async_set_event_cb(a, gc_on_event, g);
		if (timerd_async_subscribe(a, g->group, g->credit, gc_on_subscribed, g) != TIMERD_OK)
			gc_die("subscribe", "cannot queue a request");
	} else {
		gc_produce(g);
	}
}

/* Every 100 ms, and every ms for the producer: reconnects, arms, flushes the log. */
static void gc_tick(evutil_socket_t fd, short what, void *arg)
{
	struct gc *g = arg;
	static int64_t last_flush, last_try;
	int64_t now = gc_now();

	(void)fd;
	(void)what;
	if (g->dead) {
		timerd_async_free(g->dead);
		g->dead = NULL;
	}
	if (!g->a && !g->stopping && now - last_try >= 20 * TIMERD_MS) {
		last_try = now;
		gc_connect(g);
		if (g->a)
			g->reconnects++;
	}
	if (g->a && !strcmp(g->mode, "produce"))
		gc_produce(g);
	if (now - last_flush >= 100 * TIMERD_MS) {
		last_flush = now;
		fflush(g->log);
	}
}

/* SIGTERM: stops (the consumer acks what is in flight for up to 200 ms first). */
static void gc_on_term(evutil_socket_t fd, short what, void *arg)
{
	struct gc *g = arg;

	(void)fd;
	(void)what;
	g->stopping = true;
	struct timeval t = { 0, 200000 };

	event_base_loopexit(g->base, &t);
}

/* group: declares it (blocking API); exits 0 when it exists with these settings. */
static int gc_group(struct gc *g)
{
	struct timerd *t;
	struct timerd_error e;
	const char *topics[] = { g->topic };
	struct timerd_group gr = { .name = g->group, .topics = topics, .n_topics = 1,
				   .ack_timeout_ns = 5 * TIMERD_S, .max_attempts = 1000,
				   .backoff_min_ns = 50 * TIMERD_MS, .backoff_max_ns = 1 * TIMERD_S,
				   .max_backlog = 10000000 };

	if (timerd_connect(g->socket, NULL, &t, &e) != TIMERD_OK)
		gc_die("connect", e.message);
	if (timerd_group_create(t, &gr, true, NULL) != TIMERD_OK)
		gc_die("group create", timerd_errmsg(t));
	timerd_close(t);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", 1, NULL, 's' }, { "group", 1, NULL, 'g' }, { "topic", 1, NULL, 't' },
		{ "log", 1, NULL, 'l' }, { "counter", 1, NULL, 'c' }, { "rate", 1, NULL, 'r' },
		{ "window", 1, NULL, 'w' }, { "credit", 1, NULL, 'C' }, { "delay", 1, NULL, 'd' }, { 0 }
	};
	static struct gc g = { .group = "crash", .topic = "crash", .rate = 10000, .window = 20000, .credit = 64,
			       .delay_ms = 20 };
	struct timeval ms = { 0, 1000 };
	int o;

	if (argc < 2)
		gc_die("usage", "group-crash-client group|produce|consume --socket S ...");
	g.mode = argv[1];
	if (!strcmp(g.mode, "probe"))
		return 0;		/* the group functions are there */
	optind = 2;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 's': g.socket = optarg; break;
		case 'g': g.group = optarg; break;
		case 't': g.topic = optarg; break;
		case 'l': g.log_path = optarg; break;
		case 'c': g.counter_path = optarg; break;
		case 'r': g.rate = (unsigned)atoi(optarg); break;
		case 'w': g.window = (unsigned)atoi(optarg); break;
		case 'C': g.credit = (unsigned)atoi(optarg); break;
		case 'd': g.delay_ms = (unsigned)atoi(optarg); break;
		default: return 2;
		}
	}
	if (!g.socket)
		gc_die("usage", "give --socket");
	signal(SIGPIPE, SIG_IGN);
	if (!strcmp(g.mode, "group"))
		return gc_group(&g);
	if ((strcmp(g.mode, "produce") && strcmp(g.mode, "consume")) || !g.log_path || !g.counter_path)
		gc_die("usage", "group|produce|consume, with --log and --counter");
	if (!(g.log = fopen(g.log_path, "a")))
		gc_die(g.log_path, strerror(errno));
	setvbuf(g.log, NULL, _IOFBF, 1 << 20);
	g.acked = gc_counter(g.counter_path);
	g.base = event_base_new();
	g.start = gc_now();
	g.tick = event_new(g.base, -1, EV_PERSIST, gc_tick, &g);
	event_add(g.tick, &ms);
	g.sig = evsignal_new(g.base, SIGTERM, gc_on_term, &g);
	event_add(g.sig, NULL);
	gc_connect(&g);
	event_base_dispatch(g.base);
	fflush(g.log);
	fclose(g.log);
	fprintf(stderr, "group-crash-client %s: %" PRIu64 " reconnects\n", g.mode, g.reconnects);
	if (!strcmp(g.mode, "produce"))
		fprintf(stderr, "group-crash-client produce: %" PRIu64 " arms answered OK of %" PRIu64 " sent\n",
			g.sent_ok, g.seq);
	if (g.a)
		timerd_async_free(g.a);
	if (g.dead)
		timerd_async_free(g.dead);
	event_free(g.tick);
	event_free(g.sig);
	event_base_free(g.base);
	return 0;
}
