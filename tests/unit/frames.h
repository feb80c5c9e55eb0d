/*
 * frames.h -- raw protocol frames for the daemon tests that speak to timerd
 * below libtimerd (test-server-badinput.c, test-group-badinput.c): connect
 * to its Unix socket, send a framed Request, read whole frames back with a
 * deadline. Each failure is a check assertion.
 *
 *	int fd = frames_connect(d.sock);
 *	frames_send_request(fd, &rq);
 *	Timerd__Response *m = frames_read_response(fd, 5000);   NULL: EOF or timeout
 *	...
 *	timerd__response__free_unpacked(m, NULL);
 */
#ifndef TIMERD_TESTS_FRAMES_H
#define TIMERD_TESTS_FRAMES_H

#include <check.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "proto/frame.h"
#include "proto/timerd.pb-c.h"

/* A raw connection to the Unix socket at path. */
static inline int frames_connect(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	return fd;
}

/* Writes all n bytes. */
static inline void frames_send(int fd, const void *p, size_t n)
{
	ck_assert_int_eq(send(fd, p, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* Sends a framed request (packed into 64 KiB at most). */
static inline void frames_send_request(int fd, const Timerd__Request *r)
{
	uint8_t buf[65536];
	size_t n = timerd__request__pack(r, buf + FRAME_HDR);

	frame_put_len(buf, (uint32_t)n);
	frames_send(fd, buf, FRAME_HDR + n);
}

/* Reads exactly n bytes within ms; false on EOF or timeout. */
static inline bool frames_read(int fd, uint8_t *p, size_t n, int ms)
{
	struct pollfd pf = { .fd = fd, .events = POLLIN };

	while (n) {
		ssize_t r;

		if (poll(&pf, 1, ms) <= 0)
			return false;
		if ((r = read(fd, p, n)) <= 0)
			return false;
		p += r;
		n -= (size_t)r;
	}
	return true;
}

/* Reads one Response (free with timerd__response__free_unpacked); NULL on EOF or timeout. */
static inline Timerd__Response *frames_read_response(int fd, int ms)
{
	uint8_t h[FRAME_HDR], *body;
	Timerd__Response *m;
	uint32_t n;

	if (!frames_read(fd, h, FRAME_HDR, ms))
		return NULL;
	n = frame_len(h);
	ck_assert_uint_le(n, FRAME_LIMIT_MAX);
	body = malloc(n ? n : 1);
	ck_assert(frames_read(fd, body, n, ms));
	m = timerd__response__unpack(NULL, n, body);
	free(body);
	ck_assert_ptr_nonnull(m);
	return m;
}

#endif /* TIMERD_TESTS_FRAMES_H */
