/* SPDX-License-Identifier: MIT */
/* Fuzz target for the TLS ends of hared's TCP links (tls_link.c): the first
 * byte picks the end (even: hared's server end, odd: an agent's or
 * harectl's client end, which first says its ClientHello) and the size of
 * the pieces the rest is fed in; the rest is the peer's bytes. Without the
 * key (the binder) no input may finish a handshake or yield one byte of
 * data, and the server asks for at most one key (a ClientHello may offer
 * thousands of identities), for an identity it allows. */
#include <stdint.h>
#include <string.h>

#include "tls_link.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check(int cond)
{
	if (!cond)
		__builtin_trap();
}

/* The server's keys: a fixed one, which the input does not hold (it cannot
 * make the binder), for identities ending in 9 (others have none, so that
 * OpenSSL would go on to the next identity offered). user counts the
 * calls. */
static int fuzz_psk(void *user, const char *identity, uint8_t psk[TLS_PSK_LEN])
{
	static const uint8_t key[] = "fuzz-key-not-in-the-input";
	size_t n = strlen(identity);
	int *asked = user;

	fuzz_check(++*asked == 1);
	fuzz_check(n > 0 && n < TLS_IDENTITY_MAX);
	for (size_t i = 0; i < n; i++)
		fuzz_check(identity[i] > 0x20 && identity[i] < 0x7f);
	if (identity[n - 1] != '9')
		return -1;
	return tls_psk_derive(key, sizeof(key) - 1, identity, psk);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t psk[TLS_PSK_LEN] = { 1, 2, 3 };
	struct tls_link *t = NULL;
	uint8_t out[4096];
	size_t piece, off = 1;
	int asked = 0;
	bool server;

	if (size < 1)
		return 0;
	server = (data[0] & 1) == 0;
	piece = (size_t)(data[0] >> 1) * 7 + 1;
	if ((server ? tls_link_server(fuzz_psk, &asked, &t) : tls_link_client("node1", psk, &t)) < 0)
		return 0;
	if (!server) {
		fuzz_check(tls_link_read(t, NULL, 0) == 0);
		fuzz_check(tls_link_pending(t) > 0);	/* its ClientHello */
		while (tls_link_take(t, out, sizeof(out)) > 0)
			;
	}
	while (off < size) {
		size_t k = size - off < piece ? size - off : piece;
		ssize_t r;

		fuzz_check(tls_link_feed(t, data + off, k) == 0);
		off += k;
		r = tls_link_read(t, out, sizeof(out));
		fuzz_check(r <= 0);
		fuzz_check(!tls_link_ready(t));
		while (tls_link_take(t, out, sizeof(out)) > 0)
			;
		if (r < 0) {
			/* stays failed, and writes nothing */
			fuzz_check(tls_link_read(t, out, sizeof(out)) == r || r == TLS_LINK_EOF);
			fuzz_check(tls_link_write(t, "x", 1) == TLS_LINK_FAILED);
			break;
		}
	}
	tls_link_free(t);
	return 0;
}
