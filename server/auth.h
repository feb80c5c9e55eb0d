/*
 * auth.h -- connections and identities (server/auth.c): binding at accept,
 * by client certificate, by Auth (checked off the loop threads), and the
 * users file's reloads. The rules themselves are server/ident.h.
 */
#ifndef TIMERD_AUTH_H
#define TIMERD_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/ident.h"
#include "server/srv.h"

struct auth_job;
struct bufferevent;

/* Starts the Auth worker thread; 0 or -1 with err. */
int auth_start(struct srv *s, char *err, size_t errlen);

/* Tests and fuzzing: the delay after a first failure from an address (default 100 ms). */
void auth_set_delay(struct srv *s, int64_t min_ns);

/* Tests and fuzzing: the scrypt cost of the target unknown names are checked against (default IDENT_SCRYPT_*). */
void auth_set_dummy_cost(struct srv *s, unsigned log2n, unsigned r, unsigned p);

/* Stops it (after the loops stopped). */
void auth_stop(struct srv *s);

/* Loads --users into s->users at start (nothing without it); 0 or -1 with err ("FILE:LINE: ..."). */
int auth_load(struct srv *s, char *err, size_t errlen);

/* --check-config: auth_load's checks of the users file, nothing kept; 0 or -1 with the same err. */
int auth_check(const struct srv_config *c, char *err, size_t errlen);

/* SIGHUP: re-reads the users file and hands it to the loops; a bad file keeps the one in force (logged). */
void auth_reload(struct srv *s);

/* Binds a new connection by its peer uid (loop thread). */
void auth_bind_peer(struct conn *c);

/* Binds c by its verified client certificate, after the TLS handshake (loop thread). */
void auth_bind_cert(struct conn *c);

/* An Auth request: true if deferred (c reads nothing until auth_done replies), false if answered. */
bool auth_request(struct conn *c, uint64_t rid, const Timerd__Auth *m);

/* The worker's result for a job (LOOP_MSG_AUTH, loop thread). */
void auth_done(struct loop *l, struct auth_job *j);

/* A new users table for loop l (LOOP_MSG_USERS): closes connections whose identity was removed or changed. */
void auth_loop_users(struct loop *l, struct ident_table *t);

/* id's entry in the reloaded table t (old: id's table), or NULL if removed or changed (*changed says which). */
const struct ident *auth_rebind(const struct ident_table *old, const struct ident_table *t, const struct ident *id,
				bool *changed);

/* The identity bev's verified client certificate names (loop l's users), or NULL (loop thread). */
const struct ident *auth_cert_of(struct loop *l, struct bufferevent *bev);

/* An HTTP request's identity (Bearer, else the local peer's uid, or gid ((gid_t)-1: unknown)); 0 with *out, or UNAUTHENTICATED with msg. */
int auth_http(struct loop *l, const char *key, bool cred, uid_t uid, gid_t gid, const char *authz, const struct ident **out,
	      char *msg, size_t len, int64_t *retry_ms);

/* Frees c's pending attempt (conn_free). */
void auth_conn_free(struct conn *c);

#endif /* TIMERD_AUTH_H */
