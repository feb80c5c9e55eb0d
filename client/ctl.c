/*
 * ctl.c -- helpers timerctl's subcommands share (see timerctl.h).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/timerctl.h"
#include "proto/text.h"
#include "proto/units.h"

/* Prints "timerctl: <message>" to stderr; returns code. */
int ctl_fail(struct ctl *ctl, int code, const char *fmt, ...)
{
	char msg[CTL_SAFE_SZ], safe[4 * CTL_SAFE_SZ];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* messages carry server text (Error.message): no control or bidi character reaches the terminal */
	fprintf(stderr, "%s: %s\n", ctl->prog, ctl_safe(msg, safe, sizeof(safe)));
	return code;
}

/* Maps a library code to an exit code. */
static int ctl_exit_for(int rc)
{
	switch (rc) {
	case TIMERD_OK:
		return CTL_EXIT_OK;
	case TIMERD_ENOTFOUND:
		return CTL_EXIT_NOTFOUND;
	case TIMERD_ESTORAGE:
		return CTL_EXIT_TEMPORARY;
	case TIMERD_ECONNECT:
	case TIMERD_EIO:
	case TIMERD_ECLOSED:
	case TIMERD_EPROTO:
	case TIMERD_ETIMEDOUT:
	case TIMERD_ECONNS:
	case TIMERD_ESHUTDOWN:
		return CTL_EXIT_UNREACHABLE;
	default:
		return CTL_EXIT_FAILED;
	}
}

/* Reports a failed library call; returns the matching exit code. */
int ctl_fail_call(struct ctl *ctl, int rc, const char *what)
{
	return ctl_fail(ctl, ctl_exit_for(rc), "%s: %s", what, timerd_errmsg(ctl->t));
}

/* Prints a command's usage line and help to f. */
void ctl_cmd_help(struct ctl *ctl, const struct cmd_entry *cmd, FILE *f)
{
	fprintf(f, "usage: %s %s %s\n%s\n", ctl->prog, cmd->name, cmd->usage, cmd->help);
	if (cmd->options && *cmd->options)
		fprintf(f, "\nOptions:\n%s", cmd->options);
	fprintf(f, "\nGlobal options: --socket PATH, --connect HOST:PORT|tls://HOST:PORT, --json, --timeout DURATION\n");
	fprintf(f, "TLS: --tls, --ca FILE (CAs to verify the server), --cert FILE [--cert-key FILE] (client certificate and its key;\n"
		   "     timerctl arm's --key is the timer's key),\n"
		   "     --server-name NAME (name checked in the server's certificate; default: the host connected to)\n"
		   "Identity: --user NAME, its secret from $TIMERD_SECRET or --secret-file FILE (never on the command line)\n");
}

/* Prints a usage error for a command; returns CTL_EXIT_USAGE. */
int ctl_usage(struct ctl *ctl, const struct cmd_entry *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s %s: ", ctl->prog, cmd->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nusage: %s %s %s\nTry '%s %s --help'.\n", ctl->prog, cmd->name, cmd->usage,
		ctl->prog, cmd->name);
	return CTL_EXIT_USAGE;
}

/* Handles a global option, --help or '?' inside a subcommand. */
bool ctl_global_opt(struct ctl *ctl, const struct cmd_entry *cmd, int c, const char *arg, int *exit_code)
{
	int64_t ns;

	*exit_code = CTL_EXIT_USAGE;
	switch (c) {
	case CTL_OPT_SOCKET:
	case CTL_OPT_CONNECT:
		ctl->addr = arg;
		return false;
	case CTL_OPT_JSON:
		ctl->json = true;
		return false;
	case CTL_OPT_TLS:
		ctl->tls = true;
		return false;
	case CTL_OPT_CA:
		ctl->tls = true;
		ctl->tls_opt.ca_file = arg;
		return false;
	case CTL_OPT_CERT:
		ctl->tls = true;
		ctl->tls_opt.cert_file = arg;
		return false;
	case CTL_OPT_KEY:
		ctl->tls = true;
		ctl->tls_opt.key_file = arg;
		return false;
	case CTL_OPT_SNAME:
		ctl->tls = true;
		ctl->tls_opt.server_name = arg;
		return false;
	case CTL_OPT_USER:
		ctl->user = arg;
		return false;
	case CTL_OPT_SECRET_FILE:
		ctl->secret_file = arg;
		return false;
	case CTL_OPT_TIMEOUT:
		if (!ctl_duration(ctl, "--timeout", arg, &ns))
			return true;
		ctl->timeout_ms = ns / 1000000 > 0 ? (int)(ns / 1000000 > 86400000 ? 86400000 : ns / 1000000) : 1;
		return false;
	case CTL_OPT_HELP:
		if (cmd)
			ctl_cmd_help(ctl, cmd, stdout);
		*exit_code = CTL_EXIT_OK;
		return true;
	default:
		if (cmd)
			fprintf(stderr, "Try '%s %s --help'.\n", ctl->prog, cmd->name);
		else
			fprintf(stderr, "Try '%s --help'.\n", ctl->prog);
		return true;
	}
}

/* Reads --user's secret: --secret-file (one line; its newline dropped), else $TIMERD_SECRET; false after saying why. */
static bool ctl_secret(struct ctl *ctl)
{
	const char *env = getenv("TIMERD_SECRET");

	if (!ctl->user || ctl->secret)
		return true;
	if (ctl->secret_file) {
		if (!(ctl->secret = ctl_read_file(ctl, ctl->secret_file, 1024, &ctl->secret_len)))
			return false;
		while (ctl->secret_len && (ctl->secret[ctl->secret_len - 1] == '\n' ||
					   ctl->secret[ctl->secret_len - 1] == '\r'))
			ctl->secret_len--;
	} else if (env) {
		if (!(ctl->secret = strdup(env))) {
			ctl_fail(ctl, CTL_EXIT_FAILED, "out of memory");
			return false;
		}
		ctl->secret_len = strlen(env);
	} else {
		ctl_fail(ctl, CTL_EXIT_USAGE, "--user %s: give its secret in $TIMERD_SECRET or with --secret-file FILE "
			 "(never on the command line)", ctl->user);
		return false;
	}
	return true;
}

/* The connection options for ctl (--user's secret read on first use: ctl_connect reports a missing one). */
struct timerd_options ctl_options(struct ctl *ctl)
{
	struct timerd_options opt = { .timeout_ms = ctl->timeout_ms, .client_name = "timerctl " PACKAGE_VERSION };

	if (ctl->user && !ctl->secret)
		ctl_secret(ctl);

	if (ctl->tls)
		opt.tls = &ctl->tls_opt;
	if (ctl->user && ctl->secret) {
		opt.identity = ctl->user;
		opt.secret = ctl->secret;
		opt.secret_len = ctl->secret_len;
	}
	return opt;
}

/* Connects ctl->t. */
int ctl_connect(struct ctl *ctl)
{
	struct timerd_options opt;
	struct timerd_error e;
	int rc;

	if (!ctl_secret(ctl))
		return CTL_EXIT_USAGE;
	opt = ctl_options(ctl);
	rc = timerd_connect(ctl->addr, &opt, &ctl->t, &e);

	if (rc == TIMERD_OK)
		return CTL_EXIT_OK;
	return ctl_fail(ctl, ctl_exit_for(rc), "%s", e.message);
}

/* Parses a duration option. */
bool ctl_duration(struct ctl *ctl, const char *opt, const char *s, int64_t *ns)
{
	char err[256];

	if (units_duration_parse(s, ns, err, sizeof(err)) == 0)
		return true;
	ctl_fail(ctl, CTL_EXIT_USAGE, "%s: %s", opt, err);
	return false;
}

/* Parses an unsigned integer option. */
bool ctl_u64(struct ctl *ctl, const char *opt, const char *s, uint64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 10);
	if (*s && *s != '-' && !*end && !errno)
		return true;
	ctl_fail(ctl, CTL_EXIT_USAGE, "%s: '%s' is not a number", opt, s);
	return false;
}

/* Reads a whole file of at most max bytes. */
char *ctl_read_file(struct ctl *ctl, const char *path, size_t max, size_t *len)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	char *buf;
	size_t n;

	if (!f) {
		ctl_fail(ctl, CTL_EXIT_USAGE, "cannot open %s: %s", path, strerror(errno));
		return NULL;
	}
	buf = malloc(max + 1);
	n = buf ? fread(buf, 1, max + 1, f) : 0;
	if (f != stdin)
		fclose(f);
	if (!buf || n > max) {
		free(buf);
		ctl_fail(ctl, CTL_EXIT_USAGE, "%s is larger than %zu bytes (timerd's payload limit)", path, max);
		return NULL;
	}
	*len = n;
	return buf;
}

/* Reads a clock in ns. */
static int64_t ctl_clock(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return ts.tv_sec * TIMERD_S + ts.tv_nsec;
}

/* CLOCK_MONOTONIC now. */
int64_t ctl_mono(void)
{
	return ctl_clock(CLOCK_MONOTONIC);
}

/* CLOCK_REALTIME now. */
int64_t ctl_real(void)
{
	return ctl_clock(CLOCK_REALTIME);
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid. */
static size_t ctl_utf8_len(const unsigned char *s, size_t n)
{
	size_t len = s[0] < 0x80 ? 1 : (s[0] & 0xe0) == 0xc0 ? 2 : (s[0] & 0xf0) == 0xe0 ? 3 : (s[0] & 0xf8) == 0xf0 ? 4 : 0;

	if (!len || len > n || (len == 2 && s[0] < 0xc2))
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return len;
}

/* True if p[0..n) is valid UTF-8 with no NUL. */
static bool ctl_is_text(const void *p, size_t n)
{
	const unsigned char *s = p;

	for (size_t i = 0, l; i < n; i += l)
		if (!s[i] || !(l = ctl_utf8_len(s + i, n - i)))
			return false;
	return true;
}

/* Length of a control or bidi character at s (text_is_control) or of an invalid byte: 0 if it shows as itself. */
static size_t ctl_unsafe_len(const unsigned char *s, size_t n)
{
	size_t l = text_utf8_seq(s, n);

	if (!l)
		return 1;
	return text_is_control(s, l) ? l : 0;
}

/* The code point of the valid UTF-8 sequence s (len bytes). */
static unsigned ctl_codepoint(const unsigned char *s, size_t len)
{
	static const unsigned char lead[] = { 0, 0x7f, 0x1f, 0x0f, 0x07 };
	unsigned cp = s[0] & lead[len];

	for (size_t i = 1; i < len; i++)
		cp = cp << 6 | (s[i] & 0x3f);
	return cp;
}

const char *ctl_safe(const char *s, char *buf, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t n = strlen(s), o = 0, l;
	bool clean = true;

	for (size_t i = 0; i < n; i += l) {
		if (ctl_unsafe_len(u + i, n - i)) {
			clean = false;
			break;
		}
		l = text_utf8_seq(u + i, n - i);
	}
	if (clean)
		return s;
	for (size_t i = 0; i < n && o + 12 < len; i += l) {
		size_t bad = ctl_unsafe_len(u + i, n - i);

		l = bad ? bad : text_utf8_seq(u + i, n - i);
		if (!bad)
			memcpy(buf + o, s + i, l), o += l;
		else if (l == 1)
			o += (size_t)snprintf(buf + o, len - o, "\\x%02x", u[i]);
		else
			o += (size_t)snprintf(buf + o, len - o, "\\u%04x", ctl_codepoint(u + i, l));
	}
	buf[o] = '\0';
	return buf;
}

/* Writes n bytes of text as the inside of a JSON string. */
static void ctl_json_chars(FILE *f, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		size_t l = text_utf8_seq((const unsigned char *)s + i, n - i);

		if (l > 1 && text_is_control((const unsigned char *)s + i, l)) {
			fprintf(f, "\\u%04x", ctl_codepoint((const unsigned char *)s + i, l));	/* C1, bidi: never raw */
			i += l - 1;
		} else if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c == '\t')
			fputs("\\t", f);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
}

/* Writes s as a JSON string. */
void ctl_json_str(FILE *f, const char *s)
{
	fputc('"', f);
	ctl_json_chars(f, s ? s : "", s ? strlen(s) : 0);
	fputc('"', f);
}

/* Writes bytes as a JSON member "payload" (text) or "payload_hex". */
void ctl_json_payload(FILE *f, const void *p, size_t n)
{
	if (ctl_is_text(p, n)) {
		fputs("\"payload\":\"", f);
		ctl_json_chars(f, p, n);
		fputc('"', f);
		return;
	}
	fputs("\"payload_hex\":\"", f);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%02x", ((const unsigned char *)p)[i]);
	fputc('"', f);
}

/* Writes bytes for humans: the text if printable, else <N bytes>. */
void ctl_human_payload(FILE *f, const void *p, size_t n)
{
	const unsigned char *s = p;
	bool printable = ctl_is_text(p, n);

	for (size_t i = 0; printable && i < n; i++)
		printable = !ctl_unsafe_len(s + i, n - i);	/* no control or bidi character reaches the terminal */
	if (printable)
		fprintf(f, "%.*s", (int)n, (const char *)p);
	else
		fprintf(f, "<%zu bytes>", n);
}

/* Prints a fire as a JSON line. */
static void ctl_fire_json(const struct timerd_fire *f)
{
	printf("{\"event\":\"fire\",\"timer_id\":%" PRIu64 ",\"key\":", f->timer_id);
	ctl_json_str(stdout, f->key);
	printf(",\"topic\":");
	ctl_json_str(stdout, f->topic);
	printf(",\"deadline_mono_ns\":%" PRId64 ",\"fired_mono_ns\":%" PRId64 ",\"deadline_unix_ns\":%" PRId64
	       ",\"late_ns\":%" PRId64 ",\"received_late_ns\":%" PRId64 ",\"period_ns\":%" PRId64
	       ",\"seq\":%" PRIu64 ",\"missed\":%" PRIu64 ",\"final\":%s,\"recovered\":%s,",
	       f->deadline_mono_ns, f->fired_mono_ns, f->deadline_unix_ns, f->fired_mono_ns - f->deadline_mono_ns,
	       ctl_mono() - f->deadline_mono_ns, f->period_ns, f->seq, f->missed, f->final ? "true" : "false",
	       f->recovered ? "true" : "false");
	ctl_json_payload(stdout, f->payload, f->payload_len);
	if (f->has_origin) {
		printf(",\"origin\":{\"probe_id\":%u,\"pid\":%u,\"tid\":%u,\"hit_mono_ns\":%" PRId64 ",\"comm\":",
		       f->origin.probe_id, f->origin.pid, f->origin.tid, f->origin.hit_mono_ns);
		ctl_json_str(stdout, f->origin.comm);
		putchar('}');
	}
	printf("}\n");
}

/* Prints a fire as a human line. */
static void ctl_fire_human(const struct timerd_fire *f)
{
	char when[UNITS_BUFSZ], late[UNITS_BUFSZ], safe[CTL_SAFE_SZ];

	printf("%s  fired  id=%" PRIu64, units_time_format(f->deadline_unix_ns, false, when, sizeof(when)),
	       f->timer_id);
	if (*f->key)
		printf(" key=%s", ctl_safe(f->key, safe, sizeof(safe)));
	if (*f->topic)
		printf(" topic=%s", ctl_safe(f->topic, safe, sizeof(safe)));
	printf(" late=%s", units_duration_format(f->fired_mono_ns - f->deadline_mono_ns, late, sizeof(late)));
	if (f->period_ns)
		printf(" seq=%" PRIu64, f->seq);
	if (f->missed)
		printf(" missed=%" PRIu64, f->missed);
	if (f->recovered)
		printf(" recovered");
	if (f->has_origin)
		printf(" pid=%u tid=%u comm=%s probe=%u", f->origin.pid, f->origin.tid,
		       ctl_safe(f->origin.comm, safe, sizeof(safe)), f->origin.probe_id);
	if (f->payload_len) {
		printf(" payload=");
		ctl_human_payload(stdout, f->payload, f->payload_len);
	}
	putchar('\n');
}

/* Prints a fire event as a line. */
void ctl_print_fire(struct ctl *ctl, const struct timerd_fire *f)
{
	if (ctl->json)
		ctl_fire_json(f);
	else
		ctl_fire_human(f);
	fflush(stdout);
}

/* The name of a misfire policy. */
const char *ctl_misfire_name(enum timerd_misfire m, char buf[16])
{
	switch (m) {
	case TIMERD_MISFIRE_FIRE:
		return "fire";
	case TIMERD_MISFIRE_SKIP:
		return "skip";
	default:
		snprintf(buf, 16, "%d", (int)m);
		return buf;
	}
}

/* Prints a notice event as a line. */
void ctl_print_notice(struct ctl *ctl, const struct timerd_event *ev)
{
	if (ctl->json) {
		printf("{\"event\":\"notice\",\"kind\":%d,\"count\":%" PRIu64 ",\"message\":", (int)ev->notice.kind,
		       ev->notice.count);
		ctl_json_str(stdout, ev->notice.message);
		printf("}\n");
	} else {
		char safe[CTL_SAFE_SZ];

		printf("notice: %s\n", ctl_safe(ev->notice.message, safe, sizeof(safe)));
	}
	fflush(stdout);
}

int ctl_key_or_id(struct ctl *ctl, const struct cmd_entry *cmd, int argc, char **argv,
		  const char **key, uint64_t *id)
{
	static const struct option opts[] = { CTL_GLOBAL_LONGOPTS, { "id", required_argument, NULL, 'I' },
					      { NULL, 0, NULL, 0 } };
	int c, rc;

	*key = NULL;
	*id = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'I') {
			if (!ctl_u64(ctl, "--id", optarg, id))
				return CTL_EXIT_USAGE;
		} else if (ctl_global_opt(ctl, cmd, c, optarg, &rc)) {
			return rc == CTL_EXIT_OK ? CTL_DONE : rc;
		}
	}
	if (optind < argc)
		*key = argv[optind++];
	if (optind < argc || !*key == !*id)
		return ctl_usage(ctl, cmd, "give one KEY or --id ID");
	return CTL_EXIT_OK;
}
