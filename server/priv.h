/*
 * priv.h -- dropping root after start-up (--user, --group; doc/security.md,
 * "Privilege drop").
 *
 * Usage (srv.c, main thread):
 *
 *	priv_init(cfg, err, errlen);     before any file is created: resolves
 *	                                 --user/--group, so state files are
 *	                                 made for (and checked against) that uid
 *	... bind sockets, open the state dir and stats.db, load BPF, attach probes
 *	priv_drop(s, err, errlen);       setgroups, setgid, setuid on every
 *	                                 thread; keeps CAP_BPF, CAP_PERFMON and
 *	                                 CAP_DAC_READ_SEARCH on the main and loop
 *	                                 threads when probes are configured;
 *	                                 no_new_privs; checks root cannot be
 *	                                 regained; logs what a reload can no
 *	                                 longer do
 *
 * Capabilities are per thread on Linux, and timerd's threads run before the
 * drop. glibc's setuid/setgid/setgroups apply to every thread; a thread
 * keeps its permitted capabilities across the uid change only if it set
 * PR_SET_KEEPCAPS itself. So the loop threads (which serve ProbeAttach)
 * take two LOOP_MSG_PRIV messages: before the uid change (keep caps, shrink
 * the bounding set) and after it (capset to the kept set, no_new_privs);
 * every other thread (engine, journal, stats, probe consumer) ends with no
 * capability at all.
 */
#ifndef TIMERD_PRIV_H
#define TIMERD_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct srv;
struct srv_config;

/* Phases of LOOP_MSG_PRIV, run on each loop thread (priv_loop_step). */
enum priv_phase {
	PRIV_BEFORE,			/* PR_SET_KEEPCAPS, bounding set */
	PRIV_AFTER,			/* capset to the kept set, no_new_privs */
};

/* Resolves --user and --group (names or numbers); 0 or -1 with err (e.g. not root). */
int priv_init(const struct srv_config *c, char *err, size_t errlen);

/* True if --user or --group is set: timerd will drop root once started. */
bool priv_dropping(void);

/* The uid and gid timerd's state files belong to: --user's (and its group) when dropping, else ours. */
uid_t priv_owner(void);
gid_t priv_owner_gid(void);

/* Drops root on every thread (see above); 0 or -1 with err (timerd must not go on then). */
int priv_drop(struct srv *s, char *err, size_t errlen);

/* LOOP_MSG_PRIV on a loop thread: runs phase, then tells priv_drop (arg: the message's priv pointer). */
void priv_loop_step(void *arg, int phase);

/* "uid N(name) gid M(name)" of --user/--group for logs and Stats, or "" when not dropping. */
const char *priv_describe(void);

#endif /* TIMERD_PRIV_H */
