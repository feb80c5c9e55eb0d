/*
 * http.c -- the HTTP/JSON API on evhttp (http.h): the listener, one evhttp
 * per loop thread, the route table, replies and errors, the connection
 * cap, replies held for the journal, and the /v1 timer and stats routes.
 *
 * Every /v1 operation builds the Request the RPC would decode and runs it
 * with rpc_run() (server/rpc.c): the same validation, engine calls and
 * journal records as a frame from timerctl. Only the JSON shape (field
 * names and types, durations, base64) is checked here.
 *
 * Durability: an arm or cancel that journaled a change answers only once
 * its batch is committed (journal_durable(l) >= hold), as the RPC's
 * conn_hold does: the reply is built at once and queued on the loop's
 * hold list, which http_release_durable() answers on the journal's
 * wake-up. Under --memory-only nothing is journaled and nothing waits.
 *
 * Limits: evhttp reads a body of up to http_body_cap (twice max-frame:
 * memory per request stays bounded) and the dispatch answers one over
 * max-frame with the JSON 413 FRAME_TOO_LARGE. A body over the cap (by its
 * Content-Length, or by its chunks' sizes as they come; a 413) and headers
 * over HTTP_MAX_HEADERS (a 400: libevent 2.1 reports them as an invalid
 * header, not told apart from one) are refused by evhttp itself, before it
 * buffers them,
 * at once (no lingering close: a declared 100 GB body would hold the
 * connection until it all came), and the connection is closed after the
 * reply: a client still sending then may get a reset instead of it. evhttp answers those, and its other
 * own errors (400 for a request it cannot parse, 501 for a method it does
 * not know), with an HTML page from inside its read path, where libevent
 * 2.1 gives no hook (no evhttp_set_newreqcb, so a server request gets no
 * header or chunk callback): http_errpage_* rewrites that page, still in
 * the connection's output buffer, into the JSON error body. A connection idle or
 * stalled for http-timeout is closed; at most http-max-connections
 * connections are served: a connection's first request past that gets 429
 * TOO_MANY_CONNECTIONS and the connection is closed.
 *
 * Admission: a connection's first request first passes the RPC TCP
 * listener's peer rule (peer_admit, server/peer.c: 403 PERMISSION for a
 * local uid the Unix socket would refuse) and max-connections-per-address
 * (429, counted with the RPC's connections), http_conn_admit below.
 *
 * TLS (http-tls): evhttp's bevcb hands each accepted connection a
 * bufferevent_openssl in the accepting state, its SSL from the RPC's
 * current context (tls_conn_new: the same certificate, CAs and client
 * certificate rule, and a SIGHUP's new certificate for new connections).
 * A verified client certificate binds its identity as on the RPC, unless
 * the request sends a Bearer.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "err.h"
#include "proto/addr.h"
#include "server/http-json.h"
#include "server/auth.h"
#include "server/http.h"
#include "server/journal.h"
#include "server/log.h"
#include "server/srv.h"

/* Bytes of request headers evhttp accepts (more: its 400, libevent 2.1 counts it as an invalid header). */
#define HTTP_MAX_HEADERS (64 * 1024)
/* Routes the table holds. */
#define HTTP_MAX_ROUTES 64
/* Segments of a path a route may have. */
#define HTTP_MAX_SEGS 8
/* Microseconds between balance checks while a loop's listener is off. */
#define HTTP_BALANCE_US 2000
/* Freed requests a loop keeps for reuse (each a struct http_held). */
#define HTTP_SPARE 64
/* Seconds a client is told to wait before retrying (429, 503). */
#define HTTP_RETRY_AFTER "1"

struct http_route {
	unsigned method;		/* EVHTTP_REQ_* */
	const char *pattern;
	http_fn fn;
	char buf[128];			/* the pattern split at '/' (http_route_add) */
	char *seg[HTTP_MAX_SEGS];
	int nseg;
};

static int http_split(const char *path, char *buf, size_t len, char **seg);
static void http_call(struct http_req *r, const Timerd__Request *rq, int ok_status,
		      const ProtobufCMessage *(*body)(const Timerd__Response *rs));

/* A reply waiting for the journal: r's private tail. */
struct http_held {
	struct http_req r;
	struct http_req *next;
	struct evbuffer *body;
	int status;
	uint64_t hold;
};

/*
 * The route table, filled once by http_routes_init() and read-only after.
 *
 * Adding a route is one line: http_route_add(METHOD, "/path/{name}", fn)
 * in http_routes_init() below, or in the registration function of the
 * module that serves it, called from there (the status page's routes are
 * added by http_page_register() in server/http-page.c). A handler answers
 * once with http_reply_json / http_reply_text / http_reply_error.
 */
static struct http_route http_routes[HTTP_MAX_ROUTES];
static unsigned http_nroutes;
static pthread_once_t http_routes_once = PTHREAD_ONCE_INIT;

/* HTTP status and retry hint of each ErrorCode (an explicit table: doc/http.md lists it). */
static const struct {
	Timerd__ErrorCode code;
	int status;
	bool retry;			/* Retry-After: the same request may succeed later */
} http_codes[] = {
	{ TIMERD__ERROR_CODE__OK, 200, false },
	{ TIMERD__ERROR_CODE__INVALID, 400, false },
	{ TIMERD__ERROR_CODE__DEADLINE, 400, false },
	{ TIMERD__ERROR_CODE__OVERFLOW, 400, false },
	{ TIMERD__ERROR_CODE__PERIOD, 400, false },
	{ TIMERD__ERROR_CODE__KEY_TOO_LONG, 400, false },
	{ TIMERD__ERROR_CODE__TOPIC_TOO_LONG, 400, false },
	{ TIMERD__ERROR_CODE__PAYLOAD_TOO_LARGE, 413, false },
	{ TIMERD__ERROR_CODE__FULL, 429, true },
	{ TIMERD__ERROR_CODE__NOT_FOUND, 404, false },
	{ TIMERD__ERROR_CODE__NO_MEMORY, 503, true },
	{ TIMERD__ERROR_CODE__SYSTEM, 500, false },
	{ TIMERD__ERROR_CODE__BUSY, 503, true },
	{ TIMERD__ERROR_CODE__KEY_AND_ID, 409, false },
	{ TIMERD__ERROR_CODE__STORAGE, 503, true },
	{ TIMERD__ERROR_CODE__VERSION, 400, false },
	{ TIMERD__ERROR_CODE__MALFORMED, 400, false },
	{ TIMERD__ERROR_CODE__UNKNOWN_OP, 404, false },
	{ TIMERD__ERROR_CODE__FRAME_TOO_LARGE, 413, false },
	{ TIMERD__ERROR_CODE__TOO_MANY_INFLIGHT, 429, true },
	{ TIMERD__ERROR_CODE__TOO_MANY_CONNECTIONS, 429, true },
	{ TIMERD__ERROR_CODE__PERMISSION, 403, false },
	{ TIMERD__ERROR_CODE__UNAVAILABLE, 501, false },
	{ TIMERD__ERROR_CODE__SHUTTING_DOWN, 503, true },
	{ TIMERD__ERROR_CODE__TOO_MANY_WATCHES, 429, false },
	{ TIMERD__ERROR_CODE__TIMEOUT, 408, false },
	{ TIMERD__ERROR_CODE__UNAUTHENTICATED, 401, false },
	{ TIMERD__ERROR_CODE__RATE_LIMITED, 429, true },
	{ TIMERD__ERROR_CODE__CONFLICT, 409, false },
};

/* The http_codes entry of code, or NULL. */
static const __typeof__(http_codes[0]) *http_code_find(Timerd__ErrorCode code)
{
	for (size_t i = 0; i < sizeof(http_codes) / sizeof(http_codes[0]); i++)
		if (http_codes[i].code == code)
			return &http_codes[i];
	return NULL;
}

int http_status(Timerd__ErrorCode code)
{
	const __typeof__(http_codes[0]) *e = http_code_find(code);

	return e ? e->status : 400;
}

const char *http_code_name(Timerd__ErrorCode code)
{
	const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(&timerd__error_code__descriptor, (int)code);

	return v ? v->name : "SYSTEM";
}

int http_route_add(unsigned method, const char *pattern, http_fn fn)
{
	struct http_route *rt = &http_routes[http_nroutes];

	if (http_nroutes == HTTP_MAX_ROUTES || strlen(pattern) >= sizeof(rt->buf))
		return -1;
	*rt = (struct http_route){ .method = method, .pattern = pattern, .fn = fn };
	if ((rt->nseg = http_split(pattern, rt->buf, sizeof(rt->buf), rt->seg)) < 0)
		return -1;
	http_nroutes++;
	return 0;
}

/* Frees r and what it holds (after it was answered); keeps its memory for the loop's next request. */
void http_req_free(struct http_req *r)
{
	struct http_loop *hl = r->l->http;
	struct http_held *h = container_of(r, struct http_held, r);

	for (unsigned i = 0; i < r->nargs; i++)
		free(r->arg[i]);
	evhttp_clear_headers(&r->query);
	if (hl && hl->nspare < HTTP_SPARE) {
		h->next = hl->spare;	/* the hold list's link: a spare is on no hold list */
		hl->spare = &h->r;
		hl->nspare++;
		return;
	}
	free(h);
}

/* A zeroed request of loop l: a spare one, else a new one; NULL if out of memory. */
static struct http_held *http_held_new(struct loop *l)
{
	struct http_loop *hl = l->http;
	struct http_held *h;

	if (!hl->spare)
		return calloc(1, sizeof(*h));
	h = container_of(hl->spare, struct http_held, r);
	hl->spare = h->next;
	hl->nspare--;
	memset(h, 0, sizeof(*h));
	return h;
}

/* The reason phrase evhttp sends for status. */
static const char *http_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 414: return "URI Too Long";
	case 417: return "Expectation Failed";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	default: return status < 400 ? "OK" : "Error";
	}
}

/*
 * Writes the reply evhttp_send_reply just queued on bev at once, instead
 * of on the connection's next EV_WRITE turn; plain sockets only (a TLS
 * bufferevent's output is plaintext). evhttp moves on (frees the request,
 * reads the next one) only from the bufferevent's write callback, and a
 * socket bufferevent calls that only from its EV_WRITE event: so once the
 * output is all written, EV_WRITE is turned off (no second, empty write
 * turn can race it) and the write callback is triggered deferred, that
 * is from the loop after the callbacks on the stack (evhttp's read path,
 * which still uses the request) have returned, in this same turn. With
 * the loops' epoll change list the write event's on and off then cost no
 * epoll_ctl. A partial write (a full socket buffer) or an error leaves the
 * rest to the bufferevent as before.
 */
static void http_write_now(struct loop *l, struct bufferevent *bev)
{
	struct evbuffer *out = bufferevent_get_output(bev);
	int fd = bufferevent_getfd(bev);

	/* stopping: the loop may exit before a deferred callback runs, and one left would keep bev alive */
	if (l->srv->cfg->http_tls || l->stopping || !l->http || l->http->freeing || fd < 0 || !evbuffer_get_length(out))
		return;
	if (evbuffer_write(out, fd) < 0 || evbuffer_get_length(out))
		return;
	bufferevent_disable(bev, EV_WRITE);
	bufferevent_trigger(bev, EV_WRITE, BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

/* The loop this thread runs (set by http_accepted: a connection's callbacks run on its loop's thread). */
static __thread struct loop *http_self;
/* True while http_send (or http_errpage_fix) writes a reply: http_errpage_watch leaves it alone. */
static __thread bool http_own_write;

/* Sends status and body (taken over; NULL: already in r's output buffer) to r's client and frees r. */
static void http_send(struct http_req *r, int status, struct evbuffer *body)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(r->req);
	struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
	struct loop *l = r->l;

	http_own_write = true;
	evhttp_send_reply(r->req, status, http_reason(status), body);
	http_own_write = false;
	if (body)
		evbuffer_free(body);
	http_req_free(r);
	if (bev)
		http_write_now(l, bev);
}

void http_reply_buf(struct http_req *r, int status, struct evbuffer *body)
{
	http_send(r, status, body);
}

void http_reply_text(struct http_req *r, int status, const char *ctype, const void *p, size_t n)
{
	struct evbuffer *b = evbuffer_new();

	evhttp_add_header(evhttp_request_get_output_headers(r->req), "Content-Type", ctype);
	if (!b || evbuffer_add(b, p, n) < 0) {
		if (b)
			evbuffer_free(b);
		evhttp_send_error(r->req, 503, "timerd is out of memory");
		http_req_free(r);
		return;
	}
	http_send(r, status, b);
}

/* json_dump_callback's sink: appends to an evbuffer. */
static int http_json_out(const char *p, size_t n, void *arg)
{
	return evbuffer_add(arg, p, n);
}

/* A JSON value as text in a new evbuffer (NULL if out of memory); decrefs j. */
static struct evbuffer *http_json_buf(json_t *j)
{
	struct evbuffer *b = j ? evbuffer_new() : NULL;
	int rc = b ? json_dump_callback(j, http_json_out, b, JSON_COMPACT) : -1;

	json_decref(j);
	if (rc < 0 || evbuffer_add(b, "\n", 1) < 0) {
		if (b)
			evbuffer_free(b);
		return NULL;
	}
	return b;
}

void http_reply_json(struct http_req *r, int status, json_t *body)
{
	struct evbuffer *b = http_json_buf(body);

	if (!b) {
		http_reply_error(r, TIMERD__ERROR_CODE__NO_MEMORY, "timerd is out of memory building the reply: retry");
		return;
	}
	evhttp_add_header(evhttp_request_get_output_headers(r->req), "Content-Type", "application/json");
	http_send(r, status, b);
}

/* The error body {"error": {"code": NAME, "message": msg}}. */
static json_t *http_error_json(Timerd__ErrorCode code, const char *msg)
{
	return json_pack("{s:{s:s,s:s}}", "error", "code", http_code_name(code), "message", msg);
}

/* Adds Retry-After if a client may retry code. */
static void http_retry_header(struct http_req *r, Timerd__ErrorCode code)
{
	const __typeof__(http_codes[0]) *e = http_code_find(code);

	if (e && e->retry)
		evhttp_add_header(evhttp_request_get_output_headers(r->req), "Retry-After", HTTP_RETRY_AFTER);
}

/* http_reply_error with a status of the caller's (405, 414). */
static void http_reply_error_status(struct http_req *r, int status, Timerd__ErrorCode code, const char *msg)
{
	json_t *j = http_error_json(code, msg);
	struct evbuffer *b = http_json_buf(j);

	http_retry_header(r, code);
	if (!b) {
		evhttp_send_error(r->req, 503, "timerd is out of memory");
		http_req_free(r);
		return;
	}
	evhttp_add_header(evhttp_request_get_output_headers(r->req), "Content-Type", "application/json");
	http_send(r, status, b);
}

void http_reply_error(struct http_req *r, Timerd__ErrorCode code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	http_reply_error_status(r, http_status(code), code, msg);
}

const char *http_query(struct http_req *r, const char *name)
{
	return evhttp_find_header(&r->query, name);
}

/* Parses a decimal uint64 (the whole string); 0 or -1. */
static int http_u64(const char *s, uint64_t *v)
{
	char *end;

	if (!s || !*s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	*v = strtoull(s, &end, 10);
	return errno || *end ? -1 : 0;
}

/* --- running requests through rpc.c --- */

/* What a finished rpc_run hands the route that started it. */
struct http_call {
	struct http_req *r;
	int ok_status;			/* status of a success (201 is decided from ArmReply.created) */
	const ProtobufCMessage *(*body)(const Timerd__Response *rs);	/* the success body */
};

/* Queues r's built reply until the journal commits batch hold. */
static void http_hold(struct http_req *r, int status, struct evbuffer *body, uint64_t hold)
{
	struct http_loop *hl = r->l->http;
	struct http_held *h = container_of(r, struct http_held, r);

	/* relaxed: a counter */
	atomic_fetch_add_explicit(&r->s->http_held, 1, memory_order_relaxed);
	h->status = status;
	h->body = body;
	h->hold = hold;
	h->next = NULL;
	*hl->held_tail = r;
	hl->held_tail = &h->next;
}

void http_release_durable(struct loop *l)
{
	struct http_loop *hl = l->http;
	uint64_t durable;

	if (!hl || !hl->held)
		return;
	durable = journal_durable(l);
	while (hl->held) {
		struct http_held *h = container_of(hl->held, struct http_held, r);

		if (h->hold > durable)
			break;	/* batches commit in order: the rest wait too */
		hl->held = h->next;
		if (!hl->held)
			hl->held_tail = &hl->held;
		http_send(&h->r, h->status, h->body);
	}
}

/* rpc_run's callback: answers the error, or the success now or once it is durable. */
static void http_call_done(void *arg, const Timerd__Response *rs, uint64_t hold)
{
	struct http_call *call = arg;
	struct http_req *r = call->r;
	struct evbuffer *b = evhttp_request_get_output_buffer(r->req);
	int status = call->ok_status;

	if (rs->body_case == TIMERD__RESPONSE__BODY_ERROR) {
		http_reply_error(r, rs->error->code, "%s", rs->error->message);
		return;
	}
	if (rs->body_case == TIMERD__RESPONSE__BODY_ARM && rs->arm->created)
		status = 201;
	if (rs->body_case == TIMERD__RESPONSE__BODY_ARM && evhttp_request_get_command(r->req) == EVHTTP_REQ_POST) {
		char loc[64];

		snprintf(loc, sizeof(loc), "/v1/timers/id/%" PRIu64, rs->arm->timer_id);
		evhttp_add_header(evhttp_request_get_output_headers(r->req), "Location", loc);
	}
	/* straight into the request's output buffer: evhttp sends it after the headers, no copy */
	if (httpj_print(call->body(rs), b) < 0) {
		evbuffer_drain(b, evbuffer_get_length(b));
		http_reply_error(r, TIMERD__ERROR_CODE__NO_MEMORY, "timerd is out of memory building the reply: retry");
		return;	/* a journaled change still commits; the client retries an idempotent PUT */
	}
	evhttp_add_header(evhttp_request_get_output_headers(r->req), "Content-Type", "application/json");
	if (hold) {
		journal_flush(r->l);	/* post this request's change now: nothing else ends the batch */
		if (journal_durable(r->l) < hold) {
			http_hold(r, status, NULL, hold);
			return;
		}
	}
	http_send(r, status, NULL);
}

void http_answer_rpc(struct http_req *r, const Timerd__Response *rs, uint64_t hold, int ok_status,
		     const ProtobufCMessage *(*body)(const Timerd__Response *rs))
{
	struct http_call call = { .r = r, .ok_status = ok_status, .body = body };

	http_call_done(&call, rs, hold);
}

void http_call_rpc(struct http_req *r, const Timerd__Request *rq, int ok_status,
		   const ProtobufCMessage *(*body)(const Timerd__Response *rs))
{
	http_call(r, rq, ok_status, body);
}

/* Runs rq for r and answers with body(rs) on success. */
static void http_call(struct http_req *r, const Timerd__Request *rq, int ok_status,
		      const ProtobufCMessage *(*body)(const Timerd__Response *rs))
{
	struct http_call call = { .r = r, .ok_status = ok_status, .body = body };

	rpc_run_as(r->l, NULL, r->ident, rq, http_call_done, &call);
}

/* ArmReply as JSON. */
static const ProtobufCMessage *http_body_arm(const Timerd__Response *rs)
{
	return &rs->arm->base;
}

/* GetReply: the Timer itself. */
static const ProtobufCMessage *http_body_get(const Timerd__Response *rs)
{
	return &rs->get->timer->base;
}

/* ListReply, CancelReply and the rest: the reply message as it is. */
static const ProtobufCMessage *http_body_list(const Timerd__Response *rs)
{
	return &rs->list->base;
}

/* CancelReply: {} (kept an object so fields may be added). */
static const ProtobufCMessage *http_body_cancel(const Timerd__Response *rs)
{
	return &rs->cancel->base;
}

/* --- routes --- */

/* Reads the id segment of /v1/timers/id/{id}; false after answering 400. */
static bool http_arg_id(struct http_req *r, uint64_t *id)
{
	if (http_u64(r->arg[0], id) < 0 || !*id) {
		http_reply_error(r, TIMERD__ERROR_CODE__INVALID, "'%.64s' is not a timer id: give the decimal timer_id "
				 "an arm returned, e.g. /v1/timers/id/42", r->arg[0]);
		return false;
	}
	return true;
}

/* Decodes r's body as an arm into a; false after answering 400. */
static bool http_arm_body(struct http_req *r, Timerd__Arm *a)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
	size_t n = evbuffer_get_length(in);
	const char *p = n ? (const char *)evbuffer_pullup(in, (ev_ssize_t)n) : "";
	char err[512];
	int rc;

	if ((rc = httpj_arm_decode(p, n, &r->l->arena, a, err, sizeof(err))) < 0) {
		http_reply_error(r, (Timerd__ErrorCode)-rc, "%s", err);
		return false;
	}
	return true;
}

/* Arms a with the key or id the path names; POST (anonymous) answers 201 with a Location. */
static void http_arm(struct http_req *r, Timerd__Arm *a)
{
	Timerd__Request rq = TIMERD__REQUEST__INIT;

	rq.body_case = TIMERD__REQUEST__BODY_ARM;
	rq.arm = a;
	http_call(r, &rq, 200, http_body_arm);
}

/* PUT /v1/timers/{key}: arm or re-arm by key. */
static void http_timer_put(struct http_req *r)
{
	Timerd__Arm a;

	if (!http_arm_body(r, &a))
		return;
	a.key = r->arg[0];
	if (!*a.key) {
		http_reply_error(r, TIMERD__ERROR_CODE__INVALID, "the key is empty: PUT /v1/timers/{key}, or POST "
				 "/v1/timers for a timer without a key");
		return;
	}
	http_arm(r, &a);
}

/* PUT /v1/timers/id/{id}: re-arm by id. */
static void http_timer_put_id(struct http_req *r)
{
	Timerd__Arm a;
	uint64_t id;

	if (!http_arg_id(r, &id) || !http_arm_body(r, &a))
		return;
	a.timer_id = id;
	http_arm(r, &a);
}

/* POST /v1/timers: a timer without a key. */
static void http_timer_post(struct http_req *r)
{
	Timerd__Arm a;

	if (http_arm_body(r, &a))
		http_arm(r, &a);
}

/* GET or DELETE of the timer a key or an id names. */
static void http_timer_by(struct http_req *r, const char *key, uint64_t id, bool del)
{
	Timerd__Request rq = TIMERD__REQUEST__INIT;
	Timerd__Get g = TIMERD__GET__INIT;
	Timerd__Cancel c = TIMERD__CANCEL__INIT;

	if (del) {
		c.key = (char *)key;
		c.timer_id = id;
		rq.body_case = TIMERD__REQUEST__BODY_CANCEL;
		rq.cancel = &c;
		http_call(r, &rq, 200, http_body_cancel);
	} else {
		g.key = (char *)key;
		g.timer_id = id;
		rq.body_case = TIMERD__REQUEST__BODY_GET;
		rq.get = &g;
		http_call(r, &rq, 200, http_body_get);
	}
}

/* GET /v1/timers/{key}. */
static void http_timer_get(struct http_req *r)
{
	http_timer_by(r, r->arg[0], 0, false);
}

/* DELETE /v1/timers/{key}. */
static void http_timer_delete(struct http_req *r)
{
	http_timer_by(r, r->arg[0], 0, true);
}

/* GET /v1/timers/id/{id}. */
static void http_timer_get_id(struct http_req *r)
{
	uint64_t id;

	if (http_arg_id(r, &id))
		http_timer_by(r, "", id, false);
}

/* DELETE /v1/timers/id/{id}. */
static void http_timer_delete_id(struct http_req *r)
{
	uint64_t id;

	if (http_arg_id(r, &id))
		http_timer_by(r, "", id, true);
}

/* GET /v1/timers?topic=&cursor=&limit=&payload=: one page. */
static void http_timer_list(struct http_req *r)
{
	Timerd__Request rq = TIMERD__REQUEST__INIT;
	Timerd__List m = TIMERD__LIST__INIT;
	const char *topic = http_query(r, "topic"), *cursor = http_query(r, "cursor"), *limit = http_query(r, "limit");
	const char *payload = http_query(r, "payload");
	uint64_t v;

	if (topic) {
		m.filter_case = TIMERD__LIST__FILTER_TOPIC;
		m.topic = (char *)topic;
	}
	if (cursor && http_u64(cursor, &m.cursor) < 0) {
		http_reply_error(r, TIMERD__ERROR_CODE__INVALID, "cursor '%.32s' is not a number: give 0 or the "
				 "next_cursor of the previous page", cursor);
		return;
	}
	if (limit && (http_u64(limit, &v) < 0 || v > UINT32_MAX)) {
		http_reply_error(r, TIMERD__ERROR_CODE__INVALID, "limit '%.32s' is not a number of timers", limit);
		return;
	}
	m.limit = limit ? (uint32_t)v : 0;
	m.with_payload = payload && (!strcmp(payload, "1") || !strcmp(payload, "true"));
	rq.body_case = TIMERD__REQUEST__BODY_LIST;
	rq.list = &m;
	http_call(r, &rq, 200, http_body_list);
}

/* StatsReply as JSON. */
static const ProtobufCMessage *http_body_stats(const Timerd__Response *rs)
{
	return &rs->stats->base;
}

/* GET /v1/stats: what timerctl stats shows. */
static void http_stats(struct http_req *r)
{
	Timerd__Request rq = TIMERD__REQUEST__INIT;
	Timerd__StatsRequest m = TIMERD__STATS_REQUEST__INIT;

	rq.body_case = TIMERD__REQUEST__BODY_STATS;
	rq.stats = &m;
	http_call(r, &rq, 200, http_body_stats);
}

/* Fills the route table (once per process). */
static void http_routes_init(void)
{
	httpj_init();	/* jansson's allocator, before any loop parses a body */
	/* Most specific first: the first match wins. */
	http_route_add(EVHTTP_REQ_PUT, "/v1/timers/id/{id}", http_timer_put_id);
	http_route_add(EVHTTP_REQ_GET, "/v1/timers/id/{id}", http_timer_get_id);
	http_route_add(EVHTTP_REQ_DELETE, "/v1/timers/id/{id}", http_timer_delete_id);
	http_route_add(EVHTTP_REQ_PUT, "/v1/timers/{key}", http_timer_put);
	http_route_add(EVHTTP_REQ_GET, "/v1/timers/{key}", http_timer_get);
	http_route_add(EVHTTP_REQ_DELETE, "/v1/timers/{key}", http_timer_delete);
	http_route_add(EVHTTP_REQ_POST, "/v1/timers", http_timer_post);
	http_route_add(EVHTTP_REQ_GET, "/v1/timers", http_timer_list);
	http_route_add(EVHTTP_REQ_GET, "/v1/stats", http_stats);
	http_route_add(EVHTTP_REQ_GET, "/v1/watch", http_watch);
	http_route_add(EVHTTP_REQ_GET, "/metrics", http_metrics);
	http_page_register();	/* the status page's routes (server/http-page.c) */
	http_group_register();	/* consumer groups: long poll, ack, nack, groups (server/http-group.c) */
}

/* --- dispatch --- */

/* Splits a raw path into its segments (in buf); their number, or -1 if there are too many. */
static int http_split(const char *path, char *buf, size_t len, char **seg)
{
	size_t l;
	int n = 0;

	path += *path == '/';
	if ((l = strlen(path)) >= len)
		return -1;
	memcpy(buf, path, l + 1);
	if (!*buf)
		return 0;
	for (char *p = buf;; n++) {
		char *slash = strchr(p, '/');

		if (n == HTTP_MAX_SEGS)
			return -1;
		seg[n] = p;
		if (!slash)
			return n + 1;
		*slash = '\0';
		p = slash + 1;
	}
}

/* True if the segments match the route's pattern; captures its {name} segments (raw) in cap. */
static bool http_match(const struct http_route *rt, char **seg, int n, char **cap, unsigned *ncap)
{
	char *const *pseg = rt->seg;

	*ncap = 0;
	if (rt->nseg != n)
		return false;
	for (int i = 0; i < n; i++) {
		if (pseg[i][0] == '{') {
			if (*ncap == HTTP_MAX_ARGS)
				return false;
			cap[(*ncap)++] = seg[i];
		} else if (strcmp(pseg[i], seg[i])) {
			return false;
		}
	}
	return true;
}

/* Adds Allow: the methods of the routes matching the path split into seg[0..n) (GET brings HEAD). */
static void http_allow_header(struct http_req *r, char **seg, int n)
{
	static const struct { unsigned method; const char *name; } names[] = {
		{ EVHTTP_REQ_GET, "GET, HEAD" }, { EVHTTP_REQ_PUT, "PUT" }, { EVHTTP_REQ_POST, "POST" },
		{ EVHTTP_REQ_DELETE, "DELETE" },
	};
	char *cap[HTTP_MAX_ARGS], allow[64] = "";
	unsigned ncap, have = 0;

	for (unsigned i = 0; i < http_nroutes; i++)
		if (http_match(&http_routes[i], seg, n, cap, &ncap))
			have |= http_routes[i].method;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (have & names[i].method)
			snprintf(allow + strlen(allow), sizeof(allow) - strlen(allow), "%s%s", *allow ? ", " : "",
				 names[i].name);
	evhttp_add_header(evhttp_request_get_output_headers(r->req), "Allow", allow);
}

/* The route for r's path and method; NULL after answering 404 or 405. */
static const struct http_route *http_route_find(struct http_req *r, const char *path, char **cap, unsigned *ncap)
{
	char buf[HTTP_MAX_ARG * 2], *seg[HTTP_MAX_SEGS];
	unsigned method = (unsigned)evhttp_request_get_command(r->req), any = 0;
	int n;

	if (strlen(path) >= sizeof(buf) / 2 || (n = http_split(path, buf, sizeof(buf) / 2, seg)) < 0) {
		http_reply_error_status(r, 414, TIMERD__ERROR_CODE__INVALID, "the path is too long");
		return NULL;
	}
	for (unsigned i = 0; i < http_nroutes; i++) {
		if (!http_match(&http_routes[i], seg, n, cap, ncap))
			continue;
		if (http_routes[i].method == method || (method == EVHTTP_REQ_HEAD && http_routes[i].method == EVHTTP_REQ_GET)) {
			/* cap points into buf: copy the segments out decoded before buf goes */
			for (unsigned k = 0; k < *ncap; k++) {
				r->arg[k] = evhttp_uridecode(cap[k], 0, NULL);
				r->nargs = k + 1;
			}
			return &http_routes[i];
		}
		any = 1;
	}
	if (any) {
		http_allow_header(r, seg, n);
		http_reply_error_status(r, 405, TIMERD__ERROR_CODE__UNKNOWN_OP,
					"this method is not allowed on this path (the Allow header lists those that are; "
					"doc/http.md lists the routes)");
	} else
		http_reply_error(r, TIMERD__ERROR_CODE__UNKNOWN_OP, "no such resource: %.200s (doc/http.md lists the routes)",
				 path);
	return NULL;
}

/* --- spreading connections over the loops --- */

/*
 * Every loop's evhttp listens on a dup of the one socket, and libevent's
 * listener accepts until EAGAIN: the loop that wakes first takes a whole
 * burst (wrk's 64 connections all landed on one loop of two). So a loop
 * whose connections exceed the fewest any loop has by more than one turns
 * its listener off (from evhttp's per-accept callback: the listener stops
 * accepting at once) and the kernel queues the next connections for the
 * others; a timer turns it back on once the others caught up. The loop
 * with the fewest never turns off, so a connection is never left waiting.
 */

/* The connections loop l counts: requested ones, plus accepted ones not older than http-timeout. */
static unsigned http_load_of(struct loop *l, int64_t now)
{
	struct http_loop *hl = l->http;

	if (hl->unadmitted && now - hl->last_accept_ns > l->srv->cfg->http_timeout_ns)
		hl->unadmitted = 0;	/* evhttp has closed those that never sent a request */
	return hl->admitted + hl->unadmitted;
}

/* CLOCK_MONOTONIC in ns. */
static int64_t http_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Publishes l's load and turns its listener off or on by the fewest any loop has (loop thread). */
static void http_balance(struct loop *l)
{
	struct http_loop *hl = l->http;
	struct srv *s = l->srv;
	unsigned load = http_load_of(l, http_now_ns()), min = load;
	bool over;

	if (!hl->lev || s->nloops < 2)
		return;
	/* relaxed: an estimate; a stale view costs at most one HTTP_BALANCE_US re-check */
	atomic_store_explicit(&s->http_load[l->idx], load, memory_order_relaxed);
	for (unsigned i = 0; i < s->nloops && i < SETTINGS_MAX_THREADS; i++) {
		unsigned v = atomic_load_explicit(&s->http_load[i], memory_order_relaxed);	/* relaxed: as above */

		min = v < min ? v : min;
	}
	over = load > min + 1;
	if (over && !hl->lev_off)
		evconnlistener_disable(hl->lev);
	else if (!over && hl->lev_off)
		evconnlistener_enable(hl->lev);
	hl->lev_off = over;
	if (over && hl->balance_ev && !evtimer_pending(hl->balance_ev, NULL)) {
		struct timeval tv = { 0, HTTP_BALANCE_US };

		evtimer_add(hl->balance_ev, &tv);
	}
}

/* The balance timer: checks again while the listener is off. */
static void http_balance_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	http_balance(arg);
}

/*
 * http-tls: the answer to a plaintext request on the HTTPS port, a plain
 * HTTP/1.1 400 with the API's JSON error saying to use https://, written
 * straight to the socket (no TLS session started; OpenSSL sends no alert
 * for a first record that is not TLS at all). What the client sent is then
 * read, so the close that follows is a FIN, not a reset that would discard
 * the answer (conn_tls_plain_answer does the same on the RPC's TLS port).
 * Non-blocking: a socket that does not take it at once gets nothing.
 */
static void http_tls_plain_answer(struct loop *l, int fd)
{
	struct addr a;
	char where[300], msg[512], head[256], peer[INET6_ADDRSTRLEN + 8] = "?", junk[4096];
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char body[1024];
	json_t *j;
	size_t bn;
	int hn;

	if (addr_parse(l->srv->cfg->http, &a, msg, sizeof(msg)) < 0)
		snprintf(where, sizeof(where), "HOST:PORT");
	else if (!*a.host || !strcmp(a.host, "0.0.0.0") || !strcmp(a.host, "::") || !strcmp(a.host, "*"))
		snprintf(where, sizeof(where), "HOST:%s", a.port);
	else
		snprintf(where, sizeof(where), "%s%s%s:%s", strchr(a.host, ':') ? "[" : "", a.host,
			 strchr(a.host, ':') ? "]" : "", a.port);
	snprintf(msg, sizeof(msg), "this port speaks HTTPS (http-tls): use https://%s/ instead of http:// "
		 "(curl --cacert CA.pem https://...)", where);
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0)
		getnameinfo((struct sockaddr *)&ss, sl, peer, sizeof(peer), NULL, 0, NI_NUMERICHOST);
	log_info_rl("HTTP connection from %s sent plaintext to the HTTPS port: answered 400 (use https://)", peer);
	atomic_fetch_add_explicit(&l->srv->http_plain_on_tls, 1, memory_order_relaxed);	/* relaxed: a counter */
	if (!(j = http_error_json(TIMERD__ERROR_CODE__INVALID, msg)))
		return;
	bn = json_dumpb(j, body, sizeof(body) - 1, JSON_COMPACT);
	json_decref(j);
	if (!bn || bn > sizeof(body) - 1)
		return;
	body[bn++] = '\n';
	hn = snprintf(head, sizeof(head), "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
		      "Content-Length: %zu\r\nConnection: close\r\n\r\n", bn);
	if (send(fd, head, (size_t)hn, MSG_DONTWAIT | MSG_NOSIGNAL | MSG_MORE) == hn &&
	    send(fd, body, bn, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)bn) {
		shutdown(fd, SHUT_WR);
		for (int i = 0; i < 16 && recv(fd, junk, sizeof(junk), MSG_DONTWAIT) > 0; i++)
			;
	}
}

/*
 * http-tls: OpenSSL's callback on an HTTPS connection's handshake (its SSL's
 * app data is the loop). A handshake that failed on its first record
 * because the bytes were not TLS (a request line: "GET ", "POST ", or any
 * other non-TLS start) gets the plaintext 400 before libevent reports the
 * error and evhttp closes the connection. Once: OpenSSL does not run the
 * handshake again after a fatal error.
 */
static void http_tls_info(const SSL *ssl, int where, int ret)
{
	unsigned long e;
	int reason;

	if (!(where & SSL_CB_EXIT) || ret > 0 || SSL_get_state(ssl) != TLS_ST_BEFORE)
		return;
	e = ERR_peek_last_error();
	reason = ERR_GET_REASON(e);
	if (ERR_GET_LIB(e) == ERR_LIB_SSL && (reason == SSL_R_HTTP_REQUEST || reason == SSL_R_HTTPS_PROXY_REQUEST ||
					       reason == SSL_R_WRONG_VERSION_NUMBER) && SSL_get_fd(ssl) >= 0)
		http_tls_plain_answer(SSL_get_app_data(ssl), SSL_get_fd(ssl));
}

/* The JSON error that replaces each HTML page evhttp sends itself (http_errpage_fix). */
static const struct {
	int status;
	Timerd__ErrorCode code;
	const char *msg;		/* NULL: built by http_errpage_body (names max-frame) */
} http_errpages[] = {
	{ 400, TIMERD__ERROR_CODE__MALFORMED, "timerd cannot parse this HTTP request (its request line, a header, "
	  "Content-Length or the chunked encoding; or its headers are over 64 KiB): fix the request" },
	{ 413, TIMERD__ERROR_CODE__FRAME_TOO_LARGE, NULL },
	{ 417, TIMERD__ERROR_CODE__INVALID, "timerd understands only Expect: 100-continue: drop the Expect header" },
	{ 501, TIMERD__ERROR_CODE__UNKNOWN_OP, "timerd does not serve this HTTP method: use GET, HEAD, PUT, POST or DELETE" },
	{ 503, TIMERD__ERROR_CODE__NO_MEMORY, "timerd is out of memory: retry later" },
};

/* The JSON error body for evhttp's page of status (NULL if out of memory); *code gets its code. */
static struct evbuffer *http_errpage_body(struct loop *l, int status, Timerd__ErrorCode *code)
{
	char msg[512];
	size_t i;

	for (i = 0; i < sizeof(http_errpages) / sizeof(http_errpages[0]); i++)
		if (http_errpages[i].status == status)
			break;
	if (i == sizeof(http_errpages) / sizeof(http_errpages[0])) {
		*code = TIMERD__ERROR_CODE__MALFORMED;
		snprintf(msg, sizeof(msg), "timerd refused this HTTP request (status %d): fix the request", status);
	} else if (!http_errpages[i].msg) {
		*code = http_errpages[i].code;
		/* evhttp also answers 413 to a malformed chunk size */
		snprintf(msg, sizeof(msg), "the request body is over timerd's limit (at most max-frame (%u) bytes) or "
			 "its chunked encoding is malformed: send a smaller body (split the work into several "
			 "requests) or raise max-frame", (unsigned)l->srv->cfg->max_frame);
	} else {
		*code = http_errpages[i].code;
		snprintf(msg, sizeof(msg), "%s", http_errpages[i].msg);
	}
	return http_json_buf(http_error_json(*code, msg));
}

/* The length of the header block at the start of out (up to its blank line's CRLF), or -1. */
static ssize_t http_errpage_head(struct evbuffer *out)
{
	struct evbuffer_ptr end = evbuffer_search(out, "\r\n\r\n", 4, NULL), ct;

	if (end.pos < 0)
		return -1;
	ct = evbuffer_search_range(out, "\r\nContent-Type: text/html\r\n", 27, NULL, &end);
	return ct.pos < 0 ? -1 : (ssize_t)end.pos + 2;	/* evhttp's page: text/html; a reply of timerd's never is */
}

/*
 * Replaces the HTML error page evhttp just queued on bev (it alone is in
 * the output buffer: a response starts on an empty buffer, and evhttp
 * closes the connection after this one) by the JSON error body of its
 * status, keeping evhttp's status and headers but Content-Type and
 * Content-Length. Runs from the loop (event_base_once, activated by
 * http_errpage_watch) after evhttp's callback returned and before the
 * loop polls again, so before any byte of the page was written.
 */
static void http_errpage_fix(evutil_socket_t fd, short what, void *arg)
{
	struct bufferevent *bev = arg;
	struct evbuffer *out = bufferevent_get_output(bev), *reply = NULL, *body = NULL;
	Timerd__ErrorCode code;
	ssize_t hlen = http_errpage_head(out);
	char first[13] = "", *head = NULL, *line, *eol;
	int status, ok;

	(void)fd;
	(void)what;
	/* "HTTP/1.1 413 ": its version and status; out of memory: the page goes out as evhttp wrote it */
	if (hlen < 13 || !http_self || evbuffer_copyout(out, first, 12) != 12 ||
	    !(body = http_errpage_body(http_self, status = atoi(first + 9), &code)) || !(reply = evbuffer_new()) ||
	    !(head = malloc((size_t)hlen + 1)) || evbuffer_copyout(out, head, (size_t)hlen) != hlen)
		goto done;
	head[hlen] = '\0';
	/* the new reply is built aside and swapped in only whole: out of memory leaves evhttp's page as it is */
	ok = evbuffer_add_printf(reply, "%.8s %d %s\r\n", first, status, http_reason(status)) >= 0;
	for (line = strstr(head, "\r\n") + 2; ok && (eol = strstr(line, "\r\n")); line = eol + 2)	/* past the status line */
		if (strncasecmp(line, "Content-Type:", 13) && strncasecmp(line, "Content-Length:", 15))
			ok = evbuffer_add(reply, line, (size_t)(eol + 2 - line)) == 0;
	ok = ok && evbuffer_add_printf(reply, "Content-Type: application/json\r\nContent-Length: %zu\r\n%s\r\n",
				       evbuffer_get_length(body),
				       status == 503 ? "Retry-After: " HTTP_RETRY_AFTER "\r\n" : "") >= 0 &&
	     evbuffer_add_buffer(reply, body) == 0;
	if (!ok)
		goto done;
	http_own_write = true;
	evbuffer_drain(out, evbuffer_get_length(out));	/* evhttp's page, headers and HTML */
	evbuffer_add_buffer(out, reply);	/* moves the chains: no allocation to fail */
	http_own_write = false;
done:
	free(head);
	if (reply)
		evbuffer_free(reply);
	if (body)
		evbuffer_free(body);
	bufferevent_decref(bev);
}

/*
 * The output buffer callback of every HTTP connection: when a response
 * that timerd did not write starts (a 4xx or 5xx status line on an empty
 * buffer: evhttp's own error page), schedules http_errpage_fix to turn it
 * into JSON before it is written. Other writes cost this one test.
 */
static void http_errpage_watch(struct evbuffer *out, const struct evbuffer_cb_info *info, void *arg)
{
	struct bufferevent *bev = arg;
	char line[16];

	if (http_own_write || !info->n_added || info->orig_size || !http_self)
		return;
	if (evbuffer_copyout(out, line, sizeof(line)) < 13 || memcmp(line, "HTTP/1.", 7) || (line[9] != '4' && line[9] != '5'))
		return;
	bufferevent_incref(bev);	/* evhttp may free bev before the loop runs the fix */
	if (event_base_once(bufferevent_get_base(bev), -1, EV_TIMEOUT, http_errpage_fix, bev, NULL) < 0)
		bufferevent_decref(bev);	/* out of memory: the page goes out as evhttp wrote it */
}

/*
 * evhttp's new-connection callback (evhttp_set_bevcb, loop thread): counts
 * the accept; with http-tls, a TLS bufferevent (evhttp sets its fd), else
 * NULL: evhttp makes a plain one. Out of memory for TLS also gives NULL:
 * the client's handshake then reads as a bad request (evhttp's 400) and a
 * plaintext request is refused by http_conn_admit.
 */
static struct bufferevent *http_accepted(struct event_base *base, void *arg)
{
	struct loop *l = arg;
	struct http_loop *hl = l->http;
	struct bufferevent *bev = NULL;
	SSL *ssl;

	http_self = l;
	hl->last_accept_ns = http_now_ns();
	hl->unadmitted++;
	http_balance(l);
	if (!l->srv->cfg->http_tls) {
		/* CLOSE_ON_FREE, as the TLS one: evhttp_connection_free then only shuts the fd down, and it closes
		 * with the bufferevent, after http_errpage_fix's reference, not under its still-added events */
		bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	} else if (!(ssl = tls_conn_new(l->srv)) ||
		   !(bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE))) {
		log_warn_rl("out of memory for TLS on an HTTP connection: refusing it");
		SSL_free(ssl);	/* bufferevent_openssl_socket_new leaves it to the caller on failure */
		return NULL;
	} else {
		SSL_set_app_data(ssl, l);
		SSL_set_info_callback(ssl, http_tls_info);	/* plaintext here: a plain 400 (http_tls_plain_answer) */
	}
	if (bev)	/* out of memory for the callback: evhttp's HTML pages go out as they are */
		evbuffer_add_cb(bufferevent_get_output(bev), http_errpage_watch, bev);
	return bev;
}

/* A counted HTTP connection (the value in http_loop conns). */
struct http_conn {
	char addr_key[48];		/* its max-connections-per-address key (peer_http) */
	bool cred;			/* a local peer: uid known (its identity binding without a Bearer) */
	uid_t uid;
	gid_t gid;			/* (gid_t)-1: unknown (a TCP peer: sock_diag gives only the uid) */
};

void http_conn_forget(struct loop *l, struct evhttp_connection *evcon)
{
	struct http_conn *hc = hmap_del(&l->http->conns, (const char *)&evcon, sizeof(evcon));

	if (!hc)
		return;
	atomic_fetch_sub_explicit(&l->srv->http_conns, 1, memory_order_relaxed);	/* relaxed: a gauge */
	srv_peer_release(l->srv, hc->addr_key);
	free(hc);
	l->http->admitted--;
	http_balance(l);
}

void http_conn_closed(struct evhttp_connection *evcon, void *arg)
{
	http_conn_forget(arg, evcon);
}

/* Answers r with an error that also closes its connection (the connection is refused, not counted). */
static void http_refuse(struct http_req *r, Timerd__ErrorCode code, const char *msg)
{
	evhttp_add_header(evhttp_request_get_output_headers(r->req), "Connection", "close");
	atomic_fetch_add_explicit(&r->s->http_rejected, 1, memory_order_relaxed);	/* relaxed: a counter */
	http_reply_error(r, code, "%s", msg);
}

/*
 * Admits r's connection on its first request, as the RPC's TCP listener
 * admits a connection (peer_admit: a local peer's uid by sock_diag must
 * pass the Unix socket's rule; a remote one needs insecure or a users file), then
 * counts it against http-max-connections and max-connections-per-address
 * (shared with the RPC's TCP connections: the same key, "uid N" or the
 * address). evhttp gives no hook with the fd before the first request
 * (evhttp_set_bevcb has none), so this is where a connection is judged;
 * nothing is served before. False after answering 403 PERMISSION or 429
 * TOO_MANY_CONNECTIONS with Connection: close.
 */
static bool http_conn_admit(struct http_req *r)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(r->req);
	struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
	struct srv *s = r->s;
	struct srv_peer who;
	struct http_conn *hc;
	char msg[512];
	int fd;

	if (!evcon || hmap_get(&r->l->http->conns, (const char *)&evcon, sizeof(evcon)))
		return true;
	if (!bev || (fd = bufferevent_getfd(bev)) < 0 || !(hc = calloc(1, sizeof(*hc)))) {
		http_refuse(r, TIMERD__ERROR_CODE__NO_MEMORY, "timerd could not set up this connection: retry");
		return false;
	}
	if (s->cfg->http_tls && !bufferevent_openssl_get_ssl(bev)) {	/* http_accepted ran out of memory */
		free(hc);
		http_refuse(r, TIMERD__ERROR_CODE__NO_MEMORY, "timerd could not set up TLS for this connection: retry");
		return false;
	}
	peer_http(&who, fd, hc->addr_key, sizeof(hc->addr_key));
	hc->cred = who.cred;
	hc->uid = who.uid;
	hc->gid = who.kind == SRV_PEER_UNIX ? who.gid : (gid_t)-1;
	if (!peer_admit(s, &who, msg, sizeof(msg))) {
		log_warn_rl("HTTP connection from %s refused: %s", hc->addr_key, msg);
		free(hc);
		http_refuse(r, TIMERD__ERROR_CODE__PERMISSION, msg);
		return false;
	}
	/* relaxed: the cap is approximate across loops, like max-connections */
	if (atomic_load_explicit(&s->http_conns, memory_order_relaxed) >= s->cfg->http_max_connections) {
		free(hc);
		snprintf(msg, sizeof(msg), "timerd serves http-max-connections (%u) HTTP connections: retry later, "
			 "reuse connections, or raise http-max-connections", s->cfg->http_max_connections);
		http_refuse(r, TIMERD__ERROR_CODE__TOO_MANY_CONNECTIONS, msg);
		return false;
	}
	if (!srv_peer_take(s, hc->addr_key)) {
		snprintf(msg, sizeof(msg), "%s has max-connections-per-address (%u) connections open (RPC and HTTP): "
			 "close some, reuse connections, or raise max-connections-per-address", hc->addr_key,
			 s->cfg->max_conns_per_addr);
		free(hc);
		http_refuse(r, TIMERD__ERROR_CODE__TOO_MANY_CONNECTIONS, msg);
		return false;
	}
	if (hmap_put(&r->l->http->conns, (const char *)&evcon, sizeof(evcon), hc) < 0) {
		srv_peer_release(s, hc->addr_key);
		free(hc);
		http_refuse(r, TIMERD__ERROR_CODE__NO_MEMORY, "timerd is out of memory for this connection: retry later");
		return false;
	}
	atomic_fetch_add_explicit(&s->http_conns, 1, memory_order_relaxed);	/* relaxed: a gauge */
	atomic_fetch_add_explicit(&s->http_accepted, 1, memory_order_relaxed);	/* relaxed: a counter */
	r->l->http->admitted++;
	if (r->l->http->unadmitted)
		r->l->http->unadmitted--;	/* no balance change: the sum stays */
	evhttp_connection_set_closecb(evcon, http_conn_closed, r->l);
	return true;
}

/*
 * True for the routes that do not run through rpc_run, so need the stats
 * operation here: the status page (/, /static/...), /v1/status, /v1/history
 * and /metrics. Every other route (timers, watch, /v1/stats, groups,
 * deliveries) is checked by the RPC's rules with the request's identity.
 */
static bool http_needs_stats(const char *path)
{
	if (!path)
		return true;
	path += *path == '/';	/* as http_split: "" and "/" are the status page */
	return !*path || !strncmp(path, "static/", 7) || !strcmp(path, "v1/status") || !strcmp(path, "v1/history") ||
	       !strcmp(path, "metrics");
}

/*
 * With a users file, binds r to an identity: its Bearer (auth_http), else
 * its connection's verified client certificate (auth_cert_of), else its
 * local peer's uid (auth_http); the routes that do not run through rpc_run
 * need the stats operation (http_needs_stats). False after answering 401
 * UNAUTHENTICATED or 403 PERMISSION.
 */
static bool http_ident(struct http_req *r)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(r->req);
	struct http_conn *hc = evcon ? hmap_get(&r->l->http->conns, (const char *)&evcon, sizeof(evcon)) : NULL;
	const char *path = r->uri ? evhttp_uri_get_path(r->uri) : NULL, *authz;
	char msg[512];
	int64_t retry;

	if (!r->l->users)
		return true;
	authz = evhttp_find_header(evhttp_request_get_input_headers(r->req), "Authorization");
	if (!authz && evcon)	/* a verified client certificate (http-tls with tls-ca) binds, as on the RPC */
		r->ident = auth_cert_of(r->l, evhttp_connection_get_bufferevent(evcon));
	if (!r->ident && auth_http(r->l, hc ? hc->addr_key : "?", hc && hc->cred, hc ? hc->uid : 0,
		      hc ? hc->gid : (gid_t)-1, authz, &r->ident, msg, sizeof(msg), &retry) != 0) {
		struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);

		evhttp_add_header(h, "WWW-Authenticate", "Bearer realm=\"timerd\"");
		if (retry > 0) {
			char v[32];

			snprintf(v, sizeof(v), "%" PRId64, (retry + 999) / 1000);
			evhttp_add_header(h, "Retry-After", v);
		}
		http_reply_error(r, TIMERD__ERROR_CODE__UNAUTHENTICATED, "%s", msg);
		return false;
	}
	if (http_needs_stats(path) && !ident_allows(r->ident, IDENT_OP_STATS, NULL, 0, NULL, 0, msg, sizeof(msg))) {
		http_reply_error(r, TIMERD__ERROR_CODE__PERMISSION, "%s", msg);
		return false;
	}
	return true;
}

/* evhttp's request callback (loop thread): finds the route and runs it. */
static void http_dispatch(struct evhttp_request *req, void *arg)
{
	struct loop *l = arg;
	struct http_held *h = http_held_new(l);
	struct http_req *r = h ? &h->r : NULL;
	char *cap[HTTP_MAX_ARGS];
	const struct http_route *rt;
	const char *path, *query;
	unsigned ncap;

	if (!h) {
		evhttp_send_error(req, 503, "timerd is out of memory");
		return;
	}
	*r = (struct http_req){ .req = req, .l = l, .s = l->srv, .uri = evhttp_request_get_evhttp_uri(req) };
	TAILQ_INIT(&r->query);
	atomic_fetch_add_explicit(&l->srv->http_requests, 1, memory_order_relaxed);	/* relaxed: a counter */
	if (!http_conn_admit(r) || !http_ident(r))
		return;
	path = r->uri ? evhttp_uri_get_path(r->uri) : NULL;
	query = r->uri ? evhttp_uri_get_query(r->uri) : NULL;
	if (evbuffer_get_length(evhttp_request_get_input_buffer(req)) > l->srv->cfg->max_frame) {
		http_reply_error(r, TIMERD__ERROR_CODE__FRAME_TOO_LARGE,
				 "the body is over max-frame (%u bytes): send a smaller one, or raise max-frame",
				 (unsigned)l->srv->cfg->max_frame);
		return;
	}
	if (query && evhttp_parse_query_str(query, &r->query) < 0) {
		http_reply_error(r, TIMERD__ERROR_CODE__INVALID, "cannot parse the query string: use ?name=value&name=value");
		return;
	}
	if (!(rt = http_route_find(r, path && *path ? path : "/", cap, &ncap)))
		return;
	for (unsigned i = 0; i < r->nargs; i++)
		if (!r->arg[i]) {
			http_reply_error(r, TIMERD__ERROR_CODE__INVALID, "cannot decode the path: check its %%-escapes");
			return;
		}
	rt->fn(r);
}

/* --- the daemon's side --- */

int http_listen(struct srv *s, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE }, *res;
	struct addr a;
	int fd, rc, one = 1;

	s->http_fd = -1;
	pthread_once(&http_routes_once, http_routes_init);
	if (!s->cfg->http)
		return 0;
	if (addr_parse(s->cfg->http, &a, err, errlen) < 0)
		return -1;
	if ((rc = getaddrinfo(a.host, a.port, &hints, &res)) != 0)
		return td_errf(err, errlen, "http %s: %s", s->cfg->http, gai_strerror(rc));
	fd = socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, res->ai_protocol);
	if (fd >= 0) {
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		/* accepted sockets inherit it (Linux): a reply's last segment must not wait for the client's delayed ACK */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, SOMAXCONN) < 0) {
		rc = errno;
		freeaddrinfo(res);
		if (fd >= 0)
			close(fd);
		return td_errf(err, errlen, "cannot serve HTTP on %s: %s%s", s->cfg->http, strerror(rc),
			       rc == EADDRINUSE ? " (another program has the port: pick another)" : "");
	}
	freeaddrinfo(res);
	s->http_fd = fd;
	log_info("HTTP API on %s://%s/ (doc/http.md)", s->cfg->http_tls ? "https" : "http", s->cfg->http);
	return 0;
}

/* The most body evhttp reads: max-frame's headroom, so the dispatch answers a body over max-frame in JSON. */
static size_t http_body_cap(uint32_t max_frame)
{
	return (size_t)max_frame * 2;
}

int http_loop_init(struct loop *l, char *err, size_t errlen)
{
	struct srv *s = l->srv;
	struct http_loop *hl;
	struct evhttp_bound_socket *bound;
	struct timeval tv = { (time_t)(s->cfg->http_timeout_ns / 1000000000),
			      (suseconds_t)(s->cfg->http_timeout_ns % 1000000000 / 1000) };
	int fd;

	if (!s->cfg->http || s->http_fd < 0)
		return 0;
	if (!(hl = calloc(1, sizeof(*hl))))
		return td_errf(err, errlen, "out of memory");
	l->http = hl;
	hmap_init(&hl->conns);
	hl->held_tail = &hl->held;
	if (!(hl->eh = evhttp_new(l->base)))
		return td_errf(err, errlen, "cannot set up HTTP on loop %u", l->idx);
	evhttp_set_max_headers_size(hl->eh, HTTP_MAX_HEADERS);
	evhttp_set_max_body_size(hl->eh, http_body_cap(s->cfg->max_frame));
	/* no EVHTTP_SERVER_LINGERING_CLOSE: the 413 of a body over the cap goes out at once, from its headers,
	 * not after the whole declared body (100 GB, or none at all after Expect: 100-continue) arrived */
	evhttp_set_timeout_tv(hl->eh, &tv);
	/* PATCH and OPTIONS too: the route table answers them a JSON 405 with Allow, not evhttp an HTML 501 */
	evhttp_set_allowed_methods(hl->eh, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_POST |
				   EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH | EVHTTP_REQ_OPTIONS);
	evhttp_set_gencb(hl->eh, http_dispatch, l);
	evhttp_set_bevcb(hl->eh, http_accepted, l);
	/* each evhttp closes its own listening fd: a dup of the one socket */
	if ((fd = fcntl(s->http_fd, F_DUPFD_CLOEXEC, 0)) < 0 || !(bound = evhttp_accept_socket_with_handle(hl->eh, fd))) {
		if (fd >= 0)
			close(fd);
		return td_errf(err, errlen, "cannot accept HTTP connections on loop %u: %s", l->idx, strerror(errno));
	}
	hl->lev = evhttp_bound_socket_get_listener(bound);
	if (!(hl->balance_ev = evtimer_new(l->base, http_balance_cb, l)))
		return td_errf(err, errlen, "cannot set up HTTP on loop %u: out of memory", l->idx);
	return 0;
}

void http_loop_free(struct loop *l)
{
	struct http_loop *hl = l->http;

	if (!hl)
		return;
	hl->freeing = true;
	while (hl->held) {	/* answered as they are: the journal has stopped */
		struct http_held *h = container_of(hl->held, struct http_held, r);

		hl->held = h->next;
		http_send(&h->r, h->status, h->body);
	}
	http_watch_free(l);
	http_group_loop_free(l);
	if (hl->balance_ev)
		event_free(hl->balance_ev);
	hl->balance_ev = NULL;
	hl->lev = NULL;	/* evhttp_free frees it before closing the connections (whose close runs http_balance) */
	if (hl->eh)
		evhttp_free(hl->eh);	/* runs http_conn_closed for each connection */
	hmap_destroy(&hl->conns, free);	/* empty: evhttp_free closed them all */
	while (hl->spare) {
		struct http_held *h = container_of(hl->spare, struct http_held, r);

		hl->spare = h->next;
		free(h);
	}
	free(hl);
	l->http = NULL;
}

void http_close(struct srv *s)
{
	if (s->http_fd >= 0)
		close(s->http_fd);
	s->http_fd = -1;
}
