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

struct bufferevent;
struct event;
struct event_base;
struct evconnlistener;
struct journal;
struct journal_batch;
struct probe_mgr;
struct stats_thread;

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
	X(fires_sent) X(fires_dropped) X(fires_orphaned) X(slow_closes)

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
	bool notify;			/* the arming connection asked for it */
	uint64_t owner;			/* its handle */
	int64_t deadline;		/* CLOCK_MONOTONIC ns */
	const char *topic;		/* points into data */
	const uint8_t *frame;		/* length prefix + Response, into data */
	struct fire_node {
		struct llist_node node;
		struct fire_msg *msg;
	} nodes[];			/* one per target loop, then data */
};

/* A control message to a loop thread. */
struct loop_msg {
	struct llist_node node;
	enum { LOOP_MSG_CONN, LOOP_MSG_STOP } type;
	int fd;
	bool is_unix;
	bool peer_cred;			/* uid/pid valid (SO_PEERCRED) */
	uid_t uid;
	pid_t pid;
	char peer[64];			/* for logs */
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
	struct event *stop_ev;		/* shutdown deadline */
	struct loop_msg stop_msg;	/* posted once by srv_run; not freed */
	/* producers: the main thread (msgs), engine workers (fires) */
	struct llist_head msgs cacheline_aligned;
	struct llist_head fires;
	_Atomic uint64_t fires_queued;	/* for the max-fire-queue bound */
	_Atomic uint32_t nconns cacheline_aligned;	/* read by the acceptor */
	/* owned by the loop thread */
	struct conn **slots cacheline_aligned;	/* NULL: free */
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
	/* durability (server/journal.c) */
	struct journal_batch *jbatch;	/* changes of the requests being handled */
	struct conn *holders;		/* connections with output held for the journal */
	uint64_t jseq;			/* batches posted so far */
	_Atomic uint64_t jdurable cacheline_aligned;	/* newest batch committed (journal thread) */
	struct loop_counters ctr cacheline_aligned;
	struct hist late;		/* deadline -> fire event queued to a connection */
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
 * set and cleared in CONN_OPEN and CONN_PEER_EOF alike), stall_armed
 * (whether the read timeout is set now, so it is not re-armed per read)
 * and batching (replies go to loop->batch for the length of one
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
	bool stall_armed;		/* the read timeout watches a partial frame */
	bool batching;			/* replies go to loop->batch (conn_process) */
	bool watch_all;
	uid_t uid;
	pid_t pid;
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
	struct conn_hold {
		uint64_t off;		/* held-stream offset where the waiting reply starts */
		uint64_t seq;		/* journal batch it waits for */
	} *holds;			/* ring of replies waiting, oldest first */
	uint32_t hhead, hn, hcap;
	struct conn *hold_prev, *hold_next;	/* loop->holders while hn > 0 or held is not empty */
	bool holding;			/* on loop->holders */
	char peer[64];			/* "pid 123 uid 0" or "127.0.0.1:5555" */
	char client[48];		/* Hello.client */
};

struct srv {
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
	uint64_t boot;			/* store_boot_hash() of this boot */
	char store_path[4096];		/* state-dir/timers.db ("" if memory-only) */
	char stats_path[4096];		/* "" if stats are off; set before any thread starts */
	struct probe_mgr *probes;	/* NULL: probes unavailable (probe_err says why) */
	char probe_err[512];
	pthread_mutex_t probe_lock;	/* serialises probe attach/detach across loops */
	int64_t start_ns;
	char *socket_path;		/* bound by us, unlinked at exit */
	_Atomic bool stopping;
	_Atomic uint64_t conns;		/* open now */
	_Atomic uint64_t conns_accepted, conns_rejected, queue_drops;
	_Atomic uint64_t db_writes, db_errors;
	_Atomic uint64_t watchers;
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

/* --- loop.c --- */

/* Sets up loop i without its thread (loop_start, or a caller that runs l->base itself); 0 or -1 with err. */
int loop_init(struct srv *s, struct loop *l, unsigned idx, char *err, size_t errlen);

/* Starts loop thread i; 0 or -1 with err. */
int loop_start(struct srv *s, struct loop *l, unsigned idx, char *err, size_t errlen);

/* Queues a control message to l and wakes it. */
void loop_post(struct loop *l, struct loop_msg *m);

/* Wakes l because the journal committed a batch of it (journal thread). */
void loop_wake_journal(struct loop *l);

/* Queues a fire node to l and wakes it (called from engine threads). */
void loop_post_fire(struct loop *l, struct fire_node *n);

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

/* Queues a framed event (fire) to c, dropping it if c's output is full. */
void conn_push_event(struct conn *c, const uint8_t *frame, size_t len);

/* Writes a Response to c; replies (not events) count as in flight until sent. */
void conn_send(struct conn *c, const Timerd__Response *rs, bool reply);

/*
 * Holds c's output from the next reply on until journal batch seq is
 * committed: that reply and everything queued to c after it (replies,
 * events) wait, in order; what was queued before leaves as usual.
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

/* Marks c CONN_DEAD: no callback or fire reaches it any more; the loop's reaper frees it. */
void conn_kill(struct conn *c);

/* Frees a CONN_DEAD connection; only the loop's reaper calls it. */
void conn_free(struct conn *c);

/* --- errmap.c --- */

/* The wire code for a TD_* code (TD_OK: OK); SYSTEM for a value outside the table. */
Timerd__ErrorCode errmap_wire(int td);

/* The counter of ctr that counts an error reply with this wire code. */
_Atomic uint64_t *errmap_counter(struct loop_counters *ctr, Timerd__ErrorCode code);

/* --- rpc.c --- */

/* Handles one request frame of n bytes from c. */
void rpc_handle(struct conn *c, const uint8_t *p, uint32_t n);

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

/* srv-cal.c: SIGHUP: re-reads the tz database and has the engine re-place the calendar timers. */
void srv_cal_reload(struct srv *s);

#endif /* TIMERD_SRV_H */
