/*
 * group.c -- libtimerd's consumer groups (doc/delivery.md): encoding the
 * group, subscribe, ack and dead-letter requests, copying their replies out,
 * and the frees. The blocking and async calls are in sync.c and async.c.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "client/internal.h"

/* Drops const from a string for protobuf-c's char * fields (never written). */
#define GROUP_STR(s) ((char *)(uintptr_t)((s) ? (s) : ""))

/* Starts q with an empty envelope of body c. */
static void group_init(struct codec_req *q, Timerd__Request__BodyCase c)
{
	timerd__request__init(&q->r);
	q->r.body_case = c;
	q->sent_ns = 0;
}

/* Fills a GroupCreate; TIMERD_EARG if the group has no name or its topics array is missing. */
int codec_group_create(struct codec_req *q, const struct timerd_group *g, bool update)
{
	Timerd__Group *m = &q->group;

	if (!g || !g->name || !*g->name || (g->n_topics && !g->topics))
		return TIMERD_EARG;
	for (size_t i = 0; i < g->n_topics; i++)
		if (!g->topics[i])
			return TIMERD_EARG;
	group_init(q, TIMERD__REQUEST__BODY_GROUP_CREATE);
	timerd__group_create__init(&q->u.group_create);
	timerd__group__init(m);
	m->name = GROUP_STR(g->name);
	m->n_topics = g->n_topics;
	m->topics = (char **)(uintptr_t)g->topics;
	m->ack_timeout_ns = g->ack_timeout_ns;
	m->max_attempts = g->max_attempts;
	m->backoff_min_ns = g->backoff_min_ns;
	m->backoff_max_ns = g->backoff_max_ns;
	m->max_backlog = g->max_backlog;
	m->unordered = g->unordered;
	m->webhook_url = GROUP_STR(g->webhook_url);
	m->webhook_concurrency = g->webhook_concurrency;
	m->webhook_timeout_ns = g->webhook_timeout_ns;
	m->webhook_insecure = g->webhook_insecure;
	q->u.group_create.group = m;
	q->u.group_create.update = update;
	q->r.group_create = &q->u.group_create;
	return TIMERD_OK;
}

/* Fills a GroupDelete. */
void codec_group_delete(struct codec_req *q, const char *name)
{
	group_init(q, TIMERD__REQUEST__BODY_GROUP_DELETE);
	timerd__group_delete__init(&q->u.group_delete);
	q->u.group_delete.name = GROUP_STR(name);
	q->r.group_delete = &q->u.group_delete;
}

/* Fills a GroupList (name NULL or "": every group). */
void codec_group_list(struct codec_req *q, const char *name)
{
	group_init(q, TIMERD__REQUEST__BODY_GROUP_LIST);
	timerd__group_list__init(&q->u.group_list);
	q->u.group_list.name = GROUP_STR(name);
	q->r.group_list = &q->u.group_list;
}

/* Fills a Subscribe, or an Unsubscribe (credit unused). */
void codec_subscribe(struct codec_req *q, const char *group, uint32_t credit, bool unsubscribe)
{
	if (unsubscribe) {
		group_init(q, TIMERD__REQUEST__BODY_UNSUBSCRIBE);
		timerd__unsubscribe__init(&q->u.unsubscribe);
		q->u.unsubscribe.group = GROUP_STR(group);
		q->r.unsubscribe = &q->u.unsubscribe;
		return;
	}
	group_init(q, TIMERD__REQUEST__BODY_SUBSCRIBE);
	timerd__subscribe__init(&q->u.subscribe);
	q->u.subscribe.group = GROUP_STR(group);
	q->u.subscribe.credit = credit;
	q->r.subscribe = &q->u.subscribe;
}

/* Fills an Ack. */
void codec_ack(struct codec_req *q, uint64_t delivery_id)
{
	group_init(q, TIMERD__REQUEST__BODY_ACK);
	timerd__ack__init(&q->u.ack);
	q->u.ack.delivery_id = delivery_id;
	q->r.ack = &q->u.ack;
}

/* Fills a Nack. */
void codec_nack(struct codec_req *q, uint64_t delivery_id, int64_t retry_after_ns, const char *error)
{
	group_init(q, TIMERD__REQUEST__BODY_NACK);
	timerd__nack__init(&q->u.nack);
	q->u.nack.delivery_id = delivery_id;
	q->u.nack.retry_after_ns = retry_after_ns;
	q->u.nack.error = GROUP_STR(error);
	q->r.nack = &q->u.nack;
}

/* Fills a DlqList. */
void codec_dlq_list(struct codec_req *q, const char *group, const char *key, uint64_t cursor, uint32_t limit,
		    bool with_payload)
{
	group_init(q, TIMERD__REQUEST__BODY_DLQ_LIST);
	timerd__dlq_list__init(&q->u.dlq_list);
	q->u.dlq_list.group = GROUP_STR(group);
	q->u.dlq_list.key = GROUP_STR(key);
	q->u.dlq_list.cursor = cursor;
	q->u.dlq_list.limit = limit;
	q->u.dlq_list.with_payload = with_payload;
	q->r.dlq_list = &q->u.dlq_list;
}

/* Fills a DlqRetry, or a DlqPurge when purge. */
void codec_dlq_act(struct codec_req *q, const char *group, const char *key, uint64_t delivery_id, bool purge)
{
	if (purge) {
		group_init(q, TIMERD__REQUEST__BODY_DLQ_PURGE);
		timerd__dlq_purge__init(&q->u.dlq_purge);
		q->u.dlq_purge.group = GROUP_STR(group);
		q->u.dlq_purge.key = GROUP_STR(key);
		q->u.dlq_purge.delivery_id = delivery_id;
		q->r.dlq_purge = &q->u.dlq_purge;
		return;
	}
	group_init(q, TIMERD__REQUEST__BODY_DLQ_RETRY);
	timerd__dlq_retry__init(&q->u.dlq_retry);
	q->u.dlq_retry.group = GROUP_STR(group);
	q->u.dlq_retry.key = GROUP_STR(key);
	q->u.dlq_retry.delivery_id = delivery_id;
	q->r.dlq_retry = &q->u.dlq_retry;
}

/* Fills a public group from a Group message (NULL: an empty one), strings in the block. */
static void group_fill(struct codec_blk *b, struct timerd_group *g, const Timerd__Group *m)
{
	static const Timerd__Group empty = TIMERD__GROUP__INIT;
	const char **topics;
	const char *name, *url;

	m = m ? m : &empty;
	name = codec_blk_str(b, m->name);
	url = codec_blk_str(b, m->webhook_url);
	topics = codec_blk_take(b, sizeof(*topics) * (m->n_topics ? m->n_topics : 1));
	for (size_t i = 0; i < m->n_topics; i++) {
		const char *t = codec_blk_str(b, m->topics[i]);

		if (topics)
			topics[i] = t;
	}
	if (!g)
		return;
	*g = (struct timerd_group){
		.name = name,
		.topics = topics,
		.n_topics = m->n_topics,
		.ack_timeout_ns = m->ack_timeout_ns,
		.max_attempts = m->max_attempts,
		.backoff_min_ns = m->backoff_min_ns,
		.backoff_max_ns = m->backoff_max_ns,
		.max_backlog = m->max_backlog,
		.unordered = m->unordered,
		.webhook_url = url,
		.webhook_concurrency = m->webhook_concurrency,
		.webhook_timeout_ns = m->webhook_timeout_ns,
		.webhook_insecure = m->webhook_insecure,
	};
}

/* Lays out a group list in the block. */
static struct timerd_groups *group_list_lay(struct codec_blk *b, const Timerd__GroupListReply *m)
{
	struct timerd_groups *l = codec_blk_take(b, sizeof(*l));
	struct timerd_group_info *v = codec_blk_take(b, sizeof(*v) * (m->n_groups ? m->n_groups : 1));

	for (size_t i = 0; i < m->n_groups; i++) {
		const Timerd__GroupInfo *gi = m->groups[i];

		group_fill(b, v ? &v[i].group : NULL, gi->group);
		if (!v)
			continue;
		v[i].backlog = gi->backlog;
		v[i].in_flight = gi->in_flight;
		v[i].acked = gi->acked;
		v[i].redeliveries = gi->redeliveries;
		v[i].dead_letters = gi->dead_letters;
		v[i].consumers = gi->consumers;
		v[i].delivered = gi->delivered;
		v[i].nacked = gi->nacked;
		v[i].timeouts = gi->timeouts;
		v[i].backlog_dropped = gi->backlog_dropped;
		v[i].created = gi->created;
		v[i].dead_lettered = gi->dead_lettered;
		v[i].webhook_requests = gi->webhook_requests;
		v[i].webhook_failures = gi->webhook_failures;
	}
	if (l) {
		l->n = m->n_groups;
		l->v = v;
	}
	return l;
}

/* Copies a GroupListReply into one allocation. */
struct timerd_groups *codec_groups_copy(const Timerd__GroupListReply *m)
{
	struct codec_blk b = { NULL, 0 };

	group_list_lay(&b, m);
	if (!(b.base = malloc(b.off)))
		return NULL;
	b.off = 0;
	return group_list_lay(&b, m);
}

/* Lays out a dead-letter page in the block. */
static struct timerd_dlq *group_dlq_lay(struct codec_blk *b, const Timerd__DlqListReply *m)
{
	struct timerd_dlq *d = codec_blk_take(b, sizeof(*d));
	struct timerd_dead_letter *v = codec_blk_take(b, sizeof(*v) * (m->n_letters ? m->n_letters : 1));

	for (size_t i = 0; i < m->n_letters; i++) {
		const Timerd__DeadLetter *l = m->letters[i];
		const char *key = codec_blk_str(b, l->key), *topic = codec_blk_str(b, l->topic);
		const char *err = codec_blk_str(b, l->last_error);
		const void *payload = codec_blk_mem(b, l->payload.data, l->payload.len);

		if (v)
			v[i] = (struct timerd_dead_letter){
				.delivery_id = l->delivery_id,
				.timer_id = l->timer_id,
				.key = key,
				.topic = topic,
				.payload = payload,
				.payload_len = l->payload.len,
				.payload_size = l->payload_len,
				.attempts = l->attempts,
				.last_error = err,
				.deadline_unix_ns = l->deadline_unix_ns,
				.dead_unix_ns = l->dead_unix_ns,
			};
	}
	if (d) {
		d->n = m->n_letters;
		d->v = v;
		d->next_cursor = m->next_cursor;
	}
	return d;
}

/* Copies a DlqListReply into one allocation. */
struct timerd_dlq *codec_dlq_copy(const Timerd__DlqListReply *m)
{
	struct codec_blk b = { NULL, 0 };

	group_dlq_lay(&b, m);
	if (!(b.base = malloc(b.off)))
		return NULL;
	b.off = 0;
	return group_dlq_lay(&b, m);
}

/* Frees a group list. */
void timerd_groups_free(struct timerd_groups *g)
{
	free(g);
}

/* Frees a dead-letter page. */
void timerd_dlq_free(struct timerd_dlq *d)
{
	free(d);
}
