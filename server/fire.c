/*
 * fire.c -- from the engine's on_fire callback to the connections that want
 * the fire: the event is encoded once on the engine thread, queued to each
 * loop thread that owns a subscriber, and written there by that thread.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "probe/probe.h"
#include "proto/frame.h"
#include "proto/pack.h"
#include "server/group-srv.h"
#include "server/ident.h"
#include "server/journal.h"
#include "server/log.h"
#include "server/srv.h"

/* Key and topic bytes encoded from the stack (longer ones are copied to the heap): the default limits and a NUL. */
#define FIRE_KEY_STACK (SETTINGS_DEFAULT_MAX_KEY + 1)
#define FIRE_TOPIC_STACK (SETTINGS_DEFAULT_MAX_TOPIC + 1)

/* Drops const for protobuf-c string fields that are only read. */
#define FIRE_STR(p) ((char *)(uintptr_t)(p))

/* Fills the Fire message (strings point into f; origin into o). */
static void fire_fill(const struct engine_fire *f, int64_t mono_to_unix, Timerd__Fire *m, Timerd__ProbeOrigin *om,
		      struct probe_origin *o, char *comm, char *key, char *topic)
{
	memcpy(key, f->key ? f->key : "", f->key ? f->keylen : 0);
	key[f->key ? f->keylen : 0] = '\0';
	memcpy(topic, f->topic, f->topiclen);
	topic[f->topiclen] = '\0';
	m->timer_id = f->id;
	m->key = key;
	m->topic = topic;
	m->deadline_mono_ns = f->deadline;
	m->fired_mono_ns = f->fired_at;
	m->deadline_unix_ns = f->deadline + mono_to_unix;
	m->period_ns = f->period;
	m->seq = f->seq;
	m->missed = f->missed;
	m->final = f->final;
	m->recovered = (f->flags & JOURNAL_FLAG_RECOVERED) && f->seq == 1;
	if ((f->flags & PROBE_TIMER_FLAG) && f->payloadlen == sizeof(*o)) {
		memcpy(o, f->payload, sizeof(*o));
		memcpy(comm, o->comm, sizeof(o->comm));
		comm[sizeof(o->comm)] = '\0';
		om->probe_id = o->probe_id;
		om->pid = o->pid;
		om->tid = o->tid;
		om->comm = comm;
		om->hit_mono_ns = (int64_t)o->hit_ns;
		m->origin = om;
	} else {
		m->payload.data = (uint8_t *)(uintptr_t)f->payload;
		m->payload.len = f->payloadlen;
	}
}

/* Encodes the fire event once: a fire_msg with room for k loop nodes; NULL if out of memory. */
static struct fire_msg *fire_encode(struct srv *s, const struct engine_fire *f, unsigned k)
{
	Timerd__Response rs = TIMERD__RESPONSE__INIT;
	Timerd__Fire fm = TIMERD__FIRE__INIT;
	Timerd__ProbeOrigin om = TIMERD__PROBE_ORIGIN__INIT;
	struct pack_plan plan;
	struct probe_origin o;
	char comm[sizeof(o.comm) + 1], kbuf[FIRE_KEY_STACK], tbuf[FIRE_TOPIC_STACK];
	uint32_t keylen = f->key ? f->keylen : 0;
	char *key = keylen < sizeof(kbuf) ? kbuf : malloc(keylen + 1);
	char *topic = f->topiclen < sizeof(tbuf) ? tbuf : malloc(f->topiclen + 1);
	struct fire_msg *m = NULL;
	size_t n, head;

	if (key && topic) {
		fire_fill(f, engine_mono_to_unix(s->engine), &fm, &om, &o, comm, key, topic);
		rs.event = true;
		rs.body_case = TIMERD__RESPONSE__BODY_FIRE;
		rs.fire = &fm;
		n = pack_response_size(&rs, &plan);
		head = sizeof(*m) + k * sizeof(m->nodes[0]);
		m = malloc(head + f->topiclen + keylen + f->labellen + 2 + FRAME_HDR + n);
	}
	if (m) {
		char *kl = (char *)m + head + f->topiclen;	/* the key, then the owner: the watchers' check (fire_visible) */
		uint8_t *frame = (uint8_t *)kl + keylen + f->labellen + 2;

		memcpy((char *)m + head, f->topic, f->topiclen);
		if (keylen)
			memcpy(kl, f->key, keylen);
		kl[keylen] = '\0';
		if (f->labellen)
			memcpy(kl + keylen + 1, f->label, f->labellen);
		kl[keylen + 1 + f->labellen] = '\0';
		m->key = kl;
		m->keylen = keylen;
		m->label = kl + keylen + 1;
		frame_put_len(frame, (uint32_t)pack_response(&rs, &plan, frame + FRAME_HDR));
		m->topic = (char *)m + head;
		m->topiclen = f->topiclen;
		m->frame = frame;
		m->framelen = (uint32_t)(FRAME_HDR + n);
		m->target = 0;	/* a plain fire: to the watchers and the arming connection (group-srv.c sets it) */
		m->memsize = (uint32_t)(head + f->topiclen + keylen + f->labellen + 2 + FRAME_HDR + n);
		m->mem = &s->fire_mem;
		/* relaxed: a gauge; queued fires count against max-memory until freed */
		atomic_fetch_add_explicit(m->mem, m->memsize, memory_order_relaxed);
	}
	if (key != kbuf)
		free(key);
	if (topic != tbuf)
		free(topic);
	return m;
}

/*
 * Test hook ($TIMERD_TEST_STALL_TOPIC, tests/regress/systemd.sh): a fire of
 * that topic holds the thread delivering it for the milliseconds its
 * payload gives (at most a minute). With engine-workers 0 that thread is
 * the dispatcher, so the test sees a stuck dispatcher starve the watchdog.
 */
static void fire_test_stall(const struct srv *s, const struct engine_fire *f)
{
	char ms[16] = "";
	long v;

	if (!s->test_stall_topic || f->topiclen != strlen(s->test_stall_topic) ||
	    memcmp(f->topic, s->test_stall_topic, f->topiclen) != 0)
		return;
	memcpy(ms, f->payload, f->payloadlen < sizeof(ms) - 1 ? f->payloadlen : sizeof(ms) - 1);
	v = strtol(ms, NULL, 10);
	v = v < 0 ? 0 : v > 60000 ? 60000 : v;
	log_warn("test hook: stalling this thread for %ldms (TIMERD_TEST_STALL_TOPIC)", v);
	nanosleep(&(struct timespec){ v / 1000, v % 1000 * 1000000 }, NULL);
}

/* The engine's on_fire callback. */
void fire_deliver(void *arg, const struct engine_fire *f)
{
	struct srv *s = arg;
	bool notify = f->flags & SRV_FLAG_NOTIFY;
	uint64_t mask = watch_reg_targets(&s->watch, f->topic, f->topiclen);
	unsigned owner = (unsigned)(f->owner >> SRV_HANDLE_LOOP_SHIFT), k = 0;
	struct fire_msg *m;

	fire_test_stall(s, f);
	topic_metrics_count(&s->topic_metrics, f->topic, f->topiclen);
	/* deliveries of consumer groups: journaled with the one-shot's removal, in one batch */
	if (!group_srv_fire(s, f) && f->final && s->journal && journal_keeps(f->flags))
		journal_put_fire(s, f->id);	/* the one-shot is gone: so it is in the journal */
	if (notify && owner < s->nloops)
		mask |= UINT64_C(1) << owner;
	if (!mask)
		return;
	if (!(m = fire_encode(s, f, (unsigned)__builtin_popcountll(mask)))) {
		atomic_fetch_add_explicit(&s->queue_drops, 1, memory_order_relaxed);
		log_warn_rl("out of memory encoding a fire of timer %llu: dropped", (unsigned long long)f->id);
		return;
	}
	m->notify = notify;
	m->target = 0;		/* to the watchers (a group's delivery names one connection: group-srv.c) */
	m->owner = f->owner;
	m->deadline = f->deadline;
	/* relaxed: each loop's llist_add (release) publishes the whole message */
	atomic_store_explicit(&m->refs, (uint32_t)__builtin_popcountll(mask), memory_order_relaxed);
	for (unsigned i = 0; mask; i++, mask >>= 1) {
		if (!(mask & 1))
			continue;
		m->nodes[k].msg = m;
		loop_post_fire(&s->loops[i], &m->nodes[k++]);
	}
}

/* Drops one loop's reference; frees m after the last. */
void fire_discard(struct fire_msg *m)
{
	/* acq_rel: the last dropper sees every other loop's reads of m done before freeing it */
	if (atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) == 1) {
		atomic_fetch_sub_explicit(m->mem, m->memsize, memory_order_relaxed);	/* relaxed: a gauge */
		free(m);
	}
}

/* Writes the event to c unless c already got this fire (a dead c has no watches and no handle). */
static void fire_to(struct loop *l, struct conn *c, const struct fire_msg *m)
{
	if (c->state == CONN_DEAD) {
		log_err("a fire reached a dead connection from %s", c->peer);
		abort();
	}
	if (c->stamp == l->stamp)
		return;
	c->stamp = l->stamp;
	conn_push_event(c, m->frame, m->framelen, false);
}

/*
 * True if watcher c may see fire m: no users file, or c's identity may
 * touch the timer (admin, its own, or its key under c's key prefixes: the
 * rule Get applies, doc/security.md). Not counted: a counter would need a
 * ServerStats field.
 */
static bool fire_visible(const struct loop *l, const struct conn *c, const struct fire_msg *m)
{
	const struct ident *id;

	if (!l->users)
		return true;
	id = c->sse ? http_watch_ident(c) : c->ident;
	return id && ident_may_touch(id, m->label, m->key, m->keylen);
}

/* Delivers a queued fire on loop l to the arming connection and the watchers. */
void fire_run(struct loop *l, struct fire_msg *m)
{
	struct watch_list *wl;
	struct conn *c;

	if (m->target) {	/* a consumer group's delivery to one subscribed connection */
		if ((c = loop_conn(l, m->target)) != NULL && (c->state == CONN_OPEN || c->state == CONN_PEER_EOF))
			conn_push_event(c, m->frame, m->framelen, true);
		fire_discard(m);
		return;
	}
	l->stamp++;
	if (m->notify && (m->owner >> SRV_HANDLE_LOOP_SHIFT) == l->idx) {
		if ((c = loop_conn(l, m->owner)) != NULL)
			fire_to(l, c, m);
		else
			ctr_add(&l->ctr.fires_orphaned, 1);
	}
	if ((wl = watch_loop_list(l, m->topic, m->topiclen)) != NULL)
		for (uint32_t i = 0; i < wl->n; i++)
			if (fire_visible(l, wl->v[i], m))
				fire_to(l, wl->v[i], m);
	for (uint32_t i = 0; i < l->all.n; i++)
		if (fire_visible(l, l->all.v[i], m))
			fire_to(l, l->all.v[i], m);
	hist_record(&l->late, engine_now(l->srv->engine) - m->deadline);	/* the deadline's clock */
	fire_discard(m);
}
