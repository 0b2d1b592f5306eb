/* SPDX-License-Identifier: MIT */
#include "auth_hmac.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static int auth_hmac(const uint8_t *key, size_t keylen, const uint8_t *msg, size_t n,
		     uint8_t out[AUTH_HMAC_LEN])
{
	unsigned int len = 0;

	if (keylen == 0 || keylen > (size_t)INT32_MAX ||	/* no key is no secret */
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

/* label (with its NUL) || agent_nonce || nonce || node, as the proof and
 * the session key are made */
static int auth_hmac_labelled(const char *label, const uint8_t *key, size_t keylen,
			      const uint8_t *agent_nonce, const uint8_t *nonce, const char *node,
			      uint8_t out[AUTH_HMAC_LEN])
{
	uint8_t msg[16 + 2 * AUTH_HMAC_NONCE + AUTH_HMAC_PART_MAX];
	size_t nodelen = strlen(node), ll = strlen(label) + 1, n = 0;

	if (nodelen > AUTH_HMAC_PART_MAX || ll > 16)
		return -EINVAL;
	memcpy(msg, label, ll);
	n += ll;
	memcpy(msg + n, agent_nonce, AUTH_HMAC_NONCE);
	n += AUTH_HMAC_NONCE;
	memcpy(msg + n, nonce, AUTH_HMAC_NONCE);
	n += AUTH_HMAC_NONCE;
	memcpy(msg + n, node, nodelen);
	return auth_hmac(key, keylen, msg, n + nodelen, out);
}

int auth_hmac_proof(const uint8_t *key, size_t keylen, const uint8_t *agent_nonce,
		    const uint8_t *nonce, const char *node, bool tags, uint8_t out[AUTH_HMAC_LEN])
{
	return auth_hmac_labelled(tags ? "hared+tags" : "hared", key, keylen, agent_nonce, nonce,
				  node, out);
}

int auth_hmac_session(const uint8_t *key, size_t keylen, const uint8_t *agent_nonce,
		      const uint8_t *nonce, const char *node, uint8_t out[AUTH_HMAC_LEN])
{
	return auth_hmac_labelled("session", key, keylen, agent_nonce, nonce, node, out);
}

int auth_hmac_agent_session(const uint8_t *key, size_t keylen, const uint8_t *agent_nonce,
			    const uint8_t *nonce, const char *node, uint8_t out[AUTH_HMAC_LEN])
{
	return auth_hmac_labelled("agent-session", key, keylen, agent_nonce, nonce, node, out);
}

struct auth_hmac_key {
	EVP_MAC_CTX *ctx;	/* keyed with the session; initialised again per frame */
};

static pthread_once_t auth_hmac_once = PTHREAD_ONCE_INIT;
static EVP_MAC *auth_hmac_mac;	/* HMAC, fetched once for every key */

static void auth_hmac_fetch(void)
{
	auth_hmac_mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

int auth_hmac_key_new(const uint8_t session[AUTH_HMAC_LEN], struct auth_hmac_key **out)
{
	OSSL_PARAM params[] = { OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
				OSSL_PARAM_construct_end() };
	struct auth_hmac_key *k;
	EVP_MAC *mac;

	*out = NULL;
	pthread_once(&auth_hmac_once, auth_hmac_fetch);
	mac = auth_hmac_mac;
	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	k->ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
	if (!k->ctx || !EVP_MAC_init(k->ctx, session, AUTH_HMAC_LEN, params)) {
		auth_hmac_key_free(k);
		return -EIO;
	}
	*out = k;
	return 0;
}

void auth_hmac_key_free(struct auth_hmac_key *k)
{
	if (!k)
		return;
	EVP_MAC_CTX_free(k->ctx);	/* clears what it holds of the key */
	free(k);
}

int auth_hmac_frame(struct auth_hmac_key *k, uint64_t seq, const uint8_t *payload, size_t len,
		    uint8_t out[AUTH_HMAC_LEN])
{
	uint8_t be[8];
	size_t outl = 0;

	for (int i = 0; i < 8; i++)
		be[i] = (uint8_t)(seq >> (56 - 8 * i));
	/* init without a key starts a new MAC with the key set before */
	return k && EVP_MAC_init(k->ctx, NULL, 0, NULL) && EVP_MAC_update(k->ctx, be, sizeof(be)) &&
	       EVP_MAC_update(k->ctx, payload, len) &&
	       EVP_MAC_final(k->ctx, out, &outl, AUTH_HMAC_LEN) && outl == AUTH_HMAC_LEN ? 0 : -EIO;
}

bool auth_hmac_frame_ok(struct auth_hmac_key *k, uint64_t seq, const uint8_t *payload, size_t len)
{
	uint8_t want[AUTH_HMAC_LEN];

	return len >= AUTH_HMAC_LEN &&
	       auth_hmac_frame(k, seq, payload, len - AUTH_HMAC_LEN, want) == 0 &&
	       auth_hmac_equal(want, payload + len - AUTH_HMAC_LEN, AUTH_HMAC_LEN);
}

bool auth_hmac_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) == 0;
}
