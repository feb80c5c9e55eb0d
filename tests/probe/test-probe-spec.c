/*
 * test-probe-spec.c -- unit tests of the probe spec parser, the engine key
 * format and the ELF lookups (symbols, USDT notes) behind attach errors.
 * Needs neither root nor BPF.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"
#include "probe/probe-int.h"

static char target[PATH_MAX];	/* tests/probe/probe-target, beside this program */

/* Parses spec, which must succeed. */
static struct probe_spec parse_ok(const char *spec)
{
	struct probe_spec s;
	char err[512] = "";

	ck_assert_msg(probe_spec_parse(spec, &s, err, sizeof(err)) == 0, "'%s': %s", spec, err);
	return s;
}

/* Parses spec, which must fail with an error containing want. */
static void parse_bad(const char *spec, const char *want)
{
	struct probe_spec s;
	char err[512] = "";
	int rc = probe_spec_parse(spec, &s, err, sizeof(err));

	ck_assert_msg(rc == -EINVAL, "'%s' parsed (rc %d)", spec, rc);
	ck_assert_msg(strstr(err, want), "'%s': error '%s' lacks '%s'", spec, err, want);
}

START_TEST(spec_uprobe)
{
	struct probe_spec s = parse_ok("uprobe:/usr/bin/myapp:handle_request arm=50ms key=tid "
				       "topic=slow");

	ck_assert_int_eq(s.kind, PROBE_KIND_UPROBE);
	ck_assert_str_eq(s.path, "/usr/bin/myapp");
	ck_assert_str_eq(s.a, "handle_request");
	ck_assert_int_eq(s.op, PROBE_OP_ARM);
	ck_assert_int_eq(s.delay, 50 * ENGINE_NS_PER_MS);
	ck_assert_int_eq(s.period, 0);
	ck_assert_int_eq(s.key_src, PROBES_KEY_TID);
	ck_assert_str_eq(s.topic, "slow");
	ck_assert_int_eq(s.pid, 0);

	s = parse_ok("  uprobe:/opt/a:b/c:fn+0x10\tarm=1s every=250us key=arg5 pid=42  ");
	ck_assert_str_eq(s.path, "/opt/a:b/c");
	ck_assert_str_eq(s.a, "fn");
	ck_assert_int_eq(s.offset, 16);
	ck_assert_int_eq(s.delay, ENGINE_NS_PER_S);
	ck_assert_int_eq(s.period, 250 * ENGINE_NS_PER_US);
	ck_assert_int_eq(s.key_src, PROBES_KEY_ARG);
	ck_assert_int_eq(s.key_arg, 5);
	ck_assert_int_eq(s.pid, 42);
	ck_assert_str_eq(s.topic, "probe");	/* the default */

	s = parse_ok("uretprobe:/bin/x:f cancel key=pid:tid topic=a.b-c_d");
	ck_assert_int_eq(s.kind, PROBE_KIND_URETPROBE);
	ck_assert_int_eq(s.op, PROBE_OP_CANCEL);
	ck_assert_int_eq(s.key_src, PROBES_KEY_PID_TID);
	ck_assert_str_eq(s.topic, "a.b-c_d");
}
END_TEST

START_TEST(spec_other_kinds)
{
	struct probe_spec s = parse_ok("usdt:/usr/bin/python3.11:python:function__entry "
				       "rearm=2m key=arg11 topic=py");

	ck_assert_int_eq(s.kind, PROBE_KIND_USDT);
	ck_assert_str_eq(s.path, "/usr/bin/python3.11");
	ck_assert_str_eq(s.a, "python");
	ck_assert_str_eq(s.b, "function__entry");
	ck_assert_int_eq(s.op, PROBE_OP_REARM);
	ck_assert_int_eq(s.delay, 120 * ENGINE_NS_PER_S);
	ck_assert_int_eq(s.key_arg, 11);

	s = parse_ok("tracepoint:sched:sched_process_exit cancel key=pid topic=jobs");
	ck_assert_int_eq(s.kind, PROBE_KIND_TRACEPOINT);
	ck_assert_str_eq(s.a, "sched");
	ck_assert_str_eq(s.b, "sched_process_exit");

	s = parse_ok("perf:cpu-clock arm=1h key=const:0xff");
	ck_assert_int_eq(s.kind, PROBE_KIND_PERF);
	ck_assert(s.perf_freq);
	ck_assert_int_eq(s.perf_sample, PROBE_PERF_FREQ);
	ck_assert_int_eq(s.delay, 3600 * ENGINE_NS_PER_S);
	ck_assert_int_eq(s.key_src, PROBES_KEY_CONST);
	ck_assert_int_eq(s.key_const, 255);

	s = parse_ok("perf:cpu-clock:freq=997 arm=0ns");
	ck_assert(s.perf_freq);
	ck_assert_int_eq(s.perf_sample, 997);
	ck_assert_int_eq(s.delay, 0);
	s = parse_ok("perf:cpu-clock:period=2500000 cancel");
	ck_assert(!s.perf_freq);
	ck_assert_int_eq(s.perf_sample, 2500000);
	s = parse_ok("perf:cpu-clock:period=5ms cancel");
	ck_assert_int_eq(s.perf_sample, 5 * ENGINE_NS_PER_MS);
}
END_TEST

START_TEST(spec_target_errors)
{
	parse_bad("", "empty probe spec");
	parse_bad("   \t ", "empty probe spec");
	parse_bad("kprobe:do_exit arm=1ms", "unknown probe 'kprobe:do_exit'");
	parse_bad("uprobe arm=1ms", "unknown probe 'uprobe'");
	parse_bad("uprobe:/bin/x arm=1ms", "needs a binary and a function");
	parse_bad("uprobe:bin/x:f arm=1ms", "binary path 'bin/x' must be absolute");
	parse_bad("uprobe::f arm=1ms", "missing binary path");
	parse_bad("uprobe:/bin/x: arm=1ms", "missing symbol");
	parse_bad("uprobe:/bin/x:f-g arm=1ms", "bad symbol 'f-g'");
	parse_bad("uprobe:/bin/x:f+ arm=1ms", "bad offset '+'");
	parse_bad("uprobe:/bin/x:f+12z arm=1ms", "bad offset '+12z'");
	parse_bad("uretprobe:/bin/x:f+4 cancel", "+OFF is only for uprobes");
	parse_bad("usdt:/bin/x:prov cancel", "needs a binary, a provider and a probe name");
	parse_bad("usdt:/bin/x:pr-ov:name cancel", "bad USDT provider 'pr-ov'");
	parse_bad("usdt:/bin/x:prov: cancel", "missing USDT probe name");
	parse_bad("tracepoint:sched_process_exit cancel", "needs a category and a name");
	parse_bad("tracepoint:sched:a/b cancel", "bad tracepoint name 'a/b'");
	parse_bad("perf:cycles arm=1ms", "perf event 'cycles' is not supported");
	parse_bad("perf:cpu-clock:freq=0 arm=1ms", "bad frequency 'freq=0'");
	parse_bad("perf:cpu-clock:freq=2000000 arm=1ms", "expected 1 to 1000000");
	parse_bad("perf:cpu-clock:period=0 arm=1ms", "bad period 'period=0'");
	parse_bad("perf:cpu-clock:hz=5 arm=1ms", "bad perf option ':hz=5'");
}
END_TEST

START_TEST(spec_option_errors)
{
	const char *u = "uprobe:/bin/x:f ";
	char spec[1024];

#define BAD(opts, want) do { snprintf(spec, sizeof(spec), "%s%s", u, opts); parse_bad(spec, want); } while (0)
	BAD("", "no action: add arm=DURATION, rearm=DURATION or cancel");
	BAD("key=tid", "no action");
	BAD("arm=5", "bad duration 'arm=5': the number needs a unit");
	BAD("arm=5sec", "bad duration 'arm=5sec': unknown unit");
	BAD("arm=1.5s", "bad duration 'arm=1.5s'");
	BAD("arm=ms", "bad duration 'arm=ms': expected an integer with a unit");
	BAD("arm=-1ms", "bad duration 'arm=-1ms'");
	BAD("arm=1001d", "bad duration");
	BAD("arm=99999999h", "is too long (at most 1000 days)");
	BAD("arm=99999999999999999999999ns", "bad duration");
	BAD("rearm=", "bad duration 'rearm='");
	BAD("arm=1ms cancel", "the action (arm=, rearm= or cancel) given twice");
	BAD("cancel cancel", "given twice");
	BAD("cancel every=1s", "every= needs arm= or rearm=");
	BAD("arm=1ms every=10ns", "every= must be at least 1us");
	BAD("arm=1ms every=0ms", "every= must be at least 1us");
	BAD("arm=1ms every=0s", "drop it for a one-shot timer");
	BAD("arm=1ms every=1s every=2s", "every= given twice");
	BAD("arm=1ms key=cpu", "bad key 'key=cpu': expected tid, pid, pid:tid, argN or const:N");
	BAD("arm=1ms key=arg6", "a uprobe probe has arguments arg0 to arg5");
	BAD("arm=1ms key=arg", "bad key 'key=arg'");
	BAD("arm=1ms key=argx", "bad key 'key=argx'");
	BAD("arm=1ms key=const:", "bad key 'key=const:'");
	BAD("arm=1ms key=const:12ab", "bad key 'key=const:12ab'");
	BAD("arm=1ms key=tid key=pid", "key= given twice");
	BAD("arm=1ms topic=", "missing topic");
	BAD("arm=1ms topic=a:b", "bad topic 'a:b'");
	BAD("arm=1ms topic=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	    "is too long (at most 64 bytes)");
	BAD("arm=1ms pid=0", "bad pid 'pid=0'");
	BAD("arm=1ms pid=4194305", "bad pid 'pid=4194305'");
	BAD("arm=1ms pid=12a", "bad pid 'pid=12a'");
	BAD("arm=1ms pid=1 pid=2", "pid= given twice");
	BAD("arm=1ms frob", "unknown option 'frob'");
	BAD("arm=1ms Key=tid", "unknown option 'Key=tid'");
#undef BAD
	parse_bad("uretprobe:/bin/x:f cancel key=arg0", "key=arg0 is not available in a uretprobe "
		  "probe (arguments are gone at return)");
	parse_bad("tracepoint:sched:sched_switch cancel key=arg1", "not available in a tracepoint");
	parse_bad("perf:cpu-clock cancel key=arg0", "not available in a perf probe");
	parse_bad("usdt:/bin/x:p:n cancel key=arg12", "a usdt probe has arguments arg0 to arg11");
}
END_TEST

START_TEST(spec_too_long)
{
	char spec[700];

	memset(spec, 'a', sizeof(spec) - 1);
	spec[sizeof(spec) - 1] = '\0';
	memcpy(spec, "uprobe:/", 8);
	parse_bad(spec, "probe spec is too long (at most 511 bytes)");
}
END_TEST

START_TEST(key_format)
{
	char k[PROBE_KEY_MAX + 1];

	ck_assert_uint_eq(probe_key_format(k, "slow", 4, PROBES_KEY_TID, 1234), 15);
	ck_assert_str_eq(k, "probe:slow:1234");
	probe_key_format(k, "t", 1, PROBES_KEY_PID_TID, (uint64_t)77 << 32 | 78);
	ck_assert_str_eq(k, "probe:t:77:78");
	probe_key_format(k, "t", 1, PROBES_KEY_CONST, 0);
	ck_assert_str_eq(k, "probe:t:0");
	probe_key_format(k, "t", 1, PROBES_KEY_ARG, UINT64_MAX);
	ck_assert_str_eq(k, "probe:t:18446744073709551615");
	probe_key_format(k, "t", 1, PROBES_KEY_PID_TID, UINT64_MAX);
	ck_assert_str_eq(k, "probe:t:4294967295:4294967295");
}
END_TEST

/* Looks up sym in path, which must fail with an error containing want. */
static void elf_bad(const char *path, const char *sym, uint64_t off, int rc_want, const char *want)
{
	char err[512] = "";
	uint64_t o = 0;
	int rc = probe_elf_func_offset(path, sym, off, &o, err, sizeof(err));

	ck_assert_msg(rc == rc_want, "%s:%s: rc %d, want %d (%s)", path, sym, rc, rc_want, err);
	ck_assert_msg(strstr(err, want), "%s:%s: error '%s' lacks '%s'", path, sym, err, want);
}

START_TEST(elf_symbols)
{
	char err[512] = "", notelf[] = "/tmp/test-probe-spec.XXXXXX";
	uint64_t o1 = 0, o2 = 0;
	int fd;

	ck_assert_msg(probe_elf_func_offset(target, "probe_target_work", 0, &o1, err,
					    sizeof(err)) == 0, "%s", err);
	ck_assert_msg(probe_elf_func_offset(target, "probe_target_work", 4, &o2, err,
					    sizeof(err)) == 0, "%s", err);
	ck_assert(o1 > 0);
	ck_assert_uint_eq(o2, o1 + 4);
	ck_assert_msg(probe_elf_func_offset(target, "main", 0, &o2, err, sizeof(err)) == 0, "%s",
		      err);
	elf_bad(target, "probe_target_work", 1 << 20, -ERANGE, "is beyond the end of");
	elf_bad(target, "no_such_function", 0, -ENOENT,
		"no function 'no_such_function' in");
	elf_bad(target, "nanosleep", 0, -ENOENT, "'nanosleep' is imported by");
	elf_bad("/nonexistent/bin", "f", 0, -ENOENT, "binary /nonexistent/bin does not exist");
	elf_bad("/tmp", "f", 0, -ENOEXEC, "is not a regular, non-empty file");

	fd = mkstemp(notelf);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "#!/bin/sh\necho hello\n", 21), 21);
	close(fd);
	elf_bad(notelf, "f", 0, -ENOEXEC, "is not an ELF file");
	unlink(notelf);
}
END_TEST

START_TEST(elf_usdt)
{
	char err[512] = "";

	ck_assert_msg(probe_elf_usdt(target, "timerd_test", "work_begin", err, sizeof(err)) == 0,
		      "%s", err);
	ck_assert_msg(probe_elf_usdt(target, "timerd_test", "work_end", err, sizeof(err)) == 0,
		      "%s", err);
	ck_assert_int_eq(probe_elf_usdt(target, "timerd_test", "nope", err, sizeof(err)), -ENOENT);
	ck_assert_msg(strstr(err, "no USDT probe timerd_test:nope in") &&
		      strstr(err, "timerd_test:work_begin") && strstr(err, "timerd_test:work_end"),
		      "%s", err);
	ck_assert_int_eq(probe_elf_usdt("/nonexistent/bin", "p", "n", err, sizeof(err)), -ENOENT);
	ck_assert_msg(strstr(err, "does not exist"), "%s", err);
}
END_TEST

/* A binary of the test itself has no USDT notes. */
START_TEST(elf_usdt_none)
{
	char self[PATH_MAX], err[512] = "";
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	ck_assert_int_gt(n, 0);
	self[n] = '\0';
	ck_assert_int_eq(probe_elf_usdt(self, "p", "n", err, sizeof(err)), -ENOENT);
	ck_assert_msg(strstr(err, "has no USDT probes (no .note.stapsdt section"), "%s", err);
}
END_TEST

/* Finds probe-target beside this program. */
static void find_target(void)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0)
		abort();
	self[n] = '\0';
	snprintf(target, sizeof(target), "%s/probe-target", dirname(self));
}

int main(void)
{
	Suite *s = suite_create("probe-spec");
	TCase *tc = tcase_create("spec");
	SRunner *sr;
	int failed;

	find_target();
	tcase_add_test(tc, spec_uprobe);
	tcase_add_test(tc, spec_other_kinds);
	tcase_add_test(tc, spec_target_errors);
	tcase_add_test(tc, spec_option_errors);
	tcase_add_test(tc, spec_too_long);
	tcase_add_test(tc, key_format);
	tcase_add_test(tc, elf_symbols);
	tcase_add_test(tc, elf_usdt);
	tcase_add_test(tc, elf_usdt_none);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
