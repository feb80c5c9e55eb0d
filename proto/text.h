/*
 * text.h -- UTF-8 checks for the strings a peer sends (keys, topics,
 * Hello.client): valid UTF-8 without controls or bidi overrides.
 */
#ifndef TIMERD_TEXT_H
#define TIMERD_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static inline size_t text_utf8_seq(const unsigned char *s, size_t n)
{
	size_t len = s[0] < 0x80 ? 1 : (s[0] & 0xe0) == 0xc0 ? 2 : (s[0] & 0xf0) == 0xe0 ? 3 : (s[0] & 0xf8) == 0xf0 ? 4 : 0;

	if (!len || len > n || (len == 2 && s[0] < 0xc2) || (len == 4 && s[0] > 0xf4))
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	if (len == 3 && ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0)))
		return 0;	/* overlong, or a UTF-16 surrogate */
	if (len == 4 && ((s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90)))
		return 0;	/* overlong, or past U+10FFFF */
	return len;
}

/*
 * True if the valid UTF-8 sequence at s (len bytes) is a character a
 * terminal or a log viewer acts on rather than shows: C0 controls, DEL,
 * C1 controls (U+0080-U+009F) and the bidi embeddings, overrides and
 * isolates (U+202A-U+202E, U+2066-U+2069) that make text read in another
 * order than it is stored ("Trojan Source").
 */
static inline bool text_is_control(const unsigned char *s, size_t len)
{
	if (len == 1)
		return s[0] < 0x20 || s[0] == 0x7f;
	if (len == 2)
		return s[0] == 0xc2 && s[1] <= 0x9f;
	if (len == 3 && s[0] == 0xe2 && s[1] == 0x80)
		return s[2] >= 0xaa && s[2] <= 0xae;
	if (len == 3 && s[0] == 0xe2 && s[1] == 0x81)
		return s[2] >= 0xa6 && s[2] <= 0xa9;
	return false;
}

/* True if p[0..n) is valid UTF-8 without NUL, control or bidi control characters (text_is_control). */
static inline bool text_ok(const void *p, size_t n)
{
	const unsigned char *s = p;
	size_t l;

	for (size_t i = 0; i < n; i += l) {
		if (!(l = text_utf8_seq(s + i, n - i)) || text_is_control(s + i, l))
			return false;
	}
	return true;
}

#endif /* TIMERD_TEXT_H */
