/* SPDX-License-Identifier: MIT */
/* Agent authentication: a random challenge answered with
 * HMAC-SHA256(cluster key, nonce || node name), compared in constant time;
 * plus loading of the key and client token files. */
#ifndef HARE_DAEMON_AUTH_H
#define HARE_DAEMON_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUTH_NONCE_LEN 32
#define AUTH_MAC_LEN 32
#define AUTH_SECRET_MAX 4096
#define AUTH_SECRET_MIN 16
#define AUTH_TOKEN_MAX 1024		/* longest client token harectl sends */

/* Read a secret (cluster key or client token) from path into buf (cap
 * bytes): the file's bytes with trailing whitespace (newlines) removed.
 * Refuses an empty or too short (< AUTH_SECRET_MIN bytes) or too long
 * secret. 0, -errno, or ERR_BAD_CONFIG; errbuf says "path: reason". */
int auth_secret_load(const char *path, uint8_t *buf, size_t cap, size_t *len, char *errbuf,
		     size_t errlen);

/* A node's own key, dir/node.key (agent_keys_dir), read as a secret is;
 * node has no '/'. Only a regular file is opened (not a link, without
 * blocking); loose: the file is readable by group or others. 0, -ENOENT
 * (the folder has no such file: the node has no key of its own),
 * -ENOTDIR (no such folder), another -errno, or ERR_BAD_CONFIG; errbuf
 * says "path: reason". */
int auth_node_key_load(const char *dir, const char *node, uint8_t *buf, size_t cap, size_t *len,
		       bool *loose, char *errbuf, size_t errlen);

/* A client token is one line of text of at most AUTH_TOKEN_MAX bytes
 * (harectl sends its token file's first line, up to that length): 0, or
 * ERR_BAD_CONFIG with "path: reason" for a secret no client could send. */
int auth_token_check(const char *path, const uint8_t *secret, size_t len, char *errbuf,
		     size_t errlen);

/* Fill nonce with AUTH_NONCE_LEN random bytes (getrandom). 0 or -errno. */
int auth_nonce_fill(uint8_t *nonce);

/* mac = HMAC-SHA256(key, nonce || node). 0, or -EIO if OpenSSL fails. */
int auth_mac_compute(const uint8_t *key, size_t keylen, const uint8_t *nonce, size_t noncelen,
		     const char *node, uint8_t mac[AUTH_MAC_LEN]);

/* Is mac (maclen bytes, from the agent) the answer want (auth_mac_compute,
 * made when the challenge was)? Compared in constant time; a wrong length
 * is false. */
bool auth_mac_matches(const uint8_t want[AUTH_MAC_LEN], const uint8_t *mac, size_t maclen);

/* Does text equal the secret (len bytes)? Constant time in the secret's
 * length. */
bool auth_token_equal(const uint8_t *secret, size_t len, const char *text);

#define AUTH_USERS_MAX 4096		/* lines of client_users_file */
#define AUTH_USER_NAME_MAX 31

/* A remote client's own token (client_users_file): it acts as name. */
struct auth_user {
	char name[AUTH_USER_NAME_MAX + 1];
	uint8_t token[AUTH_TOKEN_MAX];
	size_t len;
};

/*
 * Read client_users_file: one "NAME TOKEN" a line (blank lines and lines
 * beginning with '#' skipped). NAME is an account name (a-z, 0-9, '_', '.',
 * '-'; a letter or '_' first; at most 31 bytes), not root nor a name hared
 * gives others (remote, uid and digits); TOKEN, 16 to AUTH_TOKEN_MAX bytes
 * without blanks. Names and tokens must be distinct. 0 with *users
 * (free()) and *n, -errno, or ERR_BAD_CONFIG with "path:line: reason".
 */
int auth_users_load(const char *path, struct auth_user **users, uint32_t *n, char *errbuf,
		    size_t errlen);

/* Index of the user whose token text is, or -1; every token is compared,
 * in constant time each, whichever matches. */
int auth_users_find(const struct auth_user *users, uint32_t n, const char *text);

#endif
