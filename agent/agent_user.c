/* SPDX-License-Identifier: MIT */
/* Whose account a worker runs as. hared names the job's owner in
 * TaskStart.user; an agent running as root (run_as_owner = yes, the
 * default) looks the name up on its node and starts the worker as that
 * account, with its groups, through itself (hare-agent --exec-as: the
 * child drops root, then execs), so one user's job can neither read nor
 * signal another's, nor act as root. The worker's checkpoint folder,
 * work_dir/checkpoints/JOB, is made the account's (0700); the report pipe
 * and the output file are opened by the agent and handed over as
 * descriptors, and the lease's rendezvous file is written 0600 and given
 * to the account. An agent that is not root runs every worker as itself. */
#include "agent_impl.h"

#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define AGENT_NOGROUP 65534	/* the group of an account without a passwd entry */
#define AGENT_SYSTEM_UID_END 1000	/* uids below: root and system accounts */

/* "uid" and digits (no leading zero), as hared names a uid without a
 * passwd entry: that uid, or -1. */
static long long agent_user_uidn(const char *name)
{
	const char *d = name + 3;
	char *end;
	long long v;

	if (strncmp(name, "uid", 3) != 0 || !d[0] || strspn(d, "0123456789") != strlen(d) ||
	    (d[0] == '0' && d[1]) || strlen(d) > 10)
		return -1;
	errno = 0;
	v = strtoll(d, &end, 10);
	/* uid 0 has a passwd entry (root): "uid0" is nobody's name */
	return errno || v <= 0 || v >= (long long)UINT32_MAX ? -1 : v;
}

int agent_account_find(const char *name, struct agent_account *acc, char *why, size_t len)
{
	char buf[16384];
	struct passwd pw, *res = NULL;
	long long uidn;
	int rc;

	memset(acc, 0, sizeof(*acc));
	if (!name[0] || strlen(name) >= sizeof(acc->name)) {
		snprintf(why, len, "the job's owner '%.40s' is not an account name", name);
		return -EINVAL;
	}
	snprintf(acc->name, sizeof(acc->name), "%s", name);
	rc = getpwnam_r(name, &pw, buf, sizeof(buf), &res);
	if (rc == 0 && res) {
		acc->uid = pw.pw_uid;
		acc->gid = pw.pw_gid;
		acc->passwd = true;
		snprintf(acc->home, sizeof(acc->home), "%s", pw.pw_dir && pw.pw_dir[0] ? pw.pw_dir : "/");
		return 0;
	}
	uidn = agent_user_uidn(name);
	if (uidn >= 0) {
		/* a uid hared's host knows no name for: it, with no group */
		acc->uid = (uid_t)uidn;
		acc->gid = AGENT_NOGROUP;
		snprintf(acc->home, sizeof(acc->home), "/");
		return 0;
	}
	snprintf(why, len, "user '%s' has no account on this node%s%s", name, rc ? ": " : "",
		 rc ? strerror(rc) : "");
	/* no such name (glibc: 0 and no entry), the job's; a lookup that failed
	 * (glibc says ENOENT for an unreadable passwd file, EIO, ...) the
	 * node's. A missing NSS module also reads as no such name. */
	return rc ? -EIO : -ENOENT;
}

int agent_account_of(const struct agent *a, const Hare__TaskStart *m, struct agent_account *acc,
		     char *why, size_t len)
{
	int rc;

	if (!a->cfg.run_as_owner || geteuid() != 0 || !m->user || !m->user[0])
		return 0;
	rc = agent_account_find(m->user, acc, why, len);
	return rc == -ENOENT ? -ESRCH : rc < 0 ? rc : 1;
}

bool agent_account_other(const struct agent_account *acc)
{
	return acc->uid != geteuid() || acc->gid != getegid();
}

static void agent_dir_traversable(const char *path);
#define AGENT_TREE_DEPTH 64	/* folders deep a tree handed over may be */

/* Remove path, a folder set aside in root's checkpoints/, in the
 * background: what is in it as its owner (find -delete run as uid:gid,
 * which follows no link: links its owner planted lead the removal only
 * where that owner could go anyway), then the empty folder as root. The
 * agent waits for neither: a process of its own (reparented to init) does
 * both. */
static void agent_remove_as(const char *path, uid_t uid, gid_t gid)
{
	pid_t p = fork();

	if (p == 0) {
		/* only async-signal-safe calls: the agent may have threads */
		if (fork() == 0) {
			pid_t q = fork();

			if (q == 0) {
				/* in it before root is dropped: the owner need not
				 * reach it through work_dir */
				if (chdir(path) == 0 && setgroups(0, NULL) == 0 && setgid(gid) == 0 &&
				    setuid(uid) == 0)
					execl("/usr/bin/find", "find", ".", "-mindepth", "1", "-delete",
					      (char *)NULL);
				_exit(127);
			}
			if (q > 0)
				waitpid(q, NULL, 0);
			rmdir(path);
			_exit(0);
		}
		_exit(0);
	}
	if (p > 0)
		waitpid(p, NULL, 0);
	else
		log_warn("%s: cannot remove it (fork: %s); the next sweep tries again", path,
			 strerror(errno));
}

/* Give the tree at name in folder dfd, a system account's (from), to
 * uid:gid, walked by descriptors, never through a link: a link, a special
 * file, an entry of another owner or a file with other names (a hard link
 * to a file elsewhere) is removed from the tree, not given. 0, or -errno
 * (the caller then sets the tree aside). */
static int agent_tree_give(int dfd, const char *name, int depth, uid_t from, uid_t uid, gid_t gid)
{
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), rc = 0;
	struct dirent *e;
	struct stat st;
	DIR *d;

	if (fd < 0) {
		if (errno != ENOTDIR && errno != ELOOP)
			return -errno;
		if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return -errno;
		if (S_ISREG(st.st_mode) && st.st_uid == from && st.st_nlink == 1)
			return fchownat(dfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
		return unlinkat(dfd, name, 0) < 0 && errno != ENOENT ? -errno : 0;
	}
	if (fstat(fd, &st) < 0 || st.st_uid != from || depth > AGENT_TREE_DEPTH ||
	    !(d = fdopendir(fd))) {
		close(fd);
		return -EPERM;
	}
	while ((e = readdir(d))) {
		int r;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		r = agent_tree_give(dirfd(d), e->d_name, depth + 1, from, uid, gid);
		if (r < 0 && rc == 0)
			rc = r;
	}
	if (rc == 0 && fchown(dirfd(d), uid, gid) < 0)
		rc = -errno;
	closedir(d);
	return rc;
}

/* Set checkpoints/name aside (.stale-NAME-PID-N, in root's folder) and
 * remove it in the background as its owner. */
static int agent_tree_discard(int dfd, const char *dir, const char *name, const struct stat *st)
{
	static unsigned seq;
	char aside[64], path[AGENT_PATH_MAX + 96];

	if (!S_ISDIR(st->st_mode))	/* a file or a link: the entry itself */
		return unlinkat(dfd, name, 0) < 0 && errno != ENOENT ? -errno : 0;
	snprintf(aside, sizeof(aside), ".stale-%s-%ld-%u", name, (long)getpid(), seq++);
	if (renameat(dfd, name, dfd, aside) < 0)
		return -errno;
	snprintf(path, sizeof(path), "%s/%s", dir, aside);
	agent_remove_as(path, st->st_uid, st->st_gid);
	return 0;
}

int agent_account_ckpt_dir(const struct agent *a, uint64_t job, const struct agent_account *acc,
			   char *why, size_t len)
{
	char dir[AGENT_PATH_MAX + 16], path[AGENT_PATH_MAX + 48], name[24];
	struct stat st;

	snprintf(dir, sizeof(dir), "%s/checkpoints", a->cfg.work_dir);
	if (mkdir(dir, 0711) < 0 && errno != EEXIST)
		goto fail_dir;
	/* made 0700 by a worker of root's job (checkpoint.c) */
	agent_dir_traversable(dir);
	snprintf(path, sizeof(path), "%s/%llu", dir, (unsigned long long)job);
	snprintf(name, sizeof(name), "%llu", (unsigned long long)job);
	if (lstat(path, &st) == 0 && (!S_ISDIR(st.st_mode) || st.st_uid != acc->uid)) {
		/* a system account's (the agent's own before it ran workers as
		 * their owners: an upgrade) holds the job's own checkpoints:
		 * given to the owner; root's (a root job's) or a user's is
		 * another job's (job ids begin again with a new hared
		 * database): set aside and removed */
		bool give = S_ISDIR(st.st_mode) && st.st_uid > 0 && st.st_uid < AGENT_SYSTEM_UID_END;
		int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), rc;

		if (dfd < 0)
			goto fail_dir;
		rc = give ? agent_tree_give(dfd, name, 0, st.st_uid, acc->uid, acc->gid) : -EPERM;
		if (rc < 0)
			rc = agent_tree_discard(dfd, dir, name, &st);
		close(dfd);
		if (!S_ISDIR(st.st_mode))
			log_warn("job=%llu: %s is not a folder: removed", (unsigned long long)job, path);
		else
			log_warn("job=%llu: %s belonged to uid %u, not %s (uid %u): %s",
				 (unsigned long long)job, path, (unsigned)st.st_uid, acc->name,
				 (unsigned)acc->uid, give && rc == 0 ? "given to it (a system "
				 "account's: the agent's own before an upgrade)" : "set aside and removed "
				 "(another job's)");
		if (rc < 0) {
			errno = -rc;
			goto fail;
		}
	}
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		goto fail;
	if (lchown(path, acc->uid, acc->gid) < 0 || chmod(path, 0700) < 0)
		goto fail;
	return 0;
fail_dir:
	snprintf(path, sizeof(path), "%s", dir);
fail:
	snprintf(why, len, "%.200s: %s", path, strerror(errno));
	return -errno;
}

void agent_account_ckpt_sweep(const struct agent *a)
{
	char dir[AGENT_PATH_MAX + 16], path[AGENT_PATH_MAX + 300];
	unsigned long long job;
	struct dirent *e;
	bool here;
	int end;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/checkpoints", a->cfg.work_dir);
	d = opendir(dir);
	if (!d)
		return;
	while ((e = readdir(d))) {
		struct stat st;

		end = 0;
		/* a folder set aside whose removal did not finish: again */
		if (strncmp(e->d_name, ".stale-", 7) == 0) {
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
				agent_remove_as(path, st.st_uid, st.st_gid);
			continue;
		}
		if (sscanf(e->d_name, "%llu%n", &job, &end) != 1 || e->d_name[end])
			continue;
		here = false;
		for (const struct agent_task *t = a->tasks; t && !here; t = t->next)
			here = t->job_id == job;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (!here && rmdir(path) == 0)
			log_debug("agent removed empty checkpoint folder %s", path);
	}
	closedir(d);
}

/* Search (not read) permission for others on a folder workers must
 * traverse; the agent's own files in it stay 0600. */
static void agent_dir_traversable(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0 || (st.st_mode & 0011) == 0011)
		return;
	if (chmod(path, (st.st_mode & 07777) | 0011) < 0)
		log_warn("%s: cannot let workers of other accounts through (chmod: %s); their "
			 "tasks will fail", path, strerror(errno));
	else
		log_info("%s: mode %04o -> %04o, so workers running as their jobs' owners reach "
			 "their checkpoints and rendezvous files (nothing in it can be listed)",
			 path, (unsigned)(st.st_mode & 07777), (unsigned)((st.st_mode & 07777) | 0011));
}

void agent_account_dirs(const struct agent *a)
{
	char path[AGENT_PATH_MAX + 16];

	if (!a->cfg.run_as_owner || geteuid() != 0)
		return;
	agent_dir_traversable(a->cfg.work_dir);
	snprintf(path, sizeof(path), "%s/tasks", a->cfg.work_dir);
	agent_dir_traversable(path);
	snprintf(path, sizeof(path), "%s/checkpoints", a->cfg.work_dir);
	if (mkdir(path, 0711) < 0 && errno == EEXIST)
		agent_dir_traversable(path);
}

void agent_close_inherited(void)
{
	if (close_range(4, ~0u, 0) < 0) {
		long max = sysconf(_SC_OPEN_MAX);

		for (long fd = 4; fd < (max > 0 ? max : 65536); fd++)
			close((int)fd);
	}
}

/* hare-agent --exec-as NAME UID GID PROGRAM ARGS...: in the worker's
 * process (the agent's child, root), take the account's groups and ids and
 * exec the program. Never returns on success. */
int agent_exec_as(int argc, char **argv)
{
	char *end;
	unsigned long uid, gid;
	const char *name;
	struct passwd *pw;

	if (argc < 6) {
		fprintf(stderr, "hare-agent: --exec-as NAME UID GID PROGRAM [ARGS...]\n");
		return 126;
	}
	name = argv[2];
	errno = 0;
	uid = strtoul(argv[3], &end, 10);
	if (errno || *end || uid >= UINT32_MAX)
		goto bad;
	gid = strtoul(argv[4], &end, 10);
	if (errno || *end || gid >= UINT32_MAX)
		goto bad;
	pw = getpwnam(name);
	if ((pw && pw->pw_uid == (uid_t)uid ? initgroups(name, (gid_t)gid) : setgroups(0, NULL)) < 0 ||
	    setgid((gid_t)gid) < 0 || setuid((uid_t)uid) < 0) {
		fprintf(stderr, "hare-agent: cannot run as %s (uid %lu, gid %lu): %s\n", name, uid, gid,
			strerror(errno));
		return 126;
	}
	if (uid != 0 && setuid(0) == 0) {
		fprintf(stderr, "hare-agent: root could be taken back after becoming %s: not run\n",
			name);
		return 126;
	}
	agent_close_inherited();
	execvp(argv[5], argv + 5);
	fprintf(stderr, "hare-agent: cannot run %s as %s: %s\n", argv[5], name, strerror(errno));
	return errno == ENOENT ? 127 : 126;
bad:
	fprintf(stderr, "hare-agent: --exec-as: bad uid or gid '%s' '%s'\n", argv[3], argv[4]);
	return 126;
}
