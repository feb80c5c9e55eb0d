/*
 * srv.h -- the timerd daemon's insides: the server, its loop threads and
 * their connections. Shared by the server's .c files only.
 *
 * Threads and what they own:
 *
 *	main       the listeners (accept), signals; hands each new connection
 *	           to the loop thread with the fewest (srv_accept)
 *	loop i     an event_base and its connections: reads frames, calls the
 *	           engine, writes replies; delivers fires queued to it
 *	engine     dispatcher + delivery workers; a fire runs fire_deliver(),
 *	           which encodes the event once and queues it to each loop that
 *	           has a subscriber (per-loop llist + eventfd wake-up)
 *	stats      merges counters, writes stats.db
 *	group      consumer groups' timeouts, backoffs and hand-outs (group-srv.h)
 *
 * A bufferevent is only ever touched by the loop thread that owns it.
 *
 * Startup:   srv_create() -> srv_run() (returns on SIGTERM/SIGINT) -> srv_destroy()
 */
#ifndef TIMERD_SRV_H
#define TIMERD_SRV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "compiler.h"
#include "ctr.h"
#include "engine.h"
#include "hist.h"
#include "llist.h"
#include "proto/arena.h"
#include "proto/timerd.pb-c.h"
#include "server/journal.h"
#include "server/settings.h"
#include "server/hmap.h"
#include "server/notify.h"
#include "server/topic-metrics.h"

struct bufferevent;
struct event;
struct event_base;
struct evconnlistener;
struct journal;
struct journal_batch;
struct http_loop;
struct http_sse;
struct probe_mgr;
struct quota_use;
struct stats_thread;
struct group_srv;
struct group_sub;
struct auth;
struct auth_job;
struct ident;
struct ident_table;

/* Engine flag: push the fires to the arming connection (engine owner = its handle). */
#define SRV_FLAG_NOTIFY 0x1u

/*
 * Connection handles (engine owner values): loop index (8 bits), slot
 * generation (32 bits), slot (24 bits). A handle whose connection closed
 * never matches again (the generation moved on).
 */
#define SRV_HANDLE_LOOP_SHIFT 56
#define SRV_HANDLE_GEN_SHIFT 24
#define SRV_HANDLE_SLOT_MASK ((1u << SRV_HANDLE_GEN_SHIFT) - 1)

/*
 * Counters a loop thread bumps (single writer: relaxed load + store) and the
 * stats path reads (relaxed loads). Names match ServerStats fields.
 */
#define SRV_LOOP_COUNTERS(X)						\
	X(bytes_in) X(bytes_out) X(frames_in)				\
	X(req_hello) X(req_arm) X(req_cancel) X(req_get) X(req_list)	\
	X(req_watch) X(req_unwatch) X(req_stats) X(req_ping) X(req_probe) \
	X(errors) X(err_invalid) X(err_not_found) X(err_full)		\
	X(err_malformed) X(err_unknown_op) X(err_frame_too_large)	\
	X(err_payload_too_large) X(err_too_many_inflight)		\
	X(err_permission) X(err_no_memory) X(err_system) X(err_busy) X(err_storage)	\
	X(err_other)							\
	X(auth_ok) X(auth_failures) X(auth_throttled) X(err_unauthenticated) X(auth_kdf_runs) X(ident_closes) \
	X(fires_sent) X(fires_dropped) X(fires_orphaned) X(slow_closes)	\
	X(handshake_timeouts) X(auth_timeouts) X(err_rate_limited) X(quota_refusals)

struct loop_counters {
#define SRV_CTR_FIELD(n) _Atomic uint64_t n;
	SRV_LOOP_COUNTERS(SRV_CTR_FIELD)
#undef SRV_CTR_FIELD
};

/* A fire encoded once and queued to every loop with a subscriber. */
struct fire_msg {
	_Atomic uint32_t refs;		/* loops that still have to deliver it */
	uint32_t topiclen;
	uint32_t framelen;
	uint32_t memsize;		/* bytes it takes, counted in *mem (max-memory) */
	_Atomic int64_t *mem;		/* srv.fire_mem */
	bool notify;			/* the arming connection asked for it */
	uint64_t target;		/* a group delivery: only to this connection handle (0: watchers) */
	uint64_t owner;			/* its handle */
	int64_t deadline;		/* CLOCK_MONOTONIC ns */
	const char *topic;		/* points into data */
	const char *key;		/* the timer's key, NUL-terminated, into data ("" if none; not set with target) */
	const char *label;		/* its owner (the identity that armed it), NUL-terminated, into data ("" if none) */
	uint32_t keylen;
	const uint8_t *frame;		/* length prefix + Response, into data */
	struct fire_node {
		struct llist_node node;
		struct fire_msg *msg;
	} nodes[];			/* one per target loop, then data */
};

/*
 * The limits a loop thread reads on its requests and connections. Each loop
 * owns a copy (struct loop lim); a reload hands a new one over in a
 * LOOP_MSG_LIMITS message, applied on the loop thread between callbacks, so
 * no request sees half of a change and no atomics are needed (the inbox's
 * llist push/take orders the copy). Settings that later become reloadable
 * on the loops (users, TLS, groups) join here.
 */
struct srv_limits {
	uint32_t max_inflight;
	uint32_t max_payload;
	uint32_t max_payload_hwm;	/* the largest max-payload in force since start: what timers may hold */
	uint64_t max_output;
};

/*
 * Who is at the other end of a connection, as far as the kernel can say:
 * SO_PEERCRED on the Unix socket, NETLINK_SOCK_DIAG for a TCP peer on this
 * host (server/peer.c). An authenticated identity (a later issue 12
 * session) hangs off this record.
 */
struct srv_peer {
	enum { SRV_PEER_UNIX, SRV_PEER_TCP } kind;
	bool cred;			/* uid (and for Unix gid, pid) known */
	uid_t uid;
	gid_t gid;
	pid_t pid;
};

/* A control message to a loop thread. */
struct loop_msg {
	struct llist_node node;
	enum { LOOP_MSG_CONN, LOOP_MSG_STOP, LOOP_MSG_LIMITS, LOOP_MSG_AUTH, LOOP_MSG_USERS, LOOP_MSG_PRIV,
	       LOOP_MSG_CALL } type;
	struct srv_limits lim;		/* LOOP_MSG_LIMITS */
	void *priv;			/* LOOP_MSG_PRIV: priv_loop_step's argument (owned by priv_drop) */
	int priv_phase;			/* LOOP_MSG_PRIV: enum priv_phase */
	/* LOOP_MSG_CALL: run on the loop thread; it owns m (also when the loop is being freed: l->stopping) */
	void (*call)(struct loop *l, struct loop_msg *m);
	int fd;
	bool is_unix;
	bool peer_cred;			/* uid/pid valid (SO_PEERCRED) */
	uid_t uid;
	pid_t pid;
	struct srv_peer who;
	char addr_key[48];		/* max-connections-per-address key ("" for Unix) */
	char peer[64];			/* for logs */
	void *ssl;			/* SSL for a TLS listener's connection (tls.c), NULL: plaintext */
	struct auth_job *auth;		/* LOOP_MSG_AUTH: a checked attempt (auth.c) */
	struct ident_table *users;	/* LOOP_MSG_USERS: a reference to the new users table */
};

/* Connections watching one topic in one loop. */
struct watch_list {
	struct conn **v;
	uint32_t n, cap;
};

struct loop {
	struct srv *srv;
	unsigned idx;
	pthread_t thread;
	bool started;			/* thread is running (join it) */
	struct event_base *base;
	int wake_fd;			/* eventfd: producers write when a list went non-empty */
	struct event *wake_ev;
	struct event *fires_ev;		/* activated by the loop's own posts to fires: drains them this turn */
	struct event *stop_ev;		/* shutdown deadline */
	struct loop_msg stop_msg;	/* posted once by srv_run; not freed */
	/* producers: the main thread (msgs), engine workers (fires) */
	struct llist_head msgs cacheline_aligned;
	struct llist_head fires;
	_Atomic uint64_t fires_queued;	/* for the max-fire-queue bound */
	_Atomic uint64_t fires_bytes;	/* their frames' bytes, for max-fire-queue-bytes */
	_Atomic uint32_t nconns cacheline_aligned;	/* read by the acceptor */
	_Atomic uint32_t nhandoff;	/* connections the acceptor posted, not yet opened (srv_pick_loop) */
	/* owned by the loop thread */
	struct srv_limits lim cacheline_aligned;	/* from s->cfg at start, then from reloads */
	struct conn **slots;		/* NULL: free */
	uint32_t *gens;			/* bumped when a slot is freed */
	uint32_t *free_stack;		/* free slot numbers */
	uint32_t nslots, nfree;
	struct hmap watchers;		/* topic -> struct watch_list */
	struct watch_list all;		/* connections watching every topic */
	uint64_t stamp;			/* per fire: dedups delivery to a connection */
	bool stopping;			/* exits once its last connection is freed */
	struct conn *dead;		/* CONN_DEAD connections, freed by reap_ev */
	struct event *reap_ev;		/* activated when dead becomes non-empty */
	struct arena arena;		/* request decoding */
	struct arena reply_arena;	/* reply building */
	struct evbuffer *batch;		/* replies to the frames conn_process is handling */
	struct conn *evq_conns;		/* connections with fire events queued in this fire round (conn_flush_events) */
	/* durability (server/journal.c) */
	struct journal_batch *jbatch;	/* changes of the requests being handled */
	struct conn *holders;		/* connections with output held for the journal */
	uint64_t jseq;			/* batches posted so far */
	_Atomic uint64_t jdurable cacheline_aligned;	/* newest batch committed (journal thread) */
	struct loop_counters ctr cacheline_aligned;
	struct hist late;		/* deadline -> fire event queued to a connection */
	struct http_loop *http;		/* this loop's evhttp (server/http.c); NULL without --http */
	struct ident_table *users;	/* a reference to the users table in force here, NULL: no users file (auth.c) */
};

/* Topic registry shared by all loops: which loops have watchers of a topic. */
struct watch_reg {
	pthread_rwlock_t lock;
	struct hmap topics;		/* topic -> struct watch_topic */
	uint32_t all[SETTINGS_MAX_THREADS]; /* all-topic watchers per loop (under lock) */
	_Atomic uint64_t all_mask;	/* loops with all-topic watchers */
	_Atomic uint64_t total;		/* watches of any kind; 0 = skip the lock */
};

/*
 * A connection's lifecycle. Every change goes through conn_set_state(),
 * which aborts on a transition not in this table:
 *
 *	from            to              when
 *	CONN_OPEN       CONN_PEER_EOF   the peer shut down its side (EOF read)
 *	CONN_OPEN       CONN_CLOSING    a fatal error (Error event sent), out of memory, shutdown
 *	CONN_OPEN       CONN_DEAD       a socket error; the loop is torn down (loop_destroy)
 *	CONN_PEER_EOF   CONN_CLOSING    everything it sent is answered, or as CONN_OPEN
 *	CONN_PEER_EOF   CONN_DEAD       as CONN_OPEN
 *	CONN_CLOSING    CONN_DEAD       its output is flushed, the flush timed out, as CONN_OPEN
 *	CONN_DEAD       (none)          freed by the loop's reap event once the running callback returns
 *
 * Reading happens in CONN_OPEN only (CONN_PEER_EOF handles what is
 * already buffered); requests are handled and fire events written in
 * CONN_OPEN and CONN_PEER_EOF only (entering CONN_CLOSING drops the
 * watches). Marking a connection CONN_DEAD (conn_kill) turns off its
 * bufferevent's callbacks and events, drops its watches and queues it on
 * loop->dead; loop_conn() no longer finds it. Only the reaper frees it,
 * from its own event callback, so no callback ever holds a pointer to a
 * freed connection.
 */
enum conn_state {
	CONN_OPEN,
	CONN_PEER_EOF,		/* half-closed: answer what was sent, then close */
	CONN_CLOSING,		/* not reading, no fires: flushing its output */
	CONN_DEAD,		/* queued for free; nothing reaches it any more */
};

/*
 * One client connection; owned by its loop thread. Besides its state it
 * keeps three flags that are not lifecycle: read_paused (backpressure,
 * set and cleared in CONN_OPEN and CONN_PEER_EOF alike), waits_fire
 * (it armed a notify timer, so idle-timeout spares it) and batching (replies go to loop->batch for the length of one
 * conn_process call); and watch_all, which is a watch (watch.c), not a
 * state.
 */
struct conn {
	struct loop *loop;
	struct bufferevent *bev;
	uint64_t handle;		/* engine owner value for notify timers */
	uint32_t slot;
	enum conn_state state;
	bool is_unix;
	bool peer_root;			/* Unix peer with uid 0 (SO_PEERCRED) */
	bool read_paused;		/* output over max-output: not reading */
	bool waits_fire;		/* armed a notify timer: idle-timeout does not apply */
	bool batching;			/* replies go to loop->batch (conn_process) */
	bool watch_all;
	uid_t uid;
	pid_t pid;
	struct srv_peer who;		/* the peer's credentials (loop_msg's) */
	struct event *timer;		/* frame-timeout and idle-timeout (conn_timer_update) */
	int64_t timer_at;		/* when it fires (coarse monotonic ns), 0: not armed */
	int64_t frame_start_ns;		/* first byte of the partial frame in the input, 0: none */
	int64_t active_ns;		/* last request (TCP) */
	int64_t admit_by_ns;		/* auth-timeout: TLS handshake and Auth done by then (0: no deadline) */
	struct quota_use *quota;	/* the identity use c is counted under (quota.c), NULL: none */
	bool rate_wait;			/* RATE_LIMITED: nothing more is read or handled until rate_ev */
	struct event *rate_ev;		/* ends the rate pause (conn_rate_pause), NULL until needed */
	uint32_t quota_watches;		/* of its watches, how many that use counts */
	char addr_key[48];		/* max-connections-per-address key ("" for Unix) */
	uint64_t out_total;		/* bytes ever queued to the output */
	uint64_t *reply_end;		/* ring: out_total at the end of each unsent reply */
	uint32_t rhead, rn, rcap;
	uint64_t dropped;		/* fire events dropped since the last notice */
	uint64_t stamp;			/* the loop's fire stamp last delivered */
	char **watches;			/* topics watched */
	uint32_t nwatches, wcap;
	struct conn *next_dead;		/* loop->dead list (CONN_DEAD) */
	/* durability: output held until the journal commits (journal.h) */
	struct evbuffer *held;		/* bytes after the first reply still waiting; NULL until needed */
	uint64_t held_base;		/* held-stream offset of held's first byte */
	uint64_t held_dlv_end;		/* held-stream offset where the last delivery put in held ends */
	struct conn_hold {
		uint64_t off;		/* held-stream offset where the waiting reply starts */
		uint64_t seq;		/* journal batch it waits for */
	} *holds;			/* ring of replies waiting, oldest first */
	uint32_t hhead, hn, hcap;
	struct conn *hold_prev, *hold_next;	/* loop->holders while hn > 0 or held is not empty */
	struct evbuffer *evq;		/* fire events of the running fire round (conn_push_event); NULL until needed */
	struct conn *evq_next;		/* on loop->evq_conns while evq holds bytes */
	bool evq_linked;		/* on loop->evq_conns (linked after an event was added to evq) */
	bool holding;			/* on loop->holders */
	struct http_sse *sse;		/* an HTTP event stream (server/http-watch.c), not a socket: no bev, no slot */
	char peer[64];			/* "pid 123 uid 0" or "127.0.0.1:5555" */
	char client[48];		/* Hello.client */
	bool tls;			/* bev is a bufferevent_openssl (server/tls.c) */
	bool tls_up;			/* its handshake completed */
	uint64_t frames_seen;		/* frames read (a TLS ClientHello as the first is a mismatch) */
	struct group_sub *gsubs;	/* consumer-group subscriptions (server/group-srv.c) */
	uint64_t gsub_credit;		/* the sum of their credits: deliveries in flight to c at most (conn_event_out) */
	/* identity (auth.c): with a users file, NULL until bound; without one, unused */
	const struct ident *ident;	/* points into loop->users */
	bool auth_wait;			/* an Auth is being checked: nothing more is read or handled */
	struct auth_job *auth_job;	/* that attempt while it waits out its address's delay */
	struct event *auth_ev;		/* the delay */
};

struct srv {
	/*
	 * Written only by the main thread: at start, and by a reload (reload.c)
	 * for the settings it changes, which no other thread reads from here
	 * (loops read their struct srv_limits copy; the log its own atomics).
	 */
	struct srv_config *cfg;
	struct engine *engine;
	struct loop *loops;
	unsigned nloops;
	struct event_base *base;	/* main thread */
	struct evconnlistener *unix_l, *tcp_l;
	struct event *sig_term, *sig_int, *sig_hup, *accept_retry;
	struct event *engine_go;	/* starts a deferred engine (recovery grace) */
	bool engine_deferred;		/* restored timers were late: the engine starts after the grace */
	struct watch_reg watch;
	struct stats_thread *stats;
	struct journal *journal;	/* NULL: --memory-only */
	struct group_srv *groups;	/* consumer groups (server/group-srv.h) */
	struct srv_webhooks *webhooks;	/* groups' HTTP callbacks (server/srv-webhook.h); NULL: none */
	uint64_t boot;			/* store_boot_hash() of this boot */
	char store_path[4096];		/* state-dir/timers.db ("" if memory-only) */
	char stats_path[4096];		/* "" if stats are off; set before any thread starts */
	struct probe_mgr *probes;	/* NULL: probes unavailable (probe_err says why) */
	char probe_err[512];
	pthread_mutex_t probe_lock;	/* serialises probe attach/detach across loops */
	bool probes_uncapable;		/* priv_drop kept no capability for probes (no --probe): attaches are refused */
	int64_t start_ns;
	char *socket_path;		/* bound by us, unlinked at exit */
	int sock_lock_fd;		/* flock on socket_path.lock (-1: none) */
	gid_t socket_gid;		/* the Unix socket's group (peer_unix_rule) */
	pthread_mutex_t quota_lock;	/* quota_uses (quota.c) */
	struct hmap quota_uses;		/* identity name -> struct quota_use: per-identity quota use */
	uint32_t quota_naccts;		/* engine accounts given to uses so far (quota_lock) */
	pthread_mutex_t peer_lock;	/* peer_counts: acceptor increments, loops decrement */
	struct hmap peer_counts;	/* addr_key -> open TCP connections (uintptr_t) */
	_Atomic bool stopping;
	_Atomic uint64_t conns;		/* open now */
	_Atomic uint64_t conns_accepted, conns_rejected, queue_drops;
	struct topic_metrics_ref topic_metrics;	/* metrics-topics' fire counters (fire_deliver; /metrics; reload) */
	/* HTTP (server/http.c) */
	int http_fd;			/* --http's listening socket, -1: none (each loop's evhttp has a dup) */
	_Atomic uint64_t http_conns;	/* HTTP connections counted now */
	_Atomic uint64_t http_accepted, http_rejected, http_requests;
	_Atomic uint64_t http_plain_on_tls;	/* plaintext requests answered 400 on the HTTPS port */
	_Atomic uint64_t http_held;	/* replies that waited for a journal commit */
	_Atomic unsigned http_load[SETTINGS_MAX_THREADS];	/* HTTP connections per loop (http.c's accept balance) */
	_Atomic uint64_t db_writes, db_errors;
	_Atomic uint64_t watchers;
	struct srv_limits lim_sent;	/* main thread: the limits last handed to the loops */
	struct notify notify;		/* systemd: sd_notify, watchdog, adopted sockets (notify.c) */
	char *test_stall_topic;		/* $TIMERD_TEST_STALL_TOPIC: fires of it stall their thread (tests only) */
	struct ssl_ctx_st *tls_ctx;	/* main thread: new TCP connections' TLS context (tls.c), NULL: plaintext */
	_Atomic int64_t fire_mem;	/* the server's bytes in max-memory: encoded fires not yet freed, watches
					 * (watch.c), decode arenas past their kept chunk (rpc_handle) */
	struct ident_table *users;	/* main thread: the users table in force (auth.c), NULL: no --users */
	struct auth *auth;		/* the Auth worker */
	_Atomic bool idents;		/* a users file is in force (peer_admit: the identity decides, not the socket's mode) */
	void (*ready)(void *arg);	/* called once listening (daemon start-up handshake) */
	void *ready_arg;
};

/* --- srv.c --- */

/* Creates the engine, loop threads and listeners; 0 or -1 with err. */
int srv_create(struct srv_config *cfg, struct srv **out, char *err, size_t errlen);

/* Runs the main thread's loop until SIGTERM/SIGINT, then shuts down gracefully. */
int srv_run(struct srv *s);

/* Frees everything (after srv_run returned, or after a failed start). */
void srv_destroy(struct srv *s);

/* Creates directory dir (mode) and its missing parents (0755); 0 or -1 with errno. */
int srv_mkdirs(const char *dir, mode_t mode);

/* --- reload.c --- */

/* SIGHUP: re-reads the config file and applies what can change at run time (main thread). */
void reload_config(struct srv *s);

/* The limits of s->cfg, for the loops. */
void reload_limits(const struct srv *s, struct srv_limits *lim);
/*
 * Creates directory dir (mode) if missing, opens it and checks nobody else
 * can replace its files (strict: ours and 0700, tmux's rule); fd or -1 with err.
 */
int srv_dir_open(const char *dir, mode_t mode, bool strict, const char *what, char *err, size_t errlen);

/* Creates and checks the socket's directory (before the pid file beside it); an fd to close, or -1 with err. */
int srv_socket_dir(const struct srv_config *c, char *err, size_t errlen);

/* Gives the socket's directory to uid:gid if this timerd created it (priv.c: it can then remove its socket at exit). */
void srv_socket_dir_give(uid_t uid, gid_t gid);

/* Creates state file path 0600 (no symlink followed) and tightens its -wal/-shm; 0 or -1 with err. */
int srv_state_file(const char *path, char *err, size_t errlen);

/* Counts one more connection (RPC TCP or HTTP) under max-connections-per-address key; false (nothing counted) at its cap ("" counts nothing). */
bool srv_peer_take(struct srv *s, const char *key);

/* A connection with this max-connections-per-address key closed ("" for none). */
void srv_peer_release(struct srv *s, const char *key);

/* --- loop.c --- */

/* Sets up loop i without its thread (loop_start, or a caller that runs l->base itself); 0 or -1 with err. */
int loop_init(struct srv *s, struct loop *l, unsigned idx, char *err, size_t errlen);

/* Starts loop thread i; 0 or -1 with err. */
int loop_start(struct srv *s, struct loop *l, unsigned idx, char *err, size_t errlen);

/* Queues a control message to l and wakes it. */
void loop_post(struct loop *l, struct loop_msg *m);

/* Wakes l because the journal committed a batch of it (journal thread). */
void loop_wake_journal(struct loop *l);

/* Queues a fire node to l and wakes it (called from engine threads); false if l's queue was full (n dropped). */
bool loop_post_fire(struct loop *l, struct fire_node *n);

/* Applies new limits on the loop thread (LOOP_MSG_LIMITS): connections' watermarks too. */
void loop_set_limits(struct loop *l, const struct srv_limits *lim);

/* Waits for the thread to exit (after a stop message). */
void loop_join(struct loop *l);

/* Joins the thread and frees the loop (its connections and queued fires). */
void loop_destroy(struct loop *l);

/* The connection a handle names in this loop, or NULL if it is gone or CONN_DEAD. */
struct conn *loop_conn(struct loop *l, uint64_t handle);

/* Registers c in a free slot; sets c->handle. 0 or -1. */
int loop_conn_add(struct loop *l, struct conn *c);

/* Frees c's slot (its handle becomes stale). */
void loop_conn_del(struct loop *l, struct conn *c);

/* Queues c (CONN_DEAD) to be freed by the reaper once the running callback returns. */
void loop_defer_free(struct loop *l, struct conn *c);

/* --- conn.c --- */

/* Creates a connection for an accepted fd on loop l (loop thread). */
void conn_open(struct loop *l, const struct loop_msg *m);

/*
 * Queues a framed fire event to c during the loop's fire round
 * (loop_run_fires), dropping it if c's output is full. delivery: a
 * consumer group's delivery, which does not wait behind replies held for
 * the journal (conn_hold) within the bounds conn.c's conn_event_out
 * names; a watcher's fire does.
 */
void conn_push_event(struct conn *c, const uint8_t *frame, size_t len, bool delivery);

/* Ends l's fire round: writes the events conn_push_event queued (loop thread). */
void conn_flush_events(struct loop *l);

/* Writes a Response to c; replies (not events) count as in flight until sent. */
void conn_send(struct conn *c, const Timerd__Response *rs, bool reply);

/*
 * Holds c's output from the next reply on until journal batch seq is
 * committed: that reply and everything queued to c after it (replies,
 * watchers' fire events) wait, in order; what was queued before leaves as
 * usual. A group delivery does not wait (conn_push_event).
 */
void conn_hold(struct conn *c, uint64_t seq);

/* Sends the held output of l's connections that the journal committed (loop thread). */
void conn_release_durable(struct loop *l);

/* True if c may take another request (fewer than max-inflight replies unsent). */
bool conn_inflight_ok(struct conn *c);

/* Sends an Error event, then closes c once it is flushed (reason is logged). */
void conn_fatal(struct conn *c, Timerd__ErrorCode code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Sends a Notice SHUTDOWN, stops reading, flushes c's output, then closes it. */
void conn_shutdown(struct conn *c);

/* Counts c under its identity (quota.c); closes it TOO_MANY_CONNECTIONS if that identity has all it may; false then. */
bool conn_quota_sync(struct conn *c);

/* c's identity is over its arms-per-s: stops reading and handling c's frames for ms (they wait, unrefused). */
void conn_rate_pause(struct conn *c, uint32_t ms);

/* An Auth of c was settled: reads and handles its waiting frames again. */
void conn_auth_resume(struct conn *c);

/* Marks c CONN_DEAD: no callback or fire reaches it any more; the loop's reaper frees it. */
void conn_kill(struct conn *c);

/* Frees a CONN_DEAD connection; only the loop's reaper calls it. */
void conn_free(struct conn *c);

/* --- http-watch.c --- */

/* conn_push_event for an HTTP event stream: the fire as an SSE event, or the stream ends if its reader is too slow. */
void http_sse_push(struct conn *c, const uint8_t *frame, size_t len);
/* --- tls.c --- */

/* Start-up: builds s->tls_ctx if tls-cert is set; 0 or -1 with err. */
int tls_start(struct srv *s, char *err, size_t errlen);

/* --check-config: the TLS context tls_start would build, built and dropped; 0 or -1 with the same err. */
int tls_check(const struct srv_config *c, char *err, size_t errlen);

/* SIGHUP: re-reads certificate, key and CAs for new connections; false (logged) keeps the old ones. */
bool tls_reload(struct srv *s);

/* A new connection's SSL (an SSL *), NULL when plaintext or out of memory. */
void *tls_conn_new(struct srv *s);

/* Frees an SSL that no connection took. */
void tls_conn_free(void *ssl);

/* Frees the context at shutdown. */
void tls_stop(struct srv *s);

/* The last queued OpenSSL error as text in buf (the queue is cleared). */
const char *tls_errstr(char *buf, size_t len);

/* --- peer.c --- */

/* Fills p for an accepted TCP connection fd: a local peer's uid by sock_diag, or remote. */
void peer_tcp(struct srv_peer *p, int fd);

/* The max-connections-per-address key of TCP peer p whose numeric address is host: "uid N" if local, else host. */
void peer_addr_key(const struct srv_peer *p, const char *host, char *key, size_t len);

/* Fills p and its max-connections-per-address key (len bytes) for an HTTP connection's fd (peer_tcp, peer_addr_key). */
void peer_http(struct srv_peer *p, int fd, char *key, size_t len);

/* True if uid may connect to the Unix socket by its mode and group. */
bool peer_unix_rule(const struct srv *s, uid_t uid);

/* Whether peer p may use timerd (TCP: the Unix socket's rule for a local uid); false with why in msg. */
bool peer_admit(const struct srv *s, const struct srv_peer *p, char *msg, size_t len);

/* --- errmap.c --- */

/* The wire code for a TD_* code (TD_OK: OK); SYSTEM for a value outside the table. */
Timerd__ErrorCode errmap_wire(int td);

/* The counter of ctr that counts an error reply with this wire code. */
_Atomic uint64_t *errmap_counter(struct loop_counters *ctr, Timerd__ErrorCode code);

/* --- rpc.c --- */

/* Handles one request frame of n bytes from c. */
void rpc_handle(struct conn *c, const uint8_t *p, uint32_t n);

/* What rpc_run hands back: the Response (valid during the call only) and the journal batch it waits for (0: none). */
typedef void (*rpc_done_fn)(void *arg, const Timerd__Response *rs, uint64_t hold);

/*
 * Runs rq (which may live in l->arena) through the RPC's own validation
 * and handlers with no connection (c NULL: notify, watch and probes are
 * refused) or an HTTP event stream's (c->sse: watch works), calls done,
 * then resets l's arenas. A durable change is in l's journal
 * batch: the caller posts it (journal_flush) and answers once
 * journal_durable(l) >= hold (loop thread).
 */
void rpc_run(struct loop *l, struct conn *c, const Timerd__Request *rq, rpc_done_fn done, void *arg);

/* rpc_run as identity id (an HTTP request's Bearer identity; c's own is ignored). */
void rpc_run_as(struct loop *l, struct conn *c, const struct ident *id, const Timerd__Request *rq, rpc_done_fn done,
		void *arg);
/*
 * rpc_run_as for a consumer of groups that is not a connection (an HTTP long
 * poll, server/http-group.c): Subscribe subscribes gc, Ack and Nack settle
 * the delivery in flight to gc, with the RPC's checks and errors.
 */
/* The identity HTTP event stream c (c->sse set) was authenticated as; NULL without a users file (http-watch.c). */
const struct ident *http_watch_ident(const struct conn *c);

struct group_consumer;
void rpc_run_consumer(struct loop *l, struct conn *c, const struct ident *id, struct group_consumer *gc,
		      const Timerd__Request *rq, rpc_done_fn done, void *arg);

/* --- watch.c --- */

/* Initialises an empty registry; 0 or -1. */
int watch_reg_init(struct watch_reg *r);

/* Frees the registry (no thread uses it any more). */
void watch_reg_destroy(struct watch_reg *r);

/* Bitmask of loops that have watchers of topic or of every topic. */
uint64_t watch_reg_targets(struct watch_reg *r, const char *topic, uint32_t len);

/* c watches topic (NULL: every topic); 0, TD_ENOMEM or TD_ETOOMANY (max-watches). */
int watch_add(struct conn *c, const char *topic, uint32_t len);

/* c stops watching topic (NULL: every topic); 0 or TD_ENOENT. */
int watch_del(struct conn *c, const char *topic, uint32_t len);

/* Drops every watch of c (it is closing). */
void watch_drop_all(struct conn *c);

/* The watchers of topic in loop l, or NULL. */
struct watch_list *watch_loop_list(struct loop *l, const char *topic, uint32_t len);

/* --- fire.c --- */

/* The engine's on_fire callback (arg: struct srv). */
void fire_deliver(void *arg, const struct engine_fire *f);

/* Delivers a queued fire on loop l (loop thread); frees it when the last loop is done. */
void fire_run(struct loop *l, struct fire_msg *m);

/* Frees a queued fire without delivering it (shutdown). */
void fire_discard(struct fire_msg *m);

/* --- stats.c --- */

/* Fills a StatsReply (sub-messages in *bufs) from the engine, loops and probes. */
struct stats_bufs {
	Timerd__StatsReply reply;
	Timerd__EngineStats engine;
	Timerd__ServerStats server;
	Timerd__ProbeStats probes;
	Timerd__StoreStats store;
	Timerd__DeliveryStats delivery;
	char fsync[32];
	char store_error[JOURNAL_ERR_LEN];
	struct hist_snap late;		/* merged delivery lateness, cumulative */
	char version[32];
};
void stats_collect(struct srv *s, struct stats_bufs *b);

/* Starts the stats thread (stats.db writer); 0 or -1 with err (fatal only for bad settings). */
int stats_start(struct srv *s, char *err, size_t errlen);

/* Writes a final row, closes stats.db, joins the thread. */
void stats_stop(struct srv *s);

/* The path stats.db is written to ("" if stats are off). */
const char *stats_db_path(struct srv *s);

/* --- srv-probes.c --- */

/* Starts the probe manager and attaches --probe specs; -1 (err set) only for a bad spec. */
int srv_probes_start(struct srv *s, char *err, size_t errlen);

/* Detaches everything. */
void srv_probes_stop(struct srv *s);

/* Fills ProbeStats (available = false without a probe manager). */
void srv_probes_stats(struct srv *s, Timerd__ProbeStats *ps);

/* Attaches a spec; 0, or an ErrorCode (INVALID, SYSTEM, ...) with a precise err. */
int srv_probes_attach(struct srv *s, const char *spec, uint32_t *id, char *err, size_t errlen);

/* Detaches probe id; 0 or -1 if there is none. */
int srv_probes_detach(struct srv *s, uint32_t id);

/* Fills a ProbeListReply (allocated in a); 0 or -1 if out of memory. */
int srv_probes_list(struct srv *s, Timerd__ProbeListReply *r, struct arena *a);

/* --- http-page.c --- */

/* Adds the status page's HTTP routes: GET /, /static/{name}, /v1/status, /v1/history (http.c, once). */
void http_page_register(void);
/* srv-cal.c: SIGHUP: re-reads the tz database and has the engine re-place the calendar timers. */
void srv_cal_reload(struct srv *s);

#endif /* TIMERD_SRV_H */
