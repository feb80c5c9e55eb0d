/*
 * webhook.c -- HTTP(S) callbacks for consumer groups: each delivery POSTed
 * as JSON to the group's URL through libcurl's multi interface, whose
 * sockets and timeout are events on the caller's event_base
 * (CURLMOPT_SOCKETFUNCTION, CURLMOPT_TIMERFUNCTION, curl_multi_socket_action):
 * nothing blocks and nothing polls.
 *
 * A webhook owns one multi handle (its connection cache: keep-alive to the
 * URL's host) and `concurrency` request slots, each with an easy handle
 * made on first use and reused for later requests (its options set once).
 * A slot's state:
 *
 *	IDLE --webhook_post--> BUSY --answer (done called)--> IDLE
 *	BUSY --webhook_free--> (aborted, done not called)
 *
 * The answer is classified for a person: 2xx acks; a status, a timeout, a
 * refused connection, a TLS failure or an unknown host each get their own
 * words (webhook_classify). Response bodies are discarded as they arrive.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <jansson.h>

#include "core/err.h"
#include "proto/units.h"
#include "server/http-json.h"
#include "server/log.h"
#include "server/webhook.h"

/* A request slot's state (transitions in the file's comment). */
enum webhook_req_state {
	WEBHOOK_REQ_IDLE,
	WEBHOOK_REQ_BUSY,
};

/* One request slot: its easy handle and what its request needs until the answer. */
struct webhook_req {
	struct webhook *w;
	CURL *easy;			/* NULL until first used; then reused */
	enum webhook_req_state state;
	struct curl_slist *headers;	/* this request's */
	char *body;			/* this request's JSON */
	void *cookie;
	struct webhook_req *next_idle;
	char status[96];		/* the last status line's reason phrase */
	int64_t retry_after_ns;		/* the answer's Retry-After (delay-seconds form), 0: none */
	char errbuf[CURL_ERROR_SIZE];
};

/* A socket curl asked us to watch (curl_multi_assign'd to it). */
struct webhook_sock {
	struct webhook *w;
	struct event *ev;
	struct webhook_sock *prev, *next;
};

/* Lifetime of a webhook: freed at once, or after the answers being dispatched. */
enum webhook_state {
	WEBHOOK_LIVE,
	WEBHOOK_DYING,			/* webhook_free inside done: freed when the dispatch returns */
};

struct webhook {
	struct event_base *base;
	CURLM *multi;
	struct event *timer;		/* curl's timeout */
	webhook_done_fn done;
	void *arg;
	char *url, *group, *group_esc, *host, *port;
	int64_t timeout_ns;
	bool insecure;
	enum webhook_state state;
	int dispatching;		/* depth of webhook_reap on the stack */
	uint32_t concurrency, in_flight;
	uint64_t requests, failures;
	struct webhook_sock *socks;	/* every socket watched, freed at the end */
	struct webhook_req *idle;	/* stack of idle slots */
	struct webhook_req reqs[];	/* concurrency of them */
};

static void webhook_reap(struct webhook *w);

/* Initialises libcurl once for the process; 0 or -1 with err. */
int webhook_global_init(char *err, size_t errlen)
{
	CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);

	if (rc != CURLE_OK)
		return td_errf(err, errlen, "cannot initialise libcurl: %s", curl_easy_strerror(rc));
	return 0;
}

/* Releases libcurl's global state. */
void webhook_global_cleanup(void)
{
	curl_global_cleanup();
}

/*
 * Checks url (http or https with a host, no credentials); 0 or -1 with
 * err, which never repeats the URL (it may hold a secret).
 */
int webhook_check_url(const char *url, char *err, size_t errlen)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *user = NULL;
	int rc = -1;

	if (!u)
		return td_errf(err, errlen, "out of memory");
	if (!url || !*url || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
		td_errf(err, errlen, "the webhook URL is not a URL (%s): give http://HOST[:PORT]/PATH or https://...",
			url && *url ? curl_url_strerror(curl_url_set(u, CURLUPART_URL, url, 0)) : "empty");
	else if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
		 (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0))
		td_errf(err, errlen, "the webhook URL's scheme is %s: only http:// and https:// are supported",
			scheme ? scheme : "missing");
	else if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host)
		td_errf(err, errlen, "the webhook URL has no host: give http://HOST[:PORT]/PATH or https://...");
	else if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK)
		td_errf(err, errlen, "the webhook URL holds a user name or password (not repeated here): timerd "
			"keeps group settings in timers.db and shows them in 'group show'; give a secret in the "
			"path or query instead, over https");
	else
		rc = 0;
	curl_free(scheme);
	curl_free(host);
	curl_free(user);
	curl_url_cleanup(u);
	return rc;
}

/* A part of a URL already checked (HOST, or PORT with the scheme's default), malloc'd ("" if curl cannot say). */
static char *webhook_url_part(const char *url, CURLUPart what)
{
	CURLU *u = curl_url();
	char *part = NULL, *copy;

	if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK)
		curl_url_get(u, what, &part, what == CURLUPART_PORT ? CURLU_DEFAULT_PORT : 0);
	copy = strdup(part ? part : "");
	curl_free(part);
	curl_url_cleanup(u);
	return copy;
}

/* Sets o[name] to a string of n bytes (or to base64 in name_base64 if it is not UTF-8); false if out of memory. */
static bool webhook_json_text(json_t *o, const char *name, const char *s, size_t n)
{
	char b64name[32];
	json_t *v;

	if (!s)
		return json_object_set_new(o, name, json_string("")) == 0;
	if ((v = json_stringn(s, n)) != NULL)
		return json_object_set_new(o, name, v) == 0;
	snprintf(b64name, sizeof(b64name), "%s_base64", name);	/* not UTF-8: timerd checks keys and topics, so unexpected */
	return json_object_set_new(o, name, json_null()) == 0 &&
	       json_object_set_new(o, b64name, httpj_base64((const uint8_t *)s, n)) == 0;
}

/* Sets o[name] to the RFC 3339 time and o[name_unix_ns] to the ns; false if out of memory. */
static bool webhook_json_time(json_t *o, const char *name, int64_t unix_ns)
{
	char buf[UNITS_BUFSZ], nsname[32];

	snprintf(nsname, sizeof(nsname), "%s_unix_ns", name);
	return json_object_set_new(o, name, json_string(units_time_format(unix_ns, true, buf, sizeof(buf)))) == 0 &&
	       json_object_set_new(o, nsname, json_integer(unix_ns)) == 0;
}

/* The JSON body for d (doc/delivery.md, "Webhooks"); malloc'd, or NULL if out of memory. */
char *webhook_body(const char *group, const struct webhook_delivery *d, size_t *len)
{
	json_t *o = json_object();
	char *s = NULL;
	bool ok;

	ok = o && json_object_set_new(o, "group", json_string(group ? group : "")) == 0 &&
	     json_object_set_new(o, "delivery_id", json_integer((json_int_t)d->delivery_id)) == 0 &&
	     json_object_set_new(o, "attempt", json_integer(d->attempt)) == 0 &&
	     json_object_set_new(o, "timer_id", json_integer((json_int_t)d->timer_id)) == 0 &&
	     webhook_json_text(o, "key", d->key, d->key_len) &&
	     webhook_json_text(o, "topic", d->topic, d->topic_len) &&
	     json_object_set_new(o, "payload", httpj_base64(d->payload, d->payload_len)) == 0 &&
	     json_object_set_new(o, "payload_len", json_integer((json_int_t)d->payload_len)) == 0 &&
	     webhook_json_time(o, "deadline", d->deadline_unix_ns) &&
	     webhook_json_time(o, "fired", d->fired_unix_ns);
	if (ok)
		s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (s && len)
		*len = strlen(s);
	return s;
}

/* Copies n bytes of s into dst (size dstlen): printable ASCII only (others become '?'), cut at CR/LF, no trailing blanks. */
static void webhook_copy_text(char *dst, size_t dstlen, const char *s, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < n && k + 1 < dstlen && s[i] != '\r' && s[i] != '\n'; i++)
		dst[k++] = (unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x7f ? s[i] : '?';
	while (k > 0 && dst[k - 1] == ' ')
		k--;
	dst[k] = '\0';
}

/* Discards the response body as it comes (nothing is buffered). */
static size_t webhook_write(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

/* Reads a Retry-After value in seconds ("120"; an HTTP date is ignored) into r, cut to WEBHOOK_RETRY_AFTER_MAX_NS. */
static void webhook_retry_after(struct webhook_req *r, const char *p, size_t n)
{
	int64_t secs = 0;
	size_t i = 0;

	while (i < n && (p[i] == ' ' || p[i] == '\t'))
		i++;
	if (i == n || p[i] < '0' || p[i] > '9')
		return;
	for (; i < n && p[i] >= '0' && p[i] <= '9'; i++)
		if ((secs = secs * 10 + (p[i] - '0')) > WEBHOOK_RETRY_AFTER_MAX_NS / 1000000000LL)
			secs = WEBHOOK_RETRY_AFTER_MAX_NS / 1000000000LL;
	while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
		i++;
	if (i == n)	/* nothing after the number: the delay-seconds form */
		r->retry_after_ns = secs * 1000000000LL;
}

/* Keeps the reason phrase of each status line ("HTTP/1.1 500 Internal Server Error": "Internal Server Error"). */
static size_t webhook_header(char *p, size_t size, size_t n, void *arg)
{
	struct webhook_req *r = arg;
	size_t len = size * n, i = 0;

	if (len > 12 && strncasecmp(p, "Retry-After:", 12) == 0) {
		webhook_retry_after(r, p + 12, len - 12);
		return len;
	}
	if (len < 5 || memcmp(p, "HTTP/", 5) != 0)
		return len;
	r->retry_after_ns = 0;	/* a new answer (after a 100 Continue, say) */
	for (int field = 0; field < 2 && i < len; field++) {	/* skip the version and the code */
		while (i < len && p[i] != ' ')
			i++;
		while (i < len && p[i] == ' ')
			i++;
	}
	webhook_copy_text(r->status, sizeof(r->status), p + i, len - i);
	return len;
}

/* Sets the options a slot's easy handle keeps for every request; 0 or -1. */
static int webhook_easy_setup(struct webhook *w, struct webhook_req *r)
{
	long timeout_ms = (long)((w->timeout_ns + 999999) / 1000000);
	CURL *e = r->easy;
	bool ok;

	ok = curl_easy_setopt(e, CURLOPT_URL, w->url) == CURLE_OK &&
	     curl_easy_setopt(e, CURLOPT_POST, 1L) == CURLE_OK &&
	     curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
	     curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 1L) == CURLE_OK &&
	     curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK &&
#if LIBCURL_VERSION_NUM >= 0x075500
	     curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK &&
#else
	     curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS)) == CURLE_OK &&
#endif
	     curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, w->insecure ? 0L : 1L) == CURLE_OK &&
	     curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, w->insecure ? 0L : 2L) == CURLE_OK &&
	     curl_easy_setopt(e, CURLOPT_USERAGENT, "timerd/" PACKAGE_VERSION) == CURLE_OK &&
	     curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf) == CURLE_OK &&
	     curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, webhook_write) == CURLE_OK &&
	     curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, webhook_header) == CURLE_OK &&
	     curl_easy_setopt(e, CURLOPT_HEADERDATA, r) == CURLE_OK &&
	     curl_easy_setopt(e, CURLOPT_PRIVATE, r) == CURLE_OK &&
	     curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L) == CURLE_OK;
	return ok ? 0 : -1;
}

/* The headers of one request (the group percent-encoded); NULL if out of memory. */
static struct curl_slist *webhook_headers(const struct webhook *w, const struct webhook_delivery *d)
{
	char lines[7][1024];	/* a group name percent-encoded: up to 3 bytes per byte */
	struct curl_slist *h = NULL, *t;
	unsigned long long id = (unsigned long long)d->delivery_id;

	snprintf(lines[0], sizeof(lines[0]), "Content-Type: application/json");
	snprintf(lines[1], sizeof(lines[1]), "Expect:");	/* no 100-continue round trip */
	snprintf(lines[2], sizeof(lines[2]), "Accept: */*");
	snprintf(lines[3], sizeof(lines[3]), "Idempotency-Key: %.900s-%llu", w->group_esc, id);
	snprintf(lines[4], sizeof(lines[4]), "X-Timerd-Delivery: %llu", id);
	snprintf(lines[5], sizeof(lines[5]), "X-Timerd-Attempt: %u", d->attempt);
	snprintf(lines[6], sizeof(lines[6]), "X-Timerd-Group: %.900s", w->group_esc);
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		if (!(t = curl_slist_append(h, lines[i]))) {
			curl_slist_free_all(h);
			return NULL;
		}
		h = t;
	}
	return h;
}

/* Returns a slot to the idle stack, dropping its request's body and headers. */
static void webhook_req_release(struct webhook *w, struct webhook_req *r)
{
	curl_slist_free_all(r->headers);
	free(r->body);
	r->headers = NULL;
	r->body = NULL;
	r->cookie = NULL;
	r->state = WEBHOOK_REQ_IDLE;
	r->next_idle = w->idle;
	w->idle = r;
	w->in_flight--;
}

/* Starts a POST of d; TD_OK, TD_ETOOMANY (all slots busy), TD_ENOMEM or TD_ESYS. */
int webhook_post(struct webhook *w, const struct webhook_delivery *d, void *cookie)
{
	struct webhook_req *r = w->idle;
	size_t len = 0;
	CURLMcode mc;

	if (!r || w->state != WEBHOOK_LIVE)
		return TD_ETOOMANY;
	if (!r->easy) {
		if (!(r->easy = curl_easy_init()))
			return TD_ENOMEM;
		if (webhook_easy_setup(w, r) < 0) {
			curl_easy_cleanup(r->easy);
			r->easy = NULL;
			return TD_ESYS;
		}
	}
	if (!(r->body = webhook_body(w->group, d, &len)) || !(r->headers = webhook_headers(w, d))) {
		free(r->body);
		r->body = NULL;
		return TD_ENOMEM;
	}
	curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, r->body);	/* not copied: freed when the answer is in */
	curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers);
	r->status[0] = r->errbuf[0] = '\0';
	r->retry_after_ns = 0;
	r->cookie = cookie;
	w->idle = r->next_idle;
	r->state = WEBHOOK_REQ_BUSY;
	w->in_flight++;
	if ((mc = curl_multi_add_handle(w->multi, r->easy)) != CURLM_OK) {
		log_warn("webhook %s: curl_multi_add_handle: %s", w->url, curl_multi_strerror(mc));
		webhook_req_release(w, r);
		return TD_ESYS;
	}
	w->requests++;
	return TD_OK;
}

/* The curl error text of r without curl's own prefixes ("SSL certificate problem: ") for the words after ours. */
static const char *webhook_detail(struct webhook_req *r, CURLcode rc)
{
	static const char *const prefixes[] = { "SSL certificate problem: ", "SSL: " };
	const char *s = r->errbuf[0] ? r->errbuf : curl_easy_strerror(rc);
	size_t n;

	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (strncmp(s, prefixes[i], (n = strlen(prefixes[i]))) == 0)
			s += n;
	return s;
}

/* Words for a transfer that failed (rc != CURLE_OK) into out. */
static void webhook_classify_curl(struct webhook *w, struct webhook_req *r, CURLcode rc, char *out, size_t len)
{
	char dur[UNITS_BUFSZ], detail[WEBHOOK_ERROR_MAX - 64];	/* room for our words around it */
	const char *d = webhook_detail(r, rc);
	char ebuf[64];
	long oserr = 0;
	curl_off_t connected = 0;

	webhook_copy_text(detail, sizeof(detail), d, strlen(d));
	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT:
		curl_easy_getinfo(r->easy, CURLINFO_CONNECT_TIME_T, &connected);
		snprintf(out, len, "timeout after %s%s%s", units_duration_format(w->timeout_ns, dur, sizeof(dur)),
			 connected ? "" : " connecting to ", connected ? "" : w->host);
		return;
	case CURLE_COULDNT_CONNECT:
		curl_easy_getinfo(r->easy, CURLINFO_OS_ERRNO, &oserr);
		snprintf(out, len, "%s (%.100s port %s)", oserr == ECONNREFUSED ? "connection refused" :
			 oserr ? strerror_r((int)oserr, ebuf, sizeof(ebuf)) : "could not connect", w->host, w->port);
		return;
	case CURLE_COULDNT_RESOLVE_HOST:
		snprintf(out, len, "could not resolve host %s", w->host);
		return;
	case CURLE_PEER_FAILED_VERIFICATION:
		snprintf(out, len, "TLS: certificate verify failed (%s)", detail);
		return;
	case CURLE_SSL_CONNECT_ERROR:
		snprintf(out, len, "TLS: handshake failed (%s)", detail);
		return;
	case CURLE_SSL_CACERT_BADFILE:
		snprintf(out, len, "TLS: cannot read the system's CA certificates (%s)", detail);
		return;
	case CURLE_GOT_NOTHING:
		snprintf(out, len, "the server closed the connection without answering");
		return;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
		snprintf(out, len, "connection lost (%s)", detail);
		return;
	default:
		snprintf(out, len, "%s (%s)", curl_easy_strerror(rc), detail);
		return;
	}
}

/* The reason phrase of a common status, for answers without one (HTTP/2 has none); "" if not known. */
static const char *webhook_reason(long code)
{
	static const struct { long code; const char *reason; } reasons[] = {
		{ 400, "Bad Request" }, { 401, "Unauthorized" }, { 403, "Forbidden" }, { 404, "Not Found" },
		{ 405, "Method Not Allowed" }, { 408, "Request Timeout" }, { 409, "Conflict" }, { 410, "Gone" },
		{ 413, "Content Too Large" }, { 415, "Unsupported Media Type" }, { 422, "Unprocessable Content" },
		{ 429, "Too Many Requests" }, { 500, "Internal Server Error" }, { 501, "Not Implemented" },
		{ 502, "Bad Gateway" }, { 503, "Service Unavailable" }, { 504, "Gateway Timeout" },
	};

	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (reasons[i].code == code)
			return reasons[i].reason;
	return "";
}

/* Classifies r's answer: true for a 2xx; else the words for a person in out. */
static bool webhook_classify(struct webhook *w, struct webhook_req *r, CURLcode rc, char *out, size_t len)
{
	char where[160] = "", dur[UNITS_BUFSZ];
	char *loc = NULL;
	long code = 0;

	if (rc != CURLE_OK) {
		webhook_classify_curl(w, r, rc, out, len);
		return false;
	}
	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
	if (code >= 200 && code < 300)
		return true;
	if (code >= 300 && code < 400) {
		if (curl_easy_getinfo(r->easy, CURLINFO_REDIRECT_URL, &loc) == CURLE_OK && loc)
			webhook_copy_text(where, sizeof(where), loc, strlen(loc));
		snprintf(out, len, "HTTP %ld%s%s%s%s: redirects are not followed (set the group's webhook URL to the final one)",
			 code, r->status[0] ? " " : "", r->status, where[0] ? " to " : "", where);
		return false;
	}
	if (!r->status[0])
		snprintf(r->status, sizeof(r->status), "%s", webhook_reason(code));
	if (r->retry_after_ns > 0)
		snprintf(out, len, "HTTP %ld%s%s (retry after %s)", code, r->status[0] ? " " : "", r->status,
			 units_duration_format(r->retry_after_ns, dur, sizeof(dur)));
	else
		snprintf(out, len, "HTTP %ld%s%s", code, r->status[0] ? " " : "", r->status);
	return false;
}

/* Finishes r's request (its easy handle already out of the multi): counts, frees the slot, calls done. */
static void webhook_finish(struct webhook *w, struct webhook_req *r, CURLcode rc)
{
	char error[WEBHOOK_ERROR_MAX] = "";
	void *cookie = r->cookie;
	bool ok = webhook_classify(w, r, rc, error, sizeof(error));
	int64_t retry_after = ok || rc != CURLE_OK ? 0 : r->retry_after_ns;

	if (!ok)
		w->failures++;
	webhook_req_release(w, r);
	w->done(w->arg, cookie, ok, ok ? NULL : error, retry_after);
}

/* Frees everything of w (no request is being dispatched). */
static void webhook_destroy(struct webhook *w)
{
	for (uint32_t i = 0; i < w->concurrency; i++) {
		struct webhook_req *r = &w->reqs[i];

		if (r->state == WEBHOOK_REQ_BUSY) {
			curl_multi_remove_handle(w->multi, r->easy);
			curl_slist_free_all(r->headers);
			free(r->body);
		}
		if (r->easy)
			curl_easy_cleanup(r->easy);
	}
	if (w->multi)
		curl_multi_cleanup(w->multi);	/* may still tell the socket callback to stop watching */
	while (w->socks) {
		struct webhook_sock *s = w->socks;

		w->socks = s->next;
		event_free(s->ev);
		free(s);
	}
	if (w->timer)
		event_free(w->timer);
	free(w->url);
	free(w->group);
	curl_free(w->group_esc);
	free(w->host);
	free(w->port);
	free(w);
}

/* Frees w now, or when the dispatch of answers that called us returns. */
void webhook_free(struct webhook *w)
{
	if (!w)
		return;
	if (w->dispatching > 0) {
		w->state = WEBHOOK_DYING;
		return;
	}
	webhook_destroy(w);
}

/* Hands every finished transfer to done; frees w after it if done asked for that. */
static void webhook_reap(struct webhook *w)
{
	CURLMsg *m;
	int left;

	w->dispatching++;
	while (w->state == WEBHOOK_LIVE && (m = curl_multi_info_read(w->multi, &left)) != NULL) {
		struct webhook_req *r = NULL;
		CURLcode rc = m->data.result;	/* m is not valid after the handle is removed */

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		curl_multi_remove_handle(w->multi, r->easy);
		webhook_finish(w, r, rc);
	}
	if (--w->dispatching == 0 && w->state == WEBHOOK_DYING)
		webhook_destroy(w);
}

/* A watched socket is ready: tell curl, then hand out what finished. */
static void webhook_sock_event(evutil_socket_t fd, short what, void *arg)
{
	struct webhook *w = arg;
	int flags = (what & EV_READ ? CURL_CSELECT_IN : 0) | (what & EV_WRITE ? CURL_CSELECT_OUT : 0);
	int running;

	curl_multi_socket_action(w->multi, fd, flags, &running);
	webhook_reap(w);
}

/* curl's timeout expired: tell curl, then hand out what finished. */
static void webhook_timer_event(evutil_socket_t fd, short what, void *arg)
{
	struct webhook *w = arg;
	int running;

	(void)fd;
	(void)what;
	curl_multi_socket_action(w->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	webhook_reap(w);
}

/* CURLMOPT_TIMERFUNCTION: (re)arms or stops the one timeout curl wants (run from the loop, never from here). */
static int webhook_timer_cb(CURLM *multi, long timeout_ms, void *arg)
{
	struct webhook *w = arg;
	struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };

	(void)multi;
	if (timeout_ms < 0)
		return evtimer_del(w->timer) == 0 ? 0 : -1;
	return evtimer_add(w->timer, &tv) == 0 ? 0 : -1;
}

/* Stops watching s and frees it. */
static void webhook_sock_drop(struct webhook *w, struct webhook_sock *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		w->socks = s->next;
	if (s->next)
		s->next->prev = s->prev;
	event_free(s->ev);
	free(s);
}

/* CURLMOPT_SOCKETFUNCTION: watches fd for what curl wants (in, out, both) or stops watching it. */
static int webhook_sock_cb(CURL *easy, curl_socket_t fd, int what, void *arg, void *sockp)
{
	struct webhook *w = arg;
	struct webhook_sock *s = sockp;
	short events = EV_PERSIST | (what & CURL_POLL_IN ? EV_READ : 0) | (what & CURL_POLL_OUT ? EV_WRITE : 0);

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (s)
			webhook_sock_drop(w, s);
		return 0;
	}
	if (!s) {
		if (!(s = calloc(1, sizeof(*s))))
			return -1;
		s->w = w;
		s->next = w->socks;
		if (w->socks)
			w->socks->prev = s;
		w->socks = s;
		curl_multi_assign(w->multi, fd, s);
	} else {
		event_free(s->ev);
	}
	if (!(s->ev = event_new(w->base, fd, events, webhook_sock_event, w)) || event_add(s->ev, NULL) < 0) {
		curl_multi_assign(w->multi, fd, NULL);
		webhook_sock_drop(w, s);
		return -1;
	}
	return 0;
}

/* Makes a webhook for cfg on base; NULL with err. */
struct webhook *webhook_new(struct event_base *base, const struct webhook_config *cfg, webhook_done_fn done,
			    void *arg, char *err, size_t errlen)
{
	uint32_t n = cfg->concurrency ? cfg->concurrency : WEBHOOK_CONCURRENCY_DEFAULT;
	struct webhook *w;

	if (webhook_check_url(cfg->url, err, errlen) < 0)
		return NULL;
	if (n > WEBHOOK_CONCURRENCY_MAX) {
		td_errf(err, errlen, "webhook concurrency %u is more than %u: give at most %u", n,
			WEBHOOK_CONCURRENCY_MAX, WEBHOOK_CONCURRENCY_MAX);
		return NULL;
	}
	if (cfg->timeout_ns <= 0) {
		td_errf(err, errlen, "webhook timeout must be positive");
		return NULL;
	}
	if (!(w = calloc(1, sizeof(*w) + n * sizeof(w->reqs[0])))) {
		td_errf(err, errlen, "out of memory");
		return NULL;
	}
	w->base = base;
	w->done = done;
	w->arg = arg;
	w->concurrency = n;
	w->timeout_ns = cfg->timeout_ns;
	w->insecure = cfg->insecure;
	w->url = strdup(cfg->url);
	w->group = strdup(cfg->group ? cfg->group : "");
	w->host = webhook_url_part(cfg->url, CURLUPART_HOST);
	w->port = webhook_url_part(cfg->url, CURLUPART_PORT);
	w->group_esc = w->group ? curl_easy_escape(NULL, w->group, 0) : NULL;
	w->multi = curl_multi_init();
	w->timer = evtimer_new(base, webhook_timer_event, w);
	for (uint32_t i = n; i-- > 0;) {
		w->reqs[i].w = w;
		w->reqs[i].next_idle = w->idle;
		w->idle = &w->reqs[i];
	}
	if (!w->url || !w->group || !w->host || !w->port || !w->group_esc || !w->multi || !w->timer ||
	    curl_multi_setopt(w->multi, CURLMOPT_SOCKETFUNCTION, webhook_sock_cb) != CURLM_OK ||
	    curl_multi_setopt(w->multi, CURLMOPT_SOCKETDATA, w) != CURLM_OK ||
	    curl_multi_setopt(w->multi, CURLMOPT_TIMERFUNCTION, webhook_timer_cb) != CURLM_OK ||
	    curl_multi_setopt(w->multi, CURLMOPT_TIMERDATA, w) != CURLM_OK ||
	    curl_multi_setopt(w->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)n) != CURLM_OK) {
		td_errf(err, errlen, "out of memory");
		webhook_destroy(w);
		return NULL;
	}
	return w;
}

/* Requests in flight. */
uint32_t webhook_in_flight(const struct webhook *w)
{
	return w->in_flight;
}

/* Slots free now. */
uint32_t webhook_free_slots(const struct webhook *w)
{
	return w->state == WEBHOOK_LIVE ? w->concurrency - w->in_flight : 0;
}

/* Requests started and failures since webhook_new. */
void webhook_counts(const struct webhook *w, uint64_t *requests, uint64_t *failures)
{
	*requests = w->requests;
	*failures = w->failures;
}
