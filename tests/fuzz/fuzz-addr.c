/*
 * fuzz-addr.c -- proto/addr.c: the addresses --listen, --socket, --connect
 * and $TIMERD_SOCKET give.
 *
 * Checks: a parse gives an address or an error message; the fields of a
 * parsed address are terminated within their arrays, a TCP port is
 * 1..65535; addr_format() writes text that parses back to the same
 * address.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "proto/addr.h"
#include "tests/fuzz/fuzz.h"

/* Checks the fields of a parsed address. */
static void addr_check(const struct addr *a)
{
	long port;

	if (a->kind == ADDR_UNIX) {
		if (!a->path[0] || strnlen(a->path, sizeof(a->path)) == sizeof(a->path))
			fuzz_fail("a unix address with a bad path");
		return;
	}
	if (a->kind != ADDR_TCP || !a->host[0] || strnlen(a->host, sizeof(a->host)) == sizeof(a->host) ||
	    strnlen(a->port, sizeof(a->port)) == sizeof(a->port))
		fuzz_fail("a tcp address with a bad host or port");
	port = strtol(a->port, NULL, 10);
	if (port < 1 || port > 65535)
		fuzz_fail("tcp port '%s'", a->port);
	(void)addr_is_loopback(a->host);
}

/* Parses one address; formats and re-parses it. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), err[512] = "", buf[512];
	struct addr a, b;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (addr_parse(text, &a, err, sizeof(err)) < 0) {
		if (!err[0])
			fuzz_fail("'%s' refused without a message", text);
		free(text);
		return 0;
	}
	addr_check(&a);
	addr_format(&a, buf, sizeof(buf));
	if (addr_parse(buf, &b, err, sizeof(err)) < 0)
		fuzz_fail("'%s' formats as '%s', which does not parse: %s", text, buf, err);
	if (a.kind != b.kind || strcmp(a.path, b.path) || strcmp(a.host, b.host) || strcmp(a.port, b.port))
		fuzz_fail("'%s' formats as '%s', which parses differently", text, buf);
	free(text);
	return 0;
}
