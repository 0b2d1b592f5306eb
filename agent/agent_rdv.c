/* SPDX-License-Identifier: MIT */
/* The rendezvous relay. A worker's "rendezvous BASE64" report line (rank 0's
 * NCCL id) goes to hared as a Rendezvous; hared sends it to every agent
 * holding a rank of the lease, this one included. Each agent writes it,
 * atomically, to the lease's id file work_dir/tasks/JOB.LEASE.rdv, which its
 * workers of that lease were given (--nccl-id-file, HARE_NCCL_ID_FILE) and
 * where ranks > 0 poll for it. The file is written as soon as the agent
 * knows the data, from a local worker or from hared, once per distinct
 * data, and removed when the lease's last local task is gone. */
#include "agent_impl.h"

#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void agent_rdv_path(const struct agent *a, uint64_t job, uint64_t lease, char *buf, size_t len)
{
	snprintf(buf, len, "%s/tasks/%llu.%llu.rdv", a->cfg.work_dir, (unsigned long long)job,
		 (unsigned long long)lease);
}

/* The account the lease's workers here run as, when not the agent's: the
 * file is given to it. An adopted worker's is its process's. */
static void agent_rdv_owner(const struct agent_task *t, uid_t *uid, gid_t *gid)
{
	char proc[32];
	struct stat st;

	if (t->run_uid >= 0) {
		*uid = (uid_t)t->run_uid;
		*gid = (gid_t)t->run_gid;
		return;
	}
	snprintf(proc, sizeof(proc), "/proc/%d", t->pid);
	/* its process, not another of a reused pid (agent_pid_alive's test) */
	if (t->adopted && t->pid > 0 && (!t->pid_start || agent_pid_start(t->pid) == t->pid_start) &&
	    stat(proc, &st) == 0 && st.st_uid != geteuid()) {
		*uid = st.st_uid;
		*gid = st.st_gid;
	}
}

static bool agent_rdv_same(const struct agent_task *t, const uint8_t *data, size_t len)
{
	return t->rdv_len == len && memcmp(t->rdv, data, len) == 0;
}

/*
 * Write data to the lease's id file unless it holds it already. 1 when
 * written, 0 when it was there (or a task of the lease in its prolog keeps
 * it), -ENOENT when no worker of the lease runs here, or the write's
 * -errno.
 */
static int agent_rdv_store(struct agent *a, uint64_t job, uint64_t lease, const uint8_t *data,
			   size_t len, const char *from)
{
	char path[AGENT_FILE_MAX], err[AGENT_FILE_MAX + 64];
	bool any = false, fresh = false, held = false;
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;
	int rc;

	for (struct agent_task *t = a->tasks; t; t = t->next) {
		if (t->job_id != job || t->lease_id != lease || t->phase > TASK_RUNNING)
			continue;
		if (t->phase == TASK_PROLOG) {
			/* written when its worker starts, as that worker's */
			memcpy(t->rdv, data, len);
			t->rdv_len = (uint32_t)len;
			t->rdv_held = held = true;
			continue;
		}
		any = true;
		fresh |= !agent_rdv_same(t, data, len);
		agent_rdv_owner(t, &uid, &gid);
	}
	if (!any)
		return held ? 0 : -ENOENT;
	if (!fresh)
		return 0;
	agent_rdv_path(a, job, lease, path, sizeof(path));
	rc = rdv_file_write_as(path, data, len, uid, gid, err, sizeof(err));
	if (rc < 0) {
		log_warn("agent rendezvous job=%llu lease=%llu from=%s: %s", (unsigned long long)job,
			 (unsigned long long)lease, from, err);
		return rc;
	}
	for (struct agent_task *t = a->tasks; t; t = t->next) {
		if (t->job_id != job || t->lease_id != lease || t->phase != TASK_RUNNING)
			continue;
		memcpy(t->rdv, data, len);
		t->rdv_len = (uint32_t)len;
	}
	a->stats.rendezvous_written++;
	log_info("agent rendezvous job=%llu lease=%llu from=%s bytes=%zu written",
		 (unsigned long long)job, (unsigned long long)lease, from, len);
	return 1;
}

/* Send t's announced data to hared; false while it has to wait. */
static bool agent_rdv_send(struct agent_task *t)
{
	struct agent *a = t->agent;
	Hare__ToDaemon m = HARE__TO_DAEMON__INIT;
	Hare__Rendezvous r = HARE__RENDEZVOUS__INIT;

	if (!t->rdv_unsent)
		return true;
	r.job_id = t->job_id;
	r.lease_id = t->lease_id;
	r.data.data = t->rdv_out;
	r.data.len = t->rdv_out_len;
	m.msg_case = HARE__TO_DAEMON__MSG_RENDEZVOUS;
	m.rendezvous = &r;
	if (agent_link_send(a, &m) < 0)
		return false;
	t->rdv_unsent = false;
	a->stats.rendezvous_sent++;
	log_info("task job=%llu lease=%llu rank=%u rendezvous bytes=%u sent",
		 (unsigned long long)t->job_id, (unsigned long long)t->lease_id, t->rank,
		 t->rdv_out_len);
	return true;
}

void agent_rdv_on_line(struct agent_task *t, const struct report_line *l)
{
	struct agent *a = t->agent;

	if (t->world_size == 1) {
		a->stats.rendezvous_ignored++;
		log_debug("task job=%llu lease=%llu rank=%u rendezvous ignored: a single-rank lease",
			  (unsigned long long)t->job_id, (unsigned long long)t->lease_id, t->rank);
		return;
	}
	if (t->rdv_out_len == l->rdv_len && memcmp(t->rdv_out, l->rdv, l->rdv_len) == 0)
		return;		/* announced already */
	memcpy(t->rdv_out, l->rdv, l->rdv_len);
	t->rdv_out_len = l->rdv_len;
	t->rdv_unsent = true;
	/* the lease's other ranks here need not wait for hared's echo */
	agent_rdv_store(a, t->job_id, t->lease_id, l->rdv, l->rdv_len, "worker");
	agent_rdv_send(t);
}

void agent_rdv_send_pending(struct agent *a)
{
	for (struct agent_task *t = a->tasks; t; t = t->next) {
		if (t->phase != TASK_GONE)
			agent_rdv_send(t);
	}
}

void agent_rdv_on_message(struct agent *a, const Hare__Rendezvous *r)
{
	int rc;

	if (r->data.len == 0 || r->data.len > RDV_DATA_MAX || !r->data.data) {
		a->stats.rendezvous_ignored++;
		log_warn("agent rendezvous job=%llu lease=%llu of %zu bytes ignored (1 to %d expected)",
			 (unsigned long long)r->job_id, (unsigned long long)r->lease_id, r->data.len,
			 RDV_DATA_MAX);
		return;
	}
	rc = agent_rdv_store(a, r->job_id, r->lease_id, r->data.data, r->data.len, "daemon");
	if (rc == -ENOENT) {
		a->stats.rendezvous_ignored++;
		log_info("agent rendezvous job=%llu lease=%llu ignored: no worker of that lease here",
			 (unsigned long long)r->job_id, (unsigned long long)r->lease_id);
	}
}

void agent_rdv_release(const struct agent_task *t)
{
	struct agent *a = t->agent;
	char path[AGENT_FILE_MAX];

	for (const struct agent_task *o = a->tasks; o; o = o->next) {
		if (o != t && o->job_id == t->job_id && o->lease_id == t->lease_id &&
		    o->phase != TASK_GONE)
			return;
	}
	agent_rdv_path(a, t->job_id, t->lease_id, path, sizeof(path));
	if (unlink(path) == 0)
		log_debug("agent rendezvous job=%llu lease=%llu file removed",
			  (unsigned long long)t->job_id, (unsigned long long)t->lease_id);
}

/* A leftover id file (or the temp file of an interrupted write): its lease
 * has no task here. */
static bool agent_rdv_stale(const struct agent *a, const char *name)
{
	unsigned long long job, lease;
	int end = 0;

	if (sscanf(name, "%llu.%llu.rdv%n", &job, &lease, &end) != 2 || end == 0 ||
	    (name[end] != '\0' && strncmp(name + end, ".tmp.", 5) != 0))
		return false;
	for (const struct agent_task *t = a->tasks; t; t = t->next) {
		if (t->job_id == job && t->lease_id == lease)
			return false;
	}
	return true;
}

void agent_rdv_sweep(struct agent *a)
{
	char dir[AGENT_PATH_MAX + 8], path[AGENT_PATH_MAX + 300];
	struct dirent *e;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/tasks", a->cfg.work_dir);
	d = opendir(dir);
	if (!d)
		return;
	while ((e = readdir(d))) {
		if (!agent_rdv_stale(a, e->d_name))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (unlink(path) == 0)
			log_debug("agent removed stale rendezvous file %s", path);
	}
	closedir(d);
}

void agent_rdv_after_prolog(struct agent_task *t)
{
	uint8_t data[RDV_DATA_MAX];
	uint32_t len = t->rdv_len;

	if (!t->rdv_held)
		return;
	t->rdv_held = false;
	memcpy(data, t->rdv, len);
	t->rdv_len = 0;	/* not the same as what it holds: written */
	agent_rdv_store(t->agent, t->job_id, t->lease_id, data, len, "daemon, after a prolog");
}
