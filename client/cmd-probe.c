/*
 * cmd-probe.c -- timerctl probe attach|list|detach: BPF probes that arm and
 * cancel timers (doc/probes.md has the spec grammar).
 */
#include "config.h"

#include <getopt.h>
#include <inttypes.h>
#include <string.h>

#include "client/timerctl.h"

static int cmd_probe_exec(struct ctl *ctl, int argc, char **argv);

const struct cmd_entry cmd_probe_entry = {
	.name = "probe",
	.usage = "attach SPEC | list | detach ID",
	.help = "attach, list or detach BPF probes (attach/detach: root, Unix socket)",
	.options =
		"  attach SPEC   e.g. 'uprobe:/usr/bin/app:handle arm=50ms key=tid topic=slow'\n"
		"  list          attached probes with their hit, arm, cancel and drop counts\n"
		"  detach ID     detach probe ID\n",
	.exec = cmd_probe_exec,
};

/* probe attach SPEC. */
static int cmd_probe_attach(struct ctl *ctl, const char *spec)
{
	uint32_t id;
	int rc = timerd_probe_attach(ctl->t, spec, &id);

	if (rc != TIMERD_OK)
		return ctl_fail_call(ctl, rc, "probe attach");
	if (ctl->json)
		printf("{\"probe_id\":%u}\n", id);
	else
		printf("attached probe %u\n", id);
	return CTL_EXIT_OK;
}

/* probe attach SPEC...: the words of the spec may come as separate arguments. */
static int cmd_probe_attach_args(struct ctl *ctl, int n, char **words)
{
	char spec[4096];
	size_t off = 0;

	spec[0] = '\0';
	for (int i = 0; i < n; i++) {
		size_t l = strlen(words[i]);

		if (off + l + 2 > sizeof(spec))
			return ctl_fail(ctl, CTL_EXIT_USAGE, "probe spec longer than %zu bytes", sizeof(spec) - 1);
		if (i)
			spec[off++] = ' ';
		memcpy(spec + off, words[i], l + 1);
		off += l;
	}
	return cmd_probe_attach(ctl, spec);
}

/* probe detach ID. */
static int cmd_probe_detach(struct ctl *ctl, const char *arg)
{
	uint64_t id;
	int rc;

	if (!ctl_u64(ctl, "probe detach", arg, &id) || id > UINT32_MAX)
		return CTL_EXIT_USAGE;
	if ((rc = timerd_probe_detach(ctl->t, (uint32_t)id)) != TIMERD_OK)
		return ctl_fail_call(ctl, rc, "probe detach");
	if (ctl->json)
		printf("{\"detached\":%" PRIu64 "}\n", id);
	else
		printf("detached probe %" PRIu64 "\n", id);
	return CTL_EXIT_OK;
}

/* probe list. */
static int cmd_probe_list(struct ctl *ctl)
{
	struct timerd_probes *p;
	int rc = timerd_probe_list(ctl->t, &p);

	if (rc != TIMERD_OK)
		return ctl_fail_call(ctl, rc, "probe list");
	if (!ctl->json)
		printf("%-4s  %10s  %10s  %10s  %10s  %8s  %s\n", "ID", "HITS", "ARMS", "CANCELS", "DROPS", "ERRORS", "SPEC");
	for (size_t i = 0; i < p->n; i++) {
		const struct timerd_probe *x = &p->v[i];

		if (ctl->json) {
			printf("{\"probe_id\":%u,\"hits\":%" PRIu64 ",\"arms\":%" PRIu64 ",\"cancels\":%" PRIu64
			       ",\"ring_drops\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"spec\":", x->probe_id, x->hits,
			       x->arms, x->cancels, x->ring_drops, x->errors);
			ctl_json_str(stdout, x->spec);
			printf("}\n");
		} else {
			printf("%-4u  %10" PRIu64 "  %10" PRIu64 "  %10" PRIu64 "  %10" PRIu64 "  %8" PRIu64 "  %s\n",
			       x->probe_id, x->hits, x->arms, x->cancels, x->ring_drops, x->errors, x->spec);
		}
	}
	if (!ctl->json)
		printf("\n%zu probe%s attached.\n", p->n, p->n == 1 ? "" : "s");
	timerd_probes_free(p);
	return CTL_EXIT_OK;
}

/* timerctl probe. */
static int cmd_probe_exec(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = { CTL_GLOBAL_LONGOPTS, { NULL, 0, NULL, 0 } };
	const char *sub;
	int c, rc, want;

	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1)
		if (ctl_global_opt(ctl, &cmd_probe_entry, c, optarg, &rc))
			return rc;
	if (optind >= argc)
		return ctl_usage(ctl, &cmd_probe_entry, "say attach, list or detach");
	sub = argv[optind++];
	for (int i = optind; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {	/* after the subcommand */
			ctl_cmd_help(ctl, &cmd_probe_entry, stdout);
			return CTL_EXIT_OK;
		}
	}
	want = strcmp(sub, "list") == 0 ? 0 : 1;
	if (strcmp(sub, "attach") && strcmp(sub, "detach") && want)
		return ctl_usage(ctl, &cmd_probe_entry, "say attach SPEC, list or detach ID");
	if (strcmp(sub, "attach") == 0 ? optind >= argc : argc - optind != want)
		return ctl_usage(ctl, &cmd_probe_entry, "say attach SPEC, list or detach ID");
	if ((rc = ctl_connect(ctl)) != CTL_EXIT_OK)
		return rc;
	if (!want)
		return cmd_probe_list(ctl);
	if (strcmp(sub, "detach") == 0)
		return cmd_probe_detach(ctl, argv[optind]);
	return cmd_probe_attach_args(ctl, argc - optind, argv + optind);
}
