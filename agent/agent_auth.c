/* SPDX-License-Identifier: MIT */
/* The agent's side of the challenge-response: the cluster key file and
 * HMAC-SHA256(key, nonce || node) with OpenSSL. */
#include "agent.h"
#include "auth_hmac.h"

#include "err.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int agent_read_all(int fd, uint8_t *buf, size_t cap, size_t *len)
{
	size_t n = 0;

	for (;;) {
		ssize_t r = read(fd, buf + n, cap - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		n += (size_t)r;
		if (n == cap)
			return -EFBIG;
	}
	*len = n;
	return 0;
}

int agent_key_load(const char *path, uint8_t *key, size_t cap, size_t *len, bool *loose,
		   char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	size_t n = 0;
	int rc;

	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return rc;
	}
	*loose = fstat(fd, &st) == 0 && (st.st_mode & 077);
	rc = agent_read_all(fd, key, cap, &n);
	close(fd);
	if (rc == -EFBIG) {
		snprintf(err, errlen, "%s: longer than %zu bytes", path, cap - 1);
		return ERR_BAD_CONFIG;
	}
	if (rc < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	while (n > 0 && key[n - 1] != 0 && strchr("\n\r\t ", key[n - 1]))
		n--;
	if (n < AGENT_KEY_MIN) {
		snprintf(err, errlen, "%s: key is %zu bytes, need at least %d", path, n, AGENT_KEY_MIN);
		return ERR_BAD_CONFIG;
	}
	*len = n;
	return 0;
}

bool agent_auth_proof_ok(const uint8_t *key, size_t keylen, const uint8_t *agent_nonce,
			 const uint8_t *nonce, const char *node, bool tags, const uint8_t *proof,
			 size_t prooflen)
{
	uint8_t want[AGENT_MAC_LEN];

	if (prooflen != AGENT_MAC_LEN || strlen(node) >= AGENT_NAME_MAX || keylen > AGENT_KEY_MAX)
		return false;
	return auth_hmac_proof(key, keylen, agent_nonce, nonce, node, tags, want) == 0 &&
	       auth_hmac_equal(want, proof, AGENT_MAC_LEN);
}

int agent_auth_mac(const uint8_t *key, size_t keylen, const uint8_t *nonce, size_t noncelen,
		   const char *node, uint8_t mac[AGENT_MAC_LEN])
{
	if (noncelen > 256 || strlen(node) >= AGENT_NAME_MAX || keylen > AGENT_KEY_MAX)
		return -EINVAL;
	return auth_hmac_answer(key, keylen, nonce, noncelen, node, mac);
}
