/*
 * fuzz-rpc.c -- the request path: the input is the body of one frame (what
 * conn.c hands rpc_handle() after the length prefix), run against the
 * daemon's decode/validate/dispatch code, a real engine holding a few
 * timers, and a real connection that watches a topic.
 *
 * Checks: exactly one reply, well formed, carrying the request's id (0 if
 * it does not decode); the fires that follow are well-formed events;
 * srv_destroy() leaves nothing behind (LeakSanitizer).
 */
#include "config.h"

#include <string.h>

#include "proto/frame.h"
#include "tests/fuzz/world.h"

/* Arms one timer as a client would have; aborts if the engine refuses. */
static void rpc_seed_arm(struct fuzz_world *w, const char *key, const char *topic, enum engine_when when,
			 int64_t time, int64_t period, bool notify)
{
	struct engine_arm a = {
		.key = key, .keylen = key ? (uint32_t)strlen(key) : 0,
		.when = when, .time = time, .period = period,
		.topic = topic, .topiclen = (uint32_t)strlen(topic),
		.payload = "payload", .payloadlen = 7,
		.owner = notify ? w->handle : 0, .flags = notify ? SRV_FLAG_NOTIFY : 0,
	};
	struct engine_arm_result r;
	int rc = engine_arm(w->srv->engine, &a, &r);

	if (rc < 0)
		fuzz_fail("seeding the engine: %s", td_strerror(rc));
}

/* What a daemon that has been in use holds: keyed, anonymous, periodic, wall-clock timers, a watch. */
static void rpc_seed(struct fuzz_world *w)
{
	rpc_seed_arm(w, "k1", "jobs", ENGINE_AFTER, ENGINE_NS_PER_S, 0, true);
	rpc_seed_arm(w, NULL, "", ENGINE_AFTER, 50 * ENGINE_NS_PER_MS, 10 * ENGINE_NS_PER_MS, false);
	rpc_seed_arm(w, "wall", "jobs", ENGINE_AT_REAL, w->real + 60 * ENGINE_NS_PER_S, 0, false);
	rpc_seed_arm(w, "k2", "other", ENGINE_AT_MONO, w->mono + 3600 * ENGINE_NS_PER_S, 0, true);
	if (watch_add(w->conn, "jobs", 4) < 0)
		fuzz_fail("watch_add failed");
}

/* The id the reply must carry: the request's, or 0 if it does not decode. */
static uint64_t rpc_expect_id(const uint8_t *data, size_t size)
{
	Timerd__Request *rq = timerd__request__unpack(NULL, size, data);
	uint64_t id = rq ? rq->id : 0;

	if (rq)
		timerd__request__free_unpacked(rq, NULL);
	return id;
}

/* Runs one frame body through rpc_handle(). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_world w;
	uint64_t id;

	if (size > FRAME_DEFAULT_MAX)
		return 0;	/* conn.c refuses such a frame before rpc_handle() */
	id = rpc_expect_id(data, size);
	fuzz_world_open(&w, &(struct fuzz_world_opts){ .root = true });
	rpc_seed(&w);
	rpc_handle(w.conn, data, (uint32_t)size);
	fuzz_world_settle(&w);
	if (w.replies != 1 || w.ids[0] != id)
		fuzz_fail("%llu replies to one request (first id %llu, expected %llu)", (unsigned long long)w.replies,
			  (unsigned long long)(w.replies ? w.ids[0] : 0), (unsigned long long)id);
	fuzz_world_advance(&w, 2 * ENGINE_NS_PER_S);
	fuzz_world_advance(&w, 7200 * ENGINE_NS_PER_S);
	fuzz_world_finish(&w);
	fuzz_world_close(&w);
	return 0;
}
