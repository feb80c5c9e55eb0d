/*
 * hmap.c -- string-keyed hash map with chaining (see hmap.h).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "server/hmap.h"

struct hmap_ent {
	struct hmap_ent *next;
	uint64_t h;
	void *val;
	size_t len;
	char key[];
};

/* Initialises an empty map. */
void hmap_init(struct hmap *m)
{
	m->b = NULL;
	m->nb = 0;
	m->n = 0;
	hash_key_init(&m->key);
}

/* Finds the link that points at key's entry (or at the chain's NULL end). */
static struct hmap_ent **hmap_find(const struct hmap *m, const char *key, size_t len, uint64_t h)
{
	struct hmap_ent **pp = &m->b[h & (m->nb - 1)];

	for (; *pp; pp = &(*pp)->next)
		if ((*pp)->h == h && (*pp)->len == len && memcmp((*pp)->key, key, len) == 0)
			break;
	return pp;
}

/* The value stored under key, or NULL. */
void *hmap_get(const struct hmap *m, const char *key, size_t len)
{
	struct hmap_ent *e;

	if (!m->n)
		return NULL;
	e = *hmap_find(m, key, len, hash_bytes(&m->key, key, len));
	return e ? e->val : NULL;
}

/* Doubles the bucket array (or creates it); 0 or -1. */
static int hmap_grow(struct hmap *m)
{
	size_t nb = m->nb ? m->nb * 2 : 16;
	struct hmap_ent **b = calloc(nb, sizeof(*b));

	if (!b)
		return -1;
	for (size_t i = 0; i < m->nb; i++) {
		struct hmap_ent *e = m->b[i], *next;

		for (; e; e = next) {
			next = e->next;
			e->next = b[e->h & (nb - 1)];
			b[e->h & (nb - 1)] = e;
		}
	}
	free(m->b);
	m->b = b;
	m->nb = nb;
	return 0;
}

/* Stores val under key; 0 or -1 if out of memory. */
int hmap_put(struct hmap *m, const char *key, size_t len, void *val)
{
	uint64_t h = hash_bytes(&m->key, key, len);
	struct hmap_ent **pp, *e;

	if (m->n >= m->nb && hmap_grow(m) < 0)
		return -1;
	pp = hmap_find(m, key, len, h);
	if (*pp) {
		(*pp)->val = val;
		return 0;
	}
	if (!(e = malloc(sizeof(*e) + len + 1)))
		return -1;
	e->next = NULL;
	e->h = h;
	e->val = val;
	e->len = len;
	memcpy(e->key, key, len);
	e->key[len] = '\0';
	*pp = e;
	m->n++;
	return 0;
}

/* Removes key; returns its value or NULL. */
void *hmap_del(struct hmap *m, const char *key, size_t len)
{
	struct hmap_ent **pp, *e;
	void *val;

	if (!m->n)
		return NULL;
	pp = hmap_find(m, key, len, hash_bytes(&m->key, key, len));
	if (!(e = *pp))
		return NULL;
	*pp = e->next;
	val = e->val;
	free(e);
	m->n--;
	return val;
}

/* Calls fn on every value, then frees the map. */
void hmap_destroy(struct hmap *m, void (*fn)(void *val))
{
	for (size_t i = 0; i < m->nb; i++) {
		struct hmap_ent *e = m->b[i], *next;

		for (; e; e = next) {
			next = e->next;
			if (fn)
				fn(e->val);
			free(e);
		}
	}
	free(m->b);
	m->b = NULL;
	m->nb = m->n = 0;
}
