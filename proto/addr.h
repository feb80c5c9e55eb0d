/*
 * addr.h -- where a timerd listens and how a client names it; shared by
 * the daemon and libtimerd so both agree on the default socket.
 *
 * Address syntax:
 *	unix:PATH, or a PATH starting with '/' or '.'	a Unix stream socket
 *	tcp:HOST:PORT, HOST:PORT, [V6]:PORT		TCP
 *	tls://HOST:PORT, tls:HOST:PORT			TCP with TLS (libtimerd verifies the server)
 *	PORT						TCP on 127.0.0.1
 *
 * Default socket: /run/timerd/timerd.sock for root, else
 * $XDG_RUNTIME_DIR/timerd.sock, else /tmp/timerd-UID/timerd.sock.
 * $TIMERD_SOCKET, when set, overrides the default for clients.
 * Default state directory (stats.db): see addr_default_state_dir().
 */
#ifndef TIMERD_ADDR_H
#define TIMERD_ADDR_H

#include <stdbool.h>
#include <stddef.h>

#include <sys/un.h>

#define ADDR_ROOT_SOCKET "/run/timerd/timerd.sock"

enum addr_kind {
	ADDR_UNIX,
	ADDR_TCP,
};

struct addr {
	enum addr_kind kind;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];	/* ADDR_UNIX */
	char host[256];						/* ADDR_TCP */
	char port[8];
	bool tls;						/* ADDR_TCP given as tls:// */
};

/* Parses an address; 0 or -1 with a message for the user in err. */
int addr_parse(const char *s, struct addr *a, char *err, size_t errlen);

/* Writes the default socket path for this user into buf. */
void addr_default_socket(char *buf, size_t len);

/* The address a client uses when given none: $TIMERD_SOCKET or the default. */
void addr_client_default(char *buf, size_t len);

/*
 * Writes the default state directory for this user into buf:
 * /var/lib/timerd for root, else $XDG_STATE_HOME/timerd, else
 * $HOME/.local/state/timerd.
 */
void addr_default_state_dir(char *buf, size_t len);

/* Formats an address for messages ("/run/timerd/timerd.sock", "127.0.0.1:7000") so that addr_parse() reads it back. */
const char *addr_format(const struct addr *a, char *buf, size_t len);

/*
 * Connects a blocking stream socket (close-on-exec) within timeout_ms
 * (<= 0: no limit); the fd, or -1 with a message saying what to do in err.
 */
int addr_connect(const struct addr *a, int timeout_ms, char *err, size_t errlen);

/* True if host names a loopback address (127.0.0.0/8, ::1, "localhost"). */
bool addr_is_loopback(const char *host);

#endif /* TIMERD_ADDR_H */
