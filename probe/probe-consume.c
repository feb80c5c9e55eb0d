/*
 * probe-consume.c -- the ring buffer consumer: a thread of its own that
 * turns probe records into engine_arm()/engine_cancel() calls.
 *
 * Loop: epoll on { ring buffer, stop eventfd }; take m->lock; copy up to
 * PROBE_BATCH records out of the ring (each copy releases its ring space
 * at once, so the kernel side never waits for the engine); apply the batch;
 * repeat until the ring is empty; release the lock; wait again, at most
 * PROBES_POLL_MS if records came (the BPF side wakes us at most once per
 * PROBES_WAKE_NS; records in between are found by that poll).
 *
 * Within a batch, records are applied in ring order (the order of the
 * reservations, which is the order of the hits of one thread), with one
 * refinement: an arm is held back until the end of the batch, and a
 * cancel of the same key that hit before the arm's deadline supersedes it
 * (the arm is counted as applied and coalesced; only the cancel goes to
 * the engine). The result is the one the engine would reach if both were
 * applied in order, except that a consumer that fell behind by more than
 * the budget cannot fire a timer whose cancel is already in the batch. If
 * the cancel hit at or after the deadline, the arm is applied and, for a
 * one-shot timer, the cancel is dropped: the call overran and the timer
 * must fire even though both records arrived together.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "bpf/probes.skel.h"
#include "engine.h"
#include "probe/probe-int.h"

#define PROBE_BATCH	   256		/* records applied per pass */
#define PROBE_BUCKETS	   512		/* pending-arm hash buckets (> 2 x PROBE_BATCH) */
#define PROBE_BATCH_FULL   (-ENOBUFS)	/* callback result: stop, the batch is full */
#define PROBE_EPOLL_RING   1
#define PROBE_EPOLL_STOP   2

/* One record of a batch with its probe and engine key. */
struct probe_rec {
	struct probes_event ev;
	struct probe *p;	/* NULL: the probe was detached */
	bool pending;		/* an arm held back until the end of the batch */
	uint32_t keylen;
	char key[PROBE_KEY_MAX + 1];
};

/* The consumer's scratch space (one per manager, used under m->lock). */
struct probe_batch {
	size_t n;
	int16_t bucket[PROBE_BUCKETS];	/* index of a record holding an arm, -1: empty */
	struct probe_rec r[PROBE_BATCH];
};

/* FNV-1a of a key. */
static uint64_t probe_key_hash(const char *k, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)k[i]) * 0x100000001b3ull;
	return h;
}

/* Index of the pending arm with r's key, or -1. */
static int probe_pend_find(struct probe_batch *b, const struct probe_rec *r)
{
	size_t i = probe_key_hash(r->key, r->keylen) & (PROBE_BUCKETS - 1);

	for (; b->bucket[i] >= 0; i = (i + 1) & (PROBE_BUCKETS - 1)) {
		const struct probe_rec *o = &b->r[b->bucket[i]];

		/* Entries no longer pending act as tombstones. */
		if (o->pending && o->keylen == r->keylen && memcmp(o->key, r->key, r->keylen) == 0)
			return b->bucket[i];
	}
	return -1;
}

/* Holds record idx back as a pending arm (no other arm of its key is pending). */
static void probe_pend_add(struct probe_batch *b, int idx)
{
	struct probe_rec *r = &b->r[idx];
	size_t i = probe_key_hash(r->key, r->keylen) & (PROBE_BUCKETS - 1);

	while (b->bucket[i] >= 0)
		i = (i + 1) & (PROBE_BUCKETS - 1);
	b->bucket[i] = (int16_t)idx;
	r->pending = true;
}

/* The probe that wrote ev, if it is still attached. */
static struct probe *probe_of(struct probe_mgr *m, const struct probes_event *ev)
{
	struct probe *p = ev->slot < PROBES_MAX_SLOTS ? m->slots[ev->slot] : NULL;

	return p && p->id == ev->probe_id ? p : NULL;
}

/* Fills the payload a probe timer carries. */
static void probe_origin_fill(struct probe_origin *o, const struct probes_event *ev)
{
	memset(o, 0, sizeof(*o));
	o->pid = ev->pid;
	o->tid = ev->tid;
	o->probe_id = ev->probe_id;
	o->hit_ns = ev->hit_ns;
	memcpy(o->comm, ev->comm, sizeof(o->comm));
	o->comm[sizeof(o->comm) - 1] = '\0';
}

/* Arms (or, with id, re-arms) the timer of r at hit + delay; the engine's result. */
static int probe_engine_arm(struct probe_mgr *m, const struct probe_rec *r, uint64_t id)
{
	const struct probe_spec *s = &r->p->spec;
	struct probe_origin o;
	struct engine_arm a = {
		.id = id, .key = id ? NULL : r->key, .keylen = id ? 0 : r->keylen,
		.when = ENGINE_AT_MONO, .time = (int64_t)r->ev.hit_ns + s->delay,
		.period = s->period, .topic = s->topic, .topiclen = (uint32_t)r->p->topiclen,
		.payload = &o, .payloadlen = sizeof(o), .flags = PROBE_TIMER_FLAG,
	};
	struct engine_arm_result res;

	probe_origin_fill(&o, &r->ev);
	return engine_arm(m->e, &a, &res);
}

/* Applies an arm record. */
static void probe_apply_arm(struct probe_mgr *m, struct probe_rec *r)
{
	r->pending = false;
	if (probe_engine_arm(m, r, 0) == 0)
		r->p->c.arms++;
	else
		r->p->c.errors++;
}

/* Applies a cancel record; superseded: it stands for an arm coalesced away. */
static void probe_apply_cancel(struct probe_mgr *m, struct probe_rec *r, bool superseded)
{
	int rc = engine_cancel(m->e, 0, r->key, r->keylen);

	if (rc == 0 || rc == TD_ENOENT) {
		r->p->c.cancels++;
		r->p->c.misses += rc == TD_ENOENT && !superseded;
	} else {
		r->p->c.errors++;
	}
}

/* Applies a re-arm record: moves the timer of its key if it exists. */
static void probe_apply_rearm(struct probe_mgr *m, struct probe_rec *r)
{
	struct engine_timer *t;
	uint64_t id;
	int rc = engine_get(m->e, 0, r->key, r->keylen, &t);

	if (rc == 0) {
		id = t->id;
		engine_timer_free(t);
		rc = probe_engine_arm(m, r, id);
	}
	if (rc == 0)
		r->p->c.arms++;
	else if (rc == TD_ENOENT)
		r->p->c.misses++;
	else
		r->p->c.errors++;
}

/* A cancel: supersedes a pending arm of its key that was not yet due. */
static void probe_on_cancel(struct probe_mgr *m, struct probe_batch *b, struct probe_rec *r)
{
	int j = probe_pend_find(b, r);
	struct probe_rec *a;

	if (j < 0) {
		probe_apply_cancel(m, r, false);
		return;
	}
	a = &b->r[j];
	if ((int64_t)r->ev.hit_ns < (int64_t)a->ev.hit_ns + a->p->spec.delay) {
		a->pending = false;
		a->p->c.arms++;
		a->p->c.coalesced++;
		probe_apply_cancel(m, r, true);	/* still removes an older timer of the key */
		return;
	}
	probe_apply_arm(m, a);		/* due before the cancel hit: it must fire */
	if (a->p->spec.period) {
		probe_apply_cancel(m, r, false);
		return;
	}
	r->p->c.cancels++;
	r->p->c.misses++;
}

/* Applies one record of the batch according to its probe's action. */
static void probe_on_record(struct probe_mgr *m, struct probe_batch *b, int i)
{
	struct probe_rec *r = &b->r[i];
	const struct probe_spec *s;
	int j;

	r->p = probe_of(m, &r->ev);
	if (!r->p) {
		m->stale++;
		return;
	}
	s = &r->p->spec;
	r->keylen = (uint32_t)probe_key_format(r->key, s->topic, r->p->topiclen, s->key_src,
					       r->ev.key);
	if (s->op == PROBE_OP_CANCEL) {
		probe_on_cancel(m, b, r);
		return;
	}
	j = probe_pend_find(b, r);
	if (j >= 0)
		probe_apply_arm(m, &b->r[j]);	/* keep the order of writes to one key */
	if (s->op == PROBE_OP_ARM)
		probe_pend_add(b, i);
	else
		probe_apply_rearm(m, r);
}

/* Applies a whole batch, then the arms still held back, in ring order. */
static void probe_batch_apply(struct probe_mgr *m, struct probe_batch *b)
{
	memset(b->bucket, 0xff, sizeof(b->bucket));
	for (size_t i = 0; i < b->n; i++) {
		b->r[i].pending = false;
		probe_on_record(m, b, (int)i);
	}
	for (size_t i = 0; i < b->n; i++)
		if (b->r[i].pending)
			probe_apply_arm(m, &b->r[i]);
	b->n = 0;
}

/* Ring buffer callback: copies one record into the batch. */
static int probe_consume_record(void *ctx, void *data, size_t size)
{
	struct probe_mgr *m = ctx;
	struct probe_batch *b = m->batch;

	if (size < sizeof(struct probes_event)) {
		m->stale++;	/* cannot happen with a matching BPF object */
		return 0;
	}
	memcpy(&b->r[b->n++].ev, data, sizeof(struct probes_event));
	return b->n == PROBE_BATCH ? PROBE_BATCH_FULL : 0;
}

size_t probe_consume_drain(struct probe_mgr *m)
{
	size_t total = 0;
	int rc;

	do {
		rc = ring_buffer__consume(m->rb);
		total += m->batch->n;
		probe_batch_apply(m, m->batch);
	} while (rc == PROBE_BATCH_FULL);
	return total;
}

/* The consumer thread: waits for records and drains them until told to stop. */
static void *probe_consume_main(void *arg)
{
	struct probe_mgr *m = arg;
	struct epoll_event ev[2];
	bool stop = false;

	int timeout = -1;

	while (!stop) {
		int n = epoll_wait(m->epfd, ev, 2, timeout);

		if (n < 0 && errno != EINTR)
			break;	/* EBADF/EINVAL: cannot happen while the manager lives */
		for (int i = 0; i < n; i++)
			stop |= ev[i].data.u32 == PROBE_EPOLL_STOP;
		pthread_mutex_lock(&m->lock);
		/* Records came: look again soon, for those that did not wake us. */
		timeout = probe_consume_drain(m) ? PROBES_POLL_MS : -1;
		pthread_mutex_unlock(&m->lock);
	}
	return NULL;
}

/* Adds fd to the consumer's epoll set with tag. */
static int probe_epoll_add(int epfd, int fd, uint32_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = tag };

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

/* Starts the thread with every signal blocked (signals belong to the daemon's loop). */
static int probe_thread_start(struct probe_mgr *m)
{
	sigset_t all, old;
	int rc;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&m->thread, NULL, probe_consume_main, m);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc)
		return -rc;
	pthread_setname_np(m->thread, "timerd-probes");
	m->thread_started = true;
	return 0;
}

int probe_consume_start(struct probe_mgr *m, char *err, size_t errlen)
{
	int rc;

	m->batch = calloc(1, sizeof(*m->batch));
	if (!m->batch)
		return probe_fail(-ENOMEM, err, errlen, "out of memory");
	m->rb = ring_buffer__new(bpf_map__fd(m->skel->maps.probes_ring), probe_consume_record, m,
				 NULL);
	if (!m->rb)
		return probe_fail(-errno, err, errlen, "cannot open the BPF ring buffer: %m");
	m->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	m->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (m->stopfd < 0 || m->epfd < 0)
		return probe_fail(-errno, err, errlen, "cannot create the consumer's eventfd/epoll: %m");
	rc = probe_epoll_add(m->epfd, ring_buffer__epoll_fd(m->rb), PROBE_EPOLL_RING);
	if (!rc)
		rc = probe_epoll_add(m->epfd, m->stopfd, PROBE_EPOLL_STOP);
	if (!rc)
		rc = probe_thread_start(m);
	return rc ? probe_fail(rc, err, errlen, "cannot start the probe consumer: %s",
			       strerror(-rc)) : 0;
}

void probe_consume_stop(struct probe_mgr *m)
{
	uint64_t one = 1;

	if (m->thread_started) {
		if (write(m->stopfd, &one, sizeof(one)) < 0)
			abort();	/* an eventfd write of 1 cannot fail here */
		pthread_join(m->thread, NULL);
		m->thread_started = false;
	}
	if (m->epfd >= 0)
		close(m->epfd);
	if (m->stopfd >= 0)
		close(m->stopfd);
	m->epfd = m->stopfd = -1;
	ring_buffer__free(m->rb);
	m->rb = NULL;
	free(m->batch);
	m->batch = NULL;
}
