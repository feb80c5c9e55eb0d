/*
 * internal.h -- what the blocking and async halves of libtimerd share:
 * request encoding, reply decoding into the public structs, errors.
 * Not installed.
 */
#ifndef TIMERD_CLIENT_INTERNAL_H
#define TIMERD_CLIENT_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "client/timerd.h"
#include "proto/timerd.pb-c.h"

#define CLIENT_DEFAULT_TIMEOUT_MS 10000
#define CLIENT_DEFAULT_MAX_EVENTS 65536
/* Requests in flight before the server's HelloReply says its limit. */
#define CLIENT_DEFAULT_WINDOW 1024

/* One request under construction: the envelope and whichever body it has. */
struct codec_req {
	Timerd__Request r;
	union {
		Timerd__Hello hello;
		Timerd__Arm arm;
		Timerd__Cancel cancel;
		Timerd__Get get;
		Timerd__List list;
		Timerd__Watch watch;
		Timerd__Unwatch unwatch;
		Timerd__StatsRequest stats;
		Timerd__Ping ping;
		Timerd__ProbeAttach probe_attach;
		Timerd__ProbeDetach probe_detach;
		Timerd__ProbeList probe_list;
		Timerd__GroupCreate group_create;
		Timerd__GroupDelete group_delete;
		Timerd__GroupList group_list;
		Timerd__Subscribe subscribe;
		Timerd__Unsubscribe unsubscribe;
		Timerd__Ack ack;
		Timerd__Nack nack;
		Timerd__DlqList dlq_list;
		Timerd__DlqRetry dlq_retry;
		Timerd__DlqPurge dlq_purge;
	} u;
	Timerd__Group group;		/* group_create's group */
	int64_t sent_ns;		/* ping: CLOCK_MONOTONIC when built */
};

/*
 * The largest reply frame the library reads (length prefix excluded):
 * whatever answers on the socket cannot make it buffer 64 MiB. timerd's
 * replies fit its max-frame (default 1 MiB; a List page is cut to fit).
 */
#define CODEC_MAX_REPLY (16u * 1024u * 1024u)

/* Builders: each fills q for one operation (id set by the caller later). */
void codec_hello(struct codec_req *q, const char *client_name);
int codec_arm(struct codec_req *q, const struct timerd_arm *a);
void codec_cancel(struct codec_req *q, uint64_t timer_id, const char *key);
void codec_get(struct codec_req *q, uint64_t timer_id, const char *key);
void codec_list(struct codec_req *q, const char *topic, uint64_t cursor, uint32_t limit, bool with_payload);
void codec_watch(struct codec_req *q, const char *topic, bool unwatch);
void codec_ping(struct codec_req *q);
void codec_stats(struct codec_req *q);
void codec_probe_attach(struct codec_req *q, const char *spec);
void codec_probe_detach(struct codec_req *q, uint32_t probe_id);
void codec_probe_list(struct codec_req *q);

/* --- group.c: consumer groups --- */

/* Fills a GroupCreate; TIMERD_EARG if the group has no name or topics are NULL. */
int codec_group_create(struct codec_req *q, const struct timerd_group *g, bool update);
void codec_group_delete(struct codec_req *q, const char *name);
void codec_group_list(struct codec_req *q, const char *name);
void codec_subscribe(struct codec_req *q, const char *group, uint32_t credit, bool unsubscribe);
void codec_ack(struct codec_req *q, uint64_t delivery_id);
void codec_nack(struct codec_req *q, uint64_t delivery_id, int64_t retry_after_ns, const char *error);
void codec_dlq_list(struct codec_req *q, const char *group, const char *key, uint64_t cursor, uint32_t limit,
		    bool with_payload);
/* A DlqRetry, or a DlqPurge when purge. */
void codec_dlq_act(struct codec_req *q, const char *group, const char *key, uint64_t delivery_id, bool purge);

/* Copies a GroupListReply / DlqListReply into one allocation (NULL: out of memory). */
struct timerd_groups *codec_groups_copy(const Timerd__GroupListReply *m);
struct timerd_dlq *codec_dlq_copy(const Timerd__DlqListReply *m);

/* A bump allocator over one malloc'ed block: a size pass (base NULL), then a copy pass. */
struct codec_blk {
	char *base;
	size_t off;
};

void *codec_blk_take(struct codec_blk *b, size_t n);
const char *codec_blk_str(struct codec_blk *b, const char *s);
const void *codec_blk_mem(struct codec_blk *b, const void *s, size_t n);

/* Bytes the framed request takes. */
size_t codec_size(const struct codec_req *q);

/* Writes the length prefix and the request into dst (codec_size bytes). */
void codec_pack(const struct codec_req *q, uint8_t *dst);

/* The Response body that answers a request body. */
Timerd__Response__BodyCase codec_reply_case(Timerd__Request__BodyCase c);

/*
 * Checks a reply against the request it answers: TIMERD_OK, the server's
 * error code (message copied into msg), or TIMERD_EPROTO.
 */
int codec_check(const Timerd__Response *m, Timerd__Request__BodyCase asked, char *msg, size_t len);

/* Copies out results (malloc'ed single blocks; NULL if out of memory). */
void codec_arm_result(const Timerd__ArmReply *m, struct timerd_arm_result *r);
struct timerd_timer *codec_timer_copy(const Timerd__Timer *m);
struct timerd_list *codec_list_copy(const Timerd__ListReply *m);
struct timerd_stats *codec_stats_copy(const Timerd__StatsReply *m);
struct timerd_probes *codec_probes_copy(const Timerd__ProbeListReply *m);

/* Fills ev with views into an event message (valid while m is). */
int codec_event_view(const Timerd__Response *m, struct timerd_event *ev);

/* Copies an event message into one allocation. */
struct timerd_event *codec_event_copy(const Timerd__Response *m);

/* Formats into buf (never NULL-terminated short). */
void codec_msg(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* CLOCK_MONOTONIC now, ns. */
int64_t codec_now(void);

struct timerd_options;
struct timerd_error;

/*
 * Opens a socket to addr (NULL or "": the default address) within the
 * options' timeout, with TLS for tls:// or opt->tls (*ssl: the SSL, else
 * NULL); the fd, or -1 with err filled (TIMERD_ECONNECT).
 */
int codec_open(const char *addr, const struct timerd_options *opt, struct timerd_error *err, void **ssl);

/* --- tls.c --- */

/* TLS handshake on blocking fd to host (where names it in messages); the SSL, or NULL with err. */
void *ctls_connect(int fd, const char *host, const char *where, const struct timerd_tls *o, int timeout_ms,
		   struct timerd_error *err);

/* Describes a failed SSL call (e: its OpenSSL error, 0: the queue's) in buf; clears the queue. */
void ctls_describe(void *ssl, const char *where, unsigned long e, char *buf, size_t len);

/* Frees an SSL from ctls_connect. */
void ctls_free(void *ssl);

#endif /* TIMERD_CLIENT_INTERNAL_H */
