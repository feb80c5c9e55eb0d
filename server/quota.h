/*
 * quota.h -- per-identity quotas (server/quota.c; doc/security.md,
 * "Quotas"): connections, arms per second (a token bucket answering
 * RATE_LIMITED with Error.retry_after_ms), watched topics, and through
 * the engine's accounts (quota_acct) pending timers and their memory. The limits are
 * the identity's (struct ident_quota, from the users file); the use is
 * counted per identity name across all its connections and loop threads,
 * so a reload that keeps an identity keeps its counts.
 *
 * Usage (loop threads):
 *
 *	if (!quota_conn_sync(c, why, sizeof(why)))    after c->ident may have changed
 *		close c with TOO_MANY_CONNECTIONS and why;
 *	if (!quota_arm_take(s, c, id, &retry_ms))     before each Arm
 *		answer RATE_LIMITED with retry_after_ms;
 *	if (!quota_watch_room(c)) ...                  before a new watch
 *	quota_watch_add(c, +1 / -1);                   after one was added / removed
 *	quota_conn_release(c);                         when c is freed
 *
 *	operation                          may run concurrently with
 *	every quota_* call                 every other (a global mutex finds a
 *	                                   name's use; each use has its own)
 */
#ifndef TIMERD_QUOTA_H
#define TIMERD_QUOTA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct conn;
struct ident;
struct srv;

/* Prepares s's quota table; 0 or -1 (out of memory). */
int quota_init(struct srv *s);

/* Frees it (after every connection is gone). */
void quota_destroy(struct srv *s);

/* Counts c under its identity now (c->ident): false, nothing counted, with why if that identity has max-connections open. */
bool quota_conn_sync(struct conn *c, char *why, size_t whylen);

/* c is freed: its connection and its watches leave its identity's counts. */
void quota_conn_release(struct conn *c);

/* True if identity id (c's, or an HTTP request's: c NULL) may arm once more now; else *retry_ms says when. */
bool quota_arm_take(struct srv *s, struct conn *c, const struct ident *id, uint32_t *retry_ms);

/* True if c's identity may watch one more topic (max-watches of the identity, across its connections). */
bool quota_watch_room(const struct conn *c);

/*
 * The engine account (engine_arm.acct) of identity name, for the timers it
 * creates and restores: max-timers and max-memory are counted there by the
 * engine. c's own use when it is name's (no lock); 0 if none can be had.
 */
uint32_t quota_acct(struct srv *s, const struct conn *c, const char *name);

/* c started (+1) or stopped (-1) watching a topic. */
void quota_watch_add(struct conn *c, int delta);

#endif /* TIMERD_QUOTA_H */
