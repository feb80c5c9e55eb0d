/*
 * test-perm-table.c -- every Request body x every kind of identity rule,
 * over real connections to a real timerd with a users file (issue 12,
 * Tests: "a table-driven test of every operation x every rule").
 *
 * perm_table below has one row per Request body and one column per
 * identity; each cell says what server/rpc.c's rpc_permit must answer:
 * 'P' PERMISSION, 'U' UNAUTHENTICATED, 'a' allowed (the handler answers,
 * anything but PERMISSION and UNAUTHENTICATED: OK, NOT_FOUND, INVALID,
 * UNAVAILABLE...). A Request body that proto/timerd.proto gains without a
 * row here fails the test.
 *
 * The column "unauth" needs a peer the users file does not name: run as
 * root, the requests are sent by a child that drops to nobody (root and
 * timerd's own user are admin without Auth); otherwise that column is
 * skipped (said on stderr) and the rest still runs.
 */
#include "config.h"

#include <check.h>
#include <grp.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proto/timerd.pb-c.h"
#include "frames.h"
#include "test-server-util.h"

/* The identities, in the order of perm_table's columns (rule NULL: no line, no Auth). */
static const struct perm_ident {
	const char *name;
	const char *rule;	/* what follows the secret in the users file line */
} perm_idents[] = {
	{ "unauth", NULL },	/* no Auth at all */
	{ "root", "allow=*" },
	{ "o-arm", "allow=arm" },
	{ "o-cancel", "allow=cancel" },
	{ "o-get", "allow=get" },
	{ "o-list", "allow=list" },
	{ "o-watch", "allow=watch" },
	{ "o-consume", "allow=consume" },
	{ "o-stats", "allow=stats" },
	{ "o-probe", "allow=probe" },
	{ "o-admin", "allow=admin" },
	{ "billing", "keys=billing topics=billing" },	/* the default operations */
	{ "ro", "allow=get,list" },
};

/* A string literal as the char * protobuf-c fields are. */
#define PERM_S(s) ((char *)(uintptr_t)(s))

#define PERM_NIDENTS (sizeof(perm_idents) / sizeof(perm_idents[0]))

/*
 * The expected answers. Columns: unauth root o-arm o-cancel o-get o-list
 * o-watch o-consume o-stats o-probe o-admin billing ro. The users file
 * cannot hold an identity without operations (allow= needs a value):
 * o-admin (allow=admin alone) grants none of the bodies' operations and
 * stands for it. The requests
 * (perm_build) name key payroll/NAME (each identity its own: the owner
 * rule, which a handler checks, stays out of the way) and topic payroll,
 * outside billing's rule; group requests name a group that does not exist (its handler
 * answers NOT_FOUND once the rule allowed it).
 */
static const struct perm_row {
	Timerd__Request__BodyCase body;
	const char *name;
	const char cells[PERM_NIDENTS + 1];
} perm_table[] = {
	/*                                          uroacglwcspAbr */
	{ TIMERD__REQUEST__BODY_HELLO, "hello",		"aaaaaaaaaaaaa" },
	{ TIMERD__REQUEST__BODY_PING, "ping",		"aaaaaaaaaaaaa" },
	{ TIMERD__REQUEST__BODY_AUTH, "auth",		"aaaaaaaaaaaaa" },
	{ TIMERD__REQUEST__BODY_ARM, "arm",		"UaaPPPPPPPPPP" },
	{ TIMERD__REQUEST__BODY_CANCEL, "cancel",	"UaPaPPPPPPPPP" },
	{ TIMERD__REQUEST__BODY_GET, "get",		"UaPPaPPPPPPPa" },
	{ TIMERD__REQUEST__BODY_LIST, "list",		"UaPPPaPPPPPaa" },
	{ TIMERD__REQUEST__BODY_WATCH, "watch",		"UaPPPPaPPPPPP" },
	{ TIMERD__REQUEST__BODY_UNWATCH, "unwatch",	"UaPPPPaPPPPaP" },
	{ TIMERD__REQUEST__BODY_STATS, "stats",		"UaPPPPPPaPPaP" },
	{ TIMERD__REQUEST__BODY_PROBE_ATTACH, "probe_attach", "UaPPPPPPPaPPP" },
	{ TIMERD__REQUEST__BODY_PROBE_DETACH, "probe_detach", "UaPPPPPPPaPPP" },
	{ TIMERD__REQUEST__BODY_PROBE_LIST, "probe_list", "UaPPPPPPPaPPP" },
	{ TIMERD__REQUEST__BODY_GROUP_CREATE, "group_create", "UaPPPPPaPPPPP" },
	{ TIMERD__REQUEST__BODY_GROUP_DELETE, "group_delete", "UaPPPPPaPPPaP" },
	{ TIMERD__REQUEST__BODY_GROUP_LIST, "group_list", "UaPPPPPaPPPaP" },
	{ TIMERD__REQUEST__BODY_SUBSCRIBE, "subscribe",	"UaPPPPPaPPPaP" },
	{ TIMERD__REQUEST__BODY_UNSUBSCRIBE, "unsubscribe", "UaPPPPPaPPPaP" },
	{ TIMERD__REQUEST__BODY_ACK, "ack",		"UaPPPPPaPPPaP" },
	{ TIMERD__REQUEST__BODY_NACK, "nack",		"UaPPPPPaPPPaP" },
	{ TIMERD__REQUEST__BODY_DLQ_LIST, "dlq_list",	"UaPPPPPaPPPaP" },
	{ TIMERD__REQUEST__BODY_DLQ_RETRY, "dlq_retry",	"UaPPPPPaPPPaP" },
	{ TIMERD__REQUEST__BODY_DLQ_PURGE, "dlq_purge",	"UaPPPPPaPPPaP" },
};

#define PERM_NROWS (sizeof(perm_table) / sizeof(perm_table[0]))

static struct tsd daemon_;
static char perm_dir[64];
static char perm_secret[PERM_NIDENTS][128];

/* Outside the check tests: cond holds, else exit 99 saying which. */
#define PERM_NEED(cond) do { if (!(cond)) { fprintf(stderr, "%s:%d: %s failed\n", __FILE__, __LINE__, #cond); exit(99); } } while (0)

/* Runs timerctl user add NAME; its line (with rule instead of the generated allow=) into f, its secret kept. */
static void perm_user_add(FILE *f, size_t i)
{
	const char *top = getenv("top_builddir");
	char cmd[512], line[1024], *p, *q;
	FILE *in;

	snprintf(cmd, sizeof(cmd), "%s/client/timerctl --json user add %s --allow arm", top ? top : ".",
		 perm_idents[i].name);
	PERM_NEED(in = popen(cmd, "r"));
	PERM_NEED(fgets(line, sizeof(line), in));
	PERM_NEED(pclose(in) == 0);
	PERM_NEED(p = strstr(line, "\"secret\":\""));
	p += strlen("\"secret\":\"");
	PERM_NEED(q = strchr(p, '"'));
	snprintf(perm_secret[i], sizeof(perm_secret[i]), "%.*s", (int)(q - p), p);
	PERM_NEED(p = strstr(line, "\"line\":\""));
	p += strlen("\"line\":\"");
	PERM_NEED(q = strstr(p, " allow=arm"));	/* NAME secret=HASH allow=arm */
	fprintf(f, "%.*s %s\n", (int)(q - p), p, perm_idents[i].rule);
}

/* Fills rq (its parts in the statics) with a request of body b, id id; secret for Auth. */
static void perm_build(Timerd__Request *rq, Timerd__Request__BodyCase b, uint64_t id, const char *name,
		       const char *secret)
{
	static Timerd__Hello hello;
	static Timerd__Ping ping;
	static Timerd__Auth auth;
	static Timerd__Arm arm;
	static Timerd__Cancel cancel;
	static Timerd__Get get;
	static Timerd__List list;
	static Timerd__Watch watch;
	static Timerd__Unwatch unwatch;
	static Timerd__StatsRequest stats;
	static Timerd__ProbeAttach pa;
	static Timerd__ProbeDetach pd;
	static Timerd__ProbeList pl;
	static Timerd__Group group;
	static Timerd__GroupCreate gc;
	static Timerd__GroupDelete gd;
	static Timerd__GroupList gl;
	static Timerd__Subscribe sub;
	static Timerd__Unsubscribe unsub;
	static Timerd__Ack ack;
	static Timerd__Nack nack;
	static Timerd__DlqList dl;
	static Timerd__DlqRetry dr;
	static Timerd__DlqPurge dp;
	static char *topics[] = { PERM_S("payroll") };
	static char key[128];

	snprintf(key, sizeof(key), "payroll/%s", name);
	timerd__request__init(rq);
	rq->id = id;
	rq->body_case = b;
	switch (b) {
	case TIMERD__REQUEST__BODY_HELLO:
		timerd__hello__init(&hello);
		hello.version = 1;
		hello.client = PERM_S("test-perm-table");
		rq->hello = &hello;
		break;
	case TIMERD__REQUEST__BODY_PING:
		timerd__ping__init(&ping);
		rq->ping = &ping;
		break;
	case TIMERD__REQUEST__BODY_AUTH:
		timerd__auth__init(&auth);
		auth.identity = (char *)(uintptr_t)name;
		auth.secret.data = (uint8_t *)(uintptr_t)secret;
		auth.secret.len = strlen(secret);
		rq->auth = &auth;
		break;
	case TIMERD__REQUEST__BODY_ARM:
		timerd__arm__init(&arm);
		arm.when_case = TIMERD__ARM__WHEN_AFTER_NS;
		arm.after_ns = 3600000000000LL;
		arm.key = key;
		arm.topic = PERM_S("payroll");
		rq->arm = &arm;
		break;
	case TIMERD__REQUEST__BODY_CANCEL:
		timerd__cancel__init(&cancel);
		cancel.key = PERM_S("payroll/nosuch");
		rq->cancel = &cancel;
		break;
	case TIMERD__REQUEST__BODY_GET:
		timerd__get__init(&get);
		get.key = key;
		rq->get = &get;
		break;
	case TIMERD__REQUEST__BODY_LIST:
		timerd__list__init(&list);
		rq->list = &list;
		break;
	case TIMERD__REQUEST__BODY_WATCH:
		timerd__watch__init(&watch);
		watch.topic = PERM_S("payroll");
		rq->watch = &watch;
		break;
	case TIMERD__REQUEST__BODY_UNWATCH:
		timerd__unwatch__init(&unwatch);
		unwatch.topic = PERM_S("payroll");
		rq->unwatch = &unwatch;
		break;
	case TIMERD__REQUEST__BODY_STATS:
		timerd__stats_request__init(&stats);
		rq->stats = &stats;
		break;
	case TIMERD__REQUEST__BODY_PROBE_ATTACH:
		timerd__probe_attach__init(&pa);
		pa.spec = PERM_S("");	/* INVALID or UNAVAILABLE once allowed: never attaches */
		rq->probe_attach = &pa;
		break;
	case TIMERD__REQUEST__BODY_PROBE_DETACH:
		timerd__probe_detach__init(&pd);
		pd.probe_id = 999999;
		rq->probe_detach = &pd;
		break;
	case TIMERD__REQUEST__BODY_PROBE_LIST:
		timerd__probe_list__init(&pl);
		rq->probe_list = &pl;
		break;
	case TIMERD__REQUEST__BODY_GROUP_CREATE:
		timerd__group__init(&group);
		group.name = (char *)(uintptr_t)name;	/* one group per identity: created = true, or PERMISSION */
		group.n_topics = 1;
		group.topics = topics;
		timerd__group_create__init(&gc);
		gc.group = &group;
		rq->group_create = &gc;
		break;
	case TIMERD__REQUEST__BODY_GROUP_DELETE:
		timerd__group_delete__init(&gd);
		gd.name = PERM_S("nosuch");
		rq->group_delete = &gd;
		break;
	case TIMERD__REQUEST__BODY_GROUP_LIST:
		timerd__group_list__init(&gl);
		gl.name = PERM_S("nosuch");
		rq->group_list = &gl;
		break;
	case TIMERD__REQUEST__BODY_SUBSCRIBE:
		timerd__subscribe__init(&sub);
		sub.group = PERM_S("nosuch");
		rq->subscribe = &sub;
		break;
	case TIMERD__REQUEST__BODY_UNSUBSCRIBE:
		timerd__unsubscribe__init(&unsub);
		unsub.group = PERM_S("nosuch");
		rq->unsubscribe = &unsub;
		break;
	case TIMERD__REQUEST__BODY_ACK:
		timerd__ack__init(&ack);
		ack.delivery_id = 999999;
		rq->ack = &ack;
		break;
	case TIMERD__REQUEST__BODY_NACK:
		timerd__nack__init(&nack);
		nack.delivery_id = 999999;
		rq->nack = &nack;
		break;
	case TIMERD__REQUEST__BODY_DLQ_LIST:
		timerd__dlq_list__init(&dl);
		dl.group = PERM_S("nosuch");
		rq->dlq_list = &dl;
		break;
	case TIMERD__REQUEST__BODY_DLQ_RETRY:
		timerd__dlq_retry__init(&dr);
		dr.group = PERM_S("nosuch");
		rq->dlq_retry = &dr;
		break;
	case TIMERD__REQUEST__BODY_DLQ_PURGE:
		timerd__dlq_purge__init(&dp);
		dp.group = PERM_S("nosuch");
		rq->dlq_purge = &dp;
		break;
	default:
		ck_abort_msg("perm_build: no request for body %d: add it (and its perm_table row)", (int)b);
	}
}

/* Sends rq on fd; the error code of its reply (0: not an Error), events skipped. */
static int perm_call(int fd, const Timerd__Request *rq, char *msg, size_t msglen)
{
	for (frames_send_request(fd, rq);;) {
		Timerd__Response *m = frames_read_response(fd, 10000);
		int code = 0;

		ck_assert_msg(m != NULL, "no reply to request %llu within 10 s", (unsigned long long)rq->id);
		if (m->event || m->id != rq->id) {
			timerd__response__free_unpacked(m, NULL);
			continue;
		}
		*msg = 0;
		if (m->body_case == TIMERD__RESPONSE__BODY_ERROR) {
			code = m->error->code;
			snprintf(msg, msglen, "%s", m->error->message ? m->error->message : "");
		}
		timerd__response__free_unpacked(m, NULL);
		return code;
	}
}

/* Connects and, unless i is the unauth column, authenticates as identity i. */
static int perm_open(size_t i)
{
	int fd = frames_connect(daemon_.sock);
	Timerd__Request rq;
	char msg[512];
	int code;

	if (!perm_idents[i].rule)
		return fd;
	perm_build(&rq, TIMERD__REQUEST__BODY_AUTH, 1, perm_idents[i].name, perm_secret[i]);
	code = perm_call(fd, &rq, msg, sizeof(msg));
	ck_assert_msg(code == 0, "Auth as %s: error %d: %s", perm_idents[i].name, code, msg);
	return fd;
}

/* Runs every cell of the table (column 0 only if with_unauth); the number of wrong answers, each printed. */
static int perm_run(bool with_unauth)
{
	int bad = 0;

	for (size_t i = with_unauth ? 0 : 1; i < PERM_NIDENTS; i++) {
		int fd = perm_open(i);

		for (size_t r = 0; r < PERM_NROWS; r++) {
			const struct perm_row *row = &perm_table[r];
			char want = row->cells[i], msg[512];
			Timerd__Request rq;
			int code, afd = fd;
			bool ok;

			/* unauth's Auth: a fresh connection authenticating as root (it stays without an identity) */
			if (row->body == TIMERD__REQUEST__BODY_AUTH && !perm_idents[i].rule) {
				afd = frames_connect(daemon_.sock);
				perm_build(&rq, row->body, 100 + r, perm_idents[1].name, perm_secret[1]);
			} else {
				perm_build(&rq, row->body, 100 + r, perm_idents[i].name, perm_secret[i]);
			}
			code = perm_call(afd, &rq, msg, sizeof(msg));
			if (afd != fd)
				close(afd);
			switch (want) {
			case 'P':
				ok = code == TIMERD__ERROR_CODE__PERMISSION;
				break;
			case 'U':
				ok = code == TIMERD__ERROR_CODE__UNAUTHENTICATED;
				break;
			default:
				ok = code != TIMERD__ERROR_CODE__PERMISSION && code != TIMERD__ERROR_CODE__UNAUTHENTICATED;
				break;
			}
			if (!ok) {
				fprintf(stderr, "%s as %s (%s): expected %s, got code %d: %s\n", row->name,
					perm_idents[i].name, perm_idents[i].rule ? perm_idents[i].rule : "no Auth",
					want == 'P' ? "PERMISSION" : want == 'U' ? "UNAUTHENTICATED" :
					"neither PERMISSION nor UNAUTHENTICATED", code, msg);
				bad++;
			}
		}
		close(fd);
	}
	return bad;
}

/* Every Request body proto/timerd.proto declares has a row, every row has a cell per identity. */
START_TEST(test_every_body_has_a_row)
{
	const ProtobufCMessageDescriptor *d = &timerd__request__descriptor;
	unsigned nbodies = 0;

	for (unsigned f = 0; f < d->n_fields; f++) {
		bool found = false;

		if (!(d->fields[f].flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
			continue;
		nbodies++;
		for (size_t r = 0; r < PERM_NROWS; r++)
			found |= (unsigned)perm_table[r].body == d->fields[f].id;
		ck_assert_msg(found, "Request body %s (%u) has no row in perm_table: add one saying what each identity "
			      "gets", d->fields[f].name, d->fields[f].id);
	}
	ck_assert_uint_eq(nbodies, PERM_NROWS);
	for (size_t r = 0; r < PERM_NROWS; r++)
		ck_assert_uint_eq(strlen(perm_table[r].cells), PERM_NIDENTS);
}
END_TEST

/* Every cell, as nobody when run as root (the unauth column too), else as ourselves (admin without Auth). */
START_TEST(test_table)
{
	struct passwd *pw = geteuid() == 0 ? getpwnam("nobody") : NULL;
	pid_t pid;
	int st;

	if (!pw)
		fprintf(stderr, "not root (or no user nobody): the unauth column is skipped\n");
	if ((pid = fork()) == 0) {
		if (pw && (setgroups(0, NULL) || setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) ||
			   setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid))) {
			perror("dropping to nobody");
			_exit(2);
		}
		_exit(perm_run(pw != NULL) ? 1 : 0);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "some cells were answered wrongly (above; status %d)", st);
}
END_TEST

/* The suite. */
static Suite *perm_suite(void)
{
	Suite *s = suite_create("perm-table");
	TCase *tc = tcase_create("rpc_permit");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_every_body_has_a_row);
	tcase_add_test(tc, test_table);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	char users[128], sockmode[] = "0666";
	SRunner *sr;
	FILE *f;
	int failed;

	signal(SIGPIPE, SIG_IGN);
	snprintf(perm_dir, sizeof(perm_dir), "/tmp/timerd-perm.XXXXXX");
	if (!mkdtemp(perm_dir)) {
		perror("mkdtemp");
		return 99;
	}
	snprintf(users, sizeof(users), "%s/users", perm_dir);
	if (!(f = fopen(users, "w"))) {
		perror(users);
		return 99;
	}
	for (size_t i = 0; i < PERM_NIDENTS; i++)
		if (perm_idents[i].rule)
			perm_user_add(f, i);
	fclose(f);
	chmod(users, 0600);
	tsd_start(&daemon_, (const char *[]){ "--users", users, "--socket-mode", sockmode, "--no-stats", NULL });
	chmod(daemon_.dir, 0711);	/* nobody reaches the socket */
	sr = srunner_create(perm_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	if (tsd_stop(&daemon_) != 0) {
		fprintf(stderr, "timerd did not exit cleanly\n");
		failed++;
	}
	unlink(users);
	rmdir(perm_dir);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
