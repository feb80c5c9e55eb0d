/*
 * world.h -- a timerd server inside the fuzzing process: the daemon's own
 * struct srv, one loop (its event base run by the caller, no thread), a
 * manual engine on a fake clock, and one client connection made by
 * conn_open() on one end of a socketpair; the harness is the client on the
 * other end.
 *
 * Usage:
 *
 *	struct fuzz_world w;
 *	fuzz_world_open(&w, &(struct fuzz_world_opts){ .root = true });
 *	rpc_handle(w.conn, body, n);             the request path, or
 *	fuzz_world_write(&w, bytes, n);          the stream path through conn.c
 *	fuzz_world_settle(&w);                   run the loop, read the replies
 *	fuzz_world_advance(&w, 5 * ENGINE_NS_PER_S);   fire what is due
 *	fuzz_world_finish(&w);                   EOF: the server answers, closes
 *	fuzz_world_close(&w);                    srv_destroy(): nothing may leak
 *
 * Everything runs on the calling thread; the engine has no threads, so a
 * run is deterministic given its input.
 */
#ifndef TIMERD_FUZZ_WORLD_H
#define TIMERD_FUZZ_WORLD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/srv.h"
#include "tests/fuzz/fuzz.h"

/* How the connection and the limits are set up. */
struct fuzz_world_opts {
	bool tight;		/* small limits, so every bound is reachable */
	bool tcp;		/* a TCP peer (no probe management) */
	bool root;		/* a Unix peer with uid 0 */
};

/* What the client end saw. */
struct fuzz_world {
	struct srv_config cfg;
	struct srv *srv;
	struct loop *loop;
	struct conn *conn;	/* NULL once the server freed it */
	uint64_t handle;
	int peer;		/* the client's end of the socketpair */
	bool peer_eof;		/* the server closed the connection */
	int64_t mono, real;	/* the fake clock */
	uint8_t *rx;		/* bytes read from the server, not yet parsed */
	size_t rxlen, rxcap;
	uint64_t replies;	/* non-event Responses parsed */
	uint64_t events;	/* event Responses parsed */
	uint64_t too_large;	/* Error events FRAME_TOO_LARGE */
	uint64_t *ids;		/* request id of each reply, in order */
	size_t idcap;
};

/* Sets up the server and the connection; aborts if it cannot. */
void fuzz_world_open(struct fuzz_world *w, const struct fuzz_world_opts *o);

/* Tears everything down through srv_destroy(). */
void fuzz_world_close(struct fuzz_world *w);

/* Writes bytes to the server, running its loop whenever the socket is full. */
void fuzz_world_write(struct fuzz_world *w, const uint8_t *p, size_t n);

/* Runs the loop and reads replies until neither side has anything to do. */
void fuzz_world_settle(struct fuzz_world *w);

/* Moves the fake clocks forward by ns, runs a dispatcher pass and delivers the fires. */
void fuzz_world_advance(struct fuzz_world *w, int64_t ns);

/* Shuts the client's writing side; runs until the server has closed the connection. */
void fuzz_world_finish(struct fuzz_world *w);

/* Parses the frames in buf (whole frames only, the rest stays); aborts on one the server should not send. */
size_t fuzz_world_parse(struct fuzz_world *w, const uint8_t *buf, size_t len);

#endif /* TIMERD_FUZZ_WORLD_H */
