/*
 * group-srv.h -- the daemon's side of consumer groups (server/group.h is
 * the state machine): the group thread, the journal hooks, subscribed
 * connections as consumers, the RPC glue.
 *
 * Threads: the group thread (group_srv_start) runs group_tick() when the
 * journal committed a fire batch (group_srv_wake), when a delivery was
 * created with no journal, and at the earliest ack timeout or backoff
 * end; it sleeps in poll() on an eventfd. Everything else runs on the
 * caller's thread under the set's mutex (group.h's table).
 */
#ifndef TIMERD_GROUP_SRV_H
#define TIMERD_GROUP_SRV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/group.h"

struct srv;
struct conn;
struct store;

/* The groups of a server. */
struct group_srv {
	struct group_set gs;
	struct srv *s;
	pthread_t thread;
	bool started;
	int efd;
	_Atomic bool stop;
	/* the webhook module's hook (group_srv_set_changed), NULL: none */
	void (*changed)(void *arg, const char *name, const Timerd__Group *g);
	void *changed_arg;
	_Atomic uint64_t restored;	/* deliveries loaded at start */
};

/* A connection's subscription to one group (a consumer). */
struct group_sub {
	struct group_consumer c;
	struct group_sub *next;		/* the connection's subscriptions */
	uint64_t handle;		/* its connection's */
	struct srv *s;
	char name[GROUP_MAX_NAME + 1];
	uint32_t credit;		/* its credit, counted in the connection's gsub_credit (0: not subscribed) */
};

/* Subscriptions one connection may hold. */
#define GROUP_SRV_MAX_SUBS 64

/* Creates s->groups (before journal_open, which restores into it); 0 or -1 with err. */
int group_srv_init(struct srv *s, char *err, size_t errlen);

/* Restores the groups and deliveries of the store (journal_open, engine not started); 0 or -1 with err. */
int group_srv_load(struct srv *s, struct store *st, char *err, size_t errlen);

/* Starts the group thread; 0 or -1 with err. */
int group_srv_start(struct srv *s, char *err, size_t errlen);

/* Stops the thread and any further hand-out (before the loops are freed; consumers may still unsubscribe). */
void group_srv_quiesce(struct srv *s);

/* Frees everything (after the loops and their connections are gone). */
void group_srv_stop(struct srv *s);

/* Wakes the group thread (any thread; nothing if groups are not set up). */
void group_srv_wake(struct srv *s);

/* The next delivery id (journal meta); 0 if groups are not set up. */
uint64_t group_srv_next_id(struct srv *s);

/*
 * The unix-minus-monotonic offset to give d's times on CLOCK_MONOTONIC: the
 * one its fire was stamped with (so a delivery's deadline_mono_ns and
 * fired_mono_ns are the fire's own, as a watcher's Fire has them, with no
 * clock read), or, for a delivery restored at start, the clock's now.
 */
int64_t group_srv_mono_to_unix(struct srv *s, const struct group_delivery *d);

/* The fire path (engine delivery workers): deliveries for the groups of f's topic; true if it journaled the one-shot's removal. */
struct engine_fire;
bool group_srv_fire(struct srv *s, const struct engine_fire *f);

/* Subscribe on connection c (loop thread); 0 or a GROUP_E* code. */
int group_srv_subscribe(struct conn *c, const char *name, uint32_t credit);

/* Unsubscribe; 0 or GROUP_ENOENT. */
int group_srv_unsubscribe(struct conn *c, const char *name);

/* Ack / nack a delivery in flight to c (jctx: c's loop); 0, GROUP_ENOENT or GROUP_ENOMEM; *hold: the batch to wait for. */
int group_srv_ack(struct conn *c, uint64_t id, uint64_t *hold);
int group_srv_nack(struct conn *c, uint64_t id, int64_t retry_after_ns, const char *error, uint64_t *hold);

/* An ack of id on c was refused (STORAGE): its attempt will not count (group_ack_refused). */
void group_srv_ack_refused(struct conn *c, uint64_t id);

/* c is closing: its subscriptions end, their deliveries in flight are due again ("consumer gone"). */
void group_srv_conn_drop(struct conn *c);

/* Fills DeliveryStats. */
void group_srv_stats(struct srv *s, Timerd__DeliveryStats *st);

/*
 * The webhook module's hook: fn is called at once for every group that
 * exists (restored ones), then after each create, change or delete (g
 * NULL) on the thread that made it, with no lock held (fn may call
 * group_subscribe; a group with webhook_url takes only consumers with
 * c->webhook set). Set it once, before the loops take requests.
 */
void group_srv_set_changed(struct srv *s, void (*fn)(void *arg, const char *name, const Timerd__Group *g), void *arg);

#endif /* TIMERD_GROUP_SRV_H */
