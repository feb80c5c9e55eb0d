/*
 * addr.c -- address parsing, the default socket, connecting (see addr.h).
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/err.h"
#include "proto/addr.h"

/* Parses a Unix socket path. */
static int addr_parse_unix(const char *path, struct addr *a, char *err, size_t errlen)
{
	if (!*path)
		return td_errf(err, errlen, "empty socket path: give e.g. unix:/run/timerd/timerd.sock");
	if (strlen(path) >= sizeof(a->path))
		return td_errf(err, errlen, "socket path '%s' is longer than %zu bytes: use a shorter path",
				 path, sizeof(a->path) - 1);
	a->kind = ADDR_UNIX;
	strcpy(a->path, path);
	return 0;
}

/* Checks a port string: 1..65535. */
static bool addr_port_ok(const char *p)
{
	char *end;
	long v;

	if (!*p || strlen(p) > 5)
		return false;
	errno = 0;
	v = strtol(p, &end, 10);
	return !*end && !errno && v > 0 && v <= 65535;
}

/* Parses HOST:PORT, [V6]:PORT or PORT. */
static int addr_parse_tcp(const char *s, struct addr *a, char *err, size_t errlen)
{
	const char *colon = strrchr(s, ':'), *host = s, *port;
	size_t hlen;

	if (!colon) {
		host = "127.0.0.1";
		hlen = strlen(host);
		port = s;
	} else {
		hlen = (size_t)(colon - s);
		port = colon + 1;
		if (hlen >= 2 && s[0] == '[' && s[hlen - 1] == ']') {
			host++;
			hlen -= 2;
		}
	}
	if (!addr_port_ok(port))
		return td_errf(err, errlen, "bad address '%s': give HOST:PORT with a port from 1 to 65535, e.g. 127.0.0.1:7070", s);
	if (!hlen || hlen >= sizeof(a->host))
		return td_errf(err, errlen, "bad address '%s': give HOST:PORT, e.g. 127.0.0.1:7070", s);
	a->kind = ADDR_TCP;
	memcpy(a->host, host, hlen);
	a->host[hlen] = '\0';
	strcpy(a->port, port);
	return 0;
}

/* Parses an address; 0 or -1 with a message in err. */
int addr_parse(const char *s, struct addr *a, char *err, size_t errlen)
{
	memset(a, 0, sizeof(*a));
	if (!s || !*s)
		return td_errf(err, errlen, "empty address: give a socket path or HOST:PORT");
	if (strncmp(s, "unix:", 5) == 0)
		return addr_parse_unix(s + 5, a, err, errlen);
	if (s[0] == '/' || s[0] == '.')
		return addr_parse_unix(s, a, err, errlen);
	if (strncmp(s, "tcp:", 4) == 0)
		return addr_parse_tcp(s + 4, a, err, errlen);
	if (strncmp(s, "tls://", 6) == 0 || strncmp(s, "tls:", 4) == 0) {
		a->tls = true;
		if (addr_parse_tcp(s + (s[4] == '/' && s[5] == '/' ? 6 : 4), a, err, errlen) < 0)
			return -1;
		a->tls = true;	/* addr_parse_tcp does not clear it; kept explicit */
		return 0;
	}
	return addr_parse_tcp(s, a, err, errlen);
}

/* Writes the default socket path for this user into buf. */
void addr_default_socket(char *buf, size_t len)
{
	const char *rt = getenv("XDG_RUNTIME_DIR");

	if (geteuid() == 0)
		snprintf(buf, len, "%s", ADDR_ROOT_SOCKET);
	else if (rt && rt[0] == '/')
		snprintf(buf, len, "%s/timerd.sock", rt);
	else
		snprintf(buf, len, "/tmp/timerd-%u/timerd.sock", (unsigned)geteuid());
}

/* Writes the default state directory for this user into buf. */
void addr_default_state_dir(char *buf, size_t len)
{
	const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");

	if (geteuid() == 0)
		snprintf(buf, len, "/var/lib/timerd");
	else if (xdg && xdg[0] == '/')
		snprintf(buf, len, "%s/timerd", xdg);
	else if (home && home[0] == '/')
		snprintf(buf, len, "%s/.local/state/timerd", home);
	else
		snprintf(buf, len, "/tmp/timerd-%u/state", (unsigned)geteuid());
}

/* The address a client uses when given none: $TIMERD_SOCKET or the default. */
void addr_client_default(char *buf, size_t len)
{
	const char *env = getenv("TIMERD_SOCKET");

	if (env && *env)
		snprintf(buf, len, "%s", env);
	else
		addr_default_socket(buf, len);
}

/* True if "HOST:PORT" would read back as something else (a Unix path, a tcp: or unix: prefix). */
static bool addr_host_ambiguous(const char *host)
{
	return host[0] == '/' || host[0] == '.' || strcmp(host, "tcp") == 0 || strcmp(host, "unix") == 0;
}

/* Formats an address for messages, in a form addr_parse() reads back. */
const char *addr_format(const struct addr *a, char *buf, size_t len)
{
	if (a->kind == ADDR_UNIX)
		snprintf(buf, len, "%s%s", a->path[0] == '/' || a->path[0] == '.' ? "" : "unix:", a->path);
	else if (a->tls && (strchr(a->host, ':') || a->host[0] == '['))
		snprintf(buf, len, "tls://[%s]:%s", a->host, a->port);
	else if (a->tls)
		snprintf(buf, len, "tls://%s:%s", a->host, a->port);
	else if (strchr(a->host, ':') || a->host[0] == '[')
		snprintf(buf, len, "[%s]:%s", a->host, a->port);
	else
		snprintf(buf, len, "%s%s:%s", addr_host_ambiguous(a->host) ? "tcp:" : "", a->host, a->port);
	return buf;
}

/* Waits for a non-blocking connect to finish; 0 or an errno. */
static int addr_wait_connect(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	socklen_t sl = sizeof(int);
	int rc, soerr = 0;

	do
		rc = poll(&p, 1, timeout_ms > 0 ? timeout_ms : -1);
	while (rc < 0 && errno == EINTR);
	if (rc == 0)
		return ETIMEDOUT;
	if (rc < 0)
		return errno;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
		return errno;
	return soerr;
}

/* Connects fd to sa within timeout_ms, leaving it blocking; 0 or an errno. */
static int addr_connect_fd(int fd, const struct sockaddr *sa, socklen_t salen, int timeout_ms)
{
	int flags = fcntl(fd, F_GETFL), rc = 0;

	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return errno;
	if (connect(fd, sa, salen) < 0) {
		rc = errno;
		if (rc == EINPROGRESS || rc == EAGAIN)
			rc = addr_wait_connect(fd, timeout_ms);
	}
	if (fcntl(fd, F_SETFL, flags) < 0 && !rc)
		rc = errno;
	return rc;
}

/*
 * Connects a Unix socket, waiting at most timeout_ms while the listener's
 * backlog is full (a non-blocking connect would fail with EAGAIN and not
 * go on in the background, unlike TCP); 0 or an errno.
 */
static int addr_connect_unix_fd(int fd, const struct sockaddr_un *sun, int timeout_ms)
{
	struct timeval tv = { timeout_ms > 0 ? timeout_ms / 1000 : 0, timeout_ms > 0 ? timeout_ms % 1000 * 1000 : 0 };
	struct timeval none = { 0, 0 };
	int rc = 0;

	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	while (connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) < 0) {
		if (errno == EINTR)
			continue;
		rc = errno == EAGAIN || errno == EINPROGRESS ? ETIMEDOUT : errno;
		break;
	}
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &none, sizeof(none));
	return rc;
}

/* Connects to a Unix socket; fd or -1. */
static int addr_connect_unix(const struct addr *a, int timeout_ms, char *err, size_t errlen)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), rc;

	if (fd < 0)
		return td_errf(err, errlen, "cannot create a socket: %s", strerror(errno));
	memcpy(sun.sun_path, a->path, sizeof(sun.sun_path));
	rc = addr_connect_unix_fd(fd, &sun, timeout_ms);
	if (!rc)
		return fd;
	close(fd);
	if (rc == ENOENT || rc == ECONNREFUSED)
		return td_errf(err, errlen,
				 "timerd is not running at %s (%s): start it with `timerd`, or pass --socket PATH",
				 a->path, strerror(rc));
	if (rc == EACCES || rc == EPERM)
		return td_errf(err, errlen,
				 "no permission to connect to %s: run as root or as a member of the socket's group",
				 a->path);
	if (rc == ETIMEDOUT)
		return td_errf(err, errlen, "timerd at %s accepts no connections (its backlog stayed full): "
				 "is it overloaded or stopped in a debugger?", a->path);
	return td_errf(err, errlen, "cannot connect to timerd at %s: %s", a->path, strerror(rc));
}

/* Connects to host:port, trying each resolved address; fd or -1. */
static int addr_connect_tcp(const struct addr *a, int timeout_ms, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG }, *res, *ai;
	int gai = getaddrinfo(a->host, a->port, &hints, &res), fd = -1, rc = 0, one = 1;

	if (gai)
		return td_errf(err, errlen, "cannot resolve '%s': %s", a->host, gai_strerror(gai));
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			rc = errno;
			continue;
		}
		rc = addr_connect_fd(fd, ai->ai_addr, ai->ai_addrlen, timeout_ms);
		if (!rc)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd >= 0) {
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		return fd;
	}
	if (rc == ECONNREFUSED)
		return td_errf(err, errlen,
				 "timerd is not listening on %s:%s: start it with `timerd --listen %s:%s`, or pass --connect HOST:PORT",
				 a->host, a->port, a->host, a->port);
	return td_errf(err, errlen, "cannot connect to timerd at %s:%s: %s", a->host, a->port, strerror(rc));
}

/* Connects a blocking stream socket within timeout_ms; the fd or -1 with err. */
int addr_connect(const struct addr *a, int timeout_ms, char *err, size_t errlen)
{
	return a->kind == ADDR_UNIX ? addr_connect_unix(a, timeout_ms, err, errlen)
				    : addr_connect_tcp(a, timeout_ms, err, errlen);
}

/* True if host names a loopback address. */
bool addr_is_loopback(const char *host)
{
	struct in6_addr a6;
	struct in_addr a4;

	if (strcmp(host, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return false;
}
