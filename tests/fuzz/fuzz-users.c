/*
 * fuzz-users.c -- server/ident.c: the users file (--users FILE) and the
 * rule engine behind every request's permission check.
 *
 * Input: the file's text. Checks: a refused file says FILE:LINE; an
 * accepted one is sorted by name with no name twice, every identity has a
 * way to authenticate, its compiled prefixes are sorted and none holds
 * another; ident_allows agrees with a naive loop over the prefixes for
 * names taken from the input; nothing leaks (LeakSanitizer).
 */
#include "config.h"

#include <string.h>

#include "server/ident.h"
#include "tests/fuzz/fuzz.h"

/* The naive match: any prefix equal to s, or followed in s by sep. */
static bool users_naive(const struct ident_prefixes *p, const char *s, size_t len)
{
	if (p->all)
		return true;
	for (uint32_t i = 0; i < p->n; i++)
		if (len >= p->len[i] && memcmp(p->v[i], s, p->len[i]) == 0 && (len == p->len[i] || s[p->len[i]] == p->sep))
			return true;
	return false;
}

/* Fails unless p is compiled as ident_prefix_match needs it. */
static void users_check_prefixes(const struct ident_prefixes *p)
{
	for (uint32_t i = 0; i < p->n; i++) {
		if (p->len[i] != strlen(p->v[i]) || !p->len[i])
			fuzz_fail("prefix %u has a wrong length", i);
		if (i && strcmp(p->v[i - 1], p->v[i]) >= 0)
			fuzz_fail("prefixes not sorted: '%s' before '%s'", p->v[i - 1], p->v[i]);
		for (uint32_t j = 0; j < p->n; j++)
			if (i != j && p->len[j] < p->len[i] && memcmp(p->v[j], p->v[i], p->len[j]) == 0 &&
			    p->v[i][p->len[j]] == p->sep)
				fuzz_fail("prefix '%s' holds '%s': it should have been dropped", p->v[j], p->v[i]);
	}
}

/* Checks a table and runs the rules over words of the input. */
static void users_check(const struct ident_table *t, const uint8_t *data, size_t size)
{
	for (uint32_t i = 0; i < t->n; i++) {
		const struct ident *id = t->v[i];

		if (i && strcmp(t->v[i - 1]->name, id->name) >= 0)
			fuzz_fail("identities not sorted or a name twice: %s, %s", t->v[i - 1]->name, id->name);
		if (!id->has_secret && !id->has_uid && !id->cert)
			fuzz_fail("identity %s has no way to authenticate", id->name);
		if (ident_by_name(t, id->name) != id)
			fuzz_fail("ident_by_name(%s) does not find it", id->name);
		users_check_prefixes(&id->keys);
		users_check_prefixes(&id->topics);
		/* every word of the input, as a key and as a topic */
		for (size_t a = 0; a < size;) {
			size_t b = a;
			char why[512];

			while (b < size && data[b] != ' ' && data[b] != '\n' && data[b] != '=' && data[b] != ',')
				b++;
			if (b > a && b - a < 300) {
				const char *w = (const char *)data + a;
				bool k = ident_allows(id, IDENT_OP_ARM, w, b - a, "", 0, why, sizeof(why));
				bool tp = ident_allows(id, IDENT_OP_WATCH, NULL, 0, w, b - a, why, sizeof(why));

				if ((id->ops & IDENT_OP_BIT(IDENT_OP_ARM)) && id->topics.all && k != users_naive(&id->keys, w, b - a))
					fuzz_fail("%s: key '%.*s': ident_allows %d, naive %d", id->name, (int)(b - a), w, k, !k);
				if ((id->ops & IDENT_OP_BIT(IDENT_OP_WATCH)) && tp != users_naive(&id->topics, w, b - a))
					fuzz_fail("%s: topic '%.*s': ident_allows %d, naive %d", id->name, (int)(b - a), w, tp, !tp);
			}
			a = b + 1;
		}
	}
}

/* Parses one users file. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ident_table *t = NULL;
	char err[512] = "";

	if (size > 65536)
		return 0;
	if (ident_parse((const char *)data, size, "users", 1000, &t, err, sizeof(err)) < 0) {
		if (t)
			fuzz_fail("a refused file left a table");
		if (strncmp(err, "users:", 6) != 0 && !strstr(err, "out of memory"))
			fuzz_fail("a refusal does not say FILE:LINE: %s", err);
		return 0;
	}
	users_check(t, data, size);
	if (!t->admin || !ident_by_uid(t, 0))
		fuzz_fail("no admin for root");
	ident_table_unref(t);
	return 0;
}
