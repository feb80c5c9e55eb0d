/*
 * arena.c -- bump allocator for protobuf-c decoding (see arena.h).
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>

#include "proto/arena.h"

#define ARENA_ALIGN 16

struct arena_chunk {
	struct arena_chunk *next;
	size_t size;				/* usable bytes in data */
	_Alignas(ARENA_ALIGN) unsigned char data[];
};

/* Rounds n up to the alignment. */
static size_t arena_round(size_t n)
{
	return (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
}

/* protobuf-c alloc hook. */
static void *arena_pbc_alloc(void *data, size_t n)
{
	return arena_alloc(data, n);
}

/* protobuf-c free hook: memory goes back at reset. */
static void arena_pbc_free(void *data, void *p)
{
	(void)data;
	(void)p;
}

/* Initialises an empty arena. */
void arena_init(struct arena *a)
{
	a->head = NULL;
	a->used = 0;
	a->total = a->limit = 0;
	a->pbc.alloc = arena_pbc_alloc;
	a->pbc.free = arena_pbc_free;
	a->pbc.allocator_data = a;
}

/* Adds a chunk of at least n bytes in front. */
static struct arena_chunk *arena_grow(struct arena *a, size_t n)
{
	size_t size = n > ARENA_KEEP ? n : ARENA_KEEP;
	struct arena_chunk *c;

	/* geometric growth up to 1 MiB keeps chunk counts low for big messages */
	if (a->head && a->head->size < 1024 * 1024 && a->head->size * 2 > size)
		size = a->head->size * 2;
	c = malloc(sizeof(*c) + size);
	if (!c)
		return NULL;
	c->next = a->head;
	c->size = size;
	a->head = c;
	a->used = 0;
	return c;
}

/* Allocates n bytes aligned to 16; NULL if out of memory. */
void *arena_alloc(struct arena *a, size_t n)
{
	void *p;

	if (n > SIZE_MAX / 2)
		return NULL;
	n = arena_round(n ? n : 1);
	if (a->limit && (n > a->limit || a->total > a->limit - n))
		return NULL;	/* over what this decode may take (arena_limit_for) */
	a->total += n;
	if ((!a->head || a->head->size - a->used < n) && !arena_grow(a, n))
		return NULL;
	p = a->head->data + a->used;
	a->used += n;
	return p;
}

/* Frees everything allocated since the last reset; keeps one small chunk. */
void arena_reset(struct arena *a)
{
	struct arena_chunk *c = a->head, *keep = NULL;

	while (c) {
		struct arena_chunk *next = c->next;

		if (!keep && c->size == ARENA_KEEP)
			keep = c;
		else
			free(c);
		c = next;
	}
	if (keep)
		keep->next = NULL;
	a->head = keep;
	a->used = 0;
	a->total = a->limit = 0;
}

void arena_limit_for(struct arena *a, size_t n)
{
	a->limit = n > (SIZE_MAX - ARENA_DECODE_SLACK) / ARENA_DECODE_FACTOR ? SIZE_MAX
									   : n * ARENA_DECODE_FACTOR + ARENA_DECODE_SLACK;
}

/* Frees everything. */
void arena_destroy(struct arena *a)
{
	arena_reset(a);
	free(a->head);
	a->head = NULL;
}
