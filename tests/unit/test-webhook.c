/*
 * test-webhook.c -- server/webhook.c alone, against tests/regress/webhook_server.py
 * (Debian's /usr/bin/python3; exit 77 without it or without openssl): a 2xx
 * acks; 500 (with or without a reason phrase), a timeout, a refused connection, an unknown host, a redirect,
 * a closed connection and a self-signed certificate each fail in their own
 * words; insecure accepts the certificate; the concurrency bound holds at
 * the server; the body and headers are exactly what doc/delivery.md says;
 * freeing a webhook with requests in flight, or inside its callback, is clean.
 *
 * One plain and one TLS server serve every test; each test has its own URL
 * path (/s/SCHEDULE/TEST), so the server's schedule and the log lines it
 * records (JSON lines, read back here) are the test's own.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "core/err.h"
#include "server/webhook.h"
#include "tests/wait.h"

#define NSEC 1000000000LL
#define MAX_DONE 64

static char tmpdir[64];
static char plain_log[128], tls_log[128];
static int plain_port, tls_port;
static pid_t plain_pid, tls_pid;

/* What the done callback saw, in order. */
struct result {
	int n;
	bool ok[MAX_DONE];
	char error[MAX_DONE][WEBHOOK_ERROR_MAX];
	intptr_t cookie[MAX_DONE];
	int64_t retry_after[MAX_DONE];
};

/* A test's loop and what it needs in its callbacks. */
struct ctx {
	struct event_base *base;
	struct webhook *w;
	struct result res;
	int to_post, posted;		/* refill mode: post more as answers come */
	uint32_t max_in_flight;
	bool free_in_done;
};

/* Reads a whole small file into buf; the bytes read or -1. */
static ssize_t read_file(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return -1;
	n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	fclose(f);
	return (ssize_t)n;
}

/* True once the port file named by arg exists. */
static bool port_file_there(void *arg)
{
	return access(arg, F_OK) == 0;
}

/* Starts webhook_server.py (killed with us), waits for its port; the port or -1. */
static int server_start(const char *name, const char *extra1, const char *extra2, const char *extra3,
			const char *extra4, pid_t *pid, char *log, size_t loglen)
{
	const char *srcdir = getenv("top_srcdir") ? getenv("top_srcdir") : ".";
	char script[512], portfile[128], buf[32];

	snprintf(script, sizeof(script), "%s/tests/regress/webhook_server.py", srcdir);
	snprintf(portfile, sizeof(portfile), "%s/%s.port", tmpdir, name);
	snprintf(log, loglen, "%s/%s.jsonl", tmpdir, name);
	if ((*pid = fork()) == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execl("/usr/bin/python3", "python3", script, "--port-file", portfile, "--log", log, extra1, extra2,
		      extra3, extra4, (char *)NULL);
		_exit(127);
	}
	if (*pid < 0 || !wait_until(port_file_there, portfile, 10000, "webhook_server.py's port file"))
		return -1;
	if (read_file(portfile, buf, sizeof(buf)) <= 0)
		return -1;
	return atoi(buf);
}

/* Makes the self-signed certificate for the TLS server; 0 or -1. */
static int make_cert(void)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd),
		 "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 "
		 "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout %s/key.pem -out %s/cert.pem "
		 ">/dev/null 2>&1", tmpdir, tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* The done callback: records the answer; refills or frees as the test asks. */
static void on_done(void *arg, void *cookie, bool ok, const char *error, int64_t retry_after_ns)
{
	struct ctx *c = arg;
	int i = c->res.n++;

	ck_assert_int_lt(i, MAX_DONE);
	c->res.ok[i] = ok;
	c->res.retry_after[i] = retry_after_ns;
	c->res.cookie[i] = (intptr_t)cookie;
	snprintf(c->res.error[i], sizeof(c->res.error[i]), "%s", ok ? "" : error);
	ck_assert(ok ? error == NULL && retry_after_ns == 0 : error != NULL && *error);
	if (c->free_in_done) {
		webhook_free(c->w);
		c->w = NULL;
		return;
	}
	while (c->posted < c->to_post && webhook_free_slots(c->w) > 0) {
		struct webhook_delivery d = { .delivery_id = 1000 + c->posted, .attempt = 1, .key = "conc",
					      .key_len = 4, .deadline_unix_ns = 1, .fired_unix_ns = 2 };

		ck_assert_int_eq(webhook_post(c->w, &d, (void *)(intptr_t)c->posted), TD_OK);
		c->posted++;
	}
	if (c->w && webhook_in_flight(c->w) > c->max_in_flight)
		c->max_in_flight = webhook_in_flight(c->w);
}

/* Stops the loop at the deadline. */
static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	*(bool *)arg = true;
}

/* Runs c's loop until want answers came or ms passed; the answers seen. */
static int run_until(struct ctx *c, int want, int ms)
{
	bool expired = false;
	struct event *t = evtimer_new(c->base, on_deadline, &expired);
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

	evtimer_add(t, &tv);
	while (c->res.n < want && !expired)
		event_base_loop(c->base, EVLOOP_ONCE);
	event_free(t);
	return c->res.n;
}

/* A ctx with a webhook to url (NULL: none). */
static void ctx_init(struct ctx *c, const char *url, uint32_t concurrency, int64_t timeout_ns, bool insecure)
{
	struct webhook_config cfg = { .url = url, .group = "billing", .concurrency = concurrency,
				      .timeout_ns = timeout_ns, .insecure = insecure };
	char err[256];

	memset(c, 0, sizeof(*c));
	c->base = event_base_new();
	ck_assert_ptr_nonnull(c->base);
	c->w = webhook_new(c->base, &cfg, on_done, c, err, sizeof(err));
	ck_assert_msg(c->w != NULL, "webhook_new: %s", err);
}

/* Frees c's webhook and loop. */
static void ctx_done(struct ctx *c)
{
	webhook_free(c->w);
	event_base_free(c->base);
}

/* POSTs one delivery (key, attempt) with cookie. */
static void post_one(struct ctx *c, const char *key, uint32_t attempt, intptr_t cookie)
{
	struct webhook_delivery d = { .delivery_id = 42, .attempt = attempt, .key = key, .key_len = strlen(key),
				      .topic = "charges", .topic_len = 7, .payload = (const uint8_t *)"hi", .payload_len = 2,
				      .timer_id = 7, .deadline_unix_ns = 1767225600123456789LL,
				      .fired_unix_ns = 1767225600124000000LL };

	ck_assert_int_eq(webhook_post(c->w, &d, (void *)cookie), TD_OK);
}

/* The URL of the plain (or TLS) server for a test's path. */
static char *url_for(char *buf, size_t len, bool tls, const char *path)
{
	snprintf(buf, len, "%s://127.0.0.1:%d%s", tls ? "https" : "http", tls ? tls_port : plain_port, path);
	return buf;
}

/* Every request the server logged for path, as a JSON array (new reference). */
static json_t *server_requests(const char *log, const char *path)
{
	json_t *all = json_array();
	char line[65536];
	FILE *f = fopen(log, "r");

	while (f && fgets(line, sizeof(line), f)) {
		json_t *o = json_loads(line, 0, NULL);

		if (o && strcmp(json_string_value(json_object_get(o, "path")), path) == 0)
			json_array_append(all, o);
		json_decref(o);
	}
	if (f)
		fclose(f);
	return all;
}

/* A header of a logged request ("" if absent). */
static const char *req_header(json_t *req, const char *name)
{
	const char *v = json_string_value(json_object_get(json_object_get(req, "headers"), name));

	return v ? v : "";
}

START_TEST(test_ok_body_headers)
{
	const char *path = "/s/200/ok";
	char url[256];
	struct ctx c;
	json_t *reqs, *r;

	ctx_init(&c, url_for(url, sizeof(url), false, path), 2, 5 * NSEC, false);
	post_one(&c, "invoice-17", 3, 11);
	ck_assert_int_eq(run_until(&c, 1, 10000), 1);
	ck_assert_msg(c.res.ok[0], "want an ack, got: %s", c.res.error[0]);
	ck_assert_int_eq(c.res.cookie[0], 11);
	reqs = server_requests(plain_log, path);
	ck_assert_int_eq(json_array_size(reqs), 1);
	r = json_array_get(reqs, 0);
	ck_assert_str_eq(json_string_value(json_object_get(r, "body")),
			 "{\"group\":\"billing\",\"delivery_id\":42,\"attempt\":3,\"timer_id\":7,\"key\":\"invoice-17\","
			 "\"topic\":\"charges\",\"payload\":\"aGk=\",\"payload_len\":2,"
			 "\"deadline\":\"2026-01-01T00:00:00.123Z\",\"deadline_unix_ns\":1767225600123456789,"
			 "\"fired\":\"2026-01-01T00:00:00.124Z\",\"fired_unix_ns\":1767225600124000000}");
	ck_assert_str_eq(req_header(r, "Content-Type"), "application/json");
	ck_assert_str_eq(req_header(r, "Idempotency-Key"), "billing-42");
	ck_assert_str_eq(req_header(r, "X-Timerd-Delivery"), "42");
	ck_assert_str_eq(req_header(r, "X-Timerd-Attempt"), "3");
	ck_assert_str_eq(req_header(r, "X-Timerd-Group"), "billing");
	ck_assert_str_eq(req_header(r, "User-Agent"), "timerd/" PACKAGE_VERSION);
	ck_assert_str_eq(req_header(r, "Expect"), "");
	json_decref(reqs);
	uint64_t requests, failures;
	webhook_counts(c.w, &requests, &failures);
	ck_assert_uint_eq(requests, 1);
	ck_assert_uint_eq(failures, 0);
	ctx_done(&c);
}
END_TEST

/* The body of a binary payload and a key that needs escaping in JSON; a group name that needs it in a header. */
START_TEST(test_body_escapes)
{
	const uint8_t payload[] = { 0, 0xff, 0x10, '"' };
	struct webhook_delivery d = { .delivery_id = 1, .attempt = 1, .key = "a\"b\\c\n", .key_len = 6, .payload = payload,
				      .payload_len = sizeof(payload), .deadline_unix_ns = 0, .fired_unix_ns = 0 };
	size_t len;
	char *body = webhook_body("g", &d, &len);
	json_t *o = json_loads(body, 0, NULL);

	ck_assert_ptr_nonnull(o);
	ck_assert_uint_eq(len, strlen(body));
	ck_assert_str_eq(json_string_value(json_object_get(o, "key")), "a\"b\\c\n");
	ck_assert_str_eq(json_string_value(json_object_get(o, "topic")), "");
	ck_assert_str_eq(json_string_value(json_object_get(o, "payload")), "AP8QIg==");
	ck_assert_str_eq(json_string_value(json_object_get(o, "deadline")), "1970-01-01T00:00:00.000Z");
	json_decref(o);
	free(body);

	const char *path = "/s/200/escapes";
	struct webhook_config cfg = { .group = "jobs eu/1", .timeout_ns = 5 * NSEC };
	char url[256], err[256];
	struct ctx c;
	json_t *reqs;

	memset(&c, 0, sizeof(c));
	c.base = event_base_new();
	cfg.url = url_for(url, sizeof(url), false, path);
	ck_assert_ptr_nonnull(c.w = webhook_new(c.base, &cfg, on_done, &c, err, sizeof(err)));
	ck_assert_int_eq(webhook_post(c.w, &d, NULL), TD_OK);
	ck_assert_int_eq(run_until(&c, 1, 10000), 1);
	ck_assert_msg(c.res.ok[0], "%s", c.res.error[0]);
	reqs = server_requests(plain_log, path);
	ck_assert_int_eq(json_array_size(reqs), 1);
	ck_assert_str_eq(req_header(json_array_get(reqs, 0), "Idempotency-Key"), "jobs%20eu%2F1-1");
	ck_assert_str_eq(req_header(json_array_get(reqs, 0), "X-Timerd-Group"), "jobs%20eu%2F1");
	json_decref(reqs);
	ctx_done(&c);
}
END_TEST

START_TEST(test_500_then_200)
{
	const char *path = "/s/500,500,200/retry";
	char url[256];
	struct ctx c;

	ctx_init(&c, url_for(url, sizeof(url), false, path), 2, 5 * NSEC, false);
	for (int i = 0; i < 3; i++) {
		post_one(&c, "k500", (uint32_t)i + 1, i);
		ck_assert_int_eq(run_until(&c, i + 1, 10000), i + 1);
	}
	ck_assert(!c.res.ok[0]);
	ck_assert_str_eq(c.res.error[0], "HTTP 500 Internal Server Error");
	ck_assert_str_eq(c.res.error[1], "HTTP 500 Internal Server Error");
	ck_assert_msg(c.res.ok[2], "third: %s", c.res.error[2]);
	uint64_t requests, failures;
	webhook_counts(c.w, &requests, &failures);
	ck_assert_uint_eq(requests, 3);
	ck_assert_uint_eq(failures, 2);
	ctx_done(&c);
}
END_TEST

/* A status line without a reason phrase (as HTTP/2 answers): the usual phrase, or just the code. */
START_TEST(test_status_without_reason)
{
	const char *path = "/s/503bare,599/bare";
	char url[256];
	struct ctx c;

	ctx_init(&c, url_for(url, sizeof(url), false, path), 1, 5 * NSEC, false);
	for (int i = 0; i < 2; i++) {
		post_one(&c, "kbare", 1, i);
		ck_assert_int_eq(run_until(&c, i + 1, 10000), i + 1);
	}
	ck_assert_str_eq(c.res.error[0], "HTTP 503 Service Unavailable");
	ck_assert_str_eq(c.res.error[1], "HTTP 599");
	ctx_done(&c);
}
END_TEST

/* Retry-After in seconds is handed on (and said); on a 2xx it is not. */
START_TEST(test_retry_after)
{
	const char *path = "/s/503ra7,429ra99999999,200ra3/retry-after";
	char url[256];
	struct ctx c;

	ctx_init(&c, url_for(url, sizeof(url), false, path), 1, 5 * NSEC, false);
	for (int i = 0; i < 3; i++) {
		post_one(&c, "kra", 1, i);
		ck_assert_int_eq(run_until(&c, i + 1, 10000), i + 1);
	}
	ck_assert_str_eq(c.res.error[0], "HTTP 503 Service Unavailable (retry after 7s)");
	ck_assert_int_eq(c.res.retry_after[0], 7 * NSEC);
	ck_assert_str_eq(c.res.error[1], "HTTP 429 Too Many Requests (retry after 1d)");
	ck_assert_int_eq(c.res.retry_after[1], WEBHOOK_RETRY_AFTER_MAX_NS);
	ck_assert(c.res.ok[2]);
	ck_assert_int_eq(c.res.retry_after[2], 0);
	ctx_done(&c);
}
END_TEST

START_TEST(test_timeout)
{
	const char *path = "/s/sleep3/timeout";
	char url[256];
	struct ctx c;
	int64_t t0 = wait_now_ms(), took;

	ctx_init(&c, url_for(url, sizeof(url), false, path), 2, NSEC / 2, false);
	post_one(&c, "kt", 1, 0);
	ck_assert_int_eq(run_until(&c, 1, 10000), 1);
	took = wait_now_ms() - t0;
	ck_assert(!c.res.ok[0]);
	ck_assert_str_eq(c.res.error[0], "timeout after 500ms");
	ck_assert_msg(took >= 450 && took < 2900, "answered after %lld ms, want about 500", (long long)took);
	ctx_done(&c);
}
END_TEST

START_TEST(test_refused)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	char url[256], want[128];
	struct ctx c;

	/* a port that was just free and is bound, not listening: connecting is refused */
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/hook", ntohs(sin.sin_port));
	ctx_init(&c, url, 1, 5 * NSEC, false);
	post_one(&c, "kr", 1, 0);
	ck_assert_int_eq(run_until(&c, 1, 10000), 1);
	snprintf(want, sizeof(want), "connection refused (127.0.0.1 port %d)", ntohs(sin.sin_port));
	ck_assert(!c.res.ok[0]);
	ck_assert_str_eq(c.res.error[0], want);
	close(fd);
	ctx_done(&c);
}
END_TEST

START_TEST(test_unknown_host)
{
	struct ctx c;

	ctx_init(&c, "http://nonexistent.invalid/hook", 1, 5 * NSEC, false);
	post_one(&c, "kh", 1, 0);
	ck_assert_int_eq(run_until(&c, 1, 10000), 1);
	ck_assert(!c.res.ok[0]);
	ck_assert_str_eq(c.res.error[0], "could not resolve host nonexistent.invalid");
	ctx_done(&c);
}
END_TEST

START_TEST(test_redirect_not_followed)
{
	const char *path = "/s/302/redirect";
	char url[256], want[512];
	struct ctx c;
	json_t *reqs;

	ctx_init(&c, url_for(url, sizeof(url), false, path), 1, 5 * NSEC, false);
	post_one(&c, "k302", 1, 0);
	ck_assert_int_eq(run_until(&c, 1, 10000), 1);
	snprintf(want, sizeof(want),
		 "HTTP 302 Found to http://127.0.0.1:%d/moved: redirects are not followed "
		 "(set the group's webhook URL to the final one)", plain_port);
	ck_assert(!c.res.ok[0]);
	ck_assert_str_eq(c.res.error[0], want);
	reqs = server_requests(plain_log, path);
	ck_assert_int_eq(json_array_size(reqs), 1);
	json_decref(reqs);
	ctx_done(&c);
}
END_TEST

START_TEST(test_closed_without_answer)
{
	char url[256];
	struct ctx c;

	ctx_init(&c, url_for(url, sizeof(url), false, "/s/close/close"), 1, 5 * NSEC, false);
	post_one(&c, "kc", 1, 0);
	ck_assert_int_eq(run_until(&c, 1, 10000), 1);
	ck_assert(!c.res.ok[0]);
	ck_assert_str_eq(c.res.error[0], "the server closed the connection without answering");
	ctx_done(&c);
}
END_TEST

START_TEST(test_tls_self_signed)
{
	char url[256];
	struct ctx c;

	ctx_init(&c, url_for(url, sizeof(url), true, "/s/200/tls-verify"), 1, 5 * NSEC, false);
	post_one(&c, "ktls", 1, 0);
	ck_assert_int_eq(run_until(&c, 1, 10000), 1);
	ck_assert(!c.res.ok[0]);
	ck_assert_msg(strcmp(c.res.error[0], "TLS: certificate verify failed (self-signed certificate)") == 0 ||
			      strcmp(c.res.error[0], "TLS: certificate verify failed (self signed certificate)") == 0,
		      "got: %s", c.res.error[0]);
	ctx_done(&c);
}
END_TEST

START_TEST(test_tls_insecure)
{
	const char *path = "/s/200/tls-insecure";
	char url[256];
	struct ctx c;
	json_t *reqs;

	ctx_init(&c, url_for(url, sizeof(url), true, path), 1, 5 * NSEC, true);
	post_one(&c, "ktls2", 1, 0);
	ck_assert_int_eq(run_until(&c, 1, 10000), 1);
	ck_assert_msg(c.res.ok[0], "want an ack over TLS with insecure, got: %s", c.res.error[0]);
	reqs = server_requests(tls_log, path);
	ck_assert_int_eq(json_array_size(reqs), 1);
	ck_assert_str_eq(req_header(json_array_get(reqs, 0), "X-Timerd-Delivery"), "42");
	json_decref(reqs);
	ctx_done(&c);
}
END_TEST

/* https to a plain HTTP server: a handshake failure in words. */
START_TEST(test_tls_to_plain)
{
	char url[256];
	struct ctx c;

	snprintf(url, sizeof(url), "https://127.0.0.1:%d/s/200/tls-plain", plain_port);
	ctx_init(&c, url, 1, 5 * NSEC, false);
	post_one(&c, "ktp", 1, 0);
	ck_assert_int_eq(run_until(&c, 1, 10000), 1);
	ck_assert(!c.res.ok[0]);
	ck_assert_msg(strncmp(c.res.error[0], "TLS: handshake failed (", 23) == 0, "got: %s", c.res.error[0]);
	ctx_done(&c);
}
END_TEST

START_TEST(test_concurrency)
{
	const char *path = "/s/hold0.2/concurrency";
	char url[256];
	struct ctx c;
	json_t *reqs;
	int64_t most = 0;
	const int total = 12;

	ctx_init(&c, url_for(url, sizeof(url), false, path), 3, 5 * NSEC, false);
	c.to_post = total;
	while (webhook_free_slots(c.w) > 0) {
		struct webhook_delivery d = { .delivery_id = 1000 + c.posted, .attempt = 1, .key = "conc", .key_len = 4 };

		ck_assert_int_eq(webhook_post(c.w, &d, (void *)(intptr_t)c.posted), TD_OK);
		c.posted++;
	}
	ck_assert_int_eq(c.posted, 3);
	ck_assert_uint_eq(webhook_in_flight(c.w), 3);
	struct webhook_delivery extra = { .delivery_id = 9, .attempt = 1 };
	ck_assert_int_eq(webhook_post(c.w, &extra, NULL), TD_ETOOMANY);
	ck_assert_int_eq(run_until(&c, total, 20000), total);
	for (int i = 0; i < total; i++)
		ck_assert_msg(c.res.ok[i], "answer %d: %s", i, c.res.error[i]);
	ck_assert_uint_le(c.max_in_flight, 3);
	reqs = server_requests(plain_log, path);
	ck_assert_int_eq(json_array_size(reqs), total);
	json_int_t ports[16];
	size_t nports = 0;

	for (size_t i = 0; i < json_array_size(reqs); i++) {
		json_int_t n = json_integer_value(json_object_get(json_array_get(reqs, i), "concurrent"));
		json_int_t port = json_integer_value(json_object_get(json_array_get(reqs, i), "peer_port"));
		size_t k = 0;

		most = n > most ? n : most;
		while (k < nports && ports[k] != port)
			k++;
		if (k == nports && nports < 16)
			ports[nports++] = port;
	}
	/* the multi handle's connection cache: 12 requests over at most 3 kept-alive connections */
	ck_assert_msg(nports <= 3, "12 requests came over %zu connections: keep-alive not reused", nports);
	/* the server counts a request from its body read to its answer: never more than curl has in flight */
	ck_assert_msg(most <= 3, "the server saw %lld requests at once, the limit is 3", (long long)most);
	ck_assert_msg(most >= 2, "the server never saw two requests at once (%lld): the requests were serialised",
		      (long long)most);
	json_decref(reqs);
	ctx_done(&c);
}
END_TEST

/* Freed with requests in flight: done is not called, nothing leaks (ASan). */
START_TEST(test_free_in_flight)
{
	char url[256];
	struct ctx c;

	ctx_init(&c, url_for(url, sizeof(url), false, "/s/hold0.5/free"), 2, 5 * NSEC, false);
	post_one(&c, "kf1", 1, 0);
	post_one(&c, "kf2", 1, 1);
	run_until(&c, 1, 100);		/* connect and send */
	ck_assert_int_eq(c.res.n, 0);
	webhook_free(c.w);
	c.w = NULL;
	ck_assert_int_eq(run_until(&c, 1, 700), 0);
	event_base_free(c.base);
}
END_TEST

/* Freed inside its own done callback, with another request still in flight. */
START_TEST(test_free_in_done)
{
	char url[256];
	struct ctx c;

	ctx_init(&c, url_for(url, sizeof(url), false, "/s/200/free-in-done"), 2, 5 * NSEC, false);
	c.free_in_done = true;
	post_one(&c, "kd1", 1, 0);
	post_one(&c, "kd2", 1, 1);
	ck_assert_int_eq(run_until(&c, 1, 10000), 1);
	ck_assert_ptr_null(c.w);
	ck_assert_int_eq(run_until(&c, 2, 300), 1);
	event_base_free(c.base);
}
END_TEST

START_TEST(test_check_url)
{
	char err[256];

	ck_assert_int_eq(webhook_check_url("http://127.0.0.1:8080/hook", err, sizeof(err)), 0);
	ck_assert_int_eq(webhook_check_url("https://example.com/a?b=c", err, sizeof(err)), 0);
	ck_assert_int_eq(webhook_check_url("ftp://example.com/", err, sizeof(err)), -1);
	ck_assert_str_eq(err, "the webhook URL's scheme is ftp: only http:// and https:// are supported");
	ck_assert_int_eq(webhook_check_url("not a url", err, sizeof(err)), -1);
	ck_assert_msg(strncmp(err, "the webhook URL is not a URL (", 30) == 0 &&
			      strstr(err, "): give http://HOST[:PORT]/PATH or https://...") != NULL, "got: %s", err);
	ck_assert_int_eq(webhook_check_url("http://u:secret@h:99999/", err, sizeof(err)), -1);
	ck_assert_ptr_null(strstr(err, "secret"));
	ck_assert_int_eq(webhook_check_url("", err, sizeof(err)), -1);
	ck_assert_str_eq(err, "the webhook URL is not a URL (empty): give http://HOST[:PORT]/PATH or https://...");
	ck_assert_int_eq(webhook_check_url("http://user:pw@example.com/", err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "user name or password"));
	ck_assert_ptr_null(strstr(err, "pw"));	/* the password is not repeated */

	struct webhook_config cfg = { .url = "http://x/", .concurrency = WEBHOOK_CONCURRENCY_MAX + 1, .timeout_ns = NSEC };
	struct event_base *base = event_base_new();
	ck_assert_ptr_null(webhook_new(base, &cfg, on_done, NULL, err, sizeof(err)));
	ck_assert_str_eq(err, "webhook concurrency 1001 is more than 1000: give at most 1000");
	cfg.concurrency = 0;
	cfg.timeout_ns = 0;
	ck_assert_ptr_null(webhook_new(base, &cfg, on_done, NULL, err, sizeof(err)));
	cfg.timeout_ns = NSEC;
	struct webhook *w = webhook_new(base, &cfg, on_done, NULL, err, sizeof(err));
	ck_assert_ptr_nonnull(w);
	ck_assert_uint_eq(webhook_free_slots(w), WEBHOOK_CONCURRENCY_DEFAULT);
	webhook_free(w);
	event_base_free(base);
}
END_TEST

/* The suite: every case, each with a bounded run time. */
static Suite *webhook_suite(void)
{
	Suite *s = suite_create("webhook");
	TCase *tc = tcase_create("webhook");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_check_url);
	tcase_add_test(tc, test_ok_body_headers);
	tcase_add_test(tc, test_body_escapes);
	tcase_add_test(tc, test_500_then_200);
	tcase_add_test(tc, test_status_without_reason);
	tcase_add_test(tc, test_retry_after);
	tcase_add_test(tc, test_timeout);
	tcase_add_test(tc, test_refused);
	tcase_add_test(tc, test_unknown_host);
	tcase_add_test(tc, test_redirect_not_followed);
	tcase_add_test(tc, test_closed_without_answer);
	tcase_add_test(tc, test_tls_self_signed);
	tcase_add_test(tc, test_tls_insecure);
	tcase_add_test(tc, test_tls_to_plain);
	tcase_add_test(tc, test_concurrency);
	tcase_add_test(tc, test_free_in_flight);
	tcase_add_test(tc, test_free_in_done);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	char err[256] = "", cert[128], key[128], cmd[160];
	SRunner *sr;
	int failed;

	if (access("/usr/bin/python3", X_OK) != 0 || system("command -v openssl >/dev/null 2>&1") != 0) {
		fprintf(stderr, "SKIP: needs /usr/bin/python3 and openssl\n");
		return 77;
	}
	unsetenv("http_proxy"), unsetenv("https_proxy"), unsetenv("HTTP_PROXY"), unsetenv("HTTPS_PROXY");
	unsetenv("all_proxy"), unsetenv("ALL_PROXY");
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test-webhook.XXXXXX");
	if (!mkdtemp(tmpdir) || make_cert() < 0) {
		fprintf(stderr, "cannot make %s or a certificate in it\n", tmpdir);
		return 1;
	}
	snprintf(cert, sizeof(cert), "%s/cert.pem", tmpdir);
	snprintf(key, sizeof(key), "%s/key.pem", tmpdir);
	plain_port = server_start("plain", "--schedule", "200", NULL, NULL, &plain_pid, plain_log, sizeof(plain_log));
	tls_port = server_start("tls", "--tls-cert", cert, "--tls-key", key, &tls_pid, tls_log, sizeof(tls_log));
	if (plain_port <= 0 || tls_port <= 0 || webhook_global_init(err, sizeof(err)) < 0) {
		fprintf(stderr, "cannot start the test servers (ports %d, %d) or libcurl: %s\n", plain_port, tls_port, err);
		return 1;
	}
	sr = srunner_create(webhook_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	webhook_global_cleanup();
	kill(plain_pid, SIGKILL);
	kill(tls_pid, SIGKILL);
	waitpid(plain_pid, NULL, 0);
	waitpid(tls_pid, NULL, 0);
	if (getenv("TEST_WEBHOOK_KEEP")) return failed ? 1 : 0;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
	return failed ? 1 : 0;
}
