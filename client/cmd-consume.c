/*
 * cmd-consume.c -- timerctl consume GROUP -- COMMAND ARGS...: a job runner.
 * Subscribes to a consumer group (credit = --concurrency) with libtimerd's
 * async API on a libevent base and runs COMMAND once per delivery: the
 * fire's fields in the environment, the payload on stdin (a memfd); exit 0
 * acks, anything else nacks with the exit status or signal as the error;
 * --timeout kills it (SIGTERM, then SIGKILL) and nacks. Children are reaped
 * from a SIGCHLD signal event. When timerd goes away it reconnects with
 * backoff and carries on; SIGTERM/SIGINT stop taking deliveries, wait for
 * the running jobs, answer them and exit 0. A delivery given again while
 * its command still runs here is answered by that command's result.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "client/timerctl.h"
#include "proto/units.h"

static int cmd_consume_exec(struct ctl *ctl, int argc, char **argv);

const struct cmd_entry cmd_consume_entry = {
	.name = "consume",
	.usage = "GROUP [--concurrency N] [--timeout DURATION] -- COMMAND [ARGS...]",
	.help = "run COMMAND for each delivery of a consumer group: exit 0 acks, anything else nacks",
	.options =
		"  --concurrency N         run at most N commands at once (the subscription's credit; default 1)\n"
		"  --timeout DURATION      kill a command running longer and nack it (SIGTERM, then SIGKILL\n"
		"                          after --kill-after); the request timeout goes before `consume`\n"
		"  --kill-after DURATION   after --timeout's SIGTERM, SIGKILL this much later (default 5s)\n"
		"  --retry-after DURATION  a failed command's delivery is due again after this (default: the\n"
		"                          group's backoff)\n"
		"  --quiet                 do not log each command's result on stderr\n"
		"  TIMERD_KEY              COMMAND's environment is timerctl's plus the delivery's fields:\n"
		"                          TIMERD_KEY, TIMERD_TOPIC, TIMERD_GROUP, TIMERD_ATTEMPT (1, 2, 3...),\n"
		"                          TIMERD_DELIVERY_ID, TIMERD_TIMER_ID, TIMERD_DEADLINE (RFC 3339);\n"
		"                          the payload is on its stdin\n"
		"  exit status             0 acks the delivery; non-zero, a signal or --timeout nacks it\n"
		"                          (the status is the error kept with a dead letter)\n"
		"  reconnecting            when timerd goes away, consume reconnects with backoff and carries on;\n"
		"                          a delivery given again while its command still runs here is not run\n"
		"                          twice: the running command's result answers it\n"
		"  SIGTERM, SIGINT         take no new deliveries, wait for the running commands, answer them,\n"
		"                          exit 0\n",
	.exec = cmd_consume_exec,
};

#define CONSUME_BACKOFF_MIN_MS 100
#define CONSUME_BACKOFF_MAX_MS 5000

struct consume;

/* One delivery: queued (pid 0) or its command running. */
struct job {
	struct consume *k;
	struct job *next;
	uint64_t delivery_id, timer_id;
	uint32_t attempt;
	uint64_t gen;			/* the connection it came on */
	uint64_t answer_gen;		/* the connection its result answers on (a redelivery of it
					   that came while it ran: that one's) */
	uint32_t answer_attempt;	/* the attempt its result answers */
	char *key, *topic, *group;
	int64_t deadline_unix_ns;
	int payload_fd;			/* memfd with the payload, -1 once the child has it */
	pid_t pid;
	bool timed_out;
	struct event *timer;		/* --timeout, then --kill-after */
};

struct consume {
	struct ctl *ctl;
	struct event_base *base;
	const char *group;
	char **argv;			/* COMMAND ARGS..., NULL-terminated */
	uint32_t concurrency;
	int64_t timeout_ns, kill_after_ns, retry_after_ns;
	bool quiet;
	struct timerd_async *c;		/* NULL while disconnected */
	uint64_t gen;			/* connections made */
	bool subscribed;
	int backoff_ms;
	struct event *reconnect, *sigchld, *sigterm, *sigint;
	struct job *running, *queued;	/* lists; queued in arrival order */
	uint32_t n_running;
	bool stopping;
	int exit_code;
	bool said_waiting;		/* "cannot connect" logged once per outage */
};

static void consume_connect(struct consume *k);
static void consume_maybe_exit(struct consume *k);

/* Logs a line on stderr as "timerctl consume GROUP: ...". */
__attribute__((format(printf, 2, 3)))
static void consume_log(struct consume *k, const char *fmt, ...)
{
	char msg[CTL_SAFE_SZ], safe[4 * CTL_SAFE_SZ];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* lines carry server text (notices, errors): escaped for the terminal */
	fprintf(stderr, "%s consume %s: %s\n", k->ctl->prog, k->group, ctl_safe(msg, safe, sizeof(safe)));
}

/* Frees a job that is neither running nor queued. */
static void job_free(struct job *j)
{
	if (j->timer)
		event_free(j->timer);
	if (j->payload_fd >= 0)
		close(j->payload_fd);
	free(j->key);
	free(j->topic);
	free(j->group);
	free(j);
}

/* Removes j from a list. */
static void job_unlink(struct job **list, struct job *j)
{
	for (struct job **p = list; *p; p = &(*p)->next)
		if (*p == j) {
			*p = j->next;
			j->next = NULL;
			return;
		}
}

/* Ack or Nack reply: only logged when it failed (a delivery from an older connection is gone anyway). */
static void consume_answered(struct timerd_async *c, const struct timerd_reply *r, void *arg)
{
	struct consume *k = arg;

	(void)c;
	if (r->code != TIMERD_OK && r->code != TIMERD_ECLOSED)
		consume_log(k, "timerd refused the answer to a delivery: %s", r->message);
	consume_maybe_exit(k);
}

/* Describes a wait status as the nack's error: "exit status 3", "killed by signal 9 (SIGKILL)". */
static void consume_status(const struct job *j, int status, char *buf, size_t len)
{
	char d[UNITS_BUFSZ];

	if (j->timed_out)
		snprintf(buf, len, "timed out after %s (timerctl consume --timeout)",
			 units_duration_format(j->k->timeout_ns, d, sizeof(d)));
	else if (WIFEXITED(status))
		snprintf(buf, len, "exit status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
	else
		snprintf(buf, len, "wait status %#x", status);
}

static void consume_start_queued(struct consume *k);

/* A job's command ended with status: ack or nack it on the connection it came on. */
static void consume_done(struct consume *k, struct job *j, int status)
{
	char why[160];
	bool ok = !j->timed_out && WIFEXITED(status) && WEXITSTATUS(status) == 0;
	int rc = TIMERD_OK;

	job_unlink(&k->running, j);
	k->n_running--;
	consume_status(j, status, why, sizeof(why));
	if (!k->c || j->answer_gen != k->gen) {
		consume_log(k, "delivery %" PRIu64 " (key %s) ended (%s) after its connection was lost: timerd "
			    "delivers it again", j->delivery_id, j->key, ok ? "ok" : why);
	} else if (ok) {
		rc = timerd_async_ack(k->c, j->delivery_id, consume_answered, k);
		if (!k->quiet)
			consume_log(k, "delivery %" PRIu64 " key %s attempt %u: ok, acked", j->delivery_id, j->key,
				    j->answer_attempt);
	} else {
		rc = timerd_async_nack(k->c, j->delivery_id, k->retry_after_ns, why, consume_answered, k);
		if (!k->quiet)
			consume_log(k, "delivery %" PRIu64 " key %s attempt %u: %s, nacked", j->delivery_id, j->key,
				    j->answer_attempt, why);
	}
	if (rc != TIMERD_OK)
		consume_log(k, "cannot answer delivery %" PRIu64 ": %s (timerd delivers it again)", j->delivery_id,
			    timerd_strerror(rc));
	job_free(j);
	consume_start_queued(k);
	consume_maybe_exit(k);
}

/* SIGCHLD: reaps every child that ended. */
static void consume_on_sigchld(evutil_socket_t sig, short what, void *arg)
{
	struct consume *k = arg;
	int status;
	pid_t pid;

	(void)sig;
	(void)what;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (struct job *j = k->running; j; j = j->next)
			if (j->pid == pid) {
				consume_done(k, j, status);
				break;
			}
	}
}

/* --timeout, then --kill-after: SIGTERM, then SIGKILL to the command's process group. */
static void consume_on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct job *j = arg;
	struct timeval tv = { .tv_sec = j->k->kill_after_ns / TIMERD_S,
			      .tv_usec = j->k->kill_after_ns % TIMERD_S / 1000 };

	(void)fd;
	(void)what;
	if (!j->timed_out) {
		j->timed_out = true;
		kill(-j->pid, SIGTERM);
		kill(j->pid, SIGTERM);
		evtimer_add(j->timer, &tv);
		return;
	}
	kill(-j->pid, SIGKILL);
	kill(j->pid, SIGKILL);
}

/* Sets one TIMERD_* variable in the child (before exec; the child is single-threaded). */
static void consume_setenv_u64(const char *name, uint64_t v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	setenv(name, buf, 1);
}

/* Forks and execs the command for j; false (logged, nacked) if it could not start. */
static bool consume_spawn(struct consume *k, struct job *j)
{
	char when[UNITS_BUFSZ];
	pid_t pid;

	units_time_format(j->deadline_unix_ns, true, when, sizeof(when));
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		consume_log(k, "cannot fork: %s", strerror(errno));
		return false;
	}
	if (pid == 0) {
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGCHLD, SIG_DFL);
		setpgid(0, 0);	/* --timeout kills the command's whole group; the terminal's ^C is consume's */
		if (dup2(j->payload_fd, STDIN_FILENO) < 0)
			_exit(126);
		unsetenv("TIMERD_SECRET");	/* the identity's secret (ctl_secret) is not the command's */
		setenv("TIMERD_KEY", j->key, 1);
		setenv("TIMERD_TOPIC", j->topic, 1);
		setenv("TIMERD_GROUP", j->group, 1);
		consume_setenv_u64("TIMERD_ATTEMPT", j->attempt);
		consume_setenv_u64("TIMERD_DELIVERY_ID", j->delivery_id);
		consume_setenv_u64("TIMERD_TIMER_ID", j->timer_id);
		setenv("TIMERD_DEADLINE", when, 1);
		execvp(k->argv[0], k->argv);
		fprintf(stderr, "%s consume: cannot run %s: %s\n", k->ctl->prog, k->argv[0], strerror(errno));
		_exit(errno == ENOENT ? 127 : 126);
	}
	setpgid(pid, pid);	/* also here: no race with a kill before the child ran setpgid */
	close(j->payload_fd);
	j->payload_fd = -1;
	j->pid = pid;
	if (k->timeout_ns > 0) {
		struct timeval tv = { .tv_sec = k->timeout_ns / TIMERD_S, .tv_usec = k->timeout_ns % TIMERD_S / 1000 };

		if (!(j->timer = evtimer_new(k->base, consume_on_timeout, j)) || evtimer_add(j->timer, &tv) < 0)
			consume_log(k, "out of memory: delivery %" PRIu64 " runs without --timeout", j->delivery_id);
	}
	return true;
}

/* Runs queued jobs while there is room under --concurrency. */
static void consume_start_queued(struct consume *k)
{
	while (k->queued && k->n_running < k->concurrency && !k->stopping) {
		struct job *j = k->queued;

		k->queued = j->next;
		j->next = NULL;
		if (j->gen != k->gen || !k->c) {	/* its connection is gone: timerd delivers it again */
			job_free(j);
			continue;
		}
		if (!consume_spawn(k, j)) {
			timerd_async_nack(k->c, j->delivery_id, k->retry_after_ns, "timerctl consume could not fork",
					  consume_answered, k);
			job_free(j);
			continue;
		}
		j->next = k->running;
		k->running = j;
		k->n_running++;
	}
}

/* Copies a delivery into a queued job; NULL if out of memory. */
static struct job *consume_job(struct consume *k, const struct timerd_event *ev)
{
	struct job *j = calloc(1, sizeof(*j));
	const struct timerd_fire *f = &ev->fire;

	if (!j)
		return NULL;
	j->k = k;
	j->payload_fd = -1;
	j->delivery_id = ev->delivery.delivery_id;
	j->attempt = ev->delivery.attempt;
	j->timer_id = f->timer_id;
	j->deadline_unix_ns = f->deadline_unix_ns;
	j->gen = j->answer_gen = k->gen;
	j->answer_attempt = j->attempt;
	j->key = strdup(f->key);
	j->topic = strdup(f->topic);
	j->group = strdup(*ev->delivery.group ? ev->delivery.group : k->group);
	j->payload_fd = memfd_create("timerd-payload", MFD_CLOEXEC);
	if (!j->key || !j->topic || !j->group || j->payload_fd < 0) {
		job_free(j);
		return NULL;
	}
	for (size_t off = 0; off < f->payload_len;) {
		ssize_t w = write(j->payload_fd, (const char *)f->payload + off, f->payload_len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			job_free(j);
			return NULL;
		}
		off += (size_t)w;
	}
	lseek(j->payload_fd, 0, SEEK_SET);
	return j;
}

/*
 * A delivery timerd gives again while its command still runs here (after an
 * ack timeout, or on a new connection after timerd went away): the running
 * command is not started a second time; its result answers the new
 * attempt. True if ev was taken so.
 */
static bool consume_attach(struct consume *k, const struct timerd_event *ev)
{
	for (struct job *j = k->running; j; j = j->next) {
		if (j->delivery_id != ev->delivery.delivery_id)
			continue;
		j->answer_gen = k->gen;
		j->answer_attempt = ev->delivery.attempt;
		if (!k->quiet)
			consume_log(k, "delivery %" PRIu64 " key %s attempt %u: still running here (attempt %u): its "
				    "result answers this attempt", j->delivery_id, j->key, ev->delivery.attempt, j->attempt);
		return true;
	}
	for (struct job *j = k->queued; j; j = j->next) {
		if (j->delivery_id != ev->delivery.delivery_id)
			continue;
		j->gen = j->answer_gen = k->gen;
		j->attempt = j->answer_attempt = ev->delivery.attempt;
		return true;
	}
	return false;
}

/* A pushed event: a delivery is queued and started when there is room. */
static void consume_on_event(struct timerd_async *c, const struct timerd_event *ev, void *arg)
{
	struct consume *k = arg;
	struct job *j, **tail;

	(void)c;
	if (ev->kind == TIMERD_EVENT_NOTICE) {
		if (ev->notice.kind != TIMERD_NOTICE_SHUTDOWN)
			consume_log(k, "notice from timerd: %s", ev->notice.message);
		return;
	}
	if (ev->kind != TIMERD_EVENT_FIRE || !ev->delivery.delivery_id)
		return;	/* a plain fire (not a delivery): nothing to run */
	if (consume_attach(k, ev))
		return;
	if (!(j = consume_job(k, ev))) {
		consume_log(k, "cannot take delivery %" PRIu64 ": %s", ev->delivery.delivery_id, strerror(errno));
		timerd_async_nack(k->c, ev->delivery.delivery_id, k->retry_after_ns, "timerctl consume: out of memory",
				  consume_answered, k);
		return;
	}
	for (tail = &k->queued; *tail; tail = &(*tail)->next)
		;
	*tail = j;
	consume_start_queued(k);
}

/* Arms the reconnect timer after the current backoff (doubling, with jitter). */
static void consume_retry_later(struct consume *k)
{
	int ms = k->backoff_ms / 2 + (int)(random() % (k->backoff_ms / 2 + 1));
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = ms % 1000 * 1000 };

	k->backoff_ms = k->backoff_ms * 2 > CONSUME_BACKOFF_MAX_MS ? CONSUME_BACKOFF_MAX_MS : k->backoff_ms * 2;
	evtimer_add(k->reconnect, &tv);
}

/* Drops the connection's queued jobs: timerd delivers them again. */
static void consume_drop_queued(struct consume *k)
{
	while (k->queued) {
		struct job *j = k->queued;

		k->queued = j->next;
		job_free(j);
	}
}

/* The connection was lost: running commands carry on; reconnect unless stopping. */
static void consume_on_close(struct timerd_async *c, int code, const char *message, void *arg)
{
	struct consume *k = arg;

	(void)code;
	if (k->c != c)
		return;
	k->c = NULL;
	k->subscribed = false;
	timerd_async_free(c);	/* safe in the callback: freed once it returns */
	consume_drop_queued(k);
	if (k->stopping) {
		consume_maybe_exit(k);
		return;
	}
	consume_log(k, "lost timerd (%s); reconnecting", message);
	k->said_waiting = true;
	consume_retry_later(k);
}

/* Subscribe's reply: a group that does not exist ends consume; other failures reconnect. */
static void consume_subscribed(struct timerd_async *c, const struct timerd_reply *r, void *arg)
{
	struct consume *k = arg;

	if (k->c != c)
		return;
	if (r->code == TIMERD_OK) {
		k->subscribed = true;
		k->backoff_ms = CONSUME_BACKOFF_MIN_MS;
		if (k->said_waiting)
			consume_log(k, "connected to timerd again, consuming");
		k->said_waiting = false;
		consume_maybe_exit(k);
		return;
	}
	if (r->code == TIMERD_ECLOSED)
		return;	/* consume_on_close handles it */
	if (r->code == TIMERD_ENOTFOUND || r->code == TIMERD_EINVAL || r->code == TIMERD_EPERM ||
	    r->code == TIMERD_EUNKNOWNOP) {
		consume_log(k, "cannot subscribe: %s%s", r->message,
			    r->code == TIMERD_ENOTFOUND	   ? " (create it with `timerctl group create`)"
			    : r->code == TIMERD_EUNKNOWNOP ? " (this timerd has no consumer groups: upgrade it)"
							   : "");
		k->exit_code = r->code == TIMERD_ENOTFOUND ? CTL_EXIT_NOTFOUND : CTL_EXIT_FAILED;
		k->stopping = true;
		k->c = NULL;
		timerd_async_free(c);
		consume_drop_queued(k);
		consume_maybe_exit(k);
		return;
	}
	consume_log(k, "cannot subscribe: %s; retrying", r->message);
	k->c = NULL;
	timerd_async_free(c);
	consume_drop_queued(k);
	consume_retry_later(k);
}

/* Connects and subscribes; on failure retries after the backoff. */
static void consume_connect(struct consume *k)
{
	struct timerd_options opt = ctl_options(k->ctl);
	struct timerd_error e;
	int rc;

	if (k->stopping)
		return;
	rc = timerd_async_connect(k->base, k->ctl->addr, &opt, &k->c, &e);
	if (rc != TIMERD_OK) {
		if (!k->said_waiting)
			consume_log(k, "%s; retrying until it answers", e.message);
		k->said_waiting = true;
		consume_retry_later(k);
		return;
	}
	k->gen++;
	timerd_async_set_event_cb(k->c, consume_on_event, k);
	timerd_async_set_close_cb(k->c, consume_on_close, k);
	if ((rc = timerd_async_subscribe(k->c, k->group, k->concurrency, consume_subscribed, k)) != TIMERD_OK) {
		timerd_async_free(k->c);
		k->c = NULL;
		consume_retry_later(k);
	}
}

/* The reconnect timer. */
static void consume_on_reconnect(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	consume_connect(arg);
}

/* Ends the loop once stopping and nothing runs or waits for an answer. */
static void consume_maybe_exit(struct consume *k)
{
	if (!k->stopping || k->n_running)
		return;
	if (k->c && timerd_async_pending(k->c))
		return;	/* answers not yet confirmed (an ack is durable when its reply comes) */
	/* closing the connection hands deliveries pushed after the last answers back to timerd at once */
	event_base_loopbreak(k->base);
}

/* SIGTERM, SIGINT: stop taking deliveries, let the running commands finish. */
static void consume_on_stop(evutil_socket_t sig, short what, void *arg)
{
	struct consume *k = arg;

	(void)what;
	if (k->stopping)
		return;
	k->stopping = true;
	evtimer_del(k->reconnect);
	if (k->n_running)
		consume_log(k, "%s: waiting for %u running command%s, then exiting", strsignal((int)sig), k->n_running,
			    k->n_running == 1 ? "" : "s");
	consume_maybe_exit(k);
}

enum { O_CONC = 0x200, O_TIMEOUT, O_KILL_AFTER, O_RETRY_AFTER, O_QUIET };

/* Handles one option; CTL_EXIT_OK to go on, CTL_DONE after --help, else the exit code (message printed). */
static int consume_opt(struct ctl *ctl, struct consume *k, int c, const char *arg)
{
	uint64_t n;
	int rc;

	switch (c) {
	case O_CONC:
		if (!ctl_u64(ctl, "--concurrency", arg, &n))
			return CTL_EXIT_USAGE;
		if (n < 1 || n > 10000)	/* timerd's most credit per subscription (GROUP_MAX_CREDIT) */
			return ctl_usage(ctl, &cmd_consume_entry, "--concurrency: 1 to 10000");
		k->concurrency = (uint32_t)n;
		return CTL_EXIT_OK;
	case O_TIMEOUT:
		return ctl_duration(ctl, "--timeout", arg, &k->timeout_ns) ? CTL_EXIT_OK : CTL_EXIT_USAGE;
	case O_KILL_AFTER:
		return ctl_duration(ctl, "--kill-after", arg, &k->kill_after_ns) ? CTL_EXIT_OK : CTL_EXIT_USAGE;
	case O_RETRY_AFTER:
		return ctl_duration(ctl, "--retry-after", arg, &k->retry_after_ns) ? CTL_EXIT_OK : CTL_EXIT_USAGE;
	case O_QUIET:
		k->quiet = true;
		return CTL_EXIT_OK;
	default:
		if (ctl_global_opt(ctl, &cmd_consume_entry, c, arg, &rc))
			return rc == CTL_EXIT_OK ? CTL_DONE : rc;
		return CTL_EXIT_OK;
	}
}

/* timerctl consume. */
static int cmd_consume_exec(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		/* before the globals: --timeout here is the command's (getopt_long takes the first exact match) */
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "concurrency", required_argument, NULL, O_CONC },
		{ "kill-after", required_argument, NULL, O_KILL_AFTER },
		{ "retry-after", required_argument, NULL, O_RETRY_AFTER },
		{ "quiet", no_argument, NULL, O_QUIET },
		CTL_GLOBAL_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	struct consume k = { .ctl = ctl, .concurrency = 1, .kill_after_ns = 5 * TIMERD_S,
			     .backoff_ms = CONSUME_BACKOFF_MIN_MS };
	int c, rc;

	/* "+": options stop at GROUP (and again at --), so COMMAND's own flags stay its own */
	for (int pass = 0; pass < 2; pass++) {
		while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1)
			if ((rc = consume_opt(ctl, &k, c, optarg)) != CTL_EXIT_OK)
				return rc == CTL_DONE ? CTL_EXIT_OK : rc;
		if (pass || optind >= argc || strcmp(argv[optind - 1], "--") == 0)
			break;
		k.group = argv[optind++];	/* options may come after GROUP too */
	}
	if (!k.group || !*k.group)
		return ctl_usage(ctl, &cmd_consume_entry, "say which GROUP to consume");
	if (optind >= argc || strcmp(argv[optind - 1], "--") != 0)
		return ctl_usage(ctl, &cmd_consume_entry, "give the COMMAND to run after --");
	k.argv = argv + optind;
	if (k.timeout_ns < 0 || k.kill_after_ns <= 0 || k.retry_after_ns < 0)
		return ctl_usage(ctl, &cmd_consume_entry, "durations must be positive");

	srandom((unsigned)(getpid() ^ ctl_mono()));
	if (!(k.base = event_base_new()))
		return ctl_fail(ctl, CTL_EXIT_FAILED, "consume: cannot create an event loop (out of memory?)");
	k.reconnect = evtimer_new(k.base, consume_on_reconnect, &k);
	k.sigchld = evsignal_new(k.base, SIGCHLD, consume_on_sigchld, &k);
	k.sigterm = evsignal_new(k.base, SIGTERM, consume_on_stop, &k);
	k.sigint = evsignal_new(k.base, SIGINT, consume_on_stop, &k);
	if (!k.reconnect || !k.sigchld || !k.sigterm || !k.sigint || evsignal_add(k.sigchld, NULL) < 0 ||
	    evsignal_add(k.sigterm, NULL) < 0 || evsignal_add(k.sigint, NULL) < 0)
		return ctl_fail(ctl, CTL_EXIT_FAILED, "consume: cannot set up the event loop (out of memory?)");
	consume_connect(&k);
	event_base_dispatch(k.base);
	if (k.c)
		timerd_async_free(k.c);
	consume_drop_queued(&k);
	event_free(k.reconnect);
	event_free(k.sigchld);
	event_free(k.sigterm);
	event_free(k.sigint);
	event_base_free(k.base);
	return k.exit_code;
}
