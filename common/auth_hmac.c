/* SPDX-License-Identifier: MIT */
#include "auth_hmac.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

static int auth_hmac(const uint8_t *key, size_t keylen, const uint8_t *msg, size_t n,
		     uint8_t out[AUTH_HMAC_LEN])
{
	unsigned int len = 0;

	if (keylen > (size_t)INT32_MAX ||
	    !HMAC(EVP_sha256(), key, (int)keylen, msg, n, out, &len) || len != AUTH_HMAC_LEN)
		return -EIO;
	return 0;
}

int auth_hmac_answer(const uint8_t *key, size_t keylen, const uint8_t *nonce, size_t noncelen,
		     const char *node, uint8_t out[AUTH_HMAC_LEN])
{
	uint8_t msg[2 * AUTH_HMAC_PART_MAX];
	size_t nodelen = strlen(node);

	if (noncelen > AUTH_HMAC_PART_MAX || nodelen > AUTH_HMAC_PART_MAX)
		return -EINVAL;
	memcpy(msg, nonce, noncelen);
	memcpy(msg + noncelen, node, nodelen);
	return auth_hmac(key, keylen, msg, noncelen + nodelen, out);
}

int auth_hmac_proof(const uint8_t *key, size_t keylen, const uint8_t *agent_nonce,
		    const uint8_t *nonce, const char *node, uint8_t out[AUTH_HMAC_LEN])
{
	static const char label[] = "hared";	/* with its NUL */
	uint8_t msg[sizeof(label) + 2 * AUTH_HMAC_NONCE + AUTH_HMAC_PART_MAX];
	size_t nodelen = strlen(node), n = 0;

	if (nodelen > AUTH_HMAC_PART_MAX)
		return -EINVAL;
	memcpy(msg, label, sizeof(label));
	n += sizeof(label);
	memcpy(msg + n, agent_nonce, AUTH_HMAC_NONCE);
	n += AUTH_HMAC_NONCE;
	memcpy(msg + n, nonce, AUTH_HMAC_NONCE);
	n += AUTH_HMAC_NONCE;
	memcpy(msg + n, node, nodelen);
	return auth_hmac(key, keylen, msg, n + nodelen, out);
}

bool auth_hmac_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) == 0;
}
