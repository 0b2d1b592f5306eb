/* SPDX-License-Identifier: MIT */
/* Each worker, prolog, epilog and health check run in a cgroup (v2) of its
 * own, so that what escapes its process group (setsid, a daemonised child)
 * is still found and killed with it, as Slurm's proctrack/cgroup does.
 * The agent makes CGROUP/hare.NODE.HASH under its own cgroup (HASH: of
 * work_dir, so two agents on one host never share it) and one child per
 * run in it: worker.JOB.LEASE.RANK, prolog..., epilog..., health. A
 * program joins its child before it execs (hare-agent --exec-in), so
 * nothing it starts is missed. No controller is enabled: the cgroups only
 * track (and a worker's holds its device rule, agent_devices.c). Without
 * a cgroup v2 the agent may write (cgroup = auto), process groups alone
 * are used. */
#include "agent_impl.h"

#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

bool agent_cgroup_on(const struct agent *a)
{
	return a->cg_base[0] != '\0';
}

/* "0::/PATH" of /proc/self/cgroup: the agent's own cgroup in the v2
 * hierarchy. */
static int cg_own_path(char *out, size_t len)
{
	char line[AGENT_PATH_MAX + 64];
	FILE *f = fopen("/proc/self/cgroup", "r");
	int rc = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "0::", 3) != 0)
			continue;
		line[strcspn(line, "\n")] = '\0';
		rc = snprintf(out, len, "%s", line + 3) >= (int)len ? -ENAMETOOLONG : 0;
		break;
	}
	fclose(f);
	return rc;
}

/* Whether path has a ".." component. */
static bool cg_has_dotdot(const char *path)
{
	for (const char *p = path; (p = strstr(p, "..")); p += 2) {
		if ((p == path || p[-1] == '/') && (p[2] == '/' || p[2] == '\0'))
			return true;
	}
	return false;
}

/* A mountinfo field, with its octal escapes (\040 for a blank) undone. */
static void cg_unescape(char *s)
{
	char *o = s;

	for (char *p = s; *p; p++) {
		if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' &&
		    p[3] >= '0' && p[3] <= '7') {
			*o++ = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
			p += 3;
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
}

/* The length of root as a prefix of own (0 for "/"), or -1 when own is not
 * in (or at) root: "/../x" is a cgroup above the root of the agent's cgroup
 * namespace (one entered with setns), which only a mount made outside the
 * namespace (its root "/..") shows. */
static long cg_root_len(const char *root, const char *own)
{
	size_t rl = strcmp(root, "/") == 0 ? 0 : strlen(root);

	if (rl && (strncmp(own, root, rl) != 0 || (own[rl] != '/' && own[rl] != '\0')))
		return -1;
	return cg_has_dotdot(own + rl) ? -1 : (long)rl;
}

/* Where the cgroup v2 hierarchy is mounted, and the root of it that the
 * mount shows (not "/" inside some containers): the first mount that shows
 * own, the agent's cgroup (a container may also have one of a subtree). */
static int cg_mount(const char *own, char *mnt, size_t mlen, char *root, size_t rlen)
{
	char line[3 * AGENT_PATH_MAX], *f[5], *save = NULL, *sep;
	FILE *in = fopen("/proc/self/mountinfo", "r");
	int rc = -ENOENT;

	if (!in)
		return -errno;
	while (rc != 0 && fgets(line, sizeof(line), in)) {
		if (!strchr(line, '\n')) {
			/* longer than any path the agent takes: its rest is no line */
			int c;

			while ((c = fgetc(in)) != EOF && c != '\n')
				;
			continue;
		}
		sep = strstr(line, " - ");
		if (!sep || strncmp(sep + 3, "cgroup2 ", 8) != 0)
			continue;
		*sep = '\0';
		f[0] = strtok_r(line, " ", &save);
		for (int i = 1; i < 5 && f[i - 1]; i++)
			f[i] = strtok_r(NULL, " ", &save);
		if (!f[0] || !f[4])
			continue;
		cg_unescape(f[3]);
		cg_unescape(f[4]);
		if (cg_root_len(f[3], own) < 0) {
			rc = -EXDEV;	/* a mount of another part of the tree */
			continue;
		}
		if (snprintf(mnt, mlen, "%s", f[4]) >= (int)mlen ||
		    snprintf(root, rlen, "%s", f[3]) >= (int)rlen)
			rc = -ENAMETOOLONG;
		else
			rc = 0;
	}
	fclose(in);
	return rc;
}

static uint32_t cg_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

/* Write text to DIR/FILE. 0, or -errno. */
static int cg_write(const char *dir, const char *file, const char *text)
{
	char path[AGENT_PATH_MAX + 128];
	ssize_t n;
	int fd, e;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, text, strlen(text));
	e = errno;
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -(n < 0 ? e : EIO);
}

/* Whether a process put in dir stays there: a child joins it the way a
 * spawned program does, then exits. 0, or -errno. */
static int cg_probe(const char *base)
{
	char dir[AGENT_PATH_MAX + 64], path[AGENT_PATH_MAX + 96];
	int status = 0, rc;
	pid_t pid, got = 0;

	snprintf(dir, sizeof(dir), "%s/probe.%d", base, (int)getpid());
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	pid = fork();
	if (pid == 0) {
		/* only async-signal-safe calls: the agent may have threads */
		int fd = open(path, O_WRONLY | O_CLOEXEC);

		_exit(fd < 0 ? 1 : write(fd, "0", 1) == 1 ? 0 : 2);
	}
	while (pid > 0 && (got = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
		;
	if (pid < 0 || got < 0)
		rc = -errno;
	else
		rc = WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EACCES;
	if (rmdir(dir) < 0 && rc == 0)
		rc = -errno;
	return rc;
}

/* Under systemd (INVOCATION_ID set), a warning when the agent's cgroup is
 * not delegated to it (the unit lacks Delegate=yes; systemd 251 and later
 * mark a delegated one with the trusted.delegate attribute): systemd then
 * deems the cgroups below its own, and may move or empty them. */
static void cg_delegated_check(const char *mnt, const char *rel)
{
	char dir[2 * AGENT_PATH_MAX + 2], v[8];

	if (!getenv("INVOCATION_ID"))
		return;
	snprintf(dir, sizeof(dir), "%s%s", mnt, rel);
	if (getxattr(dir, "trusted.delegate", v, sizeof(v)) < 0 && errno == ENODATA)
		log_warn("agent runs under systemd in cgroup %s, which is not delegated to it: add "
			 "Delegate=yes to its unit (hare-agent.service has it), or systemd may move "
			 "or empty the cgroups of its tasks", rel[0] ? rel : "/");
}

/* The per-agent folder: made, and usable as the agent needs it. */
static int cg_base_make(struct agent *a, char *why, size_t len)
{
	char own[AGENT_PATH_MAX], mnt[AGENT_PATH_MAX], root[AGENT_PATH_MAX], kill_file[AGENT_PATH_MAX + 16];
	char real[PATH_MAX];
	const char *rel, *wd;
	size_t rl;
	int rc;

	rc = cg_own_path(own, sizeof(own));
	if (rc < 0) {
		snprintf(why, len, "no cgroup v2 line in /proc/self/cgroup (%s)", strerror(-rc));
		return rc;
	}
	rc = cg_mount(own, mnt, sizeof(mnt), root, sizeof(root));
	if (rc == -EXDEV) {
		snprintf(why, len, "the agent's cgroup %.300s is outside every cgroup2 mount", own);
		return -ENOENT;
	}
	if (rc < 0) {
		snprintf(why, len, "no cgroup2 file system mounted (%s)", strerror(-rc));
		return rc;
	}
	rl = (size_t)cg_root_len(root, own);
	rel = own + rl;
	cg_delegated_check(mnt, strcmp(rel, "/") == 0 ? "" : rel);
	/* work_dir as the file system has it: one folder however it is spelt */
	wd = realpath(a->cfg.work_dir, real);
	if (snprintf(a->cg_base, sizeof(a->cg_base), "%s%s%share.%s.%08" PRIx32, mnt,
		     strcmp(rel, "/") == 0 ? "" : rel, "/", a->cfg.node,
		     cg_hash(wd ? wd : a->cfg.work_dir)) >= (int)sizeof(a->cg_base)) {
		snprintf(why, len, "its cgroup's path is too long");
		return -ENAMETOOLONG;
	}
	if (mkdir(a->cg_base, 0755) < 0 && errno != EEXIST) {
		rc = -errno;
		snprintf(why, len, "cannot make %.600s: %s", a->cg_base, strerror(-rc));
		return rc;
	}
	/* cgroup.kill (Linux 5.14), else each process killed while the
	 * cgroup is frozen (cgroup.freeze, Linux 5.2), so none forks meanwhile */
	snprintf(kill_file, sizeof(kill_file), "%s/cgroup.kill", a->cg_base);
	a->cg_freeze_kill = access(kill_file, W_OK) < 0;
	snprintf(kill_file, sizeof(kill_file), "%s/cgroup.freeze", a->cg_base);
	if (a->cg_freeze_kill && access(kill_file, W_OK) < 0) {
		rc = -errno;
		snprintf(why, len, "%.600s: %s (no cgroup.kill nor cgroup.freeze: Linux 5.2 or "
			 "later is needed)", kill_file, strerror(-rc));
		return rc;
	}
	rc = cg_probe(a->cg_base);
	if (rc < 0)
		snprintf(why, len, "a process cannot be moved into %.600s: %s", a->cg_base,
			 strerror(-rc));
	return rc;
}

int agent_cgroup_init(struct agent *a, char *err, size_t errlen)
{
	char why[1024];
	int rc;

	a->cg_base[0] = '\0';
	if (a->cfg.cgroup == AGENT_CGROUP_NO) {
		log_info("agent tracks each task's processes by process group (cgroup = no)");
		return 0;
	}
	rc = cg_base_make(a, why, sizeof(why));
	if (rc == 0) {
		log_info("agent tracks each task's processes in a cgroup of its own under %s",
			 a->cg_base);
		return 0;
	}
	if (rc != -ENOENT && rc != -ENAMETOOLONG)
		rmdir(a->cg_base);	/* made by this attempt, or empty anyway */
	a->cg_base[0] = '\0';
	if (a->cfg.cgroup == AGENT_CGROUP_YES) {
		snprintf(err, errlen, "cgroup = yes, but %s", why);
		return rc;
	}
	log_info("agent tracks each task's processes by process group only: %s (cgroup = auto; "
		 "under systemd, the unit needs Delegate=yes)", why);
	return 0;
}

bool agent_cgroup_make(struct agent *a, const char *name, char *out, size_t len)
{
	int rc;

	out[0] = '\0';
	if (!agent_cgroup_on(a))
		return false;
	if (snprintf(out, len, "%s/%s", a->cg_base, name) >= (int)len) {
		out[0] = '\0';
		return false;
	}
	rc = mkdir(out, 0755) < 0 ? -errno : 0;
	/* the agent's folder, made again if someone removed it (empty) */
	if (rc == -ENOENT && mkdir(a->cg_base, 0755) == 0) {
		log_warn("agent made its cgroup folder %s again: something removed it", a->cg_base);
		rc = mkdir(out, 0755) < 0 ? -errno : 0;
	}
	if (rc < 0 && rc != -EEXIST) {
		errno = -rc;
		log_warn("agent cannot make cgroup %s (%s): the %s is tracked by its process group "
			 "only", out, strerror(errno), name);
		out[0] = '\0';
		return false;
	}
	/* what an earlier run left there (an agent killed meanwhile) goes */
	agent_cgroup_kill(a, out);
	return true;
}

void agent_cgroup_argv(struct agent_strv *av, const char *dir, bool must)
{
	agent_strv_add(av, "/proc/self/exe");
	agent_strv_add(av, "--exec-in");
	agent_strv_add(av, "%s", dir);
	if (must)
		agent_strv_add(av, "--must-join");
}

/* sig to each process in dir, but those of process group skip_pgid (0:
 * none); how many were signalled. */
static int cg_each(const struct agent *a, const char *dir, int sig, pid_t skip_pgid)
{
	char path[AGENT_PATH_MAX + 128];
	int pid, n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (fscanf(f, "%d", &pid) == 1) {
		if (pid <= 1 || (skip_pgid > 0 && getpgid(pid) == skip_pgid))
			continue;
		if (agent_kill(a, pid, sig) == 0)
			n++;
	}
	fclose(f);
	return n;
}

int agent_cgroup_kill(const struct agent *a, const char *dir)
{
	if (!dir[0])
		return 0;
	int rc;

	/* the test seam stands in for every signal: each process, one by one */
	if (a->kill_hook)
		return cg_each(a, dir, SIGKILL, 0) > 0 ? 0 : -ESRCH;
	if (!a->cg_freeze_kill)
		return cg_write(dir, "cgroup.kill", "1");
	/* before Linux 5.14: frozen, none of them forks while each is
	 * killed; a frozen process still dies of SIGKILL once thawed */
	rc = cg_write(dir, "cgroup.freeze", "1");
	cg_each(a, dir, SIGKILL, 0);
	if (rc == 0)
		rc = cg_write(dir, "cgroup.freeze", "0");
	return rc;
}

void agent_cgroup_signal(const struct agent *a, const char *dir, int sig, pid_t pgid)
{
	if (dir[0])
		cg_each(a, dir, sig, pgid);
}

int agent_cgroup_populated(const char *dir)
{
	char path[AGENT_PATH_MAX + 128], line[64];
	int rc = -ENOENT;
	FILE *f;

	snprintf(path, sizeof(path), "%s/cgroup.events", dir);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "populated ", 10) == 0)
			rc = line[10] == '1';
	}
	fclose(f);
	return rc;
}

bool agent_cgroup_adoptable(const char *path, const char *name)
{
	const char *slash = strrchr(path, '/'), *parent;
	char real[PATH_MAX];
	struct statfs fs;

	if (path[0] != '/' || !slash || strcmp(slash + 1, name) != 0)
		return false;
	/* the path itself, no link nor ".." (the agent writes cgroup.kill
	 * where it leads: through a link, into any cgroup at all) ... */
	if (!realpath(path, real) || strcmp(real, path) != 0)
		return false;
	/* ... in a folder an agent made (hare.NODE.HASH) */
	for (parent = slash; parent > path && parent[-1] != '/'; parent--)
		;
	if (parent == path || strncmp(parent, "hare.", 5) != 0)
		return false;
	return statfs(path, &fs) == 0 && (uint64_t)fs.f_type == CGROUP2_SUPER_MAGIC;
}

/* KIND.JOB.LEASE.RANK: the task's (true), else false. */
static bool cg_task_name(const char *name, uint64_t *job, uint64_t *lease, uint32_t *rank)
{
	static const char *const kinds[] = { "worker.", "prolog.", "epilog." };
	unsigned long long j, l;
	unsigned r;
	int end = 0;

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		size_t k = strlen(kinds[i]);

		if (strncmp(name, kinds[i], k) != 0)
			continue;
		if (sscanf(name + k, "%llu.%llu.%u%n", &j, &l, &r, &end) != 3 || name[k + end])
			return false;
		*job = j;
		*lease = l;
		*rank = r;
		return true;
	}
	return false;
}

static bool cg_task_here(const struct agent *a, uint64_t job, uint64_t lease, uint32_t rank)
{
	for (const struct agent_task *t = a->tasks; t; t = t->next) {
		if (t->job_id == job && t->lease_id == lease && t->rank == rank)
			return true;
	}
	return false;
}

void agent_cgroup_sweep(struct agent *a, bool start)
{
	char path[AGENT_PATH_MAX + 320];
	uint64_t job, lease;
	uint32_t rank;
	struct dirent *e;
	DIR *d;

	if (!agent_cgroup_on(a))
		return;
	d = opendir(a->cg_base);
	if (!d)
		return;
	while ((e = readdir(d))) {
		bool task = cg_task_name(e->d_name, &job, &lease, &rank);

		if (e->d_type != DT_DIR || e->d_name[0] == '.' ||
		    (task && cg_task_here(a, job, lease, rank)))
			continue;
		/* later, the health check's is in use; at start nothing is
		 * but the adopted tasks' (a probe's is an agent's that died
		 * while it started) */
		if (!task && !(start && (strcmp(e->d_name, "health") == 0 ||
					  strncmp(e->d_name, "probe.", 6) == 0)))
			continue;
		snprintf(path, sizeof(path), "%s/%s", a->cg_base, e->d_name);
		if (start && agent_cgroup_populated(path) == 1) {
			log_warn("agent kills the processes left in %s: no task here is theirs", path);
			agent_cgroup_kill(a, path);
		}
		/* one still populated (its processes dying) is removed by a
		 * later sweep */
		if (rmdir(path) == 0)
			log_debug("agent removed cgroup %s", path);
	}
	closedir(d);
}

void agent_cgroup_close(struct agent *a)
{
	char path[AGENT_PATH_MAX + 16];

	if (!agent_cgroup_on(a))
		return;
	agent_cgroup_sweep(a, false);
	snprintf(path, sizeof(path), "%s/health", a->cg_base);
	rmdir(path);
	/* the folder stays while a worker left running is in it */
	rmdir(a->cg_base);
}

/* hare-agent --exec-in DIR [--must-join] [--argv0 NAME] PROGRAM ARGS...
 * (or --exec-in DIR [--must-join] --exec-as ...): in the agent's child,
 * join the cgroup DIR, then exec PROGRAM (as NAME, its argv[0], when
 * given). With --must-join (DIR holds the worker's device rule) a program
 * that cannot join is not run. Never returns on success. */
int agent_exec_in(int argc, char **argv)
{
	const char *dir, *file;
	bool must = argc > 3 && strcmp(argv[3], "--must-join") == 0;
	char **args = argv + 3 + must;	/* PROGRAM ARGS... */
	int rc;

	if (argc < 4 + must || (strcmp(args[0], "--argv0") == 0 && argc < 6 + must)) {
		fprintf(stderr, "hare-agent: --exec-in DIR [--must-join] [--argv0 NAME] PROGRAM "
			"[ARGS...]\n");
		return 126;
	}
	dir = argv[2];
	file = args[0];
	if (strcmp(args[0], "--argv0") == 0) {
		/* --argv0 NAME PROGRAM ARGS...: NAME in PROGRAM's place */
		file = args[2];
		args[2] = args[1];
		args += 2;
	}
	rc = cg_write(dir, "cgroup.procs", "0");
	if (rc < 0 && must) {
		fprintf(stderr, "hare-agent: cannot join cgroup %s (%s): the program is not run, "
			"since out of it it could open every GPU of the node (constrain_devices)\n",
			dir, strerror(-rc));
		return 126;
	}
	if (rc < 0)
		fprintf(stderr, "hare-agent: cannot join cgroup %s (%s): what this program starts "
			"is tracked by its process group only\n", dir, strerror(-rc));
	if (strcmp(args[0], "--exec-as") == 0)
		return agent_exec_as(argc - (int)(args - argv) + 1, args - 1);
	agent_close_inherited();
	execvp(file, args);
	fprintf(stderr, "hare-agent: cannot run %s: %s\n", file, strerror(errno));
	return errno == ENOENT ? 127 : 126;
}
