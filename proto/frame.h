/*
 * frame.h -- the framing both ends of a timerd connection use: a 4-byte
 * big-endian length, then one serialized Request or Response.
 *
 * Usage (reading):
 *
 *	uint8_t hdr[FRAME_HDR];
 *	...have FRAME_HDR bytes...
 *	uint32_t n = frame_len(hdr);
 *	if (n > max_frame)  refuse: the peer is not speaking this protocol
 *	...wait for n more bytes, then unpack them...
 *
 * Writing: frame_put_len(buf, n) then the n packed bytes.
 */
#ifndef TIMERD_FRAME_H
#define TIMERD_FRAME_H

#include <stdint.h>

/* Bytes in the length prefix. */
#define FRAME_HDR 4
/* The protocol version this tree speaks. */
#define FRAME_VERSION 1
/* Default largest frame (length prefix excluded). */
#define FRAME_DEFAULT_MAX (1024u * 1024u)
/* Largest frame any configuration may allow. */
#define FRAME_LIMIT_MAX (64u * 1024u * 1024u)

/* Reads a length prefix. */
static inline uint32_t frame_len(const uint8_t *h)
{
	return (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
}

/* Writes a length prefix. */
static inline void frame_put_len(uint8_t *h, uint32_t n)
{
	h[0] = (uint8_t)(n >> 24);
	h[1] = (uint8_t)(n >> 16);
	h[2] = (uint8_t)(n >> 8);
	h[3] = (uint8_t)n;
}

/*
 * Says whether a length prefix looks like text rather than a frame (an HTTP
 * request, a telnet line, a redis command): four printable ASCII bytes.
 */
static inline int frame_looks_like_text(const uint8_t *h)
{
	for (int i = 0; i < FRAME_HDR; i++)
		if (h[i] < 0x09 || h[i] > 0x7e)
			return 0;
	return 1;
}

#endif /* TIMERD_FRAME_H */
