/*
 * fuzz-stream.c -- the framing layer: an arbitrary byte stream from a
 * client, written to a real connection (conn.c through libevent) in chunks
 * of arbitrary sizes, with the clock moving and timers firing between
 * chunks; then the client shuts its side.
 *
 * Input: byte 0 chooses the setup (bit 0: small limits, bit 1: a TCP peer,
 * bit 2: a non-root peer) and, with the input length, seeds the chunk sizes
 * and clock steps; the rest is the stream.
 *
 * Checks: every complete frame before the first one over max-frame gets
 * exactly one reply, in order, carrying its id; a frame over max-frame gets
 * one FRAME_TOO_LARGE error event and ends the connection; after the
 * client's EOF the server answers what it had, then closes; everything it
 * sends is a well-formed frame; nothing leaks.
 */
#include "config.h"

#include <string.h>

#include "proto/frame.h"
#include "tests/fuzz/world.h"

/* What the server must answer, computed from the stream alone. */
struct stream_expect {
	uint64_t *ids;		/* request id per complete frame (0: does not decode) */
	size_t n;
	bool too_large;		/* a frame header over max-frame ends the stream */
};

/* A small deterministic generator for chunk sizes and clock steps. */
static uint64_t stream_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Walks the frames of the stream as conn.c must see them. */
static void stream_expect(const uint8_t *p, size_t n, uint32_t max_frame, struct stream_expect *e)
{
	size_t off = 0;

	memset(e, 0, sizeof(*e));
	if (!(e->ids = malloc((n / FRAME_HDR + 1) * sizeof(*e->ids))))
		fuzz_fail("out of memory");
	while (n - off >= FRAME_HDR) {
		uint32_t len = frame_len(p + off);
		Timerd__Request *rq;

		if (len > max_frame) {
			e->too_large = true;
			return;
		}
		if (n - off - FRAME_HDR < len)
			return;
		rq = timerd__request__unpack(NULL, len, p + off + FRAME_HDR);
		e->ids[e->n++] = rq ? rq->id : 0;
		if (rq)
			timerd__request__free_unpacked(rq, NULL);
		off += FRAME_HDR + len;
	}
}

/* The size of the next chunk: mostly small, sometimes large. */
static size_t stream_chunk(uint64_t *rng, size_t left)
{
	uint64_t r = stream_rand(rng);
	size_t k = r % 4 == 0 ? 1 + r / 4 % 4 : r % 4 == 1 ? 1 + r / 4 % 64 : 1 + r / 4 % 4096;

	return k < left ? k : left;
}

/* A clock step between chunks: none, a millisecond, a second, an hour. */
static int64_t stream_step(uint64_t *rng)
{
	static const int64_t steps[] = { 0, 0, ENGINE_NS_PER_MS, ENGINE_NS_PER_S, 3600 * ENGINE_NS_PER_S };
	return steps[stream_rand(rng) % (sizeof(steps) / sizeof(steps[0]))];
}

/* Compares what the client got with what the stream asked for. */
static void stream_check(const struct fuzz_world *w, const struct stream_expect *e)
{
	if (w->replies != e->n)
		fuzz_fail("%zu complete frames got %llu replies", e->n, (unsigned long long)w->replies);
	for (size_t i = 0; i < e->n; i++)
		if (w->ids[i] != e->ids[i])
			fuzz_fail("reply %zu carries id %llu, its request %llu", i, (unsigned long long)w->ids[i],
				  (unsigned long long)e->ids[i]);
	if (w->too_large != (e->too_large ? 1u : 0u))
		fuzz_fail("%llu FRAME_TOO_LARGE errors for a stream that %s one", (unsigned long long)w->too_large,
			  e->too_large ? "has" : "has no");
}

/* Feeds one stream to one connection. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_world w;
	struct stream_expect e;
	uint64_t rng;
	size_t off = 1;

	if (size < 1)
		return 0;
	rng = 0x9e3779b97f4a7c15ull ^ ((uint64_t)data[0] << 32) ^ size;
	fuzz_world_open(&w, &(struct fuzz_world_opts){ .tight = data[0] & 1, .tcp = data[0] & 2,
						       .root = !(data[0] & 4) });
	stream_expect(data + 1, size - 1, w.cfg.max_frame, &e);
	while (off < size) {
		size_t k = stream_chunk(&rng, size - off);

		fuzz_world_write(&w, data + off, k);
		fuzz_world_settle(&w);
		off += k;
		if (stream_rand(&rng) % 3 == 0)
			fuzz_world_advance(&w, stream_step(&rng));
	}
	fuzz_world_finish(&w);
	stream_check(&w, &e);
	free(e.ids);
	fuzz_world_close(&w);
	return 0;
}
