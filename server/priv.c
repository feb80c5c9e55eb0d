/*
 * priv.c -- dropping root after start-up: --user, --group (see priv.h).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "server/log.h"
#include "server/priv.h"
#include "server/srv.h"

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

/* How long priv_drop waits for each phase on the loop threads. */
#define PRIV_LOOP_TIMEOUT_S 5

/* What the probes keep: load/attach BPF links, open uprobe/perf events, read tracefs ids and root-only binaries. */
#define PRIV_PROBE_CAPS (UINT64_C(1) << CAP_BPF | UINT64_C(1) << CAP_PERFMON | UINT64_C(1) << CAP_DAC_READ_SEARCH)

/* The target, resolved once by priv_init on the main thread before any other thread starts. */
static struct {
	bool on;
	uid_t uid;
	gid_t gid;
	char desc[128];
} priv;

/* Phases on the loop threads: each loop runs one, counts itself done, and the main thread waits. */
struct priv_sync {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned done;
	uint64_t keep;			/* capabilities the loops keep */
	bool stuck;			/* a loop did not answer: the messages may still be read, never free them */
	char err[256];			/* the first loop's failure */
	struct loop_msg msgs[];		/* one per loop */
};

/* Parses a decimal id ("" or junk: false). */
static bool priv_number(const char *s, unsigned long *v)
{
	char *end;

	if (!*s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	*v = strtoul(s, &end, 10);
	return !*end && !errno && *v < (unsigned long)(uid_t)-1;
}

/* Resolves --user into uid and its primary gid; 0 or -1 with err. */
static int priv_user(const char *name, uid_t *uid, gid_t *gid, char *err, size_t errlen)
{
	struct passwd pw, *p = NULL;
	char buf[4096];
	unsigned long n;

	if (priv_number(name, &n))
		getpwuid_r((uid_t)n, &pw, buf, sizeof(buf), &p);
	else
		getpwnam_r(name, &pw, buf, sizeof(buf), &p);
	if (p) {
		*uid = p->pw_uid;
		*gid = p->pw_gid;
		return 0;
	}
	if (!priv_number(name, &n))
		return td_errf(err, errlen, "user: no user named '%s' (give a name from /etc/passwd or a uid)", name);
	*uid = (uid_t)n;	/* a bare uid without a passwd entry: its group must be given */
	*gid = (gid_t)-1;
	return 0;
}

/* Resolves --group; 0 or -1 with err. */
static int priv_group(const char *name, gid_t *gid, char *err, size_t errlen)
{
	struct group gr, *g = NULL;
	char buf[4096];
	unsigned long n;

	if (priv_number(name, &n)) {
		*gid = (gid_t)n;
		return 0;
	}
	if (getgrnam_r(name, &gr, buf, sizeof(buf), &g) != 0 || !g)
		return td_errf(err, errlen, "group: no group named '%s' (give a name from /etc/group or a gid)", name);
	*gid = g->gr_gid;
	return 0;
}

int priv_init(const struct srv_config *c, char *err, size_t errlen)
{
	uid_t uid;
	gid_t gid;

	if (!c->user && !c->group)
		return 0;
	if (!c->user)
		return td_errf(err, errlen, "group: --group needs --user (timerd would keep running as uid %u)",
			       (unsigned)geteuid());
	if (geteuid() != 0)
		return td_errf(err, errlen, "user: timerd runs as uid %u, not root: there is no root to drop; remove --user "
			       "and --group, or start timerd as root", (unsigned)geteuid());
	if (priv_user(c->user, &uid, &gid, err, errlen) < 0 || (c->group && priv_group(c->group, &gid, err, errlen) < 0))
		return -1;
	if (gid == (gid_t)-1)
		return td_errf(err, errlen, "user: uid %s has no passwd entry: give its group with --group", c->user);
	if (uid == 0)
		return td_errf(err, errlen, "user: '%s' is root: nothing would be dropped; give an unprivileged user "
			       "(a dedicated one, e.g. timerd)", c->user);
	priv.on = true;
	priv.uid = uid;
	priv.gid = gid;
	snprintf(priv.desc, sizeof(priv.desc), "uid %u (%s) gid %u%s%s%s", (unsigned)uid, c->user, (unsigned)gid,
		 c->group ? " (" : "", c->group ? c->group : "", c->group ? ")" : "");
	return 0;
}

bool priv_dropping(void)
{
	return priv.on;
}

uid_t priv_owner(void)
{
	return priv.on ? priv.uid : geteuid();
}

gid_t priv_owner_gid(void)
{
	return priv.on ? priv.gid : getegid();
}

const char *priv_describe(void)
{
	return priv.on ? priv.desc : "";
}

/* The highest capability number this kernel knows. */
static int priv_last_cap(void)
{
	FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
	int n = CAP_BPF;

	if (f) {
		if (fscanf(f, "%d", &n) != 1)
			n = CAP_BPF;
		fclose(f);
	}
	return n;
}

/* Before the uid change, on the calling thread: keep capabilities across it if any are kept; shrink the bounding set. */
static int priv_before(uint64_t keep, char *err, size_t errlen)
{
	int last = priv_last_cap();

	if (keep && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		return td_errf(err, errlen, "PR_SET_KEEPCAPS: %s", strerror(errno));
	for (int cap = 0; cap <= last && cap < 64; cap++)
		if (!(keep & UINT64_C(1) << cap) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
			return td_errf(err, errlen, "PR_CAPBSET_DROP %d: %s", cap, strerror(errno));
	return 0;
}

/* After the uid change, on the calling thread: exactly keep permitted and effective, nothing inheritable or ambient. */
static int priv_after(uint64_t keep, char *err, size_t errlen)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct d[2] = { { 0 } };

	d[0].effective = d[0].permitted = (uint32_t)keep;
	d[1].effective = d[1].permitted = (uint32_t)(keep >> 32);
	if (syscall(SYS_capset, &h, d) < 0)
		return td_errf(err, errlen, "capset: %s", strerror(errno));
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return td_errf(err, errlen, "clearing ambient capabilities: %s", strerror(errno));
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return td_errf(err, errlen, "PR_SET_KEEPCAPS/PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
	return 0;
}

void priv_loop_step(void *arg, int phase)
{
	struct priv_sync *y = arg;
	char err[256] = "";
	int rc = phase == PRIV_BEFORE ? priv_before(y->keep, err, sizeof(err)) : priv_after(y->keep, err, sizeof(err));

	pthread_mutex_lock(&y->lock);
	if (rc < 0 && !y->err[0])
		snprintf(y->err, sizeof(y->err), "%s", err);
	y->done++;
	pthread_cond_signal(&y->cond);
	pthread_mutex_unlock(&y->lock);	/* the last touch of y and of the message: priv_drop may free them now */
}

/* Runs phase on every loop thread and waits for all; 0 or -1 with err. */
static int priv_loops(struct srv *s, struct priv_sync *y, int phase, char *err, size_t errlen)
{
	struct timespec dl;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += PRIV_LOOP_TIMEOUT_S;
	pthread_mutex_lock(&y->lock);
	y->done = 0;
	pthread_mutex_unlock(&y->lock);
	for (unsigned i = 0; i < s->nloops; i++) {
		y->msgs[i].type = LOOP_MSG_PRIV;
		y->msgs[i].priv = y;
		y->msgs[i].priv_phase = phase;
		loop_post(&s->loops[i], &y->msgs[i]);
	}
	pthread_mutex_lock(&y->lock);
	while (y->done < s->nloops && rc == 0)
		rc = pthread_cond_timedwait(&y->cond, &y->lock, &dl);
	y->stuck = y->done < s->nloops;
	if (y->stuck)
		td_errf(err, errlen, "the loop threads did not change their privileges within %ds", PRIV_LOOP_TIMEOUT_S);
	else if (y->err[0])
		td_errf(err, errlen, "a loop thread: %s", y->err);
	rc = y->done < s->nloops || y->err[0] ? -1 : 0;
	pthread_mutex_unlock(&y->lock);
	return rc;
}

/* Gives the target user what it writes or removes later: the Unix socket, and its directory if timerd made it. */
static void priv_chown_files(struct srv *s)
{
	srv_socket_dir_give(priv.uid, priv.gid);
	if (s->socket_path && fchownat(AT_FDCWD, s->socket_path, priv.uid, (gid_t)-1, AT_SYMLINK_NOFOLLOW) < 0)
		log_warn("cannot give %s to uid %u: %s", s->socket_path, (unsigned)priv.uid, strerror(errno));
}

/* Checks that root cannot be regained and that the ids are the target's on this thread; 0 or -1 with err. */
static int priv_verify(uint64_t keep, char *err, size_t errlen)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct d[2] = { { 0 } };
	uid_t r, e, sv;
	gid_t rg, eg, sg;
	uint64_t eff, perm;

	if (getresuid(&r, &e, &sv) < 0 || getresgid(&rg, &eg, &sg) < 0 || r != priv.uid || e != priv.uid ||
	    sv != priv.uid || rg != priv.gid || eg != priv.gid || sg != priv.gid)
		return td_errf(err, errlen, "after the drop the ids are uid %u/%u/%u gid %u/%u/%u, not %s", (unsigned)r,
			       (unsigned)e, (unsigned)sv, (unsigned)rg, (unsigned)eg, (unsigned)sg, priv.desc);
	/* raw syscalls: glibc's wrappers would apply a success to every thread */
	if (syscall(SYS_setresuid, 0, 0, 0) == 0 || syscall(SYS_setresgid, 0, 0, 0) == 0 ||
	    syscall(SYS_setgroups, 0, NULL) == 0)
		return td_errf(err, errlen, "root could be regained after the drop: refusing to run");
	if (syscall(SYS_capget, &h, d) < 0)
		return td_errf(err, errlen, "capget: %s", strerror(errno));
	eff = (uint64_t)d[1].effective << 32 | d[0].effective;
	perm = (uint64_t)d[1].permitted << 32 | d[0].permitted;
	if ((eff | perm) & ~keep)
		return td_errf(err, errlen, "capabilities beyond the kept ones remain (effective %#llx, permitted %#llx)",
			       (unsigned long long)eff, (unsigned long long)perm);
	return 0;
}

/* Warns about what a reload (SIGHUP) can no longer read or do now that timerd is not root. */
static void priv_log_reload(const struct srv *s, uint64_t keep)
{
	const struct srv_config *c = s->cfg;
	const char *files[][2] = {
		{ "config", c->config_file }, { "tls-cert", c->tls_cert }, { "tls-key", c->tls_key },
		{ "tls-ca", c->tls_ca },
	};

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		if (files[i][1] && access(files[i][1], R_OK) < 0)
			log_warn("%s %s is not readable by %s (%s): a reload (SIGHUP) can no longer re-read it; make it "
				 "readable by that user or its group (chgrp GROUP FILE; chmod g+r FILE), or restart timerd "
				 "to apply changes to it", files[i][0], files[i][1], c->user, strerror(errno));
	log_notice("after dropping root a reload can no longer: bind a new socket, listen or http address (those need "
		   "a restart anyway), read files only root can read, or raise the open files limit past its hard "
		   "limit%s", keep ? "" : "; and probes cannot be attached (give --probe at start to keep CAP_BPF and "
		   "CAP_PERFMON)");
}

int priv_drop(struct srv *s, char *err, size_t errlen)
{
	struct priv_sync *y;
	int rc = -1;

	if (!priv.on)
		return 0;
	if (!(y = calloc(1, sizeof(*y) + s->nloops * sizeof(y->msgs[0]))))
		return td_errf(err, errlen, "out of memory");
	pthread_mutex_init(&y->lock, NULL);
	pthread_cond_init(&y->cond, NULL);
	y->keep = s->cfg->nprobes && s->probes ? PRIV_PROBE_CAPS : 0;
	priv_chown_files(s);
	if (priv_loops(s, y, PRIV_BEFORE, err, errlen) < 0 || priv_before(y->keep, err, errlen) < 0)
		goto out;
	/* glibc applies these to every thread of the process (its SIGSETXID broadcast) */
	if (setgroups(1, &priv.gid) < 0 || setgid(priv.gid) < 0 || setuid(priv.uid) < 0) {
		td_errf(err, errlen, "cannot become %s: %s", priv.desc, strerror(errno));
		goto out;
	}
	if (priv_after(y->keep, err, errlen) < 0 || priv_loops(s, y, PRIV_AFTER, err, errlen) < 0 ||
	    priv_verify(y->keep, err, errlen) < 0)
		goto out;
	s->probes_uncapable = !y->keep;	/* before the ready handshake: no request has run yet */
	log_notice("dropped root: running as %s; capabilities kept: %s", priv.desc,
		   y->keep ? "CAP_BPF, CAP_PERFMON, CAP_DAC_READ_SEARCH (probes are configured)" : "none");
	priv_log_reload(s, y->keep);
	rc = 0;
out:
	if (!y->stuck) {	/* else a loop may still read its message: leaked, timerd stops anyway */
		pthread_cond_destroy(&y->cond);
		pthread_mutex_destroy(&y->lock);
		free(y);
	}
	return rc;
}
