/*
 * fuzz-auth.c -- identities on the request path (server/auth.c, rpc.c's
 * rpc_permit): a connection with no identity (a TCP peer the users file
 * does not bind) sends up to 8 frames from the input; Auth goes to the
 * real worker thread (scrypt with cheap parameters, so fuzzing is fast)
 * and the harness waits for its result; an unknown name's dummy scrypt
 * gets the same cheap cost (auth_set_dummy_cost).
 *
 * Input: frames, each a 2-byte big-endian length then that many bytes of
 * a Request. The users file has `fz` (secret "pw", allow=arm,get keys=fz
 * topics=fz) and `ro` (secret "ro", allow=get).
 *
 * Checks: every frame is answered, in order; no timer is armed unless an
 * Auth succeeded; one armed is under fz's keys; srv_destroy() leaves
 * nothing behind (LeakSanitizer), even with an attempt in flight.
 */
#include "config.h"

#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "proto/frame.h"
#include "server/auth.h"
#include "tests/fuzz/world.h"

#define AUTH_FRAMES 8

/* scrypt(secret) with N=2^10, r=1, p=1 and a fixed salt, as a users-file value. */
static void auth_hash(const char *secret, char *out, size_t len)
{
	static const uint8_t salt[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "SCRYPT", NULL);
	EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	uint64_t n = 1024;
	uint32_t r = 1, p = 1;
	uint8_t h[32];
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, (void *)(uintptr_t)secret, strlen(secret)),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)(uintptr_t)salt, sizeof(salt)),
		OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n),
		OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r),
		OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p),
		OSSL_PARAM_construct_end(),
	};
	size_t o;

	if (!ctx || EVP_KDF_derive(ctx, h, sizeof(h), params) != 1)
		fuzz_fail("scrypt failed");
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	o = (size_t)snprintf(out, len, "scrypt$10,1,1$");
	for (size_t i = 0; i < sizeof(salt); i++)
		o += (size_t)snprintf(out + o, len - o, "%02x", salt[i]);
	o += (size_t)snprintf(out + o, len - o, "$");
	for (size_t i = 0; i < sizeof(h); i++)
		o += (size_t)snprintf(out + o, len - o, "%02x", h[i]);
}

/* The users table every input runs against (built once). */
static struct ident_table *auth_users(void)
{
	static char text[1024];
	struct ident_table *t;
	char a[256], b[256], err[512];

	if (!*text) {
		auth_hash("pw", a, sizeof(a));
		auth_hash("ro", b, sizeof(b));
		snprintf(text, sizeof(text), "fz secret=%s allow=arm,get keys=fz topics=fz\nro secret=%s allow=get\n", a, b);
	}
	if (ident_parse(text, strlen(text), "users", 0, &t, err, sizeof(err)) < 0)
		fuzz_fail("users: %s", err);
	return t;
}

/* Monotonic ms. */
static int64_t auth_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs the frames of the input. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_world w;
	struct engine_stats st;
	char err[256];
	uint64_t frames = 0, ok;
	int64_t until;

	fuzz_world_open(&w, &(struct fuzz_world_opts){ .tcp = true });
	if (auth_start(w.srv, err, sizeof(err)) < 0)
		fuzz_fail("auth_start: %s", err);
	auth_set_delay(w.srv, 1000000);	/* 1 ms, doubling: an input of failures stays quick */
	auth_set_dummy_cost(w.srv, 10, 1, 1);	/* unknown names as cheap as fz's line (the default 2^15 x 8 was 69% of the time) */
	w.loop->users = auth_users();
	for (size_t i = 0; i + 2 <= size && frames < AUTH_FRAMES;) {
		size_t n = (size_t)data[i] << 8 | data[i + 1];
		uint8_t hdr[FRAME_HDR];

		i += 2;
		n = n < size - i ? n : size - i;
		frame_put_len(hdr, (uint32_t)n);
		fuzz_world_write(&w, hdr, sizeof(hdr));
		fuzz_world_write(&w, data + i, n);
		i += n;
		frames++;
	}
	until = auth_ms() + 5000;
	fuzz_world_settle(&w);
	while (w.conn && w.replies < frames && !w.peer_eof && auth_ms() < until) {
		usleep(200);
		fuzz_world_settle(&w);
	}
	if (w.conn && !w.peer_eof && w.replies != frames)
		fuzz_fail("%llu replies to %llu frames", (unsigned long long)w.replies, (unsigned long long)frames);
	ok = atomic_load_explicit(&w.loop->ctr.auth_ok, memory_order_relaxed);
	engine_stats(w.srv->engine, &st);
	if (getenv("FUZZ_AUTH_DEBUG"))
		fprintf(stderr, "frames %llu replies %llu auth_ok %llu pending %llu\n", (unsigned long long)frames, (unsigned long long)w.replies, (unsigned long long)ok, (unsigned long long)st.pending);
	if (!ok && st.pending)
		fuzz_fail("%llu timers armed without an identity", (unsigned long long)st.pending);
	fuzz_world_finish(&w);
	fuzz_world_close(&w);
	return 0;
}
