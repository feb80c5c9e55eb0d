/*
 * ident.h -- identities: the users file (--users FILE), the rules each
 * identity carries, and the checks made on every request. No I/O besides
 * reading the file; no libevent. doc/security.md describes the format.
 *
 * Usage (main thread loads, loop threads check):
 *
 *	struct ident_table *t;
 *	char err[512];
 *	if (ident_load(path, owner_uid, &t, err, sizeof(err)) < 0)
 *		refuse to start / keep the old table, log err;
 *	const struct ident *id = ident_by_uid(t, peer_uid);	   (NULL: must Auth)
 *	...
 *	if (!ident_allows(id, IDENT_OP_ARM, key, keylen, topic, topiclen, why, sizeof(why)))
 *		answer PERMISSION with why;
 *	ident_table_unref(t);
 *
 * A table is immutable once loaded and reference counted: a loop thread
 * holds one reference for its connections, a pending Auth (the KDF worker)
 * one more; a reload builds a new table and hands it to the loops. The only
 * mutable part of an identity is its verified-secret tag (ident_verify_fast),
 * under the identity's own mutex.
 *
 *	operation                        may run concurrently with
 *	ident_allows, ident_by_*        anything (read only)
 *	ident_verify_fast, _remember    each other (the identity's mutex)
 *	ident_table_ref / _unref        each other (atomic count)
 */
#ifndef TIMERD_IDENT_H
#define TIMERD_IDENT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The operations a rule grants (allow=...), as bits of ident.ops. */
#define IDENT_OPS(X)							\
	X(ARM, "arm") X(CANCEL, "cancel") X(GET, "get") X(LIST, "list")	\
	X(WATCH, "watch") X(CONSUME, "consume") X(STATS, "stats")	\
	X(PROBE, "probe") X(ADMIN, "admin")

enum ident_op {
#define IDENT_OP_ENUM(e, s) IDENT_OP_##e,
	IDENT_OPS(IDENT_OP_ENUM)
#undef IDENT_OP_ENUM
	IDENT_NOPS
};

#define IDENT_OP_BIT(op) (1u << (op))
/* What a line without allow= grants, and timerctl user add's default: never probe or admin. */
#define IDENT_OPS_DEFAULT (IDENT_OP_BIT(IDENT_OP_ARM) | IDENT_OP_BIT(IDENT_OP_CANCEL) | IDENT_OP_BIT(IDENT_OP_GET) | \
			   IDENT_OP_BIT(IDENT_OP_LIST) | IDENT_OP_BIT(IDENT_OP_WATCH) | IDENT_OP_BIT(IDENT_OP_CONSUME) | \
			   IDENT_OP_BIT(IDENT_OP_STATS))
#define IDENT_OPS_ALL ((1u << IDENT_NOPS) - 1)

/* Longest identity name, prefix, certificate name. */
#define IDENT_NAME_MAX 64
#define IDENT_TEXT_MAX 256
/* Most identities in one file, prefixes on one line. */
#define IDENT_MAX 10000
#define IDENT_MAX_PREFIXES 64

/* scrypt's parameters and sizes (ident_hash_secret, doc/security.md: why these). */
#define IDENT_SALT_LEN 16
#define IDENT_HASH_LEN 32
#define IDENT_TAG_LEN 32
#define IDENT_SCRYPT_LOG2N 15
#define IDENT_SCRYPT_R 8
#define IDENT_SCRYPT_P 1

/*
 * Prefixes compiled for matching: sorted, none a prefix-with-separator of
 * another (a redundant one is dropped), so a name matches at most one and
 * a binary search finds it. all: "*", every name.
 */
struct ident_prefixes {
	bool all;
	char sep;			/* '/' for keys, '.' for topics */
	uint32_t n;
	const char **v;
	uint32_t *len;
	int32_t *up;			/* the nearest earlier entry that is a string prefix of this one, -1: none */
};

/* Per-identity quotas (parsed here, enforced by the privileges work); 0: no quota of its own. */
struct ident_quota {
	uint32_t max_connections;
	uint64_t max_timers;
	uint64_t max_memory;
	uint32_t arms_per_s;
	uint32_t max_watches;
	int64_t min_period_ns;		/* shortest period this identity may arm (>= 1 us); 0: the server's min-period */
};

struct ident {
	char *name;
	uint32_t ops;			/* IDENT_OP_BIT()s */
	bool has_secret;
	uint8_t log2n, r, p;		/* scrypt */
	uint8_t salt[IDENT_SALT_LEN];
	uint8_t hash[IDENT_HASH_LEN];
	struct ident_prefixes keys, topics;
	bool has_uid;
	uid_t uid;
	bool has_gid;			/* gid=: binds a Unix-socket peer of this gid that no uid binds */
	gid_t gid;
	char *cert;			/* client certificate CN or SAN (DNS or email), NULL: none */
	struct ident_quota quota;
	uint64_t digest;		/* of its line's meaning: a reload that changes it drops its connections */
	unsigned line;			/* in the file (0: built in) */
	/* mutable: the tag of the secret last verified (HMAC, never the secret) */
	pthread_mutex_t lock;
	bool tag_set;
	uint8_t tag[IDENT_TAG_LEN];
};

struct ident_table {
	_Atomic uint32_t refs;
	char *path;			/* NULL: no users file (the built-in admin only) */
	uint32_t n;
	struct ident **v;		/* sorted by name */
	struct ident *admin;		/* root's and timerd's uid without a uid= line: the file's "admin" or a built-in one */
	uid_t self_uid;			/* timerd's uid */
};

/* Reads and compiles users file path (must not be readable by group/other, owned by self_uid or root); 0 or -1 with err ("FILE:LINE: what to fix"). */
int ident_load(const char *path, uid_t self_uid, struct ident_table **out, char *err, size_t errlen);

/* Compiles a users file's text (no file checks; path names it in errors); 0 or -1 with err. */
int ident_parse(const char *text, size_t len, const char *path, uid_t self_uid, struct ident_table **out,
		char *err, size_t errlen);

/* Takes one more reference. */
struct ident_table *ident_table_ref(struct ident_table *t);

/* Drops one; frees the table with the last (NULL: nothing). */
void ident_table_unref(struct ident_table *t);

/* The identity named name, or NULL. */
const struct ident *ident_by_name(const struct ident_table *t, const char *name);

/* The identity a local peer with this uid is bound to (uid= lines, then admin for root and timerd's uid), or NULL. */
const struct ident *ident_by_uid(const struct ident_table *t, uid_t uid);

/* The identity a local peer is bound to: ident_by_uid, else the gid= line of gid ((gid_t)-1: unknown, a TCP peer), or NULL. */
const struct ident *ident_by_peer(const struct ident_table *t, uid_t uid, gid_t gid);

/* The identity with cert=name (a client certificate's CN or SAN), or NULL. */
const struct ident *ident_by_cert(const struct ident_table *t, const char *name);

/* The name of op ("arm"), or "?" */
const char *ident_op_name(enum ident_op op);

/* True if p holds name (len bytes): equal to a prefix P, or P then its separator then anything. */
bool ident_prefix_match(const struct ident_prefixes *p, const char *name, size_t len);

/*
 * True if id may do op on a timer with this key and topic (NULL or len 0:
 * the request names none; such a check passes the prefix rule only for
 * "*"); false with why naming the operation and the rule.
 */
bool ident_allows(const struct ident *id, enum ident_op op, const char *key, size_t keylen, const char *topic,
		  size_t topiclen, char *why, size_t whylen);

/* ident_allows without the message: what a List filter runs per timer. */
bool ident_permits(const struct ident *id, enum ident_op op, const char *key, size_t keylen, const char *topic,
		   size_t topiclen);

/* True if id may see or change another identity's timer with this key: admin, or the key under one of its (not "*") key prefixes. */
bool ident_may_touch(const struct ident *id, const char *owner, const char *key, size_t keylen);

/* True if id's secret is secret (slow: scrypt; thread-safe); on success remembers its tag. */
bool ident_verify(struct ident *id, const uint8_t *secret, size_t len);

/* 1 if the secret's tag matches the one last verified, 0 if it does not or none is remembered (fast, constant time). */
int ident_verify_fast(struct ident *id, const uint8_t *secret, size_t len);

/* Hashes secret into a users-file value "scrypt$LOG2N,R,P$SALT$HASH" (hex); 0 or -1 (out of memory, OpenSSL failure). */
int ident_hash_secret(const uint8_t *secret, size_t len, char *out, size_t outlen);

#endif /* TIMERD_IDENT_H */
