/*
 * timerctl.c -- the timerctl command line: global options, the table of
 * subcommands (one per client/cmd-*.c file), help and exit codes.
 */
#include "config.h"

#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "client/timerctl.h"
#include "proto/frame.h"
#include "proto/version.h"

/* Every subcommand, in the order help lists them. */
static const struct cmd_entry *const ctl_cmds[] = {
	&cmd_arm_entry,
	&cmd_calendar_entry,
	&cmd_cancel_entry,
	&cmd_get_entry,
	&cmd_list_entry,
	&cmd_watch_entry,
	&cmd_stats_entry,
	&cmd_top_entry,
	&cmd_ping_entry,
	&cmd_probe_entry,
	&cmd_group_entry,
	&cmd_consume_entry,
	&cmd_dlq_entry,
	&cmd_user_entry,
};

#define CTL_NCMDS (sizeof(ctl_cmds) / sizeof(ctl_cmds[0]))

/* Prints the overall usage to f. */
static void ctl_help(struct ctl *ctl, FILE *f)
{
	char def[256];

	timerd_default_address(def, sizeof(def));
	fprintf(f, "usage: %s [--socket PATH | --connect HOST:PORT] [--json] [--timeout DURATION] COMMAND [ARGS]\n\n"
		   "Commands:\n", ctl->prog);
	for (size_t i = 0; i < CTL_NCMDS; i++)
		fprintf(f, "  %-7s %s\n          %s\n", ctl_cmds[i]->name, ctl_cmds[i]->usage, ctl_cmds[i]->help);
	fprintf(f, "\nGlobal options (before or after COMMAND):\n"
		   "  --socket PATH        timerd's Unix socket (default %s;\n"
		   "                       $TIMERD_SOCKET overrides)\n"
		   "  --connect HOST:PORT  timerd's TCP listener instead (tls://HOST:PORT: with TLS)\n"
		   "  --tls                TLS to --connect's HOST:PORT (the server's certificate is verified)\n"
		   "  --ca FILE            PEM CAs the server's certificate must chain to (default: the system's)\n"
		   "  --cert FILE          client certificate (PEM), for a server that asks for one\n"
		   "  --cert-key FILE      its private key (default: in --cert's file); before COMMAND also --key\n"
		   "  --server-name NAME   the name the server's certificate must have (default: HOST)\n"
		   "  --user NAME          authenticate as this identity of timerd's users file\n"
		   "  --secret-file FILE   its secret (default: $TIMERD_SECRET; never on the command line)\n"
		   "  --json               print JSON (one object per line for streams)\n"
		   "  --timeout DURATION   give up on a request after this long (default 10s)\n"
		   "\n`%s COMMAND --help` describes a command's options.\n"
		   "Durations: 250ms, 5s, 1.5s, 1h30m, 2d. Times: RFC 3339, e.g. 2030-01-02T15:04:05Z.\n"
		   "\nExit codes: 0 ok, 1 timerd refused the request, 2 bad command line,\n"
		   "3 timerd unreachable, 4 no such timer, 5 timed out waiting,\n"
		   "6 temporary failure: nothing was done, retry later (timerd cannot write its store).\n",
		def, ctl->prog);
}

/* Finds a subcommand by name (or unique prefix). */
static const struct cmd_entry *ctl_find(const char *name)
{
	const struct cmd_entry *found = NULL;
	size_t n = strlen(name), matches = 0;

	for (size_t i = 0; i < CTL_NCMDS; i++) {
		if (strcmp(ctl_cmds[i]->name, name) == 0)
			return ctl_cmds[i];
		if (n && strncmp(ctl_cmds[i]->name, name, n) == 0) {
			found = ctl_cmds[i];
			matches++;
		}
	}
	return matches == 1 ? found : NULL;
}

/* Parses global options before the command; sets *next to its index; an exit code or -1 to go on. */
static int ctl_global(struct ctl *ctl, int argc, char **argv, int *next)
{
	/* before COMMAND --key is the client certificate's key, as --cert-key (after it, arm's and dlq's --key K) */
	static const struct option opts[] = { CTL_GLOBAL_LONGOPTS, { "version", no_argument, NULL, 'V' },
					      { "key", required_argument, NULL, CTL_OPT_KEY }, { NULL, 0, NULL, 0 } };
	int c, rc;

	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		if (c == 'V') {
			printf("timerctl %s (protocol version %d)\nfeatures: %s\n", PACKAGE_VERSION, FRAME_VERSION,
			       VERSION_FEATURES);
			return CTL_EXIT_OK;
		}
		if (c == 'h') {
			ctl_help(ctl, stdout);
			return CTL_EXIT_OK;
		}
		if (ctl_global_opt(ctl, NULL, c, optarg, &rc))
			return rc;
	}
	*next = optind;
	return -1;
}

int main(int argc, char **argv)
{
	struct ctl ctl = { .prog = "timerctl", .timeout_ms = 10000 };
	const struct cmd_entry *cmd;
	int i = 0, rc;

	signal(SIGPIPE, SIG_IGN);
	if ((rc = ctl_global(&ctl, argc, argv, &i)) >= 0)
		return rc;
	if (i >= argc) {
		ctl_help(&ctl, stderr);
		return CTL_EXIT_USAGE;
	}
	if (!(cmd = ctl_find(argv[i]))) {
		fprintf(stderr, "%s: unknown command '%s'; try '%s --help'\n", ctl.prog, argv[i], ctl.prog);
		return CTL_EXIT_USAGE;
	}
	optind = 0;	/* 0: glibc re-initialises getopt for the subcommand's argv */
	rc = cmd->exec(&ctl, argc - i, argv + i);
	if (ctl.t)
		timerd_close(ctl.t);
	if (ctl.secret) {
		memset(ctl.secret, 0, ctl.secret_len);
		free(ctl.secret);
	}
	return rc;
}
