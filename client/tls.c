/*
 * tls.c -- libtimerd's TLS (OpenSSL 3): the handshake on a connected
 * socket, done blocking inside timerd_connect / timerd_async_connect, and
 * what a failure means in words a user can act on. After the handshake the
 * blocking API reads and writes through the SSL (sync.c) and the async API
 * hands it to a bufferevent_openssl (async.c).
 *
 * The server is always verified: its certificate chains to the given CAs
 * (or the system's) and names the host (DNS or IP SAN). TLS 1.2 at least;
 * the same ECDHE+AEAD TLS 1.2 suites as the server (server/tls.c).
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "client/internal.h"

#define CTLS_CIPHERS_12 "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

/* True if OpenSSL error e says the peer did not speak TLS at all. */
static bool ctls_not_tls(unsigned long e)
{
	int r = ERR_GET_REASON(e);

	return ERR_GET_LIB(e) == ERR_LIB_SSL &&
	       (r == SSL_R_WRONG_VERSION_NUMBER || r == SSL_R_PACKET_LENGTH_TOO_LONG ||
		r == SSL_R_RECORD_LENGTH_MISMATCH || r == SSL_R_UNEXPECTED_RECORD || r == SSL_R_HTTP_REQUEST);
}

/* Describes the failure of an SSL call on ssl to server where (the OpenSSL error queue is cleared). */
void ctls_describe(void *vssl, const char *where, unsigned long e, char *buf, size_t len)
{
	SSL *ssl = vssl;
	long vr = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
	char es[256] = "the connection closed during the TLS handshake";
	int r = ERR_GET_REASON(e);

	if (!e)
		e = ERR_peek_last_error();
	r = ERR_GET_REASON(e);
	if (e)
		ERR_error_string_n(e, es, sizeof(es));
	ERR_clear_error();
	if (ssl && vr != X509_V_OK && ERR_GET_LIB(e) == ERR_LIB_SSL && r == SSL_R_CERTIFICATE_VERIFY_FAILED) {
		const char *v = X509_verify_cert_error_string(vr);

		switch (vr) {
		case X509_V_ERR_HOSTNAME_MISMATCH:
		case X509_V_ERR_IP_ADDRESS_MISMATCH:
			codec_msg(buf, len, "the server at %s has a certificate for another name (%s): connect by a name "
				  "its certificate lists, or give the expected name (--server-name)", where, v);
			return;
		case X509_V_ERR_CERT_HAS_EXPIRED:
		case X509_V_ERR_CERT_NOT_YET_VALID:
			codec_msg(buf, len, "the server at %s presented a certificate outside its validity dates (%s): "
				  "the server's certificate must be renewed (or check this host's clock)", where, v);
			return;
		case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
		case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
		case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
		case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
		case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
			codec_msg(buf, len, "the server at %s presented a certificate not signed by a CA this client trusts "
				  "(%s): give the CA that signed it with --ca FILE", where, v);
			return;
		default:
			codec_msg(buf, len, "the server at %s presented a certificate that does not verify: %s", where, v);
			return;
		}
	}
	if (e && ctls_not_tls(e)) {
		codec_msg(buf, len, "the server at %s does not speak TLS (a plaintext port?): connect without tls:// "
			  "and --tls, or enable TLS on that port (timerd --tls-cert, --tls-key)", where);
		return;
	}
	if (ERR_GET_LIB(e) == ERR_LIB_SSL && (r == SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED ||
					     r == SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE || r == SSL_R_SSLV3_ALERT_BAD_CERTIFICATE ||
					     r == SSL_R_TLSV1_ALERT_UNKNOWN_CA)) {
		codec_msg(buf, len, "the server at %s refused this client's certificate, or needs one (%s): give a "
			  "certificate signed by a CA it trusts with --cert FILE (timerctl: and --cert-key FILE)", where, es);
		return;
	}
	if (ERR_GET_LIB(e) == ERR_LIB_SSL && r == SSL_R_UNSUPPORTED_PROTOCOL) {
		codec_msg(buf, len, "the server at %s and this client share no TLS version (TLS 1.2 at least) (%s)", where,
			  es);
		return;
	}
	codec_msg(buf, len, "TLS with the server at %s failed: %s", where, es);
}

/* Sets fd's send and receive timeouts to ms (0: none). */
static void ctls_timeouts(int fd, int ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* Handshakes as a TLS client on blocking fd to host (where: for messages); the SSL, or NULL with err. */
void *ctls_connect(int fd, const char *host, const char *where, const struct timerd_tls *o, int timeout_ms,
		   struct timerd_error *err)
{
	static const struct timerd_tls none;
	unsigned char ip[16];
	const char *name;
	SSL_CTX *ctx;
	SSL *ssl = NULL;
	int rc;

	o = o ? o : &none;
	name = o->server_name ? o->server_name : host;
	err->code = TIMERD_ECONNECT;
	if (!(ctx = SSL_CTX_new(TLS_client_method()))) {
		codec_msg(err->message, sizeof(err->message), "out of memory for TLS");
		ERR_clear_error();
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_cipher_list(ctx, CTLS_CIPHERS_12);
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);	/* a server that just closes: "closed", as plaintext */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (o->ca_file ? SSL_CTX_load_verify_locations(ctx, o->ca_file, NULL) != 1
		       : SSL_CTX_set_default_verify_paths(ctx) != 1) {
		codec_msg(err->message, sizeof(err->message), "cannot read the CA file %s: %s (give PEM certificates)",
			  o->ca_file ? o->ca_file : "(system)", ERR_reason_error_string(ERR_peek_last_error()));
		goto fail;
	}
	if (o->cert_file && (SSL_CTX_use_certificate_chain_file(ctx, o->cert_file) != 1 ||
			     SSL_CTX_use_PrivateKey_file(ctx, o->key_file ? o->key_file : o->cert_file,
							 SSL_FILETYPE_PEM) != 1 ||
			     SSL_CTX_check_private_key(ctx) != 1)) {
		codec_msg(err->message, sizeof(err->message), "cannot use the client certificate %s with key %s: %s",
			  o->cert_file, o->key_file ? o->key_file : o->cert_file,
			  ERR_reason_error_string(ERR_peek_last_error()));
		goto fail;
	}
	if (!(ssl = SSL_new(ctx)) || SSL_set_fd(ssl, fd) != 1) {
		codec_msg(err->message, sizeof(err->message), "out of memory for TLS");
		goto fail;
	}
	if (inet_pton(AF_INET, name, ip) == 1 || inet_pton(AF_INET6, name, ip) == 1) {
		X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name);
	} else {
		SSL_set_tlsext_host_name(ssl, name);
		SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		SSL_set1_host(ssl, name);
	}
	ctls_timeouts(fd, timeout_ms > 0 ? timeout_ms : 0);
	rc = SSL_connect(ssl);
	ctls_timeouts(fd, 0);
	if (rc != 1) {
		if (SSL_get_error(ssl, rc) == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			codec_msg(err->message, sizeof(err->message), "the server at %s did not finish the TLS handshake in "
				  "time (is it a timerd TLS port?)", where);
			ERR_clear_error();
		} else {
			ctls_describe(ssl, where, ERR_peek_last_error(), err->message, sizeof(err->message));
		}
		goto fail;
	}
	SSL_CTX_free(ctx);	/* ssl holds its own reference */
	return ssl;
fail:
	ERR_clear_error();
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	return NULL;
}

/* Frees an SSL from ctls_connect (after a best-effort close_notify). */
void ctls_free(void *ssl)
{
	if (!ssl)
		return;
	SSL_shutdown(ssl);
	SSL_free(ssl);
	ERR_clear_error();
}
