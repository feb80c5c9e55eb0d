/*
 * tls.c -- TLS on the TCP listener (OpenSSL 3 through libevent's
 * bufferevent_openssl; doc/security.md "TLS").
 *
 * The main thread owns s->tls_ctx: it builds it at start and on SIGHUP
 * (reload.c), and the acceptor (also the main thread) makes each new
 * connection's SSL from it, handed to a loop thread in its loop_msg. With
 * http-tls the loop threads make their HTTP connections' SSLs from it too
 * (http.c, evhttp's bevcb), so tls_lock guards the pointer: SSL_new and the
 * reload's swap take it, and SSL_new's own reference keeps the context. A
 * reload swaps in a new SSL_CTX for new connections; an SSL holds its own
 * reference on the SSL_CTX it came from, so open connections keep theirs.
 *
 * Protocol: TLS 1.2 at least, 1.3 preferred (OpenSSL negotiates the highest
 * both sides have). TLS 1.2 suites: ECDHE key exchange only (forward secret;
 * no RSA key exchange, no static DH) with AEAD ciphers only (AES-GCM and
 * ChaCha20-Poly1305; no CBC, whose MAC-then-encrypt gave Lucky13 and
 * POODLE-style padding oracles). TLS 1.3: OpenSSL's default suites (all
 * AEAD). Renegotiation and compression are off; tickets stay on.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "server/log.h"
#include "server/srv.h"

/* The TLS 1.2 suites offered: ECDHE with an AEAD cipher, nothing else. */
#define TLS_CIPHERS_12 "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

/* Guards s->tls_ctx between the reload's swap (main thread) and SSL_new on the loop threads (http-tls). */
static pthread_mutex_t tls_lock = PTHREAD_MUTEX_INITIALIZER;

/* The first queued OpenSSL error as text (and the queue cleared). */
const char *tls_errstr(char *buf, size_t len)
{
	unsigned long e = ERR_peek_last_error();

	if (!e)
		snprintf(buf, len, "unknown TLS error");
	else
		ERR_error_string_n(e, buf, len);
	ERR_clear_error();
	return buf;
}

/* Refuses a key file that group or others can read, or that is not a regular file; 0 or -1 with err. */
static int tls_key_check(const char *path, char *err, size_t errlen)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0)
		return td_errf(err, errlen, "tls-key %s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0) {
		close(fd);
		return td_errf(err, errlen, "tls-key %s: %s", path, strerror(errno));
	}
	close(fd);
	if (!S_ISREG(st.st_mode))
		return td_errf(err, errlen, "tls-key %s is not a regular file", path);
	if (st.st_mode & 077)
		return td_errf(err, errlen, "tls-key %s is readable by group or others (mode %04o): a private key must be "
			       "private; run chmod 600 %s (and keep it owned by timerd's user)",
			       path, (unsigned)(st.st_mode & 07777), path);
	return 0;
}

/* Builds a server SSL_CTX from c's tls-* settings; NULL with err. */
static SSL_CTX *tls_ctx_new(const struct srv_config *c, char *err, size_t errlen)
{
	char e[256];
	SSL_CTX *ctx;
	const char *vc = c->tls_verify_client ? c->tls_verify_client : c->tls_ca ? "require" : "no";

	if (tls_key_check(c->tls_key, err, errlen) < 0)
		return NULL;
	if (!(ctx = SSL_CTX_new(TLS_server_method()))) {
		td_errf(err, errlen, "tls: cannot create a context: %s", tls_errstr(e, sizeof(e)));
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	/*
	 * A peer's bare TCP FIN (no close_notify) is the end of its stream, as on
	 * plaintext: SSL_read gives SSL_ERROR_ZERO_RETURN, so the RPC answers the
	 * requests already read before closing (conn_tls_read_end, CONN_PEER_EOF)
	 * instead of OpenSSL 3's "unexpected eof" error dropping their replies.
	 * Truncation is not hidden: a frame or HTTP request cut short is still
	 * incomplete, and is refused as such.
	 */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_set_cipher_list(ctx, TLS_CIPHERS_12) != 1) {
		td_errf(err, errlen, "tls: cipher list: %s", tls_errstr(e, sizeof(e)));
		goto fail;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, c->tls_cert) != 1) {
		td_errf(err, errlen, "tls-cert %s: %s (give a PEM certificate, then its chain)", c->tls_cert,
			tls_errstr(e, sizeof(e)));
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, c->tls_key, SSL_FILETYPE_PEM) != 1) {
		td_errf(err, errlen, "tls-key %s: %s (give the PEM private key)", c->tls_key, tls_errstr(e, sizeof(e)));
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		td_errf(err, errlen, "tls-key %s does not match the certificate in %s", c->tls_key, c->tls_cert);
		ERR_clear_error();
		goto fail;
	}
	if (c->tls_ca) {
		STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(c->tls_ca);

		if (SSL_CTX_load_verify_locations(ctx, c->tls_ca, NULL) != 1 || !names) {
			td_errf(err, errlen, "tls-ca %s: %s (give PEM CA certificates)", c->tls_ca, tls_errstr(e, sizeof(e)));
			if (names)
				sk_X509_NAME_pop_free(names, X509_NAME_free);
			goto fail;
		}
		SSL_CTX_set_client_CA_list(ctx, names);
	}
	if (strcmp(vc, "require") == 0)
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	else if (strcmp(vc, "optional") == 0)
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	else
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

/* Start-up: builds s->tls_ctx if tls-cert is set; 0 or -1 with err. */
int tls_start(struct srv *s, char *err, size_t errlen)
{
	if (!s->cfg->tls_cert)
		return 0;
	if (!(s->tls_ctx = tls_ctx_new(s->cfg, err, errlen)))
		return -1;
	log_info("TLS on %s%s%s (certificate %s%s%s)", s->cfg->listen ? s->cfg->listen : "",
		 s->cfg->listen && s->cfg->http_tls ? " and " : "", s->cfg->http_tls ? s->cfg->http : "", s->cfg->tls_cert,
		 s->cfg->tls_ca ? ", client certificates from " : "", s->cfg->tls_ca ? s->cfg->tls_ca : "");
	return 0;
}

/* --check-config: builds and drops the context tls_start would (key file mode, cert, key, CAs); 0 or -1 with err. */
int tls_check(const struct srv_config *c, char *err, size_t errlen)
{
	SSL_CTX *ctx;

	if (!c->tls_cert)
		return 0;
	if (!(ctx = tls_ctx_new(c, err, errlen)))
		return -1;
	SSL_CTX_free(ctx);
	return 0;
}

/* SIGHUP: re-reads the certificate, key and CAs; the old context stays on failure (main thread). */
bool tls_reload(struct srv *s)
{
	char err[1024];
	SSL_CTX *ctx, *old;

	if (!s->cfg->tls_cert)
		return true;
	if (!(ctx = tls_ctx_new(s->cfg, err, sizeof(err)))) {
		log_err("reload: %s; new TLS connections keep the certificate loaded before", err);
		return false;
	}
	pthread_mutex_lock(&tls_lock);
	old = s->tls_ctx;
	s->tls_ctx = ctx;
	pthread_mutex_unlock(&tls_lock);
	SSL_CTX_free(old);	/* open connections' SSLs hold their own reference */
	log_notice("reload: TLS certificate %s re-read: new connections get it, open ones keep theirs", s->cfg->tls_cert);
	return true;
}

/* A new connection's SSL from the current context, or NULL (no TLS, or out of memory); any thread. */
void *tls_conn_new(struct srv *s)
{
	SSL *ssl = NULL;

	pthread_mutex_lock(&tls_lock);
	if (s->tls_ctx && !(ssl = SSL_new(s->tls_ctx)))
		ERR_clear_error();
	pthread_mutex_unlock(&tls_lock);
	return ssl;
}

/* Frees an SSL that no connection took. */
void tls_conn_free(void *ssl)
{
	SSL_free(ssl);
}

/* Frees the context at shutdown. */
void tls_stop(struct srv *s)
{
	SSL_CTX_free(s->tls_ctx);
	s->tls_ctx = NULL;
}
