/*
 * loop.c -- the event loop threads: each owns an event_base, its
 * connections (a slot table that gives every connection a handle), and two
 * inboxes other threads post to: control messages from the acceptor and
 * fires from the engine. Posting is a lock-free llist push; the poster
 * writes the loop's eventfd only when the inbox was empty.
 *
 * Connections are freed in one place: a connection that must go is marked
 * CONN_DEAD where that is decided (conn_kill) and queued on l->dead; the
 * loop's reap event, activated by the first queued connection, frees the
 * list from its own callback, after the callbacks already active in this
 * turn. A stopping loop exits when the reaper frees its last connection.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "server/auth.h"
#include "server/http.h"
#include "server/journal.h"
#include "server/log.h"
#include "server/priv.h"
#include "server/srv.h"

/* How long a stopping loop waits for its connections to flush. */
#define LOOP_STOP_GRACE_S 2

/* The loop whose thread this is (NULL on other threads): loop_post_fire from it needs no eventfd. */
static _Thread_local struct loop *loop_self;

/* Wakes the loop thread. */
static void loop_wake(struct loop *l)
{
	uint64_t one = 1;

	while (write(l->wake_fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;	/* EAGAIN: the counter is already non-zero, the loop will wake */
}

/* Queues a control message to l and wakes it. */
void loop_post(struct loop *l, struct loop_msg *m)
{
	if (llist_add(&m->node, &l->msgs))
		loop_wake(l);
}

/* Wakes l for the replies a journal commit released. */
void loop_wake_journal(struct loop *l)
{
	loop_wake(l);
}

/*
 * Queues a fire node to l and wakes it; drops it if l's queue is full
 * (false). From l's own thread (a consumer's Ack handing out the next
 * delivery, group.c) the wake-up is l's fires_ev, activated for later in
 * the same turn: no eventfd write, no epoll round before the delivery is
 * written. Ordering: the own thread's push precedes its own take (program
 * order); a poster on another thread that finds the list non-empty relies
 * on whoever found it empty, which is then either an eventfd write or the
 * activated fires_ev, both of which take the list after that push or find
 * it empty again (a later poster then writes the eventfd).
 */
bool loop_post_fire(struct loop *l, struct fire_node *n)
{
	struct srv *s = l->srv;

	/* relaxed: a bound, not a synchronisation; llist_add orders the node itself */
	if (atomic_fetch_add_explicit(&l->fires_queued, 1, memory_order_relaxed) >= s->cfg->max_fire_queue) {
		atomic_fetch_sub_explicit(&l->fires_queued, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&s->queue_drops, 1, memory_order_relaxed);
		fire_discard(n->msg);
		return false;
	}
	/* relaxed: as above; the queue is bounded in bytes too (big payloads) */
	if (atomic_fetch_add_explicit(&l->fires_bytes, n->msg->framelen, memory_order_relaxed) >=
	    s->cfg->max_fire_queue_bytes) {
		atomic_fetch_sub_explicit(&l->fires_bytes, n->msg->framelen, memory_order_relaxed);
		atomic_fetch_sub_explicit(&l->fires_queued, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&s->queue_drops, 1, memory_order_relaxed);
		fire_discard(n->msg);
		return false;
	}
	if (llist_add(&n->node, &l->fires) && loop_self != l)
		loop_wake(l);
	if (loop_self == l)
		event_active(l->fires_ev, EV_TIMEOUT, 0);	/* no-op if active already */
	return true;
}

/* Grows the slot table; 0 or -1. */
static int loop_slots_grow(struct loop *l)
{
	uint32_t n = l->nslots ? l->nslots * 2 : 64;
	struct conn **slots;
	uint32_t *gens, *fs;

	if (n > SRV_HANDLE_SLOT_MASK + 1)
		return -1;
	slots = realloc(l->slots, n * sizeof(*slots));
	if (slots)
		l->slots = slots;
	gens = slots ? realloc(l->gens, n * sizeof(*gens)) : NULL;
	if (gens)
		l->gens = gens;
	fs = gens ? realloc(l->free_stack, n * sizeof(*fs)) : NULL;
	if (!fs)
		return -1;
	l->free_stack = fs;
	for (uint32_t i = n; i-- > l->nslots;) {
		l->slots[i] = NULL;
		l->gens[i] = 1;
		l->free_stack[l->nfree++] = i;
	}
	l->nslots = n;
	return 0;
}

/* Registers c in a free slot; sets c->handle. */
int loop_conn_add(struct loop *l, struct conn *c)
{
	uint32_t slot;

	if (!l->nfree && loop_slots_grow(l) < 0)
		return -1;
	slot = l->free_stack[--l->nfree];
	l->slots[slot] = c;
	c->slot = slot;
	c->handle = (uint64_t)l->idx << SRV_HANDLE_LOOP_SHIFT | (uint64_t)l->gens[slot] << SRV_HANDLE_GEN_SHIFT | slot;
	/* relaxed: a load hint for the acceptor */
	atomic_fetch_add_explicit(&l->nconns, 1, memory_order_relaxed);
	return 0;
}

/* Frees c's slot. */
void loop_conn_del(struct loop *l, struct conn *c)
{
	l->slots[c->slot] = NULL;
	l->gens[c->slot] = l->gens[c->slot] + 1 ? l->gens[c->slot] + 1 : 1;	/* 0 is never a generation */
	l->free_stack[l->nfree++] = c->slot;
	atomic_fetch_sub_explicit(&l->nconns, 1, memory_order_relaxed);
}

/* The connection a handle names in this loop, or NULL (gone, or dead and waiting for the reaper). */
struct conn *loop_conn(struct loop *l, uint64_t handle)
{
	uint32_t slot = handle & SRV_HANDLE_SLOT_MASK;
	uint32_t gen = (uint32_t)(handle >> SRV_HANDLE_GEN_SHIFT);
	struct conn *c;

	if ((handle >> SRV_HANDLE_LOOP_SHIFT) != l->idx || slot >= l->nslots || l->gens[slot] != gen)
		return NULL;
	c = l->slots[slot];
	return c && c->state != CONN_DEAD ? c : NULL;
}

/* Queues a dead c for the reaper and makes sure the reaper runs. */
void loop_defer_free(struct loop *l, struct conn *c)
{
	c->next_dead = l->dead;
	l->dead = c;
	event_active(l->reap_ev, EV_TIMEOUT, 0);	/* no-op if already active */
}

/* Frees every connection on l->dead. */
static void loop_reap(struct loop *l)
{
	struct conn *c;

	while ((c = l->dead) != NULL) {
		l->dead = c->next_dead;
		conn_free(c);
	}
}

/* The reap event: frees the dead connections; a stopping loop with none left exits. */
static void loop_reap_cb(evutil_socket_t fd, short what, void *arg)
{
	struct loop *l = arg;

	(void)fd;
	(void)what;
	loop_reap(l);
	if (l->stopping && !atomic_load_explicit(&l->nconns, memory_order_relaxed))
		event_base_loopexit(l->base, NULL);
}

/* Deadline of a stopping loop: exit whatever is left. */
static void loop_stop_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct loop *l = arg;

	(void)fd;
	(void)what;
	if (atomic_load_explicit(&l->nconns, memory_order_relaxed))
		log_notice("loop %u: %u connections did not flush in %ds; closing them", l->idx,
			   atomic_load_explicit(&l->nconns, memory_order_relaxed), LOOP_STOP_GRACE_S);
	event_base_loopexit(l->base, NULL);
}

/* Starts stopping: every connection flushes and closes, then the loop exits. */
static void loop_stop(struct loop *l)
{
	struct timeval tv = { LOOP_STOP_GRACE_S, 0 };

	l->stopping = true;
	http_group_loop_stop(l);	/* HTTP long polls leave their groups while the engine is there */
	for (uint32_t i = 0; i < l->nslots; i++)
		if (l->slots[i])
			conn_shutdown(l->slots[i]);	/* no-op unless open or half-closed */
	if (!atomic_load_explicit(&l->nconns, memory_order_relaxed)) {
		event_base_loopexit(l->base, NULL);
		return;
	}
	l->stop_ev = evtimer_new(l->base, loop_stop_deadline, l);
	if (!l->stop_ev || evtimer_add(l->stop_ev, &tv) < 0)
		event_base_loopexit(l->base, NULL);
}

/* Handles the control messages posted since the last wake-up, oldest first. */
static void loop_run_msgs(struct loop *l)
{
	struct llist_node *n = llist_reverse(llist_del_all(&l->msgs)), *next;

	for (; n; n = next) {
		struct loop_msg *m = container_of(n, struct loop_msg, node);

		next = n->next;
		if (m->type == LOOP_MSG_STOP) {
			loop_stop(l);
			continue;	/* embedded in the loop */
		}
		if (m->type == LOOP_MSG_PRIV) {
			priv_loop_step(m->priv, m->priv_phase);
			continue;	/* owned by priv_drop, which may free it now */
		}
		if (m->type == LOOP_MSG_CALL) {
			m->call(l, m);	/* it owns m */
			continue;
		}
		if (m->type == LOOP_MSG_LIMITS)
			loop_set_limits(l, &m->lim);
		else if (m->type == LOOP_MSG_AUTH)
			auth_done(l, m->auth);
		else if (m->type == LOOP_MSG_USERS)
			auth_loop_users(l, m->users);
		else if (l->stopping) {
			close(m->fd);
			if (m->ssl)
				tls_conn_free(m->ssl);
			atomic_fetch_sub_explicit(&l->srv->conns, 1, memory_order_relaxed);
		} else {
			conn_open(l, m);
		}
		if (m->type == LOOP_MSG_CONN)	/* opened (counted in nconns) or closed: no longer on its way */
			atomic_fetch_sub_explicit(&l->nhandoff, 1, memory_order_relaxed);	/* relaxed: a load hint */
		free(m);
	}
}

/* Applies new limits: later requests use them; each connection's output watermark follows max-output. */
void loop_set_limits(struct loop *l, const struct srv_limits *lim)
{
	bool output = lim->max_output != l->lim.max_output;

	l->lim = *lim;
	for (uint32_t i = 0; output && i < l->nslots; i++)
		if (l->slots[i] && l->slots[i]->state != CONN_DEAD)
			bufferevent_setwatermark(l->slots[i]->bev, EV_WRITE, lim->max_output / 2, 0);
}

/* Delivers the fires posted since the last wake-up, oldest first. */
static void loop_run_fires(struct loop *l)
{
	struct llist_node *n = llist_reverse(llist_del_all(&l->fires)), *next;
	uint64_t k = 0, bytes = 0;

	for (; n; n = next, k++) {
		struct fire_msg *m = container_of(n, struct fire_node, node)->msg;

		next = n->next;
		bytes += m->framelen;	/* before fire_run: it may free m */
		fire_run(l, m);
	}
	conn_flush_events(l);	/* the round's events leave now, one write per connection */
	if (k) {
		atomic_fetch_sub_explicit(&l->fires_queued, k, memory_order_relaxed);
		atomic_fetch_sub_explicit(&l->fires_bytes, bytes, memory_order_relaxed);
	}
}

/* fires_ev: the fires this thread posted to itself (loop_post_fire), drained in the turn that posted them. */
static void loop_fires_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	loop_run_fires(arg);
}

/* eventfd callback: drains both inboxes. */
static void loop_wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct loop *l = arg;
	uint64_t v;

	(void)what;
	/* read before taking the lists: a post after the take writes the fd again */
	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_warn_rl("loop %u: reading its eventfd: %s", l->idx, strerror(errno));
	loop_run_msgs(l);
	loop_run_fires(l);
	conn_release_durable(l);
	http_release_durable(l);
}

/* The thread: runs the event_base until the loop stops. */
static void *loop_main(void *arg)
{
	struct loop *l = arg;
	char name[16];

	/* "timerd-loopN" in /proc/PID/task/TID/comm: ps, top and bench-http's CPU pinning find the loops by it */
	snprintf(name, sizeof(name), "timerd-loop%u", l->idx);
	pthread_setname_np(pthread_self(), name);
	loop_self = l;
	if (event_base_dispatch(l->base) < 0)
		log_err("loop %u: event_base_dispatch failed", l->idx);
	return NULL;
}

/*
 * A loop's event_base: epoll with libevent's change list
 * (EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST), so that the read and write
 * events evhttp and the bufferevents turn off and on around every request
 * cost one epoll_ctl per net change at the next dispatch instead of one
 * per toggle (doc/benchmarks.md, issue 13 fourth pass).
 *
 * What the change list changes, and why it is safe here:
 * - Registration is deferred: a connection opened in a callback is added
 *   to epoll at the next dispatch. epoll then reports it after fds that
 *   were ready before (the eventfd), so its first read may come one
 *   ready-list position later than without the change list (it was this,
 *   not a lost event, that test-conn-lifetime's shutdown cases tripped on:
 *   they stopped the loop before its first turn had registered them).
 * - A close and a reuse of the fd number within one dispatch: the reaper
 *   closes a connection (deferred EPOLL_CTL_DEL) and conn_open or evhttp
 *   registers a new socket under the same number; the change list merges
 *   both into one MOD, which the closed fd's dropped registration turns
 *   into ENOENT, and libevent retries it as an ADD (epoll.c).
 * - dup'd fds are the unsafe case libevent warns about: a close before the
 *   deferred EPOLL_CTL_DEL leaves the registration alive while another fd
 *   of the same open file exists. A loop holds one, its dup of the HTTP
 *   listening socket (http_loop_init), closed only by evhttp_free in
 *   http_loop_free after the loop thread has exited, with no dispatch
 *   after it. Every other fd of a loop is accepted or created by timerd,
 *   never dup'd, and nothing forks once the loops run.
 */
static struct event_base *loop_base_new(void)
{
	struct event_config *cfg = event_config_new();
	struct event_base *b;

	if (!cfg)
		return NULL;
	event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	b = event_base_new_with_config(cfg);
	event_config_free(cfg);
	return b;
}

/* Sets up loop idx (event base, inboxes) without starting its thread; 0 or -1 with err. */
int loop_init(struct srv *s, struct loop *l, unsigned idx, char *err, size_t errlen)
{
	l->srv = s;
	l->idx = idx;
	l->wake_fd = -1;
	l->stop_msg.type = LOOP_MSG_STOP;
	reload_limits(s, &l->lim);
	l->users = ident_table_ref(s->users);
	hmap_init(&l->watchers);
	arena_init(&l->arena);
	arena_init(&l->reply_arena);
	if (!(l->base = loop_base_new()) || !(l->batch = evbuffer_new()) ||
	    (l->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0 ||
	    !(l->wake_ev = event_new(l->base, l->wake_fd, EV_READ | EV_PERSIST, loop_wake_cb, l)) ||
	    !(l->reap_ev = event_new(l->base, -1, 0, loop_reap_cb, l)) ||
	    !(l->fires_ev = event_new(l->base, -1, 0, loop_fires_cb, l)) ||
	    event_add(l->wake_ev, NULL) < 0) {
		snprintf(err, errlen, "cannot set up event loop %u: %s", idx, strerror(errno));
		return -1;
	}
	return http_loop_init(l, err, errlen);
}

/* Starts loop thread idx; 0 or -1 with err. */
int loop_start(struct srv *s, struct loop *l, unsigned idx, char *err, size_t errlen)
{
	int rc;

	if (loop_init(s, l, idx, err, errlen) < 0)
		return -1;
	if ((rc = pthread_create(&l->thread, NULL, loop_main, l)) != 0) {
		snprintf(err, errlen, "cannot start loop thread %u: %s", idx, strerror(rc));
		return -1;
	}
	l->started = true;
	return 0;
}

/* Frees every connection and queued item left (the thread has exited). */
static void loop_drain(struct loop *l)
{
	for (uint32_t i = 0; i < l->nslots; i++)
		if (l->slots[i])
			conn_kill(l->slots[i]);
	loop_reap(l);
	for (struct llist_node *n = llist_del_all(&l->fires), *next; n; n = next) {
		next = n->next;
		fire_discard(container_of(n, struct fire_node, node)->msg);
	}
	for (struct llist_node *n = llist_del_all(&l->msgs), *next; n; n = next) {
		struct loop_msg *m = container_of(n, struct loop_msg, node);

		next = n->next;
		if (m->type == LOOP_MSG_STOP)
			continue;
		if (m->type == LOOP_MSG_CALL) {
			m->call(l, m);	/* it owns m */
			continue;
		}
		if (m->type == LOOP_MSG_CONN) {
			close(m->fd);
			if (m->ssl)
				tls_conn_free(m->ssl);
			atomic_fetch_sub_explicit(&l->srv->conns, 1, memory_order_relaxed);
		}
		if (m->type == LOOP_MSG_AUTH)
			auth_done(l, m->auth);	/* its connection is gone: frees the attempt */
		if (m->type == LOOP_MSG_USERS)
			ident_table_unref(m->users);
		free(m);
	}
}

/* Waits for the thread to exit. */
void loop_join(struct loop *l)
{
	if (!l->started)
		return;
	pthread_join(l->thread, NULL);
	l->started = false;
}

/* Joins the thread and frees the loop. */
void loop_destroy(struct loop *l)
{
	if (!l->srv)
		return;
	loop_join(l);
	if (l->base)
		loop_drain(l);
	http_loop_free(l);
	journal_loop_free(l);
	hmap_destroy(&l->watchers, NULL);
	free(l->all.v);
	if (l->stop_ev)
		event_free(l->stop_ev);
	if (l->wake_ev)
		event_free(l->wake_ev);
	if (l->reap_ev)
		event_free(l->reap_ev);
	if (l->fires_ev)
		event_free(l->fires_ev);
	if (l->batch)
		evbuffer_free(l->batch);
	if (l->base)
		event_base_free(l->base);
	if (l->wake_fd >= 0)
		close(l->wake_fd);
	ident_table_unref(l->users);
	l->users = NULL;
	arena_destroy(&l->arena);
	arena_destroy(&l->reply_arena);
	free(l->slots);
	free(l->gens);
	free(l->free_stack);
	l->srv = NULL;
}
