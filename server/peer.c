/*
 * peer.c -- who is at the other end of a connection (struct srv_peer).
 *
 * A Unix-socket peer is known by SO_PEERCRED. A TCP peer on this host
 * (loopback, or one of our own addresses) is known too: the kernel's
 * NETLINK_SOCK_DIAG (inet_diag) names the uid that owns the peer's end of
 * the connection. Until identities exist (doc/security.md), a local TCP
 * peer is admitted by the rule the Unix socket's file mode applies, so
 * 127.0.0.1 is no way around a socket at 0600; a remote peer (unknown uid)
 * is admitted only because allow-remote was given.
 */
#include "config.h"

#include <errno.h>
#include <netdb.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include "server/log.h"
#include "server/srv.h"

/* How long the sock_diag answer may take. */
#define PEER_DIAG_TIMEOUT_MS 200

/* Fills an inet_diag socket id for the peer's end: its source is the peer, its destination us. */
static bool peer_diag_id(const struct sockaddr_storage *pa, const struct sockaddr_storage *la,
			 struct inet_diag_req_v2 *r)
{
	r->id.idiag_cookie[0] = r->id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
	if (pa->ss_family == AF_INET && la->ss_family == AF_INET) {
		const struct sockaddr_in *p = (const void *)pa, *l = (const void *)la;

		r->sdiag_family = AF_INET;
		r->id.idiag_sport = p->sin_port;
		r->id.idiag_dport = l->sin_port;
		memcpy(r->id.idiag_src, &p->sin_addr, 4);
		memcpy(r->id.idiag_dst, &l->sin_addr, 4);
		return true;
	}
	if (pa->ss_family == AF_INET6 && la->ss_family == AF_INET6) {
		const struct sockaddr_in6 *p = (const void *)pa, *l = (const void *)la;

		r->sdiag_family = AF_INET6;
		r->id.idiag_sport = p->sin6_port;
		r->id.idiag_dport = l->sin6_port;
		memcpy(r->id.idiag_src, &p->sin6_addr, 16);
		memcpy(r->id.idiag_dst, &l->sin6_addr, 16);
		return true;
	}
	return false;
}

/* Asks the kernel who owns the peer's end of TCP connection fd; true with *uid if it is on this host. */
static bool peer_tcp_uid(int fd, uid_t *uid)
{
	struct sockaddr_storage pa, la;
	socklen_t pl = sizeof(pa), ll = sizeof(la);
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 r;
	} req = { .nlh = { .nlmsg_len = sizeof(req), .nlmsg_type = SOCK_DIAG_BY_FAMILY, .nlmsg_flags = NLM_F_REQUEST },
		  .r = { .sdiag_protocol = IPPROTO_TCP, .idiag_states = ~0u } };
	struct sockaddr_nl nl = { .nl_family = AF_NETLINK };
	struct timeval tv = { 0, PEER_DIAG_TIMEOUT_MS * 1000 };
	long buf[2048 / sizeof(long)];
	bool found = false;
	ssize_t n;
	int s;

	if (getpeername(fd, (struct sockaddr *)&pa, &pl) < 0 || getsockname(fd, (struct sockaddr *)&la, &ll) < 0 ||
	    !peer_diag_id(&pa, &la, &req.r))
		return false;
	if ((s = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG)) < 0)
		return false;
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (sendto(s, &req, sizeof(req), 0, (struct sockaddr *)&nl, sizeof(nl)) == (ssize_t)sizeof(req) &&
	    (n = recv(s, buf, sizeof(buf), 0)) > 0) {
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
			const struct inet_diag_msg *d = NLMSG_DATA(h);

			if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY || h->nlmsg_len < NLMSG_LENGTH(sizeof(*d)))
				break;	/* NLMSG_ERROR (ENOENT): no such socket here, the peer is remote */
			*uid = d->idiag_uid;
			found = true;
			break;
		}
	}
	close(s);
	return found;
}

/* Fills p for an accepted TCP connection: local (uid known) or remote. */
void peer_tcp(struct srv_peer *p, int fd)
{
	p->kind = SRV_PEER_TCP;
	p->cred = peer_tcp_uid(fd, &p->uid);
	p->gid = (gid_t)-1;
	p->pid = 0;
}

void peer_addr_key(const struct srv_peer *p, const char *host, char *key, size_t len)
{
	if (p->cred)
		snprintf(key, len, "uid %u", (unsigned)p->uid);
	else
		snprintf(key, len, "%s", host);
}

void peer_http(struct srv_peer *p, int fd, char *key, size_t len)
{
	struct sockaddr_storage sa;
	socklen_t sl = sizeof(sa);
	char host[INET6_ADDRSTRLEN] = "?";

	peer_tcp(p, fd);
	if (getpeername(fd, (struct sockaddr *)&sa, &sl) == 0)
		getnameinfo((struct sockaddr *)&sa, sl, host, sizeof(host), NULL, 0, NI_NUMERICHOST);
	peer_addr_key(p, host, key, len);
}

/* True if uid belongs to group gid (primary or supplementary). */
static bool peer_in_group(uid_t uid, gid_t gid)
{
	struct passwd pw, *r = NULL;
	char buf[4096];
	gid_t groups[256];
	int n = (int)(sizeof(groups) / sizeof(groups[0]));

	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &r) != 0 || !r)
		return false;
	if (pw.pw_gid == gid)
		return true;
	if (getgrouplist(pw.pw_name, pw.pw_gid, groups, &n) < 0)
		return false;
	for (int i = 0; i < n; i++)
		if (groups[i] == gid)
			return true;
	return false;
}

/*
 * True if uid may connect to the Unix socket by its file mode (connect
 * needs write permission): root, the daemon's user, the socket's group
 * with g+w, anyone with o+w.
 */
bool peer_unix_rule(const struct srv *s, uid_t uid)
{
	unsigned mode = s->cfg->socket_mode;

	if (uid == 0 || uid == geteuid() || (mode & 0002))
		return true;
	return (mode & 0020) && s->socket_gid != (gid_t)-1 && peer_in_group(uid, s->socket_gid);
}

/* Whether p may use timerd now; false with why in msg. */
bool peer_admit(const struct srv *s, const struct srv_peer *p, char *msg, size_t len)
{
	if (p->kind == SRV_PEER_UNIX)
		return true;	/* the kernel checked the socket's mode at connect */
	if (s->cfg->insecure)
		return true;	/* the operator lifted the exposure rules (doc/security.md): logged at start */
	/* relaxed: a flag set by the main thread at start or reload, nothing else hangs on it */
	if (atomic_load_explicit(&s->idents, memory_order_relaxed))
		return true;	/* a users file is in force: the identity decides (bound by uid, certificate or Auth) */
	if (!p->cred) {
		if (s->cfg->allow_remote)
			return true;	/* deprecated: remote peers without authentication, as --insecure */
		snprintf(msg, len, "timerd cannot tell which local user this TCP connection belongs to and has no "
			 "users file to authenticate it: connect over the Unix socket %s, or ask the operator for an "
			 "identity (users = FILE)", *s->cfg->socket ? s->cfg->socket : "");
		return false;
	}
	if (peer_unix_rule(s, p->uid))
		return true;	/* the kernel vouches for the uid: the Unix socket's rule is the authentication */
	snprintf(msg, len, "uid %u may not use timerd: over loopback TCP the Unix socket's rule applies (mode %04o, "
		 "owner uid %u%s); ask the operator for socket-group access", (unsigned)p->uid, s->cfg->socket_mode,
		 (unsigned)geteuid(), s->cfg->socket_group ? ", group socket-group" : "");
	return false;
}
