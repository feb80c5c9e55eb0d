/*
 * cmd-user.c -- timerctl user add: a new identity for timerd's users file
 * (doc/security.md). Generates a random secret (OpenSSL RAND_bytes),
 * hashes it with scrypt as timerd checks it (server/ident.c, the same
 * parameters), and prints the users-file line; the secret itself goes to
 * stderr (or into the JSON), never into the file. Nothing is sent to timerd.
 */
#include "config.h"

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "client/timerctl.h"

/* scrypt parameters: server/ident.h's IDENT_SCRYPT_* (timerd accepts LOG2N 10-22). */
#define USER_LOG2N 15
#define USER_R 8
#define USER_P 1
#define USER_SALT 16
#define USER_HASH 32
#define USER_SECRET 24		/* random bytes: 48 hex digits */

static int cmd_user_exec(struct ctl *ctl, int argc, char **argv);

const struct cmd_entry cmd_user_entry = {
	.name = "user",
	.usage = "add NAME [--allow OPS] [--keys PREFIX[,PREFIX]] [--topics PREFIX[,PREFIX]]",
	.help = "make an identity for timerd's users file: prints its line (stdout) and a new random secret (stderr)",
	.options = "  --allow OPS       operations, comma-separated: arm, cancel, get, list, watch, consume, stats,\n"
		   "                    probe, admin, or * (default: arm,cancel,get,list,watch,consume,stats)\n"
		   "  --keys PREFIX     keys it may use: PREFIX and PREFIX/... (comma-separated; default *: all)\n"
		   "  --topics PREFIX   topics: PREFIX and PREFIX.... (comma-separated; default *: all)\n"
		   "  --json            print {\"identity\":..., \"secret\":..., \"line\":...}\n",
	.exec = cmd_user_exec,
};

static const char *const cmd_user_ops[] = { "arm", "cancel", "get", "list", "watch", "consume", "stats", "probe",
					    "admin" };

/* True if every comma-separated item of s is an operation (or s is "*"). */
static bool cmd_user_ops_ok(const char *s)
{
	if (strcmp(s, "*") == 0)
		return true;
	for (const char *p = s; *p;) {
		size_t n = strcspn(p, ","), i;

		for (i = 0; i < sizeof(cmd_user_ops) / sizeof(cmd_user_ops[0]); i++)
			if (strlen(cmd_user_ops[i]) == n && strncmp(cmd_user_ops[i], p, n) == 0)
				break;
		if (i == sizeof(cmd_user_ops) / sizeof(cmd_user_ops[0]))
			return false;
		p += n;
		if (*p == ',' && *++p == '\0')
			return false;
	}
	return *s != '\0';
}

/* True if s is a users-file value: printable, no blanks, '#' or '='. */
static bool cmd_user_value_ok(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || *s == 0x7f || *s == '#' || *s == '=')
			return false;
	return true;
}

/* True if name is an identity name (letters, digits, _ - . @; at most 64). */
static bool cmd_user_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > 64)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_' ||
		      *s == '-' || *s == '.' || *s == '@'))
			return false;
	return true;
}

/* Appends n bytes as hex to out. */
static void cmd_user_hex(char *out, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + strlen(out), "%02x", p[i]);
}

/* scrypt(secret, salt) as timerd runs it; 0 or -1. */
static int cmd_user_scrypt(const char *secret, const uint8_t *salt, uint8_t *out)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "SCRYPT", NULL);
	EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	uint64_t n = (uint64_t)1 << USER_LOG2N, maxmem = (uint64_t)130 * USER_R * ((uint64_t)1 << USER_LOG2N) + (1u << 20);
	uint32_t r = USER_R, p = USER_P;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, (void *)(uintptr_t)secret, strlen(secret)),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)(uintptr_t)salt, USER_SALT),
		OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n),
		OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r),
		OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p),
		OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem),
		OSSL_PARAM_construct_end(),
	};
	int rc = kctx && EVP_KDF_derive(kctx, out, USER_HASH, params) == 1 ? 0 : -1;

	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	return rc;
}

/* timerctl user add NAME: prints the line and the secret. */
static int cmd_user_add(struct ctl *ctl, const char *name, const char *allow, const char *keys, const char *topics)
{
	uint8_t raw[USER_SECRET], salt[USER_SALT], hash[USER_HASH];
	char secret[2 * USER_SECRET + 1] = "", line[1024];
	char salthex[2 * USER_SALT + 1] = "", hashhex[2 * USER_HASH + 1] = "";

	if (RAND_bytes(raw, sizeof(raw)) != 1 || RAND_bytes(salt, sizeof(salt)) != 1)
		return ctl_fail(ctl, CTL_EXIT_FAILED, "user add: OpenSSL could not draw random bytes");
	cmd_user_hex(secret, raw, sizeof(raw));
	if (cmd_user_scrypt(secret, salt, hash) < 0)
		return ctl_fail(ctl, CTL_EXIT_FAILED, "user add: scrypt failed (OpenSSL 3 with the SCRYPT KDF is needed)");
	cmd_user_hex(salthex, salt, sizeof(salt));
	cmd_user_hex(hashhex, hash, sizeof(hash));
	snprintf(line, sizeof(line), "%s secret=scrypt$%d,%d,%d$%s$%s allow=%s keys=%s topics=%s", name, USER_LOG2N,
		 USER_R, USER_P, salthex, hashhex, allow, keys, topics);
	if (ctl->json)	/* every field is plain ASCII without quotes or backslashes (checked above) */
		printf("{\"identity\":\"%s\",\"secret\":\"%s\",\"line\":\"%s\"}\n", name, secret, line);
	else {
		printf("%s\n", line);
		fprintf(stderr, "secret for %s (give it to its client as $TIMERD_SECRET or a --secret-file; timerd keeps "
			"only the hash above): %s\n", name, secret);
	}
	OPENSSL_cleanse(secret, sizeof(secret));
	OPENSSL_cleanse(raw, sizeof(raw));
	return CTL_EXIT_OK;
}

/* timerctl user. */
static int cmd_user_exec(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = { CTL_GLOBAL_LONGOPTS, { "allow", required_argument, NULL, 'a' },
					      { "keys", required_argument, NULL, 'k' },
					      { "topics", required_argument, NULL, 't' }, { NULL, 0, NULL, 0 } };
	const char *allow = "arm,cancel,get,list,watch,consume,stats", *keys = "*", *topics = "*";
	int c, rc;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'a')
			allow = optarg;
		else if (c == 'k')
			keys = optarg;
		else if (c == 't')
			topics = optarg;
		else if (ctl_global_opt(ctl, &cmd_user_entry, c, optarg, &rc))
			return rc;
	}
	if (optind >= argc || strcmp(argv[optind], "add") != 0)
		return ctl_usage(ctl, &cmd_user_entry, "give add NAME");
	if (optind + 1 >= argc)
		return ctl_usage(ctl, &cmd_user_entry, "user add: give the identity's NAME");
	if (optind + 2 < argc)
		return ctl_usage(ctl, &cmd_user_entry, "unexpected argument '%s'", argv[optind + 2]);
	if (!cmd_user_name_ok(argv[optind + 1]))
		return ctl_usage(ctl, &cmd_user_entry, "'%s' is not an identity name: letters, digits, _ - . @ (at most 64)",
				 argv[optind + 1]);
	if (!cmd_user_ops_ok(allow))
		return ctl_usage(ctl, &cmd_user_entry, "--allow %s: give some of arm, cancel, get, list, watch, consume, "
				 "stats, probe, admin (comma-separated), or *", allow);
	if (!cmd_user_value_ok(keys) || !cmd_user_value_ok(topics) || strchr(keys, '"') || strchr(topics, '"') ||
	    strchr(keys, '\\') || strchr(topics, '\\'))
		return ctl_usage(ctl, &cmd_user_entry, "--keys and --topics take comma-separated prefixes without blanks, "
				 "'#', '=' or quotes (or *)");
	return cmd_user_add(ctl, argv[optind + 1], allow, keys, topics);
}
