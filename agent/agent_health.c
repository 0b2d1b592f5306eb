/* SPDX-License-Identifier: MIT */
/* The node's health check: an operator's program (agent.conf health_check)
 * run at start and then health_check_interval_s after each run ends. Exit
 * status 0 is healthy; anything else makes the node unhealthy, with the
 * last line the program wrote as the reason. A run that outlasts
 * health_check_timeout_s is unhealthy at once, and killed with its process
 * group; whatever a run leaves behind is killed when it ends. Before each
 * run the program, and every folder above it, must be root's (or the
 * agent's) and writable by no one else: it runs as root, so anyone who can
 * change it could run anything as root; one that is not so is not run (the
 * node is unhealthy, and says why).
 *
 * The agent registers once the first run has ended, unless it adopted
 * workers at start (a restart): those connect at once, since hared gives
 * their leases up after its reconnect_grace_s. It tells hared of every
 * change at once (a Heartbeat) and in every Heartbeat and Register after. */
#include "agent_impl.h"

#include "err.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void agent_health_schedule(struct agent *a, uint64_t ms);

bool agent_health_on(const struct agent *a)
{
	return a->cfg.health_check[0] != '\0';
}

bool agent_health_fill(const struct agent *a, Hare__NodeHealth *h)
{
	const struct agent_health *s = &a->health;

	if (!agent_health_on(a))
		return false;
	hare__node_health__init(h);
	if (!s->first_done) {
		h->has_pending = h->pending = true;
		h->reason = (char *)"its first health check has not ended";
		return true;
	}
	h->ok = s->ok;
	h->reason = s->ok ? NULL : (char *)s->reason;
	h->has_since = true;
	h->since = (double)(agent_now_ms(a) - s->since_ms) / 1000.0;
	return true;
}

/* One path's owner and mode are fit for a program run as the agent. */
static int agent_health_path_ok(const char *path, const struct stat *st, bool dir, char *err,
				size_t errlen)
{
	if (st->st_uid != 0 && st->st_uid != geteuid()) {
		snprintf(err, errlen, "uid %u, neither root nor the agent's, owns %s%.600s: it runs "
			 "as the agent", (unsigned)st->st_uid, dir ? "its folder " : "", path);
		return ERR_BAD_CONFIG;
	}
	/* a folder with the sticky bit (/tmp) lets no one else rename or
	 * remove what is root's in it; what may sit in one, the caller says */
	if ((st->st_mode & (S_IWGRP | S_IWOTH)) && !(dir && (st->st_mode & S_ISVTX))) {
		snprintf(err, errlen, "mode %03o lets others change %s%.600s (chmod go-w it): it runs "
			 "as the agent", (unsigned)(st->st_mode & 0777), dir ? "its folder " : "",
			 path);
		return ERR_BAD_CONFIG;
	}
	return 0;
}

static int agent_health_errno(char *err, size_t errlen, const char *path, int e)
{
	snprintf(err, errlen, "%.900s: %s", path, strerror(e));
	return -e;
}

/* The folder the walk is in (dir: "" for /). */
static int agent_health_dir_stat(const char *dir, struct stat *st, char *err, size_t errlen)
{
	return stat(dir[0] ? dir : "/", st) < 0 ? agent_health_errno(err, errlen, dir[0] ? dir : "/",
								     errno) : 0;
}

/* A walk of a path, one name at a time (agent_health_walk). */
struct hc_walk {
	const char *path;	/* as given */
	char done[PATH_MAX];	/* walked so far ("" for /) */
	char todo[2 * PATH_MAX + 2];	/* the rest starts at p */
	const char *p;
	unsigned links;
	struct stat dirst;	/* the folder done */
	bool file;		/* done is a file */
	char *err;
	size_t errlen;
};

/* A link at cand (lstat st) met with the rest of the path at w->p: its
 * target takes its place. */
static int hc_link(struct hc_walk *w, const char *cand, const struct stat *st)
{
	char target[PATH_MAX], next[2 * PATH_MAX + 2];
	ssize_t n;
	int k;

	if (++w->links > 40)
		return agent_health_errno(w->err, w->errlen, w->path, ELOOP);
	if (st->st_uid != 0 && st->st_uid != geteuid()) {
		snprintf(w->err, w->errlen, "uid %u, neither root nor the agent's, owns the link "
			 "%.600s: it runs as the agent", (unsigned)st->st_uid, cand);
		return ERR_BAD_CONFIG;
	}
	n = readlink(cand, target, sizeof(target) - 1);
	if (n < 0)
		return agent_health_errno(w->err, w->errlen, cand, errno);
	target[n] = '\0';
	/* the rest of the path is empty or starts with '/' */
	k = snprintf(next, sizeof(next), "%s%s", target, w->p);
	if (k < 0 || (size_t)k >= sizeof(next))
		return agent_health_errno(w->err, w->errlen, w->path, ENAMETOOLONG);
	if (target[0] == '/') {
		w->done[0] = '\0';
		k = agent_health_dir_stat(w->done, &w->dirst, w->err, w->errlen);
		if (k < 0)
			return k;
	}
	memcpy(w->todo, next, sizeof(w->todo));
	w->p = w->todo;
	return 0;
}

/* The name of len bytes at w->p, in the folder w->done. */
static int hc_name(struct hc_walk *w, size_t len)
{
	bool open_dir = (w->dirst.st_mode & (S_IWGRP | S_IWOTH)) != 0;
	char cand[PATH_MAX];
	size_t nd = strlen(w->done);
	struct stat st;

	if (nd + 1 + len >= sizeof(cand))
		return agent_health_errno(w->err, w->errlen, w->path, ENAMETOOLONG);
	memcpy(cand, w->done, nd);
	cand[nd] = '/';
	memcpy(cand + nd + 1, w->p, len);
	cand[nd + 1 + len] = '\0';
	w->p += len;
	if (lstat(cand, &st) < 0)
		return agent_health_errno(w->err, w->errlen, cand, errno);
	if (!S_ISDIR(st.st_mode) && open_dir) {
		snprintf(w->err, w->errlen, "mode %04o lets others put files in %.600s, where %s "
			 "sits: the program, and each link on its path, must be in folders only root "
			 "may write to", (unsigned)(w->dirst.st_mode & 07777),
			 w->done[0] ? w->done : "/", cand + nd + 1);
		return ERR_BAD_CONFIG;
	}
	if (S_ISLNK(st.st_mode))
		return hc_link(w, cand, &st);
	if (S_ISDIR(st.st_mode)) {
		if (agent_health_path_ok(cand, &st, true, w->err, w->errlen) < 0)
			return ERR_BAD_CONFIG;
		if (open_dir && st.st_dev != w->dirst.st_dev) {
			snprintf(w->err, w->errlen, "its folder %.600s is a mount in a folder others "
				 "may write to: it runs as the agent", cand);
			return ERR_BAD_CONFIG;
		}
		w->dirst = st;
	} else {
		w->file = true;
	}
	memcpy(w->done, cand, sizeof(w->done));
	return 0;
}

/* Walk path as the kernel would, one name at a time, from /: every folder
 * entered must pass agent_health_path_ok, every link passed must be root's
 * or the agent's, and so must the file it ends at. A link or the file may
 * not sit in a folder others may write to, even a sticky one (another
 * account could move a root-owned program or link there, at a name that is
 * missing), and a folder entered from such a folder must be on its device
 * (no mount). What the walk ends at is then only root's (or the agent's) to
 * change, and that file (in real, reallen bytes) is what runs. */
static int agent_health_walk(const char *path, char *real, size_t reallen, char *err,
			     size_t errlen)
{
	struct hc_walk w = { .path = path, .err = err, .errlen = errlen };
	struct stat st;
	int rc;

	if (path[0] != '/') {
		snprintf(err, errlen, "%.900s is not an absolute path", path);
		return ERR_BAD_CONFIG;
	}
	if (strlen(path) >= PATH_MAX)
		return agent_health_errno(err, errlen, path, ENAMETOOLONG);
	rc = agent_health_dir_stat("", &w.dirst, err, errlen);
	if (rc < 0)
		return rc;
	if (agent_health_path_ok("/", &w.dirst, true, err, errlen) < 0)
		return ERR_BAD_CONFIG;
	snprintf(w.todo, sizeof(w.todo), "%s", path);
	w.p = w.todo;
	while (*w.p) {
		size_t len;

		if (w.file)	/* anything after a file, a '/' too */
			return agent_health_errno(err, errlen, path, ENOTDIR);
		while (*w.p == '/')
			w.p++;
		len = strcspn(w.p, "/");
		if (len == 0)
			break;
		if (len == 1 && w.p[0] == '.') {
			w.p += len;
			continue;
		}
		if (len == 2 && w.p[0] == '.' && w.p[1] == '.') {
			char *slash = strrchr(w.done, '/');

			if (slash)
				*slash = '\0';
			w.p += len;
			rc = agent_health_dir_stat(w.done, &w.dirst, err, errlen);
		} else {
			rc = hc_name(&w, len);
		}
		if (rc < 0)
			return rc;
	}
	if (!w.file || stat(w.done, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%.900s is not a file", path);
		return ERR_BAD_CONFIG;
	}
	if (access(w.done, X_OK) < 0) {
		snprintf(err, errlen, "%.900s is not executable by the agent (chmod +x?)", path);
		return ERR_BAD_CONFIG;
	}
	if (agent_health_path_ok(w.done, &st, false, err, errlen) < 0)
		return ERR_BAD_CONFIG;
	if ((size_t)snprintf(real, reallen, "%s", w.done) >= reallen)
		return agent_health_errno(err, errlen, path, ENAMETOOLONG);
	return 0;
}

/* The interpreter a script at file names on its "#!" line, as the kernel
 * reads it (the name ends at a blank, a tab or the line's end): 1 with it
 * in out, 0 when file is no script, or ERR_BAD_CONFIG / -errno. A name
 * that reaches byte 127 is refused: kernels before 5.0 cut it there (and
 * ran what the cut name names), later ones refuse a line longer than 256
 * bytes. */
static int agent_health_interpreter(const char *file, char *out, size_t len, char *err,
				    size_t errlen)
{
	char buf[257];
	ssize_t n;
	size_t k;
	int fd = open(file, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return agent_health_errno(err, errlen, file, errno);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return agent_health_errno(err, errlen, file, errno);
	buf[n] = '\0';
	if (n < 2 || buf[0] != '#' || buf[1] != '!')
		return 0;
	k = 2 + strspn(buf + 2, " \t");
	n = (ssize_t)strcspn(buf + k, " \t\n");
	if (n == 0)
		return 0;	/* none: the kernel will not run it */
	if (buf[k] != '/') {
		snprintf(err, errlen, "%.600s names its interpreter by a relative path (%.*s)", file,
			 (int)n, buf + k);
		return ERR_BAD_CONFIG;
	}
	if (k + (size_t)n >= 127) {
		snprintf(err, errlen, "%.600s: its #! line is longer than kernels read", file);
		return ERR_BAD_CONFIG;
	}
	if ((size_t)n >= len)
		return agent_health_errno(err, errlen, file, ENAMETOOLONG);
	memcpy(out, buf + k, (size_t)n);
	out[n] = '\0';
	return 1;
}

int agent_health_check_ok(const char *path, char *real, size_t reallen, char *err, size_t errlen)
{
	char file[PATH_MAX], interp[PATH_MAX], why[1024];
	int rc = agent_health_walk(path, file, sizeof(file), err, errlen);

	if (rc < 0)
		return rc;
	if (real && (size_t)snprintf(real, reallen, "%s", file) >= reallen)
		return agent_health_errno(err, errlen, path, ENAMETOOLONG);
	/* a script's interpreter runs as the agent too, and the kernel
	 * follows one script's to another's, 5 deep */
	for (int depth = 0;; depth++) {
		rc = agent_health_interpreter(file, interp, sizeof(interp), err, errlen);
		if (rc <= 0)
			return rc;
		if (depth == 5) {
			snprintf(err, errlen, "%.900s: too many levels of #! interpreters", path);
			return ERR_BAD_CONFIG;
		}
		/* env finds the program it runs in PATH, at the moment it runs:
		 * no check can follow */
		if (strcmp(strrchr(interp, '/') + 1, "env") == 0) {
			snprintf(err, errlen, "%.400s runs its interpreter through %.200s, which looks it "
				 "up in PATH where this check cannot follow: name the interpreter "
				 "itself (#!/usr/bin/python3, say)", file, interp);
			return ERR_BAD_CONFIG;
		}
		rc = agent_health_walk(interp, file, sizeof(file), why, sizeof(why));
		if (rc < 0) {
			snprintf(err, errlen, "its interpreter %.200s: %s", interp, why);
			return rc;
		}
	}
}

/* An outcome: keep it, say a change, tell hared. */
static void agent_health_result(struct agent *a, bool ok, const char *text)
{
	struct agent_health *s = &a->health;
	char reason[sizeof(s->reason)] = "";
	bool first = !s->first_done;

	/* clean text cut to whole characters: the names of folders in it are not */
	if (!ok)
		utf8_text_clean(text, strlen(text), reason, sizeof(reason));
	if (!first && ok == s->ok && strcmp(reason, s->reason) == 0)
		return;
	if (!ok)
		log_warn("node=%s unhealthy: %s (hared is told, and plans nothing here until the "
			 "check passes)", a->cfg.node, reason);
	else if (!first)
		log_info("node=%s healthy again: the health check passes (it failed for %.0f s)",
			 a->cfg.node, (double)(agent_now_ms(a) - s->since_ms) / 1000.0);
	else
		log_info("node=%s healthy: the health check passes", a->cfg.node);
	if (first || ok != s->ok)
		s->since_ms = agent_now_ms(a);
	s->ok = ok;
	snprintf(s->reason, sizeof(s->reason), "%s", reason);
	s->first_done = true;
	if (first && s->connect_waits && !a->closing)
		agent_link_connect(a);	/* it waited for this */
	else if (agent_link_is_ready(a))
		agent_link_heartbeat(a);
}

/* The run ended, or outlasted its time (still running): its outcome. */
static void agent_health_judge(struct agent *a)
{
	char text[2 * sizeof(a->health.reason)];
	bool ok = agent_script_outcome(&a->health.run, text, sizeof(text));

	a->health.judged = true;
	agent_health_result(a, ok, text);
}

/* The run outlasted health_check_timeout_s: unhealthy now, whether or not
 * the SIGKILL ends it; the next run waits until this one has ended. */
static void on_health_timeout(struct agent_script *run)
{
	agent_health_judge(run->agent);
}

/* The run is over: its outcome, unless its timeout said it, and the next
 * run health_check_interval_s later. */
static void on_health_end(struct agent_script *run)
{
	struct agent *a = run->agent;

	if (!a->health.judged)
		agent_health_judge(a);
	agent_health_schedule(a, (uint64_t)a->cfg.health_check_interval_s * 1000);
}

static void on_health_closed(struct agent_script *run)
{
	if (run->agent->closing)
		agent_maybe_done(run->agent);
}

/* The check's environment: the agent's (less HARE_* and CUDA_*, but for
 * the operator's settings HARE_HEALTH_*), the node's name, its GPUs
 * (indices and types in the same order; whether they are emulated) and the
 * agent's work_dir. */
void agent_script_env_node(struct agent_strv *env, const struct agent *a)
{
	char idx[AGENT_GPUS_MAX * 11 + 1] = "", types[AGENT_GPUS_MAX * (AGENT_NAME_MAX + 1) + 1] = "";
	size_t ni = 0, nt = 0;

	agent_env_inherit(env);
	for (char **e = environ; e && *e; e++)
		if (strncmp(*e, "HARE_HEALTH_", 12) == 0)
			agent_strv_add(env, "%s", *e);
	for (uint32_t i = 0; i < a->cfg.ngpus; i++) {
		ni += (size_t)snprintf(idx + ni, sizeof(idx) - ni, "%s%u", i ? "," : "",
				       a->cfg.gpus[i].index);
		nt += (size_t)snprintf(types + nt, sizeof(types) - nt, "%s%s", i ? "," : "",
				       a->cfg.gpus[i].type);
	}
	agent_strv_add(env, "HARE_NODE=%s", a->cfg.node);
	agent_strv_add(env, "HARE_GPU_INDICES=%s", idx);
	agent_strv_add(env, "HARE_GPU_TYPES=%s", types);
	agent_strv_add(env, "HARE_GPUS_EMULATED=%d", a->cfg.gpus_set ? 1 : 0);
	agent_strv_add(env, "HARE_WORK_DIR=%s", a->cfg.work_dir);
}

/* Start one run. */
static void agent_health_run(struct agent *a)
{
	struct agent_strv env = { 0 };

	agent_script_env_node(&env, a);
	if (env.failed) {
		agent_health_result(a, false, "health check not run: out of memory");
		agent_health_schedule(a, (uint64_t)a->cfg.health_check_interval_s * 1000);
	} else {
		a->health.judged = false;
		agent_script_run(&a->health.run, a->cfg.health_check, env.v,
				 a->cfg.health_check_timeout_s);
	}
	agent_strv_free(&env);
}

static void on_health_due(uv_timer_t *t)
{
	struct agent *a = t->data;

	if (!a->closing && !a->health.run.running)
		agent_health_run(a);
}

static void agent_health_schedule(struct agent *a, uint64_t ms)
{
	if (!a->closing)
		uv_timer_start(&a->health.timer, on_health_due, ms, 0);
}

bool agent_health_start(struct agent *a)
{
	struct agent_health *s = &a->health;
	uint32_t live = agent_tasks_live(a);

	if (!agent_health_on(a))
		return false;
	agent_script_init(&s->run, a, "health check", NULL, on_health_end, on_health_closed);
	s->run.on_timeout = on_health_timeout;
	snprintf(s->run.cg_name, sizeof(s->run.cg_name), "health");
	/* workers adopted from before a restart: hared keeps their leases for
	 * reconnect_grace_s only, so register now, and say the outcome when
	 * it comes */
	s->connect_waits = live == 0;
	log_info("node=%s health check %s every %u s (killed after %u s); %s", a->cfg.node,
		 a->cfg.health_check, a->cfg.health_check_interval_s,
		 a->cfg.health_check_timeout_s, s->connect_waits ?
		 "registering once its first run has ended" :
		 "registering now (workers run here), its outcome follows");
	agent_health_run(a);
	return s->connect_waits;
}

void agent_health_close(struct agent *a)
{
	if (agent_health_on(a) && a->health.run.agent)
		agent_script_close(&a->health.run);
	uv_close((uv_handle_t *)&a->health.timer, agent_on_handle_closed);
}
