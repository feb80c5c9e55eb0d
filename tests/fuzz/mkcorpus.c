/*
 * mkcorpus.c -- writes the seed corpora of the rpc and stream harnesses
 * with the client's own encoder (client/codec.c): valid requests of every
 * operation, and some a server must refuse. `make fuzz-seeds` runs it into
 * $(srcdir)/tests/fuzz/corpus; the text corpora (spec, units, addr) are
 * written by hand.
 *
 *	tests/fuzz/mkcorpus DIR        writes DIR/rpc/NAME and DIR/stream/NAME
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "client/internal.h"
#include "proto/frame.h"

/* A growing byte buffer (a stream of frames). */
struct mk_buf {
	uint8_t *p;
	size_t n, cap;
};

static const char *mk_dir;

/* Exits with a message. */
static void mk_die(const char *what, const char *path)
{
	fprintf(stderr, "mkcorpus: %s %s: %s\n", what, path, strerror(errno));
	exit(1);
}

/* Writes one corpus file. */
static void mk_write(const char *corpus, const char *name, const void *p, size_t n)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", mk_dir, corpus);
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		mk_die("cannot create", path);
	snprintf(path, sizeof(path), "%s/%s/%s", mk_dir, corpus, name);
	if (!(f = fopen(path, "wb")) || fwrite(p, 1, n, f) != n || fclose(f) != 0)
		mk_die("cannot write", path);
}

/* Appends bytes to b. */
static void mk_add(struct mk_buf *b, const void *p, size_t n)
{
	if (b->cap - b->n < n) {
		b->cap = (b->n + n) * 2;
		if (!(b->p = realloc(b->p, b->cap)))
			mk_die("out of memory", "");
	}
	memcpy(b->p + b->n, p, n);
	b->n += n;
}

/* Appends the framed request q with id to b. */
static void mk_frame(struct mk_buf *b, struct codec_req *q, uint64_t id)
{
	size_t n;
	uint8_t *tmp;

	q->r.id = id;
	n = codec_size(q);
	if (!(tmp = malloc(n)))
		mk_die("out of memory", "");
	codec_pack(q, tmp);
	mk_add(b, tmp, n);
	free(tmp);
}

/* Writes q's body (no length prefix) as rpc/NAME. */
static void mk_rpc(const char *name, struct codec_req *q, uint64_t id)
{
	struct mk_buf b = { 0 };

	mk_frame(&b, q, id);
	mk_write("rpc", name, b.p + FRAME_HDR, b.n - FRAME_HDR);
	free(b.p);
}

/* Fills q with an Arm. */
static void mk_arm(struct codec_req *q, const char *key, const char *topic, int64_t after, int64_t period,
		   bool notify)
{
	struct timerd_arm a = { .when = TIMERD_AFTER, .time_ns = after, .period_ns = period, .key = key,
				.topic = topic, .payload = "payload", .payload_len = 7, .notify = notify };

	codec_arm(q, &a);
}

/* The rpc corpus: one request body per file. */
static void mk_rpc_corpus(void)
{
	static const uint8_t garbage[] = { 0xff, 0xff, 0xff, 0xff, 0x0f, 0x08, 0x96, 0x01 };
	static const uint8_t unknown_op[] = { 0x08, 0x07, 0xfa, 0x06, 0x00 };	/* id 7, field 111 */
	struct timerd_arm wall = { .when = TIMERD_AT_UNIX, .time_ns = INT64_C(1700000060) * TIMERD_S, .topic = "jobs" };
	struct codec_req q;

	codec_hello(&q, "mkcorpus");
	mk_rpc("hello", &q, 1);
	q.u.hello.version = 99;
	mk_rpc("hello-version-99", &q, 2);
	mk_arm(&q, "k1", "jobs", 250 * TIMERD_MS, 0, false);
	mk_rpc("arm-key", &q, 3);
	mk_arm(&q, NULL, "", 5 * TIMERD_S, 10 * TIMERD_MS, true);
	mk_rpc("arm-periodic-notify", &q, 4);
	codec_arm(&q, &wall);
	mk_rpc("arm-unix", &q, 5);
	mk_arm(&q, "k1", "jobs", -1, 0, false);
	mk_rpc("arm-negative", &q, 6);
	mk_arm(&q, "k1", "jobs", TIMERD_S, 5, false);
	mk_rpc("arm-period-too-small", &q, 7);
	mk_arm(&q, "k\x01", "jobs", TIMERD_S, 0, false);
	mk_rpc("arm-key-control-char", &q, 8);
	mk_arm(&q, "k1", "jobs", TIMERD_S, 0, false);
	q.u.arm.timer_id = 1;
	mk_rpc("arm-key-and-id", &q, 9);
	mk_arm(&q, "k1", "jobs", TIMERD_S, 0, false);
	q.u.arm.when_case = TIMERD__ARM__WHEN__NOT_SET;
	mk_rpc("arm-no-time", &q, 10);
	codec_cancel(&q, 0, "k1");
	mk_rpc("cancel-key", &q, 11);
	codec_cancel(&q, 0, NULL);
	mk_rpc("cancel-nothing", &q, 12);
	codec_get(&q, 0, "wall");
	mk_rpc("get-key", &q, 13);
	codec_get(&q, 123456, NULL);
	mk_rpc("get-id", &q, 14);
	codec_list(&q, NULL, 0, 0, false);
	mk_rpc("list", &q, 15);
	codec_list(&q, "jobs", 0, 1, true);
	mk_rpc("list-topic-payload", &q, 16);
	codec_watch(&q, "jobs", false);
	mk_rpc("watch", &q, 17);
	codec_watch(&q, NULL, false);
	mk_rpc("watch-all", &q, 18);
	codec_watch(&q, "nobody", true);
	mk_rpc("unwatch-missing", &q, 19);
	codec_ping(&q);
	mk_rpc("ping", &q, 20);
	codec_stats(&q);
	mk_rpc("stats", &q, 21);
	codec_probe_attach(&q, "uprobe:/bin/true:main arm=50ms key=tid topic=slow");
	mk_rpc("probe-attach", &q, 22);
	codec_probe_detach(&q, 1);
	mk_rpc("probe-detach", &q, 23);
	codec_probe_list(&q);
	mk_rpc("probe-list", &q, 24);
	mk_write("rpc", "empty", "", 0);
	mk_write("rpc", "garbage", garbage, sizeof(garbage));
	mk_write("rpc", "unknown-op", unknown_op, sizeof(unknown_op));
}

/* Writes stream/NAME: the setup byte, then b. */
static void mk_stream(const char *name, uint8_t setup, const struct mk_buf *b)
{
	uint8_t *p = malloc(b->n + 1);

	if (!p)
		mk_die("out of memory", "");
	p[0] = setup;
	memcpy(p + 1, b->p, b->n);
	mk_write("stream", name, p, b->n + 1);
	free(p);
}

/* A client's session: hello, arms, a watch, lookups, a cancel. */
static void mk_session(struct mk_buf *b)
{
	struct codec_req q;
	uint64_t id = 1;

	codec_hello(&q, "mkcorpus");
	mk_frame(b, &q, id++);
	codec_watch(&q, "jobs", false);
	mk_frame(b, &q, id++);
	mk_arm(&q, "k1", "jobs", 2 * TIMERD_MS, 0, true);
	mk_frame(b, &q, id++);
	mk_arm(&q, NULL, "jobs", TIMERD_MS, TIMERD_MS, false);
	mk_frame(b, &q, id++);
	codec_get(&q, 0, "k1");
	mk_frame(b, &q, id++);
	codec_list(&q, "jobs", 0, 2, true);
	mk_frame(b, &q, id++);
	codec_ping(&q);
	mk_frame(b, &q, id++);
	codec_stats(&q);
	mk_frame(b, &q, id++);
	codec_cancel(&q, 0, "k1");
	mk_frame(b, &q, id++);
	codec_watch(&q, NULL, true);
	mk_frame(b, &q, id++);
}

/* The stream corpus: byte 0 picks the setup (see fuzz-stream.c), then frames. */
static void mk_stream_corpus(void)
{
	static const char http[] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
	static const uint8_t huge[] = { 0x7f, 0xff, 0xff, 0xff, 0x00 };
	struct mk_buf b = { 0 };
	struct codec_req q;

	mk_session(&b);
	mk_stream("session", 0, &b);
	mk_stream("session-tight", 1, &b);
	mk_stream("session-tcp-nonroot", 6, &b);
	b.n = 0;
	for (uint64_t i = 1; i <= 24; i++) {
		codec_stats(&q);
		mk_frame(&b, &q, i);
	}
	mk_stream("pipeline-stats-tight", 1, &b);
	b.n = 0;
	for (uint64_t i = 1; i <= 16; i++) {
		mk_arm(&q, NULL, "t", (int64_t)i * TIMERD_MS, 0, true);
		mk_frame(&b, &q, i);
	}
	mk_stream("pipeline-arms-notify", 0, &b);
	b.n = 0;
	codec_ping(&q);
	mk_frame(&b, &q, 1);
	mk_add(&b, huge, sizeof(huge));
	mk_stream("too-large", 0, &b);
	b.n = 0;
	mk_add(&b, http, sizeof(http) - 1);
	mk_stream("http", 0, &b);
	b.n = 0;
	codec_ping(&q);
	mk_frame(&b, &q, 1);
	b.n -= 3;
	mk_stream("partial", 0, &b);
	free(b.p);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: mkcorpus DIR\n");
		return 2;
	}
	mk_dir = argv[1];
	mk_rpc_corpus();
	mk_stream_corpus();
	return 0;
}
