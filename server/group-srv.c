/*
 * group-srv.c -- consumer groups in the daemon (see group-srv.h): the
 * journal hooks of the state machine, the group thread, subscribed
 * connections as consumers.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "engine.h"
#include "proto/frame.h"
#include "proto/pack.h"
#include "server/group-srv.h"
#include "server/journal.h"
#include "server/log.h"
#include "server/srv.h"

/* The longest the group thread sleeps (it also wakes when told). */
#define GROUP_SRV_MAX_SLEEP_MS 1000

/* --- hooks --- */

/* hooks.put: a loop's batch (jctx), or the shared fire batch. */
static uint64_t gsrv_put(void *arg, void *jctx, const struct store_rec *r)
{
	struct srv *s = arg;
	uint64_t seq;

	if (!s->journal)
		return 0;
	if (jctx) {
		seq = journal_put(jctx, r);
		return seq ? seq : UINT64_MAX;
	}
	journal_put_fire_rows(s, 0, r, 1);
	return 0;
}

/* hooks.put_fire. */
static uint64_t gsrv_put_fire(void *arg, uint64_t fired, const struct store_rec *rows, size_t n)
{
	struct srv *s = arg;

	return s->journal ? journal_put_fire_rows(s, fired, rows, n) : 0;
}

/* hooks.durable. */
static uint64_t gsrv_durable(void *arg)
{
	return journal_fires_durable(arg);
}

/* hooks.wake. */
static void gsrv_wake(void *arg)
{
	group_srv_wake(arg);
}

/* hooks.now. */
static int64_t gsrv_now(void *arg, bool real)
{
	struct srv *s = arg;

	return real ? engine_now_real(s->engine) : engine_now(s->engine);
}

/* hooks.writable: the journal's last commit did not fail. */
static bool gsrv_writable(void *arg)
{
	return journal_writable(arg);
}

/* hooks.mem_full: max-memory would be passed by more bytes. */
static bool gsrv_mem_full(void *arg, size_t more)
{
	struct srv *s = arg;

	return s->cfg->max_memory && engine_mem_used(s->engine) + (int64_t)more > (int64_t)s->cfg->max_memory;
}

/* hooks.changed: logs, then tells the webhook module. */
static void gsrv_changed(void *arg, const char *name, const Timerd__Group *g)
{
	struct srv *s = arg;
	struct group_srv *gr = s->groups;

	log_info("group %s %s", name, g ? "created or changed" : "deleted");
	if (gr->changed)
		gr->changed(gr->changed_arg, name, g);
}

int group_srv_init(struct srv *s, char *err, size_t errlen)
{
	struct group_srv *gr = calloc(1, sizeof(*gr));
	struct group_hooks h = { .arg = s, .put = gsrv_put, .put_fire = gsrv_put_fire, .durable = gsrv_durable,
				 .wake = gsrv_wake, .changed = gsrv_changed, .now = gsrv_now, .mem_full = gsrv_mem_full,
				 .mem = &s->fire_mem, .writable = gsrv_writable };
	uint64_t seed = (uint64_t)engine_now_real(s->engine) ^ ((uint64_t)getpid() << 32);

	if (!gr)
		return td_errf(err, errlen, "out of memory");
	gr->s = s;
	gr->efd = -1;
	if (group_set_init(&gr->gs, &h, seed) < 0) {
		free(gr);
		return td_errf(err, errlen, "cannot initialise the consumer groups");
	}
	if ((gr->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
		group_set_destroy(&gr->gs);
		free(gr);
		return td_errf(err, errlen, "cannot create the group thread's eventfd: %s", strerror(errno));
	}
	s->groups = gr;
	return 0;
}

/* Load callback: one group or delivery row. */
static int gsrv_load_row(void *arg, const struct store_rec *r)
{
	struct group_srv *gr = arg;
	char name[GROUP_MAX_NAME + 1];

	if (r->op == STORE_GROUP_PUT) {
		snprintf(name, sizeof(name), "%.*s", (int)r->keylen, r->key ? (const char *)r->key : "");
		if (group_restore_group(&gr->gs, name, r->payload, r->payloadlen) < 0)
			log_warn("journal: group '%s' in the store cannot be restored (its settings do not decode, or "
				 "out of memory): it is skipped", name);
		return 0;
	}
	if (group_restore_delivery(&gr->gs, r) < 0)
		return -1;
	gr->restored++;
	return 0;
}

int group_srv_load(struct srv *s, struct store *st, char *err, size_t errlen)
{
	struct group_srv *gr = s->groups;
	uint64_t next = 0;

	if (!gr)
		return 0;
	if (store_load_groups(st, gsrv_load_row, gr, &next, err, errlen) < 0) {
		if (!err[0])
			snprintf(err, errlen, "out of memory restoring the consumer groups' deliveries");
		return -1;
	}
	group_restore_done(&gr->gs, next);
	if (gr->gs.ngroups)
		log_notice("journal: %zu consumer groups restored with %llu deliveries not yet acked (they go out "
			   "again, attempt counted up)", gr->gs.ngroups, (unsigned long long)gr->restored);
	return 0;
}

/* The group thread: ticks the state machine when woken or when something is due. */
static void *gsrv_main(void *arg)
{
	struct group_srv *gr = arg;
	struct pollfd p = { .fd = gr->efd, .events = POLLIN };
	uint64_t v;

	/* acquire: pairs with group_srv_stop's release */
	while (!atomic_load_explicit(&gr->stop, memory_order_acquire)) {
		int64_t now = engine_now(gr->s->engine);
		int64_t next = group_tick(&gr->gs, now);
		int timeout = GROUP_SRV_MAX_SLEEP_MS;

		if (next != INT64_MAX) {
			int64_t ms = next <= now ? 0 : (next - now) / ENGINE_NS_PER_MS + 1;

			timeout = ms < GROUP_SRV_MAX_SLEEP_MS ? (int)ms : GROUP_SRV_MAX_SLEEP_MS;
		}
		if (poll(&p, 1, timeout) > 0 && read(gr->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
			log_warn_rl("group thread: reading its eventfd: %s", strerror(errno));
	}
	return NULL;
}

/* Copies of every group's settings (group_list callback). */
struct gsrv_copies {
	Timerd__Group **v;
	size_t n, cap;
};

/* group_list callback: keeps a copy of gi's settings. */
static void gsrv_copy_one(void *arg, const Timerd__GroupInfo *gi, const uint8_t *packed, size_t len)
{
	struct gsrv_copies *cp = arg;
	Timerd__Group *g;

	(void)gi;
	if (cp->n == cp->cap) {
		size_t cap = cp->cap ? cp->cap * 2 : 16;
		Timerd__Group **v = realloc(cp->v, cap * sizeof(*v));

		if (!v)
			return;
		cp->v = v;
		cp->cap = cap;
	}
	if ((g = timerd__group__unpack(NULL, len, packed)) != NULL)
		cp->v[cp->n++] = g;
}

int group_srv_start(struct srv *s, char *err, size_t errlen)
{
	struct group_srv *gr = s->groups;
	int rc;

	if (!gr)
		return 0;
	if ((rc = pthread_create(&gr->thread, NULL, gsrv_main, gr)) != 0)
		return td_errf(err, errlen, "cannot start the group thread: %s", strerror(rc));
	gr->started = true;
	return 0;
}

void group_srv_quiesce(struct srv *s)
{
	struct group_srv *gr = s->groups;

	if (!gr)
		return;
	if (gr->started) {
		/* release: the thread's acquire sees it after the wake-up */
		atomic_store_explicit(&gr->stop, true, memory_order_release);
		group_srv_wake(s);
		pthread_join(gr->thread, NULL);
		gr->started = false;
	}
	group_quiesce(&gr->gs);
}

void group_srv_stop(struct srv *s)
{
	struct group_srv *gr = s->groups;

	if (!gr)
		return;
	group_srv_quiesce(s);
	s->groups = NULL;
	group_set_destroy(&gr->gs);
	close(gr->efd);
	free(gr);
}

void group_srv_wake(struct srv *s)
{
	struct group_srv *gr = s->groups;
	uint64_t one = 1;

	if (!gr)
		return;
	while (write(gr->efd, &one, sizeof(one)) < 0 && errno == EINTR)
		;	/* EAGAIN: a wake-up is pending already */
}

uint64_t group_srv_next_id(struct srv *s)
{
	return s->groups ? group_next_id(&s->groups->gs) : 0;
}

bool group_srv_fire(struct srv *s, const struct engine_fire *f)
{
	struct group_srv *gr = s->groups;
	int64_t m2u;
	struct group_fire gf;

	if (!gr || !group_wants(&gr->gs, f->topic, f->topiclen))
		return false;
	m2u = engine_mono_to_unix(s->engine);
	gf = (struct group_fire){ .timer_id = f->id, .key = f->key, .keylen = f->key ? f->keylen : 0, .topic = f->topic,
				  .topiclen = f->topiclen, .payload = f->payload, .payloadlen = f->payloadlen,
				  .deadline_unix_ns = f->deadline + m2u, .fired_unix_ns = f->fired_at + m2u,
				  .mono_to_unix_ns = m2u, .period_ns = f->period, .seq = f->seq, .final = f->final,
				  .journal_fired = f->final && s->journal && journal_keeps(f->flags) };
	return group_fire(&gr->gs, &gf);
}

/* --- connections as consumers --- */

/* Drops const for protobuf-c string fields that are only read. */
#define GSRV_STR(p) ((char *)(uintptr_t)(p))

int64_t group_srv_mono_to_unix(struct srv *s, const struct group_delivery *d)
{
	return d->has_mono ? d->mono_to_unix_ns : engine_mono_to_unix(s->engine);
}

/* deliver for a subscribed connection: encodes the Fire event and queues it to the connection's loop. */
static int gsrv_conn_deliver(struct group_consumer *gc, const struct group_delivery *d)
{
	struct group_sub *sub = gc->arg;
	struct srv *s = sub->s;
	unsigned li = (unsigned)(sub->handle >> SRV_HANDLE_LOOP_SHIFT);
	Timerd__Response rs = TIMERD__RESPONSE__INIT;
	Timerd__Fire fm = TIMERD__FIRE__INIT;
	struct pack_plan plan;
	int64_t m2u = group_srv_mono_to_unix(s, d);
	char kbuf[256], tbuf[256];	/* most keys and topics: no allocation */
	char *key = d->keylen < sizeof(kbuf) ? kbuf : malloc(d->keylen + 1);
	char *topic = d->topiclen < sizeof(tbuf) ? tbuf : malloc(d->topiclen + 1);
	struct fire_msg *m = NULL;
	size_t n, head = sizeof(*m) + sizeof(m->nodes[0]);
	int rc = -1;

	if (!key || !topic || li >= s->nloops)
		goto out;
	memcpy(key, d->key, d->keylen);
	key[d->keylen] = '\0';
	memcpy(topic, d->topic, d->topiclen);
	topic[d->topiclen] = '\0';
	fm.timer_id = d->timer_id;
	fm.key = key;
	fm.topic = topic;
	fm.payload.data = (uint8_t *)(uintptr_t)d->payload;	/* only read by the packer */
	fm.payload.len = d->payloadlen;
	fm.deadline_unix_ns = d->deadline_unix_ns;
	fm.deadline_mono_ns = d->deadline_unix_ns - m2u;
	fm.fired_mono_ns = d->fired_unix_ns - m2u;
	fm.period_ns = d->period_ns;
	fm.seq = d->seq;
	fm.final = d->final;
	fm.delivery_id = d->id;
	fm.attempt = d->attempt;
	fm.group = GSRV_STR(d->group);
	rs.event = true;
	rs.body_case = TIMERD__RESPONSE__BODY_FIRE;
	rs.fire = &fm;
	n = pack_response_size(&rs, &plan);
	if (!(m = malloc(head + FRAME_HDR + n)))
		goto out;
	memset(m, 0, head);
	{
		uint8_t *frame = (uint8_t *)m + head;

		frame_put_len(frame, (uint32_t)pack_response(&rs, &plan, frame + FRAME_HDR));
		m->frame = frame;
	}
	m->topic = "";
	m->framelen = (uint32_t)(FRAME_HDR + n);
	m->memsize = (uint32_t)(head + FRAME_HDR + n);
	m->mem = &s->fire_mem;
	m->target = sub->handle;
	m->deadline = fm.deadline_mono_ns;
	/* relaxed: a gauge; queued fires count against max-memory until freed */
	atomic_fetch_add_explicit(m->mem, m->memsize, memory_order_relaxed);
	/* relaxed: llist_add (release) publishes the message */
	atomic_store_explicit(&m->refs, 1, memory_order_relaxed);
	m->nodes[0].msg = m;
	/* a full queue drops it (freed): refused, so it stays first in line and holds no credit nor attempt
	 * until an ack timeout; the group thread hands it out again at its next tick */
	rc = loop_post_fire(&s->loops[li], &m->nodes[0]) ? 0 : -1;
out:
	if (key != kbuf)
		free(key);
	if (topic != tbuf)
		free(topic);
	return rc;
}

static const struct group_consumer_ops gsrv_conn_ops = { .deliver = gsrv_conn_deliver };

/* c's subscription to name, or NULL. */
static struct group_sub *gsrv_sub_find(struct conn *c, const char *name)
{
	for (struct group_sub *g = c->gsubs; g; g = g->next)
		if (!strcmp(g->name, name))
			return g;
	return NULL;
}

int group_srv_subscribe(struct conn *c, const char *name, uint32_t credit)
{
	struct srv *s = c->loop->srv;
	struct group_sub *sub;
	uint32_t old_credit;
	unsigned n = 0;
	int rc;

	if (!s->groups)
		return GROUP_ENOENT;
	for (struct group_sub **p = &c->gsubs; *p;) {
		if (!group_consumer_active(&(*p)->c) && strcmp((*p)->name, name)) {
			sub = *p;	/* its group was deleted: the slot is free again */
			*p = sub->next;
			c->gsub_credit -= sub->credit;
			free(sub);
			continue;
		}
		n++;
		p = &(*p)->next;
	}
	if (!(sub = gsrv_sub_find(c, name))) {	/* one that exists: group_subscribe says if it is subscribed */
		if (n >= GROUP_SRV_MAX_SUBS)
			return GROUP_EFULL;
		if (!(sub = calloc(1, sizeof(*sub))))
			return GROUP_ENOMEM;
		snprintf(sub->name, sizeof(sub->name), "%s", name);
		sub->s = s;
		sub->handle = c->handle;
		sub->c.ops = &gsrv_conn_ops;
		sub->c.arg = sub;
		sub->next = c->gsubs;
		c->gsubs = sub;
	}
	old_credit = sub->credit;	/* counted before group_subscribe, which may hand out deliveries */
	sub->credit = credit ? credit : 1;	/* as group_subscribe counts it */
	c->gsub_credit = c->gsub_credit - old_credit + sub->credit;
	rc = group_subscribe(&s->groups->gs, name, &sub->c, credit);
	if (rc == 0) {
		c->waits_fire = true;	/* waiting for deliveries is not idleness (idle-timeout) */
		return 0;
	}
	c->gsub_credit = c->gsub_credit - sub->credit + old_credit;
	sub->credit = old_credit;
	if (rc == GROUP_EINVAL)
		return rc;	/* subscribed already: keep it */
	for (struct group_sub **p = &c->gsubs; *p; p = &(*p)->next)
		if (*p == sub) {	/* refused: it takes no slot */
			*p = sub->next;
			c->gsub_credit -= sub->credit;
			free(sub);
			break;
		}
	return rc;
}

int group_srv_unsubscribe(struct conn *c, const char *name)
{
	struct group_sub *sub = gsrv_sub_find(c, name);
	int rc;

	if (!sub)
		return GROUP_ENOENT;
	rc = group_unsubscribe(&sub->c, "consumer unsubscribed");
	for (struct group_sub **p = &c->gsubs; *p; p = &(*p)->next)
		if (*p == sub) {	/* deliver is never called on it again: free it */
			*p = sub->next;
			c->gsub_credit -= sub->credit;
			free(sub);
			break;
		}
	return rc;
}

int group_srv_ack(struct conn *c, uint64_t id, uint64_t *hold)
{
	int rc = GROUP_ENOENT;

	*hold = 0;
	for (struct group_sub *sub = c->gsubs; sub && rc == GROUP_ENOENT; sub = sub->next)
		rc = group_ack(&sub->c, id, c->loop, hold);
	return rc;
}

void group_srv_ack_refused(struct conn *c, uint64_t id)
{
	for (struct group_sub *sub = c->gsubs; sub; sub = sub->next)
		group_ack_refused(&sub->c, id);
}

int group_srv_nack(struct conn *c, uint64_t id, int64_t retry_after_ns, const char *error, uint64_t *hold)
{
	int rc = GROUP_ENOENT;

	*hold = 0;
	for (struct group_sub *sub = c->gsubs; sub && rc == GROUP_ENOENT; sub = sub->next)
		rc = group_nack(&sub->c, id, retry_after_ns, error, c->loop, hold);
	return rc;
}

void group_srv_conn_drop(struct conn *c)
{
	struct group_sub *sub, *next;

	for (sub = c->gsubs; sub; sub = next) {
		next = sub->next;
		group_unsubscribe(&sub->c, "consumer gone");
		free(sub);
	}
	c->gsubs = NULL;
	c->gsub_credit = 0;
}

void group_srv_stats(struct srv *s, Timerd__DeliveryStats *st)
{
	if (s->groups)
		group_stats(&s->groups->gs, st);
	else
		timerd__delivery_stats__init(st);
}

void group_srv_set_changed(struct srv *s, void (*fn)(void *arg, const char *name, const Timerd__Group *g), void *arg)
{
	struct group_srv *gr = s->groups;
	struct gsrv_copies cp = { 0 };

	if (!gr)
		return;
	gr->changed = fn;
	gr->changed_arg = arg;
	/* the groups that exist already (restored ones): told now, from this thread */
	group_list(&gr->gs, NULL, gsrv_copy_one, &cp);
	for (size_t i = 0; i < cp.n; i++) {
		if (fn)
			fn(arg, cp.v[i]->name, cp.v[i]);
		timerd__group__free_unpacked(cp.v[i], NULL);
	}
	free(cp.v);
}
