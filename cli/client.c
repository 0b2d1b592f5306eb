/* SPDX-License-Identifier: MIT */
/* Client side of a hared session: unix or TCP connect with a deadline, the
 * Hello/Welcome handshake, and whole-envelope send/receive using poll. */
#include "client.h"

#include "err.h"
#include "frame.h"
#include "tls_link.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static uint32_t cli_timeout(uint32_t timeout_ms)
{
	return timeout_ms ? timeout_ms : CLI_TIMEOUT_MS_DEFAULT;
}

static int64_t cli_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait until fd is ready for events or the deadline passes: 0, -ETIMEDOUT,
 * or -errno. */
static int cli_wait(int fd, short events, int64_t deadline_ms)
{
	struct pollfd p = { .fd = fd, .events = events };

	for (;;) {
		int64_t left = deadline_ms - cli_now_ms();
		int rc;

		if (left <= 0)
			return -ETIMEDOUT;
		rc = poll(&p, 1, left > 60000 ? 60000 : (int)left);
		if (rc > 0)
			return 0;
		if (rc < 0 && errno != EINTR)
			return -errno;
	}
}

static int cli_write_raw(int fd, const uint8_t *p, size_t n, int64_t deadline_ms)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		int rc;

		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return -errno;
		rc = cli_wait(fd, POLLOUT, deadline_ms);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Read what the socket has (waiting for some): the count, -ECONNRESET at
 * end of stream, -ETIMEDOUT, -errno. */
static ssize_t cli_read_some(int fd, uint8_t *p, size_t n, int64_t deadline_ms)
{
	for (;;) {
		ssize_t r = read(fd, p, n);
		int rc;

		if (r > 0)
			return r;
		if (r == 0)
			return -ECONNRESET;
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return -errno;
		rc = cli_wait(fd, POLLIN, deadline_ms);
		if (rc < 0)
			return rc;
	}
}

/* Send what the TLS session has for hared. */
static int cli_tls_flush(struct cli_conn *c, int64_t deadline_ms)
{
	uint8_t buf[16384];
	size_t n;
	int rc = 0;

	while (rc == 0 && (n = tls_link_take(c->tls, buf, sizeof(buf))) > 0)
		rc = cli_write_raw(c->fd, buf, n, deadline_ms);
	return rc;
}

/* More of the TLS session: what it decrypts is appended to c->in. 0 (some
 * came), -EPROTO (TLS failed), -ECONNRESET, -ETIMEDOUT, -errno. */
static int cli_tls_more(struct cli_conn *c, int64_t deadline_ms)
{
	uint8_t raw[16384];
	ssize_t r;
	int rc;

	for (;;) {
		if (c->off == c->len)
			c->off = c->len = 0;
		if (c->cap - c->len < sizeof(raw)) {
			uint8_t *in = realloc(c->in, c->len + sizeof(raw));

			if (!in)
				return -ENOMEM;
			c->in = in;
			c->cap = c->len + sizeof(raw);
		}
		r = tls_link_read(c->tls, c->in + c->len, c->cap - c->len);
		rc = cli_tls_flush(c, deadline_ms);
		if (r > 0) {
			c->len += (size_t)r;
			return 0;
		}
		if (r == TLS_LINK_EOF)
			return -ECONNRESET;
		if (r < 0)
			return -EPROTO;
		if (rc < 0)
			return rc;
		r = cli_read_some(c->fd, raw, sizeof(raw), deadline_ms);
		if (r < 0)
			return (int)r;
		if (tls_link_feed(c->tls, raw, (size_t)r) < 0)
			return -ENOMEM;
	}
}

static int cli_write_all(struct cli_conn *c, const uint8_t *p, size_t n, int64_t deadline_ms)
{
	if (!c->tls)
		return cli_write_raw(c->fd, p, n, deadline_ms);
	if (tls_link_write(c->tls, p, n) < 0)
		return -EPROTO;
	return cli_tls_flush(c, deadline_ms);
}

/* Read exactly n bytes: 0, -ECONNRESET on end of stream, -ETIMEDOUT, -errno. */
static int cli_read_all(struct cli_conn *c, uint8_t *p, size_t n, int64_t deadline_ms)
{
	while (n > 0) {
		ssize_t r;
		size_t k;

		if (!c->tls) {
			r = cli_read_some(c->fd, p, n, deadline_ms);
			if (r < 0)
				return (int)r;
			p += r;
			n -= (size_t)r;
			continue;
		}
		if (c->off == c->len) {
			int rc = cli_tls_more(c, deadline_ms);

			if (rc < 0)
				return rc;
			continue;
		}
		k = c->len - c->off < n ? c->len - c->off : n;
		memcpy(p, c->in + c->off, k);
		c->off += k;
		p += k;
		n -= k;
	}
	return 0;
}

static void cli_io_error(int rc, uint32_t timeout_ms, const char *what, char *errbuf, size_t errlen)
{
	if (rc == -ETIMEDOUT)
		snprintf(errbuf, errlen, "no %s from hared within %g s (see --timeout)", what,
			 timeout_ms / 1000.0);
	else if (rc == -ECONNRESET || rc == -EPIPE)
		snprintf(errbuf, errlen, "hared closed the connection");
	else if (rc == -EPROTO)
		snprintf(errbuf, errlen, "the TLS session with hared failed");
	else
		snprintf(errbuf, errlen, "talking to hared: %s", strerror(-rc));
}

int cli_client_send(struct cli_conn *c, const Hare__ToDaemon *m, uint32_t timeout_ms, char *errbuf, size_t errlen)
{
	uint8_t *buf;
	size_t len;
	int rc;

	timeout_ms = cli_timeout(timeout_ms);
	rc = wire_encode_to_daemon(m, 0, &buf, &len);
	if (rc < 0) {
		snprintf(errbuf, errlen, "cannot encode the request: %s", err_str(rc));
		return rc;
	}
	rc = cli_write_all(c, buf, len, cli_now_ms() + timeout_ms);
	free(buf);
	if (rc < 0)
		cli_io_error(rc, timeout_ms, "room to send", errbuf, errlen);
	return rc;
}

int cli_client_recv(struct cli_conn *c, uint32_t timeout_ms, Hare__FromDaemon **out, char *errbuf, size_t errlen)
{
	int64_t deadline;
	uint8_t hdr[WIRE_HEADER_LEN];
	uint8_t *payload;
	uint32_t plen;
	int rc;

	timeout_ms = cli_timeout(timeout_ms);
	deadline = cli_now_ms() + timeout_ms;
	rc = cli_read_all(c, hdr, sizeof(hdr), deadline);
	if (rc < 0) {
		cli_io_error(rc, timeout_ms, "reply", errbuf, errlen);
		return rc;
	}
	plen = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
	if (plen > WIRE_FRAME_MAX_DEFAULT) {
		bool text = true;

		for (size_t i = 0; i < sizeof(hdr); i++)
			text = text && hdr[i] >= 0x20 && hdr[i] < 0x7f;
		/* "HTTP", "SSH-": not hared at the other end */
		if (text)
			snprintf(errbuf, errlen, "the peer answered with text ('%c%c%c%c...'), not "
				 "hared's frames: is that address hared's socket or client_listen "
				 "port?", hdr[0], hdr[1], hdr[2], hdr[3]);
		else
			snprintf(errbuf, errlen, "reply from hared too large (%u bytes, limit %u)",
				 plen, WIRE_FRAME_MAX_DEFAULT);
		return ERR_FRAME_TOO_BIG;
	}
	payload = malloc(plen ? plen : 1);
	if (!payload) {
		snprintf(errbuf, errlen, "out of memory");
		return -ENOMEM;
	}
	rc = cli_read_all(c, payload, plen, deadline);
	if (rc < 0)
		cli_io_error(rc, timeout_ms, "reply", errbuf, errlen);
	else if ((rc = wire_decode_from_daemon(payload, plen, out)) < 0)
		snprintf(errbuf, errlen, "malformed reply from hared (%u bytes)", plen);
	free(payload);
	return rc;
}

int cli_client_reply_check(const Hare__FromDaemon *m, int expect, char *errbuf, size_t errlen)
{
	if (m->msg_case == HARE__FROM_DAEMON__MSG_ERROR) {
		snprintf(errbuf, errlen, "%s", m->error->message);
		return m->error->code < 0 ? m->error->code : ERR_PROTO;
	}
	if ((int)m->msg_case != expect) {
		snprintf(errbuf, errlen, "unexpected reply from hared (message %d, wanted %d)", m->msg_case, expect);
		return ERR_PROTO;
	}
	return 0;
}

int cli_client_request(struct cli_conn *c, const Hare__ToDaemon *req, int expect, uint32_t timeout_ms,
		       Hare__FromDaemon **reply, char *errbuf, size_t errlen)
{
	Hare__FromDaemon *m = NULL;
	int rc;

	rc = cli_client_send(c, req, timeout_ms, errbuf, errlen);
	if (rc == 0)
		rc = cli_client_recv(c, timeout_ms, &m, errbuf, errlen);
	if (rc < 0)
		return rc;
	rc = cli_client_reply_check(m, expect, errbuf, errlen);
	if (rc < 0) {
		hare__from_daemon__free_unpacked(m, NULL);
		return rc;
	}
	*reply = m;
	return 0;
}

/* Split "host:port" or "[v6]:port" into its parts; false if malformed. */
static bool cli_host_split(const char *spec, char *host, size_t hostlen, char *port, size_t portlen)
{
	const char *colon = strrchr(spec, ':');
	const char *h = spec;
	size_t n;

	if (!colon || colon[1] == '\0' || strlen(colon + 1) >= portlen)
		return false;
	n = (size_t)(colon - spec);
	if (n >= 2 && spec[0] == '[' && spec[n - 1] == ']') {
		h = spec + 1;
		n -= 2;
	} else if (memchr(spec, ':', n)) {
		return false;	/* bare IPv6 needs brackets */
	}
	if (n == 0 || n >= hostlen || strspn(colon + 1, "0123456789") != strlen(colon + 1))
		return false;
	memcpy(host, h, n);
	host[n] = '\0';
	snprintf(port, portlen, "%s", colon + 1);
	return true;
}

/* Non-blocking connect of a fresh socket to one address, within the deadline. */
static int cli_connect_addr(int family, const struct sockaddr *sa, socklen_t salen, int64_t deadline_ms)
{
	int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int rc = 0, soerr = 0;
	socklen_t len = sizeof(soerr);

	if (fd < 0)
		return -errno;
	if (connect(fd, sa, salen) == 0)
		return fd;
	if (errno != EINPROGRESS) {
		rc = -errno;
		goto out_close;
	}
	rc = cli_wait(fd, POLLOUT, deadline_ms);
	if (rc < 0)
		goto out_close;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
		soerr = errno;
	if (soerr == 0)
		return fd;
	rc = -soerr;
out_close:
	close(fd);
	return rc;
}

static int cli_connect_unix(const char *path, int64_t deadline_ms, char *errbuf, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(errbuf, errlen, "cannot connect to %s: socket path too long (max %zu bytes)", path,
			 sizeof(sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	/* EAGAIN: hared is there but its backlog is full; wait for room */
	while ((fd = cli_connect_addr(AF_UNIX, (struct sockaddr *)&sa, sizeof(sa), deadline_ms)) ==
		       -EAGAIN && cli_now_ms() + 50 < deadline_ms)
		poll(NULL, 0, 50);
	if (fd == -EAGAIN)
		snprintf(errbuf, errlen, "cannot connect to %s: hared's queue of new connections "
			 "stayed full (it is running, but busy or flooded)", path);
	else if (fd == -EACCES || fd == -EPERM)
		snprintf(errbuf, errlen, "cannot connect to %s: %s (the socket, or a folder above "
			 "it, is not open to this user: client_socket_mode, or ask the operator)",
			 path, strerror(-fd));
	else if (fd < 0)
		snprintf(errbuf, errlen, "cannot connect to %s: %s (is hared running?)", path, strerror(-fd));
	return fd;
}

static int cli_connect_tcp(const char *spec, int64_t deadline_ms, char *errbuf, size_t errlen)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res, *ai;
	char host[256], port[16];
	int rc, fd = -ECONNREFUSED;

	if (!cli_host_split(spec, host, sizeof(host), port, sizeof(port))) {
		snprintf(errbuf, errlen, "--host wants HOST:PORT, got '%s'", spec);
		return -EINVAL;
	}
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0) {
		snprintf(errbuf, errlen, "cannot connect to %s: %s", spec, gai_strerror(rc));
		return -EHOSTUNREACH;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = cli_connect_addr(ai->ai_family, ai->ai_addr, ai->ai_addrlen, deadline_ms);
		if (fd >= 0 || fd == -ETIMEDOUT)
			break;
	}
	freeaddrinfo(res);
	if (fd < 0)
		snprintf(errbuf, errlen, "cannot connect to %s: %s (is hared running?)", spec, strerror(-fd));
	return fd;
}

static int cli_handshake(struct cli_conn *c, const struct cli_target *t, char *errbuf,
			 size_t errlen)
{
	Hare__Hello hello = HARE__HELLO__INIT;
	Hare__ToDaemon m = HARE__TO_DAEMON__INIT;
	Hare__FromDaemon *reply = NULL;
	int rc;

	hello.version = HARE__VERSION__PROTOCOL_VERSION;
	hello.role = HARE__ROLE__ROLE_CLIENT;
	hello.token = (char *)t->token;
	m.msg_case = HARE__TO_DAEMON__MSG_HELLO;
	m.hello = &hello;
	rc = cli_client_request(c, &m, HARE__FROM_DAEMON__MSG_WELCOME, t->timeout_ms, &reply, errbuf,
				errlen);
	if (rc != 0)
		return rc;
	for (size_t i = 0; t->features && i < reply->welcome->n_features; i++)
		if (strcmp(reply->welcome->features[i], "after") == 0)
			*t->features |= CLI_FEATURE_AFTER;
		else if (strcmp(reply->welcome->features[i], "after-kinds") == 0)
			*t->features |= CLI_FEATURE_AFTER_KINDS;
		else if (strcmp(reply->welcome->features[i], "check") == 0)
			*t->features |= CLI_FEATURE_CHECK;
		else if (strcmp(reply->welcome->features[i], "node-history") == 0)
			*t->features |= CLI_FEATURE_NODE_HISTORY;
	hare__from_daemon__free_unpacked(reply, NULL);
	return 0;
}

/* TLS keyed with the token (its identity names it, tls_token_identity),
 * to the end of the handshake. 0 or a negative code with errbuf set. */
static int cli_tls_handshake(struct cli_conn *c, const struct cli_target *t, int64_t deadline,
			     char *errbuf, size_t errlen)
{
	char id[TLS_IDENTITY_MAX], said[400];
	uint8_t psk[TLS_PSK_LEN], first[1024];
	size_t n = strlen(t->token), nfirst = 0;
	int rc = tls_token_identity((const uint8_t *)t->token, n, id);

	if (rc == 0)
		rc = tls_psk_derive((const uint8_t *)t->token, n, id, psk);
	if (rc == 0)
		rc = tls_link_client(id, psk, &c->tls);
	explicit_bzero(psk, sizeof(psk));
	if (rc < 0) {
		snprintf(errbuf, errlen, "cannot begin TLS: %s", strerror(-rc));
		return rc;
	}
	while (rc == 0 && !tls_link_ready(c->tls)) {
		uint8_t raw[16384];
		ssize_t r = tls_link_read(c->tls, NULL, 0);	/* the handshake's next step */

		rc = cli_tls_flush(c, deadline);
		if (r < 0)
			rc = -EPROTO;
		if (rc < 0 || tls_link_ready(c->tls))
			break;
		r = cli_read_some(c->fd, raw, sizeof(raw), deadline);
		if (r < 0) {
			rc = (int)r;
		} else if (tls_link_feed(c->tls, raw, (size_t)r) < 0) {
			rc = -ENOMEM;
		} else if (nfirst < sizeof(first)) {
			/* kept: hared may have answered in the clear */
			size_t k = (size_t)r < sizeof(first) - nfirst ? (size_t)r : sizeof(first) - nfirst;

			memcpy(first + nfirst, raw, k);
			nfirst += k;
		}
	}
	if (rc == 0)
		return 0;
	if ((rc == -EPROTO || rc == -ECONNRESET) && wire_peek_error(first, nfirst, said, sizeof(said))) {
		/* hared's Error in the clear: an older hared, or one too busy */
		if (strstr(said, "frame larger than"))
			snprintf(errbuf, errlen, "hared at %s does not speak TLS (it says '%s'): a hared "
				 "older than harectl; upgrade it (--no-tls talks to it meanwhile, but sends "
				 "the token in the clear)", t->host, said);
		else
			snprintf(errbuf, errlen, "%s", said);
	} else if (rc == -EPROTO && tls_link_bad_key(c->tls)) {
		snprintf(errbuf, errlen, "hared refused the token (TLS: %s): it is not a token of "
			 "client_token_file or client_users_file", tls_link_error(c->tls));
	} else if (rc == -EPROTO && strstr(tls_link_error(c->tls), "alert handshake failure")) {
		snprintf(errbuf, errlen, "hared knows no such token (TLS: %s): it is not a token of "
			 "client_token_file or client_users_file (or is %s hared's agent_listen? "
			 "harectl talks to client_listen)", tls_link_error(c->tls), t->host);
	} else if (rc == -EPROTO || rc == -ECONNRESET) {
		snprintf(errbuf, errlen, "TLS with %s failed (%s): is it hared's client_listen?",
			 t->host, rc == -EPROTO ? tls_link_error(c->tls) :
			 "the peer closed the connection");
	} else {
		cli_io_error(rc, cli_timeout(t->timeout_ms), "TLS handshake", errbuf, errlen);
	}
	return rc;
}

void cli_client_close(struct cli_conn *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	tls_link_free(c->tls);
	if (c->in)
		explicit_bzero(c->in, c->cap);
	free(c->in);
	free(c);
}

int cli_client_connect(const struct cli_target *t, struct cli_conn **out, char *errbuf,
		       size_t errlen)
{
	int64_t deadline = cli_now_ms() + cli_timeout(t->timeout_ms);
	struct cli_conn *c = calloc(1, sizeof(*c));
	int rc;

	*out = NULL;
	if (!c) {
		snprintf(errbuf, errlen, "out of memory");
		return -ENOMEM;
	}
	if (t->host)
		c->fd = cli_connect_tcp(t->host, deadline, errbuf, errlen);
	else
		c->fd = cli_connect_unix(t->socket_path ? t->socket_path : CLI_SOCKET_DEFAULT, deadline,
					 errbuf, errlen);
	if (c->fd < 0) {
		rc = c->fd;
		free(c);
		return rc;
	}
	rc = t->host && !t->no_tls && t->token ? cli_tls_handshake(c, t, deadline, errbuf, errlen)
					       : 0;
	if (rc == 0)
		rc = cli_handshake(c, t, errbuf, errlen);
	if (rc < 0) {
		cli_client_close(c);
		return rc;
	}
	*out = c;
	return 0;
}
