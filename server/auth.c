/*
 * auth.c -- binding connections to identities (server/ident.h): by peer
 * uid (on the Unix socket also by gid) at accept, by client certificate
 * after the TLS handshake, or by an Auth request; and the users file's
 * reloads.
 *
 * An Auth is checked off the loop threads: scrypt costs tens of
 * milliseconds (doc/security.md), so a loop posts the attempt to one
 * worker thread and stops reading that connection (its later frames wait
 * in its input, so replies stay in request order) until the result comes
 * back in a LOOP_MSG_AUTH message. A secret already verified once is
 * recognised by its HMAC tag (ident_verify_fast) on the loop thread.
 *
 * Failures are slowed per address: each failure from an address doubles
 * the delay before that address's next attempt is checked (AUTH_DELAY_MIN
 * to AUTH_DELAY_MAX); the table of addresses is bounded (AUTH_ADDRS, the
 * oldest entry is reused). The worker's queue is bounded too (AUTH_QUEUE):
 * past it an attempt is refused at once, so a flood of guesses costs at
 * most one core and a bounded amount of memory.
 *
 *	thread       touches
 *	loop         conn->ident, conn->auth_*, the address table (lock)
 *	worker       the job it took (scrypt), nothing of a connection
 *	main         s->users (start, reload), posts LOOP_MSG_USERS
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "proto/text.h"
#include "server/auth.h"
#include "server/http.h"
#include "server/log.h"

#define AUTH_ADDRS 1024
#define AUTH_QUEUE 64
#define AUTH_DELAY_MIN_NS 100000000ll		/* 100 ms after the first failure */
#define AUTH_DELAY_MAX_NS 10000000000ll		/* at most 10 s */
#define AUTH_FORGET_NS 600000000000ll		/* an address quiet for 10 minutes starts over */
#define AUTH_SECRET_MAX 1024

/* One attempt in flight. */
struct auth_job {
	struct auth_job *next;
	struct loop *l;
	uint64_t handle;		/* the connection's */
	uint64_t rid;			/* the Auth request's id */
	struct ident_table *tab;	/* a reference: id lives in it */
	struct ident *id;		/* NULL: no such identity (scrypt runs anyway) */
	char name[IDENT_NAME_MAX + 1];
	char addr[64];
	size_t len;
	bool ok;
	uint8_t secret[AUTH_SECRET_MAX];
};

/* An address that failed. */
struct auth_addr {
	char key[64];
	uint32_t fails;
	int64_t until;			/* its next attempt is checked from then on */
	int64_t last;
};

struct auth {
	struct srv *s;
	pthread_t thread;
	bool started;
	pthread_mutex_t lock;		/* the queue */
	pthread_cond_t cond;
	struct auth_job *head, *tail;
	unsigned queued;
	bool stop;
	int64_t delay_min;		/* AUTH_DELAY_MIN_NS (auth_set_delay: tests) */
	pthread_mutex_t addr_lock;	/* addrs: every loop thread */
	struct auth_addr addrs[AUTH_ADDRS];
	struct ident dummy;		/* scrypt target of unknown names: the same cost as a real one */
};

/* Monotonic ns. */
static int64_t auth_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The worker: checks queued secrets with scrypt, posts each result back to its loop. */
static void *auth_worker(void *arg)
{
	struct auth *a = arg;

	for (;;) {
		struct auth_job *j;

		pthread_mutex_lock(&a->lock);
		while (!a->head && !a->stop)
			pthread_cond_wait(&a->cond, &a->lock);
		if (!a->head) {
			pthread_mutex_unlock(&a->lock);
			return NULL;
		}
		j = a->head;
		a->head = j->next;
		if (!a->head)
			a->tail = NULL;
		pthread_mutex_unlock(&a->lock);
		j->ok = ident_verify(j->id ? j->id : &a->dummy, j->secret, j->len) && j->id;
		OPENSSL_cleanse(j->secret, sizeof(j->secret));
		pthread_mutex_lock(&a->lock);
		a->queued--;
		pthread_mutex_unlock(&a->lock);
		{
			struct loop_msg *m = calloc(1, sizeof(*m));

			if (!m) {	/* the connection waits for nothing: it is closed by its loop at shutdown */
				log_err("out of memory posting an Auth result for %s", j->addr);
				ident_table_unref(j->tab);
				free(j);
				continue;
			}
			m->type = LOOP_MSG_AUTH;
			m->fd = -1;
			m->auth = j;
			loop_post(j->l, m);
		}
	}
}

/* Starts the worker; 0 or -1 with err. */
int auth_start(struct srv *s, char *err, size_t errlen)
{
	struct auth *a = calloc(1, sizeof(*a));

	if (!a) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	a->s = s;
	a->delay_min = AUTH_DELAY_MIN_NS;
	pthread_mutex_init(&a->lock, NULL);
	pthread_cond_init(&a->cond, NULL);
	pthread_mutex_init(&a->addr_lock, NULL);
	pthread_mutex_init(&a->dummy.lock, NULL);
	a->dummy.has_secret = true;
	a->dummy.log2n = IDENT_SCRYPT_LOG2N;
	a->dummy.r = IDENT_SCRYPT_R;
	a->dummy.p = IDENT_SCRYPT_P;
	a->dummy.name = (char *)"";
	if (pthread_create(&a->thread, NULL, auth_worker, a) != 0) {
		snprintf(err, errlen, "cannot start the authentication thread");
		free(a);
		return -1;
	}
	a->started = true;
	s->auth = a;
	return 0;
}

/* Tests and fuzzing: the delay after a first failure (doubling from there). */
void auth_set_delay(struct srv *s, int64_t min_ns)
{
	s->auth->delay_min = min_ns;
}

/* Tests and fuzzing: the scrypt cost of the unknown-name target; before any attempt (jobs reach the worker under a->lock). */
void auth_set_dummy_cost(struct srv *s, unsigned log2n, unsigned r, unsigned p)
{
	s->auth->dummy.log2n = (uint8_t)log2n;
	s->auth->dummy.r = (uint8_t)r;
	s->auth->dummy.p = (uint8_t)p;
}

/* Stops the worker (after the loops stopped) and frees what is still queued. */
void auth_stop(struct srv *s)
{
	struct auth *a = s->auth;

	if (!a)
		return;
	pthread_mutex_lock(&a->lock);
	a->stop = true;
	pthread_cond_signal(&a->cond);
	pthread_mutex_unlock(&a->lock);
	if (a->started)
		pthread_join(a->thread, NULL);
	pthread_mutex_destroy(&a->dummy.lock);
	free(a);
	s->auth = NULL;
}

/* How long until addr's next attempt may be checked (0: now); counts it when it must wait. */
static int64_t auth_addr_wait(struct auth *a, const char *key, int64_t now)
{
	int64_t wait = 0;

	pthread_mutex_lock(&a->addr_lock);
	for (unsigned i = 0; i < AUTH_ADDRS; i++) {
		struct auth_addr *e = &a->addrs[i];

		if (e->key[0] && strcmp(e->key, key) == 0) {
			if (now - e->last > AUTH_FORGET_NS)
				e->fails = 0;
			else if (e->until > now)
				wait = e->until - now;
			break;
		}
	}
	pthread_mutex_unlock(&a->addr_lock);
	return wait;
}

/* Records a failure (or, ok, forgets the address); returns the delay now in force. */
static int64_t auth_addr_result(struct auth *a, const char *key, bool ok, int64_t now)
{
	struct auth_addr *e = NULL, *old = &a->addrs[0];
	int64_t delay = 0;

	pthread_mutex_lock(&a->addr_lock);
	for (unsigned i = 0; i < AUTH_ADDRS && !e; i++) {
		if (a->addrs[i].key[0] && strcmp(a->addrs[i].key, key) == 0)
			e = &a->addrs[i];
		else if (!a->addrs[i].key[0] || a->addrs[i].last < old->last)
			old = &a->addrs[i];
	}
	if (ok) {
		if (e)
			memset(e, 0, sizeof(*e));
	} else {
		if (!e) {	/* the free or least recently failed entry */
			e = old;
			memset(e, 0, sizeof(*e));
			snprintf(e->key, sizeof(e->key), "%s", key);
		}
		if (now - e->last > AUTH_FORGET_NS)
			e->fails = 0;
		e->fails++;
		delay = a->delay_min << (e->fails - 1 < 20 ? e->fails - 1 : 20);
		if (delay > AUTH_DELAY_MAX_NS)
			delay = AUTH_DELAY_MAX_NS;
		e->until = now + delay;
		e->last = now;
	}
	pthread_mutex_unlock(&a->addr_lock);
	return delay;
}

/* The key an address is throttled by: the per-address key ("uid N" for a local peer, else the host). */
static const char *auth_key(const struct conn *c, char *buf, size_t len)
{
	if (c->addr_key[0])
		return c->addr_key;
	if (c->who.cred) {	/* Unix socket: by uid, like a local TCP peer */
		snprintf(buf, len, "uid %u", (unsigned)c->who.uid);
		return buf;
	}
	return c->peer;
}

/* Sends the Auth reply (or its error) for request rid, with c's new binding. */
static void auth_reply(struct conn *c, uint64_t rid, const char *name, Timerd__ErrorCode code, const char *msg)
{
	Timerd__Response rs;
	Timerd__AuthReply ar;
	Timerd__Error e;

	timerd__response__init(&rs);
	rs.id = rid;
	if (code == TIMERD__ERROR_CODE__OK) {
		timerd__auth_reply__init(&ar);
		ar.identity = (char *)(uintptr_t)name;
		rs.body_case = TIMERD__RESPONSE__BODY_AUTH;
		rs.auth = &ar;
	} else {
		timerd__error__init(&e);
		e.code = code;
		e.message = (char *)(uintptr_t)msg;
		rs.body_case = TIMERD__RESPONSE__BODY_ERROR;
		rs.error = &e;
		ctr_add(&c->loop->ctr.errors, 1);
		ctr_add(errmap_counter(&c->loop->ctr, code), 1);
	}
	conn_send(c, &rs, true);
}

/* Settles an attempt on c: binds or unbinds it, counts, logs, replies. */
static void auth_settle(struct conn *c, uint64_t rid, const char *name, const struct ident *id, bool ok)
{
	struct auth *a = c->loop->srv->auth;
	char msg[256], kb[64];
	int64_t delay = auth_addr_result(a, auth_key(c, kb, sizeof(kb)), ok, auth_now());

	if (ok) {
		c->ident = id;
		ctr_add(&c->loop->ctr.auth_ok, 1);
		log_info("connection from %s authenticated as %s", c->peer, id->name);
		auth_reply(c, rid, id->name, TIMERD__ERROR_CODE__OK, NULL);
		return;
	}
	c->ident = NULL;	/* a failed Auth leaves the connection without an identity */
	ctr_add(&c->loop->ctr.auth_failures, 1);
	log_warn_rl("authentication as '%s' failed from %s (unknown identity or wrong secret); its next attempt waits "
		    "%" PRId64 " ms", name, c->peer, delay / 1000000);
	snprintf(msg, sizeof(msg), "authentication as '%s' failed: unknown identity or wrong secret (check --user and "
		 "$TIMERD_SECRET or --secret-file); the next attempt from this address waits %" PRId64 " ms", name,
		 delay / 1000000);
	auth_reply(c, rid, NULL, TIMERD__ERROR_CODE__UNAUTHENTICATED, msg);
}

/* Queues job j to the worker; false (nothing queued) when the queue is full. */
static bool auth_queue(struct auth *a, struct auth_job *j)
{
	bool ok;

	pthread_mutex_lock(&a->lock);
	if ((ok = a->queued < AUTH_QUEUE)) {
		a->queued++;
		j->next = NULL;
		if (a->tail)
			a->tail->next = j;
		else
			a->head = j;
		a->tail = j;
		pthread_cond_signal(&a->cond);
	}
	pthread_mutex_unlock(&a->lock);
	return ok;
}

/* Frees a job that will not run. */
static void auth_job_free(struct auth_job *j)
{
	OPENSSL_cleanse(j->secret, sizeof(j->secret));
	ident_table_unref(j->tab);
	free(j);
}

/*
 * Hands c's waiting job to the worker (after its address's delay); false
 * after answering when the worker's queue is full (c no longer waits).
 */
static bool auth_submit(struct conn *c)
{
	struct auth_job *j = c->auth_job;

	c->auth_job = NULL;
	ctr_add(&c->loop->ctr.auth_kdf_runs, 1);
	if (auth_queue(c->loop->srv->auth, j))
		return true;
	ctr_add(&c->loop->ctr.auth_throttled, 1);
	auth_reply(c, j->rid, NULL, TIMERD__ERROR_CODE__UNAUTHENTICATED, "timerd is checking too many secrets "
		   "at once: retry in a second");
	auth_job_free(j);
	c->auth_wait = false;
	return false;
}

/* c's delay ended: check its attempt now (a refused one goes on with c's waiting frames). */
static void auth_delay_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	(void)what;
	if (!auth_submit(c))
		conn_auth_resume(c);
}

/*
 * An Auth request on c: answered at once (no users file, a bad request, a
 * remembered secret), or deferred (true: the reply comes from auth_done and
 * c reads nothing until then).
 */
bool auth_request(struct conn *c, uint64_t rid, const Timerd__Auth *m)
{
	struct loop *l = c->loop;
	const char *name = m->identity ? m->identity : "";
	struct ident *id;
	struct auth_job *j;
	int64_t wait;
	char kb[64];

	if (!l->users) {
		auth_reply(c, rid, NULL, TIMERD__ERROR_CODE__UNAVAILABLE, "this timerd has no users file: identities are "
			   "off (start timerd with --users FILE, or users = FILE in its config; doc/security.md)");
		return false;
	}
	if (m->secret.len > AUTH_SECRET_MAX || strlen(name) > IDENT_NAME_MAX) {
		auth_reply(c, rid, NULL, TIMERD__ERROR_CODE__INVALID, "auth: the identity is at most 64 bytes and the "
			   "secret at most 1024");
		return false;
	}
	if (!text_ok(name, strlen(name))) {	/* before it is logged: no forged log lines, no ESC */
		auth_reply(c, rid, NULL, TIMERD__ERROR_CODE__INVALID, "auth: the identity must be UTF-8 text without "
			   "control or bidi characters (give the name of a users-file line)");
		return false;
	}
	id = (struct ident *)(uintptr_t)ident_by_name(l->users, name);
	if (id && ident_verify_fast(id, m->secret.data, m->secret.len)) {
		auth_settle(c, rid, name, id, true);
		return false;
	}
	if (!(j = calloc(1, sizeof(*j)))) {
		auth_reply(c, rid, NULL, TIMERD__ERROR_CODE__NO_MEMORY, "auth: out of memory");
		return false;
	}
	*j = (struct auth_job){ .l = l, .handle = c->handle, .rid = rid, .tab = ident_table_ref(l->users), .id = id,
				.len = m->secret.len };
	snprintf(j->name, sizeof(j->name), "%s", name);
	snprintf(j->addr, sizeof(j->addr), "%s", auth_key(c, kb, sizeof(kb)));
	if (m->secret.len)
		memcpy(j->secret, m->secret.data, m->secret.len);
	c->auth_job = j;
	c->auth_wait = true;	/* conn_process stops after this frame; nothing is re-entered from here */
	if ((wait = auth_addr_wait(l->srv->auth, auth_key(c, kb, sizeof(kb)), auth_now())) > 0 &&
	    (c->auth_ev || (c->auth_ev = evtimer_new(l->base, auth_delay_cb, c)))) {
		struct timeval tv = { .tv_sec = (time_t)(wait / 1000000000), .tv_usec = (suseconds_t)(wait % 1000000000 / 1000) };

		ctr_add(&l->ctr.auth_throttled, 1);
		bufferevent_disable(c->bev, EV_READ);
		evtimer_add(c->auth_ev, &tv);
		return true;
	}
	if (!auth_submit(c))
		return false;	/* answered; the frames after it are handled by the running conn_process */
	bufferevent_disable(c->bev, EV_READ);
	return true;
}

/* A result from the worker (loop thread, LOOP_MSG_AUTH): settles the attempt if its connection is still there. */
void auth_done(struct loop *l, struct auth_job *j)
{
	struct conn *c = loop_conn(l, j->handle);

	/* the identity must still be the one in force: a reload in between makes the attempt fail (retry) */
	if (c && c->auth_wait) {
		bool ok = j->ok && j->tab == l->users;

		auth_settle(c, j->rid, j->name, ok ? j->id : NULL, ok);
		conn_auth_resume(c);
	}
	auth_job_free(j);
}

/*
 * An HTTP request's identity: `Authorization: Bearer NAME:SECRET`, else
 * the local peer's uid binding (cred, uid; gid, Unix only). A secret not
 * yet remembered is checked with scrypt here, on the loop thread (HTTP has
 * no reply to defer to the worker): bounded by the same per-address delay, inside which an
 * attempt is refused at once, so one address costs at most one scrypt per
 * delay. 0 with *out set, or UNAUTHENTICATED with msg (and *retry_ms).
 */
int auth_http(struct loop *l, const char *key, bool cred, uid_t uid, gid_t gid, const char *authz, const struct ident **out,
	      char *msg, size_t len, int64_t *retry_ms)
{
	struct auth *a = l->srv->auth;
	const char *colon, *secret;
	char name[IDENT_NAME_MAX + 1];
	struct ident *id;
	int64_t wait, now = auth_now();
	bool ok;

	*out = NULL;
	*retry_ms = 0;
	if (!authz) {
		if (cred && (*out = ident_by_peer(l->users, uid, gid)))
			return 0;
		snprintf(msg, len, "this request has no identity: send Authorization: Bearer IDENTITY:SECRET "
			 "(an identity of timerd's users file)");
		return TIMERD__ERROR_CODE__UNAUTHENTICATED;
	}
	if (strncasecmp(authz, "Bearer ", 7) != 0 || !(colon = strchr(authz + 7, ':')) ||
	    (size_t)(colon - (authz + 7)) > IDENT_NAME_MAX || strlen(colon + 1) > AUTH_SECRET_MAX) {
		snprintf(msg, len, "Authorization: give Bearer IDENTITY:SECRET");
		return TIMERD__ERROR_CODE__UNAUTHENTICATED;
	}
	memcpy(name, authz + 7, (size_t)(colon - (authz + 7)));
	name[colon - (authz + 7)] = '\0';
	if (!text_ok(name, strlen(name))) {	/* before it is logged */
		snprintf(msg, len, "Authorization: the identity must be UTF-8 text without control or bidi characters");
		return TIMERD__ERROR_CODE__UNAUTHENTICATED;
	}
	secret = colon + 1;
	id = (struct ident *)(uintptr_t)ident_by_name(l->users, name);
	if (id && ident_verify_fast(id, (const uint8_t *)secret, strlen(secret))) {
		*out = id;
		return 0;
	}
	if ((wait = auth_addr_wait(a, key, now)) > 0) {
		ctr_add(&l->ctr.auth_throttled, 1);
		*retry_ms = wait / 1000000 + 1;
		snprintf(msg, len, "authentication from %s failed before: retry in %" PRId64 " ms", key, *retry_ms);
		return TIMERD__ERROR_CODE__UNAUTHENTICATED;
	}
	ctr_add(&l->ctr.auth_kdf_runs, 1);
	ok = ident_verify(id ? id : &a->dummy, (const uint8_t *)secret, strlen(secret)) && id;
	wait = auth_addr_result(a, key, ok, now);
	if (ok) {
		ctr_add(&l->ctr.auth_ok, 1);
		*out = id;
		return 0;
	}
	ctr_add(&l->ctr.auth_failures, 1);
	log_warn_rl("HTTP authentication as '%s' failed from %s (unknown identity or wrong secret); its next attempt waits "
		    "%" PRId64 " ms", name, key, wait / 1000000);
	*retry_ms = wait / 1000000;
	snprintf(msg, len, "authentication as '%s' failed: unknown identity or wrong secret; the next attempt from this "
		 "address waits %" PRId64 " ms", name, wait / 1000000);
	return TIMERD__ERROR_CODE__UNAUTHENTICATED;
}

/* Frees what an attempt of c left (c is being freed). */
void auth_conn_free(struct conn *c)
{
	if (c->auth_ev)
		event_free(c->auth_ev);
	if (c->auth_job)
		auth_job_free(c->auth_job);
	c->auth_ev = NULL;
	c->auth_job = NULL;
}

/* Binds a new connection by its peer's uid (Unix socket, local TCP), else gid (Unix socket) when a users file is in force. */
void auth_bind_peer(struct conn *c)
{
	const struct ident_table *t = c->loop->users;

	c->ident = NULL;
	if (t && c->who.cred)
		c->ident = ident_by_peer(t, c->who.uid, c->who.kind == SRV_PEER_UNIX ? c->who.gid : (gid_t)-1);
	if (c->ident)
		log_debug("connection from %s is identity %s (uid %u, gid %d)", c->peer, c->ident->name, (unsigned)c->who.uid,
			  c->who.kind == SRV_PEER_UNIX ? (int)c->who.gid : -1);
}

/* The identity a client certificate names (CN, then DNS and email SANs), or NULL. */
static const struct ident *auth_cert_ident(const struct ident_table *t, X509 *x)
{
	GENERAL_NAMES *sans = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	const struct ident *id = NULL;
	char cn[IDENT_TEXT_MAX + 1];

	if (X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof(cn)) > 0)
		id = ident_by_cert(t, cn);
	for (int i = 0; !id && sans && i < sk_GENERAL_NAME_num(sans); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
		const ASN1_IA5STRING *s = g->type == GEN_DNS ? g->d.dNSName : g->type == GEN_EMAIL ? g->d.rfc822Name : NULL;

		if (s && s->length > 0 && s->length <= IDENT_TEXT_MAX && !memchr(s->data, '\0', (size_t)s->length)) {
			memcpy(cn, s->data, (size_t)s->length);
			cn[s->length] = '\0';
			id = ident_by_cert(t, cn);
		}
	}
	GENERAL_NAMES_free(sans);
	return id;
}

/* The identity bev's verified client certificate names in l's users table, or NULL (no TLS, none, unverified). */
const struct ident *auth_cert_of(struct loop *l, struct bufferevent *bev)
{
	SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
	X509 *x;

	if (!l->users || !ssl || SSL_get_verify_result(ssl) != X509_V_OK || !(x = SSL_get0_peer_certificate(ssl)))
		return NULL;
	return auth_cert_ident(l->users, x);
}

/* The TLS handshake of c completed: a verified client certificate binds its identity. */
void auth_bind_cert(struct conn *c)
{
	const struct ident *id = auth_cert_of(c->loop, c->bev);

	if (id) {
		c->ident = id;
		log_info("connection from %s is identity %s by its client certificate", c->peer, id->name);
	}
}

/* id's entry in the reloaded table t (old: the one id is from), or NULL if the reload removed or changed it (*changed: which). */
const struct ident *auth_rebind(const struct ident_table *old, const struct ident_table *t, const struct ident *id,
				bool *changed)
{
	const struct ident *n = t ? ident_by_name(t, id->name) : NULL;

	if (!n && t && old && id == old->admin)
		n = t->admin;
	*changed = n != NULL;
	if (n && n->digest == id->digest && n->line != 0 && id->line != 0)
		return n;
	if (n && n->line == 0 && id->line == 0)	/* the built-in admin stays the built-in admin */
		return n;
	return NULL;
}

/*
 * A new users table on loop l (LOOP_MSG_USERS): connections and HTTP
 * event streams keep an identity whose line did not change (rebound to
 * the new table's entry); a connection whose identity was removed or
 * changed is closed with an Error UNAUTHENTICATED, a stream ends with an
 * event saying so (http_watch_users).
 */
void auth_loop_users(struct loop *l, struct ident_table *t)
{
	struct ident_table *old = l->users;

	l->users = t;
	for (uint32_t i = 0; i < l->nslots; i++) {
		struct conn *c = l->slots[i];
		const struct ident *n;
		bool changed;

		if (!c || c->state == CONN_DEAD)
			continue;
		if (!c->ident) {	/* unauthenticated: a peer uid or gid may bind now */
			if (!c->auth_wait)
				auth_bind_peer(c);
			continue;
		}
		if ((n = auth_rebind(old, t, c->ident, &changed)) != NULL) {
			c->ident = n;
			continue;
		}
		ctr_add(&l->ctr.ident_closes, 1);
		log_notice("connection from %s closed: its identity %s was %s by a users-file reload", c->peer,
			   c->ident->name, changed ? "changed" : "removed");
		conn_fatal(c, TIMERD__ERROR_CODE__UNAUTHENTICATED, "identity %s was %s by a users-file reload: reconnect "
			   "(and authenticate again)", c->ident->name, changed ? "changed" : "removed");
		c->ident = NULL;
	}
	if (l->http)
		http_watch_users(l, old, t);
	ident_table_unref(old);
}

/* Loads the users file at start (before the loops run); 0 or -1 with err. */
int auth_load(struct srv *s, char *err, size_t errlen)
{
	if (!s->cfg->users || !*s->cfg->users)
		return 0;
	if (ident_load(s->cfg->users, geteuid(), &s->users, err, errlen) < 0)
		return -1;
	log_notice("users file %s: %u identities", s->cfg->users, s->users->n);
	atomic_store_explicit(&s->idents, true, memory_order_relaxed);	/* see peer_admit */
	return 0;
}

/* --check-config: the users file auth_load would read (owner, mode, every line), read and dropped; 0 or -1 with err. */
int auth_check(const struct srv_config *c, char *err, size_t errlen)
{
	struct ident_table *t;

	if (!c->users || !*c->users)
		return 0;
	if (ident_load(c->users, geteuid(), &t, err, errlen) < 0)
		return -1;
	ident_table_unref(t);
	return 0;
}

/* SIGHUP: re-reads the users file; a bad one keeps the old table (logged). */
void auth_reload(struct srv *s)
{
	struct ident_table *t = NULL;
	char err[512];

	if (!s->cfg->users || !*s->cfg->users) {
		if (!s->users)
			return;
		log_warn("reload: users was removed: identities stay in force until a restart");
		return;
	}
	if (ident_load(s->cfg->users, geteuid(), &t, err, sizeof(err)) < 0) {
		log_err("reload: %s: the users file in force stays", err);
		return;
	}
	log_notice("reload: users file %s: %u identities", s->cfg->users, t->n);
	for (unsigned i = 0; i < s->nloops; i++) {
		struct loop_msg *m = calloc(1, sizeof(*m));

		if (!m) {
			log_err("reload: out of memory: loop %u keeps the old users", i);
			continue;
		}
		m->type = LOOP_MSG_USERS;
		m->fd = -1;
		m->users = ident_table_ref(t);
		loop_post(&s->loops[i], m);
	}
	ident_table_unref(s->users);
	s->users = t;
	atomic_store_explicit(&s->idents, true, memory_order_relaxed);	/* see peer_admit */
}
