/* SPDX-License-Identifier: MIT */
/* What TLS (tls_link.c) costs on hared's TCP links, side by side in one
 * run, both ends in this process (the bytes moved by hand, no sockets):
 * - per frame: the HMAC tag made and checked (what a session in the clear
 *   pays), a TLS record encrypted and decrypted, and both (a session in TLS,
 *   whose frames are tagged inside it), for a round report's 48 bytes, 1 KiB
 *   and 64 KiB;
 * - per session: a whole handshake (PSK with X25519), and the memory one
 *   idle established session holds at each end.
 * Prints tables; the better of two runs of each is kept (a noisy machine). */
#include "auth_hmac.h"
#include "tls_link.h"

#include <malloc.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const uint8_t key[] = "bench-key-bench-key-bench-key";

static int find(void *user, const char *identity, uint8_t psk[TLS_PSK_LEN])
{
	(void)user;
	return tls_psk_derive(key, sizeof(key) - 1, identity, psk);
}

static uint8_t wire[1 << 18];

/* Move what from has for its peer into to. */
static int relay(struct tls_link *from, struct tls_link *to)
{
	size_t n;

	while ((n = tls_link_take(from, wire, sizeof(wire))) > 0)
		if (tls_link_feed(to, wire, n) < 0)
			return -1;
	return 0;
}

/* A client and a server end with their handshake done: 0 or -1. */
static int pair(struct tls_link **cl, struct tls_link **sv)
{
	uint8_t psk[TLS_PSK_LEN];

	if (tls_psk_derive(key, sizeof(key) - 1, "node1", psk) < 0 ||
	    tls_link_client("node1", psk, cl) < 0 || tls_link_server(find, NULL, sv) < 0)
		return -1;
	for (int i = 0; i < 4 && !(tls_link_ready(*cl) && tls_link_ready(*sv)); i++) {
		if (tls_link_read(*cl, NULL, 0) < 0 || relay(*cl, *sv) < 0 ||
		    tls_link_read(*sv, NULL, 0) < 0 || relay(*sv, *cl) < 0)
			return -1;
	}
	return tls_link_ready(*cl) && tls_link_ready(*sv) ? 0 : -1;
}

/* Microseconds per frame of len bytes (p has room for its tag after
 * them), tagged and checked. */
static double per_tag(struct auth_hmac_key *k, uint8_t *p, size_t len, int n)
{
	double t0 = now_s();

	for (int i = 0; i < n; i++)
		if (auth_hmac_frame(k, (uint64_t)i, p, len, p + len) < 0 ||
		    !auth_hmac_frame_ok(k, (uint64_t)i, p, len + AUTH_HMAC_LEN))
			return -1;
	return (now_s() - t0) / n * 1e6;
}

/* ... encrypted at cl and decrypted at sv (tags: tagged before and checked
 * after, its tag in the record). */
static double per_record(struct tls_link *cl, struct tls_link *sv, struct auth_hmac_key *k,
			 uint8_t *p, size_t len, uint8_t *back, int n, bool tags)
{
	size_t all = len + (tags ? AUTH_HMAC_LEN : 0);
	double t0 = now_s();

	for (int i = 0; i < n; i++) {
		size_t got = 0;

		if (tags && auth_hmac_frame(k, (uint64_t)i, p, len, p + len) < 0)
			return -1;
		if (tls_link_write(cl, p, all) < 0 || relay(cl, sv) < 0)
			return -1;
		while (got < all) {
			ssize_t r = tls_link_read(sv, back + got, all - got);

			if (r <= 0)
				return -1;
			got += (size_t)r;
		}
		if (tags && !auth_hmac_frame_ok(k, (uint64_t)i, back, all))
			return -1;
	}
	return (now_s() - t0) / n * 1e6;
}

/* Microseconds per whole handshake, n of them. */
static double per_handshake(int n)
{
	double t0 = now_s();

	for (int i = 0; i < n; i++) {
		struct tls_link *cl = NULL, *sv = NULL;
		int rc = pair(&cl, &sv);

		tls_link_free(cl);
		tls_link_free(sv);
		if (rc < 0)
			return -1;
	}
	return (now_s() - t0) / n * 1e6;
}

/* Bytes of heap one established, idle pair holds (mallinfo2 over n pairs). */
static double per_session_bytes(int n)
{
	struct tls_link **cl = calloc((size_t)n, sizeof(*cl)), **sv = calloc((size_t)n, sizeof(*sv));
	struct mallinfo2 a, b;
	double bytes = -1;
	int i;

	if (!cl || !sv)
		goto out;
	a = mallinfo2();
	for (i = 0; i < n; i++)
		if (pair(&cl[i], &sv[i]) < 0)
			goto out;
	b = mallinfo2();
	bytes = (double)(b.uordblks - a.uordblks) / n;
out:
	for (i = 0; cl && sv && i < n; i++) {
		tls_link_free(cl[i]);
		tls_link_free(sv[i]);
	}
	free(cl);
	free(sv);
	return bytes;
}

int main(void)
{
	static const size_t sizes[] = { 48, 1024, 65536 };
	uint8_t skey[AUTH_HMAC_LEN] = { 7, 1, 3 };
	struct auth_hmac_key *k = NULL;
	struct tls_link *cl = NULL, *sv = NULL;
	uint8_t *p = malloc(65536 + AUTH_HMAC_LEN), *back = malloc(65536 + AUTH_HMAC_LEN);
	double hs, mem;

	if (!p || !back || auth_hmac_key_new(skey, &k) < 0 || pair(&cl, &sv) < 0) {
		fprintf(stderr, "tls_cost: cannot set up\n");
		return 1;
	}
	memset(p, 0x5a, 65536);
	printf("per frame, both ends (microseconds): made and read\n");
	printf("%-14s %12s %12s %14s %8s\n", "payload bytes", "tag (clear)", "TLS record",
	       "TLS + tag", "ratio");
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		size_t len = sizes[s];
		int n = len > 4096 ? 5000 : 200000;
		double tag = per_tag(k, p, len, n), rec = per_record(cl, sv, k, p, len, back, n, false);
		double both = per_record(cl, sv, k, p, len, back, n, true);

		tag = fmin(tag, per_tag(k, p, len, n));
		rec = fmin(rec, per_record(cl, sv, k, p, len, back, n, false));
		both = fmin(both, per_record(cl, sv, k, p, len, back, n, true));
		if (tag < 0 || rec < 0 || both < 0) {
			fprintf(stderr, "tls_cost: a frame failed\n");
			return 1;
		}
		printf("%-14zu %12.3f %12.3f %14.3f %8.2f\n", len, tag, rec, both, both / tag);
	}
	hs = fmin(per_handshake(500), per_handshake(500));
	mem = per_session_bytes(1000);
	printf("\nper session\n");
	printf("%-44s %10.1f\n", "handshake, both ends (microseconds)", hs);
	printf("%-44s %10.0f\n", "heap of an idle session, both ends (bytes)", mem);
	tls_link_free(cl);
	tls_link_free(sv);
	auth_hmac_key_free(k);
	free(p);
	free(back);
	return hs > 0 && mem > 0 ? 0 : 1;
}
