/* SPDX-License-Identifier: MIT */
/* Listeners and admission: bind the agent port, the client socket and the
 * client port, accept peers and name them, and turn away those past the
 * limits on waiting peers, user sessions and file descriptors. */
#include "conn_impl.h"

#include "hared.h"
#include "log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define CONN_BACKLOG 4096
/* Before a peer has said Hello (and authenticated, on the agent port) its
 * frames may be this large (Hello and Auth are tiny), and at most
 * CONN_PENDING_MAX such peers wait at once on each listener, of them
 * CONN_PENDING_UID_MAX of one uid on the unix socket and
 * CONN_PENDING_ADDR_MAX from one address on a TCP port (root on the unix
 * socket is never refused): strangers cannot pin memory or file
 * descriptors, nor keep local users, agents, or root, out, and one user or
 * address cannot fill a listener for the others. */
#define CONN_PREAUTH_FRAME (64u * 1024)
#define CONN_PENDING_MAX 256
#define CONN_PENDING_UID_MAX 8
#define CONN_PENDING_ADDR_MAX 16
#define CONN_STR_(x) #x
#define CONN_STR(x) CONN_STR_(x)
/* Client sessions one user may hold at once (root: no limit). */
#define CONN_USER_MAX 64
/* File descriptors kept free of connections (store, logs, workers' files). */
#define CONN_FD_RESERVE 64

/* ---- limits ---- */

/* The peer has said Hello (agents: authenticated): full frames, and it no
 * longer counts as pending. */
void conn_admitted(struct conn *c)
{
	if (c->pending) {
		c->pending = false;
		c->d->npending[c->kind]--;
	}
	c->rd.max_frame = c->d->cfg.max_frame;
}

/* Connections hared may hold: the descriptor limit less a reserve. */
static uint32_t conn_max(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur > 1000000)
		return 1000000;
	return rl.rlim_cur > 2 * CONN_FD_RESERVE ? (uint32_t)(rl.rlim_cur - CONN_FD_RESERVE)
						 : CONN_FD_RESERVE;
}

/* Say, at most once every 10 s, that connections were turned away. */
void conn_refused_note(struct hared *d, const char *why)
{
	uint64_t now = uv_now(d->loop);

	d->conns_refused++;
	if (d->refused_logged_ms && now - d->refused_logged_ms < 10000)
		return;
	log_warn("connections refused: %s (%" PRIu64 " so far; said at most every 10 s)", why,
		 d->conns_refused);
	d->refused_logged_ms = now;
}

/* Peers of kind from source waiting for their Hello or Auth. A scan of
 * every connection: those past the wait are few (sessions of users, at most
 * CONN_USER_MAX each, and agents), those waiting 3 x CONN_PENDING_MAX and
 * root's. */
static uint32_t conn_pending_from(const struct hared *d, enum conn_kind kind, const char *source)
{
	uint32_t n = 0;

	for (const struct conn *c = d->conns; c; c = c->next)
		n += c->pending && c->kind == kind && strcmp(c->source, source) == 0;
	return n;
}

const char *conn_pending_refusal(const struct hared *d, const struct conn *c)
{
	if (c->kind == CONN_CLIENT_UNIX && c->admin)
		return NULL;
	if (c->kind == CONN_CLIENT_UNIX &&
	    conn_pending_from(d, c->kind, c->source) >= CONN_PENDING_UID_MAX)
		return "too many of your connections to hared (" CONN_STR(CONN_PENDING_UID_MAX) " per "
		       "user) are waiting to say hello; close some and try again";
	if (c->kind != CONN_CLIENT_UNIX &&
	    conn_pending_from(d, c->kind, c->source) >= CONN_PENDING_ADDR_MAX)
		return "too many connections to hared from your address (" CONN_STR(CONN_PENDING_ADDR_MAX)
		       ") are waiting to say hello; close some and try again";
	if (d->npending[c->kind] >= CONN_PENDING_MAX)
		return "too many connections to hared are waiting to say hello; try again later";
	return NULL;
}

/* Client sessions of user now open (root's are not counted). */
static uint32_t conn_user_sessions(const struct hared *d, const char *user)
{
	uint32_t n = 0;

	for (const struct conn *c = d->conns; c; c = c->next)
		n += c->kind != CONN_AGENT && c->state == CONN_CLIENT && strcmp(c->user, user) == 0;
	return n;
}

bool conn_user_full(const struct conn *c)
{
	return !c->admin && conn_user_sessions(c->d, c->user) >= CONN_USER_MAX;
}

/* ---- accepting ---- */

static void conn_peer_tcp(struct conn *c)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	char ip[INET6_ADDRSTRLEN] = "?";

	if (uv_tcp_getpeername(&c->h.tcp, (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET)
			uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof(ip));
		else
			uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof(ip));
	}
	snprintf(c->peer, sizeof(c->peer), "%s", ip);
	snprintf(c->source, sizeof(c->source), "%s", ip);
	uv_tcp_nodelay(&c->h.tcp, 1);
}

bool conn_name_reserved(const char *name)
{
	if (strcmp(name, CONN_REMOTE_USER) == 0)
		return true;
	if (strncmp(name, "uid", 3) != 0 || !name[3])
		return false;
	for (const char *p = name + 3; *p; p++)
		if (*p < '0' || *p > '9')
			return false;
	return true;
}

/* The Unix peer's uid names the user (SO_PEERCRED). */
static void conn_peer_unix(struct conn *c)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	struct passwd pw, *res = NULL;
	char buf[1024];
	uv_os_fd_t fd;

	snprintf(c->user, sizeof(c->user), "unknown");
	if (uv_fileno(&c->h.handle, &fd) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0) {
		snprintf(c->peer, sizeof(c->peer), "unix");
		snprintf(c->source, sizeof(c->source), "unix");
		return;
	}
	snprintf(c->peer, sizeof(c->peer), "uid %u pid %d", (unsigned)cr.uid, (int)cr.pid);
	snprintf(c->source, sizeof(c->source), "uid %u", (unsigned)cr.uid);
	c->admin = cr.uid == 0;
	/* A name a session of another kind goes by (TCP clients are "remote",
	 * a uid without a passwd entry "uidN") is not this user's: it goes by
	 * its own uid, so it cannot own, nor be owned by, their jobs. */
	if (getpwuid_r(cr.uid, &pw, buf, sizeof(buf), &res) == 0 && res &&
	    !conn_name_reserved(pw.pw_name))
		snprintf(c->user, sizeof(c->user), "%s", pw.pw_name);
	else
		snprintf(c->user, sizeof(c->user), "uid%u", (unsigned)cr.uid);
}

static void conn_on_close_orphan(uv_handle_t *h)
{
	free(h->data);
}

static void conn_accept(uv_stream_t *srv, int status, enum conn_kind kind)
{
	struct hared *d = srv->data;
	const char *busy;
	struct conn *c;

	if (status < 0) {
		log_warn("accept: %s", uv_strerror(status));
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->d = d;
	c->kind = kind;
	c->h.handle.data = c;
	if (kind == CONN_CLIENT_UNIX)
		uv_pipe_init(d->loop, &c->h.pipe, 0);
	else
		uv_tcp_init(d->loop, &c->h.tcp);
	c->id = ++d->next_conn_id;
	if (uv_accept(srv, &c->h.stream) < 0 || d->stopping) {
		uv_close(&c->h.handle, conn_on_close_orphan);
		return;
	}
	if (kind == CONN_CLIENT_UNIX)
		conn_peer_unix(c);
	else
		conn_peer_tcp(c);
	if (d->nconns >= d->conn_max) {
		conn_refused_note(d, "as many connections as file descriptors allow are open");
		uv_close(&c->h.handle, conn_on_close_orphan);
		return;
	}
	busy = conn_pending_refusal(d, c);
	if (conn_table_add(d, c) < 0) {
		uv_close(&c->h.handle, conn_on_close_orphan);
		return;
	}
	wire_reader_init(&c->rd, d->cfg.max_frame < CONN_PREAUTH_FRAME ? d->cfg.max_frame
									 : CONN_PREAUTH_FRAME);
	c->opened_ms = c->last_seen_ms = uv_now(d->loop);
	if (busy) {
		char why[160];

		/* told why, then closed: an Error frame is cheap */
		if (d->npending[kind] >= CONN_PENDING_MAX)
			snprintf(why, sizeof(why), "%s", kind == CONN_AGENT ? "too many peers on the "
				 "agent port have not authenticated yet" : "too many clients have "
				 "connected without saying hello yet");
		else
			snprintf(why, sizeof(why), "%s (%s) holds as many connections waiting to %s "
				 "as one %s may", c->source, kind == CONN_AGENT ? "agent port" :
				 kind == CONN_CLIENT_TCP ? "client port" : "unix socket",
				 kind == CONN_AGENT ? "authenticate" : "say hello",
				 kind == CONN_CLIENT_UNIX ? "user" : "address");
		conn_refused_note(d, why);
		c->refused = true;
		conn_fail(c, -EBUSY, "%s", busy);
		return;
	}
	c->pending = true;
	d->npending[kind]++;
	log_debug("conn=%" PRIu64 " peer=%s accepted (%s)", c->id, c->peer,
		  kind == CONN_AGENT ? "agent" : "client");
	if (uv_read_start(&c->h.stream, conn_on_alloc, conn_on_read) < 0)
		conn_close(c);
}

static void conn_on_agent(uv_stream_t *srv, int status)
{
	conn_accept(srv, status, CONN_AGENT);
}

static void conn_on_client_unix(uv_stream_t *srv, int status)
{
	conn_accept(srv, status, CONN_CLIENT_UNIX);
}

static void conn_on_client_tcp(uv_stream_t *srv, int status)
{
	conn_accept(srv, status, CONN_CLIENT_TCP);
}

/* ---- listening ---- */

static int conn_listen_tcp(struct hared *d, uv_tcp_t *srv, bool *open, const char *addr,
			   uv_connection_cb cb, int *port, char *errbuf, size_t errlen)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss), rc;
	char why[160];

	rc = hared_addr_parse(addr, &ss, why, sizeof(why));
	if (rc < 0) {
		snprintf(errbuf, errlen, "%s: %s", addr, why);
		return rc;
	}
	uv_tcp_init(d->loop, srv);
	srv->data = d;
	*open = true;
	rc = uv_tcp_bind(srv, (struct sockaddr *)&ss, 0);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)srv, CONN_BACKLOG, cb);
	if (rc == 0)
		rc = uv_tcp_getsockname(srv, (struct sockaddr *)&ss, &len);
	if (rc < 0) {
		snprintf(errbuf, errlen, "cannot listen on %s: %s", addr, uv_strerror(rc));
		return rc;
	}
	*port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port :
		      ((struct sockaddr_in6 *)&ss)->sin6_port);
	return 0;
}

int conn_unix_path_check(const char *path, char *errbuf, size_t errlen)
{
	const char *slash = strrchr(path, '/');
	size_t n = slash ? (size_t)(slash - path) : 0;
	char dir[HARED_PATH_LEN];
	struct stat st;
	int e;

	while (n > 1 && path[n - 1] == '/')
		n--;
	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(n ? n : 1) : 1, slash ? path : ".");
	if (stat(dir, &st) < 0) {
		e = errno;
		if (e == ENOENT)
			snprintf(errbuf, errlen, "client_socket %s: folder %s does not exist (hared "
				 "does not create it; under systemd, RuntimeDirectory= does)", path, dir);
		else
			snprintf(errbuf, errlen, "client_socket %s: folder %s: %s", path, dir,
				 strerror(e));
		return -e;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(errbuf, errlen, "client_socket %s: %s is not a directory", path, dir);
		return -ENOTDIR;
	}
	if (access(dir, W_OK | X_OK) < 0) {
		e = errno;
		snprintf(errbuf, errlen, "client_socket %s: folder %s: %s", path, dir, strerror(e));
		return -e;
	}
	if (lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
		snprintf(errbuf, errlen, "client_socket %s exists and is not a socket", path);
		return -EEXIST;
	}
	return 0;
}

/* A socket file left by a daemon that died is removed; one that a live
 * daemon answers on is not (conn_unix_path_check came first). */
static int conn_unix_stale(const char *path, char *errbuf, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, rc;

	if (lstat(path, &st) < 0)
		return 0;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	if (rc == 0) {
		snprintf(errbuf, errlen, "another daemon is listening on %s", path);
		return -EADDRINUSE;
	}
	unlink(path);
	return 0;
}

static int conn_listen_unix(struct hared *d, char *errbuf, size_t errlen)
{
	const char *path = d->cfg.client_socket;
	int rc = conn_unix_path_check(path, errbuf, errlen);
	mode_t mask;

	if (rc == 0)
		rc = conn_unix_stale(path, errbuf, errlen);
	if (rc < 0)
		return rc;
	uv_pipe_init(d->loop, &d->client_srv, 0);
	d->client_srv.data = d;
	d->client_srv_open = true;
	/* The socket is made with its mode (0777 less the umask): a chmod of
	 * the path after bind would follow a link put in its place meanwhile.
	 * The umask is the process's, but no other thread runs yet. */
	mask = umask(~(mode_t)d->cfg.client_socket_mode & 0777);
	rc = uv_pipe_bind(&d->client_srv, path);
	umask(mask);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&d->client_srv, CONN_BACKLOG, conn_on_client_unix);
	if (rc < 0) {
		snprintf(errbuf, errlen, "cannot listen on %s: %s", path, uv_strerror(rc));
		return rc;
	}
	return 0;
}

int conn_listen(struct hared *d, char *errbuf, size_t errlen)
{
	struct rlimit rl;
	int rc;

	/* connections are descriptors: take all the hard limit allows */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			log_debug("cannot raise the open-file limit: %s", strerror(errno));
	}
	d->conn_max = conn_max();
	rc = conn_listen_tcp(d, &d->agent_srv, &d->agent_srv_open, d->cfg.agent_listen,
				 conn_on_agent, &d->agent_port, errbuf, errlen);

	if (rc == 0)
		rc = conn_listen_unix(d, errbuf, errlen);
	if (rc == 0 && d->cfg.client_listen[0])
		rc = conn_listen_tcp(d, &d->client_tcp_srv, &d->client_tcp_open,
				     d->cfg.client_listen, conn_on_client_tcp, &d->client_port,
				     errbuf, errlen);
	return rc;
}

void conn_listen_stop(struct hared *d)
{
	if (d->agent_srv_open && !uv_is_closing((uv_handle_t *)&d->agent_srv))
		uv_close((uv_handle_t *)&d->agent_srv, NULL);
	if (d->client_tcp_open && !uv_is_closing((uv_handle_t *)&d->client_tcp_srv))
		uv_close((uv_handle_t *)&d->client_tcp_srv, NULL);
	if (d->client_srv_open && !uv_is_closing((uv_handle_t *)&d->client_srv)) {
		uv_close((uv_handle_t *)&d->client_srv, NULL);
		unlink(d->cfg.client_socket);
	}
}
