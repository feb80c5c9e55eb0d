/*
 * codec.c -- libtimerd's request encoding and reply decoding (internal.h),
 * plus the error table and the small public helpers.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client/internal.h"
#include "proto/addr.h"
#include "proto/flat.h"
#include "proto/frame.h"

/* Drops const from a string for protobuf-c's char * fields (never written). */
#define CODEC_STR(s) ((char *)(uintptr_t)((s) ? (s) : ""))

/* ------------------------------------------------------------------------ */
/* Errors */

struct codec_err {
	int code;
	const char *name;
	const char *text;
};

static const struct codec_err codec_errs[] = {
	{ TIMERD_OK, "OK", "ok" },
	{ TIMERD_EINVAL, "INVALID", "invalid argument" },
	{ TIMERD_EDEADLINE, "DEADLINE", "invalid deadline: negative or out of range" },
	{ TIMERD_EOVERFLOW, "OVERFLOW", "deadline overflows the clock range" },
	{ TIMERD_EPERIOD, "PERIOD", "invalid period: must be 0 or at least 1 microsecond" },
	{ TIMERD_EKEYLEN, "KEY_TOO_LONG", "key too long" },
	{ TIMERD_ETOPICLEN, "TOPIC_TOO_LONG", "topic too long" },
	{ TIMERD_EPAYLOAD, "PAYLOAD_TOO_LARGE", "payload too large" },
	{ TIMERD_EFULL, "FULL", "timerd holds its maximum number of timers" },
	{ TIMERD_ENOTFOUND, "NOT_FOUND", "no such timer" },
	{ TIMERD_ENOMEM, "NO_MEMORY", "out of memory" },
	{ TIMERD_ESYSTEM, "SYSTEM", "a system call failed in timerd" },
	{ TIMERD_EBUSY, "BUSY", "resource busy" },
	{ TIMERD_EKEYID, "KEY_AND_ID", "give a key or an id, not both" },
	{ TIMERD_ESTORAGE, "STORAGE", "timerd cannot write its timer store: nothing was changed, retry later" },
	{ TIMERD_ECONFLICT, "CONFLICT", "a group of that name exists with other settings" },
	{ TIMERD_EVERSION, "VERSION", "protocol version not supported" },
	{ TIMERD_EMALFORMED, "MALFORMED", "timerd could not decode the request" },
	{ TIMERD_EUNKNOWNOP, "UNKNOWN_OP", "timerd does not know this operation" },
	{ TIMERD_EFRAME, "FRAME_TOO_LARGE", "frame too large" },
	{ TIMERD_EINFLIGHT, "TOO_MANY_INFLIGHT", "too many unanswered requests on the connection" },
	{ TIMERD_ECONNS, "TOO_MANY_CONNECTIONS", "timerd has too many connections" },
	{ TIMERD_EPERM, "PERMISSION", "permission denied" },
	{ TIMERD_EUNAVAIL, "UNAVAILABLE", "not available in this timerd" },
	{ TIMERD_ESHUTDOWN, "SHUTTING_DOWN", "timerd is shutting down" },
	{ TIMERD_EWATCHES, "TOO_MANY_WATCHES", "too many watched topics on the connection" },
	{ TIMERD_ESTALLED, "TIMEOUT", "an incomplete frame stalled" },
	{ TIMERD_ECONNECT, "CONNECT", "cannot connect to timerd" },
	{ TIMERD_EIO, "IO", "connection to timerd failed" },
	{ TIMERD_ETIMEDOUT, "TIMED_OUT", "timed out" },
	{ TIMERD_EPROTO, "PROTOCOL", "unexpected data from timerd" },
	{ TIMERD_ECLOSED, "CLOSED", "connection closed" },
	{ TIMERD_EARG, "ARGUMENT", "bad argument" },
};

/* Finds a code's table entry; NULL if unknown. */
static const struct codec_err *codec_err_find(int code)
{
	for (size_t i = 0; i < sizeof(codec_errs) / sizeof(codec_errs[0]); i++)
		if (codec_errs[i].code == code)
			return &codec_errs[i];
	return NULL;
}

/* A generic text for a code. */
const char *timerd_strerror(int code)
{
	const struct codec_err *e = codec_err_find(code);

	return e ? e->text : "unknown error";
}

/* The code's protocol name. */
const char *timerd_errname(int code)
{
	const struct codec_err *e = codec_err_find(code);

	return e ? e->name : "UNKNOWN";
}

/* Formats into buf. */
void codec_msg(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!buf || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

/* CLOCK_MONOTONIC now, ns. */
int64_t codec_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * TIMERD_S + ts.tv_nsec;
}

/* The socket a client uses when given none. */
void timerd_default_address(char *buf, size_t len)
{
	addr_client_default(buf, len);
}

/* ------------------------------------------------------------------------ */
/* Requests */

/* Starts q with an empty envelope. */
static void codec_init(struct codec_req *q, Timerd__Request__BodyCase c)
{
	timerd__request__init(&q->r);
	q->r.body_case = c;
	q->sent_ns = 0;
}

/* Fills a Hello. */
void codec_hello(struct codec_req *q, const char *client_name)
{
	codec_init(q, TIMERD__REQUEST__BODY_HELLO);
	timerd__hello__init(&q->u.hello);
	q->u.hello.version = TIMERD_PROTOCOL_VERSION;
	q->u.hello.client = CODEC_STR(client_name ? client_name : "libtimerd " PACKAGE_VERSION);
	q->r.hello = &q->u.hello;
}

/* Fills an Arm; TIMERD_EARG if `when` or `misfire` is not one of its enum. */
int codec_arm(struct codec_req *q, const struct timerd_arm *a)
{
	Timerd__Arm *m = &q->u.arm;

	codec_init(q, TIMERD__REQUEST__BODY_ARM);
	timerd__arm__init(m);
	switch (a->when) {
	case TIMERD_AFTER:
		m->when_case = TIMERD__ARM__WHEN_AFTER_NS;
		m->after_ns = a->time_ns;
		break;
	case TIMERD_AT_MONO:
		m->when_case = TIMERD__ARM__WHEN_AT_MONO_NS;
		m->at_mono_ns = a->time_ns;
		break;
	case TIMERD_AT_UNIX:
		m->when_case = TIMERD__ARM__WHEN_AT_UNIX_NS;
		m->at_unix_ns = a->time_ns;
		break;
	default:
		return TIMERD_EARG;
	}
	if (a->calendar && *a->calendar) {
		m->calendar = CODEC_STR(a->calendar);
		/* the schedule says when; a time given too goes to the server, which refuses the pair */
		if (a->when == TIMERD_AFTER && !a->time_ns)
			m->when_case = TIMERD__ARM__WHEN__NOT_SET;
	}
	m->period_ns = a->period_ns;
	m->key = CODEC_STR(a->key);
	m->timer_id = a->timer_id;
	m->topic = CODEC_STR(a->topic);
	m->payload.data = (uint8_t *)(uintptr_t)a->payload;
	m->payload.len = a->payload ? a->payload_len : 0;
	m->notify = a->notify;
	m->ephemeral = a->ephemeral;
	switch (a->misfire) {
	case TIMERD_MISFIRE_FIRE:
		m->misfire = TIMERD__MISFIRE__MISFIRE_FIRE;
		break;
	case TIMERD_MISFIRE_SKIP:
		m->misfire = TIMERD__MISFIRE__MISFIRE_SKIP;
		break;
	default:
		return TIMERD_EARG;
	}
	q->r.arm = m;
	return TIMERD_OK;
}

/* Fills a Cancel. */
void codec_cancel(struct codec_req *q, uint64_t timer_id, const char *key)
{
	codec_init(q, TIMERD__REQUEST__BODY_CANCEL);
	timerd__cancel__init(&q->u.cancel);
	q->u.cancel.timer_id = timer_id;
	q->u.cancel.key = CODEC_STR(key);
	q->r.cancel = &q->u.cancel;
}

/* Fills a Get. */
void codec_get(struct codec_req *q, uint64_t timer_id, const char *key)
{
	codec_init(q, TIMERD__REQUEST__BODY_GET);
	timerd__get__init(&q->u.get);
	q->u.get.timer_id = timer_id;
	q->u.get.key = CODEC_STR(key);
	q->r.get = &q->u.get;
}

/* Fills a List. */
void codec_list(struct codec_req *q, const char *topic, uint64_t cursor, uint32_t limit, bool with_payload)
{
	Timerd__List *m = &q->u.list;

	codec_init(q, TIMERD__REQUEST__BODY_LIST);
	timerd__list__init(m);
	if (topic) {
		m->filter_case = TIMERD__LIST__FILTER_TOPIC;
		m->topic = CODEC_STR(topic);
	}
	m->cursor = cursor;
	m->limit = limit;
	m->with_payload = with_payload;
	q->r.list = m;
}

/* Fills a Watch or an Unwatch. */
void codec_watch(struct codec_req *q, const char *topic, bool unwatch)
{
	if (unwatch) {
		codec_init(q, TIMERD__REQUEST__BODY_UNWATCH);
		timerd__unwatch__init(&q->u.unwatch);
		q->u.unwatch.topic = CODEC_STR(topic);
		q->u.unwatch.all = !topic;
		q->r.unwatch = &q->u.unwatch;
		return;
	}
	codec_init(q, TIMERD__REQUEST__BODY_WATCH);
	timerd__watch__init(&q->u.watch);
	q->u.watch.topic = CODEC_STR(topic);
	q->u.watch.all = !topic;
	q->r.watch = &q->u.watch;
}

/* Fills a Ping stamped with now. */
void codec_ping(struct codec_req *q)
{
	codec_init(q, TIMERD__REQUEST__BODY_PING);
	timerd__ping__init(&q->u.ping);
	q->r.ping = &q->u.ping;
	q->sent_ns = codec_now();
}

/* Fills a StatsRequest. */
void codec_stats(struct codec_req *q)
{
	codec_init(q, TIMERD__REQUEST__BODY_STATS);
	timerd__stats_request__init(&q->u.stats);
	q->r.stats = &q->u.stats;
}

/* Fills a ProbeAttach. */
void codec_probe_attach(struct codec_req *q, const char *spec)
{
	codec_init(q, TIMERD__REQUEST__BODY_PROBE_ATTACH);
	timerd__probe_attach__init(&q->u.probe_attach);
	q->u.probe_attach.spec = CODEC_STR(spec);
	q->r.probe_attach = &q->u.probe_attach;
}

/* Fills a ProbeDetach. */
void codec_probe_detach(struct codec_req *q, uint32_t probe_id)
{
	codec_init(q, TIMERD__REQUEST__BODY_PROBE_DETACH);
	timerd__probe_detach__init(&q->u.probe_detach);
	q->u.probe_detach.probe_id = probe_id;
	q->r.probe_detach = &q->u.probe_detach;
}

/* Fills a ProbeList. */
void codec_probe_list(struct codec_req *q)
{
	codec_init(q, TIMERD__REQUEST__BODY_PROBE_LIST);
	timerd__probe_list__init(&q->u.probe_list);
	q->r.probe_list = &q->u.probe_list;
}

/* Bytes the framed request takes. */
size_t codec_size(const struct codec_req *q)
{
	return FRAME_HDR + timerd__request__get_packed_size(&q->r);
}

/* Writes the length prefix and the request into dst. */
void codec_pack(const struct codec_req *q, uint8_t *dst)
{
	size_t n = timerd__request__pack(&q->r, dst + FRAME_HDR);

	frame_put_len(dst, (uint32_t)n);
}

/* ------------------------------------------------------------------------ */
/* Replies */

/* The Response body that answers a request body (the numbers match). */
Timerd__Response__BodyCase codec_reply_case(Timerd__Request__BodyCase c)
{
	return (Timerd__Response__BodyCase)c;
}

/* Checks a reply against the request it answers. */
int codec_check(const Timerd__Response *m, Timerd__Request__BodyCase asked, char *msg, size_t len)
{
	if (m->body_case == TIMERD__RESPONSE__BODY_ERROR && m->error) {
		int code = m->error->code ? (int)m->error->code : TIMERD_EPROTO;

		codec_msg(msg, len, "%s", m->error->message && *m->error->message ? m->error->message
										     : timerd_strerror(code));
		return code;
	}
	if (m->body_case != codec_reply_case(asked)) {
		codec_msg(msg, len, "timerd answered with body %d to a request of body %d: "
			  "client and server disagree on the protocol", (int)m->body_case, (int)asked);
		return TIMERD_EPROTO;
	}
	return TIMERD_OK;
}

/* Copies an ArmReply. */
void codec_arm_result(const Timerd__ArmReply *m, struct timerd_arm_result *r)
{
	r->timer_id = m->timer_id;
	r->deadline_mono_ns = m->deadline_mono_ns;
	r->deadline_unix_ns = m->deadline_unix_ns;
	r->created = m->created;
	r->coalesced = m->coalesced;
}

/* Reserves n bytes aligned to 8; in the size pass (base NULL) only counts. */
void *codec_blk_take(struct codec_blk *b, size_t n)
{
	void *p;

	b->off = (b->off + 7) & ~(size_t)7;
	p = b->base ? b->base + b->off : NULL;
	b->off += n;
	return p;
}

/* Copies a string (NULL: "") into the block. */
const char *codec_blk_str(struct codec_blk *b, const char *s)
{
	size_t n = s ? strlen(s) : 0;
	char *p = codec_blk_take(b, n + 1);

	if (p) {
		memcpy(p, s ? s : "", n);
		p[n] = '\0';
	}
	return p;
}

/* Copies bytes into the block. */
const void *codec_blk_mem(struct codec_blk *b, const void *s, size_t n)
{
	void *p = codec_blk_take(b, n ? n : 1);

	if (p && n)
		memcpy(p, s, n);
	return p;
}

/* The public misfire policy of a wire one; a value this library does not know passes through. */
static enum timerd_misfire codec_misfire(Timerd__Misfire m)
{
	switch (m) {
	case TIMERD__MISFIRE__MISFIRE_FIRE:
		return TIMERD_MISFIRE_FIRE;
	case TIMERD__MISFIRE__MISFIRE_SKIP:
		return TIMERD_MISFIRE_SKIP;
	default:
		return (enum timerd_misfire)m;
	}
}

/* Fills a public timer from a Timer message, strings in the block. */
static void codec_timer_fill(struct codec_blk *b, struct timerd_timer *t, const Timerd__Timer *m)
{
	const char *key = codec_blk_str(b, m->key), *topic = codec_blk_str(b, m->topic);
	const void *payload = codec_blk_mem(b, m->payload.data, m->payload.len);
	const char *calendar = codec_blk_str(b, m->calendar);

	if (!t)
		return;
	t->timer_id = m->timer_id;
	t->key = key;
	t->topic = topic;
	t->payload = payload;
	t->payload_len = m->payload.len;
	t->payload_size = m->payload_len;
	t->deadline_mono_ns = m->deadline_mono_ns;
	t->deadline_unix_ns = m->deadline_unix_ns;
	t->period_ns = m->period_ns;
	t->realtime = m->realtime;
	t->notify = m->notify;
	t->ephemeral = m->ephemeral;
	t->misfire = codec_misfire(m->misfire);
	t->calendar = calendar;
}

/* Lays out one timer in the block. */
static struct timerd_timer *codec_timer_lay(struct codec_blk *b, const Timerd__Timer *m)
{
	struct timerd_timer *t = codec_blk_take(b, sizeof(*t));

	codec_timer_fill(b, t, m);
	return t;
}

/* Copies a Timer into one allocation. */
struct timerd_timer *codec_timer_copy(const Timerd__Timer *m)
{
	struct codec_blk b = { NULL, 0 };

	codec_timer_lay(&b, m);
	b.base = malloc(b.off);
	if (!b.base)
		return NULL;
	b.off = 0;
	return codec_timer_lay(&b, m);
}

/* Lays out a list page in the block. */
static struct timerd_list *codec_list_lay(struct codec_blk *b, const Timerd__ListReply *m)
{
	struct timerd_list *l = codec_blk_take(b, sizeof(*l));
	struct timerd_timer *v = codec_blk_take(b, sizeof(*v) * (m->n_timers ? m->n_timers : 1));

	for (size_t i = 0; i < m->n_timers; i++)
		codec_timer_fill(b, v ? &v[i] : NULL, m->timers[i]);
	if (l) {
		l->n = m->n_timers;
		l->timers = v;
		l->next_cursor = m->next_cursor;
	}
	return l;
}

/* Copies a ListReply into one allocation. */
struct timerd_list *codec_list_copy(const Timerd__ListReply *m)
{
	struct codec_blk b = { NULL, 0 };

	codec_list_lay(&b, m);
	b.base = malloc(b.off);
	if (!b.base)
		return NULL;
	b.off = 0;
	return codec_list_lay(&b, m);
}

struct codec_stats_walk {
	struct codec_blk *b;
	struct timerd_stat *v;
	size_t n;
	char name[128];
};

/* flat_walk callback: appends one counter. */
static void codec_stats_one(void *arg, const char *group, const char *field, int64_t value)
{
	struct codec_stats_walk *w = arg;
	const char *name;

	snprintf(w->name, sizeof(w->name), "%s.%s", group, field);
	name = codec_blk_str(w->b, w->name);
	if (w->v) {
		w->v[w->n].name = name;
		w->v[w->n].value = value;
	}
	w->n++;
}

/* Lays out a stats reply in the block; *n is the counter count (size pass). */
static struct timerd_stats *codec_stats_lay(struct codec_blk *b, const Timerd__StatsReply *m, size_t *n)
{
	struct timerd_stats *s = codec_blk_take(b, sizeof(*s));
	struct codec_stats_walk w = { .b = b, .v = codec_blk_take(b, sizeof(*w.v) * (*n ? *n : 1)) };

	flat_walk(&m->base, &timerd__stats_reply__descriptor, codec_stats_one, &w);
	*n = w.n;
	if (s) {
		s->n = w.n;
		s->v = w.v;
		s->now_mono_ns = m->now_mono_ns;
		s->now_unix_ns = m->now_unix_ns;
	}
	{
		const char *version = codec_blk_str(b, m->version), *db = codec_blk_str(b, m->stats_db);
		const char *fsync = codec_blk_str(b, m->store ? m->store->fsync : NULL);
		const char *path = codec_blk_str(b, m->store ? m->store->path : NULL);
		const char *last_error = codec_blk_str(b, m->store ? m->store->last_error : NULL);

		if (s) {
			s->version = version;
			s->stats_db = db;
			s->store_fsync = fsync;
			s->store_path = path;
			s->store_last_error = last_error;
		}
	}
	return s;
}

/* Copies a StatsReply into one allocation. */
struct timerd_stats *codec_stats_copy(const Timerd__StatsReply *m)
{
	struct codec_blk b = { NULL, 0 };
	size_t n = 0;

	codec_stats_lay(&b, m, &n);	/* counts n */
	b.off = 0;
	codec_stats_lay(&b, m, &n);	/* sizes with n slots */
	b.base = malloc(b.off);
	if (!b.base)
		return NULL;
	b.off = 0;
	return codec_stats_lay(&b, m, &n);
}

/* Lays out a probe list in the block. */
static struct timerd_probes *codec_probes_lay(struct codec_blk *b, const Timerd__ProbeListReply *m)
{
	struct timerd_probes *p = codec_blk_take(b, sizeof(*p));
	struct timerd_probe *v = codec_blk_take(b, sizeof(*v) * (m->n_probes ? m->n_probes : 1));

	for (size_t i = 0; i < m->n_probes; i++) {
		const Timerd__ProbeInfo *pi = m->probes[i];
		const char *spec = codec_blk_str(b, pi->spec);

		if (v)
			v[i] = (struct timerd_probe){ .probe_id = pi->probe_id, .spec = spec, .hits = pi->hits,
						      .arms = pi->arms, .cancels = pi->cancels,
						      .ring_drops = pi->ring_drops, .errors = pi->errors,
						      .misses = pi->misses, .coalesced = pi->coalesced };
	}
	if (p) {
		p->n = m->n_probes;
		p->v = v;
	}
	return p;
}

/* Copies a ProbeListReply into one allocation. */
struct timerd_probes *codec_probes_copy(const Timerd__ProbeListReply *m)
{
	struct codec_blk b = { NULL, 0 };

	codec_probes_lay(&b, m);
	b.base = malloc(b.off);
	if (!b.base)
		return NULL;
	b.off = 0;
	return codec_probes_lay(&b, m);
}

/* Fills a fire view from a Fire message. */
static void codec_fire_view(const Timerd__Fire *m, struct timerd_fire *f)
{
	memset(f, 0, sizeof(*f));
	f->timer_id = m->timer_id;
	f->key = m->key ? m->key : "";
	f->topic = m->topic ? m->topic : "";
	f->payload = m->payload.data;
	f->payload_len = m->payload.len;
	f->deadline_mono_ns = m->deadline_mono_ns;
	f->fired_mono_ns = m->fired_mono_ns;
	f->deadline_unix_ns = m->deadline_unix_ns;
	f->period_ns = m->period_ns;
	f->seq = m->seq;
	f->missed = m->missed;
	f->final = m->final;
	f->recovered = m->recovered;
	if (m->origin) {
		f->has_origin = true;
		f->origin.probe_id = m->origin->probe_id;
		f->origin.pid = m->origin->pid;
		f->origin.tid = m->origin->tid;
		f->origin.hit_mono_ns = m->origin->hit_mono_ns;
		snprintf(f->origin.comm, sizeof(f->origin.comm), "%s", m->origin->comm ? m->origin->comm : "");
	}
}

/* Fills ev with views into an event message; TIMERD_EPROTO if it is none. */
int codec_event_view(const Timerd__Response *m, struct timerd_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->delivery.group = "";
	if (m->body_case == TIMERD__RESPONSE__BODY_FIRE && m->fire) {
		ev->kind = TIMERD_EVENT_FIRE;
		codec_fire_view(m->fire, &ev->fire);
		ev->delivery.delivery_id = m->fire->delivery_id;
		ev->delivery.attempt = m->fire->attempt;
		ev->delivery.group = m->fire->group ? m->fire->group : "";
		return TIMERD_OK;
	}
	if (m->body_case == TIMERD__RESPONSE__BODY_NOTICE && m->notice) {
		ev->kind = TIMERD_EVENT_NOTICE;
		ev->notice.kind = (enum timerd_notice_kind)m->notice->kind;
		ev->notice.count = m->notice->count;
		ev->notice.message = m->notice->message ? m->notice->message : "";
		return TIMERD_OK;
	}
	if (m->body_case == TIMERD__RESPONSE__BODY_ERROR && m->error) {
		ev->kind = TIMERD_EVENT_NOTICE;
		ev->notice.kind = TIMERD_NOTICE_OTHER;
		ev->notice.message = m->error->message ? m->error->message : "";
		return TIMERD_OK;
	}
	return TIMERD_EPROTO;
}

/* Lays out an event in the block, copying the view's strings and bytes. */
static struct timerd_event *codec_event_lay(struct codec_blk *b, const struct timerd_event *view)
{
	struct timerd_event *ev = codec_blk_take(b, sizeof(*ev));
	const char *key = codec_blk_str(b, view->fire.key), *topic = codec_blk_str(b, view->fire.topic);
	const void *payload = codec_blk_mem(b, view->fire.payload, view->fire.payload_len);
	const char *msg = codec_blk_str(b, view->notice.message);
	const char *group = codec_blk_str(b, view->delivery.group);

	if (ev) {
		*ev = *view;
		ev->delivery.group = group;
		ev->fire.key = key;
		ev->fire.topic = topic;
		ev->fire.payload = payload;
		ev->notice.message = msg;
	}
	return ev;
}

/* Copies an event message into one allocation; NULL if none or out of memory. */
struct timerd_event *codec_event_copy(const Timerd__Response *m)
{
	struct timerd_event view;
	struct codec_blk b = { NULL, 0 };

	if (codec_event_view(m, &view) != TIMERD_OK)
		return NULL;
	codec_event_lay(&b, &view);
	b.base = malloc(b.off);
	if (!b.base)
		return NULL;
	b.off = 0;
	return codec_event_lay(&b, &view);
}

/* ------------------------------------------------------------------------ */
/* Public helpers */

/* Looks up a counter by name. */
bool timerd_stats_get(const struct timerd_stats *s, const char *name, int64_t *value)
{
	for (size_t i = 0; s && i < s->n; i++) {
		if (strcmp(s->v[i].name, name) == 0) {
			*value = s->v[i].value;
			return true;
		}
	}
	return false;
}

/* Frees a timer from timerd_get. */
void timerd_timer_free(struct timerd_timer *t)
{
	free(t);
}

/* Frees a list page. */
void timerd_list_free(struct timerd_list *l)
{
	free(l);
}

/* Frees an event. */
void timerd_event_free(struct timerd_event *ev)
{
	free(ev);
}

/* Frees stats. */
void timerd_stats_free(struct timerd_stats *s)
{
	free(s);
}

/* Frees a probe list. */
void timerd_probes_free(struct timerd_probes *p)
{
	free(p);
}

int codec_open(const char *addr, const struct timerd_options *opt, struct timerd_error *err, void **ssl)
{
	char def[256], where[300];
	struct addr a;
	int fd, ms = opt && opt->timeout_ms ? opt->timeout_ms : CLIENT_DEFAULT_TIMEOUT_MS;

	if (!addr || !*addr) {
		timerd_default_address(def, sizeof(def));
		addr = def;
	}
	if (addr_parse(addr, &a, err->message, sizeof(err->message)) < 0) {
		err->code = TIMERD_ECONNECT;
		return -1;
	}
	*ssl = NULL;
	if ((a.tls || (opt && opt->tls)) && a.kind != ADDR_TCP) {
		codec_msg(err->message, sizeof(err->message), "%s is a Unix socket: TLS needs a TCP address "
			  "(tls://HOST:PORT)", addr);
		err->code = TIMERD_ECONNECT;
		return -1;
	}
	fd = addr_connect(&a, ms, err->message, sizeof(err->message));
	if (fd < 0) {
		err->code = TIMERD_ECONNECT;
		return -1;
	}
	if (a.tls || (opt && opt->tls)) {
		a.tls = true;
		addr_format(&a, where, sizeof(where));
		if (!(*ssl = ctls_connect(fd, a.host, where, opt ? opt->tls : NULL, ms, err))) {
			close(fd);
			return -1;
		}
	}
	return fd;
}
