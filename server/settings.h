/*
 * settings.h -- timerd's settings: built-in defaults, then the config file
 * (--config FILE), then command-line flags, each overriding the one before.
 *
 * Every setting has one name used both ways: `--max-frame 2MiB` on the
 * command line is `max-frame = 2MiB` in the file. doc/timerd.md lists them.
 *
 * Usage:
 *
 *	struct srv_config cfg;
 *	char err[512];
 *	settings_init(&cfg);
 *	switch (settings_parse(&cfg, argc, argv, err, sizeof(err))) {
 *	case SETTINGS_RUN:  break;
 *	case SETTINGS_EXIT: exit(0);              --help, --version
 *	case SETTINGS_FAIL: fprintf(stderr, "timerd: %s\n", err); exit(2);
 *	}
 *	...
 *	settings_free(&cfg);
 */
#ifndef TIMERD_SETTINGS_H
#define TIMERD_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "server/log.h"

/*
 * Loop threads: each is a bit of a uint64_t loop mask (struct watch_reg,
 * watch_reg_targets) and fits the 8-bit loop field of a connection handle
 * (SRV_HANDLE_LOOP_SHIFT); watch.c and srv.c assert both.
 */
#define SETTINGS_MAX_THREADS 64
#define SETTINGS_MAX_PROBES 64

/* Defaults of max-key and max-topic (fire.c keeps keys and topics this long on the stack). */
#define SETTINGS_DEFAULT_MAX_KEY 256
#define SETTINGS_DEFAULT_MAX_TOPIC 128
/* Largest max-key and max-topic: the engine keeps a key's length in 16 bits. */
#define SETTINGS_TEXT_LIMIT 65535
/* Bytes a frame needs beyond max-payload + max-key + max-topic: the message's other fields and envelope. */
#define SETTINGS_FRAME_RESERVE 256

struct srv_config {
	/* where */
	char *socket;			/* Unix socket path ("" = none) */
	char *listen;			/* TCP HOST:PORT (NULL = none) */
	bool allow_remote;		/* deprecated: lets listen/http be non-loopback without TLS and authentication */
	bool insecure;			/* lifts the exposure rules (settings_check, peer_admit): loudly logged */
	unsigned socket_mode;		/* permissions of the Unix socket */
	char *socket_group;		/* group owning the Unix socket (NULL = ours) */
	char *state_dir;		/* stats.db lives here */
	char *pid_file;			/* NULL: none in the foreground, default when daemonised */
	char *config_file;
	/* how */
	bool foreground;
	bool check_config;		/* parse, validate, exit */
	char *log;			/* stderr | syslog | FILE (NULL: stderr, or syslog as a daemon) */
	enum log_level log_level;
	unsigned threads;		/* loop threads; 0: one per core */
	unsigned engine_workers;	/* fire delivery threads in the engine */
	int64_t precision_ns;		/* engine precision window */
	/* limits */
	uint32_t max_connections;
	uint32_t max_frame;
	uint32_t max_inflight;
	uint32_t max_payload;
	uint32_t max_key;
	uint32_t max_topic;
	uint32_t max_watches;
	uint32_t max_list;
	uint64_t max_output;		/* bytes queued to one connection before fires drop */
	uint64_t max_fire_queue;	/* fires queued to one loop thread before they drop */
	uint64_t max_timers;
	int64_t frame_timeout_ns;	/* a frame must be complete this long after its first byte */
	/* security limits (issue 12, doc/security.md) */
	int64_t idle_timeout_ns;	/* TCP: close after this long without a request (0: never) */
	int64_t auth_timeout_ns;	/* TLS handshake and (when needed) Auth must be done this long after accept (0: never) */
	uint32_t max_conns_per_addr;	/* TCP connections per peer address (a local peer: per uid) */
	uint32_t reserved_conns;	/* of max-connections, only admin Unix peers may use these */
	int64_t min_period_ns;		/* shortest period an Arm may ask for */
	uint64_t max_memory;		/* bytes of timers and queued fires before Arm gets NO_MEMORY (0: none) */
	uint64_t max_fire_queue_bytes;	/* bytes of fires queued to one loop thread before they drop */
	/* durability */
	bool memory_only;		/* no journal: timers live in memory only */
	int fsync;			/* enum journal_fsync */
	int64_t fsync_interval_ns;	/* JOURNAL_FSYNC_INTERVAL: sync at least this often */
	bool check_store;		/* --check-store: report on timers.db, exit */
	int64_t recovery_grace_ns;	/* late restored timers fire this long after start */
	uint64_t snapshot_min_rows;	/* a snapshot needs more journal rows than this (and the live set) */
	/* stats */
	bool stats;			/* write stats.db */
	int64_t stats_interval_ns;
	int64_t stats_retention_ns;
	/* probes */
	char *probes[SETTINGS_MAX_PROBES];
	size_t nprobes;
	/* privilege drop (server/priv.c, doc/security.md): NULL: stay as started */
	char *user;			/* become this user once started (names or uids) */
	char *group;			/* and this group (default: the user's) */
	/* HTTP/JSON API and metrics (server/http.c) */
	char *http;			/* HOST:PORT (NULL = off) */
	uint32_t http_max_connections;	/* HTTP connections that may have a request in progress */
	int64_t http_timeout_ns;	/* a slow or idle HTTP connection is closed after this */
	bool http_tls;			/* HTTPS on http with tls-cert/tls-key/tls-ca (server/http.c) */
	char *metrics_topics;		/* comma-separated topics with their own fire counter (topic-metrics.h; NULL: none) */
	/* TLS on the TCP listener (server/tls.c); all NULL: plaintext */
	char *tls_cert;			/* PEM certificate chain */
	char *tls_key;			/* PEM private key: 0600 or stricter */
	char *tls_ca;			/* PEM CAs that client certificates must chain to (NULL: none asked) */
	char *tls_verify_client;	/* no | optional | require (NULL: require with tls-ca, else no) */
	/* identities (issue 12 section 4, server/auth.c) */
	char *users;			/* users file (NULL: none; identities off) */
	/* the command line, re-applied over the file by a reload (server/reload.c); not owned */
	int argc;
	char **argv;
};

enum settings_result {
	SETTINGS_RUN,			/* start the daemon */
	SETTINGS_EXIT,			/* done (help or version printed) */
	SETTINGS_FAIL,			/* err says what is wrong */
};

/* Fills the built-in defaults (socket and state dir depend on the user). */
void settings_init(struct srv_config *c);

/* Applies the config file named by --config (if any), then the flags. */
enum settings_result settings_parse(struct srv_config *c, int argc, char **argv, char *err, size_t errlen);

/* Reads one config file into c; 0 or -1 with "FILE:LINE: problem" in err. */
int settings_load_file(struct srv_config *c, const char *path, char *err, size_t errlen);

/* Checks the settings against each other; 0 or -1 with err. */
int settings_check(const struct srv_config *c, char *err, size_t errlen);

/*
 * Calls changed(name, arg) for each setting whose value differs between a
 * and b, in the table's order (reload.c decides what each change means).
 */
void settings_diff(const struct srv_config *a, const struct srv_config *b, void (*changed)(const char *name, void *arg),
		   void *arg);

/* Prints --help. */
void settings_usage(FILE *f);

/* What --insecure (or the deprecated allow-remote) lets through, for warnings; NULL when neither is set. */
const char *settings_insecure_what(const struct srv_config *c);

/* Logs the effective settings at info level (and a warning for --insecure). */
void settings_log(const struct srv_config *c);

/* Frees the strings. */
void settings_free(struct srv_config *c);

#endif /* TIMERD_SETTINGS_H */
