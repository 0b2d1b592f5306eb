/* SPDX-License-Identifier: MIT */
/* Challenge-response with HMAC-SHA256 (OpenSSL) for agents, constant-time
 * comparisons, and secret files. */
#include "auth.h"
#include "auth_hmac.h"

#include "err.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

static int auth_read_all(int fd, uint8_t *buf, size_t cap, size_t *len)
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

int auth_secret_load(const char *path, uint8_t *buf, size_t cap, size_t *len, char *errbuf,
		     size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t n = 0;
	int rc;

	if (fd < 0) {
		rc = -errno;
		snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
		return rc;
	}
	rc = auth_read_all(fd, buf, cap, &n);
	close(fd);
	if (rc == -EFBIG) {
		snprintf(errbuf, errlen, "%s: longer than %zu bytes", path, cap - 1);
		return ERR_BAD_CONFIG;
	}
	if (rc < 0) {
		snprintf(errbuf, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' ||
			 buf[n - 1] == '\t'))
		n--;
	if (n < AUTH_SECRET_MIN) {
		snprintf(errbuf, errlen, "%s: secret is %zu bytes, need at least %d", path, n,
			 AUTH_SECRET_MIN);
		return ERR_BAD_CONFIG;
	}
	*len = n;
	return 0;
}

int auth_token_check(const char *path, const uint8_t *secret, size_t len, char *errbuf,
		     size_t errlen)
{
	if (len > AUTH_TOKEN_MAX) {
		snprintf(errbuf, errlen, "%s: the client token is %zu bytes; harectl sends at most %d",
			 path, len, AUTH_TOKEN_MAX);
		return ERR_BAD_CONFIG;
	}
	for (size_t i = 0; i < len; i++) {
		if (secret[i] == '\n' || secret[i] == '\r' || secret[i] == '\0') {
			snprintf(errbuf, errlen, "%s: the client token must be one line (a %s at byte %zu);"
				 " harectl sends only the first", path,
				 secret[i] ? "line break" : "NUL byte", i);
			return ERR_BAD_CONFIG;
		}
	}
	return 0;
}

int auth_nonce_fill(uint8_t *nonce)
{
	size_t n = 0;

	while (n < AUTH_NONCE_LEN) {
		ssize_t r = getrandom(nonce + n, AUTH_NONCE_LEN - n, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		n += (size_t)r;
	}
	return 0;
}

int auth_mac_compute(const uint8_t *key, size_t keylen, const uint8_t *nonce, size_t noncelen,
		     const char *node, uint8_t mac[AUTH_MAC_LEN])
{
	if (noncelen > AUTH_NONCE_LEN)
		return -EINVAL;
	return auth_hmac_answer(key, keylen, nonce, noncelen, node, mac);
}

int auth_proof_compute(const uint8_t *key, size_t keylen, const uint8_t *agent_nonce,
		       const uint8_t *nonce, const char *node, uint8_t proof[AUTH_MAC_LEN])
{
	return auth_hmac_proof(key, keylen, agent_nonce, nonce, node, proof);
}

bool auth_mac_verify(const uint8_t *key, size_t keylen, const uint8_t *nonce, const char *node,
		     const uint8_t *mac, size_t maclen)
{
	uint8_t want[AUTH_MAC_LEN];

	if (maclen != AUTH_MAC_LEN)
		return false;
	if (auth_mac_compute(key, keylen, nonce, AUTH_NONCE_LEN, node, want) < 0)
		return false;
	return auth_hmac_equal(want, mac, AUTH_MAC_LEN);
}

bool auth_token_equal(const uint8_t *secret, size_t len, const char *text)
{
	size_t tlen = strlen(text);
	uint8_t diff = tlen != len;

	/* Walk the secret's length whatever the guess's, so timing says
	 * nothing about how much of it matched. */
	for (size_t i = 0; i < len; i++)
		diff |= secret[i] ^ (uint8_t)(i < tlen ? text[i] : 0);
	return diff == 0;
}
