/*
 * notify.c -- sd_notify states, the dispatcher-fed watchdog and socket
 * activation (see notify.h; design: doc/architecture.md, "systemd").
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "proto/addr.h"
#include "server/log.h"
#include "server/srv.h"

#ifdef HAVE_SYSTEMD

/* Sends one state block to systemd; a no-op without $NOTIFY_SOCKET. */
static void notify_send(const char *state)
{
	int rc = sd_notify(0, state);

	if (rc < 0)
		log_debug("sd_notify: %s", strerror(-rc));
}

/* Sends STATUS= with the pending timers and open connections, prefixed by what. */
static void notify_status_line(struct srv *s, const char *what)
{
	struct engine_stats st = { 0 };
	char buf[256];

	if (s->engine)
		engine_stats(s->engine, &st);
	/* relaxed: a gauge for the operator */
	snprintf(buf, sizeof(buf), "STATUS=%s%s%llu pending timers, %llu connections", what ? what : "", what ? "; " : "",
		 (unsigned long long)st.pending,
		 (unsigned long long)atomic_load_explicit(&s->conns, memory_order_relaxed));
	notify_send(buf);
}

/* The status timer: refreshes STATUS=. */
static void notify_status_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	notify_status_line(arg, NULL);
}

/*
 * The watchdog timer, every half WatchdogSec: WATCHDOG=1 only if the
 * dispatcher answered the heartbeat sent at the previous tick, then a new
 * heartbeat. A dispatcher stuck for a whole WatchdogSec therefore misses
 * two ticks and systemd, hearing nothing, kills and restarts timerd. While
 * a recovery grace holds the engine back there is no dispatcher to ask.
 */
static void notify_watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	struct srv *s = arg;
	struct notify *n = &s->notify;

	(void)fd;
	(void)what;
	if (s->engine_deferred || !n->ticket || engine_ping_answered(s->engine, n->ticket)) {
		notify_send("WATCHDOG=1");
		n->fed++;
	} else {
		n->starved++;
		log_warn_rl("the dispatcher has not answered a heartbeat for %llums: not feeding the systemd watchdog",
			    (unsigned long long)(n->watchdog_usec / 2000));
	}
	if (!s->engine_deferred)
		n->ticket = engine_ping(s->engine);
}

/* Starts a persistent timer of ms on the main base; NULL on failure (logged). */
static struct event *notify_timer(struct srv *s, uint64_t usec, event_callback_fn cb)
{
	struct timeval tv = { (time_t)(usec / 1000000), (suseconds_t)(usec % 1000000) };
	struct event *ev = event_new(s->base, -1, EV_PERSIST, cb, s);

	if (!ev || event_add(ev, &tv) < 0) {
		log_warn("cannot start a systemd notify timer: STATUS= or WATCHDOG=1 will not be sent");
		if (ev)
			event_free(ev);
		return NULL;
	}
	return ev;
}

/* READY=1 with a STATUS= line; starts the status and watchdog timers. */
void notify_start(struct srv *s)
{
	struct notify *n = &s->notify;
	uint64_t usec = 0;

	if (!getenv("NOTIFY_SOCKET"))
		return;
	notify_send("READY=1");
	notify_status_line(s, "ready");
	n->status_ev = notify_timer(s, NOTIFY_STATUS_INTERVAL_MS * 1000ULL, notify_status_cb);
	if (sd_watchdog_enabled(0, &usec) > 0 && usec >= 2) {
		n->watchdog_usec = usec;
		n->watchdog_ev = notify_timer(s, usec / 2, notify_watchdog_cb);
		notify_send("WATCHDOG=1");	/* alive now: the engine started before the listeners */
		if (!s->engine_deferred)
			n->ticket = engine_ping(s->engine);
		log_info("systemd watchdog: WATCHDOG=1 every %llums while the dispatcher answers",
			 (unsigned long long)(usec / 2000));
	}
}

/* RELOADING=1, with the MONOTONIC_USEC= that Type=notify-reload (systemd 253) asks for. */
void notify_reloading(struct srv *s)
{
	struct timespec ts;
	char buf[128];

	(void)s;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(buf, sizeof(buf), "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading the configuration",
		 (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000);
	notify_send(buf);
}

/* READY=1 after a reload. */
void notify_reloaded(struct srv *s, const char *how)
{
	notify_send("READY=1");
	notify_status_line(s, how);
}

/* STOPPING=1. */
void notify_stopping(struct srv *s)
{
	notify_send("STOPPING=1");
	notify_status_line(s, "stopping");
}

/* Frees the timers. */
void notify_stop(struct srv *s)
{
	struct notify *n = &s->notify;

	if (n->status_ev)
		event_free(n->status_ev);
	if (n->watchdog_ev)
		event_free(n->watchdog_ev);
	n->status_ev = n->watchdog_ev = NULL;
}

/* True if fd is a listening TCP socket bound to the address --listen names. */
static bool notify_is_listen(const struct srv_config *c, int fd)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE }, *res, *ai;
	char why[256];
	struct addr a;
	bool match = false;

	if (!c->listen || addr_parse(c->listen, &a, why, sizeof(why)) < 0 || a.kind != ADDR_TCP ||
	    getaddrinfo(a.host, a.port, &hints, &res) != 0)
		return false;
	for (ai = res; ai && !match; ai = ai->ai_next)
		match = sd_is_socket_sockaddr(fd, SOCK_STREAM, ai->ai_addr, (unsigned)ai->ai_addrlen, 1) > 0;
	freeaddrinfo(res);
	return match;
}

/* Describes fd for an error message: its family and address. */
static void notify_describe(int fd, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[NI_MAXHOST], port[NI_MAXSERV];

	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
		snprintf(buf, len, "not a socket");
	} else if (ss.ss_family == AF_UNIX) {
		snprintf(buf, len, "unix:%s", ((struct sockaddr_un *)&ss)->sun_path);
	} else if (getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), port, sizeof(port),
			       NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
		snprintf(buf, len, "%s%s%s:%s", strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "", port);
	} else {
		snprintf(buf, len, "a socket of family %d", ss.ss_family);
	}
}

/* Takes fd as the Unix or the TCP listener if it matches one; false if neither. */
static bool notify_adopt(struct srv *s, int fd)
{
	const struct srv_config *c = s->cfg;
	struct notify *n = &s->notify;

	if (*c->socket && n->unix_fd < 0 && sd_is_socket_unix(fd, SOCK_STREAM, 1, c->socket, 0) > 0)
		n->unix_fd = fd;
	else if (n->tcp_fd < 0 && notify_is_listen(c, fd))
		n->tcp_fd = fd;
	else
		return false;
	/* systemd passes blocking descriptors; the listeners need non-blocking, close-on-exec ones */
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		log_warn("socket-activated fd %d: cannot make it non-blocking: %s", fd, strerror(errno));
	return true;
}

/* Adopts the sockets systemd passed (LISTEN_FDS), each matched by type and address. */
int notify_listen_fds(struct srv *s, char *err, size_t errlen)
{
	char **names = NULL, what[PATH_MAX + 16];
	int n = sd_listen_fds_with_names(1, &names), rc = 0;

	s->notify.unix_fd = s->notify.tcp_fd = -1;
	if (n < 0)
		return td_errf(err, errlen, "socket activation: LISTEN_FDS is invalid: %s", strerror(-n));
	for (int i = 0; i < n; i++) {
		int fd = SD_LISTEN_FDS_START + i;

		if (rc == 0 && !notify_adopt(s, fd)) {
			notify_describe(fd, what, sizeof(what));
			rc = td_errf(err, errlen, "socket activation: systemd passed %s (fd %d, name %s) but timerd is "
					"configured for socket %s and listen %s: make the socket unit's ListenStream= and "
					"timerd's socket/listen settings name the same addresses", what, fd,
					names && names[i] ? names[i] : "?", *s->cfg->socket ? s->cfg->socket : "(none)",
					s->cfg->listen ? s->cfg->listen : "(none)");
		}
		if (fd != s->notify.unix_fd && fd != s->notify.tcp_fd)
			close(fd);
		if (names)
			free(names[i]);
	}
	free(names);
	if (n > 0 && rc == 0)
		log_info("socket activation: %d socket%s from systemd (unix %s, tcp %s)", n, n == 1 ? "" : "s",
			 s->notify.unix_fd >= 0 ? "adopted" : "bound by timerd",
			 s->notify.tcp_fd >= 0 ? "adopted" : s->cfg->listen ? "bound by timerd" : "none");
	return rc;
}

#else /* !HAVE_SYSTEMD: READY=1 and STOPPING=1 by hand, as before libsystemd */

/* Sends a state line to $NOTIFY_SOCKET if set (a Type=notify unit without libsystemd). */
static void notify_send(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	socklen_t len;
	int fd;

	if (!path || (path[0] != '/' && path[0] != '@') || strlen(path) >= sizeof(sun.sun_path))
		return;
	memcpy(sun.sun_path, path, strlen(path));
	if (sun.sun_path[0] == '@')
		sun.sun_path[0] = '\0';	/* abstract namespace */
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return;
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sun, len) < 0)
		log_debug("NOTIFY_SOCKET %s: %s", path, strerror(errno));
	close(fd);
}

/* Adopts nothing: built without libsystemd. */
int notify_listen_fds(struct srv *s, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	s->notify.unix_fd = s->notify.tcp_fd = -1;
	if (getenv("LISTEN_FDS"))
		log_warn("LISTEN_FDS is set but timerd was built without libsystemd: binding its own sockets");
	return 0;
}

/* READY=1. */
void notify_start(struct srv *s)
{
	(void)s;
	notify_send("READY=1");
}

/* Nothing: no RELOADING=1 without libsystemd. */
void notify_reloading(struct srv *s)
{
	(void)s;
}

/* Nothing. */
void notify_reloaded(struct srv *s, const char *how)
{
	(void)s;
	(void)how;
}

/* STOPPING=1. */
void notify_stopping(struct srv *s)
{
	(void)s;
	notify_send("STOPPING=1");
}

/* Nothing to free. */
void notify_stop(struct srv *s)
{
	(void)s;
}

#endif /* HAVE_SYSTEMD */
