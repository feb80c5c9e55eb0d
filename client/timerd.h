/*
 * timerd.h -- libtimerd, the C client library of the timerd timer daemon.
 *
 * Blocking use (one request at a time; fire events are queued meanwhile):
 *
 *	struct timerd *t;
 *	struct timerd_error e;
 *	if (timerd_connect(NULL, NULL, &t, &e) != TIMERD_OK)
 *		errx(3, "%s", e.message);          says how to start timerd
 *	struct timerd_arm a = { .when = TIMERD_AFTER, .time_ns = 250 * TIMERD_MS,
 *	                        .key = "job-7", .topic = "jobs", .notify = true };
 *	struct timerd_arm_result r;
 *	if (timerd_arm(t, &a, &r) != TIMERD_OK)
 *		errx(1, "%s", timerd_errmsg(t));
 *	struct timerd_event *ev;
 *	if (timerd_next_event(t, 1000, &ev) == TIMERD_OK) {   wait up to 1 s
 *		...ev->fire.key, ev->fire.deadline_mono_ns...
 *		timerd_event_free(ev);
 *	}
 *	timerd_close(t);
 *
 * Asynchronous use with libevent (pipelines: many requests in flight):
 *
 *	struct timerd_async *c;
 *	timerd_async_connect(base, NULL, NULL, &c, &e);
 *	timerd_async_set_event_cb(c, on_fire_or_notice, arg);
 *	timerd_async_set_close_cb(c, on_connection_lost, arg);
 *	for (i = 0; i < 1000; i++)
 *		timerd_async_arm(c, &a, on_armed, arg);        returns at once
 *	event_base_dispatch(base);      on_armed runs once per request, in order
 *	timerd_async_free(c);
 *
 * Errors: every call returns TIMERD_OK (0) or a positive enum timerd_code;
 * timerd_errmsg() has the message for the last failure on that connection
 * (the server's own words for server errors). Messages say what to do next.
 *
 * Threads: a connection (either kind) is used by one thread at a time;
 * different connections are independent. The async API never blocks except
 * in timerd_async_connect() (a local connect). Programs writing to sockets
 * should ignore SIGPIPE (signal(SIGPIPE, SIG_IGN)); the blocking API never
 * raises it, the async API uses libevent's writes.
 *
 * Times are nanoseconds; "mono" is the server's CLOCK_MONOTONIC (the same
 * clock as the client's on one machine), "unix" is wall-clock time.
 */
#ifndef TIMERD_CLIENT_H
#define TIMERD_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TIMERD_US 1000LL
#define TIMERD_MS 1000000LL
#define TIMERD_S  1000000000LL

/* The wire protocol version this library speaks. */
#define TIMERD_PROTOCOL_VERSION 1

/* Result codes: 1..199 are the server's (proto/timerd.proto ErrorCode), 200.. local. */
enum timerd_code {
	TIMERD_OK = 0,
	TIMERD_EINVAL = 1,		/* a field is out of range or malformed */
	TIMERD_EDEADLINE = 2,		/* deadline negative or out of range */
	TIMERD_EOVERFLOW = 3,		/* deadline overflows the clock range */
	TIMERD_EPERIOD = 4,		/* period must be 0 or >= 1 us */
	TIMERD_EKEYLEN = 5,		/* key too long */
	TIMERD_ETOPICLEN = 6,		/* topic too long */
	TIMERD_EPAYLOAD = 7,		/* payload too large */
	TIMERD_EFULL = 8,		/* the server holds its maximum of timers */
	TIMERD_ENOTFOUND = 9,		/* no timer with that id or key */
	TIMERD_ENOMEM = 10,		/* out of memory (server or client) */
	TIMERD_ESYSTEM = 11,		/* a system call failed in the server */
	TIMERD_EBUSY = 12,
	TIMERD_EKEYID = 13,		/* give a key or an id, not both */
	TIMERD_ESTORAGE = 14,		/* the timer store cannot be written (disk full, I/O
					   error): nothing was changed; retry later */
	TIMERD_ECONFLICT = 15,		/* a group of that name exists with other settings */
	TIMERD_EVERSION = 100,		/* protocol version not supported */
	TIMERD_EMALFORMED = 101,	/* the server could not decode a request */
	TIMERD_EUNKNOWNOP = 102,	/* the server does not know the operation */
	TIMERD_EFRAME = 103,		/* frame too large */
	TIMERD_EINFLIGHT = 104,		/* too many unanswered requests */
	TIMERD_ECONNS = 105,		/* the server has too many connections */
	TIMERD_EPERM = 106,		/* needs a root peer on the Unix socket */
	TIMERD_EUNAVAIL = 107,		/* feature not available (e.g. BPF probes) */
	TIMERD_ESHUTDOWN = 108,		/* the server is stopping */
	TIMERD_EWATCHES = 109,		/* too many watched topics */
	TIMERD_ESTALLED = 110,		/* the server saw an incomplete frame stall */
	TIMERD_EUNAUTH = 111,		/* UNAUTHENTICATED: Auth first, a wrong secret, or the identity was removed */
	TIMERD_ERATELIMIT = 112,	/* RATE_LIMITED: the identity's arms-per-s is used up; retry (the message says when) */
	TIMERD_ECONNECT = 200,		/* cannot connect: timerd not running, bad address */
	TIMERD_EIO = 201,		/* reading or writing the connection failed */
	TIMERD_ETIMEDOUT = 202,		/* no answer within the timeout */
	TIMERD_EPROTO = 203,		/* the server sent something this library cannot read */
	TIMERD_ECLOSED = 204,		/* the connection is closed */
	TIMERD_EARG = 205,		/* a bad argument to a library call */
};

/* A generic text for a code ("no such timer"); never NULL. */
const char *timerd_strerror(int code);

/* The code's name as in the protocol ("NOT_FOUND"); never NULL. */
const char *timerd_errname(int code);

/* A failure reported by timerd_connect(). */
struct timerd_error {
	int code;
	char message[512];
};

/*
 * TLS to a TCP address (tls://HOST:PORT, or any HOST:PORT when
 * timerd_options.tls is set). The server's certificate is always verified:
 * it must chain to ca_file's CAs (NULL: the system's) and name the host
 * connected to (or server_name). TLS 1.2 at least.
 */
struct timerd_tls {
	const char *ca_file;		/* PEM CAs the server's certificate must chain to; NULL: system store */
	const char *cert_file;		/* PEM client certificate (chain), for a server that asks; NULL: none */
	const char *key_file;		/* its PEM private key (NULL: in cert_file) */
	const char *server_name;	/* name checked in the certificate (and SNI); NULL: the address's host */
};

struct timerd_options {
	int timeout_ms;			/* per blocking call and connect; 0: 10 s; < 0: none */
	const char *client_name;	/* sent in Hello; NULL: "libtimerd" */
	size_t max_queued_events;	/* blocking API: events kept while not read; 0: 65536 */
	const struct timerd_tls *tls;	/* non-NULL: TLS on a TCP address (added last: ABI) */
	/*
	 * An identity of the server's users file (doc/security.md): the
	 * connection sends Auth{identity, secret} right after Hello, and
	 * timerd_connect fails TIMERD_EUNAUTH when the server refuses it.
	 * NULL: none (bound by the peer's uid or certificate, if at all).
	 * The secret is the caller's (from a file or the environment, never
	 * argv); the library keeps no copy past timerd_connect.
	 */
	const char *identity;
	const void *secret;
	size_t secret_len;
};

/* ------------------------------------------------------------------------ */
/* Requests and results, shared by both APIs. */

enum timerd_when {
	TIMERD_AFTER = 0,		/* time_ns is a delay from now */
	TIMERD_AT_MONO = 1,		/* an absolute server CLOCK_MONOTONIC time */
	TIMERD_AT_UNIX = 2,		/* a wall-clock time; follows clock jumps */
};

/* What a restart does with a timer that came due while timerd was down. */
enum timerd_misfire {
	TIMERD_MISFIRE_FIRE = 0,	/* fire it once, late (fire.recovered); periodic:
					   once, missed counts the skipped periods */
	TIMERD_MISFIRE_SKIP = 1,	/* one-shot: drop it; periodic: go on at its next period */
};

struct timerd_arm {
	enum timerd_when when;
	int64_t time_ns;
	int64_t period_ns;		/* 0: one-shot */
	const char *key;		/* create-or-replace by key; NULL: none */
	uint64_t timer_id;		/* re-arm by id; 0: none (not with key) */
	const char *topic;		/* NULL: none */
	const void *payload;
	size_t payload_len;
	bool notify;			/* push the fires to this connection */
	bool ephemeral;			/* memory only: not journaled, lost on restart */
	enum timerd_misfire misfire;	/* 0 (TIMERD_MISFIRE_FIRE) by default */
	const char *calendar;		/* a calendar schedule instead of when/time_ns and
					   period_ns (leave those 0): systemd.time(7)
					   "Mon..Fri 09:00 Europe/Paris" or cron; the timer
					   fires at each elapse. NULL or "": none */
};

struct timerd_arm_result {
	uint64_t timer_id;
	int64_t deadline_mono_ns;
	int64_t deadline_unix_ns;
	bool created;			/* false: an existing timer was re-armed */
	bool coalesced;			/* superseded by an overlapping arm */
};

struct timerd_timer {
	uint64_t timer_id;
	const char *key;		/* "" if none */
	const char *topic;
	const void *payload;		/* payload_len bytes (List sends none unless asked) */
	size_t payload_len;
	uint32_t payload_size;		/* the timer's payload size on the server */
	int64_t deadline_mono_ns;	/* next fire */
	int64_t deadline_unix_ns;
	int64_t period_ns;
	bool realtime;
	bool notify;
	bool ephemeral;			/* memory only (armed ephemeral, by a probe, or
					   the server runs --memory-only) */
	enum timerd_misfire misfire;
	const char *calendar;		/* the normalised calendar schedule; "" if none */
	const char *owner;		/* the identity that armed it; "" if none (added last: ABI) */
};

struct timerd_list {
	size_t n;
	struct timerd_timer *timers;
	uint64_t next_cursor;		/* 0: the listing is complete */
};

struct timerd_origin {
	uint32_t probe_id, pid, tid;
	char comm[17];
	int64_t hit_mono_ns;
};

struct timerd_fire {
	uint64_t timer_id;
	const char *key;
	const char *topic;
	const void *payload;
	size_t payload_len;
	int64_t deadline_mono_ns;	/* when it was due */
	int64_t fired_mono_ns;		/* when the server fired it */
	int64_t deadline_unix_ns;
	int64_t period_ns;
	uint64_t seq;			/* fires of this timer so far, this one included */
	uint64_t missed;		/* periods skipped after this one (it was late) */
	bool final;			/* one-shot: the timer is gone */
	bool has_origin;		/* armed by a BPF probe: origin is set */
	struct timerd_origin origin;
	bool recovered;			/* restored at start after it came due while
					   timerd was down (fired late, misfire fire) */
};

enum timerd_notice_kind {
	TIMERD_NOTICE_OTHER = 0,
	TIMERD_NOTICE_FIRES_DROPPED = 1, /* count fire events were dropped: read faster */
	TIMERD_NOTICE_SHUTDOWN = 2,	/* the server is stopping */
};

enum timerd_event_kind {
	TIMERD_EVENT_FIRE = 1,
	TIMERD_EVENT_NOTICE = 2,
};

struct timerd_event {
	enum timerd_event_kind kind;
	struct timerd_fire fire;	/* TIMERD_EVENT_FIRE */
	struct {
		enum timerd_notice_kind kind;
		uint64_t count;
		const char *message;
	} notice;			/* TIMERD_EVENT_NOTICE */
	/* A fire that is a consumer group's delivery (timerd_subscribe): answer it
	   with timerd_ack or timerd_nack. delivery_id 0: a plain fire. (Added
	   last: ABI.) */
	struct {
		uint64_t delivery_id;
		uint32_t attempt;	/* 1, 2, 3...: > 1 is a redelivery */
		const char *group;
	} delivery;
};

/* One counter: name is "<group>.<field>", e.g. "engine.fires", "server.req_arm". */
struct timerd_stat {
	const char *name;
	int64_t value;
};

struct timerd_stats {
	size_t n;
	struct timerd_stat *v;
	const char *version;		/* "timerd 0.1.0" */
	const char *stats_db;		/* path of stats.db; "" if stats are off */
	int64_t now_mono_ns, now_unix_ns;
	/* The store (timers.db); its counters are "store.*" in v. */
	const char *store_fsync;	/* "always", "never", "10ms", "memory-only"; "" if not reported */
	const char *store_path;		/* timers.db; "" if none */
	const char *store_last_error;	/* the last commit's failure; "" if none */
};

struct timerd_probe {
	uint32_t probe_id;
	const char *spec;
	uint64_t hits, arms, cancels, ring_drops, errors;
	uint64_t misses;		/* cancels and re-arms that found no timer */
	uint64_t coalesced;		/* arms cancelled within one consumer batch */
};

struct timerd_probes {
	size_t n;
	struct timerd_probe *v;
};

/* A consumer group (doc/delivery.md). Zero fields take the server's defaults. */
struct timerd_group {
	const char *name;
	const char *const *topics;
	size_t n_topics;
	int64_t ack_timeout_ns;		/* 0: 30 s */
	uint32_t max_attempts;		/* 0: 5 */
	int64_t backoff_min_ns;		/* 0: 1 s; doubles per attempt, with jitter */
	int64_t backoff_max_ns;		/* 0: 5 min */
	uint64_t max_backlog;		/* 0: the server's default */
	bool unordered;			/* false: per key, one delivery in flight at a time */
	const char *webhook_url;	/* NULL: deliver to subscribed consumers */
	uint32_t webhook_concurrency;	/* 0: 8 */
	int64_t webhook_timeout_ns;	/* 0: the ack timeout */
	bool webhook_insecure;		/* do not verify the webhook's certificate */
};

/* A group with its counters (timerd_group_list). */
struct timerd_group_info {
	struct timerd_group group;
	uint64_t backlog, in_flight, acked, redeliveries, dead_letters, consumers;
	uint64_t delivered, nacked, timeouts, backlog_dropped, created, dead_lettered;
	uint64_t webhook_requests, webhook_failures;	/* a webhook group's POSTs, and those not answered 2xx */
};

struct timerd_groups {
	size_t n;
	struct timerd_group_info *v;
};

struct timerd_dead_letter {
	uint64_t delivery_id, timer_id;
	const char *key, *topic;
	const void *payload;		/* payload_len bytes, with with_payload */
	size_t payload_len;
	uint32_t payload_size;		/* its size on the server */
	uint32_t attempts;
	const char *last_error;
	int64_t deadline_unix_ns, dead_unix_ns;
};

struct timerd_dlq {
	size_t n;
	struct timerd_dead_letter *v;
	uint64_t next_cursor;		/* 0: complete */
};

/* Looks up a counter by name; false if the server did not report it. */
bool timerd_stats_get(const struct timerd_stats *s, const char *name, int64_t *value);

void timerd_timer_free(struct timerd_timer *t);
void timerd_list_free(struct timerd_list *l);
void timerd_event_free(struct timerd_event *ev);
void timerd_stats_free(struct timerd_stats *s);
void timerd_probes_free(struct timerd_probes *p);
void timerd_groups_free(struct timerd_groups *g);
void timerd_dlq_free(struct timerd_dlq *d);

/* The socket a client uses when given none ($TIMERD_SOCKET or the per-user default). */
void timerd_default_address(char *buf, size_t len);

/* ------------------------------------------------------------------------ */
/* Blocking API. */

struct timerd;

/*
 * Connects to addr (NULL: the default; "unix:PATH", "/path", "HOST:PORT")
 * and exchanges Hello. On failure *out is NULL and err (if given) says why.
 */
int timerd_connect(const char *addr, const struct timerd_options *opt, struct timerd **out,
		   struct timerd_error *err);

/* Closes the connection and frees everything it holds. */
void timerd_close(struct timerd *t);

/* The message of the last failure on t ("" if none). */
const char *timerd_errmsg(const struct timerd *t);

/* The socket's fd, to poll for readability before timerd_next_event(). */
int timerd_fd(const struct timerd *t);

int timerd_arm(struct timerd *t, const struct timerd_arm *a, struct timerd_arm_result *r);

/* Cancels by id or key (the other 0 / NULL). */
int timerd_cancel(struct timerd *t, uint64_t timer_id, const char *key);

/* Copies a timer out (free with timerd_timer_free). */
int timerd_get(struct timerd *t, uint64_t timer_id, const char *key, struct timerd_timer **out);

/*
 * Lists one page of timers (topic NULL: all topics), starting at cursor
 * (0 first, then the page's next_cursor); limit 0: the server's default.
 */
int timerd_list(struct timerd *t, const char *topic, uint64_t cursor, uint32_t limit,
		bool with_payload, struct timerd_list **out);

/* Pushes fires of topic (NULL: every topic) to this connection. */
int timerd_watch(struct timerd *t, const char *topic);
int timerd_unwatch(struct timerd *t, const char *topic);

/* Measures one round trip. */
int timerd_ping(struct timerd *t, int64_t *rtt_ns);

int timerd_stats(struct timerd *t, struct timerd_stats **out);

/* BPF probes: attach and detach need a root peer on the Unix socket. */
int timerd_probe_attach(struct timerd *t, const char *spec, uint32_t *probe_id);
int timerd_probe_detach(struct timerd *t, uint32_t probe_id);
int timerd_probe_list(struct timerd *t, struct timerd_probes **out);

/*
 * Consumer groups (doc/delivery.md). timerd_group_create: *created (may be
 * NULL) is false when the group existed with the same settings;
 * TIMERD_ECONFLICT when it exists with others (update = true changes them).
 */
int timerd_group_create(struct timerd *t, const struct timerd_group *g, bool update, bool *created);
int timerd_group_delete(struct timerd *t, const char *name);
/* name NULL or "": every group. */
int timerd_group_list(struct timerd *t, const char *name, struct timerd_groups **out);

/*
 * Subscribe makes this connection a consumer of the group: deliveries come
 * as events (timerd_next_event, kind TIMERD_EVENT_FIRE, delivery.delivery_id
 * set), at most credit unacked at a time (0: 1). Ack completes one; nack makes
 * it due again after retry_after_ns (0: the group's backoff); error (may be
 * NULL) is kept with a dead letter.
 */
int timerd_subscribe(struct timerd *t, const char *group, uint32_t credit);
int timerd_unsubscribe(struct timerd *t, const char *group);
int timerd_ack(struct timerd *t, uint64_t delivery_id);
int timerd_nack(struct timerd *t, uint64_t delivery_id, int64_t retry_after_ns, const char *error);

/* Dead letters; key NULL: every key; delivery_id 0: every one matching. */
int timerd_dlq_list(struct timerd *t, const char *group, const char *key, uint64_t cursor,
		    uint32_t limit, bool with_payload, struct timerd_dlq **out);
int timerd_dlq_retry(struct timerd *t, const char *group, const char *key, uint64_t delivery_id,
		     uint64_t *count);
int timerd_dlq_purge(struct timerd *t, const char *group, const char *key, uint64_t delivery_id,
		     uint64_t *count);

/*
 * Waits up to timeout_ms (< 0: forever, 0: poll) for a pushed event (a fire
 * of a watched topic or of a notify timer, or a notice); TIMERD_ETIMEDOUT if
 * none came. Free the event with timerd_event_free.
 */
int timerd_next_event(struct timerd *t, int timeout_ms, struct timerd_event **out);

/* ------------------------------------------------------------------------ */
/* Asynchronous API (libevent). */

struct event_base;
struct timerd_async;

/* What a request produced; valid only during the callback. */
struct timerd_reply {
	int code;			/* TIMERD_OK or the failure */
	const char *message;		/* the failure's message; "" on success */
	struct timerd_arm_result arm;	/* timerd_async_arm */
	const struct timerd_timer *timer; /* timerd_async_get */
	const struct timerd_list *list;	/* timerd_async_list */
	const struct timerd_stats *stats; /* timerd_async_stats */
	int64_t rtt_ns;			/* timerd_async_ping */
};

typedef void (*timerd_reply_fn)(struct timerd_async *c, const struct timerd_reply *r, void *arg);
typedef void (*timerd_event_fn)(struct timerd_async *c, const struct timerd_event *ev, void *arg);
typedef void (*timerd_close_fn)(struct timerd_async *c, int code, const char *message, void *arg);

/*
 * Connects (a blocking local connect) and queues a Hello; requests may be
 * issued at once. On failure *out is NULL and err says why.
 */
int timerd_async_connect(struct event_base *base, const char *addr, const struct timerd_options *opt,
			 struct timerd_async **out, struct timerd_error *err);

/* Events (fires, notices) go to fn. */
void timerd_async_set_event_cb(struct timerd_async *c, timerd_event_fn fn, void *arg);

/*
 * fn runs once when the connection is lost (after every pending request's
 * callback ran with TIMERD_ECLOSED or the error); free c afterwards.
 */
void timerd_async_set_close_cb(struct timerd_async *c, timerd_close_fn fn, void *arg);

/*
 * Issue a request; fn (may be NULL) runs with the reply. Replies come in the
 * order requests were issued. TIMERD_ECLOSED if the connection is gone,
 * TIMERD_EINFLIGHT if the server's max_inflight requests are unanswered.
 */
int timerd_async_arm(struct timerd_async *c, const struct timerd_arm *a, timerd_reply_fn fn, void *arg);
int timerd_async_cancel(struct timerd_async *c, uint64_t timer_id, const char *key,
			timerd_reply_fn fn, void *arg);
int timerd_async_get(struct timerd_async *c, uint64_t timer_id, const char *key,
		     timerd_reply_fn fn, void *arg);
int timerd_async_list(struct timerd_async *c, const char *topic, uint64_t cursor, uint32_t limit,
		      bool with_payload, timerd_reply_fn fn, void *arg);
int timerd_async_watch(struct timerd_async *c, const char *topic, timerd_reply_fn fn, void *arg);
int timerd_async_unwatch(struct timerd_async *c, const char *topic, timerd_reply_fn fn, void *arg);
int timerd_async_ping(struct timerd_async *c, timerd_reply_fn fn, void *arg);
int timerd_async_stats(struct timerd_async *c, timerd_reply_fn fn, void *arg);
/* Consumer groups: as the blocking calls above. */
int timerd_async_subscribe(struct timerd_async *c, const char *group, uint32_t credit,
			   timerd_reply_fn fn, void *arg);
int timerd_async_ack(struct timerd_async *c, uint64_t delivery_id, timerd_reply_fn fn, void *arg);
int timerd_async_nack(struct timerd_async *c, uint64_t delivery_id, int64_t retry_after_ns,
		      const char *error, timerd_reply_fn fn, void *arg);

/* Requests issued and not yet answered. */
size_t timerd_async_pending(const struct timerd_async *c);

/* The most requests that may be pending (the server's max_inflight). */
size_t timerd_async_window(const struct timerd_async *c);

/* Closes the connection; pending callbacks run with TIMERD_ECLOSED first. */
void timerd_async_free(struct timerd_async *c);

#ifdef __cplusplus
}
#endif

#endif /* TIMERD_CLIENT_H */
