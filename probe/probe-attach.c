/*
 * probe-attach.c -- attaches the generic BPF programs for one parsed spec:
 * uprobes and uretprobes by file offset, USDT probes through libbpf,
 * tracepoints and cpu-clock through perf events. Every link carries the
 * probe's slot as its BPF cookie.
 *
 * Each attacher first checks what it can in user space (the binary, the
 * symbol, the USDT note, the tracepoint's tracefs entry) so that errors
 * name the missing thing; a kernel refusal is then reported with errno and
 * libbpf's last warning. On error nothing stays attached.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "bpf/probes.skel.h"
#include "probe/probe-int.h"

#define PROBE_TRACEFS "/sys/kernel/tracing"
#define PROBE_DEBUGFS_TRACING "/sys/kernel/debug/tracing"

/* Appends a link to l, destroying it if there is no memory; 0 or -ENOMEM. */
static int probe_links_add(struct probe_links *l, struct bpf_link *link)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 4;
		struct bpf_link **v = realloc(l->v, cap * sizeof(*v));

		if (!v) {
			bpf_link__destroy(link);
			return -ENOMEM;
		}
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = link;
	return 0;
}

/* Destroys the links of l from index from on. */
static void probe_links_truncate(struct probe_links *l, size_t from)
{
	while (l->n > from)
		bpf_link__destroy(l->v[--l->n]);
}

void probe_links_destroy(struct probe_links *l)
{
	probe_links_truncate(l, 0);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* Reports a failed kernel attachment: privilege, a missing process, or errno. */
static int probe_attach_error(int e, const char *what, const struct probe_spec *s, char *err,
			      size_t errlen)
{
	const char *lib = probe_libbpf_last();

	if (e == EPERM)
		return probe_fail(-e, err, errlen,
				  "attaching %s was not permitted (%s): it needs root (CAP_SYS_ADMIN, "
				  "or CAP_BPF and CAP_PERFMON) and a kernel not locked down against "
				  "BPF tracing", what, strerror(e));
	if (e == ESRCH && s->pid)
		return probe_fail(-e, err, errlen, "attaching %s: no process %u", what, s->pid);
	return probe_fail(-e, err, errlen, "attaching %s failed: %s%s%s", what, strerror(e),
			  *lib ? "; libbpf: " : "", lib);
}

/* uprobe/uretprobe: resolves the symbol, then attaches at its file offset. */
static int probe_attach_uprobe(struct probes_bpf *skel, const struct probe_spec *s,
			       uint32_t slot, struct probe_links *l, char *err, size_t errlen)
{
	LIBBPF_OPTS(bpf_uprobe_opts, o, .bpf_cookie = slot,
		    .retprobe = s->kind == PROBE_KIND_URETPROBE);
	char what[PROBE_PATH_MAX + PROBE_NAME_MAX + 32];
	struct bpf_link *link;
	uint64_t off;
	int rc = probe_elf_func_offset(s->path, s->a, s->offset, &off, err, errlen);

	if (rc)
		return rc;
	snprintf(what, sizeof(what), "%s to %s:%s", probe_kind_name(s->kind), s->path, s->a);
	link = bpf_program__attach_uprobe_opts(skel->progs.td_uprobe, s->pid ? (int)s->pid : -1,
					       s->path, (size_t)off, &o);
	if (!link)
		return probe_attach_error(errno, what, s, err, errlen);
	return probe_links_add(l, link);
}

/* usdt: checks the note, then lets libbpf attach (it decodes the argument specs). */
static int probe_attach_usdt(struct probes_bpf *skel, const struct probe_spec *s, uint32_t slot,
			     struct probe_links *l, char *err, size_t errlen)
{
	LIBBPF_OPTS(bpf_usdt_opts, o, .usdt_cookie = slot);
	char what[PROBE_PATH_MAX + 2 * PROBE_NAME_MAX + 32];
	struct bpf_link *link;
	int rc = probe_elf_usdt(s->path, s->a, s->b, err, errlen);

	if (rc)
		return rc;
	snprintf(what, sizeof(what), "USDT probe %s:%s in %s", s->a, s->b, s->path);
	link = bpf_program__attach_usdt(skel->progs.td_usdt, s->pid ? (int)s->pid : -1, s->path,
					s->a, s->b, &o);
	if (!link)
		return probe_attach_error(errno, what, s, err, errlen);
	return probe_links_add(l, link);
}

/* True if dir/events is a directory (a mounted tracefs). */
static bool probe_tracefs_at(const char *dir)
{
	char p[64];
	struct stat st;

	snprintf(p, sizeof(p), "%s/events", dir);
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

int probe_tracefs(const char **dir, char *err, size_t errlen)
{
	if (probe_tracefs_at(PROBE_TRACEFS)) {
		*dir = PROBE_TRACEFS;
		return 0;
	}
	if (probe_tracefs_at(PROBE_DEBUGFS_TRACING)) {
		*dir = PROBE_DEBUGFS_TRACING;
		return 0;
	}
	if (mount("nodev", PROBE_TRACEFS, "tracefs", 0, NULL) == 0 &&
	    probe_tracefs_at(PROBE_TRACEFS)) {
		*dir = PROBE_TRACEFS;
		return 0;
	}
	return probe_fail(errno == EPERM ? -EPERM : -ENOENT, err, errlen,
			  "tracefs is not mounted and mounting it at " PROBE_TRACEFS " failed "
			  "(%m): mount it as root (mount -t tracefs nodev " PROBE_TRACEFS ")");
}

/* Reads the id of tracepoint cat:name from tracefs; 0 or -errno with err. */
static int probe_tracepoint_id(const struct probe_spec *s, __u64 *id, char *err, size_t errlen)
{
	unsigned long long v = 0;
	char p[PROBE_PATH_MAX];
	const char *dir;
	struct stat st;
	FILE *f;
	int rc = probe_tracefs(&dir, err, errlen), ok;

	if (rc)
		return rc;
	snprintf(p, sizeof(p), "%s/events/%s", dir, s->a);
	if (stat(p, &st) < 0)
		return probe_fail(-ENOENT, err, errlen,
				  "no tracepoint category '%s' (the categories are the directories "
				  "in %s/events)", s->a, dir);
	snprintf(p, sizeof(p), "%s/events/%s/%s/id", dir, s->a, s->b);
	f = fopen(p, "re");
	if (!f && errno == ENOENT)
		return probe_fail(-ENOENT, err, errlen,
				  "no tracepoint %s:%s (category %s has no event %s; see %s/events/%s)",
				  s->a, s->b, s->a, s->b, dir, s->a);
	if (!f)
		return probe_fail(-errno, err, errlen, "cannot read %s: %m", p);
	ok = fscanf(f, "%llu", &v) == 1;
	fclose(f);
	*id = v;
	return ok ? 0 : probe_fail(-EIO, err, errlen, "cannot parse %s", p);
}

/* perf_event_open(2). */
static int probe_perf_open(struct perf_event_attr *a, int pid, int cpu)
{
	return (int)syscall(SYS_perf_event_open, a, pid, cpu, -1, PERF_FLAG_FD_CLOEXEC);
}

/* Attaches prog to an open perf event fd with the slot cookie; the link owns pfd. */
static int probe_attach_pfd(struct bpf_program *prog, int pfd, uint32_t slot,
			    struct probe_links *l)
{
	LIBBPF_OPTS(bpf_perf_event_opts, o, .bpf_cookie = slot);
	struct bpf_link *link = bpf_program__attach_perf_event_opts(prog, pfd, &o);

	if (!link) {
		int e = errno;

		close(pfd);
		return -e;
	}
	return probe_links_add(l, link);
}

/* tracepoint: a perf event of type TRACEPOINT (cpu 0 covers every CPU for BPF). */
static int probe_attach_tracepoint(struct probes_bpf *skel, const struct probe_spec *s,
				   uint32_t slot, unsigned copy, struct probe_links *l, char *err,
				   size_t errlen)
{
	struct perf_event_attr a = { .type = PERF_TYPE_TRACEPOINT, .size = sizeof(a),
				     .sample_period = 1, .wakeup_events = 1 };
	char what[2 * PROBE_NAME_MAX + 32], name[32];
	struct bpf_program *prog;
	int pfd, rc = probe_tracepoint_id(s, &a.config, err, errlen);

	if (rc)
		return rc;
	snprintf(name, sizeof(name), "td_tracepoint%u", copy);
	prog = bpf_object__find_program_by_name(skel->obj, name);
	if (!prog)
		return probe_fail(-ENOENT, err, errlen, "the BPF object has no program %s", name);
	snprintf(what, sizeof(what), "tracepoint %s:%s", s->a, s->b);
	pfd = probe_perf_open(&a, -1, 0);
	if (pfd < 0)
		return probe_attach_error(errno, what, s, err, errlen);
	rc = probe_attach_pfd(prog, pfd, slot, l);
	return rc ? probe_attach_error(-rc, what, s, err, errlen) : 0;
}

/* Reads kernel.perf_event_max_sample_rate, or 0. */
static unsigned long probe_perf_max_rate(void)
{
	FILE *f = fopen("/proc/sys/kernel/perf_event_max_sample_rate", "re");
	unsigned long v = 0;

	if (f) {
		if (fscanf(f, "%lu", &v) != 1)
			v = 0;
		fclose(f);
	}
	return v;
}

/* Explains a failed cpu-clock perf_event_open. */
static int probe_perf_error(int e, const struct probe_spec *s, int cpu, char *err, size_t errlen)
{
	unsigned long max = probe_perf_max_rate();

	if (e == EINVAL && s->perf_freq && max && s->perf_sample > max)
		return probe_fail(-e, err, errlen,
				  "freq=%llu is above kernel.perf_event_max_sample_rate (%lu): "
				  "lower it or raise the sysctl", (unsigned long long)s->perf_sample,
				  max);
	if (e == EACCES || e == EPERM)
		return probe_fail(-e, err, errlen,
				  "opening perf:cpu-clock on CPU %d was refused (%s): it needs root "
				  "or CAP_PERFMON, or a lower kernel.perf_event_paranoid", cpu,
				  strerror(e));
	return probe_fail(-e, err, errlen, "opening perf:cpu-clock on CPU %d failed: %s", cpu,
			  strerror(e));
}

/* Parses a CPU list such as "0-3,6" into online[]; the count of CPUs or -1. */
static int probe_cpu_list(const char *text, bool *online, int max)
{
	const char *p = text;
	int n = 0;

	while (*p && *p != '\n') {
		char *end;
		long lo = strtol(p, &end, 10), hi = lo;

		if (end == p || lo < 0)
			return -1;
		if (*end == '-') {
			p = end + 1;
			hi = strtol(p, &end, 10);
			if (end == p || hi < lo)
				return -1;
		}
		for (long c = lo; c <= hi && c < max; c++, n++)
			online[c] = true;
		p = *end == ',' ? end + 1 : end;
	}
	return n;
}

/* Reads which CPUs are online; the count or -1. */
static int probe_online_cpus(bool *online, int max)
{
	char buf[1024];
	FILE *f = fopen("/sys/devices/system/cpu/online", "re");
	bool ok;

	if (!f)
		return -1;
	ok = fgets(buf, sizeof(buf), f) != NULL;
	fclose(f);
	return ok ? probe_cpu_list(buf, online, max) : -1;
}

/* perf:cpu-clock: one sampling event per online CPU, all with the same cookie. */
static int probe_attach_perf(struct probes_bpf *skel, const struct probe_spec *s, uint32_t slot,
			     struct probe_links *l, char *err, size_t errlen)
{
	struct perf_event_attr a = { .type = PERF_TYPE_SOFTWARE, .size = sizeof(a),
				     .config = PERF_COUNT_SW_CPU_CLOCK, .freq = s->perf_freq,
				     .sample_period = s->perf_sample };
	int max = libbpf_num_possible_cpus(), rc = 0, pfd;
	bool *online;

	if (max <= 0)
		return probe_fail(-EIO, err, errlen, "cannot count the possible CPUs");
	online = calloc((size_t)max, sizeof(*online));
	if (!online)
		return probe_fail(-ENOMEM, err, errlen, "out of memory");
	if (probe_online_cpus(online, max) <= 0)
		rc = probe_fail(-EIO, err, errlen, "cannot read /sys/devices/system/cpu/online");
	for (int cpu = 0; cpu < max && !rc; cpu++) {
		if (!online[cpu])
			continue;
		pfd = probe_perf_open(&a, -1, cpu);
		if (pfd < 0)
			rc = probe_perf_error(errno, s, cpu, err, errlen);
		else if ((rc = probe_attach_pfd(skel->progs.td_perf, pfd, slot, l)))
			rc = probe_attach_error(-rc, "perf:cpu-clock", s, err, errlen);
	}
	free(online);
	return rc;
}

int probe_links_attach(struct probes_bpf *skel, const struct probe_spec *s, uint32_t slot,
		       unsigned tp_copy, struct probe_links *l, char *err, size_t errlen)
{
	size_t before = l->n;
	int rc = -EINVAL;

	probe_libbpf_clear();
	switch (s->kind) {
	case PROBE_KIND_UPROBE:
	case PROBE_KIND_URETPROBE:
		rc = probe_attach_uprobe(skel, s, slot, l, err, errlen);
		break;
	case PROBE_KIND_USDT:
		rc = probe_attach_usdt(skel, s, slot, l, err, errlen);
		break;
	case PROBE_KIND_TRACEPOINT:
		rc = probe_attach_tracepoint(skel, s, slot, tp_copy, l, err, errlen);
		break;
	case PROBE_KIND_PERF:
		rc = probe_attach_perf(skel, s, slot, l, err, errlen);
		break;
	}
	if (rc)
		probe_links_truncate(l, before);
	return rc;
}
