/*
 * test-server-badinput.c -- what a client can throw at timerd: garbage,
 * text, truncated frames, a 4 GiB length prefix, invalid fields, unknown
 * operations, oversized payloads, clients that vanish mid-frame, stall, or
 * never read, too many connections and requests. Each gets an error or a
 * closed connection; after each the daemon still serves; at the end it
 * exits cleanly (under ASan: without leaks).
 */
#include "config.h"

#include <check.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/timerd.h"
#include "proto/frame.h"
#include "proto/timerd.pb-c.h"
#include "frames.h"
#include "test-server-util.h"
#include "tests/wait.h"

static struct tsd daemon_;

/* Reads the next reply and checks it is an Error with code; returns its message (static copy). */
static const char *expect_error(int fd, Timerd__ErrorCode code, uint64_t id)
{
	static char msg[512];
	Timerd__Response *m = frames_read_response(fd, 5000);

	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(m->body_case, TIMERD__RESPONSE__BODY_ERROR);
	ck_assert_int_eq(m->error->code, code);
	ck_assert_uint_eq(m->id, id);
	snprintf(msg, sizeof(msg), "%s", m->error->message);
	timerd__response__free_unpacked(m, NULL);
	return msg;
}

/* The connection is closed by the daemon within 5 s (nothing more to read). */
static void expect_closed(int fd)
{
	Timerd__Response *m = frames_read_response(fd, 5000);

	ck_assert_ptr_null(m);
	close(fd);
}

/* The daemon still answers a fresh client. */
static void expect_serving(void)
{
	struct timerd *t;
	struct timerd_error e;

	ck_assert_msg(timerd_connect(daemon_.sock, NULL, &t, &e) == TIMERD_OK, "%s", e.message);
	ck_assert_int_eq(timerd_ping(t, NULL), TIMERD_OK);
	timerd_close(t);
}

/* Frames a Ping request with an id into buf; its length. */
static size_t pack_ping(uint8_t *buf, uint64_t id)
{
	Timerd__Request r = TIMERD__REQUEST__INIT;
	Timerd__Ping p = TIMERD__PING__INIT;
	size_t n;

	r.id = id;
	r.body_case = TIMERD__REQUEST__BODY_PING;
	r.ping = &p;
	n = timerd__request__pack(&r, buf + FRAME_HDR);
	frame_put_len(buf, (uint32_t)n);
	return FRAME_HDR + n;
}

/* Sends a Ping request with an id. */
static void send_ping(int fd, uint64_t id)
{
	uint8_t buf[64];

	frames_send(fd, buf, pack_ping(buf, id));
}

START_TEST(test_text)
{
	int fd = frames_connect(daemon_.sock);
	const char *msg;

	frames_send(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27);
	msg = expect_error(fd, TIMERD__ERROR_CODE__FRAME_TOO_LARGE, 0);
	ck_assert_msg(strstr(msg, "looks like text"), "%s", msg);
	expect_closed(fd);
	expect_serving();
}
END_TEST

START_TEST(test_4gib_prefix)
{
	int fd = frames_connect(daemon_.sock);
	const uint8_t h[] = { 0xff, 0xff, 0xff, 0xff, 0x01, 0x02 };
	const char *msg;

	frames_send(fd, h, sizeof(h));
	msg = expect_error(fd, TIMERD__ERROR_CODE__FRAME_TOO_LARGE, 0);
	ck_assert_msg(strstr(msg, "4294967295") && strstr(msg, "max-frame"), "%s", msg);
	expect_closed(fd);
	expect_serving();
}
END_TEST

START_TEST(test_garbage_frame_keeps_connection)
{
	int fd = frames_connect(daemon_.sock);
	uint8_t buf[FRAME_HDR + 64];
	Timerd__Response *m;

	frame_put_len(buf, 64);
	for (int i = 0; i < 64; i++)
		buf[FRAME_HDR + i] = 0xff;	/* a varint that never ends */
	frames_send(fd, buf, sizeof(buf));
	expect_error(fd, TIMERD__ERROR_CODE__MALFORMED, 0);
	send_ping(fd, 9);		/* the stream is still in sync */
	m = frames_read_response(fd, 5000);
	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(m->body_case, TIMERD__RESPONSE__BODY_PONG);
	ck_assert_uint_eq(m->id, 9);
	timerd__response__free_unpacked(m, NULL);
	close(fd);
}
END_TEST

START_TEST(test_random_frames)
{
	int fd = frames_connect(daemon_.sock);
	uint8_t buf[FRAME_HDR + 200];
	Timerd__Response *m;

	srandom(42);
	for (int i = 0; i < 500; i++) {
		uint32_t n = (uint32_t)(random() % 200);

		frame_put_len(buf, n);
		for (uint32_t j = 0; j < n; j++)
			buf[FRAME_HDR + j] = (uint8_t)random();
		frames_send(fd, buf, FRAME_HDR + n);
		m = frames_read_response(fd, 5000);	/* every frame gets exactly one answer */
		ck_assert_ptr_nonnull(m);
		ck_assert(!m->event);
		timerd__response__free_unpacked(m, NULL);
	}
	close(fd);
	expect_serving();
}
END_TEST

START_TEST(test_truncated_then_gone)
{
	int fd = frames_connect(daemon_.sock);
	uint8_t buf[FRAME_HDR + 10] = { 0 };

	frame_put_len(buf, 100);
	frames_send(fd, buf, sizeof(buf));
	close(fd);		/* vanished in the middle of a frame */
	expect_serving();
}
END_TEST

START_TEST(test_stalled_frame)
{
	int fd = frames_connect(daemon_.sock);
	uint8_t buf[FRAME_HDR + 3] = { 0 };
	int64_t t0 = tsd_now();
	const char *msg;

	frame_put_len(buf, 50);
	frames_send(fd, buf, sizeof(buf));
	msg = expect_error(fd, TIMERD__ERROR_CODE__TIMEOUT, 0);	/* --frame-timeout 300ms */
	ck_assert_msg(strstr(msg, "stalled"), "%s", msg);
	ck_assert_int_ge(tsd_now() - t0, 250000000);
	expect_closed(fd);
	expect_serving();
}
END_TEST

START_TEST(test_invalid_fields)
{
	int fd = frames_connect(daemon_.sock);
	Timerd__Request r = TIMERD__REQUEST__INIT;
	Timerd__Arm a = TIMERD__ARM__INIT;
	Timerd__Hello h = TIMERD__HELLO__INIT;
	Timerd__Ping p = TIMERD__PING__INIT;
	static uint8_t big[32768];

	r.body_case = TIMERD__REQUEST__BODY_ARM;
	r.arm = &a;
	r.id = 1;
	frames_send_request(fd, &r);	/* no time at all */
	ck_assert(strstr(expect_error(fd, TIMERD__ERROR_CODE__INVALID, 1), "after_ns"));
	a.when_case = TIMERD__ARM__WHEN_AT_MONO_NS;
	a.at_mono_ns = -5;
	r.id = 2;
	frames_send_request(fd, &r);
	expect_error(fd, TIMERD__ERROR_CODE__DEADLINE, 2);
	a.at_mono_ns = 1;
	a.period_ns = -1;
	r.id = 3;
	frames_send_request(fd, &r);
	expect_error(fd, TIMERD__ERROR_CODE__PERIOD, 3);
	a.period_ns = 0;
	a.payload.data = big;
	a.payload.len = 20000;	/* over --max-payload 16KiB */
	r.id = 4;
	frames_send_request(fd, &r);
	ck_assert(strstr(expect_error(fd, TIMERD__ERROR_CODE__PAYLOAD_TOO_LARGE, 4), "max-payload"));
	a.payload.len = 0;
	a.topic = (char *)"bad\x01topic";
	r.id = 5;
	frames_send_request(fd, &r);
	expect_error(fd, TIMERD__ERROR_CODE__INVALID, 5);
	h.version = 99;
	r.body_case = TIMERD__REQUEST__BODY_HELLO;
	r.hello = &h;
	r.id = 6;
	frames_send_request(fd, &r);
	ck_assert(strstr(expect_error(fd, TIMERD__ERROR_CODE__VERSION, 6), "version 1"));
	p.data.data = big;
	p.data.len = 4000;
	r.body_case = TIMERD__REQUEST__BODY_PING;
	r.ping = &p;
	r.id = 7;
	frames_send_request(fd, &r);
	expect_error(fd, TIMERD__ERROR_CODE__INVALID, 7);
	close(fd);
	expect_serving();
}
END_TEST

START_TEST(test_unknown_op)
{
	int fd = frames_connect(daemon_.sock);
	/* id 7, then field 99 (varint 5): an operation from a future version */
	const uint8_t frame[] = { 0, 0, 0, 5, 0x08, 0x07, 0x98, 0x06, 0x05 };
	const uint8_t empty[] = { 0, 0, 0, 0 };
	const char *msg;

	frames_send(fd, frame, sizeof(frame));
	msg = expect_error(fd, TIMERD__ERROR_CODE__UNKNOWN_OP, 7);
	ck_assert_msg(strstr(msg, "field 99") && strstr(msg, "upgrade"), "%s", msg);
	frames_send(fd, empty, sizeof(empty));
	ck_assert(strstr(expect_error(fd, TIMERD__ERROR_CODE__UNKNOWN_OP, 0), "empty request"));
	close(fd);
	expect_serving();
}
END_TEST

START_TEST(test_oversized_frame)
{
	int fd = frames_connect(daemon_.sock);
	uint8_t h[FRAME_HDR];

	frame_put_len(h, 70000);	/* over --max-frame 64KiB */
	frames_send(fd, h, sizeof(h));
	ck_assert(strstr(expect_error(fd, TIMERD__ERROR_CODE__FRAME_TOO_LARGE, 0), "70000"));
	expect_closed(fd);
	expect_serving();
}
END_TEST

/* Reads a counter from the daemon (which must answer). */
static int64_t stat_of(const char *name)
{
	int64_t v = tsd_stat(&daemon_, name);

	ck_assert_msg(v >= 0, "cannot read %s from the daemon", name);
	return v;
}

/* The fires routed so far (sent or dropped) and the count a wait expects. */
struct routed_wait {
	int64_t want, seen;
};

/* True once the daemon sent or dropped w->want fires in all. */
static bool fires_routed(void *arg)
{
	struct routed_wait *w = arg;

	w->seen = tsd_stat(&daemon_, "server.fires_sent") + tsd_stat(&daemon_, "server.fires_dropped");
	return w->seen >= w->want;
}

/* Fires sent to a watcher that does not read: far more than the socket and max-output hold. */
#define FLOOD_FIRES 15000

/*
 * Reads fd's events until total fires are accounted for (sent, or counted
 * lost by FIRES_DROPPED notices); fails saying what was seen if the stream
 * stops first. Adds to *fires, *lost and *notices.
 */
static void read_fires_until(int fd, uint64_t total, uint64_t *fires, uint64_t *lost, uint64_t *notices)
{
	Timerd__Response *m;

	while (*fires + *lost < total) {
		ck_assert_msg((m = frames_read_response(fd, 5000)) != NULL,
			      "the stream stopped after %llu fires and %llu lost of %llu",
			      (unsigned long long)*fires, (unsigned long long)*lost, (unsigned long long)total);
		if (m->body_case == TIMERD__RESPONSE__BODY_NOTICE) {
			ck_assert_int_eq(m->notice->kind, TIMERD__NOTICE__KIND__FIRES_DROPPED);
			(*notices)++;
			*lost += m->notice->count;
		}
		*fires += m->body_case == TIMERD__RESPONSE__BODY_FIRE;
		timerd__response__free_unpacked(m, NULL);
	}
}

/* Sends Watch{topic} on fd and checks its WatchReply. */
static void watch_topic(int fd, const char *topic)
{
	Timerd__Request r = TIMERD__REQUEST__INIT;
	Timerd__Watch w = TIMERD__WATCH__INIT;
	Timerd__Response *m;

	w.topic = (char *)topic;
	r.id = 1;
	r.body_case = TIMERD__REQUEST__BODY_WATCH;
	r.watch = &w;
	frames_send_request(fd, &r);
	m = frames_read_response(fd, 5000);
	ck_assert_int_eq(m->body_case, TIMERD__RESPONSE__BODY_WATCH);
	timerd__response__free_unpacked(m, NULL);
}

START_TEST(test_never_reads_fires)
{
	int fd = frames_connect(daemon_.sock), small = 4096;
	struct timerd *a;
	int64_t dropped0 = stat_of("server.fires_dropped");
	struct routed_wait routed = { .want = stat_of("server.fires_sent") + dropped0 + FLOOD_FIRES };
	uint64_t notices = 0, fires = 0, lost = 0;

	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	watch_topic(fd, "flood");
	ck_assert_int_eq(timerd_connect(daemon_.sock, NULL, &a, NULL), TIMERD_OK);
	for (int i = 0; i < FLOOD_FIRES; i++) {
		struct timerd_arm arm = { .when = TIMERD_AFTER, .time_ns = TIMERD_MS, .topic = "flood" };

		ck_assert_int_eq(timerd_arm(a, &arm, NULL), TIMERD_OK);
	}
	/* The watcher reads nothing meanwhile. */
	ck_assert_msg(wait_until(fires_routed, &routed, 20000, "flood fires sent or dropped"),
		      "fires sent + dropped is %lld, want %lld", (long long)routed.seen, (long long)routed.want);
	ck_assert_int_eq(timerd_ping(a, NULL), TIMERD_OK);	/* others are served */
	timerd_close(a);
	ck_assert_int_gt(stat_of("server.fires_dropped"), dropped0);
	/* Now read: a notice says how many were lost; stop once every fire is accounted for. */
	read_fires_until(fd, FLOOD_FIRES, &fires, &lost, &notices);
	ck_assert_uint_ge(notices, 1);
	ck_assert_uint_eq(fires + lost, FLOOD_FIRES);
	close(fd);
}
END_TEST

/* Timers due at once for test_burst_drop_notice: their fires pass max-output within one fire round. */
#define BURST_FIRES 2000

/*
 * A burst of fires due at once passes max-output within one round: the
 * round's events go to the socket in one direct write, which takes them
 * all (no write callback follows), and the notice of the dropped ones must
 * still come.
 */
START_TEST(test_burst_drop_notice)
{
	static struct tsd small;
	int fd;
	struct timerd *a;
	struct timespec now;
	int64_t at;
	uint64_t notices = 0, fires = 0, lost = 0;

	tsd_start(&small, (const char *[]){ "--max-output", "4096", "--max-payload", "1024", "--max-frame", "4096",
					    NULL });
	fd = frames_connect(small.sock);
	watch_topic(fd, "burst");
	ck_assert_int_eq(timerd_connect(small.sock, NULL, &a, NULL), TIMERD_OK);
	clock_gettime(CLOCK_MONOTONIC, &now);
	at = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec + 3000 * TIMERD_MS;
	for (int i = 0; i < BURST_FIRES; i++) {
		struct timerd_arm arm = { .when = TIMERD_AT_MONO, .time_ns = at, .topic = "burst" };

		ck_assert_int_eq(timerd_arm(a, &arm, NULL), TIMERD_OK);
	}
	timerd_close(a);
	/* Read as they come: the notice must come without any further request. */
	read_fires_until(fd, BURST_FIRES, &fires, &lost, &notices);
	ck_assert_uint_eq(fires + lost, BURST_FIRES);
	ck_assert_uint_ge(notices, 1);
	close(fd);
	ck_assert_int_eq(tsd_stop(&small), 0);
}
END_TEST

START_TEST(test_never_reads_replies)
{
	int fd = frames_connect(daemon_.sock), small = 4096, flags;
	uint8_t frame[FRAME_HDR + 16];
	uint64_t sent = 0, pongs = 0, refused = 0;
	Timerd__Response *m;
	size_t n = pack_ping(frame, 1);

	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	flags = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, flags | O_NONBLOCK);
	for (int stalls = 0; stalls < 20 && sent < 2000000;) {	/* pipeline until the daemon stops reading */
		if (send(fd, frame, n, MSG_NOSIGNAL) == (ssize_t)n) {
			sent++;
			continue;
		}
		if (poll(&(struct pollfd){ .fd = fd, .events = POLLOUT }, 1, 20) == 0)
			stalls++;	/* not writable for 20 ms */
	}
	ck_assert_uint_lt(sent, 2000000);	/* it did stop reading: memory stays bounded */
	expect_serving();
	fcntl(fd, F_SETFL, flags);
	shutdown(fd, SHUT_WR);
	while (pongs + refused < sent && (m = frames_read_response(fd, 5000)) != NULL) {
		pongs += m->body_case == TIMERD__RESPONSE__BODY_PONG;
		refused += m->body_case == TIMERD__RESPONSE__BODY_ERROR &&
			   m->error->code == TIMERD__ERROR_CODE__TOO_MANY_INFLIGHT;
		timerd__response__free_unpacked(m, NULL);
	}
	ck_assert_uint_eq(pongs + refused, sent);	/* every request answered, in order */
	ck_assert_uint_gt(refused, 0);			/* over --max-inflight 64 */
	close(fd);
}
END_TEST

/* Sends a Ping without checking that it went (the daemon may have refused and closed fd). */
static void try_ping(int fd, uint64_t id)
{
	uint8_t buf[64];

	(void)!send(fd, buf, pack_ping(buf, id), MSG_NOSIGNAL);
}

/* True once a fresh client is served (closed connections released their places). */
static bool serving(void *arg)
{
	struct timerd *t;
	bool ok;

	(void)arg;
	if (timerd_connect(daemon_.sock, NULL, &t, NULL) != TIMERD_OK)
		return false;
	ok = timerd_ping(t, NULL) == TIMERD_OK;
	timerd_close(t);
	return ok;
}

START_TEST(test_too_many_connections)
{
	int fds[80], refused = 0;

	for (int i = 0; i < 80; i++)
		fds[i] = frames_connect(daemon_.sock);
	/* Each connection answers first either the refusal (told at once) or the pong. */
	for (int i = 0; i < 80; i++) {
		Timerd__Response *m;

		try_ping(fds[i], 1);
		ck_assert_msg((m = frames_read_response(fds[i], 5000)) != NULL, "connection %d: no refusal and no pong", i);
		if (m->body_case == TIMERD__RESPONSE__BODY_ERROR) {
			ck_assert_int_eq(m->error->code, TIMERD__ERROR_CODE__TOO_MANY_CONNECTIONS);
			ck_assert(m->event && strstr(m->error->message, "max-connections"));
			timerd__response__free_unpacked(m, NULL);
			expect_closed(fds[i]);
			fds[i] = -1;
			refused++;
			continue;
		}
		ck_assert_int_eq(m->body_case, TIMERD__RESPONSE__BODY_PONG);
		timerd__response__free_unpacked(m, NULL);
	}
	ck_assert_int_ge(refused, 80 - 64);	/* --max-connections 64 */
	for (int i = 0; i < 80; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	ck_assert_msg(wait_until(serving, NULL, 10000, "place for a new client"),
		      "no new client served 10 s after closing %d connections", 80 - refused);
}
END_TEST

/* Builds the suite. */
static Suite *badinput_suite(void)
{
	Suite *s = suite_create("badinput");
	TCase *tc = tcase_create("daemon");

	tcase_set_timeout(tc, 40);
	tcase_add_test(tc, test_text);
	tcase_add_test(tc, test_4gib_prefix);
	tcase_add_test(tc, test_garbage_frame_keeps_connection);
	tcase_add_test(tc, test_random_frames);
	tcase_add_test(tc, test_truncated_then_gone);
	tcase_add_test(tc, test_stalled_frame);
	tcase_add_test(tc, test_invalid_fields);
	tcase_add_test(tc, test_unknown_op);
	tcase_add_test(tc, test_oversized_frame);
	tcase_add_test(tc, test_never_reads_fires);
	tcase_add_test(tc, test_burst_drop_notice);
	tcase_add_test(tc, test_never_reads_replies);
	tcase_add_test(tc, test_too_many_connections);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	signal(SIGPIPE, SIG_IGN);
	tsd_start(&daemon_, (const char *[]){ "--threads", "2", "--max-frame", "64KiB", "--max-payload", "16KiB",
					      "--max-output", "64KiB", "--max-inflight", "64", "--max-connections", "64",
					      "--frame-timeout", "300ms", NULL });
	sr = srunner_create(badinput_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	if (tsd_stop(&daemon_) != 0) {
		fprintf(stderr, "timerd did not exit cleanly\n");
		failed++;
	}
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
