/*
 * srv.c -- the server's life: start the engine, the probe manager, the
 * loop threads, the listeners and the stats thread; accept connections and
 * hand them to the loop thread with the fewest; on SIGTERM/SIGINT stop
 * accepting, let every connection flush, write the last stats row, stop.
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "proto/addr.h"
#include "proto/frame.h"
#include "server/journal.h"
#include "server/log.h"
#include "server/srv.h"

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
		.max_payload = c->max_payload,
		.on_fire = fire_deliver,
		.fire_arg = s,
	};
	int rc = engine_create(&ec, &s->engine);

	if (rc < 0)
		return td_errf(err, errlen, "cannot start the timer engine: %s", td_strerror(rc));
	s->start_ns = engine_now(s->engine);	/* the one clock of the process: the engine's */
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
	return journal_start(s, err, errlen);
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

/* Creates the directories above the socket path if missing (bind says what failed). */
static void srv_mkdirs_above(const char *path)
{
	char buf[PATH_MAX];
	char *slash;

	snprintf(buf, sizeof(buf), "%s", path);
	if ((slash = strrchr(buf, '/')) == NULL || slash == buf)
		return;
	*slash = '\0';
	if (srv_mkdirs(buf, 0755) < 0)
		log_debug("mkdir %s: %s", buf, strerror(errno));
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

/* Gives the socket its mode and group; 0 or -1 with err. */
static int srv_socket_perms(const struct srv_config *c, const char *path, char *err, size_t errlen)
{
	struct group gr, *g = NULL;
	char buf[4096];

	if (chmod(path, c->socket_mode) < 0)
		return td_errf(err, errlen, "cannot chmod %s: %s", path, strerror(errno));
	if (!c->socket_group)
		return 0;
	if (getgrnam_r(c->socket_group, &gr, buf, sizeof(buf), &g) != 0 || !g)
		return td_errf(err, errlen, "socket-group: no group named '%s'", c->socket_group);
	if (chown(path, (uid_t)-1, g->gr_gid) < 0)
		return td_errf(err, errlen, "cannot give %s to group %s: %s", path, c->socket_group, strerror(errno));
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

/* Binds the Unix socket; 0 or -1 with err. */
static int srv_listen_unix(struct srv *s, char *err, size_t errlen)
{
	const char *path = s->cfg->socket;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if (!*path)
		return 0;
	if (strlen(path) >= sizeof(sun.sun_path))
		return td_errf(err, errlen, "socket path %s is too long (at most %zu bytes)", path, sizeof(sun.sun_path) - 1);
	srv_mkdirs_above(path);
	if (srv_socket_alive(path))
		return td_errf(err, errlen, "another timerd is already listening on %s (timerctl --socket %s ping): "
				"stop it first, or pass --socket PATH", path, path);
	if (unlink(path) < 0 && errno != ENOENT)
		return td_errf(err, errlen, "cannot remove the stale socket %s: %s", path, strerror(errno));
	strcpy(sun.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0 ||
	    srv_bind_private(fd, &sun) < 0 || listen(fd, SOMAXCONN) < 0) {
		td_errf(err, errlen, "cannot listen on %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (!(s->socket_path = strdup(path)) || srv_socket_perms(s->cfg, path, err, errlen) < 0) {
		close(fd);
		return -1;
	}
	s->unix_l = evconnlistener_new(s->base, srv_accept_unix, s, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
	if (!s->unix_l) {
		close(fd);
		return td_errf(err, errlen, "cannot watch %s for connections", path);
	}
	evconnlistener_set_error_cb(s->unix_l, srv_accept_error);
	return 0;
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

/* Binds the TCP listener; 0 or -1 with err. */
static int srv_listen_tcp(struct srv *s, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE }, *res;
	struct addr a;
	int fd, rc;

	if (!s->cfg->listen)
		return 0;
	if (addr_parse(s->cfg->listen, &a, err, errlen) < 0)
		return -1;
	if ((rc = getaddrinfo(a.host, a.port, &hints, &res)) != 0)
		return td_errf(err, errlen, "listen %s: %s", s->cfg->listen, gai_strerror(rc));
	fd = srv_bind_tcp(res);
	freeaddrinfo(res);
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

/* Answers a connection over max-connections with an Error event and closes it. */
static void srv_reject(struct srv *s, int fd)
{
	Timerd__Response rs = TIMERD__RESPONSE__INIT;
	Timerd__Error e = TIMERD__ERROR__INIT;
	uint8_t buf[512];
	char msg[256];
	size_t n;

	snprintf(msg, sizeof(msg), "timerd has max-connections (%u) connections open: close some or raise max-connections",
		 s->cfg->max_connections);
	e.code = TIMERD__ERROR_CODE__TOO_MANY_CONNECTIONS;
	e.message = msg;
	rs.event = true;
	rs.body_case = TIMERD__RESPONSE__BODY_ERROR;
	rs.error = &e;
	n = timerd__response__pack(&rs, buf + FRAME_HDR);
	frame_put_len(buf, (uint32_t)n);
	if (send(fd, buf, FRAME_HDR + n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		log_debug("rejected connection: %s", strerror(errno));
	close(fd);
	atomic_fetch_add_explicit(&s->conns_rejected, 1, memory_order_relaxed);
	log_warn_rl("connection refused: %s", msg);
}

/* The loop thread with the fewest connections. */
static struct loop *srv_pick_loop(struct srv *s)
{
	struct loop *best = &s->loops[0];

	for (unsigned i = 1; i < s->nloops; i++)
		if (atomic_load_explicit(&s->loops[i].nconns, memory_order_relaxed) <
		    atomic_load_explicit(&best->nconns, memory_order_relaxed))
			best = &s->loops[i];
	return best;
}

/* Hands an accepted fd (described by m) to a loop thread, or refuses it. */
static void srv_accept(struct srv *s, struct loop_msg *m)
{
	/* relaxed: the limit is enforced approximately under concurrent closes, never exceeded by more than one */
	if (atomic_load_explicit(&s->conns, memory_order_relaxed) >= s->cfg->max_connections) {
		srv_reject(s, m->fd);
		free(m);
		return;
	}
	atomic_fetch_add_explicit(&s->conns, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->conns_accepted, 1, memory_order_relaxed);
	m->type = LOOP_MSG_CONN;
	loop_post(srv_pick_loop(s), m);
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
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &ul) == 0) {
		m->peer_cred = true;
		m->uid = uc.uid;
		m->pid = uc.pid;
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
	char host[INET6_ADDRSTRLEN] = "?", port[8] = "?";
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
	snprintf(m->peer, sizeof(m->peer), "%s%s%s:%s", strchr(host, ':') ? "[" : "", host,
		 strchr(host, ':') ? "]" : "", port);
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

/* SIGHUP: reopen the log file; re-read the tz database for calendar timers. */
static void srv_on_hup(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	log_reopen();
	srv_cal_reload(arg);
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
	if (srv_listen_unix(s, err, errlen) < 0 || srv_listen_tcp(s, err, errlen) < 0)
		return -1;
	if (srv_engine_defer(s) < 0)
		return td_errf(err, errlen, "cannot set up the recovery grace timer");
	return 0;
}

/* Starts everything in dependency order; threads start with signals blocked. */
static int srv_start(struct srv *s, char *err, size_t errlen)
{
	if (watch_reg_init(&s->watch) < 0)
		return td_errf(err, errlen, "out of memory");
	if (srv_engine(s, err, errlen) < 0 || srv_probes_start(s, err, errlen) < 0 || srv_loops(s, err, errlen) < 0 ||
	    srv_main_loop(s, err, errlen) < 0 || stats_start(s, err, errlen) < 0)
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
	s->cfg = cfg;
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
	if (s->socket_path && unlink(s->socket_path) < 0 && errno != ENOENT)
		log_warn("cannot remove %s: %s", s->socket_path, strerror(errno));
	free(s->socket_path);
	s->socket_path = NULL;
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
	event_base_dispatch(s->base);
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
	srv_stop_listening(s);
	if (s->loops)
		srv_stop_loops(s);
	stats_stop(s);
	srv_probes_stop(s);
	if (s->engine) {
		engine_stats(s->engine, &st);
		if (st.pending && !s->journal)
			log_notice("%llu pending timers dropped (timers live in memory only)", (unsigned long long)st.pending);
		else if (st.pending)
			log_notice("%llu pending timers are in %s for the next start", (unsigned long long)st.pending,
				   s->store_path);
		engine_stop(s->engine);	/* its delivery threads journal fires until they stop */
	}
	journal_stop(s);	/* while the engine's memory is there: the journal reads it to the end */
	engine_destroy(s->engine);
	for (unsigned i = 0; s->loops && i < s->nloops; i++)
		loop_destroy(&s->loops[i]);
	free(s->loops);
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
	watch_reg_destroy(&s->watch);
	free(s);
}
