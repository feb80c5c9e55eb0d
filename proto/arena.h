/*
 * arena.h -- a bump allocator for decoding one message at a time with
 * protobuf-c: allocation is a pointer bump, free is a no-op, and
 * arena_reset() drops everything at once.
 *
 * Usage:
 *
 *	struct arena a;
 *	arena_init(&a);
 *	for (each frame) {
 *		Timerd__Request *r = timerd__request__unpack(arena_pbc(&a), n, buf);
 *		...use r...
 *		arena_reset(&a);          r and everything it points to are gone
 *	}
 *	arena_destroy(&a);
 *
 * Not thread-safe: one arena per thread (or per connection). Memory held
 * between messages is bounded by ARENA_KEEP; while decoding, by
 * arena_limit_for.
 */
#ifndef TIMERD_ARENA_H
#define TIMERD_ARENA_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

/* Bytes of the first chunk kept across resets. */
#define ARENA_KEEP (16u * 1024u)

struct arena_chunk;

struct arena {
	struct arena_chunk *head;	/* newest chunk first */
	size_t used;			/* bytes used in head */
	size_t total, limit;		/* bytes handed out since the reset; at most limit (0: no limit) */
	ProtobufCAllocator pbc;		/* allocator handed to protobuf-c */
};

/* Initialises an empty arena. */
void arena_init(struct arena *a);

/* Allocates n bytes aligned to 16; NULL if out of memory. */
void *arena_alloc(struct arena *a, size_t n);

/*
 * Decoding a frame of n bytes may take at most ARENA_DECODE_FACTOR * n +
 * ARENA_DECODE_SLACK bytes: a frame of unknown fields or empty repeated
 * messages cannot make the decoder allocate without bound (protobuf-c
 * gives up, the frame is MALFORMED). Legitimate messages take far less.
 */
#define ARENA_DECODE_FACTOR 8u
#define ARENA_DECODE_SLACK (64u * 1024u)

/* Bounds what the arena hands out until the next reset to what decoding n bytes may need. */
void arena_limit_for(struct arena *a, size_t n);

/* Frees everything allocated since the last reset; keeps one small chunk. */
void arena_reset(struct arena *a);

/* Frees everything. */
void arena_destroy(struct arena *a);

/* The protobuf-c allocator view of the arena. */
static inline ProtobufCAllocator *arena_pbc(struct arena *a)
{
	return &a->pbc;
}

#endif /* TIMERD_ARENA_H */
