/*
 * settings.c -- defaults, config file and flags, from one table (see settings.h).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "proto/addr.h"
#include "proto/frame.h"
#include "proto/units.h"
#include "proto/version.h"
#include "server/journal.h"
#include "server/settings.h"
#include "server/topic-metrics.h"

_Static_assert(SETTINGS_TEXT_LIMIT <= UINT16_MAX, "engine_create refuses a max_key over UINT16_MAX");

enum settings_kind {
	CK_STR,		/* char * */
	CK_BOOL,	/* --name / --no-name; name = yes|no */
	CK_U32,		/* a count */
	CK_SIZE,	/* bytes with an optional K/M/G suffix, stored as uint32 or uint64 */
	CK_SIZE64,
	CK_U64,
	CK_UINT,	/* unsigned */
	CK_DUR,		/* a duration, int64 ns */
	CK_LEVEL,	/* log level */
	CK_MODE,	/* octal permissions */
	CK_PROBE,	/* appended to probes[] */
	CK_FSYNC,	/* always | never | DURATION */
	CK_CONFIG,	/* --config: handled first */
	CK_HELP,
	CK_VERSION,
};

struct settings_opt {
	const char *name;
	char short_name;
	enum settings_kind kind;
	size_t off;
	uint64_t min, max;
	const char *arg;	/* argument placeholder in --help */
	const char *help;
};

#define O(field) offsetof(struct srv_config, field)

/* Every setting; --help prints them in this order. */
static const struct settings_opt settings_opts[] = {
	{ "socket", 0, CK_STR, O(socket), 0, 0, "PATH", "Unix socket to listen on (\"\" for none)" },
	{ "listen", 0, CK_STR, O(listen), 0, 0, "HOST:PORT", "also listen on TCP (a non-loopback address needs --tls-cert, --tls-key and --users)" },
	{ "allow-remote", 0, CK_BOOL, O(allow_remote), 0, 0, NULL, "deprecated: let --listen and --http be non-loopback without TLS and authentication (use --insecure)" },
	{ "insecure", 0, CK_BOOL, O(insecure), 0, 0, NULL, "lift the exposure rules: non-loopback listeners without TLS or authentication, any local user over loopback (logged loudly)" },
	{ "socket-mode", 0, CK_MODE, O(socket_mode), 0, 0777, "MODE", "permissions of the Unix socket (default 0660)" },
	{ "socket-group", 0, CK_STR, O(socket_group), 0, 0, "GROUP", "group that owns the Unix socket" },
	{ "state-dir", 0, CK_STR, O(state_dir), 0, 0, "DIR", "directory for timers.db and stats.db" },
	{ "pid-file", 0, CK_STR, O(pid_file), 0, 0, "PATH", "write the pid here (default as a daemon: beside the socket)" },
	{ "config", 'c', CK_CONFIG, O(config_file), 0, 0, "FILE", "read settings from FILE (flags override it)" },
	{ "foreground", 'f', CK_BOOL, O(foreground), 0, 0, NULL, "stay in the foreground (default: become a daemon)" },
	{ "check-config", 0, CK_BOOL, O(check_config), 0, 0, NULL, "validate the settings and exit" },
	{ "log", 0, CK_STR, O(log), 0, 0, "TARGET", "stderr, syslog or a file path (default: stderr; syslog as a daemon)" },
	{ "log-level", 0, CK_LEVEL, O(log_level), 0, 0, "LEVEL", "error, warning, notice, info (default) or debug" },
	{ "threads", 0, CK_UINT, O(threads), 0, SETTINGS_MAX_THREADS, "N", "event loop threads (default: one per core)" },
	{ "engine-workers", 0, CK_UINT, O(engine_workers), 0, 16, "N", "fire delivery threads in the engine (default 1)" },
	{ "precision", 0, CK_DUR, O(precision_ns), 0, 0, "DURATION", "wake this early and spin to each deadline (default 0: off)" },
	{ "max-connections", 0, CK_U32, O(max_connections), 1, 1000000, "N", "open connections (default 4096)" },
	{ "max-frame", 0, CK_SIZE, O(max_frame), 1024, FRAME_LIMIT_MAX, "SIZE", "bytes in one frame (default 1MiB)" },
	{ "max-inflight", 0, CK_U32, O(max_inflight), 1, 1000000, "N", "unanswered requests per connection (default 4096)" },
	{ "max-payload", 0, CK_SIZE, O(max_payload), 0, FRAME_LIMIT_MAX, "SIZE", "bytes of payload per timer (default 64KiB)" },
	{ "max-key", 0, CK_SIZE, O(max_key), 1, SETTINGS_TEXT_LIMIT, "SIZE", "bytes in a key (default 256)" },
	{ "max-topic", 0, CK_SIZE, O(max_topic), 1, SETTINGS_TEXT_LIMIT, "SIZE", "bytes in a topic (default 128)" },
	{ "max-watches", 0, CK_U32, O(max_watches), 1, 1000000, "N", "watched topics per connection (default 1024)" },
	{ "max-list", 0, CK_U32, O(max_list), 1, 100000, "N", "timers per List page (default 1000)" },
	{ "max-output", 0, CK_SIZE64, O(max_output), 4096, (uint64_t)1 << 40, "SIZE", "bytes queued to a connection before its fire events drop (default 1MiB)" },
	{ "max-fire-queue", 0, CK_U64, O(max_fire_queue), 1, (uint64_t)1 << 40, "N", "fires queued to one loop thread before they drop (default 1048576)" },
	{ "max-timers", 0, CK_U64, O(max_timers), 1, (uint64_t)1 << 40, "N", "pending timers (default 16777216)" },
	{ "frame-timeout", 0, CK_DUR, O(frame_timeout_ns), 1000000, 0, "DURATION", "close a connection whose frame is not complete DURATION after its first byte (default 30s)" },
	{ "fsync", 0, CK_FSYNC, O(fsync), 0, 0, "always|never|DURATION", "when a change is synced to disk: before its reply (default), by the OS, or at least every DURATION" },
	{ "memory-only", 0, CK_BOOL, O(memory_only), 0, 0, NULL, "keep timers in memory only: no timers.db, lost on restart" },
	{ "recovery-grace", 0, CK_DUR, O(recovery_grace_ns), 0, 0, "DURATION", "timers that came due while timerd was down fire this long after start, once clients could reconnect (default 1s)" },
	{ "snapshot-min-rows", 0, CK_U64, O(snapshot_min_rows), 1, (uint64_t)1 << 40, "N", "tuning: a snapshot starts once the journal holds more rows than this and than the live timers (default 65536)" },
	{ "check-store", 0, CK_BOOL, O(check_store), 0, 0, NULL, "check state-dir/timers.db, report what it holds, and exit" },
	{ "stats", 0, CK_BOOL, O(stats), 0, 0, NULL, "write stats.db (default yes; --no-stats to disable)" },
	{ "stats-interval", 0, CK_DUR, O(stats_interval_ns), 10000000, 0, "DURATION", "one stats.db row per DURATION (default 1s)" },
	{ "stats-retention", 0, CK_DUR, O(stats_retention_ns), 1000000000, 0, "DURATION", "keep stats.db rows this long (default 1d)" },
	{ "probe", 0, CK_PROBE, 0, 0, 0, "SPEC", "attach a BPF probe at start (repeatable; doc/probes.md)" },
	/* privilege drop (issue 12 section 5, server/priv.c, doc/security.md) */
	{ "user", 0, CK_STR, O(user), 0, 0, "USER", "started as root: become USER once the sockets, state files and probes are open (keeps only CAP_BPF, CAP_PERFMON, CAP_DAC_READ_SEARCH if --probe is given)" },
	{ "group", 0, CK_STR, O(group), 0, 0, "GROUP", "with --user: become GROUP too (default: USER's group)" },
	{ "http", 0, CK_STR, O(http), 0, 0, "HOST:PORT", "serve the HTTP/JSON API and /metrics here (a non-loopback address needs --http-tls and --users; default off)" },
	{ "http-max-connections", 0, CK_U32, O(http_max_connections), 1, 1000000, "N", "HTTP connections served at once (default 1024)" },
	{ "http-timeout", 0, CK_DUR, O(http_timeout_ns), 100000000, 0, "DURATION", "close an HTTP connection that stalls or idles this long (default 30s)" },
	{ "metrics-topics", 0, CK_STR, O(metrics_topics), 0, 0, "TOPIC,...", "count fires per topic for /metrics (timerd_topic_fires_total) for these topics, at most 64, the rest as topic=\"other\" (no per-topic series unless given; SIGHUP reloads it)" },
	/* security limits (issue 12, doc/security.md) */
	{ "idle-timeout", 0, CK_DUR, O(idle_timeout_ns), 0, 0, "DURATION", "close a TCP connection after DURATION without a request, unless it watches or waits for a fire (default 5m; 0: never)" },
	{ "auth-timeout", 0, CK_DUR, O(auth_timeout_ns), 0, 0, "DURATION", "close a connection that has not finished its TLS handshake and, when it must, Auth DURATION after it connected (default 10s; 0: never)" },
	{ "max-connections-per-address", 0, CK_U32, O(max_conns_per_addr), 1, 1000000, "N", "TCP connections from one address, or one local uid (default 64)" },
	{ "reserved-connections", 0, CK_U32, O(reserved_conns), 0, 1000000, "N", "of max-connections, kept for root and timerd's own user on the Unix socket (default 4)" },
	{ "min-period", 0, CK_DUR, O(min_period_ns), 1000, 0, "DURATION", "shortest period of a periodic timer (default 1ms; at least 1us)" },
	{ "max-memory", 0, CK_SIZE64, O(max_memory), 0, (uint64_t)1 << 50, "SIZE", "bytes of timers, payloads and queued fires before Arm is refused NO_MEMORY (default a quarter of RAM; 0: no budget)" },
	{ "max-fire-queue-bytes", 0, CK_SIZE64, O(max_fire_queue_bytes), 4096, (uint64_t)1 << 40, "SIZE", "bytes of fires queued to one loop thread before they drop (default 64MiB)" },
	/* TLS (issue 12 section 3, server/tls.c, doc/security.md) */
	{ "tls-cert", 0, CK_STR, O(tls_cert), 0, 0, "FILE", "serve TLS on --listen (and --http with --http-tls) with this PEM certificate chain (with --tls-key; re-read on SIGHUP)" },
	{ "tls-key", 0, CK_STR, O(tls_key), 0, 0, "FILE", "the certificate's PEM private key (mode 0600 or stricter; re-read on SIGHUP)" },
	{ "tls-ca", 0, CK_STR, O(tls_ca), 0, 0, "FILE", "PEM CAs that client certificates must chain to (asks clients for one)" },
	{ "tls-verify-client", 0, CK_STR, O(tls_verify_client), 0, 0, "no|optional|require", "client certificates (default: require with --tls-ca, else no)" },
	{ "http-tls", 0, CK_BOOL, O(http_tls), 0, 0, NULL, "serve HTTPS on --http with --tls-cert, --tls-key and --tls-ca (as --listen; a non-loopback --http needs it and --users)" },
	/* identities (issue 12 section 4, server/ident.c, doc/security.md) */
	{ "users", 0, CK_STR, O(users), 0, 0, "FILE", "identities, secrets and rules (mode 0600; re-read on SIGHUP; doc/security.md)" },
	{ "help", 'h', CK_HELP, 0, 0, 0, NULL, "print this help and exit" },
	{ "version", 'V', CK_VERSION, 0, 0, 0, NULL, "print the version and exit" },
};

#define SETTINGS_NOPTS (sizeof(settings_opts) / sizeof(settings_opts[0]))

/* strdup that dies on out of memory (at startup, nothing to save). */
static char *settings_strdup(const char *s)
{
	char *p = strdup(s);

	if (!p) {
		fputs("timerd: out of memory reading the configuration\n", stderr);
		exit(1);
	}
	return p;
}

/* Replaces a string setting. */
static void settings_set_str(char **slot, const char *v)
{
	free(*slot);
	*slot = settings_strdup(v);
}

/* A quarter of the machine's RAM: the default max-memory (0 if unknown: no budget). */
static uint64_t settings_ram_quarter(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);

	return pages > 0 && size > 0 ? (uint64_t)pages * (uint64_t)size / 4 : 0;
}

/* Fills the built-in defaults. */
void settings_init(struct srv_config *c)
{
	char buf[PATH_MAX];

	memset(c, 0, sizeof(*c));
	addr_default_socket(buf, sizeof(buf));
	c->socket = settings_strdup(buf);
	addr_default_state_dir(buf, sizeof(buf));
	c->state_dir = settings_strdup(buf);
	c->socket_mode = 0660;
	c->log_level = LOG_LVL_INFO;
	c->engine_workers = 1;
	c->max_connections = 4096;
	c->max_frame = FRAME_DEFAULT_MAX;
	c->max_inflight = 4096;
	c->max_payload = 64 * 1024;
	c->max_key = SETTINGS_DEFAULT_MAX_KEY;
	c->max_topic = SETTINGS_DEFAULT_MAX_TOPIC;
	c->max_watches = 1024;
	c->max_list = 1000;
	c->max_output = 1024 * 1024;
	c->max_fire_queue = 1024 * 1024;
	c->max_timers = 16 * 1024 * 1024;
	c->frame_timeout_ns = 30 * 1000000000LL;
	c->http_max_connections = 1024;
	c->http_timeout_ns = 30 * 1000000000LL;
	c->idle_timeout_ns = 300 * 1000000000LL;
	c->auth_timeout_ns = 10 * 1000000000LL;
	c->max_conns_per_addr = 64;
	c->reserved_conns = 4;
	c->min_period_ns = 1000000;
	c->max_memory = settings_ram_quarter();
	c->max_fire_queue_bytes = 64u << 20;
	c->fsync = JOURNAL_FSYNC_ALWAYS;
	c->recovery_grace_ns = 1000000000LL;
	c->snapshot_min_rows = 65536;
	c->stats = true;
	c->stats_interval_ns = 1000000000LL;
	c->stats_retention_ns = 86400 * 1000000000LL;
}

/* Parses --fsync: always, never, or a positive duration. */
static int settings_fsync(struct srv_config *c, const struct settings_opt *o, const char *v, char *err, size_t errlen)
{
	int64_t ns;

	if (!strcmp(v, "always")) {
		c->fsync = JOURNAL_FSYNC_ALWAYS;
		return 0;
	}
	if (!strcmp(v, "never")) {
		c->fsync = JOURNAL_FSYNC_NEVER;
		return 0;
	}
	if (units_duration_parse(v, &ns, err, errlen) < 0 || ns <= 0)
		return td_errf(err, errlen, "%s: '%s' is not always, never or a positive duration such as 10ms", o->name, v);
	c->fsync = JOURNAL_FSYNC_INTERVAL;
	c->fsync_interval_ns = ns;
	return 0;
}

/* Parses a size: digits with an optional K, M, G (KiB, MiB, GiB; powers of 1024). */
static int settings_size(const char *s, uint64_t *v)
{
	static const struct { const char *sfx; uint64_t mul; } sfx[] = {
		{ "", 1 }, { "B", 1 }, { "K", 1024 }, { "KB", 1024 }, { "KiB", 1024 }, { "k", 1024 },
		{ "M", 1 << 20 }, { "MB", 1 << 20 }, { "MiB", 1 << 20 }, { "G", 1 << 30 }, { "GB", 1 << 30 },
		{ "GiB", 1 << 30 },
	};
	char *end;
	uint64_t n;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno)
		return -1;
	for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		if (strcmp(end, sfx[i].sfx) == 0) {
			if (n > UINT64_MAX / sfx[i].mul)
				return -1;
			*v = n * sfx[i].mul;
			return 0;
		}
	}
	return -1;
}

/* Parses a boolean word. */
static int settings_bool(const char *s, bool *v)
{
	if (!strcmp(s, "yes") || !strcmp(s, "true") || !strcmp(s, "on") || !strcmp(s, "1"))
		*v = true;
	else if (!strcmp(s, "no") || !strcmp(s, "false") || !strcmp(s, "off") || !strcmp(s, "0"))
		*v = false;
	else
		return -1;
	return 0;
}

/* Parses an unsigned number within [min, max] (max 0: no limit). */
static int settings_number(const struct settings_opt *o, const char *s, uint64_t *v, char *err, size_t errlen)
{
	char *end;

	if (o->kind == CK_SIZE || o->kind == CK_SIZE64) {
		if (settings_size(s, v) < 0)
			return td_errf(err, errlen, "%s: '%s' is not a size: give bytes, e.g. 65536, 64KiB or 1MiB",
					   o->name, s);
	} else {
		errno = 0;
		*v = strtoull(s, &end, o->kind == CK_MODE ? 8 : 10);
		if (!isdigit((unsigned char)*s) || *end || errno)
			return td_errf(err, errlen, "%s: '%s' is not %s", o->name, s,
					   o->kind == CK_MODE ? "an octal mode like 0660" : "a number");
	}
	if (*v < o->min || (o->max && *v > o->max))
		return td_errf(err, errlen, "%s: %s is out of range: give %llu to %llu", o->name, s,
				   (unsigned long long)o->min, (unsigned long long)o->max);
	return 0;
}

/* Parses a duration setting. */
static int settings_duration(const struct settings_opt *o, const char *s, int64_t *v, char *err, size_t errlen)
{
	char why[256];

	if (units_duration_parse(s, v, why, sizeof(why)) < 0)
		return td_errf(err, errlen, "%s: %s", o->name, why);
	if (*v < (int64_t)o->min)
		return td_errf(err, errlen, "%s: %s is too short: give at least %lldns", o->name, s,
				   (long long)o->min);
	return 0;
}

/* Stores a numeric value into the field o describes. */
static void settings_store(struct srv_config *c, const struct settings_opt *o, uint64_t v)
{
	char *p = (char *)c + o->off;

	if (o->kind == CK_SIZE64 || o->kind == CK_U64) {
		memcpy(p, &v, sizeof(v));
	} else {
		uint32_t x = (uint32_t)v;

		_Static_assert(sizeof(unsigned) == sizeof(uint32_t), "unsigned is 32 bits");
		memcpy(p, &x, sizeof(x));
	}
}

/* Sets option o from text v; 0 or -1 with err. */
static int settings_apply(struct srv_config *c, const struct settings_opt *o, const char *v, char *err, size_t errlen)
{
	char *p = (char *)c + o->off;
	uint64_t n = 0;
	bool b;

	switch (o->kind) {
	case CK_STR:
	case CK_CONFIG:
		settings_set_str((char **)(void *)p, v);
		return 0;
	case CK_BOOL:
		if (settings_bool(v, &b) < 0)
			return td_errf(err, errlen, "%s: '%s' is not yes or no", o->name, v);
		*(bool *)p = b;
		return 0;
	case CK_LEVEL:
		if (log_level_parse(v, (enum log_level *)(void *)p) < 0)
			return td_errf(err, errlen, "%s: '%s' is not error, warning, notice, info or debug", o->name, v);
		return 0;
	case CK_DUR:
		return settings_duration(o, v, (int64_t *)(void *)p, err, errlen);
	case CK_FSYNC:
		return settings_fsync(c, o, v, err, errlen);
	case CK_PROBE:
		if (c->nprobes == SETTINGS_MAX_PROBES)
			return td_errf(err, errlen, "probe: more than %d probes", SETTINGS_MAX_PROBES);
		c->probes[c->nprobes++] = settings_strdup(v);
		return 0;
	case CK_HELP:
	case CK_VERSION:
		return td_errf(err, errlen, "%s is a command-line flag, not a setting", o->name);
	default:
		if (settings_number(o, v, &n, err, errlen) < 0)
			return -1;
		settings_store(c, o, n);
		return 0;
	}
}

/* Finds an option by long name (len bytes of name). */
static const struct settings_opt *settings_find(const char *name, size_t len)
{
	for (size_t i = 0; i < SETTINGS_NOPTS; i++)
		if (strlen(settings_opts[i].name) == len && strncmp(settings_opts[i].name, name, len) == 0)
			return &settings_opts[i];
	return NULL;
}

/* Finds an option by short letter. */
static const struct settings_opt *settings_find_short(char ch)
{
	for (size_t i = 0; i < SETTINGS_NOPTS; i++)
		if (ch && settings_opts[i].short_name == ch)
			return &settings_opts[i];
	return NULL;
}

/* Strips leading and trailing blanks in place. */
static char *settings_trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* Applies one "name = value" line. */
static int settings_line(struct srv_config *c, char *line, char *err, size_t errlen)
{
	char *eq = strchr(line, '='), *name, *val;
	const struct settings_opt *o;

	if (!eq)
		return td_errf(err, errlen, "expected 'name = value'");
	*eq = '\0';
	name = settings_trim(line);
	val = settings_trim(eq + 1);
	if (strlen(val) >= 2 && (val[0] == '"' || val[0] == '\'') && val[strlen(val) - 1] == val[0]) {
		val[strlen(val) - 1] = '\0';
		val++;
	}
	if (!(o = settings_find(name, strlen(name))) || o->kind == CK_CONFIG)
		return td_errf(err, errlen, "unknown setting '%s' (timerd --help lists them)", name);
	return settings_apply(c, o, val, err, errlen);
}

/* Reads one config file into c. */
int settings_load_file(struct srv_config *c, const char *path, char *err, size_t errlen)
{
	char line[8192], why[512];
	FILE *f = fopen(path, "r");
	int lineno = 0, rc = 0;

	if (!f)
		return td_errf(err, errlen, "cannot read config file %s: %s", path, strerror(errno));
	while (rc == 0 && fgets(line, sizeof(line), f)) {
		char *s = settings_trim(line), *hash;

		lineno++;
		if (*s == '#' || !*s)
			continue;
		if ((hash = strstr(s, " #")) != NULL)
			*hash = '\0';
		if (settings_line(c, s, why, sizeof(why)) < 0)
			rc = td_errf(err, errlen, "%s:%d: %s", path, lineno, why);
	}
	fclose(f);
	return rc;
}

/* Splits argv[*i] into an option and its value (consuming argv[*i+1] if needed). */
static int settings_flag(int argc, char **argv, int *i, const struct settings_opt **o, const char **val, bool *neg,
		       char *err, size_t errlen)
{
	const char *a = argv[*i], *eq;
	size_t len;

	*val = NULL;
	*neg = false;
	if (a[0] == '-' && a[1] && a[1] != '-' && !a[2]) {
		if (!(*o = settings_find_short(a[1])))
			return td_errf(err, errlen, "unknown flag '%s' (timerd --help lists them)", a);
	} else if (strncmp(a, "--", 2) == 0 && a[2]) {
		a += 2;
		eq = strchr(a, '=');
		len = eq ? (size_t)(eq - a) : strlen(a);
		*o = settings_find(a, len);
		if (!*o && len > 3 && strncmp(a, "no-", 3) == 0) {
			*o = settings_find(a + 3, len - 3);
			if (*o && (*o)->kind != CK_BOOL)
				*o = NULL;
			*neg = *o != NULL;
		}
		if (!*o)
			return td_errf(err, errlen, "unknown flag '%s' (timerd --help lists them)", argv[*i]);
		if (eq)
			*val = eq + 1;
	} else {
		return td_errf(err, errlen, "unexpected argument '%s' (timerd --help lists the flags)", a);
	}
	if (*val || (*o)->kind == CK_BOOL || (*o)->kind == CK_HELP || (*o)->kind == CK_VERSION)
		return 0;
	if (*i + 1 >= argc)
		return td_errf(err, errlen, "%s needs a value (%s)", argv[*i], (*o)->arg ? (*o)->arg : "a value");
	*val = argv[++*i];
	return 0;
}

/* First pass over argv: --help, --version, --config. */
static enum settings_result settings_prescan(struct srv_config *c, int argc, char **argv, char *err, size_t errlen)
{
	const struct settings_opt *o;
	const char *val;
	bool neg;

	for (int i = 1; i < argc; i++) {
		if (settings_flag(argc, argv, &i, &o, &val, &neg, err, errlen) < 0)
			return SETTINGS_FAIL;
		if (o->kind == CK_HELP) {
			settings_usage(stdout);
			return SETTINGS_EXIT;
		}
		if (o->kind == CK_VERSION) {
			printf("timerd %s (protocol version %d)\nfeatures: %s\n", PACKAGE_VERSION, FRAME_VERSION,
			       VERSION_FEATURES);
			return SETTINGS_EXIT;
		}
		if (o->kind == CK_CONFIG)
			settings_set_str(&c->config_file, val);
	}
	return SETTINGS_RUN;
}

/* Applies the config file named by --config, then the flags. */
enum settings_result settings_parse(struct srv_config *c, int argc, char **argv, char *err, size_t errlen)
{
	enum settings_result r = settings_prescan(c, argc, argv, err, errlen);
	const struct settings_opt *o;
	const char *val;
	bool neg;

	if (r != SETTINGS_RUN)
		return r;
	c->argc = argc;
	c->argv = argv;
	if (c->config_file && settings_load_file(c, c->config_file, err, errlen) < 0)
		return SETTINGS_FAIL;
	for (int i = 1; i < argc; i++) {
		if (settings_flag(argc, argv, &i, &o, &val, &neg, err, errlen) < 0)
			return SETTINGS_FAIL;
		if (o->kind == CK_CONFIG)
			continue;
		if (o->kind == CK_BOOL && neg && val) {
			td_errf(err, errlen, "--no-%s takes no value", o->name);
			return SETTINGS_FAIL;
		}
		if (o->kind == CK_BOOL && !val)
			val = neg ? "no" : "yes";
		if (settings_apply(c, o, val, err, errlen) < 0)
			return SETTINGS_FAIL;
	}
	return settings_check(c, err, errlen) < 0 ? SETTINGS_FAIL : SETTINGS_RUN;
}

/*
 * The exposure rule of a non-loopback listen (doc/security.md): TLS and
 * authentication (a users file), unless --insecure (or the deprecated
 * allow-remote); 0 or -1 with err saying what to add.
 */
static int settings_exposed(const struct srv_config *c, const char *what, const char *where, bool tls, char *err,
			    size_t errlen)
{
	bool auth = c->users != NULL;

	if ((tls && auth) || c->insecure || c->allow_remote)
		return 0;
	return td_errf(err, errlen, "refusing to %s on %s without %s: anyone who reaches the port could %s. Add %s%s%s%s "
		       "(doc/security.md, \"Exposing timerd safely\"), use a loopback address (127.0.0.1:PORT), or add "
		       "--insecure to accept that", what, where, !tls && !auth ? "TLS or authentication" : !tls ? "TLS" :
		       "authentication", !auth ? "arm, cancel and read every timer" : "read the secrets and payloads on the wire",
		       !tls && !(c->tls_cert && c->tls_key) ? "tls-cert = CERT.pem and tls-key = KEY.pem" : "",
		       !tls && where == c->http ? (c->tls_cert && c->tls_key ? "http-tls = yes" : ", http-tls = yes") : "",
		       !tls && !auth ? " and " : "",
		       !auth ? "users = FILE (its lines come from timerctl user add NAME)" : "");
}

/* Checks the settings against each other. */
int settings_check(const struct srv_config *c, char *err, size_t errlen)
{
	struct addr a;
	char why[256];

	if (!*c->socket && !c->listen)
		return td_errf(err, errlen, "nothing to listen on: give --socket PATH or --listen HOST:PORT");
	if (c->listen) {
		if (addr_parse(c->listen, &a, why, sizeof(why)) < 0 || a.kind != ADDR_TCP)
			return td_errf(err, errlen, "listen: %s", a.kind != ADDR_TCP && !why[0] ? "give HOST:PORT" : why);
		if (!addr_is_loopback(a.host) &&
		    settings_exposed(c, "listen", c->listen, c->tls_cert && c->tls_key, err, errlen) < 0)
			return -1;
	}
	if ((c->tls_cert != NULL) != (c->tls_key != NULL))
		return td_errf(err, errlen, "tls: give both --tls-cert and --tls-key (or neither)");
	if (c->tls_cert && !c->listen && !c->http_tls)
		return td_errf(err, errlen, "tls: --tls-cert serves TLS on the TCP listener: add --listen HOST:PORT "
				   "(or --http HOST:PORT with --http-tls)");
	if (c->http_tls && (!c->http || !c->tls_cert))
		return td_errf(err, errlen, "http-tls: serves HTTPS on --http with --tls-cert and --tls-key: add %s",
			       !c->http ? "--http HOST:PORT" : "--tls-cert CERT.pem and --tls-key KEY.pem");
	if ((c->tls_ca || c->tls_verify_client) && !c->tls_cert)
		return td_errf(err, errlen, "tls: --tls-ca and --tls-verify-client need --tls-cert and --tls-key");
	if (c->tls_verify_client && strcmp(c->tls_verify_client, "no") && strcmp(c->tls_verify_client, "optional") &&
	    strcmp(c->tls_verify_client, "require"))
		return td_errf(err, errlen, "tls-verify-client: %s: give no, optional or require", c->tls_verify_client);
	if (c->tls_verify_client && strcmp(c->tls_verify_client, "no") && !c->tls_ca)
		return td_errf(err, errlen, "tls-verify-client=%s: give --tls-ca FILE, the CAs client certificates chain to",
			       c->tls_verify_client);
	if (c->http) {
		if (addr_parse(c->http, &a, why, sizeof(why)) < 0 || a.kind != ADDR_TCP)
			return td_errf(err, errlen, "http: %s", a.kind != ADDR_TCP && !why[0] ? "give HOST:PORT" : why);
		if (!addr_is_loopback(a.host) && settings_exposed(c, "serve HTTP", c->http, c->http_tls, err, errlen) < 0)
			return -1;
	}
	if (c->max_payload + c->max_key + c->max_topic + SETTINGS_FRAME_RESERVE > c->max_frame)
		return td_errf(err, errlen, "max-frame (%u) must exceed max-payload + max-key + max-topic + %d (%u): "
				   "raise max-frame or lower the others", c->max_frame, SETTINGS_FRAME_RESERVE,
				   c->max_payload + c->max_key + c->max_topic + SETTINGS_FRAME_RESERVE);
	if (c->max_output < c->max_frame)
		return td_errf(err, errlen, "max-output (%llu) must be at least max-frame (%u)",
				   (unsigned long long)c->max_output, c->max_frame);
	if (c->metrics_topics) {
		struct topic_metrics tm;

		if (topic_metrics_parse(&tm, c->metrics_topics, c->max_topic, err, errlen) < 0)
			return -1;
		topic_metrics_free(&tm);
	}
	return 0;
}

/* True if the strings differ (NULL is a value of its own). */
static bool settings_str_differ(const char *a, const char *b)
{
	return (a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0);
}

/* True if option o has different values in a and b. */
static bool settings_differ(const struct settings_opt *o, const struct srv_config *a, const struct srv_config *b)
{
	const char *pa = (const char *)a + o->off, *pb = (const char *)b + o->off;

	switch (o->kind) {
	case CK_STR:
		return settings_str_differ(*(char *const *)(const void *)pa, *(char *const *)(const void *)pb);
	case CK_BOOL:
		return *(const bool *)pa != *(const bool *)pb;
	case CK_LEVEL:
		return memcmp(pa, pb, sizeof(enum log_level)) != 0;
	case CK_SIZE64:
	case CK_U64:
	case CK_DUR:
		return memcmp(pa, pb, sizeof(uint64_t)) != 0;
	case CK_FSYNC:
		return a->fsync != b->fsync || a->fsync_interval_ns != b->fsync_interval_ns;
	case CK_PROBE:
		if (a->nprobes != b->nprobes)
			return true;
		for (size_t i = 0; i < a->nprobes; i++)
			if (strcmp(a->probes[i], b->probes[i]) != 0)
				return true;
		return false;
	case CK_CONFIG:
	case CK_HELP:
	case CK_VERSION:
		return false;
	default:
		return memcmp(pa, pb, sizeof(uint32_t)) != 0;
	}
}

/* Calls changed for each setting that differs between a and b. */
void settings_diff(const struct srv_config *a, const struct srv_config *b, void (*changed)(const char *name, void *arg),
		   void *arg)
{
	for (size_t i = 0; i < SETTINGS_NOPTS; i++)
		if (settings_differ(&settings_opts[i], a, b))
			changed(settings_opts[i].name, arg);
}

/* Prints --help. */
void settings_usage(FILE *f)
{
	fprintf(f, "usage: timerd [FLAGS]\n\n"
		   "timerd fires timers at the right time, never early, and pushes the fires to\n"
		   "the connections that watch them (timerctl, libtimerd).\n\nFlags (also settings in the --config file as NAME = VALUE):\n");
	for (size_t i = 0; i < SETTINGS_NOPTS; i++) {
		const struct settings_opt *o = &settings_opts[i];
		char left[64];

		snprintf(left, sizeof(left), "%s%c%s--%s%s%s", o->short_name ? "-" : "", o->short_name ? o->short_name : ' ',
			 o->short_name ? ", " : " ", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
		const char *term = o->short_name ? left : left + 2;

		/* A term wider than its column gets a line of its own, so two blanks always part it from the help. */
		if (strlen(term) > 30)
			fprintf(f, "  %s\n  %-30s %s\n", term, "", o->help);
		else
			fprintf(f, "  %-30s %s\n", term, o->help);
	}
	fprintf(f, "\nSignals: SIGTERM/SIGINT stop gracefully; SIGHUP reopens the log file and re-reads the\n"
		   "--config file (log, log-level, max-connections, max-inflight, max-output and max-payload\n"
		   "change at once; other changes are logged as needing a restart), the --users file, the\n"
		   "TLS certificate, key and CAs (new connections use them; open ones are kept) and the\n"
		   "time zone database (calendar timers are re-placed).\n"
		   "Durations: 250ms, 5s, 1h30m, 1d. Sizes: 65536, 64KiB, 1MiB. See doc/timerd.md.\n");
}

const char *settings_insecure_what(const struct srv_config *c)
{
	if (c->insecure)
		return "--insecure is set: a non-loopback listen or http accepts anyone who reaches it, without TLS or "
		       "authentication, and any local user may use timerd over loopback TCP; remove insecure once "
		       "tls-cert, tls-key and users are set (doc/security.md)";
	if (c->allow_remote)
		return "allow-remote is deprecated and will go: a non-loopback listen with tls-cert, tls-key and users "
		       "needs no flag; without them, allow-remote lets anyone who reaches the port use timerd (what "
		       "--insecure says, and it is the flag to use for that)";
	return NULL;
}

/* Logs the effective settings. */
void settings_log(const struct srv_config *c)
{
	char buf[32];
	const char *insecure = settings_insecure_what(c);

	if (insecure)
		log_warn("%s%s", c->insecure ? "INSECURE: " : "", insecure);

	log_info("socket=%s listen=%s state-dir=%s stats=%s", *c->socket ? c->socket : "(none)",
		 c->listen ? c->listen : "(none)", c->state_dir, c->stats ? "yes" : "no");
	log_info("limits: connections=%u frame=%u inflight=%u payload=%u output=%llu watches=%u timers=%llu",
		 c->max_connections, c->max_frame, c->max_inflight, c->max_payload,
		 (unsigned long long)c->max_output, c->max_watches, (unsigned long long)c->max_timers);
	log_info("durability: %s", c->memory_only ? "memory-only (timers are lost on restart)" :
		 journal_fsync_name((enum journal_fsync)c->fsync, c->fsync_interval_ns, buf, sizeof(buf)));
}

/* Frees the strings. */
void settings_free(struct srv_config *c)
{
	free(c->socket);
	free(c->listen);
	free(c->http);
	free(c->metrics_topics);
	free(c->tls_cert);
	free(c->tls_key);
	free(c->tls_ca);
	free(c->tls_verify_client);
	free(c->users);
	free(c->socket_group);
	free(c->state_dir);
	free(c->pid_file);
	free(c->config_file);
	free(c->log);
	free(c->user);
	free(c->group);
	for (size_t i = 0; i < c->nprobes; i++)
		free(c->probes[i]);
	memset(c, 0, sizeof(*c));
}
