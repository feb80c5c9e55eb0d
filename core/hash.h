/*
 * hash.h -- hashing for the timer table.
 *
 * Keys come from clients, so they are hashed with SipHash-1-3 under a
 * random per-engine key: a client cannot choose keys that collide to slow
 * the table down. Ids are assigned by the engine and are mixed with
 * SplitMix64's finaliser.
 */
#ifndef TIMERD_HASH_H
#define TIMERD_HASH_H

#include <stddef.h>
#include <stdint.h>

struct hash_key {
	uint64_t k0, k1;
};

/* SipHash-1-3 of len bytes. */
uint64_t hash_bytes(const struct hash_key *k, const void *data, size_t len);

/* Mixes a 64-bit id into a well-spread hash. */
static inline uint64_t hash_id(uint64_t x)
{
	x += UINT64_C(0x9E3779B97F4A7C15);
	x = (x ^ (x >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	x = (x ^ (x >> 27)) * UINT64_C(0x94D049BB133111EB);
	return x ^ (x >> 31);
}

/* Fills k from the kernel's random source (falls back to time and address). */
void hash_key_init(struct hash_key *k);

#endif /* TIMERD_HASH_H */
