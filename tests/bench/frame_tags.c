/* SPDX-License-Identifier: MIT */
/* The cost of a frame's tag (auth_hmac_frame, HMAC-SHA256 with a session
 * key made once) next to the same HMAC keyed for each frame (OpenSSL's
 * one-shot HMAC(), as tags were made before), for a round report's size and
 * larger frames, side by side in one run. Prints a table of microseconds
 * per tag. */
#include "auth_hmac.h"

#include <math.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
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

/* Microseconds per tag of a len-byte payload, n tags, keyed once. */
static double tag_once(struct auth_hmac_key *k, const uint8_t *p, size_t len, int n)
{
	uint8_t out[AUTH_HMAC_LEN];
	double t0 = now_s();

	for (int i = 0; i < n; i++)
		if (auth_hmac_frame(k, (uint64_t)i, p, len, out) < 0)
			return -1;
	return (now_s() - t0) / n * 1e6;
}

/* ... keyed for each frame (seq || payload in one buffer, as the tag's
 * message is). */
static double tag_each(const uint8_t *key, uint8_t *msg, size_t len, int n)
{
	uint8_t out[AUTH_HMAC_LEN];
	unsigned int ol = 0;
	double t0 = now_s();

	for (int i = 0; i < n; i++) {
		msg[7] = (uint8_t)i;
		if (!HMAC(EVP_sha256(), key, AUTH_HMAC_LEN, msg, 8 + len, out, &ol))
			return -1;
	}
	return (now_s() - t0) / n * 1e6;
}

int main(void)
{
	static const size_t sizes[] = { 48, 1024, 65536 };
	uint8_t key[AUTH_HMAC_LEN] = { 7, 1, 3 };
	struct auth_hmac_key *k;

	if (auth_hmac_key_new(key, &k) < 0) {
		fprintf(stderr, "frame_tags: cannot make a key\n");
		return 1;
	}
	printf("frame tags, HMAC-SHA256 (microseconds per tag)\n");
	printf("%-14s %14s %14s %8s\n", "payload bytes", "keyed once", "keyed per frame", "ratio");
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		size_t len = sizes[s];
		int n = len > 4096 ? 20000 : 1000000;
		uint8_t *msg = calloc(1, 8 + len);
		double once, each;

		if (!msg)
			return 1;
		memset(msg + 8, 0x5a, len);
		/* alternate, and keep the better of two of each: the machine is noisy */
		once = tag_once(k, msg + 8, len, n);
		each = tag_each(key, msg, len, n);
		once = fmin(once, tag_once(k, msg + 8, len, n));
		each = fmin(each, tag_each(key, msg, len, n));
		printf("%-14zu %14.3f %14.3f %8.2f\n", len, once, each, each / once);
		free(msg);
	}
	auth_hmac_key_free(k);
	return 0;
}
