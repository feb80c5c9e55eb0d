/*
 * test-server-units.c -- the daemon's parts that need no socket: settings
 * (flags, config file, cross-checks), the string map, the stats.db writer
 * (rows, retention, schema upgrade).
 */
#include "config.h"

#include <check.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/hmap.h"
#include "server/settings.h"
#include "server/srv.h"
#include "server/statsdb.h"

/* Parses argv (NULL-terminated, without argv[0]) into c. */
static enum settings_result parse(struct srv_config *c, const char *const *args, char *err, size_t errlen)
{
	char *argv[64] = { (char *)"timerd" };
	int argc = 1;

	for (; args[argc - 1]; argc++)
		argv[argc] = (char *)(uintptr_t)args[argc - 1];
	settings_init(c);
	return settings_parse(c, argc, argv, err, errlen);
}

START_TEST(test_flags)
{
	struct srv_config c;
	char err[512];

	ck_assert_int_eq(parse(&c, (const char *[]){ "--socket", "/tmp/x.sock", "--threads=3", "-f", "--max-frame",
						     "2MiB", "--max-output", "4MiB", "--frame-timeout", "1.5s", "--no-stats", "--log-level",
						     "debug", "--probe", "a", "--probe", "b", NULL }, err, sizeof(err)),
			 SETTINGS_RUN);
	ck_assert_str_eq(c.socket, "/tmp/x.sock");
	ck_assert_uint_eq(c.threads, 3);
	ck_assert(c.foreground);
	ck_assert_uint_eq(c.max_frame, 2 * 1024 * 1024);
	ck_assert_int_eq(c.frame_timeout_ns, 1500000000LL);
	ck_assert(!c.stats);
	ck_assert_int_eq(c.log_level, LOG_LVL_DEBUG);
	ck_assert_uint_eq(c.nprobes, 2);
	settings_free(&c);
}
END_TEST

START_TEST(test_flag_errors)
{
	static const struct { const char *args[8]; const char *want; } cases[] = {
		{ { "--bogus", NULL }, "unknown flag" },
		{ { "--threads", "lots", NULL }, "not a number" },
		{ { "--threads", "65", NULL }, "out of range" },
		{ { "--max-frame", "12parsecs", NULL }, "not a size" },
		{ { "--frame-timeout", "5", NULL }, "needs a unit" },
		{ { "--socket", NULL }, "needs a value" },
		{ { "--listen", "0.0.0.0:7070", NULL }, "without TLS or authentication" },
		{ { "--listen", "0.0.0.0:7070", NULL }, "--insecure" },
		{ { "--listen", "0.0.0.0:7070", "--tls-cert", "c.pem", "--tls-key", "k.pem", NULL }, "Add users = FILE" },
		{ { "--listen", "[::]:7070", "--users", "u", NULL }, "Add tls-cert = CERT.pem and tls-key = KEY.pem" },
		{ { "--http", "0.0.0.0:8080", "--users", "u", NULL }, "http-tls = yes" },
		{ { "--listen", "nonsense", NULL }, "HOST:PORT" },
		{ { "--no-threads", NULL }, "unknown flag" },
		{ { "--max-payload", "2MiB", NULL }, "max-frame" },
		{ { "--log-level", "loud", NULL }, "debug" },
		{ { "--socket", "", NULL }, "nothing to listen on" },
		{ { "stray", NULL }, "unexpected argument" },
	};
	struct srv_config c;
	char err[512];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		ck_assert_int_eq(parse(&c, cases[i].args, err, sizeof(err)), SETTINGS_FAIL);
		ck_assert_msg(strstr(err, cases[i].want), "%s: got '%s'", cases[i].args[0], err);
		settings_free(&c);
	}
	ck_assert_int_eq(parse(&c, (const char *[]){ "--listen", "0.0.0.0:7070", "--allow-remote", NULL }, err,
			       sizeof(err)), SETTINGS_RUN);
	settings_free(&c);
	/* the exposure rules (doc/security.md): TLS and a users file, or --insecure; loopback needs neither */
	ck_assert_int_eq(parse(&c, (const char *[]){ "--listen", "0.0.0.0:7070", "--insecure", NULL }, err,
			       sizeof(err)), SETTINGS_RUN);
	ck_assert_ptr_nonnull(settings_insecure_what(&c));
	settings_free(&c);
	ck_assert_int_eq(parse(&c, (const char *[]){ "--listen", "0.0.0.0:7070", "--tls-cert", "c.pem", "--tls-key",
					    "k.pem", "--users", "u", NULL }, err, sizeof(err)), SETTINGS_RUN);
	ck_assert_ptr_null(settings_insecure_what(&c));
	settings_free(&c);
	ck_assert_int_eq(parse(&c, (const char *[]){ "--listen", "127.0.0.1:7070", NULL }, err, sizeof(err)), SETTINGS_RUN);
	settings_free(&c);
	ck_assert_int_eq(parse(&c, (const char *[]){ "--http", "0.0.0.0:8080", "--insecure", NULL }, err, sizeof(err)),
			 SETTINGS_RUN);
	settings_free(&c);
}
END_TEST

/* Writes text to a fresh temporary file; returns its path (static). */
static const char *write_tmp(const char *text)
{
	static char path[64];
	int fd;

	snprintf(path, sizeof(path), "/tmp/timerd-conf.XXXXXX");
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

START_TEST(test_config_file)
{
	const char *path = write_tmp("# timerd.conf\n\nsocket = /tmp/from-file.sock\nthreads = 2  # two loops\n"
				     "stats-interval = 250ms\nmax-output = 8MiB\nforeground = yes\nlog = \"syslog\"\n");
	struct srv_config c;
	char err[512];

	ck_assert_int_eq(parse(&c, (const char *[]){ "--config", path, "--threads", "4", NULL }, err, sizeof(err)),
			 SETTINGS_RUN);
	ck_assert_str_eq(c.socket, "/tmp/from-file.sock");
	ck_assert_uint_eq(c.threads, 4);		/* the flag wins */
	ck_assert_int_eq(c.stats_interval_ns, 250000000);
	ck_assert_uint_eq(c.max_output, 8u << 20);
	ck_assert(c.foreground);
	ck_assert_str_eq(c.log, "syslog");
	settings_free(&c);
	unlink(path);
	path = write_tmp("threads = 2\nfrobnicate = 1\n");
	ck_assert_int_eq(parse(&c, (const char *[]){ "-c", path, NULL }, err, sizeof(err)), SETTINGS_FAIL);
	ck_assert_msg(strstr(err, ":2: unknown setting 'frobnicate'"), "%s", err);
	settings_free(&c);
	unlink(path);
	ck_assert_int_eq(parse(&c, (const char *[]){ "-c", "/nonexistent.conf", NULL }, err, sizeof(err)), SETTINGS_FAIL);
	ck_assert(strstr(err, "cannot read config file"));
	settings_free(&c);
}
END_TEST

START_TEST(test_hmap)
{
	struct hmap m;
	char key[32];
	int vals[5000];

	hmap_init(&m);
	ck_assert_ptr_null(hmap_get(&m, "x", 1));
	for (int i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "topic-%d", i);
		vals[i] = i;
		ck_assert_int_eq(hmap_put(&m, key, strlen(key), &vals[i]), 0);
	}
	ck_assert_uint_eq(m.n, 5000);
	for (int i = 0; i < 5000; i += 2) {
		snprintf(key, sizeof(key), "topic-%d", i);
		ck_assert_ptr_eq(hmap_del(&m, key, strlen(key)), &vals[i]);
	}
	for (int i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "topic-%d", i);
		ck_assert_ptr_eq(hmap_get(&m, key, strlen(key)), i % 2 ? &vals[i] : NULL);
	}
	ck_assert_ptr_null(hmap_del(&m, "nope", 4));
	hmap_destroy(&m, NULL);
}
END_TEST

/* Runs a one-value query. */
static int64_t query(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	int64_t v = -1;

	ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

START_TEST(test_statsdb)
{
	char dir[] = "/tmp/timerd-db.XXXXXX", path[64], err[512], cmd[96];
	Timerd__StatsReply r = TIMERD__STATS_REPLY__INIT;
	Timerd__EngineStats e = TIMERD__ENGINE_STATS__INIT;
	Timerd__ServerStats s = TIMERD__SERVER_STATS__INIT;
	struct statsdb *d;
	sqlite3 *db;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/stats.db", dir);
	/* an older schema without most columns: opening adds them */
	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "CREATE TABLE stats (ts_ms INTEGER NOT NULL, interval_ms INTEGER NOT NULL,"
					  " engine_fires INTEGER NOT NULL DEFAULT 0)", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	ck_assert_msg(statsdb_open(path, 10 * 1000000000LL, &d, err, sizeof(err)) == 0, "%s", err);
	r.engine = &e;
	r.server = &s;
	for (int i = 0; i < 20; i++) {
		e.fires = (uint64_t)i * 10;
		s.req_arm = (uint64_t)i;
		s.late_p99_ns = 1000 + i;
		ck_assert_msg(statsdb_write(d, &r, 1000000 + i * 1000, 1000, err, sizeof(err)) == 0, "%s", err);
	}
	statsdb_close(d);
	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_int_eq(query(db, "SELECT count(*) FROM stats"), 11);	/* rows of the last 10 s */
	ck_assert_int_eq(query(db, "SELECT max(engine_fires) FROM stats"), 190);
	ck_assert_int_eq(query(db, "SELECT server_req_arm FROM stats ORDER BY ts_ms DESC LIMIT 1"), 19);
	ck_assert_int_eq(query(db, "SELECT server_late_p99_ns FROM stats ORDER BY ts_ms LIMIT 1"), 1009);
	ck_assert_int_eq(query(db, "SELECT count(*) FROM pragma_table_info('stats') WHERE name = 'probes_hits'"), 1);
	ck_assert_int_eq(query(db, "PRAGMA user_version"), 1);
	sqlite3_close(db);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(test_statsdb_unwritable)
{
	struct statsdb *d;
	char err[512];

	ck_assert_int_lt(statsdb_open("/nonexistent/dir/stats.db", 1000000000LL, &d, err, sizeof(err)), 0);
	ck_assert_ptr_null(d);
	ck_assert_msg(strstr(err, "/nonexistent/dir/stats.db"), "%s", err);
}
END_TEST

/*
 * Issue 12: srv_socket_dir_give chown()ed the socket directory it made by
 * path, following a symlink put in its place. It must give only the very
 * directory made (root only: it gives to nobody).
 */
START_TEST(test_socket_dir_give_nofollow)
{
	char tmp[] = "/tmp/test-srv-give.XXXXXX", made[256], sock[300], target[256], old[256], err[256];
	struct srv_config cfg = { 0 };
	struct stat st;
	int fd;

	if (geteuid() != 0)
		return;	/* chown to another uid needs root */
	ck_assert_ptr_nonnull(mkdtemp(tmp));
	/* the directory made is given */
	snprintf(made, sizeof(made), "%s/ok", tmp);
	snprintf(sock, sizeof(sock), "%s/sock", made);
	cfg.socket = sock;
	ck_assert_int_ge(fd = srv_socket_dir(&cfg, err, sizeof(err)), 0);
	close(fd);
	srv_socket_dir_give(65534, 65534);
	ck_assert_int_eq(stat(made, &st), 0);
	ck_assert_uint_eq(st.st_uid, 65534);
	/* a symlink put in its place: what it points to stays root's */
	snprintf(made, sizeof(made), "%s/made", tmp);
	snprintf(sock, sizeof(sock), "%s/sock", made);
	ck_assert_int_ge(fd = srv_socket_dir(&cfg, err, sizeof(err)), 0);
	close(fd);
	snprintf(target, sizeof(target), "%s/target", tmp);
	snprintf(old, sizeof(old), "%s/old", tmp);
	ck_assert_int_eq(mkdir(target, 0700), 0);
	ck_assert_int_eq(rename(made, old), 0);
	ck_assert_int_eq(symlink(target, made), 0);
	srv_socket_dir_give(65534, 65534);
	ck_assert_int_eq(stat(target, &st), 0);
	ck_assert_msg(st.st_uid == 0, "the symlink's target was given to uid %u", (unsigned)st.st_uid);
	ck_assert_int_eq(lstat(made, &st), 0);
	ck_assert_uint_eq(st.st_uid, 0);
	/* a directory put in its place (another inode): not given either */
	ck_assert_int_eq(unlink(made), 0);
	ck_assert_int_eq(mkdir(made, 0700), 0);
	srv_socket_dir_give(65534, 65534);
	ck_assert_int_eq(stat(made, &st), 0);
	ck_assert_uint_eq(st.st_uid, 0);
	rmdir(made);
	rmdir(old);
	rmdir(target);
	snprintf(made, sizeof(made), "%s/ok", tmp);
	rmdir(made);
	rmdir(tmp);
}
END_TEST

/* Builds the suite. */
static Suite *units_suite(void)
{
	Suite *s = suite_create("server-units");
	TCase *tc = tcase_create("units");

	tcase_add_test(tc, test_flags);
	tcase_add_test(tc, test_flag_errors);
	tcase_add_test(tc, test_config_file);
	tcase_add_test(tc, test_hmap);
	tcase_add_test(tc, test_statsdb);
	tcase_add_test(tc, test_statsdb_unwritable);
	tcase_add_test(tc, test_socket_dir_give_nofollow);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(units_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
