/*
 * test-ident.c -- the users file and the rule engine (server/ident.c):
 * every operation against every kind of rule (a table), prefix matching at
 * its edges, the parser's refusals (FILE:LINE and what to fix), the file
 * checks (mode, owner, symlink), and secrets (scrypt verify, the fast tag).
 */
#include "config.h"

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/ident.h"

/* Parses text into a table or fails the test with the error. */
static struct ident_table *load(const char *text)
{
	struct ident_table *t = NULL;
	char err[512];

	if (ident_parse(text, strlen(text), "users", getuid(), &t, err, sizeof(err)) < 0)
		ck_abort_msg("parse failed: %s", err);
	return t;
}

/* Parses text expecting a refusal whose message holds want. */
static void refuse(const char *text, const char *want)
{
	struct ident_table *t = NULL;
	char err[512] = "";

	ck_assert_msg(ident_parse(text, strlen(text), "users", getuid(), &t, err, sizeof(err)) < 0,
		      "accepted: %s", text);
	ck_assert_ptr_null(t);
	ck_assert_msg(strstr(err, want), "error for [%s] is [%s], wanted [%s]", text, err, want);
}

static const char *const users =
	"# test users\n"
	"\n"
	"alice uid=1001\n"					/* defaults: every key and topic, no probe/admin */
	"billing uid=1002 keys=billing topics=billing allow=arm,cancel,get,list,watch,consume\n"
	"reader uid=1003 allow=get,list,stats\n"
	"ops uid=1004 allow=*\n"
	"multi uid=1005 keys=a/b,c,a topics=x.y,z\n"		/* a holds a/b: compiled to a, c */
	"watcher uid=1006 allow=watch topics=alerts\n"
	"chain uid=1007 keys=a-x,a,a-y/z,ab,a-x-1 topics=t\n";	/* siblings sorting between a holder and the name */

/* One row: identity, operation, key, topic, allowed? */
static const struct row {
	const char *who;
	enum ident_op op;
	const char *key, *topic;
	bool ok;
} rows[] = {
	/* alice: default rule */
	{ "alice", IDENT_OP_ARM, "k", "t", true },
	{ "alice", IDENT_OP_CANCEL, "k", NULL, true },
	{ "alice", IDENT_OP_GET, "k", NULL, true },
	{ "alice", IDENT_OP_LIST, NULL, NULL, true },
	{ "alice", IDENT_OP_WATCH, NULL, "t", true },
	{ "alice", IDENT_OP_CONSUME, NULL, "t", true },
	{ "alice", IDENT_OP_STATS, NULL, NULL, true },
	{ "alice", IDENT_OP_PROBE, NULL, NULL, false },
	{ "alice", IDENT_OP_ADMIN, NULL, NULL, false },
	{ "alice", IDENT_OP_ARM, "", "", true },		/* no key, no topic: "*" allows */
	/* billing: prefixes */
	{ "billing", IDENT_OP_ARM, "billing", "billing", true },
	{ "billing", IDENT_OP_ARM, "billing/inv/1", "billing.due", true },
	{ "billing", IDENT_OP_ARM, "billingx", "billing", false },	/* not billing/ */
	{ "billing", IDENT_OP_ARM, "billing.x", "billing", false },	/* keys use '/' */
	{ "billing", IDENT_OP_ARM, "billing/x", "billing/x", false },	/* topics use '.' */
	{ "billing", IDENT_OP_ARM, "billing/x", "billingx", false },
	{ "billing", IDENT_OP_ARM, "other", "billing", false },
	{ "billing", IDENT_OP_ARM, "", "billing", false },		/* a keyless arm needs keys=* */
	{ "billing", IDENT_OP_ARM, "billing/1", "", false },		/* so does an empty topic */
	{ "billing", IDENT_OP_CANCEL, "billing/1", NULL, true },
	{ "billing", IDENT_OP_CANCEL, "payroll/1", NULL, false },
	{ "billing", IDENT_OP_GET, "billing/1", NULL, true },
	{ "billing", IDENT_OP_GET, "bill", NULL, false },
	{ "billing", IDENT_OP_LIST, NULL, "billing.x", true },
	{ "billing", IDENT_OP_LIST, NULL, "payroll", false },
	{ "billing", IDENT_OP_WATCH, NULL, "billing.x.y", true },
	{ "billing", IDENT_OP_WATCH, NULL, "billin", false },
	{ "billing", IDENT_OP_WATCH, NULL, "", false },		/* every topic: needs topics=* */
	{ "billing", IDENT_OP_CONSUME, NULL, "billing", true },
	{ "billing", IDENT_OP_CONSUME, NULL, "other", false },
	{ "billing", IDENT_OP_STATS, NULL, NULL, false },
	{ "billing", IDENT_OP_PROBE, NULL, NULL, false },
	{ "billing", IDENT_OP_ADMIN, NULL, NULL, false },
	/* reader: operations only */
	{ "reader", IDENT_OP_ARM, "k", "t", false },
	{ "reader", IDENT_OP_CANCEL, "k", NULL, false },
	{ "reader", IDENT_OP_GET, "k", NULL, true },
	{ "reader", IDENT_OP_LIST, NULL, NULL, true },
	{ "reader", IDENT_OP_WATCH, NULL, "t", false },
	{ "reader", IDENT_OP_CONSUME, NULL, "t", false },
	{ "reader", IDENT_OP_STATS, NULL, NULL, true },
	{ "reader", IDENT_OP_PROBE, NULL, NULL, false },
	{ "reader", IDENT_OP_ADMIN, NULL, NULL, false },
	/* ops: allow=* */
	{ "ops", IDENT_OP_ARM, "k", "t", true },
	{ "ops", IDENT_OP_CANCEL, "k", NULL, true },
	{ "ops", IDENT_OP_GET, "k", NULL, true },
	{ "ops", IDENT_OP_LIST, NULL, NULL, true },
	{ "ops", IDENT_OP_WATCH, NULL, "", true },
	{ "ops", IDENT_OP_CONSUME, NULL, "t", true },
	{ "ops", IDENT_OP_STATS, NULL, NULL, true },
	{ "ops", IDENT_OP_PROBE, NULL, NULL, true },
	{ "ops", IDENT_OP_ADMIN, NULL, NULL, true },
	/* multi: several prefixes, one redundant */
	{ "multi", IDENT_OP_ARM, "a", "x.y", true },
	{ "multi", IDENT_OP_ARM, "a/b/c", "z", true },
	{ "multi", IDENT_OP_ARM, "a/z", "z.q", true },
	{ "multi", IDENT_OP_ARM, "c/1", "x.y.z", true },
	{ "multi", IDENT_OP_ARM, "a-x/1", "z", false },		/* sorts between a and a/ */
	{ "multi", IDENT_OP_ARM, "b", "z", false },
	{ "multi", IDENT_OP_ARM, "c", "x", false },		/* x is not under x.y */
	{ "multi", IDENT_OP_ARM, "d", "z", false },
	/* chain: "a" < "a-x" < "a-x-1" < "a-y/z" < "a/..." < "ab" */
	{ "chain", IDENT_OP_ARM, "a/b", "t", true },		/* held by a, found through a-y/z's chain */
	{ "chain", IDENT_OP_ARM, "a", "t", true },
	{ "chain", IDENT_OP_ARM, "a-x-1/q", "t", true },
	{ "chain", IDENT_OP_ARM, "a-x/q", "t", true },
	{ "chain", IDENT_OP_ARM, "a-y", "t", false },
	{ "chain", IDENT_OP_ARM, "a-y/z/1", "t", true },
	{ "chain", IDENT_OP_ARM, "ab/1", "t", true },
	{ "chain", IDENT_OP_ARM, "abc", "t", false },
	{ "chain", IDENT_OP_ARM, "a-", "t", false },
	{ "chain", IDENT_OP_ARM, "0", "t", false },
	{ "chain", IDENT_OP_ARM, "zz", "t", false },
	/* watcher */
	{ "watcher", IDENT_OP_WATCH, NULL, "alerts", true },
	{ "watcher", IDENT_OP_WATCH, NULL, "alerts.disk", true },
	{ "watcher", IDENT_OP_WATCH, NULL, "alert", false },
	{ "watcher", IDENT_OP_ARM, "k", "alerts", false },
	{ "watcher", IDENT_OP_GET, "k", NULL, false },
};

/* Every row of the table. */
START_TEST(test_rules_table)
{
	struct ident_table *t = load(users);

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		const struct ident *id = ident_by_name(t, r->who);
		char why[512] = "";
		bool got;

		ck_assert_ptr_nonnull(id);
		got = ident_allows(id, r->op, r->key, r->key ? strlen(r->key) : 0, r->topic, r->topic ? strlen(r->topic) : 0,
				   why, sizeof(why));
		ck_assert_msg(got == r->ok, "row %zu: %s %s key=%s topic=%s: got %d (%s)", i, r->who, ident_op_name(r->op),
			      r->key ? r->key : "-", r->topic ? r->topic : "-", got, why);
		if (!got)	/* names the operation and the rule */
			ck_assert_msg(strstr(why, ident_op_name(r->op)) && strstr(why, r->who), "row %zu: %s", i, why);
	}
	ident_table_unref(t);
}
END_TEST

/* Binding by uid: uid= lines first, root and timerd's uid to admin, others to nobody. */
START_TEST(test_bind_uid)
{
	struct ident_table *t = load(users);
	const struct ident *a = ident_by_uid(t, 0);

	ck_assert_ptr_nonnull(a);
	ck_assert_str_eq(a->name, "admin");
	ck_assert(a->ops & IDENT_OP_BIT(IDENT_OP_PROBE));
	ck_assert_ptr_eq(ident_by_uid(t, getuid()), a);
	ck_assert_str_eq(ident_by_uid(t, 1002)->name, "billing");
	ck_assert_ptr_null(ident_by_uid(t, 4242));
	ck_assert_ptr_null(ident_by_name(t, "admin"));	/* the built-in admin has no secret */
	ident_table_unref(t);
	/* the file may name who root is */
	t = load("rootish uid=0 allow=get\n");
	ck_assert_str_eq(ident_by_uid(t, 0)->name, "rootish");
	ident_table_unref(t);
	t = load("admin uid=1234 allow=get,list\n");
	ck_assert_str_eq(ident_by_uid(t, 0)->name, "admin");
	ck_assert(!(ident_by_uid(t, 0)->ops & IDENT_OP_BIT(IDENT_OP_PROBE)));
	ident_table_unref(t);
	t = load("svc cert=svc.example.com\n");
	ck_assert_str_eq(ident_by_cert(t, "svc.example.com")->name, "svc");
	ck_assert_ptr_null(ident_by_cert(t, "other"));
	ident_table_unref(t);
}
END_TEST

/* Binding by gid (Unix socket): only when no uid binds; (gid_t)-1 (a TCP peer) binds none. */
START_TEST(test_bind_gid)
{
	struct ident_table *t = load("staff gid=50 allow=get,list\nalice uid=1001\nother gid=60 cert=other.example\n");

	ck_assert_str_eq(ident_by_peer(t, 4242, 50)->name, "staff");
	ck_assert_str_eq(ident_by_peer(t, 1001, 50)->name, "alice");	/* uid= wins over gid= */
	ck_assert_str_eq(ident_by_peer(t, 0, 50)->name, "admin");	/* so does root's admin binding */
	ck_assert_str_eq(ident_by_peer(t, 4242, 60)->name, "other");
	ck_assert_ptr_null(ident_by_peer(t, 4242, 70));
	ck_assert_ptr_null(ident_by_peer(t, 4242, (gid_t)-1));
	ck_assert_ptr_null(ident_by_uid(t, 4242));			/* gid= is not a uid */
	ck_assert(ident_by_name(t, "staff")->has_gid && !ident_by_name(t, "staff")->has_uid);
	ident_table_unref(t);
}
END_TEST

/* Ownership: own timers, timers under explicit prefixes, admin everything. */
START_TEST(test_may_touch)
{
	struct ident_table *t = load(users);
	const struct ident *alice = ident_by_name(t, "alice"), *billing = ident_by_name(t, "billing");

	ck_assert(ident_may_touch(alice, "alice", "x", 1));
	ck_assert(!ident_may_touch(alice, "bob", "x", 1));		/* keys=* grants no namespace over others */
	ck_assert(!ident_may_touch(alice, "", "x", 1));
	ck_assert(ident_may_touch(billing, "bob", "billing/1", 9));
	ck_assert(!ident_may_touch(billing, "bob", "payroll/1", 9));
	ck_assert(ident_may_touch(ident_by_uid(t, 0), "bob", "x", 1));
	ident_table_unref(t);
}
END_TEST

/* Bad lines: the whole file refused, with the line and what to fix. */
START_TEST(test_refusals)
{
	refuse("a uid=1\nb uid=x\n", "users:2: uid=x");
	refuse("a uid=1 allow=arm,fly\n", "users:1: allow=: unknown operation 'fly'");
	refuse("a uid=1 colour=red\n", "unknown field 'colour'");
	refuse("a uid=1 uid=2\n", "given twice");
	refuse("a\n", "no way to authenticate");
	refuse("a uid=1\na uid=2\n", "users:2: identity a is also on line 1");
	refuse("a uid=1\nb uid=1\n", "uid=1 is also a's");
	refuse("a gid=5\nb gid=5\n", "users:2: gid=5 is also a's (line 1)");
	refuse("a gid=x\n", "users:1: gid=x: give a numeric gid");
	refuse("a gid=4294967295\n", "gid=4294967295");
	refuse("a gid=1 gid=2\n", "gid= is given twice");
	refuse("a allow=get\n", "give secret= (timerctl user add a), uid=, gid= or cert=");
	refuse("a uid=1 keys=x*\n", "not a prefix");
	refuse("a uid=1 keys=/x\n", "not a prefix");
	refuse("a uid=1 topics=x.\n", "not a prefix");
	refuse("a uid=1 keys=a,,b\n", "not a prefix");
	refuse("a uid=1 secret=plain\n", "scrypt$");
	refuse("a uid=1 secret=scrypt$15,8,1$00$00\n", "hex digits");
	refuse("a uid=1 secret=scrypt$40,8,1$x$y\n", "LOG2N 10-22");
	refuse("a uid=1 max-memory=12Q\n", "max-memory=12Q");
	refuse("a uid=1 max-timers=-1\n", "max-timers=-1");
	refuse("x/y uid=1\n", "not an identity name");
	refuse("a uid=1 junk\n", "not FIELD=VALUE");
	refuse("a uid=1\n\x1b[2J uid=2\n", "users:2: a control character");
}
END_TEST

/* Quotas are parsed and stored for the privileges work to enforce. */
START_TEST(test_quota_fields)
{
	struct ident_table *t = load("q uid=7 max-connections=3 max-timers=1000 max-memory=2M arms-per-s=50 "
				     "max-watches=4  # trailing comment\n");
	const struct ident *q = ident_by_name(t, "q");

	ck_assert_uint_eq(q->quota.max_connections, 3);
	ck_assert_uint_eq(q->quota.max_timers, 1000);
	ck_assert_uint_eq(q->quota.max_memory, 2u << 20);
	ck_assert_uint_eq(q->quota.arms_per_s, 50);
	ck_assert_uint_eq(q->quota.max_watches, 4);
	ident_table_unref(t);
}
END_TEST

/* A secret: hashed, verified by scrypt, then by its tag; a wrong one never. */
START_TEST(test_secret)
{
	char val[256], line[400];
	struct ident_table *t;
	struct ident *id;

	ck_assert_int_eq(ident_hash_secret((const uint8_t *)"s3cret", 6, val, sizeof(val)), 0);
	snprintf(line, sizeof(line), "svc secret=%s\n", val);
	t = load(line);
	id = (struct ident *)(uintptr_t)ident_by_name(t, "svc");
	ck_assert_int_eq(ident_verify_fast(id, (const uint8_t *)"s3cret", 6), 0);	/* nothing remembered yet */
	ck_assert(!ident_verify(id, (const uint8_t *)"wrong", 5));
	ck_assert(!ident_verify(id, (const uint8_t *)"s3cre", 5));
	ck_assert(ident_verify(id, (const uint8_t *)"s3cret", 6));
	ck_assert_int_eq(ident_verify_fast(id, (const uint8_t *)"s3cret", 6), 1);
	ck_assert_int_eq(ident_verify_fast(id, (const uint8_t *)"s3creT", 6), 0);
	ident_table_unref(t);
}
END_TEST

/* The file: refused readable by others, or through a symlink; accepted 0600. */
START_TEST(test_file_checks)
{
	char dir[] = "/tmp/test-ident-XXXXXX", path[300], link[300], err[512];
	struct ident_table *t = NULL;
	int fd;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/users", dir);
	snprintf(link, sizeof(link), "%s/link", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "a uid=5\n", 8), 8);
	close(fd);
	chmod(path, 0644);
	ck_assert_int_lt(ident_load(path, getuid(), &t, err, sizeof(err)), 0);
	ck_assert_msg(strstr(err, "chmod 600"), "%s", err);
	chmod(path, 0600);
	ck_assert_int_eq(symlink(path, link), 0);
	ck_assert_int_lt(ident_load(link, getuid(), &t, err, sizeof(err)), 0);
	ck_assert_msg(strstr(err, "symlink"), "%s", err);
	if (getuid() != 0) {	/* owned by neither timerd's uid nor root */
		ck_assert_int_lt(ident_load(path, getuid() + 1, &t, err, sizeof(err)), 0);
		ck_assert_msg(strstr(err, "chown"), "%s", err);
	}
	ck_assert_int_eq(ident_load(path, getuid(), &t, err, sizeof(err)), 0);
	ck_assert_str_eq(ident_by_uid(t, 5)->name, "a");
	ident_table_unref(t);
	unlink(link);
	unlink(path);
	rmdir(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ident");
	TCase *tc = tcase_create("ident");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_rules_table);
	tcase_add_test(tc, test_bind_uid);
	tcase_add_test(tc, test_bind_gid);
	tcase_add_test(tc, test_may_touch);
	tcase_add_test(tc, test_refusals);
	tcase_add_test(tc, test_quota_fields);
	tcase_add_test(tc, test_secret);
	tcase_add_test(tc, test_file_checks);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
