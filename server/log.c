/*
 * log.c -- levels, targets, SIGHUP reopen, rate limiting (see log.h).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "server/log.h"

#define LOG_RL_PER_SEC 10

enum log_target {
	LOG_TO_STDERR,
	LOG_TO_SYSLOG,
	LOG_TO_FILE,
};

static struct {
	_Atomic int level;
	_Atomic int fd;			/* stderr or the file */
	_Atomic int target;		/* enum log_target; changed by a reload */
	char path[4096];
	int file_fd;			/* the log files' one descriptor number, -1 before the first (reopen_lock) */
	pthread_mutex_t reopen_lock;	/* serialises open, reopen, retarget and close */
} log_state = { .level = LOG_LVL_INFO, .fd = STDERR_FILENO, .file_fd = -1,
		.reopen_lock = PTHREAD_MUTEX_INITIALIZER };

static const char *const log_names[] = { "error", "warning", "notice", "info", "debug" };
static const int log_syslog_prio[] = { LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG };

/* The level's name. */
const char *log_level_name(enum log_level level)
{
	return (unsigned)level < 5 ? log_names[level] : "?";
}

/* Parses a level name. */
int log_level_parse(const char *s, enum log_level *level)
{
	for (int i = 0; i < 5; i++) {
		if (strcmp(s, log_names[i]) == 0 || (i == LOG_LVL_WARN && strcmp(s, "warn") == 0) ||
		    (i == LOG_LVL_ERR && strcmp(s, "err") == 0)) {
			*level = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

/* True if lines at level are written. */
bool log_enabled(enum log_level level)
{
	/* relaxed: the level is a setting; a stale read logs or skips one line */
	return (int)level <= atomic_load_explicit(&log_state.level, memory_order_relaxed);
}

/* Writes a formatted line to the fd target. */
static void log_write_fd(enum log_level level, const char *func, const char *msg)
{
	char line[2048], ts[32];
	struct timespec now;
	struct tm tm;
	int n;

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	n = snprintf(line, sizeof(line), "%s.%03ldZ timerd[%d]: %s: %s: %s\n", ts, now.tv_nsec / 1000000,
		     (int)getpid(), log_level_name(level), func, msg);
	if (n >= (int)sizeof(line)) {
		n = sizeof(line);
		line[n - 1] = '\n';
	}
	/* relaxed: a line racing a reopen goes to the old or the new file */
	if (write(atomic_load_explicit(&log_state.fd, memory_order_relaxed), line, (size_t)n) < 0)
		(void)0;	/* nowhere left to report it */
}

/* Writes one line at level. */
void log_msg(enum log_level level, const char *func, const char *fmt, ...)
{
	char msg[1536];
	va_list ap;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* relaxed: a line racing a reload goes to the old or the new target */
	if (atomic_load_explicit(&log_state.target, memory_order_relaxed) == LOG_TO_SYSLOG)
		syslog(log_syslog_prio[level], "%s: %s", func, msg);
	else
		log_write_fd(level, func, msg);
}

/* libevent's log callback: its warnings and errors become ours. */
static void log_libevent(int severity, const char *msg)
{
	enum log_level level = severity >= EVENT_LOG_ERR ? LOG_LVL_ERR : severity == EVENT_LOG_WARN ? LOG_LVL_WARN
			     : severity == EVENT_LOG_MSG ? LOG_LVL_INFO : LOG_LVL_DEBUG;

	log_msg(level, "libevent", "%s", msg);
}

/* Opens the log file at log_state.path; the fd or -1. */
static int log_open_file(void)
{
	return open(log_state.path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
}

/*
 * Makes the file fd (just opened) the log file, under reopen_lock. The log
 * keeps one descriptor number for its files for its whole life: the first
 * file's, onto which each later file is dup3'ed. A writer that loaded that
 * number just before a reopen writes to the old file or the new one, never
 * to a closed or reused descriptor (closing the old fd could hand its
 * number to timers.db before a racing write lands).
 */
static void log_install_file(int fd)
{
	if (log_state.file_fd < 0) {
		log_state.file_fd = fd;
	} else {
		if (dup3(fd, log_state.file_fd, O_CLOEXEC) < 0)
			log_err("cannot switch the log file: %s", strerror(errno));
		close(fd);
	}
	/* relaxed: writers read the fd number once per line; the number stays valid until log_close */
	atomic_store_explicit(&log_state.fd, log_state.file_fd, memory_order_relaxed);
	atomic_store_explicit(&log_state.target, LOG_TO_FILE, memory_order_relaxed);
}

/* Opens the log. */
int log_open(const char *target, enum log_level level, char *err, size_t errlen)
{
	int fd;

	atomic_store_explicit(&log_state.level, (int)level, memory_order_relaxed);
	event_set_log_callback(log_libevent);
	if (!target || strcmp(target, "stderr") == 0) {
		atomic_store_explicit(&log_state.target, LOG_TO_STDERR, memory_order_relaxed);
		return 0;
	}
	if (strcmp(target, "syslog") == 0) {
		openlog("timerd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
		atomic_store_explicit(&log_state.target, LOG_TO_SYSLOG, memory_order_relaxed);
		return 0;
	}
	snprintf(log_state.path, sizeof(log_state.path), "%s", target);
	if ((fd = log_open_file()) < 0) {
		snprintf(err, errlen, "cannot open log file %s: %s (give --log stderr, syslog or a writable path)",
			 target, strerror(errno));
		return -1;
	}
	pthread_mutex_lock(&log_state.reopen_lock);
	log_install_file(fd);
	pthread_mutex_unlock(&log_state.reopen_lock);
	return 0;
}

/* Sets the level. */
void log_set_level(enum log_level level)
{
	/* relaxed: the level is a setting; a stale read logs or skips one line (log_enabled) */
	atomic_store_explicit(&log_state.level, (int)level, memory_order_relaxed);
}

/* Switches to target: the new file is opened first; no descriptor a writer may hold is closed. */
int log_retarget(const char *target, char *err, size_t errlen)
{
	int fd = -1, kind = LOG_TO_FILE, was;

	if (strcmp(target, "stderr") == 0)
		kind = LOG_TO_STDERR;
	else if (strcmp(target, "syslog") == 0)
		kind = LOG_TO_SYSLOG;
	else if ((fd = open(target, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640)) < 0) {
		snprintf(err, errlen, "cannot open log file %s: %s (give log = stderr, syslog or a writable path)", target,
			 strerror(errno));
		return -1;
	}
	pthread_mutex_lock(&log_state.reopen_lock);
	/* relaxed: the target changes only under reopen_lock; writers read it once per line */
	was = atomic_load_explicit(&log_state.target, memory_order_relaxed);
	if (kind == LOG_TO_SYSLOG && was != LOG_TO_SYSLOG)
		openlog("timerd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	if (kind == LOG_TO_FILE) {
		snprintf(log_state.path, sizeof(log_state.path), "%s", target);
		log_install_file(fd);
	} else {
		if (kind == LOG_TO_STDERR)	/* the file's descriptor stays open (a writer may hold it) */
			atomic_store_explicit(&log_state.fd, STDERR_FILENO, memory_order_relaxed);
		atomic_store_explicit(&log_state.target, kind, memory_order_relaxed);
	}
	if (was == LOG_TO_SYSLOG && kind != LOG_TO_SYSLOG)
		closelog();
	pthread_mutex_unlock(&log_state.reopen_lock);
	return 0;
}

/* Reopens a log file. */
void log_reopen(void)
{
	int fd;

	pthread_mutex_lock(&log_state.reopen_lock);
	/* relaxed: the target changes only under reopen_lock */
	if (atomic_load_explicit(&log_state.target, memory_order_relaxed) != LOG_TO_FILE) {
		pthread_mutex_unlock(&log_state.reopen_lock);
		return;
	}
	if ((fd = log_open_file()) < 0) {
		log_err("cannot reopen log file %s: %s; still writing to the old one", log_state.path, strerror(errno));
	} else {
		log_install_file(fd);
		log_notice("log file %s reopened", log_state.path);
	}
	pthread_mutex_unlock(&log_state.reopen_lock);
}

/* Closes the log (at exit, once no other thread logs). */
void log_close(void)
{
	pthread_mutex_lock(&log_state.reopen_lock);
	/* relaxed: the target changes only under reopen_lock */
	if (atomic_load_explicit(&log_state.target, memory_order_relaxed) == LOG_TO_SYSLOG)
		closelog();
	atomic_store_explicit(&log_state.fd, STDERR_FILENO, memory_order_relaxed);
	atomic_store_explicit(&log_state.target, LOG_TO_STDERR, memory_order_relaxed);
	if (log_state.file_fd >= 0)
		close(log_state.file_fd);
	log_state.file_fd = -1;
	pthread_mutex_unlock(&log_state.reopen_lock);
}

/* True if a rate-limited line may be logged now. */
bool log_rl_allow(struct log_rl *rl, enum log_level level, const char *func)
{
	int64_t now = (int64_t)time(NULL);
	uint64_t dropped;

	/* relaxed throughout: the limit is approximate by design */
	if (atomic_load_explicit(&rl->window, memory_order_relaxed) != now) {
		atomic_store_explicit(&rl->window, now, memory_order_relaxed);
		atomic_store_explicit(&rl->n, 0, memory_order_relaxed);
		dropped = atomic_exchange_explicit(&rl->suppressed, 0, memory_order_relaxed);
		if (dropped)
			log_msg(level, func, "%llu similar messages suppressed", (unsigned long long)dropped);
	}
	if (atomic_fetch_add_explicit(&rl->n, 1, memory_order_relaxed) < LOG_RL_PER_SEC)
		return true;
	atomic_fetch_add_explicit(&rl->suppressed, 1, memory_order_relaxed);
	return false;
}
