/*
 * text.h -- UTF-8 checks for the strings a peer sends (keys, topics).
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

/* True if p[0..n) is valid UTF-8 without NUL or other control characters below 0x20. */
static inline bool text_ok(const void *p, size_t n)
{
	const unsigned char *s = p;
	size_t l;

	for (size_t i = 0; i < n; i += l) {
		if (s[i] < 0x20 || !(l = text_utf8_seq(s + i, n - i)))
			return false;
	}
	return true;
}

#endif /* TIMERD_TEXT_H */
