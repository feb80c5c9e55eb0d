/*
 * tz.c -- time zones from the system tz database: TZif files read per RFC 8536
 * (the v2+ 64-bit block and the footer's POSIX TZ rule, expanded into explicit
 * transitions up to TZ_EXPAND_YEAR), a registry of named slots, and reload.
 *
 * A struct tz is immutable once built. Each zone name has one permanent slot
 * whose current zone cal_tz_reload swaps; readers bracket their use with
 * tz_enter/tz_leave, which count them in one of two reader counters chosen by
 * an epoch (a two-counter grace period, like SRCU). The reloader swaps every
 * slot, then twice flips the epoch and waits for the counter readers used
 * before the flip to drain, then frees the old zones. Every access below is seq_cst: a reader whose counter
 * increment comes after the reloader saw the counter at zero loads the slot
 * after the swap (single total order), so it never sees a freed zone. Readers
 * never wait; only the reloader does, and only for sections already running.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cal/cal-int.h"
#include "cal/cal.h"
#include "core/err.h"

#define TZ_FILE_MAX (1 << 20)
#define TZ_TYPES_MAX 256

/* ---- POSIX TZ strings (the TZif footer, or $TZ) ---- */

/* One rule date: kind 'J' (1..365, no Feb 29), 'D' (0..365), 'M' (month.week.day); secs local. */
struct tz_rule {
	char kind;
	int a, b, c;
	int32_t secs;
};

struct tz_posix {
	int32_t std_off, dst_off;	/* UT offsets (east positive) */
	char std_abbr[15], dst_abbr[15];
	bool has_dst;
	struct tz_rule start, end;
};

/* Parses a zone abbreviation (letters, or <...>). */
static const char *tz_posix_abbr(const char *p, char *out, size_t outsz)
{
	size_t n = 0;

	if (*p == '<') {
		for (p++; *p && *p != '>'; p++)
			if (n + 1 < outsz)
				out[n++] = *p;
		if (*p != '>')
			return NULL;
		p++;
	} else {
		for (; isalpha((unsigned char)*p); p++)
			if (n + 1 < outsz)
				out[n++] = *p;
	}
	out[n] = '\0';
	return n >= 3 || n > 0 ? p : NULL;
}

/* Parses [+-]hh[:mm[:ss]] into seconds. */
static const char *tz_posix_hms(const char *p, int32_t *secs)
{
	int sign = 1, h = 0, m = 0, s = 0;

	if (*p == '+' || *p == '-')
		sign = *p++ == '-' ? -1 : 1;
	if (!isdigit((unsigned char)*p))
		return NULL;
	while (isdigit((unsigned char)*p))
		h = h * 10 + (*p++ - '0');
	if (*p == ':') {
		p++;
		while (isdigit((unsigned char)*p))
			m = m * 10 + (*p++ - '0');
		if (*p == ':') {
			p++;
			while (isdigit((unsigned char)*p))
				s = s * 10 + (*p++ - '0');
		}
	}
	if (h > 167 || m > 59 || s > 59)
		return NULL;
	*secs = sign * (h * 3600 + m * 60 + s);
	return p;
}

/* Parses one rule date with its optional /time. */
static const char *tz_posix_rule(const char *p, struct tz_rule *r)
{
	char *e;

	r->secs = 7200;
	if (*p == 'M') {
		r->kind = 'M';
		r->a = (int)strtol(p + 1, &e, 10);
		if (*e != '.')
			return NULL;
		r->b = (int)strtol(e + 1, &e, 10);
		if (*e != '.')
			return NULL;
		r->c = (int)strtol(e + 1, &e, 10);
		if (r->a < 1 || r->a > 12 || r->b < 1 || r->b > 5 || r->c < 0 || r->c > 6)
			return NULL;
	} else if (*p == 'J' || isdigit((unsigned char)*p)) {
		r->kind = *p == 'J' ? 'J' : 'D';
		r->a = (int)strtol(p + (*p == 'J'), &e, 10);
		if (r->a < (r->kind == 'J') || r->a > 365)
			return NULL;
	} else {
		return NULL;
	}
	p = e;
	if (*p == '/' && !(p = tz_posix_hms(p + 1, &r->secs)))
		return NULL;
	return p;
}

/* Parses a POSIX TZ string ("CET-1CEST,M3.5.0,M10.5.0/3"). */
static int tz_posix_parse(const char *s, struct tz_posix *z)
{
	const char *p = s;
	int32_t off;

	memset(z, 0, sizeof(*z));
	if (!(p = tz_posix_abbr(p, z->std_abbr, sizeof(z->std_abbr))) || !(p = tz_posix_hms(p, &off)))
		return -1;
	z->std_off = -off;
	if (!*p)
		return 0;
	if (!(p = tz_posix_abbr(p, z->dst_abbr, sizeof(z->dst_abbr))))
		return -1;
	z->has_dst = true;
	z->dst_off = z->std_off + 3600;
	if (*p && *p != ',') {
		if (!(p = tz_posix_hms(p, &off)))
			return -1;
		z->dst_off = -off;
	}
	if (!*p) {	/* no rule: the US rule, as glibc does */
		z->start = (struct tz_rule){ 'M', 3, 2, 0, 7200 };
		z->end = (struct tz_rule){ 'M', 11, 1, 0, 7200 };
		return 0;
	}
	if (*p != ',' || !(p = tz_posix_rule(p + 1, &z->start)) || *p != ',' || !(p = tz_posix_rule(p + 1, &z->end)))
		return -1;
	return *p ? -1 : 0;
}

/* The local (wall, before the change) second of year y's rule date, as seconds since the epoch
 * of a UTC calendar. */
static int64_t tz_rule_wall(const struct tz_rule *r, int64_t y)
{
	int64_t day;

	if (r->kind == 'J') {
		day = cal_days_from_civil(y, 1, 1) + r->a - 1 + (cal_leap(y) && r->a >= 60);
	} else if (r->kind == 'D') {
		day = cal_days_from_civil(y, 1, 1) + r->a;
	} else {
		int64_t first = cal_days_from_civil(y, r->a, 1);
		int wd = (int)cal_fmod(first + 4, 7);	/* 1970-01-01 was a Thursday */
		int64_t d = first + cal_fmod(r->c - wd, 7) + 7 * (r->b - 1);

		while (d >= first + cal_mdays(y, r->a))
			d -= 7;
		day = d;
	}
	return day * 86400 + r->secs;
}

/* ---- building a zone ---- */

struct tz_build {
	int64_t *at;
	uint16_t *ty;
	size_t n, cap;
	struct tz_type types[TZ_TYPES_MAX];
	size_t ntypes;
};

/* Appends a transition. */
static int tz_build_add(struct tz_build *b, int64_t at, unsigned ty)
{
	if (b->n == b->cap) {
		size_t cap = b->cap ? 2 * b->cap : 64;
		int64_t *a = realloc(b->at, cap * sizeof(*a));

		if (!a)
			return TD_ENOMEM;
		b->at = a;
		uint16_t *t = realloc(b->ty, cap * sizeof(*t));
		if (!t)
			return TD_ENOMEM;
		b->ty = t;
		b->cap = cap;
	}
	b->at[b->n] = at;
	b->ty[b->n++] = (uint16_t)ty;
	return 0;
}

/* The index of a type (off, isdst, abbr), added if new; -1 when the table is full. */
static int tz_build_type(struct tz_build *b, int32_t off, bool isdst, const char *abbr)
{
	for (size_t i = 0; i < b->ntypes; i++)
		if (b->types[i].off == off && b->types[i].isdst == isdst && !strcmp(b->types[i].abbr, abbr))
			return (int)i;
	if (b->ntypes == TZ_TYPES_MAX)
		return -1;
	b->types[b->ntypes].off = off;
	b->types[b->ntypes].isdst = isdst;
	snprintf(b->types[b->ntypes].abbr, sizeof(b->types[0].abbr), "%s", abbr);
	return (int)b->ntypes++;
}

/* Adds the footer rule's transitions after the last explicit one, up to TZ_EXPAND_YEAR. */
static int tz_build_posix(struct tz_build *b, const struct tz_posix *p)
{
	int s = tz_build_type(b, p->std_off, false, p->std_abbr), d;
	int64_t last = b->n ? b->at[b->n - 1] : INT64_MIN, y0;
	int rc;

	if (s < 0)
		return TD_EINVAL;
	if (!p->has_dst) {
		/* No DST: the rule's type holds after the last transition (it should be that one's). */
		if (!b->n)
			return tz_build_add(b, INT64_MIN / 2, (unsigned)s);
		return 0;
	}
	if ((d = tz_build_type(b, p->dst_off, true, p->dst_abbr)) < 0)
		return TD_EINVAL;
	/* All year DST (e.g. "<-03>3<-02>,0/0,J365/25"): end of year y meets start of year y+1. */
	if (tz_rule_wall(&p->end, 2001) - p->dst_off >= tz_rule_wall(&p->start, 2002) - p->std_off) {
		if (!b->n)
			return tz_build_add(b, INT64_MIN / 2, (unsigned)d);
		b->ty[b->n - 1] = (uint16_t)d;
		return 0;
	}
	if (last == INT64_MIN) {
		y0 = 1900;
	} else {
		int64_t yy;
		int mm, dd;

		cal_civil_from_days(cal_fdiv(last, 86400), &yy, &mm, &dd);
		y0 = yy - 1;
	}
	for (int64_t y = y0; y < TZ_EXPAND_YEAR; y++) {
		int64_t on = tz_rule_wall(&p->start, y) - p->std_off;
		int64_t off = tz_rule_wall(&p->end, y) - p->dst_off;
		int64_t t1 = on < off ? on : off, t2 = on < off ? off : on;
		int ty1 = on < off ? d : s, ty2 = on < off ? s : d;

		if (t1 > last && (rc = tz_build_add(b, t1, (unsigned)ty1)) < 0)
			return rc;
		if (t2 > last && (rc = tz_build_add(b, t2, (unsigned)ty2)) < 0)
			return rc;
	}
	return 0;
}

/* Big-endian integer of n bytes (4 or 8), signed. */
static int64_t tz_be(const unsigned char *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	if (n == 4)
		return (int32_t)(uint32_t)v;
	return (int64_t)v;
}

/* Parses a TZif image into b; the footer rule extends it. */
static int tz_parse_tzif(const unsigned char *buf, size_t len, struct tz_build *b)
{
	const unsigned char *p = buf, *end = buf + len;
	uint32_t cnt[6];
	int tsz = 4;
	char version;

	if (len < 44 || memcmp(p, "TZif", 4))
		return TD_EINVAL;
	version = (char)p[4];
	for (int pass = 0;; pass++) {
		if (end - p < 44 || memcmp(p, "TZif", 4))
			return TD_EINVAL;
		for (int i = 0; i < 6; i++)
			cnt[i] = (uint32_t)tz_be(p + 20 + 4 * i, 4);
		p += 44;
		/* isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt */
		uint64_t need = (uint64_t)cnt[3] * tsz + cnt[3] + (uint64_t)cnt[4] * 6 + cnt[5] +
				(uint64_t)cnt[2] * (tsz + 4) + cnt[1] + cnt[0];
		if ((uint64_t)(end - p) < need || cnt[4] == 0 || cnt[4] > TZ_TYPES_MAX)
			return TD_EINVAL;
		if (pass == 0 && version >= '2') {
			p += need;
			tsz = 8;
			continue;
		}
		const unsigned char *times = p, *idx = p + (size_t)cnt[3] * tsz, *types = idx + cnt[3];
		const char *chars = (const char *)(types + cnt[4] * 6);
		int map[TZ_TYPES_MAX];

		for (uint32_t i = 0; i < cnt[4]; i++) {
			const unsigned char *t = types + 6 * i;
			unsigned ai = t[5];
			char abbr[15] = "";

			if (ai < cnt[5])
				snprintf(abbr, sizeof(abbr), "%.*s", (int)strnlen(chars + ai, cnt[5] - ai), chars + ai);
			if ((map[i] = tz_build_type(b, (int32_t)tz_be(t, 4), t[4] != 0, abbr)) < 0)
				return TD_EINVAL;
		}
		for (uint32_t i = 0; i < cnt[3]; i++) {
			if (idx[i] >= cnt[4])
				return TD_EINVAL;
			int64_t at = tz_be(times + (size_t)i * tsz, tsz);
			if (b->n && at <= b->at[b->n - 1])
				return TD_EINVAL;
			int rc = tz_build_add(b, at, (unsigned)map[idx[i]]);
			if (rc < 0)
				return rc;
		}
		p += need;
		break;
	}
	/* The footer: "\n" POSIX-TZ "\n" (v2+). */
	if (version >= '2' && p < end && *p == '\n') {
		const unsigned char *nl = memchr(p + 1, '\n', (size_t)(end - p - 1));
		char tzs[128];
		struct tz_posix px;

		if (nl && nl - p - 1 > 0 && nl - p - 1 < (long)sizeof(tzs)) {
			memcpy(tzs, p + 1, (size_t)(nl - p - 1));
			tzs[nl - p - 1] = '\0';
			if (tz_posix_parse(tzs, &px) == 0)
				return tz_build_posix(b, &px);
		}
	}
	return 0;
}

/* Turns a build into a struct tz, dropping transitions that change nothing. */
static int tz_build_finish(struct tz_build *b, struct tz **out)
{
	struct tz *z = calloc(1, sizeof(*z));

	if (!z)
		return TD_ENOMEM;
	z->types = malloc(b->ntypes * sizeof(*z->types));
	z->at = malloc((b->n ? b->n : 1) * sizeof(*z->at));
	z->ty = malloc((b->n ? b->n : 1) * sizeof(*z->ty));
	if (!z->types || !z->at || !z->ty) {
		tz_destroy(z);
		return TD_ENOMEM;
	}
	memcpy(z->types, b->types, b->ntypes * sizeof(*z->types));
	z->ntypes = b->ntypes;
	for (size_t i = 0; i < b->n; i++) {
		int prev = z->n ? z->ty[z->n - 1] : 0;

		if (z->n && b->ty[i] == prev)
			continue;
		z->at[z->n] = b->at[i];
		z->ty[z->n++] = b->ty[i];
	}
	/* Buckets from the first transition (or the one at INT64_MIN/2, which only sets the type)
	 * to the last. */
	size_t first = z->n > 1 && z->at[0] < -(INT64_C(1) << 40) ? 1 : 0;
	z->b0 = z->n ? z->at[first] : 0;
	z->nbucket = z->n ? (size_t)((z->at[z->n - 1] - z->b0) >> TZ_BUCKET_SHIFT) + 1 : 0;
	if (z->nbucket && !(z->bucket = malloc(z->nbucket * sizeof(*z->bucket)))) {
		tz_destroy(z);
		return TD_ENOMEM;
	}
	for (size_t k = 0, i = 0; k < z->nbucket; k++) {
		int64_t start = z->b0 + ((int64_t)k << TZ_BUCKET_SHIFT);

		while (i < z->n && z->at[i] < start)
			i++;
		z->bucket[k] = (uint32_t)i;
	}
	*out = z;
	return 0;
}

void tz_destroy(struct tz *z)
{
	if (!z)
		return;
	free(z->at);
	free(z->ty);
	free(z->types);
	free(z->bucket);
	free(z);
}

/* Whether NAME is a zone name systemd would look up (letters, digits, - _ + /, no empty part). */
static bool tz_name_ok(const char *name)
{
	bool slash = true;

	if (!*name || strlen(name) > 255)
		return false;
	for (const char *p = name; *p; p++) {
		if (*p == '/') {
			if (slash)
				return false;
			slash = true;
			continue;
		}
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '+')
			return false;
		slash = false;
	}
	return !slash;
}

/* Reads a whole file (at most TZ_FILE_MAX bytes). */
static int tz_read_file(const char *path, unsigned char **buf, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	ssize_t r;
	size_t n = 0;

	if (fd < 0)
		return TD_ENOENT;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > TZ_FILE_MAX) {
		close(fd);
		return TD_EINVAL;
	}
	if (!(*buf = malloc((size_t)st.st_size + 1))) {
		close(fd);
		return TD_ENOMEM;
	}
	while (n < (size_t)st.st_size && (r = read(fd, *buf + n, (size_t)st.st_size - n)) > 0)
		n += (size_t)r;
	close(fd);
	*len = n;
	return 0;
}

/* The database directory: $TZDIR or /usr/share/zoneinfo. */
static const char *tz_dir(void)
{
	const char *d = getenv("TZDIR");

	return d && *d ? d : "/usr/share/zoneinfo";
}

/* Builds a zone from a POSIX TZ string. */
static int tz_from_posix(const char *s, struct tz **out)
{
	struct tz_build b = { 0 };
	struct tz_posix px;
	int rc;

	if (tz_posix_parse(s, &px) < 0)
		return TD_EINVAL;
	if ((rc = tz_build_posix(&b, &px)) == 0)
		rc = tz_build_finish(&b, out);
	free(b.at);
	free(b.ty);
	return rc;
}

/* Builds a zone from a TZif file. */
static int tz_from_file(const char *path, struct tz **out)
{
	struct tz_build b = { 0 };
	unsigned char *buf = NULL;
	size_t len = 0;
	int rc;

	if ((rc = tz_read_file(path, &buf, &len)) < 0)
		return rc;
	if ((rc = tz_parse_tzif(buf, len, &b)) == 0)
		rc = tz_build_finish(&b, out);
	free(buf);
	free(b.at);
	free(b.ty);
	return rc;
}

int tz_load(const char *name, struct tz **out, char *err, size_t errlen)
{
	char path[4096];
	int rc;

	if (!strncmp(name, "posix:", 6)) {
		if ((rc = tz_from_posix(name + 6, out)) < 0)
			td_errf(err, errlen, "invalid POSIX TZ string '%s'", name + 6);
		return rc;
	}
	if (!*name) {	/* the local zone: $TZ (":Zone", "Zone" or a POSIX string), else /etc/localtime */
		const char *tz = getenv("TZ");

		if (tz && *tz == ':')
			tz++;
		if (tz && *tz) {
			if (tz_name_ok(tz) && tz_load(tz, out, NULL, 0) == 0)
				return 0;
			if (*tz == '/' && tz_from_file(tz, out) == 0)
				return 0;
			if (tz_from_posix(tz, out) == 0)
				return 0;
		}
		if (tz_from_file("/etc/localtime", out) == 0)
			return 0;
		return tz_from_posix("UTC0", out);
	}
	if (!tz_name_ok(name)) {
		td_errf(err, errlen, "invalid time zone name '%s'", name);
		return TD_EINVAL;
	}
	snprintf(path, sizeof(path), "%s/%s", tz_dir(), name);
	if ((rc = tz_from_file(path, out)) == TD_ENOENT || rc == TD_EINVAL) {
		td_errf(err, errlen, "unknown time zone '%s'", name);
		return TD_EINVAL;
	}
	if (rc < 0)
		td_errf(err, errlen, "cannot load time zone '%s': %s", name, td_strerror(rc));
	return rc;
}

/* ---- the registry and reload ---- */

struct tz_slot {
	struct tz_slot *next;		/* registry list, under tz_lock */
	_Atomic(struct tz *) cur;	/* swapped by tz_reload */
	char name[];
};

static pthread_mutex_t tz_lock = PTHREAD_MUTEX_INITIALIZER;	/* the list; serialises reloads */
static struct tz_slot *tz_slots;
static atomic_uint tz_epoch;
static atomic_long tz_readers[2];

int tz_slot_get(const char *name, struct tz_slot **out, char *err, size_t errlen)
{
	struct tz_slot *s;
	struct tz *z;
	int rc;

	pthread_mutex_lock(&tz_lock);
	for (s = tz_slots; s; s = s->next)
		if (!strcmp(s->name, name))
			break;
	pthread_mutex_unlock(&tz_lock);
	if (s) {
		*out = s;
		return 0;
	}
	if ((rc = tz_load(name, &z, err, errlen)) < 0)
		return rc;
	if (!(s = calloc(1, sizeof(*s) + strlen(name) + 1))) {
		tz_destroy(z);
		return TD_ENOMEM;
	}
	strcpy(s->name, name);
	atomic_init(&s->cur, z);
	pthread_mutex_lock(&tz_lock);
	for (struct tz_slot *o = tz_slots; o; o = o->next)
		if (!strcmp(o->name, name)) {	/* another thread won the race */
			pthread_mutex_unlock(&tz_lock);
			tz_destroy(z);
			free(s);
			*out = o;
			return 0;
		}
	s->next = tz_slots;
	tz_slots = s;	/* published under the mutex; readers reach s only through a cal parsed after */
	pthread_mutex_unlock(&tz_lock);
	*out = s;
	return 0;
}

const char *tz_slot_name(const struct tz_slot *s)
{
	return s->name;
}

const struct tz *tz_enter(struct tz_slot *s, unsigned *tok)
{
	unsigned e = atomic_load_explicit(&tz_epoch, memory_order_seq_cst) & 1;

	/* seq_cst: ordered before the load of cur in the single total order, which the reloader's
	 * swap, epoch flip and drain check also take part in. */
	atomic_fetch_add_explicit(&tz_readers[e], 1, memory_order_seq_cst);
	*tok = e;
	return atomic_load_explicit(&s->cur, memory_order_seq_cst);
}

void tz_leave(unsigned tok)
{
	/* release would do (the reader's loads of the zone happen before it); seq_cst for uniformity. */
	atomic_fetch_sub_explicit(&tz_readers[tok], 1, memory_order_seq_cst);
}

int tz_reload(void)
{
	struct tz **old = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;

	pthread_mutex_lock(&tz_lock);
	for (struct tz_slot *s = tz_slots; s; s = s->next) {
		struct tz *z, **o;

		if (tz_load(s->name, &z, NULL, 0) < 0)
			continue;	/* the zone went away: keep what we have */
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			if (!(o = realloc(old, cap * sizeof(*old)))) {
				tz_destroy(z);
				rc = TD_ENOMEM;
				break;
			}
			old = o;
		}
		old[n++] = atomic_exchange_explicit(&s->cur, z, memory_order_seq_cst);
	}
	/* After every swap, each counter must be seen at zero once: a reader that increments a
	 * counter after the check loads cur after the swap. Flipping the epoch before each wait
	 * sends new readers to the other counter, so each wait is for sections already running. */
	for (int i = 0; i < 2; i++) {
		unsigned e = atomic_fetch_add_explicit(&tz_epoch, 1, memory_order_seq_cst) & 1;

		while (atomic_load_explicit(&tz_readers[e], memory_order_seq_cst) != 0)
			sched_yield();
	}
	pthread_mutex_unlock(&tz_lock);
	for (size_t i = 0; i < n; i++)
		tz_destroy(old[i]);
	free(old);
	return rc;
}

int cal_tz_reload(void)
{
	return tz_reload();
}
