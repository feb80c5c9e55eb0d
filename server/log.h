/*
 * log.h -- timerd's log: levels, stderr or syslog or a file, reopened on
 * SIGHUP; every line names the function that logged it.
 *
 * Usage:
 *
 *	log_open("stderr", LOG_LVL_INFO, err, sizeof(err));
 *	log_info("listening on %s", path);
 *	log_info_rl("closing %s: %s", peer, why);   at most 10 a second per call site
 *	log_reopen();                               from the SIGHUP handler's callback
 *	log_close();
 *
 * Thread-safe: a line is formatted on the caller's stack and written with
 * one write(2), so lines from different threads never interleave.
 */
#ifndef TIMERD_LOG_H
#define TIMERD_LOG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum log_level {
	LOG_LVL_ERR = 0,
	LOG_LVL_WARN = 1,
	LOG_LVL_NOTICE = 2,
	LOG_LVL_INFO = 3,
	LOG_LVL_DEBUG = 4,
};

/* Per-call-site rate limit state (see log_info_rl). */
struct log_rl {
	_Atomic int64_t window;		/* second of the current window */
	_Atomic uint32_t n;		/* lines logged in it */
	_Atomic uint64_t suppressed;	/* lines dropped since the last report */
};

/*
 * Opens the log: target "stderr", "syslog" or a file path (appended to);
 * 0 or -1 with a message in err. Routes libevent's messages here too.
 */
int log_open(const char *target, enum log_level level, char *err, size_t errlen);

/* Reopens a log file (after logrotate moved it); a no-op for stderr and syslog. */
void log_reopen(void);

/* Sets the level (a reload); lines of other threads follow within a line or two. */
void log_set_level(enum log_level level);

/*
 * Switches to another target (a reload): the new one is opened first, so
 * on failure (0 or -1 with err) the log goes on where it was.
 */
int log_retarget(const char *target, char *err, size_t errlen);

/* Closes the log; later lines go to stderr. */
void log_close(void);

/* Parses "error", "warning", "notice", "info" or "debug"; 0 or -1. */
int log_level_parse(const char *s, enum log_level *level);

/* The level's name. */
const char *log_level_name(enum log_level level);

/* True if lines at level are written. */
bool log_enabled(enum log_level level);

/* Writes one line at level, prefixed with func. */
void log_msg(enum log_level level, const char *func, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* True if a rate-limited line may be logged now (reports suppressed ones first). */
bool log_rl_allow(struct log_rl *rl, enum log_level level, const char *func);

#define log_err(...)	log_msg(LOG_LVL_ERR, __func__, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_LVL_WARN, __func__, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_LVL_NOTICE, __func__, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_LVL_INFO, __func__, __VA_ARGS__)
#define log_debug(...)	do { if (log_enabled(LOG_LVL_DEBUG)) log_msg(LOG_LVL_DEBUG, __func__, __VA_ARGS__); } while (0)

/* Logs at level, at most 10 lines a second from this call site. */
#define log_rl(level, ...)							\
	do {									\
		static struct log_rl log_rl_site_;				\
		if (log_enabled(level) && log_rl_allow(&log_rl_site_, level, __func__)) \
			log_msg(level, __func__, __VA_ARGS__);			\
	} while (0)
#define log_info_rl(...) log_rl(LOG_LVL_INFO, __VA_ARGS__)
#define log_warn_rl(...) log_rl(LOG_LVL_WARN, __VA_ARGS__)

#endif /* TIMERD_LOG_H */
