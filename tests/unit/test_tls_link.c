/* SPDX-License-Identifier: MIT */
/* Unit tests for common/tls_link.c: TLS 1.3 with pre-shared keys between a
 * client end and a server end in one process, the bytes moved by hand
 * (cut into pieces as a network cuts them): the handshake, data both ways,
 * a wrong key, an unknown identity, altered records, the key derivations. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tls_link.h"

#include <openssl/ssl.h>

static const uint8_t key_a[] = "0123456789abcdef0123";
static const uint8_t key_b[] = "0123456789abcdef0124";

/* the server's keys: node1 and node2 hold key_a, others have none */
struct keys {
	int asked;
	char last[TLS_IDENTITY_MAX];
};

static int find_key(void *user, const char *identity, uint8_t psk[TLS_PSK_LEN])
{
	struct keys *k = user;

	k->asked++;
	snprintf(k->last, sizeof(k->last), "%s", identity);
	if (strcmp(identity, "node1") != 0 && strcmp(identity, "node2") != 0)
		return -1;
	return tls_psk_derive(key_a, sizeof(key_a) - 1, identity, psk);
}

/* Move what from has for the peer into to, in pieces of at most piece
 * bytes (0: all at once); flip, when set, alters one byte of it. Returns
 * the bytes moved; what they were is appended to seen (if not NULL). */
static size_t relay(struct tls_link *from, struct tls_link *to, size_t piece, long flip,
		    uint8_t *seen, size_t *nseen, size_t seencap)
{
	uint8_t buf[70000];
	size_t n = tls_link_take(from, buf, sizeof(buf)), off = 0;

	if (flip >= 0 && (size_t)flip < n)
		buf[flip] ^= 0x40;
	if (seen && *nseen + n <= seencap) {
		memcpy(seen + *nseen, buf, n);
		*nseen += n;
	}
	while (off < n) {
		size_t k = piece && n - off > piece ? piece : n - off;

		assert_int_equal(tls_link_feed(to, buf + off, k), 0);
		off += k;
	}
	return n;
}

/* Run the handshake to its end (either side failing stops it): the last
 * results of each side's read. */
static void handshake(struct tls_link *cl, struct tls_link *sv, ssize_t *rc_cl, ssize_t *rc_sv)
{
	uint8_t scratch[64];

	*rc_cl = *rc_sv = 0;
	for (int i = 0; i < 10; i++) {
		*rc_cl = tls_link_read(cl, scratch, sizeof(scratch));
		relay(cl, sv, 7, -1, NULL, NULL, 0);
		*rc_sv = tls_link_read(sv, scratch, sizeof(scratch));
		relay(sv, cl, 0, -1, NULL, NULL, 0);
		if (*rc_cl < 0 || *rc_sv < 0 || (tls_link_ready(cl) && tls_link_ready(sv)))
			break;
	}
	/* the client reads the server's last word (an alert, say) */
	if (*rc_cl == 0 && !tls_link_ready(cl))
		*rc_cl = tls_link_read(cl, scratch, sizeof(scratch));
}

static void pair(const char *identity, const uint8_t *key, size_t keylen, struct keys *k,
		 struct tls_link **cl, struct tls_link **sv)
{
	uint8_t psk[TLS_PSK_LEN];

	assert_int_equal(tls_psk_derive(key, keylen, identity, psk), 0);
	assert_int_equal(tls_link_client(identity, psk, cl), 0);
	assert_int_equal(tls_link_server(find_key, k, sv), 0);
}

/* Read everything the link has into buf: the bytes read. */
static size_t drain(struct tls_link *t, uint8_t *buf, size_t cap)
{
	size_t n = 0;
	ssize_t r;

	while (n < cap && (r = tls_link_read(t, buf + n, cap - n)) > 0)
		n += (size_t)r;
	return n;
}

static void test_tls_session(void **state)
{
	struct keys k = { 0 };
	struct tls_link *cl, *sv;
	ssize_t rc_cl, rc_sv;
	size_t big = 1u << 20, nseen = 0, got = 0;
	uint8_t *data = malloc(big), *back = malloc(big), *seen = malloc(2 * big);
	static const char marker[] = "hare-frame-payload-in-clear";

	(void)state;
	assert_non_null(data);
	assert_non_null(back);
	assert_non_null(seen);
	pair("node1", key_a, sizeof(key_a) - 1, &k, &cl, &sv);
	assert_false(tls_link_ready(cl));
	assert_int_equal(tls_link_write(cl, "x", 1), TLS_LINK_FAILED);	/* not before */
	handshake(cl, sv, &rc_cl, &rc_sv);
	assert_int_equal(rc_cl, 0);
	assert_int_equal(rc_sv, 0);
	assert_true(tls_link_ready(cl));
	assert_true(tls_link_ready(sv));
	assert_int_equal(k.asked, 1);
	assert_string_equal(tls_link_identity(sv), "node1");

	/* 1 MiB from the client, in pieces of 1000 bytes on the way */
	for (size_t i = 0; i < big; i++)
		data[i] = (uint8_t)(i * 131 + (i >> 9));
	memcpy(data + 4096, marker, sizeof(marker) - 1);
	assert_int_equal(tls_link_write(cl, data, big), 0);
	while (tls_link_pending(cl) > 0) {
		relay(cl, sv, 1000, -1, seen, &nseen, 2 * big);
		got += drain(sv, back + got, big - got);
	}
	assert_int_equal(got, big);
	assert_memory_equal(back, data, big);
	/* what went on the wire is not the data */
	assert_true(nseen > big);
	assert_null(memmem(seen, nseen, marker, sizeof(marker) - 1));

	/* and a reply the other way */
	assert_int_equal(tls_link_write(sv, "pong", 4), 0);
	relay(sv, cl, 3, -1, NULL, NULL, 0);
	assert_int_equal(drain(cl, back, 16), 4);
	assert_memory_equal(back, "pong", 4);
	assert_int_equal(tls_link_read(cl, back, 16), 0);	/* nothing more yet */

	tls_link_free(cl);
	tls_link_free(sv);
	free(data);
	free(back);
	free(seen);
}

static void test_tls_wrong_key(void **state)
{
	struct keys k = { 0 };
	struct tls_link *cl, *sv;
	ssize_t rc_cl, rc_sv;

	(void)state;
	pair("node2", key_b, sizeof(key_b) - 1, &k, &cl, &sv);
	handshake(cl, sv, &rc_cl, &rc_sv);
	assert_int_equal(rc_sv, TLS_LINK_FAILED);
	assert_true(tls_link_bad_key(sv));
	assert_string_equal(tls_link_identity(sv), "node2");
	/* the client hears of it from the server's alert */
	assert_int_equal(rc_cl, TLS_LINK_FAILED);
	assert_true(tls_link_bad_key(cl));
	assert_non_null(strstr(tls_link_error(cl), "alert"));
	assert_false(tls_link_ready(sv));
	assert_int_equal(tls_link_write(sv, "x", 1), TLS_LINK_FAILED);
	tls_link_free(cl);
	tls_link_free(sv);
}

static void test_tls_unknown_identity(void **state)
{
	struct keys k = { 0 };
	struct tls_link *cl, *sv;
	ssize_t rc_cl, rc_sv;

	(void)state;
	pair("node9", key_a, sizeof(key_a) - 1, &k, &cl, &sv);
	handshake(cl, sv, &rc_cl, &rc_sv);
	assert_int_equal(rc_sv, TLS_LINK_FAILED);
	assert_int_equal(k.asked, 1);
	assert_string_equal(k.last, "node9");
	assert_false(tls_link_bad_key(sv));
	assert_string_equal(tls_link_error(sv), "no key for TLS identity 'node9'");
	assert_int_equal(rc_cl, TLS_LINK_FAILED);
	tls_link_free(cl);
	tls_link_free(sv);
}

/* A byte changed on the way, in the handshake or in a record after it,
 * fails the session: nothing altered is ever read. */
static void test_tls_altered(void **state)
{
	struct keys k = { 0 };
	struct tls_link *cl, *sv;
	ssize_t rc_cl, rc_sv;
	uint8_t buf[64];

	(void)state;
	pair("node1", key_a, sizeof(key_a) - 1, &k, &cl, &sv);
	handshake(cl, sv, &rc_cl, &rc_sv);
	assert_true(tls_link_ready(sv));
	assert_int_equal(tls_link_write(cl, "cancel job 1", 12), 0);
	relay(cl, sv, 0, 9, NULL, NULL, 0);	/* into the ciphertext */
	assert_int_equal(tls_link_read(sv, buf, sizeof(buf)), TLS_LINK_FAILED);
	assert_int_equal(tls_link_read(sv, buf, sizeof(buf)), TLS_LINK_FAILED);	/* stays failed */
	tls_link_free(cl);
	tls_link_free(sv);

	/* the ClientHello altered: no session */
	pair("node1", key_a, sizeof(key_a) - 1, &k, &cl, &sv);
	assert_int_equal(tls_link_read(cl, buf, sizeof(buf)), 0);
	relay(cl, sv, 0, 60, NULL, NULL, 0);
	rc_sv = tls_link_read(sv, buf, sizeof(buf));
	relay(sv, cl, 0, -1, NULL, NULL, 0);
	rc_cl = tls_link_read(cl, buf, sizeof(buf));
	assert_true(rc_sv == TLS_LINK_FAILED || rc_cl == TLS_LINK_FAILED);
	assert_false(tls_link_ready(cl) && tls_link_ready(sv));
	tls_link_free(cl);
	tls_link_free(sv);
}

/* A peer that is not TLS (an older hared's plaintext Error frame) fails the
 * client's handshake with a reason, as does a close. */
static void test_tls_not_tls(void **state)
{
	static const uint8_t frame[] = { 0, 0, 0, 9, 0x0a, 7, 'r', 'e', 'f', 'u', 's', 'e', 'd' };
	uint8_t psk[TLS_PSK_LEN] = { 1 }, buf[64];
	struct tls_link *cl;

	(void)state;
	assert_int_equal(tls_link_client("node1", psk, &cl), 0);
	assert_int_equal(tls_link_read(cl, buf, sizeof(buf)), 0);
	assert_true(tls_link_pending(cl) > 0);
	assert_int_equal(tls_link_take(cl, buf, 1), 1);
	assert_int_equal(buf[0], TLS_LINK_FIRST_BYTE);
	assert_int_equal(tls_link_feed(cl, frame, sizeof(frame)), 0);
	assert_int_equal(tls_link_read(cl, buf, sizeof(buf)), TLS_LINK_FAILED);
	assert_string_not_equal(tls_link_error(cl), "no error");
	tls_link_free(cl);
	tls_link_free(NULL);
}

static void test_tls_bad_identity(void **state)
{
	uint8_t psk[TLS_PSK_LEN] = { 0 };
	char longname[TLS_IDENTITY_MAX + 1];
	struct tls_link *cl = (struct tls_link *)&cl;

	(void)state;
	assert_int_equal(tls_link_client("", psk, &cl), -EINVAL);
	assert_null(cl);
	assert_int_equal(tls_link_client("two words", psk, &cl), -EINVAL);
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(tls_link_client(longname, psk, &cl), -EINVAL);
	longname[TLS_IDENTITY_MAX - 1] = '\0';
	assert_int_equal(tls_link_client(longname, psk, &cl), 0);
	tls_link_free(cl);
}

/* A client of another TLS stack whose first key share hared does not take
 * (X448) is asked for another (HelloRetryRequest) and offers its PSK again
 * in its second ClientHello: the key found for the first is used, with one
 * lookup. */
static uint8_t hrr_psk[TLS_PSK_LEN];

static int hrr_use_session(SSL *ssl, const EVP_MD *md, const unsigned char **id, size_t *idlen,
			   SSL_SESSION **sess)
{
	static const unsigned char aes128[] = { 0x13, 0x01 };
	SSL_SESSION *s = SSL_SESSION_new();

	(void)md;
	assert_non_null(s);
	assert_true(SSL_SESSION_set1_master_key(s, hrr_psk, sizeof(hrr_psk)));
	assert_true(SSL_SESSION_set_cipher(s, SSL_CIPHER_find(ssl, aes128)));
	assert_true(SSL_SESSION_set_protocol_version(s, TLS1_3_VERSION));
	*sess = s;
	*id = (const unsigned char *)"node1";
	*idlen = 5;
	return 1;
}

static void test_tls_retry_request(void **state)
{
	struct keys k = { 0 };
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	struct tls_link *sv;
	uint8_t buf[8192];
	BIO *in, *out;
	SSL *ssl;
	int done = 0, n;

	(void)state;
	assert_non_null(ctx);
	assert_true(SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION));
	assert_true(SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256"));
	assert_true(SSL_CTX_set1_groups_list(ctx, "X448:X25519"));	/* a share of X448 first */
	SSL_CTX_set_psk_use_session_callback(ctx, hrr_use_session);
	assert_int_equal(tls_psk_derive(key_a, sizeof(key_a) - 1, "node1", hrr_psk), 0);
	ssl = SSL_new(ctx);
	in = BIO_new(BIO_s_mem());
	out = BIO_new(BIO_s_mem());
	BIO_set_mem_eof_return(in, -1);
	SSL_set_bio(ssl, in, out);
	SSL_set_connect_state(ssl);
	assert_int_equal(tls_link_server(find_key, &k, &sv), 0);
	for (int i = 0; i < 6 && !(done == 1 && tls_link_ready(sv)); i++) {
		done = SSL_do_handshake(ssl);
		while ((n = BIO_read(out, buf, sizeof(buf))) > 0)
			assert_int_equal(tls_link_feed(sv, buf, (size_t)n), 0);
		assert_true(tls_link_read(sv, NULL, 0) >= 0);
		while ((n = (int)tls_link_take(sv, buf, sizeof(buf))) > 0)
			assert_int_equal(BIO_write(in, buf, n), n);
	}
	assert_int_equal(done, 1);
	assert_true(tls_link_ready(sv));
	assert_int_equal(k.asked, 1);
	assert_int_equal(SSL_get_negotiated_group(ssl), NID_X25519);	/* the retried share */
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	tls_link_free(sv);
}

/* The derivations against `openssl dgst -sha256 -mac HMAC`. */
static void test_tls_derive(void **state)
{
	static const uint8_t want_psk[] = {
		0xcd, 0x69, 0x31, 0xac, 0x05, 0x8e, 0x9f, 0x29, 0x4c, 0x04, 0xc1, 0x39, 0x3a, 0x52,
		0x7c, 0x5d, 0xa8, 0x36, 0xc7, 0x55, 0x54, 0x66, 0xeb, 0x47, 0x6a, 0x79, 0x53, 0x56,
		0x5f, 0xa9, 0x46, 0x7f,
	};
	uint8_t psk[TLS_PSK_LEN];
	char id[TLS_IDENTITY_MAX];

	(void)state;
	/* printf 'hare-tls-psk\0node1' | openssl dgst -sha256 -mac HMAC -macopt key:KEY */
	assert_int_equal(tls_psk_derive(key_a, sizeof(key_a) - 1, "node1", psk), 0);
	assert_memory_equal(psk, want_psk, sizeof(psk));
	/* printf 'hare-token-id' | openssl dgst ...: 5f9723194f696649... */
	assert_int_equal(tls_token_identity(key_a, sizeof(key_a) - 1, id), 0);
	assert_string_equal(id, "t-5f9723194f696649");
	assert_int_equal(tls_psk_derive(key_a, 0, "node1", psk), -EINVAL);
	assert_int_equal(tls_token_identity(key_a, 0, id), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tls_session),
		cmocka_unit_test(test_tls_wrong_key),
		cmocka_unit_test(test_tls_unknown_identity),
		cmocka_unit_test(test_tls_altered),
		cmocka_unit_test(test_tls_not_tls),
		cmocka_unit_test(test_tls_bad_identity),
		cmocka_unit_test(test_tls_retry_request),
		cmocka_unit_test(test_tls_derive),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
