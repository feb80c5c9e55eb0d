/*
 * srv-webhook.h -- the webhook thread: each group with a webhook_url is a
 * consumer of the group set (server/group.h) whose deliveries are POSTed
 * by server/webhook.c on this thread's event_base; 2xx acks, anything else
 * nacks with the answer in words (the group's backoff, max_attempts and
 * dead letters apply).
 *
 * Usage (srv.c), on the main thread:
 *
 *	struct srv_webhooks *wh = srv_webhook_start(gs, err, sizeof(err));
 *	group_srv_set_changed(s, srv_webhook_changed, wh);   passes each existing (restored)
 *	                                        group to it at once, then every change
 *	...the group set's changed hook, any thread, no lock held:
 *	srv_webhook_changed(wh, name, g);       g NULL: deleted; g without webhook_url: none
 *	...
 *	srv_webhook_stop(wh);                   before the group set and the journal stop
 *
 * Threads: srv_webhook_changed and the consumers' deliver callbacks post to
 * the thread's inbox (a mutex-protected list and an eventfd); everything
 * else runs on the webhook thread.
 */
#ifndef TIMERD_SRV_WEBHOOK_H
#define TIMERD_SRV_WEBHOOK_H

#include <stddef.h>

#include "proto/timerd.pb-c.h"

struct group_set;
struct srv_webhooks;

/* Starts the webhook thread for gs (its groups come through srv_webhook_changed); NULL with err. */
struct srv_webhooks *srv_webhook_start(struct group_set *gs, char *err, size_t errlen);

/*
 * A group was created or changed (g) or deleted (g NULL): its webhook
 * follows; any thread; wh is the struct srv_webhooks (the hook's type).
 * The request timeout is the group's webhook_timeout (default: the ack
 * timeout), cut to a tenth (at most 1 s) less than the ack timeout.
 */
void srv_webhook_changed(void *wh, const char *name, const Timerd__Group *g);

/* Unsubscribes every webhook (their deliveries in flight are due again), stops and frees the thread; wh may be NULL. */
void srv_webhook_stop(struct srv_webhooks *wh);

#endif /* TIMERD_SRV_WEBHOOK_H */
