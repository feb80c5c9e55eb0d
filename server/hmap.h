/*
 * hmap.h -- a string-keyed hash map for the daemon's small indexes (topic
 * -> watchers). Keys come from clients, so they are hashed with SipHash
 * under a random per-map key (core/hash.h); chains stay short.
 *
 * Usage:
 *
 *	struct hmap m;
 *	hmap_init(&m);
 *	hmap_put(&m, "jobs", 4, list);          the key is copied
 *	list = hmap_get(&m, "jobs", 4);
 *	hmap_del(&m, "jobs", 4);                returns the value
 *	hmap_destroy(&m, free_value);
 *
 * Not thread-safe: the owner serialises access.
 */
#ifndef TIMERD_HMAP_H
#define TIMERD_HMAP_H

#include <stddef.h>
#include <stdint.h>

#include "hash.h"

struct hmap_ent;

struct hmap {
	struct hmap_ent **b;	/* buckets, a power of two */
	size_t nb, n;
	struct hash_key key;
};

/* Initialises an empty map. */
void hmap_init(struct hmap *m);

/* The value stored under key, or NULL. */
void *hmap_get(const struct hmap *m, const char *key, size_t len);

/* Stores val under key (replacing any); 0 or -1 if out of memory. */
int hmap_put(struct hmap *m, const char *key, size_t len, void *val);

/* Removes key; returns its value or NULL. */
void *hmap_del(struct hmap *m, const char *key, size_t len);

/* Calls fn on every value, then frees the map. */
void hmap_destroy(struct hmap *m, void (*fn)(void *val));

#endif /* TIMERD_HMAP_H */
