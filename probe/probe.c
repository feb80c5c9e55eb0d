/*
 * probe.c -- the probe manager: loads the BPF object, owns the slot table
 * (one slot per attached probe; the slot index is the BPF cookie of the
 * probe's links), attaches and detaches probes, and reads their counters.
 *
 * Attach: parse; take a free slot and write its configuration disabled
 * (probe_id 0: the programs ignore hits); attach the links without the
 * lock; on success write the configuration again with the probe id, which
 * enables it. The two writes differ only in probe_id, so a hit reading the
 * map during the second write sees either the disabled or the final slot.
 * Detach: disable the slot, destroy the links, drain the ring buffer so
 * the probe's last records are applied, fold its counters into `retired`,
 * free the slot.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf/probes.skel.h"
#include "engine.h"
#include "probe/probe-int.h"

/* Writes slot's configuration for p with the given probe id (0: disabled). */
static int probe_slot_write(struct probe_mgr *m, const struct probe *p, uint32_t probe_id)
{
	struct probes_slot v = {
		.probe_id = probe_id, .pid = p->spec.pid, .key_src = (uint8_t)p->spec.key_src,
		.key_arg = p->spec.key_arg, .key_const = p->spec.key_const,
		.flags = p->spec.op == PROBE_OP_CANCEL ? 0 : PROBES_SLOT_COMM,
	};
	uint32_t k = p->slot;

	return bpf_map__update_elem(m->skel->maps.probes_cfg, &k, sizeof(k), &v, sizeof(v), 0);
}

/* Clears slot k's configuration: its programs ignore hits from now on. */
static void probe_slot_clear(struct probe_mgr *m, uint32_t k)
{
	struct probes_slot v = { 0 };

	bpf_map__update_elem(m->skel->maps.probes_cfg, &k, sizeof(k), &v, sizeof(v), 0);
}

/* Zeroes (counts NULL) or reads and sums (into c) slot k's per-CPU counters. */
static int probe_slot_counts(struct probe_mgr *m, uint32_t k, struct probes_count *c)
{
	size_t sz = (size_t)m->ncpus * sizeof(struct probes_count);
	struct probes_count *v = calloc((size_t)m->ncpus, sizeof(*v));
	int rc;

	if (!v)
		return -ENOMEM;
	if (!c) {
		rc = bpf_map__update_elem(m->skel->maps.probes_counts, &k, sizeof(k), v, sz, 0);
	} else {
		memset(c, 0, sizeof(*c));
		rc = bpf_map__lookup_elem(m->skel->maps.probes_counts, &k, sizeof(k), v, sz, 0);
		for (int i = 0; !rc && i < m->ncpus; i++) {
			c->hits += v[i].hits;
			c->drops += v[i].drops;
			c->bad_args += v[i].bad_args;
		}
	}
	free(v);
	return rc;
}

/* p's counters: the user-side ones plus the kernel's (lock held). */
static void probe_counters_of(struct probe_mgr *m, const struct probe *p, struct probe_counters *c)
{
	struct probes_count k;

	*c = p->c;
	if (probe_slot_counts(m, p->slot, &k) == 0) {
		c->hits = k.hits;
		c->ring_drops = k.drops;
		c->errors += k.bad_args;
	}
}

/* Adds b to a. */
static void probe_counters_add(struct probe_counters *a, const struct probe_counters *b)
{
	a->hits += b->hits;
	a->arms += b->arms;
	a->cancels += b->cancels;
	a->ring_drops += b->ring_drops;
	a->errors += b->errors;
	a->misses += b->misses;
	a->coalesced += b->coalesced;
}

/* True if this process may load tracing programs: CAP_SYS_ADMIN, or CAP_BPF and CAP_PERFMON. */
static bool probe_privileged(void)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2] = { { 0 } };
	uint64_t eff;

	if (syscall(SYS_capget, &h, d) < 0)
		return geteuid() == 0;
	eff = (uint64_t)d[1].effective << 32 | d[0].effective;
	return (eff >> 21 & 1) || ((eff >> 39 & 1) && (eff >> 38 & 1));
}

/* The error for a process that may not load BPF programs. */
static int probe_privilege_error(char *err, size_t errlen)
{
	return probe_fail(-EPERM, err, errlen,
			  "BPF probes need root (CAP_SYS_ADMIN, or CAP_BPF and CAP_PERFMON): run "
			  "timerd as root, or without probes");
}

/* Explains a failed load of the BPF object. */
static int probe_load_error(int rc, char *err, size_t errlen)
{
	const char *lib = probe_libbpf_last();

	if (rc == -EPERM)
		return probe_privilege_error(err, errlen);
	if (rc == -ENOSYS)
		return probe_fail(rc, err, errlen,
				  "this kernel has no BPF support (bpf(2) returned ENOSYS): probes "
				  "are unavailable");
	return probe_fail(rc, err, errlen,
			  "loading the BPF programs failed: %s%s%s (the kernel needs BPF ring "
			  "buffers, Linux 5.8, and attach cookies, 5.15)", strerror(-rc),
			  *lib ? "; libbpf: " : "", lib);
}

/* Opens and loads the BPF object. */
static int probe_mgr_load(struct probe_mgr *m, char *err, size_t errlen)
{
	int rc;

	if (!probe_privileged())
		return probe_privilege_error(err, errlen);
	m->ncpus = libbpf_num_possible_cpus();
	if (m->ncpus <= 0)
		return probe_fail(-EIO, err, errlen, "cannot count the possible CPUs");
	m->skel = probes_bpf__open();
	if (!m->skel)
		return probe_load_error(-errno, err, errlen);
	rc = probes_bpf__load(m->skel);
	return rc ? probe_load_error(rc, err, errlen) : 0;
}

int probe_mgr_create(struct engine *e, struct probe_mgr **out, char *err, size_t errlen)
{
	struct probe_mgr *m = calloc(1, sizeof(*m));
	int rc;

	*out = NULL;
	if (!m)
		return probe_fail(-ENOMEM, err, errlen, "out of memory");
	m->e = e;
	m->epfd = m->stopfd = -1;
	pthread_mutex_init(&m->lock, NULL);
	probe_libbpf_route();
	rc = probe_mgr_load(m, err, errlen);
	if (!rc)
		rc = probe_consume_start(m, err, errlen);
	if (rc) {
		probe_mgr_destroy(m);
		return rc;
	}
	*out = m;
	return 0;
}

/* Destroys the links of every probe and disables their slots. */
static void probe_mgr_detach_all(struct probe_mgr *m)
{
	for (uint32_t i = 0; i < PROBES_MAX_SLOTS; i++) {
		if (!m->slots[i])
			continue;
		probe_slot_clear(m, i);
		probe_links_destroy(&m->slots[i]->links);
	}
}

void probe_mgr_destroy(struct probe_mgr *m)
{
	if (!m)
		return;
	if (m->skel)
		probe_mgr_detach_all(m);
	probe_consume_stop(m);	/* applies what the ring still holds */
	for (uint32_t i = 0; i < PROBES_MAX_SLOTS; i++)
		free(m->slots[i]);
	probes_bpf__destroy(m->skel);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

/* Takes a free slot for p and gives it an id (lock held); 0 or -ENOSPC. */
static int probe_slot_take(struct probe_mgr *m, struct probe *p)
{
	for (uint32_t i = 0; i < PROBES_MAX_SLOTS; i++) {
		if (m->slots[i])
			continue;
		if (++m->next_id == 0)
			m->next_id = 1;
		p->id = m->next_id;
		p->slot = i;
		m->slots[i] = p;
		return 0;
	}
	return -ENOSPC;
}

/* True if q is attached (or attaching) to the same tracepoint as s. */
static bool probe_same_tracepoint(const struct probe *q, const struct probe_spec *s)
{
	return q->spec.kind == PROBE_KIND_TRACEPOINT && strcmp(q->spec.a, s->a) == 0 &&
	       strcmp(q->spec.b, s->b) == 0;
}

/* Picks a tracepoint program copy no other probe of p's tracepoint uses (lock held). */
static int probe_tp_copy_take(struct probe_mgr *m, struct probe *p, char *err, size_t errlen)
{
	unsigned used = 0;

	if (p->spec.kind != PROBE_KIND_TRACEPOINT)
		return 0;
	for (uint32_t i = 0; i < PROBES_MAX_SLOTS; i++)
		if (m->slots[i] && probe_same_tracepoint(m->slots[i], &p->spec))
			used |= 1u << m->slots[i]->tp_copy;
	for (p->tp_copy = 0; p->tp_copy < PROBES_TP_COPIES; p->tp_copy++)
		if (!(used & 1u << p->tp_copy))
			return 0;
	return probe_fail(-EBUSY, err, errlen,
			  "tracepoint %s:%s already has %d probes (the most one tracepoint takes): "
			  "detach one first", p->spec.a, p->spec.b, PROBES_TP_COPIES);
}

/* Reserves a slot for p, disabled, with zeroed counters; 0 or -errno with err. */
static int probe_reserve(struct probe_mgr *m, struct probe *p, char *err, size_t errlen)
{
	int rc;

	pthread_mutex_lock(&m->lock);
	rc = probe_tp_copy_take(m, p, err, errlen);
	if (rc) {
		pthread_mutex_unlock(&m->lock);
		return rc;
	}
	rc = probe_slot_take(m, p);
	if (rc) {
		pthread_mutex_unlock(&m->lock);
		return probe_fail(rc, err, errlen,
				  "too many probes attached (at most %d): detach some first",
				  PROBES_MAX_SLOTS);
	}
	rc = probe_slot_write(m, p, 0);
	if (!rc)
		rc = probe_slot_counts(m, p->slot, NULL);
	if (rc)
		m->slots[p->slot] = NULL;
	pthread_mutex_unlock(&m->lock);
	return rc ? probe_fail(rc, err, errlen, "cannot write the probe's BPF slot: %s",
			       strerror(-rc)) : 0;
}

int probe_attach(struct probe_mgr *m, const char *spec, uint32_t *id, char *err, size_t errlen)
{
	struct probe *p = calloc(1, sizeof(*p));
	int rc;

	if (!p)
		return probe_fail(-ENOMEM, err, errlen, "out of memory");
	rc = probe_spec_parse(spec, &p->spec, err, errlen);
	if (!rc)
		rc = probe_reserve(m, p, err, errlen);
	if (rc) {
		free(p);
		return rc;
	}
	snprintf(p->text, sizeof(p->text), "%s", spec);
	p->topiclen = strlen(p->spec.topic);
	rc = probe_links_attach(m->skel, &p->spec, p->slot, p->tp_copy, &p->links, err, errlen);
	pthread_mutex_lock(&m->lock);
	if (!rc && (rc = probe_slot_write(m, p, p->id)))
		probe_fail(rc, err, errlen, "cannot enable the probe's BPF slot: %s", strerror(-rc));
	if (rc) {
		probe_slot_clear(m, p->slot);
		m->slots[p->slot] = NULL;
	} else {
		p->ready = true;
		*id = p->id;
	}
	pthread_mutex_unlock(&m->lock);
	if (rc) {
		probe_links_destroy(&p->links);
		free(p);
	}
	return rc;
}

/* Finds the ready probe id and marks it not ready (lock held); NULL if none. */
static struct probe *probe_claim(struct probe_mgr *m, uint32_t id)
{
	for (uint32_t i = 0; i < PROBES_MAX_SLOTS; i++) {
		struct probe *p = m->slots[i];

		if (p && p->ready && p->id == id) {
			p->ready = false;
			return p;
		}
	}
	return NULL;
}

int probe_detach(struct probe_mgr *m, uint32_t id)
{
	struct probe_counters c;
	struct probe *p;

	pthread_mutex_lock(&m->lock);
	p = probe_claim(m, id);
	if (p)
		probe_slot_clear(m, p->slot);
	pthread_mutex_unlock(&m->lock);
	if (!p)
		return -ENOENT;
	probe_links_destroy(&p->links);	/* may sleep (uprobe unregistration) */
	pthread_mutex_lock(&m->lock);
	probe_consume_drain(m);		/* the probe's last records */
	probe_counters_of(m, p, &c);
	probe_counters_add(&m->retired, &c);
	m->slots[p->slot] = NULL;
	pthread_mutex_unlock(&m->lock);
	free(p);
	return 0;
}

void probe_sync(struct probe_mgr *m)
{
	pthread_mutex_lock(&m->lock);
	probe_consume_drain(m);
	pthread_mutex_unlock(&m->lock);
}

/* Orders probes by id. */
static int probe_cmp_id(const void *a, const void *b)
{
	const struct probe *x = *(struct probe *const *)a, *y = *(struct probe *const *)b;

	return x->id < y->id ? -1 : x->id > y->id;
}

size_t probe_list(struct probe_mgr *m, struct probe_info *out, size_t max)
{
	struct probe *v[PROBES_MAX_SLOTS];
	size_t n = 0;

	pthread_mutex_lock(&m->lock);
	for (uint32_t i = 0; i < PROBES_MAX_SLOTS; i++)
		if (m->slots[i] && m->slots[i]->ready)
			v[n++] = m->slots[i];
	qsort(v, n, sizeof(v[0]), probe_cmp_id);
	for (size_t i = 0; i < n && i < max; i++) {
		out[i].id = v[i]->id;
		snprintf(out[i].spec, sizeof(out[i].spec), "%s", v[i]->text);
		probe_counters_of(m, v[i], &out[i].c);
	}
	pthread_mutex_unlock(&m->lock);
	return n;
}

void probe_totals(struct probe_mgr *m, struct probe_counters *c)
{
	struct probe_counters pc;

	pthread_mutex_lock(&m->lock);
	*c = m->retired;
	c->errors += m->stale;
	for (uint32_t i = 0; i < PROBES_MAX_SLOTS; i++) {
		if (!m->slots[i])
			continue;
		probe_counters_of(m, m->slots[i], &pc);
		probe_counters_add(c, &pc);
	}
	pthread_mutex_unlock(&m->lock);
}
