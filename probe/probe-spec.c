/*
 * probe-spec.c -- the probe spec grammar (see doc/probes.md):
 *
 *	spec    = target *(ws option)
 *	target  = "uprobe:" PATH ":" SYMBOL ["+" OFF] | "uretprobe:" PATH ":" SYMBOL
 *	        | "usdt:" PATH ":" PROVIDER ":" NAME | "tracepoint:" CATEGORY ":" NAME
 *	        | "perf:cpu-clock" [":freq=" HZ | ":period=" N]
 *	option  = "arm=" DURATION | "rearm=" DURATION | "cancel" | "every=" DURATION
 *	        | "key=" ("tid" | "pid" | "pid:tid" | "arg" N | "const:" N)
 *	        | "topic=" NAME | "pid=" N
 *
 * Parsing does no I/O: whether the binary, symbol, USDT probe or
 * tracepoint exists is checked when attaching. Every error names the
 * offending text and says what is expected.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "engine.h"
#include "probe/probe-int.h"

#define PROBE_DURATION_MAX (1000 * 24 * 3600 * ENGINE_NS_PER_S)	/* 1000 days */
#define PROBE_PID_MAX	   4194304				/* PID_MAX_LIMIT */
#define PROBE_WS	   " \t\r\n"
#define PROBE_UPROBE_ARGS  6					/* argN in a uprobe (x86-64 / arm64 registers) */
#define PROBE_USDT_ARGS	   12					/* argN in a USDT probe (libbpf's limit) */

/* A piece of the spec text: not NUL-terminated. */
struct probe_tok {
	const char *p;
	size_t n;
};

/* Which options a spec gave, to reject repeats. */
struct probe_seen {
	bool op, every, key, topic, pid;
};

int probe_fail(int rc, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

const char *probe_kind_name(enum probe_kind k)
{
	static const char *const names[] = {
		[PROBE_KIND_UPROBE] = "uprobe",
		[PROBE_KIND_URETPROBE] = "uretprobe",
		[PROBE_KIND_USDT] = "usdt",
		[PROBE_KIND_TRACEPOINT] = "tracepoint",
		[PROBE_KIND_PERF] = "perf",
	};

	return (unsigned)k < sizeof(names) / sizeof(names[0]) ? names[k] : "?";
}

/* True if tok equals the NUL-terminated word w. */
static bool probe_tok_is(struct probe_tok t, const char *w)
{
	return strlen(w) == t.n && memcmp(t.p, w, t.n) == 0;
}

/* True if tok starts with prefix; then advances tok past it. */
static bool probe_tok_skip(struct probe_tok *t, const char *prefix)
{
	size_t n = strlen(prefix);

	if (t->n < n || memcmp(t->p, prefix, n) != 0)
		return false;
	t->p += n;
	t->n -= n;
	return true;
}

/* Splits tok at the last ':' into head and tail; false if there is none. */
static bool probe_tok_rsplit(struct probe_tok t, struct probe_tok *head, struct probe_tok *tail)
{
	for (size_t i = t.n; i-- > 0;) {
		if (t.p[i] == ':') {
			*head = (struct probe_tok){ t.p, i };
			*tail = (struct probe_tok){ t.p + i + 1, t.n - i - 1 };
			return true;
		}
	}
	return false;
}

/* Parses an unsigned decimal or 0x-hex number filling tok; false on junk or overflow. */
static bool probe_parse_u64(struct probe_tok t, uint64_t *out)
{
	unsigned base = 10;
	uint64_t v = 0;
	size_t i = 0;

	if (t.n > 2 && t.p[0] == '0' && (t.p[1] == 'x' || t.p[1] == 'X')) {
		base = 16;
		i = 2;
	}
	if (i == t.n)
		return false;
	for (; i < t.n; i++) {
		char c = t.p[i];
		unsigned d;

		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (base == 16 && c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else if (base == 16 && c >= 'A' && c <= 'F')
			d = (unsigned)(c - 'A' + 10);
		else
			return false;
		if (v > (UINT64_MAX - d) / base)
			return false;
		v = v * base + d;
	}
	*out = v;
	return true;
}

/* Parses "<integer><unit>" (ns us ms s m h) into ns; 0 or -EINVAL with err. */
static int probe_parse_duration(const char *opt, struct probe_tok t, int64_t *out, char *err,
				size_t errlen)
{
	static const struct { const char *unit; int64_t ns; } units[] = {
		{ "ns", 1 }, { "us", ENGINE_NS_PER_US }, { "ms", ENGINE_NS_PER_MS },
		{ "s", ENGINE_NS_PER_S }, { "m", 60 * ENGINE_NS_PER_S }, { "h", 3600 * ENGINE_NS_PER_S },
	};
	size_t d = 0;
	uint64_t v;

	while (d < t.n && t.p[d] >= '0' && t.p[d] <= '9')
		d++;
	if (d == 0 || !probe_parse_u64((struct probe_tok){ t.p, d }, &v))
		return probe_fail(-EINVAL, err, errlen,
				  "bad duration '%s%.*s': expected an integer with a unit, e.g. %s50ms",
				  opt, (int)t.n, t.p, opt);
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (!probe_tok_is((struct probe_tok){ t.p + d, t.n - d }, units[i].unit))
			continue;
		if (v > (uint64_t)(PROBE_DURATION_MAX / units[i].ns))
			return probe_fail(-EINVAL, err, errlen,
					  "duration '%s%.*s' is too long (at most 1000 days)", opt,
					  (int)t.n, t.p);
		*out = (int64_t)v * units[i].ns;
		return 0;
	}
	return probe_fail(-EINVAL, err, errlen,
			  "bad duration '%s%.*s': %s (units: ns, us, ms, s, m, h), e.g. %s50ms",
			  opt, (int)t.n, t.p, d == t.n ? "the number needs a unit" : "unknown unit",
			  opt);
}

/* True if every byte of t is a letter, digit or one of extra. */
static bool probe_tok_word(struct probe_tok t, const char *extra)
{
	if (t.n == 0)
		return false;
	for (size_t i = 0; i < t.n; i++) {
		char c = t.p[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      (c && strchr(extra, c))))
			return false;
	}
	return true;
}

/* Copies a checked name into dst; 0 or -EINVAL naming what (e.g. "symbol"). */
static int probe_copy_name(char *dst, size_t cap, struct probe_tok t, const char *what,
			   const char *extra, const char *spec, char *err, size_t errlen)
{
	if (t.n == 0)
		return probe_fail(-EINVAL, err, errlen, "missing %s in '%s'", what, spec);
	if (t.n >= cap)
		return probe_fail(-EINVAL, err, errlen, "%s '%.*s' is too long (at most %zu bytes)",
				  what, (int)t.n, t.p, cap - 1);
	if (!probe_tok_word(t, extra))
		return probe_fail(-EINVAL, err, errlen,
				  "bad %s '%.*s': only letters, digits and '%s' are allowed", what,
				  (int)t.n, t.p, extra);
	memcpy(dst, t.p, t.n);
	dst[t.n] = '\0';
	return 0;
}

/* Copies an absolute binary path into s->path; 0 or -EINVAL. */
static int probe_copy_path(struct probe_spec *s, struct probe_tok t, const char *spec, char *err,
			   size_t errlen)
{
	if (t.n == 0)
		return probe_fail(-EINVAL, err, errlen, "missing binary path in '%s'", spec);
	if (t.p[0] != '/')
		return probe_fail(-EINVAL, err, errlen,
				  "binary path '%.*s' must be absolute, e.g. /usr/bin/%.*s", (int)t.n,
				  t.p, (int)t.n, t.p);
	if (t.n > PROBE_PATH_MAX)
		return probe_fail(-EINVAL, err, errlen, "binary path is too long (at most %d bytes)",
				  PROBE_PATH_MAX);
	memcpy(s->path, t.p, t.n);
	s->path[t.n] = '\0';
	return 0;
}

/* uprobe:PATH:SYMBOL[+OFF] and uretprobe:PATH:SYMBOL. */
static int probe_parse_uprobe(struct probe_spec *s, struct probe_tok t, const char *target,
			      char *err, size_t errlen)
{
	struct probe_tok path, sym;
	const char *plus;
	int rc;

	if (!probe_tok_rsplit(t, &path, &sym))
		return probe_fail(-EINVAL, err, errlen,
				  "'%s' needs a binary and a function: %s:PATH:SYMBOL", target,
				  probe_kind_name(s->kind));
	plus = memchr(sym.p, '+', sym.n);
	if (plus) {
		struct probe_tok off = { plus + 1, sym.n - (size_t)(plus + 1 - sym.p) };

		if (s->kind == PROBE_KIND_URETPROBE)
			return probe_fail(-EINVAL, err, errlen,
					  "'%s': a uretprobe fires on return from the function; "
					  "+OFF is only for uprobes", target);
		if (!probe_parse_u64(off, &s->offset))
			return probe_fail(-EINVAL, err, errlen,
					  "bad offset '+%.*s' in '%s': expected a number of bytes "
					  "(decimal or 0x hex)", (int)off.n, off.p, target);
		sym.n = (size_t)(plus - sym.p);
	}
	rc = probe_copy_path(s, path, target, err, errlen);
	if (!rc)
		rc = probe_copy_name(s->a, sizeof(s->a), sym, "symbol", "_.$", target, err,
				     errlen);
	return rc;
}

/* usdt:PATH:PROVIDER:NAME. */
static int probe_parse_usdt(struct probe_spec *s, struct probe_tok t, const char *target,
			    char *err, size_t errlen)
{
	struct probe_tok rest, path, prov, name;
	int rc;

	if (!probe_tok_rsplit(t, &rest, &name) || !probe_tok_rsplit(rest, &path, &prov))
		return probe_fail(-EINVAL, err, errlen,
				  "'%s' needs a binary, a provider and a probe name: "
				  "usdt:PATH:PROVIDER:NAME", target);
	rc = probe_copy_path(s, path, target, err, errlen);
	if (!rc)
		rc = probe_copy_name(s->a, sizeof(s->a), prov, "USDT provider", "_", target, err,
				     errlen);
	if (!rc)
		rc = probe_copy_name(s->b, sizeof(s->b), name, "USDT probe name", "_", target,
				     err, errlen);
	return rc;
}

/* tracepoint:CATEGORY:NAME. */
static int probe_parse_tracepoint(struct probe_spec *s, struct probe_tok t, const char *target,
				  char *err, size_t errlen)
{
	struct probe_tok cat, name;
	int rc;

	if (!probe_tok_rsplit(t, &cat, &name))
		return probe_fail(-EINVAL, err, errlen,
				  "'%s' needs a category and a name: tracepoint:CATEGORY:NAME, "
				  "e.g. tracepoint:sched:sched_process_exit", target);
	rc = probe_copy_name(s->a, sizeof(s->a), cat, "tracepoint category", "_-.", target, err,
			     errlen);
	if (!rc)
		rc = probe_copy_name(s->b, sizeof(s->b), name, "tracepoint name", "_-.", target,
				     err, errlen);
	return rc;
}

/* perf:cpu-clock[:freq=HZ|:period=N]. */
static int probe_parse_perf(struct probe_spec *s, struct probe_tok t, const char *target,
			    char *err, size_t errlen)
{
	struct probe_tok arg = { t.p + t.n, 0 };
	const char *colon = memchr(t.p, ':', t.n);
	int64_t ns;

	if (colon) {
		arg = (struct probe_tok){ colon + 1, t.n - (size_t)(colon + 1 - t.p) };
		t.n = (size_t)(colon - t.p);
	}
	if (!probe_tok_is(t, "cpu-clock"))
		return probe_fail(-EINVAL, err, errlen,
				  "perf event '%.*s' is not supported: use perf:cpu-clock "
				  "(a software event; hardware PMU events are not used)",
				  (int)t.n, t.p);
	s->perf_freq = true;
	s->perf_sample = PROBE_PERF_FREQ;
	if (!colon)
		return 0;
	if (probe_tok_skip(&arg, "freq=")) {
		if (!probe_parse_u64(arg, &s->perf_sample) || s->perf_sample == 0 ||
		    s->perf_sample > 1000000)
			return probe_fail(-EINVAL, err, errlen,
					  "bad frequency 'freq=%.*s': expected 1 to 1000000 (Hz)",
					  (int)arg.n, arg.p);
		return 0;
	}
	if (probe_tok_skip(&arg, "period=")) {
		s->perf_freq = false;
		if (probe_parse_u64(arg, &s->perf_sample) && s->perf_sample > 0)
			return 0;	/* a bare number: ns of CPU time */
		if (probe_parse_duration("period=", arg, &ns, err, errlen) || ns == 0)
			return probe_fail(-EINVAL, err, errlen,
					  "bad period 'period=%.*s': expected ns of CPU time "
					  "(e.g. period=1000000) or a duration (e.g. period=1ms)",
					  (int)arg.n, arg.p);
		s->perf_sample = (uint64_t)ns;
		return 0;
	}
	return probe_fail(-EINVAL, err, errlen,
			  "bad perf option ':%.*s' in '%s': expected :freq=HZ or :period=N",
			  (int)arg.n, arg.p, target);
}

/* Parses the target (the first word): kind and what it names. */
static int probe_parse_target(struct probe_spec *s, struct probe_tok t, char *err, size_t errlen)
{
	static const struct { const char *prefix; enum probe_kind kind; } kinds[] = {
		{ "uprobe:", PROBE_KIND_UPROBE },	  { "uretprobe:", PROBE_KIND_URETPROBE },
		{ "usdt:", PROBE_KIND_USDT },		  { "tracepoint:", PROBE_KIND_TRACEPOINT },
		{ "perf:", PROBE_KIND_PERF },
	};
	char target[PROBE_SPEC_MAX + 1];
	struct probe_tok rest = t;

	snprintf(target, sizeof(target), "%.*s", (int)t.n, t.p);
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (!probe_tok_skip(&rest, kinds[i].prefix))
			continue;
		s->kind = kinds[i].kind;
		switch (s->kind) {
		case PROBE_KIND_UPROBE:
		case PROBE_KIND_URETPROBE:
			return probe_parse_uprobe(s, rest, target, err, errlen);
		case PROBE_KIND_USDT:
			return probe_parse_usdt(s, rest, target, err, errlen);
		case PROBE_KIND_TRACEPOINT:
			return probe_parse_tracepoint(s, rest, target, err, errlen);
		case PROBE_KIND_PERF:
			return probe_parse_perf(s, rest, target, err, errlen);
		}
	}
	return probe_fail(-EINVAL, err, errlen,
			  "unknown probe '%s': expected uprobe:PATH:SYMBOL, uretprobe:PATH:SYMBOL, "
			  "usdt:PATH:PROVIDER:NAME, tracepoint:CATEGORY:NAME or perf:cpu-clock",
			  target);
}

/* key=argN: checks N against what the probe kind can read. */
static int probe_parse_key_arg(struct probe_spec *s, struct probe_tok v, char *err, size_t errlen)
{
	unsigned max = s->kind == PROBE_KIND_UPROBE ? PROBE_UPROBE_ARGS :
		       s->kind == PROBE_KIND_USDT   ? PROBE_USDT_ARGS : 0;
	uint64_t n;

	if (max == 0)
		return probe_fail(-EINVAL, err, errlen,
				  "key=arg%.*s is not available in a %s probe%s; use key=tid, pid, "
				  "pid:tid or const:N", (int)v.n, v.p, probe_kind_name(s->kind),
				  s->kind == PROBE_KIND_URETPROBE ?
				  " (arguments are gone at return)" : "");
	if (v.n == 0 || v.n > 2 || !probe_parse_u64(v, &n) || n >= max)
		return probe_fail(-EINVAL, err, errlen,
				  "bad key 'key=arg%.*s': a %s probe has arguments arg0 to arg%u",
				  (int)v.n, v.p, probe_kind_name(s->kind), max - 1);
	s->key_src = PROBES_KEY_ARG;
	s->key_arg = (uint8_t)n;
	return 0;
}

/* key=tid|pid|pid:tid|argN|const:N. */
static int probe_parse_key(struct probe_spec *s, struct probe_tok v, char *err, size_t errlen)
{
	struct probe_tok rest = v;

	if (probe_tok_is(v, "tid"))
		s->key_src = PROBES_KEY_TID;
	else if (probe_tok_is(v, "pid"))
		s->key_src = PROBES_KEY_PID;
	else if (probe_tok_is(v, "pid:tid"))
		s->key_src = PROBES_KEY_PID_TID;
	else if (probe_tok_skip(&rest, "arg"))
		return probe_parse_key_arg(s, rest, err, errlen);
	else if (probe_tok_skip(&rest, "const:")) {
		if (!probe_parse_u64(rest, &s->key_const))
			return probe_fail(-EINVAL, err, errlen,
					  "bad key 'key=const:%.*s': expected a number (decimal or "
					  "0x hex)", (int)rest.n, rest.p);
		s->key_src = PROBES_KEY_CONST;
	} else
		return probe_fail(-EINVAL, err, errlen,
				  "bad key 'key=%.*s': expected tid, pid, pid:tid, argN or const:N",
				  (int)v.n, v.p);
	return 0;
}

/* pid=N. */
static int probe_parse_pid(struct probe_spec *s, struct probe_tok v, char *err, size_t errlen)
{
	uint64_t pid;

	if (!probe_parse_u64(v, &pid) || pid == 0 || pid > PROBE_PID_MAX)
		return probe_fail(-EINVAL, err, errlen,
				  "bad pid 'pid=%.*s': expected a process id from 1 to %d", (int)v.n,
				  v.p, PROBE_PID_MAX);
	s->pid = (uint32_t)pid;
	return 0;
}

/* Rejects a second occurrence of an option. */
static int probe_once(bool *seen, const char *what, char *err, size_t errlen)
{
	if (*seen)
		return probe_fail(-EINVAL, err, errlen, "%s given twice", what);
	*seen = true;
	return 0;
}

/* arm=D, rearm=D, cancel. */
static int probe_parse_op(struct probe_spec *s, struct probe_seen *seen, struct probe_tok o,
			  char *err, size_t errlen)
{
	struct probe_tok v = o;
	int rc = probe_once(&seen->op, "the action (arm=, rearm= or cancel)", err, errlen);

	if (rc)
		return rc;
	if (probe_tok_is(o, "cancel")) {
		s->op = PROBE_OP_CANCEL;
		return 0;
	}
	if (probe_tok_skip(&v, "arm=")) {
		s->op = PROBE_OP_ARM;
		return probe_parse_duration("arm=", v, &s->delay, err, errlen);
	}
	probe_tok_skip(&v, "rearm=");
	s->op = PROBE_OP_REARM;
	return probe_parse_duration("rearm=", v, &s->delay, err, errlen);
}

/* Parses one option word into s. */
static int probe_parse_option(struct probe_spec *s, struct probe_seen *seen, struct probe_tok o,
			      char *err, size_t errlen)
{
	struct probe_tok v = o;
	int rc;

	if (probe_tok_is(o, "cancel") || probe_tok_skip(&v, "arm=") ||
	    probe_tok_skip(&v, "rearm="))
		return probe_parse_op(s, seen, o, err, errlen);
	if (probe_tok_skip(&v, "every=")) {
		rc = probe_once(&seen->every, "every=", err, errlen);
		if (!rc)
			rc = probe_parse_duration("every=", v, &s->period, err, errlen);
		if (!rc && s->period < ENGINE_MIN_PERIOD)
			rc = probe_fail(-EINVAL, err, errlen,
					"every= must be at least 1us (drop it for a one-shot timer)");
		return rc;
	}
	if (probe_tok_skip(&v, "key=")) {
		rc = probe_once(&seen->key, "key=", err, errlen);
		return rc ? rc : probe_parse_key(s, v, err, errlen);
	}
	if (probe_tok_skip(&v, "topic=")) {
		rc = probe_once(&seen->topic, "topic=", err, errlen);
		return rc ? rc : probe_copy_name(s->topic, sizeof(s->topic), v, "topic", "_.-",
						 "topic=", err, errlen);
	}
	if (probe_tok_skip(&v, "pid=")) {
		rc = probe_once(&seen->pid, "pid=", err, errlen);
		return rc ? rc : probe_parse_pid(s, v, err, errlen);
	}
	return probe_fail(-EINVAL, err, errlen,
			  "unknown option '%.*s': expected arm=DURATION, rearm=DURATION, cancel, "
			  "every=DURATION, key=..., topic=NAME or pid=N", (int)o.n, o.p);
}

/* Checks the combination of options once all are parsed. */
static int probe_spec_check(struct probe_spec *s, char *err, size_t errlen)
{
	if (s->op == PROBE_OP_NONE)
		return probe_fail(-EINVAL, err, errlen,
				  "no action: add arm=DURATION, rearm=DURATION or cancel");
	if (s->period && s->op == PROBE_OP_CANCEL)
		return probe_fail(-EINVAL, err, errlen,
				  "every= needs arm= or rearm= (a cancel has no period)");
	if (!s->topic[0])
		strcpy(s->topic, "probe");
	return 0;
}

/* Returns the next whitespace-separated word of *cur (n == 0 at the end). */
static struct probe_tok probe_next_word(const char **cur)
{
	const char *p = *cur + strspn(*cur, PROBE_WS);
	size_t n = strcspn(p, PROBE_WS);

	*cur = p + n;
	return (struct probe_tok){ p, n };
}

int probe_spec_parse(const char *text, struct probe_spec *s, char *err, size_t errlen)
{
	struct probe_seen seen = { 0 };
	const char *cur = text;
	struct probe_tok w;
	int rc;

	memset(s, 0, sizeof(*s));
	if (!text || !*(text + strspn(text, PROBE_WS)))
		return probe_fail(-EINVAL, err, errlen,
				  "empty probe spec: expected e.g. 'uprobe:/usr/bin/app:handle "
				  "arm=50ms key=tid topic=slow'");
	if (strlen(text) > PROBE_SPEC_MAX)
		return probe_fail(-EINVAL, err, errlen, "probe spec is too long (at most %d bytes)",
				  PROBE_SPEC_MAX);
	rc = probe_parse_target(s, probe_next_word(&cur), err, errlen);
	while (!rc && (w = probe_next_word(&cur)).n)
		rc = probe_parse_option(s, &seen, w, err, errlen);
	return rc ? rc : probe_spec_check(s, err, errlen);
}

/* Writes v in decimal at p; returns the number of digits. */
static size_t probe_utoa(char *p, uint64_t v)
{
	char tmp[20];
	size_t n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (size_t i = 0; i < n; i++)
		p[i] = tmp[n - 1 - i];
	return n;
}

size_t probe_key_format(char *buf, const char *topic, size_t topiclen, enum probes_key_src src,
			uint64_t value)
{
	size_t n = 0;

	memcpy(buf, "probe:", 6);
	n = 6;
	memcpy(buf + n, topic, topiclen);
	n += topiclen;
	buf[n++] = ':';
	if (src == PROBES_KEY_PID_TID) {
		n += probe_utoa(buf + n, value >> 32);
		buf[n++] = ':';
		value &= 0xffffffffu;
	}
	n += probe_utoa(buf + n, value);
	buf[n] = '\0';
	return n;
}
