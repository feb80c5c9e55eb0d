/*
 * engine.h -- the timer engine: arm, re-arm, cancel and look up timers from
 * any thread; one dispatcher thread fires them, never early.
 *
 * Usage:
 *
 *	struct engine_config cfg = { .on_fire = deliver, .fire_arg = srv };
 *	struct engine *e;
 *	engine_create(&cfg, &e);
 *	engine_start(e);                      dispatcher + delivery threads
 *	...
 *	struct engine_arm a = { .key = "job-7", .keylen = 5,
 *	                        .when = ENGINE_AFTER, .time = 250 * MS,
 *	                        .topic = "jobs", .topiclen = 4 };
 *	struct engine_arm_result r;
 *	if (engine_arm(e, &a, &r) == 0)       create-or-replace by key
 *		...r.id, r.deadline...
 *	engine_cancel(e, r.id, NULL, 0);
 *	...
 *	engine_destroy(e);
 *
 * Fires: cfg.on_fire runs on one of cfg.workers delivery threads (or on
 * the dispatcher when workers == 0) with a snapshot valid for the call.
 * on_fire may arm, cancel, get and list; it must not call engine_drain(),
 * nor with workers == 0 engine_sync() or engine_destroy() (they wait for the
 * thread it runs on).
 * One-shot timers are gone once fired; periodic ones are re-armed at their
 * next period (fixed rate: periods that passed while late are skipped and
 * counted in the late fire's engine_fire.missed). Calendar timers
 * (engine_arm.cal) are wall-clock timers re-armed at their schedule's next
 * elapse strictly after the one that fired (elapses that passed while late:
 * skipped and counted the same way); one whose schedule ends is gone after
 * its last fire.
 *
 * What may run concurrently:
 *
 *	                 arm/cancel  get/list  stats  dispatch  destroy
 *	arm/cancel       yes         yes       yes    yes       no
 *	get/list         yes         yes       yes    yes       no
 *	stats            yes         yes       yes    yes       no
 *	dispatch         yes         yes       yes    no(*)     no
 *
 *	(*) engine_dispatch() is for manual engines; one caller at a time.
 *
 * Guarantees: an arm, re-arm or cancel that returned is visible to every
 * later engine_get() (read your writes), and is applied by the dispatcher
 * within ENGINE_INTAKE_DELAY (1 ms) or before its deadline, whichever is
 * first; a cancel or re-arm that returned before a fire was decided
 * prevents that fire. A timer never fires before its
 * deadline on its clock. Concurrent writers of one timer linearise in some
 * order; a writer that overlapped another gets coalesced = true: its state
 * was superseded by the other's. No other ordering is implied.
 */
#ifndef TIMERD_ENGINE_H
#define TIMERD_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "hazptr.h"

#define ENGINE_NS_PER_US 1000LL
#define ENGINE_NS_PER_MS 1000000LL
#define ENGINE_NS_PER_S	 1000000000LL

/* Largest deadline accepted, in ns on its clock (about 146 years). */
#define ENGINE_MAX_DEADLINE (INT64_C(1) << 62)
/* Smallest period accepted. */
#define ENGINE_MIN_PERIOD ENGINE_NS_PER_US
/* Most delivery threads (engine_config.workers). */
#define ENGINE_MAX_WORKERS 256
/* Largest engine_config.max_key: a record keeps its key length in 16 bits. */
#define ENGINE_MAX_KEY 65535u

struct engine;
struct hist_snap;
struct cal;	/* a calendar schedule, cal/cal.h */

/* Most elapses a late calendar fire counts in missed (then it goes on at the first elapse after now). */
#define ENGINE_CAL_MISSED_MAX 256

/* Where engine_arm.time points. */
enum engine_when {
	ENGINE_AFTER = 0,	/* a delay from now, CLOCK_MONOTONIC */
	ENGINE_AT_MONO = 1,	/* an absolute CLOCK_MONOTONIC time */
	ENGINE_AT_REAL = 2,	/* an absolute CLOCK_REALTIME (unix) time; follows clock jumps */
};

/* An injectable clock: both in ns. NULL members use the system clocks. */
struct engine_clock {
	int64_t (*mono)(void *arg);
	int64_t (*real)(void *arg);
	void *arg;
};

/* What a fire delivers; valid only during the callback. */
struct engine_fire {
	uint64_t id;
	const char *key;	/* NULL if the timer has no key */
	uint32_t keylen;
	const char *topic;	/* "" if none */
	uint32_t topiclen;
	const void *payload;
	uint32_t payloadlen;
	uint64_t owner;		/* as armed */
	uint32_t flags;		/* as armed */
	const char *label;	/* engine_arm.label, not NUL-terminated; NULL if none */
	uint32_t labellen;
	bool realtime;		/* armed with ENGINE_AT_REAL */
	bool final;		/* one-shot: the timer no longer exists */
	int64_t deadline;	/* CLOCK_MONOTONIC ns it was due */
	int64_t fired_at;	/* CLOCK_MONOTONIC ns the dispatcher fired it */
	int64_t period;		/* 0 for one-shot */
	uint64_t missed;	/* periods after deadline already passed when it fired,
				 * skipped: the next fire is due (missed + 1)
				 * periods after deadline, unless max_inflight
				 * drops it (seq then skips); calendar timers:
				 * elapses skipped (at most ENGINE_CAL_MISSED_MAX) */
	uint64_t seq;		/* fires of this timer so far, this one included */
};

typedef void (*engine_fire_fn)(void *arg, const struct engine_fire *f);

struct engine_config {
	const struct engine_clock *clock;	/* NULL: system clocks */
	bool manual;		/* no threads: the caller runs engine_dispatch() */
	unsigned workers;	/* delivery threads (at most ENGINE_MAX_WORKERS);
				 * 0: on_fire runs on the dispatcher */
	int64_t precision_ns;	/* wake this early and spin to the deadline; 0: off */
	uint64_t max_timers;	/* 0: 16 Mi */
	uint32_t max_key;	/* bytes; 0: 256 (at most ENGINE_MAX_KEY) */
	uint32_t max_topic;	/* bytes; 0: 128 */
	uint32_t max_payload;	/* bytes; 0: 64 KiB */
	uint64_t max_memory;	/* bytes of timers (and *extra_mem) before an arm gets
				 * TD_EMEMLIMIT; 0: no budget */
	_Atomic int64_t *extra_mem;	/* the caller's bytes counted in the budget (NULL: none) */
	bool accounts;		/* keep per-account use (engine_arm.acct, engine_acct_use) */
	uint32_t max_inflight;	/* undelivered periodic fires before more are
				 * counted as missed; 0: 1 Mi */
	engine_fire_fn on_fire;
	void *fire_arg;
	enum hazptr_fence hazptr_fence;
	bool hazptr_scanner;
};

/* An arm request; everything is copied. */
struct engine_arm {
	uint64_t id;		/* re-arm this timer; 0 (and no key): create one */
	const char *key;	/* create-or-replace by key (NULL: none) */
	uint32_t keylen;
	enum engine_when when;
	int64_t time;		/* ns, as `when` says */
	int64_t period;		/* ns; 0: one-shot */
	const char *topic;
	uint32_t topiclen;
	const void *payload;
	uint32_t payloadlen;
	uint64_t owner;		/* opaque, delivered with fires */
	uint32_t flags;		/* opaque, delivered with fires */
	const char *label;	/* opaque bytes kept with the timer, copied (the server: the identity that armed it) */
	uint32_t labellen;	/* at most ENGINE_MAX_LABEL */
	uint32_t acct;		/* the account a timer it creates counts in (1..ENGINE_MAX_ACCTS-1;
				 * 0: none; needs engine_config.accounts): the server's identity */
	uint64_t acct_max_timers;	/* creating a timer past this many in acct: TD_EQUOTA (0: no limit) */
	uint64_t acct_max_bytes;	/* ... or past these bytes (attributes + ENGINE_REC_COST a timer) */
	bool only_own;		/* an existing timer is re-armed only if its label is this arm's
				 * label (else TD_EOWNER, nothing changed), checked and written in
				 * one step; a new or cancelled one is created as usual */
	struct cal *cal;	/* a calendar schedule (NULL: none): when is ENGINE_AT_REAL,
				 * time its first elapse, period 0; engine_arm and
				 * engine_restore_put take it over, on error too (it is
				 * freed with the timer's attributes) */
};

struct engine_arm_result {
	uint64_t id;
	int64_t deadline;	/* CLOCK_MONOTONIC ns of the first fire */
	int64_t now;		/* CLOCK_MONOTONIC ns the arm read (an ENGINE_AFTER arm's base) */
	bool created;		/* a new timer, not a re-arm */
	bool coalesced;		/* superseded by an overlapping writer */
};

/* A copied-out snapshot of one timer (engine_get, engine_list). */
struct engine_timer {
	uint64_t id;
	int64_t deadline;	/* next fire, CLOCK_MONOTONIC ns */
	int64_t wall_deadline;	/* next fire, CLOCK_REALTIME ns if realtime, else 0 */
	int64_t period;
	bool realtime;
	uint64_t owner;
	uint32_t flags;
	uint32_t keylen, topiclen, payloadlen;
	const char *key;	/* NULL if none */
	const char *topic;
	const void *payload;	/* NULL if not copied (engine_list_opts.payload false) */
	const char *calendar;	/* the schedule's normalised form; "" if none */
	uint32_t calendarlen;
	const char *label;	/* engine_arm.label, NUL-terminated; "" if none */
	uint32_t labellen;
};

/* Longest engine_arm.label. */
#define ENGINE_MAX_LABEL 255

/*
 * The engine's counters, each listed once; names match the EngineStats
 * fields of proto/timerd.proto. Every thread that writes counters (each
 * producer, the dispatcher) owns a block of all of them and adds to its own
 * block alone (ctr_add); engine_stats sums the blocks. A counter one thread
 * keeps as a maximum (intake_hwm) is 0 in every other block. Adding a
 * counter: one line here, its increments, and the proto field.
 */
#define ENGINE_COUNTERS(X)						\
	X(arms)		/* arm requests accepted (created + re-armed) */ \
	X(created)	/* timers created */				\
	X(rearms)	/* arms of an existing timer */			\
	X(cancels)	/* cancels accepted */				\
	X(fires)	/* fires delivered to on_fire */		\
	X(missed)	/* periods skipped (late, or delivery backlog) */ \
	X(coalesced)	/* writes superseded before the dispatcher applied them */ \
	X(lost_races)	/* writers that overlapped another writer of the cell */ \
	X(cell_retries)	/* cell read retries */				\
	X(errors)	/* requests rejected with an error */		\
	X(intake_hwm)	/* most records taken from the intake in one pass */ \
	X(passes)	/* dispatcher passes */				\
	X(clock_jumps)	/* CLOCK_REALTIME set events handled */

/* Values engine_stats reads at the moment (not sums of counter blocks). */
#define ENGINE_GAUGES(X)						\
	X(pending)	/* timers that exist now */			\
	X(inflight)	/* fires handed to delivery, not yet delivered */ \
	X(hp_retired)	/* hazard-pointer retirements */		\
	X(hp_reclaimed)	/* retired objects freed */			\
	X(hp_pending)	/* retired objects not yet freed */		\
	X(late_count)	/* fires measured for lateness */

/* Lateness percentiles, ns: X(field, proto field, percentile). */
#define ENGINE_LATENESS(X)						\
	X(late_p50, late_p50_ns, 50)					\
	X(late_p90, late_p90_ns, 90)					\
	X(late_p99, late_p99_ns, 99)					\
	X(late_p999, late_p999_ns, 99.9)

/* Counters merged from every thread; lateness from the dispatcher. */
struct engine_stats {
#define ENGINE_STATS_U64(n) uint64_t n;
	ENGINE_COUNTERS(ENGINE_STATS_U64)
	ENGINE_GAUGES(ENGINE_STATS_U64)
#undef ENGINE_STATS_U64
#define ENGINE_STATS_LATE(n, proto, pct) int64_t n;
	ENGINE_LATENESS(ENGINE_STATS_LATE)
#undef ENGINE_STATS_LATE
	int64_t late_max;	/* ns */
};

/* Creates an engine; 0 or a TD_* error. */
int engine_create(const struct engine_config *cfg, struct engine **out);

/* Starts the dispatcher and delivery threads (nothing for manual engines). */
int engine_start(struct engine *e);

/*
 * Stops the dispatcher and delivery threads (the last fires handed over are
 * delivered first); nothing fires any more, and every other call still
 * works on what is there. engine_destroy stops it too if need be.
 */
void engine_stop(struct engine *e);

/* Stops the threads and frees everything; pending timers are dropped. */
void engine_destroy(struct engine *e);

/*
 * The memory budget (max_memory): what the engine's timers take
 * (attributes exactly, records as ENGINE_REC_COST each) plus the bytes
 * the caller counts in *extra_mem (queued fires), which must outlive e.
 */
#define ENGINE_REC_COST 192
int64_t engine_mem_used(struct engine *e);

/*
 * Accounts: a timer counts in the account of the arm (or restore) that
 * created it until the dispatcher removes it, whoever re-arms it; the bytes
 * of each arm's attributes count in that arm's account until they are
 * freed. Only creating a timer is refused (TD_EQUOTA); re-arms never are.
 * Account numbers fit the record's spare 14 dflags bits.
 */
#define ENGINE_MAX_ACCTS 16384u
/* Timers and bytes (attributes + ENGINE_REC_COST a timer) of account acct now; any thread. */
void engine_acct_use(struct engine *e, uint32_t acct, uint64_t *timers, int64_t *bytes);

/* Arms (creates or re-arms) a timer; 0 or a TD_* error, nothing half-applied. */
int engine_arm(struct engine *e, const struct engine_arm *a, struct engine_arm_result *r);

/* Cancels a timer by id or by key; 0, TD_ENOENT or another TD_* error. */
int engine_cancel(struct engine *e, uint64_t id, const char *key, uint32_t keylen);

/*
 * engine_cancel that also says which timer it cancelled (*cancelled) and
 * whether an overlapping writer superseded the cancel (*coalesced), when it
 * returns 0; either pointer may be NULL.
 */
int engine_cancel_id(struct engine *e, uint64_t id, const char *key, uint32_t keylen, uint64_t *cancelled,
		     bool *coalesced);

/*
 * engine_cancel_id that cancels only a timer whose label is own (ownlen
 * bytes; own NULL: any), checked and written in one step: a re-arm by
 * another owner between the two is never cancelled. TD_EOWNER (nothing
 * changed) if the timer is another owner's.
 */
int engine_cancel_own(struct engine *e, uint64_t id, const char *key, uint32_t keylen, const char *own,
		      uint32_t ownlen, uint64_t *cancelled, bool *coalesced);

/* Copies out a timer by id or key (free with engine_timer_free); 0 or TD_*. */
int engine_get(struct engine *e, uint64_t id, const char *key, uint32_t keylen,
	       struct engine_timer **out);

void engine_timer_free(struct engine_timer *t);

/* Called per listed timer; return false to stop early. */
typedef bool (*engine_list_fn)(void *arg, const struct engine_timer *t);

/*
 * Lists up to limit timers (of one topic if topic is not NULL), continuing
 * from *cursor (0 to start); sets *cursor to 0 once the listing is complete.
 * Every timer that exists throughout a listing is returned exactly once.
 * Returns the number listed or a TD_* error.
 */
int engine_list(struct engine *e, const char *topic, uint32_t topiclen, uint64_t *cursor,
		uint32_t limit, engine_list_fn fn, void *arg);

/* Decides, before anything is copied, whether engine_list_opt lists a timer (key, topic, label as armed). */
typedef bool (*engine_keep_fn)(const void *arg, const char *key, uint32_t keylen, const char *topic, uint32_t topiclen,
			       const char *label, uint32_t labellen);

/* What engine_list_opt lists and copies. */
struct engine_list_opts {
	const char *topic;	/* only this topic if not NULL */
	uint32_t topiclen;
	bool payload;		/* copy payloads (else engine_timer.payload is NULL, payloadlen still set) */
	engine_keep_fn keep;	/* if not NULL: only timers it keeps are copied and listed */
	const void *keep_arg;
	uint64_t copied;	/* out: bytes of snapshots copied (added to) */
};

/* engine_list with a filter evaluated before any copy, and payloads optional. */
int engine_list_opt(struct engine *e, struct engine_list_opts *o, uint64_t *cursor, uint32_t limit,
		    engine_list_fn fn, void *arg);

/* Fills st with merged counters and lateness percentiles. */
void engine_stats(struct engine *e, struct engine_stats *st);

/* Copies the dispatcher's lateness histogram (deadline -> fire, ns), as engine_stats reads it; any thread. */
void engine_late_snapshot(struct engine *e, struct hist_snap *s);

/*
 * Waits until the dispatcher has applied every request made before the
 * call. Fires it handed to delivery threads may still be running: see
 * engine_drain.
 */
void engine_sync(struct engine *e);

/*
 * engine_sync, then waits until every fire decided by then (handed to a
 * delivery thread, or run on the dispatcher) has had its on_fire return;
 * their effects are visible to the caller afterwards. Fires decided later
 * are not waited for, so it returns even while timers keep firing. Must
 * not be called from on_fire (it would wait for itself).
 */
void engine_drain(struct engine *e);

/*
 * Waits until every fire that a delivery thread (or, with workers == 0,
 * the dispatcher) was handed before the call has had its on_fire return;
 * their effects are visible to the caller afterwards. A one-shot's fire is
 * counted before its id slot and key can be reused, so a change that
 * depends on the timer being gone (an arm reusing either, made visible to
 * the caller through any acquire chain) is preceded by the count: the
 * journal thread calls this after taking the loops' batches, so the fires
 * those batches depend on have journaled their rows (server/journal.c).
 * Does not run the dispatcher (unlike engine_drain) and waits for nothing
 * but on_fire calls already handed out. Must not be called from on_fire.
 */
void engine_fires_wait(struct engine *e);

/*
 * A heartbeat the dispatcher answers (the systemd watchdog, server/notify.c):
 * engine_ping asks for a pass and returns its ticket without waiting;
 * engine_ping_answered is true once the dispatcher thread finished a pass
 * that began after the ping. Neither blocks on the dispatcher, so a stuck
 * dispatcher leaves the ping unanswered; no other ordering is implied.
 */
uint64_t engine_ping(struct engine *e);
bool engine_ping_answered(struct engine *e, uint64_t ticket);

/* Manual engines: one dispatcher pass at the clock's now; returns fires. */
int engine_dispatch(struct engine *e);

/* Manual engines: the next CLOCK_MONOTONIC time a pass has work, or INT64_MAX. */
int64_t engine_next_wakeup(struct engine *e);

/* Tells the engine CLOCK_REALTIME was set (the dispatcher thread sees it itself). */
void engine_clock_changed(struct engine *e);

/*
 * The calendar rules changed (cal_tz_reload): the dispatcher re-places every
 * calendar timer that is not due yet at its first elapse after now, in its
 * next pass; nothing else about the timers changes. Any thread.
 */
void engine_cal_changed(struct engine *e);

/*
 * Restoring saved timers (core/restore.c): between engine_create() and
 * engine_start(), from one thread, with no other engine call running.
 *
 *	engine_restore_reserve(e, n);         optional: room for about n keyed timers
 *	engine_restore_bulk(e);               optional: rows with distinct ids follow
 *	engine_restore_put(e, id, &a) ...     (bulk: keys go in at bulk_end)
 *	engine_restore_bulk_end(e);           keys into the table; 0 or TD_ENOMEM
 *	engine_restore_put(e, id, &a) ...     create or replace timer id exactly
 *	engine_restore_del(e, id) ...         it is gone
 *	engine_restore_fired(e, id) ...       it is gone, and so is an older generation in its slot
 *	engine_restore_done(e, gen, f, &k);   queue them all; then engine_start()
 *
 * put takes a.when ENGINE_AT_MONO or ENGINE_AT_REAL (a deadline that has
 * passed fires as soon as the engine starts) and a.id 0; whatever held id's
 * slot or a's key is replaced. 0 or a TD_* error. del: 0 or TD_ENOENT.
 * fired: as del, and a timer of an older generation in id's slot (one
 * that left the slot before id existed) goes too; 0 or TD_ENOENT.
 * done returns the number of timers restored and, in *k, how many of them
 * carry any of the arm flags f; ids made from now on have a generation of
 * at least gen (pass one above every generation ever saved).
 */
int engine_restore_reserve(struct engine *e, uint64_t n);
void engine_restore_bulk(struct engine *e);
int engine_restore_bulk_end(struct engine *e);
int engine_restore_put(struct engine *e, uint64_t id, const struct engine_arm *a);
int engine_restore_del(struct engine *e, uint64_t id);
int engine_restore_fired(struct engine *e, uint64_t id);
uint64_t engine_restore_done(struct engine *e, uint32_t gen, uint32_t f, uint64_t *k);

/*
 * The engine's CLOCK_MONOTONIC and CLOCK_REALTIME now, in ns, through the
 * injected clock (engine_config.clock): the one clock of the process.
 */
int64_t engine_now(struct engine *e);
int64_t engine_now_real(struct engine *e);

/* The highest id generation (id >> 32) handed out so far: a restart's ids must start above it. */
uint32_t engine_gen_max(struct engine *e);

/* CLOCK_REALTIME - CLOCK_MONOTONIC now: add it to a monotonic time to get unix ns. */
int64_t engine_mono_to_unix(struct engine *e);

#endif /* TIMERD_ENGINE_H */
