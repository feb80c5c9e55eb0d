/*
 * fuzz-elf.c -- probe/probe-elf.c, the ELF reader the probe loader runs on
 * a binary named by a probe spec (root may point it at any file): symbol
 * lookup (uprobes) and the .note.stapsdt walk (USDT).
 *
 * Input: an ELF image. Checks: no read outside the image (ASan), an error
 * message that is NUL-terminated text within its buffer, and a found
 * offset inside the image.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "probe/probe-int.h"
#include "tests/fuzz/fuzz.h"

/* Checks an error message: terminated inside err. */
static void fuzz_elf_msg(const char *err, size_t len)
{
	if (!memchr(err, '\0', len))
		fuzz_fail("an error message ran past its buffer");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t *buf = malloc(size ? (size + 7) / 8 * 8 : 8), off = 0;
	char err[512];

	if (!buf)
		return 0;
	memcpy(buf, data, size);	/* an aligned copy, as a mapping would be */
	memset(err, 0, sizeof(err));
	if (probe_elf_func_offset_mem("fuzz", buf, size, "main", 0, &off, err, sizeof(err)) == 0 && off >= size)
		fuzz_fail("main found at file offset %llu beyond the %zu-byte image", (unsigned long long)off, size);
	fuzz_elf_msg(err, sizeof(err));
	memset(err, 0, sizeof(err));
	(void)probe_elf_usdt_mem("fuzz", buf, size, "prov", "name", err, sizeof(err));
	fuzz_elf_msg(err, sizeof(err));
	free(buf);
	return 0;
}
