/*
 * bench-beanstalkd.c -- a small beanstalkd client that measures `put` with a
 * delay, the way timerd-bench measures arms, for bench/compare-peers:
 *
 *   rpc.arm  puts/s with `conns` connections each keeping `pipeline` puts
 *            in flight (delay 3600 s, an 8-byte body)
 *   rpc.rtt  one connection, one put at a time: round-trip p50/p99
 *
 * usage: bench-beanstalkd --port N [--host H] [--mode arm|rtt|all] [--conns N]
 *        [--pipeline N] [--time MS] [--rtt-ops N] [--rep N]
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* One put: priority 0, delay 3600 s, ttr 120 s, an 8-byte body. */
static const char bs_put[] = "put 0 3600 120 8\r\nbenchjob\r\n";
#define BS_PUT_LEN (sizeof(bs_put) - 1)
#define BS_MAX_CONNS 64

struct bs_cfg {
	const char *host, *mode;
	unsigned port, conns, pipeline, time_ms, rtt_ops, rep;
};

struct bs_conn {
	int fd;
	unsigned pending;		/* puts sent, not yet answered */
	char in[65536];
	size_t in_len;
};

/* CLOCK_MONOTONIC now, ns. */
static int64_t bs_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Stops with a message. */
static void bs_die(const char *what)
{
	fprintf(stderr, "bench-beanstalkd: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* Connects to beanstalkd. */
static int bs_connect(const struct bs_cfg *c)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)c->port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0 || inet_pton(AF_INET, c->host, &sin.sin_addr) != 1 ||
	    connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
		bs_die("connect");
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* Writes n bytes fully. */
static void bs_write(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			bs_die("write");
		p += w;
		n -= (size_t)w;
	}
}

/* Sends k puts in one write. */
static void bs_send_puts(struct bs_conn *b, unsigned k)
{
	static char buf[BS_PUT_LEN * 1024];
	unsigned n = k < 1024 ? k : 1024;

	for (unsigned i = 0; i < n; i++)
		memcpy(buf + i * BS_PUT_LEN, bs_put, BS_PUT_LEN);
	bs_write(b->fd, buf, n * BS_PUT_LEN);
	b->pending += n;
}

/* Reads what is there and counts complete "INSERTED n" lines; returns them. */
static unsigned bs_read_replies(struct bs_conn *b)
{
	ssize_t r = read(b->fd, b->in + b->in_len, sizeof(b->in) - b->in_len);
	unsigned k = 0;
	char *p, *nl;

	if (r <= 0)
		bs_die("read");
	b->in_len += (size_t)r;
	for (p = b->in; (nl = memchr(p, '\n', b->in_len - (size_t)(p - b->in))) != NULL; p = nl + 1) {
		if (strncmp(p, "INSERTED ", 9) != 0) {
			fprintf(stderr, "bench-beanstalkd: unexpected reply: %.*s\n", (int)(nl - p), p);
			exit(1);
		}
		k++;
	}
	b->in_len -= (size_t)(p - b->in);
	memmove(b->in, p, b->in_len);
	b->pending -= k;
	return k;
}

/* Runs all connections for ms, topping each up to pipeline puts in flight; puts answered. */
static uint64_t bs_pump(struct bs_conn *b, unsigned n, unsigned pipeline, unsigned ms)
{
	struct pollfd pf[BS_MAX_CONNS];
	int64_t end = bs_now() + (int64_t)ms * 1000000;
	uint64_t done = 0;

	for (unsigned i = 0; i < n; i++)
		pf[i] = (struct pollfd){ .fd = b[i].fd, .events = POLLIN };
	while (bs_now() < end) {
		for (unsigned i = 0; i < n; i++)
			if (b[i].pending < pipeline)
				bs_send_puts(&b[i], pipeline - b[i].pending);
		if (poll(pf, n, 100) < 0 && errno != EINTR)
			bs_die("poll");
		for (unsigned i = 0; i < n; i++)
			if (pf[i].revents & POLLIN)
				done += bs_read_replies(&b[i]);
	}
	return done;
}

/* Answers every put still in flight. */
static void bs_drain(struct bs_conn *b, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		while (b[i].pending)
			bs_read_replies(&b[i]);
}

/* rpc.arm: conns x pipeline puts in flight. */
static void bs_bench_put(const struct bs_cfg *c)
{
	struct bs_conn *b = calloc(c->conns, sizeof(*b));
	uint64_t done;
	int64_t t0, t1;

	for (unsigned i = 0; i < c->conns; i++)
		b[i].fd = bs_connect(c);
	bs_pump(b, c->conns, c->pipeline, c->time_ms / 4 + 100);	/* warm-up */
	t0 = bs_now();
	done = bs_pump(b, c->conns, c->pipeline, c->time_ms);
	t1 = bs_now();
	bs_drain(b, c->conns);
	printf("{\"bench\":\"rpc.arm\",\"impl\":\"beanstalkd-put\",\"rep\":%u,\"conns\":%u,\"pipeline\":%u,"
	       "\"ops\":%" PRIu64 ",\"secs\":%.3f,\"ops_per_s\":%.0f,\"ns_per_op\":%.1f}\n", c->rep, c->conns,
	       c->pipeline, done, (double)(t1 - t0) / 1e9, (double)done * 1e9 / (double)(t1 - t0),
	       (double)(t1 - t0) / (double)done);
	fflush(stdout);
	for (unsigned i = 0; i < c->conns; i++)
		close(b[i].fd);
	free(b);
}

/* Orders int64 values. */
static int bs_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* rpc.rtt: one put at a time. */
static void bs_bench_rtt(const struct bs_cfg *c)
{
	struct bs_conn b = { .fd = bs_connect(c) };
	int64_t *v = malloc(c->rtt_ops * sizeof(*v)), sum = 0, t0;

	for (unsigned i = 0; i < 2000 + c->rtt_ops; i++) {
		t0 = bs_now();
		bs_send_puts(&b, 1);
		while (b.pending)
			bs_read_replies(&b);
		if (i >= 2000) {
			v[i - 2000] = bs_now() - t0;
			sum += v[i - 2000];
		}
	}
	qsort(v, c->rtt_ops, sizeof(*v), bs_cmp);
	printf("{\"bench\":\"rpc.rtt\",\"impl\":\"beanstalkd-put\",\"rep\":%u,\"op\":\"put\",\"ops\":%u,"
	       "\"p50_ns\":%" PRId64 ",\"p99_ns\":%" PRId64 ",\"mean_ns\":%" PRId64 ",\"ops_per_s\":%.0f}\n", c->rep,
	       c->rtt_ops, v[c->rtt_ops / 2], v[(size_t)(c->rtt_ops * 0.99)], sum / c->rtt_ops,
	       1e9 * c->rtt_ops / (double)sum);
	fflush(stdout);
	close(b.fd);
	free(v);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "host", required_argument, NULL, 'H' }, { "port", required_argument, NULL, 'P' },
		{ "mode", required_argument, NULL, 'm' }, { "conns", required_argument, NULL, 'c' },
		{ "pipeline", required_argument, NULL, 'p' }, { "time", required_argument, NULL, 't' },
		{ "rtt-ops", required_argument, NULL, 'n' }, { "rep", required_argument, NULL, 'R' },
		{ NULL, 0, NULL, 0 },
	};
	struct bs_cfg c = { .host = "127.0.0.1", .mode = "all", .conns = 4, .pipeline = 100, .time_ms = 2000,
			    .rtt_ops = 20000 };
	int o;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		unsigned v = optarg ? (unsigned)strtoul(optarg, NULL, 10) : 0;

		switch (o) {
		case 'H': c.host = optarg; break;
		case 'P': c.port = v; break;
		case 'm': c.mode = optarg; break;
		case 'c': c.conns = v < 1 ? 1 : v > BS_MAX_CONNS ? BS_MAX_CONNS : v; break;
		case 'p': c.pipeline = v ? v : 1; break;
		case 't': c.time_ms = v ? v : 100; break;
		case 'n': c.rtt_ops = v ? v : 1; break;
		case 'R': c.rep = v; break;
		default:
			fprintf(stderr, "usage: bench-beanstalkd --port N [--host H] [--mode arm|rtt|all] [--conns N] "
				"[--pipeline N] [--time MS] [--rtt-ops N] [--rep N]\n");
			return 2;
		}
	}
	if (!c.port) {
		fprintf(stderr, "bench-beanstalkd: give --port (beanstalkd's)\n");
		return 2;
	}
	if (!strcmp(c.mode, "arm") || !strcmp(c.mode, "all"))
		bs_bench_put(&c);
	if (!strcmp(c.mode, "rtt") || !strcmp(c.mode, "all"))
		bs_bench_rtt(&c);
	return 0;
}
