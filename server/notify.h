/*
 * notify.h -- timerd's side of systemd (libsystemd, when configure found
 * it: HAVE_SYSTEMD): sd_notify states, the watchdog fed by the dispatcher's
 * heartbeat, and socket activation (sd_listen_fds). Built without
 * libsystemd, notify_listen_fds adopts nothing, the watchdog and STATUS=
 * lines compile out, and READY=1/STOPPING=1 go to $NOTIFY_SOCKET by hand,
 * as before.
 *
 * Usage (main thread, in this order):
 *
 *	notify_listen_fds(s, err, errlen);   before the listeners: adopt LISTEN_FDS
 *	... bind what was not adopted ...
 *	notify_start(s);                     READY=1, STATUS=, the watchdog and status timers
 *	notify_reloading(s); ... notify_reloaded(s);   around a SIGHUP reload
 *	notify_stopping(s);                  STOPPING=1 (srv_run, when the main loop exits)
 *	notify_stop(s);                      frees the timers (srv_destroy)
 *
 * Everything here runs on the main thread; the only cross-thread step is
 * the watchdog's engine_ping / engine_ping_answered pair (core/engine.h).
 */
#ifndef TIMERD_NOTIFY_H
#define TIMERD_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct srv;

/* How often STATUS= is refreshed while running. */
#define NOTIFY_STATUS_INTERVAL_MS 2000

/* The main thread's notify state (inside struct srv). */
struct notify {
	struct event *status_ev;	/* periodic STATUS= */
	struct event *watchdog_ev;	/* every half WATCHDOG_USEC: ping the dispatcher, feed if it answered */
	uint64_t watchdog_usec;		/* 0: no watchdog */
	uint64_t ticket;		/* the last heartbeat sent to the dispatcher (0: none yet) */
	uint64_t fed, starved;		/* WATCHDOG=1 sent; ticks the dispatcher had not answered */
	int unix_fd, tcp_fd;		/* adopted from LISTEN_FDS, or -1 */
};

/* Adopts the sockets systemd passed, each matched to --socket or --listen; 0 or -1 with err. */
int notify_listen_fds(struct srv *s, char *err, size_t errlen);

/* READY=1 with a STATUS= line; starts the status and watchdog timers. */
void notify_start(struct srv *s);

/* RELOADING=1 (a reload is starting). */
void notify_reloading(struct srv *s);

/* READY=1 again after a reload, with a STATUS= line saying how it went. */
void notify_reloaded(struct srv *s, const char *how);

/* STOPPING=1 and a last STATUS=. */
void notify_stopping(struct srv *s);

/* Frees the timers (idempotent). */
void notify_stop(struct srv *s);

#endif /* TIMERD_NOTIFY_H */
