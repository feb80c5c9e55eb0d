/*
 * crash-durable.c -- the crash-consistency test of durable timers: clients
 * pipeline arms, re-arms and cancels on several connections and log every
 * acknowledged reply; timerd is killed with SIGKILL at a random moment,
 * restarted on the same state directory, and the restored timers are checked
 * against the log. Repeated for many kills.
 *
 * Invariants (every one fails the test loudly, with the key's history):
 * - a key whose last acknowledged op is an arm is present after the restart
 *   with exactly that id, deadline_mono_ns and payload, unless the deadline
 *   passed (it may have fired), or a later op that was sent and not
 *   acknowledged explains what is there (its deadline and payload);
 * - a key whose last acknowledged op is a cancel is absent, or holds the
 *   result of a later unacknowledged arm;
 * - no fire of a timer id is seen with a fire time after its cancel's
 *   acknowledgement, before or after any restart;
 * - an acknowledged arm of a key whose timer is not yet due is a re-arm of
 *   that same id, and a cancel of it finds it.
 *
 * One connection owns the keys k with k % conns == its index, so the order of
 * one key's ops is the order of that connection's replies. At most
 * CRASH_MAX_QUEUE ops of one key are in flight at once.
 *
 * The daemon runs with --recovery-grace 200ms by default (--grace): the
 * watcher is in place and the List done before restored late timers fire,
 * so a cancelled short timer that a restart brought back is seen (listed or
 * fired) rather than firing unobserved; --grace 0 works too.
 *
 * Usage: crash-durable [--fsync always|10ms|never] [--kills N] [--keys N]
 *        [--conns N] [--depth N] [--snapshot-min-rows N] [--grace DURATION]
 *        [--seed N]
 * Environment: CRASH_KILLS (overrides --kills), CRASH_BUDGET (seconds of
 * wall time; stops early and says so, default 60), CRASH_KEEP (keep the
 * state directory and log), top_builddir.
 * A failure prints the key's history and keeps the state directory (its
 * timers.db can be read with sqlite3).
 */
#include "config.h"

#include <event2/event.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client/timerd.h"
#include "test-server-util.h"
#include "stress.h"

#define CRASH_TOPIC "crash"
#define CRASH_MAX_CONNS 16
#define CRASH_MAX_QUEUE 3		/* ops of one key in flight at once */
#define CRASH_PAYLOAD 32
#define CRASH_MAX_GHOSTS 8		/* fired states of one key that may come back */

enum crash_op_kind { CRASH_ARM = 1, CRASH_CANCEL = 2 };

/* One op sent on a key and not yet answered (or lost in a kill). */
struct crash_op {
	uint8_t kind;
	int64_t deadline;		/* CRASH_ARM: absolute CLOCK_MONOTONIC */
	uint64_t ver;			/* CRASH_ARM: the payload's version */
};

/* A state of a key that fired, whose fire's removal may be lost in a kill (id 0: any id). */
struct crash_ghost {
	uint64_t id, ver;
	int64_t deadline;
};

/* The client's model of one key: its last acknowledged state and what is in flight. */
struct crash_key {
	bool armed;			/* last acknowledged: armed (else absent) */
	uint64_t id;			/* armed: its id */
	int64_t deadline;		/* armed: its deadline */
	uint64_t ver;			/* armed: the payload's version */
	int64_t ack_ns;			/* when the last op was acknowledged */
	uint64_t cancelled_id;		/* absent by a cancel of this id: an arm may revive it */
	/*
	 * absent: states that were due and found gone (fired); a fire's removal
	 * is not acknowledged to anyone, so a kill may lose it and the timer
	 * come back after the restart (and fire again)
	 */
	uint8_t nghost;
	struct crash_ghost ghost[CRASH_MAX_GHOSTS];
	uint8_t nq;
	struct crash_op q[CRASH_MAX_QUEUE];
};

/*
 * An open-addressing map from a cancelled timer id to the cancel's ack time
 * and the payload version it removed: a fire of that id fired after the ack
 * must carry a newer payload (an arm by key right after a cancel revives the
 * cancelled record and its id: engine.c, engine_arm_target).
 */
struct crash_cancel {
	int64_t ack_ns;
	uint64_t ver;
};

struct crash_idmap {
	uint64_t *ids;
	struct crash_cancel *vals;
	size_t cap, n;
};

struct crash_conn {
	struct timerd_async *c;
	int index;
	bool closed;
	uint64_t sent;
};

struct crash {
	/* settings */
	const char *fsync;
	const char *grace;
	const char *snap_min;
	unsigned kills, keys, conns, depth;
	double budget;
	unsigned long long rng;
	/* daemon */
	char dir[64], sock[100], state[128], log[128], bin[PATH_MAX];
	pid_t pid;
	off_t log_off;
	/* model */
	struct crash_key *k;
	struct crash_idmap cancelled;
	uint64_t next_ver;
	/* one round */
	struct event_base *base;
	struct crash_conn cn[CRASH_MAX_CONNS];
	struct timerd_async *watcher;
	int open_conns;
	bool killing, watch_ok;
	/* counts */
	uint64_t acked, acked_round, fires, fires_round, lost, sent_round, unacked_round;
	uint64_t snap_started, snap_done, snap_cut;
};

static struct crash g;

/* Fails with a message and the key's model. */
static void crash_fail_key(unsigned key, const char *what)
{
	const struct crash_key *k = &g.k[key];

	fprintf(stderr, "FAIL key k%u: %s\n  model: %s id=%" PRIu64 " deadline=%" PRId64 " ver=%" PRIu64
		" ack=%" PRId64 " now=%" PRId64 "\n", key, what, k->armed ? "armed" : "absent", k->id,
		k->deadline, k->ver, k->ack_ns, tsd_now());
	for (unsigned i = 0; i < k->nq; i++)
		fprintf(stderr, "  unacked %u: %s deadline=%" PRId64 " ver=%" PRIu64 "\n", i,
			k->q[i].kind == CRASH_ARM ? "arm" : "cancel", k->q[i].deadline, k->q[i].ver);
	g.lost++;
	if (g.pid > 0) {
		kill(g.pid, SIGKILL);
		waitpid(g.pid, NULL, 0);
	}
	fprintf(stderr, "state dir kept: %s (log %s)\n", g.dir, g.log);
	exit(1);
}

/* --- cancelled ids --- */

/* Hash of a timer id. */
static size_t crash_hash(uint64_t id)
{
	return (size_t)((id * 0x9e3779b97f4a7c15ULL) >> 17);
}

/* Records that id was cancelled (acknowledged at ack_ns). */
static void crash_idmap_put(struct crash_idmap *m, uint64_t id, struct crash_cancel v)
{
	size_t i;

	if ((m->n + 1) * 2 > m->cap) {
		struct crash_idmap b = { .cap = m->cap ? m->cap * 2 : 4096 };

		b.ids = calloc(b.cap, sizeof(*b.ids));
		b.vals = calloc(b.cap, sizeof(*b.vals));
		STRESS_CHECK(b.ids && b.vals, "out of memory");
		for (size_t j = 0; j < m->cap; j++)
			if (m->ids[j])
				crash_idmap_put(&b, m->ids[j], m->vals[j]);
		free(m->ids);
		free(m->vals);
		*m = b;
	}
	for (i = crash_hash(id) & (m->cap - 1); m->ids[i] && m->ids[i] != id; i = (i + 1) & (m->cap - 1))
		;
	m->n += !m->ids[i];
	m->ids[i] = id;
	m->vals[i] = v;
}

/* id's last cancel, or NULL if it was never cancelled. */
static const struct crash_cancel *crash_idmap_get(const struct crash_idmap *m, uint64_t id)
{
	if (!m->cap)
		return NULL;
	for (size_t i = crash_hash(id) & (m->cap - 1); m->ids[i]; i = (i + 1) & (m->cap - 1))
		if (m->ids[i] == id)
			return &m->vals[i];
	return NULL;
}

/* --- the daemon --- */

/* Bytes of the log file so far. */
static off_t crash_log_size(void)
{
	struct stat st;

	return stat(g.log, &st) == 0 ? st.st_size : 0;
}

/* Starts timerd on the state dir; waits until it listens (restore done). */
static void crash_start(void)
{
	const char *argv[32];
	int n = 0;

	argv[n++] = g.bin;
	argv[n++] = "--foreground";
	argv[n++] = "--socket";
	argv[n++] = g.sock;
	argv[n++] = "--state-dir";
	argv[n++] = g.state;
	argv[n++] = "--log";
	argv[n++] = g.log;
	argv[n++] = "--no-stats";
	argv[n++] = "--threads";
	argv[n++] = "2";
	argv[n++] = "--fsync";
	argv[n++] = g.fsync;
	argv[n++] = "--recovery-grace";
	argv[n++] = g.grace;
	if (g.snap_min) {
		argv[n++] = "--snapshot-min-rows";
		argv[n++] = g.snap_min;
	}
	argv[n] = NULL;
	unlink(g.sock);
	g.log_off = crash_log_size();
	if ((g.pid = fork()) == 0) {
		execv(g.bin, (char *const *)(uintptr_t)argv);
		fprintf(stderr, "cannot run %s: %s\n", g.bin, strerror(errno));
		_exit(127);
	}
	for (int i = 0; i < 30000 && !tsd_alive(g.sock); i++) {
		int st;

		if (waitpid(g.pid, &st, WNOHANG) == g.pid) {
			struct tsd d = { 0 };

			snprintf(d.log, sizeof(d.log), "%s", g.log);
			tsd_dump_log(&d);
			STRESS_FAIL("timerd exited during start-up (status %d); state dir %s", st, g.dir);
		}
		usleep(1000);
	}
	STRESS_CHECK(tsd_alive(g.sock), "timerd did not listen within 30 s; state dir %s", g.dir);
}

/* Counts the snapshot passes begun and finished in the log of the run that just ended. */
static void crash_count_snapshots(void)
{
	FILE *f = fopen(g.log, "r");
	char line[1024];
	unsigned started = 0, done = 0;

	if (!f)
		return;
	fseeko(f, g.log_off, SEEK_SET);
	while (fgets(line, sizeof(line), f)) {
		started += strstr(line, "writing a snapshot") != NULL;
		done += strstr(line, "journal: snapshot of") != NULL;
	}
	fclose(f);
	g.snap_started += started;
	g.snap_done += done;
	g.snap_cut += started > done;
}

/* --- the load --- */

/* The payload of a key's version. */
static int crash_payload(char *buf, unsigned key, uint64_t ver)
{
	return snprintf(buf, CRASH_PAYLOAD, "k%u/v%" PRIu64, key, ver);
}

/* A uniform random number in [lo, hi). */
static int64_t crash_rand_range(int64_t lo, int64_t hi)
{
	return lo + (int64_t)(stress_rand(&g.rng) % (unsigned long long)(hi - lo));
}

/* True if a reply code means the request may or may not have been applied (the daemon died). */
static bool crash_code_lost(int code)
{
	return code == TIMERD_ECLOSED || code == TIMERD_EIO || code == TIMERD_ESHUTDOWN || code == TIMERD_EPROTO;
}

static void crash_issue(struct crash_conn *cn);

/* Takes the oldest in-flight op of key off its queue. */
static struct crash_op crash_pop(struct crash_key *k)
{
	struct crash_op op = k->q[0];

	memmove(&k->q[0], &k->q[1], (size_t)(k->nq - 1) * sizeof(k->q[0]));
	k->nq--;
	return op;
}

/* Reply to an arm: logs it in the model after checking it against the model. */
static void crash_on_arm(struct timerd_async *c, const struct timerd_reply *r, void *arg)
{
	unsigned key = (unsigned)(uintptr_t)arg;
	struct crash_key *k = &g.k[key];
	struct crash_conn *cn = &g.cn[key % g.conns];
	int64_t now = tsd_now();
	struct crash_op op;
	char msg[256];

	(void)c;
	if (crash_code_lost(r->code))
		return;	/* stays in flight: the kill decides */
	STRESS_CHECK(k->nq > 0 && k->q[0].kind == CRASH_ARM, "k%u: arm reply without an arm in flight", key);
	if (r->code != TIMERD_OK) {
		snprintf(msg, sizeof(msg), "arm failed: %s (%s)", timerd_errname(r->code), r->message);
		crash_fail_key(key, msg);
	}
	/* not yet due when acknowledged (by a margin: the fire may be on its way) -> same id */
	if (k->armed && k->deadline > now + 50 * TIMERD_MS && (r->arm.created || r->arm.timer_id != k->id)) {
		snprintf(msg, sizeof(msg), "re-arm of a pending timer answered created=%d id=%" PRIu64,
			 r->arm.created, r->arm.timer_id);
		crash_fail_key(key, msg);
	}
	if (!k->armed && !r->arm.created && !(k->cancelled_id && r->arm.timer_id == k->cancelled_id))
		crash_fail_key(key, "arm of an absent key answered as a re-arm");
	op = crash_pop(k);
	if (r->arm.deadline_mono_ns != op.deadline) {
		snprintf(msg, sizeof(msg), "arm answered deadline %" PRId64 ", asked %" PRId64,
			 r->arm.deadline_mono_ns, op.deadline);
		crash_fail_key(key, msg);
	}
	k->armed = true;
	k->nghost = 0;
	k->cancelled_id = 0;
	k->id = r->arm.timer_id;
	k->deadline = op.deadline;
	k->ver = op.ver;
	k->ack_ns = now;
	g.acked++;
	g.acked_round++;
	crash_issue(cn);
}

/* Reply to a cancel: logs it and the id it removed. */
static void crash_on_cancel(struct timerd_async *c, const struct timerd_reply *r, void *arg)
{
	unsigned key = (unsigned)(uintptr_t)arg;
	struct crash_key *k = &g.k[key];
	struct crash_conn *cn = &g.cn[key % g.conns];
	int64_t now = tsd_now();
	char msg[256];

	(void)c;
	if (crash_code_lost(r->code))
		return;
	STRESS_CHECK(k->nq > 0 && k->q[0].kind == CRASH_CANCEL, "k%u: cancel reply without a cancel in flight", key);
	if (r->code != TIMERD_OK && r->code != TIMERD_ENOTFOUND) {
		snprintf(msg, sizeof(msg), "cancel failed: %s (%s)", timerd_errname(r->code), r->message);
		crash_fail_key(key, msg);
	}
	if (r->code == TIMERD_ENOTFOUND && k->armed && k->deadline > now + 50 * TIMERD_MS)
		crash_fail_key(key, "cancel of a pending timer found nothing: the timer was lost");
	if (r->code == TIMERD_OK && !k->armed)
		crash_fail_key(key, "cancel of an absent key found a timer");
	crash_pop(k);
	if (r->code == TIMERD_OK) {
		crash_idmap_put(&g.cancelled, k->id, (struct crash_cancel){ .ack_ns = now, .ver = k->ver });
		k->nghost = 0;
		k->cancelled_id = k->id;
	} else if (k->armed) {
		/* it fired: the fire's removal may not be committed */
		k->ghost[0] = (struct crash_ghost){ .id = k->id, .ver = k->ver, .deadline = k->deadline };
		k->nghost = 1;
	}
	k->armed = false;
	k->ack_ns = now;
	g.acked++;
	g.acked_round++;
	crash_issue(cn);
}

/* Sends one random op on a key of this connection; false if none was free. */
static bool crash_issue_one(struct crash_conn *cn)
{
	unsigned per = (g.keys - (unsigned)cn->index + g.conns - 1) / g.conns, key = 0;
	struct crash_key *k = NULL;
	struct crash_op op = { 0 };
	char payload[CRASH_PAYLOAD], name[24];
	int rc;

	for (int tries = 0; tries < 8; tries++) {
		key = (unsigned)cn->index + (unsigned)(stress_rand(&g.rng) % per) * g.conns;
		if (g.k[key].nq < CRASH_MAX_QUEUE) {
			k = &g.k[key];
			break;
		}
	}
	if (!k)
		return false;
	snprintf(name, sizeof(name), "k%u", key);
	if (stress_rand(&g.rng) % 100 < 30) {
		op.kind = CRASH_CANCEL;
		rc = timerd_async_cancel(cn->c, 0, name, crash_on_cancel, (void *)(uintptr_t)key);
	} else {
		int64_t now = tsd_now();
		struct timerd_arm a = { .when = TIMERD_AT_MONO, .key = name, .topic = CRASH_TOPIC, .payload = payload };

		op.kind = CRASH_ARM;
		op.ver = ++g.next_ver;
		if (stress_rand(&g.rng) % 100 < 15)
			op.deadline = now + crash_rand_range(50 * TIMERD_MS, 500 * TIMERD_MS);
		else
			op.deadline = now + crash_rand_range(3600 * TIMERD_S, 7200 * TIMERD_S);
		a.time_ns = op.deadline;
		a.payload_len = (size_t)crash_payload(payload, key, op.ver);
		rc = timerd_async_arm(cn->c, &a, crash_on_arm, (void *)(uintptr_t)key);
	}
	if (rc != TIMERD_OK) {
		STRESS_CHECK(crash_code_lost(rc) || rc == TIMERD_EINFLIGHT, "issuing a request: %s",
			     timerd_errname(rc));
		return false;	/* not sent: not in flight */
	}
	k->q[k->nq++] = op;
	cn->sent++;
	g.sent_round++;
	return true;
}

/* Keeps the connection's pipeline full until the kill. */
static void crash_issue(struct crash_conn *cn)
{
	if (g.killing || cn->closed)
		return;
	while (timerd_async_pending(cn->c) < g.depth && crash_issue_one(cn))
		;
}

/* A fire: no id fires after its cancel was acknowledged. */
static void crash_on_event(struct timerd_async *c, const struct timerd_event *ev, void *arg)
{
	const struct crash_cancel *cx;
	char payload[CRASH_PAYLOAD] = "";
	unsigned key = 0, pk = 0;
	uint64_t ver = 0;

	(void)c;
	(void)arg;
	if (ev->kind != TIMERD_EVENT_FIRE)
		return;
	g.fires++;
	g.fires_round++;
	memcpy(payload, ev->fire.payload, ev->fire.payload_len < CRASH_PAYLOAD ? ev->fire.payload_len : CRASH_PAYLOAD - 1);
	STRESS_CHECK(sscanf(ev->fire.key, "k%u", &key) == 1 && key < g.keys &&
		     sscanf(payload, "k%u/v%" SCNu64, &pk, &ver) == 2 && pk == key,
		     "fire of id %" PRIu64 ": foreign key '%s' or payload '%s'", ev->fire.timer_id, ev->fire.key, payload);
	cx = crash_idmap_get(&g.cancelled, ev->fire.timer_id);
	if (cx && ev->fire.fired_mono_ns > cx->ack_ns && ver <= cx->ver) {
		fprintf(stderr, "fire of cancelled id %" PRIu64 " (key %s, payload %s) fired at %" PRId64
			", its cancel (of payload v%" PRIu64 ") was acknowledged at %" PRId64 "\n",
			ev->fire.timer_id, ev->fire.key, payload, ev->fire.fired_mono_ns, cx->ver, cx->ack_ns);
		crash_fail_key(key, "a cancelled timer fired");
	}
}

/* A connection went away (the kill). */
static void crash_on_close(struct timerd_async *c, int code, const char *message, void *arg)
{
	struct crash_conn *cn = arg;

	(void)c;
	(void)code;
	(void)message;
	if (cn)
		cn->closed = true;
	if (--g.open_conns == 0)
		event_base_loopbreak(g.base);
}

/* The watch is in place. */
static void crash_on_watch(struct timerd_async *c, const struct timerd_reply *r, void *arg)
{
	(void)c;
	(void)arg;
	STRESS_CHECK(r->code == TIMERD_OK || crash_code_lost(r->code), "watch failed: %s", r->message);
	g.watch_ok = r->code == TIMERD_OK;
	event_base_loopbreak(g.base);
}

/* The kill: SIGKILL at a random moment of the load. */
static void crash_on_kill(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	g.killing = true;
	kill(g.pid, SIGKILL);
	waitpid(g.pid, NULL, 0);
	g.pid = -1;
}

/* Safety net: the connections did not close. */
static void crash_on_stuck(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	STRESS_FAIL("connections still open 20 s after the kill (%d)", g.open_conns);
}

/* Connects one async client. */
static struct timerd_async *crash_connect(void *close_arg)
{
	struct timerd_async *c;
	struct timerd_error e;

	STRESS_CHECK(timerd_async_connect(g.base, g.sock, NULL, &c, &e) == TIMERD_OK, "connect: %s", e.message);
	timerd_async_set_close_cb(c, crash_on_close, close_arg);
	g.open_conns++;
	return c;
}

/* Connects the watcher and waits for its Watch to be in place. */
static void crash_watch(void)
{
	g.watch_ok = false;
	g.watcher = crash_connect(NULL);
	timerd_async_set_event_cb(g.watcher, crash_on_event, NULL);
	STRESS_CHECK(timerd_async_watch(g.watcher, CRASH_TOPIC, crash_on_watch, NULL) == TIMERD_OK, "watch");
	event_base_dispatch(g.base);
	STRESS_CHECK(g.watch_ok, "the watch was not acknowledged");
}

/* Runs the load until a random kill, then until every connection saw the end. */
static void crash_load(void)
{
	struct event *kill_ev = evtimer_new(g.base, crash_on_kill, NULL);
	struct event *stuck = evtimer_new(g.base, crash_on_stuck, NULL);
	int64_t ms = crash_rand_range(50, 401);
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000 * 1000) }, tv_stuck = { 20 + ms / 1000, 0 };

	g.killing = false;
	for (unsigned i = 0; i < g.conns; i++) {
		g.cn[i] = (struct crash_conn){ .index = (int)i };
		g.cn[i].c = crash_connect(&g.cn[i]);
	}
	for (unsigned i = 0; i < g.conns; i++)
		crash_issue(&g.cn[i]);
	evtimer_add(kill_ev, &tv);
	evtimer_add(stuck, &tv_stuck);
	event_base_dispatch(g.base);
	event_free(kill_ev);
	event_free(stuck);
	for (unsigned i = 0; i < g.conns; i++)
		timerd_async_free(g.cn[i].c);
	timerd_async_free(g.watcher);
	g.watcher = NULL;
}

/* --- the check --- */

/* The timers the restarted daemon holds, by key. */
struct crash_seen {
	bool present;
	uint64_t id;
	int64_t deadline;
	char payload[CRASH_PAYLOAD];
	size_t payload_len;
};

/* True if a present timer (or absence) is the state after an arm op. */
static bool crash_match_arm(unsigned key, const struct crash_seen *s, int64_t deadline, uint64_t ver,
			    uint64_t want_id, int64_t listed)
{
	char p[CRASH_PAYLOAD];
	int n = crash_payload(p, key, ver);

	if (!s->present)
		return deadline <= listed;	/* may have fired */
	return s->deadline == deadline && s->payload_len == (size_t)n && !memcmp(s->payload, p, (size_t)n) &&
	       (!want_id || s->id == want_id);
}

/* Adds a due state to a key's ghosts; when full the oldest goes (it is the least likely to come back). */
static void crash_ghost_add(struct crash_key *k, uint64_t id, int64_t deadline, uint64_t ver)
{
	if (k->nghost == CRASH_MAX_GHOSTS)
		memmove(&k->ghost[0], &k->ghost[1], --k->nghost * sizeof(k->ghost[0]));
	k->ghost[k->nghost++] = (struct crash_ghost){ .id = id, .ver = ver, .deadline = deadline };
}

/* A key found absent at a check: the due states that may have fired there may come back later. */
static void crash_ghosts_after_check(struct crash_key *k, int64_t listed)
{
	struct crash_key old = *k;
	uint64_t id = old.armed && old.deadline > listed ? old.id : 0;

	k->nghost = 0;
	if (old.armed && old.deadline <= listed)
		crash_ghost_add(k, old.id, old.deadline, old.ver);
	for (unsigned i = 0; !old.armed && i < old.nghost; i++)
		crash_ghost_add(k, old.ghost[i].id, old.ghost[i].deadline, old.ghost[i].ver);
	for (unsigned i = 0; i < old.nq; i++) {
		if (old.q[i].kind == CRASH_CANCEL) {
			id = 0;
			continue;
		}
		if (old.q[i].deadline <= listed) {
			crash_ghost_add(k, id, old.q[i].deadline, old.q[i].ver);
			id = 0;
		}
	}
}

/* Checks one key against its model; then the model takes what the daemon holds. */
static void crash_check_key(unsigned key, const struct crash_seen *s, int64_t listed)
{
	struct crash_key *k = &g.k[key];
	bool ok;
	/* the id an in-flight arm re-arms: the acknowledged one unless it was due (it may have fired) */
	uint64_t id = k->armed && k->deadline > listed ? k->id : 0;
	char msg[300];

	/* the last acknowledged state */
	if (k->armed)
		ok = crash_match_arm(key, s, k->deadline, k->ver, k->id, listed);
	else
		ok = !s->present;
	/* or a state that fired and whose fire's removal was lost */
	for (unsigned i = 0; i < k->nghost && !ok; i++)
		ok = crash_match_arm(key, s, k->ghost[i].deadline, k->ghost[i].ver, k->ghost[i].id, listed);
	/* or the state after a prefix of the unacknowledged ops (a suffix of the journal is lost at most) */
	for (unsigned i = 0; i < k->nq && !ok; i++) {
		if (k->q[i].kind == CRASH_CANCEL) {
			ok = !s->present;
			id = 0;
			continue;
		}
		/* a re-arm keeps the id unless the timer had fired; a create may take any id */
		ok = crash_match_arm(key, s, k->q[i].deadline, k->q[i].ver, id, listed);
		if (k->q[i].deadline <= listed)
			id = 0;
	}
	if (!ok) {
		snprintf(msg, sizeof(msg), "after the restart: %s id=%" PRIu64 " deadline=%" PRId64 " payload=%.*s",
			 s->present ? "present" : "absent", s->id, s->deadline, (int)s->payload_len, s->payload);
		crash_fail_key(key, msg);
	}
	g.unacked_round += k->nq;
	if (s->present)
		k->nghost = 0;	/* the newest committed put of the key: older ones are replaced by key */
	else
		crash_ghosts_after_check(k, listed);
	k->armed = s->present;
	k->cancelled_id = 0;
	k->id = s->id;
	k->deadline = s->deadline;
	k->nq = 0;
	if (s->present) {
		unsigned pk;
		uint64_t ver;

		STRESS_CHECK(sscanf(s->payload, "k%u/v%" SCNu64, &pk, &ver) == 2 && pk == key,
			     "k%u: foreign payload %.*s", key, (int)s->payload_len, s->payload);
		k->ver = ver;
	}
}

/* Lists every timer of the topic (all pages, with payloads) and checks each key. */
static unsigned crash_check(void)
{
	struct crash_seen *seen = calloc(g.keys, sizeof(*seen));
	struct timerd *t;
	struct timerd_error e;
	struct timerd_list *l;
	uint64_t cursor = 0;
	unsigned n = 0;
	int64_t listed;
	int rc;

	STRESS_CHECK(seen, "out of memory");
	STRESS_CHECK(timerd_connect(g.sock, NULL, &t, &e) == TIMERD_OK, "connect: %s", e.message);
	do {
		rc = timerd_list(t, CRASH_TOPIC, cursor, 1000, true, &l);
		STRESS_CHECK(rc == TIMERD_OK, "list: %s", timerd_errmsg(t));
		for (size_t i = 0; i < l->n; i++) {
			const struct timerd_timer *tm = &l->timers[i];
			unsigned key;

			STRESS_CHECK(sscanf(tm->key, "k%u", &key) == 1 && key < g.keys, "foreign key '%s'", tm->key);
			if (seen[key].present)
				crash_fail_key(key, "listed twice");
			STRESS_CHECK(tm->payload_len < CRASH_PAYLOAD, "k%u: payload of %zu bytes", key, tm->payload_len);
			seen[key] = (struct crash_seen){ .present = true, .id = tm->timer_id,
							 .deadline = tm->deadline_mono_ns,
							 .payload_len = tm->payload_len };
			memcpy(seen[key].payload, tm->payload, tm->payload_len);
			n++;
		}
		cursor = l->next_cursor;
		timerd_list_free(l);
	} while (cursor);
	timerd_close(t);
	listed = tsd_now();
	for (unsigned key = 0; key < g.keys; key++)
		crash_check_key(key, &seen[key], listed);
	free(seen);
	return n;
}

/* --- main --- */

/* Reads the settings from the command line and the environment. */
static void crash_args(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "fsync", 1, NULL, 'f' }, { "kills", 1, NULL, 'k' }, { "keys", 1, NULL, 'K' },
		{ "conns", 1, NULL, 'c' }, { "depth", 1, NULL, 'd' }, { "snapshot-min-rows", 1, NULL, 's' },
		{ "grace", 1, NULL, 'g' }, { "seed", 1, NULL, 'S' }, { NULL, 0, NULL, 0 },
	};
	const char *top = getenv("top_builddir"), *env;
	int o;

	g = (struct crash){ .fsync = "always", .grace = "200ms", .kills = 20, .keys = 2000, .conns = 4,
			    .depth = 100, .budget = 60, .rng = (unsigned long long)time(NULL) ^ (unsigned long long)getpid() << 32 };
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'f': g.fsync = optarg; break;
		case 'k': g.kills = (unsigned)atoi(optarg); break;
		case 'K': g.keys = (unsigned)atoi(optarg); break;
		case 'c': g.conns = (unsigned)atoi(optarg); break;
		case 'd': g.depth = (unsigned)atoi(optarg); break;
		case 's': g.snap_min = optarg; break;
		case 'g': g.grace = optarg; break;
		case 'S': g.rng = strtoull(optarg, NULL, 0); break;
		default: fprintf(stderr, "usage: crash-durable [--fsync MODE] [--kills N] [--keys N] [--conns N] "
				 "[--depth N] [--snapshot-min-rows N] [--grace DURATION] [--seed N]\n");
			exit(2);
		}
	}
	if ((env = getenv("CRASH_KILLS")))
		g.kills = (unsigned)atoi(env);
	if ((env = getenv("CRASH_BUDGET")))
		g.budget = atof(env);
	STRESS_CHECK(g.conns >= 1 && g.conns <= CRASH_MAX_CONNS && g.keys >= g.conns && g.depth >= 1,
		     "bad --conns, --keys or --depth");
	g.rng |= 1;
	snprintf(g.bin, sizeof(g.bin), "%s/server/timerd", top ? top : ".");
}

int main(int argc, char **argv)
{
	double t0 = stress_now();
	unsigned done = 0, listed;
	char cmd[128];

	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	crash_args(argc, argv);
	snprintf(g.dir, sizeof(g.dir), "/tmp/timerd-crash.XXXXXX");
	STRESS_CHECK(mkdtemp(g.dir), "mkdtemp: %s", strerror(errno));
	snprintf(g.sock, sizeof(g.sock), "%s/timerd.sock", g.dir);
	snprintf(g.state, sizeof(g.state), "%s/state", g.dir);
	snprintf(g.log, sizeof(g.log), "%s/timerd.log", g.dir);
	g.k = calloc(g.keys, sizeof(*g.k));
	g.base = event_base_new();
	STRESS_CHECK(g.k && g.base, "out of memory");
	printf("crash-durable: fsync %s, grace %s, snapshot-min-rows %s, %u keys, %u conns x %u deep, "
	       "%u kills, budget %.0f s, seed %llu\n", g.fsync, g.grace, g.snap_min ? g.snap_min : "default",
	       g.keys, g.conns, g.depth, g.kills, g.budget, g.rng);
	for (;;) {
		double r0 = stress_now();

		g.unacked_round = 0;
		crash_start();
		crash_watch();
		listed = crash_check();
		if (done)
			printf("round %u: %" PRIu64 " sent, %" PRIu64 " acknowledged, %" PRIu64 " fires seen, "
			       "%" PRIu64 " unacknowledged at the kill, %u timers restored and checked, %.0f ms\n",
			       done, g.sent_round, g.acked_round, g.fires_round, g.unacked_round, listed, (stress_now() - r0) * 1e3);
		fflush(stdout);
		if (done == g.kills || stress_now() - t0 > g.budget)
			break;
		g.sent_round = g.acked_round = g.fires_round = 0;
		crash_load();
		crash_count_snapshots();
		done++;
	}
	/* the last restart was checked: stop cleanly */
	g.open_conns = 1 << 20;	/* the watcher's close must not break a loop that is not running */
	timerd_async_free(g.watcher);
	kill(g.pid, SIGTERM);
	{
		int st;

		waitpid(g.pid, &st, 0);
		if (!WIFEXITED(st) || WEXITSTATUS(st)) {
			struct tsd d = { 0 };

			snprintf(d.log, sizeof(d.log), "%s", g.log);
			tsd_dump_log(&d);
			STRESS_FAIL("timerd did not exit cleanly after the last check (status %d)", st);
		}
	}
	if (g.snap_min || g.snap_started)
		printf("snapshots: %" PRIu64 " begun, %" PRIu64 " finished, %" PRIu64 " runs killed during one\n",
		       g.snap_started, g.snap_done, g.snap_cut);
	printf("%u kills, %" PRIu64 " acknowledged changes checked, %" PRIu64 " lost (%" PRIu64 " fires seen, "
	       "%zu cancelled ids watched, %.1f s)\n", done, g.acked, g.lost, g.fires, g.cancelled.n, stress_now() - t0);
	if (done < g.kills)
		printf("stopped after %u of %u kills: the time budget of %.0f s was used\n", done, g.kills, g.budget);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g.dir);
	if (getenv("CRASH_KEEP"))
		printf("state dir kept: %s\n", g.dir);
	else if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", g.dir);
	free(g.k);
	free(g.cancelled.ids);
	free(g.cancelled.vals);
	event_base_free(g.base);
	return done == 0 ? 1 : 0;
}
