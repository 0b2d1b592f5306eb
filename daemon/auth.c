/* SPDX-License-Identifier: MIT */
/* Challenge-response with HMAC-SHA256 (OpenSSL) for agents, constant-time
 * comparisons, and secret files. */
#include "auth.h"
#include "auth_hmac.h"

#include "err.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
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

/* The secret in fd (path names it in errors): trailing whitespace
 * removed, at least AUTH_SECRET_MIN bytes. */
static int auth_secret_read(int fd, const char *path, uint8_t *buf, size_t cap, size_t *len,
			    char *errbuf, size_t errlen)
{
	size_t n = 0;
	int rc = auth_read_all(fd, buf, cap, &n);

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

int auth_secret_load(const char *path, uint8_t *buf, size_t cap, size_t *len, char *errbuf,
		     size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc;

	if (fd < 0) {
		rc = -errno;
		snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
		return rc;
	}
	rc = auth_secret_read(fd, path, buf, cap, len, errbuf, errlen);
	close(fd);
	return rc;
}

int auth_node_key_load(const char *dir, const char *node, uint8_t *buf, size_t cap, size_t *len,
		       bool *loose, char *errbuf, size_t errlen)
{
	char name[300];
	struct stat st;
	int dfd, fd, rc;

	*loose = false;
	if (!node[0] || strchr(node, '/') ||
	    snprintf(name, sizeof(name), "%s.key", node) >= (int)sizeof(name)) {
		snprintf(errbuf, errlen, "%s/%s.key: not a usable file name", dir, node);
		return -EINVAL;
	}
	/* the folder first: one that is gone (renamed, a typo after a reload)
	 * is an error, not "no key of its own here" */
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		rc = -errno;
		snprintf(errbuf, errlen, "agent_keys_dir %s: %s", dir, strerror(errno));
		return rc == -ENOENT ? -ENOTDIR : rc;
	}
	/* a regular file itself, not a link to one (the cluster key, say) nor
	 * a device or FIFO, which opening could act on or block on */
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		rc = -errno;
		snprintf(errbuf, errlen, "%s/%s: %s", dir, name, strerror(errno));
		close(dfd);
		return rc;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(errbuf, errlen, "%s/%s: %s", dir, name, S_ISLNK(st.st_mode) ?
			 "a symbolic link, not a file of its own: put the key itself there" :
			 "not a regular file");
		close(dfd);
		return ERR_BAD_CONFIG;
	}
	fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | O_NOFOLLOW);
	rc = fd < 0 ? -errno : 0;
	close(dfd);
	if (fd < 0) {
		snprintf(errbuf, errlen, "%s/%s: %s", dir, name, strerror(-rc));
		return rc == -ENOENT ? -EAGAIN : rc;	/* gone since: not "none" */
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(errbuf, errlen, "%s/%s: not a regular file", dir, name);
		close(fd);
		return ERR_BAD_CONFIG;
	}
	/* a file with another name too (a hard link to the cluster key, say)
	 * is not the node's own */
	if (st.st_nlink != 1) {
		snprintf(errbuf, errlen, "%s/%s: has other names (hard links): give the node a file "
			 "of its own", dir, name);
		close(fd);
		return ERR_BAD_CONFIG;
	}
	*loose = (st.st_mode & 077) != 0;
	{
		char path[4400];

		snprintf(path, sizeof(path), "%.4000s/%s", dir, name);
		rc = auth_secret_read(fd, path, buf, cap, len, errbuf, errlen);
	}
	close(fd);
	return rc;
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

bool auth_mac_matches(const uint8_t want[AUTH_MAC_LEN], const uint8_t *mac, size_t maclen)
{
	return maclen == AUTH_MAC_LEN && auth_hmac_equal(want, mac, AUTH_MAC_LEN);
}

static bool auth_user_name_ok(const char *s, size_t n)
{
	if (n == 0 || n > AUTH_USER_NAME_MAX || !((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyz0123456789_.-", s[i]))
			return false;
	return true;
}

/* Names hared gives others: root (uid 0 on the socket), remote (the shared
 * token's clients), uid and digits (a uid without a passwd entry). */
static bool auth_user_name_taken(const char *name)
{
	const char *p = name + 3;

	if (strcmp(name, "root") == 0 || strcmp(name, "remote") == 0)
		return true;
	if (strncmp(name, "uid", 3) != 0 || !*p)
		return false;
	return strspn(p, "0123456789") == strlen(p);
}

static int auth_users_line(const char *path, uint32_t line, char *text, struct auth_user *u,
			   char *errbuf, size_t errlen)
{
	char *name = text + strspn(text, " \t"), *tok;
	size_t nl = strcspn(name, " \t"), tl;

	tok = name + nl + strspn(name + nl, " \t");
	tl = strcspn(tok, " \t");
	if (!nl || !tl || tok[tl + strspn(tok + tl, " \t")]) {
		snprintf(errbuf, errlen, "%s:%u: expected NAME TOKEN", path, line);
		return ERR_BAD_CONFIG;
	}
	name[nl] = '\0';
	if (!auth_user_name_ok(name, nl) || auth_user_name_taken(name)) {
		snprintf(errbuf, errlen, "%s:%u: '%.40s' is not a name a remote client may have (an "
			 "account name, a-z 0-9 _ . -, not root, remote nor uidN)", path, line, name);
		return ERR_BAD_CONFIG;
	}
	if (tl < AUTH_SECRET_MIN || tl > AUTH_TOKEN_MAX) {
		snprintf(errbuf, errlen, "%s:%u: %s's token is %zu bytes; want %d to %d", path, line,
			 name, tl, AUTH_SECRET_MIN, AUTH_TOKEN_MAX);
		return ERR_BAD_CONFIG;
	}
	memcpy(u->name, name, nl + 1);
	memcpy(u->token, tok, tl);
	u->len = tl;
	return 0;
}

int auth_users_load(const char *path, struct auth_user **users, uint32_t *n, char *errbuf,
		    size_t errlen)
{
	FILE *f = fopen(path, "re");
	struct auth_user *v = NULL;
	char buf[AUTH_TOKEN_MAX + 128];
	uint32_t line = 0, k = 0, cap = 0;
	int rc = 0;

	*users = NULL;
	*n = 0;
	if (!f) {
		rc = -errno;
		snprintf(errbuf, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	while (rc == 0 && fgets(buf, sizeof(buf), f)) {
		size_t len = strlen(buf);

		line++;
		if (len == sizeof(buf) - 1 && buf[len - 1] != '\n') {
			snprintf(errbuf, errlen, "%s:%u: line too long", path, line);
			rc = ERR_BAD_CONFIG;
			break;
		}
		buf[strcspn(buf, "\r\n")] = '\0';
		if (buf[strspn(buf, " \t")] == '\0' || buf[strspn(buf, " \t")] == '#')
			continue;
		if (k == AUTH_USERS_MAX) {
			snprintf(errbuf, errlen, "%s:%u: more than %d users", path, line, AUTH_USERS_MAX);
			rc = ERR_BAD_CONFIG;
			break;
		}
		if (k == cap) {
			struct auth_user *w = realloc(v, (cap ? 2 * cap : 8) * sizeof(*v));

			if (!w) {
				rc = -ENOMEM;
				break;
			}
			v = w;
			cap = cap ? 2 * cap : 8;
		}
		rc = auth_users_line(path, line, buf, &v[k], errbuf, errlen);
		for (uint32_t i = 0; rc == 0 && i < k; i++) {
			if (strcmp(v[i].name, v[k].name) == 0 ||
			    (v[i].len == v[k].len && memcmp(v[i].token, v[k].token, v[k].len) == 0)) {
				snprintf(errbuf, errlen, "%s:%u: %s's %s given before", path, line,
					 v[k].name, strcmp(v[i].name, v[k].name) ? "token was" : "name was");
				rc = ERR_BAD_CONFIG;
			}
		}
		if (rc == 0)
			k++;
	}
	if (rc == 0 && ferror(f)) {
		rc = -EIO;
		snprintf(errbuf, errlen, "%s: cannot read", path);
	}
	fclose(f);
	memset(buf, 0, sizeof(buf));
	if (rc < 0) {	/* ERR_BAD_CONFIG too */
		if (rc == -ENOMEM)
			snprintf(errbuf, errlen, "%s: out of memory", path);
		if (v)
			memset(v, 0, cap * sizeof(*v));	/* the tokens */
		free(v);
		return rc;
	}
	*users = v;
	*n = k;
	return 0;
}

int auth_users_find(const struct auth_user *users, uint32_t n, const char *text)
{
	int found = -1;

	for (uint32_t i = 0; i < n; i++)
		if (auth_token_equal(users[i].token, users[i].len, text) && found < 0)
			found = (int)i;
	return found;
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
