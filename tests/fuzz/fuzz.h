/*
 * fuzz.h -- the entry point every harness in tests/fuzz defines: libFuzzer
 * calls it (fuzz builds, --enable-fuzz), and so does replay.c for each file
 * of a corpus (make check, any compiler).
 *
 * A harness returns 0 for every input; it aborts (fuzz_fail, or a
 * sanitizer report) when the code under test misbehaves.
 */
#ifndef TIMERD_FUZZ_H
#define TIMERD_FUZZ_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Runs one input through the code under test. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts with a message: an invariant of the code under test failed (libFuzzer records a crash). */
__attribute__((format(printf, 1, 2), noreturn, unused))
static void fuzz_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("fuzz: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	abort();
}

#endif /* TIMERD_FUZZ_H */
