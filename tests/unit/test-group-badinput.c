/*
 * test-group-badinput.c -- consumer groups at the daemon boundary, in raw
 * frames: every invalid GroupCreate field answers INVALID saying what to
 * fix, the same settings again are OK (created false), others CONFLICT;
 * Subscribe, Ack, Nack and the DLQ requests refuse what they must; a
 * delivery's Fire event carries delivery_id, attempt and group, and a
 * consumer that disconnects without acking has it redelivered to another
 * one (attempt 2); a consumer that never reads holds at most its credit;
 * the daemon keeps serving and exits cleanly (under ASan: without leaks).
 */
#include "config.h"

#include <check.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/timerd.h"
#include "proto/frame.h"
#include "proto/timerd.pb-c.h"
#include "frames.h"
#include "test-server-util.h"
#include "tests/wait.h"

static struct tsd daemon_;

/* The next reply that is not an event (events are skipped). */
static Timerd__Response *reply(int fd)
{
	Timerd__Response *m;

	while ((m = frames_read_response(fd, 5000)) != NULL && m->event)
		timerd__response__free_unpacked(m, NULL);
	ck_assert_msg(m != NULL, "no reply within 5 s");
	return m;
}

/* Sends r and checks the reply is an Error with code; its message (static copy). */
static const char *expect_error(int fd, Timerd__Request *r, Timerd__ErrorCode code)
{
	static char msg[512];
	Timerd__Response *m;

	frames_send_request(fd, r);
	m = reply(fd);
	ck_assert_msg(m->body_case == TIMERD__RESPONSE__BODY_ERROR, "request %llu: body %d, want error %d",
		      (unsigned long long)r->id, m->body_case, code);
	ck_assert_msg(m->error->code == code, "request %llu: error %d (%s), want %d", (unsigned long long)r->id,
		      m->error->code, m->error->message, code);
	snprintf(msg, sizeof(msg), "%s", m->error->message);
	timerd__response__free_unpacked(m, NULL);
	return msg;
}

/* Sends r and checks the reply has body; returns it (free it). */
static Timerd__Response *expect_ok(int fd, Timerd__Request *r, Timerd__Response__BodyCase body)
{
	Timerd__Response *m;

	frames_send_request(fd, r);
	m = reply(fd);
	ck_assert_msg(m->body_case == body, "request %llu: body %d (%s), want %d", (unsigned long long)r->id,
		      m->body_case, m->body_case == TIMERD__RESPONSE__BODY_ERROR ? m->error->message : "", body);
	return m;
}

/* Waits for a Fire event with a delivery; NULL if none within ms. */
static Timerd__Response *next_delivery(int fd, int ms)
{
	Timerd__Response *m;

	while ((m = frames_read_response(fd, ms)) != NULL) {
		if (m->event && m->body_case == TIMERD__RESPONSE__BODY_FIRE && m->fire->delivery_id)
			return m;
		timerd__response__free_unpacked(m, NULL);
	}
	return NULL;
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

/* GroupCreate of name on topic with ack timeout and attempts; the reply. */
static void create(int fd, uint64_t id, const char *name, const char *topic, int64_t ack, uint32_t attempts,
		   bool want_created)
{
	Timerd__Request r = TIMERD__REQUEST__INIT;
	Timerd__GroupCreate gc = TIMERD__GROUP_CREATE__INIT;
	Timerd__Group g = TIMERD__GROUP__INIT;
	char *topics[1] = { (char *)topic };
	Timerd__Response *m;

	g.name = (char *)name;
	g.topics = topics;
	g.n_topics = 1;
	g.ack_timeout_ns = ack;
	g.max_attempts = attempts;
	gc.group = &g;
	r.id = id;
	r.body_case = TIMERD__REQUEST__BODY_GROUP_CREATE;
	r.group_create = &gc;
	m = expect_ok(fd, &r, TIMERD__RESPONSE__BODY_GROUP_CREATE);
	ck_assert_int_eq(m->group_create->created, want_created);
	timerd__response__free_unpacked(m, NULL);
}

/* Subscribe fd to group with credit; expects OK. */
static void subscribe(int fd, const char *group, uint32_t credit)
{
	Timerd__Request r = TIMERD__REQUEST__INIT;
	Timerd__Subscribe s = TIMERD__SUBSCRIBE__INIT;

	s.group = (char *)group;
	s.credit = credit;
	r.id = 900;
	r.body_case = TIMERD__REQUEST__BODY_SUBSCRIBE;
	r.subscribe = &s;
	timerd__response__free_unpacked(expect_ok(fd, &r, TIMERD__RESPONSE__BODY_SUBSCRIBE), NULL);
}

/* Arms a one-shot of topic in ms milliseconds. */
static void arm(int fd, const char *key, const char *topic, int64_t ms)
{
	Timerd__Request r = TIMERD__REQUEST__INIT;
	Timerd__Arm a = TIMERD__ARM__INIT;

	a.key = (char *)key;
	a.topic = (char *)topic;
	a.when_case = TIMERD__ARM__WHEN_AFTER_NS;
	a.after_ns = ms * 1000000;
	r.id = 901;
	r.body_case = TIMERD__REQUEST__BODY_ARM;
	r.arm = &a;
	timerd__response__free_unpacked(expect_ok(fd, &r, TIMERD__RESPONSE__BODY_ARM), NULL);
}

START_TEST(test_group_create_invalid)
{
	int fd = frames_connect(daemon_.sock);
	Timerd__Request r = TIMERD__REQUEST__INIT;
	Timerd__GroupCreate gc = TIMERD__GROUP_CREATE__INIT;
	Timerd__Group g = TIMERD__GROUP__INIT;
	static char *many[65];
	char *one[1] = { (char *)"t" };
	char longname[200];

	r.body_case = TIMERD__REQUEST__BODY_GROUP_CREATE;
	r.group_create = &gc;
	r.id = 1;
	ck_assert(strstr(expect_error(fd, &r, TIMERD__ERROR_CODE__INVALID), "needs a group"));
	gc.group = &g;
	r.id = 2;
	ck_assert(strstr(expect_error(fd, &r, TIMERD__ERROR_CODE__INVALID), "name is empty"));
	g.name = (char *)"bad\x01name";
	g.topics = one;
	g.n_topics = 1;
	r.id = 3;
	ck_assert(strstr(expect_error(fd, &r, TIMERD__ERROR_CODE__INVALID), "UTF-8"));
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	g.name = longname;
	r.id = 4;
	ck_assert(strstr(expect_error(fd, &r, TIMERD__ERROR_CODE__INVALID), "limit is 128"));
	g.name = (char *)"g";
	g.n_topics = 0;
	r.id = 5;
	ck_assert(strstr(expect_error(fd, &r, TIMERD__ERROR_CODE__INVALID), "no topic"));
	for (int i = 0; i < 65; i++)
		many[i] = (char *)"t";
	g.topics = many;
	g.n_topics = 65;
	r.id = 6;
	ck_assert(strstr(expect_error(fd, &r, TIMERD__ERROR_CODE__INVALID), "64"));
	g.topics = one;
	g.n_topics = 1;
	g.ack_timeout_ns = 5;
	r.id = 7;
	ck_assert(strstr(expect_error(fd, &r, TIMERD__ERROR_CODE__INVALID), "ack_timeout_ns"));
	g.ack_timeout_ns = 0;
	g.backoff_min_ns = 10000000000LL;
	g.backoff_max_ns = 2000000000LL;
	r.id = 8;
	ck_assert(strstr(expect_error(fd, &r, TIMERD__ERROR_CODE__INVALID), "backoff_min_ns"));
	g.backoff_min_ns = g.backoff_max_ns = 0;
	g.max_attempts = 5000;
	r.id = 9;
	ck_assert(strstr(expect_error(fd, &r, TIMERD__ERROR_CODE__INVALID), "max_attempts"));
	g.max_attempts = 0;
	g.webhook_url = (char *)"ftp://x";
	r.id = 10;
	ck_assert(strstr(expect_error(fd, &r, TIMERD__ERROR_CODE__INVALID), "webhook_url"));
	g.webhook_url = (char *)"";
	g.max_backlog = 1ULL << 40;
	r.id = 11;
	ck_assert(strstr(expect_error(fd, &r, TIMERD__ERROR_CODE__INVALID), "max_backlog"));
	/* the same settings twice: OK; others: CONFLICT naming update */
	create(fd, 12, "bi-same", "t", 0, 0, true);
	create(fd, 13, "bi-same", "t", 30000000000LL, 5, false);
	g.name = (char *)"bi-same";
	g.max_backlog = 0;
	g.max_attempts = 3;
	r.id = 14;
	ck_assert(strstr(expect_error(fd, &r, TIMERD__ERROR_CODE__CONFLICT), "update"));
	close(fd);
	expect_serving();
}
END_TEST

START_TEST(test_consumer_requests_invalid)
{
	int fd = frames_connect(daemon_.sock);
	Timerd__Request r = TIMERD__REQUEST__INIT;
	Timerd__Subscribe s = TIMERD__SUBSCRIBE__INIT;
	Timerd__Ack a = TIMERD__ACK__INIT;
	Timerd__Nack n = TIMERD__NACK__INIT;
	Timerd__DlqList dl = TIMERD__DLQ_LIST__INIT;
	Timerd__DlqRetry dr = TIMERD__DLQ_RETRY__INIT;
	Timerd__GroupDelete gd = TIMERD__GROUP_DELETE__INIT;
	Timerd__Response *m;
	char name[32];

	r.body_case = TIMERD__REQUEST__BODY_SUBSCRIBE;
	r.subscribe = &s;
	s.group = (char *)"nope";
	r.id = 1;
	ck_assert(strstr(expect_error(fd, &r, TIMERD__ERROR_CODE__NOT_FOUND), "group create"));
	create(fd, 2, "bi-sub", "bi-sub-t", 0, 0, true);
	s.group = (char *)"bi-sub";
	s.credit = 20000;
	r.id = 3;
	ck_assert(strstr(expect_error(fd, &r, TIMERD__ERROR_CODE__INVALID), "credit"));
	subscribe(fd, "bi-sub", 0);
	s.credit = 1;
	r.id = 4;
	ck_assert(strstr(expect_error(fd, &r, TIMERD__ERROR_CODE__INVALID), "already subscribed"));
	/* at most 64 subscriptions on one connection */
	for (int i = 1; i < 64; i++) {
		snprintf(name, sizeof(name), "bi-many-%d", i);
		create(fd, 100 + (uint64_t)i, name, "bi-many-t", 0, 0, true);
		subscribe(fd, name, 1);
	}
	create(fd, 199, "bi-many-64", "bi-many-t", 0, 0, true);
	s.group = (char *)"bi-many-64";
	r.id = 5;
	ck_assert(strstr(expect_error(fd, &r, TIMERD__ERROR_CODE__INVALID), "64 subscriptions"));
	/* acks of what is not in flight here */
	r.body_case = TIMERD__REQUEST__BODY_ACK;
	r.ack = &a;
	a.delivery_id = 123456;
	r.id = 6;
	expect_error(fd, &r, TIMERD__ERROR_CODE__NOT_FOUND);
	r.body_case = TIMERD__REQUEST__BODY_NACK;
	r.nack = &n;
	n.delivery_id = 1;
	n.retry_after_ns = -1;
	r.id = 7;
	ck_assert(strstr(expect_error(fd, &r, TIMERD__ERROR_CODE__INVALID), "retry_after_ns"));
	n.retry_after_ns = 0;
	n.error = (char *)"bad\x02";
	r.id = 8;
	ck_assert(strstr(expect_error(fd, &r, TIMERD__ERROR_CODE__INVALID), "UTF-8"));
	/* dead letters */
	r.body_case = TIMERD__REQUEST__BODY_DLQ_LIST;
	r.dlq_list = &dl;
	dl.group = (char *)"nope";
	r.id = 9;
	expect_error(fd, &r, TIMERD__ERROR_CODE__NOT_FOUND);
	dl.group = (char *)"bi-sub";
	dl.limit = 1000000000;
	dl.with_payload = true;
	r.id = 10;
	m = expect_ok(fd, &r, TIMERD__RESPONSE__BODY_DLQ_LIST);
	ck_assert_uint_eq(m->dlq_list->n_letters, 0);
	timerd__response__free_unpacked(m, NULL);
	r.body_case = TIMERD__REQUEST__BODY_DLQ_RETRY;
	r.dlq_retry = &dr;
	dr.group = (char *)"bi-sub";
	r.id = 11;
	m = expect_ok(fd, &r, TIMERD__RESPONSE__BODY_DLQ_RETRY);
	ck_assert_uint_eq(m->dlq_retry->count, 0);
	timerd__response__free_unpacked(m, NULL);
	/* deleting a group with this connection subscribed */
	r.body_case = TIMERD__REQUEST__BODY_GROUP_DELETE;
	r.group_delete = &gd;
	gd.name = (char *)"bi-sub";
	r.id = 12;
	timerd__response__free_unpacked(expect_ok(fd, &r, TIMERD__RESPONSE__BODY_GROUP_DELETE), NULL);
	r.id = 13;
	expect_error(fd, &r, TIMERD__ERROR_CODE__NOT_FOUND);
	close(fd);
	expect_serving();
}
END_TEST

START_TEST(test_redelivered_after_disconnect)
{
	int a = frames_connect(daemon_.sock), b = frames_connect(daemon_.sock);
	Timerd__Request r = TIMERD__REQUEST__INIT;
	Timerd__Ack ack = TIMERD__ACK__INIT;
	Timerd__Response *m;
	uint64_t id;

	create(a, 1, "bi-redo", "bi-redo-t", 0, 0, true);
	subscribe(a, "bi-redo", 1);
	arm(a, "job-1", "bi-redo-t", 10);
	ck_assert_ptr_nonnull(m = next_delivery(a, 5000));
	ck_assert_str_eq(m->fire->group, "bi-redo");
	ck_assert_str_eq(m->fire->key, "job-1");
	ck_assert_uint_eq(m->fire->attempt, 1);
	ck_assert(m->fire->final);
	id = m->fire->delivery_id;
	timerd__response__free_unpacked(m, NULL);
	/* a goes away without acking: b, subscribed afterwards, gets it again */
	close(a);
	subscribe(b, "bi-redo", 1);
	ck_assert_ptr_nonnull(m = next_delivery(b, 5000));
	ck_assert_uint_eq(m->fire->delivery_id, id);
	ck_assert_uint_eq(m->fire->attempt, 2);
	timerd__response__free_unpacked(m, NULL);
	r.body_case = TIMERD__REQUEST__BODY_ACK;
	r.ack = &ack;
	ack.delivery_id = id;
	r.id = 2;
	timerd__response__free_unpacked(expect_ok(b, &r, TIMERD__RESPONSE__BODY_ACK), NULL);
	r.id = 3;
	expect_error(b, &r, TIMERD__ERROR_CODE__NOT_FOUND);	/* acked once only */
	close(b);
	expect_serving();
}
END_TEST

/* True once stats show deliveries created >= *arg. */
static bool created_atleast(void *arg)
{
	return tsd_stat(&daemon_, "delivery.created") >= *(int64_t *)arg;
}

START_TEST(test_never_reads_bounded_by_credit)
{
	int fd = frames_connect(daemon_.sock), ctl = frames_connect(daemon_.sock);
	int64_t want = 200;

	create(ctl, 1, "bi-lazy", "bi-lazy-t", 0, 0, true);
	subscribe(fd, "bi-lazy", 3);	/* and never reads again */
	for (int i = 0; i < 200; i++) {
		char key[16];

		snprintf(key, sizeof(key), "lazy-%d", i);
		arm(ctl, key, "bi-lazy-t", 1);
	}
	ck_assert_msg(wait_until(created_atleast, &want, 10000, "200 deliveries"), "deliveries created: %lld",
		      (long long)tsd_stat(&daemon_, "delivery.created"));
	ck_assert_int_le(tsd_stat(&daemon_, "delivery.in_flight"), 3 + 0);
	close(fd);
	close(ctl);
	expect_serving();
}
END_TEST

static Suite *group_badinput_suite(void)
{
	Suite *s = suite_create("group-badinput");
	TCase *tc = tcase_create("daemon");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_group_create_invalid);
	tcase_add_test(tc, test_consumer_requests_invalid);
	tcase_add_test(tc, test_redelivered_after_disconnect);
	tcase_add_test(tc, test_never_reads_bounded_by_credit);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	signal(SIGPIPE, SIG_IGN);
	tsd_start(&daemon_, (const char *[]){ "--threads", "2", NULL });
	sr = srunner_create(group_badinput_suite());
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	if (tsd_stop(&daemon_) != 0) {
		fprintf(stderr, "timerd did not exit cleanly\n");
		failed++;
	}
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
