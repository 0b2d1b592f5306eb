/* SPDX-License-Identifier: MIT */
/* hare-worker's real mode: build the proxy model, load the engine, meet the
 * other ranks, restore the newest checkpoint (replaying rounds up to
 * round_first so the loss trajectory is the one of an uninterrupted run),
 * run and report rounds, checkpoint, and stop together on SIGTERM. */
#include "worker.h"

#include "checkpoint.h"
#include "log.h"
#include "rendezvous.h"
#include "worker_engine.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Rendezvous payload: job and lease (so a stale file is never used), then
 * the NCCL id. */
#define REAL_RDV_BYTES (16 + WORKER_UID_BYTES)

static volatile sig_atomic_t real_stop;

static void real_on_signal(int sig)
{
	(void)sig;
	real_stop = 1;
}

struct real {
	const struct worker_opts *o;
	struct proxy_net net;
	const struct engine_ops *ops;
	void *eng;
	struct worker_out out;
	struct worker_progress progress;
	struct ckpt_meta meta;
	float *hp, *hv;		/* host copies for checkpoints */
	uint64_t last_ckpt;	/* round of the newest checkpoint written or read */
	double last_ckpt_s;
	double event_s, wall_s;	/* reported rounds: device-timed, and host wall */
	char err[512];
};

static void real_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = real_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

static int real_build(struct real *r)
{
	const struct worker_opts *o = r->o;
	struct proxy_spec s;

	if (proxy_spec_default(o->model, &s, r->err, sizeof(r->err)) < 0 ||
	    (o->proxy[0] && proxy_spec_apply(&s, o->proxy, r->err, sizeof(r->err)) < 0) ||
	    proxy_spec_check(&s, r->err, sizeof(r->err)) < 0 ||
	    proxy_net_build(&s, &r->net, r->err, sizeof(r->err)) < 0)
		return -EINVAL;
	r->meta = (struct ckpt_meta){ .family = (uint32_t)s.family, .seed = o->seed,
				      .spec_hash = proxy_spec_hash(&s), .nfloats = r->net.nparams };
	snprintf(r->meta.model, sizeof(r->meta.model), "%s", s.model);
	return 0;
}

static void real_put64(uint8_t *b, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t real_get64(const uint8_t *b)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | b[i];
	return v;
}

/* Rank 0: a new id, announced on the report channel and in the id file. */
static int real_rdv_announce(struct real *r, uint8_t *uid)
{
	const struct worker_opts *o = r->o;
	uint8_t data[REAL_RDV_BYTES];
	char line[RDV_LINE_MAX];
	size_t n;
	int rc = r->ops->uid_new(uid, WORKER_UID_BYTES, &n, r->err, sizeof(r->err));

	if (rc < 0)
		return rc;
	real_put64(data, o->job_id);
	real_put64(data + 8, o->lease_id);
	memcpy(data + 16, uid, WORKER_UID_BYTES);
	rc = rdv_line_format(data, sizeof(data), line, sizeof(line));
	if (rc > 0)
		rc = worker_out_raw(&r->out, line, (size_t)rc);
	if (rc < 0)
		log_warn("worker job=%llu rank=0: cannot write the rendezvous line: %s",
			 (unsigned long long)o->job_id, strerror(-rc));
	if (o->nccl_id_file[0]) {
		int wrc = rdv_file_write(o->nccl_id_file, data, sizeof(data), r->err, sizeof(r->err));

		/* under an agent running it as its job's owner the id file's
		 * folder is the agent's: the agent writes the file from the line */
		if ((wrc == -EACCES || wrc == -EPERM) && rc >= 0 && o->report_fd > 2) {
			log_info("worker job=%llu rank=0: %s; the agent writes it from the rendezvous "
				 "line", (unsigned long long)o->job_id, r->err);
			r->err[0] = '\0';
			return 0;
		}
		return wrc;
	}
	return 0;
}

/* Ranks > 0: wait for rank 0's id of this job and lease. */
static int real_rdv_wait(struct real *r, uint8_t *uid)
{
	const struct worker_opts *o = r->o;
	double end = worker_now_s() + o->rendezvous_timeout_s;

	if (!o->nccl_id_file[0]) {
		snprintf(r->err, sizeof(r->err), "rank %u of %u needs --nccl-id-file (or HARE_NCCL_ID_FILE) "
			 "to receive rank 0's rendezvous", o->rank, o->world_size);
		return -EINVAL;
	}
	for (;;) {
		uint8_t data[REAL_RDV_BYTES];
		size_t n;
		int rc = rdv_file_wait(o->nccl_id_file, end - worker_now_s(), &real_stop, data,
				       sizeof(data), &n, r->err, sizeof(r->err));

		if (rc == -ETIMEDOUT)
			return -ECONNRESET;	/* rank 0 or its agent failed, not us */
		if (rc < 0)
			return rc;
		if (n == sizeof(data) && real_get64(data) == o->job_id && real_get64(data + 8) == o->lease_id) {
			memcpy(uid, data + 16, WORKER_UID_BYTES);
			return 0;
		}
		/* another lease's file: wait for ours */
		usleep(100000);
		if (worker_now_s() >= end) {
			snprintf(r->err, sizeof(r->err), "%.400s: holds another job's or lease's rendezvous",
				 o->nccl_id_file);
			return -ECONNRESET;
		}
	}
}

static int real_open(struct real *r)
{
	const struct worker_opts *o = r->o;
	uint8_t uid[WORKER_UID_BYTES];
	struct engine_conf c = { .net = &r->net, .seed = o->seed, .rank = o->rank,
				 .world_size = o->world_size, .tasks = o->tasks,
				 .job_tasks = o->job_tasks, .device = o->device };
	struct engine_info info;
	int rc = 0;

	if (o->world_size > 1) {
		rc = o->rank == 0 ? real_rdv_announce(r, uid) : real_rdv_wait(r, uid);
		c.uid = uid;
		c.uid_len = sizeof(uid);
	}
	if (rc == 0)
		rc = r->ops->open(&c, &r->eng, r->err, sizeof(r->err));
	if (rc < 0)
		return rc;
	r->ops->info(r->eng, &info);
	log_info("worker job=%llu lease=%llu rank=%u/%u model=%s engine=%s device=\"%s\" params=%llu "
		 "tasks=%u first_task=%u job_tasks=%u mem_mib=%llu", (unsigned long long)o->job_id,
		 (unsigned long long)o->lease_id, o->rank, o->world_size, r->net.spec.model,
		 r->ops->name, info.device, (unsigned long long)proxy_net_weights(&r->net), o->tasks,
		 info.task_first, info.tasks_total, (unsigned long long)(info.mem_bytes >> 20));
	if (info.tasks_total != o->job_tasks)
		log_warn("worker job=%llu: the ranks run %u tasks per round, --job-tasks says %u; "
			 "the gradient is averaged over %u", (unsigned long long)o->job_id,
			 info.tasks_total, o->job_tasks, info.tasks_total);
	return 0;
}

static int real_host_buffers(struct real *r)
{
	if (r->hp)
		return 0;
	r->hp = malloc(r->net.nparams * sizeof(float));
	r->hv = malloc(r->net.nparams * sizeof(float));
	return r->hp && r->hv ? 0 : -ENOMEM;
}

/* Rank 0: load the newest readable checkpoint at or before round_first;
 * returns the round to start from. */
static uint64_t real_restore_local(struct real *r)
{
	const struct worker_opts *o = r->o;
	uint64_t max = o->round_first, round;
	char path[CKPT_PATH_MAX], err[512];

	while (o->checkpoint_dir[0] && real_host_buffers(r) == 0 &&
	       ckpt_find(o->checkpoint_dir, max, path, sizeof(path), &round, err, sizeof(err)) == 0) {
		struct ckpt_meta got;

		if (ckpt_read(path, &r->meta, r->hp, r->hv, &got, err, sizeof(err)) == 0 &&
		    r->ops->state_set(r->eng, r->hp, r->hv, err, sizeof(err)) == 0) {
			log_info("worker job=%llu: restored %s (round %llu)%s",
				 (unsigned long long)o->job_id, path, (unsigned long long)round,
				 round < o->round_first ? ", replaying up to round_first" : "");
			r->last_ckpt = round;
			return round;
		}
		log_warn("worker job=%llu: skipping checkpoint: %s", (unsigned long long)o->job_id, err);
		if (round == 0)
			break;
		max = round - 1;
	}
	if (o->round_first > 0)
		log_warn("worker job=%llu: no checkpoint at or before round %llu; starting from fresh "
			 "parameters there", (unsigned long long)o->job_id,
			 (unsigned long long)o->round_first);
	return o->round_first;
}

static int real_restore(struct real *r, uint64_t *start)
{
	*start = r->o->rank == 0 ? real_restore_local(r) : r->o->round_first;
	if (r->o->world_size == 1)
		return 0;
	return r->ops->state_bcast(r->eng, start, r->err, sizeof(r->err));
}

/* Rank 0: write the state after `round` rounds; failures are logged, the
 * training goes on. */
static void real_checkpoint(struct real *r, uint64_t round)
{
	const struct worker_opts *o = r->o;
	char path[CKPT_PATH_MAX], err[512];
	double t0 = worker_now_s();
	int rc = real_host_buffers(r);

	r->meta.round = round;
	if (rc == 0)
		rc = r->ops->state_get(r->eng, r->hp, r->hv, err, sizeof(err));
	if (rc == 0)
		rc = ckpt_write(o->checkpoint_dir, &r->meta, r->hp, r->hv, path, sizeof(path), err,
				sizeof(err));
	if (rc == -ENOSPC && o->checkpoint_keep > 1) {
		/* old checkpoints are pruned after a write: on a full disk make
		 * the room first (keeping the newest), once, or no later
		 * checkpoint would ever be written */
		char perr[256];

		ckpt_prune(o->checkpoint_dir, 1, perr, sizeof(perr));
		rc = ckpt_write(o->checkpoint_dir, &r->meta, r->hp, r->hv, path, sizeof(path), err,
				sizeof(err));
	}
	r->last_ckpt_s = worker_now_s();
	if (rc < 0) {
		log_error("worker job=%llu: checkpoint at round %llu failed: %s",
			  (unsigned long long)o->job_id, (unsigned long long)round,
			  rc == -ENOMEM ? "out of memory" : err);
		return;
	}
	r->last_ckpt = round;
	ckpt_prune(o->checkpoint_dir, o->checkpoint_keep, err, sizeof(err));
	log_debug("worker job=%llu: checkpoint %s in %.3f s", (unsigned long long)o->job_id, path,
		  r->last_ckpt_s - t0);
}

static bool real_ckpt_due(const struct real *r, uint64_t next)
{
	const struct worker_opts *o = r->o;

	if (o->rank != 0 || !o->checkpoint_dir[0] || next == r->last_ckpt)
		return false;
	if (o->checkpoint_every && next % o->checkpoint_every == 0)
		return true;
	return o->checkpoint_s > 0 && worker_now_s() - r->last_ckpt_s >= o->checkpoint_s;
}

/* Run rounds [start, end); reports those from round_first. Returns 1 when
 * stopped, 0 when all ran, or a negative code. */
static int real_rounds(struct real *r, uint64_t start, uint64_t *next)
{
	const struct worker_opts *o = r->o;
	uint64_t end = o->round_first + o->round_count;

	worker_progress_init(&r->progress, worker_now_s());
	for (uint64_t round = start; round < end; round++) {
		struct engine_round rr;
		double t0 = worker_now_s(), t1;
		int rc = r->ops->round_run(r->eng, round, real_stop != 0, &rr, r->err, sizeof(r->err));

		if (rc < 0)
			return rc;
		t1 = worker_now_s();
		*next = round + 1;
		if (round >= o->round_first) {
			r->event_s += rr.compute_s + rr.sync_s;
			r->wall_s += t1 - t0;
			worker_out_round(&r->out, round, rr.compute_s, rr.sync_s, rr.loss, t1);
		}
		worker_progress_round(&r->progress, o, round, rr.compute_s, rr.sync_s, rr.loss, t1);
		if (o->orphan_timeout_s > 0 && r->out.orphan_since > 0 && !real_stop &&
		    t1 - r->out.orphan_since >= o->orphan_timeout_s) {
			/* its agent is gone and no new one adopted it: the job runs
			 * elsewhere by now; stop (every rank, after the next
			 * round, with a checkpoint) instead of holding the GPU */
			log_warn("worker job=%llu lease=%llu rank=%u: nobody has read its reports for "
				 "%.1f s (its agent is gone); stopping", (unsigned long long)o->job_id,
				 (unsigned long long)o->lease_id, o->rank, t1 - r->out.orphan_since);
			real_stop = 1;
		}
		if (real_ckpt_due(r, round + 1) || (rr.stop && o->rank == 0 && o->checkpoint_dir[0]))
			real_checkpoint(r, round + 1);
		if (rr.stop)
			return 1;
	}
	return 0;
}

/* The job's default checkpoint directory is ours to empty at its end. */
static void real_cleanup_default_dir(struct real *r)
{
	char err[256];

	if (r->o->rank != 0 || !r->o->checkpoint_dir_default)
		return;
	ckpt_prune(r->o->checkpoint_dir, 0, err, sizeof(err));
	rmdir(r->o->checkpoint_dir);
}

static int real_train(struct real *r)
{
	const struct worker_opts *o = r->o;
	uint64_t start, next;
	int rc = real_restore(r, &start), stopped;

	if (rc < 0)
		return rc;
	next = start;
	r->last_ckpt_s = worker_now_s();
	stopped = real_rounds(r, start, &next);
	if (stopped < 0)
		return stopped;
	if (!stopped && o->rank == 0 && o->checkpoint_dir[0] && next != r->last_ckpt &&
	    !o->checkpoint_dir_default)
		real_checkpoint(r, next);
	/* The default folder goes only once the done line is delivered: a job
	 * whose end hared did not hear (its agent gone meanwhile) is planned
	 * again from its last reported round, which needs the checkpoints. */
	if (worker_out_finish(&r->out, !stopped, &real_stop) == 0 && !stopped)
		real_cleanup_default_dir(r);
	/* the lease's rounds it trained, not those delivered (an orphan's were
	 * not); replayed rounds before round_first are not the lease's */
	log_info("worker job=%llu lease=%llu rank=%u: %s after %llu rounds; device-timed %.6f s, "
		 "host wall %.6f s (ratio %.4f)", (unsigned long long)o->job_id,
		 (unsigned long long)o->lease_id, o->rank, stopped ? "stopped" : "done",
		 (unsigned long long)(next > o->round_first ? next - o->round_first : 0), r->event_s,
		 r->wall_s,
		 r->wall_s > 0 ? r->event_s / r->wall_s : 0);
	return 0;
}

static int real_engine(struct real *r)
{
	if (strcmp(r->o->engine, "cpu") == 0) {
		r->ops = worker_engine_cpu();
		return 0;
	}
	return worker_engine_cuda_load(r->o->lib, &r->ops, r->err, sizeof(r->err));
}

int worker_real_run(const struct worker_opts *o)
{
	struct real r = { .o = o };
	int rc;

	real_signals();
	worker_out_init(&r.out, o->report_fd, o->report_ms, o->report_wait_s);
	rc = real_build(&r);
	if (rc == 0)
		rc = real_engine(&r);
	if (rc == 0)
		rc = real_open(&r);
	if (rc == -EINTR && real_stop) {
		/* stopped before training began (waiting for the rendezvous): a
		 * stop like any other, at the round it was to start from */
		log_info("worker job=%llu lease=%llu rank=%u: %s", (unsigned long long)o->job_id,
			 (unsigned long long)o->lease_id, o->rank, r.err);
		worker_out_finish(&r.out, false, &real_stop);
		rc = 0;
	} else if (rc == 0) {
		rc = real_train(&r);
	}
	if (rc < 0 && r.out.count > 0)
		worker_out_flush(&r.out, worker_now_s());	/* completed rounds are progress */
	if (rc < 0)
		fprintf(stderr, "hare-worker: job %llu rank %u: %s%s\n", (unsigned long long)o->job_id,
			o->rank, r.err[0] ? r.err : strerror(-rc),
			rc == -ECONNRESET ? " (a peer rank or the network failed)" : "");
	if (r.eng)
		r.ops->close(r.eng);
	proxy_net_free(&r.net);
	free(r.hp);
	free(r.hv);
	if (rc == -ECONNRESET && o->world_size > 1)
		return WORKER_EXIT_PEER;
	return rc < 0 ? WORKER_EXIT_FAILED : WORKER_EXIT_OK;
}
