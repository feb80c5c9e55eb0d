/*
 * fuzz-response.c -- the client library's Response decoder (client/codec.c
 * over protobuf-c and the arena): what libtimerd does with a frame from
 * whatever answers on the socket.
 *
 * Input: one Response body (no length prefix), at most CODEC_MAX_REPLY.
 * Checks: decoding either fails or gives a message the copy-out functions
 * (timer, list, stats, probes, groups, dead letters, events) turn into results or NULL without
 * reading outside it (ASan); codec_check's message stays in its buffer.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "client/internal.h"
#include "proto/arena.h"
#include "tests/fuzz/fuzz.h"

/* Runs every copy-out that could apply to m. */
static void fuzz_response_use(const Timerd__Response *m)
{
	static const Timerd__Request__BodyCase asked[] = {
		TIMERD__REQUEST__BODY_HELLO, TIMERD__REQUEST__BODY_ARM, TIMERD__REQUEST__BODY_GET,
		TIMERD__REQUEST__BODY_LIST, TIMERD__REQUEST__BODY_STATS, TIMERD__REQUEST__BODY_PING,
		TIMERD__REQUEST__BODY_PROBE_LIST, TIMERD__REQUEST__BODY_GROUP_LIST, TIMERD__REQUEST__BODY_DLQ_LIST,
	};
	struct timerd_arm_result ar;
	struct timerd_event ev;
	char msg[256];

	for (size_t i = 0; i < sizeof(asked) / sizeof(asked[0]); i++) {
		memset(msg, 0, sizeof(msg));
		(void)codec_check(m, asked[i], msg, sizeof(msg));
		if (!memchr(msg, '\0', sizeof(msg)))
			fuzz_fail("codec_check's message ran past its buffer");
	}
	if (m->body_case == TIMERD__RESPONSE__BODY_ARM && m->arm)
		codec_arm_result(m->arm, &ar);
	if (m->body_case == TIMERD__RESPONSE__BODY_GET && m->get && m->get->timer)
		free(codec_timer_copy(m->get->timer));
	if (m->body_case == TIMERD__RESPONSE__BODY_LIST && m->list)
		free(codec_list_copy(m->list));
	if (m->body_case == TIMERD__RESPONSE__BODY_STATS && m->stats)
		free(codec_stats_copy(m->stats));
	if (m->body_case == TIMERD__RESPONSE__BODY_PROBE_LIST && m->probe_list)
		free(codec_probes_copy(m->probe_list));
	if (m->body_case == TIMERD__RESPONSE__BODY_GROUP_LIST && m->group_list)
		free(codec_groups_copy(m->group_list));
	if (m->body_case == TIMERD__RESPONSE__BODY_DLQ_LIST && m->dlq_list)
		free(codec_dlq_copy(m->dlq_list));
	if (m->event) {
		(void)codec_event_view(m, &ev);
		free(codec_event_copy(m));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct arena a;
	Timerd__Response *m;

	if (size > CODEC_MAX_REPLY)
		return 0;	/* the readers refuse such a frame before decoding */
	arena_init(&a);
	arena_limit_for(&a, size);
	if ((m = timerd__response__unpack(arena_pbc(&a), size, data)))
		fuzz_response_use(m);
	arena_destroy(&a);
	return 0;
}
