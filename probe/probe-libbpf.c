/*
 * probe-libbpf.c -- routes libbpf's messages into the probe library's
 * errors: libbpf prints through one process-wide callback; this keeps the
 * last warning of each thread so that a failed load (probe.c) or attach
 * (probe-attach.c) can quote it, and drops libbpf's debug output.
 *
 * A leaf of the library: it calls nothing of probe/, so both the manager
 * and the attachers can use it without depending on each other.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <bpf/libbpf.h>

#include "probe/probe-int.h"

/* The last libbpf warning printed on this thread. */
static __thread char probe_libbpf_msg[256];

/* libbpf print callback: keeps warnings for error messages, drops debug output. */
__attribute__((format(printf, 2, 0)))
static int probe_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	size_t n;

	if (level == LIBBPF_DEBUG)
		return 0;
	vsnprintf(probe_libbpf_msg, sizeof(probe_libbpf_msg), fmt, ap);
	n = strlen(probe_libbpf_msg);
	while (n && (probe_libbpf_msg[n - 1] == '\n' || probe_libbpf_msg[n - 1] == ' '))
		probe_libbpf_msg[--n] = '\0';
	return 0;
}

void probe_libbpf_route(void)
{
	libbpf_set_print(probe_libbpf_print);
	probe_libbpf_clear();
}

const char *probe_libbpf_last(void)
{
	return probe_libbpf_msg;
}

void probe_libbpf_clear(void)
{
	probe_libbpf_msg[0] = '\0';
}
