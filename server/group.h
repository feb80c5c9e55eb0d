/*
 * group.h -- consumer groups (doc/delivery.md): named, durable groups that
 * subscribe to topics; every fire of one of their topics becomes one
 * delivery per group, stored with the fire (the journal's fire batch),
 * handed to one consumer at a time and kept until it is acked; after
 * max_attempts it becomes a dead letter.
 *
 * The module is a state machine (struct group_set, group.c) that knows no
 * thread, socket or SQL: the daemon (server/group-srv.c) gives it hooks to
 * the journal and runs its timer work on the group thread; unit tests
 * (tests/unit/test-group.c) give it fake hooks and a fake clock.
 *
 * Consumers. Anything that takes deliveries is a struct group_consumer with
 * a deliver callback: a subscribed RPC connection (group-srv.c), the
 * webhook (server/webhook.c) and later an HTTP long-poll route all use the
 * same interface:
 *
 *	static const struct group_consumer_ops my_ops = { .deliver = my_deliver };
 *	struct group_consumer *c = &me->consumer;     owned by you, zeroed
 *	c->ops = &my_ops; c->arg = me;
 *	group_subscribe(gs, "jobs", c, credit, ...);   credit: in flight at most
 *	my_deliver(c, d)                              group lock held, any thread:
 *	    copy what you need from *d, queue it to your own thread, return 0
 *	    (or -1: refused, d goes back to the head of the queue)
 *	...your thread, when the work is done:
 *	group_ack(c, d_id, jctx, &hold)               completes it (journaled)
 *	group_nack(c, d_id, retry_after_ns, "why", jctx, &hold)
 *	...
 *	group_unsubscribe(c, "consumer gone")         in-flight deliveries are due again;
 *	                                              after it returns, deliver is never
 *	                                              called on c again: free it
 *
 * jctx is handed to the journal hook: a loop thread passes its struct loop
 * (the row joins that loop's batch and the reply waits for *hold, as an
 * arm's does); any other thread passes NULL (the row joins the shared fire
 * batch; *hold is 0, nothing to wait for).
 *
 * What may run concurrently (one mutex, gs->mu, serialises all state; every
 * entry point takes it; callbacks run with it held):
 *
 *	function                       thread(s)                     may run with
 *	group_fire                     engine delivery workers       everything (takes mu)
 *	group_create/delete/list/dlq_* loop threads (RPC, HTTP)      everything (takes mu)
 *	group_subscribe/unsubscribe    loop threads, webhook thread  everything (takes mu)
 *	group_ack/nack                 loop threads, webhook thread  everything (takes mu)
 *	group_tick                     the group thread              everything (takes mu)
 *	group_stats                    stats, loop threads           everything (takes mu)
 *	ops->deliver                   whichever of the above        nothing of gs: mu is held;
 *	                               made progress                 it must not block nor call group_*
 *	hooks.put / put_fire           under mu                      journal: own locks, never gs->mu
 *	hooks.changed                  after a create/update/delete, no lock held
 *	                               on the caller's thread
 *
 * Lock order: gs->mu, then the journal's fire mutex (hooks.put_fire); the
 * journal thread never takes gs->mu.
 */
#ifndef TIMERD_GROUP_H
#define TIMERD_GROUP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/timerd.pb-c.h"
#include "server/hmap.h"
#include "store/store.h"

/* Defaults and bounds of a group's settings (doc/delivery.md). */
#define GROUP_DEFAULT_ACK_TIMEOUT_NS (30LL * 1000000000LL)
#define GROUP_DEFAULT_MAX_ATTEMPTS 5u
#define GROUP_DEFAULT_BACKOFF_MIN_NS (1LL * 1000000000LL)
#define GROUP_DEFAULT_BACKOFF_MAX_NS (300LL * 1000000000LL)
#define GROUP_DEFAULT_MAX_BACKLOG 100000u
#define GROUP_DEFAULT_WEBHOOK_CONCURRENCY 8u
/* A webhook delivery is in flight ack_timeout + this: its request's own timeout (at most ack_timeout) ends first. */
#define GROUP_WEBHOOK_SLACK_NS (1LL * 1000000000LL)
#define GROUP_MIN_ACK_TIMEOUT_NS (1000000LL)			/* 1 ms */
#define GROUP_MAX_ACK_TIMEOUT_NS (24LL * 3600 * 1000000000LL)	/* 1 day */
#define GROUP_MAX_ATTEMPTS 1000u
#define GROUP_MIN_BACKOFF_NS (1000000LL)			/* 1 ms */
#define GROUP_MAX_BACKOFF_NS (24LL * 3600 * 1000000000LL)	/* 1 day; also bounds Nack.retry_after_ns */
#define GROUP_MAX_BACKLOG (10000000u)
#define GROUP_MAX_NAME 128		/* bytes of a group name */
#define GROUP_MAX_TOPICS 64		/* topics per group */
#define GROUP_MAX_GROUPS 1024		/* groups per timerd */
#define GROUP_MAX_CREDIT 10000u		/* Subscribe.credit */
#define GROUP_MAX_ERROR 512		/* bytes of a nack's error kept */
#define GROUP_MAX_URL 2048		/* bytes of a webhook_url */

/* Rows: store_rec ops STORE_GROUP_* and STORE_DLV_* (store/store.h documents the columns). */

/* A delivery as a consumer sees it: valid during the deliver callback only (copy what you keep). */
struct group_delivery {
	uint64_t id;			/* unique across restarts */
	uint32_t attempt;		/* 1 on the first delivery; > 1 a redelivery */
	const char *group;		/* NUL-terminated */
	uint64_t timer_id;
	const char *key;		/* keylen bytes (not NUL-terminated); "" for none */
	uint32_t keylen;
	const char *topic;
	uint32_t topiclen;
	const uint8_t *payload;
	uint32_t payloadlen;
	int64_t deadline_unix_ns;	/* when the fire was due */
	int64_t fired_unix_ns;		/* when it fired */
	int64_t mono_to_unix_ns;	/* unix minus CLOCK_MONOTONIC ns when it fired (has_mono) */
	bool has_mono;			/* false: restored at start, the fire's monotonic clock is gone */
	int64_t period_ns;
	uint64_t seq;			/* the fire's sequence number (periodic timers) */
	bool final;			/* one-shot: the timer no longer exists */
	int64_t ack_by_ns;		/* group clock: the ack timeout ends then (webhook groups: + GROUP_WEBHOOK_SLACK_NS) */
	const Timerd__Group *settings;	/* the group's settings (webhook_url ...) */
};

struct group_consumer;

struct group_consumer_ops {
	/*
	 * Takes delivery d (gs->mu held, on any thread): must not block and
	 * must not call group_*. 0: d is in flight to c until acked, nacked,
	 * timed out or c unsubscribes; -1: refused (d goes back first in line,
	 * c gets nothing more this round).
	 */
	int (*deliver)(struct group_consumer *c, const struct group_delivery *d);
};

/* A consumer: embed it in your own object and zero it; fields below ops/arg are group.c's. */
struct group_consumer {
	const struct group_consumer_ops *ops;
	void *arg;			/* yours */
	bool webhook;			/* the webhook module's: the only kind a group with webhook_url takes */
	/* private (group.c, under gs->mu) */
	struct group_set *gs;
	struct group *g;
	uint32_t credit, inflight;
	struct group_consumer *prev, *next;	/* g's consumers (a ring) */
	struct group_dlv *fhead, *ftail;	/* deliveries in flight to it */
	uint64_t cid;			/* this subscription's id (gs->next_cid): never reused, so a delivery's last_cid outlives c safely */
	bool subscribed, skip;
};

/* What the daemon gives the state machine. */
struct group_hooks {
	void *arg;
	/* Journals r (a group row); jctx: the caller's struct loop, or NULL (the shared fire batch). The batch seq to hold a reply for (0: none), or UINT64_MAX if out of memory. */
	uint64_t (*put)(void *arg, void *jctx, const struct store_rec *r);
	/* Journals a fired one-shot's removal (fired_id, 0: none) and n delivery rows in ONE batch; that batch's seq (0: not journaled). */
	uint64_t (*put_fire)(void *arg, uint64_t fired_id, const struct store_rec *rows, size_t n);
	/* The newest fire batch committed (deliveries of batches up to it may be pushed). */
	uint64_t (*durable)(void *arg);
	/* group_tick should run soon (something became due); any thread, mu may be held. */
	void (*wake)(void *arg);
	/* A group was created, changed (g) or deleted (g NULL); no lock held. */
	void (*changed)(void *arg, const char *name, const Timerd__Group *g);
	/* The clock: CLOCK_MONOTONIC ns, or CLOCK_REALTIME ns with real. */
	int64_t (*now)(void *arg, bool real);
	/* True if max-memory is used up (a fire then makes no delivery: counted in backlog_dropped); may be NULL. */
	bool (*mem_full)(void *arg, size_t more);
	/* max-memory's account (payload copies are counted in it); may be NULL. */
	_Atomic int64_t *mem;
	/* False while the store cannot be written (acks are refused): ack timeouts wait, attempts are spared; may be NULL. */
	bool (*writable)(void *arg);
};

/* Counters of one group (GroupInfo) or of all (DeliveryStats). */
struct group_counters {
	uint64_t created, delivered, acked, nacked, timeouts, redeliveries, dead_lettered, backlog_dropped;
	uint64_t duplicates, webhook_requests, webhook_failures;
};

struct group_heap {
	struct group_dlv **v;
	size_t n, cap;
};

struct group_set {
	pthread_mutex_t mu;
	struct group_hooks h;
	struct hmap groups;		/* name -> struct group */
	struct hmap topics;		/* topic -> struct group_tlist (the groups subscribed) */
	_Atomic uint32_t ngroups_any;	/* groups now (relaxed: group_wants' lock-free pre-check) */
	struct group_dlv **id_b;	/* delivery id -> struct group_dlv: buckets of an intrusive chained table (group.c) */
	size_t id_nb, id_n;		/* its buckets (a power of two, 0: none yet) and deliveries */
	struct group **all;		/* every group, creation order (list, stats) */
	size_t ngroups, capgroups;
	struct group_heap heap;		/* deliveries in flight (ack by) or backing off (due) */
	uint64_t next_id;		/* the next delivery id */
	uint64_t next_cid;		/* the last consumer id given (group_subscribe) */
	_Atomic uint64_t next_id_pub;	/* next_id for the journal thread (group_next_id), no lock */
	uint64_t rng;			/* jitter */
	int64_t now;			/* the clock group_tick last saw (CLOCK_MONOTONIC ns) */
	struct group_counters tot;	/* every group's, deleted ones too */
	struct group_dlv *commit_head, *commit_tail;	/* waiting for their fire batch to commit, in seq order */
	int64_t mem_used;		/* bytes of deliveries counted in *h.mem */
	struct group_dlv *pool;		/* freed deliveries kept for reuse (group.c group_dlv_new), under mu */
	uint32_t npool;			/* how many (at most GROUP_POOL_MAX) */
	bool quiesced;			/* group_quiesce: no more hand-outs */
};

/* Initialises an empty set with hooks h; 0 or -1. */
int group_set_init(struct group_set *gs, const struct group_hooks *h, uint64_t seed);

/* From now on nothing is handed to a consumer (shutdown: before the consumers' threads go). */
void group_quiesce(struct group_set *gs);

/* Frees everything (no consumer is subscribed, no thread uses gs). */
void group_set_destroy(struct group_set *gs);

/*
 * Validates g (names, topics, bounds); 0, or -1 with err saying what to do.
 * max_topic: the daemon's max-topic.
 */
int group_validate(const Timerd__Group *g, uint32_t max_topic, char *err, size_t errlen);

/* What the functions below return besides 0. */
#define GROUP_ECONFLICT 1
#define GROUP_EFULL 2
#define GROUP_ENOENT 3
#define GROUP_EINVAL 4
#define GROUP_ENOMEM 5
#define GROUP_EWEBHOOK 6	/* the group delivers to its webhook: no Subscribe */

/*
 * GroupCreate (g validated by group_validate): *created. 0 (also for the
 * same settings again), GROUP_ECONFLICT (other settings, not update: err
 * says what to do), GROUP_EFULL (GROUP_MAX_GROUPS) or GROUP_ENOMEM. The
 * row is journaled through hooks.put(jctx); *hold: the batch to wait for.
 */
int group_create(struct group_set *gs, const Timerd__Group *g, bool update, void *jctx, bool *created,
		 uint64_t *hold, char *err, size_t errlen);

/* GroupDelete: drops its deliveries and dead letters, unsubscribes its consumers; 0 or GROUP_ENOENT. */
int group_delete(struct group_set *gs, const char *name, void *jctx, uint64_t *hold);

/*
 * One group's state for GroupList, called under the lock: gi->group points
 * into gs (copy it, e.g. by unpacking packed/len, its packed form, into
 * your own allocator).
 */
typedef void (*group_info_fn)(void *arg, const Timerd__GroupInfo *gi, const uint8_t *packed, size_t len);

/* GroupList: calls fn for each group (name "": every one) under the lock; 0 or GROUP_ENOENT. */
int group_list(struct group_set *gs, const char *name, group_info_fn fn, void *arg);

/* A check of one of a group's topics (group_topics_ok), under the lock: true if it passes. */
typedef bool (*group_topic_fn)(void *arg, const char *topic, size_t len);

/*
 * Runs fn on each topic of group name (NULL or "": of the group delivery
 * delivery_id belongs to), under the lock, stopping at the first that fails:
 * 1 if all pass, 0 if one failed, GROUP_ENOENT if there is no such group or
 * delivery (a permission check: doc/security.md).
 */
int group_topics_ok(struct group_set *gs, const char *name, uint64_t delivery_id, group_topic_fn fn, void *arg);

/* A fire of a topic (engine delivery worker). */
struct group_fire {
	uint64_t timer_id;
	const char *key;
	uint32_t keylen;
	const char *topic;
	uint32_t topiclen;
	const void *payload;
	uint32_t payloadlen;
	int64_t deadline_unix_ns, fired_unix_ns, period_ns;
	int64_t mono_to_unix_ns;	/* the offset the unix times were made with (group_delivery.mono_to_unix_ns) */
	uint64_t seq;
	bool final;
	bool journal_fired;		/* journal the one-shot's removal with the deliveries */
};

/*
 * Makes one delivery per group subscribed to f's topic, journaled in one
 * batch with the one-shot's removal. Returns true if it journaled the
 * removal (the caller must not), false if no group takes the topic.
 */
bool group_fire(struct group_set *gs, const struct group_fire *f);

/* True if some group subscribes to topic (cheap pre-check; may be stale by the time of group_fire). */
bool group_wants(struct group_set *gs, const char *topic, uint32_t len);

/* Subscribes c to group name with credit (0: 1); 0, GROUP_ENOENT, GROUP_EINVAL (already subscribed), GROUP_EWEBHOOK. */
int group_subscribe(struct group_set *gs, const char *name, struct group_consumer *c, uint32_t credit);

/* Unsubscribes c: its deliveries in flight are due again at once (last_error reason); 0, or GROUP_ENOENT if it was not subscribed. */
int group_unsubscribe(struct group_consumer *c, const char *reason);

/* True if c is subscribed (its group may have been deleted since: then false). */
bool group_consumer_active(struct group_consumer *c);

/* Acks delivery id in flight to c; 0 or GROUP_ENOENT. */
int group_ack(struct group_consumer *c, uint64_t id, void *jctx, uint64_t *hold);

/* Nacks it: due again after retry_after_ns (0: the group's backoff); 0 or GROUP_ENOENT. */
int group_nack(struct group_consumer *c, uint64_t id, int64_t retry_after_ns, const char *error, void *jctx,
	       uint64_t *hold);

/*
 * The consumer's ack of delivery id was refused because the store cannot
 * be written (STORAGE): the attempt's end (its ack timeout, the consumer
 * going) is then not counted towards max_attempts and it is due at once.
 */
void group_ack_refused(struct group_consumer *c, uint64_t id);

/* When delivery id in flight to c times out now (group clock; extended while the store fails), or 0 if it is not in flight to c. */
int64_t group_ack_by(struct group_consumer *c, uint64_t id);

/* Counts a webhook request (and whether it failed) for the group's stats. */
void group_count_webhook(struct group_consumer *c, bool failed);

/*
 * The clock moved to now (CLOCK_MONOTONIC ns): committed deliveries become
 * ready, timeouts and backoffs due are handled, deliveries are handed out.
 * Returns the time it wants to run again (INT64_MAX: none).
 */
int64_t group_tick(struct group_set *gs, int64_t now);

/* DlqList: one page into r (allocated with alloc(aarg, n)); 0, GROUP_ENOENT or GROUP_ENOMEM. */
int group_dlq_list(struct group_set *gs, const Timerd__DlqList *q, Timerd__DlqListReply *r,
		   void *(*alloc)(void *aarg, size_t n), void *aarg);

/* DlqRetry (purge false) or DlqPurge (true): *count; 0 or GROUP_ENOENT. */
int group_dlq_apply(struct group_set *gs, const char *name, const char *key, uint64_t id, bool purge, void *jctx,
		    uint64_t *count, uint64_t *hold);

/* Totals for DeliveryStats. */
void group_stats(struct group_set *gs, Timerd__DeliveryStats *st);

/* --- restore (at start, before any thread uses gs) --- */

/* A group row of the store (name, packed Group); 0 or -1 (a row that does not decode is skipped: logged by the caller). */
int group_restore_group(struct group_set *gs, const char *name, const void *settings, size_t len);

/* A delivery row of the store; it is redelivered (attempt counted up, a duplicate). 0, or -1 out of memory. */
int group_restore_delivery(struct group_set *gs, const struct store_rec *r);

/* After the rows: the next delivery id is at least next. */
void group_restore_done(struct group_set *gs, uint64_t next_id);

/* The next delivery id (the journal records it in meta at each commit). */
uint64_t group_next_id(struct group_set *gs);

#endif /* TIMERD_GROUP_H */
