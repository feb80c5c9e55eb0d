/*
 * test-probe-errors.c -- what attaching reports when it cannot attach, that
 * nothing stays half-attached, that detach stops the hits, and that a
 * process without privilege gets the documented error; re-arm moves an
 * existing timer and creates none. Also attaches to real binaries of the
 * system when they are installed (python3.11's USDT probes, redis-server's
 * `call`).
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <stdarg.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/probe/probe-test.h"
#include "tests/wait.h"

/* Attaches spec, which must fail with rc_want and an error containing want. */
static void pe_bad(struct pt_ctx *c, int rc_want, const char *want, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void pe_bad(struct pt_ctx *c, int rc_want, const char *want, const char *fmt, ...)
{
	char spec[512], err[512] = "";
	struct probe_counters t;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(spec, sizeof(spec), fmt, ap);
	va_end(ap);
	rc = pt_attach_fail(c, spec, err, sizeof(err));
	PT_CHECK(rc == rc_want, "'%s': rc %d, expected %d (%s)", spec, rc, rc_want, err);
	PT_CHECK(strstr(err, want) != NULL, "'%s': error '%s' lacks '%s'", spec, err, want);
	PT_CHECK(probe_list(c->m, NULL, 0) == 0, "'%s' left a probe attached", spec);
	probe_totals(c->m, &t);
	PT_CHECK(t.hits == 0, "'%s' left something counting hits", spec);
}

/* Without privilege, creating the manager fails with the documented error. */
static void pe_unprivileged(void)
{
	pid_t pid;
	int status;

	if (geteuid() != 0)
		return;
	pid = fork();
	PT_CHECK(pid >= 0, "fork");
	if (pid == 0) {
		struct probe_mgr *m = NULL;
		char err[256] = "";
		int rc;

		if (setgroups(0, NULL) || setresgid(65534, 65534, 65534) ||
		    setresuid(65534, 65534, 65534))
			_exit(3);
		rc = probe_mgr_create(NULL, &m, err, sizeof(err));
		printf("unprivileged: %d %s\n", rc, err);
		_exit(rc == -EPERM && m == NULL && strstr(err, "BPF probes need root") ? 0 : 1);
	}
	PT_CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
		 WEXITSTATUS(status) == 0, "unprivileged probe_mgr_create: status 0x%x", status);
}

/* Every kind of attach error, each leaving nothing attached. */
static void pe_attach_errors(struct pt_ctx *c)
{
	char notelf[] = "/tmp/test-probe-errors.XXXXXX";
	int fd = mkstemp(notelf);

	PT_CHECK(fd >= 0 && write(fd, "not a binary\n", 13) == 13, "mkstemp");
	close(fd);
	pe_bad(c, -EINVAL, "no action: add arm=DURATION", "uprobe:%s:probe_target_work", c->target);
	pe_bad(c, -EINVAL, "unknown option 'budget=5ms'", "uprobe:%s:f budget=5ms", c->target);
	pe_bad(c, -ENOENT, "binary /nonexistent/app does not exist",
	       "uprobe:/nonexistent/app:handle arm=50ms");
	pe_bad(c, -ENOEXEC, "is not an ELF file", "uprobe:%s:handle arm=50ms", notelf);
	pe_bad(c, -ENOENT, "no function 'no_such_function' in", "uprobe:%s:no_such_function "
	       "arm=50ms", c->target);
	pe_bad(c, -ENOENT, "no function 'no_such_function' in", "uretprobe:%s:no_such_function "
	       "cancel", c->target);
	pe_bad(c, -ERANGE, "is beyond the end of 'probe_target_work'",
	       "uprobe:%s:probe_target_work+100000 arm=1ms", c->target);
	pe_bad(c, -ENOENT, "no USDT probe timerd_test:nope in", "usdt:%s:timerd_test:nope cancel",
	       c->target);
	pe_bad(c, -ENOENT, "has no USDT probes", "usdt:/proc/self/exe:p:n cancel");
	pe_bad(c, -ENOENT, "no tracepoint sched:no_such_event", "tracepoint:sched:no_such_event "
	       "cancel");
	pe_bad(c, -ENOENT, "no tracepoint category 'no_such_category'",
	       "tracepoint:no_such_category:x cancel");
	pe_bad(c, -ESRCH, "no process 4194000", "uprobe:%s:probe_target_work arm=1ms pid=4194000",
	       c->target);
	pe_bad(c, -EINVAL, "perf_event_max_sample_rate", "perf:cpu-clock:freq=1000000 cancel");
	unlink(notelf);
}

/* True once the counters show more than *(uint64_t *)min hits. */
static bool pe_has_hits(const struct probe_counters *pc, void *min)
{
	return pc->hits > *(uint64_t *)min;
}

/* The totals pe_totals_moved compares against (now: the last read). */
struct pe_totals {
	struct pt_ctx *c;
	struct probe_counters before, now;
};

/* True once the totals' hits or arms differ from w->before. */
static bool pe_totals_moved(void *arg)
{
	struct pe_totals *w = arg;

	probe_sync(w->c->m);
	probe_totals(w->c->m, &w->now);
	return w->now.hits != w->before.hits || w->now.arms != w->before.arms;
}

/* A process that keeps calling; detaching its probe stops the hits at once. */
static void pe_detach_stops_hits(struct pt_ctx *c)
{
	struct probe_counters t1, t2, pc;
	struct engine_timer *t;
	struct pt_child ch;
	unsigned long calls = 0;
	char *out, key[64];
	uint32_t id;
	int klen;

	pt_spawn(&ch, c->target, (const char *[]){ "loop", "1200", "1000", NULL });
	id = pt_attach(c, "uprobe:%s:probe_target_work arm=5s key=tid topic=det pid=%d",
		       c->target, (int)ch.pid);
	pt_release(&ch);
	pt_wait_counters(c, id, pe_has_hits, &(uint64_t){ 20 }, PT_DEADLINE_MS,
			 "hits of the looping target", &pc);
	PT_CHECK(pc.hits > 20, "only %llu hits", (unsigned long long)pc.hits);
	PT_CHECK(probe_detach(c->m, id) == 0, "detach");
	PT_CHECK(probe_detach(c->m, id) == -ENOENT, "second detach");
	PT_CHECK(probe_detach(c->m, 999999) == -ENOENT, "detach of an unknown id");
	probe_sync(c->m);
	probe_totals(c->m, &t1);
	/* The target keeps calling for about a second: no hit may count for 300 ms of it. */
	struct pe_totals tw = { .c = c, .before = t1 };

	wait_never(pe_totals_moved, &tw, 300, "hits went on after detach");
	t2 = tw.now;
	out = pt_collect(&ch);
	PT_CHECK(sscanf(out, "calls %lu", &calls) == 1, "target said '%s'", out);
	free(out);
	printf("detach: %llu hits before, %llu after, of %lu calls\n",
	       (unsigned long long)t1.hits, (unsigned long long)(t2.hits - t1.hits), calls);
	PT_CHECK(t2.hits == t1.hits && t2.arms == t1.arms, "hits went on after detach: %llu -> %llu",
		 (unsigned long long)t1.hits, (unsigned long long)t2.hits);
	PT_CHECK(calls > t1.hits + 20, "the target stopped calling (%lu calls)", calls);
	PT_CHECK(t1.arms == t1.hits, "every hit before the detach was applied");

	/* The timer armed before the detach stays, under its documented key. */
	klen = snprintf(key, sizeof(key), "probe:det:%d", (int)ch.pid);
	PT_CHECK(engine_get(c->e, 0, key, (uint32_t)klen, &t) == 0, "no timer %s", key);
	PT_CHECK(t->flags == PROBE_TIMER_FLAG && t->payloadlen == sizeof(struct probe_origin),
		 "timer %s: flags %x payload %u", key, t->flags, t->payloadlen);
	engine_timer_free(t);
	PT_CHECK(engine_cancel(c->e, 0, key, (uint32_t)klen) == 0, "cancel %s", key);
}

/*
 * rearm= moves a timer armed elsewhere (here on the engine, as an RPC
 * client would, under the key a key=pid:tid probe computes) to hit + 5 s
 * and makes it carry the probe's origin; a rearm probe whose key has no
 * timer creates nothing and counts misses.
 */
static void pe_rearm(struct pt_ctx *c)
{
	struct probe_counters moved, none;
	struct engine_arm_result res;
	struct probe_origin o;
	struct engine_timer *t;
	struct pt_child ch;
	uint32_t id, id_none;
	char key[64];
	int klen;

	pt_spawn(&ch, c->target, (const char *[]){ "loop", "100", "1000", NULL });
	klen = snprintf(key, sizeof(key), "probe:re:%d:%d", (int)ch.pid, (int)ch.pid);
	struct engine_arm a = { .key = key, .keylen = (uint32_t)klen, .when = ENGINE_AFTER,
				.time = 30 * ENGINE_NS_PER_S, .topic = "re", .topiclen = 2 };
	PT_CHECK(engine_arm(c->e, &a, &res) == 0, "engine_arm %s", key);
	id = pt_attach(c, "uprobe:%s:probe_target_work rearm=5s key=pid:tid topic=re pid=%d",
		       c->target, (int)ch.pid);
	id_none = pt_attach(c, "uprobe:%s:probe_target_work rearm=5s key=tid topic=nothing pid=%d",
			    c->target, (int)ch.pid);
	pt_release(&ch);
	free(pt_collect(&ch));
	probe_sync(c->m);
	moved = pt_counters(c, id);
	none = pt_counters(c, id_none);
	PT_CHECK(moved.hits > 10 && moved.arms == moved.hits && moved.misses == 0,
		 "rearm: hits %llu arms %llu misses %llu", (unsigned long long)moved.hits,
		 (unsigned long long)moved.arms, (unsigned long long)moved.misses);
	PT_CHECK(none.hits > 10 && none.arms == 0 && none.misses == none.hits,
		 "rearm without a timer: hits %llu arms %llu misses %llu",
		 (unsigned long long)none.hits, (unsigned long long)none.arms,
		 (unsigned long long)none.misses);
	PT_CHECK(engine_get(c->e, 0, key, (uint32_t)klen, &t) == 0, "timer %s is gone", key);
	PT_CHECK(t->id == res.id && t->payloadlen == sizeof(o) && t->flags == PROBE_TIMER_FLAG,
		 "timer %s: id %llu payload %u flags %x", key, (unsigned long long)t->id,
		 t->payloadlen, t->flags);
	memcpy(&o, t->payload, sizeof(o));
	PT_CHECK(o.pid == (uint32_t)ch.pid && o.probe_id == id &&
		 t->deadline == (int64_t)o.hit_ns + 5 * ENGINE_NS_PER_S,
		 "timer %s: origin pid %u probe %u, deadline - hit %lld ns", key, o.pid,
		 o.probe_id, (long long)(t->deadline - (int64_t)o.hit_ns));
	engine_timer_free(t);
	klen = snprintf(key, sizeof(key), "probe:nothing:%d", (int)ch.pid);
	PT_CHECK(engine_get(c->e, 0, key, (uint32_t)klen, &t) == TD_ENOENT, "rearm created %s",
		 key);
	PT_CHECK(probe_detach(c->m, id) == 0 && probe_detach(c->m, id_none) == 0, "detach");
	klen = snprintf(key, sizeof(key), "probe:re:%d:%d", (int)ch.pid, (int)ch.pid);
	PT_CHECK(engine_cancel(c->e, 0, key, (uint32_t)klen) == 0, "cancel %s", key);
}

/* Attaches to binaries of the system when present: they exercise real ELF files. */
static void pe_system_binaries(struct pt_ctx *c)
{
	struct probe_counters pc;
	struct pt_child ch;
	uint32_t id;

	if (access("/usr/bin/redis-server", R_OK) == 0) {
		id = pt_attach(c, "uprobe:/usr/bin/redis-server:call arm=50ms key=tid topic=redis");
		PT_CHECK(probe_detach(c->m, id) == 0, "detach redis");
	}
	if (access("/usr/bin/python3.11", X_OK) != 0)
		return;
	/* The shell waits at the gate (fd 3), then becomes python with the same pid. */
	pt_spawn(&ch, "/bin/sh", (const char *[]){ "-c", "read -r go <&3; exec /usr/bin/python3.11 "
		 "-c 'import gc\nfor i in range(50): gc.collect()'", NULL });
	id = pt_attach(c, "usdt:/usr/bin/python3.11:python:gc__start cancel key=arg0 "
		       "topic=py pid=%d", (int)ch.pid);
	pt_release(&ch);
	free(pt_collect(&ch));
	probe_sync(c->m);
	pc = pt_counters(c, id);
	printf("python3.11 gc__start: %llu hits\n", (unsigned long long)pc.hits);
	PT_CHECK(pc.hits >= 50 && pc.cancels == pc.hits && pc.errors == 0,
		 "python: hits %llu cancels %llu errors %llu", (unsigned long long)pc.hits,
		 (unsigned long long)pc.cancels, (unsigned long long)pc.errors);
	PT_CHECK(probe_detach(c->m, id) == 0, "detach python");
}

int main(void)
{
	struct pt_ctx c;

	pe_unprivileged();	/* before pt_init: it forks */
	pt_init(&c, "test-probe-errors");
	pe_attach_errors(&c);
	pe_detach_stops_hits(&c);
	pe_rearm(&c);
	pe_system_binaries(&c);
	PT_CHECK(probe_list(c.m, NULL, 0) == 0, "probes left");
	pt_fini(&c);
	printf("PASS\n");
	return 0;
}
