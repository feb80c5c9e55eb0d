/*
 * timerctl.h -- what timerctl's subcommands share: the command table entry,
 * global options, connecting, exit codes, human and JSON output.
 *
 * Each subcommand lives in client/cmd-NAME.c and exports one entry:
 *
 *	const struct cmd_entry cmd_ping_entry = {
 *		.name = "ping",
 *		.usage = "[--count N]",
 *		.help = "measure the round trip to timerd",
 *		.exec = cmd_ping_exec,
 *	};
 */
#ifndef TIMERD_TIMERCTL_H
#define TIMERD_TIMERCTL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "client/timerd.h"

/* Exit codes (documented in timerctl --help and doc/client.md). */
enum ctl_exit {
	CTL_EXIT_OK = 0,
	CTL_EXIT_FAILED = 1,		/* timerd refused the request */
	CTL_EXIT_USAGE = 2,		/* bad command line */
	CTL_EXIT_UNREACHABLE = 3,	/* cannot reach timerd, or the connection broke */
	CTL_EXIT_NOTFOUND = 4,		/* no such timer (get, cancel) */
	CTL_EXIT_TIMEOUT = 5,		/* --wait or watch --timeout ran out */
	CTL_EXIT_TEMPORARY = 6,		/* nothing was done, retry later (STORAGE: timerd
					   cannot write its store) */
};

/* Not an exit code: a parser's "stop now, all is done" (after --help); the command exits CTL_EXIT_OK. */
#define CTL_DONE (-1)

/* Global state: options given before or after the subcommand. */
struct ctl {
	const char *prog;		/* argv[0] basename */
	const char *addr;		/* --socket / --connect; NULL: default */
	bool json;			/* --json */
	int timeout_ms;			/* --timeout */
	bool tls;			/* --tls (or a tls:// address) */
	struct timerd_tls tls_opt;	/* --ca, --cert, --key, --server-name */
	struct timerd *t;		/* connected by ctl_connect */
};

struct cmd_entry {
	const char *name;
	const char *usage;		/* arguments after the name */
	const char *help;		/* one line */
	const char *options;		/* the command's options, one per line */
	int (*exec)(struct ctl *ctl, int argc, char **argv);	/* argv[0] is the name */
};

extern const struct cmd_entry cmd_arm_entry;
extern const struct cmd_entry cmd_calendar_entry;
extern const struct cmd_entry cmd_cancel_entry;
extern const struct cmd_entry cmd_consume_entry;
extern const struct cmd_entry cmd_dlq_entry;
extern const struct cmd_entry cmd_get_entry;
extern const struct cmd_entry cmd_group_entry;
extern const struct cmd_entry cmd_list_entry;
extern const struct cmd_entry cmd_ping_entry;
extern const struct cmd_entry cmd_probe_entry;
extern const struct cmd_entry cmd_stats_entry;
extern const struct cmd_entry cmd_top_entry;
extern const struct cmd_entry cmd_watch_entry;

/* Long options every subcommand accepts (getopt_long values 0x100..). */
#define CTL_OPT_SOCKET	0x100
#define CTL_OPT_CONNECT 0x101
#define CTL_OPT_JSON	0x102
#define CTL_OPT_TIMEOUT 0x103
#define CTL_OPT_HELP	'h'
#define CTL_OPT_TLS	0x110
#define CTL_OPT_CA	0x111
#define CTL_OPT_CERT	0x112
#define CTL_OPT_KEY	0x113
#define CTL_OPT_SNAME	0x114
#define CTL_GLOBAL_LONGOPTS						\
	{ "socket", required_argument, NULL, CTL_OPT_SOCKET },		\
	{ "connect", required_argument, NULL, CTL_OPT_CONNECT },	\
	{ "json", no_argument, NULL, CTL_OPT_JSON },			\
	{ "timeout", required_argument, NULL, CTL_OPT_TIMEOUT },	\
	{ "tls", no_argument, NULL, CTL_OPT_TLS },			\
	{ "ca", required_argument, NULL, CTL_OPT_CA },			\
	{ "cert", required_argument, NULL, CTL_OPT_CERT },		\
	{ "cert-key", required_argument, NULL, CTL_OPT_KEY },	\
	{ "server-name", required_argument, NULL, CTL_OPT_SNAME },	\
	{ "help", no_argument, NULL, CTL_OPT_HELP }

/*
 * Handles an option getopt_long returned that the subcommand does not know
 * itself (a global option, --help, or '?'); true if the command must stop
 * now with *exit_code (0 after --help, 2 after a bad option).
 */
/* The connection options for ctl (TLS when --tls or any TLS option was given). */
struct timerd_options ctl_options(struct ctl *ctl);

bool ctl_global_opt(struct ctl *ctl, const struct cmd_entry *cmd, int c, const char *arg, int *exit_code);

/* Prints a command's usage line and help to f. */
void ctl_cmd_help(struct ctl *ctl, const struct cmd_entry *cmd, FILE *f);

/* Connects ctl->t; an exit code (CTL_EXIT_OK or UNREACHABLE, message printed). */
int ctl_connect(struct ctl *ctl);

/* Prints "timerctl: <message>" to stderr; returns code. */
int ctl_fail(struct ctl *ctl, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Reports a failed library call on ctl->t; returns the matching exit code. */
int ctl_fail_call(struct ctl *ctl, int rc, const char *what);

/* Prints a usage error for a command; returns CTL_EXIT_USAGE. */
int ctl_usage(struct ctl *ctl, const struct cmd_entry *cmd, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Parses a duration option; false (message printed) if bad. */
bool ctl_duration(struct ctl *ctl, const char *opt, const char *s, int64_t *ns);

/* Parses an unsigned integer option; false (message printed) if bad. */
bool ctl_u64(struct ctl *ctl, const char *opt, const char *s, uint64_t *v);

/* Parses `CMD KEY | --id ID` with the global options; CTL_EXIT_OK, CTL_DONE (--help) or the exit code. */
int ctl_key_or_id(struct ctl *ctl, const struct cmd_entry *cmd, int argc, char **argv,
		  const char **key, uint64_t *id);

/* Reads a whole file (at most max bytes) for --payload-file; NULL (message printed) on failure. */
char *ctl_read_file(struct ctl *ctl, const char *path, size_t max, size_t *len);

/* CLOCK_MONOTONIC and CLOCK_REALTIME now, ns. */
int64_t ctl_mono(void);
int64_t ctl_real(void);

/* Writes s as a JSON string (quoted, escaped). */
void ctl_json_str(FILE *f, const char *s);

/* Writes bytes as a JSON member: "payload":"text" if valid UTF-8, else "payload_hex":"..". */
void ctl_json_payload(FILE *f, const void *p, size_t n);

/* Writes bytes for humans: the text if printable, else <N bytes>. */
void ctl_human_payload(FILE *f, const void *p, size_t n);

/* Size of a ctl_safe buffer: a key or topic at most 4x as long once escaped. */
#define CTL_SAFE_SZ 4096

/*
 * s for a terminal: itself if it holds no control or bidi character and is
 * valid UTF-8, else a copy in buf with those escaped (\x1b, \u202e).
 */
const char *ctl_safe(const char *s, char *buf, size_t len);

/* Prints a fire event as a line (human or JSON). */
void ctl_print_fire(struct ctl *ctl, const struct timerd_fire *f);

/* The name of a misfire policy ("fire", "skip"); a number for one this timerctl does not know. */
const char *ctl_misfire_name(enum timerd_misfire m, char buf[16]);

/* Prints a notice event as a line (human or JSON). */
void ctl_print_notice(struct ctl *ctl, const struct timerd_event *ev);

#endif /* TIMERD_TIMERCTL_H */
