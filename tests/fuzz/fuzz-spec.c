/*
 * fuzz-spec.c -- the probe spec parser (probe/probe-spec.c), as it sees a
 * --probe flag or a ProbeAttach from a client: parse only, never attach.
 *
 * Checks: the parser returns 0 or -EINVAL; an error has a message; a
 * parsed spec holds terminated names within their limits, a known kind and
 * a consistent operation; its timer key fits PROBE_KEY_MAX.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "engine.h"
#include "probe/probe-int.h"
#include "tests/fuzz/fuzz.h"

/* Checks a field is NUL-terminated within its array and at most max bytes long. */
static void spec_field(const char *what, const char *s, size_t cap, size_t max)
{
	size_t n = strnlen(s, cap);

	if (n == cap || n > max)
		fuzz_fail("parsed %s is %zu bytes (at most %zu)", what, n, max);
}

/* Checks what a successful parse produced. */
static void spec_check(const struct probe_spec *s)
{
	char key[PROBE_KEY_MAX + 1];
	size_t n;

	spec_field("path", s->path, sizeof(s->path), PROBE_PATH_MAX);
	spec_field("name a", s->a, sizeof(s->a), PROBE_NAME_MAX);
	spec_field("name b", s->b, sizeof(s->b), PROBE_NAME_MAX);
	spec_field("topic", s->topic, sizeof(s->topic), PROBE_TOPIC_MAX);
	if (strcmp(probe_kind_name(s->kind), "?") == 0)
		fuzz_fail("parsed an unknown kind %d", (int)s->kind);
	if (s->op == PROBE_OP_NONE)
		fuzz_fail("parsed a spec that does nothing");
	if ((s->op == PROBE_OP_ARM || s->op == PROBE_OP_REARM) && (s->delay < 0 || s->delay > ENGINE_MAX_DEADLINE))
		fuzz_fail("parsed a delay of %lld ns", (long long)s->delay);
	if (s->period < 0 || (s->period && s->period < ENGINE_MIN_PERIOD))
		fuzz_fail("parsed a period of %lld ns", (long long)s->period);
	n = probe_key_format(key, s->topic, strlen(s->topic), s->key_src, UINT64_MAX);
	if (n > PROBE_KEY_MAX || strlen(key) != n)
		fuzz_fail("a key of %zu bytes (at most %d)", n, PROBE_KEY_MAX);
}

/* Parses one spec. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), err[512] = "";
	struct probe_spec s;
	int rc;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	memset(&s, 0x5a, sizeof(s));
	rc = probe_spec_parse(text, &s, err, sizeof(err));
	if (rc == 0)
		spec_check(&s);
	else if (rc != -EINVAL || !err[0])
		fuzz_fail("probe_spec_parse returned %d with message '%s'", rc, err);
	free(text);
	return 0;
}
