/*
 * ident.c -- the users file and the rule engine (ident.h).
 *
 * A line is `NAME FIELD=VALUE ...`; '#' starts a comment; blank lines are
 * skipped. Any bad line rejects the whole file with FILE:LINE and what to
 * fix. Prefix lists are compiled into sorted arrays with redundant entries
 * removed, so a check is one binary search per list (bench/bench-ident.c).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "server/ident.h"
#include "proto/units.h"

/* Largest users file read. */
#define IDENT_FILE_MAX (16u << 20)

static const char *const ident_op_names[] = {
#define IDENT_OP_NAME(e, s) [IDENT_OP_##e] = s,
	IDENT_OPS(IDENT_OP_NAME)
#undef IDENT_OP_NAME
};

/* The key of the verified-secret tags: random per process, never stored. */
static uint8_t ident_tag_key[32];
static pthread_once_t ident_tag_once = PTHREAD_ONCE_INIT;
static bool ident_tag_ok;

/* Formats an error into err; returns -1. */
__attribute__((format(printf, 3, 4)))
static int ident_errf(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return -1;
}

/* The name of op. */
const char *ident_op_name(enum ident_op op)
{
	return (unsigned)op < IDENT_NOPS ? ident_op_names[op] : "?";
}

/* Frees one identity. */
static void ident_free(struct ident *id)
{
	if (!id)
		return;
	free(id->name);
	free(id->cert);
	for (uint32_t i = 0; i < id->keys.n; i++)
		free((char *)(uintptr_t)id->keys.v[i]);
	for (uint32_t i = 0; i < id->topics.n; i++)
		free((char *)(uintptr_t)id->topics.v[i]);
	free(id->keys.v);
	free(id->keys.len);
	free(id->keys.up);
	free(id->topics.v);
	free(id->topics.len);
	free(id->topics.up);
	pthread_mutex_destroy(&id->lock);
	free(id);
}

/* Takes one more reference. */
struct ident_table *ident_table_ref(struct ident_table *t)
{
	if (t)	/* relaxed: the caller already holds a reference, nothing to order */
		atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
	return t;
}

/* Drops one reference; the last frees the table. */
void ident_table_unref(struct ident_table *t)
{
	/* acq_rel: the last dropper sees every other holder's reads finished before it frees */
	if (!t || atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) != 1)
		return;
	if (t->admin && t->admin->line == 0)	/* the built-in one; a file's admin is in v (freed below) */
		ident_free(t->admin);
	for (uint32_t i = 0; i < t->n; i++)
		ident_free(t->v[i]);
	free(t->v);
	free(t->path);
	free(t);
}

/* A new identity with the defaults of a line without fields. */
static struct ident *ident_new(const char *name, size_t len, unsigned line)
{
	struct ident *id = calloc(1, sizeof(*id));

	if (!id)
		return NULL;
	if (!(id->name = strndup(name, len))) {
		free(id);
		return NULL;
	}
	pthread_mutex_init(&id->lock, NULL);
	id->ops = IDENT_OPS_DEFAULT;
	id->keys = (struct ident_prefixes){ .all = true, .sep = '/' };
	id->topics = (struct ident_prefixes){ .all = true, .sep = '.' };
	id->line = line;
	return id;
}

/* True if c may be in an identity name. */
static bool ident_name_char(int c)
{
	return isalnum(c) || c == '_' || c == '-' || c == '.' || c == '@';
}

/* Parses n hex digits pairs into out (len bytes); 0 or -1. */
static int ident_unhex(const char *s, size_t n, uint8_t *out, size_t len)
{
	if (n != 2 * len)
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned v;

		if (!isxdigit((unsigned char)s[2 * i]) || !isxdigit((unsigned char)s[2 * i + 1]) ||
		    sscanf(s + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (uint8_t)v;
	}
	return 0;
}

/* secret=scrypt$LOG2N,R,P$SALT$HASH; 0 or -1 with what to fix in why. */
static int ident_parse_secret(struct ident *id, const char *v, size_t n, char *why, size_t wl)
{
	char buf[256];
	unsigned a, b, c;
	char *salt, *hash, *params;

	if (n >= sizeof(buf))
		return ident_errf(why, wl, "secret= is too long: give the value timerctl user add prints");
	memcpy(buf, v, n);
	buf[n] = '\0';
	if (strncmp(buf, "scrypt$", 7) != 0)
		return ident_errf(why, wl, "secret= must be scrypt$LOG2N,R,P$SALT$HASH (the secret is never written in "
				  "clear: timerctl user add NAME prints a line with one)");
	params = buf + 7;
	if (!(salt = strchr(params, '$')) || !(hash = strchr(salt + 1, '$')))
		return ident_errf(why, wl, "secret=scrypt$...: give four parts separated by '$'");
	*salt++ = '\0';
	*hash++ = '\0';
	if (sscanf(params, "%u,%u,%u", &a, &b, &c) != 3 || a < 10 || a > 22 || b < 1 || b > 32 || c < 1 || c > 16)
		return ident_errf(why, wl, "secret=scrypt$%s$...: parameters are LOG2N,R,P with LOG2N 10-22, R 1-32, "
				  "P 1-16 (timerctl user add uses %d,%d,%d)", params, IDENT_SCRYPT_LOG2N, IDENT_SCRYPT_R,
				  IDENT_SCRYPT_P);
	if (ident_unhex(salt, strlen(salt), id->salt, IDENT_SALT_LEN) < 0 ||
	    ident_unhex(hash, strlen(hash), id->hash, IDENT_HASH_LEN) < 0)
		return ident_errf(why, wl, "secret=: the salt must be %d and the hash %d hex digits", 2 * IDENT_SALT_LEN,
				  2 * IDENT_HASH_LEN);
	id->log2n = (uint8_t)a;
	id->r = (uint8_t)b;
	id->p = (uint8_t)c;
	id->has_secret = true;
	return 0;
}

/* allow=OP[,OP...] (or "*" for every operation); 0 or -1. */
static int ident_parse_ops(struct ident *id, const char *v, size_t n, char *why, size_t wl)
{
	uint32_t ops = 0;

	if (n == 1 && *v == '*') {
		id->ops = IDENT_OPS_ALL;
		return 0;
	}
	for (size_t i = 0; i < n;) {
		size_t j = i;
		int op;

		while (j < n && v[j] != ',')
			j++;
		for (op = 0; op < IDENT_NOPS; op++)
			if (strlen(ident_op_names[op]) == j - i && memcmp(ident_op_names[op], v + i, j - i) == 0)
				break;
		if (op == IDENT_NOPS)
			return ident_errf(why, wl, "allow=: unknown operation '%.*s': give some of arm, cancel, get, list, "
					  "watch, consume, stats, probe, admin (comma-separated) or *", (int)(j - i), v + i);
		ops |= IDENT_OP_BIT(op);
		i = j + 1;
	}
	id->ops = ops;
	return 0;
}

/* qsort comparator of prefix strings. */
static int ident_cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* True if prefix a holds b (b equals a, or starts with a then sep). */
static bool ident_holds(const char *a, size_t al, const char *b, size_t bl, char sep)
{
	return bl >= al && memcmp(a, b, al) == 0 && (bl == al || b[al] == sep);
}

/*
 * keys= / topics=: comma-separated prefixes, or "*". Compiled sorted with
 * the ones another holds removed; 0 or -1.
 */
static int ident_parse_prefixes(struct ident_prefixes *p, const char *field, const char *v, size_t n, char *why,
				size_t wl)
{
	const char **tmp;
	uint32_t k = 0, m = 0;

	if (n == 1 && *v == '*') {
		p->all = true;
		return 0;
	}
	p->all = false;
	if (!(tmp = calloc(IDENT_MAX_PREFIXES, sizeof(*tmp))))
		return ident_errf(why, wl, "out of memory");
	for (size_t i = 0; i <= n;) {
		size_t j = i;

		while (j < n && v[j] != ',')
			j++;
		if (j == i || j - i > IDENT_TEXT_MAX || v[i] == p->sep || v[j - 1] == p->sep || memchr(v + i, '*', j - i)) {
			ident_errf(why, wl, "%s=: '%.*s' is not a prefix: give names like billing or billing%cinvoices "
				   "(no '*' inside, no leading or trailing '%c'), comma-separated, or * for all", field,
				   (int)(j - i), v + i, p->sep, p->sep);
			goto fail;
		}
		if (k == IDENT_MAX_PREFIXES) {
			ident_errf(why, wl, "%s=: more than %d prefixes", field, IDENT_MAX_PREFIXES);
			goto fail;
		}
		if (!(tmp[k++] = strndup(v + i, j - i))) {
			ident_errf(why, wl, "out of memory");
			goto fail;
		}
		i = j + 1;
	}
	qsort(tmp, k, sizeof(*tmp), ident_cmp_str);
	/*
	 * Drop what a kept one holds ("a" holds "a/b" and another "a"; sorted,
	 * a holder comes before what it holds, but siblings such as "a-x" may
	 * sort between them: every kept one is compared, at most 64 x 64).
	 */
	for (uint32_t i = 0; i < k; i++) {
		bool held = false;

		for (uint32_t j = 0; j < m && !held; j++)
			held = ident_holds(tmp[j], strlen(tmp[j]), tmp[i], strlen(tmp[i]), p->sep);
		if (held) {
			free((char *)(uintptr_t)tmp[i]);
			continue;
		}
		tmp[m++] = tmp[i];
	}
	p->v = tmp;
	p->n = m;
	if (!(p->len = calloc(m ? m : 1, sizeof(*p->len)))) {
		k = m;
		ident_errf(why, wl, "out of memory");
		goto fail;
	}
	if (!(p->up = calloc(m ? m : 1, sizeof(*p->up)))) {
		k = m;
		ident_errf(why, wl, "out of memory");
		goto fail;
	}
	for (uint32_t i = 0; i < m; i++) {
		p->len[i] = (uint32_t)strlen(p->v[i]);
		p->up[i] = -1;
		for (int32_t j = (int32_t)i - 1; j >= 0; j--)	/* the nearest earlier one that is a string prefix */
			if (p->len[j] < p->len[i] && memcmp(p->v[j], p->v[i], p->len[j]) == 0) {
				p->up[i] = j;
				break;
			}
	}
	return 0;
fail:
	for (uint32_t i = 0; i < k; i++)
		free((char *)(uintptr_t)tmp[i]);
	free(tmp);
	free(p->len);
	p->v = NULL;
	p->len = NULL;
	p->n = 0;
	return -1;
}

/* An unsigned number with an optional K/M/G (binary) suffix, at most max; 0 or -1. */
static int ident_parse_num(const char *v, size_t n, uint64_t max, bool size, uint64_t *out)
{
	char buf[32], *end;
	unsigned long long x;
	uint64_t mul = 1;

	if (!n || n >= sizeof(buf) || !isdigit((unsigned char)*v))
		return -1;
	memcpy(buf, v, n);
	buf[n] = '\0';
	errno = 0;
	x = strtoull(buf, &end, 10);
	if (errno)
		return -1;
	if (size && *end) {
		if (!strcmp(end, "K") || !strcmp(end, "KiB"))
			mul = 1024;
		else if (!strcmp(end, "M") || !strcmp(end, "MiB"))
			mul = 1024 * 1024;
		else if (!strcmp(end, "G") || !strcmp(end, "GiB"))
			mul = 1024 * 1024 * 1024;
		else
			return -1;
	} else if (*end) {
		return -1;
	}
	if (x > max / mul)
		return -1;
	*out = x * mul;
	return 0;
}

/* Folds bytes into a 64-bit FNV-1a digest. */
static uint64_t ident_fnv(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

/* min-period=DURATION into id (at least 1 us, the server's own floor); 0 or -1 with why. */
static int ident_parse_period(struct ident *id, const char *v, size_t vl, char *why, size_t wl)
{
	char buf[32], err[128];
	int64_t ns;

	if (vl >= sizeof(buf))
		return ident_errf(why, wl, "min-period=%.*s: give a duration such as 100us or 1ms", (int)vl, v);
	memcpy(buf, v, vl);
	buf[vl] = '\0';
	if (units_duration_parse(buf, &ns, err, sizeof(err)) < 0)
		return ident_errf(why, wl, "min-period=%s: %s", buf, err);
	if (ns < 1000)
		return ident_errf(why, wl, "min-period=%s: give at least 1us (no timer may fire faster)", buf);
	id->quota.min_period_ns = ns;
	return 0;
}

/* One FIELD=VALUE of a line into id; 0 or -1 with why. */
static int ident_field(struct ident *id, const char *f, size_t fl, const char *v, size_t vl, uint32_t *seen,
		       char *why, size_t wl)
{
	static const char *const fields[] = { "secret", "allow", "keys", "topics", "uid", "cert", "max-connections",
					      "max-timers", "max-memory", "arms-per-s", "max-watches", "gid", "min-period" };
	uint64_t x = 0;
	unsigned i;

	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (strlen(fields[i]) == fl && memcmp(fields[i], f, fl) == 0)
			break;
	if (i == sizeof(fields) / sizeof(fields[0]))
		return ident_errf(why, wl, "unknown field '%.*s': give secret=, allow=, keys=, topics=, uid=, gid=, cert=, "
				  "max-connections=, max-timers=, max-memory=, arms-per-s=, max-watches= or min-period=",
				  (int)fl, f);
	if (*seen & (1u << i))
		return ident_errf(why, wl, "%s= is given twice: give it once (comma-separate several values)", fields[i]);
	*seen |= 1u << i;
	if (!vl)
		return ident_errf(why, wl, "%s= has no value", fields[i]);
	switch (i) {
	case 0: return ident_parse_secret(id, v, vl, why, wl);
	case 1: return ident_parse_ops(id, v, vl, why, wl);
	case 2: return ident_parse_prefixes(&id->keys, "keys", v, vl, why, wl);
	case 3: return ident_parse_prefixes(&id->topics, "topics", v, vl, why, wl);
	case 4:
		if (ident_parse_num(v, vl, UINT32_MAX - 1, false, &x) < 0)
			return ident_errf(why, wl, "uid=%.*s: give a numeric uid (id -u NAME)", (int)vl, v);
		id->has_uid = true;
		id->uid = (uid_t)x;
		return 0;
	case 11:
		if (ident_parse_num(v, vl, UINT32_MAX - 1, false, &x) < 0)
			return ident_errf(why, wl, "gid=%.*s: give a numeric gid (getent group NAME)", (int)vl, v);
		id->has_gid = true;
		id->gid = (gid_t)x;
		return 0;
	case 12:
		return ident_parse_period(id, v, vl, why, wl);
	case 5:
		if (vl > IDENT_TEXT_MAX || !(id->cert = strndup(v, vl)))
			return ident_errf(why, wl, "cert=: at most %d bytes (the certificate's CN or a SAN)", IDENT_TEXT_MAX);
		return 0;
	default:
		if (ident_parse_num(v, vl, i == 8 ? (uint64_t)1 << 50 : i == 7 ? (uint64_t)1 << 40 : UINT32_MAX, i == 8,
				    &x) < 0)
			return ident_errf(why, wl, "%s=%.*s: give a number%s", fields[i], (int)vl, v,
					  i == 8 ? " of bytes (suffix K, M or G allowed)" : "");
		if (i == 6) id->quota.max_connections = (uint32_t)x;
		else if (i == 7) id->quota.max_timers = x;
		else if (i == 8) id->quota.max_memory = x;
		else if (i == 9) id->quota.arms_per_s = (uint32_t)x;
		else id->quota.max_watches = (uint32_t)x;
		return 0;
	}
}

/* Parses one line (without its newline) into *out (NULL for a blank or comment line); 0 or -1 with why. */
static int ident_line(const char *s, size_t n, unsigned line, struct ident **out, char *why, size_t wl)
{
	size_t i = 0, j;
	uint32_t seen = 0;
	struct ident *id;

	*out = NULL;
	for (size_t k = 0; k < n; k++)
		if (s[k] == '#') {
			n = k;
			break;
		}
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	while (n > i && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		n--;
	if (i == n)
		return 0;
	for (size_t k = i; k < n; k++)
		if ((unsigned char)s[k] < 0x20 && s[k] != '\t')
			return ident_errf(why, wl, "a control character: the file is text, one identity per line");
	for (j = i; j < n && s[j] != ' ' && s[j] != '\t'; j++)
		if (!ident_name_char((unsigned char)s[j]))
			return ident_errf(why, wl, "'%.*s' is not an identity name: use letters, digits and _ - . @ "
					  "(at most %d)", (int)(n - i), s + i, IDENT_NAME_MAX);
	if (j - i > IDENT_NAME_MAX || memchr(s + i, '=', j - i))
		return ident_errf(why, wl, "a line starts with the identity's name (letters, digits, _ - . @, at most %d), "
				  "then FIELD=VALUE fields", IDENT_NAME_MAX);
	if (!(id = ident_new(s + i, j - i, line)))
		return ident_errf(why, wl, "out of memory");
	id->digest = ident_fnv(0xcbf29ce484222325ull, s + i, n - i);
	for (i = j; i < n;) {
		const char *eq;

		while (i < n && (s[i] == ' ' || s[i] == '\t'))
			i++;
		if (i == n)
			break;
		for (j = i; j < n && s[j] != ' ' && s[j] != '\t'; j++)
			;
		if (!(eq = memchr(s + i, '=', j - i))) {
			ident_errf(why, wl, "'%.*s' is not FIELD=VALUE", (int)(j - i), s + i);
			goto fail;
		}
		if (ident_field(id, s + i, (size_t)(eq - (s + i)), eq + 1, (size_t)(s + j - eq - 1), &seen, why, wl) < 0)
			goto fail;
		i = j;
	}
	if (!id->has_secret && !id->has_uid && !id->has_gid && !id->cert) {
		ident_errf(why, wl, "identity %s has no way to authenticate: give secret= (timerctl user add %s), uid=, "
			   "gid= or cert=", id->name, id->name);
		goto fail;
	}
	*out = id;
	return 0;
fail:
	ident_free(id);
	return -1;
}

/* qsort comparator of identities by name. */
static int ident_cmp(const void *a, const void *b)
{
	return strcmp((*(struct ident *const *)a)->name, (*(struct ident *const *)b)->name);
}

/* The built-in admin: every operation on everything, bound to root and timerd's uid. */
static struct ident *ident_builtin_admin(void)
{
	struct ident *id = ident_new("admin", 5, 0);

	if (id)
		id->ops = IDENT_OPS_ALL;
	return id;
}

/* Checks what no single line shows (duplicates); 0 or -1 with err. */
static int ident_check_table(struct ident_table *t, const char *path, char *err, size_t errlen)
{
	for (uint32_t i = 1; i < t->n; i++)
		if (strcmp(t->v[i - 1]->name, t->v[i]->name) == 0)
			return ident_errf(err, errlen, "%s:%u: identity %s is also on line %u: give each name once", path,
					  t->v[i]->line > t->v[i - 1]->line ? t->v[i]->line : t->v[i - 1]->line, t->v[i]->name,
					  t->v[i]->line > t->v[i - 1]->line ? t->v[i - 1]->line : t->v[i]->line);
	for (uint32_t i = 0; i < t->n; i++)
		for (uint32_t j = i + 1; j < t->n; j++) {
			const struct ident *a = t->v[i], *b = t->v[j];

			if (a->has_uid && b->has_uid && a->uid == b->uid)
				return ident_errf(err, errlen, "%s:%u: uid=%u is also %s's (line %u): a uid binds one identity",
						  path, a->line > b->line ? a->line : b->line, (unsigned)a->uid,
						  a->line > b->line ? b->name : a->name, a->line > b->line ? b->line : a->line);
			if (a->has_gid && b->has_gid && a->gid == b->gid)
				return ident_errf(err, errlen, "%s:%u: gid=%u is also %s's (line %u): a gid binds one identity",
						  path, a->line > b->line ? a->line : b->line, (unsigned)a->gid,
						  a->line > b->line ? b->name : a->name, a->line > b->line ? b->line : a->line);
			if (a->cert && b->cert && strcmp(a->cert, b->cert) == 0)
				return ident_errf(err, errlen, "%s:%u: cert=%s is also %s's (line %u): a certificate name binds "
						  "one identity", path, a->line > b->line ? a->line : b->line, a->cert,
						  a->line > b->line ? b->name : a->name, a->line > b->line ? b->line : a->line);
		}
	return 0;
}

/* Compiles a users file's text; 0 or -1 with err. */
int ident_parse(const char *text, size_t len, const char *path, uid_t self_uid, struct ident_table **out,
		char *err, size_t errlen)
{
	struct ident_table *t = calloc(1, sizeof(*t));
	uint32_t cap = 0;
	unsigned line = 0;
	char why[384];

	*out = NULL;
	if (!t || !(t->path = strdup(path ? path : "users"))) {
		free(t);
		return ident_errf(err, errlen, "out of memory reading the users file");
	}
	atomic_init(&t->refs, 1);
	t->self_uid = self_uid;
	for (size_t i = 0; i < len;) {
		const char *nl = memchr(text + i, '\n', len - i);
		size_t n = nl ? (size_t)(nl - (text + i)) : len - i;
		struct ident *id;

		line++;
		if (memchr(text + i, '\0', n)) {
			ident_errf(err, errlen, "%s:%u: a NUL byte: the users file is text", t->path, line);
			goto fail;
		}
		if (ident_line(text + i, n, line, &id, why, sizeof(why)) < 0) {
			ident_errf(err, errlen, "%s:%u: %s", t->path, line, why);
			goto fail;
		}
		i += n + 1;
		if (!id)
			continue;
		if (t->n == IDENT_MAX) {
			ident_free(id);
			ident_errf(err, errlen, "%s:%u: more than %d identities", t->path, line, IDENT_MAX);
			goto fail;
		}
		if (t->n == cap) {
			struct ident **v = realloc(t->v, (cap ? 2 * cap : 16) * sizeof(*v));

			if (!v) {
				ident_free(id);
				ident_errf(err, errlen, "out of memory reading %s", t->path);
				goto fail;
			}
			t->v = v;
			cap = cap ? 2 * cap : 16;
		}
		t->v[t->n++] = id;
	}
	if (t->n)
		qsort(t->v, t->n, sizeof(*t->v), ident_cmp);
	if (ident_check_table(t, t->path, err, errlen) < 0)
		goto fail;
	t->admin = (struct ident *)(uintptr_t)ident_by_name(t, "admin");
	if (!t->admin && !(t->admin = ident_builtin_admin())) {
		ident_errf(err, errlen, "out of memory reading %s", t->path);
		goto fail;
	}
	*out = t;
	return 0;
fail:
	ident_table_unref(t);
	return -1;
}

/* Reads and compiles the users file; 0 or -1 with err. */
int ident_load(const char *path, uid_t self_uid, struct ident_table **out, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	struct stat st;
	char *buf;
	ssize_t got = 0;
	int rc;

	*out = NULL;
	if (fd < 0)
		return ident_errf(err, errlen, "users file %s: %s%s", path, strerror(errno),
				  errno == ELOOP ? " (a symlink: give the file itself)" : "");
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return ident_errf(err, errlen, "users file %s is not a regular file", path);
	}
	if (st.st_uid != self_uid && st.st_uid != 0) {
		close(fd);
		return ident_errf(err, errlen, "users file %s is owned by uid %u, neither timerd's user (uid %u) nor root: "
				  "run chown %u %s", path, (unsigned)st.st_uid, (unsigned)self_uid, (unsigned)self_uid, path);
	}
	if (st.st_mode & 077) {
		close(fd);
		return ident_errf(err, errlen, "users file %s is readable or writable by group or others (mode %04o): it "
				  "holds secret hashes: run chmod 600 %s", path, (unsigned)(st.st_mode & 07777), path);
	}
	if (st.st_size > IDENT_FILE_MAX) {
		close(fd);
		return ident_errf(err, errlen, "users file %s is over %u bytes", path, IDENT_FILE_MAX);
	}
	if (!(buf = malloc((size_t)st.st_size + 1))) {
		close(fd);
		return ident_errf(err, errlen, "out of memory reading %s", path);
	}
	while (got < st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)(st.st_size - got));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += r;
	}
	close(fd);
	rc = ident_parse(buf, (size_t)got, path, self_uid, out, err, errlen);
	free(buf);
	return rc;
}

/* The identity named name, or NULL. */
const struct ident *ident_by_name(const struct ident_table *t, const char *name)
{
	uint32_t lo = 0, hi = t ? t->n : 0;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, t->v[mid]->name);

		if (!c)
			return t->v[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;	/* the built-in admin is not in v: it has no secret, only uids reach it */
}

/* The identity a local peer's uid binds. */
const struct ident *ident_by_uid(const struct ident_table *t, uid_t uid)
{
	if (!t)
		return NULL;
	for (uint32_t i = 0; i < t->n; i++)
		if (t->v[i]->has_uid && t->v[i]->uid == uid)
			return t->v[i];
	if (uid == 0 || uid == t->self_uid)
		return t->admin;
	return NULL;
}

/* The identity a local peer binds: its uid (uid= lines, admin), else its gid (gid= lines). */
const struct ident *ident_by_peer(const struct ident_table *t, uid_t uid, gid_t gid)
{
	const struct ident *id = ident_by_uid(t, uid);

	for (uint32_t i = 0; !id && t && gid != (gid_t)-1 && i < t->n; i++)
		if (t->v[i]->has_gid && t->v[i]->gid == gid)
			id = t->v[i];
	return id;
}

/* The identity with cert=name. */
const struct ident *ident_by_cert(const struct ident_table *t, const char *name)
{
	for (uint32_t i = 0; t && name && i < t->n; i++)
		if (t->v[i]->cert && strcmp(t->v[i]->cert, name) == 0)
			return t->v[i];
	return NULL;
}

/*
 * True if p holds name. The prefixes are sorted and none holds another, so
 * the only candidate is the greatest prefix <= name: one binary search.
 */
bool ident_prefix_match(const struct ident_prefixes *p, const char *name, size_t len)
{
	uint32_t lo = 0, hi = p->n;

	if (p->all)
		return true;
	while (lo < hi) {	/* first index whose prefix is > name */
		uint32_t mid = lo + (hi - lo) / 2;
		size_t pl = p->len[mid];
		int c = memcmp(p->v[mid], name, pl < len ? pl : len);

		if (c < 0 || (c == 0 && pl <= len))
			lo = mid + 1;
		else
			hi = mid;
	}
	/*
	 * The greatest prefix C <= name holds it, or a holder H sorts before
	 * C; then everything between H and name starts with H ("a" < "a-x" <
	 * "a/b"), so H is a string prefix of C: follow C's chain of string
	 * prefixes in the set (up[], compiled), a few steps at most.
	 */
	for (int64_t i = (int64_t)lo - 1; i >= 0; i = p->up[i])
		if (ident_holds(p->v[i], p->len[i], name, len, p->sep))
			return true;
	return false;
}

/* True if id may do op on this key and topic (the fast path of ident_allows: no message). */
bool ident_permits(const struct ident *id, enum ident_op op, const char *key, size_t keylen, const char *topic,
		   size_t topiclen)
{
	return (id->ops & IDENT_OP_BIT(op)) &&
	       (!key || (keylen ? ident_prefix_match(&id->keys, key, keylen) : id->keys.all)) &&
	       (!topic || (topiclen ? ident_prefix_match(&id->topics, topic, topiclen) : id->topics.all));
}

/* True if id may do op on this key and topic; false with why. */
bool ident_allows(const struct ident *id, enum ident_op op, const char *key, size_t keylen, const char *topic,
		  size_t topiclen, char *why, size_t whylen)
{
	if (ident_permits(id, op, key, keylen, topic, topiclen))
		return true;
	if (!(id->ops & IDENT_OP_BIT(op))) {
		char ops[128] = "";

		for (int i = 0; i < IDENT_NOPS; i++)
			if (id->ops & IDENT_OP_BIT(i))
				snprintf(ops + strlen(ops), sizeof(ops) - strlen(ops), "%s%s", *ops ? "," : "", ident_op_names[i]);
		snprintf(why, whylen, "identity %s may not %s (its rule: allow=%s): ask the operator to add %s to its allow= "
			 "in the users file", id->name, ident_op_name(op), *ops ? ops : "(nothing)", ident_op_name(op));
		return false;
	}
	if (key && keylen && !ident_prefix_match(&id->keys, key, keylen)) {
		snprintf(why, whylen, "identity %s may not %s key '%.*s': its keys= rule allows keys %s%s and under them "
			 "(PREFIX/...)", id->name, ident_op_name(op), (int)(keylen > 128 ? 128 : keylen), key,
			 id->keys.n ? id->keys.v[0] : "", id->keys.n > 1 ? ", ..." : "");
		return false;
	}
	if (key && !keylen && !id->keys.all) {
		snprintf(why, whylen, "identity %s may not %s a timer without a key: its keys= rule allows keys under %s%s "
			 "only: give a key", id->name, ident_op_name(op), id->keys.n ? id->keys.v[0] : "",
			 id->keys.n > 1 ? ", ..." : "");
		return false;
	}
	if (topic && ((topiclen && !ident_prefix_match(&id->topics, topic, topiclen)) || (!topiclen && !id->topics.all))) {
		snprintf(why, whylen, "identity %s may not %s topic '%.*s': its topics= rule allows topics %s%s and under "
			 "them (PREFIX.…)", id->name, ident_op_name(op), (int)(topiclen > 128 ? 128 : topiclen), topic,
			 id->topics.n ? id->topics.v[0] : "", id->topics.n > 1 ? ", ..." : "");
		return false;
	}
	return true;
}

/* True if id may see or change a timer of owner with this key. */
bool ident_may_touch(const struct ident *id, const char *owner, const char *key, size_t keylen)
{
	if (id->ops & IDENT_OP_BIT(IDENT_OP_ADMIN))
		return true;
	if (owner && *owner && strcmp(owner, id->name) == 0)
		return true;
	return !id->keys.all && key && keylen && ident_prefix_match(&id->keys, key, keylen);
}

/* Runs scrypt over secret with id's parameters into out; 0 or -1. */
static int ident_scrypt(const uint8_t *secret, size_t len, const uint8_t *salt, unsigned log2n, unsigned r, unsigned p,
			uint8_t out[IDENT_HASH_LEN])
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "SCRYPT", NULL);
	EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	uint64_t n = (uint64_t)1 << log2n;
	uint32_t rr = r, pp = p;
	uint64_t maxmem = (uint64_t)130 * r * n + ((uint64_t)1 << 20);
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, (void *)(uintptr_t)secret, len),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)(uintptr_t)salt, IDENT_SALT_LEN),
		OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n),
		OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &rr),
		OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &pp),
		OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem),
		OSSL_PARAM_construct_end(),
	};
	int rc = ctx && EVP_KDF_derive(ctx, out, IDENT_HASH_LEN, params) == 1 ? 0 : -1;

	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	return rc;
}

/* Draws the per-process tag key. */
static void ident_tag_init(void)
{
	ident_tag_ok = RAND_bytes(ident_tag_key, sizeof(ident_tag_key)) == 1;
}

/* The tag of (id, secret): HMAC-SHA256 under the per-process key; 0 or -1. */
static int ident_tag(const struct ident *id, const uint8_t *secret, size_t len, uint8_t out[IDENT_TAG_LEN])
{
	uint8_t buf[IDENT_HASH_LEN + IDENT_SALT_LEN];
	EVP_MAC *mac;
	EVP_MAC_CTX *ctx;
	size_t got = 0;
	OSSL_PARAM params[] = { OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
				OSSL_PARAM_construct_end() };
	int rc = -1;

	pthread_once(&ident_tag_once, ident_tag_init);
	if (!ident_tag_ok || !(mac = EVP_MAC_fetch(NULL, "HMAC", NULL)))
		return -1;
	memcpy(buf, id->hash, IDENT_HASH_LEN);	/* bound to this hash: a changed secret= never matches an old tag */
	memcpy(buf + IDENT_HASH_LEN, id->salt, IDENT_SALT_LEN);
	if ((ctx = EVP_MAC_CTX_new(mac)) && EVP_MAC_init(ctx, ident_tag_key, sizeof(ident_tag_key), params) == 1 &&
	    EVP_MAC_update(ctx, buf, sizeof(buf)) == 1 && EVP_MAC_update(ctx, secret, len) == 1 &&
	    EVP_MAC_final(ctx, out, &got, IDENT_TAG_LEN) == 1 && got == IDENT_TAG_LEN)
		rc = 0;
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	return rc;
}

/* True if id's secret is secret (scrypt, constant-time compare); remembers the tag on success. */
bool ident_verify(struct ident *id, const uint8_t *secret, size_t len)
{
	uint8_t h[IDENT_HASH_LEN], tag[IDENT_TAG_LEN];
	bool ok;

	if (!id->has_secret || ident_scrypt(secret, len, id->salt, id->log2n, id->r, id->p, h) < 0)
		return false;
	ok = CRYPTO_memcmp(h, id->hash, IDENT_HASH_LEN) == 0;
	OPENSSL_cleanse(h, sizeof(h));
	if (ok && ident_tag(id, secret, len, tag) == 0) {
		pthread_mutex_lock(&id->lock);
		memcpy(id->tag, tag, sizeof(tag));
		id->tag_set = true;
		pthread_mutex_unlock(&id->lock);
	}
	return ok;
}

/* 1 if secret's tag is the one remembered, else 0. */
int ident_verify_fast(struct ident *id, const uint8_t *secret, size_t len)
{
	uint8_t tag[IDENT_TAG_LEN];
	int ok = 0;

	if (!id->has_secret || ident_tag(id, secret, len, tag) < 0)
		return 0;
	pthread_mutex_lock(&id->lock);
	ok = id->tag_set && CRYPTO_memcmp(tag, id->tag, sizeof(tag)) == 0;
	pthread_mutex_unlock(&id->lock);
	return ok;
}

/* Hashes secret into "scrypt$LOG2N,R,P$SALT$HASH"; 0 or -1. */
int ident_hash_secret(const uint8_t *secret, size_t len, char *out, size_t outlen)
{
	uint8_t salt[IDENT_SALT_LEN], h[IDENT_HASH_LEN];
	int n;

	if (RAND_bytes(salt, sizeof(salt)) != 1 ||
	    ident_scrypt(secret, len, salt, IDENT_SCRYPT_LOG2N, IDENT_SCRYPT_R, IDENT_SCRYPT_P, h) < 0)
		return -1;
	n = snprintf(out, outlen, "scrypt$%d,%d,%d$", IDENT_SCRYPT_LOG2N, IDENT_SCRYPT_R, IDENT_SCRYPT_P);
	for (size_t i = 0; i < sizeof(salt) && n > 0 && (size_t)n < outlen; i++)
		n += snprintf(out + n, outlen - (size_t)n, "%02x", salt[i]);
	if (n > 0 && (size_t)n < outlen)
		n += snprintf(out + n, outlen - (size_t)n, "$");
	for (size_t i = 0; i < sizeof(h) && n > 0 && (size_t)n < outlen; i++)
		n += snprintf(out + n, outlen - (size_t)n, "%02x", h[i]);
	return n > 0 && (size_t)n < outlen ? 0 : -1;
}
