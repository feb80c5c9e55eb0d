/*
 * rpc.c -- requests: decode, validate, call the engine, reply. One handler
 * per operation, in a table indexed by the Request body; each fills the
 * Response or an Error, and rpc_handle() writes it (in request order).
 *
 * Both front ends run requests here: rpc_handle() for a frame from an RPC
 * connection, rpc_run() for a request the HTTP API built (server/http.c;
 * no connection: x->c is NULL). Validation and execution are the same
 * code; what differs is only what a connection provides (notify, watches,
 * probe permission, the in-flight window) and how a reply waits for the
 * journal (x->hold: conn_hold for RPC, the HTTP hold list for HTTP).
 */
#include "config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cal/cal.h"
#include "proto/frame.h"
#include "proto/text.h"
#include "proto/unpack.h"
#include "server/group-srv.h"
#include "server/auth.h"
#include "server/journal.h"
#include "server/log.h"
#include "server/quota.h"
#include "server/srv.h"

/* Bytes a calendar expression may have, and its normalised form (what Get and List carry). */
#define RPC_MAX_CALENDAR 1024
#define RPC_MAX_CALENDAR_NORM 128
/* Bytes a Ping may carry. */
#define RPC_MAX_PING 1024
/* Default List page size. */
#define RPC_LIST_DEFAULT 100
/* Bytes a List entry may take beyond its key, topic and payload (its other fields, tags and lengths). */
#define RPC_LIST_ENTRY_RESERVE 232
/*
 * Largest encoding of those: the entry's tag and length (1 + 5), four
 * 64-bit varints (id, two deadlines, period: 1 + 10 each), the key, topic
 * and payload lengths and payload_len (1 + 5 each), two bools (1 + 1),
 * the calendar (tag, 2-byte length, RPC_MAX_CALENDAR_NORM bytes).
 */
#define RPC_LIST_ENTRY_FIXED_MAX (6 + 4 * 11 + 4 * 6 + 2 * 2 + 3 + RPC_MAX_CALENDAR_NORM)
/* Largest encoding of a List reply around its entries: Response id, body tag and length, next_cursor. */
#define RPC_LIST_ENVELOPE_MAX (11 + 6 + 11)

_Static_assert(RPC_LIST_ENTRY_RESERVE >= RPC_LIST_ENTRY_FIXED_MAX, "a List page fits its frame");
_Static_assert(SETTINGS_FRAME_RESERVE >= RPC_LIST_ENVELOPE_MAX, "a List page fits its frame");
_Static_assert(SETTINGS_FRAME_RESERVE >= RPC_LIST_ENTRY_FIXED_MAX + RPC_LIST_ENVELOPE_MAX,
	       "a Get reply with the largest key, topic and payload fits max-frame");

#define RPC_STR(p) ((char *)(uintptr_t)(p))

/* Everything one request needs, on the loop thread's stack (keep it small: big replies use the reply arena). */
struct rpc_ctx {
	struct conn *c;
	struct group_consumer *gc;	/* a consumer that is not a connection (HTTP long poll), or NULL */
	struct loop *l;
	struct srv *s;
	const Timerd__Request *rq;
	const struct ident *id;		/* the identity the request runs as (NULL: no users file) */
	bool deferred;			/* answered later (Auth: auth_done) */
	uint64_t hold;			/* journal batch the reply waits for (0: none) */
	Timerd__Response rs;
	union {
		Timerd__HelloReply hello;
		Timerd__ArmReply arm;
		Timerd__CancelReply cancel;
		Timerd__GetReply get;
		Timerd__ListReply list;
		Timerd__WatchReply watch;
		Timerd__UnwatchReply unwatch;
		Timerd__Pong pong;
		Timerd__ProbeAttachReply probe_attach;
		Timerd__ProbeDetachReply probe_detach;
		Timerd__ProbeListReply probe_list;
	} u;
	Timerd__Limits limits;
	Timerd__Error err;
	char msg[512];
	char version[32];
};

struct rpc_op {
	const char *name;
	size_t ctr;			/* offsetof(struct loop_counters, req_*) */
	void (*fn)(struct rpc_ctx *x);
};

/* Counts an error reply under its code's counter. */
static void rpc_count_error(struct loop *l, Timerd__ErrorCode code)
{
	ctr_add(&l->ctr.errors, 1);
	ctr_add(errmap_counter(&l->ctr, code), 1);
}

/* Answers with an Error. */
__attribute__((format(printf, 3, 4)))
static void rpc_error(struct rpc_ctx *x, Timerd__ErrorCode code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(x->msg, sizeof(x->msg), fmt, ap);
	va_end(ap);
	timerd__error__init(&x->err);
	x->err.code = code;
	x->err.message = x->msg;
	x->rs.body_case = TIMERD__RESPONSE__BODY_ERROR;
	x->rs.error = &x->err;
	rpc_count_error(x->l, code);
}

/*
 * Answers TD_EQUOTA: the arm would create a timer past its identity's
 * max-timers (FULL) or max-memory (NO_MEMORY) of the users file.
 */
static void rpc_quota_error(struct rpc_ctx *x, const char *what)
{
	const struct ident_quota *q = &x->id->quota;
	uint64_t timers;
	int64_t bytes;

	engine_acct_use(x->s->engine, quota_acct(x->s, x->c, x->id->name), &timers, &bytes);
	ctr_add(&x->l->ctr.quota_refusals, 1);
	if (q->max_timers && timers >= q->max_timers)
		rpc_error(x, TIMERD__ERROR_CODE__FULL, "%s: identity %s already has its max-timers (%" PRIu64 ") timers "
			  "pending: cancel some (re-arming them is allowed), or raise max-timers= on its users-file line",
			  what, x->id->name, q->max_timers);
	else
		rpc_error(x, TIMERD__ERROR_CODE__NO_MEMORY, "%s: identity %s would pass its max-memory (%" PRIu64 " bytes, "
			  "%" PRId64 " in use): cancel timers, send smaller payloads, or raise max-memory= on its "
			  "users-file line", what, x->id->name, q->max_memory, bytes);
}

/* Answers an engine error (a TD_* code) about `what`. */
static void rpc_engine_error(struct rpc_ctx *x, int rc, const char *what)
{
	const struct srv_config *cfg = x->s->cfg;

	if (rc == TD_EQUOTA && x->id)
		rpc_quota_error(x, what);
	else if (rc == TD_EFULL)
		rpc_error(x, TIMERD__ERROR_CODE__FULL, "timerd holds max-timers (%" PRIu64 ") timers: "
			  "cancel some or raise max-timers", cfg->max_timers);
	else if (rc == TD_ENOENT)
		rpc_error(x, TIMERD__ERROR_CODE__NOT_FOUND, "no such timer (it fired, was cancelled or never existed)");
	else if (rc == TD_ENOMEM)
		rpc_error(x, TIMERD__ERROR_CODE__NO_MEMORY, "%s: timerd is out of memory", what);
	else if (rc == TD_EMEMLIMIT)
		rpc_error(x, TIMERD__ERROR_CODE__NO_MEMORY, "%s: timerd's memory budget is used up (max-memory %" PRIu64
			  " bytes, %" PRId64 " in use); nothing armed was dropped: cancel timers, send smaller payloads, "
			  "or raise max-memory", what, cfg->max_memory, engine_mem_used(x->s->engine));
	else
		rpc_error(x, errmap_wire(rc), "%s", td_strerror(rc));
}

/* Sets the reply body. */
static void rpc_reply(struct rpc_ctx *x, Timerd__Response__BodyCase body, void *msg)
{
	x->rs.body_case = body;
	switch (body) {
	case TIMERD__RESPONSE__BODY_HELLO: x->rs.hello = msg; break;
	case TIMERD__RESPONSE__BODY_ARM: x->rs.arm = msg; break;
	case TIMERD__RESPONSE__BODY_CANCEL: x->rs.cancel = msg; break;
	case TIMERD__RESPONSE__BODY_GET: x->rs.get = msg; break;
	case TIMERD__RESPONSE__BODY_LIST: x->rs.list = msg; break;
	case TIMERD__RESPONSE__BODY_WATCH: x->rs.watch = msg; break;
	case TIMERD__RESPONSE__BODY_UNWATCH: x->rs.unwatch = msg; break;
	case TIMERD__RESPONSE__BODY_STATS: x->rs.stats = msg; break;
	case TIMERD__RESPONSE__BODY_PONG: x->rs.pong = msg; break;
	case TIMERD__RESPONSE__BODY_PROBE_ATTACH: x->rs.probe_attach = msg; break;
	case TIMERD__RESPONSE__BODY_PROBE_DETACH: x->rs.probe_detach = msg; break;
	case TIMERD__RESPONSE__BODY_PROBE_LIST: x->rs.probe_list = msg; break;
	default: break;
	}
}

/* Checks a client string (key, topic) against its limit; false after answering an error. */
static bool rpc_check_text(struct rpc_ctx *x, const char *what, const char *s, uint32_t max,
			   Timerd__ErrorCode toolong, uint32_t *len)
{
	size_t n = s ? strlen(s) : 0;

	if (n > max) {
		rpc_error(x, toolong, "%s is %zu bytes; the limit is %u (max-%s)", what, n, max, what);
		return false;
	}
	if (!text_ok(s, n)) {
		rpc_error(x, TIMERD__ERROR_CODE__INVALID, "%s is not valid UTF-8 text (control characters and bidi "
			  "overrides are not allowed)", what);
		return false;
	}
	*len = (uint32_t)n;
	return true;
}

/* Hello: version check and limits. */
static void rpc_hello(struct rpc_ctx *x)
{
	const Timerd__Hello *h = x->rq->hello;
	const struct srv_config *cfg = x->s->cfg;

	if (h->version != FRAME_VERSION) {
		rpc_error(x, TIMERD__ERROR_CODE__VERSION, "this timerd (%s) speaks protocol version %d; the client asked for %u: "
			  "use a client for version %d, or upgrade timerd", PACKAGE_VERSION, FRAME_VERSION, h->version,
			  FRAME_VERSION);
		return;
	}
	if (h->client && !text_ok(h->client, strlen(h->client))) {
		rpc_error(x, TIMERD__ERROR_CODE__INVALID, "hello: client is not valid UTF-8 text (control characters and "
			  "bidi overrides are not allowed)");
		return;
	}
	if (x->c) {
		snprintf(x->c->client, sizeof(x->c->client), "%s", h->client ? h->client : "");
		log_debug("connection from %s is %s", x->c->peer, x->c->client);
	}
	snprintf(x->version, sizeof(x->version), "timerd %s", PACKAGE_VERSION);
	timerd__limits__init(&x->limits);
	x->limits = (Timerd__Limits){ .base = x->limits.base, .max_frame = cfg->max_frame, .max_payload = x->l->lim.max_payload,
				      .max_key = cfg->max_key, .max_topic = cfg->max_topic,
				      .max_inflight = x->l->lim.max_inflight, .max_watches = cfg->max_watches,
				      .max_list = cfg->max_list };
	timerd__hello_reply__init(&x->u.hello);
	x->u.hello.version = FRAME_VERSION;
	x->u.hello.server = x->version;
	x->u.hello.limits = &x->limits;
	rpc_reply(x, TIMERD__RESPONSE__BODY_HELLO, &x->u.hello);
}

static void *rpc_copy(struct rpc_ctx *x, const void *p, size_t n);

/*
 * Validates an Arm's calendar schedule: parses it into ea->cal (the caller
 * frees it unless engine_arm takes it) with its first elapse after now as
 * ea->time, and its normalised form into *norm (reply arena). False after
 * answering an error.
 */
static bool rpc_arm_calendar(struct rpc_ctx *x, const Timerd__Arm *a, struct engine_arm *ea, const char **norm)
{
	size_t n = strlen(a->calendar);
	const char *nf;
	char why[256];
	int rc;

	if (a->when_case != TIMERD__ARM__WHEN__NOT_SET) {
		rpc_error(x, TIMERD__ERROR_CODE__INVALID, "arm: a calendar timer fires at the elapses of its schedule: "
			  "give calendar or one of after_ns, at_mono_ns and at_unix_ns, not both");
		return false;
	}
	if (a->period_ns) {
		rpc_error(x, TIMERD__ERROR_CODE__INVALID, "arm: a calendar timer repeats by its schedule: "
			  "leave period_ns 0 with calendar (e.g. '*:0/15' for every 15 minutes)");
		return false;
	}
	if (n > RPC_MAX_CALENDAR || !text_ok(a->calendar, n)) {
		rpc_error(x, TIMERD__ERROR_CODE__INVALID, "arm: calendar must be UTF-8 text without control characters, "
			  "at most %d bytes", RPC_MAX_CALENDAR);
		return false;
	}
	if ((rc = cal_parse(a->calendar, &ea->cal, why, sizeof(why))) != 0) {
		if (rc == TD_ENOMEM)
			rpc_error(x, TIMERD__ERROR_CODE__NO_MEMORY, "arm: out of memory parsing the calendar");
		else
			rpc_error(x, TIMERD__ERROR_CODE__INVALID, "calendar '%s': %s (timerctl calendar EXPR checks "
				  "an expression)", a->calendar, why);
		ea->cal = NULL;
		return false;
	}
	nf = cal_normalized(ea->cal);
	if (strlen(nf) > RPC_MAX_CALENDAR_NORM) {
		rpc_error(x, TIMERD__ERROR_CODE__INVALID, "calendar: its normalised form '%s' is %zu bytes; the limit "
			  "is %d: split the schedule into several timers", nf, strlen(nf), RPC_MAX_CALENDAR_NORM);
		goto fail;
	}
	if (cal_next(ea->cal, engine_now_real(x->s->engine), &ea->time) != 0) {
		rpc_error(x, TIMERD__ERROR_CODE__INVALID, "calendar '%s' never elapses (no elapse after now): "
			  "nothing was armed", nf);
		goto fail;
	}
	if (!(*norm = rpc_copy(x, nf, strlen(nf)))) {
		rpc_error(x, TIMERD__ERROR_CODE__NO_MEMORY, "arm: out of memory");
		goto fail;
	}
	ea->when = ENGINE_AT_REAL;
	ea->period = 0;
	return true;
fail:
	cal_free(ea->cal);
	ea->cal = NULL;
	return false;
}

/* The shortest period x may arm: its identity's min-period= if it has one (a users-file grant), else the server's. */
static int64_t rpc_min_period(const struct rpc_ctx *x)
{
	return x->id && x->id->quota.min_period_ns ? x->id->quota.min_period_ns : x->s->cfg->min_period_ns;
}

/* Validates an Arm's time fields into ea; false after answering an error. */
static bool rpc_arm_when(struct rpc_ctx *x, const Timerd__Arm *a, struct engine_arm *ea)
{
	switch (a->when_case) {
	case TIMERD__ARM__WHEN_AFTER_NS:
		ea->when = ENGINE_AFTER;
		ea->time = a->after_ns;
		break;
	case TIMERD__ARM__WHEN_AT_MONO_NS:
		ea->when = ENGINE_AT_MONO;
		ea->time = a->at_mono_ns;
		break;
	case TIMERD__ARM__WHEN_AT_UNIX_NS:
		ea->when = ENGINE_AT_REAL;
		ea->time = a->at_unix_ns;
		break;
	default:
		rpc_error(x, TIMERD__ERROR_CODE__INVALID, "arm needs a time: set after_ns, at_mono_ns or at_unix_ns");
		return false;
	}
	if (ea->time < 0) {
		rpc_error(x, TIMERD__ERROR_CODE__DEADLINE, "arm: the time is negative (%" PRId64 "): give a delay or time >= 0",
			  ea->time);
		return false;
	}
	if (a->period_ns < 0) {
		rpc_error(x, TIMERD__ERROR_CODE__PERIOD, "arm: period_ns %" PRId64 " is invalid: give 0 (one-shot) or "
			  "at least min-period (%" PRId64 " ns)", a->period_ns, x->s->cfg->min_period_ns);
		return false;
	}
	if (a->period_ns > 0 && a->period_ns < rpc_min_period(x)) {
		rpc_error(x, TIMERD__ERROR_CODE__PERIOD, "arm: period_ns %" PRId64 " is shorter than min-period (%" PRId64
			  " ns%s): give a longer period, or ask the operator for a shorter min-period", a->period_ns,
			  rpc_min_period(x), x->id && x->id->quota.min_period_ns ? ", this identity's" : "");
		return false;
	}
	ea->period = a->period_ns;
	return true;
}

/*
 * Validates an Arm into ea (a calendar schedule last: ea->cal, its
 * normalised form in *norm); false after answering an error.
 */
static bool rpc_arm_check(struct rpc_ctx *x, const Timerd__Arm *a, struct engine_arm *ea, const char **norm)
{
	const struct srv_config *cfg = x->s->cfg;
	bool cal = a->calendar && *a->calendar;

	if ((!cal && !rpc_arm_when(x, a, ea)) ||
	    !rpc_check_text(x, "key", a->key, cfg->max_key, TIMERD__ERROR_CODE__KEY_TOO_LONG, &ea->keylen) ||
	    !rpc_check_text(x, "topic", a->topic, cfg->max_topic, TIMERD__ERROR_CODE__TOPIC_TOO_LONG, &ea->topiclen))
		return false;
	if (ea->keylen && a->timer_id) {
		rpc_error(x, TIMERD__ERROR_CODE__KEY_AND_ID, "arm: give a key or a timer_id, not both");
		return false;
	}
	if (a->payload.len > x->l->lim.max_payload) {
		rpc_error(x, TIMERD__ERROR_CODE__PAYLOAD_TOO_LARGE, "payload is %zu bytes; the limit is %u (max-payload)",
			  a->payload.len, x->l->lim.max_payload);
		return false;
	}
	ea->id = a->timer_id;
	ea->key = ea->keylen ? a->key : NULL;
	if (x->id) {	/* the timer records its creator (Timer.owner, the store's owner column) */
		ea->label = x->id->name;
		ea->labellen = (uint32_t)strlen(x->id->name);
		/* and counts in its engine account: the engine refuses creating one past the quota (TD_EQUOTA) */
		ea->acct = quota_acct(x->s, x->c, x->id->name);
		ea->acct_max_timers = x->id->quota.max_timers;
		ea->acct_max_bytes = x->id->quota.max_memory;
	}
	ea->topic = a->topic ? a->topic : "";
	ea->payload = a->payload.data;
	ea->payloadlen = (uint32_t)a->payload.len;
	if (a->misfire != TIMERD__MISFIRE__MISFIRE_FIRE && a->misfire != TIMERD__MISFIRE__MISFIRE_SKIP) {
		rpc_error(x, TIMERD__ERROR_CODE__INVALID, "misfire %d is not MISFIRE_FIRE (0) or MISFIRE_SKIP (1)",
			  (int)a->misfire);
		return false;
	}
	if (a->notify && !x->c) {
		rpc_error(x, TIMERD__ERROR_CODE__INVALID, "arm: notify needs an RPC connection to push the fires to: "
			  "watch the timer's topic instead (GET /v1/watch?topic=...)");
		return false;
	}
	ea->owner = a->notify ? x->c->handle : 0;
	if (a->notify)		/* x->c is set: checked above */
		x->c->waits_fire = true;	/* waiting for a fire is not idleness (idle-timeout) */
	ea->flags = (a->notify ? SRV_FLAG_NOTIFY : 0) | (a->ephemeral ? JOURNAL_FLAG_EPHEMERAL : 0) |
		    (a->misfire == TIMERD__MISFIRE__MISFIRE_SKIP ? JOURNAL_FLAG_SKIP : 0);
	return !cal || rpc_arm_calendar(x, a, ea, norm);
}

/*
 * Refuses a durable request while the store cannot be written, before it
 * touches the engine; false after answering STORAGE.
 */
static bool rpc_journal_ready(struct rpc_ctx *x, bool durable)
{
	if (!durable || journal_writable(x->s))
		return true;
	rpc_error(x, TIMERD__ERROR_CODE__STORAGE, "the timer store %s cannot be written (see timerctl stats): "
		  "nothing was changed; timerd retries by itself, retry this request later (or arm it ephemeral)",
		  x->s->store_path);
	return false;
}

/* Journals a change and holds this request's reply until it is committed. */
static void rpc_journal(struct rpc_ctx *x, const struct store_rec *r)
{
	uint64_t seq = journal_put(x->l, r);

	if (!seq) {
		rpc_error(x, TIMERD__ERROR_CODE__NO_MEMORY, "out of memory journaling the change: it is made in "
			  "memory but may be lost on a restart; retry it");
		return;
	}
	x->hold = seq;
}

/* The journal record of an arm that was applied as r. */
static void rpc_arm_rec(struct rpc_ctx *x, const struct engine_arm *ea, const struct engine_arm_result *r,
			int64_t mono_to_unix, const char *norm, struct store_rec *rec)
{
	bool realtime = ea->when == ENGINE_AT_REAL;

	*rec = (struct store_rec){
		.op = STORE_PUT, .id = r->id, .boot = x->s->boot,
		.clock = realtime ? STORE_REAL : STORE_MONO,
		.deadline = realtime ? ea->time : r->deadline,
		.wall = realtime ? ea->time : r->deadline + mono_to_unix,
		.period = ea->period, .flags = ea->flags & JOURNAL_FLAGS_KEPT,
		.misfire = (ea->flags & JOURNAL_FLAG_SKIP) ? 1 : 0,
		.key = ea->key, .keylen = ea->key ? ea->keylen : 0,
		.topic = ea->topic, .topiclen = ea->topiclen,
		.payload = ea->payload, .payloadlen = ea->payloadlen,
		.calendar = norm, .calendarlen = norm ? (uint32_t)strlen(norm) : 0,
		.owner = ea->label, .ownerlen = ea->labellen,
	};
	if (!journal_keeps(ea->flags))
		*rec = (struct store_rec){ .op = STORE_DEL, .id = r->id };	/* now ephemeral: not restored */
}

/* The identity's arms-per-s (quota.c); false after answering RATE_LIMITED with retry_after_ms. */
static bool rpc_arm_rate(struct rpc_ctx *x)
{
	uint32_t ms = 0;

	if (quota_arm_take(x->s, x->c, x->id, &ms))
		return true;
	rpc_error(x, TIMERD__ERROR_CODE__RATE_LIMITED, "identity %s arms more than its arms-per-s (%u a second): retry "
		  "in %u ms (Error.retry_after_ms), or raise arms-per-s= on its users-file line", x->id->name,
		  x->id->quota.arms_per_s, ms);
	x->err.retry_after_ms = ms;
	if (x->c)
		conn_rate_pause(x->c, ms);	/* a pipelining flood waits in its socket instead of burning a loop */
	return false;
}

/*
 * Ownership (doc/security.md): true if the request's identity may touch
 * timer t (admin, its creator, or its key under one of the identity's own
 * prefixes); false after answering PERMISSION. No users file: always.
 */
static bool rpc_owner_ok(struct rpc_ctx *x, const struct engine_timer *t, const char *what)
{
	if (!x->id || ident_may_touch(x->id, t->label, t->key, t->key ? t->keylen : 0))
		return true;
	rpc_error(x, TIMERD__ERROR_CODE__PERMISSION, "identity %s may not %s timer %" PRIu64 ": another identity armed it "
		  "(an identity reaches its own timers, and others' under its keys= prefixes; admin reaches all)",
		  x->id->name, what, t->id);
	return false;
}

/*
 * The owner a change to an existing timer (re-arm, cancel) must find, for
 * an identity whose own prefixes do not settle it (keys=*, not admin): its
 * own name, the label its timers carry; NULL: any owner will do (no users
 * file, admin, or keys under explicit prefixes: the identity's to touch,
 * ident_may_touch). The engine checks it and writes in one step
 * (engine_arm's only_own, engine_cancel_own): a re-arm by another identity
 * between a check and the change cannot be overwritten or cancelled.
 */
static const char *rpc_owner_needed(const struct rpc_ctx *x)
{
	if (!x->id || (x->id->ops & IDENT_OP_BIT(IDENT_OP_ADMIN)) || !x->id->keys.all)
		return NULL;
	return x->id->name;
}

/* Answers the engine's TD_EOWNER: the timer is another identity's. */
static void rpc_owner_denied(struct rpc_ctx *x, uint64_t id, const char *key, const char *what)
{
	char which[64];

	if (key && *key)
		rpc_error(x, TIMERD__ERROR_CODE__PERMISSION, "identity %s may not %s timer %s: another identity armed "
			  "it (an identity reaches its own timers, and others' under its keys= prefixes; admin reaches "
			  "all)", x->id->name, what, key);
	else {
		snprintf(which, sizeof(which), "%" PRIu64, id);
		rpc_error(x, TIMERD__ERROR_CODE__PERMISSION, "identity %s may not %s timer %s: another identity armed "
			  "it (an identity reaches its own timers, and others' under its keys= prefixes; admin reaches "
			  "all)", x->id->name, what, which);
	}
}

/* Arm: create or re-arm. */
static void rpc_arm(struct rpc_ctx *x)
{
	const Timerd__Arm *a = x->rq->arm;
	struct engine_arm ea = { 0 };
	struct engine_arm_result r;
	const char *norm = NULL;
	int64_t real, mono;
	int rc;

	if (!rpc_arm_check(x, a, &ea, &norm))
		return;
	if (!rpc_arm_rate(x)) {
		cal_free(ea.cal);
		return;
	}
	if (!rpc_journal_ready(x, journal_enabled(x->s) && journal_keeps(ea.flags))) {
		cal_free(ea.cal);
		return;
	}
	ea.only_own = rpc_owner_needed(x) != NULL;	/* ea.label is the identity's name */
	/*
	 * The wall clock just before engine_arm's own monotonic read (r.now):
	 * real - r.now is the unix offset of the reply and the journal row as
	 * close as two reads in a row make it (one clock read fewer per arm).
	 */
	real = engine_now_real(x->s->engine);
	/* engine_arm takes ea.cal over, on error too: only norm (a copy) is read after it */
	if ((rc = engine_arm(x->s->engine, &ea, &r)) < 0) {
		if (rc == TD_EOWNER)
			rpc_owner_denied(x, ea.id, ea.key, "re-arm");
		else
			rpc_engine_error(x, rc, "arm");
		return;
	}
	mono = r.now;
	if (journal_enabled(x->s) && !r.coalesced && (journal_keeps(ea.flags) || !r.created)) {
		struct engine_timer *cur = NULL;
		struct store_rec rec;

		rpc_arm_rec(x, &ea, &r, real - mono, norm, &rec);
		/* a re-arm by id names no key, but the timer keeps its own: the row must carry it */
		if (ea.id && rec.op == STORE_PUT && engine_get(x->s->engine, r.id, NULL, 0, &cur) == 0 && cur->key) {
			rec.key = cur->key;
			rec.keylen = cur->keylen;
		}
		rpc_journal(x, &rec);	/* a superseded (coalesced) arm leaves the journal to its winner */
		engine_timer_free(cur);
		if (x->rs.body_case == TIMERD__RESPONSE__BODY_ERROR)
			return;
	}
	timerd__arm_reply__init(&x->u.arm);
	x->u.arm.timer_id = r.id;
	x->u.arm.deadline_mono_ns = r.deadline;
	x->u.arm.deadline_unix_ns = ea.when == ENGINE_AT_REAL && ea.time > real ? ea.time : r.deadline + real - mono;
	x->u.arm.created = r.created;
	x->u.arm.coalesced = r.coalesced;
	rpc_reply(x, TIMERD__RESPONSE__BODY_ARM, &x->u.arm);
}

/* Reads the id-or-key of Cancel and Get; false after answering an error. */
static bool rpc_id_or_key(struct rpc_ctx *x, const char *what, uint64_t id, const char *key, uint32_t *keylen)
{
	if (!rpc_check_text(x, "key", key, x->s->cfg->max_key, TIMERD__ERROR_CODE__KEY_TOO_LONG, keylen))
		return false;
	if (*keylen && id) {
		rpc_error(x, TIMERD__ERROR_CODE__KEY_AND_ID, "%s: give a key or a timer_id, not both", what);
		return false;
	}
	if (!*keylen && !id) {
		rpc_error(x, TIMERD__ERROR_CODE__INVALID, "%s: give a key or a timer_id", what);
		return false;
	}
	return true;
}

/* Cancel. */
static void rpc_cancel(struct rpc_ctx *x)
{
	const Timerd__Cancel *m = x->rq->cancel;
	const char *own;
	uint64_t id;
	uint32_t keylen;
	bool coalesced;
	int rc;

	if (!rpc_id_or_key(x, "cancel", m->timer_id, m->key, &keylen) || !rpc_journal_ready(x, journal_enabled(x->s)))
		return;
	own = rpc_owner_needed(x);
	if ((rc = engine_cancel_own(x->s->engine, m->timer_id, keylen ? m->key : NULL, keylen, own,
				    own ? (uint32_t)strlen(own) : 0, &id, &coalesced)) < 0) {
		if (rc == TD_EOWNER)
			rpc_owner_denied(x, m->timer_id, keylen ? m->key : NULL, "cancel");
		else
			rpc_engine_error(x, rc, "cancel");
		return;
	}
	if (journal_enabled(x->s) && !coalesced) {	/* a superseded cancel leaves the journal to its winner */
		struct store_rec rec = { .op = STORE_DEL, .id = id };

		rpc_journal(x, &rec);
		if (x->rs.body_case == TIMERD__RESPONSE__BODY_ERROR)
			return;
	}
	timerd__cancel_reply__init(&x->u.cancel);
	rpc_reply(x, TIMERD__RESPONSE__BODY_CANCEL, &x->u.cancel);
}

/* Copies n bytes into the reply arena (NUL-terminated); NULL if out of memory. */
static void *rpc_copy(struct rpc_ctx *x, const void *p, size_t n)
{
	char *d = arena_alloc(&x->l->reply_arena, n + 1);

	if (d) {
		if (n)
			memcpy(d, p, n);
		d[n] = '\0';
	}
	return d;
}

/* Builds a Timer message (in the reply arena) from an engine snapshot; NULL if out of memory. */
static Timerd__Timer *rpc_timer(struct rpc_ctx *x, const struct engine_timer *t, bool payload, int64_t mono_to_unix)
{
	Timerd__Timer *m = arena_alloc(&x->l->reply_arena, sizeof(*m));

	if (!m)
		return NULL;
	timerd__timer__init(m);
	m->timer_id = t->id;
	m->key = rpc_copy(x, t->key ? t->key : "", t->key ? t->keylen : 0);
	m->topic = rpc_copy(x, t->topic ? t->topic : "", t->topic ? t->topiclen : 0);
	if (payload && t->payloadlen) {
		m->payload.data = rpc_copy(x, t->payload, t->payloadlen);
		m->payload.len = t->payloadlen;
	}
	m->payload_len = t->payloadlen;
	m->deadline_mono_ns = t->deadline;
	m->deadline_unix_ns = t->realtime ? t->wall_deadline : t->deadline + mono_to_unix;
	m->period_ns = t->period;
	m->realtime = t->realtime;
	m->notify = t->flags & SRV_FLAG_NOTIFY;
	m->ephemeral = !journal_keeps(t->flags) || !journal_enabled(x->s);
	m->misfire = (t->flags & JOURNAL_FLAG_SKIP) ? TIMERD__MISFIRE__MISFIRE_SKIP : TIMERD__MISFIRE__MISFIRE_FIRE;
	m->calendar = rpc_copy(x, t->calendar ? t->calendar : "", t->calendarlen);
	m->owner = rpc_copy(x, t->label ? t->label : "", t->labellen);
	if (!m->key || !m->topic || !m->calendar || !m->owner || (payload && t->payloadlen && !m->payload.data))
		return NULL;
	return m;
}

/* Get. */
static void rpc_get(struct rpc_ctx *x)
{
	const Timerd__Get *m = x->rq->get;
	struct engine_timer *t;
	uint32_t keylen;
	int rc;

	if (!rpc_id_or_key(x, "get", m->timer_id, m->key, &keylen))
		return;
	if ((rc = engine_get(x->s->engine, m->timer_id, keylen ? m->key : NULL, keylen, &t)) < 0) {
		rpc_engine_error(x, rc, "get");
		return;
	}
	if (!rpc_owner_ok(x, t, "get")) {
		engine_timer_free(t);
		return;
	}
	timerd__get_reply__init(&x->u.get);
	x->u.get.timer = rpc_timer(x, t, true, engine_mono_to_unix(x->s->engine));
	engine_timer_free(t);
	if (!x->u.get.timer) {
		rpc_error(x, TIMERD__ERROR_CODE__NO_MEMORY, "get: out of memory");
		return;
	}
	rpc_reply(x, TIMERD__RESPONSE__BODY_GET, &x->u.get);
}

struct rpc_list_acc {
	struct rpc_ctx *x;
	Timerd__Timer **v;
	size_t n;
	bool payload, oom;
	int64_t mono_to_unix;
};

/* engine_list_opt filter: true if the identity's key and topic rules cover the timer (nothing is copied otherwise). */
static bool rpc_list_keep(const void *arg, const char *key, uint32_t keylen, const char *topic, uint32_t topiclen,
			  const char *label, uint32_t labellen)
{
	const struct ident *id = arg;
	/* the label is not NUL-terminated here: the owner test by length, then the key rule */
	bool own = labellen && labellen == strlen(id->name) && !memcmp(label, id->name, labellen);

	return ident_permits(id, IDENT_OP_LIST, key, keylen, topic, topiclen) &&
	       (own || ident_may_touch(id, NULL, keylen ? key : NULL, keylen));
}

/* engine_list_opt callback: appends one timer (rpc_list_keep already filtered it). */
static bool rpc_list_one(void *arg, const struct engine_timer *t)
{
	struct rpc_list_acc *acc = arg;
	Timerd__Timer *m = rpc_timer(acc->x, t, acc->payload, acc->mono_to_unix);

	if (!m) {
		acc->oom = true;
		return false;
	}
	acc->v[acc->n++] = m;
	return true;
}

/*
 * The page size for a List: asked (or default), within max-list and what fits in one frame
 * (a payload may be as large as the largest max-payload since start: a reload may have lowered it).
 */
static uint32_t rpc_list_limit(const struct srv_config *cfg, const struct srv_limits *ll, const Timerd__List *m)
{
	uint64_t per = (uint64_t)cfg->max_key + cfg->max_topic + RPC_LIST_ENTRY_RESERVE +
		       (m->with_payload ? ll->max_payload_hwm : 0);
	uint64_t fit = (cfg->max_frame - SETTINGS_FRAME_RESERVE) / per, lim = m->limit ? m->limit : RPC_LIST_DEFAULT;

	lim = lim < cfg->max_list ? lim : cfg->max_list;
	lim = lim < fit ? lim : fit;
	return lim ? (uint32_t)lim : 1;
}

/* List: one page. */
static void rpc_list(struct rpc_ctx *x)
{
	const Timerd__List *m = x->rq->list;
	uint32_t limit = rpc_list_limit(x->s->cfg, &x->l->lim, m), topiclen = 0;
	struct rpc_list_acc acc = { .x = x, .payload = m->with_payload };
	struct engine_list_opts opts = { 0 };
	bool by_topic = m->filter_case == TIMERD__LIST__FILTER_TOPIC;
	uint64_t cursor = m->cursor;
	int rc;

	if (by_topic && !rpc_check_text(x, "topic", m->topic, x->s->cfg->max_topic, TIMERD__ERROR_CODE__TOPIC_TOO_LONG,
					&topiclen))
		return;
	if (!(acc.v = arena_alloc(&x->l->reply_arena, limit * sizeof(*acc.v)))) {
		rpc_error(x, TIMERD__ERROR_CODE__NO_MEMORY, "list: out of memory");
		return;
	}
	acc.mono_to_unix = engine_mono_to_unix(x->s->engine);
	opts.topic = by_topic ? m->topic : NULL;
	opts.topiclen = topiclen;
	opts.payload = m->with_payload;
	opts.keep = x->id ? rpc_list_keep : NULL;
	opts.keep_arg = x->id;
	rc = engine_list_opt(x->s->engine, &opts, &cursor, limit, rpc_list_one, &acc);
	if (rc < 0 || acc.oom) {
		rpc_engine_error(x, acc.oom ? TD_ENOMEM : rc, "list");
		return;
	}
	timerd__list_reply__init(&x->u.list);
	x->u.list.timers = acc.v;
	x->u.list.n_timers = acc.n;
	x->u.list.next_cursor = cursor;
	rpc_reply(x, TIMERD__RESPONSE__BODY_LIST, &x->u.list);
}

/* Watch and Unwatch. */
static void rpc_watch_common(struct rpc_ctx *x, const char *topic, bool all, bool unwatch)
{
	uint32_t len = 0;
	int rc;

	if (!x->c) {
		rpc_error(x, TIMERD__ERROR_CODE__UNKNOWN_OP, "watching needs a connection: use GET /v1/watch?topic=...");
		return;
	}
	if (!all && !rpc_check_text(x, "topic", topic, x->s->cfg->max_topic, TIMERD__ERROR_CODE__TOPIC_TOO_LONG, &len))
		return;
	rc = unwatch ? watch_del(x->c, all ? NULL : topic ? topic : "", len)
		     : watch_add(x->c, all ? NULL : topic ? topic : "", len);
	if (rc == TD_ETOOMANY && x->c->nwatches < x->s->cfg->max_watches && x->id) {
		ctr_add(&x->l->ctr.quota_refusals, 1);
		rpc_error(x, TIMERD__ERROR_CODE__TOO_MANY_WATCHES, "identity %s already watches its max-watches (%u) topics "
			  "over all its connections: unwatch some, or raise max-watches= on its users-file line",
			  x->id->name, x->id->quota.max_watches);
	} else if (rc == TD_ETOOMANY) {
		rpc_error(x, TIMERD__ERROR_CODE__TOO_MANY_WATCHES, "this connection already watches %u topics (max-watches): "
			  "watch every topic instead, or use another connection", x->s->cfg->max_watches);
	} else if (rc == TD_ENOENT) {
		rpc_error(x, TIMERD__ERROR_CODE__NOT_FOUND, "unwatch: this connection does not watch %s%s%s",
			  all ? "every topic" : "topic '", all ? "" : topic, all ? "" : "'");
	} else if (rc < 0) {
		rpc_engine_error(x, rc, unwatch ? "unwatch" : "watch");
	} else if (unwatch) {
		timerd__unwatch_reply__init(&x->u.unwatch);
		rpc_reply(x, TIMERD__RESPONSE__BODY_UNWATCH, &x->u.unwatch);
	} else {
		timerd__watch_reply__init(&x->u.watch);
		rpc_reply(x, TIMERD__RESPONSE__BODY_WATCH, &x->u.watch);
	}
}

/* Watch. */
static void rpc_watch(struct rpc_ctx *x)
{
	rpc_watch_common(x, x->rq->watch->topic, x->rq->watch->all, false);
}

/* Unwatch. */
static void rpc_unwatch(struct rpc_ctx *x)
{
	rpc_watch_common(x, x->rq->unwatch->topic, x->rq->unwatch->all, true);
}

/* Stats: its ~15 KB of buffers live in the reply arena, not on every request's stack. */
static void rpc_stats(struct rpc_ctx *x)
{
	struct stats_bufs *b = arena_alloc(&x->l->reply_arena, sizeof(*b));

	if (!b) {
		rpc_error(x, TIMERD__ERROR_CODE__NO_MEMORY, "stats: out of memory");
		return;
	}
	stats_collect(x->s, b);
	rpc_reply(x, TIMERD__RESPONSE__BODY_STATS, &b->reply);
}

/* Ping. */
static void rpc_ping(struct rpc_ctx *x)
{
	const Timerd__Ping *p = x->rq->ping;

	if (p->data.len > RPC_MAX_PING) {
		rpc_error(x, TIMERD__ERROR_CODE__INVALID, "ping data is %zu bytes; the limit is %d", p->data.len, RPC_MAX_PING);
		return;
	}
	timerd__pong__init(&x->u.pong);
	x->u.pong.data = p->data;
	x->u.pong.now_mono_ns = engine_now(x->s->engine);
	x->u.pong.now_unix_ns = engine_now_real(x->s->engine);
	rpc_reply(x, TIMERD__RESPONSE__BODY_PONG, &x->u.pong);
}

/* True if the peer may manage probes; answers PERMISSION or UNAVAILABLE otherwise. */
static bool rpc_probe_allowed(struct rpc_ctx *x)
{
	if (!x->c || !x->c->is_unix) {
		rpc_error(x, TIMERD__ERROR_CODE__PERMISSION, "probes can only be managed over the Unix socket (as root), "
			  "not over TCP");
		return false;
	}
	if (x->id && !(x->id->ops & IDENT_OP_BIT(IDENT_OP_PROBE))) {	/* rpc_permit said why */
		rpc_error(x, TIMERD__ERROR_CODE__PERMISSION, "identity %s may not manage probes (allow=probe)", x->id->name);
		return false;
	}
	if (!x->id && !x->c->peer_root) {
		rpc_error(x, TIMERD__ERROR_CODE__PERMISSION, "probes need root: run timerctl as root (peer uid %u)",
			  (unsigned)x->c->uid);
		return false;
	}
	if (!x->s->probes) {
		rpc_error(x, TIMERD__ERROR_CODE__UNAVAILABLE, "BPF probes are not available in this timerd: %s",
			  x->s->probe_err);
		return false;
	}
	return true;
}

/* ProbeAttach. */
static void rpc_probe_attach(struct rpc_ctx *x)
{
	uint32_t id;
	int code;

	if (!rpc_probe_allowed(x))
		return;
	if ((code = srv_probes_attach(x->s, x->rq->probe_attach->spec, &id, x->msg, sizeof(x->msg))) != 0) {
		char why[sizeof(x->msg)];

		memcpy(why, x->msg, sizeof(why));
		rpc_error(x, (Timerd__ErrorCode)code, "%s", why);
		return;
	}
	log_notice("probe %u attached by %s: %s", id, x->c->peer, x->rq->probe_attach->spec);
	timerd__probe_attach_reply__init(&x->u.probe_attach);
	x->u.probe_attach.probe_id = id;
	rpc_reply(x, TIMERD__RESPONSE__BODY_PROBE_ATTACH, &x->u.probe_attach);
}

/* ProbeDetach. */
static void rpc_probe_detach(struct rpc_ctx *x)
{
	uint32_t id = x->rq->probe_detach->probe_id;

	if (!rpc_probe_allowed(x))
		return;
	if (srv_probes_detach(x->s, id) != 0) {
		rpc_error(x, TIMERD__ERROR_CODE__NOT_FOUND, "no probe %u is attached (timerctl probe list shows them)", id);
		return;
	}
	log_notice("probe %u detached by %s", id, x->c->peer);
	timerd__probe_detach_reply__init(&x->u.probe_detach);
	rpc_reply(x, TIMERD__RESPONSE__BODY_PROBE_DETACH, &x->u.probe_detach);
}

/* ProbeList. */
static void rpc_probe_list(struct rpc_ctx *x)
{
	if (!rpc_probe_allowed(x))
		return;
	timerd__probe_list_reply__init(&x->u.probe_list);
	if (srv_probes_list(x->s, &x->u.probe_list, &x->l->reply_arena) < 0) {
		rpc_error(x, TIMERD__ERROR_CODE__NO_MEMORY, "probe list: out of memory");
		return;
	}
	rpc_reply(x, TIMERD__RESPONSE__BODY_PROBE_LIST, &x->u.probe_list);
}

/* --- consumer groups (doc/delivery.md) --- */

/* Allocates a zeroed reply message of size n in the reply arena; NULL after answering NO_MEMORY. */
static void *rpc_group_alloc(struct rpc_ctx *x, size_t n)
{
	void *p = arena_alloc(&x->l->reply_arena, n);

	if (!p)
		rpc_error(x, TIMERD__ERROR_CODE__NO_MEMORY, "out of memory building the reply");
	else
		memset(p, 0, n);
	return p;
}

/* Sets a group reply's body. */
static void rpc_group_reply(struct rpc_ctx *x, Timerd__Response__BodyCase body, void *msg)
{
	x->rs.body_case = body;
	switch (body) {
	case TIMERD__RESPONSE__BODY_GROUP_CREATE: x->rs.group_create = msg; break;
	case TIMERD__RESPONSE__BODY_GROUP_DELETE: x->rs.group_delete = msg; break;
	case TIMERD__RESPONSE__BODY_GROUP_LIST: x->rs.group_list = msg; break;
	case TIMERD__RESPONSE__BODY_SUBSCRIBE: x->rs.subscribe = msg; break;
	case TIMERD__RESPONSE__BODY_UNSUBSCRIBE: x->rs.unsubscribe = msg; break;
	case TIMERD__RESPONSE__BODY_ACK: x->rs.ack = msg; break;
	case TIMERD__RESPONSE__BODY_NACK: x->rs.nack = msg; break;
	case TIMERD__RESPONSE__BODY_DLQ_LIST: x->rs.dlq_list = msg; break;
	case TIMERD__RESPONSE__BODY_DLQ_RETRY: x->rs.dlq_retry = msg; break;
	case TIMERD__RESPONSE__BODY_DLQ_PURGE: x->rs.dlq_purge = msg; break;
	default: break;
	}
}

/* Checks a group name; false after answering INVALID. */
static bool rpc_group_name(struct rpc_ctx *x, const char *what, const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (!n) {
		rpc_error(x, TIMERD__ERROR_CODE__INVALID, "%s: give a group name", what);
		return false;
	}
	if (n > GROUP_MAX_NAME || !text_ok(name, n)) {
		rpc_error(x, TIMERD__ERROR_CODE__INVALID, "%s: a group name is UTF-8 text without control characters, "
			  "at most %d bytes", what, GROUP_MAX_NAME);
		return false;
	}
	return true;
}

/* Answers NOT_FOUND for a group that does not exist. */
static void rpc_group_missing(struct rpc_ctx *x, const char *name)
{
	rpc_error(x, TIMERD__ERROR_CODE__NOT_FOUND, "no group '%s' (timerctl group list shows them; timerctl group "
		  "create makes one)", name);
}

/* The set; NULL after answering UNAVAILABLE. */
static struct group_set *rpc_groups(struct rpc_ctx *x)
{
	if (x->s->groups)
		return &x->s->groups->gs;
	rpc_error(x, TIMERD__ERROR_CODE__UNAVAILABLE, "consumer groups are not available in this timerd");
	return NULL;
}

/* Answers an error of an operation that journals (out of memory after the change was made). */
static void rpc_group_oom(struct rpc_ctx *x, const char *what)
{
	rpc_error(x, TIMERD__ERROR_CODE__NO_MEMORY, "%s: out of memory journaling the change: it is made in memory "
		  "but may be lost on a restart; retry it", what);
}

/* GroupCreate. */
static void rpc_group_create(struct rpc_ctx *x)
{
	const Timerd__GroupCreate *m = x->rq->group_create;
	struct group_set *gs = rpc_groups(x);
	Timerd__GroupCreateReply *r;
	char why[512];
	uint64_t hold = 0;
	bool created;
	int rc;

	if (!gs)
		return;
	if (group_validate(m->group, x->s->cfg->max_topic, why, sizeof(why)) < 0) {
		rpc_error(x, TIMERD__ERROR_CODE__INVALID, "group create: %s", why);
		return;
	}
	if (!rpc_journal_ready(x, journal_enabled(x->s)) || !(r = rpc_group_alloc(x, sizeof(*r))))
		return;
	rc = group_create(gs, m->group, m->update, x->l, &created, &hold, why, sizeof(why));
	switch (rc) {
	case 0:
		timerd__group_create_reply__init(r);
		r->created = created;
		x->hold = hold;
		rpc_group_reply(x, TIMERD__RESPONSE__BODY_GROUP_CREATE, r);
		if (created)
			log_notice("group %s created (%zu topics)", m->group->name, m->group->n_topics);
		break;
	case GROUP_ECONFLICT:
		rpc_error(x, TIMERD__ERROR_CODE__CONFLICT, "%s", why);
		break;
	case GROUP_EFULL:
		rpc_error(x, TIMERD__ERROR_CODE__FULL, "%s", why);
		break;
	default:
		rpc_group_oom(x, "group create");
		break;
	}
}

/* GroupDelete. */
static void rpc_group_delete(struct rpc_ctx *x)
{
	const char *name = x->rq->group_delete->name;
	struct group_set *gs = rpc_groups(x);
	Timerd__GroupDeleteReply *r;
	uint64_t hold = 0;
	int rc;

	if (!gs || !rpc_group_name(x, "group delete", name) || !rpc_journal_ready(x, journal_enabled(x->s)) ||
	    !(r = rpc_group_alloc(x, sizeof(*r))))
		return;
	if ((rc = group_delete(gs, name, x->l, &hold)) == GROUP_ENOENT) {
		rpc_group_missing(x, name);
		return;
	}
	if (rc) {
		rpc_group_oom(x, "group delete");
		return;
	}
	log_notice("group %s deleted", name);
	timerd__group_delete_reply__init(r);
	x->hold = hold;
	rpc_group_reply(x, TIMERD__RESPONSE__BODY_GROUP_DELETE, r);
}

/* What GroupList's callback builds. */
struct rpc_group_acc {
	struct rpc_ctx *x;
	Timerd__GroupInfo **v;
	size_t n, cap;
	uint64_t bytes, max;		/* the reply's size so far, and what fits in a frame */
	bool oom, toobig;
};

/* group_list callback: a copy of gi in the reply arena. */
static void rpc_group_one(void *arg, const Timerd__GroupInfo *gi, const uint8_t *packed, size_t len)
{
	struct rpc_group_acc *acc = arg;
	Timerd__GroupInfo *m;

	if (acc->oom || acc->n == acc->cap)
		return;
	if (!(m = arena_alloc(&acc->x->l->reply_arena, sizeof(*m)))) {
		acc->oom = true;
		return;
	}
	*m = *gi;
	if (!(m->group = timerd__group__unpack(arena_pbc(&acc->x->l->reply_arena), len, packed))) {
		acc->oom = true;
		return;
	}
	for (size_t i = 0; acc->x->l->users && acc->x->id && i < m->group->n_topics; i++)	/* those it may consume */
		if (!ident_permits(acc->x->id, IDENT_OP_CONSUME, NULL, 0, m->group->topics[i], strlen(m->group->topics[i])))
			return;
	acc->bytes += timerd__group_info__get_packed_size(m) + 6;	/* its tag and length */
	if (acc->bytes > acc->max) {
		acc->toobig = true;
		return;
	}
	acc->v[acc->n++] = m;
}

/* GroupList. */
static void rpc_group_list(struct rpc_ctx *x)
{
	const char *name = x->rq->group_list->name;
	struct group_set *gs = rpc_groups(x);
	struct rpc_group_acc acc = { .x = x, .cap = GROUP_MAX_GROUPS,
				     .max = x->s->cfg->max_frame - SETTINGS_FRAME_RESERVE };
	Timerd__GroupListReply *r;

	if (!gs || (name && *name && !rpc_group_name(x, "group list", name)) || !(r = rpc_group_alloc(x, sizeof(*r))) ||
	    !(acc.v = rpc_group_alloc(x, acc.cap * sizeof(*acc.v))))
		return;
	if (group_list(gs, name, rpc_group_one, &acc) == GROUP_ENOENT) {
		rpc_group_missing(x, name);
		return;
	}
	if (acc.oom) {
		rpc_error(x, TIMERD__ERROR_CODE__NO_MEMORY, "group list: out of memory");
		return;
	}
	if (acc.toobig) {
		rpc_error(x, TIMERD__ERROR_CODE__INVALID, "group list: the groups' settings do not fit in one frame "
			  "(max-frame %u bytes): list the groups one by one by name", x->s->cfg->max_frame);
		return;
	}
	timerd__group_list_reply__init(r);
	r->groups = acc.v;
	r->n_groups = acc.n;
	rpc_group_reply(x, TIMERD__RESPONSE__BODY_GROUP_LIST, r);
}

/* Subscribe. */
static void rpc_subscribe(struct rpc_ctx *x)
{
	const Timerd__Subscribe *m = x->rq->subscribe;
	Timerd__SubscribeReply *r;
	int rc;

	if (!x->gc && (!x->c || x->c->sse)) {
		rpc_error(x, TIMERD__ERROR_CODE__UNKNOWN_OP, "subscribe needs an RPC connection to push deliveries to");
		return;
	}
	if (!rpc_groups(x) || !rpc_group_name(x, "subscribe", m->group))
		return;
	if (m->credit > GROUP_MAX_CREDIT) {
		rpc_error(x, TIMERD__ERROR_CODE__INVALID, "subscribe: credit %u is above %u: give 1 to %u deliveries in "
			  "flight (0: 1)", m->credit, GROUP_MAX_CREDIT, GROUP_MAX_CREDIT);
		return;
	}
	if (!(r = rpc_group_alloc(x, sizeof(*r))))
		return;
	rc = x->gc ? group_subscribe(rpc_groups(x), m->group, x->gc, m->credit)
		   : group_srv_subscribe(x->c, m->group, m->credit);
	switch (rc) {
	case 0:
		timerd__subscribe_reply__init(r);
		rpc_group_reply(x, TIMERD__RESPONSE__BODY_SUBSCRIBE, r);
		break;
	case GROUP_ENOENT:
		rpc_group_missing(x, m->group);
		break;
	case GROUP_EINVAL:
		rpc_error(x, TIMERD__ERROR_CODE__INVALID, "subscribe: this connection is already subscribed to group "
			  "'%s' (unsubscribe first to change its credit)", m->group);
		break;
	case GROUP_EWEBHOOK:
		rpc_error(x, TIMERD__ERROR_CODE__INVALID, "subscribe: group '%s' delivers to its webhook_url, not to "
			  "subscribers: create another group for consumers", m->group);
		break;
	case GROUP_EFULL:
		rpc_error(x, TIMERD__ERROR_CODE__INVALID, "subscribe: this connection holds %d subscriptions, the most "
			  "it may: use another connection", GROUP_SRV_MAX_SUBS);
		break;
	default:
		rpc_error(x, TIMERD__ERROR_CODE__NO_MEMORY, "subscribe: out of memory");
		break;
	}
}

/* Unsubscribe. */
static void rpc_unsubscribe(struct rpc_ctx *x)
{
	const char *name = x->rq->unsubscribe->group;
	Timerd__UnsubscribeReply *r;

	if (!x->c || x->c->sse) {
		rpc_error(x, TIMERD__ERROR_CODE__UNKNOWN_OP, "unsubscribe needs an RPC connection");
		return;
	}
	if (!rpc_group_name(x, "unsubscribe", name) || !(r = rpc_group_alloc(x, sizeof(*r))))
		return;
	if (group_srv_unsubscribe(x->c, name) != 0) {
		rpc_error(x, TIMERD__ERROR_CODE__NOT_FOUND, "unsubscribe: this connection is not subscribed to group '%s'",
			  name);
		return;
	}
	timerd__unsubscribe_reply__init(r);
	rpc_group_reply(x, TIMERD__RESPONSE__BODY_UNSUBSCRIBE, r);
}

/* Ack and Nack. */
static void rpc_ack_common(struct rpc_ctx *x, bool nack)
{
	uint64_t id = nack ? x->rq->nack->delivery_id : x->rq->ack->delivery_id, hold = 0;
	const char *what = nack ? "nack" : "ack";
	void *r;
	int rc;

	if (!x->gc && (!x->c || x->c->sse)) {
		rpc_error(x, TIMERD__ERROR_CODE__UNKNOWN_OP, "%s needs the RPC connection the delivery was pushed to", what);
		return;
	}
	if (nack) {
		const Timerd__Nack *m = x->rq->nack;

		if (m->retry_after_ns < 0 || m->retry_after_ns > GROUP_MAX_BACKOFF_NS) {
			rpc_error(x, TIMERD__ERROR_CODE__INVALID, "nack: retry_after_ns %" PRId64 " is out of range: give 0 "
				  "(the group's backoff) up to %lld ns (a day)", m->retry_after_ns, GROUP_MAX_BACKOFF_NS);
			return;
		}
		if (m->error && !text_ok(m->error, strlen(m->error))) {
			rpc_error(x, TIMERD__ERROR_CODE__INVALID, "nack: error is not valid UTF-8 text (control characters "
				  "are not allowed)");
			return;
		}
	}
	if (!nack && !journal_writable(x->s)) {	/* refused below: the attempt's end will not count */
		if (x->gc)
			group_ack_refused(x->gc, id);
		else
			group_srv_ack_refused(x->c, id);
	}
	if (!rpc_journal_ready(x, journal_enabled(x->s)) ||
	    !(r = rpc_group_alloc(x, nack ? sizeof(Timerd__NackReply) : sizeof(Timerd__AckReply))))
		return;
	if (x->gc)
		rc = nack ? group_nack(x->gc, id, x->rq->nack->retry_after_ns, x->rq->nack->error, x->l, &hold)
			  : group_ack(x->gc, id, x->l, &hold);
	else
		rc = nack ? group_srv_nack(x->c, id, x->rq->nack->retry_after_ns, x->rq->nack->error, &hold)
			  : group_srv_ack(x->c, id, &hold);
	if (rc == GROUP_ENOENT) {
		rpc_error(x, TIMERD__ERROR_CODE__NOT_FOUND, "%s: delivery %" PRIu64 " is not in flight to this %s "
			  "(already acked, timed out and given to another consumer, or never pushed here)", what, id,
			  x->gc ? "consumer" : "connection");
		return;
	}
	if (rc) {
		rpc_group_oom(x, what);
		return;
	}
	x->hold = hold;
	if (nack) {
		timerd__nack_reply__init(r);
		rpc_group_reply(x, TIMERD__RESPONSE__BODY_NACK, r);
	} else {
		timerd__ack_reply__init(r);
		rpc_group_reply(x, TIMERD__RESPONSE__BODY_ACK, r);
	}
}

/* Ack. */
static void rpc_ack(struct rpc_ctx *x)
{
	rpc_ack_common(x, false);
}

/* Nack. */
static void rpc_nack(struct rpc_ctx *x)
{
	rpc_ack_common(x, true);
}

/* Arena allocator for group_dlq_list. */
static void *rpc_dlq_alloc(void *arg, size_t n)
{
	return arena_alloc(arg, n ? n : 1);
}

/* Checks a DLQ request's key filter; false after answering. */
static bool rpc_dlq_key(struct rpc_ctx *x, const char *key)
{
	uint32_t len;

	return rpc_check_text(x, "key", key, x->s->cfg->max_key, TIMERD__ERROR_CODE__KEY_TOO_LONG, &len);
}

/* DlqList. */
static void rpc_dlq_list(struct rpc_ctx *x)
{
	const Timerd__DlqList *m = x->rq->dlq_list;
	struct group_set *gs = rpc_groups(x);
	Timerd__DlqList q = *m;
	Timerd__DlqListReply *r;
	uint64_t per;
	int rc;

	if (!gs || !rpc_group_name(x, "dlq list", m->group) || !rpc_dlq_key(x, m->key) ||
	    !(r = rpc_group_alloc(x, sizeof(*r))))
		return;
	/* a page fits one frame: each letter may carry a key, a topic, an error and (with_payload) a payload */
	per = (uint64_t)x->s->cfg->max_key + x->s->cfg->max_topic + GROUP_MAX_ERROR + RPC_LIST_ENTRY_RESERVE +
	      (m->with_payload ? x->l->lim.max_payload_hwm : 0);
	if (!q.limit || q.limit > (x->s->cfg->max_frame - SETTINGS_FRAME_RESERVE) / per)
		q.limit = (uint32_t)((x->s->cfg->max_frame - SETTINGS_FRAME_RESERVE) / per);
	if (m->limit && m->limit < q.limit)
		q.limit = m->limit;
	if (!q.limit)
		q.limit = 1;
	if (q.limit > x->s->cfg->max_list)
		q.limit = x->s->cfg->max_list;
	if (!m->limit && q.limit > RPC_LIST_DEFAULT)
		q.limit = RPC_LIST_DEFAULT;
	rc = group_dlq_list(gs, &q, r, rpc_dlq_alloc, &x->l->reply_arena);
	if (rc == GROUP_ENOENT) {
		rpc_group_missing(x, m->group);
		return;
	}
	if (rc) {
		rpc_error(x, TIMERD__ERROR_CODE__NO_MEMORY, "dlq list: out of memory");
		return;
	}
	rpc_group_reply(x, TIMERD__RESPONSE__BODY_DLQ_LIST, r);
}

/* DlqRetry and DlqPurge. */
static void rpc_dlq_apply(struct rpc_ctx *x, bool purge)
{
	const char *name = purge ? x->rq->dlq_purge->group : x->rq->dlq_retry->group;
	const char *key = purge ? x->rq->dlq_purge->key : x->rq->dlq_retry->key;
	uint64_t id = purge ? x->rq->dlq_purge->delivery_id : x->rq->dlq_retry->delivery_id, count = 0, hold = 0;
	const char *what = purge ? "dlq purge" : "dlq retry";
	struct group_set *gs = rpc_groups(x);
	void *r;
	int rc;

	if (!gs || !rpc_group_name(x, what, name) || !rpc_dlq_key(x, key) ||
	    !rpc_journal_ready(x, journal_enabled(x->s)) ||
	    !(r = rpc_group_alloc(x, purge ? sizeof(Timerd__DlqPurgeReply) : sizeof(Timerd__DlqRetryReply))))
		return;
	rc = group_dlq_apply(gs, name, key, id, purge, x->l, &count, &hold);
	if (rc == GROUP_ENOENT) {
		rpc_group_missing(x, name);
		return;
	}
	if (rc) {
		rpc_group_oom(x, what);
		return;
	}
	x->hold = hold;
	if (purge) {
		timerd__dlq_purge_reply__init(r);
		((Timerd__DlqPurgeReply *)r)->count = count;
		rpc_group_reply(x, TIMERD__RESPONSE__BODY_DLQ_PURGE, r);
	} else {
		timerd__dlq_retry_reply__init(r);
		((Timerd__DlqRetryReply *)r)->count = count;
		rpc_group_reply(x, TIMERD__RESPONSE__BODY_DLQ_RETRY, r);
	}
}

/* DlqRetry. */
static void rpc_dlq_retry(struct rpc_ctx *x)
{
	rpc_dlq_apply(x, false);
}

/* DlqPurge. */
static void rpc_dlq_purge(struct rpc_ctx *x)
{
	rpc_dlq_apply(x, true);
}

/* rpc_ops.ctr for operations without a request counter of their own. */
#define RPC_NO_CTR SIZE_MAX

/* Auth: binds the connection to an identity (server/auth.c checks the secret off the loop thread). */
static void rpc_auth(struct rpc_ctx *x)
{
	if (!x->c || x->c->sse) {
		rpc_error(x, TIMERD__ERROR_CODE__INVALID, "auth: over HTTP, send Authorization: Bearer IDENTITY:SECRET "
			  "with each request");
		return;
	}
	x->deferred = true;	/* auth_request answers, now or from auth_done */
	auth_request(x->c, x->rq->id, x->rq->auth);
}

/*
 * What each Request body needs (doc/security.md, Permissions): the
 * operation its identity must be allowed, and where its key and topic are
 * (checked against keys= and topics=). OPEN: answered before any identity
 * (Hello, Ping, Auth). The consumer-group bodies map to consume; a
 * GroupCreate's topics are each checked (rpc_permit).
 */
#define RPC_OPEN (-1)
static const struct rpc_perm {
	bool known;			/* the entry is set */
	int op;				/* enum ident_op, or RPC_OPEN */
} rpc_perms[] = {
	[TIMERD__REQUEST__BODY_HELLO] = { true, RPC_OPEN },
	[TIMERD__REQUEST__BODY_PING] = { true, RPC_OPEN },
	[TIMERD__REQUEST__BODY_AUTH] = { true, RPC_OPEN },
	[TIMERD__REQUEST__BODY_ARM] = { true, IDENT_OP_ARM },
	[TIMERD__REQUEST__BODY_CANCEL] = { true, IDENT_OP_CANCEL },
	[TIMERD__REQUEST__BODY_GET] = { true, IDENT_OP_GET },
	[TIMERD__REQUEST__BODY_LIST] = { true, IDENT_OP_LIST },
	[TIMERD__REQUEST__BODY_WATCH] = { true, IDENT_OP_WATCH },
	[TIMERD__REQUEST__BODY_UNWATCH] = { true, IDENT_OP_WATCH },
	[TIMERD__REQUEST__BODY_STATS] = { true, IDENT_OP_STATS },
	[TIMERD__REQUEST__BODY_PROBE_ATTACH] = { true, IDENT_OP_PROBE },
	[TIMERD__REQUEST__BODY_PROBE_DETACH] = { true, IDENT_OP_PROBE },
	[TIMERD__REQUEST__BODY_PROBE_LIST] = { true, IDENT_OP_PROBE },
	[TIMERD__REQUEST__BODY_GROUP_CREATE] = { true, IDENT_OP_CONSUME },
	[TIMERD__REQUEST__BODY_GROUP_DELETE] = { true, IDENT_OP_CONSUME },
	[TIMERD__REQUEST__BODY_GROUP_LIST] = { true, IDENT_OP_CONSUME },
	[TIMERD__REQUEST__BODY_SUBSCRIBE] = { true, IDENT_OP_CONSUME },
	[TIMERD__REQUEST__BODY_UNSUBSCRIBE] = { true, IDENT_OP_CONSUME },
	[TIMERD__REQUEST__BODY_ACK] = { true, IDENT_OP_CONSUME },
	[TIMERD__REQUEST__BODY_NACK] = { true, IDENT_OP_CONSUME },
	[TIMERD__REQUEST__BODY_DLQ_LIST] = { true, IDENT_OP_CONSUME },
	[TIMERD__REQUEST__BODY_DLQ_RETRY] = { true, IDENT_OP_CONSUME },
	[TIMERD__REQUEST__BODY_DLQ_PURGE] = { true, IDENT_OP_CONSUME },
};

#define RPC_NPERMS (sizeof(rpc_perms) / sizeof(rpc_perms[0]))

/* A string field for ident_allows: "" when unset (the rule for "none given" applies), never NULL. */
#define RPC_S(p) ((p) ? (p) : "")

/* True if s (NULL: none) is text (text_ok); false after answering INVALID, so a PERMISSION message never echoes raw bytes. */
static bool rpc_permit_text(struct rpc_ctx *x, const char *what, const char *s)
{
	if (!s || text_ok(s, strlen(s)))
		return true;
	rpc_error(x, TIMERD__ERROR_CODE__INVALID, "%s is not valid UTF-8 text (control characters and bidi "
		  "overrides are not allowed)", what);
	return false;
}

/* What rpc_topic_ok checks a group's topics against. */
struct rpc_topic_chk {
	const struct ident *id;
	char *why;
	size_t whylen;
};

/* group_topics_ok callback: the identity may consume this topic. */
static bool rpc_topic_ok(void *arg, const char *topic, size_t len)
{
	struct rpc_topic_chk *k = arg;

	return ident_allows(k->id, IDENT_OP_CONSUME, NULL, 0, topic, len, k->why, k->whylen);
}

/*
 * True if x's identity may consume every topic of group name (NULL or "":
 * of delivery dlv's group); an unknown group or delivery passes (its handler
 * answers NOT_FOUND). False with why naming the rule.
 */
static bool rpc_group_permit(struct rpc_ctx *x, const char *name, uint64_t dlv, char *why, size_t whylen)
{
	struct rpc_topic_chk k = { .id = x->id, .why = why, .whylen = whylen };

	if (!x->s->groups || (!(name && *name) && !dlv))
		return true;
	return group_topics_ok(&x->s->groups->gs, name, dlv, rpc_topic_ok, &k) != 0;
}

/*
 * Checks the request's identity against its body's rule, before any
 * handler runs (nothing is half-applied); false after answering
 * UNAUTHENTICATED or PERMISSION. A request an unknown body carries falls
 * through to rpc_unknown.
 */
static bool rpc_permit(struct rpc_ctx *x, unsigned body)
{
	const Timerd__Request *rq = x->rq;
	const struct ident *id = x->id;
	char why[512];
	bool ok = true;
	int op;

	if (body >= RPC_NPERMS || !rpc_perms[body].known)
		return true;	/* unknown: UNKNOWN_OP */
	if ((op = rpc_perms[body].op) == RPC_OPEN)
		return true;
	if (!id) {
		rpc_error(x, TIMERD__ERROR_CODE__UNAUTHENTICATED, "this connection has no identity: send Auth first "
			  "(timerctl --user NAME with $TIMERD_SECRET; over HTTP, Authorization: Bearer NAME:SECRET); "
			  "before it only Hello, Ping and Auth are answered");
		return false;
	}
	switch (body) {
	case TIMERD__REQUEST__BODY_ARM:
		if (!rpc_permit_text(x, "key", rq->arm->key) || !rpc_permit_text(x, "topic", rq->arm->topic))
			return false;
		ok = ident_allows(id, op, RPC_S(rq->arm->key), strlen(RPC_S(rq->arm->key)), RPC_S(rq->arm->topic),
				  strlen(RPC_S(rq->arm->topic)), why, sizeof(why));
		break;
	case TIMERD__REQUEST__BODY_CANCEL:
		if (!rpc_permit_text(x, "key", rq->cancel->key))
			return false;
		ok = ident_allows(id, op, RPC_S(rq->cancel->key), strlen(RPC_S(rq->cancel->key)), NULL, 0, why, sizeof(why));
		break;
	case TIMERD__REQUEST__BODY_GET:
		if (!rpc_permit_text(x, "key", rq->get->key))
			return false;
		ok = ident_allows(id, op, RPC_S(rq->get->key), strlen(RPC_S(rq->get->key)), NULL, 0, why, sizeof(why));
		break;
	case TIMERD__REQUEST__BODY_LIST:	/* entries are filtered too (rpc_list_keep) */
		if (rq->list->filter_case == TIMERD__LIST__FILTER_TOPIC && !rpc_permit_text(x, "topic", rq->list->topic))
			return false;
		ok = rq->list->filter_case != TIMERD__LIST__FILTER_TOPIC ?
			     ident_allows(id, op, NULL, 0, NULL, 0, why, sizeof(why)) :
			     ident_allows(id, op, NULL, 0, RPC_S(rq->list->topic), strlen(RPC_S(rq->list->topic)), why,
					  sizeof(why));
		break;
	case TIMERD__REQUEST__BODY_WATCH:
		if (!rq->watch->all && !rpc_permit_text(x, "topic", rq->watch->topic))
			return false;
		ok = ident_allows(id, op, NULL, 0, rq->watch->all ? "" : RPC_S(rq->watch->topic),
				  rq->watch->all ? 0 : strlen(RPC_S(rq->watch->topic)), why, sizeof(why));
		break;
	case TIMERD__REQUEST__BODY_GROUP_CREATE: {
		const Timerd__Group *g = rq->group_create->group;

		ok = ident_allows(id, op, NULL, 0, NULL, 0, why, sizeof(why));
		if (ok && g && !g->n_topics)	/* every topic */
			ok = ident_allows(id, op, NULL, 0, "", 0, why, sizeof(why));
		for (size_t i = 0; g && i < g->n_topics; i++)
			if (!rpc_permit_text(x, "topic", g->topics[i]))
				return false;
		for (size_t i = 0; ok && g && i < g->n_topics; i++)
			ok = ident_allows(id, op, NULL, 0, RPC_S(g->topics[i]), strlen(RPC_S(g->topics[i])), why, sizeof(why));
		break;
	}
	case TIMERD__REQUEST__BODY_DLQ_LIST:
		if (!rpc_permit_text(x, "key", rq->dlq_list->key))
			return false;
		ok = ident_allows(id, op, rq->dlq_list->key && *rq->dlq_list->key ? rq->dlq_list->key : NULL,
				  strlen(RPC_S(rq->dlq_list->key)), NULL, 0, why, sizeof(why));
		break;
	default:
		ok = ident_allows(id, op, NULL, 0, NULL, 0, why, sizeof(why));
		break;
	}
	if (ok) {	/* a group's requests: its topics too (an unnamed GroupList is filtered: rpc_group_one) */
		switch (body) {
		case TIMERD__REQUEST__BODY_GROUP_DELETE:
			ok = rpc_group_permit(x, rq->group_delete->name, 0, why, sizeof(why));
			break;
		case TIMERD__REQUEST__BODY_GROUP_LIST:
			ok = rpc_group_permit(x, rq->group_list->name, 0, why, sizeof(why));
			break;
		case TIMERD__REQUEST__BODY_SUBSCRIBE:
			ok = rpc_group_permit(x, rq->subscribe->group, 0, why, sizeof(why));
			break;
		case TIMERD__REQUEST__BODY_UNSUBSCRIBE:
			ok = rpc_group_permit(x, rq->unsubscribe->group, 0, why, sizeof(why));
			break;
		case TIMERD__REQUEST__BODY_ACK:	/* the delivery's group decides */
			ok = rpc_group_permit(x, NULL, rq->ack->delivery_id, why, sizeof(why));
			break;
		case TIMERD__REQUEST__BODY_NACK:
			ok = rpc_group_permit(x, NULL, rq->nack->delivery_id, why, sizeof(why));
			break;
		case TIMERD__REQUEST__BODY_DLQ_LIST:
			ok = rpc_group_permit(x, rq->dlq_list->group, 0, why, sizeof(why));
			break;
		case TIMERD__REQUEST__BODY_DLQ_RETRY:
			ok = rpc_group_permit(x, rq->dlq_retry->group, 0, why, sizeof(why));
			break;
		case TIMERD__REQUEST__BODY_DLQ_PURGE:
			ok = rpc_group_permit(x, rq->dlq_purge->group, 0, why, sizeof(why));
			break;
		default:
			break;
		}
	}
	if (!ok)
		rpc_error(x, TIMERD__ERROR_CODE__PERMISSION, "%s", why);
	return ok;
}

#define RPC_CTR(n) offsetof(struct loop_counters, n)

/* Every operation, by Request body number. */
static const struct rpc_op rpc_ops[] = {
	[TIMERD__REQUEST__BODY_HELLO] = { .name = "hello", .ctr = RPC_CTR(req_hello), .fn = rpc_hello },
	[TIMERD__REQUEST__BODY_ARM] = { .name = "arm", .ctr = RPC_CTR(req_arm), .fn = rpc_arm },
	[TIMERD__REQUEST__BODY_CANCEL] = { .name = "cancel", .ctr = RPC_CTR(req_cancel), .fn = rpc_cancel },
	[TIMERD__REQUEST__BODY_GET] = { .name = "get", .ctr = RPC_CTR(req_get), .fn = rpc_get },
	[TIMERD__REQUEST__BODY_LIST] = { .name = "list", .ctr = RPC_CTR(req_list), .fn = rpc_list },
	[TIMERD__REQUEST__BODY_WATCH] = { .name = "watch", .ctr = RPC_CTR(req_watch), .fn = rpc_watch },
	[TIMERD__REQUEST__BODY_UNWATCH] = { .name = "unwatch", .ctr = RPC_CTR(req_unwatch), .fn = rpc_unwatch },
	[TIMERD__REQUEST__BODY_STATS] = { .name = "stats", .ctr = RPC_CTR(req_stats), .fn = rpc_stats },
	[TIMERD__REQUEST__BODY_PING] = { .name = "ping", .ctr = RPC_CTR(req_ping), .fn = rpc_ping },
	[TIMERD__REQUEST__BODY_AUTH] = { .name = "auth", .ctr = RPC_CTR(req_hello), .fn = rpc_auth },
	[TIMERD__REQUEST__BODY_PROBE_ATTACH] = { .name = "probe_attach", .ctr = RPC_CTR(req_probe), .fn = rpc_probe_attach },
	[TIMERD__REQUEST__BODY_PROBE_DETACH] = { .name = "probe_detach", .ctr = RPC_CTR(req_probe), .fn = rpc_probe_detach },
	[TIMERD__REQUEST__BODY_PROBE_LIST] = { .name = "probe_list", .ctr = RPC_CTR(req_probe), .fn = rpc_probe_list },
	[TIMERD__REQUEST__BODY_GROUP_CREATE] = { .name = "group_create", .ctr = RPC_NO_CTR, .fn = rpc_group_create },
	[TIMERD__REQUEST__BODY_GROUP_DELETE] = { .name = "group_delete", .ctr = RPC_NO_CTR, .fn = rpc_group_delete },
	[TIMERD__REQUEST__BODY_GROUP_LIST] = { .name = "group_list", .ctr = RPC_NO_CTR, .fn = rpc_group_list },
	[TIMERD__REQUEST__BODY_SUBSCRIBE] = { .name = "subscribe", .ctr = RPC_NO_CTR, .fn = rpc_subscribe },
	[TIMERD__REQUEST__BODY_UNSUBSCRIBE] = { .name = "unsubscribe", .ctr = RPC_NO_CTR, .fn = rpc_unsubscribe },
	[TIMERD__REQUEST__BODY_ACK] = { .name = "ack", .ctr = RPC_NO_CTR, .fn = rpc_ack },
	[TIMERD__REQUEST__BODY_NACK] = { .name = "nack", .ctr = RPC_NO_CTR, .fn = rpc_nack },
	[TIMERD__REQUEST__BODY_DLQ_LIST] = { .name = "dlq_list", .ctr = RPC_NO_CTR, .fn = rpc_dlq_list },
	[TIMERD__REQUEST__BODY_DLQ_RETRY] = { .name = "dlq_retry", .ctr = RPC_NO_CTR, .fn = rpc_dlq_retry },
	[TIMERD__REQUEST__BODY_DLQ_PURGE] = { .name = "dlq_purge", .ctr = RPC_NO_CTR, .fn = rpc_dlq_purge },
};

/* Answers a Request whose body this server does not know. */
static void rpc_unknown(struct rpc_ctx *x)
{
	const Timerd__Request *rq = x->rq;

	if (rq->base.n_unknown_fields)
		rpc_error(x, TIMERD__ERROR_CODE__UNKNOWN_OP, "unknown operation (Request field %u): this timerd %s speaks "
			  "protocol version %d; upgrade timerd", rq->base.unknown_fields[0].tag, PACKAGE_VERSION,
			  FRAME_VERSION);
	else
		rpc_error(x, TIMERD__ERROR_CODE__UNKNOWN_OP, "empty request: set one operation in Request.body");
}

/* Runs the decoded request in x. */
static void rpc_dispatch(struct rpc_ctx *x)
{
	unsigned op = (unsigned)x->rq->body_case;

	x->rs.id = x->rq->id;
	if (x->c && !x->c->sse && !conn_inflight_ok(x->c)) {
		rpc_error(x, TIMERD__ERROR_CODE__TOO_MANY_INFLIGHT, "more than %u requests are unanswered on this "
			  "connection: read replies before sending more (max-inflight)", x->l->lim.max_inflight);
		return;
	}
	if (op >= sizeof(rpc_ops) / sizeof(rpc_ops[0]) || !rpc_ops[op].fn) {
		rpc_unknown(x);
		return;
	}
	if (x->l->users && !rpc_permit(x, op))
		return;
	if (rpc_ops[op].ctr != RPC_NO_CTR)
		ctr_add((_Atomic uint64_t *)(void *)((char *)&x->l->ctr + rpc_ops[op].ctr), 1);
	rpc_ops[op].fn(x);
}

/* Handles one request frame of n bytes from c. */
void rpc_handle(struct conn *c, const uint8_t *p, uint32_t n)
{
	struct rpc_ctx x = { .c = c, .l = c->loop, .s = c->loop->srv, .id = c->ident };
	struct unpack_buf ub;	/* an Arm or Ack decoded without protobuf-c (proto/unpack.h): lives as x */
	int64_t arena;

	if (!conn_quota_sync(c))
		return;	/* bound since its last request (Auth, a reload) to an identity with max-connections open: closing */
	timerd__response__init(&x.rs);
	arena_limit_for(&x.l->arena, n);	/* decoding is bounded by the frame's size */
	if (!(x.rq = unpack_request(p, n, &x.l->arena, &ub)))
		x.rq = timerd__request__unpack(arena_pbc(&x.l->arena), n, p);
	/* a big frame's decoding counts in max-memory while its request runs (a kept chunk's worth per loop does not) */
	if ((arena = x.l->arena.total > ARENA_KEEP ? (int64_t)x.l->arena.total : 0))
		atomic_fetch_add_explicit(&x.s->fire_mem, arena, memory_order_relaxed);	/* relaxed: a gauge */
	if (!x.rq)
		rpc_error(&x, TIMERD__ERROR_CODE__MALFORMED, "cannot decode a %u-byte frame as a timerd Request: "
			  "check the framing (4-byte big-endian length) and the client's timerd.proto", n);
	else
		rpc_dispatch(&x);
	if (x.hold)
		conn_hold(c, x.hold);	/* the reply and what follows it wait for the journal */
	if (!x.deferred)
		conn_send(c, &x.rs, true);
	arena_reset(&x.l->arena);
	arena_reset(&x.l->reply_arena);
	if (arena)
		atomic_fetch_sub_explicit(&x.s->fire_mem, arena, memory_order_relaxed);
}

/* Runs a request built by another front end (HTTP) through the same handlers, with no connection. */
void rpc_run(struct loop *l, struct conn *c, const Timerd__Request *rq, rpc_done_fn done, void *arg)
{
	rpc_run_consumer(l, c, c ? c->ident : NULL, NULL, rq, done, arg);
}

/* rpc_run as identity id (HTTP's Bearer; NULL with a users file: UNAUTHENTICATED). */
void rpc_run_as(struct loop *l, struct conn *c, const struct ident *id, const Timerd__Request *rq, rpc_done_fn done,
		void *arg)
{
	rpc_run_consumer(l, c, id, NULL, rq, done, arg);
}

/* rpc_run as identity id for the group consumer gc (an HTTP long poll): see srv.h. */
void rpc_run_consumer(struct loop *l, struct conn *c, const struct ident *id, struct group_consumer *gc,
		      const Timerd__Request *rq, rpc_done_fn done, void *arg)
{
	struct rpc_ctx x = { .c = c, .gc = gc, .l = l, .s = l->srv, .rq = rq, .id = id };

	timerd__response__init(&x.rs);
	rpc_dispatch(&x);
	done(arg, &x.rs, x.hold);
	arena_reset(&l->arena);
	arena_reset(&l->reply_arena);
}
