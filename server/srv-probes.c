/*
 * srv-probes.c -- the daemon's side of BPF probes (probe/probe.h): start the
 * probe manager, attach --probe specs, serve ProbeAttach/Detach/List and
 * the probe counters. Without a probe manager (not root, no BPF) timerd
 * runs on and the probe operations answer UNAVAILABLE with the reason.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probe/probe.h"
#include "server/log.h"
#include "server/srv.h"

/* Starts the probe manager and attaches the --probe specs. */
int srv_probes_start(struct srv *s, char *err, size_t errlen)
{
	char why[480];
	uint32_t id;
	int rc;

	if (probe_mgr_create(s->engine, &s->probes, why, sizeof(why)) < 0) {
		s->probes = NULL;
		snprintf(s->probe_err, sizeof(s->probe_err), "%s", why);
		if (s->cfg->nprobes) {
			snprintf(err, errlen, "--probe given, but BPF probes are not available: %s", why);
			return -1;
		}
		log_info("BPF probes are not available: %s", why);
		return 0;
	}
	for (size_t i = 0; i < s->cfg->nprobes; i++) {
		if ((rc = probe_attach(s->probes, s->cfg->probes[i], &id, why, sizeof(why))) < 0) {
			snprintf(err, errlen, "--probe '%s': %s", s->cfg->probes[i], why);
			return -1;
		}
		log_notice("probe %u attached: %s", id, s->cfg->probes[i]);
	}
	return 0;
}

/* Detaches everything. */
void srv_probes_stop(struct srv *s)
{
	if (s->probes)
		probe_mgr_destroy(s->probes);
	s->probes = NULL;
}

/* Maps probe_attach's -errno to a wire error code. */
static int srv_probes_code(int rc)
{
	switch (-rc) {
	case EINVAL:
	case ENOENT:
	case ESRCH:
	case E2BIG:
	case ENOEXEC:		/* not an ELF file */
	case ERANGE:		/* offset past the function */
	case ENOTUNIQ:		/* ambiguous symbol */
		return TIMERD__ERROR_CODE__INVALID;
	case EPERM:
	case EACCES:
		return TIMERD__ERROR_CODE__PERMISSION;
	case ENOMEM:
		return TIMERD__ERROR_CODE__NO_MEMORY;
	case EBUSY:
	case ENOSPC:
		return TIMERD__ERROR_CODE__BUSY;
	default:
		return TIMERD__ERROR_CODE__SYSTEM;
	}
}

/* Attaches a spec. */
int srv_probes_attach(struct srv *s, const char *spec, uint32_t *id, char *err, size_t errlen)
{
	int rc;

	if (!spec || !*spec) {
		snprintf(err, errlen, "empty probe spec: give e.g. 'uprobe:/usr/bin/app:handle arm=50ms key=tid topic=slow'");
		return TIMERD__ERROR_CODE__INVALID;
	}
	if (s->probes_uncapable) {
		snprintf(err, errlen, "timerd dropped root (--user) without --probe, so it kept no capability to attach "
			 "probes: restart it with a --probe SPEC (it then keeps CAP_BPF and CAP_PERFMON), or without --user");
		return TIMERD__ERROR_CODE__PERMISSION;
	}
	rc = probe_attach(s->probes, spec, id, err, errlen);
	return rc < 0 ? srv_probes_code(rc) : 0;
}

/* Detaches probe id. */
int srv_probes_detach(struct srv *s, uint32_t id)
{
	return probe_detach(s->probes, id) < 0 ? -1 : 0;
}

/* Copies the attached probes into a ProbeListReply. */
int srv_probes_list(struct srv *s, Timerd__ProbeListReply *r, struct arena *a)
{
	size_t n = probe_list(s->probes, NULL, 0), got;
	struct probe_info *v = n ? calloc(n, sizeof(*v)) : NULL;

	if (n && !v)
		return -1;
	got = n ? probe_list(s->probes, v, n) : 0;
	got = got < n ? got : n;	/* one may have been detached meanwhile */
	r->probes = arena_alloc(a, (got ? got : 1) * sizeof(*r->probes));
	for (size_t i = 0; r->probes && i < got; i++) {
		Timerd__ProbeInfo *pi = arena_alloc(a, sizeof(*pi));
		char *spec = arena_alloc(a, strlen(v[i].spec) + 1);

		if (!pi || !spec)
			break;
		timerd__probe_info__init(pi);
		strcpy(spec, v[i].spec);
		pi->probe_id = v[i].id;
		pi->spec = spec;
		pi->hits = v[i].c.hits;
		pi->arms = v[i].c.arms;
		pi->cancels = v[i].c.cancels;
		pi->ring_drops = v[i].c.ring_drops;
		pi->errors = v[i].c.errors;
		pi->misses = v[i].c.misses;
		pi->coalesced = v[i].c.coalesced;
		r->probes[r->n_probes++] = pi;
	}
	free(v);
	return r->probes && r->n_probes == got ? 0 : -1;
}

/* Fills ProbeStats. */
void srv_probes_stats(struct srv *s, Timerd__ProbeStats *ps)
{
	struct probe_counters c;

	ps->available = s->probes != NULL;
	if (!s->probes)
		return;
	probe_totals(s->probes, &c);
	ps->attached = probe_list(s->probes, NULL, 0);
	ps->hits = c.hits;
	ps->arms = c.arms;
	ps->cancels = c.cancels;
	ps->ring_drops = c.ring_drops;
	ps->errors = c.errors;
	ps->misses = c.misses;
	ps->coalesced = c.coalesced;
}
