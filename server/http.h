/*
 * http.h -- the HTTP/JSON API, /metrics and (server/http-page.c) the
 * status page, served by libevent's evhttp on the daemon's loop threads
 * (--http HOST:PORT; doc/http.md, doc/architecture.md "HTTP").
 *
 * One listening socket (srv.c binds it like --listen); every loop thread
 * has its own evhttp on its own event_base accepting from a dup of it, so
 * a request is handled on the loop thread that accepted it, with that
 * loop's arenas, counters and journal batch, like an RPC frame.
 *
 * A route handler runs on a loop thread and answers exactly once, now or
 * later (http_reply_*); adding a route is one call:
 *
 *	static void page_index(struct http_req *r) { http_reply_text(r, 200, "text/html", html, n); }
 *	http_route_add(EVHTTP_REQ_GET, "/", page_index);
 *	http_route_add(EVHTTP_REQ_GET, "/v1/timers/{key}", get_timer);   {..}: one segment, r->arg[0]
 *
 * Routes are added before the first loop serves (http_routes_init, once
 * per process) and only read afterwards.
 */
#ifndef TIMERD_HTTP_H
#define TIMERD_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "proto/timerd.pb-c.h"
#include "server/hmap.h"

struct loop;
struct http_gpoll;
struct srv;

/* Path segments a route pattern may capture ({name}). */
#define HTTP_MAX_ARGS 2
/* Bytes of a captured segment, decoded (longer: 414). */
#define HTTP_MAX_ARG 4096

/* One request being handled (valid until it is answered). */
struct http_req {
	struct evhttp_request *req;
	struct loop *l;
	struct srv *s;
	const struct evhttp_uri *uri;
	char *arg[HTTP_MAX_ARGS];	/* decoded {name} segments of the route */
	struct evkeyvalq query;		/* ?a=b&c=d, decoded */
	unsigned nargs;
	const struct ident *ident;	/* with a users file: the request's identity (auth_http), valid during the request */
};

typedef void (*http_fn)(struct http_req *r);

/*
 * Adds a route: method is one EVHTTP_REQ_* (a path with no route for the
 * method answers 405), pattern a path whose {name} segments match one
 * segment each. First match wins. 0, or -1 if the table is full.
 */
int http_route_add(unsigned method, const char *pattern, http_fn fn);

/* Answers with a JSON body (taken over: decref'd here); NULL body: 500 NO_MEMORY. */
void http_reply_json(struct http_req *r, int status, json_t *body);

/* Answers with the bytes of body (taken over: freed here); the caller set Content-Type. */
void http_reply_buf(struct http_req *r, int status, struct evbuffer *body);

/* Answers with bytes of the given content type. */
void http_reply_text(struct http_req *r, int status, const char *ctype, const void *p, size_t n);

/*
 * Answers {"error": {"code": "NOT_FOUND", "message": "..."}} with the
 * status http_status(code) (and Retry-After where the client may retry).
 */
void http_reply_error(struct http_req *r, Timerd__ErrorCode code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The HTTP status of an ErrorCode (400 for a code it does not know). */
int http_status(Timerd__ErrorCode code);

/* The name of an ErrorCode ("NOT_FOUND"), as in timerd.proto. */
const char *http_code_name(Timerd__ErrorCode code);

/* The query parameter name of r, or NULL. */
const char *http_query(struct http_req *r, const char *name);

/* --- http.c: the daemon's side --- */

/* Binds --http's socket (srv_start, before the loops start); 0 or -1 with err. */
int http_listen(struct srv *s, char *err, size_t errlen);

/* Sets up loop l's evhttp (before its thread starts); 0 or -1 with err. */
int http_loop_init(struct loop *l, char *err, size_t errlen);

/* Answers the HTTP replies of l that waited for the journal and are now durable (loop thread). */
void http_release_durable(struct loop *l);

/* Frees l's evhttp, its connections and the replies still waiting (the thread has exited). */
void http_loop_free(struct loop *l);

/* Closes the listening socket. */
void http_close(struct srv *s);

/* --- private to server/http*.c --- */

/* A loop thread's HTTP side (loop thread only). */
struct http_loop {
	struct evhttp *eh;
	struct hmap conns;		/* evhttp_connection pointer -> struct http_conn (http.c): the connections admitted and counted */
	struct http_req *held, **held_tail;	/* replies waiting for the journal, oldest first */
	struct http_sse *streams;	/* GET /v1/watch streams (http-watch.c) */
	struct event *keepalive;	/* writes a comment to every stream now and then */
	uint64_t sse_stamp;		/* the loop's fire stamp sse_text was encoded for */
	char *sse_text;			/* that fire as an SSE event */
	size_t sse_len;
	struct evconnlistener *lev;	/* evhttp's listener on this loop's dup of the socket */
	struct event *balance_ev;	/* re-checks the balance while lev is disabled */
	bool lev_off;			/* lev disabled: this loop has more than its share */
	unsigned admitted;		/* connections counted in conns */
	unsigned unadmitted;		/* accepted, no request yet (gone after http-timeout) */
	int64_t last_accept_ns;		/* CLOCK_MONOTONIC of the last accept */
	struct http_req *spare;		/* freed requests kept for the next ones (http.c), a list */
	struct http_gpoll *polls;	/* this loop's long polls and held deliveries (http-group.c) */
	unsigned nspare;
	bool freeing;			/* http_loop_free runs: no dispatch follows (http_write_now) */
};

/* Frees r without answering (it was answered, or its stream started). */
void http_req_free(struct http_req *r);

/* The connection no longer counts against http-max-connections (its close callback). */
void http_conn_forget(struct loop *l, struct evhttp_connection *evcon);

/* The close callback that only forgets the connection (arg: its loop). */
void http_conn_closed(struct evhttp_connection *evcon, void *arg);

/*
 * Answers r with an rpc_run Response as the /v1 routes do: the error, or
 * body(rs) with ok_status (201 for a created arm) at once or once the
 * journal batch hold is committed.
 */
void http_answer_rpc(struct http_req *r, const Timerd__Response *rs, uint64_t hold, int ok_status,
		     const ProtobufCMessage *(*body)(const Timerd__Response *rs));

/* Runs rq through rpc_run (no connection) and answers r as the /v1 routes do (http_answer_rpc). */
void http_call_rpc(struct http_req *r, const Timerd__Request *rq, int ok_status,
		   const ProtobufCMessage *(*body)(const Timerd__Response *rs));

/* --- http-group.c --- */

/* Adds the consumer-group routes (from http_routes_init). */
void http_group_register(void);

/* Ends loop l's long polls and frees them (http_loop_free, before evhttp_free). */
void http_group_loop_free(struct loop *l);

/* The loop is stopping (loop thread): its long polls end now (503), held deliveries go back; no new poll. */
void http_group_loop_stop(struct loop *l);

/* --- http-watch.c --- */

/* GET /v1/watch?topic=A&topic=B: fires as Server-Sent Events. */
void http_watch(struct http_req *r);

/* Ends l's streams (the loop is being freed). */
void http_watch_free(struct loop *l);

struct ident_table;
/* A users-file reload on l (auth_loop_users, before old is released): streams of a removed or changed identity end. */
void http_watch_users(struct loop *l, const struct ident_table *old, const struct ident_table *t);

/* --- http-metrics.c --- */

/* GET /metrics: the Prometheus text exposition format. */
void http_metrics(struct http_req *r);

#endif /* TIMERD_HTTP_H */
