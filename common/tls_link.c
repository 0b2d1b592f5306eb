/* SPDX-License-Identifier: MIT */
#include "tls_link.h"

#include "auth_hmac.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* TLS_AES_128_GCM_SHA256: the suite the PSK is bound to (its hash,
 * SHA-256, is every TLS 1.3 client's first) */
static const unsigned char tls_aes128gcm_id[] = { 0x13, 0x01 };

struct tls_link {
	SSL *ssl;
	BIO *in;		/* the peer's bytes, read by ssl */
	BIO *out;		/* ssl's bytes for the peer */
	bool server;
	bool ready;
	bool failed;
	bool bad_key;
	bool psk_found;		/* server: cb had a key for the identity */
	bool asked;		/* server: cb was asked (for the first identity only) */
	tls_psk_find_cb cb;
	void *user;
	uint8_t psk[TLS_PSK_LEN];	/* client; server: the one found (a retried ClientHello) */
	char identity[TLS_IDENTITY_MAX];
	char err[200];
};

static SSL_CTX *tls_ctx[2];	/* [0] client, [1] server */
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;

static bool tls_identity_ok(const unsigned char *id, size_t n)
{
	if (n == 0 || n >= TLS_IDENTITY_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (id[i] < 0x21 || id[i] > 0x7e)
			return false;
	return true;
}

/* A session holding psk for the suite above, as OpenSSL wants a TLS 1.3
 * external PSK; NULL if it cannot be made. */
static SSL_SESSION *tls_psk_session(SSL *ssl, const uint8_t psk[TLS_PSK_LEN])
{
	const SSL_CIPHER *c = SSL_CIPHER_find(ssl, tls_aes128gcm_id);
	SSL_SESSION *s = c ? SSL_SESSION_new() : NULL;

	if (s && SSL_SESSION_set1_master_key(s, psk, TLS_PSK_LEN) &&
	    SSL_SESSION_set_cipher(s, c) && SSL_SESSION_set_protocol_version(s, TLS1_3_VERSION))
		return s;
	SSL_SESSION_free(s);
	return NULL;
}

static int tls_find_session(SSL *ssl, const unsigned char *id, size_t n, SSL_SESSION **sess)
{
	struct tls_link *t = SSL_get_app_data(ssl);
	uint8_t psk[TLS_PSK_LEN];

	*sess = NULL;
	if (!t)
		return 1;
	/* the first identity offered only: a ClientHello may offer thousands,
	 * each a key lookup (a file read on the agent port); the second
	 * ClientHello after a HelloRetryRequest offers it again, and gets the
	 * key found for the first */
	if (t->asked) {
		if (t->psk_found && n == strlen(t->identity) && memcmp(id, t->identity, n) == 0)
			*sess = tls_psk_session(ssl, t->psk);
		return 1;
	}
	t->asked = true;
	if (!tls_identity_ok(id, n))
		return 1;	/* no key: the handshake fails */
	memcpy(t->identity, id, n);
	t->identity[n] = '\0';
	if (t->cb(t->user, t->identity, psk) < 0)
		return 1;
	*sess = tls_psk_session(ssl, psk);
	t->psk_found = *sess != NULL;
	if (t->psk_found)
		memcpy(t->psk, psk, sizeof(psk));
	explicit_bzero(psk, sizeof(psk));
	return *sess ? 1 : 0;
}

static int tls_use_session(SSL *ssl, const EVP_MD *md, const unsigned char **id, size_t *idlen,
			   SSL_SESSION **sess)
{
	struct tls_link *t = SSL_get_app_data(ssl);
	SSL_SESSION *s;

	*sess = NULL;
	*id = NULL;
	*idlen = 0;
	if (!t)
		return 0;
	s = tls_psk_session(ssl, t->psk);
	if (!s)
		return 0;
	/* after a HelloRetryRequest for another hash the PSK is of no use */
	if (md && md != SSL_CIPHER_get_handshake_digest(SSL_SESSION_get0_cipher(s))) {
		SSL_SESSION_free(s);
		return 1;
	}
	*sess = s;
	*id = (const unsigned char *)t->identity;
	*idlen = strlen(t->identity);
	return 1;
}

static SSL_CTX *tls_ctx_make(bool server)
{
	SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());

	if (!ctx)
		return NULL;
	/* the suites whose hash is the PSK's: a server choosing another (the
	 * client's first is SHA-384's) would pass the PSK over; the (EC)DHE
	 * groups every TLS 1.3 stack has (a client offering a share of another
	 * is asked again, HelloRetryRequest) */
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256") ||
	    !SSL_CTX_set1_groups_list(ctx, "X25519:P-256")) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	/* no resumption: each session is keyed from the PSK and a fresh DHE */
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if (server) {
		SSL_CTX_set_num_tickets(ctx, 0);
		SSL_CTX_set_psk_find_session_callback(ctx, tls_find_session);
	} else {
		SSL_CTX_set_psk_use_session_callback(ctx, tls_use_session);
	}
	return ctx;
}

static void tls_init(void)
{
	tls_ctx[0] = tls_ctx_make(false);
	tls_ctx[1] = tls_ctx_make(true);
}

static int tls_link_new(bool server, struct tls_link **out)
{
	struct tls_link *t;

	*out = NULL;
	pthread_once(&tls_once, tls_init);
	if (!tls_ctx[server])
		return -EIO;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->server = server;
	t->ssl = SSL_new(tls_ctx[server]);
	t->in = BIO_new(BIO_s_mem());
	t->out = BIO_new(BIO_s_mem());
	if (!t->ssl || !t->in || !t->out) {
		BIO_free(t->in);
		BIO_free(t->out);
		SSL_free(t->ssl);
		free(t);
		return -ENOMEM;
	}
	/* empty: "try again", not end of stream */
	BIO_set_mem_eof_return(t->in, -1);
	BIO_set_mem_eof_return(t->out, -1);
	SSL_set_bio(t->ssl, t->in, t->out);
	SSL_set_app_data(t->ssl, t);
	if (server)
		SSL_set_accept_state(t->ssl);
	else
		SSL_set_connect_state(t->ssl);
	*out = t;
	return 0;
}

int tls_link_server(tls_psk_find_cb cb, void *user, struct tls_link **out)
{
	int rc = tls_link_new(true, out);

	if (rc == 0) {
		(*out)->cb = cb;
		(*out)->user = user;
	}
	return rc;
}

int tls_link_client(const char *identity, const uint8_t psk[TLS_PSK_LEN], struct tls_link **out)
{
	int rc;

	*out = NULL;
	if (!tls_identity_ok((const unsigned char *)identity, strlen(identity)))
		return -EINVAL;
	rc = tls_link_new(false, out);
	if (rc == 0) {
		memcpy((*out)->psk, psk, TLS_PSK_LEN);
		snprintf((*out)->identity, sizeof((*out)->identity), "%s", identity);
	}
	return rc;
}

void tls_link_free(struct tls_link *t)
{
	if (!t)
		return;
	SSL_free(t->ssl);	/* and its BIOs */
	explicit_bzero(t->psk, sizeof(t->psk));
	free(t);
}

int tls_link_feed(struct tls_link *t, const void *p, size_t n)
{
	while (n > 0) {
		int chunk = n > (1u << 30) ? 1 << 30 : (int)n;
		int w = BIO_write(t->in, p, chunk);

		if (w <= 0)
			return -ENOMEM;
		p = (const uint8_t *)p + w;
		n -= (size_t)w;
	}
	return 0;
}

/* Why ret (of an SSL_ call) failed, or 0 for "more bytes first". */
static int tls_link_fail(struct tls_link *t, int ret)
{
	int e = SSL_get_error(t->ssl, ret);
	unsigned long code;

	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return 0;
	if (e == SSL_ERROR_ZERO_RETURN) {
		snprintf(t->err, sizeof(t->err), "the peer closed the TLS session");
		return TLS_LINK_EOF;
	}
	code = ERR_peek_last_error();
	if (code) {
		int reason = ERR_GET_REASON(code);

		/* a server checks the client's PSK binder; a client learns of a
		 * wrong key from the server's alert (OpenSSL's server says
		 * illegal_parameter, RFC 8446 decrypt_error) */
		t->bad_key = (t->server && t->psk_found && reason == SSL_R_BINDER_DOES_NOT_VERIFY) ||
			     (!t->server && !t->ready &&
			      (reason == SSL_R_TLSV1_ALERT_DECRYPT_ERROR ||
			       reason == SSL_R_SSLV3_ALERT_ILLEGAL_PARAMETER));
		ERR_error_string_n(code, t->err, sizeof(t->err));
	} else {
		snprintf(t->err, sizeof(t->err), "TLS error %d", e);
	}
	/* the server found no key for the identity (or one was never sent) */
	if (t->server && !t->psk_found && t->identity[0])
		snprintf(t->err, sizeof(t->err), "no key for TLS identity '%s'",
			 t->identity[0] ? t->identity : "(none)");
	ERR_clear_error();
	t->failed = true;
	return TLS_LINK_FAILED;
}

ssize_t tls_link_read(struct tls_link *t, void *buf, size_t cap)
{
	int r;

	if (t->failed)
		return TLS_LINK_FAILED;
	ERR_clear_error();
	if (!t->ready) {
		r = SSL_do_handshake(t->ssl);
		if (r != 1)
			return tls_link_fail(t, r);
		t->ready = true;
	}
	if (cap == 0)
		return 0;
	r = SSL_read(t->ssl, buf, cap > (size_t)INT32_MAX ? INT32_MAX : (int)cap);
	return r > 0 ? r : tls_link_fail(t, r);
}

bool tls_link_ready(const struct tls_link *t)
{
	return t->ready;
}

int tls_link_write(struct tls_link *t, const void *p, size_t n)
{
	if (t->failed || !t->ready)
		return TLS_LINK_FAILED;
	ERR_clear_error();
	while (n > 0) {
		int chunk = n > (1u << 30) ? 1 << 30 : (int)n;
		int w = SSL_write(t->ssl, p, chunk);

		if (w <= 0) {
			int rc = tls_link_fail(t, w);

			t->failed = true;
			return rc == 0 ? TLS_LINK_FAILED : rc;
		}
		p = (const uint8_t *)p + w;
		n -= (size_t)w;
	}
	return 0;
}

size_t tls_link_pending(const struct tls_link *t)
{
	return BIO_ctrl_pending(t->out);
}

size_t tls_link_take(struct tls_link *t, void *buf, size_t cap)
{
	int r = BIO_read(t->out, buf, cap > (size_t)INT32_MAX ? INT32_MAX : (int)cap);

	return r > 0 ? (size_t)r : 0;
}

const char *tls_link_identity(const struct tls_link *t)
{
	return t->identity;
}

const char *tls_link_error(const struct tls_link *t)
{
	return t->err[0] ? t->err : "no error";
}

bool tls_link_bad_key(const struct tls_link *t)
{
	return t->bad_key;
}

int tls_psk_derive(const uint8_t *key, size_t keylen, const char *identity,
		   uint8_t psk[TLS_PSK_LEN])
{
	static const char label[] = "hare-tls-psk";	/* with its NUL */

	if (keylen == 0 || strlen(identity) >= TLS_IDENTITY_MAX)
		return -EINVAL;
	/* HMAC(key, label NUL || identity), as the handshake's answer is made */
	return auth_hmac_answer(key, keylen, (const uint8_t *)label, sizeof(label), identity, psk);
}

int tls_token_identity(const uint8_t *token, size_t len, char out[TLS_IDENTITY_MAX])
{
	static const char label[] = "hare-token-id";
	uint8_t h[AUTH_HMAC_LEN];
	int rc = len ? auth_hmac_answer(token, len, (const uint8_t *)label, sizeof(label) - 1, "",
					h) : -EINVAL;

	if (rc < 0)
		return rc;
	snprintf(out, TLS_IDENTITY_MAX, "t-%02x%02x%02x%02x%02x%02x%02x%02x", h[0], h[1], h[2], h[3],
		 h[4], h[5], h[6], h[7]);
	return 0;
}
