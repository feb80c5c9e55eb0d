/*
 * main.c -- timerd's entry point: settings, the log, daemon mode with a
 * start-up handshake (the parent exits only once timerd listens, or with
 * the reason it could not), the pid file (systemd: server/notify.c).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto/frame.h"
#include "server/auth.h"
#include "server/journal.h"
#include "server/settings.h"
#include "server/log.h"
#include "server/srv.h"

struct main_state {
	struct srv_config *cfg;
	int ready_fd;			/* daemon mode: write end of the start-up pipe */
	int pid_fd;
	char pid_path[PATH_MAX];
};

/* Reports a start-up failure: to the waiting parent (daemon mode), the log and stderr. */
static int main_fail(struct main_state *m, const char *msg)
{
	log_err("%s", msg);
	if (m->ready_fd >= 0) {
		if (write(m->ready_fd, msg, strlen(msg)) < 0)
			(void)0;	/* the parent is gone; the log has it */
		close(m->ready_fd);
		m->ready_fd = -1;
	}
	return 1;
}

/* Parent side of daemon mode: waits for "" (ready) or an error message; exits. */
static void main_wait_child(int fd)
{
	char buf[1024];
	ssize_t n, off = 0;

	while (off < (ssize_t)sizeof(buf) - 1 && (n = read(fd, buf + off, sizeof(buf) - 1 - (size_t)off)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		off += n;
	}
	buf[off] = '\0';
	if (off == 1 && buf[0] == '\n')
		_exit(0);
	fprintf(stderr, "timerd: %s\n", off ? buf : "exited during start-up (see the log)");
	_exit(1);
}

/* Detaches from the terminal: fork, setsid, fork; the first parent waits for readiness. */
static int main_daemonize(struct main_state *m)
{
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0 || (pid = fork()) < 0) {
		fprintf(stderr, "timerd: cannot become a daemon: %s\n", strerror(errno));
		return -1;
	}
	if (pid > 0) {
		close(p[1]);
		main_wait_child(p[0]);
	}
	close(p[0]);
	setsid();
	if ((pid = fork()) < 0)
		_exit(1);
	if (pid > 0)
		_exit(0);	/* the grandchild can never reacquire a terminal */
	m->ready_fd = p[1];
	if (chdir("/") < 0)
		(void)0;	/* "/" always exists */
	return 0;
}

/* Points stdin, stdout and stderr at /dev/null (daemon mode, once ready). */
static void main_detach_stdio(void)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return;
	dup2(fd, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
	close(fd);
}

/* The pid file path: --pid-file, or beside the socket when a daemon. */
static bool main_pid_path(struct main_state *m)
{
	const struct srv_config *c = m->cfg;
	const char *slash;

	if (c->pid_file && *c->pid_file) {
		snprintf(m->pid_path, sizeof(m->pid_path), "%s", c->pid_file);
		return true;
	}
	if (c->foreground || !*c->socket || !(slash = strrchr(c->socket, '/')))
		return false;
	snprintf(m->pid_path, sizeof(m->pid_path), "%.*s/timerd.pid", (int)(slash - c->socket), c->socket);
	return true;
}

/* Creates and locks the pid file; 0 or -1 with err. */
static int main_pid_file(struct main_state *m, char *err, size_t errlen)
{
	char buf[32] = "";
	int n;

	struct stat st;
	int dfd = -1;

	if (!main_pid_path(m))
		return 0;
	if (*m->cfg->socket && (dfd = srv_socket_dir(m->cfg, err, errlen)) < 0)
		return -1;	/* the socket's directory first: the default pid file lives in it */
	if (dfd >= 0)
		close(dfd);
	/* never through a symlink, never another user's file: it is truncated */
	if ((m->pid_fd = open(m->pid_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0644)) < 0) {
		snprintf(err, errlen, "cannot open pid file %s: %s%s", m->pid_path, strerror(errno),
			 errno == ELOOP ? " (it is a symbolic link: timerd never follows one there; remove it)" : "");
		return -1;
	}
	if (fstat(m->pid_fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() || st.st_nlink != 1) {
		snprintf(err, errlen, "pid file %s is not a regular file of ours with one link: remove it", m->pid_path);
		close(m->pid_fd);
		m->pid_fd = -1;
		return -1;
	}
	if (flock(m->pid_fd, LOCK_EX | LOCK_NB) < 0) {
		n = (int)read(m->pid_fd, buf, sizeof(buf) - 1);
		buf[n > 0 ? n : 0] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		snprintf(err, errlen, "another timerd (pid %s) holds %s: stop it first", *buf ? buf : "?", m->pid_path);
		close(m->pid_fd);
		m->pid_fd = -1;
		return -1;
	}
	n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (ftruncate(m->pid_fd, 0) < 0 || pwrite(m->pid_fd, buf, (size_t)n, 0) != n) {
		snprintf(err, errlen, "cannot write pid file %s: %s", m->pid_path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Called by srv_run once timerd listens: tell the parent and the log (srv_run tells systemd: notify.c). */
static void main_ready(void *arg)
{
	struct main_state *m = arg;
	const struct srv_config *c = m->cfg;

	log_notice("timerd %s ready: socket %s%s%s, protocol version %d", PACKAGE_VERSION,
		   *c->socket ? c->socket : "(none)", c->listen ? ", tcp " : "", c->listen ? c->listen : "", FRAME_VERSION);
	if (m->ready_fd >= 0) {
		if (write(m->ready_fd, "\n", 1) < 0)
			(void)0;	/* the parent is gone; nothing to tell */
		close(m->ready_fd);
		m->ready_fd = -1;
		main_detach_stdio();
	}
}

/* Opens the log: --log, else stderr in the foreground and syslog as a daemon. */
static int main_log(const struct srv_config *c)
{
	char err[512];

	if (log_open(c->log ? c->log : c->foreground ? "stderr" : "syslog", c->log_level, err, sizeof(err)) < 0) {
		fprintf(stderr, "timerd: %s\n", err);
		return -1;
	}
	return 0;
}

/* Starts and runs the server; the process exit code. */
static int main_run(struct main_state *m)
{
	char err[8192];
	struct srv *s;
	int rc;

	if (main_pid_file(m, err, sizeof(err)) < 0)
		return main_fail(m, err);
	settings_log(m->cfg);
	if (srv_create(m->cfg, &s, err, sizeof(err)) < 0) {
		srv_destroy(s);
		return main_fail(m, err);
	}
	s->ready = main_ready;
	s->ready_arg = m;
	rc = srv_run(s);
	srv_destroy(s);
	log_notice("timerd stopped");
	return rc;
}

int main(int argc, char **argv)
{
	struct srv_config cfg;
	struct main_state m = { .cfg = &cfg, .ready_fd = -1, .pid_fd = -1 };
	char err[8192];
	int rc;

	settings_init(&cfg);
	switch (settings_parse(&cfg, argc, argv, err, sizeof(err))) {
	case SETTINGS_EXIT:
		settings_free(&cfg);
		return 0;
	case SETTINGS_FAIL:
		fprintf(stderr, "timerd: %s\n", err);
		settings_free(&cfg);
		return 2;
	case SETTINGS_RUN:
		break;
	}
	if (cfg.check_config) {	/* the files a start reads and refuses, checked the same way */
		if (tls_check(&cfg, err, sizeof(err)) < 0 || auth_check(&cfg, err, sizeof(err)) < 0) {
			fprintf(stderr, "timerd: %s\n", err);
			settings_free(&cfg);
			return 2;
		}
		printf("timerd: configuration OK\n");
		if (settings_insecure_what(&cfg))
			fprintf(stderr, "timerd: warning: %s\n", settings_insecure_what(&cfg));
		settings_free(&cfg);
		return 0;
	}
	if (cfg.check_store) {
		rc = journal_check_store(cfg.state_dir, stdout);
		settings_free(&cfg);
		return rc;
	}
	signal(SIGPIPE, SIG_IGN);
	if ((!cfg.foreground && main_daemonize(&m) < 0) || main_log(&cfg) < 0)
		return 1;
	rc = main_run(&m);
	if (m.pid_fd >= 0) {
		unlink(m.pid_path);
		close(m.pid_fd);
	}
	log_close();
	settings_free(&cfg);
	return rc;
}
