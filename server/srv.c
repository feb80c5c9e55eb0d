/*
 * srv.c -- the server's life: start the engine, the probe manager, the
 * loop threads, the listeners and the stats thread; accept connections and
 * hand them to the loop thread with the fewest; on SIGTERM/SIGINT stop
 * accepting, let every connection flush, write the last stats row, stop.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "proto/addr.h"
#include "proto/frame.h"
#include "server/group-srv.h"
#include "server/journal.h"
#include "server/http.h"
#include "server/auth.h"
#include "server/log.h"
#include "server/priv.h"
#include "server/quota.h"
#include "server/srv.h"
#include "server/srv-webhook.h"

/* How long accepting pauses after running out of file descriptors. */
#define SRV_ACCEPT_BACKOFF_MS 100
/* How long start-up waits for another timerd to answer on the socket path. */
#define SRV_ALIVE_TIMEOUT_MS 1000

/* Creates and starts the engine. */
static int srv_engine(struct srv *s, char *err, size_t errlen)
{
	const struct srv_config *c = s->cfg;
	struct engine_config ec = {
		.workers = c->engine_workers,
		.precision_ns = c->precision_ns,
		.max_timers = c->max_timers,
		.max_key = c->max_key,
		.max_topic = c->max_topic,
		.max_payload = c->max_frame,	/* the bound a reload may raise max-payload to (rpc checks max-payload) */
		.max_memory = c->max_memory,
		.extra_mem = &s->fire_mem,
		.accounts = true,	/* per-identity max-timers/max-memory (quota.c) */
		.on_fire = fire_deliver,
		.fire_arg = s,
	};
	int rc = engine_create(&ec, &s->engine);

	if (rc < 0)
		return td_errf(err, errlen, "cannot start the timer engine: %s", td_strerror(rc));
	s->start_ns = engine_now(s->engine);	/* the one clock of the process: the engine's */
	if (group_srv_init(s, err, errlen) < 0)	/* journal_open restores the groups into it */
		return -1;
	if (journal_open(s, err, errlen) < 0)	/* restores the saved timers first */
		return -1;
	if (journal_late(s) && s->cfg->recovery_grace_ns > 0) {
		s->engine_deferred = true;	/* srv_main_loop starts it after the grace */
		log_notice("%llu restored timers came due while timerd was down: they fire in %.3fs, once clients "
			   "could reconnect (recovery-grace)", (unsigned long long)journal_late(s),
			   (double)s->cfg->recovery_grace_ns / ENGINE_NS_PER_S);
	} else if ((rc = engine_start(s->engine)) < 0) {
		return td_errf(err, errlen, "cannot start the timer engine: %s", td_strerror(rc));
	}
	if (journal_start(s, err, errlen) < 0)
		return -1;
	/* groups with a webhook_url: the webhook thread hears of each, the restored ones at once */
	if (s->groups && !(s->webhooks = srv_webhook_start(&s->groups->gs, err, errlen)))
		return -1;
	group_srv_set_changed(s, srv_webhook_changed, s->webhooks);
	return group_srv_start(s, err, errlen);
}

/* A connection handle keeps its loop's index in the bits above SRV_HANDLE_LOOP_SHIFT. */
_Static_assert(SETTINGS_MAX_THREADS <= UINT64_C(1) << (64 - SRV_HANDLE_LOOP_SHIFT),
	       "every loop index fits a handle's loop field");
_Static_assert(SRV_HANDLE_LOOP_SHIFT >= SRV_HANDLE_GEN_SHIFT + 32, "the loop field is above the 32-bit generation");

/* Starts one loop thread per configured thread (default: one per core). */
static int srv_loops(struct srv *s, char *err, size_t errlen)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned n = s->cfg->threads ? s->cfg->threads : cores > 0 ? (unsigned)cores : 1;

	s->nloops = n > SETTINGS_MAX_THREADS ? SETTINGS_MAX_THREADS : n;
	reload_limits(s, &s->lim_sent);	/* what each loop_init copies from s->cfg too */
	if (!(s->loops = calloc(s->nloops, sizeof(*s->loops))))
		return td_errf(err, errlen, "out of memory");
	for (unsigned i = 0; i < s->nloops; i++)
		if (loop_start(s, &s->loops[i], i, err, errlen) < 0)
			return -1;
	log_info("%u event loop threads", s->nloops);
	return 0;
}

/* Creates directory dir (mode) and its missing parents (0755); 0 or -1 with errno. */
int srv_mkdirs(const char *dir, mode_t mode)
{
	char buf[PATH_MAX];

	snprintf(buf, sizeof(buf), "%s", dir);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)	/* go on: the last mkdir decides */
			log_debug("mkdir %s: %s", buf, strerror(errno));
		*p = '/';
	}
	return mkdir(buf, mode) < 0 && errno != EEXIST ? -1 : 0;
}

/* True if dir is this user's fallback socket directory /tmp/timerd-UID (tmux's rules apply to it). */
static bool srv_dir_is_fallback(const char *dir)
{
	char fb[64];

	snprintf(fb, sizeof(fb), "/tmp/timerd-%u", (unsigned)geteuid());
	return strcmp(dir, fb) == 0;
}

/*
 * Opens directory dir (created with mode if missing) and checks that no
 * other user can replace what timerd puts in it: owned by us (or root),
 * and not writable by group or others unless sticky. With strict (the
 * /tmp fallback, and the state directory) it must be ours and 0700, as tmux
 * and ssh-agent require: a group/other bit on our own directory is removed
 * (fchmod on the fd), another owner is refused. The fd, or -1 with err.
 */
int srv_dir_open(const char *dir, mode_t mode, bool strict, const char *what, char *err, size_t errlen)
{
	/* the socket's fallback directory is the starting user's; others (the state dir) --user's (priv.c) */
	uid_t owner = srv_dir_is_fallback(dir) ? geteuid() : priv_owner();
	struct stat st;
	int fd;

	if (srv_mkdirs(dir, mode) < 0)
		return td_errf(err, errlen, "cannot create %s for %s: %s", dir, what, strerror(errno));
	if (strict && lstat(dir, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid != owner && st.st_uid != geteuid())
		return td_errf(err, errlen, "%s (for %s) belongs to uid %u, not to us (uid %u): another user may have "
			       "created it to take over timerd's files; remove it, or choose another path", dir, what,
			       (unsigned)st.st_uid, (unsigned)owner);	/* say so even if we cannot open it */
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | (strict ? O_NOFOLLOW : 0))) < 0)
		return td_errf(err, errlen, "cannot open %s for %s: %s%s", dir, what, strerror(errno),
			       errno == ELOOP || errno == ENOTDIR ? " (it is a symbolic link or not a directory: "
			       "remove it, or choose another path)" : "");
	if (fstat(fd, &st) < 0) {
		td_errf(err, errlen, "cannot stat %s: %s", dir, strerror(errno));
		goto fail;
	}
	if (strict && st.st_uid != owner && st.st_uid == geteuid()) {
		/* root made it (now, or in a run without --user): give it to --user, who writes in it after the drop */
		if (fchown(fd, owner, priv_owner_gid()) < 0) {
			td_errf(err, errlen, "cannot give %s to uid %u (--user): %s", dir, (unsigned)owner, strerror(errno));
			goto fail;
		}
		log_notice("%s belonged to uid %u: gave it to uid %u (--user)", dir, (unsigned)st.st_uid, (unsigned)owner);
		st.st_uid = owner;
	}
	if (st.st_uid != owner && (strict || st.st_uid != 0)) {
		td_errf(err, errlen, "%s (for %s) belongs to uid %u, not to us (uid %u): another user may have "
			"created it to take over timerd's files; remove it, or choose another path", dir, what,
			(unsigned)st.st_uid, (unsigned)owner);
		goto fail;
	}
	if (strict && (st.st_mode & 077)) {
		if (fchmod(fd, 0700) < 0) {
			td_errf(err, errlen, "%s has mode %04o and cannot be made 0700: %s", dir,
				(unsigned)(st.st_mode & 07777), strerror(errno));
			goto fail;
		}
		log_notice("%s had mode %04o: made it 0700 (only its owner may use it)", dir, (unsigned)(st.st_mode & 07777));
	} else if (!strict && (st.st_mode & 022) && !(st.st_mode & S_ISVTX)) {
		td_errf(err, errlen, "%s (for %s) is writable by %s: anyone there could replace timerd's files; "
			"chmod go-w %s, or choose another directory", dir, what, st.st_mode & 002 ? "everyone" : "its group",
			dir);
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

/* The directory of a socket path ("." for a bare name) into buf. */
static void srv_dirname(const char *path, char *buf, size_t len)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		snprintf(buf, len, ".");
	else if (slash == path)
		snprintf(buf, len, "/");
	else
		snprintf(buf, len, "%.*s", (int)(slash - path), path);
}

/* The socket's directory if this timerd created it (a --user drop gives it to that user), else "". */
static char srv_sock_dir_made[PATH_MAX];
static dev_t srv_sock_dir_dev;	/* and its device and inode, as made */
static ino_t srv_sock_dir_ino;

int srv_socket_dir(const struct srv_config *c, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	struct stat st;
	bool made = false;
	int fd;

	if (!*c->socket)
		return td_errf(err, errlen, "no socket path");
	srv_dirname(c->socket, dir, sizeof(dir));
	if (!srv_dir_is_fallback(dir) && lstat(dir, &st) < 0 && errno == ENOENT)
		made = true;
	fd = srv_dir_open(dir, srv_dir_is_fallback(dir) ? 0700 : 0755, srv_dir_is_fallback(dir), "the socket", err,
			  errlen);
	if (fd >= 0 && made && fstat(fd, &st) == 0) {	/* the very directory made: srv_socket_dir_give checks it */
		snprintf(srv_sock_dir_made, sizeof(srv_sock_dir_made), "%s", dir);
		srv_sock_dir_dev = st.st_dev;
		srv_sock_dir_ino = st.st_ino;
	}
	return fd;
}

int srv_state_file(const char *path, char *err, size_t errlen)
{
	static const char *const sfx[] = { "", "-wal", "-shm", "-journal" };
	char p[PATH_MAX];
	struct stat st;

	for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		int fd;

		snprintf(p, sizeof(p), "%s%s", path, sfx[i]);
		/* the database itself is created here, 0600; SQLite gives its -wal and -shm the same mode */
		fd = open(p, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | (i == 0 ? O_CREAT : 0), 0600);
		if (fd < 0 && errno == ENOENT && i > 0)
			continue;
		if (fd < 0)
			return td_errf(err, errlen, "cannot open %s: %s%s", p, strerror(errno),
				       errno == ELOOP ? " (a symbolic link: timerd never follows one there; remove it)" : "");
		if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 1 && st.st_uid == geteuid() &&
		    st.st_uid != priv_owner()) {
			/* made by root (now, or in a run without --user): --user writes it after the drop */
			if (fchown(fd, priv_owner(), priv_owner_gid()) == 0)
				st.st_uid = priv_owner();
			else
				log_warn("cannot give %s to uid %u (--user): %s", p, (unsigned)priv_owner(), strerror(errno));
		}
		if (!S_ISREG(st.st_mode) || st.st_nlink > 1 || st.st_uid != priv_owner()) {
			close(fd);
			return td_errf(err, errlen, "%s is not a regular file of ours with one link: remove it", p);
		}
		if ((st.st_mode & 077) && fchmod(fd, 0600) < 0)
			log_warn("cannot make %s 0600: %s", p, strerror(errno));
		close(fd);
	}
	return 0;
}

void srv_socket_dir_give(uid_t uid, gid_t gid)
{
	struct stat st;
	int fd;

	if (!srv_sock_dir_made[0])
		return;
	/* by an fd opened without following a symlink, and only if it is still the directory made */
	fd = open(srv_sock_dir_made, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		log_warn("cannot give %s to uid %u: %s%s", srv_sock_dir_made, (unsigned)uid, strerror(errno),
			 errno == ELOOP || errno == ENOTDIR ? " (a symbolic link or a file is in place of the directory "
			 "timerd made: remove it)" : "");
	} else if (st.st_dev != srv_sock_dir_dev || st.st_ino != srv_sock_dir_ino) {
		log_warn("cannot give %s to uid %u: it is no longer the directory timerd made (replaced meanwhile)",
			 srv_sock_dir_made, (unsigned)uid);
	} else if (fchown(fd, uid, gid) < 0) {
		log_warn("cannot give %s to uid %u: %s", srv_sock_dir_made, (unsigned)uid, strerror(errno));
	}
	if (fd >= 0)
		close(fd);
}

/* The socket's directory, opened and checked; the fd or -1 with err. Base name into *name. */
static int srv_socket_dirfd(const struct srv_config *c, const char **name, char *err, size_t errlen)
{
	const char *slash = strrchr(c->socket, '/');

	*name = slash ? slash + 1 : c->socket;
	return srv_socket_dir(c, err, errlen);
}

/* True if something answers on the Unix socket at path. */
static bool srv_socket_alive(const char *path)
{
	struct addr a = { .kind = ADDR_UNIX };
	char err[256];
	int fd;

	snprintf(a.path, sizeof(a.path), "%s", path);
	if ((fd = addr_connect(&a, SRV_ALIVE_TIMEOUT_MS, err, sizeof(err))) < 0)
		return false;
	close(fd);
	return true;
}

/*
 * Takes PATH.lock (flock, our pid written in it) so two timerd never fight
 * over one socket path; 0 or -1 with err naming the holder's pid. The lock
 * is retried if the file was replaced between open and flock (a stopping
 * daemon unlinks it).
 */
static int srv_socket_lock(struct srv *s, int dfd, const char *name, char *err, size_t errlen)
{
	char lname[NAME_MAX + 1], buf[32] = "";
	struct stat st, st2;
	int fd, n;

	if (snprintf(lname, sizeof(lname), "%s.lock", name) >= (int)sizeof(lname))
		return td_errf(err, errlen, "socket name %s is too long for its lock file", name);
	for (int tries = 0; tries < 10; tries++) {
		if ((fd = openat(dfd, lname, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600)) < 0)
			return td_errf(err, errlen, "cannot open the lock file %s.lock: %s", s->cfg->socket, strerror(errno));
		if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
			close(fd);
			return td_errf(err, errlen, "%s.lock is not a regular file of ours: remove it", s->cfg->socket);
		}
		if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			n = (int)pread(fd, buf, sizeof(buf) - 1, 0);
			buf[n > 0 ? n : 0] = '\0';
			buf[strcspn(buf, "\n")] = '\0';
			close(fd);
			return td_errf(err, errlen, "another timerd (pid %s) is already listening on %s (it holds %s.lock): "
				       "stop it first, or pass --socket PATH", *buf ? buf : "?", s->cfg->socket, s->cfg->socket);
		}
		if (fstatat(dfd, lname, &st2, AT_SYMLINK_NOFOLLOW) == 0 && st2.st_ino == st.st_ino && st2.st_dev == st.st_dev)
			break;
		close(fd);	/* unlinked by a stopping daemon after our open: lock the new file */
		fd = -1;
	}
	if (fd < 0)
		return td_errf(err, errlen, "cannot lock %s.lock: it keeps being replaced", s->cfg->socket);
	n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n)
		log_warn("cannot write our pid into %s.lock: %s", s->cfg->socket, strerror(errno));
	s->sock_lock_fd = fd;
	return 0;
}

/* Removes a stale socket left by a dead timerd: only a socket, never another kind of file; 0 or -1 with err. */
static int srv_socket_unstale(struct srv *s, int dfd, const char *name, char *err, size_t errlen)
{
	const char *path = s->cfg->socket;
	struct stat st;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : td_errf(err, errlen, "cannot stat %s: %s", path, strerror(errno));
	if (!S_ISSOCK(st.st_mode))
		return td_errf(err, errlen, "%s exists and is not a socket: timerd removes only a stale socket there; "
			       "move the file away, or pass --socket PATH", path);
	if (srv_socket_alive(path))
		return td_errf(err, errlen, "another timerd is already listening on %s (timerctl --socket %s ping): "
				"stop it first, or pass --socket PATH", path, path);
	if (unlinkat(dfd, name, 0) < 0)
		return td_errf(err, errlen, "cannot remove the stale socket %s: %s", path, strerror(errno));
	return 0;
}

/* Gives the socket (name in dfd) its mode and group without following a symlink; 0 or -1 with err. */
static int srv_socket_perms(struct srv *s, int dfd, const char *name, char *err, size_t errlen)
{
	const struct srv_config *c = s->cfg;
	const char *path = c->socket;
	struct group gr, *g = NULL;
	char buf[4096];

	if (c->socket_group) {
		if (getgrnam_r(c->socket_group, &gr, buf, sizeof(buf), &g) != 0 || !g)
			return td_errf(err, errlen, "socket-group: no group named '%s'", c->socket_group);
		if (fchownat(dfd, name, (uid_t)-1, g->gr_gid, AT_SYMLINK_NOFOLLOW) < 0)
			return td_errf(err, errlen, "cannot give %s to group %s: %s", path, c->socket_group, strerror(errno));
		s->socket_gid = g->gr_gid;
	}
	/* glibc does AT_SYMLINK_NOFOLLOW through an O_PATH fd: never a symlink's target */
	if (fchmodat(dfd, name, c->socket_mode, AT_SYMLINK_NOFOLLOW) < 0)
		return td_errf(err, errlen, "cannot chmod %s: %s", path, strerror(errno));
	return 0;
}

/* Binds a Unix socket that nobody but us can connect to until srv_socket_perms opens it. */
static int srv_bind_private(int fd, const struct sockaddr_un *sun)
{
	mode_t old = umask(0177);	/* process-wide: no other thread creates files during start-up */
	int rc = bind(fd, (const struct sockaddr *)sun, sizeof(*sun));

	umask(old);
	return rc;
}

static void srv_accept_unix(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len, void *arg);
static void srv_accept_tcp(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len, void *arg);
static void srv_accept_error(struct evconnlistener *l, void *arg);

/* Accepts connections on the listening Unix socket fd (closed on failure); 0 or -1 with err. */
static int srv_watch_unix(struct srv *s, int fd, const char *path, char *err, size_t errlen)
{
	s->unix_l = evconnlistener_new(s->base, srv_accept_unix, s, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
	if (!s->unix_l) {
		close(fd);
		return td_errf(err, errlen, "cannot watch %s for connections", path);
	}
	evconnlistener_set_error_cb(s->unix_l, srv_accept_error);
	return 0;
}

/* Checks the directory, locks the path, removes a stale socket, binds; the listening fd or -1 with err. */
static int srv_bind_unix(struct srv *s, char *err, size_t errlen)
{
	const char *path = s->cfg->socket, *name;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int dfd, fd = -1;

	if (strlen(path) >= sizeof(sun.sun_path))
		return td_errf(err, errlen, "socket path %s is too long (at most %zu bytes)", path, sizeof(sun.sun_path) - 1);
	if ((dfd = srv_socket_dirfd(s->cfg, &name, err, errlen)) < 0)
		return -1;
	if (srv_socket_lock(s, dfd, name, err, errlen) < 0 || srv_socket_unstale(s, dfd, name, err, errlen) < 0)
		goto out;
	strcpy(sun.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0 ||
	    srv_bind_private(fd, &sun) < 0 || listen(fd, SOMAXCONN) < 0) {
		td_errf(err, errlen, "cannot listen on %s: %s", path, strerror(errno));
		goto fail;
	}
	if (!(s->socket_path = strdup(path))) {
		td_errf(err, errlen, "out of memory");
		goto fail;
	}
	if (srv_socket_perms(s, dfd, name, err, errlen) < 0)
		goto fail;
	goto out;
fail:
	if (fd >= 0)
		close(fd);
	fd = -1;
out:
	close(dfd);
	return fd;
}

/* Binds the Unix socket, or takes the one systemd passed; 0 or -1 with err. */
static int srv_listen_unix(struct srv *s, char *err, size_t errlen)
{
	int fd;

	if (!*s->cfg->socket)
		return 0;
	if ((fd = s->notify.unix_fd) >= 0) {	/* socket-activated: systemd owns the file and its mode */
		s->notify.unix_fd = -1;
		return srv_watch_unix(s, fd, s->cfg->socket, err, errlen);
	}
	if ((fd = srv_bind_unix(s, err, errlen)) < 0)
		return -1;
	return srv_watch_unix(s, fd, s->cfg->socket, err, errlen);
}

/* Binds a TCP socket to one resolved address; the fd or -1 with errno set. */
static int srv_bind_tcp(const struct addrinfo *ai)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol), one = 1, e;

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, SOMAXCONN) == 0)
		return fd;
	e = errno;
	close(fd);
	errno = e;
	return -1;
}

/* Binds the TCP listener, or takes the one systemd passed; 0 or -1 with err. */
static int srv_listen_tcp(struct srv *s, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE }, *res;
	struct addr a;
	int fd, rc;

	if (!s->cfg->listen)
		return 0;
	if ((fd = s->notify.tcp_fd) >= 0) {	/* socket-activated */
		s->notify.tcp_fd = -1;
	} else {
		if (addr_parse(s->cfg->listen, &a, err, errlen) < 0)
			return -1;
		if ((rc = getaddrinfo(a.host, a.port, &hints, &res)) != 0)
			return td_errf(err, errlen, "listen %s: %s", s->cfg->listen, gai_strerror(rc));
		fd = srv_bind_tcp(res);
		freeaddrinfo(res);
	}
	if (fd < 0)
		return td_errf(err, errlen, "cannot listen on %s: %s%s", s->cfg->listen, strerror(errno),
				errno == EADDRINUSE ? " (another program has the port: pick another)" : "");
	s->tcp_l = evconnlistener_new(s->base, srv_accept_tcp, s, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
	if (!s->tcp_l) {
		close(fd);
		return td_errf(err, errlen, "cannot watch %s for connections", s->cfg->listen);
	}
	evconnlistener_set_error_cb(s->tcp_l, srv_accept_error);
	return 0;
}

/* Answers a refused connection with an Error event (code, msg) and closes it. */
static void srv_refuse(struct srv *s, int fd, Timerd__ErrorCode code, const char *msg)
{
	Timerd__Response rs = TIMERD__RESPONSE__INIT;
	Timerd__Error e = TIMERD__ERROR__INIT;
	uint8_t buf[1024];
	size_t n;

	e.code = code;
	e.message = (char *)msg;
	rs.event = true;
	rs.body_case = TIMERD__RESPONSE__BODY_ERROR;
	rs.error = &e;
	n = timerd__response__pack(&rs, buf + FRAME_HDR);
	frame_put_len(buf, (uint32_t)n);
	if (send(fd, buf, FRAME_HDR + n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		log_debug("refused connection: %s", strerror(errno));
	close(fd);
	atomic_fetch_add_explicit(&s->conns_rejected, 1, memory_order_relaxed);
	log_warn_rl("connection refused: %s", msg);
}

/* Answers a connection over max-connections (or past the reserved slots) with an Error event and closes it. */
static void srv_reject(struct srv *s, int fd, bool reserved)
{
	char msg[256];

	if (reserved)
		snprintf(msg, sizeof(msg), "timerd has %u connections open; the last %u of max-connections (%u) are "
			 "reserved-connections for root on the Unix socket: close some or raise max-connections",
			 s->cfg->max_connections - s->cfg->reserved_conns, s->cfg->reserved_conns, s->cfg->max_connections);
	else
		snprintf(msg, sizeof(msg), "timerd has max-connections (%u) connections open: close some or raise "
			 "max-connections", s->cfg->max_connections);
	srv_refuse(s, fd, TIMERD__ERROR_CODE__TOO_MANY_CONNECTIONS, msg);
}

/* A loop's connections, counting those posted to it and not yet opened (relaxed: a load hint). */
static uint32_t srv_loop_load(struct loop *l)
{
	return atomic_load_explicit(&l->nconns, memory_order_relaxed) +
	       atomic_load_explicit(&l->nhandoff, memory_order_relaxed);
}

/*
 * The loop thread with the fewest connections. Those still on their way
 * count (nhandoff): a burst of connects, accepted before the loop opened
 * the first, went all to loop 0 (bench-deliver's producer and consumers).
 */
static struct loop *srv_pick_loop(struct srv *s)
{
	struct loop *best = &s->loops[0];

	for (unsigned i = 1; i < s->nloops; i++)
		if (srv_loop_load(&s->loops[i]) < srv_loop_load(best))
			best = &s->loops[i];
	return best;
}

/* True if m's peer is an admin of the Unix socket (root, or timerd's own user): reserved slots are theirs. */
static bool srv_admin_peer(const struct loop_msg *m)
{
	return m->is_unix && m->who.cred && (m->who.uid == 0 || m->who.uid == geteuid());
}

bool srv_peer_take(struct srv *s, const char *key)
{
	uintptr_t n;
	bool ok;

	if (!key[0])
		return true;
	pthread_mutex_lock(&s->peer_lock);
	n = (uintptr_t)hmap_get(&s->peer_counts, key, strlen(key));
	ok = n < s->cfg->max_conns_per_addr && hmap_put(&s->peer_counts, key, strlen(key), (void *)(n + 1)) == 0;
	pthread_mutex_unlock(&s->peer_lock);
	return ok;
}

void srv_peer_release(struct srv *s, const char *key)
{
	uintptr_t n;

	if (!key[0])
		return;
	pthread_mutex_lock(&s->peer_lock);
	n = (uintptr_t)hmap_get(&s->peer_counts, key, strlen(key));
	if (n <= 1)
		hmap_del(&s->peer_counts, key, strlen(key));
	else
		(void)hmap_put(&s->peer_counts, key, strlen(key), (void *)(n - 1));	/* a replace; a failed grow only keeps it one high */
	pthread_mutex_unlock(&s->peer_lock);
}

/* Hands an accepted fd (described by m) to a loop thread, or refuses it. */
static void srv_accept(struct srv *s, struct loop_msg *m)
{
	uint32_t max = s->cfg->max_connections, open_ = max;
	struct loop *l;
	char msg[256];

	if (!srv_admin_peer(m))
		open_ = s->cfg->reserved_conns < max ? max - s->cfg->reserved_conns : 0;
	/* relaxed: the limit is enforced approximately under concurrent closes, never exceeded by more than one */
	if (atomic_load_explicit(&s->conns, memory_order_relaxed) >= open_) {
		srv_reject(s, m->fd, open_ < max);
		free(m);
		return;
	}
	if (!srv_peer_take(s, m->addr_key)) {
		snprintf(msg, sizeof(msg), "%s has max-connections-per-address (%u) connections open: close some, or "
			 "raise max-connections-per-address", m->addr_key, s->cfg->max_conns_per_addr);
		srv_refuse(s, m->fd, TIMERD__ERROR_CODE__TOO_MANY_CONNECTIONS, msg);
		free(m);
		return;
	}
	if (!m->is_unix && s->tls_ctx && !(m->ssl = tls_conn_new(s))) {
		log_warn_rl("out of memory for TLS: dropping the connection from %s", m->peer);
		srv_peer_release(s, m->addr_key);
		close(m->fd);
		free(m);
		return;
	}
	atomic_fetch_add_explicit(&s->conns, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->conns_accepted, 1, memory_order_relaxed);
	m->type = LOOP_MSG_CONN;
	l = srv_pick_loop(s);
	/* relaxed: a load hint; the loop subtracts it once it handled the message (loop_run_msgs) */
	atomic_fetch_add_explicit(&l->nhandoff, 1, memory_order_relaxed);
	loop_post(l, m);
}

/* Accept callback of the Unix listener: reads the peer's credentials. */
static void srv_accept_unix(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len, void *arg)
{
	struct loop_msg *m = calloc(1, sizeof(*m));
	struct ucred uc;
	socklen_t ul = sizeof(uc);

	(void)l;
	(void)sa;
	(void)len;
	if (!m) {
		close(fd);
		return;
	}
	m->fd = fd;
	m->is_unix = true;
	m->who.kind = SRV_PEER_UNIX;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &ul) == 0) {
		m->peer_cred = m->who.cred = true;
		m->uid = m->who.uid = uc.uid;
		m->pid = m->who.pid = uc.pid;
		m->who.gid = uc.gid;
		snprintf(m->peer, sizeof(m->peer), "pid %d uid %u", (int)uc.pid, (unsigned)uc.uid);
	} else {
		snprintf(m->peer, sizeof(m->peer), "unix peer");
	}
	srv_accept(arg, m);
}

/* Accept callback of the TCP listener. */
static void srv_accept_tcp(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len, void *arg)
{
	struct loop_msg *m = calloc(1, sizeof(*m));
	char host[INET6_ADDRSTRLEN] = "?", port[8] = "?", msg[512];
	int one = 1;

	(void)l;
	if (!m) {
		close(fd);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));	/* a vanished host's connections end */
	getnameinfo(sa, (socklen_t)len, host, sizeof(host), port, sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV);
	m->fd = fd;
	peer_tcp(&m->who, fd);
	if (m->who.cred)
		snprintf(m->peer, sizeof(m->peer), "%s%s%s:%s uid %u", strchr(host, ':') ? "[" : "", host,
			 strchr(host, ':') ? "]" : "", port, (unsigned)m->who.uid);
	else
		snprintf(m->peer, sizeof(m->peer), "%s%s%s:%s", strchr(host, ':') ? "[" : "", host,
			 strchr(host, ':') ? "]" : "", port);
	peer_addr_key(&m->who, host, m->addr_key, sizeof(m->addr_key));
	if (!peer_admit(arg, &m->who, msg, sizeof(msg))) {
		srv_refuse(arg, fd, TIMERD__ERROR_CODE__PERMISSION, msg);
		free(m);
		return;
	}
	srv_accept(arg, m);
}

/* Re-enables accepting after a backoff. */
static void srv_accept_resume(evutil_socket_t fd, short what, void *arg)
{
	struct srv *s = arg;

	(void)fd;
	(void)what;
	if (s->unix_l)
		evconnlistener_enable(s->unix_l);
	if (s->tcp_l)
		evconnlistener_enable(s->tcp_l);
}

/* accept(2) failed: out of file descriptors or memory; back off briefly. */
static void srv_accept_error(struct evconnlistener *l, void *arg)
{
	struct srv *s = arg;
	struct timeval tv = { 0, SRV_ACCEPT_BACKOFF_MS * 1000 };
	int e = EVUTIL_SOCKET_ERROR();

	(void)l;
	log_warn_rl("accept: %s%s; pausing new connections for %dms", evutil_socket_error_to_string(e),
		    e == EMFILE || e == ENFILE ? " (raise the open files limit, or lower max-connections)" : "",
		    SRV_ACCEPT_BACKOFF_MS);
	if (s->unix_l)
		evconnlistener_disable(s->unix_l);
	if (s->tcp_l)
		evconnlistener_disable(s->tcp_l);
	evtimer_add(s->accept_retry, &tv);
}

/* SIGTERM / SIGINT: stop the main loop; srv_run then shuts down. */
static void srv_on_stop(evutil_socket_t sig, short what, void *arg)
{
	struct srv *s = arg;

	(void)what;
	log_notice("%s: shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	event_base_loopexit(s->base, NULL);
}

/* SIGHUP: reopen the log file, re-read the config file (reload.c) and the tz database for calendar timers. */
static void srv_on_hup(evutil_socket_t sig, short what, void *arg)
{
	struct srv *s = arg;

	(void)sig;
	(void)what;
	log_reopen();
	reload_config(s);
	srv_cal_reload(s);
}

/* The recovery grace is over: the dispatcher starts firing (late restored timers first). */
static void srv_engine_go(evutil_socket_t fd, short what, void *arg)
{
	struct srv *s = arg;
	sigset_t block, old;
	int rc;

	(void)fd;
	(void)what;
	sigfillset(&block);
	pthread_sigmask(SIG_BLOCK, &block, &old);	/* the engine's threads take no signals */
	rc = engine_start(s->engine);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc < 0) {
		log_err("cannot start the timer engine: %s; stopping", td_strerror(rc));
		event_base_loopexit(s->base, NULL);
		return;
	}
	s->engine_deferred = false;
	log_info("recovery grace over: firing");
}

/* Arms the start of a deferred engine once the listeners are open; 0 or -1. */
static int srv_engine_defer(struct srv *s)
{
	struct timeval tv = { (time_t)(s->cfg->recovery_grace_ns / ENGINE_NS_PER_S),
			      (suseconds_t)(s->cfg->recovery_grace_ns % ENGINE_NS_PER_S / 1000) };

	if (!s->engine_deferred)
		return 0;
	if (!(s->engine_go = evtimer_new(s->base, srv_engine_go, s)))
		return -1;
	return evtimer_add(s->engine_go, &tv);
}

/* Creates the main event base, signal events and listeners. */
static int srv_main_loop(struct srv *s, char *err, size_t errlen)
{
	if (!(s->base = event_base_new()) ||
	    !(s->sig_term = evsignal_new(s->base, SIGTERM, srv_on_stop, s)) ||
	    !(s->sig_int = evsignal_new(s->base, SIGINT, srv_on_stop, s)) ||
	    !(s->sig_hup = evsignal_new(s->base, SIGHUP, srv_on_hup, s)) ||
	    !(s->accept_retry = evtimer_new(s->base, srv_accept_resume, s)) ||
	    evsignal_add(s->sig_term, NULL) < 0 || evsignal_add(s->sig_int, NULL) < 0 ||
	    evsignal_add(s->sig_hup, NULL) < 0)
		return td_errf(err, errlen, "cannot set up the main event loop");
	if (notify_listen_fds(s, err, errlen) < 0 || srv_listen_unix(s, err, errlen) < 0 ||
	    srv_listen_tcp(s, err, errlen) < 0)
		return -1;
	if (srv_engine_defer(s) < 0)
		return td_errf(err, errlen, "cannot set up the recovery grace timer");
	return 0;
}

/* Spare descriptors kept beyond what start-up opened: sqlite's checkpointer, a stats.db reopen, refusing one client. */
#define SRV_FD_SLACK 16

/*
 * Descriptors open now (/proc/self/fd), or -1. It runs while the loops
 * already serve (start-up), so other threads open and close descriptors
 * meanwhile: it only reads the directory and closes its own descriptor,
 * and the count is a snapshot. The descriptor comes from open(), not
 * opendir(): glibc's opendir opens it internally, unseen by ThreadSanitizer,
 * which then took closedir's close for a race with whatever another thread
 * last did with that number before the kernel reused it (a false report;
 * the kernel orders a close before the reuse of its number). With open()
 * TSan sees the descriptor created here, as it is.
 */
static long srv_fds_open(void)
{
	int fd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	long n = -1;	/* the DIR's own fd */

	if (!d) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	while (readdir(d))
		n++;
	closedir(d);
	return n - 2;	/* . and .. */
}

/* Raises the soft RLIMIT_NOFILE towards the hard one, enough for max-connections and some (start-up). */
static void srv_raise_nofile(const struct srv_config *c)
{
	rlim_t want = (rlim_t)c->max_connections + 1024;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		log_debug("setrlimit NOFILE %llu: %s", (unsigned long long)rl.rlim_cur, strerror(errno));
}

/*
 * Fits max-connections to RLIMIT_NOFILE once everything is open, as Redis
 * does (srv_raise_nofile raised the soft limit first): if the limit leaves
 * fewer descriptors than max-connections, max-connections is lowered and
 * the change logged, so a client over the limit gets TOO_MANY_CONNECTIONS
 * instead of hanging in the backlog; 0 or -1 with err.
 */
static int srv_fit_nofile(struct srv_config *c, char *err, size_t errlen)
{
	long used = srv_fds_open();
	struct rlimit rl;
	rlim_t room;

	if (used < 0 || getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
		return 0;
	if (rl.rlim_cur < (rlim_t)used + SRV_FD_SLACK + 2)
		return td_errf(err, errlen, "the open files limit (%llu) is too small: timerd uses %ld descriptors before "
			       "any connection; raise it (ulimit -n, LimitNOFILE=)", (unsigned long long)rl.rlim_cur, used);
	room = rl.rlim_cur - (rlim_t)used - SRV_FD_SLACK;
	if (room >= c->max_connections)
		return 0;
	log_warn("the open files limit is %llu (hard limit %llu) and %ld are in use: max-connections lowered from %u "
		 "to %llu; raise the limit (ulimit -n, LimitNOFILE=) for more", (unsigned long long)rl.rlim_cur,
		 (unsigned long long)rl.rlim_max, used, c->max_connections, (unsigned long long)room);
	c->max_connections = (uint32_t)room;
	if (c->reserved_conns >= c->max_connections)
		c->reserved_conns = c->max_connections / 2;
	return 0;
}

/* Starts everything in dependency order; threads start with signals blocked. */
static int srv_start(struct srv *s, char *err, size_t errlen)
{
	if (watch_reg_init(&s->watch) < 0)
		return td_errf(err, errlen, "out of memory");
	srv_raise_nofile(s->cfg);
	if (tls_start(s, err, errlen) < 0 || auth_load(s, err, errlen) < 0 || auth_start(s, err, errlen) < 0 ||
	    srv_engine(s, err, errlen) < 0 || srv_probes_start(s, err, errlen) < 0 || http_listen(s, err, errlen) < 0 ||
	    srv_loops(s, err, errlen) < 0 ||
	    srv_main_loop(s, err, errlen) < 0 || stats_start(s, err, errlen) < 0 || srv_fit_nofile(s->cfg, err, errlen) < 0 ||
	    priv_drop(s, err, errlen) < 0)	/* last: everything that needs root is open */
		return -1;
	return 0;
}

/* Creates the engine, loop threads and listeners. */
int srv_create(struct srv_config *cfg, struct srv **out, char *err, size_t errlen)
{
	struct srv *s = calloc(1, sizeof(*s));
	sigset_t block, old;
	int rc;

	*out = NULL;
	if (!s)
		return td_errf(err, errlen, "out of memory");
	if (priv_init(cfg, err, errlen) < 0) {	/* before any state file is made: they are made for --user */
		free(s);
		return -1;
	}
	s->cfg = cfg;
	s->http_fd = -1;
	s->notify.unix_fd = s->notify.tcp_fd = -1;
	s->test_stall_topic = getenv("TIMERD_TEST_STALL_TOPIC");
	s->sock_lock_fd = -1;
	s->socket_gid = getegid();
	pthread_mutex_init(&s->peer_lock, NULL);
	hmap_init(&s->peer_counts);
	quota_init(s);
	if (topic_metrics_init(&s->topic_metrics, cfg->metrics_topics, cfg->max_topic, err, errlen) < 0) {
		free(s);
		return -1;
	}
	if (cfg->stats)
		snprintf(s->stats_path, sizeof(s->stats_path), "%s/stats.db", cfg->state_dir);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &block, &old);	/* threads started now inherit the mask */
	rc = srv_start(s, err, errlen);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	*out = s;
	return rc;
}

/* Stops accepting: closes the listeners and removes the socket. */
static void srv_stop_listening(struct srv *s)
{
	if (s->unix_l)
		evconnlistener_free(s->unix_l);
	if (s->tcp_l)
		evconnlistener_free(s->tcp_l);
	s->unix_l = s->tcp_l = NULL;
	if (s->socket_path && unlink(s->socket_path) < 0 && errno != ENOENT) {
		if (priv_dropping() && errno == EACCES)
			log_info("cannot remove %s now that timerd is not root (its directory is root's): the next start "
				 "removes it", s->socket_path);
		else
			log_warn("cannot remove %s: %s", s->socket_path, strerror(errno));
	}
	free(s->socket_path);
	s->socket_path = NULL;
	if (s->sock_lock_fd >= 0) {
		char lock[PATH_MAX];

		/* unlinked while still held: a daemon that opened it meanwhile sees the inode change and retries */
		snprintf(lock, sizeof(lock), "%s.lock", s->cfg->socket);
		unlink(lock);
		close(s->sock_lock_fd);
		s->sock_lock_fd = -1;
	}
}

/* Stops the loops (each flushes its connections) and joins them. */
static void srv_stop_loops(struct srv *s)
{
	for (unsigned i = 0; i < s->nloops; i++)
		if (s->loops[i].started)
			loop_post(&s->loops[i], &s->loops[i].stop_msg);
	for (unsigned i = 0; i < s->nloops; i++)
		loop_join(&s->loops[i]);
}

/* Runs until SIGTERM/SIGINT, then shuts down gracefully. */
int srv_run(struct srv *s)
{
	if (s->ready)
		s->ready(s->ready_arg);
	notify_start(s);	/* READY=1: timers.db is restored and the listeners are open */
	event_base_dispatch(s->base);
	notify_stopping(s);
	atomic_store_explicit(&s->stopping, true, memory_order_relaxed);
	srv_stop_listening(s);
	srv_stop_loops(s);
	stats_stop(s);
	return 0;
}

/* Frees everything. */
void srv_destroy(struct srv *s)
{
	struct engine_stats st;

	if (!s)
		return;
	notify_stop(s);
	srv_stop_listening(s);
	if (s->notify.unix_fd >= 0)
		close(s->notify.unix_fd);	/* adopted, but start-up failed before it was watched */
	if (s->notify.tcp_fd >= 0)
		close(s->notify.tcp_fd);
	if (s->loops)
		srv_stop_loops(s);
	stats_stop(s);
	srv_probes_stop(s);
	group_srv_set_changed(s, NULL, NULL);	/* no request runs now (the loops are stopped): nothing races it */
	srv_webhook_stop(s->webhooks);	/* its acks journal: before journal_stop; deliveries in flight are due again */
	s->webhooks = NULL;
	if (s->engine) {
		engine_stats(s->engine, &st);
		if (st.pending && !s->journal)
			log_notice("%llu pending timers dropped (timers live in memory only)", (unsigned long long)st.pending);
		else if (st.pending)
			log_notice("%llu pending timers are in %s for the next start", (unsigned long long)st.pending,
				   s->store_path);
		engine_stop(s->engine);	/* its delivery threads journal fires until they stop */
	}
	/*
	 * The group thread stops before the journal: it reads the journal
	 * (journal_fires_durable) until it is joined, and journal_stop frees it
	 * (TSan saw the race in crash-durable-10ms). Its last rows (failures it
	 * journaled into the fire batch) are committed by journal_stop; nothing
	 * is handed to a connection any more, so the loops may go.
	 */
	group_srv_quiesce(s);
	journal_stop(s);	/* while the engine's memory is there: the journal reads it to the end */
	engine_destroy(s->engine);
	auth_stop(s);	/* the loops are joined: what it posts is freed by loop_destroy */
	for (unsigned i = 0; s->loops && i < s->nloops; i++)
		loop_destroy(&s->loops[i]);
	group_srv_stop(s);
	ident_table_unref(s->users);
	topic_metrics_destroy(&s->topic_metrics);
	free(s->loops);
	tls_stop(s);
	if (s->sig_term)
		event_free(s->sig_term);
	if (s->sig_int)
		event_free(s->sig_int);
	if (s->sig_hup)
		event_free(s->sig_hup);
	if (s->accept_retry)
		event_free(s->accept_retry);
	if (s->engine_go)
		event_free(s->engine_go);
	if (s->base)
		event_base_free(s->base);
	http_close(s);
	watch_reg_destroy(&s->watch);
	hmap_destroy(&s->peer_counts, NULL);
	pthread_mutex_destroy(&s->peer_lock);
	quota_destroy(s);
	free(s);
}
