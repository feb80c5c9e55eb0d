/*
 * probe-test.c -- helpers of the probe test drivers (see probe-test.h).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/probe/probe-test.h"
#include "tests/wait.h"

int64_t pt_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * ENGINE_NS_PER_S + ts.tv_nsec;
}

void pt_sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Engine fire callback: records fires of probe timers. */
static void pt_on_fire(void *arg, const struct engine_fire *f)
{
	struct pt_ctx *c = arg;
	struct pt_fire *r;

	pthread_mutex_lock(&c->lock);
	if (c->nfires < PT_MAX_FIRES) {
		r = &c->fires[c->nfires++];
		memset(r, 0, sizeof(*r));
		r->flags = f->flags;
		r->deadline = f->deadline;
		r->fired_at = f->fired_at;
		r->period = f->period;
		snprintf(r->key, sizeof(r->key), "%.*s", (int)f->keylen, f->key ? f->key : "");
		snprintf(r->topic, sizeof(r->topic), "%.*s", (int)f->topiclen, f->topic);
		if (f->payloadlen == sizeof(struct probe_origin)) {
			struct probe_origin o;

			memcpy(&o, f->payload, sizeof(o));
			r->has_origin = true;
			r->pid = o.pid;
			r->tid = o.tid;
			r->probe_id = o.probe_id;
			r->hit_ns = o.hit_ns;
			memcpy(r->comm, o.comm, sizeof(r->comm));
		}
	}
	pthread_mutex_unlock(&c->lock);
}

/* Sets c->target to probe-target beside this test program. */
static void pt_find_target(struct pt_ctx *c)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	PT_CHECK(n > 0, "readlink /proc/self/exe: %s", strerror(errno));
	self[n] = '\0';
	snprintf(c->target, sizeof(c->target), "%s/probe-target", dirname(self));
	PT_CHECK(access(c->target, X_OK) == 0, "%s: %s", c->target, strerror(errno));
}

void pt_init(struct pt_ctx *c, const char *name)
{
	struct engine_config cfg = { .on_fire = pt_on_fire, .fire_arg = c };
	char err[256];
	int rc;

	memset(c, 0, sizeof(*c));
	c->name = name;
	pthread_mutex_init(&c->lock, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (geteuid() != 0) {
		printf("SKIP %s: BPF probes need root\n", name);
		exit(77);
	}
	pt_find_target(c);
	PT_CHECK(engine_create(&cfg, &c->e) == 0, "engine_create");
	PT_CHECK(engine_start(c->e) == 0, "engine_start");
	rc = probe_mgr_create(c->e, &c->m, err, sizeof(err));
	if (rc == -ENOSYS || rc == -EPERM || rc == -EACCES || rc == -EOPNOTSUPP) {
		printf("SKIP %s: %s\n", name, err);
		exit(77);
	}
	PT_CHECK(rc == 0, "probe_mgr_create: %s", err);
}

void pt_fini(struct pt_ctx *c)
{
	probe_mgr_destroy(c->m);
	engine_destroy(c->e);
	pthread_mutex_destroy(&c->lock);
}

uint32_t pt_attach(struct pt_ctx *c, const char *fmt, ...)
{
	char spec[512], err[512];
	uint32_t id = 0;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(spec, sizeof(spec), fmt, ap);
	va_end(ap);
	rc = probe_attach(c->m, spec, &id, err, sizeof(err));
	PT_CHECK(rc == 0, "attach '%s': %s", spec, err);
	PT_CHECK(id != 0, "attach '%s' gave id 0", spec);
	printf("attached %u: %s\n", id, spec);
	return id;
}

int pt_attach_fail(struct pt_ctx *c, const char *spec, char *err, size_t errlen)
{
	uint32_t id = 0;
	int rc = probe_attach(c->m, spec, &id, err, errlen);

	PT_CHECK(rc < 0, "attach '%s' succeeded (id %u), expected an error", spec, id);
	printf("error %d for '%s': %s\n", rc, spec, err);
	return rc;
}

void pt_spawn(struct pt_child *ch, const char *path, const char *const *args)
{
	const char *argv[16] = { path };
	int gate[2], out[2];
	size_t n = 1;

	while (args[n - 1] && n < 15) {
		argv[n] = args[n - 1];
		n++;
	}
	argv[n] = NULL;
	PT_CHECK(pipe2(gate, O_CLOEXEC) == 0 && pipe2(out, O_CLOEXEC) == 0, "pipe");
	ch->pid = fork();
	PT_CHECK(ch->pid >= 0, "fork: %s", strerror(errno));
	if (ch->pid == 0) {
		/* Only async-signal-safe calls until exec: the parent has threads. */
		if (dup2(gate[0], 3) < 0 || dup2(out[1], 1) < 0)
			_exit(126);
		execv(path, (char *const *)(uintptr_t)argv);
		_exit(127);
	}
	close(gate[0]);
	close(out[1]);
	ch->gate = gate[1];
	ch->out = out[0];
}

void pt_release(struct pt_child *ch)
{
	PT_CHECK(write(ch->gate, "g", 1) == 1, "release: %s", strerror(errno));
	close(ch->gate);
	ch->gate = -1;
}

char *pt_collect(struct pt_child *ch)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	int status;
	ssize_t n;

	PT_CHECK(buf != NULL, "malloc");
	while ((n = read(ch->out, buf + len, cap - len - 1)) > 0 || (n < 0 && errno == EINTR)) {
		if (n < 0)
			continue;
		len += (size_t)n;
		if (cap - len < 1024) {
			cap *= 2;
			buf = realloc(buf, cap);
			PT_CHECK(buf != NULL, "realloc");
		}
	}
	buf[len] = '\0';
	close(ch->out);
	PT_CHECK(waitpid(ch->pid, &status, 0) == ch->pid, "waitpid: %s", strerror(errno));
	PT_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "target exited with status 0x%x",
		 status);
	return buf;
}

size_t pt_fires(struct pt_ctx *c, struct pt_fire *out, size_t max)
{
	size_t n;

	pthread_mutex_lock(&c->lock);
	n = c->nfires < max ? c->nfires : max;
	memcpy(out, c->fires, n * sizeof(*out));
	n = c->nfires;
	pthread_mutex_unlock(&c->lock);
	return n;
}

struct probe_counters pt_counters(struct pt_ctx *c, uint32_t id)
{
	struct probe_info info[64];
	size_t n = probe_list(c->m, info, 64);

	for (size_t i = 0; i < n && i < 64; i++)
		if (info[i].id == id)
			return info[i].c;
	PT_CHECK(0, "probe %u is not listed", id);
	return (struct probe_counters){ 0 };
}

void pt_settle(struct pt_ctx *c)
{
	probe_sync(c->m);
	engine_drain(c->e);
}

/* The condition of pt_wait: settles, then asks the caller's condition. */
struct pt_cond {
	struct pt_ctx *c;
	bool (*cond)(void *);
	void *arg;
};

/* wait_until's callback for pt_wait. */
static bool pt_cond_holds(void *arg)
{
	struct pt_cond *pc = arg;

	pt_settle(pc->c);
	return pc->cond(pc->arg);
}

bool pt_wait(struct pt_ctx *c, bool (*cond)(void *), void *arg, int deadline_ms,
	     const char *what)
{
	struct pt_cond pc = { c, cond, arg };

	return wait_until(pt_cond_holds, &pc, deadline_ms, what);
}

/* What pt_wait_counters polls. */
struct pt_ctr_wait {
	struct pt_ctx *c;
	uint32_t id;
	bool (*pred)(const struct probe_counters *, void *);
	void *arg;
	struct probe_counters *seen;
};

/* Reads the counters of w->id into w->seen and asks w->pred about them. */
static bool pt_counters_hold(void *arg)
{
	struct pt_ctr_wait *w = arg;

	*w->seen = pt_counters(w->c, w->id);
	return w->pred(w->seen, w->arg);
}

bool pt_wait_counters(struct pt_ctx *c, uint32_t id,
		      bool (*pred)(const struct probe_counters *, void *), void *arg,
		      int deadline_ms, const char *what, struct probe_counters *seen)
{
	struct pt_ctr_wait w = { c, id, pred, arg, seen };

	return pt_wait(c, pt_counters_hold, &w, deadline_ms, what);
}

/* The count of recorded fires. */
static size_t pt_nfires(struct pt_ctx *c)
{
	size_t n;

	pthread_mutex_lock(&c->lock);
	n = c->nfires;
	pthread_mutex_unlock(&c->lock);
	return n;
}

/* What pt_wait_fires and pt_no_more_fires compare against. */
struct pt_nf {
	struct pt_ctx *c;
	size_t n;
};

/* True once at least n fires were recorded. */
static bool pt_has_fires(void *arg)
{
	struct pt_nf *w = arg;

	return pt_nfires(w->c) >= w->n;
}

size_t pt_wait_fires(struct pt_ctx *c, size_t n, int deadline_ms)
{
	struct pt_nf w = { c, n };

	if (!pt_wait(c, pt_has_fires, &w, deadline_ms, "fires"))
		fprintf(stderr, "%s: %zu fires after %d ms, awaited %zu\n", c->name, pt_nfires(c),
			deadline_ms, n);
	return pt_nfires(c);
}

/* True once more than n fires were recorded (settling first). */
static bool pt_more_fires(void *arg)
{
	struct pt_nf *w = arg;

	pt_settle(w->c);
	return pt_nfires(w->c) > w->n;
}

void pt_no_more_fires(struct pt_ctx *c, size_t n, int ms)
{
	struct pt_nf w = { c, n };

	PT_CHECK(wait_never(pt_more_fires, &w, ms, "a fire more than expected"),
		 "%zu fires, expected %zu to stay", pt_nfires(c), n);
}
